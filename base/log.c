#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"

int sq_log_level_cur_ = SQ_LOG_INFO;
static struct sq_clock *log_clock;
static sq_log_sink_fn log_sink;
static void *log_sink_arg;
static char log_node[32];

static const char *const level_names[] = {"trace", "debug", "info", "warn",
                                          "error", "fatal", "off"};

void sq_log_set_level(enum sq_log_level level)
{
    __atomic_store_n(&sq_log_level_cur_, (int)level, __ATOMIC_RELAXED);
}

enum sq_log_level sq_log_get_level(void)
{
    return (enum sq_log_level)__atomic_load_n(&sq_log_level_cur_, __ATOMIC_RELAXED);
}

int sq_log_level_parse(const char *name, enum sq_log_level *out)
{
    for (int i = SQ_LOG_TRACE; i <= SQ_LOG_OFF; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum sq_log_level)i;
            return SQ_OK;
        }
    }
    return SQ_EINVAL;
}

const char *sq_log_level_name(enum sq_log_level level)
{
    if ((int)level < SQ_LOG_TRACE || level > SQ_LOG_OFF) {
        return "?";
    }
    return level_names[level];
}

void sq_log_set_clock(struct sq_clock *clock)
{
    log_clock = clock;
}

void sq_log_set_sink(sq_log_sink_fn sink, void *arg)
{
    log_sink = sink;
    log_sink_arg = arg;
}

void sq_log_set_node(const char *label)
{
    if (label == NULL) {
        log_node[0] = '\0';
        return;
    }
    snprintf(log_node, sizeof(log_node), "%s", label);
}

/* Appends with snprintf semantics, never moving `*len` past `cap - 1`. */
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...)
{
    if (*len + 1 >= cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    *len += (size_t)n < cap - *len ? (size_t)n : cap - *len - 1;
}

void sq_log_write(enum sq_log_level level, const char *mod, const char *msg, const char *kv_fmt,
                  ...)
{
    char line[SQ_LOG_LINE_MAX];
    size_t len = 0;

    if (log_clock == NULL) {
        uint64_t ns = sq_clock_wall_ns();
        time_t secs = (time_t)(ns / SQ_NS_PER_S);
        struct tm tm;
        gmtime_r(&secs, &tm);
        append(line, sizeof(line), &len, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%06uZ",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
               (unsigned)((ns % SQ_NS_PER_S) / SQ_NS_PER_US));
    } else {
        uint64_t ns = sq_clock_now(log_clock);
        append(line, sizeof(line), &len, "ts=%llu.%06llu", (unsigned long long)(ns / SQ_NS_PER_S),
               (unsigned long long)((ns % SQ_NS_PER_S) / SQ_NS_PER_US));
    }
    append(line, sizeof(line), &len, " level=%s", sq_log_level_name(level));
    if (log_node[0] != '\0') {
        append(line, sizeof(line), &len, " node=%s", log_node);
    }
    append(line, sizeof(line), &len, " mod=%s msg=\"%s\"", mod, msg);
    if (kv_fmt != NULL && kv_fmt[0] != '\0') {
        append(line, sizeof(line), &len, " ");
        if (len + 1 < sizeof(line)) {
            va_list ap;
            va_start(ap, kv_fmt);
            int n = vsnprintf(line + len, sizeof(line) - len, kv_fmt, ap);
            va_end(ap);
            if (n > 0) {
                len += (size_t)n < sizeof(line) - len ? (size_t)n : sizeof(line) - len - 1;
            }
        }
    }
    /* Room for the newline: a cut line ends in "..." so readers know it was cut. */
    if (len >= sizeof(line) - 2) {
        len = sizeof(line) - 5;
        memcpy(line + len, "...", 3);
        len += 3;
    }
    line[len++] = '\n';

    if (log_sink != NULL) {
        log_sink(log_sink_arg, level, line, len);
        return;
    }
    const char *p = line;
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, p, len);
        if (w <= 0) {
            return; /* stderr gone: nothing useful left to do with a log line */
        }
        p += w;
        len -= (size_t)w;
    }
}
