#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/prng.h"
#include "consensus/view.h"

static void make_view(struct grp_view *v, uint64_t vid, const uint32_t *ids, uint32_t n)
{
    memset(v, 0, sizeof(*v));
    v->vid = vid;
    v->member_count = n;
    for (uint32_t r = 0; r < n; r++) {
        v->members[r].id = ids[r];
        memset(v->members[r].pk, (int)ids[r], GRP_PK_BYTES);
        snprintf(v->members[r].host, GRP_HOST_BYTES, "127.0.0.%u", ids[r]);
        v->members[r].port = (uint16_t)(26000 + ids[r]);
    }
}

static void test_one_shard_layout(void **state)
{
    (void)state;
    const uint32_t ids[] = {10, 11, 12};
    struct grp_view v;
    make_view(&v, 0, ids, 3);
    struct grp_layout_spec spec = {.kind = GRP_LAYOUT_ONE};
    struct grp_layout l;
    assert_int_equal(grp_layout_compute(&spec, NULL, NULL, &v, &l), SQ_OK);
    assert_int_equal(l.shard_count, 1);
    assert_int_equal(l.shards[0].member_count, 3);
    assert_int_equal(l.shards[0].sender_count, 3);
    uint32_t pos;
    assert_int_equal(grp_layout_shard_of(&l, 2, &pos), 0);
    assert_int_equal(pos, 2);
}

static void test_shards_keep_survivors_and_wait_for_provisioning(void **state)
{
    (void)state;
    const uint32_t ids[] = {1, 2, 3, 4, 5, 6};
    struct grp_view v0, v1, v2;
    make_view(&v0, 0, ids, 6);
    struct grp_layout_spec spec = {.kind = GRP_LAYOUT_SHARDS, .shard_count = 2, .shard_size = 3};
    struct grp_layout l0, l1, l2;
    assert_int_equal(grp_layout_compute(&spec, NULL, NULL, &v0, &l0), SQ_OK);
    /* First view: ranks handed out in order. */
    assert_int_equal(l0.shards[0].ranks[0], 0);
    assert_int_equal(l0.shards[1].ranks[0], 3);
    /* Member 2 (shard 0) leaves: shard 0 falls below its minimum -> not provisioned. */
    const uint32_t ids1[] = {1, 3, 4, 5, 6};
    make_view(&v1, 1, ids1, 5);
    assert_int_equal(grp_layout_compute(&spec, &v0, &l0, &v1, &l1), SQ_EAGAIN);
    /* A joiner (id 9, newest, highest rank) fills the hole; everyone else keeps their shard. */
    const uint32_t ids2[] = {1, 3, 4, 5, 6, 9};
    make_view(&v2, 2, ids2, 6);
    assert_int_equal(grp_layout_compute(&spec, &v0, &l0, &v2, &l2), SQ_OK);
    for (uint32_t s = 0; s < 2; s++) {
        for (uint32_t i = 0; i < l0.shards[s].member_count; i++) {
            uint32_t id = v0.members[l0.shards[s].ranks[i]].id;
            uint32_t r = grp_view_rank_of(&v2, id);
            if (r != GRP_RANK_NONE) {
                assert_int_equal(grp_layout_shard_of(&l2, r, NULL), s);
            }
        }
    }
    assert_int_equal(grp_layout_shard_of(&l2, grp_view_rank_of(&v2, 9), NULL), 0);
    /* Deterministic: same inputs, same bytes. */
    struct grp_layout again;
    assert_int_equal(grp_layout_compute(&spec, &v0, &l0, &v2, &again), SQ_OK);
    assert_memory_equal(&l2, &again, sizeof(again));
}

static void test_view_codec_round_trip_and_rejects_damage(void **state)
{
    (void)state;
    const uint32_t ids[] = {7, 8, 9, 10};
    struct grp_view v, w;
    make_view(&v, 42, ids, 4);
    v.failed[2] = true;
    v.joined_count = 1;
    v.joined[0] = 10;
    v.departed_count = 1;
    v.departed[0] = 3;
    uint8_t buf[GRP_VIEW_BYTES_MAX];
    size_t n;
    assert_int_equal(grp_view_encode(&v, buf, sizeof(buf), &n), SQ_OK);
    assert_int_equal(grp_view_decode(&w, buf, n), SQ_OK);
    assert_memory_equal(&v, &w, sizeof(v));
    /* Every truncation fails cleanly. */
    for (size_t cut = 0; cut < n; cut++) {
        assert_int_equal(grp_view_decode(&w, buf, cut), SQ_ECORRUPT);
    }
    /* A duplicated member id is refused. */
    struct grp_view dup = v;
    dup.members[1].id = dup.members[0].id;
    assert_int_equal(grp_view_encode(&dup, buf, sizeof(buf), &n), SQ_OK);
    assert_int_equal(grp_view_decode(&w, buf, n), SQ_ECORRUPT);
    /* The largest view fits the documented maximum. */
    struct grp_view big;
    memset(&big, 0, sizeof(big));
    big.member_count = SQ_MEMBERS_MAX;
    big.joined_count = big.departed_count = SQ_MEMBERS_MAX;
    for (uint32_t r = 0; r < SQ_MEMBERS_MAX; r++) {
        big.members[r].id = r;
        memset(big.members[r].host, 'h', GRP_HOST_BYTES - 1);
    }
    assert_int_equal(grp_view_encode(&big, buf, sizeof(buf), &n), SQ_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_shard_layout),
        cmocka_unit_test(test_shards_keep_survivors_and_wait_for_provisioning),
        cmocka_unit_test(test_view_codec_round_trip_and_rejects_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
