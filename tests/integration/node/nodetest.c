#include "nodetest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "node/testnet.h"
#include "rpc/rpc.h"

double nt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void nt_pause_ms(unsigned ms)
{
    poll(NULL, 0, (int)ms);
}

/* A port the kernel says is free now (bound to port 0, then closed). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0) {
        port = ntohs(a.sin_port);
    }
    close(fd);
    return port;
}

static int load_key(const char *path, struct sqc_keypair *kp)
{
    char err[256] = "";
    int rc = sqc_keyfile_read(path, NULL, 0, kp, err, sizeof(err));
    if (rc != SQ_OK) {
        fprintf(stderr, "nodetest: cannot read %s: %s\n", path, err);
        return -1;
    }
    return 0;
}

int nt_make(struct nt_net *net, const char *squalld, uint32_t n, uint32_t accounts,
            uint64_t balance, const struct ldg_balance *extra, size_t extra_count,
            const char *config_extra)
{
    memset(net, 0, sizeof(*net));
    if (n > NT_MAX || accounts > NT_CLIENTS_MAX || sqc_init() != SQ_OK) {
        return -1;
    }
    snprintf(net->exe, sizeof(net->exe), "%s", squalld);
    const char *tmp = getenv("TMPDIR");
    snprintf(net->dir, sizeof(net->dir), "%s/squall-nt-XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(net->dir) == NULL) {
        perror("nodetest: mkdtemp");
        return -1;
    }
    net->n = n;
    struct node_testnet_opts o;
    memset(&o, 0, sizeof(o));
    o.validators = n;
    char out[300];
    snprintf(out, sizeof(out), "%s/net", net->dir);
    o.out = out;
    o.chain_id = "squall-test";
    o.accounts = accounts;
    o.balance = balance;
    o.extra = extra;
    o.extra_count = extra_count;
    o.config_extra = config_extra;
    for (uint32_t i = 0; i < n; i++) {
        /* Distinct free ports (the kernel hands out fresh ones in turn). */
        do {
            o.p2p_ports[i] = free_port();
            o.rpc_ports[i] = free_port();
        } while (o.p2p_ports[i] == 0 || o.rpc_ports[i] == 0 || o.p2p_ports[i] == o.rpc_ports[i]);
        net->p2p[i] = o.p2p_ports[i];
        net->rpc[i] = o.rpc_ports[i];
        snprintf(net->url[i], sizeof(net->url[i]), "http://127.0.0.1:%u", net->rpc[i]);
        if (rpc_client_create(&net->cli[i], net->url[i], 30000) != SQ_OK) {
            return -1;
        }
        net->pid[i] = -1;
    }
    char err[512];
    if (node_testnet_make(&o, err, sizeof(err)) != SQ_OK) {
        fprintf(stderr, "nodetest: testnet: %s\n", err);
        return -1;
    }
    snprintf(net->chain, sizeof(net->chain), "squall-test");
    char path[400];
    snprintf(path, sizeof(path), "%s/accounts/issuer.key", out);
    if (load_key(path, &net->issuer) != 0) {
        return -1;
    }
    for (uint32_t i = 0; i < accounts; i++) {
        snprintf(path, sizeof(path), "%s/accounts/client%u.key", out, i + 1);
        if (load_key(path, &net->clients[i]) != 0) {
            return -1;
        }
    }
    net->client_count = accounts;
    snprintf(path, sizeof(path), "%s/genesis.json", out);
    if (ldg_genesis_load(path, &net->gen) != SQ_OK) {
        fprintf(stderr, "nodetest: genesis: %s\n", ldg_errmsg());
        return -1;
    }
    return 0;
}

int nt_start(struct nt_net *net, uint32_t i)
{
    char home[400], log[400];
    snprintf(home, sizeof(home), "%s/net/v%u", net->dir, i + 1);
    snprintf(log, sizeof(log), "%s/v%u.log", net->dir, i + 1);
    pid_t pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        execl(net->exe, net->exe, "start", "--home", home, (char *)NULL);
        _exit(127);
    }
    net->pid[i] = pid;
    return 0;
}

int nt_stop(struct nt_net *net, uint32_t i, int sig, double timeout_s)
{
    if (net->pid[i] <= 0) {
        return -1;
    }
    kill(net->pid[i], sig);
    double deadline = nt_now() + timeout_s;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(net->pid[i], &status, WNOHANG);
        if (r == net->pid[i]) {
            break;
        }
        if (nt_now() > deadline) {
            fprintf(stderr, "nodetest: validator %u did not stop in %.0f s; SIGKILL\n", i + 1,
                    timeout_s);
            kill(net->pid[i], SIGKILL);
            waitpid(net->pid[i], &status, 0);
            status = -2;
            break;
        }
        nt_pause_ms(10);
    }
    net->pid[i] = -1;
    return status;
}

bool nt_wait_ready(struct nt_net *net, uint32_t i, double timeout_s)
{
    double deadline = nt_now() + timeout_s;
    while (nt_now() < deadline) {
        long status = 0;
        json_t *j = NULL;
        if (nt_get(net, i, "/readyz", &status, &j) == 0 && status == 200) {
            json_decref(j);
            return true;
        }
        json_decref(j);
        if (net->pid[i] > 0 && waitpid(net->pid[i], NULL, WNOHANG) == net->pid[i]) {
            fprintf(stderr, "nodetest: validator %u exited while starting\n", i + 1);
            net->pid[i] = -1;
            return false;
        }
        nt_pause_ms(50);
    }
    return false;
}

int nt_heights(struct nt_net *net, uint32_t i, uint64_t *ordered, uint64_t *persisted,
               uint64_t *final)
{
    long status = 0;
    json_t *j = NULL;
    if (nt_get(net, i, "/v1/status", &status, &j) != 0 || status != 200) {
        json_decref(j);
        return -1;
    }
    json_t *h = json_object_get(j, "heights");
    if (ordered) {
        *ordered = (uint64_t)json_integer_value(json_object_get(h, "ordered"));
    }
    if (persisted) {
        *persisted = (uint64_t)json_integer_value(json_object_get(h, "persisted"));
    }
    if (final) {
        *final = (uint64_t)json_integer_value(json_object_get(h, "final"));
    }
    json_decref(j);
    return 0;
}

static void rm_rf(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", path, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        waitpid(pid, NULL, 0);
    }
}

void nt_destroy(struct nt_net *net, bool keep_dir)
{
    for (uint32_t i = 0; i < net->n; i++) {
        if (net->pid[i] > 0) {
            nt_stop(net, i, SIGTERM, 20);
        }
        rpc_client_destroy(net->cli[i]);
        net->cli[i] = NULL;
    }
    for (uint32_t i = 0; i < net->client_count; i++) {
        sqc_keypair_free(&net->clients[i]);
    }
    sqc_keypair_free(&net->issuer);
    ldg_genesis_free(net->gen);
    net->gen = NULL;
    keep_dir = keep_dir || getenv("NT_KEEP") != NULL;
    if (!keep_dir && net->dir[0] != '\0') {
        rm_rf(net->dir);
    } else if (net->dir[0] != '\0') {
        fprintf(stderr, "nodetest: kept %s\n", net->dir);
    }
}

int nt_get(struct nt_net *net, uint32_t i, const char *path, long *status, json_t **out)
{
    char err[256];
    *out = NULL;
    return rpc_client_get(net->cli[i], path, status, out, err, sizeof(err)) == SQ_OK ? 0 : -1;
}

int nt_post(struct nt_net *net, uint32_t i, const char *path, json_t *body, long *status,
            json_t **out)
{
    char err[256];
    *out = NULL;
    return rpc_client_post(net->cli[i], path, body, status, out, err, sizeof(err)) == SQ_OK ? 0
                                                                                          : -1;
}

int nt_submit(struct nt_net *net, uint32_t i, const uint8_t *tx, size_t size, long *status,
              char id[65], char code[32])
{
    json_t *b = json_object();
    json_object_set_new(b, "tx", nt_hex(tx, size));
    json_t *r = NULL;
    int rc = nt_post(net, i, "/v1/tx", b, status, &r);
    json_decref(b);
    const char *s = json_string_value(json_object_get(r, "id"));
    if (id != NULL) {
        snprintf(id, 65, "%s", s != NULL ? s : "");
    }
    s = json_string_value(json_object_get(json_object_get(r, "error"), "code"));
    if (code != NULL) {
        snprintf(code, 32, "%s", s != NULL ? s : "");
    }
    json_decref(r);
    return rc;
}

int nt_get_raw(struct nt_net *net, uint32_t i, const char *path, long *status, char **out)
{
    char err[256];
    size_t size;
    *out = NULL;
    return rpc_client_get_raw(net->cli[i], path, status, out, &size, err, sizeof(err)) == SQ_OK
               ? 0
               : -1;
}

int nt_post_raw(struct nt_net *net, uint32_t i, const char *path, const char *body, size_t size,
                long *status, char *resp, size_t resp_cap)
{
    /* A bare HTTP/1.1 request over a socket: the client library only sends valid JSON. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(net->rpc[i])};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    char hdr[512];
    int hl = snprintf(hdr, sizeof(hdr),
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      path, size);
    if (write(fd, hdr, (size_t)hl) != hl) {
        close(fd);
        return -1;
    }
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, body + off, size - off);
        if (w <= 0) {
            break; /* the server may answer 413 and close before reading everything */
        }
        off += (size_t)w;
    }
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, resp + got, resp_cap - 1 - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
        if (got == resp_cap - 1) {
            break;
        }
    }
    resp[got] = '\0';
    close(fd);
    if (sscanf(resp, "HTTP/1.%*d %ld", status) != 1) {
        return -1;
    }
    return 0;
}

static void tx_init(const struct nt_net *net, struct ldg_tx *tx, uint8_t kind,
                    const struct sqc_keypair *from, uint64_t nonce, uint64_t expiry)
{
    memset(tx, 0, sizeof(*tx));
    tx->version = LDG_FORMAT_VERSION;
    tx->kind = kind;
    tx->chain_id_size = (uint8_t)strlen(net->chain);
    memcpy(tx->chain_id, net->chain, tx->chain_id_size);
    memcpy(tx->sender, from->pk, 32);
    tx->nonce = nonce;
    tx->expiry_height = expiry;
}

size_t nt_transfer(const struct nt_net *net, uint8_t *buf, const struct sqc_keypair *from,
                   const uint8_t to[32], uint64_t amount, uint64_t nonce, uint64_t expiry)
{
    struct ldg_tx tx;
    tx_init(net, &tx, LDG_TX_TRANSFER, from, nonce, expiry);
    memcpy(tx.target, to, 32);
    tx.amount = amount;
    size_t size = 0;
    if (ldg_tx_sign(&tx, from) != SQ_OK ||
        ldg_tx_encode(&tx, buf, SQ_TX_BYTES_MAX, &size) != SQ_OK) {
        return 0;
    }
    return size;
}

size_t nt_mint(const struct nt_net *net, uint8_t *buf, const uint8_t to[32], uint64_t amount,
               uint64_t nonce)
{
    struct ldg_tx tx;
    tx_init(net, &tx, LDG_TX_MINT, &net->issuer, nonce, 1u << 30);
    memcpy(tx.target, to, 32);
    tx.amount = amount;
    size_t size = 0;
    if (ldg_tx_sign(&tx, &net->issuer) != SQ_OK ||
        ldg_tx_encode(&tx, buf, SQ_TX_BYTES_MAX, &size) != SQ_OK) {
        return 0;
    }
    return size;
}

json_t *nt_hex(const uint8_t *data, size_t size)
{
    char *s = malloc(2 * size + 1);
    if (s == NULL) {
        return NULL;
    }
    sqc_hex_encode(s, 2 * size + 1, data, size);
    json_t *j = json_string(s);
    free(s);
    return j;
}

int nt_start_all(struct nt_net *net, double timeout_s)
{
    for (uint32_t i = 0; i < net->n; i++) {
        if (nt_start(net, i) != 0) {
            return -1;
        }
    }
    for (uint32_t i = 0; i < net->n; i++) {
        if (!nt_wait_ready(net, i, timeout_s)) {
            fprintf(stderr, "validator %u not ready in %.0f s (logs in %s)\n", i + 1, timeout_s,
                    net->dir);
            nt_dump_logs(net, 60);
            return -1;
        }
    }
    return 0;
}

int nt_stop_all(struct nt_net *net)
{
    int bad = 0;
    for (uint32_t i = 0; i < net->n; i++) {
        int st = nt_stop(net, i, SIGTERM, 30);
        if (st >= 0 && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
            fprintf(stderr, "validator %u: exit status %d\n", i + 1, st);
            bad = 1;
        }
    }
    nt_destroy(net, bad != 0);
    return bad ? -1 : 0;
}

void nt_dump_logs(const struct nt_net *net, unsigned lines)
{
    for (uint32_t i = 0; i < net->n; i++) {
        char path[400];
        snprintf(path, sizeof(path), "%s/v%u.log", net->dir, i + 1);
        FILE *f = fopen(path, "r");
        if (f == NULL) {
            fprintf(stderr, "nodetest: no log %s\n", path);
            continue;
        }
        /* Two passes: count, then print the tail. */
        size_t total = 0;
        int c;
        while ((c = fgetc(f)) != EOF) {
            total += c == '\n' ? 1u : 0u;
        }
        rewind(f);
        size_t skip = total > lines ? total - lines : 0;
        fprintf(stderr, "---- v%u.log, last %zu of %zu lines ----\n", i + 1, total - skip, total);
        char buf[2048];
        size_t line = 0;
        while (fgets(buf, sizeof(buf), f) != NULL) {
            if (line >= skip) {
                fputs(buf, stderr);
            }
            line += strchr(buf, '\n') != NULL ? 1u : 0u;
        }
        fclose(f);
    }
}

int nt_log_count(const struct nt_net *net, uint32_t i, const char *pattern)
{
    char cmd[700];
    snprintf(cmd, sizeof(cmd), "grep -c '%s' %s/v%u.log", pattern, net->dir, i + 1);
    FILE *p = popen(cmd, "r");
    int n = 0;
    if (p != NULL) {
        if (fscanf(p, "%d", &n) != 1) {
            n = 0;
        }
        pclose(p);
    }
    return n;
}
