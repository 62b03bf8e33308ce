/* libFuzzer target: the TCP shim's frame decoder, as the receive path uses it (net/frame.c).
 * The input is a byte stream from a peer: frames are parsed one after another, each checked the
 * way the transport checks it, and WRITE frames are applied to a small region when in bounds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "net/net_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint64_t region_words[64];
    uint8_t *region = (uint8_t *)region_words;
    /* Two passes: as an authenticated stream, and under the pre-authentication bound. */
    for (int pass = 0; pass < 2; pass++) {
        size_t body_max = pass == 0 ? NET_BODY_BYTES_MAX : NET_HS_BODY_BYTES_MAX;
        size_t pos = 0;
        while (pos < size) {
            struct net_frame f;
            size_t used = 0;
            /* The SEND head parser (large payloads read straight into place) must agree with the
             * whole-frame parser wherever the whole frame is there. */
            struct net_frame head;
            int hrc = net_frame_parse_send_head(data + pos, size - pos, body_max, &head);
            SQ_ASSERT(hrc == SQ_OK || hrc == SQ_EAGAIN || hrc == SQ_ENOTFOUND);
            int rc = net_frame_parse(data + pos, size - pos, body_max, &f, &used);
            if (hrc == SQ_OK && rc == SQ_OK) {
                SQ_ASSERT(f.type == NET_FR_SEND && f.flags == head.flags && f.imm == head.imm);
                SQ_ASSERT(f.data_size == head.data_size);
            }
            if (hrc == SQ_OK && rc != SQ_EAGAIN) {
                SQ_ASSERT(rc == SQ_OK);
            }
            if (rc != SQ_OK) {
                SQ_ASSERT(rc == SQ_EAGAIN || rc == SQ_ECORRUPT || rc == SQ_ETOOBIG);
                break;
            }
            SQ_ASSERT(used >= NET_FRAME_LEN_BYTES + 1 && used <= size - pos);
            SQ_ASSERT(used - NET_FRAME_LEN_BYTES <= body_max);
            if (f.type == NET_FR_WRITE) {
                SQ_ASSERT(f.data_size > 0 && f.data + f.data_size <= data + pos + used);
                SQ_ASSERT(f.region < SQ_NET_REGIONS_MAX);
                if (f.offset <= sizeof(region_words) &&
                    f.data_size <= sizeof(region_words) - f.offset) {
                    net_apply_write(region + f.offset, f.data, f.data_size);
                }
            } else if (f.type == NET_FR_SEND) {
                SQ_ASSERT(f.data_size == 0 || f.data + f.data_size <= data + pos + used);
            } else if (f.type == NET_FR_HELLO) {
                SQ_ASSERT(f.chain_id_size <= SQ_CHAIN_ID_BYTES_MAX);
                SQ_ASSERT(f.pk != NULL && f.nonce != NULL);
            } else if (f.type == NET_FR_AUTH) {
                SQ_ASSERT(f.sig != NULL);
            }
            pos += used;
        }
    }
    return 0;
}
