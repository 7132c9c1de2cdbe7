/* SPDX-License-Identifier: MIT */
/*
 * writer_test.c - the bounded writer: big-endian integers, bytes, zeros,
 * length-prefixed fields against their limit and their prefix, reservations,
 * the sticky error, and overflow that never writes past cap (every buffer
 * here is followed by a guard region that must stay untouched).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "wire/writer.h"

enum {
	GUARD_LEN = 16,
	GUARD_BYTE = 0xa5,
	BUF_MAX = 64,
};

/* A writer over the first cap bytes of storage that is followed by a guard. */
struct guarded {
	uint8_t mem[BUF_MAX + GUARD_LEN];
	size_t cap;
	struct wire_writer w;
};

static void guarded_init(struct guarded *g, size_t cap)
{
	memset(g->mem, GUARD_BYTE, sizeof(g->mem));
	g->cap = cap;
	wire_writer_init(&g->w, g->mem, cap);
}

/* True if nothing at or after byte `from` was touched. */
static int untouched_from(const struct guarded *g, size_t from)
{
	for (size_t i = from; i < sizeof(g->mem); i++)
		if (g->mem[i] != GUARD_BYTE)
			return 0;
	return 1;
}

typedef void write_op_fn(struct wire_writer *w);

static void op_u8(struct wire_writer *w)
{
	wire_writer_u8(w, 0x11);
}
static void op_u16(struct wire_writer *w)
{
	wire_writer_u16(w, 0x2222);
}
static void op_u32(struct wire_writer *w)
{
	wire_writer_u32(w, 0x33333333);
}
static void op_u64(struct wire_writer *w)
{
	wire_writer_u64(w, 0x4444444444444444ULL);
}
static void op_bytes5(struct wire_writer *w)
{
	static const uint8_t five[5] = {5, 5, 5, 5, 5};
	wire_writer_bytes(w, five, sizeof(five));
}
static void op_zeros6(struct wire_writer *w)
{
	wire_writer_zeros(w, 6);
}
static void op_lp8_3(struct wire_writer *w)
{
	static const uint8_t three[3] = {3, 3, 3};
	wire_writer_lp8(w, three, sizeof(three), 10);
}
static void op_lp16_3(struct wire_writer *w)
{
	static const uint8_t three[3] = {3, 3, 3};
	wire_writer_lp16(w, three, sizeof(three), 10);
}
static void op_lp32_3(struct wire_writer *w)
{
	static const uint8_t three[3] = {3, 3, 3};
	wire_writer_lp32(w, three, sizeof(three), 10);
}
static void op_reserve7(struct wire_writer *w)
{
	uint8_t *p = wire_writer_reserve(w, 7);
	if (p != NULL)
		memset(p, 7, 7);
}

/* Each write and the number of bytes it needs. */
static const struct {
	write_op_fn *op;
	size_t need;
} write_ops[] = {
        {op_u8, 1},     {op_u16, 2},   {op_u32, 4},    {op_u64, 8},    {op_bytes5, 5},
        {op_zeros6, 6}, {op_lp8_3, 4}, {op_lp16_3, 5}, {op_lp32_3, 7}, {op_reserve7, 7},
};

static void writer__big_endian__fixed_widths(void **state)
{
	static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	                               0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	struct guarded g;
	size_t len = 99;
	(void)state;

	guarded_init(&g, sizeof(want));
	wire_writer_u8(&g.w, 0x01);
	wire_writer_u16(&g.w, 0x0203);
	wire_writer_u32(&g.w, 0x04050607);
	wire_writer_u64(&g.w, 0x08090a0b0c0d0e0fULL);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_OK);
	assert_int_equal(wire_writer_finish(&g.w, &len), SOTTO_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(g.mem, want, sizeof(want));
	assert_true(untouched_from(&g, sizeof(want)));
	assert_int_equal(wire_writer_finish(&g.w, NULL), SOTTO_OK);
}

static void writer__bytes_and_zeros__appended(void **state)
{
	static const uint8_t data[] = {0xde, 0xad, 0xbe, 0xef};
	static const uint8_t want[] = {0xde, 0xad, 0xbe, 0xef, 0, 0, 0};
	struct guarded g;
	size_t len = 0;
	(void)state;

	guarded_init(&g, sizeof(want));
	wire_writer_bytes(&g.w, data, sizeof(data));
	wire_writer_bytes(&g.w, NULL, 0);
	wire_writer_zeros(&g.w, 0);
	wire_writer_zeros(&g.w, 3);
	assert_int_equal(wire_writer_finish(&g.w, &len), SOTTO_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(g.mem, want, sizeof(want));
	assert_true(untouched_from(&g, sizeof(want)));
}

static void writer__too_large__every_write_one_byte_short(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(write_ops) / sizeof(write_ops[0]); i++) {
		for (size_t room = 0; room < write_ops[i].need; room++) {
			struct guarded g;
			size_t len = 99;

			/* Two bytes already written, then room bytes left. */
			guarded_init(&g, 2 + room);
			wire_writer_u16(&g.w, 0x0102);
			write_ops[i].op(&g.w);
			assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
			assert_int_equal(wire_writer_finish(&g.w, &len), SOTTO_ERR_TOO_LARGE);
			assert_int_equal(len, 0);
			assert_true(g.w.len <= g.cap);
			assert_true(untouched_from(&g, g.cap));
			/* A length prefix may have gone in, but no byte of the field. */
			assert_true(untouched_from(&g, g.w.len));
		}
	}
}

static void writer__fits__every_write_exact_room(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(write_ops) / sizeof(write_ops[0]); i++) {
		struct guarded g;
		size_t len = 0;

		guarded_init(&g, write_ops[i].need);
		write_ops[i].op(&g.w);
		assert_int_equal(wire_writer_finish(&g.w, &len), SOTTO_OK);
		assert_int_equal(len, write_ops[i].need);
		assert_true(untouched_from(&g, g.cap));
	}
}

static void writer__sticky__every_write_after_failure(void **state)
{
	struct guarded g;
	(void)state;

	guarded_init(&g, 3);
	wire_writer_u32(&g.w, 1);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(g.w.len, 0);
	/* Each of these would fit in the three bytes left. */
	for (size_t i = 0; i < sizeof(write_ops) / sizeof(write_ops[0]); i++) {
		write_ops[i].op(&g.w);
		assert_int_equal(g.w.len, 0);
	}
	assert_null(wire_writer_reserve(&g.w, 0));
	wire_writer_lp8(&g.w, NULL, 0, 0);
	assert_int_equal(g.w.len, 0);
	assert_true(untouched_from(&g, 0));
	wire_writer_fail(&g.w, SOTTO_ERR_INVALID);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
}

static void writer_fail__recorded__caller_error(void **state)
{
	struct guarded g;
	size_t len = 99;
	(void)state;

	guarded_init(&g, 8);
	wire_writer_u8(&g.w, 1);
	wire_writer_fail(&g.w, SOTTO_ERR_INVALID);
	wire_writer_u8(&g.w, 2);
	assert_int_equal(g.w.len, 1);
	wire_writer_fail(&g.w, SOTTO_ERR_PROTOCOL);
	assert_int_equal(wire_writer_finish(&g.w, &len), SOTTO_ERR_INVALID);
	assert_int_equal(len, 0);
}

static void writer__empty__null_buffer(void **state)
{
	struct wire_writer w;
	size_t len = 99;
	(void)state;

	wire_writer_init(&w, NULL, 0);
	wire_writer_bytes(&w, NULL, 0);
	wire_writer_zeros(&w, 0);
	/* Even an empty field needs one byte for its prefix. */
	wire_writer_lp8(&w, NULL, 0, 0);
	assert_int_equal(wire_writer_error(&w), SOTTO_ERR_TOO_LARGE);

	wire_writer_init(&w, NULL, 0);
	assert_null(wire_writer_reserve(&w, 0));
	assert_int_equal(wire_writer_finish(&w, &len), SOTTO_OK);
	assert_int_equal(len, 0);
	assert_null(wire_writer_reserve(&w, 1));
	assert_int_equal(wire_writer_error(&w), SOTTO_ERR_TOO_LARGE);
}

static void writer_lp__prefixed__within_limits(void **state)
{
	static const uint8_t data[] = {0xaa, 0xbb};
	static const uint8_t want[] = {0x02, 0xaa, 0xbb, 0x00, 0x02, 0xaa, 0xbb, 0x00,
	                               0x00, 0x00, 0x02, 0xaa, 0xbb, 0x00, 0x00, 0x00};
	struct guarded g;
	size_t len = 0;
	(void)state;

	guarded_init(&g, sizeof(want));
	wire_writer_lp8(&g.w, data, sizeof(data), 2);
	wire_writer_lp16(&g.w, data, sizeof(data), 2);
	wire_writer_lp32(&g.w, data, sizeof(data), 2);
	wire_writer_lp8(&g.w, NULL, 0, 0);
	wire_writer_lp16(&g.w, NULL, 0, 0);
	assert_int_equal(wire_writer_finish(&g.w, &len), SOTTO_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(g.mem, want, sizeof(want));
	assert_true(untouched_from(&g, sizeof(want)));
}

static void writer_lp__too_large__above_max(void **state)
{
	static const uint8_t data[4] = {1, 2, 3, 4};
	struct guarded g;
	(void)state;

	guarded_init(&g, BUF_MAX);
	wire_writer_lp8(&g.w, data, sizeof(data), 3);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_true(untouched_from(&g, 0));

	guarded_init(&g, BUF_MAX);
	wire_writer_lp16(&g.w, data, sizeof(data), 3);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_true(untouched_from(&g, 0));

	guarded_init(&g, BUF_MAX);
	wire_writer_lp32(&g.w, data, sizeof(data), 3);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_true(untouched_from(&g, 0));
}

static void writer_lp__too_large__above_prefix(void **state)
{
	static const uint8_t data[4] = {1, 2, 3, 4};
	struct guarded g;
	(void)state;

	/* The checks come before any byte is read from data, so these lengths
	 * never touch memory beyond the four bytes that exist. */
	guarded_init(&g, BUF_MAX);
	wire_writer_lp8(&g.w, data, (size_t)UINT8_MAX + 1, SIZE_MAX);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_true(untouched_from(&g, 0));

	guarded_init(&g, BUF_MAX);
	wire_writer_lp16(&g.w, data, (size_t)UINT16_MAX + 1, SIZE_MAX);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_true(untouched_from(&g, 0));

#if SIZE_MAX > UINT32_MAX
	guarded_init(&g, BUF_MAX);
	wire_writer_lp32(&g.w, data, (size_t)UINT32_MAX + 1, SIZE_MAX);
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_true(untouched_from(&g, 0));
#endif
}

static void writer_reserve__filled_later__length_known_at_end(void **state)
{
	static const uint8_t want[] = {0x00, 0x03, 0x07, 0x08, 0x09};
	struct guarded g;
	uint8_t *len_field;
	size_t len = 0;
	(void)state;

	guarded_init(&g, sizeof(want));
	len_field = wire_writer_reserve(&g.w, 2);
	assert_ptr_equal(len_field, g.mem);
	assert_ptr_equal(wire_writer_reserve(&g.w, 0), g.mem + 2);
	wire_writer_u8(&g.w, 7);
	wire_writer_u8(&g.w, 8);
	wire_writer_u8(&g.w, 9);
	len_field[0] = 0;
	len_field[1] = 3;
	assert_int_equal(wire_writer_finish(&g.w, &len), SOTTO_OK);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(g.mem, want, sizeof(want));
	assert_null(wire_writer_reserve(&g.w, 1));
	assert_int_equal(wire_writer_error(&g.w), SOTTO_ERR_TOO_LARGE);
	assert_true(untouched_from(&g, sizeof(want)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(writer__big_endian__fixed_widths),
	        cmocka_unit_test(writer__bytes_and_zeros__appended),
	        cmocka_unit_test(writer__too_large__every_write_one_byte_short),
	        cmocka_unit_test(writer__fits__every_write_exact_room),
	        cmocka_unit_test(writer__sticky__every_write_after_failure),
	        cmocka_unit_test(writer_fail__recorded__caller_error),
	        cmocka_unit_test(writer__empty__null_buffer),
	        cmocka_unit_test(writer_lp__prefixed__within_limits),
	        cmocka_unit_test(writer_lp__too_large__above_max),
	        cmocka_unit_test(writer_lp__too_large__above_prefix),
	        cmocka_unit_test(writer_reserve__filled_later__length_known_at_end),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
