/* Receipts: built from the store, verified offline with only the genesis; tampering is caught. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "ldg_test.h"

struct fx {
    struct ldg_genesis *g;
    struct ldg_store *s;
    char *dir;
    uint8_t ids[16][32];
    uint8_t results[16];
    uint64_t heights[16];
    unsigned count;
};

static void add_tx(struct fx *f, const uint8_t *tx, size_t size, uint32_t proposer)
{
    struct ldg_bytes b = {tx, size};
    ldg_tx_id(tx, size, f->ids[f->count]);
    t_apply(f->s, proposer, &b, 1, &f->results[f->count]);
    f->heights[f->count] = ldg_store_height(f->s);
    f->count++;
}

static void view_change(struct fx *f, uint32_t drop)
{
    struct ldg_view v;
    ldg_view_current(f->s, &v, NULL);
    struct ldg_view next = v;
    next.view_id = v.view_id + 1;
    next.member_count = 0;
    next.leaver_count = 0;
    for (uint32_t i = 0; i < v.member_count; i++) {
        if (v.members[i].id != drop) {
            next.members[next.member_count++] = v.members[i];
        }
    }
    struct ldg_block_info info;
    T_OK(ldg_view_apply(f->s, &next, 0, &info));
}

/* A chain with two view changes: view 0 {1,2,3} -> view 1 {1,2,3,4} -> view 2 {1,3,4}. */
static struct fx *build(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->g = t_genesis(false);
    f->s = t_open(f->g, &f->dir);
    uint8_t tx[SQ_TX_BYTES_MAX];
    size_t n = t_transfer(tx, t_key("client", 0), t_key("client", 1)->pk, 10, 1, 100);
    add_tx(f, tx, n, 1);
    n = t_transfer(tx, t_key("client", 2), t_key("client", 1)->pk, 5000, 1, 100);
    add_tx(f, tx, n, 2); /* insufficient funds */
    n = t_gov(tx, LDG_TX_ADMIT_VALIDATOR, t_key("operator", 0), 1, t_key("val", 3)->pk, 4,
              "127.0.0.1:7004", 0x3);
    add_tx(f, tx, n, 3);
    t_finalize(f->s);
    struct ldg_view v;
    ldg_view_current(f->s, &v, NULL);
    v.view_id = 1;
    v.members[3] = (struct ldg_member){.id = 4, .addr_size = 14};
    memcpy(v.members[3].pk, t_key("val", 3)->pk, 32);
    memcpy(v.members[3].addr, "127.0.0.1:7004", 14);
    v.member_count = 4;
    struct ldg_block_info info;
    T_OK(ldg_view_apply(f->s, &v, 0, &info));
    n = t_mint(tx, t_key("issuer", 0), t_key("client", 3)->pk, 7, 1);
    add_tx(f, tx, n, 4);
    t_finalize(f->s);
    view_change(f, 2);
    n = t_transfer(tx, t_key("client", 3), t_key("client", 4)->pk, 1007, 1, 100);
    add_tx(f, tx, n, 3);
    n = t_transfer(tx, t_key("client", 5), t_key("client", 4)->pk, 1, 1, 100);
    add_tx(f, tx, n, 4);
    t_finalize(f->s);
    T_OK(ldg_commit(f->s, NULL));
    return f;
}

static void fx_close(struct fx *f)
{
    ldg_store_close(f->s);
    t_rmdir(f->dir);
    ldg_genesis_free(f->g);
    free(f);
}

static void test_build_and_verify(void **state)
{
    (void)state;
    struct fx *f = build();
    for (unsigned i = 0; i < f->count; i++) {
        uint8_t *r;
        size_t size;
        T_OK(ldg_receipt_build(f->s, f->ids[i], &r, &size));
        struct ldg_receipt_info info;
        T_OK(ldg_receipt_verify(f->g, r, size, &info));
        assert_memory_equal(info.txid, f->ids[i], 32);
        assert_int_equal(info.height, f->heights[i]);
        assert_int_equal(info.result, f->results[i]);
        assert_true(info.cert.top_height >= info.height);
        free(r);
    }
    assert_int_equal(f->results[1], LDG_RESULT_INSUFFICIENT_FUNDS);
    /* The last receipt follows both view changes. */
    uint8_t *r;
    size_t size;
    T_OK(ldg_receipt_build(f->s, f->ids[f->count - 1], &r, &size));
    struct ldg_receipt_info info;
    T_OK(ldg_receipt_verify(f->g, r, size, &info));
    assert_int_equal(info.view_changes, 2);
    assert_int_equal(info.cert.view_id, 2);
    /* Another genesis (one more client) does not accept it. */
    struct ldg_genesis *other = t_genesis_n(false, T_VALIDATORS, T_CLIENTS + 1, 1000);
    assert_int_not_equal(ldg_receipt_verify(other, r, size, &info), SQ_OK);
    ldg_genesis_free(other);
    free(r);
    fx_close(f);
}

static void test_not_yet_and_unknown(void **state)
{
    (void)state;
    struct ldg_genesis *g = t_genesis(false);
    char *dir;
    struct ldg_store *s = t_open(g, &dir);
    uint8_t tx[SQ_TX_BYTES_MAX];
    size_t n = t_transfer(tx, t_key("client", 0), t_key("client", 1)->pk, 10, 1, 100);
    struct ldg_bytes b = {tx, n};
    t_apply(s, 1, &b, 1, NULL);
    uint8_t id[32];
    ldg_tx_id(tx, n, id);
    uint8_t *r;
    size_t size;
    assert_int_equal(ldg_receipt_build(s, id, &r, &size), SQ_ENOTFOUND); /* not committed */
    T_OK(ldg_commit(s, NULL));
    assert_int_equal(ldg_receipt_build(s, id, &r, &size), SQ_EAGAIN); /* not certified */
    t_finalize(s);
    T_OK(ldg_commit(s, NULL));
    T_OK(ldg_receipt_build(s, id, &r, &size));
    free(r);
    id[0] ^= 1;
    assert_int_equal(ldg_receipt_build(s, id, &r, &size), SQ_ENOTFOUND);
    ldg_store_close(s);
    t_rmdir(dir);
    ldg_genesis_free(g);
}

static void test_tampering(void **state)
{
    (void)state;
    struct fx *f = build();
    /* The receipt of the first transaction carries a long header chain and both view changes. */
    uint8_t *r;
    size_t size;
    T_OK(ldg_receipt_build(f->s, f->ids[0], &r, &size));
    struct ldg_receipt_info info;
    T_OK(ldg_receipt_verify(f->g, r, size, &info));
    assert_int_equal(info.view_changes, 0); /* certified in view 0 already */
    free(r);
    T_OK(ldg_receipt_build(f->s, f->ids[f->count - 2], &r, &size));
    T_OK(ldg_receipt_verify(f->g, r, size, &info));
    assert_int_equal(info.view_changes, 2);
    unsigned caught = 0;
    for (size_t i = 0; i < size; i++) {
        r[i] ^= 0x01;
        int rc = ldg_receipt_verify(f->g, r, size, &info);
        if (rc == SQ_OK) {
            fail_msg("byte %zu of %zu flipped: the receipt still verifies", i, size);
        }
        assert_true(ldg_errmsg()[0] != '\0');
        caught++;
        r[i] ^= 0x01;
    }
    assert_int_equal(caught, size);
    for (size_t cut = 0; cut < size; cut++) {
        assert_int_not_equal(ldg_receipt_verify(f->g, r, cut, &info), SQ_OK);
    }
    T_OK(ldg_receipt_verify(f->g, r, size, &info));
    free(r);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_verify),
        cmocka_unit_test(test_not_yet_and_unknown),
        cmocka_unit_test(test_tampering),
    };
    return cmocka_run_group_tests(tests, t_setup, NULL);
}
