/* SPDX-License-Identifier: MIT */
/*
 * err.h - raising errors and checking our own invariants (core layer).
 *
 * SOTTO_RAISE(e) is how corruption and protocol violations are reported: it
 * passes through err_raise(), a non-inlined function that receives the file
 * and line of the first detection site, so one breakpoint there catches every
 * such error (see also SOTTO_DEBUG_ERRORS below).
 *
 * SOTTO_INVARIANT(x) checks one of *our* invariants, never hostile input:
 * it asserts in debug builds and evaluates to false in release builds so the
 * caller can return SOTTO_ERR_INTERNAL instead of crashing an embedding host.
 */
#ifndef SOTTO_CORE_ERR_H
#define SOTTO_CORE_ERR_H

#include <assert.h>

#include <sotto/sotto.h>

#include "core/compat.h"

/*
 * Returns err unchanged. In debug builds (NDEBUG unset) and when the
 * environment variable SOTTO_DEBUG_ERRORS is set, it also prints
 * "sotto: <error> at <file>:<line>" to stderr; this is the only output the
 * library ever makes, it carries no data, and release builds compile it out.
 */
SOTTO_NODISCARD sotto_err err_raise(sotto_err err, const char *file, int line);

#define SOTTO_RAISE(e) err_raise((e), __FILE__, __LINE__)

#ifdef NDEBUG
#define SOTTO_INVARIANT(x) (SOTTO_LIKELY(x))
#else
#define SOTTO_INVARIANT(x) (assert(x), 1)
#endif

#endif /* SOTTO_CORE_ERR_H */
