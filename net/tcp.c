/* The TCP transport: the RMA-over-TCP shim of PROTOCOL.md §8.2, driven by base/loop.h.
 *
 * One connection per peer, dialled by the lower id. Both ends authenticate (net_hs_*), then frames
 * flow: WRITE frames are applied to the registered region in arrival order (net_apply_write), SEND
 * frames fill posted receive buffers in order, signaled operations are acknowledged by cumulative
 * ACK frames, PINGs keep an idle connection provably alive. Everything runs on the loop thread: the
 * socket is read when epoll says so and written at the end of the loop round in which frames were
 * queued (one writev per connection), so the transport blocks in epoll when idle. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "net/net_int.h"

#define RX_BYTES_INIT (64u * 1024)
#define RX_BUDGET_BYTES (4u * 1024 * 1024) /* read at most this much per readiness callback */
#define PENDING_MAX NET_PEERS_MAX          /* accepted connections not yet identified */
/* A SEND payload at least this long that is not in `rx` whole is read straight into its place
 * (the posted buffer, or where handler.recv_place says) instead of through `rx` and a copy. */
#define DIRECT_MIN_BYTES (64u * 1024)

enum conn_state {
    CONN_DIALLING = 0, /* non-blocking connect in progress */
    CONN_HANDSHAKE,
    CONN_UP,
};

struct tcp_net;

struct conn {
    struct tcp_net *t;
    int fd;
    bool initiator;
    enum conn_state state;
    int peer_index; /* -1 until the acceptor has read the HELLO */
    struct net_hs hs;
    struct sq_timer hs_timer;
    uint8_t *rx;
    size_t rx_len;
    size_t rx_cap;
    struct net_txq txq;
    uint32_t interest;
    bool dirty; /* on the flush list */
    struct conn *next_dirty;
    bool paused; /* a SEND waits for a posted buffer: reading stopped */
    bool dead;   /* closed while a callback up the stack still holds it */
    /* A large SEND being read straight into place (DIRECT_MIN_BYTES): its head, the payload bytes
     * stored so far, and whether handler.recv_place is still asked where they go. Its posted
     * buffer stays at the head of the peer's queue until the payload is complete. */
    bool rx_direct;
    bool rx_steer;
    uint8_t rx_flags;
    uint32_t rx_imm;
    size_t rx_size;
    size_t rx_done;
};

struct remote_region {
    uint64_t tag;
    uint64_t size; /* 0: not announced */
};

struct posted {
    void *buf;
    size_t cap;
    uint64_t wr_id;
};

struct peer {
    struct tcp_net *t;
    uint32_t id;
    bool added;
    enum net_peer_state state;
    struct conn *conn;
    struct sq_timer retry_timer;
    uint32_t retry_ms;
    struct sq_timer ka_timer;
    uint64_t last_rx_ns;
    uint64_t last_tx_ns;
    struct remote_region regions[SQ_NET_REGIONS_MAX];
    uint64_t sig[NET_SIGNALED_MAX]; /* wr_ids of signaled operations awaiting their ACK */
    uint32_t sig_head;
    uint32_t sig_count;
    uint64_t sig_acked;   /* ACK count seen so far */
    uint64_t rx_signaled; /* signaled frames from the peer applied so far */
    bool ack_owed;
    struct posted recvs[NET_RECVS_MAX];
    uint32_t recv_head;
    uint32_t recv_count;
};

struct local_region {
    uint8_t *base;
    size_t size;
    uint64_t tag;
};

struct tcp_net {
    struct net base;
    struct sq_loop *loop;
    uint8_t chain_id[SQ_CHAIN_ID_BYTES_MAX];
    size_t chain_id_size;
    const struct sqc_keypair *key;
    struct net_validator validators[NET_PEERS_MAX];
    size_t validator_count;
    struct peer peers[NET_PEERS_MAX]; /* parallel to validators */
    int listen_fd;
    uint16_t port;
    struct conn *pending[PENDING_MAX];
    struct local_region regions[SQ_NET_REGIONS_MAX];
    uint64_t keepalive_ns;
    uint64_t dead_ns;
    uint64_t handshake_ns;
    uint32_t retry_min_ms;
    uint32_t retry_max_ms;
    size_t sendq_bytes_max;
    struct sq_timer flush_timer;
    struct conn *dirty;
    struct sq_timer resume_timer;
};

static const struct net_ops tcp_ops;

static struct tcp_net *tcp_of(struct net *net)
{
    SQ_ASSERT(net->ops == &tcp_ops);
    return (struct tcp_net *)(void *)net;
}

static int peer_index(const struct tcp_net *t, uint32_t id)
{
    for (size_t i = 0; i < t->validator_count; i++) {
        if (t->validators[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

static void conn_close(struct conn *c);
static void peer_fail(struct tcp_net *t, struct peer *p, int reason, const char *why);

/* ---- queueing and flushing ---- */

static void conn_mark_dirty(struct conn *c)
{
    struct tcp_net *t = c->t;
    if (!c->dirty) {
        c->dirty = true;
        c->next_dirty = t->dirty;
        t->dirty = c;
    }
    if (!sq_timer_is_armed(&t->flush_timer)) {
        /* Fires at the end of this loop round: everything queued in the round leaves together. */
        (void)sq_loop_timer_start(t->loop, &t->flush_timer, 0);
    }
}

/* Queues one frame (header + payload). Control frames ignore the bound (they are tiny and
 * bounded in number by their triggers); data frames respect it. */
static int conn_queue(struct conn *c, const void *hdr, size_t hdr_size, const void *data,
                      size_t data_size, bool bounded)
{
    if (bounded && c->txq.bytes + hdr_size + data_size > c->t->sendq_bytes_max) {
        return SQ_EFULL;
    }
    int rc = net_txq_append2(&c->txq, hdr, hdr_size, data, data_size);
    if (rc != SQ_OK) {
        return rc;
    }
    if (c->peer_index >= 0) {
        c->t->peers[c->peer_index].last_tx_ns = sq_loop_now(c->t->loop);
    }
    conn_mark_dirty(c);
    return SQ_OK;
}

static void conn_set_interest(struct conn *c, uint32_t interest)
{
    if (c->interest != interest) {
        c->interest = interest;
        (void)sq_loop_fd_modify(c->t->loop, c->fd, interest);
    }
}

static uint32_t conn_want(const struct conn *c)
{
    uint32_t w = c->paused ? 0 : SQ_LOOP_IN;
    if (c->txq.bytes > 0 || c->state == CONN_DIALLING) {
        w |= SQ_LOOP_OUT;
    }
    return w;
}

/* Writes as much as the socket takes. SQ_OK (maybe with bytes left, then OUT interest is on) or
 * an error for a broken connection. */
static int conn_flush(struct conn *c)
{
    while (c->txq.bytes > 0) {
        struct iovec iov[NET_TXQ_IOV_MAX];
        int n = net_txq_iov(&c->txq, iov, NET_TXQ_IOV_MAX);
        SQ_ASSERT(n > 0);
        /* sendmsg with MSG_NOSIGNAL, not writev: a peer that vanished must become EPIPE here,
         * never a SIGPIPE that kills whatever process hosts the transport. */
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            return sq_err_from_errno(errno) == SQ_EPEER ? SQ_EPEER : SQ_EIO;
        }
        net_txq_consume(&c->txq, (size_t)w);
    }
    conn_set_interest(c, conn_want(c));
    return SQ_OK;
}

static void conn_fail(struct conn *c, int reason, const char *why);

static void flush_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct tcp_net *t = arg;
    while (t->dirty != NULL) {
        struct conn *c = t->dirty;
        t->dirty = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        int rc = conn_flush(c);
        if (rc != SQ_OK) {
            conn_fail(c, rc, "write failed");
        }
    }
}

static void unlink_dirty(struct tcp_net *t, struct conn *c)
{
    if (!c->dirty) {
        return;
    }
    for (struct conn **pp = &t->dirty; *pp != NULL; pp = &(*pp)->next_dirty) {
        if (*pp == c) {
            *pp = c->next_dirty;
            break;
        }
    }
    c->dirty = false;
    c->next_dirty = NULL;
}

/* ---- connection objects ---- */

static void hs_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg);

static struct conn *conn_new(struct tcp_net *t, int fd, bool initiator)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->rx = malloc(RX_BYTES_INIT);
    if (c->rx == NULL) {
        free(c);
        return NULL;
    }
    c->rx_cap = RX_BYTES_INIT;
    c->t = t;
    c->fd = fd;
    c->initiator = initiator;
    c->peer_index = -1;
    net_txq_init(&c->txq);
    sq_timer_init(&c->hs_timer, hs_timer_fn, c);
    return c;
}

static void conn_io(struct sq_loop *loop, int fd, uint32_t events, void *arg);

static void conn_close(struct conn *c)
{
    struct tcp_net *t = c->t;
    sq_loop_timer_stop(t->loop, &c->hs_timer);
    unlink_dirty(t, c);
    sq_loop_fd_remove(t->loop, c->fd);
    close(c->fd);
    for (size_t i = 0; i < PENDING_MAX; i++) {
        if (t->pending[i] == c) {
            t->pending[i] = NULL;
        }
    }
    if (c->peer_index >= 0 && t->peers[c->peer_index].conn == c) {
        t->peers[c->peer_index].conn = NULL;
    }
    net_txq_free(&c->txq);
    free(c->rx);
    free(c);
}

/* Sends our HELLO and starts the handshake clock. */
static int conn_start_handshake(struct conn *c, uint32_t expect_id)
{
    struct tcp_net *t = c->t;
    c->state = CONN_HANDSHAKE;
    net_hs_init(&c->hs, c->initiator, t->base.self_id, expect_id, t->chain_id, t->chain_id_size,
                t->key, t->validators, t->validator_count);
    uint8_t hello[NET_HS_BODY_BYTES_MAX + NET_FRAME_LEN_BYTES];
    size_t n = net_hs_hello(&c->hs, hello, sizeof(hello));
    (void)sq_loop_timer_start(t->loop, &c->hs_timer, t->handshake_ns);
    return conn_queue(c, hello, n, NULL, 0, false);
}

static void dial_fail_later(struct tcp_net *t, struct peer *p)
{
    (void)sq_loop_timer_start(t->loop, &p->retry_timer, (uint64_t)p->retry_ms * SQ_NS_PER_MS);
    p->retry_ms = p->retry_ms * 2 > t->retry_max_ms ? t->retry_max_ms : p->retry_ms * 2;
}

/* A connection that never became (or is no longer) a peer's live link is closed. For the dialling
 * side of an added peer a retry is scheduled; refusals by authentication fail the peer. */
static void conn_fail(struct conn *c, int reason, const char *why)
{
    struct tcp_net *t = c->t;
    if (c->state == CONN_UP) {
        SQ_ASSERT(c->peer_index >= 0);
        peer_fail(t, &t->peers[c->peer_index], reason, why);
        return;
    }
    int idx = c->peer_index;
    bool initiator = c->initiator;
    if (reason == SQ_EAUTH) {
        SQ_WARN("net", "peer refused", "peer_index=%d initiator=%d reason=\"%s\"", idx,
                (int)initiator, why);
    } else {
        SQ_DEBUG("net", "connection attempt failed", "peer_index=%d reason=\"%s\" err=%s", idx, why,
                 sq_errname(reason));
    }
    conn_close(c);
    if (idx < 0 || !initiator) {
        return;
    }
    struct peer *p = &t->peers[idx];
    if (!p->added || p->state != NET_PEER_CONNECTING) {
        return;
    }
    if (reason == SQ_EAUTH) {
        /* We dialled the address the validator set gives for this id and someone else answered,
         * or refused us: the operator must look, so it is reported, not retried. */
        p->state = NET_PEER_FAILED;
        if (t->base.handler.peer_failed != NULL) {
            t->base.handler.peer_failed(t->base.handler.arg, p->id, SQ_EAUTH);
        }
        return;
    }
    dial_fail_later(t, p);
}

static void hs_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    conn_fail(arg, SQ_ETIMEDOUT, "handshake timed out");
}

/* ---- peers ---- */

static void ka_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg);

static void peer_reset(struct tcp_net *t, struct peer *p)
{
    sq_loop_timer_stop(t->loop, &p->retry_timer);
    sq_loop_timer_stop(t->loop, &p->ka_timer);
    memset(p->regions, 0, sizeof(p->regions));
    p->sig_head = 0;
    p->sig_count = 0;
    p->sig_acked = 0;
    p->rx_signaled = 0;
    p->ack_owed = false;
    p->recv_head = 0;
    p->recv_count = 0;
    p->retry_ms = t->retry_min_ms;
}

static void peer_fail(struct tcp_net *t, struct peer *p, int reason, const char *why)
{
    SQ_ASSERT(p->state == NET_PEER_UP);
    SQ_WARN("net", "peer failed", "peer=%u reason=\"%s\" err=%s", p->id, why, sq_errname(reason));
    if (p->conn != NULL) {
        conn_close(p->conn);
        p->conn = NULL;
    }
    p->state = NET_PEER_FAILED;
    sq_loop_timer_stop(t->loop, &p->ka_timer);
    /* Flush pending work with errors before the failure itself, as a verbs QP flushes its WRs. */
    uint32_t id = p->id;
    uint32_t sig_n = p->sig_count;
    uint32_t recv_n = p->recv_count;
    uint64_t sig[NET_SIGNALED_MAX];
    struct posted recvs[NET_RECVS_MAX];
    for (uint32_t i = 0; i < sig_n; i++) {
        sig[i] = p->sig[(p->sig_head + i) % NET_SIGNALED_MAX];
    }
    for (uint32_t i = 0; i < recv_n; i++) {
        recvs[i] = p->recvs[(p->recv_head + i) % NET_RECVS_MAX];
    }
    peer_reset(t, p);
    const struct net_handler *h = &t->base.handler;
    for (uint32_t i = 0; i < sig_n && h->completion != NULL; i++) {
        h->completion(h->arg, id, sig[i], SQ_EPEER);
    }
    for (uint32_t i = 0; i < recv_n && h->recv_done != NULL; i++) {
        h->recv_done(h->arg, id, recvs[i].wr_id, SQ_EPEER, 0, 0);
    }
    if (h->peer_failed != NULL) {
        h->peer_failed(h->arg, id, reason);
    }
}

static int queue_region(struct conn *c, uint32_t region, const struct local_region *r)
{
    uint8_t hdr[NET_FRAME_HDR_BYTES_MAX];
    size_t n = net_frame_enc_region(hdr, (uint8_t)region, r->tag, r->base != NULL ? r->size : 0);
    return conn_queue(c, hdr, n, NULL, 0, false);
}

static void conn_up(struct conn *c)
{
    struct tcp_net *t = c->t;
    struct peer *p = &t->peers[c->peer_index];
    sq_loop_timer_stop(t->loop, &c->hs_timer);
    c->state = CONN_UP;
    p->state = NET_PEER_UP;
    p->retry_ms = t->retry_min_ms;
    uint64_t now = sq_loop_now(t->loop);
    p->last_rx_ns = now;
    p->last_tx_ns = now;
    SQ_INFO("net", "peer up", "peer=%u initiator=%d", p->id, (int)c->initiator);
    for (uint32_t r = 0; r < SQ_NET_REGIONS_MAX; r++) {
        if (t->regions[r].base != NULL) {
            (void)queue_region(c, r, &t->regions[r]);
        }
    }
    (void)sq_loop_timer_start(t->loop, &p->ka_timer, t->keepalive_ns);
    if (t->base.handler.peer_up != NULL) {
        t->base.handler.peer_up(t->base.handler.arg, p->id);
    }
}

static void ka_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)timer;
    struct peer *p = arg;
    if (p->state != NET_PEER_UP || p->conn == NULL) {
        return;
    }
    struct tcp_net *t = p->conn->t;
    uint64_t now = sq_loop_now(loop);
    /* A paused connection is not read, so the peer's pings are not seen: do not count silence. */
    if (p->conn->paused) {
        p->last_rx_ns = now;
    }
    if (now - p->last_rx_ns >= t->dead_ns) {
        peer_fail(t, p, SQ_ETIMEDOUT, "keepalive timeout");
        return;
    }
    if (now - p->last_tx_ns >= t->keepalive_ns) {
        uint8_t hdr[NET_FRAME_HDR_BYTES_MAX];
        (void)conn_queue(p->conn, hdr, net_frame_enc_ping(hdr), NULL, 0, false);
    }
    (void)sq_loop_timer_start(loop, &p->ka_timer, t->keepalive_ns);
}

static void dial_with(struct tcp_net *t, struct peer *p);

static void retry_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct peer *p = arg;
    if (p->added && p->state == NET_PEER_CONNECTING && p->conn == NULL) {
        dial_with(p->t, p);
    }
}

/* ---- receiving ---- */

/* Handles one authenticated frame. SQ_OK, SQ_EAGAIN (a SEND waits for a buffer: stop here), or an
 * error that fails the peer with `*why` set. */
/* A SEND's payload is in the peer's first posted buffer: the buffer leaves the queue, a signaled
 * SEND is counted for the next ACK, and handler.recv_done reports it (which may remove the peer). */
static void recv_complete(struct tcp_net *t, struct peer *p, uint8_t flags, uint32_t imm,
                          size_t size)
{
    SQ_ASSERT(p->recv_count > 0);
    struct posted b = p->recvs[p->recv_head];
    p->recv_head = (p->recv_head + 1) % NET_RECVS_MAX;
    p->recv_count--;
    if (flags & NET_FRAME_FLAG_ACK) {
        p->rx_signaled++;
        p->ack_owed = true;
    }
    const struct net_handler *h = &t->base.handler;
    if (h->recv_done != NULL) {
        h->recv_done(h->arg, p->id, b.wr_id, SQ_OK, imm, size);
    }
}

/* Sends the ACK owed for signaled operations received, if any. */
static void ack_flush(struct conn *c, struct peer *p)
{
    if (p->ack_owed) {
        uint8_t hdr[NET_FRAME_HDR_BYTES_MAX];
        (void)conn_queue(c, hdr, net_frame_enc_ack(hdr, p->rx_signaled), NULL, 0, false);
        p->ack_owed = false;
    }
}

static int handle_frame(struct conn *c, struct peer *p, const struct net_frame *f, const char **why)
{
    struct tcp_net *t = c->t;
    const struct net_handler *h = &t->base.handler;
    switch (f->type) {
    case NET_FR_WRITE: {
        const struct local_region *r = &t->regions[f->region];
        bool live = r->base != NULL && r->tag == f->tag;
        if (live) {
            if (f->offset > r->size || f->data_size > r->size - f->offset) {
                *why = "write outside the region";
                return SQ_ECORRUPT;
            }
            net_apply_write(r->base + f->offset, f->data, f->data_size);
        }
        /* A write to a region re-registered since is an old view's: it is dropped, but still
         * acknowledged, since it was delivered. */
        if (f->flags & NET_FRAME_FLAG_ACK) {
            p->rx_signaled++;
            p->ack_owed = true;
        }
        if (live && h->write_arrived != NULL) {
            h->write_arrived(h->arg, p->id, f->region);
        }
        return SQ_OK;
    }
    case NET_FR_SEND: {
        if (p->recv_count == 0) {
            return SQ_EAGAIN;
        }
        const struct posted *b = &p->recvs[p->recv_head];
        if (f->data_size > b->cap) {
            *why = "send longer than the posted buffer";
            return SQ_ETOOBIG;
        }
        if (f->data_size > 0) {
            memcpy(b->buf, f->data, f->data_size);
        }
        recv_complete(t, p, f->flags, f->imm, f->data_size);
        return SQ_OK;
    }
    case NET_FR_ACK: {
        if (f->value < p->sig_acked || f->value - p->sig_acked > p->sig_count) {
            *why = "acknowledgement of operations never sent";
            return SQ_ECORRUPT;
        }
        uint64_t n = f->value - p->sig_acked;
        p->sig_acked = f->value;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t wr = p->sig[p->sig_head];
            p->sig_head = (p->sig_head + 1) % NET_SIGNALED_MAX;
            p->sig_count--;
            if (h->completion != NULL) {
                h->completion(h->arg, p->id, wr, SQ_OK);
            }
            if (p->state != NET_PEER_UP) {
                return SQ_ECLOSED; /* the handler removed the peer */
            }
        }
        return SQ_OK;
    }
    case NET_FR_PING:
        return SQ_OK;
    case NET_FR_REGION:
        p->regions[f->region].tag = f->tag;
        p->regions[f->region].size = f->value;
        return SQ_OK;
    default:
        *why = "handshake frame after authentication";
        return SQ_ECORRUPT;
    }
}

/* Why validator `id` cannot be admitted on an accepted connection now, or NULL. */
static const char *acceptor_refusal(struct tcp_net *t, uint32_t id)
{
    int idx = peer_index(t, id);
    SQ_ASSERT(idx >= 0); /* the handshake checked the set */
    const struct peer *p = &t->peers[idx];
    if (!p->added) {
        return "validator not expected (not added)";
    }
    if (p->state == NET_PEER_FAILED) {
        return "validator already failed in this membership";
    }
    if (p->conn != NULL || p->state == NET_PEER_UP) {
        return "validator already connected";
    }
    return NULL;
}

/* Where the next payload bytes of the direct SEND go: the place handler.recv_place names (asked
 * before every piece, since other events run between pieces and may withdraw it), else the posted
 * buffer. */
static uint8_t *direct_dst(struct conn *c)
{
    struct peer *p = &c->t->peers[c->peer_index];
    SQ_ASSERT(c->rx_direct && p->recv_count > 0);
    const struct posted *b = &p->recvs[p->recv_head];
    const struct net_handler *h = &c->t->base.handler;
    if (c->rx_steer) {
        void *d = h->recv_place(h->arg, p->id, b->wr_id, c->rx_imm, c->rx_size, c->rx_done);
        if (d != NULL) {
            return d;
        }
        c->rx_steer = false; /* withdrawn (or never given): the posted buffer from now on */
    }
    return b->buf;
}

/* The direct SEND's payload is complete: its posted buffer is reported done. False when the
 * handler removed the peer. */
static bool direct_finish(struct conn *c)
{
    struct peer *p = &c->t->peers[c->peer_index];
    SQ_ASSERT(c->rx_direct && c->rx_done == c->rx_size);
    c->rx_direct = false;
    recv_complete(c->t, p, c->rx_flags, c->rx_imm, c->rx_size);
    if (p->state != NET_PEER_UP || p->conn != c) {
        return false;
    }
    ack_flush(c, p);
    return true;
}

enum direct_start {
    DIRECT_NO = 0, /* not a large, incomplete SEND: parse it whole */
    DIRECT_STARTED,
    DIRECT_PAUSED, /* no posted buffer yet */
    DIRECT_DEAD,   /* the peer failed */
};

/* At a frame boundary `pos` of an up connection: starts reading a large SEND's payload straight
 * into place when only part of it is in `rx`. The part already read is stored at once, so the
 * rest of `rx` is consumed. */
static enum direct_start direct_begin(struct conn *c, size_t pos)
{
    struct tcp_net *t = c->t;
    struct net_frame f;
    size_t avail = c->rx_len - pos;
    if (net_frame_parse_send_head(c->rx + pos, avail, NET_BODY_BYTES_MAX, &f) != SQ_OK ||
        f.data_size < DIRECT_MIN_BYTES || avail >= NET_SEND_HDR_BYTES + f.data_size) {
        return DIRECT_NO;
    }
    struct peer *p = &t->peers[c->peer_index];
    if (p->recv_count == 0) {
        return DIRECT_PAUSED;
    }
    if (f.data_size > p->recvs[p->recv_head].cap) {
        peer_fail(t, p, SQ_ETOOBIG, "send longer than the posted buffer");
        return DIRECT_DEAD;
    }
    c->rx_direct = true;
    c->rx_steer = t->base.handler.recv_place != NULL;
    c->rx_flags = f.flags;
    c->rx_imm = f.imm;
    c->rx_size = f.data_size;
    c->rx_done = 0;
    size_t have = avail - NET_SEND_HDR_BYTES;
    if (have > 0) {
        memcpy(direct_dst(c), c->rx + pos + NET_SEND_HDR_BYTES, have);
        c->rx_done = have;
    }
    return DIRECT_STARTED;
}

/* Parses and handles buffered frames. Returns false when the connection was closed. */
static bool conn_process(struct conn *c)
{
    struct tcp_net *t = c->t;
    size_t pos = 0;
    bool alive = true;
    while (alive) {
        if (c->state == CONN_UP) {
            enum direct_start ds = direct_begin(c, pos);
            if (ds == DIRECT_DEAD) {
                return false;
            }
            if (ds == DIRECT_PAUSED) {
                c->paused = true;
                break;
            }
            if (ds == DIRECT_STARTED) {
                pos = c->rx_len;
                break;
            }
        }
        struct net_frame f;
        size_t used = 0;
        size_t body_max = c->state == CONN_UP ? NET_BODY_BYTES_MAX : NET_HS_BODY_BYTES_MAX;
        int rc = net_frame_parse(c->rx + pos, c->rx_len - pos, body_max, &f, &used);
        if (rc == SQ_EAGAIN) {
            break;
        }
        if (rc != SQ_OK) {
            conn_fail(c, rc, rc == SQ_ETOOBIG ? "oversized frame" : "malformed frame");
            return false;
        }
        if (c->state == CONN_HANDSHAKE) {
            uint8_t out[128];
            size_t out_size = 0;
            rc = net_hs_on_frame(&c->hs, &f, out, sizeof(out), &out_size);
            if (rc != SQ_OK) {
                conn_fail(c, rc, c->hs.reason);
                return false;
            }
            if (c->peer_index < 0 && c->hs.state == NET_HS_WAIT_AUTH) {
                /* The acceptor knows who claims to call: refuse early what could never be
                 * admitted. Binding waits for the proof, so an impostor stalling its handshake
                 * cannot hold the real validator's place. */
                const char *refuse = acceptor_refusal(t, c->hs.peer_id);
                if (refuse != NULL) {
                    SQ_WARN("net", "peer refused", "peer=%u reason=\"%s\"", c->hs.peer_id, refuse);
                    conn_close(c);
                    return false;
                }
            }
            if (out_size > 0) {
                (void)conn_queue(c, out, out_size, NULL, 0, false);
            }
            pos += used;
            if (net_hs_is_done(&c->hs)) {
                if (c->peer_index < 0) {
                    /* Proven: bind the connection to its validator now. */
                    const char *refuse = acceptor_refusal(t, c->hs.peer_id);
                    if (refuse != NULL) {
                        SQ_WARN("net", "peer refused", "peer=%u reason=\"%s\"", c->hs.peer_id,
                                refuse);
                        conn_close(c);
                        return false;
                    }
                    int idx = peer_index(t, c->hs.peer_id);
                    for (size_t i = 0; i < PENDING_MAX; i++) {
                        if (t->pending[i] == c) {
                            t->pending[i] = NULL;
                        }
                    }
                    c->peer_index = idx;
                    t->peers[idx].conn = c;
                }
                struct peer *up = &t->peers[c->peer_index];
                conn_up(c);
                /* The peer_up handler may have removed the peer (freeing c): look only at the
                 * peer. Only this connection can make it UP again. */
                if (up->state != NET_PEER_UP || up->conn != c) {
                    return false;
                }
            }
            continue;
        }
        struct peer *p = &t->peers[c->peer_index];
        const char *why = "?";
        rc = handle_frame(c, p, &f, &why);
        if (rc == SQ_EAGAIN) {
            c->paused = true;
            break;
        }
        if (rc == SQ_ECLOSED) {
            return false;
        }
        if (rc != SQ_OK) {
            peer_fail(t, p, rc, why);
            return false;
        }
        if (p->state != NET_PEER_UP || p->conn != c) {
            return false; /* a handler removed the peer */
        }
        pos += used;
    }
    if (pos > 0) {
        memmove(c->rx, c->rx + pos, c->rx_len - pos);
        c->rx_len -= pos;
    }
    if (c->state == CONN_UP) {
        ack_flush(c, &t->peers[c->peer_index]);
    }
    return true;
}

/* Makes room for the frame at the front of the buffer. False if it can never fit. */
static bool rx_reserve(struct conn *c)
{
    if (c->rx_len < c->rx_cap) {
        return true;
    }
    SQ_ASSERT(c->rx_len >= NET_FRAME_LEN_BYTES);
    size_t want = NET_FRAME_LEN_BYTES + (size_t)sq_le32_load(c->rx);
    if (want <= c->rx_cap) {
        return true;
    }
    /* net_frame_parse already refused bodies over the limit, so `want` is bounded. */
    SQ_ASSERT(want <= SQ_NET_FRAME_BYTES_MAX);
    uint8_t *n = realloc(c->rx, want);
    if (n == NULL) {
        return false;
    }
    c->rx = n;
    c->rx_cap = want;
    return true;
}

static void conn_read(struct conn *c)
{
    struct tcp_net *t = c->t;
    size_t budget = RX_BUDGET_BYTES;
    while (budget > 0 && !c->paused) {
        uint8_t *into;
        size_t room;
        if (c->rx_direct) {
            into = direct_dst(c) + c->rx_done;
            room = c->rx_size - c->rx_done;
        } else {
            if (!rx_reserve(c)) {
                conn_fail(c, SQ_ENOMEM, "cannot grow the receive buffer");
                return;
            }
            into = c->rx + c->rx_len;
            room = c->rx_cap - c->rx_len;
        }
        ssize_t r = read(c->fd, into, room);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            conn_fail(c, SQ_EPEER, "read failed");
            return;
        }
        if (r == 0) {
            conn_fail(c, SQ_ECLOSED, "connection closed by peer");
            return;
        }
        bool drained = (size_t)r < room;
        budget = (size_t)r >= budget ? 0 : budget - (size_t)r;
        if (c->peer_index >= 0) {
            t->peers[c->peer_index].last_rx_ns = sq_loop_now(t->loop);
        }
        if (c->rx_direct) {
            c->rx_done += (size_t)r;
            if (c->rx_done == c->rx_size && !direct_finish(c)) {
                return;
            }
        } else {
            c->rx_len += (size_t)r;
            if (!conn_process(c)) {
                return;
            }
        }
        if (drained) {
            break; /* a short read emptied the socket; epoll (level-triggered) reports more */
        }
    }
    conn_set_interest(c, conn_want(c));
}

static void conn_io(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    struct conn *c = arg;
    if (c->state == CONN_DIALLING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
        }
        if (err != 0) {
            conn_fail(c, SQ_EPEER, "connect failed");
            return;
        }
        if ((events & (SQ_LOOP_OUT | SQ_LOOP_ERR)) == 0) {
            return;
        }
        uint32_t expect = c->t->peers[c->peer_index].id;
        if (conn_start_handshake(c, expect) != SQ_OK) {
            conn_fail(c, SQ_ENOMEM, "cannot queue hello");
            return;
        }
        conn_set_interest(c, conn_want(c));
        return;
    }
    if (events & SQ_LOOP_OUT) {
        int rc = conn_flush(c);
        if (rc != SQ_OK) {
            conn_fail(c, rc, "write failed");
            return;
        }
    }
    if (events & (SQ_LOOP_IN | SQ_LOOP_ERR)) {
        conn_read(c);
    }
}

/* ---- dialling and accepting ---- */

static int socket_tune(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0) {
        return SQ_EIO;
    }
    return SQ_OK;
}

static void dial_with(struct tcp_net *t, struct peer *p)
{
    int idx = (int)(p - t->peers);
    const struct net_validator *v = &t->validators[idx];
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(v->port);
    if (inet_pton(AF_INET, v->host, &sa.sin_addr) != 1) {
        SQ_ERROR("net", "bad peer address", "peer=%u host=%s", v->id, v->host);
        dial_fail_later(t, p);
        return;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        SQ_ERROR("net", "socket failed", "errno=%d", errno);
        dial_fail_later(t, p);
        return;
    }
    if (socket_tune(fd) != SQ_OK) {
        close(fd);
        dial_fail_later(t, p);
        return;
    }
    struct conn *c = conn_new(t, fd, true);
    if (c == NULL) {
        close(fd);
        dial_fail_later(t, p);
        return;
    }
    c->peer_index = idx;
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc != 0 && errno != EINPROGRESS) {
        SQ_DEBUG("net", "connect failed", "peer=%u errno=%d", v->id, errno);
        net_txq_free(&c->txq);
        free(c->rx);
        free(c);
        close(fd);
        dial_fail_later(t, p);
        return;
    }
    c->state = CONN_DIALLING;
    c->interest = SQ_LOOP_OUT;
    if (sq_loop_fd_add(t->loop, fd, SQ_LOOP_OUT, conn_io, c) != SQ_OK) {
        net_txq_free(&c->txq);
        free(c->rx);
        free(c);
        close(fd);
        dial_fail_later(t, p);
        return;
    }
    (void)sq_loop_timer_start(t->loop, &c->hs_timer, t->handshake_ns);
    p->conn = c;
}

static void accept_io(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)events;
    struct tcp_net *t = arg;
    for (int n = 0; n < 16; n++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                SQ_WARN("net", "accept failed", "errno=%d", errno);
            }
            return;
        }
        size_t slot = PENDING_MAX;
        for (size_t i = 0; i < PENDING_MAX; i++) {
            if (t->pending[i] == NULL) {
                slot = i;
                break;
            }
        }
        if (slot == PENDING_MAX || socket_tune(cfd) != SQ_OK) {
            SQ_WARN("net", "connection refused", "reason=\"too many unauthenticated connections\"");
            close(cfd);
            continue;
        }
        struct conn *c = conn_new(t, cfd, false);
        if (c == NULL) {
            close(cfd);
            continue;
        }
        c->interest = SQ_LOOP_IN;
        if (sq_loop_fd_add(t->loop, cfd, SQ_LOOP_IN, conn_io, c) != SQ_OK) {
            net_txq_free(&c->txq);
            free(c->rx);
            free(c);
            close(cfd);
            continue;
        }
        t->pending[slot] = c;
        if (conn_start_handshake(c, 0) != SQ_OK) {
            conn_close(c);
        }
    }
}

/* ---- resuming paused connections ---- */

static void resume_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct tcp_net *t = arg;
    for (size_t i = 0; i < t->validator_count; i++) {
        struct peer *p = &t->peers[i];
        struct conn *c = p->conn;
        if (p->state != NET_PEER_UP || c == NULL || !c->paused || p->recv_count == 0) {
            continue;
        }
        c->paused = false;
        if (!conn_process(c)) {
            continue;
        }
        conn_set_interest(c, conn_want(c));
    }
}

/* ---- the function table ---- */

static void tcp_destroy(struct net *net)
{
    struct tcp_net *t = tcp_of(net);
    for (size_t i = 0; i < t->validator_count; i++) {
        struct peer *p = &t->peers[i];
        sq_loop_timer_stop(t->loop, &p->retry_timer);
        sq_loop_timer_stop(t->loop, &p->ka_timer);
        if (p->conn != NULL) {
            conn_close(p->conn);
        }
    }
    for (size_t i = 0; i < PENDING_MAX; i++) {
        if (t->pending[i] != NULL) {
            conn_close(t->pending[i]);
        }
    }
    sq_loop_timer_stop(t->loop, &t->flush_timer);
    sq_loop_timer_stop(t->loop, &t->resume_timer);
    sq_loop_fd_remove(t->loop, t->listen_fd);
    close(t->listen_fd);
    free(t);
}

static struct peer *find_peer(struct tcp_net *t, uint32_t id)
{
    int idx = peer_index(t, id);
    return idx < 0 ? NULL : &t->peers[idx];
}

static int tcp_peer_add(struct net *net, uint32_t id)
{
    struct tcp_net *t = tcp_of(net);
    if (id == t->base.self_id) {
        return SQ_EINVAL;
    }
    struct peer *p = find_peer(t, id);
    if (p == NULL) {
        return SQ_ENOTFOUND;
    }
    if (p->added) {
        return SQ_EEXIST;
    }
    p->added = true;
    p->state = NET_PEER_CONNECTING;
    peer_reset(t, p);
    if (t->base.self_id < id) {
        dial_with(t, p);
    }
    return SQ_OK;
}

static void tcp_peer_remove(struct net *net, uint32_t id)
{
    struct tcp_net *t = tcp_of(net);
    struct peer *p = find_peer(t, id);
    if (p == NULL || !p->added) {
        return;
    }
    if (p->conn != NULL) {
        conn_close(p->conn);
        p->conn = NULL;
    }
    peer_reset(t, p);
    p->added = false;
    p->state = NET_PEER_NONE;
}

static enum net_peer_state tcp_peer_state(struct net *net, uint32_t id)
{
    struct peer *p = find_peer(tcp_of(net), id);
    return p == NULL ? NET_PEER_NONE : p->state;
}

static int tcp_region_register(struct net *net, uint32_t region, uint64_t tag, void *base,
                               size_t size)
{
    struct tcp_net *t = tcp_of(net);
    if (region >= SQ_NET_REGIONS_MAX || base == NULL || size == 0) {
        return SQ_EINVAL;
    }
    struct local_region *r = &t->regions[region];
    r->base = base;
    r->size = size;
    r->tag = tag;
    for (size_t i = 0; i < t->validator_count; i++) {
        struct peer *p = &t->peers[i];
        if (p->state == NET_PEER_UP && p->conn != NULL) {
            (void)queue_region(p->conn, region, r);
        }
    }
    return SQ_OK;
}

static void tcp_region_unregister(struct net *net, uint32_t region)
{
    struct tcp_net *t = tcp_of(net);
    if (region >= SQ_NET_REGIONS_MAX || t->regions[region].base == NULL) {
        return;
    }
    struct local_region *r = &t->regions[region];
    r->base = NULL;
    for (size_t i = 0; i < t->validator_count; i++) {
        struct peer *p = &t->peers[i];
        if (p->state == NET_PEER_UP && p->conn != NULL) {
            (void)queue_region(p->conn, region, r);
        }
    }
    r->size = 0;
}

/* Common checks for data operations. */
static int peer_ready(struct tcp_net *t, uint32_t id, struct peer **out)
{
    struct peer *p = find_peer(t, id);
    if (p == NULL || !p->added || p->state == NET_PEER_FAILED) {
        return SQ_EPEER;
    }
    if (p->state != NET_PEER_UP || p->conn == NULL) {
        return SQ_EAGAIN;
    }
    *out = p;
    return SQ_OK;
}

static int tcp_region_write(struct net *net, uint32_t id, uint32_t region, size_t offset,
                            size_t size, uint32_t flags, uint64_t wr_id)
{
    struct tcp_net *t = tcp_of(net);
    if (size > NET_WRITE_BYTES_MAX) {
        return SQ_ETOOBIG;
    }
    if (region >= SQ_NET_REGIONS_MAX || size == 0 || (flags & ~NET_OP_SIGNALED) != 0) {
        return SQ_EINVAL;
    }
    const struct local_region *r = &t->regions[region];
    if (r->base == NULL || offset > r->size || size > r->size - offset) {
        return SQ_EINVAL;
    }
    struct peer *p = NULL;
    int rc = peer_ready(t, id, &p);
    if (rc != SQ_OK) {
        return rc;
    }
    const struct remote_region *rr = &p->regions[region];
    if (rr->size == 0 || rr->tag != r->tag || offset + size > rr->size) {
        return SQ_EAGAIN;
    }
    bool signaled = (flags & NET_OP_SIGNALED) != 0;
    if (signaled && p->sig_count == NET_SIGNALED_MAX) {
        return SQ_EFULL;
    }
    uint8_t hdr[NET_FRAME_HDR_BYTES_MAX];
    size_t n = net_frame_enc_write(hdr, signaled ? NET_FRAME_FLAG_ACK : 0, (uint8_t)region, r->tag,
                                   offset, size);
    rc = conn_queue(p->conn, hdr, n, r->base + offset, size, true);
    if (rc != SQ_OK) {
        return rc;
    }
    if (signaled) {
        p->sig[(p->sig_head + p->sig_count) % NET_SIGNALED_MAX] = wr_id;
        p->sig_count++;
    }
    return SQ_OK;
}

static int tcp_msg_send(struct net *net, uint32_t id, uint32_t imm, const void *data, size_t size,
                        uint32_t flags, uint64_t wr_id)
{
    struct tcp_net *t = tcp_of(net);
    if (size > NET_SEND_BYTES_MAX) {
        return SQ_ETOOBIG;
    }
    if ((data == NULL && size > 0) || (flags & ~NET_OP_SIGNALED) != 0) {
        return SQ_EINVAL;
    }
    struct peer *p = NULL;
    int rc = peer_ready(t, id, &p);
    if (rc != SQ_OK) {
        return rc;
    }
    bool signaled = (flags & NET_OP_SIGNALED) != 0;
    if (signaled && p->sig_count == NET_SIGNALED_MAX) {
        return SQ_EFULL;
    }
    uint8_t hdr[NET_FRAME_HDR_BYTES_MAX];
    size_t n = net_frame_enc_send(hdr, signaled ? NET_FRAME_FLAG_ACK : 0, imm, size);
    rc = conn_queue(p->conn, hdr, n, data, size, true);
    if (rc != SQ_OK) {
        return rc;
    }
    if (signaled) {
        p->sig[(p->sig_head + p->sig_count) % NET_SIGNALED_MAX] = wr_id;
        p->sig_count++;
    }
    return SQ_OK;
}

static int tcp_recv_post(struct net *net, uint32_t id, void *buf, size_t cap, uint64_t wr_id)
{
    struct tcp_net *t = tcp_of(net);
    if (buf == NULL) {
        return SQ_EINVAL;
    }
    struct peer *p = find_peer(t, id);
    if (p == NULL || !p->added || p->state == NET_PEER_FAILED) {
        return SQ_EPEER;
    }
    if (p->recv_count == NET_RECVS_MAX) {
        return SQ_EFULL;
    }
    p->recvs[(p->recv_head + p->recv_count) % NET_RECVS_MAX] =
        (struct posted){.buf = buf, .cap = cap, .wr_id = wr_id};
    p->recv_count++;
    if (p->conn != NULL && p->conn->paused && !sq_timer_is_armed(&t->resume_timer)) {
        /* Resume in a timer, not here, so handlers never run inside the caller's call. */
        (void)sq_loop_timer_start(t->loop, &t->resume_timer, 0);
    }
    return SQ_OK;
}

static void tcp_flush(struct net *net)
{
    struct tcp_net *t = tcp_of(net);
    flush_timer_fn(t->loop, &t->flush_timer, t);
    sq_loop_timer_stop(t->loop, &t->flush_timer);
}

static const struct net_ops tcp_ops = {
    .name = "tcp",
    .destroy = tcp_destroy,
    .peer_add = tcp_peer_add,
    .peer_remove = tcp_peer_remove,
    .peer_state = tcp_peer_state,
    .region_register = tcp_region_register,
    .region_unregister = tcp_region_unregister,
    .region_write = tcp_region_write,
    .msg_send = tcp_msg_send,
    .recv_post = tcp_recv_post,
    .flush = tcp_flush,
};

uint16_t net_tcp_port(const struct net *net)
{
    if (net == NULL || net->ops != &tcp_ops) {
        return 0;
    }
    return ((const struct tcp_net *)(const void *)net)->port;
}

static int listen_open(const struct net_validator *self, int *fd_out)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(self->port);
    if (inet_pton(AF_INET, self->host, &sa.sin_addr) != 1) {
        SQ_ERROR("net", "bad listen address", "host=%s", self->host);
        return SQ_EINVAL;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        SQ_ERROR("net", "socket failed", "errno=%d", errno);
        return SQ_EIO;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 128) != 0) {
        SQ_ERROR("net", "cannot listen", "host=%s port=%u errno=%d", self->host,
                 (unsigned)self->port, errno);
        close(fd);
        return SQ_EIO;
    }
    *fd_out = fd;
    return SQ_OK;
}

int net_tcp_create(struct net **out, const struct net_tcp_config *cfg,
                   const struct net_handler *handler)
{
    SQ_ASSERT(out != NULL && cfg != NULL);
    if (cfg->loop == NULL || cfg->key == NULL || cfg->chain_id == NULL || cfg->chain_id_size == 0 ||
        cfg->chain_id_size > SQ_CHAIN_ID_BYTES_MAX ||
        net_validators_check(cfg->validators, cfg->validator_count, cfg->self_id) != SQ_OK ||
        cfg->sendq_bytes_max > SQ_NET_SENDQ_BYTES_MAX) {
        return SQ_EINVAL;
    }
    struct tcp_net *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        return SQ_ENOMEM;
    }
    t->base.ops = &tcp_ops;
    if (handler != NULL) {
        t->base.handler = *handler;
    }
    t->base.self_id = cfg->self_id;
    t->loop = cfg->loop;
    memcpy(t->chain_id, cfg->chain_id, cfg->chain_id_size);
    t->chain_id_size = cfg->chain_id_size;
    t->key = cfg->key;
    memcpy(t->validators, cfg->validators, cfg->validator_count * sizeof(*cfg->validators));
    t->validator_count = cfg->validator_count;
    for (size_t i = 0; i < t->validator_count; i++) {
        t->validators[i].host[NET_HOST_BYTES_MAX - 1] = '\0';
    }
    t->keepalive_ns = (uint64_t)(cfg->keepalive_ms ? cfg->keepalive_ms : 500) * SQ_NS_PER_MS;
    t->dead_ns = (uint64_t)(cfg->dead_ms ? cfg->dead_ms : 5000) * SQ_NS_PER_MS;
    t->handshake_ns = (uint64_t)(cfg->handshake_ms ? cfg->handshake_ms : 5000) * SQ_NS_PER_MS;
    t->retry_min_ms = cfg->retry_min_ms ? cfg->retry_min_ms : 20;
    t->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : 1000;
    if (t->retry_max_ms < t->retry_min_ms) {
        t->retry_max_ms = t->retry_min_ms;
    }
    t->sendq_bytes_max = cfg->sendq_bytes_max ? cfg->sendq_bytes_max : SQ_NET_SENDQ_BYTES_MAX;
    for (size_t i = 0; i < t->validator_count; i++) {
        struct peer *p = &t->peers[i];
        p->t = t;
        p->id = t->validators[i].id;
        sq_timer_init(&p->retry_timer, retry_timer_fn, p);
        sq_timer_init(&p->ka_timer, ka_timer_fn, p);
        p->retry_ms = t->retry_min_ms;
    }
    sq_timer_init(&t->flush_timer, flush_timer_fn, t);
    sq_timer_init(&t->resume_timer, resume_timer_fn, t);

    int rc;
    int fd = cfg->listen_fd;
    if (fd >= 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
            rc = SQ_EINVAL;
            goto err_free;
        }
    } else {
        const struct net_validator *self =
            net_validator_find(t->validators, t->validator_count, cfg->self_id);
        rc = listen_open(self, &fd);
        if (rc != SQ_OK) {
            goto err_free;
        }
    }
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0 || sa.sin_family != AF_INET) {
        SQ_ERROR("net", "listening socket is not IPv4", "errno=%d", errno);
        rc = SQ_EINVAL;
        goto err_close;
    }
    t->port = ntohs(sa.sin_port);
    rc = sq_loop_fd_add(t->loop, fd, SQ_LOOP_IN, accept_io, t);
    if (rc != SQ_OK) {
        goto err_close;
    }
    t->listen_fd = fd;
    *out = &t->base;
    return SQ_OK;

err_close:
    if (cfg->listen_fd < 0) {
        close(fd);
    }
err_free:
    free(t);
    return rc;
}
