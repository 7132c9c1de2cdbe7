/* SPDX-License-Identifier: MIT */
/*
 * base64url.c - strict RFC 4648 §5 base64url without padding (wire layer).
 *
 * Both directions are libsodium's constant-time codec with the
 * URLSAFE_NO_PADDING variant, so no table is ever indexed by key bytes.
 * Strictness, and who enforces it:
 *
 *   rule                                   enforced by
 *   length is not 1 mod 4                  us, before decoding (libsodium
 *                                          1.0.18 also rejects it)
 *   no byte >= 0x80                        us, before decoding: libsodium
 *                                          1.0.18 decodes every such byte as
 *                                          some alphabet character where
 *                                          char is signed (its constant-time
 *                                          range tests assume 0..255)
 *   only A-Z a-z 0-9 - _ (no '=', no       libsodium: ignore-chars is NULL
 *   whitespace, nothing else)              and b64_end is NULL, so the whole
 *                                          input must be consumed
 *   unused low bits of the last            libsodium (1.0.18 checks that the
 *   character are zero                     leftover bits are zero)
 *
 * Together these give every byte string exactly one accepted encoding; the
 * tests try every byte value in every position, so a libsodium that changes
 * any of this fails them. A valid text of n characters decodes to exactly
 * floor(3n/4) bytes, so checking out_cap against that up front means
 * libsodium never runs out of room and any failure it reports is a
 * malformed input.
 */
#include <stdbool.h>

#include <sodium.h>

#include "core/err.h"
#include "wire/base64url.h"

enum { B64_VARIANT = sodium_base64_VARIANT_URLSAFE_NO_PADDING };

/*
 * True if any byte of text has its top bit set. Every byte is ORed in and
 * the bit is tested once, so the time depends on text_len alone: the text
 * may be a key.
 */
static bool has_high_byte(const char *text, size_t text_len)
{
	unsigned acc = 0;

	for (size_t i = 0; i < text_len; i++)
		acc |= (unsigned char)text[i];
	return (acc & 0x80u) != 0;
}

size_t base64url_encoded_len(size_t bin_len)
{
	size_t groups = bin_len / 3, rem = bin_len % 3;

	/* 4 characters per 3 bytes, then 0, 2 or 3 for a final 0, 1 or 2. */
	if (groups > (SIZE_MAX - 3) / 4)
		return SIZE_MAX;
	return groups * 4 + (rem * 4 + 2) / 3;
}

size_t base64url_decoded_max(size_t text_len)
{
	return text_len / 4 * 3 + text_len % 4 * 3 / 4;
}

sotto_err base64url_encode(char *out, size_t out_cap, const uint8_t *bin, size_t bin_len)
{
	/* A saturated SIZE_MAX never fits, which is the answer we want. */
	if (out_cap <= base64url_encoded_len(bin_len)) {
		if (out_cap > 0)
			out[0] = '\0';
		return SOTTO_ERR_TOO_LARGE;
	}
	sodium_bin2base64(out, out_cap, bin, bin_len, B64_VARIANT);
	return SOTTO_OK;
}

sotto_err base64url_decode(uint8_t *out, size_t out_cap, size_t *out_len, const char *text,
                           size_t text_len)
{
	size_t need = base64url_decoded_max(text_len);
	size_t written = 0; /* bytes of out libsodium may have touched */
	size_t n = 0;
	sotto_err rc;

	*out_len = 0;
	if (text_len % 4 == 1 || has_high_byte(text, text_len)) {
		rc = SOTTO_RAISE(SOTTO_ERR_ENCODING);
		goto out;
	}
	if (out_cap < need) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	written = need;
	if (sodium_base642bin(out, out_cap, text, text_len, NULL, &n, NULL, B64_VARIANT) != 0) {
		rc = SOTTO_RAISE(SOTTO_ERR_ENCODING);
		goto out;
	}
	*out_len = n;
	rc = SOTTO_OK;
out:
	/* A rejected text may still have decoded partly: a key must not leak. */
	if (rc != SOTTO_OK)
		sodium_memzero(out, written);
	return rc;
}
