/* rpc/: the HTTP/JSON API server (libmicrohttpd + jansson) and its client (libcurl).
 *
 * The server knows nothing of ledgers: it parses requests within bounds, hands each one to one
 * handler, and sends back what the handler replies. Handlers run on the server's own threads;
 * a handler either replies at once or keeps the request and replies later from any thread (the
 * node's loop, a long-poll timer). Every reply to an error uses one JSON shape:
 *
 *     {"error": {"code": "bad_request", "message": "body is not valid JSON: ..."}}
 *
 * with a stable `code` (see docs/api.md) and the HTTP status that fits. */
#ifndef SQ_RPC_RPC_H
#define SQ_RPC_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_t;
struct rpc_server;
struct rpc_request;
struct rpc_client;

#define RPC_BODY_BYTES_MAX (16u * 1024 * 1024)     /* hard cap on a request body */
#define RPC_RESPONSE_BYTES_MAX (64u * 1024 * 1024) /* hard cap on a response the client reads */
#define RPC_PATH_BYTES_MAX 1024
#define RPC_THREADS_MAX 16

enum rpc_method {
    RPC_GET = 0,
    RPC_POST,
    RPC_HEAD,
    RPC_OTHER,
};

/* Called once per complete request on a server thread. The request is borrowed until a reply
 * function is called for it; if the handler returns without replying, the connection waits
 * (suspended, holding no thread) until a reply comes from any thread. */
typedef void (*rpc_handler_fn)(void *arg, struct rpc_request *req);

struct rpc_server_config {
    const char *bind_addr;           /* IPv4 or IPv6 literal; NULL means 127.0.0.1 */
    uint16_t port;                   /* 0: an ephemeral port (see rpc_server_port) */
    size_t body_bytes_max;           /* 0: 1 MiB; capped at RPC_BODY_BYTES_MAX */
    unsigned threads;                /* server threads; 0: 2; capped at RPC_THREADS_MAX */
    unsigned connections_max;        /* 0: 1024 */
    unsigned per_ip_connections_max; /* 0: no per-address limit */
    unsigned idle_timeout_s;         /* idle connections are closed; 0: 60 s */
    rpc_handler_fn handler;
    void *handler_arg;
};

/* Binds and starts serving. SQ_EINVAL for a bad address or config, SQ_EIO when the port cannot be
 * bound (already in use, no permission): errbuf says which. Call from any one thread. */
int rpc_server_start(struct rpc_server **out, const struct rpc_server_config *cfg, char *errbuf,
                     size_t errbuf_size);

/* The port actually bound. */
uint16_t rpc_server_port(const struct rpc_server *srv);

/* Stops accepting, answers every still-waiting request with 503 "shutting_down", waits for the
 * server threads and frees the server. Requests that a handler kept stay valid until the handler
 * replies to (or releases) them; those late replies are dropped. Not from a server thread. */
void rpc_server_stop(struct rpc_server *srv);

/* ---- reading a request (valid until it is replied to) ---- */
enum rpc_method rpc_request_method(const struct rpc_request *req);
/* The path without the query string, e.g. "/v1/tx/ab12". */
const char *rpc_request_path(const struct rpc_request *req);
/* A query-string argument ("?wait=final" -> "final"), or NULL when absent. */
const char *rpc_request_query(const struct rpc_request *req, const char *key);
/* A request header, or NULL. */
const char *rpc_request_header(const struct rpc_request *req, const char *name);
/* The body (NUL-terminated for convenience; *size excludes the NUL). Empty for GET. */
const uint8_t *rpc_request_body(const struct rpc_request *req, size_t *size);
/* The client's address as text ("127.0.0.1"). */
const char *rpc_request_peer(const struct rpc_request *req);

/* ---- replying (exactly once per request; any thread) ----
 * Each returns true when the reply will be sent, false when the request was already answered
 * (for example by rpc_server_stop); either way the caller must not touch `req` afterwards. */

/* Sends `body` as application/json. Steals the reference to body (jansson). */
bool rpc_reply_json(struct rpc_request *req, unsigned status, struct json_t *body);
/* Sends `size` bytes of `data` (copied) with the given content type. */
bool rpc_reply_data(struct rpc_request *req, unsigned status, const char *content_type,
                    const void *data, size_t size);
/* Sends the JSON error shape with a stable `code` and a printf-formatted message. */
bool rpc_reply_error(struct rpc_request *req, unsigned status, const char *code, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* ---- client (libcurl) ---- */

/* A client for one base URL ("http://127.0.0.1:8545"). Not thread-safe: one per thread.
 * `timeout_ms` bounds each whole request (0: 30 s). */
int rpc_client_create(struct rpc_client **out, const char *base_url, unsigned timeout_ms);
void rpc_client_destroy(struct rpc_client *client);
/* Changes the per-request timeout (long-polls need more than the default). */
void rpc_client_set_timeout(struct rpc_client *client, unsigned timeout_ms);

/* Performs GET base_url+path (path includes any query string) or POST with a JSON body.
 * On SQ_OK, *status is the HTTP status and *out the parsed JSON response (a new reference the
 * caller must json_decref), whatever the status. SQ_EPEER when the server cannot be reached or the
 * connection failed, SQ_ETIMEDOUT, SQ_ECORRUPT when the response is not JSON, SQ_ETOOBIG when it
 * exceeds RPC_RESPONSE_BYTES_MAX. errbuf gets a one-line reason on failure. */
int rpc_client_get(struct rpc_client *client, const char *path, long *status, struct json_t **out,
                   char *errbuf, size_t errbuf_size);
int rpc_client_post(struct rpc_client *client, const char *path, const struct json_t *body,
                    long *status, struct json_t **out, char *errbuf, size_t errbuf_size);
/* GET returning the raw body (for /metrics): *data is malloc'd and NUL-terminated. */
int rpc_client_get_raw(struct rpc_client *client, const char *path, long *status, char **data,
                       size_t *size, char *errbuf, size_t errbuf_size);

#endif
