#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/codec.h"
#include "base/err.h"

static void test_round_trip_little_endian(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct sq_enc e;
    sq_enc_init(&e, buf, sizeof(buf));
    sq_enc_u8(&e, 0xab);
    sq_enc_u16(&e, 0x1234);
    sq_enc_u32(&e, 0xdeadbeef);
    sq_enc_u64(&e, UINT64_C(0x0102030405060708));
    sq_enc_i64(&e, -2);
    sq_enc_lp32(&e, "xyz", 3);
    assert_int_equal(sq_enc_status(&e), SQ_OK);
    assert_int_equal(sq_enc_len(&e), 1 + 2 + 4 + 8 + 8 + 4 + 3);
    /* The byte order is fixed, whatever the host. */
    const uint8_t expect[] = {0xab, 0x34, 0x12, 0xef, 0xbe, 0xad, 0xde, 8, 7, 6, 5, 4, 3, 2, 1};
    assert_memory_equal(buf, expect, sizeof(expect));

    struct sq_dec d;
    sq_dec_init(&d, buf, sq_enc_len(&e));
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t x;
    int64_t y;
    const uint8_t *p;
    size_t n;
    assert_int_equal(sq_dec_u8(&d, &a), SQ_OK);
    assert_int_equal(sq_dec_u16(&d, &b), SQ_OK);
    assert_int_equal(sq_dec_u32(&d, &c), SQ_OK);
    assert_int_equal(sq_dec_u64(&d, &x), SQ_OK);
    assert_int_equal(sq_dec_i64(&d, &y), SQ_OK);
    assert_int_equal(sq_dec_lp32(&d, 16, &p, &n), SQ_OK);
    assert_int_equal(a, 0xab);
    assert_int_equal(b, 0x1234);
    assert_int_equal(c, 0xdeadbeef);
    assert_true(x == UINT64_C(0x0102030405060708));
    assert_true(y == -2);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "xyz", 3);
    assert_int_equal(sq_dec_finish(&d), SQ_OK);
}

static void test_encoder_never_writes_past_capacity(void **state)
{
    (void)state;
    uint8_t buf[8 + 4];
    memset(buf, 0x55, sizeof(buf));
    struct sq_enc e;
    sq_enc_init(&e, buf, 6);
    sq_enc_u32(&e, 1);
    sq_enc_u32(&e, 2); /* does not fit: fails, writes nothing */
    sq_enc_u8(&e, 3);  /* sticky failure */
    assert_int_equal(sq_enc_status(&e), SQ_ETOOBIG);
    assert_int_equal(sq_enc_len(&e), 0);
    assert_int_equal(sq_enc_wanted(&e), 9);
    for (size_t i = 6; i < sizeof(buf); i++) {
        assert_int_equal(buf[i], 0x55);
    }
    /* Measuring mode: no buffer at all. */
    sq_enc_init(&e, NULL, 0);
    sq_enc_u64(&e, 7);
    sq_enc_lp32(&e, "abcd", 4);
    assert_int_equal(sq_enc_wanted(&e), 16);
    assert_null(sq_enc_reserve(&e, 1));
}

static void test_decoder_refuses_every_short_read(void **state)
{
    (void)state;
    uint8_t buf[16];
    for (size_t i = 0; i < sizeof(buf); i++) {
        buf[i] = (uint8_t)i;
    }
    /* For every truncation, a u64 read either succeeds entirely or fails with zeroed output. */
    for (size_t len = 0; len <= sizeof(buf); len++) {
        struct sq_dec d;
        sq_dec_init(&d, buf, len);
        uint64_t v = 99;
        int rc = sq_dec_u64(&d, &v);
        if (len >= 8) {
            assert_int_equal(rc, SQ_OK);
            assert_int_equal(sq_dec_left(&d), len - 8);
        } else {
            assert_int_equal(rc, SQ_ECORRUPT);
            assert_true(v == 0);
            assert_int_equal(sq_dec_left(&d), 0);
            /* Sticky: even a 1-byte read fails now. */
            uint8_t u = 7;
            assert_int_equal(sq_dec_u8(&d, &u), SQ_ECORRUPT);
            assert_int_equal(u, 0);
            assert_int_equal(sq_dec_finish(&d), SQ_ECORRUPT);
        }
    }
}

static void test_length_prefix_checked_against_max_and_remaining(void **state)
{
    (void)state;
    uint8_t buf[32];
    struct sq_enc e;
    sq_enc_init(&e, buf, sizeof(buf));
    sq_enc_u32(&e, 10); /* claims 10 bytes */
    sq_enc_bytes(&e, "0123456789", 10);
    const uint8_t *p;
    size_t n;
    struct sq_dec d;

    sq_dec_init(&d, buf, 14);
    assert_int_equal(sq_dec_lp32(&d, 9, &p, &n), SQ_ECORRUPT); /* over the caller's max */
    assert_null(p);
    assert_int_equal(n, 0);

    sq_dec_init(&d, buf, 13); /* one byte short of the claim */
    assert_int_equal(sq_dec_lp32(&d, 100, &p, &n), SQ_ECORRUPT);

    /* A huge claimed length must not wrap any arithmetic. */
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    sq_dec_init(&d, huge, 4);
    assert_int_equal(sq_dec_lp32(&d, SIZE_MAX, &p, &n), SQ_ECORRUPT);

    sq_dec_init(&d, buf, 14);
    assert_int_equal(sq_dec_lp32(&d, 10, &p, &n), SQ_OK);
    assert_int_equal(n, 10);
    assert_int_equal(sq_dec_finish(&d), SQ_OK);
}

static void test_trailing_bytes_are_an_error(void **state)
{
    (void)state;
    uint8_t buf[5] = {1, 0, 0, 0, 9};
    struct sq_dec d;
    sq_dec_init(&d, buf, sizeof(buf));
    uint32_t v;
    assert_int_equal(sq_dec_u32(&d, &v), SQ_OK);
    assert_int_equal(sq_dec_finish(&d), SQ_ECORRUPT);
    assert_int_equal(sq_dec_skip(&d, 1), SQ_OK);
    assert_int_equal(sq_dec_finish(&d), SQ_OK);
    assert_int_equal(sq_dec_skip(&d, 1), SQ_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_little_endian),
        cmocka_unit_test(test_encoder_never_writes_past_capacity),
        cmocka_unit_test(test_decoder_refuses_every_short_read),
        cmocka_unit_test(test_length_prefix_checked_against_max_and_remaining),
        cmocka_unit_test(test_trailing_bytes_are_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
