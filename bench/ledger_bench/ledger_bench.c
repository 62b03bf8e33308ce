/* ledger_bench: apply + durable commit throughput of pre-signed transfers, and audit speed over the
 * same store. One JSON line on stdout (details on stderr with --verbose).
 *
 *   ledger_bench [--txs N] [--block B] [--clients C] [--runs R] [--threads T] [--dir BASE]
 *                [--verbose]
 *
 * Transfers are signed before the clock starts (signatures are checked once, at admission: apply
 * is told they were). Each run opens a fresh store under BASE (default $TMPDIR or /tmp), applies
 * N transfers in blocks of B while a persistence thread commits groups of blocks durably (fsync
 * on: LMDB's default, as the node runs), then audits the store from genesis with a verification
 * pool of T threads (default 2). Figures are medians over R runs (default 3).
 *
 *   apply_commit_tx_per_s   N / (first apply .. last block durable), pipelined as the node does
 *   apply_only_tx_per_s     N / time spent inside ldg_batch_apply
 *   commit_groups           durable commits per run (median)
 *   audit_tx_per_s          N / audit time (every signature, root, replay, index, certificate)
 *   verify_pool_per_s       the same pool verifying transaction signatures alone, measured right
 *                           before and right after each audit (mean): the audit's ceiling
 *   audit_vs_verify         median over runs of audit rate / that run's verify_pool rate */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"

#define RUNS_MAX 9
#define VALIDATORS 3

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
    return v[n / 2];
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "ledger_bench: %s: %s: %s\n", what, sq_errname(rc), ldg_errmsg());
    exit(1);
}

struct cfg {
    size_t txs;
    size_t block;
    size_t clients;
    int runs;
    unsigned threads;
    const char *base;
    bool verbose;
};

struct world {
    struct cfg cfg;
    struct sqc_keypair *clients;
    struct sqc_keypair vals[VALIDATORS];
    struct ldg_genesis *g;
    size_t blocks;
    uint8_t **batches;
    size_t *batch_sizes;
};

static void seed_key(struct sqc_keypair *kp, const char *role, size_t i)
{
    char label[64];
    int n = snprintf(label, sizeof(label), "ledger-bench/%s/%zu", role, i);
    uint8_t seed[SQC_SEED_BYTES];
    sqc_sha256(seed, label, (size_t)n);
    int rc = sqc_keypair_from_seed(kp, seed);
    if (rc != SQ_OK) {
        die("key", rc);
    }
}

/* Builds block b's batch: transaction k = b * B + i is sent by client k % C with nonce k / C + 1,
 * so every sender's nonces follow each other across blocks. */
static void make_batch(struct world *w, size_t b)
{
    size_t B = w->cfg.block;
    size_t C = w->cfg.clients;
    uint8_t *txbuf = malloc(B * 256);
    struct ldg_bytes *list = malloc(B * sizeof(*list));
    if (txbuf == NULL || list == NULL) {
        die("memory", SQ_ENOMEM);
    }
    for (size_t i = 0; i < B; i++) {
        size_t k = b * B + i;
        const struct sqc_keypair *from = &w->clients[k % C];
        struct ldg_tx tx = {.version = LDG_FORMAT_VERSION, .kind = LDG_TX_TRANSFER};
        tx.chain_id_size = w->g->chain_id_size;
        memcpy(tx.chain_id, w->g->chain_id, tx.chain_id_size);
        memcpy(tx.sender, from->pk, SQC_PK_BYTES);
        memcpy(tx.target, w->clients[(k + 1) % C].pk, SQC_PK_BYTES);
        tx.amount = 1 + k % 7;
        tx.nonce = k / C + 1;
        tx.expiry_height = UINT64_MAX;
        int rc = ldg_tx_sign(&tx, from);
        if (rc == SQ_OK) {
            rc = ldg_tx_encode(&tx, txbuf + i * 256, 256, &list[i].size);
        }
        if (rc != SQ_OK) {
            die("tx", rc);
        }
        list[i].data = txbuf + i * 256;
    }
    size_t cap = B * 260 + 256;
    w->batches[b] = malloc(cap);
    if (w->batches[b] == NULL) {
        die("memory", SQ_ENOMEM);
    }
    uint32_t proposer = (uint32_t)(b % VALIDATORS);
    int rc = ldg_batch_encode(w->g->chain_id, w->g->chain_id_size, proposer + 1, b + 1,
                              1700000000000000ull + b * 1000, list, B, &w->vals[proposer],
                              w->batches[b], cap, &w->batch_sizes[b]);
    if (rc != SQ_OK) {
        die("batch", rc);
    }
    free(list);
    free(txbuf);
}

struct signer {
    struct world *w;
    size_t first;
    size_t step;
};

static void *sign_main(void *arg)
{
    struct signer *s = arg;
    for (size_t b = s->first; b < s->w->blocks; b += s->step) {
        make_batch(s->w, b);
    }
    return NULL;
}

static void world_init(struct world *w)
{
    size_t C = w->cfg.clients;
    w->clients = calloc(C, sizeof(*w->clients));
    w->g = calloc(1, sizeof(*w->g));
    if (w->clients == NULL || w->g == NULL) {
        die("memory", SQ_ENOMEM);
    }
    for (size_t i = 0; i < C; i++) {
        seed_key(&w->clients[i], "client", i);
    }
    struct ldg_genesis *g = w->g;
    memcpy(g->chain_id, "squall-bench", 12);
    g->chain_id_size = 12;
    g->validator_count = VALIDATORS;
    for (uint32_t i = 0; i < VALIDATORS; i++) {
        seed_key(&w->vals[i], "val", i);
        g->validators[i].id = i + 1;
        memcpy(g->validators[i].pk, w->vals[i].pk, SQC_PK_BYTES);
        g->validators[i].addr_size =
            (uint8_t)snprintf(g->validators[i].addr, 32, "127.0.0.1:%u", 7001 + i);
    }
    /* A permissioned chain: every sender is a listed client (the check runs per transfer). */
    g->client_count = C;
    g->clients = malloc(C * SQC_PK_BYTES);
    g->balance_count = C;
    g->balances = calloc(C, sizeof(*g->balances));
    if (g->clients == NULL || g->balances == NULL) {
        die("memory", SQ_ENOMEM);
    }
    for (size_t i = 0; i < C; i++) {
        memcpy(g->clients[i], w->clients[i].pk, SQC_PK_BYTES);
        memcpy(g->balances[i].pk, w->clients[i].pk, SQC_PK_BYTES);
        g->balances[i].amount = 1000000000;
    }
    int rc = ldg_genesis_finish(g);
    if (rc != SQ_OK) {
        die("genesis", rc);
    }
    w->blocks = w->cfg.txs / w->cfg.block;
    w->batches = calloc(w->blocks, sizeof(*w->batches));
    w->batch_sizes = calloc(w->blocks, sizeof(*w->batch_sizes));
    if (w->batches == NULL || w->batch_sizes == NULL) {
        die("memory", SQ_ENOMEM);
    }
    /* Pre-sign on every core: this is not what is measured. */
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    size_t nt = cores < 1 ? 1 : (size_t)cores;
    nt = nt > 16 ? 16 : nt;
    pthread_t tids[16];
    struct signer signers[16];
    for (size_t t = 0; t < nt; t++) {
        signers[t] = (struct signer){w, t, nt};
        pthread_create(&tids[t], NULL, sign_main, &signers[t]);
    }
    for (size_t t = 0; t < nt; t++) {
        pthread_join(tids[t], NULL);
    }
}

/* ---- the persistence thread ---- */

struct persister {
    struct ldg_store *s;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct ldg_commit *todo;
    bool finished;
    bool stop;
    int rc;
};

static void *persist_main(void *arg)
{
    struct persister *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->todo == NULL && !p->stop) {
            pthread_cond_wait(&p->cv, &p->lock);
        }
        if (p->todo == NULL) {
            break;
        }
        struct ldg_commit *c = p->todo;
        pthread_mutex_unlock(&p->lock);
        int rc = ldg_commit_write(p->s, c);
        pthread_mutex_lock(&p->lock);
        if (rc != SQ_OK) {
            p->rc = rc;
        }
        p->todo = NULL;
        p->finished = true;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static bool vouch(void *arg, const uint8_t txid[LDG_HASH_BYTES])
{
    (void)arg;
    (void)txid;
    return true; /* verified at admission (pre-signed transactions, checked once below) */
}

struct run_result {
    double apply_commit;
    double apply_only;
    double groups;
    double audit;
    double verify_pool;
    double ratio;
};

/* The pool verifying the transactions' signatures alone (the audit's ceiling). */
static double verify_rate(struct world *w, struct sqc_verify_pool *pool)
{
    size_t n = w->cfg.txs < 65536 ? w->cfg.txs : 65536;
    struct sqc_verify_job *jobs = malloc(n * sizeof(*jobs));
    if (jobs == NULL) {
        die("memory", SQ_ENOMEM);
    }
    size_t j = 0;
    for (size_t b = 0; b < w->blocks && j < n; b++) {
        struct ldg_batch batch;
        int rc = ldg_batch_decode(w->batches[b], w->batch_sizes[b], &batch);
        if (rc != SQ_OK) {
            die("decode", rc);
        }
        struct ldg_tx_iter it;
        struct ldg_bytes raw;
        ldg_tx_iter_init(&it, batch.txs, batch.txs_size, batch.tx_count);
        while (j < n && ldg_tx_iter_next(&it, &raw)) {
            struct ldg_tx tx;
            ldg_tx_decode(raw.data, raw.size, &tx);
            memcpy(jobs[j].pk, tx.sender, SQC_PK_BYTES);
            ldg_tx_id(raw.data, raw.size, jobs[j].digest);
            memcpy(jobs[j].sig, tx.sig, SQC_SIG_BYTES);
            jobs[j].domain = SQC_DOMAIN_TX;
            j++;
        }
    }
    double t0 = now_s();
    size_t failed = 0;
    for (size_t off = 0; off < j; off += 4096) {
        size_t k = j - off < 4096 ? j - off : 4096;
        failed += sqc_verify_pool_run(pool, jobs + off, k);
    }
    double dt = now_s() - t0;
    free(jobs);
    if (failed != 0) {
        die("a pre-signed transaction does not verify", SQ_EBADSIG);
    }
    return (double)j / dt;
}

static void one_run(struct world *w, struct sqc_verify_pool *pool, int run, struct run_result *r)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/ldgbench.XXXXXX", w->cfg.base);
    if (mkdtemp(dir) == NULL) {
        die("mkdtemp", SQ_EIO);
    }
    struct ldg_store *s;
    int rc = ldg_store_open(dir, w->g, NULL, &s);
    if (rc != SQ_OK) {
        die("open", rc);
    }
    struct persister p = {.s = s};
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t tid;
    pthread_create(&tid, NULL, persist_main, &p);
    struct ldg_apply_opts opts = {.verified = vouch};
    struct ldg_commit *out = NULL;
    unsigned groups = 0;
    double in_apply = 0;
    double t0 = now_s();
    for (size_t b = 0; b < w->blocks; b++) {
        struct ldg_block_info info;
        double a0 = now_s();
        rc = ldg_batch_apply(s, 0, w->batches[b], w->batch_sizes[b], &opts, &info);
        in_apply += now_s() - a0;
        if (rc != SQ_OK) {
            die("apply", rc);
        }
        if (info.ok_count != w->cfg.block) {
            fprintf(stderr, "ledger_bench: block %zu: only %u of %zu transfers applied\n", b,
                    info.ok_count, w->cfg.block);
            exit(1);
        }
        /* Hand the persistence thread everything pending whenever it is free (group commit). */
        pthread_mutex_lock(&p.lock);
        bool free_now = p.todo == NULL;
        bool done = p.finished;
        p.finished = false;
        pthread_mutex_unlock(&p.lock);
        if (done) {
            ldg_commit_end(s, out);
            out = NULL;
        }
        if (free_now && out == NULL) {
            rc = ldg_commit_begin(s, &out);
            if (rc != SQ_OK) {
                die("commit begin", rc);
            }
            groups++;
            pthread_mutex_lock(&p.lock);
            p.todo = out;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.lock);
        }
    }
    /* Drain. */
    pthread_mutex_lock(&p.lock);
    while (out != NULL && !p.finished) {
        pthread_cond_wait(&p.cv, &p.lock);
    }
    p.finished = false;
    pthread_mutex_unlock(&p.lock);
    if (out != NULL) {
        ldg_commit_end(s, out);
    }
    uint64_t h;
    rc = ldg_commit(s, &h);
    groups++;
    double dt = now_s() - t0;
    pthread_mutex_lock(&p.lock);
    p.stop = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.lock);
    pthread_join(tid, NULL);
    if (rc != SQ_OK || p.rc != SQ_OK) {
        die("commit", rc != SQ_OK ? rc : p.rc);
    }
    if (h != w->blocks) {
        fprintf(stderr, "ledger_bench: persisted %llu of %zu blocks\n", (unsigned long long)h,
                w->blocks);
        exit(1);
    }
    double n = (double)(w->blocks * w->cfg.block);
    r->apply_commit = n / dt;
    r->apply_only = n / in_apply;
    r->groups = groups;
    /* Audit the same store, between two measurements of the pool alone (the machine is shared:
     * bracketing the audit compares it with the verification rate of the same moment). */
    double verify_before = verify_rate(w, pool);
    struct ldg_audit_report rep;
    double a0 = now_s();
    rc = ldg_audit_run(s, pool, NULL, NULL, &rep);
    double adt = now_s() - a0;
    if (rc != SQ_OK) {
        fprintf(stderr, "ledger_bench: audit: height %llu: %s: %s\n",
                (unsigned long long)rep.fault_height, rep.what, rep.why);
        exit(1);
    }
    r->audit = (double)rep.txs / adt;
    r->verify_pool = (verify_before + verify_rate(w, pool)) / 2;
    r->ratio = r->audit / r->verify_pool;
    if (w->cfg.verbose) {
        fprintf(stderr,
                "run %d: %zu txs, apply+commit %.0f tx/s (%.2f s), apply only %.0f tx/s, "
                "%u groups, audit %.0f tx/s (%.2f s, %llu signatures), pool verify %.0f/s "
                "(before %.0f), ratio %.3f\n",
                run, (size_t)n, r->apply_commit, dt, r->apply_only, groups, r->audit, adt,
                (unsigned long long)rep.signatures, r->verify_pool, verify_before, r->ratio);
    }
    ldg_store_close(s);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.lock);
    (void)ldg_store_remove(dir);
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    struct world w = {.cfg = {.txs = 200000,
                              .block = 1000,
                              .clients = 4096,
                              .runs = 3,
                              .threads = 2,
                              .base = tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp"}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--txs") == 0 && v != NULL) {
            w.cfg.txs = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--block") == 0 && v != NULL) {
            w.cfg.block = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--clients") == 0 && v != NULL) {
            w.cfg.clients = strtoull(v, NULL, 10);
            i++;
        } else if (strcmp(a, "--runs") == 0 && v != NULL) {
            w.cfg.runs = atoi(v);
            i++;
        } else if (strcmp(a, "--threads") == 0 && v != NULL) {
            w.cfg.threads = (unsigned)atoi(v);
            i++;
        } else if (strcmp(a, "--dir") == 0 && v != NULL) {
            w.cfg.base = v;
            i++;
        } else if (strcmp(a, "--verbose") == 0) {
            w.cfg.verbose = true;
        } else {
            fprintf(stderr,
                    "usage: %s [--txs N] [--block B] [--clients C] [--runs R] [--threads T] "
                    "[--dir BASE] [--verbose]\n",
                    argv[0]);
            return 2;
        }
    }
    if (w.cfg.block == 0 || w.cfg.block > SQ_BATCH_TXS_MAX || w.cfg.clients < 2 ||
        w.cfg.txs < w.cfg.block || w.cfg.runs < 1 || w.cfg.runs > RUNS_MAX) {
        fprintf(stderr, "ledger_bench: parameters out of range\n");
        return 2;
    }
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    double t0 = now_s();
    world_init(&w);
    if (w.cfg.verbose) {
        fprintf(stderr, "signed %zu transfers in %zu batches in %.1f s\n", w.blocks * w.cfg.block,
                w.blocks, now_s() - t0);
    }
    struct sqc_verify_pool *pool;
    int rc = sqc_verify_pool_create(&pool, w.cfg.threads);
    if (rc != SQ_OK) {
        die("pool", rc);
    }
    double ac[RUNS_MAX], ao[RUNS_MAX], gr[RUNS_MAX], au[RUNS_MAX], vp[RUNS_MAX], ra[RUNS_MAX];
    for (int r = 0; r < w.cfg.runs; r++) {
        struct run_result res;
        one_run(&w, pool, r, &res);
        ac[r] = res.apply_commit;
        ao[r] = res.apply_only;
        gr[r] = res.groups;
        au[r] = res.audit;
        vp[r] = res.verify_pool;
        ra[r] = res.ratio;
    }
    double audit = median(au, w.cfg.runs);
    double verify = median(vp, w.cfg.runs);
    printf("{\"bench\":\"ledger\",\"txs\":%zu,\"block_txs\":%zu,\"clients\":%zu,\"runs\":%d,"
           "\"fsync\":true,\"apply_commit_tx_per_s\":%.0f,\"apply_only_tx_per_s\":%.0f,"
           "\"commit_groups\":%.0f,\"audit_threads\":%u,\"audit_tx_per_s\":%.0f,"
           "\"verify_pool_per_s\":%.0f,\"audit_vs_verify\":%.3f}\n",
           w.blocks * w.cfg.block, w.cfg.block, w.cfg.clients, w.cfg.runs, median(ac, w.cfg.runs),
           median(ao, w.cfg.runs), median(gr, w.cfg.runs), sqc_verify_pool_threads(pool), audit,
           verify, median(ra, w.cfg.runs));
    sqc_verify_pool_destroy(pool);
    for (size_t b = 0; b < w.blocks; b++) {
        free(w.batches[b]);
    }
    free(w.batches);
    free(w.batch_sizes);
    for (size_t i = 0; i < w.cfg.clients; i++) {
        sqc_keypair_free(&w.clients[i]);
    }
    for (int i = 0; i < VALIDATORS; i++) {
        sqc_keypair_free(&w.vals[i]);
    }
    free(w.clients);
    ldg_genesis_free(w.g);
    return 0;
}
