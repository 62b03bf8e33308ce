/* Initialisation, hex, constant-time comparison, randomness, wiping and secure memory. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/err.h"
#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

int sqc_init(void)
{
    /* sodium_init() is idempotent and thread-safe: 0 the first time, 1 afterwards. */
    if (sodium_init() < 0) {
        return SQ_ECRYPTO;
    }
    return sqc_sha256_setup_();
}

void sqc_errbuf_set_(char *errbuf, size_t errbuf_size, const char *fmt, ...)
{
    if (errbuf == NULL || errbuf_size == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, errbuf_size, fmt, ap);
    va_end(ap);
}

/* ---- hex ---- */

void sqc_hex_encode(char *out, size_t out_cap, const void *data, size_t size)
{
    static const char digits[] = "0123456789abcdef";
    SQ_ASSERT(out != NULL);
    SQ_ASSERT(size <= (SIZE_MAX - 1) / 2);
    SQ_ASSERT(out_cap >= 2 * size + 1);
    SQ_ASSERT(size == 0 || data != NULL);
    const uint8_t *in = data;
    for (size_t i = 0; i < size; i++) {
        /* The table is 16 bytes, one cache line: the lookup does not leak the nibble. */
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * size] = '\0';
}

/* 1 if lo <= c <= hi, else 0, without a branch on c. Both differences are non-negative only inside
 * the range; outside it one of them wraps to a huge unsigned value whose bits above 8 are set. */
static unsigned in_range(unsigned c, unsigned lo, unsigned hi)
{
    unsigned d = (c - lo) | (hi - c);
    return ((d >> 8) - 1) >> 31;
}

/* The value of the hex digit c; sets *bad to 1 if c is not one. Branch-free in c, so decoding a
 * hex-encoded secret does not reveal it through timing. */
static unsigned hex_value(unsigned c, unsigned *bad)
{
    unsigned is_digit = in_range(c, '0', '9');
    unsigned is_lower = in_range(c, 'a', 'f');
    unsigned is_upper = in_range(c, 'A', 'F');
    unsigned value = ((0u - is_digit) & (c - '0')) | ((0u - is_lower) & (c - 'a' + 10)) |
                     ((0u - is_upper) & (c - 'A' + 10));
    *bad |= 1u ^ (is_digit | is_lower | is_upper);
    return value & 0x0f;
}

int sqc_hex_decode(void *out, size_t out_cap, const char *hex, size_t hex_len, size_t *size)
{
    SQ_ASSERT(size != NULL);
    SQ_ASSERT(hex_len == 0 || hex != NULL);
    *size = 0;
    if (hex_len % 2 != 0) {
        return SQ_ECORRUPT;
    }
    size_t n = hex_len / 2;
    if (n > out_cap) {
        return SQ_ETOOBIG;
    }
    SQ_ASSERT(n == 0 || out != NULL);
    uint8_t *o = out;
    unsigned bad = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned hi = hex_value((unsigned char)hex[2 * i], &bad);
        unsigned lo = hex_value((unsigned char)hex[2 * i + 1], &bad);
        o[i] = (uint8_t)((hi << 4) | lo);
    }
    if (bad != 0) {
        /* Leave nothing half-decoded behind: the input may have been a secret. */
        sodium_memzero(out, n);
        return SQ_ECORRUPT;
    }
    *size = n;
    return SQ_OK;
}

/* ---- comparison, randomness, wiping, secure memory ---- */

bool sqc_equal(const void *a, const void *b, size_t size)
{
    if (size == 0) {
        return true;
    }
    SQ_ASSERT(a != NULL);
    SQ_ASSERT(b != NULL);
    return sodium_memcmp(a, b, size) == 0;
}

void sqc_random(void *buf, size_t size)
{
    if (size == 0) {
        return;
    }
    SQ_ASSERT(buf != NULL);
    randombytes_buf(buf, size);
}

void sqc_wipe(void *buf, size_t size)
{
    if (size == 0) {
        return;
    }
    SQ_ASSERT(buf != NULL);
    sodium_memzero(buf, size);
}

void *sqc_secure_alloc(size_t size)
{
    return sodium_malloc(size);
}

void sqc_secure_free(void *ptr)
{
    /* sodium_free wipes the whole region before unmapping it; NULL is a no-op. */
    sodium_free(ptr);
}
