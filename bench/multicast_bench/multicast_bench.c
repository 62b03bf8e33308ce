/* bench/multicast_bench: atomic multicast among 3 processes on 127.0.0.1 (issue 5). Prints one
 * JSON line.
 *
 *   multicast_bench [--members N] [--seconds S] [--runs R] [--only small|large|latency]
 *                   [--member-exe PATH] [--dir DIR] [--verbose]
 *
 * Modes, each run R times (the median is reported):
 *   small:   every member sends 100-byte messages as fast as flow control allows; each member
 *            appends deliveries to a file with group commit + fdatasync and reports persistence;
 *            ops/s = messages persisted at every member per second: how far the persistence
 *            frontier (the minimum over the members' persisted versions, as member 0 sees it)
 *            advanced across the measured window. Member 0's delivery rate is reported beside it.
 *   large:   every member sends 1 MiB messages (RDMC), in memory; bytes delivered per second at
 *            member 0.
 *   latency: 1 KiB messages at 1,000 messages/s in total (spread over the members); send to
 *            delivered-at-every-member latency p50/p99 measured by each sender, beside a plain
 *            TCP ping-pong of 1 KiB between two processes in the same run (the yardstick)
 *            and a plain-TCP baseline of the same message pattern: the four steps one multicast
 *            needs, between three processes over blocking sockets (pattern.c); and the floor of
 *            any multicast that delivers only messages every member holds (the message, then each
 *            receiver's receipt to everyone: two steps, same sockets), "tcp_floor_1KiB_p50_us",
 *            with its ratio to the ping-pong.
 * In small and large, the members' digests cover each delivery's 24-byte header (sender, size,
 * counter, send time) rather than all its bytes: that still compares the delivery orders, while
 * SHA-256 over every delivered byte at 3 members took a sixth of the CPU with 100-byte messages
 * and about as much as the multicast itself with 1 MiB ones. */
#include <arpa/inet.h>
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

#include "pattern.h"
#include "spawn.h"

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    return n ? v[n / 2] : 0;
}

static int full_io(int fd, void *buf, size_t n, int wr)
{
    char *p = buf;
    while (n > 0) {
        ssize_t k = wr ? write(fd, p, n) : read(fd, p, n);
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Plain TCP ping-pong of `size` bytes over loopback between two processes: p50 round trip, us. */
static double tcp_pingpong_p50_us(size_t size, int rounds)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 1) ||
        getsockname(l, (struct sockaddr *)&a, &len)) {
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) {
            _exit(1);
        }
        char *b = malloc(size);
        while (full_io(c, b, size, 0) == 0 && full_io(c, b, size, 1) == 0) {
        }
        _exit(0);
    }
    int s = accept(l, NULL, NULL);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char *b = calloc(1, size);
    double *rtt = calloc((size_t)rounds, sizeof(double));
    for (int i = 0; i < rounds; i++) {
        double t0 = mono();
        if (full_io(s, b, size, 1) || full_io(s, b, size, 0)) {
            break;
        }
        rtt[i] = (mono() - t0) * 1e6;
    }
    close(s);
    close(l);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    double p = median(rtt, rounds);
    free(rtt);
    free(b);
    return p;
}

struct run_out {
    double member0_msgs_s, member0_bytes_s, member0_frontier_s, p50, p99;
    int ok;
};

static const char *g_dir = "/tmp";
static int g_pid; /* this process's id, which names the durable files (set before any fork) */
static bool g_verbose; /* each member's JSON line to stderr */

static const char *const *durable_extra(uint32_t i, void *arg)
{
    (void)arg;
    static char path[SPAWN_MAX][256];
    static const char *out[SPAWN_MAX][3];
    /* Runs in the forked child: name the file by the parent's id, which run_mode unlinks. */
    snprintf(path[i], sizeof(path[i]), "%s/mc-bench-%d-%u.log", g_dir, g_pid, i);
    out[i][0] = "--durable";
    out[i][1] = path[i];
    out[i][2] = NULL;
    return out[i];
}

static struct run_out run_mode(const char *exe, uint32_t n, const char *const *args, bool durable,
                               double seconds)
{
    struct run_out r = {0};
    struct spawn_group sg;
    if (spawn_start(&sg, exe, n, args, durable ? durable_extra : NULL, NULL) != 0) {
        return r;
    }
    uint32_t ok = spawn_wait(&sg, seconds + 60);
    if (durable) {
        for (uint32_t i = 0; i < n; i++) {
            char path[256];
            snprintf(path, sizeof(path), "%s/mc-bench-%d-%u.log", g_dir, g_pid, i);
            unlink(path);
        }
    }
    if (ok != n) {
        for (uint32_t i = 0; i < n; i++) {
            fprintf(stderr, "member %u status %d: %s\n", i, sg.status[i], sg.out[i]);
        }
        return r;
    }
    if (g_verbose) {
        for (uint32_t i = 0; i < n; i++) {
            fprintf(stderr, "member %u: %s", i, sg.out[i]);
        }
    }
    r.ok = 1;
    r.member0_msgs_s = spawn_num(&sg, 0, "msgs_per_s");
    r.member0_bytes_s = spawn_num(&sg, 0, "bytes_per_s");
    r.member0_frontier_s = spawn_num(&sg, 0, "frontier_per_s");
    double p50[SPAWN_MAX], p99[SPAWN_MAX];
    int k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (spawn_num(&sg, i, "lat_samples") > 0) {
            p50[k] = spawn_num(&sg, i, "lat_p50_us");
            p99[k] = spawn_num(&sg, i, "lat_p99_us");
            k++;
        }
    }
    r.p50 = median(p50, k);
    r.p99 = median(p99, k);
    return r;
}

int main(int argc, char **argv)
{
    g_pid = (int)getpid();
    uint32_t n = 3;
    double seconds = 6;
    int runs = 3;
    const char *only = NULL;
    char exe[1024];
    /* mc_member sits beside this binary. */
    ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 16);
    if (el <= 0) {
        return 1;
    }
    exe[el] = '\0';
    char *slash = strrchr(exe, '/');
    strcpy(slash + 1, "mc_member");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--members") == 0 && i + 1 < argc) {
            n = (uint32_t)atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--member-exe") == 0 && i + 1 < argc) {
            snprintf(exe, sizeof(exe), "%s", argv[++i]);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            g_dir = argv[++i];
        } else if (strcmp(argv[i], "--verbose") == 0) {
            g_verbose = true;
        } else {
            fprintf(stderr, "usage: multicast_bench [--members N] [--seconds S] [--runs R] "
                            "[--only small|large|latency] [--member-exe PATH] [--dir DIR] "
                            "[--verbose]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 15 || n < 2 || n > SPAWN_MAX) {
        return 2;
    }
    char secs[32];
    snprintf(secs, sizeof(secs), "%.1f", seconds);
    double small[15] = {0}, large[15] = {0}, lp50[15] = {0}, lp99[15] = {0}, ping[15] = {0};
    double pat50[15] = {0}, pat99[15] = {0}, floor50[15] = {0}, small_dlv[15] = {0};
    int fails = 0;
    for (int r = 0; r < runs; r++) {
        if (only == NULL || strcmp(only, "small") == 0) {
            /* A small-message profile, as Derecho's "SMALL": slots sized for the payload. */
            const char *const a[] = {"--seconds", secs, "--size-min", "100", "--size-max", "100",
                                     "--smc", "128", "--window", "1000", "--digest-bytes", "24",
                                     NULL};
            struct run_out o = run_mode(exe, n, a, true, seconds);
            fails += !o.ok;
            small[r] = o.member0_frontier_s;
            small_dlv[r] = o.member0_msgs_s;
        }
        if (only == NULL || strcmp(only, "large") == 0) {
            const char *const a[] = {"--seconds", secs,     "--size-min", "1048576",
                                     "--size-max", "1048576", "--block", "262144",
                                     "--window",   "4",       "--digest-bytes", "24",
                                     NULL};
            struct run_out o = run_mode(exe, n, a, false, seconds);
            fails += !o.ok;
            large[r] = o.member0_bytes_s;
        }
        if (only == NULL || strcmp(only, "latency") == 0) {
            char rate[32];
            snprintf(rate, sizeof(rate), "%.1f", 1000.0 / n);
            const char *const a[] = {"--seconds", secs, "--size-min", "1024", "--size-max",
                                     "1024", "--rate", rate, NULL};
            struct run_out o = run_mode(exe, n, a, false, seconds);
            fails += !o.ok;
            lp50[r] = o.p50;
            lp99[r] = o.p99;
            ping[r] = tcp_pingpong_p50_us(1024, 20000);
            /* Paced like the workload (1 ms apart), so it sees the same idle-wake costs. */
            if (pattern_run(1024, 4, 2000, 1000, 60, &pat50[r], &pat99[r]) != 0) {
                fprintf(stderr, "multicast_bench: the plain-TCP pattern run failed\n");
                fails++;
            }
            double ignored;
            if (pattern_run(1024, 2, 2000, 1000, 60, &floor50[r], &ignored) != 0) {
                fprintf(stderr, "multicast_bench: the plain-TCP floor run failed\n");
                fails++;
            }
        }
    }
    double ms = median(small, runs), ml = median(large, runs), m50 = median(lp50, runs),
           m99 = median(lp99, runs), mp = median(ping, runs), mt50 = median(pat50, runs),
           mt99 = median(pat99, runs), mf = median(floor50, runs), msd = median(small_dlv, runs);
    printf("{\"bench\":\"multicast\",\"members\":%u,\"runs\":%d,\"seconds\":%.1f,"
           "\"small_100B_durable_ops_per_s\":%.0f,\"small_100B_delivered_per_s\":%.0f,"
           "\"large_1MiB_bytes_per_s\":%.0f,"
           "\"latency_1KiB_p50_us\":%.1f,\"latency_1KiB_p99_us\":%.1f,"
           "\"tcp_pingpong_1KiB_p50_us\":%.1f,\"latency_p50_vs_pingpong\":%.2f,"
           "\"tcp_pattern_1KiB_p50_us\":%.1f,\"tcp_pattern_1KiB_p99_us\":%.1f,"
           "\"latency_p50_vs_pattern\":%.2f,\"tcp_floor_1KiB_p50_us\":%.1f,"
           "\"floor_vs_pingpong\":%.2f,\"failed_runs\":%d}\n",
           n, runs, seconds, ms, msd, ml, m50, m99, mp, mp > 0 ? m50 / mp : 0, mt50, mt99,
           mt50 > 0 ? m50 / mt50 : 0, mf, mp > 0 ? mf / mp : 0, fails);
    return fails ? 1 : 0;
}
