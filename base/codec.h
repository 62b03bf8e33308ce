/* Bounded little-endian encoding and decoding.
 *
 * Every wire and disk format goes through these helpers, never through memcpy of a struct. The
 * encoder writes into a caller-owned buffer and never past its capacity; the decoder reads a
 * caller-owned buffer and never past its end. Both have a sticky failure flag: after the first
 * failure every later call fails too, so a decoder can read a whole record and check once. On
 * failure a decoding call stores zero in its output, so no output is ever left uninitialised.
 * Single-threaded per object. */
#ifndef SQ_BASE_CODEC_H
#define SQ_BASE_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- raw little-endian loads and stores (no bounds: the caller checked) ---- */
static inline void sq_le16_store(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void sq_le32_store(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline void sq_le64_store(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}
static inline uint16_t sq_le16_load(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t sq_le32_load(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t sq_le64_load(const uint8_t *p)
{
    return (uint64_t)sq_le32_load(p) | ((uint64_t)sq_le32_load(p + 4) << 32);
}

/* ---- encoder ---- */
struct sq_enc {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool failed;
};

/* Starts encoding into `buf` of `cap` bytes (buf may be NULL with cap 0 to measure a size: every
 * call then fails, but `len` still counts the bytes that were wanted — see sq_enc_wanted). */
void sq_enc_init(struct sq_enc *enc, void *buf, size_t cap);
void sq_enc_u8(struct sq_enc *enc, uint8_t v);
void sq_enc_u16(struct sq_enc *enc, uint16_t v);
void sq_enc_u32(struct sq_enc *enc, uint32_t v);
void sq_enc_u64(struct sq_enc *enc, uint64_t v);
void sq_enc_i64(struct sq_enc *enc, int64_t v);
void sq_enc_bytes(struct sq_enc *enc, const void *data, size_t size);
void sq_enc_zeros(struct sq_enc *enc, size_t size);
/* A u32 length followed by the bytes. */
void sq_enc_lp32(struct sq_enc *enc, const void *data, size_t size);
/* Reserves `size` bytes and returns where to write them, or NULL (and fails) if they do not fit.
 * The pointer is valid until the buffer is freed by its owner. */
uint8_t *sq_enc_reserve(struct sq_enc *enc, size_t size);
/* SQ_OK if everything fitted, else SQ_ETOOBIG. */
int sq_enc_status(const struct sq_enc *enc);
/* Bytes written so far (valid only while the status is SQ_OK). */
size_t sq_enc_len(const struct sq_enc *enc);
/* Bytes the calls asked for, fitting or not: the size a buffer must have. */
size_t sq_enc_wanted(const struct sq_enc *enc);

/* ---- decoder ---- */
struct sq_dec {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    bool failed;
};

/* Starts decoding the `len` bytes at `buf` (borrowed: they must stay valid while decoding). */
void sq_dec_init(struct sq_dec *dec, const void *buf, size_t len);
/* Each returns SQ_OK, or SQ_ECORRUPT when fewer bytes remain than the value needs (or an earlier
 * call failed); on failure the output is zeroed and the position does not move. */
int sq_dec_u8(struct sq_dec *dec, uint8_t *out);
int sq_dec_u16(struct sq_dec *dec, uint16_t *out);
int sq_dec_u32(struct sq_dec *dec, uint32_t *out);
int sq_dec_u64(struct sq_dec *dec, uint64_t *out);
int sq_dec_i64(struct sq_dec *dec, int64_t *out);
int sq_dec_bytes(struct sq_dec *dec, void *out, size_t size);
/* A borrowed pointer to the next `size` bytes (valid as long as the input buffer), or NULL. */
const uint8_t *sq_dec_ref(struct sq_dec *dec, size_t size);
/* A u32 length, checked against `size_max` and against what remains, then a borrowed pointer to
 * that many bytes. SQ_ECORRUPT if the length is too big for either. */
int sq_dec_lp32(struct sq_dec *dec, size_t size_max, const uint8_t **data, size_t *size);
/* Skips `size` bytes. */
int sq_dec_skip(struct sq_dec *dec, size_t size);
/* Bytes not yet read (0 after a failure). */
size_t sq_dec_left(const struct sq_dec *dec);
/* SQ_OK when nothing failed and every byte was read; SQ_ECORRUPT otherwise (trailing bytes). */
int sq_dec_finish(const struct sq_dec *dec);
/* SQ_OK while nothing has failed. */
int sq_dec_status(const struct sq_dec *dec);

#endif
