#include "node/group_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"

struct recv_buf {
    struct node_gd *gd;
    uint32_t peer;
    uint8_t *data;
};

struct reconnect {
    struct node_gd *gd;
    uint32_t peer;
    struct sq_timer timer;
};

struct node_gd {
    struct sq_loop *loop;
    struct net *net;
    struct grp_group *g;
    struct grp_member peers[SQ_MEMBERS_MAX]; /* every validator but me */
    uint32_t peer_count;
    struct reconnect reconnects[SQ_MEMBERS_MAX];
    uint64_t reconnect_ns;
    uint32_t my_id;
    size_t buf_bytes;
    uint32_t bufs_per_peer;
    struct recv_buf *bufs; /* peer_count * bufs_per_peer, indexed by peer index */
    uint8_t *buf_mem;
    struct sq_timer poll_timer;
    struct sq_timer tick_timer;
    uint64_t tick_ns;
    uint64_t stall_cap_ns;  /* the most the group's clock advances between two ticks */
    uint64_t tick_real_ns;  /* loop time at the last tick */
    uint64_t group_now_ns;  /* the clock given to grp_tick: loop time less local stalls */
    void (*after_poll)(void *arg);
    void *after_poll_arg;
    uint32_t peers_up;
};

/* The clock the group's failure detector runs on: the loop's, except that a gap between two ticks
 * longer than half the failure timeout counts as only half the timeout. Such a gap means this
 * process itself did not run (descheduled, stopped, swapping, one very long loop round); its
 * peers' heartbeats are then still unread in its sockets, and judging their silence by the wall
 * clock would suspect every peer at once on the first tick after the stall. Published as
 * suspicions and gossiped (§5.2), those would make the others stop by the majority rule (§5.8):
 * one stalled member would bring the whole group down. Measured on this clock, silence only
 * counts while this process runs: it reads its sockets first and, if the others excluded it
 * meanwhile, learns that from them (their suspicion, or their connections closing) and stops
 * alone. A peer that is really gone is still suspected after the failure timeout of running
 * time. */
static uint64_t group_clock(struct node_gd *gd, uint64_t real_ns)
{
    uint64_t gap = real_ns > gd->tick_real_ns ? real_ns - gd->tick_real_ns : 0;
    if (gap > gd->stall_cap_ns) {
        SQ_WARN("gd", "local stall: failure detection paused", "stall_ms=%llu counted_ms=%llu",
                (unsigned long long)(gap / SQ_NS_PER_MS),
                (unsigned long long)(gd->stall_cap_ns / SQ_NS_PER_MS));
        gap = gd->stall_cap_ns;
    }
    gd->tick_real_ns = real_ns;
    gd->group_now_ns += gap;
    return gd->group_now_ns;
}

/* Heartbeats and failure detection run on a loop timer (§1.5): no busy polling. */
static void tick_now(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    struct node_gd *gd = arg;
    if (gd->g != NULL) {
        grp_tick(gd->g, group_clock(gd, sq_loop_now(loop)));
        node_gd_kick(gd);
    }
    (void)sq_loop_timer_start(loop, t, gd->tick_ns);
}

static void poll_now(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    (void)t;
    struct node_gd *gd = arg;
    if (gd->g == NULL) {
        return;
    }
    /* Installing a view (a new table, whole-row pushes, re-sends) runs inside one poll; its cost
     * is part of every view change's latency, so it is logged (debug) for tracing. */
    bool timed = sq_log_enabled(SQ_LOG_DEBUG);
    uint64_t vid = timed ? grp_view(gd->g)->vid : 0;
    uint64_t t0 = timed ? sq_clock_now(sq_loop_clock(loop)) : 0;
    grp_poll(gd->g);
    if (timed) {
        uint64_t us = (sq_clock_now(sq_loop_clock(loop)) - t0) / 1000u;
        if (grp_view(gd->g)->vid != vid || us >= 5000) {
            SQ_DEBUG("gd", "long poll", "us=%llu vid=%llu new_vid=%llu", (unsigned long long)us,
                     (unsigned long long)vid, (unsigned long long)grp_view(gd->g)->vid);
        }
    }
    if (gd->after_poll != NULL) {
        struct grp_stats st;
        grp_group_stats(gd->g, &st);
        uint64_t sent = st.msgs_sent;
        gd->after_poll(gd->after_poll_arg);
        /* Messages committed by after_poll go out at the next grp_poll(): run it in the next
         * round instead of waiting for traffic or the next tick (which left a committed message
         * unpublished for up to a millisecond when the group was otherwise quiet). Only new
         * commits ask for it, so a sender held back by flow control does not spin the loop. */
        grp_group_stats(gd->g, &st);
        if (st.msgs_sent != sent) {
            node_gd_kick(gd);
        }
    }
    /* What was queued after the table's pass (a new view's first pushes, cells after_poll
     * pushed) leaves now, not after another epoll_wait: this callback is itself a timer, so the
     * transport's end-of-round flush would only run in the next round. */
    net_flush(gd->net);
}

void node_gd_kick(struct node_gd *gd)
{
    if (!sq_timer_is_armed(&gd->poll_timer)) {
        /* A zero delay runs at the end of this loop round, after the I/O callbacks. */
        (void)sq_loop_timer_start(gd->loop, &gd->poll_timer, 0);
    }
}

static uint32_t peer_index(const struct node_gd *gd, uint32_t peer)
{
    for (uint32_t i = 0; i < gd->peer_count; i++) {
        if (gd->peers[i].id == peer) {
            return i;
        }
    }
    return UINT32_MAX;
}

static void post_peer(struct node_gd *gd, uint32_t index)
{
    uint32_t peer = gd->peers[index].id;
    for (uint32_t i = 0; i < gd->bufs_per_peer; i++) {
        struct recv_buf *b = &gd->bufs[index * gd->bufs_per_peer + i];
        int rc = net_recv_post(gd->net, peer, b->data, gd->buf_bytes, (uint64_t)(uintptr_t)b);
        if (rc != SQ_OK) {
            SQ_WARN("gd", "cannot post receive buffer", "peer=%u rc=%s", peer, sq_errname(rc));
            return;
        }
    }
}

/* A failed connection is made again (the transport's buffers for it came back with the failure). */
static void reconnect_now(struct sq_loop *loop, struct sq_timer *t, void *arg)
{
    (void)loop;
    (void)t;
    struct reconnect *rc = arg;
    struct node_gd *gd = rc->gd;
    uint32_t i = peer_index(gd, rc->peer);
    net_peer_remove(gd->net, rc->peer);
    int err = net_peer_add(gd->net, rc->peer);
    if (err != SQ_OK) {
        SQ_WARN("gd", "cannot add peer again", "peer=%u rc=%s", rc->peer, sq_errname(err));
        return;
    }
    post_peer(gd, i);
}

static void on_peer_up(void *arg, uint32_t peer)
{
    struct node_gd *gd = arg;
    gd->peers_up++;
    SQ_INFO("gd", "peer up", "peer=%u up=%u", peer, gd->peers_up);
    node_gd_kick(gd);
}

static void on_peer_failed(void *arg, uint32_t peer, int reason)
{
    struct node_gd *gd = arg;
    if (gd->peers_up > 0) {
        gd->peers_up--;
    }
    SQ_WARN("gd", "peer failed", "peer=%u reason=%s", peer, sq_errname(reason));
    if (gd->g != NULL) {
        grp_peer_failed(gd->g, peer, reason);
    }
    uint32_t i = peer_index(gd, peer);
    if (i != UINT32_MAX && !sq_timer_is_armed(&gd->reconnects[i].timer)) {
        (void)sq_loop_timer_start(gd->loop, &gd->reconnects[i].timer, gd->reconnect_ns);
    }
    node_gd_kick(gd);
}

static void on_write(void *arg, uint32_t peer, uint32_t region)
{
    (void)peer;
    (void)region;
    node_gd_kick(arg);
}

static void on_recv(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                    size_t size)
{
    struct node_gd *gd = arg;
    struct recv_buf *b = (struct recv_buf *)(uintptr_t)wr_id;
    if (status != SQ_OK || gd->g == NULL) {
        return;
    }
    if (imm == grp_gms_imm()) {
        grp_gms_recv(gd->g, peer, b->data, size);
    } else {
        rdmc_engine_recv(grp_rdmc(gd->g), peer, imm, b->data, size);
    }
    int rc = net_recv_post(gd->net, peer, b->data, gd->buf_bytes, wr_id);
    if (rc != SQ_OK && rc != SQ_EPEER) {
        SQ_WARN("gd", "cannot re-post receive buffer", "peer=%u rc=%s", peer, sq_errname(rc));
    }
    node_gd_kick(gd);
}

static void on_completion(void *arg, uint32_t peer, uint64_t wr_id, int status)
{
    (void)peer;
    (void)wr_id;
    (void)status;
    struct node_gd *gd = arg;
    if (gd->g != NULL) {
        rdmc_engine_kick(grp_rdmc(gd->g));
    }
    node_gd_kick(gd);
}

static int rdmc_send(void *ctx, uint32_t peer, uint32_t imm, const void *data, size_t len)
{
    struct node_gd *gd = ctx;
    return net_msg_send(gd->net, peer, imm, data, len, 0, 0);
}

int node_gd_create(struct node_gd **out, const struct node_gd_config *cfg, char *errbuf,
                   size_t errbuf_size)
{
    struct node_gd *gd = calloc(1, sizeof(*gd));
    if (gd == NULL) {
        return SQ_ENOMEM;
    }
    gd->loop = cfg->loop;
    gd->my_id = cfg->my_id;
    gd->after_poll = cfg->after_poll;
    gd->after_poll_arg = cfg->after_poll_arg;
    sq_timer_init(&gd->poll_timer, poll_now, gd);
    sq_timer_init(&gd->tick_timer, tick_now, gd);
    gd->tick_ns = (uint64_t)(cfg->heartbeat_ms ? cfg->heartbeat_ms : 10) * SQ_NS_PER_MS;
    gd->stall_cap_ns =
        (uint64_t)(cfg->failure_timeout_ms ? cfg->failure_timeout_ms : 1000) * SQ_NS_PER_MS / 2;
    if (gd->stall_cap_ns < 2 * gd->tick_ns) {
        gd->stall_cap_ns = 2 * gd->tick_ns;
    }
    struct grp_settings set;
    if (cfg->settings != NULL) {
        set = *cfg->settings;
    } else {
        grp_settings_default(&set);
    }
    gd->buf_bytes = set.rdmc.block_bytes;
    gd->bufs_per_peer = cfg->recv_bufs_per_peer ? cfg->recv_bufs_per_peer : 16;
    gd->reconnect_ns = (uint64_t)(cfg->reconnect_ms ? cfg->reconnect_ms : 100) * SQ_NS_PER_MS;
    struct grp_member validators[SQ_MEMBERS_MAX];
    uint32_t vcount = 0;
    int rc = SQ_EINVAL;
    if (cfg->tcp.validator_count > SQ_MEMBERS_MAX) {
        snprintf(errbuf, errbuf_size, "more than %u validators", SQ_MEMBERS_MAX);
        goto err_free;
    }
    for (size_t i = 0; i < cfg->tcp.validator_count; i++) {
        const struct net_validator *nv = &cfg->tcp.validators[i];
        struct grp_member *m = &validators[vcount++];
        memset(m, 0, sizeof(*m));
        m->id = nv->id;
        memcpy(m->pk, nv->pk, GRP_PK_BYTES);
        snprintf(m->host, sizeof(m->host), "%s", nv->host);
        m->port = nv->port;
        if (nv->id != cfg->my_id) {
            gd->peers[gd->peer_count] = *m;
            struct reconnect *r = &gd->reconnects[gd->peer_count++];
            r->gd = gd;
            r->peer = nv->id;
            sq_timer_init(&r->timer, reconnect_now, r);
        }
    }
    uint32_t n = gd->peer_count;
    rc = SQ_ENOMEM;
    gd->bufs = calloc((size_t)n * gd->bufs_per_peer, sizeof(*gd->bufs));
    gd->buf_mem = malloc((size_t)n * gd->bufs_per_peer * gd->buf_bytes);
    if (gd->bufs == NULL || gd->buf_mem == NULL) {
        goto err_free;
    }
    for (size_t i = 0; i < (size_t)n * gd->bufs_per_peer; i++) {
        gd->bufs[i].gd = gd;
        gd->bufs[i].data = gd->buf_mem + i * gd->buf_bytes;
    }
    struct net_handler h = {.arg = gd, .peer_up = on_peer_up, .peer_failed = on_peer_failed,
                            .write_arrived = on_write, .recv_done = on_recv,
                            .completion = on_completion};
    if (cfg->verbs) {
        struct net_verbs_config vc = {.loop = cfg->loop, .chain_id = cfg->tcp.chain_id,
                                      .chain_id_size = cfg->tcp.chain_id_size,
                                      .self_id = cfg->tcp.self_id, .key = cfg->tcp.key,
                                      .validators = cfg->tcp.validators,
                                      .validator_count = cfg->tcp.validator_count,
                                      .device = cfg->verbs_device,
                                      .handshake_ms = cfg->tcp.handshake_ms,
                                      .retry_min_ms = cfg->tcp.retry_min_ms,
                                      .retry_max_ms = cfg->tcp.retry_max_ms};
        rc = net_verbs_create(&gd->net, &vc, &h, errbuf, errbuf_size);
        if (rc != SQ_OK) {
            goto err_free; /* errbuf says why ("transport=verbs: no RDMA device found ...") */
        }
    } else {
        struct net_tcp_config tcp = cfg->tcp;
        tcp.loop = cfg->loop;
        rc = net_tcp_create(&gd->net, &tcp, &h);
        if (rc != SQ_OK) {
            snprintf(errbuf, errbuf_size, "cannot start the TCP transport: %s", sq_strerror(rc));
            goto err_free;
        }
    }
    /* Peers first: the group's table pushes its first row as it is built, and a push to a peer
     * the transport does not know counts as a failed peer. */
    for (uint32_t i = 0; i < n; i++) {
        rc = net_peer_add(gd->net, gd->peers[i].id);
        if (rc != SQ_OK) {
            snprintf(errbuf, errbuf_size, "cannot add peer %u: %s", gd->peers[i].id,
                     sq_strerror(rc));
            goto err_destroy_net;
        }
        post_peer(gd, i);
    }
    struct rdmc_io io = {.ctx = gd, .send = rdmc_send};
    struct grp_config gc = {.view = cfg->view, .my_id = cfg->my_id, .net = gd->net,
                            .rdmc_io = &io, .settings = &set, .up = cfg->up,
                            .version_base = cfg->version_base,
                            .heartbeat_ns = gd->tick_ns,
                            .validators = validators, .validator_count = vcount,
                            .join = cfg->join, .last_view = cfg->last_view,
                            .join_retry_ns = (uint64_t)cfg->join_retry_ms * SQ_NS_PER_MS,
                            .failure_timeout_ns =
                                (uint64_t)(cfg->failure_timeout_ms ? cfg->failure_timeout_ms
                                                                   : 1000) *
                                SQ_NS_PER_MS};
    rc = grp_group_create(&gd->g, &gc);
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot build the group: %s", sq_strerror(rc));
        goto err_destroy_net;
    }
    gd->tick_real_ns = gd->group_now_ns = sq_loop_now(gd->loop);
    grp_tick(gd->g, gd->group_now_ns);
    (void)sq_loop_timer_start(gd->loop, &gd->tick_timer, gd->tick_ns);
    node_gd_kick(gd);
    *out = gd;
    return SQ_OK;

err_destroy_net:
    net_destroy(gd->net);
err_free:
    free(gd->buf_mem);
    free(gd->bufs);
    free(gd);
    return rc;
}

void node_gd_destroy(struct node_gd *gd)
{
    if (gd == NULL) {
        return;
    }
    sq_loop_timer_stop(gd->loop, &gd->poll_timer);
    sq_loop_timer_stop(gd->loop, &gd->tick_timer);
    for (uint32_t i = 0; i < gd->peer_count; i++) {
        sq_loop_timer_stop(gd->loop, &gd->reconnects[i].timer);
    }
    grp_group_destroy(gd->g);
    gd->g = NULL;
    net_destroy(gd->net);
    free(gd->buf_mem);
    free(gd->bufs);
    free(gd);
}

struct grp_group *node_gd_group(struct node_gd *gd)
{
    return gd->g;
}

struct net *node_gd_net(struct node_gd *gd)
{
    return gd->net;
}

uint32_t node_gd_peers_up(struct node_gd *gd)
{
    return gd->peers_up;
}
