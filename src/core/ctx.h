/* SPDX-License-Identifier: MIT */
/*
 * ctx.h - the library-internal face of struct sotto_ctx (core layer).
 *
 * Every allocation, random byte, clock reading and log line in libsotto goes
 * through these functions, so a test can fail the n-th allocation, replay a
 * published vector through a scripted RNG, or move time without sleeping.
 * There is no other mutable state anywhere in the library.
 */
#ifndef SOTTO_CORE_CTX_H
#define SOTTO_CORE_CTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "core/compat.h"

/* Ordinary memory; NULL when the allocator refuses (size 0 is refused). */
void *ctx_alloc(struct sotto_ctx *ctx, size_t size);

/* Zeroed memory for n elements of size bytes; NULL on overflow or refusal. */
void *ctx_calloc(struct sotto_ctx *ctx, size_t n, size_t size);

/* Frees memory from ctx_alloc/ctx_calloc; NULL does nothing. */
void ctx_free(struct sotto_ctx *ctx, void *SOTTO_NULLABLE ptr);

/*
 * Bytes the default secure allocator adds in front of a region within its
 * pages (libsodium's canary and the context's size header): a request of
 * n pages * 4096 - CTX_SECURE_OVERHEAD bytes fills n pages exactly.
 */
enum { CTX_SECURE_OVERHEAD = 32 };

/* Memory for secrets (sodium_malloc by default); NULL when refused. */
void *ctx_secure_alloc(struct sotto_ctx *ctx, size_t size);

/* Frees memory from ctx_secure_alloc (the default wipes it); NULL does nothing. */
void ctx_secure_free(struct sotto_ctx *ctx, void *SOTTO_NULLABLE ptr);

/* Freed secure regions kept for reuse by the default secure allocator (tests). */
size_t ctx_secure_spare(const struct sotto_ctx *ctx);

/* Fills buf with len bytes from the context's RNG. */
void ctx_random(struct sotto_ctx *ctx, uint8_t *buf, size_t len);

/* Monotonic milliseconds from the context's clock. */
uint64_t ctx_now_ms(struct sotto_ctx *ctx);

/* True when a line at level would be delivered. */
bool ctx_log_enabled(const struct sotto_ctx *ctx, enum sotto_log_level level);

/*
 * Formats and delivers one log line (truncated to 255 bytes). Callers pass
 * only short non-secret tags and counters: never keys, plaintext, contact
 * names, queue IDs or network addresses.
 */
void ctx_log(struct sotto_ctx *ctx, enum sotto_log_level level, const char *fmt, ...)
        SOTTO_PRINTF(3, 4);

#endif /* SOTTO_CORE_CTX_H */
