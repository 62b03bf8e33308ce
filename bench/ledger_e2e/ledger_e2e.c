/* ledger_e2e: end-to-end throughput and latency of a 3-validator Squall network on this machine.
 *
 * Makes a testnet with many funded accounts in a temporary folder, starts the validators
 * (squalld, real processes on 127.0.0.1), pre-signs transfers, and sends them through POST
 * /v1/txs: open-loop at --rate transactions per second (requests of about 20 ms of transactions,
 * sent on schedule and pipelined on a keep-alive connection; "sender_lag_max_ms" says how far the
 * senders ever fell behind it), or closed-loop at saturation (--rate 0: each sender keeps one
 * request in flight). Latency runs from the request's scheduled time in the open loop (from its
 * sending in the closed loop): the client's own batching is not counted, any wait behind the
 * server is. Each validator gets the transactions of its own accounts, in nonce order, from two
 * sender threads with disjoint accounts. A tracker polls validator 1 for its final height and
 * reads the new final blocks, matching their transaction ids: a transaction's latency is submit
 * -> seen final. Prints one JSON line:
 *
 *   {"bench":"ledger_e2e","mode":"open","rate":10000,"seconds":30,"final_tps":...,
 *    "p50_ms":...,"p99_ms":...,"p999_ms":...,...}
 *
 *   ledger_e2e [--rate R] [--seconds S] [--warmup W] [--accounts A] [--batch B] [--squalld PATH]
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/err.h"
#include "nodetest.h"
#include "rpc/rpc.h"

#define V 3
#define SPV 2       /* sender threads per validator (disjoint accounts) */
#define S (V * SPV) /* sender threads */

struct opts {
    double rate;
    double seconds;
    double warmup;
    uint32_t accounts;
    uint32_t batch;
    const char *squalld;
    const char *config_extra;
    bool keep;
};

struct txrec {
    uint8_t id[32];
    uint32_t off;  /* into the byte arena */
    uint16_t size;
    uint8_t state; /* 0 unsent, 1 sent, 2 accepted, 3 rejected, 4 final ok, 5 final failed */
    double sent;   /* scheduled (open loop) or actual (closed loop) send time */
    double final;
};

static struct opts o_ = {.rate = 10000, .seconds = 30, .warmup = 5, .accounts = 3000,
                         .batch = 0, .squalld = SQUALLD};
static struct nt_net net_;
static struct txrec *txs_;
static uint8_t *arena_;
static size_t tx_count_;
static struct sqc_keypair *keys_;
static double t0_;
static volatile int stop_send_;
static volatile int stop_track_;
/* txs of sender thread k: account a goes to validator a % V through sender (a % S), so each
 * account's transactions leave in nonce order from one thread to one validator */
static size_t *order_[S];
static size_t order_count_[S];
static double lag_max_[S];

/* id -> tx index (open addressing) */
static size_t *table_;
static size_t table_mask_;

static void table_put(size_t idx)
{
    size_t h = ((size_t)txs_[idx].id[0] | (size_t)txs_[idx].id[1] << 8 |
                (size_t)txs_[idx].id[2] << 16 | (size_t)txs_[idx].id[3] << 24 |
                (size_t)txs_[idx].id[4] << 32) &
               table_mask_;
    while (table_[h] != SIZE_MAX) {
        h = (h + 1) & table_mask_;
    }
    table_[h] = idx;
}

static size_t table_get(const uint8_t id[32])
{
    size_t h = ((size_t)id[0] | (size_t)id[1] << 8 | (size_t)id[2] << 16 | (size_t)id[3] << 24 |
                (size_t)id[4] << 32) &
               table_mask_;
    while (table_[h] != SIZE_MAX) {
        if (memcmp(txs_[table_[h]].id, id, 32) == 0) {
            return table_[h];
        }
        h = (h + 1) & table_mask_;
    }
    return SIZE_MAX;
}

/* ---- pre-signing ---- */

struct sign_arg {
    size_t from, to;
};

static void *sign_main(void *arg)
{
    struct sign_arg *a = arg;
    for (size_t i = a->from; i < a->to; i++) {
        uint32_t acct = (uint32_t)(i % o_.accounts);
        uint64_t nonce = i / o_.accounts + 1;
        uint32_t to = (acct + 1) % o_.accounts;
        uint8_t *p = arena_ + (size_t)i * 256;
        size_t size = nt_transfer(&net_, p, &keys_[acct], keys_[to].pk, 1, nonce, 1u << 30);
        if (size == 0 || size > 256) {
            fprintf(stderr, "ledger_e2e: cannot sign\n");
            exit(1);
        }
        txs_[i].off = (uint32_t)(i * 256);
        txs_[i].size = (uint16_t)size;
        ldg_tx_id(p, size, txs_[i].id);
    }
    return NULL;
}

/* ---- senders ---- */

/* A bare HTTP/1.1 keep-alive client for POST /v1/txs: the load generator shares the machine with
 * the validators, so it builds each body by copying pre-signed bytes as hex (no JSON tree, no
 * escaping pass) and reuses one connection. In the open loop it pipelines: requests leave on
 * schedule whatever the answers to earlier ones (the server answers a connection in order), so a
 * slow answer delays nothing but its own transactions' latency. Blocking I/O and poll(): a sender
 * waits in the kernel. */
#define PIPE_MAX 64 /* requests in flight on one connection */

struct hconn {
    int fd;
    uint16_t port;
    char *buf;        /* response bytes [off, len) not consumed yet */
    size_t cap, len, off;
};

static int hconn_connect(struct hconn *c)
{
    c->len = c->off = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(c->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct timeval tv = {.tv_sec = 30};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(c->fd);
        c->fd = -1;
        return -1;
    }
    return 0;
}

static void hconn_close(struct hconn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int hconn_send(struct hconn *c, const char *path, const char *body, size_t size)
{
    if (c->fd < 0 && hconn_connect(c) != 0) {
        return -1;
    }
    char hdr[256];
    int hl = snprintf(hdr, sizeof(hdr),
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, size);
    if (write_all(c->fd, hdr, (size_t)hl) != 0 || write_all(c->fd, body, size) != 0) {
        hconn_close(c);
        return -1;
    }
    return 0;
}

/* Reads more response bytes (blocking), first dropping what was consumed. */
static int hconn_fill(struct hconn *c)
{
    if (c->off > 0) {
        memmove(c->buf, c->buf + c->off, c->len - c->off);
        c->len -= c->off;
        c->off = 0;
    }
    if (c->cap - c->len < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 65536;
        char *nb = realloc(c->buf, cap);
        if (nb == NULL) {
            return -1;
        }
        c->buf = nb;
        c->cap = cap;
    }
    ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
    if (r <= 0) {
        hconn_close(c);
        return -1;
    }
    c->len += (size_t)r;
    c->buf[c->len] = '\0';
    return 0;
}

/* Takes the next complete response from the buffer: 1 (with *status and the body, valid until
 * the next fill), 0 when it has not fully arrived, -1 when it does not parse. */
static int hconn_next(struct hconn *c, long *status, const char **body, size_t *size)
{
    if (c->buf == NULL || c->len == c->off) {
        return 0;
    }
    char *start = c->buf + c->off;
    char *end = strstr(start, "\r\n\r\n");
    if (end == NULL) {
        return 0;
    }
    if (sscanf(start, "HTTP/1.%*d %ld", status) != 1) {
        return -1;
    }
    size_t clen = 0;
    for (char *line = strstr(start, "\r\n"); line != NULL && line < end;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            clen = (size_t)strtoull(line + 17, NULL, 10);
        }
    }
    size_t head = (size_t)(end - start) + 4;
    if (c->len - c->off < head + clen) {
        return 0;
    }
    *body = start + head;
    *size = clen;
    c->off += head + clen;
    return 1;
}

/* Builds the body of POST /v1/txs for txs order_[sk][pos, pos + count) into body. */
static size_t txs_body(char *body, uint32_t sk, size_t pos, size_t count)
{
    size_t bl = 0;
    memcpy(body, "{\"txs\":[", 8);
    bl = 8;
    for (size_t i = 0; i < count; i++) {
        const struct txrec *t = &txs_[order_[sk][pos + i]];
        body[bl++] = i ? ',' : ' ';
        body[bl++] = '"';
        sqc_hex_encode(body + bl, 2 * (size_t)t->size + 1, arena_ + t->off, t->size);
        bl += 2 * (size_t)t->size;
        body[bl++] = '"';
    }
    body[bl++] = ']';
    body[bl++] = '}';
    return bl;
}

/* Records the answer to the request of txs [pos, pos + count); false if it must be sent again
 * (429/503, or no JSON answer). */
static bool take_answer(uint32_t sk, size_t pos, size_t count, long status, const char *resp,
                        size_t resp_size, uint32_t *complaints)
{
    json_t *r = status == 200 ? json_loadb(resp, resp_size, 0, NULL) : NULL;
    if (r == NULL) {
        if ((*complaints)++ < 5) {
            fprintf(stderr, "ledger_e2e: validator %u: status %ld\n", sk % V + 1, status);
        }
        return false;
    }
    json_t *res = json_object_get(r, "results");
    for (size_t i = 0; i < count && i < json_array_size(res); i++) {
        struct txrec *t = &txs_[order_[sk][pos + i]];
        json_t *e = json_array_get(res, i);
        if (json_is_string(json_object_get(e, "state"))) {
            __atomic_store_n(&t->state, 2, __ATOMIC_RELEASE);
        } else {
            __atomic_store_n(&t->state, 3, __ATOMIC_RELEASE);
            if ((*complaints)++ < 5) {
                fprintf(stderr, "ledger_e2e: rejected: %s\n",
                        json_string_value(
                            json_object_get(json_object_get(e, "error"), "message")));
            }
        }
    }
    json_decref(r);
    return true;
}

static void mark_sent(uint32_t sk, size_t pos, size_t count, double when)
{
    for (size_t i = 0; i < count; i++) {
        struct txrec *t = &txs_[order_[sk][pos + i]];
        t->sent = when;
        t->state = 1;
    }
}

/* Closed loop: one request in flight, the next leaves when the answer is in. */
static void send_closed(uint32_t sk, struct hconn *hc, char *body)
{
    size_t n = order_count_[sk], pos = 0;
    uint32_t complaints = 0;
    while (!stop_send_ && pos < n) {
        size_t count = n - pos < o_.batch ? n - pos : o_.batch;
        size_t bl = txs_body(body, sk, pos, count);
        mark_sent(sk, pos, count, nt_now());
        long status = 0;
        const char *resp = NULL;
        size_t resp_size = 0;
        int got = hconn_send(hc, "/v1/txs", body, bl) == 0 ? 0 : -1;
        while (got == 0) {
            got = hconn_next(hc, &status, &resp, &resp_size);
            if (got == 0 && hconn_fill(hc) != 0) {
                got = -1;
            }
        }
        if (got == 1 && take_answer(sk, pos, count, status, resp, resp_size, &complaints)) {
            pos += count;
        } else {
            if (got != 1) {
                hconn_close(hc);
            }
            nt_pause_ms(5); /* 429/503: retry the same batch */
        }
    }
}

/* Open loop: each request leaves when its last transaction is due (latency counts from then,
 * so a sender that fell behind does not hide the wait: no coordinated omission), up to PIPE_MAX
 * in flight. A refused request is sent again (the nonce window admits it out of order). */
static void send_open(uint32_t sk, struct hconn *hc, char *body)
{
    size_t n = order_count_[sk], pos = 0;
    double per_tx = (double)S / o_.rate; /* this sender's share */
    size_t fl_pos[PIPE_MAX], fl_count[PIPE_MAX];
    size_t head = 0, inflight = 0;
    size_t retry_pos[PIPE_MAX], retry_count[PIPE_MAX];
    size_t retries = 0;
    uint32_t complaints = 0;
    while (!stop_send_ && (pos < n || inflight > 0 || retries > 0)) {
        double now = nt_now();
        double due = pos < n ? t0_ + (double)(pos + (n - pos < o_.batch ? n - pos : o_.batch)) *
                                         per_tx
                             : now + 3600;
        if (inflight < PIPE_MAX && (retries > 0 || (pos < n && due <= now))) {
            size_t p, count;
            if (retries > 0) {
                retries--;
                p = retry_pos[retries];
                count = retry_count[retries];
            } else {
                p = pos;
                count = n - pos < o_.batch ? n - pos : o_.batch;
                pos += count;
                if (now - due > lag_max_[sk]) {
                    lag_max_[sk] = now - due;
                }
                mark_sent(sk, p, count, due);
            }
            size_t bl = txs_body(body, sk, p, count);
            if (hconn_send(hc, "/v1/txs", body, bl) != 0) {
                /* the connection is gone with what was in flight: send it all again */
                for (size_t i = 0; i < inflight && retries < PIPE_MAX; i++) {
                    size_t k = (head + i) % PIPE_MAX;
                    retry_pos[retries] = fl_pos[k];
                    retry_count[retries++] = fl_count[k];
                }
                inflight = 0;
                if (retries < PIPE_MAX) {
                    retry_pos[retries] = p;
                    retry_count[retries++] = count;
                }
                nt_pause_ms(5);
                continue;
            }
            size_t k = (head + inflight) % PIPE_MAX;
            fl_pos[k] = p;
            fl_count[k] = count;
            inflight++;
            continue;
        }
        /* wait for an answer or the next due time */
        int timeout_ms = inflight < PIPE_MAX && pos < n ? (int)((due - now) * 1000) + 1 : 100;
        if (inflight == 0) {
            nt_pause_ms((unsigned)(timeout_ms > 0 ? timeout_ms : 1));
            continue;
        }
        struct pollfd pf = {.fd = hc->fd, .events = POLLIN};
        if (poll(&pf, 1, timeout_ms > 0 ? timeout_ms : 0) <= 0) {
            continue;
        }
        int got = hconn_fill(hc) == 0 ? 0 : -1;
        long status = 0;
        const char *resp = NULL;
        size_t resp_size = 0;
        while (got == 0 && inflight > 0 &&
               (got = hconn_next(hc, &status, &resp, &resp_size)) == 1) {
            if (!take_answer(sk, fl_pos[head], fl_count[head], status, resp, resp_size,
                             &complaints) &&
                retries < PIPE_MAX) {
                retry_pos[retries] = fl_pos[head];
                retry_count[retries++] = fl_count[head];
            }
            head = (head + 1) % PIPE_MAX;
            inflight--;
            got = 0;
        }
        if (got < 0) {
            hconn_close(hc);
            for (size_t i = 0; i < inflight && retries < PIPE_MAX; i++) {
                size_t k = (head + i) % PIPE_MAX;
                retry_pos[retries] = fl_pos[k];
                retry_count[retries++] = fl_count[k];
            }
            inflight = 0;
            nt_pause_ms(5);
        }
    }
}

static void *send_main(void *arg)
{
    uint32_t sk = (uint32_t)(uintptr_t)arg;
    struct hconn hc = {.fd = -1, .port = net_.rpc[sk % V]};
    char *body = malloc(16 + (size_t)o_.batch * (2 * 256 + 3));
    if (body == NULL) {
        fprintf(stderr, "ledger_e2e: out of memory\n");
        exit(1);
    }
    if (o_.rate > 0) {
        send_open(sk, &hc, body);
    } else {
        send_closed(sk, &hc, body);
    }
    hconn_close(&hc);
    free(hc.buf);
    free(body);
    return NULL;
}

/* ---- the tracker ---- */


static void *track_main(void *arg)
{
    (void)arg;
    struct rpc_client *cli;
    rpc_client_create(&cli, net_.url[0], 30000);
    uint64_t seen = 0;
    nt_heights(&net_, 0, NULL, NULL, &seen);
    char err[256], path[128];
    while (!stop_track_) {
        long status = 0;
        json_t *r = NULL;
        uint64_t fin = seen;
        if (rpc_client_get(cli, "/v1/status", &status, &r, err, sizeof(err)) == SQ_OK &&
            status == 200) {
            fin = (uint64_t)json_integer_value(
                json_object_get(json_object_get(r, "heights"), "final"));
        }
        json_decref(r);
        if (fin <= seen) {
            nt_pause_ms(2);
            continue;
        }
        double now = nt_now();
        while (seen < fin && !stop_track_) {
            snprintf(path, sizeof(path), "/v1/blocks?from=%llu&to=%llu&block=false",
                     (unsigned long long)seen + 1, (unsigned long long)fin);
            if (rpc_client_get(cli, path, &status, &r, err, sizeof(err)) != SQ_OK ||
                status != 200) {
                json_decref(r);
                break;
            }
            json_t *blocks = json_object_get(r, "blocks");
            size_t bi;
            json_t *b;
            json_array_foreach(blocks, bi, b) {
                json_t *list = json_object_get(b, "txs");
                size_t ti;
                json_t *t;
                json_array_foreach(list, ti, t) {
                    uint8_t id[32];
                    size_t sz;
                    const char *hex = json_string_value(json_object_get(t, "id"));
                    if (hex == NULL || sqc_hex_decode(id, 32, hex, 64, &sz) != SQ_OK) {
                        continue;
                    }
                    size_t idx = table_get(id);
                    if (idx == SIZE_MAX) {
                        continue;
                    }
                    bool ok = strcmp(json_string_value(json_object_get(t, "result")), "ok") == 0;
                    txs_[idx].final = now;
                    __atomic_store_n(&txs_[idx].state, ok ? 4 : 5, __ATOMIC_RELEASE);
                }
                seen = (uint64_t)json_integer_value(json_object_get(b, "height"));
            }
            json_decref(r);
        }
    }
    rpc_client_destroy(cli);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Where in time the tail lies: for each second of the window (by send time), to stderr, the
 * transactions sent, their p50/p99/max submit -> final and how many never became final. */
static void print_series(double w0, double w1)
{
    size_t secs = (size_t)(w1 - w0 + 0.5);
    double *lat = malloc(tx_count_ * sizeof(double));
    if (lat == NULL || secs == 0) {
        free(lat);
        return;
    }
    for (size_t k = 0; k < secs; k++) {
        size_t n = 0, lost = 0;
        double a = w0 + (double)k, b = a + 1;
        for (size_t i = 0; i < tx_count_; i++) {
            const struct txrec *t = &txs_[i];
            if (t->state == 0 || t->sent < a || t->sent >= b) {
                continue;
            }
            if (t->state == 4) {
                lat[n++] = (t->final - t->sent) * 1000.0;
            } else {
                lost++;
            }
        }
        qsort(lat, n, sizeof(double), cmp_d);
        fprintf(stderr,
                "ledger_e2e: second %zu: sent %zu p50 %.1f p99 %.1f max %.1f ms, not final %zu\n",
                k, n + lost, n ? lat[n / 2] : -1.0, n ? lat[(size_t)((double)n * 0.99)] : -1.0,
                n ? lat[n - 1] : -1.0, lost);
    }
    free(lat);
}

/* CPU seconds (user + system) a process used so far, from /proc/PID/stat; -1 if unreadable. */
static double proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut = 0, st = 0;
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) != 2) {
        return -1;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
static double machine_busy_s(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) {
        return -1;
    }
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                     &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (got != 8) {
        return -1;
    }
    /* user nice system [idle iowait] irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

struct cpu_mark {
    double validators, bench, machine;
};

static void cpu_mark_take(struct cpu_mark *m)
{
    m->validators = 0;
    for (uint32_t v = 0; v < V; v++) {
        double c = proc_cpu_s(net_.pid[v]);
        m->validators += c > 0 ? c : 0;
    }
    m->bench = proc_cpu_s(getpid());
    m->machine = machine_busy_s();
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1) {
            l = -1;
        }
        fclose(f);
    }
    return l;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"rate", required_argument, NULL, 'r'},      {"seconds", required_argument, NULL, 's'},
        {"warmup", required_argument, NULL, 'w'},    {"accounts", required_argument, NULL, 'a'},
        {"batch", required_argument, NULL, 'b'},     {"squalld", required_argument, NULL, 'x'},
        {"config", required_argument, NULL, 'c'},    {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            o_.rate = atof(optarg);
            break;
        case 's':
            o_.seconds = atof(optarg);
            break;
        case 'w':
            o_.warmup = atof(optarg);
            break;
        case 'a':
            o_.accounts = (uint32_t)atoi(optarg);
            break;
        case 'b':
            o_.batch = (uint32_t)atoi(optarg);
            break;
        case 'x':
            o_.squalld = optarg;
            break;
        case 'c':
            o_.config_extra = optarg;
            break;
        case 'k':
            o_.keep = true;
            break;
        default:
            fprintf(stderr, "usage: ledger_e2e [--rate TX/S (0: closed loop)] [--seconds S] "
                            "[--warmup S] [--accounts A] [--batch B] [--squalld PATH] "
                            "[--config INI-TEXT] [--keep (the testnet folder)]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (o_.batch == 0) {
        /* Open loop: about 20 ms of one sender's share per request (HTTP per request is the
         * client's cost; latency is counted from the send); closed loop: large requests. */
        double b = o_.rate > 0 ? o_.rate / S * 0.02 : 500;
        o_.batch = b < 1 ? 1 : b > 1000 ? 1000 : (uint32_t)b;
    }
    if (o_.accounts < S || o_.seconds <= 0) {
        fprintf(stderr, "ledger_e2e: bad options\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    double total_s = o_.seconds + o_.warmup;
    double cap_rate = o_.rate > 0 ? o_.rate : 30000;
    tx_count_ = (size_t)(cap_rate * total_s * 1.05);
    tx_count_ -= tx_count_ % o_.accounts;
    if (tx_count_ < o_.accounts) {
        tx_count_ = o_.accounts;
    }
    keys_ = calloc(o_.accounts, sizeof(*keys_));
    struct ldg_balance *bal = calloc(o_.accounts, sizeof(*bal));
    txs_ = calloc(tx_count_, sizeof(*txs_));
    arena_ = malloc(tx_count_ * 256);
    size_t tsize = 16;
    while (tsize < tx_count_ * 2) {
        tsize <<= 1;
    }
    table_ = malloc(tsize * sizeof(*table_));
    table_mask_ = tsize - 1;
    if (keys_ == NULL || bal == NULL || txs_ == NULL || arena_ == NULL || table_ == NULL) {
        fprintf(stderr, "ledger_e2e: out of memory\n");
        return 1;
    }
    memset(table_, 0xff, tsize * sizeof(*table_));
    for (uint32_t i = 0; i < o_.accounts; i++) {
        uint8_t seed[32] = {0};
        seed[0] = (uint8_t)i;
        seed[1] = (uint8_t)(i >> 8);
        seed[2] = (uint8_t)(i >> 16);
        seed[3] = 0xbe;
        sqc_keypair_from_seed(&keys_[i], seed);
        memcpy(bal[i].pk, keys_[i].pk, 32);
        bal[i].amount = 1000000000;
    }
    char extra[512];
    snprintf(extra, sizeof(extra), "[node]\nlog_level = warn\n[mempool]\ntxs_max = 200000\n%s\n",
             o_.config_extra ? o_.config_extra : "");
    if (nt_make(&net_, o_.squalld, V, 0, 0, bal, o_.accounts, extra) != 0) {
        return 1;
    }
    double ts = nt_now();
    pthread_t sg[2];
    struct sign_arg sa[2] = {{0, tx_count_ / 2}, {tx_count_ / 2, tx_count_}};
    for (int i = 0; i < 2; i++) {
        pthread_create(&sg[i], NULL, sign_main, &sa[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(sg[i], NULL);
    }
    fprintf(stderr, "ledger_e2e: signed %zu transfers from %u accounts in %.1f s\n", tx_count_,
            o_.accounts, nt_now() - ts);
    for (size_t i = 0; i < tx_count_; i++) {
        table_put(i);
    }
    for (uint32_t k = 0; k < S; k++) {
        order_[k] = malloc(tx_count_ * sizeof(size_t));
    }
    for (size_t i = 0; i < tx_count_; i++) {
        uint32_t k = (uint32_t)((i % o_.accounts) % S);
        order_[k][order_count_[k]++] = i;
    }
    for (uint32_t v = 0; v < V; v++) {
        if (nt_start(&net_, v) != 0) {
            return 1;
        }
    }
    for (uint32_t v = 0; v < V; v++) {
        if (!nt_wait_ready(&net_, v, 60)) {
            fprintf(stderr, "ledger_e2e: validator %u not ready (logs in %s)\n", v + 1, net_.dir);
            nt_destroy(&net_, true);
            return 1;
        }
    }
    double load_before = loadavg1();
    t0_ = nt_now();
    pthread_t snd[S], trk;
    pthread_create(&trk, NULL, track_main, NULL);
    for (uint32_t k = 0; k < S; k++) {
        pthread_create(&snd[k], NULL, send_main, (void *)(uintptr_t)k);
    }
    /* CPU over the measured window: the validators', the bench's own (senders and tracker) and
     * the whole machine's, so a figure can be read against what else ran. */
    struct cpu_mark c0 = {0}, c1 = {0};
    bool c0_taken = false;
    double end = t0_ + total_s;
    while (nt_now() < end) {
        if (!c0_taken && nt_now() >= t0_ + o_.warmup) {
            cpu_mark_take(&c0);
            c0_taken = true;
        }
        nt_pause_ms(100);
    }
    cpu_mark_take(&c1);
    if (!c0_taken) {
        c0 = c1;
    }
    /* Stop the senders, then give the tracker a bounded moment for the window's last blocks. */
    stop_send_ = 1;
    for (uint32_t k = 0; k < S; k++) {
        pthread_join(snd[k], NULL);
    }
    double drain = nt_now() + 3;
    while (nt_now() < drain) {
        nt_pause_ms(100);
    }
    stop_track_ = 1;
    pthread_join(trk, NULL);
    double load_after = loadavg1();
    double lag = 0;
    for (uint32_t k = 0; k < S; k++) {
        lag = lag_max_[k] > lag ? lag_max_[k] : lag;
    }
    /* Measure over [t0 + warmup, t0 + total): final transactions per second by final time, and
     * latency of those sent in the window. */
    double w0 = t0_ + o_.warmup, w1 = t0_ + total_s;
    size_t final_in = 0, sent_in = 0, accepted = 0, rejected = 0, failed = 0, lat_n = 0;
    double *lat = malloc(tx_count_ * sizeof(double));
    for (size_t i = 0; i < tx_count_; i++) {
        struct txrec *t = &txs_[i];
        if (t->state == 0) {
            continue;
        }
        bool in = t->sent >= w0 && t->sent < w1;
        sent_in += in;
        accepted += t->state >= 2 && t->state != 3;
        rejected += t->state == 3;
        failed += t->state == 5;
        if (t->state == 4 && t->final >= w0 && t->final < w1) {
            final_in++;
        }
        if (in && t->state == 4) {
            lat[lat_n++] = (t->final - t->sent) * 1000.0;
        }
    }
    print_series(w0, w1);
    qsort(lat, lat_n, sizeof(double), cmp_d);
    double vcpu = c1.validators - c0.validators;
    double p50 = lat_n ? lat[lat_n / 2] : -1;
    double p99 = lat_n ? lat[(size_t)((double)lat_n * 0.99)] : -1;
    double p999 = lat_n ? lat[(size_t)((double)lat_n * 0.999)] : -1;
    uint64_t heights[3] = {0};
    nt_heights(&net_, 0, &heights[0], &heights[1], &heights[2]);
    printf("{\"bench\":\"ledger_e2e\",\"mode\":\"%s\",\"rate\":%.0f,\"validators\":%d,"
           "\"seconds\":%.0f,\"warmup\":%.0f,\"accounts\":%u,\"batch\":%u,\"final_tps\":%.0f,"
           "\"sent_in_window\":%zu,\"accepted\":%zu,\"rejected\":%zu,\"failed\":%zu,"
           "\"latency_samples\":%zu,\"p50_ms\":%.1f,\"p99_ms\":%.1f,\"p999_ms\":%.1f,"
           "\"final_height\":%llu,\"sender_lag_max_ms\":%.1f,\"loadavg_before\":%.2f,"
           "\"loadavg_after\":%.2f,\"validators_cpu_s\":%.1f,\"bench_cpu_s\":%.1f,"
           "\"machine_busy_cpu_s\":%.1f,\"validators_cpu_us_per_final_tx\":%.1f}\n",
           o_.rate > 0 ? "open" : "closed", o_.rate, V, o_.seconds, o_.warmup, o_.accounts,
           o_.batch, (double)final_in / o_.seconds, sent_in, accepted, rejected, failed, lat_n,
           p50, p99, p999, (unsigned long long)heights[2], lag * 1000, load_before, load_after,
           vcpu, c1.bench - c0.bench, c1.machine - c0.machine,
           final_in > 0 ? vcpu * 1e6 / (double)final_in : -1);
    fflush(stdout);
    /* Where the time goes, by stage, as validator 1 measured it (from admission). */
    char *text = NULL;
    long st = 0;
    if (nt_get_raw(&net_, 0, "/metrics", &st, &text) == 0) {
        for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            if (strstr(line, "latency_seconds_sum") || strstr(line, "latency_seconds_count") ||
                strstr(line, "commits_total") ||
                strstr(line, "commit_seconds") || strstr(line, "blocks_total") ||
                strstr(line, "batches_sent") || strstr(line, "view_changes_total ")) {
                fprintf(stderr, "ledger_e2e: v1 %s\n", line);
            }
        }
        free(text);
    }
    if (o_.keep) {
        fprintf(stderr, "ledger_e2e: testnet kept in %s\n", net_.dir);
    }
    nt_destroy(&net_, o_.keep);
    free(lat);
    return 0;
}
