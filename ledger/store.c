/* The LMDB store: environment, tables, group commit, map growth, committed reads. */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/log.h"
#include "ledger/ledger_int.h"

#define MAP_SIZE_DEFAULT (UINT64_C(1) << 30)
#define MAP_SIZE_MAX_DEFAULT (UINT64_C(16) << 40)
#define ACCOUNT_CACHE_KEEP (1u << 18)

static const char *const db_names_[LDG_DB_COUNT_] = {
    [LDG_DB_META] = "meta",         [LDG_DB_HEADERS] = "headers",       [LDG_DB_BODIES] = "bodies",
    [LDG_DB_ACCOUNTS] = "accounts", [LDG_DB_VALIDATORS] = "validators", [LDG_DB_VIEWS] = "views",
    [LDG_DB_CERTS] = "certs",       [LDG_DB_MNODES] = "mnodes",
};

int ldg_mdb_err(int rc, const char *what)
{
    switch (rc) {
    case MDB_SUCCESS:
        return SQ_OK;
    case MDB_NOTFOUND:
        return ldg_fail(SQ_ENOTFOUND, "%s: not found", what);
    case MDB_MAP_FULL:
        return ldg_fail(SQ_ENOSPC, "%s: LMDB map full", what);
    case ENOSPC:
        return ldg_fail(SQ_ENOSPC, "%s: no space left on the device (disk full)", what);
    case EDQUOT:
        return ldg_fail(SQ_ENOSPC, "%s: disk quota exceeded", what);
    case EFBIG:
        return ldg_fail(SQ_ENOSPC, "%s: file size limit reached", what);
    case ENOMEM:
        return ldg_fail(SQ_ENOMEM, "%s: out of memory", what);
    case ENOENT:
        return ldg_fail(SQ_ENOTFOUND, "%s: no such file (no store here?)", what);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        return ldg_fail(SQ_ECORRUPT, "%s: %s", what, mdb_strerror(rc));
    case MDB_VERSION_MISMATCH:
        return ldg_fail(SQ_EVERSION, "%s: %s", what, mdb_strerror(rc));
    default:
        return ldg_fail(SQ_EIO, "%s: %s", what, mdb_strerror(rc));
    }
}

/* ---- read transactions and the resize lock ---- */

int ldg_env_rtxn_begin(MDB_env *env, pthread_rwlock_t *lock, uint64_t *map_size, const char *what,
                       MDB_txn **txn)
{
    for (int attempt = 0;; attempt++) {
        int e = pthread_rwlock_rdlock(lock);
        SQ_ASSERT(e == 0);
        int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, txn);
        if (rc == MDB_SUCCESS) {
            return SQ_OK;
        }
        pthread_rwlock_unlock(lock);
        *txn = NULL;
        if (rc != MDB_MAP_RESIZED || attempt > 8) {
            return ldg_mdb_err(rc, what);
        }
        /* Another process grew the map: adopt its size (no transaction of ours is active while
         * we hold the lock for writing). */
        e = pthread_rwlock_wrlock(lock);
        SQ_ASSERT(e == 0);
        rc = mdb_env_set_mapsize(env, 0);
        MDB_envinfo info;
        if (rc == MDB_SUCCESS && mdb_env_info(env, &info) == MDB_SUCCESS) {
            __atomic_store_n(map_size, (uint64_t)info.me_mapsize, __ATOMIC_RELAXED);
        }
        pthread_rwlock_unlock(lock);
        if (rc != MDB_SUCCESS) {
            return ldg_mdb_err(rc, "adopt the grown map size");
        }
    }
}

int ldg_rtxn_begin(struct ldg_store *s, MDB_txn **txn)
{
    return ldg_env_rtxn_begin(s->env, &s->resize_lock, &s->map_size, "begin read transaction", txn);
}

void ldg_rtxn_end(struct ldg_store *s, MDB_txn *txn)
{
    if (txn != NULL) {
        mdb_txn_abort(txn);
        pthread_rwlock_unlock(&s->resize_lock);
    }
}

int ldg_apply_rtxn(struct ldg_store *s, MDB_txn **txn)
{
    if (s->rtxn == NULL) {
        int rc = ldg_rtxn_begin(s, &s->rtxn);
        if (rc != SQ_OK) {
            return rc;
        }
    }
    *txn = s->rtxn;
    return SQ_OK;
}

void ldg_apply_rtxn_end(struct ldg_store *s)
{
    ldg_rtxn_end(s, s->rtxn);
    s->rtxn = NULL;
}

int ldg_db_get(struct ldg_store *s, MDB_txn *txn, enum ldg_db db, const void *key, size_t key_size,
               const uint8_t **val, size_t *val_size)
{
    MDB_val k = {key_size, (void *)(uintptr_t)key};
    MDB_val v;
    *val = NULL;
    *val_size = 0;
    int rc = mdb_get(txn, s->dbi[db], &k, &v);
    if (rc == MDB_NOTFOUND) {
        return SQ_ENOTFOUND;
    }
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, db_names_[db]);
    }
    *val = v.mv_data;
    *val_size = v.mv_size;
    return SQ_OK;
}

/* ---- committed reads ---- */

int ldg_read_header(struct ldg_store *s, MDB_txn *txn, uint64_t height, struct ldg_header *hdr,
                    uint8_t hash[LDG_HASH_BYTES], const uint8_t **raw, size_t *raw_size)
{
    uint8_t key[8];
    ldg_be64_store(key, height);
    const uint8_t *v;
    size_t n;
    int rc = ldg_db_get(s, txn, LDG_DB_HEADERS, key, 8, &v, &n);
    if (rc == SQ_ENOTFOUND) {
        return ldg_fail(SQ_ENOTFOUND, "no block at height %llu", (unsigned long long)height);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    if (hdr != NULL) {
        rc = ldg_header_decode(v, n, hdr);
        if (rc != SQ_OK) {
            return ldg_fail_prefix(SQ_ECORRUPT, "stored header %llu", (unsigned long long)height);
        }
        if (hdr->height != height) {
            return ldg_fail(SQ_ECORRUPT, "stored header %llu says height %llu",
                            (unsigned long long)height, (unsigned long long)hdr->height);
        }
    }
    if (hash != NULL) {
        sqc_sha256(hash, v, n);
    }
    if (raw != NULL) {
        *raw = v;
        *raw_size = n;
    }
    return SQ_OK;
}

int ldg_read_body(struct ldg_store *s, MDB_txn *txn, uint64_t height, const uint8_t **body,
                  size_t *size)
{
    uint8_t key[8];
    ldg_be64_store(key, height);
    int rc = ldg_db_get(s, txn, LDG_DB_BODIES, key, 8, body, size);
    if (rc == SQ_ENOTFOUND) {
        return ldg_fail(SQ_ECORRUPT, "no body for block %llu", (unsigned long long)height);
    }
    return rc;
}

int ldg_read_view(struct ldg_store *s, MDB_txn *txn, uint64_t view_id, struct ldg_view *view,
                  uint64_t *height)
{
    uint8_t key[8];
    ldg_be64_store(key, view_id);
    const uint8_t *v;
    size_t n;
    int rc = ldg_db_get(s, txn, LDG_DB_VIEWS, key, 8, &v, &n);
    if (rc == SQ_ENOTFOUND) {
        return ldg_fail(SQ_ENOTFOUND, "view %llu was never installed", (unsigned long long)view_id);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    if (n != 8) {
        return ldg_fail(SQ_ECORRUPT, "views entry %llu has %zu bytes", (unsigned long long)view_id,
                        n);
    }
    uint64_t h = sq_le64_load(v);
    const uint8_t *body;
    size_t body_size;
    rc = ldg_read_body(s, txn, h, &body, &body_size);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_view_decode(body, body_size, view);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(SQ_ECORRUPT, "view record at height %llu", (unsigned long long)h);
    }
    if (view->view_id != view_id) {
        return ldg_fail(SQ_ECORRUPT, "views entry %llu points at the record of view %llu",
                        (unsigned long long)view_id, (unsigned long long)view->view_id);
    }
    if (height != NULL) {
        *height = h;
    }
    return SQ_OK;
}

struct node_src {
    struct ldg_store *s;
    MDB_txn *txn;
};

static int node_from_db(void *arg, uint8_t level, uint64_t index, uint8_t out[LDG_HASH_BYTES])
{
    struct node_src *src = arg;
    uint8_t key[9];
    ldg_mnode_key(key, level, index);
    const uint8_t *v;
    size_t n;
    int rc = ldg_db_get(src->s, src->txn, LDG_DB_MNODES, key, 9, &v, &n);
    if (rc == SQ_ENOTFOUND || (rc == SQ_OK && n != LDG_HASH_BYTES)) {
        return ldg_fail(SQ_ECORRUPT, "accumulator node (level %u, index %llu) missing or bad",
                        level, (unsigned long long)index);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    memcpy(out, v, LDG_HASH_BYTES);
    return SQ_OK;
}

int ldg_txn_acc_root(struct ldg_store *s, MDB_txn *txn, uint64_t size, uint8_t root[LDG_HASH_BYTES])
{
    if (size == 0) {
        ldg_empty_root(root);
        return SQ_OK;
    }
    struct node_src src = {s, txn};
    return ldg_merkle_subtree(node_from_db, &src, 0, size, root);
}

int ldg_txn_acc_inclusion(struct ldg_store *s, MDB_txn *txn, uint64_t index, uint64_t size,
                          uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    struct node_src src = {s, txn};
    return ldg_merkle_inclusion(node_from_db, &src, index, size, path, count);
}

static int check_size(struct ldg_store *s, uint64_t size)
{
    uint64_t have = ldg_store_persisted_height(s) + 1;
    if (size > have) {
        return ldg_fail(SQ_EINVAL, "a tree of %llu blocks: only %llu are durable",
                        (unsigned long long)size, (unsigned long long)have);
    }
    return SQ_OK;
}

int ldg_acc_root(struct ldg_store *s, uint64_t size, uint8_t root[LDG_HASH_BYTES])
{
    int rc = check_size(s, size);
    if (rc != SQ_OK) {
        return rc;
    }
    MDB_txn *txn;
    rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_txn_acc_root(s, txn, size, root);
    ldg_rtxn_end(s, txn);
    return rc;
}

int ldg_acc_inclusion_proof(struct ldg_store *s, uint64_t height, uint64_t size,
                            uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    *count = 0;
    int rc = check_size(s, size);
    if (rc != SQ_OK) {
        return rc;
    }
    MDB_txn *txn;
    rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_txn_acc_inclusion(s, txn, height, size, path, count);
    ldg_rtxn_end(s, txn);
    return rc;
}

int ldg_acc_consistency_proof(struct ldg_store *s, uint64_t old_size, uint64_t new_size,
                              uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    *count = 0;
    int rc = check_size(s, new_size);
    if (rc != SQ_OK) {
        return rc;
    }
    MDB_txn *txn;
    rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    struct node_src src = {s, txn};
    rc = ldg_merkle_consistency(node_from_db, &src, old_size, new_size, path, count);
    ldg_rtxn_end(s, txn);
    return rc;
}

int ldg_header_get(struct ldg_store *s, uint64_t height, struct ldg_header *hdr,
                   uint8_t hash[LDG_HASH_BYTES])
{
    if (height > ldg_store_persisted_height(s)) {
        return ldg_fail(SQ_ENOTFOUND, "block %llu is not durable yet", (unsigned long long)height);
    }
    MDB_txn *txn;
    int rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_read_header(s, txn, height, hdr, hash, NULL, NULL);
    ldg_rtxn_end(s, txn);
    return rc;
}

int ldg_block_get(struct ldg_store *s, uint64_t height, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    if (height > ldg_store_persisted_height(s)) {
        return ldg_fail(SQ_ENOTFOUND, "block %llu is not durable yet", (unsigned long long)height);
    }
    MDB_txn *txn;
    int rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    const uint8_t *h;
    size_t hs;
    struct ldg_bytes hb;
    struct ldg_bytes bb;
    rc = ldg_read_header(s, txn, height, NULL, NULL, &h, &hs);
    if (rc == SQ_OK) {
        hb = (struct ldg_bytes){h, hs};
        rc = ldg_read_body(s, txn, height, &bb.data, &bb.size);
    }
    if (rc == SQ_OK) {
        size_t cap = hb.size + bb.size + 8;
        *out = malloc(cap);
        if (*out == NULL) {
            rc = ldg_fail(SQ_ENOMEM, "out of memory for block %llu", (unsigned long long)height);
        } else {
            rc = ldg_block_encode(&hb, &bb, *out, cap, size);
            SQ_ASSERT(rc == SQ_OK);
        }
    }
    ldg_rtxn_end(s, txn);
    return rc;
}

int ldg_tx_find(struct ldg_store *s, const uint8_t txid[LDG_HASH_BYTES], uint64_t *height,
                uint32_t *index, uint8_t *result)
{
    int rc = ldg_txindex_lookup(s, txid, height, index, result);
    if (rc == SQ_ENOTFOUND) {
        rc = ldg_fail(SQ_ENOTFOUND, "transaction not in the chain");
    }
    return rc;
}

int ldg_account_get(struct ldg_store *s, const uint8_t pk[SQC_PK_BYTES], struct ldg_account *acct)
{
    memset(acct, 0, sizeof(*acct));
    MDB_txn *txn;
    int rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    const uint8_t *v;
    size_t n;
    rc = ldg_db_get(s, txn, LDG_DB_ACCOUNTS, pk, SQC_PK_BYTES, &v, &n);
    if (rc == SQ_OK) {
        struct ldg_acct a;
        rc = ldg_acct_record_decode(v, n, &a);
        if (rc == SQ_OK) {
            acct->balance = a.balance;
            acct->nonce = a.nonce;
            acct->client = (a.flags & LDG_ACCT_CLIENT) != 0;
        }
    } else if (rc == SQ_ENOTFOUND) {
        rc = SQ_OK;
    }
    ldg_rtxn_end(s, txn);
    return rc;
}

int ldg_view_get(struct ldg_store *s, uint64_t view_id, struct ldg_view *view, uint64_t *height)
{
    MDB_txn *txn;
    int rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_read_view(s, txn, view_id, view, height);
    ldg_rtxn_end(s, txn);
    return rc;
}

/* The leaf hashes of a body's transactions (n * 32 bytes, malloc'd). */
static int body_leaves(const uint8_t *txs, size_t txs_size, uint32_t count,
                       uint8_t (**out)[LDG_HASH_BYTES])
{
    *out = malloc((size_t)(count ? count : 1) * LDG_HASH_BYTES);
    if (*out == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    struct ldg_tx_iter it;
    struct ldg_bytes tx;
    ldg_tx_iter_init(&it, txs, txs_size, count);
    for (uint32_t i = 0; ldg_tx_iter_next(&it, &tx); i++) {
        sqc_merkle_leaf_hash((*out)[i], tx.data, tx.size);
    }
    return SQ_OK;
}

int ldg_tx_proof_build(struct ldg_store *s, const uint8_t txid[LDG_HASH_BYTES], uint64_t acc_size,
                       struct ldg_tx_proof *proof)
{
    memset(proof, 0, sizeof(*proof));
    uint64_t height;
    uint32_t index;
    uint8_t result;
    int rc = ldg_tx_find(s, txid, &height, &index, &result);
    if (rc != SQ_OK) {
        return rc;
    }
    if (height >= acc_size) {
        return ldg_fail(SQ_EINVAL, "transaction in block %llu is not in a tree of %llu blocks",
                        (unsigned long long)height, (unsigned long long)acc_size);
    }
    rc = check_size(s, acc_size);
    if (rc != SQ_OK) {
        return rc;
    }
    MDB_txn *txn;
    rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    const uint8_t *body;
    size_t body_size;
    uint32_t count;
    const uint8_t *txs;
    size_t txs_size;
    const uint8_t *results;
    uint8_t(*leaves)[LDG_HASH_BYTES] = NULL;
    rc = ldg_read_header(s, txn, height, &proof->hdr, NULL, NULL, NULL);
    if (rc == SQ_OK) {
        rc = ldg_read_body(s, txn, height, &body, &body_size);
    }
    if (rc == SQ_OK) {
        rc = ldg_body_decode(body, body_size, &count, &txs, &txs_size, &results);
    }
    if (rc == SQ_OK && index >= count) {
        rc = ldg_fail(SQ_ECORRUPT, "tx index points past block %llu", (unsigned long long)height);
    }
    if (rc == SQ_OK) {
        rc = body_leaves(txs, txs_size, count, &leaves);
    }
    if (rc == SQ_OK) {
        rc = sqc_merkle_inclusion_proof(index, count, sqc_merkle_leaf_from_array, leaves,
                                        proof->tx_path, &proof->tx_path_count);
    }
    if (rc == SQ_OK) {
        rc = ldg_txn_acc_inclusion(s, txn, height, acc_size, proof->acc_path,
                                   &proof->acc_path_count);
    }
    free(leaves);
    ldg_rtxn_end(s, txn);
    proof->index = index;
    proof->acc_size = acc_size;
    return rc;
}

int ldg_tx_proof_verify(const struct ldg_tx_proof *proof, const uint8_t *tx, size_t tx_size,
                        const uint8_t acc_root[LDG_HASH_BYTES])
{
    uint8_t leaf[LDG_HASH_BYTES];
    sqc_merkle_leaf_hash(leaf, tx, tx_size);
    if (sqc_merkle_inclusion_verify(leaf, proof->index, proof->hdr.tx_count, proof->tx_path,
                                    proof->tx_path_count, proof->hdr.tx_root) != SQ_OK) {
        return ldg_fail(SQ_EPROOF, "the transaction is not in the block's tx tree");
    }
    uint8_t hash[LDG_HASH_BYTES];
    int rc = ldg_header_hash(&proof->hdr, hash);
    if (rc != SQ_OK) {
        return ldg_fail(SQ_EPROOF, "bad header in the proof");
    }
    sqc_merkle_leaf_hash(leaf, hash, LDG_HASH_BYTES);
    if (sqc_merkle_inclusion_verify(leaf, proof->hdr.height, proof->acc_size, proof->acc_path,
                                    proof->acc_path_count, acc_root) != SQ_OK) {
        return ldg_fail(SQ_EPROOF, "block %llu is not in the accumulator of %llu blocks",
                        (unsigned long long)proof->hdr.height, (unsigned long long)proof->acc_size);
    }
    return SQ_OK;
}

/* ---- writing a group ---- */

static int put(MDB_txn *txn, unsigned int dbi, const void *key, size_t key_size, const void *val,
               size_t val_size, unsigned int flags)
{
    MDB_val k = {key_size, (void *)(uintptr_t)key};
    MDB_val v = {val_size, (void *)(uintptr_t)val};
    return mdb_put(txn, dbi, &k, &v, flags);
}

static int put_meta(MDB_txn *txn, unsigned int dbi, const char *key, const void *val,
                    size_t val_size)
{
    return put(txn, dbi, key, strlen(key), val, val_size, 0);
}

/* Every put of the group; returns an LMDB code. */
static int write_group_txn(struct ldg_store *s, MDB_txn *txn, const struct ldg_commit *c)
{
    int rc = MDB_SUCCESS;
    uint8_t key[16];
    if (c->first) {
        uint8_t fmt = LDG_STORE_FORMAT;
        rc = put_meta(txn, s->dbi[LDG_DB_META], LDG_META_FORMAT, &fmt, 1);
        if (rc == MDB_SUCCESS) {
            rc = put_meta(txn, s->dbi[LDG_DB_META], LDG_META_GENESIS, s->g->digest, LDG_HASH_BYTES);
        }
        if (rc == MDB_SUCCESS) {
            rc = put_meta(txn, s->dbi[LDG_DB_META], LDG_META_CHAIN, s->g->chain_id,
                          s->g->chain_id_size);
        }
        if (rc != MDB_SUCCESS) {
            return rc;
        }
    }
    for (size_t i = 0; i < c->block_count; i++) {
        const struct ldg_pending_block *b = c->blocks[i];
        ldg_be64_store(key, b->height);
        rc = put(txn, s->dbi[LDG_DB_HEADERS], key, 8, b->header, b->header_size, MDB_APPEND);
        if (rc == MDB_SUCCESS) {
            rc = put(txn, s->dbi[LDG_DB_BODIES], key, 8, b->body, b->body_size, MDB_APPEND);
        }
        if (rc == MDB_SUCCESS && b->kind == LDG_BLOCK_VIEW) {
            uint8_t vkey[8];
            uint8_t h[8];
            ldg_be64_store(vkey, b->view_id);
            sq_le64_store(h, b->height);
            rc = put(txn, s->dbi[LDG_DB_VIEWS], vkey, 8, h, 8, MDB_APPEND);
        }
        for (size_t j = 0; rc == MDB_SUCCESS && j < b->node_count; j++) {
            ldg_mnode_key(key, b->nodes[j].level, b->nodes[j].index);
            rc = put(txn, s->dbi[LDG_DB_MNODES], key, 9, b->nodes[j].hash, LDG_HASH_BYTES, 0);
        }
        if (rc != MDB_SUCCESS) {
            return rc;
        }
    }
    for (size_t i = 0; i < c->acct_count; i++) {
        const struct ldg_commit_acct *a = &c->accts[i];
        if (a->zero) {
            MDB_val k = {SQC_PK_BYTES, (void *)(uintptr_t)a->pk};
            rc = mdb_del(txn, s->dbi[LDG_DB_ACCOUNTS], &k, NULL);
            rc = rc == MDB_NOTFOUND ? MDB_SUCCESS : rc;
        } else {
            rc = put(txn, s->dbi[LDG_DB_ACCOUNTS], a->pk, SQC_PK_BYTES, a->record,
                     LDG_ACCT_RECORD_BYTES, 0);
        }
        if (rc != MDB_SUCCESS) {
            return rc;
        }
    }
    if (c->validators_dirty) {
        rc = mdb_drop(txn, s->dbi[LDG_DB_VALIDATORS], 0);
        for (uint32_t i = 0; rc == MDB_SUCCESS && i < c->validator_count; i++) {
            uint8_t rec[SQC_PK_BYTES + 1 + LDG_ADDR_BYTES_MAX];
            size_t n;
            int e = ldg_validator_record_encode(&c->validators[i], rec, sizeof(rec), &n);
            SQ_ASSERT(e == SQ_OK);
            ldg_be32_store(key, c->validators[i].id);
            rc = put(txn, s->dbi[LDG_DB_VALIDATORS], key, 4, rec, n, 0);
        }
        if (rc != MDB_SUCCESS) {
            return rc;
        }
    }
    for (size_t i = 0; i < c->cert_count; i++) {
        uint8_t rec[LDG_CERT_RECORD_BYTES_MAX];
        size_t n;
        int e = ldg_cert_record_encode(&c->certs[i].rec, rec, sizeof(rec), &n);
        SQ_ASSERT(e == SQ_OK);
        ldg_be64_store(key, c->certs[i].height);
        rc = put(txn, s->dbi[LDG_DB_CERTS], key, 8, rec, n, 0);
        if (rc != MDB_SUCCESS) {
            return rc;
        }
    }
    if (c->fin_dirty) {
        rc = put_meta(txn, s->dbi[LDG_DB_META], LDG_META_FIN, c->fin, c->fin_size);
        if (rc != MDB_SUCCESS) {
            return rc;
        }
    }
    uint8_t meta[SQ_MERKLE_DEPTH_MAX * LDG_HASH_BYTES + 64];
    struct sq_enc enc;
    sq_enc_init(&enc, meta, sizeof(meta));
    sq_enc_u64(&enc, c->tip_height);
    sq_enc_bytes(&enc, c->tip_hash, LDG_HASH_BYTES);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    rc = put_meta(txn, s->dbi[LDG_DB_META], LDG_META_TIP, meta, sq_enc_len(&enc));
    if (rc != MDB_SUCCESS) {
        return rc;
    }
    sq_enc_init(&enc, meta, sizeof(meta));
    ldg_acc_encode(&enc, &c->acc);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    rc = put_meta(txn, s->dbi[LDG_DB_META], LDG_META_ACC, meta, sq_enc_len(&enc));
    if (rc != MDB_SUCCESS) {
        return rc;
    }
    sq_enc_init(&enc, meta, sizeof(meta));
    sq_enc_u64(&enc, c->view_id);
    sq_enc_u64(&enc, c->view_height);
    sq_enc_bytes(&enc, c->view_hash, LDG_HASH_BYTES);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    rc = put_meta(txn, s->dbi[LDG_DB_META], LDG_META_VIEW, meta, sq_enc_len(&enc));
    if (rc != MDB_SUCCESS) {
        return rc;
    }
    sq_enc_init(&enc, meta, sizeof(meta));
    sq_enc_u64(&enc, c->certified);
    return put_meta(txn, s->dbi[LDG_DB_META], LDG_META_CERT, meta, sq_enc_len(&enc));
}

int ldg_env_grow(MDB_env *env, pthread_rwlock_t *lock, uint64_t *map_size, uint64_t max,
                 const char *what)
{
    uint64_t cur = __atomic_load_n(map_size, __ATOMIC_RELAXED);
    if (cur >= max) {
        return ldg_fail(SQ_ENOSPC, "%s reached its limit of %llu bytes", what,
                        (unsigned long long)max);
    }
    uint64_t next = cur * 2 < max ? cur * 2 : max;
    int e = pthread_rwlock_wrlock(lock);
    SQ_ASSERT(e == 0);
    int rc = mdb_env_set_mapsize(env, (size_t)next);
    pthread_rwlock_unlock(lock);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "grow an LMDB map");
    }
    __atomic_store_n(map_size, next, __ATOMIC_RELAXED);
    SQ_INFO("ledger", "map grown", "map=\"%s\" from=%llu to=%llu", what, (unsigned long long)cur,
            (unsigned long long)next);
    return SQ_OK;
}

/* Doubles the store's map (up to the configured maximum). */
static int grow_map(struct ldg_store *s)
{
    return ldg_env_grow(s->env, &s->resize_lock, &s->map_size, s->map_size_max, "the LMDB map");
}

/* A failed write says little (LMDB turns a short write into EIO): look at the file system and the
 * process limits to tell a full disk from other I/O errors. */
static int commit_error(struct ldg_store *s, const struct ldg_commit *c, int rc, const char *what)
{
    if (rc == EIO || rc == ENOSPC || rc == EFBIG || rc == EDQUOT) {
        uint64_t group = 16u << 20;
        for (size_t i = 0; i < c->block_count; i++) {
            group += 2 * (c->blocks[i]->header_size + c->blocks[i]->body_size);
        }
        struct statvfs vfs;
        if (statvfs(s->dir, &vfs) == 0 && (uint64_t)vfs.f_bavail * vfs.f_frsize < group) {
            return ldg_fail(SQ_ENOSPC, "%s: disk full: %llu bytes free on the file system of %s",
                            what, (unsigned long long)vfs.f_bavail * vfs.f_frsize, s->dir);
        }
        struct rlimit rl;
        char path[sizeof(s->dir) + 16];
        struct stat sb;
        snprintf(path, sizeof(path), "%s/data.mdb", s->dir);
        if (getrlimit(RLIMIT_FSIZE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            stat(path, &sb) == 0 && (uint64_t)sb.st_size + group >= (uint64_t)rl.rlim_cur) {
            return ldg_fail(SQ_ENOSPC, "%s: file size limit reached (RLIMIT_FSIZE %llu bytes)",
                            what, (unsigned long long)rl.rlim_cur);
        }
    }
    return ldg_mdb_err(rc, what);
}

int ldg_store_write_group(struct ldg_store *s, struct ldg_commit *c)
{
    for (;;) {
        MDB_txn *txn;
        int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
        if (rc != MDB_SUCCESS) {
            return ldg_mdb_err(rc, "begin write transaction");
        }
        rc = write_group_txn(s, txn, c);
        if (rc == MDB_MAP_FULL) {
            mdb_txn_abort(txn);
            int err = grow_map(s);
            if (err != SQ_OK) {
                return err;
            }
            continue;
        }
        if (rc != MDB_SUCCESS) {
            mdb_txn_abort(txn);
            return commit_error(s, c, rc, "write a commit group");
        }
        /* The durable step: LMDB writes the pages, fsyncs, writes the meta page, fsyncs. A
         * failure here is never retried (STYLE.md). */
        rc = mdb_txn_commit(txn);
        if (rc == MDB_MAP_FULL) {
            /* The commit found no room to save the free list before it wrote anything: grow
             * and write the group again, as for a full map during the puts. */
            int err = grow_map(s);
            if (err != SQ_OK) {
                return err;
            }
            continue;
        }
        if (rc != MDB_SUCCESS) {
            return commit_error(s, c, rc, "commit");
        }
        /* The derived transaction index follows the durable group (txindex.c). */
        return ldg_txindex_append(s, c);
    }
}

/* ---- open and close ---- */

static int open_dbs(struct ldg_store *s, bool create)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "begin transaction to open tables");
    }
    for (int i = 0; i < LDG_DB_COUNT_; i++) {
        rc = mdb_dbi_open(txn, db_names_[i], create ? MDB_CREATE : 0, &s->dbi[i]);
        if (rc != MDB_SUCCESS) {
            mdb_txn_abort(txn);
            if (rc == MDB_NOTFOUND) {
                return ldg_fail(SQ_ENOTFOUND, "%s: no ledger store here (table %s missing)", s->dir,
                                db_names_[i]);
            }
            return ldg_mdb_err(rc, db_names_[i]);
        }
    }
    /* Committing (even a read-only transaction) keeps the handles for the environment. */
    rc = mdb_txn_commit(txn);
    return ldg_mdb_err(rc, "open tables");
}

/* Loads the metadata of an existing store into the apply-thread state. */
static int load_existing(struct ldg_store *s, MDB_txn *txn)
{
    const uint8_t *v;
    size_t n;
    int rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_FORMAT, strlen(LDG_META_FORMAT), &v, &n);
    if (rc != SQ_OK || n != 1) {
        return ldg_fail(SQ_ECORRUPT, "%s: store metadata has no format version", s->dir);
    }
    if (v[0] != LDG_STORE_FORMAT) {
        return ldg_fail(SQ_EVERSION, "%s: store format %u, this build reads %u", s->dir, v[0],
                        LDG_STORE_FORMAT);
    }
    rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_GENESIS, strlen(LDG_META_GENESIS), &v, &n);
    if (rc != SQ_OK || n != LDG_HASH_BYTES) {
        return ldg_fail(SQ_ECORRUPT, "%s: store metadata has no genesis digest", s->dir);
    }
    if (memcmp(v, s->g->digest, LDG_HASH_BYTES) != 0) {
        return ldg_fail(SQ_EINVAL, "%s: the store belongs to another genesis", s->dir);
    }
    struct sq_dec dec;
    rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_TIP, strlen(LDG_META_TIP), &v, &n);
    if (rc != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "%s: store metadata has no tip", s->dir);
    }
    sq_dec_init(&dec, v, n);
    sq_dec_u64(&dec, &s->height);
    sq_dec_bytes(&dec, s->tip_hash, LDG_HASH_BYTES);
    if (sq_dec_finish(&dec) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "%s: malformed tip metadata", s->dir);
    }
    rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_ACC, strlen(LDG_META_ACC), &v, &n);
    if (rc != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "%s: store metadata has no accumulator", s->dir);
    }
    sq_dec_init(&dec, v, n);
    if (ldg_acc_decode(&dec, &s->acc) != SQ_OK || sq_dec_finish(&dec) != SQ_OK ||
        s->acc.size != s->height + 1) {
        return ldg_fail(SQ_ECORRUPT, "%s: malformed accumulator metadata", s->dir);
    }
    rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_VIEW, strlen(LDG_META_VIEW), &v, &n);
    if (rc != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "%s: store metadata has no view", s->dir);
    }
    uint64_t view_id;
    sq_dec_init(&dec, v, n);
    sq_dec_u64(&dec, &view_id);
    sq_dec_u64(&dec, &s->view_height);
    sq_dec_bytes(&dec, s->view_hash, LDG_HASH_BYTES);
    if (sq_dec_finish(&dec) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "%s: malformed view metadata", s->dir);
    }
    rc = ldg_read_view(s, txn, view_id, &s->view, NULL);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_CERT, strlen(LDG_META_CERT), &v, &n);
    if (rc != SQ_OK || n != 8) {
        return ldg_fail(SQ_ECORRUPT, "%s: store metadata has no certified height", s->dir);
    }
    s->certified_height = sq_le64_load(v);
    s->certified_pending = s->certified_height;
    rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_FIN, strlen(LDG_META_FIN), &v, &n);
    if (rc == SQ_OK) {
        rc = ldg_fin_track_decode(v, n, &s->fin);
        if (rc != SQ_OK) {
            return ldg_fail_prefix(SQ_ECORRUPT, "%s: finality metadata", s->dir);
        }
    } else if (rc == SQ_ENOTFOUND) {
        s->fin.view_id = s->view.view_id;
        s->fin.count = s->view.member_count;
    } else {
        return rc;
    }
    /* The permitted validators. */
    MDB_cursor *cur;
    rc = mdb_cursor_open(txn, s->dbi[LDG_DB_VALIDATORS], &cur);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "validators");
    }
    MDB_val k;
    MDB_val d;
    s->st.validator_count = 0;
    for (rc = mdb_cursor_get(cur, &k, &d, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &d, MDB_NEXT)) {
        if (k.mv_size != 4 || s->st.validator_count >= LDG_VALIDATORS_MAX) {
            mdb_cursor_close(cur);
            return ldg_fail(SQ_ECORRUPT, "%s: malformed validators table", s->dir);
        }
        struct ldg_member *m = &s->st.validators[s->st.validator_count++];
        int e = ldg_validator_record_decode(d.mv_data, d.mv_size, ldg_be32_load(k.mv_data), m);
        if (e != SQ_OK) {
            mdb_cursor_close(cur);
            return e;
        }
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        return ldg_mdb_err(rc, "validators");
    }
    s->persisted_height = s->height;
    return SQ_OK;
}

static int acct_load(void *arg, const uint8_t pk[SQC_PK_BYTES], struct ldg_acct *out)
{
    struct ldg_store *s = arg;
    MDB_txn *txn;
    int rc = ldg_apply_rtxn(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    const uint8_t *v;
    size_t n;
    rc = ldg_db_get(s, txn, LDG_DB_ACCOUNTS, pk, SQC_PK_BYTES, &v, &n);
    if (rc != SQ_OK) {
        return rc;
    }
    return ldg_acct_record_decode(v, n, out);
}

int ldg_store_open(const char *dir, const struct ldg_genesis *g, const struct ldg_store_opts *opts,
                   struct ldg_store **out)
{
    *out = NULL;
    struct ldg_store_opts defaults = {0};
    if (opts == NULL) {
        opts = &defaults;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        return ldg_fail(SQ_ENOTFOUND, "%s: not a directory", dir);
    }
    struct ldg_store *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory for a store");
    }
    int rc;
    if (strlen(dir) >= sizeof(s->dir)) {
        rc = ldg_fail(SQ_EINVAL, "store path too long");
        goto err_free;
    }
    strcpy(s->dir, dir);
    s->read_only = opts->read_only;
    s->map_size_max = opts->map_size_max != 0 ? opts->map_size_max : MAP_SIZE_MAX_DEFAULT;
    s->ix_batch_ids = opts->index_batch_ids != 0 && opts->index_batch_ids < LDG_TXINDEX_FLUSH_IDS
                          ? opts->index_batch_ids
                          : LDG_TXINDEX_FLUSH_IDS;
    s->ix_merge_chunk =
        opts->index_merge_chunk != 0 && opts->index_merge_chunk < LDG_TXINDEX_MERGE_CHUNK
            ? opts->index_merge_chunk
            : LDG_TXINDEX_MERGE_CHUNK;
    uint64_t map_size = opts->map_size_initial != 0 ? opts->map_size_initial : MAP_SIZE_DEFAULT;
    if (map_size > s->map_size_max) {
        map_size = s->map_size_max;
    }
    rc = ldg_genesis_copy(g, &s->g);
    if (rc != SQ_OK) {
        goto err_free;
    }
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Writer preference: a map resize must not starve behind a stream of readers. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&s->resize_lock, &attr);
    pthread_rwlock_init(&s->iresize_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&s->iview_lock, NULL);

    rc = mdb_env_create(&s->env);
    if (rc != MDB_SUCCESS) {
        rc = ldg_mdb_err(rc, "create LMDB environment");
        goto err_lock;
    }
    mdb_env_set_maxdbs(s->env, LDG_DB_COUNT_ + 2);
    mdb_env_set_maxreaders(s->env, 512);
    if (!s->read_only) {
        mdb_env_set_mapsize(s->env, (size_t)map_size);
    }
    unsigned int flags = MDB_NOTLS | MDB_NORDAHEAD | (s->read_only ? MDB_RDONLY : 0);
    rc = mdb_env_open(s->env, dir, flags, 0600);
    if (rc != MDB_SUCCESS) {
        rc = ldg_mdb_err(rc, dir);
        goto err_env;
    }
    MDB_envinfo info;
    mdb_env_info(s->env, &info);
    s->map_size = info.me_mapsize;
    rc = open_dbs(s, !s->read_only);
    if (rc != SQ_OK) {
        goto err_env;
    }
    rc = ldg_state_init(&s->st, s->g, true);
    if (rc != SQ_OK) {
        goto err_env;
    }
    s->st.load = acct_load;
    s->st.load_arg = s;
    rc = ldg_idset_init(&s->pending_ids, s->read_only ? 0 : 4096);
    if (rc != SQ_OK) {
        goto err_state;
    }
    if (!s->read_only) {
        s->certs = calloc(LDG_PENDING_CERTS_MAX, sizeof(*s->certs));
        if (s->certs == NULL) {
            rc = ldg_fail(SQ_ENOMEM, "out of memory");
            goto err_ids;
        }
    }
    MDB_txn *txn;
    rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        goto err_certs;
    }
    const uint8_t *v;
    size_t n;
    rc = ldg_db_get(s, txn, LDG_DB_META, LDG_META_FORMAT, strlen(LDG_META_FORMAT), &v, &n);
    if (rc == SQ_OK) {
        rc = load_existing(s, txn);
        ldg_rtxn_end(s, txn);
    } else if (rc == SQ_ENOTFOUND) {
        ldg_rtxn_end(s, txn);
        rc = s->read_only ? ldg_fail(SQ_ENOTFOUND, "%s: the store is empty", dir)
                          : ldg_store_create_genesis(s);
    } else {
        ldg_rtxn_end(s, txn);
    }
    if (rc != SQ_OK) {
        goto err_certs;
    }
    rc = ldg_txindex_open(s);
    if (rc != SQ_OK) {
        goto err_certs;
    }
    *out = s;
    return SQ_OK;

err_certs:
    free(s->certs);
err_ids:
    ldg_idset_free(&s->pending_ids);
err_state:
    ldg_state_free(&s->st);
err_env:
    mdb_env_close(s->env);
err_lock:
    pthread_rwlock_destroy(&s->resize_lock);
    pthread_rwlock_destroy(&s->iresize_lock);
    pthread_mutex_destroy(&s->iview_lock);
    ldg_genesis_free(s->g);
err_free:
    free(s);
    return rc;
}

void ldg_store_close(struct ldg_store *s)
{
    if (s == NULL) {
        return;
    }
    SQ_ASSERT(s->outstanding == NULL);
    SQ_ASSERT(s->rtxn == NULL);
    for (size_t i = 0; i < s->pending_count; i++) {
        ldg_pending_block_free(ldg_pending_at(s, i));
    }
    free(s->certs);
    ldg_idset_free(&s->pending_ids);
    ldg_state_free(&s->st);
    ldg_txindex_close(s);
    mdb_env_close(s->env);
    pthread_rwlock_destroy(&s->resize_lock);
    pthread_rwlock_destroy(&s->iresize_lock);
    pthread_mutex_destroy(&s->iview_lock);
    ldg_genesis_free(s->g);
    free(s);
}

int ldg_store_remove(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb", LDG_TXINDEX_FILE,
                                        LDG_TXINDEX_FILE "-lock", LDG_TXINDEX_BOOT_FILE};
    char path[4096 + 32];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        int n = snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            return ldg_fail(SQ_EINVAL, "store path too long");
        }
        if (unlink(path) != 0 && errno != ENOENT) {
            return ldg_fail(SQ_EIO, "remove %s: %s", path, strerror(errno));
        }
    }
    if (rmdir(dir) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT) {
        return ldg_fail(SQ_EIO, "remove %s: %s", dir, strerror(errno));
    }
    return SQ_OK;
}

const struct ldg_genesis *ldg_store_genesis(const struct ldg_store *s)
{
    return s->g;
}

uint64_t ldg_store_height(const struct ldg_store *s)
{
    return s->height;
}

uint64_t ldg_store_persisted_height(const struct ldg_store *s)
{
    return __atomic_load_n(&s->persisted_height, __ATOMIC_ACQUIRE);
}

uint64_t ldg_store_certified_height(const struct ldg_store *s)
{
    return __atomic_load_n(&s->certified_height, __ATOMIC_ACQUIRE);
}

bool ldg_store_is_failed(const struct ldg_store *s)
{
    return __atomic_load_n(&s->failed, __ATOMIC_ACQUIRE) != 0;
}

uint64_t ldg_store_map_size(const struct ldg_store *s)
{
    return __atomic_load_n(&s->map_size, __ATOMIC_RELAXED);
}

int ldg_store_fail(struct ldg_store *s, int err)
{
    SQ_ASSERT(err != SQ_OK);
    int expected = 0;
    __atomic_compare_exchange_n(&s->failed, &expected, err, false, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
    SQ_ERROR("ledger", "store failed", "dir=%s err=%s reason=\"%s\"", s->dir, sq_errname(err),
             ldg_errmsg());
    return err;
}

/* Keep the account cache bounded after each commit. */
int ldg_store_trim_cache(struct ldg_store *s)
{
    return ldg_amap_trim(&s->st.accounts, ldg_store_persisted_height(s), ACCOUNT_CACHE_KEEP);
}
