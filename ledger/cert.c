/* Certificates: stored signature records, the wire certificate (signatures plus the header chain),
 * building from the store and verifying against a view. */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

/* ---- stored records ---- */

int ldg_cert_record_encode(const struct ldg_cert_record *rec, uint8_t *buf, size_t cap,
                           size_t *size)
{
    SQ_ASSERT(rec->count >= 1 && rec->count <= SQ_MEMBERS_MAX);
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_u8(&enc, LDG_FORMAT_VERSION);
    sq_enc_u64(&enc, rec->view_id);
    sq_enc_u8(&enc, (uint8_t)rec->count);
    for (uint32_t i = 0; i < rec->count; i++) {
        const struct ldg_finality *f = &rec->sigs[i];
        sq_enc_u32(&enc, f->signer);
        sq_enc_u64(&enc, f->height);
        sq_enc_bytes(&enc, f->block_hash, LDG_HASH_BYTES);
        sq_enc_bytes(&enc, f->acc_root, LDG_HASH_BYTES);
        sq_enc_bytes(&enc, f->sig, SQC_SIG_BYTES);
    }
    *size = sq_enc_len(&enc);
    return sq_enc_status(&enc);
}

int ldg_cert_record_decode(const uint8_t *buf, size_t size, struct ldg_cert_record *rec)
{
    memset(rec, 0, sizeof(*rec));
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t version;
    uint8_t n;
    sq_dec_u8(&dec, &version);
    sq_dec_u64(&dec, &rec->view_id);
    sq_dec_u8(&dec, &n);
    if (sq_dec_status(&dec) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "certificate record truncated");
    }
    if (version != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EVERSION, "certificate record version %u", version);
    }
    if (n == 0 || n > SQ_MEMBERS_MAX) {
        return ldg_fail(SQ_ECORRUPT, "certificate record with %u signatures", n);
    }
    rec->count = n;
    for (uint32_t i = 0; i < n; i++) {
        struct ldg_finality *f = &rec->sigs[i];
        f->view_id = rec->view_id;
        sq_dec_u32(&dec, &f->signer);
        sq_dec_u64(&dec, &f->height);
        sq_dec_bytes(&dec, f->block_hash, LDG_HASH_BYTES);
        sq_dec_bytes(&dec, f->acc_root, LDG_HASH_BYTES);
        sq_dec_bytes(&dec, f->sig, SQC_SIG_BYTES);
    }
    if (sq_dec_finish(&dec) != SQ_OK) {
        memset(rec, 0, sizeof(*rec));
        return ldg_fail(SQ_ECORRUPT, "certificate record of %zu bytes is malformed", size);
    }
    return SQ_OK;
}

int ldg_fin_track_encode(const struct ldg_fin_track *t, uint8_t *buf, size_t cap, size_t *size)
{
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_u8(&enc, LDG_FORMAT_VERSION);
    sq_enc_u64(&enc, t->view_id);
    sq_enc_u8(&enc, (uint8_t)t->count);
    for (uint32_t i = 0; i < t->count; i++) {
        sq_enc_u8(&enc, t->have[i] ? 1 : 0);
        if (!t->have[i]) {
            continue;
        }
        const struct ldg_finality *f = &t->latest[i];
        sq_enc_u32(&enc, f->signer);
        sq_enc_u64(&enc, f->height);
        sq_enc_bytes(&enc, f->block_hash, LDG_HASH_BYTES);
        sq_enc_bytes(&enc, f->acc_root, LDG_HASH_BYTES);
        sq_enc_bytes(&enc, f->sig, SQC_SIG_BYTES);
    }
    *size = sq_enc_len(&enc);
    return sq_enc_status(&enc);
}

int ldg_fin_track_decode(const uint8_t *buf, size_t size, struct ldg_fin_track *t)
{
    memset(t, 0, sizeof(*t));
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t version;
    uint8_t n;
    sq_dec_u8(&dec, &version);
    sq_dec_u64(&dec, &t->view_id);
    sq_dec_u8(&dec, &n);
    if (sq_dec_status(&dec) != SQ_OK || version != LDG_FORMAT_VERSION || n > SQ_MEMBERS_MAX) {
        return ldg_fail(SQ_ECORRUPT, "finality tracking record malformed");
    }
    t->count = n;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t have;
        if (sq_dec_u8(&dec, &have) != SQ_OK || have > 1) {
            return ldg_fail(SQ_ECORRUPT, "finality tracking record malformed");
        }
        t->have[i] = have != 0;
        if (!have) {
            continue;
        }
        struct ldg_finality *f = &t->latest[i];
        f->view_id = t->view_id;
        sq_dec_u32(&dec, &f->signer);
        sq_dec_u64(&dec, &f->height);
        sq_dec_bytes(&dec, f->block_hash, LDG_HASH_BYTES);
        sq_dec_bytes(&dec, f->acc_root, LDG_HASH_BYTES);
        sq_dec_bytes(&dec, f->sig, SQC_SIG_BYTES);
    }
    if (sq_dec_finish(&dec) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "finality tracking record malformed");
    }
    return SQ_OK;
}

/* ---- the wire certificate ---- */

int ldg_cert_encode(const struct ldg_cert_src *src, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    SQ_ASSERT(src->top >= src->height);
    uint64_t nh = src->top - src->height + 1;
    if (nh > LDG_CHAIN_HEADERS_MAX) {
        return ldg_fail(SQ_ETOOBIG, "a certificate for %llu needs %llu headers (limit %u)",
                        (unsigned long long)src->height, (unsigned long long)nh,
                        LDG_CHAIN_HEADERS_MAX);
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct sq_enc enc;
    for (int pass = 0; pass < 2; pass++) {
        sq_enc_init(&enc, buf, cap);
        sq_enc_u8(&enc, LDG_FORMAT_VERSION);
        ldg_enc_chain(&enc, src->chain_id, src->chain_id_size);
        sq_enc_u64(&enc, src->height);
        sq_enc_u64(&enc, src->rec->view_id);
        sq_enc_u8(&enc, (uint8_t)src->rec->count);
        for (uint32_t i = 0; i < src->rec->count; i++) {
            const struct ldg_finality *f = &src->rec->sigs[i];
            sq_enc_u32(&enc, f->signer);
            sq_enc_u64(&enc, f->height);
            sq_enc_bytes(&enc, f->acc_root, LDG_HASH_BYTES);
            sq_enc_bytes(&enc, f->sig, SQC_SIG_BYTES);
        }
        sq_enc_u32(&enc, (uint32_t)nh);
        for (uint64_t i = 0; i < nh; i++) {
            sq_enc_lp32(&enc, src->headers[i].data, src->headers[i].size);
        }
        if (pass == 0) {
            cap = sq_enc_wanted(&enc);
            if (cap > LDG_CERT_BYTES_MAX) {
                return ldg_fail(SQ_ETOOBIG, "certificate of %zu bytes exceeds %u", cap,
                                LDG_CERT_BYTES_MAX);
            }
            buf = malloc(cap);
            if (buf == NULL) {
                return ldg_fail(SQ_ENOMEM, "out of memory for a certificate");
            }
        }
    }
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    *out = buf;
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

void ldg_cert_parsed_free(struct ldg_cert_parsed *p)
{
    free(p->headers);
    free(p->hashes);
    p->headers = NULL;
    p->hashes = NULL;
}

int ldg_cert_parse(const uint8_t *buf, size_t size, struct ldg_cert_parsed *p)
{
    memset(p, 0, sizeof(*p));
    if (size > LDG_CERT_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "certificate: %zu bytes exceeds %u", size, LDG_CERT_BYTES_MAX);
    }
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t version;
    int rc;
    if (sq_dec_u8(&dec, &version) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "certificate: empty");
    }
    if (version != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EVERSION, "certificate: format version %u, expected %u", version,
                        LDG_FORMAT_VERSION);
    }
    rc = ldg_dec_chain(&dec, p->chain_id, &p->chain_id_size);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "certificate");
    }
    uint8_t n;
    sq_dec_u64(&dec, &p->height);
    sq_dec_u64(&dec, &p->rec.view_id);
    if (sq_dec_u8(&dec, &n) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "certificate: truncated before the signatures");
    }
    if (n == 0 || n > SQ_MEMBERS_MAX) {
        return ldg_fail(SQ_ECORRUPT, "certificate: %u signatures, expected 1..%u", n,
                        SQ_MEMBERS_MAX);
    }
    p->rec.count = n;
    for (uint32_t i = 0; i < n; i++) {
        struct ldg_finality *f = &p->rec.sigs[i];
        f->view_id = p->rec.view_id;
        sq_dec_u32(&dec, &f->signer);
        sq_dec_u64(&dec, &f->height);
        sq_dec_bytes(&dec, f->acc_root, LDG_HASH_BYTES);
        sq_dec_bytes(&dec, f->sig, SQC_SIG_BYTES);
    }
    uint32_t nh;
    if (sq_dec_u32(&dec, &nh) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "certificate: truncated signatures");
    }
    if (nh == 0 || nh > LDG_CHAIN_HEADERS_MAX) {
        return ldg_fail(SQ_ECORRUPT, "certificate: %u headers, expected 1..%u", nh,
                        LDG_CHAIN_HEADERS_MAX);
    }
    if (nh > sq_dec_left(&dec) / 4) {
        return ldg_fail(SQ_ECORRUPT, "certificate: %u headers cannot fit %zu bytes", nh,
                        sq_dec_left(&dec));
    }
    p->headers = malloc((size_t)nh * sizeof(*p->headers));
    p->hashes = malloc((size_t)nh * LDG_HASH_BYTES);
    if (p->headers == NULL || p->hashes == NULL) {
        ldg_cert_parsed_free(p);
        return ldg_fail(SQ_ENOMEM, "out of memory for %u headers", nh);
    }
    for (uint32_t i = 0; i < nh; i++) {
        const uint8_t *h;
        size_t hs;
        if (sq_dec_lp32(&dec, LDG_HEADER_BYTES_MAX, &h, &hs) != SQ_OK) {
            rc = ldg_fail(SQ_ECORRUPT, "certificate: header %u length out of range", i);
            goto err_free;
        }
        rc = ldg_header_decode(h, hs, &p->headers[i]);
        if (rc != SQ_OK) {
            ldg_fail_prefix(rc, "certificate: header %u", i);
            goto err_free;
        }
        sqc_sha256(p->hashes[i], h, hs);
    }
    if (sq_dec_left(&dec) != 0) {
        rc = ldg_fail(SQ_ECORRUPT, "certificate: %zu stray bytes", sq_dec_left(&dec));
        goto err_free;
    }
    p->header_count = nh;
    return SQ_OK;

err_free:
    ldg_cert_parsed_free(p);
    return rc;
}

int ldg_cert_check(const struct ldg_cert_parsed *p, const char *chain_id, size_t chain_id_size,
                   const struct ldg_view *view, struct ldg_cert_info *info)
{
    memset(info, 0, sizeof(*info));
    if (!ldg_chain_equal(p->chain_id, p->chain_id_size, chain_id, chain_id_size)) {
        return ldg_fail(SQ_EPROOF, "certificate: made for chain '%.*s'", (int)p->chain_id_size,
                        p->chain_id);
    }
    if (p->rec.view_id != view->view_id) {
        return ldg_fail(SQ_EPROOF, "certificate: signed by view %llu, checked against view %llu",
                        (unsigned long long)p->rec.view_id, (unsigned long long)view->view_id);
    }
    /* The header chain: consecutive heights from the certified block, each linked to the last. */
    for (uint32_t i = 0; i < p->header_count; i++) {
        const struct ldg_header *h = &p->headers[i];
        if (h->height != p->height + i) {
            return ldg_fail(SQ_EPROOF, "certificate: header %u has height %llu, expected %llu", i,
                            (unsigned long long)h->height, (unsigned long long)(p->height + i));
        }
        if (!ldg_chain_equal(h->chain_id, h->chain_id_size, chain_id, chain_id_size)) {
            return ldg_fail(SQ_EPROOF, "certificate: header %llu is of another chain",
                            (unsigned long long)h->height);
        }
        if (i > 0 && memcmp(h->prev_hash, p->hashes[i - 1], LDG_HASH_BYTES) != 0) {
            return ldg_fail(SQ_EPROOF, "certificate: header %llu does not link to header %llu",
                            (unsigned long long)h->height, (unsigned long long)(h->height - 1));
        }
    }
    uint64_t top = p->height + p->header_count - 1;
    if (p->rec.count != view->member_count) {
        return ldg_fail(SQ_EPROOF, "certificate: %u signatures for the %u members of view %llu",
                        p->rec.count, view->member_count, (unsigned long long)view->view_id);
    }
    bool seen[SQ_MEMBERS_MAX] = {false};
    uint64_t max_height = 0;
    for (uint32_t i = 0; i < p->rec.count; i++) {
        const struct ldg_finality *f = &p->rec.sigs[i];
        int mi = -1;
        for (uint32_t j = 0; j < view->member_count; j++) {
            mi = view->members[j].id == f->signer ? (int)j : mi;
        }
        if (mi < 0) {
            return ldg_fail(SQ_EPROOF, "certificate: signer %u is not a member of view %llu",
                            f->signer, (unsigned long long)view->view_id);
        }
        if (seen[mi]) {
            return ldg_fail(SQ_EPROOF, "certificate: member %u signed twice", f->signer);
        }
        seen[mi] = true;
        if (f->height < p->height || f->height > top) {
            return ldg_fail(SQ_EPROOF,
                            "certificate: member %u signed height %llu outside %llu..%llu",
                            f->signer, (unsigned long long)f->height, (unsigned long long)p->height,
                            (unsigned long long)top);
        }
        size_t hi = (size_t)(f->height - p->height);
        if (p->headers[hi].view_id != view->view_id) {
            return ldg_fail(SQ_EPROOF, "certificate: block %llu is in view %llu, not %llu",
                            (unsigned long long)f->height,
                            (unsigned long long)p->headers[hi].view_id,
                            (unsigned long long)view->view_id);
        }
        uint8_t digest[LDG_HASH_BYTES];
        ldg_finality_digest_raw(chain_id, chain_id_size, view->view_id, f->height, p->hashes[hi],
                                f->acc_root, digest);
        if (sqc_verify_digest(view->members[mi].pk, SQC_DOMAIN_FINALITY, digest, f->sig) != SQ_OK) {
            return ldg_fail(SQ_EBADSIG, "certificate: signature of member %u at %llu is bad",
                            f->signer, (unsigned long long)f->height);
        }
        if (f->height >= max_height) {
            if (f->height > max_height || info->signer_count == 0) {
                memcpy(info->top_acc_root, f->acc_root, LDG_HASH_BYTES);
            }
            max_height = f->height;
        }
        info->signer_count++;
    }
    if (max_height != top) {
        return ldg_fail(SQ_EPROOF, "certificate: headers run to %llu, signatures only to %llu",
                        (unsigned long long)top, (unsigned long long)max_height);
    }
    info->height = p->height;
    info->top_height = top;
    info->view_id = view->view_id;
    memcpy(info->block_hash, p->hashes[0], LDG_HASH_BYTES);
    return SQ_OK;
}

int ldg_cert_verify(const uint8_t *buf, size_t size, const char *chain_id, size_t chain_id_size,
                    const struct ldg_view *view, struct ldg_cert_info *info)
{
    memset(info, 0, sizeof(*info));
    struct ldg_cert_parsed *p = malloc(sizeof(*p));
    if (p == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    int rc = ldg_cert_parse(buf, size, p);
    if (rc == SQ_OK) {
        rc = ldg_cert_check(p, chain_id, chain_id_size, view, info);
        ldg_cert_parsed_free(p);
    }
    free(p);
    return rc;
}

int ldg_cert_view_id(const uint8_t *buf, size_t size, uint64_t *view_id)
{
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t version;
    char chain[SQ_CHAIN_ID_BYTES_MAX];
    uint8_t chain_size;
    uint64_t height;
    *view_id = 0;
    if (sq_dec_u8(&dec, &version) != SQ_OK || version != LDG_FORMAT_VERSION) {
        return ldg_fail(version != LDG_FORMAT_VERSION ? SQ_EVERSION : SQ_ECORRUPT,
                        "certificate: bad version");
    }
    int rc = ldg_dec_chain(&dec, chain, &chain_size);
    if (rc != SQ_OK) {
        return rc;
    }
    sq_dec_u64(&dec, &height);
    if (sq_dec_u64(&dec, view_id) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "certificate: truncated");
    }
    return SQ_OK;
}

/* ---- building from the store ---- */

int ldg_txn_cert_build(struct ldg_store *s, MDB_txn *txn, uint64_t height, uint8_t **out,
                       size_t *size, uint64_t *top_height)
{
    *out = NULL;
    *size = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[LDG_DB_CERTS], &cur);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "certs");
    }
    uint8_t key[8];
    ldg_be64_store(key, height);
    MDB_val k = {8, key};
    MDB_val v;
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND) {
        mdb_cursor_close(cur);
        return ldg_fail(SQ_ENOTFOUND, "block %llu is not certified yet",
                        (unsigned long long)height);
    }
    if (rc != MDB_SUCCESS) {
        mdb_cursor_close(cur);
        return ldg_mdb_err(rc, "certs");
    }
    struct ldg_cert_record *rec = malloc(sizeof(*rec));
    if (rec == NULL) {
        mdb_cursor_close(cur);
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    int err = k.mv_size == 8 ? ldg_cert_record_decode(v.mv_data, v.mv_size, rec)
                             : ldg_fail(SQ_ECORRUPT, "certs key of %zu bytes", k.mv_size);
    mdb_cursor_close(cur);
    if (err != SQ_OK) {
        free(rec);
        return err;
    }
    uint64_t top = 0;
    for (uint32_t i = 0; i < rec->count; i++) {
        top = rec->sigs[i].height > top ? rec->sigs[i].height : top;
    }
    if (top < height) {
        free(rec);
        return ldg_fail(SQ_ECORRUPT, "certificate record below the height it is filed under");
    }
    if (top - height + 1 > LDG_CHAIN_HEADERS_MAX) {
        free(rec);
        return ldg_fail(SQ_ETOOBIG, "a certificate for %llu needs %llu headers (limit %u)",
                        (unsigned long long)height, (unsigned long long)(top - height + 1),
                        LDG_CHAIN_HEADERS_MAX);
    }
    size_t nh = (size_t)(top - height + 1);
    struct ldg_bytes *headers = malloc(nh * sizeof(*headers));
    if (headers == NULL) {
        free(rec);
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    err = SQ_OK;
    for (size_t i = 0; i < nh && err == SQ_OK; i++) {
        err = ldg_read_header(s, txn, height + i, NULL, NULL, &headers[i].data, &headers[i].size);
    }
    if (err == SQ_OK) {
        struct ldg_cert_src src = {
            .chain_id = s->g->chain_id,
            .chain_id_size = s->g->chain_id_size,
            .height = height,
            .rec = rec,
            .top = top,
            .headers = headers,
        };
        err = ldg_cert_encode(&src, out, size);
    }
    if (top_height != NULL) {
        *top_height = top;
    }
    free(headers);
    free(rec);
    return err;
}

int ldg_cert_build(struct ldg_store *s, uint64_t height, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    if (height > ldg_store_persisted_height(s)) {
        return ldg_fail(SQ_ENOTFOUND, "block %llu is not durable yet", (unsigned long long)height);
    }
    MDB_txn *txn;
    int rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    rc = ldg_txn_cert_build(s, txn, height, out, size, NULL);
    ldg_rtxn_end(s, txn);
    return rc;
}
