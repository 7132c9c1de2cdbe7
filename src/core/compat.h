/* SPDX-License-Identifier: MIT */
/*
 * compat.h - the one place where compiler extensions are named (core layer).
 *
 * Code elsewhere uses only these macros, so a compiler without the extension
 * (MSVC, a future Windows build) gets an empty definition instead of an error.
 */
#ifndef SOTTO_CORE_COMPAT_H
#define SOTTO_CORE_COMPAT_H

#include <sotto/sotto.h>

#if defined(__GNUC__) || defined(__clang__)
#define SOTTO_NOINLINE __attribute__((noinline))
#define SOTTO_UNUSED __attribute__((unused))
#define SOTTO_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SOTTO_LIKELY(x) __builtin_expect(!!(x), 1)
#define SOTTO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SOTTO_NOINLINE
#define SOTTO_UNUSED
#define SOTTO_PRINTF(fmt, args)
#define SOTTO_LIKELY(x) (x)
#define SOTTO_UNLIKELY(x) (x)
#endif

/* Number of elements of a true array (not a pointer). */
#define SOTTO_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* SOTTO_CORE_COMPAT_H */
