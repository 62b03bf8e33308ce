/* The atomic multicast of one view (PROTOCOL.md §2, §3.1, §4). See consensus.h for the contract.
 *
 * Table columns (one subgroup; per-subgroup columns have one element, for this member's shard;
 * per-sender columns have S_max elements, S_max the most senders of any shard):
 *   seq_num, delivered_num               i64  monotone   §4.2, §4.3 (sequence numbers)
 *   persisted_num, signed_num, verified_num  i64 monotone   §4.5, §6 (versions)
 *   signature                            bytes {i64 version, 64-byte signature}   §6.2
 *   vid                                  u64
 *   suspected[N]                         u64  monotone   §1.5
 *   num_received[S_max]                  i64  monotone   §4.1
 *   wedged                               u64  monotone   §5.4 (after num_received: pitfall 3)
 *   global_min[S_max], global_min_ready  i64, u64       §5.5 (used by the view change)
 *   slots                                bytes window * W  §2.2
 *   num_received_sst[S_max]              i64  monotone   slots consumed per sender, -1 none
 *   index                                i64  monotone   slots published - 1 (§2.3)
 *   heartbeat, rip                       u64  monotone   §1.5, §5.11
 *
 * A slot (W bytes) holds the 16-byte header {i64 message index, u32 num_nulls, u32 size} and the
 * payload. An RDMC message carries the same header in front of its payload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "consensus/consensus.h"
#include "sst/sst.h"

#define PEND_MAX (2 * SQ_SMC_WINDOW_MAX + 2)
#define SIG_COL_BYTES (8 + GRP_SIG_BYTES)

struct pend {
    int64_t index;
    size_t size;
    uint32_t slot; /* SMC: the slot in the sender's row; UINT32_MAX for RDMC */
    uint8_t *owned; /* RDMC: the buffer (header + payload), freed after delivery */
};

struct pend_list {
    struct pend items[PEND_MAX]; /* sorted by index */
    uint32_t count;
};

struct rdmc_out {
    uint8_t *buf; /* header + payload */
    size_t size;  /* header included */
    int64_t index;
    bool handed;
};

struct grp_group {
    struct grp_view view;
    struct grp_layout layout;
    struct grp_settings set;
    struct grp_upcalls up;
    struct net *net;
    struct sst *sst;
    struct rdmc_engine *rdmc;
    struct rdmc_io rdmc_io;

    uint32_t my_id;
    uint32_t my_rank;
    uint32_t shard;
    uint32_t shard_rank;
    uint32_t S;         /* senders of my shard */
    uint32_t S_max;     /* most senders of any shard */
    int64_t my_sender;  /* my sender rank, or -1 */
    uint64_t shard_mask;
    uint32_t sender_row[SQ_MEMBERS_MAX]; /* view rank of sender k */
    uint32_t sender_gid[SQ_MEMBERS_MAX]; /* RDMC group id of sender k */

    uint32_t c_seq, c_delivered, c_persisted, c_signed, c_verified, c_sig, c_vid, c_suspected,
        c_nrecv, c_wedged, c_gmin, c_gmin_ready, c_slots, c_nrecv_sst, c_index, c_heartbeat,
        c_rip;
    size_t slot_bytes;

    /* sender (§2.3) */
    int64_t next_index;
    int64_t slots_committed;
    int64_t slots_pushed;
    int64_t slot_index[SQ_SMC_WINDOW_MAX]; /* message index in each slot; -1 null or empty */
    int64_t null_target;                   /* next_index must reach this (§4.4) */
    bool reserved;
    bool reserved_rdmc;
    size_t reserved_size;
    uint8_t *reserved_buf;
    struct rdmc_out rq[SQ_SMC_WINDOW_MAX]; /* RDMC sends in index order */
    uint32_t rq_head;
    uint32_t rq_count;

    /* receiver (§2.4, §4.1) */
    struct grp_recv_track *track; /* [S] */
    struct pend_list *pending;    /* [S] */
    int64_t seq_num;
    int64_t delivered_seq;
    int64_t version_next;
    uint8_t *scratch;      /* one SMC payload, copied out of the table for delivery */
    uint8_t *send_scratch; /* the open SMC reservation, copied into my slot at commit */

    /* frontiers */
    int64_t persisted_reported;
    int64_t signed_reported;
    int64_t verified_reported;
    int64_t persisted_frontier;
    int64_t verified_frontier;

    bool wedged;
    bool in_poll;
    struct sst_pred_handle pred_recv, pred_deliver, pred_frontier;
    struct grp_stats stats;
    char check_msg[256];
};

void grp_settings_default(struct grp_settings *s)
{
    memset(s, 0, sizeof(*s));
    s->window = 16;
    s->smc_payload_max = 10240;
    s->msg_payload_max = 1024 * 1024;
    rdmc_settings_default(&s->rdmc);
    s->layout.kind = GRP_LAYOUT_ONE;
    s->sst_region = 1;
}

static bool settings_ok(const struct grp_settings *s)
{
    return s->window >= 1 && s->window <= SQ_SMC_WINDOW_MAX && s->smc_payload_max <= SQ_SMC_PAYLOAD_MAX &&
           s->msg_payload_max >= s->smc_payload_max &&
           s->msg_payload_max <= SQ_MSG_BYTES_MAX - GRP_MSG_HDR_BYTES &&
           s->sst_region < SQ_NET_REGIONS_MAX;
}

static uint64_t rank_bit(uint32_t rank)
{
    return UINT64_C(1) << rank;
}

/* ---- RDMC upcalls ---- */

static void *rdmc_alloc_cb(void *ctx, uint32_t group_id, size_t size_max)
{
    (void)ctx;
    (void)group_id;
    return malloc(size_max > 0 ? size_max : 1);
}

static int32_t sender_of_gid(const struct grp_group *g, uint32_t gid)
{
    for (uint32_t k = 0; k < g->S; k++) {
        if (g->sender_gid[k] == gid) {
            return (int32_t)k;
        }
    }
    return -1;
}

static void pend_insert(struct grp_group *g, uint32_t k, int64_t index, size_t size, uint32_t slot,
                        uint8_t *owned)
{
    struct pend_list *pl = &g->pending[k];
    /* Bounded by the delivery window: a sender cannot be more than `window` messages ahead of the
     * slowest delivery, and RDMC sends are bounded the same way. */
    SQ_ASSERT(pl->count < PEND_MAX);
    uint32_t pos = pl->count;
    while (pos > 0 && pl->items[pos - 1].index > index) {
        pos--;
    }
    SQ_ASSERT(pos == 0 || pl->items[pos - 1].index != index);
    memmove(&pl->items[pos + 1], &pl->items[pos], (pl->count - pos) * sizeof(pl->items[0]));
    pl->items[pos] = (struct pend){.index = index, .size = size, .slot = slot, .owned = owned};
    pl->count++;
}

static void wedge_with(struct grp_group *g, uint32_t failed_id, int reason);

/* My own RDMC message has left: it counts as received here (§3.2, "locally received"). */
static void root_done(struct grp_group *g, void *buf, size_t size, int64_t index)
{
    uint32_t k = (uint32_t)g->my_sender;
    struct rdmc_out *o = &g->rq[g->rq_head];
    SQ_ASSERT(g->rq_count > 0);
    SQ_ASSERT(o->handed);
    SQ_ASSERT(o->buf == buf);
    SQ_ASSERT(index == o->index);
    g->rq_head = (g->rq_head + 1) % SQ_SMC_WINDOW_MAX;
    g->rq_count--;
    if (g->wedged) {
        free(buf);
        return;
    }
    int rc = grp_recv_add(&g->track[k], index, index);
    SQ_ASSERT(rc == SQ_OK);
    pend_insert(g, k, index, size - GRP_MSG_HDR_BYTES, UINT32_MAX, buf);
}

static void rdmc_done_cb(void *ctx, uint32_t gid, uint64_t msg_index, void *buf, size_t size,
                         uint64_t cookie)
{
    (void)msg_index;
    struct grp_group *g = ctx;
    int32_t k = sender_of_gid(g, gid);
    SQ_ASSERT(k >= 0);
    if (k == g->my_sender) {
        root_done(g, buf, size, (int64_t)cookie);
        return;
    }
    /* A receiver: check the header the sender put in front. */
    struct sq_dec d;
    sq_dec_init(&d, buf, size);
    int64_t index;
    uint32_t nulls, psize;
    sq_dec_i64(&d, &index);
    sq_dec_u32(&d, &nulls);
    sq_dec_u32(&d, &psize);
    int rc = SQ_ECORRUPT;
    if (sq_dec_status(&d) == SQ_OK && nulls == 0 && index >= 0 &&
        (size_t)psize + GRP_MSG_HDR_BYTES == size && psize <= g->set.msg_payload_max) {
        rc = g->wedged ? SQ_EVIEW : grp_recv_add(&g->track[k], index, index);
    }
    if (rc != SQ_OK) {
        free(buf);
        if (rc != SQ_EVIEW) {
            SQ_WARN("grp", "bad RDMC message", "sender=%u rc=%s",
                    g->view.members[g->sender_row[k]].id, sq_errname(rc));
            wedge_with(g, g->view.members[g->sender_row[k]].id, SQ_ECORRUPT);
        }
        return;
    }
    pend_insert(g, (uint32_t)k, index, psize, UINT32_MAX, buf);
}

static void rdmc_failed_cb(void *ctx, uint32_t gid, int err, uint32_t peer, void *recv_buf)
{
    struct grp_group *g = ctx;
    free(recv_buf);
    int32_t k = sender_of_gid(g, gid);
    if (k == g->my_sender) {
        /* Undelivered sends stay with us; they are re-sent in the next view (§5.7). */
    }
    (void)k;
    wedge_with(g, peer, err);
}

/* ---- creation ---- */

static int build_schema(struct grp_group *g, struct sst_schema *s)
{
    uint32_t n = g->view.member_count;
    uint32_t smax = g->S_max > 0 ? g->S_max : 1;
    int rc = SQ_OK;
    sst_schema_init(s);
#define ADD(name, type, count, flags, init, col)                                                   \
    do {                                                                                           \
        if (rc == SQ_OK) {                                                                         \
            rc = sst_schema_add(s, name, type, count, flags, init, col);                          \
        }                                                                                          \
    } while (0)
    ADD("seq_num", SST_I64, 1, SST_MONOTONE, -1, &g->c_seq);
    ADD("delivered_num", SST_I64, 1, SST_MONOTONE, -1, &g->c_delivered);
    ADD("signature", SST_BYTES, SIG_COL_BYTES, 0, 0, &g->c_sig);
    ADD("persisted_num", SST_I64, 1, SST_MONOTONE, -1, &g->c_persisted);
    ADD("signed_num", SST_I64, 1, SST_MONOTONE, -1, &g->c_signed);
    ADD("verified_num", SST_I64, 1, SST_MONOTONE, -1, &g->c_verified);
    ADD("vid", SST_U64, 1, 0, 0, &g->c_vid);
    ADD("suspected", SST_U64, n, SST_MONOTONE, 0, &g->c_suspected);
    ADD("num_received", SST_I64, smax, SST_MONOTONE, -1, &g->c_nrecv);
    ADD("wedged", SST_U64, 1, SST_MONOTONE, 0, &g->c_wedged);
    ADD("global_min", SST_I64, smax, 0, -1, &g->c_gmin);
    ADD("global_min_ready", SST_U64, 1, SST_MONOTONE, 0, &g->c_gmin_ready);
    ADD("slots", SST_BYTES, (uint32_t)(g->set.window * g->slot_bytes), 0, 0, &g->c_slots);
    ADD("num_received_sst", SST_I64, smax, SST_MONOTONE, -1, &g->c_nrecv_sst);
    ADD("index", SST_I64, 1, SST_MONOTONE, -1, &g->c_index);
    ADD("heartbeat", SST_U64, 1, SST_MONOTONE, 0, &g->c_heartbeat);
    ADD("rip", SST_U64, 1, SST_MONOTONE, 0, &g->c_rip);
#undef ADD
    return rc;
}

static bool pred_true(struct sst *sst, void *arg)
{
    (void)sst;
    (void)arg;
    return true;
}

static void trig_receive(struct sst *sst, void *arg);
static void trig_deliver(struct sst *sst, void *arg);
static void trig_frontier(struct sst *sst, void *arg);

static void sst_failed_cb(void *arg, struct sst *sst, uint32_t rank, int reason)
{
    (void)sst;
    struct grp_group *g = arg;
    wedge_with(g, g->view.members[rank].id, reason);
}

int grp_group_create(struct grp_group **out, const struct grp_config *cfg)
{
    if (cfg->view == NULL || cfg->net == NULL || cfg->rdmc_io == NULL || cfg->up == NULL ||
        cfg->up->deliver == NULL || cfg->version_base < 0) {
        return SQ_EINVAL;
    }
    struct grp_group *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return SQ_ENOMEM;
    }
    int rc = SQ_EINVAL;
    g->view = *cfg->view;
    if (cfg->settings != NULL) {
        g->set = *cfg->settings;
    } else {
        grp_settings_default(&g->set);
    }
    g->set.rdmc.msg_bytes_max = g->set.msg_payload_max + GRP_MSG_HDR_BYTES;
    if (!settings_ok(&g->set) || rdmc_settings_check(&g->set.rdmc) != SQ_OK) {
        goto err_free;
    }
    g->up = *cfg->up;
    g->net = cfg->net;
    g->rdmc_io = *cfg->rdmc_io;
    g->my_id = cfg->my_id;
    g->my_rank = grp_view_rank_of(&g->view, cfg->my_id);
    if (g->my_rank == GRP_RANK_NONE) {
        goto err_free;
    }
    rc = grp_layout_compute(&g->set.layout, NULL, NULL, &g->view, &g->layout);
    if (rc != SQ_OK) {
        goto err_free;
    }
    g->shard = grp_layout_shard_of(&g->layout, g->my_rank, &g->shard_rank);
    SQ_ASSERT(g->shard != GRP_RANK_NONE);
    const struct grp_shard *sh = &g->layout.shards[g->shard];
    g->S = sh->sender_count;
    g->my_sender = g->shard_rank < g->S ? (int64_t)g->shard_rank : -1;
    for (uint32_t s = 0; s < g->layout.shard_count; s++) {
        if (g->layout.shards[s].sender_count > g->S_max) {
            g->S_max = g->layout.shards[s].sender_count;
        }
    }
    for (uint32_t i = 0; i < sh->member_count; i++) {
        g->shard_mask |= rank_bit(sh->ranks[i]);
    }
    for (uint32_t k = 0; k < g->S; k++) {
        g->sender_row[k] = sh->ranks[k];
        /* Group ids from the view id, so a new view's groups never meet an old view's frames. */
        g->sender_gid[k] = (uint32_t)(((g->view.vid % 256) << 6) | (sh->ranks[k] & 63u));
    }
    g->slot_bytes = ((GRP_MSG_HDR_BYTES + g->set.smc_payload_max) + 7u) & ~(size_t)7u;

    rc = SQ_ENOMEM;
    g->track = calloc(g->S > 0 ? g->S : 1, sizeof(*g->track));
    g->pending = calloc(g->S > 0 ? g->S : 1, sizeof(*g->pending));
    g->scratch = malloc(g->set.smc_payload_max + 1);
    g->send_scratch = malloc(g->set.smc_payload_max + 1);
    if (g->track == NULL || g->pending == NULL || g->scratch == NULL || g->send_scratch == NULL) {
        goto err_free_arrays;
    }
    for (uint32_t k = 0; k < g->S; k++) {
        grp_recv_init(&g->track[k]);
    }
    for (uint32_t s = 0; s < SQ_SMC_WINDOW_MAX; s++) {
        g->slot_index[s] = -1;
    }
    g->seq_num = -1;
    g->delivered_seq = -1;
    g->version_next = cfg->version_base;
    g->persisted_reported = g->signed_reported = g->verified_reported = cfg->version_base - 1;
    g->persisted_frontier = g->verified_frontier = cfg->version_base - 1;

    struct sst_schema schema;
    rc = build_schema(g, &schema);
    if (rc != SQ_OK) {
        goto err_free_arrays;
    }
    uint32_t ids[SQ_MEMBERS_MAX];
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        ids[r] = g->view.members[r].id;
    }
    struct sst_config scfg = {.schema = &schema, .member_count = g->view.member_count,
                              .my_rank = g->my_rank, .member_ids = ids, .net = g->net,
                              .region = g->set.sst_region, .view_tag = g->view.vid,
                              .failed = sst_failed_cb, .failed_arg = g};
    rc = sst_create(&g->sst, &scfg);
    if (rc != SQ_OK) {
        goto err_free_arrays;
    }
    sst_set_u64(g->sst, g->c_vid, 0, g->view.vid);

    struct rdmc_upcalls ups = {.ctx = g, .alloc = rdmc_alloc_cb, .done = rdmc_done_cb,
                               .failed = rdmc_failed_cb};
    rc = rdmc_engine_create(&g->rdmc, g->my_id, &g->rdmc_io, &ups);
    if (rc != SQ_OK) {
        goto err_destroy_sst;
    }
    if (sh->member_count >= 2) {
        for (uint32_t k = 0; k < g->S; k++) {
            /* The shard rotated so that sender k is first (§3.1). */
            uint32_t members[SQ_MEMBERS_MAX];
            for (uint32_t i = 0; i < sh->member_count; i++) {
                members[i] = g->view.members[sh->ranks[(k + i) % sh->member_count]].id;
            }
            rc = rdmc_group_create(g->rdmc, g->sender_gid[k], members, sh->member_count,
                                   &g->set.rdmc);
            if (rc != SQ_OK) {
                goto err_destroy_rdmc;
            }
        }
    }
    rc = sst_pred_add(g->sst, SST_PRED_RECURRENT, pred_true, trig_receive, g, &g->pred_recv);
    if (rc == SQ_OK) {
        rc = sst_pred_add(g->sst, SST_PRED_RECURRENT, pred_true, trig_deliver, g,
                          &g->pred_deliver);
    }
    if (rc == SQ_OK) {
        rc = sst_pred_add(g->sst, SST_PRED_RECURRENT, pred_true, trig_frontier, g,
                          &g->pred_frontier);
    }
    if (rc != SQ_OK) {
        goto err_destroy_rdmc;
    }
    /* Publish the initial row so peers start from real values (§5.6: push the row at install). */
    sst_row_push(g->sst, g->shard_mask);
    g->stats.vid = g->view.vid;
    g->stats.shard = g->shard;
    g->stats.shard_rank = g->shard_rank;
    g->stats.senders = g->S;
    *out = g;
    return SQ_OK;

err_destroy_rdmc:
    rdmc_engine_destroy(g->rdmc);
err_destroy_sst:
    sst_destroy(g->sst);
err_free_arrays:
    free(g->send_scratch);
    free(g->scratch);
    free(g->pending);
    free(g->track);
err_free:
    free(g);
    return rc;
}

void grp_group_destroy(struct grp_group *g)
{
    if (g == NULL) {
        return;
    }
    /* The engine hands every lent buffer back without upcalls: free the ones we own. */
    rdmc_engine_destroy(g->rdmc);
    for (uint32_t i = 0; i < g->rq_count; i++) {
        free(g->rq[(g->rq_head + i) % SQ_SMC_WINDOW_MAX].buf);
    }
    for (uint32_t k = 0; k < g->S; k++) {
        for (uint32_t i = 0; i < g->pending[k].count; i++) {
            free(g->pending[k].items[i].owned);
        }
    }
    if (g->reserved && g->reserved_rdmc) {
        free(g->reserved_buf);
    }
    sst_destroy(g->sst);
    free(g->send_scratch);
    free(g->scratch);
    free(g->pending);
    free(g->track);
    free(g);
}

struct rdmc_engine *grp_rdmc(struct grp_group *g)
{
    return g->rdmc;
}

struct sst *grp_sst(struct grp_group *g)
{
    return g->sst;
}

/* ---- wedging and failures ---- */

static void wedge_with(struct grp_group *g, uint32_t failed_id, int reason)
{
    if (g->wedged) {
        return;
    }
    g->wedged = true;
    /* num_received must be visible before wedged (pitfall 3): push it first, then the flag. */
    sst_col_push(g->sst, g->c_nrecv, g->shard_mask);
    sst_set_u64(g->sst, g->c_wedged, 0, 1);
    sst_cell_push(g->sst, g->c_wedged, 0, SST_ALL);
    SQ_INFO("grp", "wedged", "vid=%llu failed=%u reason=%s", (unsigned long long)g->view.vid,
            failed_id, sq_errname(reason));
    if (g->up.wedged != NULL) {
        g->up.wedged(g->up.ctx, failed_id, reason);
    }
}

void grp_wedge(struct grp_group *g)
{
    wedge_with(g, UINT32_MAX, SQ_OK);
}

bool grp_is_wedged(const struct grp_group *g)
{
    return g->wedged;
}

void grp_peer_failed(struct grp_group *g, uint32_t id, int reason)
{
    uint32_t r = grp_view_rank_of(&g->view, id);
    if (r == GRP_RANK_NONE || r == g->my_rank) {
        return;
    }
    if (!sst_row_is_frozen(g->sst, r)) {
        sst_row_freeze(g->sst, r);
    }
    if (sst_get_u64(g->sst, g->my_rank, g->c_suspected, r) == 0) {
        sst_set_u64(g->sst, g->c_suspected, r, 1);
        sst_cell_push(g->sst, g->c_suspected, r, SST_ALL);
    }
    rdmc_engine_peer_failed(g->rdmc, id);
    wedge_with(g, id, reason);
}

/* ---- sending (§2.3, §3.1) ---- */

/* Min over the live rows of the shard; `fallback` when none is live. */
static int64_t shard_min(const struct grp_group *g, uint32_t col, uint32_t index, int64_t fallback)
{
    int64_t v;
    return sst_min_i64(g->sst, col, index, g->shard_mask, &v) ? v : fallback;
}

/* Whether the next slot may be (re)used: the ring window (every member consumed the slot's old
 * content) and the delivery window (every member delivered the message in it), §2.3 A and B,
 * pitfall 5. */
static bool slot_free(struct grp_group *g)
{
    int64_t seq = g->slots_committed;
    uint32_t slot = (uint32_t)(seq % g->set.window);
    if (seq >= (int64_t)g->set.window) {
        int64_t consumed = shard_min(g, g->c_nrecv_sst, (uint32_t)g->my_sender, INT64_MAX);
        if (consumed < seq - (int64_t)g->set.window) {
            return false;
        }
    }
    int64_t old = g->slot_index[slot];
    if (old >= 0) {
        int64_t delivered = shard_min(g, g->c_delivered, 0, INT64_MAX);
        if (delivered < grp_seq_of(old, (uint32_t)g->my_sender, g->S)) {
            return false;
        }
    }
    return true;
}

static void slot_write(struct grp_group *g, uint32_t slot, int64_t index, uint32_t nulls,
                       uint32_t size)
{
    uint8_t hdr[GRP_MSG_HDR_BYTES];
    sq_le64_store(hdr, (uint64_t)index);
    sq_le32_store(hdr + 8, nulls);
    sq_le32_store(hdr + 12, size);
    sst_set_bytes(g->sst, g->c_slots, slot * g->slot_bytes, hdr, sizeof(hdr));
}

int grp_send_reserve(struct grp_group *g, size_t size, void **buf)
{
    SQ_ASSERT(!g->reserved);
    *buf = NULL;
    if (g->wedged) {
        return SQ_EVIEW;
    }
    if (g->my_sender < 0) {
        return SQ_EPERM;
    }
    if (size > g->set.msg_payload_max) {
        return SQ_ETOOBIG;
    }
    if (size <= g->set.smc_payload_max) {
        if (!slot_free(g)) {
            g->stats.reserve_blocked++;
            return SQ_EAGAIN;
        }
        /* The application fills a staging buffer that commit copies into my slot. */
        g->reserved_buf = NULL;
        g->reserved_rdmc = false;
        g->reserved_size = size;
        g->reserved = true;
        *buf = g->send_scratch;
        return SQ_OK;
    }
    if (g->rq_count >= g->set.window) {
        g->stats.reserve_blocked++;
        return SQ_EAGAIN;
    }
    uint8_t *b = malloc(GRP_MSG_HDR_BYTES + size);
    if (b == NULL) {
        return SQ_ENOMEM;
    }
    g->reserved_buf = b;
    g->reserved_rdmc = true;
    g->reserved_size = size;
    g->reserved = true;
    *buf = b + GRP_MSG_HDR_BYTES;
    return SQ_OK;
}

void grp_send_abort(struct grp_group *g)
{
    SQ_ASSERT(g->reserved);
    if (g->reserved_rdmc) {
        free(g->reserved_buf);
    }
    g->reserved = false;
    g->reserved_buf = NULL;
}

void grp_send_commit(struct grp_group *g)
{
    SQ_ASSERT(g->reserved);
    g->reserved = false;
    int64_t index = g->next_index++;
    g->stats.msgs_sent++;
    if (!g->reserved_rdmc) {
        uint32_t slot = (uint32_t)(g->slots_committed % g->set.window);
        slot_write(g, slot, index, 0, (uint32_t)g->reserved_size);
        if (g->reserved_size > 0) {
            sst_set_bytes(g->sst, g->c_slots, slot * g->slot_bytes + GRP_MSG_HDR_BYTES,
                          g->send_scratch, g->reserved_size);
        }
        g->slot_index[slot] = index;
        g->slots_committed++;
        return;
    }
    uint8_t *b = g->reserved_buf;
    sq_le64_store(b, (uint64_t)index);
    sq_le32_store(b + 8, 0);
    sq_le32_store(b + 12, (uint32_t)g->reserved_size);
    SQ_ASSERT(g->rq_count < g->set.window);
    struct rdmc_out *o = &g->rq[(g->rq_head + g->rq_count) % SQ_SMC_WINDOW_MAX];
    *o = (struct rdmc_out){.buf = b, .size = GRP_MSG_HDR_BYTES + g->reserved_size,
                           .index = index, .handed = false};
    g->rq_count++;
    g->reserved_buf = NULL;
}

/* Publishes committed slots: each slot's used bytes, then `index` (§2.3: the counter last). */
static int send_pass(struct grp_group *g)
{
    int done = 0;
    if (g->wedged || g->my_sender < 0) {
        return 0;
    }
    /* Reactive nulls (§4.4), coalesced into one slot. */
    if (g->null_target > g->next_index && slot_free(g)) {
        uint32_t slot = (uint32_t)(g->slots_committed % g->set.window);
        int64_t n = g->null_target - g->next_index;
        SQ_ASSERT(n <= UINT32_MAX);
        slot_write(g, slot, g->next_index, (uint32_t)n, 0);
        g->slot_index[slot] = -1;
        g->next_index = g->null_target;
        g->slots_committed++;
        g->stats.nulls_sent += (uint64_t)n;
        done++;
    }
    if (g->slots_committed > g->slots_pushed) {
        /* Batching (§2.3, Spindle): a run of slots that do not wrap goes out as one write when
         * the slots are mostly full; sparse runs (small messages in big slots) go slot by slot,
         * each with only its used bytes. */
        size_t base = sst_col_offset(g->sst, g->c_slots);
        int64_t s = g->slots_pushed;
        while (s < g->slots_committed) {
            uint32_t first = (uint32_t)(s % g->set.window);
            int64_t run_end = s;
            size_t used_sum = 0, last_used = 0;
            while (run_end < g->slots_committed &&
                   (run_end == s || (uint32_t)(run_end % g->set.window) != 0)) {
                uint32_t slot = (uint32_t)(run_end % g->set.window);
                uint8_t hdr[GRP_MSG_HDR_BYTES];
                sst_get_bytes(g->sst, g->my_rank, g->c_slots, slot * g->slot_bytes, hdr,
                              sizeof(hdr));
                last_used = GRP_MSG_HDR_BYTES + sq_le32_load(hdr + 12);
                used_sum += last_used;
                run_end++;
            }
            uint64_t count = (uint64_t)(run_end - s);
            size_t span = (size_t)(count - 1) * g->slot_bytes + last_used;
            if (count == 1 || span <= 2 * used_sum) {
                sst_range_push(g->sst, base + first * g->slot_bytes, span, g->shard_mask);
            } else {
                for (int64_t t = s; t < run_end; t++) {
                    uint32_t slot = (uint32_t)(t % g->set.window);
                    uint8_t hdr[GRP_MSG_HDR_BYTES];
                    sst_get_bytes(g->sst, g->my_rank, g->c_slots, slot * g->slot_bytes, hdr,
                                  sizeof(hdr));
                    sst_range_push(g->sst, base + slot * g->slot_bytes,
                                   GRP_MSG_HDR_BYTES + sq_le32_load(hdr + 12), g->shard_mask);
                }
            }
            g->stats.smc_slots_pushed += count;
            s = run_end;
        }
        g->slots_pushed = g->slots_committed;
        sst_set_i64(g->sst, g->c_index, 0, g->slots_pushed - 1);
        sst_cell_push(g->sst, g->c_index, 0, g->shard_mask);
        done++;
    }
    /* RDMC: hand over the next message once my previous one is self-received and the delivery
     * window allows (§3.1). */
    if (g->rq_count > 0) {
        uint32_t k = (uint32_t)g->my_sender;
        for (uint32_t i = 0; i < g->rq_count; i++) {
            struct rdmc_out *o = &g->rq[(g->rq_head + i) % SQ_SMC_WINDOW_MAX];
            if (o->handed) {
                continue;
            }
            if (i > 0 || g->track[k].prefix < o->index - 1) {
                break; /* one transfer at a time, after everything before it is self-received */
            }
            if (o->index >= (int64_t)g->set.window) {
                int64_t delivered = shard_min(g, g->c_delivered, 0, INT64_MAX);
                if (delivered < grp_seq_of(o->index - (int64_t)g->set.window, k, g->S)) {
                    break;
                }
            }
            if (g->layout.shards[g->shard].member_count < 2) {
                /* Alone in the shard: nobody to send to; the message is received at once. */
                o->handed = true;
                root_done(g, o->buf, o->size, o->index);
                done++;
                break;
            }
            /* Marked first: the engine may report `done` from inside rdmc_group_send. */
            o->handed = true;
            g->stats.rdmc_msgs_sent++;
            done++;
            int rc = rdmc_group_send(g->rdmc, g->sender_gid[k], o->buf, o->size,
                                     (uint64_t)o->index);
            if (rc != SQ_OK) {
                SQ_ASSERT(g->rq_count > 0 && &g->rq[g->rq_head] == o); /* still queued */
                o->handed = false;
                g->stats.rdmc_msgs_sent--;
                if (rc != SQ_EFULL) {
                    wedge_with(g, g->my_id, rc);
                }
                break;
            }
            break; /* o may be gone (done ran); the next one waits for its self-receipt */
        }
    }
    return done;
}

/* ---- receiving (§2.4, §4.1, §4.2, §4.4) ---- */

static void trig_receive(struct sst *sst, void *arg)
{
    (void)sst;
    struct grp_group *g = arg;
    if (g->wedged) {
        return;
    }
    bool nrecv_changed = false;
    bool nrecv_sst_changed = false;
    int64_t prefixes[SQ_MEMBERS_MAX];
    for (uint32_t k = 0; k < g->S; k++) {
        uint32_t row = g->sender_row[k];
        int64_t j = sst_get_i64(g->sst, g->my_rank, g->c_nrecv_sst, k);
        int64_t published = sst_get_i64(g->sst, row, g->c_index, 0); /* read once (§1.4) */
        int64_t j0 = j;
        while (j < published) {
            j++;
            uint32_t slot = (uint32_t)(j % g->set.window);
            uint8_t hdr[GRP_MSG_HDR_BYTES];
            sst_get_bytes(g->sst, row, g->c_slots, slot * g->slot_bytes, hdr, sizeof(hdr));
            int64_t index = (int64_t)sq_le64_load(hdr);
            uint32_t nulls = sq_le32_load(hdr + 8);
            uint32_t size = sq_le32_load(hdr + 12);
            int rc = SQ_ECORRUPT;
            if (index >= 0 && size <= g->set.smc_payload_max && (nulls == 0 || size == 0) &&
                index <= INT64_MAX - (int64_t)nulls) {
                int64_t hi = nulls > 0 ? index + (int64_t)nulls - 1 : index;
                rc = grp_recv_add(&g->track[k], index, hi);
            }
            if (rc != SQ_OK) {
                /* An authenticated peer wrote a slot that breaks the protocol: treat it as
                 * failed, never trust the rest of its row. */
                SQ_WARN("grp", "bad SMC slot", "sender=%u slot=%u rc=%s",
                        g->view.members[row].id, slot, sq_errname(rc));
                grp_peer_failed(g, g->view.members[row].id, SQ_ECORRUPT);
                return;
            }
            if (nulls == 0) {
                pend_insert(g, k, index, size, slot, NULL);
            }
        }
        if (j != j0) {
            sst_set_i64(g->sst, g->c_nrecv_sst, k, j);
            nrecv_sst_changed = true;
        }
        int64_t prefix = g->track[k].prefix;
        prefixes[k] = prefix;
        if (prefix > sst_get_i64(g->sst, g->my_rank, g->c_nrecv, k)) {
            sst_set_i64(g->sst, g->c_nrecv, k, prefix);
            nrecv_changed = true;
            if (g->my_sender >= 0 && (int64_t)k != g->my_sender) {
                uint64_t need = grp_nulls_needed((uint32_t)g->my_sender, k, prefix, g->next_index);
                if (need > 0 && g->next_index + (int64_t)need > g->null_target) {
                    g->null_target = g->next_index + (int64_t)need;
                }
            }
        }
    }
    if (nrecv_sst_changed) {
        sst_col_push(g->sst, g->c_nrecv_sst, g->shard_mask);
    }
    if (nrecv_changed) {
        sst_col_push(g->sst, g->c_nrecv, g->shard_mask);
    }
    if (g->S > 0) {
        int64_t s = grp_seq_num(prefixes, g->S);
        if (s > g->seq_num) {
            g->seq_num = s;
            sst_set_i64(g->sst, g->c_seq, 0, s);
            sst_cell_push(g->sst, g->c_seq, 0, g->shard_mask);
        }
    }
}

/* ---- delivery (§4.3) ---- */

static void trig_deliver(struct sst *sst, void *arg)
{
    (void)sst;
    struct grp_group *g = arg;
    if (g->wedged || g->S == 0) {
        return;
    }
    int64_t stable = shard_min(g, g->c_seq, 0, -1);
    SQ_ASSERT(stable <= g->seq_num);
    bool any = false;
    while (g->delivered_seq < stable) {
        int64_t seq = g->delivered_seq + 1;
        uint32_t k = (uint32_t)(seq % g->S);
        int64_t i = seq / g->S;
        struct pend_list *pl = &g->pending[k];
        if (pl->count > 0 && pl->items[0].index == i) {
            struct pend p = pl->items[0];
            memmove(&pl->items[0], &pl->items[1], (pl->count - 1) * sizeof(pl->items[0]));
            pl->count--;
            const uint8_t *data;
            if (p.owned != NULL) {
                data = p.owned + GRP_MSG_HDR_BYTES;
            } else {
                /* Copy out of the sender's slot: the delivery window keeps it intact until every
                 * member, this one included, has delivered it. */
                if (p.size > 0) {
                    sst_get_bytes(g->sst, g->sender_row[k], g->c_slots,
                                  p.slot * g->slot_bytes + GRP_MSG_HDR_BYTES, g->scratch, p.size);
                }
                data = g->scratch;
            }
            int64_t version = g->version_next++;
            g->delivered_seq = seq;
            g->stats.msgs_delivered++;
            g->up.deliver(g->up.ctx, g->shard, g->view.members[g->sender_row[k]].id, g->view.vid,
                          seq, version, data, p.size);
            free(p.owned);
        } else {
            /* Not a stored message, so a null: it must have arrived (seq <= my seq_num). */
            SQ_ASSERT(grp_recv_has(&g->track[k], i));
            SQ_ASSERT(pl->count == 0 || pl->items[0].index > i);
            g->delivered_seq = seq;
        }
        any = true;
    }
    if (any) {
        sst_set_i64(g->sst, g->c_delivered, 0, g->delivered_seq);
        sst_cell_push(g->sst, g->c_delivered, 0, g->shard_mask);
    }
}

/* ---- frontiers (§4.5, §6.3) ---- */

static void trig_frontier(struct sst *sst, void *arg)
{
    (void)sst;
    struct grp_group *g = arg;
    int64_t p = shard_min(g, g->c_persisted, 0, g->persisted_frontier);
    if (p > g->persisted_frontier) {
        g->persisted_frontier = p;
        if (g->up.persisted != NULL) {
            g->up.persisted(g->up.ctx, g->shard, p);
        }
    }
    int64_t v = shard_min(g, g->c_verified, 0, g->verified_frontier);
    if (v > g->verified_frontier) {
        g->verified_frontier = v;
        if (g->up.verified != NULL) {
            g->up.verified(g->up.ctx, g->shard, v);
        }
    }
}

void grp_report_persisted(struct grp_group *g, int64_t version)
{
    SQ_ASSERT(version >= g->persisted_reported);
    SQ_ASSERT(version < g->version_next);
    if (version == g->persisted_reported) {
        return;
    }
    g->persisted_reported = version;
    sst_set_i64(g->sst, g->c_persisted, 0, version);
    sst_cell_push(g->sst, g->c_persisted, 0, g->shard_mask);
}

void grp_report_signed(struct grp_group *g, int64_t version, const uint8_t sig[GRP_SIG_BYTES])
{
    SQ_ASSERT(version > g->signed_reported);
    SQ_ASSERT(version < g->version_next);
    g->signed_reported = version;
    uint8_t b[SIG_COL_BYTES];
    sq_le64_store(b, (uint64_t)version);
    memcpy(b + 8, sig, GRP_SIG_BYTES);
    sst_set_bytes(g->sst, g->c_sig, 0, b, sizeof(b));
    sst_col_push(g->sst, g->c_sig, g->shard_mask); /* the signature first, then its counter */
    sst_set_i64(g->sst, g->c_signed, 0, version);
    sst_cell_push(g->sst, g->c_signed, 0, g->shard_mask);
}

void grp_report_verified(struct grp_group *g, int64_t version)
{
    SQ_ASSERT(version >= g->verified_reported);
    if (version == g->verified_reported) {
        return;
    }
    g->verified_reported = version;
    sst_set_i64(g->sst, g->c_verified, 0, version);
    sst_cell_push(g->sst, g->c_verified, 0, g->shard_mask);
}

int grp_signature_get(struct grp_group *g, uint32_t id, int64_t *version,
                      uint8_t sig[GRP_SIG_BYTES])
{
    uint32_t r = grp_view_rank_of(&g->view, id);
    if (r == GRP_RANK_NONE) {
        return SQ_ENOTFOUND;
    }
    /* Counter first (acquire), then the bytes it covers (pitfall 1). */
    int64_t n = sst_get_i64(g->sst, r, g->c_signed, 0);
    if (n < 0) {
        return SQ_EAGAIN;
    }
    uint8_t b[SIG_COL_BYTES];
    sst_get_bytes(g->sst, r, g->c_sig, 0, b, sizeof(b));
    *version = (int64_t)sq_le64_load(b);
    memcpy(sig, b + 8, GRP_SIG_BYTES);
    return SQ_OK;
}

/* ---- driving ---- */

int grp_poll(struct grp_group *g)
{
    SQ_ASSERT(!g->reserved); /* a reservation must close before the next poll */
    SQ_ASSERT(!g->in_poll);
    g->in_poll = true;
    /* RDMC frames the transport refused earlier (peer not up yet, back-pressure) go out now. */
    if (rdmc_engine_is_blocked(g->rdmc)) {
        rdmc_engine_kick(g->rdmc);
    }
    int done = send_pass(g);
    done += sst_poll(g->sst);
    /* Receiving may have asked for nulls or unblocked an RDMC send: publish in the same round. */
    done += send_pass(g);
    g->in_poll = false;
    return done;
}

void grp_group_stats(const struct grp_group *g, struct grp_stats *out)
{
    *out = g->stats;
    out->next_index = g->next_index;
    out->seq_num = g->seq_num;
    out->stable_seq = g->S > 0 ? shard_min(g, g->c_seq, 0, -1) : -1;
    out->delivered_seq = g->delivered_seq;
    out->delivered_version = g->version_next - 1;
    out->persisted_frontier = g->persisted_frontier;
    out->verified_frontier = g->verified_frontier;
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(g->check_msg, sizeof(g->check_msg), __VA_ARGS__);                             \
            return SQ_ECORRUPT;                                                                    \
        }                                                                                          \
    } while (0)

int grp_check(struct grp_group *g)
{
    int rc = sst_check(g->sst);
    CHECK(rc == SQ_OK, "sst: %s", sst_check_msg(g->sst));
    rdmc_check(g->rdmc);
    if (g->S > 0) {
        int64_t prefixes[SQ_MEMBERS_MAX];
        for (uint32_t k = 0; k < g->S; k++) {
            prefixes[k] = g->track[k].prefix;
            /* RDMC completions move the tracker between polls; the column follows at the next
             * receive pass, so it may lag but never lead. */
            CHECK(sst_get_i64(g->sst, g->my_rank, g->c_nrecv, k) <= prefixes[k],
                  "num_received[%u] %lld passes the tracker prefix %lld", k,
                  (long long)sst_get_i64(g->sst, g->my_rank, g->c_nrecv, k),
                  (long long)prefixes[k]);
            CHECK(g->pending[k].count <= PEND_MAX, "pending overflow");
        }
        CHECK(g->seq_num <= grp_seq_num(prefixes, g->S),
              "seq_num %lld passes what was received", (long long)g->seq_num);
    }
    CHECK(g->delivered_seq <= g->seq_num, "delivered %lld beyond received %lld",
          (long long)g->delivered_seq, (long long)g->seq_num);
    CHECK(g->persisted_frontier <= g->persisted_reported,
          "persisted frontier %lld passes my own report %lld", (long long)g->persisted_frontier,
          (long long)g->persisted_reported);
    CHECK(g->verified_frontier <= g->verified_reported,
          "verified frontier %lld passes my own report %lld", (long long)g->verified_frontier,
          (long long)g->verified_reported);
    /* The ring never runs more than a window ahead of what every member consumed: slot s was
     * filled only once every member had consumed slot s - window, and consumption is monotone. */
    if (g->my_sender >= 0 && g->slots_committed > (int64_t)g->set.window) {
        int64_t consumed = shard_min(g, g->c_nrecv_sst, (uint32_t)g->my_sender, INT64_MAX);
        CHECK(g->wedged || consumed >= g->slots_committed - 1 - (int64_t)g->set.window,
              "ring overrun: committed %lld, consumed %lld", (long long)g->slots_committed,
              (long long)consumed);
    }
    return SQ_OK;
}

const char *grp_check_msg(const struct grp_group *g)
{
    return g->check_msg;
}
