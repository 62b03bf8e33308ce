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
 * writes them in one sorted batch every LDG_TXINDEX_FLUSH_MS or LDG_TXINDEX_FLUSH_IDS ids.
 * Lookups in the writing process see the cache first; other processes see the LMDB index, which
 * lags by at most one batch (the audit tracks the rest).
 *
 * A batch merged into one B-tree still touched each leaf, and with the tree growing, nearly one
 * page per id again: at 10,000 tx/s the submit -> final p99 tripled within 30 s as the index
 * passed 250,000 ids. So the index is log-structured: each batch becomes a run of its own, a
 * sorted table written with MDB_APPEND (every page written once, full), and runs of one size
 * class are merged in the background a chunk at a time, sequentially again. Each run has a
 * blocked Bloom filter, so a lookup of an id that is not there (the duplicate check of every
 * transaction) reads one cache line per run and no B-tree. The "runs" record lists the runs of a
 * snapshot; a merge's output becomes visible, and its inputs are emptied, in one transaction.
 *
 * Invariant: the runs listed by a snapshot hold exactly the ids claimed by blocks 0 .. next-1,
 * each once, next <= tip + 1; entries are never removed but by a merge that writes them again
 * (blocks are never trimmed once durable). */
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

#define IX_FORMAT 2
#define IX_META_FORMAT "format"
#define IX_META_GENESIS "genesis"
#define IX_META_NEXT "next"
#define IX_META_RUNS "runs"
#define IX_RUN_BYTES 17 /* table u8, run number u64, entries u64 */
#define IX_NAME_BYTES 16
#define IX_BLOCK_BYTES 64
#define IX_FILTER_PROBES 6
#define BOOT_ID_PATH "/proc/sys/kernel/random/boot_id"
#define BOOT_CLEAN "clean"
#define BOOT_BYTES_MAX 64
#define INDEXER_NICE 10
#define CATCH_UP_MERGE_STEPS 4 /* per run written */

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

static void slot_name(char out[IX_NAME_BYTES], unsigned slot)
{
    int n = snprintf(out, IX_NAME_BYTES, "run.%02u", slot);
    SQ_ASSERT(n > 0 && n < IX_NAME_BYTES);
}

static void filter_key(char out[IX_NAME_BYTES], unsigned slot)
{
    int n = snprintf(out, IX_NAME_BYTES, "filter.%02u", slot);
    SQ_ASSERT(n > 0 && n < IX_NAME_BYTES);
}

static int meta_get(struct ldg_store *s, MDB_txn *txn, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)(uintptr_t)key};
    return mdb_get(txn, s->idbi_meta, &k, v);
}

/* ---- Bloom filters ----
 * Blocked: an id sets IX_FILTER_PROBES bits of one 64-byte block, so a probe reads one cache
 * line. Ids are SHA-256 digests, so their own bytes serve as the hash: bytes 0..7 choose the
 * block, bytes 8..15 the bits. Whoever grinds ids to collide slows only the lookups of those ids
 * (a false positive costs one B-tree lookup). */

static size_t filter_blocks_for(uint64_t count)
{
    uint64_t bits = count * LDG_TXINDEX_FILTER_BITS;
    uint64_t blocks = (bits + IX_BLOCK_BYTES * 8 - 1) / (IX_BLOCK_BYTES * 8);
    return blocks == 0 ? 1 : (size_t)blocks;
}

static uint8_t *filter_block(const uint8_t *f, size_t blocks, const uint8_t id[LDG_HASH_BYTES])
{
    /* blocks < 2^32 (LDG_TXINDEX_FILTER_IDS_MAX), so the product fits in 64 bits. */
    uint64_t b = ((sq_le64_load(id) >> 32) * (uint64_t)blocks) >> 32;
    return (uint8_t *)(uintptr_t)(f + b * IX_BLOCK_BYTES);
}

static void filter_add(uint8_t *f, size_t blocks, const uint8_t id[LDG_HASH_BYTES])
{
    uint8_t *b = filter_block(f, blocks, id);
    uint64_t h = sq_le64_load(id + 8);
    for (int k = 0; k < IX_FILTER_PROBES; k++, h >>= 9) {
        unsigned bit = (unsigned)(h & 511u);
        b[bit >> 3] = (uint8_t)(b[bit >> 3] | (1u << (bit & 7u)));
    }
}

static bool filter_may_hold(const uint8_t *f, size_t blocks, const uint8_t id[LDG_HASH_BYTES])
{
    const uint8_t *b = filter_block(f, blocks, id);
    uint64_t h = sq_le64_load(id + 8);
    for (int k = 0; k < IX_FILTER_PROBES; k++, h >>= 9) {
        unsigned bit = (unsigned)(h & 511u);
        if ((b[bit >> 3] & (1u << (bit & 7u))) == 0) {
            return false;
        }
    }
    return true;
}

/* ---- the runs of a snapshot ---- */

/* Reads the runs of snapshot `txn` into v: its "runs" record and each run's filter (pointing into
 * the map, valid while a snapshot with this transaction id is held and the map not grown).
 * `filters` false skips them. SQ_ECORRUPT for a malformed record. */
static int view_read(struct ldg_store *s, MDB_txn *txn, bool filters, struct ldg_ixview *v)
{
    v->txnid = (uint64_t)mdb_txn_id(txn);
    v->map_size = __atomic_load_n(&s->imap_size, __ATOMIC_RELAXED);
    v->count = 0;
    MDB_val d;
    int rc = meta_get(s, txn, IX_META_RUNS, &d);
    if (rc == MDB_NOTFOUND) {
        return SQ_OK; /* a new index, not yet initialised */
    }
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "transaction index");
    }
    const uint8_t *p = d.mv_data;
    uint32_t n = d.mv_size >= 4 ? sq_le32_load(p) : UINT32_MAX;
    if (n > LDG_TXINDEX_RUNS_MAX || d.mv_size != 4 + (size_t)n * IX_RUN_BYTES) {
        return ldg_fail(SQ_ECORRUPT, "transaction index: malformed list of runs (%zu bytes)",
                        d.mv_size);
    }
    uint64_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *q = p + 4 + (size_t)i * IX_RUN_BYTES;
        struct ldg_ixrun *r = &v->run[i];
        r->slot = q[0];
        r->no = sq_le64_load(q + 1);
        r->count = sq_le64_load(q + 9);
        r->filter = NULL;
        r->filter_blocks = 0;
        if (r->slot >= LDG_TXINDEX_SLOTS || (used >> r->slot & 1u) != 0) {
            return ldg_fail(SQ_ECORRUPT, "transaction index: run %u names table %u", i, r->slot);
        }
        used |= UINT64_C(1) << r->slot;
        if (!filters) {
            continue;
        }
        char key[IX_NAME_BYTES];
        filter_key(key, r->slot);
        MDB_val f;
        rc = meta_get(s, txn, key, &f);
        if (rc == MDB_SUCCESS) {
            if (f.mv_size == 0 || f.mv_size % IX_BLOCK_BYTES != 0) {
                return ldg_fail(SQ_ECORRUPT, "transaction index: filter of %zu bytes", f.mv_size);
            }
            r->filter = f.mv_data;
            r->filter_blocks = f.mv_size / IX_BLOCK_BYTES;
        } else if (rc != MDB_NOTFOUND) {
            return ldg_mdb_err(rc, "transaction index");
        }
    }
    v->count = n;
    return SQ_OK;
}

static void view_copy(struct ldg_ixview *to, const struct ldg_ixview *from)
{
    to->txnid = from->txnid;
    to->map_size = from->map_size;
    to->count = from->count;
    memcpy(to->run, from->run, from->count * sizeof(from->run[0]));
}

/* The runs of `txn`, through a cache of the newest snapshot read (a new snapshot comes with each
 * batch of the indexer, while lookups come with every transaction). */
static int view_get(struct ldg_store *s, MDB_txn *txn, struct ldg_ixview *v)
{
    uint64_t id = (uint64_t)mdb_txn_id(txn);
    uint64_t map = __atomic_load_n(&s->imap_size, __ATOMIC_RELAXED);
    pthread_mutex_lock(&s->iview_lock);
    if (s->iview.map_size != 0 && s->iview.txnid == id && s->iview.map_size == map) {
        view_copy(v, &s->iview);
        pthread_mutex_unlock(&s->iview_lock);
        return SQ_OK;
    }
    pthread_mutex_unlock(&s->iview_lock);
    int rc = view_read(s, txn, true, v);
    if (rc == SQ_OK) {
        pthread_mutex_lock(&s->iview_lock);
        if (id >= s->iview.txnid || map != s->iview.map_size) {
            view_copy(&s->iview, v);
        }
        pthread_mutex_unlock(&s->iview_lock);
    }
    return rc;
}

/* Drops the cached runs: a new environment (a rebuilt index) counts its transactions anew. */
static void view_forget(struct ldg_store *s)
{
    pthread_mutex_lock(&s->iview_lock);
    memset(&s->iview, 0, sizeof(s->iview));
    pthread_mutex_unlock(&s->iview_lock);
}

static int entry_decode(const MDB_val *k, const MDB_val *v, uint64_t *height, uint32_t *index,
                        uint8_t *result)
{
    if (k->mv_size != LDG_HASH_BYTES || v->mv_size != LDG_TXINDEX_BYTES) {
        return ldg_fail(SQ_ECORRUPT, "transaction index entry of %zu/%zu bytes", k->mv_size,
                        v->mv_size);
    }
    const uint8_t *p = v->mv_data;
    *height = sq_le64_load(p);
    *index = sq_le32_load(p + 8);
    *result = p[12];
    return SQ_OK;
}

int ldg_txindex_get(struct ldg_store *s, MDB_txn *txn, const uint8_t id[LDG_HASH_BYTES],
                    uint64_t *height, uint32_t *index, uint8_t *result)
{
    if (txn == NULL) {
        return SQ_ENOTFOUND;
    }
    struct ldg_ixview v;
    int rc = view_get(s, txn, &v);
    if (rc != SQ_OK) {
        return rc;
    }
    /* Newest first; an id is in one run at most. */
    for (uint32_t i = v.count; i-- > 0;) {
        const struct ldg_ixrun *r = &v.run[i];
        if (r->filter != NULL && !filter_may_hold(r->filter, r->filter_blocks, id)) {
            continue;
        }
        MDB_val k = {LDG_HASH_BYTES, (void *)(uintptr_t)id};
        MDB_val d;
        rc = mdb_get(txn, s->idbi_slot[r->slot], &k, &d);
        if (rc == MDB_SUCCESS) {
            return entry_decode(&k, &d, height, index, result);
        }
        if (rc != MDB_NOTFOUND) {
            return ldg_mdb_err(rc, "transaction index");
        }
    }
    return SQ_ENOTFOUND;
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
    struct ldg_ixview v;
    if (txn == NULL || view_read(s, txn, false, &v) != SQ_OK) {
        return 0;
    }
    uint64_t n = 0;
    for (uint32_t i = 0; i < v.count; i++) {
        n += v.run[i].count;
    }
    return n;
}

int ldg_txindex_count_below(struct ldg_store *s, MDB_txn *txn, uint64_t below, uint64_t *count)
{
    *count = 0;
    if (txn == NULL) {
        return SQ_OK;
    }
    struct ldg_ixview v;
    int rc = view_read(s, txn, false, &v);
    for (uint32_t i = 0; rc == SQ_OK && i < v.count; i++) {
        MDB_cursor *cur;
        int e = mdb_cursor_open(txn, s->idbi_slot[v.run[i].slot], &cur);
        if (e != MDB_SUCCESS) {
            return ldg_mdb_err(e, "transaction index");
        }
        MDB_val k;
        MDB_val d;
        for (e = mdb_cursor_get(cur, &k, &d, MDB_FIRST); e == MDB_SUCCESS && rc == SQ_OK;
             e = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
            uint64_t h = 0;
            uint32_t index;
            uint8_t result;
            rc = entry_decode(&k, &d, &h, &index, &result);
            *count += rc == SQ_OK && h < below ? 1u : 0u;
        }
        mdb_cursor_close(cur);
        if (rc == SQ_OK && e != MDB_NOTFOUND) {
            rc = ldg_mdb_err(e, "transaction index");
        }
    }
    return rc;
}

/* ---- writes ---- */

static int put_next(struct ldg_store *s, MDB_txn *txn, uint64_t next)
{
    uint8_t v[8];
    sq_le64_store(v, next);
    MDB_val k = {strlen(IX_META_NEXT), (void *)(uintptr_t)IX_META_NEXT};
    MDB_val d = {8, v};
    return mdb_put(txn, s->idbi_meta, &k, &d, 0);
}

static int put_runs(struct ldg_store *s, MDB_txn *txn, const struct ldg_ixview *v)
{
    uint8_t buf[4 + LDG_TXINDEX_RUNS_MAX * IX_RUN_BYTES];
    SQ_ASSERT(v->count <= LDG_TXINDEX_RUNS_MAX);
    sq_le32_store(buf, v->count);
    for (uint32_t i = 0; i < v->count; i++) {
        uint8_t *q = buf + 4 + (size_t)i * IX_RUN_BYTES;
        q[0] = v->run[i].slot;
        sq_le64_store(q + 1, v->run[i].no);
        sq_le64_store(q + 9, v->run[i].count);
    }
    MDB_val k = {strlen(IX_META_RUNS), (void *)(uintptr_t)IX_META_RUNS};
    MDB_val d = {4 + (size_t)v->count * IX_RUN_BYTES, buf};
    return mdb_put(txn, s->idbi_meta, &k, &d, 0);
}

/* Removes table `slot`'s filter (if any). */
static int del_filter(struct ldg_store *s, MDB_txn *txn, unsigned slot)
{
    char key[IX_NAME_BYTES];
    filter_key(key, slot);
    MDB_val k = {strlen(key), key};
    int rc = mdb_del(txn, s->idbi_meta, &k, NULL);
    return rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
}

/* Reserves table `slot`'s filter of `blocks` blocks in the map, zeroed, at *out. */
static int reserve_filter(struct ldg_store *s, MDB_txn *txn, unsigned slot, size_t blocks,
                          uint8_t **out)
{
    char key[IX_NAME_BYTES];
    filter_key(key, slot);
    MDB_val k = {strlen(key), key};
    MDB_val d = {blocks * IX_BLOCK_BYTES, NULL};
    int rc = mdb_put(txn, s->idbi_meta, &k, &d, MDB_RESERVE);
    if (rc == MDB_SUCCESS) {
        memset(d.mv_data, 0, d.mv_size);
        *out = d.mv_data;
    }
    return rc;
}

/* The tables in use, a bit each: the runs of the indexer's list and the outputs of the merges
 * under way. */
static uint64_t slots_used(const struct ldg_store *s)
{
    uint64_t used = 0;
    for (uint32_t i = 0; i < s->iruns.count; i++) {
        used |= UINT64_C(1) << s->iruns.run[i].slot;
    }
    for (uint32_t i = 0; i < s->imerge_count; i++) {
        used |= UINT64_C(1) << s->imerge[i].dest;
    }
    return used;
}

/* A table not in use (there always is one: see LDG_TXINDEX_RUNS_MAX). */
static uint8_t slot_free(const struct ldg_store *s)
{
    uint64_t used = slots_used(s);
    for (uint8_t slot = 0; slot < LDG_TXINDEX_SLOTS; slot++) {
        if ((used >> slot & 1u) == 0) {
            return slot;
        }
    }
    SQ_UNREACHABLE(); /* no free table: LDG_TXINDEX_RUNS_MAX leaves one */
    return 0;
}

/* Appends to list `to` a new run in table `slot` of `count` entries, numbered after every run of
 * the indexer's list. */
static void runs_append(const struct ldg_store *s, struct ldg_ixview *to, uint8_t slot,
                        uint64_t count)
{
    uint64_t no = 0;
    for (uint32_t i = 0; i < s->iruns.count; i++) {
        no = s->iruns.run[i].no >= no ? s->iruns.run[i].no + 1 : no;
    }
    SQ_ASSERT(to->count < LDG_TXINDEX_RUNS_MAX);
    struct ldg_ixrun *r = &to->run[to->count++];
    memset(r, 0, sizeof(*r));
    r->slot = slot;
    r->no = no;
    r->count = count;
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

/* Fills write transaction `txn`: SQ_OK with the LMDB code of the first failed write in *mdb_rc
 * (MDB_SUCCESS if none), or an sq_err of its own (the transaction is then abandoned). It may run
 * again on a new transaction (after the map grew), so it changes nothing outside `txn` but what
 * it may set again. */
typedef int (*fill_fn)(struct ldg_store *s, MDB_txn *txn, void *arg, int *mdb_rc);

#define NEXT_KEEP UINT64_MAX

/* One index write transaction: `fill`'s writes and next = `next` (unless NEXT_KEEP), committed
 * without fsync. A full map (during the writes, or while the commit saves the free list: nothing
 * is written then) grows and the transaction is filled again. */
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
        if (rc == MDB_SUCCESS && next != NEXT_KEEP) {
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

/* ---- a new run ---- */

static int entry_cmp(const void *a, const void *b)
{
    const struct ldg_idset_entry *const *x = a;
    const struct ldg_idset_entry *const *y = b;
    return memcmp((*x)->id, (*y)->id, LDG_HASH_BYTES);
}

struct run_write {
    const struct ldg_idset_entry **order; /* in id order */
    size_t count;
    struct ldg_ixview runs; /* out: the list once committed */
};

/* Writes the entries as a new run: appended in id order, so its pages are written once, full. */
static int fill_run(struct ldg_store *s, MDB_txn *txn, void *arg, int *mdb_rc)
{
    struct run_write *w = arg;
    *mdb_rc = MDB_SUCCESS;
    view_copy(&w->runs, &s->iruns);
    if (w->count == 0) {
        return SQ_OK;
    }
    SQ_ASSERT(s->iruns.count < LDG_TXINDEX_RUNS_MAX);
    uint8_t slot = slot_free(s);
    MDB_dbi dbi = s->idbi_slot[slot];
    for (size_t i = 0; *mdb_rc == MDB_SUCCESS && i < w->count; i++) {
        const struct ldg_idset_entry *x = w->order[i];
        uint8_t v[LDG_TXINDEX_BYTES];
        sq_le64_store(v, x->height);
        sq_le32_store(v + 8, x->index);
        v[12] = x->result;
        MDB_val k = {LDG_HASH_BYTES, (void *)(uintptr_t)x->id};
        MDB_val d = {sizeof(v), v};
        *mdb_rc = mdb_put(txn, dbi, &k, &d, MDB_APPEND);
    }
    if (*mdb_rc == MDB_SUCCESS && w->count <= LDG_TXINDEX_FILTER_IDS_MAX) {
        size_t blocks = filter_blocks_for(w->count);
        uint8_t *f;
        *mdb_rc = reserve_filter(s, txn, slot, blocks, &f);
        for (size_t i = 0; *mdb_rc == MDB_SUCCESS && i < w->count; i++) {
            filter_add(f, blocks, w->order[i]->id);
        }
    }
    if (*mdb_rc == MDB_SUCCESS) {
        runs_append(s, &w->runs, slot, w->count);
        *mdb_rc = put_runs(s, txn, &w->runs);
    }
    return SQ_OK;
}

static int merge_step(struct ldg_store *s, uint32_t chunk);

/* Writes one set as a new run with next = `next`, merging first while the runs are at their
 * limit. Indexer thread (or the opening thread). */
static int flush_set(struct ldg_store *s, const struct ldg_idset *set, uint64_t next)
{
    while (set->count > 0 && s->iruns.count >= LDG_TXINDEX_RUNS_MAX) {
        /* Makes progress: at the limit a merge is always due. */
        int err = merge_step(s, s->ix_merge_chunk);
        if (err != SQ_OK) {
            return err;
        }
    }
    struct run_write *w = calloc(1, sizeof(*w));
    if (w != NULL) {
        w->order = malloc((set->count + 1) * sizeof(*w->order));
    }
    if (w == NULL || w->order == NULL) {
        free(w);
        return ldg_fail(SQ_ENOMEM, "out of memory to write the transaction index");
    }
    for (size_t i = 0; i < set->cap; i++) {
        if (set->slots[i].used) {
            w->order[w->count++] = &set->slots[i];
        }
    }
    SQ_ASSERT(w->count == set->count);
    qsort(w->order, w->count, sizeof(*w->order), entry_cmp);
    int err = write_txn(s, fill_run, w, next);
    if (err == SQ_OK) {
        view_copy(&s->iruns, &w->runs);
    }
    free(w->order);
    free(w);
    return err;
}

/* ---- merges ----
 * Size-tiered: a run's class is floor(log_FANIN(entries)); once FANIN runs share a class they are
 * merged into one of the next class, so an id is rewritten about log_FANIN(ids / batch) times,
 * always sequentially, and the runs stay few. The output is written in chunks of
 * LDG_TXINDEX_MERGE_CHUNK entries, each its own write transaction, into a table no snapshot lists
 * until the last one swaps it for the inputs. */

static unsigned size_class(uint64_t count)
{
    unsigned c = 0;
    while (count >= LDG_TXINDEX_FANIN) {
        count /= LDG_TXINDEX_FANIN;
        c++;
    }
    return c;
}

/* Is run i of the indexer's list an input of a merge under way? */
static bool run_merging(const struct ldg_store *s, uint32_t i)
{
    for (uint32_t k = 0; k < s->imerge_count; k++) {
        for (uint32_t j = 0; j < s->imerge[k].src_count; j++) {
            if (s->imerge[k].src[j].slot == s->iruns.run[i].slot) {
                return true;
            }
        }
    }
    return false;
}

/* Chooses a new merge (indices into iruns, in list order), if one should start: FANIN runs of the
 * smallest class that has them, if that class is below the merge under way (a long merge of large
 * runs must not hold back the small ones, or the runs would pile up behind it); else, when the runs
 * near their limit, the FANIN smallest. Runs already being merged are not chosen again. */
static bool merge_choose(const struct ldg_store *s, uint32_t pick[LDG_TXINDEX_FANIN], unsigned *cls)
{
    const struct ldg_ixview *v = &s->iruns;
    if (s->imerge_count == LDG_TXINDEX_MERGES_MAX) {
        return false;
    }
    bool busy[LDG_TXINDEX_RUNS_MAX];
    unsigned rc[LDG_TXINDEX_RUNS_MAX];
    uint32_t free_count = 0;
    for (uint32_t i = 0; i < v->count; i++) {
        busy[i] = run_merging(s, i);
        rc[i] = size_class(v->run[i].count);
        free_count += busy[i] ? 0u : 1u;
    }
    if (free_count < LDG_TXINDEX_FANIN) {
        return false;
    }
    unsigned best = UINT32_MAX;
    for (uint32_t i = 0; i < v->count; i++) {
        uint32_t same = 0;
        for (uint32_t j = 0; j < v->count; j++) {
            same += !busy[j] && rc[j] == rc[i] ? 1u : 0u;
        }
        if (!busy[i] && same >= LDG_TXINDEX_FANIN && rc[i] < best) {
            best = rc[i];
        }
    }
    uint32_t n = 0;
    unsigned top = s->imerge_count > 0 ? s->imerge[s->imerge_count - 1].size_class : UINT32_MAX;
    if (best != UINT32_MAX && best < top) {
        for (uint32_t i = 0; i < v->count && n < LDG_TXINDEX_FANIN; i++) {
            if (!busy[i] && rc[i] == best) {
                pick[n++] = i;
            }
        }
        *cls = best;
        return true;
    }
    if (v->count + LDG_TXINDEX_FANIN <= LDG_TXINDEX_RUNS_MAX) {
        return false;
    }
    /* The FANIN smallest free runs: selection, the list is short. */
    *cls = 0;
    for (; n < LDG_TXINDEX_FANIN; n++) {
        uint32_t min = UINT32_MAX;
        for (uint32_t i = 0; i < v->count; i++) {
            if (!busy[i] && (min == UINT32_MAX || v->run[i].count < v->run[min].count)) {
                min = i;
            }
        }
        busy[min] = true;
        pick[n] = min;
        *cls = rc[min] > *cls ? rc[min] : *cls;
    }
    return true;
}

static bool merge_pending(const struct ldg_store *s)
{
    uint32_t pick[LDG_TXINDEX_FANIN];
    unsigned cls;
    return s->imerge_count > 0 || merge_choose(s, pick, &cls);
}

/* The merge being written: the top of the stack. */
static struct ldg_ixmerge *merge_top(struct ldg_store *s)
{
    SQ_ASSERT(s->imerge_count > 0);
    return &s->imerge[s->imerge_count - 1];
}

struct merge_chunk {
    uint32_t max; /* entries to write at most */
    uint8_t last[LDG_HASH_BYTES];
    uint64_t written;
    bool done;
    struct ldg_ixview runs; /* out, when done: the list once committed */
};

/* The inputs' cursors, each at its first entry after the merge's resume point (live[i] false: input
 * i has no more). The LMDB code of the first failure, or MDB_SUCCESS. */
static int merge_cursors(struct ldg_store *s, MDB_txn *txn, MDB_cursor **cur, MDB_val *key,
                         MDB_val *val, bool *live)
{
    const struct ldg_ixmerge *m = merge_top(s);
    for (uint32_t i = 0; i < m->src_count; i++) {
        live[i] = false;
    }
    for (uint32_t i = 0; i < m->src_count; i++) {
        int rc = mdb_cursor_open(txn, s->idbi_slot[m->src[i].slot], &cur[i]);
        if (rc != MDB_SUCCESS) {
            cur[i] = NULL;
            return rc;
        }
        if (m->started) {
            key[i].mv_size = LDG_HASH_BYTES;
            key[i].mv_data = (void *)(uintptr_t)m->resume;
            rc = mdb_cursor_get(cur[i], &key[i], &val[i], MDB_SET_RANGE);
            if (rc == MDB_SUCCESS && key[i].mv_size == LDG_HASH_BYTES &&
                memcmp(key[i].mv_data, m->resume, LDG_HASH_BYTES) == 0) {
                rc = mdb_cursor_get(cur[i], &key[i], &val[i], MDB_NEXT);
            }
        } else {
            rc = mdb_cursor_get(cur[i], &key[i], &val[i], MDB_FIRST);
        }
        if (rc == MDB_SUCCESS) {
            live[i] = true;
        } else if (rc != MDB_NOTFOUND) {
            return rc;
        }
    }
    return MDB_SUCCESS;
}

/* Takes the inputs from the merge's entries out of the list and puts its output in. The LMDB code
 * of the first failed write, or MDB_SUCCESS. */
static int merge_swap(struct ldg_store *s, MDB_txn *txn, struct merge_chunk *c)
{
    const struct ldg_ixmerge *m = merge_top(s);
    c->runs.txnid = s->iruns.txnid;
    c->runs.map_size = s->iruns.map_size;
    c->runs.count = 0;
    for (uint32_t i = 0; i < s->iruns.count; i++) {
        bool input = false;
        for (uint32_t j = 0; j < m->src_count; j++) {
            input = input || s->iruns.run[i].slot == m->src[j].slot;
        }
        if (!input) {
            c->runs.run[c->runs.count++] = s->iruns.run[i];
        }
    }
    runs_append(s, &c->runs, m->dest, m->written + c->written);
    int rc = MDB_SUCCESS;
    if (m->filter != NULL) {
        uint8_t *f;
        rc = reserve_filter(s, txn, m->dest, m->filter_blocks, &f);
        if (rc == MDB_SUCCESS) {
            memcpy(f, m->filter, m->filter_blocks * IX_BLOCK_BYTES);
        }
    }
    /* Empty the inputs' tables (older snapshots still see them) for later runs. */
    for (uint32_t j = 0; rc == MDB_SUCCESS && j < m->src_count; j++) {
        rc = mdb_drop(txn, s->idbi_slot[m->src[j].slot], 0);
        if (rc == MDB_SUCCESS) {
            rc = del_filter(s, txn, m->src[j].slot);
        }
    }
    if (rc == MDB_SUCCESS) {
        rc = put_runs(s, txn, &c->runs);
    }
    return rc;
}

/* Writes the merge's next chunk; the last one also swaps the runs. */
static int fill_merge(struct ldg_store *s, MDB_txn *txn, void *arg, int *mdb_rc)
{
    struct merge_chunk *c = arg;
    const struct ldg_ixmerge *m = merge_top(s);
    MDB_cursor *cur[LDG_TXINDEX_FANIN] = {NULL};
    MDB_val key[LDG_TXINDEX_FANIN];
    MDB_val val[LDG_TXINDEX_FANIN];
    bool live[LDG_TXINDEX_FANIN];
    c->written = 0;
    c->done = false;
    *mdb_rc = MDB_SUCCESS;
    int err = SQ_OK;
    *mdb_rc = merge_cursors(s, txn, cur, key, val, live);
    MDB_dbi dest = s->idbi_slot[m->dest];
    while (err == SQ_OK && *mdb_rc == MDB_SUCCESS && c->written < c->max) {
        int min = -1;
        for (uint32_t i = 0; i < m->src_count; i++) {
            if (!live[i]) {
                continue;
            }
            if (key[i].mv_size != LDG_HASH_BYTES || val[i].mv_size != LDG_TXINDEX_BYTES) {
                err = ldg_fail(SQ_ECORRUPT, "transaction index entry of %zu/%zu bytes",
                               key[i].mv_size, val[i].mv_size);
                break;
            }
            int d = min < 0 ? -1 : memcmp(key[i].mv_data, key[min].mv_data, LDG_HASH_BYTES);
            if (d == 0) {
                err = ldg_fail(SQ_ECORRUPT, "transaction index: an id is claimed twice");
                break;
            }
            min = d < 0 ? (int)i : min;
        }
        if (err != SQ_OK) {
            break;
        }
        if (min < 0) {
            c->done = true;
            break;
        }
        *mdb_rc = mdb_put(txn, dest, &key[min], &val[min], MDB_APPEND);
        if (*mdb_rc != MDB_SUCCESS) {
            break;
        }
        if (m->filter != NULL) {
            filter_add(m->filter, m->filter_blocks, key[min].mv_data); /* idempotent on a retry */
        }
        memcpy(c->last, key[min].mv_data, LDG_HASH_BYTES);
        c->written++;
        int rc = mdb_cursor_get(cur[min], &key[min], &val[min], MDB_NEXT);
        if (rc == MDB_NOTFOUND) {
            live[min] = false;
        } else if (rc != MDB_SUCCESS) {
            *mdb_rc = rc;
        }
    }
    for (uint32_t i = 0; i < m->src_count; i++) {
        if (cur[i] != NULL) {
            mdb_cursor_close(cur[i]);
        }
    }
    if (err == SQ_OK && *mdb_rc == MDB_SUCCESS && !c->done) {
        /* A full chunk may have ended the inputs: look once more, so a merge ends in its last
         * chunk rather than an empty one. */
        bool any = false;
        for (uint32_t i = 0; i < m->src_count; i++) {
            any = any || live[i];
        }
        c->done = !any;
    }
    if (err == SQ_OK && *mdb_rc == MDB_SUCCESS && c->done) {
        *mdb_rc = merge_swap(s, txn, c);
    }
    return err;
}

/* Drops the top merge (finished, or abandoned with the rest). */
static void merge_pop(struct ldg_store *s)
{
    struct ldg_ixmerge *m = merge_top(s);
    free(m->filter);
    memset(m, 0, sizeof(*m));
    s->imerge_count--;
}

static void merge_reset(struct ldg_store *s)
{
    while (s->imerge_count > 0) {
        merge_pop(s);
    }
}

/* Starts the merge merge_choose picks, if any, on top of the stack. */
static int merge_begin(struct ldg_store *s, bool *begun)
{
    uint32_t pick[LDG_TXINDEX_FANIN];
    unsigned cls;
    *begun = merge_choose(s, pick, &cls);
    if (!*begun) {
        return SQ_OK;
    }
    uint8_t dest = slot_free(s);
    struct ldg_ixmerge *m = &s->imerge[s->imerge_count];
    memset(m, 0, sizeof(*m));
    uint64_t total = 0;
    for (uint32_t i = 0; i < LDG_TXINDEX_FANIN; i++) {
        m->src[i] = s->iruns.run[pick[i]];
        total += m->src[i].count;
    }
    m->src_count = LDG_TXINDEX_FANIN;
    m->size_class = cls;
    m->dest = dest;
    if (total <= LDG_TXINDEX_FILTER_IDS_MAX) {
        m->filter_blocks = filter_blocks_for(total);
        m->filter = calloc(m->filter_blocks, IX_BLOCK_BYTES);
        if (m->filter == NULL) {
            memset(m, 0, sizeof(*m));
            return ldg_fail(SQ_ENOMEM, "out of memory for a transaction index filter");
        }
    }
    s->imerge_count++;
    return SQ_OK;
}

/* One step of merging: a chunk of at most `chunk` entries of the top merge, after starting a new
 * one if one is due. Indexer thread (or the opening thread). */
static int merge_step(struct ldg_store *s, uint32_t chunk)
{
    SQ_ASSERT(chunk > 0);
    bool begun;
    int err = merge_begin(s, &begun);
    if (err != SQ_OK || s->imerge_count == 0) {
        return err;
    }
    struct merge_chunk *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory to merge the transaction index");
    }
    c->max = chunk;
    err = write_txn(s, fill_merge, c, NEXT_KEEP);
    if (err == SQ_OK) {
        struct ldg_ixmerge *m = merge_top(s);
        m->written += c->written;
        memcpy(m->resume, c->last, LDG_HASH_BYTES);
        m->started = m->started || c->written > 0;
        if (c->done) {
            view_copy(&s->iruns, &c->runs);
            merge_pop(s);
        }
    }
    free(c);
    return err;
}

/* Merges until nothing is left to merge. */
static int merge_all(struct ldg_store *s)
{
    int err = SQ_OK;
    while (err == SQ_OK && merge_pending(s)) {
        err = merge_step(s, s->ix_merge_chunk);
    }
    return err;
}

/* ---- the write-back cache and its indexer thread ---- */

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

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
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
        while (!x->stop && x->error == SQ_OK && x->sets[x->active].count < s->ix_batch_ids) {
            if (merge_pending(s)) {
                /* Merge a chunk at a time between batches (only this thread touches the runs),
                 * paced while the runs are few (LDG_TXINDEX_MERGE_PACED_CHUNK). */
                bool paced = s->iruns.count < LDG_TXINDEX_MERGE_PACE_RUNS;
                uint32_t chunk = s->ix_merge_chunk;
                if (paced && chunk > LDG_TXINDEX_MERGE_PACED_CHUNK) {
                    chunk = LDG_TXINDEX_MERGE_PACED_CHUNK;
                }
                pthread_mutex_unlock(&x->lock);
                int err = merge_step(s, chunk);
                pthread_mutex_lock(&x->lock);
                if (err != SQ_OK) {
                    SQ_ERROR("ledger", "transaction index merge failed", "reason=\"%s\"",
                             ldg_errmsg());
                    x->error = err;
                    pthread_cond_broadcast(&x->cv);
                    break;
                }
                struct timespec now;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (!ts_before(&now, &deadline)) {
                    break;
                }
                if (paced) {
                    /* A pause, cut short by a full batch or a stop (they signal the cv). */
                    struct timespec pause;
                    deadline_after_ms(&pause, LDG_TXINDEX_MERGE_PACE_MS);
                    (void)pthread_cond_timedwait(&x->cv, &x->lock,
                                                 ts_before(&pause, &deadline) ? &pause : &deadline);
                }
                continue;
            }
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
           x->sets[x->active].count >= 4 * (size_t)s->ix_batch_ids) {
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
        if (set->count >= s->ix_batch_ids) {
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

/* Adds the ids that stored block `h` claims (every transaction but a duplicate or a forgery, as
 * apply.c decides) to `set`. */
static int block_ids(struct ldg_store *s, MDB_txn *btxn, uint64_t h, struct ldg_idset *set)
{
    struct ldg_header hdr;
    int err = ldg_read_header(s, btxn, h, &hdr, NULL, NULL, NULL);
    if (err != SQ_OK) {
        return err;
    }
    if (hdr.kind != LDG_BLOCK_BATCH) {
        return SQ_OK;
    }
    const uint8_t *body;
    size_t body_size;
    uint32_t count = 0;
    const uint8_t *txs = NULL;
    size_t txs_size = 0;
    const uint8_t *results = NULL;
    err = ldg_read_body(s, btxn, h, &body, &body_size);
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
    for (uint32_t i = 0; err == SQ_OK && ldg_tx_iter_next(&it, &raw); i++) {
        uint8_t res = results[i];
        if (res == LDG_RESULT_DUPLICATE || res == LDG_RESULT_BAD_SIGNATURE) {
            continue;
        }
        uint8_t id[LDG_HASH_BYTES];
        ldg_tx_id(raw.data, raw.size, id);
        if (ldg_idset_find(set, id) != NULL) {
            return ldg_fail(SQ_ECORRUPT,
                            "rebuild the transaction index: block %llu claims an "
                            "id claimed before",
                            (unsigned long long)h);
        }
        err = ldg_idset_insert(set, id, h, i, res);
    }
    return err;
}

/* Brings the index up to the store's tip from the stored blocks: runs of up to a batch of ids,
 * merged as they come. */
static int catch_up(struct ldg_store *s)
{
    uint64_t tip = s->height;
    if (s->ix_next > tip) {
        return SQ_OK;
    }
    uint64_t from = s->ix_next;
    struct ldg_idset set;
    int rc = ldg_idset_init(&set, LDG_TXINDEX_FLUSH_IDS);
    if (rc != SQ_OK) {
        return rc;
    }
    MDB_txn *btxn;
    rc = ldg_rtxn_begin(s, &btxn);
    for (uint64_t h = from; rc == SQ_OK && h <= tip; h++) {
        rc = block_ids(s, btxn, h, &set);
        if (rc == SQ_OK && (set.count >= s->ix_batch_ids || h == tip)) {
            rc = flush_set(s, &set, h + 1);
            if (rc == SQ_OK) {
                s->ix_next = h + 1;
                ldg_idset_clear(&set);
                /* A few steps of merging per run, interleaved as the indexer does. */
                for (int i = 0; rc == SQ_OK && i < CATCH_UP_MERGE_STEPS && merge_pending(s); i++) {
                    rc = merge_step(s, s->ix_merge_chunk);
                }
            }
        }
    }
    if (rc == SQ_OK) {
        rc = merge_all(s);
    }
    if (btxn != NULL) {
        ldg_rtxn_end(s, btxn);
    }
    ldg_idset_free(&set);
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
    mdb_env_set_maxdbs(s->ienv, LDG_TXINDEX_SLOTS + 2);
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
    /* Every table at once: handles are opened before any other transaction, and a reader of an
     * index of another format finds them missing. */
    for (unsigned slot = 0; rc == MDB_SUCCESS && slot < LDG_TXINDEX_SLOTS; slot++) {
        char name[IX_NAME_BYTES];
        slot_name(name, slot);
        rc = mdb_dbi_open(txn, name, create, &s->idbi_slot[slot]);
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
    view_forget(s);
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
            s->iruns.count = 0;
            rc = put_runs(s, txn, &s->iruns);
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
    *ok = *ok && view_read(s, txn, false, &s->iruns) == SQ_OK;
    s->ix_next = next;
    mdb_txn_abort(txn);
    return SQ_OK;
}

static int fill_clean(struct ldg_store *s, MDB_txn *txn, void *arg, int *mdb_rc)
{
    uint64_t *emptied = arg;
    *emptied = 0;
    *mdb_rc = MDB_SUCCESS;
    uint64_t used = slots_used(s); /* at open: no merge is under way */
    for (unsigned slot = 0; *mdb_rc == MDB_SUCCESS && slot < LDG_TXINDEX_SLOTS; slot++) {
        if ((used >> slot & 1u) != 0) {
            continue;
        }
        MDB_stat st;
        *mdb_rc = mdb_stat(txn, s->idbi_slot[slot], &st);
        if (*mdb_rc == MDB_SUCCESS && st.ms_entries > 0) {
            *emptied += st.ms_entries;
            *mdb_rc = mdb_drop(txn, s->idbi_slot[slot], 0);
        }
        if (*mdb_rc == MDB_SUCCESS) {
            *mdb_rc = del_filter(s, txn, slot);
        }
    }
    return SQ_OK;
}

/* Empties the tables no run uses: what a merge cut short by a crash had written. */
static int clean_slots(struct ldg_store *s)
{
    uint64_t emptied = 0;
    int rc = write_txn(s, fill_clean, &emptied, NEXT_KEEP);
    if (rc == SQ_OK && emptied > 0) {
        SQ_INFO("ledger", "transaction index: unfinished merge removed", "entries=%llu",
                (unsigned long long)emptied);
    }
    return rc;
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
                            : "it belongs to another genesis or format, is ahead of the store, or "
                              "lists its runs wrongly");
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
        rc = clean_slots(s);
    }
    if (rc == SQ_OK) {
        rc = catch_up(s);
    }
    if (rc == SQ_OK) {
        rc = cache_start(s);
    }
    if (rc != SQ_OK) {
        merge_reset(s);
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
    merge_reset(s); /* an unfinished merge is cleaned up at the next open */
    view_forget(s);
    mdb_env_close(s->ienv);
    s->ienv = NULL;
}
