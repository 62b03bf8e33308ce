/* Running commands for the wallet's command tests: shell lines with captured output and a time
 * bound, background processes by PID, waiting on a file's content with a deadline. Uses cmocka's
 * failure reporting. Every path is relative to wal_work, the test's folder. */
#ifndef SQ_TESTS_WAL_PROC_H
#define SQ_TESTS_WAL_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

extern char wal_work[4096];

struct out {
    int code;
    char *out;
    char *err;
};

/* Runs a shell command line in wal_work (through a script file, so any quoting works) with a
 * 120 s bound; stdout and stderr captured. */
struct out run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void out_free(struct out *o);
#define EXPECT(o, want)                                                                            \
    do {                                                                                           \
        if ((o).code != (want)) {                                                                  \
            fail_msg("exit %d, wanted %d\nstdout: %s\nstderr: %s", (o).code, (want), (o).out,     \
                     (o).err);                                                                     \
        }                                                                                          \
    } while (0)

/* A file's content (malloc'd; empty when missing). */
char *slurp(const char *path);
/* Starts a shell command in the background, output to `log` (relative to wal_work). */
pid_t spawn(const char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
double now_s(void);
void nap_ms(unsigned ms);
/* Waits until `path` contains `needle` or fails the test after `seconds`; returns the text. */
char *wait_for(const char *path, const char *needle, double seconds);
/* Waits for a child's exit code (killing it and failing after `seconds`). */
int wait_exit(pid_t pid, double seconds);
/* SIGTERM and wait. */
void stop(pid_t pid);
/* A TCP port on 127.0.0.1 that was free a moment ago. */
unsigned free_port(void);
/* Hex of up to 64 bytes (one of four rotating static buffers). */
char *hex_of(const uint8_t *data, size_t size);
/* The text of "key": in a one-line JSON answer, copied into out (fails the test if absent). */
const char *field(const char *json, const char *key, char *out, size_t cap);

/* Copies a receipt file (JSON) changing one hex digit `from_end` digits before the end of its
 * "receipt" string. */
void receipt_tamper(const char *src, const char *dst, size_t from_end);

#endif
