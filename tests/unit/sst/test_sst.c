/* SST unit tests, run on the simulated network (tests/sim/simnet.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/log.h"
#include "sst/sst.h"
#include "tests/sim/simnet.h"

#define NODES_MAX 5
#define DATA_BYTES 40 /* deliberately not a multiple of 8: padding is exercised */

struct world {
    struct simnet *sim;
    uint32_t n;
    struct sst_schema schema;
    uint32_t c_count; /* i64 monotone counter, init -1 */
    uint32_t c_data;  /* bytes */
    uint32_t c_flags; /* u64[3] */
    uint32_t ids[NODES_MAX];
    struct sst *sst[NODES_MAX];
    uint32_t failed_seen[NODES_MAX]; /* bit per peer reported failed to node i */
    int check_failures;
};

struct node_ctx {
    struct world *w;
    uint32_t node;
};
static struct node_ctx ctxs[NODES_MAX];

static void on_peer_failed(void *arg, uint32_t peer, int reason)
{
    (void)reason;
    struct node_ctx *c = arg;
    c->w->failed_seen[c->node] |= 1u << peer;
    if (c->w->sst[c->node] != NULL) {
        sst_row_freeze(c->w->sst[c->node], (uint32_t)sst_rank_of(c->w->sst[c->node], peer));
    }
}

static void poll_node(void *arg)
{
    struct node_ctx *c = arg;
    if (c->w->sst[c->node] != NULL) {
        (void)sst_poll(c->w->sst[c->node]);
    }
}

static void check_all(void *arg)
{
    struct world *w = arg;
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->sst[i] != NULL && !simnet_node_is_crashed(w->sim, i) &&
            sst_check(w->sst[i]) != SQ_OK) {
            w->check_failures++;
        }
    }
}

static void schema_build(struct sst_schema *s, uint32_t *c_count, uint32_t *c_data,
                         uint32_t *c_flags)
{
    sst_schema_init(s);
    assert_int_equal(sst_schema_add(s, "count", SST_I64, 1, SST_MONOTONE, -1, c_count), SQ_OK);
    assert_int_equal(sst_schema_add(s, "data", SST_BYTES, DATA_BYTES, 0, 0, c_data), SQ_OK);
    assert_int_equal(sst_schema_add(s, "flags", SST_U64, 3, 0, 0, c_flags), SQ_OK);
}

static struct sst *make_sst(struct world *w, uint32_t i)
{
    struct sst_config cfg = {
        .schema = &w->schema,
        .member_count = w->n,
        .my_rank = i,
        .member_ids = w->ids,
        .net = simnet_net(w->sim, i),
        .region = 1,
        .view_tag = 7,
    };
    struct sst *s = NULL;
    assert_int_equal(sst_create(&s, &cfg), SQ_OK);
    return s;
}

static void world_init(struct world *w, uint32_t n, uint64_t seed, bool create_all)
{
    memset(w, 0, sizeof(*w));
    w->n = n;
    struct simnet_config cfg = {.seed = seed, .node_count = n};
    assert_int_equal(simnet_create(&w->sim, &cfg), SQ_OK);
    schema_build(&w->schema, &w->c_count, &w->c_data, &w->c_flags);
    for (uint32_t i = 0; i < n; i++) {
        w->ids[i] = i;
        ctxs[i] = (struct node_ctx){.w = w, .node = i};
        struct net_handler h = {.arg = &ctxs[i], .peer_failed = on_peer_failed};
        simnet_set_handler(w->sim, i, &h);
        simnet_set_poll(w->sim, i, poll_node, &ctxs[i]);
    }
    if (create_all) {
        for (uint32_t i = 0; i < n; i++) {
            w->sst[i] = make_sst(w, i);
        }
    }
    simnet_set_check(w->sim, check_all, w);
    simnet_connect_all(w->sim);
}

static void world_free(struct world *w)
{
    for (uint32_t i = 0; i < w->n; i++) {
        sst_destroy(w->sst[i]);
    }
    simnet_destroy(w->sim);
}

static bool all_ready(void *arg)
{
    struct world *w = arg;
    for (uint32_t i = 0; i < w->n; i++) {
        if (w->sst[i] != NULL && !sst_targets_ready(w->sst[i], SST_ALL)) {
            return false;
        }
    }
    return true;
}

/* Connect everyone and let region announcements arrive. */
static void world_settle(struct world *w)
{
    assert_true(simnet_run_until_cond(w->sim, all_ready, w, simnet_now(w->sim) + SQ_NS_PER_S));
    simnet_run_idle(w->sim, 100000);
}

/* ---- schema ---- */

static void test_schema_layout(void **state)
{
    (void)state;
    struct sst_schema s;
    uint32_t a, b, c;
    schema_build(&s, &a, &b, &c);
    assert_int_equal(s.cols[a].offset, 0);
    assert_int_equal(s.cols[b].offset, 8);
    assert_int_equal(s.cols[b].size, 40);
    assert_int_equal(s.cols[c].offset, 48);
    assert_int_equal(s.row_size, 72);
    uint32_t x;
    assert_int_equal(sst_schema_add(&s, "count", SST_I64, 1, 0, 0, &x), SQ_EINVAL);
    assert_int_equal(sst_schema_add(&s, "b", SST_BYTES, 3, SST_MONOTONE, 0, &x), SQ_EINVAL);
    assert_int_equal(sst_schema_add(&s, "z", SST_I64, 0, 0, 0, &x), SQ_EINVAL);
    assert_int_equal(sst_schema_add(&s, "big", SST_BYTES, SST_ROW_BYTES_MAX, 0, 0, &x), SQ_ETOOBIG);
    assert_int_equal(sst_schema_add(&s, "odd", SST_BYTES, 3, 0, 0, &x), SQ_OK);
    assert_int_equal(s.cols[x].size, 8);
    assert_int_equal(s.row_size % 8, 0);
    assert_int_equal(sst_schema_find(&s, "flags", &x), SQ_OK);
    assert_int_equal(x, c);
    assert_int_equal(sst_schema_find(&s, "nope", &x), SQ_ENOTFOUND);
}

static void test_initial_values(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 1, true);
    for (uint32_t i = 0; i < 3; i++) {
        for (uint32_t r = 0; r < 3; r++) {
            assert_int_equal(sst_get_i64(w.sst[i], r, w.c_count, 0), -1);
            assert_int_equal(sst_get_u64(w.sst[i], r, w.c_flags, 2), 0);
        }
    }
    assert_int_equal(sst_region_tag(w.sst[0]), sst_region_tag(w.sst[2]));
    world_free(&w);
}

/* ---- pushes arrive in order ---- */

struct order_watch {
    struct world *w;
    uint32_t node;
    int64_t last_seen;
    int violations;
    int checks;
};

/* Node 0 writes data = f(k) then pushes it, then count = k and pushes that. A reader that sees
 * count = k must see data of k or later (never earlier): pushes are applied in order. */
static void fill_data(uint8_t *buf, int64_t k)
{
    for (size_t i = 0; i < DATA_BYTES; i++) {
        buf[i] = (uint8_t)(k * 31 + (int64_t)i);
    }
}

static bool order_pred(struct sst *sst, void *arg)
{
    (void)sst;
    (void)arg;
    return true;
}

static void order_trig(struct sst *sst, void *arg)
{
    struct order_watch *o = arg;
    int64_t k = sst_get_i64(sst, 0, o->w->c_count, 0);
    if (k < o->last_seen) {
        o->violations++;
    }
    o->last_seen = k;
    if (k >= 0) {
        uint8_t got[DATA_BYTES];
        uint8_t want[DATA_BYTES];
        sst_get_bytes(sst, 0, o->w->c_data, 0, got, DATA_BYTES);
        fill_data(want, k);
        /* Data is pushed before the count and is never older than the count that covers it;
         * it may be newer (the next data push arrived already). */
        bool same = memcmp(got, want, DATA_BYTES) == 0;
        if (!same) {
            uint8_t next[DATA_BYTES];
            fill_data(next, k + 1);
            if (memcmp(got, next, DATA_BYTES) != 0) {
                o->violations++;
            }
        }
        o->checks++;
    }
}

struct pusher {
    struct world *w;
    int64_t k;
    int64_t k_max;
};

static void push_step(void *arg)
{
    struct pusher *p = arg;
    struct sst *s = p->w->sst[0];
    p->k++;
    uint8_t buf[DATA_BYTES];
    fill_data(buf, p->k);
    sst_set_bytes(s, p->w->c_data, 0, buf, DATA_BYTES);
    assert_int_equal(sst_col_push(s, p->w->c_data, SST_ALL), SQ_OK);
    sst_set_i64(s, p->w->c_count, 0, p->k);
    assert_int_equal(sst_cell_push(s, p->w->c_count, 0, SST_ALL), SQ_OK);
    if (p->k < p->k_max) {
        uint64_t gap = sq_prng_range(simnet_prng(p->w->sim), 0, 30 * SQ_NS_PER_US);
        assert_int_equal(simnet_call_at(p->w->sim, simnet_now(p->w->sim) + gap, 0, push_step, p),
                         SQ_OK);
    }
}

static void test_push_order(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 42, true);
    world_settle(&w);
    struct order_watch o1 = {.w = &w, .node = 1, .last_seen = -1};
    struct order_watch o2 = {.w = &w, .node = 2, .last_seen = -1};
    assert_int_equal(sst_pred_add(w.sst[1], SST_PRED_RECURRENT, order_pred, order_trig, &o1, NULL),
                     SQ_OK);
    assert_int_equal(sst_pred_add(w.sst[2], SST_PRED_RECURRENT, order_pred, order_trig, &o2, NULL),
                     SQ_OK);
    struct pusher p = {.w = &w, .k = -1, .k_max = 500};
    assert_int_equal(simnet_call_at(w.sim, simnet_now(w.sim), 0, push_step, &p), SQ_OK);
    simnet_run_idle(w.sim, 1000000);
    assert_int_equal(o1.violations, 0);
    assert_int_equal(o2.violations, 0);
    assert_true(o1.checks > 100);
    assert_int_equal(sst_get_i64(w.sst[1], 0, w.c_count, 0), 500);
    assert_int_equal(sst_get_i64(w.sst[2], 0, w.c_count, 0), 500);
    assert_int_equal(w.check_failures, 0);
    world_free(&w);
}

/* ---- predicates fire exactly as specified ---- */

struct pstate {
    bool value;
    int fired;
    struct sst_pred_handle self;
    struct sst_pred_handle other;
    struct sst_pred_handle added;
    bool add_in_trigger;
    bool remove_self;
    bool remove_other;
    int evaluated;
};

static bool p_value(struct sst *sst, void *arg)
{
    (void)sst;
    struct pstate *p = arg;
    p->evaluated++;
    return p->value;
}

static void p_count(struct sst *sst, void *arg)
{
    struct pstate *p = arg;
    p->fired++;
    if (p->remove_self) {
        sst_pred_remove(sst, p->self);
    }
    if (p->remove_other) {
        sst_pred_remove(sst, p->other);
    }
    if (p->add_in_trigger) {
        p->add_in_trigger = false;
        assert_int_equal(sst_pred_add(sst, SST_PRED_RECURRENT, p_value, p_count, p, &p->added),
                         SQ_OK);
    }
}

static void test_predicates(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 1, 3, true);
    struct sst *s = w.sst[0];

    /* One-time: fires once, at the first poll where it holds, and is gone. */
    struct pstate one = {0};
    assert_int_equal(sst_pred_add(s, SST_PRED_ONE_TIME, p_value, p_count, &one, &one.self), SQ_OK);
    assert_int_equal(sst_poll(s), 0);
    one.value = true;
    assert_int_equal(sst_poll(s), 1);
    assert_int_equal(sst_poll(s), 0);
    assert_int_equal(one.fired, 1);
    assert_false(sst_pred_is_active(s, one.self));

    /* Recurrent: fires on every poll while true. */
    struct pstate rec = {.value = true};
    assert_int_equal(sst_pred_add(s, SST_PRED_RECURRENT, p_value, p_count, &rec, &rec.self), SQ_OK);
    for (int i = 0; i < 5; i++) {
        sst_poll(s);
    }
    rec.value = false;
    sst_poll(s);
    assert_int_equal(rec.fired, 5);
    sst_pred_remove(s, rec.self);
    sst_pred_remove(s, rec.self); /* stale handle: no-op */

    /* Transition: fires on false->true edges only; true at the first evaluation counts. */
    struct pstate tr = {.value = true};
    assert_int_equal(sst_pred_add(s, SST_PRED_TRANSITION, p_value, p_count, &tr, &tr.self), SQ_OK);
    bool seq[] = {true, true, false, false, true, false, true, true};
    for (size_t i = 0; i < sizeof(seq); i++) {
        tr.value = seq[i];
        sst_poll(s);
    }
    assert_int_equal(tr.fired, 3);
    sst_pred_remove(s, tr.self);

    /* A recurrent trigger removing itself fires once. */
    struct pstate selfrm = {.value = true, .remove_self = true};
    assert_int_equal(sst_pred_add(s, SST_PRED_RECURRENT, p_value, p_count, &selfrm, &selfrm.self),
                     SQ_OK);
    sst_poll(s);
    sst_poll(s);
    assert_int_equal(selfrm.fired, 1);

    /* A trigger removing a later predicate: that one is not evaluated in the same pass. */
    struct pstate a = {.value = true, .remove_other = true};
    struct pstate b = {.value = true};
    assert_int_equal(sst_pred_add(s, SST_PRED_RECURRENT, p_value, p_count, &a, &a.self), SQ_OK);
    assert_int_equal(sst_pred_add(s, SST_PRED_RECURRENT, p_value, p_count, &b, &b.self), SQ_OK);
    a.other = b.self;
    sst_poll(s);
    assert_int_equal(b.evaluated, 0);
    assert_int_equal(b.fired, 0);
    assert_false(sst_pred_is_active(s, b.self));
    sst_pred_remove(s, a.self);

    /* A trigger adding a predicate: the new one waits for the next poll. */
    struct pstate adder = {.value = true, .add_in_trigger = true, .remove_self = true};
    assert_int_equal(sst_pred_add(s, SST_PRED_ONE_TIME, p_value, p_count, &adder, &adder.self),
                     SQ_OK);
    int before = adder.evaluated;
    assert_int_equal(sst_poll(s), 1);
    assert_int_equal(adder.evaluated, before + 1);
    assert_true(sst_pred_is_active(s, adder.added));
    assert_int_equal(sst_poll(s), 1); /* the added recurrent one */
    sst_pred_remove(s, adder.added);

    /* Capacity: SST_PREDS_MAX, then SQ_EFULL; removal frees slots. */
    struct pstate many = {0};
    static struct sst_pred_handle hs[SST_PREDS_MAX];
    int added = 0;
    while (sst_pred_add(s, SST_PRED_RECURRENT, p_value, p_count, &many, &hs[added]) == SQ_OK) {
        added++;
    }
    assert_int_equal(added, SST_PREDS_MAX);
    sst_pred_remove(s, hs[0]);
    assert_int_equal(sst_pred_add(s, SST_PRED_RECURRENT, p_value, p_count, &many, &hs[0]), SQ_OK);
    world_free(&w);
}

/* ---- frozen rows and min over live rows ---- */

static void test_freeze_and_min(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 9, true);
    world_settle(&w);
    int64_t vals[3] = {5, 2, 9};
    for (uint32_t i = 0; i < 3; i++) {
        sst_set_i64(w.sst[i], w.c_count, 0, vals[i]);
        sst_row_push(w.sst[i], SST_ALL);
    }
    simnet_run_idle(w.sim, 100000);
    int64_t m = 0;
    assert_true(sst_min_i64(w.sst[0], w.c_count, 0, SST_ALL, &m));
    assert_int_equal(m, 2);
    assert_true(sst_min_i64(w.sst[0], w.c_count, 0, (1u << 0) | (1u << 2), &m));
    assert_int_equal(m, 5);

    /* Node 0 freezes row 1 while node 1 keeps writing: node 0 keeps reading the frozen value. */
    sst_row_freeze(w.sst[0], 1);
    sst_row_freeze(w.sst[0], 1); /* idempotent */
    assert_true(sst_row_is_frozen(w.sst[0], 1));
    sst_set_i64(w.sst[1], w.c_count, 0, 50);
    sst_row_push(w.sst[1], SST_ALL);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_get_i64(w.sst[0], 1, w.c_count, 0), 2);
    assert_int_equal(sst_get_i64(w.sst[2], 1, w.c_count, 0), 50);
    /* Min over live rows skips the frozen one. */
    assert_true(sst_min_i64(w.sst[0], w.c_count, 0, SST_ALL, &m));
    assert_int_equal(m, 5);
    assert_false(sst_min_i64(w.sst[0], w.c_count, 0, 1u << 1, &m));
    assert_int_equal(sst_live_mask(w.sst[0]), 0x5);

    /* Pushes skip frozen rows: node 1 no longer hears from node 0. */
    sst_set_i64(w.sst[0], w.c_count, 0, 6);
    sst_row_push(w.sst[0], SST_ALL);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_get_i64(w.sst[1], 0, w.c_count, 0), 5);
    assert_int_equal(sst_get_i64(w.sst[2], 0, w.c_count, 0), 6);
    assert_int_equal(w.check_failures, 0);
    world_free(&w);
}

/* A crashed node is reported failed and its row freezes with its last values. */
static void test_crash_freezes(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 11, true);
    world_settle(&w);
    sst_set_i64(w.sst[2], w.c_count, 0, 77);
    sst_row_push(w.sst[2], SST_ALL);
    simnet_run_idle(w.sim, 100000);
    simnet_node_crash(w.sim, 2);
    simnet_run_idle(w.sim, 100000);
    assert_true(w.failed_seen[0] & (1u << 2));
    assert_true(w.failed_seen[1] & (1u << 2));
    assert_true(sst_row_is_frozen(w.sst[0], 2));
    assert_int_equal(sst_get_i64(w.sst[0], 2, w.c_count, 0), 77);
    /* Pushing to all still works and skips the frozen row. */
    sst_set_i64(w.sst[0], w.c_count, 0, 1);
    assert_int_equal(sst_row_push(w.sst[0], SST_ALL), SQ_OK);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_get_i64(w.sst[1], 0, w.c_count, 0), 1);
    world_free(&w);
}

/* ---- shard pushes ---- */

static void test_subset_push(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 4, 5, true);
    world_settle(&w);
    sst_set_u64(w.sst[0], w.c_flags, 1, 1);
    sst_cell_push(w.sst[0], w.c_flags, 1, (1u << 2) | (1u << 3));
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_get_u64(w.sst[1], 0, w.c_flags, 1), 0);
    assert_int_equal(sst_get_u64(w.sst[2], 0, w.c_flags, 1), 1);
    assert_int_equal(sst_get_u64(w.sst[3], 0, w.c_flags, 1), 1);
    world_free(&w);
}

/* ---- catch-up: a member that builds its table late gets the whole row ---- */

static void test_late_member_catch_up(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 2, 13, false);
    w.sst[0] = make_sst(&w, 0);
    simnet_run_idle(w.sim, 100000);
    for (int64_t k = 0; k < 5; k++) {
        sst_set_i64(w.sst[0], w.c_count, 0, k);
        assert_int_equal(sst_cell_push(w.sst[0], w.c_count, 0, SST_ALL), SQ_OK);
    }
    assert_false(sst_targets_ready(w.sst[0], SST_ALL));
    w.sst[1] = make_sst(&w, 1);
    simnet_run_idle(w.sim, 100000);
    (void)sst_poll(w.sst[0]); /* the loop's next pass sends the owed row */
    simnet_run_idle(w.sim, 100000);
    assert_true(sst_targets_ready(w.sst[0], SST_ALL));
    assert_int_equal(sst_get_i64(w.sst[1], 0, w.c_count, 0), 4);
    world_free(&w);
}

/* ---- signaled pushes complete ---- */

static int completions_ok;
static int completions_err;

static void on_completion(void *arg, uint32_t peer, uint64_t wr_id, int status)
{
    (void)arg;
    assert_int_equal((uint32_t)(wr_id >> 32), peer);
    assert_int_equal((uint32_t)wr_id, 99);
    if (status == SQ_OK) {
        completions_ok++;
    } else {
        completions_err++;
    }
}

static void test_signaled_push(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 3, 17, true);
    for (uint32_t i = 0; i < 3; i++) {
        struct net_handler h = {
            .arg = &ctxs[i], .peer_failed = on_peer_failed, .completion = on_completion};
        simnet_set_handler(w.sim, i, &h);
    }
    world_settle(&w);
    completions_ok = 0;
    completions_err = 0;
    assert_int_equal(sst_col_push_signaled(w.sst[0], w.c_count, SST_ALL, 99), SQ_OK);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(completions_ok, 2);
    /* A signaled push to a peer that crashes before acknowledging completes with an error. */
    assert_int_equal(sst_col_push_signaled(w.sst[0], w.c_count, 1u << 1, 99), SQ_OK);
    simnet_node_crash(w.sim, 1);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(completions_ok, 2);
    assert_int_equal(completions_err, 1);
    world_free(&w);
}

/* ---- sst_check catches a decreasing monotone counter ---- */

static void test_check_detects_decrease(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 2, 19, false);
    simnet_set_check(w.sim, NULL, NULL);
    w.sst[0] = make_sst(&w, 0);
    /* Node 1 is a rogue writer: raw memory under the table's tag instead of an SST. */
    static uint8_t rogue[2 * 72] __attribute__((aligned(8)));
    struct net *n1 = simnet_net(w.sim, 1);
    assert_int_equal(net_region_register(n1, 1, sst_region_tag(w.sst[0]), rogue, sizeof(rogue)),
                     SQ_OK);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_check(w.sst[0]), SQ_OK);
    size_t off = 72 + sst_col_offset(w.sst[0], w.c_count);
    int64_t v = 10;
    memcpy(rogue + off, &v, 8);
    assert_int_equal(net_region_write(n1, 0, 1, off, 8, 0, 0), SQ_OK);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_get_i64(w.sst[0], 1, w.c_count, 0), 10);
    assert_int_equal(sst_check(w.sst[0]), SQ_OK);
    v = 3;
    memcpy(rogue + off, &v, 8);
    assert_int_equal(net_region_write(n1, 0, 1, off, 8, 0, 0), SQ_OK);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_check(w.sst[0]), SQ_ECORRUPT);
    assert_non_null(strstr(sst_check_msg(w.sst[0]), "count"));
    net_region_unregister(n1, 1);
    world_free(&w);
}

/* A table of another view (tag) never accepts this one's writes. */
static void test_view_tag_isolation(void **state)
{
    (void)state;
    struct world w;
    world_init(&w, 2, 23, false);
    w.sst[0] = make_sst(&w, 0);
    struct sst_config cfg = {
        .schema = &w.schema,
        .member_count = 2,
        .my_rank = 1,
        .member_ids = w.ids,
        .net = simnet_net(w.sim, 1),
        .region = 1,
        .view_tag = 8, /* another view */
    };
    assert_int_equal(sst_create(&w.sst[1], &cfg), SQ_OK);
    simnet_run_idle(w.sim, 100000);
    sst_set_i64(w.sst[0], w.c_count, 0, 3);
    sst_row_push(w.sst[0], SST_ALL);
    simnet_run_idle(w.sim, 100000);
    assert_int_equal(sst_get_i64(w.sst[1], 0, w.c_count, 0), -1);
    assert_false(sst_targets_ready(w.sst[0], SST_ALL));
    world_free(&w);
}

/* A row larger than one transport write is pushed in ordered pieces. */
static void test_big_row(void **state)
{
    (void)state;
    struct simnet *sim = NULL;
    struct simnet_config cfg = {.seed = 31, .node_count = 2};
    assert_int_equal(simnet_create(&sim, &cfg), SQ_OK);
    struct sst_schema schema;
    sst_schema_init(&schema);
    uint32_t c_blob, c_ver;
    const uint32_t blob = 3u * 1024 * 1024 + 5;
    assert_int_equal(sst_schema_add(&schema, "blob", SST_BYTES, blob, 0, 0, &c_blob), SQ_OK);
    assert_int_equal(sst_schema_add(&schema, "ver", SST_U64, 1, SST_MONOTONE, 0, &c_ver), SQ_OK);
    uint32_t ids[2] = {0, 1};
    struct sst *s[2];
    for (uint32_t i = 0; i < 2; i++) {
        struct sst_config sc = {.schema = &schema,
                                .member_count = 2,
                                .my_rank = i,
                                .member_ids = ids,
                                .net = simnet_net(sim, i),
                                .region = 2,
                                .view_tag = 1};
        assert_int_equal(sst_create(&s[i], &sc), SQ_OK);
    }
    simnet_connect_all(sim);
    simnet_run_idle(sim, 100000);
    assert_true(sst_targets_ready(s[0], SST_ALL));
    static uint8_t data[3u * 1024 * 1024 + 5];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)(i * 13 + 1);
    }
    sst_set_bytes(s[0], c_blob, 0, data, sizeof(data));
    sst_set_u64(s[0], c_ver, 0, 1);
    assert_int_equal(sst_row_push(s[0], SST_ALL), SQ_OK);
    simnet_run_idle(sim, 100000);
    static uint8_t got[3u * 1024 * 1024 + 5];
    sst_get_bytes(s[1], 0, c_blob, 0, got, sizeof(got));
    assert_memory_equal(got, data, sizeof(data));
    assert_int_equal(sst_get_u64(s[1], 0, c_ver, 0), 1);
    sst_destroy(s[0]);
    sst_destroy(s[1]);
    simnet_destroy(sim);
}

int main(void)
{
    sq_log_set_level(SQ_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_layout),      cmocka_unit_test(test_initial_values),
        cmocka_unit_test(test_push_order),         cmocka_unit_test(test_predicates),
        cmocka_unit_test(test_freeze_and_min),     cmocka_unit_test(test_crash_freezes),
        cmocka_unit_test(test_subset_push),        cmocka_unit_test(test_late_member_catch_up),
        cmocka_unit_test(test_signaled_push),      cmocka_unit_test(test_check_detects_decrease),
        cmocka_unit_test(test_view_tag_isolation), cmocka_unit_test(test_big_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
