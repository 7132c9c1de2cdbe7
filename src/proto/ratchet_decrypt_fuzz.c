/* SPDX-License-Identifier: MIT */
/*
 * ratchet_decrypt_fuzz.c - fuzz target for ratchet_decrypt() on live
 * sessions.
 *
 * Input layout:
 *
 *   offset  size  field
 *   0       1     which receiver state (mod RD_N_STATES)
 *   1       ...   the bytes handed to ratchet_decrypt()
 *
 * The receiver states come from real handshakes whose parties draw from
 * fixed-seed RNGs, so they are the same in every run and committed seeds
 * that hold real messages keep decrypting:
 *
 *   0  the joiner just after the handshake (next: the inviter's first chain,
 *      header under NHKr, a DH step);
 *   1  the inviter just after accepting (next: the joiner's chain, header
 *      under HKr);
 *   2  the joiner holding two skipped keys, with the inviter already on a
 *      newer chain (all three receive paths live).
 *
 * For each input: decrypt into a zeroed buffer. On failure the state must
 * serialise to exactly the bytes it had, no plaintext may be left in the
 * buffer and the length must be 0. On success the plaintext length must be
 * the message length minus RATCHET_OVERHEAD, the new state must survive a
 * serialise/deserialise round trip, and the same bytes again must be
 * rejected as SOTTO_ERR_AUTH without a change. Anything else abort()s.
 *
 * Seeds in fuzz/corpus/ratchet_decrypt/: made once by a throwaway generator
 * that #included this file, ran rd_build() and kept going on the senders'
 * sessions: the messages each state can read next (same chain, skipping
 * ahead, a new chain, each skipped message), then truncated, bit-flipped,
 * extended and wrong-state variants of them. If the code ever draws random
 * bytes in another order, those seeds turn into near-valid inputs: still
 * useful, never a failure.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/handshake.h"
#include "proto/ratchet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	RD_N_STATES = 3,
	RD_STATE_CAP = RATCHET_STATE_BASE_LEN + 8 * RATCHET_SKIPPED_ENTRY_LEN,
	RD_MSG_MAX = 1 << 16, /* inputs above this are cut: plenty for every path */
	RD_PT_LEN = 24,       /* plaintexts of the scripted messages */
	RD_WITHHELD_MAX = 4,
};

/* splitmix64: a deterministic stand-in for the context RNG. */
static void rd_rng(void *user, uint8_t *buf, size_t len)
{
	uint64_t *state = user;
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			*state += 0x9e3779b97f4a7c15u;
		uint64_t z = *state;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		z ^= z >> 31;
		buf[i] = (uint8_t)(z >> (8 * (i % 8)));
	}
}

struct rd_party {
	uint64_t rng_state; /* borrowed by ctx: the struct must not move */
	sotto_ctx *ctx;
	struct ratchet *r;
};

static void rd_party_init(struct rd_party *p, uint64_t seed)
{
	struct sotto_ctx_config cfg = {.rng = rd_rng};

	p->rng_state = seed;
	p->r = NULL;
	cfg.rng_user = &p->rng_state;
	if (sotto_ctx_new(&p->ctx, &cfg) != SOTTO_OK)
		abort();
}

static void rd_party_clear(struct rd_party *p)
{
	ratchet_free(p->r);
	p->r = NULL;
	sotto_ctx_free(p->ctx);
	p->ctx = NULL;
}

struct rd_msg {
	uint8_t bytes[RD_PT_LEN + RATCHET_OVERHEAD];
	size_t len;
};

/* One scenario: the receiver's state, its peer's live session, messages held back. */
struct rd_scenario {
	struct rd_party inviter, joiner;
	struct ratchet *receiver; /* borrowed: inviter.r or joiner.r */
	struct ratchet *sender;   /* borrowed: the other one */
	uint8_t state[RD_STATE_CAP];
	size_t state_len;
	struct rd_msg withheld[RD_WITHHELD_MAX]; /* sent, never delivered */
	unsigned n_withheld;
};

static void rd_send(struct ratchet *r, uint8_t tag, struct rd_msg *m)
{
	uint8_t pt[RD_PT_LEN];
	memset(pt, tag, sizeof(pt));
	if (ratchet_encrypt(r, pt, sizeof(pt), m->bytes, sizeof(m->bytes), &m->len) != SOTTO_OK)
		abort();
}

static void rd_recv(struct ratchet *r, const struct rd_msg *m)
{
	uint8_t pt[RD_PT_LEN];
	size_t n = 0;
	if (ratchet_decrypt(r, m->bytes, m->len, pt, sizeof(pt), &n) != SOTTO_OK || n != RD_PT_LEN)
		abort();
}

/* invite, join, the joiner's first message behind the hello, accept. */
static void rd_handshake(struct rd_scenario *s, uint64_t seed)
{
	struct handshake_inviter *inv = NULL;
	struct handshake_invitation parsed;
	uint8_t wire[PROTO_HELLO_V1_LEN + RD_PT_LEN + RATCHET_OVERHEAD], pt[RD_PT_LEN] = {0};
	size_t len = 0, hello_len = 0, n = 0;

	rd_party_init(&s->inviter, 2 * seed);
	rd_party_init(&s->joiner, 2 * seed + 1);
	if (handshake_invite_new(s->inviter.ctx, &inv) != SOTTO_OK)
		abort();
	const uint8_t *ib = handshake_invitation_bytes(inv, &len);
	if (handshake_invitation_parse(ib, len, &parsed) != SOTTO_OK ||
	    handshake_join(s->joiner.ctx, &parsed, wire, sizeof(wire), &hello_len, &s->joiner.r) !=
	            SOTTO_OK ||
	    ratchet_encrypt(s->joiner.r, pt, sizeof(pt), wire + hello_len, sizeof(wire) - hello_len,
	                    &n) != SOTTO_OK ||
	    handshake_accept(inv, wire, hello_len + n, pt, sizeof(pt), &len, &s->inviter.r) !=
	            SOTTO_OK)
		abort();
	handshake_inviter_free(inv);
}

/* Scenario 2: the joiner skipped x0 and x1, and the inviter's z0 starts a newer chain. */
static void rd_script_skipped(struct rd_scenario *s)
{
	struct rd_msg x2, y0;

	rd_send(s->inviter.r, 0x10, &s->withheld[s->n_withheld++]);
	rd_send(s->inviter.r, 0x11, &s->withheld[s->n_withheld++]);
	rd_send(s->inviter.r, 0x12, &x2);
	rd_recv(s->joiner.r, &x2);
	rd_send(s->joiner.r, 0x20, &y0);
	rd_recv(s->inviter.r, &y0);
	rd_send(s->inviter.r, 0x30, &s->withheld[s->n_withheld++]);
}

/* Builds scenario i and snapshots its receiver. */
static void rd_build(struct rd_scenario *s, unsigned i)
{
	memset(s, 0, sizeof(*s));
	rd_handshake(s, 0x7264000 + i);
	bool joiner_receives = i != 1;
	if (i == 2)
		rd_script_skipped(s);
	s->receiver = joiner_receives ? s->joiner.r : s->inviter.r;
	s->sender = joiner_receives ? s->inviter.r : s->joiner.r;
	if (ratchet_serialize(s->receiver, s->state, sizeof(s->state), &s->state_len) != SOTTO_OK)
		abort();
}

static void rd_scenario_clear(struct rd_scenario *s)
{
	rd_party_clear(&s->inviter);
	rd_party_clear(&s->joiner);
}

/* The receiver states, built once per process: the same bytes every time. */
static struct {
	bool ready;
	uint8_t state[RD_N_STATES][RD_STATE_CAP];
	size_t state_len[RD_N_STATES];
} rd_cache;

static void rd_cache_fill(void)
{
	struct rd_scenario *s = malloc(sizeof(*s));

	if (s == NULL)
		abort();
	for (unsigned i = 0; i < RD_N_STATES; i++) {
		rd_build(s, i);
		memcpy(rd_cache.state[i], s->state, s->state_len);
		rd_cache.state_len[i] = s->state_len;
		rd_scenario_clear(s);
	}
	free(s);
	rd_cache.ready = true;
}

static bool rd_state_is(const struct ratchet *r, const uint8_t *st, size_t st_len)
{
	uint8_t now[RATCHET_STATE_MAX];
	size_t n = 0;

	if (ratchet_serialized_len(r) != st_len)
		return false;
	if (ratchet_serialize(r, now, sizeof(now), &n) != SOTTO_OK || n != st_len)
		abort();
	return memcmp(now, st, n) == 0;
}

static bool rd_all_zero(const uint8_t *b, size_t len)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < len; i++)
		acc |= b[i];
	return acc == 0;
}

/* A failed decrypt: nothing changed, nothing leaked. */
static void rd_check_failure(sotto_err rc, const struct ratchet *r, const uint8_t *st,
                             size_t st_len, const uint8_t *pt, size_t pt_cap, size_t pt_len)
{
	if (rc != SOTTO_ERR_AUTH && rc != SOTTO_ERR_TOO_FAR_AHEAD && rc != SOTTO_ERR_WEAK_KEY &&
	    rc != SOTTO_ERR_NOMEM)
		abort();
	if (!rd_state_is(r, st, st_len) || pt_len != 0 || !rd_all_zero(pt, pt_cap))
		abort();
}

/* A successful decrypt: a sound new state that refuses the same bytes again. */
static void rd_check_success(sotto_ctx *ctx, struct ratchet *r, const uint8_t *msg, size_t len,
                             uint8_t *pt, size_t pt_cap, size_t pt_len)
{
	uint8_t *st = malloc(RATCHET_STATE_MAX);
	struct ratchet *again = NULL;
	size_t st_len = 0, n = 1;

	if (st == NULL || len < RATCHET_OVERHEAD || pt_len != len - RATCHET_OVERHEAD ||
	    ratchet_serialize(r, st, RATCHET_STATE_MAX, &st_len) != SOTTO_OK ||
	    ratchet_deserialize(ctx, st, st_len, &again) != SOTTO_OK ||
	    !rd_state_is(again, st, st_len))
		abort();
	memset(pt, 0, pt_cap);
	if (ratchet_decrypt(r, msg, len, pt, pt_cap, &n) != SOTTO_ERR_AUTH)
		abort();
	rd_check_failure(SOTTO_ERR_AUTH, r, st, st_len, pt, pt_cap, n);
	ratchet_free(again);
	free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd_party p;
	uint8_t *pt = NULL;
	size_t pt_len = 1;

	if (size < 1)
		return 0;
	if (!rd_cache.ready)
		rd_cache_fill();
	unsigned which = data[0] % RD_N_STATES;
	const uint8_t *msg = data + 1;
	size_t len = size - 1 < RD_MSG_MAX ? size - 1 : RD_MSG_MAX;
	size_t pt_cap = len + 1; /* never 0, and room for any plaintext */

	rd_party_init(&p, 0x72640ff);
	pt = calloc(1, pt_cap);
	if (pt == NULL || ratchet_deserialize(p.ctx, rd_cache.state[which],
	                                      rd_cache.state_len[which], &p.r) != SOTTO_OK)
		abort();
	sotto_err rc = ratchet_decrypt(p.r, msg, len, pt, pt_cap, &pt_len);
	if (rc == SOTTO_OK)
		rd_check_success(p.ctx, p.r, msg, len, pt, pt_cap, pt_len);
	else
		rd_check_failure(rc, p.r, rd_cache.state[which], rd_cache.state_len[which], pt,
		                 pt_cap, pt_len);
	free(pt);
	rd_party_clear(&p);
	return 0;
}
