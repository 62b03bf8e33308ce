/* Shared by the ledger fuzz targets: golden vectors as mutation templates.
 *
 * Input byte 0 chooses: below 0x80 the rest of the input is decoded as it is; otherwise a golden
 * vector (the target's template) is copied, XORed with the rest of the input at offsets spread
 * over it, and cut to a length taken from the input, so that even the seeded driver of ordinary
 * builds reaches the deep checks (signatures, Merkle paths, certificates). */
#ifndef SQ_TESTS_FUZZ_LDG_H
#define SQ_TESTS_FUZZ_LDG_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "ledger/ledger.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Reads tests/vectors/ledger/<name> (hex decoded unless .json). Exits on failure: a fuzz target
 * without its template is a build problem. */
static inline uint8_t *fuzz_vec(const char *name, size_t *size)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", LDG_VEC_DIR, name);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "fuzz: cannot open %s\n", path);
        exit(1);
    }
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) {
        n--;
    }
    uint8_t *out = malloc(n + 1);
    if (out == NULL) {
        exit(1);
    }
    if (strstr(name, ".json") != NULL) {
        memcpy(out, text, n);
        *size = n;
        return out;
    }
    if (sqc_hex_decode(out, n + 1, text, n, size) != 0) {
        fprintf(stderr, "fuzz: %s is not hex\n", path);
        exit(1);
    }
    return out;
}

/* The input to decode: either the raw input (after byte 0) or a mutated template. *out is
 * malloc'd (exact size, so ASan sees overreads); the caller frees it. */
static inline uint8_t *fuzz_input(const uint8_t *data, size_t size, const uint8_t *tmpl,
                                  size_t tmpl_size, size_t *out_size)
{
    if (size == 0 || data[0] < 0x80 || tmpl_size == 0) {
        size_t n = size > 0 ? size - 1 : 0;
        uint8_t *out = malloc(n ? n : 1);
        if (out != NULL && n > 0) {
            memcpy(out, data + 1, n);
        }
        *out_size = n;
        return out;
    }
    uint8_t *out = malloc(tmpl_size);
    if (out == NULL) {
        return NULL;
    }
    memcpy(out, tmpl, tmpl_size);
    size_t n = tmpl_size;
    /* Bytes 1..2: a cut (0: none). Then pairs (offset, xor). */
    if (size >= 3) {
        size_t cut = ((size_t)data[1] << 8 | data[2]) % (tmpl_size + 1);
        if (data[0] & 1) {
            n = cut;
        }
    }
    for (size_t i = 3; i + 2 < size; i += 3) {
        size_t at = ((size_t)data[i] << 8 | data[i + 1]) * 7919 % tmpl_size;
        out[at] ^= data[i + 2];
    }
    *out_size = n;
    return out;
}

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
