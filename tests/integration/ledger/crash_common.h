/* Shared by the crash test and its child: the genesis and keys both sides derive from seeds. */
#ifndef SQ_TESTS_LDG_CRASH_COMMON_H
#define SQ_TESTS_LDG_CRASH_COMMON_H

#include "crypto/crypto.h"
#include "ledger/ledger.h"

#define CRASH_VALIDATORS 3
#define CRASH_CLIENTS 8

/* Seeded keys ("val", "client"); cached, not to be freed. NULL if the cache is full. */
const struct sqc_keypair *crash_key(const char *role, unsigned index);
/* The genesis both processes use (allocated; ldg_genesis_free). NULL on failure. */
struct ldg_genesis *crash_genesis(void);

#endif
