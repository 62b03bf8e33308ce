/* Helpers shared by the crypto unit tests. Include after <cmocka.h>. */
#ifndef SQ_TESTS_CRYPTO_TEST_H
#define SQ_TESTS_CRYPTO_TEST_H

#include <stdint.h>
#include <string.h>

#include "base/err.h"
#include "crypto/crypto.h"

/* Decodes a hex literal of exactly `size` bytes into out; fails the test otherwise. */
static inline void hex_to(uint8_t *out, size_t size, const char *hex)
{
    size_t n = 0;
    assert_int_equal(sqc_hex_decode(out, size, hex, strlen(hex), &n), SQ_OK);
    assert_int_equal(n, size);
}

/* Fails the test unless `got` (size bytes) encodes to the hex string `want`. */
static inline void assert_hex_equal(const uint8_t *got, size_t size, const char *want)
{
    char buf[2 * 1024 + 1];
    assert_true(size <= 1024);
    sqc_hex_encode(buf, sizeof(buf), got, size);
    assert_string_equal(buf, want);
}

static inline int group_init_crypto(void **state)
{
    (void)state;
    return sqc_init() == SQ_OK ? 0 : -1;
}

#endif
