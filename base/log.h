/* Leveled key=value logger.
 *
 * One line per event: `ts=... level=info mod=net msg="peer connected" peer=3 addr=127.0.0.1:7001`.
 * Each line is formatted into a bounded buffer (SQ_LOG_LINE_MAX, longer lines are cut and end in
 * "...") and written with one write(2), so lines from several threads never interleave.
 * Configuration (level, clock, sink) is set at start-up, before other threads run; logging itself
 * may be called from any thread. */
#ifndef SQ_BASE_LOG_H
#define SQ_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/clock.h"

enum sq_log_level {
    SQ_LOG_TRACE = 0,
    SQ_LOG_DEBUG,
    SQ_LOG_INFO,
    SQ_LOG_WARN,
    SQ_LOG_ERROR,
    SQ_LOG_FATAL,
    SQ_LOG_OFF,
};

#define SQ_LOG_LINE_MAX 1024

/* Receives each finished line (with its trailing newline, `len` bytes, not NUL-terminated). The
 * line is borrowed for the call only. */
typedef void (*sq_log_sink_fn)(void *arg, enum sq_log_level level, const char *line, size_t len);

/* Lines below `level` are dropped. Default SQ_LOG_INFO. */
void sq_log_set_level(enum sq_log_level level);
enum sq_log_level sq_log_get_level(void);

/* Parses "trace", "debug", "info", "warn", "error", "fatal" or "off". Returns SQ_OK or SQ_EINVAL
 * (leaving *out untouched). */
int sq_log_level_parse(const char *name, enum sq_log_level *out);
const char *sq_log_level_name(enum sq_log_level level);

/* The clock whose time stamps each line. NULL (the default) stamps wall-clock UTC time in
 * RFC 3339 form; any other clock stamps `ts=<seconds>.<microseconds>` of that clock (the
 * simulator's virtual time). The clock must outlive its use by the logger. */
void sq_log_set_clock(struct sq_clock *clock);

/* Where lines go. NULL (the default) writes to standard error. */
void sq_log_set_sink(sq_log_sink_fn sink, void *arg);

/* A label added to every line as `node=<label>` (at most 31 bytes kept); NULL removes it. */
void sq_log_set_node(const char *label);

static inline bool sq_log_enabled(enum sq_log_level level);

/* Writes one line. `mod` is the module ("net", "sst", ...), `msg` a short constant description
 * (quoted in the output), `kv_fmt` printf-style `key=value` pairs separated by spaces ("" for
 * none). */
void sq_log_write(enum sq_log_level level, const char *mod, const char *msg, const char *kv_fmt,
                  ...) __attribute__((format(printf, 4, 5)));

extern int sq_log_level_cur_;

static inline bool sq_log_enabled(enum sq_log_level level)
{
    return (int)level >= __atomic_load_n(&sq_log_level_cur_, __ATOMIC_RELAXED);
}

#define SQ_LOG_(level, mod, msg, ...)                                                              \
    do {                                                                                           \
        if (sq_log_enabled(level)) {                                                               \
            sq_log_write(level, mod, msg, __VA_ARGS__);                                            \
        }                                                                                          \
    } while (0)

/* SQ_INFO("net", "peer connected", "peer=%u", id);   SQ_INFO("node", "started", ""); */
#define SQ_TRACE(mod, msg, ...) SQ_LOG_(SQ_LOG_TRACE, mod, msg, __VA_ARGS__)
#define SQ_DEBUG(mod, msg, ...) SQ_LOG_(SQ_LOG_DEBUG, mod, msg, __VA_ARGS__)
#define SQ_INFO(mod, msg, ...) SQ_LOG_(SQ_LOG_INFO, mod, msg, __VA_ARGS__)
#define SQ_WARN(mod, msg, ...) SQ_LOG_(SQ_LOG_WARN, mod, msg, __VA_ARGS__)
#define SQ_ERROR(mod, msg, ...) SQ_LOG_(SQ_LOG_ERROR, mod, msg, __VA_ARGS__)
#define SQ_FATAL(mod, msg, ...) SQ_LOG_(SQ_LOG_FATAL, mod, msg, __VA_ARGS__)

#endif
