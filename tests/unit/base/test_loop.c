#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/loop.h"

struct rec {
    int order[16];
    int count;
};

struct tagged {
    struct sq_timer timer;
    struct rec *rec;
    int tag;
};

static void record_timer(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct tagged *t = arg;
    t->rec->order[t->rec->count++] = t->tag;
}

static void test_timers_fire_in_deadline_order_on_manual_clock(void **state)
{
    (void)state;
    struct sq_clock_manual clk;
    sq_clock_manual_init(&clk, 1000);
    struct sq_loop *loop;
    assert_int_equal(sq_loop_create(&loop, &clk.base), SQ_OK);
    struct rec rec = {0};
    struct tagged t[4];
    const uint64_t delays[4] = {30, 10, 20, 10}; /* two equal deadlines: fire in arming order */
    for (int i = 0; i < 4; i++) {
        t[i].rec = &rec;
        t[i].tag = i;
        sq_timer_init(&t[i].timer, record_timer, &t[i]);
        assert_int_equal(sq_loop_timer_start(loop, &t[i].timer, delays[i]), SQ_OK);
    }
    assert_true(sq_loop_next_deadline(loop) == 1010);
    assert_int_equal(sq_loop_run_once(loop, 0), 0); /* nothing due yet */
    sq_clock_manual_advance(&clk, 10);
    assert_int_equal(sq_loop_run_once(loop, 0), 2);
    assert_int_equal(rec.count, 2);
    assert_int_equal(rec.order[0], 1);
    assert_int_equal(rec.order[1], 3);
    sq_loop_timer_stop(loop, &t[0].timer); /* stopped timers never fire */
    assert_false(sq_timer_is_armed(&t[0].timer));
    sq_clock_manual_advance(&clk, 100);
    assert_int_equal(sq_loop_run_once(loop, 0), 1);
    assert_int_equal(rec.count, 3);
    assert_int_equal(rec.order[2], 2);
    assert_true(sq_loop_next_deadline(loop) == UINT64_MAX);
    sq_loop_destroy(loop);
}

static void rearm_zero(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    int *n = arg;
    (*n)++;
    assert_int_equal(sq_loop_timer_start(loop, timer, 0), SQ_OK);
}

static void test_self_rearming_timer_does_not_livelock(void **state)
{
    (void)state;
    struct sq_clock_manual clk;
    sq_clock_manual_init(&clk, 0);
    struct sq_loop *loop;
    assert_int_equal(sq_loop_create(&loop, &clk.base), SQ_OK);
    int n = 0;
    struct sq_timer t;
    sq_timer_init(&t, rearm_zero, &n);
    assert_int_equal(sq_loop_timer_start(loop, &t, 0), SQ_OK);
    assert_int_equal(sq_loop_run_once(loop, 0), 1); /* one firing per round */
    assert_int_equal(sq_loop_run_once(loop, 0), 1);
    assert_int_equal(n, 2);
    sq_loop_destroy(loop);
}

static void test_timer_heap_is_bounded(void **state)
{
    (void)state;
    struct sq_clock_manual clk;
    sq_clock_manual_init(&clk, 0);
    struct sq_loop *loop;
    assert_int_equal(sq_loop_create(&loop, &clk.base), SQ_OK);
    static struct sq_timer timers[SQ_LOOP_TIMERS_MAX + 1];
    int n = 0;
    for (int i = 0; i < SQ_LOOP_TIMERS_MAX; i++) {
        sq_timer_init(&timers[i], rearm_zero, &n);
        /* Deadlines in a scrambled order exercise the heap. */
        assert_int_equal(sq_loop_timer_start(loop, &timers[i], (uint64_t)((i * 7919) % 5000)),
                         SQ_OK);
    }
    sq_timer_init(&timers[SQ_LOOP_TIMERS_MAX], rearm_zero, &n);
    assert_int_equal(sq_loop_timer_start(loop, &timers[SQ_LOOP_TIMERS_MAX], 1), SQ_EFULL);
    assert_false(sq_timer_is_armed(&timers[SQ_LOOP_TIMERS_MAX]));
    /* Re-arming an armed timer does not need a new slot. */
    assert_int_equal(sq_loop_timer_start(loop, &timers[5], 1), SQ_OK);
    /* Stop them all in a scrambled order; the heap must stay consistent. */
    for (int i = 0; i < SQ_LOOP_TIMERS_MAX; i++) {
        sq_loop_timer_stop(loop, &timers[(i * 4099) % SQ_LOOP_TIMERS_MAX]);
    }
    assert_true(sq_loop_next_deadline(loop) == UINT64_MAX);
    sq_loop_destroy(loop);
}

struct pipe_ctx {
    int fds[2];
    int reads;
    int other_fd; /* removed by the first callback; must not be called afterwards */
    int other_calls;
};

static void on_other(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct pipe_ctx *c = arg;
    c->other_calls++;
}

static void on_readable(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    struct pipe_ctx *c = arg;
    assert_true(events & SQ_LOOP_IN);
    char b[8];
    ssize_t n = read(fd, b, sizeof(b));
    assert_true(n > 0);
    c->reads++;
    sq_loop_fd_remove(loop, c->other_fd);
}

static void test_fd_readiness_and_removal_inside_callback(void **state)
{
    (void)state;
    struct sq_loop *loop;
    assert_int_equal(sq_loop_create(&loop, sq_clock_monotonic()), SQ_OK);
    struct pipe_ctx a = {0}, b = {0};
    assert_int_equal(pipe(a.fds), 0);
    assert_int_equal(pipe(b.fds), 0);
    a.other_fd = b.fds[0];
    b.other_fd = -1;
    assert_int_equal(sq_loop_fd_add(loop, a.fds[0], SQ_LOOP_IN, on_readable, &a), SQ_OK);
    assert_int_equal(sq_loop_fd_add(loop, b.fds[0], SQ_LOOP_IN, on_other, &a), SQ_OK);
    assert_int_equal(sq_loop_fd_add(loop, a.fds[0], SQ_LOOP_IN, on_readable, &a), SQ_EEXIST);
    /* Nothing ready: a zero-timeout round runs nothing. */
    assert_int_equal(sq_loop_run_once(loop, 0), 0);
    /* Make both ready in the same round; whichever order epoll reports them, once a's callback
     * removed b, b's callback must not run. */
    assert_int_equal(write(a.fds[1], "x", 1), 1);
    assert_int_equal(write(b.fds[1], "y", 1), 1);
    int ran = sq_loop_run_once(loop, 1000);
    assert_true(ran >= 1);
    assert_int_equal(a.reads, 1);
    assert_true(a.other_calls <= 1);
    int calls_after = a.other_calls;
    assert_int_equal(write(b.fds[1], "z", 1), 1);
    sq_loop_run_once(loop, 0);
    assert_int_equal(a.other_calls, calls_after); /* removed: never again */
    assert_int_equal(sq_loop_fd_modify(loop, b.fds[0], SQ_LOOP_IN), SQ_ENOTFOUND);
    sq_loop_fd_remove(loop, a.fds[0]);
    for (int i = 0; i < 2; i++) {
        close(a.fds[i]);
        close(b.fds[i]);
    }
    sq_loop_destroy(loop);
}

struct post_ctx {
    struct sq_loop *loop;
    int ran;
    int order_ok;
};

static void posted(struct sq_loop *loop, void *arg)
{
    struct post_ctx *c = arg;
    assert_ptr_equal(loop, c->loop);
    c->ran++;
    if (c->ran == 1000) {
        sq_loop_stop(loop);
    }
}

static void *poster(void *arg)
{
    struct post_ctx *c = arg;
    for (int i = 0; i < 1000; i++) {
        while (sq_loop_post(c->loop, posted, c) == SQ_EFULL) {
            usleep(100);
        }
    }
    return NULL;
}

static void test_post_from_another_thread_wakes_a_blocked_loop(void **state)
{
    (void)state;
    struct post_ctx c = {0};
    assert_int_equal(sq_loop_create(&c.loop, sq_clock_monotonic()), SQ_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, poster, &c), 0);
    /* sq_loop_run blocks in epoll with no timers; only the posts can wake it and stop it. */
    assert_int_equal(sq_loop_run(c.loop), SQ_OK);
    pthread_join(th, NULL);
    assert_int_equal(c.ran, 1000);
    sq_loop_destroy(c.loop);
}

static void stop_cb(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)timer;
    (void)arg;
    sq_loop_stop(loop);
}

static void test_real_clock_timer_blocks_then_fires(void **state)
{
    (void)state;
    struct sq_loop *loop;
    assert_int_equal(sq_loop_create(&loop, sq_clock_monotonic()), SQ_OK);
    struct sq_timer t;
    sq_timer_init(&t, stop_cb, NULL);
    uint64_t t0 = sq_loop_now(loop);
    assert_int_equal(sq_loop_timer_start(loop, &t, 20 * SQ_NS_PER_MS), SQ_OK);
    assert_int_equal(sq_loop_run(loop), SQ_OK);
    uint64_t waited = sq_loop_now(loop) - t0;
    assert_true(waited >= 20 * SQ_NS_PER_MS);
    assert_true(waited < 2000 * SQ_NS_PER_MS);
    sq_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_fire_in_deadline_order_on_manual_clock),
        cmocka_unit_test(test_self_rearming_timer_does_not_livelock),
        cmocka_unit_test(test_timer_heap_is_bounded),
        cmocka_unit_test(test_fd_readiness_and_removal_inside_callback),
        cmocka_unit_test(test_post_from_another_thread_wakes_a_blocked_loop),
        cmocka_unit_test(test_real_clock_timer_blocks_then_fires),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
