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
 *   changes                              bytes {u32 id, u32 flags} per pending proposal  §5.3
 *   num_changes, num_committed, num_acked, num_installed  i64 monotone  §5.3
 *
 * A slot (W bytes) holds the 16-byte header {i64 message index, u32 num_nulls, u32 size} and the
 * payload. An RDMC message carries the same header in front of its payload.
 *
 * Across views the group keeps its RDMC engine, its version counter and its OUTBOX: a copy of
 * every own message from commit until its own delivery, re-sent with fresh indices in the next
 * view when the view ends before delivering it (§5.7, for SMC and RDMC alike). Everything else
 * (table, RDMC groups, counters, received messages) belongs to one view and is rebuilt at
 * install. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "consensus/consensus.h"
#include "sst/sst.h"

#define PEND_MAX (2 * SQ_SMC_WINDOW_MAX + 2)
#define SIG_COL_BYTES (8 + GRP_SIG_BYTES)
#define CHANGE_BYTES 8
#define CHANGE_END_OF_VIEW 0x1u
#define OUTBOX_MAX (2 * SQ_SMC_WINDOW_MAX)
/* A member's last heartbeat in a view it leaves by installing the next one (install_next). */
#define HB_INSTALLED UINT64_MAX

struct pend {
    int64_t index;
    size_t size;
    uint32_t slot;  /* SMC: the slot in the sender's row; UINT32_MAX for RDMC */
    uint8_t *owned; /* RDMC: the buffer (header + payload), freed after delivery */
};

/* A ring sorted by index from `head`: delivery takes the front, arrivals almost always go to
 * the back (one sender's SMC and RDMC messages may land out of order, §4.1), so neither end pays
 * for moving the others, as a flat array with up to a window of entries would on every delivery. */
struct pend_list {
    struct pend items[PEND_MAX];
    uint32_t head, count;
};

struct rdmc_out {
    uint8_t *buf; /* header + payload */
    size_t size;  /* header included */
    int64_t index;
    bool handed;
};

/* An own message from commit until its own delivery (§5.7). A message sent in this view is not
 * copied: its payload stays in my SMC slot `slot`, which neither window lets me reuse before the
 * message is delivered everywhere, me included (so before it leaves the outbox), or in its RDMC
 * buffer `ref`, which is freed at its delivery at the earliest. Whatever would free either first
 * (the view ending, a wedged send) copies the payload out (outbox_detach). */
struct outbox_entry {
    int64_t index; /* in the view it was last sent in */
    size_t size;
    uint8_t *data;      /* an owned copy of the payload, or NULL while `slot` or `ref` holds it */
    uint32_t slot;      /* my SMC slot holding the payload, or UINT32_MAX */
    const uint8_t *ref; /* the payload inside my RDMC buffer, or NULL */
    bool resend;        /* the view ended before it was delivered: send again */
};

/* RDMC message buffers (header + payload) are recycled: a fresh allocation of a megabyte comes as
 * new pages, and faulting them in while the block copy fills them cost more than the copy. Each
 * buffer carries its capacity in a prefix. The spares are bounded in count and bytes. */
#define BUF_PREFIX 64
#define POOL_SPARES 8
#define POOL_BYTES_MAX (64u * 1024 * 1024)

struct buf_pool {
    uint8_t *spare[POOL_SPARES];
    uint32_t count;
    size_t bytes;
};

/* A restarting validator heard from (total restart, §5.8). */
struct restart_peer {
    uint32_t id;
    uint64_t last_vid;
    int64_t have;     /* last version of its durable log */
    uint64_t seen_ns; /* when its last request arrived */
    bool acked;       /* it acked my restart proposal */
};

/* A state transfer a joiner asked of this member (§5.9). */
struct xfer {
    uint32_t joiner;
    uint64_t req_id;
};

enum term_state {
    TERM_NONE = 0,     /* normal operation (possibly wedged) */
    TERM_META_WEDGE,   /* the batch is committed: wait until every live member is wedged */
    TERM_TRIM,         /* ragged-edge cleanup: publish / echo the trim */
    TERM_DELIVER,      /* wait for every live shard member's trim, then deliver up to it */
    TERM_PERSIST,      /* wait until every live shard member persisted what was delivered */
    TERM_INSTALL,      /* install the next view at the end of this poll */
};

struct grp_group {
    /* ---- kept across views ---- */
    struct grp_settings set;
    struct grp_upcalls up;
    struct net *net;
    struct rdmc_engine *rdmc;
    struct rdmc_io rdmc_io;
    uint32_t my_id;
    int64_t version_next;
    int64_t persisted_reported, signed_reported, verified_reported;
    int64_t persisted_frontier, verified_frontier;
    uint64_t hb_period_ns, fail_timeout_ns;
    uint64_t now_ns;
    struct outbox_entry outbox[OUTBOX_MAX];
    uint32_t outbox_head, outbox_count;
    uint32_t resend_count; /* outbox entries still waiting to be re-sent */
    bool stopped;
    bool in_poll;
    uint32_t in_rdmc_upcall;  /* the engine forbids re-entry from its upcalls */
    uint64_t rdmc_fail_later; /* ranks whose RDMC groups must be failed at the next poll */
    struct grp_stats stats;
    char check_msg[256];

    /* joins, state transfer, total restart (§5.8, §5.9) */
    struct grp_member validators[SQ_MEMBERS_MAX];
    uint32_t validator_count;
    bool joining;             /* not in a view yet */
    bool restart_mode;        /* joining with a last logged view, no running group seen */
    bool have_last_view;
    uint64_t my_last_vid;     /* the vid of this member's own last logged view, or UINT64_MAX */
    struct grp_view last_view; /* joiner: the newest last view heard of (mine or a peer's) */
    uint64_t join_retry_ns, join_next_at;
    uint32_t join_contact;    /* next validator (index) a join request goes to */
    uint32_t join_target;     /* the leader a redirect named, or UINT32_MAX */
    int64_t join_have;        /* joiner: the last version of its durable log (-1: none) */
    struct restart_peer rs[SQ_MEMBERS_MAX];
    uint32_t rs_count;
    uint32_t promised_to;     /* restart: the leader this member acked, or UINT32_MAX */
    uint64_t restart_not_before;
    uint64_t restart_majority_at; /* when a majority of the last view was first present */
    uint64_t promised_vid;
    uint32_t join_pending[SQ_MEMBERS_MAX]; /* leader: joiners to propose */
    uint32_t join_pending_count;
    bool state_pending;       /* joiner: no delivery before the state transfer ends */
    int64_t state_to;         /* the last version the transfer brings */
    uint64_t state_req_id;
    uint32_t state_source;    /* the member asked, or UINT32_MAX */
    uint32_t state_full[SQ_MEMBERS_MAX]; /* ids that held the whole log when I joined */
    uint32_t state_full_count;
    uint32_t state_tries;
    uint64_t state_active_at; /* the last request sent or chunk taken (for re-asking) */
    struct xfer xfers[SQ_MEMBERS_MAX]; /* source: transfers asked of me */
    uint32_t xfer_count;
    int64_t view_version_base; /* the first version of the current view */
    int64_t view_carry;        /* num_installed at the current view's start */
    bool view_has_record;      /* the view's first version is its record (settings.view_record) */
    bool leaving;

    struct buf_pool pool;
    uint8_t *scratch;      /* one SMC payload, copied out of the table for delivery */
    uint8_t *send_scratch; /* the open SMC reservation */

    /* ---- one view ---- */
    struct grp_view view;
    struct grp_layout layout;
    bool have_layout;
    struct sst *sst;
    uint32_t my_rank;
    uint32_t shard, shard_rank;
    uint32_t S, S_max;
    int64_t my_sender;
    uint64_t shard_mask;
    uint32_t sender_row[SQ_MEMBERS_MAX];
    uint32_t sender_gid[SQ_MEMBERS_MAX];
    uint8_t *rx_buf[SQ_MEMBERS_MAX]; /* RDMC receive buffer lent to the engine, per sender */

    uint32_t c_seq, c_delivered, c_persisted, c_signed, c_verified, c_sig, c_vid, c_suspected,
        c_nrecv, c_wedged, c_gmin, c_gmin_ready, c_slots, c_nrecv_sst, c_index, c_heartbeat,
        c_rip, c_changes, c_nchanges, c_ncommitted, c_nacked, c_ninstalled;
    size_t slot_bytes;

    int64_t next_index;
    int64_t slots_committed, slots_pushed;
    int64_t slot_index[SQ_SMC_WINDOW_MAX];
    int64_t null_target;
    bool reserved, reserved_rdmc, reserved_internal;
    size_t reserved_size;
    uint8_t *reserved_buf;
    struct rdmc_out rq[SQ_SMC_WINDOW_MAX];
    uint32_t rq_head, rq_count;

    struct grp_recv_track track[SQ_MEMBERS_MAX];
    struct pend_list *pending; /* [SQ_MEMBERS_MAX] */
    int64_t seq_num, delivered_seq;

    /* membership (§5) */
    bool wedged;
    bool failed[SQ_MEMBERS_MAX];
    uint32_t failed_count;
    bool rip[SQ_MEMBERS_MAX]; /* failed members that left gracefully (§5.11) */
    uint32_t rip_count;
    uint64_t hb_last_sent;
    bool hb_restart; /* the view is new: silence is measured from the next tick */
    uint64_t hb_seen[SQ_MEMBERS_MAX];
    uint64_t hb_changed_at[SQ_MEMBERS_MAX];
    enum term_state term;
    uint32_t batch_count;            /* committed changes that end this view */
    uint32_t batch_ids[SQ_MEMBERS_MAX];
    int64_t trim[SQ_MEMBERS_MAX];
    bool trim_logged;

    struct sst_pred_handle pred_recv, pred_deliver, pred_frontier, pred_gms, pred_send;
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
    return s->window >= 1 && s->window <= SQ_SMC_WINDOW_MAX &&
           s->smc_payload_max <= SQ_SMC_PAYLOAD_MAX && s->msg_payload_max >= s->smc_payload_max &&
           s->msg_payload_max <= SQ_MSG_BYTES_MAX - GRP_MSG_HDR_BYTES &&
           s->sst_region < SQ_NET_REGIONS_MAX;
}

static uint64_t rank_bit(uint32_t rank)
{
    return UINT64_C(1) << rank;
}

static const struct grp_member *validator_find(const struct grp_group *g, uint32_t id)
{
    for (uint32_t i = 0; i < g->validator_count; i++) {
        if (g->validators[i].id == id) {
            return &g->validators[i];
        }
    }
    return NULL;
}

static bool ids_contain(const uint32_t *ids, uint32_t count, uint32_t id)
{
    for (uint32_t i = 0; i < count; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

static void wedge_with(struct grp_group *g, uint32_t failed_id, int reason);
static void join_ask(struct grp_group *g);
static void restart_try(struct grp_group *g);
static void state_request_next(struct grp_group *g);
static void send_current_view(struct grp_group *g, uint32_t peer);
static void stop_with(struct grp_group *g, int reason, const char *why);
static int epoch_begin(struct grp_group *g, const struct grp_view *view,
                       const struct grp_view *prev_view, const struct grp_layout *prev_layout,
                       const struct grp_layout *given_layout, const int64_t *gms_carry);
static void epoch_end(struct grp_group *g);

/* ---- the outbox (§5.7) ---- */

static struct outbox_entry *outbox_at(struct grp_group *g, uint32_t i)
{
    return &g->outbox[(g->outbox_head + i) % OUTBOX_MAX];
}

/* Adds an own message whose payload is in my slot `slot` (SMC) or at `ref` in its RDMC buffer. */
static void outbox_push(struct grp_group *g, int64_t index, size_t size, uint32_t slot,
                        const uint8_t *ref)
{
    SQ_ASSERT(g->outbox_count < OUTBOX_MAX); /* bounded by the two send windows */
    SQ_ASSERT((slot == UINT32_MAX) != (ref == NULL));
    *outbox_at(g, g->outbox_count) = (struct outbox_entry){
        .index = index, .size = size, .data = NULL, .slot = slot, .ref = ref, .resend = false};
    g->outbox_count++;
}

/* Copies one entry's payload out of the slot or buffer that holds it. */
static void outbox_detach_entry(struct grp_group *g, struct outbox_entry *e)
{
    if (e->data != NULL) {
        return;
    }
    e->data = malloc(e->size > 0 ? e->size : 1);
    SQ_ASSERT(e->data != NULL);
    if (e->size > 0 && e->ref != NULL) {
        memcpy(e->data, e->ref, e->size);
    } else if (e->size > 0) {
        sst_get_bytes(g->sst, g->my_rank, g->c_slots, e->slot * g->slot_bytes + GRP_MSG_HDR_BYTES,
                      e->data, e->size);
    }
    e->slot = UINT32_MAX;
    e->ref = NULL;
}

/* Before the table and the view's RDMC buffers go away. */
static void outbox_detach(struct grp_group *g)
{
    for (uint32_t i = 0; i < g->outbox_count; i++) {
        outbox_detach_entry(g, outbox_at(g, i));
    }
}

/* ---- RDMC buffers ---- */

static size_t buf_cap(const uint8_t *b)
{
    size_t cap;
    memcpy(&cap, b - BUF_PREFIX, sizeof(cap));
    return cap;
}

static uint8_t *buf_get(struct grp_group *g, size_t size)
{
    struct buf_pool *p = &g->pool;
    for (uint32_t i = 0; i < p->count; i++) {
        uint8_t *b = p->spare[i];
        if (buf_cap(b) >= size) {
            p->spare[i] = p->spare[--p->count];
            p->bytes -= buf_cap(b);
            return b;
        }
    }
    uint8_t *raw = malloc(BUF_PREFIX + (size > 0 ? size : 1));
    if (raw == NULL) {
        return NULL;
    }
    memcpy(raw, &size, sizeof(size));
    return raw + BUF_PREFIX;
}

static void buf_put(struct grp_group *g, void *buf)
{
    uint8_t *b = buf;
    if (b == NULL) {
        return;
    }
    struct buf_pool *p = &g->pool;
    size_t cap = buf_cap(b);
    if (p->count < POOL_SPARES && cap <= POOL_BYTES_MAX - p->bytes) {
        p->spare[p->count++] = b;
        p->bytes += cap;
        return;
    }
    free(b - BUF_PREFIX);
}

static void pool_drain(struct grp_group *g)
{
    struct buf_pool *p = &g->pool;
    for (uint32_t i = 0; i < p->count; i++) {
        free(p->spare[i] - BUF_PREFIX);
    }
    p->count = 0;
    p->bytes = 0;
}

/* My own message `index` was delivered: it leaves the outbox (own messages deliver in order). */
static void outbox_delivered(struct grp_group *g, int64_t index)
{
    SQ_ASSERT(g->outbox_count > 0);
    struct outbox_entry *e = outbox_at(g, 0);
    SQ_ASSERT(!e->resend);
    if (e->index != index) {
        SQ_ERROR("grp", "outbox mismatch", "member=%u vid=%llu head=%lld delivered=%lld count=%u resend=%d", g->my_id, (unsigned long long)g->view.vid, (long long)e->index, (long long)index, g->outbox_count, (int)e->resend);
    }
    SQ_ASSERT(e->index == index);
    free(e->data);
    g->outbox_head = (g->outbox_head + 1) % OUTBOX_MAX;
    g->outbox_count--;
}

/* ---- RDMC upcalls ---- */

static int32_t sender_of_gid(const struct grp_group *g, uint32_t gid)
{
    for (uint32_t k = 0; k < g->S; k++) {
        if (g->sender_gid[k] == gid) {
            return (int32_t)k;
        }
    }
    return -1;
}

static void *rdmc_alloc_cb(void *ctx, uint32_t gid, size_t size_max)
{
    struct grp_group *g = ctx;
    int32_t k = sender_of_gid(g, gid);
    SQ_ASSERT(k >= 0);
    SQ_ASSERT(g->rx_buf[k] == NULL);
    g->rx_buf[k] = buf_get(g, size_max);
    return g->rx_buf[k];
}

static struct pend *pend_at(struct pend_list *pl, uint32_t i)
{
    return &pl->items[(pl->head + i) % PEND_MAX];
}

static void pend_insert(struct grp_group *g, uint32_t k, int64_t index, size_t size, uint32_t slot,
                        uint8_t *owned)
{
    struct pend_list *pl = &g->pending[k];
    /* Bounded by the delivery window: a sender cannot run more than `window` messages ahead of
     * the slowest delivery, and RDMC sends are bounded the same way. */
    SQ_ASSERT(pl->count < PEND_MAX);
    uint32_t pos = pl->count;
    while (pos > 0 && pend_at(pl, pos - 1)->index > index) {
        *pend_at(pl, pos) = *pend_at(pl, pos - 1);
        pos--;
    }
    SQ_ASSERT(pos == 0 || pend_at(pl, pos - 1)->index != index);
    *pend_at(pl, pos) = (struct pend){.index = index, .size = size, .slot = slot, .owned = owned};
    pl->count++;
}

/* Frees the RDMC buffers held by sender k's pending messages and empties the list. */
static void pend_clear(struct grp_group *g, uint32_t k)
{
    struct pend_list *pl = &g->pending[k];
    for (uint32_t i = 0; i < pl->count; i++) {
        buf_put(g, pend_at(pl, i)->owned);
    }
    pl->head = 0;
    pl->count = 0;
}

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
        /* num_received is final once wedged; the outbox re-sends it if needed, from a copy. */
        for (uint32_t i = 0; i < g->outbox_count; i++) {
            struct outbox_entry *e = outbox_at(g, i);
            if (e->ref == (const uint8_t *)buf + GRP_MSG_HDR_BYTES) {
                outbox_detach_entry(g, e);
            }
        }
        buf_put(g, buf);
        return;
    }
    int rc = grp_recv_add(&g->track[k], index, index);
    SQ_ASSERT(rc == SQ_OK);
    pend_insert(g, k, index, size - GRP_MSG_HDR_BYTES, UINT32_MAX, buf);
}

static void rdmc_done_inner(struct grp_group *g, uint32_t gid, void *buf, size_t size,
                            uint64_t cookie);

static void rdmc_done_cb(void *ctx, uint32_t gid, uint64_t msg_index, void *buf, size_t size,
                         uint64_t cookie)
{
    (void)msg_index;
    struct grp_group *g = ctx;
    g->in_rdmc_upcall++;
    rdmc_done_inner(g, gid, buf, size, cookie);
    g->in_rdmc_upcall--;
}

static void rdmc_done_inner(struct grp_group *g, uint32_t gid, void *buf, size_t size,
                            uint64_t cookie)
{
    int32_t k = sender_of_gid(g, gid);
    SQ_ASSERT(k >= 0);
    if (k == g->my_sender) {
        root_done(g, buf, size, (int64_t)cookie);
        return;
    }
    SQ_ASSERT(g->rx_buf[k] == buf);
    g->rx_buf[k] = NULL;
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
        buf_put(g, buf);
        if (rc != SQ_EVIEW) {
            uint32_t id = g->view.members[g->sender_row[k]].id;
            SQ_WARN("grp", "bad RDMC message", "sender=%u rc=%s", id, sq_errname(rc));
            grp_peer_failed(g, id, SQ_ECORRUPT);
        }
        return;
    }
    pend_insert(g, (uint32_t)k, index, psize, UINT32_MAX, buf);
}

static void rdmc_failed_cb(void *ctx, uint32_t gid, int err, uint32_t peer, void *recv_buf)
{
    struct grp_group *g = ctx;
    int32_t k = sender_of_gid(g, gid);
    if (k >= 0 && recv_buf != NULL) {
        SQ_ASSERT(g->rx_buf[k] == recv_buf);
        g->rx_buf[k] = NULL;
    }
    buf_put(g, recv_buf);
    /* Undelivered own sends stay in the outbox; they are re-sent in the next view (§5.7). */
    g->in_rdmc_upcall++;
    if (peer != UINT32_MAX) {
        grp_peer_failed(g, peer, err);
    } else {
        wedge_with(g, g->my_id, err);
    }
    g->in_rdmc_upcall--;
}

/* ---- the table ---- */

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
    ADD("changes", SST_BYTES, SQ_CHANGES_MAX * CHANGE_BYTES, 0, 0, &g->c_changes);
    ADD("num_changes", SST_I64, 1, SST_MONOTONE, 0, &g->c_nchanges);
    ADD("num_committed", SST_I64, 1, SST_MONOTONE, 0, &g->c_ncommitted);
    ADD("num_acked", SST_I64, 1, SST_MONOTONE, 0, &g->c_nacked);
    ADD("num_installed", SST_I64, 1, SST_MONOTONE, 0, &g->c_ninstalled);
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
static void trig_gms(struct sst *sst, void *arg);
static void trig_send(struct sst *sst, void *arg);

static void sst_failed_cb(void *arg, struct sst *sst, uint32_t rank, int reason)
{
    (void)sst;
    struct grp_group *g = arg;
    grp_peer_failed(g, g->view.members[rank].id, reason);
}

/* ---- creation, views ---- */

/* Builds everything that belongs to one view. `prev_*` are NULL for the first view. A joiner
 * passes the layout the leader shipped (`given_layout`) instead of computing it. `gms_carry`
 * (NULL for the first view) holds num_installed to carry into the new row (§5.6). */
static int epoch_begin(struct grp_group *g, const struct grp_view *view,
                       const struct grp_view *prev_view, const struct grp_layout *prev_layout,
                       const struct grp_layout *given_layout, const int64_t *gms_carry)
{
    g->view = *view;
    g->my_rank = grp_view_rank_of(&g->view, g->my_id);
    if (g->my_rank == GRP_RANK_NONE) {
        return SQ_EINVAL;
    }
    int rc = SQ_OK;
    if (given_layout != NULL) {
        g->layout = *given_layout;
    } else {
        rc = grp_layout_compute(&g->set.layout, prev_view, prev_layout, &g->view, &g->layout);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    g->view_version_base = g->version_next;
    g->view_carry = gms_carry != NULL ? gms_carry[0] : 0;
    g->have_layout = true;
    g->shard = grp_layout_shard_of(&g->layout, g->my_rank, &g->shard_rank);
    SQ_ASSERT(g->shard != GRP_RANK_NONE);
    const struct grp_shard *sh = &g->layout.shards[g->shard];
    g->S = sh->sender_count;
    g->my_sender = g->shard_rank < g->S ? (int64_t)g->shard_rank : -1;
    g->S_max = 0;
    for (uint32_t s = 0; s < g->layout.shard_count; s++) {
        if (g->layout.shards[s].sender_count > g->S_max) {
            g->S_max = g->layout.shards[s].sender_count;
        }
    }
    g->shard_mask = 0;
    for (uint32_t i = 0; i < sh->member_count; i++) {
        g->shard_mask |= rank_bit(sh->ranks[i]);
    }
    for (uint32_t k = 0; k < g->S; k++) {
        g->sender_row[k] = sh->ranks[k];
        /* Group ids from the view id, so a new view's groups never meet an old view's frames. */
        g->sender_gid[k] = (uint32_t)(((g->view.vid % 256) << 6) | (sh->ranks[k] & 63u));
        grp_recv_init(&g->track[k]);
        g->pending[k].head = 0;
        g->pending[k].count = 0;
        g->rx_buf[k] = NULL;
    }
    for (uint32_t s = 0; s < SQ_SMC_WINDOW_MAX; s++) {
        g->slot_index[s] = -1;
    }
    g->next_index = 0;
    g->slots_committed = g->slots_pushed = 0;
    g->null_target = 0;
    g->rq_head = g->rq_count = 0;
    g->seq_num = g->delivered_seq = -1;
    g->wedged = false;
    g->term = TERM_NONE;
    g->batch_count = 0;
    g->trim_logged = false;
    g->failed_count = 0;
    memset(g->failed, 0, sizeof(g->failed));
    g->rip_count = 0;
    memset(g->rip, 0, sizeof(g->rip));
    memset(g->hb_seen, 0, sizeof(g->hb_seen));
    g->hb_restart = true;
    g->rdmc_fail_later = 0;

    struct sst_schema schema;
    rc = build_schema(g, &schema);
    if (rc != SQ_OK) {
        return rc;
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
        return rc;
    }
    sst_set_u64(g->sst, g->c_vid, 0, g->view.vid);
    /* Carry-over (§5.6): proposals already installed stay counted. */
    if (gms_carry != NULL) {
        sst_set_i64(g->sst, g->c_ninstalled, 0, gms_carry[0]);
        sst_set_i64(g->sst, g->c_nchanges, 0, gms_carry[0]);
        sst_set_i64(g->sst, g->c_ncommitted, 0, gms_carry[0]);
        sst_set_i64(g->sst, g->c_nacked, 0, gms_carry[0]);
    }
    /* Versions continue across views: publish what this member already made durable. */
    if (g->persisted_reported >= 0) {
        sst_set_i64(g->sst, g->c_persisted, 0, g->persisted_reported);
    }
    if (g->verified_reported >= 0) {
        sst_set_i64(g->sst, g->c_verified, 0, g->verified_reported);
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
                goto err_groups;
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
    if (rc == SQ_OK) {
        rc = sst_pred_add(g->sst, SST_PRED_RECURRENT, pred_true, trig_gms, g, &g->pred_gms);
    }
    if (rc == SQ_OK) {
        /* Last: it sends what this pass asked for (reactive nulls, RDMC hand-offs unblocked by
         * deliveries) before the pass's single flush. */
        rc = sst_pred_add(g->sst, SST_PRED_RECURRENT, pred_true, trig_send, g, &g->pred_send);
    }
    if (rc != SQ_OK) {
        goto err_groups;
    }
    /* Publish the whole row so peers start from real values (§5.6). */
    sst_row_push(g->sst, SST_ALL);
    g->stats.vid = g->view.vid;
    g->stats.shard = g->shard;
    g->stats.shard_rank = g->shard_rank;
    g->stats.senders = g->S;
    /* Members already known failed at install wedge the view at once (§5.3, §5.6). */
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        if (g->view.failed[r] && r != g->my_rank) {
            grp_peer_failed(g, g->view.members[r].id, SQ_EPEER);
        }
    }
    return SQ_OK;

err_groups:
    for (uint32_t k = 0; k < g->S; k++) {
        rdmc_group_destroy(g->rdmc, g->sender_gid[k]);
    }
    sst_destroy(g->sst);
    g->sst = NULL;
    return rc;
}

/* Frees everything of the current view. Own undelivered messages stay in the outbox. */
static void epoch_end(struct grp_group *g)
{
    outbox_detach(g); /* first: my slots and RDMC buffers go away below */
    for (uint32_t k = 0; k < g->S; k++) {
        /* Lent buffers come back without upcalls: ours are in rq, rx_buf and pending. */
        rdmc_group_destroy(g->rdmc, g->sender_gid[k]);
        buf_put(g, g->rx_buf[k]);
        g->rx_buf[k] = NULL;
        pend_clear(g, k);
    }
    for (uint32_t i = 0; i < g->rq_count; i++) {
        buf_put(g, g->rq[(g->rq_head + i) % SQ_SMC_WINDOW_MAX].buf);
    }
    g->rq_count = 0;
    sst_destroy(g->sst);
    g->sst = NULL;
}

int grp_group_create(struct grp_group **out, const struct grp_config *cfg)
{
    if ((cfg->view == NULL) != cfg->join || cfg->net == NULL || cfg->rdmc_io == NULL ||
        cfg->up == NULL || cfg->up->deliver == NULL || cfg->version_base < 0 ||
        cfg->validator_count > SQ_MEMBERS_MAX || (cfg->validator_count > 0) != (cfg->validators != NULL) ||
        (cfg->join && cfg->validator_count == 0)) {
        return SQ_EINVAL;
    }
    struct grp_group *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return SQ_ENOMEM;
    }
    int rc = SQ_EINVAL;
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
    g->hb_period_ns = cfg->heartbeat_ns ? cfg->heartbeat_ns : 10 * 1000000ull;
    g->fail_timeout_ns = cfg->failure_timeout_ns ? cfg->failure_timeout_ns : 1000 * 1000000ull;
    g->version_next = cfg->version_base;
    g->persisted_reported = g->signed_reported = g->verified_reported = cfg->version_base - 1;
    g->persisted_frontier = g->verified_frontier = cfg->version_base - 1;
    g->slot_bytes = ((GRP_MSG_HDR_BYTES + g->set.smc_payload_max) + 7u) & ~(size_t)7u;
    rc = SQ_ENOMEM;
    g->pending = calloc(SQ_MEMBERS_MAX, sizeof(*g->pending));
    g->scratch = malloc(g->set.smc_payload_max + 1);
    g->send_scratch = malloc(g->set.smc_payload_max + 1);
    if (g->pending == NULL || g->scratch == NULL || g->send_scratch == NULL) {
        goto err_free;
    }
    struct rdmc_upcalls ups = {.ctx = g, .alloc = rdmc_alloc_cb, .done = rdmc_done_cb,
                               .failed = rdmc_failed_cb};
    rc = rdmc_engine_create(&g->rdmc, g->my_id, &g->rdmc_io, &ups);
    if (rc != SQ_OK) {
        goto err_free;
    }
    if (cfg->validator_count > 0) {
        memcpy(g->validators, cfg->validators, cfg->validator_count * sizeof(*g->validators));
    }
    g->validator_count = cfg->validator_count;
    g->join_retry_ns = cfg->join_retry_ns ? cfg->join_retry_ns : 200 * 1000000ull;
    g->join_target = g->state_source = g->promised_to = UINT32_MAX;
    if (cfg->join) {
        g->joining = true;
        g->join_have = cfg->version_base - 1;
        g->my_last_vid = UINT64_MAX;
        if (cfg->last_view != NULL) {
            g->restart_mode = g->have_last_view = true;
            g->last_view = *cfg->last_view;
            g->my_last_vid = cfg->last_view->vid;
        }
        SQ_INFO("grp", "joining", "member=%u have=%lld last_vid=%lld", g->my_id,
                (long long)g->join_have,
                g->have_last_view ? (long long)g->last_view.vid : -1LL);
    } else {
        rc = epoch_begin(g, cfg->view, NULL, NULL, NULL, NULL);
        if (rc != SQ_OK) {
            goto err_engine;
        }
    }
    *out = g;
    return SQ_OK;

err_engine:
    rdmc_engine_destroy(g->rdmc);
err_free:
    free(g->send_scratch);
    free(g->scratch);
    free(g->pending);
    free(g);
    return rc;
}

void grp_group_destroy(struct grp_group *g)
{
    if (g == NULL) {
        return;
    }
    if (g->sst != NULL) {
        epoch_end(g);
    }
    rdmc_engine_destroy(g->rdmc);
    for (uint32_t i = 0; i < g->outbox_count; i++) {
        free(outbox_at(g, i)->data);
    }
    if (g->reserved && g->reserved_rdmc) {
        buf_put(g, g->reserved_buf);
    }
    pool_drain(g);
    free(g->send_scratch);
    free(g->scratch);
    free(g->pending);
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

const struct grp_view *grp_view(const struct grp_group *g)
{
    return &g->view;
}

bool grp_is_stopped(const struct grp_group *g)
{
    return g->stopped;
}

/* ---- wedging, failures, stopping ---- */

static void wedge_with(struct grp_group *g, uint32_t failed_id, int reason)
{
    if (g->wedged || g->stopped || g->sst == NULL) {
        return;
    }
    g->wedged = true;
    /* num_received must be visible before wedged (pitfall 3): push it first, then the flag. */
    sst_col_push(g->sst, g->c_nrecv, SST_ALL);
    sst_set_u64(g->sst, g->c_wedged, 0, 1);
    sst_cell_push(g->sst, g->c_wedged, 0, SST_ALL);
    SQ_INFO("grp", "wedged", "vid=%llu member=%u failed=%u reason=%s",
            (unsigned long long)g->view.vid, g->my_id, failed_id, sq_errname(reason));
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

static void stop_with(struct grp_group *g, int reason, const char *why)
{
    if (g->stopped) {
        return;
    }
    wedge_with(g, UINT32_MAX, reason);
    g->stopped = true;
    SQ_ERROR("grp", "stopped", "member=%u vid=%llu reason=%s why=\"%s\"", g->my_id,
             (unsigned long long)g->view.vid, sq_errname(reason), why);
    if (g->up.stopped != NULL) {
        g->up.stopped(g->up.ctx, reason, why);
    }
}

/* Marks rank r failed in this view (§5.2): freeze, suspect, majority rule, wedge. */
static void mark_failed(struct grp_group *g, uint32_t r, int reason)
{
    if (g->failed[r] || g->stopped) {
        return;
    }
    if (r == g->my_rank) {
        /* Others suspect me: I am out of the next view and must rejoin with fresh state. */
        stop_with(g, SQ_EVIEW, "suspected by the group: excluded from the next view");
        return;
    }
    g->failed[r] = true;
    g->failed_count++;
    if (!sst_row_is_frozen(g->sst, r)) {
        sst_row_freeze(g->sst, r);
    }
    if (sst_get_u64(g->sst, g->my_rank, g->c_suspected, r) == 0) {
        sst_set_u64(g->sst, g->c_suspected, r, 1);
        sst_cell_push(g->sst, g->c_suspected, r, SST_ALL);
    }
    if (g->in_rdmc_upcall > 0) {
        g->rdmc_fail_later |= rank_bit(r);
    } else {
        rdmc_engine_peer_failed(g->rdmc, g->view.members[r].id);
    }
    uint32_t id = g->view.members[r].id;
    for (uint32_t i = 0; i < g->xfer_count; i++) {
        if (g->xfers[i].joiner == id) {
            g->xfers[i--] = g->xfers[--g->xfer_count];
        }
    }
    if (g->state_pending && g->state_source == id) {
        state_request_next(g); /* the source failed mid-transfer: ask another member */
    }
    /* The majority rule (§5.8), always on: half or more of the view gone means this member may be
     * in a minority partition; it stops rather than risk a second, diverging view. Members that
     * left gracefully (rip) count neither way. */
    uint32_t n = g->view.member_count - g->rip_count;
    if (g->failed_count - g->rip_count >= (n + 1) / 2) {
        char why[128];
        snprintf(why, sizeof(why),
                 "majority rule: lost contact with %u of %u members of view %llu",
                 g->failed_count - g->rip_count, n, (unsigned long long)g->view.vid);
        stop_with(g, SQ_EPEER, why);
        return;
    }
    wedge_with(g, g->view.members[r].id, reason);
}

void grp_peer_failed(struct grp_group *g, uint32_t id, int reason)
{
    uint32_t r = grp_view_rank_of(&g->view, id);
    if (r == GRP_RANK_NONE || r == g->my_rank || g->sst == NULL) {
        return;
    }
    mark_failed(g, r, reason);
}

void grp_tick(struct grp_group *g, uint64_t now_ns)
{
    if (now_ns > g->now_ns) {
        g->now_ns = now_ns;
    }
    if (g->joining && !g->stopped) {
        if (g->now_ns >= g->join_next_at) {
            g->join_next_at = g->now_ns + g->join_retry_ns;
            join_ask(g);
        }
        if (g->restart_mode) {
            restart_try(g);
        }
        return;
    }
    if (g->stopped || g->sst == NULL) {
        return;
    }
    /* A state request can be lost (the source's connection was not up yet) and a source can go
     * quiet: after ten join periods without a chunk, ask again (the next member holding it). */
    if (g->state_pending && g->now_ns - g->state_active_at > 10 * g->join_retry_ns) {
        state_request_next(g);
        g->state_active_at = g->now_ns;
    }
    if (g->hb_restart) {
        g->hb_restart = false;
        for (uint32_t r = 0; r < SQ_MEMBERS_MAX; r++) {
            g->hb_changed_at[r] = g->now_ns;
        }
    }
    /* The heartbeat is my clock's value: it only grows (§1.5). */
    if (g->now_ns >= g->hb_last_sent + g->hb_period_ns || g->hb_last_sent == 0) {
        g->hb_last_sent = g->now_ns;
        sst_set_u64(g->sst, g->c_heartbeat, 0, g->now_ns);
        sst_cell_push(g->sst, g->c_heartbeat, 0, SST_ALL);
    }
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        if (r == g->my_rank || g->failed[r]) {
            continue;
        }
        uint64_t hb = sst_get_u64(g->sst, r, g->c_heartbeat, 0);
        if (hb == HB_INSTALLED) {
            continue; /* it moved on to the next view: silence here is not failure */
        }
        /* A member never heard from in this view (still starting, still connecting) gets a
         * longer grace than one that went silent. */
        uint64_t timeout = hb == 0 ? 10 * g->fail_timeout_ns : g->fail_timeout_ns;
        if (timeout < 10 * SQ_NS_PER_S && hb == 0) {
            timeout = 10 * SQ_NS_PER_S;
        }
        if (hb != g->hb_seen[r]) {
            g->hb_seen[r] = hb;
            g->hb_changed_at[r] = g->now_ns;
        } else if (g->now_ns - g->hb_changed_at[r] > timeout) {
            SQ_WARN("grp", "heartbeat timeout", "member=%u silent_ms=%llu", g->view.members[r].id,
                    (unsigned long long)((g->now_ns - g->hb_changed_at[r]) / 1000000));
            mark_failed(g, r, SQ_ETIMEDOUT);
            if (g->stopped) {
                return;
            }
        }
    }
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

/* Bytes of my slot `slot` in use: its header and payload. */
static size_t slot_used(const struct grp_group *g, uint32_t slot)
{
    uint8_t hdr[GRP_MSG_HDR_BYTES];
    sst_get_bytes(g->sst, g->my_rank, g->c_slots, slot * g->slot_bytes, hdr, sizeof(hdr));
    return GRP_MSG_HDR_BYTES + sq_le32_load(hdr + 12);
}

static int reserve(struct grp_group *g, size_t size, void **buf)
{
    *buf = NULL;
    if (g->wedged || g->stopped) {
        return SQ_EVIEW;
    }
    if (g->my_sender < 0) {
        return SQ_EPERM;
    }
    if (size > g->set.msg_payload_max) {
        return SQ_ETOOBIG;
    }
    if (g->outbox_count >= OUTBOX_MAX) {
        g->stats.reserve_blocked++;
        return SQ_EAGAIN;
    }
    if (size <= g->set.smc_payload_max) {
        if (!slot_free(g)) {
            g->stats.reserve_blocked++;
            return SQ_EAGAIN;
        }
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
    uint8_t *b = buf_get(g, GRP_MSG_HDR_BYTES + size);
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

int grp_send_reserve(struct grp_group *g, size_t size, void **buf)
{
    SQ_ASSERT(!g->reserved);
    if (g->sst == NULL || g->stopped) {
        *buf = NULL;
        return SQ_EVIEW; /* a joiner outside any view, or stopped */
    }
    /* Re-sent messages of an earlier view go first, all of them, in their order (§5.7). */
    if (g->resend_count > 0 && !g->wedged && !g->stopped) {
        *buf = NULL;
        g->stats.reserve_blocked++;
        return SQ_EAGAIN;
    }
    g->reserved_internal = false;
    return reserve(g, size, buf);
}

void grp_send_abort(struct grp_group *g)
{
    SQ_ASSERT(g->reserved);
    if (g->reserved_rdmc) {
        buf_put(g, g->reserved_buf);
    }
    g->reserved = false;
    g->reserved_buf = NULL;
}

/* Commits the reserved message with the next index. A re-send (`resent` not NULL) updates its
 * outbox entry instead of adding one. */
static void commit(struct grp_group *g, struct outbox_entry *resent)
{
    SQ_ASSERT(g->reserved);
    g->reserved = false;
    int64_t index = g->next_index++;
    const uint8_t *payload = NULL; /* RDMC: in the buffer */
    uint32_t slot = UINT32_MAX;    /* SMC */
    if (!g->reserved_rdmc) {
        slot = (uint32_t)(g->slots_committed % g->set.window);
        slot_write(g, slot, index, 0, (uint32_t)g->reserved_size);
        if (g->reserved_size > 0) {
            sst_set_bytes(g->sst, g->c_slots, slot * g->slot_bytes + GRP_MSG_HDR_BYTES,
                          g->send_scratch, g->reserved_size);
        }
        g->slot_index[slot] = index;
        g->slots_committed++;
    } else {
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
        payload = b + GRP_MSG_HDR_BYTES;
    }
    if (resent != NULL) {
        SQ_ASSERT(g->resend_count > 0);
        resent->index = index;
        resent->resend = false;
        g->resend_count--;
        g->stats.resent++;
    } else {
        outbox_push(g, index, g->reserved_size, slot, payload);
        g->stats.msgs_sent++;
    }
}

void grp_send_commit(struct grp_group *g)
{
    SQ_ASSERT(!g->reserved_internal);
    commit(g, NULL);
}

/* Re-sends, in order, own messages a previous view did not deliver. */
static int resend_pass(struct grp_group *g)
{
    int done = 0;
    for (uint32_t i = 0; i < g->outbox_count; i++) {
        struct outbox_entry *e = outbox_at(g, i);
        if (!e->resend) {
            continue;
        }
        void *buf;
        g->reserved_internal = true;
        if (reserve(g, e->size, &buf) != SQ_OK) {
            g->reserved_internal = false;
            break;
        }
        if (e->size > 0) {
            memcpy(buf, e->data, e->size);
        }
        commit(g, e);
        g->reserved_internal = false;
        done++;
    }
    return done;
}

/* Publishes committed slots, then `index` (§2.3: the counter last); hands RDMC messages over. */
static int send_pass(struct grp_group *g)
{
    int done = 0;
    if (g->wedged || g->stopped || g->my_sender < 0) {
        return 0;
    }
    done += resend_pass(g);
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
                last_used = slot_used(g, (uint32_t)(run_end % g->set.window));
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
                    sst_range_push(g->sst, base + slot * g->slot_bytes, slot_used(g, slot),
                                   g->shard_mask);
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
        struct rdmc_out *o = &g->rq[g->rq_head];
        bool ready = !o->handed && g->track[k].prefix >= o->index - 1;
        if (ready && o->index >= (int64_t)g->set.window) {
            int64_t delivered = shard_min(g, g->c_delivered, 0, INT64_MAX);
            ready = delivered >= grp_seq_of(o->index - (int64_t)g->set.window, k, g->S);
        }
        if (ready) {
            /* Marked first: the engine may report `done` from inside rdmc_group_send. */
            o->handed = true;
            g->stats.rdmc_msgs_sent++;
            done++;
            if (g->layout.shards[g->shard].member_count < 2) {
                root_done(g, o->buf, o->size, o->index); /* alone: received at once */
            } else {
                int rc = rdmc_group_send(g->rdmc, g->sender_gid[k], o->buf, o->size,
                                         (uint64_t)o->index);
                if (rc != SQ_OK) {
                    SQ_ASSERT(g->rq_count > 0 && &g->rq[g->rq_head] == o);
                    o->handed = false;
                    g->stats.rdmc_msgs_sent--;
                    if (rc != SQ_EFULL) {
                        wedge_with(g, g->my_id, rc);
                    }
                }
            }
        }
    }
    return done;
}

/* The SMC send trigger (§2.3) at the end of every predicate pass: reactive nulls asked for by
 * trig_receive (§4.4) and RDMC messages the pass's deliveries let through (§3.1) join the pass's
 * other pushes, so they leave in the same flush (one write per peer) instead of a second one. */
static void trig_send(struct sst *sst, void *arg)
{
    (void)sst;
    (void)send_pass(arg);
}

/* ---- receiving (§2.4, §4.1, §4.2, §4.4) ---- */

/* Consumes the slots sender k published since the last pass (§2.4): received intervals, stored
 * messages, num_received_sst (set locally; *changed says to push it). False when the sender broke
 * the protocol: it was failed, the caller stops. */
static bool consume_slots(struct grp_group *g, uint32_t k, bool *changed)
{
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
            /* An authenticated peer wrote a slot that breaks the protocol: treat it as failed,
             * never trust the rest of its row. */
            SQ_WARN("grp", "bad SMC slot", "sender=%u slot=%u rc=%s", g->view.members[row].id, slot,
                    sq_errname(rc));
            grp_peer_failed(g, g->view.members[row].id, SQ_ECORRUPT);
            return false;
        }
        if (nulls == 0) {
            pend_insert(g, k, index, size, slot, NULL);
        }
    }
    if (j != j0) {
        sst_set_i64(g->sst, g->c_nrecv_sst, k, j);
        *changed = true;
    }
    return true;
}

/* Sets num_received to the grown contiguous prefixes (§4.1; *changed says to push it), fills
 * prefixes[], and raises null_target to the reactive nulls they call for (§4.4). */
static void note_prefixes(struct grp_group *g, int64_t *prefixes, bool *changed)
{
    for (uint32_t k = 0; k < g->S; k++) {
        int64_t prefix = g->track[k].prefix;
        prefixes[k] = prefix;
        if (prefix <= sst_get_i64(g->sst, g->my_rank, g->c_nrecv, k)) {
            continue;
        }
        sst_set_i64(g->sst, g->c_nrecv, k, prefix);
        *changed = true;
        if (g->my_sender >= 0 && (int64_t)k != g->my_sender) {
            uint64_t need = grp_nulls_needed((uint32_t)g->my_sender, k, prefix, g->next_index);
            if (need > 0 && g->next_index + (int64_t)need > g->null_target) {
                g->null_target = g->next_index + (int64_t)need;
            }
        }
    }
}

static void trig_receive(struct sst *sst, void *arg)
{
    (void)sst;
    struct grp_group *g = arg;
    if (g->wedged) {
        return; /* num_received is final once wedged (§5.4) */
    }
    bool nrecv_changed = false;
    bool nrecv_sst_changed = false;
    int64_t prefixes[SQ_MEMBERS_MAX];
    for (uint32_t k = 0; k < g->S; k++) {
        if (!consume_slots(g, k, &nrecv_sst_changed)) {
            return;
        }
    }
    note_prefixes(g, prefixes, &nrecv_changed);
    if (g->my_sender >= 0 && g->null_target > g->next_index) {
        /* Send the reactive nulls now and receive them from my own row at once, so the seq_num
         * this pass publishes already counts them. Left to the next pass, they would be counted
         * only once other traffic woke this member again, and every peer would see the message
         * that asked for them stable one round later. */
        (void)send_pass(g);
        if (g->wedged) {
            return;
        }
        bool ok = consume_slots(g, (uint32_t)g->my_sender, &nrecv_sst_changed);
        SQ_ASSERT(ok); /* my own slots are well formed */
        note_prefixes(g, prefixes, &nrecv_changed);
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

/* ---- delivery (§4.3, §5.5 step 4) ---- */

/* Delivers message (k, i) if it is a stored one; a null otherwise. */
static void deliver_one(struct grp_group *g, int64_t seq, uint32_t k, int64_t i)
{
    struct pend_list *pl = &g->pending[k];
    g->delivered_seq = seq;
    if (pl->count == 0 || pend_at(pl, 0)->index != i) {
        /* Not a stored message, so a null: it must have arrived. */
        SQ_ASSERT(grp_recv_has(&g->track[k], i));
        SQ_ASSERT(pl->count == 0 || pend_at(pl, 0)->index > i);
        return;
    }
    struct pend p = *pend_at(pl, 0);
    pl->head = (pl->head + 1) % PEND_MAX;
    pl->count--;
    const uint8_t *data;
    if (p.owned != NULL) {
        data = p.owned + GRP_MSG_HDR_BYTES;
    } else {
        /* Copy out of the sender's slot: the delivery window keeps it intact until every member,
         * this one included, has delivered it. */
        if (p.size > 0) {
            sst_get_bytes(g->sst, g->sender_row[k], g->c_slots,
                          p.slot * g->slot_bytes + GRP_MSG_HDR_BYTES, g->scratch, p.size);
        }
        data = g->scratch;
    }
    if ((int64_t)k == g->my_sender) {
        outbox_delivered(g, i);
    }
    int64_t version = g->version_next++;
    g->stats.msgs_delivered++;
    g->up.deliver(g->up.ctx, g->shard, g->view.members[g->sender_row[k]].id, g->view.vid, seq,
                  version, data, p.size);
    buf_put(g, p.owned);
}

static void trig_deliver(struct sst *sst, void *arg)
{
    (void)sst;
    struct grp_group *g = arg;
    if (g->wedged || g->S == 0 || g->state_pending) {
        return; /* a joiner delivers once it holds the state before the view (§5.9) */
    }
    int64_t stable = shard_min(g, g->c_seq, 0, -1);
    SQ_ASSERT(stable <= g->seq_num);
    bool any = false;
    while (g->delivered_seq < stable) {
        int64_t seq = g->delivered_seq + 1;
        deliver_one(g, seq, (uint32_t)(seq % g->S), seq / g->S);
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
    if (version == g->persisted_reported || g->sst == NULL) {
        g->persisted_reported = version;
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
    if (g->sst == NULL) {
        return;
    }
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
    if (version == g->verified_reported || g->sst == NULL) {
        g->verified_reported = version;
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

/* ---- membership: proposals, commit, epoch termination (§5.2 - §5.6, §5.10) ---- */

static uint32_t change_id(const struct grp_group *g, uint32_t rank, int64_t slot, bool *eov)
{
    uint8_t b[CHANGE_BYTES];
    sst_get_bytes(g->sst, rank, g->c_changes, (size_t)slot * CHANGE_BYTES, b, sizeof(b));
    *eov = (sq_le32_load(b + 4) & CHANGE_END_OF_VIEW) != 0;
    return sq_le32_load(b);
}

static void change_set(struct grp_group *g, int64_t slot, uint32_t id, bool eov)
{
    uint8_t b[CHANGE_BYTES];
    sq_le32_store(b, id);
    sq_le32_store(b + 4, eov ? CHANGE_END_OF_VIEW : 0);
    sst_set_bytes(g->sst, g->c_changes, (size_t)slot * CHANGE_BYTES, b, sizeof(b));
}

static uint32_t leader_rank(const struct grp_group *g)
{
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        if (!g->failed[r]) {
            return r;
        }
    }
    return GRP_RANK_NONE;
}

static int64_t my_i64(const struct grp_group *g, uint32_t col)
{
    return sst_get_i64(g->sst, g->my_rank, col, 0);
}


/* Gossip (§5.2): adopt every suspicion any row holds. */
static void gossip_suspicions(struct grp_group *g)
{
    /* A member that raised rip left gracefully (§5.11): departed, not failed. */
    for (uint32_t r = 0; r < g->view.member_count && !g->stopped; r++) {
        if (r != g->my_rank && !g->failed[r] && sst_get_u64(g->sst, r, g->c_rip, 0) != 0) {
            SQ_INFO("grp", "member left", "vid=%llu member=%u", (unsigned long long)g->view.vid,
                    g->view.members[r].id);
            g->rip[r] = true;
            g->rip_count++;
            mark_failed(g, r, SQ_OK);
        }
    }
    for (uint32_t r = 0; r < g->view.member_count && !g->stopped; r++) {
        for (uint32_t k = 0; k < g->view.member_count; k++) {
            if (!g->failed[k] && sst_get_u64(g->sst, r, g->c_suspected, k) != 0 &&
                (k == g->my_rank || r != k)) {
                mark_failed(g, k, SQ_EPEER);
                if (g->stopped) {
                    return;
                }
            }
        }
    }
}

/* The leader proposes every failed member not yet proposed, marking the batch's end (§5.3). */
static void leader_propose(struct grp_group *g)
{
    int64_t installed = my_i64(g, g->c_ninstalled);
    int64_t count = my_i64(g, g->c_nchanges);
    bool have_eov = false;
    bool listed[SQ_MEMBERS_MAX] = {false};
    for (int64_t p = installed; p < count; p++) {
        bool eov;
        uint32_t id = change_id(g, g->my_rank, p - installed, &eov);
        uint32_t r = grp_view_rank_of(&g->view, id);
        if (r != GRP_RANK_NONE) {
            listed[r] = true;
        }
        have_eov |= eov;
    }
    int64_t n = count;
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        if (g->failed[r] && !listed[r] && n - installed < SQ_CHANGES_MAX) {
            change_set(g, n - installed, g->view.members[r].id, false);
            n++;
        }
    }
    /* Joins (§5.9), as long as the next view stays within SQ_MEMBERS_MAX. */
    uint32_t size_next = g->view.member_count;
    uint32_t ids[SQ_CHANGES_MAX];
    for (int64_t p = installed; p < n; p++) {
        bool eov;
        ids[p - installed] = change_id(g, g->my_rank, p - installed, &eov);
        if (grp_view_rank_of(&g->view, ids[p - installed]) != GRP_RANK_NONE) {
            size_next--;
        } else {
            size_next++;
        }
    }
    for (uint32_t j = 0; j < g->join_pending_count; j++) {
        uint32_t id = g->join_pending[j];
        if (grp_view_rank_of(&g->view, id) == GRP_RANK_NONE &&
            !ids_contain(ids, (uint32_t)(n - installed), id) && n - installed < SQ_CHANGES_MAX &&
            size_next < SQ_MEMBERS_MAX) {
            ids[n - installed] = id;
            change_set(g, n - installed, id, false);
            n++;
            size_next++;
        }
    }
    if (n == count && have_eov) {
        return;
    }
    if (n == installed) {
        return; /* nothing to propose */
    }
    if (!have_eov) {
        bool eov;
        uint32_t id = change_id(g, g->my_rank, n - 1 - installed, &eov);
        change_set(g, n - 1 - installed, id, true);
    }
    /* Ordered puts (§1.2): the list, then its count, then my own ack. */
    sst_range_push(g->sst, sst_col_offset(g->sst, g->c_changes),
                   (size_t)(n - installed) * CHANGE_BYTES, SST_ALL);
    sst_set_i64(g->sst, g->c_nchanges, 0, n);
    sst_cell_push(g->sst, g->c_nchanges, 0, SST_ALL);
    sst_set_i64(g->sst, g->c_nacked, 0, n);
    sst_cell_push(g->sst, g->c_nacked, 0, SST_ALL);
    SQ_INFO("grp", "proposed changes", "vid=%llu leader=%u num_changes=%lld",
            (unsigned long long)g->view.vid, g->my_id, (long long)n);
    wedge_with(g, UINT32_MAX, SQ_EVIEW); /* joins alone did not wedge me yet (§5.3) */
}

/* A new leader takes over the prior leader's proposals (§5.10): adopt the longest list with an
 * end-of-view marker that any row holds. */
static void leader_adopt(struct grp_group *g)
{
    int64_t installed = my_i64(g, g->c_ninstalled);
    int64_t best = my_i64(g, g->c_nchanges);
    uint32_t best_row = g->my_rank;
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        int64_t n = sst_get_i64(g->sst, r, g->c_nchanges, 0);
        if (n > best && sst_get_i64(g->sst, r, g->c_ninstalled, 0) == installed) {
            best = n;
            best_row = r;
        }
    }
    if (best_row == g->my_rank) {
        return;
    }
    uint8_t buf[SQ_CHANGES_MAX * CHANGE_BYTES];
    sst_get_bytes(g->sst, best_row, g->c_changes, 0, buf, (size_t)(best - installed) * CHANGE_BYTES);
    sst_set_bytes(g->sst, g->c_changes, 0, buf, (size_t)(best - installed) * CHANGE_BYTES);
    sst_set_i64(g->sst, g->c_nchanges, 0, best);
    SQ_INFO("grp", "leader took over proposals", "vid=%llu leader=%u from=%u num_changes=%lld",
            (unsigned long long)g->view.vid, g->my_id, g->view.members[best_row].id,
            (long long)best);
}

/* Followers echo the leader's list and ack it; acking adopts its suspicions (§5.3). */
static void follower_ack(struct grp_group *g, uint32_t leader)
{
    int64_t ln = sst_get_i64(g->sst, leader, g->c_nchanges, 0); /* counter first */
    int64_t installed = my_i64(g, g->c_ninstalled);
    if (ln <= my_i64(g, g->c_nacked) || sst_get_i64(g->sst, leader, g->c_ninstalled, 0) != installed) {
        return;
    }
    int64_t lc = sst_get_i64(g->sst, leader, g->c_ncommitted, 0);
    uint8_t buf[SQ_CHANGES_MAX * CHANGE_BYTES];
    size_t bytes = (size_t)(ln - installed) * CHANGE_BYTES;
    sst_get_bytes(g->sst, leader, g->c_changes, 0, buf, bytes);
    sst_set_bytes(g->sst, g->c_changes, 0, buf, bytes);
    for (int64_t p = 0; p < ln - installed; p++) {
        uint32_t id = sq_le32_load(buf + p * CHANGE_BYTES);
        uint32_t r = grp_view_rank_of(&g->view, id);
        if (r != GRP_RANK_NONE) {
            mark_failed(g, r, SQ_EPEER);
            if (g->stopped) {
                return;
            }
        }
    }
    sst_range_push(g->sst, sst_col_offset(g->sst, g->c_changes), bytes, SST_ALL);
    sst_set_i64(g->sst, g->c_nchanges, 0, ln);
    sst_cell_push(g->sst, g->c_nchanges, 0, SST_ALL);
    if (lc > my_i64(g, g->c_ncommitted)) {
        sst_set_i64(g->sst, g->c_ncommitted, 0, lc);
        sst_cell_push(g->sst, g->c_ncommitted, 0, SST_ALL);
    }
    sst_set_i64(g->sst, g->c_nacked, 0, ln);
    sst_cell_push(g->sst, g->c_nacked, 0, SST_ALL);
    wedge_with(g, UINT32_MAX, SQ_EVIEW);
}

/* The leader commits what every live member acked (§5.3). */
static void leader_commit(struct grp_group *g)
{
    int64_t m = INT64_MAX;
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        if (!g->failed[r]) {
            int64_t a = sst_get_i64(g->sst, r, g->c_nacked, 0);
            if (a < m) {
                m = a;
            }
        }
    }
    if (m != INT64_MAX && m > my_i64(g, g->c_ncommitted)) {
        sst_set_i64(g->sst, g->c_ncommitted, 0, m);
        sst_cell_push(g->sst, g->c_ncommitted, 0, SST_ALL);
    }
}

/* Whether the committed range holds a complete batch (up to an end-of-view marker); fills it. */
static bool committed_batch(struct grp_group *g, uint32_t leader)
{
    int64_t installed = my_i64(g, g->c_ninstalled);
    int64_t committed = sst_get_i64(g->sst, leader, g->c_ncommitted, 0);
    if (committed > my_i64(g, g->c_nacked)) {
        return false; /* not acked here yet (cannot happen: commit needs my ack) */
    }
    g->batch_count = 0;
    for (int64_t p = installed; p < committed; p++) {
        bool eov;
        uint32_t id = change_id(g, g->my_rank, p - installed, &eov);
        SQ_ASSERT(g->batch_count < SQ_MEMBERS_MAX);
        g->batch_ids[g->batch_count++] = id;
        if (eov) {
            return true;
        }
    }
    return false;
}

static bool all_live(struct grp_group *g, uint64_t mask, uint32_t col, uint64_t at_least)
{
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        if ((mask & rank_bit(r)) && !g->failed[r] && sst_get_u64(g->sst, r, col, 0) < at_least) {
            return false;
        }
    }
    return true;
}

static uint32_t shard_leader(const struct grp_group *g)
{
    const struct grp_shard *sh = &g->layout.shards[g->shard];
    for (uint32_t i = 0; i < sh->member_count; i++) {
        if (!g->failed[sh->ranks[i]]) {
            return sh->ranks[i];
        }
    }
    return GRP_RANK_NONE;
}

/* Ragged-edge cleanup (§5.5): the shard leader publishes the trim (adopting one already published,
 * pitfall 4), followers echo the leader's. */
static void ragged_trim(struct grp_group *g)
{
    if (sst_get_u64(g->sst, g->my_rank, g->c_gmin_ready, 0) != 0) {
        return;
    }
    uint32_t lead = shard_leader(g);
    int64_t t[SQ_MEMBERS_MAX];
    bool have = false;
    if (lead == g->my_rank) {
        /* Adopt any trim a member of the shard (maybe a failed former leader) published. */
        const struct grp_shard *sh = &g->layout.shards[g->shard];
        for (uint32_t i = 0; i < sh->member_count && !have; i++) {
            uint32_t r = sh->ranks[i];
            if (r != g->my_rank && sst_get_u64(g->sst, r, g->c_gmin_ready, 0) != 0) {
                for (uint32_t k = 0; k < g->S; k++) {
                    t[k] = sst_get_i64(g->sst, r, g->c_gmin, k);
                }
                have = true;
            }
        }
        if (!have) {
            for (uint32_t k = 0; k < g->S; k++) {
                int64_t v;
                uint64_t live = g->shard_mask;
                for (uint32_t r = 0; r < g->view.member_count; r++) {
                    if (g->failed[r]) {
                        live &= ~rank_bit(r);
                    }
                }
                bool ok = sst_min_i64(g->sst, g->c_nrecv, k, live, &v);
                SQ_ASSERT(ok);
                t[k] = v;
            }
            have = true;
        }
    } else if (sst_get_u64(g->sst, lead, g->c_gmin_ready, 0) != 0) {
        for (uint32_t k = 0; k < g->S; k++) {
            t[k] = sst_get_i64(g->sst, lead, g->c_gmin, k);
        }
        have = true;
    }
    if (!have) {
        return;
    }
    for (uint32_t k = 0; k < g->S; k++) {
        g->trim[k] = t[k];
        sst_set_i64(g->sst, g->c_gmin, k, t[k]);
    }
    /* Log before anyone may deliver by it (the trim must survive a total restart). */
    if (g->up.trim != NULL) {
        g->up.trim(g->up.ctx, g->view.vid, g->shard, g->trim, g->S);
    }
    sst_col_push(g->sst, g->c_gmin, SST_ALL);
    sst_set_u64(g->sst, g->c_gmin_ready, 0, 1);
    sst_cell_push(g->sst, g->c_gmin_ready, 0, SST_ALL);
    g->term = TERM_DELIVER;
}

/* Delivers, in seq order, every received message within the trim (§5.5 step 4). */
static void deliver_trim(struct grp_group *g)
{
    int64_t last = -1;
    for (uint32_t k = 0; k < g->S; k++) {
        SQ_ASSERT(g->trim[k] <= g->track[k].prefix); /* a min over survivors, me included */
        int64_t s = grp_seq_of(g->trim[k], k, g->S);
        if (g->trim[k] >= 0 && s > last) {
            last = s;
        }
    }
    bool any = false;
    for (int64_t seq = g->delivered_seq + 1; seq <= last; seq++) {
        uint32_t k = (uint32_t)(seq % g->S);
        int64_t i = seq / g->S;
        if (i > g->trim[k]) {
            g->delivered_seq = seq; /* beyond its sender's trim: not delivered in this view */
            continue;
        }
        deliver_one(g, seq, k, i);
        any = true;
    }
    if (any || last > g->delivered_seq) {
        if (last > g->delivered_seq) {
            g->delivered_seq = last;
        }
        sst_set_i64(g->sst, g->c_delivered, 0, g->delivered_seq);
        sst_cell_push(g->sst, g->c_delivered, 0, SST_ALL);
    }
}

static void trig_gms(struct sst *sst, void *arg)
{
    (void)sst;
    struct grp_group *g = arg;
    if (g->stopped) {
        return;
    }
    gossip_suspicions(g);
    if (g->stopped) {
        return;
    }
    uint32_t leader = leader_rank(g);
    SQ_ASSERT(leader != GRP_RANK_NONE); /* I am not failed */
    if (g->term == TERM_NONE) {
        if (leader == g->my_rank) {
            /* A new leader acts once every live row suspects all lower ranks (§5.10). */
            bool everyone_agrees = true;
            for (uint32_t r = 0; r < g->view.member_count && everyone_agrees; r++) {
                if (g->failed[r]) {
                    continue;
                }
                for (uint32_t low = 0; low < leader; low++) {
                    if (sst_get_u64(g->sst, r, g->c_suspected, low) == 0) {
                        everyone_agrees = false;
                        break;
                    }
                }
            }
            if (!everyone_agrees) {
                return;
            }
            if (leader > 0) {
                leader_adopt(g);
            }
            if (g->failed_count > 0 || g->join_pending_count > 0) {
                leader_propose(g);
            }
            leader_commit(g);
        } else {
            follower_ack(g, leader);
            if (g->stopped) {
                return;
            }
        }
        int64_t lc = sst_get_i64(g->sst, leader, g->c_ncommitted, 0);
        if (lc > my_i64(g, g->c_ninstalled) && committed_batch(g, leader)) {
            /* Echo the commit in my row, as followers copy the leader's counter (§5.3): if the
             * leader fails before its commit reached everyone, a member that missed it reads it
             * from the next leader, who saw it and so never runs the proposal path again
             * (§5.10). Without this that member waits for a commit and the new leader for its
             * trim, for ever. */
            if (lc > my_i64(g, g->c_ncommitted)) {
                sst_set_i64(g->sst, g->c_ncommitted, 0, lc);
                sst_cell_push(g->sst, g->c_ncommitted, 0, SST_ALL);
            }
            wedge_with(g, UINT32_MAX, SQ_EVIEW);
            g->term = TERM_META_WEDGE;
            SQ_INFO("grp", "view change committed", "vid=%llu member=%u leaving=%u",
                    (unsigned long long)g->view.vid, g->my_id, g->batch_count);
        }
    }
    if (g->term == TERM_META_WEDGE) {
        if (!all_live(g, SST_ALL, g->c_wedged, 1)) {
            return;
        }
        g->term = TERM_TRIM;
    }
    if (g->term == TERM_TRIM) {
        if (g->S == 0) {
            g->term = TERM_PERSIST;
        } else {
            ragged_trim(g);
        }
    }
    if (g->term == TERM_DELIVER) {
        if (!all_live(g, g->shard_mask, g->c_gmin_ready, 1) || g->state_pending) {
            return;
        }
        deliver_trim(g);
        g->term = TERM_PERSIST;
    }
    if (g->term == TERM_PERSIST) {
        /* Every live shard member made everything it delivered durable (§5.5 step 5). */
        int64_t want = g->version_next - 1;
        for (uint32_t r = 0; r < g->view.member_count; r++) {
            if ((g->shard_mask & rank_bit(r)) && !g->failed[r] &&
                sst_get_i64(g->sst, r, g->c_persisted, 0) < want) {
                return;
            }
        }
        g->term = TERM_INSTALL;
    }
}

/* Builds and installs the next view (§5.6); called by grp_poll outside the table's poll. */
static void install_next(struct grp_group *g)
{
    SQ_ASSERT(g->term == TERM_INSTALL);
    struct grp_view next;
    memset(&next, 0, sizeof(next));
    next.vid = g->view.vid + 1;
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        uint32_t id = g->view.members[r].id;
        bool leaving = false;
        for (uint32_t b = 0; b < g->batch_count; b++) {
            leaving |= g->batch_ids[b] == id;
        }
        if (leaving) {
            next.departed[next.departed_count++] = id;
            continue;
        }
        /* Failures proposed after the batch's marker carry over as failed (§5.3). */
        next.failed[next.member_count] = g->failed[r];
        next.members[next.member_count++] = g->view.members[r];
    }
    /* Joiners, in proposal order, after the survivors (§5.6). */
    for (uint32_t b = 0; b < g->batch_count; b++) {
        uint32_t id = g->batch_ids[b];
        if (grp_view_rank_of(&g->view, id) != GRP_RANK_NONE) {
            continue; /* a departure */
        }
        const struct grp_member *m = validator_find(g, id);
        if (m == NULL || next.member_count == SQ_MEMBERS_MAX ||
            grp_view_rank_of(&next, id) != GRP_RANK_NONE) {
            stop_with(g, SQ_EINVAL, "a committed joiner is not in this member's validator set");
            return;
        }
        next.failed[next.member_count] = false;
        next.members[next.member_count++] = *m;
        next.joined[next.joined_count++] = id;
    }
    if (grp_view_rank_of(&next, g->my_id) == GRP_RANK_NONE) {
        stop_with(g, SQ_EVIEW, "excluded from the next view");
        return;
    }
    int64_t carry = my_i64(g, g->c_ninstalled) + (int64_t)g->batch_count;
    struct grp_view prev_view = g->view;
    struct grp_layout prev_layout = g->layout;
    /* Own messages this view did not deliver are re-sent in the next (§5.7). */
    for (uint32_t i = 0; i < g->outbox_count; i++) {
        outbox_at(g, i)->resend = true;
    }
    g->resend_count = g->outbox_count;
    /* My last heartbeat in this table says I installed the next view. A member still finishing
     * this view (waiting on a slower or crashed one) would otherwise time out my silence, and
     * that of everyone who installed before it, and could stop by the majority rule while only
     * a minority failed. Derecho has no such case: it suspects on write errors (§1.5), which a
     * member that moved on does not cause. FIFO puts this after everything I wrote here, so a
     * member that reads it already has every cell it could want from me in this view. */
    sst_set_u64(g->sst, g->c_heartbeat, 0, HB_INSTALLED);
    sst_cell_push(g->sst, g->c_heartbeat, 0, SST_ALL);
    epoch_end(g);
    if (g->set.view_record) {
        g->version_next++; /* the next view's record */
    }
    int rc = epoch_begin(g, &next, &prev_view, &prev_layout, NULL, &carry);
    if (rc != SQ_OK) {
        stop_with(g, rc, rc == SQ_EAGAIN ? "the next view is inadequately provisioned"
                                         : "cannot build the next view");
        return;
    }
    g->view_has_record = g->set.view_record;
    g->stats.views_installed++;
    SQ_INFO("grp", "view installed", "vid=%llu member=%u members=%u joined=%u resend=%u",
            (unsigned long long)g->view.vid, g->my_id, g->view.member_count,
            g->view.joined_count, g->outbox_count);
    /* Joins: the leader ships the view to every joiner; the others forget pending requests. */
    bool lead = leader_rank(g) == g->my_rank;
    uint32_t keep = 0;
    for (uint32_t j = 0; j < g->join_pending_count; j++) {
        uint32_t id = g->join_pending[j];
        if (lead && grp_view_rank_of(&g->view, id) == GRP_RANK_NONE) {
            g->join_pending[keep++] = id;
        }
    }
    g->join_pending_count = keep;
    for (uint32_t j = 0; lead && j < g->view.joined_count; j++) {
        send_current_view(g, g->view.joined[j]);
    }
    if (g->state_pending && (g->state_source == UINT32_MAX ||
                             grp_view_rank_of(&g->view, g->state_source) == GRP_RANK_NONE)) {
        state_request_next(g);
    }
    if (g->up.view_installed != NULL) {
        g->up.view_installed(g->up.ctx, &g->view);
    }
}

/* ---- joins, state transfer, graceful leave, total restart (§5.8, §5.9, §5.11) ---- */

enum gms_type {
    GMS_JOIN = 1,        /* {u8 restart, u64 last_vid, i64 have, lp32 last view if restart} */
    GMS_REDIRECT,        /* {u32 leader id} */
    GMS_VIEW,            /* {u8 restart, i64 version base, i64 carry, u32 n, n x u32 full ids,
                          *  lp32 layout, lp32 view} */
    GMS_STATE_REQ,       /* {u64 request id, i64 from, i64 to} */
    GMS_STATE,           /* {u64 request id, u8 last, lp32 bytes} */
    GMS_RESTART_PROPOSE, /* {u64 restart view id} */
    GMS_RESTART_ACK,     /* {u64 restart view id} */
};
#define GMS_TAG 0x6D5u
#define GMS_STATE_HDR 24
#define NO_VID UINT64_MAX

uint32_t grp_gms_imm(void)
{
    return rdmc_imm_make(RDMC_IMM_OTHER, 0, GMS_TAG);
}

size_t grp_state_chunk_max(const struct grp_group *g)
{
    return g->set.rdmc.block_bytes - GMS_STATE_HDR;
}

bool grp_is_joining(const struct grp_group *g)
{
    return g->joining;
}

bool grp_is_receiving_state(const struct grp_group *g)
{
    return g->state_pending;
}

int64_t grp_view_record_version(const struct grp_group *g)
{
    return g->view_has_record && g->sst != NULL ? g->view_version_base - 1 : -1;
}

static int gms_send(struct grp_group *g, uint32_t peer, const uint8_t *buf, size_t size)
{
    if (size > g->set.rdmc.block_bytes) {
        SQ_ERROR("grp", "membership message too large for the receive buffers", "size=%zu max=%u",
                 size, g->set.rdmc.block_bytes);
        return SQ_ETOOBIG;
    }
    return g->rdmc_io.send(g->rdmc_io.ctx, peer, grp_gms_imm(), buf, size);
}

/* Ships view, layout, first version and counters to a member that is not built from the previous
 * view: a joiner, or every member of a restart view. `full` are the members holding the whole log. */
static void send_view(struct grp_group *g, uint32_t peer, const struct grp_view *view,
                      const struct grp_layout *layout, int64_t base, int64_t carry,
                      const uint32_t *full, uint32_t full_count, bool restart)
{
    uint8_t vbuf[GRP_VIEW_BYTES_MAX], lbuf[GRP_LAYOUT_BYTES_MAX];
    size_t vlen, llen;
    if (grp_view_encode(view, vbuf, sizeof(vbuf), &vlen) != SQ_OK ||
        grp_layout_encode(layout, lbuf, sizeof(lbuf), &llen) != SQ_OK) {
        SQ_ERROR("grp", "cannot encode the view for a joiner", "peer=%u", peer);
        return;
    }
    uint8_t *buf = malloc(32 + 4 * (size_t)full_count + llen + vlen);
    if (buf == NULL) {
        return;
    }
    struct sq_enc e;
    sq_enc_init(&e, buf, 32 + 4 * (size_t)full_count + llen + vlen);
    sq_enc_u8(&e, GMS_VIEW);
    sq_enc_u8(&e, restart ? 1 : 0);
    sq_enc_i64(&e, base);
    sq_enc_i64(&e, carry);
    sq_enc_u32(&e, full_count);
    for (uint32_t i = 0; i < full_count; i++) {
        sq_enc_u32(&e, full[i]);
    }
    sq_enc_lp32(&e, lbuf, llen);
    sq_enc_lp32(&e, vbuf, vlen);
    SQ_ASSERT(sq_enc_status(&e) == SQ_OK);
    int rc = gms_send(g, peer, buf, sq_enc_len(&e));
    SQ_INFO("grp", "view shipped", "vid=%llu to=%u base=%lld rc=%s",
            (unsigned long long)view->vid, peer, (long long)base, sq_errname(rc));
    free(buf);
}

/* Ships the current view to `peer`, which joined in it. */
static void send_current_view(struct grp_group *g, uint32_t peer)
{
    uint32_t full[SQ_MEMBERS_MAX];
    uint32_t n = 0;
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        uint32_t id = g->view.members[r].id;
        if (!ids_contain(g->view.joined, g->view.joined_count, id)) {
            full[n++] = id;
        }
    }
    send_view(g, peer, &g->view, &g->layout, g->view_version_base, g->view_carry, full, n,
              false);
}

/* Joiner: asks the next member of its shard that held the whole log for the versions it lacks. */
static void state_request_next(struct grp_group *g)
{
    SQ_ASSERT(g->state_pending);
    const struct grp_shard *sh = &g->layout.shards[g->shard];
    for (uint32_t t = 0; t < g->state_full_count; t++) {
        uint32_t id = g->state_full[(g->state_tries + t) % g->state_full_count];
        uint32_t r = grp_view_rank_of(&g->view, id);
        bool in_shard = false;
        for (uint32_t i = 0; i < sh->member_count; i++) {
            in_shard |= sh->ranks[i] == r;
        }
        if (r == GRP_RANK_NONE || r == g->my_rank || g->failed[r] || !in_shard) {
            continue;
        }
        g->state_tries += t + 1;
        g->state_source = id;
        g->state_req_id++;
        g->state_active_at = g->now_ns;
        uint8_t buf[32];
        struct sq_enc e;
        sq_enc_init(&e, buf, sizeof(buf));
        sq_enc_u8(&e, GMS_STATE_REQ);
        sq_enc_u64(&e, g->state_req_id);
        sq_enc_i64(&e, g->persisted_reported + 1);
        sq_enc_i64(&e, g->state_to);
        int rc = gms_send(g, id, buf, sq_enc_len(&e));
        SQ_INFO("grp", "state requested", "member=%u from_member=%u versions=%lld..%lld rc=%s",
                g->my_id, id, (long long)(g->persisted_reported + 1), (long long)g->state_to,
                sq_errname(rc));
        return;
    }
    g->state_source = UINT32_MAX;
    SQ_WARN("grp", "no member holds the state this joiner lacks; waiting for the next view",
            "member=%u", g->my_id);
}

/* Joiner: enters the view it was shipped (§5.9). */
static void accept_view(struct grp_group *g, uint32_t from, const struct grp_view *view,
                        const struct grp_layout *layout, int64_t base, int64_t carry,
                        const uint32_t *full, uint32_t full_count, bool restart)
{
    if (!g->joining || g->stopped) {
        return;
    }
    if (grp_view_rank_of(view, g->my_id) == GRP_RANK_NONE || base < 0 ||
        (g->have_last_view && g->my_last_vid != NO_VID && view->vid <= g->my_last_vid)) {
        SQ_WARN("grp", "ignored a view that does not take this joiner", "from=%u vid=%llu",
                from, (unsigned long long)view->vid);
        return;
    }
    if (restart && (!g->restart_mode || g->promised_to != from)) {
        return; /* only the restart leader this member acked (§5.8) */
    }
    /* The log before the view ends at `keep`; the view's record (if any) follows it. */
    int64_t keep = base - 1 - (g->set.view_record ? 1 : 0);
    if (keep < -1) {
        return;
    }
    if (g->join_have > keep) {
        SQ_WARN("grp", "local log is longer than the group's: truncating", "member=%u have=%lld "
                "keep=%lld", g->my_id, (long long)g->join_have, (long long)keep);
        if (g->up.truncate != NULL) {
            g->up.truncate(g->up.ctx, keep);
        }
        g->join_have = keep;
    }
    g->version_next = base;
    g->persisted_reported = g->signed_reported = g->verified_reported = g->join_have;
    g->persisted_frontier = g->verified_frontier = g->join_have;
    g->joining = g->restart_mode = false;
    int rc = epoch_begin(g, view, NULL, NULL, layout, &carry);
    if (rc != SQ_OK) {
        stop_with(g, rc, "cannot build the view it was added to");
        return;
    }
    g->view_has_record = g->set.view_record;
    g->stats.views_installed++;
    SQ_INFO("grp", "joined", "member=%u vid=%llu members=%u base=%lld have=%lld", g->my_id,
            (unsigned long long)view->vid, view->member_count, (long long)base,
            (long long)g->join_have);
    if (g->join_have < keep) {
        g->state_pending = true;
        g->state_to = keep;
        memcpy(g->state_full, full, full_count * sizeof(*full));
        g->state_full_count = full_count;
        g->state_tries = 0;
        state_request_next(g);
    }
    if (g->up.view_installed != NULL) {
        g->up.view_installed(g->up.ctx, &g->view);
    }
}

static void join_send(struct grp_group *g, uint32_t peer)
{
    uint8_t buf[32 + GRP_VIEW_BYTES_MAX];
    struct sq_enc e;
    sq_enc_init(&e, buf, sizeof(buf));
    sq_enc_u8(&e, GMS_JOIN);
    sq_enc_u8(&e, g->restart_mode ? 1 : 0);
    sq_enc_u64(&e, g->my_last_vid);
    sq_enc_i64(&e, g->join_have);
    if (g->restart_mode) {
        uint8_t *v = sq_enc_reserve(&e, 4);
        size_t vlen = 0;
        if (v != NULL && grp_view_encode(&g->last_view, buf + sq_enc_len(&e),
                                         sizeof(buf) - sq_enc_len(&e), &vlen) == SQ_OK) {
            sq_le32_store(v, (uint32_t)vlen);
            (void)sq_enc_reserve(&e, vlen);
        }
    }
    if (sq_enc_status(&e) == SQ_OK) {
        (void)gms_send(g, peer, buf, sq_enc_len(&e));
    }
}

/* Joiner, every join_retry_ns: ask a member (or, restarting, every validator) to be added. */
static void join_ask(struct grp_group *g)
{
    if (g->restart_mode) {
        for (uint32_t i = 0; i < g->validator_count; i++) {
            if (g->validators[i].id != g->my_id) {
                join_send(g, g->validators[i].id);
            }
        }
        return;
    }
    uint32_t peer = g->join_target;
    g->join_target = UINT32_MAX; /* a leader that does not answer is not asked forever */
    for (uint32_t t = 0; peer == UINT32_MAX && t < g->validator_count; t++) {
        uint32_t id = g->validators[g->join_contact++ % g->validator_count].id;
        if (id != g->my_id) {
            peer = id;
        }
    }
    if (peer != UINT32_MAX) {
        join_send(g, peer);
    }
}

/* Total restart (§5.8): the lowest-ranked restarting member of the newest last view heard of
 * collects acks from a majority of that view, then ships a view of exactly the ackers, going on
 * from the longest log among them. A member acks one restart leader only, so two leaders cannot
 * both reach a majority. */
static void restart_try(struct grp_group *g)
{
    const struct grp_view *nv = &g->last_view;
    uint32_t me_r = grp_view_rank_of(nv, g->my_id);
    if (g->restart_not_before == 0) {
        /* Give a running group two join periods to answer before restarting without it. */
        g->restart_not_before = g->now_ns + 2 * g->join_retry_ns;
    }
    if (me_r == GRP_RANK_NONE || g->now_ns < g->restart_not_before ||
        (g->promised_to != UINT32_MAX && g->promised_to != g->my_id)) {
        return;
    }
    uint32_t present = 1, acked = 1;
    for (uint32_t i = 0; i < g->rs_count; i++) {
        const struct restart_peer *p = &g->rs[i];
        uint32_t r = grp_view_rank_of(nv, p->id);
        if (r == GRP_RANK_NONE) {
            continue;
        }
        if (p->acked) {
            acked++;
            present++;
            continue;
        }
        if (g->now_ns - p->seen_ns > 3 * g->join_retry_ns) {
            continue;
        }
        if (r < me_r && g->promised_to == UINT32_MAX) {
            return; /* a lower-ranked member is restarting: it leads */
        }
        present++;
    }
    if (2 * present <= nv->member_count) {
        g->restart_majority_at = 0;
        return;
    }
    /* A majority is enough to go on, but the longest log may be with a member that is slower to
     * come back: wait for everyone for a while (ten join periods) before restarting without. */
    if (g->restart_majority_at == 0) {
        g->restart_majority_at = g->now_ns;
    }
    if (present < nv->member_count && g->promised_to == UINT32_MAX &&
        g->now_ns - g->restart_majority_at < 10 * g->join_retry_ns) {
        return;
    }
    if (g->promised_to == UINT32_MAX) {
        g->promised_to = g->my_id;
        g->promised_vid = nv->vid + 1;
        SQ_INFO("grp", "leading a total restart", "member=%u last_vid=%llu present=%u of %u",
                g->my_id, (unsigned long long)nv->vid, present, nv->member_count);
    }
    if (2 * acked <= nv->member_count) {
        uint8_t buf[16];
        struct sq_enc e;
        sq_enc_init(&e, buf, sizeof(buf));
        sq_enc_u8(&e, GMS_RESTART_PROPOSE);
        sq_enc_u64(&e, g->promised_vid);
        for (uint32_t i = 0; i < g->rs_count; i++) {
            if (!g->rs[i].acked && grp_view_rank_of(nv, g->rs[i].id) != GRP_RANK_NONE) {
                (void)gms_send(g, g->rs[i].id, buf, sq_enc_len(&e));
            }
        }
        return;
    }
    /* The restart view: the ackers and me, in the old rank order. */
    struct grp_view rv;
    memset(&rv, 0, sizeof(rv));
    rv.vid = g->promised_vid;
    int64_t have_max = g->join_have;
    for (uint32_t r = 0; r < nv->member_count; r++) {
        uint32_t id = nv->members[r].id;
        bool in = id == g->my_id;
        for (uint32_t i = 0; i < g->rs_count && !in; i++) {
            if (g->rs[i].id == id && g->rs[i].acked) {
                in = true;
                have_max = g->rs[i].have > have_max ? g->rs[i].have : have_max;
            }
        }
        if (in) {
            rv.members[rv.member_count++] = nv->members[r];
        } else {
            rv.departed[rv.departed_count++] = id;
        }
    }
    struct grp_layout layout;
    if (grp_layout_compute(&g->set.layout, NULL, NULL, &rv, &layout) != SQ_OK) {
        return; /* a shard would be empty: wait for more members */
    }
    uint32_t full[SQ_MEMBERS_MAX];
    uint32_t full_count = 0;
    for (uint32_t r = 0; r < rv.member_count; r++) {
        uint32_t id = rv.members[r].id;
        int64_t have = g->join_have;
        for (uint32_t i = 0; i < g->rs_count; i++) {
            have = g->rs[i].id == id ? g->rs[i].have : have;
        }
        if (have == have_max) {
            full[full_count++] = id;
        }
    }
    int64_t base = have_max + 1 + (g->set.view_record ? 1 : 0);
    SQ_INFO("grp", "total restart view", "vid=%llu members=%u base=%lld",
            (unsigned long long)rv.vid, rv.member_count, (long long)base);
    for (uint32_t r = 0; r < rv.member_count; r++) {
        if (rv.members[r].id != g->my_id) {
            send_view(g, rv.members[r].id, &rv, &layout, base, 0, full, full_count, true);
        }
    }
    accept_view(g, g->my_id, &rv, &layout, base, 0, full, full_count, true);
}

/* A member of the running view hears a join request (§5.9). */
static void handle_join(struct grp_group *g, uint32_t peer, uint64_t last_vid)
{
    uint32_t r = grp_view_rank_of(&g->view, peer);
    if (r != GRP_RANK_NONE) {
        bool added_now = ids_contain(g->view.joined, g->view.joined_count, peer);
        bool older = last_vid == NO_VID || last_vid < g->view.vid;
        if (added_now && older) {
            send_current_view(g, peer); /* the leader's shipment was lost */
        } else if (older) {
            /* Asked before it had this view: a retry that crossed the view on its way (a joiner
             * asks every join period until its view arrives). Not a restart: a new process that
             * never logged this view is also ignored here, and its old incarnation's silence
             * fails it (§1.5), after which it joins as anyone does. */
            SQ_DEBUG("grp", "join request from before this view ignored",
                     "vid=%llu member=%u last_vid=%llu", (unsigned long long)g->view.vid, peer,
                     (unsigned long long)last_vid);
        } else if (r != g->my_rank && !g->failed[r]) {
            /* Its own authenticated connection says it restarted: the old incarnation is gone
             * and the new one must come back with fresh state (§1.5). */
            SQ_WARN("grp", "a member asks to join again: its old incarnation is gone",
                    "vid=%llu member=%u", (unsigned long long)g->view.vid, peer);
            mark_failed(g, r, SQ_EPEER);
        }
        return;
    }
    if (validator_find(g, peer) == NULL) {
        SQ_WARN("grp", "join refused: not in the validator set", "peer=%u", peer);
        return;
    }
    uint32_t lead = leader_rank(g);
    if (lead != g->my_rank) {
        uint8_t buf[8];
        buf[0] = GMS_REDIRECT;
        sq_le32_store(buf + 1, g->view.members[lead].id);
        (void)gms_send(g, peer, buf, 5);
        return;
    }
    if (!ids_contain(g->join_pending, g->join_pending_count, peer) &&
        g->join_pending_count < SQ_MEMBERS_MAX) {
        g->join_pending[g->join_pending_count++] = peer;
        SQ_INFO("grp", "join request", "vid=%llu leader=%u joiner=%u",
                (unsigned long long)g->view.vid, g->my_id, peer);
    }
}

static void restart_note(struct grp_group *g, uint32_t peer, uint64_t last_vid, int64_t have,
                         const uint8_t *vbytes, size_t vlen)
{
    struct restart_peer *p = NULL;
    for (uint32_t i = 0; i < g->rs_count; i++) {
        p = g->rs[i].id == peer ? &g->rs[i] : p;
    }
    if (p == NULL) {
        if (g->rs_count == SQ_MEMBERS_MAX) {
            return;
        }
        p = &g->rs[g->rs_count++];
        memset(p, 0, sizeof(*p));
        p->id = peer;
    }
    p->last_vid = last_vid;
    p->have = have;
    p->seen_ns = g->now_ns;
    if (last_vid != NO_VID && last_vid > g->last_view.vid && vlen > 0) {
        struct grp_view v;
        if (grp_view_decode(&v, vbytes, vlen) == SQ_OK && v.vid == last_vid) {
            g->last_view = v; /* a newer view than mine: it decides who restarts */
        }
    }
}

void grp_gms_recv(struct grp_group *g, uint32_t peer, const uint8_t *data, size_t size)
{
    if (g->stopped || size == 0) {
        return;
    }
    struct sq_dec d;
    sq_dec_init(&d, data + 1, size - 1);
    switch (data[0]) {
    case GMS_JOIN: {
        uint8_t restart;
        uint64_t last_vid;
        int64_t have;
        const uint8_t *v = NULL;
        size_t vlen = 0;
        sq_dec_u8(&d, &restart);
        sq_dec_u64(&d, &last_vid);
        sq_dec_i64(&d, &have);
        if (restart == 1) {
            sq_dec_lp32(&d, GRP_VIEW_BYTES_MAX, &v, &vlen);
        }
        if (sq_dec_finish(&d) != SQ_OK || restart > 1 || have < -1) {
            break;
        }
        if (g->sst != NULL) {
            handle_join(g, peer, last_vid);
        } else if (g->joining && g->restart_mode && restart == 1) {
            restart_note(g, peer, last_vid, have, v, vlen);
        }
        return;
    }
    case GMS_REDIRECT: {
        uint32_t leader;
        sq_dec_u32(&d, &leader);
        if (sq_dec_finish(&d) != SQ_OK) {
            break;
        }
        if (g->joining && leader != g->my_id && validator_find(g, leader) != NULL) {
            /* A group runs: join it, and take no part in a total restart any more (a restart
             * VIEW is refused from now on, so the promise can go). */
            g->restart_mode = false;
            g->promised_to = UINT32_MAX;
            g->join_target = leader;
            join_ask(g);
        }
        return;
    }
    case GMS_VIEW: {
        uint8_t restart;
        int64_t base, carry;
        uint32_t full_count;
        uint32_t full[SQ_MEMBERS_MAX];
        const uint8_t *lb, *vb;
        size_t llen, vlen;
        sq_dec_u8(&d, &restart);
        sq_dec_i64(&d, &base);
        sq_dec_i64(&d, &carry);
        sq_dec_u32(&d, &full_count);
        if (sq_dec_status(&d) != SQ_OK || full_count > SQ_MEMBERS_MAX) {
            break;
        }
        for (uint32_t i = 0; i < full_count; i++) {
            sq_dec_u32(&d, &full[i]);
        }
        sq_dec_lp32(&d, GRP_LAYOUT_BYTES_MAX, &lb, &llen);
        sq_dec_lp32(&d, GRP_VIEW_BYTES_MAX, &vb, &vlen);
        struct grp_view view;
        struct grp_layout layout;
        if (sq_dec_finish(&d) != SQ_OK || carry < 0 || restart > 1 ||
            grp_view_decode(&view, vb, vlen) != SQ_OK ||
            grp_layout_decode(&layout, view.member_count, lb, llen) != SQ_OK) {
            break;
        }
        accept_view(g, peer, &view, &layout, base, carry, full, full_count, restart == 1);
        return;
    }
    case GMS_STATE_REQ: {
        uint64_t req;
        int64_t from, to;
        sq_dec_u64(&d, &req);
        sq_dec_i64(&d, &from);
        sq_dec_i64(&d, &to);
        if (sq_dec_finish(&d) != SQ_OK || from < 0 || to >= g->version_next) {
            break;
        }
        if (g->sst == NULL || grp_view_rank_of(&g->view, peer) == GRP_RANK_NONE) {
            return;
        }
        struct xfer *x = NULL;
        for (uint32_t i = 0; i < g->xfer_count; i++) {
            x = g->xfers[i].joiner == peer ? &g->xfers[i] : x;
        }
        if (x == NULL) {
            SQ_ASSERT(g->xfer_count < SQ_MEMBERS_MAX);
            x = &g->xfers[g->xfer_count++];
            x->joiner = peer;
        }
        x->req_id = req;
        SQ_INFO("grp", "state transfer", "member=%u joiner=%u versions=%lld..%lld", g->my_id,
                peer, (long long)from, (long long)to);
        if (g->up.state_request != NULL && from <= to) {
            g->up.state_request(g->up.ctx, peer, from, to);
        } else {
            (void)grp_state_send(g, peer, NULL, 0, true); /* nothing to send */
        }
        return;
    }
    case GMS_STATE: {
        uint64_t req;
        uint8_t last;
        const uint8_t *b;
        size_t blen;
        sq_dec_u64(&d, &req);
        sq_dec_u8(&d, &last);
        sq_dec_lp32(&d, g->set.rdmc.block_bytes, &b, &blen);
        if (sq_dec_finish(&d) != SQ_OK || last > 1) {
            break;
        }
        if (!g->state_pending || req != g->state_req_id || peer != g->state_source) {
            return; /* a transfer this joiner gave up on */
        }
        g->state_active_at = g->now_ns;
        if (g->up.state_receive != NULL) {
            g->up.state_receive(g->up.ctx, b, blen, last == 1);
        }
        if (last == 1) {
            g->state_pending = false;
            g->state_source = UINT32_MAX;
            SQ_INFO("grp", "state transfer done", "member=%u persisted=%lld", g->my_id,
                    (long long)g->persisted_reported);
        }
        return;
    }
    case GMS_RESTART_PROPOSE: {
        uint64_t vid;
        sq_dec_u64(&d, &vid);
        if (sq_dec_finish(&d) != SQ_OK) {
            break;
        }
        if (!g->joining || !g->restart_mode ||
            (g->promised_to != UINT32_MAX && g->promised_to != peer)) {
            return;
        }
        g->promised_to = peer;
        g->promised_vid = vid;
        uint8_t buf[16];
        struct sq_enc e;
        sq_enc_init(&e, buf, sizeof(buf));
        sq_enc_u8(&e, GMS_RESTART_ACK);
        sq_enc_u64(&e, vid);
        (void)gms_send(g, peer, buf, sq_enc_len(&e));
        return;
    }
    case GMS_RESTART_ACK: {
        uint64_t vid;
        sq_dec_u64(&d, &vid);
        if (sq_dec_finish(&d) != SQ_OK) {
            break;
        }
        for (uint32_t i = 0; i < g->rs_count && g->joining && g->promised_to == g->my_id; i++) {
            if (g->rs[i].id == peer && vid == g->promised_vid) {
                g->rs[i].acked = true;
            }
        }
        return;
    }
    default:
        break;
    }
    SQ_WARN("grp", "malformed membership message dropped", "peer=%u type=%u size=%zu", peer,
            data[0], size);
}

int grp_state_send(struct grp_group *g, uint32_t joiner_id, const void *data, size_t size,
                   bool last)
{
    if (size > grp_state_chunk_max(g)) {
        return SQ_ETOOBIG;
    }
    uint32_t i = 0;
    while (i < g->xfer_count && g->xfers[i].joiner != joiner_id) {
        i++;
    }
    if (i == g->xfer_count) {
        return SQ_ENOTFOUND;
    }
    uint8_t *buf = malloc(GMS_STATE_HDR + size);
    if (buf == NULL) {
        return SQ_ENOMEM;
    }
    struct sq_enc e;
    sq_enc_init(&e, buf, GMS_STATE_HDR + size);
    sq_enc_u8(&e, GMS_STATE);
    sq_enc_u64(&e, g->xfers[i].req_id);
    sq_enc_u8(&e, last ? 1 : 0);
    sq_enc_lp32(&e, data, size);
    SQ_ASSERT(sq_enc_status(&e) == SQ_OK);
    int rc = gms_send(g, joiner_id, buf, sq_enc_len(&e));
    free(buf);
    if (rc == SQ_OK && last) {
        g->xfers[i] = g->xfers[--g->xfer_count];
    }
    return rc;
}

void grp_leave(struct grp_group *g)
{
    if (g->stopped) {
        return;
    }
    if (g->sst == NULL) {
        g->stopped = true;
        return;
    }
    wedge_with(g, UINT32_MAX, SQ_OK);
    /* Suspect myself, then raise rip, in that order (§5.11). */
    sst_set_u64(g->sst, g->c_suspected, g->my_rank, 1);
    sst_cell_push(g->sst, g->c_suspected, g->my_rank, SST_ALL);
    sst_set_u64(g->sst, g->c_rip, 0, 1);
    sst_cell_push(g->sst, g->c_rip, 0, SST_ALL);
    g->leaving = true;
    stop_with(g, SQ_OK, "left the group");
}

/* ---- driving ---- */

int grp_poll(struct grp_group *g)
{
    SQ_ASSERT(!g->reserved); /* a reservation must close before the next poll */
    SQ_ASSERT(!g->in_poll);
    if (g->stopped || g->sst == NULL) {
        return 0;
    }
    g->in_poll = true;
    for (uint32_t r = 0; g->rdmc_fail_later != 0 && r < g->view.member_count; r++) {
        if (g->rdmc_fail_later & rank_bit(r)) {
            g->rdmc_fail_later &= ~rank_bit(r);
            rdmc_engine_peer_failed(g->rdmc, g->view.members[r].id);
        }
    }
    /* RDMC frames the transport refused earlier (peer not up yet, back-pressure) go out now. */
    if (rdmc_engine_is_blocked(g->rdmc)) {
        rdmc_engine_kick(g->rdmc);
    }
    /* What was committed since the last poll goes out first, so this pass self-receives it;
     * what the pass itself asks for is sent by trig_send, the pass's last trigger. */
    int done = send_pass(g);
    done += sst_poll(g->sst);
    if (g->term == TERM_INSTALL && !g->stopped) {
        install_next(g);
        done++;
        if (!g->stopped) {
            done += send_pass(g);
        }
    }
    g->in_poll = false;
    return done;
}

void grp_group_stats(const struct grp_group *g, struct grp_stats *out)
{
    *out = g->stats;
    out->next_index = g->next_index;
    out->seq_num = g->seq_num;
    out->stable_seq = g->S > 0 && g->sst != NULL ? shard_min(g, g->c_seq, 0, -1) : -1;
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
    if (g->sst == NULL) {
        return SQ_OK;
    }
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
        CHECK(g->seq_num <= grp_seq_num(prefixes, g->S), "seq_num %lld passes what was received",
              (long long)g->seq_num);
    }
    CHECK(g->term != TERM_NONE || g->delivered_seq <= g->seq_num,
          "delivered %lld beyond received %lld", (long long)g->delivered_seq,
          (long long)g->seq_num);
    CHECK(g->persisted_frontier <= g->persisted_reported,
          "persisted frontier %lld passes my own report %lld", (long long)g->persisted_frontier,
          (long long)g->persisted_reported);
    CHECK(g->verified_frontier <= g->verified_reported,
          "verified frontier %lld passes my own report %lld", (long long)g->verified_frontier,
          (long long)g->verified_reported);
    /* The ring never runs more than a window ahead of what every member consumed: slot s was
     * filled only once every member had consumed slot s - window, and consumption is monotone. */
    if (g->my_sender >= 0 && g->slots_committed > (int64_t)g->set.window && !g->wedged) {
        int64_t consumed = shard_min(g, g->c_nrecv_sst, (uint32_t)g->my_sender, INT64_MAX);
        CHECK(consumed >= g->slots_committed - 1 - (int64_t)g->set.window,
              "ring overrun: committed %lld, consumed %lld", (long long)g->slots_committed,
              (long long)consumed);
    }
    /* An own undelivered SMC message kept in its slot still owns that slot. */
    for (uint32_t i = 0; i < g->outbox_count; i++) {
        const struct outbox_entry *e = &g->outbox[(g->outbox_head + i) % OUTBOX_MAX];
        CHECK(e->slot == UINT32_MAX || (e->slot < g->set.window && e->data == NULL &&
                                        g->slot_index[e->slot] == e->index),
              "outbox entry %lld lost its slot %u", (long long)e->index, e->slot);
    }
    uint32_t failed = 0;
    for (uint32_t r = 0; r < g->view.member_count; r++) {
        failed += g->failed[r] ? 1u : 0u;
    }
    CHECK(failed == g->failed_count, "failed count %u != %u", g->failed_count, failed);
    CHECK(g->stopped || failed < (g->view.member_count + 1) / 2,
          "running with %u of %u members failed", failed, g->view.member_count);
    return SQ_OK;
}

const char *grp_check_msg(const struct grp_group *g)
{
    return g->check_msg;
}
