/* Label rdma: two verbs transports in one process exchange writes and sends over a real RDMA
 * device. Exits 77 (ctest SKIP_RETURN_CODE) with the reason when no device exists.
 * SQ_RDMA_ADDR names the local IPv4 address of the RDMA interface (default 127.0.0.1, which
 * soft-RoCE bound to lo accepts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "net/net.h"

#define SKIP 77

struct side {
    uint32_t up;
    uint32_t writes;
    uint32_t recvs;
    uint32_t imm;
};

static void on_up(void *arg, uint32_t peer)
{
    (void)peer;
    ((struct side *)arg)->up++;
}

static void on_write(void *arg, uint32_t peer, uint32_t region)
{
    (void)peer;
    (void)region;
    ((struct side *)arg)->writes++;
}

static void on_recv(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm, size_t size)
{
    (void)peer;
    (void)wr_id;
    (void)size;
    struct side *s = arg;
    if (status == SQ_OK) {
        s->recvs++;
        s->imm = imm;
    }
}

static bool run(struct sq_loop *loop, bool (*cond)(struct side *, struct side *), struct side *a,
                struct side *b)
{
    uint64_t end = sq_clock_now(sq_clock_monotonic()) + 10 * SQ_NS_PER_S;
    while (!cond(a, b)) {
        if (sq_clock_now(sq_clock_monotonic()) > end) {
            return false;
        }
        (void)sq_loop_run_once(loop, 10);
    }
    return true;
}

static bool both_up(struct side *a, struct side *b)
{
    return a->up == 1 && b->up == 1;
}

static bool got_write(struct side *a, struct side *b)
{
    (void)a;
    return b->writes >= 1;
}

static bool got_send(struct side *a, struct side *b)
{
    (void)a;
    return b->recvs == 1;
}

int main(void)
{
    sq_log_set_level(SQ_LOG_WARN);
    if (!net_verbs_available()) {
        printf("SKIPPED: this build has no RDMA verbs support (rdma-core headers not found)\n");
        return SKIP;
    }
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    const char *addr = getenv("SQ_RDMA_ADDR") ? getenv("SQ_RDMA_ADDR") : "127.0.0.1";
    struct sqc_keypair k[2];
    struct net_validator set[2];
    memset(set, 0, sizeof(set));
    for (int i = 0; i < 2; i++) {
        uint8_t seed[SQC_SEED_BYTES];
        memset(seed, i + 1, sizeof(seed));
        if (sqc_keypair_from_seed(&k[i], seed) != SQ_OK) {
            return 1;
        }
        set[i].id = (uint32_t)i;
        memcpy(set[i].pk, k[i].pk, SQC_PK_BYTES);
        snprintf(set[i].host, sizeof(set[i].host), "%s", addr);
        set[i].port = (uint16_t)(18515 + i);
    }
    struct sq_loop *loop;
    if (sq_loop_create(&loop, sq_clock_monotonic()) != SQ_OK) {
        return 1;
    }
    struct side sa = {0}, sb = {0};
    struct net *na = NULL, *nb = NULL;
    char err[256] = "";
    struct net_verbs_config cfg = {.loop = loop,
                                   .chain_id = (const uint8_t *)"rdma-test",
                                   .chain_id_size = 9,
                                   .self_id = 0,
                                   .key = &k[0],
                                   .validators = set,
                                   .validator_count = 2};
    struct net_handler ha = {
        .arg = &sa, .peer_up = on_up, .write_arrived = on_write, .recv_done = on_recv};
    int rc = net_verbs_create(&na, &cfg, &ha, err, sizeof(err));
    if (rc == SQ_ENODEV) {
        printf("SKIPPED: %s\n", err);
        fflush(stdout);
        sq_loop_destroy(loop);
        sqc_keypair_free(&k[0]);
        sqc_keypair_free(&k[1]);
        return SKIP;
    }
    if (rc != SQ_OK) {
        printf("FAILED: %s\n", err);
        return 1;
    }
    cfg.self_id = 1;
    cfg.key = &k[1];
    struct net_handler hb = {
        .arg = &sb, .peer_up = on_up, .write_arrived = on_write, .recv_done = on_recv};
    if (net_verbs_create(&nb, &cfg, &hb, err, sizeof(err)) != SQ_OK) {
        printf("FAILED: %s\n", err);
        return 1;
    }
    static uint64_t ra[8], rb[8];
    static uint8_t buf[256];
    int ok = net_peer_add(na, 1) == SQ_OK && net_peer_add(nb, 0) == SQ_OK &&
             run(loop, both_up, &sa, &sb) &&
             net_region_register(na, 0, 1, ra, sizeof(ra)) == SQ_OK &&
             net_region_register(nb, 0, 1, rb, sizeof(rb)) == SQ_OK;
    uint64_t end = sq_clock_now(sq_clock_monotonic()) + 10 * SQ_NS_PER_S;
    ra[3] = 0x1234;
    while (ok && (rc = net_region_write(na, 1, 0, 24, 8, 0, 0)) == SQ_EAGAIN &&
           sq_clock_now(sq_clock_monotonic()) < end) {
        (void)sq_loop_run_once(loop, 10);
    }
    ok = ok && rc == SQ_OK && run(loop, got_write, &sa, &sb) && rb[3] == 0x1234;
    ok = ok && net_recv_post(nb, 0, buf, sizeof(buf), 7) == SQ_OK &&
         net_msg_send(na, 1, 99, "hello", 5, 0, 0) == SQ_OK && run(loop, got_send, &sa, &sb) &&
         sb.imm == 99 && memcmp(buf, "hello", 5) == 0;
    net_destroy(na);
    net_destroy(nb);
    sq_loop_destroy(loop);
    sqc_keypair_free(&k[0]);
    sqc_keypair_free(&k[1]);
    printf("%s\n", ok ? "verbs loopback: ok" : "verbs loopback: FAILED");
    return ok ? 0 : 1;
}
