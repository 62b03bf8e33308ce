/* Chains built with the ledger library for the wallet's tests and benchmark (wal_fixture.h). */
#include "wal_fixture.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include <lmdb.h>

#include "base/err.h"

#define KEYS_MAX 4096

struct fx_cached {
    char role[16];
    unsigned index;
    struct sqc_keypair kp;
};
static struct fx_cached keys_[KEYS_MAX];
static size_t key_count_;
static pthread_mutex_t keys_lock_ = PTHREAD_MUTEX_INITIALIZER;

const struct sqc_keypair *fx_key(const char *role, unsigned index)
{
    pthread_mutex_lock(&keys_lock_);
    for (size_t i = 0; i < key_count_; i++) {
        if (keys_[i].index == index && strcmp(keys_[i].role, role) == 0) {
            pthread_mutex_unlock(&keys_lock_);
            return &keys_[i].kp;
        }
    }
    if (key_count_ == KEYS_MAX) {
        abort();
    }
    struct fx_cached *k = &keys_[key_count_];
    snprintf(k->role, sizeof(k->role), "%s", role);
    k->index = index;
    char label[64];
    int n = snprintf(label, sizeof(label), "squall-wallet-test/%s/%u", role, index);
    uint8_t seed[SQC_SEED_BYTES];
    sqc_sha256(seed, label, (size_t)n);
    if (sqc_keypair_from_seed(&k->kp, seed) != SQ_OK) {
        abort();
    }
    key_count_++;
    pthread_mutex_unlock(&keys_lock_);
    return &k->kp;
}

struct ldg_genesis *fx_genesis(unsigned clients, uint64_t balance)
{
    struct ldg_genesis *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        return NULL;
    }
    g->chain_id_size = (uint8_t)strlen(FX_CHAIN);
    memcpy(g->chain_id, FX_CHAIN, g->chain_id_size);
    g->time_us = 1700000000000000ull;
    g->validator_count = FX_VALIDATORS;
    for (unsigned i = 0; i < FX_VALIDATORS; i++) {
        struct ldg_member *m = &g->validators[i];
        m->id = i + 1;
        memcpy(m->pk, fx_key("val", i)->pk, SQC_PK_BYTES);
        m->addr_size = (uint8_t)snprintf(m->addr, sizeof(m->addr), "127.0.0.1:%u", 26001 + i);
    }
    g->issuer_count = FX_ISSUERS;
    memcpy(g->issuers[0], fx_key("issuer", 0)->pk, SQC_PK_BYTES);
    g->gov_count = FX_GOV;
    g->gov_threshold = 2;
    for (unsigned i = 0; i < FX_GOV; i++) {
        memcpy(g->gov_keys[i], fx_key("gov", i)->pk, SQC_PK_BYTES);
    }
    g->client_count = clients;
    g->clients = malloc((clients ? clients : 1) * SQC_PK_BYTES);
    g->balance_count = clients;
    g->balances = calloc(clients ? clients : 1, sizeof(*g->balances));
    if (g->clients == NULL || g->balances == NULL) {
        ldg_genesis_free(g);
        return NULL;
    }
    for (unsigned i = 0; i < clients; i++) {
        memcpy(g->clients[i], fx_key("client", i)->pk, SQC_PK_BYTES);
        memcpy(g->balances[i].pk, fx_key("client", i)->pk, SQC_PK_BYTES);
        g->balances[i].amount = balance;
    }
    if (ldg_genesis_finish(g) != SQ_OK) {
        ldg_genesis_free(g);
        return NULL;
    }
    return g;
}

int fx_genesis_write(const struct ldg_genesis *g, const char *path)
{
    char *json;
    int rc = ldg_genesis_to_json(g, &json);
    if (rc != SQ_OK) {
        return rc;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        free(json);
        return SQ_EIO;
    }
    size_t n = strlen(json);
    rc = fwrite(json, 1, n, f) == n ? SQ_OK : SQ_EIO;
    fclose(f);
    free(json);
    return rc;
}

int fx_keyfile_write(const struct sqc_keypair *kp, const char *path)
{
    char err[256];
    return sqc_keyfile_write(path, kp, NULL, 0, SQC_KDF_MIN, err, sizeof(err));
}

int fx_mkdtemp(char *out, size_t cap, const char *label)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/%s.XXXXXX", base != NULL && base[0] != '\0' ? base : "/tmp", label);
    return mkdtemp(out) != NULL ? SQ_OK : SQ_EIO;
}

void fx_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) {
            continue;
        }
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, ent->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            fx_rmtree(path);
        } else {
            unlink(path);
        }
    }
    closedir(d);
    rmdir(dir);
}

/* ---- building ---- */

static bool all_verified(void *arg, const uint8_t txid[LDG_HASH_BYTES])
{
    (void)arg;
    (void)txid;
    return true;
}

struct sign_job {
    uint8_t *bufs;      /* count * SQ_TX_BYTES_MAX */
    size_t *sizes;
    unsigned first;
    unsigned count;
    unsigned clients;
    uint64_t nonce;
    int rc;
};

/* Transfer i of a block: client i % clients pays 1 to the next client. */
static void *sign_range(void *arg)
{
    struct sign_job *j = arg;
    for (unsigned i = j->first; i < j->first + j->count && j->rc == SQ_OK; i++) {
        unsigned from = i % j->clients;
        unsigned to = (from + 1) % j->clients;
        uint64_t nonce = j->nonce + i / j->clients;
        const struct sqc_keypair *kp = fx_key("client", from);
        struct ldg_tx tx;
        memset(&tx, 0, sizeof(tx));
        tx.version = LDG_FORMAT_VERSION;
        tx.kind = LDG_TX_TRANSFER;
        tx.chain_id_size = (uint8_t)strlen(FX_CHAIN);
        memcpy(tx.chain_id, FX_CHAIN, tx.chain_id_size);
        memcpy(tx.sender, kp->pk, SQC_PK_BYTES);
        tx.nonce = nonce;
        tx.expiry_height = 1000000000ull;
        memcpy(tx.target, fx_key("client", to)->pk, SQC_PK_BYTES);
        tx.amount = 1;
        j->rc = ldg_tx_sign(&tx, kp);
        if (j->rc == SQ_OK) {
            j->rc = ldg_tx_encode(&tx, j->bufs + (size_t)i * SQ_TX_BYTES_MAX, SQ_TX_BYTES_MAX,
                                  &j->sizes[i]);
        }
    }
    return NULL;
}

struct builder {
    struct ldg_store *s;
    const struct fx_opts *o;
    struct fx_chain *c;
    uint64_t seq[SQ_MEMBERS_MAX + 1];
    unsigned since_commit;
    unsigned since_final;
};

static int finalize(struct builder *b)
{
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        return SQ_ENOMEM;
    }
    ldg_view_current(b->s, view, NULL);
    uint64_t h = ldg_store_height(b->s);
    int rc = SQ_OK;
    for (uint32_t i = 0; i < view->member_count && rc == SQ_OK; i++) {
        struct ldg_finality f;
        uint32_t id = view->members[i].id;
        rc = ldg_finality_make(b->s, id, fx_key("val", id - 1), h, &f);
        if (rc == SQ_OK) {
            rc = ldg_finality_add(b->s, &f, NULL);
        }
    }
    free(view);
    b->since_final = 0;
    return rc;
}

static int after_block(struct builder *b)
{
    b->since_commit++;
    b->since_final++;
    int rc = SQ_OK;
    if (b->o->finalize_every != 0 && b->since_final >= b->o->finalize_every) {
        rc = finalize(b);
    }
    unsigned every = b->o->commit_every ? b->o->commit_every : 64;
    if (rc == SQ_OK && b->since_commit >= every) {
        rc = ldg_commit(b->s, NULL);
        b->since_commit = 0;
    }
    return rc;
}

/* Applies a batch of encoded transactions proposed by the next member of the current view. */
static int apply_batch(struct builder *b, const struct ldg_bytes *txs, size_t count,
                       struct ldg_block_info *info)
{
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        return SQ_ENOMEM;
    }
    ldg_view_current(b->s, view, NULL);
    uint64_t h = ldg_store_height(b->s) + 1;
    uint32_t proposer = view->members[h % view->member_count].id;
    uint64_t view_id = view->view_id;
    free(view);
    size_t cap = 256;
    for (size_t i = 0; i < count; i++) {
        cap += txs[i].size + 4;
    }
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return SQ_ENOMEM;
    }
    size_t size;
    uint64_t seq = ++b->seq[proposer];
    int rc = ldg_batch_encode(FX_CHAIN, strlen(FX_CHAIN), proposer, seq,
                              1700000000000000ull + h * 1000, txs, count,
                              fx_key("val", proposer - 1), buf, cap, &size);
    if (rc == SQ_OK) {
        struct ldg_apply_opts ao = {.verified = b->o->skip_verify ? all_verified : NULL};
        rc = ldg_batch_apply(b->s, view_id, buf, size, &ao, info);
    }
    free(buf);
    return rc == SQ_OK ? after_block(b) : rc;
}

static int add_validator_4(struct builder *b)
{
    /* Block 1: governance admits validator 4 (approvals of gov 0 and 1, sent by gov 0). */
    struct ldg_tx tx;
    memset(&tx, 0, sizeof(tx));
    tx.version = LDG_FORMAT_VERSION;
    tx.kind = LDG_TX_ADMIT_VALIDATOR;
    tx.chain_id_size = (uint8_t)strlen(FX_CHAIN);
    memcpy(tx.chain_id, FX_CHAIN, tx.chain_id_size);
    memcpy(tx.sender, fx_key("gov", 0)->pk, SQC_PK_BYTES);
    tx.nonce = 1;
    tx.expiry_height = 1000000;
    memcpy(tx.target, fx_key("val", 3)->pk, SQC_PK_BYTES);
    tx.validator_id = 4;
    tx.addr_size = 15;
    memcpy(tx.addr, "127.0.0.1:26004", 15);
    int rc = ldg_tx_approve(&tx, 0, fx_key("gov", 0));
    if (rc == SQ_OK) {
        rc = ldg_tx_approve(&tx, 1, fx_key("gov", 1));
    }
    if (rc == SQ_OK) {
        rc = ldg_tx_sign(&tx, fx_key("gov", 0));
    }
    uint8_t buf[SQ_TX_BYTES_MAX];
    size_t size = 0;
    if (rc == SQ_OK) {
        rc = ldg_tx_encode(&tx, buf, sizeof(buf), &size);
    }
    struct ldg_block_info info;
    struct ldg_bytes one = {buf, size};
    if (rc == SQ_OK) {
        rc = apply_batch(b, &one, 1, &info);
    }
    if (rc == SQ_OK && info.ok_count != 1) {
        return SQ_ESTATE;
    }
    /* Block 2: view 1 with members 1..4. */
    struct ldg_view *v = malloc(sizeof(*v));
    if (v == NULL) {
        return SQ_ENOMEM;
    }
    ldg_view_current(b->s, v, NULL);
    v->view_id = 1;
    v->leaver_count = 0;
    struct ldg_member *m = &v->members[v->member_count++];
    memset(m, 0, sizeof(*m));
    m->id = 4;
    memcpy(m->pk, fx_key("val", 3)->pk, SQC_PK_BYTES);
    m->addr_size = 15;
    memcpy(m->addr, "127.0.0.1:26004", 15);
    if (rc == SQ_OK) {
        rc = ldg_view_apply(b->s, v, 1700000000000000ull + 2000, &info);
    }
    free(v);
    return rc == SQ_OK ? after_block(b) : rc;
}

int fx_chain_build(const char *dir, const struct fx_opts *o, struct fx_chain *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->dir, sizeof(out->dir), "%s", dir);
    unsigned clients = o->clients ? o->clients : 8;
    out->g = fx_genesis(clients, o->balance ? o->balance : 1000);
    if (out->g == NULL) {
        return SQ_ENOMEM;
    }
    struct builder b = {.o = o, .c = out};
    int rc = ldg_store_open(dir, out->g, NULL, &b.s);
    if (rc != SQ_OK) {
        return rc;
    }
    if (o->view_change) {
        rc = add_validator_4(&b);
    }
    unsigned per = o->txs_per_block;
    uint8_t *bufs = per ? malloc((size_t)per * SQ_TX_BYTES_MAX) : NULL;
    size_t *sizes = per ? calloc(per, sizeof(size_t)) : NULL;
    struct ldg_bytes *list = per ? calloc(per, sizeof(*list)) : NULL;
    if (per && (bufs == NULL || sizes == NULL || list == NULL)) {
        rc = SQ_ENOMEM;
    }
    unsigned threads = o->sign_threads ? o->sign_threads : 1;
    threads = threads > 16 ? 16 : threads;
    for (unsigned blk = 0; rc == SQ_OK && blk < o->blocks && per > 0; blk++) {
        /* Client c sends per / clients transfers a block; nonces continue across blocks. */
        if (per % clients != 0) {
            rc = SQ_EINVAL;
            break;
        }
        struct sign_job jobs[16];
        pthread_t th[16];
        unsigned chunk = (per + threads - 1) / threads;
        for (unsigned t = 0; t < threads; t++) {
            unsigned first = t * chunk < per ? t * chunk : per;
            unsigned end = (t + 1) * chunk < per ? (t + 1) * chunk : per;
            jobs[t] = (struct sign_job){.bufs = bufs, .sizes = sizes, .first = first,
                                        .count = end - first, .clients = clients,
                                        .nonce = 1 + (uint64_t)blk * (per / clients),
                                        .rc = SQ_OK};
        }
        for (unsigned t = 1; t < threads; t++) {
            pthread_create(&th[t], NULL, sign_range, &jobs[t]);
        }
        sign_range(&jobs[0]);
        for (unsigned t = 1; t < threads; t++) {
            pthread_join(th[t], NULL);
        }
        for (unsigned t = 0; t < threads && rc == SQ_OK; t++) {
            rc = jobs[t].rc;
        }
        for (unsigned i = 0; i < per; i++) {
            list[i] = (struct ldg_bytes){bufs + (size_t)i * SQ_TX_BYTES_MAX, sizes[i]};
        }
        struct ldg_block_info info;
        if (rc == SQ_OK) {
            rc = apply_batch(&b, list, per, &info);
        }
        if (rc == SQ_OK && info.ok_count != per) {
            rc = SQ_ESTATE;
        }
        if (rc == SQ_OK) {
            if (out->txs == 0) {
                ldg_tx_id(list[0].data, list[0].size, out->first_txid);
                out->first_height = info.height;
            }
            ldg_tx_id(list[per - 1].data, list[per - 1].size, out->last_txid);
            out->last_height = info.height;
            out->txs += per;
        }
        if (!o->quiet && (blk + 1) % 50 == 0) {
            fprintf(stderr, "\rfixture: %u/%u blocks", blk + 1, o->blocks);
        }
    }
    if (!o->quiet && o->blocks >= 50) {
        fprintf(stderr, "\n");
    }
    free(bufs);
    free(sizes);
    free(list);
    if (rc == SQ_OK && b.since_final > 0) {
        rc = finalize(&b);
    }
    if (rc == SQ_OK) {
        rc = ldg_commit(b.s, NULL);
    }
    out->tip = ldg_store_height(b.s);
    ldg_store_close(b.s);
    return rc;
}

void fx_chain_free(struct fx_chain *c)
{
    ldg_genesis_free(c->g);
    c->g = NULL;
}

void fx_height_key(uint64_t height, uint8_t key[8])
{
    for (int i = 0; i < 8; i++) {
        key[i] = (uint8_t)(height >> (56 - 8 * i));
    }
}

int fx_store_tamper(const char *dir, const char *db, const uint8_t *key, size_t key_size,
                    size_t offset_from_end)
{
    MDB_env *env;
    if (mdb_env_create(&env) != 0) {
        return SQ_ENOMEM;
    }
    mdb_env_set_maxdbs(env, 32);
    int rc = mdb_env_open(env, dir, 0, 0600);
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    if (rc == 0) {
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, db, 0, &dbi);
    }
    MDB_val k = {key_size, (void *)key};
    MDB_val v;
    if (rc == 0) {
        rc = mdb_get(txn, dbi, &k, &v);
    }
    uint8_t *copy = NULL;
    if (rc == 0 && offset_from_end >= v.mv_size) {
        rc = MDB_NOTFOUND;
    }
    if (rc == 0) {
        copy = malloc(v.mv_size);
        rc = copy == NULL ? ENOMEM : 0;
    }
    if (rc == 0) {
        memcpy(copy, v.mv_data, v.mv_size);
        copy[v.mv_size - 1 - offset_from_end] ^= 0x40;
        MDB_val nv = {v.mv_size, copy};
        rc = mdb_put(txn, dbi, &k, &nv, 0);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    mdb_env_close(env);
    free(copy);
    return rc == 0 ? SQ_OK : rc == MDB_NOTFOUND ? SQ_ENOTFOUND : SQ_EIO;
}
