/* RDMC schedules as pure functions (PROTOCOL.md §3.3).
 *
 * rdmc_sched_step_ops() is the one definition of every schedule; each node's outgoing and incoming
 * lists are filtered out of it (rdmc_sched_node_step, rdmc_sched_next_op), so both ends of a
 * transfer always agree (pitfall 10). */
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "rdmc/rdmc.h"
#include "rdmc/rdmc_int.h"

#define NODE_ANY UINT32_MAX

static const char *const sched_names[RDMC_SCHED_COUNT] = {
    [RDMC_SCHED_SEQUENTIAL] = "sequential",
    [RDMC_SCHED_CHAIN] = "chain",
    [RDMC_SCHED_TREE] = "tree",
    [RDMC_SCHED_PIPELINE] = "pipeline",
};

const char *rdmc_sched_name(enum rdmc_sched sched)
{
    if ((unsigned)sched >= RDMC_SCHED_COUNT) {
        return "?";
    }
    return sched_names[sched];
}

int rdmc_sched_parse(const char *name, enum rdmc_sched *out)
{
    if (name == NULL) {
        return SQ_EINVAL;
    }
    for (unsigned i = 0; i < RDMC_SCHED_COUNT; i++) {
        if (strcmp(name, sched_names[i]) == 0) {
            *out = (enum rdmc_sched)i;
            return SQ_OK;
        }
    }
    return SQ_EINVAL;
}

bool rdmc_sched_is_valid(enum rdmc_sched sched, uint32_t n, uint32_t k)
{
    return (unsigned)sched < RDMC_SCHED_COUNT && n >= 2 && n <= RDMC_GROUP_SIZE_MAX && k >= 1 &&
           k <= SQ_RDMC_BLOCKS_MAX;
}

static uint32_t log2_floor(uint32_t x)
{
    SQ_ASSERT(x > 0);
    return 31u - (uint32_t)__builtin_clz(x);
}

static uint32_t log2_ceil(uint32_t x)
{
    SQ_ASSERT(x > 0);
    return x == 1 ? 0 : log2_floor(x - 1) + 1;
}

static bool is_pow2(uint32_t x)
{
    return x != 0 && (x & (x - 1)) == 0;
}

uint32_t rdmc_sched_step_count(enum rdmc_sched sched, uint32_t n, uint32_t k)
{
    SQ_ASSERT(rdmc_sched_is_valid(sched, n, k));
    switch (sched) {
    case RDMC_SCHED_SEQUENTIAL:
        return (n - 1) * k;
    case RDMC_SCHED_CHAIN:
        return k + n - 2;
    case RDMC_SCHED_TREE:
        return k * log2_ceil(n);
    case RDMC_SCHED_PIPELINE:
        /* k + l - 1 on a hypercube of 2^l nodes; the twin extension for 2^l < n < 2^(l+1) takes
         * one step more, k + l (§3.3): in both cases k + ceil(log2 n) - 1. */
        return k + log2_ceil(n) - 1;
    }
    SQ_UNREACHABLE();
}

/* ---- op emission with an optional node filter ---- */

struct emit {
    struct rdmc_op *ops;
    size_t cap;
    size_t count;
    uint32_t step;
    uint32_t node; /* NODE_ANY, or keep only ops with src == node or dst == node */
};

static void emit_op(struct emit *e, uint32_t src, uint32_t dst, uint32_t block)
{
    if (e->node != NODE_ANY && src != e->node && dst != e->node) {
        return;
    }
    SQ_ASSERT(e->count < e->cap);
    e->ops[e->count++] = (struct rdmc_op){.step = e->step, .src = src, .dst = dst, .block = block};
}

/* ---- sequential: step t, node 0 sends block t mod k to node 1 + t div k ---- */
static void sequential_ops(struct emit *e, uint32_t k)
{
    emit_op(e, 0, 1 + e->step / k, e->step % k);
}

/* ---- chain: step t, node i (i < n-1, 0 <= t-i < k) sends block t-i to i+1 ---- */
static void chain_op(struct emit *e, uint32_t n, uint32_t k, uint32_t i)
{
    if (i < n - 1 && i <= e->step && e->step - i < k) {
        emit_op(e, i, i + 1, e->step - i);
    }
}

static void chain_ops(struct emit *e, uint32_t n, uint32_t k)
{
    if (e->node != NODE_ANY) {
        /* Only the two ops that can touch the node: it receives from node-1, sends to node+1. */
        if (e->node > 0) {
            chain_op(e, n, k, e->node - 1);
        }
        chain_op(e, n, k, e->node);
        return;
    }
    for (uint32_t i = 0; i + 1 < n; i++) {
        chain_op(e, n, k, i);
    }
}

/* ---- binomial tree: stage j = t div k; every i < 2^j with i + 2^j < n sends block t - jk to
 * i + 2^j ---- */
static void tree_op(struct emit *e, uint32_t n, uint32_t span, uint32_t block, uint32_t i)
{
    if (i < span && i + span < n) {
        emit_op(e, i, i + span, block);
    }
}

static void tree_ops(struct emit *e, uint32_t n, uint32_t k)
{
    uint32_t stage = e->step / k;
    uint32_t span = 1u << stage;
    uint32_t block = e->step - stage * k;
    if (e->node != NODE_ANY) {
        tree_op(e, n, span, block, e->node);
        if (e->node >= span) {
            tree_op(e, n, span, block, e->node - span);
        }
        return;
    }
    for (uint32_t i = 0; i < span; i++) {
        tree_op(e, n, span, block, i);
    }
}

/* ---- binomial pipeline (Ganesan-Seshadri on a hypercube; PROTOCOL.md §3.3) ---- */

#define NO_BLOCK (-1)

/* recv_block(r, t) of §3.3: the block hypercube vertex r receives at step t, or NO_BLOCK.
 * Dimension l >= 1, vertices 0..2^l - 1. */
static int64_t hc_recv_block(uint32_t r, uint32_t t, uint32_t l, uint32_t k)
{
    if (r == 0) {
        return NO_BLOCK;
    }
    uint32_t d = t % l;
    uint32_t mask = (1u << l) - 1;
    uint32_t rot = ((r >> d) | (r << (l - d))) & mask; /* bit d of r becomes bit 0 */
    if ((rot & 1u) == 0) {
        /* r's bit d is 0: it gets the block the root injected l steps ago, if there was one. */
        return (t >= l && t - l < k) ? (int64_t)(t - l) : NO_BLOCK;
    }
    uint32_t high = rot & ~1u;
    if (high != 0) {
        uint32_t i = (uint32_t)__builtin_ctz(high);
        if (t + i < l) {
            return NO_BLOCK;
        }
        uint32_t b = t + i - l;
        return b < k ? (int64_t)b : (int64_t)(k - 1);
    }
    /* r == 2^d: fed directly by the root. */
    return t < k ? (int64_t)t : (int64_t)(k - 1);
}

/* The geometry of a non-power-of-two group (Derecho's "twin" extension, in the reformulation of
 * §3.3): hypercube vertices 0..L-1 with L = 2^l <= n; vertices 1..m (m = n - L) are doubled,
 * carried by nodes v and v + L - 1. */
struct twins {
    uint32_t l;
    uint32_t big_l; /* L */
    uint32_t m;
    uint32_t k;
};

static bool tw_doubled(const struct twins *tw, uint32_t v)
{
    return v >= 1 && v <= tw->m;
}

static uint32_t tw_other(const struct twins *tw, uint32_t v, uint32_t x)
{
    return x == v ? v + tw->big_l - 1 : v;
}

/* flips(v, t) = #{ s < t : bit (s mod l) of v is 1 }. */
static uint32_t tw_flips(const struct twins *tw, uint32_t v, uint32_t t)
{
    uint32_t low = v & ((1u << (t % tw->l)) - 1);
    return (t / tw->l) * (uint32_t)__builtin_popcount(v) + (uint32_t)__builtin_popcount(low);
}

/* The node that receives for vertex v at step t. */
static uint32_t tw_rx(const struct twins *tw, uint32_t v, uint32_t t)
{
    if (tw_doubled(tw, v) && (tw_flips(tw, v, t) & 1u) != 0) {
        return v + tw->big_l - 1;
    }
    return v;
}

/* The node that sends for vertex v at step t. */
static uint32_t tw_tx(const struct twins *tw, uint32_t v, uint32_t t)
{
    return tw_doubled(tw, v) ? tw_other(tw, v, tw_rx(tw, v, t)) : v;
}

/* The latest step s < t at which node x received for doubled vertex v, or -1. rx(v, s) changes
 * parity within every l consecutive steps (v has a bit set), so the walk is at most l + 1 long. */
static int64_t tw_latest_rx(const struct twins *tw, uint32_t v, uint32_t t, uint32_t x)
{
    uint32_t walked = 0;
    for (int64_t s = (int64_t)t - 1; s >= 0; s--) {
        SQ_ASSERT(walked <= tw->l + 1);
        walked++;
        if (tw_rx(tw, v, (uint32_t)s) == x) {
            return s;
        }
    }
    return -1;
}

/* Loop bodies of the pipeline, one vertex each. Without a node filter every vertex is visited;
 * with one only the vertices whose operations can involve the node (vertex_visit), which gives the
 * same operations for that node at O(1) instead of O(n) cost. */

/* Hypercube transfer into vertex r of a 2^l group: r XOR 2^d sends recv_block(r, t) to r. */
static void pow2_body(struct emit *e, uint32_t l, uint32_t k, uint32_t r)
{
    int64_t b = hc_recv_block(r, e->step, l, k);
    if (b != NO_BLOCK) {
        emit_op(e, r ^ (1u << (e->step % l)), r, (uint32_t)b);
    }
}

/* Hypercube transfer into vertex w: vertex u = w XOR 2^d sends recv_block(w, t), node to node. */
static void twin_cube_body(struct emit *e, const struct twins *tw, uint32_t w)
{
    uint32_t t = e->step;
    int64_t b = hc_recv_block(w, t, tw->l, tw->k);
    if (b != NO_BLOCK) {
        emit_op(e, tw_tx(tw, w ^ (1u << (t % tw->l)), t), tw_rx(tw, w, t), (uint32_t)b);
    }
}

/* Intra-vertex forwarding in a hypercube step: this step's receiver of doubled vertex v passes on
 * what it received the last time it was the receiver, to its twin (this step's sender). */
static void twin_intra_body(struct emit *e, const struct twins *tw, uint32_t v)
{
    uint32_t t = e->step;
    uint32_t r = tw_rx(tw, v, t);
    int64_t s = tw_latest_rx(tw, v, t, r);
    if (s < 0) {
        return;
    }
    int64_t b = hc_recv_block(v, (uint32_t)s, tw->l, tw->k);
    if (b != NO_BLOCK) {
        emit_op(e, r, tw_tx(tw, v, t), (uint32_t)b);
    }
}

/* Final step, k >= 2: both twins of doubled vertex v swap what each received last. */
static void twin_final_body(struct emit *e, const struct twins *tw, uint32_t v)
{
    uint32_t twin[2] = {v, v + tw->big_l - 1};
    for (unsigned j = 0; j < 2; j++) {
        int64_t s = tw_latest_rx(tw, v, e->step, twin[j]);
        if (s < 0) {
            continue;
        }
        int64_t b = hc_recv_block(v, (uint32_t)s, tw->l, tw->k);
        if (b != NO_BLOCK) {
            emit_op(e, twin[j], tw_other(tw, v, twin[j]), (uint32_t)b);
        }
    }
}

/* Final step, k == 1 (§3.3, pitfall 10): vertex w XOR 1 sends block 0 to this step's receiver of
 * doubled vertex w. It keeps every node's first incoming transfer independent of k. */
static void twin_final_k1_body(struct emit *e, const struct twins *tw, uint32_t w)
{
    uint32_t u = w ^ 1u;
    uint32_t src = tw_doubled(tw, u) ? tw_tx(tw, u, e->step) : u;
    emit_op(e, src, tw_rx(tw, w, e->step), 0);
}

/* The distinct vertices in [lo, hi] among `a` and `b`, into out[]; without a node filter, all of
 * [lo, hi] is visited by the caller instead. */
static unsigned vertex_visit(uint32_t a, uint32_t b, uint32_t lo, uint32_t hi, uint32_t out[2])
{
    unsigned count = 0;
    if (a >= lo && a <= hi) {
        out[count++] = a;
    }
    if (b != a && b >= lo && b <= hi) {
        out[count++] = b;
    }
    return count;
}

static void pipeline_pow2_ops(struct emit *e, uint32_t n, uint32_t k)
{
    uint32_t l = log2_floor(n);
    if (e->node == NODE_ANY) {
        for (uint32_t r = 1; r < n; r++) {
            pow2_body(e, l, k, r);
        }
        return;
    }
    /* The node receives as vertex `node` and sends to vertex node XOR 2^d. */
    uint32_t visit[2];
    unsigned count = vertex_visit(e->node, e->node ^ (1u << (e->step % l)), 1, n - 1, visit);
    for (unsigned i = 0; i < count; i++) {
        pow2_body(e, l, k, visit[i]);
    }
}

static void pipeline_twin_ops(struct emit *e, uint32_t n, uint32_t k)
{
    struct twins tw = {.l = log2_floor(n), .k = k};
    tw.big_l = 1u << tw.l;
    tw.m = n - tw.big_l;
    SQ_ASSERT(tw.m >= 1 && tw.m < tw.big_l);
    uint32_t last = k + tw.l - 1; /* T - 1 (T = k + l) */
    uint32_t t = e->step;
    bool all = e->node == NODE_ANY;
    /* The node's vertex: nodes L..n-1 are the second twins of vertices 1..m. */
    uint32_t mine = all ? 0 : (e->node < tw.big_l ? e->node : e->node - tw.big_l + 1);
    uint32_t visit[2];
    unsigned count;

    if (t < last) {
        /* Hypercube step: the node receives for its vertex or sends to its vertex's partner. */
        uint32_t partner = mine ^ (1u << (t % tw.l));
        count = all ? 0 : vertex_visit(mine, partner, 1, tw.big_l - 1, visit);
        for (uint32_t w = 1; all && w < tw.big_l; w++) {
            twin_cube_body(e, &tw, w);
        }
        for (unsigned i = 0; i < count; i++) {
            twin_cube_body(e, &tw, visit[i]);
        }
        if (k == 1) {
            return; /* no intra-vertex forwarding at all when k == 1 (§3.3) */
        }
        count = all ? 0 : vertex_visit(mine, mine, 1, tw.m, visit);
        for (uint32_t v = 1; all && v <= tw.m; v++) {
            twin_intra_body(e, &tw, v);
        }
        for (unsigned i = 0; i < count; i++) {
            twin_intra_body(e, &tw, visit[i]);
        }
        return;
    }

    SQ_ASSERT(t == last);
    if (k == 1) {
        /* The node receives for its own vertex, or sends for vertex w = mine XOR 1. */
        count = all ? 0 : vertex_visit(mine, mine ^ 1u, 1, tw.m, visit);
        for (uint32_t w = 1; all && w <= tw.m; w++) {
            twin_final_k1_body(e, &tw, w);
        }
        for (unsigned i = 0; i < count; i++) {
            twin_final_k1_body(e, &tw, visit[i]);
        }
        return;
    }
    count = all ? 0 : vertex_visit(mine, mine, 1, tw.m, visit);
    for (uint32_t v = 1; all && v <= tw.m; v++) {
        twin_final_body(e, &tw, v);
    }
    for (unsigned i = 0; i < count; i++) {
        twin_final_body(e, &tw, visit[i]);
    }
}

static size_t step_ops_filtered(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t step,
                                uint32_t node, struct rdmc_op *ops, size_t cap)
{
    SQ_ASSERT(rdmc_sched_is_valid(sched, n, k));
    SQ_ASSERT(step < rdmc_sched_step_count(sched, n, k));
    SQ_ASSERT(node == NODE_ANY || node < n);
    struct emit e = {.ops = ops, .cap = cap, .count = 0, .step = step, .node = node};
    switch (sched) {
    case RDMC_SCHED_SEQUENTIAL:
        sequential_ops(&e, k);
        break;
    case RDMC_SCHED_CHAIN:
        chain_ops(&e, n, k);
        break;
    case RDMC_SCHED_TREE:
        tree_ops(&e, n, k);
        break;
    case RDMC_SCHED_PIPELINE:
        if (is_pow2(n)) {
            pipeline_pow2_ops(&e, n, k);
        } else {
            pipeline_twin_ops(&e, n, k);
        }
        break;
    }
    return e.count;
}

size_t rdmc_sched_step_ops(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t step,
                           struct rdmc_op *ops, size_t cap)
{
    SQ_ASSERT(cap >= RDMC_STEP_OPS_MAX);
    return step_ops_filtered(sched, n, k, step, NODE_ANY, ops, cap);
}

unsigned rdmc_sched_node_step(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t node,
                              uint32_t step, struct rdmc_op *out, struct rdmc_op *in)
{
    /* A node appears in at most two ops of a step (property (b)); the buffer is sized for all so
     * that a broken schedule trips the assertions below rather than overflowing. */
    struct rdmc_op ops[RDMC_STEP_OPS_MAX];
    size_t count = step_ops_filtered(sched, n, k, step, node, ops, SQ_ARRAY_LEN(ops));
    unsigned has = 0;
    for (size_t i = 0; i < count; i++) {
        if (ops[i].src == node) {
            SQ_ASSERT((has & RDMC_NODE_HAS_OUT) == 0);
            has |= RDMC_NODE_HAS_OUT;
            if (out != NULL) {
                *out = ops[i];
            }
        }
        if (ops[i].dst == node) {
            SQ_ASSERT((has & RDMC_NODE_HAS_IN) == 0);
            has |= RDMC_NODE_HAS_IN;
            if (in != NULL) {
                *in = ops[i];
            }
        }
    }
    return has;
}

/* A conservative range [*lo, *hi) of steps outside which `node` has no operation of direction
 * `dir`: only an optimisation of the walk (the walk still filters rdmc_sched_step_ops), so a range
 * too wide costs time and one too narrow is caught by the schedule test's walk check. */
static void node_window(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t node,
                        enum rdmc_dir dir, uint32_t *lo, uint32_t *hi)
{
    uint32_t steps = rdmc_sched_step_count(sched, n, k);
    *lo = 0;
    *hi = steps;
    switch (sched) {
    case RDMC_SCHED_SEQUENTIAL:
        if (node == 0) {
            *hi = dir == RDMC_DIR_OUT ? steps : 0; /* the root only sends */
        } else if (dir == RDMC_DIR_OUT) {
            *hi = 0; /* receivers never send */
        } else {
            *lo = (node - 1) * k;
            *hi = node * k;
        }
        break;
    case RDMC_SCHED_CHAIN:
        /* node receives blocks 0..k-1 from node-1 in steps node-1 .. node+k-2 and sends them on
         * one step later. */
        if (dir == RDMC_DIR_IN) {
            *lo = node == 0 ? 0 : node - 1;
            *hi = node == 0 ? 0 : node - 1 + k;
        } else {
            *lo = node;
            *hi = node + 1 < n ? node + k : 0;
        }
        break;
    case RDMC_SCHED_TREE:
        /* node > 0 receives the whole message in stage floor(log2 node) and sends in later
         * stages; the root sends from stage 0. */
        if (node > 0) {
            uint32_t stage = log2_floor(node);
            if (dir == RDMC_DIR_IN) {
                *lo = stage * k;
                *hi = (stage + 1) * k;
            } else {
                *lo = (stage + 1) * k;
            }
        } else if (dir == RDMC_DIR_IN) {
            *hi = 0;
        }
        break;
    case RDMC_SCHED_PIPELINE:
        break;
    }
    if (*hi > steps) {
        *hi = steps;
    }
}

bool rdmc_sched_next_op(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t node,
                        enum rdmc_dir dir, uint32_t from_step, struct rdmc_op *op)
{
    SQ_ASSERT(node < n);
    uint32_t lo;
    uint32_t steps;
    node_window(sched, n, k, node, dir, &lo, &steps);
    unsigned want = dir == RDMC_DIR_OUT ? RDMC_NODE_HAS_OUT : RDMC_NODE_HAS_IN;
    for (uint32_t t = from_step > lo ? from_step : lo; t < steps; t++) {
        struct rdmc_op out;
        struct rdmc_op in;
        unsigned has = rdmc_sched_node_step(sched, n, k, node, t, &out, &in);
        if ((has & want) != 0) {
            *op = dir == RDMC_DIR_OUT ? out : in;
            return true;
        }
    }
    return false;
}

void rdmc_sched_first_op(enum rdmc_sched sched, uint32_t n, uint32_t node, uint32_t *src,
                         uint32_t *block)
{
    SQ_ASSERT(node >= 1 && node < n);
    struct rdmc_op op;
    bool found = rdmc_sched_next_op(sched, n, RDMC_FIRST_PROBE_BLOCKS, node, RDMC_DIR_IN, 0, &op);
    SQ_ASSERT(found);
    SQ_ASSERT(op.block + 1 < RDMC_FIRST_PROBE_BLOCKS); /* the probe really is "unbounded" */
    *src = op.src;
    *block = op.block;
}
