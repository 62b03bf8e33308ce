#include "node/mempool.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"

enum list_id {
    L_NONE = 0,
    L_FIFO,
    L_INFLIGHT,
    L_ORDERED,
    L_EXPIRED,
    L_COUNT_,
};

struct list {
    struct node_tx *head, *tail;
    uint32_t count;
};

struct node_mempool {
    uint32_t txs_max;
    uint32_t tracked_max;
    struct node_tx *slab;
    struct node_tx *free_list; /* through id_next */
    uint32_t tracked;
    uint32_t accepted;
    uint64_t accepted_bytes;
    uint64_t waiting_bytes;
    size_t id_mask;
    struct node_tx **id_buckets;
    size_t sn_mask;
    struct node_tx **sn_buckets;
    struct list lists[L_COUNT_];
    struct node_tx *persist_cursor; /* first ordered entry not yet PERSISTED/FAILED-seen */
    uint64_t last_ordered_height;
};

const char *node_tx_state_name(enum node_tx_state state)
{
    switch (state) {
    case NODE_TX_ACCEPTED:
        return "accepted";
    case NODE_TX_ORDERED:
        return "ordered";
    case NODE_TX_PERSISTED:
        return "persisted";
    case NODE_TX_FINAL:
        return "final";
    case NODE_TX_FAILED:
        return "failed";
    case NODE_TX_EXPIRED:
        return "expired";
    }
    return "unknown";
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 16;
    while (p < n) {
        p <<= 1;
    }
    return p;
}

int node_mempool_create(struct node_mempool **out, uint32_t txs_max, uint32_t tracked_max)
{
    if (txs_max == 0 || tracked_max < txs_max) {
        return SQ_EINVAL;
    }
    struct node_mempool *mp = calloc(1, sizeof(*mp));
    if (mp == NULL) {
        return SQ_ENOMEM;
    }
    mp->txs_max = txs_max;
    mp->tracked_max = tracked_max;
    mp->slab = calloc(tracked_max, sizeof(*mp->slab));
    size_t nb = pow2_at_least((size_t)tracked_max * 2);
    mp->id_buckets = calloc(nb, sizeof(*mp->id_buckets));
    mp->id_mask = nb - 1;
    size_t ns = pow2_at_least((size_t)txs_max * 2);
    mp->sn_buckets = calloc(ns, sizeof(*mp->sn_buckets));
    mp->sn_mask = ns - 1;
    if (mp->slab == NULL || mp->id_buckets == NULL || mp->sn_buckets == NULL) {
        node_mempool_destroy(mp);
        return SQ_ENOMEM;
    }
    for (uint32_t i = tracked_max; i-- > 0;) {
        mp->slab[i].id_next = mp->free_list;
        mp->free_list = &mp->slab[i];
    }
    *out = mp;
    return SQ_OK;
}

void node_mempool_destroy(struct node_mempool *mp)
{
    if (mp == NULL) {
        return;
    }
    if (mp->slab != NULL) {
        for (uint32_t i = 0; i < mp->tracked_max; i++) {
            free(mp->slab[i].bytes);
        }
    }
    free(mp->slab);
    free(mp->id_buckets);
    free(mp->sn_buckets);
    free(mp);
}

/* ---- lists ---- */

static void list_push_tail(struct node_mempool *mp, enum list_id l, struct node_tx *t)
{
    SQ_ASSERT(t->list == L_NONE);
    struct list *li = &mp->lists[l];
    t->prev = li->tail;
    t->next = NULL;
    if (li->tail != NULL) {
        li->tail->next = t;
    } else {
        li->head = t;
    }
    li->tail = t;
    li->count++;
    t->list = (uint8_t)l;
}

static void list_push_head(struct node_mempool *mp, enum list_id l, struct node_tx *t)
{
    SQ_ASSERT(t->list == L_NONE);
    struct list *li = &mp->lists[l];
    t->next = li->head;
    t->prev = NULL;
    if (li->head != NULL) {
        li->head->prev = t;
    } else {
        li->tail = t;
    }
    li->head = t;
    li->count++;
    t->list = (uint8_t)l;
}

static void list_unlink(struct node_mempool *mp, struct node_tx *t)
{
    if (t->list == L_NONE) {
        return;
    }
    struct list *li = &mp->lists[t->list];
    if (t == mp->persist_cursor) {
        mp->persist_cursor = t->next;
    }
    if (t->prev != NULL) {
        t->prev->next = t->next;
    } else {
        li->head = t->next;
    }
    if (t->next != NULL) {
        t->next->prev = t->prev;
    } else {
        li->tail = t->prev;
    }
    SQ_ASSERT(li->count > 0);
    li->count--;
    t->prev = t->next = NULL;
    t->list = L_NONE;
}

/* ---- indexes ---- */

static size_t id_slot(const struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES])
{
    return (size_t)sq_le64_load(id) & mp->id_mask;
}

static size_t sn_slot(const struct node_mempool *mp, const uint8_t sender[SQC_PK_BYTES],
                      uint64_t nonce)
{
    uint64_t h = sq_le64_load(sender) ^ (nonce * UINT64_C(0x9E3779B97F4A7C15));
    h ^= h >> 29;
    return (size_t)h & mp->sn_mask;
}

struct node_tx *node_mempool_find(struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES])
{
    for (struct node_tx *t = mp->id_buckets[id_slot(mp, id)]; t != NULL; t = t->id_next) {
        if (memcmp(t->id, id, SQC_HASH_BYTES) == 0) {
            return t;
        }
    }
    return NULL;
}

static void id_remove(struct node_mempool *mp, struct node_tx *t)
{
    struct node_tx **pp = &mp->id_buckets[id_slot(mp, t->id)];
    while (*pp != t) {
        SQ_ASSERT(*pp != NULL);
        pp = &(*pp)->id_next;
    }
    *pp = t->id_next;
    t->id_next = NULL;
}

static struct node_tx *sn_find(struct node_mempool *mp, const uint8_t sender[SQC_PK_BYTES],
                               uint64_t nonce)
{
    for (struct node_tx *t = mp->sn_buckets[sn_slot(mp, sender, nonce)]; t != NULL;
         t = t->sn_next) {
        if (t->nonce == nonce && memcmp(t->sender, sender, SQC_PK_BYTES) == 0) {
            return t;
        }
    }
    return NULL;
}

static void sn_remove(struct node_mempool *mp, struct node_tx *t)
{
    struct node_tx **pp = &mp->sn_buckets[sn_slot(mp, t->sender, t->nonce)];
    while (*pp != NULL && *pp != t) {
        pp = &(*pp)->sn_next;
    }
    if (*pp == t) {
        *pp = t->sn_next;
    }
    t->sn_next = NULL;
}

bool node_mempool_nonce_pending(struct node_mempool *mp, const uint8_t sender[SQC_PK_BYTES],
                                uint64_t nonce)
{
    return sn_find(mp, sender, nonce) != NULL;
}

uint64_t node_mempool_pending_nonce(struct node_mempool *mp, const uint8_t sender[SQC_PK_BYTES],
                                    uint64_t account_nonce)
{
    /* Pending nonces of one sender form runs above the account nonce; walk up the window. */
    uint64_t best = account_nonce;
    for (uint64_t n = account_nonce + 1; n <= account_nonce + NODE_NONCE_WINDOW; n++) {
        if (sn_find(mp, sender, n) == NULL) {
            break;
        }
        best = n;
    }
    return best;
}

/* ---- entries ---- */

static struct node_tx *entry_alloc(struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES])
{
    if (mp->free_list == NULL) {
        return NULL;
    }
    struct node_tx *t = mp->free_list;
    mp->free_list = t->id_next;
    memset(t, 0, sizeof(*t));
    memcpy(t->id, id, SQC_HASH_BYTES);
    size_t s = id_slot(mp, id);
    t->id_next = mp->id_buckets[s];
    mp->id_buckets[s] = t;
    mp->tracked++;
    return t;
}

static void entry_free(struct node_mempool *mp, struct node_tx *t)
{
    SQ_ASSERT(t->waiters == NULL);
    list_unlink(mp, t);
    id_remove(mp, t);
    free(t->bytes);
    t->bytes = NULL;
    t->id_next = mp->free_list;
    mp->free_list = t;
    SQ_ASSERT(mp->tracked > 0);
    mp->tracked--;
}

/* An accepted entry stops being accepted (ordered or expired). */
static void leave_accepted(struct node_mempool *mp, struct node_tx *t)
{
    SQ_ASSERT(t->state == NODE_TX_ACCEPTED);
    sn_remove(mp, t);
    if (t->list == L_FIFO) {
        mp->waiting_bytes -= t->size;
    }
    list_unlink(mp, t);
    SQ_ASSERT(mp->accepted > 0);
    mp->accepted--;
    mp->accepted_bytes -= t->size;
    free(t->bytes);
    t->bytes = NULL;
    t->inflight = false;
}

static void expired_push(struct node_mempool *mp, struct node_tx *t)
{
    list_push_tail(mp, L_EXPIRED, t);
    while (mp->lists[L_EXPIRED].count > NODE_MEMPOOL_EXPIRED_KEEP) {
        struct node_tx *old = mp->lists[L_EXPIRED].head;
        if (old->waiters != NULL) {
            break; /* answered when its waiters are; kept until then */
        }
        entry_free(mp, old);
    }
}

int node_mempool_add(struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES],
                     const uint8_t *tx, size_t size, const uint8_t sender[SQC_PK_BYTES],
                     uint64_t nonce, uint64_t expiry_height, uint64_t now_ns,
                     struct node_tx **out)
{
    if (node_mempool_find(mp, id) != NULL) {
        return SQ_EEXIST;
    }
    if (mp->accepted >= mp->txs_max) {
        return SQ_EFULL;
    }
    /* Make room among expired entries first: they matter least. */
    if (mp->free_list == NULL && mp->lists[L_EXPIRED].head != NULL &&
        mp->lists[L_EXPIRED].head->waiters == NULL) {
        entry_free(mp, mp->lists[L_EXPIRED].head);
    }
    uint8_t *copy = malloc(size);
    if (copy == NULL) {
        return SQ_ENOMEM;
    }
    struct node_tx *t = entry_alloc(mp, id);
    if (t == NULL) {
        free(copy);
        return SQ_EFULL;
    }
    memcpy(copy, tx, size);
    t->bytes = copy;
    t->size = (uint32_t)size;
    memcpy(t->sender, sender, SQC_PK_BYTES);
    t->nonce = nonce;
    t->expiry_height = expiry_height;
    t->admit_ns = now_ns;
    t->state = NODE_TX_ACCEPTED;
    size_t s = sn_slot(mp, sender, nonce);
    t->sn_next = mp->sn_buckets[s];
    mp->sn_buckets[s] = t;
    list_push_tail(mp, L_FIFO, t);
    mp->accepted++;
    mp->accepted_bytes += size;
    mp->waiting_bytes += size;
    if (out != NULL) {
        *out = t;
    }
    return SQ_OK;
}

size_t node_mempool_take(struct node_mempool *mp, size_t bytes_max, size_t txs_max,
                         uint64_t next_height, struct node_tx **out, node_tx_changed_fn changed,
                         void *arg)
{
    size_t n = 0;
    size_t bytes = 0;
    while (n < txs_max && mp->lists[L_FIFO].head != NULL) {
        struct node_tx *t = mp->lists[L_FIFO].head;
        if (t->expiry_height < next_height) {
            leave_accepted(mp, t);
            t->state = NODE_TX_EXPIRED;
            expired_push(mp, t);
            if (changed != NULL) {
                changed(arg, t);
            }
            continue;
        }
        if (bytes + t->size + 4 > bytes_max && n > 0) {
            break;
        }
        list_unlink(mp, t);
        mp->waiting_bytes -= t->size;
        list_push_tail(mp, L_INFLIGHT, t);
        t->inflight = true;
        bytes += t->size + 4;
        out[n++] = t;
    }
    return n;
}

void node_mempool_requeue_inflight(struct node_mempool *mp)
{
    while (mp->lists[L_INFLIGHT].tail != NULL) {
        struct node_tx *t = mp->lists[L_INFLIGHT].tail;
        list_unlink(mp, t);
        t->inflight = false;
        list_push_head(mp, L_FIFO, t);
        mp->waiting_bytes += t->size;
    }
}

struct node_tx *node_mempool_ordered(struct node_mempool *mp, const uint8_t id[SQC_HASH_BYTES],
                                     uint64_t height, uint32_t index, uint8_t result)
{
    SQ_ASSERT(height >= mp->last_ordered_height);
    mp->last_ordered_height = height;
    struct node_tx *t = node_mempool_find(mp, id);
    if (t != NULL) {
        if (t->state == NODE_TX_ACCEPTED) {
            leave_accepted(mp, t);
        } else if (t->state == NODE_TX_EXPIRED) {
            list_unlink(mp, t); /* expired here, ordered elsewhere: the block decides */
        } else {
            return t; /* already ordered (a replayed block after a restart of the group) */
        }
    } else {
        t = entry_alloc(mp, id);
        if (t == NULL) {
            return NULL;
        }
    }
    t->height = height;
    t->index = index;
    t->result = result;
    t->state = result == 0 ? NODE_TX_ORDERED : NODE_TX_FAILED;
    list_push_tail(mp, L_ORDERED, t);
    if (mp->persist_cursor == NULL) {
        mp->persist_cursor = t;
    }
    return t;
}

void node_mempool_advance(struct node_mempool *mp, uint64_t persisted_height,
                          uint64_t final_height, node_tx_changed_fn changed, void *arg)
{
    /* Entries are in height order: finals come off the head, persisted ones follow the cursor. */
    while (mp->lists[L_ORDERED].head != NULL &&
           mp->lists[L_ORDERED].head->height <= final_height) {
        struct node_tx *t = mp->lists[L_ORDERED].head;
        if (t->state != NODE_TX_FAILED) {
            t->state = NODE_TX_FINAL;
        }
        list_unlink(mp, t);
        if (changed != NULL) {
            changed(arg, t);
        }
        entry_free(mp, t);
    }
    while (mp->persist_cursor != NULL && mp->persist_cursor->height <= persisted_height) {
        struct node_tx *t = mp->persist_cursor;
        mp->persist_cursor = t->next;
        if (t->state == NODE_TX_ORDERED) {
            t->state = NODE_TX_PERSISTED;
            if (changed != NULL) {
                changed(arg, t);
            }
        }
    }
}

uint32_t node_mempool_accepted(const struct node_mempool *mp)
{
    return mp->accepted;
}

uint64_t node_mempool_bytes(const struct node_mempool *mp)
{
    return mp->accepted_bytes;
}

uint32_t node_mempool_tracked(const struct node_mempool *mp)
{
    return mp->tracked;
}

uint32_t node_mempool_waiting(const struct node_mempool *mp)
{
    return mp->lists[L_FIFO].count;
}

uint64_t node_mempool_waiting_bytes(const struct node_mempool *mp)
{
    return mp->waiting_bytes;
}

uint64_t node_mempool_oldest_ns(const struct node_mempool *mp)
{
    return mp->lists[L_FIFO].head != NULL ? mp->lists[L_FIFO].head->admit_ns : 0;
}

int node_mempool_check(struct node_mempool *mp)
{
    uint32_t counted = 0;
    uint64_t bytes = 0, waiting = 0;
    for (int l = L_FIFO; l < L_COUNT_; l++) {
        uint32_t n = 0;
        struct node_tx *prev = NULL;
        for (struct node_tx *t = mp->lists[l].head; t != NULL; t = t->next) {
            if (t->list != l || t->prev != prev || node_mempool_find(mp, t->id) != t) {
                return SQ_ECORRUPT;
            }
            if ((l == L_FIFO || l == L_INFLIGHT) &&
                (t->state != NODE_TX_ACCEPTED || t->bytes == NULL ||
                 sn_find(mp, t->sender, t->nonce) != t || t->inflight != (l == L_INFLIGHT))) {
                return SQ_ECORRUPT;
            }
            if (l == L_FIFO || l == L_INFLIGHT) {
                bytes += t->size;
                waiting += l == L_FIFO ? t->size : 0;
            }
            if (l == L_ORDERED && prev != NULL && prev->height > t->height) {
                return SQ_ECORRUPT;
            }
            prev = t;
            n++;
        }
        if (n != mp->lists[l].count) {
            return SQ_ECORRUPT;
        }
        counted += n;
    }
    if (mp->lists[L_FIFO].count + mp->lists[L_INFLIGHT].count != mp->accepted ||
        bytes != mp->accepted_bytes || waiting != mp->waiting_bytes || counted != mp->tracked ||
        mp->accepted > mp->txs_max || mp->tracked > mp->tracked_max) {
        return SQ_ECORRUPT;
    }
    return SQ_OK;
}
