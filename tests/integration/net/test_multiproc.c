/* Multi-process tests over TCP on 127.0.0.1: real sst_node processes, started with a listening
 * socket the test bound to port 0 (so ports never collide), watched through their standard output
 * with deadlines, and stopped by PID.
 *
 *   test_multiproc <path to sst_node> */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define PROCS_MAX 4

static const char *node_exe;

struct proc {
    pid_t pid;
    int out_fd; /* its stdout */
    int in_fd;  /* its stdin */
    char buf[16384];
    size_t len;
    char err_path[64];
};

static struct proc procs[PROCS_MAX];
static int listen_fds[PROCS_MAX];
static uint16_t ports[PROCS_MAX];

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void bind_ports(int n)
{
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(fd, 16), 0);
        socklen_t sl = sizeof(sa);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
        listen_fds[i] = fd;
        ports[i] = ntohs(sa.sin_port);
    }
}

/* Starts node `id` of `n` with extra arguments (NULL-terminated). Its listening socket becomes
 * its fd 3; its stderr goes to a temporary file. */
static void spawn(int id, int n, const char *mode, const char *extra)
{
    struct proc *p = &procs[id];
    memset(p, 0, sizeof(*p));
    char portlist[128] = "";
    for (int i = 0; i < n; i++) {
        char one[16];
        snprintf(one, sizeof(one), "%s%u", i ? "," : "", ports[i]);
        strcat(portlist, one);
    }
    snprintf(p->err_path, sizeof(p->err_path), "/tmp/sq-mp-%d-%d.err", (int)getpid(), id);
    int out_pipe[2], in_pipe[2];
    assert_int_equal(pipe2(out_pipe, O_CLOEXEC), 0);
    assert_int_equal(pipe2(in_pipe, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int err = open(p->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (err < 0 || dup2(in_pipe[0], 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err, 2) < 0) {
            _exit(127);
        }
        /* dup2 onto itself keeps close-on-exec: clear it explicitly in that case. */
        if (listen_fds[id] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(listen_fds[id], 3) < 0) {
            _exit(127);
        }
        char ids[8], ns[8];
        snprintf(ids, sizeof(ids), "%d", id);
        snprintf(ns, sizeof(ns), "%d", n);
        char *argv[16] = {(char *)node_exe, "--id",        ids, "--n",    ns,           "--ports",
                          portlist,         "--listen-fd", "3", "--mode", (char *)mode, NULL};
        int argc = 11;
        if (extra != NULL) {
            argv[argc++] = (char *)extra;
            if (strcmp(extra, "--target") == 0) {
                argv[argc++] = "200";
            }
        }
        argv[argc] = NULL;
        execv(node_exe, argv);
        _exit(127);
    }
    close(out_pipe[1]);
    close(in_pipe[0]);
    p->pid = pid;
    p->out_fd = out_pipe[0];
    p->in_fd = in_pipe[1];
}

/* Waits until process `id` has printed a line starting with `prefix` (returned, or NULL at the
 * deadline or its EOF). */
static const char *wait_line(int id, const char *prefix, uint64_t timeout_ms)
{
    static char line[1024];
    struct proc *p = &procs[id];
    uint64_t end = now_ms() + timeout_ms;
    for (;;) {
        /* Look for a complete matching line in what was read so far. */
        char *start = p->buf;
        char *nl;
        while ((nl = memchr(start, '\n', p->len - (size_t)(start - p->buf))) != NULL) {
            size_t l = (size_t)(nl - start);
            if (strncmp(start, prefix, strlen(prefix)) == 0 && l < sizeof(line)) {
                memcpy(line, start, l);
                line[l] = '\0';
                return line;
            }
            start = nl + 1;
        }
        uint64_t t = now_ms();
        if (t >= end) {
            return NULL;
        }
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)(end - t));
        if (r <= 0) {
            continue;
        }
        ssize_t got = read(p->out_fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
        if (got <= 0) {
            return NULL;
        }
        p->len += (size_t)got;
        p->buf[p->len] = '\0';
    }
}

static bool printed(int id, const char *needle)
{
    struct proc *p = &procs[id];
    p->buf[p->len] = '\0';
    return strstr(p->buf, needle) != NULL;
}

/* Waits for the process to exit within the deadline; returns its wait status or -1. */
static int wait_exit(int id, uint64_t timeout_ms)
{
    struct proc *p = &procs[id];
    uint64_t end = now_ms() + timeout_ms;
    for (;;) {
        int status = 0;
        pid_t r = waitpid(p->pid, &status, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            return status;
        }
        if (now_ms() >= end) {
            return -1;
        }
        /* Block on its stdout (EOF when it exits) rather than sleeping. */
        struct pollfd pfd = {.fd = p->out_fd, .events = POLLIN};
        if (poll(&pfd, 1, 20) > 0) {
            ssize_t got = read(p->out_fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
            if (got > 0) {
                p->len += (size_t)got;
            }
        }
    }
}

static bool stderr_contains(int id, const char *needle)
{
    FILE *f = fopen(procs[id].err_path, "r");
    if (f == NULL) {
        return false;
    }
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* Stops every process still running (SIGKILL by PID) and releases everything. */
static int cleanup(void **state)
{
    (void)state;
    for (int i = 0; i < PROCS_MAX; i++) {
        struct proc *p = &procs[i];
        if (p->pid > 0) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, NULL, 0);
            p->pid = 0;
        }
        if (p->out_fd > 0) {
            close(p->out_fd);
        }
        if (p->in_fd > 0) {
            close(p->in_fd);
        }
        if (p->err_path[0] != '\0') {
            unlink(p->err_path);
        }
        memset(p, 0, sizeof(*p));
        if (listen_fds[i] > 0) {
            close(listen_fds[i]);
            listen_fds[i] = 0;
        }
    }
    return 0;
}

static void close_listeners(int n)
{
    for (int i = 0; i < n; i++) {
        close(listen_fds[i]);
        listen_fds[i] = 0;
    }
}

static void test_three_processes_agree(void **state)
{
    (void)state;
    bind_ports(3);
    for (int i = 0; i < 3; i++) {
        spawn(i, 3, "counters", "--target");
    }
    close_listeners(3);
    const char *finals[3];
    static char copies[3][256];
    for (int i = 0; i < 3; i++) {
        finals[i] = wait_line(i, "final", 60000);
        assert_non_null(finals[i]);
        snprintf(copies[i], sizeof(copies[i]), "%s", finals[i]);
    }
    for (int i = 0; i < 3; i++) {
        assert_string_equal(copies[i], "final 200 200 200");
        int st = wait_exit(i, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static void test_sigkill_reported_failed(void **state)
{
    (void)state;
    bind_ports(3);
    for (int i = 0; i < 3; i++) {
        spawn(i, 3, "idle", NULL);
    }
    close_listeners(3);
    for (int i = 0; i < 3; i++) {
        assert_non_null(wait_line(i, "ready", 30000));
    }
    pid_t victim = procs[2].pid;
    assert_int_equal(kill(victim, SIGKILL), 0);
    int st = wait_exit(2, 10000);
    assert_true(WIFSIGNALED(st));
    for (int i = 0; i < 2; i++) {
        const char *l = wait_line(i, "failed 2", 10000);
        assert_non_null(l);
    }
    /* The survivors still have each other. */
    assert_false(printed(0, "failed 1"));
    assert_false(printed(1, "failed 0"));
    for (int i = 0; i < 2; i++) {
        close(procs[i].in_fd);
        procs[i].in_fd = 0;
        st = wait_exit(i, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

static void test_unknown_key_refused(void **state)
{
    (void)state;
    bind_ports(2);
    spawn(0, 2, "idle", NULL);
    spawn(1, 2, "idle", "--rogue"); /* claims id 1 with a key not in the validator set */
    close_listeners(2);
    const char *l = wait_line(0, "failed 1", 20000);
    assert_non_null(l);
    assert_string_equal(l, "failed 1 SQ_EAUTH");
    assert_false(printed(0, "up 1"));
    assert_false(printed(1, "up 0"));
    /* The refusal was logged with its reason. */
    uint64_t end = now_ms() + 5000;
    while (!stderr_contains(0, "does not match the validator set") && now_ms() < end) {
        (void)wait_line(0, "never", 20);
    }
    assert_true(stderr_contains(0, "does not match the validator set"));
    for (int i = 0; i < 2; i++) {
        close(procs[i].in_fd);
        procs[i].in_fd = 0;
        int st = wait_exit(i, 10000);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s <sst_node>\n", argv[0]);
        return 2;
    }
    node_exe = argv[1];
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_three_processes_agree, cleanup),
        cmocka_unit_test_teardown(test_sigkill_reported_failed, cleanup),
        cmocka_unit_test_teardown(test_unknown_key_refused, cleanup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
