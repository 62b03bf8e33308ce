/* One member of a multicast group in its own process, over TCP on 127.0.0.1: the worker behind
 * bench/multicast_bench and tests/integration/consensus. Not an operator tool.
 *
 *   mc_member --id I --ports P0,P1,... --listen-fd FD [workload options]
 *
 * Workload: --count C (send C messages, then finish when every member's messages are delivered
 * and persisted everywhere) or --seconds S (send for S seconds, measure the last S - warmup).
 * --size-min/--size-max choose sizes uniformly; --rate R paces sends (0: as fast as flow control
 * allows); --senders K makes only ids < K send. --durable FILE appends every delivered message to
 * FILE with group commit and fdatasync on a persistence thread and reports the persisted version to
 * the group; otherwise a delivery is reported persisted at once (the frontier is then "delivered
 * at every member").
 *
 * Prints one JSON line ("frontier_per_s": how many versions the persistence frontier, the minimum
 * over the members, passed per second of the measured window): delivered count and bytes, a
 * SHA-256 digest of the delivered sequence
 * (each delivery's version, sender and size, and its payload, or only the first N payload bytes
 * with --digest-bytes N: the first 24 bytes carry sender, size, counter and send time, which is
 * enough to compare orders, while hashing every byte of large messages took most of a core),
 * throughput over the measured window and the latency from send to the frontier passing the
 * message (p50/p99, measured by the sender on its own messages).
 *
 * For view-change tests and bench/viewchange_bench:
 *   --hosts H0,H1,...   each member's IPv4 address (default 127.0.0.1 for all); without
 *                       --listen-fd the member binds its own entry (host:port) itself.
 *   --events-fd FD | --events FILE
 *                       one line per event, each starting with CLOCK_MONOTONIC nanoseconds (the
 *                       same clock in every process of the machine, so a parent can compare):
 *                         T READY members=N                   every peer is up, the load starts
 *                         T WEDGED vid=V failed=ID reason=R   the view wedged (first time per view)
 *                         T TRIM vid=V senders=S trim=a,b,..  the ragged-edge trim was decided
 *                         T VIEW vid=V members=N ids=a,b,.. prev_vid=P prev_count=C
 *                               prev_digest=HEX total=D       a view was installed; C messages were
 *                               prev_last_ns=T2               delivered in view P (SHA-256 HEX, the
 *                                                             last at T2)
 *                         T STOP reason=R rule=majority|excluded|other vid=V view_count=C
 *                               view_digest=HEX total=D why="..."   the member stopped for good
 *                         T PROGRESS vid=V view_count=C total=D   every 100 ms while running
 *                         T END vid=V view_count=C view_digest=HEX total=D after_stop=K
 *                         T BINS base=T0 width_ns=W first=F c0,c1,...  deliveries per W-ns bin from
 *                                                             T0 (bins F, F+1, ...)
 *                         T BINSX ... (the same)               only messages not sent by the
 *                                                             member named by --bins-exclude
 *                         T LOG <log line>                    with --trace: the group's log
 *   --bins-exclude ID   also count deliveries of every sender but ID (BINSX): the traffic that
 *                       survives when ID is the member a test kills.
 *   --linger-ms MS      after stopping for good, keep the loop running MS ms before exiting
 *                       (a delivery in that time would show as after_stop > 0).
 *   --rejoin 1          after a stop (majority rule or exclusion) and --linger-ms (default 500),
 *                       join the running group again as a new incarnation: the group ships the
 *                       log lines this member lacks by state transfer (every member keeps its
 *                       --log in memory and serves it), then it delivers and sends again. Events:
 *                         T REJOIN vid=V total=D after_stop=K  the old group is left
 *                         T SYNCED from=A to=B              state transfer ended (A = -1: nothing
 *                                                           was missing)
 *                         T STATE_SENT joiner=J to=B        this member sent a joiner its state
 *                       Needs --log; not with --durable.
 *   --trace             route the group's debug-level log (proposal, commit, wedge, install, the
 *                       driver's long polls) into the event stream, stamped with the monotonic
 *                       clock.
 * SIGTERM or SIGINT ends the run early and cleanly: the member stops sending and prints its
 * results (and END/BINS events) as at a normal end. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "base/prng.h"
#include "consensus/consensus.h"
#include "crypto/crypto.h"
#include "node/group_driver.h"

#define LAT_MAX (1u << 21)
#define HDR 24

struct opts {
    uint32_t id;
    uint32_t n;
    uint16_t ports[SQ_MEMBERS_MAX];
    int listen_fd;
    uint64_t count;
    double seconds;
    double warmup;
    uint32_t size_min, size_max;
    uint32_t large_size, large_every; /* every large_every-th message is large_size bytes */
    double rate;
    uint32_t senders;
    const char *durable;
    uint32_t smc;
    uint32_t window;
    uint32_t block;
    uint64_t digest_bytes; /* payload bytes of each delivery in the digest */
    const char *log;      /* one line per delivery: version sender counter size */
    uint32_t timeout_ms;  /* failure timeout */
    char hosts[SQ_MEMBERS_MAX][NET_HOST_BYTES_MAX];
    int events_fd;        /* event lines (see above); -1 none */
    uint32_t linger_ms;   /* after a stop for good */
    int64_t bins_exclude; /* -1: none */
    bool trace;
    bool rejoin; /* after a stop, join the running group again (needs --log) */
};

#define BIN_NS (10 * SQ_NS_PER_MS)
#define BINS_MAX 12000 /* 120 s of 10 ms bins */

/* Persistence thread. The loop appends each delivery's record to `stage` (no lock, no
 * allocation per message) and hands the whole stage over once per loop pass; the thread writes
 * everything handed over since its last pass in one append and one fdatasync (group commit). */
struct pbuf {
    uint8_t *data;
    size_t len, cap;
};

/* The file, written with O_DIRECT where the file system allows it: the page cache copy of
 * every byte (and the writeback behind it) cost more CPU than the protocol itself at ~60 MB/s per
 * member. Direct writes must be whole aligned blocks, so the last partial block is kept in `wbuf`
 * and written again, completed, with the next batch (its earlier bytes are rewritten unchanged, so
 * even a torn write cannot damage records already reported persisted); the file is cut to its
 * exact length at close. A crash may leave zero padding after the last record, up to the next
 * block. */
#define DIRECT_ALIGN 4096u

struct pfile {
    int fd;
    bool direct;
    uint8_t *wbuf; /* DIRECT_ALIGN-aligned; starts with the partial tail block */
    size_t wcap;
    size_t tail;   /* bytes of the partial tail block at the front of wbuf */
    off_t off;     /* file offset of wbuf[0] (aligned) */
};

static int pfile_open(struct pfile *f, const char *path)
{
    memset(f, 0, sizeof(*f));
    f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0600);
    f->direct = f->fd >= 0;
    if (f->fd < 0) {
        f->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    }
    return f->fd;
}

static void write_all(int fd, const uint8_t *p, size_t n, off_t off, bool positional)
{
    for (size_t done = 0; done < n;) {
        ssize_t w = positional ? pwrite(fd, p + done, n - done, off + (off_t)done)
                               : write(fd, p + done, n - done);
        if (w <= 0) {
            fprintf(stderr, "mc_member: write failed: %s\n", strerror(errno));
            exit(3); /* a failed write is fatal: never report it persisted */
        }
        done += (size_t)w;
    }
}

/* Appends `n` bytes; durable once pfile_sync returns. */
static void pfile_append(struct pfile *f, const uint8_t *p, size_t n)
{
    if (!f->direct) {
        write_all(f->fd, p, n, 0, false);
        return;
    }
    size_t valid = f->tail + n;
    size_t len = (valid + DIRECT_ALIGN - 1) / DIRECT_ALIGN * DIRECT_ALIGN;
    if (len > f->wcap) {
        uint8_t *nb = aligned_alloc(DIRECT_ALIGN, len);
        SQ_ASSERT(nb != NULL);
        if (f->tail > 0) {
            memcpy(nb, f->wbuf, f->tail);
        }
        free(f->wbuf);
        f->wbuf = nb;
        f->wcap = len;
    }
    memcpy(f->wbuf + f->tail, p, n);
    memset(f->wbuf + valid, 0, len - valid);
    write_all(f->fd, f->wbuf, len, f->off, true);
    size_t full = valid / DIRECT_ALIGN * DIRECT_ALIGN;
    memmove(f->wbuf, f->wbuf + full, valid - full);
    f->tail = valid - full;
    f->off += (off_t)full;
}

static void pfile_sync(struct pfile *f)
{
    if (fdatasync(f->fd) != 0) {
        fprintf(stderr, "mc_member: fdatasync failed: %s\n", strerror(errno));
        exit(3);
    }
}

/* Cuts the padding of the last block and closes. */
static void pfile_close(struct pfile *f)
{
    if (f->direct && ftruncate(f->fd, f->off + (off_t)f->tail) != 0) {
        fprintf(stderr, "mc_member: ftruncate failed: %s\n", strerror(errno));
        exit(3);
    }
    close(f->fd);
    free(f->wbuf);
}

struct persister {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pbuf stage;   /* loop thread only */
    int64_t stage_last;  /* version of the last record in stage */
    struct pbuf handed;  /* under mu: handed over, not yet taken by the thread */
    int64_t handed_last;
    bool stop;
    struct pfile file;
    struct sq_loop *loop;
    int64_t done_version; /* written by the thread, read on the loop via a post */
    pthread_t th;
    uint64_t syncs;
};

/* Bytes handed over and not yet taken past which delivery waits for the disk (back-pressure). */
#define PERSIST_HANDED_MAX (16u << 20)
/* A stage this large is handed over at once rather than at the end of the loop pass. */
#define PERSIST_STAGE_FLUSH (1u << 20)

static void pbuf_reserve(struct pbuf *b, size_t more)
{
    if (b->len + more <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + more) {
        cap *= 2;
    }
    b->data = realloc(b->data, cap);
    SQ_ASSERT(b->data != NULL);
    b->cap = cap;
}

static void pbuf_swap(struct pbuf *a, struct pbuf *b)
{
    struct pbuf t = *a;
    *a = *b;
    *b = t;
}

struct member {
    struct opts o;
    struct sq_loop *loop;
    struct node_gd *gd;
    struct grp_group *g;
    struct sq_prng prng;
    struct sqc_sha256 digest;
    uint64_t sent;
    uint64_t next_send_ns;
    uint64_t start_ns, measure_from_ns, measure_to_ns, end_send_ns;
    uint64_t delivered, delivered_bytes;
    uint64_t win_delivered, win_bytes;
    int64_t last_version;
    int64_t frontier;
    int64_t frontier_from, frontier_to; /* the frontier at the measured window's ends */
    /* own messages awaiting the frontier: (version, send time) */
    int64_t *own_version;
    uint64_t *own_ts;
    uint64_t own_head, own_tail;
    uint64_t *lat;
    uint64_t lat_count;
    bool started; /* every peer is up and the clock has started */
    bool finishing;
    bool wedged;
    struct sq_timer tick;
    struct sq_timer stop_timer;
    struct persister *ps;
    uint8_t *pattern; /* pattern[j] = j mod 256, for every message size plus 256 */
    FILE *logf;
    uint64_t from[SQ_MEMBERS_MAX]; /* deliveries per sender */
    uint64_t views;
    /* per-view record for the event stream */
    struct sqc_sha256 view_digest;
    uint64_t view_count;
    uint64_t view_vid;
    uint64_t view_last_ns; /* time of the last delivery in the current view */
    uint64_t wedged_vid; /* last view a WEDGED event was written for, plus one */
    bool stopped;
    uint64_t after_stop; /* deliveries after the stop (must stay 0) */
    uint32_t *bins;      /* deliveries per BIN_NS since bins_base */
    uint32_t *bins_x;    /* the same, without sender o.bins_exclude */
    uint64_t bins_base;
    uint64_t next_progress_ns;
    uint64_t pass_ns; /* the clock at the end of the last loop pass, or a later reading */
    /* The delivery log kept in memory (with --log): its lines, and where the line of each version
     * starts (versions are dense from 0). It is the state a joiner is sent (§5.9). */
    struct pbuf hist;
    size_t *hist_off;
    size_t hist_count, hist_off_cap;
    struct state_out {
        bool open;
        uint32_t joiner;
        int64_t next, to;
    } xfers[SQ_MEMBERS_MAX];
    struct node_gd_config gd_cfg; /* kept for a rejoin */
    struct sq_timer rejoin_timer;
    int64_t synced_from; /* first version received by state transfer in this join (-1: none) */
};

static uint64_t now_ns(void)
{
    return sq_clock_now(sq_clock_monotonic());
}

static int g_events_fd = -1;

/* One event line, "<monotonic ns> <text>\n", in one write (atomic on a pipe below PIPE_BUF). */
static void ev_write(const char *text, size_t len)
{
    if (g_events_fd < 0) {
        return;
    }
    char line[4096];
    int k = snprintf(line, sizeof(line), "%llu ", (unsigned long long)now_ns());
    if (k < 0) {
        return;
    }
    size_t n = (size_t)k;
    if (len > sizeof(line) - n - 1) {
        len = sizeof(line) - n - 1;
    }
    memcpy(line + n, text, len);
    n += len;
    if (n == 0 || line[n - 1] != '\n') {
        line[n++] = '\n';
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(g_events_fd, line + done, n - done);
        if (w <= 0) {
            if (w < 0 && errno == EINTR) {
                continue;
            }
            return; /* the reader went away: events are best effort */
        }
        done += (size_t)w;
    }
}

static void ev_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ev_printf(const char *fmt, ...)
{
    char text[3072];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (k > 0) {
        ev_write(text, (size_t)k < sizeof(text) ? (size_t)k : sizeof(text) - 1);
    }
}

static void trace_sink(void *arg, enum sq_log_level level, const char *line, size_t len)
{
    (void)arg;
    (void)level;
    char text[SQ_LOG_LINE_MAX + 8];
    memcpy(text, "LOG ", 4);
    if (len > SQ_LOG_LINE_MAX) {
        len = SQ_LOG_LINE_MAX;
    }
    memcpy(text + 4, line, len);
    ev_write(text, len + 4);
}

/* Delivery counts per bin as event lines of 200 bins each (below the pipe's atomic write size). */
static void bins_write(const char *kind, const uint32_t *bins, uint64_t base, uint64_t used)
{
    for (uint64_t from = 0; from < used; from += 200) {
        char text[3072];
        int off = snprintf(text, sizeof(text), "%s base=%llu width_ns=%llu first=%llu ", kind,
                           (unsigned long long)base, (unsigned long long)BIN_NS,
                           (unsigned long long)from);
        for (uint64_t b = from; b < used && b < from + 200 && off > 0 &&
                                (size_t)off < sizeof(text) - 16;
             b++) {
            off += snprintf(text + off, sizeof(text) - (size_t)off, "%s%u", b > from ? "," : "",
                            bins[b]);
        }
        if (off > 0) {
            ev_write(text, (size_t)off);
        }
    }
}

/* Closes the current view's digest into `hex` and starts the next one. */
static void view_digest_roll(struct member *m, char hex[2 * SQC_HASH_BYTES + 1])
{
    uint8_t d[SQC_HASH_BYTES];
    sqc_sha256_final(&m->view_digest, d);
    sqc_hex_encode(hex, 2 * SQC_HASH_BYTES + 1, d, sizeof(d));
    SQ_ASSERT(sqc_sha256_init(&m->view_digest) == SQ_OK);
}

/* ---- persistence thread ---- */

static void persisted_on_loop(struct sq_loop *loop, void *arg)
{
    (void)loop;
    struct member *m = arg;
    int64_t v = __atomic_load_n(&m->ps->done_version, __ATOMIC_ACQUIRE);
    if (v > m->last_version) {
        v = m->last_version;
    }
    grp_report_persisted(m->g, v);
    node_gd_kick(m->gd);
}

static void *persist_main(void *arg)
{
    struct member *m = arg;
    struct persister *ps = m->ps;
    struct pbuf out = {0};
    for (;;) {
        pthread_mutex_lock(&ps->mu);
        while (ps->handed.len == 0 && !ps->stop) {
            pthread_cond_wait(&ps->cv, &ps->mu);
        }
        if (ps->handed.len == 0 && ps->stop) {
            pthread_mutex_unlock(&ps->mu);
            break;
        }
        out.len = 0;
        pbuf_swap(&out, &ps->handed);
        int64_t last = ps->handed_last;
        pthread_cond_broadcast(&ps->cv);
        pthread_mutex_unlock(&ps->mu);
        /* Group commit: everything handed over goes out in one append and one fdatasync. */
        pfile_append(&ps->file, out.data, out.len);
        pfile_sync(&ps->file);
        ps->syncs++;
        __atomic_store_n(&ps->done_version, last, __ATOMIC_RELEASE);
        while (sq_loop_post(ps->loop, persisted_on_loop, m) == SQ_EFULL) {
            usleep(100);
        }
    }
    free(out.data);
    return NULL;
}

/* Hands the stage to the persistence thread (on the loop). */
static void persist_flush(struct persister *ps)
{
    if (ps->stage.len == 0) {
        return;
    }
    pthread_mutex_lock(&ps->mu);
    while (ps->handed.len >= PERSIST_HANDED_MAX) {
        pthread_cond_wait(&ps->cv, &ps->mu); /* back-pressure on delivery */
    }
    if (ps->handed.len == 0) {
        pbuf_swap(&ps->handed, &ps->stage);
    } else {
        pbuf_reserve(&ps->handed, ps->stage.len);
        memcpy(ps->handed.data + ps->handed.len, ps->stage.data, ps->stage.len);
        ps->handed.len += ps->stage.len;
    }
    ps->handed_last = ps->stage_last;
    pthread_cond_signal(&ps->cv);
    pthread_mutex_unlock(&ps->mu);
    ps->stage.len = 0;
}

/* ---- the delivery log, and state transfer of it to joiners (PROTOCOL.md §5.9) ---- */

/* Appends the line of `version` (the next one) to the log file and to its copy in memory. */
static void log_append(struct member *m, int64_t version, const char *line, size_t len)
{
    SQ_ASSERT(version == (int64_t)m->hist_count);
    if (fwrite(line, 1, len, m->logf) != len) {
        fprintf(stderr, "mc_member %u: cannot write the log: %s\n", m->o.id, strerror(errno));
        exit(1);
    }
    pbuf_reserve(&m->hist, len);
    if (m->hist_count == m->hist_off_cap) {
        m->hist_off_cap = m->hist_off_cap ? 2 * m->hist_off_cap : 4096;
        m->hist_off = realloc(m->hist_off, m->hist_off_cap * sizeof(size_t));
        SQ_ASSERT(m->hist_off != NULL);
    }
    m->hist_off[m->hist_count++] = m->hist.len;
    memcpy(m->hist.data + m->hist.len, line, len);
    m->hist.len += len;
}

/* Sends what the group takes of the open transfers: chunks of whole log lines. */
static void xfers_pump(struct member *m)
{
    size_t chunk_max = grp_state_chunk_max(m->g);
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX; i++) {
        struct state_out *x = &m->xfers[i];
        while (x->open) {
            /* The lines of versions [next, end) that fit one chunk (at least one line). */
            int64_t end = x->next;
            size_t from = x->next <= x->to ? m->hist_off[x->next] : 0;
            size_t upto = from;
            while (end <= x->to) {
                size_t stop = end + 1 < (int64_t)m->hist_count ? m->hist_off[end + 1] : m->hist.len;
                if (stop - from > chunk_max && end > x->next) {
                    break;
                }
                upto = stop;
                end++;
            }
            bool last = end > x->to;
            int rc = grp_state_send(m->g, x->joiner, m->hist.data + from, upto - from,
                                    last);
            if (rc == SQ_EAGAIN) {
                break;
            }
            if (rc != SQ_OK) {
                fprintf(stderr, "mc_member %u: state transfer to %u ended: %s\n", m->o.id,
                        x->joiner, sq_errname(rc));
                x->open = false;
                break;
            }
            x->next = end;
            if (last) {
                ev_printf("STATE_SENT joiner=%u to=%lld", x->joiner, (long long)x->to);
                x->open = false;
            }
        }
    }
}

static void on_state_request(void *ctx, uint32_t joiner_id, int64_t from_version,
                             int64_t to_version)
{
    struct member *m = ctx;
    if (m->logf == NULL || to_version >= (int64_t)m->hist_count || from_version < 0) {
        fprintf(stderr, "mc_member %u: cannot send versions %lld..%lld to %u (no log, or not "
                        "all of it here)\n", m->o.id, (long long)from_version,
                (long long)to_version, joiner_id);
        exit(1);
    }
    struct state_out *x = NULL;
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX && x == NULL; i++) {
        if (m->xfers[i].open && m->xfers[i].joiner == joiner_id) {
            x = &m->xfers[i]; /* it asked again: start over from what it says it lacks */
        }
    }
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX && x == NULL; i++) {
        if (!m->xfers[i].open) {
            x = &m->xfers[i];
        }
    }
    SQ_ASSERT(x != NULL);
    *x = (struct state_out){.open = true, .joiner = joiner_id, .next = from_version,
                            .to = to_version};
    xfers_pump(m);
}

/* Takes the log lines a member sent: versions this member already holds are skipped, the rest
 * must follow its log without a gap. */
static void on_state_receive(void *ctx, const uint8_t *data, size_t size, bool last)
{
    struct member *m = ctx;
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        long long v = -1;
        if (nl == NULL || sscanf(p, "%lld ", &v) != 1 || v < 0) {
            fprintf(stderr, "mc_member %u: a malformed state chunk\n", m->o.id);
            exit(1);
        }
        if (v > m->last_version) {
            if (v != m->last_version + 1) {
                fprintf(stderr, "mc_member %u: state transfer skipped from %lld to %lld\n",
                        m->o.id, (long long)m->last_version, v);
                exit(1);
            }
            if (m->synced_from < 0) {
                m->synced_from = v;
            }
            log_append(m, v, p, (size_t)(nl + 1 - p));
            m->last_version = v;
        }
        p = nl + 1;
    }
    grp_report_persisted(m->g, m->last_version);
    if (last) {
        ev_printf("SYNCED from=%lld to=%lld", (long long)m->synced_from,
                  (long long)m->last_version);
    }
}

/* The group went on from a shorter log than this member's (a total restart): drop the rest. */
static void on_truncate(void *ctx, int64_t keep_version)
{
    struct member *m = ctx;
    SQ_ASSERT(keep_version < m->last_version);
    size_t cut = m->hist_off[keep_version + 1];
    if (fflush(m->logf) != 0 || ftruncate(fileno(m->logf), (off_t)cut) != 0 ||
        fseek(m->logf, 0, SEEK_END) != 0) {
        fprintf(stderr, "mc_member %u: cannot truncate the log: %s\n", m->o.id, strerror(errno));
        exit(1);
    }
    m->hist.len = cut;
    m->hist_count = (size_t)(keep_version + 1);
    m->last_version = keep_version;
    ev_printf("TRUNCATE keep=%lld", (long long)keep_version);
}

/* ---- group upcalls ---- */

static void on_deliver(void *ctx, uint32_t shard, uint32_t sender_id, uint64_t vid, int64_t seq,
                       int64_t version, const uint8_t *data, size_t size)
{
    (void)shard;
    (void)vid;
    (void)seq;
    struct member *m = ctx;
    uint8_t meta[16];
    sq_le64_store(meta, (uint64_t)version);
    sq_le32_store(meta + 8, sender_id);
    sq_le32_store(meta + 12, (uint32_t)size);
    sqc_sha256_update(&m->digest, meta, sizeof(meta));
    size_t hashed = size < m->o.digest_bytes ? size : (size_t)m->o.digest_bytes;
    sqc_sha256_update(&m->digest, data, hashed);
    if (g_events_fd >= 0) {
        /* Only the event stream reports the per-view digest and the last delivery's time: a
         * benchmark without it pays for neither per delivery. */
        sqc_sha256_update(&m->view_digest, meta, sizeof(meta));
        sqc_sha256_update(&m->view_digest, data, hashed);
        m->view_last_ns = now_ns();
    }
    m->view_count++;
    if (m->stopped) {
        m->after_stop++;
    }
    m->delivered++;
    m->delivered_bytes += size;
    if (sender_id < SQ_MEMBERS_MAX) {
        m->from[sender_id]++;
    }
    if (m->logf != NULL) {
        char line[96];
        int k = snprintf(line, sizeof(line), "%lld %u %llu %zu\n", (long long)version, sender_id,
                         size >= HDR ? (unsigned long long)sq_le64_load(data + 8) : 0ull, size);
        SQ_ASSERT(k > 0 && (size_t)k < sizeof(line));
        log_append(m, version, line, (size_t)k);
    }
    m->last_version = version;
    /* The clock is read once per pass and every 64 deliveries, not per delivery, where it only
     * places deliveries in the measured window; the event stream's time bins read it each time. */
    if (m->bins != NULL || (m->delivered & 63) == 0) {
        m->pass_ns = now_ns();
    }
    uint64_t t = m->pass_ns;
    if (m->bins != NULL && t >= m->bins_base && (t - m->bins_base) / BIN_NS < BINS_MAX) {
        m->bins[(t - m->bins_base) / BIN_NS]++;
        if ((int64_t)sender_id != m->o.bins_exclude) {
            m->bins_x[(t - m->bins_base) / BIN_NS]++;
        }
    }
    if (t >= m->measure_from_ns && t <= m->measure_to_ns) {
        m->win_delivered++;
        m->win_bytes += size;
    }
    if (sender_id == m->o.id && size >= HDR) {
        uint64_t i = m->own_tail % LAT_MAX;
        m->own_version[i] = version;
        m->own_ts[i] = sq_le64_load(data + 16);
        m->own_tail++;
    }
    if (m->ps != NULL) {
        struct persister *ps = m->ps;
        pbuf_reserve(&ps->stage, 12 + size);
        uint8_t *rec = ps->stage.data + ps->stage.len;
        sq_le64_store(rec, (uint64_t)version);
        sq_le32_store(rec + 8, (uint32_t)size);
        if (size > 0) {
            memcpy(rec + 12, data, size);
        }
        ps->stage.len += 12 + size;
        ps->stage_last = version;
        if (ps->stage.len >= PERSIST_STAGE_FLUSH) {
            persist_flush(ps);
        }
    } else {
        grp_report_persisted(m->g, version);
    }
}

static void on_persisted(void *ctx, uint32_t shard, int64_t version)
{
    (void)shard;
    struct member *m = ctx;
    m->frontier = version;
    uint64_t t = now_ns();
    /* The frontier's advance across the measured window: messages durable at every member. */
    if (t < m->measure_from_ns) {
        m->frontier_from = version;
    } else if (t <= m->measure_to_ns) {
        m->frontier_to = version;
    }
    while (m->own_head < m->own_tail && m->own_version[m->own_head % LAT_MAX] <= version) {
        uint64_t ts = m->own_ts[m->own_head % LAT_MAX];
        if (ts >= m->measure_from_ns && ts <= m->measure_to_ns && m->lat_count < LAT_MAX) {
            m->lat[m->lat_count++] = t - ts;
        }
        m->own_head++;
    }
}

static void on_wedged(void *ctx, uint32_t failed_id, int reason)
{
    struct member *m = ctx;
    uint64_t vid = grp_view(m->g)->vid;
    if (m->wedged_vid != vid + 1) {
        m->wedged_vid = vid + 1;
        ev_printf("WEDGED vid=%llu failed=%d reason=%s", (unsigned long long)vid,
                  failed_id == UINT32_MAX ? -1 : (int)failed_id, sq_errname(reason));
    }
    if (!m->finishing) {
        fprintf(stderr, "mc_member %u: view wedged (member %u, %s)\n", m->o.id, failed_id,
                sq_errname(reason));
    }
}

static void on_trim(void *ctx, uint64_t vid, uint32_t shard, const int64_t *trim,
                    uint32_t senders)
{
    (void)ctx;
    (void)shard;
    char list[SQ_MEMBERS_MAX * 24] = "";
    size_t off = 0;
    for (uint32_t k = 0; k < senders && off < sizeof(list); k++) {
        int w = snprintf(list + off, sizeof(list) - off, "%s%lld", k ? "," : "",
                         (long long)trim[k]);
        if (w < 0) {
            break;
        }
        off += (size_t)w;
    }
    ev_printf("TRIM vid=%llu senders=%u trim=%s", (unsigned long long)vid, senders, list);
}

static void on_view(void *ctx, const struct grp_view *view)
{
    struct member *m = ctx;
    char hex[2 * SQC_HASH_BYTES + 1];
    view_digest_roll(m, hex);
    char ids[SQ_MEMBERS_MAX * 12] = "";
    size_t off = 0;
    for (uint32_t r = 0; r < view->member_count && off < sizeof(ids); r++) {
        int w = snprintf(ids + off, sizeof(ids) - off, "%s%u", r ? "," : "",
                         view->members[r].id);
        if (w < 0) {
            break;
        }
        off += (size_t)w;
    }
    ev_printf("VIEW vid=%llu members=%u ids=%s prev_vid=%llu prev_count=%llu prev_digest=%s "
              "total=%llu prev_last_ns=%llu",
              (unsigned long long)view->vid, view->member_count, ids,
              (unsigned long long)m->view_vid, (unsigned long long)m->view_count, hex,
              (unsigned long long)m->delivered, (unsigned long long)m->view_last_ns);
    m->view_vid = view->vid;
    m->view_count = 0;
    m->views++;
    if (m->wedged && !m->stopped) {
        m->wedged = false; /* joined again: send on, from now */
        m->next_send_ns = now_ns();
    }
    fprintf(stderr, "mc_member %u: view %llu installed with %u members\n", m->o.id,
            (unsigned long long)view->vid, view->member_count);
}

static void on_stopped(void *ctx, int reason, const char *why)
{
    struct member *m = ctx;
    m->wedged = true;
    m->stopped = true;
    /* SQ_EPEER is the majority rule of PROTOCOL.md §5.8 (lost half or more of the view); SQ_EVIEW
     * means the others excluded this member. Say which, so logs name the rule. */
    const char *rule = reason == SQ_EPEER ? "majority" : reason == SQ_EVIEW ? "excluded" : "other";
    fprintf(stderr, "mc_member %u: stopped (%s, rule=%s): %s\n", m->o.id, sq_errname(reason), rule,
            why);
    char hex[2 * SQC_HASH_BYTES + 1];
    view_digest_roll(m, hex);
    ev_printf("STOP reason=%s rule=%s vid=%llu view_count=%llu view_digest=%s total=%llu "
              "why=\"%s\"",
              sq_errname(reason), rule, (unsigned long long)m->view_vid,
              (unsigned long long)m->view_count, hex, (unsigned long long)m->delivered, why);
    m->view_count = 0;
    if (m->o.rejoin) {
        /* Linger in the stopped group (a late delivery would show as after_stop), then join the
         * running group again as a new incarnation (§1.5, §5.9). */
        sq_loop_timer_start(m->loop, &m->rejoin_timer,
                            (uint64_t)(m->o.linger_ms > 0 ? m->o.linger_ms : 500) * SQ_NS_PER_MS);
    } else if (m->o.linger_ms > 0) {
        /* Stay up (loop running, transport open) so a late delivery would be seen. */
        sq_loop_timer_start(m->loop, &m->stop_timer, (uint64_t)m->o.linger_ms * SQ_NS_PER_MS);
    } else {
        sq_loop_stop(m->loop);
    }
}

/* Leaves the stopped group and joins the running one with this member's log: the first version
 * it lacks, and its last view for a total restart if no group answers. */
static void rejoin_now(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    (void)loop;
    (void)t;
    struct member *m = arg;
    ev_printf("REJOIN vid=%llu total=%llu after_stop=%llu", (unsigned long long)m->view_vid,
              (unsigned long long)m->delivered, (unsigned long long)m->after_stop);
    struct grp_view last = *grp_view(m->g);
    node_gd_destroy(m->gd);
    m->gd = NULL;
    m->g = NULL;
    memset(m->xfers, 0, sizeof(m->xfers));
    struct node_gd_config cfg = m->gd_cfg;
    cfg.view = NULL;
    cfg.join = true;
    cfg.last_view = &last;
    cfg.version_base = m->last_version + 1;
    cfg.tcp.listen_fd = -1; /* the first listening socket went with the old transport */
    m->stopped = false;
    m->synced_from = -1;
    char err[256];
    int rc = node_gd_create(&m->gd, &cfg, err, sizeof(err));
    if (rc != SQ_OK) {
        fprintf(stderr, "mc_member %u: cannot join again: %s\n", m->o.id, err);
        exit(1);
    }
    m->g = node_gd_group(m->gd);
    fprintf(stderr, "mc_member %u: joining again from version %lld\n", m->o.id,
            (long long)cfg.version_base);
}

/* ---- sending ---- */

static void send_some(struct member *m)
{
    if (m->o.id >= m->o.senders || m->wedged) {
        return;
    }
    uint64_t t = now_ns();
    for (int burst = 0; burst < 256; burst++) {
        if (m->o.count > 0 ? m->sent >= m->o.count : t >= m->end_send_ns) {
            return;
        }
        if (m->o.rate > 0 && t < m->next_send_ns) {
            return;
        }
        uint32_t size = (uint32_t)sq_prng_range(&m->prng, m->o.size_min, m->o.size_max);
        if (m->o.large_every > 0 && m->sent % m->o.large_every == m->o.large_every - 1) {
            size = m->o.large_size;
        }
        void *buf;
        int rc = grp_send_reserve(m->g, size, &buf);
        if (rc == SQ_EAGAIN || rc == SQ_EVIEW) {
            return; /* flow control, or a view change: the next view takes it */
        }
        if (rc != SQ_OK) {
            fprintf(stderr, "mc_member %u: reserve: %s\n", m->o.id, sq_errname(rc));
            exit(1);
        }
        uint8_t *p = buf;
        /* p[i] = (sent * 31 + i) mod 256, copied from the pattern rather than made byte by byte. */
        memcpy(p, m->pattern + (uint8_t)(m->sent * 31), size);
        if (size >= HDR) {
            sq_le32_store(p, m->o.id);
            sq_le32_store(p + 4, size);
            sq_le64_store(p + 8, m->sent);
            if (burst > 0 && burst % 16 == 0) {
                t = now_ns(); /* send times to within 16 commits, not a clock read each */
            }
            sq_le64_store(p + 16, t);
        }
        grp_send_commit(m->g);
        m->sent++;
        if (m->o.rate > 0) {
            m->next_send_ns += (uint64_t)(1e9 / m->o.rate);
        }
    }
}

static void stop_loop(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    (void)t;
    (void)arg;
    sq_loop_stop(loop);
}

/* SIGTERM/SIGINT through a signalfd watched by the loop: end now, with results. */
static void on_signal(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)events;
    struct member *m = arg;
    struct signalfd_siginfo si;
    if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si)) {
        return;
    }
    m->finishing = true;
    sq_loop_stop(loop);
}

static void check_done(struct member *m)
{
    if (m->finishing) {
        return;
    }
    bool done;
    if (m->o.count > 0) {
        /* Every sender of the current view has had all its messages delivered here. */
        const struct grp_view *v = grp_view(m->g);
        done = m->frontier >= m->last_version && m->sent >= (m->o.id < m->o.senders ? m->o.count : 0);
        for (uint32_t r = 0; r < v->member_count && done; r++) {
            uint32_t id = v->members[r].id;
            done = id >= m->o.senders || (id < SQ_MEMBERS_MAX && m->from[id] >= m->o.count);
        }
    } else {
        done = now_ns() >= m->end_send_ns + SQ_NS_PER_S / 2;
    }
    if (done) {
        m->finishing = true;
        /* Linger so the last pushes reach the others before this process goes away. */
        sq_loop_timer_start(m->loop, &m->stop_timer, 300 * SQ_NS_PER_MS);
    }
}

static void after_poll(void *arg)
{
    struct member *m = arg;
    m->pass_ns = now_ns();
    if (m->ps != NULL) {
        persist_flush(m->ps); /* this pass's deliveries, as one hand-over */
    }
    xfers_pump(m);
    if (!m->started || m->stopped) {
        return;
    }
    send_some(m);
    check_done(m);
}

static void on_tick(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    struct member *m = arg;
    /* A send that is due is committed here, so the poll this kick asks for publishes it (from
     * after_poll it would wait for one more poll). */
    send_some(m);
    node_gd_kick(m->gd);
    if (g_events_fd >= 0 && m->started && now_ns() >= m->next_progress_ns) {
        m->next_progress_ns = now_ns() + 100 * SQ_NS_PER_MS;
        ev_printf("PROGRESS vid=%llu view_count=%llu total=%llu", (unsigned long long)m->view_vid,
                  (unsigned long long)m->view_count, (unsigned long long)m->delivered);
    }
    /* Paced sending and the time-based end need a clock tick even when the group is idle. A paced
     * sender wakes at its next send time rather than every millisecond: a 1 kHz tick in each of
     * three processes on two cores was most of the wake-ups of the latency workload, and they
     * delay the protocol's own. When flow control holds a due send back, traffic polls again
     * (after_poll), and the millisecond tick stays as the fallback. */
    uint64_t now = now_ns();
    bool paced = m->o.rate > 0 && m->o.id < m->o.senders && m->next_send_ns < m->end_send_ns;
    if (paced && m->next_send_ns > now) {
        sq_loop_timer_start_at(loop, t, m->next_send_ns);
    } else {
        sq_loop_timer_start(loop, t, SQ_NS_PER_MS);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(void)
{
    fprintf(stderr, "usage: mc_member --id I --ports P0,P1,... --listen-fd FD [--count C | "
                    "--seconds S] [--warmup W] [--size-min A] [--size-max B] [--rate R] "
                    "[--senders K] [--durable FILE] [--smc N] [--window W] [--block B] "
                    "[--log FILE] [--timeout-ms MS] [--hosts H0,H1,...] [--events FILE | "
                    "--events-fd FD] [--linger-ms MS] [--trace 1] [--digest-bytes N] [--rejoin 1 (with --log, without "
                    "--durable)]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct member m;
    memset(&m, 0, sizeof(m));
    struct opts *o = &m.o;
    o->listen_fd = -1;
    o->events_fd = -1;
    o->bins_exclude = -1;
    const char *events_path = NULL;
    uint32_t host_count = 0;
    o->size_min = 100;
    o->size_max = 100;
    o->senders = SQ_MEMBERS_MAX;
    o->smc = 10240;
    o->window = 16;
    o->block = 256 * 1024;
    o->digest_bytes = UINT64_MAX;
    o->warmup = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
        }
        i++;
        if (strcmp(a, "--id") == 0) {
            o->id = (uint32_t)atoi(v);
        } else if (strcmp(a, "--ports") == 0) {
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                o->ports[o->n++] = (uint16_t)atoi(t);
            }
            free(s);
        } else if (strcmp(a, "--listen-fd") == 0) {
            o->listen_fd = atoi(v);
        } else if (strcmp(a, "--count") == 0) {
            o->count = strtoull(v, NULL, 10);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = atof(v);
        } else if (strcmp(a, "--warmup") == 0) {
            o->warmup = atof(v);
        } else if (strcmp(a, "--size-min") == 0) {
            o->size_min = (uint32_t)atoi(v);
        } else if (strcmp(a, "--size-max") == 0) {
            o->size_max = (uint32_t)atoi(v);
        } else if (strcmp(a, "--large-size") == 0) {
            o->large_size = (uint32_t)atoi(v);
        } else if (strcmp(a, "--large-every") == 0) {
            o->large_every = (uint32_t)atoi(v);
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = atof(v);
        } else if (strcmp(a, "--senders") == 0) {
            o->senders = (uint32_t)atoi(v);
        } else if (strcmp(a, "--durable") == 0) {
            o->durable = v;
        } else if (strcmp(a, "--smc") == 0) {
            o->smc = (uint32_t)atoi(v);
        } else if (strcmp(a, "--window") == 0) {
            o->window = (uint32_t)atoi(v);
        } else if (strcmp(a, "--log") == 0) {
            o->log = v;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            o->timeout_ms = (uint32_t)atoi(v);
        } else if (strcmp(a, "--block") == 0) {
            o->block = (uint32_t)atoi(v);
        } else if (strcmp(a, "--hosts") == 0) {
            char *s = strdup(v), *save = NULL;
            for (char *t = strtok_r(s, ",", &save); t && host_count < SQ_MEMBERS_MAX;
                 t = strtok_r(NULL, ",", &save)) {
                snprintf(o->hosts[host_count++], NET_HOST_BYTES_MAX, "%s", t);
            }
            free(s);
        } else if (strcmp(a, "--events-fd") == 0) {
            o->events_fd = atoi(v);
        } else if (strcmp(a, "--events") == 0) {
            events_path = v;
        } else if (strcmp(a, "--bins-exclude") == 0) {
            o->bins_exclude = atoi(v);
        } else if (strcmp(a, "--linger-ms") == 0) {
            o->linger_ms = (uint32_t)atoi(v);
        } else if (strcmp(a, "--trace") == 0) {
            o->trace = atoi(v) != 0;
        } else if (strcmp(a, "--rejoin") == 0) {
            o->rejoin = atoi(v) != 0;
        } else if (strcmp(a, "--digest-bytes") == 0) {
            o->digest_bytes = strtoull(v, NULL, 10);
        } else {
            usage();
        }
    }
    if (o->n < 1 || o->id >= o->n || (o->count == 0 && o->seconds <= 0) ||
        o->size_min > o->size_max || (host_count != 0 && host_count != o->n) ||
        (o->rejoin && (o->log == NULL || o->durable != NULL))) {
        usage();
    }
    for (uint32_t i = host_count; i < o->n; i++) {
        snprintf(o->hosts[i], NET_HOST_BYTES_MAX, "127.0.0.1");
    }
    if (events_path != NULL) {
        o->events_fd = open(events_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        if (o->events_fd < 0) {
            fprintf(stderr, "mc_member: cannot open %s: %s\n", events_path, strerror(errno));
            return 1;
        }
    }
    g_events_fd = o->events_fd;
    /* Blocked before any thread starts, so only the signalfd sees them. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0) {
        return 1;
    }
    int sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sig_fd < 0) {
        fprintf(stderr, "mc_member: signalfd: %s\n", strerror(errno));
        return 1;
    }
    sq_log_set_level(SQ_LOG_WARN);
    if (o->trace && o->events_fd >= 0) {
        /* Info lines of the group (proposal, commit, wedge, install) with monotonic stamps. */
        sq_log_set_level(SQ_LOG_DEBUG);
        sq_log_set_clock(sq_clock_monotonic());
        sq_log_set_sink(trace_sink, NULL);
    }
    char label[16];
    snprintf(label, sizeof(label), "m%u", o->id);
    sq_log_set_node(label);
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    sq_prng_seed(&m.prng, 1000 + o->id);
    /* Test keys derived from the id: these processes only ever talk to each other. */
    struct sqc_keypair key;
    uint8_t seed[SQC_SEED_BYTES] = {0};
    seed[0] = (uint8_t)o->id;
    seed[1] = 0x5a;
    sqc_keypair_from_seed(&key, seed);
    struct net_validator vals[SQ_MEMBERS_MAX];
    struct grp_view view;
    memset(&view, 0, sizeof(view));
    view.member_count = o->n;
    for (uint32_t i = 0; i < o->n; i++) {
        struct sqc_keypair k;
        uint8_t s[SQC_SEED_BYTES] = {0};
        s[0] = (uint8_t)i;
        s[1] = 0x5a;
        sqc_keypair_from_seed(&k, s);
        memset(&vals[i], 0, sizeof(vals[i]));
        vals[i].id = i;
        memcpy(vals[i].pk, k.pk, SQC_PK_BYTES);
        snprintf(vals[i].host, sizeof(vals[i].host), "%s", o->hosts[i]);
        vals[i].port = o->ports[i];
        view.members[i].id = i;
        memcpy(view.members[i].pk, k.pk, SQC_PK_BYTES);
        snprintf(view.members[i].host, sizeof(view.members[i].host), "%s", o->hosts[i]);
        view.members[i].port = o->ports[i];
        sqc_keypair_free(&k);
    }
    if (sq_loop_create(&m.loop, sq_clock_monotonic()) != SQ_OK) {
        return 1;
    }
    sq_timer_init(&m.tick, on_tick, &m);
    sq_timer_init(&m.stop_timer, stop_loop, &m);
    sq_timer_init(&m.rejoin_timer, rejoin_now, &m);
    m.synced_from = -1;
    if (sq_loop_fd_add(m.loop, sig_fd, SQ_LOOP_IN, on_signal, &m) != SQ_OK) {
        return 1;
    }
    struct grp_settings set;
    grp_settings_default(&set);
    set.smc_payload_max = o->smc;
    set.window = o->window;
    set.rdmc.block_bytes = o->block;
    set.msg_payload_max = o->size_max > set.smc_payload_max ? o->size_max : set.smc_payload_max;
    if (o->large_size > set.msg_payload_max) {
        set.msg_payload_max = o->large_size;
    }
    if (set.msg_payload_max < 1024) {
        set.msg_payload_max = 1024;
    }
    size_t pattern_bytes =
        (size_t)(o->size_max > o->large_size ? o->size_max : o->large_size) + 256;
    m.pattern = malloc(pattern_bytes);
    SQ_ASSERT(m.pattern != NULL);
    for (size_t j = 0; j < pattern_bytes; j++) {
        m.pattern[j] = (uint8_t)j;
    }
    m.lat = calloc(LAT_MAX, sizeof(uint64_t));
    m.own_version = calloc(LAT_MAX, sizeof(int64_t));
    m.own_ts = calloc(LAT_MAX, sizeof(uint64_t));
    SQ_ASSERT(m.lat && m.own_version && m.own_ts);
    if (o->count == 0 && o->events_fd < 0) {
        /* A timed benchmark run touches them now, so their page faults do not land in the
         * measured window (not a counted or event-driven run: tests time their actions from the
         * start, and this would delay it). */
        memset(m.lat, 0, LAT_MAX * sizeof(uint64_t));
        memset(m.own_version, 0, LAT_MAX * sizeof(int64_t));
        memset(m.own_ts, 0, LAT_MAX * sizeof(uint64_t));
    }
    if (sqc_sha256_init(&m.digest) != SQ_OK || sqc_sha256_init(&m.view_digest) != SQ_OK) {
        return 1;
    }
    if (o->events_fd >= 0) {
        m.bins = calloc(BINS_MAX, sizeof(uint32_t));
        m.bins_x = calloc(BINS_MAX, sizeof(uint32_t));
        SQ_ASSERT(m.bins != NULL && m.bins_x != NULL);
    }
    if (o->durable != NULL) {
        m.ps = calloc(1, sizeof(*m.ps));
        SQ_ASSERT(m.ps != NULL);
        if (pfile_open(&m.ps->file, o->durable) < 0) {
            fprintf(stderr, "mc_member: cannot open %s: %s\n", o->durable, strerror(errno));
            return 1;
        }
        m.ps->loop = m.loop;
        m.ps->done_version = -1;
        pthread_mutex_init(&m.ps->mu, NULL);
        pthread_cond_init(&m.ps->cv, NULL);
        pthread_create(&m.ps->th, NULL, persist_main, &m);
    }
    struct grp_upcalls up = {.ctx = &m, .deliver = on_deliver, .persisted = on_persisted,
                             .wedged = on_wedged, .trim = on_trim, .view_installed = on_view,
                             .stopped = on_stopped, .state_request = on_state_request,
                             .state_receive = on_state_receive, .truncate = on_truncate};
    if (o->log != NULL) {
        m.logf = fopen(o->log, "w");
        if (m.logf == NULL) {
            fprintf(stderr, "mc_member: cannot open %s\n", o->log);
            return 1;
        }
    }
    static const uint8_t chain[] = "squall-bench";
    struct node_gd_config cfg = {
        .loop = m.loop,
        .tcp = {.chain_id = chain, .chain_id_size = sizeof(chain) - 1, .self_id = o->id,
                .key = &key, .validators = vals, .validator_count = o->n,
                .listen_fd = o->listen_fd},
        .view = &view,
        .my_id = o->id,
        .settings = &set,
        .up = &up,
        .after_poll = after_poll,
        .after_poll_arg = &m,
        .failure_timeout_ms = o->timeout_ms,
    };
    char err[256];
    int rc = node_gd_create(&m.gd, &cfg, err, sizeof(err));
    if (rc != SQ_OK) {
        fprintf(stderr, "mc_member %u: %s\n", o->id, err);
        return 1;
    }
    m.gd_cfg = cfg;
    m.g = node_gd_group(m.gd);
    m.last_version = -1;
    m.frontier = -1;
    m.frontier_from = -1;
    m.frontier_to = -1;
    /* Wait until every peer is connected before the clock starts. */
    uint64_t deadline = now_ns() + 30 * SQ_NS_PER_S;
    while (node_gd_peers_up(m.gd) + 1 < o->n && now_ns() < deadline) {
        sq_loop_run_once(m.loop, 50);
    }
    if (node_gd_peers_up(m.gd) + 1 < o->n) {
        fprintf(stderr, "mc_member %u: peers did not come up\n", o->id);
        return 1;
    }
    m.start_ns = now_ns();
    m.next_send_ns = m.start_ns;
    m.bins_base = m.start_ns;
    ev_printf("READY members=%u", o->n);
    if (o->count > 0) {
        m.measure_from_ns = 0;
        m.measure_to_ns = UINT64_MAX;
    } else {
        m.measure_from_ns = m.start_ns + (uint64_t)(o->warmup * 1e9);
        m.measure_to_ns = m.start_ns + (uint64_t)(o->seconds * 1e9);
        m.end_send_ns = m.measure_to_ns;
    }
    m.started = true;
    sq_loop_timer_start(m.loop, &m.tick, SQ_NS_PER_MS);
    sq_loop_run(m.loop);

    if (o->events_fd >= 0) {
        char vhex[2 * SQC_HASH_BYTES + 1];
        view_digest_roll(&m, vhex);
        ev_printf("END vid=%llu view_count=%llu view_digest=%s total=%llu after_stop=%llu",
                  (unsigned long long)m.view_vid, (unsigned long long)m.view_count, vhex,
                  (unsigned long long)m.delivered, (unsigned long long)m.after_stop);
        uint64_t used = (now_ns() - m.bins_base) / BIN_NS + 1;
        if (used > BINS_MAX) {
            used = BINS_MAX;
        }
        bins_write("BINS", m.bins, m.bins_base, used);
        bins_write("BINSX", m.bins_x, m.bins_base, used);
    }
    sqc_sha256_free(&m.view_digest);
    free(m.bins);
    free(m.bins_x);
    uint8_t dig[SQC_HASH_BYTES];
    sqc_sha256_final(&m.digest, dig);
    char hex[2 * SQC_HASH_BYTES + 1];
    sqc_hex_encode(hex, sizeof(hex), dig, sizeof(dig));
    qsort(m.lat, m.lat_count, sizeof(uint64_t), cmp_u64);
    double p50 = m.lat_count ? (double)m.lat[m.lat_count / 2] / 1e3 : 0;
    double p99 = m.lat_count ? (double)m.lat[(m.lat_count * 99) / 100] / 1e3 : 0;
    double win = o->count > 0 ? (double)(now_ns() - m.start_ns) / 1e9 : o->seconds - o->warmup;
    uint64_t wd = o->count > 0 ? m.delivered : m.win_delivered;
    uint64_t wb = o->count > 0 ? m.delivered_bytes : m.win_bytes;
    struct grp_stats st;
    grp_group_stats(m.g, &st);
    printf("{\"id\":%u,\"delivered\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"digest\":\"%s\","
           "\"window_s\":%.3f,\"msgs_per_s\":%.0f,\"bytes_per_s\":%.0f,\"lat_p50_us\":%.1f,"
           "\"lat_p99_us\":%.1f,\"frontier_per_s\":%.0f,\"lat_samples\":%" PRIu64 ",\"sent\":%" PRIu64
           ",\"nulls\":%" PRIu64 ",\"wedged\":%s,\"syncs\":%" PRIu64 ",\"views\":%" PRIu64
           ",\"after_stop\":%" PRIu64 "}\n",
           o->id, m.delivered, m.delivered_bytes, hex, win, (double)wd / win, (double)wb / win,
           p50, p99,
           m.frontier_to > m.frontier_from ? (double)(m.frontier_to - m.frontier_from) / win : 0.0,
           m.lat_count, m.sent, st.nulls_sent, m.wedged && !m.finishing ? "true" : "false",
           m.ps ? m.ps->syncs : 0, m.views, m.after_stop);
    if (m.logf != NULL) {
        fclose(m.logf);
    }
    fflush(stdout);
    if (m.ps != NULL) {
        persist_flush(m.ps);
        pthread_mutex_lock(&m.ps->mu);
        m.ps->stop = true;
        pthread_cond_broadcast(&m.ps->cv);
        pthread_mutex_unlock(&m.ps->mu);
        pthread_join(m.ps->th, NULL);
        pfile_close(&m.ps->file);
    }
    node_gd_destroy(m.gd);
    sq_loop_fd_remove(m.loop, sig_fd);
    close(sig_fd);
    sq_loop_destroy(m.loop);
    sqc_keypair_free(&key);
    if (m.ps != NULL) {
        pthread_mutex_destroy(&m.ps->mu);
        pthread_cond_destroy(&m.ps->cv);
        free(m.ps->stage.data);
        free(m.ps->handed.data);
        free(m.ps);
    }
    free(m.pattern);
    free(m.hist.data);
    free(m.hist_off);
    free(m.lat);
    free(m.own_version);
    free(m.own_ts);
    if (o->events_fd >= 0) {
        close(o->events_fd);
    }
    return 0;
}
