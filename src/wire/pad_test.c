/* SPDX-License-Identifier: MIT */
/*
 * pad_test.c - fixed-size block padding: layout, limits, in-place use,
 * strict unpadding, and every single-bit flip of a padded block (rejected,
 * or a different valid block that pads back to exactly the flipped bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/pad.h"

enum {
	GUARD_BYTE = 0xa5,
	GUARD_LEN = 8,
};

/* Big enough for the largest block and for one byte over it. */
static uint8_t big[PAD_BLOCK_MAX + 1 + GUARD_LEN];

/*
 * Unpads block; if that succeeds, pads the content again into a block of the
 * same size and checks the result is byte-for-byte the input.
 */
static sotto_err unblock_round_trip(const uint8_t *block, size_t block_len)
{
	uint8_t again[PAD_BLOCK_MAX];
	const uint8_t *content = block; /* must be cleared */
	size_t content_len = 99;
	sotto_err rc;

	rc = pad_unblock(block, block_len, &content, &content_len);
	if (rc != SOTTO_OK) {
		assert_null(content);
		assert_int_equal(content_len, 0);
		return rc;
	}
	assert_ptr_equal(content, block + PAD_HEADER_LEN);
	assert_int_equal(pad_block(again, block_len, content, content_len), SOTTO_OK);
	assert_memory_equal(again, block, block_len);
	return rc;
}

static void pad_capacity__block_minus_header__every_size(void **state)
{
	(void)state;

	assert_int_equal(pad_capacity(0), 0);
	assert_int_equal(pad_capacity(1), 0);
	assert_int_equal(pad_capacity(2), 0);
	assert_int_equal(pad_capacity(3), 1);
	assert_int_equal(pad_capacity(256), 254);
	assert_int_equal(pad_capacity(PAD_BLOCK_MAX), PAD_BLOCK_MAX - 2);
}

static void pad_block__layout__length_content_zeros(void **state)
{
	static const uint8_t want[10] = {0x00, 0x03, 'a', 'b', 'c', 0, 0, 0, 0, 0};
	uint8_t block[10 + GUARD_LEN];
	(void)state;

	memset(block, GUARD_BYTE, sizeof(block));
	assert_int_equal(pad_block(block, 10, (const uint8_t *)"abc", 3), SOTTO_OK);
	assert_memory_equal(block, want, 10);
	for (size_t i = 10; i < sizeof(block); i++)
		assert_int_equal(block[i], GUARD_BYTE);
}

static void pad_block__fits__empty_and_full(void **state)
{
	static const uint8_t empty[6] = {0};
	static const uint8_t full[6] = {0x00, 0x04, 1, 2, 3, 4};
	static const uint8_t content[4] = {1, 2, 3, 4};
	uint8_t block[6];
	(void)state;

	memset(block, GUARD_BYTE, sizeof(block));
	assert_int_equal(pad_block(block, sizeof(block), content, 0), SOTTO_OK);
	assert_memory_equal(block, empty, sizeof(block));
	assert_int_equal(pad_block(block, sizeof(block), content, 4), SOTTO_OK);
	assert_memory_equal(block, full, sizeof(block));
	/* The smallest block carries nothing but its header. */
	assert_int_equal(pad_block(block, 2, content, 0), SOTTO_OK);
	assert_memory_equal(block, empty, 2);
}

static void pad_block__fits__largest_block(void **state)
{
	(void)state;

	memset(big, 0x77, sizeof(big));
	assert_int_equal(pad_block(big, PAD_BLOCK_MAX, big, PAD_BLOCK_MAX - 2), SOTTO_OK);
	assert_int_equal(big[0], 0xff);
	assert_int_equal(big[1], 0xfd);
	assert_int_equal(big[PAD_BLOCK_MAX - 1], 0x77);
	assert_int_equal(unblock_round_trip(big, PAD_BLOCK_MAX), SOTTO_OK);
}

static void pad_block__invalid__block_len_out_of_range(void **state)
{
	static const uint8_t content[1] = {1};
	(void)state;

	memset(big, GUARD_BYTE, sizeof(big));
	assert_int_equal(pad_block(big, 0, content, 0), SOTTO_ERR_INVALID);
	assert_int_equal(pad_block(big, 1, content, 0), SOTTO_ERR_INVALID);
	assert_int_equal(pad_block(big, PAD_BLOCK_MAX + 1, content, 1), SOTTO_ERR_INVALID);
	for (size_t i = 0; i < sizeof(big); i++)
		assert_int_equal(big[i], GUARD_BYTE);
}

static void pad_block__too_large__content_over_capacity(void **state)
{
	static const uint8_t content[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	uint8_t block[10];
	(void)state;

	memset(block, GUARD_BYTE, sizeof(block));
	assert_int_equal(pad_block(block, sizeof(block), content, 9), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(pad_block(block, 2, content, 1), SOTTO_ERR_TOO_LARGE);
	for (size_t i = 0; i < sizeof(block); i++)
		assert_int_equal(block[i], GUARD_BYTE);
}

static void pad_block__in_place__content_aliases_block(void **state)
{
	static const uint8_t want[8] = {0x00, 0x03, 'x', 'y', 'z', 0, 0, 0};
	uint8_t block[8];
	(void)state;

	/* Content already where it belongs. */
	memset(block, GUARD_BYTE, sizeof(block));
	memcpy(block + 2, "xyz", 3);
	assert_int_equal(pad_block(block, sizeof(block), block + 2, 3), SOTTO_OK);
	assert_memory_equal(block, want, sizeof(want));

	/* Content overlapping the header: it has to move forward. */
	memset(block, GUARD_BYTE, sizeof(block));
	memcpy(block, "xyz", 3);
	assert_int_equal(pad_block(block, sizeof(block), block, 3), SOTTO_OK);
	assert_memory_equal(block, want, sizeof(want));
}

static void pad_unblock__content__valid_block(void **state)
{
	static const uint8_t block[8] = {0x00, 0x03, 'x', 'y', 'z', 0, 0, 0};
	static const uint8_t header_only[2] = {0, 0};
	const uint8_t *content = NULL;
	size_t content_len = 99;
	(void)state;

	assert_int_equal(pad_unblock(block, sizeof(block), &content, &content_len), SOTTO_OK);
	assert_ptr_equal(content, block + 2);
	assert_int_equal(content_len, 3);

	assert_int_equal(pad_unblock(header_only, 2, &content, &content_len), SOTTO_OK);
	assert_ptr_equal(content, header_only + 2);
	assert_int_equal(content_len, 0);
}

static void pad_unblock__invalid__block_len_out_of_range(void **state)
{
	const uint8_t *content = big;
	size_t content_len = 99;
	(void)state;

	memset(big, 0, sizeof(big));
	assert_int_equal(pad_unblock(big, 0, &content, &content_len), SOTTO_ERR_INVALID);
	assert_null(content);
	assert_int_equal(content_len, 0);
	content = big;
	content_len = 99;
	assert_int_equal(pad_unblock(big, 1, &content, &content_len), SOTTO_ERR_INVALID);
	assert_null(content);
	assert_int_equal(content_len, 0);
	assert_int_equal(pad_unblock(big, PAD_BLOCK_MAX + 1, &content, &content_len),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(pad_unblock(big, PAD_BLOCK_MAX, &content, &content_len), SOTTO_OK);
}

static void pad_unblock__protocol__length_over_capacity(void **state)
{
	uint8_t block[8] = {0x00, 0x07, 1, 2, 3, 4, 5, 6};
	(void)state;

	assert_int_equal(unblock_round_trip(block, sizeof(block)), SOTTO_ERR_PROTOCOL);
	block[1] = 0x06;
	assert_int_equal(unblock_round_trip(block, sizeof(block)), SOTTO_OK);
	block[0] = 0xff;
	block[1] = 0xff;
	assert_int_equal(unblock_round_trip(block, sizeof(block)), SOTTO_ERR_PROTOCOL);
	block[0] = 0x00;
	block[1] = 0x01;
	assert_int_equal(unblock_round_trip(block, 2), SOTTO_ERR_PROTOCOL);
}

static void pad_unblock__protocol__nonzero_padding(void **state)
{
	uint8_t block[8] = {0x00, 0x02, 'x', 'y', 0, 0, 0, 0};
	(void)state;

	for (size_t i = 4; i < sizeof(block); i++) {
		block[i] = 0x80;
		assert_int_equal(unblock_round_trip(block, sizeof(block)), SOTTO_ERR_PROTOCOL);
		block[i] = 0x00;
	}
	assert_int_equal(unblock_round_trip(block, sizeof(block)), SOTTO_OK);
}

static void pad__rejected_or_round_trip__every_bit_flip(void **state)
{
	static const uint8_t content[10] = {'h', 0, 'l', 'l', 'o', 0, 0xff, 0x80, 1, 0};
	uint8_t block[40];
	unsigned n_ok = 0, n_rejected = 0;
	(void)state;

	assert_int_equal(pad_block(block, sizeof(block), content, sizeof(content)), SOTTO_OK);
	for (size_t bit = 0; bit < 8 * sizeof(block); bit++) {
		size_t at = bit / 8;
		block[at] ^= (uint8_t)(1u << (bit % 8));
		sotto_err rc = unblock_round_trip(block, sizeof(block));
		if (at >= PAD_HEADER_LEN && at < PAD_HEADER_LEN + sizeof(content))
			assert_int_equal(rc, SOTTO_OK);
		else if (at >= PAD_HEADER_LEN + sizeof(content))
			assert_int_equal(rc, SOTTO_ERR_PROTOCOL);
		else
			assert_true(rc == SOTTO_OK || rc == SOTTO_ERR_PROTOCOL);
		n_ok += rc == SOTTO_OK;
		n_rejected += rc == SOTTO_ERR_PROTOCOL;
		block[at] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(n_ok + n_rejected, 8 * sizeof(block));
	/* Length 10 -> 11, 14 or 26 gains zero content bytes and stays valid. */
	assert_int_equal(n_ok, 8 * sizeof(content) + 3);
}

static void pad__rejected__every_bit_flip_in_header_or_padding(void **state)
{
	/* L = 31 = 0b11111 in a block of capacity 46: raising any bit of L
	 * overshoots the capacity, and lowering one exposes a nonzero content
	 * byte as padding, so no flip outside the content gives a valid block. */
	uint8_t content[31];
	uint8_t block[48];
	(void)state;

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(0x41 + i);
	assert_int_equal(pad_block(block, sizeof(block), content, sizeof(content)), SOTTO_OK);
	for (size_t bit = 0; bit < 8 * sizeof(block); bit++) {
		size_t at = bit / 8;
		int in_content = at >= PAD_HEADER_LEN && at < PAD_HEADER_LEN + sizeof(content);
		block[at] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(unblock_round_trip(block, sizeof(block)),
		                 in_content ? SOTTO_OK : SOTTO_ERR_PROTOCOL);
		block[at] ^= (uint8_t)(1u << (bit % 8));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(pad_capacity__block_minus_header__every_size),
	        cmocka_unit_test(pad_block__layout__length_content_zeros),
	        cmocka_unit_test(pad_block__fits__empty_and_full),
	        cmocka_unit_test(pad_block__fits__largest_block),
	        cmocka_unit_test(pad_block__invalid__block_len_out_of_range),
	        cmocka_unit_test(pad_block__too_large__content_over_capacity),
	        cmocka_unit_test(pad_block__in_place__content_aliases_block),
	        cmocka_unit_test(pad_unblock__content__valid_block),
	        cmocka_unit_test(pad_unblock__invalid__block_len_out_of_range),
	        cmocka_unit_test(pad_unblock__protocol__length_over_capacity),
	        cmocka_unit_test(pad_unblock__protocol__nonzero_padding),
	        cmocka_unit_test(pad__rejected_or_round_trip__every_bit_flip),
	        cmocka_unit_test(pad__rejected__every_bit_flip_in_header_or_padding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
