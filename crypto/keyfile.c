/* Key files: a versioned binary record holding an Ed25519 seed, in plain or sealed with a key that
 * Argon2id derives from a passphrase (XChaCha20-Poly1305, the whole header as associated data).
 * The byte layout is in keyfile_int.h and docs/formats.md, "Key file". */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/limits.h"
#include "base/log.h"
#include "crypto/crypto.h"
#include "crypto/crypto_int.h"
#include "crypto/keyfile_int.h"

static_assert(SQC_KEYFILE_SALT_BYTES == crypto_pwhash_argon2id_SALTBYTES, "salt size");
static_assert(SQC_KEYFILE_NONCE_BYTES == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce");
static_assert(SQC_KEYFILE_TAG_BYTES == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
static_assert(SQC_KEYFILE_OPSLIMIT_MIN == crypto_pwhash_argon2id_OPSLIMIT_MIN, "Argon2id minimum");
static_assert(SQC_KEYFILE_MEMLIMIT_MIN == crypto_pwhash_argon2id_MEMLIMIT_MIN, "Argon2id minimum");
static_assert(crypto_pwhash_argon2id_OPSLIMIT_MODERATE <= SQC_KEYFILE_OPSLIMIT_MAX,
              "every cost the encoder writes decodes");
static_assert(crypto_pwhash_argon2id_MEMLIMIT_MODERATE <= SQC_KEYFILE_MEMLIMIT_MAX,
              "every cost the encoder writes decodes");
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32, "sealing key size");

#define SEAL_KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES

static void kdf_cost_limits(enum sqc_kdf_cost cost, uint64_t *opslimit, uint64_t *memlimit)
{
    switch (cost) {
    case SQC_KDF_MIN:
        *opslimit = crypto_pwhash_argon2id_OPSLIMIT_MIN;
        *memlimit = crypto_pwhash_argon2id_MEMLIMIT_MIN;
        return;
    case SQC_KDF_INTERACTIVE:
        *opslimit = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
        *memlimit = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
        return;
    case SQC_KDF_MODERATE:
        *opslimit = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
        *memlimit = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
        return;
    }
    SQ_UNREACHABLE();
}

/* Derives the sealing key into `key` (secure memory). SQ_ENOMEM when Argon2id cannot get its
 * memory, the only way it fails with costs inside the bounds. */
static int derive_key(uint8_t key[SEAL_KEY_BYTES], const char *passphrase, size_t pass_len,
                      const uint8_t salt[SQC_KEYFILE_SALT_BYTES], uint64_t opslimit,
                      uint64_t memlimit)
{
    SQ_ASSERT(opslimit >= SQC_KEYFILE_OPSLIMIT_MIN && opslimit <= SQC_KEYFILE_OPSLIMIT_MAX);
    SQ_ASSERT(memlimit >= SQC_KEYFILE_MEMLIMIT_MIN && memlimit <= SQC_KEYFILE_MEMLIMIT_MAX);
    static const char empty[1];
    const char *pass = pass_len > 0 ? passphrase : empty;
    if (crypto_pwhash(key, SEAL_KEY_BYTES, pass, pass_len, salt, opslimit, (size_t)memlimit,
                      crypto_pwhash_ALG_ARGON2ID13) != 0) {
        return SQ_ENOMEM;
    }
    return SQ_OK;
}

int sqc_keyfile_encode(const struct sqc_keypair *kp, const char *passphrase, size_t pass_len,
                       enum sqc_kdf_cost cost, uint8_t *buf, size_t cap, size_t *size)
{
    SQ_ASSERT(kp != NULL);
    SQ_ASSERT(kp->sk != NULL);
    SQ_ASSERT(size != NULL);
    SQ_ASSERT(cap == 0 || buf != NULL);
    SQ_ASSERT(passphrase != NULL || pass_len == 0);
    *size = 0;
    bool encrypted = passphrase != NULL;
    size_t total = encrypted ? SQC_KEYFILE_ENCRYPTED_BYTES : SQC_KEYFILE_PLAIN_BYTES;
    if (cap < total) {
        return SQ_ETOOBIG;
    }
    uint64_t opslimit = 0;
    uint64_t memlimit = 0;
    uint8_t salt[SQC_KEYFILE_SALT_BYTES] = {0};
    uint8_t nonce[SQC_KEYFILE_NONCE_BYTES] = {0};
    if (encrypted) {
        kdf_cost_limits(cost, &opslimit, &memlimit);
        randombytes_buf(salt, sizeof(salt));
        randombytes_buf(nonce, sizeof(nonce));
    }

    struct sq_enc e;
    sq_enc_init(&e, buf, cap);
    sq_enc_bytes(&e, SQC_KEYFILE_MAGIC, SQC_KEYFILE_MAGIC_BYTES);
    sq_enc_u8(&e, SQC_KEYFILE_VERSION);
    sq_enc_u8(&e, encrypted ? SQC_KEYFILE_ENCRYPTED : SQC_KEYFILE_PLAIN);
    sq_enc_u8(&e, 0); /* reserved */
    sq_enc_u64(&e, opslimit);
    sq_enc_u64(&e, memlimit);
    sq_enc_bytes(&e, salt, sizeof(salt));
    sq_enc_bytes(&e, nonce, sizeof(nonce));
    sq_enc_bytes(&e, kp->pk, SQC_PK_BYTES);
    SQ_ASSERT(sq_enc_status(&e) == SQ_OK);
    SQ_ASSERT(sq_enc_len(&e) == SQC_KEYFILE_HEADER_BYTES);

    if (!encrypted) {
        /* Straight from secure memory into the caller's buffer, which now holds a secret. */
        uint8_t *dst = sq_enc_reserve(&e, SQC_SEED_BYTES);
        SQ_ASSERT(dst != NULL);
        sqc_keypair_seed(kp, dst);
        *size = total;
        return SQ_OK;
    }

    int rc = SQ_ENOMEM;
    uint8_t *key = sodium_malloc(SEAL_KEY_BYTES);
    if (key == NULL) {
        goto err_wipe_buf;
    }
    uint8_t *seed = sodium_malloc(SQC_SEED_BYTES);
    if (seed == NULL) {
        goto err_free_key;
    }
    rc = derive_key(key, passphrase, pass_len, salt, opslimit, memlimit);
    if (rc != SQ_OK) {
        goto err_free_seed;
    }
    sqc_keypair_seed(kp, seed);
    uint8_t *sealed = sq_enc_reserve(&e, SQC_SEED_BYTES + SQC_KEYFILE_TAG_BYTES);
    SQ_ASSERT(sealed != NULL);
    unsigned long long sealed_size = 0;
    SQ_ASSERT(crypto_aead_xchacha20poly1305_ietf_encrypt(sealed, &sealed_size, seed, SQC_SEED_BYTES,
                                                         buf, SQC_KEYFILE_HEADER_BYTES, NULL, nonce,
                                                         key) == 0);
    SQ_ASSERT(sealed_size == SQC_SEED_BYTES + SQC_KEYFILE_TAG_BYTES);
    SQ_ASSERT(sq_enc_len(&e) == total);
    sodium_free(seed);
    sodium_free(key);
    *size = total;
    return SQ_OK;

err_free_seed:
    sodium_free(seed);
err_free_key:
    sodium_free(key);
err_wipe_buf:
    sodium_memzero(buf, total);
    return rc;
}

static bool all_zero(const uint8_t *p, size_t size)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < size; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/* Makes the key pair of `seed` and checks it against the stored public key. */
static int keypair_check(struct sqc_keypair *kp, const uint8_t seed[SQC_SEED_BYTES],
                         const uint8_t pk[SQC_PK_BYTES], char *errbuf, size_t errbuf_size)
{
    int rc = sqc_keypair_from_seed(kp, seed);
    if (rc != SQ_OK) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file: out of secure memory");
        return rc;
    }
    if (!sqc_equal(kp->pk, pk, SQC_PK_BYTES)) {
        sqc_keypair_free(kp);
        sqc_errbuf_set_(errbuf, errbuf_size,
                        "key file damaged: the stored public key does not match the seed");
        return SQ_ECORRUPT;
    }
    return SQ_OK;
}

int sqc_keyfile_decode_bounded_(const uint8_t *buf, size_t size, const char *passphrase,
                                size_t pass_len, uint64_t opslimit_max, uint64_t memlimit_max,
                                struct sqc_keypair *kp, char *errbuf, size_t errbuf_size)
{
    SQ_ASSERT(kp != NULL);
    SQ_ASSERT(size == 0 || buf != NULL);
    SQ_ASSERT(passphrase != NULL || pass_len == 0);
    SQ_ASSERT(opslimit_max <= SQC_KEYFILE_OPSLIMIT_MAX);
    SQ_ASSERT(memlimit_max <= SQC_KEYFILE_MEMLIMIT_MAX);
    memset(kp, 0, sizeof(*kp));
    sqc_errbuf_set_(errbuf, errbuf_size, "%s", "");

    struct sq_dec d;
    sq_dec_init(&d, buf, size);
    const uint8_t *magic = sq_dec_ref(&d, SQC_KEYFILE_MAGIC_BYTES);
    if (magic == NULL) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file truncated: %zu bytes", size);
        return SQ_ECORRUPT;
    }
    if (memcmp(magic, SQC_KEYFILE_MAGIC, SQC_KEYFILE_MAGIC_BYTES) != 0) {
        sqc_errbuf_set_(errbuf, errbuf_size, "not a Squall key file (no SQKEY magic)");
        return SQ_ECORRUPT;
    }
    uint8_t version;
    if (sq_dec_u8(&d, &version) != SQ_OK) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file truncated: %zu bytes", size);
        return SQ_ECORRUPT;
    }
    if (version != SQC_KEYFILE_VERSION) {
        sqc_errbuf_set_(errbuf, errbuf_size,
                        "key file version %u is not supported (this build reads version %u)",
                        version, SQC_KEYFILE_VERSION);
        return SQ_EVERSION;
    }
    uint8_t kind;
    uint8_t reserved;
    uint64_t opslimit;
    uint64_t memlimit;
    sq_dec_u8(&d, &kind);
    sq_dec_u8(&d, &reserved);
    sq_dec_u64(&d, &opslimit);
    sq_dec_u64(&d, &memlimit);
    const uint8_t *salt = sq_dec_ref(&d, SQC_KEYFILE_SALT_BYTES);
    const uint8_t *nonce = sq_dec_ref(&d, SQC_KEYFILE_NONCE_BYTES);
    const uint8_t *pk = sq_dec_ref(&d, SQC_PK_BYTES);
    if (sq_dec_status(&d) != SQ_OK) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file truncated: %zu bytes", size);
        return SQ_ECORRUPT;
    }
    SQ_ASSERT(salt != NULL && nonce != NULL && pk != NULL);
    if (kind != SQC_KEYFILE_PLAIN && kind != SQC_KEYFILE_ENCRYPTED) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file damaged: unknown kind %u", kind);
        return SQ_ECORRUPT;
    }
    if (reserved != 0) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file damaged: reserved byte is %u", reserved);
        return SQ_ECORRUPT;
    }
    size_t want = kind == SQC_KEYFILE_PLAIN ? SQC_KEYFILE_PLAIN_BYTES : SQC_KEYFILE_ENCRYPTED_BYTES;
    if (size != want) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file %s: %zu bytes, expected %zu",
                        size < want ? "truncated" : "damaged", size, want);
        return SQ_ECORRUPT;
    }
    const uint8_t *secret = sq_dec_ref(&d, size - SQC_KEYFILE_HEADER_BYTES);
    SQ_ASSERT(secret != NULL);
    SQ_ASSERT(sq_dec_finish(&d) == SQ_OK);

    if (kind == SQC_KEYFILE_PLAIN) {
        if (opslimit != 0 || memlimit != 0 || !all_zero(salt, SQC_KEYFILE_SALT_BYTES) ||
            !all_zero(nonce, SQC_KEYFILE_NONCE_BYTES)) {
            sqc_errbuf_set_(errbuf, errbuf_size,
                            "key file damaged: a plain key file has nonzero sealing fields");
            return SQ_ECORRUPT;
        }
        return keypair_check(kp, secret, pk, errbuf, errbuf_size);
    }

    if (passphrase == NULL) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file is encrypted: a passphrase is needed");
        return SQ_EINVAL;
    }
    if (opslimit < SQC_KEYFILE_OPSLIMIT_MIN || opslimit > opslimit_max ||
        memlimit < SQC_KEYFILE_MEMLIMIT_MIN || memlimit > memlimit_max || memlimit % 1024 != 0) {
        sqc_errbuf_set_(errbuf, errbuf_size,
                        "key file damaged: Argon2id cost out of bounds (opslimit %llu, memlimit "
                        "%llu bytes; allowed %u..%llu passes, %u..%llu bytes in whole KiB)",
                        (unsigned long long)opslimit, (unsigned long long)memlimit,
                        SQC_KEYFILE_OPSLIMIT_MIN, (unsigned long long)opslimit_max,
                        SQC_KEYFILE_MEMLIMIT_MIN, (unsigned long long)memlimit_max);
        return SQ_ECORRUPT;
    }

    int rc = SQ_ENOMEM;
    uint8_t *key = sodium_malloc(SEAL_KEY_BYTES);
    if (key == NULL) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file: out of secure memory");
        goto err;
    }
    uint8_t *seed = sodium_malloc(SQC_SEED_BYTES);
    if (seed == NULL) {
        sqc_errbuf_set_(errbuf, errbuf_size, "key file: out of secure memory");
        goto err_free_key;
    }
    rc = derive_key(key, passphrase, pass_len, salt, opslimit, memlimit);
    if (rc != SQ_OK) {
        sqc_errbuf_set_(errbuf, errbuf_size,
                        "key file: Argon2id could not get %llu bytes of memory",
                        (unsigned long long)memlimit);
        goto err_free_seed;
    }
    unsigned long long seed_size = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(seed, &seed_size, NULL, secret,
                                                   SQC_SEED_BYTES + SQC_KEYFILE_TAG_BYTES, buf,
                                                   SQC_KEYFILE_HEADER_BYTES, nonce, key) != 0) {
        rc = SQ_EAUTH;
        sqc_errbuf_set_(errbuf, errbuf_size,
                        "wrong passphrase for this key file (or the file was altered)");
        goto err_free_seed;
    }
    SQ_ASSERT(seed_size == SQC_SEED_BYTES);
    rc = keypair_check(kp, seed, pk, errbuf, errbuf_size);

err_free_seed:
    sodium_free(seed);
err_free_key:
    sodium_free(key);
err:
    SQ_ASSERT(SQ_IMPLIES(rc != SQ_OK, kp->sk == NULL));
    return rc;
}

int sqc_keyfile_decode(const uint8_t *buf, size_t size, const char *passphrase, size_t pass_len,
                       struct sqc_keypair *kp, char *errbuf, size_t errbuf_size)
{
    return sqc_keyfile_decode_bounded_(buf, size, passphrase, pass_len, SQC_KEYFILE_OPSLIMIT_MAX,
                                       SQC_KEYFILE_MEMLIMIT_MAX, kp, errbuf, errbuf_size);
}

bool sqc_keyfile_is_encrypted(const uint8_t *buf, size_t size)
{
    if (buf == NULL || size != SQC_KEYFILE_ENCRYPTED_BYTES) {
        return false;
    }
    return memcmp(buf, SQC_KEYFILE_MAGIC, SQC_KEYFILE_MAGIC_BYTES) == 0 &&
           buf[SQC_KEYFILE_OFF_VERSION] == SQC_KEYFILE_VERSION &&
           buf[SQC_KEYFILE_OFF_KIND] == SQC_KEYFILE_ENCRYPTED;
}

/* ---- files ---- */

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Makes the new directory entry durable. */
static int fsync_parent_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) {
        return -1;
    }
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* Gives the finished temporary file its final name unless that name exists. link() refuses to
 * replace an existing file atomically; where a file system has no hard links, renameat2 with
 * RENAME_NOREPLACE does the same. */
static int publish_no_replace(const char *tmp, const char *path)
{
    if (link(tmp, path) == 0) {
        /* Published. A leftover temporary name is untidy, not an error: it is a 0600 copy. */
        if (unlink(tmp) != 0) {
            SQ_WARN("crypto", "cannot remove temporary key file", "path=%s err=%d", tmp, errno);
        }
        return 0;
    }
    if (errno != EPERM && errno != EOPNOTSUPP && errno != ENOSYS) {
        return -1;
    }
    return renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE);
}

int sqc_keyfile_write(const char *path, const struct sqc_keypair *kp, const char *passphrase,
                      size_t pass_len, enum sqc_kdf_cost cost, char *errbuf, size_t errbuf_size)
{
    SQ_ASSERT(path != NULL);
    SQ_ASSERT(kp != NULL);
    sqc_errbuf_set_(errbuf, errbuf_size, "%s", "");
    struct stat st;
    if (lstat(path, &st) == 0) {
        /* Checked again atomically when the file is published; this spares the Argon2id run. */
        sqc_errbuf_set_(errbuf, errbuf_size, "%s already exists; refusing to overwrite a key",
                        path);
        return SQ_EEXIST;
    }

    int rc = SQ_ENOMEM;
    uint8_t *buf = sodium_malloc(SQ_KEYFILE_BYTES_MAX); /* may hold a plain seed */
    if (buf == NULL) {
        sqc_errbuf_set_(errbuf, errbuf_size, "out of secure memory");
        goto err;
    }
    size_t size = 0;
    rc = sqc_keyfile_encode(kp, passphrase, pass_len, cost, buf, SQ_KEYFILE_BYTES_MAX, &size);
    if (rc != SQ_OK) {
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot encode the key file: %s", sq_strerror(rc));
        goto err_free_buf;
    }
    size_t tmp_cap = strlen(path) + sizeof(".tmp.XXXXXX");
    char *tmp = malloc(tmp_cap);
    if (tmp == NULL) {
        rc = SQ_ENOMEM;
        goto err_free_buf;
    }
    snprintf(tmp, tmp_cap, "%s.tmp.XXXXXX", path);
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 from the start: the seed is never exposed */
    if (fd < 0) {
        rc = SQ_EIO;
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot create %s: %s", tmp, strerror(errno));
        goto err_free_tmp;
    }
    const char *step = NULL;
    if (fchmod(fd, S_IRUSR | S_IWUSR) != 0) {
        step = "chmod";
    } else if (write_all(fd, buf, size) != 0) {
        step = "write";
    } else if (fsync(fd) != 0) {
        step = "fsync";
    }
    if (step != NULL) {
        rc = SQ_EIO;
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot %s %s: %s", step, tmp, strerror(errno));
        close(fd);
        goto err_unlink_tmp;
    }
    if (close(fd) != 0) {
        rc = SQ_EIO;
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot close %s: %s", tmp, strerror(errno));
        goto err_unlink_tmp;
    }
    if (publish_no_replace(tmp, path) != 0) {
        rc = errno == EEXIST ? SQ_EEXIST : SQ_EIO;
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot create %s: %s", path, strerror(errno));
        goto err_unlink_tmp;
    }
    if (fsync_parent_dir(path) != 0) {
        /* The file is complete and in place; only its durability across a crash is unknown. */
        rc = SQ_EIO;
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot fsync the directory of %s: %s", path,
                        strerror(errno));
        goto err_free_tmp;
    }
    free(tmp);
    sodium_free(buf);
    return SQ_OK;

err_unlink_tmp:
    unlink(tmp);
err_free_tmp:
    free(tmp);
err_free_buf:
    sodium_free(buf);
err:
    return rc;
}

int sqc_keyfile_read(const char *path, const char *passphrase, size_t pass_len,
                     struct sqc_keypair *kp, char *errbuf, size_t errbuf_size)
{
    SQ_ASSERT(path != NULL);
    SQ_ASSERT(kp != NULL);
    memset(kp, 0, sizeof(*kp));
    sqc_errbuf_set_(errbuf, errbuf_size, "%s", "");
    /* O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int rc = errno == ENOENT ? SQ_ENOTFOUND : SQ_EIO;
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot open %s: %s", path, strerror(errno));
        return rc;
    }
    int rc = SQ_EIO;
    uint8_t *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        sqc_errbuf_set_(errbuf, errbuf_size, "cannot stat %s: %s", path, strerror(errno));
        goto err_close;
    }
    if (!S_ISREG(st.st_mode)) {
        sqc_errbuf_set_(errbuf, errbuf_size, "%s is not a regular file", path);
        goto err_close;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        SQ_WARN("crypto", "key file is accessible to group or others", "path=%s mode=%03o", path,
                (unsigned)(st.st_mode & 0777));
    }
    rc = SQ_ENOMEM;
    buf = sodium_malloc(SQ_KEYFILE_BYTES_MAX + 1); /* may hold a plain seed */
    if (buf == NULL) {
        sqc_errbuf_set_(errbuf, errbuf_size, "out of secure memory");
        goto err_close;
    }
    /* Read one byte past the limit to tell a too-big file from one that fits exactly. */
    size_t size = 0;
    while (size < SQ_KEYFILE_BYTES_MAX + 1) {
        ssize_t n = read(fd, buf + size, SQ_KEYFILE_BYTES_MAX + 1 - size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            rc = SQ_EIO;
            sqc_errbuf_set_(errbuf, errbuf_size, "cannot read %s: %s", path, strerror(errno));
            goto err_free_buf;
        }
        if (n == 0) {
            break;
        }
        size += (size_t)n;
    }
    if (size > SQ_KEYFILE_BYTES_MAX) {
        rc = SQ_ECORRUPT;
        sqc_errbuf_set_(errbuf, errbuf_size, "%s is not a key file: larger than %u bytes", path,
                        (unsigned)SQ_KEYFILE_BYTES_MAX);
        goto err_free_buf;
    }
    rc = sqc_keyfile_decode(buf, size, passphrase, pass_len, kp, errbuf, errbuf_size);

err_free_buf:
    sodium_free(buf);
err_close:
    close(fd);
    return rc;
}
