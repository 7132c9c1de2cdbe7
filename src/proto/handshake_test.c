/* SPDX-License-Identifier: MIT */
/*
 * handshake_test.c - the key agreement (docs/protocol.md §3.2-3.4, §3.8):
 * a full exchange, strict parsing of invitations and hellos (every
 * truncation, trailing bytes, unknown types, bad ranges, KEM fields), the
 * one-time inviter (unchanged on failure, SOTTO_ERR_USED after success), its
 * saved state, security codes and allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/bytes.h"
#include "core/compat.h"
#include "proto/handshake.h"
#include "proto/ratchet.h"
#include "test_util.h"

enum {
	PT_MAX = 64,
	MSG_MAX = PROTO_HELLO_V1_LEN + PT_MAX + RATCHET_OVERHEAD,
	INVITER_STATE_LEN = 138,
	/* §3.2 invitation offsets */
	INV_OFF_RANGE = 1,
	INV_OFF_KEY1 = 5,
	INV_OFF_KEY2 = 37,
	INV_OFF_KEM = 69,
	INV_OFF_KEM_LEN = 70,
	/* §3.3 hello offsets */
	HELLO_OFF_VERSION = 1,
	HELLO_OFF_J1 = 3,
	HELLO_OFF_J2 = 35,
	HELLO_OFF_KEM = 67,
	HELLO_OFF_KEM_LEN = 68,
	/* inviter state offsets */
	ST_OFF_USED = 1,
	ST_OFF_I1 = 2,
	ST_OFF_I2 = 34,
	ST_OFF_INVITATION = 66,
};

static const uint8_t first_pt[] = "first words";

struct side {
	struct tu_rng rng; /* borrowed by ctx: the struct must not move */
	sotto_ctx *ctx;
	struct ratchet *r;
};

/* An invitation made, joined, and the joiner's first message (not yet accepted). */
struct hs {
	struct side inviter;
	struct side joiner;
	struct handshake_inviter *inv;
	uint8_t invitation[PROTO_INVITATION_V1_LEN];
	uint8_t first[MSG_MAX]; /* hello || first ratchet message */
	size_t first_len;
};

static void side_init(struct side *s, uint64_t seed, struct tu_alloc *alloc)
{
	tu_rng_init(&s->rng, seed);
	s->ctx = tu_ctx(alloc, &s->rng, NULL);
	s->r = NULL;
}

static void side_clear(struct side *s)
{
	ratchet_free(s->r);
	s->r = NULL;
	sotto_ctx_free(s->ctx);
	s->ctx = NULL;
}

/* The joiner's half for an invitation: join, then the first message. */
static void hs_join(struct hs *h)
{
	struct handshake_invitation parsed;
	size_t hello_len = 0, n = 0;

	assert_int_equal(handshake_invitation_parse(h->invitation, sizeof(h->invitation), &parsed),
	                 SOTTO_OK);
	assert_int_equal(handshake_join(h->joiner.ctx, &parsed, h->first, sizeof(h->first),
	                                &hello_len, &h->joiner.r),
	                 SOTTO_OK);
	assert_int_equal(hello_len, PROTO_HELLO_V1_LEN);
	assert_int_equal(ratchet_encrypt(h->joiner.r, first_pt, sizeof(first_pt),
	                                 h->first + hello_len, sizeof(h->first) - hello_len, &n),
	                 SOTTO_OK);
	h->first_len = hello_len + n;
}

static void hs_new(struct hs *h, uint64_t seed)
{
	size_t len = 0;

	memset(h, 0, sizeof(*h));
	side_init(&h->inviter, seed, NULL);
	side_init(&h->joiner, seed + 500, NULL);
	assert_int_equal(handshake_invite_new(h->inviter.ctx, &h->inv), SOTTO_OK);
	const uint8_t *b = handshake_invitation_bytes(h->inv, &len);
	assert_int_equal(len, PROTO_INVITATION_V1_LEN);
	memcpy(h->invitation, b, len);
	hs_join(h);
}

static void hs_accept(struct hs *h)
{
	uint8_t pt[PT_MAX];
	size_t len = 0;

	assert_int_equal(handshake_accept(h->inv, h->first, h->first_len, pt, sizeof(pt), &len,
	                                  &h->inviter.r),
	                 SOTTO_OK);
	assert_int_equal(len, sizeof(first_pt));
	assert_memory_equal(pt, first_pt, len);
}

static void hs_free(struct hs *h)
{
	handshake_inviter_free(h->inv);
	h->inv = NULL;
	side_clear(&h->inviter);
	side_clear(&h->joiner);
}

/* One message each way. */
static void talk(struct ratchet *from, struct ratchet *to, uint8_t tag)
{
	uint8_t pt[8], msg[8 + RATCHET_OVERHEAD], out[8];
	size_t len = 0, out_len = 0;

	memset(pt, tag, sizeof(pt));
	assert_int_equal(ratchet_encrypt(from, pt, sizeof(pt), msg, sizeof(msg), &len), SOTTO_OK);
	assert_int_equal(ratchet_decrypt(to, msg, len, out, sizeof(out), &out_len), SOTTO_OK);
	assert_int_equal(out_len, sizeof(pt));
	assert_memory_equal(out, pt, sizeof(pt));
}

struct inviter_state {
	uint8_t bytes[INVITER_STATE_LEN];
	size_t len;
};

static struct inviter_state inviter_take(const struct handshake_inviter *inv)
{
	struct inviter_state st;

	assert_int_equal(handshake_inviter_serialize(inv, st.bytes, sizeof(st.bytes), &st.len),
	                 SOTTO_OK);
	assert_int_equal(st.len, INVITER_STATE_LEN);
	return st;
}

/* handshake_accept on bytes must fail with want and leave the inviter as it was. */
static void accept_err(struct hs *h, const uint8_t *bytes, size_t len, sotto_err want)
{
	struct inviter_state before = inviter_take(h->inv);
	struct ratchet *r = (struct ratchet *)h; /* must be reset to NULL */
	uint8_t pt[PT_MAX];
	size_t pt_len = 1;

	memset(pt, 0, sizeof(pt));
	assert_int_equal(handshake_accept(h->inv, bytes, len, pt, sizeof(pt), &pt_len, &r), want);
	assert_null(r);
	assert_int_equal(pt_len, 0);
	assert_true(sodium_is_zero(pt, sizeof(pt)));
	struct inviter_state after = inviter_take(h->inv);
	assert_memory_equal(after.bytes, before.bytes, INVITER_STATE_LEN);
}

/* ---- the exchange ---- */

static void handshake__ok__full_exchange(void **state)
{
	struct hs h;
	(void)state;

	hs_new(&h, 1);
	hs_accept(&h);
	assert_memory_equal(ratchet_ad(h.inviter.r), ratchet_ad(h.joiner.r), PROTO_AD_LEN);
	for (uint8_t i = 0; i < 6; i++) {
		talk(h.inviter.r, h.joiner.r, i);
		talk(h.joiner.r, h.inviter.r, (uint8_t)(i + 100));
		talk(h.joiner.r, h.inviter.r, (uint8_t)(i + 200));
	}
	hs_free(&h);
}

/* The invitation's layout (§3.2), byte for byte apart from the keys. */
static void handshake_invite_new__layout__version_1(void **state)
{
	struct hs h;
	(void)state;

	hs_new(&h, 2);
	assert_int_equal(h.invitation[0], PROTO_INVITATION_TYPE);
	assert_int_equal(bytes_load_be16(h.invitation + INV_OFF_RANGE), 1);
	assert_int_equal(bytes_load_be16(h.invitation + INV_OFF_RANGE + 2), 1);
	assert_int_equal(h.invitation[INV_OFF_KEM], PROTO_KEM_NONE);
	assert_int_equal(bytes_load_be16(h.invitation + INV_OFF_KEM_LEN), 0);
	assert_memory_not_equal(h.invitation + INV_OFF_KEY1, h.invitation + INV_OFF_KEY2, 32);
	assert_int_equal(h.first[0], PROTO_HELLO_TYPE);
	assert_int_equal(bytes_load_be16(h.first + HELLO_OFF_VERSION), 1);
	assert_int_equal(h.first[HELLO_OFF_KEM], PROTO_KEM_NONE);
	assert_int_equal(bytes_load_be16(h.first + HELLO_OFF_KEM_LEN), 0);
	hs_free(&h);
}

/* ---- invitation parsing ---- */

static void parse_err(const uint8_t *b, size_t len, sotto_err want)
{
	struct handshake_invitation out;

	memset(&out, 0xaa, sizeof(out));
	assert_int_equal(handshake_invitation_parse(b, len, &out), want);
	assert_int_equal(out.encoded_len, 0);
	assert_true(sodium_is_zero((const uint8_t *)&out.key1, sizeof(out.key1)));
}

static void handshake_invitation_parse__ok__fields(void **state)
{
	struct hs h;
	struct handshake_invitation out;
	(void)state;

	hs_new(&h, 3);
	assert_int_equal(handshake_invitation_parse(h.invitation, sizeof(h.invitation), &out),
	                 SOTTO_OK);
	assert_int_equal(out.versions.min, 1);
	assert_int_equal(out.versions.max, 1);
	assert_memory_equal(out.key1, h.invitation + INV_OFF_KEY1, 32);
	assert_memory_equal(out.key2, h.invitation + INV_OFF_KEY2, 32);
	assert_int_equal(out.kem_type, PROTO_KEM_NONE);
	assert_int_equal(out.encoded_len, sizeof(h.invitation));
	assert_memory_equal(out.encoded, h.invitation, sizeof(h.invitation));
	hs_free(&h);
}

static void handshake_invitation_parse__truncated__every_prefix(void **state)
{
	struct hs h;
	(void)state;

	hs_new(&h, 4);
	for (size_t len = 0; len < sizeof(h.invitation); len++)
		parse_err(h.invitation, len, SOTTO_ERR_TRUNCATED);
	hs_free(&h);
}

static void handshake_invitation_parse__trailing__extra_bytes(void **state)
{
	struct hs h;
	uint8_t b[PROTO_INVITATION_V1_LEN + 2] = {0};
	(void)state;

	hs_new(&h, 5);
	memcpy(b, h.invitation, sizeof(h.invitation));
	parse_err(b, sizeof(h.invitation) + 1, SOTTO_ERR_TRAILING);
	parse_err(b, sizeof(b), SOTTO_ERR_TRAILING);
	hs_free(&h);
}

static void handshake_invitation_parse__protocol__bad_fields(void **state)
{
	static const uint8_t types[] = {0, PROTO_HELLO_TYPE, 3, 255};
	static const uint16_t ranges[][2] = {{0, 1}, {0, 0}, {2, 1}, {65535, 1}};
	struct hs h;
	uint8_t b[PROTO_INVITATION_V1_LEN + 1];
	(void)state;

	hs_new(&h, 6);
	for (size_t i = 0; i < sizeof(types); i++) {
		memcpy(b, h.invitation, sizeof(h.invitation));
		b[0] = types[i];
		parse_err(b, sizeof(h.invitation), SOTTO_ERR_PROTOCOL);
		parse_err(b, 1, SOTTO_ERR_PROTOCOL); /* the type is judged first */
	}
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(ranges); i++) {
		memcpy(b, h.invitation, sizeof(h.invitation));
		bytes_store_be16(b + INV_OFF_RANGE, ranges[i][0]);
		bytes_store_be16(b + INV_OFF_RANGE + 2, ranges[i][1]);
		parse_err(b, sizeof(h.invitation), SOTTO_ERR_PROTOCOL);
	}
	for (unsigned kem = 1; kem < 256; kem *= 2) { /* unknown KEM types */
		memcpy(b, h.invitation, sizeof(h.invitation));
		b[INV_OFF_KEM] = (uint8_t)kem;
		parse_err(b, sizeof(h.invitation), SOTTO_ERR_PROTOCOL);
	}
	memcpy(b, h.invitation, sizeof(h.invitation)); /* KEM data with type 0 */
	bytes_store_be16(b + INV_OFF_KEM_LEN, 1);
	b[PROTO_INVITATION_V1_LEN] = 0x55;
	parse_err(b, sizeof(b), SOTTO_ERR_PROTOCOL);
	hs_free(&h);
}

/* A later range the joiner shares parses, and negotiates down to version 1. */
static void handshake_join__ok__wider_range(void **state)
{
	struct hs h;
	(void)state;

	hs_new(&h, 7);
	side_clear(&h.joiner);
	side_init(&h.joiner, 7007, NULL);
	bytes_store_be16(h.invitation + INV_OFF_RANGE + 2, 3); /* {1, 3} */
	hs_join(&h);
	assert_int_equal(bytes_load_be16(h.first + HELLO_OFF_VERSION), 1);
	/* the inviter's own invitation says {1, 1}: AD differs, the message does not open */
	accept_err(&h, h.first, h.first_len, SOTTO_ERR_AUTH);
	hs_free(&h);
}

static void handshake_join__version__no_common_version(void **state)
{
	struct hs h;
	struct handshake_invitation parsed;
	uint8_t hello[PROTO_HELLO_V1_LEN];
	size_t len = 1;
	(void)state;

	hs_new(&h, 8);
	bytes_store_be16(h.invitation + INV_OFF_RANGE, 2);
	bytes_store_be16(h.invitation + INV_OFF_RANGE + 2, 9);
	assert_int_equal(handshake_invitation_parse(h.invitation, sizeof(h.invitation), &parsed),
	                 SOTTO_OK);
	struct ratchet *r = (struct ratchet *)&h;
	assert_int_equal(handshake_join(h.joiner.ctx, &parsed, hello, sizeof(hello), &len, &r),
	                 SOTTO_ERR_VERSION);
	assert_null(r);
	assert_int_equal(len, 0);
	hs_free(&h);
}

static void handshake_join__weak_key__low_order_invitation_key(void **state)
{
	struct hs h;
	struct handshake_invitation parsed;
	uint8_t hello[PROTO_HELLO_V1_LEN];
	size_t len = 1;
	(void)state;

	hs_new(&h, 9);
	for (int k = 0; k < 2; k++) {
		uint8_t b[PROTO_INVITATION_V1_LEN];
		memcpy(b, h.invitation, sizeof(b));
		memset(b + (k == 0 ? INV_OFF_KEY1 : INV_OFF_KEY2), 0, 32);
		assert_int_equal(handshake_invitation_parse(b, sizeof(b), &parsed), SOTTO_OK);
		struct ratchet *r = (struct ratchet *)&h;
		assert_int_equal(
		        handshake_join(h.joiner.ctx, &parsed, hello, sizeof(hello), &len, &r),
		        SOTTO_ERR_WEAK_KEY);
		assert_null(r);
		assert_int_equal(len, 0);
	}
	hs_free(&h);
}

static void handshake_join__too_large__small_hello_buffer(void **state)
{
	struct hs h;
	struct handshake_invitation parsed;
	uint8_t hello[PROTO_HELLO_V1_LEN];
	size_t len = 1;
	(void)state;

	hs_new(&h, 10);
	assert_int_equal(handshake_invitation_parse(h.invitation, sizeof(h.invitation), &parsed),
	                 SOTTO_OK);
	struct ratchet *r = (struct ratchet *)&h;
	assert_int_equal(handshake_join(h.joiner.ctx, &parsed, hello, sizeof(hello) - 1, &len, &r),
	                 SOTTO_ERR_TOO_LARGE);
	assert_null(r);
	assert_int_equal(len, 0);
	hs_free(&h);
}

/* ---- the inviter's side ---- */

/*
 * Every truncation of the first message: inside the hello or before a whole
 * ratchet message it is TRUNCATED; after that the body does not open (AUTH).
 * Then every bit flip of the hello. The inviter survives all of it unchanged
 * and still accepts the real message.
 */
static void handshake_accept__unchanged__truncated_or_tampered(void **state)
{
	struct hs h;
	uint8_t b[MSG_MAX];
	(void)state;

	hs_new(&h, 11);
	for (size_t len = 0; len < h.first_len; len++)
		accept_err(&h, h.first, len,
		           len < PROTO_HELLO_V1_LEN + RATCHET_OVERHEAD ? SOTTO_ERR_TRUNCATED
		                                                       : SOTTO_ERR_AUTH);
	for (size_t i = 0; i < PROTO_HELLO_V1_LEN; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(b, h.first, h.first_len);
			b[i] ^= (uint8_t)(1u << bit);
			struct ratchet *r = NULL;
			uint8_t pt[PT_MAX];
			size_t n = 0;
			struct inviter_state before = inviter_take(h.inv);
			sotto_err rc =
			        handshake_accept(h.inv, b, h.first_len, pt, sizeof(pt), &n, &r);
			assert_int_not_equal(rc, SOTTO_OK);
			assert_true(rc == SOTTO_ERR_PROTOCOL || rc == SOTTO_ERR_AUTH ||
			            rc == SOTTO_ERR_WEAK_KEY);
			assert_null(r);
			struct inviter_state after = inviter_take(h.inv);
			assert_memory_equal(after.bytes, before.bytes, INVITER_STATE_LEN);
		}
	}
	hs_accept(&h);
	talk(h.inviter.r, h.joiner.r, 1);
	hs_free(&h);
}

static void handshake_accept__protocol__bad_hello_fields(void **state)
{
	static const uint8_t types[] = {0, PROTO_INVITATION_TYPE, 3, 255};
	static const uint16_t versions[] = {0, 2, 65535};
	struct hs h;
	uint8_t b[MSG_MAX];
	(void)state;

	hs_new(&h, 12);
	for (size_t i = 0; i < sizeof(types); i++) {
		memcpy(b, h.first, h.first_len);
		b[0] = types[i];
		accept_err(&h, b, h.first_len, SOTTO_ERR_PROTOCOL);
		accept_err(&h, b, 1, SOTTO_ERR_PROTOCOL);
	}
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		memcpy(b, h.first, h.first_len);
		bytes_store_be16(b + HELLO_OFF_VERSION, versions[i]);
		accept_err(&h, b, h.first_len, SOTTO_ERR_PROTOCOL);
	}
	for (unsigned kem = 1; kem < 256; kem *= 2) {
		memcpy(b, h.first, h.first_len);
		b[HELLO_OFF_KEM] = (uint8_t)kem;
		accept_err(&h, b, h.first_len, SOTTO_ERR_PROTOCOL);
	}
	memcpy(b, h.first, h.first_len);
	bytes_store_be16(b + HELLO_OFF_KEM_LEN, 1);
	accept_err(&h, b, h.first_len, SOTTO_ERR_PROTOCOL);
	hs_accept(&h);
	hs_free(&h);
}

static void handshake_accept__weak_key__low_order_joiner_key(void **state)
{
	struct hs h;
	uint8_t b[MSG_MAX];
	(void)state;

	hs_new(&h, 13);
	for (int k = 0; k < 2; k++) {
		memcpy(b, h.first, h.first_len);
		memset(b + (k == 0 ? HELLO_OFF_J1 : HELLO_OFF_J2), 0, 32);
		accept_err(&h, b, h.first_len, SOTTO_ERR_WEAK_KEY);
	}
	hs_accept(&h);
	hs_free(&h);
}

static void handshake_accept__too_large__small_output(void **state)
{
	struct hs h;
	struct ratchet *r = (struct ratchet *)&h;
	uint8_t pt[PT_MAX];
	size_t len = 1;
	(void)state;

	hs_new(&h, 14);
	struct inviter_state before = inviter_take(h.inv);
	assert_int_equal(
	        handshake_accept(h.inv, h.first, h.first_len, pt, sizeof(first_pt) - 1, &len, &r),
	        SOTTO_ERR_TOO_LARGE);
	assert_null(r);
	assert_int_equal(len, 0);
	struct inviter_state after = inviter_take(h.inv);
	assert_memory_equal(after.bytes, before.bytes, INVITER_STATE_LEN);
	hs_accept(&h);
	hs_free(&h);
}

/* One invitation, one session: the same hello again, or another joiner's, is USED. */
static void handshake_accept__used__second_hello(void **state)
{
	struct hs h;
	(void)state;

	hs_new(&h, 15);
	uint8_t first[MSG_MAX];
	size_t first_len = h.first_len;
	memcpy(first, h.first, first_len);
	hs_accept(&h);
	accept_err(&h, first, first_len, SOTTO_ERR_USED);
	ratchet_free(h.joiner.r);
	h.joiner.r = NULL;
	hs_join(&h); /* a second joiner */
	accept_err(&h, h.first, h.first_len, SOTTO_ERR_USED);
	/* the spent inviter keeps no key */
	struct inviter_state st = inviter_take(h.inv);
	assert_int_equal(st.bytes[ST_OFF_USED], 1);
	assert_true(sodium_is_zero(st.bytes + ST_OFF_I1, 64));
	assert_memory_equal(st.bytes + ST_OFF_INVITATION, h.invitation, sizeof(h.invitation));
	hs_free(&h);
}

/* ---- inviter state ---- */

static void handshake_inviter_serialize__identical__round_trip(void **state)
{
	struct hs h;
	struct handshake_inviter *copy = NULL;
	size_t len = 0;
	(void)state;

	hs_new(&h, 16);
	struct inviter_state st = inviter_take(h.inv);
	assert_int_equal(st.bytes[0], 1);
	assert_int_equal(st.bytes[ST_OFF_USED], 0);
	assert_memory_equal(st.bytes + ST_OFF_INVITATION, h.invitation, sizeof(h.invitation));
	assert_int_equal(handshake_inviter_deserialize(h.inviter.ctx, st.bytes, st.len, &copy),
	                 SOTTO_OK);
	struct inviter_state st2 = inviter_take(copy);
	assert_memory_equal(st2.bytes, st.bytes, INVITER_STATE_LEN);
	const uint8_t *b = handshake_invitation_bytes(copy, &len);
	assert_int_equal(len, sizeof(h.invitation));
	assert_memory_equal(b, h.invitation, len);
	/* the restored inviter accepts the hello; the original is then the only one unspent */
	handshake_inviter_free(h.inv);
	h.inv = copy;
	hs_accept(&h);
	talk(h.inviter.r, h.joiner.r, 9);
	/* a spent inviter round-trips as spent */
	struct inviter_state used = inviter_take(h.inv);
	copy = NULL;
	assert_int_equal(handshake_inviter_deserialize(h.inviter.ctx, used.bytes, used.len, &copy),
	                 SOTTO_OK);
	struct inviter_state used2 = inviter_take(copy);
	assert_memory_equal(used2.bytes, used.bytes, INVITER_STATE_LEN);
	handshake_inviter_free(h.inv);
	h.inv = copy;
	accept_err(&h, h.first, h.first_len, SOTTO_ERR_USED);
	hs_free(&h);
}

static void handshake_inviter_serialize__too_large__small_buffer(void **state)
{
	struct hs h;
	uint8_t out[INVITER_STATE_LEN];
	size_t len = 1;
	(void)state;

	hs_new(&h, 17);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(handshake_inviter_serialize(h.inv, out, sizeof(out) - 1, &len),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xaa);
	hs_free(&h);
}

static void inviter_corrupt(const uint8_t *b, size_t len)
{
	struct tu_alloc alloc = {0, 0, 0};
	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	long live = alloc.n_live;
	struct handshake_inviter *inv = (struct handshake_inviter *)&alloc;

	assert_int_equal(handshake_inviter_deserialize(ctx, b, len, &inv), SOTTO_ERR_CORRUPT);
	assert_null(inv);
	assert_int_equal(alloc.n_live, live);
	sotto_ctx_free(ctx);
}

static void inviter_corrupt_flip(const struct inviter_state *st, size_t off, uint8_t x)
{
	uint8_t b[INVITER_STATE_LEN];

	memcpy(b, st->bytes, sizeof(b));
	b[off] ^= x;
	inviter_corrupt(b, sizeof(b));
}

static void handshake_inviter_deserialize__corrupt__each_field(void **state)
{
	struct hs h;
	uint8_t b[INVITER_STATE_LEN + 1];
	(void)state;

	hs_new(&h, 18);
	struct inviter_state st = inviter_take(h.inv);
	for (size_t len = 0; len < INVITER_STATE_LEN; len++)
		inviter_corrupt(st.bytes, len);
	memcpy(b, st.bytes, INVITER_STATE_LEN);
	b[INVITER_STATE_LEN] = 0;
	inviter_corrupt(b, sizeof(b));
	inviter_corrupt_flip(&st, 0, 0x03);                                /* version 2 */
	inviter_corrupt_flip(&st, ST_OFF_USED, 0x02);                      /* state 2 */
	inviter_corrupt_flip(&st, ST_OFF_I1 + 5, 0x10);                    /* I1 does not match */
	inviter_corrupt_flip(&st, ST_OFF_I2 + 9, 0x01);                    /* I2 does not match */
	inviter_corrupt_flip(&st, ST_OFF_INVITATION, 0x03);                /* invitation type 2 */
	inviter_corrupt_flip(&st, ST_OFF_INVITATION + INV_OFF_KEY1, 0x01); /* public key */
	inviter_corrupt_flip(&st, ST_OFF_INVITATION + INV_OFF_KEM, 0x01);
	inviter_corrupt_flip(&st, ST_OFF_INVITATION + INV_OFF_RANGE + 1, 0x01); /* min 0 */
	inviter_corrupt_flip(&st, ST_OFF_USED, 0x01); /* "used" with keys present */
	hs_accept(&h);
	struct inviter_state used = inviter_take(h.inv);
	inviter_corrupt_flip(&used, ST_OFF_I2 + 31, 0x40); /* spent but a key byte set */
	hs_free(&h);
}

/* ---- security code ---- */

static void code_of(const struct ratchet *r, char text[PROTO_CODE_TEXT_LEN + 1])
{
	assert_int_equal(handshake_security_code(r, text, PROTO_CODE_TEXT_LEN + 1), SOTTO_OK);
	assert_int_equal(strlen(text), PROTO_CODE_TEXT_LEN);
	for (size_t i = 0; i < PROTO_CODE_TEXT_LEN; i++) {
		if (i % 6 == 5)
			assert_int_equal(text[i], ' ');
		else
			assert_true(text[i] >= '0' && text[i] <= '9');
	}
}

static void handshake_security_code__equal__both_sides(void **state)
{
	struct hs h, other;
	char a[PROTO_CODE_TEXT_LEN + 1], b[PROTO_CODE_TEXT_LEN + 1], c[PROTO_CODE_TEXT_LEN + 1];
	(void)state;

	hs_new(&h, 19);
	hs_accept(&h);
	code_of(h.joiner.r, a);
	code_of(h.inviter.r, b);
	assert_string_equal(a, b);
	talk(h.inviter.r, h.joiner.r, 3); /* the code is the session's, not the chain's */
	code_of(h.joiner.r, c);
	assert_string_equal(a, c);
	hs_new(&other, 20);
	hs_accept(&other);
	code_of(other.joiner.r, c);
	assert_string_not_equal(a, c);
	hs_free(&other);
	hs_free(&h);
}

/* §3.8 by hand: group i is code[5i..5i+5) as a big-endian number mod 100000. */
static void handshake_security_code__matches_spec__by_hand(void **state)
{
	static const char label[] = "sotto/e2e/verify/v1";
	struct hs h;
	uint8_t in[sizeof(label) - 1 + PROTO_AD_LEN], code[64];
	char want[PROTO_CODE_TEXT_LEN + 1], got[PROTO_CODE_TEXT_LEN + 1];
	size_t pos = 0;
	(void)state;

	hs_new(&h, 21);
	memcpy(in, label, sizeof(label) - 1);
	memcpy(in + sizeof(label) - 1, ratchet_ad(h.joiner.r), PROTO_AD_LEN);
	crypto_generichash_blake2b(code, sizeof(code), in, sizeof(in), NULL, 0);
	for (int g = 0; g < 12; g++) {
		uint64_t v = 0;
		for (int i = 0; i < 5; i++)
			v = v * 256 + code[5 * g + i];
		int n = snprintf(want + pos, sizeof(want) - pos, g == 0 ? "%05u" : " %05u",
		                 (unsigned)(v % 100000));
		pos += (size_t)n;
	}
	code_of(h.joiner.r, got);
	assert_string_equal(got, want);
	hs_free(&h);
}

static void handshake_security_code__too_large__small_buffer(void **state)
{
	struct hs h;
	char text[PROTO_CODE_TEXT_LEN + 1];
	(void)state;

	hs_new(&h, 22);
	memset(text, 'x', sizeof(text));
	assert_int_equal(handshake_security_code(h.joiner.r, text, PROTO_CODE_TEXT_LEN),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(text[0], '\0');
	hs_free(&h);
}

/* ---- allocation failures ---- */

/*
 * Fails allocation k = 1, 2, ... of op until it succeeds; each failure must
 * be SOTTO_ERR_NOMEM with nothing left allocated and no object returned.
 */
static void handshake_invite_new__nomem__allocation_sweep(void **state)
{
	struct tu_alloc alloc = {0, 0, 0};
	struct tu_rng rng;
	bool done = false;
	(void)state;

	tu_rng_init(&rng, 23);
	sotto_ctx *ctx = tu_ctx(&alloc, &rng, NULL);
	long live = alloc.n_live;
	for (unsigned long k = 1; !done && k < 16; k++) {
		struct handshake_inviter *inv = (struct handshake_inviter *)&alloc;
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc = handshake_invite_new(ctx, &inv);
		if (rc == SOTTO_OK) {
			handshake_inviter_free(inv);
			done = true;
		} else {
			assert_int_equal(rc, SOTTO_ERR_NOMEM);
			assert_null(inv);
		}
		assert_int_equal(alloc.n_live, live);
	}
	assert_true(done);
	alloc.fail_at = 0;
	sotto_ctx_free(ctx);
}

static void handshake_join__nomem__allocation_sweep(void **state)
{
	struct hs h;
	struct tu_alloc alloc = {0, 0, 0};
	struct handshake_invitation parsed;
	uint8_t hello[PROTO_HELLO_V1_LEN];
	bool done = false;
	(void)state;

	hs_new(&h, 24);
	side_clear(&h.joiner);
	side_init(&h.joiner, 2424, &alloc);
	long live = alloc.n_live;
	assert_int_equal(handshake_invitation_parse(h.invitation, sizeof(h.invitation), &parsed),
	                 SOTTO_OK);
	for (unsigned long k = 1; !done && k < 16; k++) {
		struct ratchet *r = (struct ratchet *)&alloc;
		size_t len = 1;
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc =
		        handshake_join(h.joiner.ctx, &parsed, hello, sizeof(hello), &len, &r);
		if (rc == SOTTO_OK) {
			assert_int_equal(len, PROTO_HELLO_V1_LEN);
			ratchet_free(r);
			done = true;
		} else {
			assert_int_equal(rc, SOTTO_ERR_NOMEM);
			assert_null(r);
			assert_int_equal(len, 0);
		}
		assert_int_equal(alloc.n_live, live);
	}
	assert_true(done);
	alloc.fail_at = 0;
	hs_free(&h);
}

static void handshake_accept__nomem__allocation_sweep(void **state)
{
	struct hs h;
	struct tu_alloc alloc = {0, 0, 0};
	bool done = false;
	(void)state;

	hs_new(&h, 25);
	handshake_inviter_free(h.inv);
	side_clear(&h.inviter);
	side_init(&h.inviter, 25, &alloc); /* the same seed: the same invitation */
	assert_int_equal(handshake_invite_new(h.inviter.ctx, &h.inv), SOTTO_OK);
	long live = alloc.n_live;
	for (unsigned long k = 1; !done && k < 16; k++) {
		struct inviter_state before = inviter_take(h.inv);
		struct ratchet *r = (struct ratchet *)&alloc;
		uint8_t pt[PT_MAX];
		size_t len = 1;
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc =
		        handshake_accept(h.inv, h.first, h.first_len, pt, sizeof(pt), &len, &r);
		if (rc == SOTTO_OK) {
			assert_int_equal(len, sizeof(first_pt));
			h.inviter.r = r;
			done = true;
			live++;
		} else {
			assert_int_equal(rc, SOTTO_ERR_NOMEM);
			assert_null(r);
			assert_int_equal(len, 0);
			struct inviter_state after = inviter_take(h.inv);
			assert_memory_equal(after.bytes, before.bytes, INVITER_STATE_LEN);
		}
		assert_int_equal(alloc.n_live, live);
	}
	assert_true(done);
	alloc.fail_at = 0;
	talk(h.inviter.r, h.joiner.r, 5);
	hs_free(&h);
}

static void handshake_inviter_deserialize__nomem__allocation_sweep(void **state)
{
	struct hs h;
	struct tu_alloc alloc = {0, 0, 0};
	bool done = false;
	(void)state;

	hs_new(&h, 26);
	struct inviter_state st = inviter_take(h.inv);
	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	long live = alloc.n_live;
	for (unsigned long k = 1; !done && k < 16; k++) {
		struct handshake_inviter *inv = (struct handshake_inviter *)&alloc;
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc = handshake_inviter_deserialize(ctx, st.bytes, st.len, &inv);
		if (rc == SOTTO_OK) {
			handshake_inviter_free(inv);
			done = true;
		} else {
			assert_int_equal(rc, SOTTO_ERR_NOMEM);
			assert_null(inv);
		}
		assert_int_equal(alloc.n_live, live);
	}
	assert_true(done);
	alloc.fail_at = 0;
	sotto_ctx_free(ctx);
	hs_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(handshake__ok__full_exchange),
	        cmocka_unit_test(handshake_invite_new__layout__version_1),
	        cmocka_unit_test(handshake_invitation_parse__ok__fields),
	        cmocka_unit_test(handshake_invitation_parse__truncated__every_prefix),
	        cmocka_unit_test(handshake_invitation_parse__trailing__extra_bytes),
	        cmocka_unit_test(handshake_invitation_parse__protocol__bad_fields),
	        cmocka_unit_test(handshake_join__ok__wider_range),
	        cmocka_unit_test(handshake_join__version__no_common_version),
	        cmocka_unit_test(handshake_join__weak_key__low_order_invitation_key),
	        cmocka_unit_test(handshake_join__too_large__small_hello_buffer),
	        cmocka_unit_test(handshake_accept__unchanged__truncated_or_tampered),
	        cmocka_unit_test(handshake_accept__protocol__bad_hello_fields),
	        cmocka_unit_test(handshake_accept__weak_key__low_order_joiner_key),
	        cmocka_unit_test(handshake_accept__too_large__small_output),
	        cmocka_unit_test(handshake_accept__used__second_hello),
	        cmocka_unit_test(handshake_inviter_serialize__identical__round_trip),
	        cmocka_unit_test(handshake_inviter_serialize__too_large__small_buffer),
	        cmocka_unit_test(handshake_inviter_deserialize__corrupt__each_field),
	        cmocka_unit_test(handshake_security_code__equal__both_sides),
	        cmocka_unit_test(handshake_security_code__matches_spec__by_hand),
	        cmocka_unit_test(handshake_security_code__too_large__small_buffer),
	        cmocka_unit_test(handshake_invite_new__nomem__allocation_sweep),
	        cmocka_unit_test(handshake_join__nomem__allocation_sweep),
	        cmocka_unit_test(handshake_accept__nomem__allocation_sweep),
	        cmocka_unit_test(handshake_inviter_deserialize__nomem__allocation_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
