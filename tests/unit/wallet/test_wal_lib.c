/* The wallet library offline: transactions built and signed byte for byte as the ledger's golden
 * vectors, governance approvals from key files and partial-signature files, the keystore
 * (encrypted, plain, wrong passphrase, no terminal), the config precedence, the progress bar's
 * text, receipts (good, tampered, wrong genesis, wrong id) and the audit of a store (good,
 * tampered, another genesis). argv[1] is tests/vectors/ledger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/codec.h"
#include "base/err.h"
#include "wal_fixture.h"
#include "wallet-cli/wallet.h"

static const char *vec_dir_;

#define WAL_OK(expr)                                                                                 \
    do {                                                                                           \
        struct wal_err *w_e_ = &e;                                                                 \
        int w_rc_ = (expr);                                                                        \
        if (w_rc_ != WAL_EXIT_OK) {                                                                \
            fail_msg("%s -> exit %d: %s", #expr, w_rc_, w_e_->msg);                                \
        }                                                                                          \
    } while (0)

static int setup(void **state)
{
    (void)state;
    return sqc_init();
}

/* ---- golden transactions ---- */

/* The vectors' keys: SHA-256("squall-vector/<role>/<index>") as the seed (vectors.c). */
static void vec_key(const char *role, unsigned index, struct sqc_keypair *kp)
{
    char label[64];
    int n = snprintf(label, sizeof(label), "squall-vector/%s/%u", role, index);
    uint8_t seed[SQC_SEED_BYTES];
    sqc_sha256(seed, label, (size_t)n);
    assert_int_equal(sqc_keypair_from_seed(kp, seed), SQ_OK);
}

static size_t read_hex_file(const char *name, uint8_t *out, size_t cap)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", vec_dir_, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[2 * SQ_TX_BYTES_MAX + 8];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        n--;
    }
    size_t size = 0;
    assert_int_equal(sqc_hex_decode(out, cap, text, n, &size), SQ_OK);
    return size;
}

static struct ldg_genesis *vec_genesis(void)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/genesis.json", vec_dir_);
    struct ldg_genesis *g = NULL;
    struct wal_err e;
    WAL_OK(wal_genesis_load(path, &g, &e));
    return g;
}

static void expect_golden(struct ldg_tx *tx, const struct sqc_keypair *sender, const char *file)
{
    struct wal_err e;
    uint8_t buf[SQ_TX_BYTES_MAX];
    uint8_t golden[SQ_TX_BYTES_MAX];
    size_t size = 0;
    uint8_t id[LDG_HASH_BYTES];
    uint8_t gid[LDG_HASH_BYTES];
    WAL_OK(wal_tx_seal(tx, sender, buf, &size, id, &e));
    size_t gsize = read_hex_file(file, golden, sizeof(golden));
    assert_int_equal(size, gsize);
    assert_memory_equal(buf, golden, size);
    ldg_tx_id(golden, gsize, gid);
    assert_memory_equal(id, gid, LDG_HASH_BYTES);
}

static void test_golden_transfer_and_mint(void **state)
{
    (void)state;
    struct sqc_keypair c0, c1, issuer;
    vec_key("client", 0, &c0);
    vec_key("client", 1, &c1);
    vec_key("issuer", 0, &issuer);
    struct ldg_tx tx;
    wal_tx_init(&tx, LDG_TX_TRANSFER, "squall-vectors", c0.pk, 1, 100);
    memcpy(tx.target, c1.pk, SQC_PK_BYTES);
    tx.amount = 250;
    expect_golden(&tx, &c0, "tx_transfer.hex");
    wal_tx_init(&tx, LDG_TX_MINT, "squall-vectors", issuer.pk, 1, 100);
    memcpy(tx.target, c1.pk, SQC_PK_BYTES);
    tx.amount = 40;
    expect_golden(&tx, &issuer, "tx_mint.hex");
    /* A key that is not the sender cannot seal it. */
    struct wal_err e;
    wal_tx_init(&tx, LDG_TX_TRANSFER, "squall-vectors", c0.pk, 1, 100);
    uint8_t buf[SQ_TX_BYTES_MAX];
    size_t size;
    uint8_t id[LDG_HASH_BYTES];
    assert_int_equal(wal_tx_seal(&tx, &c1, buf, &size, id, &e), WAL_EXIT_USAGE);
    sqc_keypair_free(&c0);
    sqc_keypair_free(&c1);
    sqc_keypair_free(&issuer);
}

static void test_golden_governance(void **state)
{
    (void)state;
    struct wal_err e;
    struct ldg_genesis *g = vec_genesis();
    struct sqc_keypair gov[3], c2, v3;
    for (unsigned i = 0; i < 3; i++) {
        vec_key("gov", i, &gov[i]);
    }
    vec_key("client", 2, &c2);
    vec_key("val", 3, &v3);
    char dir[4096];
    assert_int_equal(fx_mkdtemp(dir, sizeof(dir), "walgov"), SQ_OK);

    /* Admit client: approvals of keys 2 then 0 (added out of order) from key material. */
    struct ldg_tx tx;
    wal_tx_init(&tx, LDG_TX_ADMIT_CLIENT, "squall-vectors", gov[0].pk, 1, 100);
    memcpy(tx.target, c2.pk, SQC_PK_BYTES);
    WAL_OK(wal_gov_approve_key(&tx, g, &gov[2], &e));
    WAL_OK(wal_gov_approve_key(&tx, g, &gov[0], &e));
    assert_int_equal(wal_gov_approve_key(&tx, g, &gov[0], &e), WAL_EXIT_USAGE);
    assert_string_equal(e.code, "duplicate_approval");
    expect_golden(&tx, &gov[0], "tx_admit_client.hex");

    /* Admit validator through a proposal file and two partial-signature files. */
    wal_tx_init(&tx, LDG_TX_ADMIT_VALIDATOR, "squall-vectors", gov[1].pk, 1, 100);
    memcpy(tx.target, v3.pk, SQC_PK_BYTES);
    tx.validator_id = 4;
    tx.addr_size = 13;
    memcpy(tx.addr, "10.0.0.4:7001", 13);
    char prop[4200], a0[4200], a1[4200], a2[4200];
    snprintf(prop, sizeof(prop), "%s/proposal.json", dir);
    snprintf(a0, sizeof(a0), "%s/a0.json", dir);
    snprintf(a1, sizeof(a1), "%s/a1.json", dir);
    snprintf(a2, sizeof(a2), "%s/a2.json", dir);
    WAL_OK(wal_proposal_write(&tx, prop, &e));
    assert_int_equal(wal_proposal_write(&tx, prop, &e), WAL_EXIT_IO); /* never replaced */
    struct ldg_tx back;
    WAL_OK(wal_proposal_read(prop, &back, &e));
    WAL_OK(wal_gov_partial_write(&back, g, &gov[1], a1, &e));
    WAL_OK(wal_gov_partial_write(&back, g, &gov[0], a0, &e));
    WAL_OK(wal_gov_approve_file(&back, g, a1, &e));
    WAL_OK(wal_gov_approve_file(&back, g, a0, &e));
    expect_golden(&back, &gov[1], "tx_admit_validator.hex");

    /* A partial signature for another change is refused and says so. */
    struct ldg_tx other;
    WAL_OK(wal_proposal_read(prop, &other, &e));
    other.nonce = 2;
    assert_int_equal(wal_gov_approve_file(&other, g, a0, &e), WAL_EXIT_FAULT);
    assert_non_null(strstr(e.msg, "another change"));
    /* A forged signature is refused. */
    WAL_OK(wal_gov_partial_write(&other, g, &gov[2], a2, &e));
    uint8_t *text;
    size_t n;
    WAL_OK(wal_file_read(a2, 1 << 20, &text, &n, &e));
    char *sig = strstr((char *)text, "\"signature\": \"");
    assert_non_null(sig);
    sig += strlen("\"signature\": \"");
    sig[0] = sig[0] == '0' ? '1' : '0';
    WAL_OK(wal_file_write(a2, text, n, true, &e));
    free(text);
    assert_int_equal(wal_gov_approve_file(&other, g, a2, &e), WAL_EXIT_FAULT);
    assert_non_null(strstr(e.msg, "does not verify"));
    /* A key that is not a governance key. */
    assert_int_equal(wal_gov_approve_key(&other, g, &c2, &e), WAL_EXIT_USAGE);
    assert_string_equal(e.code, "not_governance");
    /* An edited proposal (its stated digest no longer matches) is refused. */
    WAL_OK(wal_file_read(prop, 1 << 20, &text, &n, &e));
    char *nonce = strstr((char *)text, "\"nonce\": 1");
    assert_non_null(nonce);
    nonce[strlen("\"nonce\": ")] = '7';
    WAL_OK(wal_file_write(prop, text, n, true, &e));
    free(text);
    assert_int_equal(wal_proposal_read(prop, &other, &e), WAL_EXIT_FAULT);

    fx_rmtree(dir);
    for (unsigned i = 0; i < 3; i++) {
        sqc_keypair_free(&gov[i]);
    }
    sqc_keypair_free(&c2);
    sqc_keypair_free(&v3);
    ldg_genesis_free(g);
}

/* ---- keystore ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_keystore(void **state)
{
    (void)state;
    struct wal_err e;
    char dir[4096];
    assert_int_equal(fx_mkdtemp(dir, sizeof(dir), "walkey"), SQ_OK);
    char key[4200], plain[4200], pass[4200], bad[4200], missing[4200];
    snprintf(key, sizeof(key), "%s/sub/wallet.key", dir);
    snprintf(plain, sizeof(plain), "%s/plain.key", dir);
    snprintf(pass, sizeof(pass), "%s/pass", dir);
    snprintf(bad, sizeof(bad), "%s/bad", dir);
    snprintf(missing, sizeof(missing), "%s/none.key", dir);
    write_text(pass, "correct horse battery staple\n");
    write_text(bad, "wrong horse\n");
    unsetenv(WAL_ENV_PASSPHRASE);

    uint8_t pk[SQC_PK_BYTES];
    uint8_t pk2[SQC_PK_BYTES];
    WAL_OK(wal_keygen(key, false, SQC_KDF_MIN, pass, pk, &e));
    struct stat st;
    assert_int_equal(stat(key, &st), 0);
    assert_int_equal(st.st_mode & 077, 0); /* 0600 */
    WAL_OK(wal_key_public(key, pk2, &e));
    assert_memory_equal(pk, pk2, SQC_PK_BYTES);
    assert_int_equal(wal_keygen(key, true, SQC_KDF_MIN, NULL, pk2, &e), WAL_EXIT_IO);
    assert_string_equal(e.code, "exists");

    struct sqc_keypair kp;
    WAL_OK(wal_key_load(key, pass, &kp, &e));
    assert_memory_equal(kp.pk, pk, SQC_PK_BYTES);
    sqc_keypair_free(&kp);
    assert_int_equal(wal_key_load(key, bad, &kp, &e), WAL_EXIT_KEY);
    assert_string_equal(e.code, "wrong_passphrase");
    assert_non_null(strstr(e.msg, "wrong passphrase"));
    /* The environment is the second source. */
    setenv(WAL_ENV_PASSPHRASE, "correct horse battery staple", 1);
    WAL_OK(wal_key_load(key, NULL, &kp, &e));
    sqc_keypair_free(&kp);
    setenv(WAL_ENV_PASSPHRASE, "nope", 1);
    assert_int_equal(wal_key_load(key, NULL, &kp, &e), WAL_EXIT_KEY);
    unsetenv(WAL_ENV_PASSPHRASE);
    assert_int_equal(wal_key_load(missing, NULL, &kp, &e), WAL_EXIT_KEY);
    assert_string_equal(e.code, "no_keystore");
    assert_int_equal(wal_key_load(pass, NULL, &kp, &e), WAL_EXIT_KEY);
    assert_string_equal(e.code, "bad_keystore");

    /* Plain keys need no passphrase. */
    WAL_OK(wal_keygen(plain, true, SQC_KDF_MIN, NULL, pk, &e));
    WAL_OK(wal_key_load(plain, NULL, &kp, &e));
    assert_memory_equal(kp.pk, pk, SQC_PK_BYTES);
    sqc_keypair_free(&kp);

    /* Without a terminal, no passphrase file and no environment: a clear error, not a hang. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setsid(); /* no controlling terminal */
        struct wal_err ce;
        struct sqc_keypair ck;
        int rc = wal_key_load(key, NULL, &ck, &ce);
        _exit(rc == WAL_EXIT_KEY && strstr(ce.msg, "passphrase") != NULL ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    fx_rmtree(dir);
}

/* ---- configuration ---- */

static void test_config(void **state)
{
    (void)state;
    struct wal_err e;
    char dir[4096];
    assert_int_equal(fx_mkdtemp(dir, sizeof(dir), "walcfg"), SQ_OK);
    char file[4200];
    snprintf(file, sizeof(file), "%s/config", dir);
    write_text(file, "# a comment\nnode = http://10.1.1.1:8501\nkeystore = \"/k/from/config\"\n"
                     "genesis = /g.json\n");
    setenv("HOME", dir, 1);
    unsetenv(WAL_ENV_NODE);
    unsetenv(WAL_ENV_KEYSTORE);
    unsetenv(WAL_ENV_GENESIS);
    unsetenv(WAL_ENV_CONFIG);

    struct wal_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    WAL_OK(wal_config_resolve(&cfg, NULL, &e));
    assert_string_equal(cfg.node, WAL_NODE_DEFAULT);
    assert_string_equal(cfg.node_from, "default");
    char def[4200];
    snprintf(def, sizeof(def), "%s/.squall/wallet.key", dir);
    assert_string_equal(cfg.keystore, def);

    memset(&cfg, 0, sizeof(cfg));
    WAL_OK(wal_config_resolve(&cfg, file, &e));
    assert_string_equal(cfg.node, "http://10.1.1.1:8501");
    assert_string_equal(cfg.node_from, "config");
    assert_string_equal(cfg.keystore, "/k/from/config");
    assert_string_equal(cfg.genesis, "/g.json");

    setenv(WAL_ENV_NODE, "http://env:1", 1);
    setenv(WAL_ENV_CONFIG, file, 1);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(cfg.keystore, sizeof(cfg.keystore), "/k/flag");
    WAL_OK(wal_config_resolve(&cfg, NULL, &e));
    assert_string_equal(cfg.node, "http://env:1");
    assert_string_equal(cfg.node_from, "env");
    assert_string_equal(cfg.keystore, "/k/flag");
    assert_string_equal(cfg.keystore_from, "flag");

    write_text(file, "node = http://x\nfrobnicate = 1\n");
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(wal_config_resolve(&cfg, NULL, &e), WAL_EXIT_USAGE);
    assert_non_null(strstr(e.msg, ":2: unknown key 'frobnicate'"));
    char none[4200];
    snprintf(none, sizeof(none), "%s/absent", dir);
    memset(&cfg, 0, sizeof(cfg));
    assert_int_equal(wal_config_resolve(&cfg, none, &e), WAL_EXIT_IO);
    unsetenv(WAL_ENV_NODE);
    unsetenv(WAL_ENV_CONFIG);
    fx_rmtree(dir);
}

/* ---- progress bar text ---- */

static void test_progress_format(void **state)
{
    (void)state;
    char buf[512];
    size_t n = wal_progress_format(buf, sizeof(buf), 100, "audit", 500, 1000, 50000, 2.0, 500);
    assert_int_equal(n, strlen(buf));
    assert_true(n <= 99);
    assert_non_null(strstr(buf, "audit ["));
    assert_non_null(strstr(buf, " 50.0%"));
    assert_non_null(strstr(buf, "height 500/1000"));
    assert_non_null(strstr(buf, "25.0k tx/s"));
    assert_non_null(strstr(buf, "left 0:02"));
    assert_null(strchr(buf, '\r'));
    assert_null(strchr(buf, '\033'));
    /* Half the bar is filled. */
    const char *bar = strchr(buf, '[');
    const char *end = strchr(buf, ']');
    assert_non_null(end);
    size_t cells = (size_t)(end - bar - 1);
    size_t full = 0;
    for (const char *p = bar + 1; p < end; p++) {
        full += *p == '#';
    }
    assert_true(full * 2 == cells || full * 2 == cells + 1);
    /* A narrow terminal drops the bar and never wraps. */
    n = wal_progress_format(buf, sizeof(buf), 40, "audit", 10, 1000, 10, 1.0, 10);
    assert_true(n <= 39);
    assert_null(strchr(buf, '['));
    /* Done, and the start (no rate yet). */
    wal_progress_format(buf, sizeof(buf), 120, "", 1000, 1000, 5, 0.5, 1000);
    assert_non_null(strstr(buf, "100.0%"));
    assert_non_null(strstr(buf, "left 0:00"));
    wal_progress_format(buf, sizeof(buf), 120, "", 0, 1000, 0, 0.0, 0);
    assert_non_null(strstr(buf, "left --:--"));
}

/* ---- chains: receipts and audit ---- */

struct chain_fx {
    char dir[4096];
    char genesis[4200];
    struct fx_chain c;
};

static struct chain_fx *chain_;

static int chain_setup(void **state)
{
    (void)state;
    if (sqc_init() != SQ_OK) {
        return -1;
    }
    chain_ = calloc(1, sizeof(*chain_));
    if (chain_ == NULL || fx_mkdtemp(chain_->dir, sizeof(chain_->dir), "walchain") != SQ_OK) {
        return -1;
    }
    struct fx_opts o = {.clients = 4, .blocks = 6, .txs_per_block = 8, .view_change = true,
                        .finalize_every = 2, .quiet = true};
    if (fx_chain_build(chain_->dir, &o, &chain_->c) != SQ_OK) {
        fprintf(stderr, "fixture: %s\n", ldg_errmsg());
        return -1;
    }
    snprintf(chain_->genesis, sizeof(chain_->genesis), "%s/genesis.json", chain_->dir);
    return fx_genesis_write(chain_->c.g, chain_->genesis) == SQ_OK ? 0 : -1;
}

static int chain_teardown(void **state)
{
    (void)state;
    if (chain_ != NULL) {
        fx_chain_free(&chain_->c);
        fx_rmtree(chain_->dir);
        free(chain_);
    }
    return 0;
}

static uint8_t *build_receipt(const uint8_t txid[LDG_HASH_BYTES], size_t *size)
{
    struct ldg_store *s;
    struct ldg_store_opts so = {.read_only = true};
    assert_int_equal(ldg_store_open(chain_->dir, chain_->c.g, &so, &s), SQ_OK);
    uint8_t *r = NULL;
    int rc = ldg_receipt_build(s, txid, &r, size);
    if (rc != SQ_OK) {
        fail_msg("ldg_receipt_build: %s", ldg_errmsg());
    }
    ldg_store_close(s);
    return r;
}

static void test_receipt(void **state)
{
    (void)state;
    struct wal_err e;
    size_t size;
    uint8_t *r = build_receipt(chain_->c.first_txid, &size);
    char path[4200], hexpath[4200], rawpath[4200];
    snprintf(path, sizeof(path), "%s/r.json", chain_->dir);
    snprintf(hexpath, sizeof(hexpath), "%s/r.hex", chain_->dir);
    snprintf(rawpath, sizeof(rawpath), "%s/r.bin", chain_->dir);
    WAL_OK(wal_receipt_save(path, chain_->c.first_txid, chain_->c.first_height, 0, r, size, false,
                          &e));
    assert_int_equal(wal_receipt_save(path, chain_->c.first_txid, 1, 0, r, size, false, &e),
                     WAL_EXIT_IO);

    uint8_t *data;
    size_t dsize;
    bool has_id;
    uint8_t id[LDG_HASH_BYTES];
    WAL_OK(wal_receipt_load(path, &data, &dsize, &has_id, id, &e));
    assert_true(has_id);
    assert_int_equal(dsize, size);
    assert_memory_equal(data, r, size);
    struct ldg_receipt_info info;
    WAL_OK(wal_receipt_check(chain_->c.g, data, dsize, id, &info, &e));
    assert_memory_equal(info.txid, chain_->c.first_txid, LDG_HASH_BYTES);
    assert_int_equal(info.height, chain_->c.first_height);
    assert_int_equal(info.result, LDG_RESULT_OK);
    assert_int_equal(info.tx.kind, LDG_TX_TRANSFER);
    assert_true(info.view_changes >= 1); /* followed view 1 from genesis */
    assert_int_equal(info.cert.signer_count, 4);
    free(data);

    /* The same receipt as bare hex and as raw bytes. */
    char *hex = malloc(2 * size + 2);
    sqc_hex_encode(hex, 2 * size + 1, r, size);
    strcat(hex, "\n");
    WAL_OK(wal_file_write(hexpath, hex, strlen(hex), false, &e));
    free(hex);
    WAL_OK(wal_receipt_load(hexpath, &data, &dsize, &has_id, id, &e));
    assert_false(has_id);
    WAL_OK(wal_receipt_check(chain_->c.g, data, dsize, NULL, &info, &e));
    free(data);
    WAL_OK(wal_file_write(rawpath, r, size, false, &e));
    WAL_OK(wal_receipt_load(rawpath, &data, &dsize, &has_id, id, &e));
    WAL_OK(wal_receipt_check(chain_->c.g, data, dsize, NULL, &info, &e));
    free(data);

    /* The file names another transaction than the receipt proves. */
    assert_int_equal(wal_receipt_check(chain_->c.g, r, size, chain_->c.last_txid, &info, &e),
                     WAL_EXIT_FAULT);
    assert_string_equal(e.code, "wrong_tx");

    /* Every single flipped byte is caught (every 7th position, to keep the test quick). */
    unsigned caught = 0;
    unsigned tried = 0;
    uint8_t *t = malloc(size);
    for (size_t i = 0; i < size; i += 7) {
        memcpy(t, r, size);
        t[i] ^= 0x01;
        tried++;
        int rc = wal_receipt_check(chain_->c.g, t, size, NULL, &info, &e);
        if (rc == WAL_EXIT_FAULT) {
            caught++;
            assert_true(strlen(e.msg) > 25); /* says what fails */
        } else if (memcmp(info.txid, chain_->c.first_txid, LDG_HASH_BYTES) != 0) {
            fail_msg("byte %zu flipped: verified, and proves another transaction", i);
        } else {
            fail_msg("byte %zu flipped: still verifies", i);
        }
    }
    free(t);
    assert_int_equal(caught, tried);

    /* Against another chain's genesis. */
    struct ldg_genesis *other = fx_genesis(5, 1000);
    assert_int_equal(wal_receipt_check(other, r, size, NULL, &info, &e), WAL_EXIT_FAULT);
    ldg_genesis_free(other);
    free(r);

    /* A file that is not a receipt. */
    assert_int_equal(wal_receipt_load(chain_->genesis, &data, &dsize, &has_id, id, &e),
                     WAL_EXIT_IO);
    assert_non_null(strstr(e.msg, "not a squall receipt"));
}

static void test_audit_data_ok(void **state)
{
    (void)state;
    struct wal_err e;
    char store[4096];
    WAL_OK(wal_data_dir(chain_->dir, store, sizeof(store), &e));
    struct wal_audit_opts o = {.threads = 2, .progress_fd = -1};
    struct wal_audit_result r;
    WAL_OK(wal_audit_data(store, chain_->c.g, &o, &r, &e));
    assert_int_equal(r.rep.tip, chain_->c.tip);
    assert_int_equal(r.rep.blocks, chain_->c.tip + 1);
    assert_int_equal(r.rep.txs, chain_->c.txs + 1); /* the transfers and the governance tx */
    assert_true(r.rep.certs >= 1);
    assert_int_equal(r.rep.views, 2);
    assert_int_equal(r.certified_height, chain_->c.tip);
    /* Single-threaded gives the same answer. */
    o.threads = 1;
    struct wal_audit_result r1;
    WAL_OK(wal_audit_data(store, chain_->c.g, &o, &r1, &e));
    assert_memory_equal(r.tip_hash, r1.tip_hash, LDG_HASH_BYTES);
    assert_memory_equal(r.acc_root, r1.acc_root, LDG_HASH_BYTES);
    /* Another genesis: refused, and said so. */
    struct ldg_genesis *other = fx_genesis(5, 1000);
    assert_int_equal(wal_audit_data(store, other, &o, &r1, &e), WAL_EXIT_FAULT);
    assert_string_equal(r1.rep.what, "genesis");
    ldg_genesis_free(other);
    /* Not a store. */
    assert_int_equal(wal_data_dir("/proc/self", store, sizeof(store), &e), WAL_EXIT_IO);
}

/* Copies the store and changes one record in the copy with LMDB directly. */
static void tamper(const char *from, const char *to, const char *db, const uint8_t *key,
                   size_t key_size, size_t offset_from_end)
{
    char cmd[9000];
    snprintf(cmd, sizeof(cmd), "cp %s/data.mdb %s/data.mdb", from, to);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(fx_store_tamper(to, db, key, key_size, offset_from_end), SQ_OK);
}

static void test_audit_data_tampered(void **state)
{
    (void)state;
    struct wal_err e;
    char copy[4096];
    assert_int_equal(fx_mkdtemp(copy, sizeof(copy), "waltamper"), SQ_OK);
    struct wal_audit_opts o = {.threads = 2, .progress_fd = -1};
    struct wal_audit_result r;

    /* A byte of a transaction in block 4's body (its last transaction's signature). */
    uint8_t key[8];
    fx_height_key(4, key);
    tamper(chain_->dir, copy, "bodies", key, 8, 8 /* results */ + 3);
    assert_int_equal(wal_audit_data(copy, chain_->c.g, &o, &r, &e), WAL_EXIT_FAULT);
    assert_int_equal(r.rep.fault_height, 4);
    assert_true(r.rep.what[0] != '\0');
    assert_non_null(strstr(e.msg, "height 4"));

    /* A stored account balance. */
    tamper(chain_->dir, copy, "accounts", fx_key("client", 2)->pk, SQC_PK_BYTES, 0);
    assert_int_equal(wal_audit_data(copy, chain_->c.g, &o, &r, &e), WAL_EXIT_FAULT);
    assert_string_equal(r.rep.what, "accounts");

    fx_rmtree(copy);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s VECTORS_DIR\n", argv[0]);
        return 2;
    }
    vec_dir_ = argv[1];
    const struct CMUnitTest offline[] = {
        cmocka_unit_test(test_golden_transfer_and_mint),
        cmocka_unit_test(test_golden_governance),
        cmocka_unit_test(test_keystore),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_progress_format),
    };
    const struct CMUnitTest chains[] = {
        cmocka_unit_test(test_receipt),
        cmocka_unit_test(test_audit_data_ok),
        cmocka_unit_test(test_audit_data_tampered),
    };
    int failed = cmocka_run_group_tests_name("wallet offline", offline, setup, NULL);
    failed += cmocka_run_group_tests_name("wallet chains", chains, chain_setup, chain_teardown);
    return failed;
}
