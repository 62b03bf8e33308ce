/* The audit: verifies a whole store from genesis, in one LMDB snapshot.
 *
 * Blocks are read in chunks. A chunk's signatures (transactions and batches) are verified
 * together in the pool while nothing else waits on them; then the chunk is replayed in order
 * against an in-memory state rebuilt from genesis. The first fault stops the audit and is named:
 * height, what, why. */
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

#define CHUNK_JOBS 4096
#define CHUNK_BLOCKS 512
#define PROGRESS_EVERY 64

struct audit_view {
    struct ldg_view view;
    uint64_t height;
    uint8_t hash[LDG_HASH_BYTES];
};

struct audit_block {
    uint64_t height;
    struct ldg_header hdr;
    uint8_t hash[LDG_HASH_BYTES];
    size_t view_index; /* the view in force (after this block, for view blocks) */
    const uint8_t *txs;
    size_t txs_size;
    const uint8_t *results;
    size_t job_first; /* batch signature job, then one per transaction */
    uint8_t (*ids)[LDG_HASH_BYTES];
};

/* A chunk of blocks with its signature jobs. Two alternate: while one is verified (on the
 * verifier thread, through the pool), the other is gathered, then replayed. */
struct audit_chunk {
    struct audit_block *blocks; /* CHUNK_BLOCKS */
    size_t block_count;
    struct sqc_verify_job *jobs;
    size_t job_count;
    size_t job_cap;
};

struct verifier {
    struct sqc_verify_pool *pool;
    pthread_t tid;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    struct audit_chunk *todo; /* handed over, not yet verified */
    struct audit_chunk *done; /* verified, not yet taken back */
    bool stop;
};

struct audit {
    struct ldg_store *s;
    MDB_txn *txn;
    struct sqc_verify_pool *pool;
    struct ldg_audit_report *rep;
    uint64_t tip;
    struct ldg_state st;
    struct ldg_acc acc;
    /* per height: hash, accumulator root (size height+1), view id */
    uint8_t (*hashes)[LDG_HASH_BYTES];
    uint8_t (*roots)[LDG_HASH_BYTES];
    uint64_t *view_of;
    struct audit_view *views;
    size_t view_count;
    size_t view_cap;
    uint64_t indexed;      /* transactions the index must hold (claimed below cover) */
    MDB_txn *itxn;         /* the transaction index's snapshot, taken after the store's */
    uint64_t ix_next;      /* the first height that snapshot does not cover (may exceed tip + 1) */
    uint64_t cover;        /* min(ix_next, tip + 1): the heights audited against the index */
    struct ldg_idset tail; /* ids claimed at heights cover..tip (the audit's own index) */
    struct audit_chunk chunk[2];
    struct audit_chunk *cur; /* the chunk being gathered */
    struct verifier ver;
    bool ver_running;
    struct ldg_tx tx;
};

static int fault(struct audit *a, int err, uint64_t height, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int fault(struct audit *a, int err, uint64_t height, const char *what, const char *fmt, ...)
{
    struct ldg_audit_report *rep = a->rep;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
    va_end(ap);
    rep->fault_height = height;
    snprintf(rep->what, sizeof(rep->what), "%s", what);
    return ldg_fail(err, "audit: height %llu: %s: %s", (unsigned long long)height, rep->what,
                    rep->why);
}

static int add_job(struct audit *a, const uint8_t pk[SQC_PK_BYTES],
                   const uint8_t digest[LDG_HASH_BYTES], const uint8_t sig[SQC_SIG_BYTES],
                   enum sqc_domain domain)
{
    struct audit_chunk *c = a->cur;
    if (c->job_count == c->job_cap) {
        size_t cap = c->job_cap ? c->job_cap * 2 : CHUNK_JOBS * 2;
        struct sqc_verify_job *bigger = realloc(c->jobs, cap * sizeof(*c->jobs));
        if (bigger == NULL) {
            return ldg_fail(SQ_ENOMEM, "out of memory");
        }
        c->jobs = bigger;
        c->job_cap = cap;
    }
    struct sqc_verify_job *j = &c->jobs[c->job_count++];
    memcpy(j->pk, pk, SQC_PK_BYTES);
    memcpy(j->digest, digest, LDG_HASH_BYTES);
    memcpy(j->sig, sig, SQC_SIG_BYTES);
    j->domain = domain;
    j->result = SQ_OK;
    return SQ_OK;
}

static void verify_chunk(struct sqc_verify_pool *pool, struct audit_chunk *c)
{
    if (c->job_count == 0) {
        return;
    }
    if (pool != NULL) {
        sqc_verify_pool_run(pool, c->jobs, c->job_count);
        return;
    }
    for (size_t i = 0; i < c->job_count; i++) {
        struct sqc_verify_job *j = &c->jobs[i];
        j->result = sqc_verify_digest(j->pk, j->domain, j->digest, j->sig);
    }
}

/* Verifies the current chunk's jobs on this thread. */
static void run_jobs(struct audit *a)
{
    verify_chunk(a->pool, a->cur);
    a->rep->signatures += a->cur->job_count;
}

/* ---- the verifier thread ---- */

static void *verifier_main(void *arg)
{
    struct verifier *v = arg;
    pthread_mutex_lock(&v->lock);
    for (;;) {
        while (v->todo == NULL && !v->stop) {
            pthread_cond_wait(&v->cv, &v->lock);
        }
        if (v->todo == NULL) {
            break;
        }
        struct audit_chunk *c = v->todo;
        pthread_mutex_unlock(&v->lock);
        verify_chunk(v->pool, c);
        pthread_mutex_lock(&v->lock);
        v->todo = NULL;
        v->done = c;
        pthread_cond_broadcast(&v->cv);
    }
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

/* Starts verifying chunk c: on the verifier thread when there is a pool, else right here. */
static void verify_start(struct audit *a, struct audit_chunk *c)
{
    if (!a->ver_running) {
        verify_chunk(a->pool, c);
        return;
    }
    pthread_mutex_lock(&a->ver.lock);
    SQ_ASSERT(a->ver.todo == NULL && a->ver.done == NULL);
    a->ver.todo = c;
    pthread_cond_broadcast(&a->ver.cv);
    pthread_mutex_unlock(&a->ver.lock);
}

/* Waits until chunk c is verified. */
static void verify_wait(struct audit *a, struct audit_chunk *c)
{
    if (a->ver_running) {
        pthread_mutex_lock(&a->ver.lock);
        while (a->ver.done != c) {
            pthread_cond_wait(&a->ver.cv, &a->ver.lock);
        }
        a->ver.done = NULL;
        pthread_mutex_unlock(&a->ver.lock);
    }
    a->rep->signatures += c->job_count;
}

static int push_view(struct audit *a, const struct ldg_view *v, uint64_t height,
                     const uint8_t hash[LDG_HASH_BYTES])
{
    if (a->view_count == a->view_cap) {
        size_t cap = a->view_cap ? a->view_cap * 2 : 4;
        struct audit_view *bigger = realloc(a->views, cap * sizeof(*a->views));
        if (bigger == NULL) {
            return ldg_fail(SQ_ENOMEM, "out of memory");
        }
        a->views = bigger;
        a->view_cap = cap;
    }
    struct audit_view *av = &a->views[a->view_count++];
    av->view = *v;
    av->height = height;
    memcpy(av->hash, hash, LDG_HASH_BYTES);
    return SQ_OK;
}

/* ---- gathering: everything that does not depend on the state ---- */

static int gather_view_block(struct audit *a, struct audit_block *b, const uint8_t *body,
                             size_t body_size)
{
    uint64_t h = b->height;
    uint8_t root[LDG_HASH_BYTES];
    sqc_sha256(root, body, body_size);
    if (memcmp(root, b->hdr.tx_root, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, h, "tx_root", "the view record does not hash to tx_root");
    }
    ldg_empty_root(root);
    if (memcmp(root, b->hdr.results_root, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, h, "results_root", "a view block's results root is not empty");
    }
    struct ldg_view *v = malloc(sizeof(*v));
    if (v == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    int rc = ldg_view_decode(body, body_size, v);
    if (rc != SQ_OK) {
        rc = fault(a, rc, h, "view", "%s", ldg_errmsg());
        goto out;
    }
    if (v->view_id != b->hdr.view_id) {
        rc = fault(a, SQ_ECORRUPT, h, "view", "record of view %llu under a header of view %llu",
                   (unsigned long long)v->view_id, (unsigned long long)b->hdr.view_id);
        goto out;
    }
    const struct audit_view *prev = &a->views[a->view_count - 1];
    if (v->prev_height != prev->height || memcmp(v->prev_hash, prev->hash, LDG_HASH_BYTES) != 0) {
        rc = fault(a, SQ_ECORRUPT, h, "view", "does not link to the view change at %llu",
                   (unsigned long long)prev->height);
        goto out;
    }
    rc = ldg_view_rules(&prev->view, v);
    if (rc != SQ_OK) {
        rc = fault(a, SQ_ECORRUPT, h, "view", "%s", ldg_errmsg());
        goto out;
    }
    rc = push_view(a, v, h, b->hash);
    b->view_index = a->view_count - 1;
out:
    free(v);
    return rc;
}

static int gather_batch_block(struct audit *a, struct audit_block *b, const uint8_t *body,
                              size_t body_size)
{
    uint64_t h = b->height;
    const struct audit_view *cur = &a->views[a->view_count - 1];
    uint32_t count;
    int rc = ldg_body_decode(body, body_size, &count, &b->txs, &b->txs_size, &b->results);
    if (rc != SQ_OK) {
        return fault(a, rc, h, "body", "%s", ldg_errmsg());
    }
    if (count != b->hdr.tx_count) {
        return fault(a, SQ_ECORRUPT, h, "body", "holds %u transactions, the header says %u", count,
                     b->hdr.tx_count);
    }
    if (b->hdr.view_id != cur->view.view_id) {
        return fault(a, SQ_ECORRUPT, h, "view_id", "header says view %llu, view %llu is in force",
                     (unsigned long long)b->hdr.view_id, (unsigned long long)cur->view.view_id);
    }
    const struct ldg_member *proposer = NULL;
    for (uint32_t i = 0; i < cur->view.member_count; i++) {
        proposer = cur->view.members[i].id == b->hdr.proposer ? &cur->view.members[i] : proposer;
    }
    if (proposer == NULL) {
        return fault(a, SQ_ECORRUPT, h, "proposer", "validator %u is not a member of view %llu",
                     b->hdr.proposer, (unsigned long long)cur->view.view_id);
    }
    uint8_t digest[LDG_HASH_BYTES];
    ldg_batch_hash_from_block(&b->hdr, b->txs, b->txs_size, digest);
    if (memcmp(digest, b->hdr.batch_hash, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, h, "batch_hash",
                     "the batch rebuilt from the block does not hash to batch_hash");
    }
    b->job_first = a->cur->job_count;
    rc = add_job(a, proposer->pk, digest, b->hdr.proposer_sig, SQC_DOMAIN_BATCH);
    if (rc != SQ_OK) {
        return rc;
    }
    b->ids = malloc((size_t)(count ? count : 1) * LDG_HASH_BYTES);
    uint8_t(*leaves)[LDG_HASH_BYTES] = malloc((size_t)(count ? count : 1) * LDG_HASH_BYTES);
    if (b->ids == NULL || leaves == NULL) {
        free(leaves);
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    struct ldg_tx_iter it;
    struct ldg_bytes raw;
    ldg_tx_iter_init(&it, b->txs, b->txs_size, count);
    for (uint32_t i = 0; ldg_tx_iter_next(&it, &raw); i++) {
        rc = ldg_tx_decode(raw.data, raw.size, &a->tx);
        if (rc != SQ_OK) {
            rc = fault(a, rc, h, "tx", "transaction %u: %s", i, ldg_errmsg());
            break;
        }
        ldg_tx_id(raw.data, raw.size, b->ids[i]);
        sqc_merkle_leaf_hash(leaves[i], raw.data, raw.size);
        rc = add_job(a, a->tx.sender, b->ids[i], a->tx.sig, SQC_DOMAIN_TX);
        if (rc != SQ_OK) {
            break;
        }
    }
    uint8_t root[LDG_HASH_BYTES];
    if (rc == SQ_OK) {
        if (count == 0) {
            ldg_empty_root(root);
        } else {
            rc = sqc_merkle_root(root, count, sqc_merkle_leaf_from_array, leaves);
        }
    }
    free(leaves);
    if (rc != SQ_OK) {
        return rc;
    }
    if (memcmp(root, b->hdr.tx_root, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, h, "tx_root", "the transactions do not hash to tx_root");
    }
    rc = ldg_results_root(b->results, count, root);
    if (rc != SQ_OK) {
        return rc;
    }
    if (memcmp(root, b->hdr.results_root, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, h, "results_root", "the results do not hash to results_root");
    }
    b->view_index = a->view_count - 1;
    return SQ_OK;
}

static int gather_block(struct audit *a, uint64_t h, const uint8_t prev_hash[LDG_HASH_BYTES])
{
    struct audit_block *b = &a->cur->blocks[a->cur->block_count];
    memset(b, 0, sizeof(*b));
    b->height = h;
    const uint8_t *raw;
    size_t raw_size;
    const uint8_t *body;
    size_t body_size;
    uint8_t key[8];
    ldg_be64_store(key, h);
    int rc = ldg_db_get(a->s, a->txn, LDG_DB_HEADERS, key, 8, &raw, &raw_size);
    if (rc != SQ_OK) {
        return fault(a, SQ_ECORRUPT, h, "header", "missing (%s)", sq_errname(rc));
    }
    rc = ldg_db_get(a->s, a->txn, LDG_DB_BODIES, key, 8, &body, &body_size);
    if (rc != SQ_OK) {
        return fault(a, SQ_ECORRUPT, h, "body", "missing (%s)", sq_errname(rc));
    }
    rc = ldg_header_decode(raw, raw_size, &b->hdr);
    if (rc != SQ_OK) {
        return fault(a, rc, h, "header", "%s", ldg_errmsg());
    }
    sqc_sha256(b->hash, raw, raw_size);
    if (b->hdr.height != h) {
        return fault(a, SQ_ECORRUPT, h, "height", "the header says %llu",
                     (unsigned long long)b->hdr.height);
    }
    if (!ldg_chain_equal(b->hdr.chain_id, b->hdr.chain_id_size, a->s->g->chain_id,
                         a->s->g->chain_id_size)) {
        return fault(a, SQ_ECORRUPT, h, "chain_id", "the header names chain '%.*s'",
                     (int)b->hdr.chain_id_size, b->hdr.chain_id);
    }
    if (memcmp(b->hdr.prev_hash, prev_hash, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, h, "prev_hash", "does not match the hash of block %llu",
                     (unsigned long long)(h - 1));
    }
    a->cur->block_count++;
    if (b->hdr.kind == LDG_BLOCK_VIEW) {
        return gather_view_block(a, b, body, body_size);
    }
    return gather_batch_block(a, b, body, body_size);
}

/* ---- replay: in order, against the state ---- */

static int check_nodes(struct audit *a, uint64_t h, const struct ldg_mnode *nodes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t key[9];
        ldg_mnode_key(key, nodes[i].level, nodes[i].index);
        const uint8_t *v;
        size_t vs;
        int rc = ldg_db_get(a->s, a->txn, LDG_DB_MNODES, key, 9, &v, &vs);
        if (rc != SQ_OK && rc != SQ_ENOTFOUND) {
            return rc;
        }
        if (rc == SQ_ENOTFOUND || vs != LDG_HASH_BYTES ||
            memcmp(v, nodes[i].hash, LDG_HASH_BYTES) != 0) {
            return fault(a, SQ_ECORRUPT, h, "accumulator",
                         "stored node (level %u, index %llu) is missing or wrong", nodes[i].level,
                         (unsigned long long)nodes[i].index);
        }
    }
    return SQ_OK;
}

/* The id of transaction `index` of committed block `height` (for a duplicate's earlier claim). */
static int tx_id_at(struct audit *a, uint64_t height, uint32_t index, uint8_t id[LDG_HASH_BYTES])
{
    const uint8_t *body;
    size_t body_size;
    uint32_t count;
    const uint8_t *txs;
    size_t txs_size;
    const uint8_t *results;
    int rc = ldg_read_body(a->s, a->txn, height, &body, &body_size);
    if (rc == SQ_OK) {
        rc = ldg_body_decode(body, body_size, &count, &txs, &txs_size, &results);
    }
    if (rc != SQ_OK || index >= count) {
        return SQ_ECORRUPT;
    }
    struct ldg_tx_iter it;
    struct ldg_bytes raw;
    ldg_tx_iter_init(&it, txs, txs_size, count);
    for (uint32_t i = 0; ldg_tx_iter_next(&it, &raw); i++) {
        if (i == index) {
            ldg_tx_id(raw.data, raw.size, id);
            return SQ_OK;
        }
    }
    return SQ_ECORRUPT;
}

static int replay_tx(struct audit *a, const struct audit_block *b, uint32_t i,
                     const struct ldg_bytes *raw, bool sig_ok)
{
    uint64_t h = b->height;
    const uint8_t *id = b->ids[i];
    int rc = ldg_tx_decode(raw->data, raw->size, &a->tx);
    SQ_ASSERT(rc == SQ_OK);
    /* Where this id was first claimed: the index below cover, the audit's own set above. */
    uint64_t ih = 0;
    uint32_t ii = 0;
    uint8_t indexed_result = 0;
    rc = ldg_txindex_get(a->s, a->itxn, id, &ih, &ii, &indexed_result);
    if (rc == SQ_ECORRUPT) {
        return fault(a, SQ_ECORRUPT, h, "txindex", "transaction %u: %s", i, ldg_errmsg());
    }
    if (rc != SQ_OK && rc != SQ_ENOTFOUND) {
        return rc;
    }
    if (rc == SQ_OK && ih >= a->ix_next) {
        return fault(a, SQ_ECORRUPT, h, "txindex",
                     "transaction %u: indexed at %llu, beyond what the index covers (%llu)", i,
                     (unsigned long long)ih, (unsigned long long)a->ix_next);
    }
    if (rc == SQ_OK && ih > a->tip) {
        rc = SQ_ENOTFOUND; /* claimed by a block committed after the store's snapshot */
    }
    if (rc == SQ_ENOTFOUND) {
        const struct ldg_idset_entry *e = ldg_idset_find(&a->tail, id);
        if (e != NULL) {
            ih = e->height;
            ii = e->index;
            indexed_result = e->result;
            rc = SQ_OK;
        }
    }
    bool here = false;
    bool earlier = false;
    if (rc == SQ_OK) {
        here = ih == h && ii == i;
        earlier = ih < h || (ih == h && ii < i);
        if (earlier) {
            uint8_t other[LDG_HASH_BYTES];
            if (tx_id_at(a, ih, ii, other) != SQ_OK || memcmp(other, id, LDG_HASH_BYTES) != 0) {
                return fault(a, SQ_ECORRUPT, h, "txindex",
                             "transaction %u: the index points at %llu/%u, another transaction", i,
                             (unsigned long long)ih, ii);
            }
        }
    }
    uint8_t expect;
    rc = ldg_state_exec(&a->st, &a->tx, h, sig_ok, earlier, &expect);
    if (rc != SQ_OK) {
        return rc;
    }
    uint8_t stored = b->results[i];
    if (stored != expect && expect == LDG_RESULT_BAD_SIGNATURE) {
        return fault(a, SQ_EBADSIG, h, "tx_signature",
                     "transaction %u: the signature does not verify, the block records %s", i,
                     ldg_result_name(stored));
    }
    if (stored != expect) {
        return fault(a, SQ_ECORRUPT, h, "result",
                     "transaction %u: stored result %s, replay gives %s", i,
                     ldg_result_name(stored), ldg_result_name(expect));
    }
    bool claims = expect != LDG_RESULT_DUPLICATE && expect != LDG_RESULT_BAD_SIGNATURE;
    if (h >= a->cover && claims && !here && !earlier) {
        /* Above the index: the audit keeps the claim itself. */
        rc = ldg_idset_insert(&a->tail, id, h, i, stored);
        if (rc != SQ_OK) {
            return rc;
        }
        a->rep->unindexed++;
        return SQ_OK;
    }
    if (claims != here) {
        return fault(a, SQ_ECORRUPT, h, "txindex", "transaction %u: %s", i,
                     claims ? "missing from the index" : "indexed though it claims no id");
    }
    if (here && indexed_result != stored) {
        return fault(a, SQ_ECORRUPT, h, "txindex", "transaction %u: index says %s, block says %s",
                     i, ldg_result_name(indexed_result), ldg_result_name(stored));
    }
    a->indexed += here ? 1u : 0u;
    return SQ_OK;
}

static int replay_block(struct audit *a, const struct audit_chunk *c, const struct audit_block *b)
{
    uint64_t h = b->height;
    int rc;
    if (b->hdr.kind == LDG_BLOCK_VIEW) {
        const struct ldg_view *v = &a->views[b->view_index].view;
        for (uint32_t i = 0; h > 0 && i < v->member_count; i++) {
            int vi = ldg_state_validator_find(&a->st, v->members[i].id);
            if (vi < 0 || memcmp(a->st.validators[vi].pk, v->members[i].pk, SQC_PK_BYTES) != 0) {
                return fault(a, SQ_ECORRUPT, h, "view",
                             "member %u is not a permitted validator key", v->members[i].id);
            }
        }
        a->rep->views++;
    } else {
        if (c->jobs[b->job_first].result != SQ_OK) {
            return fault(a, SQ_EBADSIG, h, "batch_signature",
                         "the proposer's signature does not verify");
        }
        struct ldg_tx_iter it;
        struct ldg_bytes raw;
        ldg_tx_iter_init(&it, b->txs, b->txs_size, b->hdr.tx_count);
        for (uint32_t i = 0; ldg_tx_iter_next(&it, &raw); i++) {
            bool sig_ok = c->jobs[b->job_first + 1 + i].result == SQ_OK;
            rc = replay_tx(a, b, i, &raw, sig_ok);
            if (rc != SQ_OK) {
                return rc;
            }
        }
        a->rep->txs += b->hdr.tx_count;
    }
    struct ldg_mnode nodes[LDG_ACC_NODES_PER_APPEND];
    size_t n = ldg_acc_append(&a->acc, b->hash, nodes);
    rc = check_nodes(a, h, nodes, n);
    if (rc != SQ_OK) {
        return rc;
    }
    memcpy(a->hashes[h], b->hash, LDG_HASH_BYTES);
    ldg_acc_root_of(&a->acc, a->roots[h]);
    a->view_of[h] = b->hdr.view_id;
    a->rep->blocks++;
    return SQ_OK;
}

static void chunk_reset(struct audit_chunk *c)
{
    for (size_t i = 0; i < c->block_count; i++) {
        free(c->blocks[i].ids);
        c->blocks[i].ids = NULL;
    }
    c->block_count = 0;
    c->job_count = 0;
}

/* ---- the end: tables against the replayed state ---- */

static int meta_get(struct audit *a, const char *key, const uint8_t **v, size_t *n)
{
    int rc = ldg_db_get(a->s, a->txn, LDG_DB_META, key, strlen(key), v, n);
    if (rc == SQ_ENOTFOUND) {
        return fault(a, SQ_ECORRUPT, a->tip, "meta", "no \"%s\" entry", key);
    }
    return rc;
}

static int check_meta(struct audit *a)
{
    const uint8_t *v;
    size_t n;
    int rc = meta_get(a, LDG_META_ACC, &v, &n);
    if (rc != SQ_OK) {
        return rc;
    }
    struct sq_dec dec;
    struct ldg_acc stored;
    sq_dec_init(&dec, v, n);
    if (ldg_acc_decode(&dec, &stored) != SQ_OK || sq_dec_finish(&dec) != SQ_OK ||
        stored.size != a->acc.size) {
        return fault(a, SQ_ECORRUPT, a->tip, "meta", "the stored accumulator state is wrong");
    }
    for (unsigned l = 0; l < SQ_MERKLE_DEPTH_MAX; l++) {
        if (((stored.size >> l) & 1u) &&
            memcmp(stored.peaks[l], a->acc.peaks[l], LDG_HASH_BYTES) != 0) {
            return fault(a, SQ_ECORRUPT, a->tip, "meta", "the stored accumulator peaks are wrong");
        }
    }
    rc = meta_get(a, LDG_META_VIEW, &v, &n);
    if (rc != SQ_OK) {
        return rc;
    }
    const struct audit_view *cur = &a->views[a->view_count - 1];
    uint64_t vid;
    uint64_t vh;
    uint8_t vhash[LDG_HASH_BYTES];
    sq_dec_init(&dec, v, n);
    sq_dec_u64(&dec, &vid);
    sq_dec_u64(&dec, &vh);
    sq_dec_bytes(&dec, vhash, LDG_HASH_BYTES);
    if (sq_dec_finish(&dec) != SQ_OK || vid != cur->view.view_id || vh != cur->height ||
        memcmp(vhash, cur->hash, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, a->tip, "meta", "the stored current view is wrong");
    }
    /* No blocks beyond the tip, and the views table matches the view changes. */
    MDB_stat st;
    mdb_stat(a->txn, a->s->dbi[LDG_DB_HEADERS], &st);
    if (st.ms_entries != a->tip + 1) {
        return fault(a, SQ_ECORRUPT, a->tip, "meta", "%zu headers stored for a tip of %llu",
                     (size_t)st.ms_entries, (unsigned long long)a->tip);
    }
    mdb_stat(a->txn, a->s->dbi[LDG_DB_BODIES], &st);
    if (st.ms_entries != a->tip + 1) {
        return fault(a, SQ_ECORRUPT, a->tip, "meta", "%zu bodies stored for a tip of %llu",
                     (size_t)st.ms_entries, (unsigned long long)a->tip);
    }
    mdb_stat(a->txn, a->s->dbi[LDG_DB_VIEWS], &st);
    if (st.ms_entries != a->view_count) {
        return fault(a, SQ_ECORRUPT, a->tip, "views", "%zu entries for %zu view changes",
                     (size_t)st.ms_entries, a->view_count);
    }
    for (size_t i = 0; i < a->view_count; i++) {
        uint8_t key[8];
        ldg_be64_store(key, a->views[i].view.view_id);
        rc = ldg_db_get(a->s, a->txn, LDG_DB_VIEWS, key, 8, &v, &n);
        if (rc != SQ_OK || n != 8 || sq_le64_load(v) != a->views[i].height) {
            return fault(a, SQ_ECORRUPT, a->views[i].height, "views",
                         "the entry for view %llu is missing or wrong",
                         (unsigned long long)a->views[i].view.view_id);
        }
    }
    uint64_t entries;
    rc = ldg_txindex_count_below(a->s, a->itxn, a->cover, &entries);
    if (rc == SQ_ECORRUPT) {
        return fault(a, SQ_ECORRUPT, a->tip, "txindex", "%s", ldg_errmsg());
    }
    if (rc != SQ_OK) {
        return rc;
    }
    if (entries != a->indexed) {
        return fault(a, SQ_ECORRUPT, a->tip, "txindex",
                     "%llu entries below height %llu, the chain claims %llu ids there",
                     (unsigned long long)entries, (unsigned long long)a->cover,
                     (unsigned long long)a->indexed);
    }
    return SQ_OK;
}

static int check_accounts(struct audit *a)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(a->txn, a->s->dbi[LDG_DB_ACCOUNTS], &cur);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "accounts");
    }
    MDB_val k;
    MDB_val v;
    uint64_t stored = 0;
    int err = SQ_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char hex[2 * SQC_PK_BYTES + 1] = "?";
        struct ldg_acct rec;
        if (k.mv_size == SQC_PK_BYTES) {
            sqc_hex_encode(hex, sizeof(hex), k.mv_data, SQC_PK_BYTES);
        }
        if (k.mv_size != SQC_PK_BYTES ||
            ldg_acct_record_decode(v.mv_data, v.mv_size, &rec) != SQ_OK) {
            err = fault(a, SQ_ECORRUPT, a->tip, "accounts", "malformed entry %s", hex);
            break;
        }
        struct ldg_acct *mine;
        err = ldg_state_acct(&a->st, k.mv_data, &mine);
        if (err != SQ_OK) {
            break;
        }
        if (mine->balance != rec.balance || mine->nonce != rec.nonce || mine->flags != rec.flags) {
            err = fault(a, SQ_ECORRUPT, a->tip, "accounts",
                        "%s: stored balance %llu nonce %llu flags %u, replay gives %llu %llu %u",
                        hex, (unsigned long long)rec.balance, (unsigned long long)rec.nonce,
                        rec.flags, (unsigned long long)mine->balance,
                        (unsigned long long)mine->nonce, mine->flags);
            break;
        }
        stored++;
    }
    mdb_cursor_close(cur);
    if (err != SQ_OK) {
        return err;
    }
    uint64_t live = 0;
    size_t pos = 0;
    struct ldg_acct *acct;
    while (ldg_amap_next(&a->st.accounts, &pos, &acct)) {
        live += (acct->balance != 0 || acct->nonce != 0 || acct->flags != 0) ? 1u : 0u;
    }
    if (live != stored) {
        return fault(a, SQ_ECORRUPT, a->tip, "accounts", "%llu accounts stored, replay has %llu",
                     (unsigned long long)stored, (unsigned long long)live);
    }
    /* The permitted validators. */
    rc = mdb_cursor_open(a->txn, a->s->dbi[LDG_DB_VALIDATORS], &cur);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "validators");
    }
    uint32_t count = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct ldg_member m;
        int vi = -1;
        if (k.mv_size == 4 && ldg_validator_record_decode(v.mv_data, v.mv_size,
                                                          ldg_be32_load(k.mv_data), &m) == SQ_OK) {
            vi = ldg_state_validator_find(&a->st, m.id);
        }
        if (vi < 0 || memcmp(a->st.validators[vi].pk, m.pk, SQC_PK_BYTES) != 0 ||
            a->st.validators[vi].addr_size != m.addr_size ||
            memcmp(a->st.validators[vi].addr, m.addr, m.addr_size) != 0) {
            err = fault(a, SQ_ECORRUPT, a->tip, "validators",
                        "a stored validator is not in the replayed set");
            break;
        }
        count++;
    }
    mdb_cursor_close(cur);
    if (err == SQ_OK && count != a->st.validator_count) {
        err = fault(a, SQ_ECORRUPT, a->tip, "validators", "%u stored, replay has %u", count,
                    a->st.validator_count);
    }
    return err;
}

static const struct ldg_view *view_by_id(const struct audit *a, uint64_t id)
{
    for (size_t i = 0; i < a->view_count; i++) {
        if (a->views[i].view.view_id == id) {
            return &a->views[i].view;
        }
    }
    return NULL;
}

static int check_certs(struct audit *a)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(a->txn, a->s->dbi[LDG_DB_CERTS], &cur);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "certs");
    }
    struct ldg_cert_record *rec = malloc(sizeof(*rec));
    if (rec == NULL) {
        mdb_cursor_close(cur);
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    MDB_val k;
    MDB_val v;
    uint64_t last = 0;
    int err = SQ_OK;
    const char *chain = a->s->g->chain_id;
    size_t chain_size = a->s->g->chain_id_size;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS && err == SQ_OK;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t f = k.mv_size == 8 ? ldg_be64_load(k.mv_data) : 0;
        if (k.mv_size != 8 || ldg_cert_record_decode(v.mv_data, v.mv_size, rec) != SQ_OK) {
            err = fault(a, SQ_ECORRUPT, f, "certificate", "malformed record");
            break;
        }
        const struct ldg_view *view = view_by_id(a, rec->view_id);
        if (view == NULL || rec->count != view->member_count) {
            err = fault(a, SQ_ECORRUPT, f, "certificate",
                        "%u signatures do not match the members of view %llu", rec->count,
                        (unsigned long long)rec->view_id);
            break;
        }
        bool seen[SQ_MEMBERS_MAX] = {false};
        uint64_t low = UINT64_MAX;
        a->cur->job_count = 0;
        for (uint32_t i = 0; i < rec->count && err == SQ_OK; i++) {
            const struct ldg_finality *s = &rec->sigs[i];
            int mi = -1;
            for (uint32_t j = 0; j < view->member_count; j++) {
                mi = view->members[j].id == s->signer ? (int)j : mi;
            }
            if (mi < 0 || seen[mi]) {
                err = fault(a, SQ_ECORRUPT, f, "certificate",
                            "signer %u is not a member of view %llu or signed twice", s->signer,
                            (unsigned long long)rec->view_id);
                break;
            }
            seen[mi] = true;
            low = s->height < low ? s->height : low;
            if (s->height > a->tip || a->view_of[s->height] != rec->view_id) {
                err = fault(a, SQ_ECORRUPT, f, "certificate",
                            "signer %u signed height %llu outside view %llu", s->signer,
                            (unsigned long long)s->height, (unsigned long long)rec->view_id);
                break;
            }
            if (memcmp(s->block_hash, a->hashes[s->height], LDG_HASH_BYTES) != 0 ||
                memcmp(s->acc_root, a->roots[s->height], LDG_HASH_BYTES) != 0) {
                err = fault(a, SQ_ECORRUPT, f, "certificate",
                            "signer %u: block hash or accumulator root at %llu is not the chain's",
                            s->signer, (unsigned long long)s->height);
                break;
            }
            uint8_t digest[LDG_HASH_BYTES];
            ldg_finality_digest_raw(chain, chain_size, rec->view_id, s->height, s->block_hash,
                                    s->acc_root, digest);
            err = add_job(a, view->members[mi].pk, digest, s->sig, SQC_DOMAIN_FINALITY);
        }
        if (err != SQ_OK) {
            break;
        }
        if (low != f) {
            err = fault(a, SQ_ECORRUPT, f, "certificate",
                        "filed under %llu, its lowest signature is at %llu", (unsigned long long)f,
                        (unsigned long long)low);
            break;
        }
        run_jobs(a);
        for (uint32_t i = 0; i < rec->count; i++) {
            if (a->cur->jobs[i].result != SQ_OK) {
                err = fault(a, SQ_EBADSIG, f, "certificate",
                            "the signature of validator %u at %llu does not verify",
                            rec->sigs[i].signer, (unsigned long long)rec->sigs[i].height);
                break;
            }
        }
        a->rep->certs++;
        last = f;
    }
    mdb_cursor_close(cur);
    free(rec);
    a->cur->job_count = 0;
    if (err != SQ_OK) {
        return err;
    }
    if (rc != MDB_NOTFOUND) {
        return ldg_mdb_err(rc, "certs");
    }
    const uint8_t *cv;
    size_t cn;
    err = meta_get(a, LDG_META_CERT, &cv, &cn);
    if (err != SQ_OK) {
        return err;
    }
    if (cn != 8 || sq_le64_load(cv) != last) {
        return fault(a, SQ_ECORRUPT, a->tip, "meta",
                     "the certified height is not the last certificate's (%llu)",
                     (unsigned long long)last);
    }
    return SQ_OK;
}

/* ---- the run ---- */

static int audit_blocks(struct audit *a, ldg_audit_progress_fn progress, void *arg)
{
    /* Block 0 must be exactly the genesis block. */
    uint8_t *gbuf = malloc(LDG_HEADER_BYTES_MAX + 16384);
    if (gbuf == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    size_t hs;
    size_t bs;
    uint8_t hash0[LDG_HASH_BYTES];
    int rc = ldg_genesis_block(a->s->g, gbuf, LDG_HEADER_BYTES_MAX + 16384, &hs, &bs, hash0);
    const uint8_t *raw;
    size_t raw_size;
    const uint8_t *body;
    size_t body_size;
    uint8_t key[8];
    ldg_be64_store(key, 0);
    if (rc == SQ_OK) {
        if (ldg_db_get(a->s, a->txn, LDG_DB_HEADERS, key, 8, &raw, &raw_size) != SQ_OK ||
            ldg_db_get(a->s, a->txn, LDG_DB_BODIES, key, 8, &body, &body_size) != SQ_OK ||
            raw_size != hs || body_size != bs || memcmp(raw, gbuf, hs) != 0 ||
            memcmp(body, gbuf + hs, bs) != 0) {
            rc = fault(a, SQ_ECORRUPT, 0, "genesis", "block 0 is not the genesis file's block");
        }
    }
    free(gbuf);
    if (rc != SQ_OK) {
        return rc;
    }
    struct ldg_view *v0 = malloc(sizeof(*v0));
    if (v0 == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    ldg_genesis_view(a->s->g, v0);
    rc = push_view(a, v0, 0, hash0);
    free(v0);
    if (rc != SQ_OK) {
        return rc;
    }
    /* Block 0 in the accumulator. */
    a->rep->views++;
    struct ldg_mnode nodes[LDG_ACC_NODES_PER_APPEND];
    size_t n = ldg_acc_append(&a->acc, hash0, nodes);
    rc = check_nodes(a, 0, nodes, n);
    if (rc != SQ_OK) {
        return rc;
    }
    memcpy(a->hashes[0], hash0, LDG_HASH_BYTES);
    ldg_acc_root_of(&a->acc, a->roots[0]);
    a->view_of[0] = 0;
    a->rep->blocks = 1;

    uint8_t prev[LDG_HASH_BYTES];
    memcpy(prev, hash0, LDG_HASH_BYTES);
    uint64_t next_progress = PROGRESS_EVERY;
    uint64_t h = 1;
    /* Pipeline: gather chunk g while chunk v is verified; then replay v while g is verified. */
    struct audit_chunk *g = &a->chunk[0];
    struct audit_chunk *v = NULL;
    rc = SQ_OK;
    while (rc == SQ_OK && (h <= a->tip || v != NULL)) {
        a->cur = g;
        while (h <= a->tip && g->block_count < CHUNK_BLOCKS && g->job_count < CHUNK_JOBS) {
            rc = gather_block(a, h, prev);
            if (rc != SQ_OK) {
                break;
            }
            memcpy(prev, g->blocks[g->block_count - 1].hash, LDG_HASH_BYTES);
            h++;
        }
        if (v != NULL) {
            verify_wait(a, v);
        }
        if (rc != SQ_OK) {
            break;
        }
        bool started = g->block_count > 0;
        if (started) {
            verify_start(a, g);
        }
        if (v != NULL) {
            for (size_t i = 0; i < v->block_count && rc == SQ_OK; i++) {
                rc = replay_block(a, v, &v->blocks[i]);
            }
            chunk_reset(v);
            if (rc != SQ_OK) {
                if (started) {
                    verify_wait(a, g);
                }
                break;
            }
            uint64_t done = a->rep->blocks - 1;
            if (progress != NULL && done >= next_progress) {
                next_progress = done + PROGRESS_EVERY;
                if (!progress(arg, done, a->tip, a->rep->txs)) {
                    if (started) {
                        verify_wait(a, g);
                    }
                    rc = ldg_fail(SQ_ECLOSED, "audit stopped by its caller at height %llu",
                                  (unsigned long long)done);
                    break;
                }
            }
        }
        struct audit_chunk *next = v != NULL ? v : &a->chunk[1];
        v = started ? g : NULL;
        g = next;
    }
    chunk_reset(&a->chunk[0]);
    chunk_reset(&a->chunk[1]);
    a->cur = &a->chunk[0];
    if (rc != SQ_OK) {
        return rc;
    }
    const uint8_t *tv;
    size_t tn;
    rc = meta_get(a, LDG_META_TIP, &tv, &tn);
    if (rc != SQ_OK) {
        return rc;
    }
    if (tn != 8 + LDG_HASH_BYTES || memcmp(tv + 8, prev, LDG_HASH_BYTES) != 0) {
        return fault(a, SQ_ECORRUPT, a->tip, "meta", "the stored tip hash is not block %llu's",
                     (unsigned long long)a->tip);
    }
    return SQ_OK;
}

int ldg_audit_run(struct ldg_store *s, struct sqc_verify_pool *pool, ldg_audit_progress_fn progress,
                  void *arg, struct ldg_audit_report *rep)
{
    memset(rep, 0, sizeof(*rep));
    struct audit *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    a->s = s;
    a->pool = pool;
    a->rep = rep;
    /* The store's snapshot, then the index's (the order every thread takes the two locks in).
     * The index is written after the store, so it may reach past the store's tip; it never
     * misses a block below its `next`. */
    int rc = ldg_rtxn_begin(s, &a->txn);
    if (rc != SQ_OK) {
        free(a);
        return rc;
    }
    rc = ldg_irtxn_begin(s, &a->itxn);
    if (rc != SQ_OK) {
        ldg_rtxn_end(s, a->txn);
        free(a);
        return rc;
    }
    a->ix_next = ldg_txindex_next(s, a->itxn);
    rc = ldg_idset_init(&a->tail, 1024);
    if (rc != SQ_OK) {
        ldg_irtxn_end(s, a->itxn);
        ldg_rtxn_end(s, a->txn);
        free(a);
        return rc;
    }
    const uint8_t *v;
    size_t n;
    rc = meta_get(a, LDG_META_TIP, &v, &n);
    if (rc == SQ_OK && n != 8 + LDG_HASH_BYTES) {
        rc = fault(a, SQ_ECORRUPT, 0, "meta", "malformed tip entry");
    }
    if (rc != SQ_OK) {
        goto out_txn;
    }
    a->tip = sq_le64_load(v);
    rep->tip = a->tip;
    a->cover = a->ix_next < a->tip + 1 ? a->ix_next : a->tip + 1;
    rep->index_next = a->cover;
    /* The tip must name the last stored block before anything is sized by it. */
    MDB_stat st;
    mdb_stat(a->txn, s->dbi[LDG_DB_HEADERS], &st);
    if (st.ms_entries == 0 || a->tip != st.ms_entries - 1) {
        rc = fault(a, SQ_ECORRUPT, a->tip, "meta", "the tip says %llu, %zu headers are stored",
                   (unsigned long long)a->tip, (size_t)st.ms_entries);
        goto out_txn;
    }
    size_t heights = (size_t)a->tip + 1;
    a->hashes = malloc(heights * LDG_HASH_BYTES);
    a->roots = malloc(heights * LDG_HASH_BYTES);
    a->view_of = malloc(heights * sizeof(uint64_t));
    a->chunk[0].blocks = malloc(CHUNK_BLOCKS * sizeof(struct audit_block));
    a->chunk[1].blocks = malloc(CHUNK_BLOCKS * sizeof(struct audit_block));
    a->cur = &a->chunk[0];
    if (a->hashes == NULL || a->roots == NULL || a->view_of == NULL || a->chunk[0].blocks == NULL ||
        a->chunk[1].blocks == NULL) {
        rc = ldg_fail(SQ_ENOMEM, "out of memory for an audit of %zu blocks", heights);
        goto out_mem;
    }
    rc = ldg_state_init(&a->st, s->g, false);
    if (rc != SQ_OK) {
        goto out_mem;
    }
    rc = ldg_state_load_genesis(&a->st);
    if (rc == SQ_OK && pool != NULL) {
        a->ver.pool = pool;
        pthread_mutex_init(&a->ver.lock, NULL);
        pthread_cond_init(&a->ver.cv, NULL);
        if (pthread_create(&a->ver.tid, NULL, verifier_main, &a->ver) == 0) {
            a->ver_running = true;
        } else {
            /* No thread: verify on this one (through the pool still, below). */
            pthread_cond_destroy(&a->ver.cv);
            pthread_mutex_destroy(&a->ver.lock);
        }
    }
    if (rc == SQ_OK) {
        rc = audit_blocks(a, progress, arg);
    }
    if (a->ver_running) {
        pthread_mutex_lock(&a->ver.lock);
        a->ver.stop = true;
        pthread_cond_broadcast(&a->ver.cv);
        pthread_mutex_unlock(&a->ver.lock);
        pthread_join(a->ver.tid, NULL);
        pthread_cond_destroy(&a->ver.cv);
        pthread_mutex_destroy(&a->ver.lock);
        a->ver_running = false;
    }
    if (rc == SQ_OK) {
        rc = check_meta(a);
    }
    if (rc == SQ_OK) {
        rc = check_accounts(a);
    }
    if (rc == SQ_OK) {
        rc = check_certs(a);
    }
    rep->signatures += a->st.gov_sigs;
    if (rc == SQ_OK && progress != NULL) {
        progress(arg, a->tip, a->tip, rep->txs);
    }
    ldg_state_free(&a->st);
out_mem:
    free(a->hashes);
    free(a->roots);
    free(a->view_of);
    free(a->chunk[0].blocks);
    free(a->chunk[1].blocks);
    free(a->chunk[0].jobs);
    free(a->chunk[1].jobs);
    free(a->views);
out_txn:
    ldg_irtxn_end(s, a->itxn);
    ldg_rtxn_end(s, a->txn);
    ldg_idset_free(&a->tail);
    free(a);
    if (rc != SQ_OK && rep->what[0] == '\0') {
        snprintf(rep->what, sizeof(rep->what), "%s", "audit");
        snprintf(rep->why, sizeof(rep->why), "%s", ldg_errmsg());
    }
    return rc;
}
