/* The deterministic simulated network (library sq_simnet): many nodes in one process, each with a
 * `struct net` (net/net.h) that promises exactly what RDMA hardware promises and no more:
 *
 *  - per-connection FIFO: messages a->b arrive in the order sent (writes, sends, region
 *    announcements, acknowledgements alike);
 *  - a random delay per message in [delay_min_ns, delay_max_ns], so there is no order across
 *    connections;
 *  - aligned 8-byte stores are never torn (writes are applied with net_apply_write).
 *
 * Time is virtual (an sq_clock_manual): it jumps to each event's time. Every random choice comes
 * from one seeded PRNG, so the same seed and the same calls give the same run, event for event;
 * simnet_trace_hash() summarises the run (every delivered event and its bytes) to check that.
 *
 * Faults:
 *  - simnet_node_crash(): the node stops; its connections break at once (messages in flight from
 *    or to it are lost); each peer that had it up gets peer_failed(SQ_EPEER) after
 *    fail_detect_ns. simnet_node_restart() brings it back as a new process.
 *  - simnet_link_cut(a, b, both): messages a->b (and b->a if `both`) are held, as TCP holds
 *    unacknowledged data. If the cut heals within link_timeout_ns the held messages are delivered
 *    in order; otherwise the connection breaks: both ends get peer_failed(SQ_ETIMEDOUT), and
 *    everything held or in flight is lost.
 *  - simnet_link_delay(a, b, extra, both): a delay spike. Every message sent a->b (and b->a if
 *    `both`) from now on takes `extra` ns longer, until it is set again (0 clears it). The
 *    connection does not break, however long the spike: only the peers' own timeouts can react.
 *    FIFO holds across the changes: a message never arrives before one sent earlier on the
 *    same connection, so after a spike ends the next messages queue behind the delayed ones.
 *
 * Hooks: a per-node poll function runs after every event delivered to that node (the node's "loop
 * round": call sst_poll() there); a global check function runs after every step (call the
 * protocols' *_check() there). Callbacks scheduled with simnet_call_at() stand in for timers.
 *
 * Node ids are validator ids 0..node_count-1. Single-threaded: everything runs on the caller's
 * thread inside simnet_step() and friends. */
#ifndef SQ_TESTS_SIM_SIMNET_H
#define SQ_TESTS_SIM_SIMNET_H

#include <stdbool.h>
#include <stdint.h>

#include "base/clock.h"
#include "base/prng.h"
#include "net/net.h"

#define SIMNET_NODES_MAX NET_PEERS_MAX
#define SIMNET_EVENTS_MAX (1u << 20) /* events pending at once */

struct simnet;

struct simnet_config {
    uint64_t seed;
    uint32_t node_count;      /* 1..SIMNET_NODES_MAX */
    uint64_t delay_min_ns;    /* 0: 1 us */
    uint64_t delay_max_ns;    /* 0: 100 us */
    uint64_t fail_detect_ns;  /* 0: 1 ms. Crash -> peers told */
    uint64_t link_timeout_ns; /* 0: 10 ms. A cut this long breaks the connection */
};

/* Creates the network at virtual time 1 s with every node idle (no peer added). SQ_EINVAL for a
 * bad config, SQ_ENOMEM. */
int simnet_create(struct simnet **out, const struct simnet_config *cfg);

/* Frees the network, its pending events and its nodes' transports. NULL is a no-op. */
void simnet_destroy(struct simnet *sim);

/* Node `node`'s transport (owned by the simulator: do not net_destroy it). */
struct net *simnet_net(struct simnet *sim, uint32_t node);

/* Sets the handler node `node`'s transport reports to (copied). */
void simnet_set_handler(struct simnet *sim, uint32_t node, const struct net_handler *handler);

/* Runs `fn(arg)` after every event delivered to `node` (NULL removes it). */
void simnet_set_poll(struct simnet *sim, uint32_t node, void (*fn)(void *arg), void *arg);

/* Runs `fn(arg)` after every step (NULL removes it). */
void simnet_set_check(struct simnet *sim, void (*fn)(void *arg), void *arg);

/* Adds every pair of nodes as peers of each other (net_peer_add both ways). */
void simnet_connect_all(struct simnet *sim);

/* Runs `fn(arg)` at virtual time `at_ns` as an event of `node` (skipped if the node crashed by
 * then; the node's poll hook runs after it). SQ_EFULL past SIMNET_EVENTS_MAX. */
int simnet_call_at(struct simnet *sim, uint64_t at_ns, uint32_t node, void (*fn)(void *arg),
                   void *arg);

/* The virtual clock (borrowed; lives as long as the network), its time, and the PRNG every random
 * choice of the run is drawn from (tests may draw their own choices from it too). */
struct sq_clock *simnet_clock(struct simnet *sim);
uint64_t simnet_now(const struct simnet *sim);
struct sq_prng *simnet_prng(struct simnet *sim);

/* Runs the earliest pending event (moving the clock to it). False when nothing is pending. */
bool simnet_step(struct simnet *sim);

/* Steps while an event is due at or before `deadline_ns`; then sets the clock to the deadline. */
void simnet_run_until(struct simnet *sim, uint64_t deadline_ns);

/* Steps until `cond(arg)` holds (checked before each step) or nothing is pending before
 * `deadline_ns`. Returns whether cond holds. */
bool simnet_run_until_cond(struct simnet *sim, bool (*cond)(void *arg), void *arg,
                           uint64_t deadline_ns);

/* Steps until nothing is pending (or `steps_max` steps ran). Returns the steps run. */
uint64_t simnet_run_idle(struct simnet *sim, uint64_t steps_max);

void simnet_node_crash(struct simnet *sim, uint32_t node);
/* Brings crashed node `node` back as a new process: no peers, no regions, no handler or poll hook
 * (set them again), and none of its old timers will run. Its peers still hold the old connection
 * as failed: they net_peer_remove/net_peer_add it to talk again, as the TCP driver does. */
void simnet_node_restart(struct simnet *sim, uint32_t node);
bool simnet_node_is_crashed(const struct simnet *sim, uint32_t node);

/* Cuts / heals the link a->b, and b->a too when `both`. Healing re-establishes connections that
 * broke while both ends still want them only through net_peer_remove/add (as TCP). */
void simnet_link_cut(struct simnet *sim, uint32_t a, uint32_t b, bool both);
void simnet_link_heal(struct simnet *sim, uint32_t a, uint32_t b, bool both);

/* Sets the extra delay of link a->b, and of b->a too when `both` (0 clears it). Messages in
 * flight keep their times. Without a call the network behaves (and hashes) exactly as before. */
void simnet_link_delay(struct simnet *sim, uint32_t a, uint32_t b, uint64_t extra_ns, bool both);

/* A hash of everything delivered so far (time, kind, ends and bytes of every event). */
uint64_t simnet_trace_hash(const struct simnet *sim);

/* Events delivered so far. */
uint64_t simnet_events_run(const struct simnet *sim);

#endif
