/* The mempool and the table of tracked transactions (loop thread only).
 *
 * Every transaction the node knows about between admission and finality has one entry here:
 *  - ACCEPTED entries wait in admission order (the FIFO the batcher takes from) or are in flight
 *    (batched and multicast, not yet delivered);
 *  - ORDERED / PERSISTED / FAILED entries are in delivered blocks that are not final yet, in height
 *    order (the "ordered queue"); they leave the table when their block becomes final (lookups then
 *    go to the store);
 *  - EXPIRED entries left the FIFO unordered; the newest NODE_MEMPOOL_EXPIRED_KEEP are kept so
 *    clients can see why.
 * Accepted entries are also indexed by (sender, nonce), which gives the admission nonce window
 * and the accounts' pending nonces.
 *
 * Bounded: at most `txs_max` accepted entries and `tracked_max` entries in all, allocated at
 * creation. Nothing here reads a clock or takes a lock. */
#ifndef SQ_NODE_MEMPOOL_H
#define SQ_NODE_MEMPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

#define NODE_MEMPOOL_EXPIRED_KEEP 16384
#define NODE_NONCE_WINDOW 1024 /* admission accepts nonces in (account nonce, + this] */

enum node_tx_state {
    NODE_TX_ACCEPTED = 0,
    NODE_TX_ORDERED,
    NODE_TX_PERSISTED,
    NODE_TX_FINAL,
    NODE_TX_FAILED,
    NODE_TX_EXPIRED,
};

/* The API name of a state ("accepted", ...). Static. */
const char *node_tx_state_name(enum node_tx_state state);

struct node_waiter;

/* One tracked transaction. Fields are read by the node; only the mempool changes the links. */
struct node_tx {
    uint8_t id[SQC_HASH_BYTES];
    uint8_t sender[SQC_PK_BYTES];
    uint64_t nonce;
    uint64_t expiry_height;
    uint64_t admit_ns;     /* when it was admitted here (0 if learnt from a block) */
    uint8_t *bytes;        /* the encoded transaction while ACCEPTED (owned), else NULL */
    uint32_t size;
    uint8_t state;         /* enum node_tx_state */
    uint8_t result;        /* enum ldg_result once ordered */
    bool inflight;         /* ACCEPTED and batched */
    uint32_t index;        /* position in its block */
    uint64_t height;       /* its block, once ordered */
    struct node_waiter *waiters; /* the node's long-polls on this transaction */
    /* private links */
    struct node_tx *id_next;
    struct node_tx *sn_next;
    struct node_tx *prev, *next; /* FIFO, in-flight list, ordered queue or expired list */
    uint8_t list;
};

struct node_mempool;

/* Allocates the table for `txs_max` accepted and `tracked_max` (>= txs_max) entries in all.
 * SQ_ENOMEM, SQ_EINVAL for zero or inconsistent bounds. */
int node_mempool_create(struct node_mempool **out, uint32_t txs_max, uint32_t tracked_max);
/* Frees the table and every entry (waiters must have been answered). NULL is a no-op. */
void node_mempool_destroy(struct node_mempool *mp);

/* The entry of transaction `id`, or NULL. Borrowed until the next call that removes entries. */
struct node_tx *node_mempool_find(struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES]);

/* True if an accepted transaction of `sender` with `nonce` is waiting (or in flight). */
bool node_mempool_nonce_pending(struct node_mempool *mp, const uint8_t sender[SQC_PK_BYTES],
                                uint64_t nonce);

/* The highest nonce of `sender` among accepted transactions, or `account_nonce` if higher or if
 * none is pending (docs/api.md: pending_nonce). */
uint64_t node_mempool_pending_nonce(struct node_mempool *mp, const uint8_t sender[SQC_PK_BYTES],
                                    uint64_t account_nonce);

/* Adds an admitted transaction (the caller checked form, signature, permission, nonce window,
 * expiry and duplicates) at the tail of the FIFO; `tx` (size bytes) is copied. SQ_EFULL when
 * `txs_max` transactions are accepted or the table is full, SQ_EEXIST if `id` is tracked,
 * SQ_ENOMEM. *out (may be NULL) receives the entry. */
int node_mempool_add(struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES],
                     const uint8_t *tx, size_t size, const uint8_t sender[SQC_PK_BYTES],
                     uint64_t nonce, uint64_t expiry_height, uint64_t now_ns,
                     struct node_tx **out);

/* Called for an entry whose state just changed (to EXPIRED, ORDERED/FAILED, PERSISTED, FINAL),
 * before a FINAL entry is freed. */
typedef void (*node_tx_changed_fn)(void *arg, struct node_tx *tx);

/* Takes transactions from the head of the FIFO for one batch: at most `txs_max` of them and
 * `bytes_max` bytes of transaction encodings (each counted with its 4-byte length). They become
 * in flight; their entries go into out[0..return). Transactions whose expiry height is below
 * `next_height` leave as EXPIRED instead (reported through `changed`). */
size_t node_mempool_take(struct node_mempool *mp, size_t bytes_max, size_t txs_max,
                         uint64_t next_height, struct node_tx **out, node_tx_changed_fn changed,
                         void *arg);

/* Puts every in-flight transaction back at the head of the FIFO, in their original order (the
 * group that carried them stopped before delivering them). */
void node_mempool_requeue_inflight(struct node_mempool *mp);

/* Records that transaction `id` is at `index` of block `height` with `result`. The entry (created
 * if the table has room, for transactions admitted elsewhere) leaves the FIFO and the nonce index
 * and joins the ordered queue as ORDERED (result OK) or FAILED. Returns the entry or NULL when it
 * is not tracked. Heights must not decrease across calls (asserted). */
struct node_tx *node_mempool_ordered(struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES],
                                     uint64_t height, uint32_t index, uint8_t result);

/* The group's persisted height and the final (certified, stored) height grew: ORDERED entries at
 * or below `persisted_height` become PERSISTED; entries at or below `final_height` become FINAL
 * (FAILED ones keep their state) and are freed after `changed` ran. */
void node_mempool_advance(struct node_mempool *mp, uint64_t persisted_height,
                          uint64_t final_height, node_tx_changed_fn changed, void *arg);

/* Counts: accepted transactions (waiting + in flight), their bytes, and tracked entries. */
uint32_t node_mempool_accepted(const struct node_mempool *mp);
uint64_t node_mempool_bytes(const struct node_mempool *mp);
uint32_t node_mempool_tracked(const struct node_mempool *mp);
/* Accepted transactions waiting in the FIFO (not in flight), and their bytes. */
uint32_t node_mempool_waiting(const struct node_mempool *mp);
uint64_t node_mempool_waiting_bytes(const struct node_mempool *mp);
/* Admission time of the oldest waiting transaction, or 0 if none waits. */
uint64_t node_mempool_oldest_ns(const struct node_mempool *mp);

/* Invariant walker: SQ_OK or SQ_ECORRUPT (counts, list membership, index consistency). */
int node_mempool_check(struct node_mempool *mp);

#endif
