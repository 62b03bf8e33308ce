#include "node/api_decode.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crypto/crypto.h"

unsigned node_api_err_status(enum node_api_err e)
{
    return e == NODE_API_TOO_LARGE ? 413 : 400;
}

const char *node_api_err_code(enum node_api_err e)
{
    switch (e) {
    case NODE_API_OK:
        return "ok";
    case NODE_API_BAD_JSON:
        return "bad_json";
    case NODE_API_BAD_TX:
        return "bad_tx";
    case NODE_API_BAD_REQUEST:
        return "bad_request";
    case NODE_API_TOO_LARGE:
        return "too_large";
    }
    return "bad_request";
}

static json_t *parse_object(const uint8_t *body, size_t size, char *msg, size_t msg_size)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)body, size, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        snprintf(msg, msg_size, "body is not valid JSON: %s (line %d, column %d)", jerr.text,
                 jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        snprintf(msg, msg_size, "body must be a JSON object");
        json_decref(root);
        return NULL;
    }
    return root;
}

static void decode_hex_tx(json_t *j, struct node_api_tx *out, const char *where)
{
    out->err = NODE_API_OK;
    out->msg[0] = '\0';
    out->size = 0;
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    if (len == 0) {
        out->err = NODE_API_BAD_TX;
        snprintf(out->msg, sizeof(out->msg), "%s is empty", where);
        return;
    }
    if (len > 2 * (size_t)SQ_TX_BYTES_MAX) {
        out->err = NODE_API_BAD_TX;
        snprintf(out->msg, sizeof(out->msg), "%s is longer than %u bytes", where,
                 SQ_TX_BYTES_MAX);
        return;
    }
    if (sqc_hex_decode(out->bytes, sizeof(out->bytes), s, len, &out->size) != 0) {
        out->err = NODE_API_BAD_TX;
        snprintf(out->msg, sizeof(out->msg), "%s is not an even number of hex digits", where);
        out->size = 0;
    }
}

enum node_api_err node_api_decode_tx(const uint8_t *body, size_t size, struct node_api_tx *out,
                                     char *msg, size_t msg_size)
{
    json_t *root = parse_object(body, size, msg, msg_size);
    if (root == NULL) {
        return NODE_API_BAD_JSON;
    }
    enum node_api_err rc = NODE_API_OK;
    json_t *tx = json_object_get(root, "tx");
    if (tx == NULL || !json_is_string(tx)) {
        snprintf(msg, msg_size, "field \"tx\" must be a hex string");
        rc = NODE_API_BAD_JSON;
    } else if (json_object_size(root) != 1) {
        snprintf(msg, msg_size, "unexpected fields besides \"tx\"");
        rc = NODE_API_BAD_JSON;
    } else {
        decode_hex_tx(tx, out, "\"tx\"");
        if (out->err != NODE_API_OK) {
            snprintf(msg, msg_size, "%s", out->msg);
            rc = out->err;
        }
    }
    json_decref(root);
    return rc;
}

enum node_api_err node_api_decode_txs(const uint8_t *body, size_t size, struct node_api_tx *out,
                                      size_t *count, char *msg, size_t msg_size)
{
    *count = 0;
    json_t *root = parse_object(body, size, msg, msg_size);
    if (root == NULL) {
        return NODE_API_BAD_JSON;
    }
    enum node_api_err rc = NODE_API_OK;
    json_t *arr = json_object_get(root, "txs");
    if (arr == NULL || !json_is_array(arr)) {
        snprintf(msg, msg_size, "field \"txs\" must be an array of hex strings");
        rc = NODE_API_BAD_JSON;
        goto out;
    }
    if (json_object_size(root) != 1) {
        snprintf(msg, msg_size, "unexpected fields besides \"txs\"");
        rc = NODE_API_BAD_JSON;
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n == 0) {
        snprintf(msg, msg_size, "\"txs\" is empty");
        rc = NODE_API_BAD_JSON;
        goto out;
    }
    if (n > NODE_API_TXS_MAX) {
        snprintf(msg, msg_size, "%zu transactions; at most %u per request", n, NODE_API_TXS_MAX);
        rc = NODE_API_TOO_LARGE;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_array_get(arr, i);
        if (!json_is_string(j)) {
            snprintf(msg, msg_size, "\"txs\"[%zu] must be a hex string", i);
            rc = NODE_API_BAD_JSON;
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++) {
        char where[32];
        snprintf(where, sizeof(where), "\"txs\"[%zu]", i);
        decode_hex_tx(json_array_get(arr, i), &out[i], where);
    }
    *count = n;
out:
    json_decref(root);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool node_api_parse_hash(const char *text, uint8_t out[32])
{
    if (text == NULL || strlen(text) != 64) {
        return false;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(text[2 * i]);
        int lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool node_api_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    if (text == NULL || *text == '\0' || strlen(text) > 20) {
        return false;
    }
    uint64_t v = 0;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (v > max) {
        return false;
    }
    *out = v;
    return true;
}

int node_api_parse_wait(const char *text)
{
    if (text == NULL) {
        return -1;
    }
    if (strcmp(text, "ordered") == 0) {
        return 1;
    }
    if (strcmp(text, "persisted") == 0) {
        return 2;
    }
    if (strcmp(text, "final") == 0) {
        return 3;
    }
    return -1;
}

int node_api_split_path(const char *path, char *buf, size_t cap, const char **segs, int max)
{
    size_t len = strlen(path);
    if (len == 0 || path[0] != '/' || len >= cap) {
        return -1;
    }
    memcpy(buf, path + 1, len); /* with the NUL */
    if (buf[0] == '\0') {
        return 0;
    }
    int n = 0;
    char *p = buf;
    for (;;) {
        if (n == max) {
            return -1;
        }
        char *slash = strchr(p, '/');
        if (slash == p || *p == '\0') {
            return -1; /* empty segment ("//", or a trailing "/") */
        }
        segs[n++] = p;
        if (slash == NULL) {
            break;
        }
        *slash = '\0';
        p = slash + 1;
    }
    return n;
}
