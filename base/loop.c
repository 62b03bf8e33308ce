#include "base/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/log.h"

struct fd_reg {
    sq_loop_fd_fn fn;
    void *arg;
    uint32_t events;
    uint32_t gen; /* bumped on remove so stale epoll events are recognised */
    bool active;
};

struct post {
    sq_loop_post_fn fn;
    void *arg;
};

struct sq_loop {
    struct sq_clock *clock;
    int epfd;
    int wakefd;
    bool stopping; /* read and written with __atomic: sq_loop_stop may run on any thread */

    struct fd_reg *regs; /* indexed by fd, grows by doubling up to SQ_LOOP_FDS_MAX */
    size_t regs_count;

    struct sq_timer **heap; /* min-heap on (deadline_ns, order) */
    uint32_t heap_count;
    uint64_t timer_order;

    pthread_mutex_t post_mu;
    struct post *posts; /* ring of SQ_LOOP_POSTS_MAX */
    uint32_t post_head;
    uint32_t post_count;
};

#define WAKE_TAG UINT64_MAX

int sq_loop_create(struct sq_loop **out, struct sq_clock *clock)
{
    SQ_ASSERT(clock != NULL);
    int rc = SQ_ENOMEM;
    struct sq_loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL) {
        goto err;
    }
    loop->clock = clock;
    loop->heap = calloc(SQ_LOOP_TIMERS_MAX, sizeof(*loop->heap));
    if (loop->heap == NULL) {
        goto err_free_loop;
    }
    loop->posts = calloc(SQ_LOOP_POSTS_MAX, sizeof(*loop->posts));
    if (loop->posts == NULL) {
        goto err_free_heap;
    }
    loop->regs_count = 256;
    loop->regs = calloc(loop->regs_count, sizeof(*loop->regs));
    if (loop->regs == NULL) {
        goto err_free_posts;
    }
    rc = SQ_EIO;
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        SQ_ERROR("loop", "epoll_create1 failed", "errno=%d", errno);
        goto err_free_regs;
    }
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0) {
        SQ_ERROR("loop", "eventfd failed", "errno=%d", errno);
        goto err_close_ep;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) != 0) {
        SQ_ERROR("loop", "epoll_ctl failed", "errno=%d", errno);
        goto err_close_wake;
    }
    if (pthread_mutex_init(&loop->post_mu, NULL) != 0) {
        goto err_close_wake;
    }
    *out = loop;
    return SQ_OK;

err_close_wake:
    close(loop->wakefd);
err_close_ep:
    close(loop->epfd);
err_free_regs:
    free(loop->regs);
err_free_posts:
    free(loop->posts);
err_free_heap:
    free(loop->heap);
err_free_loop:
    free(loop);
err:
    return rc;
}

void sq_loop_destroy(struct sq_loop *loop)
{
    if (loop == NULL) {
        return;
    }
    for (uint32_t i = 0; i < loop->heap_count; i++) {
        loop->heap[i]->heap_index = SQ_TIMER_IDLE;
    }
    pthread_mutex_destroy(&loop->post_mu);
    close(loop->wakefd);
    close(loop->epfd);
    free(loop->regs);
    free(loop->posts);
    free(loop->heap);
    free(loop);
}

struct sq_clock *sq_loop_clock(struct sq_loop *loop)
{
    return loop->clock;
}

uint64_t sq_loop_now(struct sq_loop *loop)
{
    return sq_clock_now(loop->clock);
}

/* ---- descriptors ---- */

static uint32_t to_epoll(uint32_t events)
{
    uint32_t e = 0;
    if (events & SQ_LOOP_IN) {
        e |= EPOLLIN | EPOLLRDHUP;
    }
    if (events & SQ_LOOP_OUT) {
        e |= EPOLLOUT;
    }
    return e;
}

static int regs_reserve(struct sq_loop *loop, int fd)
{
    size_t need = (size_t)fd + 1;
    if (need <= loop->regs_count) {
        return SQ_OK;
    }
    size_t n = loop->regs_count;
    while (n < need) {
        n *= 2;
    }
    if (n > SQ_LOOP_FDS_MAX) {
        n = SQ_LOOP_FDS_MAX;
    }
    struct fd_reg *r = realloc(loop->regs, n * sizeof(*r));
    if (r == NULL) {
        return SQ_ENOMEM;
    }
    memset(r + loop->regs_count, 0, (n - loop->regs_count) * sizeof(*r));
    loop->regs = r;
    loop->regs_count = n;
    return SQ_OK;
}

int sq_loop_fd_add(struct sq_loop *loop, int fd, uint32_t events, sq_loop_fd_fn fn, void *arg)
{
    SQ_ASSERT(fd >= 0);
    SQ_ASSERT(fn != NULL);
    if (fd >= SQ_LOOP_FDS_MAX) {
        return SQ_ETOOBIG;
    }
    int rc = regs_reserve(loop, fd);
    if (rc != SQ_OK) {
        return rc;
    }
    struct fd_reg *r = &loop->regs[fd];
    if (r->active) {
        return SQ_EEXIST;
    }
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = ((uint64_t)r->gen << 32) | (uint32_t)fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        SQ_ERROR("loop", "epoll_ctl add failed", "fd=%d errno=%d", fd, errno);
        return SQ_EIO;
    }
    r->fn = fn;
    r->arg = arg;
    r->events = events;
    r->active = true;
    return SQ_OK;
}

int sq_loop_fd_modify(struct sq_loop *loop, int fd, uint32_t events)
{
    if (fd < 0 || (size_t)fd >= loop->regs_count || !loop->regs[fd].active) {
        return SQ_ENOTFOUND;
    }
    struct fd_reg *r = &loop->regs[fd];
    if (r->events == events) {
        return SQ_OK;
    }
    struct epoll_event ev = {.events = to_epoll(events),
                             .data.u64 = ((uint64_t)r->gen << 32) | (uint32_t)fd};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) != 0) {
        SQ_ERROR("loop", "epoll_ctl mod failed", "fd=%d errno=%d", fd, errno);
        return SQ_EIO;
    }
    r->events = events;
    return SQ_OK;
}

void sq_loop_fd_remove(struct sq_loop *loop, int fd)
{
    if (fd < 0 || (size_t)fd >= loop->regs_count || !loop->regs[fd].active) {
        return;
    }
    struct fd_reg *r = &loop->regs[fd];
    /* Failure here means the fd was already closed, which removed it from the epoll set. */
    (void)epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    r->active = false;
    r->fn = NULL;
    r->arg = NULL;
    r->gen++;
}

/* ---- timers: a binary min-heap of pointers ---- */

static bool timer_before(const struct sq_timer *a, const struct sq_timer *b)
{
    if (a->deadline_ns != b->deadline_ns) {
        return a->deadline_ns < b->deadline_ns;
    }
    return a->order < b->order;
}

static void heap_set(struct sq_loop *loop, uint32_t i, struct sq_timer *t)
{
    loop->heap[i] = t;
    t->heap_index = i;
}

static void heap_up(struct sq_loop *loop, uint32_t i)
{
    struct sq_timer *t = loop->heap[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!timer_before(t, loop->heap[parent])) {
            break;
        }
        heap_set(loop, i, loop->heap[parent]);
        i = parent;
    }
    heap_set(loop, i, t);
}

static void heap_down(struct sq_loop *loop, uint32_t i)
{
    struct sq_timer *t = loop->heap[i];
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= loop->heap_count) {
            break;
        }
        uint32_t c = l;
        if (l + 1 < loop->heap_count && timer_before(loop->heap[l + 1], loop->heap[l])) {
            c = l + 1;
        }
        if (!timer_before(loop->heap[c], t)) {
            break;
        }
        heap_set(loop, i, loop->heap[c]);
        i = c;
    }
    heap_set(loop, i, t);
}

static void heap_remove(struct sq_loop *loop, struct sq_timer *t)
{
    uint32_t i = t->heap_index;
    SQ_ASSERT(i < loop->heap_count);
    SQ_ASSERT(loop->heap[i] == t);
    loop->heap_count--;
    if (i != loop->heap_count) {
        heap_set(loop, i, loop->heap[loop->heap_count]);
        heap_down(loop, i);
        heap_up(loop, loop->heap[i]->heap_index);
    }
    t->heap_index = SQ_TIMER_IDLE;
}

void sq_timer_init(struct sq_timer *timer, sq_timer_fn fn, void *arg)
{
    SQ_ASSERT(fn != NULL);
    timer->deadline_ns = 0;
    timer->order = 0;
    timer->fn = fn;
    timer->arg = arg;
    timer->heap_index = SQ_TIMER_IDLE;
}

int sq_loop_timer_start_at(struct sq_loop *loop, struct sq_timer *timer, uint64_t deadline_ns)
{
    if (sq_timer_is_armed(timer)) {
        heap_remove(loop, timer);
    }
    if (loop->heap_count >= SQ_LOOP_TIMERS_MAX) {
        return SQ_EFULL;
    }
    timer->deadline_ns = deadline_ns;
    timer->order = loop->timer_order++;
    loop->heap[loop->heap_count] = timer;
    timer->heap_index = loop->heap_count;
    loop->heap_count++;
    heap_up(loop, timer->heap_index);
    return SQ_OK;
}

int sq_loop_timer_start(struct sq_loop *loop, struct sq_timer *timer, uint64_t delay_ns)
{
    uint64_t now = sq_loop_now(loop);
    uint64_t deadline = now + delay_ns < now ? UINT64_MAX : now + delay_ns;
    return sq_loop_timer_start_at(loop, timer, deadline);
}

void sq_loop_timer_stop(struct sq_loop *loop, struct sq_timer *timer)
{
    if (sq_timer_is_armed(timer)) {
        heap_remove(loop, timer);
    }
}

uint64_t sq_loop_next_deadline(struct sq_loop *loop)
{
    return loop->heap_count > 0 ? loop->heap[0]->deadline_ns : UINT64_MAX;
}

/* ---- cross-thread posts ---- */

int sq_loop_post(struct sq_loop *loop, sq_loop_post_fn fn, void *arg)
{
    SQ_ASSERT(fn != NULL);
    pthread_mutex_lock(&loop->post_mu);
    if (loop->post_count >= SQ_LOOP_POSTS_MAX) {
        pthread_mutex_unlock(&loop->post_mu);
        return SQ_EFULL;
    }
    uint32_t slot = (loop->post_head + loop->post_count) % SQ_LOOP_POSTS_MAX;
    loop->posts[slot].fn = fn;
    loop->posts[slot].arg = arg;
    loop->post_count++;
    pthread_mutex_unlock(&loop->post_mu);
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
    return SQ_OK;
}

static int run_posts(struct sq_loop *loop)
{
    uint64_t drained;
    ssize_t r = read(loop->wakefd, &drained, sizeof(drained));
    (void)r;
    /* Run only what was queued when we started, so a post that re-posts itself cannot starve
     * the rest of the loop. */
    pthread_mutex_lock(&loop->post_mu);
    uint32_t n = loop->post_count;
    pthread_mutex_unlock(&loop->post_mu);
    for (uint32_t i = 0; i < n; i++) {
        pthread_mutex_lock(&loop->post_mu);
        struct post p = loop->posts[loop->post_head];
        loop->post_head = (loop->post_head + 1) % SQ_LOOP_POSTS_MAX;
        loop->post_count--;
        pthread_mutex_unlock(&loop->post_mu);
        p.fn(loop, p.arg);
    }
    return (int)n;
}

/* ---- running ---- */

static int run_timers(struct sq_loop *loop)
{
    int ran = 0;
    uint64_t now = sq_loop_now(loop);
    /* Timers armed by callbacks for "now" are run in the next round, so a timer re-arming itself
     * with zero delay cannot livelock the loop. */
    uint64_t limit = loop->timer_order;
    while (loop->heap_count > 0) {
        struct sq_timer *t = loop->heap[0];
        if (t->deadline_ns > now || t->order >= limit) {
            break;
        }
        heap_remove(loop, t);
        t->fn(loop, t, t->arg);
        ran++;
    }
    return ran;
}

int sq_loop_run_once(struct sq_loop *loop, int timeout_ms)
{
    uint64_t next = sq_loop_next_deadline(loop);
    int wait_ms = timeout_ms;
    if (next != UINT64_MAX) {
        uint64_t now = sq_loop_now(loop);
        uint64_t until_ms = next <= now ? 0 : (next - now + SQ_NS_PER_MS - 1) / SQ_NS_PER_MS;
        if (until_ms > INT32_MAX) {
            until_ms = INT32_MAX;
        }
        if (wait_ms < 0 || (uint64_t)wait_ms > until_ms) {
            wait_ms = (int)until_ms;
        }
    }
    pthread_mutex_lock(&loop->post_mu);
    bool posts_pending = loop->post_count > 0;
    pthread_mutex_unlock(&loop->post_mu);
    if (posts_pending) {
        wait_ms = 0;
    }

    struct epoll_event evs[SQ_LOOP_EVENTS_PER_WAIT];
    int n = epoll_wait(loop->epfd, evs, SQ_LOOP_EVENTS_PER_WAIT, wait_ms);
    if (n < 0) {
        if (errno != EINTR) {
            SQ_ERROR("loop", "epoll_wait failed", "errno=%d", errno);
            return -SQ_EIO;
        }
        n = 0;
    }
    int ran = 0;
    bool woke = posts_pending;
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        if (tag == WAKE_TAG) {
            woke = true;
            continue;
        }
        int fd = (int)(uint32_t)tag;
        uint32_t gen = (uint32_t)(tag >> 32);
        struct fd_reg *r = &loop->regs[fd];
        if (!r->active || r->gen != gen) {
            continue; /* removed by an earlier callback in this round */
        }
        uint32_t ready = 0;
        if (evs[i].events & (EPOLLIN | EPOLLRDHUP)) {
            ready |= SQ_LOOP_IN;
        }
        if (evs[i].events & EPOLLOUT) {
            ready |= SQ_LOOP_OUT;
        }
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
            ready |= SQ_LOOP_ERR;
        }
        r->fn(loop, fd, ready, r->arg);
        ran++;
    }
    if (woke) {
        ran += run_posts(loop);
    }
    ran += run_timers(loop);
    return ran;
}

int sq_loop_run(struct sq_loop *loop)
{
    __atomic_store_n(&loop->stopping, false, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&loop->stopping, __ATOMIC_ACQUIRE)) {
        int rc = sq_loop_run_once(loop, -1);
        if (rc < 0) {
            return -rc;
        }
    }
    return SQ_OK;
}

void sq_loop_stop(struct sq_loop *loop)
{
    __atomic_store_n(&loop->stopping, true, __ATOMIC_RELEASE);
    uint64_t one = 1;
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}

bool sq_loop_is_stopping(struct sq_loop *loop)
{
    return __atomic_load_n(&loop->stopping, __ATOMIC_ACQUIRE);
}
