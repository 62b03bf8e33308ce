/* The state machine: every transaction kind and every result code, through the store's apply. */
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
    uint8_t buf[8][SQ_TX_BYTES_MAX];
    struct ldg_bytes txs[8];
};

static struct fx *fx_open(bool open)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->g = t_genesis(open);
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

static const uint8_t *pk(const char *role, unsigned i)
{
    return t_key(role, i)->pk;
}

static struct ldg_account acct(struct fx *f, const char *role, unsigned i)
{
    struct ldg_account a;
    T_OK(ldg_account_get_pending(f->s, pk(role, i), &a));
    return a;
}

/* Applies one transaction in its own block; returns its result. */
static uint8_t apply1(struct fx *f, const uint8_t *tx, size_t size)
{
    struct ldg_bytes b = {tx, size};
    uint8_t r = 0xff;
    t_apply(f->s, 1, &b, 1, &r);
    return r;
}

static void test_transfer_ok(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 300, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_int_equal(acct(f, "client", 0).balance, 700);
    assert_int_equal(acct(f, "client", 0).nonce, 1);
    assert_int_equal(acct(f, "client", 1).balance, 1300);
    assert_int_equal(acct(f, "client", 1).nonce, 0);
    /* A transfer to a fresh key creates its account; to oneself changes only the nonce. */
    n = t_transfer(f->buf[0], t_key("client", 0), pk("nobody", 0), 50, 2, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 0), 650, 3, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_int_equal(acct(f, "client", 0).balance, 650);
    assert_int_equal(acct(f, "client", 0).nonce, 3);
    assert_int_equal(acct(f, "nobody", 0).balance, 50);
    /* Committed state matches. */
    uint64_t h;
    T_OK(ldg_commit(f->s, &h));
    assert_int_equal(h, 3);
    struct ldg_account a;
    T_OK(ldg_account_get(f->s, pk("nobody", 0), &a));
    assert_int_equal(a.balance, 50);
    assert_false(a.client);
    T_OK(ldg_account_get(f->s, pk("client", 0), &a));
    assert_int_equal(a.balance, 650);
    assert_int_equal(a.nonce, 3);
    assert_true(a.client);
    fx_close(f);
}

static void test_bad_nonce(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 2, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_BAD_NONCE);
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 0, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_BAD_NONCE);
    assert_int_equal(acct(f, "client", 0).nonce, 0);
    assert_int_equal(acct(f, "client", 0).balance, 1000);
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    /* The same nonce again with other content: a replay of the nonce. */
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 2, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_BAD_NONCE);
    fx_close(f);
}

static void test_insufficient_funds_changes_nothing(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1001, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_INSUFFICIENT_FUNDS);
    assert_int_equal(acct(f, "client", 0).balance, 1000);
    assert_int_equal(acct(f, "client", 0).nonce, 0); /* nonce not consumed */
    assert_int_equal(acct(f, "client", 1).balance, 1000);
    /* The nonce is still free. */
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1000, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_int_equal(acct(f, "client", 0).balance, 0);
    fx_close(f);
}

static void test_not_permitted(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    /* A key outside the client list (with a balance made by a mint). */
    size_t n = t_mint(f->buf[0], t_key("issuer", 0), pk("stranger", 0), 500, 1);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    n = t_transfer(f->buf[0], t_key("stranger", 0), pk("client", 1), 1, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_NOT_PERMITTED);
    assert_int_equal(acct(f, "stranger", 0).balance, 500);
    /* A mint by a client. */
    n = t_mint(f->buf[0], t_key("client", 0), pk("client", 0), 5, 1);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_NOT_PERMITTED);
    /* A permission change with 1 approval of a 2-of-3 threshold. */
    n = t_gov(f->buf[0], LDG_TX_ADMIT_CLIENT, t_key("gov", 0), 1, pk("stranger", 0), 0, NULL, 0x1);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_NOT_PERMITTED);
    /* Two approvals, one of them a bad signature (made by another key). */
    struct ldg_tx tx;
    t_tx_init(&tx, LDG_TX_ADMIT_CLIENT, t_key("gov", 0), 1, 100);
    memcpy(tx.target, pk("stranger", 0), 32);
    T_OK(ldg_tx_approve(&tx, 0, t_key("gov", 0)));
    T_OK(ldg_tx_approve(&tx, 1, t_key("gov", 2)));
    T_OK(ldg_tx_sign(&tx, t_key("gov", 0)));
    T_OK(ldg_tx_encode(&tx, f->buf[0], sizeof(f->buf[0]), &n));
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_NOT_PERMITTED);
    /* An approval index beyond the governance keys. */
    t_tx_init(&tx, LDG_TX_ADMIT_CLIENT, t_key("gov", 0), 1, 100);
    memcpy(tx.target, pk("stranger", 0), 32);
    T_OK(ldg_tx_approve(&tx, 0, t_key("gov", 0)));
    T_OK(ldg_tx_approve(&tx, 7, t_key("gov", 1)));
    T_OK(ldg_tx_sign(&tx, t_key("gov", 0)));
    T_OK(ldg_tx_encode(&tx, f->buf[0], sizeof(f->buf[0]), &n));
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_NOT_PERMITTED);
    fx_close(f);

    /* An open chain: anyone transfers, but client admission has nothing to change. */
    f = fx_open(true);
    n = t_mint(f->buf[0], t_key("issuer", 1), pk("stranger", 0), 10, 1);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    n = t_transfer(f->buf[0], t_key("stranger", 0), pk("client", 1), 10, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    n = t_gov(f->buf[0], LDG_TX_ADMIT_CLIENT, t_key("gov", 0), 1, pk("stranger", 0), 0, NULL, 0x3);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_NOT_PERMITTED);
    fx_close(f);
}

static void test_expired_and_wrong_chain(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    /* Block 1 with expiry 0: expired. Expiry equal to the height is still valid. */
    size_t n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 1, 0);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_EXPIRED);
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 1, 2);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 2, 2);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_EXPIRED);
    /* A transaction made for another chain, inside a batch of ours. */
    struct ldg_tx tx;
    t_tx_init(&tx, LDG_TX_TRANSFER, t_key("client", 0), 2, 100);
    tx.chain_id_size = 5;
    memcpy(tx.chain_id, "other", 5);
    memcpy(tx.target, pk("client", 1), 32);
    tx.amount = 1;
    T_OK(ldg_tx_sign(&tx, t_key("client", 0)));
    T_OK(ldg_tx_encode(&tx, f->buf[0], sizeof(f->buf[0]), &n));
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_WRONG_CHAIN);
    assert_int_equal(acct(f, "client", 0).nonce, 1);
    fx_close(f);
}

static void test_duplicate(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 5, 1, 100);
    /* Twice in one block. */
    f->txs[0] = (struct ldg_bytes){f->buf[0], n};
    f->txs[1] = (struct ldg_bytes){f->buf[0], n};
    uint8_t res[2];
    t_apply(f->s, 2, f->txs, 2, res);
    assert_int_equal(res[0], LDG_RESULT_OK);
    assert_int_equal(res[1], LDG_RESULT_DUPLICATE);
    /* In a later block, before and after its first block is committed. */
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_DUPLICATE);
    T_OK(ldg_commit(f->s, NULL));
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_DUPLICATE);
    assert_int_equal(acct(f, "client", 0).balance, 995);
    /* A failed transaction also claims its id. */
    n = t_transfer(f->buf[1], t_key("client", 2), pk("client", 1), 5000, 1, 100);
    assert_int_equal(apply1(f, f->buf[1], n), LDG_RESULT_INSUFFICIENT_FUNDS);
    assert_int_equal(apply1(f, f->buf[1], n), LDG_RESULT_DUPLICATE);
    /* The index names the first occurrence. */
    T_OK(ldg_commit(f->s, NULL));
    uint8_t id[32];
    ldg_tx_id(f->buf[0], t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 5, 1, 100), id);
    uint64_t h;
    uint32_t idx;
    uint8_t r;
    T_OK(ldg_tx_find(f->s, id, &h, &idx, &r));
    assert_int_equal(h, 1);
    assert_int_equal(idx, 0);
    assert_int_equal(r, LDG_RESULT_OK);
    fx_close(f);
}

static bool vouch_all(void *arg, const uint8_t txid[32])
{
    (void)arg;
    (void)txid;
    return true;
}

static void test_bad_signature(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 5, 1, 100);
    f->buf[0][n - 1] ^= 0x01;
    /* Not vouched for: apply verifies and records the forgery. */
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_BAD_SIGNATURE);
    assert_int_equal(acct(f, "client", 0).nonce, 0);
    /* A forgery does not claim the id: the genuine transaction still goes through. */
    f->buf[0][n - 1] ^= 0x01;
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    /* Through a pool, several at once. */
    struct sqc_verify_pool *pool;
    T_OK(sqc_verify_pool_create(&pool, 2));
    for (unsigned i = 0; i < 4; i++) {
        size_t m = t_transfer(f->buf[i], t_key("client", 3 + i), pk("client", 1), 1, 1, 100);
        if (i % 2 == 1) {
            f->buf[i][m - 10] ^= 0x40;
        }
        f->txs[i] = (struct ldg_bytes){f->buf[i], m};
    }
    size_t size;
    uint8_t *batch = t_batch(1, 900, f->txs, 4, &size);
    struct ldg_view view;
    ldg_view_current(f->s, &view, NULL);
    struct ldg_apply_opts opts = {.pool = pool};
    struct ldg_block_info info;
    T_OK(ldg_batch_apply(f->s, view.view_id, batch, size, &opts, &info));
    assert_int_equal(info.ok_count, 2);
    assert_int_equal(acct(f, "client", 3).nonce, 1);
    assert_int_equal(acct(f, "client", 4).nonce, 0);
    free(batch);
    /* When the caller vouches (verified at admission), apply does not look again: that is the
     * caller's contract, and the audit is what catches a lie. */
    n = t_transfer(f->buf[0], t_key("client", 6), pk("client", 1), 5, 1, 100);
    f->buf[0][n - 1] ^= 0x01;
    batch = t_batch1(1, 901, f->buf[0], n, &size);
    opts = (struct ldg_apply_opts){.verified = vouch_all};
    T_OK(ldg_batch_apply(f->s, view.view_id, batch, size, &opts, &info));
    assert_int_equal(info.ok_count, 1);
    free(batch);
    T_OK(ldg_commit(f->s, NULL));
    struct ldg_audit_report rep;
    assert_int_equal(ldg_audit_run(f->s, pool, NULL, NULL, &rep), SQ_EBADSIG);
    assert_string_equal(rep.what, "tx_signature");
    assert_int_equal(rep.fault_height, ldg_store_height(f->s));
    sqc_verify_pool_destroy(pool);
    fx_close(f);
}

static void test_mint_and_overflow(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_mint(f->buf[0], t_key("issuer", 0), pk("client", 1), 5, 1);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_int_equal(acct(f, "client", 1).balance, 1005);
    assert_int_equal(acct(f, "issuer", 0).nonce, 1);
    n = t_mint(f->buf[0], t_key("issuer", 0), pk("client", 1), UINT64_MAX - 1004, 2);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OVERFLOW);
    assert_int_equal(acct(f, "client", 1).balance, 1005);
    assert_int_equal(acct(f, "issuer", 0).nonce, 1);
    n = t_mint(f->buf[0], t_key("issuer", 0), pk("client", 1), UINT64_MAX - 1005, 2);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    /* A transfer that would overflow the recipient. */
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 1, 100);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OVERFLOW);
    assert_int_equal(acct(f, "client", 0).balance, 1000);
    fx_close(f);
}

static void test_client_admission(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_mint(f->buf[0], t_key("issuer", 0), pk("newbie", 0), 100, 1);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    size_t n1 = t_transfer(f->buf[1], t_key("newbie", 0), pk("client", 0), 10, 1, 100);
    assert_int_equal(apply1(f, f->buf[1], n1), LDG_RESULT_NOT_PERMITTED);
    /* Admitted by 2 of 3 governance keys (the sender need not be a client). */
    n = t_gov(f->buf[0], LDG_TX_ADMIT_CLIENT, t_key("operator", 0), 1, pk("newbie", 0), 0, NULL,
              0x5);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_true(acct(f, "newbie", 0).client);
    n = t_gov(f->buf[0], LDG_TX_ADMIT_CLIENT, t_key("operator", 0), 2, pk("newbie", 0), 0, NULL,
              0x3);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_CONFLICT);
    /* The refused transfer claimed its id: a retry must differ (here in its expiry). */
    assert_int_equal(apply1(f, f->buf[1], n1), LDG_RESULT_DUPLICATE);
    n = t_transfer(f->buf[1], t_key("newbie", 0), pk("client", 0), 10, 1, 101);
    assert_int_equal(apply1(f, f->buf[1], n), LDG_RESULT_OK);
    /* Removed again. */
    n = t_gov(f->buf[0], LDG_TX_REMOVE_CLIENT, t_key("operator", 0), 2, pk("newbie", 0), 0, NULL,
              0x6);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_false(acct(f, "newbie", 0).client);
    n = t_transfer(f->buf[1], t_key("newbie", 0), pk("client", 0), 10, 2, 100);
    assert_int_equal(apply1(f, f->buf[1], n), LDG_RESULT_NOT_PERMITTED);
    n = t_gov(f->buf[0], LDG_TX_REMOVE_CLIENT, t_key("operator", 0), 3, pk("newbie", 0), 0, NULL,
              0x6);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_CONFLICT);
    /* Survives a commit and a reopen. */
    T_OK(ldg_commit(f->s, NULL));
    ldg_store_close(f->s);
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    assert_false(acct(f, "newbie", 0).client);
    assert_int_equal(acct(f, "newbie", 0).balance, 90);
    assert_int_equal(acct(f, "operator", 0).nonce, 2);
    fx_close(f);
}

static void test_validator_admission_and_view_change(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    uint8_t *val4 = (uint8_t *)t_key("val", 3)->pk;
    assert_false(ldg_validator_is_permitted(f->s, 4, val4));
    size_t n = t_gov(f->buf[0], LDG_TX_ADMIT_VALIDATOR, t_key("operator", 0), 1, val4, 4,
                     "127.0.0.1:7004", 0x3);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_true(ldg_validator_is_permitted(f->s, 4, val4));
    /* The same id or key again is a conflict. */
    n = t_gov(f->buf[0], LDG_TX_ADMIT_VALIDATOR, t_key("operator", 0), 2, val4, 5, "127.0.0.1:7005",
              0x3);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_CONFLICT);
    n = t_gov(f->buf[0], LDG_TX_ADMIT_VALIDATOR, t_key("operator", 0), 2, pk("val", 5), 2,
              "127.0.0.1:7005", 0x3);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_CONFLICT);
    /* A view with the new validator. */
    struct ldg_view v;
    uint64_t vh;
    ldg_view_current(f->s, &v, &vh);
    assert_int_equal(v.view_id, 0);
    assert_int_equal(vh, 0);
    v.view_id = 1;
    v.members[3] = (struct ldg_member){.id = 4, .addr_size = 14};
    memcpy(v.members[3].pk, val4, 32);
    memcpy(v.members[3].addr, "127.0.0.1:7004", 14);
    v.member_count = 4;
    struct ldg_block_info info;
    T_OK(ldg_view_apply(f->s, &v, 1700000001000000ull, &info));
    assert_int_equal(info.height, 4);
    /* A batch of the old view is refused; validator 4 may now propose. */
    size_t bs;
    n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 1, 100);
    uint8_t *batch = t_batch1(4, 1, f->buf[0], n, &bs);
    assert_int_equal(ldg_batch_apply(f->s, 0, batch, bs, NULL, &info), SQ_EVIEW);
    T_OK(ldg_batch_apply(f->s, 1, batch, bs, NULL, &info));
    free(batch);
    /* Removing validator 2: a view that keeps it is refused, one without it accepted. */
    n = t_gov(f->buf[0], LDG_TX_REMOVE_VALIDATOR, t_key("operator", 0), 2, NULL, 2, NULL, 0x3);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_OK);
    assert_false(ldg_validator_is_permitted(f->s, 2, pk("val", 1)));
    n = t_gov(f->buf[0], LDG_TX_REMOVE_VALIDATOR, t_key("operator", 0), 3, NULL, 2, NULL, 0x3);
    assert_int_equal(apply1(f, f->buf[0], n), LDG_RESULT_CONFLICT);
    v.view_id = 2;
    assert_int_equal(ldg_view_apply(f->s, &v, 1700000002000000ull, &info), SQ_EPERM);
    v.members[1] = v.members[3];
    v.member_count = 3;
    T_OK(ldg_view_apply(f->s, &v, 1700000002000000ull, &info));
    T_OK(ldg_commit(f->s, NULL));
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.views, 3);
    fx_close(f);
}

static void test_view_rules(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    struct ldg_view v;
    struct ldg_block_info info;
    ldg_view_current(f->s, &v, NULL);
    struct ldg_view next = v;
    /* Same id: refused. */
    assert_int_equal(ldg_view_apply(f->s, &next, 0, &info), SQ_EINVAL);
    /* One survivor of three: not a majority. */
    next.view_id = 1;
    next.member_count = 1;
    assert_int_equal(ldg_view_apply(f->s, &next, 0, &info), SQ_EPERM);
    /* ... unless the other two left gracefully. */
    next.leaver_count = 2;
    next.leavers[0] = 2;
    next.leavers[1] = 3;
    T_OK(ldg_view_apply(f->s, &next, 0, &info));
    /* A member that is not a permitted validator. */
    ldg_view_current(f->s, &v, NULL);
    next = v;
    next.view_id = 2;
    next.leaver_count = 0;
    next.member_count = 2;
    next.members[1] = (struct ldg_member){.id = 9, .addr_size = 3};
    memcpy(next.members[1].addr, "a:1", 3);
    memcpy(next.members[1].pk, t_key("val", 8)->pk, 32);
    assert_int_equal(ldg_view_apply(f->s, &next, 0, &info), SQ_EPERM);
    /* Two survivors of three (validator 2 back), fine; duplicate ids refused. */
    next.members[1] = v.members[0];
    assert_int_equal(ldg_view_apply(f->s, &next, 0, &info), SQ_EINVAL);
    T_OK(ldg_commit(f->s, NULL));
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.views, 2);
    fx_close(f);
}

static void test_bad_batches_change_nothing(void **state)
{
    (void)state;
    struct fx *f = fx_open(false);
    size_t n = t_transfer(f->buf[0], t_key("client", 0), pk("client", 1), 1, 1, 100);
    size_t bs;
    uint8_t *batch = t_batch1(1, 1, f->buf[0], n, &bs);
    struct ldg_block_info info;
    /* A flipped byte in the proposer's signature. */
    batch[bs - 3] ^= 0x10;
    assert_int_equal(ldg_batch_apply(f->s, 0, batch, bs, NULL, &info), SQ_EBADSIG);
    batch[bs - 3] ^= 0x10;
    /* Truncated. */
    assert_int_equal(ldg_batch_apply(f->s, 0, batch, bs - 1, NULL, &info), SQ_ECORRUPT);
    /* Signed by validator 1's key but naming proposer 9 (not a member). */
    free(batch);
    struct ldg_bytes tb = {f->buf[0], n};
    uint8_t tmp[SQ_TX_BYTES_MAX + 256];
    T_OK(ldg_batch_encode(T_CHAIN, strlen(T_CHAIN), 9, 1, 5, &tb, 1, t_key("val", 0), tmp,
                          sizeof(tmp), &bs));
    assert_int_equal(ldg_batch_apply(f->s, 0, tmp, bs, NULL, &info), SQ_EPERM);
    /* Signed by another validator than the one it names. */
    T_OK(ldg_batch_encode(T_CHAIN, strlen(T_CHAIN), 2, 1, 5, &tb, 1, t_key("val", 0), tmp,
                          sizeof(tmp), &bs));
    assert_int_equal(ldg_batch_apply(f->s, 0, tmp, bs, NULL, &info), SQ_EBADSIG);
    /* Another chain. */
    T_OK(ldg_batch_encode("elsewhere", 9, 1, 1, 5, &tb, 1, t_key("val", 0), tmp, sizeof(tmp), &bs));
    assert_int_equal(ldg_batch_apply(f->s, 0, tmp, bs, NULL, &info), SQ_EINVAL);
    /* A malformed transaction inside a well-signed batch. */
    uint8_t bad[SQ_TX_BYTES_MAX];
    memcpy(bad, f->buf[0], n);
    bad[1] = 77; /* unknown kind */
    tb = (struct ldg_bytes){bad, n};
    T_OK(ldg_batch_encode(T_CHAIN, strlen(T_CHAIN), 1, 1, 5, &tb, 1, t_key("val", 0), tmp,
                          sizeof(tmp), &bs));
    assert_int_equal(ldg_batch_apply(f->s, 0, tmp, bs, NULL, &info), SQ_ECORRUPT);
    assert_non_null(strstr(ldg_errmsg(), "transaction 0"));
    /* Nothing was applied. */
    assert_int_equal(ldg_store_height(f->s), 0);
    assert_int_equal(acct(f, "client", 0).balance, 1000);
    fx_close(f);
}

static void test_deterministic(void **state)
{
    (void)state;
    struct ldg_genesis *g = t_genesis(false);
    char *dirs[2];
    struct ldg_store *s[2];
    uint8_t hash[2][32];
    for (int k = 0; k < 2; k++) {
        s[k] = t_open(g, &dirs[k]);
    }
    uint8_t buf[6][SQ_TX_BYTES_MAX];
    struct ldg_bytes txs[6];
    for (unsigned i = 0; i < 6; i++) {
        size_t n = t_transfer(buf[i], t_key("client", i), t_key("client", (i + 1) % 6)->pk, 100 + i,
                              1, 50);
        txs[i] = (struct ldg_bytes){buf[i], n};
    }
    size_t bs;
    uint8_t *batch = t_batch(3, 7, txs, 6, &bs);
    for (int k = 0; k < 2; k++) {
        struct ldg_block_info info;
        T_OK(ldg_batch_apply(s[k], 0, batch, bs, NULL, &info));
        memcpy(hash[k], info.hash, 32);
        /* Commit only one of them: the hash cannot depend on storage. */
        if (k == 0) {
            T_OK(ldg_commit(s[k], NULL));
        }
    }
    assert_memory_equal(hash[0], hash[1], 32);
    free(batch);
    for (int k = 0; k < 2; k++) {
        ldg_store_close(s[k]);
        t_rmdir(dirs[k]);
    }
    ldg_genesis_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transfer_ok),
        cmocka_unit_test(test_bad_nonce),
        cmocka_unit_test(test_insufficient_funds_changes_nothing),
        cmocka_unit_test(test_not_permitted),
        cmocka_unit_test(test_expired_and_wrong_chain),
        cmocka_unit_test(test_duplicate),
        cmocka_unit_test(test_bad_signature),
        cmocka_unit_test(test_mint_and_overflow),
        cmocka_unit_test(test_client_admission),
        cmocka_unit_test(test_validator_admission_and_view_change),
        cmocka_unit_test(test_view_rules),
        cmocka_unit_test(test_bad_batches_change_nothing),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, t_setup, NULL);
}
