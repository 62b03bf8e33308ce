/* Key file format constants and the bounded decoder (docs/formats.md, "Key file"). For crypto/
 * and its tests and fuzz targets only. */
#ifndef SQ_CRYPTO_KEYFILE_INT_H
#define SQ_CRYPTO_KEYFILE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "crypto/crypto.h"

#define SQC_KEYFILE_MAGIC "SQKEY"
#define SQC_KEYFILE_MAGIC_BYTES 5
#define SQC_KEYFILE_VERSION 1

enum sqc_keyfile_kind {
    SQC_KEYFILE_PLAIN = 0,
    SQC_KEYFILE_ENCRYPTED = 1,
};

/* Field offsets (bytes). Everything before SQC_KEYFILE_OFF_SECRET is the header, and all of it is
 * the associated data of the seal. */
#define SQC_KEYFILE_OFF_MAGIC 0
#define SQC_KEYFILE_OFF_VERSION 5
#define SQC_KEYFILE_OFF_KIND 6
#define SQC_KEYFILE_OFF_RESERVED 7
#define SQC_KEYFILE_OFF_OPSLIMIT 8
#define SQC_KEYFILE_OFF_MEMLIMIT 16
#define SQC_KEYFILE_OFF_SALT 24
#define SQC_KEYFILE_OFF_NONCE 40
#define SQC_KEYFILE_OFF_PK 64
#define SQC_KEYFILE_OFF_SECRET 96

#define SQC_KEYFILE_SALT_BYTES 16  /* crypto_pwhash_argon2id_SALTBYTES */
#define SQC_KEYFILE_NONCE_BYTES 24 /* crypto_aead_xchacha20poly1305_ietf_NPUBBYTES */
#define SQC_KEYFILE_TAG_BYTES 16   /* crypto_aead_xchacha20poly1305_ietf_ABYTES */
#define SQC_KEYFILE_HEADER_BYTES SQC_KEYFILE_OFF_SECRET
#define SQC_KEYFILE_PLAIN_BYTES (SQC_KEYFILE_OFF_SECRET + SQC_SEED_BYTES)
#define SQC_KEYFILE_ENCRYPTED_BYTES                                                                \
    (SQC_KEYFILE_OFF_SECRET + SQC_SEED_BYTES + SQC_KEYFILE_TAG_BYTES)

static_assert(SQC_KEYFILE_OFF_NONCE == SQC_KEYFILE_OFF_SALT + SQC_KEYFILE_SALT_BYTES, "layout");
static_assert(SQC_KEYFILE_OFF_PK == SQC_KEYFILE_OFF_NONCE + SQC_KEYFILE_NONCE_BYTES, "layout");
static_assert(SQC_KEYFILE_OFF_SECRET == SQC_KEYFILE_OFF_PK + SQC_PK_BYTES, "layout");
static_assert(SQC_KEYFILE_ENCRYPTED_BYTES <= SQ_KEYFILE_BYTES_MAX, "a key file fits the limit");

/* Argon2id costs a key file may ask for. A file is outside input: without these bounds a damaged
 * or hostile file could make the decoder allocate gigabytes or run for hours. The maxima are
 * above every cost sqc_keyfile_encode writes (SQC_KDF_MODERATE: 3 passes, 256 MiB) with room for
 * a stronger cost later; the minima are libsodium's. The memory cost must be whole KiB. */
#define SQC_KEYFILE_OPSLIMIT_MIN 1u /* crypto_pwhash_argon2id_OPSLIMIT_MIN */
#define SQC_KEYFILE_OPSLIMIT_MAX 10u
#define SQC_KEYFILE_MEMLIMIT_MIN 8192u                  /* crypto_pwhash_argon2id_MEMLIMIT_MIN */
#define SQC_KEYFILE_MEMLIMIT_MAX (512u * 1024u * 1024u) /* 512 MiB */

/* sqc_keyfile_decode with caller-chosen maxima for the Argon2id costs (each at most the
 * SQC_KEYFILE_*_MAX above). A file asking for more is SQ_ECORRUPT before any key derivation. The
 * fuzz target uses SQC_KDF_MIN's costs as maxima so that every input decodes in microseconds. */
int sqc_keyfile_decode_bounded_(const uint8_t *buf, size_t size, const char *passphrase,
                                size_t pass_len, uint64_t opslimit_max, uint64_t memlimit_max,
                                struct sqc_keypair *kp, char *errbuf, size_t errbuf_size);

#endif
