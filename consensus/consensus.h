/* consensus/: the group (prefix grp_): views, layout, SMC, RDMC sends, total order, stability,
 * delivery, the persistence frontier and view changes of Derecho's atomic multicast and virtually
 * synchronous membership (PROTOCOL.md §1.5, §2, §4, §5, §7).
 *
 * A `struct grp_group` is one member's part of a group across its views. It is a sans-I/O state
 * machine (STYLE.md): it reads no clock, starts no thread, takes no lock and does no I/O of its
 * own. It talks to peers only through the shared state table (sst/) over the transport given to it
 * and through an RDMC engine (rdmc/) whose sends go through the `rdmc_io` given to it. The driver
 * (the node's loop, or the simulator) forwards transport events to it and calls grp_poll().
 *
 * Ordering (§4.2). In each shard, message i of the sender with sender rank k has sequence number
 * seq = i * S + k (S senders, 64-bit). Every member delivers the messages of its shard in seq order,
 * each once every member of the shard has received it (min over the shard of seq_num). Idle
 * senders fill the order with null messages, reactively (§4.4); nulls are never delivered.
 *
 * Versions [design]. PROTOCOL.md numbers deliveries (vid << 32) | seq, which overflows once a view
 * passes 2^32 sequence numbers (nulls make that reachable in days at ledger rates). Squall numbers
 * every delivered (non-null) message of a shard with its VERSION: a count that starts at the
 * configured `version_base` (the number of messages delivered before this view: for the ledger,
 * the chain height) and goes up by one per delivery, across views. Every survivor of a view
 * delivers the same messages (§5.5), so versions agree everywhere. persisted_num, signed_num and
 * verified_num in the table are versions.
 *
 * Threads: a group belongs to the thread that drives its transport; every function and upcall
 * runs there. */
#ifndef SQ_CONSENSUS_CONSENSUS_H
#define SQ_CONSENSUS_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "consensus/order.h"
#include "consensus/view.h"
#include "net/net.h"
#include "rdmc/rdmc.h"

#define GRP_SIG_BYTES 64
#define GRP_MSG_HDR_BYTES 16 /* {i64 index, u32 num_nulls, u32 size} before every payload */

struct grp_group;

struct grp_settings {
    uint32_t window;           /* SMC slots per sender, 1..SQ_SMC_WINDOW_MAX (default 16) */
    uint32_t smc_payload_max;  /* payloads up to this go through SST slots (default 10240) */
    uint32_t msg_payload_max;  /* largest payload at all; larger than smc_payload_max goes by
                                * RDMC (default 1 MiB; at most SQ_MSG_BYTES_MAX - header) */
    struct rdmc_settings rdmc; /* block size, schedule (msg_bytes_max is derived) */
    struct grp_layout_spec layout;
    uint32_t sst_region;       /* transport region id for the table (default 1) */
    /* Reserve one version at the start of every view a member enters after the first: the
     * view's record (for the ledger, its view-change block), which every member writes itself
     * at grp_view_record_version() when the view is installed (after its state transfer, for a
     * joiner) and reports persisted like a delivery. Default false. */
    bool view_record;
};

/* Fills the defaults above. */
void grp_settings_default(struct grp_settings *s);

struct grp_upcalls {
    void *ctx;
    /* Message `version` of shard `shard`, sent by validator `sender_id` with sequence number `seq`
     * in view `vid`, delivered here in the shard's total order. `data` (`size` bytes) is borrowed
     * until the upcall returns. Required. */
    void (*deliver)(void *ctx, uint32_t shard, uint32_t sender_id, uint64_t vid, int64_t seq,
                    int64_t version, const uint8_t *data, size_t size);
    /* The min over the shard of persisted versions grew to `version` (every member has made every
     * message up to it durable: §4.5, the ledger's "persisted"). Optional. */
    void (*persisted)(void *ctx, uint32_t shard, int64_t version);
    /* The min over the shard of verified versions grew (§6.3). Optional. */
    void (*verified)(void *ctx, uint32_t shard, int64_t version);
    /* The current view wedged (§5.4): a member failed or misbehaved (`failed_id`, `reason`), or
     * grp_wedge() was called. A view change follows. Optional. */
    void (*wedged)(void *ctx, uint32_t failed_id, int reason);
    /* Ragged-edge cleanup decided the trim of `shard` in view `vid` (§5.5): message i of sender
     * rank k is delivered in the view iff i <= trim[k], for k < senders. Log it durably before
     * returning: a total restart replays it. Optional. */
    void (*trim)(void *ctx, uint64_t vid, uint32_t shard, const int64_t *trim, uint32_t senders);
    /* A new view is installed (§5.6); the old one's deliveries are complete. Optional. */
    void (*view_installed)(void *ctx, const struct grp_view *view);
    /* This member stopped for good: SQ_EVIEW when it was excluded from the next view (it must
     * rejoin with fresh state), SQ_EPEER when it lost contact with half or more of its view (the
     * majority rule, §5.8: a minority never goes on alone). Nothing is delivered afterwards.
     * Optional. */
    void (*stopped)(void *ctx, int reason, const char *why);

    /* ---- joins and state transfer (§5.9); all optional ---- */
    /* At a member whose shard gained joiner `joiner_id`: it lacks versions [from_version,
     * to_version] of the shard's log (every one of them is durable here: the view change waited
     * for that, §5.5 step 5). Answer with grp_state_send() chunks, now or from later loop rounds,
     * the last one flagged. Without this upcall the member answers with an empty last chunk (an
     * application without state to transfer). */
    void (*state_request)(void *ctx, uint32_t joiner_id, int64_t from_version,
                          int64_t to_version);
    /* At a joiner: a chunk of state, in order, borrowed for the call; `last` ends the transfer.
     * Make it durable and report it with grp_report_persisted(). The group delivers nothing of the
     * new view before the last chunk was taken. If a source fails mid-transfer, the joiner asks
     * another member from the first version it has not reported persisted, so chunks may repeat
     * versions it already holds: skip those. */
    void (*state_receive)(void *ctx, const uint8_t *data, size_t size, bool last);
    /* At a joiner or a member restarted from its durable log: the group goes on from a log that
     * ends at `keep_version`, and this member's log holds more (a total restart chose the longest
     * log of a majority, §5.8; what lies beyond was never durable at every member). Drop every
     * version above keep_version before returning. */
    void (*truncate)(void *ctx, int64_t keep_version);
};

struct grp_config {
    const struct grp_view *view;     /* copied */
    uint32_t my_id;                  /* must be a member */
    struct net *net;                 /* borrowed; carries the SST */
    const struct rdmc_io *rdmc_io;   /* copied: how RDMC frames reach peers */
    const struct grp_settings *settings; /* copied; NULL: defaults */
    const struct grp_upcalls *up;    /* copied */
    int64_t version_base;            /* versions of this view start at version_base (>= 0) */
    uint64_t heartbeat_ns;           /* heartbeat period (0: 10 ms) */
    uint64_t failure_timeout_ns;     /* a member silent this long is suspected (0: 1 s) */

    /* Joins (§5.9). `validators` is the validator set: every id that may ever be a member, with
     * its key and address (copied; every member must be given the same set). NULL: joins are
     * refused. */
    const struct grp_member *validators;
    uint32_t validator_count;
    /* join: start outside the group (`view` must be NULL) and ask to be added. version_base is
     * then the first version this member's durable log lacks (0 for an empty log). With
     * `last_view` (this member's last logged view, or NULL) it may also take part in a total
     * restart (§5.8) when no group answers. */
    bool join;
    const struct grp_view *last_view;
    uint64_t join_retry_ns;          /* how often a joiner asks again (0: 200 ms) */
};

/* Builds this member's part of the group for the view: the layout, the SST (registered with the
 * transport), one RDMC group per sender of the shard. SQ_EINVAL (bad config, not a member, invalid
 * settings), SQ_EAGAIN (the layout is not provisioned), SQ_ENOMEM, or the SST's error. */
int grp_group_create(struct grp_group **out, const struct grp_config *cfg);

/* Frees everything; RDMC buffers and pending messages are dropped. NULL is a no-op. */
void grp_group_destroy(struct grp_group *g);

/* The RDMC engine, for the driver to feed frames (rdmc_engine_recv), failures and kicks. */
struct rdmc_engine *grp_rdmc(struct grp_group *g);
/* The table (read-only use: status pages, tests). */
struct sst *grp_sst(struct grp_group *g);

/* ---- sending ---- */

/* Reserves room for a message of `size` bytes (0..msg_payload_max) and points *buf at it (valid
 * until grp_send_commit/abort). Exactly one reservation may be open, and it must be closed before
 * the next grp_poll(). SQ_EAGAIN: flow control (a ring or delivery window is full: poll, then try
 * again), SQ_ETOOBIG, SQ_EPERM (this member is not a sender of its shard), SQ_EVIEW (wedged). */
int grp_send_reserve(struct grp_group *g, size_t size, void **buf);
/* Commits the reserved message: it gets the next index and goes out at the next grp_poll(). */
void grp_send_commit(struct grp_group *g);
/* Drops the reservation. */
void grp_send_abort(struct grp_group *g);

/* ---- driving ---- */

/* Timer event, at least every heartbeat period: refreshes this member's heartbeat in the table and
 * suspects members whose heartbeat did not move for the failure timeout (§1.5). `now_ns` comes
 * from the driver's monotonic clock (the group reads none). */
void grp_tick(struct grp_group *g, uint64_t now_ns);

/* One round: publishes committed messages, hands RDMC messages to the engine when their flow
 * control allows, receives, delivers what is stable, reports frontier growth. Returns the number
 * of things done (0 when idle). */
int grp_poll(struct grp_group *g);

/* Transport event: validator `id` failed (or broke the protocol). Freezes its row, marks it
 * suspected, fails its RDMC groups and wedges; the view change follows (§5.2). */
void grp_peer_failed(struct grp_group *g, uint32_t id, int reason);

/* Stops sending, receiving and delivering in this view (§5.4) and publishes `wedged`. */
void grp_wedge(struct grp_group *g);
bool grp_is_wedged(const struct grp_group *g);

/* ---- joins, state transfer, graceful leave, total restart (§5.8, §5.9, §5.11) ----
 *
 * Membership messages (join requests, redirects, views shipped to joiners, state transfer) are
 * two-sided sends on the transport's authenticated connections with an RDMC_IMM_OTHER immediate
 * (grp_gms_imm()); the driver hands every such receive to grp_gms_recv().
 *
 * A joiner (config `join`) asks a member every join_retry_ns, one validator after the other; a
 * member that is not the leader answers with a redirect, the leader proposes the join in the next
 * batch of changes (§5.3). When the view that adds it is installed the leader ships it the view,
 * its layout, the next version and the membership counters; the joiner builds its part of the view
 * and asks a member of its shard that holds the whole log for the versions it lacks (upcalls
 * state_request at that member and state_receive here). A member that is told, by its own
 * authenticated connection, that a validator of the view asks to join again, naming this view or
 * a later one as its last, knows that the old incarnation is gone and suspects it (§1.5: it
 * rejoins with fresh state). A request naming an older view was sent before its sender had this
 * view (a retry that crossed it) and is ignored.
 *
 * Total restart [design]: a joiner that has a last logged view and finds no running group (no
 * member answers, only other restarting validators do) exchanges its last view and log length with
 * them. The restart leader is the lowest-ranked member, among those heard from, of the newest last
 * view any of them logged. It waits up to ten join periods for every member of that view; then,
 * with a majority of it present and a member of every shard, it asks them to ack (an ack is a
 * promise to one leader, so two leaders never both reach a majority) and ships a view with the
 * next id of exactly the ackers, going on from the longest log among them (`truncate` at members
 * whose logs are longer, state transfer where shorter). A joiner that hears of a running group (a
 * redirect) leaves the restart and joins it. Promises live in memory: a validator restarted in the
 * middle of a total restart may ack a second leader, the one residual hazard of this scheme. */

/* The immediate of membership messages. */
uint32_t grp_gms_imm(void);

/* Transport event: a membership message from validator `peer` (authenticated by the transport).
 * Malformed or unexpected messages are logged and dropped. */
void grp_gms_recv(struct grp_group *g, uint32_t peer, const uint8_t *data, size_t size);

/* The version reserved for the current view's record (settings.view_record), or -1 when the
 * view has none (the setting is off, or this is the view the group was created in). */
int64_t grp_view_record_version(const struct grp_group *g);

/* True while a joiner waits for its state transfer (nothing is delivered until it ends). */
bool grp_is_receiving_state(const struct grp_group *g);

/* True while this member is a joiner that is not in a view yet. */
bool grp_is_joining(const struct grp_group *g);

/* State transfer, at the member that got state_request: sends one chunk (copied; at most
 * grp_state_chunk_max() bytes) to joiner `joiner_id`; `last` ends the transfer. SQ_EAGAIN under
 * back-pressure (try again next round), SQ_ETOOBIG, SQ_ENOTFOUND (no transfer to that joiner is
 * open: it failed or asked another member), or the transport's error. */
int grp_state_send(struct grp_group *g, uint32_t joiner_id, const void *data, size_t size,
                   bool last);
size_t grp_state_chunk_max(const struct grp_group *g);

/* Graceful leave (§5.11): wedges, marks this member as leaving in the table (the others count it
 * as departed, not failed, for the majority rule) and stops; the next view goes on without it.
 * Own messages not yet delivered are dropped: leave once they are. */
void grp_leave(struct grp_group *g);

/* ---- persistence and signatures (§4.5, §6) ---- */

/* The application has made every delivered message up to `version` durable. Publishes
 * persisted_num to the shard. Versions only grow (asserted) and cannot pass what was delivered. */
void grp_report_persisted(struct grp_group *g, int64_t version);

/* The application signed its log up to `version` (signature `sig`): publishes the signature (with
 * its version) and then signed_num, in that order (§6.2). */
void grp_report_signed(struct grp_group *g, int64_t version, const uint8_t sig[GRP_SIG_BYTES]);

/* The application verified every shard member's signature up to `version`: publishes
 * verified_num. */
void grp_report_verified(struct grp_group *g, int64_t version);

/* Reads the latest signature member `id` published: *version and the signature bytes. The bytes may
 * be torn while a newer one is in flight; the caller verifies them anyway (§6.3). SQ_ENOTFOUND for
 * a non-member, SQ_EAGAIN when it has published none. */
int grp_signature_get(struct grp_group *g, uint32_t id, int64_t *version,
                      uint8_t sig[GRP_SIG_BYTES]);

/* ---- introspection ---- */

/* The current view (borrowed until the next poll). */
const struct grp_view *grp_view(const struct grp_group *g);
/* True once the member stopped for good (see upcall `stopped`). */
bool grp_is_stopped(const struct grp_group *g);

struct grp_stats {
    uint64_t vid;
    uint32_t shard;
    uint32_t shard_rank;
    uint32_t senders;
    int64_t next_index;        /* my next message index */
    int64_t seq_num;           /* my received frontier */
    int64_t stable_seq;        /* min over the shard of seq_num */
    int64_t delivered_seq;
    int64_t delivered_version; /* last version delivered (version_base - 1 if none) */
    int64_t persisted_frontier;
    int64_t verified_frontier;
    uint64_t msgs_sent;
    uint64_t nulls_sent;       /* null messages (not slots) */
    uint64_t smc_slots_pushed;
    uint64_t rdmc_msgs_sent;
    uint64_t msgs_delivered;
    uint64_t reserve_blocked;  /* grp_send_reserve answered SQ_EAGAIN */
    uint64_t views_installed;
    uint64_t resent;           /* own messages re-sent in a later view (§5.7) */
};
void grp_group_stats(const struct grp_group *g, struct grp_stats *out);

/* Invariant walker (STYLE.md): the simulator calls it after every step. SQ_OK, or SQ_ECORRUPT with
 * a description in grp_check_msg(). Checks the table's monotone columns, that delivered <= stable
 * <= my seq_num, that seq_num matches the received counters, that no slot of mine is reusable
 * before its message was delivered everywhere, and that the frontiers never pass what every member
 * reported. */
int grp_check(struct grp_group *g);
const char *grp_check_msg(const struct grp_group *g);

#endif
