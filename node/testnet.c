#include "node/testnet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/err.h"
#include "crypto/crypto.h"
#include "node/config.h"

static int mk(const char *path, char *errbuf, size_t errbuf_size)
{
    if (mkdir(path, 0700) == 0 || errno == EEXIST) {
        return SQ_OK;
    }
    snprintf(errbuf, errbuf_size, "cannot create %s: %s", path, strerror(errno));
    return SQ_EIO;
}

static int write_file(const char *path, const char *text, size_t len, char *errbuf,
                      size_t errbuf_size)
{
    FILE *f = fopen(path, "wx");
    if (f == NULL) {
        snprintf(errbuf, errbuf_size, "cannot create %s: %s", path, strerror(errno));
        return errno == EEXIST ? SQ_EEXIST : SQ_EIO;
    }
    size_t w = fwrite(text, 1, len, f);
    int bad = w != len || fflush(f) != 0 || fsync(fileno(f)) != 0;
    if (fclose(f) != 0 || bad) {
        snprintf(errbuf, errbuf_size, "cannot write %s: %s", path, strerror(errno));
        return SQ_EIO;
    }
    return SQ_OK;
}

/* A fresh key written (plain) to path; its public key into pk. */
static int new_key(const char *path, uint8_t pk[SQC_PK_BYTES], char *errbuf, size_t errbuf_size)
{
    struct sqc_keypair kp = {0};
    int rc = sqc_keypair_generate(&kp);
    if (rc == SQ_OK) {
        char err[256] = "";
        rc = sqc_keyfile_write(path, &kp, NULL, 0, SQC_KDF_MIN, err, sizeof(err));
        if (rc != SQ_OK) {
            snprintf(errbuf, errbuf_size, "cannot write %s: %s", path,
                     err[0] ? err : sq_strerror(rc));
        }
    } else {
        snprintf(errbuf, errbuf_size, "cannot generate a key: %s", sq_strerror(rc));
    }
    memcpy(pk, kp.pk, SQC_PK_BYTES);
    sqc_keypair_free(&kp);
    return rc;
}

int node_testnet_make(const struct node_testnet_opts *o, char *errbuf, size_t errbuf_size)
{
    uint32_t n = o->validators;
    if (n == 0 || n > SQ_MEMBERS_MAX) {
        snprintf(errbuf, errbuf_size, "--validators must be 1..%u", SQ_MEMBERS_MAX);
        return SQ_EINVAL;
    }
    const char *chain = o->chain_id != NULL ? o->chain_id : "squall-local";
    const char *host = o->host != NULL ? o->host : "127.0.0.1";
    size_t chain_len = strlen(chain);
    if (chain_len == 0 || chain_len > SQ_CHAIN_ID_BYTES_MAX) {
        snprintf(errbuf, errbuf_size, "the chain id must have 1..%u characters",
                 SQ_CHAIN_ID_BYTES_MAX);
        return SQ_EINVAL;
    }
    if (sqc_init() != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot initialise the crypto libraries");
        return SQ_ECRYPTO;
    }
    char path[NODE_PATH_MAX + 64];
    int rc = mk(o->out, errbuf, errbuf_size);
    if (rc != SQ_OK) {
        return rc;
    }
    snprintf(path, sizeof(path), "%s/genesis.json", o->out);
    if (access(path, F_OK) == 0) {
        snprintf(errbuf, errbuf_size, "%s already exists; refusing to overwrite a network", path);
        return SQ_EEXIST;
    }
    struct ldg_genesis *g = calloc(1, sizeof(*g));
    size_t client_cap = o->accounts + (o->clients_open ? 0 : o->extra_count);
    size_t bal_cap = (o->balance > 0 ? o->accounts : 0) + o->extra_count;
    if (g == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        return SQ_ENOMEM;
    }
    g->clients = calloc(client_cap ? client_cap : 1, SQC_PK_BYTES);
    g->balances = calloc(bal_cap ? bal_cap : 1, sizeof(*g->balances));
    struct node_config *cfgs = calloc(n, sizeof(*cfgs));
    char *text = malloc(64 * 1024);
    if (g->clients == NULL || g->balances == NULL || cfgs == NULL || text == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        rc = SQ_ENOMEM;
        goto out;
    }
    g->chain_id_size = (uint8_t)chain_len;
    memcpy(g->chain_id, chain, chain_len + 1);
    g->time_us = sq_clock_wall_ns() / SQ_NS_PER_US;
    g->validator_count = n;
    g->clients_open = o->clients_open;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t id = i + 1;
        char home[NODE_PATH_MAX];
        snprintf(home, sizeof(home), "%s/v%u", o->out, id);
        if ((rc = mk(home, errbuf, errbuf_size)) != SQ_OK) {
            goto out;
        }
        struct node_config *c = &cfgs[i];
        node_config_defaults(c, id, home);
        snprintf(c->listen.host, sizeof(c->listen.host), "%s", host);
        snprintf(c->rpc_listen.host, sizeof(c->rpc_listen.host), "%s", host);
        c->listen.port = o->p2p_ports[i] ? o->p2p_ports[i]
                                         : (uint16_t)((o->p2p_base ? o->p2p_base : 26000) + id);
        c->rpc_listen.port = o->rpc_ports[i]
                                 ? o->rpc_ports[i]
                                 : (uint16_t)((o->rpc_base ? o->rpc_base : 8500) + id);
        struct ldg_member *m = &g->validators[i];
        m->id = id;
        m->addr_size = (uint8_t)snprintf(m->addr, sizeof(m->addr), "%s:%u", host,
                                         (unsigned)c->listen.port);
        if ((rc = new_key(c->key_file, m->pk, errbuf, errbuf_size)) != SQ_OK) {
            goto out;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        struct node_config *c = &cfgs[i];
        for (uint32_t k = 0; k < n; k++) {
            if (k != i) {
                c->peer_rpc[c->peer_rpc_count].id = k + 1;
                c->peer_rpc[c->peer_rpc_count].addr = cfgs[k].rpc_listen;
                c->peer_rpc_count++;
            }
        }
    }
    snprintf(path, sizeof(path), "%s/accounts", o->out);
    if ((rc = mk(path, errbuf, errbuf_size)) != SQ_OK) {
        goto out;
    }
    snprintf(path, sizeof(path), "%s/accounts/issuer.key", o->out);
    if ((rc = new_key(path, g->issuers[0], errbuf, errbuf_size)) != SQ_OK) {
        goto out;
    }
    g->issuer_count = 1;
    snprintf(path, sizeof(path), "%s/accounts/gov.key", o->out);
    if ((rc = new_key(path, g->gov_keys[0], errbuf, errbuf_size)) != SQ_OK) {
        goto out;
    }
    g->gov_count = 1;
    g->gov_threshold = 1;
    for (uint32_t i = 0; i < o->accounts; i++) {
        uint8_t pk[SQC_PK_BYTES];
        snprintf(path, sizeof(path), "%s/accounts/client%u.key", o->out, i + 1);
        if ((rc = new_key(path, pk, errbuf, errbuf_size)) != SQ_OK) {
            goto out;
        }
        if (!o->clients_open) {
            memcpy(g->clients[g->client_count++], pk, SQC_PK_BYTES);
        }
        if (o->balance > 0) {
            memcpy(g->balances[g->balance_count].pk, pk, SQC_PK_BYTES);
            g->balances[g->balance_count++].amount = o->balance;
        }
    }
    for (size_t i = 0; i < o->extra_count; i++) {
        if (!o->clients_open) {
            memcpy(g->clients[g->client_count++], o->extra[i].pk, SQC_PK_BYTES);
        }
        g->balances[g->balance_count++] = o->extra[i];
    }
    rc = ldg_genesis_finish(g);
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "the genesis does not check: %s", ldg_errmsg());
        goto out;
    }
    char *json = NULL;
    rc = ldg_genesis_to_json(g, &json);
    if (rc != SQ_OK) {
        snprintf(errbuf, errbuf_size, "cannot render the genesis: %s", ldg_errmsg());
        goto out;
    }
    snprintf(path, sizeof(path), "%s/genesis.json", o->out);
    rc = write_file(path, json, strlen(json), errbuf, errbuf_size);
    for (uint32_t i = 0; i < n && rc == SQ_OK; i++) {
        rc = write_file(cfgs[i].genesis_file, json, strlen(json), errbuf, errbuf_size);
        if (rc != SQ_OK) {
            break;
        }
        size_t len = node_config_render(&cfgs[i], text, 60 * 1024);
        if (len >= 60 * 1024) {
            snprintf(errbuf, errbuf_size, "config too long");
            rc = SQ_ETOOBIG;
            break;
        }
        if (o->config_extra != NULL) {
            len += (size_t)snprintf(text + len, 64 * 1024 - len, "\n%s\n", o->config_extra);
        }
        snprintf(path, sizeof(path), "%s/config.ini", cfgs[i].home);
        rc = write_file(path, text, len, errbuf, errbuf_size);
    }
    free(json);
out:
    free(text);
    free(cfgs);
    ldg_genesis_free(g);
    return rc;
}
