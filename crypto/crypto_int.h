/* crypto/ internals shared by the module's own source files. Not for other modules. */
#ifndef SQ_CRYPTO_CRYPTO_INT_H
#define SQ_CRYPTO_CRYPTO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"

/* Fetches OpenSSL's SHA-256 and creates the key that frees each thread's reusable digest context
 * when the thread exits. Runs once (later calls return the first result). Called by sqc_init. */
int sqc_sha256_setup_(void);

/* Writes the bytes Squall actually signs for `domain` into out: tag || 0x00 || digest
 * (crypto.h, "Ed25519 with domain separation"). Returns their length (at most
 * SQC_DOMAIN_MSG_BYTES_MAX). Asserts that `domain` is valid. */
#define SQC_DOMAIN_TAG_BYTES_MAX 31
#define SQC_DOMAIN_MSG_BYTES_MAX (SQC_DOMAIN_TAG_BYTES_MAX + 1 + SQC_HASH_BYTES)
size_t sqc_domain_message_(uint8_t out[SQC_DOMAIN_MSG_BYTES_MAX], enum sqc_domain domain,
                           const uint8_t digest[SQC_HASH_BYTES]);

/* Writes a one-line message into errbuf (if errbuf is not NULL and errbuf_size > 0). */
void sqc_errbuf_set_(char *errbuf, size_t errbuf_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
