/* The shared state table (PROTOCOL.md §1). See sst.h for the contract. */
#include "sst/sst.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/prng.h"

struct pred {
    uint32_t gen; /* bumped on removal; odd = active */
    uint8_t kind;
    bool last; /* TRANSITION: value at the previous evaluation */
    sst_pred_fn pred;
    sst_trig_fn trig;
    void *arg;
};

struct sst {
    struct sst_schema schema;
    uint32_t n;
    uint32_t me;
    uint32_t ids[SQ_MEMBERS_MAX];
    struct net *net;
    uint32_t region;
    uint64_t tag;
    sst_failed_fn failed;
    void *failed_arg;

    uint8_t *table;      /* n * row_size, registered with the transport */
    uint8_t *frozen;     /* n * row_size: snapshots of frozen rows */
    uint8_t *check_snap; /* n * row_size: sst_check()'s previous view */
    bool check_primed;
    uint64_t frozen_mask;
    uint64_t catchup_mask; /* targets owed a whole-row push before anything else */
    uint64_t synced_mask;  /* targets that accepted at least one write of this table */

    struct pred preds[SST_PREDS_MAX];
    /* Insertion order per kind: slot numbers; entries of removed predicates are dropped lazily. */
    uint32_t order[3][SST_PREDS_MAX];
    uint32_t order_count[3];
    uint32_t free_slots[SST_PREDS_MAX];
    uint32_t free_count;
    bool polling;
    bool order_dirty;

    char check_msg[160];
};

/* ---- schema ---- */

void sst_schema_init(struct sst_schema *schema)
{
    memset(schema, 0, sizeof(*schema));
}

static size_t pad8(size_t n)
{
    return (n + 7u) & ~(size_t)7u;
}

int sst_schema_add(struct sst_schema *schema, const char *name, enum sst_type type, uint32_t count,
                   uint32_t flags, int64_t init, uint32_t *col)
{
    if (name == NULL || name[0] == '\0' || strlen(name) >= SST_NAME_BYTES_MAX || count == 0) {
        return SQ_EINVAL;
    }
    if (type != SST_I64 && type != SST_U64 && type != SST_BYTES) {
        return SQ_EINVAL;
    }
    if ((flags & ~SST_MONOTONE) != 0 || (type == SST_BYTES && (flags & SST_MONOTONE))) {
        return SQ_EINVAL;
    }
    uint32_t found;
    if (sst_schema_find(schema, name, &found) == SQ_OK) {
        return SQ_EINVAL;
    }
    if (schema->col_count == SST_COLS_MAX) {
        return SQ_EFULL;
    }
    size_t raw = type == SST_BYTES ? (size_t)count : (size_t)count * 8u;
    size_t size = pad8(raw);
    if (size > SST_ROW_BYTES_MAX || schema->row_size + size > SST_ROW_BYTES_MAX) {
        return SQ_ETOOBIG;
    }
    struct sst_col *c = &schema->cols[schema->col_count];
    memset(c, 0, sizeof(*c));
    memcpy(c->name, name, strlen(name) + 1);
    c->type = type;
    c->count = count;
    c->flags = flags;
    c->init = init;
    c->offset = schema->row_size;
    c->size = size;
    schema->row_size += size;
    if (col != NULL) {
        *col = schema->col_count;
    }
    schema->col_count++;
    return SQ_OK;
}

int sst_schema_find(const struct sst_schema *schema, const char *name, uint32_t *col)
{
    for (uint32_t i = 0; i < schema->col_count; i++) {
        if (strcmp(schema->cols[i].name, name) == 0) {
            *col = i;
            return SQ_OK;
        }
    }
    return SQ_ENOTFOUND;
}

/* A hash of everything that determines the layout: both ends must agree on it byte for byte. */
static uint64_t layout_hash(const struct sst_schema *s, uint32_t n, const uint32_t *ids,
                            uint64_t view_tag)
{
    uint64_t h = 0x5157a11c0de5eedull ^ view_tag;
    uint64_t st = h;
#define SST_MIX_(v)                                                                                \
    do {                                                                                           \
        st ^= (uint64_t)(v);                                                                       \
        h ^= sq_splitmix64(&st);                                                                   \
    } while (0)
    SST_MIX_(n);
    for (uint32_t i = 0; i < n; i++) {
        SST_MIX_(ids[i]);
    }
    SST_MIX_(s->col_count);
    for (uint32_t i = 0; i < s->col_count; i++) {
        const struct sst_col *c = &s->cols[i];
        for (size_t k = 0; c->name[k] != '\0'; k++) {
            SST_MIX_((uint8_t)c->name[k]);
        }
        SST_MIX_(c->type);
        SST_MIX_(c->count);
        SST_MIX_(c->flags);
        SST_MIX_((uint64_t)c->init);
    }
#undef SST_MIX_
    return h;
}

/* ---- creation ---- */

static uint8_t *row_at(const struct sst *sst, uint32_t rank)
{
    return sst->table + (size_t)rank * sst->schema.row_size;
}

/* Where readers look: the snapshot for a frozen row, the live table otherwise. */
static const uint8_t *row_read(const struct sst *sst, uint32_t rank)
{
    if (sst->frozen_mask & (UINT64_C(1) << rank)) {
        return sst->frozen + (size_t)rank * sst->schema.row_size;
    }
    return row_at(sst, rank);
}

int sst_create(struct sst **out, const struct sst_config *cfg)
{
    SQ_ASSERT(out != NULL && cfg != NULL);
    if (cfg->schema == NULL || cfg->schema->col_count == 0 || cfg->schema->row_size == 0 ||
        cfg->member_count == 0 || cfg->member_count > SQ_MEMBERS_MAX ||
        cfg->my_rank >= cfg->member_count || cfg->member_ids == NULL || cfg->net == NULL ||
        cfg->region >= SQ_NET_REGIONS_MAX) {
        return SQ_EINVAL;
    }
    if (cfg->member_ids[cfg->my_rank] != net_self_id(cfg->net)) {
        return SQ_EINVAL;
    }
    struct sst *sst = calloc(1, sizeof(*sst));
    if (sst == NULL) {
        return SQ_ENOMEM;
    }
    int rc = SQ_ENOMEM;
    sst->schema = *cfg->schema;
    sst->n = cfg->member_count;
    sst->me = cfg->my_rank;
    memcpy(sst->ids, cfg->member_ids, cfg->member_count * sizeof(uint32_t));
    sst->net = cfg->net;
    sst->region = cfg->region;
    sst->failed = cfg->failed;
    sst->failed_arg = cfg->failed_arg;
    sst->tag = layout_hash(&sst->schema, sst->n, sst->ids, cfg->view_tag);
    size_t bytes = (size_t)sst->n * sst->schema.row_size;
    /* 64-byte alignment keeps every 8-byte cell aligned and rows off shared cache lines' edges. */
    sst->table = aligned_alloc(64, pad8(bytes + 63) & ~(size_t)63);
    if (sst->table == NULL) {
        goto err_free_sst;
    }
    sst->frozen = calloc(1, bytes);
    if (sst->frozen == NULL) {
        goto err_free_table;
    }
    sst->check_snap = calloc(1, bytes);
    if (sst->check_snap == NULL) {
        goto err_free_frozen;
    }
    memset(sst->table, 0, bytes);
    for (uint32_t r = 0; r < sst->n; r++) {
        for (uint32_t c = 0; c < sst->schema.col_count; c++) {
            const struct sst_col *col = &sst->schema.cols[c];
            if (col->type == SST_BYTES) {
                continue;
            }
            for (uint32_t i = 0; i < col->count; i++) {
                uint64_t v = (uint64_t)col->init;
                memcpy(row_at(sst, r) + col->offset + (size_t)i * 8u, &v, 8);
            }
        }
    }
    for (uint32_t i = 0; i < SST_PREDS_MAX; i++) {
        sst->free_slots[i] = SST_PREDS_MAX - 1 - i;
    }
    sst->free_count = SST_PREDS_MAX;
    rc = net_region_register(sst->net, sst->region, sst->tag, sst->table, bytes);
    if (rc != SQ_OK) {
        goto err_free_snap;
    }
    /* Nobody has our row yet beyond the shared initial values; nothing is owed. */
    *out = sst;
    return SQ_OK;

err_free_snap:
    free(sst->check_snap);
err_free_frozen:
    free(sst->frozen);
err_free_table:
    free(sst->table);
err_free_sst:
    free(sst);
    return rc;
}

void sst_destroy(struct sst *sst)
{
    if (sst == NULL) {
        return;
    }
    net_region_unregister(sst->net, sst->region);
    free(sst->check_snap);
    free(sst->frozen);
    free(sst->table);
    free(sst);
}

uint32_t sst_member_count(const struct sst *sst)
{
    return sst->n;
}

uint32_t sst_my_rank(const struct sst *sst)
{
    return sst->me;
}

const struct sst_schema *sst_schema(const struct sst *sst)
{
    return &sst->schema;
}

uint64_t sst_region_tag(const struct sst *sst)
{
    return sst->tag;
}

int sst_rank_of(const struct sst *sst, uint32_t id)
{
    for (uint32_t r = 0; r < sst->n; r++) {
        if (sst->ids[r] == id) {
            return (int)r;
        }
    }
    return -1;
}

size_t sst_col_offset(const struct sst *sst, uint32_t col)
{
    SQ_ASSERT(col < sst->schema.col_count);
    return sst->schema.cols[col].offset;
}

/* ---- cells ---- */

static const struct sst_col *scalar_col(const struct sst *sst, uint32_t col, uint32_t index,
                                        enum sst_type type)
{
    SQ_ASSERT(col < sst->schema.col_count);
    const struct sst_col *c = &sst->schema.cols[col];
    SQ_ASSERT(c->type == type);
    SQ_ASSERT(index < c->count);
    return c;
}

static uint64_t cell_load(const uint8_t *row, const struct sst_col *c, uint32_t index)
{
    const uint64_t *p = (const uint64_t *)(const void *)(row + c->offset + (size_t)index * 8u);
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

int64_t sst_get_i64(const struct sst *sst, uint32_t rank, uint32_t col, uint32_t index)
{
    SQ_ASSERT(rank < sst->n);
    const struct sst_col *c = scalar_col(sst, col, index, SST_I64);
    return (int64_t)cell_load(row_read(sst, rank), c, index);
}

uint64_t sst_get_u64(const struct sst *sst, uint32_t rank, uint32_t col, uint32_t index)
{
    SQ_ASSERT(rank < sst->n);
    const struct sst_col *c = scalar_col(sst, col, index, SST_U64);
    return cell_load(row_read(sst, rank), c, index);
}

void sst_get_bytes(const struct sst *sst, uint32_t rank, uint32_t col, size_t offset, void *out,
                   size_t size)
{
    SQ_ASSERT(rank < sst->n);
    SQ_ASSERT(col < sst->schema.col_count);
    const struct sst_col *c = &sst->schema.cols[col];
    SQ_ASSERT(c->type == SST_BYTES);
    SQ_ASSERT(offset <= c->count && size <= c->count - offset);
    memcpy(out, row_read(sst, rank) + c->offset + offset, size);
}

static void cell_store(struct sst *sst, const struct sst_col *c, uint32_t index, uint64_t v)
{
    uint64_t *p = (uint64_t *)(void *)(row_at(sst, sst->me) + c->offset + (size_t)index * 8u);
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void sst_set_i64(struct sst *sst, uint32_t col, uint32_t index, int64_t value)
{
    const struct sst_col *c = scalar_col(sst, col, index, SST_I64);
    if (c->flags & SST_MONOTONE) {
        SQ_ASSERT((int64_t)cell_load(row_at(sst, sst->me), c, index) <= value);
    }
    cell_store(sst, c, index, (uint64_t)value);
}

void sst_set_u64(struct sst *sst, uint32_t col, uint32_t index, uint64_t value)
{
    const struct sst_col *c = scalar_col(sst, col, index, SST_U64);
    if (c->flags & SST_MONOTONE) {
        SQ_ASSERT(cell_load(row_at(sst, sst->me), c, index) <= value);
    }
    cell_store(sst, c, index, value);
}

void sst_set_bytes(struct sst *sst, uint32_t col, size_t offset, const void *data, size_t size)
{
    SQ_ASSERT(col < sst->schema.col_count);
    const struct sst_col *c = &sst->schema.cols[col];
    SQ_ASSERT(c->type == SST_BYTES);
    SQ_ASSERT(offset <= c->count && size <= c->count - offset);
    memcpy(row_at(sst, sst->me) + c->offset + offset, data, size);
}

/* ---- pushing ---- */

static void freeze(struct sst *sst, uint32_t rank)
{
    uint64_t bit = UINT64_C(1) << rank;
    if (sst->frozen_mask & bit) {
        return;
    }
    memcpy(sst->frozen + (size_t)rank * sst->schema.row_size, row_at(sst, rank),
           sst->schema.row_size);
    sst->frozen_mask |= bit;
    sst->catchup_mask &= ~bit;
}

/* One target, one slice, split into transport-sized writes. */
static int write_slice(struct sst *sst, uint32_t t, size_t offset, size_t size, uint32_t flags,
                       uint64_t wr_id)
{
    size_t base = (size_t)sst->me * sst->schema.row_size;
    while (size > 0) {
        size_t n = size < NET_WRITE_BYTES_MAX ? size : NET_WRITE_BYTES_MAX;
        int rc =
            net_region_write(sst->net, sst->ids[t], sst->region, base + offset, n, flags, wr_id);
        if (rc != SQ_OK) {
            return rc;
        }
        offset += n;
        size -= n;
    }
    return SQ_OK;
}

/* Handles a refused write to target t. */
static void refused(struct sst *sst, uint32_t t, int rc)
{
    if (rc == SQ_EAGAIN) {
        sst->catchup_mask |= UINT64_C(1) << t;
        return;
    }
    SQ_WARN("sst", "push refused, freezing row", "rank=%u id=%u err=%s", t, sst->ids[t],
            sq_errname(rc));
    freeze(sst, t);
    if (sst->failed != NULL) {
        sst->failed(sst->failed_arg, sst, t, rc);
    }
}

/* Sends owed whole rows to targets that have become ready. */
static void catch_up(struct sst *sst)
{
    uint64_t owed = sst->catchup_mask;
    for (uint32_t t = 0; t < sst->n && owed != 0; t++) {
        uint64_t bit = UINT64_C(1) << t;
        if (!(owed & bit)) {
            continue;
        }
        owed &= ~bit;
        int rc = write_slice(sst, t, 0, sst->schema.row_size, 0, 0);
        if (rc == SQ_OK) {
            sst->catchup_mask &= ~bit;
            sst->synced_mask |= bit;
        } else if (rc != SQ_EAGAIN) {
            sst->catchup_mask &= ~bit;
            refused(sst, t, rc);
        }
    }
}

static int push(struct sst *sst, size_t offset, size_t size, uint64_t targets, uint32_t flags,
                uint32_t token)
{
    if (offset > sst->schema.row_size || size > sst->schema.row_size - offset || size == 0) {
        return SQ_EINVAL;
    }
    if (sst->catchup_mask != 0) {
        catch_up(sst);
    }
    for (uint32_t t = 0; t < sst->n; t++) {
        uint64_t bit = UINT64_C(1) << t;
        if (t == sst->me || !(targets & bit) || (sst->frozen_mask & bit) ||
            (sst->catchup_mask & bit)) {
            continue; /* a target owed catch-up gets the whole row later, which covers this */
        }
        uint64_t wr_id = ((uint64_t)t << 32) | token;
        int rc = write_slice(sst, t, offset, size, flags, wr_id);
        if (rc == SQ_OK) {
            sst->synced_mask |= bit;
        } else {
            refused(sst, t, rc);
        }
    }
    return SQ_OK;
}

int sst_range_push(struct sst *sst, size_t offset, size_t size, uint64_t targets)
{
    return push(sst, offset, size, targets, 0, 0);
}

int sst_row_push(struct sst *sst, uint64_t targets)
{
    return push(sst, 0, sst->schema.row_size, targets, 0, 0);
}

int sst_col_push(struct sst *sst, uint32_t col, uint64_t targets)
{
    SQ_ASSERT(col < sst->schema.col_count);
    const struct sst_col *c = &sst->schema.cols[col];
    return push(sst, c->offset, c->size, targets, 0, 0);
}

int sst_cell_push(struct sst *sst, uint32_t col, uint32_t index, uint64_t targets)
{
    SQ_ASSERT(col < sst->schema.col_count);
    const struct sst_col *c = &sst->schema.cols[col];
    SQ_ASSERT(c->type != SST_BYTES);
    SQ_ASSERT(index < c->count);
    return push(sst, c->offset + (size_t)index * 8u, 8, targets, 0, 0);
}

int sst_col_push_signaled(struct sst *sst, uint32_t col, uint64_t targets, uint32_t token)
{
    SQ_ASSERT(col < sst->schema.col_count);
    const struct sst_col *c = &sst->schema.cols[col];
    return push(sst, c->offset, c->size, targets, NET_OP_SIGNALED, token);
}

bool sst_targets_ready(struct sst *sst, uint64_t targets)
{
    uint64_t want = targets & sst_live_mask(sst) & ~(UINT64_C(1) << sst->me);
    /* A target never written yet is probed with the whole row (its values equal the initial
     * ones everywhere until pushed, so this is harmless): it is ready once it accepts it. */
    sst->catchup_mask |= want & ~sst->synced_mask;
    if (sst->catchup_mask != 0) {
        catch_up(sst);
    }
    return (want & sst->synced_mask) == want && (want & sst->catchup_mask) == 0;
}

/* ---- freezing ---- */

void sst_row_freeze(struct sst *sst, uint32_t rank)
{
    SQ_ASSERT(rank < sst->n);
    SQ_ASSERT(rank != sst->me);
    freeze(sst, rank);
}

bool sst_row_is_frozen(const struct sst *sst, uint32_t rank)
{
    SQ_ASSERT(rank < sst->n);
    return (sst->frozen_mask & (UINT64_C(1) << rank)) != 0;
}

uint64_t sst_live_mask(const struct sst *sst)
{
    uint64_t all = sst->n == 64 ? UINT64_MAX : (UINT64_C(1) << sst->n) - 1;
    return all & ~sst->frozen_mask;
}

/* ---- monotone helpers ---- */

bool sst_min_i64(const struct sst *sst, uint32_t col, uint32_t index, uint64_t rows, int64_t *out)
{
    const struct sst_col *c = scalar_col(sst, col, index, SST_I64);
    uint64_t live = rows & sst_live_mask(sst);
    bool any = false;
    int64_t min = 0;
    for (uint32_t r = 0; r < sst->n; r++) {
        if (!(live & (UINT64_C(1) << r))) {
            continue;
        }
        int64_t v = (int64_t)cell_load(row_at(sst, r), c, index); /* read once */
        if (!any || v < min) {
            min = v;
            any = true;
        }
    }
    if (any) {
        *out = min;
    }
    return any;
}

bool sst_min_u64(const struct sst *sst, uint32_t col, uint32_t index, uint64_t rows, uint64_t *out)
{
    const struct sst_col *c = scalar_col(sst, col, index, SST_U64);
    uint64_t live = rows & sst_live_mask(sst);
    bool any = false;
    uint64_t min = 0;
    for (uint32_t r = 0; r < sst->n; r++) {
        if (!(live & (UINT64_C(1) << r))) {
            continue;
        }
        uint64_t v = cell_load(row_at(sst, r), c, index);
        if (!any || v < min) {
            min = v;
            any = true;
        }
    }
    if (any) {
        *out = min;
    }
    return any;
}

/* ---- predicates ---- */

static void compact(struct sst *sst);

static bool pred_active(const struct pred *p)
{
    return (p->gen & 1u) != 0;
}

int sst_pred_add(struct sst *sst, enum sst_pred_kind kind, sst_pred_fn pred, sst_trig_fn trig,
                 void *arg, struct sst_pred_handle *handle)
{
    SQ_ASSERT(pred != NULL && trig != NULL);
    SQ_ASSERT(kind == SST_PRED_ONE_TIME || kind == SST_PRED_RECURRENT ||
              kind == SST_PRED_TRANSITION);
    if (!sst->polling) {
        compact(sst); /* recycle slots of predicates removed outside a poll */
    }
    if (sst->free_count == 0 || sst->order_count[kind] == SST_PREDS_MAX) {
        return SQ_EFULL;
    }
    uint32_t slot = sst->free_slots[--sst->free_count];
    struct pred *p = &sst->preds[slot];
    SQ_ASSERT(!pred_active(p));
    p->gen++;
    p->kind = (uint8_t)kind;
    p->last = false;
    p->pred = pred;
    p->trig = trig;
    p->arg = arg;
    sst->order[kind][sst->order_count[kind]++] = slot;
    if (handle != NULL) {
        handle->slot = slot;
        handle->gen = p->gen;
    }
    return SQ_OK;
}

static void pred_release(struct sst *sst, uint32_t slot)
{
    struct pred *p = &sst->preds[slot];
    SQ_ASSERT(pred_active(p));
    p->gen++;
    p->pred = NULL;
    p->trig = NULL;
    p->arg = NULL;
    sst->order_dirty = true;
    /* The slot is recycled only after the order lists drop it (compact), so a stale entry in a
     * list being walked can never point at a newer predicate. */
}

void sst_pred_remove(struct sst *sst, struct sst_pred_handle handle)
{
    if (handle.slot >= SST_PREDS_MAX || sst->preds[handle.slot].gen != handle.gen ||
        !pred_active(&sst->preds[handle.slot])) {
        return;
    }
    pred_release(sst, handle.slot);
}

bool sst_pred_is_active(const struct sst *sst, struct sst_pred_handle handle)
{
    return handle.slot < SST_PREDS_MAX && sst->preds[handle.slot].gen == handle.gen &&
           pred_active(&sst->preds[handle.slot]);
}

/* Drops removed predicates from the order lists and frees their slots. Outside a poll only. */
static void compact(struct sst *sst)
{
    if (!sst->order_dirty) {
        return;
    }
    for (int k = 0; k < 3; k++) {
        uint32_t w = 0;
        for (uint32_t i = 0; i < sst->order_count[k]; i++) {
            uint32_t slot = sst->order[k][i];
            if (pred_active(&sst->preds[slot])) {
                sst->order[k][w++] = slot;
            } else {
                SQ_ASSERT(sst->free_count < SST_PREDS_MAX);
                sst->free_slots[sst->free_count++] = slot;
            }
        }
        sst->order_count[k] = w;
    }
    sst->order_dirty = false;
}

int sst_poll(struct sst *sst)
{
    SQ_ASSERT(!sst->polling);
    compact(sst);
    bool caught_up = sst->catchup_mask != 0;
    if (caught_up) {
        catch_up(sst);
    }
    sst->polling = true;
    int fired = 0;
    /* Predicates added by triggers of this pass land past these counts and wait for the next. */
    uint32_t counts[3] = {sst->order_count[0], sst->order_count[1], sst->order_count[2]};
    for (int k = 0; k < 3; k++) {
        uint32_t count = counts[k];
        for (uint32_t i = 0; i < count; i++) {
            uint32_t slot = sst->order[k][i];
            struct pred *p = &sst->preds[slot];
            if (!pred_active(p)) {
                continue;
            }
            uint32_t gen = p->gen;
            bool cur = p->pred(sst, p->arg);
            if (p->gen != gen) {
                continue; /* the predicate function removed it */
            }
            bool fire = cur;
            if (k == SST_PRED_TRANSITION) {
                fire = cur && !p->last;
                p->last = cur;
            }
            if (!fire) {
                continue;
            }
            sst_trig_fn trig = p->trig;
            void *arg = p->arg;
            if (k == SST_PRED_ONE_TIME) {
                pred_release(sst, slot);
            }
            trig(sst, arg);
            fired++;
        }
    }
    sst->polling = false;
    compact(sst);
    /* Everything the triggers of this pass pushed leaves together, now (PROTOCOL.md §1.3: batch
     * per predicate pass). */
    if (fired > 0 || caught_up) {
        net_flush(sst->net);
    }
    return fired;
}

/* ---- invariants ---- */

const char *sst_check_msg(const struct sst *sst)
{
    return sst->check_msg;
}

int sst_check(struct sst *sst)
{
    int rc = SQ_OK;
    /* The current view of every row: live rows from the table, frozen ones from the snapshot.
     * Only monotone columns are compared, so only they are snapshotted (the simulator calls this
     * after every step: copying whole rows, slots included, dominated its run time). */
    for (uint32_t r = 0; r < sst->n && sst->check_primed && rc == SQ_OK; r++) {
        const uint8_t *now = row_read(sst, r);
        const uint8_t *before = sst->check_snap + (size_t)r * sst->schema.row_size;
        for (uint32_t c = 0; c < sst->schema.col_count && rc == SQ_OK; c++) {
            const struct sst_col *col = &sst->schema.cols[c];
            if (!(col->flags & SST_MONOTONE)) {
                continue;
            }
            for (uint32_t i = 0; i < col->count; i++) {
                uint64_t a;
                memcpy(&a, before + col->offset + (size_t)i * 8u, 8);
                uint64_t b = cell_load(now, col, i);
                bool dec = col->type == SST_I64 ? (int64_t)b < (int64_t)a : b < a;
                if (dec) {
                    snprintf(sst->check_msg, sizeof(sst->check_msg),
                             "monotone column %s[%u] of rank %u decreased: %lld -> %lld", col->name,
                             i, r, (long long)a, (long long)b);
                    rc = SQ_ECORRUPT;
                    break;
                }
            }
        }
    }
    if (rc != SQ_OK) {
        return rc;
    }
    for (uint32_t r = 0; r < sst->n; r++) {
        const uint8_t *now = row_read(sst, r);
        uint8_t *snap = sst->check_snap + (size_t)r * sst->schema.row_size;
        for (uint32_t c = 0; c < sst->schema.col_count; c++) {
            const struct sst_col *col = &sst->schema.cols[c];
            if (col->flags & SST_MONOTONE) {
                for (uint32_t i = 0; i < col->count; i++) {
                    uint64_t v = cell_load(now, col, i); /* one atomic load per cell */
                    memcpy(snap + col->offset + (size_t)i * 8u, &v, 8);
                }
            }
        }
    }
    sst->check_primed = true;
    return SQ_OK;
}
