/* SPDX-License-Identifier: MIT */
/*
 * security_test.c - the security properties of an end-to-end session
 * (docs/protocol.md chapter 3), each checked through the public API only:
 *
 * - forward secrecy: a copy of a receiver's state made after it read
 *   messages reads none of them again;
 * - post-compromise security: an attacker holding a full copy of one side's
 *   state reads what follows until one round trip brings fresh ratchet keys,
 *   and nothing after it;
 * - hostile input: every truncation and single-bit flip of the hello with its
 *   first message, and of ratchet messages in each receive path (same chain,
 *   new chain, skipped key), is rejected with its specific error and changes
 *   nothing;
 * - unlinkability: each invitation and each join has its own keys, sessions
 *   have their own AD and security code, and a man in the middle shows up as
 *   two different security codes;
 * - one hello per invitation, also across a restart of the inviter.
 */
#include <sodium.h>

#include "e2e_testlib.h"

/* Offsets of the keys in an invitation (§3.2), a hello (§3.3) and an inviter state. */
enum {
	INV_KEY1_OFF = 5,
	INV_KEY2_OFF = 37,
	HELLO_KEY1_OFF = 3,
	HELLO_KEY2_OFF = 35,
	HELLO_KEM_TYPE_OFF = 67,
	HELLO_KEM_LEN_OFF = 68,
	INVST_USED_OFF = 1,
	INVST_KEYS_OFF = 2,
};

static const uint8_t first_pt[] = "first message, carried with the hello";

/* Sends pt (tagged tag, len bytes) from r into m. */
static void send_tagged(struct ratchet *r, uint32_t tag, size_t len, struct e2e_msg *m,
                        uint8_t pt[E2E_PT_MAX])
{
	e2e_fill(pt, len, tag);
	e2e_send(r, pt, len, m);
}

/* ---- forward secrecy ---- */

struct fs_log {
	struct e2e_msg m[16];
	unsigned n;
};

/* inviter -> joiner, read at once. */
static void fs_push(struct e2e_pair *p, struct fs_log *log, bool deliver)
{
	uint8_t pt[E2E_PT_MAX];
	struct e2e_msg *m = &log->m[log->n];

	send_tagged(p->inviter.r, 100 + log->n, 20 + log->n, m, pt);
	if (deliver)
		e2e_recv_ok(p->joiner.r, m, pt, 20 + log->n);
	log->n++;
}

/* joiner -> inviter, read at once: the inviter's next message starts a new chain. */
static void fs_reply(struct e2e_pair *p, struct e2e_msg *m, uint32_t tag)
{
	uint8_t pt[E2E_PT_MAX];
	send_tagged(p->joiner.r, tag, 9, m, pt);
	e2e_recv_ok(p->inviter.r, m, pt, 9);
}

static void ratchet_decrypt__auth__copy_made_after_reading_old_messages(void **state)
{
	struct e2e_pair p;
	struct fs_log to_joiner = {0};
	struct e2e_msg to_inviter[4];
	uint8_t pt[E2E_PT_MAX];
	(void)state;

	e2e_pair_open(&p, 101, 102, first_pt, sizeof(first_pt));
	/* Three chains of three messages each, read in order; a reply between chains. */
	for (unsigned c = 0; c < 3; c++) {
		for (unsigned i = 0; i < 3; i++)
			fs_push(&p, &to_joiner, true);
		fs_reply(&p, &to_inviter[c], 200 + c);
	}
	/* Then two read out of order: the later one stores a skipped key for the earlier. */
	fs_push(&p, &to_joiner, false);
	fs_push(&p, &to_joiner, false);
	e2e_fill(pt, 20 + 10, 100 + 10);
	e2e_recv_ok(p.joiner.r, &to_joiner.m[10], pt, 20 + 10);
	e2e_fill(pt, 20 + 9, 100 + 9);
	e2e_recv_ok(p.joiner.r, &to_joiner.m[9], pt, 20 + 9);

	struct ratchet *joiner_copy = e2e_copy(p.joiner.ctx, p.joiner.r);
	struct ratchet *inviter_copy = e2e_copy(p.inviter.ctx, p.inviter.r);
	assert_int_equal(ratchet_serialized_len(joiner_copy), RATCHET_STATE_BASE_LEN);
	for (unsigned i = 0; i < to_joiner.n; i++)
		assert_int_equal(
		        e2e_recv_err(joiner_copy, to_joiner.m[i].bytes, to_joiner.m[i].len),
		        SOTTO_ERR_AUTH);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(e2e_recv_err(inviter_copy, to_inviter[i].bytes, to_inviter[i].len),
		                 SOTTO_ERR_AUTH);
	assert_int_equal(
	        e2e_recv_err(inviter_copy, p.first.bytes + p.hello_len, p.first.len - p.hello_len),
	        SOTTO_ERR_AUTH);
	/* The copies are live sessions all the same: they read what comes next. */
	struct e2e_msg next;
	send_tagged(p.inviter.r, 300, 12, &next, pt);
	e2e_recv_ok(joiner_copy, &next, pt, 12);
	ratchet_free(joiner_copy);
	ratchet_free(inviter_copy);
	e2e_pair_close(&p);
}

/* ---- post-compromise security ---- */

struct pcs_wire {
	struct e2e_msg m;
	bool to_joiner;
	uint8_t pt[E2E_PT_MAX];
	size_t pt_len;
};

/* Sends one message on the wire and lets its recipient read it. */
static void pcs_say(struct e2e_pair *p, struct pcs_wire *w, bool to_joiner, uint32_t tag)
{
	w->to_joiner = to_joiner;
	w->pt_len = 16 + tag % 32;
	send_tagged(to_joiner ? p->inviter.r : p->joiner.r, tag, w->pt_len, &w->m, w->pt);
	e2e_recv_ok(to_joiner ? p->joiner.r : p->inviter.r, &w->m, w->pt, w->pt_len);
}

/* Tries w with one of the attacker's sessions; a success must read the real plaintext. */
static sotto_err pcs_attacker_reads(struct ratchet *attacker, const struct pcs_wire *w)
{
	uint8_t out[E2E_MSG_MAX];
	size_t n = 0;
	sotto_err rc = ratchet_decrypt(attacker, w->m.bytes, w->m.len, out, sizeof(out), &n);
	if (rc == SOTTO_OK) {
		assert_int_equal(n, w->pt_len);
		assert_memory_equal(out, w->pt, n);
	}
	return rc;
}

/* Swaps two 32-byte fields of a serialised state. */
static void swap_field(uint8_t *st, size_t a, size_t b)
{
	uint8_t t[PROTO_KEY_LEN];
	memcpy(t, st + a, sizeof(t));
	memcpy(st + a, st + b, sizeof(t));
	memcpy(st + b, t, sizeof(t));
}

/*
 * The stolen state turned around (§3.7 layout): its sending chain and header
 * keys become receiving ones, so the attacker also reads what the victim
 * sends on the chains it held at the time of the theft.
 */
static struct ratchet *pcs_mirror(sotto_ctx *ctx, const struct ratchet *victim)
{
	struct e2e_state st = e2e_state_take(victim);
	struct ratchet *r = NULL;
	uint8_t f = st.bytes[1], ns[4];

	st.bytes[1] = (uint8_t)(0x01 | ((f & 0x02) << 1) | ((f & 0x04) >> 1) | ((f & 0x08) << 1) |
	                        ((f & 0x10) >> 1));
	memcpy(st.bytes + 66, st.bytes + 34, PROTO_KEY_LEN); /* DHr = the victim's own DHs.pub */
	swap_field(st.bytes, 130, 162);                      /* CKs <-> CKr */
	swap_field(st.bytes, 194, 226);                      /* HKs <-> HKr */
	swap_field(st.bytes, 258, 290);                      /* NHKs <-> NHKr */
	memcpy(ns, st.bytes + 322, 4);                       /* Ns <-> Nr */
	memcpy(st.bytes + 322, st.bytes + 326, 4);
	memcpy(st.bytes + 326, ns, 4);
	st.bytes[398] = st.bytes[399] = 0; /* no skipped keys */
	assert_int_equal(ratchet_deserialize(ctx, st.bytes, RATCHET_STATE_BASE_LEN, &r), SOTTO_OK);
	e2e_state_free(&st);
	return r;
}

/*
 * The attacker steals the joiner's whole state at time t and keeps two
 * sessions made from it: the copy (reads what the inviter sends) and its
 * mirror (reads what the joiner sends). It has its own context and RNG: the
 * joiner's later random keys are what it cannot know.
 */
static void ratchet_decrypt__auth__stolen_state_after_one_round_trip(void **state)
{
	struct e2e_pair p;
	struct e2e_side attacker;
	struct ratchet *mirror = NULL;
	struct pcs_wire w[12];
	unsigned n = 0;
	(void)state;

	e2e_pair_open(&p, 111, 112, first_pt, sizeof(first_pt));
	pcs_say(&p, &w[n++], true, 1);
	pcs_say(&p, &w[n++], false, 2);
	e2e_side_init(&attacker, 0xa77ac4e5);
	attacker.r = e2e_copy(attacker.ctx, p.joiner.r);
	mirror = pcs_mirror(attacker.ctx, p.joiner.r);
	/* Compromised: the joiner's next message on its chain and the inviter's next chain. */
	pcs_say(&p, &w[n++], false, 3);
	pcs_say(&p, &w[n++], true, 4);
	pcs_say(&p, &w[n++], true, 5);
	assert_int_equal(pcs_attacker_reads(mirror, &w[2]), SOTTO_OK);
	assert_int_equal(pcs_attacker_reads(attacker.r, &w[3]), SOTTO_OK);
	assert_int_equal(pcs_attacker_reads(attacker.r, &w[4]), SOTTO_OK);
	/* The round trip: the joiner sends with a fresh ratchet key, the inviter replies. */
	unsigned healed = n;
	pcs_say(&p, &w[n++], false, 6);
	pcs_say(&p, &w[n++], true, 7);
	/* Both sides go on talking, in both directions and across more DH steps. */
	pcs_say(&p, &w[n++], true, 8);
	pcs_say(&p, &w[n++], false, 9);
	pcs_say(&p, &w[n++], false, 10);
	pcs_say(&p, &w[n++], true, 11);
	pcs_say(&p, &w[n++], false, 12);
	/* Fed everything it sees, in order, neither attacker session reads any of it. */
	for (unsigned i = healed; i < n; i++) {
		assert_int_equal(e2e_recv_err(attacker.r, w[i].m.bytes, w[i].m.len),
		                 SOTTO_ERR_AUTH);
		assert_int_equal(e2e_recv_err(mirror, w[i].m.bytes, w[i].m.len), SOTTO_ERR_AUTH);
	}
	ratchet_free(mirror);
	e2e_side_clear(&attacker);
	e2e_pair_close(&p);
}

/* ---- hostile hello and first message ---- */

/* A fresh copy of the pending inviter the pair was made from. */
static struct handshake_inviter *inviter_copy(const struct e2e_pair *p)
{
	struct handshake_inviter *inv = NULL;
	assert_int_equal(handshake_inviter_deserialize(p->inviter.ctx, p->inviter_state,
	                                               sizeof(p->inviter_state), &inv),
	                 SOTTO_OK);
	return inv;
}

static bool inviter_is(const struct handshake_inviter *inv, const uint8_t *st, size_t len)
{
	uint8_t now[E2E_INVITER_STATE_LEN + 8];
	size_t n = 0;
	assert_int_equal(handshake_inviter_serialize(inv, now, sizeof(now), &n), SOTTO_OK);
	return n == len && memcmp(now, st, len) == 0;
}

/* handshake_accept on a fresh inviter copy; on failure checks that nothing changed. */
static sotto_err accept_copy(const struct e2e_pair *p, const uint8_t *msg, size_t len)
{
	struct handshake_inviter *inv = inviter_copy(p);
	struct ratchet *r = NULL;
	uint8_t pt[E2E_WIRE_MAX] = {0};
	size_t pt_len = 1;
	sotto_err rc = handshake_accept(inv, msg, len, pt, sizeof(pt), &pt_len, &r);

	if (rc != SOTTO_OK) {
		assert_null(r);
		assert_int_equal(pt_len, 0);
		assert_true(e2e_all_zero(pt, sizeof(pt)));
		assert_true(inviter_is(inv, p->inviter_state, sizeof(p->inviter_state)));
	}
	ratchet_free(r);
	handshake_inviter_free(inv);
	return rc;
}

/* The error a hello+message cut to len bytes must give. */
static bool truncation_error_ok(size_t len, sotto_err rc)
{
	if (len < PROTO_HELLO_V1_LEN)
		return rc == SOTTO_ERR_TRUNCATED;
	if (len < PROTO_HELLO_V1_LEN + RATCHET_OVERHEAD) /* the ratchet message is cut short */
		return rc == SOTTO_ERR_TRUNCATED || rc == SOTTO_ERR_AUTH;
	return rc == SOTTO_ERR_AUTH;
}

/* The error a hello+message with bit `bit` flipped must give. */
static bool flip_error_ok(const uint8_t *msg, size_t len, size_t bit, sotto_err rc)
{
	size_t byte = bit / 8;

	if (byte < HELLO_KEY1_OFF ||
	    byte == HELLO_KEM_TYPE_OFF) /* type, agreed version, KEM type */
		return rc == SOTTO_ERR_PROTOCOL;
	if (byte < HELLO_KEM_TYPE_OFF) /* J1, J2: other keys, so another AD and other DHs */
		return rc == SOTTO_ERR_AUTH;
	if (byte < PROTO_HELLO_V1_LEN) {
		/* KEM length C must be 0 with KEM type 0; past the input it may read as cut short.
		 */
		size_t c = ((size_t)msg[HELLO_KEM_LEN_OFF] << 8) | msg[HELLO_KEM_LEN_OFF + 1];
		if (c > len - PROTO_HELLO_V1_LEN)
			return rc == SOTTO_ERR_PROTOCOL || rc == SOTTO_ERR_TRUNCATED;
		return rc == SOTTO_ERR_PROTOCOL;
	}
	return rc == SOTTO_ERR_AUTH;
}

static void handshake_accept__rejects__every_truncation_and_bit_flip(void **state)
{
	struct e2e_pair p;
	uint8_t m[E2E_WIRE_MAX];
	(void)state;

	e2e_pair_open(&p, 121, 122, first_pt, sizeof(first_pt));
	for (size_t len = 0; len < p.first.len; len++) {
		sotto_err rc = accept_copy(&p, p.first.bytes, len);
		if (!truncation_error_ok(len, rc))
			fail_msg("hello cut to %zu bytes: %s", len, sotto_strerror(rc));
	}
	for (size_t bit = 0; bit < 8 * p.first.len; bit++) {
		memcpy(m, p.first.bytes, p.first.len);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		sotto_err rc = accept_copy(&p, m, p.first.len);
		if (!flip_error_ok(m, p.first.len, bit, rc))
			fail_msg("hello bit %zu flipped: %s", bit, sotto_strerror(rc));
	}
	/* One trailing byte is a tampered ratchet message too. */
	memcpy(m, p.first.bytes, p.first.len);
	m[p.first.len] = 0;
	assert_int_equal(accept_copy(&p, m, p.first.len + 1), SOTTO_ERR_AUTH);
	/* After all that, an untouched copy still accepts the real hello. */
	assert_int_equal(accept_copy(&p, p.first.bytes, p.first.len), SOTTO_OK);
	e2e_pair_close(&p);
}

static void handshake_accept__used__hello_replayed_even_after_restart(void **state)
{
	struct e2e_pair p, other;
	struct handshake_inviter *inv = NULL, *restored = NULL;
	struct ratchet *r = NULL;
	uint8_t pt[E2E_WIRE_MAX], st[E2E_INVITER_STATE_LEN + 8];
	size_t n = 0, st_len = 0;
	(void)state;

	e2e_pair_open(&p, 131, 132, first_pt, sizeof(first_pt));
	e2e_pair_open(&other, 133, 134, first_pt, sizeof(first_pt));
	inv = inviter_copy(&p);
	assert_int_equal(handshake_accept(inv, p.first.bytes, p.first.len, pt, sizeof(pt), &n, &r),
	                 SOTTO_OK);
	ratchet_free(r);
	r = NULL;
	assert_int_equal(handshake_accept(inv, p.first.bytes, p.first.len, pt, sizeof(pt), &n, &r),
	                 SOTTO_ERR_USED);
	assert_null(r);
	assert_int_equal(
	        handshake_accept(inv, other.first.bytes, other.first.len, pt, sizeof(pt), &n, &r),
	        SOTTO_ERR_USED);
	/* The spent state holds no key, and a restored copy refuses the hello too. */
	assert_int_equal(handshake_inviter_serialize(inv, st, sizeof(st), &st_len), SOTTO_OK);
	assert_int_equal(st_len, E2E_INVITER_STATE_LEN);
	assert_int_equal(st[INVST_USED_OFF], 1);
	assert_true(e2e_all_zero(st + INVST_KEYS_OFF, 2 * PROTO_KEY_LEN));
	assert_int_equal(handshake_inviter_deserialize(p.inviter.ctx, st, st_len, &restored),
	                 SOTTO_OK);
	assert_int_equal(
	        handshake_accept(restored, p.first.bytes, p.first.len, pt, sizeof(pt), &n, &r),
	        SOTTO_ERR_USED);
	assert_null(r);
	handshake_inviter_free(restored);
	handshake_inviter_free(inv);
	e2e_pair_close(&other);
	e2e_pair_close(&p);
}

/* A hello meant for another invitation does not open: wrong keys, wrong AD. */
static void handshake_accept__auth__hello_for_another_invitation(void **state)
{
	struct e2e_pair p, other;
	(void)state;

	e2e_pair_open(&p, 141, 142, first_pt, sizeof(first_pt));
	e2e_pair_open(&other, 143, 144, first_pt, sizeof(first_pt));
	assert_int_equal(accept_copy(&p, other.first.bytes, other.first.len), SOTTO_ERR_AUTH);
	/* The same keys with the other session's ratchet message: the AD differs. */
	uint8_t m[E2E_WIRE_MAX];
	memcpy(m, p.first.bytes, p.hello_len);
	memcpy(m + p.hello_len, other.first.bytes + other.hello_len,
	       other.first.len - other.hello_len);
	assert_int_equal(accept_copy(&p, m, p.hello_len + other.first.len - other.hello_len),
	                 SOTTO_ERR_AUTH);
	e2e_pair_close(&other);
	e2e_pair_close(&p);
}

/* ---- hostile ratchet messages ---- */

/* Every truncation, every bit flip and one extension of m: AUTH, state unchanged. */
static void reject_all_mutations(struct ratchet *r, const struct e2e_msg *m)
{
	uint8_t b[E2E_MSG_MAX + 1];

	for (size_t len = 0; len < m->len; len++) {
		sotto_err rc = e2e_recv_err(r, m->bytes, len);
		if (rc != SOTTO_ERR_AUTH)
			fail_msg("message cut to %zu bytes: %s", len, sotto_strerror(rc));
	}
	for (size_t bit = 0; bit < 8 * m->len; bit++) {
		memcpy(b, m->bytes, m->len);
		b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		sotto_err rc = e2e_recv_err(r, b, m->len);
		if (rc != SOTTO_ERR_AUTH)
			fail_msg("message bit %zu flipped: %s", bit, sotto_strerror(rc));
	}
	memcpy(b, m->bytes, m->len);
	b[m->len] = 0;
	assert_int_equal(e2e_recv_err(r, b, m->len + 1), SOTTO_ERR_AUTH);
}

static void ratchet_decrypt__rejects__every_truncation_and_bit_flip(void **state)
{
	struct e2e_pair p;
	struct e2e_msg x[4];
	uint8_t pt[4][E2E_PT_MAX];
	(void)state;

	e2e_pair_open(&p, 151, 152, first_pt, sizeof(first_pt));
	for (unsigned i = 0; i < 4; i++)
		send_tagged(p.inviter.r, 10 + i, 13 * i, &x[i], pt[i]);
	/* x[1]: the first message of a new chain (header under NHKr, a DH step). */
	reject_all_mutations(p.joiner.r, &x[1]);
	e2e_recv_ok(p.joiner.r, &x[1], pt[1], 13);
	/* x[3]: the same chain (header under HKr), skipping x[2]. */
	reject_all_mutations(p.joiner.r, &x[3]);
	e2e_recv_ok(p.joiner.r, &x[3], pt[3], 39);
	/* x[0] and x[2]: skipped keys. */
	reject_all_mutations(p.joiner.r, &x[0]);
	reject_all_mutations(p.joiner.r, &x[2]);
	e2e_recv_ok(p.joiner.r, &x[2], pt[2], 26);
	e2e_recv_ok(p.joiner.r, &x[0], pt[0], 0);
	/* The joiner's messages to the inviter, same and new chain. */
	struct e2e_msg y[2];
	send_tagged(p.joiner.r, 20, 1, &y[0], pt[0]);
	reject_all_mutations(p.inviter.r, &y[0]);
	e2e_recv_ok(p.inviter.r, &y[0], pt[0], 1);
	send_tagged(p.joiner.r, 21, E2E_PT_MAX, &y[1], pt[1]);
	reject_all_mutations(p.inviter.r, &y[1]);
	e2e_recv_ok(p.inviter.r, &y[1], pt[1], E2E_PT_MAX);
	e2e_pair_close(&p);
}

/*
 * A message whose header is authentic (sealed under a header key read from
 * the receiver's own serialised state, §3.7) but whose contents are hostile:
 * what a peer that broke the protocol, or an attacker holding the header key,
 * could send. The body is garbage: every check here must come before it.
 */
static void forge(const struct e2e_state *st, size_t hk_off, const uint8_t dh[PROTO_KEY_LEN],
                  uint32_t pn, uint32_t n, struct e2e_msg *m)
{
	uint8_t hdr[RATCHET_HEADER_LEN];

	memcpy(hdr, dh, PROTO_KEY_LEN);
	for (unsigned i = 0; i < 4; i++) {
		hdr[32 + i] = (uint8_t)(pn >> (24 - 8 * i));
		hdr[36 + i] = (uint8_t)(n >> (24 - 8 * i));
	}
	memset(m->bytes, 0x5a, RATCHET_OVERHEAD + 8);
	m->bytes[0] = RATCHET_VERSION;
	m->len = RATCHET_OVERHEAD + 8;
	assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(
	                         m->bytes + 25, NULL, hdr, sizeof(hdr), m->bytes, 1, NULL,
	                         m->bytes + 1, st->bytes + hk_off),
	                 0);
}

enum { ST_DHR_OFF = 66, ST_HKR_OFF = 226, ST_NHKR_OFF = 290 };

static void ratchet_decrypt__rejects__authentic_header_with_hostile_contents(void **state)
{
	/* A point of order 8 (RFC 7748 §5): X25519 with it gives all zeros. */
	static const char low_order_hex[] =
	        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";
	struct e2e_pair p;
	struct e2e_msg m;
	uint8_t pt[E2E_PT_MAX], low[PROTO_KEY_LEN], other[PROTO_KEY_LEN];
	(void)state;

	tu_hex_fixed(low_order_hex, low, sizeof(low));
	memset(other, 0x42, sizeof(other));
	e2e_pair_open(&p, 201, 202, first_pt, sizeof(first_pt));
	send_tagged(p.inviter.r, 1, 10, &m, pt);
	e2e_recv_ok(p.joiner.r, &m, pt, 10);
	struct e2e_state st = e2e_state_take(p.joiner.r);
	const uint8_t *dhr = st.bytes + ST_DHR_OFF;
	/* Same chain (HKr): numbers far ahead, the last one included. */
	forge(&st, ST_HKR_OFF, dhr, 0, 1 + RATCHET_MAX_SKIP + 1, &m);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_TOO_FAR_AHEAD);
	forge(&st, ST_HKR_OFF, dhr, 0, UINT32_MAX, &m);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_TOO_FAR_AHEAD);
	/* Same chain within bounds: the garbage body fails, and nothing moved. */
	forge(&st, ST_HKR_OFF, dhr, 0, 5, &m);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_AUTH);
	/* Next chain (NHKr): PN or n far ahead, and a low-order ratchet key. */
	forge(&st, ST_NHKR_OFF, other, UINT32_MAX, 0, &m);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_TOO_FAR_AHEAD);
	forge(&st, ST_NHKR_OFF, other, 1, UINT32_MAX, &m);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_TOO_FAR_AHEAD);
	forge(&st, ST_NHKR_OFF, low, 1, 0, &m);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_WEAK_KEY);
	forge(&st, ST_NHKR_OFF, other, 1, 0, &m);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_AUTH);
	/* The session is intact. */
	send_tagged(p.inviter.r, 2, 11, &m, pt);
	e2e_recv_ok(p.joiner.r, &m, pt, 11);
	e2e_state_free(&st);
	e2e_pair_close(&p);
}

/* A low-order J1 or J2 makes an all-zero DH: refused before anything is derived. */
static void handshake_accept__weak_key__low_order_joiner_key(void **state)
{
	struct e2e_pair p;
	uint8_t m[E2E_WIRE_MAX];
	(void)state;

	e2e_pair_open(&p, 211, 212, first_pt, sizeof(first_pt));
	for (size_t off = HELLO_KEY1_OFF; off <= HELLO_KEY2_OFF; off += PROTO_KEY_LEN) {
		memcpy(m, p.first.bytes, p.first.len);
		memset(m + off, 0, PROTO_KEY_LEN);
		assert_int_equal(accept_copy(&p, m, p.first.len), SOTTO_ERR_WEAK_KEY);
	}
	e2e_pair_close(&p);
}

/* A message of one session means nothing to another, in either receive path. */
static void ratchet_decrypt__auth__message_of_another_session(void **state)
{
	struct e2e_pair p, other;
	struct e2e_msg m;
	uint8_t pt[E2E_PT_MAX];
	(void)state;

	e2e_pair_open(&p, 161, 162, first_pt, sizeof(first_pt));
	e2e_pair_open(&other, 163, 164, first_pt, sizeof(first_pt));
	send_tagged(other.inviter.r, 1, 30, &m, pt);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_AUTH);
	send_tagged(p.inviter.r, 2, 30, &m, pt);
	e2e_recv_ok(p.joiner.r, &m, pt, 30);
	send_tagged(other.inviter.r, 3, 30, &m, pt);
	assert_int_equal(e2e_recv_err(p.joiner.r, m.bytes, m.len), SOTTO_ERR_AUTH);
	send_tagged(other.joiner.r, 4, 30, &m, pt);
	assert_int_equal(e2e_recv_err(p.inviter.r, m.bytes, m.len), SOTTO_ERR_AUTH);
	e2e_pair_close(&other);
	e2e_pair_close(&p);
}

/* ---- keys per connection ---- */

static bool key_in(const uint8_t key[PROTO_KEY_LEN], const uint8_t *const keys[], size_t n_keys)
{
	for (size_t i = 0; i < n_keys; i++)
		if (memcmp(key, keys[i], PROTO_KEY_LEN) == 0)
			return true;
	return false;
}

/*
 * One inviter process makes two invitations and one joiner process joins
 * both: eight public keys, all different, and no 32-byte run of one
 * invitation or hello appears in the other connection's.
 */
static void handshake__fresh_keys__per_invitation_and_join(void **state)
{
	struct e2e_side inviter, joiner;
	struct handshake_inviter *inv[2] = {NULL, NULL};
	struct handshake_invitation parsed;
	struct ratchet *session[2] = {NULL, NULL};
	uint8_t hello[2][E2E_WIRE_MAX];
	const uint8_t *keys[8];
	size_t len = 0;
	(void)state;

	e2e_side_init(&inviter, 171);
	e2e_side_init(&joiner, 172);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(handshake_invite_new(inviter.ctx, &inv[i]), SOTTO_OK);
		const uint8_t *b = handshake_invitation_bytes(inv[i], &len);
		assert_int_equal(handshake_invitation_parse(b, len, &parsed), SOTTO_OK);
		assert_int_equal(handshake_join(joiner.ctx, &parsed, hello[i], sizeof(hello[i]),
		                                &len, &session[i]),
		                 SOTTO_OK);
		keys[4 * i] = b + INV_KEY1_OFF;
		keys[4 * i + 1] = b + INV_KEY2_OFF;
		keys[4 * i + 2] = hello[i] + HELLO_KEY1_OFF;
		keys[4 * i + 3] = hello[i] + HELLO_KEY2_OFF;
	}
	for (size_t i = 0; i < 8; i++) {
		assert_false(key_in(keys[i], keys, i));
		assert_false(e2e_all_zero(keys[i], PROTO_KEY_LEN));
	}
	assert_memory_not_equal(ratchet_ad(session[0]), ratchet_ad(session[1]), PROTO_AD_LEN);
	char code[2][PROTO_CODE_TEXT_LEN + 1];
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(handshake_security_code(session[i], code[i], sizeof(code[i])),
		                 SOTTO_OK);
	assert_string_not_equal(code[0], code[1]);
	for (unsigned i = 0; i < 2; i++) {
		ratchet_free(session[i]);
		handshake_inviter_free(inv[i]);
	}
	e2e_side_clear(&inviter);
	e2e_side_clear(&joiner);
}

/* Bytes 2..322 of a state are ten 32-byte key fields (§3.7): none of a's recurs in b. */
static void assert_no_shared_key(const struct e2e_state *a, const struct e2e_state *b)
{
	for (size_t fa = 2; fa < 322; fa += PROTO_KEY_LEN) {
		if (e2e_all_zero(a->bytes + fa, PROTO_KEY_LEN))
			continue;
		for (size_t fb = 2; fb < 322; fb += PROTO_KEY_LEN)
			assert_memory_not_equal(a->bytes + fa, b->bytes + fb, PROTO_KEY_LEN);
	}
}

/* Two connections' states share no key: every 32-byte key field differs. */
static void handshake__fresh_keys__sessions_share_no_state_key(void **state)
{
	struct e2e_pair p[2];
	struct e2e_msg m;
	uint8_t pt[E2E_PT_MAX];
	(void)state;

	/* The same seeds for both inviters and both joiners would be one process each. */
	e2e_pair_open(&p[0], 181, 182, first_pt, sizeof(first_pt));
	e2e_pair_open(&p[1], 183, 184, first_pt, sizeof(first_pt));
	for (unsigned i = 0; i < 2; i++) {
		send_tagged(p[i].inviter.r, 1, 5, &m, pt);
		e2e_recv_ok(p[i].joiner.r, &m, pt, 5);
	}
	struct e2e_state st[4] = {e2e_state_take(p[0].inviter.r), e2e_state_take(p[0].joiner.r),
	                          e2e_state_take(p[1].inviter.r), e2e_state_take(p[1].joiner.r)};
	for (unsigned a = 0; a < 2; a++)
		for (unsigned b = 2; b < 4; b++)
			assert_no_shared_key(&st[a], &st[b]);
	assert_memory_not_equal(st[0].bytes + 334, st[2].bytes + 334, PROTO_AD_LEN);
	assert_memory_equal(st[0].bytes + 334, st[1].bytes + 334, PROTO_AD_LEN);
	for (unsigned i = 0; i < 4; i++)
		e2e_state_free(&st[i]);
	e2e_pair_close(&p[0]);
	e2e_pair_close(&p[1]);
}

/* ---- security code ---- */

static void sec_code(const struct ratchet *r, char out[PROTO_CODE_TEXT_LEN + 1])
{
	assert_int_equal(handshake_security_code(r, out, PROTO_CODE_TEXT_LEN + 1), SOTTO_OK);
	assert_int_equal(strlen(out), PROTO_CODE_TEXT_LEN);
}

/*
 * A man in the middle answers the inviter's invitation with his own join and
 * hands the joiner his own invitation: both sessions work, and the codes the
 * two users compare differ.
 */
static void handshake_security_code__differs__man_in_the_middle(void **state)
{
	struct e2e_pair honest, to_inviter, to_joiner;
	char a[PROTO_CODE_TEXT_LEN + 1], b[PROTO_CODE_TEXT_LEN + 1], c[PROTO_CODE_TEXT_LEN + 1],
	        d[PROTO_CODE_TEXT_LEN + 1];
	(void)state;

	/* Honest: both sides show the same code. */
	e2e_pair_open(&honest, 191, 192, first_pt, sizeof(first_pt));
	sec_code(honest.inviter.r, a);
	sec_code(honest.joiner.r, b);
	assert_string_equal(a, b);
	/* Attacked: the real inviter (seed 191 again) pairs with the attacker, and so does the
	 * joiner. */
	e2e_pair_open(&to_inviter, 191, 0xbad1, first_pt, sizeof(first_pt));
	e2e_pair_open(&to_joiner, 0xbad2, 192, first_pt, sizeof(first_pt));
	sec_code(to_inviter.inviter.r, c);
	sec_code(to_joiner.joiner.r, d);
	assert_string_not_equal(c, d);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	/* The buffer must hold the NUL too. */
	assert_int_equal(handshake_security_code(honest.joiner.r, a, PROTO_CODE_TEXT_LEN),
	                 SOTTO_ERR_TOO_LARGE);
	e2e_pair_close(&honest);
	e2e_pair_close(&to_inviter);
	e2e_pair_close(&to_joiner);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ratchet_decrypt__auth__copy_made_after_reading_old_messages),
	        cmocka_unit_test(ratchet_decrypt__auth__stolen_state_after_one_round_trip),
	        cmocka_unit_test(handshake_accept__rejects__every_truncation_and_bit_flip),
	        cmocka_unit_test(handshake_accept__used__hello_replayed_even_after_restart),
	        cmocka_unit_test(handshake_accept__auth__hello_for_another_invitation),
	        cmocka_unit_test(ratchet_decrypt__rejects__every_truncation_and_bit_flip),
	        cmocka_unit_test(ratchet_decrypt__auth__message_of_another_session),
	        cmocka_unit_test(ratchet_decrypt__rejects__authentic_header_with_hostile_contents),
	        cmocka_unit_test(handshake_accept__weak_key__low_order_joiner_key),
	        cmocka_unit_test(handshake__fresh_keys__per_invitation_and_join),
	        cmocka_unit_test(handshake__fresh_keys__sessions_share_no_state_key),
	        cmocka_unit_test(handshake_security_code__differs__man_in_the_middle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
