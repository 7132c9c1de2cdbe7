/* SPDX-License-Identifier: MIT */
/*
 * drbg_int.h - the layout of struct drbg, shared only by drbg.c and
 * drbg_test.c (core layer), so the tests can check the construction against
 * an independent computation and see that served bytes were wiped.
 *
 * Construction (fast key erasure): every refill runs ChaCha20 under the
 * current key with the refill number as nonce for DRBG_STREAM_LEN bytes; the
 * first DRBG_KEY_LEN bytes become the next key at once and the rest are served
 * in order. A request longer than DRBG_OUT_LEN instead takes 2 * DRBG_KEY_LEN
 * bytes of such a stream (next key, then a key for this request only) and is
 * filled by ChaCha20 under the request key with an all-zero nonce.
 */
#ifndef SOTTO_CORE_DRBG_INT_H
#define SOTTO_CORE_DRBG_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/drbg.h"

enum {
	DRBG_KEY_LEN = 32,                             /* ChaCha20 key */
	DRBG_NONCE_LEN = 8,                            /* original ChaCha20 nonce */
	DRBG_STREAM_LEN = 1024,                        /* keystream per refill: 16 blocks */
	DRBG_OUT_LEN = DRBG_STREAM_LEN - DRBG_KEY_LEN, /* bytes served per refill */
	DRBG_RESEED_BYTES = 1 << 20,                   /* keystream between reseeds */
};

/*
 * The whole state sits at the start of one private mapping. A kernel-wiped
 * page reads as all zero, which is_seeded == 0 detects; every field is
 * therefore meaningful only while is_seeded is 1.
 */
struct drbg {
	uint8_t key[DRBG_KEY_LEN];       /* key of the next stream; secret */
	uint8_t stream[DRBG_STREAM_LEN]; /* [pos, end) unserved output, [0, pos) zero */
	size_t pos;                      /* next byte to serve; DRBG_STREAM_LEN when empty */
	uint64_t n_streams;              /* streams made since seeding: the next nonce */
	uint64_t n_since_seed;           /* keystream bytes since the last (re)seed */
	pid_t pid;                       /* process that seeded (DRBG_FORK_PID) */
	uint8_t is_seeded;               /* 0: fresh or wiped by fork; reseed first */
	uint8_t check_pid;               /* 1: no wipe-on-fork page; compare pid */
};

#endif /* SOTTO_CORE_DRBG_INT_H */
