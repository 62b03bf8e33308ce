/* Reading passphrases for key files, shared by squalld and the squall wallet.
 *
 * Sources, in the order callers usually try them: a file named on the command line (first line,
 * trailing newline removed), an environment variable, or a prompt on the controlling terminal with
 * echo turned off. The passphrase is written into caller memory (which should be secure memory,
 * crypto/sqc_secure_alloc) and every temporary copy is wiped. */
#ifndef SQ_BASE_SECRET_H
#define SQ_BASE_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#define SQ_PASSPHRASE_BYTES_MAX 1024

/* Reads the first line of `path` into out (cap bytes, NUL-terminated); *len gets its length.
 * SQ_ENOTFOUND / SQ_EIO (errbuf says why), SQ_ETOOBIG when the line does not fit, SQ_EINVAL for an
 * empty passphrase. */
int sq_passphrase_from_file(const char *path, char *out, size_t cap, size_t *len, char *errbuf,
                            size_t errbuf_size);

/* Copies the environment variable `name` into out. SQ_ENOTFOUND when unset, SQ_ETOOBIG, SQ_EINVAL
 * when empty. */
int sq_passphrase_from_env(const char *name, char *out, size_t cap, size_t *len);

/* Prompts on /dev/tty with echo off. With `confirm`, asks twice and fails with SQ_EINVAL when the
 * two differ. SQ_ENODEV when there is no terminal (errbuf suggests --passphrase-file). */
int sq_passphrase_prompt(const char *prompt, bool confirm, char *out, size_t cap, size_t *len,
                         char *errbuf, size_t errbuf_size);

/* Zeroes `size` bytes in a way the compiler keeps. */
void sq_secret_wipe(void *buf, size_t size);

#endif
