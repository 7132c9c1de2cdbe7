/* SPDX-License-Identifier: MIT */
/*
 * record_test.c - the wire layer working together on one representative
 * record, written with the writer and parsed with the reader:
 *
 *   offset  size    field
 *   0       1       kind, must be RECORD_KIND
 *   1       2       flags
 *   3       4       sequence number
 *   7       8       time in ms
 *   15      1+n     name, lp8, n <= RECORD_NAME_MAX
 *   ..      2+n     body, lp16, n <= RECORD_BODY_MAX
 *   ..      4+n     blob, lp32, n <= RECORD_BLOB_MAX
 *   ..      4       version range
 *   ..      32      padded block (pad.h)
 *
 * Every truncation must fail with SOTTO_ERR_TRUNCATED, an extra byte with
 * SOTTO_ERR_TRAILING, and every single-bit flip must either be rejected or
 * parse to a record whose encoding is exactly the flipped bytes, so the
 * parser accepts no two spellings of one record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/pad.h"
#include "wire/reader.h"
#include "wire/version.h"
#include "wire/writer.h"

enum {
	RECORD_KIND = 0x5a,
	RECORD_NAME_MAX = 16,
	RECORD_BODY_MAX = 64,
	RECORD_BLOB_MAX = 64,
	RECORD_BLOCK_LEN = 32,
	RECORD_MAX = 1 + 2 + 4 + 8 + 1 + RECORD_NAME_MAX + 2 + RECORD_BODY_MAX + 4 +
	             RECORD_BLOB_MAX + VERSION_RANGE_LEN + RECORD_BLOCK_LEN,
};

struct record {
	uint16_t flags;
	uint32_t seq;
	uint64_t time_ms;
	const uint8_t *name; /* borrowed from the parsed buffer */
	size_t name_len;
	const uint8_t *body; /* borrowed */
	size_t body_len;
	const uint8_t *blob; /* borrowed */
	size_t blob_len;
	struct version_range versions;
	const uint8_t *content; /* borrowed: the padded block's content */
	size_t content_len;
};

static sotto_err record_parse(struct record *rec, const uint8_t *buf, size_t len)
{
	struct wire_reader r;
	const uint8_t *block;
	sotto_err rc;

	memset(rec, 0, sizeof(*rec));
	wire_reader_init(&r, buf, len);
	if (wire_reader_u8(&r) != RECORD_KIND)
		wire_reader_fail(&r, SOTTO_ERR_PROTOCOL);
	rec->flags = wire_reader_u16(&r);
	rec->seq = wire_reader_u32(&r);
	rec->time_ms = wire_reader_u64(&r);
	rec->name = wire_reader_lp8(&r, RECORD_NAME_MAX, &rec->name_len);
	rec->body = wire_reader_lp16(&r, RECORD_BODY_MAX, &rec->body_len);
	rec->blob = wire_reader_lp32(&r, RECORD_BLOB_MAX, &rec->blob_len);
	rec->versions = version_range_read(&r);
	block = wire_reader_view(&r, RECORD_BLOCK_LEN);
	if (block != NULL) {
		rc = pad_unblock(block, RECORD_BLOCK_LEN, &rec->content, &rec->content_len);
		if (rc != SOTTO_OK)
			wire_reader_fail(&r, rc);
	}
	return wire_reader_finish(&r);
}

static sotto_err record_encode(const struct record *rec, uint8_t *buf, size_t cap, size_t *len)
{
	struct wire_writer w;
	uint8_t *block;
	sotto_err rc;

	wire_writer_init(&w, buf, cap);
	wire_writer_u8(&w, RECORD_KIND);
	wire_writer_u16(&w, rec->flags);
	wire_writer_u32(&w, rec->seq);
	wire_writer_u64(&w, rec->time_ms);
	wire_writer_lp8(&w, rec->name, rec->name_len, RECORD_NAME_MAX);
	wire_writer_lp16(&w, rec->body, rec->body_len, RECORD_BODY_MAX);
	wire_writer_lp32(&w, rec->blob, rec->blob_len, RECORD_BLOB_MAX);
	version_range_write(&w, rec->versions);
	block = wire_writer_reserve(&w, RECORD_BLOCK_LEN);
	if (block != NULL) {
		rc = pad_block(block, RECORD_BLOCK_LEN, rec->content, rec->content_len);
		if (rc != SOTTO_OK)
			wire_writer_fail(&w, rc);
	}
	return wire_writer_finish(&w, len);
}

static const uint8_t body_bytes[20] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,
                                       10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
static const uint8_t blob_bytes[9] = {0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88, 0x77};

/* Offsets of the fields of the sample record below. */
enum {
	OFF_NAME = 15,
	OFF_BODY = OFF_NAME + 1 + 5,
	OFF_BLOB = OFF_BODY + 2 + 20,
	OFF_VERSIONS = OFF_BLOB + 4 + 9,
	OFF_BLOCK = OFF_VERSIONS + VERSION_RANGE_LEN,
	OFF_PADDING = OFF_BLOCK + 2 + 13,
	SAMPLE_LEN = OFF_BLOCK + RECORD_BLOCK_LEN,
};

static const struct record sample = {
        .flags = 0x8001,
        .seq = 0x01020304,
        .time_ms = 0x0000018f2c3b4a59ULL,
        .name = (const uint8_t *)"alice",
        .name_len = 5,
        .body = body_bytes,
        .body_len = sizeof(body_bytes),
        .blob = blob_bytes,
        .blob_len = sizeof(blob_bytes),
        .versions = {1, 3},
        .content = (const uint8_t *)"hello, padded",
        .content_len = 13,
};

/* Encodes the sample into buf (RECORD_MAX bytes); returns its length. */
static size_t sample_encode(uint8_t *buf)
{
	size_t len = 0;

	assert_int_equal(record_encode(&sample, buf, RECORD_MAX, &len), SOTTO_OK);
	assert_int_equal(len, SAMPLE_LEN);
	return len;
}

static void record__round_trip__sample(void **state)
{
	static const uint8_t head[OFF_NAME + 6] = {0x5a, 0x80, 0x01, 0x01, 0x02, 0x03, 0x04,
	                                           0x00, 0x00, 0x01, 0x8f, 0x2c, 0x3b, 0x4a,
	                                           0x59, 0x05, 'a',  'l',  'i',  'c',  'e'};
	static const uint8_t tail[] = {0x00, 0x01, 0x00, 0x03, 0x00, 0x0d, 'h'};
	uint8_t buf[RECORD_MAX], again[RECORD_MAX];
	struct record rec;
	size_t len, again_len = 0;
	(void)state;

	len = sample_encode(buf);
	assert_memory_equal(buf, head, sizeof(head));
	assert_memory_equal(buf + OFF_VERSIONS, tail, sizeof(tail));
	assert_int_equal(buf[OFF_BLOB + 3], 9);
	assert_int_equal(record_parse(&rec, buf, len), SOTTO_OK);
	assert_int_equal(rec.flags, sample.flags);
	assert_int_equal(rec.seq, sample.seq);
	assert_true(rec.time_ms == sample.time_ms);
	assert_int_equal(rec.name_len, 5);
	assert_memory_equal(rec.name, "alice", 5);
	assert_int_equal(rec.body_len, sizeof(body_bytes));
	assert_memory_equal(rec.body, body_bytes, sizeof(body_bytes));
	assert_int_equal(rec.blob_len, sizeof(blob_bytes));
	assert_memory_equal(rec.blob, blob_bytes, sizeof(blob_bytes));
	assert_int_equal(rec.versions.min, 1);
	assert_int_equal(rec.versions.max, 3);
	assert_int_equal(rec.content_len, 13);
	assert_memory_equal(rec.content, "hello, padded", 13);
	assert_int_equal(record_encode(&rec, again, sizeof(again), &again_len), SOTTO_OK);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, buf, len);
}

static void record__truncated__every_prefix(void **state)
{
	uint8_t buf[RECORD_MAX];
	struct record rec;
	size_t len;
	(void)state;

	len = sample_encode(buf);
	for (size_t k = 0; k < len; k++)
		assert_int_equal(record_parse(&rec, buf, k), SOTTO_ERR_TRUNCATED);
}

static void record__trailing__one_extra_byte(void **state)
{
	uint8_t buf[RECORD_MAX + 1];
	struct record rec;
	size_t len;
	(void)state;

	len = sample_encode(buf);
	buf[len] = 0;
	assert_int_equal(record_parse(&rec, buf, len + 1), SOTTO_ERR_TRAILING);
}

static void record_encode__too_large__every_short_buffer(void **state)
{
	uint8_t buf[RECORD_MAX];
	size_t len = 99;
	(void)state;

	for (size_t cap = 0; cap < SAMPLE_LEN; cap++) {
		assert_int_equal(record_encode(&sample, buf, cap, &len), SOTTO_ERR_TOO_LARGE);
		assert_int_equal(len, 0);
	}
}

/* The outcome a flip of byte `at` must have: 1 accepted, 0 rejected, -1 either. */
static int flip_expectation(size_t at)
{
	if (at == 0 || at >= OFF_PADDING)
		return 0;
	if (at < OFF_NAME || (at > OFF_NAME && at < OFF_BODY) ||
	    (at >= OFF_BODY + 2 && at < OFF_BLOB) || (at >= OFF_BLOB + 4 && at < OFF_VERSIONS) ||
	    (at >= OFF_BLOCK + 2 && at < OFF_PADDING))
		return 1;
	return -1;
}

static void record__rejected_or_round_trip__every_bit_flip(void **state)
{
	uint8_t buf[RECORD_MAX], again[RECORD_MAX];
	unsigned n_by_err[SOTTO_ERR_ENCODING + 1] = {0};
	struct record rec;
	size_t len;
	(void)state;

	len = sample_encode(buf);
	for (size_t bit = 0; bit < 8 * len; bit++) {
		size_t at = bit / 8, again_len = 0;
		buf[at] ^= (uint8_t)(1u << (bit % 8));
		sotto_err rc = record_parse(&rec, buf, len);
		if (rc == SOTTO_OK) {
			assert_int_equal(record_encode(&rec, again, sizeof(again), &again_len),
			                 SOTTO_OK);
			assert_int_equal(again_len, len);
			assert_memory_equal(again, buf, len);
		} else {
			assert_true(rc == SOTTO_ERR_PROTOCOL || rc == SOTTO_ERR_TOO_LARGE ||
			            rc == SOTTO_ERR_TRUNCATED || rc == SOTTO_ERR_TRAILING);
		}
		if (flip_expectation(at) >= 0)
			assert_int_equal(rc == SOTTO_OK, flip_expectation(at));
		n_by_err[rc]++;
		buf[at] ^= (uint8_t)(1u << (bit % 8));
	}
	/* Flips are accepted and rejected in each of these ways. (A shortened
	 * length always trips a later check before the end is reached, so
	 * SOTTO_ERR_TRAILING is left to record__trailing__one_extra_byte.) */
	assert_true(n_by_err[SOTTO_OK] > 0);
	assert_true(n_by_err[SOTTO_ERR_PROTOCOL] > 0);
	assert_true(n_by_err[SOTTO_ERR_TOO_LARGE] > 0);
	assert_true(n_by_err[SOTTO_ERR_TRUNCATED] > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(record__round_trip__sample),
	        cmocka_unit_test(record__truncated__every_prefix),
	        cmocka_unit_test(record__trailing__one_extra_byte),
	        cmocka_unit_test(record_encode__too_large__every_short_buffer),
	        cmocka_unit_test(record__rejected_or_round_trip__every_bit_flip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
