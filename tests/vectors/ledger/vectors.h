/* The ledger's golden vectors: one deterministic generator (seeded keys, fixed times), used both by
 * the tool that writes tests/vectors/ledger/ and by the test that checks those files. */
#ifndef SQ_TESTS_LDG_VECTORS_H
#define SQ_TESTS_LDG_VECTORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

struct ldg_vec {
    char name[48]; /* file name in tests/vectors/ledger/ */
    uint8_t *data; /* the object's bytes (text files: the text itself) */
    size_t size;
    bool text; /* written as is (JSON) rather than as hex */
};

/* Builds every vector (a scratch store is made under `tmp_base` and removed). *out is malloc'd;
 * free with ldg_vec_free. Returns 0 or an sq_err code (reason in ldg_errmsg()). */
int ldg_vec_generate(const char *tmp_base, struct ldg_vec **out, size_t *count);
void ldg_vec_free(struct ldg_vec *v, size_t count);

/* The seeded key of a role ("val", "client", "issuer", "gov") and index (cached, do not free). */
const struct sqc_keypair *ldg_vec_key(const char *role, unsigned index);

#endif
