/* Views and layouts (PROTOCOL.md §0, §5.6, §7.1): the membership of one epoch and its deterministic
 * division into subgroups and shards. Plain data, pure functions; no I/O.
 *
 * This header is part of consensus's public surface and is included by consensus/consensus.h. */
#ifndef SQ_CONSENSUS_VIEW_H
#define SQ_CONSENSUS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"

#define GRP_PK_BYTES 32
#define GRP_HOST_BYTES 64
#define GRP_RANK_NONE UINT32_MAX

struct grp_member {
    uint32_t id;
    uint8_t pk[GRP_PK_BYTES];
    char host[GRP_HOST_BYTES];
    uint16_t port;
};

/* A view: `members` in rank order (rank = index). `failed[r]` marks members already known to have
 * failed when the view was installed (changes proposed after the end-of-view marker, §5.3); such a
 * view wedges at once. */
struct grp_view {
    uint64_t vid;
    uint32_t member_count;
    struct grp_member members[SQ_MEMBERS_MAX];
    bool failed[SQ_MEMBERS_MAX];
    uint32_t joined_count; /* ids that joined in this view (for the record) */
    uint32_t joined[SQ_MEMBERS_MAX];
    uint32_t departed_count;
    uint32_t departed[SQ_MEMBERS_MAX];
};

/* How the view is divided (§7.1). */
enum grp_layout_kind {
    GRP_LAYOUT_ONE = 0, /* one subgroup, one shard of all members, all senders */
    GRP_LAYOUT_SHARDS,  /* one subgroup of `shard_count` shards of `shard_size` members each */
};

struct grp_layout_spec {
    enum grp_layout_kind kind;
    uint32_t shard_count; /* GRP_LAYOUT_SHARDS */
    uint32_t shard_size;  /* minimum members per shard; extra members fill shards up to max */
    uint32_t shard_size_max;
};

struct grp_shard {
    uint32_t member_count;
    uint32_t ranks[SQ_MEMBERS_MAX]; /* view ranks of the members, in shard order */
    uint32_t sender_count;          /* senders are the first sender_count members */
};

struct grp_layout {
    uint32_t subgroup_count; /* 1 in the layouts above */
    uint32_t shard_count;    /* shards of subgroup 0 */
    struct grp_shard shards[SQ_SHARDS_MAX];
};

/* The rank of member `id` in `view`, or GRP_RANK_NONE. */
uint32_t grp_view_rank_of(const struct grp_view *view, uint32_t id);

/* Number of members marked failed. */
uint32_t grp_view_failed_count(const struct grp_view *view);

/* Computes the layout of `cur` given the previous view's layout (NULL for the first view).
 * Deterministic: every member computes the same result from the same inputs. Later views keep
 * every surviving member in its old shard and fill holes from unassigned members in rank order
 * (§7.1). SQ_EAGAIN when the view is inadequately provisioned (a shard would fall below its
 * minimum; the leader waits for more joins); SQ_EINVAL for an impossible spec. */
int grp_layout_compute(const struct grp_layout_spec *spec, const struct grp_view *prev_view,
                       const struct grp_layout *prev_layout, const struct grp_view *cur,
                       struct grp_layout *out);

/* The shard of subgroup 0 that view rank `rank` belongs to, or GRP_RANK_NONE, and its position in
 * that shard (*shard_rank). */
uint32_t grp_layout_shard_of(const struct grp_layout *layout, uint32_t rank, uint32_t *shard_rank);

/* Encodes a view (for shipping to joiners and for the durable view log); see docs/formats.md.
 * Returns SQ_OK or SQ_ETOOBIG; *size receives the length. */
int grp_view_encode(const struct grp_view *view, uint8_t *buf, size_t cap, size_t *size);

/* Decodes a view, checking every length and bound. SQ_ECORRUPT on malformed input. */
int grp_view_decode(struct grp_view *view, const uint8_t *buf, size_t size);

/* Encodes a layout (shipped to joiners with their first view, §5.9). SQ_OK or SQ_ETOOBIG. */
int grp_layout_encode(const struct grp_layout *layout, uint8_t *buf, size_t cap, size_t *size);

/* Decodes a layout of a view of `member_count` members, checking that every rank exists and sits in
 * at most one shard. SQ_ECORRUPT on malformed input. */
int grp_layout_decode(struct grp_layout *layout, uint32_t member_count, const uint8_t *buf,
                      size_t size);

/* Largest encoded layout. */
#define GRP_LAYOUT_BYTES_MAX (8 + SQ_SHARDS_MAX * 8 + SQ_MEMBERS_MAX * 4)

/* Largest encoded view. */
#define GRP_VIEW_BYTES_MAX                                                                         \
    (64 + SQ_MEMBERS_MAX * (4 + GRP_PK_BYTES + GRP_HOST_BYTES + 2 + 1) + 2 * SQ_MEMBERS_MAX * 4)

#endif
