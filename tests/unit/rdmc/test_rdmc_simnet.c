/* RDMC through its net_ops adapter on the deterministic simulated network (tests/sim/simnet.h).
 *
 * Each simulated node runs an adapter (rdmc_net) with its engine. Groups of random members and
 * schedules multicast messages of random sizes (1 byte, one block, block+1, multi-MiB); a root
 * submits the next message from inside its `done` upcall. Oracles: receivers get exactly the
 * root's bytes in order; without faults everything completes; when a node crashes mid-transfer
 * every survivor of its groups gets one failure (SQ_EPEER, the crashed node) and never a wrong
 * message, and the other groups complete; rdmc_check() holds after every step; the same seed
 * gives the same simnet trace hash. RDMC_SEED=<n> replays one seed; RDMC_SIM_RUNS=<n> sets the
 * number of random runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/prng.h"
#include "net/net.h"
#include "rdmc/rdmc.h"
#include "tests/sim/simnet.h"

#define S_NODES_MAX 12
#define S_GROUPS_MAX 4
#define S_MSGS_MAX 12

struct s_group {
    uint32_t id;
    uint32_t n;
    uint32_t members[S_NODES_MAX]; /* node ids; [0] is the root */
    struct rdmc_settings settings;
    uint32_t msg_count;
    size_t sizes[S_MSGS_MAX];
    uint8_t *truth[S_MSGS_MAX];
    uint32_t next_send;
    bool has_victim;
};

struct s_node {
    struct s_run *run;
    uint32_t id;
    struct rdmc_net *rn;
    uint64_t done[S_GROUPS_MAX];
    uint32_t failed[S_GROUPS_MAX];
    void *recv_buf[S_GROUPS_MAX];
};

struct s_run {
    uint64_t seed;
    struct simnet *sim;
    uint32_t n;
    struct s_node nodes[S_NODES_MAX];
    uint32_t group_count;
    struct s_group groups[S_GROUPS_MAX];
    int victim;
    uint64_t msgs_done;
    uint64_t failures;
    uint64_t bytes_checked;
};

#define S_CHECK(run, cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            char s_msg_[400];                                                                      \
            snprintf(s_msg_, sizeof(s_msg_), __VA_ARGS__);                                         \
            fail_msg("rdmc simnet: %s (replay with RDMC_SEED=%llu)", s_msg_,                       \
                     (unsigned long long)(run)->seed);                                             \
        }                                                                                          \
    } while (0)

static uint64_t s_total_msgs;
static uint64_t s_total_failures;
static uint64_t s_total_bytes;

static uint32_t s_group_index(struct s_run *run, uint32_t id)
{
    for (uint32_t g = 0; g < run->group_count; g++) {
        if (run->groups[g].id == id) {
            return g;
        }
    }
    fail_msg("unknown group %u", id);
    return 0;
}

static bool s_member(const struct s_group *g, uint32_t node)
{
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->members[i] == node) {
            return true;
        }
    }
    return false;
}

static void s_send_next(struct s_run *run, struct s_node *node, uint32_t g)
{
    struct s_group *grp = &run->groups[g];
    while (grp->next_send < grp->msg_count) {
        uint32_t m = grp->next_send;
        int rc =
            rdmc_group_send(rdmc_net_engine(node->rn), grp->id, grp->truth[m], grp->sizes[m], m);
        if (rc == SQ_EFULL || rc == SQ_ECLOSED) {
            return; /* the next `done` tries again; a failed group sends no more */
        }
        S_CHECK(run, rc == SQ_OK, "rdmc_group_send: %s", sq_errname(rc));
        grp->next_send++;
    }
}

static void *s_alloc(void *ctx, uint32_t group_id, size_t size_max)
{
    struct s_node *node = ctx;
    uint32_t g = s_group_index(node->run, group_id);
    S_CHECK(node->run, node->recv_buf[g] == NULL, "node %u: two allocations at once", node->id);
    node->recv_buf[g] = malloc(size_max);
    SQ_ASSERT(node->recv_buf[g] != NULL);
    memset(node->recv_buf[g], 0x5A, size_max);
    return node->recv_buf[g];
}

static void s_done(void *ctx, uint32_t group_id, uint64_t msg_index, void *buf, size_t size,
                   uint64_t cookie)
{
    struct s_node *node = ctx;
    struct s_run *run = node->run;
    uint32_t g = s_group_index(run, group_id);
    struct s_group *grp = &run->groups[g];
    S_CHECK(run, node->failed[g] == 0, "node %u group %u: done after failure", node->id, group_id);
    S_CHECK(run, msg_index == node->done[g] && msg_index < grp->msg_count,
            "node %u group %u: message %llu out of order", node->id, group_id,
            (unsigned long long)msg_index);
    S_CHECK(run, size == grp->sizes[msg_index], "node %u group %u msg %llu: size %zu, sent %zu",
            node->id, group_id, (unsigned long long)msg_index, size, grp->sizes[msg_index]);
    S_CHECK(run, memcmp(buf, grp->truth[msg_index], size) == 0,
            "node %u group %u msg %llu: WRONG BYTES", node->id, group_id,
            (unsigned long long)msg_index);
    node->done[g]++;
    run->msgs_done++;
    if (grp->members[0] == node->id) {
        S_CHECK(run, cookie == msg_index && buf == grp->truth[msg_index], "root's done mismatch");
        s_send_next(run, node, g); /* from inside the upcall: queued, started on return */
    } else {
        S_CHECK(run, buf == node->recv_buf[g], "node %u: done returns another buffer", node->id);
        run->bytes_checked += size;
        free(buf);
        node->recv_buf[g] = NULL;
    }
}

static void s_failed(void *ctx, uint32_t group_id, int err, uint32_t peer, void *recv_buf)
{
    struct s_node *node = ctx;
    struct s_run *run = node->run;
    uint32_t g = s_group_index(run, group_id);
    S_CHECK(run, run->victim >= 0, "node %u group %u failed (%s) without a crash", node->id,
            group_id, sq_errname(err));
    S_CHECK(run, err == SQ_EPEER && peer == (uint32_t)run->victim,
            "node %u group %u failed with %s blaming %u", node->id, group_id, sq_errname(err),
            peer);
    S_CHECK(run, node->failed[g] == 0, "node %u group %u: second failure", node->id, group_id);
    S_CHECK(run, recv_buf == node->recv_buf[g], "failed returns another buffer");
    free(recv_buf);
    node->recv_buf[g] = NULL;
    node->failed[g]++;
    run->failures++;
}

static void s_poll(void *arg)
{
    struct s_node *node = arg;
    rdmc_net_poll(node->rn);
}

static void s_check(void *arg)
{
    struct s_run *run = arg;
    for (uint32_t i = 0; i < run->n; i++) {
        if (!simnet_node_is_crashed(run->sim, i)) {
            rdmc_check(rdmc_net_engine(run->nodes[i].rn));
        }
    }
}

static void s_crash(void *arg)
{
    struct s_run *run = arg;
    simnet_node_crash(run->sim, (uint32_t)run->victim);
}

struct s_shape {
    uint32_t nodes;
    uint32_t groups;
    bool crash;
    bool big; /* one group with 1 MiB blocks and multi-MiB messages */
};

static void s_configure(struct s_run *run, const struct s_shape *shape, struct sq_prng *p)
{
    static const uint32_t blocks[] = {512, 4096, 65536};
    run->n = shape->nodes;
    run->group_count = shape->groups;
    for (uint32_t g = 0; g < run->group_count; g++) {
        struct s_group *grp = &run->groups[g];
        grp->id = 10 + 1000 * g;
        uint32_t order[S_NODES_MAX];
        for (uint32_t i = 0; i < run->n; i++) {
            order[i] = i;
        }
        for (uint32_t i = run->n - 1; i > 0; i--) {
            uint32_t j = (uint32_t)sq_prng_below(p, i + 1);
            uint32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        grp->n = (uint32_t)sq_prng_range(p, 2, run->n);
        memcpy(grp->members, order, grp->n * sizeof(order[0]));
        rdmc_settings_default(&grp->settings);
        grp->settings.sched = (enum rdmc_sched)sq_prng_below(p, RDMC_SCHED_COUNT);
        bool big = shape->big && g == 0;
        grp->settings.block_bytes = big ? 1024u * 1024u : blocks[sq_prng_below(p, 3)];
        grp->settings.msg_bytes_max =
            big ? 6u * 1024u * 1024u
                : grp->settings.block_bytes * (uint32_t)sq_prng_range(p, 1, 60);
        grp->settings.ready_window = (uint32_t)sq_prng_range(p, 1, 6);
        grp->settings.queue_max = (uint32_t)sq_prng_range(p, 1, 4);
        grp->msg_count = big ? 3 : (uint32_t)sq_prng_range(p, 1, S_MSGS_MAX);
        uint32_t bs = grp->settings.block_bytes;
        for (uint32_t m = 0; m < grp->msg_count; m++) {
            size_t choices[] = {1, bs, bs + 1u,
                                (size_t)sq_prng_range(p, 1, grp->settings.msg_bytes_max)};
            size_t size = choices[sq_prng_below(p, SQ_ARRAY_LEN(choices))];
            if (big) {
                size = m == 0 ? 5u * 1024 * 1024 + 7 : (m == 1 ? 6u * 1024 * 1024 : 1);
            }
            if (size > grp->settings.msg_bytes_max) {
                size = grp->settings.msg_bytes_max;
            }
            grp->sizes[m] = size;
            grp->truth[m] = malloc(size);
            SQ_ASSERT(grp->truth[m] != NULL);
            sq_prng_fill(p, grp->truth[m], size);
        }
    }
    run->victim = shape->crash ? (int)sq_prng_below(p, run->n) : -1;
    for (uint32_t g = 0; g < run->group_count; g++) {
        run->groups[g].has_victim =
            run->victim >= 0 && s_member(&run->groups[g], (uint32_t)run->victim);
    }
}

/* One run; returns the simnet trace hash. */
static uint64_t s_run_one(uint64_t seed, const struct s_shape *shape)
{
    struct s_run *run = calloc(1, sizeof(*run));
    SQ_ASSERT(run != NULL);
    run->seed = seed;
    struct sq_prng p;
    sq_prng_seed(&p, seed * 7919 + 1);
    s_configure(run, shape, &p);

    struct simnet_config sc = {.seed = seed,
                               .node_count = run->n,
                               .delay_min_ns = 2000,
                               .delay_max_ns = 40000,
                               .fail_detect_ns = 300000};
    assert_int_equal(simnet_create(&run->sim, &sc), SQ_OK);
    uint32_t recv_bytes = 0;
    for (uint32_t g = 0; g < run->group_count; g++) {
        if (run->groups[g].settings.block_bytes > recv_bytes) {
            recv_bytes = run->groups[g].settings.block_bytes;
        }
    }
    struct rdmc_net_config rc_cfg = {.recv_bytes = recv_bytes, .recvs_per_peer = 4};
    for (uint32_t i = 0; i < run->n; i++) {
        struct s_node *node = &run->nodes[i];
        node->run = run;
        node->id = i;
        struct rdmc_upcalls up = {
            .ctx = node, .alloc = s_alloc, .done = s_done, .failed = s_failed};
        assert_int_equal(rdmc_net_create(&node->rn, simnet_net(run->sim, i), &up, &rc_cfg), SQ_OK);
        struct net_handler h;
        rdmc_net_handler(node->rn, &h);
        simnet_set_handler(run->sim, i, &h);
        simnet_set_poll(run->sim, i, s_poll, node);
    }
    simnet_set_check(run->sim, s_check, run);
    simnet_connect_all(run->sim);
    for (uint32_t i = 0; i < run->n; i++) {
        for (uint32_t j = 0; j < run->n; j++) {
            if (i != j) {
                assert_int_equal(rdmc_net_peer_add(run->nodes[i].rn, j), SQ_OK);
            }
        }
    }
    /* Groups are created before the connections are up: the first READYs wait (SQ_EAGAIN) and
     * leave on peer_up. */
    for (uint32_t g = 0; g < run->group_count; g++) {
        struct s_group *grp = &run->groups[g];
        for (uint32_t i = 0; i < grp->n; i++) {
            struct s_node *node = &run->nodes[grp->members[i]];
            int rc = rdmc_group_create(rdmc_net_engine(node->rn), grp->id, grp->members, grp->n,
                                       &grp->settings);
            assert_int_equal(rc, SQ_OK);
        }
        s_send_next(run, &run->nodes[grp->members[0]], g);
    }
    if (run->victim >= 0) {
        uint64_t at = simnet_now(run->sim) + sq_prng_range(&p, 500000, 3000000);
        assert_int_equal(simnet_call_at(run->sim, at, (uint32_t)run->victim, s_crash, run), SQ_OK);
    }
    uint64_t steps = simnet_run_idle(run->sim, 50000000);
    S_CHECK(run, steps < 50000000, "the run did not go idle");

    for (uint32_t i = 0; i < run->n; i++) {
        struct s_node *node = &run->nodes[i];
        if ((int)i == run->victim) {
            continue;
        }
        S_CHECK(run, !rdmc_net_is_blocked(node->rn), "node %u still blocked at the end", i);
        for (uint32_t g = 0; g < run->group_count; g++) {
            struct s_group *grp = &run->groups[g];
            if (!s_member(grp, i)) {
                continue;
            }
            if (grp->has_victim) {
                S_CHECK(run, node->failed[g] == 1, "survivor %u of group %u: %u failures", i,
                        grp->id, node->failed[g]);
            } else {
                S_CHECK(run, node->failed[g] == 0 && node->done[g] == grp->msg_count,
                        "node %u group %u: %llu of %u complete, %u failures", i, grp->id,
                        (unsigned long long)node->done[g], grp->msg_count, node->failed[g]);
            }
        }
    }
    uint64_t hash = simnet_trace_hash(run->sim);
    s_total_msgs += run->msgs_done;
    s_total_failures += run->failures;
    s_total_bytes += run->bytes_checked;
    simnet_destroy(run->sim);
    for (uint32_t i = 0; i < run->n; i++) {
        rdmc_net_destroy(run->nodes[i].rn);
        for (uint32_t g = 0; g < run->group_count; g++) {
            free(run->nodes[i].recv_buf[g]);
        }
    }
    for (uint32_t g = 0; g < run->group_count; g++) {
        for (uint32_t m = 0; m < run->groups[g].msg_count; m++) {
            free(run->groups[g].truth[m]);
        }
    }
    free(run);
    return hash;
}

/* Seeds base, base+1, ...: RDMC_SEED=<n> runs that one seed only; RDMC_SIM_RUNS=<n> runs n seeds
 * (at most S_SEEDS_MAX), for soaking. */
#define S_SEEDS_MAX 1024

static size_t s_seeds(uint64_t base, size_t count, uint64_t *out)
{
    const char *env = getenv("RDMC_SEED");
    if (env != NULL && *env != '\0') {
        out[0] = strtoull(env, NULL, 0);
        return 1;
    }
    const char *runs = getenv("RDMC_SIM_RUNS");
    if (runs != NULL && *runs != '\0') {
        count = (size_t)strtoull(runs, NULL, 0);
    }
    if (count > S_SEEDS_MAX) {
        count = S_SEEDS_MAX;
    }
    for (size_t i = 0; i < count; i++) {
        out[i] = base + i;
    }
    return count;
}

static void test_simnet_clean(void **state)
{
    (void)state;
    static uint64_t seeds[S_SEEDS_MAX];
    size_t count = s_seeds(1, 16, seeds);
    for (size_t i = 0; i < count; i++) {
        struct s_shape shape = {.nodes = 2 + (uint32_t)(seeds[i] % 9),
                                .groups = 1 + (uint32_t)(seeds[i] % 3)};
        (void)s_run_one(seeds[i], &shape);
    }
    print_message("%zu runs: %llu messages complete, %llu receiver bytes checked\n", count,
                  (unsigned long long)s_total_msgs, (unsigned long long)s_total_bytes);
    assert_true(s_total_msgs > 0 && s_total_failures == 0);
}

static void test_simnet_multi_mib(void **state)
{
    (void)state;
    struct s_shape shape = {.nodes = 5, .groups = 2, .big = true};
    (void)s_run_one(424242, &shape);
}

static void test_simnet_crash(void **state)
{
    (void)state;
    static uint64_t seeds[S_SEEDS_MAX];
    size_t count = s_seeds(100, 16, seeds);
    for (size_t i = 0; i < count; i++) {
        struct s_shape shape = {.nodes = 3 + (uint32_t)(seeds[i] % 8),
                                .groups = 1 + (uint32_t)(seeds[i] % 4),
                                .crash = true};
        (void)s_run_one(seeds[i], &shape);
    }
    print_message("%zu crash runs: %llu failure upcalls\n", count,
                  (unsigned long long)s_total_failures);
    assert_true(count == 1 || s_total_failures > 0);
}

static void test_simnet_deterministic(void **state)
{
    (void)state;
    struct s_shape shape = {.nodes = 6, .groups = 3, .crash = true};
    uint64_t a = s_run_one(77, &shape);
    uint64_t b = s_run_one(77, &shape);
    uint64_t c = s_run_one(78, &shape);
    assert_true(a == b);
    assert_true(a != c);
}

static int setup(void **state)
{
    (void)state;
    sq_log_set_level(SQ_LOG_ERROR);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simnet_clean),
        cmocka_unit_test(test_simnet_multi_mib),
        cmocka_unit_test(test_simnet_crash),
        cmocka_unit_test(test_simnet_deterministic),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
