/* Receipt and certificate verification on hostile bytes: never crashes; a mutated receipt that
 * still verifies must describe the same transaction at the same place. */
#include "fuzz_ledger.h"

static uint8_t *tmpl_;
static size_t tmpl_size_;
static struct ldg_genesis *genesis_;
static struct ldg_receipt_info good_;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sqc_init() != 0) {
        abort();
    }
    size_t n;
    uint8_t *json = fuzz_vec("genesis.json", &n);
    if (ldg_genesis_parse((const char *)json, n, &genesis_) != 0) {
        abort();
    }
    free(json);
    tmpl_ = fuzz_vec("receipt_transfer.hex", &tmpl_size_);
    if (ldg_receipt_verify(genesis_, tmpl_, tmpl_size_, &good_) != 0) {
        fprintf(stderr, "fuzz: the template receipt does not verify: %s\n", ldg_errmsg());
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n;
    uint8_t *in = fuzz_input(data, size, tmpl_, tmpl_size_, &n);
    if (in == NULL) {
        return 0;
    }
    struct ldg_receipt_info info;
    if (ldg_receipt_verify(genesis_, in, n, &info) == 0) {
        FUZZ_CHECK(memcmp(info.txid, good_.txid, LDG_HASH_BYTES) == 0);
        FUZZ_CHECK(info.height == good_.height && info.index == good_.index);
        FUZZ_CHECK(info.result == good_.result);
    }
    struct ldg_view view;
    memset(&view, 0, sizeof(view));
    view.member_count = genesis_->validator_count;
    memcpy(view.members, genesis_->validators, sizeof(view.members));
    struct ldg_cert_info ci;
    (void)ldg_cert_verify(in, n, genesis_->chain_id, genesis_->chain_id_size, &view, &ci);
    free(in);
    return 0;
}
