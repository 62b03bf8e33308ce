/* The RDMC engine harness: see rdmc_harness.h. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/assert.h"
#include "base/err.h"
#include "rdmc/rdmc.h"
#include "rdmc_harness.h"

#define H_EVENTS_MAX 20000000u /* a run that needs more has stalled in a loop */

enum h_kind {
    H_DELIVER = 1,
    H_KICK,
    H_PEER_FAILED,
    H_CRASH,
    H_APP_SEND,
    H_CREATE,
};

struct h_frame {
    uint32_t src; /* node index */
    uint32_t dst;
    uint32_t imm;
    size_t len;
    uint8_t *data;
};

struct h_event {
    uint64_t time;
    uint64_t seq;
    enum h_kind kind;
    uint32_t node;
    uint32_t arg; /* group index (APP_SEND, CREATE) or peer index (PEER_FAILED) */
    struct h_frame *frame;
};

struct h_node {
    struct h_sim *sim;
    uint32_t index;
    uint32_t id; /* node id as the engine knows it */
    struct rdmc_engine *eng;
    bool crashed;
    bool kick_pending;
    bool knows_crash; /* the membership layer told this node about the crash */
    bool created[H_GROUPS_MAX];
    uint64_t done_count[H_GROUPS_MAX];
    uint32_t failed_count[H_GROUPS_MAX];
    void *recv_buf[H_GROUPS_MAX];
    size_t recv_size_max[H_GROUPS_MAX];
};

struct h_msg {
    uint8_t *truth;   /* the bytes every receiver must get */
    uint8_t *sendbuf; /* lent to the root's engine; freed at the root's `done` */
    size_t size;
};

struct h_group {
    struct h_group_cfg cfg;
    struct h_msg msgs[H_MSGS_MAX];
    uint32_t next_send; /* next message the root will submit */
    bool has_crashed_member;
};

struct h_sim {
    struct h_cfg cfg;
    struct sq_prng prng;
    uint64_t now;
    uint64_t seq;
    struct h_event *heap;
    size_t heap_len;
    size_t heap_cap;
    struct h_node nodes[H_NODES_MAX];
    struct h_group groups[H_GROUPS_MAX];
    uint64_t last_delivery[H_NODES_MAX][H_NODES_MAX];
    uint64_t hash;
    struct h_result res;
    bool crash_happened;
};

/* ---- seed reporting ---- */

static volatile uint64_t h_current_seed;
static volatile int h_running;

static void h_on_abort(int sig)
{
    (void)sig;
    if (h_running) {
        char line[96];
        uint64_t s = h_current_seed;
        char digits[24];
        int n = 0;
        do {
            digits[n++] = (char)('0' + s % 10);
            s /= 10;
        } while (s != 0);
        int len = 0;
        const char *pre = "\nrdmc harness: aborted in run with RDMC_SEED=";
        while (*pre != '\0') {
            line[len++] = *pre++;
        }
        while (n > 0) {
            line[len++] = digits[--n];
        }
        line[len++] = '\n';
        ssize_t w = write(STDERR_FILENO, line, (size_t)len);
        (void)w;
    }
    signal(SIGABRT, SIG_DFL);
    raise(SIGABRT);
}

void h_install_abort_handler(void)
{
    signal(SIGABRT, h_on_abort);
}

#define H_FAIL(sim, ...)                                                                           \
    do {                                                                                           \
        char h_msg_[512];                                                                          \
        snprintf(h_msg_, sizeof(h_msg_), __VA_ARGS__);                                             \
        fail_msg("rdmc harness: %s (t=%llu ns; replay with RDMC_SEED=%llu)", h_msg_,               \
                 (unsigned long long)(sim)->now, (unsigned long long)(sim)->cfg.seed);             \
    } while (0)

#define H_CHECK(sim, cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            H_FAIL(sim, __VA_ARGS__);                                                              \
        }                                                                                          \
    } while (0)

size_t h_seeds(uint64_t base, size_t count, uint64_t *out, size_t cap)
{
    const char *env = getenv("RDMC_SEED");
    if (env != NULL && *env != '\0') {
        out[0] = strtoull(env, NULL, 0);
        return 1;
    }
    const char *mult = getenv("RDMC_SIM_RUNS");
    if (mult != NULL && *mult != '\0') {
        count = (size_t)strtoull(mult, NULL, 0);
    }
    if (count > cap) {
        count = cap;
    }
    for (size_t i = 0; i < count; i++) {
        out[i] = base + i;
    }
    return count;
}

/* ---- trace hash ---- */

static void h_mix(struct h_sim *sim, uint64_t v)
{
    uint64_t x = sim->hash ^ v;
    sim->hash = sq_splitmix64(&x);
}

/* ---- event heap, ordered by (time, seq) ---- */

static bool ev_less(const struct h_event *a, const struct h_event *b)
{
    return a->time != b->time ? a->time < b->time : a->seq < b->seq;
}

static void heap_push(struct h_sim *sim, struct h_event ev)
{
    if (sim->heap_len == sim->heap_cap) {
        sim->heap_cap = sim->heap_cap == 0 ? 1024 : sim->heap_cap * 2;
        sim->heap = realloc(sim->heap, sim->heap_cap * sizeof(sim->heap[0]));
        SQ_ASSERT(sim->heap != NULL);
    }
    ev.seq = sim->seq++;
    size_t i = sim->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_less(&ev, &sim->heap[parent])) {
            break;
        }
        sim->heap[i] = sim->heap[parent];
        i = parent;
    }
    sim->heap[i] = ev;
}

static struct h_event heap_pop(struct h_sim *sim)
{
    SQ_ASSERT(sim->heap_len > 0);
    struct h_event top = sim->heap[0];
    struct h_event last = sim->heap[--sim->heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= sim->heap_len) {
            break;
        }
        if (c + 1 < sim->heap_len && ev_less(&sim->heap[c + 1], &sim->heap[c])) {
            c++;
        }
        if (!ev_less(&sim->heap[c], &last)) {
            break;
        }
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (sim->heap_len > 0) {
        sim->heap[i] = last;
    }
    return top;
}

static void schedule(struct h_sim *sim, uint64_t at, enum h_kind kind, uint32_t node, uint32_t arg,
                     struct h_frame *frame)
{
    heap_push(sim,
              (struct h_event){.time = at, .kind = kind, .node = node, .arg = arg, .frame = frame});
}

static uint64_t rand_delay(struct h_sim *sim)
{
    uint64_t lo = sim->cfg.delay_min_ns;
    uint64_t hi = sim->cfg.delay_max_ns;
    uint64_t d = sq_prng_range(&sim->prng, lo, hi);
    if (sq_prng_chance(&sim->prng, 1, 50)) {
        d += sq_prng_range(&sim->prng, 0, 20 * hi); /* now and then a slow frame */
    }
    return d;
}

static uint32_t node_index_of(const struct h_sim *sim, uint32_t id)
{
    for (uint32_t i = 0; i < sim->cfg.node_count; i++) {
        if (sim->nodes[i].id == id) {
            return i;
        }
    }
    return UINT32_MAX;
}

static uint32_t group_index_of(const struct h_sim *sim, uint32_t group_id)
{
    for (uint32_t g = 0; g < sim->cfg.group_count; g++) {
        if (sim->groups[g].cfg.id == group_id) {
            return g;
        }
    }
    return UINT32_MAX;
}

static bool group_has(const struct h_group *g, uint32_t node)
{
    for (uint32_t i = 0; i < g->cfg.n; i++) {
        if (g->cfg.members[i] == node) {
            return true;
        }
    }
    return false;
}

/* ---- the transport the engines see ---- */

static int h_io_send(void *ctx, uint32_t peer_id, uint32_t imm, const void *data, size_t len)
{
    struct h_node *node = ctx;
    struct h_sim *sim = node->sim;
    SQ_ASSERT(!node->crashed);
    uint32_t dst = node_index_of(sim, peer_id);
    H_CHECK(sim, dst != UINT32_MAX && dst != node->index, "node %u sends to unknown peer %u",
            node->index, peer_id);
    if (sim->cfg.full_per_mille > 0 && sq_prng_below(&sim->prng, 1000) < sim->cfg.full_per_mille) {
        /* Back-pressure: nothing queued; the transport tells the engine later. */
        h_mix(sim, 0xF011);
        if (!node->kick_pending) {
            node->kick_pending = true;
            schedule(sim, sim->now + rand_delay(sim), H_KICK, node->index, 0, NULL);
        }
        return SQ_EFULL;
    }
    if (sim->nodes[dst].crashed && sq_prng_chance(&sim->prng, 1, 2)) {
        h_mix(sim, 0xDEAD);
        return SQ_EPEER; /* the connection's reset is seen by this send */
    }
    h_mix(sim, ((uint64_t)node->index << 56) | ((uint64_t)dst << 48) | imm);
    h_mix(sim, len);
    struct h_frame *f = calloc(1, sizeof(*f));
    SQ_ASSERT(f != NULL);
    *f = (struct h_frame){.src = node->index, .dst = dst, .imm = imm, .len = len};
    if (len > 0) {
        f->data = malloc(len);
        SQ_ASSERT(f->data != NULL);
        memcpy(f->data, data, len); /* the transport copies before returning (net_msg_send) */
    }
    /* FIFO per link: never deliver before an earlier frame of the same link. */
    uint64_t at = sim->now + rand_delay(sim);
    uint64_t *last = &sim->last_delivery[node->index][dst];
    if (at <= *last) {
        at = *last + 1;
    }
    *last = at;
    schedule(sim, at, H_DELIVER, dst, 0, f);
    return SQ_OK;
}

/* ---- upcalls ---- */

static void *h_alloc(void *ctx, uint32_t group_id, size_t size_max)
{
    struct h_node *node = ctx;
    struct h_sim *sim = node->sim;
    uint32_t g = group_index_of(sim, group_id);
    H_CHECK(sim, g != UINT32_MAX, "alloc for unknown group %u", group_id);
    H_CHECK(sim, node->recv_buf[g] == NULL, "node %u: second alloc in group %u before done",
            node->index, group_id);
    H_CHECK(sim, node->failed_count[g] == 0, "node %u: alloc after failure in group %u",
            node->index, group_id);
    uint64_t index = node->done_count[g];
    H_CHECK(sim, index < sim->groups[g].cfg.msg_count, "node %u: alloc for message %llu of %u",
            node->index, (unsigned long long)index, sim->groups[g].cfg.msg_count);
    size_t want = sim->groups[g].msgs[index].size;
    size_t bs = sim->groups[g].cfg.settings.block_bytes;
    H_CHECK(sim, size_max >= want && size_max < want + bs && size_max % bs == 0,
            "node %u group %u: size_max %zu for a %zu-byte message", node->index, group_id,
            size_max, want);
    h_mix(sim, 0xA110C ^ ((uint64_t)node->index << 32) ^ size_max);
    node->recv_buf[g] = malloc(size_max);
    SQ_ASSERT(node->recv_buf[g] != NULL);
    /* Poison, so that a block the engine forgets to copy shows up as a mismatch. */
    memset(node->recv_buf[g], 0xA5, size_max);
    node->recv_size_max[g] = size_max;
    return node->recv_buf[g];
}

static void h_done(void *ctx, uint32_t group_id, uint64_t msg_index, void *buf, size_t size,
                   uint64_t cookie)
{
    struct h_node *node = ctx;
    struct h_sim *sim = node->sim;
    uint32_t g = group_index_of(sim, group_id);
    H_CHECK(sim, g != UINT32_MAX, "done for unknown group %u", group_id);
    struct h_group *grp = &sim->groups[g];
    H_CHECK(sim, node->failed_count[g] == 0, "node %u: done after failure in group %u", node->index,
            group_id);
    H_CHECK(sim, msg_index == node->done_count[g],
            "node %u group %u: done for message %llu, expected %llu", node->index, group_id,
            (unsigned long long)msg_index, (unsigned long long)node->done_count[g]);
    H_CHECK(sim, msg_index < grp->cfg.msg_count, "node %u group %u: done for unsent message %llu",
            node->index, group_id, (unsigned long long)msg_index);
    struct h_msg *m = &grp->msgs[msg_index];
    H_CHECK(sim, size == m->size, "node %u group %u msg %llu: size %zu, root sent %zu", node->index,
            group_id, (unsigned long long)msg_index, size, m->size);
    h_mix(sim, 0xD0E ^ ((uint64_t)node->index << 40) ^ ((uint64_t)g << 32) ^ msg_index);
    if (grp->cfg.members[0] == node->index) {
        H_CHECK(sim, buf == m->sendbuf && cookie == msg_index,
                "root %u group %u: done returns another buffer or cookie", node->index, group_id);
        H_CHECK(sim, memcmp(buf, m->truth, size) == 0, "root's buffer changed under the engine");
        free(m->sendbuf); /* from now on the engine must not touch it (ASan) */
        m->sendbuf = NULL;
    } else {
        H_CHECK(sim, buf == node->recv_buf[g] && cookie == 0,
                "node %u group %u: done returns another buffer", node->index, group_id);
        if (memcmp(buf, m->truth, size) != 0) {
            size_t at = 0;
            while (((uint8_t *)buf)[at] == m->truth[at]) {
                at++;
            }
            H_FAIL(sim, "node %u group %u msg %llu: WRONG BYTES at offset %zu of %zu (block %zu)",
                   node->index, group_id, (unsigned long long)msg_index, at, size,
                   at / grp->cfg.settings.block_bytes);
        }
        sim->res.bytes_checked += size;
        free(buf);
        node->recv_buf[g] = NULL;
    }
    node->done_count[g]++;
    sim->res.msgs_done++;
}

static void h_failed(void *ctx, uint32_t group_id, int err, uint32_t peer, void *recv_buf)
{
    struct h_node *node = ctx;
    struct h_sim *sim = node->sim;
    uint32_t g = group_index_of(sim, group_id);
    H_CHECK(sim, g != UINT32_MAX, "failed for unknown group %u", group_id);
    H_CHECK(sim, sim->cfg.crash_node >= 0,
            "node %u group %u failed (%s, peer %u) in a run without faults", node->index, group_id,
            sq_errname(err), peer);
    H_CHECK(sim, node->failed_count[g] == 0, "node %u group %u: second failure", node->index,
            group_id);
    H_CHECK(sim, err == SQ_EPEER, "node %u group %u failed with %s", node->index, group_id,
            sq_errname(err));
    H_CHECK(sim, peer == sim->nodes[sim->cfg.crash_node].id,
            "node %u group %u failed blaming %u, not the crashed node", node->index, group_id,
            peer);
    H_CHECK(sim, recv_buf == node->recv_buf[g], "node %u group %u: failed returns another buffer",
            node->index, group_id);
    h_mix(sim, 0xFA11 ^ ((uint64_t)node->index << 32) ^ g);
    free(recv_buf);
    node->recv_buf[g] = NULL;
    node->failed_count[g]++;
    sim->res.groups_failed++;
}

/* ---- configuration ---- */

static size_t pick_size(struct sq_prng *p, const struct rdmc_settings *s)
{
    size_t bs = s->block_bytes;
    size_t max = s->msg_bytes_max;
    size_t choice;
    switch (sq_prng_below(p, 8)) {
    case 0:
        choice = 1;
        break;
    case 1:
        choice = bs;
        break;
    case 2:
        choice = bs + 1;
        break;
    case 3:
        choice = bs > 1 ? bs - 1 : 1;
        break;
    case 4:
        choice = max;
        break;
    default:
        choice = (size_t)sq_prng_range(p, 1, max);
        break;
    }
    return choice > max ? max : choice;
}

void h_cfg_random(struct h_cfg *cfg, uint64_t seed, bool with_crash)
{
    struct sq_prng p;
    sq_prng_seed(&p, seed ^ UINT64_C(0x5eed0fc0ffee));
    memset(cfg, 0, sizeof(*cfg));
    cfg->seed = seed;
    cfg->node_count = (uint32_t)sq_prng_range(&p, 2, 11);
    cfg->group_count = (uint32_t)sq_prng_range(&p, 1, 4);
    cfg->delay_min_ns = sq_prng_range(&p, 100, 2000);
    cfg->delay_max_ns = cfg->delay_min_ns + sq_prng_range(&p, 0, 50000);
    cfg->full_per_mille = (uint32_t)(sq_prng_chance(&p, 1, 2) ? sq_prng_range(&p, 1, 80) : 0);
    cfg->create_spread_ns = sq_prng_chance(&p, 1, 2) ? sq_prng_range(&p, 0, 200000) : 0;
    cfg->send_gap_max_ns = sq_prng_chance(&p, 1, 3) ? 0 : sq_prng_range(&p, 1, 100000);
    static const uint32_t block_choices[] = {1, 3, 64, 1000, 4096, 65536};
    uint32_t used_ids[H_GROUPS_MAX];
    for (uint32_t g = 0; g < cfg->group_count; g++) {
        struct h_group_cfg *gc = &cfg->groups[g];
        uint32_t id;
        bool fresh;
        do {
            id = (uint32_t)sq_prng_below(&p, RDMC_GROUP_ID_MAX + 1);
            fresh = true;
            for (uint32_t j = 0; j < g; j++) {
                fresh = fresh && used_ids[j] != id;
            }
        } while (!fresh);
        used_ids[g] = id;
        gc->id = id;
        /* A random subset of at least two nodes, in random order: [0] is the root. */
        uint32_t order[H_NODES_MAX];
        for (uint32_t i = 0; i < cfg->node_count; i++) {
            order[i] = i;
        }
        for (uint32_t i = cfg->node_count - 1; i > 0; i--) {
            uint32_t j = (uint32_t)sq_prng_below(&p, i + 1);
            uint32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        gc->n = (uint32_t)sq_prng_range(&p, 2, cfg->node_count);
        memcpy(gc->members, order, gc->n * sizeof(order[0]));
        rdmc_settings_default(&gc->settings);
        gc->settings.sched = (enum rdmc_sched)sq_prng_below(&p, RDMC_SCHED_COUNT);
        gc->settings.block_bytes = block_choices[sq_prng_below(&p, SQ_ARRAY_LEN(block_choices))];
        /* Up to ~80 blocks per message keeps a run short; some runs go to 400. */
        uint32_t blocks = (uint32_t)sq_prng_range(&p, 1, sq_prng_chance(&p, 1, 8) ? 400 : 80);
        uint64_t max = (uint64_t)gc->settings.block_bytes * blocks;
        if (max > 4u * 1024 * 1024) {
            max = 4u * 1024 * 1024;
        }
        gc->settings.msg_bytes_max = (uint32_t)max;
        gc->settings.ready_window = (uint32_t)sq_prng_range(&p, 1, RDMC_READY_WINDOW_MAX);
        gc->settings.queue_max = (uint32_t)sq_prng_range(&p, 1, 8);
        gc->msg_count = (uint32_t)sq_prng_range(&p, 1, 10);
        for (uint32_t m = 0; m < gc->msg_count; m++) {
            gc->sizes[m] = pick_size(&p, &gc->settings);
        }
    }
    cfg->crash_node = -1;
    if (with_crash) {
        cfg->crash_node = (int)sq_prng_below(&p, cfg->node_count);
        cfg->crash_at_ns = sq_prng_range(&p, 0, 400000);
        cfg->detect_max_ns = sq_prng_range(&p, 1000, 300000);
    }
}

/* ---- the run ---- */

static void create_group_at(struct h_sim *sim, uint32_t node_index, uint32_t g)
{
    struct h_node *node = &sim->nodes[node_index];
    struct h_group *grp = &sim->groups[g];
    uint32_t ids[H_NODES_MAX];
    for (uint32_t i = 0; i < grp->cfg.n; i++) {
        ids[i] = sim->nodes[grp->cfg.members[i]].id;
    }
    int rc = rdmc_group_create(node->eng, grp->cfg.id, ids, grp->cfg.n, &grp->cfg.settings);
    H_CHECK(sim, rc == SQ_OK, "node %u: group_create %u: %s", node_index, grp->cfg.id,
            sq_errname(rc));
    node->created[g] = true;
    if (node->knows_crash && grp->has_crashed_member) {
        /* The membership layer already knows; it tells every group it creates (as consensus
         * would never create one with a failed member, this only models a race). */
        rdmc_engine_peer_failed(node->eng, sim->nodes[sim->cfg.crash_node].id);
    }
    if (grp->cfg.members[0] == node_index) {
        schedule(sim, sim->now, H_APP_SEND, node_index, g, NULL);
    }
}

static void app_send(struct h_sim *sim, uint32_t node_index, uint32_t g)
{
    struct h_node *node = &sim->nodes[node_index];
    struct h_group *grp = &sim->groups[g];
    while (grp->next_send < grp->cfg.msg_count) {
        struct h_msg *m = &grp->msgs[grp->next_send];
        int rc = rdmc_group_send(node->eng, grp->cfg.id, m->sendbuf, m->size, grp->next_send);
        if (rc == SQ_ECLOSED) {
            H_CHECK(sim, grp->has_crashed_member, "send on a failed group without a crash");
            return;
        }
        if (rc == SQ_EFULL) {
            H_CHECK(sim, rdmc_group_queued(node->eng, grp->cfg.id) == grp->cfg.settings.queue_max,
                    "SQ_EFULL with room in the queue");
            schedule(sim, sim->now + rand_delay(sim), H_APP_SEND, node_index, g, NULL);
            return;
        }
        H_CHECK(sim, rc == SQ_OK, "rdmc_group_send: %s", sq_errname(rc));
        h_mix(sim, 0x5E4D ^ ((uint64_t)g << 32) ^ grp->next_send);
        grp->next_send++;
        if (sim->cfg.send_gap_max_ns > 0) {
            schedule(sim, sim->now + sq_prng_range(&sim->prng, 0, sim->cfg.send_gap_max_ns),
                     H_APP_SEND, node_index, g, NULL);
            return;
        }
    }
}

static void crash(struct h_sim *sim, uint32_t c)
{
    struct h_node *node = &sim->nodes[c];
    node->crashed = true;
    sim->crash_happened = true;
    rdmc_engine_destroy(node->eng); /* buffers lent to it are ours again */
    node->eng = NULL;
    for (uint32_t g = 0; g < sim->cfg.group_count; g++) {
        free(node->recv_buf[g]);
        node->recv_buf[g] = NULL;
    }
    for (uint32_t i = 0; i < sim->cfg.node_count; i++) {
        if (i != c) {
            uint64_t at = sim->now + sq_prng_range(&sim->prng, 1, sim->cfg.detect_max_ns);
            schedule(sim, at, H_PEER_FAILED, i, c, NULL);
        }
    }
}

static void handle(struct h_sim *sim, struct h_event *ev)
{
    struct h_node *node = &sim->nodes[ev->node];
    h_mix(sim, ev->time);
    h_mix(sim, ((uint64_t)ev->kind << 32) | ev->node);
    if (node->crashed) {
        if (ev->frame != NULL) {
            free(ev->frame->data);
            free(ev->frame);
        }
        return;
    }
    switch (ev->kind) {
    case H_DELIVER: {
        struct h_frame *f = ev->frame;
        int rc = rdmc_engine_recv(node->eng, sim->nodes[f->src].id, f->imm, f->data, f->len);
        uint32_t g = group_index_of(sim, rdmc_imm_group(f->imm));
        bool early = g != UINT32_MAX && !node->created[g];
        h_mix(sim, (uint64_t)(int64_t)rc);
        if (early) {
            H_CHECK(sim, rc == SQ_ENOTFOUND && rdmc_imm_type(f->imm) == RDMC_IMM_READY,
                    "node %u: frame 0x%08x before its group exists: %s", ev->node, f->imm,
                    sq_errname(rc));
        } else if (!sim->crash_happened) {
            H_CHECK(sim, rc == SQ_OK, "node %u: frame 0x%08x len %zu from %u rejected: %s",
                    ev->node, f->imm, f->len, f->src, sq_errname(rc));
        } else {
            H_CHECK(sim, rc == SQ_OK || rc == SQ_ECLOSED,
                    "node %u: frame 0x%08x from %u rejected after a crash: %s", ev->node, f->imm,
                    f->src, sq_errname(rc));
        }
        free(f->data);
        free(f);
        break;
    }
    case H_KICK:
        node->kick_pending = false;
        rdmc_engine_kick(node->eng);
        break;
    case H_PEER_FAILED:
        node->knows_crash = true;
        rdmc_engine_peer_failed(node->eng, sim->nodes[ev->arg].id);
        break;
    case H_CRASH:
        crash(sim, ev->node);
        return;
    case H_APP_SEND:
        app_send(sim, ev->node, ev->arg);
        break;
    case H_CREATE:
        create_group_at(sim, ev->node, ev->arg);
        break;
    }
    rdmc_check(node->eng);
}

static void sim_free(struct h_sim *sim)
{
    while (sim->heap_len > 0) {
        struct h_event ev = heap_pop(sim);
        if (ev.frame != NULL) {
            free(ev.frame->data);
            free(ev.frame);
        }
    }
    free(sim->heap);
    for (uint32_t i = 0; i < sim->cfg.node_count; i++) {
        rdmc_engine_destroy(sim->nodes[i].eng);
        for (uint32_t g = 0; g < sim->cfg.group_count; g++) {
            free(sim->nodes[i].recv_buf[g]);
        }
    }
    for (uint32_t g = 0; g < sim->cfg.group_count; g++) {
        for (uint32_t m = 0; m < sim->groups[g].cfg.msg_count; m++) {
            free(sim->groups[g].msgs[m].truth);
            free(sim->groups[g].msgs[m].sendbuf);
        }
    }
    free(sim);
}

static void final_oracle(struct h_sim *sim)
{
    for (uint32_t i = 0; i < sim->cfg.node_count; i++) {
        struct h_node *node = &sim->nodes[i];
        if (node->crashed) {
            continue;
        }
        H_CHECK(sim, !rdmc_engine_is_blocked(node->eng), "node %u still blocked at the end", i);
        for (uint32_t g = 0; g < sim->cfg.group_count; g++) {
            struct h_group *grp = &sim->groups[g];
            if (!group_has(grp, i)) {
                continue;
            }
            if (grp->has_crashed_member && sim->crash_happened) {
                H_CHECK(sim, node->failed_count[g] == 1,
                        "survivor %u of group %u (with crashed node %d) got %u failures", i,
                        grp->cfg.id, sim->cfg.crash_node, node->failed_count[g]);
                H_CHECK(sim, rdmc_group_is_failed(node->eng, grp->cfg.id),
                        "group %u not failed at %u", grp->cfg.id, i);
            } else {
                H_CHECK(sim, node->failed_count[g] == 0, "node %u group %u failed", i, grp->cfg.id);
                H_CHECK(sim, node->done_count[g] == grp->cfg.msg_count,
                        "node %u group %u: %llu of %u messages complete (stalled)", i, grp->cfg.id,
                        (unsigned long long)node->done_count[g], grp->cfg.msg_count);
            }
        }
    }
}

void h_run(const struct h_cfg *cfg, struct h_result *res)
{
    struct h_sim *sim = calloc(1, sizeof(*sim));
    SQ_ASSERT(sim != NULL);
    sim->cfg = *cfg;
    sq_prng_seed(&sim->prng, cfg->seed);
    sim->hash = UINT64_C(0xcbf29ce484222325);
    h_current_seed = cfg->seed;
    h_running = 1;

    SQ_ASSERT(cfg->node_count >= 2 && cfg->node_count <= H_NODES_MAX);
    SQ_ASSERT(cfg->group_count <= H_GROUPS_MAX);
    struct rdmc_io io = {.send = h_io_send};
    struct rdmc_upcalls up = {.alloc = h_alloc, .done = h_done, .failed = h_failed};
    for (uint32_t i = 0; i < cfg->node_count; i++) {
        struct h_node *node = &sim->nodes[i];
        node->sim = sim;
        node->index = i;
        node->id = 1000 + 37 * i; /* ids are not ranks */
        io.ctx = node;
        up.ctx = node;
        int rc = rdmc_engine_create(&node->eng, node->id, &io, &up);
        SQ_ASSERT(rc == SQ_OK);
    }
    for (uint32_t g = 0; g < cfg->group_count; g++) {
        struct h_group *grp = &sim->groups[g];
        grp->cfg = cfg->groups[g];
        SQ_ASSERT(grp->cfg.msg_count <= H_MSGS_MAX);
        for (uint32_t m = 0; m < grp->cfg.msg_count; m++) {
            struct h_msg *msg = &grp->msgs[m];
            msg->size = grp->cfg.sizes[m];
            msg->truth = malloc(msg->size);
            msg->sendbuf = malloc(msg->size);
            SQ_ASSERT(msg->truth != NULL && msg->sendbuf != NULL);
            sq_prng_fill(&sim->prng, msg->truth, msg->size);
            memcpy(msg->sendbuf, msg->truth, msg->size);
        }
        grp->has_crashed_member = cfg->crash_node >= 0 && group_has(grp, (uint32_t)cfg->crash_node);
        for (uint32_t i = 0; i < grp->cfg.n; i++) {
            uint64_t at = cfg->create_spread_ns == 0
                              ? 0
                              : sq_prng_range(&sim->prng, 0, cfg->create_spread_ns);
            schedule(sim, at, H_CREATE, grp->cfg.members[i], g, NULL);
        }
    }
    if (cfg->crash_node >= 0) {
        schedule(sim, cfg->crash_at_ns, H_CRASH, (uint32_t)cfg->crash_node, 0, NULL);
    }

    while (sim->heap_len > 0) {
        struct h_event ev = heap_pop(sim);
        SQ_ASSERT(ev.time >= sim->now);
        sim->now = ev.time;
        handle(sim, &ev);
        sim->res.events++;
        H_CHECK(sim, sim->res.events < H_EVENTS_MAX, "too many events: a livelock");
    }
    final_oracle(sim);
    sim->res.trace_hash = sim->hash;
    sim->res.end_ns = sim->now;
    *res = sim->res;
    h_running = 0;
    sim_free(sim);
}
