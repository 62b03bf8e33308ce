/* Clock interface.
 *
 * Protocol cores never read a clock: they are handed "now". Everything else that needs time asks a
 * `struct sq_clock`, so tests and the simulator can substitute a manual clock. */
#ifndef SQ_BASE_CLOCK_H
#define SQ_BASE_CLOCK_H

#include <stdint.h>

#define SQ_NS_PER_US UINT64_C(1000)
#define SQ_NS_PER_MS UINT64_C(1000000)
#define SQ_NS_PER_S UINT64_C(1000000000)

struct sq_clock {
    /* Nanoseconds on a monotonic scale with an arbitrary origin. Never decreases. */
    uint64_t (*now_ns)(struct sq_clock *clock);
};

/* The process-wide CLOCK_MONOTONIC clock. Static storage; any thread. */
struct sq_clock *sq_clock_monotonic(void);

/* Wall-clock time as nanoseconds since the Unix epoch (CLOCK_REALTIME), for timestamps that leave
 * the process (block headers, logs). May jump; never use it for timeouts. Any thread. */
uint64_t sq_clock_wall_ns(void);

/* A clock that moves only when told: for tests and the simulator. Single-threaded. */
struct sq_clock_manual {
    struct sq_clock base; /* must be first: pass &m.base where a struct sq_clock * is wanted */
    uint64_t now_ns;
};

/* Initialises a manual clock at `start_ns`. */
void sq_clock_manual_init(struct sq_clock_manual *clock, uint64_t start_ns);

/* Moves a manual clock forward by `delta_ns`. */
void sq_clock_manual_advance(struct sq_clock_manual *clock, uint64_t delta_ns);

static inline uint64_t sq_clock_now(struct sq_clock *clock)
{
    return clock->now_ns(clock);
}

#endif
