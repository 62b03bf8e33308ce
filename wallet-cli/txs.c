/* Building, signing, approving, submitting and following transactions. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "wallet-cli/wallet.h"
#include "wallet-cli/wallet_int.h"

#define SEND_TIMEOUT_MS_DEFAULT 60000
#define RESUBMITS_MAX 4
#define PROPOSAL_FORMAT "squall-proposal"
#define APPROVAL_FORMAT "squall-approval"

static const char *const kind_names[] = {
    [LDG_TX_TRANSFER] = "transfer",
    [LDG_TX_MINT] = "mint",
    [LDG_TX_ADMIT_CLIENT] = "admit_client",
    [LDG_TX_REMOVE_CLIENT] = "remove_client",
    [LDG_TX_ADMIT_VALIDATOR] = "admit_validator",
    [LDG_TX_REMOVE_VALIDATOR] = "remove_validator",
};

const char *wal_tx_kind_name(uint8_t kind)
{
    if (kind < LDG_TX_TRANSFER || kind > LDG_TX_REMOVE_VALIDATOR) {
        return "unknown";
    }
    return kind_names[kind];
}

uint8_t wal_tx_kind_parse(const char *name)
{
    for (uint8_t k = LDG_TX_TRANSFER; name != NULL && k <= LDG_TX_REMOVE_VALIDATOR; k++) {
        if (strcmp(name, kind_names[k]) == 0) {
            return k;
        }
    }
    return 0;
}

static bool kind_is_gov(uint8_t kind)
{
    return kind >= LDG_TX_ADMIT_CLIENT && kind <= LDG_TX_REMOVE_VALIDATOR;
}

void wal_tx_init(struct ldg_tx *tx, uint8_t kind, const char *chain_id,
                 const uint8_t sender[SQC_PK_BYTES], uint64_t nonce, uint64_t expiry_height)
{
    memset(tx, 0, sizeof(*tx));
    tx->version = LDG_FORMAT_VERSION;
    tx->kind = kind;
    size_t n = chain_id != NULL ? strlen(chain_id) : 0;
    n = n > SQ_CHAIN_ID_BYTES_MAX ? SQ_CHAIN_ID_BYTES_MAX : n;
    tx->chain_id_size = (uint8_t)n;
    if (n > 0) {
        memcpy(tx->chain_id, chain_id, n);
    }
    memcpy(tx->sender, sender, SQC_PK_BYTES);
    tx->nonce = nonce;
    tx->expiry_height = expiry_height;
}

int wal_tx_seal(struct ldg_tx *tx, const struct sqc_keypair *kp, uint8_t *buf, size_t *size,
                uint8_t id[LDG_HASH_BYTES], struct wal_err *e)
{
    if (memcmp(tx->sender, kp->pk, SQC_PK_BYTES) != 0) {
        return wal_fail(e, WAL_EXIT_USAGE, "wrong_key",
                        "the transaction's sender is not the key that signs it");
    }
    int rc = ldg_tx_sign(tx, kp);
    if (rc == SQ_OK) {
        rc = ldg_tx_encode(tx, buf, SQ_TX_BYTES_MAX, size);
    }
    if (rc != SQ_OK) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_tx", "cannot build the transaction: %s",
                        ldg_errmsg());
    }
    ldg_tx_id(buf, *size, id);
    return WAL_EXIT_OK;
}

/* ---- governance ---- */

static int gov_index(const struct ldg_genesis *g, const uint8_t pk[SQC_PK_BYTES])
{
    for (uint32_t i = 0; i < g->gov_count; i++) {
        if (memcmp(g->gov_keys[i], pk, SQC_PK_BYTES) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int insert_approval(struct ldg_tx *tx, uint8_t index, const uint8_t sig[SQC_SIG_BYTES],
                           struct wal_err *e)
{
    uint32_t at = 0;
    while (at < tx->approval_count && tx->approvals[at].key_index < index) {
        at++;
    }
    if (at < tx->approval_count && tx->approvals[at].key_index == index) {
        return wal_fail(e, WAL_EXIT_USAGE, "duplicate_approval",
                        "governance key %u approved twice", index);
    }
    if (tx->approval_count >= SQ_GOV_KEYS_MAX) {
        return wal_fail(e, WAL_EXIT_USAGE, "too_many_approvals", "more than %u approvals",
                        SQ_GOV_KEYS_MAX);
    }
    memmove(&tx->approvals[at + 1], &tx->approvals[at],
            (tx->approval_count - at) * sizeof(tx->approvals[0]));
    tx->approvals[at].key_index = index;
    memcpy(tx->approvals[at].sig, sig, SQC_SIG_BYTES);
    tx->approval_count++;
    return WAL_EXIT_OK;
}

static int gov_digest(const struct ldg_tx *tx, uint8_t digest[LDG_HASH_BYTES], struct wal_err *e)
{
    if (!kind_is_gov(tx->kind)) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_tx", "a %s takes no governance approval",
                        wal_tx_kind_name(tx->kind));
    }
    if (ldg_tx_gov_digest(tx, digest) != SQ_OK) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_tx", "%s", ldg_errmsg());
    }
    return WAL_EXIT_OK;
}

int wal_gov_approve_key(struct ldg_tx *tx, const struct ldg_genesis *g,
                        const struct sqc_keypair *gov, struct wal_err *e)
{
    int index = gov_index(g, gov->pk);
    if (index < 0) {
        char hex[2 * SQC_PK_BYTES + 1];
        wal_hex(hex, sizeof(hex), gov->pk, SQC_PK_BYTES);
        return wal_fail(e, WAL_EXIT_USAGE, "not_governance",
                        "key %s is not a governance key of chain %s", hex, g->chain_id);
    }
    uint8_t digest[LDG_HASH_BYTES];
    int rc = gov_digest(tx, digest, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    uint8_t sig[SQC_SIG_BYTES];
    sqc_sign_digest(gov, SQC_DOMAIN_GOVERNANCE, digest, sig);
    return insert_approval(tx, (uint8_t)index, sig, e);
}

int wal_gov_partial_write(const struct ldg_tx *tx, const struct ldg_genesis *g,
                          const struct sqc_keypair *gov, const char *path, struct wal_err *e)
{
    int index = gov_index(g, gov->pk);
    if (index < 0) {
        return wal_fail(e, WAL_EXIT_USAGE, "not_governance",
                        "this key is not a governance key of chain %s", g->chain_id);
    }
    uint8_t digest[LDG_HASH_BYTES];
    int rc = gov_digest(tx, digest, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    uint8_t sig[SQC_SIG_BYTES];
    sqc_sign_digest(gov, SQC_DOMAIN_GOVERNANCE, digest, sig);
    json_t *j = json_pack("{s:s, s:i, s:s, s:o, s:i, s:o, s:o}", "format", APPROVAL_FORMAT,
                          "version", 1, "kind", wal_tx_kind_name(tx->kind), "digest",
                          wal_json_hash_new(digest, LDG_HASH_BYTES), "key_index", index,
                          "public_key", wal_json_hash_new(gov->pk, SQC_PK_BYTES), "signature",
                          wal_json_hash_new(sig, SQC_SIG_BYTES));
    char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    json_decref(j);
    if (text == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    size_t n = strlen(text);
    text[n] = '\n';
    rc = wal_file_write(path, text, n + 1, false, e);
    free(text);
    return rc;
}

static int json_hex_exact(const json_t *j, const char *key, uint8_t *out, size_t size,
                          const char *path, struct wal_err *e)
{
    const char *s = json_string_value(json_object_get(j, key));
    size_t got = 0;
    if (s == NULL || strlen(s) != 2 * size ||
        sqc_hex_decode(out, size, s, strlen(s), &got) != SQ_OK) {
        return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: '%s' must be %zu hex digits", path, key,
                        2 * size);
    }
    return WAL_EXIT_OK;
}

static int load_json_file(const char *path, const char *format, json_t **out, struct wal_err *e)
{
    uint8_t *text;
    size_t size;
    int rc = wal_file_read(path, 1u << 20, &text, &size, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    json_error_t jerr;
    json_t *j = json_loadb((const char *)text, size, 0, &jerr);
    free(text);
    if (j == NULL) {
        return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: line %d: %s", path, jerr.line,
                        jerr.text);
    }
    const char *f = json_string_value(json_object_get(j, "format"));
    json_t *v = json_object_get(j, "version");
    if (f == NULL || strcmp(f, format) != 0) {
        json_decref(j);
        return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s is not a %s file", path, format);
    }
    if (!json_is_integer(v) || json_integer_value(v) != 1) {
        json_decref(j);
        return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: unsupported version (this squall reads 1)",
                        path);
    }
    *out = j;
    return WAL_EXIT_OK;
}

int wal_gov_approve_file(struct ldg_tx *tx, const struct ldg_genesis *g, const char *path,
                         struct wal_err *e)
{
    json_t *j;
    int rc = load_json_file(path, APPROVAL_FORMAT, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    uint8_t digest[LDG_HASH_BYTES];
    uint8_t theirs[LDG_HASH_BYTES];
    uint8_t pk[SQC_PK_BYTES];
    uint8_t sig[SQC_SIG_BYTES];
    json_t *idx = json_object_get(j, "key_index");
    rc = gov_digest(tx, digest, e);
    if (rc == WAL_EXIT_OK) {
        rc = json_hex_exact(j, "digest", theirs, LDG_HASH_BYTES, path, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = json_hex_exact(j, "public_key", pk, SQC_PK_BYTES, path, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = json_hex_exact(j, "signature", sig, SQC_SIG_BYTES, path, e);
    }
    if (rc == WAL_EXIT_OK && (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
                              json_integer_value(idx) >= (json_int_t)g->gov_count)) {
        rc = wal_fail(e, WAL_EXIT_FAULT, "bad_approval",
                      "%s: key_index is not a governance key of chain %s", path, g->chain_id);
    }
    json_int_t index = rc == WAL_EXIT_OK ? json_integer_value(idx) : 0;
    json_decref(j);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    if (memcmp(digest, theirs, LDG_HASH_BYTES) != 0) {
        return wal_fail(e, WAL_EXIT_FAULT, "bad_approval",
                        "%s approves another change (its digest differs: check the proposal's "
                        "sender, nonce, expiry and target)",
                        path);
    }
    if (memcmp(g->gov_keys[index], pk, SQC_PK_BYTES) != 0) {
        return wal_fail(e, WAL_EXIT_FAULT, "bad_approval",
                        "%s: governance key %d of chain %s is not the key it names", path,
                        (int)index, g->chain_id);
    }
    if (sqc_verify_digest(pk, SQC_DOMAIN_GOVERNANCE, digest, sig) != SQ_OK) {
        return wal_fail(e, WAL_EXIT_FAULT, "bad_approval", "%s: the signature does not verify",
                        path);
    }
    return insert_approval(tx, (uint8_t)index, sig, e);
}

int wal_proposal_write(const struct ldg_tx *tx, const char *path, struct wal_err *e)
{
    uint8_t digest[LDG_HASH_BYTES];
    int rc = gov_digest(tx, digest, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    json_t *j = wal_tx_json(tx);
    if (j == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    json_object_del(j, "approvals");
    json_object_set_new(j, "format", json_string(PROPOSAL_FORMAT));
    json_object_set_new(j, "version", json_integer(1));
    json_object_set_new(j, "digest", wal_json_hash_new(digest, LDG_HASH_BYTES));
    char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    if (text == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    size_t n = strlen(text);
    text[n] = '\n';
    rc = wal_file_write(path, text, n + 1, false, e);
    free(text);
    return rc;
}

static int json_u64_field(const json_t *j, const char *key, uint64_t *out, const char *path,
                          struct wal_err *e)
{
    json_t *v = json_object_get(j, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: '%s' must be a whole number", path, key);
    }
    *out = (uint64_t)json_integer_value(v);
    return WAL_EXIT_OK;
}

int wal_proposal_read(const char *path, struct ldg_tx *tx, struct wal_err *e)
{
    json_t *j;
    int rc = load_json_file(path, PROPOSAL_FORMAT, &j, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    const char *chain = json_string_value(json_object_get(j, "chain_id"));
    uint8_t kind = wal_tx_kind_parse(json_string_value(json_object_get(j, "kind")));
    uint8_t sender[SQC_PK_BYTES];
    uint64_t nonce = 0;
    uint64_t expiry = 0;
    if (chain == NULL || strlen(chain) == 0 || strlen(chain) > SQ_CHAIN_ID_BYTES_MAX) {
        rc = wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: missing or invalid chain_id", path);
    } else if (!kind_is_gov(kind)) {
        rc = wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: kind must be a permission change", path);
    }
    if (rc == WAL_EXIT_OK) {
        rc = json_hex_exact(j, "sender", sender, SQC_PK_BYTES, path, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = json_u64_field(j, "nonce", &nonce, path, e);
    }
    if (rc == WAL_EXIT_OK) {
        rc = json_u64_field(j, "expiry_height", &expiry, path, e);
    }
    if (rc == WAL_EXIT_OK) {
        wal_tx_init(tx, kind, chain, sender, nonce, expiry);
        if (kind != LDG_TX_REMOVE_VALIDATOR) {
            rc = json_hex_exact(j, "target", tx->target, SQC_PK_BYTES, path, e);
        }
    }
    if (rc == WAL_EXIT_OK && (kind == LDG_TX_ADMIT_VALIDATOR || kind == LDG_TX_REMOVE_VALIDATOR)) {
        uint64_t id = 0;
        rc = json_u64_field(j, "validator_id", &id, path, e);
        if (rc == WAL_EXIT_OK && id > UINT32_MAX) {
            rc = wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: validator_id out of range", path);
        }
        tx->validator_id = (uint32_t)id;
    }
    if (rc == WAL_EXIT_OK && kind == LDG_TX_ADMIT_VALIDATOR) {
        const char *addr = json_string_value(json_object_get(j, "addr"));
        if (addr == NULL || strlen(addr) == 0 || strlen(addr) > LDG_ADDR_BYTES_MAX) {
            rc = wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: missing or invalid addr", path);
        } else {
            tx->addr_size = (uint8_t)strlen(addr);
            memcpy(tx->addr, addr, tx->addr_size);
        }
    }
    uint8_t digest[LDG_HASH_BYTES];
    uint8_t stated[LDG_HASH_BYTES];
    if (rc == WAL_EXIT_OK) {
        rc = gov_digest(tx, digest, e);
    }
    if (rc == WAL_EXIT_OK && json_object_get(j, "digest") != NULL) {
        rc = json_hex_exact(j, "digest", stated, LDG_HASH_BYTES, path, e);
        if (rc == WAL_EXIT_OK && memcmp(stated, digest, LDG_HASH_BYTES) != 0) {
            rc = wal_fail(e, WAL_EXIT_FAULT, "bad_proposal",
                          "%s: the stated digest is not the digest of its fields (edited?)", path);
        }
    }
    json_decref(j);
    return rc;
}

json_t *wal_json_hash_new(const uint8_t *hash, size_t size)
{
    char hex[2 * 128 + 1];
    SQ_ASSERT(size <= 128);
    wal_hex(hex, sizeof(hex), hash, size);
    return json_string(hex);
}

json_t *wal_tx_json(const struct ldg_tx *tx)
{
    char chain[SQ_CHAIN_ID_BYTES_MAX + 1];
    memcpy(chain, tx->chain_id, tx->chain_id_size);
    chain[tx->chain_id_size] = '\0';
    json_t *j = json_object();
    if (j == NULL) {
        return NULL;
    }
    json_object_set_new(j, "kind", json_string(wal_tx_kind_name(tx->kind)));
    json_object_set_new(j, "chain_id", json_string(chain));
    json_object_set_new(j, "sender", wal_json_hash_new(tx->sender, SQC_PK_BYTES));
    json_object_set_new(j, "nonce", json_integer((json_int_t)tx->nonce));
    json_object_set_new(j, "expiry_height", json_integer((json_int_t)tx->expiry_height));
    switch (tx->kind) {
    case LDG_TX_TRANSFER:
    case LDG_TX_MINT:
        json_object_set_new(j, "target", wal_json_hash_new(tx->target, SQC_PK_BYTES));
        json_object_set_new(j, "amount", json_integer((json_int_t)tx->amount));
        break;
    case LDG_TX_ADMIT_CLIENT:
    case LDG_TX_REMOVE_CLIENT:
        json_object_set_new(j, "target", wal_json_hash_new(tx->target, SQC_PK_BYTES));
        break;
    case LDG_TX_ADMIT_VALIDATOR:
        json_object_set_new(j, "target", wal_json_hash_new(tx->target, SQC_PK_BYTES));
        json_object_set_new(j, "validator_id", json_integer(tx->validator_id));
        json_object_set_new(j, "addr", json_stringn(tx->addr, tx->addr_size));
        break;
    case LDG_TX_REMOVE_VALIDATOR:
        json_object_set_new(j, "validator_id", json_integer(tx->validator_id));
        break;
    default:
        break;
    }
    if (kind_is_gov(tx->kind)) {
        json_t *a = json_array();
        for (uint32_t i = 0; i < tx->approval_count; i++) {
            json_array_append_new(a, json_integer(tx->approvals[i].key_index));
        }
        json_object_set_new(j, "approvals", a);
    }
    return j;
}

/* ---- sending and waiting ---- */

int wal_tx_wait(struct wal_node *n, const uint8_t id[LDG_HASH_BYTES], enum wal_tx_state want,
                unsigned timeout_ms, const uint8_t *resubmit, size_t resubmit_size,
                struct wal_tx_info *info, struct wal_err *e)
{
    double deadline = wal_now_s() + timeout_ms / 1000.0;
    unsigned resubmits = 0;
    unsigned backoff = 100;
    struct wal_tx_info cur;
    memset(&cur, 0, sizeof(cur));
    memcpy(cur.id, id, LDG_HASH_BYTES);
    cur.state = WAL_TX_ACCEPTED;
    *info = cur;
    for (;;) {
        double left_s = deadline - wal_now_s();
        unsigned left_ms = left_s > 0 ? (unsigned)(left_s * 1000.0) : 0;
        unsigned poll_ms = left_ms < WAL_WAIT_POLL_MS_MAX ? left_ms : WAL_WAIT_POLL_MS_MAX;
        int rc = wal_node_tx(n, id, left_ms > 0 ? want : WAL_TX_UNKNOWN, poll_ms, &cur, e);
        if (rc == WAL_EXIT_OK) {
            *info = cur;
            if (wal_tx_state_reached(cur.state, want)) {
                if (cur.state == WAL_TX_FAILED) {
                    return wal_fail(e, WAL_EXIT_FAULT, "tx_failed",
                                    "the transaction failed in block %" PRIu64 ": %s",
                                    cur.height, cur.result[0] ? cur.result : "(no reason given)");
                }
                if (cur.state == WAL_TX_EXPIRED) {
                    return wal_fail(e, WAL_EXIT_FAULT, "tx_expired",
                                    "the transaction expired before it was ordered");
                }
                return WAL_EXIT_OK;
            }
        } else if (rc == WAL_EXIT_REFUSED && strcmp(e->code, "not_found") == 0 &&
                   resubmit != NULL && resubmits < RESUBMITS_MAX) {
            /* The node lost it (a restart before ordering): the same bytes again. */
            bool dup;
            resubmits++;
            wal_node_count_resubmit(n);
            rc = wal_node_submit(n, resubmit, resubmit_size, id, &dup, e);
            if (rc != WAL_EXIT_OK && rc != WAL_EXIT_NETWORK) {
                return rc;
            }
            continue;
        } else if (rc == WAL_EXIT_REFUSED && (strcmp(e->code, "not_ready") == 0 ||
                                              strcmp(e->code, "shutting_down") == 0)) {
            /* Transient: poll again after a pause, within the deadline. */
        } else if (rc != WAL_EXIT_NETWORK) {
            return rc;
        }
        if (wal_now_s() >= deadline) {
            if (rc == WAL_EXIT_NETWORK) {
                return rc;
            }
            return wal_fail(e, WAL_EXIT_TIMEOUT, "timeout",
                            "the transaction is %s, not yet %s, after %.1f s",
                            wal_tx_state_name(info->state), wal_tx_state_name(want),
                            timeout_ms / 1000.0);
        }
        if (rc != WAL_EXIT_OK) {
            wal_sleep_ms(backoff);
            backoff = backoff * 2 > 2000 ? 2000 : backoff * 2;
        }
    }
}

int wal_send(struct wal_node *n, struct ldg_tx *tx, const struct sqc_keypair *kp,
             const struct wal_send_opts *opts, struct wal_send_result *r, struct wal_err *e)
{
    memset(r, 0, sizeof(*r));
    unsigned timeout_ms = opts->timeout_ms ? opts->timeout_ms : SEND_TIMEOUT_MS_DEFAULT;
    double start = wal_now_s();
    int rc;
    /* Everything up to the submission reads, and the submission is idempotent: a node that is
     * restarting may be waited for as long as the caller waits. */
    wal_node_set_retry_ms(n, timeout_ms);
    memcpy(tx->sender, kp->pk, SQC_PK_BYTES);
    if (tx->chain_id_size == 0 || opts->expiry_height == 0) {
        struct wal_status st;
        rc = wal_node_status(n, &st, e);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
        if (tx->chain_id_size == 0) {
            tx->chain_id_size = (uint8_t)strlen(st.chain_id);
            memcpy(tx->chain_id, st.chain_id, tx->chain_id_size);
        }
        if (opts->expiry_height == 0) {
            uint64_t ttl = opts->ttl_blocks ? opts->ttl_blocks : WAL_TTL_BLOCKS_DEFAULT;
            tx->expiry_height = st.ordered + ttl;
        }
    }
    if (opts->expiry_height != 0) {
        tx->expiry_height = opts->expiry_height;
    }
    if (opts->nonce_given) {
        tx->nonce = opts->nonce;
    } else {
        struct wal_account acct;
        rc = wal_node_account(n, kp->pk, &acct, e);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
        tx->nonce = acct.pending_nonce + 1;
    }
    r->nonce = tx->nonce;
    r->expiry_height = tx->expiry_height;
    uint8_t buf[SQ_TX_BYTES_MAX];
    size_t size;
    rc = wal_tx_seal(tx, kp, buf, &size, r->id, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    memcpy(r->info.id, r->id, LDG_HASH_BYTES);
    r->info.state = WAL_TX_UNKNOWN;
    /* The signed bytes are fixed now: retrying them is safe for as long as the caller waits. */
    double spent = wal_now_s() - start;
    unsigned budget = spent * 1000.0 < timeout_ms ? timeout_ms - (unsigned)(spent * 1000.0) : 0;
    wal_node_set_retry_ms(n, budget);
    rc = wal_node_submit(n, buf, size, r->id, &r->duplicate, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    r->info.state = WAL_TX_ACCEPTED;
    if (opts->wait == WAL_TX_UNKNOWN || opts->wait == WAL_TX_ACCEPTED) {
        return WAL_EXIT_OK;
    }
    double left = timeout_ms / 1000.0 - (wal_now_s() - start);
    unsigned left_ms = left > 0 ? (unsigned)(left * 1000.0) : 0;
    return wal_tx_wait(n, r->id, opts->wait, left_ms, buf, size, &r->info, e);
}
