/* The simulated network keeps its promises (FIFO per connection, none across, held messages on a
 * cut link, delay spikes that keep FIFO, failures on crash and timeout), and a seeded SST run is
 * deterministic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/log.h"
#include "sst/sst.h"
#include "tests/sim/simnet.h"

#define MSGS 400

struct rx {
    struct simnet *sim;
    uint32_t node;
    uint32_t got[3]; /* per sender: messages received */
    uint32_t last_imm[3];
    int order_violations;
    uint32_t arrival[2 * MSGS]; /* sender of each arrival, in order */
    uint32_t arrivals;
    uint64_t arrival_at[2 * MSGS]; /* virtual time of each arrival */
    uint8_t bufs[3][8][64];
    uint64_t failed_mask;
    int failed_reason[3];
    uint32_t up_mask;
};

static void on_recv(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm, size_t size)
{
    struct rx *r = arg;
    if (status != SQ_OK) {
        return;
    }
    assert_int_equal(size, 8);
    if (r->got[peer] > 0 && imm != r->last_imm[peer] + 1) {
        r->order_violations++;
    }
    r->last_imm[peer] = imm;
    r->got[peer]++;
    if (r->arrivals < 2 * MSGS) {
        r->arrival_at[r->arrivals] = simnet_now(r->sim);
        r->arrival[r->arrivals++] = peer;
    }
    /* Re-post the same buffer. */
    uint32_t slot = (uint32_t)wr_id;
    assert_int_equal(
        net_recv_post(simnet_net(r->sim, r->node), peer, r->bufs[peer][slot], 64, wr_id), SQ_OK);
}

static void on_failed(void *arg, uint32_t peer, int reason)
{
    struct rx *r = arg;
    r->failed_mask |= UINT64_C(1) << peer;
    r->failed_reason[peer] = reason;
}

static void on_up(void *arg, uint32_t peer)
{
    struct rx *r = arg;
    r->up_mask |= 1u << peer;
}

static struct simnet *make_sim(uint64_t seed, uint32_t n, struct rx *rx)
{
    struct simnet *sim = NULL;
    struct simnet_config cfg = {
        .seed = seed, .node_count = n, .delay_min_ns = 1000, .delay_max_ns = 200000};
    assert_int_equal(simnet_create(&sim, &cfg), SQ_OK);
    for (uint32_t i = 0; i < n; i++) {
        memset(&rx[i], 0, sizeof(rx[i]));
        rx[i].sim = sim;
        rx[i].node = i;
        struct net_handler h = {
            .arg = &rx[i], .recv_done = on_recv, .peer_failed = on_failed, .peer_up = on_up};
        simnet_set_handler(sim, i, &h);
    }
    simnet_connect_all(sim);
    simnet_run_idle(sim, 10000);
    return sim;
}

static void post_all(struct simnet *sim, struct rx *r, uint32_t from)
{
    for (uint64_t s = 0; s < 8; s++) {
        assert_int_equal(net_recv_post(simnet_net(sim, r->node), from, r->bufs[from][s], 64, s),
                         SQ_OK);
    }
}

static void test_fifo_per_connection_not_across(void **state)
{
    (void)state;
    struct rx rx[3];
    struct simnet *sim = make_sim(1234, 3, rx);
    assert_int_equal(rx[1].up_mask, 0x5);
    post_all(sim, &rx[1], 0);
    post_all(sim, &rx[1], 2);
    uint8_t payload[8] = {0};
    for (uint32_t i = 0; i < MSGS; i++) {
        /* Interleave: each step both senders send one message. */
        assert_int_equal(net_msg_send(simnet_net(sim, 0), 1, i, payload, 8, 0, 0), SQ_OK);
        assert_int_equal(net_msg_send(simnet_net(sim, 2), 1, i, payload, 8, 0, 0), SQ_OK);
        simnet_run_until(sim, simnet_now(sim) + 20000);
    }
    simnet_run_idle(sim, 1000000);
    assert_int_equal(rx[1].got[0], MSGS);
    assert_int_equal(rx[1].got[2], MSGS);
    assert_int_equal(rx[1].order_violations, 0);
    /* Across connections there is no order: somewhere a run of one sender's messages overtakes
     * the strict alternation of sending. */
    uint32_t longest = 0, run = 0;
    for (uint32_t i = 1; i < rx[1].arrivals; i++) {
        run = rx[1].arrival[i] == rx[1].arrival[i - 1] ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    assert_true(longest >= 2);
    simnet_destroy(sim);
}

static void test_send_waits_for_buffer(void **state)
{
    (void)state;
    struct rx rx[2];
    struct simnet *sim = make_sim(5, 2, rx);
    static uint64_t region1[4] __attribute__((aligned(8)));
    static uint64_t region0[4] __attribute__((aligned(8)));
    assert_int_equal(net_region_register(simnet_net(sim, 0), 0, 1, region0, sizeof(region0)),
                     SQ_OK);
    assert_int_equal(net_region_register(simnet_net(sim, 1), 0, 1, region1, sizeof(region1)),
                     SQ_OK);
    simnet_run_idle(sim, 10000);
    uint8_t payload[8] = {0};
    assert_int_equal(net_msg_send(simnet_net(sim, 0), 1, 0, payload, 8, 0, 0), SQ_OK);
    region0[0] = 42;
    assert_int_equal(net_region_write(simnet_net(sim, 0), 1, 0, 0, 8, 0, 0), SQ_OK);
    simnet_run_idle(sim, 10000);
    assert_int_equal(rx[1].got[0], 0);
    assert_int_equal(region1[0], 0); /* the write waits behind the send */
    post_all(sim, &rx[1], 0);
    simnet_run_idle(sim, 10000);
    assert_int_equal(rx[1].got[0], 1);
    assert_int_equal(region1[0], 42);
    /* A send larger than the posted buffer breaks the connection. */
    uint8_t big[100] = {0};
    assert_int_equal(net_msg_send(simnet_net(sim, 0), 1, 1, big, sizeof(big), 0, 0), SQ_OK);
    simnet_run_idle(sim, 10000);
    assert_true(rx[0].failed_mask & 2);
    assert_true(rx[1].failed_mask & 1);
    assert_int_equal(rx[0].failed_reason[1], SQ_ETOOBIG);
    assert_int_equal(net_peer_state(simnet_net(sim, 0), 1), NET_PEER_FAILED);
    assert_int_equal(net_msg_send(simnet_net(sim, 0), 1, 0, payload, 8, 0, 0), SQ_EPEER);
    simnet_destroy(sim);
}

static void test_region_not_announced(void **state)
{
    (void)state;
    struct rx rx[2];
    struct simnet *sim = make_sim(6, 2, rx);
    static uint64_t r0[2], r1[2];
    assert_int_equal(net_region_register(simnet_net(sim, 0), 3, 9, r0, sizeof(r0)), SQ_OK);
    simnet_run_idle(sim, 10000);
    assert_int_equal(net_region_write(simnet_net(sim, 0), 1, 3, 0, 8, 0, 0), SQ_EAGAIN);
    assert_int_equal(net_region_register(simnet_net(sim, 1), 3, 10, r1, sizeof(r1)), SQ_OK);
    simnet_run_idle(sim, 10000);
    assert_int_equal(net_region_write(simnet_net(sim, 0), 1, 3, 0, 8, 0, 0), SQ_EAGAIN);
    assert_int_equal(net_region_register(simnet_net(sim, 1), 3, 9, r1, sizeof(r1)), SQ_OK);
    simnet_run_idle(sim, 10000);
    assert_int_equal(net_region_write(simnet_net(sim, 0), 1, 3, 0, 8, 0, 0), SQ_OK);
    assert_int_equal(net_region_write(simnet_net(sim, 0), 1, 3, 8, 8, 0, 0), SQ_OK);
    assert_int_equal(net_region_write(simnet_net(sim, 0), 1, 3, 8, 9, 0, 0), SQ_EINVAL);
    assert_int_equal(net_region_write(simnet_net(sim, 0), 1, 4, 0, 8, 0, 0), SQ_EINVAL);
    simnet_destroy(sim);
}

static void test_cut_heal_and_timeout(void **state)
{
    (void)state;
    struct rx rx[3];
    struct simnet *sim = make_sim(77, 3, rx);
    post_all(sim, &rx[1], 0);
    uint8_t payload[8] = {0};
    /* A short two-way cut: messages are held, then delivered in order; nobody fails. */
    simnet_link_cut(sim, 0, 1, true);
    for (uint32_t i = 0; i < 20; i++) {
        assert_int_equal(net_msg_send(simnet_net(sim, 0), 1, i, payload, 8, 0, 0), SQ_OK);
    }
    simnet_run_until(sim, simnet_now(sim) + 5 * SQ_NS_PER_MS);
    assert_int_equal(rx[1].got[0], 0);
    simnet_link_heal(sim, 0, 1, true);
    simnet_run_idle(sim, 100000);
    assert_int_equal(rx[1].got[0], 20);
    assert_int_equal(rx[1].order_violations, 0);
    assert_int_equal(rx[0].failed_mask, 0);
    /* A one-way cut that outlasts the timeout breaks the connection at both ends. */
    simnet_link_cut(sim, 2, 1, false);
    simnet_run_until(sim, simnet_now(sim) + 20 * SQ_NS_PER_MS);
    assert_true(rx[1].failed_mask & (1u << 2));
    assert_true(rx[2].failed_mask & (1u << 1));
    assert_int_equal(rx[1].failed_reason[2], SQ_ETIMEDOUT);
    assert_int_equal(rx[0].failed_mask, 0);
    simnet_destroy(sim);
}

/* Sends `count` messages 0->1 with imm from `first`, recording when each was sent. */
static void send_batch(struct simnet *sim, uint32_t first, uint32_t count, uint64_t *sent_at)
{
    uint8_t payload[8] = {0};
    for (uint32_t i = first; i < first + count; i++) {
        assert_int_equal(net_msg_send(simnet_net(sim, 0), 1, i, payload, 8, 0, 0), SQ_OK);
        sent_at[i] = simnet_now(sim);
        simnet_run_until(sim, simnet_now(sim) + 10000);
    }
}

static void test_delay_spike(void **state)
{
    (void)state;
    struct rx rx[3];
    struct simnet *sim = make_sim(99, 3, rx);
    post_all(sim, &rx[1], 0);
    post_all(sim, &rx[0], 1);
    uint64_t sent_at[24];
    const uint64_t extra = 30 * SQ_NS_PER_MS; /* past the link timeout: a spike is not a cut */
    /* Before the spike: the usual delay (at most 200 us here). */
    send_batch(sim, 0, 8, sent_at);
    simnet_link_delay(sim, 0, 1, extra, false);
    send_batch(sim, 8, 8, sent_at);
    /* One way only: 1->0 is not delayed. */
    uint8_t payload[8] = {0};
    assert_int_equal(net_msg_send(simnet_net(sim, 1), 0, 0, payload, 8, 0, 0), SQ_OK);
    simnet_run_until(sim, simnet_now(sim) + SQ_NS_PER_MS);
    assert_int_equal(rx[0].got[1], 1);
    assert_int_equal(rx[1].got[0], 8);
    /* Cleared: later messages are fast again but queue behind the delayed ones (FIFO). */
    simnet_link_delay(sim, 0, 1, 0, false);
    send_batch(sim, 16, 8, sent_at);
    assert_int_equal(rx[1].got[0], 8);
    simnet_run_idle(sim, 100000);
    assert_int_equal(rx[1].got[0], 24);
    assert_int_equal(rx[1].order_violations, 0);
    assert_int_equal(rx[0].failed_mask | rx[1].failed_mask, 0);
    for (uint32_t i = 0; i < 24; i++) {
        uint64_t took = rx[1].arrival_at[i] - sent_at[i];
        if (i < 8) {
            assert_true(took <= 200000);
        } else if (i < 16) {
            assert_true(took >= extra && took <= extra + 200000);
        } else {
            assert_true(rx[1].arrival_at[i] >= rx[1].arrival_at[15]);
        }
    }
    simnet_destroy(sim);
}

static void test_crash(void **state)
{
    (void)state;
    struct rx rx[3];
    struct simnet *sim = make_sim(8, 3, rx);
    simnet_node_crash(sim, 2);
    assert_true(simnet_node_is_crashed(sim, 2));
    /* Detection takes fail_detect_ns (1 ms by default). */
    simnet_run_until(sim, simnet_now(sim) + SQ_NS_PER_MS / 2);
    assert_int_equal(rx[0].failed_mask, 0);
    simnet_run_until(sim, simnet_now(sim) + SQ_NS_PER_MS);
    assert_int_equal(rx[0].failed_mask, 1u << 2);
    assert_int_equal(rx[1].failed_mask, 1u << 2);
    assert_int_equal(rx[0].failed_reason[2], SQ_EPEER);
    simnet_destroy(sim);
}

/* ---- determinism: an SST workload with faults, run twice ---- */

#define DN 4

struct drun {
    struct simnet *sim;
    struct sst *sst[DN];
    uint32_t col;
    uint32_t node_of[DN];
    int64_t k[DN];
    int check_failures;
};

static struct drun *cur;

static void d_failed(void *arg, uint32_t peer, int reason)
{
    (void)reason;
    uint32_t node = *(uint32_t *)arg;
    sst_row_freeze(cur->sst[node], peer);
}

static void d_poll(void *arg)
{
    uint32_t node = *(uint32_t *)arg;
    (void)sst_poll(cur->sst[node]);
}

static void d_check(void *arg)
{
    struct drun *d = arg;
    for (uint32_t i = 0; i < DN; i++) {
        if (!simnet_node_is_crashed(d->sim, i) && sst_check(d->sst[i]) != SQ_OK) {
            d->check_failures++;
        }
    }
}

/* Every node increments its counter to the min it sees plus one (a "follow the group" counter). */
static bool d_pred(struct sst *sst, void *arg)
{
    (void)sst;
    (void)arg;
    return true;
}

static void d_trig(struct sst *sst, void *arg)
{
    uint32_t node = *(uint32_t *)arg;
    int64_t min = 0;
    if (!sst_min_i64(sst, cur->col, 0, SST_ALL, &min)) {
        return;
    }
    if (min >= cur->k[node] && cur->k[node] < 200) {
        cur->k[node]++;
        sst_set_i64(sst, cur->col, 0, cur->k[node]);
        sst_cell_push(sst, cur->col, 0, SST_ALL);
    }
}

static uint64_t run_once(uint64_t seed, int64_t *final_min)
{
    static struct drun d;
    memset(&d, 0, sizeof(d));
    cur = &d;
    struct simnet_config cfg = {
        .seed = seed, .node_count = DN, .delay_min_ns = 500, .delay_max_ns = 50000};
    assert_int_equal(simnet_create(&d.sim, &cfg), SQ_OK);
    struct sst_schema schema;
    sst_schema_init(&schema);
    assert_int_equal(sst_schema_add(&schema, "k", SST_I64, 1, SST_MONOTONE, 0, &d.col), SQ_OK);
    uint32_t ids[DN];
    for (uint32_t i = 0; i < DN; i++) {
        ids[i] = i;
        d.node_of[i] = i;
    }
    for (uint32_t i = 0; i < DN; i++) {
        struct net_handler h = {.arg = &d.node_of[i], .peer_failed = d_failed};
        simnet_set_handler(d.sim, i, &h);
        simnet_set_poll(d.sim, i, d_poll, &d.node_of[i]);
        struct sst_config sc = {.schema = &schema,
                                .member_count = DN,
                                .my_rank = i,
                                .member_ids = ids,
                                .net = simnet_net(d.sim, i),
                                .region = 0,
                                .view_tag = 1};
        assert_int_equal(sst_create(&d.sst[i], &sc), SQ_OK);
        assert_int_equal(
            sst_pred_add(d.sst[i], SST_PRED_RECURRENT, d_pred, d_trig, &d.node_of[i], NULL), SQ_OK);
    }
    simnet_set_check(d.sim, d_check, &d);
    simnet_connect_all(d.sim);
    /* Faults drawn from the seed: one crash, one cut-and-heal, at random times. */
    struct sq_prng *prng = simnet_prng(d.sim);
    uint32_t victim = (uint32_t)sq_prng_below(prng, DN);
    uint64_t crash_at = simnet_now(d.sim) + sq_prng_range(prng, 1, 5) * SQ_NS_PER_MS;
    uint32_t a = (uint32_t)sq_prng_below(prng, DN);
    uint32_t b = (a + 1 + (uint32_t)sq_prng_below(prng, DN - 1)) % DN;
    simnet_run_until(d.sim, simnet_now(d.sim) + SQ_NS_PER_MS);
    simnet_link_cut(d.sim, a, b, true);
    simnet_run_until(d.sim, simnet_now(d.sim) + 2 * SQ_NS_PER_MS);
    simnet_link_heal(d.sim, a, b, true);
    simnet_run_until(d.sim, crash_at);
    simnet_node_crash(d.sim, victim);
    simnet_run_idle(d.sim, 10000000);
    assert_int_equal(d.check_failures, 0);
    /* Every survivor has reached the end, and they agree on each other's final values. */
    uint32_t survivor = (victim + 1) % DN;
    assert_true(sst_min_i64(d.sst[survivor], d.col, 0, SST_ALL, final_min));
    for (uint32_t i = 0; i < DN; i++) {
        if (i == victim) {
            continue;
        }
        assert_int_equal(d.k[i], 200);
        for (uint32_t r = 0; r < DN; r++) {
            if (r != victim) {
                assert_int_equal(sst_get_i64(d.sst[i], r, d.col, 0), 200);
            }
        }
    }
    uint64_t h = simnet_trace_hash(d.sim);
    for (uint32_t i = 0; i < DN; i++) {
        sst_destroy(d.sst[i]);
    }
    simnet_destroy(d.sim);
    return h;
}

static void test_determinism(void **state)
{
    (void)state;
    int64_t m1 = 0, m2 = 0, m3 = 0;
    uint64_t h1 = run_once(2024, &m1);
    uint64_t h2 = run_once(2024, &m2);
    uint64_t h3 = run_once(2025, &m3);
    assert_int_equal(h1, h2);
    assert_int_equal(m1, m2);
    assert_int_not_equal(h1, h3);
}

int main(void)
{
    sq_log_set_level(SQ_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_per_connection_not_across),
        cmocka_unit_test(test_send_waits_for_buffer),
        cmocka_unit_test(test_region_not_announced),
        cmocka_unit_test(test_cut_heal_and_timeout),
        cmocka_unit_test(test_delay_spike),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
