/* A validator process for the multi-process tests: a TCP transport and an SST driven by one
 * event loop, reporting what happens as lines on standard output:
 *
 *   up <peer>                 the peer authenticated
 *   failed <peer> <error>     the peer failed (its row is frozen)
 *   ready                     every peer is up
 *   final <c0> <c1> ...       (counters mode) every member is done; the counters as seen here
 *
 * Usage: sst_node --id I --n N --ports P0,P1,... [--listen-fd FD] [--mode counters|idle]
 *                 [--target K] [--rogue]
 * Validator i has the key derived from the seed filled with byte (i + 10); --rogue uses another
 * key while claiming the same id. The process exits when its standard input reaches EOF (idle),
 * or after printing "final" (counters). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "sst/sst.h"

#define CHAIN "squall-integration"

struct app {
    uint32_t id;
    uint32_t n;
    struct sq_loop *loop;
    struct net *net;
    struct sst *sst;
    uint32_t c_count;
    uint32_t c_done;
    int64_t target;
    bool counters;
    uint32_t up_mask;
    bool ready_printed;
    bool stop;
};

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static void on_up(void *arg, uint32_t peer)
{
    struct app *a = arg;
    a->up_mask |= 1u << peer;
    out("up %u\n", peer);
}

static void on_failed(void *arg, uint32_t peer, int reason)
{
    struct app *a = arg;
    out("failed %u %s\n", peer, sq_errname(reason));
    if (a->sst != NULL) {
        int r = sst_rank_of(a->sst, peer);
        if (r >= 0) {
            sst_row_freeze(a->sst, (uint32_t)r);
        }
    }
}

static void on_stdin(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    struct app *a = arg;
    char buf[64];
    ssize_t r = read(fd, buf, sizeof(buf));
    if (r <= 0) {
        a->stop = true;
    }
}

/* Counters: step in lockstep, each member one ahead of the slowest at most. */
static bool can_step(struct sst *sst, void *arg)
{
    struct app *a = arg;
    int64_t mine = sst_get_i64(sst, sst_my_rank(sst), a->c_count, 0);
    int64_t min = 0;
    if (mine >= a->target || !sst_min_i64(sst, a->c_count, 0, SST_ALL, &min)) {
        return false;
    }
    return min >= mine;
}

static void step(struct sst *sst, void *arg)
{
    struct app *a = arg;
    int64_t mine = sst_get_i64(sst, sst_my_rank(sst), a->c_count, 0);
    sst_set_i64(sst, a->c_count, 0, mine + 1);
    sst_cell_push(sst, a->c_count, 0, SST_ALL);
    if (mine + 1 == a->target) {
        /* Done is published after the last count (a separate, later push). */
        sst_set_u64(sst, a->c_done, 0, 1);
        sst_cell_push(sst, a->c_done, 0, SST_ALL);
    }
}

static bool all_done(struct sst *sst, void *arg)
{
    struct app *a = arg;
    for (uint32_t r = 0; r < sst_member_count(sst); r++) {
        if (sst_get_u64(sst, r, a->c_done, 0) != 1) {
            return false;
        }
    }
    return true;
}

static void finish(struct sst *sst, void *arg)
{
    struct app *a = arg;
    char line[512];
    size_t len = (size_t)snprintf(line, sizeof(line), "final");
    for (uint32_t r = 0; r < sst_member_count(sst) && len < sizeof(line); r++) {
        len += (size_t)snprintf(line + len, sizeof(line) - len, " %lld",
                                (long long)sst_get_i64(sst, r, a->c_count, 0));
    }
    out("%s\n", line);
    a->stop = true;
}

int main(int argc, char **argv)
{
    struct app a = {.target = 100, .counters = false};
    const char *ports = NULL;
    int listen_fd = -1;
    bool rogue = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--id") == 0 && i + 1 < argc) {
            a.id = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
            a.n = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--ports") == 0 && i + 1 < argc) {
            ports = argv[++i];
        } else if (strcmp(argv[i], "--listen-fd") == 0 && i + 1 < argc) {
            listen_fd = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc) {
            a.counters = strcmp(argv[++i], "counters") == 0;
        } else if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) {
            a.target = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--rogue") == 0) {
            rogue = true;
        } else {
            fprintf(stderr, "sst_node: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (a.n < 2 || a.n > 16 || a.id >= a.n || ports == NULL) {
        fprintf(stderr, "sst_node: need --id, --n (2..16) and --ports\n");
        return 2;
    }
    char label[16];
    snprintf(label, sizeof(label), "v%u", a.id);
    sq_log_set_node(label);
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    static struct net_validator set[16];
    static struct sqc_keypair keys[16];
    struct sqc_keypair rogue_key;
    const char *p = ports;
    for (uint32_t i = 0; i < a.n; i++) {
        uint8_t seed[SQC_SEED_BYTES];
        memset(seed, (int)(i + 10), sizeof(seed));
        if (sqc_keypair_from_seed(&keys[i], seed) != SQ_OK) {
            return 1;
        }
        set[i].id = i;
        memcpy(set[i].pk, keys[i].pk, SQC_PK_BYTES);
        strcpy(set[i].host, "127.0.0.1");
        set[i].port = (uint16_t)strtoul(p, NULL, 10);
        p = strchr(p, ',');
        if (p == NULL && i + 1 < a.n) {
            fprintf(stderr, "sst_node: --ports needs %u ports\n", a.n);
            return 2;
        }
        p = p != NULL ? p + 1 : "";
    }
    uint8_t rseed[SQC_SEED_BYTES];
    memset(rseed, 0xee, sizeof(rseed));
    if (sqc_keypair_from_seed(&rogue_key, rseed) != SQ_OK) {
        return 1;
    }
    if (sq_loop_create(&a.loop, sq_clock_monotonic()) != SQ_OK) {
        return 1;
    }
    struct net_tcp_config cfg = {
        .loop = a.loop,
        .chain_id = (const uint8_t *)CHAIN,
        .chain_id_size = strlen(CHAIN),
        .self_id = a.id,
        .key = rogue ? &rogue_key : &keys[a.id],
        .validators = set,
        .validator_count = a.n,
        .listen_fd = listen_fd,
        .keepalive_ms = 200,
        .dead_ms = 3000,
        .retry_min_ms = 10,
        .retry_max_ms = 200,
    };
    struct net_handler h = {.arg = &a, .peer_up = on_up, .peer_failed = on_failed};
    int rc = net_tcp_create(&a.net, &cfg, &h);
    if (rc != SQ_OK) {
        fprintf(stderr, "sst_node: net_tcp_create: %s\n", sq_strerror(rc));
        return 1;
    }
    struct sst_schema schema;
    sst_schema_init(&schema);
    if (sst_schema_add(&schema, "count", SST_I64, 1, SST_MONOTONE, 0, &a.c_count) != SQ_OK ||
        sst_schema_add(&schema, "done", SST_U64, 1, SST_MONOTONE, 0, &a.c_done) != SQ_OK) {
        return 1;
    }
    uint32_t ids[16];
    for (uint32_t i = 0; i < a.n; i++) {
        ids[i] = i;
    }
    struct sst_config sc = {.schema = &schema,
                            .member_count = a.n,
                            .my_rank = a.id,
                            .member_ids = ids,
                            .net = a.net,
                            .region = 0,
                            .view_tag = 1};
    rc = sst_create(&a.sst, &sc);
    if (rc != SQ_OK) {
        fprintf(stderr, "sst_node: sst_create: %s\n", sq_strerror(rc));
        return 1;
    }
    for (uint32_t i = 0; i < a.n; i++) {
        if (i != a.id) {
            (void)net_peer_add(a.net, i);
        }
    }
    (void)sq_loop_fd_add(a.loop, 0, SQ_LOOP_IN, on_stdin, &a);
    uint32_t all = ((1u << a.n) - 1) & ~(1u << a.id);
    bool started = false;
    while (!a.stop) {
        if (sq_loop_run_once(a.loop, -1) < 0) {
            break;
        }
        if (!a.ready_printed && (a.up_mask & all) == all) {
            a.ready_printed = true;
            out("ready\n");
        }
        if (a.counters && !started && a.ready_printed) {
            started = true;
            (void)sst_pred_add(a.sst, SST_PRED_RECURRENT, can_step, step, &a, NULL);
            (void)sst_pred_add(a.sst, SST_PRED_ONE_TIME, all_done, finish, &a, NULL);
        }
        (void)sst_poll(a.sst);
        if (sst_check(a.sst) != SQ_OK) {
            fprintf(stderr, "sst_node: %s\n", sst_check_msg(a.sst));
            return 3;
        }
    }
    sq_loop_fd_remove(a.loop, 0);
    sst_destroy(a.sst);
    net_destroy(a.net);
    sq_loop_destroy(a.loop);
    for (uint32_t i = 0; i < a.n; i++) {
        sqc_keypair_free(&keys[i]);
    }
    sqc_keypair_free(&rogue_key);
    return 0;
}
