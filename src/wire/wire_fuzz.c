/* SPDX-License-Identifier: MIT */
/*
 * wire_fuzz.c - libFuzzer target for the wire layer (test code, not in
 * libsotto).
 *
 * Input: byte 0 picks a program of reader operations (up to OPS_MAX of them,
 * drawn from a small generator seeded by that byte) that runs over the rest.
 * Each step is checked against a reference model of the reader (position,
 * sticky error, values read), and every successful read is written back
 * with the writer: the writer's output must equal the bytes consumed. The
 * rest of the input is then also
 *   - decoded as base64url: acceptance must match a separate validity check,
 *     a decoded text must re-encode to itself, and a rejected one must leave
 *     the output zeroed; and encoded then decoded back to itself;
 *   - unpadded as a block: acceptance must match a separate check, and an
 *     accepted block must pad back to itself; and padded then unpadded.
 * A violated invariant calls abort(), which is how a fuzz target reports.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "wire/base64url.h"
#include "wire/pad.h"
#include "wire/reader.h"
#include "wire/writer.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

enum {
	INPUT_MAX = 4096, /* longer inputs are cut here */
	OPS_MAX = 32,
	B64_BIN_MAX = INPUT_MAX / 4 * 3,
};

enum op {
	OP_U8,
	OP_U16,
	OP_U32,
	OP_U64,
	OP_COPY,
	OP_VIEW,
	OP_LP8,
	OP_LP16,
	OP_LP32,
	OP_FAIL,
	OP_FINISH,
};

/* Ops weighted towards reads; a semantic failure is rarer. */
static const enum op op_table[16] = {
        OP_U8,   OP_U16, OP_U32,  OP_U64, OP_COPY, OP_VIEW, OP_LP8,    OP_LP16,
        OP_LP32, OP_U8,  OP_VIEW, OP_LP8, OP_LP16, OP_COPY, OP_FINISH, OP_FAIL,
};
static const size_t sizes[] = {0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 255, 256};
static const size_t maxes[] = {0, 1, 2, 3, 15, 16, 255, 256, 65535, 65536, SIZE_MAX};

/* The reference model: what a reader over buf must report. */
struct model {
	const uint8_t *buf;
	size_t len;
	size_t pos;
	sotto_err err;
};

static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static const uint8_t *model_take(struct model *m, size_t n)
{
	const uint8_t *p;

	if (m->err != SOTTO_OK)
		return NULL;
	if (n > m->len - m->pos) {
		m->err = SOTTO_ERR_TRUNCATED;
		return NULL;
	}
	p = m->buf + m->pos;
	m->pos += n;
	return p;
}

static uint64_t load_be(const uint8_t *p, size_t width)
{
	uint64_t v = 0;

	for (size_t i = 0; i < width; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t read_fixed(struct wire_reader *r, size_t width)
{
	switch (width) {
	case 1: return wire_reader_u8(r);
	case 2: return wire_reader_u16(r);
	case 4: return wire_reader_u32(r);
	default: return wire_reader_u64(r);
	}
}

static void write_fixed(struct wire_writer *w, size_t width, uint64_t v)
{
	switch (width) {
	case 1: wire_writer_u8(w, (uint8_t)v); break;
	case 2: wire_writer_u16(w, (uint16_t)v); break;
	case 4: wire_writer_u32(w, (uint32_t)v); break;
	default: wire_writer_u64(w, v); break;
	}
}

static void op_fixed(struct wire_reader *r, struct model *m, struct wire_writer *w, size_t width)
{
	uint64_t got = read_fixed(r, width);
	const uint8_t *p = model_take(m, width);

	CHECK(got == (p != NULL ? load_be(p, width) : 0));
	if (p != NULL)
		write_fixed(w, width, got);
}

static void op_bytes(struct wire_reader *r, struct model *m, struct wire_writer *w, bool copy,
                     size_t n)
{
	uint8_t out[256];
	const uint8_t *got;
	const uint8_t *p;

	if (copy) {
		memset(out, 0xa5, sizeof(out));
		wire_reader_copy(r, out, n);
		p = model_take(m, n);
		CHECK(p != NULL ? memcmp(out, p, n) == 0 : sodium_is_zero(out, n));
		got = out;
	} else {
		got = wire_reader_view(r, n);
		p = model_take(m, n);
		CHECK(got == p);
	}
	if (p != NULL)
		wire_writer_bytes(w, got, n);
}

static const uint8_t *read_lp(struct wire_reader *r, size_t width, size_t max, size_t *len)
{
	switch (width) {
	case 1: return wire_reader_lp8(r, max, len);
	case 2: return wire_reader_lp16(r, max, len);
	default: return wire_reader_lp32(r, max, len);
	}
}

static void write_lp(struct wire_writer *w, size_t width, const uint8_t *data, size_t n, size_t max)
{
	switch (width) {
	case 1: wire_writer_lp8(w, data, n, max); break;
	case 2: wire_writer_lp16(w, data, n, max); break;
	default: wire_writer_lp32(w, data, n, max); break;
	}
}

static void op_lp(struct wire_reader *r, struct model *m, struct wire_writer *w, size_t width,
                  size_t max)
{
	size_t len = 12345;
	const uint8_t *got = read_lp(r, width, max, &len);
	const uint8_t *prefix = model_take(m, width);
	const uint8_t *p = NULL;
	uint64_t n = prefix != NULL ? load_be(prefix, width) : 0;

	if (prefix != NULL && n > max)
		m->err = SOTTO_ERR_TOO_LARGE;
	else if (prefix != NULL)
		p = model_take(m, (size_t)n);
	CHECK(got == p);
	CHECK(len == (p != NULL ? n : 0));
	if (p != NULL)
		write_lp(w, width, got, len, max);
}

static sotto_err model_finish(const struct model *m)
{
	if (m->err != SOTTO_OK)
		return m->err;
	return m->pos == m->len ? SOTTO_OK : SOTTO_ERR_TRAILING;
}

/* Runs one op on the reader and the model, mirroring successes into w. */
static void run_op(struct wire_reader *r, struct model *m, struct wire_writer *w, uint32_t rnd)
{
	size_t size = sizes[(rnd >> 4) % (sizeof(sizes) / sizeof(sizes[0]))];
	size_t max = maxes[(rnd >> 12) % (sizeof(maxes) / sizeof(maxes[0]))];

	switch (op_table[rnd & 15]) {
	case OP_U8: op_fixed(r, m, w, 1); break;
	case OP_U16: op_fixed(r, m, w, 2); break;
	case OP_U32: op_fixed(r, m, w, 4); break;
	case OP_U64: op_fixed(r, m, w, 8); break;
	case OP_COPY: op_bytes(r, m, w, true, size); break;
	case OP_VIEW: op_bytes(r, m, w, false, size); break;
	case OP_LP8: op_lp(r, m, w, 1, max); break;
	case OP_LP16: op_lp(r, m, w, 2, max); break;
	case OP_LP32: op_lp(r, m, w, 4, max); break;
	case OP_FAIL:
		wire_reader_fail(r, SOTTO_ERR_PROTOCOL);
		if (m->err == SOTTO_OK)
			m->err = SOTTO_ERR_PROTOCOL;
		break;
	case OP_FINISH: CHECK(wire_reader_finish(r) == model_finish(m)); break;
	}
	CHECK(wire_reader_error(r) == m->err);
	CHECK(r->pos == m->pos);
	CHECK(wire_reader_remaining(r) == (m->err == SOTTO_OK ? m->len - m->pos : 0));
}

static void fuzz_reader(uint8_t program, const uint8_t *data, size_t size)
{
	uint8_t out[INPUT_MAX];
	uint32_t s = 0x9e3779b9u ^ ((uint32_t)program * 0x01000193u);
	struct model m = {data, size, 0, SOTTO_OK};
	struct wire_reader r;
	struct wire_writer w;
	size_t out_len = 0;
	unsigned n_ops = 1 + program % OPS_MAX;

	wire_reader_init(&r, data, size);
	wire_writer_init(&w, out, sizeof(out));
	for (unsigned i = 0; i < n_ops; i++)
		run_op(&r, &m, &w, next_rand(&s));
	CHECK(wire_reader_finish(&r) == model_finish(&m));
	/* What was read, written back, is exactly what was consumed. */
	CHECK(wire_writer_finish(&w, &out_len) == SOTTO_OK);
	CHECK(out_len <= m.pos);
	CHECK(out_len == 0 || memcmp(out, data, out_len) == 0);
	if (m.err == SOTTO_OK)
		CHECK(out_len == m.pos);
}

/* The 6-bit value of a base64url character, or -1. */
static int b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* The reference for strict base64url, written without libsodium. */
static bool b64_is_valid(const uint8_t *text, size_t len)
{
	static const int unused_mask[4] = {0, 0, 0x0f, 0x03};

	if (len % 4 == 1)
		return false;
	for (size_t i = 0; i < len; i++)
		if (b64_value(text[i]) < 0)
			return false;
	return len == 0 || (b64_value(text[len - 1]) & unused_mask[len % 4]) == 0;
}

static void fuzz_base64url(const uint8_t *data, size_t size)
{
	uint8_t bin[B64_BIN_MAX];
	char text[INPUT_MAX + 1];
	size_t bin_len = 12345, n = size < B64_BIN_MAX ? size : B64_BIN_MAX;
	sotto_err rc;

	memset(bin, 0, sizeof(bin));
	rc = base64url_decode(bin, sizeof(bin), &bin_len, (const char *)data, size);
	CHECK((rc == SOTTO_OK) == b64_is_valid(data, size));
	if (rc == SOTTO_OK) {
		CHECK(bin_len == base64url_decoded_max(size));
		CHECK(base64url_encode(text, sizeof(text), bin, bin_len) == SOTTO_OK);
		CHECK(strlen(text) == size && memcmp(text, data, size) == 0);
	} else {
		CHECK(rc == SOTTO_ERR_ENCODING && bin_len == 0 && sodium_is_zero(bin, sizeof(bin)));
	}
	/* Any bytes encode, and the text decodes back to them. */
	CHECK(base64url_encode(text, sizeof(text), data, n) == SOTTO_OK);
	CHECK(strlen(text) == base64url_encoded_len(n));
	CHECK(base64url_decode(bin, sizeof(bin), &bin_len, text, strlen(text)) == SOTTO_OK);
	CHECK(bin_len == n && (n == 0 || memcmp(bin, data, n) == 0));
}

/* The reference for strict unpadding. */
static bool pad_is_valid(const uint8_t *block, size_t len)
{
	if (len < PAD_HEADER_LEN || len > PAD_BLOCK_MAX)
		return false;
	size_t n = (size_t)block[0] << 8 | block[1];
	return n <= len - PAD_HEADER_LEN &&
	       sodium_is_zero(block + PAD_HEADER_LEN + n, len - PAD_HEADER_LEN - n);
}

static void fuzz_pad(const uint8_t *data, size_t size)
{
	uint8_t again[INPUT_MAX + PAD_HEADER_LEN + 8];
	const uint8_t *content = data;
	size_t content_len = 12345, block_len;
	sotto_err rc;

	rc = pad_unblock(data, size, &content, &content_len);
	CHECK((rc == SOTTO_OK) == pad_is_valid(data, size));
	if (rc == SOTTO_OK) {
		CHECK(content == data + PAD_HEADER_LEN);
		CHECK(pad_block(again, size, content, content_len) == SOTTO_OK);
		CHECK(memcmp(again, data, size) == 0);
	} else {
		CHECK(rc == (size < PAD_HEADER_LEN ? SOTTO_ERR_INVALID : SOTTO_ERR_PROTOCOL));
		CHECK(content == NULL && content_len == 0);
	}
	/* Any content pads into a block with room, and comes back out. */
	block_len = PAD_HEADER_LEN + size + (size > 0 ? data[0] % 8 : 0);
	CHECK(pad_block(again, block_len, data, size) == SOTTO_OK);
	CHECK(pad_unblock(again, block_len, &content, &content_len) == SOTTO_OK);
	CHECK(content_len == size && (size == 0 || memcmp(content, data, size) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (size > INPUT_MAX)
		size = INPUT_MAX;
	fuzz_reader(data[0], data + 1, size - 1);
	fuzz_base64url(data + 1, size - 1);
	fuzz_pad(data + 1, size - 1);
	return 0;
}
