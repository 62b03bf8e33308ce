/* Catch-up (state transfer) before the node forms or rejoins its group.
 *
 * A thread polls every other member's GET /v1/status. While a peer holds durable blocks this node
 * lacks, it fetches them (GET /v1/blocks, at most 100 per call) from the peer that is furthest
 * ahead and hands each to the loop (node_apply_fetched), which replays the block's batch through
 * the ledger and checks that the result hashes exactly as the peer's block; then it makes them
 * durable and checks them against the peer's finality certificate (GET /v1/certificates), verified
 * against the view's members. It finishes (node_sync_done on the loop) once every member answers,
 * none is ahead and none still runs an older group: every member then starts the new group at the
 * same height, which the group's version numbering needs (node/cons.h).
 *
 * Blocks beyond the last certificate are not final anywhere; they are accepted on the strength of
 * their proposers' batch signatures and the replay (the crash-fault model of PROTOCOL.md §6.3). */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "node/node_int.h"
#include "rpc/rpc.h"

#define POLL_MS 100
#define FETCH_MAX 100
#define HTTP_TIMEOUT_MS 2000

struct node_sync {
    struct node *node;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    bool running;   /* a thread was started and not joined yet (loop thread) */
    uint64_t gen;   /* which run a queued loop call belongs to */
    uint32_t waits_logged;
};

/* A call run on the loop for the thread, which waits for its result. If the thread is told to
 * stop before the loop runs the call, the thread leaves and the call, when it runs, skips `fn`
 * (whose argument lived on the thread's stack) and frees itself. */
struct loop_call {
    struct node_sync *sy;
    uint64_t gen;
    int (*fn)(struct node *n, void *arg, char *err, size_t err_size);
    void *arg;
    int rc;
    bool done;
    bool abandoned;
    char err[256];
};

static void run_call(struct sq_loop *loop, void *arg)
{
    (void)loop;
    struct loop_call *c = arg;
    struct node_sync *sy = c->sy;
    /* The stopper runs on this (the loop) thread too, so `stop` cannot change during fn. */
    pthread_mutex_lock(&sy->mu);
    bool skip = sy->stop || c->gen != sy->gen;
    pthread_mutex_unlock(&sy->mu);
    int rc = skip ? SQ_ECLOSED : c->fn(sy->node, c->arg, c->err, sizeof(c->err));
    pthread_mutex_lock(&sy->mu);
    c->rc = rc;
    c->done = true;
    bool free_it = c->abandoned;
    pthread_cond_broadcast(&sy->cv);
    pthread_mutex_unlock(&sy->mu);
    if (free_it) {
        free(c);
    }
}

/* Runs fn on the loop and waits; SQ_ECLOSED if asked to stop first. */
static int on_loop(struct node_sync *sy, int (*fn)(struct node *, void *, char *, size_t),
                   void *arg, char *err, size_t err_size)
{
    struct loop_call *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return SQ_ENOMEM;
    }
    c->sy = sy;
    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&sy->mu);
    c->gen = sy->gen;
    pthread_mutex_unlock(&sy->mu);
    if (sq_loop_post(sy->node->loop, run_call, c) != SQ_OK) {
        free(c);
        return SQ_EAGAIN;
    }
    pthread_mutex_lock(&sy->mu);
    while (!c->done && !sy->stop) {
        pthread_cond_wait(&sy->cv, &sy->mu);
    }
    if (!c->done) {
        c->abandoned = true;
        pthread_mutex_unlock(&sy->mu);
        return SQ_ECLOSED;
    }
    pthread_mutex_unlock(&sy->mu);
    int rc = c->rc;
    snprintf(err, err_size, "%s", c->err);
    free(c);
    return rc;
}

/* Waits up to ms or until asked to stop. Returns false when stopping. */
static bool pause_ms(struct node_sync *sy, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&sy->mu);
    while (!sy->stop) {
        if (pthread_cond_timedwait(&sy->cv, &sy->mu, &ts) != 0) {
            break;
        }
    }
    bool go = !sy->stop;
    pthread_mutex_unlock(&sy->mu);
    return go;
}

static bool stopping(struct node_sync *sy)
{
    pthread_mutex_lock(&sy->mu);
    bool s = sy->stop;
    pthread_mutex_unlock(&sy->mu);
    return s;
}

static int call_apply(struct node *n, void *arg, char *err, size_t err_size)
{
    struct ldg_bytes *b = arg;
    return node_apply_fetched(n, b->data, b->size, err, err_size);
}

static int call_commit(struct node *n, void *arg, char *err, size_t err_size)
{
    (void)arg;
    int rc = node_commit_all(n);
    if (rc != SQ_OK) {
        snprintf(err, err_size, "commit failed");
    }
    return rc;
}

static int call_done(struct node *n, void *arg, char *err, size_t err_size)
{
    (void)arg;
    (void)err;
    (void)err_size;
    node_sync_done(n);
    return SQ_OK;
}

struct peer_status {
    bool ok;
    bool running;
    uint64_t local;
    uint64_t final;
};

static void get_status(struct rpc_client *c, uint32_t id, struct peer_status *ps)
{
    memset(ps, 0, sizeof(*ps));
    long status = 0;
    json_t *j = NULL;
    char err[256];
    if (rpc_client_get(c, "/v1/status", &status, &j, err, sizeof(err)) != SQ_OK) {
        SQ_DEBUG("sync", "peer unreachable", "peer=%u reason=\"%s\"", id, err);
        return;
    }
    json_t *h = json_object_get(j, "heights");
    json_t *local = json_object_get(h, "local");
    json_t *fin = json_object_get(h, "final");
    json_t *phase = json_object_get(j, "phase");
    if (status == 200 && json_is_integer(local) && json_is_string(phase)) {
        ps->ok = true;
        ps->local = (uint64_t)json_integer_value(local);
        ps->final = json_is_integer(fin) ? (uint64_t)json_integer_value(fin) : 0;
        ps->running = strcmp(json_string_value(phase), "running") == 0;
    }
    json_decref(j);
}

/* Checks the durable blocks up to `top` against the peer's certificate covering them. */
static int check_cert(struct node *n, struct rpc_client *c, uint64_t top, char *err,
                      size_t err_size)
{
    char path[96];
    snprintf(path, sizeof(path), "/v1/certificates/%llu", (unsigned long long)top);
    long status = 0;
    json_t *j = NULL;
    if (rpc_client_get(c, path, &status, &j, err, err_size) != SQ_OK) {
        return SQ_EAGAIN;
    }
    int rc = SQ_OK;
    json_t *cert = json_object_get(j, "certificate");
    if (status == 200 && json_is_string(cert)) {
        size_t len = json_string_length(cert);
        uint8_t *buf = malloc(len / 2 + 1);
        size_t size = 0;
        struct ldg_view *view = malloc(sizeof(*view));
        struct ldg_cert_info info;
        uint64_t vid = 0;
        rc = buf == NULL || view == NULL ? SQ_ENOMEM
                                         : sqc_hex_decode(buf, len / 2 + 1, json_string_value(cert),
                                                          len, &size);
        if (rc == SQ_OK) {
            rc = ldg_cert_view_id(buf, size, &vid);
        }
        if (rc == SQ_OK) {
            rc = ldg_view_get(n->store, vid, view, NULL);
        }
        if (rc == SQ_OK) {
            rc = ldg_cert_verify(buf, size, n->gen->chain_id, n->gen->chain_id_size, view, &info);
        }
        if (rc == SQ_OK && info.height <= ldg_store_persisted_height(n->store)) {
            uint8_t mine[LDG_HASH_BYTES];
            struct ldg_header hdr;
            rc = ldg_header_get(n->store, info.height, &hdr, mine);
            if (rc == SQ_OK && memcmp(mine, info.block_hash, LDG_HASH_BYTES) != 0) {
                snprintf(err, err_size, "block %llu differs from the certified one",
                         (unsigned long long)info.height);
                rc = SQ_EPROOF;
            } else if (rc == SQ_OK) {
                SQ_INFO("sync", "caught-up blocks match a certificate", "height=%llu signers=%u",
                        (unsigned long long)info.height, info.signer_count);
            }
        } else if (rc != SQ_OK) {
            snprintf(err, err_size, "the peer's certificate does not verify: %s", ldg_errmsg());
        }
        free(buf);
        free(view);
    }
    json_decref(j);
    return rc;
}

/* Fetches and applies blocks (mine+1 ..) from the peer. Returns the number applied, or -1. */
static long fetch_from(struct node_sync *sy, struct rpc_client *c, uint32_t peer, uint64_t mine,
                       uint64_t theirs)
{
    uint64_t to = theirs;
    if (to - mine > FETCH_MAX) {
        to = mine + FETCH_MAX;
    }
    char path[128];
    snprintf(path, sizeof(path), "/v1/blocks?from=%llu&to=%llu", (unsigned long long)(mine + 1),
             (unsigned long long)to);
    long status = 0;
    json_t *j = NULL;
    char err[256];
    if (rpc_client_get(c, path, &status, &j, err, sizeof(err)) != SQ_OK || status != 200) {
        SQ_WARN("sync", "cannot fetch blocks", "peer=%u status=%ld reason=\"%s\"", peer, status,
                err);
        json_decref(j);
        return -1;
    }
    json_t *arr = json_object_get(j, "blocks");
    long applied = 0;
    size_t i;
    json_t *b;
    json_array_foreach(arr, i, b) {
        json_t *hex = json_object_get(b, "block");
        if (!json_is_string(hex)) {
            break;
        }
        size_t len = json_string_length(hex);
        uint8_t *buf = malloc(len / 2 + 1);
        size_t size = 0;
        if (buf == NULL ||
            sqc_hex_decode(buf, len / 2 + 1, json_string_value(hex), len, &size) != SQ_OK) {
            free(buf);
            break;
        }
        struct ldg_bytes arg = {buf, size};
        int rc = on_loop(sy, call_apply, &arg, err, sizeof(err));
        free(buf);
        if (rc != SQ_OK) {
            if (rc != SQ_ECLOSED) {
                SQ_ERROR("sync", "a fetched block does not fit", "peer=%u height=%llu "
                         "reason=\"%s\"", peer, (unsigned long long)(mine + 1 + i), err);
            }
            json_decref(j);
            return applied > 0 ? applied : -1;
        }
        applied++;
    }
    json_decref(j);
    return applied;
}

static void *sync_main(void *arg)
{
    struct node_sync *sy = arg;
    struct node *n = sy->node;
    uint32_t count = n->view.member_count;
    struct rpc_client *clients[SQ_MEMBERS_MAX] = {0};
    for (uint32_t r = 0; r < count; r++) {
        if (r == n->my_rank) {
            continue;
        }
        const struct node_addr *a = node_config_peer_rpc(&n->cfg, n->view.members[r].id);
        if (a == NULL) {
            SQ_WARN("sync", "no [network] peer_rpc entry: cannot catch up from this validator",
                    "peer=%u", n->view.members[r].id);
            continue;
        }
        char url[128];
        snprintf(url, sizeof(url), "http://%s:%u", a->host, (unsigned)a->port);
        if (rpc_client_create(&clients[r], url, HTTP_TIMEOUT_MS) != SQ_OK) {
            clients[r] = NULL;
        }
    }
    char err[256];
    while (!stopping(sy)) {
        uint64_t mine = __atomic_load_n(&n->h_local, __ATOMIC_ACQUIRE);
        bool all = true;
        uint32_t best = UINT32_MAX;
        uint64_t best_h = mine;
        uint32_t waiting_for = UINT32_MAX;
        for (uint32_t r = 0; r < count; r++) {
            if (r == n->my_rank || clients[r] == NULL) {
                continue;
            }
            struct peer_status ps;
            get_status(clients[r], n->view.members[r].id, &ps);
            if (!ps.ok || ps.running) {
                all = false;
                waiting_for = n->view.members[r].id;
            }
            if (ps.ok && ps.local > best_h) {
                best_h = ps.local;
                best = r;
            }
        }
        if (best != UINT32_MAX) {
            uint32_t peer = n->view.members[best].id;
            SQ_INFO("sync", "catching up", "peer=%u from=%llu to=%llu", peer,
                    (unsigned long long)mine + 1, (unsigned long long)best_h);
            long got = fetch_from(sy, clients[best], peer, mine, best_h);
            if (got > 0 && on_loop(sy, call_commit, NULL, err, sizeof(err)) == SQ_OK) {
                uint64_t top = __atomic_load_n(&n->h_local, __ATOMIC_ACQUIRE);
                int rc = check_cert(n, clients[best], top, err, sizeof(err));
                if (rc == SQ_EPROOF || rc == SQ_EBADSIG) {
                    SQ_FATAL("sync", "caught-up chain does not match the peer's certificate",
                             "peer=%u reason=\"%s\"", peer, err);
                    break;
                }
                continue;
            }
            if (!pause_ms(sy, POLL_MS)) {
                break;
            }
            continue;
        }
        if (all) {
            SQ_INFO("sync", "caught up", "height=%llu", (unsigned long long)mine);
            on_loop(sy, call_done, NULL, err, sizeof(err));
            break;
        }
        if (sy->waits_logged++ % 50 == 0) {
            SQ_INFO("sync", "waiting for every member before forming the group", "peer=%u "
                    "height=%llu", waiting_for, (unsigned long long)mine);
        }
        if (!pause_ms(sy, POLL_MS)) {
            break;
        }
    }
    for (uint32_t r = 0; r < count; r++) {
        rpc_client_destroy(clients[r]);
    }
    return NULL;
}

int node_sync_start(struct node *n)
{
    struct node_sync *sy = n->sync;
    if (sy == NULL) {
        sy = calloc(1, sizeof(*sy));
        if (sy == NULL) {
            return SQ_ENOMEM;
        }
        sy->node = n;
        pthread_mutex_init(&sy->mu, NULL);
        pthread_cond_init(&sy->cv, NULL);
        n->sync = sy;
    }
    SQ_ASSERT(!sy->running);
    pthread_mutex_lock(&sy->mu);
    sy->stop = false;
    sy->gen++;
    pthread_mutex_unlock(&sy->mu);
    if (pthread_create(&sy->thread, NULL, sync_main, sy) != 0) {
        return SQ_EAGAIN;
    }
    sy->running = true;
    return SQ_OK;
}

void node_sync_stop(struct node *n)
{
    struct node_sync *sy = n->sync;
    if (sy == NULL || !sy->running) {
        return;
    }
    pthread_mutex_lock(&sy->mu);
    sy->stop = true;
    pthread_cond_broadcast(&sy->cv);
    pthread_mutex_unlock(&sy->mu);
    pthread_join(sy->thread, NULL);
    sy->running = false;
}

void node_sync_free(struct node *n)
{
    struct node_sync *sy = n->sync;
    if (sy == NULL) {
        return;
    }
    node_sync_stop(n);
    pthread_mutex_destroy(&sy->mu);
    pthread_cond_destroy(&sy->cv);
    free(sy);
    n->sync = NULL;
}
