/* Private to node/: the validator's state shared by node.c (loop side) and api.c (HTTP handlers).
 * Fields marked "atomic" are read from any thread with __atomic loads; every other field belongs
 * to the loop thread unless its comment says otherwise. */
#ifndef SQ_NODE_NODE_INT_H
#define SQ_NODE_NODE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/loop.h"
#include "base/metrics.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "node/config.h"
#include "node/cons.h"
#include "node/mempool.h"
#include "node/node.h"

struct rpc_server;
struct rpc_request;

enum node_phase {
    NODE_PHASE_SYNCING = 0, /* receiving the blocks it lacks from a member (state transfer) */
    NODE_PHASE_JOINING,     /* asking the group to add it (start, or after it was excluded) */
    NODE_PHASE_RUNNING,     /* serving: a member of the current view with the whole chain */
    NODE_PHASE_STOPPING,
    NODE_PHASE_FAILED,      /* a commit failed; exiting */
};

/* The API name of a phase ("syncing", ...). */
const char *node_phase_name(int phase);

#define NODE_WAITERS_MAX 4096   /* long-polls held at once (each holds a loop timer) */
#define NODE_REJECTED_MAX 4096  /* refused batches remembered per group (version mapping) */
#define NODE_HASH_RING 8192     /* hashes of recent blocks, by height (pending ones included) */
#define NODE_TRACKED_FACTOR 4   /* tracked entries = mempool.txs_max * this */
#define NODE_XFER_BLOCK_MAX (2 * SQ_BATCH_BYTES_MAX) /* largest block a state transfer carries */

/* A state transfer this validator serves (PROTOCOL.md §5.9): blocks [next, to] to `joiner`, each
 * cut into chunks {u64 height, u32 block size, u32 offset, bytes}. */
struct node_xfer {
    bool open;
    uint32_t joiner;
    uint64_t next, to;
    uint8_t *blk; /* the block being sent, or NULL */
    size_t blk_size, off;
};

/* A long-poll on one transaction (GET /v1/tx/{id}?wait=...). */
struct node_waiter {
    struct node *node;
    struct rpc_request *req;
    struct node_tx *tx;
    struct node_waiter *next; /* on tx->waiters */
    struct node_waiter *all_prev, *all_next;
    uint8_t target; /* enum node_tx_state wanted */
    struct sq_timer timer;
};

/* Token buckets for rpc.rate_per_key, one per recently seen sender (a slot is reused by the
 * next sender that hashes to it: a collision can only reset a bucket, never block a key). */
#define NODE_RATE_SLOTS 8192
struct node_rate_slot {
    uint8_t pk[SQC_PK_BYTES];
    double tokens;
    uint64_t at_ns;
};

struct node_metrics {
    struct sq_metrics reg;
    struct sq_metric *tx_accepted, *tx_rejected, *tx_ok, *tx_failed, *tx_expired;
    struct sq_metric *blocks, *view_changes, *batches_sent, *commits;
    struct sq_metric *commit_seconds; /* one group's durable write (persistence thread) */
    struct sq_metric *h_ordered, *h_persisted, *h_final;
    struct sq_metric *mempool_txs, *mempool_bytes;
    struct sq_metric *lat_ordered, *lat_persisted, *lat_final;
    struct sq_metric *peer_lag[SQ_MEMBERS_MAX]; /* for the members of the first view */
    uint32_t peer_ids[SQ_MEMBERS_MAX];
    char peer_labels[SQ_MEMBERS_MAX][24];
};

struct node {
    struct node_config cfg;
    struct ldg_genesis *gen;
    struct sqc_keypair key;
    struct sq_loop *loop;
    struct ldg_store *store;
    struct sqc_verify_pool *pool;
    struct rpc_server *rpc;
    struct node_cons *cons;
    struct node_mempool *mp;
    struct node_metrics m;
    struct ldg_view view; /* the view in force (members, addresses); written under view_mu */
    pthread_mutex_t view_mu; /* HTTP threads read `view` and `my_rank` under it */
    uint32_t my_rank;     /* in `view`, or UINT32_MAX when not a member */

    /* atomic: read by HTTP threads */
    int phase;
    uint64_t h_ordered;   /* newest applied block */
    uint64_t h_local;     /* newest block durable here */
    uint64_t h_persisted; /* newest block durable at every member */
    uint64_t h_final;     /* newest block covered by a stored certificate */
    uint32_t a_mempool_txs;
    uint64_t a_mempool_bytes;
    uint64_t a_peers_up;  /* bit per view rank */
    uint64_t a_peer_lag[SQ_MEMBERS_MAX];

    /* the group and its version mapping (node/cons.h) */
    int64_t version_base;
    int64_t last_version; /* last delivered */
    uint32_t rejected_count;
    int64_t rejected[NODE_REJECTED_MAX];
    int64_t persisted_reported;
    int64_t signed_version;
    uint64_t signed_height;
    int64_t sig_seen[SQ_MEMBERS_MAX]; /* by rank: newest signature version taken */
    int64_t verified_reported;
    struct ldg_finality fin_cache; /* my facts at fin_cache.height (valid if fin_cache_ok) */
    bool fin_cache_ok;
    bool regroup_pending;  /* the group stopped here: join again at the next timer */
    uint64_t regroups;
    struct grp_view record_view; /* a view whose block waits for the state transfer */
    int64_t record_pending;      /* its version, or -1 */

    /* state transfer: served (by joiner) and received */
    struct node_xfer xfers[SQ_MEMBERS_MAX];
    uint8_t *rx_blk;
    uint64_t rx_height;
    size_t rx_size, rx_off;

    /* recent block hashes (pending blocks have no header in the store yet) */
    uint64_t ring_height[NODE_HASH_RING];
    uint8_t ring_hash[NODE_HASH_RING][LDG_HASH_BYTES];

    /* the batcher */
    uint64_t batch_seq;
    uint8_t *batch_buf;
    size_t batch_cap;
    size_t batch_size; /* > 0: an encoded batch waits for flow control */
    struct node_tx **take_buf;
    struct ldg_bytes *txs_buf;
    struct sq_timer batch_timer;
    struct sq_timer sig_timer;
    struct sq_timer join_timer;

    struct node_rate_slot *rate; /* NODE_RATE_SLOTS, or NULL when unlimited */

    /* long-polls */
    struct node_waiter *waiters;
    uint32_t waiter_count;

    /* the persistence thread */
    pthread_t p_thread;
    pthread_mutex_t p_mu;
    pthread_cond_t p_cv;
    struct ldg_commit *p_job;   /* handed to the thread (guarded by p_mu) */
    bool p_done;                /* the thread finished p_job (guarded by p_mu) */
    bool p_stop;
    bool p_started;
    int p_efd;                  /* eventfd: the thread wakes the loop */
    struct ldg_commit *p_out;   /* loop side: the group out, or NULL */

    int sig_fd;
    int exit_code;
};

/* ---- node.c, loop thread ---- */

/* Height of the block a version became (node/cons.h), and the newest version whose block is at
 * or below `height` (capped at the last delivered version). */
uint64_t node_height_of(const struct node *n, int64_t version);
int64_t node_version_of(const struct node *n, uint64_t height);

/* Hash of block `height` (pending included): the ring, else the store. SQ_ENOTFOUND. */
int node_block_hash(struct node *n, uint64_t height, uint8_t hash[LDG_HASH_BYTES]);

/* Applies a block fetched from a peer (catch-up): replays its batch (or view change) and checks
 * that the result hashes as the peer's block did. SQ_EINVAL with a reason when it does not fit
 * (wrong height, undecodable, other hash). */
int node_apply_fetched(struct node *n, const uint8_t *block, size_t size, char *errbuf,
                       size_t errbuf_size);
/* Makes every applied block durable now (waits for the persistence thread). */
int node_commit_all(struct node *n);

/* Admission of decoded, signature-checked transactions (on the loop). `txid` of `tx`. Returns
 * SQ_OK and the entry, or an API error: *status and *code (static) with a message in msg. */
int node_admit(struct node *n, const uint8_t *bytes, size_t size, const struct ldg_tx *tx,
               const uint8_t txid[LDG_HASH_BYTES], unsigned *status, const char **code,
               char *msg, size_t msg_size);

/* Answers a GET /v1/tx/{id} on the loop: at once, or as a long-poll (target < 0: no wait). */
void node_tx_query(struct node *n, struct rpc_request *req, const uint8_t txid[LDG_HASH_BYTES],
                   int target, uint32_t timeout_ms);

/* The tracked state of a transaction for receipts (on the loop): true if the node knows it but
 * it is not final yet. */
bool node_tx_is_pending(struct node *n, const uint8_t txid[LDG_HASH_BYTES]);

/* ---- api.c ---- */

/* Starts the HTTP server on cfg->rpc_listen. */
int node_api_start(struct node *n, char *errbuf, size_t errbuf_size);
/* The JSON object of a tx state (shared by the handlers and node.c). */
struct json_t *node_api_tx_json(struct node *n, const uint8_t txid[LDG_HASH_BYTES], int state,
                                uint64_t height, uint32_t index, int result);

#endif
