/* SQ_ASSERT: assertions that stay on in every build (TigerStyle, Redis serverAssert).
 *
 * Assert preconditions, postconditions and invariants: an assertion failure is a bug in Squall,
 * never a reaction to bad input from outside (that gets an error value). On failure the process
 * logs the expression, file and line to stderr and aborts, so a core dump or sanitizer report
 * follows. */
#ifndef SQ_BASE_ASSERT_H
#define SQ_BASE_ASSERT_H

#include <stdbool.h>

/* Reports a failed assertion and aborts. Never returns. Any thread. */
_Noreturn void sq_assert_fail(const char *expr, const char *file, int line, const char *func);

#define SQ_LIKELY(x) __builtin_expect(!!(x), 1)
#define SQ_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define SQ_ASSERT(expr)                                                                            \
    do {                                                                                           \
        if (SQ_UNLIKELY(!(expr))) {                                                                \
            sq_assert_fail(#expr, __FILE__, __LINE__, __func__);                                   \
        }                                                                                          \
    } while (0)

/* Marks code that must never run. */
#define SQ_UNREACHABLE() sq_assert_fail("unreachable", __FILE__, __LINE__, __func__)

/* Logical implication, for assertions: SQ_ASSERT(SQ_IMPLIES(a, b)). */
#define SQ_IMPLIES(a, b) (!(a) || (b))

#define SQ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
