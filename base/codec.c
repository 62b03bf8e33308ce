#include "base/codec.h"

#include <string.h>

#include "base/assert.h"
#include "base/err.h"

void sq_enc_init(struct sq_enc *enc, void *buf, size_t cap)
{
    SQ_ASSERT(buf != NULL || cap == 0);
    enc->buf = buf;
    enc->cap = cap;
    enc->len = 0;
    enc->failed = false;
}

uint8_t *sq_enc_reserve(struct sq_enc *enc, size_t size)
{
    size_t end = enc->len + size;
    if (end < enc->len) {
        enc->failed = true; /* overflow of size_t: cannot fit anywhere */
        enc->len = SIZE_MAX;
        return NULL;
    }
    uint8_t *p = NULL;
    if (!enc->failed && end <= enc->cap) {
        p = enc->buf + enc->len;
    } else {
        enc->failed = true;
    }
    /* len keeps counting after a failure so sq_enc_wanted() can size a buffer. */
    enc->len = end;
    return p;
}

void sq_enc_u8(struct sq_enc *enc, uint8_t v)
{
    uint8_t *p = sq_enc_reserve(enc, 1);
    if (p != NULL) {
        p[0] = v;
    }
}

void sq_enc_u16(struct sq_enc *enc, uint16_t v)
{
    uint8_t *p = sq_enc_reserve(enc, 2);
    if (p != NULL) {
        sq_le16_store(p, v);
    }
}

void sq_enc_u32(struct sq_enc *enc, uint32_t v)
{
    uint8_t *p = sq_enc_reserve(enc, 4);
    if (p != NULL) {
        sq_le32_store(p, v);
    }
}

void sq_enc_u64(struct sq_enc *enc, uint64_t v)
{
    uint8_t *p = sq_enc_reserve(enc, 8);
    if (p != NULL) {
        sq_le64_store(p, v);
    }
}

void sq_enc_i64(struct sq_enc *enc, int64_t v)
{
    sq_enc_u64(enc, (uint64_t)v);
}

void sq_enc_bytes(struct sq_enc *enc, const void *data, size_t size)
{
    uint8_t *p = sq_enc_reserve(enc, size);
    if (p != NULL && size > 0) {
        memcpy(p, data, size);
    }
}

void sq_enc_zeros(struct sq_enc *enc, size_t size)
{
    uint8_t *p = sq_enc_reserve(enc, size);
    if (p != NULL && size > 0) {
        memset(p, 0, size);
    }
}

void sq_enc_lp32(struct sq_enc *enc, const void *data, size_t size)
{
    if (size > UINT32_MAX) {
        enc->failed = true;
        return;
    }
    sq_enc_u32(enc, (uint32_t)size);
    sq_enc_bytes(enc, data, size);
}

int sq_enc_status(const struct sq_enc *enc)
{
    return enc->failed ? SQ_ETOOBIG : SQ_OK;
}

size_t sq_enc_len(const struct sq_enc *enc)
{
    return enc->failed ? 0 : enc->len;
}

size_t sq_enc_wanted(const struct sq_enc *enc)
{
    return enc->len;
}

void sq_dec_init(struct sq_dec *dec, const void *buf, size_t len)
{
    SQ_ASSERT(buf != NULL || len == 0);
    dec->buf = buf;
    dec->len = len;
    dec->pos = 0;
    dec->failed = false;
}

size_t sq_dec_left(const struct sq_dec *dec)
{
    if (dec->failed) {
        return 0;
    }
    SQ_ASSERT(dec->pos <= dec->len);
    return dec->len - dec->pos;
}

const uint8_t *sq_dec_ref(struct sq_dec *dec, size_t size)
{
    if (dec->failed || size > dec->len - dec->pos) {
        dec->failed = true;
        return NULL;
    }
    const uint8_t *p = dec->buf + dec->pos;
    dec->pos += size;
    return p;
}

int sq_dec_u8(struct sq_dec *dec, uint8_t *out)
{
    const uint8_t *p = sq_dec_ref(dec, 1);
    *out = p ? p[0] : 0;
    return p ? SQ_OK : SQ_ECORRUPT;
}

int sq_dec_u16(struct sq_dec *dec, uint16_t *out)
{
    const uint8_t *p = sq_dec_ref(dec, 2);
    *out = p ? sq_le16_load(p) : 0;
    return p ? SQ_OK : SQ_ECORRUPT;
}

int sq_dec_u32(struct sq_dec *dec, uint32_t *out)
{
    const uint8_t *p = sq_dec_ref(dec, 4);
    *out = p ? sq_le32_load(p) : 0;
    return p ? SQ_OK : SQ_ECORRUPT;
}

int sq_dec_u64(struct sq_dec *dec, uint64_t *out)
{
    const uint8_t *p = sq_dec_ref(dec, 8);
    *out = p ? sq_le64_load(p) : 0;
    return p ? SQ_OK : SQ_ECORRUPT;
}

int sq_dec_i64(struct sq_dec *dec, int64_t *out)
{
    uint64_t v;
    int rc = sq_dec_u64(dec, &v);
    *out = (int64_t)v;
    return rc;
}

int sq_dec_bytes(struct sq_dec *dec, void *out, size_t size)
{
    const uint8_t *p = sq_dec_ref(dec, size);
    if (p == NULL) {
        if (size > 0) {
            memset(out, 0, size);
        }
        return SQ_ECORRUPT;
    }
    if (size > 0) {
        memcpy(out, p, size);
    }
    return SQ_OK;
}

int sq_dec_lp32(struct sq_dec *dec, size_t size_max, const uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    size_t saved = dec->pos;
    uint32_t n;
    if (sq_dec_u32(dec, &n) != SQ_OK) {
        return SQ_ECORRUPT;
    }
    if (n > size_max || n > dec->len - dec->pos) {
        dec->pos = saved;
        dec->failed = true;
        return SQ_ECORRUPT;
    }
    *data = dec->buf + dec->pos;
    *size = n;
    dec->pos += n;
    return SQ_OK;
}

int sq_dec_skip(struct sq_dec *dec, size_t size)
{
    return sq_dec_ref(dec, size) ? SQ_OK : SQ_ECORRUPT;
}

int sq_dec_finish(const struct sq_dec *dec)
{
    return (!dec->failed && dec->pos == dec->len) ? SQ_OK : SQ_ECORRUPT;
}

int sq_dec_status(const struct sq_dec *dec)
{
    return dec->failed ? SQ_ECORRUPT : SQ_OK;
}
