/* The audit, of a store on disk (the ledger's ldg_audit_run) or of a node over its API (a replay
 * of every block with the ledger's state machine into a scratch store). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/codec.h"
#include "base/err.h"
#include "wallet-cli/wallet.h"
#include "wallet-cli/wallet_int.h"

#define COMMIT_EVERY_BLOCKS 256

static volatile sig_atomic_t interrupted_;

void wal_audit_interrupt(void)
{
    interrupted_ = 1;
}

static int open_pool(unsigned threads, struct sqc_verify_pool **pool, struct wal_err *e)
{
    *pool = NULL;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (unsigned)cores : 1;
    }
    if (threads > SQ_VERIFY_THREADS_MAX) {
        threads = SQ_VERIFY_THREADS_MAX;
    }
    /* The calling thread verifies too (sqc_verify_pool_run): N threads in all is N - 1 workers. */
    if (threads <= 1) {
        return WAL_EXIT_OK;
    }
    if (sqc_verify_pool_create(pool, threads - 1) != SQ_OK) {
        return wal_fail(e, WAL_EXIT_INTERNAL, "no_threads", "cannot start %u verification threads",
                        threads - 1);
    }
    return WAL_EXIT_OK;
}

int wal_data_dir(const char *dir, char *out, size_t cap, struct wal_err *e)
{
    char probe[WAL_PATH_BYTES_MAX + 32];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return wal_fail(e, WAL_EXIT_IO, "no_store", "%s is not a folder", dir);
    }
    snprintf(probe, sizeof(probe), "%s/data.mdb", dir);
    if (stat(probe, &st) == 0) {
        snprintf(out, cap, "%s", dir);
        return WAL_EXIT_OK;
    }
    snprintf(probe, sizeof(probe), "%s/data/data.mdb", dir);
    if (stat(probe, &st) == 0) {
        snprintf(out, cap, "%s/data", dir);
        return WAL_EXIT_OK;
    }
    return wal_fail(e, WAL_EXIT_IO, "no_store",
                    "no store in %s (expected data.mdb there, or in a validator home's data/)",
                    dir);
}

struct bar_ctx {
    struct wal_progress bar;
};

static bool on_progress(void *arg, uint64_t height, uint64_t tip, uint64_t txs)
{
    struct bar_ctx *c = arg;
    wal_progress_update(&c->bar, height, tip, txs);
    return !interrupted_;
}

static void finish_tip(struct ldg_store *s, struct wal_audit_result *r)
{
    struct ldg_header hdr;
    uint64_t tip = r->rep.tip;
    if (ldg_header_get(s, tip, &hdr, r->tip_hash) != SQ_OK) {
        memset(r->tip_hash, 0, sizeof(r->tip_hash));
    }
    if (ldg_acc_root(s, tip + 1, r->acc_root) != SQ_OK) {
        memset(r->acc_root, 0, sizeof(r->acc_root));
    }
}

int wal_audit_data(const char *dir, const struct ldg_genesis *g, const struct wal_audit_opts *o,
                   struct wal_audit_result *r, struct wal_err *e)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->genesis_digest, g->digest, LDG_HASH_BYTES);
    struct ldg_store_opts so = {.read_only = true};
    struct ldg_store *s = NULL;
    int err = ldg_store_open(dir, g, &so, &s);
    if (err == SQ_EINVAL) {
        snprintf(r->rep.what, sizeof(r->rep.what), "genesis");
        snprintf(r->rep.why, sizeof(r->rep.why), "%s", ldg_errmsg());
        return wal_fail(e, WAL_EXIT_FAULT, "genesis",
                        "the store in %s does not belong to this genesis: %s", dir, ldg_errmsg());
    }
    if (err != SQ_OK) {
        return wal_fail(e, WAL_EXIT_IO, "no_store", "cannot open the store in %s read-only: %s",
                        dir, ldg_errmsg()[0] ? ldg_errmsg() : sq_strerror(err));
    }
    struct sqc_verify_pool *pool;
    int rc = open_pool(o->threads, &pool, e);
    if (rc != WAL_EXIT_OK) {
        ldg_store_close(s);
        return rc;
    }
    struct bar_ctx bar;
    wal_progress_init(&bar.bar, o->progress_fd, o->progress_fd >= 0, "audit");
    double t0 = wal_now_s();
    err = ldg_audit_run(s, pool, on_progress, &bar, &r->rep);
    r->seconds = wal_now_s() - t0;
    wal_progress_finish(&bar.bar);
    r->tx_per_s = r->seconds > 0 ? (double)r->rep.txs / r->seconds : 0;
    r->certified_height = ldg_store_certified_height(s);
    if (err == SQ_OK) {
        finish_tip(s, r);
        rc = WAL_EXIT_OK;
    } else if (err == SQ_ECLOSED) {
        rc = wal_fail(e, WAL_EXIT_USAGE, "interrupted", "audit interrupted at height %" PRIu64,
                      r->rep.blocks);
    } else if (err == SQ_ENOMEM) {
        rc = wal_fail(e, WAL_EXIT_INTERNAL, "no_memory", "out of memory: %s", ldg_errmsg());
    } else {
        rc = wal_fail(e, WAL_EXIT_FAULT, r->rep.what[0] ? r->rep.what : "fault",
                      "height %" PRIu64 ": %s: %s", r->rep.fault_height, r->rep.what,
                      r->rep.why);
    }
    sqc_verify_pool_destroy(pool);
    ldg_store_close(s);
    return rc;
}

/* ---- over the API ---- */

struct node_audit {
    struct wal_node *n;
    const struct ldg_genesis *g;
    struct ldg_store *s;
    struct sqc_verify_pool *pool;
    struct wal_audit_result *r;
    struct wal_err *e;
    uint8_t prev[LDG_HASH_BYTES];
    uint64_t uncommitted;
    /* the node's results for the block being replayed */
    const uint8_t *results;
    uint32_t result_count;
    bool mismatch;
    uint32_t mismatch_index;
    uint8_t mismatch_result;
};

static int fault(struct node_audit *a, uint64_t height, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fault(struct node_audit *a, uint64_t height, const char *what, const char *fmt, ...)
{
    struct ldg_audit_report *rep = &a->r->rep;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->why, sizeof(rep->why), fmt, ap);
    va_end(ap);
    rep->fault_height = height;
    snprintf(rep->what, sizeof(rep->what), "%s", what);
    return wal_fail(a->e, WAL_EXIT_FAULT, what, "height %" PRIu64 ": %s: %s", height, what,
                    rep->why);
}

static void on_result(void *arg, const uint8_t txid[LDG_HASH_BYTES], uint64_t height,
                      uint32_t index, enum ldg_result result)
{
    (void)txid;
    (void)height;
    struct node_audit *a = arg;
    if (a->mismatch) {
        return;
    }
    if (index >= a->result_count || a->results[index] != (uint8_t)result) {
        a->mismatch = true;
        a->mismatch_index = index;
        a->mismatch_result = (uint8_t)result;
    }
}

/* The batch a block was made from: its frame is the header's fields around the block's own
 * transaction list (docs/formats.md, "Batch"). Checked against the header's batch hash. */
static int rebuild_batch(struct node_audit *a, const struct ldg_block *blk, uint8_t **out,
                         size_t *size)
{
    const struct ldg_header *h = &blk->hdr;
    size_t cap = 32 + h->chain_id_size + blk->txs_size + SQC_SIG_BYTES;
    uint8_t *buf = malloc(cap);
    if (buf == NULL) {
        return wal_fail(a->e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    struct sq_enc enc;
    sq_enc_init(&enc, buf, cap);
    sq_enc_u8(&enc, LDG_FORMAT_VERSION);
    sq_enc_u8(&enc, h->chain_id_size);
    sq_enc_bytes(&enc, h->chain_id, h->chain_id_size);
    sq_enc_u32(&enc, h->proposer);
    sq_enc_u64(&enc, h->batch_seq);
    sq_enc_u64(&enc, h->timestamp_us);
    sq_enc_u32(&enc, h->tx_count);
    sq_enc_bytes(&enc, blk->txs, blk->txs_size);
    sq_enc_bytes(&enc, h->proposer_sig, SQC_SIG_BYTES);
    struct ldg_batch b;
    if (sq_enc_status(&enc) != SQ_OK || ldg_batch_decode(buf, sq_enc_len(&enc), &b) != SQ_OK ||
        memcmp(b.hash, h->batch_hash, LDG_HASH_BYTES) != 0) {
        free(buf);
        return fault(a, h->height, "batch_hash",
                     "the batch rebuilt from the block does not hash to the header's batch_hash");
    }
    *out = buf;
    *size = sq_enc_len(&enc);
    return WAL_EXIT_OK;
}

static int commit(struct node_audit *a)
{
    if (a->uncommitted == 0) {
        return WAL_EXIT_OK;
    }
    int err = ldg_commit(a->s, NULL);
    if (err != SQ_OK) {
        return wal_fail(a->e, WAL_EXIT_IO, "scratch", "cannot write the scratch store: %s",
                        ldg_errmsg());
    }
    a->uncommitted = 0;
    return WAL_EXIT_OK;
}

/* The replay made another block than the node's: name the first header field that differs. */
static int block_differs(struct node_audit *a, const struct ldg_block *blk)
{
    uint64_t h = blk->hdr.height;
    int rc = commit(a);
    struct ldg_header mine;
    uint8_t hash[LDG_HASH_BYTES];
    if (rc != WAL_EXIT_OK || ldg_header_get(a->s, h, &mine, hash) != SQ_OK) {
        return fault(a, h, "block_hash", "the replay does not give the node's block");
    }
    const struct ldg_header *theirs = &blk->hdr;
    const char *field = "header";
    if (memcmp(mine.tx_root, theirs->tx_root, LDG_HASH_BYTES) != 0) {
        field = "tx_root";
    } else if (memcmp(mine.results_root, theirs->results_root, LDG_HASH_BYTES) != 0) {
        field = "results_root";
    } else if (mine.view_id != theirs->view_id) {
        field = "view_id";
    } else if (mine.timestamp_us != theirs->timestamp_us) {
        field = "timestamp_us";
    } else if (mine.kind != theirs->kind) {
        field = "kind";
    }
    return fault(a, h, "block_hash",
                 "the replay from genesis gives another block (its %s differs from the node's)",
                 field);
}

static int replay_block(struct node_audit *a, uint64_t h, const uint8_t *raw, size_t size)
{
    struct ldg_block blk;
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        return wal_fail(a->e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    int rc = WAL_EXIT_OK;
    int err = ldg_block_decode(raw, size, &blk, view);
    if (err != SQ_OK) {
        rc = fault(a, h, "block", "%s", ldg_errmsg());
        goto out;
    }
    if (blk.hdr.height != h) {
        rc = fault(a, h, "height", "the node sent block %" PRIu64, blk.hdr.height);
        goto out;
    }
    if (memcmp(blk.hdr.prev_hash, a->prev, LDG_HASH_BYTES) != 0) {
        rc = fault(a, h, "prev_hash", "does not match the hash of block %" PRIu64, h - 1);
        goto out;
    }
    struct ldg_block_info info;
    if (blk.hdr.kind == LDG_BLOCK_VIEW) {
        err = ldg_view_apply(a->s, view, blk.hdr.timestamp_us, &info);
        if (err != SQ_OK) {
            rc = fault(a, h, "view", "%s", ldg_errmsg());
            goto out;
        }
        a->r->rep.views++;
    } else {
        uint8_t *batch = NULL;
        size_t batch_size = 0;
        rc = rebuild_batch(a, &blk, &batch, &batch_size);
        if (rc != WAL_EXIT_OK) {
            goto out;
        }
        a->results = blk.results;
        a->result_count = blk.hdr.tx_count;
        a->mismatch = false;
        struct ldg_apply_opts ao = {.pool = a->pool, .on_result = on_result, .result_arg = a};
        err = ldg_batch_apply(a->s, blk.hdr.view_id, batch, batch_size, &ao, &info);
        free(batch);
        if (err != SQ_OK) {
            const char *what = err == SQ_EBADSIG ? "batch_signature"
                               : err == SQ_EPERM ? "proposer"
                               : err == SQ_EVIEW ? "view_id"
                                                 : "batch";
            rc = fault(a, h, what, "%s", ldg_errmsg());
            goto out;
        }
        if (a->mismatch) {
            uint32_t i = a->mismatch_index;
            const char *theirs = i < blk.hdr.tx_count ? ldg_result_name(blk.results[i]) : "none";
            rc = fault(a, h, a->mismatch_result == LDG_RESULT_BAD_SIGNATURE ? "tx_signature"
                                                                            : "result",
                       "transaction %u: the node's block records %s, the replay gives %s", i,
                       theirs, ldg_result_name(a->mismatch_result));
            goto out;
        }
        a->r->rep.txs += blk.hdr.tx_count;
        a->r->rep.signatures += 1u + blk.hdr.tx_count;
    }
    a->uncommitted++;
    if (memcmp(info.hash, blk.hash, LDG_HASH_BYTES) != 0) {
        rc = block_differs(a, &blk);
        goto out;
    }
    memcpy(a->prev, blk.hash, LDG_HASH_BYTES);
    a->r->rep.blocks++;
    if (a->uncommitted >= COMMIT_EVERY_BLOCKS) {
        rc = commit(a);
    }
out:
    free(view);
    return rc;
}

static int check_genesis_block(struct node_audit *a, const uint8_t *raw, size_t size)
{
    uint8_t *buf = malloc(LDG_HEADER_BYTES_MAX + 16384);
    if (buf == NULL) {
        return wal_fail(a->e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    size_t hs;
    size_t bs;
    int rc = WAL_EXIT_OK;
    if (ldg_genesis_block(a->g, buf, LDG_HEADER_BYTES_MAX + 16384, &hs, &bs, a->prev) != SQ_OK) {
        rc = wal_fail(a->e, WAL_EXIT_INTERNAL, "genesis", "cannot build the genesis block: %s",
                      ldg_errmsg());
    } else {
        struct ldg_block blk;
        if (ldg_block_decode(raw, size, &blk, NULL) != SQ_OK || blk.header_size != hs ||
            blk.body_size != bs || memcmp(blk.header_bytes, buf, hs) != 0 ||
            memcmp(blk.body, buf + hs, bs) != 0) {
            rc = fault(a, 0, "genesis", "the node's block 0 is not this genesis file's block");
        }
    }
    free(buf);
    if (rc == WAL_EXIT_OK) {
        a->r->rep.blocks++;
        a->r->rep.views++;
    }
    return rc;
}

static int audit_blocks(struct node_audit *a, uint64_t tip, struct wal_progress *bar)
{
    uint64_t h = 0;
    while (h <= tip) {
        if (interrupted_) {
            return wal_fail(a->e, WAL_EXIT_USAGE, "interrupted", "audit interrupted at height %" PRIu64, h);
        }
        uint64_t to = h + WAL_BLOCKS_PAGE - 1 < tip ? h + WAL_BLOCKS_PAGE - 1 : tip;
        char path[128];
        snprintf(path, sizeof(path), "/v1/blocks?from=%" PRIu64 "&to=%" PRIu64, h, to);
        json_t *j;
        int rc = wal_node_get(a->n, path, 0, &j, a->e);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
        json_t *blocks = json_object_get(j, "blocks");
        size_t count = json_array_size(blocks);
        if (!json_is_array(blocks) || count == 0) {
            json_decref(j);
            return wal_fail(a->e, WAL_EXIT_NETWORK, "bad_reply",
                            "%s returned no blocks (the node's chain ends before %" PRIu64 ")",
                            path, h);
        }
        for (size_t i = 0; i < count && h <= tip && rc == WAL_EXIT_OK; i++, h++) {
            json_t *b = json_array_get(blocks, i);
            uint64_t bh = 0;
            uint8_t *raw = NULL;
            size_t size = 0;
            rc = wal_json_u64(b, "height", true, &bh, a->e);
            if (rc == WAL_EXIT_OK && bh != h) {
                rc = fault(a, h, "height", "the node listed block %" PRIu64 " in its place", bh);
            }
            if (rc == WAL_EXIT_OK) {
                rc = wal_json_hex(b, "block", LDG_BLOCK_BYTES_MAX, &raw, &size, a->e);
            }
            if (rc == WAL_EXIT_OK) {
                rc = h == 0 ? check_genesis_block(a, raw, size) : replay_block(a, h, raw, size);
            }
            free(raw);
        }
        json_decref(j);
        if (rc != WAL_EXIT_OK) {
            return rc;
        }
        wal_progress_update(bar, h - 1, tip, a->r->rep.txs);
    }
    return commit(a);
}

static int audit_certs(struct node_audit *a, uint64_t tip)
{
    uint64_t c = 1;
    struct ldg_view *view = malloc(sizeof(*view));
    if (view == NULL) {
        return wal_fail(a->e, WAL_EXIT_INTERNAL, "no_memory", "out of memory");
    }
    int rc = WAL_EXIT_OK;
    while (c <= tip && rc == WAL_EXIT_OK) {
        char path[64];
        snprintf(path, sizeof(path), "/v1/certificates/%" PRIu64, c);
        json_t *j;
        rc = wal_node_get(a->n, path, 0, &j, a->e);
        if (rc == WAL_EXIT_REFUSED && strcmp(a->e->code, "not_found") == 0) {
            rc = WAL_EXIT_OK;
            break;
        }
        if (rc != WAL_EXIT_OK) {
            break;
        }
        uint8_t *cert = NULL;
        size_t size = 0;
        uint64_t certified = 0;
        uint64_t vid = 0;
        struct ldg_cert_info ci;
        uint64_t at = 0;
        rc = wal_json_u64(j, "certified_height", true, &certified, a->e);
        if (rc == WAL_EXIT_OK) {
            rc = wal_json_hex(j, "certificate", LDG_CERT_BYTES_MAX, &cert, &size, a->e);
        }
        json_decref(j);
        if (rc == WAL_EXIT_OK && ldg_cert_view_id(cert, size, &vid) != SQ_OK) {
            rc = fault(a, certified, "certificate", "does not decode: %s", ldg_errmsg());
        }
        if (rc == WAL_EXIT_OK && ldg_view_get(a->s, vid, view, &at) != SQ_OK) {
            rc = fault(a, certified, "certificate",
                       "signed in view %" PRIu64 ", which the chain never installed", vid);
        }
        if (rc == WAL_EXIT_OK && ldg_cert_verify(cert, size, a->g->chain_id, a->g->chain_id_size,
                                                 view, &ci) != SQ_OK) {
            rc = fault(a, certified, "certificate", "%s", ldg_errmsg());
        }
        free(cert);
        if (rc != WAL_EXIT_OK) {
            break;
        }
        if (ci.height != certified || ci.height < c) {
            rc = fault(a, c, "certificate",
                       "asked for height %" PRIu64 ", got a certificate of %" PRIu64
                       " filed as %" PRIu64,
                       c, ci.height, certified);
            break;
        }
        if (ci.top_height > tip) {
            break; /* signed beyond what this audit replayed: the next run checks it */
        }
        struct ldg_header hdr;
        uint8_t hash[LDG_HASH_BYTES];
        uint8_t root[LDG_HASH_BYTES];
        if (ldg_header_get(a->s, ci.height, &hdr, hash) != SQ_OK ||
            memcmp(hash, ci.block_hash, LDG_HASH_BYTES) != 0) {
            rc = fault(a, ci.height, "certificate", "certifies another block than the chain's");
            break;
        }
        if (ldg_acc_root(a->s, ci.top_height + 1, root) != SQ_OK ||
            memcmp(root, ci.top_acc_root, LDG_HASH_BYTES) != 0) {
            rc = fault(a, ci.top_height, "certificate",
                       "the signed accumulator root is not the chain's");
            break;
        }
        a->r->rep.certs++;
        a->r->rep.signatures += ci.signer_count;
        a->r->certified_height = ci.height;
        c = ci.height + 1;
    }
    free(view);
    return rc;
}

static void remove_scratch(const char *dir)
{
    if (ldg_store_remove(dir) != SQ_OK) {
        fprintf(stderr, "squall audit: warning: scratch store not removed: %s\n", ldg_errmsg());
    }
}

int wal_audit_node(struct wal_node *n, const struct ldg_genesis *g, const struct wal_audit_opts *o,
                   struct wal_audit_result *r, struct wal_err *e)
{
    memset(r, 0, sizeof(*r));
    memcpy(r->genesis_digest, g->digest, LDG_HASH_BYTES);
    struct wal_status st;
    int rc = wal_node_status(n, &st, e);
    if (rc != WAL_EXIT_OK) {
        return rc;
    }
    if (strcmp(st.chain_id, g->chain_id) != 0) {
        return wal_fail(e, WAL_EXIT_FAULT, "chain_id",
                        "the node runs chain '%s', the genesis is chain '%s'", st.chain_id,
                        g->chain_id);
    }
    uint64_t tip = o->to_height ? o->to_height : st.final;
    if (tip > st.persisted) {
        return wal_fail(e, WAL_EXIT_USAGE, "bad_argument",
                        "--to %" PRIu64 " is above the node's persisted height %" PRIu64, tip,
                        st.persisted);
    }
    char dir[WAL_PATH_BYTES_MAX];
    bool temp = o->scratch_dir == NULL;
    if (temp) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/squall-audit.XXXXXX",
                 base != NULL && base[0] != '\0' ? base : "/tmp");
        if (mkdtemp(dir) == NULL) {
            return wal_fail(e, WAL_EXIT_IO, "scratch", "cannot make a scratch folder: %s",
                            strerror(errno));
        }
    } else {
        snprintf(dir, sizeof(dir), "%s", o->scratch_dir);
    }
    struct node_audit a = {.n = n, .g = g, .r = r, .e = e};
    int err = ldg_store_open(dir, g, NULL, &a.s);
    if (err != SQ_OK) {
        rc = wal_fail(e, WAL_EXIT_IO, "scratch", "cannot make the scratch store in %s: %s", dir,
                      ldg_errmsg());
        goto out_dir;
    }
    rc = open_pool(o->threads, &a.pool, e);
    if (rc != WAL_EXIT_OK) {
        goto out_store;
    }
    struct wal_progress bar;
    wal_progress_init(&bar, o->progress_fd, o->progress_fd >= 0, "audit");
    double t0 = wal_now_s();
    r->rep.tip = tip;
    rc = audit_blocks(&a, tip, &bar);
    wal_progress_finish(&bar);
    if (rc == WAL_EXIT_OK) {
        rc = audit_certs(&a, tip);
    }
    if (rc == WAL_EXIT_OK && st.final > 0 && r->certified_height == 0 && tip > 0) {
        rc = fault(&a, tip, "certificate",
                   "the node reports final height %" PRIu64 " but serves no certificate",
                   st.final);
    }
    r->seconds = wal_now_s() - t0;
    r->tx_per_s = r->seconds > 0 ? (double)r->rep.txs / r->seconds : 0;
    if (rc == WAL_EXIT_OK) {
        finish_tip(a.s, r);
    }
    sqc_verify_pool_destroy(a.pool);
out_store:
    ldg_store_close(a.s);
out_dir:
    if (temp) {
        remove_scratch(dir);
    }
    return rc;
}

json_t *wal_audit_json(const struct wal_audit_result *r, bool ok)
{
    json_t *j = json_object();
    if (j == NULL) {
        return NULL;
    }
    json_object_set_new(j, "ok", json_boolean(ok));
    json_object_set_new(j, "genesis_digest", wal_json_hash_new(r->genesis_digest, LDG_HASH_BYTES));
    json_object_set_new(j, "tip", json_integer((json_int_t)r->rep.tip));
    json_object_set_new(j, "blocks", json_integer((json_int_t)r->rep.blocks));
    json_object_set_new(j, "txs", json_integer((json_int_t)r->rep.txs));
    json_object_set_new(j, "signatures", json_integer((json_int_t)r->rep.signatures));
    json_object_set_new(j, "certificates", json_integer((json_int_t)r->rep.certs));
    json_object_set_new(j, "views", json_integer((json_int_t)r->rep.views));
    json_object_set_new(j, "index_next", json_integer((json_int_t)r->rep.index_next));
    json_object_set_new(j, "unindexed", json_integer((json_int_t)r->rep.unindexed));
    json_object_set_new(j, "certified_height", json_integer((json_int_t)r->certified_height));
    json_object_set_new(j, "seconds", json_real(r->seconds));
    json_object_set_new(j, "tx_per_s", json_real(r->tx_per_s));
    if (ok) {
        json_object_set_new(j, "tip_hash", wal_json_hash_new(r->tip_hash, LDG_HASH_BYTES));
        json_object_set_new(j, "acc_root", wal_json_hash_new(r->acc_root, LDG_HASH_BYTES));
    } else if (r->rep.what[0] != '\0') {
        json_t *f = json_object();
        json_object_set_new(f, "height", json_integer((json_int_t)r->rep.fault_height));
        json_object_set_new(f, "what", json_string(r->rep.what));
        json_object_set_new(f, "why", json_string(r->rep.why));
        json_object_set_new(j, "fault", f);
    }
    return j;
}
