/* The node's HTTP API (docs/api.md) as the wallet uses it: requests with retries on a lost
 * connection, the error shape turned into exit codes, and typed answers. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "base/err.h"
#include "rpc/rpc.h"
#include "wallet-cli/wallet.h"
#include "wallet-cli/wallet_int.h"

#define TIMEOUT_MS_DEFAULT 15000
#define BACKOFF_MS_FIRST 100
#define BACKOFF_MS_MAX 2000
#define RETRY_MS_DEFAULT 1500

struct wal_node {
    struct rpc_client *rpc;
    char url[WAL_URL_BYTES_MAX];
    unsigned timeout_ms;
    unsigned retry_ms; /* how long a request keeps retrying a failed connection */
    struct wal_node_stats stats;
};

void wal_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int wal_node_open(const char *url, unsigned timeout_ms, struct wal_node **out, struct wal_err *e)
{
    *out = NULL;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_url",
                        "node URL must start with http:// or https://, not '%s'", url);
    }
    if (strlen(url) >= WAL_URL_BYTES_MAX) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_url", "node URL is too long");
    }
    struct wal_node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    snprintf(n->url, sizeof(n->url), "%s", url);
    n->timeout_ms = timeout_ms ? timeout_ms : TIMEOUT_MS_DEFAULT;
    n->retry_ms = RETRY_MS_DEFAULT;
    if (rpc_client_create(&n->rpc, url, n->timeout_ms) != SQ_OK) {
        free(n);
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "cannot create an HTTP client");
    }
    *out = n;
    return WAL_EXIT_OK;
}

void wal_node_close(struct wal_node *n)
{
    if (n != NULL) {
        rpc_client_destroy(n->rpc);
        free(n);
    }
}

const char *wal_node_url(const struct wal_node *n)
{
    return n->url;
}

void wal_node_set_retry_ms(struct wal_node *n, unsigned retry_ms)
{
    n->retry_ms = retry_ms;
}

void wal_node_count_resubmit(struct wal_node *n)
{
    n->stats.resubmits++;
}

const struct wal_node_stats *wal_node_stats(const struct wal_node *n)
{
    return &n->stats;
}

/* Turns a non-2xx answer into WAL_EXIT_REFUSED with the API's code, or WAL_EXIT_NETWORK when the
 * body is not the documented error shape. */
static int api_error(struct wal_node *n, const char *path, long status, json_t *body,
                     struct wal_err *e)
{
    json_t *err = json_object_get(body, "error");
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (code == NULL) {
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply",
                        "%s%s answered HTTP %ld without the API's error shape", n->url, path,
                        status);
    }
    return wal_fail(e, WAL_EXIT_REFUSED, code, "node refused (%s, HTTP %ld): %s", code, status,
                    msg ? msg : "");
}

static bool busy_answer(long status, const json_t *body)
{
    const char *code = json_string_value(json_object_get(json_object_get(body, "error"), "code"));
    if (code == NULL || (status != 503 && status != 429)) {
        return false;
    }
    return strcmp(code, "not_ready") == 0 || strcmp(code, "shutting_down") == 0 ||
           strcmp(code, "mempool_full") == 0 || strcmp(code, "rate_limited") == 0;
}

static int request(struct wal_node *n, const char *path, const json_t *post_body, bool retry,
                   unsigned timeout_ms, json_t **out, struct wal_err *e)
{
    *out = NULL;
    unsigned backoff = BACKOFF_MS_FIRST;
    char reason[512] = "";
    int rc = SQ_EPEER;
    long status = 0;
    json_t *body = NULL;
    rpc_client_set_timeout(n->rpc, timeout_ms ? timeout_ms : n->timeout_ms);
    double give_up = wal_now_s() + n->retry_ms / 1000.0;
    for (unsigned attempt = 0;; attempt++) {
        n->stats.requests++;
        reason[0] = '\0';
        if (post_body != NULL) {
            rc = rpc_client_post(n->rpc, path, post_body, &status, &body, reason, sizeof(reason));
        } else {
            rc = rpc_client_get(n->rpc, path, &status, &body, reason, sizeof(reason));
        }
        /* Retried: a failed connection (the node never saw the request, or the answer was
         * lost), and the API's "come back shortly" answers (a node catching up or stopping, a
         * full mempool, a rate limit). A timeout is the caller's budget; a bad body will not
         * improve. */
        bool busy = rc == SQ_OK && busy_answer(status, body);
        if ((rc != SQ_EPEER && !busy) || !retry || attempt >= WAL_RETRIES_MAX ||
            wal_now_s() + backoff / 1000.0 > give_up) {
            break;
        }
        if (busy) {
            json_decref(body);
            body = NULL;
        }
        n->stats.retries++;
        wal_sleep_ms(backoff);
        backoff = backoff * 2 > BACKOFF_MS_MAX ? BACKOFF_MS_MAX : backoff * 2;
    }
    rpc_client_set_timeout(n->rpc, n->timeout_ms);
    switch (rc) {
    case SQ_OK:
        break;
    case SQ_ETIMEDOUT:
        return wal_fail(e, WAL_EXIT_NETWORK, "timeout", "no answer from %s in time: %s", n->url,
                        reason);
    case SQ_ECORRUPT:
        if (status >= 200 && status < 300) {
            return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "%s%s: %s", n->url, path, reason);
        }
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "%s%s answered HTTP %ld: %s", n->url,
                        path, status, reason);
    case SQ_ENOMEM:
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    default:
        return wal_fail(e, WAL_EXIT_NETWORK, "unreachable", "cannot reach the node: %s",
                        reason[0] ? reason : sq_strerror(rc));
    }
    if (status < 200 || status >= 300) {
        int x = api_error(n, path, status, body, e);
        json_decref(body);
        return x;
    }
    *out = body;
    return WAL_EXIT_OK;
}

int wal_node_get(struct wal_node *n, const char *path, unsigned timeout_ms, json_t **out,
                 struct wal_err *e)
{
    return request(n, path, NULL, true, timeout_ms, out, e);
}

int wal_node_post(struct wal_node *n, const char *path, const json_t *body, bool idempotent,
                  json_t **out, struct wal_err *e)
{
    return request(n, path, body, idempotent, 0, out, e);
}

/* ---- reading answers ---- */

int wal_json_u64(const json_t *obj, const char *key, bool required, uint64_t *out,
                 struct wal_err *e)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required) {
        *out = 0;
        return WAL_EXIT_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply",
                        "the node's answer lacks a whole number '%s'", key);
    }
    *out = (uint64_t)json_integer_value(v);
    return WAL_EXIT_OK;
}

int wal_json_hash(const json_t *obj, const char *key, uint8_t out[LDG_HASH_BYTES],
                  struct wal_err *e)
{
    const char *s = json_string_value(json_object_get(obj, key));
    size_t size = 0;
    if (s == NULL || strlen(s) != 2 * LDG_HASH_BYTES ||
        sqc_hex_decode(out, LDG_HASH_BYTES, s, strlen(s), &size) != SQ_OK) {
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply",
                        "the node's answer lacks a 64-hex-digit '%s'", key);
    }
    return WAL_EXIT_OK;
}

int wal_json_hex(const json_t *obj, const char *key, size_t max, uint8_t **data, size_t *size,
                 struct wal_err *e)
{
    *data = NULL;
    *size = 0;
    const char *s = json_string_value(json_object_get(obj, key));
    if (s == NULL) {
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "the node's answer lacks '%s'", key);
    }
    size_t len = strlen(s);
    if (len / 2 > max) {
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "'%s' holds %zu bytes, more than %zu",
                        key, len / 2, max);
    }
    uint8_t *buf = malloc(len / 2 + 1);
    if (buf == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    if (sqc_hex_decode(buf, len / 2 + 1, s, len, size) != SQ_OK) {
        free(buf);
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "'%s' is not hex", key);
    }
    *data = buf;
    return WAL_EXIT_OK;
}

void wal_hex(char *out, size_t cap, const uint8_t *data, size_t size)
{
    sqc_hex_encode(out, cap, data, size);
}

/* ---- typed calls ---- */

int wal_node_status(struct wal_node *n, struct wal_status *st, struct wal_err *e)
{
    memset(st, 0, sizeof(*st));
    json_t *j;
    int rc = wal_node_get(n, "/v1/status", 0, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    const char *chain = json_string_value(json_object_get(j, "chain_id"));
    json_t *heights = json_object_get(j, "heights");
    uint64_t vid = 0;
    if (chain == NULL || strlen(chain) == 0 || strlen(chain) > SQ_CHAIN_ID_BYTES_MAX) {
        rc = wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "/v1/status lacks a valid chain_id");
    }
    if (rc == WAL_EXIT_OK) {
        snprintf(st->chain_id, sizeof(st->chain_id), "%s", chain);
        rc = wal_json_u64(heights, "ordered", true, &st->ordered, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(heights, "persisted", true, &st->persisted, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(heights, "final", true, &st->final, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(json_object_get(j, "view"), "id", false, &st->view_id, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(j, "validator_id", false, &vid, e);
        st->validator_id = (uint32_t)vid;
        st->ready = json_is_true(json_object_get(j, "ready"));
    }
    json_decref(j);
    return rc;
}

int wal_node_account(struct wal_node *n, const uint8_t pk[SQC_PK_BYTES], struct wal_account *a,
                     struct wal_err *e)
{
    memset(a, 0, sizeof(*a));
    char hex[2 * SQC_PK_BYTES + 1];
    wal_hex(hex, sizeof(hex), pk, SQC_PK_BYTES);
    char path[128];
    snprintf(path, sizeof(path), "/v1/accounts/%s", hex);
    json_t *j;
    int rc = wal_node_get(n, path, 0, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    rc = wal_json_u64(j, "balance", true, &a->balance, e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(j, "nonce", true, &a->nonce, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(j, "pending_nonce", false, &a->pending_nonce, e);
        if (json_object_get(j, "pending_nonce") == NULL) {
            a->pending_nonce = a->nonce;
        }
        a->client = json_is_true(json_object_get(j, "client"));
    }
    json_decref(j);
    return rc;
}

int wal_node_genesis(struct wal_node *n, struct ldg_genesis **out, struct wal_err *e)
{
    *out = NULL;
    json_t *j;
    int rc = wal_node_get(n, "/v1/genesis", 0, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (text == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    int err = ldg_genesis_parse(text, strlen(text), out);
    free(text);
    if (err != SQ_OK) {
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "the node's genesis does not parse: %s",
                        ldg_errmsg());
    }
    return WAL_EXIT_OK;
}

static const char *const state_names[] = {
    [WAL_TX_UNKNOWN] = "unknown",     [WAL_TX_ACCEPTED] = "accepted",
    [WAL_TX_ORDERED] = "ordered",     [WAL_TX_PERSISTED] = "persisted",
    [WAL_TX_FINAL] = "final",         [WAL_TX_FAILED] = "failed",
    [WAL_TX_EXPIRED] = "expired",
};

const char *wal_tx_state_name(enum wal_tx_state s)
{
    return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s]
                                                                      : "unknown";
}

enum wal_tx_state wal_tx_state_parse(const char *name)
{
    for (size_t i = 1; name != NULL && i < sizeof(state_names) / sizeof(state_names[0]); i++) {
        if (strcmp(name, state_names[i]) == 0) {
            return (enum wal_tx_state)i;
        }
    }
    return WAL_TX_UNKNOWN;
}

bool wal_tx_state_reached(enum wal_tx_state s, enum wal_tx_state want)
{
    if (s == WAL_TX_FAILED || s == WAL_TX_EXPIRED) {
        return true;
    }
    if (s == WAL_TX_UNKNOWN) {
        return false;
    }
    return s >= want;
}

int wal_tx_info_parse(const json_t *j, struct wal_tx_info *info, struct wal_err *e)
{
    const char *state = json_string_value(json_object_get(j, "state"));
    info->state = wal_tx_state_parse(state);
    if (info->state == WAL_TX_UNKNOWN) {
        return wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "unknown transaction state '%s'",
                        state ? state : "(none)");
    }
    info->placed = json_object_get(j, "height") != NULL;
    if (!info->placed) {
        return WAL_EXIT_OK;
    }
    uint64_t index = 0;
    int rc = wal_json_u64(j, "height", true, &info->height, e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(j, "index", false, &index, e);
        info->index = (uint32_t)index;
    }
    const char *result = json_string_value(json_object_get(j, "result"));
    snprintf(info->result, sizeof(info->result), "%s", result ? result : "");
    if (rc == WAL_EXIT_OK && json_object_get(j, "block_hash") != NULL) {
        rc = wal_json_hash(j, "block_hash", info->block_hash, e);
        info->has_block_hash = rc == WAL_EXIT_OK;
    }
    return rc;
}

int wal_node_tx(struct wal_node *n, const uint8_t id[LDG_HASH_BYTES], enum wal_tx_state want,
                unsigned wait_ms, struct wal_tx_info *info, struct wal_err *e)
{
    memset(info, 0, sizeof(*info));
    memcpy(info->id, id, LDG_HASH_BYTES);
    char hex[2 * LDG_HASH_BYTES + 1];
    wal_hex(hex, sizeof(hex), id, LDG_HASH_BYTES);
    char path[256];
    unsigned timeout_ms = 0;
    if (want == WAL_TX_ORDERED || want == WAL_TX_PERSISTED || want == WAL_TX_FINAL) {
        snprintf(path, sizeof(path), "/v1/tx/%s?wait=%s&timeout_ms=%u", hex,
                 wal_tx_state_name(want), wait_ms);
        timeout_ms = wait_ms + TIMEOUT_MS_DEFAULT; /* the node holds the call up to wait_ms */
    } else {
        snprintf(path, sizeof(path), "/v1/tx/%s", hex);
    }
    json_t *j;
    int rc = wal_node_get(n, path, timeout_ms, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    const char *rid = json_string_value(json_object_get(j, "id"));
    if (rid != NULL && strcmp(rid, hex) != 0) {
        rc = wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "asked for %s, the node answered for %s",
                      hex, rid);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_tx_info_parse(j, info, e);
    }
    json_decref(j);
    return rc;
}

int wal_node_submit(struct wal_node *n, const uint8_t *tx, size_t size,
                    const uint8_t id[LDG_HASH_BYTES], bool *duplicate, struct wal_err *e)
{
    *duplicate = false;
    char *hex = malloc(2 * size + 1);
    if (hex == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    wal_hex(hex, 2 * size + 1, tx, size);
    json_t *body = json_pack("{s:s}", "tx", hex);
    free(hex);
    if (body == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    json_t *j = NULL;
    /* Idempotent: the same bytes have the same id, and a second copy is refused as a duplicate. */
    int rc = wal_node_post(n, "/v1/tx", body, true, &j, e);
    json_decref(body);
    if (rc == WAL_EXIT_REFUSED && strcmp(e->code, "duplicate") == 0) {
        *duplicate = true;
        return WAL_EXIT_OK;
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    char want[2 * LDG_HASH_BYTES + 1];
    wal_hex(want, sizeof(want), id, LDG_HASH_BYTES);
    const char *got = json_string_value(json_object_get(j, "id"));
    if (got == NULL || strcmp(got, want) != 0) {
        rc = wal_fail(e, WAL_EXIT_NETWORK, "bad_reply",
                      "the node names the transaction %s, its id is %s", got ? got : "(none)",
                      want);
    }
    json_decref(j);
    return rc;
}

int wal_node_receipt(struct wal_node *n, const uint8_t id[LDG_HASH_BYTES], uint8_t **data,
                     size_t *size, uint64_t *height, uint64_t *certified_height,
                     struct wal_err *e)
{
    *data = NULL;
    *size = 0;
    char hex[2 * LDG_HASH_BYTES + 1];
    wal_hex(hex, sizeof(hex), id, LDG_HASH_BYTES);
    char path[256];
    snprintf(path, sizeof(path), "/v1/tx/%s/receipt", hex);
    json_t *j;
    int rc = wal_node_get(n, path, 0, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    rc = wal_json_u64(j, "height", true, height, e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(j, "certified_height", true, certified_height, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_hex(j, "receipt", LDG_RECEIPT_BYTES_MAX, data, size, e);
    }
    json_decref(j);
    return rc;
}

int wal_node_consistency(struct wal_node *n, uint64_t from_size, uint64_t to_size,
                         struct wal_consistency *p, struct wal_err *e)
{
    memset(p, 0, sizeof(*p));
    char path[128];
    snprintf(path, sizeof(path), "/v1/proof/consistency?from=%" PRIu64 "&to=%" PRIu64, from_size,
             to_size);
    json_t *j;
    int rc = wal_node_get(n, path, 0, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    uint64_t f = 0;
    uint64_t t = 0;
    rc = wal_json_u64(j, "from", true, &f, e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_u64(j, "to", true, &t, e);
    }
    if (rc == WAL_EXIT_OK && (f != from_size || t != to_size)) {
        rc = wal_fail(e, WAL_EXIT_NETWORK, "bad_reply",
                      "asked for a proof from %" PRIu64 " to %" PRIu64 ", got %" PRIu64
                      " to %" PRIu64,
                      from_size, to_size, f, t);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_hash(j, "root_from", p->root_from, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_hash(j, "root_to", p->root_to, e);
    }
    json_t *path_j = json_object_get(j, "path");
    if (rc == WAL_EXIT_OK && (!json_is_array(path_j) ||
                              json_array_size(path_j) > SQ_MERKLE_DEPTH_MAX)) {
        rc = wal_fail(e, WAL_EXIT_NETWORK, "bad_reply",
                      "the proof's path is missing or longer than %u hashes", SQ_MERKLE_DEPTH_MAX);
    }
    for (size_t i = 0; rc == WAL_EXIT_OK && i < json_array_size(path_j); i++) {
        const char *s = json_string_value(json_array_get(path_j, i));
        size_t got = 0;
        if (s == NULL || strlen(s) != 2 * LDG_HASH_BYTES ||
            sqc_hex_decode(p->path[i], LDG_HASH_BYTES, s, strlen(s), &got) != SQ_OK) {
            rc = wal_fail(e, WAL_EXIT_NETWORK, "bad_reply", "path[%zu] is not a hash", i);
        }
        p->path_count = i + 1;
    }
    p->from_size = from_size;
    p->to_size = to_size;
    json_decref(j);
    return rc;
}

int wal_consistency_check(const struct wal_consistency *p, const uint8_t *trusted_from,
                          const uint8_t *trusted_to, struct wal_err *e)
{
    char a[2 * LDG_HASH_BYTES + 1];
    char b[2 * LDG_HASH_BYTES + 1];
    if (trusted_from != NULL && memcmp(trusted_from, p->root_from, LDG_HASH_BYTES) != 0) {
        wal_hex(a, sizeof(a), trusted_from, LDG_HASH_BYTES);
        wal_hex(b, sizeof(b), p->root_from, LDG_HASH_BYTES);
        return wal_fail(e, WAL_EXIT_FAULT, "root_mismatch",
                        "the root of the first %" PRIu64 " blocks is %s, you hold %s",
                        p->from_size, b, a);
    }
    if (trusted_to != NULL && memcmp(trusted_to, p->root_to, LDG_HASH_BYTES) != 0) {
        wal_hex(a, sizeof(a), trusted_to, LDG_HASH_BYTES);
        wal_hex(b, sizeof(b), p->root_to, LDG_HASH_BYTES);
        return wal_fail(e, WAL_EXIT_FAULT, "root_mismatch",
                        "the root of the first %" PRIu64 " blocks is %s, you hold %s", p->to_size,
                        b, a);
    }
    if (sqc_merkle_consistency_verify(p->from_size, p->to_size, p->root_from, p->root_to,
                                      (const uint8_t(*)[SQC_HASH_BYTES])p->path,
                                      p->path_count) != SQ_OK) {
        return wal_fail(e, WAL_EXIT_FAULT, "not_consistent",
                        "the proof does not show that the chain of %" PRIu64
                        " blocks extends the chain of %" PRIu64 " blocks",
                        p->to_size, p->from_size);
    }
    return WAL_EXIT_OK;
}

int wal_node_block_hash(struct wal_node *n, uint64_t height, uint8_t hash[LDG_HASH_BYTES],
                        struct wal_err *e)
{
    char path[64];
    snprintf(path, sizeof(path), "/v1/blocks/%" PRIu64, height);
    json_t *j;
    int rc = wal_node_get(n, path, 0, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    uint8_t *raw = NULL;
    size_t size = 0;
    rc = wal_json_hash(j, "hash", hash, e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_json_hex(j, "block", LDG_BLOCK_BYTES_MAX, &raw, &size, e);
    }
    if (rc == WAL_EXIT_OK) {
        struct ldg_block blk;
        if (ldg_block_decode(raw, size, &blk, NULL) != SQ_OK) {
            rc = wal_fail(e, WAL_EXIT_FAULT, "bad_block", "block %" PRIu64 " does not decode: %s",
                          height, ldg_errmsg());
        } else if (memcmp(blk.hash, hash, LDG_HASH_BYTES) != 0 || blk.hdr.height != height) {
            rc = wal_fail(e, WAL_EXIT_FAULT, "bad_block",
                          "block %" PRIu64 ": the 'hash' field is not the hash of its header",
                          height);
        }
    }
    free(raw);
    json_decref(j);
    return rc;
}
