#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"

static char captured[4096];
static size_t captured_len;
static int captured_lines;

static void capture(void *arg, enum sq_log_level level, const char *line, size_t len)
{
    (void)arg;
    (void)level;
    if (captured_len + len < sizeof(captured)) {
        memcpy(captured + captured_len, line, len);
        captured_len += len;
        captured[captured_len] = '\0';
    }
    captured_lines++;
}

static int setup(void **state)
{
    (void)state;
    captured_len = 0;
    captured[0] = '\0';
    captured_lines = 0;
    sq_log_set_sink(capture, NULL);
    sq_log_set_level(SQ_LOG_INFO);
    return 0;
}

static void test_key_value_line_with_injected_clock(void **state)
{
    (void)state;
    struct sq_clock_manual clk;
    sq_clock_manual_init(&clk, 12 * SQ_NS_PER_S + 345678 * SQ_NS_PER_US);
    sq_log_set_clock(&clk.base);
    sq_log_set_node("v1");
    SQ_INFO("net", "peer connected", "peer=%u addr=%s", 3u, "127.0.0.1:7001");
    assert_string_equal(captured, "ts=12.345678 level=info node=v1 mod=net msg=\"peer connected\" "
                                  "peer=3 addr=127.0.0.1:7001\n");
    sq_log_set_node(NULL);
    sq_log_set_clock(NULL);
}

static void test_level_filter(void **state)
{
    (void)state;
    SQ_DEBUG("x", "hidden", "");
    assert_int_equal(captured_lines, 0);
    SQ_WARN("x", "shown", "");
    assert_int_equal(captured_lines, 1);
    assert_non_null(strstr(captured, "level=warn mod=x msg=\"shown\"\n"));
    sq_log_set_level(SQ_LOG_OFF);
    SQ_FATAL("x", "also hidden", "");
    assert_int_equal(captured_lines, 1);
}

static void test_long_line_is_cut_and_marked(void **state)
{
    (void)state;
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    SQ_ERROR("x", "long", "v=%s", big);
    assert_int_equal(captured_len, SQ_LOG_LINE_MAX - 1);
    assert_memory_equal(captured + captured_len - 4, "...\n", 4);
}

static void test_level_names(void **state)
{
    (void)state;
    enum sq_log_level l = SQ_LOG_INFO;
    assert_int_equal(sq_log_level_parse("debug", &l), SQ_OK);
    assert_int_equal(l, SQ_LOG_DEBUG);
    assert_int_equal(sq_log_level_parse("loud", &l), SQ_EINVAL);
    assert_int_equal(l, SQ_LOG_DEBUG);
    assert_string_equal(sq_log_level_name(SQ_LOG_ERROR), "error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_key_value_line_with_injected_clock, setup),
        cmocka_unit_test_setup(test_level_filter, setup),
        cmocka_unit_test_setup(test_long_line_is_cut_and_marked, setup),
        cmocka_unit_test_setup(test_level_names, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
