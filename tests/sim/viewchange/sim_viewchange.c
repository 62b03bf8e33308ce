/* Simulation swarm for view changes (issue 6) on the deterministic network.
 *
 *   sim_viewchange [--seed S] [--seeds N] [--verbose] [--check-all]
 *
 * Each seed draws 3..7 members, a workload spread over time (SMC and RDMC sizes), network delays,
 * and faults: crashes of members at random moments (some in the middle of a view change), delay
 * spikes, a slow member. Heartbeats tick on the virtual clock. Most seeds crash fewer than half of
 * the members (the group must go on); some crash half or more (the survivors must stop). Checked
 * at the end of every run, printed with the seed that replays it on failure:
 *  - every member that delivers in view v delivers the same sequence in v: the members that
 *    installed v+1 delivered identical sequences in v, and a member that crashed in v delivered a
 *    prefix of it;
 *  - no two members installed the same view id with different membership;
 *  - every message a surviving member sent is delivered exactly once at every survivor (own
 *    undelivered messages are re-sent in the next view), and no message is delivered twice;
 *  - nothing that reached the persistence frontier is lost: every survivor's versions are dense
 *    and its deliveries in order;
 *  - with a majority alive, the survivors end in one view of exactly the survivors and deliver
 *    everything within the deadline; with half or more crashed, the survivors stop;
 *  - every member's invariants (grp_check) held: after every step on one seed in twenty, after
 *    every 64th step on the others (the walkers cost more than the protocol; the sampling keeps
 *    300 seeds within CI's budget; --check-all checks every step of every seed). */
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
#define DELIV_MAX (NODES_MAX * MSGS_MAX * 2)
#define VIEWS_MAX 16
#define RECV_BUFS 32
#define BLOCK_BYTES 1024
#define TICK_NS (1000 * 1000ull)          /* 1 ms heartbeat */
#define FAIL_TIMEOUT_NS (20 * 1000 * 1000ull)

struct rec {
    uint64_t vid;
    uint32_t sender;
    uint32_t counter;
    int64_t version;
};

struct node;

struct world {
    uint64_t seed;
    uint32_t n;
    struct simnet *sim;
    struct node *nodes;
    struct grp_settings set;
    uint32_t crashes;
    bool majority_lost;
    char fail[512];
    /* installed views: vid -> membership bitmask (0 = unknown yet) */
    uint64_t view_members[VIEWS_MAX];
    uint64_t steps;
    uint64_t check_every;
};

struct recv_buf {
    uint8_t data[BLOCK_BYTES];
};

struct node {
    struct world *w;
    uint32_t id;
    struct net *net;
    struct grp_group *g;
    struct recv_buf *bufs;
    bool crashed;
    bool stopped;
    int stop_reason;
    uint64_t stop_view_members; /* membership of the view it stopped in */
    /* workload */
    uint32_t to_send, sent;
    uint32_t sizes[MSGS_MAX];
    uint64_t send_at[MSGS_MAX];
    /* deliveries */
    struct rec *recs;
    uint32_t rec_count;
    int64_t last_version;
    int64_t persisted_reported;
    bool persist_scheduled;
    uint64_t vid;
    uint64_t views_installed;
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

static int rdmc_send(void *ctx, uint32_t peer, uint32_t imm, const void *data, size_t len)
{
    struct node *nd = ctx;
    return net_msg_send(nd->net, peer, imm, data, len, 0, 0);
}

static void on_peer_failed(void *arg, uint32_t peer, int reason)
{
    struct node *nd = arg;
    if (nd->g != NULL && !nd->crashed) {
        grp_peer_failed(nd->g, peer, reason);
    }
}

static void on_recv_done(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                         size_t size)
{
    struct node *nd = arg;
    struct recv_buf *b = (struct recv_buf *)(uintptr_t)wr_id;
    if (status != SQ_OK || nd->crashed) {
        return;
    }
    rdmc_engine_recv(grp_rdmc(nd->g), peer, imm, b->data, size);
    (void)net_recv_post(nd->net, peer, b->data, sizeof(b->data), wr_id);
}

static void on_deliver(void *ctx, uint32_t shard, uint32_t sender_id, uint64_t vid, int64_t seq,
                       int64_t version, const uint8_t *data, size_t size)
{
    (void)shard;
    (void)seq;
    struct node *nd = ctx;
    struct world *w = nd->w;
    if (version != nd->last_version + 1) {
        failf(w, "node %u: version %lld after %lld", nd->id, (long long)version,
              (long long)nd->last_version);
    }
    nd->last_version = version;
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
    if (nd->rec_count >= DELIV_MAX) {
        failf(w, "node %u delivered too much", nd->id);
        return;
    }
    nd->recs[nd->rec_count++] =
        (struct rec){.vid = vid, .sender = sender_id, .counter = counter, .version = version};
}

static void on_view(void *ctx, const struct grp_view *view)
{
    struct node *nd = ctx;
    struct world *w = nd->w;
    uint64_t mask = 0;
    for (uint32_t r = 0; r < view->member_count; r++) {
        mask |= UINT64_C(1) << view->members[r].id;
    }
    if (view->vid < VIEWS_MAX) {
        if (w->view_members[view->vid] == 0) {
            w->view_members[view->vid] = mask;
        } else if (w->view_members[view->vid] != mask) {
            failf(w, "view %llu installed with two memberships (%llx at node %u, %llx before)",
                  (unsigned long long)view->vid, (unsigned long long)mask, nd->id,
                  (unsigned long long)w->view_members[view->vid]);
        }
    }
    if (view->vid != nd->vid + 1) {
        failf(w, "node %u installed view %llu after %llu", nd->id, (unsigned long long)view->vid,
              (unsigned long long)nd->vid);
    }
    nd->vid = view->vid;
    nd->views_installed++;
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

static void persist_cb(void *arg)
{
    struct node *nd = arg;
    nd->persist_scheduled = false;
    if (nd->crashed || nd->stopped) {
        return;
    }
    if (nd->last_version > nd->persisted_reported) {
        nd->persisted_reported = nd->last_version;
        grp_report_persisted(nd->g, nd->last_version);
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
            return; /* flow control, or a view change in progress: try later */
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
    try_send(nd);
    grp_poll(nd->g);
    if (nd->last_version > nd->persisted_reported && !nd->persist_scheduled) {
        nd->persist_scheduled = true;
        uint64_t delay = sq_prng_range(simnet_prng(nd->w->sim), 1000, 300000);
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

struct crash_ev {
    struct world *w;
    uint32_t id;
};

static struct crash_ev crash_evs[NODES_MAX];

static void crash_cb(void *arg)
{
    struct crash_ev *c = arg;
    struct node *nd = &c->w->nodes[c->id];
    nd->crashed = true;
    simnet_node_crash(c->w->sim, c->id);
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

static bool finished(void *arg)
{
    struct world *w = arg;
    if (w->fail[0] != '\0') {
        return true;
    }
    /* Once one survivor stopped (majority lost in its view), the others must stop too. */
    bool any_stopped = false, all_stopped = true;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].crashed) {
            any_stopped |= w->nodes[i].stopped;
            all_stopped &= w->nodes[i].stopped;
        }
    }
    if (any_stopped) {
        return all_stopped;
    }
    /* Every survivor in a view of exactly the survivors, having delivered every survivor's
     * messages. */
    uint32_t expect = 0;
    uint64_t alive = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].crashed) {
            expect += w->nodes[i].to_send;
            alive |= UINT64_C(1) << i;
        }
    }
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (nd->crashed) {
            continue;
        }
        const struct grp_view *v = grp_view(nd->g);
        uint64_t mask = 0;
        for (uint32_t r = 0; r < v->member_count; r++) {
            mask |= UINT64_C(1) << v->members[r].id;
        }
        if (mask != alive || nd->sent < nd->to_send) {
            return false;
        }
        uint32_t got = 0;
        for (uint32_t d = 0; d < nd->rec_count; d++) {
            got += (uint32_t)((alive >> nd->recs[d].sender) & 1u);
        }
        if (got < expect) {
            return false;
        }
    }
    return true;
}

static void oracle(struct world *w)
{
    uint64_t alive = 0;
    for (uint32_t i = 0; i < w->n; i++) {
        if (!w->nodes[i].crashed) {
            alive |= UINT64_C(1) << i;
        }
    }
    /* The majority rule is per view (§5.8): a survivor may stop only if half or more of the
     * view it stopped in really crashed; then the group is over and liveness is not asked. */
    bool group_over = false;
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        if (nd->crashed || !nd->stopped) {
            continue;
        }
        uint32_t members = 0, dead = 0;
        for (uint32_t j = 0; j < w->n; j++) {
            if ((nd->stop_view_members >> j) & 1u) {
                members++;
                dead += w->nodes[j].crashed ? 1u : 0u;
            }
        }
        if (nd->stop_reason != SQ_EPEER || dead < (members + 1) / 2) {
            failf(w, "node %u stopped (%s) with %u of %u members of its view crashed", i,
                  sq_errname(nd->stop_reason), dead, members);
            return;
        }
        group_over = true;
    }
    w->majority_lost = group_over;
    /* Per view: the members that went on to the next view delivered identical sequences in it;
     * everyone else (crashed, stopped) delivered a prefix. The reference for view v is the
     * longest sequence any member delivered in v. */
    for (uint64_t v = 0; v < VIEWS_MAX; v++) {
        const struct rec *ref = NULL;
        uint32_t ref_len = 0, ref_node = 0;
        for (uint32_t i = 0; i < w->n; i++) {
            struct node *nd = &w->nodes[i];
            uint32_t a = 0;
            while (a < nd->rec_count && nd->recs[a].vid < v) {
                a++;
            }
            uint32_t b = a;
            while (b < nd->rec_count && nd->recs[b].vid == v) {
                b++;
            }
            uint32_t len = b - a;
            const struct rec *seq = nd->recs + a;
            uint32_t common = len < ref_len ? len : ref_len;
            for (uint32_t k = 0; k < common && ref != NULL; k++) {
                if (seq[k].sender != ref[k].sender || seq[k].counter != ref[k].counter ||
                    seq[k].version != ref[k].version) {
                    failf(w, "view %llu: nodes %u and %u differ at delivery %u",
                          (unsigned long long)v, i, ref_node, k);
                    return;
                }
            }
            if (len > ref_len) {
                ref = seq;
                ref_len = len;
                ref_node = i;
            }
        }
        /* Members that installed v+1 must have delivered all of v. */
        for (uint32_t i = 0; i < w->n && ref != NULL; i++) {
            struct node *nd = &w->nodes[i];
            if (nd->vid > v) {
                uint32_t len = 0;
                for (uint32_t d = 0; d < nd->rec_count; d++) {
                    len += nd->recs[d].vid == v;
                }
                if (len != ref_len) {
                    failf(w, "view %llu: node %u installed the next view after %u of %u "
                             "deliveries",
                          (unsigned long long)v, i, len, ref_len);
                    return;
                }
            }
        }
    }
    /* Exactly once: survivors' messages at every survivor; nothing twice anywhere. */
    for (uint32_t i = 0; i < w->n; i++) {
        struct node *nd = &w->nodes[i];
        static uint8_t seen[NODES_MAX][MSGS_MAX];
        memset(seen, 0, sizeof(seen));
        for (uint32_t d = 0; d < nd->rec_count; d++) {
            const struct rec *r = &nd->recs[d];
            if (r->sender >= w->n || r->counter >= MSGS_MAX) {
                failf(w, "node %u: delivered an unknown message", i);
                return;
            }
            if (seen[r->sender][r->counter]++) {
                failf(w, "node %u delivered message %u of %u twice", i, r->counter, r->sender);
                return;
            }
        }
        if (nd->crashed || w->majority_lost) {
            continue;
        }
        for (uint32_t s = 0; s < w->n; s++) {
            if (!((alive >> s) & 1u)) {
                continue;
            }
            for (uint32_t c = 0; c < w->nodes[s].to_send; c++) {
                if (!seen[s][c]) {
                    failf(w, "node %u never delivered message %u of survivor %u", i, c, s);
                    return;
                }
            }
        }
    }
}

static bool check_all;

static int run_one(uint64_t seed, bool verbose, uint64_t *trace)
{
    struct world w;
    memset(&w, 0, sizeof(w));
    w.seed = seed;
    w.check_every = (seed % 20 == 0 || check_all) ? 1 : 64;
    struct sq_prng p;
    sq_prng_seed(&p, seed ^ UINT64_C(0xc4a5));
    w.n = (uint32_t)sq_prng_range(&p, 3, NODES_MAX);
    grp_settings_default(&w.set);
    w.set.window = (uint32_t)sq_prng_range(&p, 2, 16);
    w.set.smc_payload_max = (uint32_t)sq_prng_range(&p, 12, 300);
    w.set.msg_payload_max = 6 * BLOCK_BYTES;
    w.set.rdmc.block_bytes = BLOCK_BYTES;
    w.set.rdmc.sched = (enum rdmc_sched)sq_prng_below(&p, RDMC_SCHED_COUNT);
    struct simnet_config sc = {.seed = seed, .node_count = w.n, .delay_min_ns = 1000,
                               .delay_max_ns = sq_prng_range(&p, 5000, 500000),
                               .fail_detect_ns = sq_prng_range(&p, 1000000, 50000000)};
    int rc = simnet_create(&w.sim, &sc);
    SQ_ASSERT(rc == SQ_OK);
    /* Faults: usually a minority crashes; one seed in six loses half or more. */
    uint32_t minority_max = (w.n - 1) / 2;
    if (sq_prng_chance(&p, 1, 6)) {
        w.crashes = (uint32_t)sq_prng_range(&p, (w.n + 1) / 2, w.n - 1);
        w.majority_lost = true;
    } else {
        w.crashes = (uint32_t)sq_prng_range(&p, 0, minority_max);
    }
    struct grp_view view;
    memset(&view, 0, sizeof(view));
    view.vid = 0;
    view.member_count = w.n;
    for (uint32_t i = 0; i < w.n; i++) {
        view.members[i].id = i;
    }
    w.nodes = calloc(w.n, sizeof(*w.nodes));
    SQ_ASSERT(w.nodes != NULL);
    uint64_t t0 = simnet_now(w.sim);
    uint64_t horizon = 200 * 1000 * 1000ull; /* sends spread over 200 ms */
    for (uint32_t i = 0; i < w.n; i++) {
        struct node *nd = &w.nodes[i];
        nd->w = &w;
        nd->id = i;
        nd->net = simnet_net(w.sim, i);
        nd->bufs = calloc((size_t)w.n * RECV_BUFS, sizeof(*nd->bufs));
        nd->recs = calloc(DELIV_MAX, sizeof(struct rec));
        SQ_ASSERT(nd->bufs != NULL && nd->recs != NULL);
        nd->last_version = -1;
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
        struct net_handler h = {.arg = nd, .peer_failed = on_peer_failed,
                                .recv_done = on_recv_done};
        simnet_set_handler(w.sim, i, &h);
        simnet_set_poll(w.sim, i, node_poll, nd);
    }
    simnet_connect_all(w.sim);
    struct grp_upcalls up = {.deliver = on_deliver, .view_installed = on_view,
                             .stopped = on_stopped};
    for (uint32_t i = 0; i < w.n; i++) {
        struct node *nd = &w.nodes[i];
        struct rdmc_io io = {.ctx = nd, .send = rdmc_send};
        up.ctx = nd;
        struct grp_config gc = {.view = &view, .my_id = i, .net = nd->net, .rdmc_io = &io,
                                .settings = &w.set, .up = &up, .version_base = 0,
                                .heartbeat_ns = TICK_NS, .failure_timeout_ns = FAIL_TIMEOUT_NS};
        rc = grp_group_create(&nd->g, &gc);
        SQ_ASSERT(rc == SQ_OK);
        for (uint32_t peer = 0; peer < w.n; peer++) {
            for (uint32_t b = 0; peer != i && b < RECV_BUFS; b++) {
                struct recv_buf *rb = &nd->bufs[peer * RECV_BUFS + b];
                rc = net_recv_post(nd->net, peer, rb->data, sizeof(rb->data),
                                   (uint64_t)(uintptr_t)rb);
                SQ_ASSERT(rc == SQ_OK);
            }
        }
        grp_tick(nd->g, t0);
        simnet_call_at(w.sim, t0 + TICK_NS, i, tick_cb, nd);
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
    for (uint32_t c = 0; c < w.crashes; c++) {
        crash_evs[order[c]] = (struct crash_ev){.w = &w, .id = order[c]};
        /* Sometimes two crashes close together: the second lands inside the view change. */
        uint64_t at = t0 + sq_prng_below(&p, horizon);
        if (c > 0 && sq_prng_chance(&p, 1, 3)) {
            at = t0 + sq_prng_below(&p, 30 * 1000 * 1000ull);
        }
        simnet_call_at(w.sim, at, order[c], crash_cb, &crash_evs[order[c]]);
    }
    simnet_set_check(w.sim, world_check, &w);
    bool ok = simnet_run_until_cond(w.sim, finished, &w, t0 + 30 * SQ_NS_PER_S);
    if (w.fail[0] == '\0' && !ok) {
        failf(&w, "no progress within 30 s of simulated time");
        for (uint32_t i = 0; i < w.n; i++) {
            struct node *nd = &w.nodes[i];
            struct grp_stats st;
            grp_group_stats(nd->g, &st);
            fprintf(stderr,
                    "  node %u: crashed %d stopped %d vid %llu sent %u/%u delivered %u "
                    "seq %lld stable %lld dseq %lld\n",
                    i, nd->crashed, nd->stopped, (unsigned long long)nd->vid, nd->sent,
                    nd->to_send, nd->rec_count, (long long)st.seq_num, (long long)st.stable_seq,
                    (long long)st.delivered_seq);
        }
    }
    if (w.fail[0] == '\0') {
        oracle(&w);
    }
    uint64_t h = simnet_trace_hash(w.sim);
    for (uint32_t i = 0; i < w.n; i++) {
        for (uint32_t d = 0; d < w.nodes[i].rec_count; d++) {
            h ^= ((uint64_t)w.nodes[i].recs[d].counter << 20) ^ w.nodes[i].recs[d].sender ^
                 ((uint64_t)i << 56) ^ w.nodes[i].recs[d].vid;
            h = sq_splitmix64(&h);
        }
    }
    *trace = h;
    if (verbose || w.fail[0] != '\0') {
        fprintf(stderr, "seed %" PRIu64 ": n=%u crashes=%u%s views=%llu t=%.3fs %s%s\n", seed,
                w.n, w.crashes, w.majority_lost ? " (majority lost)" : "",
                (unsigned long long)w.nodes[order[w.n - 1]].vid,
                (double)(simnet_now(w.sim) - t0) / 1e9, w.fail[0] ? "FAIL: " : "ok", w.fail);
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

int main(int argc, char **argv)
{
    uint64_t seed = 1, seeds = 1;
    bool verbose = false, one = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
            one = true;
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--check-all") == 0) {
            check_all = true;
        } else {
            fprintf(stderr, "usage: sim_viewchange [--seed S] [--seeds N] [--verbose] [--check-all]\n");
            return 2;
        }
    }
    sq_log_set_level(verbose ? SQ_LOG_INFO : SQ_LOG_OFF);
    if (one) {
        seeds = 1;
    }
    uint64_t failed = 0;
    for (uint64_t s = seed; s < seed + seeds; s++) {
        uint64_t t1, t2;
        if (run_one(s, verbose, &t1) != 0) {
            fprintf(stderr, "FAILED: replay with: sim_viewchange --seed %" PRIu64 "\n", s);
            failed++;
            continue;
        }
        if (s % 25 == 0 || one) {
            if (run_one(s, false, &t2) != 0 || t1 != t2) {
                fprintf(stderr, "FAILED: seed %" PRIu64 " is not deterministic\n", s);
                failed++;
            }
        }
    }
    printf("%" PRIu64 " passed, %" PRIu64 " failed\n", seeds - failed, failed);
    return failed ? 1 : 0;
}
