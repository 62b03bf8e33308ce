/* rdmc/ internals: the engine's state, shared by engine.c and its tests. Single-threaded. */
#ifndef SQ_RDMC_RDMC_INT_H
#define SQ_RDMC_RDMC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rdmc/rdmc.h"

/* Phase of a group at this node. */
enum rdmc_phase {
    RDMC_PHASE_IDLE = 0,   /* root with no message in transfer */
    RDMC_PHASE_WAIT_FIRST, /* receiver between messages: first transfer credited or to credit */
    RDMC_PHASE_ACTIVE,     /* a message is in transfer (k known) */
    RDMC_PHASE_FAILED,     /* inert until destroyed */
};

/* A message queued at the root. */
struct rdmc_msg {
    const uint8_t *data;
    uint32_t size;
    uint64_t cookie;
};

/* An incoming transfer credited (READY sent) and not arrived yet. */
struct rdmc_pend {
    struct rdmc_op op; /* for the first transfer of a message only op.src is meaningful */
    bool first;
};

struct rdmc_group {
    uint32_t id;
    uint32_t n;
    uint32_t rank; /* this node's rank */
    uint32_t members[RDMC_GROUP_SIZE_MAX];
    struct rdmc_settings settings;
    uint32_t blocks_max;
    /* Rank of each rank's first incoming transfer's source (schedule property (e); [0] unused):
     * a receiver credits its own first transfer with it, a sender marks DATA_FIRST with it. */
    uint32_t first_src[RDMC_GROUP_SIZE_MAX];
    uint32_t first_block_probe; /* this node's first block for unbounded k (clamp to k-1) */

    enum rdmc_phase phase;
    int fail_err;
    uint32_t fail_peer;
    bool blocked;   /* io.send said SQ_EAGAIN/SQ_EFULL; retry on the next event or kick */
    bool dirty;     /* rdmc_group_send() ran inside an upcall: progress before returning */
    uint32_t index; /* position in engine->groups */

    /* Root's queue; queue[queue_head] is the message in transfer while ACTIVE. */
    struct rdmc_msg *queue;
    uint32_t queue_head;
    uint32_t queue_count;

    /* The message in transfer. */
    uint64_t msg_index;  /* messages completed by this group here */
    const uint8_t *data; /* the message's bytes: the root's queued buffer, or `buf` */
    uint8_t *buf;        /* receiver: the buffer from `alloc` */
    uint32_t k;
    uint32_t steps;    /* T */
    uint32_t last_len; /* length of block k-1, 0 while unknown */
    uint64_t cookie;

    /* Outgoing walk: out_op is the next transfer to hand to the transport (when out_have). */
    uint32_t out_step; /* where the search for the next outgoing transfer resumes */
    bool out_have;
    struct rdmc_op out_op;
    uint64_t out_sent_mask; /* ranks that got a DATA of this message from us */

    /* Incoming walk: in_op is the next transfer to credit (when in_have). */
    uint32_t in_step;
    bool in_have;
    struct rdmc_op in_op;
    struct rdmc_pend pend[RDMC_READY_WINDOW_MAX]; /* in credit (= step) order */
    uint32_t pend_count;

    uint64_t *held; /* bitmap of blocks held, blocks_max bits */
    uint32_t held_count;

    uint32_t credits[RDMC_GROUP_SIZE_MAX]; /* READYs received from each rank, not yet used */
};

struct rdmc_early {
    uint32_t group_id;
    uint32_t peer;
    uint32_t credits;
};

struct rdmc_engine {
    uint32_t self_id;
    struct rdmc_io io;
    struct rdmc_upcalls up;
    struct rdmc_group **by_id; /* RDMC_GROUP_ID_MAX + 1 slots */
    struct rdmc_group *groups[RDMC_GROUPS_MAX];
    uint32_t group_count;
    struct rdmc_early early[RDMC_EARLY_CREDITS_MAX];
    uint32_t early_count;
    uint32_t depth;         /* > 0 while an event or call is being handled */
    uint32_t blocked_count; /* groups with `blocked` set */
    uint32_t dirty_count;   /* groups with `dirty` set */
    struct rdmc_stats stats;
};

#endif
