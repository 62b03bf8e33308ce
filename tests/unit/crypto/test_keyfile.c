/* Key files: round trips, wrong passphrases, every single-byte change and every truncation
 * failing cleanly, versions, Argon2id cost bounds, and the atomic 0600 write. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/codec.h"
#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "crypto/crypto.h"
#include "crypto/keyfile_int.h"
#include "crypto_test.h"

static const char pass[] = "correct horse battery staple";
#define PASS_LEN (sizeof(pass) - 1)

static struct sqc_keypair key;

static int group_setup(void **state)
{
    if (group_init_crypto(state) != 0) {
        return -1;
    }
    return sqc_keypair_generate(&key) == SQ_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    sqc_keypair_free(&key);
    return 0;
}

static void assert_kp_zeroed(const struct sqc_keypair *kp)
{
    static const uint8_t zero[SQC_PK_BYTES];
    assert_null(kp->sk);
    assert_memory_equal(kp->pk, zero, SQC_PK_BYTES);
}

static void assert_same_key(const struct sqc_keypair *a, const struct sqc_keypair *b)
{
    assert_memory_equal(a->pk, b->pk, SQC_PK_BYTES);
    assert_non_null(a->sk);
    assert_non_null(b->sk);
    assert_memory_equal(a->sk, b->sk, SQC_SK_BYTES);
}

static size_t encode(uint8_t *buf, const char *passphrase, size_t pass_len, enum sqc_kdf_cost cost)
{
    size_t size = 0;
    assert_int_equal(
        sqc_keyfile_encode(&key, passphrase, pass_len, cost, buf, SQ_KEYFILE_BYTES_MAX, &size),
        SQ_OK);
    return size;
}

static void test_round_trip_plain(void **state)
{
    (void)state;
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = encode(buf, NULL, 0, SQC_KDF_MIN);
    assert_int_equal(size, SQC_KEYFILE_PLAIN_BYTES);
    assert_memory_equal(buf, "SQKEY", 5);
    assert_int_equal(buf[SQC_KEYFILE_OFF_VERSION], 1);
    assert_int_equal(buf[SQC_KEYFILE_OFF_KIND], SQC_KEYFILE_PLAIN);
    assert_memory_equal(buf + SQC_KEYFILE_OFF_PK, key.pk, SQC_PK_BYTES);
    assert_false(sqc_keyfile_is_encrypted(buf, size));

    struct sqc_keypair kp;
    char err[256];
    assert_int_equal(sqc_keyfile_decode(buf, size, NULL, 0, &kp, err, sizeof(err)), SQ_OK);
    assert_same_key(&kp, &key);
    sqc_keypair_free(&kp);
    /* A passphrase is not needed, and ignored, for a plain file. */
    assert_int_equal(sqc_keyfile_decode(buf, size, pass, PASS_LEN, &kp, NULL, 0), SQ_OK);
    assert_same_key(&kp, &key);
    sqc_keypair_free(&kp);
    sqc_wipe(buf, sizeof(buf));
}

static void test_round_trip_encrypted(void **state)
{
    (void)state;
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = encode(buf, pass, PASS_LEN, SQC_KDF_MIN);
    assert_int_equal(size, SQC_KEYFILE_ENCRYPTED_BYTES);
    assert_true(sqc_keyfile_is_encrypted(buf, size));
    assert_int_equal(buf[SQC_KEYFILE_OFF_KIND], SQC_KEYFILE_ENCRYPTED);
    assert_true(sq_le64_load(buf + SQC_KEYFILE_OFF_OPSLIMIT) == SQC_KEYFILE_OPSLIMIT_MIN);
    assert_true(sq_le64_load(buf + SQC_KEYFILE_OFF_MEMLIMIT) == SQC_KEYFILE_MEMLIMIT_MIN);
    /* The seed does not appear in the file. */
    uint8_t seed[SQC_SEED_BYTES];
    sqc_keypair_seed(&key, seed);
    assert_null(memmem(buf, size, seed, sizeof(seed)));
    sqc_wipe(seed, sizeof(seed));

    struct sqc_keypair kp;
    char err[256];
    assert_int_equal(sqc_keyfile_decode(buf, size, pass, PASS_LEN, &kp, err, sizeof(err)), SQ_OK);
    assert_same_key(&kp, &key);
    sqc_keypair_free(&kp);

    /* Fresh salt and nonce every time. */
    uint8_t again[SQ_KEYFILE_BYTES_MAX];
    assert_int_equal(encode(again, pass, PASS_LEN, SQC_KDF_MIN), size);
    assert_memory_not_equal(again + SQC_KEYFILE_OFF_SALT, buf + SQC_KEYFILE_OFF_SALT,
                            SQC_KEYFILE_SALT_BYTES);
    assert_memory_not_equal(again + SQC_KEYFILE_OFF_NONCE, buf + SQC_KEYFILE_OFF_NONCE,
                            SQC_KEYFILE_NONCE_BYTES);

    /* The empty passphrase is a passphrase too. */
    size = encode(buf, "", 0, SQC_KDF_MIN);
    assert_true(sqc_keyfile_is_encrypted(buf, size));
    assert_int_equal(sqc_keyfile_decode(buf, size, "", 0, &kp, NULL, 0), SQ_OK);
    assert_same_key(&kp, &key);
    sqc_keypair_free(&kp);
    assert_int_equal(sqc_keyfile_decode(buf, size, "x", 1, &kp, NULL, 0), SQ_EAUTH);
}

static void test_interactive_cost_is_stored(void **state)
{
    (void)state;
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = encode(buf, pass, PASS_LEN, SQC_KDF_INTERACTIVE);
    assert_true(sq_le64_load(buf + SQC_KEYFILE_OFF_OPSLIMIT) == 2);
    assert_true(sq_le64_load(buf + SQC_KEYFILE_OFF_MEMLIMIT) == 64u * 1024 * 1024);
    struct sqc_keypair kp;
    assert_int_equal(sqc_keyfile_decode(buf, size, pass, PASS_LEN, &kp, NULL, 0), SQ_OK);
    assert_same_key(&kp, &key);
    sqc_keypair_free(&kp);
}

static void test_wrong_or_missing_passphrase(void **state)
{
    (void)state;
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = encode(buf, pass, PASS_LEN, SQC_KDF_MIN);
    struct sqc_keypair kp;
    char err[256];
    assert_int_equal(sqc_keyfile_decode(buf, size, "Correct horse battery staple", PASS_LEN, &kp,
                                        err, sizeof(err)),
                     SQ_EAUTH);
    assert_kp_zeroed(&kp);
    assert_non_null(strstr(err, "wrong passphrase"));
    /* A prefix of the right passphrase is wrong too (the length counts). */
    assert_int_equal(sqc_keyfile_decode(buf, size, pass, PASS_LEN - 1, &kp, NULL, 0), SQ_EAUTH);
    assert_int_equal(sqc_keyfile_decode(buf, size, NULL, 0, &kp, err, sizeof(err)), SQ_EINVAL);
    assert_kp_zeroed(&kp);
    assert_non_null(strstr(err, "passphrase is needed"));
}

static void check_fails_cleanly(const uint8_t *buf, size_t size, const char *passphrase,
                                size_t pass_len)
{
    struct sqc_keypair kp;
    char err[256] = "";
    int rc = sqc_keyfile_decode(buf, size, passphrase, pass_len, &kp, err, sizeof(err));
    if (rc != SQ_ECORRUPT && rc != SQ_EVERSION && rc != SQ_EAUTH) {
        fail_msg("decode gave %s for a damaged file of %zu bytes", sq_errname(rc), size);
    }
    assert_kp_zeroed(&kp);
    assert_true(strlen(err) > 0);
}

static void test_every_byte_change_fails(void **state)
{
    (void)state;
    static const uint8_t masks[] = {0x01, 0x80, 0xff};
    uint8_t enc[SQ_KEYFILE_BYTES_MAX];
    size_t enc_size = encode(enc, pass, PASS_LEN, SQC_KDF_MIN);
    uint8_t plain[SQ_KEYFILE_BYTES_MAX];
    size_t plain_size = encode(plain, NULL, 0, SQC_KDF_MIN);
    for (size_t i = 0; i < enc_size; i++) {
        for (size_t k = 0; k < SQ_ARRAY_LEN(masks); k++) {
            enc[i] ^= masks[k];
            check_fails_cleanly(enc, enc_size, pass, PASS_LEN);
            enc[i] ^= masks[k];
        }
    }
    for (size_t i = 0; i < plain_size; i++) {
        for (size_t k = 0; k < SQ_ARRAY_LEN(masks); k++) {
            plain[i] ^= masks[k];
            /* Without a passphrase: the only way a plain file can be read. */
            struct sqc_keypair kp;
            int rc = sqc_keyfile_decode(plain, plain_size, NULL, 0, &kp, NULL, 0);
            assert_true(rc == SQ_ECORRUPT || rc == SQ_EVERSION || rc == SQ_EINVAL);
            assert_kp_zeroed(&kp);
            check_fails_cleanly(plain, plain_size, pass, PASS_LEN);
            plain[i] ^= masks[k];
        }
    }
    /* Salt, nonce, public key and sealed seed are all under the seal: a change there is an
     * authentication failure, whatever the passphrase. */
    for (size_t i = SQC_KEYFILE_OFF_SALT; i < enc_size; i++) {
        enc[i] ^= 0x20;
        struct sqc_keypair kp;
        assert_int_equal(sqc_keyfile_decode(enc, enc_size, pass, PASS_LEN, &kp, NULL, 0), SQ_EAUTH);
        enc[i] ^= 0x20;
    }
    /* Untouched, both still decode: the loops restored every byte. */
    struct sqc_keypair kp;
    assert_int_equal(sqc_keyfile_decode(enc, enc_size, pass, PASS_LEN, &kp, NULL, 0), SQ_OK);
    sqc_keypair_free(&kp);
    assert_int_equal(sqc_keyfile_decode(plain, plain_size, NULL, 0, &kp, NULL, 0), SQ_OK);
    sqc_keypair_free(&kp);
}

static void test_every_truncation_fails(void **state)
{
    (void)state;
    uint8_t enc[SQ_KEYFILE_BYTES_MAX];
    size_t enc_size = encode(enc, pass, PASS_LEN, SQC_KDF_MIN);
    uint8_t plain[SQ_KEYFILE_BYTES_MAX];
    size_t plain_size = encode(plain, NULL, 0, SQC_KDF_MIN);
    for (size_t len = 0; len < enc_size; len++) {
        /* An exact-size heap copy, so ASan catches any read past the end. */
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, enc, len);
        struct sqc_keypair kp;
        char err[256] = "";
        assert_int_equal(sqc_keyfile_decode(copy, len, pass, PASS_LEN, &kp, err, sizeof(err)),
                         SQ_ECORRUPT);
        assert_kp_zeroed(&kp);
        assert_true(strlen(err) > 0);
        if (len < plain_size) {
            memcpy(copy, plain, len);
            assert_int_equal(sqc_keyfile_decode(copy, len, NULL, 0, &kp, NULL, 0), SQ_ECORRUPT);
            assert_kp_zeroed(&kp);
        }
        free(copy);
    }
    struct sqc_keypair kp;
    assert_int_equal(sqc_keyfile_decode(NULL, 0, pass, PASS_LEN, &kp, NULL, 0), SQ_ECORRUPT);
    /* Trailing bytes are damage too. */
    enc[enc_size] = 0;
    assert_int_equal(sqc_keyfile_decode(enc, enc_size + 1, pass, PASS_LEN, &kp, NULL, 0),
                     SQ_ECORRUPT);
    plain[plain_size] = 0;
    assert_int_equal(sqc_keyfile_decode(plain, plain_size + 1, NULL, 0, &kp, NULL, 0), SQ_ECORRUPT);
    assert_false(sqc_keyfile_is_encrypted(enc, enc_size - 1));
    assert_false(sqc_keyfile_is_encrypted(NULL, 0));
}

static void test_unknown_version(void **state)
{
    (void)state;
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = encode(buf, pass, PASS_LEN, SQC_KDF_MIN);
    static const uint8_t versions[] = {0, 2, 9, 255};
    for (size_t i = 0; i < SQ_ARRAY_LEN(versions); i++) {
        buf[SQC_KEYFILE_OFF_VERSION] = versions[i];
        struct sqc_keypair kp;
        char err[256];
        assert_int_equal(sqc_keyfile_decode(buf, size, pass, PASS_LEN, &kp, err, sizeof(err)),
                         SQ_EVERSION);
        assert_kp_zeroed(&kp);
        assert_non_null(strstr(err, "version"));
        /* Version first: even a short file of an unknown version says so. */
        assert_int_equal(sqc_keyfile_decode(buf, 6, pass, PASS_LEN, &kp, NULL, 0), SQ_EVERSION);
        assert_false(sqc_keyfile_is_encrypted(buf, size));
    }
}

static void set_costs(uint8_t *buf, uint64_t opslimit, uint64_t memlimit)
{
    sq_le64_store(buf + SQC_KEYFILE_OFF_OPSLIMIT, opslimit);
    sq_le64_store(buf + SQC_KEYFILE_OFF_MEMLIMIT, memlimit);
}

static void test_absurd_kdf_costs_rejected(void **state)
{
    (void)state;
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = encode(buf, pass, PASS_LEN, SQC_KDF_MIN);
    const uint64_t bad[][2] = {
        {0, SQC_KEYFILE_MEMLIMIT_MIN},
        {SQC_KEYFILE_OPSLIMIT_MAX + 1, SQC_KEYFILE_MEMLIMIT_MIN},
        {UINT64_MAX, SQC_KEYFILE_MEMLIMIT_MIN},
        {1, 0},
        {1, SQC_KEYFILE_MEMLIMIT_MIN - 1024},
        {1, SQC_KEYFILE_MEMLIMIT_MIN + 1}, /* not whole KiB */
        {1, (uint64_t)SQC_KEYFILE_MEMLIMIT_MAX + 1024},
        {1, UINT64_C(1) << 40}, /* a terabyte */
        {1, UINT64_MAX},
    };
    for (size_t i = 0; i < SQ_ARRAY_LEN(bad); i++) {
        set_costs(buf, bad[i][0], bad[i][1]);
        struct sqc_keypair kp;
        char err[256];
        assert_int_equal(sqc_keyfile_decode(buf, size, pass, PASS_LEN, &kp, err, sizeof(err)),
                         SQ_ECORRUPT);
        assert_kp_zeroed(&kp);
        assert_non_null(strstr(err, "Argon2id cost"));
    }
    /* Within the bounds but not what was sealed: the header is authenticated. */
    set_costs(buf, 2, SQC_KEYFILE_MEMLIMIT_MIN);
    struct sqc_keypair kp;
    assert_int_equal(sqc_keyfile_decode(buf, size, pass, PASS_LEN, &kp, NULL, 0), SQ_EAUTH);
    /* The bounded decoder refuses it with tighter maxima before deriving anything. */
    assert_int_equal(sqc_keyfile_decode_bounded_(buf, size, pass, PASS_LEN, 1,
                                                 SQC_KEYFILE_MEMLIMIT_MIN, &kp, NULL, 0),
                     SQ_ECORRUPT);
    set_costs(buf, 1, SQC_KEYFILE_MEMLIMIT_MIN);
    assert_int_equal(sqc_keyfile_decode_bounded_(buf, size, pass, PASS_LEN, 1,
                                                 SQC_KEYFILE_MEMLIMIT_MIN, &kp, NULL, 0),
                     SQ_OK);
    sqc_keypair_free(&kp);
}

static void test_encode_capacity(void **state)
{
    (void)state;
    uint8_t buf[SQ_KEYFILE_BYTES_MAX];
    size_t size = 7;
    assert_int_equal(sqc_keyfile_encode(&key, pass, PASS_LEN, SQC_KDF_MIN, buf,
                                        SQC_KEYFILE_ENCRYPTED_BYTES - 1, &size),
                     SQ_ETOOBIG);
    assert_int_equal(size, 0);
    assert_int_equal(
        sqc_keyfile_encode(&key, NULL, 0, SQC_KDF_MIN, buf, SQC_KEYFILE_PLAIN_BYTES - 1, &size),
        SQ_ETOOBIG);
    assert_int_equal(
        sqc_keyfile_encode(&key, NULL, 0, SQC_KDF_MIN, buf, SQC_KEYFILE_PLAIN_BYTES, &size), SQ_OK);
    assert_int_equal(size, SQC_KEYFILE_PLAIN_BYTES);
}

/* ---- files ---- */

static char dir[64];

static int files_setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/sq-keyfile-test.XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int files_teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
                char p[512];
                snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
                unlink(p);
            }
        }
        closedir(d);
    }
    rmdir(dir);
    return 0;
}

static size_t dir_entries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    closedir(d);
    return n;
}

static void read_file_bytes(const char *path, uint8_t *buf, size_t cap, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    *size = fread(buf, 1, cap, f);
    fclose(f);
}

static void test_write_and_read_files(void **state)
{
    (void)state;
    char path[128];
    char err[512];
    snprintf(path, sizeof(path), "%s/validator.key", dir);
    assert_int_equal(sqc_keyfile_write(path, &key, pass, PASS_LEN, SQC_KDF_MIN, err, sizeof(err)),
                     SQ_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, SQC_KEYFILE_ENCRYPTED_BYTES);
    assert_int_equal(dir_entries(), 1); /* no temporary file left behind */

    struct sqc_keypair kp;
    assert_int_equal(sqc_keyfile_read(path, pass, PASS_LEN, &kp, err, sizeof(err)), SQ_OK);
    assert_same_key(&kp, &key);
    sqc_keypair_free(&kp);
    assert_int_equal(sqc_keyfile_read(path, "nope", 4, &kp, err, sizeof(err)), SQ_EAUTH);
    assert_kp_zeroed(&kp);
    assert_non_null(strstr(err, "wrong passphrase"));

    /* Refuses to overwrite, and leaves the existing file as it was. */
    uint8_t before[512];
    uint8_t after[512];
    size_t before_size;
    size_t after_size;
    read_file_bytes(path, before, sizeof(before), &before_size);
    struct sqc_keypair other;
    assert_int_equal(sqc_keypair_generate(&other), SQ_OK);
    assert_int_equal(sqc_keyfile_write(path, &other, NULL, 0, SQC_KDF_MIN, err, sizeof(err)),
                     SQ_EEXIST);
    assert_non_null(strstr(err, "refusing"));
    read_file_bytes(path, after, sizeof(after), &after_size);
    assert_int_equal(after_size, before_size);
    assert_memory_equal(after, before, before_size);
    assert_int_equal(dir_entries(), 1);

    /* Plain files work the same way. */
    char plain_path[128];
    snprintf(plain_path, sizeof(plain_path), "%s/plain.key", dir);
    assert_int_equal(sqc_keyfile_write(plain_path, &other, NULL, 0, SQC_KDF_MIN, err, sizeof(err)),
                     SQ_OK);
    assert_int_equal(stat(plain_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(sqc_keyfile_read(plain_path, NULL, 0, &kp, err, sizeof(err)), SQ_OK);
    assert_same_key(&kp, &other);
    sqc_keypair_free(&kp);
    sqc_keypair_free(&other);
    assert_int_equal(dir_entries(), 2);
}

static void test_file_errors(void **state)
{
    (void)state;
    char path[128];
    char err[512];
    struct sqc_keypair kp;
    snprintf(path, sizeof(path), "%s/missing.key", dir);
    assert_int_equal(sqc_keyfile_read(path, pass, PASS_LEN, &kp, err, sizeof(err)), SQ_ENOTFOUND);
    assert_kp_zeroed(&kp);
    assert_true(strlen(err) > 0);

    snprintf(path, sizeof(path), "%s/no-such-dir/x.key", dir);
    assert_int_equal(sqc_keyfile_write(path, &key, pass, PASS_LEN, SQC_KDF_MIN, err, sizeof(err)),
                     SQ_EIO);
    assert_non_null(strstr(err, "cannot create"));

    assert_int_equal(sqc_keyfile_read(dir, pass, PASS_LEN, &kp, err, sizeof(err)), SQ_EIO);
    assert_kp_zeroed(&kp);

    /* A file bigger than any key file, and one of garbage. */
    snprintf(path, sizeof(path), "%s/big.key", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < SQ_KEYFILE_BYTES_MAX + 10; i++) {
        fputc('k', f);
    }
    fclose(f);
    assert_int_equal(sqc_keyfile_read(path, pass, PASS_LEN, &kp, err, sizeof(err)), SQ_ECORRUPT);
    assert_kp_zeroed(&kp);
    unlink(path);
    snprintf(path, sizeof(path), "%s/garbage.key", dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    fputs("-----BEGIN PRIVATE KEY-----\n", f);
    fclose(f);
    assert_int_equal(sqc_keyfile_read(path, pass, PASS_LEN, &kp, err, sizeof(err)), SQ_ECORRUPT);
    assert_non_null(strstr(err, "not a Squall key file"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_plain),
        cmocka_unit_test(test_round_trip_encrypted),
        cmocka_unit_test(test_interactive_cost_is_stored),
        cmocka_unit_test(test_wrong_or_missing_passphrase),
        cmocka_unit_test(test_every_byte_change_fails),
        cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_unknown_version),
        cmocka_unit_test(test_absurd_kdf_costs_rejected),
        cmocka_unit_test(test_encode_capacity),
        cmocka_unit_test_setup_teardown(test_write_and_read_files, files_setup, files_teardown),
        cmocka_unit_test_setup_teardown(test_file_errors, files_setup, files_teardown),
    };
    return cmocka_run_group_tests_name("crypto_keyfile", tests, group_setup, group_teardown);
}
