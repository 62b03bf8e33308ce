#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"

static void test_every_code_has_text_and_name(void **state)
{
    (void)state;
    for (int e = 0; e < SQ_ERR_COUNT_; e++) {
        const char *t = sq_strerror(e);
        const char *n = sq_errname(e);
        assert_non_null(t);
        assert_true(strlen(t) > 0);
        assert_string_not_equal(t, "unknown error");
        assert_true(strncmp(n, "SQ_", 3) == 0);
    }
    assert_string_equal(sq_strerror(SQ_OK), "success");
    assert_string_equal(sq_errname(SQ_EBADSIG), "SQ_EBADSIG");
}

static void test_out_of_range(void **state)
{
    (void)state;
    assert_string_equal(sq_strerror(-1), "unknown error");
    assert_string_equal(sq_strerror(SQ_ERR_COUNT_), "unknown error");
    assert_string_equal(sq_errname(9999), "SQ_E?");
}

static void test_errno_translation(void **state)
{
    (void)state;
    assert_int_equal(sq_err_from_errno(0), SQ_OK);
    assert_int_equal(sq_err_from_errno(ENOMEM), SQ_ENOMEM);
    assert_int_equal(sq_err_from_errno(ENOSPC), SQ_ENOSPC);
    assert_int_equal(sq_err_from_errno(EDQUOT), SQ_ENOSPC);
    assert_int_equal(sq_err_from_errno(ECONNRESET), SQ_EPEER);
    assert_int_equal(sq_err_from_errno(EPIPE), SQ_EPEER);
    assert_int_equal(sq_err_from_errno(ETIMEDOUT), SQ_ETIMEDOUT);
    assert_int_equal(sq_err_from_errno(ENOENT), SQ_ENOTFOUND);
    assert_int_equal(sq_err_from_errno(EBADF), SQ_EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_has_text_and_name),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_errno_translation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
