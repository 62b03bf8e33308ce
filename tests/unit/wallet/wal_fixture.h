/* Chains for the wallet's tests and the audit benchmark, built directly with the ledger library:
 * a genesis with seeded keys, batches of signed transfers, an optional view change that admits a
 * fourth validator, finality certificates, all committed to a real LMDB store. Deterministic.
 * No cmocka here: functions return sq_err codes (reason in ldg_errmsg()). */
#ifndef SQ_TESTS_WAL_FIXTURE_H
#define SQ_TESTS_WAL_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "ledger/ledger.h"

#define FX_CHAIN "squall-wallet-test"
#define FX_VALIDATORS 3
#define FX_GOV 3         /* threshold 2 */
#define FX_ISSUERS 1

/* The seeded key of a role ("val", "client", "issuer", "gov", "other") and index. Cached for the
 * process; do not free. */
const struct sqc_keypair *fx_key(const char *role, unsigned index);

struct fx_opts {
    unsigned clients;        /* permissioned clients, each with `balance` (default 8, 1000) */
    uint64_t balance;
    unsigned blocks;         /* batch blocks of transfers */
    unsigned txs_per_block;
    bool view_change;        /* block 1 admits validator 4 (governance), block 2 installs view 1 */
    unsigned finalize_every; /* every N blocks all members sign (0: only the last block) */
    bool skip_verify;        /* apply without verifying signatures (fast, for big stores) */
    unsigned commit_every;   /* blocks per commit group (default 64) */
    unsigned sign_threads;   /* threads signing transfers (default 1) */
    bool quiet;              /* no progress on stderr */
};

struct fx_chain {
    char dir[4096];
    struct ldg_genesis *g;
    uint64_t tip;
    uint64_t txs;
    uint8_t first_txid[LDG_HASH_BYTES]; /* the first transfer (block 1, or 3 with a view change) */
    uint64_t first_height;
    uint8_t last_txid[LDG_HASH_BYTES];  /* the last transfer */
    uint64_t last_height;
};

/* The genesis: FX_VALIDATORS validators (ids 1..3, keys "val" 0..2), one issuer, FX_GOV
 * governance keys (threshold 2), `clients` permissioned clients with `balance` each. */
struct ldg_genesis *fx_genesis(unsigned clients, uint64_t balance);

/* Builds a chain in the existing empty folder `dir`. The store is closed when it returns. */
int fx_chain_build(const char *dir, const struct fx_opts *o, struct fx_chain *out);
void fx_chain_free(struct fx_chain *c);

/* Writes g as JSON to `path`. */
int fx_genesis_write(const struct ldg_genesis *g, const char *path);
/* Writes a key as a plain (unencrypted) key file. */
int fx_keyfile_write(const struct sqc_keypair *kp, const char *path);

/* Flips one bit of a record of the store in `dir` with LMDB directly (the store must not be open
 * elsewhere for writing): database `db` ("bodies", "headers", "accounts", ...), `key`, the byte
 * `offset_from_end` bytes before the value's end. Heights are 8-byte big-endian keys
 * (fx_height_key). SQ_ENOTFOUND when the record is missing. */
int fx_store_tamper(const char *dir, const char *db, const uint8_t *key, size_t key_size,
                    size_t offset_from_end);
void fx_height_key(uint64_t height, uint8_t key[8]);

/* A new folder under $TMPDIR (or /tmp), and its removal with everything in it (one level of
 * sub-folders). */
int fx_mkdtemp(char *out, size_t cap, const char *label);
void fx_rmtree(const char *dir);

#endif
