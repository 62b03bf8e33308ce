/* A byte queue of fixed-size chunks: appends copy, the front drains through writev. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "net/net_int.h"

struct net_txq_chunk {
    struct net_txq_chunk *next;
    size_t head; /* first unsent byte */
    size_t tail; /* one past the last queued byte */
    uint8_t data[NET_TXQ_CHUNK_BYTES];
};

void net_txq_init(struct net_txq *q)
{
    memset(q, 0, sizeof(*q));
}

void net_txq_free(struct net_txq *q)
{
    struct net_txq_chunk *c = q->first;
    while (c != NULL) {
        struct net_txq_chunk *n = c->next;
        free(c);
        c = n;
    }
    c = q->spare;
    while (c != NULL) {
        struct net_txq_chunk *n = c->next;
        free(c);
        c = n;
    }
    memset(q, 0, sizeof(*q));
}

static struct net_txq_chunk *chunk_new(struct net_txq *q)
{
    struct net_txq_chunk *c = q->spare;
    if (c != NULL) {
        q->spare = c->next;
        q->spare_count--;
    } else {
        c = malloc(sizeof(*c));
        if (c == NULL) {
            return NULL;
        }
    }
    c->next = NULL;
    c->head = 0;
    c->tail = 0;
    return c;
}

/* Copies `size` bytes into the free tail of the chain starting at `c` (room already made). */
static const uint8_t *fill(struct net_txq *q, const uint8_t *src, size_t size)
{
    while (size > 0) {
        struct net_txq_chunk *c = q->last;
        if (c->tail == NET_TXQ_CHUNK_BYTES) {
            c = c->next;
            SQ_ASSERT(c != NULL);
            q->last = c;
        }
        size_t room = NET_TXQ_CHUNK_BYTES - c->tail;
        size_t n = size < room ? size : room;
        memcpy(c->data + c->tail, src, n);
        c->tail += n;
        src += n;
        size -= n;
        q->bytes += n;
    }
    return src;
}

int net_txq_append2(struct net_txq *q, const void *a, size_t a_size, const void *b, size_t b_size)
{
    size_t size = a_size + b_size;
    /* Make room first so a failed allocation leaves the queue untouched. */
    size_t room = q->last != NULL ? NET_TXQ_CHUNK_BYTES - q->last->tail : 0;
    struct net_txq_chunk *fresh = NULL;
    struct net_txq_chunk **link = &fresh;
    size_t need = size > room ? size - room : 0;
    while (need > 0) {
        struct net_txq_chunk *c = chunk_new(q);
        if (c == NULL) {
            while (fresh != NULL) {
                struct net_txq_chunk *n = fresh->next;
                free(fresh);
                fresh = n;
            }
            return SQ_ENOMEM;
        }
        *link = c;
        link = &c->next;
        need = need > NET_TXQ_CHUNK_BYTES ? need - NET_TXQ_CHUNK_BYTES : 0;
    }
    if (q->last == NULL) {
        q->first = fresh;
        q->last = fresh;
    } else {
        /* The tail chunk keeps its place; fresh chunks follow it. `last` walks on in fill(). */
        struct net_txq_chunk *after = q->last->next;
        SQ_ASSERT(after == NULL);
        q->last->next = fresh;
    }
    if (size == 0) {
        return SQ_OK;
    }
    fill(q, a, a_size);
    fill(q, b, b_size);
    return SQ_OK;
}

int net_txq_append(struct net_txq *q, const void *data, size_t size)
{
    return net_txq_append2(q, data, size, NULL, 0);
}

int net_txq_iov(const struct net_txq *q, struct iovec *iov, int max)
{
    int n = 0;
    for (struct net_txq_chunk *c = q->first; c != NULL && n < max; c = c->next) {
        if (c->tail > c->head) {
            iov[n].iov_base = c->data + c->head;
            iov[n].iov_len = c->tail - c->head;
            n++;
        }
    }
    return n;
}

void net_txq_consume(struct net_txq *q, size_t size)
{
    SQ_ASSERT(size <= q->bytes);
    q->bytes -= size;
    while (size > 0) {
        struct net_txq_chunk *c = q->first;
        SQ_ASSERT(c != NULL);
        size_t n = c->tail - c->head;
        if (size < n) {
            c->head += size;
            return;
        }
        size -= n;
        q->first = c->next;
        if (q->first == NULL) {
            q->last = NULL;
        }
        if (q->spare_count < NET_TXQ_SPARES_MAX) {
            c->next = q->spare;
            q->spare = c;
            q->spare_count++;
        } else {
            free(c);
        }
    }
    /* A fully drained first chunk may stay empty at the front: reuse it. */
    if (q->first != NULL && q->first->head == q->first->tail && q->first == q->last) {
        q->first->head = 0;
        q->first->tail = 0;
    }
}
