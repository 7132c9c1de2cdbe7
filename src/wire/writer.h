/* SPDX-License-Identifier: MIT */
/*
 * writer.h - the bounded writer every encoder in sotto uses (wire layer).
 *
 * A writer fills caller storage and never allocates. Every write checks the
 * room left first; the first failure sticks (SOTTO_ERR_TOO_LARGE when the
 * buffer is full, or when a length-prefixed field exceeds its prefix or its
 * named _MAX), and nothing is written past cap. Integers are big-endian.
 */
#ifndef SOTTO_WIRE_WRITER_H
#define SOTTO_WIRE_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

struct wire_writer {
	uint8_t *buf;  /* borrowed; cap bytes */
	size_t cap;    /* bytes available */
	size_t len;    /* bytes written */
	sotto_err err; /* first failure, or SOTTO_OK */
};

void wire_writer_init(struct wire_writer *w, uint8_t *SOTTO_NULLABLE buf, size_t cap);

sotto_err wire_writer_error(const struct wire_writer *w);

/* Records err (if none is recorded yet). */
void wire_writer_fail(struct wire_writer *w, sotto_err err);

void wire_writer_u8(struct wire_writer *w, uint8_t v);
void wire_writer_u16(struct wire_writer *w, uint16_t v);
void wire_writer_u32(struct wire_writer *w, uint32_t v);
void wire_writer_u64(struct wire_writer *w, uint64_t v);

/* Appends n bytes (data may be NULL when n is 0). */
void wire_writer_bytes(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n);

/* Appends n zero bytes. */
void wire_writer_zeros(struct wire_writer *w, size_t n);

/*
 * Appends a u8/u16/u32 length then the bytes. Fails with SOTTO_ERR_TOO_LARGE
 * if n > max or n does not fit the prefix.
 */
void wire_writer_lp8(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n, size_t max);
void wire_writer_lp16(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n, size_t max);
void wire_writer_lp32(struct wire_writer *w, const uint8_t *SOTTO_NULLABLE data, size_t n, size_t max);

/*
 * Reserves n bytes to be filled later (e.g. a length known only at the end);
 * returns a pointer into buf, or NULL on failure.
 */
uint8_t *wire_writer_reserve(struct wire_writer *w, size_t n);

/* Returns the sticky error; on success *len (if non-NULL) gets bytes written. */
SOTTO_NODISCARD sotto_err wire_writer_finish(const struct wire_writer *w, size_t *SOTTO_NULLABLE len);

#endif /* SOTTO_WIRE_WRITER_H */
