#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/metrics.h"

static struct sq_metrics reg;

static void test_render_counter_gauge_histogram(void **state)
{
    (void)state;
    memset(&reg, 0, sizeof(reg));
    struct sq_metric *c = sq_metrics_counter(&reg, "squall_tx_total", "Transactions.", NULL);
    struct sq_metric *g1 =
        sq_metrics_gauge(&reg, "squall_height", "Height by state.", "state=\"final\"");
    struct sq_metric *g2 =
        sq_metrics_gauge(&reg, "squall_height", "Height by state.", "state=\"ordered\"");
    const double b[] = {0.001, 0.01};
    struct sq_metric *h = sq_metrics_histogram(&reg, "squall_lat_seconds", "Latency.", NULL, b, 2);
    sq_metric_add(c, 3);
    sq_metric_set(g1, 7);
    sq_metric_set(g2, 9);
    sq_metric_observe(h, 0.0005);
    sq_metric_observe(h, 0.005);
    sq_metric_observe(h, 0.5);
    char out[2048];
    size_t n = sq_metrics_render(&reg, out, sizeof(out));
    assert_true(n < sizeof(out));
    assert_string_equal(out, "# HELP squall_tx_total Transactions.\n"
                             "# TYPE squall_tx_total counter\n"
                             "squall_tx_total 3\n"
                             "# HELP squall_height Height by state.\n"
                             "# TYPE squall_height gauge\n"
                             "squall_height{state=\"final\"} 7\n"
                             "squall_height{state=\"ordered\"} 9\n"
                             "# HELP squall_lat_seconds Latency.\n"
                             "# TYPE squall_lat_seconds histogram\n"
                             "squall_lat_seconds_bucket{le=\"0.001\"} 1\n"
                             "squall_lat_seconds_bucket{le=\"0.01\"} 2\n"
                             "squall_lat_seconds_bucket{le=\"+Inf\"} 3\n"
                             "squall_lat_seconds_sum 0.505500\n"
                             "squall_lat_seconds_count 3\n");
    /* A short buffer reports the needed length, like snprintf. */
    char small[16];
    assert_int_equal(sq_metrics_render(&reg, small, sizeof(small)), n);
}

static void test_registry_is_bounded(void **state)
{
    (void)state;
    memset(&reg, 0, sizeof(reg));
    for (int i = 0; i < SQ_METRICS_MAX; i++) {
        assert_non_null(sq_metrics_counter(&reg, "m", "h", NULL));
    }
    assert_null(sq_metrics_counter(&reg, "m", "h", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_counter_gauge_histogram),
        cmocka_unit_test(test_registry_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
