/* SPDX-License-Identifier: MIT */
/*
 * version_test.c - version ranges on the wire and their negotiation,
 * including an exhaustive comparison with a brute-force search over small
 * ranges.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/version.h"

static void version_range__round_trip__written_then_read(void **state)
{
	static const uint8_t want[VERSION_RANGE_LEN] = {0x00, 0x02, 0x01, 0x03};
	struct version_range in = {.min = 2, .max = 0x0103}, out;
	uint8_t buf[VERSION_RANGE_LEN];
	struct wire_writer w;
	struct wire_reader r;
	size_t len = 0;
	(void)state;

	wire_writer_init(&w, buf, sizeof(buf));
	version_range_write(&w, in);
	assert_int_equal(wire_writer_finish(&w, &len), SOTTO_OK);
	assert_int_equal(len, VERSION_RANGE_LEN);
	assert_memory_equal(buf, want, sizeof(want));

	wire_reader_init(&r, buf, len);
	out = version_range_read(&r);
	assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
	assert_int_equal(out.min, 2);
	assert_int_equal(out.max, 0x0103);
}

static void version_range_read__valid__single_and_widest(void **state)
{
	static const uint8_t single[4] = {0x00, 0x07, 0x00, 0x07};
	static const uint8_t widest[4] = {0x00, 0x01, 0xff, 0xff};
	struct version_range got;
	struct wire_reader r;
	(void)state;

	wire_reader_init(&r, single, sizeof(single));
	got = version_range_read(&r);
	assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
	assert_int_equal(got.min, 7);
	assert_int_equal(got.max, 7);

	wire_reader_init(&r, widest, sizeof(widest));
	got = version_range_read(&r);
	assert_int_equal(wire_reader_finish(&r), SOTTO_OK);
	assert_int_equal(got.min, 1);
	assert_int_equal(got.max, 0xffff);
}

static void version_range_read__protocol__malformed(void **state)
{
	static const uint8_t zero_min[4] = {0x00, 0x00, 0x00, 0x05};
	static const uint8_t zeros[4] = {0x00, 0x00, 0x00, 0x00};
	static const uint8_t inverted[4] = {0x00, 0x03, 0x00, 0x02};
	const uint8_t *bad[] = {zero_min, zeros, inverted};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wire_reader r;
		struct version_range got;

		wire_reader_init(&r, bad[i], 4);
		got = version_range_read(&r);
		assert_int_equal(got.min, 0);
		assert_int_equal(got.max, 0);
		assert_int_equal(wire_reader_error(&r), SOTTO_ERR_PROTOCOL);
	}
}

static void version_range_read__truncated__every_short_input(void **state)
{
	static const uint8_t in[4] = {0x00, 0x01, 0x00, 0x02};
	(void)state;

	for (size_t k = 0; k < sizeof(in); k++) {
		struct wire_reader r;
		struct version_range got;

		wire_reader_init(&r, in, k);
		got = version_range_read(&r);
		assert_int_equal(got.min, 0);
		assert_int_equal(got.max, 0);
		assert_int_equal(wire_reader_error(&r), SOTTO_ERR_TRUNCATED);
	}
}

static void version_range_read__sticky__reader_already_failed(void **state)
{
	static const uint8_t in[4] = {0x00, 0x01, 0x00, 0x02};
	struct wire_reader r;
	struct version_range got;
	(void)state;

	wire_reader_init(&r, in, sizeof(in));
	wire_reader_fail(&r, SOTTO_ERR_CORRUPT);
	got = version_range_read(&r);
	assert_int_equal(got.min, 0);
	assert_int_equal(got.max, 0);
	assert_int_equal(wire_reader_error(&r), SOTTO_ERR_CORRUPT);
	assert_int_equal(r.pos, 0);
}

static void version_range_write__too_large__full_writer(void **state)
{
	uint8_t buf[VERSION_RANGE_LEN + 1];
	struct version_range v = {1, 2};
	struct wire_writer w;
	size_t len = 99;
	(void)state;

	memset(buf, 0xa5, sizeof(buf));
	wire_writer_init(&w, buf, VERSION_RANGE_LEN - 1);
	version_range_write(&w, v);
	assert_int_equal(wire_writer_finish(&w, &len), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	assert_int_equal(buf[VERSION_RANGE_LEN - 1], 0xa5);
}

static void version_negotiate__highest_common__overlapping(void **state)
{
	struct version_range a = {1, 5}, b = {3, 9}, c = {5, 5};
	uint16_t agreed = 99;
	(void)state;

	assert_int_equal(version_negotiate(a, b, &agreed), SOTTO_OK);
	assert_int_equal(agreed, 5);
	assert_int_equal(version_negotiate(b, a, &agreed), SOTTO_OK);
	assert_int_equal(agreed, 5);
	assert_int_equal(version_negotiate(b, b, &agreed), SOTTO_OK);
	assert_int_equal(agreed, 9);
	assert_int_equal(version_negotiate(a, c, &agreed), SOTTO_OK);
	assert_int_equal(agreed, 5);
}

static void version_negotiate__version__disjoint(void **state)
{
	struct version_range old = {1, 2}, new = {3, 4};
	uint16_t agreed = 99;
	(void)state;

	assert_int_equal(version_negotiate(old, new, &agreed), SOTTO_ERR_VERSION);
	assert_int_equal(agreed, 0);
	agreed = 99;
	assert_int_equal(version_negotiate(new, old, &agreed), SOTTO_ERR_VERSION);
	assert_int_equal(agreed, 0);
}

static void version_negotiate__invalid__malformed_range(void **state)
{
	struct version_range good = {1, 4}, zero = {0, 4}, inverted = {3, 2};
	uint16_t agreed = 99;
	(void)state;

	assert_int_equal(version_negotiate(zero, good, &agreed), SOTTO_ERR_INVALID);
	assert_int_equal(agreed, 0);
	agreed = 99;
	assert_int_equal(version_negotiate(good, zero, &agreed), SOTTO_ERR_INVALID);
	assert_int_equal(agreed, 0);
	assert_int_equal(version_negotiate(inverted, good, &agreed), SOTTO_ERR_INVALID);
	assert_int_equal(version_negotiate(good, inverted, &agreed), SOTTO_ERR_INVALID);
}

/* The highest v in both [a.min, a.max] and [b.min, b.max], found by search. */
static uint16_t brute_force_agree(struct version_range a, struct version_range b)
{
	for (unsigned v = 8; v >= 1; v--)
		if (v >= a.min && v <= a.max && v >= b.min && v <= b.max)
			return (uint16_t)v;
	return 0;
}

/* Every valid range within 1..6: 21 of them. */
static size_t all_small_ranges(struct version_range out[static 21])
{
	size_t n = 0;

	for (uint16_t lo = 1; lo <= 6; lo++)
		for (uint16_t hi = lo; hi <= 6; hi++)
			out[n++] = (struct version_range){lo, hi};
	return n;
}

static void version_negotiate__matches_search__all_small_ranges(void **state)
{
	struct version_range ranges[21];
	unsigned n_agreed = 0, n_disjoint = 0;
	(void)state;

	assert_int_equal(all_small_ranges(ranges), 21);
	for (size_t i = 0; i < 21; i++) {
		for (size_t j = 0; j < 21; j++) {
			uint16_t want = brute_force_agree(ranges[i], ranges[j]), got = 99;
			sotto_err rc = version_negotiate(ranges[i], ranges[j], &got);
			assert_int_equal(rc, want != 0 ? SOTTO_OK : SOTTO_ERR_VERSION);
			assert_int_equal(got, want);
			n_agreed += want != 0;
			n_disjoint += want == 0;
		}
	}
	assert_int_equal(n_agreed + n_disjoint, 21 * 21);
	assert_true(n_agreed > 0 && n_disjoint > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(version_range__round_trip__written_then_read),
	        cmocka_unit_test(version_range_read__valid__single_and_widest),
	        cmocka_unit_test(version_range_read__protocol__malformed),
	        cmocka_unit_test(version_range_read__truncated__every_short_input),
	        cmocka_unit_test(version_range_read__sticky__reader_already_failed),
	        cmocka_unit_test(version_range_write__too_large__full_writer),
	        cmocka_unit_test(version_negotiate__highest_common__overlapping),
	        cmocka_unit_test(version_negotiate__version__disjoint),
	        cmocka_unit_test(version_negotiate__invalid__malformed_range),
	        cmocka_unit_test(version_negotiate__matches_search__all_small_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
