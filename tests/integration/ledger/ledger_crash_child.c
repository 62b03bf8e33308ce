/* The crash test's victim: opens (or creates) the store in DIR and commits blocks in a loop until
 * it is killed. After each durable commit it prints "HEIGHT HASH" on stdout.
 *     ledger_crash_child DIR SEED */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/prng.h"
#include "crash_common.h"

static int fail(const char *what, int rc)
{
    fprintf(stderr, "crash_child: %s: %s: %s\n", what, sq_errname(rc), ldg_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s DIR SEED\n", argv[0]);
        return 2;
    }
    if (sqc_init() != SQ_OK) {
        return 1;
    }
    struct ldg_genesis *g = crash_genesis();
    if (g == NULL) {
        return 1;
    }
    struct ldg_store *s;
    int rc = ldg_store_open(argv[1], g, NULL, &s);
    if (rc != SQ_OK) {
        return fail("open", rc);
    }
    struct sq_prng prng;
    sq_prng_seed(&prng, strtoull(argv[2], NULL, 10));
    uint64_t nonce[CRASH_CLIENTS];
    for (unsigned c = 0; c < CRASH_CLIENTS; c++) {
        struct ldg_account a;
        rc = ldg_account_get_pending(s, crash_key("client", c)->pk, &a);
        if (rc != SQ_OK) {
            return fail("account", rc);
        }
        nonce[c] = a.nonce;
    }
    static uint8_t txbuf[4][SQ_TX_BYTES_MAX];
    static uint8_t batch[4 * SQ_TX_BYTES_MAX + 256];
    for (uint64_t round = 0;; round++) {
        struct ldg_view v;
        ldg_view_current(s, &v, NULL);
        struct ldg_block_info info;
        if (sq_prng_chance(&prng, 1, 16)) {
            /* A view change now and then (same members, next view). */
            v.view_id++;
            v.leaver_count = 0;
            rc = ldg_view_apply(s, &v, 0, &info);
            if (rc != SQ_OK) {
                return fail("view", rc);
            }
        } else {
            struct ldg_bytes txs[4];
            unsigned n = (unsigned)sq_prng_range(&prng, 1, 4);
            for (unsigned i = 0; i < n; i++) {
                unsigned c = (unsigned)sq_prng_below(&prng, CRASH_CLIENTS);
                struct ldg_tx tx = {.version = LDG_FORMAT_VERSION, .kind = LDG_TX_TRANSFER};
                tx.chain_id_size = g->chain_id_size;
                memcpy(tx.chain_id, g->chain_id, g->chain_id_size);
                memcpy(tx.sender, crash_key("client", c)->pk, SQC_PK_BYTES);
                memcpy(tx.target, crash_key("client", (c + 1) % CRASH_CLIENTS)->pk, SQC_PK_BYTES);
                tx.amount = sq_prng_range(&prng, 1, 100);
                tx.nonce = ++nonce[c];
                tx.expiry_height = UINT64_MAX;
                if (ldg_tx_sign(&tx, crash_key("client", c)) != SQ_OK ||
                    ldg_tx_encode(&tx, txbuf[i], sizeof(txbuf[i]), &txs[i].size) != SQ_OK) {
                    return fail("tx", SQ_EINVAL);
                }
                txs[i].data = txbuf[i];
            }
            uint32_t proposer = v.members[sq_prng_below(&prng, v.member_count)].id;
            size_t size;
            rc = ldg_batch_encode(g->chain_id, g->chain_id_size, proposer, round, round, txs, n,
                                  crash_key("val", proposer - 1), batch, sizeof(batch), &size);
            if (rc == SQ_OK) {
                rc = ldg_batch_apply(s, v.view_id, batch, size, NULL, &info);
            }
            if (rc != SQ_OK) {
                return fail("apply", rc);
            }
        }
        if (sq_prng_chance(&prng, 1, 4)) {
            /* Every member signs the newest block: a certificate goes in with the commit. */
            for (uint32_t i = 0; i < v.member_count; i++) {
                struct ldg_finality f;
                uint32_t id = v.members[i].id;
                rc = ldg_finality_make(s, id, crash_key("val", id - 1), info.height, &f);
                if (rc == SQ_OK) {
                    rc = ldg_finality_add(s, &f, NULL);
                }
                if (rc != SQ_OK && rc != SQ_EVIEW) {
                    return fail("finality", rc);
                }
            }
        }
        uint64_t h;
        rc = ldg_commit(s, &h);
        if (rc != SQ_OK) {
            return fail("commit", rc);
        }
        char hex[2 * LDG_HASH_BYTES + 1];
        sqc_hex_encode(hex, sizeof(hex), info.hash, LDG_HASH_BYTES);
        printf("%llu %s\n", (unsigned long long)h, hex);
        fflush(stdout);
    }
}
