/* A deterministic, single-process harness for the RDMC engine (tests/unit/rdmc/).
 *
 * Several engines (one per simulated node) exchange frames through an event queue ordered by
 * virtual time. Every link (src, dst) is FIFO; delays are drawn from a seeded base/prng.h, so the
 * same seed replays the same run and the same trace hash. The harness injects transport
 * back-pressure (io.send answering SQ_EFULL, followed by a kick), staggered group creation (READYs
 * that arrive before the group exists), and crashes (a node stops; every survivor later learns of
 * it through rdmc_engine_peer_failed; sends to it fail or vanish).
 *
 * Oracles, checked as the run goes and at its end:
 *  - rdmc_check() after every event, on the engine that handled it;
 *  - every `done` carries the next msg_index of its group at that node and exactly the root's
 * bytes;
 *  - without a crash: every frame is accepted, every member completes every message, nobody fails;
 *  - with a crash of node C: every survivor in a group with C gets exactly one `failed` (SQ_EPEER,
 *    peer C) and no upcall after it; groups without C complete everything;
 *  - the run ends with an empty event queue (nothing stalls) and no engine blocked.
 * On failure the seed is printed (also from SIGABRT, for SQ_ASSERT failures inside the engine);
 * RDMC_SEED=<n> replays one seed. */
#ifndef SQ_TESTS_RDMC_HARNESS_H
#define SQ_TESTS_RDMC_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/prng.h"
#include "rdmc/rdmc.h"

#define H_NODES_MAX 16
#define H_GROUPS_MAX 6
#define H_MSGS_MAX 80

struct h_sim;

struct h_group_cfg {
    uint32_t id;
    uint32_t n;
    uint32_t members[H_NODES_MAX]; /* harness node indexes; [0] is the root */
    struct rdmc_settings settings;
    uint32_t msg_count;
    size_t sizes[H_MSGS_MAX];
};

struct h_cfg {
    uint64_t seed;
    uint32_t node_count;
    uint32_t group_count;
    struct h_group_cfg groups[H_GROUPS_MAX];
    uint64_t delay_min_ns;
    uint64_t delay_max_ns;
    uint32_t full_per_mille;   /* io.send answers SQ_EFULL this often */
    uint64_t create_spread_ns; /* groups are created at random times in [0, spread] */
    uint64_t send_gap_max_ns;  /* gap between a root's rdmc_group_send calls (0: all at once) */
    int crash_node;            /* -1: none */
    uint64_t crash_at_ns;
    uint64_t detect_max_ns; /* survivors learn of the crash within this */
};

struct h_result {
    uint64_t trace_hash;
    uint64_t events;
    uint64_t end_ns;
    uint64_t msgs_done;     /* done upcalls, all nodes */
    uint64_t groups_failed; /* failed upcalls, all nodes */
    uint64_t bytes_checked; /* receiver bytes compared with the root's */
};

/* Fills a random configuration from `seed` (sizes include the edge cases 1, block, block+1). */
void h_cfg_random(struct h_cfg *cfg, uint64_t seed, bool with_crash);

/* Runs the simulation and checks every oracle; fails the cmocka test (printing the seed) on any
 * violation. */
void h_run(const struct h_cfg *cfg, struct h_result *res);

/* Seeds to run: RDMC_SEED replaces the list with one seed. Returns the count written. */
size_t h_seeds(uint64_t base, size_t count, uint64_t *out, size_t cap);

/* Installs the SIGABRT handler that prints the seed of the run in progress. */
void h_install_abort_handler(void);

#endif
