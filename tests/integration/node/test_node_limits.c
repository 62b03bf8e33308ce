/* Real squalld processes on 127.0.0.1 at their configured limits: a client key that submits faster
 * than rpc.rate_per_key gets 429 rate_limited (and other keys do not), the node keeps serving and
 * admits the key again once its budget refills; and a validator configured for the RDMA verbs
 * transport on a machine without an RDMA device exits at once with a message that says so. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "nodetest.h"

#define N 3
#define READY_S 60.0
#define RATE 5 /* rpc.rate_per_key of the rate test */

/* Posts one transaction to validator v: the HTTP status, and the error code if any. */
static long submit(struct nt_net *net, uint32_t v, const uint8_t *tx, size_t size,
                   char code[32])
{
    long status = 0;
    assert_int_equal(nt_submit(net, v, tx, size, &status, NULL, code), 0);
    return status;
}

/* One key submits back to back; at most a second's budget plus what refilled meanwhile is
 * admitted, the rest is refused with 429 rate_limited and never enters the mempool. */
static void test_rate_per_key(void **state)
{
    (void)state;
    struct nt_net net;
    char extra[128];
    snprintf(extra, sizeof(extra), "[node]\nlog_level = warn\n[rpc]\nrate_per_key = %d\n", RATE);
    assert_int_equal(nt_make(&net, SQUALLD, N, 2, 1000000, NULL, 0, extra), 0);
    assert_int_equal(nt_start_all(&net, READY_S), 0);

    uint8_t tx[SQ_TX_BYTES_MAX];
    char code[32];
    uint64_t nonce = 1;
    unsigned accepted = 0, limited = 0;
    double t0 = nt_now();
    for (int i = 0; i < 4 * RATE; i++) {
        /* The next nonce: a refused transaction was not admitted, so it is offered again. */
        size_t size = nt_transfer(&net, tx, &net.clients[0], net.clients[1].pk, 1, nonce, 1u << 30);
        long st = submit(&net, 0, tx, size, code);
        if (st == 202) {
            accepted++;
            nonce++;
        } else {
            if (st != 429 || strcmp(code, "rate_limited") != 0) {
                fail_msg("submission %d: expected 202 or 429 rate_limited, got %ld %s", i, st,
                         code);
            }
            limited++;
        }
    }
    double elapsed = nt_now() - t0;
    print_message("rate test: %u admitted, %u refused in %.3f s at %d/s per key\n", accepted,
                  limited, elapsed, RATE);
    assert_true(accepted >= 1);
    assert_true(limited >= 1);
    /* A second's burst, what refilled while the loop ran, and one for rounding. */
    assert_true((double)accepted <= RATE + elapsed * RATE + 1.0);

    /* Another key is not held back by the first one's budget. */
    size_t size = nt_transfer(&net, tx, &net.clients[1], net.clients[0].pk, 1, 1, 1u << 30);
    assert_int_equal(submit(&net, 0, tx, size, code), 202);

    /* The node keeps serving, and the first key is admitted again once its budget refilled. */
    long status = 0;
    json_t *r = NULL;
    assert_int_equal(nt_get(&net, 0, "/healthz", &status, &r), 0);
    json_decref(r);
    assert_int_equal(status, 200);
    nt_pause_ms(1000 / RATE + 100);
    size = nt_transfer(&net, tx, &net.clients[0], net.clients[1].pk, 1, nonce, 1u << 30);
    long st = submit(&net, 0, tx, size, code);
    if (st != 202) {
        fail_msg("after the budget refilled: expected 202, got %ld %s", st, code);
    }
    assert_int_equal(nt_stop_all(&net), 0);
}

/* network.transport = verbs without an RDMA device: a clear error and exit status 1, promptly,
 * instead of a validator that retries forever. */
static void test_verbs_without_device(void **state)
{
    (void)state;
    if (access("/sys/class/infiniband", F_OK) == 0) {
        /* With a device the transport would start; this test is about the error. */
        print_message("an RDMA device exists here; the no-device error cannot be checked\n");
        skip();
    }
    struct nt_net net;
    assert_int_equal(nt_make(&net, SQUALLD, N, 0, 0, NULL, 0,
                             "[node]\nlog_level = warn\n[network]\ntransport = verbs\n"),
                     0);
    assert_int_equal(nt_start(&net, 0), 0);
    double deadline = nt_now() + 30;
    int status = -1;
    while (nt_now() < deadline) {
        pid_t p = waitpid(net.pid[0], &status, WNOHANG);
        if (p == net.pid[0]) {
            net.pid[0] = -1;
            break;
        }
        nt_pause_ms(20);
    }
    if (net.pid[0] > 0) {
        nt_destroy(&net, true);
        fail_msg("squalld with transport = verbs and no RDMA device still runs after 30 s");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
    int lines = nt_log_count(&net, 0, "transport=verbs: .*no .*RDMA device");
    if (lines < 1) {
        nt_destroy(&net, true);
        fail_msg("the log does not say that no RDMA device was found (kept in %s)", net.dir);
    }
    nt_destroy(&net, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs_without_device),
        cmocka_unit_test(test_rate_per_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
