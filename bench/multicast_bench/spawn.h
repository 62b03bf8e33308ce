/* Starting a group of mc_member processes on 127.0.0.1 and collecting their results (used by
 * bench/multicast_bench and tests/integration/consensus). Each member gets a listening socket
 * bound by the parent (port 0, so no port is ever guessed) through an inherited descriptor. */
#ifndef SQ_BENCH_SPAWN_H
#define SQ_BENCH_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SPAWN_MAX 16
#define SPAWN_OUT_BYTES 2048

struct spawn_group {
    uint32_t n;
    pid_t pids[SPAWN_MAX];
    int out_fds[SPAWN_MAX];
    char out[SPAWN_MAX][SPAWN_OUT_BYTES]; /* each member's stdout (its JSON line) */
    int status[SPAWN_MAX];
    int ev_fds[SPAWN_MAX]; /* spawn_start_events: read ends of the members' event pipes; the
                            * caller reads and closes them */
};

/* Starts `n` members of `exe` with the common arguments `args` (NULL-terminated) plus --id,
 * --ports and --listen-fd, and `extra(i)` arguments for member i if not NULL. Returns 0 or -1. */
int spawn_start(struct spawn_group *sg, const char *exe, uint32_t n, const char *const *args,
                const char *const *(*extra)(uint32_t i, void *arg), void *extra_arg);

/* As spawn_start, and each member also gets `--events-fd FD`, the write end of a pipe whose read
 * end is sg->ev_fds[i] (mc_member writes its event lines there). */
int spawn_start_events(struct spawn_group *sg, const char *exe, uint32_t n,
                       const char *const *args,
                       const char *const *(*extra)(uint32_t i, void *arg), void *extra_arg);

/* Waits for every member to exit, at most `timeout_s` seconds; kills (SIGKILL, by PID) those
 * still running after it. Returns the number of members that exited with status 0. */
uint32_t spawn_wait(struct spawn_group *sg, double timeout_s);

/* Extracts a number or string field from member i's JSON line (a tiny scanner for our own flat
 * output). */
double spawn_num(const struct spawn_group *sg, uint32_t i, const char *key);
bool spawn_str(const struct spawn_group *sg, uint32_t i, const char *key, char *out, size_t cap);

#endif
