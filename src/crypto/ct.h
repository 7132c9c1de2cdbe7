/* SPDX-License-Identifier: MIT */
/*
 * ct.h - constant-time comparisons (crypto layer). Anything derived from a
 * secret (keys, MACs, tags, DH outputs) is compared only through these: the
 * time taken depends on len alone, never on where the bytes differ.
 */
#ifndef SOTTO_CRYPTO_CT_H
#define SOTTO_CRYPTO_CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if a and b hold the same len bytes. */
bool ct_equal(const uint8_t *a, const uint8_t *b, size_t len);

/* True if all len bytes of p are zero. */
bool ct_is_zero(const uint8_t *p, size_t len);

/* Wipes len bytes at p in a way the compiler cannot remove. */
void ct_wipe(void *p, size_t len);

#endif /* SOTTO_CRYPTO_CT_H */
