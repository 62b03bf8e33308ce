#include "node/config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "base/err.h"
#include "base/log.h"

/* Defaults. */
#define DEF_HEARTBEAT_MS 10
#define DEF_FAILURE_TIMEOUT_MS 1000
#define DEF_RPC_THREADS 2
#define DEF_RPC_BODY_BYTES (1024 * 1024)
#define DEF_RPC_RATE_PER_KEY 0
#define DEF_RPC_WAIT_MS_MAX 60000
#define DEF_BATCH_BYTES (1024 * 1024)
#define DEF_BATCH_DELAY_MS 2
#define DEF_MEMPOOL_TXS 200000
#define DEF_COMMIT_BLOCKS 64
#define DEF_RPC_CONNECTIONS 1024

/* Hard bounds a config may not exceed. */
#define MAX_RPC_BODY_BYTES (16u * 1024 * 1024)
#define MAX_MEMPOOL_TXS 1000000u
#define MAX_COMMIT_BLOCKS 1024u

/* Resolves `path` against `home` into dst; a result longer than NODE_PATH_MAX is cut (and then
 * fails to open with a clear message naming the cut path). */
static void set_path(char *dst, const char *home, const char *path)
{
    int n;
    if (path[0] == '/' || home[0] == '\0') {
        n = snprintf(dst, NODE_PATH_MAX, "%s", path);
    } else {
        n = snprintf(dst, NODE_PATH_MAX, "%s/%s", home, path);
    }
    if (n < 0 || n >= NODE_PATH_MAX) {
        SQ_WARN("config", "path too long, cut", "path=%s", dst);
    }
}

void node_config_defaults(struct node_config *cfg, uint32_t id, const char *home)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = id;
    snprintf(cfg->home, sizeof(cfg->home), "%s", home);
    set_path(cfg->data_dir, home, "data");
    set_path(cfg->key_file, home, "validator.key");
    set_path(cfg->genesis_file, home, "genesis.json");
    cfg->log_level = SQ_LOG_INFO;
    snprintf(cfg->listen.host, sizeof(cfg->listen.host), "127.0.0.1");
    cfg->listen.port = (uint16_t)(26000 + (id % 1000));
    cfg->transport = NODE_TRANSPORT_TCP;
    cfg->heartbeat_ms = DEF_HEARTBEAT_MS;
    cfg->failure_timeout_ms = DEF_FAILURE_TIMEOUT_MS;
    snprintf(cfg->rpc_listen.host, sizeof(cfg->rpc_listen.host), "127.0.0.1");
    cfg->rpc_listen.port = (uint16_t)(8500 + (id % 1000));
    cfg->rpc_threads = DEF_RPC_THREADS;
    cfg->rpc_body_bytes_max = DEF_RPC_BODY_BYTES;
    cfg->rpc_rate_per_key = DEF_RPC_RATE_PER_KEY;
    cfg->rpc_wait_ms_max = DEF_RPC_WAIT_MS_MAX;
    cfg->rpc_connections = DEF_RPC_CONNECTIONS;
    cfg->batch_bytes_max = DEF_BATCH_BYTES;
    cfg->batch_delay_ms = DEF_BATCH_DELAY_MS;
    cfg->mempool_txs_max = DEF_MEMPOOL_TXS;
    cfg->commit_blocks_max = DEF_COMMIT_BLOCKS;
}

int node_addr_parse(struct node_addr *addr, const char *text)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(addr->host)) {
        return SQ_EINVAL;
    }
    char host[NODE_HOST_MAX];
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    struct in_addr ia;
    if (inet_pton(AF_INET, host, &ia) != 1) {
        return SQ_EINVAL;
    }
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || end == colon + 1 || port > 65535) {
        return SQ_EINVAL;
    }
    snprintf(addr->host, sizeof(addr->host), "%s", host);
    addr->port = (uint16_t)port;
    return SQ_OK;
}

/* Parses an unsigned integer in [lo, hi]. */
static bool parse_u32(const char *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || v[0] == '-' || x < lo || x > hi) {
        return false;
    }
    *out = (uint32_t)x;
    return true;
}

int node_peer_rpc_parse(struct node_config *cfg, const char *text)
{
    uint32_t count = 0;
    struct node_peer_rpc list[SQ_MEMBERS_MAX];
    memset(list, 0, sizeof(list)); /* configs are compared as bytes (render round trip) */
    const char *p = text;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ',') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        const char *end = p;
        while (*end != '\0' && *end != ',' && *end != ' ' && *end != '\t') {
            end++;
        }
        char item[NODE_HOST_MAX + 32];
        size_t len = (size_t)(end - p);
        const char *eq = memchr(p, '=', len);
        if (len >= sizeof(item) || eq == NULL || count == SQ_MEMBERS_MAX) {
            return SQ_EINVAL;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        item[eq - p] = '\0';
        uint32_t id;
        if (!parse_u32(item, 0, UINT32_MAX - 1, &id) ||
            node_addr_parse(&list[count].addr, item + (eq - p) + 1) != SQ_OK) {
            return SQ_EINVAL;
        }
        for (uint32_t i = 0; i < count; i++) {
            if (list[i].id == id) {
                return SQ_EINVAL;
            }
        }
        list[count].id = id;
        count++;
        p = end;
    }
    memset(cfg->peer_rpc, 0, sizeof(cfg->peer_rpc));
    memcpy(cfg->peer_rpc, list, count * sizeof(list[0]));
    cfg->peer_rpc_count = count;
    return SQ_OK;
}

const struct node_addr *node_config_peer_rpc(const struct node_config *cfg, uint32_t id)
{
    for (uint32_t i = 0; i < cfg->peer_rpc_count; i++) {
        if (cfg->peer_rpc[i].id == id) {
            return &cfg->peer_rpc[i].addr;
        }
    }
    return NULL;
}

struct parse_ctx {
    const char *text; /* the rest of the input, for the line reader */
    int line;         /* the line the handler is looking at */
    struct node_config *cfg;
    const char *source;
    char *errbuf;
    size_t errbuf_size;
    int rc;
};

static int fail(struct parse_ctx *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct parse_ctx *p, int line, const char *fmt, ...)
{
    if (p->rc == SQ_OK) {
        int n = snprintf(p->errbuf, p->errbuf_size, "%s:%d: ", p->source, line);
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < p->errbuf_size) {
            vsnprintf(p->errbuf + n, p->errbuf_size - (size_t)n, fmt, ap);
        }
        va_end(ap);
        p->rc = SQ_EINVAL;
    }
    return 0; /* stop parsing */
}

#define U32(field, lo, hi)                                                                         \
    do {                                                                                           \
        if (!parse_u32(value, lo, hi, &cfg->field)) {                                              \
            return fail(p, line, "%s.%s must be a whole number from %u to %u, not '%s'", section,   \
                        name, (unsigned)(lo), (unsigned)(hi), value);                             \
        }                                                                                          \
        return 1;                                                                                  \
    } while (0)

/* libinih's handler carries no line number in Debian's build; the reader below counts lines as
 * inih pulls them, so the current count is the line of the entry being handled. */
static char *read_line(char *str, int num, void *stream)
{
    struct parse_ctx *p = stream;
    if (*p->text == '\0' || num <= 1) {
        return NULL;
    }
    const char *nl = strchr(p->text, '\n');
    size_t len = nl ? (size_t)(nl - p->text) + 1 : strlen(p->text);
    if (len > (size_t)num - 1) {
        len = (size_t)num - 1; /* inih reports an over-long line as an error */
    }
    memcpy(str, p->text, len);
    str[len] = '\0';
    p->text += len;
    p->line++;
    return str;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct parse_ctx *p = user;
    struct node_config *cfg = p->cfg;
    int line = p->line;
    if (name == NULL) {
        return 1;
    }
    if (strcmp(section, "node") == 0) {
        if (strcmp(name, "id") == 0) {
            U32(id, 0, UINT32_MAX - 1);
        }
        if (strcmp(name, "data_dir") == 0) {
            set_path(cfg->data_dir, cfg->home, value);
            return 1;
        }
        if (strcmp(name, "key_file") == 0) {
            set_path(cfg->key_file, cfg->home, value);
            return 1;
        }
        if (strcmp(name, "genesis_file") == 0) {
            set_path(cfg->genesis_file, cfg->home, value);
            return 1;
        }
        if (strcmp(name, "passphrase_file") == 0) {
            if (value[0] == '\0') {
                cfg->passphrase_file[0] = '\0';
            } else {
                set_path(cfg->passphrase_file, cfg->home, value);
            }
            return 1;
        }
        if (strcmp(name, "log_level") == 0) {
            if (sq_log_level_parse(value, &cfg->log_level) != SQ_OK) {
                return fail(p, line,
                            "node.log_level must be trace, debug, info, warn, error or off, not "
                            "'%s'",
                            value);
            }
            return 1;
        }
    } else if (strcmp(section, "network") == 0) {
        if (strcmp(name, "listen") == 0) {
            if (node_addr_parse(&cfg->listen, value) != SQ_OK) {
                return fail(p, line, "network.listen must be IPv4:port, not '%s'", value);
            }
            return 1;
        }
        if (strcmp(name, "transport") == 0) {
            if (strcmp(value, "tcp") == 0) {
                cfg->transport = NODE_TRANSPORT_TCP;
            } else if (strcmp(value, "verbs") == 0) {
                cfg->transport = NODE_TRANSPORT_VERBS;
            } else {
                return fail(p, line, "network.transport must be tcp or verbs, not '%s'", value);
            }
            return 1;
        }
        if (strcmp(name, "rdma_device") == 0) {
            if (value[0] == '\0' || strlen(value) >= sizeof(cfg->rdma_device)) {
                return fail(p, line, "network.rdma_device must be a device name of 1 to %zu "
                            "characters", sizeof(cfg->rdma_device) - 1);
            }
            snprintf(cfg->rdma_device, sizeof(cfg->rdma_device), "%s", value);
            return 1;
        }
        if (strcmp(name, "heartbeat_ms") == 0) {
            U32(heartbeat_ms, 1, 10000);
        }
        if (strcmp(name, "failure_timeout_ms") == 0) {
            U32(failure_timeout_ms, 10, 600000);
        }
        if (strcmp(name, "peer_rpc") == 0) {
            if (node_peer_rpc_parse(cfg, value) != SQ_OK) {
                return fail(p, line,
                            "network.peer_rpc must list ID=IPv4:port entries separated by commas "
                            "(distinct ids, at most %u), not '%s'",
                            (unsigned)SQ_MEMBERS_MAX, value);
            }
            return 1;
        }
    } else if (strcmp(section, "rpc") == 0) {
        if (strcmp(name, "listen") == 0) {
            if (node_addr_parse(&cfg->rpc_listen, value) != SQ_OK) {
                return fail(p, line, "rpc.listen must be IPv4:port, not '%s'", value);
            }
            return 1;
        }
        if (strcmp(name, "threads") == 0) {
            U32(rpc_threads, 1, 16);
        }
        if (strcmp(name, "body_bytes_max") == 0) {
            U32(rpc_body_bytes_max, 1024, MAX_RPC_BODY_BYTES);
        }
        if (strcmp(name, "rate_per_key") == 0) {
            U32(rpc_rate_per_key, 0, 1000000);
        }
        if (strcmp(name, "wait_ms_max") == 0) {
            U32(rpc_wait_ms_max, 0, 600000);
        }
        if (strcmp(name, "connections") == 0) {
            U32(rpc_connections, 4, 65536);
        }
    } else if (strcmp(section, "batch") == 0) {
        if (strcmp(name, "bytes_max") == 0) {
            U32(batch_bytes_max, 1024, SQ_BATCH_BYTES_MAX);
        }
        if (strcmp(name, "delay_ms") == 0) {
            U32(batch_delay_ms, 0, 10000);
        }
        if (strcmp(name, "verify_peer_txs") == 0) {
            if (strcmp(value, "true") == 0) {
                cfg->verify_peer_txs = true;
            } else if (strcmp(value, "false") == 0) {
                cfg->verify_peer_txs = false;
            } else {
                return fail(p, line, "batch.verify_peer_txs must be true or false, not '%s'",
                            value);
            }
            return 1;
        }
    } else if (strcmp(section, "mempool") == 0) {
        if (strcmp(name, "txs_max") == 0) {
            U32(mempool_txs_max, 1, MAX_MEMPOOL_TXS);
        }
    } else if (strcmp(section, "storage") == 0) {
        if (strcmp(name, "commit_blocks_max") == 0) {
            U32(commit_blocks_max, 1, MAX_COMMIT_BLOCKS);
        }
    } else {
        return fail(p, line, "unknown section [%s]", section);
    }
    return fail(p, line, "unknown key '%s' in [%s]", name, section);
}

int node_config_parse(struct node_config *cfg, const char *text, const char *source, char *errbuf,
                      size_t errbuf_size)
{
    struct parse_ctx p = {text, 0, cfg, source, errbuf, errbuf_size, SQ_OK};
    int r = ini_parse_stream(read_line, &p, on_entry, &p);
    if (p.rc != SQ_OK) {
        return p.rc;
    }
    if (r != 0) {
        snprintf(errbuf, errbuf_size, "%s:%d: not a valid INI line", source, r);
        return SQ_EINVAL;
    }
    if (cfg->listen.port == 0) {
        snprintf(errbuf, errbuf_size, "%s: network.listen needs a non-zero port", source);
        return SQ_EINVAL;
    }
    if (cfg->failure_timeout_ms < 2 * cfg->heartbeat_ms) {
        snprintf(errbuf, errbuf_size,
                 "%s: network.failure_timeout_ms (%u) must be at least twice heartbeat_ms (%u)",
                 source, cfg->failure_timeout_ms, cfg->heartbeat_ms);
        return SQ_EINVAL;
    }
    return SQ_OK;
}

int node_config_load(struct node_config *cfg, const char *home, char *errbuf, size_t errbuf_size)
{
    char path[NODE_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/config.ini", home);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(errbuf, errbuf_size, "cannot open %s: %s", path, strerror(errno));
        return errno == ENOENT ? SQ_ENOTFOUND : SQ_EIO;
    }
    static const size_t cap = 256 * 1024;
    char *text = malloc(cap + 1);
    if (text == NULL) {
        fclose(f);
        return SQ_ENOMEM;
    }
    size_t n = fread(text, 1, cap + 1, f);
    fclose(f);
    if (n > cap) {
        free(text);
        snprintf(errbuf, errbuf_size, "%s is larger than %zu bytes", path, cap);
        return SQ_ETOOBIG;
    }
    text[n] = '\0';
    if (memchr(text, '\0', n) != NULL) {
        free(text);
        snprintf(errbuf, errbuf_size, "%s contains a NUL byte", path);
        return SQ_EINVAL;
    }
    node_config_defaults(cfg, cfg->id, home);
    int rc = node_config_parse(cfg, text, path, errbuf, errbuf_size);
    free(text);
    return rc;
}

struct out {
    char *buf;
    size_t cap;
    size_t len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = o->len < o->cap ? o->buf + o->len : NULL;
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n;
    }
}

/* A path relative to home when it lies inside home. */
static const char *rel(const struct node_config *cfg, const char *path)
{
    size_t n = strlen(cfg->home);
    if (n > 0 && strncmp(path, cfg->home, n) == 0 && path[n] == '/') {
        return path + n + 1;
    }
    return path;
}

size_t node_config_render(const struct node_config *cfg, char *buf, size_t cap)
{
    struct out o = {buf, cap, 0};
    put(&o, "; squalld configuration. Paths are relative to this file's folder.\n"
            "; Every key is documented in docs/operator.md.\n\n");
    put(&o, "[node]\n; This validator's id, as listed in genesis.json.\nid = %u\n", cfg->id);
    put(&o, "; Where the LMDB ledger store lives.\ndata_dir = %s\n", rel(cfg, cfg->data_dir));
    put(&o, "; The validator's Ed25519 key file (encrypted unless made with --insecure-plain-key).\n"
            "key_file = %s\n",
        rel(cfg, cfg->key_file));
    put(&o, "; A file holding the key's passphrase (empty: read SQUALL_PASSPHRASE or prompt).\n"
            "passphrase_file = %s\n",
        cfg->passphrase_file[0] ? rel(cfg, cfg->passphrase_file) : "");
    put(&o, "genesis_file = %s\n", rel(cfg, cfg->genesis_file));
    put(&o, "; trace, debug, info, warn, error or off.\nlog_level = %s\n\n",
        sq_log_level_name(cfg->log_level));
    put(&o, "[network]\n; Address for validator-to-validator traffic (numeric IPv4:port).\n"
            "listen = %s:%u\n",
        cfg->listen.host, (unsigned)cfg->listen.port);
    put(&o, "; tcp (default) or verbs (RDMA over InfiniBand or RoCE; needs an RDMA device, and\n"
            "; the validators' addresses are then their RDMA interfaces' addresses).\n"
            "transport = %s\n",
        cfg->transport == NODE_TRANSPORT_TCP ? "tcp" : "verbs");
    put(&o, "; With transport = verbs: the RDMA device to use (empty: the first found).\n"
            "%srdma_device = %s\n",
        cfg->rdma_device[0] ? "" : ";", cfg->rdma_device);
    put(&o, "; How often each validator refreshes its heartbeat in the shared state table.\n"
            "heartbeat_ms = %u\n",
        cfg->heartbeat_ms);
    put(&o, "; A validator silent for this long is suspected failed (a view change follows).\n"
            "failure_timeout_ms = %u\n",
        cfg->failure_timeout_ms);
    put(&o, "; The other validators' API addresses (ID=IPv4:port, comma-separated): a restarted\n"
            "; validator fetches the blocks it lacks from them before it serves.\npeer_rpc = ");
    for (uint32_t i = 0; i < cfg->peer_rpc_count; i++) {
        put(&o, "%s%u=%s:%u", i ? ", " : "", cfg->peer_rpc[i].id, cfg->peer_rpc[i].addr.host,
            (unsigned)cfg->peer_rpc[i].addr.port);
    }
    put(&o, "\n\n");
    put(&o, "[rpc]\n; The HTTP/JSON API (docs/api.md).\nlisten = %s:%u\nthreads = %u\n",
        cfg->rpc_listen.host, (unsigned)cfg->rpc_listen.port, cfg->rpc_threads);
    put(&o, "; Largest request body accepted (bytes).\nbody_bytes_max = %u\n",
        cfg->rpc_body_bytes_max);
    put(&o, "; Transactions per second accepted from one client key (0: no limit).\n"
            "rate_per_key = %u\n",
        cfg->rpc_rate_per_key);
    put(&o, "; Longest long-poll (?wait=...&timeout_ms=) a client may ask for.\nwait_ms_max = %u\n",
        cfg->rpc_wait_ms_max);
    put(&o, "; Connections served at once.\nconnections = %u\n\n", cfg->rpc_connections);
    put(&o, "[batch]\n; A batch closes when it holds this many bytes or is this old.\n"
            "bytes_max = %u\ndelay_ms = %u\n",
        cfg->batch_bytes_max, cfg->batch_delay_ms);
    put(&o, "; Re-verify every sender signature in other validators' batches (one Ed25519 check\n"
            "; per transaction per validator). false: the proposer verified them at admission and\n"
            "; its batch signature vouches for them (crash-fault model; audits check them all).\n"
            "verify_peer_txs = %s\n\n",
        cfg->verify_peer_txs ? "true" : "false");
    put(&o, "[mempool]\n; Admitted transactions waiting to be batched; beyond this, clients get "
            "429.\ntxs_max = %u\n\n",
        cfg->mempool_txs_max);
    put(&o, "[storage]\n; Blocks written per LMDB transaction (group commit, one fsync).\n"
            "commit_blocks_max = %u\n",
        cfg->commit_blocks_max);
    return o.len;
}
