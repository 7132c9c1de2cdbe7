/* SPDX-License-Identifier: MIT */
/*
 * writer.c - the bounded writer (wire layer).
 *
 * Every write of one or more bytes goes through take(), the one place that
 * compares a request with the room left, so nothing is ever written past
 * cap. Invariants: len <= cap at all times, and once err is set len never
 * moves again. A writer may have no buffer (buf NULL, cap 0): then only
 * zero-length writes succeed, and they never form a pointer from NULL.
 * Running out of room is the caller's sizing, not hostile input, so it is
 * not raised through SOTTO_RAISE.
 */
#include <stdbool.h>
#include <string.h>

#include "core/bytes.h"
#include "wire/writer.h"

void wire_writer_init(struct wire_writer *w, uint8_t *SOTTO_NULLABLE buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = SOTTO_OK;
}

sotto_err wire_writer_error(const struct wire_writer *w)
{
	return w->err;
}

void wire_writer_fail(struct wire_writer *w, sotto_err err)
{
	if (w->err == SOTTO_OK)
		w->err = err;
}

/*
 * Claims the next n bytes and returns where they start, or NULL (recording
 * SOTTO_ERR_TOO_LARGE unless an error is already recorded) if the writer has
 * failed or has less than n bytes of room. Callers pass n == 0 only when buf
 * is known to be non-NULL.
 */
static uint8_t *take(struct wire_writer *w, size_t n)
{
	uint8_t *p;

	if (w->err != SOTTO_OK)
		return NULL;
	if (n > w->cap - w->len) {
		wire_writer_fail(w, SOTTO_ERR_TOO_LARGE);
		return NULL;
	}
	p = w->buf + w->len;
	w->len += n;
	return p;
}

void wire_writer_u8(struct wire_writer *w, uint8_t v)
{
	uint8_t *p = take(w, 1);
	if (p != NULL)
		p[0] = v;
}

void wire_writer_u16(struct wire_writer *w, uint16_t v)
{
	uint8_t *p = take(w, 2);
	if (p != NULL)
		bytes_store_be16(p, v);
}

void wire_writer_u32(struct wire_writer *w, uint32_t v)
{
	uint8_t *p = take(w, 4);
	if (p != NULL)
		bytes_store_be32(p, v);
}

void wire_writer_u64(struct wire_writer *w, uint64_t v)
{
	uint8_t *p = take(w, 8);
	if (p != NULL)
		bytes_store_be64(p, v);
}

void wire_writer_bytes(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n)
{
	uint8_t *p;

	/* Zero bytes always fit; data and buf may both be NULL then. */
	if (n == 0)
		return;
	p = take(w, n);
	if (p != NULL)
		memcpy(p, data, n);
}

void wire_writer_zeros(struct wire_writer *w, size_t n)
{
	uint8_t *p;

	if (n == 0)
		return;
	p = take(w, n);
	if (p != NULL)
		memset(p, 0, n);
}

/*
 * Checks a length-prefixed field of n bytes against the caller's limit and
 * the largest length its prefix can carry; records SOTTO_ERR_TOO_LARGE if
 * either is exceeded. The prefix limit is compared in 64 bits so that the
 * test means the same on targets where size_t is 32 bits.
 */
static bool lp_fits(struct wire_writer *w, size_t n, size_t max, uint64_t prefix_max)
{
	if (n > max || (uint64_t)n > prefix_max) {
		wire_writer_fail(w, SOTTO_ERR_TOO_LARGE);
		return false;
	}
	return true;
}

void wire_writer_lp8(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n,
                     size_t max)
{
	if (!lp_fits(w, n, max, UINT8_MAX))
		return;
	wire_writer_u8(w, (uint8_t)n);
	wire_writer_bytes(w, data, n);
}

void wire_writer_lp16(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n,
                      size_t max)
{
	if (!lp_fits(w, n, max, UINT16_MAX))
		return;
	wire_writer_u16(w, (uint16_t)n);
	wire_writer_bytes(w, data, n);
}

void wire_writer_lp32(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n,
                      size_t max)
{
	if (!lp_fits(w, n, max, UINT32_MAX))
		return;
	wire_writer_u32(w, (uint32_t)n);
	wire_writer_bytes(w, data, n);
}

uint8_t *wire_writer_reserve(struct wire_writer *w, size_t n)
{
	/* With no buffer there is nothing to point at, even for zero bytes. */
	if (n == 0 && w->buf == NULL)
		return NULL;
	return take(w, n);
}

sotto_err wire_writer_finish(const struct wire_writer *w, size_t *SOTTO_NULLABLE len)
{
	if (len != NULL)
		*len = 0;
	if (w->err != SOTTO_OK)
		return w->err;
	if (len != NULL)
		*len = w->len;
	return SOTTO_OK;
}
