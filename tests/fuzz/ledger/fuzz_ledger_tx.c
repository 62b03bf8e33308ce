/* Transaction decoder: never crashes; what decodes re-encodes to the same bytes. */
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
    tmpl_ = fuzz_vec("tx_admit_validator.hex", &tmpl_size_);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    uint8_t *in = fuzz_input(data, size, tmpl_, tmpl_size_, &n);
    if (in == NULL) {
        return 0;
    }
    struct ldg_tx tx;
    if (ldg_tx_decode(in, n, &tx) == 0) {
        uint8_t again[SQ_TX_BYTES_MAX];
        size_t m;
        FUZZ_CHECK(ldg_tx_encode(&tx, again, sizeof(again), &m) == 0);
        FUZZ_CHECK(m == n && memcmp(again, in, n) == 0);
        uint8_t id[LDG_HASH_BYTES];
        (void)ldg_tx_check(in, n, NULL, id);
        if (tx.kind >= LDG_TX_ADMIT_CLIENT) {
            FUZZ_CHECK(ldg_tx_gov_digest(&tx, id) == 0);
        }
    }
    free(in);
    return 0;
}
