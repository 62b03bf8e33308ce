/* Hex, constant-time equality, randomness, wiping and secure memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/prng.h"
#include "crypto/crypto.h"
#include "crypto_test.h"

static void test_init_is_idempotent(void **state)
{
    (void)state;
    assert_int_equal(sqc_init(), SQ_OK);
    assert_int_equal(sqc_init(), SQ_OK);
}

static void test_hex_encode(void **state)
{
    (void)state;
    char out[16];
    sqc_hex_encode(out, 1, NULL, 0);
    assert_string_equal(out, "");
    const uint8_t bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
    sqc_hex_encode(out, 11, bytes, sizeof(bytes));
    assert_string_equal(out, "0001abff7f");
}

static void test_hex_decode(void **state)
{
    (void)state;
    uint8_t out[8];
    size_t n = 99;
    assert_int_equal(sqc_hex_decode(out, sizeof(out), "00aBcDeF", 8, &n), SQ_OK);
    assert_int_equal(n, 4);
    const uint8_t want[] = {0x00, 0xab, 0xcd, 0xef};
    assert_memory_equal(out, want, sizeof(want));
    assert_int_equal(sqc_hex_decode(NULL, 0, "", 0, &n), SQ_OK);
    assert_int_equal(n, 0);
    /* Only the first hex_len characters count. */
    assert_int_equal(sqc_hex_decode(out, sizeof(out), "0102zz", 4, &n), SQ_OK);
    assert_int_equal(n, 2);

    assert_int_equal(sqc_hex_decode(out, sizeof(out), "abc", 3, &n), SQ_ECORRUPT);
    assert_int_equal(n, 0);
    assert_int_equal(sqc_hex_decode(out, 2, "aabbcc", 6, &n), SQ_ETOOBIG);
    assert_int_equal(n, 0);
    assert_int_equal(sqc_hex_decode(out, 3, "aabbcc", 6, &n), SQ_OK);

    /* Every non-hex byte at every position is refused, and nothing decoded is left behind. */
    char hex[9] = "00112233";
    for (int c = 0; c < 256; c++) {
        bool is_hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        for (int pos = 0; pos < 8; pos++) {
            memcpy(hex, "00112233", 8);
            hex[pos] = (char)c;
            memset(out, 0x5a, sizeof(out));
            int rc = sqc_hex_decode(out, sizeof(out), hex, 8, &n);
            if (is_hex) {
                assert_int_equal(rc, SQ_OK);
            } else {
                assert_int_equal(rc, SQ_ECORRUPT);
                assert_int_equal(n, 0);
                const uint8_t zero[4] = {0};
                assert_memory_equal(out, zero, 4);
            }
        }
    }
}

static void test_hex_round_trip(void **state)
{
    (void)state;
    struct sq_prng prng;
    sq_prng_seed(&prng, 16);
    for (int round = 0; round < 500; round++) {
        uint8_t data[64];
        size_t size = (size_t)sq_prng_below(&prng, sizeof(data) + 1);
        sq_prng_fill(&prng, data, size);
        char hex[2 * sizeof(data) + 1];
        sqc_hex_encode(hex, sizeof(hex), data, size);
        assert_int_equal(strlen(hex), 2 * size);
        uint8_t back[64];
        size_t n = 0;
        assert_int_equal(sqc_hex_decode(back, sizeof(back), hex, 2 * size, &n), SQ_OK);
        assert_int_equal(n, size);
        if (size > 0) {
            assert_memory_equal(back, data, size);
        }
    }
}

static void test_equal(void **state)
{
    (void)state;
    uint8_t a[32] = {1, 2, 3};
    uint8_t b[32] = {1, 2, 3};
    assert_true(sqc_equal(a, b, sizeof(a)));
    assert_true(sqc_equal(NULL, NULL, 0));
    for (size_t i = 0; i < sizeof(a); i++) {
        b[i] ^= 0x40;
        assert_false(sqc_equal(a, b, sizeof(a)));
        b[i] ^= 0x40;
    }
}

static void test_random_and_wipe(void **state)
{
    (void)state;
    uint8_t a[32] = {0};
    uint8_t b[32] = {0};
    uint8_t zero[32] = {0};
    sqc_random(a, sizeof(a));
    sqc_random(b, sizeof(b));
    /* 2^-256 odds of a false failure. */
    assert_memory_not_equal(a, b, sizeof(a));
    assert_memory_not_equal(a, zero, sizeof(a));
    sqc_random(NULL, 0);
    sqc_wipe(a, sizeof(a));
    assert_memory_equal(a, zero, sizeof(a));
    sqc_wipe(NULL, 0);
}

static void test_secure_alloc(void **state)
{
    (void)state;
    uint8_t *p = sqc_secure_alloc(100);
    assert_non_null(p);
    memset(p, 0xaa, 100);
    assert_int_equal(p[99], 0xaa);
    sqc_secure_free(p);
    sqc_secure_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_is_idempotent),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test(test_hex_decode),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_random_and_wipe),
        cmocka_unit_test(test_secure_alloc),
    };
    return cmocka_run_group_tests_name("crypto_util", tests, group_init_crypto, NULL);
}
