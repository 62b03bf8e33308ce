/* squalld's configuration: an INI file (libinih) in the validator's home folder.
 *
 * Every setting has a default; a limit from base/limits.h may be lowered, never raised. Unknown
 * sections or keys are errors (a typo must not silently fall back to a default). Paths are
 * relative to the home folder unless absolute. docs/operator.md lists every key. */
#ifndef SQ_NODE_CONFIG_H
#define SQ_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "base/log.h"

#define NODE_PATH_MAX 1024
#define NODE_HOST_MAX 64

enum node_transport {
    NODE_TRANSPORT_TCP = 0,
    NODE_TRANSPORT_VERBS,
};

struct node_addr {
    char host[NODE_HOST_MAX]; /* numeric IPv4 address */
    uint16_t port;
};

/* Where another validator serves its HTTP API (state transfer reads blocks from it). */
struct node_peer_rpc {
    uint32_t id;
    struct node_addr addr;
};

struct node_config {
    /* [node] */
    uint32_t id;                  /* validator id, as in genesis */
    char home[NODE_PATH_MAX];     /* the folder the config was read from */
    char data_dir[NODE_PATH_MAX]; /* resolved against home */
    char key_file[NODE_PATH_MAX];
    char genesis_file[NODE_PATH_MAX];
    char passphrase_file[NODE_PATH_MAX]; /* empty: plain key, or prompt/SQUALL_PASSPHRASE */
    enum sq_log_level log_level;
    /* [network] */
    struct node_addr listen;
    enum node_transport transport;
    char rdma_device[NODE_HOST_MAX]; /* transport = verbs: the device (empty: the first found) */
    uint32_t heartbeat_ms;
    uint32_t failure_timeout_ms;
    uint32_t peer_rpc_count;      /* the other validators' API addresses (catch-up after restart) */
    struct node_peer_rpc peer_rpc[SQ_MEMBERS_MAX];
    /* [rpc] */
    struct node_addr rpc_listen;
    uint32_t rpc_threads;
    uint32_t rpc_body_bytes_max;
    uint32_t rpc_rate_per_key;    /* transactions per second per client key; 0: unlimited */
    uint32_t rpc_wait_ms_max;     /* longest long-poll a client may ask for */
    uint32_t rpc_connections;     /* connections served at once */
    /* [batch] */
    uint32_t batch_bytes_max;
    uint32_t batch_delay_ms;
    bool verify_peer_txs; /* re-verify every sender signature of other validators' batches */
    /* [mempool] */
    uint32_t mempool_txs_max;
    /* [storage] */
    uint32_t commit_blocks_max;   /* blocks per LMDB write transaction (group commit) */
};

/* Fills `cfg` with the defaults for validator `id` in `home`. */
void node_config_defaults(struct node_config *cfg, uint32_t id, const char *home);

/* Reads `<home>/config.ini` over the defaults. SQ_ENOTFOUND when the file is missing, SQ_EINVAL for
 * a bad value, key or section, with "config.ini:LINE: reason" in errbuf. */
int node_config_load(struct node_config *cfg, const char *home, char *errbuf, size_t errbuf_size);

/* Parses INI text (the same rules; for tests and `squalld init`). `source` names it in errors. */
int node_config_parse(struct node_config *cfg, const char *text, const char *source, char *errbuf,
                      size_t errbuf_size);

/* Writes a commented config.ini holding `cfg` into buf. Returns the length, or the length needed
 * if cap is short (like snprintf). Relative paths are written relative to home. */
size_t node_config_render(const struct node_config *cfg, char *buf, size_t cap);

/* Parses "host:port" (numeric IPv4). SQ_EINVAL otherwise. */
int node_addr_parse(struct node_addr *addr, const char *text);

/* Parses "ID=HOST:PORT, ID=HOST:PORT, ..." (the [network] peer_rpc list; empty is fine) into
 * cfg->peer_rpc. SQ_EINVAL for a malformed entry, a duplicate id or more than SQ_MEMBERS_MAX. */
int node_peer_rpc_parse(struct node_config *cfg, const char *text);

/* The API address of validator `id` from cfg->peer_rpc, or NULL. */
const struct node_addr *node_config_peer_rpc(const struct node_config *cfg, uint32_t id);

#endif
