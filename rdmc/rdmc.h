/* rdmc/: large-message multicast (PROTOCOL.md §3; Behrens et al., "RDMC: A Reliable Multicast for
 * Large Objects", DSN 2018). Wire format and design notes: docs/rdmc.md.
 *
 * A sender splits a message into k blocks of `block_bytes` (the last may be short) and the
 * receivers relay the blocks to each other along a schedule, so that every link carries each block
 * about once and the sender's link is no longer the bottleneck.
 *
 * Two parts:
 *  - schedules: pure functions of (schedule, group size n, block count k, step); no state at all;
 *  - the transfer engine: a sans-I/O state machine (STYLE.md) for many groups at once. It does no
 *    I/O, reads no clock, starts no thread and takes no lock. It is driven by events (a frame
 *    arrived, a peer failed, the application sends a message, the transport can take more) and
 *    answers with bounded actions through `struct rdmc_io` (hand this frame to the transport) and
 *    upcalls through `struct rdmc_upcalls` (give me a receive buffer, a message is complete, a
 *    group failed). rdmc/rdmc_net.h maps it onto net_ops.
 *
 * Threads: an engine and everything reachable from it belong to one thread (the node's event loop
 * or the simulator). Every function here, every io call and every upcall run on that thread. The
 * schedule functions are pure and may be called from any thread. */
#ifndef SQ_RDMC_RDMC_H
#define SQ_RDMC_RDMC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"

/* =============================================================================================
 * Schedules (PROTOCOL.md §3.3)
 * =============================================================================================
 *
 * Nodes are the ranks 0..n-1 of a group; rank 0 is the sender (the root), which holds all k blocks
 * from the start. A schedule is written as T synchronous rounds called STEPS, numbered 0..T-1.
 * An OPERATION (a transfer) is a tuple (step t, src, dst, block b): during step t node `src` sends
 * block b to node `dst`. Every schedule here guarantees, for every n in 2..RDMC_GROUP_SIZE_MAX and
 * k in 1..SQ_RDMC_BLOCKS_MAX (checked exhaustively for n <= 64, k <= 64 and sampled beyond by
 * tests/unit/rdmc/test_rdmc_schedule.c):
 *   (a) src holds b at the start of step t: src is the root, or src was the dst of an operation
 *       carrying b at an earlier step;
 *   (b) every node is the src of at most one and the dst of at most one operation per step;
 *   (c) after step T-1 every node holds all k blocks; T is the schedule's promised step count;
 *   (d) src != dst, the root is never a dst, and every rank and block is in range;
 *   (e) the source of every non-root node's first incoming operation, and its block clamped to
 *       k-1, do not depend on k (rdmc_sched_first_op): a receiver knows whom to send its first
 *       READY to before it learns k (PROTOCOL.md §3.2 step 1, pitfall 10).
 * Some pipeline operations carry a block the receiver already holds (the min(.., k-1) clamp of
 * §3.3). They are real transfers: both sides perform them, and each takes one READY credit.
 *
 * A node's OUTGOING list is the operations with src == node in step order, its INCOMING list those
 * with dst == node. Both are derived from rdmc_sched_step_ops() and nothing else, so a sender and
 * a receiver can never disagree about a transfer. In a real run steps are not synchronous: each
 * node performs its own two lists in order, gated by data and credits (§3.3). */

enum rdmc_sched {
    RDMC_SCHED_SEQUENTIAL = 0, /* root sends every block to each receiver in turn: T = (n-1)k */
    RDMC_SCHED_CHAIN = 1,      /* a pipeline along ranks 0 -> 1 -> ... -> n-1: T = k + n - 2 */
    RDMC_SCHED_TREE = 2,       /* binomial tree, whole message per stage: T = k * ceil(log2 n) */
    RDMC_SCHED_PIPELINE = 3,   /* binomial pipeline (default): T = k + ceil(log2 n) - 1 for
                                * every n. For n = 2^l that is the hypercube's k + l - 1; for
                                * 2^l < n < 2^(l+1) the twin extension needs one step more than
                                * the 2^l hypercube, k + l, which is again k + ceil(log2 n) - 1 */
};
#define RDMC_SCHED_COUNT 4

#define RDMC_GROUP_SIZE_MAX SQ_MEMBERS_MAX /* members of one RDMC group, root included */
/* Operations in one step: every node sends at most once per step. */
#define RDMC_STEP_OPS_MAX RDMC_GROUP_SIZE_MAX
/* The k used to compute the first incoming operation before k is known (PROTOCOL.md §3.3 "First
 * block"): no schedule's first block for any node reaches it, so nothing is clamped. */
#define RDMC_FIRST_PROBE_BLOCKS 1024u
static_assert(RDMC_GROUP_SIZE_MAX <= 64, "ranks fit a 64-bit mask");
static_assert(RDMC_FIRST_PROBE_BLOCKS <= SQ_RDMC_BLOCKS_MAX, "the probe is a valid block count");

/* Direction of a node's list. */
enum rdmc_dir {
    RDMC_DIR_OUT = 0, /* operations the node sends */
    RDMC_DIR_IN = 1,  /* operations the node receives */
};

struct rdmc_op {
    uint32_t step;
    uint32_t src;   /* rank */
    uint32_t dst;   /* rank */
    uint32_t block; /* 0..k-1 */
};

/* The schedule's name ("sequential", "chain", "tree", "pipeline"); "?" outside the enum. */
const char *rdmc_sched_name(enum rdmc_sched sched);

/* Parses a name from rdmc_sched_name() into *out. SQ_OK or SQ_EINVAL (out untouched). */
int rdmc_sched_parse(const char *name, enum rdmc_sched *out);

/* True when (sched, n, k) is something the functions below accept: a known schedule,
 * 2 <= n <= RDMC_GROUP_SIZE_MAX, 1 <= k <= SQ_RDMC_BLOCKS_MAX. The functions below assert it. */
bool rdmc_sched_is_valid(enum rdmc_sched sched, uint32_t n, uint32_t k);

/* T, the number of steps of the schedule (see the enum for each formula). */
uint32_t rdmc_sched_step_count(enum rdmc_sched sched, uint32_t n, uint32_t k);

/* THE schedule: writes the operations of step `step` (< T) into `ops` (capacity `cap`, which must
 * be at least RDMC_STEP_OPS_MAX) and returns how many there are (0 is possible). The order within a
 * step is fixed but means nothing. Cost O(n). */
size_t rdmc_sched_step_ops(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t step,
                           struct rdmc_op *ops, size_t cap);

/* The operations of `step` that involve `node`: the one it sends (*out, if `out` is not NULL) and
 * the one it receives (*in), each reported through the return bits RDMC_NODE_HAS_OUT and
 * RDMC_NODE_HAS_IN. Exactly the operations of rdmc_sched_step_ops(step) with src == node or
 * dst == node (same function, filtered; cheaper for the simple schedules). */
#define RDMC_NODE_HAS_OUT 0x1u
#define RDMC_NODE_HAS_IN 0x2u
unsigned rdmc_sched_node_step(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t node,
                              uint32_t step, struct rdmc_op *out, struct rdmc_op *in);

/* Walks a node's list: the first operation of direction `dir` for `node` at a step >= from_step.
 * Returns true and fills *op, or false when there is none before T. Cost O(steps scanned) for the
 * sequential, chain and tree schedules (which skip steps where the node has no operation) and
 * O(n * steps scanned) for the pipeline. */
bool rdmc_sched_next_op(enum rdmc_sched sched, uint32_t n, uint32_t k, uint32_t node,
                        enum rdmc_dir dir, uint32_t from_step, struct rdmc_op *op);

/* The first incoming operation of non-root `node` (1 <= node < n) as far as it is known without k:
 * its source rank and its block for unbounded k. For any k the node's first incoming operation
 * comes from *src and carries block min(*block, k-1) (property (e)). */
void rdmc_sched_first_op(enum rdmc_sched sched, uint32_t n, uint32_t node, uint32_t *src,
                         uint32_t *block);

/* =============================================================================================
 * Wire format (docs/rdmc.md): every RDMC frame is one two-sided send with a 32-bit immediate
 * =============================================================================================
 *
 *   bits 31..30  type: RDMC_IMM_DATA_FIRST, RDMC_IMM_DATA, RDMC_IMM_READY, RDMC_IMM_OTHER
 *   bits 29..16  group id (0..RDMC_GROUP_ID_MAX)
 *   bits 15..0   DATA_FIRST: k, the message's block count (1..65535)
 *                DATA:       the block number (0..65534)
 *                READY:      0
 * DATA_FIRST and DATA carry exactly one block as payload; READY carries nothing. A DATA_FIRST is
 * the receiver's first incoming transfer of a message; its block number is implied by the
 * schedule (rdmc_sched_first_op, clamped to k-1). RDMC_IMM_OTHER is never produced by RDMC: the
 * transport adapter hands such sends to whoever else uses two-sided sends on the connection. */
enum rdmc_imm_type {
    RDMC_IMM_DATA_FIRST = 0,
    RDMC_IMM_DATA = 1,
    RDMC_IMM_READY = 2,
    RDMC_IMM_OTHER = 3,
};
#define RDMC_GROUP_ID_BITS 14
#define RDMC_GROUP_ID_MAX ((1u << RDMC_GROUP_ID_BITS) - 1)
static_assert(SQ_RDMC_BLOCKS_MAX <= 0xFFFF, "k and block numbers travel in 16 bits");

static inline uint32_t rdmc_imm_make(enum rdmc_imm_type type, uint32_t group_id, uint32_t field)
{
    return ((uint32_t)type << 30) | ((group_id & RDMC_GROUP_ID_MAX) << 16) | (field & 0xFFFFu);
}
static inline enum rdmc_imm_type rdmc_imm_type(uint32_t imm)
{
    return (enum rdmc_imm_type)(imm >> 30);
}
static inline uint32_t rdmc_imm_group(uint32_t imm)
{
    return (imm >> 16) & RDMC_GROUP_ID_MAX;
}
static inline uint32_t rdmc_imm_field(uint32_t imm)
{
    return imm & 0xFFFFu;
}

/* =============================================================================================
 * The transfer engine (PROTOCOL.md §3.1, §3.2)
 * =============================================================================================
 *
 * Per group and message, every node walks its outgoing and incoming lists in step order:
 *  - incoming: before each incoming transfer the node sends one READY (a credit) to that
 *    transfer's source; it keeps at most `ready_window` transfers credited and not yet arrived.
 *    Credits pair one-to-one with transfers, redundant clamped ones included (pitfall 10). Before
 *    k is known only the first transfer (source from rdmc_sched_first_op) can be credited.
 *  - outgoing: the next transfer goes out when the node holds its block and holds a READY credit
 *    from its destination; the credit is consumed.
 *  - the first block a receiver gets announces k (DATA_FIRST); the receiver then asks the
 *    application for a buffer (upcall `alloc`) and walks the rest of its lists.
 *  - a message completes at a node when all k blocks are in, every incoming transfer has arrived
 *    and every outgoing transfer has been handed to the transport. The node then reports it
 *    (upcall `done`) and at once credits the first transfer of the next message. The root starts
 *    the next queued message as soon as the previous one completes locally.
 *  - RDMC has no retransmission and no repair (§3.2): a broken connection or a peer that breaks the
 *    protocol fails the whole group at this node (upcall `failed`); partial messages are dropped.
 *    The layer above decides what survives and re-sends in the next view (§5.5, §5.7).
 * All members of a group must use the same schedule and block size; a receiver that sees a block
 * of the wrong length fails the group (SQ_ECORRUPT). */

#define RDMC_GROUPS_MAX 1024        /* groups alive in one engine */
#define RDMC_QUEUE_MAX 1024         /* messages queued at one root, the one in transfer included */
#define RDMC_READY_WINDOW_MAX 16    /* credited incoming transfers outstanding, per group */
#define RDMC_EARLY_CREDITS_MAX 1024 /* READYs kept for groups not created here yet */
static_assert(RDMC_GROUPS_MAX <= RDMC_GROUP_ID_MAX + 1, "group ids cover the table");
static_assert(SQ_MSG_BYTES_MAX <= UINT32_MAX, "message sizes fit 32 bits");

/* Settings of one group. Start from rdmc_settings_default(); configuration may lower limits,
 * never raise them. */
struct rdmc_settings {
    enum rdmc_sched sched;  /* default RDMC_SCHED_PIPELINE */
    uint32_t block_bytes;   /* 1..SQ_RDMC_BLOCK_BYTES_MAX; default 1 MiB */
    uint32_t msg_bytes_max; /* largest message, 1..SQ_MSG_BYTES_MAX, and at most
                             * SQ_RDMC_BLOCKS_MAX blocks; default SQ_MSG_BYTES_MAX */
    uint32_t ready_window;  /* 1..RDMC_READY_WINDOW_MAX; default 4 */
    uint32_t queue_max;     /* messages a root may queue, 1..RDMC_QUEUE_MAX; default 64 */
};

/* Fills *s with the defaults above. */
void rdmc_settings_default(struct rdmc_settings *s);

/* SQ_OK when every field is in range, else SQ_EINVAL. */
int rdmc_settings_check(const struct rdmc_settings *s);

/* Blocks of the largest message: ceil(msg_bytes_max / block_bytes). Settings must be valid. */
uint32_t rdmc_settings_blocks_max(const struct rdmc_settings *s);

/* The transport, as the engine sees it. */
struct rdmc_io {
    void *ctx;
    /* Hands one two-sided send to the transport: `len` bytes at `data` (NULL when len is 0) with
     * immediate `imm`, for node `peer`. The transport copies the bytes (or is done with them)
     * before it returns, and delivers the sends of one peer in call order (net_msg_send).
     * Returns SQ_OK (queued), SQ_EAGAIN or SQ_EFULL (nothing queued: the engine tries the same
     * send again at the next event of that group or rdmc_engine_kick()), or any other code (the
     * link to `peer` is broken: the engine fails the group with SQ_EPEER). Must not call into the
     * engine. */
    int (*send)(void *ctx, uint32_t peer, uint32_t imm, const void *data, size_t len);
};

/* What the engine tells the application. Upcalls may call rdmc_group_send() (it only queues while
 * an upcall runs; the engine starts the message before it returns to its caller) and the read-only
 * functions; nothing else of this header. */
struct rdmc_upcalls {
    void *ctx;
    /* A message of group `group_id` is arriving: return a buffer of at least `size_max` bytes
     * (k * block_bytes; the exact size comes with `done`). The buffer is lent to the engine until
     * `done` or `failed` hands it back. NULL refuses: the group fails with SQ_ENOMEM. */
    void *(*alloc)(void *ctx, uint32_t group_id, size_t size_max);
    /* Message `msg_index` (0, 1, 2, ... per group, the same number at every member) is complete at
     * this node. At the root `buf` and `cookie` are those given to rdmc_group_send() and every
     * block has been handed to the transport; at a receiver `buf` is the one from `alloc`, holding
     * `size` bytes identical to the root's, and cookie is 0. The buffer is the application's
     * again. */
    void (*done)(void *ctx, uint32_t group_id, uint64_t msg_index, void *buf, size_t size,
                 uint64_t cookie);
    /* Group `group_id` failed here: `err` is SQ_EPEER (peer `peer` failed or its link broke),
     * SQ_ECORRUPT (peer `peer` broke the protocol) or SQ_ENOMEM (`alloc` refused; peer is
     * UINT32_MAX). Exactly once per group; no upcall for the group follows. `recv_buf` is the
     * partly received message's buffer from `alloc` (NULL if none), the application's again.
     * Messages given to rdmc_group_send() without a `done` were not delivered here; their
     * buffers are the application's again too. The group stays (inert) until destroyed. */
    void (*failed)(void *ctx, uint32_t group_id, int err, uint32_t peer, void *recv_buf);
};

struct rdmc_engine;

/* Creates an engine for node `self_id`. `io` and `up` are copied; their ctx pointers are borrowed
 * for the engine's life. SQ_EINVAL (a NULL callback), SQ_ENOMEM. */
int rdmc_engine_create(struct rdmc_engine **out, uint32_t self_id, const struct rdmc_io *io,
                       const struct rdmc_upcalls *up);

/* Destroys the engine and all its groups without upcalls. Every buffer lent to it is the
 * application's again. NULL is a no-op. Not from an upcall. */
void rdmc_engine_destroy(struct rdmc_engine *eng);

/* Creates group `group_id` (0..RDMC_GROUP_ID_MAX) with `member_count` (2..RDMC_GROUP_SIZE_MAX)
 * distinct node ids; members[0] is the root, the only node that sends (§3.1: the shard rotated so
 * the sender is first). This node must be a member. `settings` is copied (NULL: defaults) and must
 * be the same at every member. Allocates everything the group will need. A receiver at once
 * credits the first transfer of the first message (a READY through io.send); READYs that arrived
 * for the group before it was created count. A group id must not be reused until every member has
 * destroyed the previous group of that id and its traffic has drained (docs/rdmc.md).
 * SQ_EINVAL (bad arguments or settings, self not a member, duplicate members), SQ_EEXIST (id in
 * use), SQ_EFULL (RDMC_GROUPS_MAX groups), SQ_ENOMEM. Nothing is left behind on error. Not from an
 * upcall. */
int rdmc_group_create(struct rdmc_engine *eng, uint32_t group_id, const uint32_t *members,
                      uint32_t member_count, const struct rdmc_settings *settings);

/* Removes group `group_id` without upcalls (a no-op for an unknown id). A message in transfer is
 * abandoned; its buffer, queued buffers and a receive buffer from `alloc` are the application's
 * again. Frames that still arrive for the id are dropped (READYs are kept as early credits, see
 * rdmc_group_create). Not from an upcall. */
void rdmc_group_destroy(struct rdmc_engine *eng, uint32_t group_id);

/* Queues a message of `size` bytes (1..msg_bytes_max) at `data` for multicast in group `group_id`,
 * behind the messages already queued. `data` is lent to the engine, unchanged, until `done` (or
 * `failed`) returns it. `cookie` comes back with `done`. SQ_ENOTFOUND (no such group), SQ_EPERM
 * (this node is not the group's root), SQ_EINVAL (size 0 or data NULL), SQ_ETOOBIG (size >
 * msg_bytes_max), SQ_EFULL (queue_max messages queued: try after a `done`), SQ_ECLOSED (the group
 * failed). On error nothing is queued. */
int rdmc_group_send(struct rdmc_engine *eng, uint32_t group_id, const void *data, size_t size,
                    uint64_t cookie);

/* Event: a two-sided send from node `peer` with immediate `imm` and `len` bytes at `data` (borrowed
 * for the call; the engine copies what it keeps). Returns SQ_OK when the frame was used, or why it
 * was dropped: SQ_ENOTFOUND (unknown group: a READY is kept as an early credit, a DATA dropped),
 * SQ_ECLOSED (the group failed already), SQ_EPERM (peer not a member), SQ_EINVAL (an
 * RDMC_IMM_OTHER immediate), SQ_ECORRUPT (the frame breaks the protocol: the group has failed with
 * SQ_ECORRUPT), SQ_ENOMEM (a first block, but `alloc` refused: the group has failed with
 * SQ_ENOMEM). Bad frames never abort. */
int rdmc_engine_recv(struct rdmc_engine *eng, uint32_t peer, uint32_t imm, const void *data,
                     size_t len);

/* Where rdmc_engine_recv() would store the payload of a frame from `peer` with immediate `imm` and
 * `len` bytes if it arrived now: for a DATA that is the transfer expected next from `peer` (the
 * earliest one credited), with the right length, the block's place in the message buffer; NULL
 * for anything else (DATA_FIRST, whose buffer `alloc` gives only once k is known; READY; OTHER;
 * unknown or failed groups; frames the engine would reject). Read-only; any thread state, even
 * inside upcalls. A transport may store the payload there directly and then pass that same
 * pointer as `data` to rdmc_engine_recv(), which does not copy it again. The answer stays the same
 * until that frame is received or the group fails or is destroyed, so a caller that stores in
 * pieces asks again before each piece and stops writing when the answer changes. For a block
 * already held (a redundant clamped transfer) it is the same place: the payload is the same
 * bytes. */
void *rdmc_engine_recv_place(const struct rdmc_engine *eng, uint32_t peer, uint32_t imm,
                             size_t len);

/* Event: the connection to node `peer` broke (or the membership layer declared it failed). Every
 * group with `peer` as a member fails with SQ_EPEER; early credits from `peer` are dropped. */
void rdmc_engine_peer_failed(struct rdmc_engine *eng, uint32_t peer);

/* Event: the transport may take sends again after io.send returned SQ_EAGAIN or SQ_EFULL. Retries
 * every group that was held back. Cheap when nothing is held back. */
void rdmc_engine_kick(struct rdmc_engine *eng);

/* True while some group waits for rdmc_engine_kick() (its last io.send said SQ_EAGAIN/SQ_EFULL). */
bool rdmc_engine_is_blocked(const struct rdmc_engine *eng);

/* Counters of one engine, summed over its groups (64-bit, never reset). */
struct rdmc_stats {
    uint64_t msgs_sent;       /* messages completed as root */
    uint64_t msgs_received;   /* messages completed as receiver */
    uint64_t blocks_sent;     /* DATA frames handed to the transport */
    uint64_t blocks_received; /* DATA frames accepted */
    uint64_t bytes_sent;      /* DATA payload bytes handed to the transport */
    uint64_t readies_sent;
    uint64_t readies_received;
    uint64_t send_retries;   /* io.send answered SQ_EAGAIN/SQ_EFULL */
    uint64_t frames_dropped; /* frames for unknown or failed groups, or from non-members */
    uint64_t groups_failed;
};
void rdmc_engine_stats(const struct rdmc_engine *eng, struct rdmc_stats *out);

/* True when group `group_id` exists here and has failed. */
bool rdmc_group_is_failed(const struct rdmc_engine *eng, uint32_t group_id);

/* Messages queued at the root of `group_id`, the one in transfer included (0 for a receiver or an
 * unknown group). */
uint32_t rdmc_group_queued(const struct rdmc_engine *eng, uint32_t group_id);

/* Invariant walker (STYLE.md): asserts every invariant of the engine and its groups, including
 * that no group could make progress without a new event (no lost wake-up). The simulator calls it
 * after every event. O(groups * (n + blocks_max/64)). */
void rdmc_check(const struct rdmc_engine *eng);

/* =============================================================================================
 * The adapter onto net_ops (rdmc/rdmc_net.c; net/net.h)
 * =============================================================================================
 *
 * Binds one engine to one transport (`struct net`): io.send becomes net_msg_send (unsignaled; the
 * transport copies the bytes), and the transport's events become engine events. Receives: the
 * transport fills posted buffers per peer in posting order, whatever group a send belongs to, so
 * the adapter keeps `recvs_per_peer` buffers of `recv_bytes` posted for every peer it was given;
 * each arriving send is handed to rdmc_engine_recv() (the engine copies the block into the
 * message buffer) and its buffer is posted again at once. Sends with an RDMC_IMM_OTHER immediate
 * go to `other_recv`, so another module may share the transport's two-sided sends. On a transport
 * that asks handler.recv_place (TCP), a block the engine expects is stored straight into the
 * message buffer (rdmc_engine_recv_place) and not copied at all; the first block of a message
 * still goes through the posted buffer, since the message buffer exists only once k is known.
 *
 * The transport has no "writable again" event: after io.send met SQ_EFULL or SQ_EAGAIN the adapter
 * retries at its next event, and the owner calls rdmc_net_poll() once per loop round (cheap when
 * nothing waits). Threads: the transport's thread, like everything else here. */

struct net;
struct net_handler;
struct rdmc_net;

#define RDMC_NET_RECVS_MAX 64 /* posted receive buffers per peer (<= NET_RECVS_MAX) */

struct rdmc_net_config {
    uint32_t recv_bytes;     /* size of each posted buffer: at least the largest block_bytes of any
                              * group (a longer send fails the connection); 0: 1 MiB */
    uint32_t recvs_per_peer; /* 1..RDMC_NET_RECVS_MAX; 0: 8 */
    /* Receives a send whose immediate is RDMC_IMM_OTHER; `data` is borrowed for the call. NULL:
     * such sends are dropped. */
    void (*other_recv)(void *arg, uint32_t peer, uint32_t imm, const void *data, size_t size);
    void *other_arg;
};

/* Creates an adapter and its engine on transport `net` (borrowed; it must outlive the adapter),
 * for the node net_self_id(net). `up` is copied (its ctx borrowed); `cfg` may be NULL for the
 * defaults. The owner routes the transport's events here: either with rdmc_net_handler() as the
 * whole handler, or by calling the rdmc_net_on_* functions from its own. SQ_EINVAL, SQ_ENOMEM. */
int rdmc_net_create(struct rdmc_net **out, struct net *net, const struct rdmc_upcalls *up,
                    const struct rdmc_net_config *cfg);

/* Destroys the engine and frees the posted buffers. Call it after net_destroy() or after every
 * peer given to rdmc_net_peer_add() was removed from the transport (net_peer_remove), since the
 * transport writes into posted buffers until then. NULL is a no-op. */
void rdmc_net_destroy(struct rdmc_net *rn);

/* The adapter's engine, for rdmc_group_create(), rdmc_group_send() and the rest. Borrowed. */
struct rdmc_engine *rdmc_net_engine(struct rdmc_net *rn);

/* Allocates and posts the receive buffers for `peer` (after net_peer_add(net, peer)). SQ_EEXIST
 * if already given, SQ_EFULL past NET_PEERS_MAX peers, SQ_ENOMEM (nothing allocated), or the
 * transport's error from net_recv_post: then the buffers posted so far stay with the transport, so
 * the caller removes the peer (net_peer_remove) and then calls rdmc_net_peer_remove(). */
int rdmc_net_peer_add(struct rdmc_net *rn, uint32_t peer);

/* Frees the buffers of `peer`; call it after net_peer_remove(net, peer). The groups with `peer`
 * are not failed by this (rdmc_engine_peer_failed does that). A no-op for an unknown peer. */
void rdmc_net_peer_remove(struct rdmc_net *rn, uint32_t peer);

/* Transport events (the net_handler callbacks, `arg` being the adapter). peer_up retries sends
 * that waited for the peer; peer_failed fails every group with the peer and frees its buffers
 * (the transport has returned them); recv_done feeds the engine and re-posts the buffer;
 * recv_place steers an expected block's payload into the message buffer (a frame whose place is
 * withdrawn half-way, because its group failed meanwhile, is dropped at recv_done). */
void rdmc_net_on_peer_up(void *arg, uint32_t peer);
void rdmc_net_on_peer_failed(void *arg, uint32_t peer, int reason);
void rdmc_net_on_recv_done(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                           size_t size);
void *rdmc_net_on_recv_place(void *arg, uint32_t peer, uint64_t wr_id, uint32_t imm, size_t size,
                             size_t offset);

/* Fills *h with a handler whose callbacks are the rdmc_net_on_* functions (write_arrived and
 * completion NULL), for a transport used by RDMC alone. */
void rdmc_net_handler(struct rdmc_net *rn, struct net_handler *h);

/* Retries sends the transport refused (SQ_EFULL/SQ_EAGAIN). Call once per loop round. */
void rdmc_net_poll(struct rdmc_net *rn);

/* True while the engine waits for the transport to take a send. */
bool rdmc_net_is_blocked(const struct rdmc_net *rn);

#endif
