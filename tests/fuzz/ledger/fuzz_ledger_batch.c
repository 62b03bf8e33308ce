/* Batch decoder and the transactions inside: never crashes, lengths always checked. */
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
    tmpl_ = fuzz_vec("batch_1.hex", &tmpl_size_);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    uint8_t *in = fuzz_input(data, size, tmpl_, tmpl_size_, &n);
    if (in == NULL) {
        return 0;
    }
    struct ldg_batch b;
    if (ldg_batch_decode(in, n, &b) == 0) {
        struct ldg_tx_iter it;
        struct ldg_bytes tx;
        uint32_t count = 0;
        ldg_tx_iter_init(&it, b.txs, b.txs_size, b.tx_count);
        while (ldg_tx_iter_next(&it, &tx)) {
            FUZZ_CHECK(tx.data >= in && tx.data + tx.size <= in + n);
            struct ldg_tx t;
            (void)ldg_tx_check(tx.data, tx.size, &t, NULL);
            count++;
        }
        FUZZ_CHECK(count == b.tx_count);
    }
    free(in);
    return 0;
}
