/* A one-line progress bar for long runs (the audit). Drawn only on a terminal: the caller decides
 * with isatty(), so pipes and files never see control characters. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "wallet-cli/wallet.h"

#define REDRAW_S 0.1
#define LINE_MAX_BYTES 512

void wal_progress_init(struct wal_progress *p, int fd, bool enabled, const char *label)
{
    memset(p, 0, sizeof(*p));
    p->fd = enabled ? fd : -1;
    p->start_s = wal_now_s();
    p->last_draw_s = 0;
    p->label = label ? label : "";
}

static void put_rate(char *out, size_t cap, double rate)
{
    if (rate >= 1e6) {
        snprintf(out, cap, "%.2fM", rate / 1e6);
    } else if (rate >= 1e4) {
        snprintf(out, cap, "%.1fk", rate / 1e3);
    } else {
        snprintf(out, cap, "%.0f", rate);
    }
}

static void put_time(char *out, size_t cap, double s)
{
    if (s < 0 || s > 99 * 3600.0) {
        snprintf(out, cap, "--:--");
        return;
    }
    unsigned t = (unsigned)(s + 0.5);
    if (t >= 3600) {
        snprintf(out, cap, "%u:%02u:%02u", t / 3600, (t / 60) % 60, t % 60);
    } else {
        snprintf(out, cap, "%u:%02u", t / 60, t % 60);
    }
}

size_t wal_progress_format(char *buf, size_t cap, unsigned width, const char *label,
                           uint64_t height, uint64_t tip, uint64_t txs, double elapsed_s,
                           uint64_t heights_done)
{
    if (cap == 0) {
        return 0;
    }
    double frac = tip == 0 ? 1.0 : (double)height / (double)tip;
    frac = frac > 1.0 ? 1.0 : frac < 0 ? 0 : frac;
    char rate[32];
    char left[32];
    put_rate(rate, sizeof(rate), elapsed_s > 0 ? (double)txs / elapsed_s : 0.0);
    double per_height = heights_done > 0 ? elapsed_s / (double)heights_done : -1.0;
    double remaining = per_height < 0 ? -1.0 : per_height * (double)(tip - (height < tip ? height : tip));
    put_time(left, sizeof(left), remaining);
    char tail[160];
    int tn = snprintf(tail, sizeof(tail), " %5.1f%%  height %" PRIu64 "/%" PRIu64 "  %s tx/s  left %s",
                      frac * 100.0, height, tip, rate, left);
    if (tn < 0) {
        tn = 0;
    }
    size_t lab = strlen(label);
    /* The bar takes what the text leaves, between 10 and 40 cells; a narrow terminal drops it. */
    long room = (long)width - 1 - (long)tn - (long)lab - (lab ? 1 : 0) - 2;
    long cells = room > 40 ? 40 : room;
    char bar[64] = "";
    if (cells >= 10) {
        long full = (long)(frac * (double)cells + 0.5);
        bar[0] = '[';
        for (long i = 0; i < cells; i++) {
            bar[1 + i] = i < full ? '#' : '.';
        }
        bar[1 + cells] = ']';
        bar[2 + cells] = '\0';
    }
    int n = snprintf(buf, cap, "%s%s%s%s", label, lab ? " " : "", bar, tail);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    size_t len = (size_t)n < cap ? (size_t)n : cap - 1;
    if (width > 1 && len > width - 1) {
        len = width - 1; /* never wrap: a wrapped line cannot be redrawn with \r */
        buf[len] = '\0';
    }
    return len;
}

static unsigned term_width(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) {
        return ws.ws_col;
    }
    return 80;
}

static void write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0) {
            return; /* a progress bar is not worth failing for */
        }
        s += w;
        n -= (size_t)w;
    }
}

void wal_progress_update(struct wal_progress *p, uint64_t height, uint64_t tip, uint64_t txs)
{
    if (p->fd < 0) {
        return;
    }
    double now = wal_now_s();
    if (height < tip && now - p->last_draw_s < REDRAW_S) {
        return;
    }
    if (!p->drawn) {
        p->start_height = height;
    }
    p->last_draw_s = now;
    char line[LINE_MAX_BYTES];
    line[0] = '\r';
    size_t n = wal_progress_format(line + 1, sizeof(line) - 8, term_width(p->fd), p->label,
                                   height, tip, txs, now - p->start_s, height);
    /* Clear to the end of the line: the previous draw may have been longer. */
    memcpy(line + 1 + n, "\033[K", 3);
    write_all(p->fd, line, n + 4);
    p->drawn = true;
}

void wal_progress_finish(struct wal_progress *p)
{
    if (p->fd >= 0 && p->drawn) {
        write_all(p->fd, "\r\033[K", 4);
    }
    p->drawn = false;
}
