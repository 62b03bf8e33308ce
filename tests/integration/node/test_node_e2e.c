/* Three real squalld processes on 127.0.0.1: transactions from submission to final, identical
 * chains everywhere, offline receipt verification, and every endpoint's documented answer to bad
 * input (the node keeps serving afterwards). */
#include <jansson.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "base/err.h"
#include "nodetest.h"

#define N 3
#define READY_S 60.0

static struct nt_net net_;
static uint64_t nonce_[NT_CLIENTS_MAX];

static int setup(void **state)
{
    (void)state;
    if (nt_make(&net_, SQUALLD, N, 6, 1000000, NULL, 0, "[node]\nlog_level = warn\n") != 0) {
        return -1;
    }
    return nt_start_all(&net_, READY_S);
}

static int teardown(void **state)
{
    (void)state;
    return nt_stop_all(&net_); /* a clean stop: every validator exits 0 on SIGTERM */
}

/* ---- helpers ---- */

/* Posts one transaction to validator v; returns the HTTP status, fills id (hex) and code. */
static long submit(uint32_t v, const uint8_t *tx, size_t size, char id[65], char code[32])
{
    long status = 0;
    assert_int_equal(nt_submit(&net_, v, tx, size, &status, id, code), 0);
    return status;
}

static void expect_submit(uint32_t v, const uint8_t *tx, size_t size, long want_status,
                          const char *want_code)
{
    char code[32];
    long st = submit(v, tx, size, NULL, code);
    if (st != want_status || strcmp(code, want_code) != 0) {
        fail_msg("expected %ld %s, got %ld %s", want_status, want_code, st, code);
    }
}

/* Waits for the transaction to be final at validator v; returns its height. */
static uint64_t wait_final(uint32_t v, const char *id)
{
    char path[160];
    snprintf(path, sizeof(path), "/v1/tx/%s?wait=final&timeout_ms=20000", id);
    double deadline = nt_now() + 60;
    while (nt_now() < deadline) {
        long status = 0;
        json_t *r = NULL;
        assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
        if (status == 404) {
            /* Not seen by this validator yet (it was submitted to another): ask again. */
            json_decref(r);
            nt_pause_ms(20);
            continue;
        }
        assert_int_equal(status, 200);
        const char *state = json_string_value(json_object_get(r, "state"));
        assert_non_null(state);
        if (strcmp(state, "final") == 0) {
            assert_string_equal(json_string_value(json_object_get(r, "result")), "ok");
            uint64_t h = (uint64_t)json_integer_value(json_object_get(r, "height"));
            json_decref(r);
            return h;
        }
        assert_string_not_equal(state, "failed");
        assert_string_not_equal(state, "expired");
        json_decref(r);
    }
    fail_msg("transaction %s not final within 60 s", id);
    return 0;
}

static void get_expect(uint32_t v, const char *path, long want_status, const char *want_code)
{
    long status = 0;
    json_t *r = NULL;
    assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
    const char *code = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
    if (status != want_status || (want_code != NULL && (code == NULL || strcmp(code, want_code)))) {
        fail_msg("GET %s: expected %ld %s, got %ld %s", path, want_status,
                 want_code ? want_code : "", status, code ? code : "(none)");
    }
    json_decref(r);
}

static void raw_expect(uint32_t v, const char *path, const char *body, size_t size,
                       long want_status, const char *want_code)
{
    static char resp[65536];
    long status = 0;
    assert_int_equal(nt_post_raw(&net_, v, path, body, size, &status, resp, sizeof(resp)), 0);
    if (status != want_status || strstr(resp, want_code) == NULL) {
        fail_msg("POST %s: expected %ld %s, got %ld: %.300s", path, want_status, want_code,
                 status, resp);
    }
}

/* ---- tests ---- */

static void test_submit_to_final_on_three(void **state)
{
    (void)state;
    uint8_t tx[SQ_TX_BYTES_MAX];
    char ids[30][65];
    /* Transfers on every validator, from three senders. */
    for (uint32_t k = 0; k < 30; k++) {
        uint32_t from = k % 3;
        uint32_t v = k % N;
        size_t size = nt_transfer(&net_, tx, &net_.clients[from], net_.clients[5].pk, 10,
                                  ++nonce_[from], 1u << 30);
        assert_true(size > 0);
        long st = submit(v, tx, size, ids[k], NULL);
        assert_int_equal(st, 202);
        assert_int_equal(strlen(ids[k]), 64);
    }
    for (uint32_t k = 0; k < 30; k++) {
        wait_final((k + 1) % N, ids[k]);
    }
    /* Many at once through /v1/txs. */
    json_t *arr = json_array();
    for (uint32_t k = 0; k < 50; k++) {
        size_t size = nt_transfer(&net_, tx, &net_.clients[3], net_.clients[5].pk, 1,
                                  ++nonce_[3], 1u << 30);
        json_array_append_new(arr, nt_hex(tx, size));
    }
    json_t *b = json_object();
    json_object_set_new(b, "txs", arr);
    long status = 0;
    json_t *r = NULL;
    assert_int_equal(nt_post(&net_, 1, "/v1/txs", b, &status, &r), 0);
    json_decref(b);
    assert_int_equal(status, 200);
    json_t *res = json_object_get(r, "results");
    assert_int_equal(json_array_size(res), 50);
    char last[65];
    for (size_t k = 0; k < 50; k++) {
        json_t *e = json_array_get(res, k);
        assert_string_equal(json_string_value(json_object_get(e, "state")), "accepted");
        snprintf(last, sizeof(last), "%s", json_string_value(json_object_get(e, "id")));
    }
    json_decref(r);
    wait_final(2, last);
    /* Balances agree with what was sent, on every validator. */
    char path[160];
    char hex[65];
    sqc_hex_encode(hex, sizeof(hex), net_.clients[5].pk, 32);
    snprintf(path, sizeof(path), "/v1/accounts/%s", hex);
    for (uint32_t v = 0; v < N; v++) {
        assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
        assert_int_equal(status, 200);
        assert_int_equal(json_integer_value(json_object_get(r, "balance")),
                         1000000 + 30 * 10 + 50);
        json_decref(r);
    }
    /* A receipt, verified offline against the genesis alone. */
    snprintf(path, sizeof(path), "/v1/tx/%s/receipt", ids[7]);
    assert_int_equal(nt_get(&net_, 0, path, &status, &r), 0);
    assert_int_equal(status, 200);
    const char *rh = json_string_value(json_object_get(r, "receipt"));
    assert_non_null(rh);
    size_t len = strlen(rh);
    uint8_t *rb = malloc(len / 2);
    size_t rsize;
    assert_int_equal(sqc_hex_decode(rb, len / 2, rh, len, &rsize), 0);
    struct ldg_receipt_info info;
    int rc = ldg_receipt_verify(net_.gen, rb, rsize, &info);
    if (rc != SQ_OK) {
        fail_msg("receipt does not verify: %s", ldg_errmsg());
    }
    /* A tampered receipt does not. */
    rb[rsize / 2] ^= 1;
    assert_int_not_equal(ldg_receipt_verify(net_.gen, rb, rsize, &info), SQ_OK);
    free(rb);
    json_decref(r);
}

static void test_identical_chains(void **state)
{
    (void)state;
    /* Wait until every validator has the same final height, then compare block hashes. */
    double deadline = nt_now() + 60;
    uint64_t fin[N];
    for (;;) {
        bool same = true;
        for (uint32_t v = 0; v < N; v++) {
            assert_int_equal(nt_heights(&net_, v, NULL, NULL, &fin[v]), 0);
            same = same && fin[v] == fin[0] && fin[v] > 0;
        }
        if (same) {
            break;
        }
        assert_true(nt_now() < deadline);
        nt_pause_ms(50);
    }
    char hash0[65] = "";
    char path[64];
    snprintf(path, sizeof(path), "/v1/blocks/%llu", (unsigned long long)fin[0]);
    for (uint32_t v = 0; v < N; v++) {
        long status = 0;
        json_t *r = NULL;
        assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
        assert_int_equal(status, 200);
        const char *h = json_string_value(json_object_get(r, "hash"));
        assert_non_null(h);
        assert_true(json_is_true(json_object_get(r, "final")));
        if (v == 0) {
            snprintf(hash0, sizeof(hash0), "%s", h);
        } else {
            assert_string_equal(h, hash0);
        }
        assert_true(json_is_string(json_object_get(r, "block")));
        json_decref(r);
    }
    /* ?block=false leaves out the encoding and keeps the rest (docs/api.md). */
    snprintf(path, sizeof(path), "/v1/blocks?from=%llu&to=%llu&block=false",
             (unsigned long long)fin[0], (unsigned long long)fin[0]);
    {
        long st = 0;
        json_t *r = NULL;
        assert_int_equal(nt_get(&net_, 0, path, &st, &r), 0);
        assert_int_equal(st, 200);
        json_t *b = json_array_get(json_object_get(r, "blocks"), 0);
        assert_string_equal(json_string_value(json_object_get(b, "hash")), hash0);
        assert_true(json_is_array(json_object_get(b, "txs")));
        assert_null(json_object_get(b, "block"));
        json_decref(r);
    }
    /* The consistency proof between two heads verifies. */
    long status = 0;
    json_t *r = NULL;
    snprintf(path, sizeof(path), "/v1/proof/consistency?from=1&to=%llu",
             (unsigned long long)fin[0] + 1);
    assert_int_equal(nt_get(&net_, 2, path, &status, &r), 0);
    assert_int_equal(status, 200);
    uint8_t r1[32], r2[32];
    uint8_t path_h[SQ_MERKLE_DEPTH_MAX][32];
    assert_true(json_array_size(json_object_get(r, "path")) <= SQ_MERKLE_DEPTH_MAX);
    size_t cnt = json_array_size(json_object_get(r, "path"));
    size_t sz;
    assert_int_equal(sqc_hex_decode(r1, 32, json_string_value(json_object_get(r, "root_from")),
                                    64, &sz), 0);
    assert_int_equal(sqc_hex_decode(r2, 32, json_string_value(json_object_get(r, "root_to")), 64,
                                    &sz), 0);
    for (size_t i = 0; i < cnt; i++) {
        assert_int_equal(sqc_hex_decode(path_h[i], 32,
                                        json_string_value(json_array_get(json_object_get(r, "path"),
                                                                         i)),
                                        64, &sz), 0);
    }
    assert_int_equal(sqc_merkle_consistency_verify(1, fin[0] + 1, r1, r2,
                                                   (const uint8_t(*)[32])path_h, cnt), SQ_OK);
    json_decref(r);
}

static void test_bad_inputs_get_documented_errors(void **state)
{
    (void)state;
    uint8_t tx[SQ_TX_BYTES_MAX];
    char id[65], code[32];
    /* malformed JSON, wrong types, bad hex, undecodable bytes */
    raw_expect(0, "/v1/tx", "{\"tx\": ", 7, 400, "bad_json");
    raw_expect(0, "/v1/tx", "[1,2]", 5, 400, "bad_json");
    raw_expect(0, "/v1/tx", "{\"tx\": 5}", 9, 400, "bad_json");
    raw_expect(0, "/v1/tx", "{\"tx\": \"zz\"}", 12, 400, "bad_tx");
    raw_expect(0, "/v1/tx", "{\"tx\": \"0102\"}", 14, 400, "bad_tx");
    raw_expect(1, "/v1/txs", "{\"txs\": \"01\"}", 13, 400, "bad_json");
    raw_expect(1, "/v1/txs", "{\"txs\": [1]}", 12, 400, "bad_json");
    raw_expect(1, "/v1/txs", "{\"txs\": []}", 11, 400, "bad_json");
    /* oversize body */
    size_t big = 2u * 1024 * 1024;
    char *body = malloc(big);
    memset(body, 'a', big);
    raw_expect(2, "/v1/tx", body, big, 413, "too_large");
    free(body);
    /* too many transactions in one batch request */
    json_t *arr = json_array();
    for (int i = 0; i < 1001; i++) {
        json_array_append_new(arr, json_string("00"));
    }
    json_t *b = json_object();
    json_object_set_new(b, "txs", arr);
    long status = 0;
    json_t *r = NULL;
    assert_int_equal(nt_post(&net_, 0, "/v1/txs", b, &status, &r), 0);
    assert_int_equal(status, 413);
    json_decref(r);
    json_decref(b);
    /* bad signature */
    size_t size = nt_transfer(&net_, tx, &net_.clients[4], net_.clients[5].pk, 1, 1, 1u << 30);
    tx[size - 1] ^= 0x40;
    expect_submit(0, tx, size, 400, "bad_signature");
    /* wrong chain id */
    char saved[sizeof(net_.chain)];
    memcpy(saved, net_.chain, sizeof(saved));
    snprintf(net_.chain, sizeof(net_.chain), "another-chain");
    size = nt_transfer(&net_, tx, &net_.clients[4], net_.clients[5].pk, 1, 1, 1u << 30);
    memcpy(net_.chain, saved, sizeof(saved));
    expect_submit(1, tx, size, 400, "wrong_chain");
    /* unknown account: a key that is not an admitted client */
    struct sqc_keypair stranger;
    assert_int_equal(sqc_keypair_generate(&stranger), 0);
    size = nt_transfer(&net_, tx, &stranger, net_.clients[5].pk, 1, 1, 1u << 30);
    expect_submit(2, tx, size, 403, "not_permitted");
    /* a mint from a non-issuer */
    sqc_keypair_free(&stranger);
    /* expired */
    size = nt_transfer(&net_, tx, &net_.clients[4], net_.clients[5].pk, 1, 1, 0);
    expect_submit(0, tx, size, 400, "expired");
    /* nonce not above the account's, and too far ahead */
    size = nt_transfer(&net_, tx, &net_.clients[0], net_.clients[5].pk, 1, 1, 1u << 30);
    expect_submit(0, tx, size, 409, "bad_nonce");
    size = nt_transfer(&net_, tx, &net_.clients[4], net_.clients[5].pk, 1, 5000, 1u << 30);
    expect_submit(0, tx, size, 409, "bad_nonce");
    /* a replayed transaction: once while pending, once after it is final */
    size = nt_transfer(&net_, tx, &net_.clients[4], net_.clients[5].pk, 1, ++nonce_[4], 1u << 30);
    assert_int_equal(submit(1, tx, size, id, code), 202);
    long st = submit(1, tx, size, NULL, code);
    assert_int_equal(st, 409);
    assert_true(strcmp(code, "duplicate") == 0 || strcmp(code, "bad_nonce") == 0);
    wait_final(1, id);
    expect_submit(2, tx, size, 409, "duplicate");
    expect_submit(0, tx, size, 409, "duplicate");
    /* reads */
    get_expect(0, "/v1/tx/zz", 400, "bad_request");
    get_expect(0, "/v1/tx/0000000000000000000000000000000000000000000000000000000000000000",
               404, "not_found");
    get_expect(0, "/v1/tx/0000000000000000000000000000000000000000000000000000000000000000/receipt",
               404, "not_found");
    char path[200];
    snprintf(path, sizeof(path), "/v1/tx/%s?wait=soon", id);
    get_expect(0, path, 400, "bad_request");
    snprintf(path, sizeof(path), "/v1/tx/%s?wait=final&timeout_ms=x", id);
    get_expect(0, path, 400, "bad_request");
    get_expect(1, "/v1/blocks/abc", 400, "bad_request");
    get_expect(1, "/v1/blocks/-1", 400, "bad_request");
    get_expect(1, "/v1/blocks/99999999", 404, "not_found");
    get_expect(1, "/v1/blocks?from=x", 400, "bad_request");
    get_expect(1, "/v1/blocks?from=5&to=2", 400, "bad_request");
    get_expect(2, "/v1/certificates/abc", 400, "bad_request");
    get_expect(2, "/v1/certificates/99999999", 404, "not_found");
    get_expect(2, "/v1/proof/consistency?from=0&to=1", 400, "bad_request");
    get_expect(2, "/v1/proof/consistency?from=1&to=99999999", 400, "bad_request");
    get_expect(0, "/v1/accounts/xyz", 400, "bad_request");
    get_expect(0, "/v1/nothing", 404, "not_found");
    get_expect(0, "//v1//status", 404, "not_found");
    get_expect(0, "/v1/accounts/0000000000000000000000000000000000000000000000000000000000000000",
               200, NULL);
    get_expect(0, "/v1/genesis", 200, NULL);
    get_expect(0, "/v1/blocks?from=0&to=3", 200, NULL);
    get_expect(0, "/v1/certificates/1", 200, NULL);
    /* still serving: health, and a good transaction goes final */
    for (uint32_t v = 0; v < N; v++) {
        get_expect(v, "/healthz", 200, NULL);
        get_expect(v, "/readyz", 200, NULL);
    }
    size = nt_transfer(&net_, tx, &net_.clients[4], net_.clients[5].pk, 1, ++nonce_[4], 1u << 30);
    assert_int_equal(submit(2, tx, size, id, NULL), 202);
    wait_final(0, id);
}

static void test_metrics(void **state)
{
    (void)state;
    char *text = NULL;
    long status = 0;
    assert_int_equal(nt_get_raw(&net_, 0, "/metrics", &status, &text), 0);
    assert_int_equal(status, 200);
    const char *want[] = {"squall_txs_total{outcome=\"accepted\"}", "squall_blocks_total",
                          "squall_view_changes_total", "squall_height{state=\"final\"}",
                          "squall_mempool_txs", "squall_peer_lag_blocks{peer=\"2\"}",
                          "squall_tx_latency_seconds_bucket{stage=\"final\""};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(text, want[i]) == NULL) {
            fail_msg("/metrics lacks %s", want[i]);
        }
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_submit_to_final_on_three),
        cmocka_unit_test(test_identical_chains),
        cmocka_unit_test(test_bad_inputs_get_documented_errors),
        cmocka_unit_test(test_metrics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
