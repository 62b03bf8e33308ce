/* Ed25519: RFC 8032 §7.1 known answers, Squall's domain separation, key pair handling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/prng.h"
#include "crypto/crypto.h"
#include "crypto_test.h"

struct kat {
    const char *name;
    const char *seed;
    const char *pk;
    const char *msg;
    const char *sig;
};

/* RFC 8032 §7.1, "Test Vectors for Ed25519". */
static const struct kat rfc8032[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11"
     "d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc"
     "6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST 1024", "f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
     "278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
     "08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
     "fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
     "79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
     "658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
     "1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
     "ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
     "06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
     "efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
     "aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
     "85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
     "d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
     "554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
     "88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
     "2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
     "07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
     "b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
     "ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
     "c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
     "51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
     "42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
     "ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
     "f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
     "d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
     "de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
     "88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
     "2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
     "6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
     "b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
     "0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
     "369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
     "b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
     "0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
     "0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350aa5371b1508f9f4528ecea23c436d"
     "94"
     "b5e8fcd4f681e30a6ac00a9704a188a03"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fee"
     "b"
     "bd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e"
     "0"
     "303dca179c138ac17ad9bef1177331a704"},
};

static void test_rfc8032_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(rfc8032) / sizeof(rfc8032[0]); i++) {
        const struct kat *v = &rfc8032[i];
        print_message("%s\n", v->name);
        uint8_t seed[SQC_SEED_BYTES];
        hex_to(seed, sizeof(seed), v->seed);
        size_t msg_size = strlen(v->msg) / 2;
        uint8_t *msg = malloc(msg_size + 1);
        assert_non_null(msg);
        hex_to(msg, msg_size, v->msg);

        struct sqc_keypair kp = {0};
        assert_int_equal(sqc_keypair_from_seed(&kp, seed), SQ_OK);
        assert_hex_equal(kp.pk, sizeof(kp.pk), v->pk);
        uint8_t seed_back[SQC_SEED_BYTES];
        sqc_keypair_seed(&kp, seed_back);
        assert_memory_equal(seed_back, seed, sizeof(seed));

        uint8_t sig[SQC_SIG_BYTES];
        sqc_ed25519_sign_raw(&kp, msg, msg_size, sig);
        assert_hex_equal(sig, sizeof(sig), v->sig);
        assert_int_equal(sqc_ed25519_verify_raw(kp.pk, msg, msg_size, sig), SQ_OK);

        /* Any change to the message, the signature or the key breaks it. */
        if (msg_size > 0) {
            msg[msg_size / 2] ^= 0x01;
            assert_int_equal(sqc_ed25519_verify_raw(kp.pk, msg, msg_size, sig), SQ_EBADSIG);
            msg[msg_size / 2] ^= 0x01;
        } else {
            assert_int_equal(sqc_ed25519_verify_raw(kp.pk, "x", 1, sig), SQ_EBADSIG);
        }
        for (size_t b = 0; b < SQC_SIG_BYTES; b += 7) {
            sig[b] ^= 0x10;
            assert_int_equal(sqc_ed25519_verify_raw(kp.pk, msg, msg_size, sig), SQ_EBADSIG);
            sig[b] ^= 0x10;
        }
        uint8_t pk2[SQC_PK_BYTES];
        memcpy(pk2, kp.pk, sizeof(pk2));
        pk2[3] ^= 0x02;
        assert_int_equal(sqc_ed25519_verify_raw(pk2, msg, msg_size, sig), SQ_EBADSIG);
        /* A domain-separated check of a raw signature fails in every domain. */
        for (int d = 0; d < SQC_DOMAIN_COUNT_; d++) {
            assert_int_equal(sqc_verify(kp.pk, (enum sqc_domain)d, msg, msg_size, sig), SQ_EBADSIG);
        }
        sqc_keypair_free(&kp);
        free(msg);
    }
}

static void test_domain_tags_are_frozen(void **state)
{
    (void)state;
    assert_string_equal(sqc_domain_tag(SQC_DOMAIN_TX), "squall/tx/v1");
    assert_string_equal(sqc_domain_tag(SQC_DOMAIN_BATCH), "squall/batch/v1");
    assert_string_equal(sqc_domain_tag(SQC_DOMAIN_FINALITY), "squall/finality/v1");
    assert_string_equal(sqc_domain_tag(SQC_DOMAIN_HANDSHAKE), "squall/handshake/v1");
    assert_string_equal(sqc_domain_tag(SQC_DOMAIN_GOVERNANCE), "squall/gov/v1");
    assert_string_equal(sqc_domain_tag(SQC_DOMAIN_LOG), "squall/log/v1");
    assert_string_equal(sqc_domain_tag(SQC_DOMAIN_TEST), "squall/test/v1");
}

/* The signed bytes are exactly tag || 0x00 || SHA-256(message), built here by hand. */
static void test_signed_bytes_layout(void **state)
{
    (void)state;
    struct sqc_keypair kp = {0};
    assert_int_equal(sqc_keypair_generate(&kp), SQ_OK);
    const char msg[] = "pay 5 to carol";
    for (int d = 0; d < SQC_DOMAIN_COUNT_; d++) {
        const char *tag = sqc_domain_tag((enum sqc_domain)d);
        uint8_t m[64];
        size_t tag_len = strlen(tag);
        assert_true(tag_len + 1 + SQC_HASH_BYTES <= sizeof(m));
        memcpy(m, tag, tag_len);
        m[tag_len] = 0x00;
        sqc_sha256(m + tag_len + 1, msg, strlen(msg));
        uint8_t raw[SQC_SIG_BYTES];
        uint8_t dom[SQC_SIG_BYTES];
        sqc_ed25519_sign_raw(&kp, m, tag_len + 1 + SQC_HASH_BYTES, raw);
        sqc_sign(&kp, (enum sqc_domain)d, msg, strlen(msg), dom);
        assert_memory_equal(raw, dom, sizeof(raw)); /* Ed25519 is deterministic */
    }
    sqc_keypair_free(&kp);
}

/* A golden signature computed outside Squall (OpenSSL's command line over the bytes
 * "squall/tx/v1" 00 SHA-256("transfer 10 to bob") with RFC 8032 TEST 1's key): freezes the
 * format of docs/formats.md. */
static void test_golden_tx_signature(void **state)
{
    (void)state;
    uint8_t seed[SQC_SEED_BYTES];
    hex_to(seed, sizeof(seed), rfc8032[0].seed);
    struct sqc_keypair kp = {0};
    assert_int_equal(sqc_keypair_from_seed(&kp, seed), SQ_OK);
    const char msg[] = "transfer 10 to bob";
    uint8_t sig[SQC_SIG_BYTES];
    sqc_sign(&kp, SQC_DOMAIN_TX, msg, strlen(msg), sig);
    assert_hex_equal(sig, sizeof(sig),
                     "49d64749d8d20847457d55081deff98cfb45da08bf934acd8018c20cb32604b05f5efde45c00"
                     "c964acad7cd4cc54aefb99d9987bb92651633945c1d249849508");
    assert_int_equal(sqc_verify(kp.pk, SQC_DOMAIN_TX, msg, strlen(msg), sig), SQ_OK);
    sqc_keypair_free(&kp);
}

static void test_domain_separation(void **state)
{
    (void)state;
    struct sqc_keypair kp = {0};
    assert_int_equal(sqc_keypair_generate(&kp), SQ_OK);
    const char msg[] = "block 42";
    uint8_t digest[SQC_HASH_BYTES];
    sqc_sha256(digest, msg, strlen(msg));
    for (int d = 0; d < SQC_DOMAIN_COUNT_; d++) {
        uint8_t sig[SQC_SIG_BYTES];
        uint8_t sig2[SQC_SIG_BYTES];
        sqc_sign(&kp, (enum sqc_domain)d, msg, strlen(msg), sig);
        sqc_sign_digest(&kp, (enum sqc_domain)d, digest, sig2);
        assert_memory_equal(sig, sig2, sizeof(sig));
        for (int e = 0; e < SQC_DOMAIN_COUNT_; e++) {
            int want = d == e ? SQ_OK : SQ_EBADSIG;
            assert_int_equal(sqc_verify(kp.pk, (enum sqc_domain)e, msg, strlen(msg), sig), want);
            assert_int_equal(sqc_verify_digest(kp.pk, (enum sqc_domain)e, digest, sig), want);
        }
        /* Nor is it a raw signature of the message or of its digest. */
        assert_int_equal(sqc_ed25519_verify_raw(kp.pk, msg, strlen(msg), sig), SQ_EBADSIG);
        assert_int_equal(sqc_ed25519_verify_raw(kp.pk, digest, sizeof(digest), sig), SQ_EBADSIG);
    }
    sqc_keypair_free(&kp);
}

static void test_bad_keys_and_signatures(void **state)
{
    (void)state;
    struct sqc_keypair a = {0};
    struct sqc_keypair b = {0};
    assert_int_equal(sqc_keypair_generate(&a), SQ_OK);
    assert_int_equal(sqc_keypair_generate(&b), SQ_OK);
    assert_memory_not_equal(a.pk, b.pk, SQC_PK_BYTES);
    uint8_t sig[SQC_SIG_BYTES];
    sqc_sign(&a, SQC_DOMAIN_TEST, "m", 1, sig);
    assert_int_equal(sqc_verify(a.pk, SQC_DOMAIN_TEST, "m", 1, sig), SQ_OK);
    assert_int_equal(sqc_verify(b.pk, SQC_DOMAIN_TEST, "m", 1, sig), SQ_EBADSIG);
    assert_int_equal(sqc_verify(a.pk, SQC_DOMAIN_TEST, "n", 1, sig), SQ_EBADSIG);
    assert_int_equal(sqc_verify(a.pk, SQC_DOMAIN_TEST, NULL, 0, sig), SQ_EBADSIG);

    /* Malformed inputs are bad signatures, never a crash. */
    uint8_t junk_pk[SQC_PK_BYTES];
    uint8_t junk_sig[SQC_SIG_BYTES];
    memset(junk_pk, 0xff, sizeof(junk_pk));
    assert_int_equal(sqc_verify(junk_pk, SQC_DOMAIN_TEST, "m", 1, sig), SQ_EBADSIG);
    memset(junk_pk, 0x00, sizeof(junk_pk)); /* small-order point */
    assert_int_equal(sqc_verify(junk_pk, SQC_DOMAIN_TEST, "m", 1, sig), SQ_EBADSIG);
    memset(junk_sig, 0xff, sizeof(junk_sig)); /* S not reduced */
    assert_int_equal(sqc_verify(a.pk, SQC_DOMAIN_TEST, "m", 1, junk_sig), SQ_EBADSIG);
    memset(junk_sig, 0x00, sizeof(junk_sig));
    assert_int_equal(sqc_verify(a.pk, SQC_DOMAIN_TEST, "m", 1, junk_sig), SQ_EBADSIG);
    struct sq_prng prng;
    sq_prng_seed(&prng, 8032);
    for (int i = 0; i < 200; i++) {
        sq_prng_fill(&prng, junk_pk, sizeof(junk_pk));
        sq_prng_fill(&prng, junk_sig, sizeof(junk_sig));
        assert_int_equal(sqc_verify(junk_pk, SQC_DOMAIN_TEST, "m", 1, junk_sig), SQ_EBADSIG);
    }
    sqc_keypair_free(&a);
    sqc_keypair_free(&b);
}

static void test_keypair_lifecycle(void **state)
{
    (void)state;
    struct sqc_keypair zeroed = {0};
    sqc_keypair_free(&zeroed); /* safe on a zeroed struct */

    struct sqc_keypair kp = {0};
    assert_int_equal(sqc_keypair_generate(&kp), SQ_OK);
    assert_non_null(kp.sk);
    uint8_t seed[SQC_SEED_BYTES];
    sqc_keypair_seed(&kp, seed);
    struct sqc_keypair again = {0};
    assert_int_equal(sqc_keypair_from_seed(&again, seed), SQ_OK);
    assert_memory_equal(again.pk, kp.pk, SQC_PK_BYTES);
    assert_memory_equal(again.sk, kp.sk, SQC_SK_BYTES);
    sqc_wipe(seed, sizeof(seed));

    sqc_keypair_free(&kp);
    assert_null(kp.sk);
    uint8_t zero[SQC_PK_BYTES] = {0};
    assert_memory_equal(kp.pk, zero, sizeof(zero));
    sqc_keypair_free(&kp); /* twice */
    sqc_keypair_free(&again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8032_vectors),     cmocka_unit_test(test_domain_tags_are_frozen),
        cmocka_unit_test(test_signed_bytes_layout), cmocka_unit_test(test_golden_tx_signature),
        cmocka_unit_test(test_domain_separation),   cmocka_unit_test(test_bad_keys_and_signatures),
        cmocka_unit_test(test_keypair_lifecycle),
    };
    return cmocka_run_group_tests_name("crypto_sign", tests, group_init_crypto, NULL);
}
