#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/prng.h"
#include "consensus/order.h"

static void test_intervals_against_a_bitmap(void **state)
{
    (void)state;
    /* Random arrival orders of runs (single messages and null runs) over 0..N-1; the tracker's
     * prefix and membership must match a plain bitmap after every step. */
    enum { N = 400 };
    for (uint64_t seed = 1; seed <= 300; seed++) {
        struct sq_prng p;
        sq_prng_seed(&p, seed);
        /* Cut 0..N-1 into runs, then shuffle the runs. */
        int64_t lo[N], hi[N];
        int runs = 0;
        for (int64_t i = 0; i < N;) {
            int64_t len = sq_prng_chance(&p, 1, 4) ? (int64_t)sq_prng_range(&p, 2, 9) : 1;
            if (i + len > N) {
                len = N - i;
            }
            lo[runs] = i;
            hi[runs] = i + len - 1;
            runs++;
            i += len;
        }
        /* Bounded reordering: a run moves back at most 12 places (gaps stay within a window). */
        for (int r = 0; r < runs; r++) {
            int swap = r + (int)sq_prng_below(&p, 12);
            if (swap < runs) {
                int64_t a = lo[r], b = hi[r];
                lo[r] = lo[swap];
                hi[r] = hi[swap];
                lo[swap] = a;
                hi[swap] = b;
            }
        }
        bool bits[N] = {false};
        struct grp_recv_track t;
        grp_recv_init(&t);
        for (int r = 0; r < runs; r++) {
            assert_int_equal(grp_recv_add(&t, lo[r], hi[r]), SQ_OK);
            for (int64_t i = lo[r]; i <= hi[r]; i++) {
                bits[i] = true;
            }
            int64_t expect = -1;
            while (expect + 1 < N && bits[expect + 1]) {
                expect++;
            }
            if (t.prefix != expect) {
                fail_msg("seed %llu: prefix %lld, expected %lld", (unsigned long long)seed,
                         (long long)t.prefix, (long long)expect);
            }
            for (int64_t i = 0; i < N; i += 7) {
                assert_int_equal(grp_recv_has(&t, i), bits[i]);
            }
            /* A re-delivery of anything already received is refused and changes nothing. */
            int64_t pre = t.prefix;
            uint32_t cnt = t.count;
            assert_int_equal(grp_recv_add(&t, lo[r], lo[r]), SQ_EDUP);
            assert_true(t.prefix == pre && t.count == cnt);
        }
        assert_true(t.prefix == N - 1);
        assert_int_equal(t.count, 0);
    }
}

static void test_interval_list_is_bounded(void **state)
{
    (void)state;
    struct grp_recv_track t;
    grp_recv_init(&t);
    /* Every other index: each is its own gap. */
    for (uint32_t i = 0; i < GRP_RECV_INTERVALS_MAX; i++) {
        assert_int_equal(grp_recv_add(&t, 2 * (int64_t)i + 1, 2 * (int64_t)i + 1), SQ_OK);
    }
    assert_int_equal(grp_recv_add(&t, 100000, 100000), SQ_EFULL);
    /* Filling a hole merges and frees room. */
    assert_int_equal(grp_recv_add(&t, 0, 0), SQ_OK);
    assert_true(t.prefix == 1);
    assert_int_equal(grp_recv_add(&t, 100000, 100000), SQ_OK);
}

/* Brute force: the largest seq such that every seq' <= seq is received, where (k, i) is received
 * iff i <= received[k]. */
static int64_t brute_seq_num(const int64_t *rcv, uint32_t s)
{
    int64_t seq = -1;
    for (;;) {
        int64_t next = seq + 1;
        uint32_t k = (uint32_t)(next % s);
        int64_t i = next / s;
        if (i > rcv[k]) {
            return seq;
        }
        seq = next;
    }
}

static void test_seq_num_formula(void **state)
{
    (void)state;
    int64_t ex[4] = {5, 5, 4, 4}; /* PROTOCOL.md §4.2's example */
    assert_true(grp_seq_num(ex, 4) == 21);
    int64_t none[3] = {-1, -1, -1};
    assert_true(grp_seq_num(none, 3) == -1);
    struct sq_prng p;
    sq_prng_seed(&p, 99);
    for (int trial = 0; trial < 20000; trial++) {
        uint32_t s = (uint32_t)sq_prng_range(&p, 1, 7);
        int64_t rcv[7];
        for (uint32_t k = 0; k < s; k++) {
            rcv[k] = (int64_t)sq_prng_range(&p, 0, 6) - 1;
        }
        assert_true(grp_seq_num(rcv, s) == brute_seq_num(rcv, s));
    }
}

static void test_null_rule_unblocks_exactly(void **state)
{
    (void)state;
    /* After `me` sends the nulls asked for, message (k, c) is no longer blocked by me; one null
     * fewer would leave it blocked. */
    for (uint32_t s = 2; s <= 6; s++) {
        for (uint32_t me = 0; me < s; me++) {
            for (uint32_t k = 0; k < s; k++) {
                for (int64_t c = 0; c < 6; c++) {
                    for (int64_t next = 0; next < 9; next++) {
                        uint64_t n = grp_nulls_needed(me, k, c, next);
                        int64_t after = next + (int64_t)n;
                        int64_t seq_c = grp_seq_of(c, k, s);
                        /* me blocks (k,c) iff some index of mine with a lower seq is unsent */
                        bool blocked = me != k && grp_seq_of(after, me, s) < seq_c;
                        assert_false(blocked);
                        if (n > 0) {
                            bool blocked_before = grp_seq_of(after - 1, me, s) < seq_c;
                            assert_true(blocked_before);
                        }
                    }
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intervals_against_a_bitmap),
        cmocka_unit_test(test_interval_list_is_bounded),
        cmocka_unit_test(test_seq_num_formula),
        cmocka_unit_test(test_null_rule_unblocks_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
