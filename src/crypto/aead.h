/* SPDX-License-Identifier: MIT */
/*
 * aead.h - ChaCha20-Poly1305 (RFC 8439, 96-bit nonce) and XChaCha20-Poly1305
 * (192-bit nonce) over libsodium (crypto layer).
 *
 * Ciphertext is the encrypted bytes followed by the 16-byte tag, so ct_len =
 * pt_len + AEAD_TAG_LEN. Encryption and decryption may work in place (out ==
 * in); otherwise the buffers must not overlap. Decryption checks the tag
 * before it writes any plaintext and zeroes the output on failure, so
 * unauthenticated bytes never reach a caller.
 */
#ifndef SOTTO_CRYPTO_AEAD_H
#define SOTTO_CRYPTO_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

enum {
	AEAD_KEY_LEN = 32,
	AEAD_TAG_LEN = 16,
	AEAD_IETF_NONCE_LEN = 12,
	AEAD_X_NONCE_LEN = 24,
};

/* The largest plaintext either cipher accepts here (far above any sotto record). */
#define AEAD_PLAINTEXT_MAX ((size_t)UINT32_MAX - AEAD_TAG_LEN)

/*
 * ct[0 .. pt_len+16) = ChaCha20-Poly1305-IETF(key, nonce, ad, pt).
 * Errors: SOTTO_ERR_TOO_LARGE (pt_len > AEAD_PLAINTEXT_MAX).
 */
SOTTO_NODISCARD sotto_err aead_ietf_encrypt(uint8_t *ct, const uint8_t *pt, size_t pt_len,
                                            const uint8_t *ad, size_t ad_len,
                                            const uint8_t nonce[static AEAD_IETF_NONCE_LEN],
                                            const uint8_t key[static AEAD_KEY_LEN]);

/*
 * pt[0 .. ct_len-16) = plaintext of ct, after the tag verifies.
 * Errors: SOTTO_ERR_AUTH (short input, wrong key, nonce, ad or tag; pt is
 * zeroed), SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err aead_ietf_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len,
                                            const uint8_t *ad, size_t ad_len,
                                            const uint8_t nonce[static AEAD_IETF_NONCE_LEN],
                                            const uint8_t key[static AEAD_KEY_LEN]);

/* As aead_ietf_encrypt with XChaCha20-Poly1305 and a 24-byte nonce. */
SOTTO_NODISCARD sotto_err aead_x_encrypt(uint8_t *ct, const uint8_t *pt, size_t pt_len,
                                         const uint8_t *ad, size_t ad_len,
                                         const uint8_t nonce[static AEAD_X_NONCE_LEN],
                                         const uint8_t key[static AEAD_KEY_LEN]);

/* As aead_ietf_decrypt with XChaCha20-Poly1305 and a 24-byte nonce. */
SOTTO_NODISCARD sotto_err aead_x_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len,
                                         const uint8_t *ad, size_t ad_len,
                                         const uint8_t nonce[static AEAD_X_NONCE_LEN],
                                         const uint8_t key[static AEAD_KEY_LEN]);

#endif /* SOTTO_CRYPTO_AEAD_H */
