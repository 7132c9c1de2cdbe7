/* SPDX-License-Identifier: MIT */
/*
 * qr.h - QR codes drawn as text for the terminal client (cmd/sotto).
 *
 * Used to show an invitation link (up to 564 characters) or a 60-digit
 * security code so that a phone can scan it off the screen. Encoding is
 * libqrencode's: error correction level M, byte mode (the text's bytes as
 * they are, no guessing of a denser mode), the smallest version that fits.
 * Drawing adds the 4-module quiet zone the standard asks for.
 *
 * Colours. Nothing here emits colour codes: modules are drawn as block
 * characters in the terminal's default foreground colour over its default
 * background, so one style shows correctly on any theme whose foreground and
 * background contrast. Which modules get the blocks is the choice:
 *
 *   QR_STYLE_UTF8 and QR_STYLE_ASCII draw the dark modules as blocks. On a
 *   light terminal (dark text on a light background) that is the standard
 *   dark-on-light symbol. On a dark terminal it comes out inverted
 *   (light-on-dark); phone cameras and most current apps read that, but
 *   some scanners only accept dark-on-light.
 *   QR_STYLE_UTF8_INVERT and QR_STYLE_ASCII_INVERT draw the light modules
 *   and the quiet zone as blocks instead, which is dark-on-light on a dark
 *   terminal. The client offers this as an option because it cannot learn
 *   the terminal's colours reliably.
 *
 * Shapes. The UTF-8 styles pack two module rows into one text row with the
 * half blocks U+2580 (upper), U+2584 (lower), U+2588 (full) and a space, one
 * module per column: terminal cells are about twice as tall as they are
 * wide, so the modules come out square. A symbol of width w modules (quiet
 * zone included, W = w + 8) is W columns by ceil(W / 2) rows; the bottom half
 * of the last row lies outside the symbol and is drawn as light. The ASCII
 * styles, for terminals whose locale is not UTF-8, draw each module as two
 * characters ("##" or two spaces) on its own row: 2W columns by W rows.
 * Every row ends with LF, and rows are not trimmed, so the drawing is a
 * rectangle.
 *
 * Sizes: a 60-digit security code is version 4 (33 modules, 41 columns with
 * the quiet zone); a 564-character invitation is version 19 (93 modules, 101
 * columns).
 */
#ifndef SOTTO_QR_H
#define SOTTO_QR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

enum {
	QR_QUIET = 4,       /* modules of quiet zone on each side */
	QR_TEXT_MAX = 2331, /* bytes: byte-mode capacity of version 40 at level M */
};

enum qr_style {
	QR_STYLE_UTF8 = 0,        /* half blocks, dark modules drawn */
	QR_STYLE_UTF8_INVERT = 1, /* half blocks, light modules and quiet zone drawn */
	QR_STYLE_ASCII = 2,       /* "##" per dark module, one row per module row */
	QR_STYLE_ASCII_INVERT = 3,
};

/* The symbol without its quiet zone. */
struct qr_matrix {
	int version;      /* 1 to 40 */
	size_t width;     /* modules per side: 17 + 4 * version */
	uint8_t *modules; /* width * width bytes, row by row, 1 = dark, 0 = light; owned */
};

/*
 * Encodes text (len bytes; any bytes, NUL included) at level M in byte mode
 * into *out, which the caller clears with qr_matrix_clear() on success; on
 * failure *out is left empty.
 *
 * Errors: SOTTO_ERR_INVALID (len == 0), SOTTO_ERR_TOO_LARGE (len >
 * QR_TEXT_MAX, or libqrencode finds no version that fits),
 * SOTTO_ERR_NOMEM, SOTTO_ERR_INTERNAL (libqrencode failed otherwise).
 */
SOTTO_NODISCARD sotto_err qr_encode(const char *text, size_t len, struct qr_matrix *out);

/* Frees the modules and empties m. Safe on an emptied or zeroed matrix. */
void qr_matrix_clear(struct qr_matrix *m);

/*
 * Draws m in style as described above: *out_utf8 gets a new malloc'd,
 * NUL-terminated string (the caller frees it) holding *out_len bytes, no
 * NUL among them. *out_utf8 is NULL on failure.
 *
 * Errors: SOTTO_ERR_INVALID (unknown style, empty matrix), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err qr_draw(const struct qr_matrix *m, enum qr_style style, char **out_utf8,
                                  size_t *out_len);

/* qr_encode() then qr_draw(); the errors of both. */
SOTTO_NODISCARD sotto_err qr_render(const char *text, size_t len, enum qr_style style,
                                    char **out_utf8, size_t *out_len);

/*
 * True when the C library's current locale (LC_CTYPE) encodes UTF-8, i.e.
 * the half-block styles will display. The program must have called
 * setlocale(LC_CTYPE, "") first; in the default "C" locale this is false.
 */
bool qr_locale_is_utf8(void);

#endif /* SOTTO_QR_H */
