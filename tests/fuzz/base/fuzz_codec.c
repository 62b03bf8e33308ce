/* Fuzzes the bounded decoder: the input is both a "program" of read operations and the bytes
 * read. Whatever the input, no read may go past the end, a failed read zeroes its output, and
 * position plus bytes left always add up to the length. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/codec.h"
#include "base/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t nops = data[0] % 32;
    if (nops + 1 > size) {
        return 0;
    }
    const uint8_t *ops = data + 1;
    const uint8_t *bytes = data + 1 + nops;
    size_t len = size - 1 - nops;
    struct sq_dec d;
    sq_dec_init(&d, bytes, len);
    bool failed = false;
    for (size_t i = 0; i < nops; i++) {
        size_t before = sq_dec_left(&d);
        int rc = SQ_OK;
        switch (ops[i] % 8) {
        case 0: {
            uint8_t v;
            rc = sq_dec_u8(&d, &v);
            SQ_ASSERT(rc == SQ_OK || v == 0);
            break;
        }
        case 1: {
            uint16_t v;
            rc = sq_dec_u16(&d, &v);
            SQ_ASSERT(rc == SQ_OK || v == 0);
            break;
        }
        case 2: {
            uint32_t v;
            rc = sq_dec_u32(&d, &v);
            SQ_ASSERT(rc == SQ_OK || v == 0);
            break;
        }
        case 3: {
            uint64_t v;
            rc = sq_dec_u64(&d, &v);
            SQ_ASSERT(rc == SQ_OK || v == 0);
            break;
        }
        case 4: {
            const uint8_t *p;
            size_t n;
            rc = sq_dec_lp32(&d, (size_t)(ops[i] >> 3) * 64, &p, &n);
            if (rc == SQ_OK) {
                SQ_ASSERT(n <= (size_t)(ops[i] >> 3) * 64);
                SQ_ASSERT(n == 0 || (p >= bytes && p + n <= bytes + len));
                volatile uint8_t sink = 0;
                for (size_t k = 0; k < n; k++) {
                    sink ^= p[k]; /* touch every byte: ASan checks the bounds */
                }
                (void)sink;
            } else {
                SQ_ASSERT(p == NULL && n == 0);
            }
            break;
        }
        case 5: {
            uint8_t out[40];
            size_t n = ops[i] >> 3;
            rc = sq_dec_bytes(&d, out, n);
            break;
        }
        case 6: {
            const uint8_t *p = sq_dec_ref(&d, ops[i] >> 3);
            rc = p ? SQ_OK : SQ_ECORRUPT;
            break;
        }
        default:
            rc = sq_dec_skip(&d, ops[i] >> 3);
            break;
        }
        if (failed) {
            SQ_ASSERT(rc != SQ_OK); /* sticky */
        }
        if (rc != SQ_OK) {
            failed = true;
            SQ_ASSERT(sq_dec_left(&d) == 0);
        } else {
            SQ_ASSERT(sq_dec_left(&d) <= before);
            SQ_ASSERT(d.pos + sq_dec_left(&d) == len);
        }
    }
    SQ_ASSERT((sq_dec_status(&d) == SQ_OK) == !failed);
    return 0;
}
