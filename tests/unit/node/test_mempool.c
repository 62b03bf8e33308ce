/* The mempool and tracked-transaction table: admission order, nonce index, batching with
 * expiry, requeue after a stopped group, ordering, persisted/final frontiers, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "node/mempool.h"

static void make_id(uint8_t id[32], uint32_t k)
{
    memset(id, 0, 32);
    for (int i = 0; i < 32; i++) {
        id[i] = (uint8_t)(k * 131 + (uint32_t)i * 7 + (k >> 8));
    }
}

static void make_pk(uint8_t pk[32], uint32_t who)
{
    memset(pk, 0, 32);
    pk[0] = (uint8_t)who;
    pk[1] = (uint8_t)(who >> 8);
    pk[9] = 0x5a;
}

static int add(struct node_mempool *mp, uint32_t k, uint32_t who, uint64_t nonce,
               uint64_t expiry)
{
    uint8_t id[32], pk[32], tx[100];
    make_id(id, k);
    make_pk(pk, who);
    memset(tx, (int)k, sizeof(tx));
    return node_mempool_add(mp, id, tx, sizeof(tx), pk, nonce, expiry, 1000 + k, NULL);
}

struct seen {
    uint32_t expired, persisted, final, other;
};

static void changed(void *arg, struct node_tx *t)
{
    struct seen *s = arg;
    switch (t->state) {
    case NODE_TX_EXPIRED:
        s->expired++;
        break;
    case NODE_TX_PERSISTED:
        s->persisted++;
        break;
    case NODE_TX_FINAL:
        s->final++;
        break;
    default:
        s->other++;
    }
}

static void test_admission_nonces_and_bounds(void **state)
{
    (void)state;
    struct node_mempool *mp;
    assert_int_equal(node_mempool_create(&mp, 4, 8), SQ_OK);
    assert_int_equal(add(mp, 1, 7, 1, 100), SQ_OK);
    assert_int_equal(add(mp, 2, 7, 2, 100), SQ_OK);
    assert_int_equal(add(mp, 3, 7, 4, 100), SQ_OK);
    assert_int_equal(add(mp, 1, 7, 9, 100), SQ_EEXIST); /* same id */
    uint8_t pk[32];
    make_pk(pk, 7);
    assert_true(node_mempool_nonce_pending(mp, pk, 2));
    assert_false(node_mempool_nonce_pending(mp, pk, 3));
    /* pending_nonce follows the run above the account nonce */
    assert_int_equal(node_mempool_pending_nonce(mp, pk, 0), 2);
    assert_int_equal(node_mempool_pending_nonce(mp, pk, 5), 5);
    assert_int_equal(add(mp, 4, 8, 1, 100), SQ_OK);
    assert_int_equal(add(mp, 5, 8, 2, 100), SQ_EFULL); /* txs_max */
    assert_int_equal(node_mempool_accepted(mp), 4);
    assert_int_equal(node_mempool_bytes(mp), 400);
    assert_int_equal(node_mempool_check(mp), SQ_OK);
    node_mempool_destroy(mp);
}

static void test_take_expire_requeue_order_final(void **state)
{
    (void)state;
    struct node_mempool *mp;
    assert_int_equal(node_mempool_create(&mp, 100, 400), SQ_OK);
    for (uint32_t k = 0; k < 10; k++) {
        assert_int_equal(add(mp, k, k, 1, k == 3 ? 5 : 1000), SQ_OK);
    }
    struct node_tx *out[16];
    struct seen s = {0};
    /* 3 txs of 104 counted bytes fit in 320; tx 3 expires (expiry 5 < next height 6) */
    size_t n = node_mempool_take(mp, 320, 16, 6, out, changed, &s);
    assert_int_equal(n, 3);
    assert_true(out[0]->inflight);
    n = node_mempool_take(mp, 320, 16, 6, out, changed, &s);
    assert_int_equal(n, 3);
    assert_int_equal(s.expired, 1);
    uint8_t id[32];
    make_id(id, 3);
    assert_int_equal(node_mempool_find(mp, id)->state, NODE_TX_EXPIRED);
    assert_int_equal(node_mempool_waiting(mp), 3);
    assert_int_equal(node_mempool_check(mp), SQ_OK);
    /* the group stopped: in-flight ones go back to the head, in their order */
    node_mempool_requeue_inflight(mp);
    assert_int_equal(node_mempool_waiting(mp), 9);
    n = node_mempool_take(mp, 100000, 2, 6, out, changed, &s);
    assert_int_equal(n, 2);
    make_id(id, 0);
    assert_memory_equal(out[0]->id, id, 32);
    /* ordering: one of ours (0), one learnt from a block (999), one failed (1) */
    struct node_tx *t = node_mempool_ordered(mp, id, 10, 0, 0);
    assert_non_null(t);
    assert_int_equal(t->state, NODE_TX_ORDERED);
    assert_null(t->bytes);
    uint8_t pk[32];
    make_pk(pk, 0);
    assert_false(node_mempool_nonce_pending(mp, pk, 1));
    uint8_t other[32];
    make_id(other, 999);
    t = node_mempool_ordered(mp, other, 10, 1, 0);
    assert_non_null(t);
    assert_int_equal(t->admit_ns, 0);
    make_id(id, 1);
    t = node_mempool_ordered(mp, id, 11, 0, 6);
    assert_int_equal(t->state, NODE_TX_FAILED);
    assert_int_equal(node_mempool_check(mp), SQ_OK);
    /* frontiers */
    memset(&s, 0, sizeof(s));
    node_mempool_advance(mp, 10, 0, changed, &s);
    assert_int_equal(s.persisted, 2);
    node_mempool_advance(mp, 11, 10, changed, &s);
    assert_int_equal(s.final, 2);
    assert_null(node_mempool_find(mp, other));
    assert_non_null(node_mempool_find(mp, id));
    node_mempool_advance(mp, 11, 11, changed, &s);
    assert_null(node_mempool_find(mp, id));
    assert_int_equal(s.other, 1); /* the failed one, on its way out */
    assert_int_equal(node_mempool_check(mp), SQ_OK);
    node_mempool_destroy(mp);
}

static void test_table_full_learnt_entries_are_skipped(void **state)
{
    (void)state;
    struct node_mempool *mp;
    assert_int_equal(node_mempool_create(&mp, 2, 3), SQ_OK);
    uint8_t id[32];
    for (uint32_t k = 0; k < 3; k++) {
        make_id(id, 100 + k);
        assert_non_null(node_mempool_ordered(mp, id, 1, k, 0));
    }
    make_id(id, 200);
    assert_null(node_mempool_ordered(mp, id, 2, 0, 0));
    assert_int_equal(add(mp, 1, 1, 1, 10), SQ_EFULL);
    assert_int_equal(node_mempool_check(mp), SQ_OK);
    node_mempool_destroy(mp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admission_nonces_and_bounds),
        cmocka_unit_test(test_take_expire_requeue_order_final),
        cmocka_unit_test(test_table_full_learnt_entries_are_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
