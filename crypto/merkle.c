/* RFC 6962 / RFC 9162 Merkle trees: hashes, roots, inclusion and consistency proofs, and the
 * append-only accumulator.
 *
 * The tree over n leaves is the left-balanced one of RFC 9162 §2.1.1: for n > 1 the left subtree
 * holds the largest power of two of leaves that is smaller than n. Roots are computed with the
 * accumulator (its peaks are exactly the complete subtrees of that tree), so they need O(log n)
 * memory and no recursion. Proof builders walk the tree from the root down; verifiers follow the
 * RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms step by step and treat every input as hostile. */
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/limits.h"
#include "crypto/crypto.h"

/* Consistency proofs between trees of more than 2^63 leaves could need one hash more than
 * SQ_MERKLE_DEPTH_MAX; such sizes are refused (crypto.h). */
#define MERKLE_CONSISTENCY_SIZE_MAX (UINT64_C(1) << 63)
static_assert(SQ_MERKLE_DEPTH_MAX == 64, "a uint64_t tree size is at most 64 levels deep");

void sqc_merkle_leaf_hash(uint8_t out[SQC_HASH_BYTES], const void *data, size_t size)
{
    static const uint8_t prefix = 0x00;
    struct sqc_iov parts[2] = {{&prefix, 1}, {data, size}};
    sqc_sha256_parts(out, parts, 2);
}

void sqc_merkle_node_hash(uint8_t out[SQC_HASH_BYTES], const uint8_t left[SQC_HASH_BYTES],
                          const uint8_t right[SQC_HASH_BYTES])
{
    /* One contiguous buffer hashes faster than three updates. */
    uint8_t buf[1 + 2 * SQC_HASH_BYTES];
    buf[0] = 0x01;
    memcpy(buf + 1, left, SQC_HASH_BYTES);
    memcpy(buf + 1 + SQC_HASH_BYTES, right, SQC_HASH_BYTES);
    sqc_sha256(out, buf, sizeof(buf));
}

int sqc_merkle_leaf_from_array(void *arg, uint64_t index, uint8_t out[SQC_HASH_BYTES])
{
    const uint8_t(*leaves)[SQC_HASH_BYTES] = arg;
    SQ_ASSERT(leaves != NULL);
    SQ_ASSERT((uint64_t)(size_t)index == index);
    memcpy(out, leaves[index], SQC_HASH_BYTES);
    return SQ_OK;
}

/* ---- accumulator ---- */

void sqc_merkle_acc_init(struct sqc_merkle_acc *acc)
{
    SQ_ASSERT(acc != NULL);
    memset(acc, 0, sizeof(*acc));
}

void sqc_merkle_acc_append(struct sqc_merkle_acc *acc, const uint8_t leaf_hash[SQC_HASH_BYTES])
{
    SQ_ASSERT(acc != NULL);
    SQ_ASSERT(leaf_hash != NULL);
    SQ_ASSERT(acc->size < UINT64_MAX);
    /* Adding one to the size carries through its low set bits: each carry merges two complete
     * subtrees of 2^i leaves into one of 2^(i+1). */
    uint8_t carry[SQC_HASH_BYTES];
    memcpy(carry, leaf_hash, SQC_HASH_BYTES);
    unsigned i = 0;
    while ((acc->size >> i) & 1) {
        SQ_ASSERT(i + 1 < SQ_MERKLE_DEPTH_MAX);
        sqc_merkle_node_hash(carry, acc->peaks[i], carry);
        i++;
    }
    memcpy(acc->peaks[i], carry, SQC_HASH_BYTES);
    acc->size++;
}

void sqc_merkle_acc_root(const struct sqc_merkle_acc *acc, uint8_t out[SQC_HASH_BYTES])
{
    SQ_ASSERT(acc != NULL);
    SQ_ASSERT(out != NULL);
    if (acc->size == 0) {
        sqc_sha256(out, NULL, 0);
        return;
    }
    /* The smallest peak is the rightmost subtree; each larger peak is the left sibling of
     * everything to its right (the left-balanced shape of RFC 9162 §2.1.1). */
    uint8_t root[SQC_HASH_BYTES];
    unsigned i = (unsigned)__builtin_ctzll(acc->size);
    memcpy(root, acc->peaks[i], SQC_HASH_BYTES);
    for (i++; i < SQ_MERKLE_DEPTH_MAX; i++) {
        if ((acc->size >> i) & 1) {
            sqc_merkle_node_hash(root, acc->peaks[i], root);
        }
    }
    memcpy(out, root, SQC_HASH_BYTES);
}

/* ---- roots and proofs ---- */

/* Root of the `count` leaves starting at `first` (count >= 1). */
static int subtree_root(uint8_t out[SQC_HASH_BYTES], uint64_t first, uint64_t count,
                        sqc_merkle_leaf_fn leaf, void *arg)
{
    SQ_ASSERT(count >= 1);
    struct sqc_merkle_acc acc;
    sqc_merkle_acc_init(&acc);
    for (uint64_t i = 0; i < count; i++) {
        uint8_t h[SQC_HASH_BYTES];
        int rc = leaf(arg, first + i, h);
        if (rc != SQ_OK) {
            return rc;
        }
        sqc_merkle_acc_append(&acc, h);
    }
    sqc_merkle_acc_root(&acc, out);
    return SQ_OK;
}

/* The largest power of two strictly smaller than n (n >= 2): the left subtree's leaf count. */
static uint64_t split_point(uint64_t n)
{
    SQ_ASSERT(n >= 2);
    return UINT64_C(1) << (63 - __builtin_clzll(n - 1));
}

static void path_reverse(uint8_t (*path)[SQC_HASH_BYTES], size_t count)
{
    for (size_t i = 0; i < count / 2; i++) {
        uint8_t t[SQC_HASH_BYTES];
        memcpy(t, path[i], SQC_HASH_BYTES);
        memcpy(path[i], path[count - 1 - i], SQC_HASH_BYTES);
        memcpy(path[count - 1 - i], t, SQC_HASH_BYTES);
    }
}

int sqc_merkle_root(uint8_t out[SQC_HASH_BYTES], uint64_t size, sqc_merkle_leaf_fn leaf, void *arg)
{
    SQ_ASSERT(out != NULL);
    if (size == 0) {
        sqc_sha256(out, NULL, 0);
        return SQ_OK;
    }
    SQ_ASSERT(leaf != NULL);
    return subtree_root(out, 0, size, leaf, arg);
}

int sqc_merkle_inclusion_proof(uint64_t index, uint64_t size, sqc_merkle_leaf_fn leaf, void *arg,
                               uint8_t (*path)[SQC_HASH_BYTES], size_t *path_count)
{
    SQ_ASSERT(leaf != NULL);
    SQ_ASSERT(path != NULL);
    SQ_ASSERT(path_count != NULL);
    *path_count = 0;
    if (index >= size) {
        return SQ_EINVAL;
    }
    /* PATH(m, D[n]) of RFC 9162 §2.1.3.1, unrolled: descend towards leaf m, noting the root of the
     * subtree on the other side at each level. They come out root first; the proof lists them
     * leaf first. */
    uint64_t first = 0;
    uint64_t n = size;
    uint64_t m = index;
    size_t depth = 0;
    while (n > 1) {
        SQ_ASSERT(depth < SQ_MERKLE_DEPTH_MAX);
        uint64_t k = split_point(n);
        int rc;
        if (m < k) {
            rc = subtree_root(path[depth], first + k, n - k, leaf, arg);
            n = k;
        } else {
            rc = subtree_root(path[depth], first, k, leaf, arg);
            first += k;
            m -= k;
            n -= k;
        }
        if (rc != SQ_OK) {
            return rc;
        }
        depth++;
    }
    path_reverse(path, depth);
    *path_count = depth;
    return SQ_OK;
}

int sqc_merkle_inclusion_verify(const uint8_t leaf_hash[SQC_HASH_BYTES], uint64_t index,
                                uint64_t size, const uint8_t (*path)[SQC_HASH_BYTES],
                                size_t path_count, const uint8_t root[SQC_HASH_BYTES])
{
    SQ_ASSERT(leaf_hash != NULL);
    SQ_ASSERT(root != NULL);
    SQ_ASSERT(path_count == 0 || path != NULL);
    /* RFC 9162 §2.1.3.2. */
    if (index >= size || path_count > SQ_MERKLE_DEPTH_MAX) {
        return SQ_EPROOF;
    }
    uint64_t fn = index;
    uint64_t sn = size - 1;
    uint8_t r[SQC_HASH_BYTES];
    memcpy(r, leaf_hash, SQC_HASH_BYTES);
    for (size_t i = 0; i < path_count; i++) {
        if (sn == 0) {
            return SQ_EPROOF; /* path longer than the tree is deep */
        }
        if ((fn & 1) || fn == sn) {
            sqc_merkle_node_hash(r, path[i], r);
            /* The last node of a level with no right sibling moves up unchanged. */
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            sqc_merkle_node_hash(r, r, path[i]);
        }
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || !sqc_equal(r, root, SQC_HASH_BYTES)) {
        return SQ_EPROOF;
    }
    return SQ_OK;
}

int sqc_merkle_consistency_proof(uint64_t old_size, uint64_t new_size, sqc_merkle_leaf_fn leaf,
                                 void *arg, uint8_t (*path)[SQC_HASH_BYTES], size_t *path_count)
{
    SQ_ASSERT(leaf != NULL);
    SQ_ASSERT(path != NULL);
    SQ_ASSERT(path_count != NULL);
    *path_count = 0;
    if (old_size == 0 || old_size > new_size || new_size > MERKLE_CONSISTENCY_SIZE_MAX) {
        return SQ_EINVAL;
    }
    /* SUBPROOF(m, D[n], b) of RFC 9162 §2.1.4.1, unrolled. `whole` is b: true while the old tree
     * is the left edge of the current subtree, whose root the verifier already knows. */
    uint64_t first = 0;
    uint64_t n = new_size;
    uint64_t m = old_size;
    bool whole = true;
    size_t depth = 0;
    while (m != n) {
        SQ_ASSERT(depth < SQ_MERKLE_DEPTH_MAX);
        uint64_t k = split_point(n);
        int rc;
        if (m <= k) {
            rc = subtree_root(path[depth], first + k, n - k, leaf, arg);
            n = k;
        } else {
            rc = subtree_root(path[depth], first, k, leaf, arg);
            first += k;
            m -= k;
            n -= k;
            whole = false;
        }
        if (rc != SQ_OK) {
            return rc;
        }
        depth++;
    }
    /* Siblings were found root first; the proof lists them deepest first, after the root of the
     * old tree's last complete piece when the verifier cannot know it. */
    path_reverse(path, depth);
    if (!whole) {
        SQ_ASSERT(depth < SQ_MERKLE_DEPTH_MAX); /* holds for new_size <= 2^63 */
        memmove(path[1], path[0], depth * SQC_HASH_BYTES);
        int rc = subtree_root(path[0], first, m, leaf, arg);
        if (rc != SQ_OK) {
            return rc;
        }
        depth++;
    }
    *path_count = depth;
    return SQ_OK;
}

int sqc_merkle_consistency_verify(uint64_t old_size, uint64_t new_size,
                                  const uint8_t old_root[SQC_HASH_BYTES],
                                  const uint8_t new_root[SQC_HASH_BYTES],
                                  const uint8_t (*path)[SQC_HASH_BYTES], size_t path_count)
{
    SQ_ASSERT(old_root != NULL);
    SQ_ASSERT(new_root != NULL);
    SQ_ASSERT(path_count == 0 || path != NULL);
    if (old_size == 0 || old_size > new_size || new_size > MERKLE_CONSISTENCY_SIZE_MAX ||
        path_count > SQ_MERKLE_DEPTH_MAX) {
        return SQ_EPROOF;
    }
    if (old_size == new_size) {
        /* A tree is consistent with itself only: the proof is empty (RFC 9162 §2.1.4.1). */
        if (path_count != 0 || !sqc_equal(old_root, new_root, SQC_HASH_BYTES)) {
            return SQ_EPROOF;
        }
        return SQ_OK;
    }
    /* RFC 9162 §2.1.4.2, with step 2's prepended first_hash read in place instead of copied. */
    if (path_count == 0) {
        return SQ_EPROOF; /* step 1 */
    }
    bool prepend = (old_size & (old_size - 1)) == 0; /* step 2 */
    size_t total = path_count + (prepend ? 1 : 0);
#define PATH_AT(i) (prepend ? ((i) == 0 ? old_root : path[(i)-1]) : path[(i)])
    uint64_t fn = old_size - 1; /* step 3 */
    uint64_t sn = new_size - 1;
    while (fn & 1) { /* step 4 */
        fn >>= 1;
        sn >>= 1;
    }
    uint8_t fr[SQC_HASH_BYTES]; /* step 5 */
    uint8_t sr[SQC_HASH_BYTES];
    memcpy(fr, PATH_AT(0), SQC_HASH_BYTES);
    memcpy(sr, PATH_AT(0), SQC_HASH_BYTES);
    for (size_t i = 1; i < total; i++) { /* step 6 */
        const uint8_t *c = PATH_AT(i);
        if (sn == 0) {
            return SQ_EPROOF;
        }
        if ((fn & 1) || fn == sn) {
            sqc_merkle_node_hash(fr, c, fr);
            sqc_merkle_node_hash(sr, c, sr);
            while (!(fn & 1) && fn != 0) {
                fn >>= 1;
                sn >>= 1;
            }
        } else {
            sqc_merkle_node_hash(sr, sr, c);
        }
        fn >>= 1;
        sn >>= 1;
    }
#undef PATH_AT
    /* step 7 */
    bool ok_old = sqc_equal(fr, old_root, SQC_HASH_BYTES);
    bool ok_new = sqc_equal(sr, new_root, SQC_HASH_BYTES);
    if (sn != 0 || !ok_old || !ok_new) {
        return SQ_EPROOF;
    }
    return SQ_OK;
}
