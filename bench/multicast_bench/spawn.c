#include "spawn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int start(struct spawn_group *sg, const char *exe, uint32_t n, const char *const *args,
                 const char *const *(*extra)(uint32_t i, void *arg), void *extra_arg, bool events)
{
    memset(sg, 0, sizeof(*sg));
    if (n == 0 || n > SPAWN_MAX) {
        return -1;
    }
    sg->n = n;
    int lfd[SPAWN_MAX];
    char ports[SPAWN_MAX * 8] = "";
    for (uint32_t i = 0; i < n; i++) {
        lfd[i] = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(lfd[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(a);
        if (lfd[i] < 0 || bind(lfd[i], (struct sockaddr *)&a, sizeof(a)) != 0 ||
            listen(lfd[i], 64) != 0 || getsockname(lfd[i], (struct sockaddr *)&a, &len) != 0) {
            perror("spawn: listening socket");
            return -1;
        }
        char p[8];
        snprintf(p, sizeof(p), "%s%u", i ? "," : "", ntohs(a.sin_port));
        strcat(ports, p);
    }
    for (uint32_t i = 0; i < n; i++) {
        int pipefd[2];
        int evfd[2] = {-1, -1};
        if (pipe(pipefd) != 0 || (events && pipe(evfd) != 0)) {
            return -1;
        }
        pid_t pid = fork();
        if (pid < 0) {
            return -1;
        }
        if (pid == 0) {
            dup2(pipefd[1], STDOUT_FILENO);
            close(pipefd[0]);
            close(pipefd[1]);
            for (uint32_t j = 0; j < n; j++) {
                if (j != i) {
                    close(lfd[j]);
                }
            }
            const char *argv[128];
            int k = 0;
            char id[16], fd[16], ev[16];
            snprintf(id, sizeof(id), "%u", i);
            snprintf(fd, sizeof(fd), "%d", lfd[i]);
            argv[k++] = exe;
            argv[k++] = "--id";
            argv[k++] = id;
            argv[k++] = "--ports";
            argv[k++] = ports;
            argv[k++] = "--listen-fd";
            argv[k++] = fd;
            if (events) {
                close(evfd[0]);
                snprintf(ev, sizeof(ev), "%d", evfd[1]);
                argv[k++] = "--events-fd";
                argv[k++] = ev;
            }
            for (int a = 0; args != NULL && args[a] != NULL && k < 100; a++) {
                argv[k++] = args[a];
            }
            if (extra != NULL) {
                const char *const *e = extra(i, extra_arg);
                for (int a = 0; e != NULL && e[a] != NULL && k < 126; a++) {
                    argv[k++] = e[a];
                }
            }
            argv[k] = NULL;
            execv(exe, (char *const *)argv);
            perror("spawn: execv");
            _exit(127);
        }
        close(pipefd[1]);
        sg->pids[i] = pid;
        sg->out_fds[i] = pipefd[0];
        sg->ev_fds[i] = evfd[0];
        if (events) {
            close(evfd[1]);
            /* Later children must not hold this member's read end open past their exec. */
            (void)fcntl(evfd[0], F_SETFD, FD_CLOEXEC);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        close(lfd[i]);
    }
    return 0;
}

int spawn_start(struct spawn_group *sg, const char *exe, uint32_t n, const char *const *args,
                const char *const *(*extra)(uint32_t i, void *arg), void *extra_arg)
{
    return start(sg, exe, n, args, extra, extra_arg, false);
}

int spawn_start_events(struct spawn_group *sg, const char *exe, uint32_t n,
                       const char *const *args,
                       const char *const *(*extra)(uint32_t i, void *arg), void *extra_arg)
{
    return start(sg, exe, n, args, extra, extra_arg, true);
}

uint32_t spawn_wait(struct spawn_group *sg, double timeout_s)
{
    double deadline = mono_s() + timeout_s;
    size_t got[SPAWN_MAX] = {0};
    bool open_fd[SPAWN_MAX];
    for (uint32_t i = 0; i < sg->n; i++) {
        open_fd[i] = true;
    }
    for (;;) {
        struct pollfd pf[SPAWN_MAX];
        nfds_t cnt = 0;
        uint32_t map[SPAWN_MAX];
        for (uint32_t i = 0; i < sg->n; i++) {
            if (open_fd[i]) {
                pf[cnt].fd = sg->out_fds[i];
                pf[cnt].events = POLLIN;
                map[cnt++] = i;
            }
        }
        if (cnt == 0) {
            break;
        }
        double left = deadline - mono_s();
        if (left <= 0) {
            break;
        }
        int r = poll(pf, cnt, (int)(left * 1000) + 1);
        if (r < 0 && errno != EINTR) {
            break;
        }
        for (nfds_t j = 0; j < cnt && r > 0; j++) {
            if (pf[j].revents == 0) {
                continue;
            }
            uint32_t i = map[j];
            ssize_t k = read(sg->out_fds[i], sg->out[i] + got[i], SPAWN_OUT_BYTES - 1 - got[i]);
            if (k <= 0) {
                open_fd[i] = false;
            } else {
                got[i] += (size_t)k;
                if (got[i] >= SPAWN_OUT_BYTES - 1) {
                    open_fd[i] = false;
                }
            }
        }
    }
    uint32_t ok = 0;
    for (uint32_t i = 0; i < sg->n; i++) {
        sg->out[i][got[i]] = '\0';
        int st = 0;
        pid_t r = waitpid(sg->pids[i], &st, WNOHANG);
        while (r == 0 && mono_s() < deadline) {
            usleep(10000);
            r = waitpid(sg->pids[i], &st, WNOHANG);
        }
        if (r == 0) {
            kill(sg->pids[i], SIGKILL);
            waitpid(sg->pids[i], &st, 0);
            st = -1;
        }
        sg->status[i] = st;
        close(sg->out_fds[i]);
        if (st == 0) {
            ok++;
        }
    }
    return ok;
}

static const char *find_key(const struct spawn_group *sg, uint32_t i, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(sg->out[i], pat);
    return p ? p + strlen(pat) : NULL;
}

double spawn_num(const struct spawn_group *sg, uint32_t i, const char *key)
{
    const char *p = find_key(sg, i, key);
    return p ? strtod(p, NULL) : -1;
}

bool spawn_str(const struct spawn_group *sg, uint32_t i, const char *key, char *out, size_t cap)
{
    const char *p = find_key(sg, i, key);
    if (p == NULL || *p != '"') {
        return false;
    }
    p++;
    size_t k = 0;
    while (p[k] && p[k] != '"' && k + 1 < cap) {
        out[k] = p[k];
        k++;
    }
    out[k] = '\0';
    return true;
}
