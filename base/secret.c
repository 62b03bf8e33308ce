#include "base/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "base/err.h"

void sq_secret_wipe(void *buf, size_t size)
{
    volatile unsigned char *p = buf;
    while (size-- > 0) {
        *p++ = 0;
    }
    __asm__ __volatile__("" : : "r"(buf) : "memory");
}

/* Copies `line` up to the first newline into out. */
static int take_line(const char *line, size_t n, char *out, size_t cap, size_t *len)
{
    size_t k = 0;
    while (k < n && line[k] != '\n' && line[k] != '\r') {
        k++;
    }
    if (k == 0) {
        return SQ_EINVAL;
    }
    if (k + 1 > cap) {
        return SQ_ETOOBIG;
    }
    memcpy(out, line, k);
    out[k] = '\0';
    *len = k;
    return SQ_OK;
}

int sq_passphrase_from_file(const char *path, char *out, size_t cap, size_t *len, char *errbuf,
                            size_t errbuf_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(errbuf, errbuf_size, "cannot open passphrase file %s: %s", path, strerror(e));
        return e == ENOENT ? SQ_ENOTFOUND : SQ_EIO;
    }
    char buf[SQ_PASSPHRASE_BYTES_MAX + 2];
    ssize_t n = read(fd, buf, sizeof(buf));
    close(fd);
    if (n < 0) {
        snprintf(errbuf, errbuf_size, "cannot read passphrase file %s", path);
        return SQ_EIO;
    }
    int rc = take_line(buf, (size_t)n, out, cap, len);
    sq_secret_wipe(buf, sizeof(buf));
    if (rc == SQ_EINVAL) {
        snprintf(errbuf, errbuf_size, "passphrase file %s is empty", path);
    } else if (rc == SQ_ETOOBIG) {
        snprintf(errbuf, errbuf_size, "passphrase in %s is too long", path);
    }
    return rc;
}

int sq_passphrase_from_env(const char *name, char *out, size_t cap, size_t *len)
{
    const char *v = getenv(name);
    if (v == NULL) {
        return SQ_ENOTFOUND;
    }
    return take_line(v, strlen(v), out, cap, len);
}

static int read_tty(int fd, const char *prompt, char *out, size_t cap, size_t *len)
{
    if (write(fd, prompt, strlen(prompt)) < 0) {
        return SQ_EIO;
    }
    char buf[SQ_PASSPHRASE_BYTES_MAX + 2];
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r <= 0 || c == '\n' || c == '\r') {
            break;
        }
        if (n < sizeof(buf)) {
            buf[n++] = c;
        }
    }
    if (write(fd, "\n", 1) < 0) {
        /* the newline is cosmetic */
    }
    int rc = n >= sizeof(buf) ? SQ_ETOOBIG : take_line(buf, n, out, cap, len);
    sq_secret_wipe(buf, sizeof(buf));
    return rc;
}

int sq_passphrase_prompt(const char *prompt, bool confirm, char *out, size_t cap, size_t *len,
                         char *errbuf, size_t errbuf_size)
{
    if (errbuf_size > 0) {
        errbuf[0] = '\0';
    }
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errbuf_size,
                 "no terminal to ask for a passphrase: use --passphrase-file FILE (or the "
                 "documented environment variable)");
        return SQ_ENODEV;
    }
    struct termios old, quiet;
    bool restore = tcgetattr(fd, &old) == 0;
    if (restore) {
        quiet = old;
        quiet.c_lflag &= (tcflag_t) ~(ECHO | ECHONL);
        quiet.c_lflag |= ICANON;
        tcsetattr(fd, TCSAFLUSH, &quiet);
    }
    int rc = read_tty(fd, prompt, out, cap, len);
    if (rc == SQ_OK && confirm) {
        char again[SQ_PASSPHRASE_BYTES_MAX + 1];
        size_t alen = 0;
        rc = read_tty(fd, "Repeat passphrase: ", again, sizeof(again), &alen);
        if (rc == SQ_OK && (alen != *len || memcmp(again, out, alen) != 0)) {
            rc = SQ_EINVAL;
            snprintf(errbuf, errbuf_size, "the two passphrases differ");
        }
        sq_secret_wipe(again, sizeof(again));
    }
    if (restore) {
        tcsetattr(fd, TCSAFLUSH, &old);
    }
    close(fd);
    if (rc == SQ_EINVAL && errbuf[0] == '\0') {
        snprintf(errbuf, errbuf_size, "empty passphrase");
    } else if (rc == SQ_ETOOBIG) {
        snprintf(errbuf, errbuf_size, "passphrase too long (at most %d bytes)",
                 SQ_PASSPHRASE_BYTES_MAX);
    }
    if (rc != SQ_OK) {
        sq_secret_wipe(out, cap);
    }
    return rc;
}
