/* RDMC across real processes over the TCP transport on 127.0.0.1.
 *
 * The parent binds one listening socket per validator on 127.0.0.1:0, then forks one process per
 * validator (each adopts its socket through net_tcp_config.listen_fd). Every node is the root of
 * one group of all nodes (rotated, §3.1), so all groups run at once over the same connections,
 * with the four schedules mixed. Each root sends messages whose bytes derive from (seed, group,
 * index); receivers regenerate and compare them. A process reports on a pipe ("progress" after its
 * first completion, then "done ..."), and stays up until the parent writes "x" on its control pipe,
 * so that relays do not leave before the others finish. The parent waits with a deadline and stops
 * children by PID.
 *
 * Scenarios: all nodes complete every message with identical bytes; one node is SIGKILLed after
 * the first progress report, and then every survivor gets a failure upcall for every group (all
 * contain the victim) and never a wrong message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/prng.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "rdmc/rdmc.h"

#define T_NODES_MAX 8
#define T_MSGS 12
#define T_DEADLINE_S 90

struct t_plan {
    uint32_t nodes;
    uint64_t seed;
    uint32_t block_bytes;
    int victim; /* -1: none */
};

/* ---- the child: one validator ---- */

struct t_child {
    const struct t_plan *plan;
    uint32_t self;
    struct sq_loop *loop;
    struct net *net;
    struct rdmc_net *rn;
    int report_fd;
    int ctl_fd;
    struct sq_timer poll_timer;
    struct sq_timer deadline_timer;
    uint64_t done[T_NODES_MAX];
    uint32_t failed[T_NODES_MAX];
    void *recv_buf[T_NODES_MAX];
    uint8_t *sendbufs[T_MSGS];
    uint32_t next_send;
    uint64_t bytes;
    uint32_t peers_up;
    bool reported_progress;
    bool reported_done;
    int exit_code;
};

static size_t t_msg_size(const struct t_plan *plan, uint32_t group, uint32_t index)
{
    uint32_t bs = plan->block_bytes;
    switch (index % 6) {
    case 0:
        return 1;
    case 1:
        return bs;
    case 2:
        return bs + 1;
    case 3:
        return 3u * 1024 * 1024 + group * 1000 + 17;
    case 4:
        return 5u * bs - 3;
    default:
        return 2u * 1024 * 1024;
    }
}

static void t_msg_fill(const struct t_plan *plan, uint32_t group, uint32_t index, uint8_t *buf,
                       size_t size)
{
    struct sq_prng p;
    sq_prng_seed(&p, plan->seed ^ ((uint64_t)group << 32) ^ index);
    sq_prng_fill(&p, buf, size);
}

static void t_report(struct t_child *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void t_report(struct t_child *c, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n > 0) {
        ssize_t w = write(c->report_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line));
        (void)w;
    }
}

static void t_error(struct t_child *c, const char *what)
{
    t_report(c, "error node=%u %s\n", c->self, what);
    c->exit_code = 1;
    sq_loop_stop(c->loop);
}

static void t_maybe_done(struct t_child *c)
{
    if (c->reported_done) {
        return;
    }
    for (uint32_t g = 0; g < c->plan->nodes; g++) {
        if (c->done[g] < T_MSGS && c->failed[g] == 0) {
            return;
        }
    }
    uint32_t failed = 0;
    uint64_t msgs = 0;
    for (uint32_t g = 0; g < c->plan->nodes; g++) {
        failed += c->failed[g];
        msgs += c->done[g];
    }
    c->reported_done = true;
    t_report(c, "done node=%u msgs=%llu failed=%u bytes=%llu\n", c->self, (unsigned long long)msgs,
             failed, (unsigned long long)c->bytes);
}

static void t_send_more(struct t_child *c)
{
    uint32_t g = c->self;
    while (c->next_send < T_MSGS) {
        uint32_t m = c->next_send;
        size_t size = t_msg_size(c->plan, g, m);
        int rc = rdmc_group_send(rdmc_net_engine(c->rn), g, c->sendbufs[m], size, m);
        if (rc == SQ_EFULL || rc == SQ_ECLOSED) {
            return;
        }
        if (rc != SQ_OK) {
            t_error(c, "rdmc_group_send failed");
            return;
        }
        c->next_send++;
    }
}

static void *t_alloc(void *ctx, uint32_t group_id, size_t size_max)
{
    struct t_child *c = ctx;
    c->recv_buf[group_id] = malloc(size_max);
    return c->recv_buf[group_id];
}

static void t_done(void *ctx, uint32_t group_id, uint64_t msg_index, void *buf, size_t size,
                   uint64_t cookie)
{
    struct t_child *c = ctx;
    (void)cookie;
    if (msg_index != c->done[group_id] || msg_index >= T_MSGS) {
        t_error(c, "message out of order");
        return;
    }
    size_t want = t_msg_size(c->plan, group_id, (uint32_t)msg_index);
    if (size != want) {
        t_error(c, "wrong message size");
        return;
    }
    if (group_id != c->self) {
        uint8_t *truth = malloc(size);
        t_msg_fill(c->plan, group_id, (uint32_t)msg_index, truth, size);
        bool same = memcmp(truth, buf, size) == 0;
        free(truth);
        free(buf);
        c->recv_buf[group_id] = NULL;
        if (!same) {
            t_error(c, "WRONG BYTES");
            return;
        }
        c->bytes += size;
    }
    c->done[group_id]++;
    if (!c->reported_progress) {
        c->reported_progress = true;
        t_report(c, "progress node=%u\n", c->self);
    }
    if (group_id == c->self) {
        t_send_more(c);
    }
    t_maybe_done(c);
}

static void t_failed(void *ctx, uint32_t group_id, int err, uint32_t peer, void *recv_buf)
{
    struct t_child *c = ctx;
    free(recv_buf);
    c->recv_buf[group_id] = NULL;
    if (c->reported_done) {
        return; /* others are shutting down */
    }
    if (c->plan->victim < 0 || peer != (uint32_t)c->plan->victim + 1 || err != SQ_EPEER) {
        char what[96];
        snprintf(what, sizeof(what), "group %u failed: %s peer %u", group_id, sq_errname(err),
                 peer);
        t_error(c, what);
        return;
    }
    c->failed[group_id]++;
    t_maybe_done(c);
}

static void t_poll_timer(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    struct t_child *c = arg;
    rdmc_net_poll(c->rn);
    (void)sq_loop_timer_start(loop, timer, SQ_NS_PER_MS);
}

static void t_deadline(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    t_error(arg, "deadline");
}

static void t_ctl(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)arg;
    (void)events;
    char b;
    ssize_t n = read(fd, &b, 1);
    (void)n;
    sq_loop_fd_remove(loop, fd);
    sq_loop_stop(loop); /* "x" or the parent went away: leave */
}

static void t_on_peer_up(void *arg, uint32_t peer)
{
    struct t_child *c = arg;
    rdmc_net_on_peer_up(c->rn, peer);
    if (++c->peers_up == c->plan->nodes - 1) {
        t_report(c, "up node=%u\n", c->self);
    }
}

static void t_on_peer_failed(void *arg, uint32_t peer, int reason)
{
    struct t_child *c = arg;
    rdmc_net_on_peer_failed(c->rn, peer, reason);
}

static void t_on_recv_done(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                           size_t size)
{
    struct t_child *c = arg;
    rdmc_net_on_recv_done(c->rn, peer, wr_id, status, imm, size);
}

/* Large blocks go straight into the message buffer (rdmc_net_on_recv_place): tested here. */
static void *t_on_recv_place(void *arg, uint32_t peer, uint64_t wr_id, uint32_t imm, size_t size,
                             size_t offset)
{
    struct t_child *c = arg;
    return rdmc_net_on_recv_place(c->rn, peer, wr_id, imm, size, offset);
}

/* Validator `self` (node id self + 1: ids are not ranks). Group g is rooted at node g + 1, its
 * members rotated so that the root is first (§3.1). */
static int t_child_main(const struct t_plan *plan, uint32_t self, int listen_fd,
                        const struct net_validator *vals, int report_fd, int ctl_fd)
{
    struct t_child c = {.plan = plan, .self = self, .report_fd = report_fd, .ctl_fd = ctl_fd};
    sq_log_set_level(SQ_LOG_ERROR);
    if (sqc_init() != SQ_OK || sq_loop_create(&c.loop, sq_clock_monotonic()) != SQ_OK) {
        return 2;
    }
    struct sqc_keypair key = {0};
    uint8_t seed[SQC_SEED_BYTES] = {0};
    seed[0] = (uint8_t)(self + 1);
    if (sqc_keypair_from_seed(&key, seed) != SQ_OK) {
        return 2;
    }
    static const char chain[] = "rdmc-integration";
    struct net_tcp_config cfg = {.loop = c.loop,
                                 .chain_id = (const uint8_t *)chain,
                                 .chain_id_size = sizeof(chain) - 1,
                                 .self_id = self + 1,
                                 .key = &key,
                                 .validators = vals,
                                 .validator_count = plan->nodes,
                                 .listen_fd = listen_fd};
    struct rdmc_upcalls up = {.ctx = &c, .alloc = t_alloc, .done = t_done, .failed = t_failed};
    struct rdmc_net_config rcfg = {.recv_bytes = plan->block_bytes, .recvs_per_peer = 8};
    /* The handler needs the adapter and the adapter needs the transport: the handler's
     * trampolines find the adapter through the child. */
    struct net_handler h = {.arg = &c,
                            .peer_up = t_on_peer_up,
                            .peer_failed = t_on_peer_failed,
                            .recv_done = t_on_recv_done,
                            .recv_place = t_on_recv_place};
    int rc = net_tcp_create(&c.net, &cfg, &h);
    if (rc != SQ_OK) {
        return 3;
    }
    rc = rdmc_net_create(&c.rn, c.net, &up, &rcfg);
    if (rc != SQ_OK) {
        return 3;
    }
    for (uint32_t i = 0; i < plan->nodes; i++) {
        if (i != self) {
            if (net_peer_add(c.net, i + 1) != SQ_OK || rdmc_net_peer_add(c.rn, i + 1) != SQ_OK) {
                return 4;
            }
        }
    }
    struct rdmc_settings s;
    rdmc_settings_default(&s);
    s.block_bytes = plan->block_bytes;
    s.msg_bytes_max = 4u * 1024 * 1024;
    s.queue_max = 4;
    for (uint32_t g = 0; g < plan->nodes; g++) {
        uint32_t members[T_NODES_MAX];
        for (uint32_t i = 0; i < plan->nodes; i++) {
            members[i] = (g + i) % plan->nodes + 1;
        }
        s.sched = (enum rdmc_sched)(g % RDMC_SCHED_COUNT);
        if (rdmc_group_create(rdmc_net_engine(c.rn), g, members, plan->nodes, &s) != SQ_OK) {
            return 5;
        }
    }
    for (uint32_t m = 0; m < T_MSGS; m++) {
        size_t size = t_msg_size(plan, self, m);
        c.sendbufs[m] = malloc(size);
        t_msg_fill(plan, self, m, c.sendbufs[m], size);
    }
    t_send_more(&c);
    sq_timer_init(&c.poll_timer, t_poll_timer, &c);
    sq_timer_init(&c.deadline_timer, t_deadline, &c);
    (void)sq_loop_timer_start(c.loop, &c.poll_timer, SQ_NS_PER_MS);
    (void)sq_loop_timer_start(c.loop, &c.deadline_timer, (uint64_t)T_DEADLINE_S * SQ_NS_PER_S);
    (void)sq_loop_fd_add(c.loop, ctl_fd, SQ_LOOP_IN, t_ctl, &c);
    (void)sq_loop_run(c.loop);

    struct rdmc_stats st;
    rdmc_engine_stats(rdmc_net_engine(c.rn), &st);
    net_destroy(c.net);
    rdmc_net_destroy(c.rn);
    sq_loop_destroy(c.loop);
    for (uint32_t m = 0; m < T_MSGS; m++) {
        free(c.sendbufs[m]);
    }
    for (uint32_t g = 0; g < T_NODES_MAX; g++) {
        free(c.recv_buf[g]);
    }
    sqc_keypair_free(&key);
    return c.exit_code;
}

/* ---- the parent ---- */

struct t_proc {
    pid_t pid;
    int report_fd;
    int ctl_fd;
    char buf[1024];
    size_t len;
    bool up;
    bool progress;
    bool done;
    bool eof;
    uint64_t msgs;
    uint32_t failed;
};

static int t_listen(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    socklen_t alen = sizeof(a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static uint64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void t_parse(struct t_proc *p)
{
    char *line = p->buf;
    char *nl;
    while ((nl = memchr(line, '\n', (size_t)(p->buf + p->len - line))) != NULL) {
        *nl = '\0';
        print_message("  [child] %s\n", line);
        if (strncmp(line, "up", 2) == 0) {
            p->up = true;
        } else if (strncmp(line, "progress", 8) == 0) {
            p->progress = true;
        } else if (strncmp(line, "done", 4) == 0) {
            unsigned long long msgs = 0;
            unsigned failed = 0;
            const char *m = strstr(line, "msgs=");
            const char *f = strstr(line, "failed=");
            if (m != NULL && f != NULL) {
                msgs = strtoull(m + 5, NULL, 10);
                failed = (unsigned)strtoul(f + 7, NULL, 10);
            }
            p->done = true;
            p->msgs = msgs;
            p->failed = failed;
        } else if (strncmp(line, "error", 5) == 0) {
            fail_msg("child reported: %s", line);
        }
        line = nl + 1;
    }
    size_t rest = (size_t)(p->buf + p->len - line);
    memmove(p->buf, line, rest);
    p->len = rest;
}

static void t_scenario(const struct t_plan *plan)
{
    struct net_validator vals[T_NODES_MAX];
    int listen_fds[T_NODES_MAX];
    for (uint32_t i = 0; i < plan->nodes; i++) {
        struct sqc_keypair kp = {0};
        uint8_t seed[SQC_SEED_BYTES] = {0};
        seed[0] = (uint8_t)(i + 1);
        assert_int_equal(sqc_keypair_from_seed(&kp, seed), SQ_OK);
        memset(&vals[i], 0, sizeof(vals[i]));
        vals[i].id = i + 1;
        memcpy(vals[i].pk, kp.pk, SQC_PK_BYTES);
        snprintf(vals[i].host, sizeof(vals[i].host), "127.0.0.1");
        listen_fds[i] = t_listen(&vals[i].port);
        sqc_keypair_free(&kp);
    }
    struct t_proc procs[T_NODES_MAX];
    memset(procs, 0, sizeof(procs));
    for (uint32_t i = 0; i < plan->nodes; i++) {
        int rep[2];
        int ctl[2];
        assert_int_equal(pipe(rep), 0);
        assert_int_equal(pipe(ctl), 0);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(rep[0]);
            close(ctl[1]);
            for (uint32_t j = 0; j < plan->nodes; j++) {
                if (j != i) {
                    close(listen_fds[j]);
                }
            }
            _exit(t_child_main(plan, i, listen_fds[i], vals, rep[1], ctl[0]));
        }
        close(rep[1]);
        close(ctl[0]);
        procs[i].pid = pid;
        procs[i].report_fd = rep[0];
        procs[i].ctl_fd = ctl[1];
    }
    for (uint32_t i = 0; i < plan->nodes; i++) {
        close(listen_fds[i]);
    }

    uint64_t deadline = t_now_ms() + (uint64_t)T_DEADLINE_S * 1000;
    bool killed = false;
    for (;;) {
        bool all_done = true;
        struct pollfd pfd[T_NODES_MAX];
        nfds_t count = 0;
        uint32_t which[T_NODES_MAX];
        for (uint32_t i = 0; i < plan->nodes; i++) {
            if ((int)i == plan->victim && killed) {
                continue;
            }
            all_done = all_done && procs[i].done;
            if (!procs[i].eof) {
                pfd[count] = (struct pollfd){.fd = procs[i].report_fd, .events = POLLIN};
                which[count++] = i;
            }
        }
        if (all_done) {
            break;
        }
        uint64_t now = t_now_ms();
        if (now >= deadline || count == 0) {
            for (uint32_t i = 0; i < plan->nodes; i++) {
                kill(procs[i].pid, SIGKILL);
            }
            fail_msg("children did not finish within %d s", T_DEADLINE_S);
        }
        int n = poll(pfd, count, (int)(deadline - now));
        assert_true(n >= 0 || errno == EINTR);
        for (nfds_t k = 0; n > 0 && k < count; k++) {
            if (pfd[k].revents == 0) {
                continue;
            }
            struct t_proc *p = &procs[which[k]];
            ssize_t r = read(p->report_fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
            if (r <= 0) {
                p->eof = true;
                if (!p->done && !((int)which[k] == plan->victim && killed)) {
                    for (uint32_t i = 0; i < plan->nodes; i++) {
                        kill(procs[i].pid, SIGKILL);
                    }
                    fail_msg("child %u exited before it was done", which[k]);
                }
                continue;
            }
            p->len += (size_t)r;
            t_parse(p);
        }
        bool all_up = true;
        for (uint32_t i = 0; i < plan->nodes; i++) {
            all_up = all_up && procs[i].up;
        }
        if (plan->victim >= 0 && !killed && all_up && procs[plan->victim].progress) {
            /* Mid-run: every connection is up (so every survivor will see this one break), the
             * victim has completed a message, the others are still in flight. */
            assert_int_equal(kill(procs[plan->victim].pid, SIGKILL), 0);
            killed = true;
            print_message("  killed node %d (pid %d)\n", plan->victim,
                          (int)procs[plan->victim].pid);
        }
    }
    /* Everyone is done: let them go, and collect them. */
    for (uint32_t i = 0; i < plan->nodes; i++) {
        ssize_t w = write(procs[i].ctl_fd, "x", 1);
        (void)w;
        close(procs[i].ctl_fd);
    }
    for (uint32_t i = 0; i < plan->nodes; i++) {
        int status = 0;
        assert_int_equal(waitpid(procs[i].pid, &status, 0), procs[i].pid);
        close(procs[i].report_fd);
        if ((int)i == plan->victim) {
            assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
            continue;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fail_msg("child %u ended with status 0x%x", i, status);
        }
        if (plan->victim < 0) {
            assert_int_equal(procs[i].failed, 0);
            assert_int_equal(procs[i].msgs, (uint64_t)plan->nodes * T_MSGS);
        } else {
            assert_int_equal(procs[i].failed, plan->nodes); /* every group has the victim */
        }
    }
}

static void test_tcp_all_complete(void **state)
{
    (void)state;
    struct t_plan plan = {.nodes = 4, .seed = 11, .block_bytes = 256 * 1024, .victim = -1};
    t_scenario(&plan);
}

static void test_tcp_small_blocks(void **state)
{
    (void)state;
    struct t_plan plan = {.nodes = 3, .seed = 12, .block_bytes = 16 * 1024, .victim = -1};
    t_scenario(&plan);
}

static void test_tcp_member_killed(void **state)
{
    (void)state;
    struct t_plan plan = {.nodes = 5, .seed = 13, .block_bytes = 64 * 1024, .victim = 2};
    t_scenario(&plan);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    sq_log_set_level(SQ_LOG_ERROR);
    return sqc_init() == SQ_OK ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcp_all_complete),
        cmocka_unit_test(test_tcp_small_blocks),
        cmocka_unit_test(test_tcp_member_killed),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
