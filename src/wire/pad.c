/* SPDX-License-Identifier: MIT */
/*
 * pad.c - fixed-size block padding (wire layer).
 *
 * The block format (see pad.h and docs/protocol.md):
 *
 *   offset  size              field
 *   0       2                 content length L, big-endian
 *   2       L                 content
 *   2+L     block_len-2-L     zero bytes
 *
 * Unpadding accepts exactly the blocks pad_block() can produce: L within the
 * block and every padding byte zero. The padding is checked in constant time
 * (bytes_is_zero: no early exit), so the time taken does not say where a nonzero byte sits
 * in a block that was decrypted from a peer.
 */
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "wire/pad.h"

size_t pad_capacity(size_t block_len)
{
	return block_len < PAD_HEADER_LEN ? 0 : block_len - PAD_HEADER_LEN;
}

sotto_err pad_block(uint8_t *block, size_t block_len, const uint8_t *content, size_t content_len)
{
	if (block_len < PAD_HEADER_LEN || block_len > PAD_BLOCK_MAX)
		return SOTTO_ERR_INVALID;
	if (content_len > block_len - PAD_HEADER_LEN)
		return SOTTO_ERR_TOO_LARGE;
	/* Content first: it may alias the block, and memmove allows that. */
	memmove(block + PAD_HEADER_LEN, content, content_len);
	bytes_store_be16(block, (uint16_t)content_len);
	memset(block + PAD_HEADER_LEN + content_len, 0, block_len - PAD_HEADER_LEN - content_len);
	return SOTTO_OK;
}

sotto_err pad_unblock(const uint8_t *block, size_t block_len, const uint8_t **content,
                      size_t *content_len)
{
	size_t n;

	*content = NULL;
	*content_len = 0;
	if (block_len < PAD_HEADER_LEN || block_len > PAD_BLOCK_MAX)
		return SOTTO_ERR_INVALID;
	n = bytes_load_be16(block);
	if (n > block_len - PAD_HEADER_LEN)
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	if (!bytes_is_zero(block + PAD_HEADER_LEN + n, block_len - PAD_HEADER_LEN - n))
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	*content = block + PAD_HEADER_LEN;
	*content_len = n;
	return SOTTO_OK;
}
