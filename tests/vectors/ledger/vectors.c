/* Deterministic generator of the ledger's golden vectors (see vectors.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"
#include "ledger/ledger.h"
#include "vectors.h"

#define CHAIN "squall-vectors"
#define T0 UINT64_C(1700000000000000)
#define VEC_MAX 32

struct vkey {
    char role[16];
    unsigned index;
    struct sqc_keypair kp;
};
static struct vkey vkeys_[64];
static size_t vkey_count_;

const struct sqc_keypair *ldg_vec_key(const char *role, unsigned index)
{
    for (size_t i = 0; i < vkey_count_; i++) {
        if (vkeys_[i].index == index && strcmp(vkeys_[i].role, role) == 0) {
            return &vkeys_[i].kp;
        }
    }
    if (vkey_count_ == sizeof(vkeys_) / sizeof(vkeys_[0])) {
        abort();
    }
    struct vkey *k = &vkeys_[vkey_count_++];
    snprintf(k->role, sizeof(k->role), "%s", role);
    k->index = index;
    char label[64];
    int n = snprintf(label, sizeof(label), "squall-vector/%s/%u", role, index);
    uint8_t seed[SQC_SEED_BYTES];
    sqc_sha256(seed, label, (size_t)n);
    if (sqc_keypair_from_seed(&k->kp, seed) != SQ_OK) {
        abort();
    }
    return &k->kp;
}

void ldg_vec_free(struct ldg_vec *v, size_t count)
{
    for (size_t i = 0; v != NULL && i < count; i++) {
        free(v[i].data);
    }
    free(v);
}

struct gen {
    struct ldg_vec *v;
    size_t count;
};

static int add(struct gen *gen, const char *name, const void *data, size_t size, bool text)
{
    if (gen->count == VEC_MAX) {
        return SQ_EFULL;
    }
    struct ldg_vec *v = &gen->v[gen->count];
    v->data = malloc(size ? size : 1);
    if (v->data == NULL) {
        return SQ_ENOMEM;
    }
    snprintf(v->name, sizeof(v->name), "%s", name);
    memcpy(v->data, data, size);
    v->size = size;
    v->text = text;
    gen->count++;
    return SQ_OK;
}

static struct ldg_genesis *make_genesis(void)
{
    struct ldg_genesis *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    g->chain_id_size = (uint8_t)strlen(CHAIN);
    memcpy(g->chain_id, CHAIN, g->chain_id_size);
    g->time_us = T0;
    g->validator_count = 3;
    for (unsigned i = 0; i < 3; i++) {
        struct ldg_member *m = &g->validators[i];
        m->id = i + 1;
        memcpy(m->pk, ldg_vec_key("val", i)->pk, SQC_PK_BYTES);
        m->addr_size = (uint8_t)snprintf(m->addr, sizeof(m->addr), "10.0.0.%u:7001", i + 1);
    }
    g->issuer_count = 1;
    memcpy(g->issuers[0], ldg_vec_key("issuer", 0)->pk, SQC_PK_BYTES);
    g->gov_count = 3;
    g->gov_threshold = 2;
    for (unsigned i = 0; i < 3; i++) {
        memcpy(g->gov_keys[i], ldg_vec_key("gov", i)->pk, SQC_PK_BYTES);
    }
    g->client_count = 2;
    g->clients = malloc(2 * SQC_PK_BYTES);
    g->balance_count = 2;
    g->balances = calloc(2, sizeof(*g->balances));
    if (g->clients == NULL || g->balances == NULL) {
        ldg_genesis_free(g);
        return NULL;
    }
    for (unsigned i = 0; i < 2; i++) {
        memcpy(g->clients[i], ldg_vec_key("client", i)->pk, SQC_PK_BYTES);
        memcpy(g->balances[i].pk, ldg_vec_key("client", i)->pk, SQC_PK_BYTES);
        g->balances[i].amount = i == 0 ? 1000 : 500;
    }
    if (ldg_genesis_finish(g) != SQ_OK) {
        ldg_genesis_free(g);
        return NULL;
    }
    return g;
}

static void tx_base(struct ldg_tx *tx, uint8_t kind, const struct sqc_keypair *sender,
                    uint64_t nonce)
{
    memset(tx, 0, sizeof(*tx));
    tx->version = LDG_FORMAT_VERSION;
    tx->kind = kind;
    tx->chain_id_size = (uint8_t)strlen(CHAIN);
    memcpy(tx->chain_id, CHAIN, tx->chain_id_size);
    memcpy(tx->sender, sender->pk, SQC_PK_BYTES);
    tx->nonce = nonce;
    tx->expiry_height = 100;
}

struct txbuf {
    uint8_t data[SQ_TX_BYTES_MAX];
    size_t size;
};

static int seal(struct ldg_tx *tx, const struct sqc_keypair *kp, const unsigned *gov,
                size_t gov_count, struct txbuf *out)
{
    for (size_t i = 0; i < gov_count; i++) {
        int rc = ldg_tx_approve(tx, (uint8_t)gov[i], ldg_vec_key("gov", gov[i]));
        if (rc != SQ_OK) {
            return rc;
        }
    }
    int rc = ldg_tx_sign(tx, kp);
    return rc != SQ_OK ? rc : ldg_tx_encode(tx, out->data, sizeof(out->data), &out->size);
}

static int batch_of(uint32_t proposer, uint64_t seq, const struct txbuf *const *txs, size_t n,
                    uint8_t **out, size_t *size)
{
    struct ldg_bytes list[8];
    size_t cap = 256;
    for (size_t i = 0; i < n; i++) {
        list[i] = (struct ldg_bytes){txs[i]->data, txs[i]->size};
        cap += txs[i]->size + 4;
    }
    *out = malloc(cap);
    if (*out == NULL) {
        return SQ_ENOMEM;
    }
    return ldg_batch_encode(CHAIN, strlen(CHAIN), proposer, seq, T0 + seq * 100000, list, n,
                            ldg_vec_key("val", proposer - 1), *out, cap, size);
}

static int add_block(struct gen *gen, struct ldg_store *s, uint64_t height, const char *name)
{
    uint8_t *blk;
    size_t size;
    int rc = ldg_block_get(s, height, &blk, &size);
    if (rc == SQ_OK) {
        rc = add(gen, name, blk, size, false);
        free(blk);
    }
    return rc;
}

int ldg_vec_generate(const char *tmp_base, struct ldg_vec **out, size_t *count)
{
    *out = NULL;
    *count = 0;
    struct gen gen = {calloc(VEC_MAX, sizeof(struct ldg_vec)), 0};
    struct ldg_genesis *g = make_genesis();
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/ldgvec.XXXXXX", tmp_base);
    if (gen.v == NULL || g == NULL || mkdtemp(dir) == NULL) {
        free(gen.v);
        ldg_genesis_free(g);
        return SQ_ENOMEM;
    }
    struct ldg_store *s = NULL;
    uint8_t *b1 = NULL;
    uint8_t *b3 = NULL;
    uint8_t *cert = NULL;
    uint8_t *receipt = NULL;
    char *json = NULL;
    int rc = ldg_genesis_to_json(g, &json);
    if (rc == SQ_OK) {
        rc = add(&gen, "genesis.json", json, strlen(json), true);
    }
    if (rc == SQ_OK) {
        rc = add(&gen, "genesis_digest.hex", g->digest, LDG_HASH_BYTES, false);
    }
    /* The six transaction kinds. */
    struct txbuf transfer;
    struct txbuf mint;
    struct txbuf admit_client;
    struct txbuf remove_client;
    struct txbuf admit_validator;
    struct txbuf remove_validator;
    struct txbuf overdraft;
    struct ldg_tx tx;
    const unsigned gov02[] = {0, 2};
    const unsigned gov01[] = {0, 1};
    const unsigned gov12[] = {1, 2};
    if (rc == SQ_OK) {
        tx_base(&tx, LDG_TX_TRANSFER, ldg_vec_key("client", 0), 1);
        memcpy(tx.target, ldg_vec_key("client", 1)->pk, SQC_PK_BYTES);
        tx.amount = 250;
        rc = seal(&tx, ldg_vec_key("client", 0), NULL, 0, &transfer);
    }
    if (rc == SQ_OK) {
        tx_base(&tx, LDG_TX_MINT, ldg_vec_key("issuer", 0), 1);
        memcpy(tx.target, ldg_vec_key("client", 1)->pk, SQC_PK_BYTES);
        tx.amount = 40;
        rc = seal(&tx, ldg_vec_key("issuer", 0), NULL, 0, &mint);
    }
    if (rc == SQ_OK) {
        tx_base(&tx, LDG_TX_ADMIT_CLIENT, ldg_vec_key("gov", 0), 1);
        memcpy(tx.target, ldg_vec_key("client", 2)->pk, SQC_PK_BYTES);
        rc = seal(&tx, ldg_vec_key("gov", 0), gov02, 2, &admit_client);
    }
    if (rc == SQ_OK) {
        tx_base(&tx, LDG_TX_ADMIT_VALIDATOR, ldg_vec_key("gov", 1), 1);
        memcpy(tx.target, ldg_vec_key("val", 3)->pk, SQC_PK_BYTES);
        tx.validator_id = 4;
        tx.addr_size = 13;
        memcpy(tx.addr, "10.0.0.4:7001", 13);
        rc = seal(&tx, ldg_vec_key("gov", 1), gov01, 2, &admit_validator);
    }
    if (rc == SQ_OK) {
        tx_base(&tx, LDG_TX_TRANSFER, ldg_vec_key("client", 1), 1);
        memcpy(tx.target, ldg_vec_key("client", 0)->pk, SQC_PK_BYTES);
        tx.amount = 10000;
        rc = seal(&tx, ldg_vec_key("client", 1), NULL, 0, &overdraft);
    }
    if (rc == SQ_OK) {
        tx_base(&tx, LDG_TX_REMOVE_CLIENT, ldg_vec_key("gov", 0), 2);
        memcpy(tx.target, ldg_vec_key("client", 1)->pk, SQC_PK_BYTES);
        rc = seal(&tx, ldg_vec_key("gov", 0), gov12, 2, &remove_client);
    }
    if (rc == SQ_OK) {
        tx_base(&tx, LDG_TX_REMOVE_VALIDATOR, ldg_vec_key("gov", 1), 2);
        tx.validator_id = 2;
        rc = seal(&tx, ldg_vec_key("gov", 1), gov02, 2, &remove_validator);
    }
    const struct {
        const char *name;
        const struct txbuf *tx;
    } txs[] = {
        {"tx_transfer.hex", &transfer},
        {"tx_mint.hex", &mint},
        {"tx_admit_client.hex", &admit_client},
        {"tx_remove_client.hex", &remove_client},
        {"tx_admit_validator.hex", &admit_validator},
        {"tx_remove_validator.hex", &remove_validator},
    };
    for (size_t i = 0; rc == SQ_OK && i < sizeof(txs) / sizeof(txs[0]); i++) {
        rc = add(&gen, txs[i].name, txs[i].tx->data, txs[i].tx->size, false);
    }
    /* A chain: block 1 (a batch of five, one failing), block 2 (view 1 with validator 4),
     * block 3 (a batch of validator 4), finality of every member at 3. */
    size_t b1_size = 0;
    size_t b3_size = 0;
    if (rc == SQ_OK) {
        const struct txbuf *list[] = {&transfer, &mint, &admit_client, &admit_validator,
                                      &overdraft};
        rc = batch_of(1, 1, list, 5, &b1, &b1_size);
    }
    if (rc == SQ_OK) {
        const struct txbuf *list[] = {&remove_client, &remove_validator};
        rc = batch_of(4, 1, list, 2, &b3, &b3_size);
    }
    if (rc == SQ_OK) {
        rc = add(&gen, "batch_1.hex", b1, b1_size, false);
    }
    if (rc == SQ_OK) {
        rc = add(&gen, "batch_3.hex", b3, b3_size, false);
    }
    if (rc == SQ_OK) {
        rc = ldg_store_open(dir, g, NULL, &s);
    }
    struct ldg_block_info info;
    if (rc == SQ_OK) {
        rc = add_block(&gen, s, 0, "block_0.hex");
    }
    if (rc == SQ_OK) {
        rc = ldg_batch_apply(s, 0, b1, b1_size, NULL, &info);
    }
    if (rc == SQ_OK) {
        struct ldg_view *v = calloc(1, sizeof(*v));
        rc = v == NULL ? SQ_ENOMEM : SQ_OK;
        if (rc == SQ_OK) {
            ldg_view_current(s, v, NULL);
            v->view_id = 1;
            v->members[3] = (struct ldg_member){.id = 4, .addr_size = 13};
            memcpy(v->members[3].pk, ldg_vec_key("val", 3)->pk, SQC_PK_BYTES);
            memcpy(v->members[3].addr, "10.0.0.4:7001", 13);
            v->member_count = 4;
            rc = ldg_view_apply(s, v, T0 + 200000, &info);
        }
        free(v);
    }
    if (rc == SQ_OK) {
        rc = ldg_batch_apply(s, 1, b3, b3_size, NULL, &info);
    }
    struct ldg_finality fin[4];
    for (uint32_t i = 0; rc == SQ_OK && i < 4; i++) {
        rc = ldg_finality_make(s, i + 1, ldg_vec_key("val", i), 3, &fin[i]);
        if (rc == SQ_OK) {
            rc = ldg_finality_add(s, &fin[i], NULL);
        }
    }
    if (rc == SQ_OK) {
        rc = ldg_commit(s, NULL);
    }
    for (uint64_t h = 1; rc == SQ_OK && h <= 3; h++) {
        const char *names[] = {"", "block_1.hex", "block_2_view.hex", "block_3.hex"};
        rc = add_block(&gen, s, h, names[h]);
    }
    if (rc == SQ_OK) {
        uint8_t buf[512];
        size_t n;
        rc = ldg_finality_encode(CHAIN, strlen(CHAIN), &fin[0], buf, sizeof(buf), &n);
        if (rc == SQ_OK) {
            rc = add(&gen, "finality.hex", buf, n, false);
        }
    }
    size_t n;
    if (rc == SQ_OK) {
        rc = ldg_cert_build(s, 1, &cert, &n);
        if (rc == SQ_OK) {
            rc = add(&gen, "certificate_1.hex", cert, n, false);
        }
    }
    if (rc == SQ_OK) {
        uint8_t id[LDG_HASH_BYTES];
        ldg_tx_id(transfer.data, transfer.size, id);
        rc = ldg_receipt_build(s, id, &receipt, &n);
        if (rc == SQ_OK) {
            rc = add(&gen, "receipt_transfer.hex", receipt, n, false);
        }
    }
    ldg_store_close(s);
    (void)ldg_store_remove(dir);
    free(json);
    free(b1);
    free(b3);
    free(cert);
    free(receipt);
    ldg_genesis_free(g);
    if (rc != SQ_OK) {
        ldg_vec_free(gen.v, gen.count);
        return rc;
    }
    *out = gen.v;
    *count = gen.count;
    return SQ_OK;
}
