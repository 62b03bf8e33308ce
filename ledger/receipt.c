/* Receipts: self-contained proofs that a transaction is final, verifiable with the genesis only. */
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

struct vc_entry {
    const uint8_t *header;
    size_t header_size;
    const uint8_t *body;
    size_t body_size;
    size_t path_count;
    uint8_t path[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES];
};

static void enc_path(struct sq_enc *enc, const uint8_t (*path)[LDG_HASH_BYTES], size_t count)
{
    sq_enc_u8(enc, (uint8_t)count);
    for (size_t i = 0; i < count; i++) {
        sq_enc_bytes(enc, path[i], LDG_HASH_BYTES);
    }
}

static int dec_path(struct sq_dec *dec, uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    uint8_t n;
    *count = 0;
    if (sq_dec_u8(dec, &n) != SQ_OK) {
        return SQ_ECORRUPT;
    }
    if (n > SQ_MERKLE_DEPTH_MAX) {
        return SQ_ECORRUPT;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (sq_dec_bytes(dec, path[i], LDG_HASH_BYTES) != SQ_OK) {
            return SQ_ECORRUPT;
        }
    }
    *count = n;
    return SQ_OK;
}

/* Collects the view-change blocks at heights 1..top (with their inclusion paths in the tree of
 * top + 1 leaves). *out malloc'd. */
static int collect_views(struct ldg_store *s, MDB_txn *txn, uint64_t top, struct vc_entry **out,
                         size_t *count)
{
    *out = NULL;
    *count = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, s->dbi[LDG_DB_VIEWS], &cur);
    if (rc != MDB_SUCCESS) {
        return ldg_mdb_err(rc, "views");
    }
    struct vc_entry *list = NULL;
    size_t n = 0;
    size_t cap = 0;
    MDB_val k;
    MDB_val v;
    int err = SQ_OK;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == MDB_SUCCESS && err == SQ_OK;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (v.mv_size != 8) {
            err = ldg_fail(SQ_ECORRUPT, "views entry of %zu bytes", v.mv_size);
            break;
        }
        uint64_t h = sq_le64_load(v.mv_data);
        if (h == 0) {
            continue; /* genesis: the verifier recomputes it */
        }
        if (h > top) {
            break;
        }
        if (n == LDG_RECEIPT_VIEWS_MAX) {
            err = ldg_fail(SQ_ETOOBIG, "more than %u view changes", LDG_RECEIPT_VIEWS_MAX);
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            struct vc_entry *bigger = realloc(list, cap * sizeof(*list));
            if (bigger == NULL) {
                err = ldg_fail(SQ_ENOMEM, "out of memory");
                break;
            }
            list = bigger;
        }
        struct vc_entry *e = &list[n];
        err = ldg_read_header(s, txn, h, NULL, NULL, &e->header, &e->header_size);
        if (err == SQ_OK) {
            err = ldg_read_body(s, txn, h, &e->body, &e->body_size);
        }
        if (err == SQ_OK) {
            err = ldg_txn_acc_inclusion(s, txn, h, top + 1, e->path, &e->path_count);
        }
        n++;
    }
    mdb_cursor_close(cur);
    if (err == SQ_OK && rc != MDB_SUCCESS && rc != MDB_NOTFOUND) {
        err = ldg_mdb_err(rc, "views");
    }
    if (err != SQ_OK) {
        free(list);
        return err;
    }
    *out = list;
    *count = n;
    return SQ_OK;
}

int ldg_receipt_build(struct ldg_store *s, const uint8_t txid[LDG_HASH_BYTES], uint8_t **out,
                      size_t *size)
{
    *out = NULL;
    *size = 0;
    uint64_t height;
    uint32_t index;
    uint8_t result;
    int rc = ldg_tx_find(s, txid, &height, &index, &result);
    if (rc != SQ_OK) {
        return rc;
    }
    MDB_txn *txn;
    rc = ldg_rtxn_begin(s, &txn);
    if (rc != SQ_OK) {
        return rc;
    }
    uint8_t *cert = NULL;
    size_t cert_size = 0;
    uint64_t top = 0;
    struct vc_entry *views = NULL;
    size_t view_count = 0;
    uint8_t(*leaves)[LDG_HASH_BYTES] = NULL;
    uint8_t(*tx_path)[LDG_HASH_BYTES] = malloc(2 * SQ_MERKLE_DEPTH_MAX * LDG_HASH_BYTES);
    uint8_t(*res_path)[LDG_HASH_BYTES] = tx_path + SQ_MERKLE_DEPTH_MAX;
    size_t tx_path_count = 0;
    size_t res_path_count = 0;
    const uint8_t *body;
    size_t body_size;
    uint32_t count;
    const uint8_t *txs;
    size_t txs_size;
    const uint8_t *results;
    struct ldg_bytes tx = {NULL, 0};
    if (tx_path == NULL) {
        rc = ldg_fail(SQ_ENOMEM, "out of memory");
        goto out;
    }
    rc = ldg_read_body(s, txn, height, &body, &body_size);
    if (rc == SQ_OK) {
        rc = ldg_body_decode(body, body_size, &count, &txs, &txs_size, &results);
    }
    if (rc == SQ_OK && (index >= count || results[index] != result)) {
        rc =
            ldg_fail(SQ_ECORRUPT, "tx index disagrees with block %llu", (unsigned long long)height);
    }
    if (rc != SQ_OK) {
        goto out;
    }
    leaves = malloc((size_t)count * LDG_HASH_BYTES);
    if (leaves == NULL) {
        rc = ldg_fail(SQ_ENOMEM, "out of memory");
        goto out;
    }
    struct ldg_tx_iter it;
    struct ldg_bytes one;
    ldg_tx_iter_init(&it, txs, txs_size, count);
    for (uint32_t i = 0; ldg_tx_iter_next(&it, &one); i++) {
        sqc_merkle_leaf_hash(leaves[i], one.data, one.size);
        if (i == index) {
            tx = one;
        }
    }
    rc = sqc_merkle_inclusion_proof(index, count, sqc_merkle_leaf_from_array, leaves, tx_path,
                                    &tx_path_count);
    if (rc != SQ_OK) {
        goto out;
    }
    for (uint32_t i = 0; i < count; i++) {
        ldg_result_leaf(results[i], leaves[i]);
    }
    rc = sqc_merkle_inclusion_proof(index, count, sqc_merkle_leaf_from_array, leaves, res_path,
                                    &res_path_count);
    if (rc != SQ_OK) {
        goto out;
    }
    rc = ldg_txn_cert_build(s, txn, height, &cert, &cert_size, &top);
    if (rc == SQ_ENOTFOUND) {
        rc = ldg_fail(SQ_EAGAIN, "block %llu is not certified yet", (unsigned long long)height);
    }
    if (rc != SQ_OK) {
        goto out;
    }
    rc = collect_views(s, txn, top, &views, &view_count);
    if (rc != SQ_OK) {
        goto out;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct sq_enc enc;
    for (int pass = 0; pass < 2; pass++) {
        sq_enc_init(&enc, buf, cap);
        sq_enc_u8(&enc, LDG_FORMAT_VERSION);
        ldg_enc_chain(&enc, s->g->chain_id, s->g->chain_id_size);
        sq_enc_lp32(&enc, tx.data, tx.size);
        sq_enc_u32(&enc, index);
        sq_enc_u8(&enc, result);
        enc_path(&enc, tx_path, tx_path_count);
        enc_path(&enc, res_path, res_path_count);
        sq_enc_lp32(&enc, cert, cert_size);
        sq_enc_u32(&enc, (uint32_t)view_count);
        for (size_t i = 0; i < view_count; i++) {
            sq_enc_lp32(&enc, views[i].header, views[i].header_size);
            sq_enc_lp32(&enc, views[i].body, views[i].body_size);
            enc_path(&enc, views[i].path, views[i].path_count);
        }
        if (pass == 0) {
            cap = sq_enc_wanted(&enc);
            if (cap > LDG_RECEIPT_BYTES_MAX) {
                rc = ldg_fail(SQ_ETOOBIG, "receipt of %zu bytes exceeds %u", cap,
                              LDG_RECEIPT_BYTES_MAX);
                goto out;
            }
            buf = malloc(cap);
            if (buf == NULL) {
                rc = ldg_fail(SQ_ENOMEM, "out of memory for a receipt");
                goto out;
            }
        }
    }
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    *out = buf;
    *size = sq_enc_len(&enc);

out:
    ldg_rtxn_end(s, txn);
    free(leaves);
    free(tx_path);
    free(cert);
    free(views);
    return rc;
}

/* ---- verification ---- */

struct receipt_parsed {
    char chain_id[SQ_CHAIN_ID_BYTES_MAX];
    uint8_t chain_id_size;
    const uint8_t *tx;
    size_t tx_size;
    uint32_t index;
    uint8_t result;
    size_t tx_path_count;
    uint8_t tx_path[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES];
    size_t res_path_count;
    uint8_t res_path[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES];
    const uint8_t *cert;
    size_t cert_size;
    uint32_t view_count;
    const uint8_t *views; /* view_count entries, each: lp32 header, lp32 body, path */
    size_t views_size;
};

static int receipt_parse(const uint8_t *buf, size_t size, struct receipt_parsed *r)
{
    if (size > LDG_RECEIPT_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "receipt: %zu bytes exceeds %u", size, LDG_RECEIPT_BYTES_MAX);
    }
    struct sq_dec dec;
    sq_dec_init(&dec, buf, size);
    uint8_t version;
    if (sq_dec_u8(&dec, &version) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "receipt: empty");
    }
    if (version != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EVERSION, "receipt: format version %u, expected %u", version,
                        LDG_FORMAT_VERSION);
    }
    int rc = ldg_dec_chain(&dec, r->chain_id, &r->chain_id_size);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "receipt");
    }
    if (sq_dec_lp32(&dec, SQ_TX_BYTES_MAX, &r->tx, &r->tx_size) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "receipt: transaction length out of range or truncated");
    }
    sq_dec_u32(&dec, &r->index);
    sq_dec_u8(&dec, &r->result);
    if (sq_dec_status(&dec) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "receipt: truncated after the transaction");
    }
    if (dec_path(&dec, r->tx_path, &r->tx_path_count) != SQ_OK ||
        dec_path(&dec, r->res_path, &r->res_path_count) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "receipt: malformed Merkle path");
    }
    if (sq_dec_lp32(&dec, LDG_CERT_BYTES_MAX, &r->cert, &r->cert_size) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "receipt: certificate length out of range or truncated");
    }
    if (sq_dec_u32(&dec, &r->view_count) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "receipt: truncated before the view changes");
    }
    if (r->view_count > LDG_RECEIPT_VIEWS_MAX) {
        return ldg_fail(SQ_ECORRUPT, "receipt: %u view changes exceed %u", r->view_count,
                        LDG_RECEIPT_VIEWS_MAX);
    }
    r->views = buf + (size - sq_dec_left(&dec));
    r->views_size = sq_dec_left(&dec);
    return SQ_OK;
}

struct vc_parsed {
    struct ldg_header hdr;
    uint8_t hash[LDG_HASH_BYTES];
    struct ldg_view view;
    size_t path_count;
    uint8_t path[SQ_MERKLE_DEPTH_MAX][LDG_HASH_BYTES];
};

static int vc_next(struct sq_dec *dec, uint32_t i, struct vc_parsed *vc)
{
    const uint8_t *h;
    size_t hs;
    const uint8_t *b;
    size_t bs;
    if (sq_dec_lp32(dec, LDG_HEADER_BYTES_MAX, &h, &hs) != SQ_OK ||
        sq_dec_lp32(dec, LDG_BODY_BYTES_MAX, &b, &bs) != SQ_OK ||
        dec_path(dec, vc->path, &vc->path_count) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "receipt: view change %u truncated or malformed", i);
    }
    int rc = ldg_header_decode(h, hs, &vc->hdr);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "receipt: view change %u", i);
    }
    if (vc->hdr.kind != LDG_BLOCK_VIEW) {
        return ldg_fail(SQ_EPROOF, "receipt: view change %u is not a view-change block", i);
    }
    sqc_sha256(vc->hash, h, hs);
    uint8_t root[LDG_HASH_BYTES];
    sqc_sha256(root, b, bs);
    if (memcmp(root, vc->hdr.tx_root, LDG_HASH_BYTES) != 0) {
        return ldg_fail(SQ_EPROOF, "receipt: view change %u: record does not match its header", i);
    }
    rc = ldg_view_decode(b, bs, &vc->view);
    if (rc != SQ_OK) {
        return ldg_fail_prefix(rc, "receipt: view change %u", i);
    }
    if (vc->view.view_id != vc->hdr.view_id) {
        return ldg_fail(SQ_EPROOF, "receipt: view change %u: record and header disagree", i);
    }
    return SQ_OK;
}

int ldg_receipt_verify(const struct ldg_genesis *g, const uint8_t *buf, size_t size,
                       struct ldg_receipt_info *info)
{
    memset(info, 0, sizeof(*info));
    struct receipt_parsed *r = calloc(1, sizeof(*r));
    struct ldg_cert_parsed *p = calloc(1, sizeof(*p));
    struct vc_parsed *vc = calloc(1, sizeof(*vc));
    struct ldg_view *view = calloc(1, sizeof(*view));
    uint8_t *gbuf = malloc(LDG_HEADER_BYTES_MAX + 16384);
    int rc;
    if (r == NULL || p == NULL || vc == NULL || view == NULL || gbuf == NULL) {
        rc = ldg_fail(SQ_ENOMEM, "out of memory");
        goto out;
    }
    rc = receipt_parse(buf, size, r);
    if (rc != SQ_OK) {
        goto out;
    }
    if (!ldg_chain_equal(r->chain_id, r->chain_id_size, g->chain_id, g->chain_id_size)) {
        rc = ldg_fail(SQ_EPROOF, "receipt: for chain '%.*s', genesis is '%s'",
                      (int)r->chain_id_size, r->chain_id, g->chain_id);
        goto out;
    }
    rc = ldg_cert_parse(r->cert, r->cert_size, p);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "receipt");
        goto out;
    }
    uint64_t top = p->height + p->header_count - 1;
    /* The accumulator root the view changes are proven against: signed at the top height. */
    const uint8_t *root = NULL;
    for (uint32_t i = 0; i < p->rec.count && root == NULL; i++) {
        root = p->rec.sigs[i].height == top ? p->rec.sigs[i].acc_root : NULL;
    }
    if (root == NULL) {
        rc = ldg_fail(SQ_EPROOF, "receipt: no signature at the top of the header chain");
        goto out;
    }
    /* Follow the view changes from genesis. */
    size_t hs;
    size_t bs;
    uint8_t prev_hash[LDG_HASH_BYTES];
    rc = ldg_genesis_block(g, gbuf, LDG_HEADER_BYTES_MAX + 16384, &hs, &bs, prev_hash);
    if (rc != SQ_OK) {
        goto out;
    }
    ldg_genesis_view(g, view);
    uint64_t prev_height = 0;
    struct sq_dec dec;
    sq_dec_init(&dec, r->views, r->views_size);
    for (uint32_t i = 0; i < r->view_count; i++) {
        rc = vc_next(&dec, i, vc);
        if (rc != SQ_OK) {
            goto out;
        }
        uint64_t h = vc->hdr.height;
        if (!ldg_chain_equal(vc->hdr.chain_id, vc->hdr.chain_id_size, g->chain_id,
                             g->chain_id_size)) {
            rc = ldg_fail(SQ_EPROOF, "receipt: view change at %llu is of another chain",
                          (unsigned long long)h);
            goto out;
        }
        if (h <= prev_height || h > top || vc->view.prev_height != prev_height ||
            memcmp(vc->view.prev_hash, prev_hash, LDG_HASH_BYTES) != 0) {
            rc =
                ldg_fail(SQ_EPROOF, "receipt: view change at %llu does not link to the one at %llu",
                         (unsigned long long)h, (unsigned long long)prev_height);
            goto out;
        }
        rc = ldg_view_rules(view, &vc->view);
        if (rc != SQ_OK) {
            ldg_fail_prefix(SQ_EPROOF, "receipt: view change at %llu", (unsigned long long)h);
            rc = SQ_EPROOF;
            goto out;
        }
        uint8_t leaf[LDG_HASH_BYTES];
        sqc_merkle_leaf_hash(leaf, vc->hash, LDG_HASH_BYTES);
        if (sqc_merkle_inclusion_verify(leaf, h, top + 1,
                                        (const uint8_t(*)[LDG_HASH_BYTES])vc->path, vc->path_count,
                                        root) != SQ_OK) {
            rc = ldg_fail(SQ_EPROOF, "receipt: view change at %llu is not in the accumulator",
                          (unsigned long long)h);
            goto out;
        }
        if (h >= p->height && memcmp(vc->hash, p->hashes[h - p->height], LDG_HASH_BYTES) != 0) {
            rc = ldg_fail(SQ_EPROOF, "receipt: view change at %llu differs from the header chain",
                          (unsigned long long)h);
            goto out;
        }
        *view = vc->view;
        prev_height = h;
        memcpy(prev_hash, vc->hash, LDG_HASH_BYTES);
    }
    if (sq_dec_left(&dec) != 0) {
        rc = ldg_fail(SQ_ECORRUPT, "receipt: %zu stray bytes", sq_dec_left(&dec));
        goto out;
    }
    rc = ldg_cert_check(p, g->chain_id, g->chain_id_size, view, &info->cert);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "receipt");
        goto out;
    }
    /* The transaction and its result are in the certified block. */
    const struct ldg_header *hdr = &p->headers[0];
    if (hdr->kind != LDG_BLOCK_BATCH || r->index >= hdr->tx_count) {
        rc = ldg_fail(SQ_EPROOF, "receipt: block %llu holds no transaction %u",
                      (unsigned long long)hdr->height, r->index);
        goto out;
    }
    rc = ldg_tx_decode(r->tx, r->tx_size, &info->tx);
    if (rc != SQ_OK) {
        ldg_fail_prefix(rc, "receipt");
        goto out;
    }
    uint8_t leaf[LDG_HASH_BYTES];
    sqc_merkle_leaf_hash(leaf, r->tx, r->tx_size);
    if (sqc_merkle_inclusion_verify(leaf, r->index, hdr->tx_count,
                                    (const uint8_t(*)[LDG_HASH_BYTES])r->tx_path, r->tx_path_count,
                                    hdr->tx_root) != SQ_OK) {
        rc = ldg_fail(SQ_EPROOF, "receipt: the transaction is not in block %llu",
                      (unsigned long long)hdr->height);
        goto out;
    }
    if (r->result >= LDG_RESULT_COUNT_) {
        rc = ldg_fail(SQ_ECORRUPT, "receipt: unknown result code %u", r->result);
        goto out;
    }
    ldg_result_leaf(r->result, leaf);
    if (sqc_merkle_inclusion_verify(leaf, r->index, hdr->tx_count,
                                    (const uint8_t(*)[LDG_HASH_BYTES])r->res_path,
                                    r->res_path_count, hdr->results_root) != SQ_OK) {
        rc = ldg_fail(SQ_EPROOF, "receipt: the result is not block %llu's",
                      (unsigned long long)hdr->height);
        goto out;
    }
    ldg_tx_id(r->tx, r->tx_size, info->txid);
    info->height = hdr->height;
    info->index = r->index;
    info->result = r->result;
    info->view_changes = r->view_count;
    rc = SQ_OK;

out:
    if (p != NULL) {
        ldg_cert_parsed_free(p);
    }
    if (rc != SQ_OK) {
        memset(info, 0, sizeof(*info));
    }
    free(r);
    free(p);
    free(vc);
    free(view);
    free(gbuf);
    return rc;
}
