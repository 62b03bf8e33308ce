#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/prng.h"

static void test_same_seed_same_stream(void **state)
{
    (void)state;
    struct sq_prng a, b, c;
    sq_prng_seed(&a, 42);
    sq_prng_seed(&b, 42);
    sq_prng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = sq_prng_next(&a);
        assert_true(x == sq_prng_next(&b));
        differ += x != sq_prng_next(&c);
    }
    assert_true(differ > 990);
}

static void test_known_first_value(void **state)
{
    (void)state;
    /* Frozen: simulations replay by seed, so the stream must never change. The values were
     * computed once from this implementation and checked against the xoshiro256** and
     * splitmix64 reference definitions. */
    uint64_t st = 0;
    assert_true(sq_splitmix64(&st) == UINT64_C(0xe220a8397b1dcdaf));
    assert_true(sq_splitmix64(&st) == UINT64_C(0x6e789e6aa1b965f4));
    struct sq_prng p;
    sq_prng_seed(&p, 0);
    uint8_t b[11];
    sq_prng_fill(&p, b, sizeof(b));
    struct sq_prng q;
    sq_prng_seed(&q, 0);
    uint64_t w = sq_prng_next(&q);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(b[i], (uint8_t)(w >> (8 * i)));
    }
}

static void test_below_is_in_range_and_roughly_uniform(void **state)
{
    (void)state;
    struct sq_prng p;
    sq_prng_seed(&p, 7);
    unsigned counts[6] = {0};
    for (int i = 0; i < 60000; i++) {
        uint64_t v = sq_prng_below(&p, 6);
        assert_true(v < 6);
        counts[v]++;
    }
    for (int i = 0; i < 6; i++) {
        assert_true(counts[i] > 9000 && counts[i] < 11000);
    }
    for (int i = 0; i < 1000; i++) {
        uint64_t v = sq_prng_range(&p, 10, 12);
        assert_true(v >= 10 && v <= 12);
    }
    assert_true(sq_prng_below(&p, 1) == 0);
    int yes = 0;
    for (int i = 0; i < 10000; i++) {
        yes += sq_prng_chance(&p, 1, 4);
    }
    assert_true(yes > 2200 && yes < 2800);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_stream),
        cmocka_unit_test(test_known_first_value),
        cmocka_unit_test(test_below_is_in_range_and_roughly_uniform),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
