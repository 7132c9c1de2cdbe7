/* SPDX-License-Identifier: MIT */
/*
 * ctx.c - struct sotto_ctx: allocator, RNG, clock and logger hooks (core
 * layer). The context is the only mutable state in libsotto; every layer
 * above reaches these services through ctx.h. Invariant: after a successful
 * sotto_ctx_new() every hook is non-NULL, so callers never test for them.
 *
 * Randomness: a configured rng hook is used as is (tests script their bytes
 * through it). Without one, the context owns a drbg.h generator seeded from
 * the operating system, so a draw costs no system call; the generator is made
 * only in that case and lives exactly as long as the context.
 *
 * Secure memory. Without secure hooks, secrets live in sodium_malloc
 * regions (guard pages, canary, locked against swapping). Making and
 * unmapping one costs five system calls and a TLB flush on every core, and a
 * client makes and frees a few per message (a ratchet loaded from its record
 * and wiped after), so the context keeps up to CTX_SPARE_MAX freed regions,
 * wiped, and hands one out again for a request of exactly its size. Each
 * region starts with a CTX_SPARE_HDR-byte header holding that size; the
 * caller's bytes still end against the guard page. A configured hook is
 * called as is, every time.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "core/ctx.h"
#include "core/drbg.h"

enum {
	CTX_LOG_LINE_MAX = 256,
	CTX_SPARE_MAX = 8,  /* freed secure regions kept for reuse */
	CTX_SPARE_HDR = 16, /* bytes in front of each: the size asked for */
};
_Static_assert(CTX_SECURE_OVERHEAD == 16 + CTX_SPARE_HDR, "libsodium's canary and the header");

/* A freed secure region, wiped: its base (the header) and its size. */
struct ctx_spare {
	uint8_t *base;
	size_t size;
};

struct sotto_ctx {
	struct sotto_allocator allocator; /* every hook set */
	sotto_rng_fn *rng;
	void *rng_user;
	sotto_clock_fn *clock;
	void *clock_user;
	sotto_log_fn *log; /* NULL: logging off */
	void *log_user;
	enum sotto_log_level log_level;
	struct drbg *drbg;      /* owned; NULL when config->rng is set */
	bool is_default_secure; /* no secure hooks configured: the spare regions below */
	size_t n_spare;
	struct ctx_spare spare[CTX_SPARE_MAX]; /* owned sodium_malloc regions */
};

static void *default_alloc(void *user, size_t size)
{
	(void)user;
	return malloc(size);
}

static void default_free(void *user, void *ptr)
{
	(void)user;
	free(ptr);
}

static void default_rng(void *user, uint8_t *buf, size_t len)
{
	drbg_fill(user, buf, len);
}

static uint64_t default_clock(void *user)
{
	(void)user;
	return uv_hrtime() / 1000000u;
}

/* The allocator hooks: each one from config where given, else the default. */
static struct sotto_allocator ctx_allocator(const struct sotto_ctx_config *config)
{
	struct sotto_allocator a = {default_alloc, default_free, NULL, NULL, NULL};

	if (config != NULL && config->allocator != NULL) {
		const struct sotto_allocator *c = config->allocator;
		a.user = c->user;
		if (c->alloc != NULL)
			a.alloc = c->alloc;
		if (c->free != NULL)
			a.free = c->free;
		if (c->secure_alloc != NULL)
			a.secure_alloc = c->secure_alloc;
		if (c->secure_free != NULL)
			a.secure_free = c->secure_free;
	}
	return a;
}

/* Copies the configured hooks into ctx; the rng stays NULL unless configured. */
static void ctx_configure(struct sotto_ctx *ctx, const struct sotto_ctx_config *config)
{
	if (config == NULL)
		return;
	if (config->rng != NULL) {
		ctx->rng = config->rng;
		ctx->rng_user = config->rng_user;
	}
	if (config->clock != NULL) {
		ctx->clock = config->clock;
		ctx->clock_user = config->clock_user;
	}
	ctx->log = config->log;
	ctx->log_user = config->log_user;
	ctx->log_level = config->log_level;
}

sotto_err sotto_ctx_new(sotto_ctx **out, const struct sotto_ctx_config *config)
{
	struct sotto_allocator a;
	struct sotto_ctx *ctx = NULL;
	sotto_err rc;

	if (out == NULL)
		return SOTTO_ERR_INVALID;
	*out = NULL;
	if (config != NULL && config->allocator != NULL &&
	    (config->allocator->secure_alloc == NULL) != (config->allocator->secure_free == NULL))
		return SOTTO_ERR_INVALID;
	if (sodium_init() < 0)
		return SOTTO_ERR_INTERNAL;
	a = ctx_allocator(config);
	ctx = a.alloc(a.user, sizeof(*ctx));
	if (ctx == NULL)
		return SOTTO_ERR_NOMEM;
	*ctx = (struct sotto_ctx){
	        .allocator = a,
	        .clock = default_clock,
	        .log_level = SOTTO_LOG_INFO,
	};
	ctx->is_default_secure = a.secure_alloc == NULL;
	ctx_configure(ctx, config);
	if (ctx->rng == NULL) {
		if ((rc = drbg_new(DRBG_FORK_AUTO, &ctx->drbg)) != SOTTO_OK)
			goto out;
		ctx->rng = default_rng;
		ctx->rng_user = ctx->drbg;
	}
	*out = ctx;
	ctx = NULL; /* moved */
	rc = SOTTO_OK;
out:
	sotto_ctx_free(ctx);
	return rc;
}

void sotto_ctx_free(sotto_ctx *ctx)
{
	if (ctx == NULL)
		return;
	struct sotto_allocator a = ctx->allocator;
	drbg_free(ctx->drbg);
	for (size_t i = 0; i < ctx->n_spare; i++)
		sodium_free(ctx->spare[i].base);
	a.free(a.user, ctx);
}

void *ctx_alloc(struct sotto_ctx *ctx, size_t size)
{
	if (size == 0)
		return NULL;
	return ctx->allocator.alloc(ctx->allocator.user, size);
}

void *ctx_calloc(struct sotto_ctx *ctx, size_t n, size_t size)
{
	if (n == 0 || size == 0 || n > SIZE_MAX / size)
		return NULL;
	void *p = ctx_alloc(ctx, n * size);
	if (p != NULL)
		memset(p, 0, n * size);
	return p;
}

void ctx_free(struct sotto_ctx *ctx, void *ptr)
{
	if (ptr != NULL)
		ctx->allocator.free(ctx->allocator.user, ptr);
}

void *ctx_secure_alloc(struct sotto_ctx *ctx, size_t size)
{
	uint8_t *base;

	if (size == 0)
		return NULL;
	if (!ctx->is_default_secure)
		return ctx->allocator.secure_alloc(ctx->allocator.user, size);
	for (size_t i = ctx->n_spare; i-- > 0;) {
		if (ctx->spare[i].size == size) {
			base = ctx->spare[i].base;
			ctx->spare[i] = ctx->spare[--ctx->n_spare];
			return base + CTX_SPARE_HDR;
		}
	}
	if (size > SIZE_MAX - CTX_SPARE_HDR || (base = sodium_malloc(CTX_SPARE_HDR + size)) == NULL)
		return NULL;
	memcpy(base, &size, sizeof(size));
	return base + CTX_SPARE_HDR;
}

void ctx_secure_free(struct sotto_ctx *ctx, void *ptr)
{
	uint8_t *base;
	size_t size;

	if (ptr == NULL)
		return;
	if (!ctx->is_default_secure) {
		ctx->allocator.secure_free(ctx->allocator.user, ptr);
		return;
	}
	base = (uint8_t *)ptr - CTX_SPARE_HDR;
	memcpy(&size, base, sizeof(size));
	if (ctx->n_spare == CTX_SPARE_MAX) {
		sodium_free(base); /* wipes before unmapping */
		return;
	}
	sodium_memzero(ptr, size);
	ctx->spare[ctx->n_spare++] = (struct ctx_spare){.base = base, .size = size};
}

size_t ctx_secure_spare(const struct sotto_ctx *ctx)
{
	return ctx->n_spare;
}

void ctx_random(struct sotto_ctx *ctx, uint8_t *buf, size_t len)
{
	if (len > 0)
		ctx->rng(ctx->rng_user, buf, len);
}

uint64_t ctx_now_ms(struct sotto_ctx *ctx)
{
	return ctx->clock(ctx->clock_user);
}

bool ctx_log_enabled(const struct sotto_ctx *ctx, enum sotto_log_level level)
{
	return ctx->log != NULL && level <= ctx->log_level;
}

void ctx_log(struct sotto_ctx *ctx, enum sotto_log_level level, const char *fmt, ...)
{
	char line[CTX_LOG_LINE_MAX];
	va_list ap;

	if (!ctx_log_enabled(ctx, level))
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	ctx->log(ctx->log_user, level, line);
}
