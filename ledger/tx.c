/* Transactions, batches and finality signatures: encoding, decoding, signing. */
#include <string.h>

#include "ledger/ledger_int.h"

static bool kind_is_gov(uint8_t kind)
{
    return kind >= LDG_TX_ADMIT_CLIENT && kind <= LDG_TX_REMOVE_VALIDATOR;
}

static bool addr_valid(const char *addr, size_t size)
{
    if (size == 0 || size > LDG_ADDR_BYTES_MAX) {
        return false;
    }
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)addr[i];
        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

/* The payload's action part (what governance approves). */
static void enc_action(struct sq_enc *enc, const struct ldg_tx *tx)
{
    switch (tx->kind) {
    case LDG_TX_TRANSFER:
    case LDG_TX_MINT:
        sq_enc_bytes(enc, tx->target, SQC_PK_BYTES);
        sq_enc_u64(enc, tx->amount);
        break;
    case LDG_TX_ADMIT_CLIENT:
    case LDG_TX_REMOVE_CLIENT:
        sq_enc_bytes(enc, tx->target, SQC_PK_BYTES);
        break;
    case LDG_TX_ADMIT_VALIDATOR:
        sq_enc_u32(enc, tx->validator_id);
        sq_enc_bytes(enc, tx->target, SQC_PK_BYTES);
        sq_enc_u8(enc, tx->addr_size);
        sq_enc_bytes(enc, tx->addr, tx->addr_size);
        break;
    case LDG_TX_REMOVE_VALIDATOR:
        sq_enc_u32(enc, tx->validator_id);
        break;
    default:
        SQ_UNREACHABLE();
    }
}

static size_t action_size(const struct ldg_tx *tx)
{
    struct sq_enc enc;
    sq_enc_init(&enc, NULL, 0);
    enc_action(&enc, tx);
    return sq_enc_wanted(&enc);
}

static int tx_check_fields(const struct ldg_tx *tx, bool need_approvals)
{
    if (tx->version != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EINVAL, "tx: version %u is not %u", tx->version, LDG_FORMAT_VERSION);
    }
    if (tx->kind < LDG_TX_TRANSFER || tx->kind > LDG_TX_REMOVE_VALIDATOR) {
        return ldg_fail(SQ_EINVAL, "tx: unknown kind %u", tx->kind);
    }
    if (!ldg_chain_id_valid(tx->chain_id, tx->chain_id_size)) {
        return ldg_fail(SQ_EINVAL, "tx: invalid chain id");
    }
    if (tx->kind == LDG_TX_ADMIT_VALIDATOR && !addr_valid(tx->addr, tx->addr_size)) {
        return ldg_fail(SQ_EINVAL, "tx: invalid validator address");
    }
    if (kind_is_gov(tx->kind)) {
        if (tx->approval_count > SQ_GOV_KEYS_MAX || (need_approvals && tx->approval_count == 0)) {
            return ldg_fail(SQ_EINVAL, "tx: %u approvals out of range 1..%u", tx->approval_count,
                            SQ_GOV_KEYS_MAX);
        }
        for (uint32_t i = 1; i < tx->approval_count; i++) {
            if (tx->approvals[i].key_index <= tx->approvals[i - 1].key_index) {
                return ldg_fail(SQ_EINVAL, "tx: approvals not in ascending key order");
            }
        }
    }
    return SQ_OK;
}

/* Everything but the signature. */
static void enc_signed(struct sq_enc *enc, const struct ldg_tx *tx)
{
    sq_enc_u8(enc, tx->version);
    sq_enc_u8(enc, tx->kind);
    ldg_enc_chain(enc, tx->chain_id, tx->chain_id_size);
    sq_enc_bytes(enc, tx->sender, SQC_PK_BYTES);
    sq_enc_u64(enc, tx->nonce);
    sq_enc_u64(enc, tx->expiry_height);
    size_t payload = action_size(tx);
    if (kind_is_gov(tx->kind)) {
        payload += 1 + (size_t)tx->approval_count * (1 + SQC_SIG_BYTES);
    }
    sq_enc_u32(enc, (uint32_t)payload);
    enc_action(enc, tx);
    if (kind_is_gov(tx->kind)) {
        sq_enc_u8(enc, tx->approval_count);
        for (uint32_t i = 0; i < tx->approval_count; i++) {
            sq_enc_u8(enc, tx->approvals[i].key_index);
            sq_enc_bytes(enc, tx->approvals[i].sig, SQC_SIG_BYTES);
        }
    }
}

int ldg_tx_encode(const struct ldg_tx *tx, uint8_t *buf, size_t cap, size_t *size)
{
    *size = 0;
    int rc = tx_check_fields(tx, true);
    if (rc != SQ_OK) {
        return rc;
    }
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    enc_signed(&enc, tx);
    sq_enc_bytes(&enc, tx->sig, SQC_SIG_BYTES);
    if (sq_enc_wanted(&enc) > SQ_TX_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "tx: %zu bytes exceeds %u", sq_enc_wanted(&enc),
                        SQ_TX_BYTES_MAX);
    }
    if (sq_enc_status(&enc) != SQ_OK) {
        return ldg_fail(SQ_ETOOBIG, "tx: needs %zu bytes, buffer holds %zu", sq_enc_wanted(&enc),
                        cap);
    }
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

static int dec_approvals(struct sq_dec *dec, struct ldg_tx *tx)
{
    uint8_t n;
    if (sq_dec_u8(dec, &n) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "tx: payload truncated before the approval count");
    }
    if (n == 0 || n > SQ_GOV_KEYS_MAX) {
        return ldg_fail(SQ_ECORRUPT, "tx: approval count %u out of range 1..%u", n,
                        SQ_GOV_KEYS_MAX);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (sq_dec_u8(dec, &tx->approvals[i].key_index) != SQ_OK ||
            sq_dec_bytes(dec, tx->approvals[i].sig, SQC_SIG_BYTES) != SQ_OK) {
            return ldg_fail(SQ_ECORRUPT, "tx: approval %u truncated", i);
        }
        if (i > 0 && tx->approvals[i].key_index <= tx->approvals[i - 1].key_index) {
            return ldg_fail(SQ_ECORRUPT, "tx: approval %u key index %u not above %u", i,
                            tx->approvals[i].key_index, tx->approvals[i - 1].key_index);
        }
    }
    tx->approval_count = n;
    return SQ_OK;
}

static int dec_payload(const uint8_t *p, size_t size, struct ldg_tx *tx)
{
    struct sq_dec dec;
    sq_dec_init(&dec, p, size);
    int rc = SQ_OK;
    switch (tx->kind) {
    case LDG_TX_TRANSFER:
    case LDG_TX_MINT:
        sq_dec_bytes(&dec, tx->target, SQC_PK_BYTES);
        sq_dec_u64(&dec, &tx->amount);
        break;
    case LDG_TX_ADMIT_CLIENT:
    case LDG_TX_REMOVE_CLIENT:
        sq_dec_bytes(&dec, tx->target, SQC_PK_BYTES);
        rc = sq_dec_status(&dec) == SQ_OK ? dec_approvals(&dec, tx) : SQ_OK;
        break;
    case LDG_TX_ADMIT_VALIDATOR:
        sq_dec_u32(&dec, &tx->validator_id);
        sq_dec_bytes(&dec, tx->target, SQC_PK_BYTES);
        if (sq_dec_u8(&dec, &tx->addr_size) == SQ_OK) {
            if (tx->addr_size == 0 || tx->addr_size > LDG_ADDR_BYTES_MAX) {
                return ldg_fail(SQ_ECORRUPT, "tx: validator address length %u out of range 1..%u",
                                tx->addr_size, LDG_ADDR_BYTES_MAX);
            }
            if (sq_dec_bytes(&dec, tx->addr, tx->addr_size) == SQ_OK &&
                !addr_valid(tx->addr, tx->addr_size)) {
                return ldg_fail(SQ_ECORRUPT, "tx: validator address holds a non-printable byte");
            }
        }
        rc = sq_dec_status(&dec) == SQ_OK ? dec_approvals(&dec, tx) : SQ_OK;
        break;
    case LDG_TX_REMOVE_VALIDATOR:
        sq_dec_u32(&dec, &tx->validator_id);
        rc = sq_dec_status(&dec) == SQ_OK ? dec_approvals(&dec, tx) : SQ_OK;
        break;
    default:
        return ldg_fail(SQ_ECORRUPT, "tx: unknown kind %u", tx->kind);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    if (sq_dec_status(&dec) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "tx: payload of %zu bytes too short for kind %u", size,
                        tx->kind);
    }
    if (sq_dec_left(&dec) != 0) {
        return ldg_fail(SQ_ECORRUPT, "tx: %zu stray bytes at the end of the kind %u payload",
                        sq_dec_left(&dec), tx->kind);
    }
    return SQ_OK;
}

int ldg_tx_decode(const uint8_t *buf, size_t size, struct ldg_tx *tx)
{
    memset(tx, 0, sizeof(*tx));
    if (size > SQ_TX_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "tx: %zu bytes exceeds %u", size, SQ_TX_BYTES_MAX);
    }
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    int rc;
    if (sq_dec_u8(&dec, &tx->version) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "tx: empty");
        goto err_zero;
    }
    if (tx->version != LDG_FORMAT_VERSION) {
        rc = ldg_fail(SQ_EVERSION, "tx: format version %u, expected %u", tx->version,
                      LDG_FORMAT_VERSION);
        goto err_zero;
    }
    if (sq_dec_u8(&dec, &tx->kind) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "tx: truncated before the kind");
        goto err_zero;
    }
    if (tx->kind < LDG_TX_TRANSFER || tx->kind > LDG_TX_REMOVE_VALIDATOR) {
        rc = ldg_fail(SQ_ECORRUPT, "tx: unknown kind %u", tx->kind);
        goto err_zero;
    }
    rc = ldg_dec_chain(&dec, tx->chain_id, &tx->chain_id_size);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "tx");
        goto err_zero;
    }
    const uint8_t *payload;
    size_t payload_size;
    sq_dec_bytes(&dec, tx->sender, SQC_PK_BYTES);
    sq_dec_u64(&dec, &tx->nonce);
    sq_dec_u64(&dec, &tx->expiry_height);
    if (sq_dec_status(&dec) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "tx: truncated in the sender, nonce or expiry");
        goto err_zero;
    }
    if (sq_dec_lp32(&dec, SQ_TX_BYTES_MAX, &payload, &payload_size) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "tx: payload length exceeds the bytes left");
        goto err_zero;
    }
    rc = dec_payload(payload, payload_size, tx);
    if (rc != SQ_OK) {
        goto err_zero;
    }
    if (sq_dec_bytes(&dec, tx->sig, SQC_SIG_BYTES) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "tx: truncated signature");
        goto err_zero;
    }
    if (sq_dec_left(&dec) != 0) {
        rc = ldg_fail(SQ_ECORRUPT, "tx: %zu stray bytes after the signature", sq_dec_left(&dec));
        goto err_zero;
    }
    return SQ_OK;

err_zero:
    memset(tx, 0, sizeof(*tx));
    return rc;
}

void ldg_tx_id(const uint8_t *buf, size_t size, uint8_t id[LDG_HASH_BYTES])
{
    SQ_ASSERT(size > SQC_SIG_BYTES);
    sqc_sha256(id, buf, LDG_TX_SIGNED_SIZE(size));
}

int ldg_tx_sign(struct ldg_tx *tx, const struct sqc_keypair *kp)
{
    SQ_ASSERT(memcmp(tx->sender, kp->pk, SQC_PK_BYTES) == 0);
    uint8_t buf[SQ_TX_BYTES_MAX];
    size_t size;
    memset(tx->sig, 0, SQC_SIG_BYTES);
    int rc = ldg_tx_encode(tx, buf, sizeof(buf), &size);
    if (rc != SQ_OK) {
        return rc;
    }
    uint8_t id[LDG_HASH_BYTES];
    ldg_tx_id(buf, size, id);
    sqc_sign_digest(kp, SQC_DOMAIN_TX, id, tx->sig);
    return SQ_OK;
}

int ldg_tx_gov_digest(const struct ldg_tx *tx, uint8_t digest[LDG_HASH_BYTES])
{
    int rc = tx_check_fields(tx, false);
    if (rc != SQ_OK) {
        return rc;
    }
    if (!kind_is_gov(tx->kind)) {
        return ldg_fail(SQ_EINVAL, "tx: kind %u takes no governance approval", tx->kind);
    }
    uint8_t buf[512];
    struct sq_enc enc;
    sq_enc_init(&enc, buf, sizeof(buf));
    sq_enc_u8(&enc, tx->version);
    sq_enc_u8(&enc, tx->kind);
    ldg_enc_chain(&enc, tx->chain_id, tx->chain_id_size);
    sq_enc_bytes(&enc, tx->sender, SQC_PK_BYTES);
    sq_enc_u64(&enc, tx->nonce);
    sq_enc_u64(&enc, tx->expiry_height);
    enc_action(&enc, tx);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    sqc_sha256(digest, buf, sq_enc_len(&enc));
    return SQ_OK;
}

int ldg_tx_approve(struct ldg_tx *tx, uint8_t key_index, const struct sqc_keypair *kp)
{
    uint8_t digest[LDG_HASH_BYTES];
    int rc = ldg_tx_gov_digest(tx, digest);
    if (rc != SQ_OK) {
        return rc;
    }
    uint32_t at = 0;
    while (at < tx->approval_count && tx->approvals[at].key_index < key_index) {
        at++;
    }
    if (at < tx->approval_count && tx->approvals[at].key_index == key_index) {
        return ldg_fail(SQ_EEXIST, "tx: key %u already approved", key_index);
    }
    if (tx->approval_count >= SQ_GOV_KEYS_MAX) {
        return ldg_fail(SQ_EFULL, "tx: already %u approvals", tx->approval_count);
    }
    memmove(&tx->approvals[at + 1], &tx->approvals[at],
            (tx->approval_count - at) * sizeof(tx->approvals[0]));
    tx->approvals[at].key_index = key_index;
    sqc_sign_digest(kp, SQC_DOMAIN_GOVERNANCE, digest, tx->approvals[at].sig);
    tx->approval_count++;
    return SQ_OK;
}

int ldg_tx_check(const uint8_t *buf, size_t size, struct ldg_tx *tx, uint8_t id[LDG_HASH_BYTES])
{
    struct ldg_tx local;
    struct ldg_tx *t = tx != NULL ? tx : &local;
    int rc = ldg_tx_decode(buf, size, t);
    if (rc != SQ_OK) {
        return rc;
    }
    uint8_t txid[LDG_HASH_BYTES];
    ldg_tx_id(buf, size, txid);
    if (id != NULL) {
        memcpy(id, txid, LDG_HASH_BYTES);
    }
    if (sqc_verify_digest(t->sender, SQC_DOMAIN_TX, txid, t->sig) != SQ_OK) {
        return ldg_fail(SQ_EBADSIG, "tx: the sender's signature does not verify");
    }
    return SQ_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Batches                                                                                      */

/* The signed part's fixed prefix (before the tx list). */
static void enc_batch_prefix(struct sq_enc *enc, const char *chain_id, size_t chain_id_size,
                             uint32_t proposer, uint64_t seq, uint64_t timestamp_us, uint32_t count)
{
    sq_enc_u8(enc, LDG_FORMAT_VERSION);
    ldg_enc_chain(enc, chain_id, chain_id_size);
    sq_enc_u32(enc, proposer);
    sq_enc_u64(enc, seq);
    sq_enc_u64(enc, timestamp_us);
    sq_enc_u32(enc, count);
}

int ldg_batch_encode(const char *chain_id, size_t chain_id_size, uint32_t proposer, uint64_t seq,
                     uint64_t timestamp_us, const struct ldg_bytes *txs, size_t tx_count,
                     const struct sqc_keypair *kp, uint8_t *buf, size_t cap, size_t *size)
{
    *size = 0;
    if (!ldg_chain_id_valid(chain_id, chain_id_size)) {
        return ldg_fail(SQ_EINVAL, "batch: invalid chain id");
    }
    if (tx_count > SQ_BATCH_TXS_MAX) {
        return ldg_fail(SQ_EINVAL, "batch: %zu transactions exceed %u", tx_count, SQ_BATCH_TXS_MAX);
    }
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    enc_batch_prefix(&enc, chain_id, chain_id_size, proposer, seq, timestamp_us,
                     (uint32_t)tx_count);
    for (size_t i = 0; i < tx_count; i++) {
        if (txs[i].size <= SQC_SIG_BYTES || txs[i].size > SQ_TX_BYTES_MAX) {
            return ldg_fail(SQ_EINVAL, "batch: transaction %zu has %zu bytes", i, txs[i].size);
        }
        sq_enc_lp32(&enc, txs[i].data, txs[i].size);
    }
    size_t signed_size = sq_enc_wanted(&enc);
    if (signed_size + SQC_SIG_BYTES > SQ_BATCH_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "batch: %zu bytes exceeds %u", signed_size + SQC_SIG_BYTES,
                        SQ_BATCH_BYTES_MAX);
    }
    uint8_t *sig = sq_enc_reserve(&enc, SQC_SIG_BYTES);
    if (sq_enc_status(&enc) != SQ_OK) {
        return ldg_fail(SQ_ETOOBIG, "batch: needs %zu bytes, buffer holds %zu", sq_enc_wanted(&enc),
                        cap);
    }
    uint8_t digest[LDG_HASH_BYTES];
    sqc_sha256(digest, buf, signed_size);
    sqc_sign_digest(kp, SQC_DOMAIN_BATCH, digest, sig);
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

int ldg_batch_decode(const uint8_t *buf, size_t size, struct ldg_batch *b)
{
    memset(b, 0, sizeof(*b));
    if (size > SQ_BATCH_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "batch: %zu bytes exceeds %u", size, SQ_BATCH_BYTES_MAX);
    }
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t version;
    int rc;
    if (sq_dec_u8(&dec, &version) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "batch: empty");
    }
    if (version != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EVERSION, "batch: format version %u, expected %u", version,
                        LDG_FORMAT_VERSION);
    }
    rc = ldg_dec_chain(&dec, b->chain_id, &b->chain_id_size);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "batch");
        goto err_zero;
    }
    sq_dec_u32(&dec, &b->proposer);
    sq_dec_u64(&dec, &b->seq);
    sq_dec_u64(&dec, &b->timestamp_us);
    sq_dec_u32(&dec, &b->tx_count);
    if (sq_dec_status(&dec) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "batch: truncated header");
        goto err_zero;
    }
    if (b->tx_count > SQ_BATCH_TXS_MAX) {
        rc = ldg_fail(SQ_ECORRUPT, "batch: %u transactions exceed %u", b->tx_count,
                      SQ_BATCH_TXS_MAX);
        goto err_zero;
    }
    if (sq_dec_left(&dec) < SQC_SIG_BYTES) {
        rc = ldg_fail(SQ_ECORRUPT, "batch: truncated before the signature");
        goto err_zero;
    }
    size_t list_size = sq_dec_left(&dec) - SQC_SIG_BYTES;
    const uint8_t *list = sq_dec_ref(&dec, list_size);
    rc = ldg_tx_list_check(list, list_size, b->tx_count);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "batch");
        goto err_zero;
    }
    sq_dec_bytes(&dec, b->sig, SQC_SIG_BYTES);
    SQ_ASSERT(sq_dec_finish(&dec) == SQ_OK);
    b->txs = list;
    b->txs_size = list_size;
    sqc_sha256(b->hash, buf, size - SQC_SIG_BYTES);
    return SQ_OK;

err_zero:
    memset(b, 0, sizeof(*b));
    return rc;
}

void ldg_batch_hash_from_block(const struct ldg_header *hdr, const uint8_t *txs, size_t txs_size,
                               uint8_t hash[LDG_HASH_BYTES])
{
    uint8_t prefix[64 + SQ_CHAIN_ID_BYTES_MAX];
    struct sq_enc enc;
    sq_enc_init(&enc, prefix, sizeof(prefix));
    enc_batch_prefix(&enc, hdr->chain_id, hdr->chain_id_size, hdr->proposer, hdr->batch_seq,
                     hdr->timestamp_us, hdr->tx_count);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    struct sqc_iov parts[2] = {{prefix, sq_enc_len(&enc)}, {txs, txs_size}};
    sqc_sha256_parts(hash, parts, 2);
}

/* ------------------------------------------------------------------------------------------ */
/* Finality signatures                                                                          */

void ldg_finality_digest_raw(const char *chain_id, size_t chain_id_size, uint64_t view_id,
                             uint64_t height, const uint8_t block_hash[LDG_HASH_BYTES],
                             const uint8_t acc_root[LDG_HASH_BYTES], uint8_t digest[LDG_HASH_BYTES])
{
    uint8_t buf[128 + SQ_CHAIN_ID_BYTES_MAX];
    struct sq_enc enc;
    sq_enc_init(&enc, buf, sizeof(buf));
    sq_enc_u8(&enc, LDG_FORMAT_VERSION);
    ldg_enc_chain(&enc, chain_id, chain_id_size);
    sq_enc_u64(&enc, view_id);
    sq_enc_u64(&enc, height);
    sq_enc_bytes(&enc, block_hash, LDG_HASH_BYTES);
    sq_enc_bytes(&enc, acc_root, LDG_HASH_BYTES);
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    sqc_sha256(digest, buf, sq_enc_len(&enc));
}

void ldg_finality_digest(const char *chain_id, size_t chain_id_size, const struct ldg_finality *f,
                         uint8_t digest[LDG_HASH_BYTES])
{
    ldg_finality_digest_raw(chain_id, chain_id_size, f->view_id, f->height, f->block_hash,
                            f->acc_root, digest);
}

int ldg_finality_encode(const char *chain_id, size_t chain_id_size, const struct ldg_finality *f,
                        uint8_t *buf, size_t cap, size_t *size)
{
    *size = 0;
    if (!ldg_chain_id_valid(chain_id, chain_id_size)) {
        return ldg_fail(SQ_EINVAL, "finality: invalid chain id");
    }
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_u8(&enc, LDG_FORMAT_VERSION);
    ldg_enc_chain(&enc, chain_id, chain_id_size);
    sq_enc_u32(&enc, f->signer);
    sq_enc_u64(&enc, f->view_id);
    sq_enc_u64(&enc, f->height);
    sq_enc_bytes(&enc, f->block_hash, LDG_HASH_BYTES);
    sq_enc_bytes(&enc, f->acc_root, LDG_HASH_BYTES);
    sq_enc_bytes(&enc, f->sig, SQC_SIG_BYTES);
    if (sq_enc_status(&enc) != SQ_OK) {
        return ldg_fail(SQ_ETOOBIG, "finality: needs %zu bytes, buffer holds %zu",
                        sq_enc_wanted(&enc), cap);
    }
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

int ldg_finality_decode(const uint8_t *buf, size_t size, const char *chain_id, size_t chain_id_size,
                        struct ldg_finality *f)
{
    memset(f, 0, sizeof(*f));
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t version;
    if (sq_dec_u8(&dec, &version) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "finality: empty");
    }
    if (version != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EVERSION, "finality: format version %u, expected %u", version,
                        LDG_FORMAT_VERSION);
    }
    char chain[SQ_CHAIN_ID_BYTES_MAX];
    uint8_t chain_size;
    int rc = ldg_dec_chain(&dec, chain, &chain_size);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "finality");
    }
    sq_dec_u32(&dec, &f->signer);
    sq_dec_u64(&dec, &f->view_id);
    sq_dec_u64(&dec, &f->height);
    sq_dec_bytes(&dec, f->block_hash, LDG_HASH_BYTES);
    sq_dec_bytes(&dec, f->acc_root, LDG_HASH_BYTES);
    sq_dec_bytes(&dec, f->sig, SQC_SIG_BYTES);
    if (sq_dec_finish(&dec) != SQ_OK) {
        memset(f, 0, sizeof(*f));
        return ldg_fail(SQ_ECORRUPT, "finality: %zu bytes, expected %zu", size,
                        (size_t)(1 + 1 + chain_size + 4 + 8 + 8 + 32 + 32 + 64));
    }
    if (!ldg_chain_equal(chain, chain_size, chain_id, chain_id_size)) {
        memset(f, 0, sizeof(*f));
        return ldg_fail(SQ_EINVAL, "finality: signature for chain '%.*s'", (int)chain_size, chain);
    }
    return SQ_OK;
}
