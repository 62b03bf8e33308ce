/* A stand-in validator for the wallet's command tests while squalld cannot run a network yet: one
 * process serving docs/api.md over a real ledger store (built by wal_fixture), with a mempool that
 * a background thread orders into blocks, commits and finalizes (every member of the view signs)
 * every 20 ms. It is NOT a validator: no peers, no consensus. It exists so that the wallet's HTTP
 * paths (send and wait, retries, resubmission after a node restart, receipts, audit over the API,
 * consistency, watch) are exercised against the API contract and the real ledger library.
 *
 * Usage: wal_fake_node --store DIR --port P [--build] [--hold-ms N] [--tamper-block H]
 *                      [--log FILE]
 *   --build            build a fresh fixture chain in DIR first (with genesis.json and key files)
 *   --hold-ms N        order nothing until N ms after the first transaction arrives
 *   --tamper-block H   serve block H with one byte of a transaction flipped (an audit must see it)
 *   --fork-block H     serve another block H (a different timestamp): a diverging validator
 *   --not-ready-ms N   answer 503 not_ready for N ms after start (a node catching up)
 *   --lose-first-ms N  drop the first transaction accepted N ms later, unordered (as a restart
 *                      that lost the mempool would); later copies of it are ordered
 * Prints "ready PORT" on stdout once serving, and "accepted ID" per admitted transaction. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "rpc/rpc.h"
#include "wal_fixture.h"

#define PENDING_MAX 4096

struct pending {
    uint64_t lose_at_ms; /* 0: order normally; else drop it then, unordered */
    uint8_t id[LDG_HASH_BYTES];
    uint8_t sender[SQC_PK_BYTES];
    uint8_t *bytes;
    size_t size;
};

static struct {
    pthread_mutex_t mu;
    struct ldg_store *s;
    const struct ldg_genesis *g;
    struct pending pending[PENDING_MAX];
    size_t pending_count;
    uint64_t hold_until_ms; /* 0: not holding */
    uint64_t hold_ms;
    uint64_t tamper_height;
    uint64_t fork_height;
    uint64_t seq;
    uint64_t not_ready_until_ms; /* answer 503 not_ready to the API until then */
    uint64_t lose_first_ms;      /* the first transaction accepted is dropped after this long */
    bool lost_one;
    volatile sig_atomic_t stop;
} n_ = {.mu = PTHREAD_MUTEX_INITIALIZER};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static json_t *hash_json(const uint8_t *h, size_t n)
{
    char hex[2 * 256 + 1];
    sqc_hex_encode(hex, sizeof(hex), h, n);
    return json_string(hex);
}

static json_t *hex_json(const uint8_t *data, size_t size)
{
    char *hex = malloc(2 * size + 1);
    sqc_hex_encode(hex, 2 * size + 1, data, size);
    json_t *j = json_string(hex);
    free(hex);
    return j;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    *out = (uint64_t)v;
    return errno == 0 && *end == '\0';
}

static bool parse_hash(const char *s, size_t len, uint8_t out[32])
{
    size_t got = 0;
    return len == 64 && sqc_hex_decode(out, 32, s, len, &got) == SQ_OK && got == 32;
}

/* ---- ordering (the background thread) ---- */

static void finalize_locked(void)
{
    struct ldg_view *view = malloc(sizeof(*view));
    ldg_view_current(n_.s, view, NULL);
    uint64_t h = ldg_store_height(n_.s);
    for (uint32_t i = 0; i < view->member_count; i++) {
        struct ldg_finality f;
        uint32_t id = view->members[i].id;
        if (ldg_finality_make(n_.s, id, fx_key("val", id - 1), h, &f) == SQ_OK) {
            ldg_finality_add(n_.s, &f, NULL);
        }
    }
    free(view);
}

static void order_locked(void)
{
    /* A transaction marked to be lost is held until its time, then forgotten. */
    for (size_t i = 0; i < n_.pending_count; i++) {
        if (n_.pending[i].lose_at_ms != 0 && now_ms() >= n_.pending[i].lose_at_ms) {
            free(n_.pending[i].bytes);
            n_.pending[i] = n_.pending[--n_.pending_count];
            printf("lost\n");
            fflush(stdout);
            i--;
        } else if (n_.pending[i].lose_at_ms != 0) {
            return;
        }
    }
    if (n_.pending_count == 0 || (n_.hold_until_ms != 0 && now_ms() < n_.hold_until_ms)) {
        return;
    }
    struct ldg_bytes list[PENDING_MAX];
    size_t cap = 256;
    for (size_t i = 0; i < n_.pending_count; i++) {
        list[i] = (struct ldg_bytes){n_.pending[i].bytes, n_.pending[i].size};
        cap += n_.pending[i].size + 4;
    }
    struct ldg_view *view = malloc(sizeof(*view));
    ldg_view_current(n_.s, view, NULL);
    uint32_t proposer = view->members[0].id;
    uint64_t view_id = view->view_id;
    free(view);
    uint8_t *buf = malloc(cap);
    size_t size;
    int rc = ldg_batch_encode(n_.g->chain_id, n_.g->chain_id_size, proposer, ++n_.seq,
                              1700000000000000ull + now_ms() * 1000, list, n_.pending_count,
                              fx_key("val", proposer - 1), buf, cap, &size);
    struct ldg_block_info info;
    if (rc == SQ_OK) {
        rc = ldg_batch_apply(n_.s, view_id, buf, size, NULL, &info);
    }
    free(buf);
    if (rc == SQ_OK) {
        rc = ldg_commit(n_.s, NULL);
    }
    if (rc == SQ_OK) {
        finalize_locked();
        rc = ldg_commit(n_.s, NULL);
    }
    if (rc != SQ_OK) {
        fprintf(stderr, "fake node: ordering failed: %s\n", ldg_errmsg());
    }
    for (size_t i = 0; i < n_.pending_count; i++) {
        free(n_.pending[i].bytes);
    }
    n_.pending_count = 0;
}

static void *orderer(void *arg)
{
    (void)arg;
    while (!n_.stop) {
        pthread_mutex_lock(&n_.mu);
        order_locked();
        pthread_mutex_unlock(&n_.mu);
        sleep_ms(20);
    }
    return NULL;
}

/* ---- handlers ---- */

static void err(struct rpc_request *req, unsigned status, const char *code, const char *msg)
{
    rpc_reply_error(req, status, code, "%s", msg);
}

static struct pending *find_pending(const uint8_t id[32])
{
    for (size_t i = 0; i < n_.pending_count; i++) {
        if (memcmp(n_.pending[i].id, id, 32) == 0) {
            return &n_.pending[i];
        }
    }
    return NULL;
}

static uint64_t pending_of(const uint8_t pk[32])
{
    uint64_t count = 0;
    for (size_t i = 0; i < n_.pending_count; i++) {
        count += memcmp(n_.pending[i].sender, pk, 32) == 0 ? 1u : 0u;
    }
    return count;
}

static void post_tx(struct rpc_request *req)
{
    size_t size;
    const uint8_t *body = rpc_request_body(req, &size);
    json_error_t jerr;
    json_t *j = json_loadb((const char *)body, size, 0, &jerr);
    const char *hex = json_string_value(json_object_get(j, "tx"));
    if (hex == NULL) {
        json_decref(j);
        err(req, 400, "bad_json", "no \"tx\" string");
        return;
    }
    size_t len = strlen(hex);
    uint8_t *raw = malloc(len / 2 + 1);
    size_t raw_size = 0;
    if (sqc_hex_decode(raw, len / 2 + 1, hex, len, &raw_size) != SQ_OK) {
        json_decref(j);
        free(raw);
        err(req, 400, "bad_tx", "not hex");
        return;
    }
    json_decref(j);
    struct ldg_tx tx;
    uint8_t id[32];
    int rc = ldg_tx_check(raw, raw_size, &tx, id);
    if (rc != SQ_OK) {
        free(raw);
        err(req, 400, rc == SQ_EBADSIG ? "bad_signature" : "bad_tx", ldg_errmsg());
        return;
    }
    if (tx.chain_id_size != n_.g->chain_id_size ||
        memcmp(tx.chain_id, n_.g->chain_id, tx.chain_id_size) != 0) {
        free(raw);
        err(req, 400, "wrong_chain", "another chain id");
        return;
    }
    pthread_mutex_lock(&n_.mu);
    uint64_t h;
    uint32_t idx;
    uint8_t res;
    if (find_pending(id) != NULL || ldg_tx_find(n_.s, id, &h, &idx, &res) == SQ_OK) {
        pthread_mutex_unlock(&n_.mu);
        free(raw);
        err(req, 409, "duplicate", "already accepted");
        return;
    }
    struct ldg_account a;
    ldg_account_get(n_.s, tx.sender, &a);
    uint64_t next = a.nonce + pending_of(tx.sender) + 1;
    if (tx.nonce != next) {
        pthread_mutex_unlock(&n_.mu);
        free(raw);
        char msg[128];
        snprintf(msg, sizeof(msg), "nonce %" PRIu64 " is not the next nonce %" PRIu64, tx.nonce,
                 next);
        err(req, 409, "bad_nonce", msg);
        return;
    }
    if (n_.pending_count == PENDING_MAX) {
        pthread_mutex_unlock(&n_.mu);
        free(raw);
        err(req, 429, "mempool_full", "full");
        return;
    }
    struct pending *p = &n_.pending[n_.pending_count++];
    memcpy(p->id, id, 32);
    memcpy(p->sender, tx.sender, 32);
    p->lose_at_ms = 0;
    if (n_.lose_first_ms != 0 && !n_.lost_one) {
        n_.lost_one = true;
        p->lose_at_ms = now_ms() + n_.lose_first_ms;
    }
    p->bytes = raw;
    p->size = raw_size;
    if (n_.hold_ms != 0 && n_.hold_until_ms == 0) {
        n_.hold_until_ms = now_ms() + n_.hold_ms;
    }
    pthread_mutex_unlock(&n_.mu);
    char idhex[65];
    sqc_hex_encode(idhex, sizeof(idhex), id, 32);
    printf("accepted %s\n", idhex);
    fflush(stdout);
    rpc_reply_json(req, 202, json_pack("{s:s, s:s}", "id", idhex, "state", "accepted"));
}

/* The transaction's state; *found false when unknown. Locked. */
static json_t *tx_state_locked(const uint8_t id[32], bool *found)
{
    *found = true;
    char idhex[65];
    sqc_hex_encode(idhex, sizeof(idhex), id, 32);
    if (find_pending(id) != NULL) {
        return json_pack("{s:s, s:s}", "id", idhex, "state", "accepted");
    }
    uint64_t h;
    uint32_t idx;
    uint8_t res;
    if (ldg_tx_find(n_.s, id, &h, &idx, &res) != SQ_OK) {
        *found = false;
        return NULL;
    }
    struct ldg_header hdr;
    uint8_t hash[32];
    ldg_header_get(n_.s, h, &hdr, hash);
    const char *state = res != LDG_RESULT_OK                      ? "failed"
                        : h <= ldg_store_certified_height(n_.s) ? "final"
                                                                 : "persisted";
    return json_pack("{s:s, s:s, s:I, s:i, s:s, s:o}", "id", idhex, "state", state, "height",
                     (json_int_t)h, "index", (int)idx, "result", ldg_result_name(res),
                     "block_hash", hash_json(hash, 32));
}

static int state_rank(const char *s)
{
    if (strcmp(s, "failed") == 0 || strcmp(s, "expired") == 0 || strcmp(s, "final") == 0) {
        return 3;
    }
    return strcmp(s, "persisted") == 0 ? 2 : strcmp(s, "ordered") == 0 ? 1 : 0;
}

static void get_tx(struct rpc_request *req, const uint8_t id[32])
{
    const char *wait = rpc_request_query(req, "wait");
    uint64_t timeout = 10000;
    parse_u64(rpc_request_query(req, "timeout_ms"), &timeout);
    int want = wait == NULL ? 0 : state_rank(wait);
    uint64_t deadline = now_ms() + timeout;
    for (;;) {
        bool found;
        pthread_mutex_lock(&n_.mu);
        json_t *j = tx_state_locked(id, &found);
        pthread_mutex_unlock(&n_.mu);
        if (!found) {
            err(req, 404, "not_found", "no such transaction");
            return;
        }
        const char *state = json_string_value(json_object_get(j, "state"));
        if (state_rank(state) >= want || now_ms() >= deadline || n_.stop) {
            rpc_reply_json(req, 200, j);
            return;
        }
        json_decref(j);
        sleep_ms(10);
    }
}

static void get_receipt(struct rpc_request *req, const uint8_t id[32])
{
    pthread_mutex_lock(&n_.mu);
    uint8_t *r = NULL;
    size_t size = 0;
    uint64_t h = 0;
    uint32_t idx;
    uint8_t res;
    int rc = ldg_tx_find(n_.s, id, &h, &idx, &res);
    if (rc == SQ_OK) {
        rc = ldg_receipt_build(n_.s, id, &r, &size);
    }
    uint64_t cert = ldg_store_certified_height(n_.s);
    pthread_mutex_unlock(&n_.mu);
    if (rc == SQ_ENOTFOUND) {
        err(req, 404, "not_found", "no such transaction");
    } else if (rc == SQ_EAGAIN) {
        err(req, 409, "not_final", "not final yet");
    } else if (rc != SQ_OK) {
        err(req, 500, "internal", ldg_errmsg());
    } else {
        char idhex[65];
        sqc_hex_encode(idhex, sizeof(idhex), id, 32);
        rpc_reply_json(req, 200, json_pack("{s:s, s:I, s:I, s:o}", "id", idhex, "height",
                                           (json_int_t)h, "certified_height", (json_int_t)cert,
                                           "receipt", hex_json(r, size)));
        free(r);
    }
}

/* One block as the API shows it. Locked. */
static json_t *block_json_locked(uint64_t h)
{
    uint8_t *raw;
    size_t size;
    if (ldg_block_get(n_.s, h, &raw, &size) != SQ_OK) {
        return NULL;
    }
    struct ldg_block blk;
    if (h == n_.fork_height && h != 0) {
        /* Another block at this height: same body, another timestamp, re-encoded. */
        struct ldg_block orig;
        ldg_block_decode(raw, size, &orig, NULL);
        struct ldg_header hdr = orig.hdr;
        hdr.timestamp_us += 1;
        uint8_t hb[LDG_HEADER_BYTES_MAX];
        size_t hs;
        ldg_header_encode(&hdr, hb, sizeof(hb), &hs);
        uint8_t *nb = malloc(size + 64);
        size_t ns;
        struct ldg_bytes hbytes = {hb, hs};
        struct ldg_bytes body = {orig.body, orig.body_size};
        ldg_block_encode(&hbytes, &body, nb, size + 64, &ns);
        free(raw);
        raw = nb;
        size = ns;
    }
    if (ldg_block_decode(raw, size, &blk, NULL) != SQ_OK) {
        free(raw);
        return NULL;
    }
    json_t *j = json_pack("{s:I, s:o, s:s, s:I, s:o}", "height", (json_int_t)h, "hash",
                          hash_json(blk.hash, 32), "kind",
                          blk.hdr.kind == LDG_BLOCK_VIEW ? "view" : "batch", "view_id",
                          (json_int_t)blk.hdr.view_id, "prev_hash",
                          hash_json(blk.hdr.prev_hash, 32));
    json_object_set_new(j, "tx_count", json_integer(blk.hdr.tx_count));
    json_object_set_new(j, "final", json_boolean(h <= ldg_store_certified_height(n_.s)));
    if (h == n_.tamper_height && blk.hdr.tx_count > 0) {
        raw[size - blk.hdr.tx_count - 5] ^= 0x01; /* inside the last transaction's signature */
    }
    json_object_set_new(j, "block", hex_json(raw, size));
    free(raw);
    return j;
}

static void get_blocks(struct rpc_request *req, const char *rest)
{
    uint64_t from;
    uint64_t to;
    pthread_mutex_lock(&n_.mu);
    uint64_t tip = ldg_store_persisted_height(n_.s);
    if (rest != NULL) {
        json_t *j = NULL;
        if (parse_u64(rest, &from)) {
            j = block_json_locked(from);
        }
        pthread_mutex_unlock(&n_.mu);
        if (j == NULL) {
            err(req, 404, "not_found", "no such block");
        } else {
            rpc_reply_json(req, 200, j);
        }
        return;
    }
    if (!parse_u64(rpc_request_query(req, "from"), &from) ||
        !parse_u64(rpc_request_query(req, "to"), &to) || from > to) {
        pthread_mutex_unlock(&n_.mu);
        err(req, 400, "bad_request", "from and to");
        return;
    }
    to = to > from + 99 ? from + 99 : to;
    to = to > tip ? tip : to;
    json_t *arr = json_array();
    for (uint64_t h = from; h <= to; h++) {
        json_array_append_new(arr, block_json_locked(h));
    }
    json_t *j = json_pack("{s:o}", "blocks", arr);
    if (to < tip) {
        json_object_set_new(j, "next", json_integer((json_int_t)to + 1));
    }
    pthread_mutex_unlock(&n_.mu);
    rpc_reply_json(req, 200, j);
}

static void get_cert(struct rpc_request *req, const char *rest)
{
    uint64_t h;
    if (!parse_u64(rest, &h)) {
        err(req, 400, "bad_request", "height");
        return;
    }
    pthread_mutex_lock(&n_.mu);
    uint8_t *c = NULL;
    size_t size = 0;
    int rc = ldg_cert_build(n_.s, h, &c, &size);
    uint64_t vid = 0;
    struct ldg_cert_info ci;
    struct ldg_view *view = malloc(sizeof(*view));
    uint64_t at;
    if (rc == SQ_OK) {
        rc = ldg_cert_view_id(c, size, &vid);
    }
    if (rc == SQ_OK) {
        rc = ldg_view_get(n_.s, vid, view, &at);
    }
    if (rc == SQ_OK) {
        rc = ldg_cert_verify(c, size, n_.g->chain_id, n_.g->chain_id_size, view, &ci);
    }
    free(view);
    pthread_mutex_unlock(&n_.mu);
    if (rc != SQ_OK) {
        free(c);
        err(req, 404, "not_found", "no certificate");
        return;
    }
    rpc_reply_json(req, 200, json_pack("{s:I, s:I, s:o}", "height", (json_int_t)h,
                                       "certified_height", (json_int_t)ci.height, "certificate",
                                       hex_json(c, size)));
    free(c);
}

static void get_consistency(struct rpc_request *req)
{
    uint64_t m;
    uint64_t n;
    if (!parse_u64(rpc_request_query(req, "from"), &m) ||
        !parse_u64(rpc_request_query(req, "to"), &n) || m == 0 || m > n) {
        err(req, 400, "bad_request", "0 < from <= to");
        return;
    }
    pthread_mutex_lock(&n_.mu);
    uint8_t path[SQ_MERKLE_DEPTH_MAX][32];
    size_t count = 0;
    uint8_t r1[32];
    uint8_t r2[32];
    int rc = ldg_acc_consistency_proof(n_.s, m, n, path, &count);
    if (rc == SQ_OK) {
        rc = ldg_acc_root(n_.s, m, r1);
    }
    if (rc == SQ_OK) {
        rc = ldg_acc_root(n_.s, n, r2);
    }
    pthread_mutex_unlock(&n_.mu);
    if (rc != SQ_OK) {
        err(req, 400, "bad_request", ldg_errmsg());
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < count; i++) {
        json_array_append_new(arr, hash_json(path[i], 32));
    }
    rpc_reply_json(req, 200, json_pack("{s:I, s:I, s:o, s:o, s:o}", "from", (json_int_t)m, "to",
                                       (json_int_t)n, "root_from", hash_json(r1, 32), "root_to",
                                       hash_json(r2, 32), "path", arr));
}

static void handle(void *arg, struct rpc_request *req)
{
    (void)arg;
    const char *path = rpc_request_path(req);
    enum rpc_method m = rpc_request_method(req);
    uint8_t id[32];
    if (strncmp(path, "/v1/", 4) == 0 && now_ms() < n_.not_ready_until_ms) {
        err(req, 503, "not_ready", "catching up");
    } else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        rpc_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
    } else if (m == RPC_POST && strcmp(path, "/v1/tx") == 0) {
        post_tx(req);
    } else if (m == RPC_GET && strncmp(path, "/v1/tx/", 7) == 0 && parse_hash(path + 7, 64, id)) {
        if (path[71] == '\0') {
            get_tx(req, id);
        } else if (strcmp(path + 71, "/receipt") == 0) {
            get_receipt(req, id);
        } else {
            err(req, 404, "not_found", "no such route");
        }
    } else if (m == RPC_GET && strncmp(path, "/v1/accounts/", 13) == 0 &&
               parse_hash(path + 13, strlen(path + 13), id)) {
        struct ldg_account a;
        pthread_mutex_lock(&n_.mu);
        ldg_account_get(n_.s, id, &a);
        uint64_t pend = pending_of(id);
        pthread_mutex_unlock(&n_.mu);
        rpc_reply_json(req, 200,
                       json_pack("{s:o, s:I, s:I, s:I, s:b}", "key", hash_json(id, 32), "balance",
                                 (json_int_t)a.balance, "nonce", (json_int_t)a.nonce,
                                 "pending_nonce", (json_int_t)(a.nonce + pend), "client",
                                 a.client));
    } else if (m == RPC_GET && strcmp(path, "/v1/status") == 0) {
        pthread_mutex_lock(&n_.mu);
        uint64_t h = ldg_store_persisted_height(n_.s);
        uint64_t c = ldg_store_certified_height(n_.s);
        struct ldg_view *v = malloc(sizeof(*v));
        ldg_view_current(n_.s, v, NULL);
        uint64_t vid = v->view_id;
        free(v);
        size_t mp = n_.pending_count;
        pthread_mutex_unlock(&n_.mu);
        json_t *j = json_pack("{s:s, s:i, s:s, s:{s:I, s:I, s:I}, s:{s:I}, s:{s:I}, s:b}",
                              "chain_id", n_.g->chain_id, "validator_id", 1, "version", "fake",
                              "heights", "ordered", (json_int_t)h, "persisted", (json_int_t)h,
                              "final", (json_int_t)c, "view", "id", (json_int_t)vid, "mempool",
                              "txs", (json_int_t)mp, "ready", 1);
        rpc_reply_json(req, 200, j);
    } else if (m == RPC_GET && strcmp(path, "/v1/genesis") == 0) {
        char *text;
        ldg_genesis_to_json(n_.g, &text);
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);
        free(text);
        rpc_reply_json(req, 200, j);
    } else if (m == RPC_GET && strcmp(path, "/v1/blocks") == 0) {
        get_blocks(req, NULL);
    } else if (m == RPC_GET && strncmp(path, "/v1/blocks/", 11) == 0) {
        get_blocks(req, path + 11);
    } else if (m == RPC_GET && strncmp(path, "/v1/certificates/", 17) == 0) {
        get_cert(req, path + 17);
    } else if (m == RPC_GET && strcmp(path, "/v1/proof/consistency") == 0) {
        get_consistency(req);
    } else {
        err(req, 404, "not_found", "no such route");
    }
}

static void on_term(int sig)
{
    (void)sig;
    n_.stop = 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},  {"port", required_argument, NULL, 'p'},
        {"build", no_argument, NULL, 'b'},        {"hold-ms", required_argument, NULL, 'H'},
        {"tamper-block", required_argument, NULL, 't'},
        {"fork-block", required_argument, NULL, 'f'},
        {"not-ready-ms", required_argument, NULL, 'r'},
        {"lose-first-ms", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    uint64_t port = 0;
    bool build = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            dir = optarg;
            break;
        case 'p':
            parse_u64(optarg, &port);
            break;
        case 'b':
            build = true;
            break;
        case 'H':
            parse_u64(optarg, &n_.hold_ms);
            break;
        case 't':
            parse_u64(optarg, &n_.tamper_height);
            break;
        case 'f':
            parse_u64(optarg, &n_.fork_height);
            break;
        case 'l':
            parse_u64(optarg, &n_.lose_first_ms);
            break;
        case 'r':
            parse_u64(optarg, &n_.not_ready_until_ms);
            n_.not_ready_until_ms += now_ms();
            break;
        default:
            return 2;
        }
    }
    if (dir == NULL || port > 65535) {
        fprintf(stderr, "usage: wal_fake_node --store DIR --port P [--build] ...\n");
        return 2;
    }
    sq_log_set_level(SQ_LOG_WARN);
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    struct fx_chain chain;
    struct ldg_genesis *g;
    if (build) {
        struct fx_opts o = {.clients = 4, .blocks = 3, .txs_per_block = 4, .view_change = true,
                            .finalize_every = 1, .quiet = true};
        if (fx_chain_build(dir, &o, &chain) != SQ_OK) {
            fprintf(stderr, "fake node: fixture: %s\n", ldg_errmsg());
            return 1;
        }
        g = chain.g;
        char path[4200];
        snprintf(path, sizeof(path), "%s/genesis.json", dir);
        fx_genesis_write(g, path);
        /* Key files for the test's wallets: client 0 and 1, the issuer, governance 0..2. */
        const char *roles[] = {"client", "client", "issuer", "gov", "gov", "gov"};
        const unsigned idx[] = {0, 1, 0, 0, 1, 2};
        for (size_t i = 0; i < 6; i++) {
            snprintf(path, sizeof(path), "%s/%s%u.key", dir, roles[i], idx[i]);
            fx_keyfile_write(fx_key(roles[i], idx[i]), path);
        }
    } else {
        g = fx_genesis(4, 1000);
    }
    n_.g = g;
    n_.seq = (uint64_t)time(NULL) * 1000u; /* batch numbers keep rising across restarts */
    if (ldg_store_open(dir, g, NULL, &n_.s) != SQ_OK) {
        fprintf(stderr, "fake node: store: %s\n", ldg_errmsg());
        return 1;
    }
    struct rpc_server *srv;
    char errbuf[256];
    struct rpc_server_config cfg = {.port = (uint16_t)port, .threads = 6, .handler = handle};
    if (rpc_server_start(&srv, &cfg, errbuf, sizeof(errbuf)) != SQ_OK) {
        fprintf(stderr, "fake node: %s\n", errbuf);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pthread_t th;
    pthread_create(&th, NULL, orderer, NULL);
    printf("ready %u\n", (unsigned)rpc_server_port(srv));
    fflush(stdout);
    while (!n_.stop) {
        sleep_ms(20);
    }
    rpc_server_stop(srv);
    pthread_join(th, NULL);
    ldg_store_close(n_.s); /* pending (mempool) transactions are lost, as in a crash */
    ldg_genesis_free(g);
    return 0;
}
