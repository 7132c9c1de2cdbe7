/* SPDX-License-Identifier: MIT */
/*
 * pad.h - fixed-size block padding (wire layer).
 *
 * A padded block of block_len bytes is
 *
 *   offset  size              field
 *   0       2                 content length L, big-endian
 *   2       L                 content
 *   2+L     block_len-2-L     zero bytes
 *
 * so every block on a link has the same size whatever it carries. Unpadding
 * is strict: L must fit and every padding byte must be zero (no slack for two
 * parsers to disagree about).
 */
#ifndef SOTTO_WIRE_PAD_H
#define SOTTO_WIRE_PAD_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

enum {
	PAD_HEADER_LEN = 2,
	PAD_BLOCK_MAX = 65535, /* the length field is 16 bits */
};

/* The most content a block of block_len bytes carries (0 if block_len < 2). */
size_t pad_capacity(size_t block_len);

/*
 * Writes content into block as above. content may alias block + 2.
 * Errors: SOTTO_ERR_INVALID (block_len < 2 or > PAD_BLOCK_MAX),
 * SOTTO_ERR_TOO_LARGE (content_len > pad_capacity(block_len)).
 */
SOTTO_NODISCARD sotto_err pad_block(uint8_t *block, size_t block_len, const uint8_t *content,
                                    size_t content_len);

/*
 * Finds the content of a padded block: *content points into block (borrowed)
 * and *content_len gets L (both cleared first). Errors: SOTTO_ERR_INVALID
 * (block_len out of range), SOTTO_ERR_PROTOCOL (L too big or nonzero padding).
 */
SOTTO_NODISCARD sotto_err pad_unblock(const uint8_t *block, size_t block_len,
                                      const uint8_t **content, size_t *content_len);

#endif /* SOTTO_WIRE_PAD_H */
