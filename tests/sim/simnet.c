/* The deterministic simulated network (see simnet.h). */
#include "tests/sim/simnet.h"

#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "net/net_int.h"

enum ev_kind {
    EV_UP = 1,       /* on link src->dst: src's side of the connection is up (its READY) */
    EV_WRITE,        /* link message */
    EV_SEND,         /* link message */
    EV_ACK,          /* link message: completes src's oldest signaled op toward dst */
    EV_REGION,       /* link message */
    EV_FAIL,         /* dst learns that the connection to src broke */
    EV_CALL,         /* a node's timer */
    EV_DRAIN,        /* link src->dst delivers its held messages */
    EV_LINK_TIMEOUT, /* a cut of src->dst lasted too long */
};

struct ev {
    uint64_t at;
    uint64_t seq;
    uint8_t kind;
    uint32_t src;
    uint32_t dst;
    uint64_t epoch; /* connection incarnation (link events), cut generation (EV_LINK_TIMEOUT) */
    uint8_t flags;
    uint8_t region;
    uint64_t tag;
    uint64_t offset;
    uint64_t value; /* EV_REGION size, EV_FAIL reason */
    uint32_t imm;
    void (*fn)(void *arg);
    void *arg;
    struct ev *next; /* in a link's held queue */
    size_t size;
    uint8_t data[]; /* WRITE/SEND payload */
};

struct sim_peer {
    bool added;
    enum net_peer_state state;
    uint64_t up_epoch;
    struct {
        uint64_t tag;
        uint64_t size;
    } regions[SQ_NET_REGIONS_MAX];
    uint64_t sig[NET_SIGNALED_MAX];
    uint32_t sig_head;
    uint32_t sig_count;
    struct {
        void *buf;
        size_t cap;
        uint64_t wr_id;
    } recvs[NET_RECVS_MAX];
    uint32_t recv_head;
    uint32_t recv_count;
};

struct sim_node {
    struct net base; /* first: the transport handed out */
    struct simnet *sim;
    uint32_t id;
    bool crashed;
    uint64_t incarnation; /* grows at every restart; timers of an older one never run */
    struct {
        uint8_t *base;
        size_t size;
        uint64_t tag;
    } regions[SQ_NET_REGIONS_MAX];
    void (*poll)(void *arg);
    void *poll_arg;
    struct sim_peer peers[SIMNET_NODES_MAX];
};

struct link {
    bool cut;
    uint64_t cut_gen;
    uint64_t last_at;  /* latest delivery time scheduled: keeps FIFO */
    uint64_t extra_ns; /* a delay spike (simnet_link_delay): added to every message's delay */
    struct ev *held_head;
    struct ev *held_tail;
};

struct simnet {
    struct sq_clock_manual clock;
    struct sq_prng prng;
    uint32_t node_count;
    uint64_t delay_min_ns;
    uint64_t delay_max_ns;
    uint64_t fail_detect_ns;
    uint64_t link_timeout_ns;
    struct sim_node *nodes[SIMNET_NODES_MAX];
    struct link links[SIMNET_NODES_MAX][SIMNET_NODES_MAX]; /* [src][dst] */
    uint64_t epoch[SIMNET_NODES_MAX][SIMNET_NODES_MAX];    /* symmetric */
    struct ev **heap;
    uint32_t heap_count;
    uint64_t seq;
    uint64_t hash;
    uint64_t events_run;
    void (*check)(void *arg);
    void *check_arg;
};

static const struct net_ops sim_ops;

static struct sim_node *node_of(struct net *net)
{
    SQ_ASSERT(net->ops == &sim_ops);
    return (struct sim_node *)(void *)net;
}

/* ---- event heap ---- */

static bool ev_before(const struct ev *a, const struct ev *b)
{
    return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void heap_push(struct simnet *sim, struct ev *e)
{
    SQ_ASSERT(sim->heap_count < SIMNET_EVENTS_MAX);
    uint32_t i = sim->heap_count++;
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (!ev_before(e, sim->heap[parent])) {
            break;
        }
        sim->heap[i] = sim->heap[parent];
        i = parent;
    }
    sim->heap[i] = e;
}

static struct ev *heap_pop(struct simnet *sim)
{
    SQ_ASSERT(sim->heap_count > 0);
    struct ev *top = sim->heap[0];
    struct ev *last = sim->heap[--sim->heap_count];
    uint32_t i = 0;
    for (;;) {
        uint32_t l = 2 * i + 1;
        if (l >= sim->heap_count) {
            break;
        }
        uint32_t c = l;
        if (l + 1 < sim->heap_count && ev_before(sim->heap[l + 1], sim->heap[l])) {
            c = l + 1;
        }
        if (!ev_before(sim->heap[c], last)) {
            break;
        }
        sim->heap[i] = sim->heap[c];
        i = c;
    }
    if (sim->heap_count > 0) {
        sim->heap[i] = last;
    }
    return top;
}

static struct ev *ev_new(size_t size)
{
    struct ev *e = calloc(1, sizeof(*e) + size);
    SQ_ASSERT(e != NULL); /* test library: running out of memory is fatal */
    e->size = size;
    return e;
}

static void schedule(struct simnet *sim, struct ev *e, uint64_t at)
{
    e->at = at;
    e->seq = sim->seq++;
    heap_push(sim, e);
}

static uint64_t draw_delay(struct simnet *sim)
{
    return sq_prng_range(&sim->prng, sim->delay_min_ns, sim->delay_max_ns);
}

/* The delivery time of the next message on link `l`: a random delay plus the link's spike, but
 * never before an earlier message (FIFO, also when a spike ends and the delay drops). */
static uint64_t link_next_at(struct simnet *sim, struct link *l)
{
    uint64_t at = sim->clock.now_ns + draw_delay(sim) + l->extra_ns;
    if (at < l->last_at) {
        at = l->last_at;
    }
    l->last_at = at;
    return at;
}

/* Sends a message on link src->dst: after a random delay, but never before an earlier one. */
static void link_send(struct simnet *sim, struct ev *e)
{
    struct link *l = &sim->links[e->src][e->dst];
    e->epoch = sim->epoch[e->src][e->dst];
    schedule(sim, e, link_next_at(sim, l));
}

static void mix(struct simnet *sim, uint64_t v)
{
    uint64_t s = sim->hash ^ v;
    sim->hash = sq_splitmix64(&s);
}

static uint64_t bytes_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 1099511628211ull;
    }
    return h;
}

/* ---- connections ---- */

static void held_clear(struct link *l)
{
    struct ev *e = l->held_head;
    while (e != NULL) {
        struct ev *n = e->next;
        free(e);
        e = n;
    }
    l->held_head = NULL;
    l->held_tail = NULL;
}

static void try_establish(struct simnet *sim, uint32_t a, uint32_t b)
{
    struct sim_node *na = sim->nodes[a];
    struct sim_node *nb = sim->nodes[b];
    if (na->crashed || nb->crashed) {
        return;
    }
    if (!na->peers[b].added || !nb->peers[a].added) {
        return;
    }
    if (na->peers[b].state != NET_PEER_CONNECTING || nb->peers[a].state != NET_PEER_CONNECTING) {
        return;
    }
    if (sim->links[a][b].cut || sim->links[b][a].cut) {
        return;
    }
    sim->epoch[a][b]++;
    sim->epoch[b][a] = sim->epoch[a][b];
    held_clear(&sim->links[a][b]);
    held_clear(&sim->links[b][a]);
    struct ev *e = ev_new(0);
    e->kind = EV_UP;
    e->src = a;
    e->dst = b;
    link_send(sim, e);
    e = ev_new(0);
    e->kind = EV_UP;
    e->src = b;
    e->dst = a;
    link_send(sim, e);
}

/* Breaks the a-b connection now; each end that had it up hears after `delay_ns`. */
static void conn_break(struct simnet *sim, uint32_t a, uint32_t b, int reason, uint64_t delay_ns)
{
    uint64_t old = sim->epoch[a][b];
    sim->epoch[a][b]++;
    sim->epoch[b][a] = sim->epoch[a][b];
    held_clear(&sim->links[a][b]);
    held_clear(&sim->links[b][a]);
    uint32_t ends[2][2] = {{a, b}, {b, a}};
    for (int i = 0; i < 2; i++) {
        uint32_t x = ends[i][0];
        uint32_t y = ends[i][1];
        if (sim->nodes[x]->crashed) {
            continue;
        }
        struct ev *e = ev_new(0);
        e->kind = EV_FAIL;
        e->src = y;
        e->dst = x;
        e->epoch = old;
        e->value = (uint64_t)reason;
        schedule(sim, e, sim->clock.now_ns + delay_ns);
    }
}

static void peer_fail(struct sim_node *n, uint32_t peer, int reason)
{
    struct sim_peer *p = &n->peers[peer];
    SQ_ASSERT(p->state == NET_PEER_UP);
    p->state = NET_PEER_FAILED;
    uint32_t sig_n = p->sig_count;
    uint32_t recv_n = p->recv_count;
    uint32_t sig_head = p->sig_head;
    uint32_t recv_head = p->recv_head;
    p->sig_count = 0;
    p->recv_count = 0;
    const struct net_handler *h = &n->base.handler;
    for (uint32_t i = 0; i < sig_n; i++) {
        if (h->completion != NULL) {
            h->completion(h->arg, peer, p->sig[(sig_head + i) % NET_SIGNALED_MAX], SQ_EPEER);
        }
    }
    for (uint32_t i = 0; i < recv_n; i++) {
        if (h->recv_done != NULL) {
            h->recv_done(h->arg, peer, p->recvs[(recv_head + i) % NET_RECVS_MAX].wr_id, SQ_EPEER, 0,
                         0);
        }
    }
    if (h->peer_failed != NULL) {
        h->peer_failed(h->arg, peer, reason);
    }
}

static void send_regions(struct simnet *sim, struct sim_node *n, uint32_t peer, int only)
{
    for (uint32_t r = 0; r < SQ_NET_REGIONS_MAX; r++) {
        if (only >= 0 && (uint32_t)only != r) {
            continue;
        }
        if (only < 0 && n->regions[r].base == NULL) {
            continue;
        }
        struct ev *e = ev_new(0);
        e->kind = EV_REGION;
        e->src = n->id;
        e->dst = peer;
        e->region = (uint8_t)r;
        e->tag = n->regions[r].tag;
        e->value = n->regions[r].base != NULL ? n->regions[r].size : 0;
        link_send(sim, e);
    }
}

/* ---- delivery ---- */

/* Delivers one link message at its destination. False if it must wait (a SEND with no buffer). */
static bool deliver(struct simnet *sim, struct ev *e)
{
    struct sim_node *n = sim->nodes[e->dst];
    struct sim_peer *p = &n->peers[e->src];
    const struct net_handler *h = &n->base.handler;
    switch (e->kind) {
    case EV_UP:
        if (p->state == NET_PEER_CONNECTING) {
            p->state = NET_PEER_UP;
            p->up_epoch = e->epoch;
            send_regions(sim, n, e->src, -1);
            if (h->peer_up != NULL) {
                h->peer_up(h->arg, e->src);
            }
        }
        return true;
    case EV_REGION:
        p->regions[e->region].tag = e->tag;
        p->regions[e->region].size = e->value;
        return true;
    case EV_WRITE: {
        bool live = n->regions[e->region].base != NULL && n->regions[e->region].tag == e->tag;
        if (live) {
            SQ_ASSERT(e->offset + e->size <= n->regions[e->region].size);
            net_apply_write(n->regions[e->region].base + e->offset, e->data, e->size);
        }
        if (e->flags & NET_OP_SIGNALED) {
            struct ev *a = ev_new(0);
            a->kind = EV_ACK;
            a->src = e->dst;
            a->dst = e->src;
            link_send(sim, a);
        }
        if (live && h->write_arrived != NULL) {
            h->write_arrived(h->arg, e->src, e->region);
        }
        return true;
    }
    case EV_SEND: {
        if (p->recv_count == 0) {
            return false;
        }
        uint32_t i = p->recv_head;
        void *buf = p->recvs[i].buf;
        size_t cap = p->recvs[i].cap;
        uint64_t wr_id = p->recvs[i].wr_id;
        if (e->size > cap) {
            /* As a verbs length error: the connection breaks. */
            conn_break(sim, e->src, e->dst, SQ_ETOOBIG, 0);
            return true;
        }
        p->recv_head = (p->recv_head + 1) % NET_RECVS_MAX;
        p->recv_count--;
        if (e->size > 0) {
            memcpy(buf, e->data, e->size);
        }
        if (e->flags & NET_OP_SIGNALED) {
            struct ev *a = ev_new(0);
            a->kind = EV_ACK;
            a->src = e->dst;
            a->dst = e->src;
            link_send(sim, a);
        }
        if (h->recv_done != NULL) {
            h->recv_done(h->arg, e->src, wr_id, SQ_OK, e->imm, e->size);
        }
        return true;
    }
    case EV_ACK: {
        SQ_ASSERT(p->sig_count > 0);
        uint64_t wr = p->sig[p->sig_head];
        p->sig_head = (p->sig_head + 1) % NET_SIGNALED_MAX;
        p->sig_count--;
        if (h->completion != NULL) {
            h->completion(h->arg, e->src, wr, SQ_OK);
        }
        return true;
    }
    default:
        SQ_UNREACHABLE();
    }
}

static void held_push(struct link *l, struct ev *e)
{
    e->next = NULL;
    if (l->held_tail == NULL) {
        l->held_head = e;
    } else {
        l->held_tail->next = e;
    }
    l->held_tail = e;
}

/* Delivers held messages of link src->dst in order until one must wait. */
static void drain(struct simnet *sim, uint32_t src, uint32_t dst)
{
    struct link *l = &sim->links[src][dst];
    while (!l->cut && l->held_head != NULL && !sim->nodes[dst]->crashed) {
        struct ev *e = l->held_head;
        if (e->epoch != sim->epoch[src][dst]) {
            l->held_head = e->next;
            free(e);
            continue;
        }
        mix(sim, e->kind);
        mix(sim, e->size);
        if (!deliver(sim, e)) {
            break;
        }
        /* deliver() may have broken the connection, which cleared the queue. */
        if (l->held_head != e) {
            break;
        }
        l->held_head = e->next;
        free(e);
    }
    if (l->held_head == NULL) {
        l->held_tail = NULL;
    }
}

static void schedule_drain(struct simnet *sim, uint32_t src, uint32_t dst, uint64_t at)
{
    struct ev *e = ev_new(0);
    e->kind = EV_DRAIN;
    e->src = src;
    e->dst = dst;
    schedule(sim, e, at);
}

static void run_event(struct simnet *sim, struct ev *e)
{
    mix(sim, e->at);
    mix(sim, ((uint64_t)e->kind << 48) | ((uint64_t)e->src << 24) | e->dst);
    if (e->size > 0) {
        mix(sim, bytes_hash(e->data, e->size));
    }
    uint32_t node = e->dst;
    switch (e->kind) {
    case EV_CALL:
        if (sim->nodes[node]->crashed || e->epoch != sim->nodes[node]->incarnation) {
            free(e);
            return;
        }
        e->fn(e->arg);
        free(e);
        break;
    case EV_FAIL: {
        struct sim_node *n = sim->nodes[node];
        struct sim_peer *p = &n->peers[e->src];
        if (!n->crashed && p->state == NET_PEER_UP && p->up_epoch == e->epoch) {
            peer_fail(n, e->src, (int)e->value);
        }
        free(e);
        break;
    }
    case EV_DRAIN:
        drain(sim, e->src, e->dst);
        free(e);
        break;
    case EV_LINK_TIMEOUT: {
        struct link *l = &sim->links[e->src][e->dst];
        if (l->cut && l->cut_gen == e->epoch) {
            conn_break(sim, e->src, e->dst, SQ_ETIMEDOUT, 0);
        }
        free(e);
        break;
    }
    default: {
        /* A link message. */
        struct link *l = &sim->links[e->src][e->dst];
        if (e->epoch != sim->epoch[e->src][e->dst] || sim->nodes[node]->crashed) {
            free(e); /* the connection it travelled on is gone */
            return;
        }
        if (l->cut || l->held_head != NULL) {
            held_push(l, e);
            break;
        }
        if (!deliver(sim, e)) {
            held_push(l, e);
            break;
        }
        free(e);
        break;
    }
    }
    struct sim_node *n = sim->nodes[node];
    if (!n->crashed && n->poll != NULL) {
        n->poll(n->poll_arg);
    }
}

/* ---- the function table ---- */

static void sim_destroy(struct net *net)
{
    (void)net; /* nodes are owned by the simulator */
}

static int sim_peer_add(struct net *net, uint32_t peer)
{
    struct sim_node *n = node_of(net);
    struct simnet *sim = n->sim;
    if (peer == n->id) {
        return SQ_EINVAL;
    }
    if (peer >= sim->node_count) {
        return SQ_ENOTFOUND;
    }
    struct sim_peer *p = &n->peers[peer];
    if (p->added) {
        return SQ_EEXIST;
    }
    memset(p, 0, sizeof(*p));
    p->added = true;
    p->state = NET_PEER_CONNECTING;
    try_establish(sim, n->id, peer);
    return SQ_OK;
}

static void sim_peer_remove(struct net *net, uint32_t peer)
{
    struct sim_node *n = node_of(net);
    struct simnet *sim = n->sim;
    if (peer >= sim->node_count || !n->peers[peer].added) {
        return;
    }
    bool was_up = n->peers[peer].state == NET_PEER_UP;
    memset(&n->peers[peer], 0, sizeof(n->peers[peer]));
    if (was_up) {
        /* Closing our end: the other end sees the connection break. */
        conn_break(sim, n->id, peer, SQ_ECLOSED, sim->fail_detect_ns);
    } else {
        sim->epoch[n->id][peer]++;
        sim->epoch[peer][n->id] = sim->epoch[n->id][peer];
    }
}

static enum net_peer_state sim_peer_state(struct net *net, uint32_t peer)
{
    struct sim_node *n = node_of(net);
    if (peer >= n->sim->node_count) {
        return NET_PEER_NONE;
    }
    return n->peers[peer].state;
}

static int sim_region_register(struct net *net, uint32_t region, uint64_t tag, void *base,
                               size_t size)
{
    struct sim_node *n = node_of(net);
    if (region >= SQ_NET_REGIONS_MAX || base == NULL || size == 0) {
        return SQ_EINVAL;
    }
    n->regions[region].base = base;
    n->regions[region].size = size;
    n->regions[region].tag = tag;
    for (uint32_t i = 0; i < n->sim->node_count; i++) {
        if (n->peers[i].state == NET_PEER_UP) {
            send_regions(n->sim, n, i, (int)region);
        }
    }
    return SQ_OK;
}

static void sim_region_unregister(struct net *net, uint32_t region)
{
    struct sim_node *n = node_of(net);
    if (region >= SQ_NET_REGIONS_MAX || n->regions[region].base == NULL) {
        return;
    }
    n->regions[region].base = NULL;
    for (uint32_t i = 0; i < n->sim->node_count; i++) {
        if (n->peers[i].state == NET_PEER_UP) {
            send_regions(n->sim, n, i, (int)region);
        }
    }
    n->regions[region].size = 0;
}

static int ready(struct sim_node *n, uint32_t peer, struct sim_peer **out)
{
    if (peer >= n->sim->node_count || n->crashed) {
        return SQ_EPEER;
    }
    struct sim_peer *p = &n->peers[peer];
    if (!p->added || p->state == NET_PEER_FAILED) {
        return SQ_EPEER;
    }
    if (p->state != NET_PEER_UP) {
        return SQ_EAGAIN;
    }
    *out = p;
    return SQ_OK;
}

static int sim_region_write(struct net *net, uint32_t peer, uint32_t region, size_t offset,
                            size_t size, uint32_t flags, uint64_t wr_id)
{
    struct sim_node *n = node_of(net);
    if (size > NET_WRITE_BYTES_MAX) {
        return SQ_ETOOBIG;
    }
    if (region >= SQ_NET_REGIONS_MAX || size == 0 || (flags & ~NET_OP_SIGNALED) != 0) {
        return SQ_EINVAL;
    }
    if (n->regions[region].base == NULL || offset > n->regions[region].size ||
        size > n->regions[region].size - offset) {
        return SQ_EINVAL;
    }
    struct sim_peer *p = NULL;
    int rc = ready(n, peer, &p);
    if (rc != SQ_OK) {
        return rc;
    }
    if (p->regions[region].size == 0 || p->regions[region].tag != n->regions[region].tag ||
        offset + size > p->regions[region].size) {
        return SQ_EAGAIN;
    }
    if ((flags & NET_OP_SIGNALED) && p->sig_count == NET_SIGNALED_MAX) {
        return SQ_EFULL;
    }
    struct ev *e = ev_new(size);
    e->kind = EV_WRITE;
    e->src = n->id;
    e->dst = peer;
    e->flags = (uint8_t)flags;
    e->region = (uint8_t)region;
    e->tag = n->regions[region].tag;
    e->offset = offset;
    memcpy(e->data, n->regions[region].base + offset, size);
    link_send(n->sim, e);
    if (flags & NET_OP_SIGNALED) {
        p->sig[(p->sig_head + p->sig_count) % NET_SIGNALED_MAX] = wr_id;
        p->sig_count++;
    }
    return SQ_OK;
}

static int sim_msg_send(struct net *net, uint32_t peer, uint32_t imm, const void *data, size_t size,
                        uint32_t flags, uint64_t wr_id)
{
    struct sim_node *n = node_of(net);
    if (size > NET_SEND_BYTES_MAX) {
        return SQ_ETOOBIG;
    }
    if ((data == NULL && size > 0) || (flags & ~NET_OP_SIGNALED) != 0) {
        return SQ_EINVAL;
    }
    struct sim_peer *p = NULL;
    int rc = ready(n, peer, &p);
    if (rc != SQ_OK) {
        return rc;
    }
    if ((flags & NET_OP_SIGNALED) && p->sig_count == NET_SIGNALED_MAX) {
        return SQ_EFULL;
    }
    struct ev *e = ev_new(size);
    e->kind = EV_SEND;
    e->src = n->id;
    e->dst = peer;
    e->flags = (uint8_t)flags;
    e->imm = imm;
    if (size > 0) {
        memcpy(e->data, data, size);
    }
    link_send(n->sim, e);
    if (flags & NET_OP_SIGNALED) {
        p->sig[(p->sig_head + p->sig_count) % NET_SIGNALED_MAX] = wr_id;
        p->sig_count++;
    }
    return SQ_OK;
}

static int sim_recv_post(struct net *net, uint32_t peer, void *buf, size_t cap, uint64_t wr_id)
{
    struct sim_node *n = node_of(net);
    if (buf == NULL) {
        return SQ_EINVAL;
    }
    if (peer >= n->sim->node_count || !n->peers[peer].added ||
        n->peers[peer].state == NET_PEER_FAILED) {
        return SQ_EPEER;
    }
    struct sim_peer *p = &n->peers[peer];
    if (p->recv_count == NET_RECVS_MAX) {
        return SQ_EFULL;
    }
    uint32_t i = (p->recv_head + p->recv_count) % NET_RECVS_MAX;
    p->recvs[i].buf = buf;
    p->recvs[i].cap = cap;
    p->recvs[i].wr_id = wr_id;
    p->recv_count++;
    if (n->sim->links[peer][n->id].held_head != NULL) {
        schedule_drain(n->sim, peer, n->id, n->sim->clock.now_ns);
    }
    return SQ_OK;
}

static void sim_flush(struct net *net)
{
    (void)net; /* messages are in flight from the moment they are sent */
}

static const struct net_ops sim_ops = {
    .name = "sim",
    .destroy = sim_destroy,
    .peer_add = sim_peer_add,
    .peer_remove = sim_peer_remove,
    .peer_state = sim_peer_state,
    .region_register = sim_region_register,
    .region_unregister = sim_region_unregister,
    .region_write = sim_region_write,
    .msg_send = sim_msg_send,
    .recv_post = sim_recv_post,
    .flush = sim_flush,
};

/* ---- the simulator ---- */

int simnet_create(struct simnet **out, const struct simnet_config *cfg)
{
    if (cfg->node_count == 0 || cfg->node_count > SIMNET_NODES_MAX) {
        return SQ_EINVAL;
    }
    struct simnet *sim = calloc(1, sizeof(*sim));
    if (sim == NULL) {
        return SQ_ENOMEM;
    }
    sim->heap = calloc(SIMNET_EVENTS_MAX, sizeof(*sim->heap));
    if (sim->heap == NULL) {
        free(sim);
        return SQ_ENOMEM;
    }
    sq_clock_manual_init(&sim->clock, SQ_NS_PER_S);
    sq_prng_seed(&sim->prng, cfg->seed);
    sim->node_count = cfg->node_count;
    sim->delay_min_ns = cfg->delay_min_ns ? cfg->delay_min_ns : SQ_NS_PER_US;
    sim->delay_max_ns = cfg->delay_max_ns ? cfg->delay_max_ns : 100 * SQ_NS_PER_US;
    if (sim->delay_max_ns < sim->delay_min_ns) {
        sim->delay_max_ns = sim->delay_min_ns;
    }
    sim->fail_detect_ns = cfg->fail_detect_ns ? cfg->fail_detect_ns : SQ_NS_PER_MS;
    sim->link_timeout_ns = cfg->link_timeout_ns ? cfg->link_timeout_ns : 10 * SQ_NS_PER_MS;
    sim->hash = cfg->seed;
    for (uint32_t i = 0; i < sim->node_count; i++) {
        struct sim_node *n = calloc(1, sizeof(*n));
        if (n == NULL) {
            simnet_destroy(sim);
            return SQ_ENOMEM;
        }
        n->base.ops = &sim_ops;
        n->base.self_id = i;
        n->sim = sim;
        n->id = i;
        sim->nodes[i] = n;
    }
    *out = sim;
    return SQ_OK;
}

void simnet_destroy(struct simnet *sim)
{
    if (sim == NULL) {
        return;
    }
    while (sim->heap_count > 0) {
        free(heap_pop(sim));
    }
    for (uint32_t a = 0; a < SIMNET_NODES_MAX; a++) {
        for (uint32_t b = 0; b < SIMNET_NODES_MAX; b++) {
            held_clear(&sim->links[a][b]);
        }
    }
    for (uint32_t i = 0; i < sim->node_count; i++) {
        free(sim->nodes[i]);
    }
    free(sim->heap);
    free(sim);
}

struct net *simnet_net(struct simnet *sim, uint32_t node)
{
    SQ_ASSERT(node < sim->node_count);
    return &sim->nodes[node]->base;
}

void simnet_set_handler(struct simnet *sim, uint32_t node, const struct net_handler *handler)
{
    SQ_ASSERT(node < sim->node_count);
    sim->nodes[node]->base.handler = *handler;
}

void simnet_set_poll(struct simnet *sim, uint32_t node, void (*fn)(void *arg), void *arg)
{
    SQ_ASSERT(node < sim->node_count);
    sim->nodes[node]->poll = fn;
    sim->nodes[node]->poll_arg = arg;
}

void simnet_set_check(struct simnet *sim, void (*fn)(void *arg), void *arg)
{
    sim->check = fn;
    sim->check_arg = arg;
}

void simnet_connect_all(struct simnet *sim)
{
    for (uint32_t a = 0; a < sim->node_count; a++) {
        for (uint32_t b = 0; b < sim->node_count; b++) {
            if (a != b && !sim->nodes[a]->peers[b].added) {
                (void)sim_peer_add(&sim->nodes[a]->base, b);
            }
        }
    }
}

int simnet_call_at(struct simnet *sim, uint64_t at_ns, uint32_t node, void (*fn)(void *arg),
                   void *arg)
{
    SQ_ASSERT(node < sim->node_count);
    SQ_ASSERT(fn != NULL);
    if (sim->heap_count >= SIMNET_EVENTS_MAX) {
        return SQ_EFULL;
    }
    struct ev *e = ev_new(0);
    e->kind = EV_CALL;
    e->src = node;
    e->dst = node;
    e->epoch = sim->nodes[node]->incarnation;
    e->fn = fn;
    e->arg = arg;
    schedule(sim, e, at_ns < sim->clock.now_ns ? sim->clock.now_ns : at_ns);
    return SQ_OK;
}

struct sq_clock *simnet_clock(struct simnet *sim)
{
    return &sim->clock.base;
}

uint64_t simnet_now(const struct simnet *sim)
{
    return sim->clock.now_ns;
}

struct sq_prng *simnet_prng(struct simnet *sim)
{
    return &sim->prng;
}

bool simnet_step(struct simnet *sim)
{
    if (sim->heap_count == 0) {
        return false;
    }
    struct ev *e = heap_pop(sim);
    SQ_ASSERT(e->at >= sim->clock.now_ns);
    sim->clock.now_ns = e->at;
    sim->events_run++;
    run_event(sim, e);
    if (sim->check != NULL) {
        sim->check(sim->check_arg);
    }
    return true;
}

void simnet_run_until(struct simnet *sim, uint64_t deadline_ns)
{
    while (sim->heap_count > 0 && sim->heap[0]->at <= deadline_ns) {
        simnet_step(sim);
    }
    if (sim->clock.now_ns < deadline_ns) {
        sim->clock.now_ns = deadline_ns;
    }
}

bool simnet_run_until_cond(struct simnet *sim, bool (*cond)(void *arg), void *arg,
                           uint64_t deadline_ns)
{
    for (;;) {
        if (cond(arg)) {
            return true;
        }
        if (sim->heap_count == 0 || sim->heap[0]->at > deadline_ns) {
            return cond(arg);
        }
        simnet_step(sim);
    }
}

uint64_t simnet_run_idle(struct simnet *sim, uint64_t steps_max)
{
    uint64_t n = 0;
    while (n < steps_max && simnet_step(sim)) {
        n++;
    }
    return n;
}

void simnet_node_crash(struct simnet *sim, uint32_t node)
{
    SQ_ASSERT(node < sim->node_count);
    struct sim_node *n = sim->nodes[node];
    if (n->crashed) {
        return;
    }
    n->crashed = true;
    mix(sim, 0xc0ffee00u + node);
    for (uint32_t i = 0; i < sim->node_count; i++) {
        if (i != node) {
            conn_break(sim, node, i, SQ_EPEER, sim->fail_detect_ns);
        }
    }
}

void simnet_node_restart(struct simnet *sim, uint32_t node)
{
    SQ_ASSERT(node < sim->node_count);
    struct sim_node *n = sim->nodes[node];
    SQ_ASSERT(n->crashed);
    mix(sim, 0x2e57a700u + node);
    n->crashed = false;
    n->incarnation++;
    memset(n->regions, 0, sizeof(n->regions));
    memset(n->peers, 0, sizeof(n->peers)); /* posted buffers of the old process are forgotten */
    n->poll = NULL;
    n->poll_arg = NULL;
    memset(&n->base.handler, 0, sizeof(n->base.handler));
}

bool simnet_node_is_crashed(const struct simnet *sim, uint32_t node)
{
    SQ_ASSERT(node < sim->node_count);
    return sim->nodes[node]->crashed;
}

static void cut_one(struct simnet *sim, uint32_t a, uint32_t b)
{
    struct link *l = &sim->links[a][b];
    if (l->cut) {
        return;
    }
    l->cut = true;
    l->cut_gen++;
    struct ev *e = ev_new(0);
    e->kind = EV_LINK_TIMEOUT;
    e->src = a;
    e->dst = b;
    e->epoch = l->cut_gen;
    schedule(sim, e, sim->clock.now_ns + sim->link_timeout_ns);
}

static void heal_one(struct simnet *sim, uint32_t a, uint32_t b)
{
    struct link *l = &sim->links[a][b];
    if (!l->cut) {
        return;
    }
    l->cut = false;
    l->cut_gen++;
    /* Held messages go out after a fresh delay (and the link's spike, if any), ahead of
     * anything sent later (FIFO). */
    schedule_drain(sim, a, b, link_next_at(sim, l));
}

void simnet_link_cut(struct simnet *sim, uint32_t a, uint32_t b, bool both)
{
    SQ_ASSERT(a < sim->node_count && b < sim->node_count && a != b);
    mix(sim, 0xc7000000u + (a << 8) + b);
    cut_one(sim, a, b);
    if (both) {
        cut_one(sim, b, a);
    }
}

void simnet_link_heal(struct simnet *sim, uint32_t a, uint32_t b, bool both)
{
    SQ_ASSERT(a < sim->node_count && b < sim->node_count && a != b);
    mix(sim, 0x4ea10000u + (a << 8) + b);
    heal_one(sim, a, b);
    if (both) {
        heal_one(sim, b, a);
    }
    try_establish(sim, a, b);
}

void simnet_link_delay(struct simnet *sim, uint32_t a, uint32_t b, uint64_t extra_ns, bool both)
{
    SQ_ASSERT(a < sim->node_count && b < sim->node_count && a != b);
    mix(sim, 0xde1a0000u + (a << 8) + b);
    mix(sim, extra_ns);
    /* Messages already in flight keep their times; link_next_at() keeps later ones behind them. */
    sim->links[a][b].extra_ns = extra_ns;
    if (both) {
        sim->links[b][a].extra_ns = extra_ns;
    }
}

uint64_t simnet_trace_hash(const struct simnet *sim)
{
    return sim->hash;
}

uint64_t simnet_events_run(const struct simnet *sim)
{
    return sim->events_run;
}
