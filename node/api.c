/* The HTTP/JSON API of docs/api.md. Handlers run on the server's threads: they decode, answer
 * reads of committed data from the store themselves, verify signatures on the pool, and post
 * admissions and reads of pending state to the loop, which replies. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "node/api_decode.h"
#include "node/node_int.h"
#include "rpc/rpc.h"

#define SEGS_MAX 6
#define BLOCKS_PER_CALL 100
#define METRICS_BYTES (256 * 1024)

static uint64_t ld64(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static int phase_of(struct node *n)
{
    return __atomic_load_n(&n->phase, __ATOMIC_ACQUIRE);
}

static json_t *hex_json(const void *data, size_t size)
{
    char *s = malloc(2 * size + 1);
    if (s == NULL) {
        return NULL;
    }
    sqc_hex_encode(s, 2 * size + 1, data, size);
    json_t *j = json_stringn(s, 2 * size);
    free(s);
    return j;
}

static const char *kind_name(uint8_t kind)
{
    switch (kind) {
    case LDG_TX_TRANSFER:
        return "transfer";
    case LDG_TX_MINT:
        return "mint";
    case LDG_TX_ADMIT_CLIENT:
        return "admit_client";
    case LDG_TX_REMOVE_CLIENT:
        return "remove_client";
    case LDG_TX_ADMIT_VALIDATOR:
        return "admit_validator";
    case LDG_TX_REMOVE_VALIDATOR:
        return "remove_validator";
    }
    return "unknown";
}

json_t *node_api_tx_json(struct node *n, const uint8_t txid[LDG_HASH_BYTES], int state,
                         uint64_t height, uint32_t index, int result)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", hex_json(txid, LDG_HASH_BYTES));
    json_object_set_new(j, "state", json_string(node_tx_state_name((enum node_tx_state)state)));
    if (state != NODE_TX_ACCEPTED && state != NODE_TX_EXPIRED) {
        json_object_set_new(j, "height", json_integer((json_int_t)height));
        json_object_set_new(j, "index", json_integer((json_int_t)index));
        json_object_set_new(j, "result", json_string(result == LDG_RESULT_OK
                                                         ? "ok"
                                                         : ldg_result_name(result)));
        uint8_t hash[LDG_HASH_BYTES];
        if (node_block_hash(n, height, hash) == SQ_OK) {
            json_object_set_new(j, "block_hash", hex_json(hash, LDG_HASH_BYTES));
        }
    }
    return j;
}

/* ---- work posted to the loop ---- */

enum job_kind {
    JOB_ADMIT,     /* one verified transaction */
    JOB_ADMIT_MANY,
    JOB_TX_QUERY,
    JOB_ACCOUNT,
    JOB_RECEIPT_PENDING,
};

struct admit_item {
    struct ldg_tx tx;
    uint8_t id[LDG_HASH_BYTES];
    const uint8_t *bytes;
    size_t size;
    struct sqc_verify_job vj;
    /* the answer when the item already failed before the loop */
    unsigned status;
    const char *code;
    char msg[160];
};

struct job {
    enum job_kind kind;
    struct node *node;
    struct rpc_request *req;
    uint8_t key[32]; /* tx id or account key */
    int target;
    uint32_t timeout_ms;
    /* admissions */
    size_t count;
    struct admit_item *items;
    struct node_api_tx *raw; /* decoded bodies (owned) */
};

static void job_free(struct job *j)
{
    if (j == NULL) {
        return;
    }
    free(j->items);
    free(j->raw);
    free(j);
}


static void run_job(struct sq_loop *loop, void *arg)
{
    (void)loop;
    struct job *j = arg;
    struct node *n = j->node;
    switch (j->kind) {
    case JOB_ADMIT: {
        struct admit_item *it = &j->items[0];
        unsigned status = 0;
        const char *code = NULL;
        char msg[200];
        int rc = node_admit(n, it->bytes, it->size, &it->tx, it->id, &status, &code, msg,
                            sizeof(msg));
        if (rc == SQ_OK) {
            json_t *r = json_object();
            json_object_set_new(r, "id", hex_json(it->id, LDG_HASH_BYTES));
            json_object_set_new(r, "state", json_string("accepted"));
            rpc_reply_json(j->req, 202, r);
        } else {
            sq_metric_add(n->m.tx_rejected, 1);
            rpc_reply_error(j->req, status, code, "%s", msg);
        }
        break;
    }
    case JOB_ADMIT_MANY: {
        json_t *results = json_array();
        for (size_t i = 0; i < j->count; i++) {
            struct admit_item *it = &j->items[i];
            json_t *r = json_object();
            if (it->status == 0) {
                int rc = node_admit(n, it->bytes, it->size, &it->tx, it->id, &it->status,
                                    &it->code, it->msg, sizeof(it->msg));
                if (rc == SQ_OK) {
                    it->status = 202;
                }
            }
            if (it->status != 202) {
                sq_metric_add(n->m.tx_rejected, 1);
            }
            bool have_id = it->size > 0;
            if (have_id) {
                json_object_set_new(r, "id", hex_json(it->id, LDG_HASH_BYTES));
            }
            if (it->status == 202) {
                json_object_set_new(r, "state", json_string("accepted"));
            } else {
                json_t *e = json_object();
                json_object_set_new(e, "code", json_string(it->code));
                json_object_set_new(e, "message", json_string(it->msg));
                json_object_set_new(r, "error", e);
            }
            json_array_append_new(results, r);
        }
        json_t *body = json_object();
        json_object_set_new(body, "results", results);
        rpc_reply_json(j->req, 200, body);
        break;
    }
    case JOB_TX_QUERY:
        node_tx_query(n, j->req, j->key, j->target, j->timeout_ms);
        break;
    case JOB_ACCOUNT: {
        struct ldg_account a;
        int rc = ldg_account_get_pending(n->store, j->key, &a);
        if (rc != SQ_OK) {
            rpc_reply_error(j->req, 500, "internal", "cannot read the account: %s",
                            ldg_errmsg());
            break;
        }
        json_t *r = json_object();
        json_object_set_new(r, "key", hex_json(j->key, 32));
        json_object_set_new(r, "balance", json_integer((json_int_t)a.balance));
        json_object_set_new(r, "nonce", json_integer((json_int_t)a.nonce));
        json_object_set_new(
            r, "pending_nonce",
            json_integer((json_int_t)node_mempool_pending_nonce(n->mp, j->key, a.nonce)));
        json_object_set_new(r, "client", json_boolean(a.client || n->gen->clients_open));
        rpc_reply_json(j->req, 200, r);
        break;
    }
    case JOB_RECEIPT_PENDING:
        if (node_tx_is_pending(n, j->key)) {
            rpc_reply_error(j->req, 409, "not_final", "the transaction is not final yet");
        } else {
            rpc_reply_error(j->req, 404, "not_found", "no transaction with this id");
        }
        break;
    }
    job_free(j);
}

static void post_job(struct node *n, struct job *j)
{
    if (sq_loop_post(n->loop, run_job, j) != SQ_OK) {
        rpc_reply_error(j->req, 429, "mempool_full", "the node is overloaded; retry shortly");
        job_free(j);
    }
}

static struct job *job_new(struct node *n, struct rpc_request *req, enum job_kind kind)
{
    struct job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        rpc_reply_error(req, 500, "internal", "out of memory");
        return NULL;
    }
    j->node = n;
    j->req = req;
    j->kind = kind;
    return j;
}

/* ---- admission on this thread: form, chain, duplicates in the store ---- */

static bool ready_for_writes(struct node *n, struct rpc_request *req)
{
    int phase = phase_of(n);
    if (phase == NODE_PHASE_STOPPING || phase == NODE_PHASE_FAILED) {
        rpc_reply_error(req, 503, "shutting_down", "the node is stopping");
        return false;
    }
    if (phase != NODE_PHASE_RUNNING) {
        rpc_reply_error(req, 503, "not_ready", "the node is %s", node_phase_name(phase));
        return false;
    }
    return true;
}

/* Checks one decoded body entry; fills it->status/code/msg on failure (status 0: passes). */
static void precheck(struct node *n, const struct node_api_tx *raw, struct admit_item *it)
{
    it->status = 0;
    it->bytes = raw->bytes;
    it->size = 0;
    if (raw->err != NODE_API_OK) {
        it->status = node_api_err_status(raw->err);
        it->code = node_api_err_code(raw->err);
        snprintf(it->msg, sizeof(it->msg), "%s", raw->msg);
        return;
    }
    int rc = ldg_tx_decode(raw->bytes, raw->size, &it->tx);
    if (rc != SQ_OK) {
        it->status = 400;
        it->code = "bad_tx";
        snprintf(it->msg, sizeof(it->msg), "the transaction does not decode: %s", ldg_errmsg());
        return;
    }
    it->size = raw->size;
    ldg_tx_id(raw->bytes, raw->size, it->id);
    if (it->tx.chain_id_size != n->gen->chain_id_size ||
        memcmp(it->tx.chain_id, n->gen->chain_id, n->gen->chain_id_size) != 0) {
        it->status = 400;
        it->code = "wrong_chain";
        snprintf(it->msg, sizeof(it->msg), "the transaction is for chain '%.*s', this is '%s'",
                 (int)it->tx.chain_id_size, it->tx.chain_id, n->gen->chain_id);
        return;
    }
    uint64_t height;
    uint32_t index;
    uint8_t result;
    if (ldg_tx_find(n->store, it->id, &height, &index, &result) == SQ_OK) {
        it->status = 409;
        it->code = "duplicate";
        snprintf(it->msg, sizeof(it->msg), "transaction already in block %llu (state %s)",
                 (unsigned long long)height,
                 result != LDG_RESULT_OK ? "failed"
                 : height <= ld64(&n->h_final) ? "final"
                                                : "persisted");
        return;
    }
    memcpy(it->vj.pk, it->tx.sender, SQC_PK_BYTES);
    memcpy(it->vj.digest, it->id, LDG_HASH_BYTES);
    memcpy(it->vj.sig, it->tx.sig, SQC_SIG_BYTES);
    it->vj.domain = SQC_DOMAIN_TX;
}

static void on_verified(struct sqc_verify_job *vj, void *arg)
{
    struct job *j = arg;
    (void)vj;
    struct admit_item *it = &j->items[0];
    if (it->vj.result != SQ_OK) {
        sq_metric_add(j->node->m.tx_rejected, 1);
        rpc_reply_error(j->req, 400, "bad_signature", "the sender's signature does not verify");
        job_free(j);
        return;
    }
    post_job(j->node, j);
}

static void handle_post_tx(struct node *n, struct rpc_request *req)
{
    size_t size;
    const uint8_t *body = rpc_request_body(req, &size);
    struct job *j = job_new(n, req, JOB_ADMIT);
    if (j == NULL) {
        return;
    }
    j->raw = malloc(sizeof(*j->raw));
    j->items = calloc(1, sizeof(*j->items));
    j->count = 1;
    if (j->raw == NULL || j->items == NULL) {
        rpc_reply_error(req, 500, "internal", "out of memory");
        job_free(j);
        return;
    }
    char msg[200];
    enum node_api_err e = node_api_decode_tx(body, size, j->raw, msg, sizeof(msg));
    if (e != NODE_API_OK) {
        sq_metric_add(n->m.tx_rejected, 1);
        rpc_reply_error(req, node_api_err_status(e), node_api_err_code(e), "%s", msg);
        job_free(j);
        return;
    }
    struct admit_item *it = &j->items[0];
    precheck(n, j->raw, it);
    if (it->status != 0) {
        sq_metric_add(n->m.tx_rejected, 1);
        rpc_reply_error(req, it->status, it->code, "%s", it->msg);
        job_free(j);
        return;
    }
    if (!ready_for_writes(n, req)) {
        job_free(j);
        return;
    }
    if (sqc_verify_pool_submit(n->pool, &it->vj, on_verified, j) != SQ_OK) {
        rpc_reply_error(req, 429, "mempool_full", "the verification queue is full; retry");
        job_free(j);
    }
}

static void handle_post_txs(struct node *n, struct rpc_request *req)
{
    size_t size;
    const uint8_t *body = rpc_request_body(req, &size);
    struct job *j = job_new(n, req, JOB_ADMIT_MANY);
    if (j == NULL) {
        return;
    }
    j->raw = malloc(NODE_API_TXS_MAX * sizeof(*j->raw));
    if (j->raw == NULL) {
        rpc_reply_error(req, 500, "internal", "out of memory");
        job_free(j);
        return;
    }
    char msg[200];
    size_t count;
    enum node_api_err e = node_api_decode_txs(body, size, j->raw, &count, msg, sizeof(msg));
    if (e != NODE_API_OK) {
        rpc_reply_error(req, node_api_err_status(e), node_api_err_code(e), "%s", msg);
        job_free(j);
        return;
    }
    if (!ready_for_writes(n, req)) {
        job_free(j);
        return;
    }
    j->items = calloc(count, sizeof(*j->items));
    struct sqc_verify_job *vjs = calloc(count, sizeof(*vjs));
    size_t *map = calloc(count, sizeof(*map));
    if (j->items == NULL || vjs == NULL || map == NULL) {
        free(vjs);
        free(map);
        rpc_reply_error(req, 500, "internal", "out of memory");
        job_free(j);
        return;
    }
    j->count = count;
    size_t nv = 0;
    for (size_t i = 0; i < count; i++) {
        precheck(n, &j->raw[i], &j->items[i]);
        if (j->items[i].status == 0) {
            vjs[nv] = j->items[i].vj;
            map[nv++] = i;
        }
    }
    /* Verified here with the pool's workers helping (PROTOCOL: signatures before admission). */
    if (nv > 0) {
        sqc_verify_pool_run(n->pool, vjs, nv);
    }
    for (size_t k = 0; k < nv; k++) {
        if (vjs[k].result != SQ_OK) {
            struct admit_item *it = &j->items[map[k]];
            it->status = 400;
            it->code = "bad_signature";
            snprintf(it->msg, sizeof(it->msg), "the sender's signature does not verify");
        }
    }
    free(vjs);
    free(map);
    post_job(n, j);
}

/* ---- reads ---- */

static void handle_tx_get(struct node *n, struct rpc_request *req, const char *idhex)
{
    uint8_t id[32];
    if (!node_api_parse_hash(idhex, id)) {
        rpc_reply_error(req, 400, "bad_request", "transaction id must be 64 hex digits");
        return;
    }
    const char *wait = rpc_request_query(req, "wait");
    const char *tmo = rpc_request_query(req, "timeout_ms");
    int target = -1;
    uint64_t timeout = 10000;
    if (wait != NULL) {
        target = node_api_parse_wait(wait);
        if (target < 0) {
            rpc_reply_error(req, 400, "bad_request",
                            "wait must be ordered, persisted or final, not '%s'", wait);
            return;
        }
    }
    if (tmo != NULL && !node_api_parse_u64(tmo, UINT32_MAX, &timeout)) {
        rpc_reply_error(req, 400, "bad_request", "timeout_ms must be a whole number, not '%s'",
                        tmo);
        return;
    }
    if (timeout > n->cfg.rpc_wait_ms_max) {
        timeout = n->cfg.rpc_wait_ms_max;
    }
    struct job *j = job_new(n, req, JOB_TX_QUERY);
    if (j == NULL) {
        return;
    }
    memcpy(j->key, id, 32);
    j->target = target;
    j->timeout_ms = (uint32_t)timeout;
    post_job(n, j);
}

static void handle_receipt(struct node *n, struct rpc_request *req, const char *idhex)
{
    uint8_t id[32];
    if (!node_api_parse_hash(idhex, id)) {
        rpc_reply_error(req, 400, "bad_request", "transaction id must be 64 hex digits");
        return;
    }
    uint8_t *buf = NULL;
    size_t size = 0;
    int rc = ldg_receipt_build(n->store, id, &buf, &size);
    /* A transaction is final once every member signed; its certificate reaches the store with
     * the commit after that (milliseconds). Wait for it, bounded, rather than answer not_final
     * for a transaction the node already called final. */
    uint64_t h;
    uint32_t index;
    uint8_t result;
    double waited_ms = 0;
    while (rc == SQ_EAGAIN && waited_ms < 2000 &&
           ldg_tx_find(n->store, id, &h, &index, &result) == SQ_OK && h <= ld64(&n->h_final)) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
        waited_ms += 5;
        rc = ldg_receipt_build(n->store, id, &buf, &size);
    }
    if (rc == SQ_EAGAIN) {
        rpc_reply_error(req, 409, "not_final", "the transaction is not final yet");
        return;
    }
    if (rc == SQ_ENOTFOUND) {
        struct job *j = job_new(n, req, JOB_RECEIPT_PENDING);
        if (j != NULL) {
            memcpy(j->key, id, 32);
            post_job(n, j);
        }
        return;
    }
    if (rc != SQ_OK) {
        rpc_reply_error(req, 500, "internal", "cannot build the receipt: %s", ldg_errmsg());
        return;
    }
    struct ldg_receipt_info info;
    rc = ldg_receipt_verify(ldg_store_genesis(n->store), buf, size, &info);
    if (rc != SQ_OK) {
        SQ_ERROR("api", "a receipt this node built does not verify", "reason=\"%s\"",
                 ldg_errmsg());
        free(buf);
        rpc_reply_error(req, 500, "internal", "the receipt does not verify: %s", ldg_errmsg());
        return;
    }
    json_t *r = json_object();
    json_object_set_new(r, "id", hex_json(id, 32));
    json_object_set_new(r, "height", json_integer((json_int_t)info.height));
    json_object_set_new(r, "certified_height", json_integer((json_int_t)info.cert.height));
    json_object_set_new(r, "receipt", hex_json(buf, size));
    free(buf);
    rpc_reply_json(req, 200, r);
}

/* The JSON of committed block `height`; NULL with *rc set. */
/* The JSON of block `height`; with_block adds its canonical encoding in hex (most of the bytes:
 * a client that only follows transactions asks without it). */
static json_t *block_json(struct node *n, uint64_t height, bool with_block, int *rc)
{
    uint8_t *buf = NULL;
    size_t size = 0;
    *rc = ldg_block_get(n->store, height, &buf, &size);
    if (*rc != SQ_OK) {
        return NULL;
    }
    struct ldg_block blk;
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        free(buf);
        *rc = SQ_ENOMEM;
        return NULL;
    }
    *rc = ldg_block_decode(buf, size, &blk, view);
    if (*rc != SQ_OK) {
        free(view);
        free(buf);
        return NULL;
    }
    const struct ldg_header *h = &blk.hdr;
    json_t *j = json_object();
    json_object_set_new(j, "height", json_integer((json_int_t)h->height));
    json_object_set_new(j, "hash", hex_json(blk.hash, LDG_HASH_BYTES));
    json_object_set_new(j, "kind", json_string(h->kind == LDG_BLOCK_VIEW ? "view" : "batch"));
    json_object_set_new(j, "view_id", json_integer((json_int_t)h->view_id));
    json_object_set_new(j, "proposer", json_integer((json_int_t)h->proposer));
    json_object_set_new(j, "prev_hash", hex_json(h->prev_hash, LDG_HASH_BYTES));
    json_object_set_new(j, "tx_root", hex_json(h->tx_root, LDG_HASH_BYTES));
    json_object_set_new(j, "results_root", hex_json(h->results_root, LDG_HASH_BYTES));
    json_object_set_new(j, "timestamp_us", json_integer((json_int_t)h->timestamp_us));
    json_object_set_new(j, "tx_count", json_integer((json_int_t)h->tx_count));
    json_object_set_new(j, "final", json_boolean(height <= ld64(&n->h_final)));
    json_t *txs = json_array();
    if (h->kind == LDG_BLOCK_BATCH) {
        struct ldg_tx_iter it;
        ldg_tx_iter_init(&it, blk.txs, blk.txs_size, h->tx_count);
        struct ldg_bytes tb;
        uint32_t i = 0;
        while (ldg_tx_iter_next(&it, &tb)) {
            json_t *t = json_object();
            uint8_t id[LDG_HASH_BYTES];
            ldg_tx_id(tb.data, tb.size, id);
            json_object_set_new(t, "id", hex_json(id, LDG_HASH_BYTES));
            json_object_set_new(t, "kind", json_string(kind_name(tb.size > 1 ? tb.data[1] : 0)));
            uint8_t res = blk.results[i];
            json_object_set_new(t, "result",
                                json_string(res == LDG_RESULT_OK ? "ok" : ldg_result_name(res)));
            json_array_append_new(txs, t);
            i++;
        }
    } else {
        json_t *v = json_object();
        json_object_set_new(v, "id", json_integer((json_int_t)view->view_id));
        json_t *mem = json_array();
        for (uint32_t i = 0; i < view->member_count; i++) {
            json_t *m = json_object();
            json_object_set_new(m, "id", json_integer(view->members[i].id));
            json_object_set_new(m, "key", hex_json(view->members[i].pk, SQC_PK_BYTES));
            json_object_set_new(m, "addr", json_stringn(view->members[i].addr,
                                                        view->members[i].addr_size));
            json_array_append_new(mem, m);
        }
        json_object_set_new(v, "members", mem);
        json_object_set_new(j, "view", v);
    }
    json_object_set_new(j, "txs", txs);
    if (with_block) {
        json_object_set_new(j, "block", hex_json(buf, size));
    }
    free(view);
    free(buf);
    return j;
}

/* ?block=false leaves out the canonical encoding (docs/api.md). */
static bool with_block(struct rpc_request *req)
{
    const char *b = rpc_request_query(req, "block");
    return b == NULL || strcmp(b, "false") != 0;
}

static void handle_block(struct node *n, struct rpc_request *req, const char *hs)
{
    uint64_t height;
    if (!node_api_parse_u64(hs, UINT64_MAX, &height)) {
        rpc_reply_error(req, 400, "bad_request", "height must be a whole number, not '%s'", hs);
        return;
    }
    int rc;
    json_t *j = block_json(n, height, with_block(req), &rc);
    if (j == NULL) {
        if (rc == SQ_ENOTFOUND) {
            rpc_reply_error(req, 404, "not_found", "no block at height %llu",
                            (unsigned long long)height);
        } else {
            rpc_reply_error(req, 500, "internal", "cannot read block %llu: %s",
                            (unsigned long long)height, ldg_errmsg());
        }
        return;
    }
    rpc_reply_json(req, 200, j);
}

static void handle_blocks(struct node *n, struct rpc_request *req)
{
    const char *fs = rpc_request_query(req, "from");
    const char *ts = rpc_request_query(req, "to");
    uint64_t head = ldg_store_persisted_height(n->store);
    uint64_t from, to = head;
    if (!node_api_parse_u64(fs, UINT64_MAX, &from) ||
        (ts != NULL && !node_api_parse_u64(ts, UINT64_MAX, &to)) || to < from) {
        rpc_reply_error(req, 400, "bad_request",
                        "from (and to, if given) must be whole numbers with from <= to");
        return;
    }
    if (to > head) {
        to = head;
    }
    if (to >= from && to - from >= BLOCKS_PER_CALL) {
        to = from + BLOCKS_PER_CALL - 1;
    }
    bool with = with_block(req);
    json_t *arr = json_array();
    for (uint64_t h = from; h <= to && from <= head; h++) {
        int rc;
        json_t *b = block_json(n, h, with, &rc);
        if (b == NULL) {
            json_decref(arr);
            rpc_reply_error(req, 500, "internal", "cannot read block %llu: %s",
                            (unsigned long long)h, ldg_errmsg());
            return;
        }
        json_array_append_new(arr, b);
    }
    json_t *r = json_object();
    json_object_set_new(r, "blocks", arr);
    if (to < head && from <= head) {
        json_object_set_new(r, "next", json_integer((json_int_t)(to + 1)));
    }
    rpc_reply_json(req, 200, r);
}

static void handle_cert(struct node *n, struct rpc_request *req, const char *hs)
{
    uint64_t height;
    if (!node_api_parse_u64(hs, UINT64_MAX, &height)) {
        rpc_reply_error(req, 400, "bad_request", "height must be a whole number, not '%s'", hs);
        return;
    }
    uint8_t *buf = NULL;
    size_t size = 0;
    int rc = ldg_cert_build(n->store, height, &buf, &size);
    if (rc == SQ_ENOTFOUND) {
        rpc_reply_error(req, 404, "not_found", "no certificate covers block %llu yet",
                        (unsigned long long)height);
        return;
    }
    if (rc != SQ_OK) {
        rpc_reply_error(req, 500, "internal", "cannot build the certificate: %s", ldg_errmsg());
        return;
    }
    uint64_t vid;
    struct ldg_view *view = malloc(sizeof(*view));
    struct ldg_cert_info info;
    rc = view == NULL ? SQ_ENOMEM : ldg_cert_view_id(buf, size, &vid);
    if (rc == SQ_OK) {
        rc = ldg_view_get(n->store, vid, view, NULL);
    }
    if (rc == SQ_OK) {
        rc = ldg_cert_verify(buf, size, n->gen->chain_id, n->gen->chain_id_size, view, &info);
    }
    free(view);
    if (rc != SQ_OK) {
        free(buf);
        rpc_reply_error(req, 500, "internal", "the stored certificate does not verify: %s",
                        ldg_errmsg());
        return;
    }
    json_t *r = json_object();
    json_object_set_new(r, "height", json_integer((json_int_t)height));
    json_object_set_new(r, "certified_height", json_integer((json_int_t)info.height));
    json_object_set_new(r, "certificate", hex_json(buf, size));
    free(buf);
    rpc_reply_json(req, 200, r);
}

static void handle_consistency(struct node *n, struct rpc_request *req)
{
    uint64_t m, to;
    uint64_t size_max = ldg_store_persisted_height(n->store) + 1;
    if (!node_api_parse_u64(rpc_request_query(req, "from"), UINT64_MAX, &m) ||
        !node_api_parse_u64(rpc_request_query(req, "to"), UINT64_MAX, &to) || m == 0 || m > to ||
        to > size_max) {
        rpc_reply_error(req, 400, "bad_request",
                        "need 0 < from <= to <= %llu (the number of blocks held)",
                        (unsigned long long)size_max);
        return;
    }
    uint8_t (*path)[LDG_HASH_BYTES] = malloc(SQ_MERKLE_DEPTH_MAX * LDG_HASH_BYTES);
    uint8_t r1[LDG_HASH_BYTES], r2[LDG_HASH_BYTES];
    size_t count = 0;
    int rc = path == NULL ? SQ_ENOMEM : ldg_acc_consistency_proof(n->store, m, to, path, &count);
    if (rc == SQ_OK) {
        rc = ldg_acc_root(n->store, m, r1);
    }
    if (rc == SQ_OK) {
        rc = ldg_acc_root(n->store, to, r2);
    }
    if (rc != SQ_OK) {
        free(path);
        rpc_reply_error(req, 500, "internal", "cannot build the proof: %s", ldg_errmsg());
        return;
    }
    json_t *r = json_object();
    json_object_set_new(r, "from", json_integer((json_int_t)m));
    json_object_set_new(r, "to", json_integer((json_int_t)to));
    json_object_set_new(r, "root_from", hex_json(r1, LDG_HASH_BYTES));
    json_object_set_new(r, "root_to", hex_json(r2, LDG_HASH_BYTES));
    json_t *p = json_array();
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(p, hex_json(path[i], LDG_HASH_BYTES));
    }
    json_object_set_new(r, "path", p);
    free(path);
    rpc_reply_json(req, 200, r);
}

static void handle_genesis(struct node *n, struct rpc_request *req)
{
    char *json = NULL;
    if (ldg_genesis_to_json(n->gen, &json) != SQ_OK) {
        rpc_reply_error(req, 500, "internal", "cannot render the genesis: %s", ldg_errmsg());
        return;
    }
    rpc_reply_data(req, 200, "application/json", json, strlen(json));
    free(json);
}

static void handle_account(struct node *n, struct rpc_request *req, const char *keyhex)
{
    uint8_t key[32];
    if (!node_api_parse_hash(keyhex, key)) {
        rpc_reply_error(req, 400, "bad_request", "account key must be 64 hex digits");
        return;
    }
    struct job *j = job_new(n, req, JOB_ACCOUNT);
    if (j != NULL) {
        memcpy(j->key, key, 32);
        post_job(n, j);
    }
}

static void handle_status(struct node *n, struct rpc_request *req)
{
    int phase = phase_of(n);
    json_t *r = json_object();
    json_object_set_new(r, "chain_id", json_string(n->gen->chain_id));
    json_object_set_new(r, "validator_id", json_integer(n->cfg.id));
    json_object_set_new(r, "version", json_string(SQ_VERSION));
    json_t *h = json_object();
    json_object_set_new(h, "ordered", json_integer((json_int_t)ld64(&n->h_ordered)));
    json_object_set_new(h, "persisted", json_integer((json_int_t)ld64(&n->h_persisted)));
    json_object_set_new(h, "final", json_integer((json_int_t)ld64(&n->h_final)));
    json_object_set_new(h, "local", json_integer((json_int_t)ld64(&n->h_local)));
    json_object_set_new(r, "heights", h);
    /* The view in force (the loop replaces it under view_mu at every view change). */
    pthread_mutex_lock(&n->view_mu);
    json_t *v = json_object();
    json_object_set_new(v, "id", json_integer((json_int_t)n->view.view_id));
    json_t *mem = json_array();
    for (uint32_t i = 0; i < n->view.member_count; i++) {
        json_array_append_new(mem, json_integer(n->view.members[i].id));
    }
    json_object_set_new(v, "members", mem);
    json_object_set_new(v, "leader", json_integer(n->view.members[0].id));
    json_object_set_new(r, "view", v);
    uint64_t up = __atomic_load_n(&n->a_peers_up, __ATOMIC_ACQUIRE);
    json_t *peers = json_array();
    for (uint32_t i = 0; i < n->view.member_count; i++) {
        if (i == n->my_rank) {
            continue;
        }
        json_t *p = json_object();
        json_object_set_new(p, "id", json_integer(n->view.members[i].id));
        json_object_set_new(p, "up", json_boolean((up >> i) & 1));
        json_object_set_new(p, "lag_blocks",
                            json_integer((json_int_t)__atomic_load_n(&n->a_peer_lag[i],
                                                                     __ATOMIC_RELAXED)));
        json_array_append_new(peers, p);
    }
    pthread_mutex_unlock(&n->view_mu);
    json_object_set_new(r, "peers", peers);
    json_t *mp = json_object();
    json_object_set_new(mp, "txs", json_integer(__atomic_load_n(&n->a_mempool_txs,
                                                                __ATOMIC_ACQUIRE)));
    json_object_set_new(mp, "bytes", json_integer((json_int_t)ld64(&n->a_mempool_bytes)));
    json_object_set_new(r, "mempool", mp);
    json_object_set_new(r, "ready", json_boolean(phase == NODE_PHASE_RUNNING));
    json_object_set_new(r, "phase", json_string(node_phase_name(phase)));
    rpc_reply_json(req, 200, r);
}

static void handle_metrics(struct node *n, struct rpc_request *req)
{
    char *buf = malloc(METRICS_BYTES);
    if (buf == NULL) {
        rpc_reply_error(req, 500, "internal", "out of memory");
        return;
    }
    size_t len = sq_metrics_render(&n->m.reg, buf, METRICS_BYTES);
    if (len >= METRICS_BYTES) {
        len = METRICS_BYTES - 1;
    }
    rpc_reply_data(req, 200, "text/plain; version=0.0.4", buf, len);
    free(buf);
}

/* ---- routing ---- */

static void handler(void *arg, struct rpc_request *req)
{
    struct node *n = arg;
    enum rpc_method method = rpc_request_method(req);
    const char *path = rpc_request_path(req);
    char buf[RPC_PATH_BYTES_MAX];
    const char *s[SEGS_MAX];
    int k = node_api_split_path(path, buf, sizeof(buf), s, SEGS_MAX);
    bool get = method == RPC_GET || method == RPC_HEAD;
    bool post = method == RPC_POST;
    if (k == 1 && get && strcmp(s[0], "healthz") == 0) {
        json_t *r = json_object();
        json_object_set_new(r, "ok", json_true());
        rpc_reply_json(req, 200, r);
        return;
    }
    if (k == 1 && get && strcmp(s[0], "readyz") == 0) {
        int phase = phase_of(n);
        if (phase == NODE_PHASE_RUNNING) {
            json_t *r = json_object();
            json_object_set_new(r, "ok", json_true());
            rpc_reply_json(req, 200, r);
        } else {
            rpc_reply_error(req, 503, "not_ready", "the node is %s", node_phase_name(phase));
        }
        return;
    }
    if (k == 1 && get && strcmp(s[0], "metrics") == 0) {
        handle_metrics(n, req);
        return;
    }
    if (k >= 2 && strcmp(s[0], "v1") == 0) {
        const char *r = s[1];
        if (k == 2 && post && strcmp(r, "tx") == 0) {
            handle_post_tx(n, req);
            return;
        }
        if (k == 2 && post && strcmp(r, "txs") == 0) {
            handle_post_txs(n, req);
            return;
        }
        if (k == 3 && get && strcmp(r, "tx") == 0) {
            handle_tx_get(n, req, s[2]);
            return;
        }
        if (k == 4 && get && strcmp(r, "tx") == 0 && strcmp(s[3], "receipt") == 0) {
            handle_receipt(n, req, s[2]);
            return;
        }
        if (k == 3 && get && strcmp(r, "blocks") == 0) {
            handle_block(n, req, s[2]);
            return;
        }
        if (k == 2 && get && strcmp(r, "blocks") == 0) {
            handle_blocks(n, req);
            return;
        }
        if (k == 3 && get && strcmp(r, "certificates") == 0) {
            handle_cert(n, req, s[2]);
            return;
        }
        if (k == 3 && get && strcmp(r, "proof") == 0 && strcmp(s[2], "consistency") == 0) {
            handle_consistency(n, req);
            return;
        }
        if (k == 2 && get && strcmp(r, "genesis") == 0) {
            handle_genesis(n, req);
            return;
        }
        if (k == 3 && get && strcmp(r, "accounts") == 0) {
            handle_account(n, req, s[2]);
            return;
        }
        if (k == 2 && get && strcmp(r, "status") == 0) {
            handle_status(n, req);
            return;
        }
    }
    rpc_reply_error(req, 404, "not_found", "no route %s %s",
                    post ? "POST" : get ? "GET" : "for this method", path);
}

int node_api_start(struct node *n, char *errbuf, size_t errbuf_size)
{
    struct rpc_server_config rc = {
        .bind_addr = n->cfg.rpc_listen.host,
        .port = n->cfg.rpc_listen.port,
        .body_bytes_max = n->cfg.rpc_body_bytes_max,
        .threads = n->cfg.rpc_threads,
        .connections_max = n->cfg.rpc_connections,
        .handler = handler,
        .handler_arg = n,
    };
    char err[256] = "";
    int r = rpc_server_start(&n->rpc, &rc, err, sizeof(err));
    if (r != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot serve the API on %s:%u: %s", n->cfg.rpc_listen.host,
                 (unsigned)n->cfg.rpc_listen.port, err[0] ? err : sq_strerror(r));
    }
    return r;
}
