#include "node/cons.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "consensus/consensus.h"
#include "net/net.h"
#include "node/group_driver.h"

struct node_cons {
    struct sq_loop *loop;
    struct node_gd *gd;
    struct grp_group *g;
    struct node_cons_upcalls up;
    uint64_t vid;
    uint32_t member_count;
    uint32_t ids[SQ_MEMBERS_MAX];
    size_t payload_max;
};

static void up_deliver(void *ctx, uint32_t shard, uint32_t sender_id, uint64_t vid, int64_t seq,
                       int64_t version, const uint8_t *data, size_t size)
{
    (void)shard;
    (void)vid;
    (void)seq;
    struct node_cons *c = ctx;
    c->up.deliver(c->up.ctx, sender_id, version, data, size);
}

static void up_persisted(void *ctx, uint32_t shard, int64_t version)
{
    (void)shard;
    struct node_cons *c = ctx;
    c->up.persisted(c->up.ctx, version);
}

static void up_wedged(void *ctx, uint32_t failed_id, int reason)
{
    struct node_cons *c = ctx;
    c->up.wedged(c->up.ctx, failed_id, reason);
}

static void up_view(void *ctx, const struct grp_view *view)
{
    struct node_cons *c = ctx;
    c->vid = view->vid;
    c->member_count = view->member_count;
    for (uint32_t i = 0; i < view->member_count; i++) {
        c->ids[i] = view->members[i].id;
    }
    c->up.view_installed(c->up.ctx, view, grp_view_record_version(c->g),
                         grp_is_receiving_state(c->g));
}

static void up_stopped(void *ctx, int reason, const char *why)
{
    struct node_cons *c = ctx;
    c->up.stopped(c->up.ctx, reason, why);
}

static void up_state_request(void *ctx, uint32_t joiner, int64_t from, int64_t to)
{
    struct node_cons *c = ctx;
    c->up.state_request(c->up.ctx, joiner, from, to);
}

static void up_state_receive(void *ctx, const uint8_t *data, size_t size, bool last)
{
    struct node_cons *c = ctx;
    c->up.state_receive(c->up.ctx, data, size, last);
}

static void up_truncate(void *ctx, int64_t keep)
{
    struct node_cons *c = ctx;
    c->up.truncate(c->up.ctx, keep);
}

static void up_after_poll(void *arg)
{
    struct node_cons *c = arg;
    if (c->up.after_poll != NULL) {
        c->up.after_poll(c->up.ctx);
    }
}

/* "host:port" of a ledger member into the group's and the transport's forms. */
static int split_addr(const struct ldg_member *m, char *host, size_t host_cap, uint16_t *port)
{
    struct node_addr a;
    if (node_addr_parse(&a, m->addr) != SQ_OK || strlen(a.host) >= host_cap) {
        return SQ_EINVAL;
    }
    snprintf(host, host_cap, "%s", a.host);
    *port = a.port;
    return SQ_OK;
}

int node_cons_start(struct node_cons **out, const struct node_cons_config *cc, char *errbuf,
                    size_t errbuf_size)
{
    struct node_cons *c = calloc(1, sizeof(*c));
    struct grp_view *view = calloc(1, sizeof(*view));
    struct net_validator *vals = calloc(SQ_MEMBERS_MAX, sizeof(*vals));
    size_t vcount = 0;
    int rc = SQ_ENOMEM;
    if (c == NULL || view == NULL || vals == NULL) {
        snprintf(errbuf, errbuf_size, "out of memory");
        goto err_free;
    }
    c->loop = cc->loop;
    c->up = cc->up;
    c->vid = cc->view->view_id;
    view->vid = cc->view->view_id;
    view->member_count = cc->view->member_count;
    c->member_count = cc->view->member_count;
    bool found = false;
    for (uint32_t i = 0; i < cc->view->member_count; i++) {
        const struct ldg_member *m = &cc->view->members[i];
        view->members[i].id = m->id;
        memcpy(view->members[i].pk, m->pk, GRP_PK_BYTES);
        if (split_addr(m, view->members[i].host, sizeof(view->members[i].host),
                       &view->members[i].port) != SQ_OK) {
            snprintf(errbuf, errbuf_size, "validator %u: address '%s' is not IPv4:port", m->id,
                     m->addr);
            rc = SQ_EINVAL;
            goto err_free;
        }
    }
    /* The transport's validator set: the genesis validators and the members of the newest view
     * (every validator that may take part). */
    for (uint32_t i = 0; i < cc->validators->validator_count + cc->view->member_count; i++) {
        const struct ldg_member *m = i < cc->validators->validator_count
                                         ? &cc->validators->validators[i]
                                         : &cc->view->members[i - cc->validators->validator_count];
        bool dup = false;
        for (size_t k = 0; k < vcount; k++) {
            dup |= vals[k].id == m->id;
        }
        if (dup) {
            continue;
        }
        struct net_validator *v = &vals[vcount++];
        v->id = m->id;
        memcpy(v->pk, m->pk, SQC_PK_BYTES);
        if (split_addr(m, v->host, sizeof(v->host), &v->port) != SQ_OK) {
            snprintf(errbuf, errbuf_size, "validator %u: address '%s' is not IPv4:port", m->id,
                     m->addr);
            rc = SQ_EINVAL;
            goto err_free;
        }
        if (m->id == cc->cfg->id) {
            found = true;
            if (memcmp(m->pk, cc->key->pk, SQC_PK_BYTES) != 0) {
                snprintf(errbuf, errbuf_size,
                         "the key file's public key is not validator %u's key in genesis",
                         m->id);
                rc = SQ_EINVAL;
                goto err_free;
            }
        }
    }
    if (!found) {
        snprintf(errbuf, errbuf_size, "validator %u is not in the validator set", cc->cfg->id);
        rc = SQ_EINVAL;
        goto err_free;
    }
    struct grp_settings set;
    grp_settings_default(&set);
    set.view_record = true; /* the view-change block (see the header) */
    c->payload_max = set.msg_payload_max;
    struct grp_upcalls gup = {.ctx = c, .deliver = up_deliver, .persisted = up_persisted,
                              .wedged = up_wedged, .view_installed = up_view,
                              .stopped = up_stopped, .state_request = up_state_request,
                              .state_receive = up_state_receive, .truncate = up_truncate};
    struct node_gd_config gc = {
        .loop = cc->loop,
        .tcp = {.chain_id = (const uint8_t *)cc->genesis->chain_id,
                .chain_id_size = cc->genesis->chain_id_size,
                .self_id = cc->cfg->id,
                .key = cc->key,
                .validators = vals,
                .validator_count = vcount,
                .listen_fd = cc->listen_fd,
                .keepalive_ms = cc->cfg->heartbeat_ms * 10,
                .dead_ms = cc->cfg->failure_timeout_ms * 5},
        .verbs = cc->cfg->transport == NODE_TRANSPORT_VERBS,
        .verbs_device = cc->cfg->rdma_device[0] != '\0' ? cc->cfg->rdma_device : NULL,
        .join = true,
        .last_view = view,
        .join_retry_ms = 200,
        .my_id = cc->cfg->id,
        .settings = &set,
        .up = &gup,
        .version_base = cc->version_base,
        .after_poll = up_after_poll,
        .after_poll_arg = c,
    };
    rc = node_gd_create(&c->gd, &gc, errbuf, errbuf_size);
    if (rc != SQ_OK) {
        goto err_free;
    }
    c->g = node_gd_group(c->gd);
    free(vals);
    free(view);
    *out = c;
    return SQ_OK;

err_free:
    free(vals);
    free(view);
    free(c);
    return rc;
}

void node_cons_stop(struct node_cons *c)
{
    if (c == NULL) {
        return;
    }
    node_gd_destroy(c->gd);
    free(c);
}

int node_cons_send(struct node_cons *c, const void *data, size_t size)
{
    void *buf;
    int rc = grp_send_reserve(c->g, size, &buf);
    if (rc != SQ_OK) {
        return rc;
    }
    memcpy(buf, data, size);
    grp_send_commit(c->g);
    node_gd_kick(c->gd);
    return SQ_OK;
}

size_t node_cons_payload_max(const struct node_cons *c)
{
    return c->payload_max;
}

void node_cons_report_persisted(struct node_cons *c, int64_t version)
{
    grp_report_persisted(c->g, version);
    node_gd_kick(c->gd);
}

void node_cons_report_signed(struct node_cons *c, int64_t version,
                             const uint8_t sig[NODE_SIG_BYTES])
{
    grp_report_signed(c->g, version, sig);
    node_gd_kick(c->gd);
}

void node_cons_report_verified(struct node_cons *c, int64_t version)
{
    grp_report_verified(c->g, version);
    node_gd_kick(c->gd);
}

int node_cons_signature(struct node_cons *c, uint32_t id, int64_t *version,
                        uint8_t sig[NODE_SIG_BYTES])
{
    return grp_signature_get(c->g, id, version, sig);
}

void node_cons_kick(struct node_cons *c)
{
    node_gd_kick(c->gd);
}

uint32_t node_cons_peers_up(const struct node_cons *c)
{
    return node_gd_peers_up(c->gd);
}

bool node_cons_peer_is_up(const struct node_cons *c, uint32_t id)
{
    return net_peer_state(node_gd_net(c->gd), id) == NET_PEER_UP;
}

bool node_cons_is_wedged(const struct node_cons *c)
{
    return grp_is_wedged(c->g) || grp_is_joining(c->g) || grp_is_stopped(c->g) ||
           grp_is_receiving_state(c->g);
}

int node_cons_state_send(struct node_cons *c, uint32_t joiner, const void *data, size_t size,
                         bool last)
{
    int rc = grp_state_send(c->g, joiner, data, size, last);
    node_gd_kick(c->gd);
    return rc;
}

size_t node_cons_state_chunk_max(const struct node_cons *c)
{
    return grp_state_chunk_max(c->g);
}

uint64_t node_cons_view_id(const struct node_cons *c)
{
    return c->vid;
}

int64_t node_cons_delivered_version(const struct node_cons *c)
{
    struct grp_stats st;
    grp_group_stats(c->g, &st);
    return st.delivered_version;
}
