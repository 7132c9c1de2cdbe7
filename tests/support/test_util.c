/* SPDX-License-Identifier: MIT */
/*
 * test_util.c - see test_util.h. Test code only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "test_util.h"

uint8_t *tu_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *out = malloc(n / 2 + 1);
	size_t got = 0;

	assert_non_null(out);
	if (n % 2 != 0 || sodium_hex2bin(out, n / 2 + 1, hex, n, NULL, &got, NULL) != 0 ||
	    got != n / 2)
		fail_msg("bad hex string: %.40s", hex);
	*len = got;
	return out;
}

void tu_hex_fixed(const char *hex, uint8_t *out, size_t out_len)
{
	size_t len = 0;
	uint8_t *b = tu_hex(hex, &len);
	if (len != out_len)
		fail_msg("hex is %zu bytes, want %zu", len, out_len);
	memcpy(out, b, len);
	free(b);
}

json_t *tu_load_vectors(const char *rel)
{
	char path[1024];
	json_error_t err;

	snprintf(path, sizeof(path), "%s/%s", SOTTO_VECTORS_DIR, rel);
	json_t *j = json_load_file(path, 0, &err);
	if (j == NULL)
		fail_msg("cannot load test vectors %s: %s (configure with "
		         "-DSOTTO_VECTORS_DIR=...)", path, err.text);
	return j;
}

uint8_t *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;

	if (f == NULL)
		return NULL;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 4096;
			uint8_t *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	*len = n;
	return buf;
}

static bool tu_alloc_allowed(struct tu_alloc *s)
{
	s->n_allocs++;
	return s->fail_at == 0 || s->n_allocs < s->fail_at;
}

static void *tu_alloc_fn(void *user, size_t size)
{
	struct tu_alloc *s = user;
	if (!tu_alloc_allowed(s))
		return NULL;
	void *p = malloc(size);
	if (p != NULL)
		s->n_live++;
	return p;
}

static void tu_free_fn(void *user, void *ptr)
{
	struct tu_alloc *s = user;
	if (ptr != NULL)
		s->n_live--;
	free(ptr);
}

static void *tu_secure_alloc_fn(void *user, size_t size)
{
	struct tu_alloc *s = user;
	if (!tu_alloc_allowed(s))
		return NULL;
	void *p = sodium_malloc(size);
	if (p != NULL)
		s->n_live++;
	return p;
}

static void tu_secure_free_fn(void *user, void *ptr)
{
	struct tu_alloc *s = user;
	if (ptr != NULL)
		s->n_live--;
	sodium_free(ptr);
}

void tu_alloc_hooks(struct tu_alloc *state, struct sotto_allocator *out)
{
	*out = (struct sotto_allocator){ tu_alloc_fn, tu_free_fn, tu_secure_alloc_fn,
	                                 tu_secure_free_fn, state };
}

void tu_rng_init(struct tu_rng *rng, uint64_t seed)
{
	memset(rng, 0, sizeof(*rng));
	for (unsigned i = 0; i < 8; i++)
		rng->seed[i] = (uint8_t)(seed >> (8 * i));
}

void tu_rng_push(struct tu_rng *rng, const uint8_t *bytes, size_t len)
{
	assert_true(rng->n_queued + len <= sizeof(rng->queued));
	memcpy(rng->queued + rng->n_queued, bytes, len);
	rng->n_queued += len;
}

void tu_rng_fill(void *user, uint8_t *buf, size_t len)
{
	struct tu_rng *rng = user;
	size_t from_queue = rng->n_queued - rng->pos;

	if (from_queue > len)
		from_queue = len;
	memcpy(buf, rng->queued + rng->pos, from_queue);
	rng->pos += from_queue;
	if (rng->pos == rng->n_queued)
		rng->pos = rng->n_queued = 0;
	if (len > from_queue) {
		uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = { 0 };
		for (unsigned i = 0; i < 8; i++)
			nonce[i] = (uint8_t)(rng->counter >> (8 * i));
		rng->counter++;
		crypto_stream_chacha20(buf + from_queue, len - from_queue, nonce, rng->seed);
	}
}

uint64_t tu_clock_read(void *user)
{
	return *(const uint64_t *)user;
}

sotto_ctx *tu_ctx(struct tu_alloc *alloc, struct tu_rng *rng, uint64_t *clock_ms)
{
	struct sotto_allocator hooks;
	struct sotto_ctx_config cfg = { 0 };
	sotto_ctx *ctx = NULL;

	if (alloc != NULL) {
		tu_alloc_hooks(alloc, &hooks);
		cfg.allocator = &hooks;
	}
	if (rng != NULL) {
		cfg.rng = tu_rng_fill;
		cfg.rng_user = rng;
	}
	if (clock_ms != NULL) {
		cfg.clock = tu_clock_read;
		cfg.clock_user = clock_ms;
	}
	assert_int_equal(sotto_ctx_new(&ctx, &cfg), SOTTO_OK);
	return ctx;
}
