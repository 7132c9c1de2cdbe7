/* SPDX-License-Identifier: MIT */
/*
 * e2e_testlib.h - helpers shared by the end-to-end session tests of the proto
 * layer (schedule_test.c, security_test.c, kat_test.c). Test code only: it
 * uses cmocka, is header-only (static inline, so a test that leaves a helper
 * unused still compiles warning-free) and is never part of libsotto.
 *
 * A struct e2e_pair is one contact connection made through the real
 * handshake: the inviter (the Double Ratchet's "Bob") makes an invitation,
 * the joiner ("Alice") parses it and joins, and the inviter accepts the hello
 * with the joiner's first ratchet message. Each side has its own context and
 * its own seeded tu_rng, so every run of a test derives the same keys.
 *
 * Every rejection helper checks what ratchet.h promises for a failure: the
 * expected error code, the state byte for byte unchanged (compared through
 * ratchet_serialize) and no plaintext left in the output buffer.
 */
#ifndef SOTTO_PROTO_E2E_TESTLIB_H
#define SOTTO_PROTO_E2E_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proto/handshake.h"
#include "proto/limits.h"
#include "proto/ratchet.h"
#include "test_util.h"

enum {
	E2E_PT_MAX = 512,                                /* plaintexts these tests send */
	E2E_MSG_MAX = E2E_PT_MAX + RATCHET_OVERHEAD,     /* one ratchet message */
	E2E_WIRE_MAX = PROTO_HELLO_V1_LEN + E2E_MSG_MAX, /* hello || first message */
	E2E_INVITER_STATE_LEN = 2 + 2 * PROTO_KEY_LEN + PROTO_INVITATION_V1_LEN,
};

/* One party: its RNG (borrowed by ctx, so the struct must not move), context and session. */
struct e2e_side {
	struct tu_rng rng;
	sotto_ctx *ctx;
	struct ratchet *r; /* owned; NULL until the handshake made it */
};

/* A ratchet message or the first wire message (hello || message). */
struct e2e_msg {
	uint8_t bytes[E2E_WIRE_MAX];
	size_t len;
};

/* A connection made through the real handshake, plus what crossed the wire. */
struct e2e_pair {
	struct e2e_side inviter;                      /* "Bob": made the invitation */
	struct e2e_side joiner;                       /* "Alice": sent the hello */
	uint8_t invitation[PROTO_INVITATION_V1_LEN];  /* the invitation's bytes */
	size_t hello_len;                             /* hello bytes before the ratchet message */
	struct e2e_msg first;                         /* hello || joiner's first message */
	uint8_t inviter_state[E2E_INVITER_STATE_LEN]; /* inviter serialised before accept */
};

/* A serialised ratchet state (malloc'd copy). */
struct e2e_state {
	uint8_t *bytes;
	size_t len;
};

static inline void e2e_side_init(struct e2e_side *s, uint64_t seed)
{
	tu_rng_init(&s->rng, seed);
	s->ctx = tu_ctx(NULL, &s->rng, NULL);
	s->r = NULL;
}

static inline void e2e_side_clear(struct e2e_side *s)
{
	ratchet_free(s->r);
	s->r = NULL;
	sotto_ctx_free(s->ctx);
	s->ctx = NULL;
}

/* The state of r now. */
static inline struct e2e_state e2e_state_take(const struct ratchet *r)
{
	struct e2e_state st = {NULL, ratchet_serialized_len(r)};
	size_t n = 0;

	assert_in_range(st.len, RATCHET_STATE_BASE_LEN, RATCHET_STATE_MAX);
	st.bytes = malloc(st.len);
	assert_non_null(st.bytes);
	assert_int_equal(ratchet_serialize(r, st.bytes, st.len, &n), SOTTO_OK);
	assert_int_equal(n, st.len);
	return st;
}

static inline void e2e_state_free(struct e2e_state *st)
{
	free(st->bytes);
	st->bytes = NULL;
	st->len = 0;
}

static inline bool e2e_state_same(const struct ratchet *r, const struct e2e_state *st)
{
	struct e2e_state now = e2e_state_take(r);
	bool same = now.len == st->len && memcmp(now.bytes, st->bytes, st->len) == 0;
	e2e_state_free(&now);
	return same;
}

/* A copy of r through serialize + deserialize (what an attacker or a restart gets). */
static inline struct ratchet *e2e_copy(sotto_ctx *ctx, const struct ratchet *r)
{
	struct e2e_state st = e2e_state_take(r);
	struct ratchet *copy = NULL;

	assert_int_equal(ratchet_deserialize(ctx, st.bytes, st.len, &copy), SOTTO_OK);
	assert_non_null(copy);
	e2e_state_free(&st);
	return copy;
}

/*
 * Runs the handshake: invite (inviter seed), join (joiner seed), the joiner's
 * first message carrying first_pt, accept. Checks that the inviter read
 * first_pt and that both sides agree on AD.
 */
static inline void e2e_pair_open(struct e2e_pair *p, uint64_t inviter_seed, uint64_t joiner_seed,
                                 const uint8_t *first_pt, size_t first_len)
{
	struct handshake_inviter *inv = NULL;
	struct handshake_invitation parsed;
	uint8_t pt[E2E_PT_MAX];
	size_t len = 0, n = 0;

	assert_true(first_len <= E2E_PT_MAX);
	memset(p, 0, sizeof(*p));
	e2e_side_init(&p->inviter, inviter_seed);
	e2e_side_init(&p->joiner, joiner_seed);
	assert_int_equal(handshake_invite_new(p->inviter.ctx, &inv), SOTTO_OK);
	const uint8_t *ib = handshake_invitation_bytes(inv, &len);
	assert_int_equal(len, PROTO_INVITATION_V1_LEN);
	memcpy(p->invitation, ib, len);
	assert_int_equal(
	        handshake_inviter_serialize(inv, p->inviter_state, sizeof(p->inviter_state), &n),
	        SOTTO_OK);
	assert_int_equal(n, E2E_INVITER_STATE_LEN);
	assert_int_equal(handshake_invitation_parse(p->invitation, len, &parsed), SOTTO_OK);
	assert_int_equal(handshake_join(p->joiner.ctx, &parsed, p->first.bytes,
	                                sizeof(p->first.bytes), &p->hello_len, &p->joiner.r),
	                 SOTTO_OK);
	assert_int_equal(p->hello_len, PROTO_HELLO_V1_LEN);
	assert_int_equal(ratchet_encrypt(p->joiner.r, first_pt, first_len,
	                                 p->first.bytes + p->hello_len,
	                                 sizeof(p->first.bytes) - p->hello_len, &n),
	                 SOTTO_OK);
	assert_int_equal(n, ratchet_message_len(first_len));
	p->first.len = p->hello_len + n;
	assert_int_equal(handshake_accept(inv, p->first.bytes, p->first.len, pt, sizeof(pt), &len,
	                                  &p->inviter.r),
	                 SOTTO_OK);
	assert_int_equal(len, first_len);
	if (first_len > 0)
		assert_memory_equal(pt, first_pt, first_len);
	assert_memory_equal(ratchet_ad(p->inviter.r), ratchet_ad(p->joiner.r), PROTO_AD_LEN);
	handshake_inviter_free(inv);
}

static inline void e2e_pair_close(struct e2e_pair *p)
{
	e2e_side_clear(&p->inviter);
	e2e_side_clear(&p->joiner);
}

/* Encrypts pt on r into m; fails the test unless it works. */
static inline void e2e_send(struct ratchet *r, const uint8_t *pt, size_t pt_len, struct e2e_msg *m)
{
	assert_true(pt_len <= E2E_PT_MAX);
	assert_int_equal(ratchet_encrypt(r, pt, pt_len, m->bytes, sizeof(m->bytes), &m->len),
	                 SOTTO_OK);
	assert_int_equal(m->len, pt_len + RATCHET_OVERHEAD);
}

/* Decrypts m on r and checks it reads exactly pt. */
static inline void e2e_recv_ok(struct ratchet *r, const struct e2e_msg *m, const uint8_t *pt,
                               size_t pt_len)
{
	uint8_t out[E2E_MSG_MAX];
	size_t n = 1;

	assert_int_equal(ratchet_decrypt(r, m->bytes, m->len, out, sizeof(out), &n), SOTTO_OK);
	assert_int_equal(n, pt_len);
	if (pt_len > 0)
		assert_memory_equal(out, pt, pt_len);
}

static inline bool e2e_all_zero(const uint8_t *b, size_t len)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < len; i++)
		acc |= b[i];
	return acc == 0;
}

/*
 * Decrypts bytes on r and returns the error; on any error also checks the
 * state is byte for byte unchanged and the output holds no plaintext.
 */
static inline sotto_err e2e_recv_err(struct ratchet *r, const uint8_t *bytes, size_t len)
{
	struct e2e_state before = e2e_state_take(r);
	uint8_t out[E2E_MSG_MAX] = {0};
	size_t n = 1;
	sotto_err rc = ratchet_decrypt(r, bytes, len, out, sizeof(out), &n);

	if (rc != SOTTO_OK) {
		assert_true(e2e_state_same(r, &before));
		assert_true(e2e_all_zero(out, sizeof(out)));
		assert_int_equal(n, 0);
	}
	e2e_state_free(&before);
	return rc;
}

/* Fills pt with len bytes that name the message: tag, then a counter pattern. */
static inline void e2e_fill(uint8_t *pt, size_t len, uint32_t tag)
{
	for (size_t i = 0; i < len; i++)
		pt[i] = (uint8_t)(tag * 131u + (uint32_t)i * 7u + (uint32_t)(i >> 8));
}

#endif /* SOTTO_PROTO_E2E_TESTLIB_H */
