/* SPDX-License-Identifier: MIT */
/*
 * qr.c - QR codes drawn as text (cmd/sotto); see qr.h.
 *
 * libqrencode does the encoding; this file copies its matrix into a plain
 * byte array (libqrencode's module bytes carry internal flags in the upper
 * bits; only bit 0, dark, is kept) and draws it. Drawing looks modules up
 * through one function that answers "light" for everything outside the
 * symbol, which is what makes the quiet zone and the half row below an
 * odd-sized symbol fall out without special cases.
 */
#include <errno.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "qr.h"

/* Whether the module at (x, y), quiet zone included, is drawn as a block. */
static bool is_ink(const struct qr_matrix *m, size_t x, size_t y, bool invert)
{
	bool is_dark = false;
	if (x >= QR_QUIET && y >= QR_QUIET && x - QR_QUIET < m->width && y - QR_QUIET < m->width)
		is_dark = m->modules[(y - QR_QUIET) * m->width + (x - QR_QUIET)] != 0;
	return is_dark != invert;
}

void qr_matrix_clear(struct qr_matrix *m)
{
	free(m->modules);
	m->modules = NULL;
	m->width = 0;
	m->version = 0;
}

sotto_err qr_encode(const char *text, size_t len, struct qr_matrix *out)
{
	sotto_err rc = SOTTO_OK;
	QRcode *code = NULL;
	size_t width;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return SOTTO_ERR_INVALID;
	if (len > QR_TEXT_MAX)
		return SOTTO_ERR_TOO_LARGE;
	errno = 0;
	code = QRcode_encodeData((int)len, (const unsigned char *)text, 0, QR_ECLEVEL_M);
	if (code == NULL) {
		if (errno == ERANGE)
			return SOTTO_ERR_TOO_LARGE;
		return errno == ENOMEM ? SOTTO_ERR_NOMEM : SOTTO_ERR_INTERNAL;
	}
	/* Trust nothing about the shape we did not check. */
	if (code->version < 1 || code->version > 40 || code->width != 17 + 4 * code->version) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	width = (size_t)code->width;
	if ((out->modules = malloc(width * width)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < width * width; i++)
		out->modules[i] = code->data[i] & 1u;
	out->width = width;
	out->version = code->version;
out:
	QRcode_free(code);
	return rc;
}

/* Two module rows (y, y + 1) per text row, one column per module. */
static size_t draw_half_blocks(const struct qr_matrix *m, bool invert, char *p)
{
	static const char *const CELLS[4] = {" ", "\xe2\x96\x84", "\xe2\x96\x80", "\xe2\x96\x88"};
	size_t w = m->width + 2 * QR_QUIET;
	char *start = p;
	for (size_t y = 0; y < w; y += 2) {
		for (size_t x = 0; x < w; x++) {
			unsigned top = is_ink(m, x, y, invert) ? 2u : 0u;
			unsigned bottom = is_ink(m, x, y + 1, invert) ? 1u : 0u;
			const char *cell = CELLS[top | bottom];
			size_t n = strlen(cell);
			memcpy(p, cell, n);
			p += n;
		}
		*p++ = '\n';
	}
	return (size_t)(p - start);
}

/* One text row per module row, two characters per module. */
static size_t draw_ascii(const struct qr_matrix *m, bool invert, char *p)
{
	size_t w = m->width + 2 * QR_QUIET;
	char *start = p;
	for (size_t y = 0; y < w; y++) {
		for (size_t x = 0; x < w; x++) {
			char c = is_ink(m, x, y, invert) ? '#' : ' ';
			*p++ = c;
			*p++ = c;
		}
		*p++ = '\n';
	}
	return (size_t)(p - start);
}

sotto_err qr_draw(const struct qr_matrix *m, enum qr_style style, char **out_utf8, size_t *out_len)
{
	size_t w, cap, n;
	char *buf = NULL;
	bool is_ascii = style == QR_STYLE_ASCII || style == QR_STYLE_ASCII_INVERT;
	bool invert = style == QR_STYLE_UTF8_INVERT || style == QR_STYLE_ASCII_INVERT;

	*out_utf8 = NULL;
	*out_len = 0;
	if (m->modules == NULL || m->width == 0 || m->width > 17 + 4 * 40)
		return SOTTO_ERR_INVALID;
	if (style != QR_STYLE_UTF8 && style != QR_STYLE_UTF8_INVERT && !is_ascii)
		return SOTTO_ERR_INVALID;
	w = m->width + 2 * QR_QUIET;
	/* At most 185 modules a side, so these products stay small. */
	cap = is_ascii ? w * (2 * w + 1) : (w + 1) / 2 * (3 * w + 1);
	if ((buf = malloc(cap + 1)) == NULL)
		return SOTTO_ERR_NOMEM;
	n = is_ascii ? draw_ascii(m, invert, buf) : draw_half_blocks(m, invert, buf);
	buf[n] = '\0';
	*out_utf8 = buf;
	*out_len = n;
	return SOTTO_OK;
}

sotto_err qr_render(const char *text, size_t len, enum qr_style style, char **out_utf8,
                    size_t *out_len)
{
	sotto_err rc;
	struct qr_matrix m;

	*out_utf8 = NULL;
	*out_len = 0;
	if ((rc = qr_encode(text, len, &m)) != SOTTO_OK)
		return rc;
	rc = qr_draw(&m, style, out_utf8, out_len);
	qr_matrix_clear(&m);
	return rc;
}

bool qr_locale_is_utf8(void)
{
	const char *cs = nl_langinfo(CODESET);
	if (cs == NULL)
		return false;
	return strcmp(cs, "UTF-8") == 0 || strcmp(cs, "utf-8") == 0 || strcmp(cs, "utf8") == 0 ||
	       strcmp(cs, "UTF8") == 0;
}
