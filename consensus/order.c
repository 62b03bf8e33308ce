#include "consensus/order.h"

#include <string.h>

#include "base/assert.h"
#include "base/err.h"

void grp_recv_init(struct grp_recv_track *t)
{
    t->prefix = -1;
    t->count = 0;
}

bool grp_recv_has(const struct grp_recv_track *t, int64_t i)
{
    if (i <= t->prefix) {
        return i >= 0;
    }
    for (uint32_t j = 0; j < t->count; j++) {
        if (i >= t->iv[j].lo && i <= t->iv[j].hi) {
            return true;
        }
    }
    return false;
}

int grp_recv_add(struct grp_recv_track *t, int64_t lo, int64_t hi)
{
    SQ_ASSERT(lo >= 0);
    SQ_ASSERT(lo <= hi);
    if (lo <= t->prefix) {
        return SQ_EDUP;
    }
    /* Find the insertion point; reject overlaps. */
    uint32_t pos = 0;
    while (pos < t->count && t->iv[pos].hi < lo) {
        pos++;
    }
    if (pos < t->count && t->iv[pos].lo <= hi) {
        return SQ_EDUP;
    }
    bool join_left = pos > 0 && t->iv[pos - 1].hi + 1 == lo;
    bool join_right = pos < t->count && t->iv[pos].lo == hi + 1;
    bool join_prefix = lo == t->prefix + 1;
    if (!join_left && !join_right && !join_prefix && t->count >= GRP_RECV_INTERVALS_MAX) {
        return SQ_EFULL;
    }
    if (join_prefix) {
        SQ_ASSERT(pos == 0);
        t->prefix = hi;
        /* The first interval may now touch the prefix. */
        if (t->count > 0 && t->iv[0].lo == t->prefix + 1) {
            t->prefix = t->iv[0].hi;
            memmove(&t->iv[0], &t->iv[1], (t->count - 1) * sizeof(t->iv[0]));
            t->count--;
        }
    } else if (join_left && join_right) {
        t->iv[pos - 1].hi = t->iv[pos].hi;
        memmove(&t->iv[pos], &t->iv[pos + 1], (t->count - pos - 1) * sizeof(t->iv[0]));
        t->count--;
    } else if (join_left) {
        t->iv[pos - 1].hi = hi;
    } else if (join_right) {
        t->iv[pos].lo = lo;
    } else {
        memmove(&t->iv[pos + 1], &t->iv[pos], (t->count - pos) * sizeof(t->iv[0]));
        t->iv[pos].lo = lo;
        t->iv[pos].hi = hi;
        t->count++;
    }
    /* Invariants: sorted, disjoint, non-adjacent, all above prefix + 1. */
    for (uint32_t j = 0; j < t->count; j++) {
        SQ_ASSERT(t->iv[j].lo <= t->iv[j].hi);
        SQ_ASSERT(t->iv[j].lo > t->prefix + 1);
        SQ_ASSERT(j == 0 || t->iv[j].lo > t->iv[j - 1].hi + 1);
    }
    return SQ_OK;
}

int64_t grp_seq_num(const int64_t *received, uint32_t senders)
{
    SQ_ASSERT(senders > 0);
    int64_t mn = received[0];
    uint32_t j = 0;
    for (uint32_t k = 1; k < senders; k++) {
        if (received[k] < mn) {
            mn = received[k];
            j = k;
        }
    }
    return (mn + 1) * (int64_t)senders + (int64_t)j - 1;
}

uint64_t grp_nulls_needed(uint32_t me, uint32_t k, int64_t c, int64_t next_index)
{
    if (me == k) {
        return 0;
    }
    int64_t want = me < k ? c + 1 : c; /* next_index must reach this */
    return want > next_index ? (uint64_t)(want - next_index) : 0;
}
