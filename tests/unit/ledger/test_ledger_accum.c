/* The accumulator: roots and proofs built from stored perfect subtrees agree with crypto/'s
 * leaf-by-leaf RFC 6962 implementation, and verify; then the same through a real store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "ldg_test.h"
#include "ledger/ledger_int.h"

#define N_MAX 130

/* An in-memory node table filled by ldg_acc_append. */
struct table {
    uint8_t nodes[8][N_MAX][32];
    bool have[8][N_MAX];
};

static int node_from_table(void *arg, uint8_t level, uint64_t index, uint8_t out[32])
{
    struct table *t = arg;
    if (level >= 8 || index >= N_MAX || !t->have[level][index]) {
        return SQ_ENOTFOUND;
    }
    memcpy(out, t->nodes[level][index], 32);
    return SQ_OK;
}

static void test_against_crypto(void **state)
{
    (void)state;
    struct table *t = calloc(1, sizeof(*t));
    uint8_t(*data)[32] = malloc(N_MAX * 32);
    uint8_t(*leaves)[32] = malloc(N_MAX * 32);
    struct ldg_acc acc;
    struct sqc_merkle_acc cacc;
    ldg_acc_init(&acc);
    sqc_merkle_acc_init(&cacc);
    uint8_t a[SQ_MERKLE_DEPTH_MAX][32];
    uint8_t b[SQ_MERKLE_DEPTH_MAX][32];
    uint8_t(*roots)[32] = malloc((N_MAX + 1) * 32);
    for (uint64_t n = 1; n <= N_MAX; n++) {
        sqc_sha256(data[n - 1], &n, sizeof(n));
        sqc_merkle_leaf_hash(leaves[n - 1], data[n - 1], 32);
        struct ldg_mnode nodes[LDG_ACC_NODES_PER_APPEND];
        size_t count = ldg_acc_append(&acc, data[n - 1], nodes);
        for (size_t i = 0; i < count; i++) {
            memcpy(t->nodes[nodes[i].level][nodes[i].index], nodes[i].hash, 32);
            t->have[nodes[i].level][nodes[i].index] = true;
        }
        sqc_merkle_acc_append(&cacc, leaves[n - 1]);
        uint8_t r1[32];
        uint8_t r2[32];
        uint8_t r3[32];
        uint8_t r4[32];
        ldg_acc_root_of(&acc, r1);
        sqc_merkle_acc_root(&cacc, r2);
        T_OK(sqc_merkle_root(r3, n, sqc_merkle_leaf_from_array, leaves));
        T_OK(ldg_merkle_subtree(node_from_table, t, 0, n, r4));
        assert_memory_equal(r1, r2, 32);
        assert_memory_equal(r1, r3, 32);
        assert_memory_equal(r1, r4, 32);
        memcpy(roots[n], r1, 32);
        /* Inclusion of every leaf. */
        for (uint64_t i = 0; i < n; i++) {
            size_t ca;
            size_t cb;
            T_OK(ldg_merkle_inclusion(node_from_table, t, i, n, a, &ca));
            T_OK(sqc_merkle_inclusion_proof(i, n, sqc_merkle_leaf_from_array, leaves, b, &cb));
            assert_int_equal(ca, cb);
            assert_memory_equal(a, b, ca * 32);
            T_OK(sqc_merkle_inclusion_verify(leaves[i], i, n, (const uint8_t(*)[32])a, ca, r1));
        }
    }
    /* Consistency between every pair of sizes. */
    for (uint64_t n = 1; n <= N_MAX; n += (n < 40 ? 1 : 7)) {
        for (uint64_t m = 1; m <= n; m++) {
            size_t ca;
            size_t cb;
            T_OK(ldg_merkle_consistency(node_from_table, t, m, n, a, &ca));
            T_OK(sqc_merkle_consistency_proof(m, n, sqc_merkle_leaf_from_array, leaves, b, &cb));
            assert_int_equal(ca, cb);
            assert_memory_equal(a, b, ca * 32);
            T_OK(sqc_merkle_consistency_verify(m, n, roots[m], roots[n], (const uint8_t(*)[32])a,
                                               ca));
        }
    }
    size_t c;
    assert_int_equal(ldg_merkle_inclusion(node_from_table, t, 5, 5, a, &c), SQ_EINVAL);
    assert_int_equal(ldg_merkle_consistency(node_from_table, t, 0, 5, a, &c), SQ_EINVAL);
    assert_int_equal(ldg_merkle_consistency(node_from_table, t, 6, 5, a, &c), SQ_EINVAL);
    /* The encoded accumulator state round-trips. */
    uint8_t buf[SQ_MERKLE_DEPTH_MAX * 32 + 8];
    struct sq_enc enc;
    sq_enc_init(&enc, buf, sizeof(buf));
    ldg_acc_encode(&enc, &acc);
    struct sq_dec dec;
    sq_dec_init(&dec, buf, sq_enc_len(&enc));
    struct ldg_acc back;
    T_OK(ldg_acc_decode(&dec, &back));
    uint8_t r1[32];
    uint8_t r2[32];
    ldg_acc_root_of(&acc, r1);
    ldg_acc_root_of(&back, r2);
    assert_memory_equal(r1, r2, 32);
    free(roots);
    free(t);
    free(data);
    free(leaves);
}

static void test_store_proofs(void **state)
{
    (void)state;
    struct ldg_genesis *g = t_genesis(false);
    char *dir;
    struct ldg_store *s = t_open(g, &dir);
    uint8_t tx[SQ_TX_BYTES_MAX];
    uint8_t first_tx[SQ_TX_BYTES_MAX];
    size_t first_size = 0;
    for (unsigned i = 0; i < 37; i++) {
        size_t n = t_transfer(tx, t_key("client", i % T_CLIENTS), t_key("client", 0)->pk, 1,
                              1 + i / T_CLIENTS, 1000);
        if (i == 5) {
            memcpy(first_tx, tx, n);
            first_size = n;
        }
        struct ldg_bytes b = {tx, n};
        t_apply(s, 1 + i % 3, &b, 1, NULL);
        if (i % 10 == 9) {
            T_OK(ldg_commit(s, NULL));
        }
    }
    uint8_t root[32];
    /* Not durable yet. */
    assert_int_equal(ldg_acc_root(s, 38, root), SQ_EINVAL);
    T_OK(ldg_commit(s, NULL));
    uint64_t size = ldg_store_persisted_height(s) + 1;
    assert_int_equal(size, 38);
    uint8_t(*hashes)[32] = malloc(size * 32);
    uint8_t(*leaves)[32] = malloc(size * 32);
    for (uint64_t h = 0; h < size; h++) {
        struct ldg_header hdr;
        T_OK(ldg_header_get(s, h, &hdr, hashes[h]));
        sqc_merkle_leaf_hash(leaves[h], hashes[h], 32);
    }
    uint8_t path[SQ_MERKLE_DEPTH_MAX][32];
    size_t count;
    for (uint64_t n = 1; n <= size; n++) {
        uint8_t expect[32];
        T_OK(sqc_merkle_root(expect, n, sqc_merkle_leaf_from_array, leaves));
        T_OK(ldg_acc_root(s, n, root));
        assert_memory_equal(root, expect, 32);
        for (uint64_t h = 0; h < n; h += 3) {
            T_OK(ldg_acc_inclusion_proof(s, h, n, path, &count));
            T_OK(sqc_merkle_inclusion_verify(leaves[h], h, n, (const uint8_t(*)[32])path, count,
                                             root));
        }
        for (uint64_t m = 1; m <= n; m += 2) {
            uint8_t old_root[32];
            T_OK(ldg_acc_root(s, m, old_root));
            T_OK(ldg_acc_consistency_proof(s, m, n, path, &count));
            T_OK(sqc_merkle_consistency_verify(m, n, old_root, root, (const uint8_t(*)[32])path,
                                               count));
        }
    }
    /* A transaction's proof up to the accumulator. */
    uint8_t id[32];
    ldg_tx_id(first_tx, first_size, id);
    struct ldg_tx_proof *proof = malloc(sizeof(*proof));
    T_OK(ldg_tx_proof_build(s, id, size, proof));
    assert_int_equal(proof->hdr.height, 6);
    T_OK(ldg_acc_root(s, size, root));
    T_OK(ldg_tx_proof_verify(proof, first_tx, first_size, root));
    first_tx[30] ^= 1;
    assert_int_equal(ldg_tx_proof_verify(proof, first_tx, first_size, root), SQ_EPROOF);
    first_tx[30] ^= 1;
    root[0] ^= 1;
    assert_int_equal(ldg_tx_proof_verify(proof, first_tx, first_size, root), SQ_EPROOF);
    assert_int_equal(ldg_tx_proof_build(s, id, 6, proof), SQ_EINVAL);
    assert_int_equal(ldg_acc_inclusion_proof(s, size, size, path, &count), SQ_EINVAL);
    free(proof);
    free(hashes);
    free(leaves);
    ldg_store_close(s);
    t_rmdir(dir);
    ldg_genesis_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_crypto),
        cmocka_unit_test(test_store_proofs),
    };
    return cmocka_run_group_tests(tests, t_setup, NULL);
}
