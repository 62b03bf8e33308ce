/* crypto/: hashing, signatures, Merkle trees, key files, hex (prefix sqc_; libsodium owns crypto_).
 *
 * SHA-256 comes from OpenSSL libcrypto (EVP), Ed25519 and Argon2id/XChaCha20-Poly1305 from
 * libsodium. Callers never include either library's headers.
 *
 * Call sqc_init() once at start-up, before any other function here and before starting threads.
 * After that every function is safe to call from any thread unless it says otherwise. */
#ifndef SQ_CRYPTO_CRYPTO_H
#define SQ_CRYPTO_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/limits.h"

#define SQC_HASH_BYTES 32
#define SQC_PK_BYTES 32
#define SQC_SEED_BYTES 32
#define SQC_SK_BYTES 64 /* libsodium form: seed || public key */
#define SQC_SIG_BYTES 64

/* Initialises libsodium and fetches OpenSSL's SHA-256 implementation (kept until exit). Idempotent
 * and thread-safe. SQ_ECRYPTO if either library fails to initialise. */
int sqc_init(void);

/* ------------------------------------------------------------------------------------------ */
/* SHA-256                                                                                      */

/* out = SHA-256(data[0..size)). Allocation-free after a thread's first call: each thread keeps one
 * reusable OpenSSL context, freed when the thread exits. (Failing to allocate that small context
 * on the first call is fatal: the one-shot functions have no error to return.) */
void sqc_sha256(uint8_t out[SQC_HASH_BYTES], const void *data, size_t size);

/* A piece of a message hashed in parts. */
struct sqc_iov {
    const void *data;
    size_t size;
};

/* out = SHA-256(parts[0] || parts[1] || ... || parts[count-1]). */
void sqc_sha256_parts(uint8_t out[SQC_HASH_BYTES], const struct sqc_iov *parts, size_t count);

/* Incremental SHA-256. init allocates OpenSSL state; final writes the digest and frees it; free
 * releases it without a digest (for error paths; safe after final and on a zeroed struct). One
 * struct is used by one thread at a time. */
struct evp_md_ctx_st;
struct sqc_sha256 {
    struct evp_md_ctx_st *ctx;
};
int sqc_sha256_init(struct sqc_sha256 *h); /* SQ_ENOMEM or SQ_ECRYPTO on failure */
void sqc_sha256_update(struct sqc_sha256 *h, const void *data, size_t size);
void sqc_sha256_final(struct sqc_sha256 *h, uint8_t out[SQC_HASH_BYTES]);
void sqc_sha256_free(struct sqc_sha256 *h);

/* ------------------------------------------------------------------------------------------ */
/* Ed25519 with domain separation                                                                */

/* Every signature in Squall is made over
 *     tag || 0x00 || SHA-256(message)
 * where tag is the ASCII domain tag below, without a terminator (docs/formats.md, "Signatures and
 * domain tags"). A signature made for one domain therefore never verifies in another. Passing a
 * value outside the enum is a bug (asserted). */
enum sqc_domain {
    SQC_DOMAIN_TX = 0,     /* "squall/tx/v1": a client's transaction */
    SQC_DOMAIN_BATCH,      /* "squall/batch/v1": a validator's proposed batch */
    SQC_DOMAIN_FINALITY,   /* "squall/finality/v1": a validator's finality signature */
    SQC_DOMAIN_HANDSHAKE,  /* "squall/handshake/v1": peer authentication at connect */
    SQC_DOMAIN_GOVERNANCE, /* "squall/gov/v1": a governance key's approval of a permission change */
    SQC_DOMAIN_LOG,        /* "squall/log/v1": a signed persistence-log digest (PROTOCOL.md §6) */
    SQC_DOMAIN_TEST,       /* "squall/test/v1": tests and benchmarks only */
    SQC_DOMAIN_COUNT_
};

/* The domain's tag string (static). */
const char *sqc_domain_tag(enum sqc_domain domain);

/* A key pair. `sk` lives in sodium_malloc memory (guarded, locked, wiped on free). */
struct sqc_keypair {
    uint8_t pk[SQC_PK_BYTES];
    uint8_t *sk; /* SQC_SK_BYTES, owned */
};

/* Generates a fresh key pair from the system CSPRNG. SQ_ENOMEM if secure memory is exhausted. */
int sqc_keypair_generate(struct sqc_keypair *kp);
/* Derives the key pair of a 32-byte seed (deterministic; tests and key files). */
int sqc_keypair_from_seed(struct sqc_keypair *kp, const uint8_t seed[SQC_SEED_BYTES]);
/* Copies the 32-byte seed out of `kp` (into caller memory the caller must wipe). */
void sqc_keypair_seed(const struct sqc_keypair *kp, uint8_t seed[SQC_SEED_BYTES]);
/* Wipes and frees the secret key and zeroes pk; safe on a zeroed struct and twice. */
void sqc_keypair_free(struct sqc_keypair *kp);

/* Signs `msg` for `domain`. */
void sqc_sign(const struct sqc_keypair *kp, enum sqc_domain domain, const void *msg, size_t size,
              uint8_t sig[SQC_SIG_BYTES]);
/* Signs a message whose SHA-256 the caller already has (digest = SHA-256(message)). Same
 * signature as sqc_sign over the message. */
void sqc_sign_digest(const struct sqc_keypair *kp, enum sqc_domain domain,
                     const uint8_t digest[SQC_HASH_BYTES], uint8_t sig[SQC_SIG_BYTES]);
/* SQ_OK if `sig` is `pk`'s signature of `msg` in `domain`, else SQ_EBADSIG (also for a
 * malformed public key or signature). */
int sqc_verify(const uint8_t pk[SQC_PK_BYTES], enum sqc_domain domain, const void *msg,
               size_t size, const uint8_t sig[SQC_SIG_BYTES]);
int sqc_verify_digest(const uint8_t pk[SQC_PK_BYTES], enum sqc_domain domain,
                      const uint8_t digest[SQC_HASH_BYTES], const uint8_t sig[SQC_SIG_BYTES]);

/* Raw Ed25519 (RFC 8032) without domain separation: for known-answer tests only. */
void sqc_ed25519_sign_raw(const struct sqc_keypair *kp, const void *msg, size_t size,
                          uint8_t sig[SQC_SIG_BYTES]);
int sqc_ed25519_verify_raw(const uint8_t pk[SQC_PK_BYTES], const void *msg, size_t size,
                           const uint8_t sig[SQC_SIG_BYTES]);

/* ------------------------------------------------------------------------------------------ */
/* Verification pool: spreads signature checks over worker threads                              */

struct sqc_verify_pool;

/* One check. The pool fills `result` (SQ_OK or SQ_EBADSIG); nothing else is written. */
struct sqc_verify_job {
    uint8_t pk[SQC_PK_BYTES];
    uint8_t digest[SQC_HASH_BYTES]; /* SHA-256 of the signed message */
    uint8_t sig[SQC_SIG_BYTES];
    enum sqc_domain domain;
    int result;
};

/* Called on a worker thread when an asynchronous job is done; the job is the caller's again. It
 * runs without any pool lock held and may submit more jobs, but must not destroy the pool. */
typedef void (*sqc_verify_done_fn)(struct sqc_verify_job *job, void *arg);

/* Starts `threads` workers (0: one per online core, at most SQ_VERIFY_THREADS_MAX). Workers block
 * all signals. The submit queue (SQ_VERIFY_QUEUE_MAX entries) is allocated here, once.
 * SQ_EINVAL for more than SQ_VERIFY_THREADS_MAX threads, SQ_ENOMEM or SQ_EAGAIN when memory or
 * threads run out (nothing is left behind). */
int sqc_verify_pool_create(struct sqc_verify_pool **out, unsigned threads);
/* Stops the workers after the jobs already queued are done (their callbacks have all run when it
 * returns), and frees the pool. NULL is a no-op. Not from a done callback, and not while a
 * sqc_verify_pool_run is in progress. */
void sqc_verify_pool_destroy(struct sqc_verify_pool *pool);
unsigned sqc_verify_pool_threads(const struct sqc_verify_pool *pool);

/* Verifies jobs[0..count) using the workers and the calling thread; returns when all are done.
 * Returns the number of jobs that failed (0: all good). The jobs are borrowed for the call.
 * Participants claim chunks of jobs, so the lock is not taken per job. Several threads may run
 * batches at once; workers serve batches before queued asynchronous jobs. */
size_t sqc_verify_pool_run(struct sqc_verify_pool *pool, struct sqc_verify_job *jobs,
                           size_t count);

/* Queues one job; `done(job, arg)` runs on a worker when it is verified. The job is borrowed until
 * then. SQ_EFULL when SQ_VERIFY_QUEUE_MAX jobs are pending (back-pressure: try later; the job is
 * untouched); SQ_ECLOSED once destroy has begun. */
int sqc_verify_pool_submit(struct sqc_verify_pool *pool, struct sqc_verify_job *job,
                           sqc_verify_done_fn done, void *arg);

/* ------------------------------------------------------------------------------------------ */
/* RFC 6962 / RFC 9162 Merkle trees                                                              */

/* Leaf hash: SHA-256(0x00 || data). Interior node: SHA-256(0x01 || left || right). The root of the
 * empty tree is SHA-256(""). */
void sqc_merkle_leaf_hash(uint8_t out[SQC_HASH_BYTES], const void *data, size_t size);
void sqc_merkle_node_hash(uint8_t out[SQC_HASH_BYTES], const uint8_t left[SQC_HASH_BYTES],
                          const uint8_t right[SQC_HASH_BYTES]);

/* Where proof builders get leaf hashes: writes the hash of leaf `index` (< tree size) into out.
 * Returns SQ_OK or an error that aborts the proof (passed through). */
typedef int (*sqc_merkle_leaf_fn)(void *arg, uint64_t index, uint8_t out[SQC_HASH_BYTES]);

/* An adapter for leaf hashes held in an array: pass the array as `arg`. */
int sqc_merkle_leaf_from_array(void *arg, uint64_t index, uint8_t out[SQC_HASH_BYTES]);

/* Root of the first `size` leaves. */
int sqc_merkle_root(uint8_t out[SQC_HASH_BYTES], uint64_t size, sqc_merkle_leaf_fn leaf,
                    void *arg);

/* Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1). path must hold
 * SQ_MERKLE_DEPTH_MAX hashes; *path_count receives how many were written. SQ_EINVAL if
 * index >= size. */
int sqc_merkle_inclusion_proof(uint64_t index, uint64_t size, sqc_merkle_leaf_fn leaf, void *arg,
                               uint8_t (*path)[SQC_HASH_BYTES], size_t *path_count);

/* SQ_OK if `path` proves `leaf_hash` is leaf `index` of the tree of `size` leaves with `root`
 * (RFC 9162 §2.1.3.2); SQ_EPROOF otherwise: a path of the wrong length or longer than
 * SQ_MERKLE_DEPTH_MAX, size 0, index >= size. Any input is safe. The hashes do not encode the
 * size, so `size` and `root` must come together from a trusted source (a signed tree head). */
int sqc_merkle_inclusion_verify(const uint8_t leaf_hash[SQC_HASH_BYTES], uint64_t index,
                                uint64_t size, const uint8_t (*path)[SQC_HASH_BYTES],
                                size_t path_count, const uint8_t root[SQC_HASH_BYTES]);

/* Consistency proof from the tree of `old_size` leaves to the tree of `new_size` leaves,
 * 0 < old_size <= new_size <= 2^63 (RFC 9162 §2.1.4.1; empty when the sizes are equal). path must
 * hold SQ_MERKLE_DEPTH_MAX hashes, which suffices up to 2^63 leaves (a larger tree could need one
 * more). SQ_EINVAL for sizes out of range. */
int sqc_merkle_consistency_proof(uint64_t old_size, uint64_t new_size, sqc_merkle_leaf_fn leaf,
                                 void *arg, uint8_t (*path)[SQC_HASH_BYTES], size_t *path_count);

/* SQ_OK if `path` proves the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`)
 * (RFC 9162 §2.1.4.2); SQ_EPROOF otherwise, including old_size 0, old_size > new_size,
 * new_size > 2^63 and paths longer than SQ_MERKLE_DEPTH_MAX. Equal sizes verify only with an
 * empty path and equal roots. Any input is safe. As for inclusion, each size must come with its
 * root from a trusted source. */
int sqc_merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
                                  const uint8_t old_root[SQC_HASH_BYTES],
                                  const uint8_t new_root[SQC_HASH_BYTES],
                                  const uint8_t (*path)[SQC_HASH_BYTES], size_t path_count);

/* Append-only accumulator: the right-edge "peaks" of the tree, O(log n) state. Its root equals
 * sqc_merkle_root over the same leaves. Plain data: copy it, store it, encode it. */
struct sqc_merkle_acc {
    uint64_t size;
    uint8_t peaks[SQ_MERKLE_DEPTH_MAX][SQC_HASH_BYTES]; /* peaks[i] covers 2^i leaves if bit i */
};
void sqc_merkle_acc_init(struct sqc_merkle_acc *acc);
void sqc_merkle_acc_append(struct sqc_merkle_acc *acc, const uint8_t leaf_hash[SQC_HASH_BYTES]);
void sqc_merkle_acc_root(const struct sqc_merkle_acc *acc, uint8_t out[SQC_HASH_BYTES]);

/* ------------------------------------------------------------------------------------------ */
/* Encrypted key files (docs/formats.md, "Key file")                                             */

/* Argon2id cost. SQC_KDF_INTERACTIVE is the default for people; SQC_KDF_MIN is for tests. */
enum sqc_kdf_cost {
    SQC_KDF_MIN = 0,      /* libsodium's minimum: fast, only for tests */
    SQC_KDF_INTERACTIVE,  /* libsodium's interactive limits (64 MiB, 2 passes) */
    SQC_KDF_MODERATE,     /* libsodium's moderate limits (256 MiB, 3 passes) */
};

/* Encodes `kp` as a key file into `buf` (cap bytes). With `passphrase` NULL the seed is stored in
 * plain (operators must ask for that explicitly); otherwise (an empty passphrase included) it is
 * sealed with a key derived by Argon2id with a fresh salt and nonce. *size receives the length.
 * SQ_ETOOBIG if cap is short (SQ_KEYFILE_BYTES_MAX always suffices), SQ_ENOMEM if Argon2id cannot
 * get its memory. buf holds the plain seed for a plain file: the caller wipes it. */
int sqc_keyfile_encode(const struct sqc_keypair *kp, const char *passphrase, size_t pass_len,
                       enum sqc_kdf_cost cost, uint8_t *buf, size_t cap, size_t *size);

/* Decodes a key file. SQ_ECORRUPT for a damaged or truncated file, SQ_EVERSION for an unknown
 * version, SQ_EAUTH for a wrong passphrase (or a tampered salt, nonce, public key, cost or sealed
 * seed: the header is authenticated), SQ_EINVAL when the file is encrypted and no passphrase was
 * given, SQ_ENOMEM when secure memory or Argon2id's memory is short. A plain file needs no
 * passphrase (one given is ignored). Argon2id costs read from the file are bounded before use:
 * 1..10 passes and 8 KiB..512 MiB in whole KiB, else SQ_ECORRUPT, so a hostile file cannot make
 * the decoder allocate gigabytes. A one-line reason goes into errbuf (if not NULL). On failure
 * *kp is left zeroed. */
int sqc_keyfile_decode(const uint8_t *buf, size_t size, const char *passphrase, size_t pass_len,
                       struct sqc_keypair *kp, char *errbuf, size_t errbuf_size);

/* True if the encoded key file is encrypted (needs a passphrase); false for plain or garbage. */
bool sqc_keyfile_is_encrypted(const uint8_t *buf, size_t size);

/* Writes a key file to `path` atomically (temporary file created 0600 beside it, fsync, then a
 * no-replace link or rename, then fsync of the directory); refuses to overwrite an existing file
 * (SQ_EEXIST, checked before Argon2id runs and again atomically at publication). SQ_EIO with
 * errbuf filled on a file-system error; no temporary file is left behind. */
int sqc_keyfile_write(const char *path, const struct sqc_keypair *kp, const char *passphrase,
                      size_t pass_len, enum sqc_kdf_cost cost, char *errbuf, size_t errbuf_size);

/* Reads and decodes the key file at `path` (errors as sqc_keyfile_decode, plus SQ_ENOTFOUND and
 * SQ_EIO for file errors, SQ_ECORRUPT for a file over SQ_KEYFILE_BYTES_MAX). Logs a warning when
 * the file is accessible to group or others. */
int sqc_keyfile_read(const char *path, const char *passphrase, size_t pass_len,
                     struct sqc_keypair *kp, char *errbuf, size_t errbuf_size);

/* ------------------------------------------------------------------------------------------ */
/* Hex, comparison, randomness, wiping                                                           */

/* Writes 2*size lowercase hex digits and a NUL into out (out_cap >= 2*size + 1, asserted). */
void sqc_hex_encode(char *out, size_t out_cap, const void *data, size_t size);

/* Decodes `hex_len` hex digits (either case) into out. SQ_ECORRUPT for an odd length or a
 * non-hex character, SQ_ETOOBIG if the result would exceed out_cap. *size receives the length (0
 * on failure, when the bytes already decoded are wiped). No branch depends on the digits, so hex
 * secrets can be decoded. */
int sqc_hex_decode(void *out, size_t out_cap, const char *hex, size_t hex_len, size_t *size);

/* Constant-time equality of two buffers of `size` bytes (true for size 0). */
bool sqc_equal(const void *a, const void *b, size_t size);

/* Fills buf with bytes from the system CSPRNG (keys, nonces, challenges). */
void sqc_random(void *buf, size_t size);

/* Zeroes memory in a way the compiler cannot elide. */
void sqc_wipe(void *buf, size_t size);

/* Secure memory for secrets (guarded, locked); NULL when exhausted. sqc_secure_free wipes. */
void *sqc_secure_alloc(size_t size);
void sqc_secure_free(void *ptr);

#endif
