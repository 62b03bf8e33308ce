/* crypto_bench: rates of the crypto module on this machine, one JSON line on stdout.
 *
 *   crypto_bench [--runs N] [--secs S] [--threads T] [--batch B] [--verbose]
 *
 * Every figure is the median of N runs (default 3) of about S seconds (default 1.0). Within a run
 * the figures are measured one after the other, so a run sees one machine state; libsodium's own
 * Ed25519 verify of a 150-byte message (what /work/shared/anchors/03_crypto.sh measures) runs
 * right before Squall's, so verify_vs_raw compares like with like.
 *
 *   sha256_64B_MBps, sha256_1MiB_MBps  sqc_sha256 one-shot throughput (MB = 1e6 bytes)
 *   ed25519_sign_per_s                  sqc_sign of a 150-byte message (domain separated)
 *   ed25519_verify_per_s                sqc_verify of a 150-byte message, one thread
 *   ed25519_verify_digest_per_s         sqc_verify_digest of the pool's jobs, one thread
 *   ed25519_verify_pool_per_s           sqc_verify_pool_run over batches of B jobs
 *   pool_speedup                        pool rate / one-thread rate of the same jobs
 *   libsodium_raw_verify_per_s          crypto_sign_verify_detached, 150-byte message
 *   verify_vs_raw                       ed25519_verify_per_s / libsodium_raw_verify_per_s */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/err.h"
#include "crypto/crypto.h"

#define RUNS_MAX 15
#define MSG_BYTES 150
#define JOBS_DISTINCT 256
#define KEYS 8

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Runs `op` (which does `n` operations and returns how many it did) for about `secs`, in growing
 * chunks so that the clock is read rarely. Returns operations per second. */
typedef long (*op_fn)(long n);
static double rate(op_fn op, double secs)
{
    long chunk = 1;
    long total = 0;
    double t0 = now_s();
    double t;
    do {
        total += op(chunk);
        t = now_s();
        if (t - t0 < secs / 20) {
            chunk *= 2;
        }
    } while (t - t0 < secs);
    return (double)total / (t - t0);
}

/* ---- fixtures ---- */

static uint8_t msg[MSG_BYTES];
static struct sqc_keypair keys[KEYS];
static uint8_t sig_domain[SQC_SIG_BYTES]; /* keys[0], SQC_DOMAIN_TEST, msg */
static uint8_t raw_pk[crypto_sign_PUBLICKEYBYTES];
static uint8_t raw_sig[crypto_sign_BYTES]; /* libsodium's own key pair, over msg */
static uint8_t *big;
static size_t hash_bytes;
static struct sqc_verify_job jobs[JOBS_DISTINCT];
static struct sqc_verify_job *batch;
static size_t batch_count;
static struct sqc_verify_pool *pool;
static volatile uint8_t sink;

static long op_sha256(long n)
{
    uint8_t h[SQC_HASH_BYTES];
    for (long i = 0; i < n; i++) {
        sqc_sha256(h, big, hash_bytes);
        big[0] ^= h[0]; /* each input depends on the last output */
    }
    return n;
}

static long op_sign(long n)
{
    uint8_t m[MSG_BYTES];
    uint8_t s[SQC_SIG_BYTES];
    memcpy(m, msg, sizeof(m));
    for (long i = 0; i < n; i++) {
        m[0] = (uint8_t)i;
        sqc_sign(&keys[0], SQC_DOMAIN_TEST, m, sizeof(m), s);
    }
    sink ^= s[0];
    return n;
}

static long op_verify(long n)
{
    for (long i = 0; i < n; i++) {
        SQ_ASSERT(sqc_verify(keys[0].pk, SQC_DOMAIN_TEST, msg, sizeof(msg), sig_domain) == SQ_OK);
    }
    return n;
}

static long op_raw_verify(long n)
{
    for (long i = 0; i < n; i++) {
        SQ_ASSERT(crypto_sign_verify_detached(raw_sig, msg, sizeof(msg), raw_pk) == 0);
    }
    return n;
}

static long op_verify_digest(long n)
{
    for (long i = 0; i < n; i++) {
        struct sqc_verify_job *j = &jobs[i % JOBS_DISTINCT];
        SQ_ASSERT(sqc_verify_digest(j->pk, j->domain, j->digest, j->sig) == SQ_OK);
    }
    return n;
}

static long op_pool(long n)
{
    /* n batches of batch_count jobs each. */
    for (long i = 0; i < n; i++) {
        SQ_ASSERT(sqc_verify_pool_run(pool, batch, batch_count) == 0);
    }
    return n * (long)batch_count;
}

static void fixtures_init(size_t batch_jobs)
{
    randombytes_buf(msg, sizeof(msg));
    for (int k = 0; k < KEYS; k++) {
        SQ_ASSERT(sqc_keypair_generate(&keys[k]) == SQ_OK);
    }
    sqc_sign(&keys[0], SQC_DOMAIN_TEST, msg, sizeof(msg), sig_domain);
    uint8_t raw_sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(raw_pk, raw_sk);
    crypto_sign_detached(raw_sig, NULL, msg, sizeof(msg), raw_sk);
    sodium_memzero(raw_sk, sizeof(raw_sk));
    big = malloc(1u << 20);
    SQ_ASSERT(big != NULL);
    randombytes_buf(big, 1u << 20);
    for (size_t i = 0; i < JOBS_DISTINCT; i++) {
        struct sqc_verify_job *j = &jobs[i];
        uint8_t m[MSG_BYTES];
        memcpy(m, msg, sizeof(m));
        memcpy(m, &i, sizeof(i));
        sqc_sha256(j->digest, m, sizeof(m));
        j->domain = (enum sqc_domain)(i % SQC_DOMAIN_COUNT_);
        sqc_sign_digest(&keys[i % KEYS], j->domain, j->digest, j->sig);
        memcpy(j->pk, keys[i % KEYS].pk, SQC_PK_BYTES);
    }
    batch_count = batch_jobs;
    batch = calloc(batch_count, sizeof(*batch));
    SQ_ASSERT(batch != NULL);
    for (size_t i = 0; i < batch_count; i++) {
        batch[i] = jobs[i % JOBS_DISTINCT];
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: crypto_bench [--runs N] [--secs S] [--threads T] [--batch B] "
                    "[--verbose]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int runs = 3;
    double secs = 1.0;
    unsigned threads = 0;
    size_t batch_jobs = 1024;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--secs") == 0 && i + 1 < argc) {
            secs = atof(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = (unsigned)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) {
            batch_jobs = (size_t)atol(argv[++i]);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            verbose = true;
        } else {
            usage();
        }
    }
    if (runs < 1 || runs > RUNS_MAX || secs <= 0 || batch_jobs < 1) {
        usage();
    }
    if (sqc_init() != SQ_OK) {
        fprintf(stderr, "crypto_bench: sqc_init failed\n");
        return 1;
    }
    fixtures_init(batch_jobs);
    if (sqc_verify_pool_create(&pool, threads) != SQ_OK) {
        fprintf(stderr, "crypto_bench: cannot create the verification pool\n");
        return 1;
    }

    enum { SHA64, SHA1M, SIGN, RAW, VERIFY, DIGEST, POOL, METRICS };
    static const char *const names[METRICS] = {"sha64/s",  "sha1MiB/s", "sign/s", "raw/s",
                                               "verify/s", "digest/s",  "pool/s"};
    double r[METRICS][RUNS_MAX];
    for (int k = 0; k < runs; k++) {
        hash_bytes = 64;
        r[SHA64][k] = rate(op_sha256, secs);
        hash_bytes = 1u << 20;
        r[SHA1M][k] = rate(op_sha256, secs);
        r[SIGN][k] = rate(op_sign, secs);
        r[RAW][k] = rate(op_raw_verify, secs);
        r[VERIFY][k] = rate(op_verify, secs);
        r[DIGEST][k] = rate(op_verify_digest, secs);
        r[POOL][k] = rate(op_pool, secs);
        if (verbose) {
            fprintf(stderr, "run %d:", k + 1);
            for (int m = 0; m < METRICS; m++) {
                fprintf(stderr, " %s=%.0f", names[m], r[m][k]);
            }
            fprintf(stderr, "\n");
        }
    }
    double med[METRICS];
    for (int m = 0; m < METRICS; m++) {
        med[m] = median(r[m], runs);
    }
    printf("{\"bench\":\"crypto\",\"runs\":%d,\"secs\":%.2f,"
           "\"sha256_64B_MBps\":%.1f,\"sha256_1MiB_MBps\":%.1f,"
           "\"ed25519_sign_per_s\":%.0f,\"ed25519_verify_per_s\":%.0f,"
           "\"ed25519_verify_digest_per_s\":%.0f,\"ed25519_verify_pool_per_s\":%.0f,"
           "\"pool_threads\":%u,\"pool_batch\":%zu,\"pool_speedup\":%.2f,"
           "\"libsodium_raw_verify_per_s\":%.0f,\"verify_vs_raw\":%.3f}\n",
           runs, secs, med[SHA64] * 64 / 1e6, med[SHA1M] * (double)(1u << 20) / 1e6, med[SIGN],
           med[VERIFY], med[DIGEST], med[POOL], sqc_verify_pool_threads(pool), batch_count,
           med[POOL] / med[DIGEST], med[RAW], med[VERIFY] / med[RAW]);
    sqc_verify_pool_destroy(pool);
    for (int k = 0; k < KEYS; k++) {
        sqc_keypair_free(&keys[k]);
    }
    free(batch);
    free(big);
    return 0;
}
