/* squalld's runtime: one validator (docs/operator.md; DESIGN.md "A transaction's path").
 *
 * Threads:
 *  - the loop thread (node_run's caller) owns the group (node/cons.h), the mempool, the ledger's
 *    apply side, finality, the batcher and every long-poll;
 *  - the HTTP server's threads decode requests and answer reads of committed data themselves; they
 *    hand admissions and reads of pending state to the loop with sq_loop_post;
 *  - the verification pool's workers check client signatures;
 *  - one persistence thread runs ldg_commit_write (group commit, fsync) and wakes the loop, which
 *    reports the persisted height to the group;
 *  - a catch-up thread (node/sync.c) runs while the node fetches the blocks it lacks from peers,
 *    before it forms or rejoins the group. */
#ifndef SQ_NODE_NODE_H
#define SQ_NODE_NODE_H

#include <stddef.h>

#include "crypto/crypto.h"
#include "ledger/ledger.h"
#include "node/config.h"

struct node;

/* Builds a validator from its config, genesis (ownership passes to the node on success) and key
 * (moved: *key is zeroed on success): opens the store (creating it with the genesis state on first
 * start), starts the verification pool, the persistence thread and the HTTP server. SQ_EINVAL /
 * SQ_EIO / ... with a one-line reason in errbuf; nothing is left behind on error (the genesis and
 * key stay the caller's). SIGINT and SIGTERM must be blocked in the calling thread (node_run
 * handles them), so that every thread started here inherits the mask. */
int node_create(struct node **out, const struct node_config *cfg, struct ldg_genesis *genesis,
                struct sqc_keypair *key, char *errbuf, size_t errbuf_size);

/* Runs the validator on the calling thread until SIGINT/SIGTERM or a fatal error: catches up
 * from peers, forms the group, serves. Returns 0 after a clean stop, 1 after a fatal error (a
 * failed commit: the node stopped accepting writes and must be restarted). */
int node_run(struct node *n);

/* Stops everything node_create started and frees the node. NULL is a no-op. */
void node_destroy(struct node *n);

#endif
