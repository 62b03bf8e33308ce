/* Three real processes on 127.0.0.1, each sending 100,000 messages of mixed sizes (SMC and RDMC
 * paths mixed within each sender), must all deliver the same sequence: the same count and the
 * same SHA-256 digest over (version, sender, size, bytes) of every delivery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "spawn.h"

static void run_group(uint32_t n, const char *const *args, double timeout_s, uint64_t expect)
{
    struct spawn_group sg;
    assert_int_equal(spawn_start(&sg, MC_MEMBER, n, args, NULL, NULL), 0);
    uint32_t ok = spawn_wait(&sg, timeout_s);
    for (uint32_t i = 0; i < n; i++) {
        printf("member %u (status %d): %s", i, sg.status[i], sg.out[i]);
    }
    assert_int_equal(ok, n);
    char d0[80], di[80];
    assert_true(spawn_str(&sg, 0, "digest", d0, sizeof(d0)));
    for (uint32_t i = 0; i < n; i++) {
        assert_true(spawn_num(&sg, i, "delivered") == (double)expect);
        assert_true(spawn_str(&sg, i, "digest", di, sizeof(di)));
        assert_string_equal(d0, di);
    }
}

static void test_three_members_mixed_sizes_agree(void **state)
{
    (void)state;
    /* Sizes 1..2000 through SST slots, every 50th message 24 KiB through RDMC (SMC limit 4 KiB,
     * 8 KiB blocks: 3 blocks each). */
    const char *const args[] = {"--count", "100000", "--size-min", "1", "--size-max", "2000",
                                "--large-size", "24576", "--large-every", "50", "--smc", "4096",
                                "--block", "8192", "--window", "32", NULL};
    run_group(3, args, 800, 300000);
}

static void test_one_sender_others_idle(void **state)
{
    (void)state;
    /* Only member 0 sends: the order still moves because the idle members send nulls. */
    const char *const args[] = {"--count", "20000", "--senders", "1", "--size-min", "8",
                                "--size-max", "300", NULL};
    run_group(3, args, 300, 20000);
}

static char logdir[64];

/* `--log` (or the option `arg` names, if not NULL) with the file logdir/m<i>.log. */
static const char *const *log_extra(uint32_t i, void *arg)
{
    static char path[SPAWN_MAX][128];
    static const char *out[SPAWN_MAX][3];
    snprintf(path[i], sizeof(path[i]), "%s/m%u.log", logdir, i);
    out[i][0] = arg != NULL ? (const char *)arg : "--log";
    out[i][1] = path[i];
    out[i][2] = NULL;
    return out[i];
}

struct entry {
    long long version;
    unsigned sender;
    unsigned long long counter;
    size_t size;
};

static size_t read_log(uint32_t i, struct entry **out)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/m%u.log", logdir, i);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t cap = 1 << 16, n = 0;
    struct entry *e = malloc(cap * sizeof(*e));
    while (n < cap && fscanf(f, "%lld %u %llu %zu", &e[n].version, &e[n].sender, &e[n].counter,
                             &e[n].size) == 4) {
        n++;
    }
    fclose(f);
    *out = e;
    return n;
}

/* Five members under load; member 4 is SIGKILLed mid-run. The four survivors install a view
 * without it, go on delivering, and end with identical delivery logs in which every survivor's
 * message appears exactly once (own undelivered messages were re-sent in the new view). */
static void test_five_members_one_killed(void **state)
{
    (void)state;
    snprintf(logdir, sizeof(logdir), "/tmp/sq-mc-XXXXXX");
    assert_non_null(mkdtemp(logdir));
    const unsigned count = 3000;
    const char *const args[] = {"--count", "3000", "--size-min", "50", "--size-max", "3000",
                                "--smc", "1024", "--block", "4096", "--rate", "1500",
                                "--timeout-ms", "300", NULL};
    struct spawn_group sg;
    assert_int_equal(spawn_start(&sg, MC_MEMBER, 5, args, log_extra, NULL), 0);
    /* Once every member delivers (its log file has its first buffered lines: all peers were up
     * and the group runs), kill member 4 by PID. */
    for (uint32_t i = 0, waited_ms = 0; i < 5; waited_ms += 20) {
        char path[160];
        struct stat st;
        snprintf(path, sizeof(path), "%s/m%u.log", logdir, i);
        if (stat(path, &st) == 0 && st.st_size > 0) {
            i++;
            continue;
        }
        assert_true(waited_ms < 60000);
        usleep(20 * 1000); /* pacing a re-check with a deadline */
    }
    assert_int_equal(kill(sg.pids[4], SIGKILL), 0);
    spawn_wait(&sg, 300);
    for (uint32_t i = 0; i < 5; i++) {
        printf("member %u (status %d): %s", i, sg.status[i], sg.out[i]);
    }
    assert_true(WIFSIGNALED(sg.status[4]));
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(sg.status[i], 0);
        assert_true(spawn_num(&sg, i, "views") >= 1); /* a view without member 4 */
    }
    struct entry *ref;
    size_t ref_n = read_log(0, &ref);
    for (uint32_t i = 1; i < 4; i++) {
        struct entry *e;
        size_t n = read_log(i, &e);
        assert_int_equal(n, ref_n);
        for (size_t k = 0; k < n; k++) {
            if (e[k].version != ref[k].version || e[k].sender != ref[k].sender ||
                e[k].counter != ref[k].counter || e[k].size != ref[k].size) {
                fail_msg("member %u differs from member 0 at delivery %zu", i, k);
            }
        }
        free(e);
    }
    /* Exactly once for the survivors' messages; at most once for the killed member's. */
    static unsigned char seen[5][3000];
    memset(seen, 0, sizeof(seen));
    for (size_t k = 0; k < ref_n; k++) {
        assert_true(ref[k].sender < 5 && ref[k].counter < count);
        assert_int_equal(seen[ref[k].sender][ref[k].counter]++, 0);
        assert_true(k == 0 || ref[k].version == ref[k - 1].version + 1);
    }
    for (uint32_t s = 0; s < 4; s++) {
        for (unsigned c = 0; c < count; c++) {
            if (!seen[s][c]) {
                fail_msg("message %u of survivor %u was never delivered", c, s);
            }
        }
    }
    free(ref);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", logdir);
    assert_int_equal(system(cmd), 0);
}

static uint8_t *read_file(uint32_t i, size_t *size)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/m%u.log", logdir, i);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 1 << 20, n = 0;
    uint8_t *b = malloc(cap);
    for (size_t k; (k = fread(b + n, 1, cap - n, f)) > 0;) {
        n += k;
        if (n == cap) {
            cap *= 2;
            b = realloc(b, cap);
        }
    }
    fclose(f);
    *size = n;
    return b;
}

/* The benchmark's durable mode: every member's file holds every delivery exactly once, in the
 * same order (records {u64 version, u32 size, bytes}, versions 0, 1, 2, ...). */
static void test_three_members_durable_files_agree(void **state)
{
    (void)state;
    snprintf(logdir, sizeof(logdir), "/tmp/sq-mc-XXXXXX");
    assert_non_null(mkdtemp(logdir));
    const char *const args[] = {"--count", "20000", "--size-min", "100", "--size-max", "100",
                                "--smc", "128", "--window", "1000", NULL};
    struct spawn_group sg;
    assert_int_equal(spawn_start(&sg, MC_MEMBER, 3, args, log_extra, "--durable"), 0);
    assert_int_equal(spawn_wait(&sg, 300), 3);
    for (uint32_t i = 0; i < 3; i++) {
        printf("member %u (status %d): %s", i, sg.status[i], sg.out[i]);
        assert_true(spawn_num(&sg, i, "syncs") >= 1);
    }
    size_t n0;
    uint8_t *f0 = read_file(0, &n0);
    assert_int_equal(n0, 60000u * (12 + 100));
    for (size_t off = 0, v = 0; off < n0; off += 12 + 100, v++) {
        uint64_t version = 0;
        uint32_t size = 0;
        for (int b = 7; b >= 0; b--) {
            version = version << 8 | f0[off + (size_t)b];
        }
        for (int b = 3; b >= 0; b--) {
            size = size << 8 | f0[off + 8 + (size_t)b];
        }
        if (version != v || size != 100) {
            fail_msg("record %zu: version %llu size %u", v, (unsigned long long)version, size);
        }
    }
    for (uint32_t i = 1; i < 3; i++) {
        size_t n;
        uint8_t *f = read_file(i, &n);
        assert_int_equal(n, n0);
        assert_memory_equal(f, f0, n0);
        free(f);
    }
    free(f0);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", logdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_sender_others_idle),
        cmocka_unit_test(test_three_members_mixed_sizes_agree),
        cmocka_unit_test(test_five_members_one_killed),
        cmocka_unit_test(test_three_members_durable_files_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
