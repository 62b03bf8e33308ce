/* The event loop: epoll plus a timer heap plus a cross-thread post queue.
 *
 * Every Squall process runs one loop per thread that does I/O; protocol cores are driven from it.
 * The loop blocks in epoll_wait until a descriptor is ready, a timer is due or another thread
 * posts work, so an idle node uses no CPU (no busy-spinning). Tests step it with
 * sq_loop_run_once(loop, 0) and a manual clock.
 *
 * Threads: everything except sq_loop_post() and sq_loop_stop() must be called from the thread
 * that runs the loop. Callbacks run on that thread. Callbacks may add, modify and remove any
 * descriptor and start and stop any timer, including their own; an event that was pending for a
 * descriptor removed in the same round is not delivered. */
#ifndef SQ_BASE_LOOP_H
#define SQ_BASE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "base/clock.h"

struct sq_loop;
struct sq_timer;

/* Interest and readiness bits. */
#define SQ_LOOP_IN 0x1u  /* readable (or a listening socket has a connection) */
#define SQ_LOOP_OUT 0x2u /* writable */
#define SQ_LOOP_ERR 0x4u /* error or hang-up: reported whatever the interest */

typedef void (*sq_loop_fd_fn)(struct sq_loop *loop, int fd, uint32_t events, void *arg);
typedef void (*sq_timer_fn)(struct sq_loop *loop, struct sq_timer *timer, void *arg);
typedef void (*sq_loop_post_fn)(struct sq_loop *loop, void *arg);

/* A timer is owned by its caller (embedded in the caller's struct) and must stay alive while armed.
 * Fields are private to the loop. */
struct sq_timer {
    uint64_t deadline_ns;
    uint64_t order; /* ties among equal deadlines fire in the order they were armed */
    sq_timer_fn fn;
    void *arg;
    uint32_t heap_index; /* SQ_TIMER_IDLE when not armed */
};
#define SQ_TIMER_IDLE UINT32_MAX

/* Creates a loop timed by `clock` (borrowed; must outlive the loop). SQ_ENOMEM, or SQ_EIO when
 * epoll or eventfd cannot be created. */
int sq_loop_create(struct sq_loop **out, struct sq_clock *clock);

/* Frees the loop. Descriptors are not closed (their owners close them); armed timers are simply
 * forgotten. Posted work that never ran is dropped. */
void sq_loop_destroy(struct sq_loop *loop);

/* The loop's clock, and its current time. */
struct sq_clock *sq_loop_clock(struct sq_loop *loop);
uint64_t sq_loop_now(struct sq_loop *loop);

/* Watches `fd` for `events` (SQ_LOOP_IN | SQ_LOOP_OUT), level-triggered. `fn(loop, fd, ready,
 * arg)` runs when it is ready. SQ_EEXIST if fd is already watched, SQ_ETOOBIG if fd >=
 * SQ_LOOP_FDS_MAX, SQ_EIO if epoll refuses (detail logged). */
int sq_loop_fd_add(struct sq_loop *loop, int fd, uint32_t events, sq_loop_fd_fn fn, void *arg);

/* Changes the interest of a watched fd. SQ_ENOTFOUND if it is not watched. */
int sq_loop_fd_modify(struct sq_loop *loop, int fd, uint32_t events);

/* Stops watching fd (before the owner closes it). A no-op for an fd not watched. */
void sq_loop_fd_remove(struct sq_loop *loop, int fd);

/* Prepares a timer; it is idle until started. */
void sq_timer_init(struct sq_timer *timer, sq_timer_fn fn, void *arg);

/* Arms (or re-arms) `timer` to fire once, `delay_ns` from now / at `deadline_ns` of the loop's
 * clock. SQ_EFULL when SQ_LOOP_TIMERS_MAX timers are armed (the timer stays idle). */
int sq_loop_timer_start(struct sq_loop *loop, struct sq_timer *timer, uint64_t delay_ns);
int sq_loop_timer_start_at(struct sq_loop *loop, struct sq_timer *timer, uint64_t deadline_ns);

/* Disarms `timer` if armed. */
void sq_loop_timer_stop(struct sq_loop *loop, struct sq_timer *timer);

static inline bool sq_timer_is_armed(const struct sq_timer *timer)
{
    return timer->heap_index != SQ_TIMER_IDLE;
}

/* The earliest armed deadline, or UINT64_MAX when no timer is armed. */
uint64_t sq_loop_next_deadline(struct sq_loop *loop);

/* Queues `fn(loop, arg)` to run on the loop's thread and wakes the loop. Any thread; the calls run
 * in the order posted. SQ_EFULL when SQ_LOOP_POSTS_MAX calls are already queued. */
int sq_loop_post(struct sq_loop *loop, sq_loop_post_fn fn, void *arg);

/* Runs one round: waits up to `timeout_ms` (0: do not wait; negative: until something happens)
 * but never past the next timer, then runs ready descriptor callbacks, posted calls and due timers.
 * Returns the number of callbacks run (>= 0), or SQ_EIO's negation if epoll failed. */
int sq_loop_run_once(struct sq_loop *loop, int timeout_ms);

/* Runs rounds until sq_loop_stop() is called. Returns SQ_OK, or SQ_EIO if epoll failed. */
int sq_loop_run(struct sq_loop *loop);

/* Makes sq_loop_run() return after the current round. Any thread. */
void sq_loop_stop(struct sq_loop *loop);

/* True once sq_loop_stop() was called (until the next sq_loop_run()). */
bool sq_loop_is_stopping(struct sq_loop *loop);

#endif
