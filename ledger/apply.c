/* Applying batches and view changes into pending blocks; group commit; finality signatures. */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "ledger/ledger_int.h"

struct ldg_pending_block *ldg_pending_at(const struct ldg_store *s, size_t i)
{
    SQ_ASSERT(i < s->pending_count);
    return s->pending[(s->pending_head + i) % LDG_PENDING_BLOCKS_MAX];
}

void ldg_pending_block_free(struct ldg_pending_block *b)
{
    if (b == NULL) {
        return;
    }
    free(b->header);
    free(b->body);
    free(b->ids);
    free(b->id_index);
    free(b->id_result);
    free(b);
}

static int check_writable(const struct ldg_store *s)
{
    if (s->read_only) {
        return ldg_fail(SQ_ESTATE, "the store is open read-only");
    }
    if (ldg_store_is_failed(s)) {
        return ldg_fail(SQ_ESTATE, "the store failed a commit; restart the node");
    }
    return SQ_OK;
}

static int check_room(const struct ldg_store *s, size_t bytes)
{
    if (s->pending_count >= LDG_PENDING_BLOCKS_MAX ||
        s->pending_bytes + bytes > LDG_PENDING_BYTES_MAX) {
        return ldg_fail(SQ_EFULL, "%zu blocks (%zu bytes) wait for a commit", s->pending_count,
                        s->pending_bytes);
    }
    return SQ_OK;
}

/* Seals a block: encodes its header, hashes it, appends it to the accumulator and the pending
 * ring. Takes ownership of b (freed on failure). */
static int seal_block(struct ldg_store *s, struct ldg_header *hdr, struct ldg_pending_block *b)
{
    uint8_t buf[LDG_HEADER_BYTES_MAX];
    size_t size;
    int rc = ldg_header_encode(hdr, buf, sizeof(buf), &size);
    if (rc == SQ_OK) {
        b->header = malloc(size);
        rc = b->header == NULL ? ldg_fail(SQ_ENOMEM, "out of memory for a header") : SQ_OK;
    }
    if (rc != SQ_OK) {
        ldg_pending_block_free(b);
        return rc;
    }
    memcpy(b->header, buf, size);
    b->header_size = size;
    b->height = hdr->height;
    b->kind = hdr->kind;
    b->view_id = hdr->view_id;
    sqc_sha256(b->hash, buf, size);
    b->node_count = ldg_acc_append(&s->acc, b->hash, b->nodes);
    ldg_acc_root_of(&s->acc, b->acc_root);
    s->pending[(s->pending_head + s->pending_count) % LDG_PENDING_BLOCKS_MAX] = b;
    s->pending_count++;
    s->pending_bytes += b->header_size + b->body_size;
    s->height = hdr->height;
    memcpy(s->tip_hash, b->hash, LDG_HASH_BYTES);
    SQ_ASSERT(s->acc.size == s->height + 1);
    return SQ_OK;
}

static void header_base(const struct ldg_store *s, struct ldg_header *hdr, uint8_t kind)
{
    memset(hdr, 0, sizeof(*hdr));
    hdr->version = LDG_FORMAT_VERSION;
    hdr->kind = kind;
    hdr->chain_id_size = s->g->chain_id_size;
    memcpy(hdr->chain_id, s->g->chain_id, s->g->chain_id_size);
    hdr->height = s->height + 1;
    memcpy(hdr->prev_hash, s->tip_hash, LDG_HASH_BYTES);
}

static int member_index(const struct ldg_view *v, uint32_t id)
{
    for (uint32_t i = 0; i < v->member_count; i++) {
        if (v->members[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

/* Is `id` already in the chain: pending first, then the index. Blocks leave the pending set only
 * after their group is committed and handed to the index (ldg_commit_end). */
static int is_duplicate(struct ldg_store *s, const uint8_t id[LDG_HASH_BYTES], bool *dup)
{
    if (ldg_idset_find(&s->pending_ids, id) != NULL) {
        *dup = true;
        return SQ_OK;
    }
    uint64_t height;
    uint32_t index;
    uint8_t result;
    int rc = ldg_txindex_lookup(s, id, &height, &index, &result);
    if (rc == SQ_OK || rc == SQ_ENOTFOUND) {
        *dup = rc == SQ_OK;
        return SQ_OK;
    }
    return rc;
}

struct apply_scratch {
    uint8_t (*ids)[LDG_HASH_BYTES];
    uint8_t (*leaves)[LDG_HASH_BYTES];
    uint8_t *sig_ok;
    uint8_t *results;
    struct sqc_verify_job *jobs;
    uint32_t *job_tx;
};

static void scratch_free(struct apply_scratch *sc)
{
    free(sc->ids);
    free(sc->leaves);
    free(sc->sig_ok);
    free(sc->results);
    free(sc->jobs);
    free(sc->job_tx);
}

/* Checks every frame and transaction, computes ids and leaves, and verifies the signatures the
 * caller did not vouch for. Changes nothing. */
static int apply_prepare(const struct ldg_batch *b, const struct ldg_apply_opts *opts,
                         struct apply_scratch *sc)
{
    uint32_t n = b->tx_count;
    size_t alloc = n ? n : 1;
    sc->ids = malloc(alloc * LDG_HASH_BYTES);
    sc->leaves = malloc(alloc * LDG_HASH_BYTES);
    sc->sig_ok = malloc(alloc);
    sc->results = malloc(alloc);
    if (sc->ids == NULL || sc->leaves == NULL || sc->sig_ok == NULL || sc->results == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory for a batch of %u transactions", n);
    }
    struct ldg_tx *tx = malloc(sizeof(*tx));
    if (tx == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    struct ldg_tx_iter it;
    struct ldg_bytes raw;
    uint32_t need = 0;
    int rc = SQ_OK;
    ldg_tx_iter_init(&it, b->txs, b->txs_size, n);
    for (uint32_t i = 0; ldg_tx_iter_next(&it, &raw); i++) {
        rc = ldg_tx_decode(raw.data, raw.size, tx);
        if (rc != SQ_OK) {
            rc = ldg_fail_prefix(rc, "batch transaction %u", i);
            goto out;
        }
        ldg_tx_id(raw.data, raw.size, sc->ids[i]);
        sqc_merkle_leaf_hash(sc->leaves[i], raw.data, raw.size);
        bool vouched = opts != NULL && opts->verified != NULL &&
                       opts->verified(opts->verified_arg, sc->ids[i]);
        sc->sig_ok[i] = vouched ? 1 : 0;
        if (vouched) {
            continue;
        }
        if (sc->jobs == NULL) {
            sc->jobs = malloc(alloc * sizeof(*sc->jobs));
            sc->job_tx = malloc(alloc * sizeof(*sc->job_tx));
            if (sc->jobs == NULL || sc->job_tx == NULL) {
                rc = ldg_fail(SQ_ENOMEM, "out of memory for verification jobs");
                goto out;
            }
        }
        struct sqc_verify_job *job = &sc->jobs[need];
        memcpy(job->pk, tx->sender, SQC_PK_BYTES);
        memcpy(job->digest, sc->ids[i], LDG_HASH_BYTES);
        memcpy(job->sig, tx->sig, SQC_SIG_BYTES);
        job->domain = SQC_DOMAIN_TX;
        job->result = SQ_OK;
        sc->job_tx[need++] = i;
    }
    if (need > 0) {
        if (opts != NULL && opts->pool != NULL) {
            sqc_verify_pool_run(opts->pool, sc->jobs, need);
        } else {
            for (uint32_t j = 0; j < need; j++) {
                sc->jobs[j].result = sqc_verify_digest(sc->jobs[j].pk, SQC_DOMAIN_TX,
                                                       sc->jobs[j].digest, sc->jobs[j].sig);
            }
        }
        for (uint32_t j = 0; j < need; j++) {
            sc->sig_ok[sc->job_tx[j]] = sc->jobs[j].result == SQ_OK ? 1 : 0;
        }
    }
out:
    free(tx);
    return rc;
}

int ldg_batch_apply(struct ldg_store *s, uint64_t view_id, const uint8_t *batch, size_t size,
                    const struct ldg_apply_opts *opts, struct ldg_block_info *info)
{
    memset(info, 0, sizeof(*info));
    int rc = check_writable(s);
    if (rc != SQ_OK) {
        return rc;
    }
    if (view_id != s->view.view_id) {
        return ldg_fail(SQ_EVIEW, "batch delivered in view %llu, the ledger is in view %llu",
                        (unsigned long long)view_id, (unsigned long long)s->view.view_id);
    }
    rc = check_room(s, size + 64);
    if (rc != SQ_OK) {
        return rc;
    }
    struct ldg_batch b;
    rc = ldg_batch_decode(batch, size, &b);
    if (rc != SQ_OK) {
        return rc;
    }
    if (!ldg_chain_equal(b.chain_id, b.chain_id_size, s->g->chain_id, s->g->chain_id_size)) {
        return ldg_fail(SQ_EINVAL, "batch for chain '%.*s'", (int)b.chain_id_size, b.chain_id);
    }
    int mi = member_index(&s->view, b.proposer);
    if (mi < 0) {
        return ldg_fail(SQ_EPERM, "batch proposer %u is not a member of view %llu", b.proposer,
                        (unsigned long long)s->view.view_id);
    }
    if (sqc_verify_digest(s->view.members[mi].pk, SQC_DOMAIN_BATCH, b.hash, b.sig) != SQ_OK) {
        return ldg_fail(SQ_EBADSIG, "batch %llu of proposer %u: bad signature",
                        (unsigned long long)b.seq, b.proposer);
    }
    struct apply_scratch sc = {0};
    rc = apply_prepare(&b, opts, &sc);
    if (rc != SQ_OK) {
        scratch_free(&sc);
        return rc;
    }
    /* From here on nothing can fail but memory or the store: both are fatal. */
    struct ldg_pending_block *pb = calloc(1, sizeof(*pb));
    size_t body_size = 4 + b.txs_size + b.tx_count;
    struct ldg_tx *tx = malloc(sizeof(*tx));
    if (pb == NULL || tx == NULL || (pb->body = malloc(body_size)) == NULL) {
        free(pb);
        free(tx);
        scratch_free(&sc);
        return ldg_fail(SQ_ENOMEM, "out of memory for a block");
    }
    pb->body_size = body_size;
    size_t alloc = b.tx_count ? b.tx_count : 1;
    pb->ids = malloc(alloc * LDG_HASH_BYTES);
    pb->id_index = malloc(alloc * sizeof(uint32_t));
    pb->id_result = malloc(alloc);
    if (pb->ids == NULL || pb->id_index == NULL || pb->id_result == NULL) {
        rc = ldg_fail(SQ_ENOMEM, "out of memory for a block");
        goto err_fatal;
    }
    uint64_t height = s->height + 1;
    uint32_t ok = 0;
    struct ldg_tx_iter it;
    struct ldg_bytes raw;
    ldg_tx_iter_init(&it, b.txs, b.txs_size, b.tx_count);
    for (uint32_t i = 0; ldg_tx_iter_next(&it, &raw); i++) {
        rc = ldg_tx_decode(raw.data, raw.size, tx);
        SQ_ASSERT(rc == SQ_OK);
        bool dup;
        rc = is_duplicate(s, sc.ids[i], &dup);
        if (rc == SQ_OK) {
            rc = ldg_state_exec(&s->st, tx, height, sc.sig_ok[i] != 0, dup, &sc.results[i]);
        }
        if (rc != SQ_OK) {
            goto err_fatal;
        }
        uint8_t r = sc.results[i];
        ok += r == LDG_RESULT_OK ? 1u : 0u;
        /* Every transaction but a duplicate or a forgery claims its id. */
        if (r != LDG_RESULT_DUPLICATE && r != LDG_RESULT_BAD_SIGNATURE) {
            rc = ldg_idset_insert(&s->pending_ids, sc.ids[i], height, i, r);
            if (rc != SQ_OK) {
                goto err_fatal;
            }
            memcpy(pb->ids[pb->id_count], sc.ids[i], LDG_HASH_BYTES);
            pb->id_index[pb->id_count] = i;
            pb->id_result[pb->id_count] = r;
            pb->id_count++;
        }
    }
    ldg_apply_rtxn_end(s);
    free(tx);
    tx = NULL;
    /* The body: count, the batch's transaction list verbatim, the results. */
    sq_le32_store(pb->body, b.tx_count);
    memcpy(pb->body + 4, b.txs, b.txs_size);
    memcpy(pb->body + 4 + b.txs_size, sc.results, b.tx_count);
    struct ldg_header hdr;
    header_base(s, &hdr, LDG_BLOCK_BATCH);
    hdr.view_id = s->view.view_id;
    hdr.proposer = b.proposer;
    hdr.batch_seq = b.seq;
    hdr.timestamp_us = b.timestamp_us;
    memcpy(hdr.batch_hash, b.hash, LDG_HASH_BYTES);
    memcpy(hdr.proposer_sig, b.sig, SQC_SIG_BYTES);
    hdr.tx_count = b.tx_count;
    if (b.tx_count == 0) {
        ldg_empty_root(hdr.tx_root);
    } else {
        rc = sqc_merkle_root(hdr.tx_root, b.tx_count, sqc_merkle_leaf_from_array, sc.leaves);
    }
    if (rc == SQ_OK) {
        rc = ldg_results_root(sc.results, b.tx_count, hdr.results_root);
    }
    if (rc != SQ_OK) {
        goto err_fatal;
    }
    rc = seal_block(s, &hdr, pb);
    pb = NULL;
    if (rc != SQ_OK) {
        goto err_fatal;
    }
    info->height = height;
    memcpy(info->hash, s->tip_hash, LDG_HASH_BYTES);
    info->tx_count = b.tx_count;
    info->ok_count = ok;
    if (opts != NULL && opts->on_result != NULL) {
        for (uint32_t i = 0; i < b.tx_count; i++) {
            opts->on_result(opts->result_arg, sc.ids[i], height, i, sc.results[i]);
        }
    }
    scratch_free(&sc);
    return SQ_OK;

err_fatal:
    /* The state may be half-changed: the store refuses further work (the node restarts from
     * the last durable block). */
    ldg_apply_rtxn_end(s);
    free(tx);
    ldg_pending_block_free(pb);
    scratch_free(&sc);
    ldg_fail_prefix(rc, "applying block %llu", (unsigned long long)(s->height + 1));
    return ldg_store_fail(s, rc);
}

bool ldg_validator_is_permitted(const struct ldg_store *s, uint32_t id,
                                const uint8_t pk[SQC_PK_BYTES])
{
    int i = ldg_state_validator_find(&s->st, id);
    return i >= 0 && memcmp(s->st.validators[i].pk, pk, SQC_PK_BYTES) == 0;
}

void ldg_view_current(const struct ldg_store *s, struct ldg_view *view, uint64_t *height)
{
    *view = s->view;
    if (height != NULL) {
        *height = s->view_height;
    }
}

static void fin_reset(struct ldg_store *s)
{
    memset(&s->fin, 0, sizeof(s->fin));
    s->fin.view_id = s->view.view_id;
    s->fin.count = s->view.member_count;
    s->fin_dirty = true;
}

static int view_block(struct ldg_store *s, struct ldg_view *view, uint64_t timestamp_us,
                      bool genesis, struct ldg_block_info *info)
{
    uint8_t record[16384];
    size_t record_size;
    int rc = ldg_view_encode(view, record, sizeof(record), &record_size);
    if (rc != SQ_OK) {
        return rc;
    }
    struct ldg_pending_block *pb = calloc(1, sizeof(*pb));
    if (pb == NULL || (pb->body = malloc(record_size)) == NULL) {
        free(pb);
        return ldg_fail(SQ_ENOMEM, "out of memory for a view-change block");
    }
    memcpy(pb->body, record, record_size);
    pb->body_size = record_size;
    struct ldg_header hdr;
    header_base(s, &hdr, LDG_BLOCK_VIEW);
    if (genesis) {
        hdr.height = 0;
        memcpy(hdr.prev_hash, s->g->digest, LDG_HASH_BYTES);
    }
    hdr.view_id = view->view_id;
    hdr.timestamp_us = timestamp_us;
    sqc_sha256(hdr.tx_root, record, record_size);
    ldg_empty_root(hdr.results_root);
    rc = seal_block(s, &hdr, pb);
    if (rc != SQ_OK) {
        return rc;
    }
    s->view = *view;
    s->view_height = hdr.height;
    memcpy(s->view_hash, s->tip_hash, LDG_HASH_BYTES);
    fin_reset(s);
    if (info != NULL) {
        info->height = hdr.height;
        memcpy(info->hash, s->tip_hash, LDG_HASH_BYTES);
    }
    return SQ_OK;
}

int ldg_view_apply(struct ldg_store *s, struct ldg_view *view, uint64_t timestamp_us,
                   struct ldg_block_info *info)
{
    memset(info, 0, sizeof(*info));
    int rc = check_writable(s);
    if (rc == SQ_OK) {
        rc = check_room(s, 16384);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_view_rules(&s->view, view);
    if (rc != SQ_OK) {
        return rc;
    }
    for (uint32_t i = 0; i < view->member_count; i++) {
        const struct ldg_member *m = &view->members[i];
        if (!ldg_validator_is_permitted(s, m->id, m->pk)) {
            return ldg_fail(SQ_EPERM, "view %llu: member %u is not a permitted validator key",
                            (unsigned long long)view->view_id, m->id);
        }
        view->members[i].addr[m->addr_size] = '\0';
    }
    view->prev_height = s->view_height;
    memcpy(view->prev_hash, s->view_hash, LDG_HASH_BYTES);
    return view_block(s, view, timestamp_us, false, info);
}

int ldg_store_create_genesis(struct ldg_store *s)
{
    int rc = ldg_state_load_genesis(&s->st);
    ldg_apply_rtxn_end(s);
    if (rc != SQ_OK) {
        return rc;
    }
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    ldg_genesis_view(s->g, view);
    rc = view_block(s, view, s->g->time_us, true, NULL);
    free(view);
    if (rc != SQ_OK) {
        return rc;
    }
    s->fresh = true;
    rc = ldg_commit(s, NULL);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "%s: creating the store", s->dir);
    }
    return SQ_OK;
}

int ldg_account_get_pending(struct ldg_store *s, const uint8_t pk[SQC_PK_BYTES],
                            struct ldg_account *acct)
{
    memset(acct, 0, sizeof(*acct));
    struct ldg_acct *a;
    int rc = ldg_state_acct(&s->st, pk, &a);
    ldg_apply_rtxn_end(s);
    if (rc != SQ_OK) {
        return rc;
    }
    acct->balance = a->balance;
    acct->nonce = a->nonce;
    acct->client = (a->flags & LDG_ACCT_CLIENT) != 0;
    return SQ_OK;
}

/* ---- group commit ---- */

int ldg_commit_begin(struct ldg_store *s, struct ldg_commit **out)
{
    *out = NULL;
    int rc = check_writable(s);
    if (rc != SQ_OK) {
        return rc;
    }
    if (s->outstanding != NULL) {
        return ldg_fail(SQ_ESTATE, "a commit group is already out");
    }
    /* Every apply-thread call closes its read transaction before returning; one left open would
     * block a map resize forever. */
    SQ_ASSERT(s->rtxn == NULL);
    if (s->pending_count == 0 && s->cert_count == 0 && !s->fin_dirty) {
        return SQ_EAGAIN;
    }
    struct ldg_commit *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory for a commit group");
    }
    size_t nb = s->pending_count;
    c->blocks = malloc((nb ? nb : 1) * sizeof(*c->blocks));
    c->accts = malloc((s->st.touched_count ? s->st.touched_count : 1) * sizeof(*c->accts));
    if (c->blocks == NULL || c->accts == NULL) {
        goto err_nomem;
    }
    if (s->st.validators_dirty) {
        c->validators = malloc(LDG_VALIDATORS_MAX * sizeof(*c->validators));
        if (c->validators == NULL) {
            goto err_nomem;
        }
        c->validators_dirty = true;
        c->validator_count = s->st.validator_count;
        memcpy(c->validators, s->st.validators, s->st.validator_count * sizeof(*c->validators));
        s->st.validators_dirty = false;
    }
    for (size_t i = 0; i < nb; i++) {
        c->blocks[i] = ldg_pending_at(s, i);
    }
    c->block_count = nb;
    /* The accounts changed since the last group, with their values now (= after the group's
     * last block: apply runs on this thread, so nothing newer exists yet). */
    for (size_t i = 0; i < s->st.touched_count; i++) {
        struct ldg_acct *a;
        rc = ldg_state_acct(&s->st, s->st.touched[i], &a);
        SQ_ASSERT(rc == SQ_OK); /* touched entries are dirty, so cached: no load, no insert */
        struct ldg_commit_acct *ca = &c->accts[i];
        memcpy(ca->pk, a->pk, SQC_PK_BYTES);
        ldg_acct_record_encode(a, ca->record);
        ca->zero = a->balance == 0 && a->nonce == 0 && a->flags == 0;
    }
    c->acct_count = s->st.touched_count;
    s->st.touched_count = 0;
    s->st.touch_gen++;
    c->certs = s->certs;
    c->cert_count = s->cert_count;
    if (s->fin_dirty) {
        rc = ldg_fin_track_encode(&s->fin, c->fin, sizeof(c->fin), &c->fin_size);
        SQ_ASSERT(rc == SQ_OK);
        c->fin_dirty = true;
        s->fin_dirty = false;
    }
    c->tip_height = s->height;
    memcpy(c->tip_hash, s->tip_hash, LDG_HASH_BYTES);
    c->acc = s->acc;
    c->view_id = s->view.view_id;
    c->view_height = s->view_height;
    memcpy(c->view_hash, s->view_hash, LDG_HASH_BYTES);
    c->certified = s->certified_pending;
    c->first = s->fresh;
    s->handed = nb;
    s->certs_handed = s->cert_count;
    s->outstanding = c;
    *out = c;
    return SQ_OK;

err_nomem:
    free(c->blocks);
    free(c->accts);
    free(c->validators);
    free(c);
    return ldg_fail(SQ_ENOMEM, "out of memory for a commit group");
}

int ldg_commit_write(struct ldg_store *s, struct ldg_commit *c)
{
    SQ_ASSERT(c != NULL);
    int rc = ldg_store_write_group(s, c);
    if (rc != SQ_OK) {
        ldg_store_fail(s, rc);
    }
    c->result = rc;
    return rc;
}

void ldg_commit_end(struct ldg_store *s, struct ldg_commit *c)
{
    SQ_ASSERT(c == s->outstanding);
    if (c->result == SQ_OK) {
        for (size_t i = 0; i < c->block_count; i++) {
            struct ldg_pending_block *b = ldg_pending_at(s, 0);
            SQ_ASSERT(b == c->blocks[i]);
            for (uint32_t j = 0; j < b->id_count; j++) {
                ldg_idset_remove(&s->pending_ids, b->ids[j]);
            }
            s->pending_bytes -= b->header_size + b->body_size;
            s->pending_head = (s->pending_head + 1) % LDG_PENDING_BLOCKS_MAX;
            s->pending_count--;
            ldg_pending_block_free(b);
        }
        memmove(s->certs, s->certs + s->certs_handed,
                (s->cert_count - s->certs_handed) * sizeof(*s->certs));
        s->cert_count -= s->certs_handed;
        s->fresh = false;
        __atomic_store_n(&s->persisted_height, c->tip_height, __ATOMIC_RELEASE);
        __atomic_store_n(&s->certified_height, c->certified, __ATOMIC_RELEASE);
        if (ldg_store_trim_cache(s) != SQ_OK) {
            SQ_WARN("ledger", "account cache not trimmed", "reason=\"%s\"", ldg_errmsg());
        }
    }
    s->handed = 0;
    s->certs_handed = 0;
    s->outstanding = NULL;
    free(c->blocks);
    free(c->accts);
    free(c->validators);
    free(c);
}

int ldg_commit(struct ldg_store *s, uint64_t *persisted_height)
{
    struct ldg_commit *c;
    int rc = ldg_commit_begin(s, &c);
    if (rc == SQ_EAGAIN) {
        rc = SQ_OK;
    } else if (rc == SQ_OK) {
        rc = ldg_commit_write(s, c);
        ldg_commit_end(s, c);
    }
    if (persisted_height != NULL) {
        *persisted_height = ldg_store_persisted_height(s);
    }
    return rc;
}

/* ---- finality ---- */

/* Hash, view and accumulator root of applied block `height`. Apply thread. */
static int block_facts(struct ldg_store *s, uint64_t height, uint8_t hash[LDG_HASH_BYTES],
                       uint64_t *view_id, uint8_t root[LDG_HASH_BYTES])
{
    uint64_t persisted = ldg_store_persisted_height(s);
    if (height > persisted) {
        /* Pending blocks are heights persisted+1 .. s->height, in order. */
        struct ldg_pending_block *b = ldg_pending_at(s, (size_t)(height - persisted - 1));
        SQ_ASSERT(b->height == height);
        memcpy(hash, b->hash, LDG_HASH_BYTES);
        *view_id = b->view_id;
        memcpy(root, b->acc_root, LDG_HASH_BYTES);
        return SQ_OK;
    }
    MDB_txn *txn;
    int rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    struct ldg_header hdr;
    rc = ldg_read_header(s, txn, height, &hdr, hash, NULL, NULL);
    if (rc == SQ_OK) {
        *view_id = hdr.view_id;
        rc = ldg_txn_acc_root(s, txn, height + 1, root);
    }
    ldg_rtxn_end(s, txn);
    return rc;
}

int ldg_finality_make(struct ldg_store *s, uint32_t signer, const struct sqc_keypair *kp,
                      uint64_t height, struct ldg_finality *out)
{
    memset(out, 0, sizeof(*out));
    if (height > s->height) {
        return ldg_fail(SQ_ENOTFOUND, "block %llu is not applied yet", (unsigned long long)height);
    }
    int rc = block_facts(s, height, out->block_hash, &out->view_id, out->acc_root);
    if (rc != SQ_OK) {
        return rc;
    }
    out->signer = signer;
    out->height = height;
    uint8_t digest[LDG_HASH_BYTES];
    ldg_finality_digest(s->g->chain_id, s->g->chain_id_size, out, digest);
    sqc_sign_digest(kp, SQC_DOMAIN_FINALITY, digest, out->sig);
    return SQ_OK;
}

int ldg_finality_add(struct ldg_store *s, const struct ldg_finality *f, uint64_t *certified)
{
    if (certified != NULL) {
        *certified = s->certified_pending;
    }
    int rc = check_writable(s);
    if (rc != SQ_OK) {
        return rc;
    }
    if (f->height > s->height) {
        return ldg_fail(SQ_EAGAIN, "finality signature for block %llu, applied up to %llu",
                        (unsigned long long)f->height, (unsigned long long)s->height);
    }
    uint8_t hash[LDG_HASH_BYTES];
    uint8_t root[LDG_HASH_BYTES];
    uint64_t view_id;
    rc = block_facts(s, f->height, hash, &view_id, root);
    if (rc != SQ_OK) {
        return rc;
    }
    if (f->view_id != view_id) {
        return ldg_fail(SQ_EPROOF,
                        "validator %u signed block %llu in view %llu; it is in view %llu",
                        f->signer, (unsigned long long)f->height, (unsigned long long)f->view_id,
                        (unsigned long long)view_id);
    }
    if (view_id != s->fin.view_id) {
        return ldg_fail(SQ_EVIEW, "finality signature of view %llu; collecting view %llu",
                        (unsigned long long)view_id, (unsigned long long)s->fin.view_id);
    }
    int mi = member_index(&s->view, f->signer);
    if (mi < 0) {
        return ldg_fail(SQ_EPERM, "validator %u is not a member of view %llu", f->signer,
                        (unsigned long long)view_id);
    }
    if (memcmp(hash, f->block_hash, LDG_HASH_BYTES) != 0) {
        return ldg_fail(SQ_EPROOF, "validator %u signed another hash for block %llu", f->signer,
                        (unsigned long long)f->height);
    }
    if (memcmp(root, f->acc_root, LDG_HASH_BYTES) != 0) {
        return ldg_fail(SQ_EPROOF, "validator %u signed another accumulator root at %llu",
                        f->signer, (unsigned long long)f->height);
    }
    uint8_t digest[LDG_HASH_BYTES];
    ldg_finality_digest(s->g->chain_id, s->g->chain_id_size, f, digest);
    if (sqc_verify_digest(s->view.members[mi].pk, SQC_DOMAIN_FINALITY, digest, f->sig) != SQ_OK) {
        return ldg_fail(SQ_EBADSIG, "finality signature of validator %u at %llu does not verify",
                        f->signer, (unsigned long long)f->height);
    }
    if (s->fin.have[mi] && s->fin.latest[mi].height >= f->height) {
        return SQ_OK; /* not newer than what we hold */
    }
    s->fin.have[mi] = true;
    s->fin.latest[mi] = *f;
    s->fin_dirty = true;
    uint64_t low = UINT64_MAX;
    for (uint32_t i = 0; i < s->fin.count; i++) {
        if (!s->fin.have[i]) {
            return SQ_OK;
        }
        low = s->fin.latest[i].height < low ? s->fin.latest[i].height : low;
    }
    if (low <= s->certified_pending && s->certified_pending != 0) {
        return SQ_OK;
    }
    /* Every member signed at a height >= low: a certificate for everything up to low. When the
     * table is full, the newest unhanded record is replaced (a later record covers more). */
    struct ldg_pending_cert *pc;
    if (s->cert_count < LDG_PENDING_CERTS_MAX) {
        pc = &s->certs[s->cert_count++];
    } else if (s->certs_handed < s->cert_count) {
        pc = &s->certs[s->cert_count - 1];
    } else {
        return ldg_fail(SQ_EFULL, "certificates wait for a commit");
    }
    pc->height = low;
    pc->rec.view_id = s->fin.view_id;
    pc->rec.count = s->fin.count;
    memcpy(pc->rec.sigs, s->fin.latest, s->fin.count * sizeof(s->fin.latest[0]));
    s->certified_pending = low;
    if (certified != NULL) {
        *certified = low;
    }
    return SQ_OK;
}
