/* The view decoder reads bytes from the leader's TCP socket and from the durable view log: any
 * input must either decode to a view that re-encodes to the same bytes or be refused. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "consensus/view.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct grp_view v;
    if (grp_view_decode(&v, data, size) != SQ_OK) {
        return 0;
    }
    static uint8_t out[GRP_VIEW_BYTES_MAX];
    size_t n;
    SQ_ASSERT(grp_view_encode(&v, out, sizeof(out), &n) == SQ_OK);
    SQ_ASSERT(n == size);
    SQ_ASSERT(memcmp(out, data, n) == 0);
    return 0;
}
