/* View changes with five real squalld processes on 127.0.0.1, under load (issue 6):
 *  - SIGKILL one validator: the four survivors install a new view and keep finalizing the same
 *    chain (same blocks, no gap); restarted, it joins again and catches up;
 *  - SIGKILL three: the two survivors stop delivering (the majority rule) and say so in their
 *    logs; restarting the three brings the whole group back (a total restart, since no group ran);
 *  - SIGKILL all five and restart them: a total restart in which nothing any validator reported
 *    persisted or final is lost. */
#include <jansson.h>
#include <pthread.h>
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
#include "base/limits.h"
#include "nodetest.h"
#include "rpc/rpc.h"

#define N 5
#define READY_S 120.0
#define SENDERS 4      /* clients 0..3 carry the load */
#define RECIPIENT 7
#define TRACK_MAX 4096 /* transactions whose final state is checked later */

static struct nt_net net_;

/* ---- load: each sender thread submits one transfer at a time to its own validator ----
 *
 * Nonces must follow each other in the chain, and two validators' batches are ordered in either
 * way: a sender that spread its transfers over validators would see some fail (bad_nonce). So
 * sender s always talks to validator s, which validator 5 never is. */

struct sender {
    pthread_t th;
    uint32_t client;
    uint64_t nonce;
    uint32_t accepted;
};

static volatile int load_stop_;
static struct sender senders_[SENDERS];
static pthread_mutex_t track_mu_ = PTHREAD_MUTEX_INITIALIZER;
static char track_ids_[TRACK_MAX][65];
static uint32_t track_count_;

/* Sets the sender's nonce to the pending nonce its validator reports for it; false if the
 * validator did not answer. */
static bool nonce_sync(struct sender *s, struct rpc_client *c)
{
    char path[128], hex[65], err[256];
    sqc_hex_encode(hex, sizeof(hex), net_.clients[s->client].pk, 32);
    snprintf(path, sizeof(path), "/v1/accounts/%s", hex);
    long status = 0;
    json_t *a = NULL;
    bool ok = rpc_client_get(c, path, &status, &a, err, sizeof(err)) == SQ_OK && status == 200;
    if (ok) {
        s->nonce = (uint64_t)json_integer_value(json_object_get(a, "pending_nonce"));
    }
    json_decref(a);
    return ok;
}

static void *sender_main(void *arg)
{
    struct sender *s = arg;
    /* HTTP clients are not shared between threads: each sender has its own. */
    struct rpc_client *cli[N];
    for (uint32_t i = 0; i < N; i++) {
        rpc_client_create(&cli[i], net_.url[i], 5000);
    }
    char err[256];
    uint8_t tx[SQ_TX_BYTES_MAX];
    uint32_t v = s->client % N;
    /* Accepted is not durable: what a killed validator had accepted is gone, and a nonce above it
     * would wait forever. Each load starts from the nonce its validator knows. */
    while (!load_stop_ && !nonce_sync(s, cli[v])) {
        nt_pause_ms(20);
    }
    while (!load_stop_) {
        size_t size = nt_transfer(&net_, tx, &net_.clients[s->client],
                                  net_.clients[RECIPIENT].pk, 1, s->nonce + 1, 1u << 30);
        json_t *b = json_object();
        json_object_set_new(b, "tx", nt_hex(tx, size));
        long status = 0;
        json_t *r = NULL;
        if (rpc_client_post(cli[v], "/v1/tx", b, &status, &r, err, sizeof(err)) == SQ_OK &&
            status == 202) {
            s->nonce++;
            s->accepted++;
            pthread_mutex_lock(&track_mu_);
            if (track_count_ < TRACK_MAX) {
                snprintf(track_ids_[track_count_++], 65, "%s",
                         json_string_value(json_object_get(r, "id")));
            }
            pthread_mutex_unlock(&track_mu_);
        } else if (status == 409) {
            /* The nonce moved on without us (a retry that was taken): ask the chain. */
            (void)nonce_sync(s, cli[v]);
        } else {
            nt_pause_ms(20); /* down, not ready, or busy: pace the retries */
        }
        json_decref(b);
        json_decref(r);
    }
    for (uint32_t i = 0; i < N; i++) {
        rpc_client_destroy(cli[i]);
    }
    return NULL;
}

static void load_start(void)
{
    load_stop_ = 0;
    for (uint32_t i = 0; i < SENDERS; i++) {
        senders_[i].client = i;
        assert_int_equal(pthread_create(&senders_[i].th, NULL, sender_main, &senders_[i]), 0);
    }
}

static uint32_t load_stop(void)
{
    load_stop_ = 1;
    uint32_t accepted = 0;
    for (uint32_t i = 0; i < SENDERS; i++) {
        pthread_join(senders_[i].th, NULL);
        accepted += senders_[i].accepted;
    }
    return accepted;
}

/* ---- helpers ---- */

static int setup(void **state)
{
    (void)state;
    if (nt_make(&net_, SQUALLD, N, 8, 1000000000, NULL, 0,
                "[node]\nlog_level = info\n") != 0) {
        return -1;
    }
    return nt_start_all(&net_, READY_S);
}

static int teardown(void **state)
{
    (void)state;
    return nt_stop_all(&net_); /* a clean stop: every validator exits 0 on SIGTERM */
}

static uint64_t final_of(uint32_t v)
{
    uint64_t fin = 0;
    if (nt_heights(&net_, v, NULL, NULL, &fin) != 0) {
        return 0;
    }
    return fin;
}

/* Members of the view validator v is in (0 when unreachable). */
static uint32_t view_size(uint32_t v)
{
    long status = 0;
    json_t *r = NULL;
    uint32_t count = 0;
    if (nt_get(&net_, v, "/v1/status", &status, &r) == 0 && status == 200) {
        count = (uint32_t)json_array_size(json_object_get(json_object_get(r, "view"),
                                                          "members"));
    }
    json_decref(r);
    return count;
}

/* Waits until every validator in `mask` is in a view of `members` members with a final height of
 * at least `min`; returns the lowest of their final heights (final at all of them). */
static uint64_t wait_group(uint32_t mask, uint32_t members, uint64_t min, double timeout_s)
{
    double deadline = nt_now() + timeout_s;
    for (;;) {
        uint64_t low = UINT64_MAX;
        bool ok = true;
        for (uint32_t v = 0; v < N && ok; v++) {
            if (!((mask >> v) & 1u)) {
                continue;
            }
            uint64_t fin = final_of(v);
            ok = fin >= min && view_size(v) == members;
            low = fin < low ? fin : low;
        }
        if (ok) {
            return low;
        }
        if (nt_now() > deadline) {
            fail_msg("validators %x did not reach one view of %u with final >= %llu in %.0f s",
                     mask, members, (unsigned long long)min, timeout_s);
        }
        nt_pause_ms(100);
    }
}

/* The hash of block `height` is the same at every validator in `mask`. */
static void expect_same_block(uint32_t mask, uint64_t height)
{
    char path[64], first[65] = "";
    snprintf(path, sizeof(path), "/v1/blocks/%llu", (unsigned long long)height);
    for (uint32_t v = 0; v < N; v++) {
        if (!((mask >> v) & 1u)) {
            continue;
        }
        long status = 0;
        json_t *r = NULL;
        assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
        assert_int_equal(status, 200);
        const char *h = json_string_value(json_object_get(r, "hash"));
        assert_non_null(h);
        if (first[0] == '\0') {
            snprintf(first, sizeof(first), "%s", h);
        } else if (strcmp(first, h) != 0) {
            fail_msg("block %llu differs at validator %u", (unsigned long long)height, v + 1);
        }
        json_decref(r);
    }
}

/* The chains up to `top` are the same at every validator in `mask` (no gap, no fork): blocks are
 * hash-chained, so equal hashes at `top` mean equal chains below it. */
static void expect_same_chain(uint32_t mask, uint64_t top)
{
    expect_same_block(mask, top);
}

static int log_count(uint32_t v, const char *pattern)
{
    return nt_log_count(&net_, v, pattern);
}

/* ---- tests ---- */

static void test_kill_one_view_goes_on_and_it_rejoins(void **state)
{
    (void)state;
    load_start();
    uint64_t fin = wait_group(0x1F, N, 3, 60);
    assert_int_equal(nt_stop(&net_, 4, SIGKILL, 10) >= 0, 1);
    /* The survivors install a view of four and go on finalizing. */
    uint64_t fin4 = wait_group(0x0F, N - 1, fin + 5, 60);
    /* Restarted, validator 5 joins again, gets what it missed, and agrees. */
    assert_int_equal(nt_start(&net_, 4), 0);
    assert_true(nt_wait_ready(&net_, 4, READY_S));
    uint64_t fin5 = wait_group(0x1F, N, fin4 + 3, 90);
    uint32_t accepted = load_stop();
    expect_same_chain(0x1F, fin5);
    print_message("kill-one: final %llu before, %llu in a view of four, %llu with validator 5 "
                  "back; %u transactions accepted under load\n",
                  (unsigned long long)fin, (unsigned long long)fin4, (unsigned long long)fin5,
                  accepted);
}

static void test_kill_three_survivors_stop_then_group_returns(void **state)
{
    (void)state;
    load_start();
    uint64_t fin = wait_group(0x1F, N, 1, 60);
    int before0 = log_count(0, "majority rule");
    int before1 = log_count(1, "majority rule");
    for (uint32_t v = 2; v < N; v++) {
        kill(net_.pid[v], SIGKILL);
    }
    for (uint32_t v = 2; v < N; v++) {
        nt_stop(&net_, v, SIGKILL, 10);
    }
    /* Two of five: each survivor stops its group, saying why. */
    double deadline = nt_now() + 60;
    while (log_count(0, "majority rule") == before0 || log_count(1, "majority rule") == before1) {
        assert_true(nt_now() < deadline);
        nt_pause_ms(100);
    }
    /* ... and nothing is ordered any more while the majority is missing. */
    uint64_t o1 = 0, o2 = 0;
    nt_heights(&net_, 0, &o1, NULL, NULL);
    nt_pause_ms(2000);
    nt_heights(&net_, 0, &o2, NULL, NULL);
    assert_int_equal(o1, o2);
    for (uint32_t v = 2; v < N; v++) {
        assert_int_equal(nt_start(&net_, v), 0);
    }
    for (uint32_t v = 0; v < N; v++) {
        assert_true(nt_wait_ready(&net_, v, READY_S));
    }
    uint64_t fin5 = wait_group(0x1F, N, o2 + 2, 90);
    load_stop();
    expect_same_chain(0x1F, fin5);
    print_message("kill-three: final %llu; the two survivors stopped at ordered height %llu; "
                  "all five back at final %llu\n",
                  (unsigned long long)fin, (unsigned long long)o2, (unsigned long long)fin5);
}

static void test_kill_all_total_restart_loses_nothing_persisted(void **state)
{
    (void)state;
    pthread_mutex_lock(&track_mu_);
    track_count_ = 0;
    pthread_mutex_unlock(&track_mu_);
    load_start();
    uint64_t fin = wait_group(0x1F, N, 1, 60);
    wait_group(0x1F, N, fin + 3, 60);
    /* What validator 1 reports persisted or final right before every validator dies. */
    static char durable[TRACK_MAX][65];
    static uint64_t durable_h[TRACK_MAX];
    uint32_t nd = 0;
    pthread_mutex_lock(&track_mu_);
    uint32_t count = track_count_;
    pthread_mutex_unlock(&track_mu_);
    for (uint32_t k = 0; k < count && nd < 300; k += 2) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/tx/%s", track_ids_[k]);
        long status = 0;
        json_t *r = NULL;
        int got = nt_get(&net_, 0, path, &status, &r);
        const char *st = got == 0 ? json_string_value(json_object_get(r, "state")) : NULL;
        if (status == 200 && st != NULL &&
            (strcmp(st, "persisted") == 0 || strcmp(st, "final") == 0)) {
            snprintf(durable[nd], 65, "%s", track_ids_[k]);
            durable_h[nd++] = (uint64_t)json_integer_value(json_object_get(r, "height"));
        } else if (k < 8) {
            /* What the failure message below would otherwise leave unsaid. */
            print_message("total-restart: tracked %u at validator 1: HTTP %ld, state %s\n", k,
                          status, st != NULL ? st : "-");
        }
        json_decref(r);
    }
    for (uint32_t v = 0; v < N; v++) {
        kill(net_.pid[v], SIGKILL);
    }
    for (uint32_t v = 0; v < N; v++) {
        nt_stop(&net_, v, SIGKILL, 10);
    }
    load_stop();
    if (nd == 0) {
        nt_dump_logs(&net_, 40);
        fail_msg("none of %u tracked transactions was persisted or final at validator 1", count);
    }
    assert_int_equal(nt_start_all(&net_, READY_S), 0);
    for (uint32_t k = 0; k < nd; k++) {
        for (uint32_t v = 0; v < N; v++) {
            char path[128];
            snprintf(path, sizeof(path), "/v1/tx/%.64s", durable[k]);
            long status = 0;
            json_t *r = NULL;
            assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
            const char *st = json_string_value(json_object_get(r, "state"));
            uint64_t h = (uint64_t)json_integer_value(json_object_get(r, "height"));
            if (status != 200 || st == NULL || h != durable_h[k] ||
                (strcmp(st, "persisted") != 0 && strcmp(st, "final") != 0 &&
                 strcmp(st, "ordered") != 0)) {
                fail_msg("validator %u lost %s (durable at %llu before the restart)", v + 1,
                         durable[k], (unsigned long long)durable_h[k]);
            }
            json_decref(r);
        }
    }
    load_start();
    uint64_t after = wait_group(0x1F, N, fin + 4, 90);
    load_stop();
    expect_same_block(0x1F, after);
    print_message("kill-all: %u durable transactions checked after a total restart of five; "
                  "final %llu\n",
                  nd, (unsigned long long)after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_one_view_goes_on_and_it_rejoins),
        cmocka_unit_test(test_kill_three_survivors_stop_then_group_returns),
        cmocka_unit_test(test_kill_all_total_restart_loses_nothing_persisted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
