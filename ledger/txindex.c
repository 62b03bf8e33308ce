/* The transaction index: transaction id -> height, position, result, in an LMDB environment of
 * its own (docs/formats.md, "The transaction index").
 *
 * Why apart from the store: ids are random, so every indexed transaction lands on its own B-tree
 * leaf, and a durable commit of a group with n transactions writes and fsyncs about n scattered
 * pages. Measured in ledger_e2e at 10,000 tx/s, that made a group commit take 28 ms instead of
 * 3.4 ms and was nearly all of the submit -> final latency. The index is derived from the blocks,
 * so it needs no fsync of its own: it is written after the durable group commits with MDB_NOSYNC,
 * and the page cache carries it across a crash of the process. A crash of the machine
 * may lose or tear unsynced pages, so the index is trusted at start only if it was closed cleanly
 * or was last written during the current boot (txindex.boot holds the boot id, fsynced before
 * the first write of a boot); otherwise it is rebuilt from the stored blocks.
 *
 * Written once per group commit, the index still cost about one 4 KiB page copy and write per
 * transaction (ledger_e2e closed loop: 16.6k final tx/s against 23.6k without an index). So the
 * ids of durable groups wait in a write-back cache (struct ldg_ixcache) and an indexer thread
 * writes them in one sorted batch every LDG_TXINDEX_FLUSH_MS or LDG_TXINDEX_FLUSH_IDS ids, which
 * touches each leaf once for many ids. Lookups in the writing process see the cache first; other
 * processes see the LMDB index, which lags by at most one batch (the audit tracks the rest).
 *
 * Invariant: the LMDB index holds exactly the ids claimed by blocks 0 .. next-1, next <= tip + 1,
 * and entries are never removed (blocks are never trimmed once durable). */
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "ledger/ledger_int.h"

#define IX_FORMAT 1
#define IX_META_FORMAT "format"
#define IX_META_GENESIS "genesis"
#define IX_META_NEXT "next"
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define BOOT_CLEAN "clean"
#define BOOT_BYTES_MAX 64
#define REBUILD_BLOCKS_PER_TXN 256
#define INDEXER_NICE 10

/* ---- the boot marker ---- */

/* The first line of a small file, without its newline ("" if absent or unreadable). */
static void first_line(const char *path, char out[BOOT_BYTES_MAX])
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return;
    }
    if (fgets(out, BOOT_BYTES_MAX, f) == NULL) {
        out[0] = '\0';
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
}

/* The kernel's id of this boot ("" if unknown: then only a clean close is trusted). */
static void boot_id(char out[BOOT_BYTES_MAX])
{
    first_line(BOOT_ID_PATH, out);
}

static void path_in(const struct ldg_store *s, const char *name, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%s", s->dir, name);
    SQ_ASSERT(n > 0 && (size_t)n < cap);
}

/* Reads the boot marker ("" if absent or unreadable). */
static void boot_marker_read(const struct ldg_store *s, char out[BOOT_BYTES_MAX])
{
    char path[sizeof(s->dir) + 32];
    path_in(s, LDG_TXINDEX_BOOT_FILE, path, sizeof(path));
    first_line(path, out);
}

/* Replaces the boot marker durably: write a temporary file, fsync, rename, fsync the folder. */
static int boot_marker_write(const struct ldg_store *s, const char *text)
{
    char path[sizeof(s->dir) + 32];
    char tmp[sizeof(s->dir) + 40];
    path_in(s, LDG_TXINDEX_BOOT_FILE, path, sizeof(path));
    path_in(s, LDG_TXINDEX_BOOT_FILE ".tmp", tmp, sizeof(tmp));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        return ldg_fail(SQ_EIO, "%s: %s", tmp, strerror(errno));
    }
    size_t n = strlen(text);
    bool ok = write(fd, text, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        unlink(tmp);
        return ldg_fail(SQ_EIO, "%s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return ldg_fail(SQ_EIO, "rename %s: %s", tmp, strerror(e));
    }
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) != 0) {
        e = errno;
        if (dfd >= 0) {
            close(dfd);
        }
        return ldg_fail(SQ_EIO, "%s: fsync of the folder: %s", s->dir, strerror(e));
    }
    close(dfd);
    return SQ_OK;
}

/* May the index on disk be used? Closed cleanly, or written during this very boot. */
static bool index_trusted(const struct ldg_store *s, const char *boot)
{
    char marker[BOOT_BYTES_MAX];
    boot_marker_read(s, marker);
    if (strcmp(marker, BOOT_CLEAN) == 0) {
        return true;
    }
    return boot[0] != '\0' && strcmp(marker, boot) == 0;
}

/* ---- reads ---- */

int ldg_irtxn_begin(struct ldg_store *s, MDB_txn **txn)
{
    *txn = NULL;
    if (s->ienv == NULL) {
        return SQ_OK;
    }
    return ldg_env_rtxn_begin(s->ienv, &s->iresize_lock, &s->imap_size,
                              "begin a read transaction on the transaction index", txn);
}

void ldg_irtxn_end(struct ldg_store *s, MDB_txn *txn)
{
    if (txn != NULL) {
        mdb_txn_abort(txn);
        pthread_rwlock_unlock(&s->iresize_lock);
    }
}

int ldg_txindex_get(struct ldg_store *s, MDB_txn *txn, const uint8_t id[LDG_HASH_BYTES],
                    uint64_t *height, uint32_t *index, uint8_t *result)
{
    if (txn == NULL) {
        return SQ_ENOTFOUND;
    }
    MDB_val k = {LDG_HASH_BYTES, (void *)(uintptr_t)id};
    MDB_val v;
    int rc = mdb_get(txn, s->idbi_ids, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return SQ_ENOTFOUND;
    }
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "transaction index");
    }
    if (v.mv_size != LDG_TXINDEX_BYTES) {
        return ldg_fail(SQ_ECORRUPT, "transaction index entry of %zu bytes", v.mv_size);
    }
    const uint8_t *p = v.mv_data;
    *height = sq_le64_load(p);
    *index = sq_le32_load(p + 8);
    *result = p[12];
    return SQ_OK;
}

static int meta_get(struct ldg_store *s, MDB_txn *txn, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)(uintptr_t)key};
    return mdb_get(txn, s->idbi_meta, &k, v);
}

uint64_t ldg_txindex_next(struct ldg_store *s, MDB_txn *txn)
{
    MDB_val v;
    if (txn == NULL || meta_get(s, txn, IX_META_NEXT, &v) != MDB_SUCCESS || v.mv_size != 8) {
        return 0;
    }
    return sq_le64_load(v.mv_data);
}

uint64_t ldg_txindex_count(struct ldg_store *s, MDB_txn *txn)
{
    MDB_stat st;
    if (txn == NULL || mdb_stat(txn, s->idbi_ids, &st) != MDB_SUCCESS) {
        return 0;
    }
    return st.ms_entries;
}

int ldg_txindex_count_below(struct ldg_store *s, MDB_txn *txn, uint64_t below, uint64_t *count)
{
    *count = 0;
    if (txn == NULL) {
        return SQ_OK;
    }
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->idbi_ids, &cur);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "transaction index");
    }
    MDB_val k;
    MDB_val v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != LDG_HASH_BYTES || v.mv_size != LDG_TXINDEX_BYTES) {
            mdb_cursor_close(cur);
            return ldg_fail(SQ_ECORRUPT, "transaction index entry of %zu/%zu bytes", k.mv_size,
                            v.mv_size);
        }
        *count += sq_le64_load(v.mv_data) < below ? 1u : 0u;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? SQ_OK : ldg_mdb_err(rc, "transaction index");
}

/* ---- writes ---- */

static int put_entry(struct ldg_store *s, MDB_txn *txn, const uint8_t id[LDG_HASH_BYTES],
                     uint64_t height, uint32_t index, uint8_t result)
{
    uint8_t v[LDG_TXINDEX_BYTES];
    sq_le64_store(v, height);
    sq_le32_store(v + 8, index);
    v[12] = result;
    MDB_val k = {LDG_HASH_BYTES, (void *)(uintptr_t)id};
    MDB_val d = {sizeof(v), v};
    /* An id is claimed once in a chain (a later copy is a duplicate), so an existing key means
     * the index and the blocks disagree. */
    return mdb_put(txn, s->idbi_ids, &k, &d, MDB_NOOVERWRITE);
}

static int put_next(struct ldg_store *s, MDB_txn *txn, uint64_t next)
{
    uint8_t v[8];
    sq_le64_store(v, next);
    MDB_val k = {strlen(IX_META_NEXT), (void *)(uintptr_t)IX_META_NEXT};
    MDB_val d = {8, v};
    return mdb_put(txn, s->idbi_meta, &k, &d, 0);
}

static int grow(struct ldg_store *s)
{
    return ldg_env_grow(s->ienv, &s->iresize_lock, &s->imap_size, s->map_size_max,
                        "the transaction index map");
}

/* Translates the LMDB code of a failed index write. */
static int write_error(int rc)
{
    if (rc == MDB_KEYEXIST) {
        return ldg_fail(SQ_ECORRUPT, "transaction index: an id is claimed twice");
    }
    return ldg_mdb_err(rc, "write the transaction index");
}

/* ---- the write-back cache and its indexer thread ---- */

static int entry_cmp(const void *a, const void *b)
{
    const struct ldg_idset_entry *const *x = a;
    const struct ldg_idset_entry *const *y = b;
    return memcmp((*x)->id, (*y)->id, LDG_HASH_BYTES);
}

/* Puts a batch of entries into write transaction `txn`: SQ_OK with the LMDB code of the first
 * failed put in *mdb_rc (MDB_SUCCESS if none), or an sq_err of its own (the batch is then
 * abandoned). */
typedef int (*fill_fn)(struct ldg_store *s, MDB_txn *txn, void *arg, int *mdb_rc);

/* One index write transaction: `fill`'s entries and next = `next`, committed without fsync. A full
 * map (during the puts, or while the commit saves the free list: nothing is written then) grows
 * and the transaction is filled again. */
static int write_txn(struct ldg_store *s, fill_fn fill, void *arg, uint64_t next)
{
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->ienv, NULL, 0, &txn);
        if (rc != MDB_SUCCESS) {
            return ldg_mdb_err(rc, "begin a transaction index write");
        }
        int err = fill(s, txn, arg, &rc);
        if (err != SQ_OK) {
            mdb_txn_abort(txn);
            return err;
        }
        if (rc == MDB_SUCCESS) {
            rc = put_next(s, txn, next);
        }
        if (rc == MDB_SUCCESS) {
            /* No fsync (MDB_NOSYNC): see the top of this file. */
            rc = mdb_txn_commit(txn);
        } else {
            mdb_txn_abort(txn);
        }
        if (rc == MDB_MAP_FULL) {
            err = grow(s);
            if (err != SQ_OK) {
                return err;
            }
            continue;
        }
        return rc == MDB_SUCCESS ? SQ_OK : write_error(rc);
    }
}

struct sorted_entries {
    const struct ldg_idset_entry **order;
    size_t count;
};

static int fill_sorted(struct ldg_store *s, MDB_txn *txn, void *arg, int *mdb_rc)
{
    const struct sorted_entries *e = arg;
    *mdb_rc = MDB_SUCCESS;
    for (size_t i = 0; *mdb_rc == MDB_SUCCESS && i < e->count; i++) {
        const struct ldg_idset_entry *x = e->order[i];
        *mdb_rc = put_entry(s, txn, x->id, x->height, x->index, x->result);
    }
    return SQ_OK;
}

/* Writes one set to LMDB in id order, with next = `next`. Indexer thread. */
static int flush_set(struct ldg_store *s, const struct ldg_idset *set, uint64_t next)
{
    struct sorted_entries e = {.order = malloc((set->count + 1) * sizeof(*e.order))};
    if (e.order == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory to write the transaction index");
    }
    for (size_t i = 0; i < set->cap; i++) {
        if (set->slots[i].used) {
            e.order[e.count++] = &set->slots[i];
        }
    }
    SQ_ASSERT(e.count == set->count);
    qsort(e.order, e.count, sizeof(*e.order), entry_cmp);
    int err = write_txn(s, fill_sorted, &e, next);
    free(e.order);
    return err;
}

static void deadline_after_ms(struct timespec *ts, uint64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ms / 1000);
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Swaps the sets so that the full one can be written. Lock held; nothing being written. */
static void swap_locked(struct ldg_store *s)
{
    struct ldg_ixcache *x = &s->ix;
    SQ_ASSERT(!x->flushing);
    x->flush_next = s->ix_next;
    x->active = 1 - x->active;
    x->flushing = true;
}

static void *indexer_main(void *arg)
{
    struct ldg_store *s = arg;
    struct ldg_ixcache *x = &s->ix;
    /* Background work: on a busy machine the latency-bound threads (the loop, the persistence
     * thread) go first. Linux applies a thread's nice value to that thread alone. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), INDEXER_NICE) != 0) {
        SQ_DEBUG("ledger", "indexer priority unchanged", "errno=%d", errno);
    }
    pthread_mutex_lock(&x->lock);
    for (;;) {
        struct timespec deadline;
        deadline_after_ms(&deadline, LDG_TXINDEX_FLUSH_MS);
        while (!x->stop && x->sets[x->active].count < LDG_TXINDEX_FLUSH_IDS) {
            if (pthread_cond_timedwait(&x->cv, &x->lock, &deadline) == ETIMEDOUT) {
                break;
            }
        }
        if (x->sets[x->active].count > 0 && x->error == SQ_OK) {
            swap_locked(s);
            const struct ldg_idset *full = &x->sets[1 - x->active];
            uint64_t next = x->flush_next;
            pthread_mutex_unlock(&x->lock);
            int err = flush_set(s, full, next);
            pthread_mutex_lock(&x->lock);
            if (err == SQ_OK) {
                ldg_idset_clear(&x->sets[1 - x->active]);
                x->flushing = false;
            } else {
                /* Keep the set (lookups still see it) and fail the store at its next commit. */
                SQ_ERROR("ledger", "transaction index write failed", "reason=\"%s\"", ldg_errmsg());
                x->error = err;
            }
            pthread_cond_broadcast(&x->cv);
        }
        if (x->stop && (x->sets[x->active].count == 0 || x->error != SQ_OK)) {
            break;
        }
    }
    pthread_mutex_unlock(&x->lock);
    return NULL;
}

int ldg_txindex_append(struct ldg_store *s, const struct ldg_commit *c)
{
    if (s->ienv == NULL || c->block_count == 0) {
        return SQ_OK; /* the genesis commit of a new store: the index opens after it */
    }
    SQ_ASSERT(c->blocks[0]->height == s->ix_next);
    struct ldg_ixcache *x = &s->ix;
    pthread_mutex_lock(&x->lock);
    /* Back-pressure: a set may not outgrow a few batches while the indexer is behind. */
    while (x->error == SQ_OK && x->flushing &&
           x->sets[x->active].count >= 4 * LDG_TXINDEX_FLUSH_IDS) {
        pthread_cond_wait(&x->cv, &x->lock);
    }
    int err = x->error;
    struct ldg_idset *set = &x->sets[x->active];
    for (size_t i = 0; err == SQ_OK && i < c->block_count; i++) {
        const struct ldg_pending_block *b = c->blocks[i];
        for (uint32_t j = 0; err == SQ_OK && j < b->id_count; j++) {
            err = ldg_idset_insert(set, b->ids[j], b->height, b->id_index[j], b->id_result[j]);
        }
    }
    if (err == SQ_OK) {
        s->ix_next = c->tip_height + 1;
        if (set->count >= LDG_TXINDEX_FLUSH_IDS) {
            pthread_cond_broadcast(&x->cv);
        }
    }
    pthread_mutex_unlock(&x->lock);
    return err;
}

int ldg_txindex_lookup(struct ldg_store *s, const uint8_t id[LDG_HASH_BYTES], uint64_t *height,
                       uint32_t *index, uint8_t *result)
{
    struct ldg_ixcache *x = &s->ix;
    MDB_txn *txn;
    int rc;
    if (x->running) {
        pthread_mutex_lock(&x->lock);
        const struct ldg_idset_entry *e = ldg_idset_find(&x->sets[x->active], id);
        if (e == NULL && x->flushing) {
            e = ldg_idset_find(&x->sets[1 - x->active], id);
        }
        if (e != NULL) {
            *height = e->height;
            *index = e->index;
            *result = e->result;
            pthread_mutex_unlock(&x->lock);
            return SQ_OK;
        }
        /* A set is cleared (under the lock) only after its batch is committed, so a snapshot
         * begun under the lock holds every id the sets no longer do. */
        rc = ldg_irtxn_begin(s, &txn);
        pthread_mutex_unlock(&x->lock);
    } else {
        rc = ldg_irtxn_begin(s, &txn);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_txindex_get(s, txn, id, height, index, result);
    ldg_irtxn_end(s, txn);
    return rc;
}

static int cache_start(struct ldg_store *s)
{
    struct ldg_ixcache *x = &s->ix;
    int rc = ldg_idset_init(&x->sets[0], LDG_TXINDEX_FLUSH_IDS);
    if (rc == SQ_OK) {
        rc = ldg_idset_init(&x->sets[1], LDG_TXINDEX_FLUSH_IDS);
    }
    if (rc != SQ_OK) {
        ldg_idset_free(&x->sets[0]);
        return rc;
    }
    pthread_mutex_init(&x->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cv, &ca);
    pthread_condattr_destroy(&ca);
    x->active = 0;
    if (pthread_create(&x->thread, NULL, indexer_main, s) != 0) {
        pthread_cond_destroy(&x->cv);
        pthread_mutex_destroy(&x->lock);
        ldg_idset_free(&x->sets[0]);
        ldg_idset_free(&x->sets[1]);
        return ldg_fail(SQ_ENOMEM, "cannot start the transaction indexer thread");
    }
    (void)pthread_setname_np(x->thread, "sq-index"); /* cosmetic: ignore failure */
    x->running = true;
    return SQ_OK;
}

/* Writes what the cache holds and stops the indexer. SQ_OK if everything reached LMDB. */
static int cache_stop(struct ldg_store *s)
{
    struct ldg_ixcache *x = &s->ix;
    if (!x->running) {
        return SQ_OK;
    }
    pthread_mutex_lock(&x->lock);
    x->stop = true;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->lock);
    pthread_join(x->thread, NULL);
    int err = x->error;
    x->running = false;
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->lock);
    ldg_idset_free(&x->sets[0]);
    ldg_idset_free(&x->sets[1]);
    return err;
}

struct block_range {
    MDB_txn *btxn; /* a read transaction on the store */
    uint64_t first;
    uint64_t last;
};

/* The ids that stored blocks first .. last claim (every transaction but a duplicate or a
 * forgery, as apply.c decides). */
static int fill_blocks(struct ldg_store *s, MDB_txn *txn, void *arg, int *mdb_rc)
{
    const struct block_range *r = arg;
    *mdb_rc = MDB_SUCCESS;
    for (uint64_t h = r->first; *mdb_rc == MDB_SUCCESS && h <= r->last; h++) {
        struct ldg_header hdr;
        int err = ldg_read_header(s, r->btxn, h, &hdr, NULL, NULL, NULL);
        if (err != SQ_OK) {
            return err;
        }
        if (hdr.kind != LDG_BLOCK_BATCH) {
            continue;
        }
        const uint8_t *body;
        size_t body_size;
        uint32_t count = 0;
        const uint8_t *txs = NULL;
        size_t txs_size = 0;
        const uint8_t *results = NULL;
        err = ldg_read_body(s, r->btxn, h, &body, &body_size);
        if (err == SQ_OK) {
            err = ldg_body_decode(body, body_size, &count, &txs, &txs_size, &results);
        }
        if (err != SQ_OK) {
            return ldg_fail_prefix(SQ_ECORRUPT, "rebuild the transaction index: block %llu",
                                   (unsigned long long)h);
        }
        struct ldg_tx_iter it;
        struct ldg_bytes raw;
        ldg_tx_iter_init(&it, txs, txs_size, count);
        for (uint32_t i = 0; *mdb_rc == MDB_SUCCESS && ldg_tx_iter_next(&it, &raw); i++) {
            uint8_t res = results[i];
            if (res == LDG_RESULT_DUPLICATE || res == LDG_RESULT_BAD_SIGNATURE) {
                continue;
            }
            uint8_t id[LDG_HASH_BYTES];
            ldg_tx_id(raw.data, raw.size, id);
            *mdb_rc = put_entry(s, txn, id, h, i, res);
        }
    }
    return SQ_OK;
}

/* Brings the index up to the store's tip from the stored blocks. */
static int catch_up(struct ldg_store *s)
{
    uint64_t tip = s->height;
    if (s->ix_next > tip) {
        return SQ_OK;
    }
    uint64_t from = s->ix_next;
    MDB_txn *btxn;
    int rc = ldg_rtxn_begin(s, &btxn);
    if (rc != SQ_OK) {
        return rc;
    }
    for (uint64_t h = from; rc == SQ_OK && h <= tip; h += REBUILD_BLOCKS_PER_TXN) {
        uint64_t last = tip - h < REBUILD_BLOCKS_PER_TXN ? tip : h + REBUILD_BLOCKS_PER_TXN - 1;
        struct block_range r = {.btxn = btxn, .first = h, .last = last};
        rc = write_txn(s, fill_blocks, &r, last + 1);
        if (rc == SQ_OK) {
            s->ix_next = last + 1;
        }
    }
    ldg_rtxn_end(s, btxn);
    if (rc == SQ_OK && tip > from) {
        SQ_INFO("ledger", "transaction index caught up", "from=%llu to=%llu",
                (unsigned long long)from, (unsigned long long)tip);
    }
    return rc;
}

static void remove_files(const struct ldg_store *s)
{
    char path[sizeof(s->dir) + 32];
    path_in(s, LDG_TXINDEX_FILE, path, sizeof(path));
    unlink(path);
    path_in(s, LDG_TXINDEX_FILE "-lock", path, sizeof(path));
    unlink(path);
}

static int env_open(struct ldg_store *s)
{
    char path[sizeof(s->dir) + 32];
    path_in(s, LDG_TXINDEX_FILE, path, sizeof(path));
    int rc = mdb_env_create(&s->ienv);
    if (rc != MDB_SUCCESS) {
        s->ienv = NULL;
        return ldg_mdb_err(rc, "create the transaction index environment");
    }
    mdb_env_set_maxdbs(s->ienv, 4);
    mdb_env_set_maxreaders(s->ienv, 512);
    unsigned int flags = MDB_NOSUBDIR | MDB_NOTLS | MDB_NORDAHEAD;
    if (s->read_only) {
        flags |= MDB_RDONLY;
    } else {
        /* As large as the store's map to begin with; it doubles when it fills, as that does. */
        mdb_env_set_mapsize(s->ienv, (size_t)__atomic_load_n(&s->map_size, __ATOMIC_RELAXED));
        flags |= MDB_NOSYNC | MDB_NOMETASYNC;
    }
    rc = mdb_env_open(s->ienv, path, flags, 0600);
    MDB_txn *txn = NULL;
    if (rc == MDB_SUCCESS) {
        rc = mdb_txn_begin(s->ienv, NULL, s->read_only ? MDB_RDONLY : 0, &txn);
    }
    unsigned int create = s->read_only ? 0 : MDB_CREATE;
    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "meta", create, &s->idbi_meta);
    }
    if (rc == MDB_SUCCESS) {
        rc = mdb_dbi_open(txn, "ids", create, &s->idbi_ids);
    }
    if (rc == MDB_SUCCESS) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rc != MDB_SUCCESS) {
        mdb_env_close(s->ienv);
        s->ienv = NULL;
        return ldg_mdb_err(rc, path);
    }
    MDB_envinfo info;
    mdb_env_info(s->ienv, &info);
    s->imap_size = info.me_mapsize;
    return SQ_OK;
}

/* Does the opened index belong to this store? Empty counts as yes (and gets the identity). */
static int check_identity(struct ldg_store *s, bool *ok)
{
    *ok = false;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->ienv, NULL, 0, &txn);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "transaction index");
    }
    MDB_val f;
    MDB_val g;
    int rf = meta_get(s, txn, IX_META_FORMAT, &f);
    int rg = meta_get(s, txn, IX_META_GENESIS, &g);
    uint64_t next = ldg_txindex_next(s, txn);
    if (rf == MDB_NOTFOUND && ldg_txindex_count(s, txn) == 0) {
        uint8_t fmt = IX_FORMAT;
        MDB_val k = {strlen(IX_META_FORMAT), (void *)(uintptr_t)IX_META_FORMAT};
        MDB_val d = {1, &fmt};
        rc = mdb_put(txn, s->idbi_meta, &k, &d, 0);
        MDB_val gk = {strlen(IX_META_GENESIS), (void *)(uintptr_t)IX_META_GENESIS};
        MDB_val gd = {LDG_HASH_BYTES, s->g->digest};
        if (rc == MDB_SUCCESS) {
            rc = mdb_put(txn, s->idbi_meta, &gk, &gd, 0);
        }
        if (rc == MDB_SUCCESS) {
            rc = put_next(s, txn, 0);
        }
        if (rc == MDB_SUCCESS) {
            rc = mdb_txn_commit(txn);
            *ok = rc == MDB_SUCCESS;
            s->ix_next = 0;
            return ldg_mdb_err(rc, "initialise the transaction index");
        }
        mdb_txn_abort(txn);
        return ldg_mdb_err(rc, "initialise the transaction index");
    }
    *ok = rf == MDB_SUCCESS && f.mv_size == 1 && ((const uint8_t *)f.mv_data)[0] == IX_FORMAT &&
          rg == MDB_SUCCESS && g.mv_size == LDG_HASH_BYTES &&
          memcmp(g.mv_data, s->g->digest, LDG_HASH_BYTES) == 0 && next <= s->height + 1;
    s->ix_next = next;
    mdb_txn_abort(txn);
    return SQ_OK;
}

int ldg_txindex_open(struct ldg_store *s)
{
    SQ_ASSERT(s->ienv == NULL);
    char boot[BOOT_BYTES_MAX];
    boot_id(boot);
    char path[sizeof(s->dir) + 32];
    path_in(s, LDG_TXINDEX_FILE, path, sizeof(path));
    struct stat sb;
    bool exists = stat(path, &sb) == 0;
    bool trusted = exists && index_trusted(s, boot);
    if (s->read_only) {
        /* A reader cannot repair: an index that may be torn is not used at all (the audit then
         * tracks the ids itself; lookups find nothing). */
        if (!trusted) {
            SQ_INFO("ledger", "transaction index not used", "reason=\"%s\"",
                    exists ? "not closed cleanly and written in another boot"
                           : "missing; the validator rebuilds it when it starts");
            return SQ_OK;
        }
        int rc = env_open(s);
        if (rc != SQ_OK) {
            /* Derived data: a reader without it (say, no write access to txindex.mdb-lock)
             * still has the blocks. */
            SQ_WARN("ledger", "transaction index not used", "reason=\"%s\"", ldg_errmsg());
            return SQ_OK;
        }
        MDB_txn *txn;
        rc = ldg_irtxn_begin(s, &txn);
        if (rc == SQ_OK) {
            s->ix_next = ldg_txindex_next(s, txn);
            ldg_irtxn_end(s, txn);
        }
        return rc;
    }
    if (exists && !trusted) {
        SQ_WARN("ledger", "transaction index rebuilt",
                "reason=\"not closed cleanly and last written in another boot: it may be torn\"");
        remove_files(s);
    }
    /* From here on the index may hold unsynced writes of this boot. */
    int rc = boot_marker_write(s, boot[0] != '\0' ? boot : "unknown");
    if (rc != SQ_OK) {
        return rc;
    }
    rc = env_open(s);
    bool ok = false;
    if (rc == SQ_OK) {
        rc = check_identity(s, &ok);
    }
    if (rc != SQ_OK || !ok) {
        SQ_WARN("ledger", "transaction index rebuilt", "reason=\"%s\"",
                rc != SQ_OK ? ldg_errmsg()
                            : "it belongs to another genesis or format, or is ahead of the store");
        if (s->ienv != NULL) {
            mdb_env_close(s->ienv);
            s->ienv = NULL;
        }
        remove_files(s);
        rc = env_open(s);
        if (rc == SQ_OK) {
            rc = check_identity(s, &ok);
        }
        SQ_ASSERT(rc != SQ_OK || ok);
    }
    if (rc == SQ_OK) {
        rc = catch_up(s);
    }
    if (rc == SQ_OK) {
        rc = cache_start(s);
    }
    if (rc != SQ_OK) {
        if (s->ienv != NULL) {
            mdb_env_close(s->ienv);
            s->ienv = NULL;
        }
        return ldg_fail_prefix(rc, "%s/%s", s->dir, LDG_TXINDEX_FILE);
    }
    return SQ_OK;
}

void ldg_txindex_close(struct ldg_store *s)
{
    if (s->ienv == NULL) {
        return;
    }
    int err = s->read_only ? SQ_OK : cache_stop(s);
    if (!s->read_only && err == SQ_OK && !ldg_store_is_failed(s)) {
        /* Only a fully written and synced index may be called clean. */
        int rc = mdb_env_sync(s->ienv, 1);
        if (rc == MDB_SUCCESS) {
            if (boot_marker_write(s, BOOT_CLEAN) != SQ_OK) {
                SQ_WARN("ledger", "transaction index not marked clean", "reason=\"%s\"",
                        ldg_errmsg());
            }
        } else {
            SQ_WARN("ledger", "transaction index not synced", "reason=\"%s\"", mdb_strerror(rc));
        }
    }
    mdb_env_close(s->ienv);
    s->ienv = NULL;
}
