#include "consensus/view.h"

#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"

#define VIEW_MAGIC UINT32_C(0x57495651) /* "QVIW" little-endian */
#define VIEW_VERSION 1

uint32_t grp_view_rank_of(const struct grp_view *view, uint32_t id)
{
    for (uint32_t r = 0; r < view->member_count; r++) {
        if (view->members[r].id == id) {
            return r;
        }
    }
    return GRP_RANK_NONE;
}

uint32_t grp_view_failed_count(const struct grp_view *view)
{
    uint32_t n = 0;
    for (uint32_t r = 0; r < view->member_count; r++) {
        n += view->failed[r] ? 1u : 0u;
    }
    return n;
}

uint32_t grp_layout_shard_of(const struct grp_layout *layout, uint32_t rank, uint32_t *shard_rank)
{
    for (uint32_t s = 0; s < layout->shard_count; s++) {
        const struct grp_shard *sh = &layout->shards[s];
        for (uint32_t i = 0; i < sh->member_count; i++) {
            if (sh->ranks[i] == rank) {
                if (shard_rank != NULL) {
                    *shard_rank = i;
                }
                return s;
            }
        }
    }
    return GRP_RANK_NONE;
}

int grp_layout_compute(const struct grp_layout_spec *spec, const struct grp_view *prev_view,
                       const struct grp_layout *prev_layout, const struct grp_view *cur,
                       struct grp_layout *out)
{
    memset(out, 0, sizeof(*out));
    out->subgroup_count = 1;
    if (cur->member_count == 0 || cur->member_count > SQ_MEMBERS_MAX) {
        return SQ_EINVAL;
    }
    if (spec->kind == GRP_LAYOUT_ONE) {
        out->shard_count = 1;
        struct grp_shard *sh = &out->shards[0];
        for (uint32_t r = 0; r < cur->member_count; r++) {
            sh->ranks[sh->member_count++] = r;
        }
        sh->sender_count = sh->member_count;
        return SQ_OK;
    }
    if (spec->kind != GRP_LAYOUT_SHARDS || spec->shard_count == 0 ||
        spec->shard_count > SQ_SHARDS_MAX || spec->shard_size == 0) {
        return SQ_EINVAL;
    }
    uint32_t max = spec->shard_size_max ? spec->shard_size_max : spec->shard_size;
    if (max < spec->shard_size) {
        return SQ_EINVAL;
    }
    out->shard_count = spec->shard_count;
    bool assigned[SQ_MEMBERS_MAX] = {false};
    /* Survivors keep their shard (§7.1): a member's place never moves while it lives. */
    if (prev_view != NULL && prev_layout != NULL) {
        SQ_ASSERT(prev_layout->shard_count == spec->shard_count);
        for (uint32_t s = 0; s < prev_layout->shard_count; s++) {
            const struct grp_shard *old = &prev_layout->shards[s];
            struct grp_shard *sh = &out->shards[s];
            for (uint32_t i = 0; i < old->member_count; i++) {
                uint32_t id = prev_view->members[old->ranks[i]].id;
                uint32_t r = grp_view_rank_of(cur, id);
                if (r != GRP_RANK_NONE && !assigned[r]) {
                    sh->ranks[sh->member_count++] = r;
                    assigned[r] = true;
                }
            }
        }
    }
    /* Fill every shard to its minimum, then up to its maximum, from unassigned members in rank
     * order (newest members have the highest ranks). */
    uint32_t next = 0;
    for (int pass = 0; pass < 2; pass++) {
        uint32_t target = pass == 0 ? spec->shard_size : max;
        for (uint32_t s = 0; s < spec->shard_count; s++) {
            struct grp_shard *sh = &out->shards[s];
            while (sh->member_count < target) {
                while (next < cur->member_count && assigned[next]) {
                    next++;
                }
                if (next >= cur->member_count) {
                    break;
                }
                sh->ranks[sh->member_count++] = next;
                assigned[next] = true;
            }
        }
    }
    for (uint32_t s = 0; s < spec->shard_count; s++) {
        struct grp_shard *sh = &out->shards[s];
        if (sh->member_count < spec->shard_size) {
            return SQ_EAGAIN;
        }
        sh->sender_count = sh->member_count;
    }
    return SQ_OK;
}

int grp_view_encode(const struct grp_view *view, uint8_t *buf, size_t cap, size_t *size)
{
    SQ_ASSERT(view->member_count <= SQ_MEMBERS_MAX);
    struct sq_enc e;
    sq_enc_init(&e, buf, cap);
    sq_enc_u32(&e, VIEW_MAGIC);
    sq_enc_u16(&e, VIEW_VERSION);
    sq_enc_u64(&e, view->vid);
    sq_enc_u32(&e, view->member_count);
    for (uint32_t r = 0; r < view->member_count; r++) {
        const struct grp_member *m = &view->members[r];
        size_t hl = strnlen(m->host, GRP_HOST_BYTES - 1);
        sq_enc_u32(&e, m->id);
        sq_enc_bytes(&e, m->pk, GRP_PK_BYTES);
        sq_enc_u8(&e, (uint8_t)hl);
        sq_enc_bytes(&e, m->host, hl);
        sq_enc_u16(&e, m->port);
        sq_enc_u8(&e, view->failed[r] ? 1 : 0);
    }
    sq_enc_u32(&e, view->joined_count);
    for (uint32_t i = 0; i < view->joined_count; i++) {
        sq_enc_u32(&e, view->joined[i]);
    }
    sq_enc_u32(&e, view->departed_count);
    for (uint32_t i = 0; i < view->departed_count; i++) {
        sq_enc_u32(&e, view->departed[i]);
    }
    *size = sq_enc_len(&e);
    return sq_enc_status(&e);
}

int grp_view_decode(struct grp_view *view, const uint8_t *buf, size_t size)
{
    memset(view, 0, sizeof(*view));
    struct sq_dec d;
    sq_dec_init(&d, buf, size);
    uint32_t magic, count;
    uint16_t version;
    sq_dec_u32(&d, &magic);
    sq_dec_u16(&d, &version);
    sq_dec_u64(&d, &view->vid);
    sq_dec_u32(&d, &count);
    if (sq_dec_status(&d) != SQ_OK || magic != VIEW_MAGIC || version != VIEW_VERSION ||
        count == 0 || count > SQ_MEMBERS_MAX) {
        goto err;
    }
    view->member_count = count;
    for (uint32_t r = 0; r < count; r++) {
        struct grp_member *m = &view->members[r];
        uint8_t hl, failed;
        sq_dec_u32(&d, &m->id);
        sq_dec_bytes(&d, m->pk, GRP_PK_BYTES);
        sq_dec_u8(&d, &hl);
        if (hl >= GRP_HOST_BYTES) {
            goto err;
        }
        sq_dec_bytes(&d, m->host, hl);
        m->host[hl] = '\0';
        sq_dec_u16(&d, &m->port);
        sq_dec_u8(&d, &failed);
        if (failed > 1 || memchr(m->host, '\0', hl) != NULL) {
            goto err;
        }
        view->failed[r] = failed == 1;
        for (uint32_t q = 0; q < r; q++) {
            if (view->members[q].id == m->id) {
                goto err; /* an id appears once */
            }
        }
    }
    sq_dec_u32(&d, &view->joined_count);
    if (view->joined_count > SQ_MEMBERS_MAX) {
        goto err;
    }
    for (uint32_t i = 0; i < view->joined_count; i++) {
        sq_dec_u32(&d, &view->joined[i]);
    }
    sq_dec_u32(&d, &view->departed_count);
    if (view->departed_count > SQ_MEMBERS_MAX) {
        goto err;
    }
    for (uint32_t i = 0; i < view->departed_count; i++) {
        sq_dec_u32(&d, &view->departed[i]);
    }
    if (sq_dec_finish(&d) != SQ_OK) {
        goto err;
    }
    return SQ_OK;
err:
    memset(view, 0, sizeof(*view));
    return SQ_ECORRUPT;
}

int grp_layout_encode(const struct grp_layout *layout, uint8_t *buf, size_t cap, size_t *size)
{
    SQ_ASSERT(layout->shard_count <= SQ_SHARDS_MAX);
    struct sq_enc e;
    sq_enc_init(&e, buf, cap);
    sq_enc_u32(&e, layout->subgroup_count);
    sq_enc_u32(&e, layout->shard_count);
    for (uint32_t s = 0; s < layout->shard_count; s++) {
        const struct grp_shard *sh = &layout->shards[s];
        sq_enc_u32(&e, sh->member_count);
        sq_enc_u32(&e, sh->sender_count);
        for (uint32_t i = 0; i < sh->member_count; i++) {
            sq_enc_u32(&e, sh->ranks[i]);
        }
    }
    *size = sq_enc_len(&e);
    return sq_enc_status(&e);
}

int grp_layout_decode(struct grp_layout *layout, uint32_t member_count, const uint8_t *buf,
                      size_t size)
{
    memset(layout, 0, sizeof(*layout));
    struct sq_dec d;
    sq_dec_init(&d, buf, size);
    sq_dec_u32(&d, &layout->subgroup_count);
    sq_dec_u32(&d, &layout->shard_count);
    if (sq_dec_status(&d) != SQ_OK || layout->subgroup_count != 1 || layout->shard_count == 0 ||
        layout->shard_count > SQ_SHARDS_MAX) {
        goto err;
    }
    uint64_t seen = 0;
    for (uint32_t s = 0; s < layout->shard_count; s++) {
        struct grp_shard *sh = &layout->shards[s];
        sq_dec_u32(&d, &sh->member_count);
        sq_dec_u32(&d, &sh->sender_count);
        if (sq_dec_status(&d) != SQ_OK || sh->member_count == 0 ||
            sh->member_count > member_count || sh->sender_count > sh->member_count) {
            goto err;
        }
        for (uint32_t i = 0; i < sh->member_count; i++) {
            sq_dec_u32(&d, &sh->ranks[i]);
            /* Every rank of the view exists and sits in at most one shard. */
            if (sh->ranks[i] >= member_count || ((seen >> sh->ranks[i]) & 1u) != 0) {
                goto err;
            }
            seen |= UINT64_C(1) << sh->ranks[i];
        }
    }
    if (sq_dec_finish(&d) != SQ_OK) {
        goto err;
    }
    return SQ_OK;
err:
    memset(layout, 0, sizeof(*layout));
    return SQ_ECORRUPT;
}
