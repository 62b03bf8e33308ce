/* The RDMA verbs transport (rdma-core: librdmacm + libibverbs). See net.h and docs/transport.md.
 *
 * One RC queue pair per peer, set up through the RDMA connection manager (the lower id connects),
 * all sharing one protection domain, one completion queue and one completion channel whose fd the
 * event loop watches. After a burst of completions the CQ is polled for `spin_us` more before the
 * loop goes back to epoll (spin briefly, then block).
 *
 *  - net_region_write: RDMA WRITE WITH IMM from the registered local region to the same offset of
 *    the peer's region (address and rkey from the peer's announcement). The immediate tells the
 *    target which region changed (write_arrived) and costs it one receive WR, no data copy.
 *  - net_msg_send: the bytes are copied into a registered bounce buffer and sent with
 *    SEND_WITH_IMM into the peer's receive bounce buffers; the receiver copies each into the
 *    oldest buffer the caller posted, or holds it (its receive WR not re-posted) until one is.
 *    When every receive WR of a connection is held, the sender's RNR retries stall that
 *    connection, as a full TCP window does.
 *  - control messages (the authentication handshake of net_int.h and region announcements with
 *    address and rkey) are plain SENDs without immediate, before any protocol operation.
 * Every work request is signaled so bounce buffers and send-queue slots are reclaimed in order;
 * the caller sees completions only for NET_OP_SIGNALED operations.
 *
 * Limits: VERBS_RECVS receive and VERBS_SENDS send bounce buffers of VERBS_MSG_BYTES per peer.
 * Unlike TCP, a WRITE lands in the target's memory without the target's CPU: it cannot be checked
 * against the target's current tag on arrival, only against the tag the target announced; so a
 * region must stay registered while peers may still write to it (the SST keeps its table until
 * the next view is installed everywhere). Aligned 8-byte stores are not torn on the PCIe/x86
 * platforms Derecho supports (cache-line atomicity, PROTOCOL.md §1.2). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "net/net_int.h"

#define VERBS_MSG_BYTES (NET_SEND_BYTES_MAX + NET_FRAME_HDR_BYTES_MAX)
#define VERBS_RECVS 8
#define VERBS_SENDS 8
#define VERBS_SENDS_CONTROL 2 /* bounce buffers user sends may not take */
#define VERBS_SQ_DEPTH 256
#define VERBS_CONNS_MAX (NET_PEERS_MAX + 8)
#define VERBS_CQ_DEPTH (VERBS_CONNS_MAX * (VERBS_SQ_DEPTH + VERBS_RECVS))
#define VERBS_WC_BATCH 32
#define VERBS_WRITE_IMM_BIT 0x80000000u
#define VERBS_FR_REGION                                                                            \
    0x40 /* control: u8 type, u8 region, u64 tag, u64 size, u64 addr, u32 rkey */
#define VERBS_CM_TIMEOUT_MS 2000
#define WR_RECV_BIT (UINT64_C(1) << 31)

enum vconn_state {
    VC_FREE = 0,
    VC_RESOLVING,
    VC_CONNECTING,
    VC_HANDSHAKE,
    VC_UP,
};

struct verbs_net;

struct vop {
    uint64_t user_wr_id;
    bool user_signaled;
    int bounce; /* send bounce buffer to free, or -1 */
};

struct vconn {
    struct verbs_net *v;
    uint32_t slot;
    uint32_t gen;
    enum vconn_state state;
    bool initiator;
    int peer_index; /* -1 until known */
    struct rdma_cm_id *id;
    struct net_hs hs;
    struct sq_timer hs_timer;
    uint8_t *recv_buf;
    struct ibv_mr *recv_mr;
    uint8_t *send_buf;
    struct ibv_mr *send_mr;
    uint32_t send_free[VERBS_SENDS];
    uint32_t send_free_count;
    struct vop ops[VERBS_SQ_DEPTH];
    uint32_t op_head;
    uint32_t op_count;
    /* user SENDs waiting for a posted buffer: receive buffer index, length, immediate */
    uint32_t held_idx[VERBS_RECVS];
    uint32_t held_len[VERBS_RECVS];
    uint32_t held_imm[VERBS_RECVS];
    uint32_t held_head;
    uint32_t held_count;
};

struct vremote {
    uint64_t tag;
    uint64_t size; /* 0: not announced */
    uint64_t addr;
    uint32_t rkey;
};

struct vposted {
    void *buf;
    size_t cap;
    uint64_t wr_id;
};

struct vpeer {
    struct verbs_net *v;
    uint32_t id;
    bool added;
    enum net_peer_state state;
    struct vconn *conn;
    struct sq_timer retry_timer;
    uint32_t retry_ms;
    struct vremote regions[SQ_NET_REGIONS_MAX];
    struct vposted recvs[NET_RECVS_MAX];
    uint32_t recv_head;
    uint32_t recv_count;
};

struct vregion {
    uint8_t *base;
    size_t size;
    uint64_t tag;
    struct ibv_mr *mr;
};

struct verbs_net {
    struct net base;
    struct sq_loop *loop;
    uint8_t chain_id[SQ_CHAIN_ID_BYTES_MAX];
    size_t chain_id_size;
    const struct sqc_keypair *key;
    struct net_validator validators[NET_PEERS_MAX];
    size_t validator_count;
    struct vpeer peers[NET_PEERS_MAX];
    struct vconn conns[VERBS_CONNS_MAX];
    struct vregion regions[SQ_NET_REGIONS_MAX];
    struct rdma_event_channel *ec;
    struct rdma_cm_id *listen_id;
    struct ibv_context *ctx;
    struct ibv_pd *pd;
    struct ibv_comp_channel *cc;
    struct ibv_cq *cq;
    uint64_t spin_ns;
    uint64_t handshake_ns;
    uint32_t retry_min_ms;
    uint32_t retry_max_ms;
    struct sq_timer resume_timer;
};

static const struct net_ops verbs_ops;

static struct verbs_net *verbs_of(struct net *net)
{
    SQ_ASSERT(net->ops == &verbs_ops);
    return (struct verbs_net *)(void *)net;
}

static int peer_index(const struct verbs_net *v, uint32_t id)
{
    for (size_t i = 0; i < v->validator_count; i++) {
        if (v->validators[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

static uint64_t wr_make(const struct vconn *c, bool recv, uint32_t index)
{
    return ((uint64_t)c->slot << 48) | ((uint64_t)(c->gen & 0xffffu) << 32) |
           (recv ? WR_RECV_BIT : 0) | index;
}

static void conn_fail(struct vconn *c, int reason, const char *why);
static void dial(struct verbs_net *v, struct vpeer *p);
static void start_handshake(struct vconn *c);

/* ---- connection resources ---- */

static void conn_release(struct vconn *c)
{
    struct verbs_net *v = c->v;
    sq_loop_timer_stop(v->loop, &c->hs_timer);
    if (c->peer_index >= 0 && v->peers[c->peer_index].conn == c) {
        v->peers[c->peer_index].conn = NULL;
    }
    if (c->id != NULL) {
        if (c->state >= VC_HANDSHAKE) {
            (void)rdma_disconnect(c->id);
        }
        if (c->id->qp != NULL) {
            rdma_destroy_qp(c->id);
        }
        rdma_destroy_id(c->id);
    }
    if (c->recv_mr != NULL) {
        ibv_dereg_mr(c->recv_mr);
    }
    if (c->send_mr != NULL) {
        ibv_dereg_mr(c->send_mr);
    }
    free(c->recv_buf);
    free(c->send_buf);
    uint32_t gen = c->gen + 1; /* completions still queued for this slot are recognised */
    uint32_t slot = c->slot;
    memset(c, 0, sizeof(*c));
    c->v = v;
    c->slot = slot;
    c->gen = gen;
    c->state = VC_FREE;
    c->peer_index = -1;
}

static void hs_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    conn_fail(arg, SQ_ETIMEDOUT, "handshake timed out");
}

static struct vconn *conn_alloc(struct verbs_net *v, bool initiator)
{
    for (uint32_t i = 0; i < VERBS_CONNS_MAX; i++) {
        struct vconn *c = &v->conns[i];
        if (c->state == VC_FREE && c->id == NULL) {
            c->initiator = initiator;
            c->peer_index = -1;
            sq_timer_init(&c->hs_timer, hs_timer_fn, c);
            c->state = VC_RESOLVING;
            return c;
        }
    }
    return NULL;
}

static int post_recv(struct vconn *c, uint32_t index)
{
    struct ibv_sge sge = {.addr = (uintptr_t)(c->recv_buf + (size_t)index * VERBS_MSG_BYTES),
                          .length = VERBS_MSG_BYTES,
                          .lkey = c->recv_mr->lkey};
    struct ibv_recv_wr wr = {.wr_id = wr_make(c, true, index), .sg_list = &sge, .num_sge = 1};
    struct ibv_recv_wr *bad = NULL;
    return ibv_post_recv(c->id->qp, &wr, &bad) == 0 ? SQ_OK : SQ_EIO;
}

/* Creates the QP and bounce buffers on c->id and posts every receive. */
static int conn_setup(struct vconn *c)
{
    struct verbs_net *v = c->v;
    if (c->id->verbs != v->ctx) {
        SQ_WARN("net", "verbs peer reached through another RDMA device", "slot=%u", c->slot);
        return SQ_EUNSUPPORTED;
    }
    size_t bytes = (size_t)VERBS_RECVS * VERBS_MSG_BYTES;
    c->recv_buf = aligned_alloc(4096, bytes);
    c->send_buf = aligned_alloc(4096, (size_t)VERBS_SENDS * VERBS_MSG_BYTES);
    if (c->recv_buf == NULL || c->send_buf == NULL) {
        return SQ_ENOMEM;
    }
    c->recv_mr = ibv_reg_mr(v->pd, c->recv_buf, bytes, IBV_ACCESS_LOCAL_WRITE);
    c->send_mr = ibv_reg_mr(v->pd, c->send_buf, (size_t)VERBS_SENDS * VERBS_MSG_BYTES, 0);
    if (c->recv_mr == NULL || c->send_mr == NULL) {
        SQ_ERROR("net", "ibv_reg_mr failed", "errno=%d", errno);
        return SQ_EIO;
    }
    for (uint32_t i = 0; i < VERBS_SENDS; i++) {
        c->send_free[i] = VERBS_SENDS - 1 - i;
    }
    c->send_free_count = VERBS_SENDS;
    struct ibv_qp_init_attr attr = {
        .send_cq = v->cq,
        .recv_cq = v->cq,
        .cap = {.max_send_wr = VERBS_SQ_DEPTH,
                .max_recv_wr = VERBS_RECVS,
                .max_send_sge = 1,
                .max_recv_sge = 1},
        .qp_type = IBV_QPT_RC,
        .sq_sig_all = 0,
    };
    if (rdma_create_qp(c->id, v->pd, &attr) != 0) {
        SQ_ERROR("net", "rdma_create_qp failed", "errno=%d", errno);
        return SQ_EIO;
    }
    for (uint32_t i = 0; i < VERBS_RECVS; i++) {
        if (post_recv(c, i) != SQ_OK) {
            return SQ_EIO;
        }
    }
    return SQ_OK;
}

/* ---- posting ---- */

static int post_send(struct vconn *c, struct ibv_send_wr *wr, const struct vop *op)
{
    if (c->op_count == VERBS_SQ_DEPTH) {
        return SQ_EFULL;
    }
    wr->wr_id = wr_make(c, false, 0);
    wr->send_flags |= IBV_SEND_SIGNALED;
    struct ibv_send_wr *bad = NULL;
    if (ibv_post_send(c->id->qp, wr, &bad) != 0) {
        return errno == ENOMEM ? SQ_EFULL : SQ_EIO;
    }
    c->ops[(c->op_head + c->op_count) % VERBS_SQ_DEPTH] = *op;
    c->op_count++;
    return SQ_OK;
}

/* Copies `size` bytes into a bounce buffer and sends them (with `imm` when has_imm). */
static int send_copy(struct vconn *c, const void *a, size_t a_size, const void *b, size_t b_size,
                     bool has_imm, uint32_t imm, bool user, uint64_t user_wr, bool signaled)
{
    uint32_t reserve = user ? VERBS_SENDS_CONTROL : 0;
    if (c->send_free_count <= reserve || c->op_count == VERBS_SQ_DEPTH) {
        return SQ_EFULL;
    }
    SQ_ASSERT(a_size + b_size <= VERBS_MSG_BYTES);
    uint32_t idx = c->send_free[--c->send_free_count];
    uint8_t *buf = c->send_buf + (size_t)idx * VERBS_MSG_BYTES;
    if (a_size > 0) {
        memcpy(buf, a, a_size);
    }
    if (b_size > 0) {
        memcpy(buf + a_size, b, b_size);
    }
    struct ibv_sge sge = {
        .addr = (uintptr_t)buf, .length = (uint32_t)(a_size + b_size), .lkey = c->send_mr->lkey};
    struct ibv_send_wr wr = {
        .sg_list = &sge, .num_sge = 1, .opcode = has_imm ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND};
    if (has_imm) {
        wr.imm_data = htonl(imm);
    }
    struct vop op = {.user_wr_id = user_wr, .user_signaled = signaled, .bounce = (int)idx};
    int rc = post_send(c, &wr, &op);
    if (rc != SQ_OK) {
        c->send_free[c->send_free_count++] = idx;
    }
    return rc;
}

static int send_control(struct vconn *c, const uint8_t *frame, size_t size)
{
    return send_copy(c, frame, size, NULL, 0, false, 0, false, 0, false);
}

static int announce_region(struct vconn *c, uint32_t r)
{
    const struct vregion *reg = &c->v->regions[r];
    uint8_t buf[64];
    struct sq_enc e;
    sq_enc_init(&e, buf, sizeof(buf));
    sq_enc_u8(&e, VERBS_FR_REGION);
    sq_enc_u8(&e, (uint8_t)r);
    sq_enc_u64(&e, reg->tag);
    sq_enc_u64(&e, reg->mr != NULL ? reg->size : 0);
    sq_enc_u64(&e, (uint64_t)(uintptr_t)reg->base);
    sq_enc_u32(&e, reg->mr != NULL ? reg->mr->rkey : 0);
    SQ_ASSERT(sq_enc_status(&e) == SQ_OK);
    return send_control(c, buf, sq_enc_len(&e));
}

/* ---- peers ---- */

static void peer_reset(struct verbs_net *v, struct vpeer *p)
{
    sq_loop_timer_stop(v->loop, &p->retry_timer);
    memset(p->regions, 0, sizeof(p->regions));
    p->recv_head = 0;
    p->recv_count = 0;
    p->retry_ms = v->retry_min_ms;
}

static void peer_fail(struct verbs_net *v, struct vpeer *p, int reason, const char *why)
{
    SQ_WARN("net", "peer failed", "peer=%u transport=verbs reason=\"%s\" err=%s", p->id, why,
            sq_errname(reason));
    struct vconn *c = p->conn;
    uint64_t sig[VERBS_SQ_DEPTH];
    uint32_t sig_n = 0;
    if (c != NULL) {
        for (uint32_t i = 0; i < c->op_count; i++) {
            const struct vop *op = &c->ops[(c->op_head + i) % VERBS_SQ_DEPTH];
            if (op->user_signaled) {
                sig[sig_n++] = op->user_wr_id;
            }
        }
        conn_release(c);
    }
    struct vposted recvs[NET_RECVS_MAX];
    uint32_t recv_n = p->recv_count;
    for (uint32_t i = 0; i < recv_n; i++) {
        recvs[i] = p->recvs[(p->recv_head + i) % NET_RECVS_MAX];
    }
    p->state = NET_PEER_FAILED;
    p->conn = NULL;
    peer_reset(v, p);
    const struct net_handler *h = &v->base.handler;
    for (uint32_t i = 0; i < sig_n && h->completion != NULL; i++) {
        h->completion(h->arg, p->id, sig[i], SQ_EPEER);
    }
    for (uint32_t i = 0; i < recv_n && h->recv_done != NULL; i++) {
        h->recv_done(h->arg, p->id, recvs[i].wr_id, SQ_EPEER, 0, 0);
    }
    if (h->peer_failed != NULL) {
        h->peer_failed(h->arg, p->id, reason);
    }
}

static void conn_fail(struct vconn *c, int reason, const char *why)
{
    struct verbs_net *v = c->v;
    int idx = c->peer_index;
    if (c->state == VC_UP && idx >= 0 && v->peers[idx].conn == c) {
        peer_fail(v, &v->peers[idx], reason, why);
        return;
    }
    bool initiator = c->initiator;
    if (reason == SQ_EAUTH) {
        SQ_WARN("net", "peer refused", "peer_index=%d transport=verbs reason=\"%s\"", idx, why);
    } else {
        SQ_DEBUG("net", "verbs connection attempt failed", "peer_index=%d reason=\"%s\"", idx, why);
    }
    conn_release(c);
    if (idx < 0 || !initiator) {
        return;
    }
    struct vpeer *p = &v->peers[idx];
    if (!p->added || p->state != NET_PEER_CONNECTING) {
        return;
    }
    if (reason == SQ_EAUTH) {
        p->state = NET_PEER_FAILED;
        if (v->base.handler.peer_failed != NULL) {
            v->base.handler.peer_failed(v->base.handler.arg, p->id, SQ_EAUTH);
        }
        return;
    }
    (void)sq_loop_timer_start(v->loop, &p->retry_timer, (uint64_t)p->retry_ms * SQ_NS_PER_MS);
    p->retry_ms = p->retry_ms * 2 > v->retry_max_ms ? v->retry_max_ms : p->retry_ms * 2;
}

static void conn_up(struct vconn *c)
{
    struct verbs_net *v = c->v;
    struct vpeer *p = &v->peers[c->peer_index];
    sq_loop_timer_stop(v->loop, &c->hs_timer);
    c->state = VC_UP;
    p->state = NET_PEER_UP;
    p->retry_ms = v->retry_min_ms;
    SQ_INFO("net", "peer up", "peer=%u transport=verbs initiator=%d", p->id, (int)c->initiator);
    for (uint32_t r = 0; r < SQ_NET_REGIONS_MAX; r++) {
        if (v->regions[r].mr != NULL) {
            (void)announce_region(c, r);
        }
    }
    if (v->base.handler.peer_up != NULL) {
        v->base.handler.peer_up(v->base.handler.arg, p->id);
    }
}

/* ---- receiving ---- */

/* A control message during the handshake: a net frame as on TCP. */
static void on_handshake_msg(struct vconn *c, const uint8_t *data, uint32_t len)
{
    struct verbs_net *v = c->v;
    struct net_frame f;
    size_t used = 0;
    int rc = net_frame_parse(data, len, NET_HS_BODY_BYTES_MAX, &f, &used);
    if (rc != SQ_OK || used != len) {
        conn_fail(c, SQ_ECORRUPT, "malformed handshake message");
        return;
    }
    uint8_t out[128];
    size_t out_size = 0;
    rc = net_hs_on_frame(&c->hs, &f, out, sizeof(out), &out_size);
    if (rc != SQ_OK) {
        conn_fail(c, rc, c->hs.reason);
        return;
    }
    if (c->peer_index < 0 && (c->hs.state == NET_HS_WAIT_AUTH || net_hs_is_done(&c->hs))) {
        /* Refuse early what could never be admitted; bind only once proven (as TCP). */
        int idx = peer_index(v, c->hs.peer_id);
        SQ_ASSERT(idx >= 0);
        struct vpeer *p = &v->peers[idx];
        const char *refuse = !p->added                     ? "validator not expected (not added)"
                             : p->state == NET_PEER_FAILED ? "validator already failed"
                             : p->conn != NULL             ? "validator already connected"
                                                           : NULL;
        if (refuse != NULL) {
            SQ_WARN("net", "peer refused", "peer=%u transport=verbs reason=\"%s\"", p->id, refuse);
            conn_release(c);
            return;
        }
        if (net_hs_is_done(&c->hs)) {
            c->peer_index = idx;
            p->conn = c;
        }
    }
    if (out_size > 0 && send_control(c, out, out_size) != SQ_OK) {
        conn_fail(c, SQ_EIO, "cannot send handshake message");
        return;
    }
    if (net_hs_is_done(&c->hs)) {
        conn_up(c);
    }
}

static void on_region_msg(struct vconn *c, const uint8_t *data, uint32_t len)
{
    struct sq_dec d;
    sq_dec_init(&d, data, len);
    uint8_t type = 0, region = 0;
    uint64_t tag = 0, size = 0, addr = 0;
    uint32_t rkey = 0;
    sq_dec_u8(&d, &type);
    sq_dec_u8(&d, &region);
    sq_dec_u64(&d, &tag);
    sq_dec_u64(&d, &size);
    sq_dec_u64(&d, &addr);
    sq_dec_u32(&d, &rkey);
    if (sq_dec_finish(&d) != SQ_OK || type != VERBS_FR_REGION || region >= SQ_NET_REGIONS_MAX) {
        conn_fail(c, SQ_ECORRUPT, "malformed control message");
        return;
    }
    struct vremote *r = &c->v->peers[c->peer_index].regions[region];
    r->tag = tag;
    r->size = size;
    r->addr = addr;
    r->rkey = rkey;
}

/* Hands held SENDs to posted buffers, in order. */
static void deliver_held(struct vconn *c)
{
    struct verbs_net *v = c->v;
    struct vpeer *p = &v->peers[c->peer_index];
    uint32_t gen = c->gen;
    while (c->held_count > 0 && p->recv_count > 0) {
        uint32_t idx = c->held_idx[c->held_head];
        uint32_t len = c->held_len[c->held_head];
        uint32_t imm = c->held_imm[c->held_head];
        struct vposted b = p->recvs[p->recv_head];
        if (len > b.cap) {
            conn_fail(c, SQ_ETOOBIG, "send longer than the posted buffer");
            return;
        }
        c->held_head = (c->held_head + 1) % VERBS_RECVS;
        c->held_count--;
        p->recv_head = (p->recv_head + 1) % NET_RECVS_MAX;
        p->recv_count--;
        memcpy(b.buf, c->recv_buf + (size_t)idx * VERBS_MSG_BYTES, len);
        if (post_recv(c, idx) != SQ_OK) {
            conn_fail(c, SQ_EIO, "cannot re-post a receive");
            return;
        }
        if (v->base.handler.recv_done != NULL) {
            v->base.handler.recv_done(v->base.handler.arg, p->id, b.wr_id, SQ_OK, imm, len);
        }
        if (c->gen != gen || c->state != VC_UP) {
            return; /* the handler removed the peer */
        }
    }
}

static void on_recv(struct vconn *c, const struct ibv_wc *wc, uint32_t idx)
{
    struct verbs_net *v = c->v;
    const uint8_t *data = c->recv_buf + (size_t)idx * VERBS_MSG_BYTES;
    if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
        uint32_t imm = ntohl(wc->imm_data);
        if (c->state != VC_UP || (imm & VERBS_WRITE_IMM_BIT) == 0) {
            conn_fail(c, SQ_ECORRUPT, "unexpected write notification");
            return;
        }
        uint32_t gen = c->gen;
        uint32_t peer = v->peers[c->peer_index].id;
        if (post_recv(c, idx) != SQ_OK) {
            conn_fail(c, SQ_EIO, "cannot re-post a receive");
            return;
        }
        if (v->base.handler.write_arrived != NULL) {
            v->base.handler.write_arrived(v->base.handler.arg, peer, imm & ~VERBS_WRITE_IMM_BIT);
        }
        (void)gen;
        return;
    }
    if (wc->opcode != IBV_WC_RECV) {
        conn_fail(c, SQ_ECORRUPT, "unexpected receive completion");
        return;
    }
    if (wc->wc_flags & IBV_WC_WITH_IMM) {
        if (c->state != VC_UP) {
            conn_fail(c, SQ_ECORRUPT, "protocol message before authentication");
            return;
        }
        SQ_ASSERT(c->held_count < VERBS_RECVS);
        uint32_t at = (c->held_head + c->held_count) % VERBS_RECVS;
        c->held_idx[at] = idx;
        c->held_len[at] = wc->byte_len;
        c->held_imm[at] = ntohl(wc->imm_data);
        c->held_count++;
        deliver_held(c);
        return;
    }
    /* A control message. The passive side may see the peer's first message before its own
     * ESTABLISHED event: the connection is usable, so start the handshake now. */
    if (c->state == VC_CONNECTING) {
        uint32_t gen = c->gen;
        start_handshake(c);
        if (c->gen != gen || c->state != VC_HANDSHAKE) {
            return;
        }
    }
    if (c->state == VC_HANDSHAKE) {
        uint32_t gen = c->gen;
        on_handshake_msg(c, data, wc->byte_len);
        if (c->gen == gen && c->state != VC_FREE && post_recv(c, idx) != SQ_OK) {
            conn_fail(c, SQ_EIO, "cannot re-post a receive");
        }
        return;
    }
    if (c->state == VC_UP) {
        uint32_t gen = c->gen;
        on_region_msg(c, data, wc->byte_len);
        if (c->gen == gen && post_recv(c, idx) != SQ_OK) {
            conn_fail(c, SQ_EIO, "cannot re-post a receive");
        }
        return;
    }
    conn_fail(c, SQ_ECORRUPT, "message before the connection was established");
}

static void on_send_done(struct vconn *c)
{
    SQ_ASSERT(c->op_count > 0);
    struct vop op = c->ops[c->op_head];
    c->op_head = (c->op_head + 1) % VERBS_SQ_DEPTH;
    c->op_count--;
    if (op.bounce >= 0) {
        c->send_free[c->send_free_count++] = (uint32_t)op.bounce;
    }
    if (op.user_signaled && c->state == VC_UP) {
        struct verbs_net *v = c->v;
        if (v->base.handler.completion != NULL) {
            v->base.handler.completion(v->base.handler.arg, v->peers[c->peer_index].id,
                                       op.user_wr_id, SQ_OK);
        }
    }
}

static void on_wc(struct verbs_net *v, const struct ibv_wc *wc)
{
    uint32_t slot = (uint32_t)(wc->wr_id >> 48);
    uint32_t gen = (uint32_t)(wc->wr_id >> 32) & 0xffffu;
    if (slot >= VERBS_CONNS_MAX) {
        return;
    }
    struct vconn *c = &v->conns[slot];
    if (c->state == VC_FREE || (c->gen & 0xffffu) != gen) {
        return; /* a connection released since (flushed work requests) */
    }
    if (wc->status != IBV_WC_SUCCESS) {
        conn_fail(c, SQ_EPEER, ibv_wc_status_str(wc->status));
        return;
    }
    if (wc->wr_id & WR_RECV_BIT) {
        on_recv(c, wc, (uint32_t)(wc->wr_id & (WR_RECV_BIT - 1)));
    } else {
        on_send_done(c);
    }
}

static int poll_cq(struct verbs_net *v)
{
    struct ibv_wc wc[VERBS_WC_BATCH];
    int total = 0;
    for (;;) {
        int n = ibv_poll_cq(v->cq, VERBS_WC_BATCH, wc);
        if (n <= 0) {
            return total;
        }
        for (int i = 0; i < n; i++) {
            on_wc(v, &wc[i]);
        }
        total += n;
    }
}

/* Completion channel readable: drain, spin briefly for more, re-arm, then back to epoll. */
static void cq_io(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)fd;
    (void)events;
    struct verbs_net *v = arg;
    struct ibv_cq *cq = NULL;
    void *ctx = NULL;
    if (ibv_get_cq_event(v->cc, &cq, &ctx) == 0) {
        ibv_ack_cq_events(cq, 1);
    }
    uint64_t until = sq_loop_now(loop) + v->spin_ns;
    for (;;) {
        if (poll_cq(v) > 0) {
            until = sq_loop_now(loop) + v->spin_ns;
            continue;
        }
        if (sq_loop_now(loop) >= until) {
            break;
        }
    }
    /* Re-arm, then poll once more: a completion that slipped in before re-arming raises no
     * event. */
    (void)ibv_req_notify_cq(v->cq, 0);
    (void)poll_cq(v);
}

/* ---- connection manager events ---- */

/* Sets up an accepted connection. On failure returns what the caller must release after it has
 * acknowledged the event (rdma_destroy_id waits for every event of the id to be acknowledged):
 * *orphan (an id without a connection) or the returned connection. */
static struct vconn *on_connect_request(struct verbs_net *v, struct rdma_cm_id *id,
                                        struct rdma_cm_id **orphan)
{
    *orphan = NULL;
    struct vconn *c = conn_alloc(v, false);
    if (c == NULL) {
        SQ_WARN("net", "connection refused", "transport=verbs reason=\"too many connections\"");
        (void)rdma_reject(id, NULL, 0);
        *orphan = id;
        return NULL;
    }
    c->id = id;
    id->context = c;
    struct rdma_conn_param param = {
        .responder_resources = 1, .initiator_depth = 1, .rnr_retry_count = 7};
    if (conn_setup(c) != SQ_OK || rdma_accept(id, &param) != 0) {
        (void)rdma_reject(id, NULL, 0);
        return c;
    }
    c->state = VC_CONNECTING;
    return NULL;
}

static void start_handshake(struct vconn *c)
{
    struct verbs_net *v = c->v;
    c->state = VC_HANDSHAKE;
    uint32_t expect = c->initiator ? v->peers[c->peer_index].id : 0;
    net_hs_init(&c->hs, c->initiator, v->base.self_id, expect, v->chain_id, v->chain_id_size,
                v->key, v->validators, v->validator_count);
    uint8_t hello[NET_HS_BODY_BYTES_MAX + NET_FRAME_LEN_BYTES];
    size_t n = net_hs_hello(&c->hs, hello, sizeof(hello));
    (void)sq_loop_timer_start(v->loop, &c->hs_timer, v->handshake_ns);
    if (send_control(c, hello, n) != SQ_OK) {
        conn_fail(c, SQ_EIO, "cannot send hello");
    }
}

static void cm_io(struct sq_loop *loop, int fd, uint32_t events, void *arg)
{
    (void)loop;
    (void)fd;
    (void)events;
    struct verbs_net *v = arg;
    for (int budget = 0; budget < 64; budget++) {
        struct rdma_cm_event *ev = NULL;
        if (rdma_get_cm_event(v->ec, &ev) != 0) {
            return; /* EAGAIN: the channel is non-blocking */
        }
        enum rdma_cm_event_type type = ev->event;
        struct rdma_cm_id *id = ev->id;
        int status = ev->status;
        if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
            /* Set up (or reject) the new id, acknowledge, and only then destroy a rejected one. */
            struct rdma_cm_id *orphan = NULL;
            struct vconn *dead = on_connect_request(v, id, &orphan);
            rdma_ack_cm_event(ev);
            if (dead != NULL) {
                conn_release(dead);
            }
            if (orphan != NULL) {
                rdma_destroy_id(orphan);
            }
            continue;
        }
        rdma_ack_cm_event(ev);
        struct vconn *c = id != NULL ? id->context : NULL;
        if (c == NULL || c->state == VC_FREE) {
            continue;
        }
        switch (type) {
        case RDMA_CM_EVENT_ADDR_RESOLVED:
            if (rdma_resolve_route(id, VERBS_CM_TIMEOUT_MS) != 0) {
                conn_fail(c, SQ_EPEER, "rdma_resolve_route failed");
            }
            break;
        case RDMA_CM_EVENT_ROUTE_RESOLVED: {
            struct rdma_conn_param param = {.responder_resources = 1,
                                            .initiator_depth = 1,
                                            .retry_count = 7,
                                            .rnr_retry_count = 7};
            if (conn_setup(c) != SQ_OK || rdma_connect(id, &param) != 0) {
                conn_fail(c, SQ_EPEER, "cannot connect the queue pair");
            } else {
                c->state = VC_CONNECTING;
            }
            break;
        }
        case RDMA_CM_EVENT_ESTABLISHED:
            if (c->state == VC_CONNECTING) {
                start_handshake(c);
            }
            break;
        case RDMA_CM_EVENT_DISCONNECTED:
            conn_fail(c, SQ_ECLOSED, "disconnected by peer");
            break;
        case RDMA_CM_EVENT_ADDR_ERROR:
        case RDMA_CM_EVENT_ROUTE_ERROR:
        case RDMA_CM_EVENT_CONNECT_ERROR:
        case RDMA_CM_EVENT_UNREACHABLE:
        case RDMA_CM_EVENT_REJECTED:
            (void)status;
            conn_fail(c, SQ_EPEER, rdma_event_str(type));
            break;
        default:
            break;
        }
    }
}

/* ---- dialling ---- */

static void retry_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct vpeer *p = arg;
    if (p->added && p->state == NET_PEER_CONNECTING && p->conn == NULL) {
        dial(p->v, p);
    }
}

static void dial(struct verbs_net *v, struct vpeer *p)
{
    int idx = (int)(p - v->peers);
    const struct net_validator *val = &v->validators[idx];
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(val->port)};
    struct vconn *c = NULL;
    if (inet_pton(AF_INET, val->host, &sa.sin_addr) != 1) {
        SQ_ERROR("net", "bad peer address", "peer=%u host=%s", val->id, val->host);
        goto retry;
    }
    c = conn_alloc(v, true);
    if (c == NULL) {
        goto retry;
    }
    c->peer_index = idx;
    if (rdma_create_id(v->ec, &c->id, c, RDMA_PS_TCP) != 0) {
        c->id = NULL;
        conn_release(c);
        goto retry;
    }
    if (rdma_resolve_addr(c->id, NULL, (struct sockaddr *)&sa, VERBS_CM_TIMEOUT_MS) != 0) {
        conn_release(c);
        goto retry;
    }
    p->conn = c;
    return;
retry:
    (void)sq_loop_timer_start(v->loop, &p->retry_timer, (uint64_t)p->retry_ms * SQ_NS_PER_MS);
    p->retry_ms = p->retry_ms * 2 > v->retry_max_ms ? v->retry_max_ms : p->retry_ms * 2;
}

static void resume_timer_fn(struct sq_loop *loop, struct sq_timer *timer, void *arg)
{
    (void)loop;
    (void)timer;
    struct verbs_net *v = arg;
    for (size_t i = 0; i < v->validator_count; i++) {
        struct vconn *c = v->peers[i].conn;
        if (c != NULL && c->state == VC_UP && c->held_count > 0) {
            deliver_held(c);
        }
    }
}

/* ---- the function table ---- */

static struct vpeer *find_peer(struct verbs_net *v, uint32_t id)
{
    int idx = peer_index(v, id);
    return idx < 0 ? NULL : &v->peers[idx];
}

static void verbs_destroy(struct net *net)
{
    struct verbs_net *v = verbs_of(net);
    for (size_t i = 0; i < v->validator_count; i++) {
        sq_loop_timer_stop(v->loop, &v->peers[i].retry_timer);
    }
    for (uint32_t i = 0; i < VERBS_CONNS_MAX; i++) {
        if (v->conns[i].state != VC_FREE || v->conns[i].id != NULL) {
            conn_release(&v->conns[i]);
        }
    }
    sq_loop_timer_stop(v->loop, &v->resume_timer);
    for (uint32_t r = 0; r < SQ_NET_REGIONS_MAX; r++) {
        if (v->regions[r].mr != NULL) {
            ibv_dereg_mr(v->regions[r].mr);
        }
    }
    if (v->listen_id != NULL) {
        rdma_destroy_id(v->listen_id);
    }
    if (v->ec != NULL) {
        sq_loop_fd_remove(v->loop, v->ec->fd);
        rdma_destroy_event_channel(v->ec);
    }
    if (v->cq != NULL) {
        ibv_destroy_cq(v->cq);
    }
    if (v->cc != NULL) {
        sq_loop_fd_remove(v->loop, v->cc->fd);
        ibv_destroy_comp_channel(v->cc);
    }
    if (v->pd != NULL) {
        ibv_dealloc_pd(v->pd);
    }
    free(v);
}

static int verbs_peer_add(struct net *net, uint32_t id)
{
    struct verbs_net *v = verbs_of(net);
    if (id == v->base.self_id) {
        return SQ_EINVAL;
    }
    struct vpeer *p = find_peer(v, id);
    if (p == NULL) {
        return SQ_ENOTFOUND;
    }
    if (p->added) {
        return SQ_EEXIST;
    }
    p->added = true;
    p->state = NET_PEER_CONNECTING;
    peer_reset(v, p);
    if (v->base.self_id < id) {
        dial(v, p);
    }
    return SQ_OK;
}

static void verbs_peer_remove(struct net *net, uint32_t id)
{
    struct verbs_net *v = verbs_of(net);
    struct vpeer *p = find_peer(v, id);
    if (p == NULL || !p->added) {
        return;
    }
    if (p->conn != NULL) {
        conn_release(p->conn);
    }
    p->conn = NULL;
    peer_reset(v, p);
    p->added = false;
    p->state = NET_PEER_NONE;
}

static enum net_peer_state verbs_peer_state(struct net *net, uint32_t id)
{
    struct vpeer *p = find_peer(verbs_of(net), id);
    return p == NULL ? NET_PEER_NONE : p->state;
}

static void announce_all(struct verbs_net *v, uint32_t region)
{
    for (size_t i = 0; i < v->validator_count; i++) {
        struct vconn *c = v->peers[i].conn;
        if (v->peers[i].state == NET_PEER_UP && c != NULL && announce_region(c, region) != SQ_OK) {
            conn_fail(c, SQ_EIO, "cannot announce a region");
        }
    }
}

static int verbs_region_register(struct net *net, uint32_t region, uint64_t tag, void *base,
                                 size_t size)
{
    struct verbs_net *v = verbs_of(net);
    if (region >= SQ_NET_REGIONS_MAX || base == NULL || size == 0) {
        return SQ_EINVAL;
    }
    struct ibv_mr *mr =
        ibv_reg_mr(v->pd, base, size, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
    if (mr == NULL) {
        SQ_ERROR("net", "ibv_reg_mr failed", "region=%u size=%zu errno=%d", region, size, errno);
        return errno == ENOMEM ? SQ_ENOMEM : SQ_EIO;
    }
    struct vregion *r = &v->regions[region];
    if (r->mr != NULL) {
        ibv_dereg_mr(r->mr);
    }
    r->base = base;
    r->size = size;
    r->tag = tag;
    r->mr = mr;
    announce_all(v, region);
    return SQ_OK;
}

static void verbs_region_unregister(struct net *net, uint32_t region)
{
    struct verbs_net *v = verbs_of(net);
    if (region >= SQ_NET_REGIONS_MAX || v->regions[region].mr == NULL) {
        return;
    }
    ibv_dereg_mr(v->regions[region].mr);
    v->regions[region].mr = NULL;
    announce_all(v, region);
    memset(&v->regions[region], 0, sizeof(v->regions[region]));
}

static int ready(struct verbs_net *v, uint32_t id, struct vpeer **out)
{
    struct vpeer *p = find_peer(v, id);
    if (p == NULL || !p->added || p->state == NET_PEER_FAILED) {
        return SQ_EPEER;
    }
    if (p->state != NET_PEER_UP || p->conn == NULL) {
        return SQ_EAGAIN;
    }
    *out = p;
    return SQ_OK;
}

static int verbs_region_write(struct net *net, uint32_t id, uint32_t region, size_t offset,
                              size_t size, uint32_t flags, uint64_t wr_id)
{
    struct verbs_net *v = verbs_of(net);
    if (size > NET_WRITE_BYTES_MAX) {
        return SQ_ETOOBIG;
    }
    if (region >= SQ_NET_REGIONS_MAX || size == 0 || (flags & ~NET_OP_SIGNALED) != 0) {
        return SQ_EINVAL;
    }
    const struct vregion *r = &v->regions[region];
    if (r->mr == NULL || offset > r->size || size > r->size - offset) {
        return SQ_EINVAL;
    }
    struct vpeer *p = NULL;
    int rc = ready(v, id, &p);
    if (rc != SQ_OK) {
        return rc;
    }
    const struct vremote *rr = &p->regions[region];
    if (rr->size == 0 || rr->tag != r->tag || offset + size > rr->size) {
        return SQ_EAGAIN;
    }
    struct ibv_sge sge = {
        .addr = (uintptr_t)(r->base + offset), .length = (uint32_t)size, .lkey = r->mr->lkey};
    struct ibv_send_wr wr = {.sg_list = &sge,
                             .num_sge = 1,
                             .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
                             .imm_data = htonl(VERBS_WRITE_IMM_BIT | region)};
    wr.wr.rdma.remote_addr = rr->addr + offset;
    wr.wr.rdma.rkey = rr->rkey;
    struct vop op = {
        .user_wr_id = wr_id, .user_signaled = (flags & NET_OP_SIGNALED) != 0, .bounce = -1};
    rc = post_send(p->conn, &wr, &op);
    if (rc == SQ_EIO) {
        conn_fail(p->conn, SQ_EPEER, "ibv_post_send failed");
        return SQ_EPEER;
    }
    return rc;
}

static int verbs_msg_send(struct net *net, uint32_t id, uint32_t imm, const void *data, size_t size,
                          uint32_t flags, uint64_t wr_id)
{
    struct verbs_net *v = verbs_of(net);
    if (size > NET_SEND_BYTES_MAX) {
        return SQ_ETOOBIG;
    }
    if ((data == NULL && size > 0) || (flags & ~NET_OP_SIGNALED) != 0) {
        return SQ_EINVAL;
    }
    struct vpeer *p = NULL;
    int rc = ready(v, id, &p);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = send_copy(p->conn, data, size, NULL, 0, true, imm, true, wr_id,
                   (flags & NET_OP_SIGNALED) != 0);
    if (rc == SQ_EIO) {
        conn_fail(p->conn, SQ_EPEER, "ibv_post_send failed");
        return SQ_EPEER;
    }
    return rc;
}

static int verbs_recv_post(struct net *net, uint32_t id, void *buf, size_t cap, uint64_t wr_id)
{
    struct verbs_net *v = verbs_of(net);
    if (buf == NULL) {
        return SQ_EINVAL;
    }
    struct vpeer *p = find_peer(v, id);
    if (p == NULL || !p->added || p->state == NET_PEER_FAILED) {
        return SQ_EPEER;
    }
    if (p->recv_count == NET_RECVS_MAX) {
        return SQ_EFULL;
    }
    p->recvs[(p->recv_head + p->recv_count) % NET_RECVS_MAX] =
        (struct vposted){.buf = buf, .cap = cap, .wr_id = wr_id};
    p->recv_count++;
    if (p->conn != NULL && p->conn->held_count > 0 && !sq_timer_is_armed(&v->resume_timer)) {
        (void)sq_loop_timer_start(v->loop, &v->resume_timer, 0);
    }
    return SQ_OK;
}

static void verbs_flush(struct net *net)
{
    (void)net; /* work requests go to the NIC when posted */
}

static const struct net_ops verbs_ops = {
    .name = "verbs",
    .destroy = verbs_destroy,
    .peer_add = verbs_peer_add,
    .peer_remove = verbs_peer_remove,
    .peer_state = verbs_peer_state,
    .region_register = verbs_region_register,
    .region_unregister = verbs_region_unregister,
    .region_write = verbs_region_write,
    .msg_send = verbs_msg_send,
    .recv_post = verbs_recv_post,
    .flush = verbs_flush,
};

/* ---- creation ---- */

static int set_nonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0 ? SQ_OK : SQ_EIO;
}

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        if (errbuf != NULL && errbuf_size > 0) {                                                   \
            snprintf(errbuf, errbuf_size, __VA_ARGS__);                                            \
        }                                                                                          \
        rc = (code);                                                                               \
        goto err;                                                                                  \
    } while (0)

int net_verbs_create(struct net **out, const struct net_verbs_config *cfg,
                     const struct net_handler *handler, char *errbuf, size_t errbuf_size)
{
    SQ_ASSERT(out != NULL && cfg != NULL);
    int rc = SQ_EINVAL;
    struct verbs_net *v = NULL;
    struct ibv_context **ctxs = NULL;
    if (cfg->loop == NULL || cfg->key == NULL || cfg->chain_id == NULL || cfg->chain_id_size == 0 ||
        cfg->chain_id_size > SQ_CHAIN_ID_BYTES_MAX ||
        net_validators_check(cfg->validators, cfg->validator_count, cfg->self_id) != SQ_OK) {
        FAIL(SQ_EINVAL, "transport=verbs: invalid configuration (chain id, key, loop or "
                        "validator set)");
    }
    /* Is there a device at all? Checked first so the operator gets the real cause. */
    int num = 0;
    struct ibv_device **list = ibv_get_device_list(&num);
    if (list == NULL || num == 0) {
        int e = errno;
        if (list != NULL) {
            ibv_free_device_list(list);
        }
        FAIL(SQ_ENODEV,
             "transport=verbs: no RDMA device found (ibv_get_device_list returned 0 devices%s%s; "
             "is the rdma kernel module loaded? for soft-RoCE: rdma link add rxe0 type rxe "
             "netdev <if>)",
             list == NULL ? ", errno: " : "", list == NULL ? strerror(e) : "");
    }
    ibv_free_device_list(list);

    v = calloc(1, sizeof(*v));
    if (v == NULL) {
        FAIL(SQ_ENOMEM, "transport=verbs: out of memory");
    }
    v->base.ops = &verbs_ops;
    if (handler != NULL) {
        v->base.handler = *handler;
    }
    v->base.self_id = cfg->self_id;
    v->loop = cfg->loop;
    memcpy(v->chain_id, cfg->chain_id, cfg->chain_id_size);
    v->chain_id_size = cfg->chain_id_size;
    v->key = cfg->key;
    memcpy(v->validators, cfg->validators, cfg->validator_count * sizeof(*cfg->validators));
    v->validator_count = cfg->validator_count;
    v->spin_ns = (uint64_t)(cfg->spin_us ? cfg->spin_us : 50) * SQ_NS_PER_US;
    v->handshake_ns = (uint64_t)(cfg->handshake_ms ? cfg->handshake_ms : 5000) * SQ_NS_PER_MS;
    v->retry_min_ms = cfg->retry_min_ms ? cfg->retry_min_ms : 20;
    v->retry_max_ms = cfg->retry_max_ms ? cfg->retry_max_ms : 1000;
    for (size_t i = 0; i < v->validator_count; i++) {
        struct vpeer *p = &v->peers[i];
        p->v = v;
        p->id = v->validators[i].id;
        p->retry_ms = v->retry_min_ms;
        sq_timer_init(&p->retry_timer, retry_timer_fn, p);
    }
    for (uint32_t i = 0; i < VERBS_CONNS_MAX; i++) {
        v->conns[i].v = v;
        v->conns[i].slot = i;
        v->conns[i].peer_index = -1;
    }
    sq_timer_init(&v->resume_timer, resume_timer_fn, v);

    /* The device contexts the connection manager uses; the PD must live on the same one. */
    ctxs = rdma_get_devices(&num);
    if (ctxs == NULL || num == 0) {
        FAIL(SQ_ENODEV, "transport=verbs: rdma_get_devices found no usable RDMA device");
    }
    for (int i = 0; i < num; i++) {
        if (cfg->device == NULL || strcmp(ibv_get_device_name(ctxs[i]->device), cfg->device) == 0) {
            v->ctx = ctxs[i];
            break;
        }
    }
    if (v->ctx == NULL) {
        FAIL(SQ_ENODEV, "transport=verbs: RDMA device %s not found", cfg->device);
    }
    v->pd = ibv_alloc_pd(v->ctx);
    v->cc = v->pd != NULL ? ibv_create_comp_channel(v->ctx) : NULL;
    v->cq = v->cc != NULL ? ibv_create_cq(v->ctx, VERBS_CQ_DEPTH, v, v->cc, 0) : NULL;
    if (v->cq == NULL || ibv_req_notify_cq(v->cq, 0) != 0 || set_nonblocking(v->cc->fd) != SQ_OK) {
        FAIL(SQ_EIO,
             "transport=verbs: cannot create the protection domain or completion queue "
             "(errno %d)",
             errno);
    }
    v->ec = rdma_create_event_channel();
    if (v->ec == NULL || set_nonblocking(v->ec->fd) != SQ_OK) {
        FAIL(SQ_EIO, "transport=verbs: cannot create the RDMA CM event channel (errno %d)", errno);
    }
    const struct net_validator *self =
        net_validator_find(v->validators, v->validator_count, cfg->self_id);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(self->port)};
    if (inet_pton(AF_INET, self->host, &sa.sin_addr) != 1) {
        FAIL(SQ_EINVAL, "transport=verbs: bad listen address %s", self->host);
    }
    if (rdma_create_id(v->ec, &v->listen_id, NULL, RDMA_PS_TCP) != 0 ||
        rdma_bind_addr(v->listen_id, (struct sockaddr *)&sa) != 0 ||
        rdma_listen(v->listen_id, 64) != 0) {
        FAIL(SQ_EIO, "transport=verbs: cannot listen on %s:%u (errno %d)", self->host,
             (unsigned)self->port, errno);
    }
    if (sq_loop_fd_add(v->loop, v->ec->fd, SQ_LOOP_IN, cm_io, v) != SQ_OK ||
        sq_loop_fd_add(v->loop, v->cc->fd, SQ_LOOP_IN, cq_io, v) != SQ_OK) {
        FAIL(SQ_EIO, "transport=verbs: cannot watch the RDMA channels");
    }
    rdma_free_devices(ctxs);
    *out = &v->base;
    return SQ_OK;

err:
    if (ctxs != NULL) {
        rdma_free_devices(ctxs);
    }
    if (v != NULL) {
        verbs_destroy(&v->base);
    }
    SQ_ERROR("net", "verbs transport unavailable", "err=%s", sq_errname(rc));
    return rc;
}

bool net_verbs_available(void)
{
    return true;
}
