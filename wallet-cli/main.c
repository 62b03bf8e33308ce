/* squall: the client's and auditor's command line. Every command takes --help and --json; exit
 * codes are enum wal_exit (docs/wallet.md, "Exit codes"). */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "base/err.h"
#include "base/log.h"
#include "wallet-cli/wallet.h"
#include "wallet-cli/wallet_int.h"

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                       */

enum opt_id {
    O_NODE = 256,
    O_KEYSTORE,
    O_GENESIS,
    O_CONFIG,
    O_PASSFILE,
    O_JSON,
    O_TIMEOUT,
    O_HELP,
    O_TO,
    O_AMOUNT,
    O_NONCE,
    O_EXPIRY,
    O_WAIT,
    O_OUT,
    O_FORCE,
    O_PLAIN,
    O_KDF,
    O_CLIENT,
    O_VALIDATOR,
    O_VALIDATOR_ID,
    O_ADDR,
    O_GOV_KEY,
    O_APPROVAL,
    O_PROPOSAL,
    O_PROPOSE_OUT,
    O_DATA,
    O_THREADS,
    O_PROGRESS,
    O_NO_PROGRESS,
    O_SCRATCH,
    O_FROM,
    O_FROM_ROOT,
    O_TO_ROOT,
    O_INTERVAL,
    O_ROUNDS,
    O_OPT_END_
};

#define BIT(o) (UINT64_C(1) << ((o) - O_NODE))
#define COMMON (BIT(O_CONFIG) | BIT(O_JSON) | BIT(O_HELP))
#define NODE_OPTS (BIT(O_NODE) | BIT(O_TIMEOUT))
#define KEY_OPTS (BIT(O_KEYSTORE) | BIT(O_PASSFILE))
#define SEND_OPTS (BIT(O_NONCE) | BIT(O_EXPIRY) | BIT(O_WAIT))
#define GOV_OPTS                                                                                   \
    (BIT(O_GENESIS) | BIT(O_GOV_KEY) | BIT(O_APPROVAL) | BIT(O_PROPOSAL) | BIT(O_PROPOSE_OUT))

static const struct option long_opts[] = {
    {"node", required_argument, NULL, O_NODE},
    {"keystore", required_argument, NULL, O_KEYSTORE},
    {"genesis", required_argument, NULL, O_GENESIS},
    {"config", required_argument, NULL, O_CONFIG},
    {"passphrase-file", required_argument, NULL, O_PASSFILE},
    {"json", no_argument, NULL, O_JSON},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"help", no_argument, NULL, O_HELP},
    {"to", required_argument, NULL, O_TO},
    {"amount", required_argument, NULL, O_AMOUNT},
    {"nonce", required_argument, NULL, O_NONCE},
    {"expiry", required_argument, NULL, O_EXPIRY},
    {"wait", required_argument, NULL, O_WAIT},
    {"out", required_argument, NULL, O_OUT},
    {"force", no_argument, NULL, O_FORCE},
    {"insecure-plain", no_argument, NULL, O_PLAIN},
    {"kdf", required_argument, NULL, O_KDF},
    {"client", required_argument, NULL, O_CLIENT},
    {"validator", required_argument, NULL, O_VALIDATOR},
    {"validator-id", required_argument, NULL, O_VALIDATOR_ID},
    {"addr", required_argument, NULL, O_ADDR},
    {"gov-key", required_argument, NULL, O_GOV_KEY},
    {"approval", required_argument, NULL, O_APPROVAL},
    {"proposal", required_argument, NULL, O_PROPOSAL},
    {"propose", required_argument, NULL, O_PROPOSE_OUT},
    {"data", required_argument, NULL, O_DATA},
    {"threads", required_argument, NULL, O_THREADS},
    {"progress", no_argument, NULL, O_PROGRESS},
    {"no-progress", no_argument, NULL, O_NO_PROGRESS},
    {"scratch", required_argument, NULL, O_SCRATCH},
    {"from", required_argument, NULL, O_FROM},
    {"from-root", required_argument, NULL, O_FROM_ROOT},
    {"to-root", required_argument, NULL, O_TO_ROOT},
    {"interval", required_argument, NULL, O_INTERVAL},
    {"rounds", required_argument, NULL, O_ROUNDS},
    {NULL, 0, NULL, 0},
};

#define ARGS_MAX 8

struct opts {
    struct wal_config cfg;
    const char *config_path;
    bool json;
    bool help;
    unsigned timeout_ms; /* 0: the command's default */
    const char *v[O_OPT_END_ - O_NODE];   /* last value of each option */
    uint64_t seen;                         /* BIT(o) for each option given */
    const char *nodes[WAL_NODES_MAX];
    size_t node_count;
    const char *gov_keys[WAL_APPROVALS_MAX];
    size_t gov_key_count;
    const char *approvals[WAL_APPROVALS_MAX];
    size_t approval_count;
    const char *args[ARGS_MAX];
    size_t arg_count;
};

#define OPT(o, id) ((o)->v[(id) - O_NODE])
#define HAS(o, id) (((o)->seen & BIT(id)) != 0)

struct command {
    const char *name;
    int (*run)(struct opts *o, struct wal_err *e);
    uint64_t allowed;
    size_t args_min;
    size_t args_max;
    const char *usage;
};

static const struct command *cur_cmd_;

/* ------------------------------------------------------------------------------------------ */
/* Output                                                                                        */

static void print_json(json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text != NULL) {
        fputs(text, stdout);
        fputc('\n', stdout);
        free(text);
    }
    fflush(stdout);
}

/* Prints the error for a person on stderr, and for scripts on stdout with --json. Returns its
 * exit code. `extra` (may be NULL, stolen) is merged into the JSON answer. */
static int report_error(const struct opts *o, const struct wal_err *e, json_t *extra)
{
    fprintf(stderr, "squall %s: %s\n", cur_cmd_ ? cur_cmd_->name : "", e->msg);
    if (o != NULL && o->json) {
        json_t *j = extra != NULL ? extra : json_object();
        json_object_set_new(j, "ok", json_false());
        json_object_set_new(j, "error",
                            json_pack("{s:i, s:s, s:s, s:s}", "exit", e->exit, "kind",
                                      wal_exit_name(e->exit), "code", e->code, "message", e->msg));
        print_json(j);
        json_decref(j);
    } else {
        json_decref(extra);
    }
    return e->exit;
}

static void hexs(char *out, size_t cap, const uint8_t *data, size_t size)
{
    wal_hex(out, cap, data, size);
}

/* ------------------------------------------------------------------------------------------ */
/* Helpers shared by commands                                                                    */

static int need(const struct opts *o, enum opt_id id, const char *name, struct wal_err *e)
{
    if (!HAS(o, id)) {
        return wal_fail(e, WAL_EXIT_USAGE, "missing_option", "%s is required (see --help)", name);
    }
    return WAL_EXIT_OK;
}

static int open_node(const struct opts *o, struct wal_node **n, struct wal_err *e)
{
    return wal_node_open(o->cfg.node, o->timeout_ms ? o->timeout_ms : 15000, n, e);
}

static int parse_wait(const struct opts *o, enum wal_tx_state def, enum wal_tx_state *out,
                      struct wal_err *e)
{
    const char *w = OPT(o, O_WAIT);
    if (w == NULL) {
        *out = def;
        return WAL_EXIT_OK;
    }
    if (strcmp(w, "none") == 0) {
        *out = WAL_TX_UNKNOWN;
        return WAL_EXIT_OK;
    }
    enum wal_tx_state s = wal_tx_state_parse(w);
    if (s != WAL_TX_ORDERED && s != WAL_TX_PERSISTED && s != WAL_TX_FINAL) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                        "--wait must be final, persisted, ordered or none, not '%s'", w);
    }
    *out = s;
    return WAL_EXIT_OK;
}

static int parse_id(const char *text, uint8_t id[LDG_HASH_BYTES], struct wal_err *e)
{
    return wal_pk_parse(text, "a transaction id", id, e) == WAL_EXIT_OK
               ? WAL_EXIT_OK
               : wal_fail(e, WAL_EXIT_USAGE, "bad_id",
                          "a transaction id is 64 hex digits, not '%s'", text);
}

/* The genesis: --genesis / $SQUALL_GENESIS / config when given, else the node's (if allowed). */
static int get_genesis(const struct opts *o, struct wal_node *n, struct ldg_genesis **g,
                       struct wal_err *e)
{
    if (o->cfg.genesis[0] != '\0') {
        return wal_genesis_load(o->cfg.genesis, g, e);
    }
    if (n == NULL) {
        return wal_fail(e, WAL_EXIT_USAGE, "missing_option",
                        "--genesis FILE is required (or $%s, or genesis = in the config file)",
                        WAL_ENV_GENESIS);
    }
    return wal_node_genesis(n, g, e);
}

static json_t *tx_info_json(const struct wal_tx_info *t)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", wal_json_hash_new(t->id, LDG_HASH_BYTES));
    json_object_set_new(j, "state", json_string(wal_tx_state_name(t->state)));
    if (t->placed) {
        json_object_set_new(j, "height", json_integer((json_int_t)t->height));
        json_object_set_new(j, "index", json_integer(t->index));
        json_object_set_new(j, "result", json_string(t->result));
        if (t->has_block_hash) {
            json_object_set_new(j, "block_hash",
                                wal_json_hash_new(t->block_hash, LDG_HASH_BYTES));
        }
    }
    return j;
}

static void print_tx_info(const struct wal_tx_info *t)
{
    char id[2 * LDG_HASH_BYTES + 1];
    hexs(id, sizeof(id), t->id, LDG_HASH_BYTES);
    printf("id      %s\n", id);
    if (t->placed) {
        char bh[2 * LDG_HASH_BYTES + 1];
        hexs(bh, sizeof(bh), t->block_hash, LDG_HASH_BYTES);
        printf("state   %s (height %" PRIu64 ", index %u, result %s)\n",
               wal_tx_state_name(t->state), t->height, t->index,
               t->result[0] ? t->result : "?");
        if (t->has_block_hash) {
            printf("block   %s\n", bh);
        }
    } else {
        printf("state   %s\n", wal_tx_state_name(t->state));
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Keys                                                                                          */

static int cmd_keygen(struct opts *o, struct wal_err *e)
{
    enum sqc_kdf_cost cost = SQC_KDF_INTERACTIVE;
    const char *kdf = OPT(o, O_KDF);
    if (kdf != NULL) {
        if (strcmp(kdf, "min") == 0) {
            cost = SQC_KDF_MIN;
        } else if (strcmp(kdf, "interactive") == 0) {
            cost = SQC_KDF_INTERACTIVE;
        } else if (strcmp(kdf, "moderate") == 0) {
            cost = SQC_KDF_MODERATE;
        } else {
            return wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                            "--kdf must be interactive, moderate or min (tests only)");
        }
    }
    bool plain = HAS(o, O_PLAIN);
    uint8_t pk[SQC_PK_BYTES];
    int rc = wal_keygen(o->cfg.keystore, plain, cost, o->cfg.passphrase_file, pk, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    char hex[2 * SQC_PK_BYTES + 1];
    hexs(hex, sizeof(hex), pk, SQC_PK_BYTES);
    if (o->json) {
        json_t *j = json_pack("{s:b, s:s, s:s, s:b}", "ok", 1, "address", hex, "keystore",
                              o->cfg.keystore, "encrypted", !plain);
        print_json(j);
        json_decref(j);
    } else {
        printf("new key written to %s (%s)\n", o->cfg.keystore,
               plain ? "PLAIN, unencrypted: for tests only" : "encrypted");
        printf("address %s\n", hex);
    }
    return WAL_EXIT_OK;
}

static int cmd_address(struct opts *o, struct wal_err *e)
{
    uint8_t pk[SQC_PK_BYTES];
    int rc = wal_key_public(o->cfg.keystore, pk, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    char hex[2 * SQC_PK_BYTES + 1];
    hexs(hex, sizeof(hex), pk, SQC_PK_BYTES);
    if (o->json) {
        json_t *j = json_pack("{s:b, s:s, s:s}", "ok", 1, "address", hex, "keystore",
                              o->cfg.keystore);
        print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", hex);
    }
    return WAL_EXIT_OK;
}

static int cmd_balance(struct opts *o, struct wal_err *e)
{
    uint8_t pk[SQC_PK_BYTES];
    struct wal_node *n;
    int rc = open_node(o, &n, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    rc = o->arg_count == 1 ? wal_pk_parse(o->args[0], "KEY", pk, e)
                           : wal_key_public(o->cfg.keystore, pk, e);
    if (rc != WAL_EXIT_OK) {
        wal_node_close(n);
        return rc;
    }
    struct wal_account a;
    rc = wal_node_account(n, pk, &a, e);
    wal_node_close(n);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    char hex[2 * SQC_PK_BYTES + 1];
    hexs(hex, sizeof(hex), pk, SQC_PK_BYTES);
    if (o->json) {
        json_t *j = json_pack("{s:b, s:s, s:I, s:I, s:I, s:b}", "ok", 1, "address", hex,
                              "balance", (json_int_t)a.balance, "nonce", (json_int_t)a.nonce,
                              "pending_nonce", (json_int_t)a.pending_nonce, "client", a.client);
        print_json(j);
        json_decref(j);
    } else {
        printf("address  %s\n", hex);
        printf("balance  %" PRIu64 "\n", a.balance);
        printf("nonce    %" PRIu64 " (next %" PRIu64 ")\n", a.nonce, a.pending_nonce + 1);
        printf("client   %s\n", a.client ? "yes" : "no");
    }
    return WAL_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Sending                                                                                       */

static int send_opts(const struct opts *o, struct wal_send_opts *so, struct wal_err *e)
{
    memset(so, 0, sizeof(*so));
    int rc = parse_wait(o, WAL_TX_FINAL, &so->wait, e);
    if (rc == WAL_EXIT_OK && HAS(o, O_NONCE)) {
        so->nonce_given = true;
        rc = wal_u64_parse(OPT(o, O_NONCE), "--nonce", &so->nonce, e);
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_EXPIRY)) {
        rc = wal_u64_parse(OPT(o, O_EXPIRY), "--expiry", &so->expiry_height, e);
        if (rc == WAL_EXIT_OK && so->expiry_height == 0) {
            rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "--expiry must be a height above 0");
        }
    }
    so->timeout_ms = o->timeout_ms;
    return rc;
}

/* Signs and submits `tx` with the keystore key, waits, and prints the outcome. */
static int submit_and_report(struct opts *o, struct ldg_tx *tx, const struct sqc_keypair *kp,
                             struct wal_node *n, struct wal_err *e)
{
    struct wal_send_opts so;
    int rc = send_opts(o, &so, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_send_result r;
    rc = wal_send(n, tx, kp, &so, &r, e);
    bool submitted = r.info.state != WAL_TX_UNKNOWN;
    json_t *j = NULL;
    if (o->json && submitted) {
        j = tx_info_json(&r.info);
        json_object_set_new(j, "nonce", json_integer((json_int_t)r.nonce));
        json_object_set_new(j, "expiry_height", json_integer((json_int_t)r.expiry_height));
        json_object_set_new(j, "duplicate", json_boolean(r.duplicate));
        json_object_set_new(j, "retries", json_integer(wal_node_stats(n)->retries));
        json_object_set_new(j, "resubmits", json_integer(wal_node_stats(n)->resubmits));
    }
    if (rc != WAL_EXIT_OK) {
        if (submitted && !o->json) {
            print_tx_info(&r.info);
        }
        report_error(o, e, j);
        return -rc;
    }
    if (o->json) {
        json_object_set_new(j, "ok", json_true());
        print_json(j);
        json_decref(j);
    } else {
        print_tx_info(&r.info);
        printf("nonce   %" PRIu64 ", expires after height %" PRIu64 "\n", r.nonce,
               r.expiry_height);
    }
    return WAL_EXIT_OK;
}

static int cmd_transfer(struct opts *o, uint8_t kind, struct wal_err *e)
{
    uint8_t to[SQC_PK_BYTES];
    uint64_t amount = 0;
    int rc = need(o, O_TO, "--to KEY", e);
    if (rc == WAL_EXIT_OK) {
        rc = need(o, O_AMOUNT, "--amount N", e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_pk_parse(OPT(o, O_TO), "--to", to, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_u64_parse(OPT(o, O_AMOUNT), "--amount", &amount, e);
    }
    if (rc == WAL_EXIT_OK && amount == 0) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "--amount must be above 0");
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct sqc_keypair kp;
    rc = wal_key_load(o->cfg.keystore, o->cfg.passphrase_file, &kp, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_node *n;
    rc = open_node(o, &n, e);
    if (rc == WAL_EXIT_OK) {
        struct ldg_tx tx;
        wal_tx_init(&tx, kind, NULL, kp.pk, 0, 0);
        memcpy(tx.target, to, SQC_PK_BYTES);
        tx.amount = amount;
        rc = submit_and_report(o, &tx, &kp, n, e);
        wal_node_close(n);
    }
    sqc_keypair_free(&kp);
    return rc;
}

static int cmd_send(struct opts *o, struct wal_err *e)
{
    return cmd_transfer(o, LDG_TX_TRANSFER, e);
}

static int cmd_mint(struct opts *o, struct wal_err *e)
{
    return cmd_transfer(o, LDG_TX_MINT, e);
}

/* ---- governance ---- */

/* The permission change described by the flags (or read from --proposal). */
static int gov_tx_from_flags(const struct opts *o, bool admit, const uint8_t sender[SQC_PK_BYTES],
                             struct ldg_tx *tx, struct wal_err *e)
{
    if (HAS(o, O_PROPOSAL)) {
        return wal_proposal_read(OPT(o, O_PROPOSAL), tx, e);
    }
    int rc;
    int forms = (HAS(o, O_CLIENT) ? 1 : 0) + (HAS(o, O_VALIDATOR) || HAS(o, O_VALIDATOR_ID));
    if (forms != 1) {
        return wal_fail(e, WAL_EXIT_USAGE, "missing_option",
                        admit ? "give --client KEY, or --validator KEY --validator-id N --addr "
                                "HOST:PORT, or --proposal FILE"
                              : "give --client KEY, or --validator-id N, or --proposal FILE");
    }
    if (HAS(o, O_CLIENT)) {
        wal_tx_init(tx, admit ? LDG_TX_ADMIT_CLIENT : LDG_TX_REMOVE_CLIENT, NULL, sender, 0, 0);
        return wal_pk_parse(OPT(o, O_CLIENT), "--client", tx->target, e);
    }
    uint64_t id = 0;
    rc = need(o, O_VALIDATOR_ID, "--validator-id N", e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_u64_parse(OPT(o, O_VALIDATOR_ID), "--validator-id", &id, e);
    }
    if (rc == WAL_EXIT_OK && (id == 0 || id > UINT32_MAX)) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "--validator-id out of range");
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    wal_tx_init(tx, admit ? LDG_TX_ADMIT_VALIDATOR : LDG_TX_REMOVE_VALIDATOR, NULL, sender, 0, 0);
    tx->validator_id = (uint32_t)id;
    if (!admit) {
        return HAS(o, O_VALIDATOR) ? wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                                              "revoke takes --validator-id only")
                                   : WAL_EXIT_OK;
    }
    rc = need(o, O_VALIDATOR, "--validator KEY", e);
    if (rc == WAL_EXIT_OK) {
        rc = need(o, O_ADDR, "--addr HOST:PORT", e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_pk_parse(OPT(o, O_VALIDATOR), "--validator", tx->target, e);
    }
    size_t alen = rc == WAL_EXIT_OK ? strlen(OPT(o, O_ADDR)) : 0;
    if (rc == WAL_EXIT_OK && (alen == 0 || alen > LDG_ADDR_BYTES_MAX)) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "--addr must be 1..%u bytes",
                      LDG_ADDR_BYTES_MAX);
    }
    if (rc == WAL_EXIT_OK) {
        tx->addr_size = (uint8_t)alen;
        memcpy(tx->addr, OPT(o, O_ADDR), alen);
    }
    return rc;
}

static int add_gov_keys(const struct opts *o, struct ldg_tx *tx, const struct ldg_genesis *g,
                        struct wal_err *e)
{
    for (size_t i = 0; i < o->gov_key_count; i++) {
        struct sqc_keypair gk;
        int rc = wal_key_load(o->gov_keys[i], o->cfg.passphrase_file, &gk, e);
        if (rc == WAL_EXIT_OK) {
            rc = wal_gov_approve_key(tx, g, &gk, e);
            sqc_keypair_free(&gk);
        }
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < o->approval_count; i++) {
        int rc = wal_gov_approve_file(tx, g, o->approvals[i], e);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
    }
    return WAL_EXIT_OK;
}

static int cmd_gov(struct opts *o, bool admit, struct wal_err *e)
{
    uint8_t sender[SQC_PK_BYTES];
    int rc = wal_key_public(o->cfg.keystore, sender, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct ldg_tx *tx = calloc(1, sizeof(*tx));
    if (tx == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    struct wal_node *n = NULL;
    struct ldg_genesis *g = NULL;
    struct sqc_keypair kp = {0};
    rc = gov_tx_from_flags(o, admit, sender, tx, e);
    if (rc == WAL_EXIT_OK && HAS(o, O_PROPOSAL)) {
        bool admits = tx->kind == LDG_TX_ADMIT_CLIENT || tx->kind == LDG_TX_ADMIT_VALIDATOR;
        if (admits != admit) {
            rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "the proposal is a %s; use 'squall %s'",
                          wal_tx_kind_name(tx->kind), admits ? "permit" : "revoke");
        } else if (memcmp(tx->sender, sender, SQC_PK_BYTES) != 0) {
            rc = wal_fail(e, WAL_EXIT_USAGE, "wrong_key",
                          "the proposal's sender is not the keystore's key: submit it with the "
                          "key that proposed it");
        }
    }
    if (rc == WAL_EXIT_OK) {
        rc = open_node(o, &n, e);
    }
    if (rc == WAL_EXIT_OK && !HAS(o, O_PROPOSAL)) {
        /* Fix every field now: the approvals sign them. */
        struct wal_status st;
        struct wal_account acct;
        rc = wal_node_status(n, &st, e);
        if (rc == WAL_EXIT_OK) {
            tx->chain_id_size = (uint8_t)strlen(st.chain_id);
            memcpy(tx->chain_id, st.chain_id, tx->chain_id_size);
            tx->expiry_height = st.ordered + WAL_TTL_BLOCKS_DEFAULT;
            if (HAS(o, O_EXPIRY)) {
                rc = wal_u64_parse(OPT(o, O_EXPIRY), "--expiry", &tx->expiry_height, e);
            }
        }
        if (rc == WAL_EXIT_OK && HAS(o, O_NONCE)) {
            rc = wal_u64_parse(OPT(o, O_NONCE), "--nonce", &tx->nonce, e);
        } else if (rc == WAL_EXIT_OK) {
            rc = wal_node_account(n, sender, &acct, e);
            tx->nonce = acct.pending_nonce + 1;
        }
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_PROPOSE_OUT)) {
        rc = wal_proposal_write(tx, OPT(o, O_PROPOSE_OUT), e);
        if (rc == WAL_EXIT_OK) {
            if (o->json) {
                json_t *j = wal_tx_json(tx);
                json_object_set_new(j, "ok", json_true());
                json_object_set_new(j, "proposal", json_string(OPT(o, O_PROPOSE_OUT)));
                print_json(j);
                json_decref(j);
            } else {
                printf("proposal written to %s: governance key holders approve it with\n"
                       "  squall approve %s --gov-key KEYFILE --out APPROVAL\n",
                       OPT(o, O_PROPOSE_OUT), OPT(o, O_PROPOSE_OUT));
            }
        }
        goto out;
    }
    if (rc == WAL_EXIT_OK) {
        rc = get_genesis(o, n, &g, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = add_gov_keys(o, tx, g, e);
    }
    if (rc == WAL_EXIT_OK && tx->approval_count < g->gov_threshold) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "too_few_approvals",
                      "%u approval(s), chain %s needs %u of %u governance keys (--gov-key FILE or "
                      "--approval FILE)",
                      tx->approval_count, g->chain_id, g->gov_threshold, g->gov_count);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_key_load(o->cfg.keystore, o->cfg.passphrase_file, &kp, e);
    }
    if (rc == WAL_EXIT_OK) {
        /* The fields are fixed: only the signature and submission remain. */
        struct opts fixed = *o;
        fixed.seen |= BIT(O_NONCE) | BIT(O_EXPIRY);
        char nonce[32];
        char expiry[32];
        snprintf(nonce, sizeof(nonce), "%" PRIu64, tx->nonce);
        snprintf(expiry, sizeof(expiry), "%" PRIu64, tx->expiry_height);
        OPT(&fixed, O_NONCE) = nonce;
        OPT(&fixed, O_EXPIRY) = expiry;
        rc = submit_and_report(&fixed, tx, &kp, n, e); /* reports its own errors */
    }
out:
    sqc_keypair_free(&kp);
    ldg_genesis_free(g);
    wal_node_close(n);
    free(tx);
    return rc;
}

static int cmd_permit(struct opts *o, struct wal_err *e)
{
    return cmd_gov(o, true, e);
}

static int cmd_revoke(struct opts *o, struct wal_err *e)
{
    return cmd_gov(o, false, e);
}

static int cmd_approve(struct opts *o, struct wal_err *e)
{
    int rc = need(o, O_GOV_KEY, "--gov-key FILE", e);
    if (rc == WAL_EXIT_OK) {
        rc = need(o, O_OUT, "--out FILE", e);
    }
    if (rc == WAL_EXIT_OK && o->gov_key_count != 1) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "approve takes one --gov-key");
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct ldg_tx *tx = calloc(1, sizeof(*tx));
    if (tx == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    struct ldg_genesis *g = NULL;
    struct wal_node *n = NULL;
    struct sqc_keypair gk = {0};
    rc = wal_proposal_read(o->args[0], tx, e);
    if (rc == WAL_EXIT_OK && o->cfg.genesis[0] == '\0') {
        rc = open_node(o, &n, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = get_genesis(o, n, &g, e);
    }
    if (rc == WAL_EXIT_OK && (strlen(g->chain_id) != tx->chain_id_size ||
                              memcmp(g->chain_id, tx->chain_id, tx->chain_id_size) != 0)) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "wrong_chain", "the proposal is for another chain than %s",
                      g->chain_id);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_key_load(o->gov_keys[0], o->cfg.passphrase_file, &gk, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_gov_partial_write(tx, g, &gk, OPT(o, O_OUT), e);
    }
    if (rc == WAL_EXIT_OK) {
        json_t *j = wal_tx_json(tx);
        if (o->json) {
            json_object_set_new(j, "ok", json_true());
            json_object_set_new(j, "approval", json_string(OPT(o, O_OUT)));
            print_json(j);
        } else {
            char *text = json_dumps(j, JSON_INDENT(2));
            printf("approved:\n%s\napproval written to %s\n", text ? text : "", OPT(o, O_OUT));
            free(text);
        }
        json_decref(j);
    }
    sqc_keypair_free(&gk);
    ldg_genesis_free(g);
    wal_node_close(n);
    free(tx);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Queries and receipts                                                                          */

static int cmd_tx(struct opts *o, struct wal_err *e)
{
    uint8_t id[LDG_HASH_BYTES];
    enum wal_tx_state want;
    int rc = parse_id(o->args[0], id, e);
    if (rc == WAL_EXIT_OK) {
        rc = parse_wait(o, WAL_TX_UNKNOWN, &want, e);
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_node *n;
    rc = open_node(o, &n, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_tx_info info;
    if (want == WAL_TX_UNKNOWN) {
        rc = wal_node_tx(n, id, WAL_TX_UNKNOWN, 0, &info, e);
    } else {
        rc = wal_tx_wait(n, id, want, o->timeout_ms ? o->timeout_ms : 60000, NULL, 0, &info, e);
    }
    wal_node_close(n);
    bool known = rc == WAL_EXIT_OK || rc == WAL_EXIT_FAULT || rc == WAL_EXIT_TIMEOUT;
    if (known && !o->json) {
        print_tx_info(&info);
    }
    if (rc != WAL_EXIT_OK) {
        report_error(o, e, known ? tx_info_json(&info) : NULL);
        return -rc;
    }
    if (o->json) {
        json_t *j = tx_info_json(&info);
        json_object_set_new(j, "ok", json_true());
        print_json(j);
        json_decref(j);
    }
    return WAL_EXIT_OK;
}

static int cmd_receipt(struct opts *o, struct wal_err *e)
{
    uint8_t id[LDG_HASH_BYTES];
    int rc = parse_id(o->args[0], id, e);
    if (rc == WAL_EXIT_OK) {
        rc = need(o, O_OUT, "--out FILE", e);
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_node *n;
    rc = open_node(o, &n, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    uint8_t *data = NULL;
    size_t size = 0;
    uint64_t height = 0;
    uint64_t certified = 0;
    double deadline = wal_now_s() + (o->timeout_ms ? o->timeout_ms : 30000) / 1000.0;
    for (;;) {
        rc = wal_node_receipt(n, id, &data, &size, &height, &certified, e);
        if (rc != WAL_EXIT_REFUSED || strcmp(e->code, "not_final") != 0 ||
            wal_now_s() >= deadline) {
            break;
        }
        /* Not final yet: wait for it on the node rather than polling blindly. */
        struct wal_tx_info info;
        double left = deadline - wal_now_s();
        unsigned left_ms = left > 0 ? (unsigned)(left * 1000) : 0;
        rc = wal_node_tx(n, id, WAL_TX_FINAL,
                         left_ms < WAL_WAIT_POLL_MS_MAX ? left_ms : WAL_WAIT_POLL_MS_MAX, &info, e);
        if (rc != WAL_EXIT_OK) {
            break;
        }
        if (info.state == WAL_TX_EXPIRED) {
            rc = wal_fail(e, WAL_EXIT_FAULT, "tx_expired",
                          "the transaction expired: it has no receipt");
            break;
        }
        if (info.state == WAL_TX_FINAL || info.state == WAL_TX_FAILED) {
            wal_sleep_ms(100); /* final, its certificate not yet served: ask again shortly */
        }
    }
    wal_node_close(n);
    struct ldg_genesis *g = NULL;
    struct ldg_receipt_info *info = NULL;
    if (rc == WAL_EXIT_OK && o->cfg.genesis[0] != '\0') {
        /* With a genesis at hand, refuse to keep a receipt that would not verify. */
        info = malloc(sizeof(*info));
        rc = info == NULL ? wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory")
                          : wal_genesis_load(o->cfg.genesis, &g, e);
        if (rc == WAL_EXIT_OK) {
            rc = wal_receipt_check(g, data, size, id, info, e);
        }
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_receipt_save(OPT(o, O_OUT), id, height, certified, data, size, HAS(o, O_FORCE),
                              e);
    }
    if (rc == WAL_EXIT_OK) {
        if (o->json) {
            json_t *j = json_pack("{s:b, s:s, s:I, s:I, s:I, s:b}", "ok", 1, "out", OPT(o, O_OUT),
                                  "height", (json_int_t)height, "certified_height",
                                  (json_int_t)certified, "bytes", (json_int_t)size, "verified",
                                  g != NULL);
            print_json(j);
            json_decref(j);
        } else {
            printf("receipt for block %" PRIu64 " (certified at %" PRIu64 "), %zu bytes, "
                   "written to %s%s\n",
                   height, certified, size, OPT(o, O_OUT),
                   g != NULL ? " (verified against the genesis)" : "");
        }
    }
    free(info);
    ldg_genesis_free(g);
    free(data);
    return rc;
}

static int cmd_verify_receipt(struct opts *o, struct wal_err *e)
{
    if (o->cfg.genesis[0] == '\0') {
        return wal_fail(e, WAL_EXIT_USAGE, "missing_option",
                        "--genesis FILE is required: a receipt is checked against the genesis "
                        "alone");
    }
    struct ldg_genesis *g = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    bool has_id = false;
    uint8_t id[LDG_HASH_BYTES];
    struct ldg_receipt_info *info = malloc(sizeof(*info));
    if (info == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    int rc = wal_genesis_load(o->cfg.genesis, &g, e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_receipt_load(o->args[0], &data, &size, &has_id, id, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = wal_receipt_check(g, data, size, has_id ? id : NULL, info, e);
    }
    if (rc == WAL_EXIT_OK) {
        if (o->json) {
            json_t *j = wal_receipt_json(info);
            json_object_set_new(j, "ok", json_true());
            json_object_set_new(j, "genesis_digest", wal_json_hash_new(g->digest, LDG_HASH_BYTES));
            print_json(j);
            json_decref(j);
        } else {
            char hid[2 * LDG_HASH_BYTES + 1];
            char hs[2 * SQC_PK_BYTES + 1];
            char gd[2 * LDG_HASH_BYTES + 1];
            hexs(hid, sizeof(hid), info->txid, LDG_HASH_BYTES);
            hexs(hs, sizeof(hs), info->tx.sender, SQC_PK_BYTES);
            hexs(gd, sizeof(gd), g->digest, LDG_HASH_BYTES);
            printf("receipt OK: transaction %s\n", hid);
            printf("  %s from %s, nonce %" PRIu64 "\n", wal_tx_kind_name(info->tx.kind), hs,
                   info->tx.nonce);
            if (info->tx.kind == LDG_TX_TRANSFER || info->tx.kind == LDG_TX_MINT) {
                char ht[2 * SQC_PK_BYTES + 1];
                hexs(ht, sizeof(ht), info->tx.target, SQC_PK_BYTES);
                printf("  amount %" PRIu64 " to %s\n", info->tx.amount, ht);
            }
            printf("  in block %" PRIu64 " at index %u, result %s\n", info->height, info->index,
                   ldg_result_name(info->result));
            printf("  final: certified at height %" PRIu64 " by %u validators of view %" PRIu64
                   " (%u view changes followed from genesis)\n",
                   info->cert.height, info->cert.signer_count, info->cert.view_id,
                   info->view_changes);
            printf("  genesis %s (chain %s)\n", gd, g->chain_id);
        }
    }
    free(info);
    free(data);
    ldg_genesis_free(g);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Auditing                                                                                      */

static void on_sigint(int sig)
{
    (void)sig;
    wal_audit_interrupt();
}

static int cmd_audit(struct opts *o, struct wal_err *e)
{
    struct wal_audit_opts ao = {.progress_fd = -1};
    int rc = WAL_EXIT_OK;
    if (HAS(o, O_THREADS)) {
        uint64_t t;
        rc = wal_u64_parse(OPT(o, O_THREADS), "--threads", &t, e);
        if (rc == WAL_EXIT_OK && (t == 0 || t > SQ_VERIFY_THREADS_MAX)) {
            rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "--threads must be 1..%u",
                          SQ_VERIFY_THREADS_MAX);
        }
        ao.threads = (unsigned)t;
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_TO)) {
        rc = wal_u64_parse(OPT(o, O_TO), "--to", &ao.to_height, e);
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_DATA) && HAS(o, O_NODE)) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "give --node or --data, not both");
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    bool tty = isatty(STDOUT_FILENO) == 1;
    if ((tty && !o->json && !HAS(o, O_NO_PROGRESS)) || HAS(o, O_PROGRESS)) {
        ao.progress_fd = STDOUT_FILENO;
    }
    ao.scratch_dir = OPT(o, O_SCRATCH);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);

    struct wal_audit_result r;
    memset(&r, 0, sizeof(r));
    struct ldg_genesis *g = NULL;
    const char *source;
    char dir[WAL_PATH_BYTES_MAX];
    if (HAS(o, O_DATA)) {
        source = OPT(o, O_DATA);
        rc = wal_data_dir(source, dir, sizeof(dir), e);
        if (rc == WAL_EXIT_OK && o->cfg.genesis[0] == '\0') {
            /* A validator home keeps its genesis beside its data. */
            char probe[WAL_PATH_BYTES_MAX + 32];
            struct stat st;
            snprintf(probe, sizeof(probe), "%s/genesis.json", source);
            if (stat(probe, &st) != 0) {
                snprintf(probe, sizeof(probe), "%s/../genesis.json", dir);
            }
            if (stat(probe, &st) == 0 && strlen(probe) < sizeof(o->cfg.genesis)) {
                memcpy(o->cfg.genesis, probe, strlen(probe) + 1);
            }
        }
        if (rc == WAL_EXIT_OK) {
            rc = get_genesis(o, NULL, &g, e);
        }
        if (rc == WAL_EXIT_OK) {
            rc = wal_audit_data(dir, g, &ao, &r, e);
        }
    } else {
        source = o->cfg.node;
        struct wal_node *n;
        rc = open_node(o, &n, e);
        if (rc == WAL_EXIT_OK) {
            if (o->cfg.genesis[0] == '\0') {
                fprintf(stderr, "squall audit: warning: no --genesis given; auditing against the "
                                "genesis the node serves (compare its digest below)\n");
            }
            rc = get_genesis(o, n, &g, e);
            if (rc == WAL_EXIT_OK) {
                rc = wal_audit_node(n, g, &ao, &r, e);
            }
            wal_node_close(n);
        }
    }
    bool ran = rc == WAL_EXIT_OK || (rc == WAL_EXIT_FAULT && r.rep.what[0] != '\0');
    if (o->json && ran) {
        json_t *j = wal_audit_json(&r, rc == WAL_EXIT_OK);
        json_object_set_new(j, "source", json_string(source));
        if (rc == WAL_EXIT_OK) {
            print_json(j);
            json_decref(j);
        } else {
            report_error(o, e, j);
            rc = -rc;
        }
    } else if (ran) {
        char gd[2 * LDG_HASH_BYTES + 1];
        hexs(gd, sizeof(gd), r.genesis_digest, LDG_HASH_BYTES);
        if (rc == WAL_EXIT_OK) {
            char th[2 * LDG_HASH_BYTES + 1];
            char ar[2 * LDG_HASH_BYTES + 1];
            hexs(th, sizeof(th), r.tip_hash, LDG_HASH_BYTES);
            hexs(ar, sizeof(ar), r.acc_root, LDG_HASH_BYTES);
            printf("audit OK: %s\n", source);
            printf("  blocks        %" PRIu64 " (heights 0..%" PRIu64 ")\n", r.rep.blocks,
                   r.rep.tip);
            printf("  transactions  %" PRIu64 "\n", r.rep.txs);
            printf("  signatures    %" PRIu64 "\n", r.rep.signatures);
            printf("  certificates  %" PRIu64 " (certified up to height %" PRIu64 ")\n",
                   r.rep.certs, r.certified_height);
            printf("  view changes  %" PRIu64 " (genesis included)\n", r.rep.views);
            printf("  time          %.2f s, %.0f tx/s\n", r.seconds, r.tx_per_s);
            printf("  tip hash      %s\n", th);
            printf("  acc root      %s (record it: 'squall consistency --from %" PRIu64
                   " --from-root' proves later heads extend it)\n",
                   ar, r.rep.tip);
            printf("  genesis       %s\n", gd);
        } else {
            printf("audit FAILED: %s\n", source);
            printf("  first fault   height %" PRIu64 ": %s\n", r.rep.fault_height, r.rep.what);
            printf("  why           %s\n", r.rep.why);
            printf("  genesis       %s\n", gd);
        }
    }
    ldg_genesis_free(g);
    return rc;
}

static int cmd_consistency(struct opts *o, struct wal_err *e)
{
    uint64_t from = 0;
    uint64_t to = 0;
    uint8_t from_root[LDG_HASH_BYTES];
    uint8_t to_root[LDG_HASH_BYTES];
    int rc = need(o, O_FROM, "--from H1", e);
    if (rc == WAL_EXIT_OK) {
        rc = wal_u64_parse(OPT(o, O_FROM), "--from", &from, e);
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_TO)) {
        rc = wal_u64_parse(OPT(o, O_TO), "--to", &to, e);
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_FROM_ROOT)) {
        rc = wal_pk_parse(OPT(o, O_FROM_ROOT), "--from-root", from_root, e);
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_TO_ROOT)) {
        rc = wal_pk_parse(OPT(o, O_TO_ROOT), "--to-root", to_root, e);
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct wal_node *n;
    rc = open_node(o, &n, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    if (!HAS(o, O_TO)) {
        struct wal_status st;
        rc = wal_node_status(n, &st, e);
        to = st.final;
    }
    if (rc == WAL_EXIT_OK && from > to) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                      "--from %" PRIu64 " is above --to %" PRIu64, from, to);
    }
    struct wal_consistency *p = malloc(sizeof(*p));
    if (rc == WAL_EXIT_OK && p == NULL) {
        rc = wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    if (rc == WAL_EXIT_OK) {
        /* A chain up to height H holds H + 1 blocks: the accumulator of size H + 1. */
        rc = wal_node_consistency(n, from + 1, to + 1, p, e);
    }
    wal_node_close(n);
    if (rc == WAL_EXIT_OK) {
        rc = wal_consistency_check(p, HAS(o, O_FROM_ROOT) ? from_root : NULL,
                                   HAS(o, O_TO_ROOT) ? to_root : NULL, e);
    }
    if (rc == WAL_EXIT_OK) {
        char r1[2 * LDG_HASH_BYTES + 1];
        char r2[2 * LDG_HASH_BYTES + 1];
        hexs(r1, sizeof(r1), p->root_from, LDG_HASH_BYTES);
        hexs(r2, sizeof(r2), p->root_to, LDG_HASH_BYTES);
        bool anchored = HAS(o, O_FROM_ROOT);
        if (o->json) {
            json_t *j = json_pack("{s:b, s:I, s:I, s:s, s:s, s:i, s:b}", "ok", 1, "from",
                                  (json_int_t)from, "to", (json_int_t)to, "root_from", r1,
                                  "root_to", r2, "path_length", (int)p->path_count,
                                  "from_root_trusted", anchored);
            print_json(j);
            json_decref(j);
        } else {
            printf("consistent: the chain up to height %" PRIu64 " extends the chain up to height "
                   "%" PRIu64 "\n",
                   to, from);
            printf("  root at %-8" PRIu64 " %s%s\n", from, r1,
                   anchored ? " (matches --from-root)" : " (as the node reports it)");
            printf("  root at %-8" PRIu64 " %s\n", to, r2);
            if (!anchored) {
                printf("  note: pass --from-root with a root you recorded earlier (audit, watch, "
                       "another validator) to anchor the check\n");
            }
        }
    }
    free(p);
    return rc;
}

/* ---- watch ---- */

struct watched {
    struct wal_node *n;
    bool up;
    uint64_t final;
    uint64_t known_size; /* the head checked last round (0: none yet) */
    uint8_t known_root[LDG_HASH_BYTES];
    uint8_t hash[LDG_HASH_BYTES];
    char err[WAL_ERR_MSG_BYTES];
};

static volatile sig_atomic_t watch_stop_;

static void on_watch_sigint(int sig)
{
    (void)sig;
    watch_stop_ = 1;
}

static int watch_round(struct watched *w, size_t count, unsigned round, json_t *jr, bool json,
                       struct wal_err *e)
{
    uint64_t common = UINT64_MAX;
    size_t up = 0;
    for (size_t i = 0; i < count; i++) {
        struct wal_status st;
        struct wal_err ne;
        w[i].up = wal_node_status(w[i].n, &st, &ne) == WAL_EXIT_OK;
        snprintf(w[i].err, sizeof(w[i].err), "%s", w[i].up ? "" : ne.msg);
        w[i].final = w[i].up ? st.final : 0;
        if (w[i].up) {
            up++;
            common = st.final < common ? st.final : common;
        }
    }
    int rc = WAL_EXIT_OK;
    /* Each node's new head must extend the head it showed last round. */
    for (size_t i = 0; i < count && rc == WAL_EXIT_OK; i++) {
        if (!w[i].up) {
            continue;
        }
        struct wal_consistency p;
        struct wal_err ne;
        uint64_t from = w[i].known_size ? w[i].known_size : w[i].final + 1;
        if (w[i].final + 1 < from) {
            rc = wal_fail(e, WAL_EXIT_FAULT, "head_regressed",
                          "ALARM: %s reports final height %" PRIu64 " after %" PRIu64,
                          wal_node_url(w[i].n), w[i].final, from - 1);
            break;
        }
        int prc = wal_node_consistency(w[i].n, from, w[i].final + 1, &p, &ne);
        if (prc == WAL_EXIT_OK) {
            prc = wal_consistency_check(&p, w[i].known_size ? w[i].known_root : NULL, NULL, &ne);
            if (prc == WAL_EXIT_FAULT) {
                rc = wal_fail(e, WAL_EXIT_FAULT, "not_consistent",
                              "ALARM: %s: its head at %" PRIu64
                              " does not extend its earlier head at %" PRIu64 ": %s",
                              wal_node_url(w[i].n), w[i].final, from - 1, ne.msg);
                break;
            }
        }
        if (prc != WAL_EXIT_OK) {
            w[i].up = false;
            snprintf(w[i].err, sizeof(w[i].err), "%s", ne.msg);
            continue;
        }
        w[i].known_size = w[i].final + 1;
        memcpy(w[i].known_root, p.root_to, LDG_HASH_BYTES);
    }
    /* Every node must have the same block at the highest height all have made final. */
    size_t compared = 0;
    const struct watched *first = NULL;
    for (size_t i = 0; rc == WAL_EXIT_OK && up > 0 && i < count; i++) {
        if (!w[i].up) {
            continue;
        }
        struct wal_err ne;
        if (wal_node_block_hash(w[i].n, common, w[i].hash, &ne) != WAL_EXIT_OK) {
            w[i].up = false;
            snprintf(w[i].err, sizeof(w[i].err), "%s", ne.msg);
            continue;
        }
        compared++;
        if (first == NULL) {
            first = &w[i];
        } else if (memcmp(first->hash, w[i].hash, LDG_HASH_BYTES) != 0) {
            char a[2 * LDG_HASH_BYTES + 1];
            char b[2 * LDG_HASH_BYTES + 1];
            hexs(a, sizeof(a), first->hash, LDG_HASH_BYTES);
            hexs(b, sizeof(b), w[i].hash, LDG_HASH_BYTES);
            rc = wal_fail(e, WAL_EXIT_FAULT, "divergence",
                          "ALARM: heads diverge at height %" PRIu64 ": %s has %s, %s has %s",
                          common, wal_node_url(first->n), a, wal_node_url(w[i].n), b);
        }
    }
    json_t *nodes = json_array();
    for (size_t i = 0; i < count; i++) {
        char h[2 * LDG_HASH_BYTES + 1] = "";
        if (w[i].up) {
            hexs(h, sizeof(h), w[i].hash, LDG_HASH_BYTES);
        }
        if (json) {
            json_t *nj = json_pack("{s:s, s:b}", "node", wal_node_url(w[i].n), "up", w[i].up);
            if (w[i].up) {
                json_object_set_new(nj, "final", json_integer((json_int_t)w[i].final));
            } else {
                json_object_set_new(nj, "error", json_string(w[i].err));
            }
            json_array_append_new(nodes, nj);
        } else if (w[i].up) {
            printf("[%u] %-28s final %-8" PRIu64 " block %" PRIu64 " %s\n", round,
                   wal_node_url(w[i].n), w[i].final, common, h);
        } else {
            printf("[%u] %-28s DOWN: %s\n", round, wal_node_url(w[i].n), w[i].err);
        }
    }
    if (json) {
        json_object_set_new(jr, "round", json_integer(round));
        json_object_set_new(jr, "nodes", nodes);
        json_object_set_new(jr, "height", json_integer(up ? (json_int_t)common : -1));
        if (first != NULL) {
            json_object_set_new(jr, "hash", wal_json_hash_new(first->hash, LDG_HASH_BYTES));
        }
        json_object_set_new(jr, "agree", json_boolean(rc == WAL_EXIT_OK && compared > 0));
    } else {
        json_decref(nodes);
        if (rc == WAL_EXIT_OK) {
            printf("[%u] %zu of %zu nodes agree at height %" PRIu64 "\n", round, compared, count,
                   up ? common : 0);
        }
    }
    fflush(stdout);
    return rc;
}

static int cmd_watch(struct opts *o, struct wal_err *e)
{
    if (o->node_count < 2) {
        return wal_fail(e, WAL_EXIT_USAGE, "missing_option",
                        "watch needs at least two --node URL");
    }
    double interval = 5.0;
    uint64_t rounds = 0;
    int rc = WAL_EXIT_OK;
    if (HAS(o, O_INTERVAL)) {
        char *end;
        interval = strtod(OPT(o, O_INTERVAL), &end);
        if (*end != '\0' || !(interval >= 0.05 && interval <= 86400)) {
            rc = wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                          "--interval must be seconds between 0.05 and 86400");
        }
    }
    if (rc == WAL_EXIT_OK && HAS(o, O_ROUNDS)) {
        rc = wal_u64_parse(OPT(o, O_ROUNDS), "--rounds", &rounds, e);
    }
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    struct watched *w = calloc(o->node_count, sizeof(*w));
    if (w == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    for (size_t i = 0; i < o->node_count && rc == WAL_EXIT_OK; i++) {
        rc = wal_node_open(o->nodes[i], o->timeout_ms ? o->timeout_ms : 5000, &w[i].n, e);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_watch_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    bool ever_down = false;
    for (unsigned round = 1; rc == WAL_EXIT_OK && !watch_stop_; round++) {
        json_t *jr = o->json ? json_object() : NULL;
        rc = watch_round(w, o->node_count, round, jr, o->json, e);
        for (size_t i = 0; i < o->node_count; i++) {
            ever_down = ever_down || !w[i].up;
        }
        if (jr != NULL) {
            if (rc != WAL_EXIT_OK) {
                report_error(o, e, jr);
                rc = -rc;
            } else {
                json_object_set_new(jr, "ok", json_true());
                print_json(jr);
                json_decref(jr);
            }
        }
        if (rc != WAL_EXIT_OK || (rounds != 0 && round >= rounds)) {
            break;
        }
        for (double slept = 0; slept < interval && !watch_stop_; slept += 0.05) {
            wal_sleep_ms(50);
        }
    }
    for (size_t i = 0; i < o->node_count; i++) {
        wal_node_close(w[i].n);
    }
    free(w);
    if (rc == WAL_EXIT_OK && ever_down) {
        /* Bounded runs tell scripts that a node could not be checked. */
        return wal_fail(e, WAL_EXIT_NETWORK, "node_down",
                        "at least one node could not be reached in some round (heads that "
                        "could be compared agreed)");
    }
    return rc;
}

static int cmd_version(struct opts *o, struct wal_err *e)
{
    (void)e;
    if (o->json) {
        json_t *j = json_pack("{s:b, s:s}", "ok", 1, "version", SQ_VERSION);
        print_json(j);
        json_decref(j);
    } else {
        printf("squall %s\n", SQ_VERSION);
    }
    return WAL_EXIT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Usage                                                                                         */

#define U_COMMON                                                                                   \
    "  --json                   one JSON object on stdout (errors too: {\"ok\": false, ...})\n"   \
    "  --config FILE            config file (default $SQUALL_CONFIG or ~/.squall/config)\n"       \
    "  -h, --help               this help\n"
#define U_NODE                                                                                     \
    "  --node URL               a validator's API (default $SQUALL_NODE, the config, or\n"        \
    "                           " WAL_NODE_DEFAULT ")\n"                                           \
    "  --timeout SECONDS        bound on the whole command's waiting (default per command)\n"
#define U_KEY                                                                                      \
    "  --keystore FILE          the key file (default $SQUALL_KEYSTORE, the config, or\n"         \
    "                           ~/.squall/wallet.key)\n"                                          \
    "  --passphrase-file FILE   read passphrases from FILE (else $SQUALL_PASSPHRASE, else a\n"    \
    "                           prompt on the terminal with echo off)\n"
#define U_SEND                                                                                     \
    "  --wait STATE             final (default), persisted, ordered or none\n"                    \
    "  --nonce N                the nonce (default: the node's pending nonce + 1)\n"              \
    "  --expiry H               last height it may be ordered at (default: height + 1000)\n"

static const struct command commands[];

static int usage_main(FILE *f)
{
    fprintf(f,
            "Usage: squall COMMAND [OPTIONS]\n"
            "\n"
            "The Squall wallet and auditor: keys, payments, receipts, audits.\n"
            "\n"
            "Keys:       keygen, address, balance\n"
            "Payments:   send, mint, tx, receipt, verify-receipt\n"
            "Governance: permit, revoke, approve\n"
            "Auditing:   audit, consistency, watch\n"
            "Other:      version\n"
            "\n"
            "Run 'squall COMMAND --help' for a command's options. Every command takes --json.\n"
            "\n"
            "Exit codes:\n"
            "  0  ok\n"
            "  1  verification failed, a fault found, a transaction failed or expired, heads "
            "diverge\n"
            "  2  usage: bad command line, config file or argument\n"
            "  3  network: the node could not be reached or answered outside the API\n"
            "  4  refused: the node answered with an API error (its code is shown)\n"
            "  5  timeout: the transaction did not reach the state waited for in time\n"
            "  6  key: keystore missing or damaged, wrong passphrase\n"
            "  7  io: a local file could not be read or written, or is malformed\n"
            "  8  internal: out of memory or a library failure\n"
            "\n"
            "Environment: SQUALL_NODE, SQUALL_KEYSTORE, SQUALL_GENESIS, SQUALL_CONFIG,\n"
            "SQUALL_PASSPHRASE. Guides: docs/wallet.md, docs/audit.md.\n");
    return 0;
}

static const struct command commands[] = {
    {"keygen", cmd_keygen, COMMON | KEY_OPTS | BIT(O_PLAIN) | BIT(O_KDF), 0, 0,
     "Usage: squall keygen [--keystore FILE] [OPTIONS]\n\n"
     "Makes a new Ed25519 key and writes it to the keystore, encrypted with a passphrase\n"
     "(Argon2id + XChaCha20-Poly1305) asked twice on the terminal without echo. An existing\n"
     "file is never replaced.\n\n" U_KEY
     "  --insecure-plain         store the key unencrypted (tests and throwaway networks only)\n"
     "  --kdf COST               interactive (default), moderate, or min (tests only)\n" U_COMMON},
    {"address", cmd_address, COMMON | KEY_OPTS, 0, 0,
     "Usage: squall address [--keystore FILE]\n\n"
     "Prints the keystore's public key (the account address); needs no passphrase.\n\n" U_KEY
         U_COMMON},
    {"balance", cmd_balance, COMMON | KEY_OPTS | NODE_OPTS, 0, 1,
     "Usage: squall balance [KEY] [OPTIONS]\n\n"
     "Prints the balance and nonce of KEY (default: the keystore's address) as the node\n"
     "knows them.\n\n" U_NODE U_KEY U_COMMON},
    {"send", cmd_send, COMMON | KEY_OPTS | NODE_OPTS | SEND_OPTS | BIT(O_TO) | BIT(O_AMOUNT), 0, 0,
     "Usage: squall send --to KEY --amount N [OPTIONS]\n\n"
     "Builds a transfer, signs it with the keystore key, submits it and waits until it is final\n"
     "(or --wait). Prints the transaction id and its state. A lost connection is retried with\n"
     "the same signed bytes, so a payment is never made twice.\n\n"
     "  --to KEY                 the recipient's public key (64 hex digits)\n"
     "  --amount N               a whole number of units\n" U_SEND U_NODE U_KEY U_COMMON},
    {"mint", cmd_mint, COMMON | KEY_OPTS | NODE_OPTS | SEND_OPTS | BIT(O_TO) | BIT(O_AMOUNT), 0, 0,
     "Usage: squall mint --to KEY --amount N [OPTIONS]\n\n"
     "Creates N units for KEY. The keystore must hold an issuer key named in genesis.\n\n"
     "  --to KEY                 the account credited\n"
     "  --amount N               a whole number of units\n" U_SEND U_NODE U_KEY U_COMMON},
    {"permit", cmd_permit,
     COMMON | KEY_OPTS | NODE_OPTS | SEND_OPTS | GOV_OPTS | BIT(O_CLIENT) | BIT(O_VALIDATOR) |
         BIT(O_VALIDATOR_ID) | BIT(O_ADDR),
     0, 0,
     "Usage: squall permit (--client KEY | --validator KEY --validator-id N --addr HOST:PORT)\n"
     "                     [--gov-key FILE]... [--approval FILE]... [OPTIONS]\n"
     "       squall permit ... --propose FILE\n"
     "       squall permit --proposal FILE --approval FILE... [OPTIONS]\n\n"
     "Admits a client key or a validator. The change needs k of n governance approvals\n"
     "(genesis): sign with governance key files (--gov-key) and/or bring partial signatures\n"
     "made with 'squall approve' (--approval). With --propose the change is only written to\n"
     "FILE for the governance key holders; --proposal submits such a file. The keystore key\n"
     "sends the transaction.\n\n"
     "  --client KEY             admit a client key\n"
     "  --validator KEY          admit a validator key, with --validator-id and --addr\n"
     "  --gov-key FILE           a governance key file (repeat for k of n)\n"
     "  --approval FILE          a partial signature from 'squall approve' (repeatable)\n"
     "  --propose FILE           write the proposal to FILE and stop\n"
     "  --proposal FILE          submit this proposal\n"
     "  --genesis FILE           where the governance keys are (default: the node's genesis)\n"
         U_SEND U_NODE U_KEY U_COMMON},
    {"revoke", cmd_revoke,
     COMMON | KEY_OPTS | NODE_OPTS | SEND_OPTS | GOV_OPTS | BIT(O_CLIENT) | BIT(O_VALIDATOR_ID),
     0, 0,
     "Usage: squall revoke (--client KEY | --validator-id N) [--gov-key FILE]...\n"
     "                     [--approval FILE]... [OPTIONS]\n\n"
     "Removes a client key or a validator, with k of n governance approvals as for permit\n"
     "(--propose and --proposal work the same way).\n\n"
     "  --client KEY             remove a client key\n"
     "  --validator-id N         remove a validator\n"
     "  --gov-key FILE, --approval FILE, --propose FILE, --proposal FILE, --genesis FILE\n"
     "                           as for permit\n" U_SEND U_NODE U_KEY U_COMMON},
    {"approve", cmd_approve, COMMON | NODE_OPTS | BIT(O_PASSFILE) | BIT(O_GENESIS) | BIT(O_GOV_KEY) | BIT(O_OUT),
     1, 1,
     "Usage: squall approve PROPOSAL --gov-key FILE --out APPROVAL [--genesis FILE]\n\n"
     "Signs a permission-change proposal (from 'permit --propose' or 'revoke --propose') with\n"
     "one governance key and writes the partial signature to APPROVAL. Prints what is approved:\n"
     "read it. Works offline with --genesis.\n\n"
     "  --gov-key FILE           the governance key file\n"
     "  --out FILE               where the partial signature goes (never replaced)\n"
     "  --genesis FILE           the chain's genesis (default: the node's)\n"
     "  --passphrase-file FILE   the key's passphrase (else $SQUALL_PASSPHRASE, else a prompt)\n"
         U_NODE U_COMMON},
    {"tx", cmd_tx, COMMON | NODE_OPTS | BIT(O_WAIT), 1, 1,
     "Usage: squall tx ID [--wait STATE] [OPTIONS]\n\n"
     "Prints a transaction's state (accepted, ordered, persisted, final, failed, expired), its\n"
     "block, index and result. With --wait, waits for that state first.\n\n"
     "  --wait STATE             final, persisted or ordered\n" U_NODE U_COMMON},
    {"receipt", cmd_receipt, COMMON | NODE_OPTS | BIT(O_OUT) | BIT(O_FORCE) | BIT(O_GENESIS), 1,
     1,
     "Usage: squall receipt ID --out FILE [OPTIONS]\n\n"
     "Fetches the self-contained receipt of a final transaction and writes it to FILE (waiting\n"
     "up to --timeout for finality). With --genesis it is verified before it is kept.\n\n"
     "  --out FILE               where the receipt goes\n"
     "  --force                  replace FILE if it exists\n"
     "  --genesis FILE           verify the receipt against this genesis first\n" U_NODE
         U_COMMON},
    {"verify-receipt", cmd_verify_receipt, COMMON | BIT(O_GENESIS), 1, 1,
     "Usage: squall verify-receipt FILE --genesis GENESIS\n\n"
     "Verifies a receipt offline with nothing but the genesis file: the validator set is\n"
     "followed from genesis through every view change, the finality certificate is checked\n"
     "against it, the header chain links the transaction's block to the certified block, and\n"
     "the transaction and its result are in the block's Merkle trees. Says exactly what fails.\n"
     "Exit 0 when it verifies, 1 when it does not.\n\n"
     "  --genesis FILE           the chain's genesis file\n" U_COMMON},
    {"audit", cmd_audit,
     COMMON | NODE_OPTS | BIT(O_GENESIS) | BIT(O_DATA) | BIT(O_THREADS) | BIT(O_PROGRESS) |
         BIT(O_NO_PROGRESS) | BIT(O_SCRATCH) | BIT(O_TO),
     0, 0,
     "Usage: squall audit (--node URL | --data DIR) [--genesis FILE] [OPTIONS]\n\n"
     "Verifies a whole chain from genesis: hash links, every header field, batch and\n"
     "transaction signatures, both Merkle roots of every block, the replay of every transaction\n"
     "against its recorded result, view changes, and finality certificates. --data opens a\n"
     "validator's store read-only (also while the validator runs); --node fetches every block\n"
     "over the API and replays it into a scratch store. A progress bar (height, tx/s, time\n"
     "left) is drawn when stdout is a terminal. Exit 1 names the first fault.\n\n"
     "  --data DIR               a store folder, or a validator home holding data/\n"
     "  --node URL               a validator's API\n"
     "  --genesis FILE           the genesis to audit against (--data: default DIR/genesis.json\n"
     "                           or beside the store; --node: default the node's, with a warning)\n"
     "  --threads N              signature verification threads (default: one per core)\n"
     "  --to H                   --node: audit up to height H (default: the node's final height)\n"
     "  --scratch DIR            --node: build the replay store in DIR and keep it\n"
     "  --progress, --no-progress  force the progress bar on or off\n"
     "  --timeout SECONDS        bound on each request (--node)\n" U_COMMON},
    {"consistency", cmd_consistency,
     COMMON | NODE_OPTS | BIT(O_FROM) | BIT(O_TO) | BIT(O_FROM_ROOT) | BIT(O_TO_ROOT), 0, 0,
     "Usage: squall consistency --node URL --from H1 [--to H2] [--from-root HEX] [OPTIONS]\n\n"
     "Proves that the chain up to height H2 extends the chain up to H1 (RFC 6962 consistency\n"
     "proof over the block hashes). --from-root anchors the check on a root you recorded\n"
     "earlier (from 'squall audit', 'squall watch', or another validator); without it the\n"
     "node's own root for H1 is used and printed for you to record.\n\n"
     "  --from H1                the earlier head's height\n"
     "  --to H2                  the later head's height (default: the node's final height)\n"
     "  --from-root HEX          the root you hold for H1\n"
     "  --to-root HEX            the root you hold for H2\n" U_NODE U_COMMON},
    {"watch", cmd_watch, COMMON | NODE_OPTS | BIT(O_INTERVAL) | BIT(O_ROUNDS), 0, 0,
     "Usage: squall watch --node URL --node URL [--node URL]... [OPTIONS]\n\n"
     "Compares the validators' heads every --interval: each must show the same block at the\n"
     "highest height all made final, and each node's new head must extend (consistency proof)\n"
     "the head it showed before. Raises an ALARM and exits 1 on the first divergence. Exits 3\n"
     "at the end of a bounded run (--rounds) if a node was unreachable.\n\n"
     "  --node URL               a validator to watch (two or more)\n"
     "  --interval SECONDS       time between rounds (default 5)\n"
     "  --rounds N               stop after N rounds (default: until interrupted)\n"
     "  --timeout SECONDS        bound on each request (default 5)\n" U_COMMON},
    {"version", cmd_version, COMMON, 0, 0, "Usage: squall version\n\nPrints the version.\n" U_COMMON},
};

static const char *opt_name(int id)
{
    for (const struct option *lo = long_opts; lo->name != NULL; lo++) {
        if (lo->val == id) {
            return lo->name;
        }
    }
    return "?";
}

static int parse(const struct command *cmd, int argc, char **argv, struct opts *o,
                 struct wal_err *e)
{
    optind = 1;
    opterr = 0;
    int c;
    /* "+" would stop at the first argument; options and arguments may mix, so permute. */
    while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
        if (c == 'h') {
            c = O_HELP;
        }
        if (c == '?') {
            return wal_fail(e, WAL_EXIT_USAGE, "bad_option", "unknown option '%s' (see --help)",
                            argv[optind - 1]);
        }
        if (c == ':') {
            return wal_fail(e, WAL_EXIT_USAGE, "bad_option", "option '%s' needs a value",
                            argv[optind - 1]);
        }
        if ((cmd->allowed & BIT(c)) == 0) {
            return wal_fail(e, WAL_EXIT_USAGE, "bad_option",
                            "'%s' does not take --%s (see 'squall %s --help')", cmd->name,
                            opt_name(c), cmd->name);
        }
        o->seen |= BIT(c);
        o->v[c - O_NODE] = optarg;
        switch (c) {
        case O_HELP:
            o->help = true;
            break;
        case O_JSON:
            o->json = true;
            break;
        case O_CONFIG:
            o->config_path = optarg;
            break;
        case O_NODE:
            if (o->node_count == WAL_NODES_MAX) {
                return wal_fail(e, WAL_EXIT_USAGE, "bad_option", "at most %u --node",
                                WAL_NODES_MAX);
            }
            o->nodes[o->node_count++] = optarg;
            if (strlen(optarg) >= sizeof(o->cfg.node)) {
                return wal_fail(e, WAL_EXIT_USAGE, "bad_url", "--node URL is too long");
            }
            snprintf(o->cfg.node, sizeof(o->cfg.node), "%s", optarg);
            break;
        case O_KEYSTORE:
        case O_GENESIS:
        case O_PASSFILE: {
            char *dst = c == O_KEYSTORE  ? o->cfg.keystore
                        : c == O_GENESIS ? o->cfg.genesis
                                         : o->cfg.passphrase_file;
            if (strlen(optarg) >= WAL_PATH_BYTES_MAX) {
                return wal_fail(e, WAL_EXIT_USAGE, "bad_path", "--%s path is too long",
                                opt_name(c));
            }
            snprintf(dst, WAL_PATH_BYTES_MAX, "%s", optarg);
            break;
        }
        case O_TIMEOUT: {
            char *end;
            double s = strtod(optarg, &end);
            if (*end != '\0' || !(s > 0 && s <= 86400)) {
                return wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                                "--timeout must be seconds between 0 and 86400, not '%s'", optarg);
            }
            o->timeout_ms = (unsigned)(s * 1000.0 + 0.5);
            o->timeout_ms = o->timeout_ms ? o->timeout_ms : 1;
            break;
        }
        case O_GOV_KEY:
        case O_APPROVAL: {
            bool key = c == O_GOV_KEY;
            size_t *count = key ? &o->gov_key_count : &o->approval_count;
            if (*count == WAL_APPROVALS_MAX) {
                return wal_fail(e, WAL_EXIT_USAGE, "bad_option", "at most %u --%s",
                                WAL_APPROVALS_MAX, opt_name(c));
            }
            (key ? o->gov_keys : o->approvals)[(*count)++] = optarg;
            break;
        }
        default:
            break;
        }
    }
    for (int i = optind; i < argc; i++) {
        if (o->arg_count == ARGS_MAX) {
            return wal_fail(e, WAL_EXIT_USAGE, "bad_argument", "too many arguments");
        }
        o->args[o->arg_count++] = argv[i];
    }
    if (o->help) {
        return WAL_EXIT_OK;
    }
    if (o->arg_count < cmd->args_min || o->arg_count > cmd->args_max) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                        cmd->args_max == 0 ? "'%s' takes no arguments (see --help)"
                                           : "wrong number of arguments to '%s' (see --help)",
                        cmd->name);
    }
    if (o->node_count > 1 && strcmp(cmd->name, "watch") != 0) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_option", "give --node once");
    }
    return WAL_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage_main(stderr);
        return WAL_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
        if (argc >= 3) {
            for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
                if (strcmp(argv[2], commands[i].name) == 0) {
                    fputs(commands[i].usage, stdout);
                    return 0;
                }
            }
        }
        return usage_main(stdout);
    }
    if (strcmp(name, "--version") == 0) {
        name = "version";
    }
    const struct command *cmd = NULL;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        cmd = strcmp(name, commands[i].name) == 0 ? &commands[i] : cmd;
    }
    if (cmd == NULL) {
        fprintf(stderr, "squall: unknown command '%s'\n\n", name);
        usage_main(stderr);
        return WAL_EXIT_USAGE;
    }
    cur_cmd_ = cmd;
    struct opts *o = calloc(1, sizeof(*o));
    if (o == NULL) {
        fprintf(stderr, "squall: out of memory\n");
        return WAL_EXIT_INTERNAL;
    }
    struct wal_err e = {0};
    int rc = parse(cmd, argc - 1, argv + 1, o, &e);
    if (rc == WAL_EXIT_OK && o->help) {
        fputs(cmd->usage, stdout);
        free(o);
        return 0;
    }
    /* Library warnings (a key file readable by others) go to stderr, terse. */
    sq_log_set_level(SQ_LOG_WARN);
    if (rc == WAL_EXIT_OK) {
        rc = wal_config_resolve(&o->cfg, o->config_path, &e);
    }
    if (rc == WAL_EXIT_OK && sqc_init() != SQ_OK) {
        rc = wal_fail(&e, WAL_EXIT_INTERNAL, "crypto", "cannot initialise the crypto libraries");
    }
    if (rc == WAL_EXIT_OK) {
        rc = cmd->run(o, &e);
    }
    /* A negative code: the command already reported its error. */
    if (rc < 0) {
        rc = -rc;
    } else if (rc != WAL_EXIT_OK) {
        report_error(o, &e, NULL);
        if (rc == WAL_EXIT_USAGE && strcmp(e.code, "interrupted") != 0 && !o->json) {
            fprintf(stderr, "Run 'squall %s --help' for its options.\n", cmd->name);
        }
    }
    free(o);
    return rc;
}
