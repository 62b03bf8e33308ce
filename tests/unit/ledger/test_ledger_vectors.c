/* Golden vectors: the files in tests/vectors/ledger/ are regenerated and compared byte for byte,
 * and each one is decoded and re-encoded to the same bytes.
 *     test_ledger_vectors VECTOR_DIR */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "ldg_test.h"
#include "ledger/ledger_int.h"
#include "vectors.h"

static const char *dir_;

/* Reads a vector file: hex files decoded, text files as they are (without the final newline). */
static uint8_t *load(const char *name, size_t *size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir_, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    char *text = malloc(1 << 20);
    assert_non_null(text);
    size_t n = fread(text, 1, (1 << 20) - 1, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        n--;
    }
    text[n] = '\0';
    if (strstr(name, ".hex") == NULL) {
        *size = n;
        return (uint8_t *)text;
    }
    uint8_t *bin = malloc(n / 2 + 1);
    assert_non_null(bin);
    T_OK(sqc_hex_decode(bin, n / 2 + 1, text, n, size));
    free(text);
    return bin;
}

static void test_regenerate_matches_files(void **state)
{
    (void)state;
    const char *tmp = getenv("TMPDIR");
    struct ldg_vec *v;
    size_t count;
    T_OK(ldg_vec_generate(tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", &v, &count));
    assert_true(count >= 16);
    int bad = 0;
    for (size_t i = 0; i < count; i++) {
        size_t size;
        uint8_t *file = load(v[i].name, &size);
        if (size != v[i].size || memcmp(file, v[i].data, size) != 0) {
            print_error("vector %s differs from the generator (%zu vs %zu bytes)\n", v[i].name,
                        size, v[i].size);
            bad++;
        }
        free(file);
    }
    ldg_vec_free(v, count);
    assert_int_equal(bad, 0);
}

static void test_transactions_round_trip(void **state)
{
    (void)state;
    const char *names[] = {"tx_transfer.hex",        "tx_mint.hex",
                           "tx_admit_client.hex",    "tx_remove_client.hex",
                           "tx_admit_validator.hex", "tx_remove_validator.hex"};
    const uint8_t kinds[] = {LDG_TX_TRANSFER,        LDG_TX_MINT,
                             LDG_TX_ADMIT_CLIENT,    LDG_TX_REMOVE_CLIENT,
                             LDG_TX_ADMIT_VALIDATOR, LDG_TX_REMOVE_VALIDATOR};
    for (size_t i = 0; i < SQ_ARRAY_LEN(names); i++) {
        size_t size;
        uint8_t *bytes = load(names[i], &size);
        struct ldg_tx tx;
        T_OK(ldg_tx_check(bytes, size, &tx, NULL));
        assert_int_equal(tx.kind, kinds[i]);
        uint8_t again[SQ_TX_BYTES_MAX];
        size_t n;
        T_OK(ldg_tx_encode(&tx, again, sizeof(again), &n));
        assert_int_equal(n, size);
        assert_memory_equal(again, bytes, size);
        free(bytes);
    }
    /* A field read back from a vector, as a reader in another language would. */
    size_t size;
    uint8_t *bytes = load("tx_transfer.hex", &size);
    assert_int_equal(bytes[0], 1);  /* version */
    assert_int_equal(bytes[1], 1);  /* kind: transfer */
    assert_int_equal(bytes[2], 14); /* chain id length */
    assert_memory_equal(bytes + 3, "squall-vectors", 14);
    assert_memory_equal(bytes + 17, ldg_vec_key("client", 0)->pk, 32);
    assert_int_equal(sq_le64_load(bytes + 49), 1);   /* nonce */
    assert_int_equal(sq_le64_load(bytes + 57), 100); /* expiry */
    assert_int_equal(sq_le32_load(bytes + 65), 40);  /* payload size */
    assert_int_equal(sq_le64_load(bytes + 69 + 32), 250);
    assert_int_equal(size, 69 + 40 + 64);
    free(bytes);
}

static void test_batches_round_trip(void **state)
{
    (void)state;
    const char *names[] = {"batch_1.hex", "batch_3.hex"};
    for (size_t i = 0; i < SQ_ARRAY_LEN(names); i++) {
        size_t size;
        uint8_t *bytes = load(names[i], &size);
        struct ldg_batch b;
        T_OK(ldg_batch_decode(bytes, size, &b));
        const struct sqc_keypair *kp = ldg_vec_key("val", b.proposer - 1);
        T_OK(sqc_verify_digest(kp->pk, SQC_DOMAIN_BATCH, b.hash, b.sig));
        struct ldg_bytes txs[8];
        struct ldg_tx_iter it;
        ldg_tx_iter_init(&it, b.txs, b.txs_size, b.tx_count);
        size_t n = 0;
        while (ldg_tx_iter_next(&it, &txs[n])) {
            T_OK(ldg_tx_check(txs[n].data, txs[n].size, NULL, NULL));
            n++;
        }
        uint8_t *again = malloc(size);
        size_t again_size;
        T_OK(ldg_batch_encode(b.chain_id, b.chain_id_size, b.proposer, b.seq, b.timestamp_us, txs,
                              n, kp, again, size, &again_size));
        assert_int_equal(again_size, size);
        assert_memory_equal(again, bytes, size);
        free(again);
        free(bytes);
    }
}

static void test_blocks_round_trip(void **state)
{
    (void)state;
    const char *names[] = {"block_0.hex", "block_1.hex", "block_2_view.hex", "block_3.hex"};
    uint8_t prev[32] = {0};
    for (size_t i = 0; i < SQ_ARRAY_LEN(names); i++) {
        size_t size;
        uint8_t *bytes = load(names[i], &size);
        struct ldg_block blk;
        struct ldg_view *view = malloc(sizeof(*view));
        T_OK(ldg_block_decode(bytes, size, &blk, view));
        assert_int_equal(blk.hdr.height, i);
        if (i > 0) {
            assert_memory_equal(blk.hdr.prev_hash, prev, 32);
        }
        memcpy(prev, blk.hash, 32);
        uint8_t hb[LDG_HEADER_BYTES_MAX];
        size_t hn;
        T_OK(ldg_header_encode(&blk.hdr, hb, sizeof(hb), &hn));
        assert_int_equal(hn, blk.header_size);
        assert_memory_equal(hb, blk.header_bytes, hn);
        uint8_t *body = malloc(blk.body_size);
        size_t bn;
        if (blk.hdr.kind == LDG_BLOCK_VIEW) {
            T_OK(ldg_view_encode(view, body, blk.body_size, &bn));
        } else {
            sq_le32_store(body, blk.hdr.tx_count);
            memcpy(body + 4, blk.txs, blk.txs_size);
            memcpy(body + 4 + blk.txs_size, blk.results, blk.hdr.tx_count);
            bn = 4 + blk.txs_size + blk.hdr.tx_count;
        }
        assert_int_equal(bn, blk.body_size);
        assert_memory_equal(body, blk.body, bn);
        if (i == 1) {
            const uint8_t expect[] = {LDG_RESULT_OK, LDG_RESULT_OK, LDG_RESULT_OK, LDG_RESULT_OK,
                                      LDG_RESULT_INSUFFICIENT_FUNDS};
            assert_int_equal(blk.hdr.tx_count, 5);
            assert_memory_equal(blk.results, expect, 5);
        }
        if (i == 2) {
            assert_int_equal(view->view_id, 1);
            assert_int_equal(view->member_count, 4);
        }
        free(body);
        free(view);
        free(bytes);
    }
}

static void test_genesis_and_block0(void **state)
{
    (void)state;
    size_t size;
    char *json = (char *)load("genesis.json", &size);
    struct ldg_genesis *g;
    T_OK(ldg_genesis_parse(json, size, &g));
    size_t dsize;
    uint8_t *digest = load("genesis_digest.hex", &dsize);
    assert_int_equal(dsize, 32);
    assert_memory_equal(g->digest, digest, 32);
    char *again;
    T_OK(ldg_genesis_to_json(g, &again));
    assert_int_equal(strlen(again), size);
    assert_memory_equal(again, json, size);
    uint8_t buf[LDG_HEADER_BYTES_MAX + 16384];
    size_t hs;
    size_t bs;
    uint8_t hash[32];
    T_OK(ldg_genesis_block(g, buf, sizeof(buf), &hs, &bs, hash));
    size_t b0size;
    uint8_t *b0 = load("block_0.hex", &b0size);
    assert_int_equal(b0size, 8 + hs + bs);
    assert_memory_equal(b0 + 4, buf, hs);
    assert_memory_equal(b0 + 8 + hs, buf + hs, bs);
    free(b0);
    free(again);
    free(digest);
    free(json);
    ldg_genesis_free(g);
}

static void test_finality_certificate_receipt(void **state)
{
    (void)state;
    size_t size;
    char *json = (char *)load("genesis.json", &size);
    struct ldg_genesis *g;
    T_OK(ldg_genesis_parse(json, size, &g));
    free(json);
    /* The view of the certificate's signers, from the view-change block. */
    uint8_t *vb = load("block_2_view.hex", &size);
    struct ldg_block blk;
    struct ldg_view *view = malloc(sizeof(*view));
    T_OK(ldg_block_decode(vb, size, &blk, view));
    uint8_t *fb = load("finality.hex", &size);
    struct ldg_finality f;
    T_OK(ldg_finality_decode(fb, size, g->chain_id, g->chain_id_size, &f));
    uint8_t again[512];
    size_t n;
    T_OK(ldg_finality_encode(g->chain_id, g->chain_id_size, &f, again, sizeof(again), &n));
    assert_int_equal(n, size);
    assert_memory_equal(again, fb, n);
    uint8_t digest[32];
    ldg_finality_digest(g->chain_id, g->chain_id_size, &f, digest);
    T_OK(sqc_verify_digest(view->members[0].pk, SQC_DOMAIN_FINALITY, digest, f.sig));
    uint8_t *cb = load("certificate_1.hex", &size);
    struct ldg_cert_info ci;
    T_OK(ldg_cert_verify(cb, size, g->chain_id, g->chain_id_size, view, &ci));
    assert_int_equal(ci.height, 1);
    assert_int_equal(ci.top_height, 3);
    assert_int_equal(ci.signer_count, 4);
    uint8_t *rb = load("receipt_transfer.hex", &size);
    struct ldg_receipt_info ri;
    T_OK(ldg_receipt_verify(g, rb, size, &ri));
    assert_int_equal(ri.height, 1);
    assert_int_equal(ri.index, 0);
    assert_int_equal(ri.result, LDG_RESULT_OK);
    assert_int_equal(ri.view_changes, 1);
    assert_int_equal(ri.tx.amount, 250);
    free(rb);
    free(cb);
    free(fb);
    free(vb);
    free(view);
    ldg_genesis_free(g);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s VECTOR_DIR\n", argv[0]);
        return 2;
    }
    dir_ = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regenerate_matches_files),
        cmocka_unit_test(test_transactions_round_trip),
        cmocka_unit_test(test_batches_round_trip),
        cmocka_unit_test(test_blocks_round_trip),
        cmocka_unit_test(test_genesis_and_block0),
        cmocka_unit_test(test_finality_certificate_receipt),
    };
    return cmocka_run_group_tests(tests, t_setup, NULL);
}
