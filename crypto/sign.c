/* Ed25519 (libsodium) with Squall's domain separation, and key pairs in secure memory. */
#include <string.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/err.h"
#include "crypto/crypto.h"
#include "crypto/crypto_int.h"

static_assert(SQC_PK_BYTES == crypto_sign_PUBLICKEYBYTES, "public key size");
static_assert(SQC_SK_BYTES == crypto_sign_SECRETKEYBYTES, "secret key size");
static_assert(SQC_SEED_BYTES == crypto_sign_SEEDBYTES, "seed size");
static_assert(SQC_SIG_BYTES == crypto_sign_BYTES, "signature size");

/* Frozen: changing a tag invalidates every signature made in its domain (docs/formats.md). */
static const char *const domain_tags[SQC_DOMAIN_COUNT_] = {
    [SQC_DOMAIN_TX] = "squall/tx/v1",
    [SQC_DOMAIN_BATCH] = "squall/batch/v1",
    [SQC_DOMAIN_FINALITY] = "squall/finality/v1",
    [SQC_DOMAIN_HANDSHAKE] = "squall/handshake/v1",
    [SQC_DOMAIN_GOVERNANCE] = "squall/gov/v1",
    [SQC_DOMAIN_LOG] = "squall/log/v1",
    [SQC_DOMAIN_TEST] = "squall/test/v1",
};
static_assert(sizeof("squall/handshake/v1") - 1 <= SQC_DOMAIN_TAG_BYTES_MAX, "longest tag fits");

const char *sqc_domain_tag(enum sqc_domain domain)
{
    SQ_ASSERT((unsigned)domain < SQC_DOMAIN_COUNT_);
    return domain_tags[domain];
}

size_t sqc_domain_message_(uint8_t out[SQC_DOMAIN_MSG_BYTES_MAX], enum sqc_domain domain,
                           const uint8_t digest[SQC_HASH_BYTES])
{
    SQ_ASSERT((unsigned)domain < SQC_DOMAIN_COUNT_);
    const char *tag = domain_tags[domain];
    size_t tag_size = strlen(tag);
    SQ_ASSERT(tag_size <= SQC_DOMAIN_TAG_BYTES_MAX);
    /* No tag contains 0x00 (strlen stops at the first) and the digest has a fixed length, so
     * tag || 0x00 || digest parses in one way only: two domains can never produce the same
     * signed bytes. */
    memcpy(out, tag, tag_size);
    out[tag_size] = 0x00;
    memcpy(out + tag_size + 1, digest, SQC_HASH_BYTES);
    return tag_size + 1 + SQC_HASH_BYTES;
}

/* ---- key pairs ---- */

int sqc_keypair_generate(struct sqc_keypair *kp)
{
    SQ_ASSERT(kp != NULL);
    memset(kp, 0, sizeof(*kp));
    kp->sk = sodium_malloc(SQC_SK_BYTES);
    if (kp->sk == NULL) {
        return SQ_ENOMEM;
    }
    SQ_ASSERT(crypto_sign_keypair(kp->pk, kp->sk) == 0);
    return SQ_OK;
}

int sqc_keypair_from_seed(struct sqc_keypair *kp, const uint8_t seed[SQC_SEED_BYTES])
{
    SQ_ASSERT(kp != NULL);
    SQ_ASSERT(seed != NULL);
    memset(kp, 0, sizeof(*kp));
    kp->sk = sodium_malloc(SQC_SK_BYTES);
    if (kp->sk == NULL) {
        return SQ_ENOMEM;
    }
    SQ_ASSERT(crypto_sign_seed_keypair(kp->pk, kp->sk, seed) == 0);
    return SQ_OK;
}

void sqc_keypair_seed(const struct sqc_keypair *kp, uint8_t seed[SQC_SEED_BYTES])
{
    SQ_ASSERT(kp != NULL);
    SQ_ASSERT(kp->sk != NULL);
    SQ_ASSERT(seed != NULL);
    SQ_ASSERT(crypto_sign_ed25519_sk_to_seed(seed, kp->sk) == 0);
}

void sqc_keypair_free(struct sqc_keypair *kp)
{
    SQ_ASSERT(kp != NULL);
    sodium_free(kp->sk); /* wipes; NULL is a no-op */
    kp->sk = NULL;
    sodium_memzero(kp->pk, sizeof(kp->pk));
}

/* ---- signatures ---- */

void sqc_sign_digest(const struct sqc_keypair *kp, enum sqc_domain domain,
                     const uint8_t digest[SQC_HASH_BYTES], uint8_t sig[SQC_SIG_BYTES])
{
    SQ_ASSERT(kp != NULL);
    SQ_ASSERT(kp->sk != NULL);
    SQ_ASSERT(digest != NULL);
    SQ_ASSERT(sig != NULL);
    uint8_t m[SQC_DOMAIN_MSG_BYTES_MAX];
    size_t m_size = sqc_domain_message_(m, domain, digest);
    SQ_ASSERT(crypto_sign_detached(sig, NULL, m, m_size, kp->sk) == 0);
}

void sqc_sign(const struct sqc_keypair *kp, enum sqc_domain domain, const void *msg, size_t size,
              uint8_t sig[SQC_SIG_BYTES])
{
    uint8_t digest[SQC_HASH_BYTES];
    sqc_sha256(digest, msg, size);
    sqc_sign_digest(kp, domain, digest, sig);
}

int sqc_verify_digest(const uint8_t pk[SQC_PK_BYTES], enum sqc_domain domain,
                      const uint8_t digest[SQC_HASH_BYTES], const uint8_t sig[SQC_SIG_BYTES])
{
    SQ_ASSERT(pk != NULL);
    SQ_ASSERT(digest != NULL);
    SQ_ASSERT(sig != NULL);
    uint8_t m[SQC_DOMAIN_MSG_BYTES_MAX];
    size_t m_size = sqc_domain_message_(m, domain, digest);
    /* libsodium rejects non-canonical S, small-order and non-canonical keys and R: those come back
     * as a bad signature like any other forgery. */
    if (crypto_sign_verify_detached(sig, m, m_size, pk) != 0) {
        return SQ_EBADSIG;
    }
    return SQ_OK;
}

int sqc_verify(const uint8_t pk[SQC_PK_BYTES], enum sqc_domain domain, const void *msg, size_t size,
               const uint8_t sig[SQC_SIG_BYTES])
{
    uint8_t digest[SQC_HASH_BYTES];
    sqc_sha256(digest, msg, size);
    return sqc_verify_digest(pk, domain, digest, sig);
}

void sqc_ed25519_sign_raw(const struct sqc_keypair *kp, const void *msg, size_t size,
                          uint8_t sig[SQC_SIG_BYTES])
{
    SQ_ASSERT(kp != NULL);
    SQ_ASSERT(kp->sk != NULL);
    SQ_ASSERT(size == 0 || msg != NULL);
    SQ_ASSERT(sig != NULL);
    static const uint8_t empty[1];
    const uint8_t *m = size > 0 ? msg : empty; /* never hand libsodium a NULL pointer */
    SQ_ASSERT(crypto_sign_detached(sig, NULL, m, size, kp->sk) == 0);
}

int sqc_ed25519_verify_raw(const uint8_t pk[SQC_PK_BYTES], const void *msg, size_t size,
                           const uint8_t sig[SQC_SIG_BYTES])
{
    SQ_ASSERT(pk != NULL);
    SQ_ASSERT(size == 0 || msg != NULL);
    SQ_ASSERT(sig != NULL);
    static const uint8_t empty[1];
    const uint8_t *m = size > 0 ? msg : empty;
    if (crypto_sign_verify_detached(sig, m, size, pk) != 0) {
        return SQ_EBADSIG;
    }
    return SQ_OK;
}
