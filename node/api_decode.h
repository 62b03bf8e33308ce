/* Decoders for the HTTP API's requests (docs/api.md): request bodies, path segments and query
 * arguments. Pure functions of their input (no node state, no I/O), so the fuzz target
 * tests/fuzz/node/fuzz_api_decode.c can drive them with anything. Any thread. */
#ifndef SQ_NODE_API_DECODE_H
#define SQ_NODE_API_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"

#define NODE_API_TXS_MAX 1000 /* transactions in one POST /v1/txs */

/* Which documented error a decoding failure maps to. */
enum node_api_err {
    NODE_API_OK = 0,
    NODE_API_BAD_JSON,    /* 400 bad_json */
    NODE_API_BAD_TX,      /* 400 bad_tx */
    NODE_API_BAD_REQUEST, /* 400 bad_request */
    NODE_API_TOO_LARGE,   /* 413 too_large */
};

/* HTTP status and stable code of an error class. */
unsigned node_api_err_status(enum node_api_err e);
const char *node_api_err_code(enum node_api_err e);

/* One transaction in a request: its bytes (decoded from hex, at most SQ_TX_BYTES_MAX), or the
 * reason it could not be decoded. */
struct node_api_tx {
    enum node_api_err err;
    char msg[160];
    size_t size;
    uint8_t bytes[SQ_TX_BYTES_MAX];
};

/* Decodes the body of POST /v1/tx: {"tx": "<hex>"}. On NODE_API_OK, out->bytes holds the
 * transaction (not yet decoded as one). Otherwise the class and a message (msg, msg_size). */
enum node_api_err node_api_decode_tx(const uint8_t *body, size_t size, struct node_api_tx *out,
                                     char *msg, size_t msg_size);

/* Decodes the body of POST /v1/txs: {"txs": ["<hex>", ...]} with 1..NODE_API_TXS_MAX entries into
 * out[0..*count) (out holds NODE_API_TXS_MAX). A body that is not that shape fails whole
 * (bad_json, or too_large past the count); an entry that is not valid hex gets its own bad_tx in
 * out[i].err. */
enum node_api_err node_api_decode_txs(const uint8_t *body, size_t size, struct node_api_tx *out,
                                      size_t *count, char *msg, size_t msg_size);

/* Parses 64 hex digits (a key, hash or transaction id) exactly. */
bool node_api_parse_hash(const char *text, uint8_t out[32]);

/* Parses a decimal unsigned integer (no sign, no spaces, no leading '+'), at most `max`. */
bool node_api_parse_u64(const char *text, uint64_t max, uint64_t *out);

/* Parses a wait target: "ordered", "persisted" or "final" -> 1, 2, 3 (enum node_tx_state); -1 for
 * anything else. */
int node_api_parse_wait(const char *text);

/* Splits a request path into at most `max` segments after the leading '/' ("/v1/tx/ab" -> "v1",
 * "tx", "ab") into buf (cap bytes). Returns the number of segments, or -1 for an empty segment,
 * a path too long for buf, or more than `max` segments. */
int node_api_split_path(const char *path, char *buf, size_t cap, const char **segs, int max);

#endif
