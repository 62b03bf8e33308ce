/* The verification pool: batches with mixed good and bad jobs, concurrent callers, the async path,
 * back-pressure and draining at destroy. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/prng.h"
#include "crypto/crypto.h"
#include "crypto_test.h"

#define KEYS 4
static struct sqc_keypair keys[KEYS];

static int group_setup(void **state)
{
    if (group_init_crypto(state) != 0) {
        return -1;
    }
    for (int i = 0; i < KEYS; i++) {
        if (sqc_keypair_generate(&keys[i]) != SQ_OK) {
            return -1;
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < KEYS; i++) {
        sqc_keypair_free(&keys[i]);
    }
    return 0;
}

/* Fills job i; `flaw` 0 makes a good job, 1..4 a bad one (a different way each). Returns the
 * result the job must get. */
static int job_make(struct sqc_verify_job *job, uint64_t i, int flaw)
{
    memset(job, 0, sizeof(*job));
    const struct sqc_keypair *kp = &keys[i % KEYS];
    enum sqc_domain domain = (enum sqc_domain)(i % SQC_DOMAIN_COUNT_);
    uint8_t msg[16];
    memcpy(msg, &i, sizeof(i));
    memset(msg + 8, 0x5a, 8);
    sqc_sha256(job->digest, msg, sizeof(msg));
    sqc_sign_digest(kp, domain, job->digest, job->sig);
    memcpy(job->pk, kp->pk, SQC_PK_BYTES);
    job->domain = domain;
    job->result = -1;
    switch (flaw) {
    case 0:
        return SQ_OK;
    case 1:
        job->sig[i % SQC_SIG_BYTES] ^= 0x01;
        break;
    case 2:
        job->domain = (enum sqc_domain)((domain + 1) % SQC_DOMAIN_COUNT_);
        break;
    case 3:
        job->digest[0] ^= 0x80;
        break;
    default:
        memcpy(job->pk, keys[(i + 1) % KEYS].pk, SQC_PK_BYTES);
        break;
    }
    return SQ_EBADSIG;
}

/* A job that fails fast: its S is not reduced, so libsodium rejects it before any curve work. */
static void job_make_junk(struct sqc_verify_job *job)
{
    memset(job, 0, sizeof(*job));
    memcpy(job->pk, keys[0].pk, SQC_PK_BYTES);
    memset(job->sig, 0xff, SQC_SIG_BYTES);
    job->domain = SQC_DOMAIN_TEST;
    job->result = -1;
}

static void check_batch(struct sqc_verify_pool *pool, size_t count, uint64_t seed)
{
    struct sqc_verify_job *jobs = calloc(count ? count : 1, sizeof(*jobs));
    int *want = calloc(count ? count : 1, sizeof(*want));
    assert_non_null(jobs);
    assert_non_null(want);
    struct sq_prng prng;
    sq_prng_seed(&prng, seed);
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        int flaw = sq_prng_chance(&prng, 1, 4) ? (int)sq_prng_range(&prng, 1, 4) : 0;
        want[i] = job_make(&jobs[i], seed * 100000 + i, flaw);
        bad += want[i] != SQ_OK;
    }
    assert_int_equal(sqc_verify_pool_run(pool, jobs, count), bad);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(jobs[i].result, want[i]);
    }
    free(want);
    free(jobs);
}

static void test_create_and_limits(void **state)
{
    (void)state;
    struct sqc_verify_pool *pool = NULL;
    assert_int_equal(sqc_verify_pool_create(&pool, SQ_VERIFY_THREADS_MAX + 1), SQ_EINVAL);
    assert_null(pool);
    assert_int_equal(sqc_verify_pool_create(&pool, 0), SQ_OK);
    assert_true(sqc_verify_pool_threads(pool) >= 1);
    assert_true(sqc_verify_pool_threads(pool) <= SQ_VERIFY_THREADS_MAX);
    sqc_verify_pool_destroy(pool);
    sqc_verify_pool_destroy(NULL);
}

static void test_run_mixed_batches(void **state)
{
    (void)state;
    static const unsigned thread_counts[] = {1, 2, 3};
    static const size_t sizes[] = {0, 1, 2, 3, 7, 64, 257, 1000};
    for (size_t t = 0; t < SQ_ARRAY_LEN(thread_counts); t++) {
        struct sqc_verify_pool *pool = NULL;
        assert_int_equal(sqc_verify_pool_create(&pool, thread_counts[t]), SQ_OK);
        assert_int_equal(sqc_verify_pool_threads(pool), thread_counts[t]);
        for (size_t s = 0; s < SQ_ARRAY_LEN(sizes); s++) {
            check_batch(pool, sizes[s], t * 10 + s + 1);
        }
        sqc_verify_pool_destroy(pool);
    }
}

static void test_run_all_bad_and_all_good(void **state)
{
    (void)state;
    struct sqc_verify_pool *pool = NULL;
    assert_int_equal(sqc_verify_pool_create(&pool, 2), SQ_OK);
    struct sqc_verify_job jobs[100];
    for (size_t i = 0; i < 100; i++) {
        job_make(&jobs[i], i, 0);
    }
    assert_int_equal(sqc_verify_pool_run(pool, jobs, 100), 0);
    for (size_t i = 0; i < 100; i++) {
        job_make(&jobs[i], i, 1 + (int)(i % 4));
    }
    assert_int_equal(sqc_verify_pool_run(pool, jobs, 100), 100);
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(jobs[i].result, SQ_EBADSIG);
    }
    sqc_verify_pool_destroy(pool);
}

struct runner {
    struct sqc_verify_pool *pool;
    uint64_t seed;
    int failures;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    size_t count = 300;
    struct sqc_verify_job *jobs = calloc(count, sizeof(*jobs));
    int *want = calloc(count, sizeof(*want));
    if (jobs == NULL || want == NULL) {
        r->failures++;
        goto out;
    }
    for (int round = 0; round < 3; round++) {
        size_t bad = 0;
        for (size_t i = 0; i < count; i++) {
            want[i] = job_make(&jobs[i], r->seed + i, (int)((i + (size_t)round) % 5));
            bad += want[i] != SQ_OK;
        }
        if (sqc_verify_pool_run(r->pool, jobs, count) != bad) {
            r->failures++;
        }
        for (size_t i = 0; i < count; i++) {
            if (jobs[i].result != want[i]) {
                r->failures++;
            }
        }
    }
out:
    free(want);
    free(jobs);
    return NULL;
}

static void test_concurrent_callers(void **state)
{
    (void)state;
    struct sqc_verify_pool *pool = NULL;
    assert_int_equal(sqc_verify_pool_create(&pool, 2), SQ_OK);
    pthread_t tids[3];
    struct runner runners[3];
    for (int i = 0; i < 3; i++) {
        runners[i] = (struct runner){.pool = pool, .seed = (uint64_t)i * 1000003};
        assert_int_equal(pthread_create(&tids[i], NULL, run_thread, &runners[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_join(tids[i], NULL), 0);
        assert_int_equal(runners[i].failures, 0);
    }
    sqc_verify_pool_destroy(pool);
}

/* ---- asynchronous path ---- */

struct tally {
    pthread_mutex_t lock;
    pthread_cond_t cv;
    size_t done;
    size_t bad;
    bool gate_open; /* gate jobs block in their callback until this is set */
    size_t gated;   /* callbacks currently blocked at the gate */
};

static void tally_init(struct tally *t)
{
    memset(t, 0, sizeof(*t));
    assert_int_equal(pthread_mutex_init(&t->lock, NULL), 0);
    assert_int_equal(pthread_cond_init(&t->cv, NULL), 0);
}

static void tally_destroy(struct tally *t)
{
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->lock);
}

static void on_done(struct sqc_verify_job *job, void *arg)
{
    struct tally *t = arg;
    pthread_mutex_lock(&t->lock);
    t->done++;
    t->bad += job->result != SQ_OK;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->lock);
}

static void on_done_gated(struct sqc_verify_job *job, void *arg)
{
    struct tally *t = arg;
    pthread_mutex_lock(&t->lock);
    t->gated++;
    pthread_cond_broadcast(&t->cv);
    while (!t->gate_open) {
        pthread_cond_wait(&t->cv, &t->lock);
    }
    t->gated--;
    pthread_mutex_unlock(&t->lock);
    on_done(job, arg);
}

/* Waits (at most 60 s) until *field reaches want. Returns false on timeout. */
static bool tally_wait(struct tally *t, const size_t *field, size_t want)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&t->lock);
    int rc = 0;
    while (*field < want && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&t->cv, &t->lock, &deadline);
    }
    bool ok = *field >= want;
    pthread_mutex_unlock(&t->lock);
    return ok;
}

static void test_submit_async(void **state)
{
    (void)state;
    struct sqc_verify_pool *pool = NULL;
    assert_int_equal(sqc_verify_pool_create(&pool, 2), SQ_OK);
    size_t count = 500;
    struct sqc_verify_job *jobs = calloc(count, sizeof(*jobs));
    int *want = calloc(count, sizeof(*want));
    assert_non_null(jobs);
    assert_non_null(want);
    size_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        want[i] = job_make(&jobs[i], i + 77, i % 3 == 0 ? (int)(1 + i % 4) : 0);
        bad += want[i] != SQ_OK;
    }
    struct tally t;
    tally_init(&t);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(sqc_verify_pool_submit(pool, &jobs[i], on_done, &t), SQ_OK);
    }
    assert_true(tally_wait(&t, &t.done, count));
    assert_int_equal(t.done, count);
    assert_int_equal(t.bad, bad);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(jobs[i].result, want[i]);
    }
    /* Synchronous batches still work while the pool also serves the queue. */
    check_batch(pool, 200, 4242);
    sqc_verify_pool_destroy(pool);
    tally_destroy(&t);
    free(want);
    free(jobs);
}

static void test_submit_back_pressure(void **state)
{
    (void)state;
    unsigned threads = 2;
    struct sqc_verify_pool *pool = NULL;
    assert_int_equal(sqc_verify_pool_create(&pool, threads), SQ_OK);
    struct tally t;
    tally_init(&t);

    /* Park every worker in a callback, one at a time so each takes exactly one gate job. */
    struct sqc_verify_job gate_jobs[SQ_VERIFY_THREADS_MAX];
    for (unsigned w = 0; w < threads; w++) {
        job_make(&gate_jobs[w], w, 0);
        assert_int_equal(sqc_verify_pool_submit(pool, &gate_jobs[w], on_done_gated, &t), SQ_OK);
        assert_true(tally_wait(&t, &t.gated, w + 1));
    }

    /* With every worker parked, exactly SQ_VERIFY_QUEUE_MAX jobs fit, then SQ_EFULL. */
    size_t count = SQ_VERIFY_QUEUE_MAX;
    struct sqc_verify_job *jobs = calloc(count + 1, sizeof(*jobs));
    assert_non_null(jobs);
    for (size_t i = 0; i < count + 1; i++) {
        job_make_junk(&jobs[i]);
    }
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(sqc_verify_pool_submit(pool, &jobs[i], on_done, &t), SQ_OK);
    }
    assert_int_equal(sqc_verify_pool_submit(pool, &jobs[count], on_done, &t), SQ_EFULL);
    assert_int_equal(jobs[count].result, -1); /* refused jobs are untouched */

    pthread_mutex_lock(&t.lock);
    assert_int_equal(t.done, 0);
    t.gate_open = true;
    pthread_cond_broadcast(&t.cv);
    pthread_mutex_unlock(&t.lock);
    assert_true(tally_wait(&t, &t.done, count + threads));
    assert_int_equal(t.bad, count);

    /* Room again. */
    assert_int_equal(sqc_verify_pool_submit(pool, &jobs[count], on_done, &t), SQ_OK);
    assert_true(tally_wait(&t, &t.done, count + threads + 1));
    sqc_verify_pool_destroy(pool);
    tally_destroy(&t);
    free(jobs);
}

static void test_destroy_drains_queue(void **state)
{
    (void)state;
    struct sqc_verify_pool *pool = NULL;
    assert_int_equal(sqc_verify_pool_create(&pool, 2), SQ_OK);
    struct tally t;
    tally_init(&t);
    size_t count = 200;
    struct sqc_verify_job *jobs = calloc(count, sizeof(*jobs));
    assert_non_null(jobs);
    for (size_t i = 0; i < count; i++) {
        job_make(&jobs[i], i, (int)(i % 2));
        assert_int_equal(sqc_verify_pool_submit(pool, &jobs[i], on_done, &t), SQ_OK);
    }
    sqc_verify_pool_destroy(pool); /* returns only after every queued job is done */
    assert_int_equal(t.done, count);
    assert_int_equal(t.bad, count / 2);
    tally_destroy(&t);
    free(jobs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_limits),
        cmocka_unit_test(test_run_mixed_batches),
        cmocka_unit_test(test_run_all_bad_and_all_good),
        cmocka_unit_test(test_concurrent_callers),
        cmocka_unit_test(test_submit_async),
        cmocka_unit_test(test_submit_back_pressure),
        cmocka_unit_test(test_destroy_drains_queue),
    };
    return cmocka_run_group_tests_name("crypto_pool", tests, group_setup, group_teardown);
}
