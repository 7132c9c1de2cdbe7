/* SPDX-License-Identifier: MIT */
/*
 * test_util.h - helpers shared by the cmocka tests: hex, vector files,
 * an allocator that fails on demand, a scripted RNG and a manual clock.
 * Test code only; never linked into libsotto.
 */
#ifndef SOTTO_SUPPORT_TEST_UTIL_H
#define SOTTO_SUPPORT_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <sotto/sotto.h>

/*
 * Decodes hex (any case, no separators) into a new malloc'd buffer; *len gets
 * its length. Fails the test on bad hex. Free with free().
 */
uint8_t *tu_hex(const char *hex, size_t *len);

/* Decodes hex that must be exactly out_len bytes into out; fails the test otherwise. */
void tu_hex_fixed(const char *hex, uint8_t *out, size_t out_len);

/* Loads SOTTO_VECTORS_DIR/rel as JSON; fails the test with a clear message if absent. */
json_t *tu_load_vectors(const char *rel);

/* Reads a whole file into a malloc'd buffer; NULL if it cannot. */
uint8_t *tu_read_file(const char *path, size_t *len);

/*
 * Counting allocator. Allocation number fail_at (1-based, ordinary and secure
 * together) and every later one fail while fail_at != 0; n_live counts
 * allocations not yet freed, so a test can assert nothing leaked.
 */
struct tu_alloc {
	unsigned long n_allocs; /* allocations attempted */
	unsigned long fail_at;  /* 0: never fail */
	long n_live;            /* allocations outstanding */
};
void tu_alloc_hooks(struct tu_alloc *state, struct sotto_allocator *out);

/*
 * Scripted RNG: hands out the bytes queued with tu_rng_push in order, then
 * falls back to a deterministic ChaCha20 stream from seed.
 */
struct tu_rng {
	uint8_t queued[1024];
	size_t n_queued;
	size_t pos;
	uint8_t seed[32];
	uint64_t counter;
};
void tu_rng_init(struct tu_rng *rng, uint64_t seed);
void tu_rng_push(struct tu_rng *rng, const uint8_t *bytes, size_t len);
void tu_rng_fill(void *user, uint8_t *buf, size_t len);

/* Manual clock: returns *(uint64_t *)user. */
uint64_t tu_clock_read(void *user);

/* A context with the given hooks (any may be NULL); fails the test on error. */
sotto_ctx *tu_ctx(struct tu_alloc *alloc, struct tu_rng *rng, uint64_t *clock_ms);

#endif /* SOTTO_SUPPORT_TEST_UTIL_H */
