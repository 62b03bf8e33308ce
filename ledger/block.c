/* Block headers, bodies, view-change records, the genesis block. */
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/* ---- headers ---- */

int ldg_header_encode(const struct ldg_header *hdr, uint8_t *buf, size_t cap, size_t *size)
{
    *size = 0;
    if (hdr->version != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EINVAL, "header: version %u", hdr->version);
    }
    if (hdr->kind != LDG_BLOCK_BATCH && hdr->kind != LDG_BLOCK_VIEW) {
        return ldg_fail(SQ_EINVAL, "header: unknown kind %u", hdr->kind);
    }
    if (!ldg_chain_id_valid(hdr->chain_id, hdr->chain_id_size)) {
        return ldg_fail(SQ_EINVAL, "header: invalid chain id");
    }
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_u8(&enc, hdr->version);
    sq_enc_u8(&enc, hdr->kind);
    ldg_enc_chain(&enc, hdr->chain_id, hdr->chain_id_size);
    sq_enc_u64(&enc, hdr->height);
    sq_enc_bytes(&enc, hdr->prev_hash, LDG_HASH_BYTES);
    sq_enc_u64(&enc, hdr->view_id);
    sq_enc_u32(&enc, hdr->proposer);
    sq_enc_u64(&enc, hdr->batch_seq);
    sq_enc_u64(&enc, hdr->timestamp_us);
    sq_enc_bytes(&enc, hdr->batch_hash, LDG_HASH_BYTES);
    sq_enc_bytes(&enc, hdr->proposer_sig, SQC_SIG_BYTES);
    sq_enc_u32(&enc, hdr->tx_count);
    sq_enc_bytes(&enc, hdr->tx_root, LDG_HASH_BYTES);
    sq_enc_bytes(&enc, hdr->results_root, LDG_HASH_BYTES);
    if (sq_enc_status(&enc) != SQ_OK) {
        return ldg_fail(SQ_ETOOBIG, "header: needs %zu bytes, buffer holds %zu",
                        sq_enc_wanted(&enc), cap);
    }
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

int ldg_header_decode(const uint8_t *buf, size_t size, struct ldg_header *hdr)
{
    memset(hdr, 0, sizeof(*hdr));
    int rc;
    if (size > LDG_HEADER_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "header: %zu bytes exceeds %u", size, LDG_HEADER_BYTES_MAX);
    }
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    if (sq_dec_u8(&dec, &hdr->version) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "header: empty");
    }
    if (hdr->version != LDG_FORMAT_VERSION) {
        rc = ldg_fail(SQ_EVERSION, "header: format version %u, expected %u", hdr->version,
                      LDG_FORMAT_VERSION);
        goto err_zero;
    }
    if (sq_dec_u8(&dec, &hdr->kind) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "header: truncated before the kind");
        goto err_zero;
    }
    if (hdr->kind != LDG_BLOCK_BATCH && hdr->kind != LDG_BLOCK_VIEW) {
        rc = ldg_fail(SQ_ECORRUPT, "header: unknown block kind %u", hdr->kind);
        goto err_zero;
    }
    rc = ldg_dec_chain(&dec, hdr->chain_id, &hdr->chain_id_size);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "header");
        goto err_zero;
    }
    sq_dec_u64(&dec, &hdr->height);
    sq_dec_bytes(&dec, hdr->prev_hash, LDG_HASH_BYTES);
    sq_dec_u64(&dec, &hdr->view_id);
    sq_dec_u32(&dec, &hdr->proposer);
    sq_dec_u64(&dec, &hdr->batch_seq);
    sq_dec_u64(&dec, &hdr->timestamp_us);
    sq_dec_bytes(&dec, hdr->batch_hash, LDG_HASH_BYTES);
    sq_dec_bytes(&dec, hdr->proposer_sig, SQC_SIG_BYTES);
    sq_dec_u32(&dec, &hdr->tx_count);
    sq_dec_bytes(&dec, hdr->tx_root, LDG_HASH_BYTES);
    sq_dec_bytes(&dec, hdr->results_root, LDG_HASH_BYTES);
    if (sq_dec_status(&dec) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "header: truncated (%zu bytes)", size);
        goto err_zero;
    }
    if (sq_dec_left(&dec) != 0) {
        rc = ldg_fail(SQ_ECORRUPT, "header: %zu stray bytes at the end", sq_dec_left(&dec));
        goto err_zero;
    }
    if (hdr->tx_count > SQ_BATCH_TXS_MAX) {
        rc = ldg_fail(SQ_ECORRUPT, "header: %u transactions exceed %u", hdr->tx_count,
                      SQ_BATCH_TXS_MAX);
        goto err_zero;
    }
    if (hdr->kind == LDG_BLOCK_VIEW &&
        (hdr->proposer != 0 || hdr->batch_seq != 0 || hdr->tx_count != 0 ||
         !all_zero(hdr->batch_hash, LDG_HASH_BYTES) ||
         !all_zero(hdr->proposer_sig, SQC_SIG_BYTES))) {
        rc = ldg_fail(SQ_ECORRUPT, "header: view-change block with batch fields set");
        goto err_zero;
    }
    return SQ_OK;

err_zero:
    memset(hdr, 0, sizeof(*hdr));
    return rc;
}

int ldg_header_hash(const struct ldg_header *hdr, uint8_t hash[LDG_HASH_BYTES])
{
    uint8_t buf[LDG_HEADER_BYTES_MAX];
    size_t size;
    int rc = ldg_header_encode(hdr, buf, sizeof(buf), &size);
    if (rc != SQ_OK) {
        return rc;
    }
    sqc_sha256(hash, buf, size);
    return SQ_OK;
}

/* ---- view records ---- */

static bool addr_ok(const char *addr, size_t size)
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

/* Members: distinct ids and keys, valid addresses. Leavers: distinct, not members. */
static int view_check_shape(const struct ldg_view *v)
{
    if (v->member_count == 0 || v->member_count > SQ_MEMBERS_MAX) {
        return ldg_fail(SQ_EINVAL, "view %llu: %u members, expected 1..%u",
                        (unsigned long long)v->view_id, v->member_count, SQ_MEMBERS_MAX);
    }
    if (v->leaver_count > SQ_MEMBERS_MAX) {
        return ldg_fail(SQ_EINVAL, "view %llu: %u leavers exceed %u",
                        (unsigned long long)v->view_id, v->leaver_count, SQ_MEMBERS_MAX);
    }
    for (uint32_t i = 0; i < v->member_count; i++) {
        const struct ldg_member *m = &v->members[i];
        if (!addr_ok(m->addr, m->addr_size)) {
            return ldg_fail(SQ_EINVAL, "view %llu: member %u has an invalid address",
                            (unsigned long long)v->view_id, m->id);
        }
        for (uint32_t j = 0; j < i; j++) {
            if (v->members[j].id == m->id) {
                return ldg_fail(SQ_EINVAL, "view %llu: member id %u appears twice",
                                (unsigned long long)v->view_id, m->id);
            }
            if (memcmp(v->members[j].pk, m->pk, SQC_PK_BYTES) == 0) {
                return ldg_fail(SQ_EINVAL, "view %llu: members %u and %u share a key",
                                (unsigned long long)v->view_id, v->members[j].id, m->id);
            }
        }
    }
    for (uint32_t i = 0; i < v->leaver_count; i++) {
        for (uint32_t j = 0; j < i; j++) {
            if (v->leavers[j] == v->leavers[i]) {
                return ldg_fail(SQ_EINVAL, "view %llu: leaver %u appears twice",
                                (unsigned long long)v->view_id, v->leavers[i]);
            }
        }
        for (uint32_t j = 0; j < v->member_count; j++) {
            if (v->members[j].id == v->leavers[i]) {
                return ldg_fail(SQ_EINVAL, "view %llu: leaver %u is still a member",
                                (unsigned long long)v->view_id, v->leavers[i]);
            }
        }
    }
    return SQ_OK;
}

int ldg_view_encode(const struct ldg_view *v, uint8_t *buf, size_t cap, size_t *size)
{
    *size = 0;
    int rc = view_check_shape(v);
    if (rc != SQ_OK) {
        return rc;
    }
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_u64(&enc, v->view_id);
    sq_enc_u64(&enc, v->prev_height);
    sq_enc_bytes(&enc, v->prev_hash, LDG_HASH_BYTES);
    sq_enc_u8(&enc, (uint8_t)v->member_count);
    for (uint32_t i = 0; i < v->member_count; i++) {
        const struct ldg_member *m = &v->members[i];
        sq_enc_u32(&enc, m->id);
        sq_enc_bytes(&enc, m->pk, SQC_PK_BYTES);
        sq_enc_u8(&enc, m->addr_size);
        sq_enc_bytes(&enc, m->addr, m->addr_size);
    }
    sq_enc_u8(&enc, (uint8_t)v->leaver_count);
    for (uint32_t i = 0; i < v->leaver_count; i++) {
        sq_enc_u32(&enc, v->leavers[i]);
    }
    if (sq_enc_status(&enc) != SQ_OK) {
        return ldg_fail(SQ_ETOOBIG, "view: needs %zu bytes, buffer holds %zu", sq_enc_wanted(&enc),
                        cap);
    }
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

int ldg_view_decode(const uint8_t *buf, size_t size, struct ldg_view *v)
{
    memset(v, 0, sizeof(*v));
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t n;
    int rc;
    sq_dec_u64(&dec, &v->view_id);
    sq_dec_u64(&dec, &v->prev_height);
    sq_dec_bytes(&dec, v->prev_hash, LDG_HASH_BYTES);
    if (sq_dec_u8(&dec, &n) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "view record: truncated before the members");
        goto err_zero;
    }
    if (n == 0 || n > SQ_MEMBERS_MAX) {
        rc = ldg_fail(SQ_ECORRUPT, "view record: %u members, expected 1..%u", n, SQ_MEMBERS_MAX);
        goto err_zero;
    }
    v->member_count = n;
    for (uint32_t i = 0; i < n; i++) {
        struct ldg_member *m = &v->members[i];
        sq_dec_u32(&dec, &m->id);
        sq_dec_bytes(&dec, m->pk, SQC_PK_BYTES);
        if (sq_dec_u8(&dec, &m->addr_size) != SQ_OK) {
            rc = ldg_fail(SQ_ECORRUPT, "view record: member %u truncated", i);
            goto err_zero;
        }
        if (m->addr_size == 0 || m->addr_size > LDG_ADDR_BYTES_MAX) {
            rc = ldg_fail(SQ_ECORRUPT, "view record: member %u address length %u out of range", i,
                          m->addr_size);
            goto err_zero;
        }
        if (sq_dec_bytes(&dec, m->addr, m->addr_size) != SQ_OK) {
            rc = ldg_fail(SQ_ECORRUPT, "view record: member %u address truncated", i);
            goto err_zero;
        }
        m->addr[m->addr_size] = '\0';
    }
    if (sq_dec_u8(&dec, &n) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "view record: truncated before the leavers");
        goto err_zero;
    }
    if (n > SQ_MEMBERS_MAX) {
        rc = ldg_fail(SQ_ECORRUPT, "view record: %u leavers exceed %u", n, SQ_MEMBERS_MAX);
        goto err_zero;
    }
    v->leaver_count = n;
    for (uint32_t i = 0; i < n; i++) {
        sq_dec_u32(&dec, &v->leavers[i]);
    }
    if (sq_dec_status(&dec) != SQ_OK) {
        rc = ldg_fail(SQ_ECORRUPT, "view record: truncated leavers");
        goto err_zero;
    }
    if (sq_dec_left(&dec) != 0) {
        rc = ldg_fail(SQ_ECORRUPT, "view record: %zu stray bytes", sq_dec_left(&dec));
        goto err_zero;
    }
    rc = view_check_shape(v);
    if (rc != SQ_OK) {
        rc = SQ_ECORRUPT;
        goto err_zero;
    }
    return SQ_OK;

err_zero:
    memset(v, 0, sizeof(*v));
    return rc;
}

static bool view_has(const struct ldg_view *v, const struct ldg_member *m)
{
    for (uint32_t i = 0; i < v->member_count; i++) {
        if (v->members[i].id == m->id && memcmp(v->members[i].pk, m->pk, SQC_PK_BYTES) == 0) {
            return true;
        }
    }
    return false;
}

int ldg_view_rules(const struct ldg_view *prev, const struct ldg_view *next)
{
    int rc = view_check_shape(next);
    if (rc != SQ_OK) {
        return rc;
    }
    if (next->view_id <= prev->view_id) {
        return ldg_fail(SQ_EINVAL, "view %llu does not follow view %llu",
                        (unsigned long long)next->view_id, (unsigned long long)prev->view_id);
    }
    uint32_t leavers = 0;
    for (uint32_t i = 0; i < next->leaver_count; i++) {
        bool found = false;
        for (uint32_t j = 0; j < prev->member_count; j++) {
            found = found || prev->members[j].id == next->leavers[i];
        }
        if (!found) {
            return ldg_fail(SQ_EINVAL, "view %llu: leaver %u was not a member of view %llu",
                            (unsigned long long)next->view_id, next->leavers[i],
                            (unsigned long long)prev->view_id);
        }
        leavers++;
    }
    uint32_t survivors = 0;
    for (uint32_t i = 0; i < prev->member_count; i++) {
        survivors += view_has(next, &prev->members[i]) ? 1u : 0u;
    }
    /* PROTOCOL.md §5.8: the survivors are a strict majority of the previous view, graceful
     * leavers not counted. */
    if (survivors == 0 || 2 * survivors <= prev->member_count - leavers) {
        return ldg_fail(SQ_EPERM,
                        "view %llu: %u of the %u members of view %llu (%u left gracefully) "
                        "is not a majority",
                        (unsigned long long)next->view_id, survivors, prev->member_count,
                        (unsigned long long)prev->view_id, leavers);
    }
    return SQ_OK;
}

/* ---- blocks ---- */

int ldg_block_encode(const struct ldg_bytes *header, const struct ldg_bytes *body, uint8_t *buf,
                     size_t cap, size_t *size)
{
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_lp32(&enc, header->data, header->size);
    sq_enc_lp32(&enc, body->data, body->size);
    *size = 0;
    if (sq_enc_status(&enc) != SQ_OK) {
        return ldg_fail(SQ_ETOOBIG, "block: needs %zu bytes, buffer holds %zu", sq_enc_wanted(&enc),
                        cap);
    }
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

static int block_check_body(struct ldg_block *blk, struct ldg_view *view)
{
    const struct ldg_header *hdr = &blk->hdr;
    uint8_t root[LDG_HASH_BYTES];
    int rc;
    if (hdr->kind == LDG_BLOCK_VIEW) {
        struct ldg_view local;
        struct ldg_view *v = view != NULL ? view : &local;
        sqc_sha256(root, blk->body, blk->body_size);
        if (memcmp(root, hdr->tx_root, LDG_HASH_BYTES) != 0) {
            return ldg_fail(SQ_ECORRUPT, "view record does not match the header's tx root");
        }
        ldg_empty_root(root);
        if (memcmp(root, hdr->results_root, LDG_HASH_BYTES) != 0) {
            return ldg_fail(SQ_ECORRUPT, "view-change block with a non-empty results root");
        }
        rc = ldg_view_decode(blk->body, blk->body_size, v);
        if (rc != SQ_OK) {
            return rc;
        }
        if (v->view_id != hdr->view_id) {
            return ldg_fail(SQ_ECORRUPT, "view record for view %llu in a header of view %llu",
                            (unsigned long long)v->view_id, (unsigned long long)hdr->view_id);
        }
        return SQ_OK;
    }
    uint32_t count;
    rc = ldg_body_decode(blk->body, blk->body_size, &count, &blk->txs, &blk->txs_size,
                         &blk->results);
    if (rc != SQ_OK) {
        return rc;
    }
    if (count != hdr->tx_count) {
        return ldg_fail(SQ_ECORRUPT, "body holds %u transactions, header says %u", count,
                        hdr->tx_count);
    }
    rc = ldg_tx_root(blk->txs, blk->txs_size, count, root);
    if (rc != SQ_OK) {
        return rc;
    }
    if (memcmp(root, hdr->tx_root, LDG_HASH_BYTES) != 0) {
        return ldg_fail(SQ_ECORRUPT, "transactions do not match the header's tx root");
    }
    rc = ldg_results_root(blk->results, count, root);
    if (rc != SQ_OK) {
        return rc;
    }
    if (memcmp(root, hdr->results_root, LDG_HASH_BYTES) != 0) {
        return ldg_fail(SQ_ECORRUPT, "results do not match the header's results root");
    }
    return SQ_OK;
}

int ldg_block_decode(const uint8_t *buf, size_t size, struct ldg_block *blk, struct ldg_view *view)
{
    memset(blk, 0, sizeof(*blk));
    if (size > LDG_BLOCK_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "block: %zu bytes exceeds %u", size, LDG_BLOCK_BYTES_MAX);
    }
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    const uint8_t *h;
    const uint8_t *b;
    size_t hs;
    size_t bs;
    int rc;
    if (sq_dec_lp32(&dec, LDG_HEADER_BYTES_MAX, &h, &hs) != SQ_OK ||
        sq_dec_lp32(&dec, LDG_BODY_BYTES_MAX, &b, &bs) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "block: header or body length out of range or truncated");
    }
    if (sq_dec_left(&dec) != 0) {
        return ldg_fail(SQ_ECORRUPT, "block: %zu stray bytes at the end", sq_dec_left(&dec));
    }
    rc = ldg_header_decode(h, hs, &blk->hdr);
    if (rc != SQ_OK) {
        goto err_zero;
    }
    sqc_sha256(blk->hash, h, hs);
    blk->header_bytes = h;
    blk->header_size = hs;
    blk->body = b;
    blk->body_size = bs;
    rc = block_check_body(blk, view);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "block %llu", (unsigned long long)blk->hdr.height);
        goto err_zero;
    }
    return SQ_OK;

err_zero:
    memset(blk, 0, sizeof(*blk));
    if (view != NULL) {
        memset(view, 0, sizeof(*view));
    }
    return rc;
}

/* ---- the genesis block ---- */

void ldg_genesis_view(const struct ldg_genesis *g, struct ldg_view *view)
{
    memset(view, 0, sizeof(*view));
    view->view_id = 0;
    view->member_count = g->validator_count;
    memcpy(view->members, g->validators, g->validator_count * sizeof(g->validators[0]));
}

int ldg_genesis_block(const struct ldg_genesis *g, uint8_t *buf, size_t cap, size_t *header_size,
                      size_t *body_size, uint8_t hash[LDG_HASH_BYTES])
{
    *header_size = 0;
    *body_size = 0;
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    ldg_genesis_view(g, view);
    uint8_t record[16384];
    size_t record_size;
    int rc = ldg_view_encode(view, record, sizeof(record), &record_size);
    free(view);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "genesis block");
    }
    struct ldg_header hdr = {
        .version = LDG_FORMAT_VERSION,
        .kind = LDG_BLOCK_VIEW,
        .chain_id_size = g->chain_id_size,
        .height = 0,
        .view_id = 0,
        .timestamp_us = g->time_us,
    };
    memcpy(hdr.chain_id, g->chain_id, g->chain_id_size);
    memcpy(hdr.prev_hash, g->digest, LDG_HASH_BYTES);
    sqc_sha256(hdr.tx_root, record, record_size);
    ldg_empty_root(hdr.results_root);
    size_t hs;
    rc = ldg_header_encode(&hdr, buf, cap, &hs);
    if (rc != SQ_OK) {
        return rc;
    }
    if (cap - hs < record_size) {
        return ldg_fail(SQ_ETOOBIG, "genesis block: buffer of %zu bytes too small", cap);
    }
    memcpy(buf + hs, record, record_size);
    sqc_sha256(hash, buf, hs);
    *header_size = hs;
    *body_size = record_size;
    return SQ_OK;
}
