/* The state machine: accounts, permissions, and the deterministic execution of one transaction.
 * Shared by apply (over a cache of the store) and audit (over a full in-memory replay). */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

/* ---- the account map: open addressing, linear probing ---- */

static int amap_init(struct ldg_amap *m, size_t cap)
{
    m->slots = calloc(cap, sizeof(*m->slots));
    if (m->slots == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory for %zu accounts", cap);
    }
    m->cap = cap;
    m->count = 0;
    return SQ_OK;
}

void ldg_amap_free(struct ldg_amap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

static struct ldg_acct *amap_find(const struct ldg_amap *m, const uint8_t pk[SQC_PK_BYTES])
{
    size_t mask = m->cap - 1;
    for (size_t i = ldg_key_hash(pk, m->seed) & mask;; i = (i + 1) & mask) {
        struct ldg_acct *a = &m->slots[i];
        if (!a->used) {
            return NULL;
        }
        if (memcmp(a->pk, pk, SQC_PK_BYTES) == 0) {
            return a;
        }
    }
}

static struct ldg_acct *amap_place(struct ldg_amap *m, const struct ldg_acct *src)
{
    size_t mask = m->cap - 1;
    size_t i = ldg_key_hash(src->pk, m->seed) & mask;
    while (m->slots[i].used) {
        i = (i + 1) & mask;
    }
    m->slots[i] = *src;
    m->slots[i].used = 1;
    return &m->slots[i];
}

static int amap_grow(struct ldg_amap *m, size_t cap)
{
    struct ldg_amap bigger = {.seed = m->seed};
    int rc = amap_init(&bigger, cap);
    if (rc != SQ_OK) {
        return rc;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].used) {
            amap_place(&bigger, &m->slots[i]);
        }
    }
    bigger.count = m->count;
    free(m->slots);
    *m = bigger;
    return SQ_OK;
}

static int amap_insert(struct ldg_amap *m, const struct ldg_acct *src, struct ldg_acct **out)
{
    if ((m->count + 1) * 10 > m->cap * 7) {
        int rc = amap_grow(m, m->cap * 2);
        if (rc != SQ_OK) {
            return rc;
        }
    }
    *out = amap_place(m, src);
    m->count++;
    return SQ_OK;
}

int ldg_amap_trim(struct ldg_amap *m, uint64_t clean_height, size_t keep)
{
    if (m->count <= keep) {
        return SQ_OK;
    }
    size_t dirty = 0;
    for (size_t i = 0; i < m->cap; i++) {
        dirty += (m->slots[i].used && m->slots[i].dirty_height > clean_height) ? 1 : 0;
    }
    size_t cap = 1024;
    while (cap < dirty * 2 + 1024) {
        cap *= 2;
    }
    struct ldg_amap fresh = {.seed = m->seed};
    int rc = amap_init(&fresh, cap);
    if (rc != SQ_OK) {
        return rc;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].used && m->slots[i].dirty_height > clean_height) {
            amap_place(&fresh, &m->slots[i]);
            fresh.count++;
        }
    }
    free(m->slots);
    *m = fresh;
    return SQ_OK;
}

bool ldg_amap_next(const struct ldg_amap *m, size_t *pos, struct ldg_acct **out)
{
    for (size_t i = *pos; i < m->cap; i++) {
        if (m->slots[i].used) {
            *out = &m->slots[i];
            *pos = i + 1;
            return true;
        }
    }
    *pos = m->cap;
    return false;
}

/* ---- records ---- */

void ldg_acct_record_encode(const struct ldg_acct *a, uint8_t out[LDG_ACCT_RECORD_BYTES])
{
    struct sq_enc enc;
    sq_enc_init(&enc, out, LDG_ACCT_RECORD_BYTES);
    sq_enc_u64(&enc, a->balance);
    sq_enc_u64(&enc, a->nonce);
    sq_enc_u8(&enc, a->flags);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK && sq_enc_len(&enc) == LDG_ACCT_RECORD_BYTES);
}

int ldg_acct_record_decode(const uint8_t *buf, size_t size, struct ldg_acct *a)
{
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    sq_dec_u64(&dec, &a->balance);
    sq_dec_u64(&dec, &a->nonce);
    sq_dec_u8(&dec, &a->flags);
    if (sq_dec_finish(&dec) != SQ_OK || (a->flags & ~LDG_ACCT_CLIENT) != 0) {
        return ldg_fail(SQ_ECORRUPT, "account record of %zu bytes is malformed", size);
    }
    return SQ_OK;
}

int ldg_validator_record_encode(const struct ldg_member *m, uint8_t *buf, size_t cap, size_t *size)
{
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_bytes(&enc, m->pk, SQC_PK_BYTES);
    sq_enc_u8(&enc, m->addr_size);
    sq_enc_bytes(&enc, m->addr, m->addr_size);
    *size = sq_enc_len(&enc);
    return sq_enc_status(&enc);
}

int ldg_validator_record_decode(const uint8_t *buf, size_t size, uint32_t id, struct ldg_member *m)
{
    memset(m, 0, sizeof(*m));
    m->id = id;
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    sq_dec_bytes(&dec, m->pk, SQC_PK_BYTES);
    sq_dec_u8(&dec, &m->addr_size);
    if (sq_dec_status(&dec) != SQ_OK || m->addr_size == 0 || m->addr_size > LDG_ADDR_BYTES_MAX ||
        sq_dec_bytes(&dec, m->addr, m->addr_size) != SQ_OK || sq_dec_finish(&dec) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "validator record %u is malformed", id);
    }
    return SQ_OK;
}

/* ---- state ---- */

int ldg_state_init(struct ldg_state *st, const struct ldg_genesis *g, bool track)
{
    memset(st, 0, sizeof(*st));
    st->g = g;
    st->track = track;
    st->touch_gen = 1;
    sqc_random(&st->accounts.seed, sizeof(st->accounts.seed));
    int rc = amap_init(&st->accounts, 4096);
    if (rc != SQ_OK) {
        return rc;
    }
    if (track) {
        st->touched_cap = 1024;
        st->touched = malloc(st->touched_cap * SQC_PK_BYTES);
        if (st->touched == NULL) {
            ldg_amap_free(&st->accounts);
            return ldg_fail(SQ_ENOMEM, "out of memory");
        }
    }
    return SQ_OK;
}

void ldg_state_free(struct ldg_state *st)
{
    ldg_amap_free(&st->accounts);
    free(st->touched);
    st->touched = NULL;
}

int ldg_state_acct(struct ldg_state *st, const uint8_t pk[SQC_PK_BYTES], struct ldg_acct **out)
{
    struct ldg_acct *a = amap_find(&st->accounts, pk);
    if (a != NULL) {
        *out = a;
        return SQ_OK;
    }
    struct ldg_acct fresh = {0};
    memcpy(fresh.pk, pk, SQC_PK_BYTES);
    if (st->load != NULL) {
        int rc = st->load(st->load_arg, pk, &fresh);
        if (rc != SQ_OK && rc != SQ_ENOTFOUND) {
            return rc;
        }
        memcpy(fresh.pk, pk, SQC_PK_BYTES);
        fresh.dirty_height = 0;
        fresh.listed = 0;
    }
    return amap_insert(&st->accounts, &fresh, out);
}

int ldg_state_touch(struct ldg_state *st, struct ldg_acct *a, uint64_t height)
{
    a->dirty_height = height;
    if (!st->track || a->listed == st->touch_gen) {
        return SQ_OK;
    }
    if (st->touched_count == st->touched_cap) {
        size_t cap = st->touched_cap * 2;
        uint8_t(*bigger)[SQC_PK_BYTES] = realloc(st->touched, cap * SQC_PK_BYTES);
        if (bigger == NULL) {
            return ldg_fail(SQ_ENOMEM, "out of memory tracking changed accounts");
        }
        st->touched = bigger;
        st->touched_cap = cap;
    }
    memcpy(st->touched[st->touched_count++], a->pk, SQC_PK_BYTES);
    a->listed = st->touch_gen;
    return SQ_OK;
}

int ldg_state_validator_find(const struct ldg_state *st, uint32_t id)
{
    for (uint32_t i = 0; i < st->validator_count; i++) {
        if (st->validators[i].id == id) {
            return (int)i;
        }
    }
    return -1;
}

int ldg_state_load_genesis(struct ldg_state *st)
{
    const struct ldg_genesis *g = st->g;
    struct ldg_acct *a;
    int rc;
    for (size_t i = 0; i < g->balance_count; i++) {
        rc = ldg_state_acct(st, g->balances[i].pk, &a);
        if (rc != SQ_OK) {
            return rc;
        }
        a->balance = g->balances[i].amount;
        rc = ldg_state_touch(st, a, 0);
        if (rc != SQ_OK) {
            return rc;
        }
    }
    for (size_t i = 0; i < g->client_count; i++) {
        rc = ldg_state_acct(st, g->clients[i], &a);
        if (rc != SQ_OK) {
            return rc;
        }
        a->flags |= LDG_ACCT_CLIENT;
        rc = ldg_state_touch(st, a, 0);
        if (rc != SQ_OK) {
            return rc;
        }
    }
    st->validator_count = g->validator_count;
    memcpy(st->validators, g->validators, g->validator_count * sizeof(g->validators[0]));
    st->validators_dirty = true;
    return SQ_OK;
}

static bool is_issuer(const struct ldg_genesis *g, const uint8_t pk[SQC_PK_BYTES])
{
    for (uint32_t i = 0; i < g->issuer_count; i++) {
        if (memcmp(g->issuers[i], pk, SQC_PK_BYTES) == 0) {
            return true;
        }
    }
    return false;
}

/* k of n distinct governance keys approved the transaction. Verifies the approvals here: they are
 * rare, and part of the state transition (every validator and auditor decides them alike). */
static bool gov_approved(struct ldg_state *st, const struct ldg_tx *tx)
{
    const struct ldg_genesis *g = st->g;
    if (g->gov_count == 0 || tx->approval_count < g->gov_threshold) {
        return false;
    }
    uint8_t digest[LDG_HASH_BYTES];
    if (ldg_tx_gov_digest(tx, digest) != SQ_OK) {
        return false;
    }
    uint32_t good = 0;
    for (uint32_t i = 0; i < tx->approval_count; i++) {
        const struct ldg_approval *ap = &tx->approvals[i];
        if (ap->key_index >= g->gov_count) {
            return false;
        }
        st->gov_sigs++;
        if (sqc_verify_digest(g->gov_keys[ap->key_index], SQC_DOMAIN_GOVERNANCE, digest, ap->sig) !=
            SQ_OK) {
            return false;
        }
        good++;
    }
    /* Indices are strictly ascending (decoder), so the approvals come from distinct keys. */
    return good >= g->gov_threshold;
}

int ldg_state_exec(struct ldg_state *st, const struct ldg_tx *tx, uint64_t height, bool sig_ok,
                   bool duplicate, uint8_t *result)
{
    const struct ldg_genesis *g = st->g;
    struct ldg_acct *sender;
    int rc;
    *result = LDG_RESULT_OK;
    if (duplicate) {
        *result = LDG_RESULT_DUPLICATE;
        return SQ_OK;
    }
    if (!sig_ok) {
        *result = LDG_RESULT_BAD_SIGNATURE;
        return SQ_OK;
    }
    if (!ldg_chain_equal(tx->chain_id, tx->chain_id_size, g->chain_id, g->chain_id_size)) {
        *result = LDG_RESULT_WRONG_CHAIN;
        return SQ_OK;
    }
    if (height > tx->expiry_height) {
        *result = LDG_RESULT_EXPIRED;
        return SQ_OK;
    }
    rc = ldg_state_acct(st, tx->sender, &sender);
    if (rc != SQ_OK) {
        return rc;
    }
    /* Permission. */
    bool permitted;
    switch (tx->kind) {
    case LDG_TX_TRANSFER:
        permitted = g->clients_open || (sender->flags & LDG_ACCT_CLIENT) != 0;
        break;
    case LDG_TX_MINT:
        permitted = is_issuer(g, tx->sender);
        break;
    case LDG_TX_ADMIT_CLIENT:
    case LDG_TX_REMOVE_CLIENT:
        /* An open chain has no client list to change. */
        permitted = !g->clients_open && gov_approved(st, tx);
        break;
    default:
        permitted = gov_approved(st, tx);
        break;
    }
    if (!permitted) {
        *result = LDG_RESULT_NOT_PERMITTED;
        return SQ_OK;
    }
    if (sender->nonce == UINT64_MAX || tx->nonce != sender->nonce + 1) {
        *result = LDG_RESULT_BAD_NONCE;
        return SQ_OK;
    }
    /* The sender's pointer stays valid until the next insert: re-find it after loading others. */
    struct ldg_acct *target = NULL;
    int vi;
    switch (tx->kind) {
    case LDG_TX_TRANSFER:
        if (sender->balance < tx->amount) {
            *result = LDG_RESULT_INSUFFICIENT_FUNDS;
            return SQ_OK;
        }
        rc = ldg_state_acct(st, tx->target, &target);
        if (rc != SQ_OK) {
            return rc;
        }
        rc = ldg_state_acct(st, tx->sender, &sender);
        if (rc != SQ_OK) {
            return rc;
        }
        if (target != sender && target->balance > UINT64_MAX - tx->amount) {
            *result = LDG_RESULT_OVERFLOW;
            return SQ_OK;
        }
        sender->balance -= tx->amount;
        target->balance += tx->amount;
        break;
    case LDG_TX_MINT:
        rc = ldg_state_acct(st, tx->target, &target);
        if (rc != SQ_OK) {
            return rc;
        }
        rc = ldg_state_acct(st, tx->sender, &sender);
        if (rc != SQ_OK) {
            return rc;
        }
        if (target->balance > UINT64_MAX - tx->amount) {
            *result = LDG_RESULT_OVERFLOW;
            return SQ_OK;
        }
        target->balance += tx->amount;
        break;
    case LDG_TX_ADMIT_CLIENT:
    case LDG_TX_REMOVE_CLIENT: {
        rc = ldg_state_acct(st, tx->target, &target);
        if (rc != SQ_OK) {
            return rc;
        }
        rc = ldg_state_acct(st, tx->sender, &sender);
        if (rc != SQ_OK) {
            return rc;
        }
        bool present = (target->flags & LDG_ACCT_CLIENT) != 0;
        bool admit = tx->kind == LDG_TX_ADMIT_CLIENT;
        if (present == admit) {
            *result = LDG_RESULT_CONFLICT;
            return SQ_OK;
        }
        if (admit) {
            target->flags |= LDG_ACCT_CLIENT;
        } else {
            target->flags &= (uint8_t)~LDG_ACCT_CLIENT;
        }
        break;
    }
    case LDG_TX_ADMIT_VALIDATOR:
        if (ldg_state_validator_find(st, tx->validator_id) >= 0 ||
            st->validator_count >= LDG_VALIDATORS_MAX) {
            *result = LDG_RESULT_CONFLICT;
            return SQ_OK;
        }
        for (uint32_t i = 0; i < st->validator_count; i++) {
            if (memcmp(st->validators[i].pk, tx->target, SQC_PK_BYTES) == 0) {
                *result = LDG_RESULT_CONFLICT;
                return SQ_OK;
            }
        }
        {
            struct ldg_member *m = &st->validators[st->validator_count++];
            memset(m, 0, sizeof(*m));
            m->id = tx->validator_id;
            memcpy(m->pk, tx->target, SQC_PK_BYTES);
            m->addr_size = tx->addr_size;
            memcpy(m->addr, tx->addr, tx->addr_size);
            m->addr[m->addr_size] = '\0';
        }
        st->validators_dirty = true;
        break;
    case LDG_TX_REMOVE_VALIDATOR:
        vi = ldg_state_validator_find(st, tx->validator_id);
        if (vi < 0 || st->validator_count == 1) {
            *result = LDG_RESULT_CONFLICT;
            return SQ_OK;
        }
        /* Keep the order of the rest (deterministic). */
        memmove(&st->validators[vi], &st->validators[vi + 1],
                (st->validator_count - (uint32_t)vi - 1) * sizeof(st->validators[0]));
        st->validator_count--;
        st->validators_dirty = true;
        break;
    default:
        SQ_UNREACHABLE();
    }
    sender->nonce++;
    rc = ldg_state_touch(st, sender, height);
    if (rc == SQ_OK && target != NULL && target != sender) {
        rc = ldg_state_touch(st, target, height);
    }
    return rc;
}
