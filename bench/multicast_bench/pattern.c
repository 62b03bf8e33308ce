/* A plain-TCP baseline of the atomic multicast's critical path.
 *
 * When the other senders are idle, a message m of sender 0 is known delivered at every member
 * only after four rounds of messages among the three members (PROTOCOL.md §4):
 *   1. the sender pushes m to the others (its SMC slot, then its index: §2.3);
 *   2. each receiver answers everyone with the reactive null m calls for and its counters (§4.4);
 *   3. each member holding m and both answers has seq_num past m and publishes it (§4.2);
 *   4. each member holding every seq_num delivers m and publishes persisted_num (§4.5);
 * and the sender's persistence frontier passes m once it holds the others' step-4 reports. Here
 * the same four steps run over a full mesh of blocking loopback TCP sockets (TCP_NODELAY) between
 * three processes that poll() their two sockets: step 1 carries the payload, the others only a
 * 16-byte header. No event loop, table or protocol state is involved: the time from step 1 to the
 * sender's last report is what these messages cost on this machine when nothing else is done
 * (Squall may still beat it where it sends two steps in one write).
 *
 * With steps = 2 it runs the floor of any atomic multicast that delivers only what every member
 * received (virtual synchrony's stability): 1. the sender sends m to the others; 2. each receiver
 * tells everyone it has m. A member can deliver m no earlier than when it holds every receipt, so
 * the time until process 0 holds both is a lower bound on send-to-delivered-at-every-member for
 * any such protocol over these sockets, whatever it does in between. */
#include "pattern.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROCS 3
#define HDR_BYTES 16  /* u32 step, u32 sender, u64 round; little-endian */
#define STALL_MS 5000 /* a process that hears nothing for this long gives up */

enum step { STEP_MSG = 1, STEP_NULLS, STEP_SEQ, STEP_PERSISTED };

/* What one process knows of one round. */
struct round_state {
    bool msg;
    bool nulls[PROCS];
    bool seq[PROCS];
    bool persisted[PROCS];
};

struct proc {
    int id;
    int fds[PROCS]; /* to each other process; -1 for self */
    bool closed[PROCS];
    size_t size;
    uint8_t *tx; /* HDR_BYTES + size */
    uint8_t *rx; /* size */
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int full_io(int fd, uint8_t *p, size_t n, bool wr)
{
    while (n > 0) {
        ssize_t k = wr ? write(fd, p, n) : read(fd, p, n);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k <= 0) {
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

static bool all_set(const bool *v, int first)
{
    for (int i = first; i < PROCS; i++) {
        if (!v[i]) {
            return false;
        }
    }
    return true;
}

/* Sends step `step` of `round` to both others; the message step carries the payload. */
static int send_step(struct proc *pr, enum step step, int round)
{
    put_le(pr->tx, (uint64_t)step, 4);
    put_le(pr->tx + 4, (uint64_t)pr->id, 4);
    put_le(pr->tx + 8, (uint64_t)round, 8);
    size_t n = HDR_BYTES + (step == STEP_MSG ? pr->size : 0);
    for (int p = 0; p < PROCS; p++) {
        if (p != pr->id && full_io(pr->fds[p], pr->tx, n, true) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Waits for what the others sent and records it (a peer may be one round ahead). -1 on a stall,
 * an error or a header that makes no sense. */
static int receive(struct proc *pr, struct round_state *st, int round, int rounds)
{
    struct pollfd pf[PROCS];
    int who[PROCS];
    nfds_t k = 0;
    for (int p = 0; p < PROCS; p++) {
        if (p != pr->id && !pr->closed[p]) {
            pf[k] = (struct pollfd){.fd = pr->fds[p], .events = POLLIN};
            who[k++] = p;
        }
    }
    if (k == 0) {
        return -1;
    }
    int rc = poll(pf, k, STALL_MS);
    if (rc < 0 && errno == EINTR) {
        return 0;
    }
    if (rc <= 0) {
        return -1;
    }
    for (nfds_t i = 0; i < k; i++) {
        if ((pf[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
            continue;
        }
        int from = who[i];
        uint8_t hdr[HDR_BYTES];
        if (full_io(pr->fds[from], hdr, HDR_BYTES, false) != 0) {
            pr->closed[from] = true; /* done with its last round */
            continue;
        }
        uint64_t step = get_le(hdr, 4);
        uint64_t sender = get_le(hdr + 4, 4);
        uint64_t r = get_le(hdr + 8, 8);
        if (sender != (uint64_t)from || r < (uint64_t)round || r > (uint64_t)round + 1 ||
            r > (uint64_t)rounds || step < STEP_MSG || step > STEP_PERSISTED) {
            return -1;
        }
        struct round_state *s = &st[r];
        if (step == STEP_MSG) {
            if (full_io(pr->fds[from], pr->rx, pr->size, false) != 0) {
                return -1;
            }
            s->msg = true;
        } else if (step == STEP_NULLS) {
            s->nulls[from] = true;
        } else if (step == STEP_SEQ) {
            s->seq[from] = true;
        } else {
            s->persisted[from] = true;
        }
    }
    return 0;
}

/* Runs every round; process 0 paces them and records each one's time in lat[]. */
static int run_rounds(struct proc *pr, int steps, int rounds, int gap_us, double *lat)
{
    struct round_state *st = calloc((size_t)rounds + 2, sizeof(*st));
    if (st == NULL) {
        return -1;
    }
    int rc = 0;
    for (int r = 1; r <= rounds && rc == 0; r++) {
        struct round_state *s = &st[r];
        bool sent_nulls = false, sent_seq = false, sent_persisted = false;
        double t0 = 0;
        if (pr->id == 0) {
            struct timespec gap = {.tv_sec = 0, .tv_nsec = (long)gap_us * 1000};
            nanosleep(&gap, NULL);
            t0 = now_us();
            s->msg = true;
            rc = send_step(pr, STEP_MSG, r);
        }
        while (rc == 0) {
            if (pr->id != 0 && s->msg && !sent_nulls) {
                rc = send_step(pr, STEP_NULLS, r);
                sent_nulls = true;
                s->nulls[pr->id] = true;
            } else if (steps == 2 && s->msg && all_set(s->nulls, 1)) {
                /* Every receipt is here: m could be delivered now. */
                if (pr->id == 0) {
                    lat[r - 1] = now_us() - t0;
                }
                break;
            } else if (s->msg && !sent_seq && all_set(s->nulls, 1)) {
                rc = send_step(pr, STEP_SEQ, r);
                sent_seq = true;
                s->seq[pr->id] = true;
            } else if (sent_seq && !sent_persisted && all_set(s->seq, 0)) {
                rc = send_step(pr, STEP_PERSISTED, r);
                sent_persisted = true;
                s->persisted[pr->id] = true;
            } else if (sent_persisted && all_set(s->persisted, 0)) {
                if (pr->id == 0) {
                    lat[r - 1] = now_us() - t0;
                }
                break;
            } else {
                rc = receive(pr, st, r, rounds);
            }
        }
    }
    free(st);
    return rc;
}

/* Connects process `id` to the others: it accepts the lower ids and dials the higher ones, each
 * dialler first sending its id. */
static int mesh(struct proc *pr, const int *lfd, const struct sockaddr_in *addr)
{
    int one = 1;
    for (int n = 0; n < pr->id; n++) {
        int fd = accept(lfd[pr->id], NULL, NULL);
        uint8_t who[4];
        if (fd < 0 || full_io(fd, who, sizeof(who), false) != 0) {
            return -1;
        }
        uint64_t from = get_le(who, 4);
        if (from >= (uint64_t)pr->id || pr->fds[from] >= 0) {
            return -1;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pr->fds[from] = fd;
    }
    for (int p = pr->id + 1; p < PROCS; p++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        uint8_t me[4];
        put_le(me, (uint64_t)pr->id, 4);
        if (fd < 0 || connect(fd, (const struct sockaddr *)&addr[p], sizeof(addr[p])) != 0 ||
            full_io(fd, me, sizeof(me), true) != 0) {
            return -1;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pr->fds[p] = fd;
    }
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One process: mesh, rounds, and for process 0 the percentiles written to `out_fd`. */
static int child_main(int id, const int *lfd, const struct sockaddr_in *addr, size_t size,
                      int steps, int rounds, int gap_us, int out_fd)
{
    struct proc pr = {.id = id, .size = size};
    for (int p = 0; p < PROCS; p++) {
        pr.fds[p] = -1;
    }
    pr.tx = calloc(1, HDR_BYTES + size);
    pr.rx = calloc(1, size);
    double *lat = calloc((size_t)rounds, sizeof(*lat));
    if (pr.tx == NULL || pr.rx == NULL || lat == NULL || mesh(&pr, lfd, addr) != 0 ||
        run_rounds(&pr, steps, rounds, gap_us, lat) != 0) {
        return 1;
    }
    if (id == 0) {
        int skip = rounds / 10;
        size_t n = (size_t)(rounds - skip);
        qsort(lat + skip, n, sizeof(*lat), cmp_d);
        char line[64];
        int len = snprintf(line, sizeof(line), "%.2f %.2f\n", lat[(size_t)skip + n / 2],
                           lat[(size_t)skip + (n * 99) / 100]);
        if (len <= 0 || write(out_fd, line, (size_t)len) != len) {
            return 1;
        }
    }
    return 0;
}

/* Opens the three listening sockets on 127.0.0.1 (port 0). 0, or -1 with nothing left open. */
static int listeners_open(int *lfd, struct sockaddr_in *addr)
{
    for (int i = 0; i < PROCS; i++) {
        lfd[i] = socket(AF_INET, SOCK_STREAM, 0);
        memset(&addr[i], 0, sizeof(addr[i]));
        addr[i].sin_family = AF_INET;
        addr[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(addr[i]);
        if (lfd[i] < 0 || bind(lfd[i], (struct sockaddr *)&addr[i], len) != 0 ||
            listen(lfd[i], PROCS) != 0 ||
            getsockname(lfd[i], (struct sockaddr *)&addr[i], &len) != 0) {
            for (int j = 0; j <= i; j++) {
                if (lfd[j] >= 0) {
                    close(lfd[j]);
                }
            }
            return -1;
        }
    }
    return 0;
}

/* Reads process 0's result line from `fd` until its newline, EOF or the deadline. */
static void result_read(int fd, char *line, size_t cap, double deadline_us)
{
    size_t got = 0;
    while (got < cap - 1 && memchr(line, '\n', got) == NULL && now_us() < deadline_us) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) {
            continue;
        }
        ssize_t k = read(fd, line + got, cap - 1 - got);
        if (k <= 0) {
            break; /* every process exited */
        }
        got += (size_t)k;
    }
    line[got] = '\0';
}

int pattern_run(size_t size, int steps, int rounds, int gap_us, double timeout_s, double *p50,
                double *p99)
{
    if (size == 0 || size > PATTERN_BYTES_MAX || (steps != 2 && steps != 4) || rounds < 10 ||
        gap_us < 0) {
        return -1;
    }
    int lfd[PROCS];
    struct sockaddr_in addr[PROCS];
    if (listeners_open(lfd, addr) != 0) {
        return -1;
    }
    int pfd[2];
    if (pipe(pfd) != 0) {
        for (int i = 0; i < PROCS; i++) {
            close(lfd[i]);
        }
        return -1;
    }
    pid_t pids[PROCS];
    int started = 0;
    for (; started < PROCS; started++) {
        pids[started] = fork();
        if (pids[started] < 0) {
            break;
        }
        if (pids[started] == 0) {
            close(pfd[0]);
            _exit(child_main(started, lfd, addr, size, steps, rounds, gap_us, pfd[1]));
        }
    }
    close(pfd[1]);
    for (int i = 0; i < PROCS; i++) {
        close(lfd[i]);
    }
    double deadline = now_us() + timeout_s * 1e6;
    char line[64] = "";
    if (started == PROCS) {
        result_read(pfd[0], line, sizeof(line), deadline);
    }
    close(pfd[0]);
    /* Every process is waited for by PID; one still running after the deadline (or after a
     * failed fork left the mesh incomplete) is killed. */
    bool ok = started == PROCS;
    for (int i = 0; i < started; i++) {
        int status = 0;
        pid_t w = 0;
        while (ok && (w = waitpid(pids[i], &status, WNOHANG)) == 0 && now_us() < deadline) {
            struct timespec ms = {.tv_sec = 0, .tv_nsec = 1000000};
            nanosleep(&ms, NULL);
        }
        if (w == 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], &status, 0);
            ok = false;
        } else if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            ok = false;
        }
    }
    return ok && sscanf(line, "%lf %lf", p50, p99) == 2 ? 0 : -1;
}
