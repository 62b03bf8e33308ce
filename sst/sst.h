/* sst/: the shared state table (PROTOCOL.md §1).
 *
 * One row per member of a view, in rank order; row r is written only by member r (single-writer
 * rule, §1.1) into its own copy and pushed to the others with one-sided writes through a
 * `struct net` (net/net.h), so the same code runs on TCP, RDMA verbs and the simulated network.
 *
 * Layout. A schema lists columns: a name, a type, an element count, flags and an initial value.
 * Scalars (SST_I64, SST_U64) take 8 bytes per element, byte columns (SST_BYTES) `count` bytes;
 * every column starts on an 8-byte boundary and is padded to a multiple of 8 (§1.1), so the layout
 * is identical on every node that builds the table from the same schema and member count. Every
 * scalar is an aligned 8-byte cell, read with an acquire load and written with a release store:
 * the transport never tears it (net.h guarantee 2). Byte columns can be seen half-written while a
 * push is in flight: publish them by pushing a counter after them (§1.2, pitfall 1).
 *
 * Pushes. sst_*_push() send a slice of the own row to a set of rows (a bitmask of ranks, e.g.
 * SST_ALL or a shard) with one write per target, in call order, skipping self and frozen rows.
 * Pushes to one target are applied in the order made (net.h guarantee 1), so dependent fields go
 * in separate pushes, data before the counter that publishes it. A target whose transport is not
 * ready yet (SQ_EAGAIN: not connected, or its table not registered) is marked for catch-up and
 * receives the whole row (one write) as soon as it is ready, before any later push: it then holds
 * the latest values, which monotone readers accept (§1.4). A target whose transport refuses with
 * back-pressure or failure (SQ_EFULL, SQ_EPEER) is frozen and reported through `failed` (a member
 * that cannot keep up is treated as failed, as Derecho's completion timeout does, §1.5).
 *
 * Predicates (§1.3). sst_poll() evaluates, in insertion order, the one-time predicates, then the
 * recurrent ones, then the transition ones, and runs the trigger of each that fires:
 *  - ONE_TIME fires the first time its predicate holds, then is removed;
 *  - RECURRENT fires on every poll on which its predicate holds;
 *  - TRANSITION fires when its predicate holds and did not hold at its previous evaluation (the
 *    value before the first evaluation counts as false).
 * Triggers may add and remove predicates, themselves included. A removed predicate is never
 * evaluated again, even later in the same poll; a predicate added during a poll is first evaluated
 * by the next poll.
 *
 * Monotone reasoning (§1.4). Columns flagged SST_MONOTONE never decrease within a view (the setter
 * asserts it for the own row; sst_check() verifies every row). sst_min_*() read each cell once and
 * return the min over the live rows of a set, a lower bound on the true min.
 *
 * Threads and I/O: none. The table belongs to the thread that drives it (the node's loop, or the
 * simulator): it does no I/O of its own (only the transport's function table), reads no clock,
 * takes no lock. The caller forwards transport events (sst_row_freeze on peer failure) and calls
 * sst_poll() after each loop round. */
#ifndef SQ_SST_SST_H
#define SQ_SST_SST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"
#include "net/net.h"

#define SST_COLS_MAX 64
#define SST_NAME_BYTES_MAX 32                 /* column name, NUL included */
#define SST_ROW_BYTES_MAX (16u * 1024 * 1024) /* one row */
#define SST_PREDS_MAX 1024                    /* predicates registered at once */
#define SST_ALL UINT64_MAX                    /* push target set: every row */
static_assert(SQ_MEMBERS_MAX <= 64, "target sets are 64-bit masks of ranks");

enum sst_type {
    SST_I64 = 1,   /* signed 64-bit scalar per element */
    SST_U64 = 2,   /* unsigned 64-bit scalar per element (also booleans: 0/1) */
    SST_BYTES = 3, /* `count` opaque bytes */
};

#define SST_MONOTONE 0x1u /* scalar column: never decreases within a view */

struct sst_col {
    char name[SST_NAME_BYTES_MAX];
    enum sst_type type;
    uint32_t count; /* elements (scalars) or bytes (SST_BYTES) */
    uint32_t flags;
    int64_t init;  /* initial value of every scalar element (as u64 bits for SST_U64) */
    size_t offset; /* from the row start, multiple of 8 */
    size_t size;   /* padded to a multiple of 8 */
};

/* A schema: plain data, built before the table. */
struct sst_schema {
    struct sst_col cols[SST_COLS_MAX];
    uint32_t col_count;
    size_t row_size;
};

/* Starts an empty schema. */
void sst_schema_init(struct sst_schema *schema);

/* Appends a column and writes its index to *col (may be NULL). SQ_EINVAL for an empty or
 * too-long name, a zero count, an unknown type, SST_MONOTONE on bytes, or a duplicate name;
 * SQ_EFULL past SST_COLS_MAX; SQ_ETOOBIG when the row would pass SST_ROW_BYTES_MAX. The schema is
 * unchanged on error. */
int sst_schema_add(struct sst_schema *schema, const char *name, enum sst_type type, uint32_t count,
                   uint32_t flags, int64_t init, uint32_t *col);

/* The index of the column called `name`, or SQ_ENOTFOUND. */
int sst_schema_find(const struct sst_schema *schema, const char *name, uint32_t *col);

struct sst;

/* Called when the table freezes a row on its own (a push refused with back-pressure or failure).
 * Not called for sst_row_freeze() by the caller. */
typedef void (*sst_failed_fn)(void *arg, struct sst *sst, uint32_t rank, int reason);

struct sst_config {
    const struct sst_schema *schema; /* copied */
    uint32_t member_count;           /* rows, 1..SQ_MEMBERS_MAX */
    uint32_t my_rank;                /* < member_count */
    const uint32_t *member_ids;      /* validator id of each rank; copied */
    struct net *net;                 /* borrowed for the table's life */
    uint32_t region;                 /* transport region id the table occupies */
    uint64_t view_tag;    /* e.g. the view id; mixed with the schema into the region tag */
    sst_failed_fn failed; /* may be NULL */
    void *failed_arg;
};

/* Builds the table for one view: N * row_size bytes, zeroed, every scalar element set to its
 * column's init, registered with the transport as `region` under a tag derived from view_tag, the
 * schema and the member list (so tables of different views or layouts never accept each other's
 * writes). SQ_EINVAL for a bad config, SQ_ENOMEM, or the transport's registration error. */
int sst_create(struct sst **out, const struct sst_config *cfg);

/* Unregisters the region and frees the table. NULL is a no-op. */
void sst_destroy(struct sst *sst);

uint32_t sst_member_count(const struct sst *sst);
uint32_t sst_my_rank(const struct sst *sst);
const struct sst_schema *sst_schema(const struct sst *sst);
/* The transport tag the table's region is registered under (a hash of view_tag, schema and
 * members): equal on every member of the view. For diagnostics and tests. */
uint64_t sst_region_tag(const struct sst *sst);
/* The rank of validator `id`, or -1 if it is not a member. */
int sst_rank_of(const struct sst *sst, uint32_t id);

/* ---- reading (any row; frozen rows read their values at the freeze) ---- */

/* The element `index` of scalar column `col` of row `rank`, read once with an acquire load.
 * Asserts the column is a scalar of that type and the indices are in range. */
int64_t sst_get_i64(const struct sst *sst, uint32_t rank, uint32_t col, uint32_t index);
uint64_t sst_get_u64(const struct sst *sst, uint32_t rank, uint32_t col, uint32_t index);

/* Copies `size` bytes from byte offset `offset` of column `col` of row `rank` into out. Asserts
 * the range. No atomicity: see the header comment. */
void sst_get_bytes(const struct sst *sst, uint32_t rank, uint32_t col, size_t offset, void *out,
                   size_t size);

/* ---- writing the own row (local only; push to publish) ---- */

/* Sets an element of the own row with a release store. For a SST_MONOTONE column asserts the value
 * does not decrease. */
void sst_set_i64(struct sst *sst, uint32_t col, uint32_t index, int64_t value);
void sst_set_u64(struct sst *sst, uint32_t col, uint32_t index, uint64_t value);

/* Copies `size` bytes into column `col` of the own row at byte `offset`. */
void sst_set_bytes(struct sst *sst, uint32_t col, size_t offset, const void *data, size_t size);

/* ---- pushing ---- */

/* Pushes own-row bytes [offset, offset + size) (offsets from the row start) to every rank in
 * `targets` (bit r = rank r; SST_ALL for all) except self and frozen rows, one write per target
 * (split in NET_WRITE_BYTES_MAX pieces if larger), in ascending rank order. Returns SQ_OK;
 * targets that refused are handled as the header comment says (catch-up or freeze). SQ_EINVAL for
 * a range outside the row. */
int sst_range_push(struct sst *sst, size_t offset, size_t size, uint64_t targets);
/* The whole own row. */
int sst_row_push(struct sst *sst, uint64_t targets);
/* One whole column. */
int sst_col_push(struct sst *sst, uint32_t col, uint64_t targets);
/* One element of a scalar column. */
int sst_cell_push(struct sst *sst, uint32_t col, uint32_t index, uint64_t targets);
/* Like sst_col_push but each write is signaled: the transport reports each completion to its
 * handler with wr_id (rank << 32 | `token`), for failure probes (put_with_completion, §1.2). */
int sst_col_push_signaled(struct sst *sst, uint32_t col, uint64_t targets, uint32_t token);

/* Byte offset of column `col` in a row (for sst_range_push over adjacent columns). */
size_t sst_col_offset(const struct sst *sst, uint32_t col);

/* True when every non-frozen target in `targets` has accepted a write of this table (it is
 * connected and has announced the region with the same tag) and no catch-up is owed to it. A
 * target never written so far is probed with a whole-row write (harmless: until pushed, rows hold
 * the initial values everywhere). Callers that want strict publish-after-data order from the very
 * first push wait for this before pushing. */
bool sst_targets_ready(struct sst *sst, uint64_t targets);

/* ---- freezing (§1.5) ---- */

/* Freezes row `rank` (a failed member): its values stay as they are now, no later write from the
 * transport changes what readers see, and pushes skip it. Idempotent. Asserts rank != my_rank. */
void sst_row_freeze(struct sst *sst, uint32_t rank);
bool sst_row_is_frozen(const struct sst *sst, uint32_t rank);
/* The set of live (non-frozen) ranks, as a mask. */
uint64_t sst_live_mask(const struct sst *sst);

/* ---- monotone helpers (§1.4) ---- */

/* Min of element `index` of scalar column `col` over the live rows in `rows` (mask), reading each
 * cell once. False (and *out untouched) when no row in the set is live. */
bool sst_min_i64(const struct sst *sst, uint32_t col, uint32_t index, uint64_t rows, int64_t *out);
bool sst_min_u64(const struct sst *sst, uint32_t col, uint32_t index, uint64_t rows, uint64_t *out);

/* ---- predicates (§1.3) ---- */

enum sst_pred_kind {
    SST_PRED_ONE_TIME = 0,
    SST_PRED_RECURRENT,
    SST_PRED_TRANSITION,
};

typedef bool (*sst_pred_fn)(struct sst *sst, void *arg);
typedef void (*sst_trig_fn)(struct sst *sst, void *arg);

/* Names a registered predicate; stale handles (removed, fired one-time) are recognised. */
struct sst_pred_handle {
    uint32_t slot;
    uint32_t gen;
};

/* Registers a predicate (`arg` borrowed until it is removed). SQ_EFULL past SST_PREDS_MAX. May be
 * called from a trigger. */
int sst_pred_add(struct sst *sst, enum sst_pred_kind kind, sst_pred_fn pred, sst_trig_fn trig,
                 void *arg, struct sst_pred_handle *handle);

/* Removes a predicate; a no-op for a stale handle. May be called from a trigger, for itself too. */
void sst_pred_remove(struct sst *sst, struct sst_pred_handle handle);

/* True while the predicate is registered. */
bool sst_pred_is_active(const struct sst *sst, struct sst_pred_handle handle);

/* One pass: first retries catch-up pushes to targets that became ready, then evaluates the
 * predicates as described above, then flushes the transport (net_flush) so the pass's pushes leave
 * together. Returns the number of triggers run. Not reentrant (asserted: do
 * not call it from a trigger). */
int sst_poll(struct sst *sst);

/* ---- invariants ---- */

/* Checks that no element of a SST_MONOTONE column of any row decreased since the previous
 * sst_check() (the first call only records). SQ_OK, or SQ_ECORRUPT with a description in
 * sst_check_msg(). The simulator calls it after every step. */
int sst_check(struct sst *sst);
const char *sst_check_msg(const struct sst *sst);

#endif
