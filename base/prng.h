/* Seeded deterministic pseudo-random numbers (xoshiro256** seeded through splitmix64).
 *
 * For simulation, jitter, sampling and tests: same seed, same sequence on every platform. NOT for
 * keys, nonces or challenges: those come from libsodium's randombytes (crypto/). */
#ifndef SQ_BASE_PRNG_H
#define SQ_BASE_PRNG_H

#include <stddef.h>
#include <stdint.h>

struct sq_prng {
    uint64_t s[4];
};

/* Seeds the generator; every seed, including 0, gives a valid distinct stream. */
void sq_prng_seed(struct sq_prng *prng, uint64_t seed);

/* The next 64 uniformly distributed bits. */
uint64_t sq_prng_next(struct sq_prng *prng);

/* A uniform value in [0, bound), without modulo bias. `bound` must be > 0. */
uint64_t sq_prng_below(struct sq_prng *prng, uint64_t bound);

/* A uniform value in [lo, hi] (inclusive). Requires lo <= hi. */
uint64_t sq_prng_range(struct sq_prng *prng, uint64_t lo, uint64_t hi);

/* True with probability `numer / denom` (denom > 0, numer <= denom). */
int sq_prng_chance(struct sq_prng *prng, uint64_t numer, uint64_t denom);

/* Fills `size` bytes at `buf` with pseudo-random bytes. */
void sq_prng_fill(struct sq_prng *prng, void *buf, size_t size);

/* splitmix64 step: mixes `*state` forward and returns the next value. Also a good 64-bit hash. */
uint64_t sq_splitmix64(uint64_t *state);

#endif
