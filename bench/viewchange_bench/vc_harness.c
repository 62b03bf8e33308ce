#include "vc_harness.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t vc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vc_start(struct vc_group *g, const char *exe, uint32_t n, const char *const *args,
             const char *const *(*extra)(uint32_t i, void *arg), void *extra_arg)
{
    memset(g, 0, sizeof(*g));
    g->n = n;
    return spawn_start_events(&g->sg, exe, n, args, extra, extra_arg);
}

/* The value of `key=` in an event line, up to the next space (or the closing quote for a quoted
 * value). */
static bool field(const char *line, const char *key, char *out, size_t cap)
{
    char pat[40];
    snprintf(pat, sizeof(pat), " %s=", key);
    const char *p = strstr(line, pat);
    if (p == NULL || cap == 0) {
        return false;
    }
    p += strlen(pat);
    char end = ' ';
    if (*p == '"') {
        end = '"';
        p++;
    }
    size_t k = 0;
    while (p[k] != '\0' && p[k] != end && p[k] != '\n' && k + 1 < cap) {
        out[k] = p[k];
        k++;
    }
    out[k] = '\0';
    return true;
}

static uint64_t field_u64(const char *line, const char *key)
{
    char v[32];
    return field(line, key, v, sizeof(v)) ? strtoull(v, NULL, 10) : 0;
}

static void set_once(uint64_t *slot, uint64_t t)
{
    if (*slot == 0) {
        *slot = t;
    }
}

static uint64_t current_vid(const struct vc_member *m)
{
    uint64_t v = 0;
    for (uint64_t i = 0; i < VC_VIEWS_MAX; i++) {
        if (m->view_ns[i] != 0) {
            v = i;
        }
    }
    return v;
}

static void parse_bins(struct vc_bins *m, const char *line)
{
    m->base = field_u64(line, "base");
    m->bin_ns = field_u64(line, "width_ns");
    size_t first = (size_t)field_u64(line, "first");
    const char *p = strstr(line, " first=");
    p = p ? strchr(p + 1, ' ') : NULL;
    if (p == NULL) {
        return;
    }
    p++;
    size_t b = first;
    while (*p != '\0' && *p != '\n') {
        char *e;
        unsigned long c = strtoul(p, &e, 10);
        if (e == p) {
            break;
        }
        if (b >= m->len) {
            size_t cap = b + 256;
            uint32_t *nb = realloc(m->count, cap * sizeof(uint32_t));
            if (nb == NULL) {
                return;
            }
            memset(nb + m->len, 0, (cap - m->len) * sizeof(uint32_t));
            m->count = nb;
            m->len = cap;
        }
        m->count[b++] = (uint32_t)c;
        p = *e == ',' ? e + 1 : e;
    }
}

static void parse_line(struct vc_member *m, const char *line)
{
    uint64_t t = strtoull(line, NULL, 10);
    const char *kind = strchr(line, ' ');
    if (kind == NULL) {
        return;
    }
    kind++;
    uint64_t vid = field_u64(line, "vid");
    if (strncmp(kind, "READY", 5) == 0) {
        m->ready_ns = t;
    } else if (strncmp(kind, "WEDGED", 6) == 0 && vid < VC_VIEWS_MAX) {
        set_once(&m->wedged_ns[vid], t);
        set_once(&m->detect_ns[vid], t);
    } else if (strncmp(kind, "TRIM", 4) == 0 && vid < VC_VIEWS_MAX) {
        set_once(&m->trim_ns[vid], t);
    } else if (strncmp(kind, "VIEW", 4) == 0 && vid < VC_VIEWS_MAX) {
        m->view_ns[vid] = t;
        m->view_members[vid] = (uint32_t)field_u64(line, "members");
        uint64_t prev = field_u64(line, "prev_vid");
        if (prev < VC_VIEWS_MAX) {
            m->view_count[prev] = field_u64(line, "prev_count");
            m->last_deliver_ns[prev] = field_u64(line, "prev_last_ns");
            field(line, "prev_digest", m->view_digest[prev], VC_DIGEST_CHARS);
        }
    } else if (strncmp(kind, "STOP", 4) == 0) {
        m->stop_ns = t;
        m->stop_vid = vid;
        m->stop_total = field_u64(line, "total");
        m->stop_view_count = field_u64(line, "view_count");
        field(line, "rule", m->stop_rule, sizeof(m->stop_rule));
        field(line, "view_digest", m->stop_view_digest, VC_DIGEST_CHARS);
        snprintf(m->stop_line, sizeof(m->stop_line), "%s", kind);
    } else if (strncmp(kind, "PROGRESS", 8) == 0) {
        m->progress_vid = vid;
        m->progress_view_count = field_u64(line, "view_count");
        m->progress_total = field_u64(line, "total");
    } else if (strncmp(kind, "END", 3) == 0) {
        m->ended = true;
        m->end_total = field_u64(line, "total");
        m->after_stop = field_u64(line, "after_stop");
    } else if (strncmp(kind, "BINSX", 5) == 0) {
        parse_bins(&m->bins_x, line);
    } else if (strncmp(kind, "BINS", 4) == 0) {
        parse_bins(&m->bins, line);
    } else if (strncmp(kind, "LOG", 3) == 0) {
        uint64_t cur = current_vid(m);
        if (strstr(kind, "msg=\"peer failed\"") != NULL ||
            strstr(kind, "msg=\"heartbeat timeout\"") != NULL) {
            set_once(&m->detect_ns[cur], t);
        } else if (strstr(kind, "msg=\"proposed changes\"") != NULL) {
            set_once(&m->proposed_ns[cur], t);
        } else if (strstr(kind, "msg=\"view change committed\"") != NULL) {
            set_once(&m->committed_ns[cur], t);
        }
    }
}

static void parse_new(struct vc_member *m)
{
    while (m->parsed < m->len) {
        char *nl = memchr(m->buf + m->parsed, '\n', m->len - m->parsed);
        if (nl == NULL) {
            return;
        }
        *nl = '\0';
        parse_line(m, m->buf + m->parsed);
        *nl = '\n';
        m->parsed = (size_t)(nl - m->buf) + 1;
    }
}

/* One poll() over the open event pipes, at most timeout_ms; reads what is there. Returns false
 * when no pipe is open any more. */
static bool pump(struct vc_group *g, int timeout_ms)
{
    struct pollfd pf[SPAWN_MAX];
    uint32_t map[SPAWN_MAX];
    nfds_t cnt = 0;
    for (uint32_t i = 0; i < g->n; i++) {
        if (!g->m[i].eof && g->sg.ev_fds[i] >= 0) {
            pf[cnt].fd = g->sg.ev_fds[i];
            pf[cnt].events = POLLIN;
            map[cnt++] = i;
        }
    }
    if (cnt == 0) {
        return false;
    }
    int r = poll(pf, cnt, timeout_ms);
    if (r < 0 && errno != EINTR) {
        return false;
    }
    for (nfds_t j = 0; j < cnt && r > 0; j++) {
        if (pf[j].revents == 0) {
            continue;
        }
        struct vc_member *m = &g->m[map[j]];
        if (m->cap - m->len < 8192) {
            size_t cap = m->cap ? m->cap * 2 : 65536;
            char *nb = realloc(m->buf, cap);
            if (nb == NULL) {
                m->eof = true;
                continue;
            }
            m->buf = nb;
            m->cap = cap;
        }
        ssize_t k = read(g->sg.ev_fds[map[j]], m->buf + m->len, m->cap - m->len - 1);
        if (k <= 0) {
            if (k == 0 || (errno != EINTR && errno != EAGAIN)) {
                m->eof = true;
            }
            continue;
        }
        m->len += (size_t)k;
        parse_new(m);
    }
    return true;
}

bool vc_wait(struct vc_group *g, double timeout_s, bool (*cond)(struct vc_group *g, void *arg),
             void *arg)
{
    uint64_t deadline = vc_now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) {
        if (cond(g, arg)) {
            return true;
        }
        uint64_t now = vc_now_ns();
        if (now >= deadline) {
            return false;
        }
        int ms = (int)((deadline - now) / 1000000u) + 1;
        if (!pump(g, ms)) {
            return cond(g, arg); /* every stream ended */
        }
    }
}

int vc_kill(struct vc_group *g, uint32_t i, int sig)
{
    if (i >= g->n) {
        return -1;
    }
    g->m[i].killed_ns = vc_now_ns();
    return kill(g->sg.pids[i], sig);
}

uint32_t vc_finish(struct vc_group *g, double timeout_s)
{
    uint64_t deadline = vc_now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) {
        uint64_t now = vc_now_ns();
        if (now >= deadline || !pump(g, (int)((deadline - now) / 1000000u) + 1)) {
            break;
        }
    }
    double left = (double)(deadline > vc_now_ns() ? deadline - vc_now_ns() : 0) / 1e9;
    uint32_t ok = spawn_wait(&g->sg, left + 1.0);
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->sg.ev_fds[i] >= 0) {
            close(g->sg.ev_fds[i]);
            g->sg.ev_fds[i] = -1;
        }
    }
    return ok;
}

void vc_free(struct vc_group *g)
{
    for (uint32_t i = 0; i < g->n; i++) {
        free(g->m[i].buf);
        free(g->m[i].bins.count);
        free(g->m[i].bins_x.count);
        g->m[i].buf = NULL;
        g->m[i].bins.count = NULL;
        g->m[i].bins_x.count = NULL;
    }
}

bool vc_cond_never(struct vc_group *g, void *arg)
{
    (void)g;
    (void)arg;
    return false;
}

bool vc_cond_ready(struct vc_group *g, void *arg)
{
    (void)arg;
    for (uint32_t i = 0; i < g->n; i++) {
        if (g->m[i].ready_ns == 0) {
            return false;
        }
    }
    return true;
}

bool vc_cond_view(struct vc_group *g, void *arg)
{
    const struct vc_view_arg *a = arg;
    for (uint32_t i = 0; i < g->n; i++) {
        if ((a->mask >> i & 1u) && (a->vid >= VC_VIEWS_MAX || g->m[i].view_ns[a->vid] == 0)) {
            return false;
        }
    }
    return true;
}

bool vc_cond_stopped(struct vc_group *g, void *arg)
{
    uint64_t mask = *(const uint64_t *)arg;
    for (uint32_t i = 0; i < g->n; i++) {
        if ((mask >> i & 1u) && g->m[i].stop_ns == 0) {
            return false;
        }
    }
    return true;
}

bool vc_cond_progress(struct vc_group *g, void *arg)
{
    const struct vc_progress_arg *a = arg;
    for (uint32_t i = 0; i < g->n; i++) {
        if ((a->mask >> i & 1u) &&
            (g->m[i].progress_vid != a->vid || g->m[i].progress_view_count < a->count)) {
            return false;
        }
    }
    return true;
}

double vc_delivered_between(const struct vc_bins *m, uint64_t from_ns, uint64_t to_ns)
{
    if (m->count == NULL || m->bin_ns == 0 || to_ns <= from_ns) {
        return -1;
    }
    double sum = 0;
    for (size_t b = 0; b < m->len; b++) {
        uint64_t s = m->base + b * m->bin_ns, e = s + m->bin_ns;
        uint64_t lo = s > from_ns ? s : from_ns, hi = e < to_ns ? e : to_ns;
        if (hi > lo) {
            sum += (double)m->count[b] * (double)(hi - lo) / (double)m->bin_ns;
        }
    }
    return sum;
}
