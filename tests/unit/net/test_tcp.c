/* The TCP transport in one process over 127.0.0.1: several transports, each with its own loop,
 * stepped in turn. Real sockets, real handshakes. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/codec.h"
#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "net/net_int.h"

#define N 4 /* validator ids 0..3; node i has id i */
#define CHAIN "tcp-test-chain"

struct node {
    uint32_t id;
    struct sq_loop *loop;
    struct net *net;
    int listen_fd;
    uint32_t up_mask;
    uint32_t failed_mask;
    int failed_reason[N];
    uint64_t region[64] __attribute__((aligned(64)));
    uint64_t writes_seen;
    uint64_t last_val;
    int order_violations;
    uint8_t rbuf[4][256];
    uint32_t recvs;
    uint32_t last_imm;
    size_t last_size;
    uint32_t completions_ok;
    uint32_t completions_err;
    /* recv_place: where payloads go (NULL: never placed), and after how many asks with a nonzero
     * offset the place is withdrawn (0: never); the offset it was withdrawn at. */
    uint8_t *place;
    uint32_t place_asks;
    uint32_t place_withdraw_after;
    size_t place_withdrawn_at;
};

static struct sqc_keypair keys[N + 1]; /* keys[N]: a rogue key */
static struct net_validator set[N];
static struct node nodes[N];

static void on_up(void *arg, uint32_t peer)
{
    struct node *n = arg;
    n->up_mask |= 1u << peer;
}

static void on_failed(void *arg, uint32_t peer, int reason)
{
    struct node *n = arg;
    n->failed_mask |= 1u << peer;
    n->failed_reason[peer] = reason;
}

static void on_write(void *arg, uint32_t peer, uint32_t region)
{
    (void)peer;
    (void)region;
    struct node *n = arg;
    uint64_t v = __atomic_load_n(&n->region[0], __ATOMIC_ACQUIRE);
    if (v < n->last_val) {
        n->order_violations++;
    }
    n->last_val = v;
    n->writes_seen++;
}

static void on_recv(void *arg, uint32_t peer, uint64_t wr_id, int status, uint32_t imm, size_t size)
{
    (void)peer;
    (void)wr_id;
    struct node *n = arg;
    if (status == SQ_OK) {
        n->recvs++;
        n->last_imm = imm;
        n->last_size = size;
    }
}

static void *on_place(void *arg, uint32_t peer, uint64_t wr_id, uint32_t imm, size_t size,
                      size_t offset)
{
    (void)peer;
    (void)wr_id;
    (void)imm;
    (void)size;
    struct node *n = arg;
    if (n->place == NULL) {
        return NULL;
    }
    if (offset > 0 && n->place_withdraw_after > 0 && ++n->place_asks >= n->place_withdraw_after) {
        if (n->place_withdrawn_at == 0) {
            n->place_withdrawn_at = offset;
        }
        return NULL;
    }
    return n->place;
}

static void on_completion(void *arg, uint32_t peer, uint64_t wr_id, int status)
{
    (void)peer;
    (void)wr_id;
    struct node *n = arg;
    if (status == SQ_OK) {
        n->completions_ok++;
    } else {
        n->completions_err++;
    }
}

static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(sqc_init(), SQ_OK);
    for (uint32_t i = 0; i <= N; i++) {
        uint8_t seed[SQC_SEED_BYTES];
        memset(seed, (int)(i + 10), sizeof(seed));
        assert_int_equal(sqc_keypair_from_seed(&keys[i], seed), SQ_OK);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (uint32_t i = 0; i <= N; i++) {
        sqc_keypair_free(&keys[i]);
    }
    return 0;
}

struct opts {
    size_t sendq_bytes_max;
    uint32_t keepalive_ms;
    uint32_t dead_ms;
    int rogue_node; /* this node uses keys[N] instead of its own (-1: none) */
};

/* Creates nodes 0..count-1 (not connected). */
static void nodes_create(uint32_t count, const struct opts *o)
{
    memset(nodes, 0, sizeof(nodes));
    memset(set, 0, sizeof(set));
    for (uint32_t i = 0; i < N; i++) {
        set[i].id = i;
        memcpy(set[i].pk, keys[i].pk, SQC_PK_BYTES);
        strcpy(set[i].host, "127.0.0.1");
        nodes[i].listen_fd = -1;
        if (i < count) {
            nodes[i].listen_fd = listen_any(&set[i].port);
        } else {
            set[i].port = 1; /* nobody listens there */
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        struct node *n = &nodes[i];
        n->id = i;
        assert_int_equal(sq_loop_create(&n->loop, sq_clock_monotonic()), SQ_OK);
        struct net_tcp_config cfg = {
            .loop = n->loop,
            .chain_id = (const uint8_t *)CHAIN,
            .chain_id_size = strlen(CHAIN),
            .self_id = i,
            .key = (o != NULL && o->rogue_node == (int)i) ? &keys[N] : &keys[i],
            .validators = set,
            .validator_count = N,
            .listen_fd = n->listen_fd,
            .keepalive_ms = o != NULL ? o->keepalive_ms : 0,
            .dead_ms = o != NULL ? o->dead_ms : 0,
            .retry_min_ms = 5,
            .retry_max_ms = 50,
            .sendq_bytes_max = o != NULL ? o->sendq_bytes_max : 0,
        };
        struct net_handler h = {.arg = n,
                                .peer_up = on_up,
                                .peer_failed = on_failed,
                                .write_arrived = on_write,
                                .recv_done = on_recv,
                                .completion = on_completion,
                                .recv_place = on_place};
        assert_int_equal(net_tcp_create(&n->net, &cfg, &h), SQ_OK);
        assert_int_equal(net_tcp_port(n->net), set[i].port);
    }
}

static void nodes_destroy(uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        net_destroy(nodes[i].net);
        sq_loop_destroy(nodes[i].loop);
    }
}

/* Steps the loops of nodes whose bit is in `run` until cond() or the deadline. */
static bool run_until(uint32_t count, uint32_t run, bool (*cond)(void), uint64_t timeout_ms)
{
    uint64_t end = sq_clock_now(sq_clock_monotonic()) + timeout_ms * SQ_NS_PER_MS;
    while (!cond()) {
        if (sq_clock_now(sq_clock_monotonic()) > end) {
            return false;
        }
        for (uint32_t i = 0; i < count; i++) {
            if (run & (1u << i)) {
                (void)sq_loop_run_once(nodes[i].loop, 1);
            }
        }
    }
    return true;
}

static uint32_t g_count;
static bool all_up(void)
{
    for (uint32_t i = 0; i < g_count; i++) {
        uint32_t want = ((1u << g_count) - 1) & ~(1u << i);
        if ((nodes[i].up_mask & want) != want) {
            return false;
        }
    }
    return true;
}

static void connect_all(uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        for (uint32_t j = 0; j < count; j++) {
            if (i != j) {
                assert_int_equal(net_peer_add(nodes[i].net, j), SQ_OK);
            }
        }
    }
    g_count = count;
    assert_true(run_until(count, 0xff, all_up, 5000));
}

static bool regions_ready(void)
{
    /* A write of 8 bytes from 0 to each other node succeeds once announcements arrived. */
    for (uint32_t j = 1; j < g_count; j++) {
        if (net_region_write(nodes[0].net, j, 0, 0, 8, 0, 0) != SQ_OK) {
            return false;
        }
    }
    return true;
}

static void register_all(uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        assert_int_equal(
            net_region_register(nodes[i].net, 0, 5, nodes[i].region, sizeof(nodes[i].region)),
            SQ_OK);
    }
    assert_true(run_until(count, 0xff, regions_ready, 5000));
}

/* ---- tests ---- */

static bool done(void);
static bool sends_done(void);
static bool one_recv(void);
static bool up12(void);
static bool up10(void);

static void test_config_errors(void **state)
{
    (void)state;
    struct sq_loop *loop;
    assert_int_equal(sq_loop_create(&loop, sq_clock_monotonic()), SQ_OK);
    struct net_validator v[2] = {{.id = 1, .host = "127.0.0.1"}, {.id = 1, .host = "127.0.0.1"}};
    struct net_tcp_config cfg = {.loop = loop,
                                 .chain_id = (const uint8_t *)"c",
                                 .chain_id_size = 1,
                                 .self_id = 1,
                                 .key = &keys[0],
                                 .validators = v,
                                 .validator_count = 2,
                                 .listen_fd = -1};
    struct net *net = NULL;
    assert_int_equal(net_tcp_create(&net, &cfg, NULL), SQ_EINVAL); /* duplicate id */
    cfg.validator_count = 1;
    cfg.self_id = 9;
    assert_int_equal(net_tcp_create(&net, &cfg, NULL), SQ_EINVAL); /* self not in set */
    cfg.self_id = 1;
    cfg.chain_id_size = 0;
    assert_int_equal(net_tcp_create(&net, &cfg, NULL), SQ_EINVAL);
    cfg.chain_id_size = 1;
    cfg.sendq_bytes_max = SQ_NET_SENDQ_BYTES_MAX + 1;
    assert_int_equal(net_tcp_create(&net, &cfg, NULL), SQ_EINVAL); /* may only lower */
    sq_loop_destroy(loop);
}

static void test_connect_write_send(void **state)
{
    (void)state;
    nodes_create(3, NULL);
    assert_int_equal(net_peer_add(nodes[0].net, 0), SQ_EINVAL);
    assert_int_equal(net_peer_add(nodes[0].net, 42), SQ_ENOTFOUND);
    assert_int_equal(net_region_write(nodes[0].net, 1, 0, 0, 8, 0, 0), SQ_EINVAL); /* no region */
    uint8_t one = 1;
    assert_int_equal(net_msg_send(nodes[0].net, 1, 0, &one, 1, 0, 0), SQ_EPEER); /* not added */
    connect_all(3);
    assert_int_equal(net_peer_add(nodes[0].net, 1), SQ_EEXIST);
    assert_int_equal(net_peer_state(nodes[0].net, 1), NET_PEER_UP);
    register_all(3);
    /* 2000 increasing values, each one WRITE: every receiver sees them in order. */
    for (uint64_t v = 1; v <= 2000; v++) {
        __atomic_store_n(&nodes[0].region[0], v, __ATOMIC_RELEASE);
        for (uint32_t j = 1; j < 3; j++) {
            assert_int_equal(net_region_write(nodes[0].net, j, 0, 0, 8, 0, 0), SQ_OK);
        }
        if (v % 100 == 0) {
            (void)sq_loop_run_once(nodes[0].loop, 0);
        }
    }
    assert_true(run_until(3, 0x7, done, 5000));
    assert_int_equal(nodes[1].order_violations, 0);
    assert_int_equal(nodes[2].order_violations, 0);
    /* Sends land in posted buffers, in order; signaled ones complete. */
    for (uint64_t b = 0; b < 4; b++) {
        assert_int_equal(net_recv_post(nodes[2].net, 0, nodes[2].rbuf[b], 256, b), SQ_OK);
    }
    uint8_t msg[200];
    memset(msg, 7, sizeof(msg));
    for (uint32_t k = 0; k < 4; k++) {
        assert_int_equal(net_msg_send(nodes[0].net, 2, 100 + k, msg, 50 + k, NET_OP_SIGNALED, k),
                         SQ_OK);
    }
    assert_true(run_until(3, 0x7, sends_done, 5000));
    assert_int_equal(nodes[2].last_imm, 103);
    assert_int_equal(nodes[2].last_size, 53);
    assert_int_equal(nodes[2].rbuf[3][52], 7);
    nodes_destroy(3);
}

static bool done(void)
{
    return nodes[1].last_val == 2000 && nodes[2].last_val == 2000;
}

static bool sends_done(void)
{
    return nodes[2].recvs == 4 && nodes[0].completions_ok == 4;
}

static void test_send_waits_and_backpressure(void **state)
{
    (void)state;
    struct opts o = {.sendq_bytes_max = 64 * 1024, .rogue_node = -1};
    nodes_create(2, &o);
    connect_all(2);
    /* Without a posted buffer the send waits at the receiver; posting releases it. */
    uint8_t msg[16] = {1};
    assert_int_equal(net_msg_send(nodes[0].net, 1, 9, msg, sizeof(msg), 0, 0), SQ_OK);
    for (int i = 0; i < 50; i++) {
        (void)sq_loop_run_once(nodes[0].loop, 1);
        (void)sq_loop_run_once(nodes[1].loop, 1);
    }
    assert_int_equal(nodes[1].recvs, 0);
    assert_int_equal(net_recv_post(nodes[1].net, 0, nodes[1].rbuf[0], 256, 0), SQ_OK);
    assert_true(run_until(2, 0x3, one_recv, 5000));
    /* Back-pressure: without running the loop, the bounded queue fills and says SQ_EFULL. */
    static uint8_t big[16 * 1024];
    int rc = SQ_OK;
    int sent = 0;
    while ((rc = net_msg_send(nodes[0].net, 1, 1, big, sizeof(big), 0, 0)) == SQ_OK) {
        sent++;
        assert_true(sent < 100);
    }
    assert_int_equal(rc, SQ_EFULL);
    assert_true(sent >= 3);
    assert_int_equal(net_peer_state(nodes[0].net, 1), NET_PEER_UP);
    /* Too big for any send. */
    assert_int_equal(net_msg_send(nodes[0].net, 1, 1, big, NET_SEND_BYTES_MAX + 1, 0, 0),
                     SQ_ETOOBIG);
    nodes_destroy(2);
}

static bool one_recv(void)
{
    return nodes[1].recvs == 1;
}

/* A raw client: authenticates as validator 0 to node 1 by driving net_hs over a socket. */
static int raw_connect_auth(uint32_t to, uint32_t as_id)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(set[to].port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct net_hs hs;
    net_hs_init(&hs, true, as_id, to, (const uint8_t *)CHAIN, strlen(CHAIN), &keys[as_id], set, N);
    uint8_t out[256];
    size_t n = net_hs_hello(&hs, out, sizeof(out));
    assert_int_equal(write(fd, out, n), (ssize_t)n);
    uint8_t in[1024];
    size_t have = 0;
    while (!net_hs_is_done(&hs)) {
        /* Step the acceptor's loop until it answers, reading non-blockingly. */
        (void)sq_loop_run_once(nodes[to].loop, 1);
        ssize_t r = recv(fd, in + have, sizeof(in) - have, MSG_DONTWAIT);
        if (r > 0) {
            have += (size_t)r;
        } else if (r == 0) {
            close(fd);
            return -1;
        }
        for (;;) {
            struct net_frame f;
            size_t used;
            if (net_frame_parse(in, have, NET_BODY_BYTES_MAX, &f, &used) != SQ_OK) {
                break;
            }
            size_t on = 0;
            assert_int_equal(net_hs_on_frame(&hs, &f, out, sizeof(out), &on), SQ_OK);
            if (on > 0) {
                assert_int_equal(write(fd, out, on), (ssize_t)on);
            }
            memmove(in, in + used, have - used);
            have -= used;
        }
    }
    return fd;
}

static uint32_t watch_node;
static uint32_t watch_peer;
static bool peer_failed_seen(void)
{
    return (nodes[watch_node].failed_mask & (1u << watch_peer)) != 0;
}

static void test_bad_frames_drop_only_that_connection(void **state)
{
    (void)state;
    nodes_create(3, NULL); /* id 0 is our raw client: nodes 1 and 2 are real */
    /* Nodes 1 and 2 connect to each other and expect 0. Node 0's transport exists but is idle. */
    assert_int_equal(net_peer_add(nodes[1].net, 2), SQ_OK);
    assert_int_equal(net_peer_add(nodes[2].net, 1), SQ_OK);
    assert_int_equal(net_peer_add(nodes[1].net, 0), SQ_OK);
    assert_true(run_until(3, 0x6, up12, 5000));
    assert_int_equal(
        net_region_register(nodes[1].net, 0, 0, nodes[1].region, sizeof(nodes[1].region)), SQ_OK);
    for (int variant = 0; variant < 3; variant++) {
        int fd = raw_connect_auth(1, 0);
        assert_true(fd >= 0);
        assert_true(run_until(3, 0x2, up10, 5000));
        uint8_t bad[64];
        size_t n;
        if (variant == 0) { /* oversized length */
            sq_le32_store(bad, 0xfffffff0u);
            n = 4;
        } else if (variant == 1) { /* unknown type */
            sq_le32_store(bad, 1);
            bad[4] = 0x77;
            n = 5;
        } else { /* a write of the right tag outside the region */
            n = net_frame_enc_write(bad, 0, 0, 0, 1u << 30, 8);
            memset(bad + n, 0, 8);
            n += 8;
        }
        assert_int_equal(write(fd, bad, n), (ssize_t)n);
        watch_node = 1;
        watch_peer = 0;
        assert_true(run_until(3, 0x6, peer_failed_seen, 5000));
        assert_int_equal(nodes[1].failed_reason[0], variant == 0 ? SQ_ETOOBIG : SQ_ECORRUPT);
        /* The connection is closed by node 1... */
        char c;
        ssize_t r;
        for (int i = 0; i < 1000; i++) {
            r = recv(fd, &c, 1, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN)) {
                break;
            }
            (void)sq_loop_run_once(nodes[1].loop, 1);
        }
        assert_true(r <= 0 && !(r < 0 && errno == EAGAIN));
        close(fd);
        /* ...and nothing else is harmed: 1 and 2 still talk. */
        assert_int_equal(net_peer_state(nodes[1].net, 2), NET_PEER_UP);
        assert_int_equal(nodes[2].failed_mask, 0);
        /* Re-admit 0 for the next variant. */
        net_peer_remove(nodes[1].net, 0);
        nodes[1].failed_mask = 0;
        nodes[1].up_mask &= ~1u;
        assert_int_equal(net_peer_add(nodes[1].net, 0), SQ_OK);
    }
    /* Garbage before authentication: closed, not even a peer event. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(set[1].port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    uint8_t junk[8] = {0xff, 0xff, 0, 0, 1, 2, 3, 4};
    assert_int_equal(write(fd, junk, sizeof(junk)), 8);
    ssize_t r = 1;
    char c;
    for (int i = 0; i < 2000 && r != 0; i++) {
        (void)sq_loop_run_once(nodes[1].loop, 1);
        r = recv(fd, &c, 1, MSG_DONTWAIT);
    }
    assert_int_equal(r, 0);
    close(fd);
    assert_int_equal(nodes[1].failed_mask, 0);
    nodes_destroy(3);
}

static bool up12(void)
{
    return (nodes[1].up_mask & 4u) && (nodes[2].up_mask & 2u);
}

static bool up10(void)
{
    return (nodes[1].up_mask & 1u) != 0;
}

static void test_remove_is_seen_as_failure(void **state)
{
    (void)state;
    nodes_create(2, NULL);
    connect_all(2);
    assert_int_equal(net_recv_post(nodes[1].net, 0, nodes[1].rbuf[0], 256, 0), SQ_OK);
    net_peer_remove(nodes[0].net, 1);
    assert_int_equal(net_peer_state(nodes[0].net, 1), NET_PEER_NONE);
    watch_node = 1;
    watch_peer = 0;
    assert_true(run_until(2, 0x3, peer_failed_seen, 5000));
    assert_int_equal(nodes[1].failed_reason[0], SQ_ECLOSED);
    assert_int_equal(nodes[0].failed_mask, 0); /* removal itself reports nothing */
    assert_int_equal(net_peer_state(nodes[1].net, 0), NET_PEER_FAILED);
    assert_int_equal(net_msg_send(nodes[1].net, 0, 0, nodes[1].rbuf[1], 1, 0, 0), SQ_EPEER);
    nodes_destroy(2);
}

static void test_keepalive_timeout(void **state)
{
    (void)state;
    struct opts o = {.keepalive_ms = 20, .dead_ms = 150, .rogue_node = -1};
    nodes_create(2, &o);
    connect_all(2);
    /* Node 1's loop stops running: its kernel still ACKs, but it sends no frame. */
    watch_node = 0;
    watch_peer = 1;
    uint64_t t0 = sq_clock_now(sq_clock_monotonic());
    assert_true(run_until(2, 0x1, peer_failed_seen, 5000));
    uint64_t took_ms = (sq_clock_now(sq_clock_monotonic()) - t0) / SQ_NS_PER_MS;
    assert_int_equal(nodes[0].failed_reason[1], SQ_ETIMEDOUT);
    assert_true(took_ms >= 100);
    nodes_destroy(2);
}

static void test_wrong_key_refused(void **state)
{
    (void)state;
    struct opts o = {.rogue_node = 1};
    nodes_create(2, &o);
    assert_int_equal(net_peer_add(nodes[0].net, 1), SQ_OK);
    assert_int_equal(net_peer_add(nodes[1].net, 0), SQ_OK);
    watch_node = 0;
    watch_peer = 1;
    assert_true(run_until(2, 0x3, peer_failed_seen, 5000));
    assert_int_equal(nodes[0].failed_reason[1], SQ_EAUTH);
    assert_int_equal(nodes[0].up_mask, 0);
    assert_int_equal(nodes[1].up_mask, 0);
    assert_int_equal(net_peer_state(nodes[0].net, 1), NET_PEER_FAILED);
    nodes_destroy(2);
}

/* The largest write and the largest send cross intact (the receive buffer grows to the frame). */
static bool big_done(void)
{
    return nodes[1].writes_seen >= 1 && nodes[1].recvs >= 1;
}

static void test_largest_frames(void **state)
{
    (void)state;
    nodes_create(2, NULL);
    connect_all(2);
    uint8_t *src = malloc(NET_WRITE_BYTES_MAX);
    uint8_t *dst = calloc(1, NET_WRITE_BYTES_MAX);
    uint8_t *msg = malloc(NET_SEND_BYTES_MAX);
    uint8_t *rbuf = calloc(1, NET_SEND_BYTES_MAX);
    assert_non_null(src);
    assert_non_null(dst);
    assert_non_null(msg);
    assert_non_null(rbuf);
    for (size_t i = 0; i < NET_WRITE_BYTES_MAX; i++) {
        src[i] = (uint8_t)(i * 7 + 3);
    }
    for (size_t i = 0; i < NET_SEND_BYTES_MAX; i++) {
        msg[i] = (uint8_t)(i * 5 + 1);
    }
    assert_int_equal(net_region_register(nodes[0].net, 1, 3, src, NET_WRITE_BYTES_MAX), SQ_OK);
    assert_int_equal(net_region_register(nodes[1].net, 1, 3, dst, NET_WRITE_BYTES_MAX), SQ_OK);
    assert_int_equal(net_recv_post(nodes[1].net, 0, rbuf, NET_SEND_BYTES_MAX, 1), SQ_OK);
    uint64_t end = sq_clock_now(sq_clock_monotonic()) + 5 * SQ_NS_PER_S;
    int rc;
    while ((rc = net_region_write(nodes[0].net, 1, 1, 0, NET_WRITE_BYTES_MAX, 0, 0)) == SQ_EAGAIN &&
           sq_clock_now(sq_clock_monotonic()) < end) {
        (void)sq_loop_run_once(nodes[0].loop, 1);
        (void)sq_loop_run_once(nodes[1].loop, 1);
    }
    assert_int_equal(rc, SQ_OK);
    assert_int_equal(net_msg_send(nodes[0].net, 1, 5, msg, NET_SEND_BYTES_MAX, 0, 0), SQ_OK);
    assert_true(run_until(2, 0x3, big_done, 10000));
    assert_memory_equal(dst, src, NET_WRITE_BYTES_MAX);
    assert_memory_equal(rbuf, msg, NET_SEND_BYTES_MAX);
    assert_int_equal(nodes[1].last_size, NET_SEND_BYTES_MAX);
    assert_int_equal(nodes[1].failed_mask, 0);
    nodes_destroy(2);
    free(src);
    free(dst);
    free(msg);
    free(rbuf);
}

static bool recv_seen(void)
{
    return nodes[1].recvs >= 1;
}

/* A large SEND's payload goes where recv_place says, and the posted buffer is not written; a
 * place withdrawn half-way is not written again and the rest lands in the posted buffer. */
static void test_send_placed(void **state)
{
    (void)state;
    const size_t size = 768 * 1024; /* many reads: the place is asked again before each */
    nodes_create(2, NULL);
    connect_all(2);
    uint8_t *msg = malloc(size);
    uint8_t *rbuf = malloc(size);
    uint8_t *placed = malloc(size);
    assert_non_null(msg);
    assert_non_null(rbuf);
    assert_non_null(placed);
    for (size_t i = 0; i < size; i++) {
        msg[i] = (uint8_t)(i * 13 + 5);
    }
    for (int round = 0; round < 2; round++) {
        memset(rbuf, 0xee, size);
        memset(placed, 0xdd, size);
        nodes[1].recvs = 0;
        nodes[1].place = placed;
        nodes[1].place_asks = 0;
        nodes[1].place_withdraw_after = round == 0 ? 0 : 1;
        nodes[1].place_withdrawn_at = 0;
        assert_int_equal(net_recv_post(nodes[1].net, 0, rbuf, size, 7), SQ_OK);
        assert_int_equal(net_msg_send(nodes[0].net, 1, 9, msg, size, 0, 0), SQ_OK);
        assert_true(run_until(2, 0x3, recv_seen, 10000));
        assert_int_equal(nodes[1].last_size, size);
        assert_int_equal(nodes[1].last_imm, 9);
        if (round == 0) {
            assert_memory_equal(placed, msg, size);
            for (size_t i = 0; i < size; i++) {
                assert_int_equal(rbuf[i], 0xee);
            }
            continue;
        }
        /* The first piece is at most the 64 KiB read into the frame buffer, so the place is asked
         * again at a nonzero offset and withdrawn there. */
        size_t w = nodes[1].place_withdrawn_at;
        assert_true(w > 0 && w < size);
        assert_memory_equal(placed, msg, w);
        assert_memory_equal(rbuf + w, msg + w, size - w);
        for (size_t i = w; i < size; i++) {
            assert_int_equal(placed[i], 0xdd);
        }
    }
    assert_int_equal(nodes[1].failed_mask, 0);
    nodes_destroy(2);
    free(msg);
    free(rbuf);
    free(placed);
}

/* An impostor that claims validator 0 (with 0's public key, which is public) but cannot sign,
 * and simply stalls after HELLO, must not keep the real validator 0 out. */
static void test_impostor_cannot_block(void **state)
{
    (void)state;
    nodes_create(2, NULL);
    assert_int_equal(net_peer_add(nodes[1].net, 0), SQ_OK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(set[1].port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct sqc_keypair fake = keys[N];         /* the rogue's secret key... */
    memcpy(fake.pk, keys[0].pk, SQC_PK_BYTES); /* ...behind validator 0's public key */
    struct net_hs hs;
    net_hs_init(&hs, true, 0, 1, (const uint8_t *)CHAIN, strlen(CHAIN), &fake, set, N);
    uint8_t hello[256];
    size_t n = net_hs_hello(&hs, hello, sizeof(hello));
    assert_int_equal(write(fd, hello, n), (ssize_t)n);
    for (int i = 0; i < 20; i++) {
        (void)sq_loop_run_once(nodes[1].loop, 1);
    }
    /* Now the real validator 0 arrives; it is admitted well before the impostor's handshake
     * times out (5 s). */
    assert_int_equal(net_peer_add(nodes[0].net, 1), SQ_OK);
    g_count = 2;
    assert_true(run_until(2, 0x3, all_up, 2000));
    close(fd);
    nodes_destroy(2);
}

int main(void)
{
    sq_log_set_level(getenv("SQ_LOG") ? SQ_LOG_DEBUG : SQ_LOG_FATAL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_connect_write_send),
        cmocka_unit_test(test_send_waits_and_backpressure),
        cmocka_unit_test(test_bad_frames_drop_only_that_connection),
        cmocka_unit_test(test_remove_is_seen_as_failure),
        cmocka_unit_test(test_keepalive_timeout),
        cmocka_unit_test(test_wrong_key_refused),
        cmocka_unit_test(test_impostor_cannot_block),
        cmocka_unit_test(test_largest_frames),
        cmocka_unit_test(test_send_placed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
