/* Randomised SST simulation over many seeds (label sim).
 *
 * Each seed draws 3..5 nodes, their publishing schedule, the shard sets they push to and the
 * faults (a crash, link cuts that heal in time, and cuts that outlast the timeout). Every node
 * publishes in the order of PROTOCOL.md pitfall 1: data words set to k, push the data, then k,
 * push k. Oracles:
 *  - on every poll of every node, for every row it reads k once and then each data word: every
 *    word must be >= k (data is never older than the counter that publishes it);
 *  - sst_check() holds for every live node after every step (monotone columns never decrease);
 *  - at the end, every live node sees the final k of every live node it is still connected to
 *    and that pushes to it.
 * A failure prints the seed; `test_sst_sim --seed S` replays it.
 *
 *   test_sst_sim [--seeds N] [--first S] [--seed S] */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "sst/sst.h"
#include "tests/sim/simnet.h"

#define NODES_MAX 5
#define WORDS 3
#define ROUNDS 40

struct run;

struct node {
    struct run *run;
    uint32_t id;
    struct sst *sst;
    int64_t k;
    uint64_t targets; /* where this node pushes (a shard or all) */
    uint64_t broken;  /* peers whose connection to us broke */
};

struct run {
    uint64_t seed;
    struct simnet *sim;
    uint32_t n;
    struct node nodes[NODES_MAX];
    uint32_t c_data, c_k;
    const char *failure;
    char detail[200];
};

static void fail(struct run *r, const char *what, const char *detail)
{
    if (r->failure == NULL) {
        r->failure = what;
        snprintf(r->detail, sizeof(r->detail), "%s", detail);
    }
}

static void on_failed(void *arg, uint32_t peer, int reason)
{
    (void)reason;
    struct node *nd = arg;
    nd->broken |= UINT64_C(1) << peer;
    sst_row_freeze(nd->sst, peer);
}

static bool any(struct sst *sst, void *arg)
{
    (void)sst;
    (void)arg;
    return true;
}

/* The reader's oracle: every data word at least the k that covers it. */
static void check_rows(struct sst *sst, void *arg)
{
    struct node *nd = arg;
    struct run *r = nd->run;
    for (uint32_t row = 0; row < r->n; row++) {
        int64_t k = sst_get_i64(sst, row, r->c_k, 0);
        for (uint32_t w = 0; w < WORDS; w++) {
            int64_t word = 0;
            sst_get_bytes(sst, row, r->c_data, (size_t)w * 8, &word, 8);
            if (word < k) {
                char d[160];
                snprintf(d, sizeof(d), "node %u row %u word %u = %" PRId64 " < k %" PRId64, nd->id,
                         row, w, word, k);
                fail(r, "data older than its counter", d);
            }
        }
    }
}

static void poll_node(void *arg)
{
    struct node *nd = arg;
    (void)sst_poll(nd->sst);
}

static void check_step(void *arg)
{
    struct run *r = arg;
    for (uint32_t i = 0; i < r->n; i++) {
        if (!simnet_node_is_crashed(r->sim, i) && sst_check(r->nodes[i].sst) != SQ_OK) {
            fail(r, "sst_check", sst_check_msg(r->nodes[i].sst));
        }
    }
}

static void publish(void *arg)
{
    struct node *nd = arg;
    struct run *r = nd->run;
    nd->k++;
    for (uint32_t w = 0; w < WORDS; w++) {
        int64_t v = nd->k;
        sst_set_bytes(nd->sst, r->c_data, (size_t)w * 8, &v, 8);
    }
    sst_col_push(nd->sst, r->c_data, nd->targets);
    sst_set_i64(nd->sst, r->c_k, 0, nd->k);
    sst_cell_push(nd->sst, r->c_k, 0, nd->targets);
    if (nd->k < ROUNDS) {
        uint64_t gap = sq_prng_range(simnet_prng(r->sim), 1, 200) * SQ_NS_PER_US;
        (void)simnet_call_at(r->sim, simnet_now(r->sim) + gap, nd->id, publish, nd);
    }
}

static int run_seed(uint64_t seed, uint64_t *hash)
{
    static struct run r;
    memset(&r, 0, sizeof(r));
    r.seed = seed;
    struct sq_prng draw;
    sq_prng_seed(&draw, seed ^ 0x5eed5eedull);
    r.n = (uint32_t)sq_prng_range(&draw, 3, NODES_MAX);
    struct simnet_config cfg = {.seed = seed,
                                .node_count = r.n,
                                .delay_min_ns = 500,
                                .delay_max_ns = sq_prng_range(&draw, 5, 300) * SQ_NS_PER_US,
                                .link_timeout_ns = 5 * SQ_NS_PER_MS};
    if (simnet_create(&r.sim, &cfg) != SQ_OK) {
        return 1;
    }
    struct sst_schema schema;
    sst_schema_init(&schema);
    if (sst_schema_add(&schema, "data", SST_BYTES, WORDS * 8, 0, -1, &r.c_data) != SQ_OK ||
        sst_schema_add(&schema, "k", SST_I64, 1, SST_MONOTONE, 0, &r.c_k) != SQ_OK) {
        return 1;
    }
    uint32_t ids[NODES_MAX];
    for (uint32_t i = 0; i < r.n; i++) {
        ids[i] = i;
    }
    uint64_t all = (UINT64_C(1) << r.n) - 1;
    for (uint32_t i = 0; i < r.n; i++) {
        struct node *nd = &r.nodes[i];
        nd->run = &r;
        nd->id = i;
        /* Most nodes push to all; some to a random shard that contains them. */
        nd->targets = sq_prng_chance(&draw, 1, 3) ? (sq_prng_next(&draw) & all) | (1u << i) : all;
        struct sst_config sc = {.schema = &schema,
                                .member_count = r.n,
                                .my_rank = i,
                                .member_ids = ids,
                                .net = simnet_net(r.sim, i),
                                .region = 0,
                                .view_tag = seed};
        if (sst_create(&nd->sst, &sc) != SQ_OK) {
            return 1;
        }
        struct net_handler h = {.arg = nd, .peer_failed = on_failed};
        simnet_set_handler(r.sim, i, &h);
        simnet_set_poll(r.sim, i, poll_node, nd);
        (void)sst_pred_add(nd->sst, SST_PRED_RECURRENT, any, check_rows, nd, NULL);
    }
    simnet_set_check(r.sim, check_step, &r);
    simnet_connect_all(r.sim);
    uint64_t t0 = simnet_now(r.sim);
    for (uint32_t i = 0; i < r.n; i++) {
        uint64_t start = t0 + sq_prng_range(&draw, 100, 2000) * SQ_NS_PER_US;
        (void)simnet_call_at(r.sim, start, i, publish, &r.nodes[i]);
    }
    /* Faults, at times drawn from the seed, applied as the clock passes them. */
    int crash = sq_prng_chance(&draw, 1, 2) ? (int)sq_prng_below(&draw, r.n) : -1;
    uint64_t crash_at = t0 + sq_prng_range(&draw, 500, 6000) * SQ_NS_PER_US;
    uint32_t ca = (uint32_t)sq_prng_below(&draw, r.n);
    uint32_t cb = (ca + 1 + (uint32_t)sq_prng_below(&draw, r.n - 1)) % r.n;
    bool both = sq_prng_chance(&draw, 1, 2);
    uint64_t cut_at = t0 + sq_prng_range(&draw, 200, 4000) * SQ_NS_PER_US;
    uint64_t cut_len = sq_prng_chance(&draw, 1, 3) ? 8 * SQ_NS_PER_MS /* outlasts the timeout */
                                                   : sq_prng_range(&draw, 100, 3000) * SQ_NS_PER_US;
    simnet_run_until(r.sim, cut_at);
    simnet_link_cut(r.sim, ca, cb, both);
    if (crash >= 0 && crash_at < cut_at + cut_len) {
        simnet_run_until(r.sim, crash_at > cut_at ? crash_at : cut_at);
        simnet_node_crash(r.sim, (uint32_t)crash);
        crash = -1;
    }
    simnet_run_until(r.sim, cut_at + cut_len);
    simnet_link_heal(r.sim, ca, cb, both);
    if (crash >= 0) {
        simnet_run_until(r.sim, crash_at);
        simnet_node_crash(r.sim, (uint32_t)crash);
    }
    simnet_run_idle(r.sim, 50000000);
    /* Final agreement among survivors still connected, along the pushes' targets. */
    for (uint32_t a = 0; a < r.n && r.failure == NULL; a++) {
        if (simnet_node_is_crashed(r.sim, a)) {
            continue;
        }
        if (r.nodes[a].k != ROUNDS) {
            fail(&r, "a live node did not finish", "");
        }
        for (uint32_t b = 0; b < r.n; b++) {
            bool connected = !(r.nodes[a].broken & (UINT64_C(1) << b)) &&
                             !(r.nodes[b].broken & (UINT64_C(1) << a));
            if (b == a || simnet_node_is_crashed(r.sim, b) || !connected ||
                !(r.nodes[b].targets & (UINT64_C(1) << a))) {
                continue;
            }
            int64_t seen = sst_get_i64(r.nodes[a].sst, b, r.c_k, 0);
            if (seen != r.nodes[b].k) {
                char d[128];
                snprintf(d, sizeof(d), "node %u sees k[%u] = %" PRId64 ", final is %" PRId64, a, b,
                         seen, r.nodes[b].k);
                fail(&r, "survivors disagree", d);
            }
        }
    }
    *hash = simnet_trace_hash(r.sim);
    for (uint32_t i = 0; i < r.n; i++) {
        sst_destroy(r.nodes[i].sst);
    }
    simnet_destroy(r.sim);
    if (r.failure != NULL) {
        printf("FAILED seed %" PRIu64 ": %s: %s (replay: test_sst_sim --seed %" PRIu64 ")\n", seed,
               r.failure, r.detail, seed);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t seeds = 200, first = 1;
    bool one = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--first") == 0 && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 10);
            seeds = 1;
            one = true;
        } else {
            fprintf(stderr, "usage: test_sst_sim [--seeds N] [--first S] [--seed S]\n");
            return 2;
        }
    }
    sq_log_set_level(one ? SQ_LOG_DEBUG : SQ_LOG_OFF);
    int failed = 0;
    for (uint64_t s = first; s < first + seeds; s++) {
        uint64_t h1 = 0, h2 = 0;
        failed += run_seed(s, &h1);
        /* Every tenth seed runs twice: the same seed must replay to the same trace. */
        if (s % 10 == 0) {
            failed += run_seed(s, &h2);
            if (h1 != h2) {
                printf("FAILED seed %" PRIu64 ": not deterministic (%016" PRIx64 " vs %016" PRIx64
                       ")\n",
                       s, h1, h2);
                failed++;
            }
        }
    }
    printf("test_sst_sim: %" PRIu64 " seeds from %" PRIu64 ", %d failure(s)\n", seeds, first,
           failed);
    return failed == 0 ? 0 : 1;
}
