/* The verbs transport's paths that run without an RDMA device: configuration errors, and the
 * refusal with a clear reason when no device exists (or when the build has no rdma-core). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/loop.h"
#include "net/net.h"

static void make_cfg(struct net_verbs_config *cfg, struct sq_loop *loop,
                     const struct sqc_keypair *kp, struct net_validator *set)
{
    memset(set, 0, 2 * sizeof(*set));
    set[0].id = 1;
    memcpy(set[0].pk, kp->pk, SQC_PK_BYTES);
    strcpy(set[0].host, "127.0.0.1");
    set[0].port = 18515;
    set[1].id = 2;
    strcpy(set[1].host, "127.0.0.1");
    set[1].port = 18516;
    *cfg = (struct net_verbs_config){.loop = loop,
                                     .chain_id = (const uint8_t *)"c",
                                     .chain_id_size = 1,
                                     .self_id = 1,
                                     .key = kp,
                                     .validators = set,
                                     .validator_count = 2};
}

static void test_verbs_refuses_clearly(void **state)
{
    (void)state;
    assert_int_equal(sqc_init(), SQ_OK);
    struct sqc_keypair kp;
    uint8_t seed[SQC_SEED_BYTES] = {1};
    assert_int_equal(sqc_keypair_from_seed(&kp, seed), SQ_OK);
    struct sq_loop *loop;
    assert_int_equal(sq_loop_create(&loop, sq_clock_monotonic()), SQ_OK);
    struct net_validator set[2];
    struct net_verbs_config cfg;
    make_cfg(&cfg, loop, &kp, set);
    char err[256] = "";
    struct net *net = NULL;

    /* A bad configuration is refused before any device is touched. */
    cfg.self_id = 9;
    int rc = net_verbs_create(&net, &cfg, NULL, err, sizeof(err));
    if (net_verbs_available()) {
        assert_int_equal(rc, SQ_EINVAL);
        assert_non_null(strstr(err, "transport=verbs"));
    } else {
        assert_int_equal(rc, SQ_EUNSUPPORTED);
    }
    cfg.self_id = 1;

    rc = net_verbs_create(&net, &cfg, NULL, err, sizeof(err));
    if (!net_verbs_available()) {
        assert_int_equal(rc, SQ_EUNSUPPORTED);
        assert_non_null(strstr(err, "no RDMA support"));
    } else if (rc == SQ_OK) {
        /* This machine has a device: the transport came up; nothing more to check here. */
        net_destroy(net);
    } else {
        assert_int_equal(rc, SQ_ENODEV);
        assert_non_null(strstr(err, "transport=verbs: no RDMA device found"));
        assert_null(net);
    }
    sq_loop_destroy(loop);
    sqc_keypair_free(&kp);
}

int main(void)
{
    sq_log_set_level(SQ_LOG_FATAL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verbs_refuses_clearly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
