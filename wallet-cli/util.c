/* Errors, numbers, local files, the config file. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "wallet-cli/wallet.h"

int wal_fail(struct wal_err *e, int exit, const char *code, const char *fmt, ...)
{
    e->exit = exit;
    snprintf(e->code, sizeof(e->code), "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    /* One line: a reason from a library may carry a newline. */
    for (char *p = e->msg; *p != '\0'; p++) {
        *p = (*p == '\n' || *p == '\r') ? ' ' : *p;
    }
    return exit;
}

const char *wal_exit_name(int exit)
{
    static const char *const names[] = {
        [WAL_EXIT_OK] = "ok",           [WAL_EXIT_FAULT] = "fault",
        [WAL_EXIT_USAGE] = "usage",     [WAL_EXIT_NETWORK] = "network",
        [WAL_EXIT_REFUSED] = "refused", [WAL_EXIT_TIMEOUT] = "timeout",
        [WAL_EXIT_KEY] = "key",         [WAL_EXIT_IO] = "io",
        [WAL_EXIT_INTERNAL] = "internal",
    };
    if (exit < 0 || (size_t)exit >= sizeof(names) / sizeof(names[0])) {
        return "unknown";
    }
    return names[exit];
}

double wal_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int wal_u64_parse(const char *text, const char *what, uint64_t *out, struct wal_err *e)
{
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "%s must be a whole number, not '%s'",
                        what, text ? text : "");
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                        "%s must be a whole number below 2^64, not '%s'", what, text);
    }
    *out = (uint64_t)v;
    return WAL_EXIT_OK;
}

int wal_pk_parse(const char *text, const char *what, uint8_t pk[SQC_PK_BYTES], struct wal_err *e)
{
    size_t size = 0;
    size_t len = text ? strlen(text) : 0;
    if (len != 2 * SQC_PK_BYTES ||
        sqc_hex_decode(pk, SQC_PK_BYTES, text, len, &size) != SQ_OK || size != SQC_PK_BYTES) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_key", "%s must be a public key of 64 hex digits",
                        what);
    }
    return WAL_EXIT_OK;
}

/* ---- files ---- */

int wal_file_read(const char *path, size_t max, uint8_t **data, size_t *size, struct wal_err *e)
{
    *data = NULL;
    *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return wal_fail(e, WAL_EXIT_IO, errno == ENOENT ? "not_found" : "io",
                        "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return wal_fail(e, WAL_EXIT_IO, "io", "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return wal_fail(e, WAL_EXIT_IO, "too_large", "%s holds %lld bytes, more than %zu", path,
                        (long long)st.st_size, max);
    }
    size_t cap = (size_t)st.st_size;
    uint8_t *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            int err = errno;
            free(buf);
            close(fd);
            return wal_fail(e, WAL_EXIT_IO, "io", "cannot read %s: %s", path,
                            n == 0 ? "file shrank while read" : strerror(err));
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *size = got;
    return WAL_EXIT_OK;
}

int wal_file_write(const char *path, const void *data, size_t size, bool replace,
                   struct wal_err *e)
{
    struct stat st;
    if (!replace && lstat(path, &st) == 0) {
        return wal_fail(e, WAL_EXIT_IO, "exists", "%s already exists (not replaced)", path);
    }
    char tmp[WAL_PATH_BYTES_MAX + 32];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_path", "path too long: %s", path);
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        return wal_fail(e, WAL_EXIT_IO, "io", "cannot create a file beside %s: %s", path,
                        strerror(errno));
    }
    const uint8_t *p = data;
    size_t left = size;
    int err = 0;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            err = errno;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (err == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0)) {
        err = errno;
    }
    close(fd);
    if (err == 0) {
        if (replace) {
            err = rename(tmp, path) == 0 ? 0 : errno;
        } else {
            /* link() refuses to replace, atomically: nobody's file is lost in a race. */
            err = link(tmp, path) == 0 ? 0 : errno;
        }
    }
    unlink(tmp);
    if (err != 0) {
        return wal_fail(e, WAL_EXIT_IO, err == EEXIST ? "exists" : "io", "cannot write %s: %s",
                        path, strerror(err));
    }
    return WAL_EXIT_OK;
}

int wal_genesis_load(const char *path, struct ldg_genesis **out, struct wal_err *e)
{
    *out = NULL;
    int rc = ldg_genesis_load(path, out);
    if (rc != SQ_OK) {
        return wal_fail(e, WAL_EXIT_IO, "bad_genesis", "genesis file %s: %s", path,
                        ldg_errmsg()[0] ? ldg_errmsg() : sq_strerror(rc));
    }
    return WAL_EXIT_OK;
}

/* ---- configuration ---- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

static int set_field(char *dst, size_t cap, const char *value, const char *what,
                     struct wal_err *e)
{
    size_t n = strlen(value);
    if (n >= cap) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_config", "%s is too long (%zu bytes)", what, n);
    }
    memcpy(dst, value, n + 1);
    return WAL_EXIT_OK;
}

static int read_config_file(struct wal_config *cfg, const char *path, bool must_exist,
                            bool *node_set, bool *keystore_set, struct wal_err *e)
{
    uint8_t *text;
    size_t size;
    struct stat st;
    if (!must_exist && stat(path, &st) != 0) {
        return WAL_EXIT_OK;
    }
    int rc = wal_file_read(path, 1u << 20, &text, &size, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    snprintf(cfg->file, sizeof(cfg->file), "%s", path);
    unsigned line_no = 0;
    char *save = NULL;
    rc = WAL_EXIT_OK;
    for (char *line = strtok_r((char *)text, "\n", &save); line != NULL && rc == WAL_EXIT_OK;
         line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *l = trim(line);
        if (l[0] == '\0' || l[0] == '#') {
            continue;
        }
        char *eq = strchr(l, '=');
        if (eq == NULL) {
            rc = wal_fail(e, WAL_EXIT_USAGE, "bad_config", "%s:%u: expected 'key = value'", path,
                          line_no);
            break;
        }
        *eq = '\0';
        char *key = trim(l);
        char *value = trim(eq + 1);
        size_t vn = strlen(value);
        if (vn >= 2 && value[0] == '"' && value[vn - 1] == '"') {
            value[vn - 1] = '\0';
            value++;
        }
        if (strcmp(key, "node") == 0) {
            if (cfg->node[0] == '\0') {
                rc = set_field(cfg->node, sizeof(cfg->node), value, "node", e);
                *node_set = true;
            }
        } else if (strcmp(key, "keystore") == 0) {
            if (cfg->keystore[0] == '\0') {
                rc = set_field(cfg->keystore, sizeof(cfg->keystore), value, "keystore", e);
                *keystore_set = true;
            }
        } else if (strcmp(key, "genesis") == 0) {
            if (cfg->genesis[0] == '\0') {
                rc = set_field(cfg->genesis, sizeof(cfg->genesis), value, "genesis", e);
            }
        } else if (strcmp(key, "passphrase_file") == 0) {
            if (cfg->passphrase_file[0] == '\0') {
                rc = set_field(cfg->passphrase_file, sizeof(cfg->passphrase_file), value,
                               "passphrase_file", e);
            }
        } else {
            rc = wal_fail(e, WAL_EXIT_USAGE, "bad_config",
                          "%s:%u: unknown key '%s' (node, keystore, genesis, passphrase_file)",
                          path, line_no, key);
        }
    }
    free(text);
    return rc;
}

int wal_config_resolve(struct wal_config *cfg, const char *config_path, struct wal_err *e)
{
    cfg->node_from = cfg->node[0] ? "flag" : NULL;
    cfg->keystore_from = cfg->keystore[0] ? "flag" : NULL;
    const char *v;
    int rc;
    if (cfg->node[0] == '\0' && (v = getenv(WAL_ENV_NODE)) != NULL && v[0] != '\0') {
        if ((rc = set_field(cfg->node, sizeof(cfg->node), v, WAL_ENV_NODE, e)) != 0) {
            return rc;
        }
        cfg->node_from = "env";
    }
    if (cfg->keystore[0] == '\0' && (v = getenv(WAL_ENV_KEYSTORE)) != NULL && v[0] != '\0') {
        if ((rc = set_field(cfg->keystore, sizeof(cfg->keystore), v, WAL_ENV_KEYSTORE, e)) != 0) {
            return rc;
        }
        cfg->keystore_from = "env";
    }
    if (cfg->genesis[0] == '\0' && (v = getenv(WAL_ENV_GENESIS)) != NULL && v[0] != '\0') {
        if ((rc = set_field(cfg->genesis, sizeof(cfg->genesis), v, WAL_ENV_GENESIS, e)) != 0) {
            return rc;
        }
    }
    const char *home = getenv("HOME");
    char def[WAL_PATH_BYTES_MAX];
    bool must = true;
    if (config_path == NULL) {
        config_path = getenv(WAL_ENV_CONFIG);
        if (config_path != NULL && config_path[0] == '\0') {
            config_path = NULL;
        }
    }
    if (config_path == NULL && home != NULL && home[0] != '\0') {
        snprintf(def, sizeof(def), "%s/.squall/config", home);
        config_path = def;
        must = false;
    }
    bool node_set = false;
    bool keystore_set = false;
    if (config_path != NULL) {
        rc = read_config_file(cfg, config_path, must, &node_set, &keystore_set, e);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
    }
    if (node_set) {
        cfg->node_from = "config";
    }
    if (keystore_set) {
        cfg->keystore_from = "config";
    }
    if (cfg->node[0] == '\0') {
        snprintf(cfg->node, sizeof(cfg->node), "%s", WAL_NODE_DEFAULT);
        cfg->node_from = "default";
    }
    if (cfg->keystore[0] == '\0') {
        if (home == NULL || home[0] == '\0') {
            home = ".";
        }
        int n = snprintf(cfg->keystore, sizeof(cfg->keystore), "%s/.squall/wallet.key", home);
        if (n < 0 || (size_t)n >= sizeof(cfg->keystore)) {
            return wal_fail(e, WAL_EXIT_USAGE, "bad_config", "$HOME is too long");
        }
        cfg->keystore_from = "default";
    }
    return WAL_EXIT_OK;
}
