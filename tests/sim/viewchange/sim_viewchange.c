/* Simulation swarm for membership (issue 6) on the deterministic network.
 *
 *   sim_viewchange [--seed S] [--seeds N] [--verbose] [--check-all] [--regressions]
 *   (--seed S alone replays seed S; with --seeds N, runs seeds S..S+N-1; --regressions also runs
 *   every seed that ever failed, regression_seeds below)
 *
 * Each seed draws 3..7 members, a workload spread over time (SMC and RDMC sizes), network delays
 * and faults, in two phases.
 *
 * Fault phase: crashes of members at random moments (some inside a view change, some of the
 * leader during cleanup), symmetric and one-way link cuts (some heal before the link times out,
 * some break the connection), a graceful leave, a slow member (its persistence lags), and delay
 * spikes (simnet_link_delay) on one link one way, one link both ways, or every link of one member,
 * some at a random moment and some aimed inside a view change: short ones (an extra delay under
 * 0.6 of the failure timeout) must not be noticed, long ones (one to six timeouts) may get their
 * member suspected and excluded, so they are drawn only while the disturbed members stay a
 * minority. The faults of a seed are printed with it (--verbose, or on failure). Most seeds
 * disturb fewer than half of the members; one in six crashes half or more (the survivors must
 * stop: the majority rule) and one in eight ends with every member crashed.
 *
 * Healed phase: every cut heals and every member that crashed, stopped or left comes back as a new
 * process with its durable log (what it had reported persisted; the rest is lost) and its last
 * logged view, and joins: through the running group (join request, redirect, view shipped, state
 * transfer of the versions it lacks from a member of its shard), or by a total restart when no
 * group survived. Once all members are in one view they each send a few more messages.
 *
 * Checked at the end of every run, printed with the seed that replays it on failure:
 *  - all logs agree: version v holds the same message at every member (delivered or transferred);
 *  - every member that delivers in view v delivers the same sequence in v, and a member that
 *    installed v+1 delivered all of it (or received it by state transfer);
 *  - no two members install the same view id with different membership;
 *  - nothing is delivered twice; every message of a member that was never disturbed is delivered
 *    everywhere;
 *  - nothing that reached the persistence frontier is lost, total restarts included: every log
 *    reaches the highest frontier any member ever saw;
 *  - with a majority up the survivors of the fault phase never stop; with half or more crashed
 *    they do (SQ_EPEER);
 *  - a seed whose only faults are short delay spikes (and maybe a slow member) installs no view
 *    but the first: a spike shorter than the failure timeout causes no view change;
 *  - after healing, the group installs one view of every member and delivers the new messages
 *    within 60 s of simulated time;
 *  - every member's invariants (grp_check) held: after every step on one seed in twenty, after
 *    every 64th step on the others (--check-all checks every step of every seed). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "base/prng.h"
#include "consensus/consensus.h"
#include "tests/sim/simnet.h"

#define NODES_MAX 7
#define MSGS_MAX 300
#define FINAL_MSGS 3
#define LOG_MAX (NODES_MAX * (MSGS_MAX + FINAL_MSGS) + 64)
#define VIEWS_MAX 64
#define RECV_BUFS 32
#define BLOCK_BYTES 1024
#define TICK_NS (1000 * 1000ull) /* 1 ms heartbeat */
#define FAIL_TIMEOUT_NS (20 * 1000 * 1000ull)
#define JOIN_RETRY_NS (20 * 1000 * 1000ull)
/* One seed in four asks to join every millisecond instead: a retry then often crosses the view
 * that answers it (a few network delays), which a validator under load sees at every start. Taken
 * from the seed, not drawn, so the other seeds' draws stay as they were. A member failed for such
 * a retry made seeds 163, 279, 299 and 367 fail (no progress, or diverging logs). */
#define JOIN_RETRY_FAST_NS (1000 * 1000ull)
#define READD_NS (5 * 1000 * 1000ull) /* a failed peer's connection is re-made after this */
#define REC_BYTES 24                 /* a log record in a state-transfer chunk */
#define RECORD_SENDER 0xFFFFu        /* a view's record in the log (settings.view_record) */
#define SPIKES_MAX 3
#define SPIKE_ALL UINT32_MAX /* spike.b: every link of spike.a */
#define FAULT_EVS_MAX (4 * NODES_MAX + 2 * SPIKES_MAX)
#define MS 1000000ull

/* A delay spike: links a->b (b->a too if `both`; every link of a if b is SPIKE_ALL) take `extra`
 * ns longer for messages sent during [at, at + len). */
struct spike {
    uint32_t a, b;
    uint32_t spare; /* a node whose links the spike leaves alone (UINT32_MAX: none) */
    bool both;
    bool is_long; /* extra at or above the failure timeout: a may be suspected */
    uint64_t extra, at, len;
};

struct rec {
    uint64_t vid;
    uint32_t sender;
    uint32_t counter;
    bool transferred; /* came by state transfer, not delivery */
};

struct node;

struct world {
    uint64_t seed;
    uint32_t n;
    struct simnet *sim;
    struct node *nodes;
    struct grp_settings set;
    struct grp_member validators[NODES_MAX];
    uint32_t crashes;
    bool majority_lost;
    bool total_crash;
    bool healed;
    uint64_t heal_at;
    char fail[512];
    uint64_t view_members[VIEWS_MAX]; /* vid -> membership bitmask (0 = not installed yet) */
    int64_t frontier_max;             /* highest persistence frontier any member saw */
    uint64_t steps;
    uint64_t check_every;
    struct spike spikes[SPIKES_MAX];
    uint32_t spike_count;
    bool calm; /* no fault but short spikes and a slow member: no view may change */
    char faults[768]; /* the seed's faults, printed with it */
    size_t faults_len;
};

struct recv_buf {
    uint8_t data[BLOCK_BYTES];
};

struct xfer_out {
    bool open;
    uint32_t joiner;
    int64_t next, to;
};

struct node {
    struct world *w;
    uint32_t id;
    struct net *net;
    struct grp_group *g;
    struct recv_buf *bufs;
    bool crashed;
    bool stopped;
    bool disturbed; /* crashed, stopped, left or restarted: its messages may be lost */
    bool left;
    bool cut;         /* the member a link cut isolated */
    bool stop_checked;
    bool slow;
    int stop_reason;
    uint64_t stop_view_members;
    uint64_t incarnation;
    /* workload */
    uint32_t to_send, sent;
    uint32_t sizes[MSGS_MAX + FINAL_MSGS];
    uint64_t send_at[MSGS_MAX + FINAL_MSGS];
    bool final_queued;
    int64_t record_pending; /* a joiner's view record, written once its state is in */
    /* the log: version v at recs[v]; [0, durable_len) survives a crash */
    struct rec *recs;
    int64_t log_len;
    int64_t durable_len;
    int64_t persisted_reported;
    bool persist_scheduled;
    uint64_t vid;
    bool have_view;
    struct grp_view last_view; /* logged at every install: survives a crash */
    struct xfer_out xfers[NODES_MAX];
    bool readd_pending[NODES_MAX];
};

static void failf(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void failf(struct world *w, const char *fmt, ...)
{
    if (w->fail[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->fail, sizeof(w->fail), fmt, ap);
    va_end(ap);
}

static void faults_add(struct world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void faults_add(struct world *w, const char *fmt, ...)
{
    size_t room = sizeof(w->faults) - w->faults_len;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(w->faults + w->faults_len, room, fmt, ap);
    va_end(ap);
    if (k > 0) {
        w->faults_len += (size_t)k < room ? (size_t)k : room - 1;
    }
}

static void fill_payload(uint8_t *p, uint32_t sender, uint32_t counter, uint32_t size)
{
    uint64_t st = ((uint64_t)sender << 32) | counter;
    for (uint32_t i = 0; i < size; i++) {
        if (i % 8 == 0) {
            st = sq_splitmix64(&st);
        }
        p[i] = (uint8_t)(st >> (8 * (i % 8)));
    }
    SQ_ASSERT(size >= 12);
    sq_le32_store(p, sender);
    sq_le32_store(p + 4, counter);
    sq_le32_store(p + 8, size);
}

/* ---- transport glue ---- */

static int rdmc_send(void *ctx, uint32_t peer, uint32_t imm, const void *data, size_t len)
{
    struct node *nd = ctx;
    return net_msg_send(nd->net, peer, imm, data, len, 0, 0);
}

static void post_bufs(struct node *nd, uint32_t peer)
{
    for (uint32_t b = 0; b < RECV_BUFS; b++) {
        struct recv_buf *rb = &nd->bufs[peer * RECV_BUFS + b];
        int rc = net_recv_post(nd->net, peer, rb->data, sizeof(rb->data), (uint64_t)(uintptr_t)rb);
        SQ_ASSERT(rc == SQ_OK);
    }
}

struct readd_ev {
    struct node *nd;
    uint32_t peer;
    uint64_t incarnation;
};
static struct readd_ev readd_evs[NODES_MAX][NODES_MAX];

/* As the TCP driver does: a failed connection is made again, so a restarted validator can come
 * back (the group decides whether it is a member). */
static void readd_cb(void *arg)
{
    struct readd_ev *r = arg;
    struct node *nd = r->nd;
    nd->readd_pending[r->peer] = false;
    if (nd->crashed || r->incarnation != nd->incarnation) {
        return;
    }
    net_peer_remove(nd->net, r->peer);
    int rc = net_peer_add(nd->net, r->peer);
    SQ_ASSERT(rc == SQ_OK);
    post_bufs(nd, r->peer);
}

static void on_peer_failed(void *arg, uint32_t peer, int reason)
{
    struct node *nd = arg;
    if (nd->crashed) {
        return;
    }
    if (nd->g != NULL) {
        grp_peer_failed(nd->g, peer, reason);
    }
    if (!nd->readd_pending[peer]) {
        nd->readd_pending[peer] = true;
        readd_evs[nd->id][peer] =
            (struct readd_ev){.nd = nd, .peer = peer, .incarnation = nd->incarnation};
        simnet_call_at(nd->w->sim, simnet_now(nd->w->sim) + READD_NS, nd->id, readd_cb,
                       &readd_evs[nd->id][peer]);
    }
}

static void on_recv_done(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                         size_t size)
{
    struct node *nd = arg;
    struct recv_buf *b = (struct recv_buf *)(uintptr_t)wr_id;
    if (status != SQ_OK || nd->crashed || nd->g == NULL) {
        return;
    }
    if (imm == grp_gms_imm()) {
        grp_gms_recv(nd->g, peer, b->data, size);
    } else {
        rdmc_engine_recv(grp_rdmc(nd->g), peer, imm, b->data, size);
    }
    (void)net_recv_post(nd->net, peer, b->data, sizeof(b->data), wr_id);
}

/* ---- the application: a log of delivered messages ---- */

static void log_append(struct node *nd, int64_t version, const struct rec *r)
{
    struct world *w = nd->w;
    if (version != nd->log_len) {
        failf(w, "node %u: version %lld after a log of %lld", nd->id, (long long)version,
              (long long)nd->log_len);
        return;
    }
    if (nd->log_len >= LOG_MAX) {
        failf(w, "node %u: log overflow", nd->id);
        return;
    }
    nd->recs[nd->log_len++] = *r;
}

static void on_deliver(void *ctx, uint32_t shard, uint32_t sender_id, uint64_t vid, int64_t seq,
                       int64_t version, const uint8_t *data, size_t size)
{
    (void)shard;
    (void)seq;
    struct node *nd = ctx;
    struct world *w = nd->w;
    if (size < 12 || sq_le32_load(data) != sender_id || sq_le32_load(data + 8) != size) {
        failf(w, "node %u: bad message from %u (size %zu)", nd->id, sender_id, size);
        return;
    }
    uint32_t counter = sq_le32_load(data + 4);
    static uint8_t expect[1 << 14];
    fill_payload(expect, sender_id, counter, (uint32_t)size);
    if (memcmp(expect, data, size) != 0) {
        failf(w, "node %u: message %u from %u corrupted", nd->id, counter, sender_id);
    }
    struct rec r = {.vid = vid, .sender = sender_id, .counter = counter};
    log_append(nd, version, &r);
}

/* The view's record at its reserved version (settings.view_record): every member writes it. */
static void append_record(struct node *nd, int64_t version, uint64_t vid)
{
    struct rec r = {.vid = vid, .sender = RECORD_SENDER, .counter = (uint32_t)vid};
    log_append(nd, version, &r);
}

static void on_persisted(void *ctx, uint32_t shard, int64_t version)
{
    (void)shard;
    struct node *nd = ctx;
    if (version > nd->w->frontier_max) {
        nd->w->frontier_max = version;
    }
}

static void on_view(void *ctx, const struct grp_view *view)
{
    struct node *nd = ctx;
    struct world *w = nd->w;
    uint64_t mask = 0;
    for (uint32_t r = 0; r < view->member_count; r++) {
        mask |= UINT64_C(1) << view->members[r].id;
    }
    if (view->vid >= VIEWS_MAX) {
        failf(w, "too many views");
    } else if (w->view_members[view->vid] == 0) {
        w->view_members[view->vid] = mask;
    } else if (w->view_members[view->vid] != mask) {
        failf(w, "view %llu installed with two memberships (%llx at node %u, %llx before)",
              (unsigned long long)view->vid, (unsigned long long)mask, nd->id,
              (unsigned long long)w->view_members[view->vid]);
    }
    if (nd->have_view && view->vid <= nd->vid) {
        failf(w, "node %u installed view %llu after %llu", nd->id, (unsigned long long)view->vid,
              (unsigned long long)nd->vid);
    }
    nd->vid = view->vid;
    nd->last_view = *view; /* the durable view log */
    nd->have_view = true;
    int64_t rv = grp_view_record_version(nd->g);
    if (rv >= 0 && grp_is_receiving_state(nd->g)) {
        nd->record_pending = rv;
    } else if (rv >= 0) {
        append_record(nd, rv, view->vid);
    }
}

static void on_stopped(void *ctx, int reason, const char *why)
{
    (void)why;
    struct node *nd = ctx;
    nd->stopped = true;
    nd->stop_reason = reason;
    const struct grp_view *v = grp_view(nd->g);
    nd->stop_view_members = 0;
    for (uint32_t r = 0; r < v->member_count; r++) {
        nd->stop_view_members |= UINT64_C(1) << v->members[r].id;
    }
}

static void on_state_request(void *ctx, uint32_t joiner, int64_t from, int64_t to)
{
    struct node *nd = ctx;
    if (to >= nd->durable_len) {
        failf(nd->w, "node %u asked for version %lld it has not made durable (%lld)", nd->id,
              (long long)to, (long long)nd->durable_len);
        return;
    }
    nd->xfers[joiner] = (struct xfer_out){.open = true, .joiner = joiner, .next = from, .to = to};
}

/* Sends what it can of the open transfers (chunks of records; back-pressure waits). */
static void xfer_pump(struct node *nd)
{
    size_t per = grp_state_chunk_max(nd->g) / REC_BYTES;
    for (uint32_t j = 0; j < nd->w->n; j++) {
        struct xfer_out *x = &nd->xfers[j];
        while (x->open) {
            uint8_t buf[BLOCK_BYTES];
            size_t k = 0;
            for (int64_t v = x->next; v <= x->to && k < per; v++, k++) {
                const struct rec *r = &nd->recs[v];
                uint8_t *p = buf + k * REC_BYTES;
                sq_le64_store(p, (uint64_t)v);
                sq_le64_store(p + 8, r->vid);
                sq_le32_store(p + 16, r->sender);
                sq_le32_store(p + 20, r->counter);
            }
            bool last = x->next + (int64_t)k > x->to;
            int rc = grp_state_send(nd->g, x->joiner, buf, k * REC_BYTES, last);
            if (rc == SQ_EAGAIN || rc == SQ_EFULL) {
                break;
            }
            if (rc != SQ_OK) {
                x->open = false; /* the joiner is gone or asked someone else */
                break;
            }
            x->next += (int64_t)k;
            x->open = !last;
        }
    }
}

static void on_state_receive(void *ctx, const uint8_t *data, size_t size, bool last)
{
    (void)last;
    struct node *nd = ctx;
    if (size % REC_BYTES != 0) {
        failf(nd->w, "node %u: state chunk of %zu bytes", nd->id, size);
        return;
    }
    for (size_t off = 0; off < size; off += REC_BYTES) {
        int64_t v = (int64_t)sq_le64_load(data + off);
        struct rec r = {.vid = sq_le64_load(data + off + 8),
                        .sender = sq_le32_load(data + off + 16),
                        .counter = sq_le32_load(data + off + 20),
                        .transferred = true};
        if (v < nd->log_len) {
            if (nd->recs[v].sender != r.sender || nd->recs[v].counter != r.counter) {
                failf(nd->w, "node %u: transferred version %lld differs from its log", nd->id,
                      (long long)v);
            }
            continue;
        }
        log_append(nd, v, &r);
    }
    if (last && nd->record_pending >= 0) {
        append_record(nd, nd->record_pending, nd->vid);
        nd->record_pending = -1;
    }
    nd->durable_len = nd->log_len; /* made durable before it is reported */
    if (nd->log_len - 1 > nd->persisted_reported) {
        nd->persisted_reported = nd->log_len - 1;
        grp_report_persisted(nd->g, nd->persisted_reported);
    }
}

static void on_truncate(void *ctx, int64_t keep)
{
    struct node *nd = ctx;
    nd->log_len = nd->durable_len = keep + 1;
    nd->persisted_reported = keep;
}

static void persist_cb(void *arg)
{
    struct node *nd = arg;
    nd->persist_scheduled = false;
    if (nd->crashed || nd->stopped || nd->g == NULL || grp_is_joining(nd->g)) {
        return;
    }
    nd->durable_len = nd->log_len;
    if (nd->log_len - 1 > nd->persisted_reported) {
        nd->persisted_reported = nd->log_len - 1;
        grp_report_persisted(nd->g, nd->persisted_reported);
    }
}

static void try_send(struct node *nd)
{
    uint64_t now = simnet_now(nd->w->sim);
    while (nd->sent < nd->to_send && nd->send_at[nd->sent] <= now) {
        uint32_t size = nd->sizes[nd->sent];
        void *buf;
        int rc = grp_send_reserve(nd->g, size, &buf);
        if (rc == SQ_EAGAIN || rc == SQ_EVIEW) {
            return; /* flow control, a view change or a join in progress: try later */
        }
        if (rc != SQ_OK) {
            failf(nd->w, "node %u: reserve(%u): %s", nd->id, size, sq_errname(rc));
            return;
        }
        fill_payload(buf, nd->id, nd->sent, size);
        grp_send_commit(nd->g);
        nd->sent++;
    }
}

static void node_poll(void *arg)
{
    struct node *nd = arg;
    if (nd->g == NULL || nd->crashed || nd->stopped) {
        return;
    }
    if (!grp_is_joining(nd->g)) {
        try_send(nd);
    }
    grp_poll(nd->g);
    xfer_pump(nd);
    if (nd->log_len - 1 > nd->persisted_reported && !nd->persist_scheduled &&
        !grp_is_joining(nd->g)) {
        nd->persist_scheduled = true;
        uint64_t delay = sq_prng_range(simnet_prng(nd->w->sim), 1000, 300000);
        if (nd->slow) {
            delay *= 20;
        }
        simnet_call_at(nd->w->sim, simnet_now(nd->w->sim) + delay, nd->id, persist_cb, nd);
    }
}

static void tick_cb(void *arg)
{
    struct node *nd = arg;
    if (nd->crashed || nd->stopped) {
        return;
    }
    grp_tick(nd->g, simnet_now(nd->w->sim));
    node_poll(nd);
    simnet_call_at(nd->w->sim, simnet_now(nd->w->sim) + TICK_NS, nd->id, tick_cb, nd);
}

/* Starts the node's process: transport handler, peers, buffers, and its group (a member of
 * `view`, or a joiner with its durable log when view is NULL). */
static void node_start(struct node *nd, const struct grp_view *view)
{
    struct world *w = nd->w;
    struct net_handler h = {.arg = nd, .peer_failed = on_peer_failed, .recv_done = on_recv_done};
    simnet_set_handler(w->sim, nd->id, &h);
    simnet_set_poll(w->sim, nd->id, node_poll, nd);
    memset(nd->readd_pending, 0, sizeof(nd->readd_pending));
    nd->record_pending = -1;
    memset(nd->xfers, 0, sizeof(nd->xfers));
    struct grp_upcalls up = {.ctx = nd, .deliver = on_deliver, .persisted = on_persisted,
                             .view_installed = on_view, .stopped = on_stopped,
                             .state_request = on_state_request,
                             .state_receive = on_state_receive, .truncate = on_truncate};
    struct rdmc_io io = {.ctx = nd, .send = rdmc_send};
    uint64_t join_retry_ns = w->seed % 4 == 3 ? JOIN_RETRY_FAST_NS : JOIN_RETRY_NS;
    struct grp_config gc = {.view = view,
                            .my_id = nd->id,
                            .net = nd->net,
                            .rdmc_io = &io,
                            .settings = &w->set,
                            .up = &up,
                            .version_base = nd->durable_len,
                            .heartbeat_ns = TICK_NS,
                            .failure_timeout_ns = FAIL_TIMEOUT_NS,
                            .validators = w->validators,
                            .validator_count = w->n,
                            .join = view == NULL,
                            .last_view = view == NULL && nd->have_view ? &nd->last_view : NULL,
                            .join_retry_ns = join_retry_ns};
    int rc = grp_group_create(&nd->g, &gc);
    SQ_ASSERT(rc == SQ_OK);
    for (uint32_t peer = 0; peer < w->n; peer++) {
        if (peer != nd->id) {
            if (view == NULL) {
                rc = net_peer_add(nd->net, peer);
                SQ_ASSERT(rc == SQ_OK);
            }
            post_bufs(nd, peer);
        }
    }
    if (view != NULL) {
        nd->last_view = *view; /* the first view is logged at creation */
        nd->have_view = true;
        nd->vid = view->vid;
    }
    grp_tick(nd->g, simnet_now(w->sim));
    simnet_call_at(w->sim, simnet_now(w->sim) + TICK_NS, nd->id, tick_cb, nd);
}

static void node_crash(struct node *nd)
{
    if (nd->crashed) {
        return;
    }
    nd->crashed = true;
    nd->disturbed = true;
    simnet_node_crash(nd->w->sim, nd->id);
    /* Unsynced deliveries are lost; the durable prefix and the view log survive. */
    nd->log_len = nd->durable_len;
}

/* A new process for a crashed, stopped or departed member: it rejoins with its durable state. */
static void node_restart(struct node *nd)
{
    node_crash(nd);
    grp_group_destroy(nd->g);
    nd->g = NULL;
    simnet_node_restart(nd->w->sim, nd->id);
    nd->incarnation++;
    nd->crashed = nd->stopped = false;
    nd->persisted_reported = nd->durable_len - 1;
    nd->persist_scheduled = false;
    nd->slow = false;
    /* Its last messages die with the old process if they were not delivered yet (a member that
     * stops loses what it had in flight): once the group is whole again the new process sends
     * new ones, with new counters so that a copy delivered before the stop is no duplicate. */
    if (nd->final_queued && nd->to_send + FINAL_MSGS <= MSGS_MAX + FINAL_MSGS) {
        nd->final_queued = false;
    }
    node_start(nd, NULL);
}

struct fault_ev {
    struct world *w;
    uint32_t a, b;
    int kind; /* 0 crash a, 1 cut a->b (both if b2), 2 heal, 3 leave a, 4/5 spike on/off */
    bool both;
    const struct spike *spike;
};
static struct fault_ev fault_evs[FAULT_EVS_MAX];

/* Sets the extra delay of every link of spike `s` (0 ends it). */
static void spike_set(struct world *w, const struct spike *s, uint64_t extra)
{
    for (uint32_t b = 0; b < w->n; b++) {
        if (b != s->a && b != s->spare && (s->b == SPIKE_ALL || s->b == b)) {
            simnet_link_delay(w->sim, s->a, b, extra, s->both);
        }
    }
}

static void fault_cb(void *arg)
{
    struct fault_ev *f = arg;
    struct world *w = f->w;
    struct node *a = &w->nodes[f->a];
    switch (f->kind) {
    case 0:
        node_crash(a);
        break;
    case 1:
        a->cut = true;
        simnet_link_cut(w->sim, f->a, f->b, f->both);
        break;
    case 2:
        simnet_link_heal(w->sim, f->a, f->b, f->both);
        break;
    case 3:
        if (!a->crashed && !a->stopped) {
            a->disturbed = a->left = true;
            grp_leave(a->g);
        }
        break;
    case 4:
    case 5:
        /* Spikes belong to the fault phase: healing has ended them all. */
        if (!w->healed) {
            const struct spike *s = f->spike;
            if (f->kind == 4 && s->is_long) {
                /* Counted as cut away by the majority rule's check (check_stop). */
                a->cut = true;
                if (s->b != SPIKE_ALL && s->both) {
                    w->nodes[s->b].cut = true;
                }
            }
            spike_set(w, s, f->kind == 4 ? s->extra : 0);
        }
        break;
    default:
        SQ_ASSERT(false);
    }
}

static void heal_cb(void *arg)
{
    struct world *w = arg;
    w->healed = true;
    for (uint32_t i = 0; i < w->spike_count; i++) {
        spike_set(w, &w->spikes[i], 0);
    }
    for (uint32_t a = 0; a < w->n; a++) {
        for (uint32_t b = 0; b < w->n; b++) {
            if (a != b) {
                simnet_link_heal(w->sim, a, b, false);
            }
        }
    }
    if (w->total_crash) {
        for (uint32_t i = 0; i < w->n; i++) {
            node_crash(&w->nodes[i]);
        }
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (nd->crashed || nd->stopped) {
            node_restart(nd);
        }
    }
}

static void world_check(void *arg)
{
    struct world *w = arg;
    if (w->steps++ % w->check_every != 0) {
        return;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].crashed && grp_check(w->nodes[i].g) != SQ_OK) {
            failf(w, "node %u: grp_check: %s", i, grp_check_msg(w->nodes[i].g));
        }
    }
}

/* The fault phase's majority rule: a member may stop only if half or more of the view it stopped
 * in was really disturbed (crashed, cut away, or itself excluded). Checked when it stops. */
static void check_stop(struct world *w, struct node *nd)
{
    if (nd->left || w->healed) {
        return; /* left, or stopped while joining back: it rejoins after healing */
    }
    if (nd->stop_reason == SQ_EVIEW) {
        /* Excluded: only a member some fault cut away (a cut, a long delay spike) may be
         * suspected; a short spike, a slow member or others' crashes must not make it look
         * failed. It rejoins after healing. */
        if (!nd->cut) {
            failf(w, "node %u excluded (suspected) though no fault cut it away", nd->id);
        }
        return;
    }
    uint32_t members = 0, lost = 0, rip = 0;
    for (uint32_t j = 0; j < w->n; j++) {
        if ((nd->stop_view_members >> j) & 1u) {
            members++;
            lost += j != nd->id && (w->nodes[j].crashed || w->nodes[j].cut);
            rip += w->nodes[j].left;
        }
    }
    if (nd->stop_reason != SQ_EPEER ||
        (!nd->cut && lost - (lost < rip ? lost : rip) < (members - rip + 1) / 2)) {
        failf(w, "node %u stopped (%s) with %u of %u members of its view lost", nd->id,
              sq_errname(nd->stop_reason), lost, members);
    }
}

static bool finished(void *arg)
{
    struct world *w = arg;
    if (w->fail[0] != '\0') {
        return true;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (nd->stopped && !nd->stop_checked) {
            nd->stop_checked = nd->disturbed = true;
            check_stop(w, nd);
        }
    }
    if (!w->healed) {
        return false;
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (nd->stopped) {
            nd->stop_checked = false;
            node_restart(nd); /* stopped after healing began: it comes back too */
        }
    }
    /* One view of every member, no joiner waiting, every final message delivered everywhere. */
    uint64_t all = (UINT64_C(1) << w->n) - 1;
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (nd->crashed || nd->stopped || grp_is_joining(nd->g)) {
            return false;
        }
        const struct grp_view *v = grp_view(nd->g);
        uint64_t mask = 0;
        for (uint32_t r = 0; r < v->member_count; r++) {
            mask |= UINT64_C(1) << v->members[r].id;
        }
        if (mask != all || grp_is_wedged(nd->g)) {
            return false;
        }
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (!nd->final_queued) {
            /* The members' last messages, sent once the group is whole again. */
            nd->final_queued = true;
            uint64_t now = simnet_now(w->sim);
            for (uint32_t m = 0; m < FINAL_MSGS; m++) {
                nd->sizes[nd->to_send] = 12 + m * 200;
                nd->send_at[nd->to_send++] = now;
            }
        }
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (nd->sent < nd->to_send) {
            return false;
        }
        uint32_t finals = 0;
        for (int64_t v = 0; v < nd->log_len; v++) {
            const struct rec *r = &nd->recs[v];
            if (r->sender != RECORD_SENDER) {
                finals += r->counter >= w->nodes[r->sender].to_send - FINAL_MSGS;
            }
        }
        if (finals < w->n * FINAL_MSGS) {
            return false;
        }
    }
    return true;
}

static void oracle(struct world *w)
{
    /* Logs agree version by version (delivered or transferred). */
    for (uint32_t i = 0; i < w->n; i++) {
        for (uint32_t j = i + 1; j < w->n; j++) {
            const struct node *a = &w->nodes[i], *b = &w->nodes[j];
            int64_t common = a->log_len < b->log_len ? a->log_len : b->log_len;
            for (int64_t v = 0; v < common; v++) {
                if (a->recs[v].sender != b->recs[v].sender ||
                    a->recs[v].counter != b->recs[v].counter || a->recs[v].vid != b->recs[v].vid) {
                    failf(w, "nodes %u and %u differ at version %lld", i, j, (long long)v);
                    return;
                }
            }
        }
    }
    /* Nothing that reached the persistence frontier is lost. */
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->nodes[i].log_len <= w->frontier_max) {
            failf(w, "node %u: log of %lld versions lost the frontier %lld", i,
                  (long long)w->nodes[i].log_len, (long long)w->frontier_max);
            return;
        }
    }
    /* Nothing twice; every message of an undisturbed member everywhere. */
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        static uint8_t seen[NODES_MAX][MSGS_MAX + FINAL_MSGS];
        memset(seen, 0, sizeof(seen));
        for (int64_t v = 0; v < nd->log_len; v++) {
            const struct rec *r = &nd->recs[v];
            if (r->sender == RECORD_SENDER) {
                if (!w->set.view_record || r->counter != (uint32_t)r->vid) {
                    failf(w, "node %u: a bad view record at version %lld", i, (long long)v);
                    return;
                }
                continue;
            }
            if (r->sender >= w->n || r->counter >= MSGS_MAX + FINAL_MSGS) {
                failf(w, "node %u: an unknown message in its log", i);
                return;
            }
            if (seen[r->sender][r->counter]++) {
                failf(w, "node %u holds message %u of %u twice", i, r->counter, r->sender);
                return;
            }
        }
        for (uint32_t s = 0; s < w->n; s++) {
            if (w->nodes[s].disturbed) {
                continue;
            }
            for (uint32_t c = 0; c < w->nodes[s].to_send; c++) {
                if (!seen[s][c]) {
                    failf(w, "node %u never delivered message %u of undisturbed member %u", i, c,
                          s);
                    return;
                }
            }
        }
    }
    /* Per view: deliveries are a contiguous run of versions of the shared log, so agreement of
     * the logs makes every member's sequence in v a prefix of one sequence; a member that went on
     * to a later view holds all of v. */
    for (uint32_t i = 0; i < w->n; i++) {
        const struct node *nd = &w->nodes[i];
        for (int64_t v = 1; v < nd->log_len; v++) {
            if (nd->recs[v].vid < nd->recs[v - 1].vid) {
                failf(w, "node %u: view ids go down in its log at version %lld", i, (long long)v);
                return;
            }
        }
    }
}

static bool check_all;

/* Draws the seed's delay spikes (after every other fault, so the other faults of a seed stay as
 * they were drawn before spikes existed) and schedules them on order[n - 1], the member no fault
 * crashes before healing. Short ones anywhere; long ones only on members order[disturbed..] while
 * the disturbed stay a minority (a long spike can get its member, or both ends of a two-way link
 * spike, suspected and excluded). Some are aimed inside the view change that follows a crash:
 * after the crash is detected (fail_detect_ns), within the next 10 ms. Short ones leave the links
 * of the member a cut isolates alone: a cut holds what a spike delayed, so the two add up to a
 * silence longer than either (a second disturbed member). */
static void draw_spikes(struct world *w, struct sq_prng *p, const uint32_t *order,
                        const uint64_t *crash_at, uint32_t disturbed, uint32_t cut_victim,
                        uint64_t fail_detect, uint64_t horizon, uint32_t *nf)
{
    uint32_t minority_max = (w->n - 1) / 2;
    uint64_t t0 = simnet_now(w->sim);
    w->spike_count = (uint32_t)sq_prng_below(p, SPIKES_MAX + 1);
    for (uint32_t i = 0; i < w->spike_count; i++) {
        struct spike *s = &w->spikes[i];
        uint32_t shape = (uint32_t)sq_prng_below(p, 3); /* one way, both ways, every link */
        uint32_t slots = shape == 1 ? 2 : 1;
        s->is_long = !w->majority_lost && disturbed + slots <= minority_max &&
                     sq_prng_chance(p, 1, 2);
        s->spare = UINT32_MAX;
        if (s->is_long) {
            /* One way a->b gets only a suspected (b hears nothing from it); both ways, both. */
            s->a = order[disturbed];
            s->b = shape == 1 ? order[disturbed + 1] : SPIKE_ALL;
            if (shape == 0) {
                s->b = (s->a + 1 + (uint32_t)sq_prng_below(p, w->n - 1)) % w->n;
            }
            disturbed += slots;
            s->extra = sq_prng_range(p, FAIL_TIMEOUT_NS, 6 * FAIL_TIMEOUT_NS);
            w->calm = false;
        } else {
            s->a = (uint32_t)sq_prng_below(p, w->n);
            s->b = (s->a + 1 + (uint32_t)sq_prng_below(p, w->n - 1)) % w->n;
            if (shape == 2) {
                s->b = SPIKE_ALL;
            }
            s->spare = cut_victim;
            if (cut_victim != UINT32_MAX && (s->a == cut_victim || s->b == cut_victim)) {
                /* Moved to the next member past the victim (n >= 3 leaves one). */
                uint32_t other = s->a == cut_victim ? s->b : s->a;
                uint32_t next = (cut_victim + 1) % w->n;
                next = next == other ? (next + 1) % w->n : next;
                if (s->a == cut_victim) {
                    s->a = next;
                } else {
                    s->b = next;
                }
            }
            /* Under 0.6 of the timeout: the silence a peer sees is the spike plus a heartbeat
             * period, a tick and the usual delay, all well inside the timeout. */
            s->extra = sq_prng_range(p, FAIL_TIMEOUT_NS / 20, FAIL_TIMEOUT_NS * 6 / 10);
        }
        s->both = shape == 1 || (shape == 2 && sq_prng_chance(p, 1, 2));
        s->len = sq_prng_range(p, 1 * MS, 100 * MS);
        bool in_vc = w->crashes > 0 && sq_prng_chance(p, 1, 2);
        if (in_vc) {
            uint64_t c = crash_at[sq_prng_below(p, w->crashes)];
            s->at = c + fail_detect + sq_prng_below(p, 10 * MS);
        } else {
            s->at = t0 + sq_prng_below(p, horizon);
        }
        char b[16] = "*";
        if (s->b != SPIKE_ALL) {
            snprintf(b, sizeof(b), "%u", s->b);
        } else if (s->spare != UINT32_MAX) {
            snprintf(b, sizeof(b), "*-%u", s->spare); /* every link but those of s->spare */
        }
        faults_add(w, "spike %u%s%s +%llums for %llums @%llums%s%s; ", s->a,
                   s->both ? "<->" : "->", b, (unsigned long long)(s->extra / MS),
                   (unsigned long long)(s->len / MS), (unsigned long long)((s->at - t0) / MS),
                   s->is_long ? " long" : "", in_vc ? " in-vc" : "");
        uint32_t anchor = order[w->n - 1];
        fault_evs[*nf] = (struct fault_ev){.w = w, .a = s->a, .kind = 4, .spike = s};
        simnet_call_at(w->sim, s->at, anchor, fault_cb, &fault_evs[(*nf)++]);
        fault_evs[*nf] = (struct fault_ev){.w = w, .a = s->a, .kind = 5, .spike = s};
        simnet_call_at(w->sim, s->at + s->len, anchor, fault_cb, &fault_evs[(*nf)++]);
    }
}

static int run_one(uint64_t seed, bool verbose, uint64_t *trace)
{
    struct world w;
    memset(&w, 0, sizeof(w));
    w.seed = seed;
    w.check_every = (seed % 20 == 0 || check_all) ? 1 : 64;
    w.frontier_max = -1;
    struct sq_prng p;
    sq_prng_seed(&p, seed ^ UINT64_C(0xc4a5));
    w.n = (uint32_t)sq_prng_range(&p, 3, NODES_MAX);
    grp_settings_default(&w.set);
    w.set.window = (uint32_t)sq_prng_range(&p, 2, 16);
    w.set.smc_payload_max = (uint32_t)sq_prng_range(&p, 12, 300);
    w.set.msg_payload_max = 6 * BLOCK_BYTES;
    w.set.rdmc.block_bytes = BLOCK_BYTES;
    w.set.rdmc.sched = (enum rdmc_sched)sq_prng_below(&p, RDMC_SCHED_COUNT);
    w.set.view_record = sq_prng_chance(&p, 1, 2);
    struct simnet_config sc = {.seed = seed, .node_count = w.n, .delay_min_ns = 1000,
                               .delay_max_ns = sq_prng_range(&p, 5000, 500000),
                               .fail_detect_ns = sq_prng_range(&p, 1000000, 50000000),
                               .link_timeout_ns = sq_prng_range(&p, 2000000, 40000000)};
    int rc = simnet_create(&w.sim, &sc);
    SQ_ASSERT(rc == SQ_OK);
    /* Faults: usually a minority is disturbed; one seed in six crashes half or more; one in
     * eight ends with everyone crashed (a total restart). */
    uint32_t minority_max = (w.n - 1) / 2;
    if (sq_prng_chance(&p, 1, 6)) {
        w.crashes = (uint32_t)sq_prng_range(&p, (w.n + 1) / 2, w.n - 1);
        w.majority_lost = true;
    } else {
        w.crashes = (uint32_t)sq_prng_range(&p, 0, minority_max);
    }
    w.total_crash = sq_prng_chance(&p, 1, 8);
    struct grp_view view;
    memset(&view, 0, sizeof(view));
    view.member_count = w.n;
    for (uint32_t i = 0; i < w.n; i++) {
        view.members[i].id = i;
        w.validators[i].id = i;
    }
    w.nodes = calloc(w.n, sizeof(*w.nodes));
    SQ_ASSERT(w.nodes != NULL);
    uint64_t t0 = simnet_now(w.sim);
    uint64_t horizon = 200 * 1000 * 1000ull; /* sends spread over 200 ms */
    w.heal_at = t0 + horizon + sq_prng_range(&p, 0, 300 * 1000 * 1000ull);
    for (uint32_t i = 0; i < w.n; i++) {
        struct node *nd = &w.nodes[i];
        nd->w = &w;
        nd->id = i;
        nd->net = simnet_net(w.sim, i);
        nd->bufs = calloc((size_t)w.n * RECV_BUFS, sizeof(*nd->bufs));
        nd->recs = calloc(LOG_MAX, sizeof(struct rec));
        SQ_ASSERT(nd->bufs != NULL && nd->recs != NULL);
        nd->persisted_reported = -1;
        nd->to_send = sq_prng_chance(&p, 4, 5) ? (uint32_t)sq_prng_range(&p, 1, 120) : 0;
        uint64_t at = t0;
        for (uint32_t m = 0; m < nd->to_send; m++) {
            uint64_t r = sq_prng_below(&p, 10);
            nd->sizes[m] = r < 7 ? (uint32_t)sq_prng_range(&p, 12, w.set.smc_payload_max)
                                 : (uint32_t)sq_prng_range(&p, w.set.smc_payload_max,
                                                           w.set.msg_payload_max);
            at += sq_prng_below(&p, 2 * horizon / MSGS_MAX + 1);
            nd->send_at[m] = at;
        }
    }
    simnet_connect_all(w.sim);
    for (uint32_t i = 0; i < w.n; i++) {
        node_start(&w.nodes[i], &view);
    }
    w.view_members[0] = (UINT64_C(1) << w.n) - 1;
    /* Crash distinct members at random moments within and after the send horizon. */
    uint32_t order[NODES_MAX];
    for (uint32_t i = 0; i < w.n; i++) {
        order[i] = i;
    }
    for (uint32_t i = w.n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)sq_prng_below(&p, i + 1);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    uint32_t nf = 0;
    uint64_t crash_at[NODES_MAX];
    for (uint32_t c = 0; c < w.crashes; c++) {
        /* Sometimes two crashes close together: the second lands inside the view change (and
         * sometimes it is the leader, rank 0, during cleanup). */
        uint64_t at = t0 + sq_prng_below(&p, horizon);
        if (c > 0 && sq_prng_chance(&p, 1, 3)) {
            at = t0 + sq_prng_below(&p, 30 * 1000 * 1000ull);
        }
        crash_at[c] = at;
        faults_add(&w, "crash %u @%llums; ", order[c], (unsigned long long)((at - t0) / MS));
        fault_evs[nf] = (struct fault_ev){.w = &w, .a = order[c], .kind = 0};
        simnet_call_at(w.sim, at, order[c], fault_cb, &fault_evs[nf++]);
    }
    uint32_t disturbed = w.crashes; /* members the faults may take away (order[0..disturbed)) */
    uint32_t cut_victim = UINT32_MAX;
    /* Without a lost majority: maybe a cut that isolates one member (both ways or one way), maybe
     * a graceful leave, maybe a slow member, among the members that do not crash. */
    if (!w.majority_lost && w.crashes < minority_max) {
        uint32_t a = order[w.crashes];
        uint64_t at = t0 + sq_prng_below(&p, horizon);
        bool both = sq_prng_chance(&p, 1, 2);
        uint64_t len = sq_prng_chance(&p, 1, 2) ? sq_prng_below(&p, sc.link_timeout_ns / 2)
                                                : sc.link_timeout_ns * 2;
        if (sq_prng_chance(&p, 1, 2)) {
            disturbed++;
            cut_victim = a;
            faults_add(&w, "cut %u%s* %llums @%llums; ", a, both ? "<->" : "->",
                       (unsigned long long)(len / MS), (unsigned long long)((at - t0) / MS));
            for (uint32_t b = 0; b < w.n && nf + 2 <= 4 * NODES_MAX; b++) {
                if (b == a) {
                    continue;
                }
                fault_evs[nf] = (struct fault_ev){.w = &w, .a = a, .b = b, .kind = 1, .both = both};
                simnet_call_at(w.sim, at, a, fault_cb, &fault_evs[nf++]);
                fault_evs[nf] = (struct fault_ev){.w = &w, .a = a, .b = b, .kind = 2, .both = both};
                simnet_call_at(w.sim, at + len, a, fault_cb, &fault_evs[nf++]);
            }
        } else if (sq_prng_chance(&p, 1, 2)) {
            disturbed++;
            faults_add(&w, "leave %u @%llums; ", a, (unsigned long long)((at - t0) / MS));
            fault_evs[nf] = (struct fault_ev){.w = &w, .a = a, .kind = 3};
            simnet_call_at(w.sim, at, a, fault_cb, &fault_evs[nf++]);
        }
    }
    if (!w.majority_lost && sq_prng_chance(&p, 1, 4)) {
        w.nodes[order[w.n - 1]].slow = true;
        faults_add(&w, "slow %u; ", order[w.n - 1]);
    }
    w.calm = disturbed == 0 && !w.total_crash;
    draw_spikes(&w, &p, order, crash_at, disturbed, cut_victim, sc.fail_detect_ns, horizon, &nf);
    if (w.total_crash) {
        faults_add(&w, "total crash at heal; ");
    }
    simnet_call_at(w.sim, w.heal_at, order[w.n - 1], heal_cb, &w);
    simnet_set_check(w.sim, world_check, &w);
    bool ok = simnet_run_until_cond(w.sim, finished, &w, w.heal_at + 60 * SQ_NS_PER_S);
    if (w.fail[0] == '\0' && !ok) {
        failf(&w, "no progress within 60 s of simulated time after healing");
        for (uint32_t i = 0; i < w.n; i++) {
            struct node *nd = &w.nodes[i];
            struct grp_stats st;
            grp_group_stats(nd->g, &st);
            fprintf(stderr,
                    "  node %u: crashed %d stopped %d joining %d vid %llu sent %u/%u log %lld "
                    "seq %lld stable %lld dseq %lld\n",
                    i, nd->crashed, nd->stopped, grp_is_joining(nd->g),
                    (unsigned long long)grp_view(nd->g)->vid, nd->sent, nd->to_send,
                    (long long)nd->log_len, (long long)st.seq_num, (long long)st.stable_seq,
                    (long long)st.delivered_seq);
        }
    }
    if (w.fail[0] == '\0') {
        oracle(&w);
    }
    for (uint64_t v = 1; v < VIEWS_MAX && w.calm && w.fail[0] == '\0'; v++) {
        if (w.view_members[v] != 0) {
            failf(&w, "view %llu installed though the only faults were short delay spikes",
                  (unsigned long long)v);
        }
    }
    uint64_t h = simnet_trace_hash(w.sim);
    for (uint32_t i = 0; i < w.n; i++) {
        for (int64_t v = 0; v < w.nodes[i].log_len; v++) {
            const struct rec *r = &w.nodes[i].recs[v];
            h ^= ((uint64_t)r->counter << 20) ^ r->sender ^ ((uint64_t)i << 56) ^ r->vid;
            h = sq_splitmix64(&h);
        }
    }
    *trace = h;
    if (verbose || w.fail[0] != '\0') {
        fprintf(stderr,
                "seed %" PRIu64 ": n=%u crashes=%u%s%s views=%llu t=%.3fs %s%s\n  faults: %s\n",
                seed, w.n, w.crashes, w.majority_lost ? " (majority lost)" : "",
                w.total_crash ? " (total restart)" : "",
                (unsigned long long)grp_view(w.nodes[0].g)->vid,
                (double)(simnet_now(w.sim) - t0) / 1e9, w.fail[0] ? "FAIL: " : "ok", w.fail,
                w.faults_len > 0 ? w.faults : "none");
    }
    for (uint32_t i = 0; i < w.n; i++) {
        grp_group_destroy(w.nodes[i].g);
    }
    simnet_destroy(w.sim);
    for (uint32_t i = 0; i < w.n; i++) {
        free(w.nodes[i].bufs);
        free(w.nodes[i].recs);
    }
    free(w.nodes);
    return w.fail[0] ? 1 : 0;
}

/* Every seed that ever failed, run with --regressions (ctest does) besides the range, each with
 * what it caught. The first four failed while delay spikes were added (test model, not group.c);
 * the fix of 951, 967 and 1065 changed what they draw, so they now run other faults. */
static const uint64_t regression_seeds[] = {
    895,  /* a member restarted after its last messages were queued: nobody sent them again */
    951,  /* a short spike on the links of a cut member: the two added up to a long silence */
    967,  /* the same */
    1065, /* the same */
    2419, /* a member waiting in the old view on one slowed by a spike (then crashed) timed out
           * those that had installed the next view and stopped by the majority rule (group.c;
           * the draws of every-link spikes were fixed since, so it runs other faults now) */
    1408, /* the leader failed before its commit reached every member: the one it missed waited
           * for a commit from the next leader, which had moved on (group.c) */
    1465, /* the same, with a crash of the leader */
    299,  /* a join retry that crossed the total restart view was taken for a restarted member:
           * members kicked each other out, restarts repeated, and two logs diverged (group.c) */
    367,  /* the same: no progress after the total restart */
};

/* Runs seed `s` (twice when `twice`, to check it is deterministic); returns the failures. */
static uint64_t run_seed(uint64_t s, bool verbose, bool twice)
{
    uint64_t t1, t2;
    if (run_one(s, verbose, &t1) != 0) {
        fprintf(stderr, "FAILED: replay with: sim_viewchange --seed %" PRIu64 "\n", s);
        return 1;
    }
    if (twice && (run_one(s, false, &t2) != 0 || t1 != t2)) {
        fprintf(stderr, "FAILED: seed %" PRIu64 " is not deterministic\n", s);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bool regressions = false;
    uint64_t seed = 1, seeds = 1;
    bool verbose = false, one = false, many = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
            one = true;
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = strtoull(argv[++i], NULL, 10);
            many = true;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--check-all") == 0) {
            check_all = true;
        } else if (strcmp(argv[i], "--regressions") == 0) {
            regressions = true;
        } else {
            fprintf(stderr,
                    "usage: sim_viewchange [--seed S] [--seeds N] [--verbose] [--check-all] "
                    "[--regressions]\n");
            return 2;
        }
    }
    sq_log_set_level(verbose ? SQ_LOG_INFO : SQ_LOG_OFF);
    if (one && !many) {
        seeds = 1; /* --seed S alone replays one seed; with --seeds N it is the first of N */
    }
    uint64_t failed = 0, total = seeds;
    for (size_t i = 0; regressions && i < sizeof(regression_seeds) / sizeof(regression_seeds[0]);
         i++) {
        uint64_t s = regression_seeds[i];
        if (s < seed || s >= seed + seeds) {
            failed += run_seed(s, verbose, true);
            total++;
        }
    }
    for (uint64_t s = seed; s < seed + seeds; s++) {
        failed += run_seed(s, verbose, s % 25 == 0 || one);
    }
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", total - failed, failed);
    return failed ? 1 : 0;
}
