/* libFuzzer target: the authentication handshake (net/handshake.c) fed hostile frames.
 * The first input byte picks a scenario: the acceptor or the initiator side, optionally after a
 * genuine HELLO from the right peer (so AUTH and READY handling are reached with forged
 * signatures). The rest is a stream of frames. Nothing may crash, and a fuzzed peer must never
 * complete the handshake: it cannot sign for a validator's key. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "net/net_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define CHAIN "fuzz-chain"

static struct sqc_keypair k1, k2;
static struct net_validator set[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    SQ_ASSERT(sqc_init() == SQ_OK);
    uint8_t seed[SQC_SEED_BYTES];
    memset(seed, 1, sizeof(seed));
    SQ_ASSERT(sqc_keypair_from_seed(&k1, seed) == SQ_OK);
    memset(seed, 2, sizeof(seed));
    SQ_ASSERT(sqc_keypair_from_seed(&k2, seed) == SQ_OK);
    set[0].id = 1;
    memcpy(set[0].pk, k1.pk, SQC_PK_BYTES);
    set[1].id = 2;
    memcpy(set[1].pk, k2.pk, SQC_PK_BYTES);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint8_t mode = data[0];
    data++;
    size--;
    bool acceptor = (mode & 1) != 0;
    bool genuine_hello = (mode & 2) != 0;
    struct net_hs hs;
    if (acceptor) {
        net_hs_init(&hs, false, 2, 0, (const uint8_t *)CHAIN, strlen(CHAIN), &k2, set, 2);
    } else {
        net_hs_init(&hs, true, 1, 2, (const uint8_t *)CHAIN, strlen(CHAIN), &k1, set, 2);
    }
    uint8_t out[128];
    size_t out_size = 0;
    if (genuine_hello) {
        /* The real peer's HELLO (its nonce is random; fine: nothing here depends on it). */
        struct net_hs peer;
        if (acceptor) {
            net_hs_init(&peer, true, 1, 2, (const uint8_t *)CHAIN, strlen(CHAIN), &k1, set, 2);
        } else {
            net_hs_init(&peer, false, 2, 0, (const uint8_t *)CHAIN, strlen(CHAIN), &k2, set, 2);
        }
        uint8_t hello[256];
        size_t n = net_hs_hello(&peer, hello, sizeof(hello));
        struct net_frame f;
        size_t used;
        SQ_ASSERT(net_frame_parse(hello, n, NET_HS_BODY_BYTES_MAX, &f, &used) == SQ_OK);
        SQ_ASSERT(net_hs_on_frame(&hs, &f, out, sizeof(out), &out_size) == SQ_OK);
    }
    size_t pos = 0;
    while (pos < size && hs.state != NET_HS_FAILED) {
        struct net_frame f;
        size_t used = 0;
        int rc = net_frame_parse(data + pos, size - pos, NET_HS_BODY_BYTES_MAX, &f, &used);
        if (rc != SQ_OK) {
            break;
        }
        rc = net_hs_on_frame(&hs, &f, out, sizeof(out), &out_size);
        SQ_ASSERT(rc == SQ_OK || rc == SQ_EAUTH || rc == SQ_ECORRUPT);
        SQ_ASSERT(out_size <= sizeof(out));
        pos += used;
    }
    /* Reaching DONE needs the peer's valid signature over our fresh nonce. */
    SQ_ASSERT(!net_hs_is_done(&hs));
    return 0;
}
