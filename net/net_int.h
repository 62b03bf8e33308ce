/* net/ internals shared by the transports and their tests: the frame codec of the TCP shim, the
 * peer-authentication handshake (a pure state machine), and the chunked send queue.
 * Wire format: docs/transport.md. Single-threaded per object. */
#ifndef SQ_NET_NET_INT_H
#define SQ_NET_NET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net/net.h"

/* ---- frames ----
 * Every frame is `u32 body_size` then `body_size` bytes of body whose first byte is the type.
 * All integers little-endian. */
enum net_frame_type {
    NET_FR_HELLO = 1,  /* u16 version, lp32 chain id, u32 id, pk[32], nonce[32] */
    NET_FR_AUTH = 2,   /* sig[64] */
    NET_FR_READY = 3,  /* (empty) */
    NET_FR_WRITE = 4,  /* u8 flags, u8 region, u64 tag, u64 offset, data... */
    NET_FR_SEND = 5,   /* u8 flags, u32 imm, data... */
    NET_FR_ACK = 6,    /* u64 signaled frames applied so far (cumulative) */
    NET_FR_PING = 7,   /* (empty) */
    NET_FR_REGION = 8, /* u8 region, u64 tag, u64 size (0: withdrawn) */
};

#define NET_PROTO_VERSION 1
#define NET_NONCE_BYTES 32
#define NET_FRAME_LEN_BYTES 4
#define NET_FRAME_FLAG_ACK 0x1u /* WRITE/SEND: the receiver acknowledges it (signaled op) */
#define NET_WRITE_HDR_BYTES (NET_FRAME_LEN_BYTES + 1 + 1 + 1 + 8 + 8)
#define NET_SEND_HDR_BYTES (NET_FRAME_LEN_BYTES + 1 + 1 + 4)
/* Largest body accepted before a peer is authenticated (a HELLO with the longest chain id). */
#define NET_HS_BODY_BYTES_MAX                                                                      \
    (1 + 2 + 4 + SQ_CHAIN_ID_BYTES_MAX + 4 + SQC_PK_BYTES + NET_NONCE_BYTES)
/* Largest body after authentication. */
#define NET_BODY_BYTES_MAX (SQ_NET_FRAME_BYTES_MAX - NET_FRAME_LEN_BYTES)
static_assert(NET_WRITE_HDR_BYTES <= NET_FRAME_HDR_BYTES_MAX, "write header bound");
static_assert(NET_SEND_HDR_BYTES <= NET_FRAME_HDR_BYTES_MAX, "send header bound");
static_assert(NET_HS_BODY_BYTES_MAX < 256, "handshake frames are small");

/* A decoded frame; pointers borrow the input buffer. */
struct net_frame {
    uint8_t type;
    uint8_t flags;           /* WRITE, SEND */
    uint8_t region;          /* WRITE, REGION */
    uint16_t version;        /* HELLO */
    uint32_t id;             /* HELLO */
    uint32_t imm;            /* SEND */
    uint64_t tag;            /* WRITE, REGION */
    uint64_t offset;         /* WRITE */
    uint64_t value;          /* ACK count, REGION size */
    const uint8_t *chain_id; /* HELLO */
    size_t chain_id_size;
    const uint8_t *pk;    /* HELLO */
    const uint8_t *nonce; /* HELLO */
    const uint8_t *sig;   /* AUTH */
    const uint8_t *data;  /* WRITE, SEND payload */
    size_t data_size;
};

/* Parses one frame from the `avail` bytes at `buf`. SQ_OK: *f is filled and *used is the frame's
 * full size. SQ_EAGAIN: more bytes are needed (nothing consumed). SQ_ETOOBIG: the announced body
 * exceeds `body_max` (checked before anything else is read). SQ_ECORRUPT: empty body, unknown
 * type, unknown flag bits, a field that does not fit, or trailing bytes. */
int net_frame_parse(const uint8_t *buf, size_t avail, size_t body_max, struct net_frame *f,
                    size_t *used);

/* Parses only the head of a SEND frame (length, type, flags, imm) from `avail` bytes, so that its
 * payload can be read straight into its destination. SQ_OK: *f has type, flags, imm and data_size
 * (data is NULL) and the payload starts NET_SEND_HDR_BYTES into the frame. SQ_EAGAIN: fewer than
 * NET_SEND_HDR_BYTES bytes. SQ_ENOTFOUND: anything else (another type, a bad length or flag):
 * net_frame_parse() of the whole frame decides what it is. */
int net_frame_parse_send_head(const uint8_t *buf, size_t avail, size_t body_max,
                              struct net_frame *f);

/* Encoders. Each writes a whole frame header into `out` (NET_FRAME_HDR_BYTES_MAX bytes, or the
 * whole small frame) and returns its size; for WRITE and SEND the `data_size` payload bytes follow
 * separately. */
size_t net_frame_enc_write(uint8_t *out, uint8_t flags, uint8_t region, uint64_t tag,
                           uint64_t offset, size_t data_size);
size_t net_frame_enc_send(uint8_t *out, uint8_t flags, uint32_t imm, size_t data_size);
size_t net_frame_enc_ack(uint8_t *out, uint64_t count);
size_t net_frame_enc_ping(uint8_t *out);
size_t net_frame_enc_region(uint8_t *out, uint8_t region, uint64_t tag, uint64_t size);

/* ---- applying a WRITE ----
 * Copies `size` bytes into `dst` in address order with aligned 8-byte atomic stores wherever an
 * aligned 8-byte word is covered whole (PROTOCOL.md §8.2), byte stores elsewhere, then issues a
 * release fence, so a reader loading an aligned 8-byte scalar with an acquire load never sees it
 * torn and sees earlier WRITEs' data once it sees this one. */
void net_apply_write(uint8_t *dst, const uint8_t *src, size_t size);

/* ---- handshake (docs/transport.md, "Authentication") ----
 * Both sides send HELLO at once. On the peer's HELLO a side checks chain id, version, id (in the
 * set, not itself, lower id dials) and public key (equal to the set's), then sends AUTH: an
 * Ed25519 signature in SQC_DOMAIN_HANDSHAKE over the transcript (chain id, initiator id, acceptor
 * id, both nonces, the signer's role). On the peer's valid AUTH it sends READY. A side is done
 * when it has both sent READY and received the peer's READY; no other frame is accepted before. */
enum net_hs_state {
    NET_HS_WAIT_HELLO = 0,
    NET_HS_WAIT_AUTH,
    NET_HS_WAIT_READY,
    NET_HS_DONE,
    NET_HS_FAILED,
};

struct net_hs {
    bool initiator;
    uint32_t self_id;
    uint32_t expect_id;      /* initiator: the id it dialled */
    const uint8_t *chain_id; /* borrowed */
    size_t chain_id_size;
    const struct sqc_keypair *key;          /* borrowed */
    const struct net_validator *validators; /* borrowed */
    size_t validator_count;
    enum net_hs_state state;
    uint8_t my_nonce[NET_NONCE_BYTES];
    uint8_t peer_nonce[NET_NONCE_BYTES];
    uint32_t peer_id;
    uint8_t peer_pk[SQC_PK_BYTES];
    char reason[128]; /* why it failed, for the log */
};

/* Prepares a handshake and draws a fresh nonce from the CSPRNG. All pointers are borrowed for the
 * handshake's life. `expect_id` is ignored for the acceptor. */
void net_hs_init(struct net_hs *hs, bool initiator, uint32_t self_id, uint32_t expect_id,
                 const uint8_t *chain_id, size_t chain_id_size, const struct sqc_keypair *key,
                 const struct net_validator *validators, size_t validator_count);

/* Encodes this side's HELLO into out (cap >= NET_HS_BODY_BYTES_MAX + 4); returns its size. */
size_t net_hs_hello(const struct net_hs *hs, uint8_t *out, size_t cap);

/* Feeds one frame received during the handshake. SQ_OK: *out_size bytes (maybe 0) in `out` must be
 * sent (cap >= 128). SQ_EAUTH: the peer is refused (wrong chain, unknown id, wrong key, bad
 * signature, wrong direction), reason in hs->reason. SQ_ECORRUPT: a frame that has no place in the
 * handshake. After an error the state is NET_HS_FAILED and every later call fails. */
int net_hs_on_frame(struct net_hs *hs, const struct net_frame *f, uint8_t *out, size_t cap,
                    size_t *out_size);

static inline bool net_hs_is_done(const struct net_hs *hs)
{
    return hs->state == NET_HS_DONE;
}

/* ---- chunked send queue ---- */
#define NET_TXQ_CHUNK_BYTES (64u * 1024)
#define NET_TXQ_IOV_MAX 64
/* Drained chunks kept for reuse: enough for a few RDMC blocks in flight per connection. Freeing
 * and re-allocating them at every flush made the allocator give the heap top back to the kernel
 * and fault it in again, a cost per byte sent. */
#define NET_TXQ_SPARES_MAX 16

struct net_txq_chunk;
struct net_txq {
    struct net_txq_chunk *first;
    struct net_txq_chunk *last;
    struct net_txq_chunk *spare; /* drained chunks kept for reuse (a list) */
    uint32_t spare_count;        /* at most NET_TXQ_SPARES_MAX */
    size_t bytes;
};

void net_txq_init(struct net_txq *q);
void net_txq_free(struct net_txq *q);
/* Appends `size` bytes (copied). SQ_ENOMEM leaves the queue as it was. */
int net_txq_append(struct net_txq *q, const void *data, size_t size);
/* Appends `a` then `b` as one unit: both or (SQ_ENOMEM) neither. */
int net_txq_append2(struct net_txq *q, const void *a, size_t a_size, const void *b, size_t b_size);
/* Fills up to `max` iovecs with the queued bytes from the front; returns how many. */
int net_txq_iov(const struct net_txq *q, struct iovec *iov, int max);
/* Drops `size` bytes (<= bytes queued) from the front. */
void net_txq_consume(struct net_txq *q, size_t size);

/* ---- misc ---- */
/* The validator-set entry for `id`, or NULL. */
const struct net_validator *net_validator_find(const struct net_validator *set, size_t count,
                                               uint32_t id);
/* SQ_OK if the set is well-formed (count 1..NET_PEERS_MAX, ids unique, contains self). */
int net_validators_check(const struct net_validator *set, size_t count, uint32_t self_id);

#endif
