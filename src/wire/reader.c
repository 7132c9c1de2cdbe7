/* SPDX-License-Identifier: MIT */
/*
 * reader.c - the bounded reader (wire layer).
 *
 * Every read goes through take(), the one place that compares a request with
 * the bytes remaining; nothing else touches buf. Invariants: pos <= len at
 * all times, buf is never NULL (an empty reader points at a constant empty
 * array, so a zero-length read yields a real pointer and no arithmetic is
 * ever done on NULL), and once err is set no read moves pos again.
 * Truncation and oversized lengths are raised with SOTTO_RAISE at this first
 * detection site.
 */
#include <string.h>

#include "core/bytes.h"
#include "core/err.h"
#include "wire/reader.h"

/* What an empty reader points at: a constant table, so not mutable state. */
static const uint8_t reader_empty[1];

void wire_reader_init(struct wire_reader *r, const uint8_t *SOTTO_NULLABLE buf, size_t len)
{
	r->buf = buf != NULL ? buf : reader_empty;
	r->len = len;
	r->pos = 0;
	r->err = SOTTO_OK;
}

size_t wire_reader_remaining(const struct wire_reader *r)
{
	if (r->err != SOTTO_OK)
		return 0;
	return r->len - r->pos;
}

sotto_err wire_reader_error(const struct wire_reader *r)
{
	return r->err;
}

void wire_reader_fail(struct wire_reader *r, sotto_err err)
{
	if (r->err == SOTTO_OK)
		r->err = err;
}

/*
 * Consumes n bytes and returns where they start, or NULL (recording
 * SOTTO_ERR_TRUNCATED unless an error is already recorded) if the reader has
 * failed or fewer than n bytes remain.
 */
static const uint8_t *take(struct wire_reader *r, size_t n)
{
	const uint8_t *p;

	if (r->err != SOTTO_OK)
		return NULL;
	if (n > r->len - r->pos) {
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_TRUNCATED));
		return NULL;
	}
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

uint8_t wire_reader_u8(struct wire_reader *r)
{
	const uint8_t *p = take(r, 1);
	return p != NULL ? p[0] : 0;
}

uint16_t wire_reader_u16(struct wire_reader *r)
{
	const uint8_t *p = take(r, 2);
	return p != NULL ? bytes_load_be16(p) : 0;
}

uint32_t wire_reader_u32(struct wire_reader *r)
{
	const uint8_t *p = take(r, 4);
	return p != NULL ? bytes_load_be32(p) : 0;
}

uint64_t wire_reader_u64(struct wire_reader *r)
{
	const uint8_t *p = take(r, 8);
	return p != NULL ? bytes_load_be64(p) : 0;
}

void wire_reader_copy(struct wire_reader *r, uint8_t *out, size_t n)
{
	const uint8_t *p = take(r, n);

	if (p != NULL)
		memcpy(out, p, n);
	else
		memset(out, 0, n);
}

const uint8_t *wire_reader_view(struct wire_reader *r, size_t n)
{
	return take(r, n);
}

/*
 * The body of a length-prefixed field whose prefix read n (or failed): the
 * limit is checked before the bytes remaining, so an oversized length is
 * reported as such even when the input is also short.
 */
static const uint8_t *lp_body(struct wire_reader *r, size_t n, size_t max, size_t *len)
{
	const uint8_t *p;

	if (r->err != SOTTO_OK)
		return NULL;
	if (n > max) {
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_TOO_LARGE));
		return NULL;
	}
	p = take(r, n);
	if (p != NULL)
		*len = n;
	return p;
}

const uint8_t *wire_reader_lp8(struct wire_reader *r, size_t max, size_t *len)
{
	*len = 0;
	return lp_body(r, wire_reader_u8(r), max, len);
}

const uint8_t *wire_reader_lp16(struct wire_reader *r, size_t max, size_t *len)
{
	*len = 0;
	return lp_body(r, wire_reader_u16(r), max, len);
}

const uint8_t *wire_reader_lp32(struct wire_reader *r, size_t max, size_t *len)
{
	*len = 0;
	return lp_body(r, wire_reader_u32(r), max, len);
}

sotto_err wire_reader_finish(const struct wire_reader *r)
{
	if (r->err != SOTTO_OK)
		return r->err;
	if (r->pos != r->len)
		return SOTTO_RAISE(SOTTO_ERR_TRAILING);
	return SOTTO_OK;
}
