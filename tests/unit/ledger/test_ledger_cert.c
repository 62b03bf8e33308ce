/* Finality signatures and certificates. */
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
    unsigned nonce[T_CLIENTS];
};

static struct fx *fx_open(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->g = t_genesis(false);
    f->s = t_open(f->g, &f->dir);
    return f;
}

static void fx_close(struct fx *f)
{
    ldg_store_close(f->s);
    t_rmdir(f->dir);
    ldg_genesis_free(f->g);
    free(f);
}

/* Appends `n` blocks of one transfer each. */
static void blocks(struct fx *f, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned c = (unsigned)(ldg_store_height(f->s) % T_CLIENTS);
        uint8_t tx[SQ_TX_BYTES_MAX];
        size_t size = t_transfer(tx, t_key("client", c), t_key("client", (c + 1) % T_CLIENTS)->pk,
                                 1, ++f->nonce[c], 100000);
        struct ldg_bytes b = {tx, size};
        struct ldg_view v;
        ldg_view_current(f->s, &v, NULL);
        t_apply(f->s, v.members[0].id, &b, 1, NULL);
    }
}

static void sign(struct fx *f, uint32_t id, uint64_t height, uint64_t *certified)
{
    struct ldg_finality fin;
    T_OK(ldg_finality_make(f->s, id, t_key("val", id - 1), height, &fin));
    T_OK(ldg_finality_add(f->s, &fin, certified));
}

static void check_cert(struct fx *f, uint64_t height, uint64_t top, uint64_t view_id)
{
    uint8_t *cert;
    size_t size;
    T_OK(ldg_cert_build(f->s, height, &cert, &size));
    uint64_t vid;
    T_OK(ldg_cert_view_id(cert, size, &vid));
    assert_int_equal(vid, view_id);
    struct ldg_view *view = malloc(sizeof(*view));
    T_OK(ldg_view_get(f->s, vid, view, NULL));
    struct ldg_cert_info info;
    T_OK(ldg_cert_verify(cert, size, T_CHAIN, strlen(T_CHAIN), view, &info));
    assert_int_equal(info.height, height);
    assert_int_equal(info.top_height, top);
    assert_int_equal(info.signer_count, view->member_count);
    uint8_t hash[32];
    T_OK(ldg_header_get(f->s, height, NULL, hash));
    assert_memory_equal(info.block_hash, hash, 32);
    uint8_t root[32];
    T_OK(ldg_acc_root(f->s, top + 1, root));
    assert_memory_equal(info.top_acc_root, root, 32);
    free(view);
    free(cert);
}

static void test_collect_and_build(void **state)
{
    (void)state;
    struct fx *f = fx_open();
    blocks(f, 5);
    uint64_t certified;
    uint8_t *cert;
    size_t size;
    /* Signatures at different heights: the certificate covers up to the lowest. */
    sign(f, 1, 5, &certified);
    sign(f, 2, 3, &certified);
    assert_int_equal(certified, 0);
    sign(f, 3, 4, &certified);
    assert_int_equal(certified, 3);
    /* Not stored until committed. */
    assert_int_equal(ldg_store_certified_height(f->s), 0);
    T_OK(ldg_commit(f->s, NULL));
    assert_int_equal(ldg_store_certified_height(f->s), 3);
    for (uint64_t h = 1; h <= 3; h++) {
        check_cert(f, h, 5, 0); /* headers h..5: validator 1 signed at 5 */
    }
    assert_int_equal(ldg_cert_build(f->s, 4, &cert, &size), SQ_ENOTFOUND);
    /* An older signature changes nothing; a newer one from the laggard moves the height. */
    sign(f, 2, 2, &certified);
    assert_int_equal(certified, 3);
    sign(f, 2, 5, &certified);
    assert_int_equal(certified, 4);
    blocks(f, 2);
    T_OK(ldg_commit(f->s, NULL));
    check_cert(f, 4, 5, 0);
    /* Certificates survive a reopen, and so do the signatures collected since. */
    sign(f, 1, 7, &certified);
    sign(f, 2, 7, &certified);
    T_OK(ldg_commit(f->s, NULL));
    ldg_store_close(f->s);
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    assert_int_equal(ldg_store_certified_height(f->s), 4);
    sign(f, 3, 6, &certified);
    assert_int_equal(certified, 6);
    T_OK(ldg_commit(f->s, NULL));
    check_cert(f, 6, 7, 0);
    check_cert(f, 1, 5, 0);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.certs, 3);
    fx_close(f);
}

static void test_finality_errors(void **state)
{
    (void)state;
    struct fx *f = fx_open();
    blocks(f, 3);
    struct ldg_finality fin;
    T_OK(ldg_finality_make(f->s, 1, t_key("val", 0), 2, &fin));
    struct ldg_finality bad = fin;
    bad.height = 9;
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EAGAIN);
    assert_int_equal(ldg_finality_make(f->s, 1, t_key("val", 0), 4, &bad), SQ_ENOTFOUND);
    bad = fin;
    bad.block_hash[0] ^= 1;
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EPROOF);
    bad = fin;
    bad.acc_root[0] ^= 1;
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EPROOF);
    bad = fin;
    bad.sig[0] ^= 1;
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EBADSIG);
    bad = fin;
    bad.view_id = 1;
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EPROOF);
    /* A signer outside the view, with a valid signature of its own. */
    T_OK(ldg_finality_make(f->s, 9, t_key("val", 8), 2, &bad));
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EPERM);
    /* Another member's key for member 1. */
    T_OK(ldg_finality_make(f->s, 1, t_key("val", 1), 2, &bad));
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EBADSIG);
    T_OK(ldg_finality_add(f->s, &fin, NULL));
    /* After a view change, view-0 signatures are refused. */
    struct ldg_view v;
    ldg_view_current(f->s, &v, NULL);
    v.view_id = 1;
    v.member_count = 2;
    struct ldg_block_info info;
    T_OK(ldg_view_apply(f->s, &v, 0, &info));
    T_OK(ldg_finality_make(f->s, 2, t_key("val", 1), 2, &bad));
    assert_int_equal(ldg_finality_add(f->s, &bad, NULL), SQ_EVIEW);
    fx_close(f);
}

static void test_view_changes(void **state)
{
    (void)state;
    struct fx *f = fx_open();
    blocks(f, 3);
    uint64_t certified;
    sign(f, 1, 2, &certified);
    sign(f, 2, 2, &certified);
    sign(f, 3, 2, &certified);
    assert_int_equal(certified, 2);
    /* Validator 3 leaves without signing block 3; view 1 = {1, 2}. */
    struct ldg_view v;
    ldg_view_current(f->s, &v, NULL);
    v.view_id = 1;
    v.member_count = 2;
    v.leaver_count = 1;
    v.leavers[0] = 3;
    struct ldg_block_info info;
    T_OK(ldg_view_apply(f->s, &v, 0, &info));
    assert_int_equal(info.height, 4);
    blocks(f, 2);
    /* View 1's members sign block 6; this certifies block 3 (view 0) through the hash links. */
    sign(f, 1, 6, &certified);
    sign(f, 2, 6, &certified);
    assert_int_equal(certified, 6);
    T_OK(ldg_commit(f->s, NULL));
    check_cert(f, 2, 2, 0);
    check_cert(f, 3, 6, 1);
    check_cert(f, 4, 6, 1);
    /* The certificate checked against the wrong view fails. */
    uint8_t *cert;
    size_t size;
    T_OK(ldg_cert_build(f->s, 3, &cert, &size));
    struct ldg_view *v0 = malloc(sizeof(*v0));
    T_OK(ldg_view_get(f->s, 0, v0, NULL));
    struct ldg_cert_info ci;
    assert_int_equal(ldg_cert_verify(cert, size, T_CHAIN, strlen(T_CHAIN), v0, &ci), SQ_EPROOF);
    struct ldg_view *v1 = malloc(sizeof(*v1));
    T_OK(ldg_view_get(f->s, 1, v1, NULL));
    assert_int_equal(ldg_cert_verify(cert, size, "other", 5, v1, &ci), SQ_EPROOF);
    /* Every byte flipped, and every truncation, is caught. */
    for (size_t i = 0; i < size; i++) {
        for (uint8_t bit = 1; bit != 0; bit = (uint8_t)(bit << 3)) {
            cert[i] ^= bit;
            int rc = ldg_cert_verify(cert, size, T_CHAIN, strlen(T_CHAIN), v1, &ci);
            if (rc == SQ_OK) {
                fail_msg("flipping bit %u of byte %zu of %zu went unnoticed", bit, i, size);
            }
            cert[i] ^= bit;
        }
    }
    for (size_t cut = 0; cut < size; cut++) {
        assert_int_not_equal(ldg_cert_verify(cert, cut, T_CHAIN, strlen(T_CHAIN), v1, &ci), SQ_OK);
    }
    T_OK(ldg_cert_verify(cert, size, T_CHAIN, strlen(T_CHAIN), v1, &ci));
    free(cert);
    free(v0);
    free(v1);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.views, 2);
    assert_int_equal(rep.certs, 2);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect_and_build),
        cmocka_unit_test(test_finality_errors),
        cmocka_unit_test(test_view_changes),
    };
    return cmocka_run_group_tests(tests, t_setup, NULL);
}
