/* Frame codec, WRITE apply rule, send queue and the authentication handshake (net_int.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "net/net_int.h"

/* ---- frames ---- */

static void test_write_frame_roundtrip(void **state)
{
    (void)state;
    uint8_t buf[NET_FRAME_HDR_BYTES_MAX + 16];
    size_t h = net_frame_enc_write(buf, NET_FRAME_FLAG_ACK, 3, 0x1122334455667788ull, 640, 16);
    assert_int_equal(h, NET_WRITE_HDR_BYTES);
    for (int i = 0; i < 16; i++) {
        buf[h + (size_t)i] = (uint8_t)i;
    }
    struct net_frame f;
    size_t used = 0;
    /* Every prefix is "need more". */
    for (size_t n = 0; n < h + 16; n++) {
        assert_int_equal(net_frame_parse(buf, n, NET_BODY_BYTES_MAX, &f, &used), SQ_EAGAIN);
    }
    assert_int_equal(net_frame_parse(buf, h + 16, NET_BODY_BYTES_MAX, &f, &used), SQ_OK);
    assert_int_equal(used, h + 16);
    assert_int_equal(f.type, NET_FR_WRITE);
    assert_int_equal(f.flags, NET_FRAME_FLAG_ACK);
    assert_int_equal(f.region, 3);
    assert_int_equal(f.tag, 0x1122334455667788ull);
    assert_int_equal(f.offset, 640);
    assert_int_equal(f.data_size, 16);
    assert_int_equal(f.data[15], 15);
}

static void test_small_frames_roundtrip(void **state)
{
    (void)state;
    uint8_t buf[NET_FRAME_HDR_BYTES_MAX];
    struct net_frame f;
    size_t used;
    size_t n = net_frame_enc_ack(buf, 12345);
    assert_int_equal(net_frame_parse(buf, n, NET_BODY_BYTES_MAX, &f, &used), SQ_OK);
    assert_int_equal(f.type, NET_FR_ACK);
    assert_int_equal(f.value, 12345);
    n = net_frame_enc_region(buf, 15, 7, 4096);
    assert_int_equal(net_frame_parse(buf, n, NET_BODY_BYTES_MAX, &f, &used), SQ_OK);
    assert_int_equal(f.region, 15);
    assert_int_equal(f.tag, 7);
    assert_int_equal(f.value, 4096);
    n = net_frame_enc_ping(buf);
    assert_int_equal(net_frame_parse(buf, n, NET_BODY_BYTES_MAX, &f, &used), SQ_OK);
    assert_int_equal(f.type, NET_FR_PING);
    n = net_frame_enc_send(buf, 0, 0xdeadbeef, 0);
    assert_int_equal(net_frame_parse(buf, n, NET_BODY_BYTES_MAX, &f, &used), SQ_OK);
    assert_int_equal(f.imm, 0xdeadbeef);
    assert_int_equal(f.data_size, 0);
}

static void test_frame_length_checked_first(void **state)
{
    (void)state;
    uint8_t buf[8];
    struct net_frame f;
    size_t used;
    /* An oversized length is refused from the 4 length bytes alone. */
    sq_le32_store(buf, (uint32_t)NET_BODY_BYTES_MAX + 1);
    assert_int_equal(net_frame_parse(buf, 4, NET_BODY_BYTES_MAX, &f, &used), SQ_ETOOBIG);
    sq_le32_store(buf, 0xffffffffu);
    assert_int_equal(net_frame_parse(buf, 4, NET_BODY_BYTES_MAX, &f, &used), SQ_ETOOBIG);
    /* Before authentication the bound is much smaller. */
    sq_le32_store(buf, NET_HS_BODY_BYTES_MAX + 1);
    assert_int_equal(net_frame_parse(buf, 4, NET_HS_BODY_BYTES_MAX, &f, &used), SQ_ETOOBIG);
    sq_le32_store(buf, 0);
    assert_int_equal(net_frame_parse(buf, 4, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
}

static void test_frame_malformed(void **state)
{
    (void)state;
    uint8_t buf[64];
    struct net_frame f;
    size_t used;
    /* Unknown type. */
    sq_le32_store(buf, 1);
    buf[4] = 99;
    assert_int_equal(net_frame_parse(buf, 5, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
    /* Trailing bytes after a PING. */
    sq_le32_store(buf, 2);
    buf[4] = NET_FR_PING;
    buf[5] = 0;
    assert_int_equal(net_frame_parse(buf, 6, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
    /* A truncated ACK body. */
    sq_le32_store(buf, 5);
    buf[4] = NET_FR_ACK;
    assert_int_equal(net_frame_parse(buf, 9, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
    /* Unknown flag bits, a region id out of range, an empty write. */
    size_t n = net_frame_enc_write(buf, 0x80, 0, 0, 0, 1);
    buf[n] = 1;
    assert_int_equal(net_frame_parse(buf, n + 1, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
    n = net_frame_enc_write(buf, 0, SQ_NET_REGIONS_MAX, 0, 0, 1);
    assert_int_equal(net_frame_parse(buf, n + 1, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
    n = net_frame_enc_write(buf, 0, 0, 0, 0, 0);
    assert_int_equal(net_frame_parse(buf, n, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
    /* A HELLO whose chain id length runs past the body. */
    sq_le32_store(buf, 1 + 2 + 4);
    buf[4] = NET_FR_HELLO;
    buf[5] = 1;
    buf[6] = 0;
    sq_le32_store(buf + 7, 60);
    assert_int_equal(net_frame_parse(buf, 11, NET_BODY_BYTES_MAX, &f, &used), SQ_ECORRUPT);
}

/* ---- apply ---- */

static void test_apply_write(void **state)
{
    (void)state;
    uint64_t dst_words[8] = {0};
    uint8_t *dst = (uint8_t *)dst_words;
    uint8_t src[64];
    for (int i = 0; i < 64; i++) {
        src[i] = (uint8_t)(i + 1);
    }
    /* Unaligned start and end: bytes around, words in the middle. */
    net_apply_write(dst + 3, src, 29);
    assert_int_equal(dst[2], 0);
    assert_memory_equal(dst + 3, src, 29);
    assert_int_equal(dst[32], 0);
    net_apply_write(dst, src, 64);
    assert_memory_equal(dst, src, 64);
}

/* ---- send queue ---- */

static void test_txq(void **state)
{
    (void)state;
    struct net_txq q;
    net_txq_init(&q);
    static uint8_t big[3 * NET_TXQ_CHUNK_BYTES + 100];
    for (size_t i = 0; i < sizeof(big); i++) {
        big[i] = (uint8_t)(i * 7);
    }
    uint8_t hdr[5] = {1, 2, 3, 4, 5};
    assert_int_equal(net_txq_append2(&q, hdr, 5, big, sizeof(big)), SQ_OK);
    assert_int_equal(q.bytes, 5 + sizeof(big));
    assert_int_equal(net_txq_append(&q, hdr, 5), SQ_OK);
    /* Drain in odd-sized pieces and compare with what went in. */
    static uint8_t out[3 * NET_TXQ_CHUNK_BYTES + 200];
    size_t got = 0;
    while (q.bytes > 0) {
        struct iovec iov[NET_TXQ_IOV_MAX];
        int n = net_txq_iov(&q, iov, NET_TXQ_IOV_MAX);
        assert_true(n > 0);
        size_t take = iov[0].iov_len < 777 ? iov[0].iov_len : 777;
        memcpy(out + got, iov[0].iov_base, take);
        got += take;
        net_txq_consume(&q, take);
    }
    assert_int_equal(got, 10 + sizeof(big));
    assert_memory_equal(out, hdr, 5);
    assert_memory_equal(out + 5, big, sizeof(big));
    assert_memory_equal(out + 5 + sizeof(big), hdr, 5);
    net_txq_free(&q);
}

/* ---- handshake ---- */

#define CHAIN "squall-test"

struct hs_pair {
    struct sqc_keypair k1, k2, k_rogue;
    struct net_validator set[2];
};

static int hs_setup(void **state)
{
    static struct hs_pair p;
    memset(&p, 0, sizeof(p));
    assert_int_equal(sqc_init(), SQ_OK);
    uint8_t seed[SQC_SEED_BYTES];
    memset(seed, 1, sizeof(seed));
    assert_int_equal(sqc_keypair_from_seed(&p.k1, seed), SQ_OK);
    memset(seed, 2, sizeof(seed));
    assert_int_equal(sqc_keypair_from_seed(&p.k2, seed), SQ_OK);
    memset(seed, 3, sizeof(seed));
    assert_int_equal(sqc_keypair_from_seed(&p.k_rogue, seed), SQ_OK);
    p.set[0].id = 1;
    memcpy(p.set[0].pk, p.k1.pk, SQC_PK_BYTES);
    p.set[1].id = 2;
    memcpy(p.set[1].pk, p.k2.pk, SQC_PK_BYTES);
    *state = &p;
    return 0;
}

static int hs_teardown(void **state)
{
    struct hs_pair *p = *state;
    sqc_keypair_free(&p->k1);
    sqc_keypair_free(&p->k2);
    sqc_keypair_free(&p->k_rogue);
    return 0;
}

/* Feeds `bytes` to `hs`; returns the status and appends any answer to `out`. */
static int feed(struct net_hs *hs, const uint8_t *bytes, size_t n, uint8_t *out, size_t *out_n)
{
    struct net_frame f;
    size_t used = 0;
    int rc = net_frame_parse(bytes, n, NET_HS_BODY_BYTES_MAX, &f, &used);
    if (rc != SQ_OK) {
        return rc;
    }
    assert_int_equal(used, n);
    return net_hs_on_frame(hs, &f, out, 128, out_n);
}

/* Runs a whole handshake between an initiator (id 1 with key ki) and an acceptor (id 2 with key
 * ka). Returns the first error, or SQ_OK when both finish. */
static int run_hs(struct hs_pair *p, const struct sqc_keypair *ki, const struct sqc_keypair *ka,
                  const char *chain_a, bool tamper)
{
    struct net_hs i, a;
    net_hs_init(&i, true, 1, 2, (const uint8_t *)CHAIN, strlen(CHAIN), ki, p->set, 2);
    net_hs_init(&a, false, 2, 0, (const uint8_t *)chain_a, strlen(chain_a), ka, p->set, 2);
    uint8_t hi[256], ha[256], o1[128], o2[128], o3[128], o4[128];
    size_t nhi = net_hs_hello(&i, hi, sizeof(hi));
    size_t nha = net_hs_hello(&a, ha, sizeof(ha));
    size_t n1, n2, n3, n4;
    int rc = feed(&a, hi, nhi, o1, &n1); /* acceptor reads HELLO, answers AUTH */
    if (rc != SQ_OK) {
        return rc;
    }
    rc = feed(&i, ha, nha, o2, &n2); /* initiator reads HELLO, answers AUTH */
    if (rc != SQ_OK) {
        return rc;
    }
    if (tamper) {
        o2[10] ^= 1;
    }
    rc = feed(&a, o2, n2, o3, &n3); /* acceptor verifies, answers READY */
    if (rc != SQ_OK) {
        return rc;
    }
    rc = feed(&i, o1, n1, o4, &n4); /* initiator verifies, answers READY */
    if (rc != SQ_OK) {
        return rc;
    }
    assert_false(net_hs_is_done(&i));
    assert_false(net_hs_is_done(&a));
    size_t z;
    uint8_t dummy[128];
    assert_int_equal(feed(&i, o3, n3, dummy, &z), SQ_OK);
    assert_int_equal(feed(&a, o4, n4, dummy, &z), SQ_OK);
    assert_true(net_hs_is_done(&i));
    assert_true(net_hs_is_done(&a));
    assert_int_equal(a.peer_id, 1);
    return SQ_OK;
}

static void test_hs_ok(void **state)
{
    struct hs_pair *p = *state;
    assert_int_equal(run_hs(p, &p->k1, &p->k2, CHAIN, false), SQ_OK);
}

static void test_hs_wrong_key(void **state)
{
    struct hs_pair *p = *state;
    /* The acceptor claims id 2 with another key: the initiator refuses at its HELLO. */
    assert_int_equal(run_hs(p, &p->k1, &p->k_rogue, CHAIN, false), SQ_EAUTH);
    /* The initiator claims id 1 with another key: the acceptor refuses. */
    assert_int_equal(run_hs(p, &p->k_rogue, &p->k2, CHAIN, false), SQ_EAUTH);
}

static void test_hs_bad_signature(void **state)
{
    struct hs_pair *p = *state;
    assert_int_equal(run_hs(p, &p->k1, &p->k2, CHAIN, true), SQ_EAUTH);
}

static void test_hs_wrong_chain(void **state)
{
    struct hs_pair *p = *state;
    assert_int_equal(run_hs(p, &p->k1, &p->k2, "another-chain", false), SQ_EAUTH);
}

static void test_hs_unknown_id_and_order(void **state)
{
    struct hs_pair *p = *state;
    struct net_hs a;
    net_hs_init(&a, false, 2, 0, (const uint8_t *)CHAIN, strlen(CHAIN), &p->k2, p->set, 2);
    /* A HELLO from id 7 (not in the set). */
    struct net_hs x;
    net_hs_init(&x, true, 7, 2, (const uint8_t *)CHAIN, strlen(CHAIN), &p->k_rogue, p->set, 2);
    uint8_t h[256], o[128];
    size_t n = net_hs_hello(&x, h, sizeof(h)), on;
    assert_int_equal(feed(&a, h, n, o, &on), SQ_EAUTH);
    assert_non_null(strstr(a.reason, "unknown validator"));
    /* Any later frame fails too. */
    assert_int_equal(feed(&a, h, n, o, &on), SQ_ECORRUPT);
    /* A frame out of place: READY before HELLO. */
    net_hs_init(&a, false, 2, 0, (const uint8_t *)CHAIN, strlen(CHAIN), &p->k2, p->set, 2);
    uint8_t ready[5];
    sq_le32_store(ready, 1);
    ready[4] = NET_FR_READY;
    assert_int_equal(feed(&a, ready, 5, o, &on), SQ_ECORRUPT);
    /* A signature replayed from another connection (other nonces) fails. */
    struct net_hs i1, a1, i2, a2;
    net_hs_init(&i1, true, 1, 2, (const uint8_t *)CHAIN, strlen(CHAIN), &p->k1, p->set, 2);
    net_hs_init(&a1, false, 2, 0, (const uint8_t *)CHAIN, strlen(CHAIN), &p->k2, p->set, 2);
    net_hs_init(&i2, true, 1, 2, (const uint8_t *)CHAIN, strlen(CHAIN), &p->k1, p->set, 2);
    net_hs_init(&a2, false, 2, 0, (const uint8_t *)CHAIN, strlen(CHAIN), &p->k2, p->set, 2);
    uint8_t b1[256], b2[256], auth1[128], auth2[128], junk[128];
    size_t nb, na1, na2, nj;
    nb = net_hs_hello(&a1, b1, sizeof(b1));
    assert_int_equal(feed(&i1, b1, nb, auth1, &na1), SQ_OK); /* i1's AUTH for connection 1 */
    nb = net_hs_hello(&i2, b2, sizeof(b2));
    assert_int_equal(feed(&a2, b2, nb, auth2, &na2), SQ_OK);
    nb = net_hs_hello(&a2, b2, sizeof(b2));
    assert_int_equal(feed(&i2, b2, nb, junk, &nj), SQ_OK);
    assert_int_equal(feed(&a2, auth1, na1, junk, &nj), SQ_EAUTH);
}

int main(void)
{
    sq_log_set_level(SQ_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_frame_roundtrip),
        cmocka_unit_test(test_small_frames_roundtrip),
        cmocka_unit_test(test_frame_length_checked_first),
        cmocka_unit_test(test_frame_malformed),
        cmocka_unit_test(test_apply_write),
        cmocka_unit_test(test_txq),
        cmocka_unit_test(test_hs_ok),
        cmocka_unit_test(test_hs_wrong_key),
        cmocka_unit_test(test_hs_bad_signature),
        cmocka_unit_test(test_hs_wrong_chain),
        cmocka_unit_test(test_hs_unknown_id_and_order),
    };
    return cmocka_run_group_tests(tests, hs_setup, hs_teardown);
}
