/* Block decoder (header, body, view record, Merkle roots): never crashes; a decoded header
 * re-encodes to its bytes. */
#include "fuzz_ledger.h"

static uint8_t *tmpl_[2];
static size_t tmpl_size_[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sqc_init() != 0) {
        abort();
    }
    tmpl_[0] = fuzz_vec("block_1.hex", &tmpl_size_[0]);
    tmpl_[1] = fuzz_vec("block_2_view.hex", &tmpl_size_[1]);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int which = size > 0 && (data[0] & 2) ? 1 : 0;
    size_t n;
    uint8_t *in = fuzz_input(data, size, tmpl_[which], tmpl_size_[which], &n);
    if (in == NULL) {
        return 0;
    }
    static struct ldg_view view;
    struct ldg_block blk;
    if (ldg_block_decode(in, n, &blk, &view) == 0) {
        uint8_t again[LDG_HEADER_BYTES_MAX];
        size_t m;
        FUZZ_CHECK(ldg_header_encode(&blk.hdr, again, sizeof(again), &m) == 0);
        FUZZ_CHECK(m == blk.header_size && memcmp(again, blk.header_bytes, m) == 0);
        if (blk.hdr.kind == LDG_BLOCK_VIEW) {
            FUZZ_CHECK(view.view_id == blk.hdr.view_id && view.member_count >= 1);
        }
    }
    free(in);
    return 0;
}
