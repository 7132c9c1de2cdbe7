/* SPDX-License-Identifier: MIT */
/*
 * drbg.h - the context's default random generator (core layer).
 *
 * A user-space ChaCha20 generator with fast key erasure, seeded (and every
 * DRBG_RESEED_BYTES reseeded) from the operating system through libsodium's
 * randombytes_buf(). It exists because the end-to-end layer and the store draw
 * a few dozen bytes per message, and one getrandom() system call per draw was
 * a visible share of a message's cost.
 *
 * Guarantees: earlier outputs cannot be recovered from the state (the key is
 * replaced before any output of a refill is served, and served bytes are
 * wiped); a forked child never repeats its parent's stream (see
 * enum drbg_fork_guard). Not thread-safe: like its context, one thread at a
 * time.
 */
#ifndef SOTTO_CORE_DRBG_H
#define SOTTO_CORE_DRBG_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

struct drbg;

/* How a generator notices that it now runs in a forked child. */
enum drbg_fork_guard {
	/*
	 * The state page is marked wipe-on-fork where the kernel offers it
	 * (Linux 4.14 and later), so a child finds it zeroed and reseeds at no
	 * cost per call; elsewhere this falls back to DRBG_FORK_PID.
	 */
	DRBG_FORK_AUTO = 0,
	/* Every draw compares getpid() with the seeding process (one system call). */
	DRBG_FORK_PID = 1,
};

/*
 * Makes a seeded generator in its own locked, non-dumped memory mapping.
 * *out is set to NULL first; on success it owns the generator. libsodium must
 * be initialised (sodium_init) before the call.
 * Errors: SOTTO_ERR_NOMEM (the operating system refused the mapping).
 */
SOTTO_NODISCARD sotto_err drbg_new(enum drbg_fork_guard guard, struct drbg **out);

/* Wipes and unmaps d; NULL does nothing. Safe in a forked child. */
void drbg_free(struct drbg *SOTTO_NULLABLE d);

/*
 * Fills buf with len random bytes (len may be 0). Cannot fail: reseeding uses
 * randombytes_buf(), which never returns an error.
 */
void drbg_fill(struct drbg *d, uint8_t *buf, size_t len);

#endif /* SOTTO_CORE_DRBG_H */
