/* SPDX-License-Identifier: MIT */
/*
 * kdf.h - fast BLAKE2b-based key derivation for ratchet chains and labelled
 * sub-keys (crypto layer).
 *
 * kdf_chain() is the symmetric-ratchet step: one keyed BLAKE2b-512 call with
 * the chain key as key and a fixed one-byte input gives 64 bytes, split into
 * the message key (first 32) and the next chain key (last 32). BLAKE2b keyed
 * with a uniformly random key is a PRF, so both halves are independent keys;
 * one compression call per step is several times cheaper than the two
 * HMAC-SHA-256 calls the Signal specification suggests.
 *
 * kdf_derive() derives a labelled sub-key: keyed BLAKE2b with the label (a
 * short ASCII string naming the use, listed in docs/protocol.md) mixed in as
 * the input, so keys for different uses can never coincide.
 */
#ifndef SOTTO_CRYPTO_KDF_H
#define SOTTO_CRYPTO_KDF_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

enum {
	KDF_KEY_LEN = 32,
	KDF_LABEL_MAX = 64,
	KDF_OUT_MIN = 16,
	KDF_OUT_MAX = 64,
};

/*
 * (message_key, next_chain_key) = split(BLAKE2b-512(key = chain_key, 0x01)).
 * next_chain_key may alias chain_key (the old key is overwritten); all
 * intermediate bytes are wiped.
 */
void kdf_chain(const uint8_t chain_key[static KDF_KEY_LEN], uint8_t message_key[static KDF_KEY_LEN],
               uint8_t next_chain_key[static KDF_KEY_LEN]);

/*
 * out = BLAKE2b(key = key, input = len(label) || label || context), out_len in
 * 16..64, label 1..64 bytes. Errors: SOTTO_ERR_INVALID (lengths).
 */
SOTTO_NODISCARD sotto_err kdf_derive(uint8_t *out, size_t out_len,
                                     const uint8_t key[static KDF_KEY_LEN], const char *label,
                                     const uint8_t *context, size_t context_len);

#endif /* SOTTO_CRYPTO_KDF_H */
