/* A plain-TCP baseline of the multicast's critical path (bench/multicast_bench, issue 5): the same
 * four message steps one multicast needs, between three processes over blocking loopback TCP, with
 * no event loop, table or protocol state. See pattern.c. */
#ifndef SQ_BENCH_PATTERN_H
#define SQ_BENCH_PATTERN_H

#include <stddef.h>

#define PATTERN_BYTES_MAX 65536

/* Runs `rounds` multicasts of `size` bytes (0 < size <= PATTERN_BYTES_MAX), one every `gap_us`
 * microseconds, and writes the p50 and p99 of process 0's send-to-last-report time (us, after a
 * warm-up of rounds / 10) to *p50 and *p99. `steps` is 4 (the multicast's critical path) or 2
 * (the floor: the message, then every receiver's receipt to everyone; see pattern.c). Forks three
 * processes and waits for each by PID (killing them after `timeout_s`). Returns 0, or -1 when a
 * process failed or stalled. */
int pattern_run(size_t size, int steps, int rounds, int gap_us, double timeout_s, double *p50,
                double *p99);

#endif
