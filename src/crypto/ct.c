/* SPDX-License-Identifier: MIT */
/*
 * ct.c - constant-time comparisons and wiping over libsodium (crypto layer).
 *
 * libsodium's routines run in time that depends only on the length, and its
 * wipe is one the compiler may not remove as a dead store. Every comparison of
 * a secret-derived value in sotto goes through here, so a timing audit has
 * three functions to read.
 */
#include <sodium.h>

#include "crypto/ct.h"

bool ct_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0;
}

bool ct_is_zero(const uint8_t *p, size_t len)
{
	return sodium_is_zero(p, len) == 1;
}

void ct_wipe(void *p, size_t len)
{
	sodium_memzero(p, len);
}
