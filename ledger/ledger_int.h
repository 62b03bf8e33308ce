/* ledger/ internals shared by the module's files. Not for callers. */
#ifndef SQ_LEDGER_LEDGER_INT_H
#define SQ_LEDGER_LEDGER_INT_H

#include <pthread.h>
#include <stdarg.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "ledger/ledger.h"

/* ---- errors ---- */

/* Sets the calling thread's reason (printf format) and returns `err`. */
int ldg_fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes the thread's current reason with "prefix: " (keeps the code). Returns err. */
int ldg_fail_prefix(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ldg_errmsg_clear(void);

/* ---- big-endian keys: LMDB sorts keys bytewise, so numeric keys are stored big-endian ---- */
static inline void ldg_be64_store(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (56 - 8 * i));
    }
}
static inline uint64_t ldg_be64_load(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}
static inline void ldg_be32_store(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    }
}
static inline uint32_t ldg_be32_load(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* ---- codec helpers ---- */

/* A chain id: u8 size (1..SQ_CHAIN_ID_BYTES_MAX) then printable ASCII bytes. */
void ldg_enc_chain(struct sq_enc *enc, const char *chain_id, size_t size);
int ldg_dec_chain(struct sq_dec *dec, char *chain_id, uint8_t *size);
bool ldg_chain_id_valid(const char *chain_id, size_t size);
bool ldg_chain_equal(const char *a, size_t a_size, const char *b, size_t b_size);

/* An encoded transaction's signed part: everything but the trailing signature. */
#define LDG_TX_SIGNED_SIZE(size) ((size)-SQC_SIG_BYTES)

/* The empty Merkle root (SHA-256 of ""). */
void ldg_empty_root(uint8_t out[LDG_HASH_BYTES]);

/* Merkle roots of a block body: over the transactions' bytes, and over the one-byte results. */
int ldg_tx_root(const uint8_t *txs, size_t txs_size, uint32_t count, uint8_t root[LDG_HASH_BYTES]);
int ldg_results_root(const uint8_t *results, uint32_t count, uint8_t root[LDG_HASH_BYTES]);
void ldg_result_leaf(uint8_t result, uint8_t out[LDG_HASH_BYTES]);

/* Body encodings: batch block body = u32 count, the tx list, count result bytes. */
int ldg_body_decode(const uint8_t *body, size_t size, uint32_t *count, const uint8_t **txs,
                    size_t *txs_size, const uint8_t **results);
/* Walks a tx list of `count` entries checking frames only. */
int ldg_tx_list_check(const uint8_t *txs, size_t txs_size, uint32_t count);

/* The batch signed-part hash for a block recreated from its header fields and tx list. */
void ldg_batch_hash_from_block(const struct ldg_header *hdr, const uint8_t *txs, size_t txs_size,
                               uint8_t hash[LDG_HASH_BYTES]);

/* The genesis canonical encoding (its SHA-256 is the digest). *out malloc'd. */
int ldg_genesis_encode(const struct ldg_genesis *g, uint8_t **out, size_t *size);
/* The view record of view 0 (genesis validators). */
void ldg_genesis_view(const struct ldg_genesis *g, struct ldg_view *view);

/* Checks the §5.8 majority rule and member distinctness of `next` against `prev`. */
int ldg_view_rules(const struct ldg_view *prev, const struct ldg_view *next);

/* The finality digest over an explicit chain id. */
void ldg_finality_digest_raw(const char *chain_id, size_t chain_id_size, uint64_t view_id,
                             uint64_t height, const uint8_t block_hash[LDG_HASH_BYTES],
                             const uint8_t acc_root[LDG_HASH_BYTES],
                             uint8_t digest[LDG_HASH_BYTES]);

/* ---- accumulator state: the peaks of RFC 6962 perfect subtrees ---- */

struct ldg_acc {
    uint64_t size;
    uint8_t peaks[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES]; /* peaks[i] covers 2^i leaves if bit i */
};
/* A perfect subtree formed by an append: (level, index) covers leaves [index<<level, +2^level). */
struct ldg_mnode {
    uint8_t level;
    uint64_t index;
    uint8_t hash[LDG_HASH_BYTES];
};
#define LDG_ACC_NODES_PER_APPEND (SQ_MERKLE_DEPTH_MAX + 1)
void ldg_acc_init(struct ldg_acc *acc);
/* Appends a block hash (the leaf data); writes the nodes it completes (leaf included) into
 * nodes[] and returns how many. */
size_t ldg_acc_append(struct ldg_acc *acc, const uint8_t block_hash[LDG_HASH_BYTES],
                      struct ldg_mnode nodes[LDG_ACC_NODES_PER_APPEND]);
void ldg_acc_root_of(const struct ldg_acc *acc, uint8_t root[LDG_HASH_BYTES]);
void ldg_acc_encode(struct sq_enc *enc, const struct ldg_acc *acc);
int ldg_acc_decode(struct sq_dec *dec, struct ldg_acc *acc);
void ldg_mnode_key(uint8_t key[9], uint8_t level, uint64_t index);

/* Subtree hashes from a source of perfect-subtree nodes (RFC 9162 §2.1 recursion). */
typedef int (*ldg_node_fn)(void *arg, uint8_t level, uint64_t index, uint8_t out[LDG_HASH_BYTES]);
int ldg_merkle_subtree(ldg_node_fn node, void *arg, uint64_t begin, uint64_t end,
                       uint8_t out[LDG_HASH_BYTES]);
int ldg_merkle_inclusion(ldg_node_fn node, void *arg, uint64_t index, uint64_t size,
                         uint8_t (*path)[LDG_HASH_BYTES], size_t *count);
int ldg_merkle_consistency(ldg_node_fn node, void *arg, uint64_t old_size, uint64_t new_size,
                           uint8_t (*path)[LDG_HASH_BYTES], size_t *count);

/* ---- the state machine ---- */

#define LDG_ACCT_CLIENT 0x01u

struct ldg_acct {
    uint8_t pk[SQC_PK_BYTES];
    uint8_t used;
    uint8_t flags;
    uint64_t balance;
    uint64_t nonce;
    uint64_t dirty_height; /* last height that changed it (0: never, clean) */
    uint64_t listed;       /* touch generation it was last listed in */
};

struct ldg_amap {
    struct ldg_acct *slots;
    size_t cap; /* power of two */
    size_t count;
    uint64_t seed;
};

/* Loads a key's committed account on a cache miss. SQ_OK (found), SQ_ENOTFOUND (zero account), or
 * an error that aborts the transaction. */
typedef int (*ldg_acct_load_fn)(void *arg, const uint8_t pk[SQC_PK_BYTES], struct ldg_acct *out);

struct ldg_state {
    /* rules from genesis (borrowed) */
    const struct ldg_genesis *g;
    /* accounts: a cache over the store (apply) or the whole state (audit) */
    struct ldg_amap accounts;
    ldg_acct_load_fn load;
    void *load_arg;
    /* the permitted validators */
    uint32_t validator_count;
    struct ldg_member validators[LDG_VALIDATORS_MAX];
    bool validators_dirty;
    /* keys changed since the last ldg_state_touched_reset (apply only) */
    bool track;
    uint64_t touch_gen;
    uint8_t (*touched)[SQC_PK_BYTES];
    size_t touched_count;
    size_t touched_cap;
    /* statistics */
    uint64_t gov_sigs;
};

int ldg_state_init(struct ldg_state *st, const struct ldg_genesis *g, bool track);
void ldg_state_free(struct ldg_state *st);
/* Puts the genesis accounts (balances, clients) and validators into the state. */
int ldg_state_load_genesis(struct ldg_state *st);
/* Finds (loading on a miss) the account of pk; *out points into the map until the next insert. */
int ldg_state_acct(struct ldg_state *st, const uint8_t pk[SQC_PK_BYTES], struct ldg_acct **out);
/* Marks an account changed at `height`. */
int ldg_state_touch(struct ldg_state *st, struct ldg_acct *a, uint64_t height);
/* Executes one decoded transaction in block `height`. sig_ok: the sender's signature verified;
 * duplicate: its id is already in the chain. *result receives the outcome; on LDG_RESULT_OK the
 * state changed. Returns SQ_OK, or a load error (the state is then unspecified: fatal). */
int ldg_state_exec(struct ldg_state *st, const struct ldg_tx *tx, uint64_t height, bool sig_ok,
                   bool duplicate, uint8_t *result);
/* Permitted validator lookups. */
int ldg_state_validator_find(const struct ldg_state *st, uint32_t id);
/* Drops clean entries (dirty_height <= clean_height) when the map holds more than `keep`. */
int ldg_amap_trim(struct ldg_amap *m, uint64_t clean_height, size_t keep);
void ldg_amap_free(struct ldg_amap *m);
/* Iteration over used slots: returns the next used slot index >= *pos, or false. */
bool ldg_amap_next(const struct ldg_amap *m, size_t *pos, struct ldg_acct **out);

/* The account record in the store: u64 balance, u64 nonce, u8 flags. */
#define LDG_ACCT_RECORD_BYTES 17
void ldg_acct_record_encode(const struct ldg_acct *a, uint8_t out[LDG_ACCT_RECORD_BYTES]);
int ldg_acct_record_decode(const uint8_t *buf, size_t size, struct ldg_acct *a);
/* A validator record: pk, u8 addr size, addr. */
int ldg_validator_record_encode(const struct ldg_member *m, uint8_t *buf, size_t cap, size_t *size);
int ldg_validator_record_decode(const uint8_t *buf, size_t size, uint32_t id, struct ldg_member *m);

/* ---- tx id set (pending transaction ids -> position) ---- */

struct ldg_idset_entry {
    uint8_t id[LDG_HASH_BYTES];
    uint64_t height;
    uint32_t index;
    uint8_t result;
    uint8_t used;
};
struct ldg_idset {
    struct ldg_idset_entry *slots;
    size_t cap;
    size_t count;
    uint64_t seed;
};
int ldg_idset_init(struct ldg_idset *set, size_t cap_hint);
void ldg_idset_free(struct ldg_idset *set);
struct ldg_idset_entry *ldg_idset_find(const struct ldg_idset *set,
                                       const uint8_t id[LDG_HASH_BYTES]);
int ldg_idset_insert(struct ldg_idset *set, const uint8_t id[LDG_HASH_BYTES], uint64_t height,
                     uint32_t index, uint8_t result);
void ldg_idset_remove(struct ldg_idset *set, const uint8_t id[LDG_HASH_BYTES]);
void ldg_idset_clear(struct ldg_idset *set);

/* 64-bit hash of a 32-byte key (keyed, so crafted keys cannot aim at one bucket). */
static inline uint64_t ldg_key_hash(const uint8_t *key, uint64_t seed)
{
    uint64_t x = sq_le64_load(key) ^ seed;
    x ^= sq_le64_load(key + 8) * 0x9e3779b97f4a7c15ull;
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 29;
    return x;
}

/* ---- the store ---- */

/* LMDB types stay in the .c files that use them; the store holds them behind these pointers. */
struct MDB_env;
struct MDB_txn;

enum ldg_db {
    LDG_DB_META = 0,
    LDG_DB_HEADERS,
    LDG_DB_BODIES,
    LDG_DB_ACCOUNTS,
    LDG_DB_VALIDATORS,
    LDG_DB_VIEWS,
    LDG_DB_CERTS,
    LDG_DB_MNODES,
    LDG_DB_COUNT_
};

/* The tx index value: u64 height, u32 index, u8 result. */
#define LDG_TXINDEX_BYTES 13
/* The transaction index lives in an environment of its own (txindex.c, docs/formats.md): */
#define LDG_TXINDEX_FILE "txindex.mdb"       /* in the data directory (MDB_NOSUBDIR) */
#define LDG_TXINDEX_BOOT_FILE "txindex.boot" /* the boot it was last written in, or "clean" */
#define LDG_TXINDEX_FLUSH_IDS 65536          /* a batch of the indexer at most ... */
#define LDG_TXINDEX_FLUSH_MS 1000            /* ... or what came in this long */
/* The index is a log-structured set of sorted runs (txindex.c): each batch is written once,
 * sequentially, as a new run, and runs of one size class are merged LDG_TXINDEX_FANIN at a time. */
#define LDG_TXINDEX_SLOTS 64          /* run tables "run.00" .. "run.63" */
#define LDG_TXINDEX_RUNS_MAX 56       /* live runs at most (each merge under way takes a slot) */
#define LDG_TXINDEX_FANIN 4           /* runs merged at once; also the size ratio of a class */
#define LDG_TXINDEX_MERGE_CHUNK 65536 /* entries per merge write transaction */
/* While the runs are few, the indexer paces its merges: a chunk of at most PACED_CHUNK entries,
 * then a pause of PACE_MS, so a large merge is spread over time instead of taking the machine's
 * spare CPU at once (three validators on one host merge at the same moment). Capacity paced:
 * 8192 entries / 25 ms = 327,680 entries/s, several times what 20,000 tx/s needs. At PACE_RUNS
 * runs or more the merges run unpaced until they catch up. */
#define LDG_TXINDEX_MERGE_PACED_CHUNK 8192
#define LDG_TXINDEX_MERGE_PACE_MS 25
#define LDG_TXINDEX_MERGE_PACE_RUNS 24
#define LDG_TXINDEX_FILTER_BITS 10    /* Bloom filter bits per id (about 1% false positives) */
#define LDG_TXINDEX_FILTER_IDS_MAX (UINT64_C(1) << 27) /* larger runs have no filter */
#define LDG_TXINDEX_MERGES_MAX 6 /* merges under way at once (a smaller one goes first) */
_Static_assert(LDG_TXINDEX_RUNS_MAX + LDG_TXINDEX_MERGES_MAX <= LDG_TXINDEX_SLOTS,
               "each merge under way writes into a free table");
_Static_assert(LDG_TXINDEX_RUNS_MAX >= 4 * LDG_TXINDEX_FANIN, "room for the merge policy");
_Static_assert(LDG_TXINDEX_MERGE_PACE_RUNS + LDG_TXINDEX_FANIN < LDG_TXINDEX_RUNS_MAX,
               "unpaced merging starts well before the limit of runs");
_Static_assert(LDG_TXINDEX_MERGE_PACED_CHUNK <= LDG_TXINDEX_MERGE_CHUNK,
               "a paced chunk is smaller");

struct ldg_pending_block {
    uint64_t height;
    uint8_t hash[LDG_HASH_BYTES];
    uint8_t kind;
    uint64_t view_id;
    uint8_t acc_root[LDG_HASH_BYTES]; /* over blocks 0..height */
    uint8_t *header;
    size_t header_size;
    uint8_t *body;
    size_t body_size;
    /* the transactions it indexes (first occurrences): id, index, result */
    uint32_t id_count;
    uint8_t (*ids)[LDG_HASH_BYTES];
    uint32_t *id_index;
    uint8_t *id_result;
    size_t node_count;
    struct ldg_mnode nodes[LDG_ACC_NODES_PER_APPEND];
};

/* A stored certificate record (certs table): the signatures that completed it. */
struct ldg_cert_record {
    uint64_t view_id;
    uint32_t count;
    struct ldg_finality sigs[SQ_MEMBERS_MAX];
};
int ldg_cert_record_encode(const struct ldg_cert_record *rec, uint8_t *buf, size_t cap,
                           size_t *size);
int ldg_cert_record_decode(const uint8_t *buf, size_t size, struct ldg_cert_record *rec);
#define LDG_CERT_RECORD_BYTES_MAX (16 + SQ_MEMBERS_MAX * (4 + 8 + 8 + 32 + 32 + 64))

struct ldg_pending_cert {
    uint64_t height; /* the certified height (min of the signed heights) */
    struct ldg_cert_record rec;
};

/* The finality tracking state of the current view: the newest signature of each member. */
struct ldg_fin_track {
    uint64_t view_id;
    uint32_t count; /* = members of the view */
    bool have[SQ_MEMBERS_MAX];
    struct ldg_finality latest[SQ_MEMBERS_MAX];
};
#define LDG_FIN_TRACK_BYTES_MAX (16 + SQ_MEMBERS_MAX * (1 + 4 + 8 + 8 + 32 + 32 + 64))
int ldg_fin_track_encode(const struct ldg_fin_track *t, uint8_t *buf, size_t cap, size_t *size);
int ldg_fin_track_decode(const uint8_t *buf, size_t size, struct ldg_fin_track *t);

#define LDG_PENDING_CERTS_MAX 64

/* The transaction index's write-back cache (txindex.c): ids of durable blocks wait here until the
 * indexer thread writes them to LMDB as one sorted run. Lookups see the sets first. */
struct ldg_ixcache {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct ldg_idset sets[2];
    int active;          /* sets[active] takes new ids */
    bool flushing;       /* sets[!active] is being written */
    uint64_t flush_next; /* the first height after the blocks in the set being written (for
                          * the active set it is the store's ix_next) */
    int error;           /* the indexer's failure (an sq_err): fatal for the store */
    bool stop;
    bool running; /* the indexer thread was started */
    pthread_t thread;
};

/* One run of the index as a snapshot lists it. */
struct ldg_ixrun {
    uint64_t no;           /* run number: larger is newer */
    uint64_t count;        /* entries */
    uint8_t slot;          /* its table, run.<slot> */
    const uint8_t *filter; /* its Bloom filter in the map (NULL: none); valid with the snapshot */
    size_t filter_blocks;  /* of 64 bytes */
};

/* The runs of one index snapshot, as read from its "runs" record and filters. */
struct ldg_ixview {
    uint64_t txnid;    /* the snapshot's LMDB transaction id */
    uint64_t map_size; /* the map size it was read under (a grow moves the map) */
    uint32_t count;
    struct ldg_ixrun run[LDG_TXINDEX_RUNS_MAX];
};

/* An unfinished merge of the indexer (in memory only: a merge cut short by a crash left a table
 * that no snapshot lists, and the writer empties it at open). */
struct ldg_ixmerge {
    unsigned size_class; /* the largest of its inputs' */
    uint8_t dest;        /* the slot written */
    uint32_t src_count;
    struct ldg_ixrun src[LDG_TXINDEX_FANIN]; /* filters unused */
    uint8_t resume[LDG_HASH_BYTES];          /* the last id written */
    bool started;                            /* resume is set */
    uint64_t written;
    uint8_t *filter; /* the output's filter, built as it is written (NULL: none) */
    size_t filter_blocks;
};

struct ldg_store {
    struct MDB_env *env;
    unsigned int dbi[LDG_DB_COUNT_];
    bool read_only;
    char dir[4096];
    struct ldg_genesis *g;        /* owned copy */
    pthread_rwlock_t resize_lock; /* readers: any txn; writer: mdb_env_set_mapsize */
    uint64_t map_size;            /* atomic */
    uint64_t map_size_max;

    /* The transaction index (txindex.c): derived data, written without fsync after each durable
     * group commit and rebuilt from the blocks when it cannot be trusted. NULL in a read-only
     * store whose index is missing or may be torn (then nothing is found through it). */
    struct MDB_env *ienv;
    pthread_rwlock_t iresize_lock; /* as resize_lock, for ienv (apart: a reader may hold both) */
    unsigned int idbi_meta;
    unsigned int idbi_slot[LDG_TXINDEX_SLOTS];
    pthread_mutex_t iview_lock; /* guards iview, the runs of the newest snapshot a lookup read */
    struct ldg_ixview iview;
    /* The indexer's own (the indexer thread, or the opening thread before it starts): the runs as
     * last committed, and the merges under way. */
    struct ldg_ixview iruns;
    struct ldg_ixmerge imerge[LDG_TXINDEX_MERGES_MAX]; /* a stack: the top one is written */
    uint32_t imerge_count;
    uint32_t ix_batch_ids;   /* LDG_TXINDEX_FLUSH_IDS unless the opener lowered it */
    uint32_t ix_merge_chunk; /* LDG_TXINDEX_MERGE_CHUNK unless the opener lowered it */
    uint64_t imap_size;      /* atomic */
    uint64_t ix_next;        /* the first height not handed to the index (persistence thread; under
                              * ix.lock once the indexer runs) */
    struct ldg_ixcache ix;

    /* published to any thread (atomics) */
    uint64_t persisted_height;
    uint64_t certified_height;
    int failed; /* nonzero: the sq_err of the failed commit */

    /* ---- apply thread ---- */
    struct ldg_state st;
    struct ldg_idset pending_ids;
    uint64_t height; /* newest applied */
    uint8_t tip_hash[LDG_HASH_BYTES];
    struct ldg_acc acc;
    struct ldg_view view; /* current view */
    uint64_t view_height;
    uint8_t view_hash[LDG_HASH_BYTES];
    struct ldg_fin_track fin;
    bool fin_dirty;
    uint64_t certified_pending; /* including certificates not yet committed */
    /* pending blocks, oldest first, in a ring; the first `handed` belong to the outstanding
     * commit group */
    struct ldg_pending_block *pending[LDG_PENDING_BLOCKS_MAX];
    size_t pending_head;
    size_t pending_count;
    size_t pending_bytes;
    size_t handed;
    struct ldg_pending_cert *certs; /* LDG_PENDING_CERTS_MAX, the first certs_handed handed */
    size_t cert_count;
    size_t certs_handed;
    struct ldg_commit *outstanding;
    struct MDB_txn *rtxn; /* the apply thread's read transaction during one call */
    bool fresh;           /* created by this open: the next commit writes the identity */
};

/* Store internals used across files. */
struct ldg_pending_block *ldg_pending_at(const struct ldg_store *s, size_t i);
int ldg_store_fail(struct ldg_store *s, int err);

/* A read transaction on `env`, holding `lock`'s read side for its lifetime; a map grown by another
 * process is adopted (*map_size updated). `what` names it in errors. */
int ldg_env_rtxn_begin(struct MDB_env *env, pthread_rwlock_t *lock, uint64_t *map_size,
                       const char *what, struct MDB_txn **txn);
/* Doubles `env`'s map up to `max` (SQ_ENOSPC "<what> reached its limit ..." past it), under
 * `lock`'s write side: no read transaction on `env` may be open in this process meanwhile. */
int ldg_env_grow(struct MDB_env *env, pthread_rwlock_t *lock, uint64_t *map_size, uint64_t max,
                 const char *what);
/* Read transactions (take the resize lock's read side for their lifetime). */
int ldg_rtxn_begin(struct ldg_store *s, struct MDB_txn **txn);
void ldg_rtxn_end(struct ldg_store *s, struct MDB_txn *txn);
/* The apply thread's per-call read transaction (opened lazily, closed by ldg_apply_rtxn_end). */
int ldg_apply_rtxn(struct ldg_store *s, struct MDB_txn **txn);
void ldg_apply_rtxn_end(struct ldg_store *s);
/* Gets a value: SQ_OK with a borrowed pointer (valid until the txn ends), SQ_ENOTFOUND, SQ_EIO. */
int ldg_db_get(struct ldg_store *s, struct MDB_txn *txn, enum ldg_db db, const void *key,
               size_t key_size, const uint8_t **val, size_t *val_size);
/* Translates an LMDB return code, setting a reason. */
int ldg_mdb_err(int rc, const char *what);

struct ldg_commit;

/* ---- the transaction index (txindex.c) ----
 * Derived data: every transaction that claims its id (all but duplicates and forgeries) maps to
 * its height, position and result. Keyed by random ids, so a durable index would cost one page
 * write per transaction per commit; it is written after each durable group commit, without
 * fsync, in its own LMDB environment, and trusted after a restart only if the machine did not
 * go down meanwhile (a process crash leaves the page cache, a machine crash may not): otherwise
 * it is rebuilt from the stored blocks. */
/* Opens (and, in a writable store, repairs and catches up to the store's height) the index.
 * Called by ldg_store_open after the store's metadata is loaded. */
int ldg_txindex_open(struct ldg_store *s);
/* Syncs the index and marks it clean (writable store), then closes it. */
void ldg_txindex_close(struct ldg_store *s);
/* Hands the group's transaction ids to the index (its write-back cache); call after the group's
 * durable commit. Waits only if the indexer is several batches behind. Persistence thread (or
 * apply thread through ldg_commit). A failure (the indexer's, or SQ_ENOMEM) is fatal for the
 * store, as a commit's. */
int ldg_txindex_append(struct ldg_store *s, const struct ldg_commit *c);
/* Where `id` is, as of this call: the write-back cache, then a fresh snapshot of the LMDB index.
 * SQ_OK with its place, SQ_ENOTFOUND, SQ_ECORRUPT / SQ_EIO. Any thread. */
int ldg_txindex_lookup(struct ldg_store *s, const uint8_t id[LDG_HASH_BYTES], uint64_t *height,
                       uint32_t *index, uint8_t *result);
/* A read transaction on the index (resize lock's read side held); *txn NULL and SQ_OK when the
 * store has no index. */
int ldg_irtxn_begin(struct ldg_store *s, struct MDB_txn **txn);
void ldg_irtxn_end(struct ldg_store *s, struct MDB_txn *txn);
/* Looks `id` up in the LMDB index of `txn` only (not the cache): SQ_OK with its place,
 * SQ_ENOTFOUND (also when txn is NULL), SQ_ECORRUPT. */
int ldg_txindex_get(struct ldg_store *s, struct MDB_txn *txn, const uint8_t id[LDG_HASH_BYTES],
                    uint64_t *height, uint32_t *index, uint8_t *result);
/* The first height not in the index of read transaction `txn` (0 if txn is NULL). */
uint64_t ldg_txindex_next(struct ldg_store *s, struct MDB_txn *txn);
/* Number of entries in the index of `txn` (0 if txn is NULL). */
uint64_t ldg_txindex_count(struct ldg_store *s, struct MDB_txn *txn);
/* Counts the entries of blocks below height `below` in the index of `txn` (walks them all; 0 if
 * txn is NULL). SQ_ECORRUPT for a malformed entry. */
int ldg_txindex_count_below(struct ldg_store *s, struct MDB_txn *txn, uint64_t below,
                            uint64_t *count);
/* Lock order: a thread holding read transactions on both takes the store's first (resize_lock,
 * then iresize_lock), as the apply thread does when it looks up a duplicate. */

/* Committed-data helpers (within a read txn). */
int ldg_read_header(struct ldg_store *s, struct MDB_txn *txn, uint64_t height,
                    struct ldg_header *hdr, uint8_t hash[LDG_HASH_BYTES], const uint8_t **raw,
                    size_t *raw_size);
int ldg_read_body(struct ldg_store *s, struct MDB_txn *txn, uint64_t height, const uint8_t **body,
                  size_t *size);
int ldg_read_view(struct ldg_store *s, struct MDB_txn *txn, uint64_t view_id, struct ldg_view *view,
                  uint64_t *height);
int ldg_txn_acc_root(struct ldg_store *s, struct MDB_txn *txn, uint64_t size,
                     uint8_t root[LDG_HASH_BYTES]);
int ldg_txn_acc_inclusion(struct ldg_store *s, struct MDB_txn *txn, uint64_t index, uint64_t size,
                          uint8_t (*path)[LDG_HASH_BYTES], size_t *count);
int ldg_txn_cert_build(struct ldg_store *s, struct MDB_txn *txn, uint64_t height, uint8_t **out,
                       size_t *size, uint64_t *top_height);

/* Certificate wire encoding from a record and headers (cert.c). */
struct ldg_cert_src {
    const char *chain_id;
    size_t chain_id_size;
    uint64_t height;
    const struct ldg_cert_record *rec;
    uint64_t top;
    const struct ldg_bytes *headers; /* top - height + 1 of them */
};
int ldg_cert_encode(const struct ldg_cert_src *src, uint8_t **out, size_t *size);

/* A parsed wire certificate (cert.c). headers/hashes are malloc'd: free with
 * ldg_cert_parsed_free. */
struct ldg_cert_parsed {
    uint8_t chain_id_size;
    char chain_id[SQ_CHAIN_ID_BYTES_MAX];
    uint64_t height;
    struct ldg_cert_record rec; /* block hashes left zero: they come from the headers */
    uint32_t header_count;
    struct ldg_header *headers;
    uint8_t (*hashes)[LDG_HASH_BYTES];
};
int ldg_cert_parse(const uint8_t *buf, size_t size, struct ldg_cert_parsed *p);
int ldg_cert_check(const struct ldg_cert_parsed *p, const char *chain_id, size_t chain_id_size,
                   const struct ldg_view *view, struct ldg_cert_info *info);
void ldg_cert_parsed_free(struct ldg_cert_parsed *p);

/* Commit group internals (apply.c / store.c). */
struct ldg_commit_acct {
    uint8_t pk[SQC_PK_BYTES];
    uint8_t record[LDG_ACCT_RECORD_BYTES];
    bool zero;
};
struct ldg_commit {
    size_t block_count;
    struct ldg_pending_block **blocks;
    size_t acct_count;
    struct ldg_commit_acct *accts;
    bool validators_dirty;
    uint32_t validator_count;
    struct ldg_member *validators; /* LDG_VALIDATORS_MAX */
    size_t cert_count;
    struct ldg_pending_cert *certs; /* borrowed from the store (stable until end) */
    bool fin_dirty;
    size_t fin_size;
    uint8_t fin[LDG_FIN_TRACK_BYTES_MAX];
    /* metadata after the group */
    uint64_t tip_height;
    uint8_t tip_hash[LDG_HASH_BYTES];
    struct ldg_acc acc;
    uint64_t view_id;
    uint64_t view_height;
    uint8_t view_hash[LDG_HASH_BYTES];
    uint64_t certified;
    bool first; /* the genesis commit: also writes the store identity */
    int result;
};
int ldg_store_write_group(struct ldg_store *s, struct ldg_commit *c);
void ldg_pending_block_free(struct ldg_pending_block *b);
/* Creates a new store's genesis state and block 0, and commits them. */
int ldg_store_create_genesis(struct ldg_store *s);
/* Bounds the account cache after a commit. */
int ldg_store_trim_cache(struct ldg_store *s);

/* The store's metadata keys. */
#define LDG_META_FORMAT "format"
#define LDG_META_GENESIS "genesis"
#define LDG_META_CHAIN "chain"
#define LDG_META_TIP "tip"
#define LDG_META_ACC "acc"
#define LDG_META_VIEW "view"
#define LDG_META_CERT "certified"
#define LDG_META_FIN "finality"
#define LDG_STORE_FORMAT 2 /* 2: the tx index moved to its own environment */

#endif
