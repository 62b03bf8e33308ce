/* wallet-cli/ internals shared by the library's files. Not for callers. */
#ifndef SQ_WALLET_WALLET_INT_H
#define SQ_WALLET_WALLET_INT_H

#include <jansson.h>

#include "wallet-cli/wallet.h"

void wal_sleep_ms(unsigned ms);
/* Counts a resubmission in the node's stats. */
void wal_node_count_resubmit(struct wal_node *n);
/* Lowercase hex of `size` bytes into out (cap >= 2 * size + 1). */
void wal_hex(char *out, size_t cap, const uint8_t *data, size_t size);

/* Fields of an answer from the node; a missing or malformed field is WAL_EXIT_NETWORK. */
int wal_json_u64(const json_t *obj, const char *key, bool required, uint64_t *out,
                 struct wal_err *e);
int wal_json_hash(const json_t *obj, const char *key, uint8_t out[LDG_HASH_BYTES],
                  struct wal_err *e);
/* A hex field of at most `max` decoded bytes (*data malloc'd). */
int wal_json_hex(const json_t *obj, const char *key, size_t max, uint8_t **data, size_t *size,
                 struct wal_err *e);
int wal_tx_info_parse(const json_t *j, struct wal_tx_info *info, struct wal_err *e);

/* A hash as a JSON string (new reference). */
json_t *wal_json_hash_new(const uint8_t *hash, size_t size);

#endif
