/* The RDMC engine on net_ops (declared in rdmc/rdmc.h): RDMC's two-sided SEND_WITH_IMM mapped
 * onto net_msg_send and posted receive buffers (PROTOCOL.md §3.2, §8.1 item 5). No socket or verbs
 * header here: the transport is the function table. */
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "net/net.h"
#include "rdmc/rdmc.h"

static_assert(RDMC_NET_RECVS_MAX <= NET_RECVS_MAX, "posted buffers fit the transport's bound");
static_assert(SQ_RDMC_BLOCK_BYTES_MAX <= NET_SEND_BYTES_MAX, "a block fits one send");

struct rn_peer {
    bool used;
    uint32_t id;
    uint32_t posted; /* buffers the transport holds */
    uint8_t *bufs[RDMC_NET_RECVS_MAX];
    /* The frame being stored in place (rdmc_net_on_recv_place): its posted buffer's wr_id, where
     * its payload goes, and whether that place was withdrawn half-way. One at a time per peer:
     * a connection carries one frame after the other. */
    bool placing;
    bool torn;
    uint64_t place_wr_id;
    void *place;
};

struct rdmc_net {
    struct net *net;
    struct rdmc_engine *eng;
    struct rdmc_net_config cfg;
    struct rn_peer peers[NET_PEERS_MAX];
};

static int rn_send(void *ctx, uint32_t peer, uint32_t imm, const void *data, size_t len)
{
    struct rdmc_net *rn = ctx;
    /* Unsignaled: the transport copies the bytes before returning (net_msg_send). */
    return net_msg_send(rn->net, peer, imm, data, len, 0, 0);
}

int rdmc_net_create(struct rdmc_net **out, struct net *net, const struct rdmc_upcalls *up,
                    const struct rdmc_net_config *cfg)
{
    if (out == NULL || net == NULL || up == NULL) {
        return SQ_EINVAL;
    }
    struct rdmc_net_config c = {0};
    if (cfg != NULL) {
        c = *cfg;
    }
    if (c.recv_bytes == 0) {
        c.recv_bytes = 1024u * 1024u;
    }
    if (c.recvs_per_peer == 0) {
        c.recvs_per_peer = 8;
    }
    if (c.recv_bytes > NET_SEND_BYTES_MAX || c.recvs_per_peer > RDMC_NET_RECVS_MAX) {
        return SQ_EINVAL;
    }
    struct rdmc_net *rn = calloc(1, sizeof(*rn));
    if (rn == NULL) {
        return SQ_ENOMEM;
    }
    rn->net = net;
    rn->cfg = c;
    struct rdmc_io io = {.ctx = rn, .send = rn_send};
    int rc = rdmc_engine_create(&rn->eng, net_self_id(net), &io, up);
    if (rc != SQ_OK) {
        goto err_free_adapter;
    }
    *out = rn;
    return SQ_OK;

err_free_adapter:
    free(rn);
    return rc;
}

static void peer_free_bufs(struct rn_peer *p)
{
    for (uint32_t i = 0; i < RDMC_NET_RECVS_MAX; i++) {
        free(p->bufs[i]);
        p->bufs[i] = NULL;
    }
    p->posted = 0;
}

void rdmc_net_destroy(struct rdmc_net *rn)
{
    if (rn == NULL) {
        return;
    }
    rdmc_engine_destroy(rn->eng);
    for (uint32_t i = 0; i < NET_PEERS_MAX; i++) {
        peer_free_bufs(&rn->peers[i]);
    }
    free(rn);
}

struct rdmc_engine *rdmc_net_engine(struct rdmc_net *rn)
{
    return rn->eng;
}

static struct rn_peer *peer_find(struct rdmc_net *rn, uint32_t id)
{
    for (uint32_t i = 0; i < NET_PEERS_MAX; i++) {
        if (rn->peers[i].used && rn->peers[i].id == id) {
            return &rn->peers[i];
        }
    }
    return NULL;
}

/* wr_id = slot of the peer in the table << 32 | buffer index. */
static uint64_t wr_make(const struct rdmc_net *rn, const struct rn_peer *p, uint32_t index)
{
    return ((uint64_t)(uint32_t)(p - rn->peers) << 32) | index;
}

int rdmc_net_peer_add(struct rdmc_net *rn, uint32_t peer)
{
    if (peer_find(rn, peer) != NULL) {
        return SQ_EEXIST;
    }
    struct rn_peer *p = NULL;
    for (uint32_t i = 0; i < NET_PEERS_MAX && p == NULL; i++) {
        if (!rn->peers[i].used) {
            p = &rn->peers[i];
        }
    }
    if (p == NULL) {
        return SQ_EFULL;
    }
    for (uint32_t i = 0; i < rn->cfg.recvs_per_peer; i++) {
        p->bufs[i] = malloc(rn->cfg.recv_bytes);
        if (p->bufs[i] == NULL) {
            peer_free_bufs(p);
            return SQ_ENOMEM;
        }
    }
    p->used = true;
    p->id = peer;
    p->placing = false;
    for (uint32_t i = 0; i < rn->cfg.recvs_per_peer; i++) {
        int rc = net_recv_post(rn->net, peer, p->bufs[i], rn->cfg.recv_bytes, wr_make(rn, p, i));
        if (rc != SQ_OK) {
            /* The transport holds the ones posted until the peer is removed: the caller removes
             * it (net_peer_remove) and then calls rdmc_net_peer_remove. Report the error. */
            SQ_WARN("rdmc", "cannot post receive buffers", "peer=%u err=%s", peer, sq_errname(rc));
            return rc;
        }
        p->posted++;
    }
    return SQ_OK;
}

void rdmc_net_peer_remove(struct rdmc_net *rn, uint32_t peer)
{
    struct rn_peer *p = peer_find(rn, peer);
    if (p == NULL) {
        return;
    }
    peer_free_bufs(p);
    p->used = false;
}

void rdmc_net_poll(struct rdmc_net *rn)
{
    if (rdmc_engine_is_blocked(rn->eng)) {
        rdmc_engine_kick(rn->eng);
    }
}

bool rdmc_net_is_blocked(const struct rdmc_net *rn)
{
    return rdmc_engine_is_blocked(rn->eng);
}

void rdmc_net_on_peer_up(void *arg, uint32_t peer)
{
    struct rdmc_net *rn = arg;
    (void)peer;
    rdmc_net_poll(rn); /* READYs to a peer that was not up yet were refused with SQ_EAGAIN */
}

void rdmc_net_on_peer_failed(void *arg, uint32_t peer, int reason)
{
    struct rdmc_net *rn = arg;
    SQ_INFO("rdmc", "peer failed", "peer=%u reason=%s", peer, sq_errname(reason));
    rdmc_engine_peer_failed(rn->eng, peer);
    struct rn_peer *p = peer_find(rn, peer);
    if (p != NULL) {
        /* Posted receives completed with SQ_EPEER before this event (net.h): the buffers are
         * ours. */
        SQ_ASSERT(p->posted == 0);
        peer_free_bufs(p);
        p->used = false;
    }
    rdmc_net_poll(rn);
}

void rdmc_net_on_recv_done(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                           size_t size)
{
    struct rdmc_net *rn = arg;
    uint32_t slot = (uint32_t)(wr_id >> 32);
    uint32_t index = (uint32_t)wr_id;
    SQ_ASSERT(slot < NET_PEERS_MAX && index < rn->cfg.recvs_per_peer);
    struct rn_peer *p = &rn->peers[slot];
    SQ_ASSERT(p->used && p->id == peer && p->posted > 0);
    p->posted--;
    if (status != SQ_OK) {
        p->placing = false;
        return; /* the peer failed: peer_failed follows and frees the buffers */
    }
    uint8_t *buf = p->bufs[index];
    const void *data = buf;
    if (p->placing && p->place_wr_id == wr_id) {
        p->placing = false;
        if (!p->torn) {
            data = p->place; /* stored in the message buffer already: the engine does not copy */
        } else if (rdmc_engine_recv_place(rn->eng, peer, imm, size) != NULL) {
            /* Only part of the payload is in `buf`. The engine would take it for a frame it now
             * expects (a group of the same id made meanwhile): drop it; the group waits. */
            data = NULL;
        }
        /* else the engine rejects or drops it as it would any frame for a failed group */
    }
    if (data == NULL) {
        SQ_WARN("rdmc", "frame torn by a group change dropped", "peer=%u imm=0x%08x", peer, imm);
    } else if (rdmc_imm_type(imm) == RDMC_IMM_OTHER) {
        if (rn->cfg.other_recv != NULL) {
            rn->cfg.other_recv(rn->cfg.other_arg, peer, imm, buf, size);
        }
    } else {
        (void)rdmc_engine_recv(rn->eng, peer, imm, data, size); /* drops are counted in stats */
    }
    /* The engine copied what it keeps: the buffer goes back to the transport at once. The peer
     * may have failed meanwhile (other_recv may remove it): then the post fails and the buffer
     * stays ours until peer_failed or rdmc_net_peer_remove frees it. */
    if (peer_find(rn, peer) == p &&
        net_recv_post(rn->net, peer, buf, rn->cfg.recv_bytes, wr_id) == SQ_OK) {
        p->posted++;
    }
    rdmc_net_poll(rn);
}

void *rdmc_net_on_recv_place(void *arg, uint32_t peer, uint64_t wr_id, uint32_t imm, size_t size,
                             size_t offset)
{
    struct rdmc_net *rn = arg;
    uint32_t slot = (uint32_t)(wr_id >> 32);
    SQ_ASSERT(slot < NET_PEERS_MAX);
    struct rn_peer *p = &rn->peers[slot];
    SQ_ASSERT(p->used && p->id == peer);
    void *place = rdmc_engine_recv_place(rn->eng, peer, imm, size);
    if (offset == 0) {
        /* A new frame (or the same one asked again before any byte was stored). */
        p->placing = place != NULL;
        p->torn = false;
        p->place_wr_id = wr_id;
        p->place = place;
        return place;
    }
    if (!p->placing || p->torn || p->place_wr_id != wr_id) {
        return NULL;
    }
    if (place != p->place) {
        /* The group failed or went away while the payload arrived: its buffer is no longer
         * ours to write. The transport stores the rest in the posted buffer. */
        p->torn = true;
        return NULL;
    }
    return place;
}

void rdmc_net_handler(struct rdmc_net *rn, struct net_handler *h)
{
    memset(h, 0, sizeof(*h));
    h->arg = rn;
    h->peer_up = rdmc_net_on_peer_up;
    h->peer_failed = rdmc_net_on_peer_failed;
    h->recv_done = rdmc_net_on_recv_done;
    h->recv_place = rdmc_net_on_recv_place;
}
