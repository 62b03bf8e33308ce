/* The API's request decoders: bodies, ids, numbers, wait targets, paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/api_decode.h"

static enum node_api_err tx(const char *body, struct node_api_tx *out)
{
    char msg[200];
    return node_api_decode_tx((const uint8_t *)body, strlen(body), out, msg, sizeof(msg));
}

static void test_tx_body(void **state)
{
    (void)state;
    struct node_api_tx *t = malloc(sizeof(*t));
    assert_int_equal(tx("{\"tx\":\"0aFF\"}", t), NODE_API_OK);
    assert_int_equal(t->size, 2);
    assert_int_equal(t->bytes[1], 0xff);
    assert_int_equal(tx("", t), NODE_API_BAD_JSON);
    assert_int_equal(tx("{\"tx\":", t), NODE_API_BAD_JSON);
    assert_int_equal(tx("[]", t), NODE_API_BAD_JSON);
    assert_int_equal(tx("{\"tx\":1}", t), NODE_API_BAD_JSON);
    assert_int_equal(tx("{\"tx\":\"00\",\"x\":1}", t), NODE_API_BAD_JSON);
    assert_int_equal(tx("{\"tx\":\"00\",\"tx\":\"01\"}", t), NODE_API_BAD_JSON);
    assert_int_equal(tx("{\"tx\":\"abc\"}", t), NODE_API_BAD_TX);
    assert_int_equal(tx("{\"tx\":\"zz\"}", t), NODE_API_BAD_TX);
    assert_int_equal(tx("{\"tx\":\"\"}", t), NODE_API_BAD_TX);
    size_t big = 2 * SQ_TX_BYTES_MAX + 2;
    char *b = malloc(big + 16);
    memcpy(b, "{\"tx\":\"", 7);
    memset(b + 7, 'a', big);
    memcpy(b + 7 + big, "\"}", 3);
    assert_int_equal(tx(b, t), NODE_API_BAD_TX);
    free(b);
    assert_int_equal(node_api_err_status(NODE_API_TOO_LARGE), 413);
    assert_string_equal(node_api_err_code(NODE_API_BAD_JSON), "bad_json");
    free(t);
}

static void test_txs_body(void **state)
{
    (void)state;
    struct node_api_tx *t = malloc(NODE_API_TXS_MAX * sizeof(*t));
    size_t n;
    char msg[200];
    const char *ok = "{\"txs\":[\"00\",\"q\",\"0102\"]}";
    assert_int_equal(node_api_decode_txs((const uint8_t *)ok, strlen(ok), t, &n, msg, sizeof(msg)),
                     NODE_API_OK);
    assert_int_equal(n, 3);
    assert_int_equal(t[0].err, NODE_API_OK);
    assert_int_equal(t[1].err, NODE_API_BAD_TX);
    assert_int_equal(t[2].size, 2);
    const char *bad[] = {"{\"txs\":[]}", "{\"txs\":\"00\"}", "{\"txs\":[1]}", "{}", "null"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(node_api_decode_txs((const uint8_t *)bad[i], strlen(bad[i]), t, &n, msg,
                                             sizeof(msg)),
                         NODE_API_BAD_JSON);
    }
    size_t cap = 8 * (NODE_API_TXS_MAX + 1) + 32;
    char *many = malloc(cap);
    size_t len = (size_t)snprintf(many, cap, "{\"txs\":[");
    for (int i = 0; i <= NODE_API_TXS_MAX; i++) {
        len += (size_t)snprintf(many + len, cap - len, "%s\"00\"", i ? "," : "");
    }
    len += (size_t)snprintf(many + len, cap - len, "]}");
    assert_int_equal(node_api_decode_txs((const uint8_t *)many, len, t, &n, msg, sizeof(msg)),
                     NODE_API_TOO_LARGE);
    free(many);
    free(t);
}

static void test_small_parsers(void **state)
{
    (void)state;
    uint8_t h[32];
    assert_true(node_api_parse_hash(
        "00112233445566778899aabbccddeeffAABBCCDDEEFF00112233445566778899", h));
    assert_int_equal(h[1], 0x11);
    assert_false(node_api_parse_hash("0011", h));
    assert_false(node_api_parse_hash(
        "g0112233445566778899aabbccddeeffAABBCCDDEEFF00112233445566778899", h));
    assert_false(node_api_parse_hash(NULL, h));
    uint64_t v;
    assert_true(node_api_parse_u64("18446744073709551615", UINT64_MAX, &v));
    assert_true(v == UINT64_MAX);
    assert_false(node_api_parse_u64("18446744073709551616", UINT64_MAX, &v));
    assert_false(node_api_parse_u64("-1", UINT64_MAX, &v));
    assert_false(node_api_parse_u64("+1", UINT64_MAX, &v));
    assert_false(node_api_parse_u64("", UINT64_MAX, &v));
    assert_false(node_api_parse_u64("11", 10, &v));
    assert_int_equal(node_api_parse_wait("final"), 3);
    assert_int_equal(node_api_parse_wait("ordered"), 1);
    assert_int_equal(node_api_parse_wait("Final"), -1);
    char buf[64];
    const char *s[4];
    assert_int_equal(node_api_split_path("/v1/tx/ab/receipt", buf, sizeof(buf), s, 4), 4);
    assert_string_equal(s[3], "receipt");
    assert_int_equal(node_api_split_path("/", buf, sizeof(buf), s, 4), 0);
    assert_int_equal(node_api_split_path("//v1", buf, sizeof(buf), s, 4), -1);
    assert_int_equal(node_api_split_path("/v1/", buf, sizeof(buf), s, 4), -1);
    assert_int_equal(node_api_split_path("/a/b/c/d/e", buf, sizeof(buf), s, 4), -1);
    assert_int_equal(node_api_split_path("v1", buf, sizeof(buf), s, 4), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_body),
        cmocka_unit_test(test_txs_body),
        cmocka_unit_test(test_small_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
