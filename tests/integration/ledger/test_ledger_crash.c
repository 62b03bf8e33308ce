/* Crash safety: a child commits blocks in a loop and is SIGKILLed at random moments, 50 times.
 * After each kill the store must reopen with every block the child reported durable, unchanged
 * (a consistent prefix, nothing torn), and the audit must pass. Some rounds also audit the store
 * read-only while the child is writing.
 *     test_ledger_crash PATH_TO_ledger_crash_child [SEED] */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/prng.h"
#include "crash_common.h"

#define ROUNDS 50
#define HEIGHTS_MAX 100000

static const char *child_path_;
static uint64_t seed_ = 20240607;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Lines "HEIGHT HASH" read so far, and the partial one. */
struct reader {
    int fd;
    char buf[8192];
    size_t len;
    uint64_t last_height;
    uint64_t lines;
    uint8_t (*hashes)[32]; /* by height: what the child reported durable */
    bool *have;
};

static void consume(struct reader *r)
{
    char *start = r->buf;
    char *nl;
    while ((nl = memchr(start, '\n', r->len - (size_t)(start - r->buf))) != NULL) {
        *nl = '\0';
        unsigned long long h;
        char hex[65];
        if (sscanf(start, "%llu %64s", &h, hex) == 2 && h < HEIGHTS_MAX) {
            size_t n;
            uint8_t hash[32];
            assert_int_equal(sqc_hex_decode(hash, 32, hex, 64, &n), SQ_OK);
            if (r->have[h]) {
                /* Reported twice (a later run recommitted nothing new?): must not change. */
                assert_memory_equal(r->hashes[h], hash, 32);
            }
            memcpy(r->hashes[h], hash, 32);
            r->have[h] = true;
            r->last_height = h > r->last_height ? h : r->last_height;
            r->lines++;
        }
        start = nl + 1;
    }
    size_t rest = r->len - (size_t)(start - r->buf);
    memmove(r->buf, start, rest);
    r->len = rest;
}

/* Reads whatever is available within `ms` milliseconds; false at end of file. */
static bool read_for(struct reader *r, uint64_t ms)
{
    uint64_t deadline = now_ms() + ms;
    for (;;) {
        uint64_t now = now_ms();
        int left = now >= deadline ? 0 : (int)(deadline - now);
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        int n = poll(&p, 1, left);
        if (n <= 0) {
            return true;
        }
        ssize_t got = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len - 1);
        if (got <= 0) {
            return false;
        }
        r->len += (size_t)got;
        consume(r);
    }
}

static pid_t spawn(const char *dir, uint64_t seed, int *fd)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        char s[32];
        snprintf(s, sizeof(s), "%llu", (unsigned long long)seed);
        execl(child_path_, child_path_, dir, s, (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    *fd = p[0];
    return pid;
}

static void check_store(const char *dir, struct ldg_genesis *g, struct reader *r, bool ro,
                        uint64_t *tip)
{
    struct ldg_store *s;
    struct ldg_store_opts opts = {.read_only = ro};
    int rc = ldg_store_open(dir, g, &opts, &s);
    if (rc != SQ_OK) {
        fail_msg("reopen: %s: %s", sq_errname(rc), ldg_errmsg());
    }
    uint64_t h = ldg_store_persisted_height(s);
    /* Durable means durable: nothing the child reported is missing or different. */
    if (h < r->last_height) {
        fail_msg("the child reported height %llu durable, the store has %llu",
                 (unsigned long long)r->last_height, (unsigned long long)h);
    }
    for (uint64_t i = 1; i <= r->last_height; i++) {
        if (!r->have[i]) {
            continue;
        }
        uint8_t hash[32];
        assert_int_equal(ldg_header_get(s, i, NULL, hash), SQ_OK);
        if (memcmp(hash, r->hashes[i], 32) != 0) {
            fail_msg("block %llu changed after it was reported durable", (unsigned long long)i);
        }
    }
    struct ldg_audit_report rep;
    rc = ldg_audit_run(s, NULL, NULL, NULL, &rep);
    if (rc != SQ_OK) {
        fail_msg("audit: height %llu: %s: %s", (unsigned long long)rep.fault_height, rep.what,
                 rep.why);
    }
    *tip = rep.tip;
    ldg_store_close(s);
}

static void test_sigkill_fifty_times(void **state)
{
    (void)state;
    char dir[] = "/tmp/ldgcrash.XXXXXX";
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof(tmpl), "%s/ldgcrash.XXXXXX", base != NULL && base[0] ? base : "/tmp");
    assert_non_null(mkdtemp(tmpl));
    (void)dir;
    struct ldg_genesis *g = crash_genesis();
    assert_non_null(g);
    struct reader r = {.hashes = calloc(HEIGHTS_MAX, 32), .have = calloc(HEIGHTS_MAX, 1)};
    struct sq_prng prng;
    sq_prng_seed(&prng, seed_);
    uint64_t tip = 0;
    unsigned killed_mid_run = 0;
    unsigned ro_audits = 0;
    for (int round = 0; round < ROUNDS; round++) {
        r.len = 0;
        pid_t pid = spawn(tmpl, sq_prng_next(&prng), &r.fd);
        /* Let it commit at least once, then a random while longer. */
        uint64_t before = r.lines;
        uint64_t deadline = now_ms() + 10000;
        while (r.lines == before && now_ms() < deadline) {
            if (!read_for(&r, 20)) {
                break;
            }
        }
        if (r.lines == before) {
            int status;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("round %d: the child committed nothing (status %d)", round, status);
        }
        if (round % 5 == 4) {
            /* Read-only audit while the writer runs: readers never block it. */
            uint64_t lines = r.lines;
            uint64_t ro_tip;
            struct reader snapshot = r;
            check_store(tmpl, g, &snapshot, true, &ro_tip);
            ro_audits++;
            read_for(&r, 5);
            assert_true(r.lines >= lines);
        }
        read_for(&r, sq_prng_below(&prng, 60));
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
            killed_mid_run++;
        } else {
            fail_msg("round %d: the child exited on its own (status %d)", round, status);
        }
        /* Lines that made it into the pipe before the kill. */
        while (read_for(&r, 0)) {
            struct pollfd p = {.fd = r.fd, .events = POLLIN};
            if (poll(&p, 1, 0) <= 0) {
                break;
            }
        }
        close(r.fd);
        check_store(tmpl, g, &r, false, &tip);
    }
    print_message("crash test: %u kills, tip %llu, %llu commits reported, %u read-only audits "
                  "during writes\n",
                  killed_mid_run, (unsigned long long)tip, (unsigned long long)r.lines, ro_audits);
    assert_int_equal(killed_mid_run, ROUNDS);
    assert_true(tip >= ROUNDS);
    assert_int_equal(ldg_store_remove(tmpl), SQ_OK);
    free(r.hashes);
    free(r.have);
    ldg_genesis_free(g);
}

static int setup(void **state)
{
    (void)state;
    return sqc_init();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH_TO_ledger_crash_child [SEED]\n", argv[0]);
        return 2;
    }
    child_path_ = argv[1];
    if (argc > 2) {
        seed_ = strtoull(argv[2], NULL, 10);
    }
    printf("crash test seed %llu\n", (unsigned long long)seed_);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_fifty_times),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
