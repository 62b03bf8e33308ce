/* HTTP server on libmicrohttpd.
 *
 * Request life cycle. MHD calls access_cb repeatedly for one request: first to create our state,
 * then with body chunks, then once more with no data; that last call dispatches to the handler.
 * If the handler replied, the response is queued at once. Otherwise the connection is suspended
 * and the handler's later reply (from any thread) resumes it; MHD then calls access_cb again and
 * the stored response is queued. All request state is guarded by the server mutex; MHD functions
 * are never called while holding it, so MHD's own locks and ours never nest. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "rpc/rpc.h"

#define KV_MAX 32
#define KV_BYTES_MAX 4096

enum req_state {
    ST_READING,   /* body arriving */
    ST_HANDLING,  /* handler running */
    ST_SUSPENDING, /* handler returned without a reply; access_cb is suspending the connection */
    ST_SUSPENDED, /* waiting for a reply */
    ST_READY,     /* a reply is stored and will be queued by access_cb */
    ST_READY_RESUME, /* a reply arrived while suspending: the suspender must resume */
    ST_QUEUED,    /* the reply was handed to MHD */
};

struct kv {
    const char *key;
    const char *value;
};

struct rpc_request {
    struct rpc_server *srv;
    struct MHD_Connection *conn;
    enum req_state state;
    bool handler_ref; /* the handler holds it until it calls a reply function */
    bool answered;    /* a response exists (from the handler, or from the server at stop) */
    bool mhd_done; /* MHD reported the request completed */
    bool too_big;
    bool draining; /* answered by rpc_server_stop: counted in srv->draining */
    enum rpc_method method;
    struct MHD_Response *resp;
    unsigned status;
    uint8_t *body;
    size_t body_len;
    size_t body_cap;
    char path[RPC_PATH_BYTES_MAX];
    char peer[INET6_ADDRSTRLEN];
    struct kv query[KV_MAX];
    unsigned query_count;
    struct kv headers[KV_MAX];
    unsigned header_count;
    char kv_arena[KV_BYTES_MAX];
    size_t kv_used;
    struct rpc_request *prev, *next; /* on srv->waiting while suspended */
};

struct rpc_server {
    struct MHD_Daemon *daemon;
    pthread_mutex_t mu;
    pthread_cond_t drained; /* signalled when a request answered at stop completes */
    unsigned draining;      /* requests answered at stop, not yet completed */
    unsigned transit;       /* requests in or just out of the handler, not yet queued or waiting */
    unsigned refs; /* 1 while running + one per live request */
    bool stopping;
    struct rpc_request *waiting;
    size_t body_bytes_max;
    rpc_handler_fn handler;
    void *handler_arg;
    uint16_t port;
};

static void srv_unref_locked(struct rpc_server *srv, bool *free_srv)
{
    SQ_ASSERT(srv->refs > 0);
    srv->refs--;
    *free_srv = srv->refs == 0;
}

static void srv_free(struct rpc_server *srv)
{
    pthread_cond_destroy(&srv->drained);
    pthread_mutex_destroy(&srv->mu);
    free(srv);
}

/* Frees the request if nobody needs it any more. Called with srv->mu held; returns whether the
 * server itself must be freed after unlocking. */
static bool req_maybe_free_locked(struct rpc_request *req)
{
    if (!req->mhd_done || req->handler_ref) {
        return false;
    }
    struct rpc_server *srv = req->srv;
    if (req->resp != NULL) {
        MHD_destroy_response(req->resp); /* a reply that never got queued */
    }
    free(req->body);
    free(req);
    bool free_srv = false;
    srv_unref_locked(srv, &free_srv);
    return free_srv;
}

static void waiting_remove_locked(struct rpc_server *srv, struct rpc_request *req)
{
    if (req->prev != NULL) {
        req->prev->next = req->next;
    } else if (srv->waiting == req) {
        srv->waiting = req->next;
    }
    if (req->next != NULL) {
        req->next->prev = req->prev;
    }
    req->prev = req->next = NULL;
}

static const char *arena_copy(struct rpc_request *req, const char *s)
{
    size_t n = strlen(s) + 1;
    if (n > sizeof(req->kv_arena) - req->kv_used) {
        return NULL;
    }
    char *p = req->kv_arena + req->kv_used;
    memcpy(p, s, n);
    req->kv_used += n;
    return p;
}

static enum MHD_Result collect_kv(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct rpc_request *req = cls;
    struct kv *arr = kind == MHD_GET_ARGUMENT_KIND ? req->query : req->headers;
    unsigned *count = kind == MHD_GET_ARGUMENT_KIND ? &req->query_count : &req->header_count;
    if (*count >= KV_MAX || key == NULL) {
        return MHD_YES; /* extra arguments are ignored, not fatal */
    }
    const char *k = arena_copy(req, key);
    const char *v = arena_copy(req, value ? value : "");
    if (k != NULL && v != NULL) {
        arr[*count].key = k;
        arr[*count].value = v;
        (*count)++;
    }
    return MHD_YES;
}

static struct MHD_Response *make_error_response(unsigned status, const char *code,
                                                const char *msg, unsigned *status_out)
{
    json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    struct MHD_Response *r = NULL;
    if (text != NULL) {
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (r == NULL) {
            free(text);
        }
    }
    if (r != NULL) {
        MHD_add_response_header(r, "Content-Type", "application/json");
    }
    *status_out = status;
    return r;
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status,
                             struct MHD_Response *resp)
{
    if (resp == NULL) {
        return MHD_NO; /* out of memory: MHD closes the connection */
    }
    enum MHD_Result r = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum rpc_method parse_method(const char *m)
{
    if (strcmp(m, "GET") == 0) {
        return RPC_GET;
    }
    if (strcmp(m, "POST") == 0) {
        return RPC_POST;
    }
    if (strcmp(m, "HEAD") == 0) {
        return RPC_HEAD;
    }
    return RPC_OTHER;
}

/* `req` left the handler for the queue or the waiting list. A request answered for its handler
 * at stop is waited for until it completes. Lock held. */
static void transit_end_locked(struct rpc_server *srv, struct rpc_request *req)
{
    SQ_ASSERT(srv->transit > 0);
    srv->transit--;
    if (srv->stopping) {
        if ((req->state == ST_QUEUED || req->state == ST_READY) && !req->draining) {
            req->draining = true;
            srv->draining++;
        }
        pthread_cond_broadcast(&srv->drained);
    }
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    (void)version;
    struct rpc_server *srv = cls;
    struct rpc_request *req = *con_cls;

    if (req == NULL) {
        req = calloc(1, sizeof(*req));
        if (req == NULL) {
            return MHD_NO;
        }
        req->srv = srv;
        req->conn = conn;
        req->state = ST_READING;
        req->method = parse_method(method);
        snprintf(req->path, sizeof(req->path), "%s", url);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (ci != NULL && ci->client_addr != NULL) {
            const struct sockaddr *sa = ci->client_addr;
            if (sa->sa_family == AF_INET) {
                inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                          req->peer, sizeof(req->peer));
            } else if (sa->sa_family == AF_INET6) {
                inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                          req->peer, sizeof(req->peer));
            }
        }
        MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_kv, req);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_kv, req);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > srv->body_bytes_max) {
            req->too_big = true; /* refuse before reading a byte of it */
        }
        pthread_mutex_lock(&srv->mu);
        srv->refs++;
        pthread_mutex_unlock(&srv->mu);
        *con_cls = req;
        return MHD_YES;
    }

    if (req->state == ST_READING && *upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->too_big || n > srv->body_bytes_max - req->body_len) {
            req->too_big = true; /* keep draining so the 413 can be sent cleanly */
            return MHD_YES;
        }
        if (req->body_len + n + 1 > req->body_cap) {
            size_t cap = req->body_cap ? req->body_cap : 4096;
            while (cap < req->body_len + n + 1) {
                cap *= 2;
            }
            uint8_t *b = realloc(req->body, cap);
            if (b == NULL) {
                return MHD_NO;
            }
            req->body = b;
            req->body_cap = cap;
        }
        memcpy(req->body + req->body_len, upload_data, n);
        req->body_len += n;
        return MHD_YES;
    }

    if (req->state == ST_READING) {
        /* The whole request is in. */
        if (req->body == NULL) {
            req->body = calloc(1, 1);
            if (req->body == NULL) {
                return MHD_NO;
            }
        } else {
            req->body[req->body_len] = '\0';
        }
        if (req->too_big) {
            char msg[96];
            snprintf(msg, sizeof(msg), "request body exceeds %zu bytes", srv->body_bytes_max);
            unsigned st;
            struct MHD_Response *r = make_error_response(413, "too_large", msg, &st);
            req->state = ST_QUEUED;
            return queue(conn, st, r);
        }
        /* From here until the request is queued or on the waiting list, rpc_server_stop waits
         * for it (it could neither see it waiting nor let the daemon stop under it). One lock
         * for the check and the count: a stop either sees the count or is seen here. */
        pthread_mutex_lock(&srv->mu);
        bool stopping = srv->stopping;
        if (!stopping) {
            req->state = ST_HANDLING;
            req->handler_ref = true;
            srv->transit++;
        }
        pthread_mutex_unlock(&srv->mu);
        if (stopping) {
            unsigned st;
            struct MHD_Response *r =
                make_error_response(503, "shutting_down", "the node is shutting down", &st);
            req->state = ST_QUEUED;
            return queue(conn, st, r);
        }
        srv->handler(srv->handler_arg, req);

        pthread_mutex_lock(&srv->mu);
        if (req->state == ST_READY) {
            struct MHD_Response *r = req->resp;
            req->resp = NULL;
            req->state = ST_QUEUED;
            transit_end_locked(srv, req);
            pthread_mutex_unlock(&srv->mu);
            return queue(conn, req->status, r);
        }
        SQ_ASSERT(req->state == ST_HANDLING);
        if (srv->stopping) {
            /* No suspending while the daemon stops: answer for the handler, whose later reply
             * will be dropped. */
            req->answered = true;
            req->state = ST_QUEUED;
            transit_end_locked(srv, req);
            pthread_mutex_unlock(&srv->mu);
            unsigned st;
            struct MHD_Response *r =
                make_error_response(503, "shutting_down", "the node is shutting down", &st);
            return queue(conn, st, r);
        }
        req->state = ST_SUSPENDING;
        pthread_mutex_unlock(&srv->mu);

        MHD_suspend_connection(conn);

        pthread_mutex_lock(&srv->mu);
        if (req->state == ST_READY_RESUME) {
            req->state = ST_READY;
            transit_end_locked(srv, req);
            pthread_mutex_unlock(&srv->mu);
            MHD_resume_connection(conn);
            return MHD_YES;
        }
        SQ_ASSERT(req->state == ST_SUSPENDING);
        req->state = ST_SUSPENDED;
        req->next = srv->waiting;
        req->prev = NULL;
        if (srv->waiting != NULL) {
            srv->waiting->prev = req;
        }
        srv->waiting = req;
        transit_end_locked(srv, req);
        pthread_mutex_unlock(&srv->mu);
        return MHD_YES;
    }

    /* Called again after a resume: queue the stored reply. */
    pthread_mutex_lock(&srv->mu);
    if (req->state != ST_READY) {
        pthread_mutex_unlock(&srv->mu);
        return MHD_YES; /* spurious call while still waiting */
    }
    struct MHD_Response *r = req->resp;
    req->resp = NULL;
    req->state = ST_QUEUED;
    pthread_mutex_unlock(&srv->mu);
    return queue(conn, req->status, r);
}

static void completed_cb(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct rpc_server *srv = cls;
    struct rpc_request *req = *con_cls;
    if (req == NULL) {
        return;
    }
    *con_cls = NULL;
    pthread_mutex_lock(&srv->mu);
    req->mhd_done = true;
    if (req->draining) {
        srv->draining--;
        pthread_cond_broadcast(&srv->drained);
    }
    bool free_srv = req_maybe_free_locked(req);
    pthread_mutex_unlock(&srv->mu);
    if (free_srv) {
        srv_free(srv);
    }
}

/* Stores `resp` as the reply to `req`, resuming the connection if it waits. Takes ownership of
 * resp. Returns whether the reply will be sent. */
static bool deliver(struct rpc_request *req, unsigned status, struct MHD_Response *resp)
{
    struct rpc_server *srv = req->srv;
    bool resume = false;
    bool sent = false;
    pthread_mutex_lock(&srv->mu);
    SQ_ASSERT(req->handler_ref); /* one reply per request: a second one is a bug */
    req->handler_ref = false;
    if (req->answered) {
        /* Answered by the server while stopping: drop this reply. */
        if (resp != NULL) {
            MHD_destroy_response(resp);
        }
    } else {
        req->answered = true;
        if (resp == NULL) {
            unsigned st;
            resp = make_error_response(500, "internal", "out of memory", &st);
            status = st;
        }
        req->resp = resp;
        req->status = status;
        switch (req->state) {
        case ST_HANDLING:
            req->state = ST_READY;
            break;
        case ST_SUSPENDING:
            req->state = ST_READY_RESUME;
            break;
        case ST_SUSPENDED:
            waiting_remove_locked(srv, req);
            req->state = ST_READY;
            resume = true;
            break;
        default:
            SQ_UNREACHABLE();
        }
        sent = true;
    }
    bool free_srv = req_maybe_free_locked(req);
    pthread_mutex_unlock(&srv->mu);
    if (resume) {
        /* Safe without the lock: a suspended request cannot complete until resumed. */
        MHD_resume_connection(req->conn);
    }
    if (free_srv) {
        srv_free(srv);
    }
    return sent;
}

bool rpc_reply_data(struct rpc_request *req, unsigned status, const char *content_type,
                    const void *data, size_t size)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(size, (void *)(uintptr_t)data, MHD_RESPMEM_MUST_COPY);
    if (r != NULL && content_type != NULL) {
        MHD_add_response_header(r, "Content-Type", content_type);
    }
    return deliver(req, status, r);
}

bool rpc_reply_json(struct rpc_request *req, unsigned status, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    struct MHD_Response *r = NULL;
    if (text != NULL) {
        r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
        if (r == NULL) {
            free(text);
        } else {
            MHD_add_response_header(r, "Content-Type", "application/json");
        }
    }
    return deliver(req, status, r);
}

bool rpc_reply_error(struct rpc_request *req, unsigned status, const char *code, const char *fmt,
                     ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    unsigned st;
    struct MHD_Response *r = make_error_response(status, code, msg, &st);
    return deliver(req, st, r);
}

enum rpc_method rpc_request_method(const struct rpc_request *req)
{
    return req->method;
}

const char *rpc_request_path(const struct rpc_request *req)
{
    return req->path;
}

static const char *kv_find(const struct kv *arr, unsigned count, const char *key, bool nocase)
{
    for (unsigned i = 0; i < count; i++) {
        if (nocase ? strcasecmp(arr[i].key, key) == 0 : strcmp(arr[i].key, key) == 0) {
            return arr[i].value;
        }
    }
    return NULL;
}

const char *rpc_request_query(const struct rpc_request *req, const char *key)
{
    return kv_find(req->query, req->query_count, key, false);
}

const char *rpc_request_header(const struct rpc_request *req, const char *name)
{
    return kv_find(req->headers, req->header_count, name, true);
}

const uint8_t *rpc_request_body(const struct rpc_request *req, size_t *size)
{
    *size = req->body_len;
    return req->body;
}

const char *rpc_request_peer(const struct rpc_request *req)
{
    return req->peer;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0';
    }
    SQ_WARN("rpc", "http server", "detail=\"%s\"", msg);
}

int rpc_server_start(struct rpc_server **out, const struct rpc_server_config *cfg, char *errbuf,
                     size_t errbuf_size)
{
    if (cfg->handler == NULL) {
        snprintf(errbuf, errbuf_size, "no request handler");
        return SQ_EINVAL;
    }
    const char *addr = cfg->bind_addr ? cfg->bind_addr : "127.0.0.1";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    bool v6 = false;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(cfg->port);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(cfg->port);
        v6 = true;
    } else {
        snprintf(errbuf, errbuf_size, "rpc address '%s' is not an IPv4 or IPv6 address", addr);
        return SQ_EINVAL;
    }
    struct rpc_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        return SQ_ENOMEM;
    }
    if (pthread_mutex_init(&srv->mu, NULL) != 0) {
        free(srv);
        return SQ_ENOMEM;
    }
    if (pthread_cond_init(&srv->drained, NULL) != 0) {
        pthread_mutex_destroy(&srv->mu);
        free(srv);
        return SQ_ENOMEM;
    }
    srv->refs = 1;
    srv->handler = cfg->handler;
    srv->handler_arg = cfg->handler_arg;
    srv->body_bytes_max = cfg->body_bytes_max ? cfg->body_bytes_max : 1024 * 1024;
    if (srv->body_bytes_max > RPC_BODY_BYTES_MAX) {
        srv->body_bytes_max = RPC_BODY_BYTES_MAX;
    }
    unsigned threads = cfg->threads ? cfg->threads : 2;
    if (threads > RPC_THREADS_MAX) {
        threads = RPC_THREADS_MAX;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    if (v6) {
        flags |= MHD_USE_IPv6;
    }
    srv->daemon = MHD_start_daemon(
        flags, cfg->port, NULL, NULL, access_cb, srv, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, srv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_LIMIT, cfg->connections_max ? cfg->connections_max : 1024u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->per_ip_connections_max,
        MHD_OPTION_CONNECTION_TIMEOUT, cfg->idle_timeout_s ? cfg->idle_timeout_s : 60u,
        MHD_OPTION_END);
    if (srv->daemon == NULL) {
        snprintf(errbuf, errbuf_size,
                 "cannot serve HTTP on %s:%u (address in use or not available)", addr,
                 (unsigned)cfg->port);
        srv_free(srv);
        return SQ_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = di ? di->port : cfg->port;
    *out = srv;
    return SQ_OK;
}

uint16_t rpc_server_port(const struct rpc_server *srv)
{
    return srv->port;
}

void rpc_server_stop(struct rpc_server *srv)
{
    if (srv == NULL) {
        return;
    }
    /* Give the answered requests a moment to reach their clients: MHD_stop_daemon closes
     * connections without flushing. Bounded, so a stuck client cannot hold shutdown. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 2;
    /* No request may be left between its handler and the waiting list: one that is would be
     * missed below and then suspended under a stopping daemon (its client saw the connection
     * close instead of a 503). From now on a handler's return finds `stopping` and answers. */
    pthread_mutex_lock(&srv->mu);
    srv->stopping = true;
    while (srv->transit > 0) {
        if (pthread_cond_timedwait(&srv->drained, &srv->mu, &deadline) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    /* Answer every waiting request so no connection stays suspended (MHD refuses to stop with
     * suspended connections). The handlers' own replies, when they come, are dropped. */
    for (;;) {
        pthread_mutex_lock(&srv->mu);
        struct rpc_request *req = srv->waiting;
        if (req == NULL) {
            pthread_mutex_unlock(&srv->mu);
            break;
        }
        waiting_remove_locked(srv, req);
        SQ_ASSERT(req->state == ST_SUSPENDED);
        unsigned st;
        req->resp = make_error_response(503, "shutting_down", "the node is shutting down", &st);
        req->status = st;
        req->answered = true;
        req->state = ST_READY;
        req->draining = true;
        srv->draining++;
        pthread_mutex_unlock(&srv->mu);
        MHD_resume_connection(req->conn);
    }
    pthread_mutex_lock(&srv->mu);
    while (srv->draining > 0) {
        if (pthread_cond_timedwait(&srv->drained, &srv->mu, &deadline) != 0) {
            break;
        }
    }
    pthread_mutex_unlock(&srv->mu);
    MHD_stop_daemon(srv->daemon);
    pthread_mutex_lock(&srv->mu);
    bool free_srv = false;
    srv_unref_locked(srv, &free_srv);
    pthread_mutex_unlock(&srv->mu);
    if (free_srv) {
        srv_free(srv);
    }
}
