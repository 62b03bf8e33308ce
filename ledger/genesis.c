/* The genesis file: JSON (jansson) in, checked struct and canonical digest out. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/ledger_int.h"

#define GENESIS_DOMAIN "squall/genesis/v1"

void ldg_genesis_free(struct ldg_genesis *g)
{
    if (g == NULL) {
        return;
    }
    free(g->clients);
    free(g->balances);
    free(g);
}

static int parse_key(json_t *j, const char *where, uint8_t pk[SQC_PK_BYTES])
{
    if (!json_is_string(j)) {
        return ldg_fail(SQ_ECORRUPT, "genesis: %s: expected a hex string", where);
    }
    size_t n;
    const char *s = json_string_value(j);
    size_t len = json_string_length(j);
    if (len != 2 * SQC_PK_BYTES || sqc_hex_decode(pk, SQC_PK_BYTES, s, len, &n) != SQ_OK ||
        n != SQC_PK_BYTES) {
        return ldg_fail(SQ_ECORRUPT, "genesis: %s: expected %d hex digits", where,
                        2 * SQC_PK_BYTES);
    }
    return SQ_OK;
}

static int parse_u64(json_t *j, const char *where, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0 || (uint64_t)json_integer_value(j) > max) {
        return ldg_fail(SQ_ECORRUPT, "genesis: %s: expected an integer in 0..%llu", where,
                        (unsigned long long)max);
    }
    *out = (uint64_t)json_integer_value(j);
    return SQ_OK;
}

static int check_keys(json_t *obj, const char *where, const char *const *allowed, size_t n)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < n; i++) {
            ok = ok || strcmp(key, allowed[i]) == 0;
        }
        if (!ok) {
            return ldg_fail(SQ_ECORRUPT, "genesis: %s: unknown field \"%s\"", where, key);
        }
    }
    (void)val;
    return SQ_OK;
}

static int parse_validators(json_t *arr, struct ldg_genesis *g)
{
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        return ldg_fail(SQ_ECORRUPT, "genesis: \"validators\": expected a non-empty array");
    }
    if (json_array_size(arr) > SQ_MEMBERS_MAX) {
        return ldg_fail(SQ_ETOOBIG, "genesis: %zu validators exceed %u", json_array_size(arr),
                        SQ_MEMBERS_MAX);
    }
    static const char *const fields[] = {"id", "public_key", "address"};
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char where[64];
        snprintf(where, sizeof(where), "validators[%zu]", i);
        if (!json_is_object(v)) {
            return ldg_fail(SQ_ECORRUPT, "genesis: %s: expected an object", where);
        }
        int rc = check_keys(v, where, fields, 3);
        if (rc != SQ_OK) {
            return rc;
        }
        struct ldg_member *m = &g->validators[i];
        uint64_t id;
        rc = parse_u64(json_object_get(v, "id"), where, UINT32_MAX, &id);
        if (rc != SQ_OK) {
            return rc;
        }
        m->id = (uint32_t)id;
        rc = parse_key(json_object_get(v, "public_key"), where, m->pk);
        if (rc != SQ_OK) {
            return rc;
        }
        json_t *addr = json_object_get(v, "address");
        if (!json_is_string(addr) || json_string_length(addr) == 0 ||
            json_string_length(addr) > LDG_ADDR_BYTES_MAX) {
            return ldg_fail(SQ_ECORRUPT, "genesis: %s: \"address\" must be 1..%u characters", where,
                            LDG_ADDR_BYTES_MAX);
        }
        m->addr_size = (uint8_t)json_string_length(addr);
        memcpy(m->addr, json_string_value(addr), m->addr_size);
        m->addr[m->addr_size] = '\0';
    }
    g->validator_count = (uint32_t)json_array_size(arr);
    return SQ_OK;
}

static int parse_key_list(json_t *arr, const char *name, size_t max, uint8_t (*keys)[SQC_PK_BYTES],
                          size_t *count)
{
    if (!json_is_array(arr)) {
        return ldg_fail(SQ_ECORRUPT, "genesis: \"%s\": expected an array", name);
    }
    if (json_array_size(arr) > max) {
        return ldg_fail(SQ_ETOOBIG, "genesis: \"%s\": %zu keys exceed %zu", name,
                        json_array_size(arr), max);
    }
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        char where[64];
        snprintf(where, sizeof(where), "%s[%zu]", name, i);
        int rc = parse_key(v, where, keys[i]);
        if (rc != SQ_OK) {
            return rc;
        }
    }
    *count = json_array_size(arr);
    return SQ_OK;
}

static int cmp_key(const void *a, const void *b)
{
    return memcmp(a, b, SQC_PK_BYTES);
}

/* Rejects duplicates in an array of keys (sorted copy). */
static int check_distinct(const uint8_t *keys, size_t stride, size_t count, const char *name)
{
    if (count < 2) {
        return SQ_OK;
    }
    uint8_t(*copy)[SQC_PK_BYTES] = malloc(count * SQC_PK_BYTES);
    if (copy == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        memcpy(copy[i], keys + i * stride, SQC_PK_BYTES);
    }
    qsort(copy, count, SQC_PK_BYTES, cmp_key);
    int rc = SQ_OK;
    for (size_t i = 1; i < count; i++) {
        if (memcmp(copy[i - 1], copy[i], SQC_PK_BYTES) == 0) {
            char hex[2 * SQC_PK_BYTES + 1];
            sqc_hex_encode(hex, sizeof(hex), copy[i], SQC_PK_BYTES);
            rc = ldg_fail(SQ_ECORRUPT, "genesis: \"%s\": key %s appears twice", name, hex);
            break;
        }
    }
    free(copy);
    return rc;
}

int ldg_genesis_encode(const struct ldg_genesis *g, uint8_t **out, size_t *size)
{
    struct sq_enc enc;
    size_t cap = 0;
    uint8_t *buf = NULL;
    *out = NULL;
    *size = 0;
    /* Two passes: measure, then write. */
    for (int pass = 0; pass < 2; pass++) {
        sq_enc_init(&enc, buf, cap);
        sq_enc_bytes(&enc, GENESIS_DOMAIN, strlen(GENESIS_DOMAIN));
        sq_enc_u8(&enc, LDG_FORMAT_VERSION);
        ldg_enc_chain(&enc, g->chain_id, g->chain_id_size);
        sq_enc_u64(&enc, g->time_us);
        sq_enc_u8(&enc, (uint8_t)g->validator_count);
        for (uint32_t i = 0; i < g->validator_count; i++) {
            sq_enc_u32(&enc, g->validators[i].id);
            sq_enc_bytes(&enc, g->validators[i].pk, SQC_PK_BYTES);
            sq_enc_u8(&enc, g->validators[i].addr_size);
            sq_enc_bytes(&enc, g->validators[i].addr, g->validators[i].addr_size);
        }
        sq_enc_u8(&enc, (uint8_t)g->issuer_count);
        sq_enc_bytes(&enc, g->issuers, (size_t)g->issuer_count * SQC_PK_BYTES);
        sq_enc_u8(&enc, (uint8_t)g->gov_count);
        sq_enc_u8(&enc, (uint8_t)g->gov_threshold);
        sq_enc_bytes(&enc, g->gov_keys, (size_t)g->gov_count * SQC_PK_BYTES);
        sq_enc_u8(&enc, g->clients_open ? 1 : 0);
        sq_enc_u32(&enc, (uint32_t)g->client_count);
        for (size_t i = 0; i < g->client_count; i++) {
            sq_enc_bytes(&enc, g->clients[i], SQC_PK_BYTES);
        }
        sq_enc_u32(&enc, (uint32_t)g->balance_count);
        for (size_t i = 0; i < g->balance_count; i++) {
            sq_enc_bytes(&enc, g->balances[i].pk, SQC_PK_BYTES);
            sq_enc_u64(&enc, g->balances[i].amount);
        }
        if (pass == 0) {
            cap = sq_enc_wanted(&enc);
            buf = malloc(cap);
            if (buf == NULL) {
                return ldg_fail(SQ_ENOMEM, "out of memory encoding the genesis");
            }
        }
    }
    SQ_ASSERT(sq_enc_status(&enc) == SQ_OK);
    *out = buf;
    *size = sq_enc_len(&enc);
    return SQ_OK;
}

int ldg_genesis_finish(struct ldg_genesis *g)
{
    if (!ldg_chain_id_valid(g->chain_id, g->chain_id_size)) {
        return ldg_fail(SQ_ECORRUPT,
                        "genesis: \"chain_id\" must be 1..%u printable ASCII characters",
                        SQ_CHAIN_ID_BYTES_MAX);
    }
    g->chain_id[g->chain_id_size] = '\0';
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
        return ldg_fail_prefix(SQ_ECORRUPT, "genesis: validators");
    }
    if (g->issuer_count > SQ_ISSUERS_MAX || g->gov_count > SQ_GOV_KEYS_MAX) {
        return ldg_fail(SQ_ETOOBIG, "genesis: too many issuer or governance keys");
    }
    if (g->gov_count == 0 ? g->gov_threshold != 0
                          : (g->gov_threshold == 0 || g->gov_threshold > g->gov_count)) {
        return ldg_fail(SQ_ECORRUPT, "genesis: governance threshold %u with %u keys",
                        g->gov_threshold, g->gov_count);
    }
    if (g->client_count > LDG_GENESIS_ENTRIES_MAX || g->balance_count > LDG_GENESIS_ENTRIES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "genesis: more than %u clients or balances",
                        LDG_GENESIS_ENTRIES_MAX);
    }
    if (g->clients_open && g->client_count != 0) {
        return ldg_fail(SQ_ECORRUPT, "genesis: an open chain lists no client keys");
    }
    rc = check_distinct(&g->issuers[0][0], SQC_PK_BYTES, g->issuer_count, "issuers");
    if (rc == SQ_OK) {
        rc = check_distinct(&g->gov_keys[0][0], SQC_PK_BYTES, g->gov_count, "governance.keys");
    }
    if (rc == SQ_OK && g->client_count > 0) {
        rc = check_distinct(&g->clients[0][0], SQC_PK_BYTES, g->client_count, "clients");
    }
    if (rc == SQ_OK && g->balance_count > 0) {
        rc =
            check_distinct(g->balances[0].pk, sizeof(g->balances[0]), g->balance_count, "balances");
    }
    if (rc != SQ_OK) {
        return rc;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < g->balance_count; i++) {
        if (g->balances[i].amount > UINT64_MAX - sum) {
            return ldg_fail(SQ_ECORRUPT, "genesis: the balances add up to more than 2^64 - 1");
        }
        sum += g->balances[i].amount;
    }
    uint8_t *enc;
    size_t enc_size;
    rc = ldg_genesis_encode(g, &enc, &enc_size);
    if (rc != SQ_OK) {
        return rc;
    }
    sqc_sha256(g->digest, enc, enc_size);
    free(enc);
    return SQ_OK;
}

static int parse_doc(json_t *root, struct ldg_genesis *g)
{
    static const char *const fields[] = {"format",  "chain_id",   "time_us", "validators",
                                         "issuers", "governance", "clients", "balances"};
    if (!json_is_object(root)) {
        return ldg_fail(SQ_ECORRUPT, "genesis: the document is not a JSON object");
    }
    int rc = check_keys(root, "top level", fields, SQ_ARRAY_LEN(fields));
    if (rc != SQ_OK) {
        return rc;
    }
    json_t *format = json_object_get(root, "format");
    if (!json_is_integer(format)) {
        return ldg_fail(SQ_ECORRUPT, "genesis: \"format\" missing or not an integer");
    }
    if (json_integer_value(format) != LDG_FORMAT_VERSION) {
        return ldg_fail(SQ_EVERSION, "genesis: format %lld, expected %d",
                        (long long)json_integer_value(format), LDG_FORMAT_VERSION);
    }
    json_t *chain = json_object_get(root, "chain_id");
    if (!json_is_string(chain) || json_string_length(chain) == 0 ||
        json_string_length(chain) > SQ_CHAIN_ID_BYTES_MAX) {
        return ldg_fail(SQ_ECORRUPT, "genesis: \"chain_id\" must be a string of 1..%u bytes",
                        SQ_CHAIN_ID_BYTES_MAX);
    }
    g->chain_id_size = (uint8_t)json_string_length(chain);
    memcpy(g->chain_id, json_string_value(chain), g->chain_id_size);
    json_t *t = json_object_get(root, "time_us");
    if (t != NULL) {
        rc = parse_u64(t, "\"time_us\"", INT64_MAX, &g->time_us);
        if (rc != SQ_OK) {
            return rc;
        }
    }
    rc = parse_validators(json_object_get(root, "validators"), g);
    if (rc != SQ_OK) {
        return rc;
    }
    json_t *issuers = json_object_get(root, "issuers");
    if (issuers != NULL) {
        size_t n;
        rc = parse_key_list(issuers, "issuers", SQ_ISSUERS_MAX, g->issuers, &n);
        if (rc != SQ_OK) {
            return rc;
        }
        g->issuer_count = (uint32_t)n;
    }
    json_t *gov = json_object_get(root, "governance");
    if (gov != NULL) {
        static const char *const gov_fields[] = {"threshold", "keys"};
        if (!json_is_object(gov)) {
            return ldg_fail(SQ_ECORRUPT, "genesis: \"governance\": expected an object");
        }
        rc = check_keys(gov, "governance", gov_fields, 2);
        if (rc != SQ_OK) {
            return rc;
        }
        uint64_t k;
        rc = parse_u64(json_object_get(gov, "threshold"), "governance.threshold", SQ_GOV_KEYS_MAX,
                       &k);
        if (rc != SQ_OK) {
            return rc;
        }
        size_t n;
        rc = parse_key_list(json_object_get(gov, "keys"), "governance.keys", SQ_GOV_KEYS_MAX,
                            g->gov_keys, &n);
        if (rc != SQ_OK) {
            return rc;
        }
        g->gov_threshold = (uint32_t)k;
        g->gov_count = (uint32_t)n;
    }
    json_t *clients = json_object_get(root, "clients");
    if (json_is_string(clients) && strcmp(json_string_value(clients), "open") == 0) {
        g->clients_open = true;
    } else if (json_is_array(clients)) {
        size_t n = json_array_size(clients);
        if (n > LDG_GENESIS_ENTRIES_MAX) {
            return ldg_fail(SQ_ETOOBIG, "genesis: %zu clients exceed %u", n,
                            LDG_GENESIS_ENTRIES_MAX);
        }
        g->clients = malloc((n ? n : 1) * SQC_PK_BYTES);
        if (g->clients == NULL) {
            return ldg_fail(SQ_ENOMEM, "out of memory for %zu clients", n);
        }
        rc = parse_key_list(clients, "clients", LDG_GENESIS_ENTRIES_MAX, g->clients,
                            &g->client_count);
        if (rc != SQ_OK) {
            return rc;
        }
    } else {
        return ldg_fail(SQ_ECORRUPT,
                        "genesis: \"clients\" must be \"open\" or an array of client keys");
    }
    json_t *balances = json_object_get(root, "balances");
    if (balances != NULL) {
        if (!json_is_array(balances)) {
            return ldg_fail(SQ_ECORRUPT, "genesis: \"balances\": expected an array");
        }
        size_t n = json_array_size(balances);
        if (n > LDG_GENESIS_ENTRIES_MAX) {
            return ldg_fail(SQ_ETOOBIG, "genesis: %zu balances exceed %u", n,
                            LDG_GENESIS_ENTRIES_MAX);
        }
        g->balances = calloc(n ? n : 1, sizeof(*g->balances));
        if (g->balances == NULL) {
            return ldg_fail(SQ_ENOMEM, "out of memory for %zu balances", n);
        }
        static const char *const bal_fields[] = {"public_key", "amount"};
        size_t i;
        json_t *v;
        json_array_foreach(balances, i, v)
        {
            char where[64];
            snprintf(where, sizeof(where), "balances[%zu]", i);
            if (!json_is_object(v)) {
                return ldg_fail(SQ_ECORRUPT, "genesis: %s: expected an object", where);
            }
            rc = check_keys(v, where, bal_fields, 2);
            if (rc == SQ_OK) {
                rc = parse_key(json_object_get(v, "public_key"), where, g->balances[i].pk);
            }
            if (rc == SQ_OK) {
                rc = parse_u64(json_object_get(v, "amount"), where, INT64_MAX,
                               &g->balances[i].amount);
            }
            if (rc != SQ_OK) {
                return rc;
            }
        }
        g->balance_count = n;
    }
    return ldg_genesis_finish(g);
}

int ldg_genesis_parse(const char *json, size_t size, struct ldg_genesis **out)
{
    *out = NULL;
    if (size > LDG_GENESIS_BYTES_MAX) {
        return ldg_fail(SQ_ETOOBIG, "genesis: %zu bytes exceeds %u", size, LDG_GENESIS_BYTES_MAX);
    }
    json_error_t jerr;
    json_t *root = json_loadb(json, size, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        return ldg_fail(SQ_ECORRUPT, "genesis: JSON error at line %d column %d: %s", jerr.line,
                        jerr.column, jerr.text);
    }
    struct ldg_genesis *g = calloc(1, sizeof(*g));
    if (g == NULL) {
        json_decref(root);
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    int rc = parse_doc(root, g);
    json_decref(root);
    if (rc != SQ_OK) {
        ldg_genesis_free(g);
        return rc;
    }
    *out = g;
    return SQ_OK;
}

int ldg_genesis_load(const char *path, struct ldg_genesis **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        return ldg_fail(e == ENOENT ? SQ_ENOTFOUND : SQ_EIO, "genesis: cannot open %s: %s", path,
                        strerror(e));
    }
    char *buf = malloc((size_t)LDG_GENESIS_BYTES_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return ldg_fail(SQ_ENOMEM, "out of memory reading %s", path);
    }
    size_t n = fread(buf, 1, (size_t)LDG_GENESIS_BYTES_MAX + 1, f);
    int rc;
    if (ferror(f)) {
        rc = ldg_fail(SQ_EIO, "genesis: read error on %s", path);
    } else if (n > LDG_GENESIS_BYTES_MAX) {
        rc = ldg_fail(SQ_ETOOBIG, "genesis: %s is larger than %u bytes", path,
                      LDG_GENESIS_BYTES_MAX);
    } else {
        rc = ldg_genesis_parse(buf, n, out);
    }
    free(buf);
    fclose(f);
    return rc;
}

static json_t *json_key(const uint8_t pk[SQC_PK_BYTES])
{
    char hex[2 * SQC_PK_BYTES + 1];
    sqc_hex_encode(hex, sizeof(hex), pk, SQC_PK_BYTES);
    return json_string(hex);
}

int ldg_genesis_to_json(const struct ldg_genesis *g, char **out)
{
    *out = NULL;
    json_t *root = json_object();
    json_t *vals = json_array();
    json_t *issuers = json_array();
    json_t *govkeys = json_array();
    json_t *bals = json_array();
    json_t *clients = g->clients_open ? json_string("open") : json_array();
    if (root == NULL || vals == NULL || issuers == NULL || govkeys == NULL || bals == NULL ||
        clients == NULL) {
        goto err_nomem;
    }
    for (uint32_t i = 0; i < g->validator_count; i++) {
        const struct ldg_member *m = &g->validators[i];
        json_t *v = json_object();
        if (v == NULL || json_array_append_new(vals, v) != 0 ||
            json_object_set_new(v, "id", json_integer(m->id)) != 0 ||
            json_object_set_new(v, "public_key", json_key(m->pk)) != 0 ||
            json_object_set_new(v, "address", json_stringn(m->addr, m->addr_size)) != 0) {
            goto err_nomem;
        }
    }
    for (uint32_t i = 0; i < g->issuer_count; i++) {
        if (json_array_append_new(issuers, json_key(g->issuers[i])) != 0) {
            goto err_nomem;
        }
    }
    for (uint32_t i = 0; i < g->gov_count; i++) {
        if (json_array_append_new(govkeys, json_key(g->gov_keys[i])) != 0) {
            goto err_nomem;
        }
    }
    for (size_t i = 0; !g->clients_open && i < g->client_count; i++) {
        if (json_array_append_new(clients, json_key(g->clients[i])) != 0) {
            goto err_nomem;
        }
    }
    for (size_t i = 0; i < g->balance_count; i++) {
        json_t *b = json_object();
        if (b == NULL || json_array_append_new(bals, b) != 0 ||
            json_object_set_new(b, "public_key", json_key(g->balances[i].pk)) != 0 ||
            json_object_set_new(b, "amount", json_integer((json_int_t)g->balances[i].amount)) !=
                0) {
            goto err_nomem;
        }
    }
    json_t *gov = json_object();
    if (gov == NULL || json_object_set_new(gov, "threshold", json_integer(g->gov_threshold)) != 0 ||
        json_object_set_new(gov, "keys", govkeys) != 0) {
        json_decref(gov);
        govkeys = NULL;
        goto err_nomem;
    }
    govkeys = NULL;
    if (json_object_set_new(root, "format", json_integer(LDG_FORMAT_VERSION)) != 0 ||
        json_object_set_new(root, "chain_id", json_stringn(g->chain_id, g->chain_id_size)) != 0 ||
        json_object_set_new(root, "time_us", json_integer((json_int_t)g->time_us)) != 0 ||
        json_object_set_new(root, "governance", gov) != 0) {
        goto err_nomem;
    }
    /* From here each container belongs to root once set, even on failure. */
    int bad = json_object_set_new(root, "validators", vals);
    vals = NULL;
    bad |= json_object_set_new(root, "issuers", issuers);
    issuers = NULL;
    bad |= json_object_set_new(root, "clients", clients);
    clients = NULL;
    bad |= json_object_set_new(root, "balances", bals);
    bals = NULL;
    if (bad != 0) {
        goto err_nomem;
    }
    *out = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (*out == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory writing the genesis");
    }
    return SQ_OK;

err_nomem:
    json_decref(root);
    json_decref(vals);
    json_decref(issuers);
    json_decref(govkeys);
    json_decref(bals);
    json_decref(clients);
    return ldg_fail(SQ_ENOMEM, "out of memory writing the genesis");
}

int ldg_genesis_copy(const struct ldg_genesis *g, struct ldg_genesis **out)
{
    *out = NULL;
    struct ldg_genesis *c = malloc(sizeof(*c));
    if (c == NULL) {
        return ldg_fail(SQ_ENOMEM, "out of memory");
    }
    *c = *g;
    c->clients = NULL;
    c->balances = NULL;
    if (g->client_count > 0) {
        c->clients = malloc(g->client_count * SQC_PK_BYTES);
        if (c->clients == NULL) {
            goto err_free;
        }
        memcpy(c->clients, g->clients, g->client_count * SQC_PK_BYTES);
    }
    if (g->balance_count > 0) {
        c->balances = malloc(g->balance_count * sizeof(*g->balances));
        if (c->balances == NULL) {
            goto err_free;
        }
        memcpy(c->balances, g->balances, g->balance_count * sizeof(*g->balances));
    }
    *out = c;
    return SQ_OK;

err_free:
    ldg_genesis_free(c);
    return ldg_fail(SQ_ENOMEM, "out of memory copying the genesis");
}
