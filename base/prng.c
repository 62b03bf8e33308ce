#include "base/prng.h"

#include "base/assert.h"

uint64_t sq_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

void sq_prng_seed(struct sq_prng *prng, uint64_t seed)
{
    uint64_t st = seed;
    for (int i = 0; i < 4; i++) {
        prng->s[i] = sq_splitmix64(&st);
    }
    /* xoshiro's only invalid state is all zeros; splitmix64 output never gives four zeros, but
     * the invariant is cheap to state. */
    SQ_ASSERT((prng->s[0] | prng->s[1] | prng->s[2] | prng->s[3]) != 0);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t sq_prng_next(struct sq_prng *prng)
{
    uint64_t *s = prng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t sq_prng_below(struct sq_prng *prng, uint64_t bound)
{
    SQ_ASSERT(bound > 0);
    /* Rejection sampling: discard the top partial range so every residue is equally likely. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
    uint64_t x;
    do {
        x = sq_prng_next(prng);
    } while (x >= limit);
    return x % bound;
}

uint64_t sq_prng_range(struct sq_prng *prng, uint64_t lo, uint64_t hi)
{
    SQ_ASSERT(lo <= hi);
    if (lo == 0 && hi == UINT64_MAX) {
        return sq_prng_next(prng);
    }
    return lo + sq_prng_below(prng, hi - lo + 1);
}

int sq_prng_chance(struct sq_prng *prng, uint64_t numer, uint64_t denom)
{
    SQ_ASSERT(denom > 0);
    SQ_ASSERT(numer <= denom);
    return sq_prng_below(prng, denom) < numer;
}

void sq_prng_fill(struct sq_prng *prng, void *buf, size_t size)
{
    /* Bytes are taken little-endian from each word so the stream is the same on every host. */
    unsigned char *p = buf;
    while (size > 0) {
        uint64_t x = sq_prng_next(prng);
        size_t n = size < 8 ? size : 8;
        for (size_t i = 0; i < n; i++) {
            p[i] = (unsigned char)(x >> (8 * i));
        }
        p += n;
        size -= n;
    }
}
