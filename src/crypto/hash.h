/* SPDX-License-Identifier: MIT */
/*
 * hash.h - BLAKE2b, HMAC and HKDF (crypto layer).
 *
 * HMAC here is RFC 2104 built on an *unkeyed* hash, as Noise requires:
 * HMAC-BLAKE2b uses BLAKE2b-512 with a 128-byte block. It is not keyed
 * BLAKE2b, which is a different function. HKDF is RFC 5869 (extract then
 * expand). Noise's HKDF(ck, ikm, n) is exactly RFC 5869 HKDF-BLAKE2b with
 * salt = ck, empty info and n*64 bytes of output; hkdf_noise() gives that.
 * HMAC-SHA-256/HKDF-SHA-256 exist so the generic HMAC/HKDF code can be
 * checked against published HKDF-SHA-256 vectors.
 */
#ifndef SOTTO_CRYPTO_HASH_H
#define SOTTO_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>
#include <sotto/sotto.h>

enum {
	BLAKE2B_LEN = 64,        /* BLAKE2b-512 output, Noise HASHLEN */
	BLAKE2B_BLOCK_LEN = 128, /* Noise BLOCKLEN */
	BLAKE2B_KEY_MAX = 64,
	BLAKE2B_OUT_MIN = 16,
	BLAKE2B_OUT_MAX = 64,
	SHA256_LEN = 32,
	HKDF_BLAKE2B_OUT_MAX = 255 * 64,
	HKDF_SHA256_OUT_MAX = 255 * 32,
};

/*
 * out = BLAKE2b(in) with out_len bytes of output (16..64), keyed when
 * key_len > 0 (key_len <= 64). Errors: SOTTO_ERR_INVALID (lengths).
 */
SOTTO_NODISCARD sotto_err blake2b(uint8_t *out, size_t out_len, const uint8_t *in, size_t in_len,
                                  const uint8_t *key, size_t key_len);

/* Incremental unkeyed BLAKE2b-512 (the Noise HASH). */
struct blake2b_state {
	crypto_generichash_blake2b_state s; /* libsodium's state; may hold secrets */
};
void blake2b_init(struct blake2b_state *st);
void blake2b_update(struct blake2b_state *st, const uint8_t *in, size_t in_len);
void blake2b_final(struct blake2b_state *st, uint8_t out[static BLAKE2B_LEN]); /* wipes st */

/* out = HMAC-BLAKE2b(key, msg): RFC 2104 over unkeyed BLAKE2b-512. */
void hmac_blake2b(uint8_t out[static BLAKE2B_LEN], const uint8_t *key, size_t key_len,
                  const uint8_t *msg, size_t msg_len);

/* out = HMAC-SHA-256(key, msg), built the same generic way. */
void hmac_sha256(uint8_t out[static SHA256_LEN], const uint8_t *key, size_t key_len,
                 const uint8_t *msg, size_t msg_len);

/*
 * RFC 5869 HKDF: okm = Expand(Extract(salt, ikm), info, okm_len).
 * Errors: SOTTO_ERR_TOO_LARGE (okm_len above the _OUT_MAX), SOTTO_ERR_INVALID (okm_len 0).
 */
SOTTO_NODISCARD sotto_err hkdf_blake2b(uint8_t *okm, size_t okm_len, const uint8_t *salt,
                                       size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                                       const uint8_t *info, size_t info_len);
SOTTO_NODISCARD sotto_err hkdf_sha256(uint8_t *okm, size_t okm_len, const uint8_t *salt,
                                      size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                                      const uint8_t *info, size_t info_len);

/*
 * Noise HKDF(ck, ikm, n) for n = 2 or 3 (Noise rev 34 §4.3): out1, out2 and,
 * when out3 is non-NULL, out3 each get 64 bytes.
 */
void hkdf_noise(const uint8_t ck[static BLAKE2B_LEN], const uint8_t *ikm, size_t ikm_len,
                uint8_t out1[static BLAKE2B_LEN], uint8_t out2[static BLAKE2B_LEN],
                uint8_t *SOTTO_NULLABLE out3);

#endif /* SOTTO_CRYPTO_HASH_H */
