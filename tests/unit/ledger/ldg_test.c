#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "ldg_test.h"

#define KEY_CACHE 512

struct cached_key {
    char role[16];
    unsigned index;
    struct sqc_keypair kp;
};

static struct cached_key keys_[KEY_CACHE];
static size_t key_count_;

const struct sqc_keypair *t_key(const char *role, unsigned index)
{
    for (size_t i = 0; i < key_count_; i++) {
        if (keys_[i].index == index && strcmp(keys_[i].role, role) == 0) {
            return &keys_[i].kp;
        }
    }
    if (key_count_ == KEY_CACHE) {
        fprintf(stderr, "t_key: cache full\n");
        abort();
    }
    struct cached_key *k = &keys_[key_count_++];
    snprintf(k->role, sizeof(k->role), "%s", role);
    k->index = index;
    char label[64];
    int n = snprintf(label, sizeof(label), "squall-ledger-test/%s/%u", role, index);
    uint8_t seed[SQC_SEED_BYTES];
    sqc_sha256(seed, label, (size_t)n);
    if (sqc_keypair_from_seed(&k->kp, seed) != 0) {
        abort();
    }
    return &k->kp;
}

struct ldg_genesis *t_genesis_n(bool open, unsigned validators, unsigned clients, uint64_t balance)
{
    struct ldg_genesis *g = calloc(1, sizeof(*g));
    assert_non_null(g);
    g->chain_id_size = (uint8_t)strlen(T_CHAIN);
    memcpy(g->chain_id, T_CHAIN, g->chain_id_size);
    g->time_us = 1700000000000000ull;
    g->validator_count = validators;
    for (unsigned i = 0; i < validators; i++) {
        struct ldg_member *m = &g->validators[i];
        m->id = i + 1;
        memcpy(m->pk, t_key("val", i)->pk, 32);
        m->addr_size = (uint8_t)snprintf(m->addr, sizeof(m->addr), "127.0.0.1:%u", 7001 + i);
    }
    g->issuer_count = T_ISSUERS;
    for (unsigned i = 0; i < T_ISSUERS; i++) {
        memcpy(g->issuers[i], t_key("issuer", i)->pk, 32);
    }
    g->gov_count = T_GOV;
    g->gov_threshold = 2;
    for (unsigned i = 0; i < T_GOV; i++) {
        memcpy(g->gov_keys[i], t_key("gov", i)->pk, 32);
    }
    g->clients_open = open;
    if (!open) {
        g->client_count = clients;
        g->clients = malloc((clients ? clients : 1) * 32);
        assert_non_null(g->clients);
        for (unsigned i = 0; i < clients; i++) {
            memcpy(g->clients[i], t_key("client", i)->pk, 32);
        }
    }
    g->balance_count = clients;
    g->balances = calloc(clients ? clients : 1, sizeof(*g->balances));
    assert_non_null(g->balances);
    for (unsigned i = 0; i < clients; i++) {
        memcpy(g->balances[i].pk, t_key("client", i)->pk, 32);
        g->balances[i].amount = balance;
    }
    T_OK(ldg_genesis_finish(g));
    return g;
}

struct ldg_genesis *t_genesis(bool open)
{
    return t_genesis_n(open, T_VALIDATORS, T_CLIENTS, 1000);
}

void t_tx_init(struct ldg_tx *tx, uint8_t kind, const struct sqc_keypair *sender, uint64_t nonce,
               uint64_t expiry)
{
    memset(tx, 0, sizeof(*tx));
    tx->version = LDG_FORMAT_VERSION;
    tx->kind = kind;
    tx->chain_id_size = (uint8_t)strlen(T_CHAIN);
    memcpy(tx->chain_id, T_CHAIN, tx->chain_id_size);
    memcpy(tx->sender, sender->pk, 32);
    tx->nonce = nonce;
    tx->expiry_height = expiry;
}

static size_t finish(struct ldg_tx *tx, const struct sqc_keypair *kp, uint8_t *buf)
{
    T_OK(ldg_tx_sign(tx, kp));
    size_t size;
    T_OK(ldg_tx_encode(tx, buf, SQ_TX_BYTES_MAX, &size));
    return size;
}

size_t t_transfer(uint8_t *buf, const struct sqc_keypair *from, const uint8_t to[32],
                  uint64_t amount, uint64_t nonce, uint64_t expiry)
{
    struct ldg_tx tx;
    t_tx_init(&tx, LDG_TX_TRANSFER, from, nonce, expiry);
    memcpy(tx.target, to, 32);
    tx.amount = amount;
    return finish(&tx, from, buf);
}

size_t t_mint(uint8_t *buf, const struct sqc_keypair *issuer, const uint8_t to[32], uint64_t amount,
              uint64_t nonce)
{
    struct ldg_tx tx;
    t_tx_init(&tx, LDG_TX_MINT, issuer, nonce, 1000000);
    memcpy(tx.target, to, 32);
    tx.amount = amount;
    return finish(&tx, issuer, buf);
}

size_t t_gov(uint8_t *buf, uint8_t kind, const struct sqc_keypair *sender, uint64_t nonce,
             const uint8_t target[32], uint32_t validator_id, const char *addr, unsigned gov_mask)
{
    struct ldg_tx tx;
    t_tx_init(&tx, kind, sender, nonce, 1000000);
    if (target != NULL) {
        memcpy(tx.target, target, 32);
    }
    tx.validator_id = validator_id;
    if (addr != NULL) {
        tx.addr_size = (uint8_t)strlen(addr);
        memcpy(tx.addr, addr, tx.addr_size);
    }
    for (unsigned i = 0; i < T_GOV; i++) {
        if (gov_mask & (1u << i)) {
            T_OK(ldg_tx_approve(&tx, (uint8_t)i, t_key("gov", i)));
        }
    }
    return finish(&tx, sender, buf);
}

uint8_t *t_batch(uint32_t proposer, uint64_t seq, const struct ldg_bytes *txs, size_t count,
                 size_t *size)
{
    size_t cap = 256;
    for (size_t i = 0; i < count; i++) {
        cap += txs[i].size + 4;
    }
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    T_OK(ldg_batch_encode(T_CHAIN, strlen(T_CHAIN), proposer, seq, 1700000000000000ull + seq, txs,
                          count, t_key("val", proposer - 1), buf, cap, size));
    return buf;
}

uint8_t *t_batch1(uint32_t proposer, uint64_t seq, const uint8_t *tx, size_t tx_size, size_t *size)
{
    struct ldg_bytes b = {tx, tx_size};
    return t_batch(proposer, seq, &b, 1, size);
}

struct result_sink {
    uint8_t *res;
};

static void on_result(void *arg, const uint8_t txid[32], uint64_t height, uint32_t index,
                      enum ldg_result result)
{
    (void)txid;
    (void)height;
    struct result_sink *sink = arg;
    if (sink->res != NULL) {
        sink->res[index] = (uint8_t)result;
    }
}

void t_apply(struct ldg_store *s, uint32_t proposer, const struct ldg_bytes *txs, size_t count,
             uint8_t *res)
{
    static uint64_t seq;
    size_t size;
    uint8_t *batch = t_batch(proposer, ++seq, txs, count, &size);
    struct ldg_view view;
    ldg_view_current(s, &view, NULL);
    struct result_sink sink = {res};
    struct ldg_apply_opts opts = {.on_result = on_result, .result_arg = &sink};
    struct ldg_block_info info;
    T_OK(ldg_batch_apply(s, view.view_id, batch, size, &opts, &info));
    assert_int_equal(info.tx_count, count);
    free(batch);
}

void t_finalize(struct ldg_store *s)
{
    struct ldg_view view;
    ldg_view_current(s, &view, NULL);
    uint64_t h = ldg_store_height(s);
    for (uint32_t i = 0; i < view.member_count; i++) {
        struct ldg_finality f;
        uint32_t id = view.members[i].id;
        T_OK(ldg_finality_make(s, id, t_key("val", id - 1), h, &f));
        T_OK(ldg_finality_add(s, &f, NULL));
    }
}

char *t_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = malloc(4096);
    assert_non_null(tmpl);
    snprintf(tmpl, 4096, "%s/ldgtest.XXXXXX", base != NULL && base[0] != '\0' ? base : "/tmp");
    assert_non_null(mkdtemp(tmpl));
    return tmpl;
}

void t_rmdir(char *dir)
{
    if (dir == NULL) {
        return;
    }
    (void)ldg_store_remove(dir);
    free(dir);
}

struct ldg_store *t_open(struct ldg_genesis *g, char **dir)
{
    *dir = t_mkdtemp();
    struct ldg_store *s;
    T_OK(ldg_store_open(*dir, g, NULL, &s));
    return s;
}

int t_setup(void **state)
{
    (void)state;
    return sqc_init();
}
