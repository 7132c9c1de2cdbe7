/* SPDX-License-Identifier: MIT */
/*
 * ctx_test.c - the context: defaults, injected hooks, allocation accounting,
 * error strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/ctx.h"
#include "core/err.h"
#include "test_util.h"

static void ctx_new__invalid__null_out(void **state)
{
	(void)state;
	assert_int_equal(sotto_ctx_new(NULL, NULL), SOTTO_ERR_INVALID);
}

static void ctx_new__defaults__null_config(void **state)
{
	sotto_ctx *ctx = NULL;
	uint8_t a[32] = {0}, b[32] = {0};
	(void)state;

	assert_int_equal(sotto_ctx_new(&ctx, NULL), SOTTO_OK);
	ctx_random(ctx, a, sizeof(a));
	ctx_random(ctx, b, sizeof(b));
	assert_memory_not_equal(a, b, sizeof(a));
	uint64_t t1 = ctx_now_ms(ctx);
	uint64_t t2 = ctx_now_ms(ctx);
	assert_true(t2 >= t1);
	assert_false(ctx_log_enabled(ctx, SOTTO_LOG_ERROR));
	sotto_ctx_free(ctx);
	sotto_ctx_free(NULL);
}

static void ctx_new__nomem__allocator_refuses(void **state)
{
	struct tu_alloc alloc = {.fail_at = 1};
	struct sotto_allocator hooks;
	struct sotto_ctx_config cfg = {.allocator = &hooks};
	sotto_ctx *ctx = (sotto_ctx *)&alloc; /* must be cleared */
	(void)state;

	tu_alloc_hooks(&alloc, &hooks);
	assert_int_equal(sotto_ctx_new(&ctx, &cfg), SOTTO_ERR_NOMEM);
	assert_null(ctx);
	assert_int_equal(alloc.n_live, 0);
}

static void *no_secure_alloc(void *user, size_t size)
{
	(void)user;
	(void)size;
	return NULL;
}

static void ctx_new__invalid__only_one_secure_hook(void **state)
{
	struct sotto_allocator hooks = {.secure_alloc = no_secure_alloc};
	struct sotto_ctx_config cfg = {.allocator = &hooks};
	sotto_ctx *ctx = NULL;
	(void)state;

	assert_int_equal(sotto_ctx_new(&ctx, &cfg), SOTTO_ERR_INVALID);
	assert_null(ctx);
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0)
			return false;
	}
	return true;
}

/*
 * The default secure allocator hands a freed region out again, wiped, for
 * a request of exactly its size, and keeps at most 8 of them.
 */
static void ctx_secure_alloc__reuse__wiped_same_size_only(void **state)
{
	enum { N = 12 };
	sotto_ctx *ctx = NULL;
	uint8_t *p, *q, *r, *many[N], *again[N];
	(void)state;

	assert_int_equal(sotto_ctx_new(&ctx, NULL), SOTTO_OK);
	assert_null(ctx_secure_alloc(ctx, 0));
	p = ctx_secure_alloc(ctx, 100);
	assert_non_null(p);
	memset(p, 0xab, 100);
	ctx_secure_free(ctx, p);
	r = ctx_secure_alloc(ctx, 101);
	assert_non_null(r);
	assert_ptr_not_equal(r, p);
	q = ctx_secure_alloc(ctx, 100);
	assert_ptr_equal(q, p);
	assert_true(is_zero(q, 100));
	ctx_secure_free(ctx, q);
	ctx_secure_free(ctx, r);
	ctx_secure_free(ctx, NULL);

	for (size_t i = 0; i < N; i++) {
		many[i] = ctx_secure_alloc(ctx, 32);
		assert_non_null(many[i]);
		memset(many[i], 0x5a, 32);
	}
	assert_int_equal(ctx_secure_spare(ctx), 2); /* the 100 and the 101 bytes */
	for (size_t i = 0; i < N; i++)
		ctx_secure_free(ctx, many[i]);
	assert_int_equal(ctx_secure_spare(ctx), 8);
	for (size_t i = 0; i < N; i++) {
		again[i] = ctx_secure_alloc(ctx, 32);
		assert_non_null(again[i]);
		if (i < 6) /* from the spares; fresh sodium_malloc bytes are not zero */
			assert_true(is_zero(again[i], 32));
	}
	assert_int_equal(ctx_secure_spare(ctx), 2); /* six of 32 bytes taken again */
	for (size_t i = 0; i < N; i++)
		ctx_secure_free(ctx, again[i]);
	sotto_ctx_free(ctx);
}

static void ctx_random__scripted__rng_injected(void **state)
{
	struct tu_rng rng;
	uint8_t want[5] = {1, 2, 3, 4, 5}, got[5];
	(void)state;

	tu_rng_init(&rng, 7);
	tu_rng_push(&rng, want, sizeof(want));
	sotto_ctx *ctx = tu_ctx(NULL, &rng, NULL);
	ctx_random(ctx, got, sizeof(got));
	assert_memory_equal(got, want, sizeof(want));
	sotto_ctx_free(ctx);
}

static void ctx_now__manual__clock_injected(void **state)
{
	uint64_t now = 1234;
	(void)state;

	sotto_ctx *ctx = tu_ctx(NULL, NULL, &now);
	assert_int_equal(ctx_now_ms(ctx), 1234);
	now += 5000;
	assert_int_equal(ctx_now_ms(ctx), 6234);
	sotto_ctx_free(ctx);
}

static void ctx_alloc__accounted__through_hooks(void **state)
{
	struct tu_alloc alloc = {0};
	(void)state;

	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	void *p = ctx_alloc(ctx, 10);
	void *z = ctx_calloc(ctx, 4, 8);
	void *s = ctx_secure_alloc(ctx, 32);
	assert_non_null(p);
	assert_non_null(z);
	assert_non_null(s);
	for (size_t i = 0; i < 32; i++)
		assert_int_equal(((uint8_t *)z)[i], 0);
	assert_null(ctx_alloc(ctx, 0));
	assert_null(ctx_calloc(ctx, SIZE_MAX / 2, 4)); /* overflow refused */
	assert_int_equal(alloc.n_live, 4);
	ctx_free(ctx, p);
	ctx_free(ctx, z);
	ctx_secure_free(ctx, s);
	ctx_free(ctx, NULL);
	ctx_secure_free(ctx, NULL);
	sotto_ctx_free(ctx);
	assert_int_equal(alloc.n_live, 0);
}

struct log_capture {
	int n_lines;
	enum sotto_log_level last_level;
	char last[300];
};

static void capture_log(void *user, enum sotto_log_level level, const char *msg)
{
	struct log_capture *c = user;
	c->n_lines++;
	c->last_level = level;
	snprintf(c->last, sizeof(c->last), "%s", msg);
}

static void ctx_log__filtered__above_level(void **state)
{
	struct log_capture cap = {0};
	struct sotto_ctx_config cfg = {
	        .log = capture_log, .log_user = &cap, .log_level = SOTTO_LOG_WARN};
	sotto_ctx *ctx = NULL;
	char longtext[400];
	(void)state;

	assert_int_equal(sotto_ctx_new(&ctx, &cfg), SOTTO_OK);
	ctx_log(ctx, SOTTO_LOG_INFO, "dropped %d", 1);
	assert_int_equal(cap.n_lines, 0);
	ctx_log(ctx, SOTTO_LOG_WARN, "kept %d", 2);
	assert_int_equal(cap.n_lines, 1);
	assert_string_equal(cap.last, "kept 2");
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	ctx_log(ctx, SOTTO_LOG_ERROR, "%s", longtext);
	assert_int_equal(strlen(cap.last), 255); /* truncated, never overflowed */
	sotto_ctx_free(ctx);
}

static void strerror__distinct__every_code(void **state)
{
	(void)state;
	for (int i = 0; i <= SOTTO_ERR_NOT_FOUND; i++) {
		const char *a = sotto_strerror((sotto_err)i);
		assert_non_null(a);
		assert_string_not_equal(a, "unknown error");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(a, sotto_strerror((sotto_err)j));
	}
	assert_string_equal(sotto_strerror((sotto_err)9999), "unknown error");
	assert_non_null(sotto_version());
	assert_int_equal(SOTTO_RAISE(SOTTO_ERR_PROTOCOL), SOTTO_ERR_PROTOCOL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ctx_new__invalid__null_out),
	        cmocka_unit_test(ctx_new__defaults__null_config),
	        cmocka_unit_test(ctx_new__nomem__allocator_refuses),
	        cmocka_unit_test(ctx_new__invalid__only_one_secure_hook),
	        cmocka_unit_test(ctx_secure_alloc__reuse__wiped_same_size_only),
	        cmocka_unit_test(ctx_random__scripted__rng_injected),
	        cmocka_unit_test(ctx_now__manual__clock_injected),
	        cmocka_unit_test(ctx_alloc__accounted__through_hooks),
	        cmocka_unit_test(ctx_log__filtered__above_level),
	        cmocka_unit_test(strerror__distinct__every_code),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
