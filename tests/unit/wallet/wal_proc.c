/* Running commands for the wallet's command tests (wal_proc.h). */
#include "wal_proc.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/crypto.h"

char wal_work[4096];

char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return calloc(1, 1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    size_t got = fread(buf, 1, (size_t)n, f);
    buf[got] = '\0';
    fclose(f);
    return buf;
}

void out_free(struct out *o)
{
    free(o->out);
    free(o->err);
}

struct out run(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    /* Through a script file: the command line may hold any quoting. */
    char path[4200];
    snprintf(path, sizeof(path), "%s/.cmd", wal_work);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "%s\n", cmd);
    fclose(f);
    char full[9000];
    snprintf(full, sizeof(full), "cd %s && timeout 120 sh .cmd >.out 2>.err </dev/null", wal_work);
    int st = system(full);
    struct out o;
    o.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    snprintf(path, sizeof(path), "%s/.out", wal_work);
    o.out = slurp(path);
    snprintf(path, sizeof(path), "%s/.err", wal_work);
    o.err = slurp(path);
    return o;
}


pid_t spawn(const char *log, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    char path[4300];
    snprintf(path, sizeof(path), "%s%s%s", log[0] == '/' ? "" : wal_work, log[0] == '/' ? "" : "/",
             log);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_RDONLY);
        if (fd < 0 || null < 0 || chdir(wal_work) != 0) {
            _exit(127);
        }
        dup2(null, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void nap_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (with a deadline) until `path` contains `needle`; returns a copy of the text. */
char *wait_for(const char *path, const char *needle, double seconds)
{
    double end = now_s() + seconds;
    for (;;) {
        char *text = slurp(path);
        if (strstr(text, needle) != NULL) {
            return text;
        }
        if (now_s() > end) {
            fail_msg("%s never showed '%s' (it holds: %s)", path, needle, text);
        }
        free(text);
        nap_ms(20);
    }
}

int wait_exit(pid_t pid, double seconds)
{
    double end = now_s() + seconds;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid) {
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        }
        if (now_s() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            fail_msg("process %d did not exit within %.0f s", (int)pid, seconds);
        }
        nap_ms(20);
    }
}

void stop(pid_t pid)
{
    kill(pid, SIGTERM);
    wait_exit(pid, 20);
}

unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

char *hex_of(const uint8_t *data, size_t size)
{
    static char buf[4][2 * 64 + 1];
    static int which;
    char *b = buf[which++ % 4];
    sqc_hex_encode(b, 2 * 64 + 1, data, size);
    return b;
}

/* A JSON field's text from a one-line answer ("key":value), copied into out. */
const char *field(const char *json, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    if (p == NULL) {
        fail_msg("no \"%s\" in %s", key, json);
    }
    p += strlen(pat);
    if (*p == '"') {
        p++;
    }
    size_t n = 0;
    while (p[n] != '\0' && p[n] != '"' && p[n] != ',' && p[n] != '}' && n + 1 < cap) {
        n++;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    return out;
}


void receipt_tamper(const char *src, const char *dst, size_t from_end)
{
    char path[4300];
    snprintf(path, sizeof(path), "%s/%s", wal_work, src);
    char *text = slurp(path);
    char *r = strstr(text, "\"receipt\": \"");
    assert_non_null(r);
    char *endq = strchr(r + 12, '"');
    assert_non_null(endq);
    assert_true((size_t)(endq - (r + 12)) > from_end);
    char *victim = endq - from_end;
    *victim = *victim == 'a' ? 'b' : 'a';
    snprintf(path, sizeof(path), "%s/%s", wal_work, dst);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
}
