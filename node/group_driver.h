/* The group driver: runs one member's consensus group (consensus/) over a real transport on the
 * node's event loop. It owns the transport (TCP by default, or RDMA verbs) and the group, forwards transport
 * events to the group and its RDMC engine (membership messages to grp_gms_recv), keeps receive
 * buffers posted for every validator, and polls the group once at the end of every loop round in
 * which something happened.
 *
 * Every validator of the transport's validator set is a peer, member of the view or not, so that
 * joiners can reach the group. A connection that fails is made again after `reconnect_ms`: the
 * transport never reconnects on its own, and a restarted validator must be able to come back (the
 * group decides whether it is a member; PROTOCOL.md §1.5, §5.9).
 *
 * Loop thread only. */
#ifndef SQ_NODE_GROUP_DRIVER_H
#define SQ_NODE_GROUP_DRIVER_H

#include <stdint.h>

#include "base/loop.h"
#include "consensus/consensus.h"
#include "net/net.h"

struct node_gd;

struct node_gd_config {
    struct sq_loop *loop;
    struct net_tcp_config tcp; /* the transport's config; tcp.loop is set by the driver */
    /* Run over RDMA verbs instead of TCP (PROTOCOL.md §1.2, §3.2): the identity, key and validator
     * set come from `tcp` (the hosts are then the peers' RDMA addresses); `verbs_device` names the
     * device (NULL: the first found). Without an RDMA device node_gd_create fails with SQ_ENODEV
     * and says so in errbuf. */
    bool verbs;
    const char *verbs_device;
    const struct grp_view *view; /* NULL with `join` */
    uint32_t my_id;
    /* Join the running group (or take part in a total restart) instead of starting in `view`:
     * version_base is then the first version the local log lacks, last_view the last view logged
     * (or NULL). See consensus.h. */
    bool join;
    const struct grp_view *last_view;
    uint32_t join_retry_ms;      /* 0: 200 */
    uint32_t reconnect_ms;       /* 0: 100 */
    const struct grp_settings *settings; /* NULL: defaults */
    const struct grp_upcalls *up;
    int64_t version_base;
    uint32_t recv_bufs_per_peer; /* RDMC receive buffers posted per peer (0: 16) */
    uint32_t heartbeat_ms;       /* heartbeat period (0: 10) */
    uint32_t failure_timeout_ms; /* a member silent this long is suspected (0: 1000) */
    /* Called after every poll of the group, on the loop thread (the application's chance to
     * send more, for instance). Messages it commits are published by a poll the driver runs in
     * the next loop round. May be NULL. */
    void (*after_poll)(void *arg);
    void *after_poll_arg;
};

/* Creates the transport and the group, connects to every other member and starts polling.
 * Errors from net_tcp_create, net_verbs_create or grp_group_create are passed through (errbuf says
 * which). */
int node_gd_create(struct node_gd **out, const struct node_gd_config *cfg, char *errbuf,
                   size_t errbuf_size);

/* Stops and frees everything (the group, then the transport). NULL is a no-op. */
void node_gd_destroy(struct node_gd *gd);

struct grp_group *node_gd_group(struct node_gd *gd);
struct net *node_gd_net(struct node_gd *gd);

/* Asks for a poll at the end of the current loop round (after the application queued work). */
void node_gd_kick(struct node_gd *gd);

/* Number of peers currently up. */
uint32_t node_gd_peers_up(struct node_gd *gd);

#endif
