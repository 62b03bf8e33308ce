/* wallet-cli/: the library behind `squall`, the client's and auditor's command line (prefix wal_).
 *
 * The wallet is a client of the validators' HTTP API (docs/api.md) and of nothing else on the
 * network; offline it uses the ledger library directly: transactions are built and signed with
 * ldg_tx_*, receipts are checked with ldg_receipt_verify against a genesis file, and a validator's
 * store is audited read-only with ldg_audit_run.
 *
 * Errors. Every wal_ command returns an exit code (enum wal_exit, documented in docs/wallet.md)
 * and, when it is not WAL_EXIT_OK, fills a `struct wal_err` with a stable short code and a
 * one-line message meant for a person. The CLI exits with that code.
 *
 * Threads. The wallet is single-threaded except for the verification pool the audit uses. Call
 * sqc_init() once first. Secrets (passphrases, secret keys) live in sodium secure memory and are
 * wiped on every path. */
#ifndef SQ_WALLET_WALLET_H
#define SQ_WALLET_WALLET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "ledger/ledger.h"

struct json_t;

/* ------------------------------------------------------------------------------------------ */
/* Exit codes and errors                                                                         */

enum wal_exit {
    WAL_EXIT_OK = 0,
    WAL_EXIT_FAULT = 1,    /* verification failed, a fault found, a transaction failed or expired,
                              heads diverge */
    WAL_EXIT_USAGE = 2,    /* bad command line, config file or argument */
    WAL_EXIT_NETWORK = 3,  /* the node could not be reached, or answered something not in the API */
    WAL_EXIT_REFUSED = 4,  /* the node answered with an API error (its code is kept) */
    WAL_EXIT_TIMEOUT = 5,  /* the wait ended before the transaction reached the state asked for */
    WAL_EXIT_KEY = 6,      /* keystore missing or damaged, wrong passphrase, no passphrase */
    WAL_EXIT_IO = 7,       /* a local file could not be read or written, or is malformed */
    WAL_EXIT_INTERNAL = 8, /* out of memory, a library failure: a bug or a broken machine */
};

#define WAL_ERR_CODE_BYTES 40
#define WAL_ERR_MSG_BYTES 768

struct wal_err {
    int exit;                       /* enum wal_exit */
    char code[WAL_ERR_CODE_BYTES];  /* the node's error code ("bad_nonce") or the wallet's */
    char msg[WAL_ERR_MSG_BYTES];    /* one line, no trailing newline */
};

/* Records an error (printf format) and returns `exit`. */
int wal_fail(struct wal_err *e, int exit, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The symbolic name of an exit code ("network"); "unknown" outside the enum. Static. */
const char *wal_exit_name(int exit);

/* ------------------------------------------------------------------------------------------ */
/* Limits                                                                                        */

#define WAL_URL_BYTES_MAX 512
#define WAL_PATH_BYTES_MAX 4096
#define WAL_NODES_MAX 16              /* --node given to `watch` */
#define WAL_APPROVALS_MAX SQ_GOV_KEYS_MAX
#define WAL_FILE_BYTES_MAX (LDG_RECEIPT_BYTES_MAX * 2 + 4096) /* a receipt file in hex JSON */
#define WAL_WAIT_POLL_MS_MAX 10000    /* one long-poll (the API's default bound) */
#define WAL_RETRIES_MAX 64            /* reconnection attempts for one request */
#define WAL_BLOCKS_PAGE 100           /* blocks per GET /v1/blocks (the API's bound) */
#define WAL_TTL_BLOCKS_DEFAULT 1000   /* a transaction's expiry: node height + this */

/* ------------------------------------------------------------------------------------------ */
/* Configuration: flags, then environment, then the config file, then defaults                   */

struct wal_config {
    char node[WAL_URL_BYTES_MAX];         /* base URL of a validator's API */
    char keystore[WAL_PATH_BYTES_MAX];    /* the key file */
    char genesis[WAL_PATH_BYTES_MAX];     /* a genesis file ("" if none) */
    char passphrase_file[WAL_PATH_BYTES_MAX];
    char file[WAL_PATH_BYTES_MAX];        /* the config file read ("" if none) */
    const char *node_from;                /* "flag", "env", "config" or "default" */
    const char *keystore_from;
};

#define WAL_NODE_DEFAULT "http://127.0.0.1:8501"
#define WAL_ENV_NODE "SQUALL_NODE"
#define WAL_ENV_KEYSTORE "SQUALL_KEYSTORE"
#define WAL_ENV_GENESIS "SQUALL_GENESIS"
#define WAL_ENV_CONFIG "SQUALL_CONFIG"
#define WAL_ENV_PASSPHRASE "SQUALL_PASSPHRASE"

/* Completes `cfg`, whose non-empty fields came from flags: each empty field is taken from the
 * environment (SQUALL_NODE, SQUALL_KEYSTORE, SQUALL_GENESIS), then from the config file (the
 * path `config_path` if not NULL, else $SQUALL_CONFIG, else ~/.squall/config when it exists),
 * then from defaults (node WAL_NODE_DEFAULT, keystore ~/.squall/wallet.key). The config file holds
 * `key = value` lines (node, keystore, genesis, passphrase_file) and # comments; an unknown key or
 * a malformed line is WAL_EXIT_USAGE naming the line; an unreadable named file WAL_EXIT_IO. */
int wal_config_resolve(struct wal_config *cfg, const char *config_path, struct wal_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Keys                                                                                          */

/* A passphrase in secure memory. */
struct wal_secret {
    char *data; /* sqc_secure_alloc'd, NUL-terminated; NULL when empty */
    size_t size;
};
/* Gets a passphrase: from `file` if not NULL (first line), else from $SQUALL_PASSPHRASE, else by
 * prompting on the terminal with echo off (twice when `confirm`). WAL_EXIT_KEY when none can be
 * had (no terminal: the message suggests --passphrase-file), WAL_EXIT_IO for an unreadable file. */
int wal_passphrase_get(const char *file, const char *prompt, bool confirm, struct wal_secret *out,
                       struct wal_err *e);
/* Wipes and frees; safe on a zeroed struct and twice. */
void wal_secret_free(struct wal_secret *s);

/* Makes a new key and writes it to `path` (its folder is created 0700 if missing; an existing
 * file is never overwritten: WAL_EXIT_IO). Encrypted with a passphrase (see wal_passphrase_get,
 * asked twice) unless `plain`. pk receives the public key. */
int wal_keygen(const char *path, bool plain, enum sqc_kdf_cost cost, const char *pass_file,
               uint8_t pk[SQC_PK_BYTES], struct wal_err *e);
/* Loads the key in `path` (asking for its passphrase only if it is encrypted). A wrong passphrase
 * is WAL_EXIT_KEY with code "wrong_passphrase"; a missing file WAL_EXIT_KEY "no_keystore"; a
 * damaged one WAL_EXIT_KEY "bad_keystore". *kp is the caller's to free with sqc_keypair_free. */
int wal_key_load(const char *path, const char *pass_file, struct sqc_keypair *kp,
                 struct wal_err *e);
/* The public key stored in a key file's header (docs/formats.md, "Key file"), read without the
 * passphrase. It is authenticated only when the key is loaded; for display and queries. */
int wal_key_public(const char *path, uint8_t pk[SQC_PK_BYTES], struct wal_err *e);
/* Parses 64 hex digits. WAL_EXIT_USAGE naming `what` otherwise. */
int wal_pk_parse(const char *text, const char *what, uint8_t pk[SQC_PK_BYTES], struct wal_err *e);
/* Parses a whole decimal number (no sign, no spaces) into *out. */
int wal_u64_parse(const char *text, const char *what, uint64_t *out, struct wal_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Local files                                                                                   */

/* Reads a whole file of at most `max` bytes (*data malloc'd with a NUL after it). WAL_EXIT_IO. */
int wal_file_read(const char *path, size_t max, uint8_t **data, size_t *size, struct wal_err *e);
/* Writes a file atomically (temporary beside it, fsync, rename), mode 0644, refusing to replace an
 * existing file unless `replace`. WAL_EXIT_IO. */
int wal_file_write(const char *path, const void *data, size_t size, bool replace,
                   struct wal_err *e);
/* Loads a genesis file (WAL_EXIT_IO with the ledger's reason when it does not parse). */
int wal_genesis_load(const char *path, struct ldg_genesis **out, struct wal_err *e);

/* ------------------------------------------------------------------------------------------ */
/* The node: a client of docs/api.md                                                             */

struct wal_node;

/* A client for the API at `url` ("http://127.0.0.1:8501"). `timeout_ms` bounds each request
 * (0: 15 s). Requests that fail to connect or lose their connection are retried, backing off
 * from 100 ms to 2 s, where doing so is idempotent (see wal_node_set_retry_ms). */
int wal_node_open(const char *url, unsigned timeout_ms, struct wal_node **out, struct wal_err *e);
void wal_node_close(struct wal_node *n);
/* How long one request keeps retrying a failed connection (default 1.5 s; at most
 * WAL_RETRIES_MAX attempts). wal_send raises it to its own timeout while it submits. */
void wal_node_set_retry_ms(struct wal_node *n, unsigned retry_ms);
const char *wal_node_url(const struct wal_node *n);
/* Counts of what the client did (for tests and --json): requests sent, retries after a lost
 * connection, resubmissions of a transaction the node no longer knew. */
struct wal_node_stats {
    unsigned requests;
    unsigned retries;
    unsigned resubmits;
};
const struct wal_node_stats *wal_node_stats(const struct wal_node *n);

/* GET `path`: on a 2xx answer *out is the parsed body (caller json_decref's). An API error is
 * WAL_EXIT_REFUSED with the node's code and message; not being able to talk to the node (after
 * retries) WAL_EXIT_NETWORK; a 2xx body that is not JSON WAL_EXIT_NETWORK. `timeout_ms` 0 uses
 * the client's. Lost connections and the API's transient answers (503 not_ready/shutting_down,
 * 429 mempool_full/rate_limited) are retried within the retry budget. */
int wal_node_get(struct wal_node *n, const char *path, unsigned timeout_ms, struct json_t **out,
                 struct wal_err *e);
/* POST; retried on a lost connection only when `idempotent`. */
int wal_node_post(struct wal_node *n, const char *path, const struct json_t *body,
                  bool idempotent, struct json_t **out, struct wal_err *e);

struct wal_status {
    char chain_id[SQ_CHAIN_ID_BYTES_MAX + 1];
    uint32_t validator_id;
    uint64_t ordered;
    uint64_t persisted;
    uint64_t final;
    uint64_t view_id;
    bool ready;
};
int wal_node_status(struct wal_node *n, struct wal_status *st, struct wal_err *e);

struct wal_account {
    uint64_t balance;
    uint64_t nonce;         /* last nonce applied in an ordered block */
    uint64_t pending_nonce; /* also counting accepted transactions */
    bool client;
};
int wal_node_account(struct wal_node *n, const uint8_t pk[SQC_PK_BYTES], struct wal_account *a,
                     struct wal_err *e);

/* The genesis the node runs with (GET /v1/genesis), parsed. */
int wal_node_genesis(struct wal_node *n, struct ldg_genesis **out, struct wal_err *e);

/* A transaction's state as the node reports it. */
enum wal_tx_state {
    WAL_TX_UNKNOWN = 0,
    WAL_TX_ACCEPTED,
    WAL_TX_ORDERED,
    WAL_TX_PERSISTED,
    WAL_TX_FINAL,
    WAL_TX_FAILED,
    WAL_TX_EXPIRED,
};
/* "accepted", ...; "unknown". Static. */
const char *wal_tx_state_name(enum wal_tx_state s);
/* Parses a state name; WAL_TX_UNKNOWN for anything else. */
enum wal_tx_state wal_tx_state_parse(const char *name);
/* True when `s` needs no more waiting for `want` (ORDERED < PERSISTED < FINAL; FAILED and EXPIRED
 * end every wait). */
bool wal_tx_state_reached(enum wal_tx_state s, enum wal_tx_state want);

struct wal_tx_info {
    uint8_t id[LDG_HASH_BYTES];
    enum wal_tx_state state;
    bool placed; /* height, index, result and block_hash are known */
    uint64_t height;
    uint32_t index;
    char result[32];
    bool has_block_hash;
    uint8_t block_hash[LDG_HASH_BYTES];
};
/* GET /v1/tx/{id}, held by the node until `want` (WAL_TX_UNKNOWN: not held) or wait_ms. */
int wal_node_tx(struct wal_node *n, const uint8_t id[LDG_HASH_BYTES], enum wal_tx_state want,
                unsigned wait_ms, struct wal_tx_info *info, struct wal_err *e);
/* POST /v1/tx. 202 and 409 `duplicate` both mean the node holds these bytes (*duplicate tells
 * which). A lost connection is retried with the same bytes: resubmitting is idempotent. The id
 * the node returns must be the one computed here (WAL_EXIT_NETWORK otherwise). */
int wal_node_submit(struct wal_node *n, const uint8_t *tx, size_t size,
                    const uint8_t id[LDG_HASH_BYTES], bool *duplicate, struct wal_err *e);
/* GET /v1/tx/{id}/receipt: *data malloc'd. 409 not_final is WAL_EXIT_REFUSED code "not_final". */
int wal_node_receipt(struct wal_node *n, const uint8_t id[LDG_HASH_BYTES], uint8_t **data,
                     size_t *size, uint64_t *height, uint64_t *certified_height,
                     struct wal_err *e);

/* An RFC 6962 consistency proof between the chains of `from_size` and `to_size` blocks. */
struct wal_consistency {
    uint64_t from_size;
    uint64_t to_size;
    uint8_t root_from[LDG_HASH_BYTES];
    uint8_t root_to[LDG_HASH_BYTES];
    size_t path_count;
    uint8_t path[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES];
};
/* GET /v1/proof/consistency?from=&to= (sizes: a chain up to height H has H + 1 blocks). */
int wal_node_consistency(struct wal_node *n, uint64_t from_size, uint64_t to_size,
                         struct wal_consistency *p, struct wal_err *e);
/* Checks a proof; `trusted_from` / `trusted_to` (may be NULL) are roots the caller holds from
 * elsewhere and must equal the proof's. WAL_EXIT_FAULT naming what fails. */
int wal_consistency_check(const struct wal_consistency *p, const uint8_t *trusted_from,
                          const uint8_t *trusted_to, struct wal_err *e);

/* Block `height`'s hash as the node reports it (GET /v1/blocks/{height}), checked against the
 * canonical encoding it also sends. */
int wal_node_block_hash(struct wal_node *n, uint64_t height, uint8_t hash[LDG_HASH_BYTES],
                        struct wal_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Transactions                                                                                  */

/* Starts a transaction of `kind` for chain `chain_id` from `sender` (zeroes the rest). */
void wal_tx_init(struct ldg_tx *tx, uint8_t kind, const char *chain_id,
                 const uint8_t sender[SQC_PK_BYTES], uint64_t nonce, uint64_t expiry_height);
/* Kind names used on the command line and in files: "transfer", "mint", "admit_client",
 * "remove_client", "admit_validator", "remove_validator". */
const char *wal_tx_kind_name(uint8_t kind);
uint8_t wal_tx_kind_parse(const char *name); /* 0 if unknown */

/* Signs `tx` with `kp` (tx->sender must be kp's key) and encodes it into buf (SQ_TX_BYTES_MAX);
 * id receives the transaction id. WAL_EXIT_USAGE when a field is out of range. */
int wal_tx_seal(struct ldg_tx *tx, const struct sqc_keypair *kp, uint8_t *buf, size_t *size,
                uint8_t id[LDG_HASH_BYTES], struct wal_err *e);

/* Adds governance approvals to a permission change. `g` gives the governance keys; a key's index
 * is its position there. Duplicates of an index already present are WAL_EXIT_USAGE. */
int wal_gov_approve_key(struct ldg_tx *tx, const struct ldg_genesis *g,
                        const struct sqc_keypair *gov, struct wal_err *e);
/* Adds an approval read from a partial-signature file after checking it: same digest, a key of
 * `g` at the index it claims, a good signature (WAL_EXIT_FAULT otherwise). */
int wal_gov_approve_file(struct ldg_tx *tx, const struct ldg_genesis *g, const char *path,
                         struct wal_err *e);
/* Writes the partial-signature file of governance key `gov` for `tx` (JSON, docs/wallet.md). */
int wal_gov_partial_write(const struct ldg_tx *tx, const struct ldg_genesis *g,
                          const struct sqc_keypair *gov, const char *path, struct wal_err *e);
/* A proposal file: a permission change's fields before any approval, so that governance key
 * holders sign the same digest (JSON, docs/wallet.md). */
int wal_proposal_write(const struct ldg_tx *tx, const char *path, struct wal_err *e);
int wal_proposal_read(const char *path, struct ldg_tx *tx, struct wal_err *e);
/* JSON description of a transaction (kind, sender, nonce, expiry, payload, approvals). */
struct json_t *wal_tx_json(const struct ldg_tx *tx);

struct wal_send_opts {
    bool nonce_given;       /* else: the node's pending_nonce + 1 */
    uint64_t nonce;
    uint64_t expiry_height; /* 0: the node's ordered height + ttl_blocks */
    uint64_t ttl_blocks;    /* 0: WAL_TTL_BLOCKS_DEFAULT */
    enum wal_tx_state wait; /* WAL_TX_UNKNOWN: do not wait; else ORDERED, PERSISTED or FINAL */
    unsigned timeout_ms;    /* for submitting and waiting together; 0: 60 s */
};

struct wal_send_result {
    uint8_t id[LDG_HASH_BYTES];
    uint64_t nonce;
    uint64_t expiry_height;
    bool duplicate;         /* the node already held these bytes */
    struct wal_tx_info info; /* the last state seen */
};

/* Fills the chain id (from the node's status when tx->chain_id_size is 0), nonce and expiry,
 * signs with `kp`, submits, and waits for opts->wait. Lost connections are retried with the same
 * bytes (the id does not change); if the node no longer knows the id while waiting (it restarted
 * before ordering it) the same bytes are submitted again. Returns WAL_EXIT_OK when the state was
 * reached, WAL_EXIT_FAULT when the transaction failed or expired (result in r->info),
 * WAL_EXIT_TIMEOUT when the time ran out first (r->info holds the last state), or the submit's
 * error. r is filled as far as the call got. */
int wal_send(struct wal_node *n, struct ldg_tx *tx, const struct sqc_keypair *kp,
             const struct wal_send_opts *opts, struct wal_send_result *r, struct wal_err *e);
/* Waits for transaction `id` to reach `want` within timeout_ms (re-polling and reconnecting).
 * Return values as wal_send. `resubmit` (may be NULL) holds the encoded transaction to send
 * again if the node answers not_found. */
int wal_tx_wait(struct wal_node *n, const uint8_t id[LDG_HASH_BYTES], enum wal_tx_state want,
                unsigned timeout_ms, const uint8_t *resubmit, size_t resubmit_size,
                struct wal_tx_info *info, struct wal_err *e);

/* ------------------------------------------------------------------------------------------ */
/* Receipts                                                                                      */

/* Writes a receipt file: JSON {"format": "squall-receipt", "version": 1, "id", "height",
 * "certified_height", "receipt": hex}. */
int wal_receipt_save(const char *path, const uint8_t id[LDG_HASH_BYTES], uint64_t height,
                     uint64_t certified_height, const uint8_t *receipt, size_t size, bool replace,
                     struct wal_err *e);
/* Reads a receipt file: the JSON form above, a file of bare hex, or the raw encoding. *data is
 * malloc'd. *has_id tells whether the file names a transaction id (then in id). */
int wal_receipt_load(const char *path, uint8_t **data, size_t *size, bool *has_id,
                     uint8_t id[LDG_HASH_BYTES], struct wal_err *e);
/* Verifies a receipt against `g` alone (ldg_receipt_verify) and, if `claimed_id` is not NULL,
 * that it proves that transaction. WAL_EXIT_FAULT with the ledger's reason (what, where). */
int wal_receipt_check(const struct ldg_genesis *g, const uint8_t *data, size_t size,
                      const uint8_t *claimed_id, struct ldg_receipt_info *info,
                      struct wal_err *e);
struct json_t *wal_receipt_json(const struct ldg_receipt_info *info);

/* ------------------------------------------------------------------------------------------ */
/* Progress bar (drawn on a terminal only)                                                       */

struct wal_progress {
    int fd;            /* where to draw; -1: nowhere */
    bool drawn;        /* a line is on screen */
    double start_s;    /* monotonic */
    double last_draw_s;
    uint64_t start_height;
    const char *label;
};

/* Starts a bar drawn on `fd` when `enabled` (callers pass isatty(fd) unless told otherwise). */
void wal_progress_init(struct wal_progress *p, int fd, bool enabled, const char *label);
/* Redraws (at most ten times a second, and always when height == tip). */
void wal_progress_update(struct wal_progress *p, uint64_t height, uint64_t tip, uint64_t txs);
/* Erases the bar so that the summary starts on a clean line. */
void wal_progress_finish(struct wal_progress *p);
/* Formats one bar line (no control characters) for a terminal `width` columns wide: a bar, the
 * percentage, the height, transactions per second and the time left. Returns the length. Pure. */
size_t wal_progress_format(char *buf, size_t cap, unsigned width, const char *label,
                           uint64_t height, uint64_t tip, uint64_t txs, double elapsed_s,
                           uint64_t heights_done);
/* Monotonic seconds. */
double wal_now_s(void);

/* ------------------------------------------------------------------------------------------ */
/* Audit                                                                                         */

struct wal_audit_opts {
    unsigned threads;   /* verification threads; 0: one per online core */
    int progress_fd;    /* -1: no progress bar */
    const char *scratch_dir; /* --node: where the replay store is built (NULL: a temp dir, removed) */
    uint64_t to_height; /* --node: audit up to here (0: the node's final height) */
};

struct wal_audit_result {
    struct ldg_audit_report rep; /* counts, and the first fault when the audit fails */
    double seconds;
    double tx_per_s;
    uint8_t genesis_digest[LDG_HASH_BYTES];
    uint8_t tip_hash[LDG_HASH_BYTES];
    uint8_t acc_root[LDG_HASH_BYTES]; /* the accumulator over heights 0..tip */
    uint64_t certified_height;
};

/* Resolves --data DIR: the LMDB folder itself, or a validator home holding data/. */
int wal_data_dir(const char *dir, char *out, size_t cap, struct wal_err *e);
/* Audits the store in `dir` opened read-only (also while its validator runs) against `g`.
 * WAL_EXIT_OK, WAL_EXIT_FAULT with r->rep naming height, what and why, or WAL_EXIT_IO when the
 * store cannot be opened (not a store, another genesis: the message says which). */
int wal_audit_data(const char *dir, const struct ldg_genesis *g, const struct wal_audit_opts *o,
                   struct wal_audit_result *r, struct wal_err *e);
/* Audits a node's chain over the API: every block is fetched, decoded and replayed from genesis
 * into a scratch store with the ledger's own state machine (batch and transaction signatures,
 * Merkle roots, results, state transitions, view changes), the replayed block hashes must equal
 * the node's, and every certificate the node serves is verified against its view's members and
 * the replayed chain. Return values as wal_audit_data, plus the node's errors. */
int wal_audit_node(struct wal_node *n, const struct ldg_genesis *g, const struct wal_audit_opts *o,
                   struct wal_audit_result *r, struct wal_err *e);
struct json_t *wal_audit_json(const struct wal_audit_result *r, bool ok);
/* Asks a running audit to stop at its next progress report (async-signal-safe: for SIGINT). */
void wal_audit_interrupt(void);

#endif
