/* Crashes under load, with real squalld processes on 127.0.0.1:
 *  - SIGKILL every validator while transactions flow, restart them: nothing any validator reported
 *    persisted (durable at every member) or final is lost, and the chains agree;
 *  - SIGKILL one validator while transactions flow, restart it: it catches up from the others
 *    (state transfer of the blocks it lacks, checked against their certificates) and the chains
 *    agree;
 *  - a validator that lost its disk catches up from genesis by state transfer before it joins;
 *  - the survivors keep finalizing while a validator is down (a view of two members), and it
 *    joins again when restarted. */
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
#include "nodetest.h"
#include "rpc/rpc.h"

#define N 3
#define READY_S 90.0
#define LOAD_SENDERS 4 /* clients 0..3 carry the load; 4.. are for checks */
#define IDS_MAX 20000

static struct nt_net net_;

/* ---- a load thread: batches of transfers to the validators in turn, errors tolerated ---- */

struct load {
    pthread_t th;
    volatile int stop;
    uint64_t nonce[LOAD_SENDERS];
    uint32_t sent_batches;
    uint32_t accepted;
    pthread_mutex_t mu;
    uint32_t id_count;
    char ids[IDS_MAX][65];
    uint8_t via[IDS_MAX];
};

static struct load load_;

static void *load_main(void *arg)
{
    struct load *l = arg;
    struct rpc_client *cli[N];
    for (uint32_t i = 0; i < N; i++) {
        rpc_client_create(&cli[i], net_.url[i], 5000);
    }
    uint8_t tx[SQ_TX_BYTES_MAX];
    uint32_t k = 0;
    while (!l->stop) {
        uint32_t v = k++ % N;
        uint32_t from = k % LOAD_SENDERS;
        json_t *arr = json_array();
        for (int i = 0; i < 20; i++) {
            size_t size = nt_transfer(&net_, tx, &net_.clients[from], net_.clients[7].pk, 1,
                                      l->nonce[from] + 1 + (uint64_t)i, 1u << 30);
            json_array_append_new(arr, nt_hex(tx, size));
        }
        json_t *b = json_object();
        json_object_set_new(b, "txs", arr);
        long status = 0;
        json_t *r = NULL;
        char err[256];
        int rc = rpc_client_post(cli[v], "/v1/txs", b, &status, &r, err, sizeof(err));
        json_decref(b);
        if (rc == SQ_OK && status == 200) {
            json_t *res = json_object_get(r, "results");
            uint32_t ok = 0;
            for (size_t i = 0; i < json_array_size(res); i++) {
                json_t *e = json_array_get(res, i);
                if (json_is_string(json_object_get(e, "state"))) {
                    ok++;
                    pthread_mutex_lock(&l->mu);
                    if (l->id_count < IDS_MAX) {
                        snprintf(l->ids[l->id_count], 65, "%s",
                                 json_string_value(json_object_get(e, "id")));
                        l->via[l->id_count] = (uint8_t)v;
                        l->id_count++;
                    }
                    pthread_mutex_unlock(&l->mu);
                }
            }
            if (ok == 20) {
                l->nonce[from] += 20;
            } else {
                /* Some were refused (a node catching up, a stale nonce after a crash): ask the
                 * chain for the sender's next nonce. */
                char path[128], hex[65];
                sqc_hex_encode(hex, sizeof(hex), net_.clients[from].pk, 32);
                snprintf(path, sizeof(path), "/v1/accounts/%s", hex);
                json_t *a = NULL;
                if (rpc_client_get(cli[v], path, &status, &a, err, sizeof(err)) == SQ_OK &&
                    status == 200) {
                    l->nonce[from] = (uint64_t)json_integer_value(json_object_get(a,
                                                                                   "pending_nonce"));
                }
                json_decref(a);
                nt_pause_ms(20);
            }
            l->accepted += ok;
        } else {
            nt_pause_ms(20); /* node down or not ready: pace the retries */
        }
        json_decref(r);
        l->sent_batches++;
    }
    for (uint32_t i = 0; i < N; i++) {
        rpc_client_destroy(cli[i]);
    }
    return NULL;
}

static void load_start(void)
{
    load_.stop = 0;
    pthread_mutex_init(&load_.mu, NULL);
    assert_int_equal(pthread_create(&load_.th, NULL, load_main, &load_), 0);
}

static void load_stop(void)
{
    load_.stop = 1;
    pthread_join(load_.th, NULL);
}

/* ---- helpers ---- */

static int setup(void **state)
{
    (void)state;
    if (nt_make(&net_, SQUALLD, N, 8, 1000000000, NULL, 0, "[node]\nlog_level = info\n") != 0) {
        return -1;
    }
    return nt_start_all(&net_, READY_S);
}

static int teardown(void **state)
{
    (void)state;
    return nt_stop_all(&net_); /* a clean stop: every validator exits 0 on SIGTERM */
}

/* The state of a transaction at validator v ("" if unknown), and its height. */
static void tx_state(uint32_t v, const char *id, char state[16], uint64_t *height)
{
    char path[128];
    snprintf(path, sizeof(path), "/v1/tx/%s", id);
    long status = 0;
    json_t *r = NULL;
    state[0] = '\0';
    *height = 0;
    if (nt_get(&net_, v, path, &status, &r) == 0 && status == 200) {
        snprintf(state, 16, "%s", json_string_value(json_object_get(r, "state")));
        *height = (uint64_t)json_integer_value(json_object_get(r, "height"));
    }
    json_decref(r);
}

/* Waits until every validator is ready and final heights are equal and >= min; returns it. */
static uint64_t wait_agree(uint64_t min, double timeout_s)
{
    double deadline = nt_now() + timeout_s;
    for (;;) {
        uint64_t fin[N];
        bool same = true;
        for (uint32_t v = 0; v < N; v++) {
            if (nt_heights(&net_, v, NULL, NULL, &fin[v]) != 0) {
                same = false;
                fin[v] = 0;
            }
            same = same && fin[v] == fin[0] && fin[v] >= min;
        }
        if (same) {
            return fin[0];
        }
        if (nt_now() > deadline) {
            nt_dump_logs(&net_, 60);
            fail_msg("final heights do not agree within %.0f s: %llu %llu %llu", timeout_s,
                     (unsigned long long)fin[0], (unsigned long long)fin[1],
                     (unsigned long long)fin[2]);
        }
        nt_pause_ms(50);
    }
}

static void expect_same_block(uint64_t height)
{
    char path[64], first[65] = "";
    snprintf(path, sizeof(path), "/v1/blocks/%llu", (unsigned long long)height);
    for (uint32_t v = 0; v < N; v++) {
        long status = 0;
        json_t *r = NULL;
        assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
        assert_int_equal(status, 200);
        const char *h = json_string_value(json_object_get(r, "hash"));
        assert_non_null(h);
        if (v == 0) {
            snprintf(first, sizeof(first), "%s", h);
        } else if (strcmp(first, h) != 0) {
            fail_msg("block %llu differs: validator 1 has %s, validator %u has %s",
                     (unsigned long long)height, first, v + 1, h);
        }
        json_decref(r);
    }
}

/* A fresh transfer from `client` to final through validator v (the chain still moves). */
static uint64_t one_final(uint32_t v, uint32_t client, uint64_t nonce)
{
    uint8_t tx[SQ_TX_BYTES_MAX];
    size_t size = nt_transfer(&net_, tx, &net_.clients[client], net_.clients[7].pk, 1, nonce,
                              1u << 30);
    long status = 0;
    char id[65];
    assert_int_equal(nt_submit(&net_, v, tx, size, &status, id, NULL), 0);
    assert_int_equal(status, 202);
    char path[160];
    snprintf(path, sizeof(path), "/v1/tx/%s?wait=final&timeout_ms=30000", id);
    json_t *r = NULL;
    assert_int_equal(nt_get(&net_, v, path, &status, &r), 0);
    assert_int_equal(status, 200);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "final");
    uint64_t h = (uint64_t)json_integer_value(json_object_get(r, "height"));
    json_decref(r);
    return h;
}

/* ---- tests ---- */

static void test_kill_all_under_load_loses_nothing_persisted(void **state)
{
    (void)state;
    load_start();
    /* Let the chain grow under load until something is final. */
    uint64_t fin = 0;
    double deadline = nt_now() + 60;
    while (fin < 5) {
        assert_true(nt_now() < deadline);
        nt_heights(&net_, 0, NULL, NULL, &fin);
        nt_pause_ms(50);
    }
    /* Record what the validators report durable everywhere, then kill them all at once. */
    pthread_mutex_lock(&load_.mu);
    uint32_t count = load_.id_count;
    pthread_mutex_unlock(&load_.mu);
    static char durable[IDS_MAX][65];
    static uint64_t durable_h[IDS_MAX];
    uint32_t nd = 0;
    for (uint32_t k = 0; k < count && nd < 400; k += 3) {
        char st[16];
        uint64_t h;
        tx_state(load_.via[k], load_.ids[k], st, &h);
        if (strcmp(st, "persisted") == 0 || strcmp(st, "final") == 0) {
            snprintf(durable[nd], 65, "%s", load_.ids[k]);
            durable_h[nd++] = h;
        }
    }
    for (uint32_t v = 0; v < N; v++) {
        kill(net_.pid[v], SIGKILL);
    }
    for (uint32_t v = 0; v < N; v++) {
        nt_stop(&net_, v, SIGKILL, 10);
    }
    load_stop();
    assert_true(nd > 0);
    assert_int_equal(nt_start_all(&net_, READY_S), 0);
    /* Every transaction reported persisted or final is still there, at the same height, on
     * every validator. */
    for (uint32_t k = 0; k < nd; k++) {
        for (uint32_t v = 0; v < N; v++) {
            char st[16];
            uint64_t h;
            tx_state(v, durable[k], st, &h);
            if ((strcmp(st, "persisted") != 0 && strcmp(st, "final") != 0 &&
                 strcmp(st, "ordered") != 0) ||
                h != durable_h[k]) {
                fail_msg("validator %u lost %s (was durable at %llu; now '%s' at %llu)", v + 1,
                         durable[k], (unsigned long long)durable_h[k], st,
                         (unsigned long long)h);
            }
        }
    }
    uint64_t h = one_final(1, 5, 1);
    uint64_t agreed = wait_agree(h, 60);
    expect_same_block(agreed);
    print_message("kill-all: %u durable transactions checked after restart; final height %llu\n",
                  nd, (unsigned long long)agreed);
}

static void test_kill_one_under_load_restart_catches_up(void **state)
{
    (void)state;
    uint64_t before = 0;
    nt_heights(&net_, 0, NULL, NULL, &before);
    load_start();
    /* Let some blocks go by under load, then kill validator 3 and keep the load on. */
    double deadline = nt_now() + 60;
    uint64_t fin = before;
    while (fin < before + 5) {
        assert_true(nt_now() < deadline);
        nt_heights(&net_, 0, NULL, NULL, &fin);
        nt_pause_ms(50);
    }
    nt_stop(&net_, 2, SIGKILL, 10);
    uint32_t batches = load_.sent_batches;
    while (load_.sent_batches < batches + 20) {
        nt_pause_ms(10);
    }
    assert_int_equal(nt_start(&net_, 2), 0);
    for (uint32_t v = 0; v < N; v++) {
        assert_true(nt_wait_ready(&net_, v, READY_S));
    }
    /* It caught up and takes part again: new transactions go final through it too. */
    uint32_t accepted = load_.accepted;
    deadline = nt_now() + 60;
    while (load_.accepted < accepted + 200) {
        assert_true(nt_now() < deadline);
        nt_pause_ms(20);
    }
    load_stop();
    uint64_t h = one_final(2, 6, 1);
    uint64_t agreed = wait_agree(h, 60);
    expect_same_block(agreed);
    expect_same_block(before + 1);
    /* Say whether it had to fetch blocks (it usually lost its uncommitted tail in the kill). */
    int fetched = nt_log_count(&net_, 2, "caught-up blocks match a certificate");
    print_message("kill-one: validator 3 back and agreeing at final height %llu (%d catch-up log "
                  "lines)\n",
                  (unsigned long long)agreed, fetched);
}

static int log_count(uint32_t v, const char *pattern)
{
    return nt_log_count(&net_, v, pattern);
}

static void test_wiped_validator_catches_up_by_state_transfer(void **state)
{
    (void)state;
    /* Validator 2 loses its disk (killed, store deleted) while the chain is long: on restart it
     * must fetch every block from the others, replay them, check them against their
     * certificates, and only then join. */
    uint64_t fin = 0;
    assert_int_equal(nt_heights(&net_, 0, NULL, NULL, &fin), 0);
    assert_true(fin > 10);
    nt_stop(&net_, 1, SIGKILL, 10);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s/net/v2/data", net_.dir);
    assert_int_equal(system(cmd), 0);
    int before = log_count(1, "caught-up blocks match a certificate");
    assert_int_equal(nt_start(&net_, 1), 0);
    for (uint32_t v = 0; v < N; v++) {
        assert_true(nt_wait_ready(&net_, v, READY_S));
    }
    assert_true(log_count(1, "caught-up blocks match a certificate") > before);
    uint64_t h = one_final(1, 4, 1);
    uint64_t agreed = wait_agree(h, 60);
    expect_same_block(agreed);
    expect_same_block(fin);
    expect_same_block(1);
    print_message("wiped: validator 2 fetched %llu blocks and agrees at final height %llu\n",
                  (unsigned long long)fin, (unsigned long long)agreed);
}

/* Members of the view validator v reports. */
static uint32_t view_members(uint32_t v, uint64_t *vid)
{
    long status = 0;
    json_t *r = NULL;
    uint32_t count = 0;
    if (nt_get(&net_, v, "/v1/status", &status, &r) == 0 && status == 200) {
        json_t *view = json_object_get(r, "view");
        count = (uint32_t)json_array_size(json_object_get(view, "members"));
        *vid = (uint64_t)json_integer_value(json_object_get(view, "id"));
    }
    json_decref(r);
    return count;
}

static void test_survivors_finalize_while_one_is_down(void **state)
{
    (void)state;
    /* Kill validator 3: the two survivors install a view of two members and keep finalizing;
     * restarted, validator 3 joins again (state transfer of what it missed) and agrees. */
    uint64_t vid0 = 0;
    assert_int_equal(view_members(0, &vid0), N);
    nt_stop(&net_, 2, SIGKILL, 10);
    uint64_t h1 = one_final(0, 5, 2);
    uint64_t h2 = one_final(1, 5, 3);
    uint64_t vid = 0;
    assert_int_equal(view_members(0, &vid), N - 1);
    assert_true(vid > vid0);
    assert_true(h2 > h1);
    assert_int_equal(nt_start(&net_, 2), 0);
    assert_true(nt_wait_ready(&net_, 2, READY_S));
    uint64_t h3 = one_final(2, 5, 4);
    uint64_t agreed = wait_agree(h3, 60);
    expect_same_block(agreed);
    expect_same_block(h2);
    uint64_t vid2 = 0;
    assert_int_equal(view_members(2, &vid2), N);
    assert_true(vid2 > vid);
    print_message("survivors: final at %llu and %llu in view %llu of two; validator 3 back in "
                  "view %llu, agreeing at %llu\n",
                  (unsigned long long)h1, (unsigned long long)h2, (unsigned long long)vid,
                  (unsigned long long)vid2, (unsigned long long)agreed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill_all_under_load_loses_nothing_persisted),
        cmocka_unit_test(test_kill_one_under_load_restart_catches_up),
        cmocka_unit_test(test_wiped_validator_catches_up_by_state_transfer),
        cmocka_unit_test(test_survivors_finalize_while_one_is_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
