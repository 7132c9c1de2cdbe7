/* SPDX-License-Identifier: MIT */
/*
 * drbg_test.c - the default generator: its construction against an
 * independent ChaCha20 computation, wiping of served bytes, reseeding, fork
 * safety (child and grandchild processes, both fork guards), and refused
 * mappings at drbg_new() and sotto_ctx_new().
 *
 * Fork tests: the parent leaves unserved bytes in the buffer, forks, the child
 * draws and sends its bytes through a pipe, and the parent compares them with
 * its own next bytes. Without the fork guard both would serve the same
 * buffered bytes and key, so the comparison fails. Children never call
 * cmocka; they report through the pipe and their exit status.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/bytes.h"
#include "core/ctx.h"
#include "core/drbg_int.h"
#include "test_util.h"

enum { FORK_DRAW_LEN = 64 };

static struct drbg *new_drbg(enum drbg_fork_guard guard)
{
	struct drbg *d = NULL;
	assert_int_equal(drbg_new(guard, &d), SOTTO_OK);
	assert_non_null(d);
	return d;
}

/* Puts d into a known state: key, an empty buffer, no streams made yet. */
static void set_state(struct drbg *d, uint8_t fill)
{
	memset(d->key, fill, sizeof(d->key));
	memset(d->stream, 0, sizeof(d->stream));
	d->pos = DRBG_STREAM_LEN;
	d->n_streams = 0;
	d->n_since_seed = 0;
}

/* The keystream the construction must produce: ChaCha20(key, le64(n)). */
static void ref_stream(uint8_t *out, size_t len, uint64_t n, const uint8_t key[DRBG_KEY_LEN])
{
	uint8_t nonce[DRBG_NONCE_LEN];
	bytes_store_le64(nonce, n);
	assert_int_equal(crypto_stream_chacha20(out, len, nonce, key), 0);
}

static void assert_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		assert_int_equal(p[i], 0);
}

static void drbg_fill__matches_construction__small_draws(void **state)
{
	struct drbg *d = new_drbg(DRBG_FORK_AUTO);
	uint8_t k0[DRBG_KEY_LEN], s0[DRBG_STREAM_LEN], s1[DRBG_STREAM_LEN];
	uint8_t got[DRBG_OUT_LEN];
	(void)state;

	set_state(d, 0x42);
	memset(k0, 0x42, sizeof(k0));
	ref_stream(s0, sizeof(s0), 0, k0);
	ref_stream(s1, sizeof(s1), 1, s0); /* the second key is s0's first 32 bytes */

	drbg_fill(d, got, 48);
	assert_memory_equal(got, s0 + DRBG_KEY_LEN, 48);
	assert_memory_equal(d->key, s0, DRBG_KEY_LEN); /* key replaced before serving */
	assert_int_equal(d->pos, DRBG_KEY_LEN + 48);
	assert_zero(d->stream, d->pos); /* the new key and served bytes are wiped */

	/* Crossing a refill: the rest of s0, then the start of s1. */
	drbg_fill(d, got, DRBG_OUT_LEN);
	assert_memory_equal(got, s0 + DRBG_KEY_LEN + 48, DRBG_OUT_LEN - 48);
	assert_memory_equal(got + DRBG_OUT_LEN - 48, s1 + DRBG_KEY_LEN, 48);
	assert_memory_equal(d->key, s1, DRBG_KEY_LEN);
	assert_zero(d->stream, d->pos);
	assert_int_equal(d->n_streams, 2);
	drbg_free(d);
}

static void drbg_fill__matches_construction__large_draw(void **state)
{
	struct drbg *d = new_drbg(DRBG_FORK_AUTO);
	uint8_t k0[DRBG_KEY_LEN], s0[DRBG_STREAM_LEN], keys[2 * DRBG_KEY_LEN];
	uint8_t zero_nonce[DRBG_NONCE_LEN] = {0};
	size_t big_len = 100000;
	uint8_t *big = malloc(big_len), *want = malloc(big_len);
	uint8_t small[16];
	(void)state;

	assert_non_null(big);
	assert_non_null(want);
	set_state(d, 0x07);
	memset(k0, 0x07, sizeof(k0));
	ref_stream(s0, sizeof(s0), 0, k0);
	ref_stream(keys, sizeof(keys), 1, s0);
	assert_int_equal(crypto_stream_chacha20(want, big_len, zero_nonce, keys + DRBG_KEY_LEN), 0);

	drbg_fill(d, small, 10); /* leaves s0 partly served */
	drbg_fill(d, big, big_len);
	assert_memory_equal(big, want, big_len);
	assert_memory_equal(d->key, keys, DRBG_KEY_LEN);
	drbg_fill(d, small, sizeof(small)); /* the buffer carries on where it was */
	assert_memory_equal(small, s0 + DRBG_KEY_LEN + 10, sizeof(small));

	/* Just over the buffer goes direct too; exactly the buffer does not. */
	uint64_t n = d->n_streams;
	drbg_fill(d, big, DRBG_OUT_LEN + 1);
	assert_int_equal(d->n_streams, n + 1);
	drbg_fill(d, big, 0);
	assert_int_equal(d->n_streams, n + 1);
	free(big);
	free(want);
	drbg_free(d);
}

static void drbg_fill__reseeds__after_reseed_bytes(void **state)
{
	struct drbg *d = new_drbg(DRBG_FORK_AUTO);
	uint8_t k0[DRBG_KEY_LEN], s0[DRBG_STREAM_LEN], got[48];
	(void)state;

	memset(k0, 0x99, sizeof(k0));
	ref_stream(s0, sizeof(s0), 0, k0);

	set_state(d, 0x99);
	d->n_since_seed = DRBG_RESEED_BYTES - 1;
	drbg_fill(d, got, sizeof(got));
	assert_memory_equal(got, s0 + DRBG_KEY_LEN, sizeof(got)); /* not due yet */

	set_state(d, 0x99);
	d->n_since_seed = DRBG_RESEED_BYTES;
	drbg_fill(d, got, sizeof(got));
	assert_memory_not_equal(got, s0 + DRBG_KEY_LEN, sizeof(got));
	assert_int_equal(d->n_since_seed, DRBG_STREAM_LEN); /* counted from the reseed */
	drbg_free(d);
}

static void drbg_fill__differs__instances_and_calls(void **state)
{
	struct drbg *a = new_drbg(DRBG_FORK_AUTO), *b = new_drbg(DRBG_FORK_PID);
	uint8_t x[32], y[32], z[32];
	(void)state;

	drbg_fill(a, x, sizeof(x));
	drbg_fill(b, y, sizeof(y));
	drbg_fill(a, z, sizeof(z));
	assert_memory_not_equal(x, y, sizeof(x));
	assert_memory_not_equal(x, z, sizeof(x));
	assert_memory_not_equal(y, z, sizeof(x));
	drbg_free(a);
	drbg_free(b);
	drbg_free(NULL);
}

/* Ends a forked process: sends was_seeded, then its next FORK_DRAW_LEN bytes. */
static void child_report(struct drbg *d, int fd, uint8_t was_seeded)
{
	uint8_t msg[1 + FORK_DRAW_LEN];

	msg[0] = was_seeded;
	drbg_fill(d, msg + 1, FORK_DRAW_LEN);
	_exit(write(fd, msg, sizeof(msg)) == (ssize_t)sizeof(msg) ? 0 : 2);
}

/*
 * Runs in a forked child: reports whether the inherited state read as seeded,
 * then the child's next bytes. With depth 2 the child first draws (seeding its
 * own state and leaving bytes buffered) and forks a grandchild that reports
 * first, so the pipe carries the grandchild's message and then the child's.
 */
static void child_draw(struct drbg *d, int fd, int depth)
{
	uint8_t was_seeded = d->is_seeded;

	if (depth > 1) {
		uint8_t warm[16];
		drbg_fill(d, warm, sizeof(warm));
		pid_t g = fork();
		if (g < 0)
			_exit(3);
		if (g == 0)
			child_report(d, fd, d->is_seeded);
		int st = 0;
		if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			_exit(4);
	}
	child_report(d, fd, was_seeded);
}

/* Forks a child_draw() of depth and reads its depth messages into got. */
static void fork_and_read(struct drbg *d, int depth, uint8_t *got, size_t got_len)
{
	int fds[2];
	size_t have = 0;
	int st = 0;

	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		child_draw(d, fds[1], depth);
	}
	close(fds[1]);
	while (have < got_len) {
		ssize_t n = read(fds[0], got + have, got_len - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void check_fork(enum drbg_fork_guard guard, int depth)
{
	struct drbg *d = new_drbg(guard);
	uint8_t first[16], mine[FORK_DRAW_LEN];
	uint8_t got[2][1 + FORK_DRAW_LEN];

	drbg_fill(d, first, sizeof(first)); /* unserved bytes stay in the buffer */
	bool wiped = d->check_pid == 0;
	fork_and_read(d, depth, &got[0][0], (size_t)depth * sizeof(got[0]));
	drbg_fill(d, mine, sizeof(mine));
	for (int i = 0; i < depth; i++) {
		assert_memory_not_equal(got[i] + 1, mine, FORK_DRAW_LEN);
		/* A wipe-on-fork page reads as unseeded in every descendant. */
		assert_int_equal(got[i][0], wiped ? 0 : 1);
	}
	if (depth == 2) /* the grandchild against its parent's next bytes */
		assert_memory_not_equal(got[0] + 1, got[1] + 1, FORK_DRAW_LEN);
	drbg_free(d);
}

static void drbg_fill__child_differs__wipe_on_fork(void **state)
{
	(void)state;
#ifdef __linux__
	/* Linux 4.14+ has MADV_WIPEONFORK; the AUTO guard must have used it. */
	struct drbg *d = new_drbg(DRBG_FORK_AUTO);
	assert_int_equal(d->check_pid, 0);
	drbg_free(d);
#endif
	check_fork(DRBG_FORK_AUTO, 1);
}

static void drbg_fill__child_differs__pid_guard(void **state)
{
	(void)state;
	check_fork(DRBG_FORK_PID, 1);
}

static void drbg_fill__grandchild_differs__both_guards(void **state)
{
	(void)state;
	check_fork(DRBG_FORK_AUTO, 2);
	check_fork(DRBG_FORK_PID, 2);
}

static void ctx_random__child_differs__default_rng(void **state)
{
	sotto_ctx *ctx = NULL;
	uint8_t mine[FORK_DRAW_LEN], got[FORK_DRAW_LEN];
	int fds[2], st = 0;
	size_t have = 0;
	(void)state;

	assert_int_equal(sotto_ctx_new(&ctx, NULL), SOTTO_OK);
	ctx_random(ctx, mine, 10);
	assert_int_equal(pipe(fds), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		ctx_random(ctx, got, sizeof(got));
		_exit(write(fds[1], got, sizeof(got)) == (ssize_t)sizeof(got) ? 0 : 2);
	}
	close(fds[1]);
	while (have < sizeof(got)) {
		ssize_t n = read(fds[0], got + have, sizeof(got) - have);
		assert_true(n > 0);
		have += (size_t)n;
	}
	close(fds[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	ctx_random(ctx, mine, sizeof(mine));
	assert_memory_not_equal(got, mine, sizeof(got));
	sotto_ctx_free(ctx);
}

static void ctx_random__differs__across_contexts(void **state)
{
	sotto_ctx *a = NULL, *b = NULL;
	uint8_t x[48], y[48], big[4096];
	(void)state;

	assert_int_equal(sotto_ctx_new(&a, NULL), SOTTO_OK);
	assert_int_equal(sotto_ctx_new(&b, NULL), SOTTO_OK);
	ctx_random(a, x, sizeof(x));
	ctx_random(b, y, sizeof(y));
	assert_memory_not_equal(x, y, sizeof(x));
	ctx_random(a, y, sizeof(y));
	assert_memory_not_equal(x, y, sizeof(x));
	ctx_random(a, big, sizeof(big));
	assert_memory_not_equal(big, big + 2048, 2048);
	sotto_ctx_free(a);
	sotto_ctx_free(b);
}

/*
 * A counting allocator for the refused-mapping test: records successes so the
 * test can tell "the context was allocated, then the mapping failed" from
 * "the context allocation itself failed".
 */
struct count_alloc {
	int n_ok;
	int n_live;
};

static void *ca_alloc(void *user, size_t size)
{
	struct count_alloc *c = user;
	void *p = malloc(size);
	if (p != NULL) {
		c->n_ok++;
		c->n_live++;
	}
	return p;
}

static void ca_free(void *user, void *ptr)
{
	struct count_alloc *c = user;
	if (ptr != NULL)
		c->n_live--;
	free(ptr);
}

/* Exit codes of the refused-mapping child, so a failure says which step broke. */
enum {
	NOMAP_OK = 0,
	NOMAP_RLIMIT = 10,    /* could not lower RLIMIT_AS */
	NOMAP_DRBG = 11,      /* drbg_new did not report SOTTO_ERR_NOMEM */
	NOMAP_CTX = 12,       /* sotto_ctx_new did not report SOTTO_ERR_NOMEM */
	NOMAP_CTX_ALLOC = 13, /* the context allocation itself had failed */
	NOMAP_LEAK = 14,      /* the context was not freed */
	NOMAP_INJECTED = 15,  /* an injected rng still needed a mapping */
};

static int nomap_child(void)
{
	struct count_alloc c = {0};
	struct sotto_allocator hooks = {ca_alloc, ca_free, NULL, NULL, &c};
	struct sotto_ctx_config cfg = {.allocator = &hooks};
	struct drbg *d = (struct drbg *)&c; /* must be cleared */
	sotto_ctx *ctx = (sotto_ctx *)&c;   /* must be cleared */
	struct rlimit lim = {0, 0};
	struct tu_rng rng;

	tu_rng_init(&rng, 1);
	free(malloc(4096)); /* the heap has room, so only new mappings fail */
	if (setrlimit(RLIMIT_AS, &lim) != 0)
		return NOMAP_RLIMIT;
	if (drbg_new(DRBG_FORK_AUTO, &d) != SOTTO_ERR_NOMEM || d != NULL)
		return NOMAP_DRBG;
	if (sotto_ctx_new(&ctx, &cfg) != SOTTO_ERR_NOMEM || ctx != NULL)
		return NOMAP_CTX;
	if (c.n_ok != 1)
		return NOMAP_CTX_ALLOC;
	if (c.n_live != 0)
		return NOMAP_LEAK;
	/* A configured rng bypasses the generator: no mapping is needed. */
	cfg.rng = tu_rng_fill;
	cfg.rng_user = &rng;
	if (sotto_ctx_new(&ctx, &cfg) != SOTTO_OK)
		return NOMAP_INJECTED;
	sotto_ctx_free(ctx);
	return c.n_live == 0 ? NOMAP_OK : NOMAP_LEAK;
}

static void drbg_new__nomem__mappings_refused(void **state)
{
	int st = 0;
	(void)state;

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(nomap_child());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), NOMAP_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(drbg_fill__matches_construction__small_draws),
	        cmocka_unit_test(drbg_fill__matches_construction__large_draw),
	        cmocka_unit_test(drbg_fill__reseeds__after_reseed_bytes),
	        cmocka_unit_test(drbg_fill__differs__instances_and_calls),
	        cmocka_unit_test(drbg_fill__child_differs__wipe_on_fork),
	        cmocka_unit_test(drbg_fill__child_differs__pid_guard),
	        cmocka_unit_test(drbg_fill__grandchild_differs__both_guards),
	        cmocka_unit_test(ctx_random__child_differs__default_rng),
	        cmocka_unit_test(ctx_random__differs__across_contexts),
	        cmocka_unit_test(drbg_new__nomem__mappings_refused),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
