/* libFuzzer target: the HTTP API's request decoders (node/api_decode.h) on arbitrary bytes. The
 * first byte picks the decoder; the rest is the input. Nothing may crash, leak or read out of
 * bounds, and every success must be well-formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "node/api_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct node_api_tx txs_[NODE_API_TXS_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint8_t which = data[0] % 5;
    data++;
    size--;
    char msg[200];
    char text[1100];
    size_t tl = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, tl);
    text[tl] = '\0';
    switch (which) {
    case 0: {
        enum node_api_err e = node_api_decode_tx(data, size, &txs_[0], msg, sizeof(msg));
        SQ_ASSERT(e != NODE_API_OK || (txs_[0].size > 0 && txs_[0].size <= SQ_TX_BYTES_MAX));
        break;
    }
    case 1: {
        size_t n = 0;
        enum node_api_err e = node_api_decode_txs(data, size, txs_, &n, msg, sizeof(msg));
        SQ_ASSERT(e != NODE_API_OK || (n >= 1 && n <= NODE_API_TXS_MAX));
        for (size_t i = 0; e == NODE_API_OK && i < n; i++) {
            SQ_ASSERT(txs_[i].err != NODE_API_OK || txs_[i].size <= SQ_TX_BYTES_MAX);
        }
        break;
    }
    case 2: {
        uint8_t h[32];
        uint64_t v;
        (void)node_api_parse_hash(text, h);
        (void)node_api_parse_u64(text, UINT64_MAX, &v);
        (void)node_api_parse_wait(text);
        break;
    }
    default: {
        char buf[256];
        const char *segs[6];
        int n = node_api_split_path(text, buf, sizeof(buf), segs, 6);
        SQ_ASSERT(n <= 6);
        for (int i = 0; i < n; i++) {
            SQ_ASSERT(segs[i][0] != '\0' && strchr(segs[i], '/') == NULL);
        }
        break;
    }
    }
    return 0;
}
