/* Genesis parser: never crashes; what parses writes back to JSON that parses to the same digest. */
#include "fuzz_ledger.h"

static uint8_t *tmpl_;
static size_t tmpl_size_;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sqc_init() != 0) {
        abort();
    }
    tmpl_ = fuzz_vec("genesis.json", &tmpl_size_);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    uint8_t *in = fuzz_input(data, size, tmpl_, tmpl_size_, &n);
    if (in == NULL) {
        return 0;
    }
    struct ldg_genesis *g;
    if (ldg_genesis_parse((const char *)in, n, &g) == 0) {
        char *json;
        FUZZ_CHECK(ldg_genesis_to_json(g, &json) == 0);
        struct ldg_genesis *g2;
        FUZZ_CHECK(ldg_genesis_parse(json, strlen(json), &g2) == 0);
        FUZZ_CHECK(memcmp(g->digest, g2->digest, LDG_HASH_BYTES) == 0);
        uint8_t buf[LDG_HEADER_BYTES_MAX + 16384];
        size_t hs;
        size_t bs;
        uint8_t hash[LDG_HASH_BYTES];
        FUZZ_CHECK(ldg_genesis_block(g, buf, sizeof(buf), &hs, &bs, hash) == 0);
        free(json);
        ldg_genesis_free(g2);
        ldg_genesis_free(g);
    }
    free(in);
    return 0;
}
