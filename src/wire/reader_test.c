/* SPDX-License-Identifier: MIT */
/*
 * reader_test.c - the bounded reader: fixed-width reads, copies and views,
 * length-prefixed fields against their limit and the bytes remaining, the
 * sticky error, and finish() on trailing bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/reader.h"

typedef const uint8_t *lp_read_fn(struct wire_reader *r, size_t max, size_t *len);

/* One length-prefix width under test: its reader and prefix size in bytes. */
struct lp_case {
	lp_read_fn *read;
	size_t prefix_len;
};

static const struct lp_case lp_cases[] = {
        {wire_reader_lp8, 1},
        {wire_reader_lp16, 2},
        {wire_reader_lp32, 4},
};

/* Writes the big-endian length n into buf as a prefix_len-byte prefix. */
static void put_prefix(uint8_t *buf, size_t prefix_len, size_t n)
{
	for (size_t i = 0; i < prefix_len; i++)
		buf[i] = (uint8_t)(n >> (8 * (prefix_len - 1 - i)));
}

static void reader__big_endian__fixed_widths(void **state)
{
	static const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	                             0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	assert_int_equal(wire_reader_remaining(&r), 15);
	assert_int_equal(wire_reader_u8(&r), 0x01);
	assert_int_equal(wire_reader_u16(&r), 0x0203);
	assert_int_equal(wire_reader_u32(&r), 0x04050607);
	assert_true(wire_reader_u64(&r) == 0x08090a0b0c0d0e0fULL);
	assert_int_equal(wire_reader_remaining(&r), 0);
	assert_int_equal(wire_reader_error(&r), SOTTO_OK);
	assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
}

static void reader__truncated__fixed_width_short_by_one(void **state)
{
	static const uint8_t in[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, in, 0);
	assert_int_equal(wire_reader_u8(&r), 0);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);

	wire_reader_init(&r, in, 1);
	assert_int_equal(wire_reader_u16(&r), 0);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(r.pos, 0);

	wire_reader_init(&r, in, 3);
	assert_int_equal(wire_reader_u32(&r), 0);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(r.pos, 0);

	wire_reader_init(&r, in, 7);
	assert_true(wire_reader_u64(&r) == 0);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(r.pos, 0);
	assert_int_equal(wire_reader_remaining(&r), 0);
	assert_int_equal(wire_reader_finish(&r), SOTTO_ERR_TRUNCATED);
}

static void reader__sticky__every_read_after_failure(void **state)
{
	static const uint8_t in[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	                             0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
	uint8_t out[4] = {0xaa, 0xaa, 0xaa, 0xaa};
	static const uint8_t zero[4] = {0};
	struct wire_reader r;
	size_t len = 99;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	assert_null(wire_reader_view(&r, sizeof(in) + 1));
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(r.pos, 0);
	/* Each of these would succeed on a fresh reader over the same bytes. */
	assert_int_equal(wire_reader_u8(&r), 0);
	assert_int_equal(wire_reader_u16(&r), 0);
	assert_int_equal(wire_reader_u32(&r), 0);
	assert_true(wire_reader_u64(&r) == 0);
	assert_null(wire_reader_view(&r, 0));
	wire_reader_copy(&r, out, sizeof(out));
	assert_memory_equal(out, zero, sizeof(out));
	assert_null(wire_reader_lp8(&r, 100, &len));
	assert_int_equal(len, 0);
	len = 99;
	assert_null(wire_reader_lp16(&r, 100, &len));
	assert_int_equal(len, 0);
	len = 99;
	assert_null(wire_reader_lp32(&r, 100, &len));
	assert_int_equal(len, 0);
	assert_int_equal(r.pos, 0);
	assert_int_equal(wire_reader_remaining(&r), 0);
	/* A later semantic failure does not replace the first error. */
	wire_reader_fail(&r, SOTTO_ERR_PROTOCOL);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(wire_reader_finish(&r), SOTTO_ERR_TRUNCATED);
}

static void reader__sticky__failure_midway_keeps_position(void **state)
{
	static const uint8_t in[] = {0x12, 0x34, 0x56};
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	assert_int_equal(wire_reader_u16(&r), 0x1234);
	assert_int_equal(wire_reader_u16(&r), 0);
	assert_int_equal(r.pos, 2);
	assert_int_equal(wire_reader_u8(&r), 0);
	assert_int_equal(r.pos, 2);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
}

static void reader_fail__recorded__semantic_error(void **state)
{
	static const uint8_t in[] = {0x01, 0x02};
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	wire_reader_fail(&r, SOTTO_ERR_PROTOCOL);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_PROTOCOL);
	assert_int_equal(wire_reader_remaining(&r), 0);
	assert_int_equal(wire_reader_u8(&r), 0);
	assert_int_equal(r.pos, 0);
	wire_reader_fail(&r, SOTTO_ERR_CORRUPT);
	assert_int_equal(wire_reader_finish(&r), SOTTO_ERR_PROTOCOL);
}

static void reader__empty__null_buffer(void **state)
{
	struct wire_reader r;
	size_t len = 99;
	(void)state;

	wire_reader_init(&r, NULL, 0);
	assert_int_equal(wire_reader_remaining(&r), 0);
	assert_non_null(wire_reader_view(&r, 0));
	assert_null(wire_reader_lp8(&r, 0, &len));
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(len, 0);

	wire_reader_init(&r, NULL, 0);
	assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
	assert_null(wire_reader_view(&r, 1));
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
}

static void reader_copy__copied__enough_bytes(void **state)
{
	static const uint8_t in[] = {1, 2, 3, 4, 5};
	uint8_t out[3];
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	wire_reader_copy(&r, out, sizeof(out));
	assert_memory_equal(out, in, 3);
	assert_int_equal(wire_reader_remaining(&r), 2);
	wire_reader_copy(&r, out, 0);
	assert_int_equal(wire_reader_remaining(&r), 2);
	assert_int_equal(wire_reader_finish(&r), SOTTO_ERR_TRAILING);
}

static void reader_copy__zero_filled__truncated(void **state)
{
	static const uint8_t in[] = {1, 2, 3, 4, 5};
	static const uint8_t zero[6] = {0};
	uint8_t out[6];
	struct wire_reader r;
	(void)state;

	memset(out, 0xaa, sizeof(out));
	wire_reader_init(&r, in, sizeof(in));
	wire_reader_copy(&r, out, sizeof(out));
	assert_memory_equal(out, zero, sizeof(out));
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(r.pos, 0);
}

static void reader_view__borrowed__in_place(void **state)
{
	static const uint8_t in[] = {1, 2, 3, 4, 5};
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	assert_ptr_equal(wire_reader_view(&r, 2), in);
	assert_ptr_equal(wire_reader_view(&r, 0), in + 2);
	assert_ptr_equal(wire_reader_view(&r, 3), in + 2);
	assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
	assert_null(wire_reader_view(&r, 1));
	assert_int_equal(wire_reader_finish(&r), SOTTO_ERR_TRUNCATED);
}

static void reader_lp__borrowed__length_within_limits(void **state)
{
	uint8_t in[16];
	(void)state;

	for (size_t c = 0; c < sizeof(lp_cases) / sizeof(lp_cases[0]); c++) {
		const struct lp_case *lc = &lp_cases[c];
		struct wire_reader r;
		size_t len = 99;

		memset(in, 0x5c, sizeof(in));
		put_prefix(in, lc->prefix_len, 3);
		/* Length equal to max and to everything remaining: both boundaries. */
		wire_reader_init(&r, in, lc->prefix_len + 3);
		assert_ptr_equal(lc->read(&r, 3, &len), in + lc->prefix_len);
		assert_int_equal(len, 3);
		assert_int_equal(wire_reader_finish(&r), SOTTO_OK);

		put_prefix(in, lc->prefix_len, 0);
		wire_reader_init(&r, in, lc->prefix_len);
		len = 99;
		assert_non_null(lc->read(&r, 0, &len));
		assert_int_equal(len, 0);
		assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
	}
}

static void reader_lp__too_large__length_above_max(void **state)
{
	uint8_t in[16];
	(void)state;

	for (size_t c = 0; c < sizeof(lp_cases) / sizeof(lp_cases[0]); c++) {
		const struct lp_case *lc = &lp_cases[c];
		struct wire_reader r;
		size_t len = 99;

		memset(in, 0x5c, sizeof(in));
		put_prefix(in, lc->prefix_len, 4);
		/* The bytes are all there; only the limit says no. */
		wire_reader_init(&r, in, sizeof(in));
		assert_null(lc->read(&r, 3, &len));
		assert_int_equal(len, 0);
		assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TOO_LARGE);
		assert_int_equal(wire_reader_remaining(&r), 0);

		/* Above both the limit and the input: the limit is reported. */
		put_prefix(in, lc->prefix_len, 200);
		wire_reader_init(&r, in, sizeof(in));
		assert_null(lc->read(&r, 100, &len));
		assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TOO_LARGE);
	}
}

static void reader_lp__truncated__length_above_remaining(void **state)
{
	uint8_t in[16];
	(void)state;

	for (size_t c = 0; c < sizeof(lp_cases) / sizeof(lp_cases[0]); c++) {
		const struct lp_case *lc = &lp_cases[c];
		struct wire_reader r;
		size_t len = 99;

		memset(in, 0x5c, sizeof(in));
		put_prefix(in, lc->prefix_len, 5);
		wire_reader_init(&r, in, lc->prefix_len + 4);
		assert_null(lc->read(&r, 100, &len));
		assert_int_equal(len, 0);
		assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);

		/* The prefix itself cut short. */
		wire_reader_init(&r, in, lc->prefix_len - 1);
		len = 99;
		assert_null(lc->read(&r, 100, &len));
		assert_int_equal(len, 0);
		assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	}
}

static void reader_lp32__too_large__top_bit_length(void **state)
{
	static const uint8_t in[] = {0xff, 0xff, 0xff, 0xff, 0x00};
	struct wire_reader r;
	size_t len = 99;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	assert_null(wire_reader_lp32(&r, 1u << 20, &len));
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TOO_LARGE);

	/* With an unlimited max the bytes remaining still bound it. */
	wire_reader_init(&r, in, sizeof(in));
	assert_null(wire_reader_lp32(&r, SIZE_MAX, &len));
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	assert_int_equal(len, 0);
}

static void reader_finish__trailing__bytes_left(void **state)
{
	static const uint8_t in[] = {0x01, 0x02, 0x03};
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	assert_int_equal(wire_reader_finish(&r), SOTTO_ERR_TRAILING);
	(void)wire_reader_u16(&r);
	assert_int_equal(wire_reader_finish(&r), SOTTO_ERR_TRAILING);
	assert_int_equal(wire_reader_remaining(&r), 1);
	(void)wire_reader_u8(&r);
	assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
	/* finish does not itself record an error: the reader is still good. */
	assert_int_equal(wire_reader_error(&r), SOTTO_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(reader__big_endian__fixed_widths),
	        cmocka_unit_test(reader__truncated__fixed_width_short_by_one),
	        cmocka_unit_test(reader__sticky__every_read_after_failure),
	        cmocka_unit_test(reader__sticky__failure_midway_keeps_position),
	        cmocka_unit_test(reader_fail__recorded__semantic_error),
	        cmocka_unit_test(reader__empty__null_buffer),
	        cmocka_unit_test(reader_copy__copied__enough_bytes),
	        cmocka_unit_test(reader_copy__zero_filled__truncated),
	        cmocka_unit_test(reader_view__borrowed__in_place),
	        cmocka_unit_test(reader_lp__borrowed__length_within_limits),
	        cmocka_unit_test(reader_lp__too_large__length_above_max),
	        cmocka_unit_test(reader_lp__truncated__length_above_remaining),
	        cmocka_unit_test(reader_lp32__too_large__top_bit_length),
	        cmocka_unit_test(reader_finish__trailing__bytes_left),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
