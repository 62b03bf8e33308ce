/* The node's one door to the consensus group (loop thread only).
 *
 * Everything squalld does with consensus/ and the group driver goes through here. The validator
 * always starts as a joiner (PROTOCOL.md §5.9) with its ledger's newest view as its last view: it
 * joins the running group (redirect to the leader, view shipped, the blocks it lacks by state
 * transfer from a member of its shard), or, when no group runs (a fresh network, or every
 * validator restarted), takes part in a total restart (§5.8) from the longest chain among a
 * majority of that view. The group then changes views on failures and joins by itself; a
 * validator the group excluded (or a minority that lost the majority) stops its group and joins
 * again.
 *
 * Versions. The group numbers delivered messages with versions starting at `version_base` = the
 * ledger height + 1, and reserves one version at the start of every view for its view-change block
 * (settings.view_record), which every member writes itself; so while every delivered batch becomes
 * a block, version == block height. A batch the ledger refuses (possible only from a faulty
 * proposer) consumes a version without a block; node.c keeps that mapping for the life of one
 * group. */
#ifndef SQ_NODE_CONS_H
#define SQ_NODE_CONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/loop.h"
#include "consensus/view.h"
#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "node/config.h"

#define NODE_SIG_BYTES 64

struct node_cons;

struct node_cons_upcalls {
    void *ctx;
    /* Batch `data` (borrowed for the call) from validator `sender`, version `version`, delivered
     * in the group's total order. */
    void (*deliver)(void *ctx, uint32_t sender, int64_t version, const uint8_t *data, size_t size);
    /* Every member has made every version up to `version` durable. */
    void (*persisted)(void *ctx, int64_t version);
    /* The view wedged (a member failed or joins: `failed_id`, `reason`): a view change follows. */
    void (*wedged)(void *ctx, uint32_t failed_id, int reason);
    /* A view is installed. `record_version` is the version of its view-change block, to be
     * written now, or once the state transfer ended when `receiving_state`. */
    void (*view_installed)(void *ctx, const struct grp_view *view, int64_t record_version,
                           bool receiving_state);
    /* The group stopped for good here (excluded, or the majority rule); join again. */
    void (*stopped)(void *ctx, int reason, const char *why);
    /* State transfer (consensus.h): a joiner lacks versions [from, to]; answer with
     * node_cons_state_send. And at the joiner: a chunk, `last` ending it. */
    void (*state_request)(void *ctx, uint32_t joiner, int64_t from, int64_t to);
    void (*state_receive)(void *ctx, const uint8_t *data, size_t size, bool last);
    /* The group goes on from a shorter chain than this validator's (consensus.h `truncate`). */
    void (*truncate)(void *ctx, int64_t keep_version);
    /* Runs after every round of the group (a chance to send and to read signatures). */
    void (*after_poll)(void *ctx);
};

struct node_cons_config {
    struct sq_loop *loop;
    const struct node_config *cfg;
    const struct ldg_genesis *genesis;  /* chain id */
    const struct ldg_view *view;        /* the ledger's newest view: the last view to restart
                                         * from (ids, keys, addresses "host:port") */
    const struct ldg_genesis *validators; /* its validators may join too (ids, keys, addresses) */
    const struct sqc_keypair *key;      /* borrowed for the group's life */
    int64_t version_base;
    int listen_fd;                      /* < 0: bind cfg->listen */
    struct node_cons_upcalls up;
};

/* Starts the transport and the group as a joiner; peers are dialled in the background. SQ_EINVAL
 * for a validator set this node is not in or an address that does not parse, SQ_EUNSUPPORTED for
 * transport=verbs, or the transport's/group's error; errbuf says which. */
int node_cons_start(struct node_cons **out, const struct node_cons_config *cc, char *errbuf,
                    size_t errbuf_size);

/* Stops the group and closes its connections (peers see this member fail). NULL is a no-op. Not
 * from inside an upcall. */
void node_cons_stop(struct node_cons *c);

/* Multicasts `size` bytes (copied). SQ_EAGAIN under flow control (try again after a round),
 * SQ_ETOOBIG past node_cons_payload_max, SQ_EVIEW once wedged. */
int node_cons_send(struct node_cons *c, const void *data, size_t size);
/* Largest payload node_cons_send takes. */
size_t node_cons_payload_max(const struct node_cons *c);

/* Reports durability / publishes a finality signature / reports verification (PROTOCOL.md §4.5,
 * §6): thin wrappers over grp_report_*. */
void node_cons_report_persisted(struct node_cons *c, int64_t version);
void node_cons_report_signed(struct node_cons *c, int64_t version,
                             const uint8_t sig[NODE_SIG_BYTES]);
void node_cons_report_verified(struct node_cons *c, int64_t version);
/* The latest signature member `id` published (SQ_EAGAIN: none yet; SQ_ENOTFOUND: not a member). */
int node_cons_signature(struct node_cons *c, uint32_t id, int64_t *version,
                        uint8_t sig[NODE_SIG_BYTES]);

/* State transfer at the member asked (consensus.h grp_state_send). */
int node_cons_state_send(struct node_cons *c, uint32_t joiner, const void *data, size_t size,
                         bool last);
size_t node_cons_state_chunk_max(const struct node_cons *c);

/* Asks for a round at the end of the current loop iteration. */
void node_cons_kick(struct node_cons *c);
/* Members connected besides this one; whether member `id` is connected. */
uint32_t node_cons_peers_up(const struct node_cons *c);
bool node_cons_peer_is_up(const struct node_cons *c, uint32_t id);
bool node_cons_is_wedged(const struct node_cons *c);
/* The view id and the last delivered version (version_base - 1 before the first). */
uint64_t node_cons_view_id(const struct node_cons *c);
int64_t node_cons_delivered_version(const struct node_cons *c);

#endif
