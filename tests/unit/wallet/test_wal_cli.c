/* The squall binary as people and scripts use it: --help everywhere, exit codes, keys and
 * passphrases, receipts and audits on stores built with the ledger library, the progress bar in
 * a pseudo-terminal (script(1)) and its absence in a pipe, and every HTTP command against the
 * stand-in node (fake_node.c): send and wait, a failed payment, mint, governance by key files and
 * by proposal + partial signatures, receipts, audit and consistency over the API, watch with a
 * diverging node, retrying while the node is down, and resubmitting after a node restart lost
 * the mempool. argv[1] is squall, argv[2] the stand-in node. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "wal_fixture.h"
#include "wal_proc.h"
#include "wallet-cli/wallet.h"

static const char *squall_;
static const char *fake_;

/* ---- the stand-in node ---- */

struct node {
    pid_t pid;
    unsigned port;
    char dir[4200];
    char log[4200];
    char url[64];
};

/* Every node started, so that a failed test (which leaves its function early) stops them too. */
static pid_t started_[64];
static size_t started_count_;

/* Starts a stand-in node on `dir` (building its chain when `build`), on `port` (0: any). */
static void node_start(struct node *n, const char *name, bool build, unsigned port,
                       const char *extra)
{
    snprintf(n->dir, sizeof(n->dir), "%s/%s", wal_work, name);
    if (build) {
        char cmd[8500];
        snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", n->dir, n->dir);
        assert_int_equal(system(cmd), 0);
    }
    snprintf(n->log, sizeof(n->log), "%s/%s.log", wal_work, name);
    n->pid = spawn(n->log, "exec %s --store %s --port %u %s %s", fake_, n->dir, port,
                   build ? "--build" : "", extra ? extra : "");
    if (started_count_ < sizeof(started_) / sizeof(started_[0])) {
        started_[started_count_++] = n->pid;
    }
    char *text = wait_for(n->log, "ready ", 60);
    n->port = (unsigned)atoi(strstr(text, "ready ") + 6);
    free(text);
    snprintf(n->url, sizeof(n->url), "http://127.0.0.1:%u", n->port);
}

/* ---- fixtures ---- */

struct chain {
    char dir[4200];
    char genesis[4300];
    struct fx_chain c;
};
static struct chain chain_;

static int setup(void **state)
{
    (void)state;
    if (sqc_init() != SQ_OK || fx_mkdtemp(wal_work, sizeof(wal_work), "walcli") != SQ_OK) {
        return -1;
    }
    /* Nothing from the developer's environment leaks into the runs. */
    setenv("HOME", wal_work, 1);
    setenv("SQ", squall_, 1);
    unsetenv(WAL_ENV_NODE);
    unsetenv(WAL_ENV_KEYSTORE);
    unsetenv(WAL_ENV_GENESIS);
    unsetenv(WAL_ENV_CONFIG);
    unsetenv(WAL_ENV_PASSPHRASE);
    snprintf(chain_.dir, sizeof(chain_.dir), "%s/chain", wal_work);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "mkdir -p %s", chain_.dir);
    if (system(cmd) != 0) {
        return -1;
    }
    struct fx_opts o = {.clients = 4, .blocks = 70, .txs_per_block = 8, .view_change = true,
                        .finalize_every = 10, .quiet = true};
    if (fx_chain_build(chain_.dir, &o, &chain_.c) != SQ_OK) {
        fprintf(stderr, "fixture: %s\n", ldg_errmsg());
        return -1;
    }
    snprintf(chain_.genesis, sizeof(chain_.genesis), "%s/genesis.json", chain_.dir);
    return fx_genesis_write(chain_.c.g, chain_.genesis) == SQ_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < started_count_; i++) {
        if (waitpid(started_[i], NULL, WNOHANG) == 0) {
            kill(started_[i], SIGTERM);
            waitpid(started_[i], NULL, 0);
        }
    }
    fx_chain_free(&chain_.c);
    if (getenv("WAL_TEST_KEEP") == NULL) {
        fx_rmtree(wal_work);
    }
    return 0;
}

/* ---- offline ---- */

static void test_help_and_usage(void **state)
{
    (void)state;
    const char *cmds[] = {"keygen", "address", "balance", "send", "mint", "permit", "revoke",
                          "approve", "tx", "receipt", "verify-receipt", "audit", "consistency",
                          "watch", "version"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        struct out o = run("$SQ %s --help", cmds[i]);
        EXPECT(o, 0);
        char want[64];
        snprintf(want, sizeof(want), "Usage: squall %s", cmds[i]);
        assert_non_null(strstr(o.out, want));
        out_free(&o);
        o = run("$SQ help %s", cmds[i]);
        EXPECT(o, 0);
        out_free(&o);
    }
    struct out o = run("$SQ --help");
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "Exit codes"));
    out_free(&o);
    o = run("$SQ");
    EXPECT(o, 2);
    out_free(&o);
    o = run("$SQ frobnicate");
    EXPECT(o, 2);
    assert_non_null(strstr(o.err, "unknown command"));
    out_free(&o);
    o = run("$SQ send --to 00 --amount 1 --bogus");
    EXPECT(o, 2);
    out_free(&o);
    o = run("$SQ address --amount 5");
    EXPECT(o, 2);
    assert_non_null(strstr(o.err, "does not take --amount"));
    out_free(&o);
    o = run("$SQ send --to 1234 --amount 1 --json");
    EXPECT(o, 2);
    assert_non_null(strstr(o.out, "\"ok\":false"));
    assert_non_null(strstr(o.out, "\"kind\":\"usage\""));
    out_free(&o);
    o = run("$SQ tx");
    EXPECT(o, 2);
    out_free(&o);
    o = run("$SQ version --json");
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"version\""));
    out_free(&o);
}

static void test_keys_cli(void **state)
{
    (void)state;
    struct out o = run("$SQ keygen --keystore k1.key --insecure-plain --json");
    EXPECT(o, 0);
    char addr[80];
    field(o.out, "address", addr, sizeof(addr));
    assert_int_equal(strlen(addr), 64);
    out_free(&o);
    o = run("$SQ address --keystore k1.key");
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, addr));
    out_free(&o);
    o = run("$SQ keygen --keystore k1.key --insecure-plain");
    EXPECT(o, 7);
    assert_non_null(strstr(o.err, "already exists"));
    out_free(&o);

    /* Encrypted (the default) with a passphrase file; the environment for the same file. */
    o = run("echo s3cret-pass > pass && echo wrong > wrongpass && "
            "$SQ keygen --keystore k2.key --passphrase-file pass --kdf min --json");
    EXPECT(o, 0);
    field(o.out, "address", addr, sizeof(addr));
    assert_non_null(strstr(o.out, "\"encrypted\":true"));
    out_free(&o);
    o = run("SQUALL_KEYSTORE=k2.key $SQ address");
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, addr));
    out_free(&o);
    /* A wrong passphrase is a clear error (exit 6), before any node is contacted. */
    o = run("$SQ send --keystore k2.key --passphrase-file wrongpass --to %s --amount 1 "
            "--node http://127.0.0.1:1",
            addr);
    EXPECT(o, 6);
    assert_non_null(strstr(o.err, "wrong passphrase for k2.key"));
    out_free(&o);
    o = run("SQUALL_PASSPHRASE=nope $SQ send --keystore k2.key --to %s --amount 1 --json", addr);
    EXPECT(o, 6);
    assert_non_null(strstr(o.out, "\"code\":\"wrong_passphrase\""));
    out_free(&o);
    /* No terminal and no passphrase source: says how to give one. */
    o = run("setsid $SQ keygen --keystore k3.key --kdf min");
    EXPECT(o, 6);
    assert_non_null(strstr(o.err, "passphrase"));
    out_free(&o);
    o = run("$SQ address --keystore missing.key");
    EXPECT(o, 6);
    assert_non_null(strstr(o.err, "squall keygen"));
    out_free(&o);
    /* The config file names the keystore. */
    o = run("mkdir -p .squall && echo 'keystore = k1.key' > .squall/config && $SQ address && "
            "rm .squall/config");
    EXPECT(o, 0);
    out_free(&o);
}

static void save_receipt(const uint8_t txid[LDG_HASH_BYTES], const char *name)
{
    struct ldg_store *s;
    struct ldg_store_opts so = {.read_only = true};
    assert_int_equal(ldg_store_open(chain_.dir, chain_.c.g, &so, &s), SQ_OK);
    uint8_t *r;
    size_t size;
    assert_int_equal(ldg_receipt_build(s, txid, &r, &size), SQ_OK);
    ldg_store_close(s);
    char path[4300];
    snprintf(path, sizeof(path), "%s/%s", wal_work, name);
    struct wal_err e;
    assert_int_equal(wal_receipt_save(path, txid, 0, 0, r, size, true, &e), WAL_EXIT_OK);
    free(r);
}

static void test_verify_receipt_cli(void **state)
{
    (void)state;
    save_receipt(chain_.c.first_txid, "first.receipt");
    save_receipt(chain_.c.last_txid, "last.receipt");
    struct out o = run("$SQ verify-receipt first.receipt --genesis %s", chain_.genesis);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "receipt OK"));
    assert_non_null(strstr(o.out, hex_of(chain_.c.first_txid, 32)));
    assert_non_null(strstr(o.out, "1 view changes followed"));
    out_free(&o);
    o = run("$SQ verify-receipt last.receipt --genesis %s --json", chain_.genesis);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"ok\":true"));
    assert_non_null(strstr(o.out, "\"result\":\"ok\""));
    out_free(&o);
    /* The genesis through the environment. */
    o = run("SQUALL_GENESIS=%s $SQ verify-receipt first.receipt", chain_.genesis);
    EXPECT(o, 0);
    out_free(&o);
    o = run("$SQ verify-receipt first.receipt");
    EXPECT(o, 2);
    assert_non_null(strstr(o.err, "--genesis"));
    out_free(&o);

    /* Tampered: one hex digit near the end of the receipt (in its certificate) changed. */
    receipt_tamper("first.receipt", "tampered.receipt", 150);
    char path[4300];
    o = run("$SQ verify-receipt tampered.receipt --genesis %s", chain_.genesis);
    EXPECT(o, 1);
    assert_non_null(strstr(o.err, "receipt does not verify"));
    out_free(&o);
    o = run("$SQ verify-receipt tampered.receipt --genesis %s --json", chain_.genesis);
    EXPECT(o, 1);
    assert_non_null(strstr(o.out, "\"ok\":false"));
    assert_non_null(strstr(o.out, "\"kind\":\"fault\""));
    out_free(&o);
    /* The wrong genesis: another chain. */
    struct ldg_genesis *other = fx_genesis(6, 5);
    snprintf(path, sizeof(path), "%s/other-genesis.json", wal_work);
    assert_int_equal(fx_genesis_write(other, path), SQ_OK);
    ldg_genesis_free(other);
    o = run("$SQ verify-receipt first.receipt --genesis other-genesis.json");
    EXPECT(o, 1);
    out_free(&o);
    o = run("$SQ verify-receipt %s --genesis %s", chain_.genesis, chain_.genesis);
    EXPECT(o, 7);
    out_free(&o);
}

static void test_audit_data_cli(void **state)
{
    (void)state;
    struct out o = run("$SQ audit --data %s --genesis %s", chain_.dir, chain_.genesis);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "audit OK"));
    char want[64];
    snprintf(want, sizeof(want), "transactions  %" PRIu64, chain_.c.txs + 1);
    assert_non_null(strstr(o.out, want));
    /* Not a terminal: no progress bar, no control characters. */
    assert_null(strchr(o.out, '\r'));
    assert_null(strchr(o.out, '\033'));
    out_free(&o);
    /* The genesis found beside the store. */
    o = run("$SQ audit --data %s --json --threads 1", chain_.dir);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"ok\":true"));
    assert_non_null(strstr(o.out, "\"tx_per_s\":"));
    out_free(&o);

    /* A tampered copy: one byte of block 30's body. */
    o = run("mkdir -p tampered && cp %s/data.mdb tampered/ && cp %s tampered/genesis.json",
            chain_.dir, chain_.genesis);
    EXPECT(o, 0);
    out_free(&o);
    char path[4300];
    snprintf(path, sizeof(path), "%s/tampered", wal_work);
    uint8_t key[8];
    fx_height_key(30, key);
    /* A byte inside the last transaction's signature, before the 8 result bytes. */
    assert_int_equal(fx_store_tamper(path, "bodies", key, 8, 8 + 20), SQ_OK);
    o = run("$SQ audit --data tampered");
    EXPECT(o, 1);
    assert_non_null(strstr(o.out, "audit FAILED"));
    assert_non_null(strstr(o.out, "first fault   height 30:"));
    assert_non_null(strstr(o.err, "height 30"));
    out_free(&o);
    o = run("$SQ audit --data tampered --json");
    EXPECT(o, 1);
    assert_non_null(strstr(o.out, "\"fault\":{\"height\":30"));
    out_free(&o);
    /* Another genesis than the store's. */
    o = run("$SQ audit --data %s --genesis other-genesis.json", chain_.dir);
    EXPECT(o, 1);
    assert_non_null(strstr(o.err, "does not belong to this genesis"));
    out_free(&o);
    o = run("$SQ audit --data /nonexistent --genesis %s", chain_.genesis);
    EXPECT(o, 7);
    out_free(&o);
}

static void test_progress_in_pty(void **state)
{
    (void)state;
    if (system("command -v script >/dev/null 2>&1") != 0) {
        skip();
    }
    /* script(1) gives the command a pseudo-terminal: the bar is drawn there. */
    struct out o = run("script -qfec \"$SQ audit --data %s\" /dev/null", chain_.dir);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "audit ["));
    assert_non_null(strstr(o.out, "tx/s"));
    assert_non_null(strstr(o.out, "height "));
    assert_non_null(strstr(o.out, "left "));
    assert_non_null(strstr(o.out, "\r"));
    assert_non_null(strstr(o.out, "\033[K"));
    assert_non_null(strstr(o.out, "audit OK"));
    out_free(&o);
    /* --no-progress and --json keep the terminal clean. */
    o = run("script -qfec \"$SQ audit --data %s --no-progress\" /dev/null", chain_.dir);
    EXPECT(o, 0);
    assert_null(strstr(o.out, "\033[K"));
    assert_null(strstr(o.out, "tx/s  left"));
    out_free(&o);
    o = run("script -qfec \"$SQ audit --data %s --json\" /dev/null", chain_.dir);
    EXPECT(o, 0);
    assert_null(strstr(o.out, "\033[K"));
    out_free(&o);
    /* And a pipe gets none even when the terminal is stderr's. */
    o = run("script -qfec \"$SQ audit --data %s | cat\" /dev/null", chain_.dir);
    EXPECT(o, 0);
    assert_null(strstr(o.out, "\033[K"));
    assert_non_null(strstr(o.out, "audit OK"));
    out_free(&o);
}

static void test_no_node(void **state)
{
    (void)state;
    unsigned port = free_port();
    struct out o = run("$SQ balance --keystore k1.key --node http://127.0.0.1:%u", port);
    EXPECT(o, 3);
    assert_non_null(strstr(o.err, "cannot reach the node"));
    out_free(&o);
    o = run("$SQ consistency --from 1 --node http://127.0.0.1:%u --json", port);
    EXPECT(o, 3);
    assert_non_null(strstr(o.out, "\"kind\":\"network\""));
    out_free(&o);
    o = run("$SQ balance --node ftp://x");
    EXPECT(o, 2);
    out_free(&o);
}

/* ---- against the stand-in node ---- */

static struct node n1_;

static void test_node_send_and_receipt(void **state)
{
    (void)state;
    node_start(&n1_, "n1", true, 0, NULL);
    setenv(WAL_ENV_NODE, n1_.url, 1);
    char g[4300];
    snprintf(g, sizeof(g), "%s/genesis.json", n1_.dir);
    const char *c1 = hex_of(fx_key("client", 1)->pk, 32);
    char bal[32];

    struct out o = run("$SQ balance --keystore n1/client0.key --json");
    EXPECT(o, 0);
    assert_string_equal(field(o.out, "balance", bal, sizeof(bal)), "1000");
    out_free(&o);
    o = run("$SQ balance %s", c1);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "balance  1000"));
    out_free(&o);

    o = run("$SQ send --keystore n1/client0.key --to %s --amount 5 --json", c1);
    EXPECT(o, 0);
    char id[80];
    char state_[32];
    field(o.out, "id", id, sizeof(id));
    assert_string_equal(field(o.out, "state", state_, sizeof(state_)), "final");
    assert_non_null(strstr(o.out, "\"result\":\"ok\""));
    out_free(&o);
    o = run("$SQ tx %s", id);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "state   final"));
    out_free(&o);
    o = run("$SQ receipt %s --out pay.receipt --genesis %s --json", id, g);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"verified\":true"));
    out_free(&o);
    o = run("$SQ verify-receipt pay.receipt --genesis %s", g);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "amount 5 to"));
    out_free(&o);
    o = run("$SQ receipt %s --out pay.receipt", id);
    EXPECT(o, 7); /* never replaced without --force */
    out_free(&o);
    o = run("$SQ balance --keystore n1/client0.key --json");
    assert_string_equal(field(o.out, "balance", bal, sizeof(bal)), "995");
    out_free(&o);

    /* Waiting for less: ordered (the stand-in reports persisted or final). */
    o = run("$SQ send --keystore n1/client0.key --to %s --amount 1 --wait ordered", c1);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "result ok"));
    out_free(&o);
    o = run("$SQ send --keystore n1/client0.key --to %s --amount 1 --wait none --json", c1);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"state\":\"accepted\""));
    field(o.out, "id", id, sizeof(id));
    out_free(&o);
    o = run("$SQ tx %s --wait final --json", id);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"state\":\"final\""));
    out_free(&o);

    /* More than the balance: in a block, failed, exit 1 with the reason. */
    o = run("$SQ send --keystore n1/client0.key --to %s --amount 100000", c1);
    EXPECT(o, 1);
    assert_non_null(strstr(o.out, "state   failed"));
    assert_non_null(strstr(o.err, "insufficient_funds"));
    out_free(&o);
    /* A nonce the node refuses: exit 4 with the API's code. */
    o = run("$SQ send --keystore n1/client0.key --to %s --amount 1 --nonce 1 --json", c1);
    EXPECT(o, 4);
    assert_non_null(strstr(o.out, "\"code\":\"bad_nonce\""));
    out_free(&o);
    o = run("$SQ tx %s", "00000000000000000000000000000000000000000000000000000000000000ff");
    EXPECT(o, 4);
    assert_non_null(strstr(o.err, "not_found"));
    out_free(&o);

    /* Mint: by the issuer fine; by a client not permitted. */
    o = run("$SQ mint --keystore n1/issuer0.key --to %s --amount 70 --json", c1);
    EXPECT(o, 0);
    out_free(&o);
    o = run("$SQ mint --keystore n1/client0.key --to %s --amount 70", c1);
    EXPECT(o, 1);
    assert_non_null(strstr(o.err, "not_permitted"));
    out_free(&o);
    o = run("$SQ balance %s --json", c1);
    assert_string_equal(field(o.out, "balance", bal, sizeof(bal)), "1077");
    out_free(&o);
}

static void test_node_governance(void **state)
{
    (void)state;
    char g[4300];
    snprintf(g, sizeof(g), "%s/genesis.json", n1_.dir);
    /* A new key is not a client until governance admits it (k = 2 of 3). */
    struct out o = run("$SQ keygen --keystore newc.key --insecure-plain --json");
    char addr[80];
    field(o.out, "address", addr, sizeof(addr));
    out_free(&o);
    o = run("$SQ mint --keystore n1/issuer0.key --to %s --amount 50", addr);
    EXPECT(o, 0);
    out_free(&o);
    const char *c0 = hex_of(fx_key("client", 0)->pk, 32);
    o = run("$SQ send --keystore newc.key --to %s --amount 1", c0);
    EXPECT(o, 1);
    assert_non_null(strstr(o.err, "not_permitted"));
    out_free(&o);
    o = run("$SQ permit --client %s --keystore n1/gov0.key --gov-key n1/gov0.key", addr);
    EXPECT(o, 2);
    assert_non_null(strstr(o.err, "needs 2 of 3"));
    out_free(&o);
    o = run("$SQ permit --client %s --keystore n1/gov0.key --gov-key n1/gov0.key "
            "--gov-key n1/gov2.key --json",
            addr);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"state\":\"final\""));
    assert_non_null(strstr(o.out, "\"result\":\"ok\""));
    out_free(&o);
    o = run("$SQ send --keystore newc.key --to %s --amount 1", c0);
    EXPECT(o, 0);
    out_free(&o);

    /* Revoke by proposal and two partial signatures made offline. */
    o = run("$SQ revoke --client %s --keystore n1/client1.key --propose rv.json", addr);
    EXPECT(o, 0);
    out_free(&o);
    o = run("$SQ approve rv.json --gov-key n1/gov1.key --out a1.json --genesis %s", g);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "remove_client"));
    out_free(&o);
    o = run("$SQ approve rv.json --gov-key n1/gov2.key --out a2.json --genesis %s --json", g);
    EXPECT(o, 0);
    out_free(&o);
    o = run("$SQ approve rv.json --gov-key n1/client0.key --out a3.json --genesis %s", g);
    EXPECT(o, 2);
    assert_non_null(strstr(o.err, "not a governance key"));
    out_free(&o);
    o = run("$SQ revoke --proposal rv.json --approval a1.json --keystore n1/gov0.key");
    EXPECT(o, 2);
    assert_non_null(strstr(o.err, "proposal's sender"));
    out_free(&o);
    o = run("$SQ permit --proposal rv.json --approval a1.json --approval a2.json "
            "--keystore n1/client1.key");
    EXPECT(o, 2); /* a removal submitted with permit */
    out_free(&o);
    o = run("$SQ revoke --proposal rv.json --approval a1.json --approval a2.json "
            "--keystore n1/client1.key");
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "state   final"));
    out_free(&o);
    o = run("$SQ send --keystore newc.key --to %s --amount 1", c0);
    EXPECT(o, 1);
    assert_non_null(strstr(o.err, "not_permitted"));
    out_free(&o);
}

static void test_node_audit_and_consistency(void **state)
{
    (void)state;
    char g[4300];
    snprintf(g, sizeof(g), "%s/genesis.json", n1_.dir);
    struct out o = run("$SQ audit --genesis %s --json", g);
    EXPECT(o, 0);
    char tip[32];
    char blocks[32];
    char root[80];
    field(o.out, "tip", tip, sizeof(tip));
    field(o.out, "blocks", blocks, sizeof(blocks));
    field(o.out, "acc_root", root, sizeof(root));
    assert_int_equal(atoi(blocks), atoi(tip) + 1);
    assert_true(atoi(tip) >= 10);
    assert_non_null(strstr(o.out, "\"certificates\":"));
    out_free(&o);
    /* The same chain audited from its data folder gives the same tip and root. */
    o = run("$SQ audit --data n1 --json");
    EXPECT(o, 0);
    char root2[80];
    field(o.out, "acc_root", root2, sizeof(root2));
    assert_string_equal(root, root2);
    out_free(&o);
    /* Without --genesis: the node's, with a warning. */
    o = run("$SQ audit");
    EXPECT(o, 0);
    assert_non_null(strstr(o.err, "warning: no --genesis"));
    out_free(&o);

    /* Consistency from height 2 to the tip, anchored on a recorded root. */
    o = run("$SQ consistency --from 2 --json");
    EXPECT(o, 0);
    char r2[80];
    field(o.out, "root_from", r2, sizeof(r2));
    out_free(&o);
    o = run("$SQ consistency --from 2 --to %s --from-root %s --to-root %s", tip, r2, root);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "consistent"));
    out_free(&o);
    o = run("$SQ consistency --from 2 --from-root %s", root);
    EXPECT(o, 1);
    assert_non_null(strstr(o.err, "you hold"));
    out_free(&o);
    o = run("$SQ consistency --from 99999");
    EXPECT(o, 2);
    out_free(&o);

    /* A node serving a tampered block: the audit over the API names it. */
    struct node bad;
    node_start(&bad, "bad", true, 0, "--tamper-block 4");
    o = run("$SQ audit --node %s --genesis %s/genesis.json", bad.url, bad.dir);
    EXPECT(o, 1);
    assert_non_null(strstr(o.out, "first fault   height 4:"));
    out_free(&o);
    stop(bad.pid);
    /* The audit while the node writes: the --data audit reads a snapshot. */
    pid_t sender = spawn("bg-send.log",
                         "for i in 1 2 3 4 5 6; do $SQ send --keystore n1/client1.key --to %s "
                         "--amount 1 --wait none || exit 9; done",
                         hex_of(fx_key("client", 2)->pk, 32));
    for (int i = 0; i < 3; i++) {
        o = run("$SQ audit --data n1 --json");
        EXPECT(o, 0);
        out_free(&o);
    }
    assert_int_equal(wait_exit(sender, 120), 0);
}

static void test_node_watch(void **state)
{
    (void)state;
    struct node a;
    struct node b;
    struct node c;
    node_start(&a, "wa", true, 0, NULL);
    node_start(&b, "wb", true, 0, NULL);
    struct out o = run("$SQ watch --node %s --node %s --rounds 2 --interval 0.1", a.url, b.url);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "[2] 2 of 2 nodes agree at height 5"));
    out_free(&o);
    o = run("$SQ watch --node %s --node %s --rounds 1 --json", a.url, b.url);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"agree\":true"));
    out_free(&o);
    stop(b.pid);
    o = run("$SQ watch --node %s --node %s --rounds 1", a.url, b.url);
    EXPECT(o, 3);
    assert_non_null(strstr(o.out, "DOWN"));
    out_free(&o);
    node_start(&c, "wc", true, 0, "--fork-block 5");
    o = run("$SQ watch --node %s --node %s --rounds 3 --interval 0.1", a.url, c.url);
    EXPECT(o, 1);
    assert_non_null(strstr(o.err, "ALARM: heads diverge at height 5"));
    out_free(&o);
    o = run("$SQ watch --node %s", a.url);
    EXPECT(o, 2);
    out_free(&o);
    stop(a.pid);
    stop(c.pid);
}

static void test_node_retry_and_restart(void **state)
{
    (void)state;
    stop(n1_.pid);
    const char *c1 = hex_of(fx_key("client", 1)->pk, 32);
    char bal0[32];
    char bal1[32];

    /* The node is down when send starts and comes back a second later. */
    unsigned port = n1_.port;
    pid_t send = spawn("retry.log",
                       "exec $SQ send --keystore n1/client0.key --to %s --amount 2 --json "
                       "--timeout 60 --node http://127.0.0.1:%u",
                       c1, port);
    nap_ms(1000);
    node_start(&n1_, "n1", false, port, NULL);
    assert_int_equal(wait_exit(send, 90), 0);
    char path[4300];
    snprintf(path, sizeof(path), "%s/retry.log", wal_work);
    char *text = slurp(path);
    char retries[16];
    assert_non_null(strstr(text, "\"state\":\"final\""));
    assert_true(atoi(field(text, "retries", retries, sizeof(retries))) > 0);
    free(text);

    /* The node accepts, then restarts and loses its mempool: the same bytes are sent again,
     * and the payment happens exactly once. */
    struct out o = run("$SQ balance %s --json --node %s", c1, n1_.url);
    field(o.out, "balance", bal0, sizeof(bal0));
    out_free(&o);
    stop(n1_.pid);
    node_start(&n1_, "n1", false, port, "--hold-ms 600000");
    send = spawn("restart.log",
                 "exec $SQ send --keystore n1/client0.key --to %s --amount 3 --json --timeout 60 "
                 "--node %s",
                 c1, n1_.url);
    free(wait_for(n1_.log, "accepted ", 30));
    stop(n1_.pid); /* the held transaction was never ordered */
    node_start(&n1_, "n1", false, port, NULL);
    assert_int_equal(wait_exit(send, 90), 0);
    snprintf(path, sizeof(path), "%s/restart.log", wal_work);
    text = slurp(path);
    char resub[16];
    assert_non_null(strstr(text, "\"state\":\"final\""));
    /* Either the answer to the POST was lost with the node (the same bytes are posted again) or
     * the node lost the transaction it had accepted (they are resubmitted): one of the two. */
    assert_true(atoi(field(text, "resubmits", resub, sizeof(resub))) +
                    atoi(field(text, "retries", retries, sizeof(retries))) >=
                1);
    free(text);
    o = run("$SQ balance %s --json --node %s", c1, n1_.url);
    field(o.out, "balance", bal1, sizeof(bal1));
    out_free(&o);
    assert_int_equal(atoi(bal1), atoi(bal0) + 3);
    /* The node forgets an accepted transaction (its mempool lost): `send` sees not_found while
     * waiting and submits the same bytes again; the payment happens once. */
    stop(n1_.pid);
    node_start(&n1_, "n1", false, port, "--lose-first-ms 300");
    o = run("$SQ balance %s --json --node %s", c1, n1_.url);
    field(o.out, "balance", bal0, sizeof(bal0));
    out_free(&o);
    o = run("$SQ send --keystore n1/client0.key --to %s --amount 4 --json --node %s", c1,
            n1_.url);
    EXPECT(o, 0);
    assert_non_null(strstr(o.out, "\"state\":\"final\""));
    assert_int_equal(atoi(field(o.out, "resubmits", resub, sizeof(resub))), 1);
    out_free(&o);
    free(wait_for(n1_.log, "lost", 5));
    o = run("$SQ balance %s --json --node %s", c1, n1_.url);
    field(o.out, "balance", bal1, sizeof(bal1));
    out_free(&o);
    assert_int_equal(atoi(bal1), atoi(bal0) + 4);
    /* A node that answers not_ready (catching up) for a while: send waits it out. */
    stop(n1_.pid);
    node_start(&n1_, "n1", false, port, "--not-ready-ms 1500");
    o = run("$SQ send --keystore n1/client0.key --to %s --amount 1 --json --node %s", c1,
            n1_.url);
    EXPECT(o, 0);
    assert_true(atoi(field(o.out, "retries", retries, sizeof(retries))) > 0);
    out_free(&o);
    /* The timeout is honoured: a held transaction is not final in 1 s (exit 5). */
    stop(n1_.pid);
    node_start(&n1_, "n1", false, port, "--hold-ms 600000");
    o = run("$SQ send --keystore n1/client0.key --to %s --amount 1 --timeout 1 --node %s", c1,
            n1_.url);
    EXPECT(o, 5);
    assert_non_null(strstr(o.out, "state   accepted"));
    out_free(&o);
    stop(n1_.pid);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s SQUALL FAKE_NODE\n", argv[0]);
        return 2;
    }
    squall_ = argv[1];
    fake_ = argv[2];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_and_usage),
        cmocka_unit_test(test_keys_cli),
        cmocka_unit_test(test_verify_receipt_cli),
        cmocka_unit_test(test_audit_data_cli),
        cmocka_unit_test(test_progress_in_pty),
        cmocka_unit_test(test_no_node),
        cmocka_unit_test(test_node_send_and_receipt),
        cmocka_unit_test(test_node_governance),
        cmocka_unit_test(test_node_audit_and_consistency),
        cmocka_unit_test(test_node_watch),
        cmocka_unit_test(test_node_retry_and_restart),
    };
    return cmocka_run_group_tests_name("squall cli", tests, setup, teardown);
}
