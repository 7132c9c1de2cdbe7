/* SPDX-License-Identifier: MIT */
/*
 * ratchet_test.c - the Double Ratchet (docs/protocol.md §3.5-3.7) on
 * sessions built from chosen keys through ratchet_int.h: round trips with
 * many direction changes, out-of-order delivery within and across chains,
 * replays, tampering, the MAX_SKIP and SKIPPED_MAX bounds, the send-before-
 * receive rule, the saved state (round trip, every malformed field, the
 * order of the stored keys) and allocation failures, including those of the
 * skipped-key store, which is made, grown and freed as keys come and go.
 * Every rejected message must leave the state byte for byte unchanged and
 * no plaintext in the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/bytes.h"
#include "core/compat.h"
#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "crypto/x25519.h"
#include "proto/ratchet.h"
#include "proto/ratchet_int.h"
#include "test_util.h"

enum {
	PT_MAX = 64,
	MSG_MAX = PT_MAX + RATCHET_OVERHEAD,
	/* §3.7 offsets */
	OFF_FLAGS = 1,
	OFF_DHS_PUB = 34,
	OFF_DHR = 66,
	OFF_CKS = 130,
	OFF_CKR = 162,
	OFF_HKS = 194,
	OFF_HKR = 226,
	OFF_NS = 322,
	OFF_NR = 326,
	OFF_PN = 330,
	OFF_NHKR = 290,
	OFF_S = 398,
	OFF_SKIPPED = 400, /* entry i at OFF_SKIPPED + 68 i: hk 32, n 4, mk 32 */
	OFF_ENTRY_N = 32,
	/* §3.6 offsets */
	OFF_HEADER_NONCE = 1,
	OFF_ENC_HEADER = 25,
	OFF_BODY_NONCE = 81,
	OFF_BODY = 105,
};

/* ---- sessions ---- */

struct side {
	struct tu_rng rng; /* borrowed by ctx: the struct must not move */
	sotto_ctx *ctx;
	struct ratchet *r;
};

/* A joiner (a, "Alice") and an inviter (b, "Bob") after a's first message reached b. */
struct pair {
	struct side a;
	struct side b;
	struct ratchet_init init;
	struct x25519_keypair i2;
};

struct msg {
	uint8_t bytes[MSG_MAX];
	size_t len;
};

static void fill(uint8_t *pt, size_t len, uint32_t tag)
{
	for (size_t i = 0; i < len; i++)
		pt[i] = (uint8_t)(tag * 29u + i * 3u + 1u);
}

/* The plaintext of message `tag`: its length varies with the tag, 0 included. */
static size_t pt_len_of(uint32_t tag)
{
	return tag % (PT_MAX + 1);
}

static void send_msg(struct ratchet *r, uint32_t tag, struct msg *m)
{
	uint8_t pt[PT_MAX];
	size_t len = pt_len_of(tag);

	fill(pt, len, tag);
	m->len = 1;
	assert_int_equal(ratchet_encrypt(r, pt, len, m->bytes, sizeof(m->bytes), &m->len),
	                 SOTTO_OK);
	assert_int_equal(m->len, ratchet_message_len(len));
}

static void recv_ok(struct ratchet *r, const struct msg *m, uint32_t tag)
{
	uint8_t pt[PT_MAX], want[PT_MAX];
	size_t len = 99;

	assert_int_equal(ratchet_decrypt(r, m->bytes, m->len, pt, sizeof(pt), &len), SOTTO_OK);
	assert_int_equal(len, pt_len_of(tag));
	fill(want, len, tag);
	assert_memory_equal(pt, want, len);
}

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

/* Both first states (§3.5), without the first message; b_alloc (or NULL) counts b's allocations. */
static void pair_new_counted(struct pair *p, uint64_t seed, struct tu_alloc *b_alloc)
{
	memset(p, 0, sizeof(*p));
	side_init(&p->a, seed, NULL);
	side_init(&p->b, seed + 1000, b_alloc);
	tu_rng_fill(&p->b.rng, (uint8_t *)&p->init, sizeof(p->init));
	x25519_keypair_generate(p->b.ctx, &p->i2);
	assert_int_equal(ratchet_new_inviter(p->b.ctx, &p->init, &p->i2, &p->b.r), SOTTO_OK);
	assert_int_equal(ratchet_new_joiner(p->a.ctx, &p->init, p->i2.pub, &p->a.r), SOTTO_OK);
}

static void pair_new(struct pair *p, uint64_t seed)
{
	pair_new_counted(p, seed, NULL);
}

/* pair_new, then a's message 0 (tag 0) delivered to b. */
static void pair_open(struct pair *p, uint64_t seed)
{
	struct msg m;

	pair_new(p, seed);
	send_msg(p->a.r, 0, &m);
	recv_ok(p->b.r, &m, 0);
}

static void pair_close(struct pair *p)
{
	side_clear(&p->a);
	side_clear(&p->b);
}

/* ---- state snapshots ---- */

struct state {
	uint8_t *bytes;
	size_t len;
};

static struct state state_take(const struct ratchet *r)
{
	struct state st = {malloc(RATCHET_STATE_MAX), 0};

	assert_non_null(st.bytes);
	assert_int_equal(ratchet_serialize(r, st.bytes, RATCHET_STATE_MAX, &st.len), SOTTO_OK);
	assert_int_equal(st.len, ratchet_serialized_len(r));
	return st;
}

static void state_free(struct state *st)
{
	free(st->bytes);
	st->bytes = NULL;
}

static void assert_state_is(const struct ratchet *r, const struct state *st)
{
	struct state now = state_take(r);

	assert_int_equal(now.len, st->len);
	assert_memory_equal(now.bytes, st->bytes, st->len);
	state_free(&now);
}

static size_t n_skipped(const struct ratchet *r)
{
	return (ratchet_serialized_len(r) - RATCHET_STATE_BASE_LEN) / RATCHET_SKIPPED_ENTRY_LEN;
}

/* Decrypts bytes that must fail with want; checks state, output and length. */
static void recv_err(struct ratchet *r, const uint8_t *bytes, size_t len, sotto_err want)
{
	struct state before = state_take(r);
	uint8_t pt[MSG_MAX];
	size_t pt_len = 1;

	memset(pt, 0, sizeof(pt));
	assert_int_equal(ratchet_decrypt(r, bytes, len, pt, sizeof(pt), &pt_len), want);
	assert_int_equal(pt_len, 0);
	assert_true(sodium_is_zero(pt, sizeof(pt)));
	assert_state_is(r, &before);
	state_free(&before);
}

/* ---- round trips ---- */

static void ratchet_message_len__adds_overhead__any_length(void **state)
{
	(void)state;
	assert_int_equal(ratchet_message_len(0), RATCHET_OVERHEAD);
	assert_int_equal(ratchet_message_len(1000), 1000 + RATCHET_OVERHEAD);
	assert_int_equal(ratchet_message_len(SIZE_MAX), SIZE_MAX);
}

/*
 * A seeded random schedule: each step one side sends (possibly while the
 * other has messages in flight, so both make DH steps at once) or one queue
 * delivers its oldest message.
 */
static void ratchet_decrypt__ok__many_direction_changes(void **state)
{
	enum { STEPS = 600, QUEUE_MAX = 8 };
	struct pair p;
	struct msg q[2][QUEUE_MAX]; /* q[0]: a -> b, q[1]: b -> a */
	uint32_t tags[2][QUEUE_MAX];
	size_t n_q[2] = {0, 0}, n_delivered = 0, n_turns = 0;
	struct side *sender[2] = {&p.a, &p.b};
	uint32_t tag = 1, last_dir = 0;
	struct tu_rng sched;
	(void)state;

	pair_open(&p, 1);
	tu_rng_init(&sched, 77);
	for (int step = 0; step < STEPS; step++) {
		uint8_t pick;
		tu_rng_fill(&sched, &pick, 1);
		size_t dir = pick & 1;
		if ((pick & 2) != 0 && n_q[dir] < QUEUE_MAX) {
			send_msg(sender[dir]->r, tag, &q[dir][n_q[dir]]);
			tags[dir][n_q[dir]++] = tag++;
			n_turns += dir != last_dir;
			last_dir = (uint32_t)dir;
		} else if (n_q[dir] > 0) {
			recv_ok(sender[1 - dir]->r, &q[dir][0], tags[dir][0]);
			memmove(&q[dir][0], &q[dir][1], (n_q[dir] - 1) * sizeof(q[dir][0]));
			memmove(&tags[dir][0], &tags[dir][1],
			        (n_q[dir] - 1) * sizeof(tags[dir][0]));
			n_q[dir]--;
			n_delivered++;
		}
	}
	assert_true(n_delivered > 200);
	assert_true(n_turns > 50);
	assert_int_equal(n_skipped(p.a.r), 0);
	assert_int_equal(n_skipped(p.b.r), 0);
	pair_close(&p);
}

static void ratchet_decrypt__ok__out_of_order_within_chain(void **state)
{
	enum { N = 12 };
	static const int order[N] = {5, 0, 11, 3, 1, 2, 10, 4, 9, 6, 8, 7};
	struct pair p;
	struct msg m[N];
	(void)state;

	pair_open(&p, 2);
	for (uint32_t i = 0; i < N; i++)
		send_msg(p.a.r, 100 + i, &m[i]);
	for (int i = 0; i < N; i++)
		recv_ok(p.b.r, &m[order[i]], 100 + (uint32_t)order[i]);
	assert_int_equal(n_skipped(p.b.r), 0);
	/* and the session carries on both ways */
	send_msg(p.b.r, 200, &m[0]);
	recv_ok(p.a.r, &m[0], 200);
	send_msg(p.a.r, 201, &m[1]);
	recv_ok(p.b.r, &m[1], 201);
	pair_close(&p);
}

/*
 * Keys skipped through PN (the old chain, stored when the new ratchet key
 * arrives) and through n (the new chain), delivered late in mixed order.
 */
static void ratchet_decrypt__ok__out_of_order_across_chains(void **state)
{
	struct pair p;
	struct msg a1[4], b0, a2[3], b1, a3[2];
	(void)state;

	pair_open(&p, 3);
	for (uint32_t i = 1; i < 4; i++) /* chain A1: n = 1..3 */
		send_msg(p.a.r, 10 + i, &a1[i]);
	recv_ok(p.b.r, &a1[1], 11);
	send_msg(p.b.r, 20, &b0);
	recv_ok(p.a.r, &b0, 20);
	for (uint32_t i = 0; i < 3; i++) /* chain A2: PN = 4 */
		send_msg(p.a.r, 30 + i, &a2[i]);
	recv_ok(p.b.r, &a2[2], 32); /* stores A1 n=2,3 and A2 n=0,1 */
	assert_int_equal(n_skipped(p.b.r), 4);
	recv_ok(p.b.r, &a1[3], 13);
	recv_ok(p.b.r, &a2[0], 30);
	send_msg(p.b.r, 21, &b1);
	recv_ok(p.a.r, &b1, 21);
	for (uint32_t i = 0; i < 2; i++) /* chain A3 */
		send_msg(p.a.r, 40 + i, &a3[i]);
	recv_ok(p.b.r, &a3[1], 41);
	recv_ok(p.b.r, &a1[2], 12);
	recv_ok(p.b.r, &a3[0], 40);
	recv_ok(p.b.r, &a2[1], 31);
	assert_int_equal(n_skipped(p.b.r), 0);
	pair_close(&p);
}

/* ---- rejections ---- */

static void ratchet_decrypt__auth__replays(void **state)
{
	struct pair p;
	struct msg m[4], b0, a_new;
	(void)state;

	pair_open(&p, 4);
	for (uint32_t i = 0; i < 4; i++)
		send_msg(p.a.r, 50 + i, &m[i]);
	recv_ok(p.b.r, &m[0], 50);
	recv_err(p.b.r, m[0].bytes, m[0].len, SOTTO_ERR_AUTH); /* just received */
	recv_ok(p.b.r, &m[3], 53);
	recv_err(p.b.r, m[3].bytes, m[3].len, SOTTO_ERR_AUTH);
	recv_ok(p.b.r, &m[1], 51); /* from the store */
	recv_err(p.b.r, m[1].bytes, m[1].len, SOTTO_ERR_AUTH);
	/* after a DH step the old chain's keys are only in the store */
	send_msg(p.b.r, 60, &b0);
	recv_ok(p.a.r, &b0, 60);
	recv_err(p.a.r, b0.bytes, b0.len, SOTTO_ERR_AUTH);
	send_msg(p.a.r, 61, &a_new);
	recv_ok(p.b.r, &a_new, 61);
	recv_err(p.b.r, m[3].bytes, m[3].len, SOTTO_ERR_AUTH);
	recv_ok(p.b.r, &m[2], 52);
	recv_err(p.b.r, m[2].bytes, m[2].len, SOTTO_ERR_AUTH);
	recv_err(p.b.r, a_new.bytes, a_new.len, SOTTO_ERR_AUTH);
	pair_close(&p);
}

/*
 * begin now, finish later (and again): every finish gives the same bytes,
 * they decrypt once, and messages begun after it are independent of when it
 * is finished.
 */
static void ratchet_encrypt_finish__identical__again_and_in_any_order(void **state)
{
	struct ratchet_pending pend;
	struct pair p;
	struct msg m1, m1_again, m2;
	uint8_t pt[PT_MAX];
	(void)state;

	pair_open(&p, 11);
	assert_int_equal(ratchet_encrypt_begin(p.a.r, &pend), SOTTO_OK);
	send_msg(p.a.r, 72, &m2); /* begun after it, sent first */
	fill(pt, pt_len_of(71), 71);
	assert_int_equal(ratchet_encrypt_finish(&pend, pt, pt_len_of(71), m1.bytes,
	                                        sizeof(m1.bytes), &m1.len),
	                 SOTTO_OK);
	assert_int_equal(ratchet_encrypt_finish(&pend, pt, pt_len_of(71), m1_again.bytes,
	                                        sizeof(m1_again.bytes), &m1_again.len),
	                 SOTTO_OK);
	assert_int_equal(m1.len, ratchet_message_len(pt_len_of(71)));
	assert_int_equal(m1.len, m1_again.len);
	assert_memory_equal(m1.bytes, m1_again.bytes, m1.len);
	recv_ok(p.b.r, &m2, 72);
	recv_ok(p.b.r, &m1, 71);                                       /* from the skipped keys */
	recv_err(p.b.r, m1_again.bytes, m1_again.len, SOTTO_ERR_AUTH); /* the copy: a replay */
	/* Too small an output is refused, not truncated. */
	assert_int_equal(ratchet_encrypt_finish(&pend, pt, pt_len_of(71), m1.bytes,
	                                        ratchet_message_len(pt_len_of(71)) - 1, &m1.len),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(m1.len, 0);
	ratchet_pending_clear(&pend);
	assert_true(sodium_is_zero(pend.mk, sizeof(pend.mk)));
	pair_close(&p);
}

/* Every single-bit flip and every truncation of a message, header and body alike. */
static void ratchet_decrypt__auth__tampered_or_truncated(void **state)
{
	struct pair p;
	struct msg m, skipped, t;
	(void)state;

	pair_open(&p, 5);
	send_msg(p.a.r, 7, &skipped); /* leaves a stored key, so step 1 runs too */
	send_msg(p.a.r, 9, &m);
	recv_ok(p.b.r, &m, 9);
	send_msg(p.a.r, 10, &m);
	assert_int_equal(n_skipped(p.b.r), 1);
	const struct msg *targets[] = {&m, &skipped}; /* step 2 and step 1 */
	for (size_t k = 0; k < 2; k++) {
		const struct msg *x = targets[k];
		for (size_t i = 0; i < x->len; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				t = *x;
				t.bytes[i] ^= (uint8_t)(1u << bit);
				recv_err(p.b.r, t.bytes, t.len, SOTTO_ERR_AUTH);
			}
		}
		for (size_t len = 0; len < x->len; len++)
			recv_err(p.b.r, x->bytes, len, SOTTO_ERR_AUTH);
		t = *x;
		t.bytes[t.len++] = 0;
		recv_err(p.b.r, t.bytes, t.len, SOTTO_ERR_AUTH);
	}
	recv_ok(p.b.r, &m, 10);
	recv_ok(p.b.r, &skipped, 7);
	pair_close(&p);
}

static void ratchet_decrypt__auth__other_session(void **state)
{
	struct pair p, q;
	struct msg m;
	(void)state;

	pair_open(&p, 6);
	pair_open(&q, 7);
	send_msg(p.a.r, 1, &m);
	recv_err(q.b.r, m.bytes, m.len, SOTTO_ERR_AUTH);
	recv_err(q.a.r, m.bytes, m.len, SOTTO_ERR_AUTH);
	recv_ok(p.b.r, &m, 1);
	pair_close(&p);
	pair_close(&q);
}

static void ratchet_decrypt__too_large__small_output(void **state)
{
	struct pair p;
	struct msg m;
	uint8_t pt[PT_MAX];
	size_t len = 1;
	(void)state;

	pair_open(&p, 8);
	send_msg(p.a.r, 20, &m); /* 20 bytes of plaintext */
	struct state before = state_take(p.b.r);
	memset(pt, 0, sizeof(pt));
	assert_int_equal(ratchet_decrypt(p.b.r, m.bytes, m.len, pt, 19, &len), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	assert_true(sodium_is_zero(pt, sizeof(pt)));
	assert_state_is(p.b.r, &before);
	state_free(&before);
	recv_ok(p.b.r, &m, 20);
	pair_close(&p);
}

/* The message key of number Nr + steps, from a receiving chain key CKr of number Nr. */
static void key_ahead(const uint8_t ckr[32], uint32_t steps, uint8_t mk[32])
{
	uint8_t ck[32];

	memcpy(ck, ckr, sizeof(ck));
	for (uint32_t i = 0; i <= steps; i++)
		kdf_chain(ck, mk, ck);
}

/*
 * Builds a message by hand: header (dh, pn, n) under hk, an empty body under
 * mk (a random key when NULL) bound to ad. Lets a test say what no honest
 * sender says.
 */
static void forge(struct msg *m, const uint8_t hk[32], const uint8_t dh[32], uint32_t pn,
                  uint32_t n, const uint8_t *mk, const uint8_t ad[PROTO_AD_LEN])
{
	uint8_t header[RATCHET_HEADER_LEN], key[32], body_ad[PROTO_AD_LEN + OFF_BODY];

	memcpy(header, dh, 32);
	bytes_store_be32(header + 32, pn);
	bytes_store_be32(header + 36, n);
	m->len = RATCHET_OVERHEAD;
	m->bytes[0] = RATCHET_VERSION;
	randombytes_buf(m->bytes + OFF_HEADER_NONCE, RATCHET_NONCE_LEN);
	randombytes_buf(m->bytes + OFF_BODY_NONCE, RATCHET_NONCE_LEN);
	if (mk != NULL)
		memcpy(key, mk, sizeof(key));
	else
		randombytes_buf(key, sizeof(key));
	assert_int_equal(aead_x_encrypt(m->bytes + OFF_ENC_HEADER, header, sizeof(header), m->bytes,
	                                1, m->bytes + OFF_HEADER_NONCE, hk),
	                 SOTTO_OK);
	memcpy(body_ad, ad, PROTO_AD_LEN);
	memcpy(body_ad + PROTO_AD_LEN, m->bytes, OFF_BODY);
	assert_int_equal(aead_x_encrypt(m->bytes + OFF_BODY, NULL, 0, body_ad, sizeof(body_ad),
	                                m->bytes + OFF_BODY_NONCE, key),
	                 SOTTO_OK);
}

static void ratchet_decrypt__weak_key__low_order_ratchet_key(void **state)
{
	static const uint8_t zero[32] = {0};
	struct pair p;
	struct msg m;
	(void)state;

	/* b's NHKr is HKJ: a header under it is a new ratchet key */
	pair_new(&p, 9);
	forge(&m, p.init.hkj, zero, 0, 0, NULL, p.init.ad);
	recv_err(p.b.r, m.bytes, m.len, SOTTO_ERR_WEAK_KEY);
	/* a's NHKr is NHKI */
	forge(&m, p.init.nhki, zero, 0, 0, NULL, p.init.ad);
	recv_err(p.a.r, m.bytes, m.len, SOTTO_ERR_WEAK_KEY);
	pair_close(&p);
}

/*
 * Under HKr (HKJ once b has received) a header must carry DHr, and its
 * number must stay below 2^32-1 (Nr would wrap). Both forgeries carry a body
 * under the right message key, so only those two rules reject them.
 */
static void ratchet_decrypt__auth__inconsistent_header(void **state)
{
	struct pair p;
	struct ratchet *b2 = NULL;
	struct msg m;
	uint8_t mk[32];
	(void)state;

	pair_open(&p, 10); /* b: Nr = 1 */
	struct state a_st = state_take(p.a.r), b_st = state_take(p.b.r);
	const uint8_t *a_pub = a_st.bytes + OFF_DHS_PUB;
	key_ahead(b_st.bytes + OFF_CKR, 0, mk);
	forge(&m, p.init.hkj, p.i2.pub, 0, 1, mk, p.init.ad); /* wrong ratchet key */
	recv_err(p.b.r, m.bytes, m.len, SOTTO_ERR_AUTH);
	forge(&m, p.init.hkj, a_pub, 0, 1, mk, p.init.ad); /* the same, honest */
	struct ratchet *b1 = NULL;
	assert_int_equal(ratchet_deserialize(p.b.ctx, b_st.bytes, b_st.len, &b1), SOTTO_OK);
	uint8_t pt[1];
	size_t len = 1;
	assert_int_equal(ratchet_decrypt(b1, m.bytes, m.len, pt, sizeof(pt), &len), SOTTO_OK);
	assert_int_equal(len, 0);
	ratchet_free(b1);

	bytes_store_be32(b_st.bytes + OFF_NR, UINT32_MAX - 1);
	assert_int_equal(ratchet_deserialize(p.b.ctx, b_st.bytes, b_st.len, &b2), SOTTO_OK);
	key_ahead(b_st.bytes + OFF_CKR, 1, mk);
	forge(&m, p.init.hkj, a_pub, 0, UINT32_MAX, mk, p.init.ad);
	recv_err(b2, m.bytes, m.len, SOTTO_ERR_AUTH);
	key_ahead(b_st.bytes + OFF_CKR, 0, mk);
	forge(&m, p.init.hkj, a_pub, 0, UINT32_MAX - 1, mk, p.init.ad); /* the last number works */
	assert_int_equal(ratchet_decrypt(b2, m.bytes, m.len, pt, sizeof(pt), &len), SOTTO_OK);
	ratchet_free(b2);
	state_free(&a_st);
	state_free(&b_st);
	pair_close(&p);
}

/* ---- bounds ---- */

static struct msg *msgs_new(size_t n)
{
	struct msg *m = calloc(n, sizeof(*m));
	assert_non_null(m);
	return m;
}

static void ratchet_decrypt__too_far_ahead__same_chain(void **state)
{
	enum { N = RATCHET_MAX_SKIP + 3 };
	struct pair p;
	struct msg *m = msgs_new(N);
	(void)state;

	pair_open(&p, 11); /* b: Nr = 1 */
	for (uint32_t i = 1; i < N; i++)
		send_msg(p.a.r, i, &m[i]);
	recv_err(p.b.r, m[RATCHET_MAX_SKIP + 2].bytes, m[RATCHET_MAX_SKIP + 2].len,
	         SOTTO_ERR_TOO_FAR_AHEAD);
	recv_ok(p.b.r, &m[RATCHET_MAX_SKIP + 1], RATCHET_MAX_SKIP + 1); /* skips exactly 512 */
	assert_int_equal(n_skipped(p.b.r), RATCHET_MAX_SKIP);
	recv_ok(p.b.r, &m[RATCHET_MAX_SKIP + 2], RATCHET_MAX_SKIP + 2);
	recv_ok(p.b.r, &m[1], 1);
	recv_ok(p.b.r, &m[RATCHET_MAX_SKIP], RATCHET_MAX_SKIP);
	assert_int_equal(n_skipped(p.b.r), RATCHET_MAX_SKIP - 2);
	free(m);
	pair_close(&p);
}

static void ratchet_decrypt__too_far_ahead__new_chain(void **state)
{
	enum { N = RATCHET_MAX_SKIP + 2 };
	struct pair p;
	struct msg *m = msgs_new(N), b0;
	(void)state;

	pair_open(&p, 12);
	send_msg(p.b.r, 1, &b0);
	recv_ok(p.a.r, &b0, 1);
	for (uint32_t i = 0; i < N; i++) /* a's second chain, n = 0..513 */
		send_msg(p.a.r, i, &m[i]);
	recv_err(p.b.r, m[RATCHET_MAX_SKIP + 1].bytes, m[RATCHET_MAX_SKIP + 1].len,
	         SOTTO_ERR_TOO_FAR_AHEAD);
	recv_ok(p.b.r, &m[RATCHET_MAX_SKIP], RATCHET_MAX_SKIP);
	assert_int_equal(n_skipped(p.b.r), RATCHET_MAX_SKIP);
	recv_ok(p.b.r, &m[RATCHET_MAX_SKIP + 1], RATCHET_MAX_SKIP + 1);
	free(m);
	pair_close(&p);
}

/* PN may run at most MAX_SKIP past the receiver's Nr in the old chain. */
static void ratchet_decrypt__too_far_ahead__previous_chain(void **state)
{
	enum { N = RATCHET_MAX_SKIP + 2 };
	struct pair p;
	struct msg *m = msgs_new(N), b0, a_next;
	(void)state;

	/* b: Nr = 1; a: n = 1..513, so PN = 514 next */
	pair_open(&p, 13);
	for (uint32_t i = 1; i < N; i++)
		send_msg(p.a.r, i, &m[i]);
	send_msg(p.b.r, 600, &b0);
	recv_ok(p.a.r, &b0, 600);
	send_msg(p.a.r, 601, &a_next);
	/* 513 to skip; after n = 1 arrives, Nr = 2 and 512 are left */
	recv_err(p.b.r, a_next.bytes, a_next.len, SOTTO_ERR_TOO_FAR_AHEAD);
	recv_ok(p.b.r, &m[1], 1);
	recv_ok(p.b.r, &a_next, 601);
	assert_int_equal(n_skipped(p.b.r), RATCHET_MAX_SKIP);
	recv_ok(p.b.r, &m[N - 1], N - 1);
	recv_ok(p.b.r, &m[2], 2);
	free(m);
	pair_close(&p);
}

/* 512 + 512 skipped keys: the 24 oldest are evicted, the rest still open. */
static void ratchet_skipped__evicts_oldest__over_skipped_max(void **state)
{
	enum { N1 = RATCHET_MAX_SKIP + 3, N2 = RATCHET_MAX_SKIP + 1 };
	enum { EVICTED = 2 * RATCHET_MAX_SKIP - RATCHET_SKIPPED_MAX };
	struct pair p;
	struct msg *c1 = msgs_new(N1), *c2 = msgs_new(N2), b0;
	(void)state;

	pair_open(&p, 14);
	for (uint32_t i = 1; i < N1; i++) /* chain 1: n = 1..514 */
		send_msg(p.a.r, i, &c1[i]);
	recv_ok(p.b.r, &c1[N1 - 2], N1 - 2); /* skips 1..512 */
	recv_ok(p.b.r, &c1[N1 - 1], N1 - 1);
	send_msg(p.b.r, 9000, &b0);
	recv_ok(p.a.r, &b0, 9000);
	for (uint32_t i = 0; i < N2; i++) /* chain 2: n = 0..512 */
		send_msg(p.a.r, 1000 + i, &c2[i]);
	recv_ok(p.b.r, &c2[N2 - 1], 1000 + N2 - 1); /* skips 0..511 */
	assert_int_equal(n_skipped(p.b.r), RATCHET_SKIPPED_MAX);
	for (uint32_t i = 1; i <= EVICTED; i++)
		recv_err(p.b.r, c1[i].bytes, c1[i].len, SOTTO_ERR_AUTH);
	recv_ok(p.b.r, &c1[EVICTED + 1], EVICTED + 1);
	recv_ok(p.b.r, &c2[0], 1000);
	recv_ok(p.b.r, &c1[RATCHET_MAX_SKIP], RATCHET_MAX_SKIP);
	assert_int_equal(n_skipped(p.b.r), RATCHET_SKIPPED_MAX - 3);
	/* a full store survives a save and a restore */
	struct ratchet *copy = NULL;
	struct state st = state_take(p.b.r);
	assert_int_equal(ratchet_deserialize(p.b.ctx, st.bytes, st.len, &copy), SOTTO_OK);
	recv_ok(copy, &c2[7], 1007);
	recv_ok(copy, &c1[100], 100);
	recv_err(copy, c1[EVICTED].bytes, c1[EVICTED].len, SOTTO_ERR_AUTH);
	ratchet_free(copy);
	state_free(&st);
	free(c1);
	free(c2);
	pair_close(&p);
}

/* ---- the skipped-key store's memory ---- */

/*
 * Decrypts m on s (whose allocations alloc counts), failing its 1st, 2nd, ...
 * allocation in turn until it succeeds. Each failure must be SOTTO_ERR_NOMEM
 * with the state, the output, the RNG and the live allocations unchanged.
 * Returns the number of failures: the allocations the decryption makes.
 */
static unsigned long recv_nomem_sweep(struct side *s, struct tu_alloc *alloc, const struct msg *m,
                                      uint32_t tag)
{
	for (unsigned long k = 1; k < 8; k++) {
		struct state before = state_take(s->r);
		struct tu_rng rng = s->rng;
		long live = alloc->n_live;
		uint8_t pt[MSG_MAX], want[PT_MAX];
		size_t len = 1;

		memset(pt, 0, sizeof(pt));
		alloc->fail_at = alloc->n_allocs + k;
		sotto_err rc = ratchet_decrypt(s->r, m->bytes, m->len, pt, sizeof(pt), &len);
		alloc->fail_at = 0;
		if (rc == SOTTO_OK) {
			assert_int_equal(len, pt_len_of(tag));
			fill(want, len, tag);
			assert_memory_equal(pt, want, len);
			state_free(&before);
			return k - 1;
		}
		assert_int_equal(rc, SOTTO_ERR_NOMEM);
		assert_int_equal(len, 0);
		assert_true(sodium_is_zero(pt, sizeof(pt)));
		assert_state_is(s->r, &before);
		assert_memory_equal(&s->rng, &rng, sizeof(rng));
		assert_int_equal(alloc->n_live, live);
		state_free(&before);
	}
	fail_msg("the decryption kept failing");
	return 0;
}

/*
 * The store is allocated for the first skipped key, grows past each capacity
 * and is freed with its last key; each decryption that makes or grows it is
 * swept with its allocation failing (SOTTO_ERR_NOMEM, nothing changed, not
 * even the RNG of a DH step), and nothing else allocates: not a read from
 * the store, not a message in order, not an eviction at the bound.
 */
static void ratchet_decrypt__nomem__store_grows(void **state)
{
	enum { N1 = 130, N2 = RATCHET_MAX_SKIP + 1 };
	enum { C2_EVICTED = 2 * RATCHET_MAX_SKIP - RATCHET_SKIPPED_MAX }; /* and all of chain 1 */
	struct tu_alloc alloc = {0, 0, 0};
	struct pair p;
	struct msg *c1 = msgs_new(N1), *c2 = msgs_new(N2), *c3 = msgs_new(N2), b0;
	(void)state;

	pair_new_counted(&p, 22, &alloc);
	long base = alloc.n_live;         /* b's context and its session */
	for (uint32_t i = 0; i < N1; i++) /* chain 1: n = 0..129 */
		send_msg(p.a.r, i, &c1[i]);
	assert_int_equal(recv_nomem_sweep(&p.b, &alloc, &c1[1], 1), 1); /* first key: n = 0 */
	assert_int_equal(alloc.n_live, base + 1);
	assert_int_equal(recv_nomem_sweep(&p.b, &alloc, &c1[2], 2), 0); /* in order */
	/* 98 more keys (3..100): past the first capacity */
	assert_int_equal(recv_nomem_sweep(&p.b, &alloc, &c1[101], 101), 1);
	assert_int_equal(alloc.n_live, base + 1);
	assert_int_equal(recv_nomem_sweep(&p.b, &alloc, &c1[0], 0), 0); /* from the store */
	assert_int_equal(n_skipped(p.b.r), 98);

	send_msg(p.b.r, 5000, &b0);
	recv_ok(p.a.r, &b0, 5000);
	for (uint32_t i = 0; i < N2; i++) /* chain 2: PN = 130, n = 0..512 */
		send_msg(p.a.r, 2000 + i, &c2[i]);
	/* a DH step storing 102..129 and 0..511: 638 keys, past the second capacity */
	assert_int_equal(recv_nomem_sweep(&p.b, &alloc, &c2[N2 - 1], 2000 + N2 - 1), 1);
	assert_int_equal(n_skipped(p.b.r), 98 + 28 + RATCHET_MAX_SKIP);

	send_msg(p.b.r, 5001, &b0);
	recv_ok(p.a.r, &b0, 5001);
	for (uint32_t i = 0; i < N2; i++) /* chain 3: PN = 513, n = 0..512 */
		send_msg(p.a.r, 3000 + i, &c3[i]);
	/* 512 more keys: 150 past the bound, evicted oldest first; no allocation */
	assert_int_equal(recv_nomem_sweep(&p.b, &alloc, &c3[N2 - 1], 3000 + N2 - 1), 0);
	assert_int_equal(n_skipped(p.b.r), RATCHET_SKIPPED_MAX);
	assert_int_equal(alloc.n_live, base + 1);

	/* chain 1 and the oldest of chain 2 were evicted; the rest drain the store */
	recv_err(p.b.r, c1[129].bytes, c1[129].len, SOTTO_ERR_AUTH);
	recv_err(p.b.r, c2[C2_EVICTED - 1].bytes, c2[C2_EVICTED - 1].len, SOTTO_ERR_AUTH);
	for (uint32_t i = C2_EVICTED; i < N2 - 1; i++)
		recv_ok(p.b.r, &c2[i], 2000 + i);
	for (uint32_t i = N2 - 1; i > 0; i--) {
		assert_int_equal(alloc.n_live, base + 1);
		recv_ok(p.b.r, &c3[i - 1], 3000 + i - 1);
	}
	assert_int_equal(n_skipped(p.b.r), 0);
	assert_int_equal(alloc.n_live, base);
	free(c1);
	free(c2);
	free(c3);
	pair_close(&p);
}

static void ratchet_encrypt__state__inviter_before_receive(void **state)
{
	struct pair p;
	uint8_t out[MSG_MAX];
	size_t len = 1;
	(void)state;

	pair_new(&p, 15);
	struct state before = state_take(p.b.r);
	assert_int_equal(ratchet_encrypt(p.b.r, (const uint8_t *)"hi", 2, out, sizeof(out), &len),
	                 SOTTO_ERR_STATE);
	assert_int_equal(len, 0);
	assert_state_is(p.b.r, &before);
	state_free(&before);
	pair_close(&p);
}

static void ratchet_encrypt__too_large__limits(void **state)
{
	struct pair p;
	uint8_t out[MSG_MAX];
	size_t len = 1;
	(void)state;

	pair_open(&p, 16);
	struct state before = state_take(p.a.r);
	assert_int_equal(ratchet_encrypt(p.a.r, out, 10, out + 10, 10 + RATCHET_OVERHEAD - 1, &len),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	assert_int_equal(ratchet_encrypt(p.a.r, out, (size_t)RATCHET_PLAINTEXT_MAX + 1, out,
	                                 sizeof(out), &len),
	                 SOTTO_ERR_TOO_LARGE);
	assert_state_is(p.a.r, &before);
	state_free(&before);
	pair_close(&p);
}

static void ratchet_encrypt__nonce_exhausted__last_number(void **state)
{
	struct pair p;
	struct ratchet *a2 = NULL;
	struct msg m;
	uint8_t out[MSG_MAX];
	size_t len = 1;
	(void)state;

	pair_open(&p, 17);
	struct state st = state_take(p.a.r);
	bytes_store_be32(st.bytes + OFF_NS, UINT32_MAX - 1);
	assert_int_equal(ratchet_deserialize(p.a.ctx, st.bytes, st.len, &a2), SOTTO_OK);
	send_msg(a2, 3, &m); /* number 2^32-2, the last one */
	struct state before = state_take(a2);
	assert_int_equal(ratchet_encrypt(a2, NULL, 0, out, sizeof(out), &len),
	                 SOTTO_ERR_NONCE_EXHAUSTED);
	assert_int_equal(len, 0);
	assert_state_is(a2, &before);
	state_free(&before);
	ratchet_free(a2);
	state_free(&st);
	pair_close(&p);
}

/* ---- saved state ---- */

static void check_round_trip(struct side *s, struct ratchet *r)
{
	struct state st = state_take(r);
	struct ratchet *copy = NULL;

	assert_int_equal(ratchet_deserialize(s->ctx, st.bytes, st.len, &copy), SOTTO_OK);
	assert_state_is(copy, &st);
	assert_memory_equal(ratchet_ad(copy), ratchet_ad(r), PROTO_AD_LEN);
	ratchet_free(copy);
	state_free(&st);
}

static void ratchet_serialize__identical__round_trip(void **state)
{
	struct pair p;
	struct msg m[6], b0;
	(void)state;

	pair_new(&p, 18);
	check_round_trip(&p.a, p.a.r); /* joiner's first state */
	check_round_trip(&p.b, p.b.r); /* inviter's first state */
	assert_int_equal(ratchet_serialized_len(p.b.r), RATCHET_STATE_BASE_LEN);
	send_msg(p.a.r, 0, &m[0]);
	recv_ok(p.b.r, &m[0], 0);
	for (uint32_t i = 1; i < 6; i++)
		send_msg(p.a.r, i, &m[i]);
	recv_ok(p.b.r, &m[4], 4);
	check_round_trip(&p.b, p.b.r);

	/* the restored copy replaces the original and keeps working */
	struct state st = state_take(p.b.r);
	ratchet_free(p.b.r);
	p.b.r = NULL;
	assert_int_equal(ratchet_deserialize(p.b.ctx, st.bytes, st.len, &p.b.r), SOTTO_OK);
	state_free(&st);
	recv_ok(p.b.r, &m[2], 2);
	send_msg(p.b.r, 7, &b0);
	recv_ok(p.a.r, &b0, 7);
	send_msg(p.a.r, 8, &m[0]);
	recv_ok(p.b.r, &m[0], 8);
	recv_ok(p.b.r, &m[1], 1);
	recv_ok(p.b.r, &m[5], 5);
	recv_ok(p.b.r, &m[3], 3);
	assert_int_equal(n_skipped(p.b.r), 0);
	pair_close(&p);
}

static void ratchet_serialize__too_large__small_buffer(void **state)
{
	struct pair p;
	uint8_t out[RATCHET_STATE_BASE_LEN];
	size_t len = 1;
	(void)state;

	pair_new(&p, 19);
	memset(out, 0xaa, sizeof(out));
	assert_int_equal(ratchet_serialize(p.a.r, out, sizeof(out) - 1, &len), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0xaa);
	pair_close(&p);
}

/* bytes must be refused with SOTTO_ERR_CORRUPT, allocating nothing that survives. */
static void expect_corrupt(const uint8_t *bytes, size_t len)
{
	struct tu_alloc alloc = {0, 0, 0};
	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	long live = alloc.n_live;
	struct ratchet *r = (struct ratchet *)&alloc; /* must be reset to NULL */

	assert_int_equal(ratchet_deserialize(ctx, bytes, len, &r), SOTTO_ERR_CORRUPT);
	assert_null(r);
	assert_int_equal(alloc.n_live, live);
	sotto_ctx_free(ctx);
}

/* A copy of st with byte off xor x. */
static void expect_corrupt_flip(const struct state *st, size_t off, uint8_t x)
{
	uint8_t *b = malloc(st->len);

	assert_non_null(b);
	memcpy(b, st->bytes, st->len);
	b[off] ^= x;
	expect_corrupt(b, st->len);
	free(b);
}

/* The three kinds of state: inviter's first, joiner's first, full with one skipped key. */
static void corrupt_states(struct pair *p, struct state *inviter, struct state *joiner,
                           struct state *full)
{
	struct msg m[3];

	pair_new(p, 20);
	*inviter = state_take(p->b.r);
	*joiner = state_take(p->a.r);
	send_msg(p->a.r, 0, &m[0]);
	recv_ok(p->b.r, &m[0], 0);
	send_msg(p->a.r, 1, &m[1]);
	send_msg(p->a.r, 2, &m[2]);
	recv_ok(p->b.r, &m[2], 2);
	*full = state_take(p->b.r);
	assert_int_equal(full->len, RATCHET_STATE_BASE_LEN + RATCHET_SKIPPED_ENTRY_LEN);
}

static void ratchet_deserialize__corrupt__each_field(void **state)
{
	static const size_t absent[] = {OFF_DHR, OFF_CKS, OFF_CKR, OFF_HKS, OFF_HKR};
	struct pair p;
	struct state inviter, joiner, full;
	(void)state;

	corrupt_states(&p, &inviter, &joiner, &full);
	expect_corrupt_flip(&full, 0, 0x01 ^ 0x02); /* version 2 */
	expect_corrupt_flip(&full, 0, 0x01);        /* version 0 */
	for (unsigned bit = 5; bit < 8; bit++)      /* unknown flag bits */
		expect_corrupt_flip(&full, OFF_FLAGS, (uint8_t)(1u << bit));
	expect_corrupt_flip(&joiner, OFF_FLAGS, 0x04);  /* CKr without HKr */
	expect_corrupt_flip(&inviter, OFF_FLAGS, 0x01); /* DHr alone */
	/* a field whose flag is clear must be zero */
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(absent); i++)
		expect_corrupt_flip(&inviter, absent[i] + 31, 0x80);
	expect_corrupt_flip(&joiner, OFF_CKR, 0x01);
	expect_corrupt_flip(&joiner, OFF_HKR + 5, 0x10);
	/* counters of absent chains */
	expect_corrupt_flip(&inviter, OFF_NS + 3, 0x01);
	expect_corrupt_flip(&inviter, OFF_PN, 0x01);
	expect_corrupt_flip(&joiner, OFF_NR + 3, 0x01);
	/* DHs public key that does not match the private key */
	expect_corrupt_flip(&full, OFF_DHS_PUB + 7, 0x04);
	expect_corrupt_flip(&joiner, OFF_DHS_PUB, 0x01);
	state_free(&inviter);
	state_free(&joiner);
	state_free(&full);
	pair_close(&p);
}

static void ratchet_deserialize__corrupt__lengths_and_counts(void **state)
{
	struct pair p;
	struct state inviter, joiner, full;
	(void)state;

	corrupt_states(&p, &inviter, &joiner, &full);
	/* S that disagrees with the length, or is over the bound */
	expect_corrupt_flip(&full, OFF_S + 1, 0x01 ^ 0x02); /* S = 2 */
	expect_corrupt_flip(&full, OFF_S + 1, 0x01);        /* S = 0 */
	uint8_t *big = calloc(1, RATCHET_STATE_MAX + RATCHET_SKIPPED_ENTRY_LEN);
	assert_non_null(big);
	memcpy(big, full.bytes, RATCHET_STATE_BASE_LEN);
	bytes_store_be16(big + OFF_S, RATCHET_SKIPPED_MAX + 1);
	expect_corrupt(big, RATCHET_STATE_MAX + RATCHET_SKIPPED_ENTRY_LEN);
	expect_corrupt(big, RATCHET_STATE_BASE_LEN);
	/* every truncation, and a trailing byte */
	for (size_t len = 0; len < full.len; len++)
		expect_corrupt(full.bytes, len);
	memcpy(big, full.bytes, full.len);
	big[full.len] = 0;
	expect_corrupt(big, full.len + 1);
	/* a state with no receiving chain has no skipped keys */
	memcpy(big, joiner.bytes, RATCHET_STATE_BASE_LEN);
	memcpy(big + RATCHET_STATE_BASE_LEN, full.bytes + RATCHET_STATE_BASE_LEN,
	       RATCHET_SKIPPED_ENTRY_LEN);
	bytes_store_be16(big + OFF_S, 1);
	expect_corrupt(big, full.len);
	free(big);
	state_free(&inviter);
	state_free(&joiner);
	state_free(&full);
	pair_close(&p);
}

/*
 * Loads st failing the 1st, 2nd, ... allocation in turn until it loads: no
 * ratchet and no leak on SOTTO_ERR_NOMEM. Returns the number of failures:
 * the allocations a loaded ratchet holds.
 */
static unsigned long deserialize_nomem_sweep(const struct state *st)
{
	struct tu_alloc alloc = {0, 0, 0};
	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	long live = alloc.n_live;
	unsigned long n_failed = 0;

	for (unsigned long k = 1; k < 16; k++) {
		struct ratchet *r = (struct ratchet *)&alloc; /* must be reset */
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc = ratchet_deserialize(ctx, st->bytes, st->len, &r);
		alloc.fail_at = 0;
		if (rc == SOTTO_OK) {
			assert_non_null(r);
			assert_int_equal(alloc.n_live, live + (long)n_failed);
			assert_state_is(r, st);
			ratchet_free(r);
			assert_int_equal(alloc.n_live, live);
			sotto_ctx_free(ctx);
			return n_failed;
		}
		assert_int_equal(rc, SOTTO_ERR_NOMEM);
		assert_null(r);
		assert_int_equal(alloc.n_live, live);
		n_failed++;
	}
	fail_msg("the state never loaded");
	return 0;
}

/* A session without skipped keys is one allocation; one with keys, two. */
static void ratchet_deserialize__nomem__allocation_sweep(void **state)
{
	struct pair p;
	struct msg m[3];
	(void)state;

	pair_open(&p, 21);
	struct state st = state_take(p.b.r);
	assert_int_equal(deserialize_nomem_sweep(&st), 1);
	state_free(&st);
	for (uint32_t i = 0; i < 3; i++)
		send_msg(p.a.r, 1 + i, &m[i]);
	recv_ok(p.b.r, &m[2], 3);
	st = state_take(p.b.r);
	assert_int_equal(n_skipped(p.b.r), 2);
	assert_int_equal(deserialize_nomem_sweep(&st), 2);
	state_free(&st);
	pair_close(&p);
}

/* A state that must load, and serialise back to the same bytes. */
static void expect_loads(const uint8_t *bytes, size_t len)
{
	struct ratchet *r = NULL;
	sotto_ctx *ctx = tu_ctx(NULL, NULL, NULL);

	assert_int_equal(ratchet_deserialize(ctx, bytes, len, &r), SOTTO_OK);
	struct state now = state_take(r);
	assert_int_equal(now.len, len);
	assert_memory_equal(now.bytes, bytes, len);
	state_free(&now);
	ratchet_free(r);
	sotto_ctx_free(ctx);
}

/*
 * The keys of one chain must be stored in strictly ascending n, those of the
 * receiving chain below Nr, and none under NHKr (the chain not yet begun);
 * numbers may fall from one chain to the next.
 */
static void ratchet_deserialize__corrupt__skipped_order(void **state)
{
	enum { E = RATCHET_SKIPPED_ENTRY_LEN, N_OFF = OFF_SKIPPED + OFF_ENTRY_N };
	struct pair p;
	struct msg m[4];
	uint8_t entry[RATCHET_SKIPPED_ENTRY_LEN];
	(void)state;

	pair_open(&p, 23); /* b: Nr = 1 */
	for (uint32_t i = 0; i < 4; i++)
		send_msg(p.a.r, 1 + i, &m[i]);
	recv_ok(p.b.r, &m[3], 4); /* stores n = 1, 2, 3 under HKr; Nr = 5 */
	struct state st = state_take(p.b.r);
	assert_int_equal(st.len, RATCHET_STATE_BASE_LEN + 3 * E);
	assert_int_equal(bytes_load_be32(st.bytes + N_OFF + 2 * E), 3);
	uint8_t *b = malloc(st.len);
	assert_non_null(b);
	expect_loads(st.bytes, st.len);

	/* entries 0 and 1 swapped: 2, 1, 3 */
	memcpy(b, st.bytes, st.len);
	memcpy(entry, b + OFF_SKIPPED, E);
	memcpy(b + OFF_SKIPPED, b + OFF_SKIPPED + E, E);
	memcpy(b + OFF_SKIPPED + E, entry, E);
	expect_corrupt(b, st.len);
	/* a number stored twice: 1, 1, 3 */
	memcpy(b, st.bytes, st.len);
	bytes_store_be32(b + N_OFF + E, 1);
	expect_corrupt(b, st.len);
	/* the receiving chain's last key at Nr (1, 2, 5), then below it (1, 2, 4) */
	memcpy(b, st.bytes, st.len);
	bytes_store_be32(b + N_OFF + 2 * E, 5);
	expect_corrupt(b, st.len);
	bytes_store_be32(b + N_OFF + 2 * E, 4);
	expect_loads(b, st.len);
	/* the oldest key of another chain, numbered above the rest: fine */
	memcpy(b, st.bytes, st.len);
	randombytes_buf(b + OFF_SKIPPED, PROTO_KEY_LEN);
	bytes_store_be32(b + N_OFF, 1000);
	expect_loads(b, st.len);
	/* ... unless that chain's header key is NHKr */
	memcpy(b + OFF_SKIPPED, b + OFF_NHKR, PROTO_KEY_LEN);
	expect_corrupt(b, st.len);
	free(b);
	state_free(&st);
	pair_close(&p);
}

/* A failed allocation while a session is made: no state, no leak. */
static void ratchet_new__nomem__allocation_sweep(void **state)
{
	struct tu_alloc alloc = {0, 0, 0};
	struct ratchet_init init;
	struct x25519_keypair i2;
	(void)state;

	sotto_ctx *ctx = tu_ctx(&alloc, NULL, NULL);
	long live = alloc.n_live;
	randombytes_buf(&init, sizeof(init));
	x25519_keypair_generate(ctx, &i2);
	for (int side = 0; side < 2; side++) {
		struct ratchet *r = (struct ratchet *)&alloc;
		alloc.fail_at = alloc.n_allocs + 1;
		sotto_err rc = side == 0 ? ratchet_new_joiner(ctx, &init, i2.pub, &r)
		                         : ratchet_new_inviter(ctx, &init, &i2, &r);
		assert_int_equal(rc, SOTTO_ERR_NOMEM);
		assert_null(r);
		assert_int_equal(alloc.n_live, live);
	}
	alloc.fail_at = 0;
	sotto_ctx_free(ctx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ratchet_message_len__adds_overhead__any_length),
	        cmocka_unit_test(ratchet_decrypt__ok__many_direction_changes),
	        cmocka_unit_test(ratchet_decrypt__ok__out_of_order_within_chain),
	        cmocka_unit_test(ratchet_decrypt__ok__out_of_order_across_chains),
	        cmocka_unit_test(ratchet_decrypt__auth__replays),
	        cmocka_unit_test(ratchet_encrypt_finish__identical__again_and_in_any_order),
	        cmocka_unit_test(ratchet_decrypt__auth__tampered_or_truncated),
	        cmocka_unit_test(ratchet_decrypt__auth__other_session),
	        cmocka_unit_test(ratchet_decrypt__too_large__small_output),
	        cmocka_unit_test(ratchet_decrypt__weak_key__low_order_ratchet_key),
	        cmocka_unit_test(ratchet_decrypt__auth__inconsistent_header),
	        cmocka_unit_test(ratchet_decrypt__too_far_ahead__same_chain),
	        cmocka_unit_test(ratchet_decrypt__too_far_ahead__new_chain),
	        cmocka_unit_test(ratchet_decrypt__too_far_ahead__previous_chain),
	        cmocka_unit_test(ratchet_skipped__evicts_oldest__over_skipped_max),
	        cmocka_unit_test(ratchet_decrypt__nomem__store_grows),
	        cmocka_unit_test(ratchet_encrypt__state__inviter_before_receive),
	        cmocka_unit_test(ratchet_encrypt__too_large__limits),
	        cmocka_unit_test(ratchet_encrypt__nonce_exhausted__last_number),
	        cmocka_unit_test(ratchet_serialize__identical__round_trip),
	        cmocka_unit_test(ratchet_serialize__too_large__small_buffer),
	        cmocka_unit_test(ratchet_deserialize__corrupt__each_field),
	        cmocka_unit_test(ratchet_deserialize__corrupt__lengths_and_counts),
	        cmocka_unit_test(ratchet_deserialize__corrupt__skipped_order),
	        cmocka_unit_test(ratchet_deserialize__nomem__allocation_sweep),
	        cmocka_unit_test(ratchet_new__nomem__allocation_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
