/* The TCP shim's frame codec and the WRITE apply rule (PROTOCOL.md §8.2). */
#include <stdatomic.h>
#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "net/net_int.h"

int net_frame_parse(const uint8_t *buf, size_t avail, size_t body_max, struct net_frame *f,
                    size_t *used)
{
    if (avail < NET_FRAME_LEN_BYTES) {
        return SQ_EAGAIN;
    }
    /* The length is checked before a single body byte is looked at. */
    uint32_t body = sq_le32_load(buf);
    if (body > body_max) {
        return SQ_ETOOBIG;
    }
    if (body == 0) {
        return SQ_ECORRUPT;
    }
    if (avail - NET_FRAME_LEN_BYTES < body) {
        return SQ_EAGAIN;
    }
    memset(f, 0, sizeof(*f));
    struct sq_dec d;
    sq_dec_init(&d, buf + NET_FRAME_LEN_BYTES, body);
    sq_dec_u8(&d, &f->type);
    switch (f->type) {
    case NET_FR_HELLO: {
        sq_dec_u16(&d, &f->version);
        const uint8_t *cid = NULL;
        size_t cid_size = 0;
        if (sq_dec_lp32(&d, SQ_CHAIN_ID_BYTES_MAX, &cid, &cid_size) != SQ_OK) {
            return SQ_ECORRUPT;
        }
        f->chain_id = cid;
        f->chain_id_size = cid_size;
        sq_dec_u32(&d, &f->id);
        f->pk = sq_dec_ref(&d, SQC_PK_BYTES);
        f->nonce = sq_dec_ref(&d, NET_NONCE_BYTES);
        break;
    }
    case NET_FR_AUTH:
        f->sig = sq_dec_ref(&d, SQC_SIG_BYTES);
        break;
    case NET_FR_READY:
    case NET_FR_PING:
        break;
    case NET_FR_WRITE:
        sq_dec_u8(&d, &f->flags);
        sq_dec_u8(&d, &f->region);
        sq_dec_u64(&d, &f->tag);
        sq_dec_u64(&d, &f->offset);
        f->data_size = sq_dec_left(&d);
        f->data = sq_dec_ref(&d, f->data_size);
        break;
    case NET_FR_SEND:
        sq_dec_u8(&d, &f->flags);
        sq_dec_u32(&d, &f->imm);
        f->data_size = sq_dec_left(&d);
        f->data = sq_dec_ref(&d, f->data_size);
        break;
    case NET_FR_ACK:
        sq_dec_u64(&d, &f->value);
        break;
    case NET_FR_REGION:
        sq_dec_u8(&d, &f->region);
        sq_dec_u64(&d, &f->tag);
        sq_dec_u64(&d, &f->value);
        break;
    default:
        return SQ_ECORRUPT;
    }
    if (sq_dec_finish(&d) != SQ_OK) {
        return SQ_ECORRUPT;
    }
    if ((f->type == NET_FR_WRITE || f->type == NET_FR_SEND) &&
        (f->flags & ~NET_FRAME_FLAG_ACK) != 0) {
        return SQ_ECORRUPT;
    }
    if ((f->type == NET_FR_WRITE || f->type == NET_FR_REGION) && f->region >= SQ_NET_REGIONS_MAX) {
        return SQ_ECORRUPT;
    }
    if (f->type == NET_FR_WRITE && f->data_size == 0) {
        return SQ_ECORRUPT;
    }
    *used = NET_FRAME_LEN_BYTES + (size_t)body;
    return SQ_OK;
}

int net_frame_parse_send_head(const uint8_t *buf, size_t avail, size_t body_max,
                              struct net_frame *f)
{
    if (avail < NET_SEND_HDR_BYTES) {
        return SQ_EAGAIN;
    }
    uint32_t body = sq_le32_load(buf);
    if (body > body_max || buf[NET_FRAME_LEN_BYTES] != NET_FR_SEND ||
        body < NET_SEND_HDR_BYTES - NET_FRAME_LEN_BYTES) {
        return SQ_ENOTFOUND; /* not a well-formed SEND head: net_frame_parse() says what it is */
    }
    memset(f, 0, sizeof(*f));
    struct sq_dec d;
    sq_dec_init(&d, buf + NET_FRAME_LEN_BYTES, NET_SEND_HDR_BYTES - NET_FRAME_LEN_BYTES);
    sq_dec_u8(&d, &f->type);
    sq_dec_u8(&d, &f->flags);
    sq_dec_u32(&d, &f->imm);
    if (sq_dec_finish(&d) != SQ_OK || (f->flags & ~NET_FRAME_FLAG_ACK) != 0) {
        return SQ_ENOTFOUND;
    }
    f->data_size = (size_t)body - (NET_SEND_HDR_BYTES - NET_FRAME_LEN_BYTES);
    return SQ_OK;
}

/* Writes the length prefix once the body is known: `total` is the whole frame's size. */
static size_t finish(uint8_t *out, struct sq_enc *e, size_t data_size)
{
    SQ_ASSERT(sq_enc_status(e) == SQ_OK);
    size_t hdr = sq_enc_len(e);
    size_t body = hdr - NET_FRAME_LEN_BYTES + data_size;
    SQ_ASSERT(body <= NET_BODY_BYTES_MAX);
    sq_le32_store(out, (uint32_t)body);
    return hdr;
}

size_t net_frame_enc_write(uint8_t *out, uint8_t flags, uint8_t region, uint64_t tag,
                           uint64_t offset, size_t data_size)
{
    struct sq_enc e;
    sq_enc_init(&e, out, NET_FRAME_HDR_BYTES_MAX);
    sq_enc_u32(&e, 0);
    sq_enc_u8(&e, NET_FR_WRITE);
    sq_enc_u8(&e, flags);
    sq_enc_u8(&e, region);
    sq_enc_u64(&e, tag);
    sq_enc_u64(&e, offset);
    SQ_ASSERT(sq_enc_len(&e) == NET_WRITE_HDR_BYTES);
    return finish(out, &e, data_size);
}

size_t net_frame_enc_send(uint8_t *out, uint8_t flags, uint32_t imm, size_t data_size)
{
    struct sq_enc e;
    sq_enc_init(&e, out, NET_FRAME_HDR_BYTES_MAX);
    sq_enc_u32(&e, 0);
    sq_enc_u8(&e, NET_FR_SEND);
    sq_enc_u8(&e, flags);
    sq_enc_u32(&e, imm);
    SQ_ASSERT(sq_enc_len(&e) == NET_SEND_HDR_BYTES);
    return finish(out, &e, data_size);
}

size_t net_frame_enc_ack(uint8_t *out, uint64_t count)
{
    struct sq_enc e;
    sq_enc_init(&e, out, NET_FRAME_HDR_BYTES_MAX);
    sq_enc_u32(&e, 0);
    sq_enc_u8(&e, NET_FR_ACK);
    sq_enc_u64(&e, count);
    return finish(out, &e, 0);
}

size_t net_frame_enc_ping(uint8_t *out)
{
    struct sq_enc e;
    sq_enc_init(&e, out, NET_FRAME_HDR_BYTES_MAX);
    sq_enc_u32(&e, 0);
    sq_enc_u8(&e, NET_FR_PING);
    return finish(out, &e, 0);
}

size_t net_frame_enc_region(uint8_t *out, uint8_t region, uint64_t tag, uint64_t size)
{
    struct sq_enc e;
    sq_enc_init(&e, out, NET_FRAME_HDR_BYTES_MAX);
    sq_enc_u32(&e, 0);
    sq_enc_u8(&e, NET_FR_REGION);
    sq_enc_u8(&e, region);
    sq_enc_u64(&e, tag);
    sq_enc_u64(&e, size);
    return finish(out, &e, 0);
}

void net_apply_write(uint8_t *dst, const uint8_t *src, size_t size)
{
    size_t i = 0;
    /* Bytes up to the first aligned word. */
    while (i < size && ((uintptr_t)(dst + i) & 7u) != 0) {
        dst[i] = src[i];
        i++;
    }
    /* Whole aligned words: one 8-byte store each, so no reader sees a word half-written. */
    for (; i + 8 <= size; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        __atomic_store_n((uint64_t *)(void *)(dst + i), w, __ATOMIC_RELAXED);
    }
    for (; i < size; i++) {
        dst[i] = src[i];
    }
    /* Release: a reader that sees a later WRITE's data sees this one's (PROTOCOL.md §8.2). */
    atomic_thread_fence(memory_order_release);
}

const struct net_validator *net_validator_find(const struct net_validator *set, size_t count,
                                               uint32_t id)
{
    for (size_t i = 0; i < count; i++) {
        if (set[i].id == id) {
            return &set[i];
        }
    }
    return NULL;
}

int net_validators_check(const struct net_validator *set, size_t count, uint32_t self_id)
{
    if (set == NULL || count == 0 || count > NET_PEERS_MAX) {
        return SQ_EINVAL;
    }
    bool self_found = false;
    for (size_t i = 0; i < count; i++) {
        if (set[i].id == self_id) {
            self_found = true;
        }
        for (size_t j = 0; j < i; j++) {
            if (set[j].id == set[i].id) {
                return SQ_EINVAL;
            }
        }
    }
    return self_found ? SQ_OK : SQ_EINVAL;
}
