/* A stand-in for libFuzzer in ordinary builds: feeds LLVMFuzzerTestOneInput seeded random inputs,
 * mutations of earlier inputs, and any files named on the command line. It finds far less than
 * libFuzzer does, but it keeps every fuzz target compiled and exercised (under ASan/UBSan in the
 * dev preset) by plain `ctest`.
 *
 *   fuzz_x [--runs N] [--seed S] [--max-len L] [FILE...]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/prng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    uint8_t *copy = malloc(n ? n : 1);
    if (copy == NULL) {
        return 1;
    }
    memcpy(copy, buf, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t runs = 10000;
    uint64_t seed = 1;
    size_t max_len = 4096;
    if (LLVMFuzzerInitialize != NULL) {
        LLVMFuzzerInitialize(&argc, &argv);
    }
    int files = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--max-len") == 0 && i + 1 < argc) {
            max_len = (size_t)strtoull(argv[++i], NULL, 10);
        } else {
            if (run_file(argv[i]) != 0) {
                return 1;
            }
            files++;
        }
    }
    if (files > 0) {
        printf("ran %d file(s)\n", files);
        return 0;
    }
    struct sq_prng prng;
    sq_prng_seed(&prng, seed);
    uint8_t *prev = calloc(1, max_len + 1);
    size_t prev_len = 0;
    uint8_t *buf = malloc(max_len + 1);
    if (prev == NULL || buf == NULL) {
        return 1;
    }
    for (uint64_t r = 0; r < runs; r++) {
        size_t len;
        if (prev_len > 0 && sq_prng_chance(&prng, 1, 2)) {
            /* Mutate the previous input: flip, insert or truncate a few bytes. */
            len = prev_len;
            memcpy(buf, prev, len);
            uint64_t edits = sq_prng_range(&prng, 1, 8);
            for (uint64_t e = 0; e < edits; e++) {
                uint64_t op = sq_prng_below(&prng, 3);
                if (op == 0 && len > 0) {
                    buf[sq_prng_below(&prng, len)] ^= (uint8_t)(1u << sq_prng_below(&prng, 8));
                } else if (op == 1 && len < max_len) {
                    size_t at = (size_t)sq_prng_below(&prng, len + 1);
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (uint8_t)sq_prng_next(&prng);
                    len++;
                } else if (len > 0) {
                    len = (size_t)sq_prng_below(&prng, len);
                }
            }
        } else {
            /* Mostly short inputs, sometimes long ones. */
            uint64_t cap = sq_prng_chance(&prng, 1, 8) ? max_len : (max_len < 64 ? max_len : 64);
            len = (size_t)sq_prng_below(&prng, cap + 1);
            sq_prng_fill(&prng, buf, len);
        }
        /* Hand the target an exact-size heap copy so ASan sees any read past the end. */
        uint8_t *in = malloc(len ? len : 1);
        if (in == NULL) {
            return 1;
        }
        memcpy(in, buf, len);
        LLVMFuzzerTestOneInput(in, len);
        free(in);
        memcpy(prev, buf, len);
        prev_len = len;
    }
    printf("fuzz driver: %llu inputs, seed %llu, no crash\n", (unsigned long long)runs,
           (unsigned long long)seed);
    free(prev);
    free(buf);
    return 0;
}
