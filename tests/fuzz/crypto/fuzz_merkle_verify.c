/* Fuzzes both Merkle proof verifiers. Raw mode reads sizes, index, roots and a path straight from
 * the input (any values: zero, huge, inconsistent); they must only ever answer SQ_OK or SQ_EPROOF.
 * Tree mode builds a real tree of up to 64 leaves, edits its correct proof with the input, and
 * checks the oracle: a path that verifies against the true roots is the correct proof. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/limits.h"
#include "crypto/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TREE_MAX 64
#define PATH_ROOM (SQ_MERKLE_DEPTH_MAX + 8)
static uint8_t leaves[TREE_MAX + 1][SQC_HASH_BYTES];
static uint8_t roots[TREE_MAX + 1][SQC_HASH_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    SQ_ASSERT(sqc_init() == SQ_OK);
    struct sqc_merkle_acc acc;
    sqc_merkle_acc_init(&acc);
    for (uint8_t i = 0; i <= TREE_MAX; i++) {
        sqc_merkle_acc_root(&acc, roots[i]);
        sqc_merkle_leaf_hash(leaves[i], &i, 1);
        sqc_merkle_acc_append(&acc, leaves[i]);
    }
    return 0;
}

static void raw_mode(const uint8_t *data, size_t size)
{
    struct sq_dec d;
    sq_dec_init(&d, data, size);
    uint64_t a;
    uint64_t b;
    uint8_t count;
    sq_dec_u64(&d, &a);
    sq_dec_u64(&d, &b);
    sq_dec_u8(&d, &count);
    uint8_t r1[SQC_HASH_BYTES] = {0};
    uint8_t r2[SQC_HASH_BYTES] = {0};
    sq_dec_bytes(&d, r1, sizeof(r1));
    sq_dec_bytes(&d, r2, sizeof(r2));
    uint8_t path[PATH_ROOM][SQC_HASH_BYTES];
    memset(path, 0, sizeof(path));
    size_t path_count = count % PATH_ROOM;
    for (size_t i = 0; i < path_count && sq_dec_left(&d) >= SQC_HASH_BYTES; i++) {
        sq_dec_bytes(&d, path[i], SQC_HASH_BYTES);
    }
    int rc = sqc_merkle_inclusion_verify(r1, a, b, (const uint8_t(*)[SQC_HASH_BYTES])path,
                                         path_count, r2);
    SQ_ASSERT(rc == SQ_OK || rc == SQ_EPROOF);
    rc = sqc_merkle_consistency_verify(a, b, r1, r2, (const uint8_t(*)[SQC_HASH_BYTES])path,
                                       path_count);
    SQ_ASSERT(rc == SQ_OK || rc == SQ_EPROOF);
}

static void tree_mode(const uint8_t *data, size_t size)
{
    if (size < 4) {
        return;
    }
    uint64_t n = 1 + data[0] % TREE_MAX;
    uint64_t m = data[1] % n;   /* leaf index; the old size is m + 1 */
    size_t extra = data[2] % 3; /* 0: as is, 1: one hash dropped, 2: one added */
    data += 4;
    size -= 4;
    uint8_t path[PATH_ROOM][SQC_HASH_BYTES];
    uint8_t proof[PATH_ROOM][SQC_HASH_BYTES];
    size_t count = 0;
    const bool inclusion = data[-1] & 1;
    if (inclusion) {
        SQ_ASSERT(sqc_merkle_inclusion_proof(m, n, sqc_merkle_leaf_from_array, leaves, proof,
                                             &count) == SQ_OK);
    } else {
        SQ_ASSERT(sqc_merkle_consistency_proof(m + 1, n, sqc_merkle_leaf_from_array, leaves, proof,
                                               &count) == SQ_OK);
    }
    memcpy(path, proof, count * SQC_HASH_BYTES);
    size_t path_count = count;
    if (extra == 1 && path_count > 0) {
        path_count--;
    } else if (extra == 2) {
        memset(path[path_count], 0x33, SQC_HASH_BYTES);
        path_count++;
    }
    for (size_t i = 0; i < size && i < path_count * SQC_HASH_BYTES; i++) {
        path[i / SQC_HASH_BYTES][i % SQC_HASH_BYTES] ^= data[i];
    }
    int rc;
    if (inclusion) {
        rc = sqc_merkle_inclusion_verify(leaves[m], m, n, (const uint8_t(*)[SQC_HASH_BYTES])path,
                                         path_count, roots[n]);
    } else {
        rc = sqc_merkle_consistency_verify(m + 1, n, roots[m + 1], roots[n],
                                           (const uint8_t(*)[SQC_HASH_BYTES])path, path_count);
    }
    bool same = path_count == count && memcmp(path, proof, count * SQC_HASH_BYTES) == 0;
    SQ_ASSERT(rc == (same ? SQ_OK : SQ_EPROOF));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if (data[0] & 1) {
        tree_mode(data + 1, size - 1);
    } else {
        raw_mode(data + 1, size - 1);
    }
    return 0;
}
