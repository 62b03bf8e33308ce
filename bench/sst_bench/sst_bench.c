/* sst_bench: SST counter round trip and update rate over the TCP transport on 127.0.0.1, beside a
 * plain blocking TCP ping-pong of the same wire size measured in the same run. One JSON line.
 *
 *   sst_bench [--procs 2|3|0 (both, default)] [--iters N] [--updates N]
 *
 * Round trip (procs P): rank 0 sets its `ping` cell to i and pushes it to all; every other rank's
 * recurrent predicate sees ping > pong, copies it into its own `pong` cell and pushes that to rank
 * 0; rank 0's predicate sees min(pong) == i, records the time, and goes on with i + 1.
 * Update rate: rank 0 increments its `rate` counter and pushes each increment to all (one write
 * per target per update), at most WINDOW ahead of the slowest echo; the others echo the latest
 * value they see. Rate = updates / time until the last echo.
 * Plain TCP: two processes, blocking sockets with TCP_NODELAY, a message of the size of one SST
 * cell write frame goes back and forth (ratio_p50 compares with this). For 3 processes the same
 * fan-out pattern is also measured over plain TCP (one client writes to 2 echo servers and reads
 * both answers; ratio_fanout_p50 compares with that).
 *
 * Every process is forked from this one; each SST process runs one event loop (base/loop.h) that
 * blocks in epoll when idle. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "net/net_int.h"
#include "sst/sst.h"

#define CHAIN "sst-bench"
#define PROCS_MAX 3
#define WINDOW 256
#define BATCH 64
#define MSG_BYTES (NET_WRITE_HDR_BYTES + 8) /* one SST cell write on the wire */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SQ_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(uint64_t *v, size_t n, double p)
{
    qsort(v, n, sizeof(*v), cmp_u64);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1000.0;
}

/* ---- one SST process ---- */

struct node {
    uint32_t rank;
    uint32_t n;
    struct sq_loop *loop;
    struct net *net;
    struct sst *sst;
    uint32_t c_ping, c_pong, c_rate, c_rate_ack, c_quit;
    uint32_t up_mask;
    uint32_t gone_mask;
    bool stop;
    /* rank 0 only */
    uint64_t iters;
    uint64_t warmup;
    int64_t i;
    uint64_t t_sent;
    uint64_t *rtt;
    int phase; /* 0 wait, 1 ping, 2 rate, 3 quitting */
    int64_t updates;
    uint64_t t_rate0;
    uint64_t t_rate1;
};

static void on_up(void *arg, uint32_t peer)
{
    struct node *nd = arg;
    nd->up_mask |= 1u << peer;
}

static void on_failed(void *arg, uint32_t peer, int reason)
{
    (void)reason;
    struct node *nd = arg;
    nd->gone_mask |= 1u << peer;
    sst_row_freeze(nd->sst, peer);
}

static uint64_t others(const struct node *nd)
{
    return ((UINT64_C(1) << nd->n) - 1) & ~(UINT64_C(1) << nd->rank);
}

static bool always(struct sst *sst, void *arg)
{
    (void)sst;
    (void)arg;
    return true;
}

/* Ranks > 0: echo ping and rate, and stop on quit. Reads each cell once (§1.4). */
static void echo(struct sst *sst, void *arg)
{
    struct node *nd = arg;
    int64_t ping = sst_get_i64(sst, 0, nd->c_ping, 0);
    if (ping > sst_get_i64(sst, nd->rank, nd->c_pong, 0)) {
        sst_set_i64(sst, nd->c_pong, 0, ping);
        sst_cell_push(sst, nd->c_pong, 0, 1);
    }
    int64_t rate = sst_get_i64(sst, 0, nd->c_rate, 0);
    if (rate > sst_get_i64(sst, nd->rank, nd->c_rate_ack, 0)) {
        sst_set_i64(sst, nd->c_rate_ack, 0, rate);
        sst_cell_push(sst, nd->c_rate_ack, 0, 1);
    }
    if (sst_get_u64(sst, 0, nd->c_quit, 0) != 0) {
        nd->stop = true;
    }
}

static void ping_send(struct node *nd)
{
    nd->i++;
    sst_set_i64(nd->sst, nd->c_ping, 0, nd->i);
    nd->t_sent = now_ns();
    sst_cell_push(nd->sst, nd->c_ping, 0, SST_ALL);
}

static void rate_push(struct node *nd, int64_t acked)
{
    int64_t mine = sst_get_i64(nd->sst, 0, nd->c_rate, 0);
    for (int k = 0; k < BATCH && mine < nd->updates && mine < acked + WINDOW; k++) {
        mine++;
        sst_set_i64(nd->sst, nd->c_rate, 0, mine);
        sst_cell_push(nd->sst, nd->c_rate, 0, SST_ALL);
    }
}

/* Rank 0: drives both phases. */
static void drive(struct sst *sst, void *arg)
{
    struct node *nd = arg;
    int64_t min = 0;
    switch (nd->phase) {
    case 0:
        if ((nd->up_mask & others(nd)) == others(nd) && sst_targets_ready(sst, SST_ALL)) {
            nd->phase = 1;
            ping_send(nd);
        }
        break;
    case 1:
        if (sst_min_i64(sst, nd->c_pong, 0, others(nd), &min) && min == nd->i) {
            uint64_t t = now_ns();
            if ((uint64_t)nd->i > nd->warmup) {
                nd->rtt[(uint64_t)nd->i - nd->warmup - 1] = t - nd->t_sent;
            }
            if ((uint64_t)nd->i == nd->warmup + nd->iters) {
                nd->phase = 2;
                nd->t_rate0 = now_ns();
                rate_push(nd, 0);
            } else {
                ping_send(nd);
            }
        }
        break;
    case 2:
        if (sst_min_i64(sst, nd->c_rate_ack, 0, others(nd), &min)) {
            if (min == nd->updates) {
                nd->t_rate1 = now_ns();
                nd->phase = 3;
                sst_set_u64(sst, nd->c_quit, 0, 1);
                sst_cell_push(sst, nd->c_quit, 0, SST_ALL);
            } else {
                rate_push(nd, min);
            }
        }
        break;
    default:
        if ((nd->gone_mask & others(nd)) == others(nd)) {
            nd->stop = true; /* everyone saw quit and closed */
        }
        break;
    }
}

static int run_node(uint32_t rank, uint32_t n, const uint16_t *ports, int listen_fd, uint64_t iters,
                    int64_t updates, int result_fd)
{
    sq_log_set_level(SQ_LOG_WARN);
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    static struct net_validator set[PROCS_MAX];
    static struct sqc_keypair keys[PROCS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        uint8_t seed[SQC_SEED_BYTES];
        memset(seed, (int)(i + 40), sizeof(seed));
        if (sqc_keypair_from_seed(&keys[i], seed) != SQ_OK) {
            return 1;
        }
        set[i].id = i;
        memcpy(set[i].pk, keys[i].pk, SQC_PK_BYTES);
        strcpy(set[i].host, "127.0.0.1");
        set[i].port = ports[i];
    }
    static struct node nd;
    memset(&nd, 0, sizeof(nd));
    nd.rank = rank;
    nd.n = n;
    nd.iters = iters;
    nd.warmup = iters / 10;
    nd.updates = updates;
    if (rank == 0) {
        nd.rtt = calloc(iters, sizeof(uint64_t));
        if (nd.rtt == NULL) {
            return 1;
        }
    }
    if (sq_loop_create(&nd.loop, sq_clock_monotonic()) != SQ_OK) {
        return 1;
    }
    struct net_tcp_config cfg = {
        .loop = nd.loop,
        .chain_id = (const uint8_t *)CHAIN,
        .chain_id_size = strlen(CHAIN),
        .self_id = rank,
        .key = &keys[rank],
        .validators = set,
        .validator_count = n,
        .listen_fd = listen_fd,
        .retry_min_ms = 5,
        .retry_max_ms = 100,
    };
    struct net_handler h = {.arg = &nd, .peer_up = on_up, .peer_failed = on_failed};
    if (net_tcp_create(&nd.net, &cfg, &h) != SQ_OK) {
        return 1;
    }
    struct sst_schema schema;
    sst_schema_init(&schema);
    if (sst_schema_add(&schema, "ping", SST_I64, 1, SST_MONOTONE, 0, &nd.c_ping) != SQ_OK ||
        sst_schema_add(&schema, "pong", SST_I64, 1, SST_MONOTONE, 0, &nd.c_pong) != SQ_OK ||
        sst_schema_add(&schema, "rate", SST_I64, 1, SST_MONOTONE, 0, &nd.c_rate) != SQ_OK ||
        sst_schema_add(&schema, "rate_ack", SST_I64, 1, SST_MONOTONE, 0, &nd.c_rate_ack) != SQ_OK ||
        sst_schema_add(&schema, "quit", SST_U64, 1, SST_MONOTONE, 0, &nd.c_quit) != SQ_OK) {
        return 1;
    }
    uint32_t ids[PROCS_MAX] = {0, 1, 2};
    struct sst_config sc = {.schema = &schema,
                            .member_count = n,
                            .my_rank = rank,
                            .member_ids = ids,
                            .net = nd.net,
                            .region = 0,
                            .view_tag = 1};
    if (sst_create(&nd.sst, &sc) != SQ_OK) {
        return 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (i != rank) {
            (void)net_peer_add(nd.net, i);
        }
    }
    (void)sst_pred_add(nd.sst, SST_PRED_RECURRENT, always, rank == 0 ? drive : echo, &nd, NULL);
    uint64_t deadline = now_ns() + 120 * SQ_NS_PER_S;
    while (!nd.stop && now_ns() < deadline) {
        if (sq_loop_run_once(nd.loop, 100) < 0) {
            break;
        }
        (void)sst_poll(nd.sst);
    }
    int rc = nd.stop ? 0 : 1;
    if (rank == 0 && nd.stop) {
        double p50 = pct_us(nd.rtt, nd.iters, 0.50);
        double p99 = pct_us(nd.rtt, nd.iters, 0.99);
        double secs = (double)(nd.t_rate1 - nd.t_rate0) / 1e9;
        char line[256];
        int len =
            snprintf(line, sizeof(line), "%.2f %.2f %.0f\n", p50, p99, (double)nd.updates / secs);
        if (write(result_fd, line, (size_t)len) != len) {
            rc = 1;
        }
    }
    sst_destroy(nd.sst);
    net_destroy(nd.net);
    sq_loop_destroy(nd.loop);
    free(nd.rtt);
    for (uint32_t i = 0; i < n; i++) {
        sqc_keypair_free(&keys[i]);
    }
    return rc;
}

/* ---- plain TCP ping-pong ---- */

static int full_io(int fd, uint8_t *buf, size_t n, bool wr)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = wr ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        done += (size_t)r;
    }
    return 0;
}

/* `servers` echo processes; the client writes one message to each, then reads every answer
 * (servers = 1 is the classic ping-pong; 2 is the plain-TCP form of the 3-process SST round). */
static int tcp_pingpong(uint32_t servers, uint64_t iters, double *p50, double *p99)
{
    uint64_t total = iters + iters / 10;
    int fds[PROCS_MAX];
    pid_t pids[PROCS_MAX];
    int rc = 0;
    for (uint32_t s = 0; s < servers; s++) {
        int lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof(sa);
        if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
            getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
            return -1;
        }
        pids[s] = fork();
        if (pids[s] < 0) {
            return -1;
        }
        if (pids[s] == 0) {
            int fd = accept(lfd, NULL, NULL);
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            uint8_t buf[MSG_BYTES];
            for (uint64_t i = 0; i < total; i++) {
                if (full_io(fd, buf, sizeof(buf), false) != 0 ||
                    full_io(fd, buf, sizeof(buf), true) != 0) {
                    _exit(1);
                }
            }
            _exit(0);
        }
        close(lfd);
        fds[s] = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fds[s], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(fds[s], (struct sockaddr *)&sa, sizeof(sa)) != 0) {
            rc = -1;
        }
    }
    uint64_t *rtt = calloc(iters, sizeof(uint64_t));
    uint8_t buf[MSG_BYTES];
    memset(buf, 1, sizeof(buf));
    for (uint64_t i = 0; rc == 0 && rtt != NULL && i < total; i++) {
        uint64_t t0 = now_ns();
        for (uint32_t s = 0; s < servers && rc == 0; s++) {
            rc = full_io(fds[s], buf, sizeof(buf), true);
        }
        for (uint32_t s = 0; s < servers && rc == 0; s++) {
            rc = full_io(fds[s], buf, sizeof(buf), false);
        }
        if (rc == 0 && i >= iters / 10) {
            rtt[i - iters / 10] = now_ns() - t0;
        }
    }
    for (uint32_t s = 0; s < servers; s++) {
        close(fds[s]);
        int st = 0;
        waitpid(pids[s], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            rc = -1;
        }
    }
    if (rc == 0 && rtt != NULL) {
        *p50 = pct_us(rtt, iters, 0.50);
        *p99 = pct_us(rtt, iters, 0.99);
    } else {
        rc = -1;
    }
    free(rtt);
    return rc;
}

/* ---- orchestration ---- */

struct result {
    uint32_t procs;
    double sst_p50, sst_p99, ups, tcp_p50, tcp_p99, fan_p50, fan_p99;
};

static int run_sst(uint32_t n, uint64_t iters, int64_t updates, struct result *res)
{
    int lfds[PROCS_MAX];
    uint16_t ports[PROCS_MAX];
    for (uint32_t i = 0; i < n; i++) {
        lfds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t sl = sizeof(sa);
        if (lfds[i] < 0 || bind(lfds[i], (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
            listen(lfds[i], 16) != 0 || getsockname(lfds[i], (struct sockaddr *)&sa, &sl) != 0) {
            return -1;
        }
        ports[i] = ntohs(sa.sin_port);
    }
    int pfd[2];
    if (pipe(pfd) != 0) {
        return -1;
    }
    pid_t pids[PROCS_MAX];
    for (uint32_t r = 0; r < n; r++) {
        pids[r] = fork();
        if (pids[r] < 0) {
            return -1;
        }
        if (pids[r] == 0) {
            for (uint32_t j = 0; j < n; j++) {
                if (j != r) {
                    close(lfds[j]);
                }
            }
            close(pfd[0]);
            _exit(run_node(r, n, ports, lfds[r], iters, updates, pfd[1]));
        }
    }
    close(pfd[1]);
    for (uint32_t i = 0; i < n; i++) {
        close(lfds[i]);
    }
    char line[256] = {0};
    size_t len = 0;
    ssize_t got;
    while (len < sizeof(line) - 1 && (got = read(pfd[0], line + len, sizeof(line) - 1 - len)) > 0) {
        len += (size_t)got;
    }
    close(pfd[0]);
    int ok = 0;
    for (uint32_t r = 0; r < n; r++) {
        int st = 0;
        waitpid(pids[r], &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            ok = -1;
        }
    }
    if (ok != 0 || sscanf(line, "%lf %lf %lf", &res->sst_p50, &res->sst_p99, &res->ups) != 3) {
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t procs = 0;
    uint64_t iters = 20000;
    int64_t updates = 200000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--procs") == 0 && i + 1 < argc) {
            procs = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--iters") == 0 && i + 1 < argc) {
            iters = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--updates") == 0 && i + 1 < argc) {
            updates = strtoll(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: sst_bench [--procs 2|3] [--iters N] [--updates N]\n");
            return 2;
        }
    }
    if (iters < 10 || updates < 1 || (procs != 0 && procs != 2 && procs != 3)) {
        fprintf(stderr, "sst_bench: bad arguments\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct result res[2];
    size_t count = 0;
    for (uint32_t n = 2; n <= 3; n++) {
        if (procs != 0 && procs != n) {
            continue;
        }
        struct result *r = &res[count];
        memset(r, 0, sizeof(*r));
        r->procs = n;
        if (run_sst(n, iters, updates, r) != 0) {
            fprintf(stderr, "sst_bench: the %u-process SST run failed\n", n);
            return 1;
        }
        if (tcp_pingpong(1, iters, &r->tcp_p50, &r->tcp_p99) != 0 ||
            (n > 2 && tcp_pingpong(n - 1, iters, &r->fan_p50, &r->fan_p99) != 0)) {
            fprintf(stderr, "sst_bench: the TCP ping-pong failed\n");
            return 1;
        }
        count++;
    }
    printf("{\"bench\":\"sst_bench\",\"transport\":\"tcp\",\"host\":\"127.0.0.1\","
           "\"msg_bytes\":%d,\"iters\":%llu,\"updates\":%lld,\"target_ratio_p50_max\":1.5,"
           "\"results\":[",
           MSG_BYTES, (unsigned long long)iters, (long long)updates);
    for (size_t i = 0; i < count; i++) {
        const struct result *r = &res[i];
        printf("%s{\"procs\":%u,\"sst_rtt_p50_us\":%.2f,\"sst_rtt_p99_us\":%.2f,"
               "\"sst_updates_per_s\":%.0f,\"tcp_pingpong_p50_us\":%.2f,"
               "\"tcp_pingpong_p99_us\":%.2f,\"ratio_p50\":%.3f",
               i ? "," : "", r->procs, r->sst_p50, r->sst_p99, r->ups, r->tcp_p50, r->tcp_p99,
               r->sst_p50 / r->tcp_p50);
        if (r->procs > 2) {
            /* The same fan-out pattern over plain TCP: one client, procs-1 echo servers. */
            printf(",\"tcp_fanout_p50_us\":%.2f,\"tcp_fanout_p99_us\":%.2f,"
                   "\"ratio_fanout_p50\":%.3f",
                   r->fan_p50, r->fan_p99, r->sst_p50 / r->fan_p50);
        }
        printf("}");
    }
    printf("]}\n");
    return 0;
}
