/* The HTTP layer against a real server on 127.0.0.1 and a real libcurl client. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "base/err.h"
#include "rpc/rpc.h"

/* A deferred request handed from the handler to a "node" thread, as the node's loop will do. */
struct deferred {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct rpc_request *pending[64];
    int count;
};

static struct deferred defer = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, 0};

static void handler(void *arg, struct rpc_request *req)
{
    (void)arg;
    const char *path = rpc_request_path(req);
    if (strcmp(path, "/echo") == 0) {
        size_t n;
        const uint8_t *body = rpc_request_body(req, &n);
        const char *q = rpc_request_query(req, "q");
        json_t *j = json_pack("{s:s,s:I,s:s,s:s}", "method",
                              rpc_request_method(req) == RPC_POST ? "POST" : "GET", "body_len",
                              (json_int_t)n, "q", q ? q : "", "body", (const char *)body);
        rpc_reply_json(req, 200, j);
        return;
    }
    if (strcmp(path, "/later") == 0) {
        /* Keep the request; another thread answers. */
        pthread_mutex_lock(&defer.mu);
        defer.pending[defer.count++] = req;
        pthread_cond_signal(&defer.cv);
        pthread_mutex_unlock(&defer.mu);
        return;
    }
    if (strcmp(path, "/text") == 0) {
        rpc_reply_data(req, 200, "text/plain", "metric 1\n", 9);
        return;
    }
    rpc_reply_error(req, 404, "not_found", "no route for %s", path);
}

static struct rpc_server *start(size_t body_max)
{
    struct rpc_server_config cfg = {.bind_addr = "127.0.0.1", .port = 0,
                                    .body_bytes_max = body_max, .threads = 2,
                                    .handler = handler};
    struct rpc_server *srv;
    char err[256];
    assert_int_equal(rpc_server_start(&srv, &cfg, err, sizeof(err)), SQ_OK);
    assert_true(rpc_server_port(srv) > 0);
    return srv;
}

static struct rpc_client *client_for(struct rpc_server *srv)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)rpc_server_port(srv));
    struct rpc_client *c;
    assert_int_equal(rpc_client_create(&c, url, 5000), SQ_OK);
    return c;
}

static void test_get_post_and_errors(void **state)
{
    (void)state;
    struct rpc_server *srv = start(1024);
    struct rpc_client *c = client_for(srv);
    char err[256];
    long status = 0;
    json_t *out = NULL;

    assert_int_equal(rpc_client_get(c, "/echo?q=hello%20world", &status, &out, err, sizeof(err)),
                     SQ_OK);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(out, "q")), "hello world");
    assert_string_equal(json_string_value(json_object_get(out, "method")), "GET");
    json_decref(out);

    json_t *body = json_pack("{s:s}", "k", "v");
    assert_int_equal(rpc_client_post(c, "/echo", body, &status, &out, err, sizeof(err)), SQ_OK);
    json_decref(body);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(out, "body")), "{\"k\":\"v\"}");
    json_decref(out);

    assert_int_equal(rpc_client_get(c, "/nope", &status, &out, err, sizeof(err)), SQ_OK);
    assert_int_equal(status, 404);
    json_t *e = json_object_get(out, "error");
    assert_string_equal(json_string_value(json_object_get(e, "code")), "not_found");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "/nope"));
    json_decref(out);

    char *raw;
    size_t n;
    assert_int_equal(rpc_client_get_raw(c, "/text", &status, &raw, &n, err, sizeof(err)), SQ_OK);
    assert_int_equal(n, 9);
    assert_string_equal(raw, "metric 1\n");
    free(raw);
    /* Not JSON: the JSON getter says so instead of failing obscurely. */
    assert_int_equal(rpc_client_get(c, "/text", &status, &out, err, sizeof(err)), SQ_ECORRUPT);
    assert_non_null(strstr(err, "not JSON"));

    rpc_client_destroy(c);
    rpc_server_stop(srv);
}

static void test_oversized_body_gets_413_and_server_keeps_serving(void **state)
{
    (void)state;
    struct rpc_server *srv = start(1000);
    struct rpc_client *c = client_for(srv);
    char err[256];
    long status = 0;
    json_t *out = NULL;
    char *big = malloc(5000);
    memset(big, 'x', 4999);
    big[4999] = '\0';
    json_t *body = json_pack("{s:s}", "blob", big);
    free(big);
    assert_int_equal(rpc_client_post(c, "/echo", body, &status, &out, err, sizeof(err)), SQ_OK);
    json_decref(body);
    assert_int_equal(status, 413);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(out, "error"), "code")), "too_large");
    json_decref(out);
    assert_int_equal(rpc_client_get(c, "/echo", &status, &out, err, sizeof(err)), SQ_OK);
    assert_int_equal(status, 200);
    json_decref(out);
    rpc_client_destroy(c);
    rpc_server_stop(srv);
}

struct waiter_arg {
    struct rpc_server *srv;
    long status;
    int rc;
};

static void *waiter(void *p)
{
    struct waiter_arg *w = p;
    struct rpc_client *c = client_for(w->srv);
    char err[256];
    json_t *out = NULL;
    w->rc = rpc_client_get(c, "/later", &w->status, &out, err, sizeof(err));
    json_decref(out);
    rpc_client_destroy(c);
    return NULL;
}

static struct rpc_request *take_pending(void)
{
    pthread_mutex_lock(&defer.mu);
    while (defer.count == 0) {
        pthread_cond_wait(&defer.cv, &defer.mu);
    }
    struct rpc_request *r = defer.pending[--defer.count];
    pthread_mutex_unlock(&defer.mu);
    return r;
}

static void test_deferred_reply_from_another_thread(void **state)
{
    (void)state;
    struct rpc_server *srv = start(1024);
    enum { N = 8 };
    pthread_t th[N];
    struct waiter_arg w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (struct waiter_arg){.srv = srv};
        pthread_create(&th[i], NULL, waiter, &w[i]);
    }
    /* More waiting requests than server threads: suspended requests hold no thread. Prove the
     * server still answers other requests while all N wait. */
    for (int i = 0; i < N; i++) {
        struct rpc_request *r = take_pending();
        if (i == N - 1) {
            struct rpc_client *c = client_for(srv);
            char err[256];
            long st;
            json_t *out;
            assert_int_equal(rpc_client_get(c, "/echo", &st, &out, err, sizeof(err)), SQ_OK);
            assert_int_equal(st, 200);
            json_decref(out);
            rpc_client_destroy(c);
        }
        assert_true(rpc_reply_json(r, 200, json_pack("{s:i}", "n", i)));
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].rc, SQ_OK);
        assert_int_equal(w[i].status, 200);
    }
    rpc_server_stop(srv);
}

static void test_stop_answers_waiting_requests_with_503(void **state)
{
    (void)state;
    struct rpc_server *srv = start(1024);
    pthread_t th;
    struct waiter_arg w = {.srv = srv};
    pthread_create(&th, NULL, waiter, &w);
    struct rpc_request *r = take_pending();
    rpc_server_stop(srv);
    pthread_join(th, NULL);
    assert_int_equal(w.rc, SQ_OK);
    assert_int_equal(w.status, 503);
    /* The handler still owns its reference; its late reply is dropped and frees the request
     * (ASan would report a leak or a use after free otherwise). */
    assert_false(rpc_reply_error(r, 200, "late", "too late"));
}

static void test_unreachable_server_is_a_clear_error(void **state)
{
    (void)state;
    struct rpc_server *srv = start(1024);
    uint16_t port = rpc_server_port(srv);
    rpc_server_stop(srv); /* the port is now closed */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)port);
    struct rpc_client *c;
    assert_int_equal(rpc_client_create(&c, url, 2000), SQ_OK);
    char err[256] = "";
    long st;
    json_t *out;
    assert_int_equal(rpc_client_get(c, "/echo", &st, &out, err, sizeof(err)), SQ_EPEER);
    assert_non_null(strstr(err, "127.0.0.1"));
    rpc_client_destroy(c);
}

static void test_bad_bind_address(void **state)
{
    (void)state;
    struct rpc_server_config cfg = {.bind_addr = "not-an-ip", .handler = handler};
    struct rpc_server *srv;
    char err[256];
    assert_int_equal(rpc_server_start(&srv, &cfg, err, sizeof(err)), SQ_EINVAL);
    assert_non_null(strstr(err, "not-an-ip"));
    /* A port already taken is SQ_EIO with a reason. */
    struct rpc_server *a = start(1024);
    cfg.bind_addr = "127.0.0.1";
    cfg.port = rpc_server_port(a);
    assert_int_equal(rpc_server_start(&srv, &cfg, err, sizeof(err)), SQ_EIO);
    assert_non_null(strstr(err, "cannot serve"));
    rpc_server_stop(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_post_and_errors),
        cmocka_unit_test(test_oversized_body_gets_413_and_server_keeps_serving),
        cmocka_unit_test(test_deferred_reply_from_another_thread),
        cmocka_unit_test(test_stop_answers_waiting_requests_with_503),
        cmocka_unit_test(test_unreachable_server_is_a_clear_error),
        cmocka_unit_test(test_bad_bind_address),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
