/* Membership messages (joins, redirects, shipped views, state transfer, total restart) arrive from
 * other validators' connections: any bytes, to a joiner or to a running member, must be taken or
 * dropped without harm. The first input byte picks the receiver (a joiner with a last view, or a
 * member of a three-member view) and the sender id; the rest is the message. Both receivers run
 * on the deterministic simulated network. */
#include <stdint.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "consensus/consensus.h"
#include "tests/sim/simnet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void deliver(void *ctx, uint32_t shard, uint32_t sender_id, uint64_t vid, int64_t seq,
                    int64_t version, const uint8_t *d, size_t n)
{
    (void)ctx, (void)shard, (void)sender_id, (void)vid, (void)seq, (void)version, (void)d, (void)n;
}

static int io_send(void *ctx, uint32_t peer, uint32_t imm, const void *d, size_t len)
{
    (void)ctx, (void)peer, (void)imm, (void)d, (void)len;
    return SQ_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    sq_log_set_level(SQ_LOG_OFF);
    /* One network for the whole run (making one costs more than a message); each input gets a
     * fresh group, which leaves nothing behind on it. */
    static struct simnet *sim;
    if (sim == NULL) {
        struct simnet_config sc = {.seed = 1, .node_count = 3};
        SQ_ASSERT(simnet_create(&sim, &sc) == SQ_OK);
        simnet_connect_all(sim);
    }
    struct grp_view view;
    memset(&view, 0, sizeof(view));
    view.member_count = 3;
    struct grp_member vals[3];
    memset(vals, 0, sizeof(vals));
    for (uint32_t i = 0; i < 3; i++) {
        view.members[i].id = vals[i].id = i;
    }
    bool joiner = (data[0] & 1) != 0;
    struct grp_upcalls up = {.deliver = deliver};
    struct rdmc_io io = {.send = io_send};
    struct grp_settings set;
    grp_settings_default(&set);
    set.view_record = (data[0] & 4) != 0;
    struct grp_config gc = {.view = joiner ? NULL : &view, .my_id = 0, .net = simnet_net(sim, 0),
                            .rdmc_io = &io, .settings = &set, .up = &up,
                            .validators = vals, .validator_count = 3, .join = joiner,
                            .last_view = joiner ? &view : NULL};
    struct grp_group *g;
    SQ_ASSERT(grp_group_create(&g, &gc) == SQ_OK);
    grp_tick(g, 1000);
    grp_gms_recv(g, 1 + ((data[0] >> 1) & 1), data + 1, size - 1);
    grp_tick(g, 2000000000);
    (void)grp_poll(g);
    SQ_ASSERT(grp_check(g) == SQ_OK);
    grp_group_destroy(g);
    return 0;
}
