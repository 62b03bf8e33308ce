/* A group of mc_member processes whose event streams (mc_member --events-fd) the parent reads
 * while they run: used by bench/viewchange_bench and tests/integration/consensus/test_vc_tcp.c to
 * kill members and time the view changes that follow. Every wait blocks in poll() on the event
 * pipes with a deadline: no sleeping, no spinning.
 *
 * Times are CLOCK_MONOTONIC nanoseconds, the clock every member stamps its events with. */
#ifndef SQ_BENCH_VC_HARNESS_H
#define SQ_BENCH_VC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spawn.h"

#define VC_VIEWS_MAX 16
#define VC_DIGEST_CHARS 65

/* Deliveries per bin (mc_member BINS / BINSX lines). */
struct vc_bins {
    uint64_t base, bin_ns;
    uint32_t *count;
    size_t len;
};

/* What one member reported, per view id (index = vid). 0 times mean "not seen". */
struct vc_member {
    char *buf; /* every event byte received so far */
    size_t len, cap, parsed;
    bool eof;
    uint64_t ready_ns;
    uint64_t killed_ns; /* when the parent signalled it (vc_kill) */
    uint64_t detect_ns[VC_VIEWS_MAX];    /* first "peer failed" / "heartbeat timeout" / WEDGED */
    uint64_t wedged_ns[VC_VIEWS_MAX];    /* WEDGED event */
    uint64_t proposed_ns[VC_VIEWS_MAX];  /* (trace) this member proposed as leader */
    uint64_t committed_ns[VC_VIEWS_MAX]; /* (trace) the batch committed here */
    uint64_t trim_ns[VC_VIEWS_MAX];      /* TRIM */
    uint64_t last_deliver_ns[VC_VIEWS_MAX]; /* last delivery in view vid (from the next VIEW) */
    uint64_t view_ns[VC_VIEWS_MAX];      /* VIEW vid installed */
    uint32_t view_members[VC_VIEWS_MAX];
    uint64_t view_count[VC_VIEWS_MAX];   /* deliveries in view vid (from the next VIEW) */
    char view_digest[VC_VIEWS_MAX][VC_DIGEST_CHARS];
    uint64_t stop_ns;
    char stop_rule[16];
    char stop_line[512];
    uint64_t stop_vid, stop_total, stop_view_count;
    char stop_view_digest[VC_DIGEST_CHARS];
    uint64_t progress_vid, progress_view_count, progress_total; /* latest PROGRESS */
    bool ended;
    uint64_t end_total, after_stop;
    struct vc_bins bins;   /* every delivery */
    struct vc_bins bins_x; /* deliveries not sent by mc_member's --bins-exclude member */
};

struct vc_group {
    struct spawn_group sg;
    uint32_t n;
    struct vc_member m[SPAWN_MAX];
};

/* Starts `n` mc_member processes (see spawn_start) with event pipes. 0 or -1. */
int vc_start(struct vc_group *g, const char *exe, uint32_t n, const char *const *args,
             const char *const *(*extra)(uint32_t i, void *arg), void *extra_arg);

/* Reads events until cond(g, arg) holds (checked after every batch of input and once at the
 * start) or `timeout_s` passes. True if the condition held. */
bool vc_wait(struct vc_group *g, double timeout_s, bool (*cond)(struct vc_group *g, void *arg),
             void *arg);

/* Sends `sig` to member i by PID and records the time just before it. 0 or -1. */
int vc_kill(struct vc_group *g, uint32_t i, int sig);

/* Reads every event stream to its end (at most timeout_s), then waits for the processes
 * (spawn_wait: those still running at the deadline are SIGKILLed by PID). Returns how many exited
 * with status 0. */
uint32_t vc_finish(struct vc_group *g, double timeout_s);

/* Frees the event buffers. */
void vc_free(struct vc_group *g);

/* Ready-made conditions: every member is READY; every member in `mask` installed view vid
 * (struct vc_view_arg); every member in `mask` stopped. */
struct vc_view_arg {
    uint64_t mask;
    uint64_t vid;
};
bool vc_cond_ready(struct vc_group *g, void *arg);
/* Never true: vc_wait(g, s, vc_cond_never, NULL) reads events for s seconds. */
bool vc_cond_never(struct vc_group *g, void *arg);
bool vc_cond_view(struct vc_group *g, void *arg);
bool vc_cond_stopped(struct vc_group *g, void *arg);
/* Every member in `mask` reported (PROGRESS) at least `count` deliveries in view `vid`. */
struct vc_progress_arg {
    uint64_t mask;
    uint64_t vid;
    uint64_t count;
};
bool vc_cond_progress(struct vc_group *g, void *arg);

/* Deliveries counted in `b` between monotonic times [from_ns, to_ns) (bins that straddle a bound
 * count in proportion). -1 without bins. */
double vc_delivered_between(const struct vc_bins *b, uint64_t from_ns, uint64_t to_ns);

uint64_t vc_now_ns(void);

#endif
