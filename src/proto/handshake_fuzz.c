/* SPDX-License-Identifier: MIT */
/*
 * handshake_fuzz.c - fuzz target for the two parsers of the key agreement
 * (docs/protocol.md §3.2-3.3): handshake_invitation_parse() and
 * handshake_accept().
 *
 * Input: any bytes; each input goes through both parsers.
 *
 * - As an invitation: a parse that succeeds must describe exactly the input
 *   (72 bytes, type 1, a valid version range, KEM type 0, the keys at their
 *   offsets), and joining it must give a 70-byte hello and a session or a
 *   clean SOTTO_ERR_VERSION / SOTTO_ERR_WEAK_KEY.
 * - As a hello with its first message, to a fixed inviter (restored from the
 *   same fixed-seed pending state every time): a failure must leave the
 *   inviter's serialised state unchanged, hand out no session, set the
 *   length to 0 and leave no plaintext; a success must read len - 70 - 121
 *   bytes, give a session that can send at once, and spend the inviter so
 *   that the same bytes again are SOTTO_ERR_USED.
 *
 * Anything else abort()s.
 *
 * Seeds in fuzz/corpus/handshake/: made once by a throwaway generator that
 * #included this file, built the fixed inviter with hs_inviter_build() and
 * joined its invitation with a fixed-seed joiner: the invitation, hellos
 * with first messages of several lengths (all accepted by this target's
 * inviter), and near-valid variants (every field of the hello changed in
 * turn, truncations, a trailing byte, invitations with other version
 * ranges, KEM types and lengths). If the code ever draws random bytes in
 * another order, the hellos stop opening and become near-valid inputs.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/handshake.h"
#include "proto/ratchet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	HS_INVITER_STATE_LEN = 2 + 2 * PROTO_KEY_LEN + PROTO_INVITATION_V1_LEN,
	HS_INPUT_MAX = 1 << 16,
	HS_INVITER_SEED = 0x6873001,
	HS_JOINER_SEED = 0x6873002,
};

/* splitmix64: a deterministic stand-in for the context RNG. */
static void hs_rng(void *user, uint8_t *buf, size_t len)
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

static sotto_ctx *hs_ctx(uint64_t *rng_state, uint64_t seed)
{
	struct sotto_ctx_config cfg = {.rng = hs_rng, .rng_user = rng_state};
	sotto_ctx *ctx = NULL;

	*rng_state = seed;
	if (sotto_ctx_new(&ctx, &cfg) != SOTTO_OK)
		abort();
	return ctx;
}

/* The fixed inviter's pending state: the same bytes in every run. */
static void hs_inviter_build(uint8_t out[HS_INVITER_STATE_LEN])
{
	uint64_t rng_state = 0;
	sotto_ctx *ctx = hs_ctx(&rng_state, HS_INVITER_SEED);
	struct handshake_inviter *inv = NULL;
	size_t n = 0;

	if (handshake_invite_new(ctx, &inv) != SOTTO_OK ||
	    handshake_inviter_serialize(inv, out, HS_INVITER_STATE_LEN, &n) != SOTTO_OK ||
	    n != HS_INVITER_STATE_LEN)
		abort();
	handshake_inviter_free(inv);
	sotto_ctx_free(ctx);
}

static struct {
	bool ready;
	uint8_t state[HS_INVITER_STATE_LEN];
} hs_cache;

static bool hs_all_zero(const uint8_t *b, size_t len)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < len; i++)
		acc |= b[i];
	return acc == 0;
}

static void hs_check_parsed(const struct handshake_invitation *inv, const uint8_t *data,
                            size_t size)
{
	if (size != PROTO_INVITATION_V1_LEN || inv->encoded_len != size ||
	    memcmp(inv->encoded, data, size) != 0 || data[0] != PROTO_INVITATION_TYPE ||
	    inv->versions.min < 1 || inv->versions.min > inv->versions.max ||
	    inv->kem_type != PROTO_KEM_NONE || memcmp(inv->key1, data + 5, PROTO_KEY_LEN) != 0 ||
	    memcmp(inv->key2, data + 37, PROTO_KEY_LEN) != 0)
		abort();
}

static void hs_invitation(const uint8_t *data, size_t size)
{
	struct handshake_invitation inv;
	uint64_t rng_state = 0;
	uint8_t hello[PROTO_HELLO_V1_LEN + PROTO_KEM_DATA_MAX];
	size_t hello_len = 1;
	struct ratchet *r = NULL;

	sotto_err rc = handshake_invitation_parse(data, size, &inv);
	if (rc != SOTTO_OK) {
		if (rc != SOTTO_ERR_TRUNCATED && rc != SOTTO_ERR_TRAILING &&
		    rc != SOTTO_ERR_PROTOCOL && rc != SOTTO_ERR_TOO_LARGE)
			abort();
		return;
	}
	hs_check_parsed(&inv, data, size);
	sotto_ctx *ctx = hs_ctx(&rng_state, HS_JOINER_SEED);
	rc = handshake_join(ctx, &inv, hello, sizeof(hello), &hello_len, &r);
	if (rc == SOTTO_OK) {
		if (r == NULL || hello_len != PROTO_HELLO_V1_LEN || hello[0] != PROTO_HELLO_TYPE)
			abort();
	} else if ((rc != SOTTO_ERR_VERSION && rc != SOTTO_ERR_WEAK_KEY) || r != NULL) {
		abort();
	}
	ratchet_free(r);
	sotto_ctx_free(ctx);
}

static bool hs_inviter_is(const struct handshake_inviter *inv, const uint8_t *st)
{
	uint8_t now[HS_INVITER_STATE_LEN];
	size_t n = 0;
	if (handshake_inviter_serialize(inv, now, sizeof(now), &n) != SOTTO_OK)
		abort();
	return n == HS_INVITER_STATE_LEN && memcmp(now, st, n) == 0;
}

/* After a successful accept: the session sends, and the inviter is spent. */
static void hs_check_accepted(struct handshake_inviter *inv, struct ratchet *r, const uint8_t *data,
                              size_t size, uint8_t *pt, size_t pt_cap, size_t pt_len)
{
	struct ratchet *again = NULL;
	const uint8_t one = 1;
	uint8_t msg[RATCHET_OVERHEAD + 1];
	size_t n = 1;

	if (r == NULL || size < PROTO_HELLO_V1_LEN + RATCHET_OVERHEAD ||
	    pt_len != size - PROTO_HELLO_V1_LEN - RATCHET_OVERHEAD ||
	    ratchet_encrypt(r, &one, 1, msg, sizeof(msg), &n) != SOTTO_OK || n != sizeof(msg))
		abort();
	if (handshake_accept(inv, data, size, pt, pt_cap, &n, &again) != SOTTO_ERR_USED ||
	    again != NULL)
		abort();
}

static void hs_accept(const uint8_t *data, size_t size)
{
	uint64_t rng_state = 0;
	sotto_ctx *ctx = hs_ctx(&rng_state, HS_INVITER_SEED + 1);
	struct handshake_inviter *inv = NULL;
	struct ratchet *r = NULL;
	size_t pt_cap = size + 1, pt_len = 1;
	uint8_t *pt = calloc(1, pt_cap);

	if (pt == NULL || handshake_inviter_deserialize(ctx, hs_cache.state, sizeof(hs_cache.state),
	                                                &inv) != SOTTO_OK)
		abort();
	sotto_err rc = handshake_accept(inv, data, size, pt, pt_cap, &pt_len, &r);
	if (rc == SOTTO_OK) {
		hs_check_accepted(inv, r, data, size, pt, pt_cap, pt_len);
	} else {
		if (rc != SOTTO_ERR_TRUNCATED && rc != SOTTO_ERR_PROTOCOL &&
		    rc != SOTTO_ERR_WEAK_KEY && rc != SOTTO_ERR_AUTH && rc != SOTTO_ERR_TOO_LARGE &&
		    rc != SOTTO_ERR_NOMEM)
			abort();
		if (r != NULL || pt_len != 0 || !hs_all_zero(pt, pt_cap) ||
		    !hs_inviter_is(inv, hs_cache.state))
			abort();
	}
	ratchet_free(r);
	handshake_inviter_free(inv);
	free(pt);
	sotto_ctx_free(ctx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > HS_INPUT_MAX)
		return 0;
	if (!hs_cache.ready) {
		hs_inviter_build(hs_cache.state);
		hs_cache.ready = true;
	}
	hs_invitation(data, size);
	hs_accept(data, size);
	return 0;
}
