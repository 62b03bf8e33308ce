/* rdmc_bench: per-receiver throughput of RDMC schedules over rate-limited links (one JSON line).
 *
 * Topology, created and removed by the bench itself (root needed): one network namespace holding a
 * bridge, and one namespace per host joined to it by a veth pair; host i is 10.213.0.(i+1)/24 on
 * its `eth0`, whose egress is limited with `tc ... tbf` (default 500 Mbit/s). Nothing is created in
 * the namespace the bench starts in, and traffic uses only those addresses.
 *
 * For each group size (default 4 and 8) and schedule (default binomial pipeline and sequential),
 * one process per host runs the TCP transport and the RDMC adapter (`ip netns exec`). Rank 0 sends
 * a warm-up message, then `msgs` messages (default 3 x 64 MiB) back to back. Every receiver
 * reports the CLOCK_MONOTONIC time it completes each message (namespaces share the clock); its
 * throughput is the bytes of the timed messages over (its last completion - the root's start).
 * A two-host run measures what one link carries through the same stack, and a last run repeats the
 * largest pipeline with the limits removed: the machine's own ceiling (the CPUs carry the kernel's
 * veth/bridge/TCP work and the copies of every host). A limited figure close to that ceiling was
 * set by the machine, not by the links or the schedule.
 *
 * CPU, per run, to tell which one limited it: `host_user_s`/`host_sys_s` are the user and system
 * time of the host processes from their warm-up completion to their exit (wait4 less what each
 * reported at warm-up; they idle between), and `machine_idle_pct` is the idle share of all CPUs
 * in /proc/stat from "go" to the last completion. Kernel work done in softirq context (the tbf
 * dequeue timer pushes packets through veth, bridge and the receiver's TCP) is not charged to the
 * hosts; the machine's idle share includes it, and the other tenants of a shared machine too.
 *
 * Blocks are 256 KiB by default: the pipeline needs k + log2(n) - 1 steps for k blocks, so with
 * 64 MiB messages 1 MiB blocks (k = 64) lose more to filling and draining the pipeline, and to the
 * gap between messages, than 256 KiB blocks (k = 256) lose to per-block overhead. Receivers store
 * blocks straight into their pre-touched message buffers (rdmc_net_on_recv_place).
 *
 * Usage: rdmc_bench [--rate-mbit R (0: no limit)] [--size-mib S] [--block-kib B] [--msgs M]
 *                   [--ns 4,8] [--scheds pipeline,sequential] [--window W] [--debug]
 *                   [--no-extras]
 * Output (stdout): one JSON line. Progress and errors: stderr. --debug adds every host's tc
 * statistics after each run (stderr); --no-extras skips the one-link and ceiling runs. Method
 * and measured figures: docs/rdmc.md §6. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/prng.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "rdmc/rdmc.h"

#define B_HOSTS_MAX 16
#define B_MSGS_MAX 16
#define B_PORT 7411
#define B_DEADLINE_S 600

struct b_opts {
    uint32_t rate_mbit;
    uint32_t size_mib;
    uint32_t block_kib;
    uint32_t msgs;
    uint32_t window;
    uint32_t ns[4];
    uint32_t ns_count;
    enum rdmc_sched scheds[RDMC_SCHED_COUNT];
    uint32_t sched_count;
    bool debug;     /* driver: tc statistics of every host after each run, on stderr */
    bool no_extras; /* driver: skip the one-link (n = 2) and the unlimited ceiling runs */
    /* node mode */
    int node;
    uint32_t n;
    enum rdmc_sched sched;
};

static uint64_t b_now_ns(void)
{
    return sq_clock_now(sq_clock_monotonic());
}

/* =============================================================================================
 * Node mode: one host of one run (started by the driver inside the host's namespace)
 * ============================================================================================= */

struct b_node {
    const struct b_opts *o;
    struct sq_loop *loop;
    struct net *net;
    struct rdmc_net *rn;
    struct sq_timer poll_timer;
    uint32_t peers_up;
    uint8_t *msgs[B_MSGS_MAX + 1]; /* root: [0] warm-up, then the timed ones */
    uint64_t done;
    void *recv_buf;
    /* Receive buffers allocated and touched at start-up (STYLE.md: pools, not malloc per
     * message): a fresh 64 MiB mapping per message costs 16k page faults. */
    uint8_t *pool[2];
    uint32_t pool_next;
    int exit_code;
    char cmd[64];
    size_t cmd_len;
};

static void b_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void b_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* This process's CPU time so far (user, system), in microseconds, as a "cpu" line for the driver. */
static void b_say_cpu(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return;
    }
    b_say("cpu %lld %lld\n", (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
          (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec);
}

static size_t b_size(const struct b_opts *o, uint64_t index)
{
    return index == 0 ? 4u * 1024 * 1024 : (size_t)o->size_mib * 1024 * 1024;
}

static void *b_alloc(void *ctx, uint32_t group_id, size_t size_max)
{
    struct b_node *b = ctx;
    (void)group_id;
    if (size_max > (size_t)b->o->size_mib * 1024 * 1024) {
        return NULL;
    }
    /* One message is received at a time per group; alternate two buffers anyway. */
    b->recv_buf = b->pool[b->pool_next++ % 2];
    return b->recv_buf;
}

static void b_done(void *ctx, uint32_t group_id, uint64_t msg_index, void *buf, size_t size,
                   uint64_t cookie)
{
    struct b_node *b = ctx;
    (void)group_id;
    (void)cookie;
    uint64_t t = b_now_ns();
    if (b->o->node != 0) {
        /* Spot-check the bytes (the tests check them all): first and last byte of each block. */
        uint64_t seed = msg_index;
        const uint8_t *p = buf;
        bool ok = size == b_size(b->o, msg_index) && p[0] == (uint8_t)sq_splitmix64(&seed) &&
                  p[size - 1] == (uint8_t)(msg_index * 31 + 7);
        b->recv_buf = NULL; /* back to the pool */
        if (!ok) {
            b_say("error wrong bytes in message %llu\n", (unsigned long long)msg_index);
            b->exit_code = 1;
        }
    }
    b->done++;
    if (msg_index == 0) {
        b_say_cpu(); /* the driver counts the timed part's CPU time from here to the exit */
        b_say("warm\n");
    } else {
        b_say("done %llu %llu\n", (unsigned long long)msg_index, (unsigned long long)t);
    }
    if (b->done == (uint64_t)b->o->msgs + 1) {
        b_say("fin\n");
    }
}

static void b_failed(void *ctx, uint32_t group_id, int err, uint32_t peer, void *recv_buf)
{
    struct b_node *b = ctx;
    (void)group_id;
    (void)recv_buf; /* a pool buffer */
    b->recv_buf = NULL;
    b_say("error group failed: %s peer %u\n", sq_errname(err), peer);
    b->exit_code = 1;
}

static void b_on_peer_up(void *arg, uint32_t peer)
{
    struct b_node *b = arg;
    rdmc_net_on_peer_up(b->rn, peer);
    if (++b->peers_up == b->o->n - 1) {
        b_say("up\n");
    }
}

static void b_on_peer_failed(void *arg, uint32_t peer, int reason)
{
    struct b_node *b = arg;
    rdmc_net_on_peer_failed(b->rn, peer, reason);
}

static void b_on_recv_done(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                           size_t size)
{
    struct b_node *b = arg;
    rdmc_net_on_recv_done(b->rn, peer, wr_id, status, imm, size);
}

static void *b_on_recv_place(void *arg, uint32_t peer, uint64_t wr_id, uint32_t imm, size_t size,
                             size_t offset)
{
    struct b_node *b = arg;
    return rdmc_net_on_recv_place(b->rn, peer, wr_id, imm, size, offset);
}

static void b_poll(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    struct b_node *b = arg;
    rdmc_net_poll(b->rn);
    (void)sq_loop_timer_start(loop, timer, SQ_NS_PER_MS);
}

static void b_send(struct b_node *b, uint64_t index)
{
    int rc = rdmc_group_send(rdmc_net_engine(b->rn), 0, b->msgs[index], b_size(b->o, index), index);
    if (rc != SQ_OK) {
        b_say("error send: %s\n", sq_errname(rc));
        b->exit_code = 1;
    }
}

/* Commands from the driver on stdin: 'w' warm up, 'g' go, 'x' exit. */
static void b_stdin(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    struct b_node *b = arg;
    (void)events;
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n <= 0 || c == 'x') {
        sq_loop_fd_remove(loop, fd);
        sq_loop_stop(loop);
        return;
    }
    if (c == 'w' && b->o->node == 0) {
        b_send(b, 0);
    } else if (c == 'g' && b->o->node == 0) {
        b_say("t0 %llu\n", (unsigned long long)b_now_ns());
        for (uint32_t m = 1; m <= b->o->msgs; m++) {
            b_send(b, m); /* queued back to back: each starts when the previous completes here */
        }
    }
}

static int b_node_main(const struct b_opts *o)
{
    struct b_node b = {.o = o};
    sq_log_set_level(SQ_LOG_WARN);
    /* Keep freed memory in the process (the transport's send-queue chunks come and go): glibc
     * would otherwise return every large block to the kernel and fault it in again. */
    (void)mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
    (void)mallopt(M_TRIM_THRESHOLD, 1024 * 1024 * 1024);
    for (int i = 0; i < 2; i++) {
        size_t size = (size_t)o->size_mib * 1024 * 1024;
        b.pool[i] = malloc(size);
        if (b.pool[i] == NULL) {
            return 2;
        }
        /* Not 0: the compiler turns malloc + memset(0) into calloc, which leaves fresh pages
         * untouched, and every message would fault them in again (16k faults per 64 MiB). */
        memset(b.pool[i], 0x5a, size);
    }
    if (sqc_init() != SQ_OK || sq_loop_create(&b.loop, sq_clock_monotonic()) != SQ_OK) {
        return 2;
    }
    struct net_validator vals[B_HOSTS_MAX];
    memset(vals, 0, sizeof(vals));
    for (uint32_t i = 0; i < o->n; i++) {
        struct sqc_keypair kp = {0};
        uint8_t seed[SQC_SEED_BYTES] = {0};
        seed[0] = (uint8_t)(i + 1);
        if (sqc_keypair_from_seed(&kp, seed) != SQ_OK) {
            return 2;
        }
        vals[i].id = i + 1;
        memcpy(vals[i].pk, kp.pk, SQC_PK_BYTES);
        snprintf(vals[i].host, sizeof(vals[i].host), "10.213.0.%u", i + 1);
        vals[i].port = B_PORT;
        sqc_keypair_free(&kp);
    }
    struct sqc_keypair key = {0};
    uint8_t seed[SQC_SEED_BYTES] = {0};
    seed[0] = (uint8_t)(o->node + 1);
    if (sqc_keypair_from_seed(&key, seed) != SQ_OK) {
        return 2;
    }
    static const char chain[] = "rdmc-bench";
    struct net_tcp_config cfg = {.loop = b.loop,
                                 .chain_id = (const uint8_t *)chain,
                                 .chain_id_size = sizeof(chain) - 1,
                                 .self_id = (uint32_t)o->node + 1,
                                 .key = &key,
                                 .validators = vals,
                                 .validator_count = o->n,
                                 .listen_fd = -1};
    struct net_handler h = {.arg = &b,
                            .peer_up = b_on_peer_up,
                            .peer_failed = b_on_peer_failed,
                            .recv_done = b_on_recv_done,
                            .recv_place = b_on_recv_place};
    int rc = net_tcp_create(&b.net, &cfg, &h);
    if (rc != SQ_OK) {
        b_say("error net_tcp_create: %s\n", sq_errname(rc));
        return 3;
    }
    struct rdmc_upcalls up = {.ctx = &b, .alloc = b_alloc, .done = b_done, .failed = b_failed};
    struct rdmc_net_config rcfg = {.recv_bytes = o->block_kib * 1024u, .recvs_per_peer = 8};
    if (rdmc_net_create(&b.rn, b.net, &up, &rcfg) != SQ_OK) {
        return 3;
    }
    for (uint32_t i = 0; i < o->n; i++) {
        if (i != (uint32_t)o->node &&
            (net_peer_add(b.net, i + 1) != SQ_OK || rdmc_net_peer_add(b.rn, i + 1) != SQ_OK)) {
            return 4;
        }
    }
    struct rdmc_settings s;
    rdmc_settings_default(&s);
    s.sched = o->sched;
    s.block_bytes = o->block_kib * 1024u;
    s.msg_bytes_max = o->size_mib * 1024u * 1024u;
    s.ready_window = o->window;
    s.queue_max = o->msgs + 1;
    uint32_t members[B_HOSTS_MAX];
    for (uint32_t i = 0; i < o->n; i++) {
        members[i] = i + 1; /* host 0 is the root */
    }
    rc = rdmc_group_create(rdmc_net_engine(b.rn), 0, members, o->n, &s);
    if (rc != SQ_OK) {
        b_say("error group_create: %s\n", sq_errname(rc));
        return 5;
    }
    if (o->node == 0) {
        for (uint32_t m = 0; m <= o->msgs; m++) {
            size_t size = b_size(o, m);
            b.msgs[m] = malloc(size);
            if (b.msgs[m] == NULL) {
                return 6;
            }
            /* Bytes the receivers can spot-check without the whole message. */
            struct sq_prng p;
            sq_prng_seed(&p, m);
            sq_prng_fill(&p, b.msgs[m], size);
            uint64_t sd = m;
            b.msgs[m][0] = (uint8_t)sq_splitmix64(&sd);
            b.msgs[m][size - 1] = (uint8_t)(m * 31 + 7);
        }
    }
    sq_timer_init(&b.poll_timer, b_poll, &b);
    (void)sq_loop_timer_start(b.loop, &b.poll_timer, SQ_NS_PER_MS);
    (void)sq_loop_fd_add(b.loop, STDIN_FILENO, SQ_LOOP_IN, b_stdin, &b);
    (void)sq_loop_run(b.loop);

    sq_log_set_level(SQ_LOG_ERROR); /* the others are leaving too: their connections close */
    net_destroy(b.net);
    rdmc_net_destroy(b.rn);
    sq_loop_destroy(b.loop);
    for (uint32_t m = 0; m <= o->msgs; m++) {
        free(b.msgs[m]);
    }
    free(b.pool[0]);
    free(b.pool[1]);
    sqc_keypair_free(&key);
    return b.exit_code;
}

/* =============================================================================================
 * Driver mode: namespaces, links, runs, JSON
 * ============================================================================================= */

static char b_prefix[32];
static uint32_t b_hosts_made;
static bool b_bridge_made;
static volatile sig_atomic_t b_cleaning;

static void b_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void b_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rdmc_bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static bool b_show_output; /* b_run: the command's stdout goes to our stderr */

/* Runs argv (NULL-terminated) with stdout/stderr to /dev/null; returns its exit status or -1. */
static int b_run(char *const argv[])
{
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (b_show_output) {
            dup2(STDERR_FILENO, STDOUT_FILENO);
        } else if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Splits a command line on spaces and runs it. */
static int b_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int b_sh(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    char *argv[32];
    int argc = 0;
    for (char *tok = strtok(line, " "); tok != NULL && argc < 31; tok = strtok(NULL, " ")) {
        argv[argc++] = tok;
    }
    argv[argc] = NULL;
    int rc = b_run(argv);
    if (rc != 0 && !b_cleaning) {
        char again[512];
        va_start(ap, fmt);
        vsnprintf(again, sizeof(again), fmt, ap);
        va_end(ap);
        b_log("command failed (%d): %s", rc, again);
    }
    return rc;
}

static void b_cleanup(void)
{
    b_cleaning = 1;
    for (uint32_t i = 0; i < b_hosts_made; i++) {
        (void)b_sh("ip netns del %sh%u", b_prefix, i);
    }
    b_hosts_made = 0;
    if (b_bridge_made) {
        (void)b_sh("ip netns del %sbr", b_prefix);
        b_bridge_made = false;
    }
}

static void b_on_signal(int sig)
{
    b_cleanup();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Limits every host's egress to `rate_mbit` (tc tbf), or removes the limit for 0. */
static int b_set_rate(uint32_t hosts, uint32_t rate_mbit, uint64_t burst)
{
    for (uint32_t i = 0; i < hosts; i++) {
        int rc = rate_mbit == 0
                     ? b_sh("ip netns exec %sh%u tc qdisc del dev eth0 root", b_prefix, i)
                     : b_sh("ip netns exec %sh%u tc qdisc replace dev eth0 root tbf rate %umbit "
                            "burst %llu latency 50ms",
                            b_prefix, i, rate_mbit, (unsigned long long)burst);
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

static int b_topology(uint32_t hosts, uint32_t rate_mbit)
{
    if (b_sh("ip netns add %sbr", b_prefix) != 0) {
        return -1;
    }
    b_bridge_made = true;
    if (b_sh("ip -n %sbr link add br0 type bridge", b_prefix) != 0 ||
        b_sh("ip -n %sbr link set br0 up", b_prefix) != 0) {
        return -1;
    }
    /* tbf: the bucket must hold a GSO super-packet and more than one timer tick of traffic. */
    uint64_t burst = (uint64_t)rate_mbit * 1000000 / 8 / 250;
    if (burst < 256 * 1024) {
        burst = 256 * 1024;
    }
    for (uint32_t i = 0; i < hosts; i++) {
        if (b_sh("ip netns add %sh%u", b_prefix, i) != 0) {
            return -1;
        }
        b_hosts_made = i + 1;
        if (b_sh("ip link add vh%u netns %sbr type veth peer name eth0 netns %sh%u", i, b_prefix,
                 b_prefix, i) != 0 ||
            b_sh("ip -n %sbr link set vh%u master br0", b_prefix, i) != 0 ||
            b_sh("ip -n %sbr link set vh%u up", b_prefix, i) != 0 ||
            b_sh("ip -n %sh%u addr add 10.213.0.%u/24 dev eth0", b_prefix, i, i + 1) != 0 ||
            b_sh("ip -n %sh%u link set eth0 up", b_prefix, i) != 0 ||
            b_sh("ip -n %sh%u link set lo up", b_prefix, i) != 0) {
            return -1;
        }
    }
    /* Rate 0: the links stay unlimited (there is no qdisc to remove yet). */
    return rate_mbit == 0 ? 0 : b_set_rate(hosts, rate_mbit, burst);
}

struct b_child {
    pid_t pid;
    int in_fd;  /* its stdin */
    int out_fd; /* its stdout */
    char buf[4096];
    size_t len;
    bool up, warm, fin, eof;
    uint64_t t0;
    uint64_t last_done;
    uint32_t dones;
    uint64_t cpu_user_us; /* at "warm" */
    uint64_t cpu_sys_us;
};

struct b_result {
    uint32_t n;
    enum rdmc_sched sched;
    double recv_mbit_mean;
    double recv_mbit_min;
    double secs;
    /* CPU over the timed part: user and system time of the host processes (from their warm-up
     * completion to their exit: they idle in between), and the whole machine's idle share from
     * /proc/stat between "go" and the last completion. */
    double host_user_s;
    double host_sys_s;
    double machine_idle_pct;
    bool ok;
};

static void b_child_line(struct b_child *c, const char *line, uint32_t index)
{
    if (strcmp(line, "up") == 0) {
        c->up = true;
    } else if (strcmp(line, "warm") == 0) {
        c->warm = true;
    } else if (strcmp(line, "fin") == 0) {
        c->fin = true;
    } else if (strncmp(line, "t0 ", 3) == 0) {
        c->t0 = strtoull(line + 3, NULL, 10);
    } else if (strncmp(line, "cpu ", 4) == 0) {
        char *end;
        c->cpu_user_us = strtoull(line + 4, &end, 10);
        c->cpu_sys_us = strtoull(end, NULL, 10);
    } else if (strncmp(line, "done ", 5) == 0) {
        char *end;
        (void)strtoull(line + 5, &end, 10);
        c->last_done = strtoull(end, NULL, 10);
        c->dones++;
    } else {
        b_log("host %u: %s", index, line);
    }
}

static void b_send_cmd(struct b_child *c, char cmd)
{
    ssize_t w = write(c->in_fd, &cmd, 1);
    (void)w;
}

static bool b_all(const struct b_child *cs, uint32_t n, size_t offset)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!*(const bool *)((const char *)&cs[i] + offset)) {
            return false;
        }
    }
    return true;
}

/* The machine's CPU time so far from /proc/stat, in clock ticks: all of it and the idle part
 * (idle + iowait). False if it cannot be read. */
static bool b_proc_stat(uint64_t *total, uint64_t *idle)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return false;
    }
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got != 8) {
        return false;
    }
    *total = 0;
    for (int i = 0; i < 8; i++) {
        *total += v[i];
    }
    *idle = v[3] + v[4];
    return true;
}

static void b_run_config(const struct b_opts *o, uint32_t n, enum rdmc_sched sched,
                         struct b_result *res)
{
    memset(res, 0, sizeof(*res));
    res->n = n;
    res->sched = sched;
    char self[512];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (sl <= 0) {
        return;
    }
    self[sl] = '\0';
    struct b_child cs[B_HOSTS_MAX];
    memset(cs, 0, sizeof(cs));
    for (uint32_t i = 0; i < n; i++) {
        int in[2];
        int out[2];
        if (pipe(in) != 0 || pipe(out) != 0) {
            return;
        }
        pid_t pid = fork();
        if (pid == 0) {
            dup2(in[0], STDIN_FILENO);
            dup2(out[1], STDOUT_FILENO);
            close(in[0]);
            close(in[1]);
            close(out[0]);
            close(out[1]);
            char ns[64], node[16], nn[16], size[16], block[16], msgs[16], window[16];
            snprintf(ns, sizeof(ns), "%sh%u", b_prefix, i);
            snprintf(node, sizeof(node), "%u", i);
            snprintf(nn, sizeof(nn), "%u", n);
            snprintf(size, sizeof(size), "%u", o->size_mib);
            snprintf(block, sizeof(block), "%u", o->block_kib);
            snprintf(msgs, sizeof(msgs), "%u", o->msgs);
            snprintf(window, sizeof(window), "%u", o->window);
            char *argv[] = {"ip",
                            "netns",
                            "exec",
                            ns,
                            self,
                            "--node",
                            node,
                            "--n",
                            nn,
                            "--sched",
                            (char *)rdmc_sched_name(sched),
                            "--size-mib",
                            size,
                            "--block-kib",
                            block,
                            "--msgs",
                            msgs,
                            "--window",
                            window,
                            NULL};
            execvp("ip", argv);
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        cs[i].pid = pid;
        cs[i].in_fd = in[1];
        cs[i].out_fd = out[0];
    }
    uint64_t deadline = b_now_ns() + (uint64_t)B_DEADLINE_S * SQ_NS_PER_S;
    bool warm_sent = false;
    bool go_sent = false;
    bool failed = false;
    bool stat_ok = false;
    uint64_t stat_total0 = 0, stat_idle0 = 0;
    while (!b_all(cs, n, offsetof(struct b_child, fin))) {
        if (!warm_sent && b_all(cs, n, offsetof(struct b_child, up))) {
            b_send_cmd(&cs[0], 'w');
            warm_sent = true;
        }
        if (warm_sent && !go_sent && b_all(cs, n, offsetof(struct b_child, warm))) {
            stat_ok = b_proc_stat(&stat_total0, &stat_idle0);
            b_send_cmd(&cs[0], 'g');
            go_sent = true;
        }
        struct pollfd pfd[B_HOSTS_MAX];
        for (uint32_t i = 0; i < n; i++) {
            pfd[i] = (struct pollfd){.fd = cs[i].eof ? -1 : cs[i].out_fd, .events = POLLIN};
        }
        uint64_t now = b_now_ns();
        if (now >= deadline) {
            b_log("n=%u %s: deadline passed", n, rdmc_sched_name(sched));
            failed = true;
            break;
        }
        int pr = poll(pfd, n, (int)((deadline - now) / SQ_NS_PER_MS) + 1);
        if (pr < 0 && errno != EINTR) {
            failed = true;
            break;
        }
        for (uint32_t i = 0; i < n && pr > 0; i++) {
            if (pfd[i].revents == 0) {
                continue;
            }
            struct b_child *c = &cs[i];
            ssize_t r = read(c->out_fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
            if (r <= 0) {
                c->eof = true;
                if (!c->fin) {
                    b_log("host %u exited early", i);
                    failed = true;
                }
                continue;
            }
            c->len += (size_t)r;
            c->buf[c->len] = '\0';
            char *line = c->buf;
            char *nl;
            while ((nl = strchr(line, '\n')) != NULL) {
                *nl = '\0';
                b_child_line(c, line, i);
                if (strncmp(line, "error", 5) == 0) {
                    failed = true;
                }
                line = nl + 1;
            }
            c->len = strlen(line);
            memmove(c->buf, line, c->len);
        }
        if (failed) {
            break;
        }
    }
    uint64_t stat_total1 = 0, stat_idle1 = 0;
    stat_ok = stat_ok && b_proc_stat(&stat_total1, &stat_idle1) && stat_total1 > stat_total0;
    for (uint32_t i = 0; i < n; i++) {
        b_send_cmd(&cs[i], 'x');
        close(cs[i].in_fd);
    }
    double user_s = 0;
    double sys_s = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (failed) {
            kill(cs[i].pid, SIGKILL);
        }
        int status;
        struct rusage ru = {0};
        while (wait4(cs[i].pid, &status, 0, &ru) < 0 && errno == EINTR) {
        }
        close(cs[i].out_fd);
        /* `ip netns exec` execs the host in place, so this is the host's own CPU time. */
        double u = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
        double sy = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        user_s += u - (double)cs[i].cpu_user_us / 1e6;
        sys_s += sy - (double)cs[i].cpu_sys_us / 1e6;
    }
    if (o->debug) {
        b_show_output = true;
        for (uint32_t i = 0; i < n; i++) {
            b_log("host %u egress qdisc after n=%u %s:", i, n, rdmc_sched_name(sched));
            (void)b_sh("ip netns exec %sh%u tc -s qdisc show dev eth0", b_prefix, i);
        }
        b_show_output = false;
    }
    if (failed || cs[0].t0 == 0) {
        return;
    }
    double bits = (double)o->msgs * o->size_mib * 1024.0 * 1024.0 * 8.0;
    double sum = 0;
    double min = 0;
    double longest = 0;
    for (uint32_t i = 1; i < n; i++) {
        if (cs[i].dones != o->msgs || cs[i].last_done <= cs[0].t0) {
            return;
        }
        double secs = (double)(cs[i].last_done - cs[0].t0) / 1e9;
        double mbit = bits / secs / 1e6;
        sum += mbit;
        min = (i == 1 || mbit < min) ? mbit : min;
        longest = secs > longest ? secs : longest;
    }
    res->recv_mbit_mean = sum / (n - 1);
    res->recv_mbit_min = min;
    res->secs = longest;
    res->host_user_s = user_s;
    res->host_sys_s = sys_s;
    res->machine_idle_pct =
        stat_ok ? 100.0 * (double)(stat_idle1 - stat_idle0) / (double)(stat_total1 - stat_total0)
                : -1;
    res->ok = true;
    b_log("n=%u %-10s per-receiver %.1f Mbit/s mean, %.1f min (%.2f s); hosts' cpu %.2f s user "
          "+ %.2f s sys; machine idle %.0f%%",
          n, rdmc_sched_name(sched), res->recv_mbit_mean, res->recv_mbit_min, res->secs,
          res->host_user_s, res->host_sys_s, res->machine_idle_pct);
}

static const struct b_result *b_find(const struct b_result *rs, uint32_t count, uint32_t n,
                                     enum rdmc_sched s)
{
    for (uint32_t i = 0; i < count; i++) {
        if (rs[i].n == n && rs[i].sched == s && rs[i].ok) {
            return &rs[i];
        }
    }
    return NULL;
}

static int b_driver_main(const struct b_opts *o)
{
    if (geteuid() != 0) {
        printf("{\"bench\":\"rdmc_bench\",\"skipped\":\"needs root to create network "
               "namespaces\"}\n");
        return 0;
    }
    char *probe[] = {"ip", "-V", NULL};
    char *tcprobe[] = {"tc", "-V", NULL};
    if (b_run(probe) != 0 || b_run(tcprobe) != 0) {
        printf("{\"bench\":\"rdmc_bench\",\"skipped\":\"ip or tc (iproute2) not found\"}\n");
        return 0;
    }
    snprintf(b_prefix, sizeof(b_prefix), "sqrb%d", (int)getpid());
    atexit(b_cleanup);
    signal(SIGINT, b_on_signal);
    signal(SIGTERM, b_on_signal);
    signal(SIGPIPE, SIG_IGN);
    uint32_t hosts = 2;
    for (uint32_t i = 0; i < o->ns_count; i++) {
        hosts = o->ns[i] > hosts ? o->ns[i] : hosts;
    }
    if (b_topology(hosts, o->rate_mbit) != 0) {
        b_cleanup();
        printf("{\"bench\":\"rdmc_bench\",\"error\":\"cannot build the namespace topology\"}\n");
        return 1;
    }
    b_log("%u hosts, egress %u Mbit/s each, %u x %u MiB messages, %u KiB blocks", hosts,
          o->rate_mbit, o->msgs, o->size_mib, o->block_kib);

    struct b_result rs[1 + 4 * RDMC_SCHED_COUNT];
    uint32_t count = 0;
    if (!o->no_extras) {
        b_run_config(o, 2, RDMC_SCHED_PIPELINE, &rs[count++]); /* one link through the stack */
    }
    for (uint32_t i = 0; i < o->ns_count; i++) {
        for (uint32_t s = 0; s < o->sched_count; s++) {
            b_run_config(o, o->ns[i], o->scheds[s], &rs[count++]);
        }
    }
    /* The machine's own ceiling: the largest pipeline run again with no link limit. When the
     * limited figure is close to it, the CPUs, not the links or the schedule, were the limit. */
    struct b_result ceiling = {0};
    uint32_t n_max = o->ns[0];
    for (uint32_t i = 1; i < o->ns_count; i++) {
        n_max = o->ns[i] > n_max ? o->ns[i] : n_max;
    }
    if (o->rate_mbit != 0 && !o->no_extras && b_set_rate(hosts, 0, 0) == 0) {
        b_run_config(o, n_max, RDMC_SCHED_PIPELINE, &ceiling);
    }
    b_cleanup();

    printf("{\"bench\":\"rdmc_bench\",\"link_mbit\":%u,\"msg_bytes\":%llu,\"block_bytes\":%u,"
           "\"msgs\":%u,\"ready_window\":%u",
           o->rate_mbit, (unsigned long long)o->size_mib * 1024 * 1024, o->block_kib * 1024,
           o->msgs, o->window);
    printf(",\"runs\":[");
    bool all_ok = true;
    for (uint32_t i = 0; i < count; i++) {
        all_ok = all_ok && rs[i].ok;
        printf("%s{\"n\":%u,\"sched\":\"%s\",\"ok\":%s,\"recv_mbit_mean\":%.1f,"
               "\"recv_mbit_min\":%.1f,\"secs\":%.3f,\"host_user_s\":%.2f,\"host_sys_s\":%.2f,"
               "\"machine_idle_pct\":%.1f}",
               i == 0 ? "" : ",", rs[i].n, rdmc_sched_name(rs[i].sched),
               rs[i].ok ? "true" : "false", rs[i].recv_mbit_mean, rs[i].recv_mbit_min, rs[i].secs,
               rs[i].host_user_s, rs[i].host_sys_s, rs[i].machine_idle_pct);
    }
    printf("]");
    for (uint32_t i = 0; i < o->ns_count; i++) {
        const struct b_result *p = b_find(rs, count, o->ns[i], RDMC_SCHED_PIPELINE);
        const struct b_result *q = b_find(rs, count, o->ns[i], RDMC_SCHED_SEQUENTIAL);
        if (p != NULL && q != NULL) {
            printf(",\"n%u_pipeline_over_sequential\":%.2f", o->ns[i],
                   p->recv_mbit_mean / q->recv_mbit_mean);
        }
        if (p != NULL && o->rate_mbit != 0) {
            printf(",\"n%u_pipeline_frac_of_link\":%.3f", o->ns[i],
                   p->recv_mbit_mean / o->rate_mbit);
        }
    }
    const struct b_result *p8 = b_find(rs, count, 8, RDMC_SCHED_PIPELINE);
    const struct b_result *q8 = b_find(rs, count, 8, RDMC_SCHED_SEQUENTIAL);
    if (p8 != NULL && q8 != NULL && o->rate_mbit != 0) {
        printf(",\"target_n8_pipeline_ge_80pct_link\":%s,\"target_n8_ratio_ge_3\":%s",
               p8->recv_mbit_mean >= 0.8 * o->rate_mbit ? "true" : "false",
               p8->recv_mbit_mean >= 3.0 * q8->recv_mbit_mean ? "true" : "false");
    }
    if (ceiling.ok) {
        const struct b_result *p = b_find(rs, count, n_max, RDMC_SCHED_PIPELINE);
        printf(",\"unlimited_n%u_pipeline_mbit\":%.1f", n_max, ceiling.recv_mbit_mean);
        if (p != NULL) {
            printf(",\"n%u_pipeline_frac_of_unlimited\":%.3f", n_max,
                   p->recv_mbit_mean / ceiling.recv_mbit_mean);
        }
    }
    printf(",\"ok\":%s}\n", all_ok ? "true" : "false");
    return all_ok ? 0 : 1;
}

/* ---- arguments ---- */

static bool b_parse_u32(const char *s, uint32_t *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v == 0 || v > 1000000) {
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static int b_usage(void)
{
    fprintf(stderr, "usage: rdmc_bench [--rate-mbit R] [--size-mib S] [--block-kib B] "
                    "[--msgs M] [--ns 4,8] [--scheds pipeline,sequential] [--window W] "
                    "[--debug] [--no-extras]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct b_opts o = {.rate_mbit = 500,
                       .size_mib = 64,
                       .block_kib = 256,
                       .msgs = 3,
                       .window = 4,
                       .ns = {4, 8},
                       .ns_count = 2,
                       .scheds = {RDMC_SCHED_PIPELINE, RDMC_SCHED_SEQUENTIAL},
                       .sched_count = 2,
                       .node = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--debug") == 0) {
            o.debug = true;
            continue;
        }
        if (strcmp(a, "--no-extras") == 0) {
            o.no_extras = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            return b_usage();
        }
        i++;
        bool ok = true;
        if (strcmp(a, "--rate-mbit") == 0) {
            /* 0: no tc limit (what the machine itself can carry) */
            ok = strcmp(v, "0") == 0 || b_parse_u32(v, &o.rate_mbit);
            o.rate_mbit = strcmp(v, "0") == 0 ? 0 : o.rate_mbit;
        } else if (strcmp(a, "--size-mib") == 0) {
            ok = b_parse_u32(v, &o.size_mib) && o.size_mib <= SQ_MSG_BYTES_MAX / (1024 * 1024);
        } else if (strcmp(a, "--block-kib") == 0) {
            ok = b_parse_u32(v, &o.block_kib) && o.block_kib <= SQ_RDMC_BLOCK_BYTES_MAX / 1024;
        } else if (strcmp(a, "--msgs") == 0) {
            ok = b_parse_u32(v, &o.msgs) && o.msgs <= B_MSGS_MAX;
        } else if (strcmp(a, "--window") == 0) {
            ok = b_parse_u32(v, &o.window) && o.window <= RDMC_READY_WINDOW_MAX;
        } else if (strcmp(a, "--node") == 0) {
            uint32_t node;
            ok = strcmp(v, "0") == 0 || b_parse_u32(v, &node);
            o.node = strcmp(v, "0") == 0 ? 0 : (int)node;
        } else if (strcmp(a, "--n") == 0) {
            ok = b_parse_u32(v, &o.n) && o.n >= 2 && o.n <= B_HOSTS_MAX;
        } else if (strcmp(a, "--sched") == 0) {
            ok = rdmc_sched_parse(v, &o.sched) == SQ_OK;
        } else if (strcmp(a, "--ns") == 0 || strcmp(a, "--scheds") == 0) {
            char list[128];
            snprintf(list, sizeof(list), "%s", v);
            bool ns = strcmp(a, "--ns") == 0;
            uint32_t count = 0;
            for (char *t = strtok(list, ","); t != NULL && ok; t = strtok(NULL, ",")) {
                if (ns) {
                    ok = count < 4 && b_parse_u32(t, &o.ns[count]) && o.ns[count] >= 2 &&
                         o.ns[count] <= B_HOSTS_MAX;
                } else {
                    ok = count < RDMC_SCHED_COUNT && rdmc_sched_parse(t, &o.scheds[count]) == SQ_OK;
                }
                count++;
            }
            if (ns) {
                o.ns_count = count;
            } else {
                o.sched_count = count;
            }
        } else {
            ok = false;
        }
        if (!ok) {
            return b_usage();
        }
    }
    if (o.node >= 0) {
        if (o.n < 2 || (uint32_t)o.node >= o.n) {
            return b_usage();
        }
        return b_node_main(&o);
    }
    return b_driver_main(&o);
}
