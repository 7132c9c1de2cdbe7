/* SPDX-License-Identifier: MIT */
/*
 * ct_test.c - the constant-time helpers give the right answers (their timing
 * is checked by the separate valgrind run, not here).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/ct.h"

static void ct_equal__answers__every_differing_position(void **state)
{
	uint8_t a[48], b[48];
	(void)state;

	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 13);
	assert_true(ct_equal(a, b, sizeof(a)));
	assert_true(ct_equal(a, b, 0));
	for (size_t i = 0; i < sizeof(a); i++) {
		b[i] ^= 0x80;
		assert_false(ct_equal(a, b, sizeof(a)));
		assert_true(ct_equal(a, b, i)); /* the prefix before the difference */
		b[i] ^= 0x80;
	}
}

static void ct_is_zero__answers__every_nonzero_position(void **state)
{
	uint8_t z[40] = {0};
	(void)state;

	assert_true(ct_is_zero(z, sizeof(z)));
	for (size_t i = 0; i < sizeof(z); i++) {
		z[i] = 1;
		assert_false(ct_is_zero(z, sizeof(z)));
		z[i] = 0;
	}
}

static void ct_wipe__zeroes__exact_range(void **state)
{
	uint8_t buf[32];
	(void)state;

	memset(buf, 0xee, sizeof(buf));
	ct_wipe(buf + 4, 20);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], i >= 4 && i < 24 ? 0 : 0xee);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ct_equal__answers__every_differing_position),
	        cmocka_unit_test(ct_is_zero__answers__every_nonzero_position),
	        cmocka_unit_test(ct_wipe__zeroes__exact_range),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
