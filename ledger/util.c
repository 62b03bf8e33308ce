/* Error text, chain ids, Merkle roots of block bodies, hash sets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

#define LDG_ERRMSG_BYTES 512

static _Thread_local char errmsg_[LDG_ERRMSG_BYTES];

const char *ldg_errmsg(void)
{
    return errmsg_;
}

void ldg_errmsg_clear(void)
{
    errmsg_[0] = '\0';
}

int ldg_fail(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errmsg_, sizeof(errmsg_), fmt, ap);
    va_end(ap);
    return err;
}

int ldg_fail_prefix(int err, const char *fmt, ...)
{
    char prefix[256];
    char old[LDG_ERRMSG_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    memcpy(old, errmsg_, sizeof(old));
    /* prefix + ": " + old, cut to the buffer. */
    size_t n = strlen(prefix);
    size_t room = sizeof(errmsg_) - 1;
    n = n < room ? n : room;
    memcpy(errmsg_, prefix, n);
    for (const char *p = ": "; *p != '\0' && n < room; p++) {
        errmsg_[n++] = *p;
    }
    size_t m = strlen(old);
    m = m < room - n ? m : room - n;
    memcpy(errmsg_ + n, old, m);
    errmsg_[n + m] = '\0';
    return err;
}

static const char *const result_names_[LDG_RESULT_COUNT_] = {
    [LDG_RESULT_OK] = "ok",
    [LDG_RESULT_DUPLICATE] = "duplicate",
    [LDG_RESULT_BAD_SIGNATURE] = "bad_signature",
    [LDG_RESULT_WRONG_CHAIN] = "wrong_chain",
    [LDG_RESULT_EXPIRED] = "expired",
    [LDG_RESULT_NOT_PERMITTED] = "not_permitted",
    [LDG_RESULT_BAD_NONCE] = "bad_nonce",
    [LDG_RESULT_INSUFFICIENT_FUNDS] = "insufficient_funds",
    [LDG_RESULT_OVERFLOW] = "overflow",
    [LDG_RESULT_CONFLICT] = "conflict",
};

const char *ldg_result_name(int result)
{
    if (result < 0 || result >= LDG_RESULT_COUNT_) {
        return "unknown";
    }
    return result_names_[result];
}

/* ---- chain ids ---- */

bool ldg_chain_id_valid(const char *chain_id, size_t size)
{
    if (size == 0 || size > SQ_CHAIN_ID_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)chain_id[i];
        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

bool ldg_chain_equal(const char *a, size_t a_size, const char *b, size_t b_size)
{
    return a_size == b_size && memcmp(a, b, a_size) == 0;
}

void ldg_enc_chain(struct sq_enc *enc, const char *chain_id, size_t size)
{
    SQ_ASSERT(size <= SQ_CHAIN_ID_BYTES_MAX);
    sq_enc_u8(enc, (uint8_t)size);
    sq_enc_bytes(enc, chain_id, size);
}

int ldg_dec_chain(struct sq_dec *dec, char *chain_id, uint8_t *size)
{
    uint8_t n;
    *size = 0;
    if (sq_dec_u8(dec, &n) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "truncated before the chain id");
    }
    if (n == 0 || n > SQ_CHAIN_ID_BYTES_MAX) {
        return ldg_fail(SQ_ECORRUPT, "chain id length %u out of range 1..%u", n,
                        SQ_CHAIN_ID_BYTES_MAX);
    }
    if (sq_dec_bytes(dec, chain_id, n) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "truncated chain id");
    }
    if (!ldg_chain_id_valid(chain_id, n)) {
        return ldg_fail(SQ_ECORRUPT, "chain id holds a non-printable byte");
    }
    *size = n;
    return SQ_OK;
}

/* ---- Merkle roots of bodies ---- */

void ldg_empty_root(uint8_t out[LDG_HASH_BYTES])
{
    sqc_sha256(out, "", 0);
}

void ldg_result_leaf(uint8_t result, uint8_t out[LDG_HASH_BYTES])
{
    sqc_merkle_leaf_hash(out, &result, 1);
}

/* Leaf hashes of a tx list into an array (n * 32 bytes, caller frees). */
static int tx_leaves(const uint8_t *txs, size_t txs_size, uint32_t count,
                     uint8_t (**out)[LDG_HASH_BYTES])
{
    *out = NULL;
    if (count == 0) {
        return SQ_OK;
    }
    uint8_t(*leaves)[LDG_HASH_BYTES] = malloc((size_t)count * LDG_HASH_BYTES);
    if (leaves == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory for %u leaf hashes", count);
    }
    struct ldg_tx_iter it;
    struct ldg_bytes tx;
    ldg_tx_iter_init(&it, txs, txs_size, count);
    for (uint32_t i = 0; i < count; i++) {
        bool ok = ldg_tx_iter_next(&it, &tx);
        SQ_ASSERT(ok);
        sqc_merkle_leaf_hash(leaves[i], tx.data, tx.size);
    }
    *out = leaves;
    return SQ_OK;
}

int ldg_tx_root(const uint8_t *txs, size_t txs_size, uint32_t count, uint8_t root[LDG_HASH_BYTES])
{
    if (count == 0) {
        ldg_empty_root(root);
        return SQ_OK;
    }
    uint8_t(*leaves)[LDG_HASH_BYTES];
    int rc = tx_leaves(txs, txs_size, count, &leaves);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = sqc_merkle_root(root, count, sqc_merkle_leaf_from_array, leaves);
    free(leaves);
    return rc;
}

int ldg_results_root(const uint8_t *results, uint32_t count, uint8_t root[LDG_HASH_BYTES])
{
    if (count == 0) {
        ldg_empty_root(root);
        return SQ_OK;
    }
    uint8_t(*leaves)[LDG_HASH_BYTES] = malloc((size_t)count * LDG_HASH_BYTES);
    if (leaves == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory for %u leaf hashes", count);
    }
    /* Only LDG_RESULT_COUNT_ distinct leaves exist: hash each once. */
    uint8_t cache[256][LDG_HASH_BYTES];
    bool have[256] = {false};
    for (uint32_t i = 0; i < count; i++) {
        uint8_t r = results[i];
        if (!have[r]) {
            ldg_result_leaf(r, cache[r]);
            have[r] = true;
        }
        memcpy(leaves[i], cache[r], LDG_HASH_BYTES);
    }
    int rc = sqc_merkle_root(root, count, sqc_merkle_leaf_from_array, leaves);
    free(leaves);
    return rc;
}

/* ---- tx lists ---- */

void ldg_tx_iter_init(struct ldg_tx_iter *it, const uint8_t *txs, size_t txs_size, uint32_t count)
{
    it->p = txs;
    it->end = txs + txs_size;
    it->left = count;
}

bool ldg_tx_iter_next(struct ldg_tx_iter *it, struct ldg_bytes *tx)
{
    if (it->left == 0) {
        return false;
    }
    SQ_ASSERT(it->end - it->p >= 4);
    uint32_t n = sq_le32_load(it->p);
    SQ_ASSERT((size_t)(it->end - it->p) - 4 >= n);
    tx->data = it->p + 4;
    tx->size = n;
    it->p += 4 + (size_t)n;
    it->left--;
    return true;
}

int ldg_tx_list_check(const uint8_t *txs, size_t txs_size, uint32_t count)
{
    struct sq_dec dec;
    sq_dec_init(&dec, txs, txs_size);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *p;
        size_t n;
        if (sq_dec_lp32(&dec, SQ_TX_BYTES_MAX, &p, &n) != SQ_OK) {
            return ldg_fail(SQ_ECORRUPT, "transaction %u: length out of range or truncated", i);
        }
        if (n <= SQC_SIG_BYTES) {
            return ldg_fail(SQ_ECORRUPT, "transaction %u: %zu bytes is too short", i, n);
        }
    }
    if (sq_dec_left(&dec) != 0) {
        return ldg_fail(SQ_ECORRUPT, "%zu stray bytes after %u transactions", sq_dec_left(&dec),
                        count);
    }
    return SQ_OK;
}

int ldg_body_decode(const uint8_t *body, size_t size, uint32_t *count, const uint8_t **txs,
                    size_t *txs_size, const uint8_t **results)
{
    struct sq_dec dec;
    sq_dec_init(&dec, body, size);
    uint32_t n;
    *count = 0;
    *txs = NULL;
    *txs_size = 0;
    *results = NULL;
    if (size > LDG_BODY_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "body of %zu bytes exceeds %u", size, LDG_BODY_BYTES_MAX);
    }
    if (sq_dec_u32(&dec, &n) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "body truncated before its transaction count");
    }
    if (n > SQ_BATCH_TXS_MAX) {
        return ldg_fail(SQ_ECORRUPT, "body transaction count %u exceeds %u", n, SQ_BATCH_TXS_MAX);
    }
    if (sq_dec_left(&dec) < n) {
        return ldg_fail(SQ_ECORRUPT, "body too short for %u results", n);
    }
    size_t list_size = sq_dec_left(&dec) - n;
    const uint8_t *list = sq_dec_ref(&dec, list_size);
    int rc = ldg_tx_list_check(list, list_size, n);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "body");
    }
    const uint8_t *res = sq_dec_ref(&dec, n);
    for (uint32_t i = 0; i < n; i++) {
        if (res[i] >= LDG_RESULT_COUNT_) {
            return ldg_fail(SQ_ECORRUPT, "body: transaction %u has unknown result code %u", i,
                            res[i]);
        }
    }
    *count = n;
    *txs = list;
    *txs_size = list_size;
    *results = res;
    return SQ_OK;
}

/* ---- hash sets of transaction ids ---- */

int ldg_idset_init(struct ldg_idset *set, size_t cap_hint)
{
    size_t cap = 1024;
    while (cap < cap_hint * 2) {
        cap *= 2;
    }
    set->slots = calloc(cap, sizeof(*set->slots));
    if (set->slots == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory for a tx id set");
    }
    set->cap = cap;
    set->count = 0;
    sqc_random(&set->seed, sizeof(set->seed));
    return SQ_OK;
}

void ldg_idset_free(struct ldg_idset *set)
{
    free(set->slots);
    set->slots = NULL;
    set->cap = 0;
    set->count = 0;
}

struct ldg_idset_entry *ldg_idset_find(const struct ldg_idset *set,
                                       const uint8_t id[LDG_HASH_BYTES])
{
    size_t mask = set->cap - 1;
    for (size_t i = ldg_key_hash(id, set->seed) & mask;; i = (i + 1) & mask) {
        struct ldg_idset_entry *e = &set->slots[i];
        if (!e->used) {
            return NULL;
        }
        if (memcmp(e->id, id, LDG_HASH_BYTES) == 0) {
            return e;
        }
    }
}

static void idset_place(struct ldg_idset *set, const struct ldg_idset_entry *src)
{
    size_t mask = set->cap - 1;
    size_t i = ldg_key_hash(src->id, set->seed) & mask;
    while (set->slots[i].used) {
        i = (i + 1) & mask;
    }
    set->slots[i] = *src;
}

int ldg_idset_insert(struct ldg_idset *set, const uint8_t id[LDG_HASH_BYTES], uint64_t height,
                     uint32_t index, uint8_t result)
{
    if ((set->count + 1) * 10 > set->cap * 7) {
        struct ldg_idset bigger = {.cap = set->cap * 2, .seed = set->seed};
        bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
        if (bigger.slots == NULL) {
            return ldg_fail(SQ_ENOMEM, "out of memory growing a tx id set");
        }
        for (size_t i = 0; i < set->cap; i++) {
            if (set->slots[i].used) {
                idset_place(&bigger, &set->slots[i]);
            }
        }
        bigger.count = set->count;
        free(set->slots);
        *set = bigger;
    }
    struct ldg_idset_entry e = {.height = height, .index = index, .result = result, .used = 1};
    memcpy(e.id, id, LDG_HASH_BYTES);
    SQ_ASSERT(ldg_idset_find(set, id) == NULL);
    idset_place(set, &e);
    set->count++;
    return SQ_OK;
}

/* Linear probing with backward-shift deletion: no tombstones. */
void ldg_idset_remove(struct ldg_idset *set, const uint8_t id[LDG_HASH_BYTES])
{
    struct ldg_idset_entry *e = ldg_idset_find(set, id);
    if (e == NULL) {
        return;
    }
    size_t mask = set->cap - 1;
    size_t hole = (size_t)(e - set->slots);
    set->slots[hole].used = 0;
    set->count--;
    for (size_t j = (hole + 1) & mask; set->slots[j].used; j = (j + 1) & mask) {
        size_t home = ldg_key_hash(set->slots[j].id, set->seed) & mask;
        /* Move j into the hole unless its home lies cyclically in (hole, j]. */
        bool stays = (hole <= j) ? (hole < home && home <= j) : (hole < home || home <= j);
        if (!stays) {
            set->slots[hole] = set->slots[j];
            set->slots[j].used = 0;
            hole = j;
        }
    }
}

void ldg_idset_clear(struct ldg_idset *set)
{
    memset(set->slots, 0, set->cap * sizeof(*set->slots));
    set->count = 0;
}
