/* The LMDB store: group commit (split across threads), reopen, map growth, a full map or disk as a
 * clear fatal error, open errors; the transaction index: trusted only after a clean close or
 * within one boot, rebuilt otherwise, caught up when behind, tracked by the audit when lagging. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "base/codec.h"
#include "base/err.h"
#include "ldg_test.h"
#include "ledger/ledger_int.h"

struct fx {
    struct ldg_genesis *g;
    struct ldg_store *s;
    char *dir;
    unsigned nonce[T_CLIENTS];
};

static struct fx *fx_open(const struct ldg_store_opts *opts)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->g = t_genesis_n(false, T_VALIDATORS, T_CLIENTS, 1000000);
    f->dir = t_mkdtemp();
    T_OK(ldg_store_open(f->dir, f->g, opts, &f->s));
    return f;
}

static void fx_close(struct fx *f)
{
    ldg_store_close(f->s);
    t_rmdir(f->dir);
    ldg_genesis_free(f->g);
    free(f);
}

/* A block of `count` transfers (one per client, round robin). Returns the apply code. */
static int block(struct fx *f, unsigned count)
{
    uint8_t(*buf)[SQ_TX_BYTES_MAX] = malloc((size_t)count * SQ_TX_BYTES_MAX);
    struct ldg_bytes *txs = malloc(count * sizeof(*txs));
    unsigned used[T_CLIENTS] = {0};
    for (unsigned i = 0; i < count; i++) {
        unsigned c = i % T_CLIENTS;
        used[c]++;
        txs[i].size =
            t_transfer(buf[i], t_key("client", c), t_key("client", (c + 1) % T_CLIENTS)->pk, 1,
                       f->nonce[c] + used[c], UINT64_MAX);
        txs[i].data = buf[i];
    }
    size_t size;
    static uint64_t seq;
    uint8_t *batch = t_batch(1, ++seq, txs, count, &size);
    struct ldg_block_info info;
    int rc = ldg_batch_apply(f->s, 0, batch, size, NULL, &info);
    if (rc == SQ_OK) {
        assert_int_equal(info.ok_count, count);
        for (unsigned c = 0; c < T_CLIENTS; c++) {
            f->nonce[c] += used[c];
        }
    }
    free(batch);
    free(txs);
    free(buf);
    return rc;
}

static void test_group_commit_split(void **state)
{
    (void)state;
    struct fx *f = fx_open(NULL);
    assert_int_equal(ldg_store_persisted_height(f->s), 0);
    for (int i = 0; i < 3; i++) {
        T_OK(block(f, 4));
    }
    struct ldg_commit *c;
    T_OK(ldg_commit_begin(f->s, &c));
    struct ldg_commit *c2;
    assert_int_equal(ldg_commit_begin(f->s, &c2), SQ_ESTATE);
    /* The apply thread goes on while the group is being written. */
    T_OK(block(f, 4));
    T_OK(ldg_commit_write(f->s, c));
    assert_int_equal(ldg_store_persisted_height(f->s), 0); /* published at end */
    ldg_commit_end(f->s, c);
    assert_int_equal(ldg_store_persisted_height(f->s), 3);
    assert_int_equal(ldg_store_height(f->s), 4);
    /* Committed reads see block 3, not 4. */
    struct ldg_header hdr;
    T_OK(ldg_header_get(f->s, 3, &hdr, NULL));
    assert_int_equal(ldg_header_get(f->s, 4, &hdr, NULL), SQ_ENOTFOUND);
    struct ldg_account a;
    T_OK(ldg_account_get(f->s, t_key("client", 0)->pk, &a));
    assert_int_equal(a.nonce, 3 * 1);
    T_OK(ldg_account_get_pending(f->s, t_key("client", 0)->pk, &a));
    assert_int_equal(a.nonce, 4);
    uint64_t h;
    T_OK(ldg_commit(f->s, &h));
    assert_int_equal(h, 4);
    /* Nothing to commit is fine. */
    assert_int_equal(ldg_commit_begin(f->s, &c), SQ_EAGAIN);
    T_OK(ldg_commit(f->s, &h));
    /* Pending blocks are dropped by a close; the durable ones come back. */
    T_OK(block(f, 4));
    assert_int_equal(ldg_store_height(f->s), 5);
    ldg_store_close(f->s);
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    assert_int_equal(ldg_store_height(f->s), 4);
    assert_int_equal(ldg_store_persisted_height(f->s), 4);
    f->nonce[0] = 4; /* the dropped block's nonces are free again */
    for (unsigned k = 1; k < T_CLIENTS; k++) {
        f->nonce[k] = k < 4 ? 4 : 0;
    }
    T_OK(ldg_account_get_pending(f->s, t_key("client", 5)->pk, &a));
    assert_int_equal(a.nonce, 0);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    fx_close(f);
}

/* A persistence thread commits groups while the apply thread applies. */
struct persister {
    struct ldg_store *s;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct ldg_commit *todo;
    bool done_flag;
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
        p->rc = rc != SQ_OK ? rc : p->rc;
        p->todo = NULL;
        p->done_flag = true;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void test_persistence_thread(void **state)
{
    (void)state;
    struct fx *f = fx_open(NULL);
    struct persister p = {.s = f->s};
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, persist_main, &p), 0);
    struct ldg_commit *out = NULL;
    for (int i = 0; i < 60; i++) {
        T_OK(block(f, 8));
        pthread_mutex_lock(&p.lock);
        bool finished = p.done_flag;
        p.done_flag = false;
        pthread_mutex_unlock(&p.lock);
        if (finished) {
            ldg_commit_end(f->s, out);
            out = NULL;
        }
        if (out == NULL) {
            T_OK(ldg_commit_begin(f->s, &out));
            pthread_mutex_lock(&p.lock);
            p.todo = out;
            pthread_cond_broadcast(&p.cv);
            pthread_mutex_unlock(&p.lock);
        }
        /* Readers on this thread meanwhile. */
        uint64_t ph = ldg_store_persisted_height(f->s);
        struct ldg_header hdr;
        T_OK(ldg_header_get(f->s, ph, &hdr, NULL));
    }
    pthread_mutex_lock(&p.lock);
    while (out != NULL && !p.done_flag) {
        pthread_cond_wait(&p.cv, &p.lock);
    }
    p.stop = true;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.lock);
    pthread_join(tid, NULL);
    if (out != NULL) {
        ldg_commit_end(f->s, out);
    }
    T_OK(p.rc);
    T_OK(ldg_commit(f->s, NULL));
    assert_int_equal(ldg_store_persisted_height(f->s), 60);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.txs, 60 * 8);
    pthread_cond_destroy(&p.cv);
    pthread_mutex_destroy(&p.lock);
    fx_close(f);
}

/* A read-only store in another process, opened before the writer grows the map: its next read
 * transaction adopts the new size (MDB_MAP_RESIZED) and it audits the grown store. */
static pid_t reader_start(const char *dir, struct ldg_genesis *g, int *to_child, int *from_child)
{
    int down[2];
    int up[2];
    assert_int_equal(pipe(down), 0);
    assert_int_equal(pipe(up), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        struct ldg_store *s;
        struct ldg_store_opts ro = {.read_only = true};
        uint8_t b = 0;
        if (ldg_store_open(dir, g, &ro, &s) != SQ_OK) {
            _exit(10);
        }
        uint64_t before = ldg_store_map_size(s);
        if (write(up[1], &b, 1) != 1 || read(down[0], &b, 1) != 1) {
            _exit(11);
        }
        struct ldg_audit_report rep;
        int rc = ldg_audit_run(s, NULL, NULL, NULL, &rep);
        uint64_t after = ldg_store_map_size(s);
        ldg_store_close(s);
        _exit(rc != SQ_OK ? 12 : after <= before ? 13 : rep.tip < 30 ? 14 : 0);
    }
    close(down[0]);
    close(up[1]);
    uint8_t b;
    assert_int_equal(read(up[0], &b, 1), 1); /* the reader is open */
    *to_child = down[1];
    *from_child = up[0];
    return pid;
}

static void test_map_grows(void **state)
{
    (void)state;
    struct ldg_store_opts opts = {.map_size_initial = 256 * 1024};
    struct fx *f = fx_open(&opts);
    int to_child;
    int from_child;
    /* The reader is forked while this process runs no other thread (the store's indexer thread
     * could hold the allocator's lock at the fork, and the child would wait on it forever). */
    ldg_store_close(f->s);
    pid_t reader = reader_start(f->dir, f->g, &to_child, &from_child);
    T_OK(ldg_store_open(f->dir, f->g, &opts, &f->s));
    uint64_t first = ldg_store_map_size(f->s);
    /* About 1.5 MB of blocks, committed a few at a time. */
    for (int i = 0; i < 90; i++) {
        T_OK(block(f, 64));
        if (i % 3 == 2) {
            T_OK(ldg_commit(f->s, NULL));
        }
    }
    T_OK(ldg_commit(f->s, NULL));
    assert_true(ldg_store_map_size(f->s) >= 4 * first);
    assert_false(ldg_store_is_failed(f->s));
    uint8_t go = 1;
    assert_int_equal(write(to_child, &go, 1), 1);
    int status;
    assert_int_equal(waitpid(reader, &status, 0), reader);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(to_child);
    close(from_child);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.txs, 90 * 64);
    /* Reopened with the small initial size, the store keeps its grown map; the close wrote the
     * whole transaction index, whose map grew too (the file cannot outgrow the map). */
    ldg_store_close(f->s);
    char ipath[4096];
    snprintf(ipath, sizeof(ipath), "%s/txindex.mdb", f->dir);
    struct stat sb;
    assert_int_equal(stat(ipath, &sb), 0);
    assert_true(sb.st_size > 256 * 1024);
    T_OK(ldg_store_open(f->dir, f->g, &opts, &f->s));
    assert_int_equal(ldg_store_height(f->s), 90);
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.index_next, 91);
    assert_int_equal(rep.unindexed, 0);
    fx_close(f);
}

static void test_map_limit_is_fatal(void **state)
{
    (void)state;
    struct ldg_store_opts opts = {.map_size_initial = 256 * 1024, .map_size_max = 512 * 1024};
    struct fx *f = fx_open(&opts);
    int rc = SQ_OK;
    for (int i = 0; i < 40 && rc == SQ_OK; i++) {
        T_OK(block(f, 64));
        rc = ldg_commit(f->s, NULL);
    }
    assert_int_equal(rc, SQ_ENOSPC);
    assert_non_null(strstr(ldg_errmsg(), "limit"));
    assert_true(ldg_store_is_failed(f->s));
    /* A failed store refuses work: the node must stop. */
    assert_int_equal(block(f, 1), SQ_ESTATE);
    assert_int_equal(ldg_commit(f->s, NULL), SQ_ESTATE);
    uint64_t durable = ldg_store_persisted_height(f->s);
    ldg_store_close(f->s);
    /* What was durable is intact. */
    T_OK(ldg_store_open(f->dir, f->g, &opts, &f->s));
    assert_int_equal(ldg_store_height(f->s), durable);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    fx_close(f);
}

static void test_full_disk(void **state)
{
    (void)state;
    /* A child whose files may not grow past 1 MiB (RLIMIT_FSIZE) plays a full disk. */
    char *dir = t_mkdtemp();
    struct ldg_genesis *g = t_genesis_n(false, T_VALIDATORS, T_CLIENTS, 1000000);
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1024 * 1024, 1024 * 1024};
        setrlimit(RLIMIT_FSIZE, &rl);
        struct fx f = {.g = g, .dir = dir};
        int rc = ldg_store_open(dir, g, NULL, &f.s);
        for (int i = 0; i < 200 && rc == SQ_OK; i++) {
            rc = block(&f, 64);
            if (rc == SQ_OK) {
                rc = ldg_commit(f.s, NULL);
            }
        }
        char msg[600];
        int n = snprintf(msg, sizeof(msg), "%d %d %s", rc, f.s != NULL && ldg_store_is_failed(f.s),
                         ldg_errmsg());
        ssize_t w = write(pipefd[1], msg, (size_t)n);
        (void)w;
        _exit(0);
    }
    close(pipefd[1]);
    char msg[600] = {0};
    ssize_t n = read(pipefd[0], msg, sizeof(msg) - 1);
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(n > 0);
    int rc = atoi(msg);
    if (rc != SQ_ENOSPC) {
        fail_msg("the child saw: %s", msg);
    }
    assert_non_null(strstr(msg, " 1 "));
    assert_non_null(strstr(msg, "file size limit"));
    /* The store is consistent afterwards: reopen and audit. */
    struct ldg_store *s;
    T_OK(ldg_store_open(dir, g, NULL, &s));
    assert_true(ldg_store_height(s) > 0);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(s, NULL, NULL, NULL, &rep));
    ldg_store_close(s);
    t_rmdir(dir);
    ldg_genesis_free(g);
}

static void test_open_errors(void **state)
{
    (void)state;
    struct ldg_genesis *g = t_genesis(false);
    struct ldg_store *s;
    assert_int_equal(ldg_store_open("/nonexistent/dir", g, NULL, &s), SQ_ENOTFOUND);
    char *dir = t_mkdtemp();
    struct ldg_store_opts ro = {.read_only = true};
    assert_int_equal(ldg_store_open(dir, g, &ro, &s), SQ_ENOTFOUND); /* no data file */
    T_OK(ldg_store_open(dir, g, NULL, &s));
    ldg_store_close(s);
    /* Another genesis. */
    struct ldg_genesis *other = t_genesis(true);
    assert_int_equal(ldg_store_open(dir, other, NULL, &s), SQ_EINVAL);
    assert_non_null(strstr(ldg_errmsg(), "another genesis"));
    ldg_genesis_free(other);
    t_rmdir(dir);
    ldg_genesis_free(g);
}

/* ---- the transaction index (ledger/txindex.c), played with after the store is closed ---- */

struct ix_raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_dbi runs[LDG_TXINDEX_SLOTS]; /* every run table (txindex.c) */
};

static void ix_raw_open(const char *dir, struct ix_raw *r)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/txindex.mdb", dir);
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, LDG_TXINDEX_SLOTS + 2), 0);
    assert_int_equal(mdb_env_open(r->env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "meta", 0, &r->meta), 0);
    for (unsigned i = 0; i < LDG_TXINDEX_SLOTS; i++) {
        char name[16];
        snprintf(name, sizeof(name), "run.%02u", i);
        assert_int_equal(mdb_dbi_open(r->txn, name, 0, &r->runs[i]), 0);
    }
}

static void ix_raw_close(struct ix_raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* Deletes the entries of blocks at `from` and above from every run (their filters and counts
 * still claim them); copies up to `cap` of their ids to out. */
static size_t ix_raw_drop_from(struct ix_raw *r, uint64_t from, uint8_t (*out)[32], size_t cap)
{
    size_t n = 0;
    for (unsigned i = 0; i < LDG_TXINDEX_SLOTS; i++) {
        MDB_cursor *cur;
        assert_int_equal(mdb_cursor_open(r->txn, r->runs[i], &cur), 0);
        MDB_val k;
        MDB_val v;
        int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        while (rc == 0) {
            assert_int_equal(v.mv_size, 13);
            if (sq_le64_load(v.mv_data) >= from) {
                if (n < cap) {
                    memcpy(out[n], k.mv_data, 32);
                }
                n++;
                assert_int_equal(mdb_cursor_del(cur, 0), 0);
                rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
                if (rc == MDB_NOTFOUND) {
                    rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
                }
            } else {
                rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            }
        }
        assert_int_equal(rc, MDB_NOTFOUND);
        mdb_cursor_close(cur);
    }
    return n;
}

static void ix_raw_set_next(struct ix_raw *r, uint64_t next)
{
    uint8_t b[8];
    sq_le64_store(b, next);
    MDB_val k = {4, "next"};
    MDB_val v = {8, b};
    assert_int_equal(mdb_put(r->txn, r->meta, &k, &v, 0), 0);
}

static void boot_marker_set(const char *dir, const char *text)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/txindex.boot", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", text);
    fclose(fp);
}

/* A store with 5 committed blocks of 8 transfers, closed; then the index entries of blocks `from`
 * and above are deleted (up to `cap` of their ids copied to `ids`) and `next` set to `next` unless
 * it is 0. The store is left closed. */
static struct fx *fx_five_blocks_index_cut(uint64_t from, uint64_t next, uint8_t (*ids)[32],
                                           size_t cap, size_t *dropped)
{
    struct fx *f = fx_open(NULL);
    for (int i = 0; i < 5; i++) {
        T_OK(block(f, 8));
    }
    T_OK(ldg_commit(f->s, NULL));
    ldg_store_close(f->s);
    f->s = NULL;
    struct ix_raw r;
    ix_raw_open(f->dir, &r);
    *dropped = ix_raw_drop_from(&r, from, ids, cap);
    if (next != 0) {
        ix_raw_set_next(&r, next);
    }
    ix_raw_close(&r);
    return f;
}

static void test_txindex_trust_and_rebuild(void **state)
{
    (void)state;
    uint8_t ids[8][32];
    size_t dropped;
    struct fx *f = fx_five_blocks_index_cut(3, 0, ids, 8, &dropped);
    assert_int_equal(dropped, 3 * 8);
    /* Closed cleanly: trusted as it is, so the damage shows (lookups miss, the audit names it). */
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    uint64_t h;
    uint32_t index;
    uint8_t result;
    assert_int_equal(ldg_tx_find(f->s, ids[0], &h, &index, &result), SQ_ENOTFOUND);
    struct ldg_audit_report rep;
    assert_int_equal(ldg_audit_run(f->s, NULL, NULL, NULL, &rep), SQ_ECORRUPT);
    assert_string_equal(rep.what, "txindex");
    ldg_store_close(f->s);
    /* Written in another boot and not closed cleanly: it may be torn, so it is rebuilt. */
    boot_marker_set(f->dir, "00000000-0000-0000-0000-000000000000");
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    for (size_t i = 0; i < 8; i++) {
        T_OK(ldg_tx_find(f->s, ids[i], &h, &index, &result));
        assert_true(h >= 3 && h <= 5);
        assert_int_equal(result, LDG_RESULT_OK);
    }
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.index_next, 6);
    assert_int_equal(rep.unindexed, 0);
    ldg_store_close(f->s);
    /* A missing index is rebuilt too. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/txindex.mdb", f->dir);
    assert_int_equal(unlink(path), 0);
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    T_OK(ldg_tx_find(f->s, ids[7], &h, &index, &result));
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    ldg_store_close(f->s);
    /* Not an LMDB file at all, though marked clean: a reader goes on without it (the audit
     * tracks every id), the writer rebuilds it. */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < 4096; i++) {
        fputc('x', fp);
    }
    fclose(fp);
    boot_marker_set(f->dir, "clean");
    struct ldg_store_opts ro = {.read_only = true};
    T_OK(ldg_store_open(f->dir, f->g, &ro, &f->s));
    assert_int_equal(ldg_tx_find(f->s, ids[0], &h, &index, &result), SQ_ENOTFOUND);
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.index_next, 0);
    assert_int_equal(rep.unindexed, 5 * 8);
    ldg_store_close(f->s);
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    T_OK(ldg_tx_find(f->s, ids[0], &h, &index, &result));
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.index_next, 6);
    /* ldg_store_remove takes every file of the store and the index, then the folder. */
    ldg_store_close(f->s);
    f->s = NULL;
    T_OK(ldg_store_remove(f->dir));
    struct stat sb;
    assert_int_equal(stat(f->dir, &sb), -1);
    T_OK(ldg_store_remove(f->dir)); /* nothing left: fine */
    fx_close(f);
}

static void test_txindex_catches_up(void **state)
{
    (void)state;
    /* As if the process died between a group's durable commit and its index write. */
    uint8_t ids[16][32];
    size_t dropped;
    struct fx *f = fx_five_blocks_index_cut(4, 4, ids, 16, &dropped);
    assert_int_equal(dropped, 16);
    /* A reader cannot repair it: lookups above the cover miss, the audit tracks those ids. */
    struct ldg_store_opts ro = {.read_only = true};
    T_OK(ldg_store_open(f->dir, f->g, &ro, &f->s));
    uint64_t h;
    uint32_t index;
    uint8_t result;
    assert_int_equal(ldg_tx_find(f->s, ids[0], &h, &index, &result), SQ_ENOTFOUND);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.index_next, 4);
    assert_int_equal(rep.unindexed, 16);
    ldg_store_close(f->s);
    /* The writer catches it up from the stored blocks. */
    T_OK(ldg_store_open(f->dir, f->g, NULL, &f->s));
    for (size_t i = 0; i < 16; i++) {
        T_OK(ldg_tx_find(f->s, ids[i], &h, &index, &result));
        assert_true(h == 4 || h == 5);
    }
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.index_next, 6);
    assert_int_equal(rep.unindexed, 0);
    /* A committed transaction sent again is a duplicate, found through the index: client 0's
     * first transfer (nonce 1, block 1), byte for byte. */
    uint8_t tx[SQ_TX_BYTES_MAX];
    struct ldg_bytes one = {
        tx, t_transfer(tx, t_key("client", 0), t_key("client", 1)->pk, 1, 1, UINT64_MAX)};
    uint8_t id[32];
    ldg_tx_id(tx, one.size, id);
    T_OK(ldg_tx_find(f->s, id, &h, &index, &result));
    assert_int_equal(h, 1);
    size_t size;
    uint8_t *batch = t_batch(1, 1000, &one, 1, &size);
    struct ldg_block_info info;
    T_OK(ldg_batch_apply(f->s, 0, batch, size, NULL, &info));
    free(batch);
    T_OK(ldg_commit(f->s, NULL));
    uint8_t *enc;
    size_t enc_size;
    T_OK(ldg_block_get(f->s, info.height, &enc, &enc_size));
    struct ldg_block blk;
    T_OK(ldg_block_decode(enc, enc_size, &blk, NULL));
    assert_int_equal(blk.results[0], LDG_RESULT_DUPLICATE);
    free(enc);
    T_OK(ldg_tx_find(f->s, id, &h, &index, &result));
    assert_int_equal(h, 1); /* the first claim stays */
    fx_close(f);
}

/* Every transaction of blocks 1 .. tip is found through the index at its own place. */
static void check_all_found(struct ldg_store *s, uint64_t tip, size_t *found)
{
    *found = 0;
    for (uint64_t h = 1; h <= tip; h++) {
        uint8_t *enc;
        size_t enc_size;
        T_OK(ldg_block_get(s, h, &enc, &enc_size));
        struct ldg_block blk;
        T_OK(ldg_block_decode(enc, enc_size, &blk, NULL));
        struct ldg_tx_iter it;
        struct ldg_bytes raw;
        ldg_tx_iter_init(&it, blk.txs, blk.txs_size, blk.hdr.tx_count);
        for (uint32_t i = 0; ldg_tx_iter_next(&it, &raw); i++) {
            uint8_t id[32];
            ldg_tx_id(raw.data, raw.size, id);
            uint64_t fh;
            uint32_t fi;
            uint8_t fr;
            T_OK(ldg_tx_find(s, id, &fh, &fi, &fr));
            assert_int_equal(fh, h);
            assert_int_equal(fi, i);
            assert_int_equal(fr, LDG_RESULT_OK);
            (*found)++;
        }
        free(enc);
    }
    uint8_t absent[32];
    memset(absent, 0x5a, sizeof(absent));
    uint64_t fh;
    uint32_t fi;
    uint8_t fr;
    assert_int_equal(ldg_tx_find(s, absent, &fh, &fi, &fr), SQ_ENOTFOUND);
}

/* The index's runs as its "runs" record lists them: count, and each one's entries. */
static uint32_t ix_raw_runs(struct ix_raw *r, uint64_t counts[LDG_TXINDEX_RUNS_MAX],
                            uint64_t *listed)
{
    MDB_val k = {4, "runs"};
    MDB_val v;
    assert_int_equal(mdb_get(r->txn, r->meta, &k, &v), 0);
    const uint8_t *p = v.mv_data;
    uint32_t n = sq_le32_load(p);
    assert_int_equal(v.mv_size, 4 + (size_t)n * 17);
    *listed = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t slot = p[4 + i * 17];
        counts[i] = sq_le64_load(p + 4 + i * 17 + 9);
        MDB_stat st;
        assert_int_equal(mdb_stat(r->txn, r->runs[slot], &st), 0);
        assert_int_equal(st.ms_entries, counts[i]);
        *listed |= UINT64_C(1) << slot;
    }
    return n;
}

static void test_txindex_runs_merge(void **state)
{
    (void)state;
    /* Runs of 8 ids and merges of one entry per transaction: 40 blocks of 8 make many runs, a
     * merge resumes across many transactions, and batches and smaller merges come between the
     * transactions of a larger one. */
    struct ldg_store_opts slow = {.index_batch_ids = 8, .index_merge_chunk = 1};
    struct ldg_store_opts opts = {.index_batch_ids = 8, .index_merge_chunk = 5};
    struct fx *f = fx_open(&slow);
    const uint64_t tip = 40;
    for (uint64_t h = 1; h <= tip; h++) {
        T_OK(block(f, 8));
        T_OK(ldg_commit(f->s, NULL)); /* the indexer writes and merges meanwhile */
        if (h % 8 == 0) {
            size_t found;
            check_all_found(f->s, h, &found);
            assert_int_equal(found, h * 8);
        }
    }
    ldg_store_close(f->s);
    T_OK(ldg_store_open(f->dir, f->g, &opts, &f->s));
    size_t found;
    check_all_found(f->s, tip, &found);
    assert_int_equal(found, tip * 8);
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    assert_int_equal(rep.index_next, tip + 1);
    assert_int_equal(rep.unindexed, 0);
    ldg_store_close(f->s);
    f->s = NULL;

    /* Rebuilt from the blocks: 40 runs of 8, merged four of a size class at a time in chunks of
     * 5 entries, four chunks after each run (so merges of runs of 8 come between the chunks of a
     * merge of runs of 32, as in the indexer), leave 40 in base 4 (220): two runs of 128 and two
     * of 32. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/txindex.mdb", f->dir);
    assert_int_equal(unlink(path), 0);
    T_OK(ldg_store_open(f->dir, f->g, &opts, &f->s));
    ldg_store_close(f->s);
    f->s = NULL;
    struct ix_raw r;
    ix_raw_open(f->dir, &r);
    uint64_t counts[LDG_TXINDEX_RUNS_MAX];
    uint64_t listed;
    uint32_t n = ix_raw_runs(&r, counts, &listed);
    assert_int_equal(n, 4);
    assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3], tip * 8);
    unsigned c128 = 0, c32 = 0;
    for (uint32_t i = 0; i < n; i++) {
        c128 += counts[i] == 128;
        c32 += counts[i] == 32;
    }
    assert_int_equal(c128, 2);
    assert_int_equal(c32, 2);
    /* As if a merge had been cut short by a crash: entries in a table no run uses. */
    unsigned stray = 0;
    while ((listed >> stray & 1u) != 0) {
        stray++;
    }
    for (int i = 0; i < 3; i++) {
        uint8_t key[32];
        uint8_t val[13] = {0};
        memset(key, 0x11 * (i + 1), sizeof(key));
        MDB_val k = {32, key};
        MDB_val v = {13, val};
        assert_int_equal(mdb_put(r.txn, r.runs[stray], &k, &v, 0), 0);
    }
    ix_raw_close(&r);
    /* A reader ignores the stray table; the writer empties it. */
    struct ldg_store_opts ro = {.read_only = true};
    T_OK(ldg_store_open(f->dir, f->g, &ro, &f->s));
    check_all_found(f->s, tip, &found);
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    ldg_store_close(f->s);
    T_OK(ldg_store_open(f->dir, f->g, &opts, &f->s));
    check_all_found(f->s, tip, &found);
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    ldg_store_close(f->s);
    f->s = NULL;
    ix_raw_open(f->dir, &r);
    MDB_stat st;
    assert_int_equal(mdb_stat(r.txn, r.runs[stray], &st), 0);
    assert_int_equal(st.ms_entries, 0);
    assert_int_equal(ix_raw_runs(&r, counts, &listed), 4);
    ix_raw_close(&r);
    /* Runs of one id, merged one entry per transaction: 320 runs and merges five classes deep,
     * still within the limit on runs, and every id found. */
    struct ldg_store_opts tiny = {.index_batch_ids = 1, .index_merge_chunk = 1};
    assert_int_equal(unlink(path), 0);
    T_OK(ldg_store_open(f->dir, f->g, &tiny, &f->s));
    check_all_found(f->s, tip, &found);
    assert_int_equal(found, tip * 8);
    T_OK(ldg_audit_run(f->s, NULL, NULL, NULL, &rep));
    ldg_store_close(f->s);
    f->s = NULL;
    ix_raw_open(f->dir, &r);
    n = ix_raw_runs(&r, counts, &listed);
    assert_true(n <= LDG_TXINDEX_RUNS_MAX);
    ix_raw_close(&r);
    /* A damaged list of runs makes the index untrusted: rebuilt, and everything is found. */
    ix_raw_open(f->dir, &r);
    MDB_val k = {4, "runs"};
    MDB_val v = {3, "bad"};
    assert_int_equal(mdb_put(r.txn, r.meta, &k, &v, 0), 0);
    ix_raw_close(&r);
    T_OK(ldg_store_open(f->dir, f->g, &opts, &f->s));
    check_all_found(f->s, tip, &found);
    assert_int_equal(found, tip * 8);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_group_commit_split),
        cmocka_unit_test(test_persistence_thread),
        cmocka_unit_test(test_map_grows),
        cmocka_unit_test(test_map_limit_is_fatal),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_txindex_trust_and_rebuild),
        cmocka_unit_test(test_txindex_catches_up),
        cmocka_unit_test(test_txindex_runs_merge),
    };
    return cmocka_run_group_tests(tests, t_setup, NULL);
}
