/* SPDX-License-Identifier: MIT */
/*
 * fmt_test.c - tests of the sotto program's text formatting (fmt.c): the
 * cleaning of peer text (escape sequences, C1 controls, bidirectional
 * overrides, invalid UTF-8 never reach the terminal), previews, times,
 * marks and error names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "fmt.h"

#define FFFD "\xef\xbf\xbd"

static void check_clean(const char *in, size_t in_len, const char *lf, const char *want)
{
	char out[256];
	size_t n = fmt_clean(out, sizeof(out), (const uint8_t *)in, in_len, lf);
	assert_int_equal(n, strlen(want));
	assert_string_equal(out, want);
}

static void fmt_clean__replaces_controls__escape_sequences(void **state)
{
	(void)state;
	check_clean("\x1b[2J\x1b]0;title\x07hi", 16, NULL, FFFD "[2J" FFFD "]0;title" FFFD "hi");
	check_clean("a\rb\x7f"
	            "c",
	            5, NULL, "a" FFFD "b" FFFD "c");
	check_clean("a\0b", 3, NULL, "a" FFFD "b");
}

static void fmt_clean__replaces_c1_and_bidi__utf8_encoded(void **state)
{
	(void)state;
	check_clean("\xc2\x9b"
	            "31m",
	            5, NULL, FFFD "31m");
	check_clean("abc\xe2\x80\xae"
	            "def",
	            9, NULL, "abc" FFFD "def");
	check_clean("\xe2\x81\xa6x\xe2\x81\xa9", 7, NULL, FFFD "x" FFFD);
	/* U+200E (a mark, not an override) and other text stay. */
	check_clean("\xe2\x80\x8e\xc3\xa9\xf0\x9f\x98\x80", 9, NULL,
	            "\xe2\x80\x8e\xc3\xa9\xf0\x9f\x98\x80");
}

static void fmt_clean__replaces_invalid_utf8__each_bad_byte(void **state)
{
	(void)state;
	check_clean("\xff", 1, NULL, FFFD);
	check_clean("\xc0\xaf", 2, NULL, FFFD FFFD);                   /* overlong */
	check_clean("\xed\xa0\x80", 3, NULL, FFFD FFFD FFFD);          /* surrogate */
	check_clean("ok\xe2\x9c", 4, NULL, "ok" FFFD FFFD);            /* truncated */
	check_clean("\xf4\x90\x80\x80", 4, NULL, FFFD FFFD FFFD FFFD); /* above U+10FFFF */
}

static void fmt_clean__line_breaks__replaced_by_lf_text(void **state)
{
	(void)state;
	check_clean("a\nb\tc", 5, NULL, "a b c");
	check_clean("a\nb", 3, "\n  ", "a\n  b");
}

static void fmt_clean__cut_at_character__small_buffer(void **state)
{
	char out[6];
	(void)state;
	/* "ab" and a 3-byte character fit in 5 bytes; the next 3-byte one does not. */
	size_t n =
	        fmt_clean(out, sizeof(out), (const uint8_t *)"ab\xe2\x9c\x93\xe2\x9c\x93", 8, NULL);
	assert_int_equal(n, 5);
	assert_string_equal(out, "ab\xe2\x9c\x93");
	n = fmt_clean(out, 1, (const uint8_t *)"abc", 3, NULL);
	assert_int_equal(n, 0);
	assert_string_equal(out, "");
}

static void fmt_preview__whole_text__short(void **state)
{
	char out[FMT_PREVIEW_LEN];
	(void)state;
	fmt_preview(out, sizeof(out), (const uint8_t *)"hello there", 11, true);
	assert_string_equal(out, "hello there");
}

static void fmt_preview__cut_after_word__long_text(void **state)
{
	char out[FMT_PREVIEW_LEN];
	const char *t = "the quick brown fox jumps over the lazy dog";
	(void)state;
	fmt_preview(out, sizeof(out), (const uint8_t *)t, strlen(t), true);
	assert_string_equal(out, "the quick brown fox\xe2\x80\xa6");
	fmt_preview(out, sizeof(out), (const uint8_t *)t, strlen(t), false);
	assert_string_equal(out, "the quick brown fox...");
	/* One long word is cut where it must be. */
	const char *w = "abcdefghijklmnopqrstuvwxyzabcdefgh";
	fmt_preview(out, sizeof(out), (const uint8_t *)w, strlen(w), false);
	assert_string_equal(out, "abcdefghijklmnopqrstuvwx...");
	/* A line break and an escape are cleaned in the preview too. */
	fmt_preview(out, sizeof(out),
	            (const uint8_t *)"a\nb\x1b"
	                             "c",
	            5, false);
	assert_string_equal(out, "a b" FFFD "c");
}

static void fmt_time__short_or_dated__by_day(void **state)
{
	char out[FMT_TIME_LEN];
	(void)state;
	assert_int_equal(setenv("TZ", "UTC", 1), 0);
	tzset();
	uint64_t t = 1700000000000ull; /* 2023-11-14 22:13:20 UTC */
	fmt_time(out, sizeof(out), t, t + 60000, false);
	assert_string_equal(out, "22:13");
	fmt_time(out, sizeof(out), t, t + 86400000ull, false);
	assert_string_equal(out, "2023-11-14 22:13");
	fmt_time(out, sizeof(out), t, t + 86400000ull, true);
	assert_string_equal(out, "22:13");
}

static void fmt_mark__both_alphabets__every_status(void **state)
{
	(void)state;
	assert_string_equal(fmt_mark(CLIENT_AGENT_DELIVERED, true), "\xe2\x9c\x93\xe2\x9c\x93");
	assert_string_equal(fmt_mark(CLIENT_AGENT_DELIVERED, false), "++");
	assert_string_equal(fmt_mark(CLIENT_AGENT_SENT, false), "+");
	assert_string_equal(fmt_mark(CLIENT_AGENT_FAILED, false), "x");
	assert_string_equal(fmt_mark(CLIENT_AGENT_QUEUED, false), "...");
	assert_string_equal(fmt_mark(CLIENT_AGENT_RECEIVED, true), "");
	assert_string_equal(fmt_status_name(CLIENT_AGENT_DELIVERED), "delivered");
	assert_string_equal(fmt_state_name(CLIENT_AGENT_JOINING), "joining");
}

static void fmt_err_code__distinct_names__every_error(void **state)
{
	(void)state;
	for (int a = 0; a <= SOTTO_ERR_NOT_FOUND; a++) {
		const char *x = fmt_err_code((sotto_err)a);
		assert_string_not_equal(x, "unknown");
		for (int b = 0; b < a; b++)
			assert_string_not_equal(x, fmt_err_code((sotto_err)b));
	}
	assert_string_equal(fmt_err_code(SOTTO_ERR_NOT_FOUND), "not_found");
	assert_string_equal(fmt_err_code((sotto_err)999), "unknown");
}

static void fmt_relay_short__host_and_port__address(void **state)
{
	char out[FMT_RELAY_SHORT_MAX];
	(void)state;
	fmt_relay_short(out, sizeof(out), "sotto://AAAA@relay.example.org:5223");
	assert_string_equal(out, "relay.example.org:5223");
	fmt_relay_short(out, sizeof(out), "no-at-sign");
	assert_string_equal(out, "no-at-sign");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(fmt_clean__replaces_controls__escape_sequences),
	        cmocka_unit_test(fmt_clean__replaces_c1_and_bidi__utf8_encoded),
	        cmocka_unit_test(fmt_clean__replaces_invalid_utf8__each_bad_byte),
	        cmocka_unit_test(fmt_clean__line_breaks__replaced_by_lf_text),
	        cmocka_unit_test(fmt_clean__cut_at_character__small_buffer),
	        cmocka_unit_test(fmt_preview__whole_text__short),
	        cmocka_unit_test(fmt_preview__cut_after_word__long_text),
	        cmocka_unit_test(fmt_time__short_or_dated__by_day),
	        cmocka_unit_test(fmt_mark__both_alphabets__every_status),
	        cmocka_unit_test(fmt_err_code__distinct_names__every_error),
	        cmocka_unit_test(fmt_relay_short__host_and_port__address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
