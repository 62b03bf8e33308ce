/* Fuzzes the key-file decoder with a fixed passphrase. Inputs are either raw bytes or edits to a
 * valid key file (plain or encrypted) made at start-up, so the fuzzer reaches the key derivation
 * and the seal as well as the header checks. The Argon2id costs a file may ask for are bounded to
 * SQC_KDF_MIN's (the decoder's own bounds are far larger), so each input takes microseconds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "crypto/crypto.h"
#include "crypto/keyfile_int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char pass[] = "fuzz passphrase";
static struct sqc_keypair key;
static uint8_t plain_file[SQ_KEYFILE_BYTES_MAX];
static size_t plain_size;
static uint8_t sealed_file[SQ_KEYFILE_BYTES_MAX];
static size_t sealed_size;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    SQ_ASSERT(sqc_init() == SQ_OK);
    uint8_t seed[SQC_SEED_BYTES];
    memset(seed, 0x42, sizeof(seed));
    SQ_ASSERT(sqc_keypair_from_seed(&key, seed) == SQ_OK);
    SQ_ASSERT(sqc_keyfile_encode(&key, NULL, 0, SQC_KDF_MIN, plain_file, sizeof(plain_file),
                                 &plain_size) == SQ_OK);
    SQ_ASSERT(sqc_keyfile_encode(&key, pass, sizeof(pass) - 1, SQC_KDF_MIN, sealed_file,
                                 sizeof(sealed_file), &sealed_size) == SQ_OK);
    return 0;
}

static void decode_one(const uint8_t *buf, size_t size)
{
    struct sqc_keypair kp;
    char err[256];
    int rc =
        sqc_keyfile_decode_bounded_(buf, size, pass, sizeof(pass) - 1, SQC_KEYFILE_OPSLIMIT_MIN,
                                    SQC_KEYFILE_MEMLIMIT_MIN, &kp, err, sizeof(err));
    if (rc != SQ_OK) {
        SQ_ASSERT(rc == SQ_ECORRUPT || rc == SQ_EVERSION || rc == SQ_EAUTH);
        SQ_ASSERT(kp.sk == NULL);
        SQ_ASSERT(err[0] != '\0');
        return;
    }
    /* Accepted: a consistent key pair came out. Only a file sealed with our passphrase or a plain
     * one can get here, and re-encoding round-trips. */
    SQ_ASSERT(kp.sk != NULL);
    uint8_t again[SQ_KEYFILE_BYTES_MAX];
    size_t again_size = 0;
    SQ_ASSERT(sqc_keyfile_encode(&kp, NULL, 0, SQC_KDF_MIN, again, sizeof(again), &again_size) ==
              SQ_OK);
    struct sqc_keypair back;
    SQ_ASSERT(sqc_keyfile_decode(again, again_size, NULL, 0, &back, NULL, 0) == SQ_OK);
    SQ_ASSERT(memcmp(back.pk, kp.pk, SQC_PK_BYTES) == 0);
    SQ_ASSERT(sqc_keyfile_is_encrypted(buf, size) == (size == SQC_KEYFILE_ENCRYPTED_BYTES));
    sqc_keypair_free(&back);
    sqc_keypair_free(&kp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint8_t mode = data[0];
    data++;
    size--;
    if ((mode & 1) == 0) {
        decode_one(data, size);
        return 0;
    }
    /* Edit a valid file: XOR the input over it, and maybe cut it short or extend it. */
    const uint8_t *base = (mode & 2) ? sealed_file : plain_file;
    size_t base_size = (mode & 2) ? sealed_size : plain_size;
    size_t out_size = base_size;
    if (mode & 4) {
        out_size = size < base_size ? size : base_size;
    } else if ((mode & 8) && size > base_size) {
        out_size = size < SQ_KEYFILE_BYTES_MAX ? size : SQ_KEYFILE_BYTES_MAX;
    }
    uint8_t *buf = malloc(out_size > 0 ? out_size : 1); /* exact size for ASan */
    SQ_ASSERT(buf != NULL);
    memset(buf, 0, out_size);
    memcpy(buf, base, out_size < base_size ? out_size : base_size);
    for (size_t i = 0; i < size && i < out_size; i++) {
        buf[i] ^= data[i];
    }
    decode_one(buf, out_size);
    free(buf);
    return 0;
}
