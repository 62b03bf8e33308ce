/* `squalld testnet`: everything a local network of N validators needs, in one folder (as
 * `cometbft testnet` does): a genesis file, and per validator a home with a key file and a
 * config.ini whose addresses and peer list point at 127.0.0.1 (or the given host).
 *
 *   OUT/genesis.json
 *   OUT/v1/{config.ini, validator.key, genesis.json}   ... OUT/vN/
 *   OUT/accounts/issuer.key, gov.key, client1.key ... clientK.key
 *
 * Keys of a testnet are written unencrypted: it is a throwaway network on one machine. */
#ifndef SQ_NODE_TESTNET_H
#define SQ_NODE_TESTNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "ledger/ledger.h"

struct node_testnet_opts {
    uint32_t validators;   /* 1..SQ_MEMBERS_MAX */
    const char *out;       /* created; must not hold a genesis.json yet */
    const char *chain_id;  /* NULL: "squall-local" */
    const char *host;      /* NULL: "127.0.0.1" */
    uint16_t p2p_base;     /* 0: 26000 (validator i listens on base + i) */
    uint16_t rpc_base;     /* 0: 8500 */
    /* explicit ports per validator (index i-1), overriding the bases when non-zero */
    uint16_t p2p_ports[SQ_MEMBERS_MAX];
    uint16_t rpc_ports[SQ_MEMBERS_MAX];
    uint32_t accounts;     /* client keys written to OUT/accounts (listed as clients) */
    uint64_t balance;      /* genesis balance of each of them */
    bool clients_open;     /* anyone may send transfers (no client list) */
    /* further funded keys (benchmarks): listed as clients too unless the chain is open */
    const struct ldg_balance *extra;
    size_t extra_count;
    const char *config_extra; /* INI text appended to every config.ini (may be NULL) */
};

/* Writes the network. SQ_EEXIST if OUT already holds a genesis, SQ_EINVAL for bad options,
 * SQ_EIO for file errors; errbuf says what. Prints nothing. */
int node_testnet_make(const struct node_testnet_opts *o, char *errbuf, size_t errbuf_size);

#endif
