/* SPDX-License-Identifier: MIT */
/*
 * aead.c - ChaCha20-Poly1305-IETF and XChaCha20-Poly1305 over libsodium
 * (crypto layer).
 *
 * Both ciphers go through libsodium's detached functions: the ciphertext is
 * written over (or beside) the plaintext and the tag is placed after it, so
 * in-place operation works without a second buffer. libsodium's detached
 * decryption computes and checks the tag before it writes a plaintext byte;
 * we zero the output again on failure so the guarantee does not rest on one
 * library version. Every decryption failure, short input included, is
 * SOTTO_ERR_AUTH: distinguishable failures would be an oracle.
 *
 * The two ciphers differ only in nonce length, and libsodium gives their
 * detached functions identical signatures, so one seal and one open routine
 * serve both.
 */
#include <sodium.h>

#include "crypto/aead.h"

typedef int aead_seal_fn(unsigned char *c, unsigned char *mac, unsigned long long *maclen_p,
                         const unsigned char *m, unsigned long long mlen, const unsigned char *ad,
                         unsigned long long adlen, const unsigned char *nsec,
                         const unsigned char *npub, const unsigned char *k);

typedef int aead_open_fn(unsigned char *m, unsigned char *nsec, const unsigned char *c,
                         unsigned long long clen, const unsigned char *mac, const unsigned char *ad,
                         unsigned long long adlen, const unsigned char *npub,
                         const unsigned char *k);

static sotto_err aead_seal(aead_seal_fn *fn, uint8_t *ct, const uint8_t *pt, size_t pt_len,
                           const uint8_t *ad, size_t ad_len, const uint8_t *nonce,
                           const uint8_t *key)
{
	if (pt_len > AEAD_PLAINTEXT_MAX)
		return SOTTO_ERR_TOO_LARGE;
	/* The tag goes after the ciphertext; with ct == pt it lands past the plaintext. */
	if (fn(ct, ct + pt_len, NULL, pt, pt_len, ad, ad_len, NULL, nonce, key) != 0)
		return SOTTO_ERR_INTERNAL;
	return SOTTO_OK;
}

static sotto_err aead_open(aead_open_fn *fn, uint8_t *pt, const uint8_t *ct, size_t ct_len,
                           const uint8_t *ad, size_t ad_len, const uint8_t *nonce,
                           const uint8_t *key)
{
	sotto_err rc;
	size_t pt_len = 0;

	if (ct_len < AEAD_TAG_LEN) {
		rc = SOTTO_ERR_AUTH;
		goto out;
	}
	if (ct_len - AEAD_TAG_LEN > AEAD_PLAINTEXT_MAX) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	pt_len = ct_len - AEAD_TAG_LEN;
	if (fn(pt, NULL, ct, pt_len, ct + pt_len, ad, ad_len, nonce, key) != 0) {
		rc = SOTTO_ERR_AUTH;
		goto out;
	}
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK && pt_len > 0)
		sodium_memzero(pt, pt_len);
	return rc;
}

sotto_err aead_ietf_encrypt(uint8_t *ct, const uint8_t *pt, size_t pt_len, const uint8_t *ad,
                            size_t ad_len, const uint8_t nonce[static AEAD_IETF_NONCE_LEN],
                            const uint8_t key[static AEAD_KEY_LEN])
{
	return aead_seal(crypto_aead_chacha20poly1305_ietf_encrypt_detached, ct, pt, pt_len, ad,
	                 ad_len, nonce, key);
}

sotto_err aead_ietf_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len, const uint8_t *ad,
                            size_t ad_len, const uint8_t nonce[static AEAD_IETF_NONCE_LEN],
                            const uint8_t key[static AEAD_KEY_LEN])
{
	return aead_open(crypto_aead_chacha20poly1305_ietf_decrypt_detached, pt, ct, ct_len, ad,
	                 ad_len, nonce, key);
}

sotto_err aead_x_encrypt(uint8_t *ct, const uint8_t *pt, size_t pt_len, const uint8_t *ad,
                         size_t ad_len, const uint8_t nonce[static AEAD_X_NONCE_LEN],
                         const uint8_t key[static AEAD_KEY_LEN])
{
	return aead_seal(crypto_aead_xchacha20poly1305_ietf_encrypt_detached, ct, pt, pt_len, ad,
	                 ad_len, nonce, key);
}

sotto_err aead_x_decrypt(uint8_t *pt, const uint8_t *ct, size_t ct_len, const uint8_t *ad,
                         size_t ad_len, const uint8_t nonce[static AEAD_X_NONCE_LEN],
                         const uint8_t key[static AEAD_KEY_LEN])
{
	return aead_open(crypto_aead_xchacha20poly1305_ietf_decrypt_detached, pt, ct, ct_len, ad,
	                 ad_len, nonce, key);
}
