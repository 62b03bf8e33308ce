/* The audit: a clean chain passes; a byte flipped anywhere in a stored block, certificate or state
 * record is caught, and the fault names the height and what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>

#include "base/err.h"
#include "ldg_test.h"
#include "ledger/ledger_int.h"

struct fx {
    struct ldg_genesis *g;
    char *dir;
    struct ldg_store *s;
    struct sqc_verify_pool *pool;
    uint64_t tip;
    uint64_t view1_height;
};

static struct fx *fx_;

static void build_chain(struct fx *f)
{
    struct ldg_store *s = t_open(f->g, &f->dir);
    uint8_t tx[4][SQ_TX_BYTES_MAX];
    struct ldg_bytes b[4];
    /* 1: transfers; 2: a mint and a failed transfer; 3: governance; 4: view 1; 5-6: more. */
    for (unsigned i = 0; i < 3; i++) {
        b[i].size = t_transfer(tx[i], t_key("client", i), t_key("client", 7)->pk, 10 + i, 1, 50);
        b[i].data = tx[i];
    }
    t_apply(s, 1, b, 3, NULL);
    b[0].size = t_mint(tx[0], t_key("issuer", 0), t_key("client", 0)->pk, 5, 1);
    b[1].size = t_transfer(tx[1], t_key("client", 1), t_key("client", 0)->pk, 99999, 2, 50);
    t_apply(s, 2, b, 2, NULL);
    b[0].size = t_gov(tx[0], LDG_TX_ADMIT_VALIDATOR, t_key("operator", 0), 1, t_key("val", 3)->pk,
                      4, "127.0.0.1:7004", 0x6);
    t_apply(s, 3, b, 1, NULL);
    t_finalize(s);
    T_OK(ldg_commit(s, NULL));
    struct ldg_view v;
    ldg_view_current(s, &v, NULL);
    v.view_id = 1;
    v.members[3] = (struct ldg_member){.id = 4, .addr_size = 14};
    memcpy(v.members[3].pk, t_key("val", 3)->pk, 32);
    memcpy(v.members[3].addr, "127.0.0.1:7004", 14);
    v.member_count = 4;
    struct ldg_block_info info;
    T_OK(ldg_view_apply(s, &v, 0, &info));
    f->view1_height = info.height;
    for (unsigned i = 0; i < 2; i++) {
        b[0].size = t_transfer(tx[0], t_key("client", 3 + i), t_key("client", 6)->pk, 1, 1, 50);
        b[1].size = t_gov(tx[1], LDG_TX_ADMIT_CLIENT, t_key("operator", 0), 2 + i,
                          t_key("newbie", i)->pk, 0, NULL, 0x3);
        t_apply(s, 4, b, 2, NULL);
    }
    /* A view change on top so the one to view 1 is not the current view. */
    ldg_view_current(s, &v, NULL);
    v.view_id = 2;
    v.member_count = 3;
    T_OK(ldg_view_apply(s, &v, 0, &info));
    b[0].size = t_transfer(tx[0], t_key("client", 5), t_key("client", 6)->pk, 1, 1, 50);
    t_apply(s, 1, b, 1, NULL);
    t_finalize(s);
    T_OK(ldg_commit(s, NULL));
    f->tip = ldg_store_height(s);
    ldg_store_close(s);
}

static int setup(void **state)
{
    (void)state;
    if (t_setup(NULL) != 0) {
        return -1;
    }
    fx_ = calloc(1, sizeof(*fx_));
    fx_->g = t_genesis(false);
    if (sqc_verify_pool_create(&fx_->pool, 2) != SQ_OK) {
        return -1;
    }
    build_chain(fx_);
    if (ldg_store_open(fx_->dir, fx_->g, NULL, &fx_->s) != SQ_OK) {
        return -1;
    }
    mdb_env_set_flags(fx_->s->env, MDB_NOSYNC, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ldg_store_close(fx_->s);
    t_rmdir(fx_->dir);
    sqc_verify_pool_destroy(fx_->pool);
    ldg_genesis_free(fx_->g);
    free(fx_);
    return 0;
}

struct progress {
    unsigned calls;
    uint64_t last;
    bool stop;
};

static bool on_progress(void *arg, uint64_t height, uint64_t tip, uint64_t txs)
{
    (void)txs;
    struct progress *p = arg;
    assert_true(height <= tip);
    assert_true(height >= p->last);
    p->last = height;
    p->calls++;
    return !p->stop;
}

/* Audits the fixture's store: SQ_OK or the fault. */
static int audit(struct ldg_audit_report *rep)
{
    return ldg_audit_run(fx_->s, NULL, NULL, NULL, rep);
}

static void test_clean_chain_passes(void **state)
{
    (void)state;
    struct ldg_store *s = fx_->s;
    struct progress p = {0};
    struct ldg_audit_report rep;
    T_OK(ldg_audit_run(s, fx_->pool, on_progress, &p, &rep));
    assert_int_equal(rep.tip, fx_->tip);
    assert_int_equal(rep.blocks, fx_->tip + 1);
    assert_int_equal(rep.txs, 3 + 2 + 1 + 4 + 1);
    assert_int_equal(rep.views, 3);
    assert_int_equal(rep.certs, 2);
    assert_true(rep.signatures >= 11 + 5 + 7);
    assert_true(p.calls >= 1);
    assert_int_equal(p.last, fx_->tip);
    /* Without a pool too. */
    T_OK(ldg_audit_run(s, NULL, NULL, NULL, &rep));
}

/* ---- raw LMDB access, to play the attacker ----
 * Writes go straight into the store's own environment (a second environment on the same files in
 * one process is not allowed by LMDB), without fsync: the attacker does not need durability. */

static MDB_dbi ix_table_;

static MDB_dbi dbi_of(const char *db)
{
    static const char *const names[LDG_DB_COUNT_] = {"meta",       "headers", "bodies", "accounts",
                                                     "validators", "views",   "certs",  "mnodes"};
    if (strcmp(db, "txindex") == 0) {
        return ix_table_; /* the index's own environment (txindex.c): the run raw_begin_db found */
    }
    for (int i = 0; i < LDG_DB_COUNT_; i++) {
        if (strcmp(names[i], db) == 0) {
            return fx_->s->dbi[i];
        }
    }
    fail_msg("no table %s", db);
    return 0;
}

static void raw_begin(MDB_txn **txn, unsigned flags)
{
    assert_int_equal(mdb_txn_begin(fx_->s->env, NULL, flags, txn), 0);
}

/* A transaction on the environment that holds table `db`. */
static void raw_begin_db(const char *db, MDB_txn **txn, unsigned flags)
{
    MDB_env *env = strcmp(db, "txindex") == 0 ? fx_->s->ienv : fx_->s->env;
    assert_non_null(env);
    assert_int_equal(mdb_txn_begin(env, NULL, flags, txn), 0);
}

/* For the index: the run table that holds `key` (the index is a set of runs, txindex.c). */
static void ix_table_find(const char *db, MDB_txn *txn, const void *key, size_t key_size)
{
    if (strcmp(db, "txindex") != 0) {
        return;
    }
    for (unsigned slot = 0; slot < LDG_TXINDEX_SLOTS; slot++) {
        MDB_val k = {key_size, (void *)(uintptr_t)key};
        MDB_val v;
        if (mdb_get(txn, fx_->s->idbi_slot[slot], &k, &v) == 0) {
            ix_table_ = fx_->s->idbi_slot[slot];
            return;
        }
    }
    fail_msg("no index run holds the key");
}

/* Size of a stored value. */
static size_t raw_size(const char *db, const void *key, size_t key_size)
{
    MDB_txn *txn;
    raw_begin_db(db, &txn, MDB_RDONLY);
    ix_table_find(db, txn, key, key_size);
    MDB_val k = {key_size, (void *)(uintptr_t)key};
    MDB_val v;
    assert_int_equal(mdb_get(txn, dbi_of(db), &k, &v), 0);
    size_t n = v.mv_size;
    mdb_txn_abort(txn);
    return n;
}

/* XORs byte `offset` of a stored value with `x`. */
static void raw_flip(const char *db, const void *key, size_t key_size, size_t offset, uint8_t x)
{
    MDB_txn *txn;
    raw_begin_db(db, &txn, 0);
    ix_table_find(db, txn, key, key_size);
    MDB_val k = {key_size, (void *)(uintptr_t)key};
    MDB_val v;
    assert_int_equal(mdb_get(txn, dbi_of(db), &k, &v), 0);
    assert_true(offset < v.mv_size);
    uint8_t *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[offset] ^= x;
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi_of(db), &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    free(copy);
}

/* Flips every byte of one stored value in turn and checks the audit catches each one. */
static void flip_all(const char *db, const void *key, size_t key_size, uint64_t lo, uint64_t hi,
                     size_t step)
{
    size_t n = raw_size(db, key, key_size);
    struct ldg_audit_report rep;
    for (size_t i = 0; i < n; i += step) {
        raw_flip(db, key, key_size, i, 0x01);
        int rc = audit(&rep);
        raw_flip(db, key, key_size, i, 0x01);
        if (rc == SQ_OK) {
            fail_msg("%s: byte %zu of %zu flipped, the audit passed", db, i, n);
        }
        bool named = rep.what[0] != '\0' && rep.why[0] != '\0';
        bool placed = rep.fault_height >= lo && rep.fault_height <= hi;
        if (!named || !placed) {
            fail_msg("%s: byte %zu: fault at %llu (%s: %s), expected %llu..%llu", db, i,
                     (unsigned long long)rep.fault_height, rep.what, rep.why,
                     (unsigned long long)lo, (unsigned long long)hi);
        }
    }
    T_OK(audit(&rep));
}

static void test_tampered_blocks(void **state)
{
    (void)state;
    uint8_t key[8];
    /* A batch block in the middle, the view change to view 1, and the tip. A header flip shows at
     * its own height or as the next block's broken link; a body flip at its own height. */
    const uint64_t heights[] = {2, fx_->view1_height, fx_->tip};
    for (size_t i = 0; i < SQ_ARRAY_LEN(heights); i++) {
        uint64_t h = heights[i];
        ldg_be64_store(key, h);
        flip_all("headers", key, 8, h, h + 1, 1);
        flip_all("bodies", key, 8, h, h, 1);
    }
}

static void test_tampered_state(void **state)
{
    (void)state;
    uint8_t key[8];
    /* Certificate records: the audit checks each signature against the chain. */
    MDB_txn *txn;
    raw_begin(&txn, MDB_RDONLY);
    MDB_cursor *cur;
    assert_int_equal(mdb_cursor_open(txn, dbi_of("certs"), &cur), 0);
    MDB_val k;
    MDB_val v;
    uint64_t certs[4];
    size_t ncert = 0;
    for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ncert < 4;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        certs[ncert++] = ldg_be64_load(k.mv_data);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    assert_int_equal(ncert, 2);
    for (size_t i = 0; i < ncert; i++) {
        ldg_be64_store(key, certs[i]);
        flip_all("certs", key, 8, certs[i], certs[i], 1);
    }
    /* An account, a tx index entry, accumulator nodes, a validator, the views table. */
    flip_all("accounts", t_key("client", 7)->pk, 32, 0, fx_->tip, 1);
    uint8_t tx[SQ_TX_BYTES_MAX];
    size_t n = t_transfer(tx, t_key("client", 0), t_key("client", 7)->pk, 10, 1, 50);
    uint8_t id[32];
    ldg_tx_id(tx, n, id);
    flip_all("txindex", id, 32, 0, fx_->tip, 1);
    uint8_t mkey[9];
    ldg_mnode_key(mkey, 0, 3);
    flip_all("mnodes", mkey, 9, 3, 3, 5);
    ldg_mnode_key(mkey, 2, 0);
    flip_all("mnodes", mkey, 9, 3, 3, 5);
    uint8_t vkey[4];
    ldg_be32_store(vkey, 4);
    flip_all("validators", vkey, 4, 0, fx_->tip, 1);
    ldg_be64_store(key, 1);
    flip_all("views", key, 8, 0, fx_->tip, 1);
    /* A flipped tip names whatever height it now claims. */
    flip_all("meta", LDG_META_TIP, strlen(LDG_META_TIP), 0, UINT64_MAX, 1);
    flip_all("meta", LDG_META_ACC, strlen(LDG_META_ACC), 0, fx_->tip, 1);
    flip_all("meta", LDG_META_VIEW, strlen(LDG_META_VIEW), 0, fx_->tip, 1);
    flip_all("meta", LDG_META_CERT, strlen(LDG_META_CERT), 0, fx_->tip, 1);
}

static void test_missing_block(void **state)
{
    (void)state;
    /* Delete a body: named, at its height. */
    MDB_txn *txn;
    uint8_t key[8];
    ldg_be64_store(key, 3);
    raw_begin(&txn, 0);
    MDB_val k = {8, key};
    MDB_val v;
    assert_int_equal(mdb_get(txn, dbi_of("bodies"), &k, &v), 0);
    uint8_t *saved = malloc(v.mv_size);
    size_t saved_size = v.mv_size;
    memcpy(saved, v.mv_data, v.mv_size);
    assert_int_equal(mdb_del(txn, dbi_of("bodies"), &k, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    struct ldg_audit_report rep;
    assert_int_equal(audit(&rep), SQ_ECORRUPT);
    assert_int_equal(rep.fault_height, 3);
    assert_string_equal(rep.what, "body");
    raw_begin(&txn, 0);
    v = (MDB_val){saved_size, saved};
    assert_int_equal(mdb_put(txn, dbi_of("bodies"), &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    free(saved);
    T_OK(audit(&rep));
}

static void test_read_only_store(void **state)
{
    (void)state;
    /* A read-only store (opened in a child: LMDB allows one environment per file per process)
     * audits and refuses writes. The fixture's store is closed across the fork: its indexer
     * thread could hold the allocator's lock at that moment, and the child would wait forever. */
    ldg_store_close(fx_->s);
    fx_->s = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct ldg_store *s;
        struct ldg_store_opts opts = {.read_only = true};
        struct ldg_audit_report rep;
        struct ldg_block_info info;
        int code = 0;
        if (ldg_store_open(fx_->dir, fx_->g, &opts, &s) != SQ_OK) {
            _exit(10);
        }
        if (ldg_audit_run(s, NULL, NULL, NULL, &rep) != SQ_OK) {
            code = 11;
        } else if (ldg_batch_apply(s, 0, (const uint8_t *)"x", 1, NULL, &info) != SQ_ESTATE) {
            code = 12;
        }
        ldg_store_close(s);
        _exit(code);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    T_OK(ldg_store_open(fx_->dir, fx_->g, NULL, &fx_->s));
    mdb_env_set_flags(fx_->s->env, MDB_NOSYNC, 1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static bool vouch_all(void *arg, const uint8_t txid[32])
{
    (void)arg;
    (void)txid;
    return true;
}

/* Faults found while the pipeline has another chunk in flight (several chunks, with a pool): one
 * in the replay of an early chunk, one in the gathering of a late one. */
static void test_pipeline_faults(void **state)
{
    (void)state;
    struct ldg_genesis *g = t_genesis_n(true, T_VALIDATORS, 128, 1000000);
    char *dir;
    struct ldg_store *s = t_open(g, &dir);
    uint8_t(*buf)[SQ_TX_BYTES_MAX] = malloc(128 * SQ_TX_BYTES_MAX);
    struct ldg_bytes txs[128];
    for (unsigned b = 0; b < 40; b++) {
        for (unsigned i = 0; i < 128; i++) {
            txs[i].size = t_transfer(buf[i], t_key("client", i), t_key("client", (i + 1) % 128)->pk,
                                     1, b + 1, UINT64_MAX);
            txs[i].data = buf[i];
        }
        if (b == 4) {
            buf[7][txs[7].size - 1] ^= 0x01; /* forged, but vouched for below */
        }
        size_t size;
        uint8_t *batch = t_batch(1 + b % 3, 1000 + b, txs, 128, &size);
        struct ldg_apply_opts opts = {.verified = vouch_all};
        struct ldg_block_info info;
        T_OK(ldg_batch_apply(s, 0, batch, size, &opts, &info));
        free(batch);
    }
    T_OK(ldg_commit(s, NULL));
    struct ldg_audit_report rep;
    assert_int_equal(ldg_audit_run(s, fx_->pool, NULL, NULL, &rep), SQ_EBADSIG);
    assert_int_equal(rep.fault_height, 5);
    assert_string_equal(rep.what, "tx_signature");
    assert_non_null(strstr(rep.why, "transaction 7"));
    ldg_store_close(s);
    /* Now a header late in the chain, in another chunk. */
    struct ldg_store *other = fx_->s;
    char *other_dir = fx_->dir;
    T_OK(ldg_store_open(dir, g, NULL, &fx_->s));
    fx_->dir = dir;
    uint8_t key[8];
    ldg_be64_store(key, 38);
    raw_flip("headers", key, 8, 40, 0x04);
    assert_int_not_equal(ldg_audit_run(fx_->s, fx_->pool, NULL, NULL, &rep), SQ_OK);
    assert_true(rep.fault_height == 38 || rep.fault_height == 39);
    ldg_store_close(fx_->s);
    fx_->s = other;
    fx_->dir = other_dir;
    t_rmdir(dir);
    free(buf);
    ldg_genesis_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_chain_passes), cmocka_unit_test(test_tampered_blocks),
        cmocka_unit_test(test_tampered_state),     cmocka_unit_test(test_missing_block),
        cmocka_unit_test(test_read_only_store),    cmocka_unit_test(test_pipeline_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
