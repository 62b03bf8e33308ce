/* Fuzzes sqc_hex_decode: the verdict must match a plain reading of the input, nothing is written
 * past the output, and encode(decode(x)) gives x back in lowercase. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "crypto/crypto.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    SQ_ASSERT(sqc_init() == SQ_OK);
    return 0;
}

static bool all_hex(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (!isxdigit(data[i])) {
            return false;
        }
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *hex = (const char *)data;
    size_t n = size / 2;
    /* Exact-size buffers: ASan reports any write past the decoded length. */
    uint8_t *out = malloc(n > 0 ? n : 1);
    SQ_ASSERT(out != NULL);
    size_t got = 12345;
    int rc = sqc_hex_decode(n > 0 ? out : NULL, n, hex, size, &got);
    if (size % 2 != 0 || !all_hex(data, size)) {
        SQ_ASSERT(rc == SQ_ECORRUPT);
        SQ_ASSERT(got == 0);
    } else {
        SQ_ASSERT(rc == SQ_OK);
        SQ_ASSERT(got == n);
        char *back = malloc(2 * n + 1);
        SQ_ASSERT(back != NULL);
        sqc_hex_encode(back, 2 * n + 1, out, n);
        SQ_ASSERT(back[2 * n] == '\0');
        for (size_t i = 0; i < size; i++) {
            SQ_ASSERT(back[i] == (char)tolower(data[i]));
        }
        free(back);
    }
    /* One byte short of room: too big, whatever the characters, unless the length is odd. */
    if (n > 0) {
        rc = sqc_hex_decode(out, n - 1, hex, size, &got);
        SQ_ASSERT(rc == (size % 2 != 0 ? SQ_ECORRUPT : SQ_ETOOBIG));
        SQ_ASSERT(got == 0);
    }
    free(out);
    return 0;
}
