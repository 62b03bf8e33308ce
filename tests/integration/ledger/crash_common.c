#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "crash_common.h"

struct ckey {
    char role[16];
    unsigned index;
    struct sqc_keypair kp;
};
static struct ckey keys_[32];
static size_t key_count_;

const struct sqc_keypair *crash_key(const char *role, unsigned index)
{
    for (size_t i = 0; i < key_count_; i++) {
        if (keys_[i].index == index && strcmp(keys_[i].role, role) == 0) {
            return &keys_[i].kp;
        }
    }
    if (key_count_ == sizeof(keys_) / sizeof(keys_[0])) {
        return NULL;
    }
    struct ckey *k = &keys_[key_count_];
    snprintf(k->role, sizeof(k->role), "%s", role);
    k->index = index;
    char label[64];
    int n = snprintf(label, sizeof(label), "squall-crash-test/%s/%u", role, index);
    uint8_t seed[SQC_SEED_BYTES];
    sqc_sha256(seed, label, (size_t)n);
    if (sqc_keypair_from_seed(&k->kp, seed) != SQ_OK) {
        return NULL;
    }
    key_count_++;
    return &k->kp;
}

struct ldg_genesis *crash_genesis(void)
{
    struct ldg_genesis *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    memcpy(g->chain_id, "squall-crash", 12);
    g->chain_id_size = 12;
    g->validator_count = CRASH_VALIDATORS;
    for (unsigned i = 0; i < CRASH_VALIDATORS; i++) {
        g->validators[i].id = i + 1;
        memcpy(g->validators[i].pk, crash_key("val", i)->pk, SQC_PK_BYTES);
        g->validators[i].addr_size = (uint8_t)snprintf(
            g->validators[i].addr, sizeof(g->validators[i].addr), "127.0.0.1:%u", 7001 + i);
    }
    g->clients_open = true;
    g->balance_count = CRASH_CLIENTS;
    g->balances = calloc(CRASH_CLIENTS, sizeof(*g->balances));
    if (g->balances == NULL) {
        ldg_genesis_free(g);
        return NULL;
    }
    for (unsigned i = 0; i < CRASH_CLIENTS; i++) {
        memcpy(g->balances[i].pk, crash_key("client", i)->pk, SQC_PK_BYTES);
        g->balances[i].amount = 1000000000;
    }
    if (ldg_genesis_finish(g) != SQ_OK) {
        ldg_genesis_free(g);
        return NULL;
    }
    return g;
}
