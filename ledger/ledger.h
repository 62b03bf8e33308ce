/* ledger/: what the validators agree on and what auditors check (prefix ldg_).
 *
 * The ledger turns delivered batches into hash-chained blocks, applies their transactions to the
 * account state, stores everything in LMDB, collects finality signatures into certificates, and
 * proves things about the chain: receipts for transactions, inclusion and consistency proofs over
 * the accumulator of block hashes, and a full audit from genesis. It knows nothing of the network.
 *
 * Every byte format here is documented in docs/formats.md and frozen by the golden vectors in
 * tests/vectors/ledger/. All integers are little-endian and written through base/codec.h.
 *
 * Errors are sq_err codes. When a function fails it leaves a one-line reason, readable with
 * ldg_errmsg(), in a buffer private to the calling thread (so readers on many threads never see
 * each other's text). Functions that succeed leave that buffer alone.
 *
 * Threads. A `struct ldg_store` has one *apply thread* (the node's event loop): it alone calls
 * the functions marked "apply thread" (apply, view change, finality, commit begin/end, pending
 * reads). One *persistence thread* may call ldg_commit_write() concurrently with the apply thread.
 * Functions marked "any thread" read committed data through LMDB read transactions and may run on
 * any number of threads at once, concurrently with both. Functions without a store (encoders,
 * decoders, genesis, certificate and receipt verification) touch no shared state and may run on
 * any thread. sqc_init() must have been called before any of them. */
#ifndef SQ_LEDGER_LEDGER_H
#define SQ_LEDGER_LEDGER_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "crypto/crypto.h"

/* ------------------------------------------------------------------------------------------ */
/* Limits and constants                                                                          */

#define LDG_FORMAT_VERSION 1          /* every encoded object starts with this byte */
#define LDG_HASH_BYTES SQC_HASH_BYTES /* 32 */
#define LDG_ADDR_BYTES_MAX 128        /* a validator's "host:port" */
#define LDG_VALIDATORS_MAX 256        /* permitted validator keys (genesis plus governance) */
#define LDG_GENESIS_BYTES_MAX (16u * 1024 * 1024) /* a genesis JSON file */
#define LDG_GENESIS_ENTRIES_MAX 1000000 /* initial balances, and initial client keys, each */
#define LDG_HEADER_BYTES_MAX (256 + SQ_CHAIN_ID_BYTES_MAX) /* one encoded block header */
#define LDG_BODY_BYTES_MAX (SQ_BATCH_BYTES_MAX + SQ_BATCH_TXS_MAX + 64) /* one encoded body */
#define LDG_BLOCK_BYTES_MAX (LDG_HEADER_BYTES_MAX + LDG_BODY_BYTES_MAX + 8)
#define LDG_CHAIN_HEADERS_MAX 4096 /* headers in one certificate's chain */
#define LDG_RECEIPT_VIEWS_MAX 4096 /* view-change blocks carried by one receipt */
#define LDG_RECEIPT_BYTES_MAX (8u * 1024 * 1024)
#define LDG_CERT_BYTES_MAX (LDG_RECEIPT_BYTES_MAX / 2)
#define LDG_PENDING_BLOCKS_MAX 4096 /* applied but not yet committed blocks */
#define LDG_PENDING_BYTES_MAX (512u * 1024 * 1024)

static_assert(LDG_VALIDATORS_MAX >= SQ_MEMBERS_MAX, "every member of a view is a validator");
static_assert(SQ_MEMBERS_MAX <= 255, "member counts are encoded in one byte");
static_assert(SQ_GOV_KEYS_MAX <= 255 && SQ_ISSUERS_MAX <= 255, "key indices fit one byte");
static_assert(SQ_CHAIN_ID_BYTES_MAX <= 255, "the chain id length is encoded in one byte");
static_assert(LDG_ADDR_BYTES_MAX <= 255, "the address length is encoded in one byte");
static_assert(SQ_BATCH_TXS_MAX * 5ull <= SQ_BATCH_BYTES_MAX, "a batch can hold its tx count");

/* The thread's last failure reason (static storage per thread; never NULL, "" if none). */
const char *ldg_errmsg(void);

/* A borrowed byte string. */
struct ldg_bytes {
    const uint8_t *data;
    size_t size;
};

/* ------------------------------------------------------------------------------------------ */
/* Transactions (docs/formats.md, "Ledger: transaction")                                         */

enum ldg_tx_kind {
    LDG_TX_TRANSFER = 1,         /* sender pays `amount` to `target` */
    LDG_TX_MINT = 2,             /* an issuer key of genesis credits `amount` to `target` */
    LDG_TX_ADMIT_CLIENT = 3,     /* governance: `target` may send transfers */
    LDG_TX_REMOVE_CLIENT = 4,    /* governance: `target` may no longer send transfers */
    LDG_TX_ADMIT_VALIDATOR = 5,  /* governance: validator `validator_id` with key `target` */
    LDG_TX_REMOVE_VALIDATOR = 6, /* governance: validator `validator_id` is no longer permitted */
};

/* The outcome recorded for each transaction of a block. A transaction with any code but
 * LDG_RESULT_OK is kept in its block and changes nothing (not even the sender's nonce). Checks run
 * in the order of the codes below, duplicate first (docs/formats.md, "Ledger: block"). */
enum ldg_result {
    LDG_RESULT_OK = 0,
    LDG_RESULT_DUPLICATE = 1,     /* its tx id is already in the chain (or earlier in the block) */
    LDG_RESULT_BAD_SIGNATURE = 2, /* the sender's signature does not verify */
    LDG_RESULT_WRONG_CHAIN = 3,   /* made for another chain id */
    LDG_RESULT_EXPIRED = 4,       /* block height > expiry height */
    LDG_RESULT_NOT_PERMITTED = 5, /* sender not a client / not an issuer / too few approvals */
    LDG_RESULT_BAD_NONCE = 6,     /* nonce != account nonce + 1 */
    LDG_RESULT_INSUFFICIENT_FUNDS = 7, /* balance < amount */
    LDG_RESULT_OVERFLOW = 8,           /* a balance would exceed 2^64 - 1 */
    LDG_RESULT_CONFLICT = 9,           /* admit of a present key/id, removal of an absent one */
    LDG_RESULT_COUNT_
};

/* The result code's name ("bad_nonce"); "unknown" outside the table. Static. Any thread. */
const char *ldg_result_name(int result);

/* One governance approval of a permission change: governance key `key_index` (its position in
 * genesis) signed the transaction's governance digest (ldg_tx_gov_digest). */
struct ldg_approval {
    uint8_t key_index;
    uint8_t sig[SQC_SIG_BYTES];
};

/* A decoded transaction (plain data, no pointers). Which payload fields are meaningful depends on
 * `kind`; the others are zero. */
struct ldg_tx {
    uint8_t version; /* LDG_FORMAT_VERSION */
    uint8_t kind;    /* enum ldg_tx_kind */
    uint8_t chain_id_size;
    char chain_id[SQ_CHAIN_ID_BYTES_MAX];
    uint8_t sender[SQC_PK_BYTES];
    uint64_t nonce;
    uint64_t expiry_height;
    /* payload */
    uint8_t target[SQC_PK_BYTES]; /* recipient / client key / validator key */
    uint64_t amount;              /* transfer, mint */
    uint32_t validator_id;        /* admit/remove validator */
    uint8_t addr_size;            /* admit validator */
    char addr[LDG_ADDR_BYTES_MAX];
    uint8_t approval_count; /* permission changes: 1..SQ_GOV_KEYS_MAX, key indices ascending */
    struct ldg_approval approvals[SQ_GOV_KEYS_MAX];
    uint8_t sig[SQC_SIG_BYTES]; /* the sender's, over everything before it */
};

/* Encodes `tx` (signature included) into buf[0..cap). *size receives the length. SQ_EINVAL if a
 * field is out of range (unknown kind, empty chain id, bad approval order, ...), SQ_ETOOBIG if cap
 * is short. Any thread. */
int ldg_tx_encode(const struct ldg_tx *tx, uint8_t *buf, size_t cap, size_t *size);

/* Decodes exactly `size` bytes into *tx, checking every length and field range. SQ_ECORRUPT for
 * malformed or trailing bytes, SQ_EVERSION for an unknown version, SQ_ETOOBIG beyond
 * SQ_TX_BYTES_MAX. Does not verify signatures. On failure *tx is zeroed. Any thread. */
int ldg_tx_decode(const uint8_t *buf, size_t size, struct ldg_tx *tx);

/* The transaction id: SHA-256 of the signed part of an encoded transaction (every byte but the
 * final signature), which is also the digest the sender signs. `size` must be > SQC_SIG_BYTES.
 * Any thread. */
void ldg_tx_id(const uint8_t *buf, size_t size, uint8_t id[LDG_HASH_BYTES]);

/* Sets tx->sig to the signature of `kp` over the encoded signed part (tx->sender must be kp->pk;
 * asserted). SQ_EINVAL / SQ_ETOOBIG as ldg_tx_encode. Any thread. */
int ldg_tx_sign(struct ldg_tx *tx, const struct sqc_keypair *kp);

/* The digest governance keys approve for a permission change: SHA-256 of (version, chain id,
 * kind, sender, nonce, expiry height, the payload without its approvals). SQ_EINVAL for a
 * transfer or mint. Any thread. */
int ldg_tx_gov_digest(const struct ldg_tx *tx, uint8_t digest[LDG_HASH_BYTES]);

/* Adds (in index order) the approval of governance key `key_index` held in `kp`. Call before
 * ldg_tx_sign. SQ_EEXIST if that index already approved, SQ_EFULL past SQ_GOV_KEYS_MAX,
 * SQ_EINVAL as ldg_tx_gov_digest. Any thread. */
int ldg_tx_approve(struct ldg_tx *tx, uint8_t key_index, const struct sqc_keypair *kp);

/* Decodes and checks the sender's signature: SQ_OK, SQ_EBADSIG, or the decoding errors. For
 * admission. On success *tx (if not NULL) holds the transaction and id its id. Any thread. */
int ldg_tx_check(const uint8_t *buf, size_t size, struct ldg_tx *tx, uint8_t id[LDG_HASH_BYTES]);

/* ------------------------------------------------------------------------------------------ */
/* Batches (docs/formats.md, "Ledger: batch")                                                    */

/* A decoded batch: a view into the caller's buffer (borrowed for as long as that buffer). */
struct ldg_batch {
    uint8_t chain_id_size;
    char chain_id[SQ_CHAIN_ID_BYTES_MAX];
    uint32_t proposer; /* validator id */
    uint64_t seq;      /* the proposer's batch sequence number */
    uint64_t timestamp_us;
    uint32_t tx_count;
    const uint8_t *txs; /* the transaction list: tx_count times (u32 size, bytes) */
    size_t txs_size;
    uint8_t hash[LDG_HASH_BYTES]; /* SHA-256 of the signed part */
    uint8_t sig[SQC_SIG_BYTES];   /* the proposer's, domain SQC_DOMAIN_BATCH */
};

/* Encodes and signs a batch of already encoded transactions. SQ_EINVAL for a bad chain id, more
 * than SQ_BATCH_TXS_MAX transactions or one larger than SQ_TX_BYTES_MAX; SQ_ETOOBIG if cap (or
 * SQ_BATCH_BYTES_MAX) is short. Any thread. */
int ldg_batch_encode(const char *chain_id, size_t chain_id_size, uint32_t proposer, uint64_t seq,
                     uint64_t timestamp_us, const struct ldg_bytes *txs, size_t tx_count,
                     const struct sqc_keypair *kp, uint8_t *buf, size_t cap, size_t *size);

/* Decodes a batch's frame: every length is checked and the hash computed, but neither the
 * transactions nor any signature are decoded or verified. Errors as ldg_tx_decode. Any thread. */
int ldg_batch_decode(const uint8_t *buf, size_t size, struct ldg_batch *batch);

/* Walks a transaction list (a batch's or a block body's). */
struct ldg_tx_iter {
    const uint8_t *p;
    const uint8_t *end;
    uint32_t left;
};
void ldg_tx_iter_init(struct ldg_tx_iter *it, const uint8_t *txs, size_t txs_size, uint32_t count);
/* Stores the next transaction's bytes (borrowed) in *tx; false when none are left. Lists come
 * from a successful decode, so their lengths are already checked. */
bool ldg_tx_iter_next(struct ldg_tx_iter *it, struct ldg_bytes *tx);

/* ------------------------------------------------------------------------------------------ */
/* Blocks (docs/formats.md, "Ledger: block", "Ledger: view-change block")                        */

enum ldg_block_kind {
    LDG_BLOCK_BATCH = 1, /* a delivered batch: its transactions and their results */
    LDG_BLOCK_VIEW = 2,  /* a view change (height 0 is the genesis view) */
};

struct ldg_header {
    uint8_t version;
    uint8_t kind; /* enum ldg_block_kind */
    uint8_t chain_id_size;
    char chain_id[SQ_CHAIN_ID_BYTES_MAX];
    uint64_t height;
    uint8_t prev_hash[LDG_HASH_BYTES];    /* height 0: the genesis digest */
    uint64_t view_id;                     /* the view the block belongs to */
    uint32_t proposer;                    /* batch blocks; 0 in view blocks */
    uint64_t batch_seq;                   /* batch blocks; 0 in view blocks */
    uint64_t timestamp_us;                /* the batch's, or the view change's */
    uint8_t batch_hash[LDG_HASH_BYTES];   /* batch blocks; zero in view blocks */
    uint8_t proposer_sig[SQC_SIG_BYTES];  /* batch blocks; zero in view blocks */
    uint32_t tx_count;                    /* batch blocks; 0 in view blocks */
    uint8_t tx_root[LDG_HASH_BYTES];      /* Merkle root of the txs; view blocks: SHA-256(record) */
    uint8_t results_root[LDG_HASH_BYTES]; /* Merkle root of the result bytes */
};

int ldg_header_encode(const struct ldg_header *hdr, uint8_t *buf, size_t cap, size_t *size);
int ldg_header_decode(const uint8_t *buf, size_t size, struct ldg_header *hdr);
/* The block hash: SHA-256 of the encoded header. */
int ldg_header_hash(const struct ldg_header *hdr, uint8_t hash[LDG_HASH_BYTES]);

/* A validator: id, Ed25519 key and network address. */
struct ldg_member {
    uint32_t id;
    uint8_t pk[SQC_PK_BYTES];
    uint8_t addr_size;
    char addr[LDG_ADDR_BYTES_MAX + 1]; /* NUL-terminated for convenience; not encoded */
};

/* The body of a view-change block. Members are in rank order; `leavers` lists members of the
 * previous view that left gracefully (PROTOCOL.md §5.8: they do not count against the majority). */
struct ldg_view {
    uint64_t view_id;
    uint64_t prev_height;              /* the previous view-change block (0 for genesis) */
    uint8_t prev_hash[LDG_HASH_BYTES]; /* its hash (zero for genesis) */
    uint32_t member_count;             /* 1..SQ_MEMBERS_MAX */
    struct ldg_member members[SQ_MEMBERS_MAX];
    uint32_t leaver_count;
    uint32_t leavers[SQ_MEMBERS_MAX];
};

int ldg_view_encode(const struct ldg_view *view, uint8_t *buf, size_t cap, size_t *size);
int ldg_view_decode(const uint8_t *buf, size_t size, struct ldg_view *view);

/* A decoded block: header plus a view of the body in the caller's buffer. */
struct ldg_block {
    struct ldg_header hdr;
    uint8_t hash[LDG_HASH_BYTES];
    const uint8_t *header_bytes;
    size_t header_size;
    const uint8_t *body;
    size_t body_size;
    /* batch blocks: */
    const uint8_t *txs; /* tx_count times (u32 size, bytes) */
    size_t txs_size;
    const uint8_t *results; /* tx_count result bytes */
};

/* Encodes a block from its encoded header and body: u32 size, header, u32 size, body. */
int ldg_block_encode(const struct ldg_bytes *header, const struct ldg_bytes *body, uint8_t *buf,
                     size_t cap, size_t *size);
/* Decodes a block and checks that its body matches the header: for batch blocks the tx count,
 * every transaction's frame, the tx root and the results root; for view blocks the record hash
 * and that the record decodes. Signatures and state are not checked (that is the audit's job).
 * `view` may be NULL; for view blocks it receives the decoded record. Any thread. */
int ldg_block_decode(const uint8_t *buf, size_t size, struct ldg_block *blk, struct ldg_view *view);

/* ------------------------------------------------------------------------------------------ */
/* Genesis (docs/formats.md, "Ledger: genesis file")                                             */

struct ldg_balance {
    uint8_t pk[SQC_PK_BYTES];
    uint64_t amount;
};

struct ldg_genesis {
    uint8_t chain_id_size;
    char chain_id[SQ_CHAIN_ID_BYTES_MAX + 1]; /* printable ASCII, NUL-terminated */
    uint64_t time_us;                         /* the genesis block's timestamp */
    uint32_t validator_count;                 /* the validators of view 0, 1..SQ_MEMBERS_MAX */
    struct ldg_member validators[SQ_MEMBERS_MAX];
    uint32_t issuer_count;
    uint8_t issuers[SQ_ISSUERS_MAX][SQC_PK_BYTES];
    uint32_t gov_count;
    uint32_t gov_threshold; /* k of gov_count, 1 <= k <= n (0 and 0 when there are no keys) */
    uint8_t gov_keys[SQ_GOV_KEYS_MAX][SQC_PK_BYTES];
    bool clients_open; /* true: anyone may send transfers */
    size_t client_count;
    uint8_t (*clients)[SQC_PK_BYTES]; /* owned */
    size_t balance_count;
    struct ldg_balance *balances;   /* owned */
    uint8_t digest[LDG_HASH_BYTES]; /* SHA-256 of the canonical encoding (prev hash of block 0) */
};

/* Parses a genesis JSON document (`size` bytes, not necessarily NUL-terminated), checks it (sizes,
 * hex keys, duplicates, threshold, balance sum) and computes its digest. *out is allocated; free it
 * with ldg_genesis_free. SQ_ECORRUPT with the JSON position or field named in ldg_errmsg(),
 * SQ_EVERSION for an unknown "format", SQ_ETOOBIG beyond the limits. Any thread. */
int ldg_genesis_parse(const char *json, size_t size, struct ldg_genesis **out);
/* Reads and parses the file at `path` (at most LDG_GENESIS_BYTES_MAX). Adds SQ_ENOTFOUND and
 * SQ_EIO for file errors. */
int ldg_genesis_load(const char *path, struct ldg_genesis **out);
/* Checks a genesis filled in by hand and computes its digest (as parse does). */
int ldg_genesis_finish(struct ldg_genesis *g);
/* Writes `g` as a JSON document into a malloc'd NUL-terminated string (*json, caller frees). */
int ldg_genesis_to_json(const struct ldg_genesis *g, char **json);
/* A deep copy (*out allocated). */
int ldg_genesis_copy(const struct ldg_genesis *g, struct ldg_genesis **out);
/* Frees a genesis and its arrays; NULL is fine. */
void ldg_genesis_free(struct ldg_genesis *g);

/* The genesis block (height 0, a view block for view 0 whose members are the genesis validators):
 * its encoded header and body in buf (*header_size + *body_size bytes, header first) and hash.
 * cap >= LDG_HEADER_BYTES_MAX + the record's size (16 KiB always suffices). */
int ldg_genesis_block(const struct ldg_genesis *g, uint8_t *buf, size_t cap, size_t *header_size,
                      size_t *body_size, uint8_t hash[LDG_HASH_BYTES]);

/* ------------------------------------------------------------------------------------------ */
/* Finality, certificates (docs/formats.md, "Ledger: finality signature", "Ledger: certificate") */

/* Validator `signer` says: in view `view_id`, block `height` of this chain has hash `block_hash`,
 * and the accumulator over blocks 0..height has root `acc_root`. */
struct ldg_finality {
    uint32_t signer;
    uint64_t view_id;
    uint64_t height;
    uint8_t block_hash[LDG_HASH_BYTES];
    uint8_t acc_root[LDG_HASH_BYTES];
    uint8_t sig[SQC_SIG_BYTES]; /* domain SQC_DOMAIN_FINALITY over the signed message */
};

/* The signed message's digest: SHA-256(version, chain id, view id, height, block hash, root). */
void ldg_finality_digest(const char *chain_id, size_t chain_id_size, const struct ldg_finality *f,
                         uint8_t digest[LDG_HASH_BYTES]);
/* Wire form (chain id included) of one finality signature. Errors as ldg_tx_encode/decode. */
int ldg_finality_encode(const char *chain_id, size_t chain_id_size, const struct ldg_finality *f,
                        uint8_t *buf, size_t cap, size_t *size);
/* Decodes and checks the chain id against `chain_id` (SQ_EINVAL on a mismatch). */
int ldg_finality_decode(const uint8_t *buf, size_t size, const char *chain_id, size_t chain_id_size,
                        struct ldg_finality *f);

/* What a verified certificate establishes. */
struct ldg_cert_info {
    uint64_t height;     /* the certified block (every block below it is covered too) */
    uint64_t top_height; /* the highest signed height (end of the header chain) */
    uint64_t view_id;    /* whose members signed */
    uint32_t signer_count;
    uint8_t block_hash[LDG_HASH_BYTES];   /* hash of block `height` */
    uint8_t top_acc_root[LDG_HASH_BYTES]; /* accumulator root signed at top_height (size top+1) */
};

/* Verifies an encoded certificate against the members of the view it names: every member signed
 * exactly once at a height >= the certified height, in that view, and the header chain links the
 * certified block to every signed one. SQ_EPROOF / SQ_EBADSIG / SQ_ECORRUPT with the reason in
 * ldg_errmsg(). Any thread. */
int ldg_cert_verify(const uint8_t *buf, size_t size, const char *chain_id, size_t chain_id_size,
                    const struct ldg_view *view, struct ldg_cert_info *info);
/* The view id an encoded certificate names (to look its members up). */
int ldg_cert_view_id(const uint8_t *buf, size_t size, uint64_t *view_id);

/* ------------------------------------------------------------------------------------------ */
/* Receipts (docs/formats.md, "Ledger: receipt")                                                 */

struct ldg_receipt_info {
    uint8_t txid[LDG_HASH_BYTES];
    struct ldg_tx tx;
    uint64_t height;
    uint32_t index;
    uint8_t result; /* enum ldg_result */
    struct ldg_cert_info cert;
    uint32_t view_changes; /* view-change blocks followed from genesis */
};

/* Verifies a receipt offline with nothing but the genesis: the genesis block is recomputed, the
 * view-change blocks are followed from it (hash links between them, the majority rule, inclusion
 * in the accumulator the certificate signed), the certificate is checked against the members of
 * its view, the header chain links the transaction's block to it, and the transaction and its
 * result are in the block's Merkle trees. SQ_OK fills *info; otherwise SQ_ECORRUPT, SQ_EVERSION,
 * SQ_EPROOF or SQ_EBADSIG with the reason (what, where) in ldg_errmsg(). Any thread. */
int ldg_receipt_verify(const struct ldg_genesis *g, const uint8_t *buf, size_t size,
                       struct ldg_receipt_info *info);

/* ------------------------------------------------------------------------------------------ */
/* The store: LMDB plus the state machine (docs/formats.md, "Ledger: LMDB layout")               */

struct ldg_store;

struct ldg_store_opts {
    bool read_only;            /* MDB_RDONLY: reads, proofs, receipts and audit only */
    uint64_t map_size_initial; /* 0: 1 GiB. The map doubles whenever it fills. */
    uint64_t map_size_max;     /* 0: 16 TiB. Past it a commit fails with SQ_ENOSPC. */
    /* The transaction index's batch (ids per run written) and merge chunk (entries per merge
     * transaction); 0: the defaults (65,536 each). Lower only: tests use small ones to make many
     * runs and merges from a few blocks. */
    uint32_t index_batch_ids;
    uint32_t index_merge_chunk;
};

/* Opens (creating it if `dir` holds no store and !read_only) the store in directory `dir`, which
 * must exist (SQ_ENOTFOUND otherwise, and for a read-only open of a directory without a store). A
 * new store gets the genesis state and block 0 in one durable commit. An existing one must belong
 * to `g` (same digest; SQ_EINVAL otherwise), and its format version must be known (SQ_EVERSION).
 * The genesis is copied. opts may be NULL. SQ_EIO / SQ_ENOSPC / SQ_ECORRUPT with detail for LMDB
 * and file errors; nothing is left open on failure. LMDB allows one environment per data file
 * per process: open a store once per process (a read-only auditor runs in its own process, while
 * the writer runs). Any thread; the store's apply thread is whoever applies. */
int ldg_store_open(const char *dir, const struct ldg_genesis *g, const struct ldg_store_opts *opts,
                   struct ldg_store **out);
/* Closes the store: pending (uncommitted) blocks are dropped. No other call may be running or
 * start; an outstanding commit group must have been ended. NULL is fine. */
void ldg_store_close(struct ldg_store *s);

/* Deletes the files of a closed store in directory `dir` (the LMDB store and the transaction
 * index), then the directory if that leaves it empty. Missing files are fine. For scratch stores
 * and tests; SQ_OK, or SQ_EIO with the reason if a file could not be removed. Any thread. */
int ldg_store_remove(const char *dir);

/* The genesis the store was opened with (borrowed, valid until close). Any thread. */
const struct ldg_genesis *ldg_store_genesis(const struct ldg_store *s);
/* Height of the newest applied block (pending included). Apply thread. */
uint64_t ldg_store_height(const struct ldg_store *s);
/* Height of the newest durable block. Any thread. */
uint64_t ldg_store_persisted_height(const struct ldg_store *s);
/* Highest height covered by a stored certificate (0 before the first: block 0 needs none).
 * Any thread. */
uint64_t ldg_store_certified_height(const struct ldg_store *s);
/* True once a commit failed: the store refuses writes and the node must stop (STYLE.md). */
bool ldg_store_is_failed(const struct ldg_store *s);
/* The current map size in bytes (grows when full). Any thread. */
uint64_t ldg_store_map_size(const struct ldg_store *s);

/* ---- applying ---- */

/* Which transactions the caller already verified (at admission): return true if the sender's
 * signature of transaction `txid` was checked. Called on the apply thread during the call. */
typedef bool (*ldg_tx_verified_fn)(void *arg, const uint8_t txid[LDG_HASH_BYTES]);
/* Called once per transaction of the new block, in order, with its result. */
typedef void (*ldg_tx_result_fn)(void *arg, const uint8_t txid[LDG_HASH_BYTES], uint64_t height,
                                 uint32_t index, enum ldg_result result);

struct ldg_apply_opts {
    ldg_tx_verified_fn verified; /* NULL: no transaction was verified, apply verifies them all */
    void *verified_arg;
    struct sqc_verify_pool *pool; /* NULL: unverified signatures are checked on this thread */
    ldg_tx_result_fn on_result;   /* may be NULL */
    void *result_arg;
};

/* What a new block is. */
struct ldg_block_info {
    uint64_t height;
    uint8_t hash[LDG_HASH_BYTES];
    uint32_t tx_count;
    uint32_t ok_count; /* transactions with LDG_RESULT_OK */
};

/* Applies a batch delivered in view `view_id` as the next block (pending until committed). The
 * batch's frame and every transaction must decode, its chain id must be ours, its proposer a
 * member of the current view and its signature good; otherwise nothing changes and the error is
 * returned (SQ_ECORRUPT, SQ_EVERSION, SQ_EINVAL for a foreign chain, SQ_EPERM for a proposer
 * outside the view, SQ_EBADSIG). Every validator sees the same bytes, so every validator rejects
 * the same batches. Sender signatures that `opts` does not vouch for are verified (in the pool if
 * given); a bad one is recorded as LDG_RESULT_BAD_SIGNATURE. SQ_EVIEW if view_id is not the
 * current view, SQ_EFULL past LDG_PENDING_BLOCKS_MAX / LDG_PENDING_BYTES_MAX pending (commit
 * first), SQ_ESTATE for a read-only or failed store. Apply thread. */
int ldg_batch_apply(struct ldg_store *s, uint64_t view_id, const uint8_t *batch, size_t size,
                    const struct ldg_apply_opts *opts, struct ldg_block_info *info);

/* Records a view change as the next block (pending until committed). `view->prev_height` and
 * `prev_hash` are filled in here. Rules: view id greater than the current one, 1..SQ_MEMBERS_MAX
 * members with distinct ids and keys, each a permitted validator with that id and key, leavers
 * members of the previous view and not of the new one, and the survivors a strict majority of the
 * previous view not counting leavers (PROTOCOL.md §5.8). SQ_EINVAL / SQ_EPERM naming the broken
 * rule; SQ_EFULL, SQ_ESTATE as ldg_batch_apply. Apply thread. */
int ldg_view_apply(struct ldg_store *s, struct ldg_view *view, uint64_t timestamp_us,
                   struct ldg_block_info *info);

/* The view in force after the newest applied block, and the height of the block that set it. */
void ldg_view_current(const struct ldg_store *s, struct ldg_view *view, uint64_t *height);

/* An account. Keys never seen have balance 0, nonce 0, and are clients only if genesis made them
 * so or governance admitted them. */
struct ldg_account {
    uint64_t balance;
    uint64_t nonce; /* the last used nonce: the next transaction must carry nonce + 1 */
    bool client;    /* admitted as a client (meaningless on an open chain) */
};

/* The account as of the newest applied block (pending included). Apply thread. */
int ldg_account_get_pending(struct ldg_store *s, const uint8_t pk[SQC_PK_BYTES],
                            struct ldg_account *acct);
/* The account as of the newest durable block. Any thread. */
int ldg_account_get(struct ldg_store *s, const uint8_t pk[SQC_PK_BYTES], struct ldg_account *acct);
/* True if validator `id` with key `pk` is in the permitted set as of the newest applied block
 * (genesis plus governance). Apply thread. */
bool ldg_validator_is_permitted(const struct ldg_store *s, uint32_t id,
                                const uint8_t pk[SQC_PK_BYTES]);

/* ---- committing (group commit) ---- */

struct ldg_commit;

/* Takes every pending block not yet handed to a commit, with the state they leave behind, into a
 * commit group (*out, owned by the store until ldg_commit_end). SQ_EAGAIN if there is nothing to
 * commit (*out NULL), SQ_ESTATE if a group is already out or the store failed/read-only, SQ_ENOMEM.
 * Apply thread. */
int ldg_commit_begin(struct ldg_store *s, struct ldg_commit **out);
/* Writes the group in one LMDB write transaction and commits it durably (fsync). The map grows and
 * the transaction is retried if the map fills. Any failure (SQ_EIO, SQ_ENOSPC with detail) is
 * FATAL: the store is marked failed and refuses further writes; the node must stop and restart
 * (STYLE.md: never retry an fsync). One persistence thread; may run concurrently with the apply
 * thread. */
int ldg_commit_write(struct ldg_store *s, struct ldg_commit *c);
/* Finishes a group after ldg_commit_write returned (whatever it returned), publishes the new
 * persisted height and frees the group. Apply thread. */
void ldg_commit_end(struct ldg_store *s, struct ldg_commit *c);
/* begin + write + end on the calling thread (the apply thread). *persisted_height (may be NULL)
 * receives the durable height. SQ_OK also when there was nothing to commit. */
int ldg_commit(struct ldg_store *s, uint64_t *persisted_height);

/* ---- finality ---- */

/* Builds and signs this validator's finality signature for applied block `height` (in the view in
 * force at that height). SQ_ENOTFOUND beyond the applied height. Apply thread. */
int ldg_finality_make(struct ldg_store *s, uint32_t signer, const struct sqc_keypair *kp,
                      uint64_t height, struct ldg_finality *out);
/* Checks a finality signature (the signer is a member of the view in force at f->height, the view
 * id, block hash and accumulator root are ours, the signature verifies) and records it. When every
 * member of the current view has signed at some height, a certificate is formed and stored with
 * the next commit. *certified (may be NULL) receives the highest height covered by a certificate
 * so far (pending included). Errors: SQ_EAGAIN if the height is not applied here yet, SQ_EVIEW for
 * a signature of an earlier view, SQ_EPERM for a non-member, SQ_EPROOF for a hash or root that is
 * not ours, SQ_EBADSIG. Apply thread. */
int ldg_finality_add(struct ldg_store *s, const struct ldg_finality *f, uint64_t *certified);

/* Builds the certificate of committed block `height` (encoded, *out malloc'd, caller frees):
 * the stored signature set with the lowest certified height >= height, plus the headers linking
 * `height` to every signed height. SQ_ENOTFOUND if no stored certificate covers it yet, SQ_ETOOBIG
 * past LDG_CHAIN_HEADERS_MAX headers. Any thread. */
int ldg_cert_build(struct ldg_store *s, uint64_t height, uint8_t **out, size_t *size);

/* A view by id, and the height of its view-change block. SQ_ENOTFOUND if never installed.
 * Committed data; any thread. */
int ldg_view_get(struct ldg_store *s, uint64_t view_id, struct ldg_view *view, uint64_t *height);

/* ---- reading ---- */

/* Header and hash of committed block `height` (SQ_ENOTFOUND above the persisted height). */
int ldg_header_get(struct ldg_store *s, uint64_t height, struct ldg_header *hdr,
                   uint8_t hash[LDG_HASH_BYTES]);
/* The encoded block (ldg_block_encode form) at `height`; *out malloc'd, caller frees. */
int ldg_block_get(struct ldg_store *s, uint64_t height, uint8_t **out, size_t *size);
/* Where committed transaction `txid` is, and its result. SQ_ENOTFOUND if not in the chain. */
int ldg_tx_find(struct ldg_store *s, const uint8_t txid[LDG_HASH_BYTES], uint64_t *height,
                uint32_t *index, uint8_t *result);
/* Builds the receipt of committed transaction `txid` (*out malloc'd, caller frees). SQ_ENOTFOUND
 * if the transaction is unknown, SQ_EAGAIN if its block is not certified yet. Any thread. */
int ldg_receipt_build(struct ldg_store *s, const uint8_t txid[LDG_HASH_BYTES], uint8_t **out,
                      size_t *size);

/* ---- the accumulator over block hashes (RFC 6962 / 9162) ---- */

/* Leaves are the block hashes of heights 0, 1, 2, ...; a tree of `size` leaves covers heights
 * 0..size-1. All three read committed data; SQ_EINVAL for sizes beyond persisted height + 1.
 * Paths hold SQ_MERKLE_DEPTH_MAX hashes; verify them with sqc_merkle_*_verify. Any thread. */
int ldg_acc_root(struct ldg_store *s, uint64_t size, uint8_t root[LDG_HASH_BYTES]);
int ldg_acc_inclusion_proof(struct ldg_store *s, uint64_t height, uint64_t size,
                            uint8_t (*path)[LDG_HASH_BYTES], size_t *count);
int ldg_acc_consistency_proof(struct ldg_store *s, uint64_t old_size, uint64_t new_size,
                              uint8_t (*path)[LDG_HASH_BYTES], size_t *count);

/* A transaction's inclusion in the accumulator: its block header, its path in the block's
 * transaction tree, and the block's path in the accumulator of `acc_size` leaves. */
struct ldg_tx_proof {
    struct ldg_header hdr;
    uint32_t index;
    size_t tx_path_count;
    uint8_t tx_path[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES];
    uint64_t acc_size;
    size_t acc_path_count;
    uint8_t acc_path[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES];
};
/* Builds the proof for committed transaction `txid` in the tree of `acc_size` leaves. */
int ldg_tx_proof_build(struct ldg_store *s, const uint8_t txid[LDG_HASH_BYTES], uint64_t acc_size,
                       struct ldg_tx_proof *proof);
/* SQ_OK if the encoded transaction `tx` is in the chain whose accumulator of proof->acc_size
 * leaves has root `acc_root`; SQ_EPROOF otherwise. Any thread. */
int ldg_tx_proof_verify(const struct ldg_tx_proof *proof, const uint8_t *tx, size_t tx_size,
                        const uint8_t acc_root[LDG_HASH_BYTES]);

/* ---- audit ---- */

/* Progress: called on the auditing thread every few blocks and at the end. Return false to stop
 * (the audit then returns SQ_ECLOSED). */
typedef bool (*ldg_audit_progress_fn)(void *arg, uint64_t height, uint64_t tip, uint64_t tx_count);

struct ldg_audit_report {
    uint64_t tip;        /* the height audited up to */
    uint64_t blocks;     /* blocks checked */
    uint64_t txs;        /* transactions checked (each: signature, Merkle leaf, replay) */
    uint64_t signatures; /* signatures verified (transactions, batches, governance, finality) */
    uint64_t certs;      /* stored certificates checked */
    uint64_t views;      /* view-change blocks checked (genesis included) */
    uint64_t index_next; /* the transaction index covers heights below this (0: no index) */
    uint64_t unindexed;  /* ids claimed above the index's cover, tracked by the audit itself */
    /* the first fault (when the audit returns an error): */
    uint64_t fault_height;
    char what[48]; /* "prev_hash", "tx_signature", "result", "certificate", ... */
    char why[256];
};

/* Verifies the whole store from genesis against its genesis: block 0, hash links, every header
 * field, every transaction and batch signature (through `pool` if not NULL), both Merkle roots of
 * every block, the replay of every transaction against the recorded result, the transaction index
 * (as far as it reaches: it is derived data, written after the blocks, see txindex.c),
 * the view-change blocks (links, the majority rule, permitted keys), every stored certificate
 * against its view's members, the accumulator nodes, the final accounts and metadata. Reads one
 * LMDB snapshot. Stops at the first fault: returns SQ_ECORRUPT / SQ_EBADSIG / SQ_EPROOF and names
 * height, what and why in *rep (and ldg_errmsg()). Memory: about 72 bytes per block, one entry
 * per account, and about 100 bytes per transaction above the index's cover. Holds a read
 * transaction for its whole run: it never blocks commits, but a map resize in the same process
 * waits for it to end (run long audits on a read-only store in another process, as `squall audit
 * --data DIR` does). With a pool, signatures are verified on a helper thread while the next blocks
 * are read and the previous ones replayed. Any thread. */
int ldg_audit_run(struct ldg_store *s, struct sqc_verify_pool *pool, ldg_audit_progress_fn progress,
                  void *arg, struct ldg_audit_report *rep);

#endif
