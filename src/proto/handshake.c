/* SPDX-License-Identifier: MIT */
/*
 * handshake.c - the X3DH-style key agreement that starts an end-to-end
 * session, and the security code (proto layer; docs/protocol.md §3.2-3.4,
 * §3.8).
 *
 * Invitation (§3.2), exactly 72 bytes in version 1:
 *
 *   offset  size  field
 *   0       1     type = 1
 *   1       4     version range (min, max)
 *   5       32    I1 public key
 *   37      32    I2 public key
 *   69      1     KEM type = 0
 *   70      2     K = 0, length of the KEM data
 *
 * Inviter state (§3.2), 138 bytes:
 *
 *   offset  size  field
 *   0       1     state version = 1
 *   1       1     0 = pending, 1 = used (both private keys zero)
 *   2       32    I1 private key
 *   34      32    I2 private key
 *   66      72    the invitation
 *
 * Hello (§3.3), 70 bytes, followed by the joiner's first ratchet message:
 *
 *   offset  size  field
 *   0       1     type = 2
 *   1       2     agreed version
 *   3       32    J1 public key
 *   35      32    J2 public key
 *   67      1     KEM type = 0
 *   68      2     C = 0, length of the KEM ciphertext
 *
 * Key agreement (§3.4): AD = H(label_ad || invitation || hello), then
 * DH1 = DH(J1, I2), DH2 = DH(J2, I1), DH3 = DH(J2, I2) and
 * HKDF(salt = 64 zero bytes, ikm = 32 x 0xFF || DH1 || DH2 || DH3,
 * info = label_x3dh || AD, 96) = SK || HKJ || NHKI.
 *
 * Invariants: the inviter is one secure allocation; handshake_accept()
 * changes it only after the first ratchet message has decrypted, and then
 * wipes both private keys, so an invitation opens at most one session.
 * Random draws, in order: handshake_invite_new() I1 then I2; handshake_join()
 * J1, J2, then the joiner's first ratchet key pair.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "core/ctx.h"
#include "core/err.h"
#include "crypto/ct.h"
#include "crypto/hash.h"
#include "crypto/x25519.h"
#include "proto/handshake.h"
#include "proto/ratchet_int.h"
#include "wire/reader.h"
#include "wire/writer.h"

enum {
	KEY_LEN = PROTO_KEY_LEN,
	INVITER_STATE_VERSION = 1,
	INVITER_PENDING = 0,
	INVITER_USED = 1,
	INVITER_STATE_LEN = 2 + 2 * PROTO_KEY_LEN + PROTO_INVITATION_V1_LEN,
	X3DH_PAD_LEN = 32, /* X3DH's F: 32 bytes of 0xFF before the DH outputs */
	X3DH_N_DH = 3,
	X3DH_IKM_LEN = X3DH_PAD_LEN + X3DH_N_DH * X25519_SHARED_LEN,
	X3DH_OKM_LEN = 3 * PROTO_KEY_LEN, /* SK, HKJ, NHKI */
	X3DH_SALT_LEN = 64,
	CODE_GROUP_BYTES = 5,
	CODE_GROUP_DIGITS = 5,
	CODE_GROUP_MOD = 100000,
	CODE_BYTES = PROTO_CODE_GROUPS * CODE_GROUP_BYTES,
};

_Static_assert((int)CODE_BYTES <= (int)BLAKE2B_LEN, "security code bytes");
_Static_assert(PROTO_CODE_TEXT_LEN == PROTO_CODE_GROUPS * (CODE_GROUP_DIGITS + 1) - 1,
               "security code text");

static const uint8_t label_ad[] = "sotto/e2e/ad/v1";
static const uint8_t label_x3dh[] = "sotto/e2e/x3dh/v1";
static const uint8_t label_verify[] = "sotto/e2e/verify/v1";
#define LABEL_LEN(l) (sizeof(l) - 1)

static const uint8_t x3dh_salt[X3DH_SALT_LEN] = {0};

static const struct version_range proto_versions = {PROTO_VERSION_MIN, PROTO_VERSION_MAX};

struct handshake_inviter {
	struct sotto_ctx *ctx;         /* borrowed; RNG and allocator */
	struct x25519_keypair i1;      /* I1 (secret priv); zero once used */
	struct x25519_keypair i2;      /* I2 (secret priv); zero once used */
	struct version_range versions; /* the invitation's range */
	uint8_t invitation[PROTO_INVITATION_V1_LEN];
	bool used; /* a hello was accepted */
};

/* A hello at the start of a first message, and what follows it (borrowed). */
struct hello {
	uint8_t j1[KEY_LEN];
	uint8_t j2[KEY_LEN];
	size_t len;         /* hello bytes, bound into AD */
	const uint8_t *msg; /* the joiner's first ratchet message */
	size_t msg_len;
};

/* One DH of the key agreement: our private key, their public key. */
struct x3dh_dh {
	const uint8_t *priv;
	const uint8_t *pub;
};

/* ---- §3.4 ---- */

/* AD = H("sotto/e2e/ad/v1" || invitation bytes || hello bytes). */
static void x3dh_ad(const uint8_t *invitation, size_t invitation_len, const uint8_t *hello,
                    size_t hello_len, uint8_t ad[static PROTO_AD_LEN])
{
	struct blake2b_state st;

	blake2b_init(&st);
	blake2b_update(&st, label_ad, LABEL_LEN(label_ad));
	blake2b_update(&st, invitation, invitation_len);
	blake2b_update(&st, hello, hello_len);
	blake2b_final(&st, ad);
}

/* DH1..DH3 in order, then SK, HKJ, NHKI into init (init->ad already set). */
static sotto_err x3dh_derive(const struct x3dh_dh dh[static X3DH_N_DH], struct ratchet_init *init)
{
	uint8_t ikm[X3DH_IKM_LEN], okm[X3DH_OKM_LEN];
	uint8_t info[LABEL_LEN(label_x3dh) + PROTO_AD_LEN];
	sotto_err rc;

	memset(ikm, 0xff, X3DH_PAD_LEN);
	for (size_t i = 0; i < X3DH_N_DH; i++) {
		rc = x25519_dh(ikm + X3DH_PAD_LEN + i * X25519_SHARED_LEN, dh[i].priv, dh[i].pub);
		if (rc != SOTTO_OK)
			goto out;
	}
	memcpy(info, label_x3dh, LABEL_LEN(label_x3dh));
	memcpy(info + LABEL_LEN(label_x3dh), init->ad, PROTO_AD_LEN);
	if ((rc = hkdf_blake2b(okm, sizeof(okm), x3dh_salt, sizeof(x3dh_salt), ikm, sizeof(ikm),
	                       info, sizeof(info))) != SOTTO_OK)
		goto out;
	memcpy(init->sk, okm, KEY_LEN);
	memcpy(init->hkj, okm + KEY_LEN, KEY_LEN);
	memcpy(init->nhki, okm + 2 * KEY_LEN, KEY_LEN);
out:
	sodium_memzero(ikm, sizeof(ikm));
	sodium_memzero(okm, sizeof(okm));
	return rc;
}

/* ---- invitation (§3.2) ---- */

static void invitation_encode(struct handshake_inviter *inv)
{
	struct wire_writer w;

	wire_writer_init(&w, inv->invitation, sizeof(inv->invitation));
	wire_writer_u8(&w, PROTO_INVITATION_TYPE);
	version_range_write(&w, inv->versions);
	wire_writer_bytes(&w, inv->i1.pub, KEY_LEN);
	wire_writer_bytes(&w, inv->i2.pub, KEY_LEN);
	wire_writer_u8(&w, PROTO_KEM_NONE);
	wire_writer_lp16(&w, NULL, 0, PROTO_KEM_DATA_MAX);
	size_t len = 0;
	sotto_err rc = wire_writer_finish(&w, &len);
	(void)SOTTO_INVARIANT(rc == SOTTO_OK && len == sizeof(inv->invitation));
}

static sotto_err inviter_alloc(struct sotto_ctx *ctx, struct handshake_inviter **out)
{
	struct handshake_inviter *inv = ctx_secure_alloc(ctx, sizeof(*inv));

	*out = NULL;
	if (inv == NULL)
		return SOTTO_ERR_NOMEM;
	memset(inv, 0, sizeof(*inv));
	inv->ctx = ctx;
	*out = inv;
	return SOTTO_OK;
}

sotto_err handshake_invite_new(struct sotto_ctx *ctx, struct handshake_inviter **out)
{
	struct handshake_inviter *inv = NULL;
	sotto_err rc;

	*out = NULL;
	if ((rc = inviter_alloc(ctx, &inv)) != SOTTO_OK)
		return rc;
	x25519_keypair_generate(ctx, &inv->i1);
	x25519_keypair_generate(ctx, &inv->i2);
	inv->versions = proto_versions;
	invitation_encode(inv);
	*out = inv;
	return SOTTO_OK;
}

const uint8_t *handshake_invitation_bytes(const struct handshake_inviter *inv, size_t *len)
{
	*len = sizeof(inv->invitation);
	return inv->invitation;
}

void handshake_inviter_free(struct handshake_inviter *inv)
{
	if (inv == NULL)
		return;
	struct sotto_ctx *ctx = inv->ctx;
	sodium_memzero(inv, sizeof(*inv));
	ctx_secure_free(ctx, inv);
}

sotto_err handshake_invitation_parse(const uint8_t *in, size_t in_len,
                                     struct handshake_invitation *out)
{
	struct wire_reader rd;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&rd, in, in_len);
	uint8_t type = wire_reader_u8(&rd);
	if (wire_reader_error(&rd) == SOTTO_OK && type != PROTO_INVITATION_TYPE)
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	out->versions = version_range_read(&rd);
	wire_reader_copy(&rd, out->key1, KEY_LEN);
	wire_reader_copy(&rd, out->key2, KEY_LEN);
	out->kem_type = wire_reader_u8(&rd);
	uint16_t kem_len = wire_reader_u16(&rd);
	/* Version 1 knows only "no KEM", which carries no data. */
	if (wire_reader_error(&rd) == SOTTO_OK && (out->kem_type != PROTO_KEM_NONE || kem_len != 0))
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	if ((rc = wire_reader_finish(&rd)) != SOTTO_OK)
		goto out;
	if (!SOTTO_INVARIANT(in_len == sizeof(out->encoded))) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	memcpy(out->encoded, in, in_len);
	out->encoded_len = in_len;
out:
	if (rc != SOTTO_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- inviter state (§3.2) ---- */

sotto_err handshake_inviter_serialize(const struct handshake_inviter *inv, uint8_t *out,
                                      size_t out_cap, size_t *out_len)
{
	struct wire_writer w;

	*out_len = 0;
	/* Checked first so that no partial copy of the keys is ever written. */
	if (out_cap < INVITER_STATE_LEN)
		return SOTTO_ERR_TOO_LARGE;
	wire_writer_init(&w, out, out_cap);
	wire_writer_u8(&w, INVITER_STATE_VERSION);
	wire_writer_u8(&w, inv->used ? INVITER_USED : INVITER_PENDING);
	wire_writer_bytes(&w, inv->i1.priv, KEY_LEN);
	wire_writer_bytes(&w, inv->i2.priv, KEY_LEN);
	wire_writer_bytes(&w, inv->invitation, sizeof(inv->invitation));
	return wire_writer_finish(&w, out_len);
}

/* A pending inviter's private keys must give the invitation's public keys. */
static sotto_err inviter_keys_check(struct handshake_inviter *inv,
                                    const struct handshake_invitation *parsed)
{
	if (x25519_keypair_from_private(inv->i1.priv, &inv->i1) != SOTTO_OK ||
	    x25519_keypair_from_private(inv->i2.priv, &inv->i2) != SOTTO_OK ||
	    !ct_equal(inv->i1.pub, parsed->key1, KEY_LEN) ||
	    !ct_equal(inv->i2.pub, parsed->key2, KEY_LEN))
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	return SOTTO_OK;
}

sotto_err handshake_inviter_deserialize(struct sotto_ctx *ctx, const uint8_t *in, size_t in_len,
                                        struct handshake_inviter **out)
{
	struct handshake_inviter *inv = NULL;
	struct handshake_invitation parsed;
	struct wire_reader rd;
	uint8_t version, state;
	sotto_err rc;

	*out = NULL;
	if (in_len != INVITER_STATE_LEN) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	if ((rc = inviter_alloc(ctx, &inv)) != SOTTO_OK)
		goto out;
	wire_reader_init(&rd, in, in_len);
	version = wire_reader_u8(&rd);
	state = wire_reader_u8(&rd);
	wire_reader_copy(&rd, inv->i1.priv, KEY_LEN);
	wire_reader_copy(&rd, inv->i2.priv, KEY_LEN);
	wire_reader_copy(&rd, inv->invitation, sizeof(inv->invitation));
	rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	if (wire_reader_finish(&rd) != SOTTO_OK || version != INVITER_STATE_VERSION ||
	    (state != INVITER_PENDING && state != INVITER_USED) ||
	    handshake_invitation_parse(inv->invitation, sizeof(inv->invitation), &parsed) !=
	            SOTTO_OK)
		goto out;
	inv->versions = parsed.versions;
	inv->used = state == INVITER_USED;
	if (inv->used && (!ct_is_zero(inv->i1.priv, KEY_LEN) || !ct_is_zero(inv->i2.priv, KEY_LEN)))
		goto out;
	if (!inv->used && (rc = inviter_keys_check(inv, &parsed)) != SOTTO_OK)
		goto out;
	*out = inv;
	inv = NULL; /* moved */
	rc = SOTTO_OK;
out:
	handshake_inviter_free(inv);
	return rc;
}

/* ---- joiner (§3.3) ---- */

static void hello_encode(uint16_t version, const uint8_t j1[static KEY_LEN],
                         const uint8_t j2[static KEY_LEN], uint8_t out[static PROTO_HELLO_V1_LEN])
{
	struct wire_writer w;

	wire_writer_init(&w, out, PROTO_HELLO_V1_LEN);
	wire_writer_u8(&w, PROTO_HELLO_TYPE);
	wire_writer_u16(&w, version);
	wire_writer_bytes(&w, j1, KEY_LEN);
	wire_writer_bytes(&w, j2, KEY_LEN);
	wire_writer_u8(&w, PROTO_KEM_NONE);
	wire_writer_lp16(&w, NULL, 0, PROTO_KEM_DATA_MAX);
	size_t len = 0;
	sotto_err rc = wire_writer_finish(&w, &len);
	(void)SOTTO_INVARIANT(rc == SOTTO_OK && len == PROTO_HELLO_V1_LEN);
}

sotto_err handshake_join(struct sotto_ctx *ctx, const struct handshake_invitation *inv,
                         uint8_t *hello, size_t hello_cap, size_t *hello_len, struct ratchet **out)
{
	struct x25519_keypair j1, j2;
	struct ratchet_init init;
	/* DH1 = DH(J1, I2), DH2 = DH(J2, I1), DH3 = DH(J2, I2) */
	const struct x3dh_dh dh[X3DH_N_DH] = {
	        {j1.priv, inv->key2}, {j2.priv, inv->key1}, {j2.priv, inv->key2}};
	uint16_t version = 0;
	sotto_err rc;

	*out = NULL;
	*hello_len = 0;
	sodium_memzero(&j1, sizeof(j1));
	sodium_memzero(&j2, sizeof(j2));
	sodium_memzero(&init, sizeof(init));
	if ((rc = version_negotiate(proto_versions, inv->versions, &version)) != SOTTO_OK)
		goto out;
	if (inv->kem_type != PROTO_KEM_NONE || inv->encoded_len != sizeof(inv->encoded)) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	if (hello_cap < PROTO_HELLO_V1_LEN) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	x25519_keypair_generate(ctx, &j1);
	x25519_keypair_generate(ctx, &j2);
	hello_encode(version, j1.pub, j2.pub, hello);
	x3dh_ad(inv->encoded, inv->encoded_len, hello, PROTO_HELLO_V1_LEN, init.ad);
	if ((rc = x3dh_derive(dh, &init)) != SOTTO_OK)
		goto out;
	if ((rc = ratchet_new_joiner(ctx, &init, inv->key2, out)) != SOTTO_OK)
		goto out;
	*hello_len = PROTO_HELLO_V1_LEN;
out:
	x25519_keypair_clear(&j1);
	x25519_keypair_clear(&j2);
	sodium_memzero(&init, sizeof(init));
	return rc;
}

/* ---- inviter (§3.3) ---- */

/* Reads the hello at the start of msg; the rest must hold a ratchet message. */
static sotto_err hello_parse(const struct handshake_inviter *inv, const uint8_t *msg,
                             size_t msg_len, struct hello *h)
{
	struct wire_reader rd;
	uint16_t lo = inv->versions.min > PROTO_VERSION_MIN ? inv->versions.min : PROTO_VERSION_MIN;
	uint16_t hi = inv->versions.max < PROTO_VERSION_MAX ? inv->versions.max : PROTO_VERSION_MAX;
	sotto_err rc;

	wire_reader_init(&rd, msg, msg_len);
	uint8_t type = wire_reader_u8(&rd);
	if (wire_reader_error(&rd) == SOTTO_OK && type != PROTO_HELLO_TYPE)
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	uint16_t version = wire_reader_u16(&rd);
	if (wire_reader_error(&rd) == SOTTO_OK && (version < lo || version > hi))
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	wire_reader_copy(&rd, h->j1, KEY_LEN);
	wire_reader_copy(&rd, h->j2, KEY_LEN);
	uint8_t kem_type = wire_reader_u8(&rd);
	uint16_t kem_len = wire_reader_u16(&rd);
	if (wire_reader_error(&rd) == SOTTO_OK && (kem_type != PROTO_KEM_NONE || kem_len != 0))
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	if ((rc = wire_reader_error(&rd)) != SOTTO_OK)
		return rc;
	h->msg_len = wire_reader_remaining(&rd);
	h->len = msg_len - h->msg_len;
	h->msg = msg + h->len;
	/* A first message always carries a ratchet message after its hello. */
	if (h->msg_len < RATCHET_OVERHEAD)
		return SOTTO_RAISE(SOTTO_ERR_TRUNCATED);
	return SOTTO_OK;
}

sotto_err handshake_accept(struct handshake_inviter *inv, const uint8_t *msg, size_t msg_len,
                           uint8_t *pt, size_t pt_cap, size_t *pt_len, struct ratchet **out)
{
	struct ratchet_init init;
	struct ratchet *r = NULL;
	struct hello h;
	/* DH1 = DH(I2, J1), DH2 = DH(I1, J2), DH3 = DH(I2, J2): the joiner's, mirrored */
	const struct x3dh_dh dh[X3DH_N_DH] = {
	        {inv->i2.priv, h.j1}, {inv->i1.priv, h.j2}, {inv->i2.priv, h.j2}};
	sotto_err rc;

	*out = NULL;
	*pt_len = 0;
	sodium_memzero(&init, sizeof(init));
	if (inv->used) {
		rc = SOTTO_ERR_USED;
		goto out;
	}
	if ((rc = hello_parse(inv, msg, msg_len, &h)) != SOTTO_OK)
		goto out;
	x3dh_ad(inv->invitation, sizeof(inv->invitation), msg, h.len, init.ad);
	if ((rc = x3dh_derive(dh, &init)) != SOTTO_OK)
		goto out;
	if ((rc = ratchet_new_inviter(inv->ctx, &init, &inv->i2, &r)) != SOTTO_OK)
		goto out;
	if ((rc = ratchet_decrypt(r, h.msg, h.msg_len, pt, pt_cap, pt_len)) != SOTTO_OK)
		goto out;
	/* The invitation is spent: nothing can open a second session from it. */
	x25519_keypair_clear(&inv->i1);
	x25519_keypair_clear(&inv->i2);
	inv->used = true;
	*out = r;
	r = NULL; /* moved */
out:
	sodium_memzero(&init, sizeof(init));
	ratchet_free(r);
	return rc;
}

/* ---- security code (§3.8) ---- */

sotto_err handshake_security_code(const struct ratchet *r, char *text, size_t text_cap)
{
	struct blake2b_state st;
	uint8_t code[BLAKE2B_LEN];
	size_t pos = 0;

	if (text_cap < PROTO_CODE_TEXT_LEN + 1) {
		if (text_cap > 0)
			text[0] = '\0';
		return SOTTO_ERR_TOO_LARGE;
	}
	blake2b_init(&st);
	blake2b_update(&st, label_verify, LABEL_LEN(label_verify));
	blake2b_update(&st, ratchet_ad(r), PROTO_AD_LEN);
	blake2b_final(&st, code);
	for (size_t g = 0; g < PROTO_CODE_GROUPS; g++) {
		uint64_t v = 0;
		for (size_t i = 0; i < CODE_GROUP_BYTES; i++)
			v = v << 8 | code[g * CODE_GROUP_BYTES + i];
		v %= CODE_GROUP_MOD;
		if (g > 0)
			text[pos++] = ' ';
		for (size_t d = CODE_GROUP_DIGITS; d > 0; d--) {
			text[pos + d - 1] = (char)('0' + v % 10);
			v /= 10;
		}
		pos += CODE_GROUP_DIGITS;
	}
	text[pos] = '\0';
	sodium_memzero(code, sizeof(code));
	return SOTTO_OK;
}
