/* The validator's loop side: delivery into the ledger, group commit, finality, the batcher,
 * admission, long-polls, and the group's life (start, wedge, regroup). See node/node.h. */
#include "node/node.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "node/node_int.h"
#include "rpc/rpc.h"

#define SIG_RETRY_MS 20
#define JOIN_CHECK_MS 50

static uint64_t now_ns(void)
{
    return sq_clock_now(sq_clock_monotonic());
}

static void set_u64(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static void set_phase(struct node *n, int phase)
{
    int old = __atomic_load_n(&n->phase, __ATOMIC_ACQUIRE);
    if (old == phase || old == NODE_PHASE_FAILED) {
        return;
    }
    __atomic_store_n(&n->phase, phase, __ATOMIC_RELEASE);
    SQ_INFO("node", "phase", "from=%s to=%s height=%llu", node_phase_name(old),
            node_phase_name(phase), (unsigned long long)ldg_store_height(n->store));
}

const char *node_phase_name(int phase)
{
    switch (phase) {
    case NODE_PHASE_SYNCING:
        return "syncing";
    case NODE_PHASE_JOINING:
        return "joining";
    case NODE_PHASE_RUNNING:
        return "running";
    case NODE_PHASE_STOPPING:
        return "stopping";
    case NODE_PHASE_FAILED:
        return "failed";
    }
    return "unknown";
}

/* The node cannot go on (the caller logged why at level fatal): refuse work, exit 1. */
static void stop_failed(struct node *n)
{
    __atomic_store_n(&n->phase, NODE_PHASE_FAILED, __ATOMIC_RELEASE);
    n->exit_code = 1;
    sq_loop_stop(n->loop);
}

static void fatal(struct node *n, const char *what)
{
    SQ_FATAL("node", "fatal storage error: stopping; restart the validator", "what=\"%s\" "
             "reason=\"%s\"", what, ldg_errmsg());
    stop_failed(n);
}

static bool failed(const struct node *n)
{
    return __atomic_load_n(&n->phase, __ATOMIC_ACQUIRE) == NODE_PHASE_FAILED;
}

/* ---- metrics ---- */

static int metrics_init(struct node *n)
{
    struct sq_metrics *r = &n->m.reg;
    struct node_metrics *m = &n->m;
    const char *tx = "Transactions by outcome";
    m->tx_accepted = sq_metrics_counter(r, "squall_txs_total", tx, "outcome=\"accepted\"");
    m->tx_rejected = sq_metrics_counter(r, "squall_txs_total", tx, "outcome=\"rejected\"");
    m->tx_ok = sq_metrics_counter(r, "squall_txs_total", tx, "outcome=\"ok\"");
    m->tx_failed = sq_metrics_counter(r, "squall_txs_total", tx, "outcome=\"failed\"");
    m->tx_expired = sq_metrics_counter(r, "squall_txs_total", tx, "outcome=\"expired\"");
    m->blocks = sq_metrics_counter(r, "squall_blocks_total", "Blocks applied", NULL);
    m->view_changes = sq_metrics_counter(r, "squall_view_changes_total",
                                         "Views installed here (view-change blocks written)",
                                         NULL);
    m->batches_sent = sq_metrics_counter(r, "squall_batches_sent_total",
                                         "Batches this validator multicast", NULL);
    m->commits = sq_metrics_counter(r, "squall_commits_total", "Durable LMDB commits", NULL);
    m->commit_seconds = sq_metrics_histogram(r, "squall_commit_seconds",
                                             "Time of one durable LMDB group commit", NULL,
                                             sq_metrics_latency_bounds_s,
                                             sq_metrics_latency_bounds_count);
    const char *h = "Chain height by state";
    m->h_ordered = sq_metrics_gauge(r, "squall_height", h, "state=\"ordered\"");
    m->h_persisted = sq_metrics_gauge(r, "squall_height", h, "state=\"persisted\"");
    m->h_final = sq_metrics_gauge(r, "squall_height", h, "state=\"final\"");
    m->mempool_txs = sq_metrics_gauge(r, "squall_mempool_txs", "Accepted transactions", NULL);
    m->mempool_bytes = sq_metrics_gauge(r, "squall_mempool_bytes", "Their bytes", NULL);
    const char *lat = "Latency from admission";
    m->lat_ordered = sq_metrics_histogram(r, "squall_tx_latency_seconds", lat,
                                          "stage=\"ordered\"", sq_metrics_latency_bounds_s,
                                          sq_metrics_latency_bounds_count);
    m->lat_persisted = sq_metrics_histogram(r, "squall_tx_latency_seconds", lat,
                                            "stage=\"persisted\"", sq_metrics_latency_bounds_s,
                                            sq_metrics_latency_bounds_count);
    m->lat_final = sq_metrics_histogram(r, "squall_tx_latency_seconds", lat, "stage=\"final\"",
                                        sq_metrics_latency_bounds_s,
                                        sq_metrics_latency_bounds_count);
    if (m->lat_final == NULL) {
        return SQ_EFULL;
    }
    for (uint32_t i = 0; i < n->view.member_count; i++) {
        if (i == n->my_rank) {
            continue;
        }
        snprintf(m->peer_labels[i], sizeof(m->peer_labels[i]), "peer=\"%u\"",
                 n->view.members[i].id);
        m->peer_lag[i] = sq_metrics_gauge(r, "squall_peer_lag_blocks",
                                          "Blocks between my newest and the newest the peer "
                                          "signed",
                                          m->peer_labels[i]);
        if (m->peer_lag[i] == NULL) {
            return SQ_EFULL;
        }
        m->peer_ids[i] = n->view.members[i].id;
    }
    return SQ_OK;
}

static void metrics_heights(struct node *n)
{
    sq_metric_set(n->m.h_ordered, (int64_t)n->h_ordered);
    sq_metric_set(n->m.h_persisted, (int64_t)n->h_persisted);
    sq_metric_set(n->m.h_final, (int64_t)n->h_final);
    uint32_t txs = node_mempool_accepted(n->mp);
    uint64_t bytes = node_mempool_bytes(n->mp);
    sq_metric_set(n->m.mempool_txs, txs);
    sq_metric_set(n->m.mempool_bytes, (int64_t)bytes);
    __atomic_store_n(&n->a_mempool_txs, txs, __ATOMIC_RELEASE);
    __atomic_store_n(&n->a_mempool_bytes, bytes, __ATOMIC_RELEASE);
}

/* ---- versions and heights ---- */

uint64_t node_height_of(const struct node *n, int64_t version)
{
    SQ_ASSERT(version >= 0);
    uint64_t skipped = 0;
    for (uint32_t i = 0; i < n->rejected_count && n->rejected[i] <= version; i++) {
        skipped++;
    }
    return (uint64_t)version - skipped;
}

int64_t node_version_of(const struct node *n, uint64_t height)
{
    int64_t v = (int64_t)height;
    for (uint32_t i = 0; i < n->rejected_count; i++) {
        if (n->rejected[i] <= v) {
            v++;
        }
    }
    return v > n->last_version ? n->last_version : v;
}

int node_block_hash(struct node *n, uint64_t height, uint8_t hash[LDG_HASH_BYTES])
{
    size_t slot = height % NODE_HASH_RING;
    if (n->ring_height[slot] == height && height != 0) {
        memcpy(hash, n->ring_hash[slot], LDG_HASH_BYTES);
        return SQ_OK;
    }
    struct ldg_header hdr;
    return ldg_header_get(n->store, height, &hdr, hash);
}

/* ---- waiters ---- */

static bool state_reached(int state, int target)
{
    if (state == NODE_TX_FAILED || state == NODE_TX_EXPIRED) {
        return true;
    }
    return state >= target;
}

static void waiter_reply(struct node *n, struct node_waiter *w)
{
    struct node_tx *t = w->tx;
    /* unlink from the transaction and from the global list */
    struct node_waiter **pp = &t->waiters;
    while (*pp != w) {
        pp = &(*pp)->next;
    }
    *pp = w->next;
    if (w->all_prev != NULL) {
        w->all_prev->all_next = w->all_next;
    } else {
        n->waiters = w->all_next;
    }
    if (w->all_next != NULL) {
        w->all_next->all_prev = w->all_prev;
    }
    n->waiter_count--;
    sq_loop_timer_stop(n->loop, &w->timer);
    json_t *j = node_api_tx_json(n, t->id, t->state, t->height, t->index, t->result);
    rpc_reply_json(w->req, 200, j);
    free(w);
}

static void wake_waiters(struct node *n, struct node_tx *t, bool all)
{
    struct node_waiter *w = t->waiters;
    while (w != NULL) {
        struct node_waiter *next = w->next;
        if (all || state_reached(t->state, w->target)) {
            waiter_reply(n, w);
        }
        w = next;
    }
}

static void waiter_timeout(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct node_waiter *w = arg;
    waiter_reply(w->node, w);
}

/* Called by the mempool when an entry changes state (and before a final entry is freed). */
static void tx_changed(void *arg, struct node_tx *t)
{
    struct node *n = arg;
    uint64_t now = now_ns();
    if (t->admit_ns != 0) {
        double s = (double)(now - t->admit_ns) / 1e9;
        if (t->state == NODE_TX_PERSISTED) {
            sq_metric_observe(n->m.lat_persisted, s);
        } else if (t->state == NODE_TX_FINAL) {
            sq_metric_observe(n->m.lat_final, s);
        }
    }
    if (t->state == NODE_TX_EXPIRED) {
        sq_metric_add(n->m.tx_expired, 1);
    }
    /* A freed (final) entry must lose its waiters now. */
    bool final = t->state == NODE_TX_FINAL || (t->state == NODE_TX_FAILED && t->height <= n->h_final);
    wake_waiters(n, t, final);
}

void node_tx_query(struct node *n, struct rpc_request *req, const uint8_t txid[LDG_HASH_BYTES],
                   int target, uint32_t timeout_ms)
{
    struct node_tx *t = node_mempool_find(n->mp, txid);
    if (t == NULL) {
        uint64_t height;
        uint32_t index;
        uint8_t result;
        int rc = ldg_tx_find(n->store, txid, &height, &index, &result);
        if (rc == SQ_ENOTFOUND) {
            rpc_reply_error(req, 404, "not_found", "no transaction with this id");
            return;
        }
        if (rc != SQ_OK) {
            rpc_reply_error(req, 500, "internal", "cannot read the transaction index: %s",
                            ldg_errmsg());
            return;
        }
        int state = result != LDG_RESULT_OK             ? NODE_TX_FAILED
                    : height <= n->h_final              ? NODE_TX_FINAL
                    : height <= n->h_persisted          ? NODE_TX_PERSISTED
                                                        : NODE_TX_ORDERED;
        /* Committed but not tracked (the table was full): answer what is known now. */
        rpc_reply_json(req, 200, node_api_tx_json(n, txid, state, height, index, result));
        return;
    }
    if (target < 0 || state_reached(t->state, target) || n->waiter_count >= NODE_WAITERS_MAX ||
        timeout_ms == 0) {
        rpc_reply_json(req, 200, node_api_tx_json(n, txid, t->state, t->height, t->index,
                                                   t->result));
        return;
    }
    struct node_waiter *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        rpc_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    w->node = n;
    w->req = req;
    w->tx = t;
    w->target = (uint8_t)target;
    sq_timer_init(&w->timer, waiter_timeout, w);
    if (sq_loop_timer_start(n->loop, &w->timer, (uint64_t)timeout_ms * SQ_NS_PER_MS) != SQ_OK) {
        free(w);
        rpc_reply_json(req, 200, node_api_tx_json(n, txid, t->state, t->height, t->index,
                                                   t->result));
        return;
    }
    w->next = t->waiters;
    t->waiters = w;
    w->all_next = n->waiters;
    if (n->waiters != NULL) {
        n->waiters->all_prev = w;
    }
    n->waiters = w;
    n->waiter_count++;
}

bool node_tx_is_pending(struct node *n, const uint8_t txid[LDG_HASH_BYTES])
{
    struct node_tx *t = node_mempool_find(n->mp, txid);
    return t != NULL && t->state != NODE_TX_EXPIRED;
}

static void answer_all_waiters(struct node *n)
{
    while (n->waiters != NULL) {
        waiter_reply(n, n->waiters);
    }
}

/* ---- the persistence thread (group commit) ---- */

static void *persist_main(void *arg)
{
    struct node *n = arg;
    sq_log_set_node(NULL);
    pthread_mutex_lock(&n->p_mu);
    for (;;) {
        while (n->p_job == NULL && !n->p_stop) {
            pthread_cond_wait(&n->p_cv, &n->p_mu);
        }
        if (n->p_job == NULL && n->p_stop) {
            break;
        }
        struct ldg_commit *c = n->p_job;
        pthread_mutex_unlock(&n->p_mu);
        uint64_t t0 = now_ns();
        int rc = ldg_commit_write(n->store, c);
        sq_metric_observe(n->m.commit_seconds, (double)(now_ns() - t0) / 1e9);
        if (rc != SQ_OK) {
            SQ_ERROR("node", "commit failed", "rc=%s reason=\"%s\"", sq_errname(rc), ldg_errmsg());
        }
        pthread_mutex_lock(&n->p_mu);
        n->p_job = NULL;
        n->p_done = true;
        pthread_cond_broadcast(&n->p_cv);
        uint64_t one = 1;
        ssize_t w = write(n->p_efd, &one, sizeof(one));
        (void)w;
    }
    pthread_mutex_unlock(&n->p_mu);
    return NULL;
}

static void after_commit(struct node *n);

/* Ends the outstanding group once the thread is done with it (waiting if `wait`). Returns true
 * when no group is out afterwards. */
static bool commit_reap(struct node *n, bool wait)
{
    if (n->p_out == NULL) {
        return true;
    }
    pthread_mutex_lock(&n->p_mu);
    while (wait && !n->p_done) {
        pthread_cond_wait(&n->p_cv, &n->p_mu);
    }
    bool done = n->p_done;
    n->p_done = false;
    pthread_mutex_unlock(&n->p_mu);
    if (!done) {
        return false;
    }
    struct ldg_commit *c = n->p_out;
    n->p_out = NULL;
    ldg_commit_end(n->store, c);
    sq_metric_add(n->m.commits, 1);
    if (ldg_store_is_failed(n->store)) {
        fatal(n, "commit");
        return true;
    }
    after_commit(n);
    return true;
}

/* Hands everything applied (and any new certificate) to the persistence thread if it is idle. */
static void commit_kick(struct node *n)
{
    if (n->p_out != NULL || failed(n)) {
        return;
    }
    struct ldg_commit *c;
    int rc = ldg_commit_begin(n->store, &c);
    if (rc == SQ_EAGAIN) {
        return;
    }
    if (rc != SQ_OK) {
        fatal(n, "commit begin");
        return;
    }
    n->p_out = c;
    pthread_mutex_lock(&n->p_mu);
    n->p_job = c;
    n->p_done = false;
    pthread_cond_signal(&n->p_cv);
    pthread_mutex_unlock(&n->p_mu);
}

static void on_persist_fd(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    struct node *n = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof(v));
    (void)r;
    commit_reap(n, false);
    commit_kick(n);
}

int node_commit_all(struct node *n)
{
    for (int i = 0; i < 4; i++) {
        commit_reap(n, true);
        if (failed(n)) {
            return SQ_EIO;
        }
        commit_kick(n);
        if (n->p_out == NULL) {
            break;
        }
    }
    commit_reap(n, true);
    return failed(n) ? SQ_EIO : SQ_OK;
}

static void advance_states(struct node *n)
{
    node_mempool_advance(n->mp, n->h_persisted, n->h_final, tx_changed, n);
    metrics_heights(n);
}

static void after_commit(struct node *n)
{
    uint64_t local = ldg_store_persisted_height(n->store);
    set_u64(&n->h_local, local);
    uint64_t fin = ldg_store_certified_height(n->store);
    if (fin > n->h_final) {
        set_u64(&n->h_final, fin);
        if (fin > n->h_persisted) {
            set_u64(&n->h_persisted, fin); /* a certificate needs every member's disk */
        }
        advance_states(n);
    }
    if (n->cons != NULL && n->last_version >= n->version_base) {
        int64_t v = node_version_of(n, local);
        if (v > n->persisted_reported) {
            n->persisted_reported = v;
            node_cons_report_persisted(n->cons, v);
        }
    }
}

/* ---- delivery ---- */

static bool tx_verified(void *arg, const uint8_t txid[LDG_HASH_BYTES])
{
    struct node *n = arg;
    if (!n->cfg.verify_peer_txs) {
        return true; /* the proposer verified it; its batch signature vouches (config.h) */
    }
    struct node_tx *t = node_mempool_find(n->mp, txid);
    return t != NULL && t->state == NODE_TX_ACCEPTED && t->admit_ns != 0;
}

static void tx_result(void *arg, const uint8_t txid[LDG_HASH_BYTES], uint64_t height,
                      uint32_t index, enum ldg_result result)
{
    struct node *n = arg;
    if (result == LDG_RESULT_OK) {
        sq_metric_add(n->m.tx_ok, 1);
    } else {
        sq_metric_add(n->m.tx_failed, 1);
    }
    struct node_tx *t = node_mempool_ordered(n->mp, txid, height, index, (uint8_t)result);
    if (t == NULL) {
        return;
    }
    if (t->admit_ns != 0) {
        sq_metric_observe(n->m.lat_ordered, (double)(now_ns() - t->admit_ns) / 1e9);
    }
    if (t->waiters != NULL) {
        wake_waiters(n, t, false);
    }
}

/* Applies one batch as the next block, committing first if the ledger's pending window is full. */
static int apply_batch(struct node *n, uint64_t view_id, const uint8_t *data, size_t size,
                       struct ldg_block_info *info)
{
    struct ldg_apply_opts o = {.verified = tx_verified, .verified_arg = n, .pool = n->pool,
                               .on_result = tx_result, .result_arg = n};
    int rc = ldg_batch_apply(n->store, view_id, data, size, &o, info);
    if (rc == SQ_EFULL) {
        if (node_commit_all(n) != SQ_OK) {
            return SQ_EIO;
        }
        rc = ldg_batch_apply(n->store, view_id, data, size, &o, info);
    }
    return rc;
}

static void block_applied(struct node *n, const struct ldg_block_info *info)
{
    size_t slot = info->height % NODE_HASH_RING;
    n->ring_height[slot] = info->height;
    memcpy(n->ring_hash[slot], info->hash, LDG_HASH_BYTES);
    set_u64(&n->h_ordered, info->height);
    sq_metric_add(n->m.blocks, 1);
    commit_kick(n);
    metrics_heights(n);
}

static void on_deliver(void *ctx, uint32_t sender, int64_t version, const uint8_t *data,
                       size_t size)
{
    struct node *n = ctx;
    SQ_ASSERT(version == n->last_version + 1);
    n->last_version = version;
    if (failed(n)) {
        return;
    }
    struct ldg_block_info info;
    int rc = apply_batch(n, n->view.view_id, data, size, &info);
    if (rc == SQ_OK) {
        SQ_ASSERT(info.height == node_height_of(n, version));
        block_applied(n, &info);
        return;
    }
    if (rc == SQ_ESTATE || rc == SQ_EIO || rc == SQ_ENOSPC || rc == SQ_ENOMEM ||
        ldg_store_is_failed(n->store)) {
        fatal(n, "apply");
        return;
    }
    /* A batch every validator refuses alike (only a faulty proposer sends one): it consumes the
     * version without a block. */
    SQ_ERROR("node", "refused a delivered batch", "proposer=%u version=%lld rc=%s reason=\"%s\"",
             sender, (long long)version, sq_errname(rc), ldg_errmsg());
    if (n->rejected_count == NODE_REJECTED_MAX) {
        SQ_ERROR("node", "too many refused batches in this group; stopping it", "");
        n->regroup_pending = true;
        sq_loop_timer_stop(n->loop, &n->join_timer);
        sq_loop_timer_start(n->loop, &n->join_timer, 0);
        return;
    }
    n->rejected[n->rejected_count++] = version;
}

/* ---- catch-up: replaying a peer's block ---- */

/* Rebuilds the proposer's signed batch from a batch block: the header keeps the batch's fields and
 * signature and the body keeps its transaction list in the same (u32 size, bytes) form
 * (docs/formats.md, "Batch", "Block"). The result hashes to hdr.batch_hash only if it is exactly
 * the batch the proposer signed. *out is malloc'd. */
static int batch_from_block(const struct ldg_block *blk, uint8_t **out, size_t *size)
{
    const struct ldg_header *h = &blk->hdr;
    size_t cap = (size_t)h->chain_id_size + 26 + blk->txs_size + SQC_SIG_BYTES;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return SQ_ENOMEM;
    }
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_u8(&enc, LDG_FORMAT_VERSION);
    sq_enc_u8(&enc, h->chain_id_size);
    sq_enc_bytes(&enc, h->chain_id, h->chain_id_size);
    sq_enc_u32(&enc, h->proposer);
    sq_enc_u64(&enc, h->batch_seq);
    sq_enc_u64(&enc, h->timestamp_us);
    sq_enc_u32(&enc, h->tx_count);
    sq_enc_bytes(&enc, blk->txs, blk->txs_size);
    size_t signed_size = sq_enc_len(&enc);
    sq_enc_bytes(&enc, h->proposer_sig, SQC_SIG_BYTES);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    uint8_t digest[LDG_HASH_BYTES];
    sqc_sha256(digest, buf, signed_size);
    if (memcmp(digest, h->batch_hash, LDG_HASH_BYTES) != 0) {
        free(buf);
        return SQ_ECORRUPT;
    }
    *out = buf;
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

int node_apply_fetched(struct node *n, const uint8_t *block, size_t size, char *errbuf,
                       size_t errbuf_size)
{
    struct ldg_block blk;
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return SQ_ENOMEM;
    }
    int rc = ldg_block_decode(block, size, &blk, view);
    uint64_t next = ldg_store_height(n->store) + 1;
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "the block does not decode: %s", ldg_errmsg());
        goto out;
    }
    if (blk.hdr.height != next) {
        snprintf(errbuf, errbuf_size, "block %llu arrived; %llu is next here",
                 (unsigned long long)blk.hdr.height, (unsigned long long)next);
        rc = SQ_EINVAL;
        goto out;
    }
    struct ldg_block_info info;
    if (blk.hdr.kind == LDG_BLOCK_BATCH) {
        uint8_t *batch;
        size_t bsize;
        rc = batch_from_block(&blk, &batch, &bsize);
        if (rc != SQ_OK) {
            snprintf(errbuf, errbuf_size, "the block's batch is not the one its proposer signed");
            goto out;
        }
        rc = apply_batch(n, blk.hdr.view_id, batch, bsize, &info);
        free(batch);
    } else {
        /* View-change blocks come only with view changes (issue 6); the group's view then
         * comes from the view installed, and n->view must be published to HTTP threads
         * safely at that point. */
        rc = ldg_view_apply(n->store, view, blk.hdr.timestamp_us, &info);
    }
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "the ledger refuses the block: %s", ldg_errmsg());
        if (ldg_store_is_failed(n->store)) {
            fatal(n, "apply");
        }
        goto out;
    }
    if (memcmp(info.hash, blk.hash, LDG_HASH_BYTES) != 0) {
        /* Applied but different: this chain and the peer's diverge. Nothing can undo a pending
         * block, so stop before committing it. */
        snprintf(errbuf, errbuf_size, "replaying block %llu gives another hash than the peer's",
                 (unsigned long long)info.height);
        SQ_FATAL("sync", "chains diverge", "height=%llu", (unsigned long long)info.height);
        stop_failed(n);
        rc = SQ_EPROOF;
        goto out;
    }
    block_applied(n, &info);
out:
    free(view);
    return rc;
}

/* ---- finality ---- */

/* My facts (hash, view, accumulator root) at `height`, signed by me. */
static int my_finality(struct node *n, uint64_t height, struct ldg_finality *f)
{
    if (n->fin_cache_ok && n->fin_cache.height == height) {
        *f = n->fin_cache;
        return SQ_OK;
    }
    int rc = ldg_finality_make(n->store, n->cfg.id, &n->key, height, f);
    if (rc == SQ_OK) {
        n->fin_cache = *f;
        n->fin_cache_ok = true;
    }
    return rc;
}

static void finality_added(struct node *n, uint64_t certified)
{
    if (certified > n->h_final) {
        /* Every member signed a block at or above `certified`, and every member had it on disk
         * before signing: final now (DESIGN.md step 5). The certificate itself is stored with
         * the next commit; were it lost in a crash, later signatures cover these blocks again
         * (ldg_cert_build takes the lowest stored certificate at or above a height). */
        set_u64(&n->h_final, certified);
        if (certified > n->h_persisted) {
            set_u64(&n->h_persisted, certified);
        }
        advance_states(n);
        commit_kick(n);
    }
}

static void on_persisted(void *ctx, int64_t version)
{
    struct node *n = ctx;
    uint64_t h = node_height_of(n, version);
    if (h > n->h_persisted) {
        set_u64(&n->h_persisted, h);
        advance_states(n);
    }
    if (h <= n->signed_height || version <= n->signed_version || failed(n)) {
        return;
    }
    /* Sign the newest block every member has on disk (DESIGN.md, step 5): because blocks are
     * hash-chained, it covers every block before it. */
    struct ldg_finality f;
    int rc = my_finality(n, h, &f);
    if (rc != SQ_OK) {
        SQ_WARN("node", "cannot sign finality", "height=%llu reason=\"%s\"",
                (unsigned long long)h, ldg_errmsg());
        return;
    }
    n->signed_height = h;
    n->signed_version = version;
    node_cons_report_signed(n->cons, version, f.sig);
    uint64_t certified = 0;
    rc = ldg_finality_add(n->store, &f, &certified);
    if (rc != SQ_OK) {
        SQ_WARN("node", "own finality signature refused", "height=%llu reason=\"%s\"",
                (unsigned long long)h, ldg_errmsg());
        return;
    }
    finality_added(n, certified);
}

/* Reads every peer's latest signature from the table and records the new ones (PROTOCOL.md §6.3:
 * verified against my own block at that height, never compared as bytes). */
static void scan_signatures(struct node *n)
{
    if (n->cons == NULL) {
        return;
    }
    bool retry = false;
    int64_t verified = n->signed_version;
    for (uint32_t r = 0; r < n->view.member_count; r++) {
        if (r == n->my_rank) {
            continue;
        }
        uint32_t id = n->view.members[r].id;
        int64_t v;
        uint8_t sig[NODE_SIG_BYTES];
        int rc = node_cons_signature(n->cons, id, &v, sig);
        if (rc == SQ_OK && v > n->sig_seen[r] && v >= n->version_base && v <= n->last_version) {
            uint64_t h = node_height_of(n, v);
            struct ldg_finality f;
            rc = my_finality(n, h, &f);
            if (rc == SQ_OK) {
                f.signer = id;
                memcpy(f.sig, sig, SQC_SIG_BYTES);
                uint64_t certified = 0;
                rc = ldg_finality_add(n->store, &f, &certified);
                if (rc == SQ_OK) {
                    n->sig_seen[r] = v;
                    uint64_t lag = n->h_ordered > h ? n->h_ordered - h : 0;
                    __atomic_store_n(&n->a_peer_lag[r], lag, __ATOMIC_RELAXED);
                    for (uint32_t i = 0; i < SQ_MEMBERS_MAX; i++) {
                        if (n->m.peer_lag[i] != NULL && n->m.peer_ids[i] == id) {
                            sq_metric_set(n->m.peer_lag[i], (int64_t)lag);
                        }
                    }
                    finality_added(n, certified);
                } else if (rc == SQ_EBADSIG) {
                    /* The bytes may be torn while a newer signature is in flight: read again. */
                    retry = true;
                    SQ_DEBUG("node", "peer signature does not verify yet", "peer=%u height=%llu",
                             id, (unsigned long long)h);
                } else {
                    n->sig_seen[r] = v;
                    SQ_WARN("node", "peer finality signature refused", "peer=%u height=%llu "
                            "reason=\"%s\"", id, (unsigned long long)h, ldg_errmsg());
                }
            }
        } else if (rc == SQ_OK && v > n->last_version) {
            retry = true; /* signed a block not delivered here yet */
        }
        if (n->sig_seen[r] < verified) {
            verified = n->sig_seen[r];
        }
    }
    if (verified > n->verified_reported && verified >= n->version_base) {
        n->verified_reported = verified;
        node_cons_report_verified(n->cons, verified);
    }
    if (retry && !sq_timer_is_armed(&n->sig_timer)) {
        sq_loop_timer_start(n->loop, &n->sig_timer, SIG_RETRY_MS * SQ_NS_PER_MS);
    }
}

static void on_sig_timer(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    (void)loop;
    (void)t;
    scan_signatures(arg);
}

/* ---- the batcher ---- */

static void batch_try(struct node *n);

static void on_batch_timer(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    (void)loop;
    (void)t;
    batch_try(arg);
}

static void batch_try(struct node *n)
{
    if (n->cons == NULL || node_cons_is_wedged(n->cons) || failed(n) ||
        __atomic_load_n(&n->phase, __ATOMIC_ACQUIRE) != NODE_PHASE_RUNNING) {
        return;
    }
    for (int round = 0; round < 64; round++) {
        if (n->batch_size > 0) {
            int rc = node_cons_send(n->cons, n->batch_buf, n->batch_size);
            if (rc == SQ_EAGAIN) {
                return; /* flow control: after_poll tries again */
            }
            if (rc != SQ_OK) {
                SQ_WARN("node", "cannot send a batch", "rc=%s", sq_errname(rc));
                return;
            }
            n->batch_size = 0;
            sq_metric_add(n->m.batches_sent, 1);
        }
        uint32_t waiting = node_mempool_waiting(n->mp);
        if (waiting == 0) {
            return;
        }
        size_t bytes_max = n->batch_cap - 256 - SQ_CHAIN_ID_BYTES_MAX;
        uint64_t wbytes = node_mempool_waiting_bytes(n->mp) + 4ull * waiting;
        uint64_t age = now_ns() - node_mempool_oldest_ns(n->mp);
        uint64_t delay = (uint64_t)n->cfg.batch_delay_ms * SQ_NS_PER_MS;
        if (wbytes < bytes_max && waiting < SQ_BATCH_TXS_MAX && age < delay) {
            if (!sq_timer_is_armed(&n->batch_timer)) {
                sq_loop_timer_start(n->loop, &n->batch_timer, delay - age);
            }
            return;
        }
        size_t count = node_mempool_take(n->mp, bytes_max, SQ_BATCH_TXS_MAX,
                                         ldg_store_height(n->store) + 1, n->take_buf, tx_changed,
                                         n);
        if (count == 0) {
            continue;
        }
        for (size_t i = 0; i < count; i++) {
            n->txs_buf[i].data = n->take_buf[i]->bytes;
            n->txs_buf[i].size = n->take_buf[i]->size;
        }
        size_t size;
        int rc = ldg_batch_encode(n->gen->chain_id, n->gen->chain_id_size, n->cfg.id,
                                  n->batch_seq++, sq_clock_wall_ns() / SQ_NS_PER_US, n->txs_buf,
                                  count, &n->key, n->batch_buf, n->batch_cap, &size);
        SQ_ASSERT(rc == SQ_OK); /* bounded by bytes_max above */
        n->batch_size = size;
    }
}

/* ---- admission ---- */

static bool is_issuer(const struct ldg_genesis *g, const uint8_t pk[SQC_PK_BYTES])
{
    for (uint32_t i = 0; i < g->issuer_count; i++) {
        if (memcmp(g->issuers[i], pk, SQC_PK_BYTES) == 0) {
            return true;
        }
    }
    return false;
}

/* True if `pk` may submit one more transaction now (rpc.rate_per_key per second, bursts of one
 * second's worth). */
static bool rate_allows(struct node *n, const uint8_t pk[SQC_PK_BYTES])
{
    if (n->rate == NULL) {
        return true;
    }
    uint64_t now = now_ns();
    struct node_rate_slot *slot = &n->rate[sq_le64_load(pk) % NODE_RATE_SLOTS];
    double rate = n->cfg.rpc_rate_per_key;
    if (memcmp(slot->pk, pk, SQC_PK_BYTES) != 0) {
        memcpy(slot->pk, pk, SQC_PK_BYTES);
        slot->tokens = rate;
        slot->at_ns = now;
    }
    slot->tokens += (double)(now - slot->at_ns) / 1e9 * rate;
    if (slot->tokens > rate) {
        slot->tokens = rate;
    }
    slot->at_ns = now;
    if (slot->tokens < 1.0) {
        return false;
    }
    slot->tokens -= 1.0;
    return true;
}

int node_admit(struct node *n, const uint8_t *bytes, size_t size, const struct ldg_tx *tx,
               const uint8_t txid[LDG_HASH_BYTES], unsigned *status, const char **code,
               char *msg, size_t msg_size)
{
    int phase = __atomic_load_n(&n->phase, __ATOMIC_ACQUIRE);
    if (phase == NODE_PHASE_STOPPING || phase == NODE_PHASE_FAILED) {
        *status = 503;
        *code = "shutting_down";
        snprintf(msg, msg_size, "the node is stopping");
        return SQ_ECLOSED;
    }
    if (phase != NODE_PHASE_RUNNING) {
        *status = 503;
        *code = "not_ready";
        snprintf(msg, msg_size, "the node is %s", node_phase_name(phase));
        return SQ_EAGAIN;
    }
    struct node_tx *t = node_mempool_find(n->mp, txid);
    if (t != NULL) {
        *status = 409;
        *code = "duplicate";
        snprintf(msg, msg_size, "transaction already known, state %s",
                 node_tx_state_name((enum node_tx_state)t->state));
        return SQ_EEXIST;
    }
    if (!rate_allows(n, tx->sender)) {
        *status = 429;
        *code = "rate_limited";
        snprintf(msg, msg_size, "the sender may submit %u transactions per second",
                 n->cfg.rpc_rate_per_key);
        return SQ_EAGAIN;
    }
    uint64_t next_height = ldg_store_height(n->store) + 1;
    if (tx->expiry_height < next_height) {
        *status = 400;
        *code = "expired";
        snprintf(msg, msg_size, "expiry height %llu has passed (next block is %llu)",
                 (unsigned long long)tx->expiry_height, (unsigned long long)next_height);
        return SQ_EINVAL;
    }
    struct ldg_account acct;
    int rc = ldg_account_get_pending(n->store, tx->sender, &acct);
    if (rc != SQ_OK) {
        *status = 500;
        *code = "internal";
        snprintf(msg, msg_size, "cannot read the account: %s", ldg_errmsg());
        return rc;
    }
    bool permitted;
    switch (tx->kind) {
    case LDG_TX_TRANSFER:
        permitted = n->gen->clients_open || acct.client;
        break;
    case LDG_TX_MINT:
        permitted = is_issuer(n->gen, tx->sender);
        break;
    default:
        permitted = tx->approval_count >= n->gen->gov_threshold && n->gen->gov_threshold > 0;
        break;
    }
    if (!permitted) {
        *status = 403;
        *code = "not_permitted";
        snprintf(msg, msg_size, "%s",
                 tx->kind == LDG_TX_TRANSFER ? "the sender is not an admitted client"
                 : tx->kind == LDG_TX_MINT   ? "the sender is not an issuer of this chain"
                                             : "too few governance approvals");
        return SQ_EPERM;
    }
    if (tx->nonce <= acct.nonce || tx->nonce > acct.nonce + NODE_NONCE_WINDOW) {
        *status = 409;
        *code = "bad_nonce";
        if (tx->nonce <= acct.nonce) {
            snprintf(msg, msg_size, "nonce %llu is not above the account's nonce %llu",
                     (unsigned long long)tx->nonce, (unsigned long long)acct.nonce);
        } else {
            snprintf(msg, msg_size, "nonce %llu is more than %u above the account's nonce %llu",
                     (unsigned long long)tx->nonce, NODE_NONCE_WINDOW,
                     (unsigned long long)acct.nonce);
        }
        return SQ_EINVAL;
    }
    if (node_mempool_nonce_pending(n->mp, tx->sender, tx->nonce)) {
        *status = 409;
        *code = "bad_nonce";
        snprintf(msg, msg_size, "another transaction with nonce %llu is already pending",
                 (unsigned long long)tx->nonce);
        return SQ_EINVAL;
    }
    rc = node_mempool_add(n->mp, txid, bytes, size, tx->sender, tx->nonce, tx->expiry_height,
                          now_ns(), NULL);
    if (rc != SQ_OK) {
        *status = 429;
        *code = "mempool_full";
        snprintf(msg, msg_size, "the mempool holds %u transactions; retry shortly",
                 node_mempool_accepted(n->mp));
        return rc;
    }
    sq_metric_add(n->m.tx_accepted, 1);
    metrics_heights(n);
    batch_try(n);
    return SQ_OK;
}

/* ---- the group's life: joining, views, state transfer (PROTOCOL.md §5) ---- */

static void on_wedged(void *ctx, uint32_t failed_id, int reason);
static void after_poll(void *ctx);
static void on_view_installed(void *ctx, const struct grp_view *view, int64_t record_version,
                              bool receiving_state);
static void on_group_stopped(void *ctx, int reason, const char *why);
static void on_state_request(void *ctx, uint32_t joiner, int64_t from, int64_t to);
static void on_state_receive(void *ctx, const uint8_t *data, size_t size, bool last);
static void on_truncate(void *ctx, int64_t keep);

static void update_peers(struct node *n)
{
    uint64_t mask = 0;
    pthread_mutex_lock(&n->view_mu);
    for (uint32_t r = 0; r < n->view.member_count && n->cons != NULL; r++) {
        if (r == n->my_rank || node_cons_peer_is_up(n->cons, n->view.members[r].id)) {
            mask |= 1ull << r;
        }
    }
    pthread_mutex_unlock(&n->view_mu);
    __atomic_store_n(&n->a_peers_up, mask, __ATOMIC_RELEASE);
}

static void xfer_close(struct node_xfer *x)
{
    free(x->blk);
    memset(x, 0, sizeof(*x));
}

/* Starts this validator's group as a joiner from its chain (node/cons.h). */
static void group_start(struct node *n)
{
    if (node_commit_all(n) != SQ_OK) {
        return;
    }
    uint64_t height = ldg_store_height(n->store);
    SQ_ASSERT(height == ldg_store_persisted_height(n->store));
    n->version_base = (int64_t)height + 1;
    n->last_version = n->version_base - 1;
    n->persisted_reported = n->version_base - 1;
    n->signed_version = n->version_base - 1;
    n->verified_reported = n->version_base - 1;
    n->rejected_count = 0;
    n->fin_cache_ok = false;
    n->record_pending = -1;
    for (uint32_t r = 0; r < SQ_MEMBERS_MAX; r++) {
        n->sig_seen[r] = n->version_base - 1;
        xfer_close(&n->xfers[r]);
    }
    free(n->rx_blk);
    n->rx_blk = NULL;
    struct node_cons_config cc = {
        .loop = n->loop,
        .cfg = &n->cfg,
        .genesis = n->gen,
        .view = &n->view,
        .validators = n->gen,
        .key = &n->key,
        .version_base = n->version_base,
        .listen_fd = -1,
        .up = {.ctx = n, .deliver = on_deliver, .persisted = on_persisted, .wedged = on_wedged,
               .view_installed = on_view_installed, .stopped = on_group_stopped,
               .state_request = on_state_request, .state_receive = on_state_receive,
               .truncate = on_truncate, .after_poll = after_poll},
    };
    char err[256];
    int rc = node_cons_start(&n->cons, &cc, err, sizeof(err));
    if (rc != SQ_OK) {
        if (rc == SQ_EUNSUPPORTED || rc == SQ_EINVAL || rc == SQ_ENODEV) {
            /* A config this machine cannot run (a bad address, verbs without an RDMA device):
             * retrying would not help. */
            SQ_FATAL("node", "cannot start the group", "rc=%s reason=\"%s\"", sq_errname(rc),
                     err);
            fprintf(stderr, "squalld: %s\n", err);
            n->exit_code = 1;
            sq_loop_stop(n->loop);
            return;
        }
        SQ_ERROR("node", "cannot start the group; retrying", "rc=%s reason=\"%s\"",
                 sq_errname(rc), err);
        n->cons = NULL;
        n->regroup_pending = true;
        sq_loop_timer_start(n->loop, &n->join_timer, 500 * SQ_NS_PER_MS);
        return;
    }
    size_t cap = node_cons_payload_max(n->cons);
    n->batch_cap = n->cfg.batch_bytes_max < cap ? n->cfg.batch_bytes_max : cap;
    SQ_INFO("node", "joining the group", "height=%llu last_view=%llu",
            (unsigned long long)height, (unsigned long long)n->view.view_id);
    set_phase(n, NODE_PHASE_JOINING);
}

/* The group stopped here: a new group joins again. Own undelivered transactions go back to the
 * mempool (PROTOCOL.md §5.7: they are re-sent). */
static void regroup_now(struct node *n)
{
    n->regroup_pending = false;
    if (failed(n) || __atomic_load_n(&n->phase, __ATOMIC_ACQUIRE) == NODE_PHASE_STOPPING) {
        return;
    }
    node_cons_stop(n->cons);
    n->cons = NULL;
    n->batch_size = 0;
    node_mempool_requeue_inflight(n->mp);
    n->regroups++;
    group_start(n);
    update_peers(n);
}

static void on_join_timer(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    struct node *n = arg;
    if (n->regroup_pending) {
        regroup_now(n);
    }
    update_peers(n);
    sq_loop_timer_start(loop, t, JOIN_CHECK_MS * SQ_NS_PER_MS);
}

/* Writes the view-change block of `gv` at `version` (every member writes the same block: the view
 * agreed by the group, the previous block's timestamp) and makes the view the one in force. */
static void write_view_block(struct node *n, const struct grp_view *gv, int64_t version)
{
    if (version != n->last_version + 1 || node_commit_all(n) != SQ_OK) {
        SQ_FATAL("node", "the view-change block does not follow the chain", "version=%lld "
                 "last=%lld", (long long)version, (long long)n->last_version);
        stop_failed(n);
        return;
    }
    struct ldg_view *lv = calloc(1, sizeof(*lv));
    if (lv == NULL) {
        fatal(n, "out of memory");
        return;
    }
    lv->view_id = gv->vid;
    for (uint32_t r = 0; r < gv->member_count; r++) {
        struct ldg_member *m = &lv->members[lv->member_count++];
        m->id = gv->members[r].id;
        memcpy(m->pk, gv->members[r].pk, SQC_PK_BYTES);
        snprintf(m->addr, sizeof(m->addr), "%s:%u", gv->members[r].host,
                 (unsigned)gv->members[r].port);
        m->addr_size = (uint8_t)strlen(m->addr);
    }
    struct ldg_header prev;
    uint8_t prev_hash[LDG_HASH_BYTES];
    int rc = ldg_header_get(n->store, ldg_store_height(n->store), &prev, prev_hash);
    struct ldg_block_info info;
    if (rc == SQ_OK) {
        rc = ldg_view_apply(n->store, lv, prev.timestamp_us, &info);
    }
    if (rc != SQ_OK || info.height != node_height_of(n, version)) {
        SQ_FATAL("node", "cannot record the view change", "vid=%llu rc=%s reason=\"%s\"",
                 (unsigned long long)gv->vid, sq_errname(rc), ldg_errmsg());
        free(lv);
        stop_failed(n);
        return;
    }
    block_applied(n, &info);
    n->last_version = version;
    pthread_mutex_lock(&n->view_mu);
    n->view = *lv;
    n->my_rank = UINT32_MAX;
    for (uint32_t r = 0; r < n->view.member_count; r++) {
        if (n->view.members[r].id == n->cfg.id) {
            n->my_rank = r;
        }
    }
    pthread_mutex_unlock(&n->view_mu);
    free(lv);
    /* Signatures of the new view's table start afresh. */
    for (uint32_t r = 0; r < SQ_MEMBERS_MAX; r++) {
        n->sig_seen[r] = version;
    }
    n->fin_cache_ok = false;
    sq_metric_add(n->m.view_changes, 1);
    SQ_INFO("node", "view installed", "view=%llu members=%u height=%llu",
            (unsigned long long)gv->vid, gv->member_count, (unsigned long long)info.height);
    commit_kick(n);
    update_peers(n);
    set_phase(n, NODE_PHASE_RUNNING);
    batch_try(n);
}

static void on_view_installed(void *ctx, const struct grp_view *view, int64_t record_version,
                              bool receiving_state)
{
    struct node *n = ctx;
    if (failed(n)) {
        return;
    }
    if (receiving_state) {
        n->record_view = *view;
        n->record_pending = record_version;
        set_phase(n, NODE_PHASE_SYNCING);
        return;
    }
    write_view_block(n, view, record_version);
}

static void on_group_stopped(void *ctx, int reason, const char *why)
{
    struct node *n = ctx;
    SQ_WARN("node", "the group stopped here; joining again", "reason=%s why=\"%s\"",
            sq_errname(reason), why);
    set_phase(n, NODE_PHASE_JOINING);
    n->regroup_pending = true; /* not from inside the group's upcall: at the next timer */
    sq_loop_timer_stop(n->loop, &n->join_timer);
    sq_loop_timer_start(n->loop, &n->join_timer, 0);
}

static void on_truncate(void *ctx, int64_t keep)
{
    struct node *n = ctx;
    /* A durable chain is never rolled back here: what lies beyond `keep` was not durable at every
     * member (so never final), but this store cannot drop blocks. */
    SQ_FATAL("node", "this validator's chain is longer than the group's (a total restart went "
             "on without it); move its data directory away and start it again to rejoin",
             "height=%llu group_height=%lld", (unsigned long long)ldg_store_height(n->store),
             (long long)keep);
    stop_failed(n);
}

static void on_state_request(void *ctx, uint32_t joiner, int64_t from, int64_t to)
{
    struct node *n = ctx;
    struct node_xfer *x = NULL;
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX && x == NULL; i++) {
        if (n->xfers[i].open && n->xfers[i].joiner == joiner) {
            x = &n->xfers[i];
            xfer_close(x); /* it asked again: start over from what it says it lacks */
        }
    }
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX && x == NULL; i++) {
        x = n->xfers[i].open ? NULL : &n->xfers[i];
    }
    SQ_ASSERT(x != NULL);
    x->open = true;
    x->joiner = joiner;
    x->next = node_height_of(n, from);
    x->to = node_height_of(n, to);
    SQ_INFO("node", "sending blocks to a joiner", "joiner=%u from=%llu to=%llu", joiner,
            (unsigned long long)x->next, (unsigned long long)x->to);
}

/* The end of a transfer: the certificate covering the newest certified block sent (the joiner
 * checks its blocks against it), or nothing when there is none. */
static int xfer_finish(struct node *n, struct node_xfer *x, uint8_t *chunk, size_t piece_max)
{
    uint64_t top = ldg_store_certified_height(n->store);
    top = top < x->to ? top : x->to;
    uint8_t *cert = NULL;
    size_t size = 0;
    if (top > 0 && ldg_cert_build(n->store, top, &cert, &size) != SQ_OK) {
        cert = NULL;
    }
    if (cert == NULL || size > piece_max) {
        free(cert);
        return node_cons_state_send(n->cons, x->joiner, NULL, 0, true);
    }
    sq_le64_store(chunk, UINT64_MAX);
    sq_le32_store(chunk + 8, (uint32_t)size);
    sq_le32_store(chunk + 12, 0);
    memcpy(chunk + 16, cert, size);
    free(cert);
    return node_cons_state_send(n->cons, x->joiner, chunk, size + 16, true);
}

/* Sends what the transport takes of the open state transfers. */
static void xfer_pump(struct node *n)
{
    if (n->cons == NULL) {
        return;
    }
    size_t piece_max = node_cons_state_chunk_max(n->cons) - 16;
    uint8_t *chunk = NULL;
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX; i++) {
        struct node_xfer *x = &n->xfers[i];
        while (x->open) {
            if (chunk == NULL && (chunk = malloc(piece_max + 16)) == NULL) {
                return;
            }
            if (x->next > x->to) {
                int rc = xfer_finish(n, x, chunk, piece_max);
                if (rc != SQ_EAGAIN && rc != SQ_EFULL) {
                    xfer_close(x);
                }
                break;
            }
            if (x->blk == NULL) {
                int rc = ldg_block_get(n->store, x->next, &x->blk, &x->blk_size);
                if (rc != SQ_OK) {
                    SQ_WARN("node", "cannot read a block for a joiner", "height=%llu rc=%s",
                            (unsigned long long)x->next, sq_errname(rc));
                    xfer_close(x);
                    break;
                }
                x->off = 0;
            }
            size_t piece = x->blk_size - x->off < piece_max ? x->blk_size - x->off : piece_max;
            sq_le64_store(chunk, x->next);
            sq_le32_store(chunk + 8, (uint32_t)x->blk_size);
            sq_le32_store(chunk + 12, (uint32_t)x->off);
            memcpy(chunk + 16, x->blk + x->off, piece);
            int rc = node_cons_state_send(n->cons, x->joiner, chunk, piece + 16, false);
            if (rc == SQ_EAGAIN || rc == SQ_EFULL) {
                break; /* back-pressure: the next round goes on */
            }
            if (rc != SQ_OK) {
                xfer_close(x); /* the joiner failed or asked another member */
                break;
            }
            x->off += piece;
            if (x->off == x->blk_size) {
                free(x->blk);
                x->blk = NULL;
                x->next++;
            }
        }
    }
    free(chunk);
}

/* Checks the durable chain against a certificate a member sent with the state transfer: it
 * verifies against the members of the view it names, and the block it certifies is ours. */
static int check_certificate(struct node *n, const uint8_t *buf, size_t size, char *err,
                             size_t err_size)
{
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        snprintf(err, err_size, "out of memory");
        return SQ_ENOMEM;
    }
    struct ldg_cert_info info;
    uint64_t vid = 0;
    int rc = ldg_cert_view_id(buf, size, &vid);
    if (rc == SQ_OK) {
        rc = ldg_view_get(n->store, vid, view, NULL);
    }
    if (rc == SQ_OK) {
        rc = ldg_cert_verify(buf, size, n->gen->chain_id, n->gen->chain_id_size, view, &info);
    }
    if (rc != SQ_OK) {
        snprintf(err, err_size, "the certificate sent with the blocks does not verify: %s",
                 ldg_errmsg());
    } else if (info.height > ldg_store_persisted_height(n->store)) {
        snprintf(err, err_size, "the certificate covers block %llu, beyond the blocks sent",
                 (unsigned long long)info.height);
        rc = SQ_EPROOF;
    } else {
        uint8_t mine[LDG_HASH_BYTES];
        struct ldg_header hdr;
        rc = ldg_header_get(n->store, info.height, &hdr, mine);
        if (rc == SQ_OK && memcmp(mine, info.block_hash, LDG_HASH_BYTES) != 0) {
            snprintf(err, err_size, "block %llu differs from the certified one",
                     (unsigned long long)info.height);
            rc = SQ_EPROOF;
        } else if (rc == SQ_OK) {
            SQ_INFO("node", "caught-up blocks match a certificate", "height=%llu signers=%u",
                    (unsigned long long)info.height, info.signer_count);
        }
    }
    free(view);
    return rc;
}

static void state_failed(struct node *n, const char *why)
{
    SQ_FATAL("node", "state transfer failed", "why=\"%s\"", why);
    stop_failed(n);
}

static void on_state_receive(void *ctx, const uint8_t *data, size_t size, bool last)
{
    struct node *n = ctx;
    if (failed(n)) {
        return;
    }
    set_phase(n, NODE_PHASE_SYNCING);
    if (size >= 16 && sq_le64_load(data) == UINT64_MAX) {
        if (!last || node_commit_all(n) != SQ_OK) {
            state_failed(n, "a certificate arrived before the end of the transfer");
            return;
        }
        char err[256];
        if (check_certificate(n, data + 16, size - 16, err, sizeof(err)) != SQ_OK) {
            state_failed(n, err);
            return;
        }
    } else if (size >= 16) {
        uint64_t height = sq_le64_load(data);
        size_t total = sq_le32_load(data + 8);
        size_t off = sq_le32_load(data + 12);
        size_t piece = size - 16;
        if (off == 0) {
            free(n->rx_blk);
            n->rx_blk = total <= NODE_XFER_BLOCK_MAX ? malloc(total) : NULL;
            n->rx_height = height;
            n->rx_size = total;
            n->rx_off = 0;
        }
        if (n->rx_blk == NULL || height != n->rx_height || total != n->rx_size ||
            off != n->rx_off || piece > total - off) {
            state_failed(n, "a state chunk does not continue the block being received");
            return;
        }
        memcpy(n->rx_blk + off, data + 16, piece);
        n->rx_off += piece;
        if (n->rx_off == n->rx_size) {
            char err[256];
            if (n->rx_height > ldg_store_height(n->store)) {
                if (node_apply_fetched(n, n->rx_blk, n->rx_size, err, sizeof(err)) != SQ_OK) {
                    state_failed(n, err);
                    return;
                }
                n->last_version = (int64_t)n->rx_height; /* versions are heights here */
                commit_kick(n);
            }
            free(n->rx_blk);
            n->rx_blk = NULL;
        }
    }
    if (!last) {
        return;
    }
    SQ_INFO("node", "state transfer done", "height=%llu",
            (unsigned long long)ldg_store_height(n->store));
    if (node_commit_all(n) != SQ_OK) {
        return;
    }
    if (n->record_pending >= 0) {
        int64_t v = n->record_pending;
        n->record_pending = -1;
        write_view_block(n, &n->record_view, v);
    }
}

static void on_wedged(void *ctx, uint32_t failed_id, int reason)
{
    (void)ctx;
    SQ_INFO("node", "view wedged; a view change follows", "failed=%u reason=%s", failed_id,
            sq_errname(reason));
}

static void after_poll(void *ctx)
{
    struct node *n = ctx;
    if (n->cons == NULL || n->regroup_pending) {
        return;
    }
    xfer_pump(n);
    scan_signatures(n);
    batch_try(n);
}

/* ---- signals ---- */

static void on_signal(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct node *n = arg;
    struct signalfd_siginfo si;
    ssize_t r = read(fd, &si, sizeof(si));
    if (r == (ssize_t)sizeof(si)) {
        SQ_INFO("node", "stopping", "signal=%u", si.ssi_signo);
    }
    set_phase(n, NODE_PHASE_STOPPING);
    sq_loop_stop(loop);
}

/* ---- create, run, destroy ---- */

static int make_data_dir(const char *path, char *errbuf, size_t errbuf_size)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        return SQ_OK;
    }
    snprintf(errbuf, errbuf_size, "cannot create the data folder %s: %s", path, strerror(errno));
    return SQ_EIO;
}

int node_create(struct node **out, const struct node_config *cfg, struct ldg_genesis *genesis,
                struct sqc_keypair *key, char *errbuf, size_t errbuf_size)
{
    struct node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return SQ_ENOMEM;
    }
    n->cfg = *cfg;
    n->p_efd = -1;
    n->sig_fd = -1;
    int rc = sq_loop_create(&n->loop, sq_clock_monotonic());
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot create the event loop: %s", sq_strerror(rc));
        free(n);
        return rc;
    }
    sq_timer_init(&n->batch_timer, on_batch_timer, n);
    sq_timer_init(&n->sig_timer, on_sig_timer, n);
    sq_timer_init(&n->join_timer, on_join_timer, n);
    if (make_data_dir(cfg->data_dir, errbuf, errbuf_size) != SQ_OK) {
        rc = SQ_EIO;
        goto err_loop;
    }
    rc = ldg_store_open(cfg->data_dir, genesis, NULL, &n->store);
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot open the ledger store in %s: %s", cfg->data_dir,
                 ldg_errmsg());
        goto err_loop;
    }
    ldg_view_current(n->store, &n->view, NULL);
    n->my_rank = UINT32_MAX;
    const struct ldg_member *me = NULL;
    for (uint32_t r = 0; r < n->view.member_count; r++) {
        if (n->view.members[r].id == cfg->id) {
            n->my_rank = r;
            me = &n->view.members[r];
        }
    }
    for (uint32_t i = 0; i < genesis->validator_count && me == NULL; i++) {
        me = genesis->validators[i].id == cfg->id ? &genesis->validators[i] : NULL;
    }
    if (me == NULL) {
        snprintf(errbuf, errbuf_size, "validator %u is not in the validator set of genesis or of "
                 "view %llu", cfg->id, (unsigned long long)n->view.view_id);
        rc = SQ_EINVAL;
        goto err_store;
    }
    if (memcmp(me->pk, key->pk, SQC_PK_BYTES) != 0) {
        snprintf(errbuf, errbuf_size, "the key in %s is not validator %u's key in the validator set",
                 cfg->key_file, cfg->id);
        rc = SQ_EINVAL;
        goto err_store;
    }
    pthread_mutex_init(&n->view_mu, NULL);
    n->record_pending = -1;
    rc = node_mempool_create(&n->mp, cfg->mempool_txs_max,
                             cfg->mempool_txs_max * NODE_TRACKED_FACTOR);
    if (rc == SQ_OK) {
        rc = metrics_init(n);
    }
    n->batch_cap = cfg->batch_bytes_max;
    if (cfg->rpc_rate_per_key > 0) {
        n->rate = calloc(NODE_RATE_SLOTS, sizeof(*n->rate));
        if (n->rate == NULL) {
            rc = SQ_ENOMEM;
        }
    }
    n->batch_buf = malloc(SQ_BATCH_BYTES_MAX);
    n->take_buf = calloc(SQ_BATCH_TXS_MAX, sizeof(*n->take_buf));
    n->txs_buf = calloc(SQ_BATCH_TXS_MAX, sizeof(*n->txs_buf));
    if (rc != SQ_OK || n->batch_buf == NULL || n->take_buf == NULL || n->txs_buf == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        rc = SQ_ENOMEM;
        goto err_mem;
    }
    n->batch_seq = sq_clock_wall_ns() / SQ_NS_PER_US;
    uint64_t h = ldg_store_height(n->store);
    n->h_ordered = h;
    n->h_local = ldg_store_persisted_height(n->store);
    n->h_final = ldg_store_certified_height(n->store);
    n->h_persisted = n->h_final;
    rc = sqc_verify_pool_create(&n->pool, 0);
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot start the verification pool: %s", sq_strerror(rc));
        goto err_mem;
    }
    n->p_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (n->p_efd < 0 || sq_loop_fd_add(n->loop, n->p_efd, SQ_LOOP_IN, on_persist_fd, n) != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot create an eventfd: %s", strerror(errno));
        rc = SQ_EIO;
        goto err_pool;
    }
    pthread_mutex_init(&n->p_mu, NULL);
    pthread_cond_init(&n->p_cv, NULL);
    if (pthread_create(&n->p_thread, NULL, persist_main, n) != 0) {
        snprintf(errbuf, errbuf_size, "cannot start the persistence thread");
        rc = SQ_EAGAIN;
        goto err_efd;
    }
    n->p_started = true;
    (void)pthread_setname_np(n->p_thread, "sq-persist"); /* cosmetic: ignore failure */
    /* The API serves requests the moment it starts, and they read the genesis: set it first. */
    n->gen = genesis;
    rc = node_api_start(n, errbuf, errbuf_size);
    if (rc != SQ_OK) {
        n->gen = NULL; /* ownership moves only on success */
        goto err_thread;
    }
    n->key = *key;
    memset(key, 0, sizeof(*key));
    metrics_heights(n);
    *out = n;
    return SQ_OK;

err_thread:
    pthread_mutex_lock(&n->p_mu);
    n->p_stop = true;
    pthread_cond_broadcast(&n->p_cv);
    pthread_mutex_unlock(&n->p_mu);
    pthread_join(n->p_thread, NULL);
err_efd:
    if (n->p_efd >= 0) {
        sq_loop_fd_remove(n->loop, n->p_efd);
        close(n->p_efd);
    }
err_pool:
    sqc_verify_pool_destroy(n->pool);
err_mem:
    free(n->rate);
    free(n->batch_buf);
    free(n->take_buf);
    free(n->txs_buf);
    node_mempool_destroy(n->mp);
err_store:
    ldg_store_close(n->store);
err_loop:
    sq_loop_destroy(n->loop);
    free(n);
    return rc;
}

int node_run(struct node *n)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    n->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (n->sig_fd < 0 || sq_loop_fd_add(n->loop, n->sig_fd, SQ_LOOP_IN, on_signal, n) != SQ_OK) {
        SQ_ERROR("node", "cannot watch signals", "errno=%d", errno);
        return 1;
    }
    SQ_INFO("node", "started", "id=%u chain=%s height=%llu final=%llu rpc=%s:%u", n->cfg.id,
            n->gen->chain_id, (unsigned long long)ldg_store_height(n->store),
            (unsigned long long)n->h_final, n->cfg.rpc_listen.host,
            (unsigned)n->cfg.rpc_listen.port);
    group_start(n);
    /* A group that cannot start at all (its sq_loop_stop came before the loop ran, and
     * sq_loop_run would clear it) ends the run here. */
    if (n->exit_code == 0) {
        sq_loop_timer_start(n->loop, &n->join_timer, JOIN_CHECK_MS * SQ_NS_PER_MS);
        int rc = sq_loop_run(n->loop);
        if (rc != SQ_OK) {
            n->exit_code = 1;
        }
    }
    /* Clean stop: refuse new work, answer what waits, stop the group, make everything durable. */
    if (!failed(n)) {
        set_phase(n, NODE_PHASE_STOPPING);
    }
    answer_all_waiters(n);
    node_cons_stop(n->cons);
    n->cons = NULL;
    if (!failed(n)) {
        node_commit_all(n);
    } else {
        commit_reap(n, true);
    }
    SQ_INFO("node", "stopped", "height=%llu durable=%llu final=%llu exit=%d",
            (unsigned long long)ldg_store_height(n->store),
            (unsigned long long)ldg_store_persisted_height(n->store),
            (unsigned long long)ldg_store_certified_height(n->store), n->exit_code);
    return n->exit_code;
}

void node_destroy(struct node *n)
{
    if (n == NULL) {
        return;
    }
    set_phase(n, NODE_PHASE_STOPPING);
    /* The HTTP server and the verification pool first: their threads may still post work to the
     * loop. Then run what they posted (the replies are dropped by the stopped server). */
    rpc_server_stop(n->rpc);
    sqc_verify_pool_destroy(n->pool);
    n->pool = NULL;
    sq_loop_timer_stop(n->loop, &n->batch_timer);
    sq_loop_timer_stop(n->loop, &n->sig_timer);
    sq_loop_timer_stop(n->loop, &n->join_timer);
    answer_all_waiters(n);
    while (sq_loop_run_once(n->loop, 0) > 0) {
        answer_all_waiters(n);
    }
    node_cons_stop(n->cons);
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX; i++) {
        xfer_close(&n->xfers[i]);
    }
    free(n->rx_blk);
    if (n->p_out != NULL) {
        commit_reap(n, true);
    }
    pthread_mutex_lock(&n->p_mu);
    n->p_stop = true;
    pthread_cond_broadcast(&n->p_cv);
    pthread_mutex_unlock(&n->p_mu);
    pthread_join(n->p_thread, NULL);
    sq_loop_fd_remove(n->loop, n->p_efd);
    close(n->p_efd);
    if (n->sig_fd >= 0) {
        sq_loop_fd_remove(n->loop, n->sig_fd);
        close(n->sig_fd);
    }
    ldg_store_close(n->store);
    node_mempool_destroy(n->mp);
    free(n->rate);
    free(n->batch_buf);
    free(n->take_buf);
    free(n->txs_buf);
    sq_loop_destroy(n->loop);
    ldg_genesis_free(n->gen);
    sqc_keypair_free(&n->key);
    pthread_mutex_destroy(&n->p_mu);
    pthread_cond_destroy(&n->p_cv);
    pthread_mutex_destroy(&n->view_mu);
    free(n);
}
