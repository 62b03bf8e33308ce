/* net/: transports behind one function table (PROTOCOL.md §8; docs/transport.md).
 *
 * A transport instance (`struct net`) connects this validator to its peers, named by validator id
 * (uint32), and offers the two primitives Derecho's protocols need:
 *
 *  - a one-sided WRITE of a byte range of a registered local memory region into the same offset of
 *    the peer's region with the same region id (the SST's RDMA write, PROTOCOL.md §1.2);
 *  - a two-sided SEND of up to NET_SEND_BYTES_MAX bytes with a 32-bit immediate into a buffer the
 *    receiver posted (RDMC's SEND_WITH_IMM).
 *
 * Guarantees on every transport (PROTOCOL.md §8.1):
 *  1. Writes and sends on one connection are applied at the peer exactly once and in call order:
 *     if a later one is visible, every earlier one is.
 *  2. An aligned 8-byte scalar inside a written range is never seen torn by a reader that loads it
 *     with an aligned 8-byte (atomic) load. Nothing is promised for wider or unaligned values:
 *     publish them with a later write of a counter that covers them.
 *  3. Nothing is promised across connections (two peers' writes interleave arbitrarily).
 *  4. A connection that breaks (EOF, reset, bad frame, keepalive timeout, RDMA completion error) is
 *     reported once through `peer_failed`; the peer is then out for good: the transport does not
 *     reconnect it until the caller removes and re-adds it (a failed member rejoins with fresh
 *     state, PROTOCOL.md §1.5).
 *
 * Regions: each side registers a region under a small id with a 64-bit tag (the SST uses a hash of
 * the view and its schema). Registering announces (id, tag, size) to every connected peer, in order
 * with the other traffic. A write to a peer succeeds only when the peer's latest announcement for
 * that id carries the same tag as the local registration and is large enough; until then
 * net_region_write() returns SQ_EAGAIN and queues nothing. A WRITE that arrives for a region
 * re-registered since (another tag) is discarded as stale (an old view's traffic).
 *
 * Threads: a transport belongs to the thread that runs its event loop (base/loop.h) or, for the
 * simulated network, to the simulator's thread. Every function here and every handler callback
 * runs on that thread. Handlers may call any function of this header except net_destroy().
 *
 * Implementations: TCP (net_tcp_create, the default, the RMA-over-TCP shim of PROTOCOL.md §8.2),
 * RDMA verbs (net_verbs_create) and the deterministic simulated network (tests/sim/simnet.h). */
#ifndef SQ_NET_NET_H
#define SQ_NET_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "base/loop.h"
#include "crypto/crypto.h"

/* ---- limits, tied to base/limits.h ---- */
#define NET_PEERS_MAX SQ_MEMBERS_MAX /* validators one transport knows */
#define NET_FRAME_HDR_BYTES_MAX 64   /* any frame header, bound */
#define NET_WRITE_BYTES_MAX (SQ_NET_FRAME_BYTES_MAX - NET_FRAME_HDR_BYTES_MAX) /* one write */
#define NET_SEND_BYTES_MAX (SQ_NET_FRAME_BYTES_MAX - NET_FRAME_HDR_BYTES_MAX)  /* one send */
#define NET_SIGNALED_MAX 4096 /* signaled operations awaiting completion, per peer */
#define NET_RECVS_MAX 1024    /* posted receive buffers, per peer */
#define NET_HOST_BYTES_MAX 64 /* a peer's host name or address, NUL included */
static_assert(NET_SEND_BYTES_MAX >= SQ_RDMC_BLOCK_BYTES_MAX, "an RDMC block fits one send");
static_assert(NET_WRITE_BYTES_MAX >= SQ_SMC_PAYLOAD_MAX + 8, "an SMC slot fits one write");
static_assert(SQ_NET_REGIONS_MAX <= 256, "region ids travel in one byte");

/* Operation flags. */
#define NET_OP_SIGNALED 0x1u /* report a completion (handler.completion) once the peer applied it  \
                              */

enum net_peer_state {
    NET_PEER_NONE = 0,   /* not added (or removed) */
    NET_PEER_CONNECTING, /* added; connecting, or waiting for the peer to connect, or proving keys
                          */
    NET_PEER_UP,         /* both sides authenticated; writes and sends flow */
    NET_PEER_FAILED,     /* was up and broke, or was refused; stays failed until removed */
};

/* Events, delivered on the transport's thread. Every pointer may be NULL (event ignored). */
struct net_handler {
    void *arg;
    /* The peer is connected and both sides proved their keys. At most once per net_peer_add(). */
    void (*peer_up)(void *arg, uint32_t peer);
    /* The peer's connection broke after it was up (`reason`: SQ_ECLOSED for EOF, SQ_EPEER for a
     * reset or I/O error, SQ_ETIMEDOUT for keepalive, SQ_ECORRUPT/SQ_ETOOBIG for a bad frame), or
     * the peer we dialled failed authentication (SQ_EAUTH: the address the validator set gives
     * for it answered with another key or refused ours; the reason is logged).
     * Pending signaled operations have completed with SQ_EPEER and posted receives with SQ_EPEER
     * before this runs. At most once per net_peer_add(). */
    void (*peer_failed)(void *arg, uint32_t peer, int reason);
    /* A WRITE from `peer` was applied to local region `region`. Data is visible when this runs. */
    void (*write_arrived)(void *arg, uint32_t peer, uint32_t region);
    /* A posted receive finished: status SQ_OK with the sender's `imm` and `size` bytes in the
     * buffer, or SQ_EPEER (the peer failed; the buffer is untouched). The buffer is the caller's
     * again. */
    void (*recv_done)(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm,
                      size_t size);
    /* A signaled write or send finished: SQ_OK once the peer applied it, SQ_EPEER if the peer
     * failed first. */
    void (*completion)(void *arg, uint32_t peer, uint64_t wr_id, int status);
    /* Optional, and only a hint: a SEND of `size` bytes with immediate `imm` from `peer` is
     * arriving for posted buffer `wr_id`, and `offset` bytes of its payload are stored so far.
     * The handler may name another place for the payload (`size` writable bytes) so that it is not
     * copied out of the posted buffer later, or return NULL for the posted buffer. A transport
     * that stores a payload in pieces while other events run (TCP) asks again before each piece,
     * and the pointer is borrowed only for storing that piece: a place the handler withdraws (NULL
     * after non-NULL) is not written again, and the rest of that frame goes to the posted buffer,
     * so the frame's bytes are in neither place whole. recv_done follows as usual. Transports that
     * cannot steer a payload (verbs, the simulated network) never call it. */
    void *(*recv_place)(void *arg, uint32_t peer, uint64_t wr_id, uint32_t imm, size_t size,
                        size_t offset);
};

struct net;

/* The function table every transport implements. Callers use the net_* wrappers below, which
 * document the contract; implementations live in net/tcp.c, net/verbs.c and tests/sim/simnet.c. */
struct net_ops {
    const char *name;
    void (*destroy)(struct net *net);
    int (*peer_add)(struct net *net, uint32_t peer);
    void (*peer_remove)(struct net *net, uint32_t peer);
    enum net_peer_state (*peer_state)(struct net *net, uint32_t peer);
    int (*region_register)(struct net *net, uint32_t region, uint64_t tag, void *base, size_t size);
    void (*region_unregister)(struct net *net, uint32_t region);
    int (*region_write)(struct net *net, uint32_t peer, uint32_t region, size_t offset, size_t size,
                        uint32_t flags, uint64_t wr_id);
    int (*msg_send)(struct net *net, uint32_t peer, uint32_t imm, const void *data, size_t size,
                    uint32_t flags, uint64_t wr_id);
    int (*recv_post)(struct net *net, uint32_t peer, void *buf, size_t cap, uint64_t wr_id);
    void (*flush)(struct net *net);
};

/* The part of every transport instance callers may see. Implementations embed it first. */
struct net {
    const struct net_ops *ops;
    struct net_handler handler;
    uint32_t self_id;
};

/* ---- the contract ---- */

/* Closes every connection and frees the transport. No event is delivered during or after. Regions
 * and posted buffers are the caller's again. NULL is a no-op. Not from inside a handler. */
static inline void net_destroy(struct net *net)
{
    if (net != NULL) {
        net->ops->destroy(net);
    }
}

/* This validator's id. */
static inline uint32_t net_self_id(const struct net *net)
{
    return net->self_id;
}

/* The transport's kind: "tcp", "verbs" or "sim". Static string. */
static inline const char *net_name(const struct net *net)
{
    return net->ops->name;
}

/* Asks the transport to connect to validator `peer` and keep the connection (the lower id dials,
 * the higher accepts; dialling retries with backoff until the peer answers). peer_up follows once
 * both sides are authenticated. SQ_ENOTFOUND if `peer` is not in the validator set the transport
 * was given, SQ_EINVAL for the own id, SQ_EEXIST if already added, SQ_EFULL past NET_PEERS_MAX. */
static inline int net_peer_add(struct net *net, uint32_t peer)
{
    return net->ops->peer_add(net, peer);
}

/* Drops `peer`: closes its connection, forgets its announcements, drops pending signaled
 * operations and posted receives without events (the buffers are the caller's again). Used after a
 * failure (to allow a later re-add) and to freeze a member the caller suspects (PROTOCOL.md §1.5).
 * A no-op for a peer not added. */
static inline void net_peer_remove(struct net *net, uint32_t peer)
{
    net->ops->peer_remove(net, peer);
}

static inline enum net_peer_state net_peer_state(struct net *net, uint32_t peer)
{
    return net->ops->peer_state(net, peer);
}

/* Registers `size` bytes at `base` (borrowed until unregistered or the transport is destroyed) as
 * region `region` (< SQ_NET_REGIONS_MAX) with `tag`, and announces it to every peer (now and to
 * peers that come up later). Re-registering an id replaces it (the old memory is no longer
 * written). Incoming WRITEs store into the memory on the transport's thread. SQ_EINVAL for a bad
 * id, a NULL base or a zero size; SQ_ENOMEM/SQ_EIO (verbs) when the memory cannot be registered. */
static inline int net_region_register(struct net *net, uint32_t region, uint64_t tag, void *base,
                                      size_t size)
{
    return net->ops->region_register(net, region, tag, base, size);
}

/* Withdraws region `region` (announced to peers as size 0); later WRITEs to it are discarded. */
static inline void net_region_unregister(struct net *net, uint32_t region)
{
    net->ops->region_unregister(net, region);
}

/* Queues a WRITE of local region `region` bytes [offset, offset+size) to the same bytes of the
 * peer's region. The bytes are copied (TCP, simulated network) or read by the NIC (verbs: do not
 * change them until a later completion on the same peer, or accept that the peer may see the newer
 * value, which monotone SST data tolerates). With NET_OP_SIGNALED, handler.completion(peer, wr_id)
 * reports when the peer has applied it.
 * Errors leave nothing queued:
 *   SQ_EAGAIN  the peer is not up yet, or has not announced `region` with the local tag and a size
 *              covering the range (try again later);
 *   SQ_EFULL   back-pressure: the peer's send queue holds SQ_NET_SENDQ_BYTES_MAX bytes (or the
 *              configured lower bound), or NET_SIGNALED_MAX signaled operations are pending;
 *   SQ_EPEER   the peer failed or was never added;
 *   SQ_EINVAL  the region is not registered locally, or the range is outside it or empty;
 *   SQ_ETOOBIG size > NET_WRITE_BYTES_MAX. */
static inline int net_region_write(struct net *net, uint32_t peer, uint32_t region, size_t offset,
                                   size_t size, uint32_t flags, uint64_t wr_id)
{
    return net->ops->region_write(net, peer, region, offset, size, flags, wr_id);
}

/* Queues a SEND of `size` bytes (copied before the call returns) with immediate `imm` to `peer`. It
 * lands in the oldest receive buffer the peer posted for us; while none is posted it waits at the
 * peer (later traffic on the connection waits behind it). A message longer than the posted buffer
 * fails the connection (SQ_ETOOBIG), as a verbs length error does. Errors as net_region_write
 * (SQ_EINVAL for data NULL with size > 0; SQ_ETOOBIG past NET_SEND_BYTES_MAX). */
static inline int net_msg_send(struct net *net, uint32_t peer, uint32_t imm, const void *data,
                               size_t size, uint32_t flags, uint64_t wr_id)
{
    return net->ops->msg_send(net, peer, imm, data, size, flags, wr_id);
}

/* Posts `cap` bytes at `buf` (borrowed until handler.recv_done reports `wr_id`, or the peer is
 * removed) to receive one SEND from `peer`. Buffers fill in posting order. SQ_EFULL past
 * NET_RECVS_MAX per peer, SQ_EPEER if the peer failed or was never added, SQ_EINVAL for NULL. */
static inline int net_recv_post(struct net *net, uint32_t peer, void *buf, size_t cap,
                                uint64_t wr_id)
{
    return net->ops->recv_post(net, peer, buf, cap, wr_id);
}

/* Hands everything queued so far to the network now (TCP: one writev per connection) instead of
 * at the end of the current loop round. Writes and sends never need it to be delivered; it saves
 * a loop round for a batch made outside loop callbacks (sst_poll() calls it after each pass).
 * A connection that breaks while flushing is reported through peer_failed before it returns. */
static inline void net_flush(struct net *net)
{
    net->ops->flush(net);
}

/* ---- creating transports ---- */

/* One member of the validator set: its id, its Ed25519 public key, and where it listens. */
struct net_validator {
    uint32_t id;
    uint8_t pk[SQC_PK_BYTES];
    char host[NET_HOST_BYTES_MAX]; /* numeric IPv4 address, e.g. "127.0.0.1" */
    uint16_t port;
};

struct net_tcp_config {
    struct sq_loop *loop;          /* borrowed; the transport runs on its thread */
    const uint8_t *chain_id;       /* borrowed for the call (copied) */
    size_t chain_id_size;          /* 1..SQ_CHAIN_ID_BYTES_MAX */
    uint32_t self_id;              /* must be in `validators` */
    const struct sqc_keypair *key; /* this validator's key; borrowed for the transport's life */
    const struct net_validator *validators; /* the validator set, copied; at most NET_PEERS_MAX */
    size_t validator_count;
    int listen_fd;          /* >= 0: a bound, listening socket to adopt (owned after a
                             * successful create); < 0: bind the own entry's host:port */
    uint32_t keepalive_ms;  /* 0: 500. A PING goes out after this much silence */
    uint32_t dead_ms;       /* 0: 5000. No byte from an up peer for this long fails it */
    uint32_t handshake_ms;  /* 0: 5000. A connection not authenticated by then is closed */
    uint32_t retry_min_ms;  /* 0: 20. First dial retry delay, doubled up to retry_max_ms */
    uint32_t retry_max_ms;  /* 0: 1000 */
    size_t sendq_bytes_max; /* 0: SQ_NET_SENDQ_BYTES_MAX; may only lower it */
};

/* Creates the TCP transport: listens (or adopts listen_fd), and from then on accepts validators
 * that prove their keys. Sockets are non-blocking with TCP_NODELAY; frames are length-checked;
 * writes queued during one loop round leave in one writev per connection at the end of the round.
 * The handler is copied. SQ_EINVAL for a bad config (self not in the set, duplicate ids, zero or
 * oversized chain id, too many validators), SQ_EIO (with a logged reason) when the listening socket
 * cannot be made, SQ_ENOMEM. On error nothing is left behind (listen_fd is not closed). Loop
 * thread.
 */
int net_tcp_create(struct net **out, const struct net_tcp_config *cfg,
                   const struct net_handler *handler);

/* The TCP port the transport listens on (useful with port 0). 0 for a non-TCP transport. */
uint16_t net_tcp_port(const struct net *net);

struct net_verbs_config {
    struct sq_loop *loop; /* borrowed; completions are polled from its thread */
    const uint8_t *chain_id;
    size_t chain_id_size;
    uint32_t self_id;
    const struct sqc_keypair *key;
    const struct net_validator *validators; /* hosts are the peers' RDMA (IPoIB/RoCE) addresses */
    size_t validator_count;
    const char *device;    /* NULL: the first device found */
    uint32_t spin_us;      /* 0: 50. How long to poll a busy CQ before blocking on its
                            * completion channel */
    uint32_t handshake_ms; /* 0: 5000 */
    uint32_t retry_min_ms; /* 0: 20 */
    uint32_t retry_max_ms; /* 0: 1000 */
};

/* Creates the RDMA verbs transport (rdma-core: RC queue pairs through librdmacm, RDMA WRITE WITH
 * IMM for writes, SEND_WITH_IMM for sends, a completion channel polled briefly and then waited on
 * in the loop). Peers authenticate with the same signed handshake as TCP, carried in SENDs before
 * any protocol operation. SQ_ENODEV when no RDMA device exists (the reason is written to errbuf,
 * e.g. "transport=verbs: no RDMA device found (...)"), SQ_EUNSUPPORTED when Squall was built
 * without rdma-core headers; other errors as net_tcp_create. errbuf (may be NULL) receives a
 * one-line reason on every error. Loop thread. */
int net_verbs_create(struct net **out, const struct net_verbs_config *cfg,
                     const struct net_handler *handler, char *errbuf, size_t errbuf_size);

/* True when this build contains the verbs transport. */
bool net_verbs_available(void);

#endif
