/* Every bound in Squall, defined once (TigerStyle). Modules tie their own constants to these with
 * static_assert. Configuration may lower a limit, never raise it. */
#ifndef SQ_BASE_LIMITS_H
#define SQ_BASE_LIMITS_H

#include <assert.h>

/* ---- group ---- */
#define SQ_MEMBERS_MAX 64          /* members of one view (rows of the SST) */
#define SQ_SUBGROUPS_MAX 8         /* subgroups in one view */
#define SQ_SHARDS_MAX 16           /* shards in one subgroup */
#define SQ_CHANGES_MAX (SQ_MEMBERS_MAX + 100) /* pending membership proposals (PROTOCOL.md §1.1) */

/* ---- messages ---- */
#define SQ_SMC_PAYLOAD_MAX 10240   /* largest payload sent through SST slots (PROTOCOL.md §2) */
#define SQ_SMC_WINDOW_MAX 1024     /* slots per sender ring */
#define SQ_MSG_BYTES_MAX (128u * 1024 * 1024) /* largest multicast message (RDMC) */
#define SQ_RDMC_BLOCK_BYTES_MAX (1024u * 1024) /* largest RDMC block */
#define SQ_RDMC_BLOCKS_MAX 65535   /* PROTOCOL.md pitfall 10: cap k */

/* ---- transport ---- */
#define SQ_NET_FRAME_BYTES_MAX (SQ_RDMC_BLOCK_BYTES_MAX + 4096) /* one TCP frame, header included */
#define SQ_NET_SENDQ_BYTES_MAX (64u * 1024 * 1024) /* queued bytes per connection before back-pressure */
#define SQ_NET_REGIONS_MAX 16      /* registered memory regions per transport */

/* ---- ledger ---- */
#define SQ_CHAIN_ID_BYTES_MAX 64
#define SQ_TX_BYTES_MAX 8192       /* one encoded transaction */
#define SQ_BATCH_BYTES_MAX (8u * 1024 * 1024) /* one encoded batch */
#define SQ_BATCH_TXS_MAX 65536
#define SQ_GOV_KEYS_MAX 16         /* governance keys (k of n) */
#define SQ_ISSUERS_MAX 16

/* ---- crypto ---- */
#define SQ_MERKLE_DEPTH_MAX 64     /* proof length bound: trees of up to 2^64 leaves */
#define SQ_VERIFY_THREADS_MAX 64
#define SQ_VERIFY_QUEUE_MAX 65536  /* pending jobs in the verification pool */
#define SQ_KEYFILE_BYTES_MAX 4096

/* ---- event loop ---- */
#define SQ_LOOP_TIMERS_MAX 8192    /* armed timers per loop */
#define SQ_LOOP_FDS_MAX 65536      /* highest file descriptor a loop can watch, exclusive */
#define SQ_LOOP_POSTS_MAX 8192     /* cross-thread calls queued to a loop */
#define SQ_LOOP_EVENTS_PER_WAIT 256

static_assert(SQ_SMC_PAYLOAD_MAX < SQ_RDMC_BLOCK_BYTES_MAX, "SMC messages must fit one block");
static_assert((unsigned long long)SQ_RDMC_BLOCK_BYTES_MAX * SQ_RDMC_BLOCKS_MAX >= SQ_MSG_BYTES_MAX,
              "the largest message must fit in the block cap");
static_assert(SQ_BATCH_BYTES_MAX <= SQ_MSG_BYTES_MAX, "a batch must fit one multicast message");
static_assert(SQ_TX_BYTES_MAX <= SQ_BATCH_BYTES_MAX, "a transaction must fit one batch");
static_assert(SQ_CHANGES_MAX > SQ_MEMBERS_MAX, "every member can be proposed once");

#endif
