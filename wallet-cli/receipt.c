/* Receipt files and their offline verification. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "wallet-cli/wallet.h"
#include "wallet-cli/wallet_int.h"

#define RECEIPT_FORMAT "squall-receipt"

int wal_receipt_save(const char *path, const uint8_t id[LDG_HASH_BYTES], uint64_t height,
                     uint64_t certified_height, const uint8_t *receipt, size_t size, bool replace,
                     struct wal_err *e)
{
    char *hex = malloc(2 * size + 1);
    if (hex == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    wal_hex(hex, 2 * size + 1, receipt, size);
    json_t *j = json_pack("{s:s, s:i, s:o, s:I, s:I, s:s}", "format", RECEIPT_FORMAT, "version",
                          1, "id", wal_json_hash_new(id, LDG_HASH_BYTES), "height",
                          (json_int_t)height, "certified_height", (json_int_t)certified_height,
                          "receipt", hex);
    free(hex);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(j);
    if (text == NULL) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    size_t n = strlen(text);
    text[n] = '\n';
    int rc = wal_file_write(path, text, n + 1, replace, e);
    free(text);
    return rc;
}

static bool all_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit(p[i])) {
            return false;
        }
    }
    return true;
}

int wal_receipt_load(const char *path, uint8_t **data, size_t *size, bool *has_id,
                     uint8_t id[LDG_HASH_BYTES], struct wal_err *e)
{
    *data = NULL;
    *size = 0;
    *has_id = false;
    uint8_t *text;
    size_t n;
    int rc = wal_file_read(path, WAL_FILE_BYTES_MAX, &text, &n, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    size_t b = 0;
    while (b < n && isspace(text[b])) {
        b++;
    }
    size_t end = n;
    while (end > b && isspace(text[end - 1])) {
        end--;
    }
    if (b < end && text[b] == '{') {
        json_error_t jerr;
        json_t *j = json_loadb((const char *)text + b, end - b, 0, &jerr);
        free(text);
        if (j == NULL) {
            return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: not valid JSON (line %d: %s)", path,
                            jerr.line, jerr.text);
        }
        const char *format = json_string_value(json_object_get(j, "format"));
        if (format == NULL || strcmp(format, RECEIPT_FORMAT) != 0) {
            json_decref(j);
            return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s is not a squall receipt file", path);
        }
        json_t *ver = json_object_get(j, "version");
        if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
            json_decref(j);
            return wal_fail(e, WAL_EXIT_IO, "bad_file",
                            "%s: receipt file version not supported (this squall reads 1)", path);
        }
        struct wal_err tmp;
        if (json_object_get(j, "id") != NULL) {
            if (wal_json_hash(j, "id", id, &tmp) != WAL_EXIT_OK) {
                json_decref(j);
                return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: 'id' is not 64 hex digits",
                                path);
            }
            *has_id = true;
        }
        rc = wal_json_hex(j, "receipt", LDG_RECEIPT_BYTES_MAX, data, size, &tmp);
        json_decref(j);
        if (rc != WAL_EXIT_OK) {
            return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: 'receipt' is missing or not hex",
                            path);
        }
        return WAL_EXIT_OK;
    }
    if (end > b && (end - b) % 2 == 0 && all_hex(text + b, end - b)) {
        size_t got = 0;
        uint8_t *raw = malloc((end - b) / 2 + 1);
        if (raw == NULL) {
            free(text);
            return wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
        }
        int err = sqc_hex_decode(raw, (end - b) / 2 + 1, (const char *)text + b, end - b, &got);
        free(text);
        if (err != SQ_OK || got > LDG_RECEIPT_BYTES_MAX) {
            free(raw);
            return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: hex that is not a receipt", path);
        }
        *data = raw;
        *size = got;
        return WAL_EXIT_OK;
    }
    if (n > LDG_RECEIPT_BYTES_MAX) {
        free(text);
        return wal_fail(e, WAL_EXIT_IO, "bad_file", "%s: larger than any receipt", path);
    }
    *data = text; /* the raw encoding */
    *size = n;
    return WAL_EXIT_OK;
}

int wal_receipt_check(const struct ldg_genesis *g, const uint8_t *data, size_t size,
                      const uint8_t *claimed_id, struct ldg_receipt_info *info,
                      struct wal_err *e)
{
    int rc = ldg_receipt_verify(g, data, size, info);
    if (rc != SQ_OK) {
        const char *code = rc == SQ_EBADSIG   ? "bad_signature"
                           : rc == SQ_EPROOF  ? "bad_proof"
                           : rc == SQ_EVERSION ? "bad_version"
                                               : "corrupt";
        return wal_fail(e, WAL_EXIT_FAULT, code, "receipt does not verify (%s): %s",
                        sq_errname(rc), ldg_errmsg());
    }
    if (claimed_id != NULL && memcmp(claimed_id, info->txid, LDG_HASH_BYTES) != 0) {
        char a[2 * LDG_HASH_BYTES + 1];
        char b[2 * LDG_HASH_BYTES + 1];
        wal_hex(a, sizeof(a), claimed_id, LDG_HASH_BYTES);
        wal_hex(b, sizeof(b), info->txid, LDG_HASH_BYTES);
        return wal_fail(e, WAL_EXIT_FAULT, "wrong_tx",
                        "the file names transaction %s but the receipt proves %s", a, b);
    }
    return WAL_EXIT_OK;
}

json_t *wal_receipt_json(const struct ldg_receipt_info *info)
{
    json_t *j = json_object();
    if (j == NULL) {
        return NULL;
    }
    json_object_set_new(j, "id", wal_json_hash_new(info->txid, LDG_HASH_BYTES));
    json_object_set_new(j, "tx", wal_tx_json(&info->tx));
    json_object_set_new(j, "height", json_integer((json_int_t)info->height));
    json_object_set_new(j, "index", json_integer(info->index));
    json_object_set_new(j, "result", json_string(ldg_result_name(info->result)));
    json_t *c = json_object();
    json_object_set_new(c, "height", json_integer((json_int_t)info->cert.height));
    json_object_set_new(c, "top_height", json_integer((json_int_t)info->cert.top_height));
    json_object_set_new(c, "view_id", json_integer((json_int_t)info->cert.view_id));
    json_object_set_new(c, "signers", json_integer(info->cert.signer_count));
    json_object_set_new(c, "block_hash", wal_json_hash_new(info->cert.block_hash, LDG_HASH_BYTES));
    json_object_set_new(c, "acc_root", wal_json_hash_new(info->cert.top_acc_root, LDG_HASH_BYTES));
    json_object_set_new(j, "certificate", c);
    json_object_set_new(j, "view_changes", json_integer(info->view_changes));
    return j;
}
