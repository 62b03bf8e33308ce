/* The accumulator over block hashes: RFC 6962 / RFC 9162 Merkle tree whose perfect subtrees are
 * stored as they complete, so roots and proofs for any size need O(log^2 n) lookups. */
#include <string.h>

#include "ledger/ledger_int.h"

void ldg_acc_init(struct ldg_acc *acc)
{
    memset(acc, 0, sizeof(*acc));
}

size_t ldg_acc_append(struct ldg_acc *acc, const uint8_t block_hash[LDG_HASH_BYTES],
                      struct ldg_mnode nodes[LDG_ACC_NODES_PER_APPEND])
{
    uint64_t index = acc->size;
    SQ_ASSERT(index < UINT64_MAX);
    uint8_t carry[LDG_HASH_BYTES];
    sqc_merkle_leaf_hash(carry, block_hash, LDG_HASH_BYTES);
    size_t n = 0;
    nodes[n].level = 0;
    nodes[n].index = index;
    memcpy(nodes[n].hash, carry, LDG_HASH_BYTES);
    n++;
    /* Each set low bit of the old size is a peak that merges with the carry. */
    unsigned level = 0;
    while ((acc->size >> level) & 1u) {
        SQ_ASSERT(level + 1 < SQ_MERKLE_DEPTH_MAX);
        sqc_merkle_node_hash(carry, acc->peaks[level], carry);
        level++;
        nodes[n].level = (uint8_t)level;
        nodes[n].index = index >> level;
        memcpy(nodes[n].hash, carry, LDG_HASH_BYTES);
        n++;
    }
    memcpy(acc->peaks[level], carry, LDG_HASH_BYTES);
    acc->size++;
    return n;
}

void ldg_acc_root_of(const struct ldg_acc *acc, uint8_t root[LDG_HASH_BYTES])
{
    if (acc->size == 0) {
        ldg_empty_root(root);
        return;
    }
    /* Fold the peaks from the smallest (rightmost) to the largest (leftmost). */
    bool have = false;
    uint8_t acc_hash[LDG_HASH_BYTES];
    for (unsigned level = 0; level < SQ_MERKLE_DEPTH_MAX; level++) {
        if (((acc->size >> level) & 1u) == 0) {
            continue;
        }
        if (!have) {
            memcpy(acc_hash, acc->peaks[level], LDG_HASH_BYTES);
            have = true;
        } else {
            sqc_merkle_node_hash(acc_hash, acc->peaks[level], acc_hash);
        }
    }
    memcpy(root, acc_hash, LDG_HASH_BYTES);
}

void ldg_acc_encode(struct sq_enc *enc, const struct ldg_acc *acc)
{
    sq_enc_u64(enc, acc->size);
    for (unsigned level = 0; level < SQ_MERKLE_DEPTH_MAX; level++) {
        if ((acc->size >> level) & 1u) {
            sq_enc_bytes(enc, acc->peaks[level], LDG_HASH_BYTES);
        }
    }
}

int ldg_acc_decode(struct sq_dec *dec, struct ldg_acc *acc)
{
    ldg_acc_init(acc);
    if (sq_dec_u64(dec, &acc->size) != SQ_OK) {
        return ldg_fail(SQ_ECORRUPT, "accumulator state truncated");
    }
    for (unsigned level = 0; level < SQ_MERKLE_DEPTH_MAX; level++) {
        if (((acc->size >> level) & 1u) &&
            sq_dec_bytes(dec, acc->peaks[level], LDG_HASH_BYTES) != SQ_OK) {
            return ldg_fail(SQ_ECORRUPT, "accumulator state truncated");
        }
    }
    return SQ_OK;
}

void ldg_mnode_key(uint8_t key[9], uint8_t level, uint64_t index)
{
    key[0] = level;
    ldg_be64_store(key + 1, index);
}

/* ---- proofs over a node source ---- */

static uint64_t split_point(uint64_t n)
{
    /* The largest power of two strictly below n (n >= 2). */
    uint64_t k = 1;
    while (k < n - k) {
        k <<= 1;
    }
    return k;
}

static bool is_pow2(uint64_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

static unsigned log2_exact(uint64_t n)
{
    unsigned l = 0;
    while ((UINT64_C(1) << l) < n) {
        l++;
    }
    return l;
}

int ldg_merkle_subtree(ldg_node_fn node, void *arg, uint64_t begin, uint64_t end,
                       uint8_t out[LDG_HASH_BYTES])
{
    SQ_ASSERT(begin < end);
    uint64_t n = end - begin;
    if (is_pow2(n) && (begin & (n - 1)) == 0) {
        unsigned level = log2_exact(n);
        return node(arg, (uint8_t)level, begin >> level, out);
    }
    uint64_t k = split_point(n);
    uint8_t left[LDG_HASH_BYTES];
    uint8_t right[LDG_HASH_BYTES];
    int rc = ldg_merkle_subtree(node, arg, begin, begin + k, left);
    if (rc == SQ_OK) {
        rc = ldg_merkle_subtree(node, arg, begin + k, end, right);
    }
    if (rc != SQ_OK) {
        return rc;
    }
    sqc_merkle_node_hash(out, left, right);
    return SQ_OK;
}

/* RFC 9162 §2.1.3.1 PATH(m, D[begin:end]), appended deepest first. */
static int path_rec(ldg_node_fn node, void *arg, uint64_t m, uint64_t begin, uint64_t end,
                    uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    uint64_t n = end - begin;
    if (n <= 1) {
        return SQ_OK;
    }
    uint64_t k = split_point(n);
    int rc;
    uint8_t sib[LDG_HASH_BYTES];
    if (m < k) {
        rc = path_rec(node, arg, m, begin, begin + k, path, count);
        if (rc == SQ_OK) {
            rc = ldg_merkle_subtree(node, arg, begin + k, end, sib);
        }
    } else {
        rc = path_rec(node, arg, m - k, begin + k, end, path, count);
        if (rc == SQ_OK) {
            rc = ldg_merkle_subtree(node, arg, begin, begin + k, sib);
        }
    }
    if (rc != SQ_OK) {
        return rc;
    }
    SQ_ASSERT(*count < SQ_MERKLE_DEPTH_MAX);
    memcpy(path[(*count)++], sib, LDG_HASH_BYTES);
    return SQ_OK;
}

int ldg_merkle_inclusion(ldg_node_fn node, void *arg, uint64_t index, uint64_t size,
                         uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    *count = 0;
    if (index >= size) {
        return ldg_fail(SQ_EINVAL, "inclusion proof of leaf %llu in a tree of %llu",
                        (unsigned long long)index, (unsigned long long)size);
    }
    return path_rec(node, arg, index, 0, size, path, count);
}

/* RFC 9162 §2.1.4.1 SUBPROOF(m, D[begin:end], b). */
static int subproof_rec(ldg_node_fn node, void *arg, uint64_t m, uint64_t begin, uint64_t end,
                        bool b, uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    uint64_t n = end - begin;
    uint8_t h[LDG_HASH_BYTES];
    int rc;
    if (m == n) {
        if (b) {
            return SQ_OK;
        }
        rc = ldg_merkle_subtree(node, arg, begin, end, h);
    } else {
        uint64_t k = split_point(n);
        if (m <= k) {
            rc = subproof_rec(node, arg, m, begin, begin + k, b, path, count);
            if (rc == SQ_OK) {
                rc = ldg_merkle_subtree(node, arg, begin + k, end, h);
            }
        } else {
            rc = subproof_rec(node, arg, m - k, begin + k, end, false, path, count);
            if (rc == SQ_OK) {
                rc = ldg_merkle_subtree(node, arg, begin, begin + k, h);
            }
        }
    }
    if (rc != SQ_OK) {
        return rc;
    }
    SQ_ASSERT(*count < SQ_MERKLE_DEPTH_MAX);
    memcpy(path[(*count)++], h, LDG_HASH_BYTES);
    return SQ_OK;
}

int ldg_merkle_consistency(ldg_node_fn node, void *arg, uint64_t old_size, uint64_t new_size,
                           uint8_t (*path)[LDG_HASH_BYTES], size_t *count)
{
    *count = 0;
    if (old_size == 0 || old_size > new_size) {
        return ldg_fail(SQ_EINVAL, "consistency proof from %llu to %llu leaves",
                        (unsigned long long)old_size, (unsigned long long)new_size);
    }
    if (old_size == new_size) {
        return SQ_OK;
    }
    return subproof_rec(node, arg, old_size, 0, new_size, true, path, count);
}
