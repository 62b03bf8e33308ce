/* Mutual authentication of two validators at connect (docs/transport.md, "Authentication").
 * A pure state machine: frames in, frames out; the caller owns the socket. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "net/net_int.h"

#define HS_LABEL "squall/net-handshake/v1"
#define HS_TRANSCRIPT_BYTES_MAX                                                                    \
    (sizeof(HS_LABEL) + 4 + SQ_CHAIN_ID_BYTES_MAX + 4 + 4 + 2 * NET_NONCE_BYTES + 1)

void net_hs_init(struct net_hs *hs, bool initiator, uint32_t self_id, uint32_t expect_id,
                 const uint8_t *chain_id, size_t chain_id_size, const struct sqc_keypair *key,
                 const struct net_validator *validators, size_t validator_count)
{
    SQ_ASSERT(chain_id != NULL);
    SQ_ASSERT(chain_id_size > 0 && chain_id_size <= SQ_CHAIN_ID_BYTES_MAX);
    SQ_ASSERT(key != NULL);
    memset(hs, 0, sizeof(*hs));
    hs->initiator = initiator;
    hs->self_id = self_id;
    hs->expect_id = expect_id;
    hs->chain_id = chain_id;
    hs->chain_id_size = chain_id_size;
    hs->key = key;
    hs->validators = validators;
    hs->validator_count = validator_count;
    hs->state = NET_HS_WAIT_HELLO;
    sqc_random(hs->my_nonce, sizeof(hs->my_nonce));
}

size_t net_hs_hello(const struct net_hs *hs, uint8_t *out, size_t cap)
{
    struct sq_enc e;
    sq_enc_init(&e, out, cap);
    sq_enc_u32(&e, 0);
    sq_enc_u8(&e, NET_FR_HELLO);
    sq_enc_u16(&e, NET_PROTO_VERSION);
    sq_enc_lp32(&e, hs->chain_id, hs->chain_id_size);
    sq_enc_u32(&e, hs->self_id);
    sq_enc_bytes(&e, hs->key->pk, SQC_PK_BYTES);
    sq_enc_bytes(&e, hs->my_nonce, NET_NONCE_BYTES);
    SQ_ASSERT(sq_enc_status(&e) == SQ_OK);
    size_t n = sq_enc_len(&e);
    sq_le32_store(out, (uint32_t)(n - NET_FRAME_LEN_BYTES));
    return n;
}

/* The bytes each side signs: both ids and nonces in initiator/acceptor order, and the role of the
 * signer, so a signature cannot be replayed in the other direction or on another connection. */
static size_t transcript(const struct net_hs *hs, bool signer_is_initiator, uint8_t *out,
                         size_t cap)
{
    uint32_t init_id = hs->initiator ? hs->self_id : hs->peer_id;
    uint32_t acc_id = hs->initiator ? hs->peer_id : hs->self_id;
    const uint8_t *init_nonce = hs->initiator ? hs->my_nonce : hs->peer_nonce;
    const uint8_t *acc_nonce = hs->initiator ? hs->peer_nonce : hs->my_nonce;
    struct sq_enc e;
    sq_enc_init(&e, out, cap);
    sq_enc_bytes(&e, HS_LABEL, sizeof(HS_LABEL));
    sq_enc_lp32(&e, hs->chain_id, hs->chain_id_size);
    sq_enc_u32(&e, init_id);
    sq_enc_u32(&e, acc_id);
    sq_enc_bytes(&e, init_nonce, NET_NONCE_BYTES);
    sq_enc_bytes(&e, acc_nonce, NET_NONCE_BYTES);
    sq_enc_u8(&e, signer_is_initiator ? 0 : 1);
    SQ_ASSERT(sq_enc_status(&e) == SQ_OK);
    return sq_enc_len(&e);
}

static int refuse(struct net_hs *hs, int rc, const char *fmt, unsigned long a)
    __attribute__((format(printf, 3, 0)));

static int refuse(struct net_hs *hs, int rc, const char *fmt, unsigned long a)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    hs->state = NET_HS_FAILED;
    snprintf(hs->reason, sizeof(hs->reason), fmt, a);
#pragma GCC diagnostic pop
    return rc;
}

static int on_hello(struct net_hs *hs, const struct net_frame *f, uint8_t *out, size_t cap,
                    size_t *out_size)
{
    if (f->version != NET_PROTO_VERSION) {
        return refuse(hs, SQ_EAUTH, "unsupported handshake version %lu", f->version);
    }
    if (f->chain_id_size != hs->chain_id_size ||
        !sqc_equal(f->chain_id, hs->chain_id, hs->chain_id_size)) {
        return refuse(hs, SQ_EAUTH, "peer %lu is on another chain", f->id);
    }
    if (f->id == hs->self_id) {
        return refuse(hs, SQ_EAUTH, "peer claims our own id %lu", f->id);
    }
    const struct net_validator *v = net_validator_find(hs->validators, hs->validator_count, f->id);
    if (v == NULL) {
        return refuse(hs, SQ_EAUTH, "unknown validator id %lu", f->id);
    }
    if (hs->initiator && f->id != hs->expect_id) {
        return refuse(hs, SQ_EAUTH, "dialled peer answered with another id %lu", f->id);
    }
    if (!hs->initiator && f->id > hs->self_id) {
        return refuse(hs, SQ_EAUTH, "higher id %lu dialled a lower one", f->id);
    }
    if (!sqc_equal(f->pk, v->pk, SQC_PK_BYTES)) {
        return refuse(hs, SQ_EAUTH, "key of validator %lu does not match the validator set", f->id);
    }
    hs->peer_id = f->id;
    memcpy(hs->peer_pk, f->pk, SQC_PK_BYTES);
    memcpy(hs->peer_nonce, f->nonce, NET_NONCE_BYTES);

    uint8_t t[HS_TRANSCRIPT_BYTES_MAX];
    size_t tn = transcript(hs, hs->initiator, t, sizeof(t));
    SQ_ASSERT(cap >= NET_FRAME_LEN_BYTES + 1 + SQC_SIG_BYTES);
    sq_le32_store(out, 1 + SQC_SIG_BYTES);
    out[NET_FRAME_LEN_BYTES] = NET_FR_AUTH;
    sqc_sign(hs->key, SQC_DOMAIN_HANDSHAKE, t, tn, out + NET_FRAME_LEN_BYTES + 1);
    *out_size = NET_FRAME_LEN_BYTES + 1 + SQC_SIG_BYTES;
    hs->state = NET_HS_WAIT_AUTH;
    return SQ_OK;
}

static int on_auth(struct net_hs *hs, const struct net_frame *f, uint8_t *out, size_t cap,
                   size_t *out_size)
{
    uint8_t t[HS_TRANSCRIPT_BYTES_MAX];
    size_t tn = transcript(hs, !hs->initiator, t, sizeof(t));
    if (sqc_verify(hs->peer_pk, SQC_DOMAIN_HANDSHAKE, t, tn, f->sig) != SQ_OK) {
        return refuse(hs, SQ_EAUTH, "bad handshake signature from validator %lu", hs->peer_id);
    }
    SQ_ASSERT(cap >= NET_FRAME_LEN_BYTES + 1);
    sq_le32_store(out, 1);
    out[NET_FRAME_LEN_BYTES] = NET_FR_READY;
    *out_size = NET_FRAME_LEN_BYTES + 1;
    hs->state = NET_HS_WAIT_READY;
    return SQ_OK;
}

int net_hs_on_frame(struct net_hs *hs, const struct net_frame *f, uint8_t *out, size_t cap,
                    size_t *out_size)
{
    *out_size = 0;
    switch (hs->state) {
    case NET_HS_WAIT_HELLO:
        if (f->type == NET_FR_HELLO) {
            return on_hello(hs, f, out, cap, out_size);
        }
        break;
    case NET_HS_WAIT_AUTH:
        if (f->type == NET_FR_AUTH) {
            return on_auth(hs, f, out, cap, out_size);
        }
        break;
    case NET_HS_WAIT_READY:
        if (f->type == NET_FR_READY) {
            hs->state = NET_HS_DONE;
            return SQ_OK;
        }
        break;
    case NET_HS_DONE:
    case NET_HS_FAILED:
        break;
    }
    return refuse(hs, SQ_ECORRUPT, "frame type %lu out of place in the handshake", f->type);
}
