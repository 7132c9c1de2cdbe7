/* SPDX-License-Identifier: MIT */
/*
 * reader.h - the bounded reader every parser in sotto uses (wire layer).
 *
 * A reader is a cursor over borrowed bytes plus the bytes remaining. Every
 * read checks first; the first failure sticks, later reads return zero or
 * NULL and change nothing, so a parser can read a whole record and check
 * once at the end. Integers are big-endian. A length-prefixed field is
 * checked against the bytes remaining and against a caller-named _MAX before
 * anything is sized from it. wire_reader_finish() rejects trailing bytes.
 */
#ifndef SOTTO_WIRE_READER_H
#define SOTTO_WIRE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

struct wire_reader {
	const uint8_t *buf; /* borrowed; valid while the reader is used */
	size_t len;         /* bytes in buf */
	size_t pos;         /* bytes consumed */
	sotto_err err;      /* first failure, or SOTTO_OK */
};

/* Starts reading len bytes at buf (buf may be NULL when len is 0). */
void wire_reader_init(struct wire_reader *r, const uint8_t *SOTTO_NULLABLE buf, size_t len);

/* Bytes not yet consumed (0 once failed). */
size_t wire_reader_remaining(const struct wire_reader *r);

/* The sticky error, SOTTO_OK while all reads succeeded. */
sotto_err wire_reader_error(const struct wire_reader *r);

/* Records err (if none is recorded yet): for a parser's own semantic checks. */
void wire_reader_fail(struct wire_reader *r, sotto_err err);

/* Fixed-width big-endian integers; 0 and SOTTO_ERR_TRUNCATED when short. */
uint8_t wire_reader_u8(struct wire_reader *r);
uint16_t wire_reader_u16(struct wire_reader *r);
uint32_t wire_reader_u32(struct wire_reader *r);
uint64_t wire_reader_u64(struct wire_reader *r);

/* Copies exactly n bytes into out (zero-filled on failure). */
void wire_reader_copy(struct wire_reader *r, uint8_t *out, size_t n);

/* Borrows the next n bytes; NULL on failure (SOTTO_ERR_TRUNCATED). */
const uint8_t *wire_reader_view(struct wire_reader *r, size_t n);

/*
 * Reads a length-prefixed byte string: a u8, u16 or u32 length, then that
 * many bytes, borrowed. *len is set to 0 first. Errors (sticky, return NULL):
 * SOTTO_ERR_TOO_LARGE (length > max), SOTTO_ERR_TRUNCATED (length > bytes
 * remaining). A zero length returns a non-NULL pointer and *len = 0.
 */
const uint8_t *wire_reader_lp8(struct wire_reader *r, size_t max, size_t *len);
const uint8_t *wire_reader_lp16(struct wire_reader *r, size_t max, size_t *len);
const uint8_t *wire_reader_lp32(struct wire_reader *r, size_t max, size_t *len);

/*
 * Ends a parse that must consume everything: returns the sticky error if any,
 * else SOTTO_ERR_TRAILING if bytes remain, else SOTTO_OK.
 */
SOTTO_NODISCARD sotto_err wire_reader_finish(const struct wire_reader *r);

#endif /* SOTTO_WIRE_READER_H */
