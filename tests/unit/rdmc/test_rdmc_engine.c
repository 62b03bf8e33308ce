/* The RDMC transfer engine on the deterministic harness (rdmc_harness.h), plus direct tests of
 * its API, its frame validation and its failure paths. */
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
#include "rdmc/rdmc.h"
#include "rdmc_harness.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---- harness scenarios ---- */

static void base_cfg(struct h_cfg *cfg, uint64_t seed, uint32_t nodes)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = seed;
    cfg->node_count = nodes;
    cfg->delay_min_ns = 500;
    cfg->delay_max_ns = 20000;
    cfg->crash_node = -1;
}

static void one_group(struct h_cfg *cfg, uint32_t g, uint32_t id, uint32_t n, uint32_t root,
                      enum rdmc_sched sched, uint32_t block_bytes, uint32_t msg_bytes_max)
{
    struct h_group_cfg *gc = &cfg->groups[g];
    gc->id = id;
    gc->n = n;
    for (uint32_t i = 0; i < n; i++) {
        gc->members[i] = (root + i) % cfg->node_count; /* rotated: the root first (§3.1) */
    }
    rdmc_settings_default(&gc->settings);
    gc->settings.sched = sched;
    gc->settings.block_bytes = block_bytes;
    gc->settings.msg_bytes_max = msg_bytes_max;
    if (cfg->group_count < g + 1) {
        cfg->group_count = g + 1;
    }
}

/* Every schedule, several group sizes (powers of two and not), the size edge cases. */
static void test_each_schedule_transfers(void **state)
{
    (void)state;
    static const uint32_t ns[] = {2, 3, 4, 5, 7, 8, 11};
    uint64_t seed = 100;
    for (int s = 0; s < RDMC_SCHED_COUNT; s++) {
        for (size_t i = 0; i < SQ_ARRAY_LEN(ns); i++) {
            struct h_cfg cfg;
            base_cfg(&cfg, seed++, ns[i]);
            uint32_t bs = 4 * KIB;
            one_group(&cfg, 0, 77, ns[i], 0, (enum rdmc_sched)s, bs, 64 * bs);
            size_t sizes[] = {1, bs, bs + 1, bs - 1, 2 * bs, 3 * bs + 5, 17 * bs + 100, 64 * bs};
            cfg.groups[0].msg_count = SQ_ARRAY_LEN(sizes);
            memcpy(cfg.groups[0].sizes, sizes, sizeof(sizes));
            struct h_result res;
            h_run(&cfg, &res);
            assert_int_equal(res.msgs_done, (uint64_t)ns[i] * SQ_ARRAY_LEN(sizes));
            assert_int_equal(res.groups_failed, 0);
        }
    }
}

/* Random configurations without faults: groups of random members, roots, schedules, block sizes,
 * windows and queue lengths; random delays; transport back-pressure; staggered creation. */
static void test_random_clean(void **state)
{
    (void)state;
    uint64_t seeds[512];
    size_t count = h_seeds(1000, 40, seeds, SQ_ARRAY_LEN(seeds));
    uint64_t bytes = 0;
    uint64_t msgs = 0;
    for (size_t i = 0; i < count; i++) {
        struct h_cfg cfg;
        h_cfg_random(&cfg, seeds[i], false);
        struct h_result res;
        h_run(&cfg, &res);
        bytes += res.bytes_checked;
        msgs += res.msgs_done;
    }
    print_message("%zu runs, %llu messages complete, %llu receiver bytes checked\n", count,
                  (unsigned long long)msgs, (unsigned long long)bytes);
    assert_true(msgs > 0);
}

/* A member crashes at a random time: every survivor of its groups gets one failure upcall, never
 * a completion with wrong bytes; other groups finish. */
static void test_random_crash(void **state)
{
    (void)state;
    uint64_t seeds[512];
    size_t count = h_seeds(5000, 50, seeds, SQ_ARRAY_LEN(seeds));
    uint64_t failed = 0;
    for (size_t i = 0; i < count; i++) {
        struct h_cfg cfg;
        h_cfg_random(&cfg, seeds[i], true);
        struct h_result res;
        h_run(&cfg, &res);
        failed += res.groups_failed;
    }
    print_message("%zu runs, %llu failure upcalls\n", count, (unsigned long long)failed);
    assert_true(count == 1 || failed > 0);
}

/* The crash falls inside a long transfer, so survivors hold partial messages when they learn of
 * it: one group of 8 over every schedule, a receiver or the root crashing. */
static void test_crash_mid_transfer(void **state)
{
    (void)state;
    for (int s = 0; s < RDMC_SCHED_COUNT; s++) {
        for (int victim = 0; victim < 8; victim += 3) {
            struct h_cfg cfg;
            base_cfg(&cfg, 7000 + (uint64_t)s * 10 + (uint64_t)victim, 8);
            one_group(&cfg, 0, 5, 8, 0, (enum rdmc_sched)s, 1 * KIB, 256 * KIB);
            cfg.groups[0].msg_count = 4;
            for (uint32_t m = 0; m < 4; m++) {
                cfg.groups[0].sizes[m] = 256 * KIB;
            }
            /* A second group without the victim must finish regardless. */
            struct h_group_cfg *g2 = &cfg.groups[1];
            one_group(&cfg, 1, 6, 3, victim == 0 ? 1 : 0, RDMC_SCHED_CHAIN, 1 * KIB, 8 * KIB);
            for (uint32_t i = 0; i < 3; i++) {
                g2->members[i] = (uint32_t)(victim + 1 + (int)i) % 8;
            }
            g2->msg_count = 3;
            g2->sizes[0] = 1;
            g2->sizes[1] = 8 * KIB;
            g2->sizes[2] = 5000;
            cfg.crash_node = victim;
            cfg.crash_at_ns = 600000; /* well inside the first messages */
            cfg.detect_max_ns = 200000;
            struct h_result res;
            h_run(&cfg, &res);
            assert_int_equal(res.groups_failed, 7); /* every survivor of group 5, once */
        }
    }
}

/* Same seed, same trace hash; another seed, another hash. */
static void test_determinism(void **state)
{
    (void)state;
    for (uint64_t seed = 42; seed < 48; seed++) {
        struct h_cfg cfg;
        h_cfg_random(&cfg, seed, seed % 2 == 1);
        struct h_result a;
        struct h_result b;
        h_run(&cfg, &a);
        h_run(&cfg, &b);
        assert_true(a.trace_hash == b.trace_hash);
        assert_true(a.events == b.events && a.end_ns == b.end_ns);
        struct h_cfg other = cfg;
        other.seed = seed + 1000; /* same shape, other delays and bytes */
        struct h_result c;
        h_run(&other, &c);
        assert_true(c.trace_hash != a.trace_hash);
    }
}

/* A root queues many messages at once; they complete in order everywhere. */
static void test_many_queued(void **state)
{
    (void)state;
    struct h_cfg cfg;
    base_cfg(&cfg, 9001, 6);
    one_group(&cfg, 0, 300, 6, 2, RDMC_SCHED_PIPELINE, 512, 8 * KIB);
    cfg.groups[0].settings.queue_max = 64;
    cfg.groups[0].msg_count = H_MSGS_MAX;
    struct sq_prng p;
    sq_prng_seed(&p, 9001);
    for (uint32_t m = 0; m < H_MSGS_MAX; m++) {
        cfg.groups[0].sizes[m] = (size_t)sq_prng_range(&p, 1, 8 * KIB);
    }
    cfg.full_per_mille = 20;
    struct h_result res;
    h_run(&cfg, &res);
    assert_int_equal(res.msgs_done, 6u * H_MSGS_MAX);
}

/* Multi-MiB messages with 1 MiB blocks (the default block size). */
static void test_multi_mib(void **state)
{
    (void)state;
    static const enum rdmc_sched scheds[] = {RDMC_SCHED_PIPELINE, RDMC_SCHED_SEQUENTIAL};
    static const uint32_t nodes[] = {8, 4};
    for (size_t i = 0; i < SQ_ARRAY_LEN(scheds); i++) {
        struct h_cfg cfg;
        base_cfg(&cfg, 9100 + i, nodes[i]);
        one_group(&cfg, 0, 1, nodes[i], 3 % nodes[i], scheds[i], 1 * MIB, 8 * MIB);
        cfg.groups[0].msg_count = 3;
        cfg.groups[0].sizes[0] = 5 * MIB + 12345;
        cfg.groups[0].sizes[1] = 8 * MIB;
        cfg.groups[0].sizes[2] = 1 * MIB;
        struct h_result res;
        h_run(&cfg, &res);
        assert_int_equal(res.msgs_done, 3u * nodes[i]);
        assert_int_equal(res.bytes_checked, (nodes[i] - 1u) * (14 * MIB + 12345));
    }
}

/* Several groups over the same nodes at once, each with its own root and schedule. */
static void test_concurrent_groups(void **state)
{
    (void)state;
    struct h_cfg cfg;
    base_cfg(&cfg, 9200, 9);
    for (uint32_t g = 0; g < H_GROUPS_MAX; g++) {
        one_group(&cfg, g, 100 + g * 1000, 9 - g, g, (enum rdmc_sched)(g % RDMC_SCHED_COUNT),
                  1000 + 500 * g, 100 * KIB);
        cfg.groups[g].settings.ready_window = 1 + g;
        cfg.groups[g].msg_count = 6;
        for (uint32_t m = 0; m < 6; m++) {
            cfg.groups[g].sizes[m] = 1 + m * 17 * KIB;
        }
    }
    cfg.full_per_mille = 30;
    struct h_result res;
    h_run(&cfg, &res);
    uint64_t want = 0;
    for (uint32_t g = 0; g < H_GROUPS_MAX; g++) {
        want += 6u * (9 - g);
    }
    assert_int_equal(res.msgs_done, want);
}

/* Receivers create the group long before the root, and the other way round: READYs that arrive
 * before a group exists are kept as early credits. */
static void test_staggered_creation(void **state)
{
    (void)state;
    for (uint64_t seed = 9300; seed < 9310; seed++) {
        struct h_cfg cfg;
        base_cfg(&cfg, seed, 7);
        one_group(&cfg, 0, 4242, 7, 1, RDMC_SCHED_PIPELINE, 2 * KIB, 64 * KIB);
        cfg.groups[0].msg_count = 5;
        for (uint32_t m = 0; m < 5; m++) {
            cfg.groups[0].sizes[m] = 1 + m * 13 * KIB;
        }
        cfg.create_spread_ns = 5000000; /* 5 ms, versus 20 us frame delays */
        struct h_result res;
        h_run(&cfg, &res);
        assert_int_equal(res.msgs_done, 35);
    }
}

/* ---- direct tests with a hand-driven pair of engines ---- */

#define Q_MAX 4096

struct q_frame {
    uint32_t from;
    uint32_t to;
    uint32_t imm;
    size_t len;
    uint8_t data[4096];
};

struct pair {
    struct q_frame q[Q_MAX];
    size_t head;
    size_t tail;
    uint32_t sent_from_self;
    int refuse_send; /* io.send returns this when nonzero */
    bool refuse_alloc;
    uint32_t done_count;
    uint32_t failed_count;
    int failed_err;
    uint32_t failed_peer;
    void *failed_buf;
    uint8_t last_msg[64 * 1024];
    size_t last_size;
    void *live[8]; /* receive buffers lent to an engine */
};

static void live_track(struct pair *p, void *buf, bool add)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(p->live); i++) {
        if (add ? p->live[i] == NULL : p->live[i] == buf) {
            p->live[i] = add ? buf : NULL;
            return;
        }
    }
    fail_msg("receive buffer %s the engine lent out", add ? "beyond" : "not among those");
}

static void live_free_all(struct pair *p)
{
    for (size_t i = 0; i < SQ_ARRAY_LEN(p->live); i++) {
        free(p->live[i]);
        p->live[i] = NULL;
    }
}

struct pnode {
    struct pair *pair;
    uint32_t id;
};

static int p_send(void *ctx, uint32_t peer, uint32_t imm, const void *data, size_t len)
{
    struct pnode *pn = ctx;
    struct pair *p = pn->pair;
    if (p->refuse_send != 0) {
        return p->refuse_send;
    }
    assert_true(p->tail < Q_MAX && len <= sizeof(p->q[0].data));
    struct q_frame *f = &p->q[p->tail++];
    f->from = pn->id;
    f->to = peer;
    f->imm = imm;
    f->len = len;
    if (len > 0) {
        memcpy(f->data, data, len);
    }
    return SQ_OK;
}

static void *p_alloc(void *ctx, uint32_t group_id, size_t size_max)
{
    struct pnode *pn = ctx;
    (void)group_id;
    if (pn->pair->refuse_alloc) {
        return NULL;
    }
    void *buf = malloc(size_max);
    live_track(pn->pair, buf, true);
    return buf;
}

static void p_done(void *ctx, uint32_t group_id, uint64_t msg_index, void *buf, size_t size,
                   uint64_t cookie)
{
    struct pnode *pn = ctx;
    (void)group_id;
    (void)msg_index;
    (void)cookie;
    pn->pair->done_count++;
    if (pn->id != 1 && size <= sizeof(pn->pair->last_msg)) {
        memcpy(pn->pair->last_msg, buf, size);
        pn->pair->last_size = size;
    }
    if (pn->id != 1) {
        live_track(pn->pair, buf, false);
        free(buf);
    }
}

static void p_failed(void *ctx, uint32_t group_id, int err, uint32_t peer, void *recv_buf)
{
    struct pnode *pn = ctx;
    (void)group_id;
    pn->pair->failed_count++;
    pn->pair->failed_err = err;
    pn->pair->failed_peer = peer;
    pn->pair->failed_buf = recv_buf;
    if (recv_buf != NULL) {
        live_track(pn->pair, recv_buf, false);
        free(recv_buf);
    }
}

static struct rdmc_engine *p_engine(struct pnode *pn)
{
    struct rdmc_io io = {.ctx = pn, .send = p_send};
    struct rdmc_upcalls up = {.ctx = pn, .alloc = p_alloc, .done = p_done, .failed = p_failed};
    struct rdmc_engine *eng;
    assert_int_equal(rdmc_engine_create(&eng, pn->id, &io, &up), SQ_OK);
    return eng;
}

/* Delivers queued frames until none is left; returns how many. */
static size_t p_pump(struct pair *p, struct rdmc_engine *e1, struct rdmc_engine *e2)
{
    size_t n = 0;
    while (p->head < p->tail) {
        struct q_frame *f = &p->q[p->head++];
        struct rdmc_engine *to = f->to == 1 ? e1 : e2;
        (void)rdmc_engine_recv(to, f->from, f->imm, f->data, f->len);
        rdmc_check(e1);
        rdmc_check(e2);
        n++;
    }
    return n;
}

static void test_api_errors(void **state)
{
    (void)state;
    struct pair *p = calloc(1, sizeof(*p));
    struct pnode n1 = {.pair = p, .id = 1};
    struct rdmc_io io = {.ctx = &n1, .send = p_send};
    struct rdmc_upcalls up = {.ctx = &n1, .alloc = p_alloc, .done = p_done, .failed = p_failed};
    struct rdmc_engine *eng;
    struct rdmc_io bad_io = {.send = NULL};
    assert_int_equal(rdmc_engine_create(&eng, 1, &bad_io, &up), SQ_EINVAL);
    struct rdmc_upcalls bad_up = up;
    bad_up.failed = NULL;
    assert_int_equal(rdmc_engine_create(&eng, 1, &io, &bad_up), SQ_EINVAL);
    assert_int_equal(rdmc_engine_create(&eng, 1, &io, &up), SQ_OK);

    struct rdmc_settings s;
    rdmc_settings_default(&s);
    assert_int_equal(rdmc_settings_check(&s), SQ_OK);
    assert_int_equal(s.sched, RDMC_SCHED_PIPELINE);
    assert_int_equal(rdmc_settings_blocks_max(&s), SQ_MSG_BYTES_MAX / (1024 * 1024));
    struct rdmc_settings bad = s;
    bad.block_bytes = 0;
    assert_int_equal(rdmc_settings_check(&bad), SQ_EINVAL);
    bad = s;
    bad.block_bytes = SQ_RDMC_BLOCK_BYTES_MAX + 1;
    assert_int_equal(rdmc_settings_check(&bad), SQ_EINVAL);
    bad = s;
    bad.msg_bytes_max = SQ_MSG_BYTES_MAX + 1;
    assert_int_equal(rdmc_settings_check(&bad), SQ_EINVAL);
    bad = s;
    bad.block_bytes = 1024; /* 128 MiB / 1 KiB = 131072 blocks > 65535 (pitfall 10) */
    assert_int_equal(rdmc_settings_check(&bad), SQ_EINVAL);
    bad = s;
    bad.ready_window = RDMC_READY_WINDOW_MAX + 1;
    assert_int_equal(rdmc_settings_check(&bad), SQ_EINVAL);
    bad = s;
    bad.queue_max = 0;
    assert_int_equal(rdmc_settings_check(&bad), SQ_EINVAL);
    bad = s;
    bad.sched = (enum rdmc_sched)7;
    assert_int_equal(rdmc_settings_check(&bad), SQ_EINVAL);

    uint32_t members[] = {1, 2, 3};
    uint32_t dup[] = {1, 2, 2};
    uint32_t notme[] = {5, 6};
    assert_int_equal(rdmc_group_create(eng, 1, members, 1, NULL), SQ_EINVAL);
    assert_int_equal(rdmc_group_create(eng, 1, dup, 3, NULL), SQ_EINVAL);
    assert_int_equal(rdmc_group_create(eng, 1, notme, 2, NULL), SQ_EINVAL);
    assert_int_equal(rdmc_group_create(eng, RDMC_GROUP_ID_MAX + 1, members, 3, NULL), SQ_EINVAL);
    assert_int_equal(rdmc_group_create(eng, 1, members, 3, &bad), SQ_EINVAL);
    s.msg_bytes_max = 1000;
    s.block_bytes = 100;
    s.queue_max = 2;
    assert_int_equal(rdmc_group_create(eng, 1, members, 3, &s), SQ_OK);
    assert_int_equal(rdmc_group_create(eng, 1, members, 3, &s), SQ_EEXIST);
    uint32_t other_root[] = {2, 1};
    assert_int_equal(rdmc_group_create(eng, 2, other_root, 2, &s), SQ_OK);

    static uint8_t msg[2000];
    assert_int_equal(rdmc_group_send(eng, 9, msg, 10, 0), SQ_ENOTFOUND);
    assert_int_equal(rdmc_group_send(eng, 2, msg, 10, 0), SQ_EPERM);
    assert_int_equal(rdmc_group_send(eng, 1, msg, 0, 0), SQ_EINVAL);
    assert_int_equal(rdmc_group_send(eng, 1, NULL, 10, 0), SQ_EINVAL);
    assert_int_equal(rdmc_group_send(eng, 1, msg, 1001, 0), SQ_ETOOBIG);
    assert_int_equal(rdmc_group_send(eng, 1, msg, 1000, 0), SQ_OK);
    assert_int_equal(rdmc_group_send(eng, 1, msg, 1, 0), SQ_OK);
    assert_int_equal(rdmc_group_send(eng, 1, msg, 1, 0), SQ_EFULL);
    assert_int_equal(rdmc_group_queued(eng, 1), 2);
    assert_int_equal(rdmc_group_queued(eng, 2), 0);
    rdmc_check(eng);

    /* A frame from outside the group, an unknown group, a foreign immediate: dropped, no abort. */
    assert_int_equal(rdmc_engine_recv(eng, 99, rdmc_imm_make(RDMC_IMM_READY, 1, 0), NULL, 0),
                     SQ_EPERM);
    assert_int_equal(rdmc_engine_recv(eng, 2, rdmc_imm_make(RDMC_IMM_DATA, 55, 0), msg, 5),
                     SQ_ENOTFOUND);
    assert_int_equal(rdmc_engine_recv(eng, 2, rdmc_imm_make(RDMC_IMM_OTHER, 1, 0), msg, 5),
                     SQ_EINVAL);
    rdmc_check(eng);

    rdmc_engine_peer_failed(eng, 3);
    assert_true(rdmc_group_is_failed(eng, 1));
    assert_false(rdmc_group_is_failed(eng, 2)); /* 3 is not in group 2 */
    assert_int_equal(p->failed_count, 1);
    assert_int_equal(p->failed_err, SQ_EPEER);
    assert_int_equal(p->failed_peer, 3);
    assert_int_equal(rdmc_group_send(eng, 1, msg, 10, 0), SQ_ECLOSED);
    assert_int_equal(rdmc_group_queued(eng, 1), 0);
    rdmc_check(eng);
    rdmc_group_destroy(eng, 1);
    rdmc_group_destroy(eng, 1);
    assert_false(rdmc_group_is_failed(eng, 1));
    struct rdmc_stats st;
    rdmc_engine_stats(eng, &st);
    assert_int_equal(st.groups_failed, 1);
    rdmc_check(eng);
    rdmc_engine_destroy(eng);
    rdmc_engine_destroy(NULL);
    free(p);
}

static void test_imm_roundtrip(void **state)
{
    (void)state;
    uint32_t imm = rdmc_imm_make(RDMC_IMM_DATA_FIRST, RDMC_GROUP_ID_MAX, SQ_RDMC_BLOCKS_MAX);
    assert_int_equal(rdmc_imm_type(imm), RDMC_IMM_DATA_FIRST);
    assert_int_equal(rdmc_imm_group(imm), RDMC_GROUP_ID_MAX);
    assert_int_equal(rdmc_imm_field(imm), SQ_RDMC_BLOCKS_MAX);
    imm = rdmc_imm_make(RDMC_IMM_READY, 0, 0);
    assert_int_equal(imm, 0x80000000u);
    assert_int_equal(rdmc_imm_make(RDMC_IMM_DATA, 3, 7), 0x40030007u);
    assert_int_equal(rdmc_imm_type(0xC0000000u), RDMC_IMM_OTHER);
}

/* Two nodes by hand: the exact frames of one transfer (k = 3, window 4). */
static void test_wire_sequence(void **state)
{
    (void)state;
    struct pair *p = calloc(1, sizeof(*p));
    struct pnode n1 = {.pair = p, .id = 1};
    struct pnode n2 = {.pair = p, .id = 2};
    struct rdmc_engine *e1 = p_engine(&n1);
    struct rdmc_engine *e2 = p_engine(&n2);
    struct rdmc_settings s;
    rdmc_settings_default(&s);
    s.block_bytes = 100;
    s.msg_bytes_max = 1000;
    uint32_t members[] = {1, 2};
    assert_int_equal(rdmc_group_create(e2, 9, members, 2, &s), SQ_OK);
    /* The receiver credits its first transfer at once: READY to the root. */
    assert_int_equal(p->tail, 1);
    assert_int_equal(p->q[0].imm, rdmc_imm_make(RDMC_IMM_READY, 9, 0));
    assert_int_equal(p->q[0].to, 1);
    /* It reaches the root before the root's group exists: an early credit. */
    assert_int_equal(rdmc_engine_recv(e1, 2, p->q[0].imm, NULL, 0), SQ_ENOTFOUND);
    p->head = 1;
    assert_int_equal(rdmc_group_create(e1, 9, members, 2, &s), SQ_OK);
    uint8_t msg[250];
    for (size_t i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)(i * 7 + 1);
    }
    assert_int_equal(rdmc_group_send(e1, 9, msg, sizeof(msg), 0), SQ_OK);
    /* One credit, one DATA_FIRST announcing k = 3. */
    assert_int_equal(p->tail, 2);
    assert_int_equal(p->q[1].imm, rdmc_imm_make(RDMC_IMM_DATA_FIRST, 9, 3));
    assert_int_equal(p->q[1].len, 100);
    rdmc_check(e1);
    p_pump(p, e1, e2);
    assert_int_equal(p->done_count, 2);
    assert_int_equal(p->last_size, sizeof(msg));
    assert_memory_equal(p->last_msg, msg, sizeof(msg));
    /* Frames: READY, DATA_FIRST(k=3), READY, READY (window), DATA 1, DATA 2(50 bytes), READY
     * for the next message. */
    assert_int_equal(p->tail, 7);
    assert_int_equal(p->q[2].imm, rdmc_imm_make(RDMC_IMM_READY, 9, 0));
    assert_int_equal(p->q[3].imm, rdmc_imm_make(RDMC_IMM_READY, 9, 0));
    assert_int_equal(p->q[4].imm, rdmc_imm_make(RDMC_IMM_DATA, 9, 1));
    assert_int_equal(p->q[5].imm, rdmc_imm_make(RDMC_IMM_DATA, 9, 2));
    assert_int_equal(p->q[5].len, 50);
    assert_int_equal(p->q[6].imm, rdmc_imm_make(RDMC_IMM_READY, 9, 0));
    rdmc_engine_destroy(e1);
    rdmc_engine_destroy(e2);
    free(p);
}

/* Frames that break the protocol fail the group with SQ_ECORRUPT; they never abort and never
 * complete a message. */
static void test_bad_frames(void **state)
{
    (void)state;
    struct pair *p = calloc(1, sizeof(*p));
    struct pnode n2 = {.pair = p, .id = 2};
    struct rdmc_engine *e2 = p_engine(&n2);
    struct rdmc_settings s;
    rdmc_settings_default(&s);
    s.block_bytes = 100;
    s.msg_bytes_max = 1000;
    uint32_t members[] = {1, 2, 3};
    uint8_t block[200] = {0};
    struct {
        uint32_t from;
        uint32_t imm;
        size_t len;
        const char *what;
    } cases[] = {
        {1, rdmc_imm_make(RDMC_IMM_DATA, 1, 0), 100, "DATA before the first block"},
        {1, rdmc_imm_make(RDMC_IMM_DATA_FIRST, 1, 0), 100, "k = 0"},
        {1, rdmc_imm_make(RDMC_IMM_DATA_FIRST, 1, 11), 100, "k beyond msg_bytes_max"},
        {1, rdmc_imm_make(RDMC_IMM_DATA_FIRST, 1, 3), 99, "short inner block"},
        {1, rdmc_imm_make(RDMC_IMM_DATA_FIRST, 1, 1), 0, "empty last block"},
        {1, rdmc_imm_make(RDMC_IMM_DATA_FIRST, 1, 1), 101, "overlong last block"},
        {3, rdmc_imm_make(RDMC_IMM_DATA_FIRST, 1, 2), 100, "first block from the wrong source"},
        {1, rdmc_imm_make(RDMC_IMM_READY, 1, 0), 0, "READY from the root"},
        {3, rdmc_imm_make(RDMC_IMM_READY, 1, 5), 0, "READY with a field"},
        {3, rdmc_imm_make(RDMC_IMM_READY, 1, 0), 4, "READY with payload"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(cases); i++) {
        p->failed_count = 0;
        assert_int_equal(rdmc_group_create(e2, 1, members, 3, &s), SQ_OK);
        int rc = rdmc_engine_recv(e2, cases[i].from, cases[i].imm, block, cases[i].len);
        if (rc != SQ_ECORRUPT || p->failed_count != 1 || p->failed_err != SQ_ECORRUPT) {
            fail_msg("%s: rc %s, %u failures", cases[i].what, sq_errname(rc), p->failed_count);
        }
        assert_int_equal(p->done_count, 0);
        /* Later frames for the failed group are dropped. */
        assert_int_equal(rdmc_engine_recv(e2, 3, rdmc_imm_make(RDMC_IMM_READY, 1, 0), NULL, 0),
                         SQ_ECLOSED);
        rdmc_check(e2);
        rdmc_group_destroy(e2, 1);
    }
    /* Too many READYs from one peer. */
    assert_int_equal(rdmc_group_create(e2, 1, members, 3, &s), SQ_OK);
    p->failed_count = 0;
    int rc = SQ_OK;
    for (int i = 0; i <= RDMC_READY_WINDOW_MAX && rc == SQ_OK; i++) {
        rc = rdmc_engine_recv(e2, 3, rdmc_imm_make(RDMC_IMM_READY, 1, 0), NULL, 0);
    }
    assert_int_equal(rc, SQ_ECORRUPT);
    assert_int_equal(p->failed_count, 1);
    rdmc_engine_destroy(e2);
    free(p);
}

/* Random frames at an engine with live groups: never an abort, the invariants hold after each,
 * and no message completes from garbage unless it passes every check. */
static void test_random_frames(void **state)
{
    (void)state;
    struct pair *p = calloc(1, sizeof(*p));
    struct pnode n2 = {.pair = p, .id = 2};
    struct rdmc_engine *e2 = p_engine(&n2);
    struct rdmc_settings s;
    rdmc_settings_default(&s);
    s.block_bytes = 64;
    s.msg_bytes_max = 640;
    s.sched = RDMC_SCHED_CHAIN;
    uint32_t members[] = {1, 2, 3, 4};
    struct sq_prng prng;
    sq_prng_seed(&prng, 77);
    static uint8_t junk[128];
    for (int i = 0; i < 100000; i++) {
        for (uint32_t g = 0; g < 3; g++) {
            if (!rdmc_group_is_failed(e2, g) && rdmc_group_queued(e2, g) == 0) {
                (void)rdmc_group_create(e2, g, members, 4, &s);
            }
            if (rdmc_group_is_failed(e2, g)) {
                rdmc_group_destroy(e2, g);
            }
        }
        uint32_t imm = (uint32_t)sq_prng_next(&prng);
        if (sq_prng_chance(&prng, 3, 4)) {
            /* Mostly plausible frames: a live group, a small field. */
            imm = rdmc_imm_make((enum rdmc_imm_type)sq_prng_below(&prng, 3),
                                (uint32_t)sq_prng_below(&prng, 3),
                                (uint32_t)sq_prng_below(&prng, 12));
        }
        size_t len = sq_prng_chance(&prng, 1, 2) ? 64 : (size_t)sq_prng_below(&prng, 129);
        uint32_t from = 1 + (uint32_t)sq_prng_below(&prng, 5);
        (void)rdmc_engine_recv(e2, from, imm, junk, len);
        rdmc_check(e2);
        p->head = p->tail = 0; /* frames the engine sends go nowhere */
    }
    rdmc_engine_destroy(e2);
    live_free_all(p); /* buffers of groups still receiving when the engine went */
    free(p);
}

/* The application refuses the receive buffer: the group fails with SQ_ENOMEM at that node. */
static void test_alloc_refused(void **state)
{
    (void)state;
    struct pair *p = calloc(1, sizeof(*p));
    struct pnode n1 = {.pair = p, .id = 1};
    struct pnode n2 = {.pair = p, .id = 2};
    struct rdmc_engine *e1 = p_engine(&n1);
    struct rdmc_engine *e2 = p_engine(&n2);
    uint32_t members[] = {1, 2};
    assert_int_equal(rdmc_group_create(e1, 3, members, 2, NULL), SQ_OK);
    assert_int_equal(rdmc_group_create(e2, 3, members, 2, NULL), SQ_OK);
    p->refuse_alloc = true;
    static uint8_t msg[100];
    assert_int_equal(rdmc_group_send(e1, 3, msg, sizeof(msg), 0), SQ_OK);
    p_pump(p, e1, e2);
    assert_int_equal(p->failed_count, 1);
    assert_int_equal(p->failed_err, SQ_ENOMEM);
    assert_int_equal(p->failed_peer, UINT32_MAX);
    assert_null(p->failed_buf);
    assert_true(rdmc_group_is_failed(e2, 3));
    rdmc_engine_destroy(e1);
    rdmc_engine_destroy(e2);
    free(p);
}

/* The transport refuses sends: SQ_EFULL holds the group back until a kick; a hard error fails
 * the group with SQ_EPEER. */
static void test_transport_refusals(void **state)
{
    (void)state;
    struct pair *p = calloc(1, sizeof(*p));
    struct pnode n1 = {.pair = p, .id = 1};
    struct pnode n2 = {.pair = p, .id = 2};
    struct rdmc_engine *e1 = p_engine(&n1);
    struct rdmc_engine *e2 = p_engine(&n2);
    uint32_t members[] = {1, 2};
    p->refuse_send = SQ_EFULL;
    assert_int_equal(rdmc_group_create(e2, 3, members, 2, NULL), SQ_OK);
    assert_true(rdmc_engine_is_blocked(e2));
    assert_int_equal(p->tail, 0);
    rdmc_check(e2);
    rdmc_engine_kick(e2);
    assert_true(rdmc_engine_is_blocked(e2)); /* still refused */
    p->refuse_send = 0;
    rdmc_engine_kick(e2);
    assert_false(rdmc_engine_is_blocked(e2));
    assert_int_equal(p->tail, 1);
    assert_int_equal(rdmc_group_create(e1, 3, members, 2, NULL), SQ_OK);
    p_pump(p, e1, e2);
    static uint8_t msg[100];
    p->refuse_send = SQ_EPEER;
    assert_int_equal(rdmc_group_send(e1, 3, msg, sizeof(msg), 0), SQ_OK);
    assert_int_equal(p->failed_count, 1);
    assert_int_equal(p->failed_err, SQ_EPEER);
    assert_int_equal(p->failed_peer, 2);
    struct rdmc_stats st;
    rdmc_engine_stats(e2, &st);
    assert_int_equal(st.send_retries, 2);
    rdmc_engine_destroy(e1);
    rdmc_engine_destroy(e2);
    free(p);
}

static int setup(void **state)
{
    (void)state;
    sq_log_set_level(SQ_LOG_ERROR);
    return 0;
}

int main(void)
{
    h_install_abort_handler();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_imm_roundtrip),      cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_wire_sequence),      cmocka_unit_test(test_bad_frames),
        cmocka_unit_test(test_random_frames),      cmocka_unit_test(test_alloc_refused),
        cmocka_unit_test(test_transport_refusals), cmocka_unit_test(test_each_schedule_transfers),
        cmocka_unit_test(test_many_queued),        cmocka_unit_test(test_multi_mib),
        cmocka_unit_test(test_concurrent_groups),  cmocka_unit_test(test_staggered_creation),
        cmocka_unit_test(test_determinism),        cmocka_unit_test(test_random_clean),
        cmocka_unit_test(test_random_crash),       cmocka_unit_test(test_crash_mid_transfer),
    };
    if (getenv("RDMC_TEST_FILTER") != NULL) {
        cmocka_set_test_filter(getenv("RDMC_TEST_FILTER"));
    }
    return cmocka_run_group_tests(tests, setup, NULL);
}
