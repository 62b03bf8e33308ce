/* bench/viewchange_bench: how long a view change takes after a member dies under load (issue 6).
 * Prints one JSON line.
 *
 *   viewchange_bench [--members N] [--runs R] [--timeout-ms MS | --both]
 *                    [--fault kill|stop|pause [--pause-ms P]]
 *                    [--victim I|rotate] [--rate R] [--size-min A] [--size-max B]
 *                    [--pre-s S] [--post-s S] [--member-exe PATH] [--durable-dir DIR]
 *                    [--dump-dir DIR]
 *
 * Each run starts N mc_member processes on 127.0.0.1 (default 5, 3..7), every one sending R
 * messages/s (default 1000; 0: as fast as flow control allows) of A..B bytes, waits until all are
 * up, lets the load run --pre-s seconds, then signals the victim (default: the highest id) with
 * SIGKILL (--fault kill: the TCP connections break at once) or SIGSTOP (--fault stop: the process
 * hangs with its connections open, so only the heartbeat timeout can find it; it is SIGKILLed
 * after the run) or SIGSTOP and SIGCONT P ms later (--fault pause, default P = 3 x the timeout: a
 * stall such as a VM steal or swap storm; the others must exclude it and it must stop, excluded,
 * while the survivors go on). Runs where a member other than the victim stopped are counted
 * (runs_survivors_stopped) and their stop lines printed. Measured, per run, from the signal (parent's CLOCK_MONOTONIC, the clock the
 * members stamp their events with):
 *   install     the new view installed at ALL survivors (the last survivor's VIEW event);
 *   stages      first/last detection, the leader's proposal, the last commit, the last trim, the
 *               last delivery of the old view, first/last install (from the members' traced log);
 *   dip         delivered msgs/s at the lowest-id survivor in 100 ms bins from the signal on:
 *               the pre-failure rate (the second before the signal), the minimum bin, and the
 *               time to the first bin (after the dip starts) back at 80% of the pre-failure rate;
 *               once over all deliveries (dip_all) and once over the survivors' messages only
 *               (dip_survivor_msgs). With paced senders the victim's share of the traffic goes
 *               with it (1/N of the total), so only the second says how fast the group recovers.
 * Over the runs: p50/p90/max of install, medians of the rest. --timeout-ms sets the failure
 * timeout (default: the group's, 1000 ms); --both measures the default and 100 ms in one run.
 * The target (100 ms timeout: install p50 <= 300 ms, no run above 1 s) is checked on the
 * 100 ms configuration when it is measured. --durable-dir makes every member append deliveries to a
 * file there with group commit and fdatasync (the persistence wait then includes real syncs);
 * --dump-dir keeps every member's raw event stream (t<timeout>-r<run>-m<id>.ev) for tracing.
 *
 * Floor, measured in the same run (before and after the runs): the time from SIGKILL of an idle
 * child process to its loopback TCP peer reading EOF, the least a SIGKILL detection can take on
 * this machine at that moment (median of 20); and the load average, since the machine is shared. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vc_harness.h"

#define RUNS_MAX 200
#define NS_MS 1000000.0

struct opts {
    uint32_t members;
    uint32_t runs;
    uint32_t timeouts[2];
    uint32_t timeout_count;
    bool stop_fault;
    uint32_t pause_ms; /* --fault pause: SIGSTOP, then SIGCONT after this long */
    int victim; /* -1: rotate */
    double rate;
    uint32_t size_min, size_max;
    double pre_s, post_s;
    const char *exe;
    const char *durable_dir;
    const char *dump_dir;
};

/* One run's figures, in ms from the signal (negative: not seen). */
struct run_result {
    bool ok;
    uint32_t survivor_stopped; /* members other than the victim that stopped for good */
    bool undetected;           /* pause: the victim was back before anyone suspected it */
    double install_last, install_first;
    double detect_first, detect_last, propose, commit_last, trim_last, deliver_last;
    struct dip {
        double pre_rate, min_rate, recover80;
    } all, surv; /* every delivery; deliveries of the survivors' messages only */
};

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of the non-negative values of v. */
static double quantile(const double *v, uint32_t n, double q)
{
    double s[RUNS_MAX];
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (v[i] >= 0) {
            s[k++] = v[i];
        }
    }
    if (k == 0) {
        return -1;
    }
    qsort(s, k, sizeof(double), cmp_d);
    uint32_t idx = (uint32_t)(q * (double)k + 0.999999);
    idx = idx == 0 ? 0 : idx - 1;
    return s[idx < k ? idx : k - 1];
}

static double rel_ms(uint64_t t, uint64_t from)
{
    return t == 0 ? -1 : ((double)t - (double)from) / NS_MS;
}

static const char *g_durable_dir;
static uint32_t g_run;
static uint32_t g_victim;

/* Per member: the victim whose traffic the survivors' delivery bins leave out, and a file to
 * persist to with --durable-dir. */
static const char *const *member_extra(uint32_t i, void *arg)
{
    (void)arg;
    static char path[SPAWN_MAX][256];
    static char victim[16];
    static const char *out[SPAWN_MAX][5];
    snprintf(victim, sizeof(victim), "%u", g_victim);
    out[i][0] = "--bins-exclude";
    out[i][1] = victim;
    out[i][2] = NULL;
    if (g_durable_dir != NULL) {
        snprintf(path[i], sizeof(path[i]), "%s/vc-r%u-m%u.dat", g_durable_dir, g_run, i);
        out[i][2] = "--durable";
        out[i][3] = path[i];
        out[i][4] = NULL;
    }
    return out[i];
}

/* The dip in one delivery series: the rate in the second before the signal, the lowest 100 ms bin
 * from the signal to end_ns, and when the rate is back at 80% of the pre-failure rate: the END of
 * the first bin at or above it after the first bin below it, so "recovered by" with 100 ms
 * resolution (0 if no bin in the first second fell below it; -1 if it never came back before
 * end_ns). */
static void dip(const struct vc_bins *b, uint64_t kill_ns, uint64_t end_ns, struct dip *d)
{
    const uint64_t bin = 100 * 1000000ull;
    double pre = vc_delivered_between(b, kill_ns - 1000000000ull, kill_ns);
    d->pre_rate = pre;
    d->min_rate = -1;
    d->recover80 = -1;
    if (pre <= 0) {
        return;
    }
    bool dipped = false;
    for (uint64_t s = kill_ns; s + bin <= end_ns; s += bin) {
        double rate = vc_delivered_between(b, s, s + bin) * 10.0;
        if (d->min_rate < 0 || rate < d->min_rate) {
            d->min_rate = rate;
        }
        if (rate < 0.8 * pre) {
            dipped = true;
        } else if (dipped && d->recover80 < 0) {
            d->recover80 = (double)(s + bin - kill_ns) / NS_MS;
        }
        if (!dipped && s + bin >= kill_ns + 10 * bin) {
            d->recover80 = 0; /* no dip below 80% in the first second */
            dipped = true;
        }
    }
}

/* Median time (ms) from SIGKILL of a child holding a loopback TCP connection to this process
 * reading EOF on it. -1 on error. */
static double eof_floor_ms(void)
{
    double t[20];
    int k = 0;
    for (int i = 0; i < 20; i++) {
        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 1) != 0 ||
            getsockname(l, (struct sockaddr *)&a, &len) != 0) {
            if (l >= 0) {
                close(l);
            }
            return -1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) {
                _exit(1);
            }
            for (;;) {
                pause();
            }
        }
        int c = pid > 0 ? accept(l, NULL, NULL) : -1;
        close(l);
        if (c < 0) {
            if (pid > 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
            }
            return -1;
        }
        uint64_t t0 = vc_now_ns();
        kill(pid, SIGKILL);
        struct pollfd pf = {.fd = c, .events = POLLIN};
        char b;
        if (poll(&pf, 1, 5000) == 1 && read(c, &b, 1) <= 0) {
            t[k++] = (double)(vc_now_ns() - t0) / NS_MS;
        }
        close(c);
        waitpid(pid, NULL, 0);
    }
    if (k == 0) {
        return -1;
    }
    qsort(t, (size_t)k, sizeof(double), cmp_d);
    return t[k / 2];
}

static double loadavg1(void)
{
    double v = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &v) != 1) {
            v = -1;
        }
        fclose(f);
    }
    return v;
}

static bool one_run(const struct opts *o, uint32_t timeout_ms, uint32_t run, struct run_result *r)
{
    memset(r, 0, sizeof(*r));
    uint32_t n = o->members;
    uint32_t victim = o->victim >= 0 ? (uint32_t)o->victim : run % n;
    char rate[32], smin[16], smax[16], tmo[16];
    snprintf(rate, sizeof(rate), "%g", o->rate);
    snprintf(smin, sizeof(smin), "%u", o->size_min);
    snprintf(smax, sizeof(smax), "%u", o->size_max);
    snprintf(tmo, sizeof(tmo), "%u", timeout_ms);
    const char *args[] = {"--seconds", "600", "--warmup", "0", "--rate", rate, "--size-min", smin,
                          "--size-max", smax, "--trace", "1", "--timeout-ms", tmo, NULL};
    g_run = run;
    g_victim = victim;
    struct vc_group g;
    if (vc_start(&g, o->exe, n, args, member_extra, NULL) != 0) {
        fprintf(stderr, "viewchange_bench: cannot start members\n");
        return false;
    }
    bool ok = vc_wait(&g, 30, vc_cond_ready, NULL);
    uint64_t kill_ns = 0, end_ns = 0;
    struct vc_view_arg va = {.mask = ((1ull << n) - 1) & ~(1ull << victim), .vid = 1};
    if (ok) {
        vc_wait(&g, o->pre_s, vc_cond_never, NULL); /* the load runs */
        vc_kill(&g, victim, o->stop_fault || o->pause_ms ? SIGSTOP : SIGKILL);
        kill_ns = g.m[victim].killed_ns;
        if (o->pause_ms > 0) {
            vc_wait(&g, o->pause_ms / 1000.0, vc_cond_never, NULL);
            kill(g.sg.pids[victim], SIGCONT);
        }
        ok = vc_wait(&g, 10.0 + 3.0 * timeout_ms / 1000.0, vc_cond_view, &va);
        vc_wait(&g, o->post_s, vc_cond_never, NULL); /* recovery */
        end_ns = vc_now_ns();
    }
    if (o->stop_fault || o->pause_ms > 0) {
        kill(g.sg.pids[victim], SIGKILL);
    }
    uint64_t term_ns = vc_now_ns();
    for (uint32_t i = 0; i < n; i++) {
        if (i != victim) {
            kill(g.sg.pids[i], SIGTERM);
        }
    }
    vc_finish(&g, 20);
    for (uint32_t i = 0; o->dump_dir != NULL && i < n; i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/t%u-r%u-m%u.ev", o->dump_dir, timeout_ms, run, i);
        FILE *f = fopen(path, "w");
        if (f != NULL) {
            fprintf(f, "%llu KILLED victim=%u\n", (unsigned long long)kill_ns, victim);
            fwrite(g.m[i].buf, 1, g.m[i].len, f);
            fclose(f);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        /* Stops after the SIGTERMs that end the run are the teardown, not the fault's doing. */
        if (g.m[i].stop_ns != 0 && g.m[i].stop_ns < term_ns) {
            fprintf(stderr, "run %u (timeout %u ms, victim %u): member %u stopped %.1f ms after the "
                            "fault: %s\n",
                    run, timeout_ms, victim, i, rel_ms(g.m[i].stop_ns, kill_ns), g.m[i].stop_line);
            r->survivor_stopped += i != victim;
        }
    }
    bool wedged = false;
    for (uint32_t i = 0; i < n; i++) {
        wedged |= g.m[i].wedged_ns[0] != 0 || g.m[i].stop_ns != 0;
    }
    if (!ok && o->pause_ms > 0 && !wedged) {
        fprintf(stderr, "run %u (timeout %u ms, victim %u): the victim was back before anyone "
                        "suspected it; the group went on in view 0\n",
                run, timeout_ms, victim);
        r->undetected = true;
        vc_free(&g);
        return false;
    }
    if (!ok) {
        fprintf(stderr, "run %u (timeout %u ms, victim %u): no new view at every survivor\n", run,
                timeout_ms, victim);
        vc_free(&g);
        return false;
    }
    r->ok = true;
    uint32_t lowest = victim == 0 ? 1 : 0;
    uint64_t i_first = 0, i_last = 0, d_first = 0, d_last = 0, prop = 0, c_last = 0, t_last = 0,
             dl_last = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i == victim) {
            continue;
        }
        const struct vc_member *m = &g.m[i];
        uint64_t iv = m->view_ns[1], dv = m->detect_ns[0];
        i_first = i_first == 0 || iv < i_first ? iv : i_first;
        i_last = iv > i_last ? iv : i_last;
        if (dv != 0) {
            d_first = d_first == 0 || dv < d_first ? dv : d_first;
            d_last = dv > d_last ? dv : d_last;
        }
        if (m->proposed_ns[0] != 0 && (prop == 0 || m->proposed_ns[0] < prop)) {
            prop = m->proposed_ns[0];
        }
        c_last = m->committed_ns[0] > c_last ? m->committed_ns[0] : c_last;
        t_last = m->trim_ns[0] > t_last ? m->trim_ns[0] : t_last;
        uint64_t dl = m->last_deliver_ns[0] > m->trim_ns[0] ? m->last_deliver_ns[0] : m->trim_ns[0];
        dl_last = dl > dl_last ? dl : dl_last;
    }
    r->install_last = rel_ms(i_last, kill_ns);
    r->install_first = rel_ms(i_first, kill_ns);
    r->detect_first = rel_ms(d_first, kill_ns);
    r->detect_last = rel_ms(d_last, kill_ns);
    r->propose = rel_ms(prop, kill_ns);
    r->commit_last = rel_ms(c_last, kill_ns);
    r->trim_last = rel_ms(t_last, kill_ns);
    r->deliver_last = rel_ms(dl_last, kill_ns);
    dip(&g.m[lowest].bins, kill_ns, end_ns, &r->all);
    dip(&g.m[lowest].bins_x, kill_ns, end_ns, &r->surv);
    fprintf(stderr,
            "run %2u timeout %4u ms victim %u: install all %7.1f ms (first %7.1f) | detect "
            "%.1f..%.1f propose %.1f commit %.1f trim %.1f delivered %.1f | all: pre %.0f/s min "
            "bin %.0f/s recover80 %.0f ms | survivors' msgs: pre %.0f/s min bin %.0f/s "
            "recover80 %.0f ms\n",
            run, timeout_ms, victim, r->install_last, r->install_first, r->detect_first,
            r->detect_last, r->propose, r->commit_last, r->trim_last, r->deliver_last,
            r->all.pre_rate, r->all.min_rate, r->all.recover80, r->surv.pre_rate, r->surv.min_rate,
            r->surv.recover80);
    vc_free(&g);
    return true;
}

static void usage(void)
{
    fprintf(stderr, "usage: viewchange_bench [--members N] [--runs R] [--timeout-ms MS | --both] "
                    "[--fault kill|stop|pause] [--pause-ms P] [--victim I|rotate] [--rate R] [--size-min A] "
                    "[--size-max B] [--pre-s S] [--post-s S] [--member-exe PATH] "
                    "[--durable-dir DIR] [--dump-dir DIR]\n");
    exit(2);
}

/* The q-quantile over the successful runs of one figure. */
static double q_of(const struct run_result *rr, uint32_t runs, size_t off, double q)
{
    double v[RUNS_MAX] = {0};
    for (uint32_t i = 0; i < runs; i++) {
        v[i] = rr[i].ok ? *(const double *)((const char *)&rr[i] + off) : -1;
    }
    return quantile(v, runs, q);
}

static void print_dip(const char *name, const struct run_result *rr, uint32_t runs, size_t off)
{
    double ratio[RUNS_MAX] = {0};
    uint32_t not_recovered = 0;
    for (uint32_t i = 0; i < runs; i++) {
        const struct dip *d = (const struct dip *)((const char *)&rr[i] + off);
        ratio[i] = rr[i].ok && d->pre_rate > 0 ? d->min_rate / d->pre_rate : -1;
        not_recovered += rr[i].ok && d->recover80 < 0;
    }
    printf("\"%s\":{\"pre_msgs_per_s_p50\":%.0f,\"min_bin_msgs_per_s_p50\":%.0f,"
           "\"min_bin_ratio_p50\":%.3f,\"recover80_ms_p50\":%.0f,\"recover80_ms_max\":%.0f,"
           "\"not_recovered\":%u}",
           name, q_of(rr, runs, off + offsetof(struct dip, pre_rate), 0.5),
           q_of(rr, runs, off + offsetof(struct dip, min_rate), 0.5), quantile(ratio, runs, 0.5),
           q_of(rr, runs, off + offsetof(struct dip, recover80), 0.5),
           q_of(rr, runs, off + offsetof(struct dip, recover80), 1.0), not_recovered);
}

#define Q(field, q) q_of(rr, runs, offsetof(struct run_result, field), q)

static void print_config(uint32_t timeout_ms, const struct run_result *rr, uint32_t runs,
                         bool last)
{
    uint32_t ok = 0, collapsed = 0, undetected = 0;
    for (uint32_t i = 0; i < runs; i++) {
        ok += rr[i].ok;
        collapsed += rr[i].survivor_stopped > 0;
        undetected += rr[i].undetected;
    }
    printf("{\"timeout_ms\":%u,\"runs_ok\":%u,\"runs_survivors_stopped\":%u,"
           "\"runs_undetected\":%u,\"install_all_ms\":{\"p50\":%.1f,\"p90\":%.1f,"
           "\"max\":%.1f},\"stages_p50_ms\":{\"detect_first\":%.1f,\"detect_last\":%.1f,"
           "\"propose\":%.1f,\"commit_last\":%.1f,\"trim_last\":%.1f,\"delivered_last\":%.1f,"
           "\"install_first\":%.1f,\"install_last\":%.1f},\"stages_max_ms\":{"
           "\"detect_last\":%.1f,\"commit_last\":%.1f,\"delivered_last\":%.1f,"
           "\"install_first\":%.1f},",
           timeout_ms, ok, collapsed, undetected, Q(install_last, 0.5), Q(install_last, 0.9), Q(install_last, 1.0),
           Q(detect_first, 0.5), Q(detect_last, 0.5), Q(propose, 0.5), Q(commit_last, 0.5),
           Q(trim_last, 0.5), Q(deliver_last, 0.5), Q(install_first, 0.5), Q(install_last, 0.5),
           Q(detect_last, 1.0), Q(commit_last, 1.0), Q(deliver_last, 1.0), Q(install_first, 1.0));
    print_dip("dip_all", rr, runs, offsetof(struct run_result, all));
    printf(",");
    print_dip("dip_survivor_msgs", rr, runs, offsetof(struct run_result, surv));
    printf("}%s", last ? "" : ",");
}

int main(int argc, char **argv)
{
    struct opts o = {.members = 5, .runs = 20, .timeouts = {1000}, .timeout_count = 1,
                     .victim = -2, .rate = 1000, .size_min = 100, .size_max = 1000,
                     .pre_s = 2.0, .post_s = 2.0, .exe = NULL};
    bool both = false, pause = false;
    uint32_t pause_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--both") == 0) {
            both = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[++i] : NULL;
        if (v == NULL) {
            usage();
        }
        if (strcmp(a, "--members") == 0) {
            o.members = (uint32_t)atoi(v);
        } else if (strcmp(a, "--runs") == 0) {
            o.runs = (uint32_t)atoi(v);
        } else if (strcmp(a, "--timeout-ms") == 0) {
            o.timeouts[0] = (uint32_t)atoi(v);
        } else if (strcmp(a, "--fault") == 0) {
            if (strcmp(v, "kill") != 0 && strcmp(v, "stop") != 0 && strcmp(v, "pause") != 0) {
                usage();
            }
            o.stop_fault = strcmp(v, "stop") == 0;
            pause = strcmp(v, "pause") == 0;
        } else if (strcmp(a, "--pause-ms") == 0) {
            pause_ms = (uint32_t)atoi(v);
        } else if (strcmp(a, "--victim") == 0) {
            o.victim = strcmp(v, "rotate") == 0 ? -1 : atoi(v);
        } else if (strcmp(a, "--rate") == 0) {
            o.rate = atof(v);
        } else if (strcmp(a, "--size-min") == 0) {
            o.size_min = (uint32_t)atoi(v);
        } else if (strcmp(a, "--size-max") == 0) {
            o.size_max = (uint32_t)atoi(v);
        } else if (strcmp(a, "--pre-s") == 0) {
            o.pre_s = atof(v);
        } else if (strcmp(a, "--post-s") == 0) {
            o.post_s = atof(v);
        } else if (strcmp(a, "--member-exe") == 0) {
            o.exe = v;
        } else if (strcmp(a, "--durable-dir") == 0) {
            o.durable_dir = v;
        } else if (strcmp(a, "--dump-dir") == 0) {
            o.dump_dir = v;
        } else {
            usage();
        }
    }
    if (o.members < 3 || o.members > 7 || o.runs < 1 || o.runs > RUNS_MAX || o.pre_s < 1.2 ||
        o.size_min > o.size_max) {
        usage();
    }
    if (pause) {
        o.pause_ms = pause_ms > 0 ? pause_ms : 3 * o.timeouts[0];
    }
    if (o.victim == -2) {
        o.victim = (int)o.members - 1;
    }
    if (o.victim >= (int)o.members) {
        usage();
    }
    if (both) {
        o.timeouts[0] = 1000;
        o.timeouts[1] = 100;
        o.timeout_count = 2;
    }
    char exe_buf[4096];
    if (o.exe == NULL) {
        /* mc_member is built beside bench/multicast_bench. */
        ssize_t k = readlink("/proc/self/exe", exe_buf, sizeof(exe_buf) - 64);
        if (k <= 0) {
            return 1;
        }
        exe_buf[k] = '\0';
        char *slash = strrchr(exe_buf, '/');
        snprintf(slash + 1, 64, "../multicast_bench/mc_member");
        o.exe = exe_buf;
    }
    g_durable_dir = o.durable_dir;
    double floor_before = eof_floor_ms(), load_before = loadavg1();
    static struct run_result res[2][RUNS_MAX];
    for (uint32_t c = 0; c < o.timeout_count; c++) {
        for (uint32_t r = 0; r < o.runs; r++) {
            one_run(&o, o.timeouts[c], r, &res[c][r]);
        }
    }
    double floor_after = eof_floor_ms(), load_after = loadavg1();
    printf("{\"bench\":\"viewchange_bench\",\"members\":%u,\"runs\":%u,\"fault\":\"%s\","
           "\"victim\":\"%s\",\"rate_per_member\":%g,\"size\":[%u,%u],\"durable\":%s,"
           "\"floor\":{\"kill_to_eof_ms_before\":%.3f,\"kill_to_eof_ms_after\":%.3f},"
           "\"loadavg_1min\":[%.2f,%.2f],\"configs\":[",
           o.members, o.runs, o.stop_fault ? "stop" : o.pause_ms ? "pause" : "kill",
           o.victim < 0 ? "rotate" : (o.victim == (int)o.members - 1 ? "last" : "fixed"), o.rate,
           o.size_min, o.size_max, o.durable_dir ? "true" : "false", floor_before, floor_after,
           load_before, load_after);
    for (uint32_t c = 0; c < o.timeout_count; c++) {
        print_config(o.timeouts[c], res[c], o.runs, c + 1 == o.timeout_count);
    }
    printf("]");
    for (uint32_t c = 0; c < o.timeout_count; c++) {
        if (o.timeouts[c] != 100) {
            continue;
        }
        double v[RUNS_MAX] = {0};
        uint32_t ok = 0;
        for (uint32_t r = 0; r < o.runs; r++) {
            v[r] = res[c][r].ok ? res[c][r].install_last : -1;
            ok += res[c][r].ok;
        }
        double p50 = quantile(v, o.runs, 0.5), mx = quantile(v, o.runs, 1.0);
        printf(",\"target_100ms\":{\"p50_ms\":%.1f,\"max_ms\":%.1f,\"p50_le_300\":%s,"
               "\"none_above_1000\":%s}",
               p50, mx, p50 >= 0 && p50 <= 300 ? "true" : "false",
               ok == o.runs && mx <= 1000 ? "true" : "false");
    }
    printf("}\n");
    return 0;
}
