/* SPDX-License-Identifier: MIT */
/*
 * qr_test.c - tests of the QR drawing (cmd/sotto/qr.c).
 *
 * The reference is libqrencode called directly with the parameters qr.h
 * promises (level M, byte mode, smallest version). Drawings are read back
 * into modules from their characters and compared with that reference
 * module for module, so any loss in drawing (a swapped half block, a missing
 * row, a shifted quiet zone) fails. Symbol versions are checked against the
 * byte-mode capacities for level M in the QR standard's capacity table,
 * which libqrencode does not get to define.
 */
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <qrencode.h>

#include "qr.h"

static const enum qr_style STYLES[] = {QR_STYLE_UTF8, QR_STYLE_UTF8_INVERT, QR_STYLE_ASCII,
                                       QR_STYLE_ASCII_INVERT};

/* A text of len bytes shaped like an invitation link. */
static char *make_text(size_t len)
{
	static const char ALPHABET[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *s = malloc(len + 1);
	assert_non_null(s);
	for (size_t i = 0; i < len; i++)
		s[i] = ALPHABET[(i * 7 + 3) % (sizeof(ALPHABET) - 1)];
	if (len >= 8)
		memcpy(s, "sotto://", 8);
	s[len] = '\0';
	return s;
}

static const char SECURITY_CODE[] = "123456789012345678901234567890123456789012345678901234567890";

/*
 * Reads a drawing back into a grid of inks (1 = block drawn), one byte per
 * module, rows of w modules; returns the number of module rows read. Fails
 * the test on any character that is not part of the style's alphabet or on
 * a row of the wrong length.
 */
static size_t read_back(const char *s, size_t len, bool is_ascii, size_t w, uint8_t *grid,
                        size_t max_rows)
{
	size_t row = 0, i = 0;
	while (i < len) {
		assert_true(row + (is_ascii ? 1 : 2) <= max_rows);
		for (size_t x = 0; x < w; x++) {
			unsigned top = 0, bottom = 0;
			if (is_ascii) {
				assert_true(i + 2 <= len);
				assert_true(s[i] == s[i + 1]);
				assert_true(s[i] == '#' || s[i] == ' ');
				grid[row * w + x] = s[i] == '#';
				i += 2;
				continue;
			}
			if (s[i] == ' ') {
				top = bottom = 0;
				i += 1;
			} else {
				assert_true(i + 3 <= len);
				assert_memory_equal(s + i, "\xe2\x96", 2);
				switch ((uint8_t)s[i + 2]) {
				case 0x80: top = 1, bottom = 0; break; /* U+2580 upper half */
				case 0x84: top = 0, bottom = 1; break; /* U+2584 lower half */
				case 0x88: top = 1, bottom = 1; break; /* U+2588 full block */
				default: fail_msg("unexpected character at byte %zu", i);
				}
				i += 3;
			}
			grid[row * w + x] = (uint8_t)top;
			grid[(row + 1) * w + x] = (uint8_t)bottom;
		}
		assert_true(i < len);
		assert_int_equal(s[i], '\n');
		i++;
		row += is_ascii ? 1 : 2;
	}
	return row;
}

/* Draws text in style and checks every module against libqrencode's own matrix. */
static void check_lossless(const char *text, size_t len, enum qr_style style)
{
	bool is_ascii = style == QR_STYLE_ASCII || style == QR_STYLE_ASCII_INVERT;
	bool invert = style == QR_STYLE_UTF8_INVERT || style == QR_STYLE_ASCII_INVERT;
	char *drawn = NULL;
	size_t drawn_len = 0;
	QRcode *ref = QRcode_encodeData((int)len, (const unsigned char *)text, 0, QR_ECLEVEL_M);
	assert_non_null(ref);
	size_t qw = (size_t)ref->width, w = qw + 2 * QR_QUIET;
	uint8_t *grid = calloc(w + 1, w);
	assert_non_null(grid);

	assert_int_equal(qr_render(text, len, style, &drawn, &drawn_len), SOTTO_OK);
	assert_int_equal(strlen(drawn), drawn_len);
	size_t rows = read_back(drawn, drawn_len, is_ascii, w, grid, w + 1);
	assert_int_equal(rows, is_ascii ? w : w + 1);
	for (size_t y = 0; y < rows; y++) {
		for (size_t x = 0; x < w; x++) {
			bool in_symbol = x >= QR_QUIET && y >= QR_QUIET && x < QR_QUIET + qw &&
			                 y < QR_QUIET + qw;
			bool is_dark = in_symbol &&
			               (ref->data[(y - QR_QUIET) * qw + (x - QR_QUIET)] & 1) != 0;
			if (grid[y * w + x] != (uint8_t)(is_dark != invert))
				fail_msg("module (%zu, %zu) of style %d differs", x, y, (int)style);
		}
	}
	free(grid);
	free(drawn);
	QRcode_free(ref);
}

static void qr__reads_back_libqrencode_matrix__in_every_style(void **state)
{
	(void)state;
	char *invite = make_text(564);
	static const char BINARY[] = "a\0b\xff\x80 z";
	for (size_t i = 0; i < sizeof(STYLES) / sizeof(STYLES[0]); i++) {
		check_lossless(SECURITY_CODE, strlen(SECURITY_CODE), STYLES[i]);
		check_lossless(invite, 564, STYLES[i]);
		check_lossless("x", 1, STYLES[i]);
		check_lossless(BINARY, sizeof(BINARY) - 1, STYLES[i]);
	}
	free(invite);
}

/* Text sizes at the edges of level-M byte-mode capacities, and their versions. */
static const struct {
	size_t len;
	int version;
} KNOWN[] = {
        {1, 1},  {14, 1},   {15, 2},   {26, 2},   {27, 3},   {60, 4},   {62, 4},
        {63, 5}, {560, 18}, {561, 19}, {564, 19}, {624, 19}, {625, 20}, {2331, 40},
};

static void qr__has_dimensions_of_its_version__for_known_inputs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(KNOWN) / sizeof(KNOWN[0]); i++) {
		char *text = make_text(KNOWN[i].len);
		struct qr_matrix m;
		char *drawn = NULL;
		size_t drawn_len = 0;
		assert_int_equal(qr_encode(text, KNOWN[i].len, &m), SOTTO_OK);
		if (m.version != KNOWN[i].version)
			fail_msg("%zu bytes: version %d, expected %d", KNOWN[i].len, m.version,
			         KNOWN[i].version);
		size_t w = 17 + 4 * (size_t)KNOWN[i].version + 2 * QR_QUIET;
		assert_int_equal(m.width, w - 2 * QR_QUIET);

		/* Half blocks: w columns (3 bytes or a space each) by ceil(w / 2) rows. */
		assert_int_equal(qr_draw(&m, QR_STYLE_UTF8, &drawn, &drawn_len), SOTTO_OK);
		size_t n_rows = 0, cols = 0;
		for (size_t j = 0; j < drawn_len; j++) {
			uint8_t c = (uint8_t)drawn[j];
			if (c == '\n') {
				assert_int_equal(cols, w);
				n_rows++;
				cols = 0;
			} else if ((c & 0xC0) != 0x80) {
				cols++; /* a character starts here */
			}
		}
		assert_int_equal(cols, 0);
		assert_int_equal(n_rows, (w + 1) / 2);
		free(drawn);

		/* ASCII: 2w columns by w rows, exactly. */
		assert_int_equal(qr_draw(&m, QR_STYLE_ASCII, &drawn, &drawn_len), SOTTO_OK);
		assert_int_equal(drawn_len, w * (2 * w + 1));
		for (size_t r = 0; r < w; r++)
			assert_int_equal(drawn[r * (2 * w + 1) + 2 * w], '\n');
		free(drawn);
		qr_matrix_clear(&m);
		free(text);
	}
}

static void qr__fails_too_large__when_text_exceeds_capacity(void **state)
{
	(void)state;
	char *text = make_text(QR_TEXT_MAX + 1000);
	char *drawn = (char *)1;
	size_t drawn_len = 99;
	struct qr_matrix m;
	assert_int_equal(qr_render(text, QR_TEXT_MAX + 1, QR_STYLE_UTF8, &drawn, &drawn_len),
	                 SOTTO_ERR_TOO_LARGE);
	assert_null(drawn);
	assert_int_equal(drawn_len, 0);
	assert_int_equal(qr_encode(text, QR_TEXT_MAX + 1000, &m), SOTTO_ERR_TOO_LARGE);
	assert_null(m.modules);
	/* The limit is the standard's own: one byte less still encodes, at version 40. */
	assert_int_equal(qr_encode(text, QR_TEXT_MAX, &m), SOTTO_OK);
	assert_int_equal(m.version, 40);
	qr_matrix_clear(&m);
	qr_matrix_clear(&m); /* twice is harmless */
	free(text);
}

static void qr__fails_invalid__when_text_empty_or_style_unknown(void **state)
{
	(void)state;
	char *drawn = NULL;
	size_t drawn_len = 0;
	struct qr_matrix m, empty = {0};
	assert_int_equal(qr_render("", 0, QR_STYLE_UTF8, &drawn, &drawn_len), SOTTO_ERR_INVALID);
	assert_null(drawn);
	assert_int_equal(qr_draw(&empty, QR_STYLE_UTF8, &drawn, &drawn_len), SOTTO_ERR_INVALID);
	assert_int_equal(qr_encode("hi", 2, &m), SOTTO_OK);
	assert_int_equal(qr_draw(&m, (enum qr_style)7, &drawn, &drawn_len), SOTTO_ERR_INVALID);
	assert_null(drawn);
	qr_matrix_clear(&m);
}

static void qr__has_no_nul__in_drawing(void **state)
{
	(void)state;
	static const char WITH_NUL[] = "\0\0\0sotto\0";
	for (size_t i = 0; i < sizeof(STYLES) / sizeof(STYLES[0]); i++) {
		char *drawn = NULL;
		size_t drawn_len = 0;
		assert_int_equal(
		        qr_render(WITH_NUL, sizeof(WITH_NUL) - 1, STYLES[i], &drawn, &drawn_len),
		        SOTTO_OK);
		assert_true(drawn_len > 0);
		assert_null(memchr(drawn, '\0', drawn_len));
		assert_int_equal(drawn[drawn_len], '\0');
		assert_int_equal(drawn[drawn_len - 1], '\n');
		free(drawn);
	}
}

static void qr__detects_utf8_locale__after_setlocale(void **state)
{
	(void)state;
	assert_non_null(setlocale(LC_CTYPE, "C"));
	assert_false(qr_locale_is_utf8());
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL)
		skip();
	assert_true(qr_locale_is_utf8());
	assert_non_null(setlocale(LC_CTYPE, "C"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(qr__reads_back_libqrencode_matrix__in_every_style),
	        cmocka_unit_test(qr__has_dimensions_of_its_version__for_known_inputs),
	        cmocka_unit_test(qr__fails_too_large__when_text_exceeds_capacity),
	        cmocka_unit_test(qr__fails_invalid__when_text_empty_or_style_unknown),
	        cmocka_unit_test(qr__has_no_nul__in_drawing),
	        cmocka_unit_test(qr__detects_utf8_locale__after_setlocale),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
