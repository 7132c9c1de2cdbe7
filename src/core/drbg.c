/* SPDX-License-Identifier: MIT */
/*
 * drbg.c - the context's default random generator: ChaCha20 with fast key
 * erasure, seeded from the operating system (core layer). The construction is
 * described in drbg_int.h.
 *
 * Memory: the state lives in a mapping of its own (one or more pages between
 * two inaccessible guard pages), locked against swapping and excluded from
 * core dumps, rather than in ctx_secure_alloc() memory. Wipe-on-fork is a
 * property of whole pages of a mapping: applied to memory from the context's
 * secure allocator it would also act on whatever else the embedder's
 * allocator keeps on those pages, and would outlive our use of them. Owning
 * the mapping makes the advice exact and lets drbg_free() simply unmap it. The
 * price is that this one allocation bypasses the allocator hooks, so tests
 * cannot fail it through them (drbg_test.c fails it with RLIMIT_AS instead).
 *
 * Fork safety: with DRBG_FORK_AUTO the state pages are marked
 * MADV_WIPEONFORK, a child sees them zeroed (is_seeded == 0) and reseeds
 * before serving anything; it never holds a copy of the parent's key or
 * buffered output. Where the advice is missing (no MADV_WIPEONFORK, or a
 * kernel that rejects it) every draw compares getpid() with the seeding
 * process instead, and a mismatch wipes and reseeds.
 *
 * Platform specifics (mmap, mprotect, mlock, madvise, getpid, sysconf) are
 * confined to the os_* functions below. Locking and dump exclusion are best
 * effort, as in sodium_malloc(): RLIMIT_MEMLOCK must not make contexts fail.
 */

/*
 * MAP_ANONYMOUS, madvise() and the MADV_* advice are not in POSIX.1-2008,
 * which the build selects; glibc exposes them under _DEFAULT_SOURCE. Only this
 * file needs them, so only this file asks for them.
 */
#define _DEFAULT_SOURCE

#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sodium.h>

#include "core/bytes.h"
#include "core/compat.h"
#include "core/drbg_int.h"

_Static_assert(DRBG_KEY_LEN == crypto_stream_chacha20_KEYBYTES, "ChaCha20 key size");
_Static_assert(DRBG_NONCE_LEN == crypto_stream_chacha20_NONCEBYTES, "ChaCha20 nonce size");
_Static_assert(DRBG_OUT_LEN > 0 && DRBG_STREAM_LEN % 64 == 0, "whole ChaCha20 blocks");

/* --- operating system --------------------------------------------------- */

static size_t os_page_size(void)
{
	long p = sysconf(_SC_PAGESIZE);
	return p > 0 ? (size_t)p : 4096; /* POSIX requires it; 4096 keeps this total */
}

/* Bytes of the state mapping, guard pages excluded: whole pages. */
static size_t os_state_len(void)
{
	size_t page = os_page_size();
	return (sizeof(struct drbg) + page - 1) / page * page;
}

/* Locks len bytes at p in RAM; failure (RLIMIT_MEMLOCK) only costs that. */
static void os_lock(void *p, size_t len)
{
	(void)mlock(p, len);
}

static pid_t os_pid(void)
{
	return getpid();
}

/* Marks len bytes at p to read as zero in a forked child; false if unsupported. */
static bool os_wipe_on_fork(void *p, size_t len)
{
#ifdef MADV_WIPEONFORK
	return madvise(p, len, MADV_WIPEONFORK) == 0;
#else
	(void)p;
	(void)len;
	return false;
#endif
}

/*
 * Maps len zeroed, writable bytes, left out of core dumps, between two guard
 * pages; NULL when the system refuses. The caller locks them (os_lock).
 */
static void *os_map_secret(size_t len)
{
	size_t page = os_page_size();
	uint8_t *base = mmap(NULL, len + 2 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base + page, len, PROT_READ | PROT_WRITE) != 0) {
		(void)munmap(base, len + 2 * page);
		return NULL;
	}
#ifdef MADV_DONTDUMP
	(void)madvise(base + page, len, MADV_DONTDUMP);
#endif
	return base + page;
}

/* Wipes and unmaps what os_map_secret(len) returned. */
static void os_unmap_secret(void *p, size_t len)
{
	size_t page = os_page_size();
	sodium_memzero(p, len);
	(void)munmap((uint8_t *)p - page, len + 2 * page);
}

/* --- generator ------------------------------------------------------------ */

/*
 * Starts a fresh stream from the operating system, forgetting all previous
 * state except how forks are detected, and locks the state pages: at creation,
 * and again in a forked child, which does not inherit memory locks.
 */
static void drbg_seed(struct drbg *d)
{
	uint8_t check_pid = d->check_pid;

	sodium_memzero(d, sizeof(*d));
	os_lock(d, os_state_len());
	randombytes_buf(d->key, sizeof(d->key));
	d->pos = DRBG_STREAM_LEN;
	d->pid = os_pid();
	d->check_pid = check_pid;
	d->is_seeded = 1;
}

/*
 * Defence in depth against a state compromise that went unnoticed: fresh
 * system randomness is mixed into the key rather than replacing it, so the
 * result is no weaker than either input.
 */
static void drbg_reseed(struct drbg *d)
{
	uint8_t fresh[DRBG_KEY_LEN];

	randombytes_buf(fresh, sizeof(fresh));
	for (size_t i = 0; i < sizeof(fresh); i++)
		d->key[i] ^= fresh[i];
	d->n_since_seed = 0;
	sodium_memzero(fresh, sizeof(fresh));
}

/* Counts len more keystream bytes towards the next reseed (saturating). */
static void drbg_count(struct drbg *d, size_t len)
{
	uint64_t n = (uint64_t)len;
	d->n_since_seed = n > UINT64_MAX - d->n_since_seed ? UINT64_MAX : d->n_since_seed + n;
}

/*
 * Writes len (> DRBG_KEY_LEN) bytes of the next stream to out and at once
 * moves its first DRBG_KEY_LEN bytes into the key, wiping them from out: the
 * key that produced out no longer exists anywhere.
 */
static void drbg_next_stream(struct drbg *d, uint8_t *out, size_t len)
{
	uint8_t nonce[DRBG_NONCE_LEN];

	if (d->n_since_seed >= DRBG_RESEED_BYTES)
		drbg_reseed(d);
	bytes_store_le64(nonce, d->n_streams);
	d->n_streams++;
	crypto_stream_chacha20(out, len, nonce, d->key);
	memcpy(d->key, out, DRBG_KEY_LEN);
	sodium_memzero(out, DRBG_KEY_LEN);
	drbg_count(d, len);
}

/* Serves a request too large for the buffer under a key made for it alone. */
static void drbg_fill_direct(struct drbg *d, uint8_t *buf, size_t len)
{
	uint8_t keys[2 * DRBG_KEY_LEN]; /* next generator key, then the request key */
	uint8_t nonce[DRBG_NONCE_LEN] = {0};

	drbg_next_stream(d, keys, sizeof(keys));
	crypto_stream_chacha20(buf, len, nonce, keys + DRBG_KEY_LEN);
	drbg_count(d, len);
	sodium_memzero(keys, sizeof(keys));
}

/* Reseeds in a forked child before it can repeat its parent's output. */
static void drbg_check_fork(struct drbg *d)
{
	if (SOTTO_UNLIKELY(!d->is_seeded))
		drbg_seed(d); /* the kernel wiped the page in this child */
	else if (d->check_pid && SOTTO_UNLIKELY(d->pid != os_pid()))
		drbg_seed(d);
}

sotto_err drbg_new(enum drbg_fork_guard guard, struct drbg **out)
{
	size_t len = os_state_len();
	struct drbg *d = NULL;

	*out = NULL;
	d = os_map_secret(len);
	if (d == NULL)
		return SOTTO_ERR_NOMEM;
	d->check_pid = guard == DRBG_FORK_PID || !os_wipe_on_fork(d, len);
	drbg_seed(d);
	*out = d;
	return SOTTO_OK;
}

void drbg_free(struct drbg *d)
{
	if (d != NULL)
		os_unmap_secret(d, os_state_len());
}

void drbg_fill(struct drbg *d, uint8_t *buf, size_t len)
{
	drbg_check_fork(d);
	if (len > DRBG_OUT_LEN) {
		drbg_fill_direct(d, buf, len);
		return;
	}
	while (len > 0) {
		if (d->pos == DRBG_STREAM_LEN) {
			drbg_next_stream(d, d->stream, sizeof(d->stream));
			d->pos = DRBG_KEY_LEN;
		}
		size_t n = DRBG_STREAM_LEN - d->pos;
		if (n > len)
			n = len;
		memcpy(buf, d->stream + d->pos, n);
		sodium_memzero(d->stream + d->pos, n); /* served bytes leave no copy */
		d->pos += n;
		buf += n;
		len -= n;
	}
}
