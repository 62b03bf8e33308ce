/* Helpers shared by the ledger tests: seeded keys, a genesis, signed transactions and batches,
 * temporary store directories. Everything is deterministic. */
#ifndef SQ_TESTS_LDG_TEST_H
#define SQ_TESTS_LDG_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "ledger/ledger.h"

#define T_VALIDATORS 3
#define T_ISSUERS 2
#define T_GOV 3
#define T_CLIENTS 8
#define T_CHAIN "squall-test"

/* Seeded keys: role is a label ("val", "client", ...). The key pair is cached; do not free. */
const struct sqc_keypair *t_key(const char *role, unsigned index);

/* Fails the test (cmocka) on a non-OK code, printing ldg_errmsg(). */
#define T_OK(expr)                                                                                 \
    do {                                                                                           \
        int t_rc_ = (expr);                                                                        \
        if (t_rc_ != 0) {                                                                          \
            fail_msg("%s -> %s: %s", #expr, sq_errname(t_rc_), ldg_errmsg());                      \
        }                                                                                          \
    } while (0)

/* A genesis: T_VALIDATORS validators (ids 1..n, keys "val"), T_ISSUERS issuers ("issuer"),
 * T_GOV governance keys ("gov", threshold 2), clients "client" 0..T_CLIENTS-1 permissioned (unless
 * open), each with balance 1000. */
struct ldg_genesis *t_genesis(bool open);
struct ldg_genesis *t_genesis_n(bool open, unsigned validators, unsigned clients, uint64_t balance);

/* A signed transfer / mint / governance transaction, encoded into buf (SQ_TX_BYTES_MAX). */
size_t t_transfer(uint8_t *buf, const struct sqc_keypair *from, const uint8_t to[32],
                  uint64_t amount, uint64_t nonce, uint64_t expiry);
size_t t_mint(uint8_t *buf, const struct sqc_keypair *issuer, const uint8_t to[32], uint64_t amount,
              uint64_t nonce);
/* kind: admit/remove client/validator; approvals by gov keys listed in gov_mask bits. */
size_t t_gov(uint8_t *buf, uint8_t kind, const struct sqc_keypair *sender, uint64_t nonce,
             const uint8_t target[32], uint32_t validator_id, const char *addr, unsigned gov_mask);
/* Fills a tx struct's common fields. */
void t_tx_init(struct ldg_tx *tx, uint8_t kind, const struct sqc_keypair *sender, uint64_t nonce,
               uint64_t expiry);

/* A batch of the given transactions proposed by validator `proposer` (1-based id; key "val"
 * proposer-1). *size receives its length; the buffer is malloc'd. */
uint8_t *t_batch(uint32_t proposer, uint64_t seq, const struct ldg_bytes *txs, size_t count,
                 size_t *size);
/* A batch of one transaction. */
uint8_t *t_batch1(uint32_t proposer, uint64_t seq, const uint8_t *tx, size_t tx_size, size_t *size);

/* Applies a batch of the given txs in the current view; returns the block's results in res (if not
 * NULL). Fails the test on error. */
void t_apply(struct ldg_store *s, uint32_t proposer, const struct ldg_bytes *txs, size_t count,
             uint8_t *res);
/* Every member of the current view signs the newest applied block. */
void t_finalize(struct ldg_store *s);

/* Temporary directories (mkdtemp under $TMPDIR or /tmp); t_rmdir removes the store files. */
char *t_mkdtemp(void);
void t_rmdir(char *dir);

/* Opens a fresh store with `g` in a new temp dir (*dir receives it). */
struct ldg_store *t_open(struct ldg_genesis *g, char **dir);

/* Test setup: sqc_init once. */
int t_setup(void **state);

#endif
