#include "base/clock.h"

#include <time.h>

#include "base/assert.h"

static uint64_t monotonic_now(struct sq_clock *clock)
{
    (void)clock;
    struct timespec ts;
    int rc = clock_gettime(CLOCK_MONOTONIC, &ts);
    SQ_ASSERT(rc == 0);
    return (uint64_t)ts.tv_sec * SQ_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static struct sq_clock monotonic_clock = {.now_ns = monotonic_now};

struct sq_clock *sq_clock_monotonic(void)
{
    return &monotonic_clock;
}

uint64_t sq_clock_wall_ns(void)
{
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    SQ_ASSERT(rc == 0);
    return (uint64_t)ts.tv_sec * SQ_NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t manual_now(struct sq_clock *clock)
{
    struct sq_clock_manual *m = (struct sq_clock_manual *)clock;
    return m->now_ns;
}

void sq_clock_manual_init(struct sq_clock_manual *clock, uint64_t start_ns)
{
    clock->base.now_ns = manual_now;
    clock->now_ns = start_ns;
}

void sq_clock_manual_advance(struct sq_clock_manual *clock, uint64_t delta_ns)
{
    SQ_ASSERT(clock->now_ns + delta_ns >= clock->now_ns);
    clock->now_ns += delta_ns;
}
