/* SHA-256: FIPS 180-2 vectors, and one-shot, parts and incremental hashing agreeing everywhere. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/prng.h"
#include "crypto/crypto.h"
#include "crypto_test.h"

static const char abc_hex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
static const char msg448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char msg448_hex[] = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
static const char million_a_hex[] =
    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
static const char empty_hex[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

static void test_fips_180_2_vectors(void **state)
{
    (void)state;
    uint8_t h[SQC_HASH_BYTES];
    sqc_sha256(h, "abc", 3);
    assert_hex_equal(h, sizeof(h), abc_hex);
    assert_int_equal(strlen(msg448) * 8, 448);
    sqc_sha256(h, msg448, strlen(msg448));
    assert_hex_equal(h, sizeof(h), msg448_hex);
    sqc_sha256(h, NULL, 0);
    assert_hex_equal(h, sizeof(h), empty_hex);

    /* One million 'a': one shot, and incrementally in uneven pieces. */
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    sqc_sha256(h, a, n);
    assert_hex_equal(h, sizeof(h), million_a_hex);
    struct sqc_sha256 inc = {0};
    assert_int_equal(sqc_sha256_init(&inc), SQ_OK);
    size_t done = 0;
    for (size_t piece = 1; done < n; piece = piece * 3 + 1) {
        size_t take = piece < n - done ? piece : n - done;
        sqc_sha256_update(&inc, a + done, take);
        done += take;
    }
    sqc_sha256_final(&inc, h);
    assert_null(inc.ctx);
    assert_hex_equal(h, sizeof(h), million_a_hex);
    free(a);
}

static void test_parts_and_incremental_match_one_shot(void **state)
{
    (void)state;
    struct sq_prng prng;
    sq_prng_seed(&prng, 6962);
    uint8_t msg[700];
    for (int round = 0; round < 300; round++) {
        size_t size = (size_t)sq_prng_below(&prng, sizeof(msg) + 1);
        sq_prng_fill(&prng, msg, size);
        uint8_t want[SQC_HASH_BYTES];
        sqc_sha256(want, msg, size);

        struct sqc_iov parts[8];
        size_t count = 0;
        size_t at = 0;
        struct sqc_sha256 inc = {0};
        assert_int_equal(sqc_sha256_init(&inc), SQ_OK);
        while (count < 7 && at < size) {
            size_t take = (size_t)sq_prng_below(&prng, size - at + 1);
            parts[count++] = (struct sqc_iov){msg + at, take}; /* empty parts too */
            sqc_sha256_update(&inc, msg + at, take);
            at += take;
        }
        parts[count++] = (struct sqc_iov){msg + at, size - at};
        sqc_sha256_update(&inc, msg + at, size - at);

        uint8_t got[SQC_HASH_BYTES];
        sqc_sha256_parts(got, parts, count);
        assert_memory_equal(got, want, sizeof(want));
        sqc_sha256_final(&inc, got);
        assert_memory_equal(got, want, sizeof(want));
    }
    uint8_t h[SQC_HASH_BYTES];
    sqc_sha256_parts(h, NULL, 0);
    assert_hex_equal(h, sizeof(h), empty_hex);
}

static void test_incremental_free_paths(void **state)
{
    (void)state;
    struct sqc_sha256 zeroed = {0};
    sqc_sha256_free(&zeroed); /* safe on a zeroed struct */
    struct sqc_sha256 h = {0};
    assert_int_equal(sqc_sha256_init(&h), SQ_OK);
    sqc_sha256_update(&h, "abc", 3);
    sqc_sha256_free(&h); /* an error path: no digest, nothing leaked (ASan checks) */
    assert_null(h.ctx);
    sqc_sha256_free(&h);
    assert_int_equal(sqc_sha256_init(&h), SQ_OK);
    uint8_t d[SQC_HASH_BYTES];
    sqc_sha256_final(&h, d);
    sqc_sha256_free(&h); /* safe after final */
    assert_hex_equal(d, sizeof(d), empty_hex);
}

/* Each thread gets its own reusable context; results must not mix and the contexts are freed when
 * the threads exit (LeakSanitizer would report them otherwise). */
struct hasher {
    uint64_t seed;
    int mismatches;
};

static void *hash_thread(void *arg)
{
    struct hasher *t = arg;
    struct sq_prng prng;
    sq_prng_seed(&prng, t->seed);
    for (int i = 0; i < 2000; i++) {
        uint8_t msg[64];
        sq_prng_fill(&prng, msg, sizeof(msg));
        uint8_t a[SQC_HASH_BYTES];
        uint8_t b[SQC_HASH_BYTES];
        sqc_sha256(a, msg, sizeof(msg));
        struct sqc_iov parts[2] = {{msg, 10}, {msg + 10, sizeof(msg) - 10}};
        sqc_sha256_parts(b, parts, 2);
        if (memcmp(a, b, sizeof(a)) != 0) {
            t->mismatches++;
        }
    }
    uint8_t h[SQC_HASH_BYTES];
    sqc_sha256(h, "abc", 3);
    char hex[2 * SQC_HASH_BYTES + 1];
    sqc_hex_encode(hex, sizeof(hex), h, sizeof(h));
    if (strcmp(hex, abc_hex) != 0) {
        t->mismatches++;
    }
    return NULL;
}

static void test_threads_hash_independently(void **state)
{
    (void)state;
    pthread_t tids[4];
    struct hasher hs[4];
    for (int i = 0; i < 4; i++) {
        hs[i] = (struct hasher){.seed = (uint64_t)i + 1};
        assert_int_equal(pthread_create(&tids[i], NULL, hash_thread, &hs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(tids[i], NULL), 0);
        assert_int_equal(hs[i].mismatches, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fips_180_2_vectors),
        cmocka_unit_test(test_parts_and_incremental_match_one_shot),
        cmocka_unit_test(test_incremental_free_paths),
        cmocka_unit_test(test_threads_hash_independently),
    };
    return cmocka_run_group_tests_name("crypto_sha256", tests, group_init_crypto, NULL);
}
