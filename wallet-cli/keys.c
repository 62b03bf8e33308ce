/* The keystore: one key file, encrypted by default (crypto/crypto.h), and its passphrase. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err.h"
#include "base/secret.h"
#include "wallet-cli/wallet.h"

/* docs/formats.md, "Key file": magic, version, kind, reserved, costs, salt, nonce, then the
 * public key at offset 64 in both kinds. */
#define KEYFILE_MAGIC "SQKEY"
#define KEYFILE_PK_OFFSET 64
#define KEYFILE_KIND_OFFSET 6
#define KEYFILE_KIND_SEALED 1

void wal_secret_free(struct wal_secret *s)
{
    if (s->data != NULL) {
        sqc_wipe(s->data, s->size);
        sqc_secure_free(s->data);
    }
    s->data = NULL;
    s->size = 0;
}

int wal_passphrase_get(const char *file, const char *prompt, bool confirm, struct wal_secret *out,
                       struct wal_err *e)
{
    out->data = NULL;
    out->size = 0;
    char *buf = sqc_secure_alloc(SQ_PASSPHRASE_BYTES_MAX + 1);
    if (buf == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of secure memory");
    }
    char reason[256] = "";
    size_t len = 0;
    int rc;
    int exit = WAL_EXIT_KEY;
    if (file != NULL && file[0] != '\0') {
        rc = sq_passphrase_from_file(file, buf, SQ_PASSPHRASE_BYTES_MAX + 1, &len, reason,
                                     sizeof(reason));
        exit = (rc == SQ_ENOTFOUND || rc == SQ_EIO) ? WAL_EXIT_IO : WAL_EXIT_KEY;
    } else {
        rc = sq_passphrase_from_env(WAL_ENV_PASSPHRASE, buf, SQ_PASSPHRASE_BYTES_MAX + 1, &len);
        if (rc == SQ_ENOTFOUND) {
            rc = sq_passphrase_prompt(prompt, confirm, buf, SQ_PASSPHRASE_BYTES_MAX + 1, &len,
                                      reason, sizeof(reason));
            if (rc == SQ_EINVAL && reason[0] == '\0') {
                snprintf(reason, sizeof(reason), "%s",
                         confirm ? "the passphrases differ, or it is empty" : "empty passphrase");
            }
        } else if (rc != SQ_OK) {
            snprintf(reason, sizeof(reason), "$%s is empty or longer than %u bytes",
                     WAL_ENV_PASSPHRASE, SQ_PASSPHRASE_BYTES_MAX);
        }
    }
    if (rc != SQ_OK) {
        sqc_secure_free(buf);
        return wal_fail(e, exit, "no_passphrase", "cannot get a passphrase: %s",
                        reason[0] ? reason : sq_strerror(rc));
    }
    out->data = buf;
    out->size = len;
    return WAL_EXIT_OK;
}

static int make_parent(const char *path, struct wal_err *e)
{
    char dir[WAL_PATH_BYTES_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return WAL_EXIT_OK;
    }
    *slash = '\0';
    struct stat st;
    if (stat(dir, &st) == 0) {
        return WAL_EXIT_OK;
    }
    /* Only the last component: a missing grandparent is the user's typo, not ours to make. */
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        return wal_fail(e, WAL_EXIT_IO, "io", "cannot create the folder %s: %s", dir,
                        strerror(errno));
    }
    return WAL_EXIT_OK;
}

int wal_keygen(const char *path, bool plain, enum sqc_kdf_cost cost, const char *pass_file,
               uint8_t pk[SQC_PK_BYTES], struct wal_err *e)
{
    struct stat st;
    if (lstat(path, &st) == 0) {
        return wal_fail(e, WAL_EXIT_IO, "exists",
                        "%s already exists; refusing to replace a key (choose another --keystore)",
                        path);
    }
    int rc = make_parent(path, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_secret pass = {0};
    if (!plain) {
        rc = wal_passphrase_get(pass_file, "Passphrase for the new key: ", true, &pass, e);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
    }
    struct sqc_keypair kp = {0};
    char reason[256] = "";
    int err = sqc_keypair_generate(&kp);
    if (err == SQ_OK) {
        err = sqc_keyfile_write(path, &kp, plain ? NULL : pass.data, pass.size, cost, reason,
                                sizeof(reason));
    }
    wal_secret_free(&pass);
    if (err == SQ_OK) {
        memcpy(pk, kp.pk, SQC_PK_BYTES);
    }
    sqc_keypair_free(&kp);
    if (err == SQ_EEXIST) {
        return wal_fail(e, WAL_EXIT_IO, "exists", "%s already exists; refusing to replace a key",
                        path);
    }
    if (err != SQ_OK) {
        return wal_fail(e, err == SQ_ENOMEM ? WAL_EXIT_INTERNAL : WAL_EXIT_IO, "io",
                        "cannot write the key file %s: %s", path,
                        reason[0] ? reason : sq_strerror(err));
    }
    return WAL_EXIT_OK;
}

/* Reads the first `size` bytes of a key file: the header and public key, never the secret
 * (which starts at offset 96). */
static int read_header(const char *path, uint8_t *buf, size_t size, struct wal_err *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        return wal_fail(e, WAL_EXIT_KEY, "no_keystore",
                        "no key file at %s (make one with 'squall keygen', or name it with "
                        "--keystore or $%s)",
                        path, WAL_ENV_KEYSTORE);
    }
    if (fd < 0) {
        return wal_fail(e, WAL_EXIT_KEY, "bad_keystore", "cannot open %s: %s", path,
                        strerror(errno));
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (got < size || memcmp(buf, KEYFILE_MAGIC, 5) != 0 || buf[5] != 1) {
        return wal_fail(e, WAL_EXIT_KEY, "bad_keystore", "%s is not a Squall key file (version 1)",
                        path);
    }
    return WAL_EXIT_OK;
}

int wal_key_public(const char *path, uint8_t pk[SQC_PK_BYTES], struct wal_err *e)
{
    uint8_t head[KEYFILE_PK_OFFSET + SQC_PK_BYTES];
    int rc = read_header(path, head, sizeof(head), e);
    if (rc == WAL_EXIT_OK) {
        memcpy(pk, head + KEYFILE_PK_OFFSET, SQC_PK_BYTES);
    }
    return rc;
}

int wal_key_load(const char *path, const char *pass_file, struct sqc_keypair *kp,
                 struct wal_err *e)
{
    memset(kp, 0, sizeof(*kp));
    /* Only the header is read here, to know whether a passphrase is needed; the key itself is
     * read by sqc_keyfile_read into secure memory. */
    uint8_t head[KEYFILE_PK_OFFSET + SQC_PK_BYTES];
    int rc = read_header(path, head, sizeof(head), e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_secret pass = {0};
    if (head[KEYFILE_KIND_OFFSET] == KEYFILE_KIND_SEALED) {
        char prompt[WAL_PATH_BYTES_MAX + 32];
        snprintf(prompt, sizeof(prompt), "Passphrase for %s: ", path);
        rc = wal_passphrase_get(pass_file, prompt, false, &pass, e);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
    }
    char reason[256] = "";
    int err = sqc_keyfile_read(path, pass.data, pass.size, kp, reason, sizeof(reason));
    wal_secret_free(&pass);
    switch (err) {
    case SQ_OK:
        return WAL_EXIT_OK;
    case SQ_EAUTH:
        return wal_fail(e, WAL_EXIT_KEY, "wrong_passphrase",
                        "wrong passphrase for %s (or the file was altered)", path);
    case SQ_ENOMEM:
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory opening %s", path);
    default:
        return wal_fail(e, WAL_EXIT_KEY, "bad_keystore", "%s: %s", path,
                        reason[0] ? reason : sq_strerror(err));
    }
}
