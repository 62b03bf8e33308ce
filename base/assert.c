#include "base/assert.h"

#include <stdio.h>
#include <stdlib.h>

void sq_assert_fail(const char *expr, const char *file, int line, const char *func)
{
    /* One fprintf so the line is not interleaved with other threads' output. */
    fprintf(stderr, "level=fatal msg=\"assertion failed\" expr=\"%s\" at=%s:%d func=%s\n", expr,
            file, line, func);
    fflush(stderr);
    abort();
}
