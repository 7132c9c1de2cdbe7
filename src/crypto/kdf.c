/* SPDX-License-Identifier: MIT */
/*
 * kdf.c - BLAKE2b key derivation for ratchet chains and labelled sub-keys
 * (crypto layer); the constructions are the ones kdf.h specifies.
 *
 * Both functions compute into locals and copy out last (which is what lets
 * next_chain_key alias chain_key), and wipe every local that held key bytes.
 */
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"

enum { KDF_CHAIN_INPUT = 0x01 };

void kdf_chain(const uint8_t chain_key[static KDF_KEY_LEN], uint8_t message_key[static KDF_KEY_LEN],
               uint8_t next_chain_key[static KDF_KEY_LEN])
{
	const uint8_t in[1] = {KDF_CHAIN_INPUT};
	uint8_t out[BLAKE2B_LEN];

	/* Lengths are constants within blake2b()'s limits, so it cannot fail. */
	sotto_err rc = blake2b(out, sizeof(out), in, sizeof(in), chain_key, KDF_KEY_LEN);
	(void)SOTTO_INVARIANT(rc == SOTTO_OK);
	memcpy(message_key, out, KDF_KEY_LEN);
	memcpy(next_chain_key, out + KDF_KEY_LEN, KDF_KEY_LEN);
	sodium_memzero(out, sizeof(out));
}

/* strlen bounded at KDF_LABEL_MAX + 1: a longer label is rejected, not measured. */
static size_t kdf_label_len(const char *label)
{
	size_t n = 0;

	while (n <= KDF_LABEL_MAX && label[n] != '\0')
		n++;
	return n;
}

sotto_err kdf_derive(uint8_t *out, size_t out_len, const uint8_t key[static KDF_KEY_LEN],
                     const char *label, const uint8_t *context, size_t context_len)
{
	crypto_generichash_blake2b_state st;
	uint8_t buf[KDF_OUT_MAX];
	uint8_t label_len_byte;
	size_t label_len = kdf_label_len(label);
	sotto_err rc;

	sodium_memzero(&st, sizeof(st));
	if (out_len < KDF_OUT_MIN || out_len > KDF_OUT_MAX || label_len == 0 ||
	    label_len > KDF_LABEL_MAX) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	label_len_byte = (uint8_t)label_len;
	if (crypto_generichash_blake2b_init(&st, key, KDF_KEY_LEN, out_len) != 0 ||
	    crypto_generichash_blake2b_update(&st, &label_len_byte, 1) != 0 ||
	    crypto_generichash_blake2b_update(&st, (const uint8_t *)label, label_len) != 0 ||
	    crypto_generichash_blake2b_update(&st, context, context_len) != 0 ||
	    crypto_generichash_blake2b_final(&st, buf, out_len) != 0) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	memcpy(out, buf, out_len);
	rc = SOTTO_OK;
out:
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(buf, sizeof(buf));
	return rc;
}
