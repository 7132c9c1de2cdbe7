/* SPDX-License-Identifier: MIT */
/*
 * secbuf_test.c - secret buffers: zero at creation, an allocation-failure
 * sweep that leaks nothing, and wiping before the secure allocator gets the
 * memory back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/secbuf.h"
#include "test_util.h"

static void secbuf_new__zeroed__fresh_buffer(void **state)
{
	struct tu_alloc alloc = {0};
	struct secbuf *b = NULL;
	(void)state;

	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	for (size_t len = 1; len <= 4096; len *= 3) {
		assert_int_equal(secbuf_new(ctx, len, &b), SOTTO_OK);
		assert_non_null(b);
		assert_int_equal(secbuf_len(b), len);
		const uint8_t *p = secbuf_data(b);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(p[i], 0);
		memset(secbuf_data(b), 0x77, len); /* the whole length is writable */
		secbuf_free(b);
	}
	secbuf_free(NULL);
	sotto_ctx_free(ctx);
	assert_int_equal(alloc.n_live, 0);
}

static void secbuf_new__invalid__zero_length(void **state)
{
	struct secbuf *b = (struct secbuf *)&b; /* must be cleared */
	(void)state;

	sotto_ctx *ctx = tu_ctx(NULL, NULL, NULL);
	assert_int_equal(secbuf_new(ctx, 0, &b), SOTTO_ERR_INVALID);
	assert_null(b);
	sotto_ctx_free(ctx);
}

static void secbuf_new__nomem__every_allocation_fails(void **state)
{
	struct tu_alloc alloc = {0};
	struct secbuf *b = NULL;
	unsigned long n_failures = 0;
	(void)state;

	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	long live_before = alloc.n_live;
	for (unsigned long k = 1;; k++) {
		b = (struct secbuf *)&b;
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc = secbuf_new(ctx, 64, &b);
		assert_int_equal(alloc.n_live, live_before + (rc == SOTTO_OK ? 2 : 0));
		if (rc == SOTTO_OK)
			break;
		assert_int_equal(rc, SOTTO_ERR_NOMEM);
		assert_null(b);
		n_failures++;
	}
	assert_int_equal(n_failures, 2); /* the handle, then the secret bytes */
	alloc.fail_at = 0;
	secbuf_free(b);
	assert_int_equal(alloc.n_live, live_before);
	sotto_ctx_free(ctx);
	assert_int_equal(alloc.n_live, 0);
}

/* A secure allocator that checks the bytes it gets back were wiped. */
struct wipe_check {
	void *ptr;
	size_t size;
	int n_checked;
};

static void *wc_secure_alloc(void *user, size_t size)
{
	struct wipe_check *w = user;
	w->ptr = malloc(size);
	w->size = size;
	return w->ptr;
}

static void wc_secure_free(void *user, void *ptr)
{
	struct wipe_check *w = user;
	assert_ptr_equal(ptr, w->ptr);
	for (size_t i = 0; i < w->size; i++)
		assert_int_equal(((const uint8_t *)ptr)[i], 0);
	w->n_checked++;
	free(ptr);
}

static void secbuf_free__wiped__before_secure_free(void **state)
{
	struct wipe_check w = {0};
	struct sotto_allocator hooks = {NULL, NULL, wc_secure_alloc, wc_secure_free, &w};
	struct sotto_ctx_config cfg = {.allocator = &hooks};
	sotto_ctx *ctx = NULL;
	struct secbuf *b = NULL;
	(void)state;

	assert_int_equal(sotto_ctx_new(&ctx, &cfg), SOTTO_OK);
	assert_int_equal(secbuf_new(ctx, 100, &b), SOTTO_OK);
	memset(secbuf_data(b), 0xc3, secbuf_len(b));
	secbuf_free(b);
	assert_int_equal(w.n_checked, 1);
	sotto_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(secbuf_new__zeroed__fresh_buffer),
	        cmocka_unit_test(secbuf_new__invalid__zero_length),
	        cmocka_unit_test(secbuf_new__nomem__every_allocation_fails),
	        cmocka_unit_test(secbuf_free__wiped__before_secure_free),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
