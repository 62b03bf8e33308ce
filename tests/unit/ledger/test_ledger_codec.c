/* Encoders and decoders: round trips, every truncation, and precise errors for bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/prng.h"
#include "ldg_test.h"
#include "ledger/ledger_int.h"

/* A random transaction of `kind` with every field filled. */
static void random_tx(struct sq_prng *r, uint8_t kind, struct ldg_tx *tx)
{
    t_tx_init(tx, kind, t_key("client", (unsigned)sq_prng_below(r, 4)), sq_prng_next(r),
              sq_prng_next(r));
    tx->chain_id_size = (uint8_t)sq_prng_range(r, 1, SQ_CHAIN_ID_BYTES_MAX);
    memset(tx->chain_id, 0, sizeof(tx->chain_id));
    for (unsigned i = 0; i < tx->chain_id_size; i++) {
        tx->chain_id[i] = (char)sq_prng_range(r, 0x21, 0x7e);
    }
    sq_prng_fill(r, tx->target, 32);
    if (kind == LDG_TX_TRANSFER || kind == LDG_TX_MINT) {
        tx->amount = sq_prng_next(r);
    }
    if (kind == LDG_TX_ADMIT_VALIDATOR || kind == LDG_TX_REMOVE_VALIDATOR) {
        tx->validator_id = (uint32_t)sq_prng_next(r);
    }
    if (kind == LDG_TX_REMOVE_VALIDATOR) {
        memset(tx->target, 0, 32);
    }
    if (kind == LDG_TX_ADMIT_VALIDATOR) {
        tx->addr_size = (uint8_t)sq_prng_range(r, 1, LDG_ADDR_BYTES_MAX);
        for (unsigned i = 0; i < tx->addr_size; i++) {
            tx->addr[i] = (char)sq_prng_range(r, 0x21, 0x7e);
        }
    }
    if (kind >= LDG_TX_ADMIT_CLIENT) {
        tx->approval_count = (uint8_t)sq_prng_range(r, 1, SQ_GOV_KEYS_MAX);
        uint8_t idx = (uint8_t)sq_prng_below(r, 8);
        for (unsigned i = 0; i < tx->approval_count; i++) {
            tx->approvals[i].key_index = idx;
            idx = (uint8_t)(idx + 1 + sq_prng_below(r, 5));
            sq_prng_fill(r, tx->approvals[i].sig, 64);
        }
    }
    sq_prng_fill(r, tx->sig, 64);
}

static void test_tx_round_trip_every_kind(void **state)
{
    (void)state;
    struct sq_prng r;
    sq_prng_seed(&r, 42);
    for (int round = 0; round < 200; round++) {
        uint8_t kind = (uint8_t)(1 + round % 6);
        struct ldg_tx tx;
        struct ldg_tx back;
        random_tx(&r, kind, &tx);
        uint8_t buf[SQ_TX_BYTES_MAX];
        size_t n;
        T_OK(ldg_tx_encode(&tx, buf, sizeof(buf), &n));
        T_OK(ldg_tx_decode(buf, n, &back));
        assert_memory_equal(&tx, &back, sizeof(tx));
        /* Every strict prefix fails cleanly, and so does one extra byte. */
        for (size_t cut = 0; cut < n; cut++) {
            int rc = ldg_tx_decode(buf, cut, &back);
            assert_true(rc == SQ_ECORRUPT || rc == SQ_EVERSION);
        }
        buf[n] = 0;
        assert_int_equal(ldg_tx_decode(buf, n + 1, &back), SQ_ECORRUPT);
        assert_non_null(strstr(ldg_errmsg(), "stray"));
        /* An encoder given a short buffer says how big it must be. */
        assert_int_equal(ldg_tx_encode(&tx, buf, n - 1, &n), SQ_ETOOBIG);
    }
}

static void test_tx_largest(void **state)
{
    (void)state;
    /* The largest valid transaction (docs/formats.md): 64-byte chain id, admit validator with a
     * 128-byte address and 16 approvals. */
    struct ldg_tx tx;
    t_tx_init(&tx, LDG_TX_ADMIT_VALIDATOR, t_key("gov", 0), 1, 10);
    tx.chain_id_size = SQ_CHAIN_ID_BYTES_MAX;
    memset(tx.chain_id, 'x', SQ_CHAIN_ID_BYTES_MAX);
    tx.addr_size = LDG_ADDR_BYTES_MAX;
    memset(tx.addr, 'a', LDG_ADDR_BYTES_MAX);
    tx.approval_count = SQ_GOV_KEYS_MAX;
    for (unsigned i = 0; i < SQ_GOV_KEYS_MAX; i++) {
        tx.approvals[i].key_index = (uint8_t)i;
    }
    uint8_t buf[SQ_TX_BYTES_MAX];
    size_t n;
    T_OK(ldg_tx_encode(&tx, buf, sizeof(buf), &n));
    assert_int_equal(n, 1389);
    assert_true(n <= SQ_TX_BYTES_MAX);
    struct ldg_tx back;
    T_OK(ldg_tx_decode(buf, n, &back));
    /* One more approval does not fit the format. */
    buf[n - 64 - 16 * 65 - 1] = SQ_GOV_KEYS_MAX + 1;
    assert_int_equal(ldg_tx_decode(buf, n, &back), SQ_ECORRUPT);
}

static void test_tx_precise_errors(void **state)
{
    (void)state;
    uint8_t buf[SQ_TX_BYTES_MAX];
    size_t n = t_transfer(buf, t_key("client", 0), t_key("client", 1)->pk, 5, 1, 10);
    struct ldg_tx tx;
    uint8_t copy[SQ_TX_BYTES_MAX];

    memcpy(copy, buf, n);
    copy[0] = 2;
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_EVERSION);
    assert_non_null(strstr(ldg_errmsg(), "version 2"));

    memcpy(copy, buf, n);
    copy[1] = 9;
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_ECORRUPT);
    assert_non_null(strstr(ldg_errmsg(), "unknown kind 9"));

    memcpy(copy, buf, n);
    copy[2] = 0;
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_ECORRUPT);
    assert_non_null(strstr(ldg_errmsg(), "chain id length 0"));

    memcpy(copy, buf, n);
    copy[3] = ' ';
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_ECORRUPT);
    assert_non_null(strstr(ldg_errmsg(), "non-printable"));

    /* A transfer's payload is 40 bytes: mint and transfer kinds swapped keep the size, but a
     * client-admission kind with a transfer payload does not fit. */
    memcpy(copy, buf, n);
    copy[1] = LDG_TX_ADMIT_CLIENT;
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_ECORRUPT);

    /* Payload length beyond the bytes present. */
    size_t off = 2 + 1 + strlen(T_CHAIN) + 32 + 8 + 8;
    memcpy(copy, buf, n);
    sq_le32_store(copy + off, 5000);
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_ECORRUPT);
    assert_non_null(strstr(ldg_errmsg(), "payload length"));

    /* Too big. */
    assert_int_equal(ldg_tx_decode(copy, SQ_TX_BYTES_MAX + 1, &tx), SQ_ETOOBIG);

    /* Approvals out of order, and a zero count. */
    struct ldg_tx g;
    t_tx_init(&g, LDG_TX_REMOVE_CLIENT, t_key("gov", 0), 1, 10);
    T_OK(ldg_tx_approve(&g, 2, t_key("gov", 2)));
    T_OK(ldg_tx_approve(&g, 0, t_key("gov", 0)));
    assert_int_equal(g.approvals[0].key_index, 0); /* kept sorted */
    assert_int_equal(ldg_tx_approve(&g, 2, t_key("gov", 2)), SQ_EEXIST);
    T_OK(ldg_tx_sign(&g, t_key("gov", 0)));
    T_OK(ldg_tx_encode(&g, copy, sizeof(copy), &n));
    size_t first = n - 64 - 2 * 65; /* the first approval's key index */
    copy[first] = 3;
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_ECORRUPT);
    assert_non_null(strstr(ldg_errmsg(), "not above"));
    copy[first] = 0;
    copy[first - 1] = 0;
    assert_int_equal(ldg_tx_decode(copy, n, &tx), SQ_ECORRUPT);
    g.approval_count = 0;
    assert_int_equal(ldg_tx_encode(&g, copy, sizeof(copy), &n), SQ_EINVAL);
    /* Governance digests exist only for permission changes. */
    uint8_t d[32];
    T_OK(ldg_tx_decode(buf, t_transfer(buf, t_key("client", 0), t_key("client", 1)->pk, 5, 1, 10),
                       &tx));
    assert_int_equal(ldg_tx_gov_digest(&tx, d), SQ_EINVAL);
    /* The signature check. */
    n = t_transfer(buf, t_key("client", 0), t_key("client", 1)->pk, 5, 1, 10);
    T_OK(ldg_tx_check(buf, n, NULL, NULL));
    buf[20] ^= 1; /* inside the sender key */
    assert_int_equal(ldg_tx_check(buf, n, NULL, NULL), SQ_EBADSIG);
}

static void test_tx_id_is_signed_part(void **state)
{
    (void)state;
    uint8_t buf[SQ_TX_BYTES_MAX];
    size_t n = t_transfer(buf, t_key("client", 0), t_key("client", 1)->pk, 5, 1, 10);
    uint8_t id[32];
    uint8_t expect[32];
    ldg_tx_id(buf, n, id);
    sqc_sha256(expect, buf, n - 64);
    assert_memory_equal(id, expect, 32);
    struct ldg_tx tx;
    T_OK(ldg_tx_decode(buf, n, &tx));
    T_OK(sqc_verify_digest(tx.sender, SQC_DOMAIN_TX, id, tx.sig));
}

static void test_batch_codec(void **state)
{
    (void)state;
    uint8_t tx[3][SQ_TX_BYTES_MAX];
    struct ldg_bytes list[3];
    for (unsigned i = 0; i < 3; i++) {
        list[i].size = t_transfer(tx[i], t_key("client", i), t_key("client", 7)->pk, i, 1, 9);
        list[i].data = tx[i];
    }
    size_t size;
    uint8_t *batch = t_batch(2, 77, list, 3, &size);
    struct ldg_batch b;
    T_OK(ldg_batch_decode(batch, size, &b));
    assert_int_equal(b.proposer, 2);
    assert_int_equal(b.seq, 77);
    assert_int_equal(b.tx_count, 3);
    uint8_t h[32];
    sqc_sha256(h, batch, size - 64);
    assert_memory_equal(b.hash, h, 32);
    T_OK(sqc_verify_digest(t_key("val", 1)->pk, SQC_DOMAIN_BATCH, b.hash, b.sig));
    struct ldg_tx_iter it;
    struct ldg_bytes one;
    ldg_tx_iter_init(&it, b.txs, b.txs_size, b.tx_count);
    for (unsigned i = 0; i < 3; i++) {
        assert_true(ldg_tx_iter_next(&it, &one));
        assert_int_equal(one.size, list[i].size);
        assert_memory_equal(one.data, list[i].data, one.size);
    }
    assert_false(ldg_tx_iter_next(&it, &one));
    for (size_t cut = 0; cut < size; cut++) {
        int rc = ldg_batch_decode(batch, cut, &b);
        assert_true(rc == SQ_ECORRUPT || rc == SQ_EVERSION);
    }
    /* A count that promises more transactions than present, and fewer. */
    size_t count_off = 1 + 1 + strlen(T_CHAIN) + 4 + 8 + 8;
    sq_le32_store(batch + count_off, 4);
    assert_int_equal(ldg_batch_decode(batch, size, &b), SQ_ECORRUPT);
    sq_le32_store(batch + count_off, 2);
    assert_int_equal(ldg_batch_decode(batch, size, &b), SQ_ECORRUPT);
    assert_non_null(strstr(ldg_errmsg(), "stray"));
    sq_le32_store(batch + count_off, SQ_BATCH_TXS_MAX + 1);
    assert_int_equal(ldg_batch_decode(batch, size, &b), SQ_ECORRUPT);
    assert_int_equal(ldg_batch_decode(batch, SQ_BATCH_BYTES_MAX + 1, &b), SQ_ETOOBIG);
    free(batch);
    /* Encoder bounds. */
    uint8_t small[64];
    assert_int_equal(ldg_batch_encode(T_CHAIN, strlen(T_CHAIN), 1, 1, 1, list, 3, t_key("val", 0),
                                      small, sizeof(small), &size),
                     SQ_ETOOBIG);
    assert_int_equal(
        ldg_batch_encode("", 0, 1, 1, 1, list, 3, t_key("val", 0), small, sizeof(small), &size),
        SQ_EINVAL);
}

static void test_header_and_view_codec(void **state)
{
    (void)state;
    struct sq_prng r;
    sq_prng_seed(&r, 7);
    for (int round = 0; round < 100; round++) {
        struct ldg_header hdr = {.version = 1, .kind = LDG_BLOCK_BATCH};
        hdr.chain_id_size = (uint8_t)sq_prng_range(&r, 1, SQ_CHAIN_ID_BYTES_MAX);
        memset(hdr.chain_id, 'c', hdr.chain_id_size);
        hdr.height = sq_prng_next(&r);
        hdr.view_id = sq_prng_next(&r);
        hdr.proposer = (uint32_t)sq_prng_next(&r);
        hdr.batch_seq = sq_prng_next(&r);
        hdr.timestamp_us = sq_prng_next(&r);
        hdr.tx_count = (uint32_t)sq_prng_below(&r, SQ_BATCH_TXS_MAX + 1);
        sq_prng_fill(&r, hdr.prev_hash, 32);
        sq_prng_fill(&r, hdr.batch_hash, 32);
        sq_prng_fill(&r, hdr.proposer_sig, 64);
        sq_prng_fill(&r, hdr.tx_root, 32);
        sq_prng_fill(&r, hdr.results_root, 32);
        uint8_t buf[LDG_HEADER_BYTES_MAX + 1];
        size_t n;
        struct ldg_header back;
        T_OK(ldg_header_encode(&hdr, buf, sizeof(buf), &n));
        T_OK(ldg_header_decode(buf, n, &back));
        assert_memory_equal(&hdr, &back, sizeof(hdr));
        for (size_t cut = 0; cut < n; cut++) {
            assert_int_not_equal(ldg_header_decode(buf, cut, &back), SQ_OK);
        }
        buf[n] = 0;
        assert_int_equal(ldg_header_decode(buf, n + 1, &back), SQ_ECORRUPT);
        /* A view block must not carry batch fields. */
        hdr.kind = LDG_BLOCK_VIEW;
        T_OK(ldg_header_encode(&hdr, buf, sizeof(buf), &n));
        assert_int_equal(ldg_header_decode(buf, n, &back), SQ_ECORRUPT);
    }
    struct ldg_view *v = calloc(1, sizeof(*v));
    struct ldg_view *back = calloc(1, sizeof(*back));
    v->view_id = 5;
    v->prev_height = 17;
    v->member_count = SQ_MEMBERS_MAX;
    for (uint32_t i = 0; i < SQ_MEMBERS_MAX; i++) {
        v->members[i].id = 100 + i;
        memcpy(v->members[i].pk, t_key("val", i)->pk, 32);
        v->members[i].addr_size = (uint8_t)snprintf(v->members[i].addr, 32, "h%u:1", i);
    }
    v->leaver_count = 2;
    v->leavers[0] = 7;
    v->leavers[1] = 8;
    uint8_t buf[16384];
    size_t n;
    T_OK(ldg_view_encode(v, buf, sizeof(buf), &n));
    T_OK(ldg_view_decode(buf, n, back));
    assert_memory_equal(v, back, sizeof(*v));
    for (size_t cut = 0; cut < n; cut += 7) {
        assert_int_equal(ldg_view_decode(buf, cut, back), SQ_ECORRUPT);
    }
    /* Duplicate member ids and keys, leavers that are members. */
    v->members[1].id = v->members[0].id;
    assert_int_equal(ldg_view_encode(v, buf, sizeof(buf), &n), SQ_EINVAL);
    v->members[1].id = 101;
    memcpy(v->members[1].pk, v->members[0].pk, 32);
    assert_int_equal(ldg_view_encode(v, buf, sizeof(buf), &n), SQ_EINVAL);
    memcpy(v->members[1].pk, t_key("val", 1)->pk, 32);
    v->leavers[0] = 100;
    assert_int_equal(ldg_view_encode(v, buf, sizeof(buf), &n), SQ_EINVAL);
    free(v);
    free(back);
}

static void test_block_codec_checks_body(void **state)
{
    (void)state;
    struct ldg_genesis *g = t_genesis(false);
    char *dir;
    struct ldg_store *s = t_open(g, &dir);
    uint8_t tx[2][SQ_TX_BYTES_MAX];
    struct ldg_bytes list[2];
    for (unsigned i = 0; i < 2; i++) {
        list[i].size = t_transfer(tx[i], t_key("client", i), t_key("client", 5)->pk, 3, 1, 9);
        list[i].data = tx[i];
    }
    t_apply(s, 1, list, 2, NULL);
    T_OK(ldg_commit(s, NULL));
    uint8_t *blk;
    size_t size;
    T_OK(ldg_block_get(s, 1, &blk, &size));
    struct ldg_block b;
    T_OK(ldg_block_decode(blk, size, &b, NULL));
    assert_int_equal(b.hdr.tx_count, 2);
    /* Every byte flipped is caught (header fields by the hash of the next block, which the
     * decoder cannot see: here only the body is checked against the header's roots). */
    size_t body_off = 4 + b.header_size + 4;
    for (size_t i = body_off; i < size; i++) {
        blk[i] ^= 0x01;
        struct ldg_block bb;
        assert_int_not_equal(ldg_block_decode(blk, size, &bb, NULL), SQ_OK);
        blk[i] ^= 0x01;
    }
    for (size_t cut = 0; cut < size; cut++) {
        struct ldg_block bb;
        assert_int_not_equal(ldg_block_decode(blk, cut, &bb, NULL), SQ_OK);
    }
    free(blk);
    /* The genesis block decodes as a view block of view 0. */
    T_OK(ldg_block_get(s, 0, &blk, &size));
    struct ldg_view *v = malloc(sizeof(*v));
    T_OK(ldg_block_decode(blk, size, &b, v));
    assert_int_equal(b.hdr.kind, LDG_BLOCK_VIEW);
    assert_int_equal(v->member_count, T_VALIDATORS);
    assert_memory_equal(b.hdr.prev_hash, g->digest, 32);
    free(v);
    free(blk);
    ldg_store_close(s);
    t_rmdir(dir);
    ldg_genesis_free(g);
}

static void test_finality_codec(void **state)
{
    (void)state;
    struct ldg_finality f = {.signer = 3, .view_id = 9, .height = 1234};
    memset(f.block_hash, 0xaa, 32);
    memset(f.acc_root, 0xbb, 32);
    memset(f.sig, 0xcc, 64);
    uint8_t buf[256];
    size_t n;
    T_OK(ldg_finality_encode(T_CHAIN, strlen(T_CHAIN), &f, buf, sizeof(buf), &n));
    struct ldg_finality back;
    T_OK(ldg_finality_decode(buf, n, T_CHAIN, strlen(T_CHAIN), &back));
    assert_memory_equal(&f, &back, sizeof(f));
    assert_int_equal(ldg_finality_decode(buf, n, "other", 5, &back), SQ_EINVAL);
    for (size_t cut = 0; cut < n; cut++) {
        assert_int_not_equal(ldg_finality_decode(buf, cut, T_CHAIN, strlen(T_CHAIN), &back), SQ_OK);
    }
}

static int parse(const char *json, struct ldg_genesis **g)
{
    return ldg_genesis_parse(json, strlen(json), g);
}

#define K1 "1111111111111111111111111111111111111111111111111111111111111111"
#define K2 "2222222222222222222222222222222222222222222222222222222222222222"
#define VAL "{\"id\":1,\"public_key\":\"" K1 "\",\"address\":\"127.0.0.1:7001\"}"

static void test_genesis_parse(void **state)
{
    (void)state;
    struct ldg_genesis *g;
    /* The smallest valid genesis. */
    T_OK(parse("{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\"}",
               &g));
    assert_true(g->clients_open);
    assert_int_equal(g->validator_count, 1);
    assert_int_equal(g->gov_count, 0);
    /* Round trip through to_json. */
    char *json;
    T_OK(ldg_genesis_to_json(g, &json));
    struct ldg_genesis *g2;
    T_OK(parse(json, &g2));
    assert_memory_equal(g->digest, g2->digest, 32);
    free(json);
    ldg_genesis_free(g2);
    ldg_genesis_free(g);
    /* And the full test genesis. */
    g = t_genesis(false);
    T_OK(ldg_genesis_to_json(g, &json));
    T_OK(parse(json, &g2));
    assert_memory_equal(g->digest, g2->digest, 32);
    assert_int_equal(g2->client_count, T_CLIENTS);
    assert_int_equal(g2->gov_threshold, 2);
    free(json);
    ldg_genesis_free(g2);
    ldg_genesis_free(g);

    const struct {
        const char *json;
        int err;
        const char *says;
    } bad[] = {
        {"", SQ_ECORRUPT, "JSON error"},
        {"[]", SQ_ECORRUPT, "not a JSON object"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\",",
         SQ_ECORRUPT, "line 1"},
        {"{\"format\":2,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\"}",
         SQ_EVERSION, "format 2"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\",\"x\":1}",
         SQ_ECORRUPT, "unknown field \"x\""},
        {"{\"format\":1,\"chain_id\":\"\",\"validators\":[" VAL "],\"clients\":\"open\"}",
         SQ_ECORRUPT, "chain_id"},
        {"{\"format\":1,\"chain_id\":\"a b\",\"validators\":[" VAL "],\"clients\":\"open\"}",
         SQ_ECORRUPT, "printable"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[],\"clients\":\"open\"}", SQ_ECORRUPT,
         "non-empty"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "," VAL "],\"clients\":\"open\"}",
         SQ_ECORRUPT, "twice"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[{\"id\":1,\"public_key\":\"zz\","
         "\"address\":\"a:1\"}],\"clients\":\"open\"}",
         SQ_ECORRUPT, "validators[0]"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"closed\"}",
         SQ_ECORRUPT, "clients"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":[\"" K1 "\",\"" K1
         "\"]}",
         SQ_ECORRUPT, "appears twice"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\","
         "\"governance\":{\"threshold\":3,\"keys\":[\"" K1 "\",\"" K2 "\"]}}",
         SQ_ECORRUPT, "threshold 3"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\","
         "\"balances\":[{\"public_key\":\"" K1 "\",\"amount\":-1}]}",
         SQ_ECORRUPT, "balances[0]"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\","
         "\"balances\":[{\"public_key\":\"" K1 "\",\"amount\":9223372036854775807},"
         "{\"public_key\":\"" K2 "\",\"amount\":9223372036854775807},"
         "{\"public_key\":\"3333333333333333333333333333333333333333333333333333333333333333\","
         "\"amount\":9223372036854775807}]}",
         SQ_ECORRUPT, "add up"},
        {"{\"format\":1,\"chain_id\":\"c\",\"validators\":[" VAL "],\"clients\":\"open\","
         "\"chain_id\":\"d\"}",
         SQ_ECORRUPT, "duplicate"},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        int rc = parse(bad[i].json, &g);
        if (rc != bad[i].err || strstr(ldg_errmsg(), bad[i].says) == NULL) {
            fail_msg("case %zu: %s (%s), expected %s mentioning \"%s\"", i, sq_errname(rc),
                     ldg_errmsg(), sq_errname(bad[i].err), bad[i].says);
        }
        assert_null(g);
    }
    /* Missing file. */
    assert_int_equal(ldg_genesis_load("/nonexistent/genesis.json", &g), SQ_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tx_round_trip_every_kind),
        cmocka_unit_test(test_tx_largest),
        cmocka_unit_test(test_tx_precise_errors),
        cmocka_unit_test(test_tx_id_is_signed_part),
        cmocka_unit_test(test_batch_codec),
        cmocka_unit_test(test_header_and_view_codec),
        cmocka_unit_test(test_block_codec_checks_body),
        cmocka_unit_test(test_finality_codec),
        cmocka_unit_test(test_genesis_parse),
    };
    return cmocka_run_group_tests(tests, t_setup, NULL);
}
