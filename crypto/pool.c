/* The verification pool: Ed25519 checks spread over worker threads.
 *
 * Two ways in. sqc_verify_pool_run publishes a batch (on the caller's stack) and works on it too;
 * workers and caller claim chunks of jobs with one atomic add per chunk, so the lock is taken
 * about twice per participant per batch, never per job. sqc_verify_pool_submit appends to a
 * bounded ring (SQ_VERIFY_QUEUE_MAX entries, allocated at creation); workers take several
 * entries per lock acquisition. Workers serve batches first (their callers are blocked waiting),
 * then the ring. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/log.h"
#include "crypto/crypto.h"

/* Queued jobs a worker takes per lock acquisition, at most. */
#define POOL_GRAB_MAX 16
/* Jobs per chunk of a batch: small enough that the last chunks even out the participants' finish
 * times, large enough that claiming is rare. A chunk is about count / (participants * 8). */
#define POOL_CHUNK_MAX 32
#define POOL_CHUNKS_PER_PARTICIPANT 8

static_assert(SQ_VERIFY_THREADS_MAX >= 1, "at least one worker");
static_assert(SQ_VERIFY_QUEUE_MAX >= POOL_GRAB_MAX, "a grab fits in the queue");

struct pool_entry {
    struct sqc_verify_job *job;
    sqc_verify_done_fn done;
    void *arg;
};

/* One sqc_verify_pool_run call. Lives on the caller's stack; the caller does not return before
 * the batch is off the list and no worker rides it. */
struct pool_batch {
    struct sqc_verify_job *jobs;
    size_t count;
    size_t chunk;
    atomic_size_t next;      /* first job not handed out yet */
    atomic_size_t failed;    /* jobs that did not verify */
    unsigned riders;         /* workers working on it (pool lock) */
    struct pool_batch *link; /* next batch with unclaimed jobs (pool lock) */
};

struct sqc_verify_pool {
    pthread_mutex_t lock;
    pthread_cond_t work_cv;     /* workers: a batch, a queued job or stop */
    pthread_cond_t idle_cv;     /* run() callers: a rider left a batch */
    struct pool_batch *batches; /* batches that may have unclaimed jobs, oldest first */
    struct pool_entry *queue;   /* ring of SQ_VERIFY_QUEUE_MAX entries */
    size_t queue_head;
    size_t queue_count;
    bool stopping;
    unsigned threads;
    pthread_t tids[SQ_VERIFY_THREADS_MAX];
};

static void job_verify(struct sqc_verify_job *job)
{
    job->result = sqc_verify_digest(job->pk, job->domain, job->digest, job->sig);
}

/* Claims chunks of `b` until none is left. Any thread, no lock held. */
static void batch_work(struct pool_batch *b)
{
    size_t failed = 0;
    for (;;) {
        size_t start = atomic_fetch_add_explicit(&b->next, b->chunk, memory_order_relaxed);
        if (start >= b->count) {
            break;
        }
        size_t end = b->count - start < b->chunk ? b->count : start + b->chunk;
        for (size_t i = start; i < end; i++) {
            job_verify(&b->jobs[i]);
            if (b->jobs[i].result != SQ_OK) {
                failed++;
            }
        }
    }
    if (failed > 0) {
        atomic_fetch_add_explicit(&b->failed, failed, memory_order_relaxed);
    }
}

/* Removes `b` from the list if it is still there. Pool lock held. */
static void batch_unlink(struct sqc_verify_pool *pool, struct pool_batch *b)
{
    for (struct pool_batch **p = &pool->batches; *p != NULL; p = &(*p)->link) {
        if (*p == b) {
            *p = b->link;
            b->link = NULL;
            return;
        }
    }
}

static bool pool_is_worker(const struct sqc_verify_pool *pool)
{
    for (unsigned i = 0; i < pool->threads; i++) {
        if (pthread_equal(pool->tids[i], pthread_self())) {
            return true;
        }
    }
    return false;
}

static void *worker_main(void *arg)
{
    struct sqc_verify_pool *pool = arg;
    struct pool_entry grabbed[POOL_GRAB_MAX];
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        struct pool_batch *b = pool->batches;
        if (b != NULL) {
            b->riders++;
            pthread_mutex_unlock(&pool->lock);
            batch_work(b);
            pthread_mutex_lock(&pool->lock);
            /* Every chunk is claimed now: nobody else should join this batch. */
            batch_unlink(pool, b);
            SQ_ASSERT(b->riders > 0);
            b->riders--;
            if (b->riders == 0) {
                pthread_cond_broadcast(&pool->idle_cv);
            }
            continue;
        }
        if (pool->queue_count > 0) {
            /* Share what is queued among the workers rather than one taking it all. */
            size_t n = pool->queue_count / pool->threads;
            n = n < 1 ? 1 : n;
            n = n > POOL_GRAB_MAX ? POOL_GRAB_MAX : n;
            for (size_t i = 0; i < n; i++) {
                grabbed[i] = pool->queue[pool->queue_head];
                pool->queue_head = (pool->queue_head + 1) % SQ_VERIFY_QUEUE_MAX;
            }
            pool->queue_count -= n;
            pthread_mutex_unlock(&pool->lock);
            for (size_t i = 0; i < n; i++) {
                job_verify(grabbed[i].job);
                grabbed[i].done(grabbed[i].job, grabbed[i].arg);
            }
            pthread_mutex_lock(&pool->lock);
            continue;
        }
        if (pool->stopping) {
            break;
        }
        pthread_cond_wait(&pool->work_cv, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* Stops and joins the first `started` workers. */
static void pool_stop(struct sqc_verify_pool *pool, unsigned started)
{
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < started; i++) {
        SQ_ASSERT(pthread_join(pool->tids[i], NULL) == 0);
    }
}

int sqc_verify_pool_create(struct sqc_verify_pool **out, unsigned threads)
{
    SQ_ASSERT(out != NULL);
    *out = NULL;
    if (threads == 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        threads = online < 1 ? 1u : (unsigned)online;
        threads = threads > SQ_VERIFY_THREADS_MAX ? SQ_VERIFY_THREADS_MAX : threads;
    }
    if (threads > SQ_VERIFY_THREADS_MAX) {
        return SQ_EINVAL;
    }
    int rc = SQ_ENOMEM;
    struct sqc_verify_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        goto err;
    }
    pool->queue = calloc(SQ_VERIFY_QUEUE_MAX, sizeof(pool->queue[0]));
    if (pool->queue == NULL) {
        goto err_free_pool;
    }
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        goto err_free_queue;
    }
    if (pthread_cond_init(&pool->work_cv, NULL) != 0) {
        goto err_destroy_lock;
    }
    if (pthread_cond_init(&pool->idle_cv, NULL) != 0) {
        goto err_destroy_work_cv;
    }
    pool->threads = threads;

    /* Workers block every signal: signals belong to the threads that expect them. */
    sigset_t all, old;
    sigfillset(&all);
    SQ_ASSERT(pthread_sigmask(SIG_SETMASK, &all, &old) == 0);
    unsigned started = 0;
    for (; started < threads; started++) {
        int err = pthread_create(&pool->tids[started], NULL, worker_main, pool);
        if (err != 0) {
            rc = sq_err_from_errno(err);
            break;
        }
        char name[16];
        snprintf(name, sizeof(name), "sq-verify-%u", started % 1000u); /* 15 bytes at most */
        (void)pthread_setname_np(pool->tids[started], name); /* cosmetic: ignore failure */
    }
    SQ_ASSERT(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);
    if (started < threads) {
        SQ_ERROR("crypto", "cannot start verification worker", "started=%u wanted=%u err=%s",
                 started, threads, sq_errname(rc));
        goto err_stop_workers;
    }
    *out = pool;
    return SQ_OK;

err_stop_workers:
    pool_stop(pool, started);
    pthread_cond_destroy(&pool->idle_cv);
err_destroy_work_cv:
    pthread_cond_destroy(&pool->work_cv);
err_destroy_lock:
    pthread_mutex_destroy(&pool->lock);
err_free_queue:
    free(pool->queue);
err_free_pool:
    free(pool);
err:
    return rc;
}

void sqc_verify_pool_destroy(struct sqc_verify_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    SQ_ASSERT(!pool_is_worker(pool)); /* not from a done callback: it would join itself */
    pool_stop(pool, pool->threads);
    /* Workers leave only when the ring is empty, and no run() can be in progress. */
    SQ_ASSERT(pool->queue_count == 0);
    SQ_ASSERT(pool->batches == NULL);
    pthread_cond_destroy(&pool->idle_cv);
    pthread_cond_destroy(&pool->work_cv);
    pthread_mutex_destroy(&pool->lock);
    free(pool->queue);
    free(pool);
}

unsigned sqc_verify_pool_threads(const struct sqc_verify_pool *pool)
{
    SQ_ASSERT(pool != NULL);
    return pool->threads;
}

size_t sqc_verify_pool_run(struct sqc_verify_pool *pool, struct sqc_verify_job *jobs, size_t count)
{
    SQ_ASSERT(pool != NULL);
    SQ_ASSERT(count == 0 || jobs != NULL);
    SQ_ASSERT(count <= SIZE_MAX / 2); /* claims may overshoot count by a chunk per participant */
    if (count == 0) {
        return 0;
    }
    if (count == 1) {
        /* Waking a worker costs more than it saves. */
        job_verify(&jobs[0]);
        return jobs[0].result == SQ_OK ? 0 : 1;
    }
    size_t chunk = count / ((size_t)(pool->threads + 1) * POOL_CHUNKS_PER_PARTICIPANT);
    chunk = chunk < 1 ? 1 : chunk;
    chunk = chunk > POOL_CHUNK_MAX ? POOL_CHUNK_MAX : chunk;
    struct pool_batch b = {.jobs = jobs, .count = count, .chunk = chunk};
    atomic_init(&b.next, 0);
    atomic_init(&b.failed, 0);

    pthread_mutex_lock(&pool->lock);
    SQ_ASSERT(!pool->stopping);
    struct pool_batch **tail = &pool->batches;
    while (*tail != NULL) {
        tail = &(*tail)->link;
    }
    *tail = &b;
    pthread_cond_broadcast(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);

    batch_work(&b);

    pthread_mutex_lock(&pool->lock);
    batch_unlink(pool, &b);
    while (b.riders > 0) {
        pthread_cond_wait(&pool->idle_cv, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return atomic_load_explicit(&b.failed, memory_order_relaxed);
}

int sqc_verify_pool_submit(struct sqc_verify_pool *pool, struct sqc_verify_job *job,
                           sqc_verify_done_fn done, void *arg)
{
    SQ_ASSERT(pool != NULL);
    SQ_ASSERT(job != NULL);
    SQ_ASSERT(done != NULL);
    pthread_mutex_lock(&pool->lock);
    if (pool->stopping) {
        pthread_mutex_unlock(&pool->lock);
        return SQ_ECLOSED;
    }
    if (pool->queue_count == SQ_VERIFY_QUEUE_MAX) {
        pthread_mutex_unlock(&pool->lock);
        return SQ_EFULL;
    }
    size_t tail = (pool->queue_head + pool->queue_count) % SQ_VERIFY_QUEUE_MAX;
    pool->queue[tail] = (struct pool_entry){.job = job, .done = done, .arg = arg};
    pool->queue_count++;
    pthread_cond_signal(&pool->work_cv);
    pthread_mutex_unlock(&pool->lock);
    return SQ_OK;
}
