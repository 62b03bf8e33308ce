#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "node/config.h"

static void test_defaults_and_overrides(void **state)
{
    (void)state;
    struct node_config c;
    node_config_defaults(&c, 2, "/srv/v2");
    assert_string_equal(c.data_dir, "/srv/v2/data");
    assert_int_equal(c.transport, NODE_TRANSPORT_TCP);
    char err[256] = "";
    const char *ini = "; comment\n"
                      "[node]\n"
                      "id = 7\n"
                      "data_dir = /var/lib/squall\n"
                      "key_file = keys/v.key\n"
                      "log_level = debug\n"
                      "[network]\n"
                      "listen = 10.0.0.7:27000\n"
                      "transport = verbs\n"
                      "failure_timeout_ms = 100\n"
                      "[batch]\n"
                      "delay_ms = 5\n";
    assert_int_equal(node_config_parse(&c, ini, "config.ini", err, sizeof(err)), SQ_OK);
    assert_int_equal(c.id, 7);
    assert_string_equal(c.data_dir, "/var/lib/squall");
    assert_string_equal(c.key_file, "/srv/v2/keys/v.key");
    assert_int_equal(c.log_level, SQ_LOG_DEBUG);
    assert_string_equal(c.listen.host, "10.0.0.7");
    assert_int_equal(c.listen.port, 27000);
    assert_int_equal(c.transport, NODE_TRANSPORT_VERBS);
    assert_int_equal(c.failure_timeout_ms, 100);
    assert_int_equal(c.batch_delay_ms, 5);
}

static void expect_error(const char *ini, const char *needle)
{
    struct node_config c;
    node_config_defaults(&c, 1, "/h");
    char err[256] = "";
    assert_int_equal(node_config_parse(&c, ini, "config.ini", err, sizeof(err)), SQ_EINVAL);
    if (strstr(err, needle) == NULL) {
        fail_msg("error '%s' does not mention '%s'", err, needle);
    }
}

static void test_bad_input_names_line_and_reason(void **state)
{
    (void)state;
    expect_error("[node]\nid = 1\nlog_levle = info\n", "config.ini:3: unknown key 'log_levle'");
    expect_error("[nodes]\nid = 1\n", "config.ini:2: unknown section [nodes]");
    expect_error("[network]\n\nlisten = localhost:80\n", "config.ini:3: network.listen");
    expect_error("[network]\nlisten = 127.0.0.1:99999\n", "network.listen");
    expect_error("[network]\ntransport = udp\n", "tcp or verbs");
    expect_error("[batch]\nbytes_max = -5\n", "batch.bytes_max must be a whole number");
    /* A limit may be lowered but never raised. */
    expect_error("[batch]\nbytes_max = 999999999\n", "from 1024 to");
    expect_error("[network]\nheartbeat_ms = 100\nfailure_timeout_ms = 150\n", "at least twice");
    expect_error("this is not ini\n", "config.ini:1");
    expect_error("[network]\npeer_rpc = 2=127.0.0.1\n", "network.peer_rpc");
    expect_error("[network]\npeer_rpc = 2=127.0.0.1:1, 2=127.0.0.1:2\n", "distinct ids");
    expect_error("[network]\npeer_rpc = x=127.0.0.1:1\n", "network.peer_rpc");
    expect_error("[batch]\nverify_peer_txs = yes\n", "true or false");
    expect_error("[rpc]\nconnections = 1\n", "rpc.connections");
}

static void test_render_parses_back_to_the_same_config(void **state)
{
    (void)state;
    struct node_config a, b;
    node_config_defaults(&a, 3, "/home/v3");
    a.rpc_rate_per_key = 500;
    a.transport = NODE_TRANSPORT_VERBS;
    snprintf(a.passphrase_file, sizeof(a.passphrase_file), "/home/v3/pass");
    a.verify_peer_txs = true;
    a.rpc_connections = 77;
    assert_int_equal(node_peer_rpc_parse(&a, "1=127.0.0.1:8501, 2=10.0.0.2:8502"), SQ_OK);
    char text[8192];
    size_t n = node_config_render(&a, text, sizeof(text));
    assert_true(n < sizeof(text));
    node_config_defaults(&b, 0, "/home/v3");
    char err[256] = "";
    assert_int_equal(node_config_parse(&b, text, "rendered", err, sizeof(err)), SQ_OK);
    assert_memory_equal(&a, &b, sizeof(a));
}

static void test_peer_rpc(void **state)
{
    (void)state;
    struct node_config c;
    node_config_defaults(&c, 1, "/h");
    char err[256] = "";
    assert_int_equal(node_config_parse(&c, "[network]\npeer_rpc = 2=127.0.0.1:8502,3=127.0.0.1:8503\n",
                                       "config.ini", err, sizeof(err)),
                     SQ_OK);
    assert_int_equal(c.peer_rpc_count, 2);
    const struct node_addr *a = node_config_peer_rpc(&c, 3);
    assert_non_null(a);
    assert_int_equal(a->port, 8503);
    assert_null(node_config_peer_rpc(&c, 1));
    assert_int_equal(node_peer_rpc_parse(&c, ""), SQ_OK);
    assert_int_equal(c.peer_rpc_count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_and_overrides),
        cmocka_unit_test(test_bad_input_names_line_and_reason),
        cmocka_unit_test(test_render_parses_back_to_the_same_config),
        cmocka_unit_test(test_peer_rpc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
