/* SPDX-License-Identifier: MIT */
/*
 * base64url.h - RFC 4648 §5 base64url without padding (wire layer).
 *
 * Both directions use libsodium's constant-time codec, so encoding a key
 * never indexes a table by key bytes. Decoding is strict: no padding, no
 * whitespace, no characters outside the URL-safe alphabet, and the unused
 * low bits of the last character must be zero, so every byte string has
 * exactly one accepted encoding.
 */
#ifndef SOTTO_WIRE_BASE64URL_H
#define SOTTO_WIRE_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

/* Characters needed to encode bin_len bytes, not counting the NUL (SIZE_MAX on overflow). */
size_t base64url_encoded_len(size_t bin_len);

/* Largest number of bytes that text_len characters can decode to. */
size_t base64url_decoded_max(size_t text_len);

/*
 * Writes the encoding of bin and a NUL into out (out_cap bytes).
 * Errors: SOTTO_ERR_TOO_LARGE (out_cap < base64url_encoded_len(bin_len) + 1).
 */
SOTTO_NODISCARD sotto_err base64url_encode(char *out, size_t out_cap, const uint8_t *bin,
                                           size_t bin_len);

/*
 * Decodes text[0..text_len) into out (out_cap bytes); *out_len gets the
 * length (0 first). Errors: SOTTO_ERR_ENCODING (any malformed input),
 * SOTTO_ERR_TOO_LARGE (out_cap too small).
 */
SOTTO_NODISCARD sotto_err base64url_decode(uint8_t *out, size_t out_cap, size_t *out_len,
                                           const char *text, size_t text_len);

#endif /* SOTTO_WIRE_BASE64URL_H */
