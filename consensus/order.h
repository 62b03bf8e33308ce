/* Total-order arithmetic (PROTOCOL.md §4.1, §4.2, §4.4) as pure functions, shared by the multicast
 * engine, the simulator's oracle and the tests. Part of consensus's public surface. */
#ifndef SQ_CONSENSUS_ORDER_H
#define SQ_CONSENSUS_ORDER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/limits.h"

/* Out-of-order arrivals beyond the contiguous prefix that one sender can have outstanding. One
 * sender mixes SMC and RDMC, and its RDMC messages are serialised (§3.1), so gaps come only from
 * RDMC messages still in flight behind SMC ones: at most one gap per window slot. */
#define GRP_RECV_INTERVALS_MAX (SQ_SMC_WINDOW_MAX + 1)

/* Which indices of one sender have arrived: the contiguous prefix 0..prefix (-1: none) plus sorted,
 * disjoint, non-adjacent intervals above it (§4.1: num_received is a prefix, not a max). */
struct grp_recv_track {
    int64_t prefix;
    uint32_t count;
    struct {
        int64_t lo, hi;
    } iv[GRP_RECV_INTERVALS_MAX];
};

void grp_recv_init(struct grp_recv_track *t);

/* Records that indices lo..hi (inclusive, lo <= hi, lo >= 0) arrived: one message, or a run of
 * coalesced nulls. SQ_EDUP if any of them had already arrived (a protocol bug in the caller),
 * SQ_EFULL if the gap list is full; in both cases nothing changes. */
int grp_recv_add(struct grp_recv_track *t, int64_t lo, int64_t hi);

/* True if index i has arrived. */
bool grp_recv_has(const struct grp_recv_track *t, int64_t i);

/* Global sequence number of message `index` from sender rank `sender` among `senders` (§4.2). */
static inline int64_t grp_seq_of(int64_t index, uint32_t sender, uint32_t senders)
{
    return index * (int64_t)senders + (int64_t)sender;
}

/* The largest seq such that every seq' <= seq has been received, given each sender's contiguous
 * prefix `received[0..senders)` (-1 for none): with mn the minimum and j the first sender attaining
 * it, (mn + 1) * senders + j - 1 (§4.2). -1 when nothing is complete. */
int64_t grp_seq_num(const int64_t *received, uint32_t senders);

/* Reactive nulls (§4.4): when sender `k`'s prefix advanced to `c`, how many null messages sender
 * `me` (whose next message index is `next_index`) must send so that (k, c) is not blocked by me:
 * me < k needs indices 0..c sent, me > k needs 0..c-1 (the asymmetric rule). */
uint64_t grp_nulls_needed(uint32_t me, uint32_t k, int64_t c, int64_t next_index);

/* Delivery version of seq in view vid: (vid << 32) | seq (PROTOCOL.md §4.3). Both must fit. */
static inline int64_t grp_version_of(uint64_t vid, int64_t seq)
{
    return (int64_t)((vid << 32) | (uint64_t)seq);
}

#endif
