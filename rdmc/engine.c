/* The RDMC transfer engine: a sans-I/O state machine over many groups (PROTOCOL.md §3.1, §3.2).
 *
 * Per group and message each node walks its two lists from the schedule: incoming transfers are
 * credited with READYs in step order, at most `ready_window` ahead; outgoing transfers leave in
 * step order once the block is held and the destination's credit is in. Every entry point runs
 * the affected groups to quiescence before it returns, so rdmc_check() can assert that no group
 * could move without a new event. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "rdmc/rdmc.h"
#include "rdmc/rdmc_int.h"

#define NO_RANK UINT32_MAX

/* ---- settings ---- */

void rdmc_settings_default(struct rdmc_settings *s)
{
    *s = (struct rdmc_settings){
        .sched = RDMC_SCHED_PIPELINE,
        .block_bytes = 1024u * 1024u,
        .msg_bytes_max = SQ_MSG_BYTES_MAX,
        .ready_window = 4,
        .queue_max = 64,
    };
}

int rdmc_settings_check(const struct rdmc_settings *s)
{
    if (s == NULL || (unsigned)s->sched >= RDMC_SCHED_COUNT) {
        return SQ_EINVAL;
    }
    if (s->block_bytes == 0 || s->block_bytes > SQ_RDMC_BLOCK_BYTES_MAX) {
        return SQ_EINVAL;
    }
    if (s->msg_bytes_max == 0 || s->msg_bytes_max > SQ_MSG_BYTES_MAX) {
        return SQ_EINVAL;
    }
    uint64_t blocks = ((uint64_t)s->msg_bytes_max + s->block_bytes - 1) / s->block_bytes;
    if (blocks > SQ_RDMC_BLOCKS_MAX) {
        return SQ_EINVAL; /* pitfall 10: k is capped at 65535 */
    }
    if (s->ready_window == 0 || s->ready_window > RDMC_READY_WINDOW_MAX) {
        return SQ_EINVAL;
    }
    if (s->queue_max == 0 || s->queue_max > RDMC_QUEUE_MAX) {
        return SQ_EINVAL;
    }
    return SQ_OK;
}

uint32_t rdmc_settings_blocks_max(const struct rdmc_settings *s)
{
    SQ_ASSERT(rdmc_settings_check(s) == SQ_OK);
    return (uint32_t)(((uint64_t)s->msg_bytes_max + s->block_bytes - 1) / s->block_bytes);
}

/* ---- small helpers ---- */

static bool held_test(const struct rdmc_group *g, uint32_t block)
{
    SQ_ASSERT(block < g->blocks_max);
    return (g->held[block / 64] >> (block % 64)) & 1u;
}

static void held_set(struct rdmc_group *g, uint32_t block)
{
    SQ_ASSERT(!held_test(g, block));
    g->held[block / 64] |= UINT64_C(1) << (block % 64);
    g->held_count++;
    SQ_ASSERT(g->held_count <= g->k);
}

static uint32_t rank_of(const struct rdmc_group *g, uint32_t node)
{
    for (uint32_t r = 0; r < g->n; r++) {
        if (g->members[r] == node) {
            return r;
        }
    }
    return NO_RANK;
}

/* Bytes of block `block` of the message in transfer. */
static uint32_t block_len(const struct rdmc_group *g, uint32_t block)
{
    SQ_ASSERT(block < g->k);
    if (block + 1 < g->k) {
        return g->settings.block_bytes;
    }
    SQ_ASSERT(g->last_len > 0);
    return g->last_len;
}

static bool is_root(const struct rdmc_group *g)
{
    return g->rank == 0;
}

static void set_blocked(struct rdmc_engine *eng, struct rdmc_group *g, bool blocked)
{
    if (g->blocked != blocked) {
        g->blocked = blocked;
        if (blocked) {
            eng->blocked_count++;
        } else {
            SQ_ASSERT(eng->blocked_count > 0);
            eng->blocked_count--;
        }
    }
}

/* Resets the per-message state after a completion (or at creation). */
static void message_reset(struct rdmc_group *g)
{
    size_t words = g->k == 0 ? 0 : ((size_t)g->k + 63) / 64;
    memset(g->held, 0, words * sizeof(g->held[0]));
    g->held_count = 0;
    g->buf = NULL;
    g->data = NULL;
    g->k = 0;
    g->steps = 0;
    g->last_len = 0;
    g->cookie = 0;
    g->out_step = 0;
    g->out_have = false;
    g->out_sent_mask = 0;
    g->in_step = 0;
    g->in_have = false;
    g->pend_count = 0;
}

/* ---- failure ---- */

static void group_fail(struct rdmc_engine *eng, struct rdmc_group *g, int err, uint32_t peer)
{
    if (g->phase == RDMC_PHASE_FAILED) {
        return;
    }
    void *recv_buf = is_root(g) ? NULL : g->buf;
    SQ_INFO("rdmc", "group failed", "group=%u err=%s peer=%u msg_index=%llu", g->id,
            sq_errname(err), peer, (unsigned long long)g->msg_index);
    g->phase = RDMC_PHASE_FAILED;
    g->fail_err = err;
    g->fail_peer = peer;
    set_blocked(eng, g, false);
    message_reset(g);
    /* Queued messages are the application's again (documented with the `failed` upcall). */
    g->queue_head = 0;
    g->queue_count = 0;
    eng->stats.groups_failed++;
    eng->up.failed(eng->up.ctx, g->id, err, peer, recv_buf);
}

/* Hands one send to the transport. Returns true when it was queued; false when the group is now
 * blocked (retry later) or failed. */
static bool io_send(struct rdmc_engine *eng, struct rdmc_group *g, uint32_t rank, uint32_t imm,
                    const void *data, size_t len)
{
    uint32_t peer = g->members[rank];
    int rc = eng->io.send(eng->io.ctx, peer, imm, data, len);
    if (rc == SQ_OK) {
        return true;
    }
    if (rc == SQ_EAGAIN || rc == SQ_EFULL) {
        eng->stats.send_retries++;
        set_blocked(eng, g, true);
        return false;
    }
    group_fail(eng, g, SQ_EPEER, peer);
    return false;
}

/* ---- the walks ---- */

/* Credits incoming transfers while the window has room (PROTOCOL.md §3.2 step 4). */
static bool credit_more(struct rdmc_engine *eng, struct rdmc_group *g)
{
    bool moved = false;
    while (g->pend_count < g->settings.ready_window) {
        if (!g->in_have) {
            if (!rdmc_sched_next_op(g->settings.sched, g->n, g->k, g->rank, RDMC_DIR_IN, g->in_step,
                                    &g->in_op)) {
                g->in_step = g->steps; /* every incoming transfer is credited */
                break;
            }
            g->in_have = true;
        }
        uint32_t imm = rdmc_imm_make(RDMC_IMM_READY, g->id, 0);
        if (!io_send(eng, g, g->in_op.src, imm, NULL, 0)) {
            break;
        }
        eng->stats.readies_sent++;
        g->pend[g->pend_count++] = (struct rdmc_pend){.op = g->in_op, .first = false};
        g->in_step = g->in_op.step + 1;
        g->in_have = false;
        moved = true;
    }
    return moved;
}

/* Sends outgoing transfers in step order while the block is held and the credit is in
 * (PROTOCOL.md §3.2 "send_next_block"). */
static bool send_more(struct rdmc_engine *eng, struct rdmc_group *g)
{
    bool moved = false;
    for (;;) {
        if (!g->out_have) {
            if (!rdmc_sched_next_op(g->settings.sched, g->n, g->k, g->rank, RDMC_DIR_OUT,
                                    g->out_step, &g->out_op)) {
                g->out_step = g->steps; /* every outgoing transfer is sent */
                break;
            }
            g->out_have = true;
        }
        const struct rdmc_op *op = &g->out_op;
        SQ_ASSERT(op->src == g->rank);
        if (!held_test(g, op->block) || g->credits[op->dst] == 0) {
            break;
        }
        /* The destination's first transfer of the message announces k (DATA_FIRST). Its source is
         * first_src[dst]; that source's earliest transfer to dst is that first transfer. */
        uint64_t dst_bit = UINT64_C(1) << op->dst;
        bool first = g->first_src[op->dst] == g->rank && (g->out_sent_mask & dst_bit) == 0;
        uint32_t imm = first ? rdmc_imm_make(RDMC_IMM_DATA_FIRST, g->id, g->k)
                             : rdmc_imm_make(RDMC_IMM_DATA, g->id, op->block);
        uint32_t len = block_len(g, op->block);
        const uint8_t *data = g->data + (size_t)op->block * g->settings.block_bytes;
        if (!io_send(eng, g, op->dst, imm, data, len)) {
            break;
        }
        g->credits[op->dst]--; /* one credit, one transfer (pitfall 10) */
        g->out_sent_mask |= dst_bit;
        g->out_step = op->step + 1;
        g->out_have = false;
        eng->stats.blocks_sent++;
        eng->stats.bytes_sent += len;
        moved = true;
    }
    return moved;
}

static bool message_is_complete(const struct rdmc_group *g)
{
    SQ_ASSERT(g->phase == RDMC_PHASE_ACTIVE);
    bool out_done = !g->out_have && g->out_step >= g->steps;
    if (is_root(g)) {
        return out_done;
    }
    bool in_done = !g->in_have && g->in_step >= g->steps && g->pend_count == 0;
    if (!(out_done && in_done)) {
        return false;
    }
    /* Schedule property (c): once every incoming transfer is in, every block is. */
    SQ_ASSERT(g->held_count == g->k);
    return true;
}

static void message_complete(struct rdmc_engine *eng, struct rdmc_group *g)
{
    uint64_t index = g->msg_index;
    uint64_t cookie = g->cookie;
    size_t size = (size_t)(g->k - 1) * g->settings.block_bytes + g->last_len;
    void *buf;
    if (is_root(g)) {
        buf = (void *)(uintptr_t)g->data;
        g->queue_head = (g->queue_head + 1) % g->settings.queue_max;
        g->queue_count--;
        g->phase = RDMC_PHASE_IDLE;
        eng->stats.msgs_sent++;
    } else {
        buf = g->buf;
        g->phase = RDMC_PHASE_WAIT_FIRST;
        eng->stats.msgs_received++;
    }
    g->msg_index++;
    message_reset(g);
    eng->up.done(eng->up.ctx, g->id, index, buf, size, cookie);
}

static void root_start(struct rdmc_group *g)
{
    SQ_ASSERT(is_root(g) && g->phase == RDMC_PHASE_IDLE && g->queue_count > 0);
    const struct rdmc_msg *msg = &g->queue[g->queue_head];
    uint32_t bs = g->settings.block_bytes;
    g->k = (msg->size + bs - 1) / bs;
    SQ_ASSERT(g->k >= 1 && g->k <= g->blocks_max);
    g->steps = rdmc_sched_step_count(g->settings.sched, g->n, g->k);
    g->last_len = msg->size - (g->k - 1) * bs;
    g->data = msg->data;
    g->cookie = msg->cookie;
    for (uint32_t b = 0; b < g->k; b++) {
        held_set(g, b); /* the root holds every block */
    }
    g->in_step = g->steps; /* the root receives nothing */
    g->phase = RDMC_PHASE_ACTIVE;
}

/* Runs one group until nothing more can happen without a new event. */
static void group_progress(struct rdmc_engine *eng, struct rdmc_group *g)
{
    set_blocked(eng, g, false); /* every call retries what the transport refused */
    for (;;) {
        bool moved = false;
        switch (g->phase) {
        case RDMC_PHASE_FAILED:
            return;
        case RDMC_PHASE_IDLE:
            if (g->queue_count == 0) {
                return;
            }
            root_start(g);
            moved = true;
            break;
        case RDMC_PHASE_WAIT_FIRST:
            /* §3.2 step 2: credit the first transfer of the next message. Its source is known
             * without k (schedule property (e)). */
            if (g->pend_count == 0) {
                uint32_t imm = rdmc_imm_make(RDMC_IMM_READY, g->id, 0);
                if (io_send(eng, g, g->first_src[g->rank], imm, NULL, 0)) {
                    eng->stats.readies_sent++;
                    g->pend[0] =
                        (struct rdmc_pend){.op = {.src = g->first_src[g->rank]}, .first = true};
                    g->pend_count = 1;
                }
            }
            return;
        case RDMC_PHASE_ACTIVE:
            moved |= credit_more(eng, g);
            if (g->phase != RDMC_PHASE_ACTIVE) {
                return;
            }
            moved |= send_more(eng, g);
            if (g->phase != RDMC_PHASE_ACTIVE || g->blocked) {
                return;
            }
            if (message_is_complete(g)) {
                message_complete(eng, g);
                moved = true;
            }
            break;
        }
        if (!moved || g->blocked) {
            return;
        }
    }
}

/* ---- entry and exit of every public call ---- */

static void enter(struct rdmc_engine *eng)
{
    eng->depth++;
}

/* Leaving the outermost call: start what upcalls queued. */
static void leave(struct rdmc_engine *eng)
{
    SQ_ASSERT(eng->depth > 0);
    if (eng->depth == 1) {
        while (eng->dirty_count > 0) {
            for (uint32_t i = 0; i < eng->group_count; i++) {
                struct rdmc_group *g = eng->groups[i];
                if (g->dirty) {
                    g->dirty = false;
                    eng->dirty_count--;
                    group_progress(eng, g);
                }
            }
        }
    }
    eng->depth--;
}

/* ---- engine ---- */

int rdmc_engine_create(struct rdmc_engine **out, uint32_t self_id, const struct rdmc_io *io,
                       const struct rdmc_upcalls *up)
{
    if (out == NULL || io == NULL || up == NULL || io->send == NULL || up->alloc == NULL ||
        up->done == NULL || up->failed == NULL) {
        return SQ_EINVAL;
    }
    struct rdmc_engine *eng = calloc(1, sizeof(*eng));
    if (eng == NULL) {
        return SQ_ENOMEM;
    }
    eng->by_id = calloc((size_t)RDMC_GROUP_ID_MAX + 1, sizeof(eng->by_id[0]));
    if (eng->by_id == NULL) {
        goto err_free_engine;
    }
    eng->self_id = self_id;
    eng->io = *io;
    eng->up = *up;
    *out = eng;
    return SQ_OK;

err_free_engine:
    free(eng);
    return SQ_ENOMEM;
}

static void group_free(struct rdmc_group *g)
{
    free(g->held);
    free(g->queue);
    free(g);
}

void rdmc_engine_destroy(struct rdmc_engine *eng)
{
    if (eng == NULL) {
        return;
    }
    SQ_ASSERT(eng->depth == 0);
    for (uint32_t i = 0; i < eng->group_count; i++) {
        group_free(eng->groups[i]);
    }
    free(eng->by_id);
    free(eng);
}

void rdmc_engine_stats(const struct rdmc_engine *eng, struct rdmc_stats *out)
{
    *out = eng->stats;
}

bool rdmc_engine_is_blocked(const struct rdmc_engine *eng)
{
    return eng->blocked_count > 0;
}

void rdmc_engine_kick(struct rdmc_engine *eng)
{
    SQ_ASSERT(eng->depth == 0);
    if (eng->blocked_count == 0) {
        return;
    }
    enter(eng);
    for (uint32_t i = 0; i < eng->group_count; i++) {
        if (eng->groups[i]->blocked) {
            group_progress(eng, eng->groups[i]);
        }
    }
    leave(eng);
}

/* ---- early credits: READYs for a group not created here yet ---- */

static void early_add(struct rdmc_engine *eng, uint32_t group_id, uint32_t peer)
{
    for (uint32_t i = 0; i < eng->early_count; i++) {
        struct rdmc_early *e = &eng->early[i];
        if (e->group_id == group_id && e->peer == peer) {
            if (e->credits < RDMC_READY_WINDOW_MAX) {
                e->credits++;
            } else {
                eng->stats.frames_dropped++; /* more than any window: not a real credit */
            }
            return;
        }
    }
    if (eng->early_count == RDMC_EARLY_CREDITS_MAX) {
        SQ_WARN("rdmc", "early credit table full, READY dropped", "group=%u peer=%u", group_id,
                peer);
        eng->stats.frames_dropped++;
        return;
    }
    eng->early[eng->early_count++] =
        (struct rdmc_early){.group_id = group_id, .peer = peer, .credits = 1};
}

static void early_remove_at(struct rdmc_engine *eng, uint32_t i)
{
    SQ_ASSERT(i < eng->early_count);
    eng->early[i] = eng->early[--eng->early_count];
}

/* Moves the early credits of a new group into it; credits from non-members or the root (which
 * never receives, so never sends READY) are dropped. */
static void early_absorb(struct rdmc_engine *eng, struct rdmc_group *g)
{
    uint32_t i = 0;
    while (i < eng->early_count) {
        struct rdmc_early *e = &eng->early[i];
        if (e->group_id != g->id) {
            i++;
            continue;
        }
        uint32_t rank = rank_of(g, e->peer);
        if (rank != NO_RANK && rank != 0 && rank != g->rank) {
            g->credits[rank] = e->credits;
        } else {
            eng->stats.frames_dropped += e->credits;
        }
        early_remove_at(eng, i);
    }
}

/* ---- groups ---- */

int rdmc_group_create(struct rdmc_engine *eng, uint32_t group_id, const uint32_t *members,
                      uint32_t member_count, const struct rdmc_settings *settings)
{
    SQ_ASSERT(eng->depth == 0);
    struct rdmc_settings defaults;
    if (settings == NULL) {
        rdmc_settings_default(&defaults);
        settings = &defaults;
    }
    if (group_id > RDMC_GROUP_ID_MAX || members == NULL || member_count < 2 ||
        member_count > RDMC_GROUP_SIZE_MAX || rdmc_settings_check(settings) != SQ_OK) {
        return SQ_EINVAL;
    }
    uint32_t self_rank = NO_RANK;
    for (uint32_t i = 0; i < member_count; i++) {
        for (uint32_t j = 0; j < i; j++) {
            if (members[i] == members[j]) {
                return SQ_EINVAL;
            }
        }
        if (members[i] == eng->self_id) {
            self_rank = i;
        }
    }
    if (self_rank == NO_RANK) {
        return SQ_EINVAL;
    }
    if (eng->by_id[group_id] != NULL) {
        return SQ_EEXIST;
    }
    if (eng->group_count == RDMC_GROUPS_MAX) {
        return SQ_EFULL;
    }

    struct rdmc_group *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return SQ_ENOMEM;
    }
    g->id = group_id;
    g->n = member_count;
    g->rank = self_rank;
    memcpy(g->members, members, member_count * sizeof(members[0]));
    g->settings = *settings;
    g->blocks_max = rdmc_settings_blocks_max(settings);
    g->held = calloc(((size_t)g->blocks_max + 63) / 64, sizeof(g->held[0]));
    if (g->held == NULL) {
        goto err_free_group;
    }
    if (self_rank == 0) {
        g->queue = calloc(settings->queue_max, sizeof(g->queue[0]));
        if (g->queue == NULL) {
            goto err_free_group;
        }
    }
    /* §3.2 step 1 / §3.3 "First block": every rank's first source, computed once without k. The
     * sender needs all of them to mark DATA_FIRST; a receiver needs its own. */
    g->first_src[0] = NO_RANK;
    for (uint32_t r = 1; r < member_count; r++) {
        uint32_t src;
        uint32_t block;
        rdmc_sched_first_op(settings->sched, member_count, r, &src, &block);
        g->first_src[r] = src;
        if (r == self_rank) {
            g->first_block_probe = block;
        }
    }
    g->phase = self_rank == 0 ? RDMC_PHASE_IDLE : RDMC_PHASE_WAIT_FIRST;

    g->index = eng->group_count;
    eng->groups[eng->group_count++] = g;
    eng->by_id[group_id] = g;
    early_absorb(eng, g);

    enter(eng);
    group_progress(eng, g); /* a receiver credits its first transfer now */
    leave(eng);
    return SQ_OK;

err_free_group:
    group_free(g);
    return SQ_ENOMEM;
}

void rdmc_group_destroy(struct rdmc_engine *eng, uint32_t group_id)
{
    SQ_ASSERT(eng->depth == 0);
    if (group_id > RDMC_GROUP_ID_MAX || eng->by_id[group_id] == NULL) {
        return;
    }
    struct rdmc_group *g = eng->by_id[group_id];
    set_blocked(eng, g, false);
    SQ_ASSERT(!g->dirty);
    eng->by_id[group_id] = NULL;
    uint32_t last = eng->group_count - 1;
    if (g->index != last) {
        eng->groups[g->index] = eng->groups[last];
        eng->groups[g->index]->index = g->index;
    }
    eng->groups[last] = NULL;
    eng->group_count--;
    group_free(g);
}

int rdmc_group_send(struct rdmc_engine *eng, uint32_t group_id, const void *data, size_t size,
                    uint64_t cookie)
{
    if (group_id > RDMC_GROUP_ID_MAX || eng->by_id[group_id] == NULL) {
        return SQ_ENOTFOUND;
    }
    struct rdmc_group *g = eng->by_id[group_id];
    if (!is_root(g)) {
        return SQ_EPERM;
    }
    if (g->phase == RDMC_PHASE_FAILED) {
        return SQ_ECLOSED;
    }
    if (data == NULL || size == 0) {
        return SQ_EINVAL;
    }
    if (size > g->settings.msg_bytes_max) {
        return SQ_ETOOBIG;
    }
    if (g->queue_count == g->settings.queue_max) {
        return SQ_EFULL;
    }
    uint32_t tail = (g->queue_head + g->queue_count) % g->settings.queue_max;
    g->queue[tail] = (struct rdmc_msg){.data = data, .size = (uint32_t)size, .cookie = cookie};
    g->queue_count++;
    if (eng->depth > 0) {
        /* From an upcall: started when the outermost call leaves. */
        if (!g->dirty) {
            g->dirty = true;
            eng->dirty_count++;
        }
        return SQ_OK;
    }
    enter(eng);
    group_progress(eng, g);
    leave(eng);
    return SQ_OK;
}

bool rdmc_group_is_failed(const struct rdmc_engine *eng, uint32_t group_id)
{
    return group_id <= RDMC_GROUP_ID_MAX && eng->by_id[group_id] != NULL &&
           eng->by_id[group_id]->phase == RDMC_PHASE_FAILED;
}

uint32_t rdmc_group_queued(const struct rdmc_engine *eng, uint32_t group_id)
{
    if (group_id > RDMC_GROUP_ID_MAX || eng->by_id[group_id] == NULL) {
        return 0;
    }
    return eng->by_id[group_id]->queue_count;
}

/* ---- events ---- */

/* A protocol violation by `peer`: the group fails; the frame is dropped. */
static int corrupt(struct rdmc_engine *eng, struct rdmc_group *g, uint32_t peer, const char *what,
                   uint32_t imm, size_t len)
{
    SQ_WARN("rdmc", "bad frame", "group=%u peer=%u what=\"%s\" imm=0x%08x len=%zu", g->id, peer,
            what, imm, len);
    eng->stats.frames_dropped++;
    group_fail(eng, g, SQ_ECORRUPT, peer);
    return SQ_ECORRUPT;
}

/* Length rule for block `block` of a k-block message: every block but the last is full; the
 * last has 1..block_bytes bytes, the same each time it arrives. */
static bool len_ok(const struct rdmc_group *g, uint32_t k, uint32_t block, size_t len)
{
    if (block + 1 < k) {
        return len == g->settings.block_bytes;
    }
    if (len == 0 || len > g->settings.block_bytes) {
        return false;
    }
    return g->last_len == 0 || len == g->last_len;
}

static int recv_data_first(struct rdmc_engine *eng, struct rdmc_group *g, uint32_t peer,
                           uint32_t rank, uint32_t imm, const void *data, size_t len)
{
    if (g->phase != RDMC_PHASE_WAIT_FIRST || g->pend_count != 1 || !g->pend[0].first ||
        rank != g->pend[0].op.src) {
        return corrupt(eng, g, peer, "uncredited first block", imm, len);
    }
    uint32_t k = rdmc_imm_field(imm);
    if (k == 0 || k > g->blocks_max) {
        return corrupt(eng, g, peer, "block count out of range", imm, len);
    }
    /* §3.3 "First block": min(first block for unbounded k, k - 1). */
    uint32_t block = g->first_block_probe < k - 1 ? g->first_block_probe : k - 1;
    if (!len_ok(g, k, block, len)) {
        return corrupt(eng, g, peer, "bad block length", imm, len);
    }
    struct rdmc_op op;
    bool found = rdmc_sched_next_op(g->settings.sched, g->n, k, g->rank, RDMC_DIR_IN, 0, &op);
    SQ_ASSERT(found); /* schedule property (e) */
    SQ_ASSERT(op.src == rank && op.block == block);

    size_t size_max = (size_t)k * g->settings.block_bytes;
    void *buf = eng->up.alloc(eng->up.ctx, g->id, size_max);
    if (buf == NULL) {
        group_fail(eng, g, SQ_ENOMEM, UINT32_MAX);
        return SQ_ENOMEM;
    }
    SQ_ASSERT(g->phase == RDMC_PHASE_WAIT_FIRST); /* upcalls cannot fail or move this group */
    g->phase = RDMC_PHASE_ACTIVE;
    g->buf = buf;
    g->data = buf;
    g->k = k;
    g->steps = rdmc_sched_step_count(g->settings.sched, g->n, k);
    g->pend_count = 0;
    g->in_step = op.step + 1;
    g->in_have = false;
    g->out_step = 0;
    g->out_have = false;
    memcpy(g->buf + (size_t)block * g->settings.block_bytes, data, len);
    held_set(g, block);
    if (block == k - 1) {
        g->last_len = (uint32_t)len;
    }
    eng->stats.blocks_received++;
    group_progress(eng, g);
    return SQ_OK;
}

static int recv_data(struct rdmc_engine *eng, struct rdmc_group *g, uint32_t peer, uint32_t rank,
                     uint32_t imm, const void *data, size_t len)
{
    if (g->phase != RDMC_PHASE_ACTIVE) {
        return corrupt(eng, g, peer, "block outside a message", imm, len);
    }
    /* Transfers from one source arrive in its step order (one FIFO link), which is our credit
     * order: the frame is the earliest credited transfer from that source. */
    uint32_t i = 0;
    while (i < g->pend_count && g->pend[i].op.src != rank) {
        i++;
    }
    if (i == g->pend_count) {
        return corrupt(eng, g, peer, "uncredited block", imm, len);
    }
    uint32_t block = rdmc_imm_field(imm);
    if (block != g->pend[i].op.block) {
        return corrupt(eng, g, peer, "unexpected block", imm, len);
    }
    if (!len_ok(g, g->k, block, len)) {
        return corrupt(eng, g, peer, "bad block length", imm, len);
    }
    if (!held_test(g, block)) {
        uint8_t *dst = g->buf + (size_t)block * g->settings.block_bytes;
        if (data != dst) { /* else the transport stored it in place (rdmc_engine_recv_place) */
            memcpy(dst, data, len);
        }
        held_set(g, block);
        if (block == g->k - 1) {
            g->last_len = (uint32_t)len;
        }
    }
    /* A redundant (clamped) transfer carries a block already held: it still used a credit. */
    memmove(&g->pend[i], &g->pend[i + 1], (g->pend_count - i - 1) * sizeof(g->pend[0]));
    g->pend_count--;
    eng->stats.blocks_received++;
    group_progress(eng, g);
    return SQ_OK;
}

static int recv_ready(struct rdmc_engine *eng, struct rdmc_group *g, uint32_t peer, uint32_t rank,
                      uint32_t imm, size_t len)
{
    if (rdmc_imm_field(imm) != 0 || len != 0) {
        return corrupt(eng, g, peer, "malformed READY", imm, len);
    }
    if (rank == 0) {
        return corrupt(eng, g, peer, "READY from the root", imm, len);
    }
    if (g->credits[rank] >= RDMC_READY_WINDOW_MAX) {
        return corrupt(eng, g, peer, "more READYs than any window", imm, len);
    }
    g->credits[rank]++;
    eng->stats.readies_received++;
    group_progress(eng, g);
    return SQ_OK;
}

int rdmc_engine_recv(struct rdmc_engine *eng, uint32_t peer, uint32_t imm, const void *data,
                     size_t len)
{
    SQ_ASSERT(eng->depth == 0);
    enum rdmc_imm_type type = rdmc_imm_type(imm);
    if (type == RDMC_IMM_OTHER) {
        eng->stats.frames_dropped++;
        return SQ_EINVAL;
    }
    uint32_t group_id = rdmc_imm_group(imm);
    struct rdmc_group *g = eng->by_id[group_id];
    if (g == NULL) {
        if (type == RDMC_IMM_READY && rdmc_imm_field(imm) == 0 && len == 0 &&
            peer != eng->self_id) {
            early_add(eng, group_id, peer);
        } else {
            eng->stats.frames_dropped++;
        }
        return SQ_ENOTFOUND;
    }
    if (g->phase == RDMC_PHASE_FAILED) {
        eng->stats.frames_dropped++;
        return SQ_ECLOSED;
    }
    uint32_t rank = rank_of(g, peer);
    if (rank == NO_RANK || rank == g->rank) {
        eng->stats.frames_dropped++;
        return SQ_EPERM;
    }
    if (len > 0 && data == NULL) {
        return SQ_EINVAL; /* a transport bug, not peer input; nothing to copy from */
    }
    enter(eng);
    int rc;
    switch (type) {
    case RDMC_IMM_DATA_FIRST:
        rc = recv_data_first(eng, g, peer, rank, imm, data, len);
        break;
    case RDMC_IMM_DATA:
        rc = recv_data(eng, g, peer, rank, imm, data, len);
        break;
    case RDMC_IMM_READY:
        rc = recv_ready(eng, g, peer, rank, imm, len);
        break;
    default:
        SQ_UNREACHABLE();
    }
    leave(eng);
    return rc;
}

void *rdmc_engine_recv_place(const struct rdmc_engine *eng, uint32_t peer, uint32_t imm,
                             size_t len)
{
    if (rdmc_imm_type(imm) != RDMC_IMM_DATA) {
        return NULL;
    }
    const struct rdmc_group *g = eng->by_id[rdmc_imm_group(imm)];
    if (g == NULL || g->phase != RDMC_PHASE_ACTIVE || is_root(g)) {
        return NULL;
    }
    uint32_t rank = rank_of(g, peer);
    if (rank == NO_RANK || rank == g->rank) {
        return NULL;
    }
    /* The same rule as recv_data: the earliest credited transfer from that source. */
    uint32_t i = 0;
    while (i < g->pend_count && g->pend[i].op.src != rank) {
        i++;
    }
    uint32_t block = rdmc_imm_field(imm);
    if (i == g->pend_count || block != g->pend[i].op.block || !len_ok(g, g->k, block, len)) {
        return NULL;
    }
    return g->buf + (size_t)block * g->settings.block_bytes;
}

void rdmc_engine_peer_failed(struct rdmc_engine *eng, uint32_t peer)
{
    SQ_ASSERT(eng->depth == 0);
    if (peer == eng->self_id) {
        return;
    }
    enter(eng);
    for (uint32_t i = 0; i < eng->group_count; i++) {
        struct rdmc_group *g = eng->groups[i];
        if (rank_of(g, peer) != NO_RANK) {
            group_fail(eng, g, SQ_EPEER, peer);
        }
    }
    uint32_t i = 0;
    while (i < eng->early_count) {
        if (eng->early[i].peer == peer) {
            early_remove_at(eng, i);
        } else {
            i++;
        }
    }
    leave(eng);
}

/* ---- invariants ---- */

static void group_check(const struct rdmc_engine *eng, const struct rdmc_group *g, uint32_t i)
{
    SQ_ASSERT(g->index == i);
    SQ_ASSERT(eng->by_id[g->id] == g);
    SQ_ASSERT(g->n >= 2 && g->n <= RDMC_GROUP_SIZE_MAX);
    SQ_ASSERT(g->rank < g->n);
    SQ_ASSERT(g->members[g->rank] == eng->self_id);
    SQ_ASSERT(rdmc_settings_check(&g->settings) == SQ_OK);
    SQ_ASSERT(g->blocks_max == rdmc_settings_blocks_max(&g->settings));
    SQ_ASSERT(!g->dirty);
    SQ_ASSERT(g->queue_count <= g->settings.queue_max);
    SQ_ASSERT(SQ_IMPLIES(!is_root(g), g->queue_count == 0));
    SQ_ASSERT(g->pend_count <= g->settings.ready_window);
    SQ_ASSERT(g->credits[0] == 0); /* the root never sends READY */
    SQ_ASSERT(g->credits[g->rank] == 0);
    for (uint32_t r = 0; r < g->n; r++) {
        SQ_ASSERT(g->credits[r] <= RDMC_READY_WINDOW_MAX);
        SQ_ASSERT(SQ_IMPLIES(r > 0, g->first_src[r] < g->n && g->first_src[r] != r));
    }
    uint32_t popcount = 0;
    for (uint32_t w = 0; w < (g->blocks_max + 63) / 64; w++) {
        popcount += (uint32_t)__builtin_popcountll(g->held[w]);
    }
    SQ_ASSERT(popcount == g->held_count);

    switch (g->phase) {
    case RDMC_PHASE_FAILED:
        SQ_ASSERT(g->fail_err != SQ_OK);
        SQ_ASSERT(!g->blocked);
        SQ_ASSERT(g->queue_count == 0 && g->held_count == 0 && g->pend_count == 0);
        return;
    case RDMC_PHASE_IDLE:
        SQ_ASSERT(is_root(g));
        SQ_ASSERT(g->queue_count == 0); /* else it would have started */
        SQ_ASSERT(g->held_count == 0 && g->k == 0 && !g->blocked);
        return;
    case RDMC_PHASE_WAIT_FIRST:
        SQ_ASSERT(!is_root(g));
        SQ_ASSERT(g->held_count == 0 && g->k == 0 && g->buf == NULL);
        /* Not blocked => the first transfer is credited. */
        SQ_ASSERT(g->blocked || g->pend_count == 1);
        SQ_ASSERT(SQ_IMPLIES(g->pend_count == 1,
                             g->pend[0].first && g->pend[0].op.src == g->first_src[g->rank]));
        SQ_ASSERT(SQ_IMPLIES(g->blocked, g->pend_count == 0));
        return;
    case RDMC_PHASE_ACTIVE:
        break;
    }

    SQ_ASSERT(g->k >= 1 && g->k <= g->blocks_max);
    SQ_ASSERT(g->steps == rdmc_sched_step_count(g->settings.sched, g->n, g->k));
    SQ_ASSERT(g->held_count >= 1 && g->held_count <= g->k);
    SQ_ASSERT(g->data != NULL);
    SQ_ASSERT(SQ_IMPLIES(is_root(g), g->held_count == g->k && g->queue_count >= 1));
    SQ_ASSERT(SQ_IMPLIES(is_root(g), g->pend_count == 0 && g->in_step == g->steps));
    SQ_ASSERT(SQ_IMPLIES(!is_root(g), g->buf == g->data));
    SQ_ASSERT(SQ_IMPLIES(g->last_len != 0, held_test(g, g->k - 1)));
    SQ_ASSERT(g->last_len <= g->settings.block_bytes);
    SQ_ASSERT(g->out_step <= g->steps && g->in_step <= g->steps);
    SQ_ASSERT((g->out_sent_mask & ~((g->n == 64) ? ~UINT64_C(0) : (UINT64_C(1) << g->n) - 1)) == 0);

    /* Credited transfers: in step order, really incoming transfers of this node, none arrived. */
    uint32_t prev_step = 0;
    for (uint32_t p = 0; p < g->pend_count; p++) {
        const struct rdmc_op *op = &g->pend[p].op;
        SQ_ASSERT(!g->pend[p].first);
        SQ_ASSERT(op->dst == g->rank && op->src != g->rank);
        SQ_ASSERT(p == 0 || op->step > prev_step);
        SQ_ASSERT(op->step < g->in_step);
        struct rdmc_op in;
        unsigned has =
            rdmc_sched_node_step(g->settings.sched, g->n, g->k, g->rank, op->step, NULL, &in);
        SQ_ASSERT((has & RDMC_NODE_HAS_IN) != 0);
        SQ_ASSERT(in.src == op->src && in.block == op->block);
        prev_step = op->step;
    }
    if (g->out_have) {
        SQ_ASSERT(g->out_op.src == g->rank && g->out_op.step >= g->out_step);
    }
    if (g->blocked) {
        return; /* waiting for the transport: the quiescence rules below do not apply */
    }
    /* No lost wake-up: nothing could move without a new event. */
    if (g->out_have) {
        SQ_ASSERT(!(held_test(g, g->out_op.block) && g->credits[g->out_op.dst] > 0));
    } else {
        SQ_ASSERT(g->out_step == g->steps);
    }
    if (g->pend_count < g->settings.ready_window) {
        SQ_ASSERT(!g->in_have && g->in_step == g->steps);
    }
    SQ_ASSERT(!message_is_complete(g));
}

void rdmc_check(const struct rdmc_engine *eng)
{
    SQ_ASSERT(eng->depth == 0);
    SQ_ASSERT(eng->dirty_count == 0);
    SQ_ASSERT(eng->group_count <= RDMC_GROUPS_MAX);
    SQ_ASSERT(eng->early_count <= RDMC_EARLY_CREDITS_MAX);
    uint32_t blocked = 0;
    for (uint32_t i = 0; i < eng->group_count; i++) {
        const struct rdmc_group *g = eng->groups[i];
        SQ_ASSERT(g != NULL);
        blocked += g->blocked ? 1u : 0u;
        group_check(eng, g, i);
    }
    SQ_ASSERT(blocked == eng->blocked_count);
    for (uint32_t i = 0; i < eng->early_count; i++) {
        const struct rdmc_early *e = &eng->early[i];
        SQ_ASSERT(e->group_id <= RDMC_GROUP_ID_MAX);
        SQ_ASSERT(eng->by_id[e->group_id] == NULL); /* absorbed at creation */
        SQ_ASSERT(e->credits >= 1 && e->credits <= RDMC_READY_WINDOW_MAX);
        SQ_ASSERT(e->peer != eng->self_id);
    }
}
