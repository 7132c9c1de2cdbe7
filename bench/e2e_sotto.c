/* SPDX-License-Identifier: MIT */
/*
 * e2e_sotto.c - sotto's end-to-end layer (src/proto) as an implementation
 * for bench/e2e, the baseline of its table.
 *
 * Roles: Bob is the inviter and Alice the joiner (docs/protocol.md §3.2-3.4),
 * which is what the harness expects: Bob publishes his half (the
 * invitation), Alice sends the first message (hello + first ratchet
 * message), and Bob can answer once he has received it. (An inviter cannot
 * send before it has received: SOTTO_ERR_STATE.)
 *
 * Sessions stay in memory between messages, as a client keeps them, and
 * are never deserialised in the timed loops (like Olm here). Persistence is
 * counted the way sotto's client store will do it: after every change, the
 * side that changed serialises its state (ratchet_serialize, §3.7; the
 * inviter state of §3.2 for a pending or used invitation), seals the bytes
 * with XChaCha20-Poly1305 under its own 32-byte store key and a random
 * 24-byte nonce, and wipes the plaintext copy. The sealed record, nonce ||
 * ciphertext || tag, is what it would write to its database.
 *
 * Per session (op "session setup"): Bob makes the invitation and seals his
 * pending inviter state; Alice parses the invitation, joins (hello) and
 * encrypts the first message after the hello, and seals her session; Bob
 * accepts it (X3DH, his first DH ratchet step, decryption), seals his
 * session and his now used inviter state (which a client keeps so that a
 * second hello fails with SOTTO_ERR_USED), and frees the inviter. Nothing is
 * made once per device: sotto has no long-term identity keys.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <sotto/sotto.h>

#include "core/ctx.h"
#include "crypto/aead.h"
#include "proto/handshake.h"
#include "proto/limits.h"
#include "proto/ratchet.h"

#include "e2e.h"

enum {
	SO_STORE_KEY_LEN = AEAD_KEY_LEN,
	SO_INVITER_STATE_LEN = 138, /* docs/protocol.md §3.2, inviter state */
	SO_PLAIN_CAP = RATCHET_STATE_MAX,
	SO_SEALED_CAP = AEAD_X_NONCE_LEN + SO_PLAIN_CAP + AEAD_TAG_LEN,
	SO_WIRE_CAP = PROTO_HELLO_V1_LEN + RATCHET_OVERHEAD + E2E_MSG_MAX,
};

/* A sealed record as the client store would write it: nonce || ciphertext || tag. */
struct so_record {
	uint8_t *p; /* SO_SEALED_CAP bytes, malloc'd */
	size_t len; /* 0: nothing stored yet */
};

struct so_party {
	struct ratchet *session;             /* the live session; NULL before a setup */
	struct so_record session_rec;        /* last persisted session */
	struct so_record inviter_rec;        /* Bob: last persisted inviter state */
	uint8_t store_key[SO_STORE_KEY_LEN]; /* this device's database key */
};

struct so_bench {
	sotto_ctx *ctx;
	struct so_party alice; /* the joiner */
	struct so_party bob;   /* the inviter */
	uint8_t *plain;        /* a serialised state before sealing; wiped after each use */
	uint8_t *wire;         /* the message in flight (hello + message for the first) */
	uint8_t *pt;           /* decrypted plaintext */
	struct e2e_sizes sizes;
	bool seal; /* false: the "sotto-plain" row stores states unsealed */
};

/* Each record kind has its own associated data, as a store binds its tables. */
static const uint8_t so_ad_session[] = "sotto/bench/session";
static const uint8_t so_ad_inviter[] = "sotto/bench/inviter";

static int so_fail(const char *what, sotto_err rc)
{
	fprintf(stderr, "sotto: %s: %s\n", what, sotto_strerror(rc));
	return -1;
}

/* Seals b->plain[0 .. len) into rec under key, then wipes the plaintext. */
static int so_seal(struct so_bench *b, struct so_record *rec, const uint8_t *ad, size_t ad_len,
                   const uint8_t key[static SO_STORE_KEY_LEN], size_t len)
{
	sotto_err rc;

	if (!b->seal) {
		/* Like-for-like with the signal row, whose records are stored in the clear. */
		memcpy(rec->p, b->plain, len);
		sodium_memzero(b->plain, len);
		rec->len = len;
		return 0;
	}
	ctx_random(b->ctx, rec->p, AEAD_X_NONCE_LEN); /* the context's RNG, as the store will */
	rc = aead_x_encrypt(rec->p + AEAD_X_NONCE_LEN, b->plain, len, ad, ad_len, rec->p, key);
	sodium_memzero(b->plain, len);
	if (rc != SOTTO_OK)
		return so_fail("seal state", rc);
	rec->len = AEAD_X_NONCE_LEN + len + AEAD_TAG_LEN;
	return 0;
}

/* Opens rec into b->plain; *len gets the plaintext length. */
static int so_unseal(struct so_bench *b, const struct so_record *rec, const uint8_t *ad,
                     size_t ad_len, const uint8_t key[static SO_STORE_KEY_LEN], size_t *len)
{
	sotto_err rc;

	*len = 0;
	if (!b->seal) {
		memcpy(b->plain, rec->p, rec->len);
		*len = rec->len;
		return 0;
	}
	if (rec->len < AEAD_X_NONCE_LEN + AEAD_TAG_LEN)
		return so_fail("unseal state", SOTTO_ERR_CORRUPT);
	rc = aead_x_decrypt(b->plain, rec->p + AEAD_X_NONCE_LEN, rec->len - AEAD_X_NONCE_LEN, ad,
	                    ad_len, rec->p, key);
	if (rc != SOTTO_OK)
		return so_fail("unseal state", rc);
	*len = rec->len - AEAD_X_NONCE_LEN - AEAD_TAG_LEN;
	return 0;
}

/* Persists p's session: serialise (§3.7), seal, wipe the plaintext. */
static int so_persist_session(struct so_bench *b, struct so_party *p)
{
	size_t len = 0;
	sotto_err rc = ratchet_serialize(p->session, b->plain, SO_PLAIN_CAP, &len);

	if (rc != SOTTO_OK)
		return so_fail("serialise session", rc);
	return so_seal(b, &p->session_rec, so_ad_session, sizeof so_ad_session - 1, p->store_key,
	               len);
}

/* Persists Bob's inviter state (§3.2: pending, or used after a hello). */
static int so_persist_inviter(struct so_bench *b, const struct handshake_inviter *inv)
{
	size_t len = 0;
	sotto_err rc = handshake_inviter_serialize(inv, b->plain, SO_PLAIN_CAP, &len);

	if (rc != SOTTO_OK)
		return so_fail("serialise inviter", rc);
	if (len != SO_INVITER_STATE_LEN) {
		sodium_memzero(b->plain, len);
		return so_fail("inviter state length", SOTTO_ERR_INTERNAL);
	}
	return so_seal(b, &b->bob.inviter_rec, so_ad_inviter, sizeof so_ad_inviter - 1,
	               b->bob.store_key, len);
}

static void so_party_clear(struct so_party *p)
{
	ratchet_free(p->session);
	if (p->session_rec.p != NULL)
		sodium_memzero(p->session_rec.p, SO_SEALED_CAP);
	if (p->inviter_rec.p != NULL)
		sodium_memzero(p->inviter_rec.p, SO_SEALED_CAP);
	free(p->session_rec.p);
	free(p->inviter_rec.p);
	sodium_memzero(p, sizeof *p);
}

static int so_party_init(struct so_party *p)
{
	memset(p, 0, sizeof *p);
	p->session_rec.p = malloc(SO_SEALED_CAP);
	p->inviter_rec.p = malloc(SO_SEALED_CAP);
	if (p->session_rec.p == NULL || p->inviter_rec.p == NULL)
		return -1;
	randombytes_buf(p->store_key, sizeof p->store_key);
	return 0;
}

static void so_destroy(void *st)
{
	struct so_bench *b = st;

	if (b == NULL)
		return;
	so_party_clear(&b->alice);
	so_party_clear(&b->bob);
	if (b->plain != NULL)
		sodium_memzero(b->plain, SO_PLAIN_CAP);
	if (b->pt != NULL)
		sodium_memzero(b->pt, E2E_MSG_MAX);
	free(b->plain);
	free(b->wire);
	free(b->pt);
	sotto_ctx_free(b->ctx);
	free(b);
}

static int so_create_with(void **st, bool seal)
{
	struct so_bench *b = calloc(1, sizeof *b);
	sotto_err rc;

	*st = NULL;
	if (b == NULL)
		goto fail;
	b->seal = seal;
	/* Defaults: libsodium's RNG, sodium_malloc for secrets, as in production. */
	if ((rc = sotto_ctx_new(&b->ctx, NULL)) != SOTTO_OK) {
		(void)so_fail("context", rc);
		goto fail;
	}
	b->plain = malloc(SO_PLAIN_CAP);
	b->wire = malloc(SO_WIRE_CAP);
	b->pt = malloc(E2E_MSG_MAX);
	if (b->plain == NULL || b->wire == NULL || b->pt == NULL)
		goto fail;
	if (so_party_init(&b->alice) != 0 || so_party_init(&b->bob) != 0)
		goto fail;
	*st = b;
	return 0;
fail:
	fprintf(stderr, "sotto: create failed\n");
	so_destroy(b);
	return -1;
}

static int so_create(void **st)
{
	return so_create_with(st, true);
}

static int so_create_plain(void **st)
{
	return so_create_with(st, false);
}

/* ---- messages ------------------------------------------------------------ */

/* to decrypts b->wire[0 .. len), checks it is msg, and persists its session. */
static int so_receive(struct so_bench *b, struct so_party *to, size_t wire_len, const uint8_t *msg,
                      size_t len)
{
	size_t pt_len = 0;
	sotto_err rc = ratchet_decrypt(to->session, b->wire, wire_len, b->pt, E2E_MSG_MAX, &pt_len);

	if (rc != SOTTO_OK)
		return so_fail("decrypt", rc);
	if (pt_len != len || memcmp(b->pt, msg, len) != 0) {
		fprintf(stderr, "sotto: decrypted plaintext differs from what was sent\n");
		return -1;
	}
	return so_persist_session(b, to);
}

static int so_send(void *st, enum e2e_dir dir, const uint8_t *msg, size_t len)
{
	struct so_bench *b = st;
	struct so_party *from = dir == E2E_ALICE_TO_BOB ? &b->alice : &b->bob;
	struct so_party *to = dir == E2E_ALICE_TO_BOB ? &b->bob : &b->alice;
	size_t wire_len = 0;
	sotto_err rc;

	if (from->session == NULL || to->session == NULL)
		return so_fail("send", SOTTO_ERR_STATE);
	rc = ratchet_encrypt(from->session, msg, len, b->wire, SO_WIRE_CAP, &wire_len);
	if (rc != SOTTO_OK)
		return so_fail("encrypt", rc);
	if (so_persist_session(b, from) != 0 || so_receive(b, to, wire_len, msg, len) != 0)
		return -1;
	b->sizes = (struct e2e_sizes){.wire_len = wire_len,
	                              .sender_state_len = from->session_rec.len,
	                              .receiver_state_len = to->session_rec.len};
	return 0;
}

/* ---- session setup ------------------------------------------------------- */

/*
 * Alice: parses the invitation, joins, encrypts msg after the hello into
 * b->wire, and persists her session; *wire_len gets hello + message bytes.
 */
static int so_alice_join(struct so_bench *b, const uint8_t *invitation, size_t invitation_len,
                         const uint8_t *msg, size_t len, size_t *wire_len)
{
	struct handshake_invitation parsed;
	size_t hello_len = 0, msg_len = 0;
	sotto_err rc;

	*wire_len = 0;
	if ((rc = handshake_invitation_parse(invitation, invitation_len, &parsed)) != SOTTO_OK)
		return so_fail("parse invitation", rc);
	rc = handshake_join(b->ctx, &parsed, b->wire, SO_WIRE_CAP, &hello_len, &b->alice.session);
	if (rc != SOTTO_OK)
		return so_fail("join", rc);
	rc = ratchet_encrypt(b->alice.session, msg, len, b->wire + hello_len,
	                     SO_WIRE_CAP - hello_len, &msg_len);
	if (rc != SOTTO_OK)
		return so_fail("first message", rc);
	*wire_len = hello_len + msg_len;
	return so_persist_session(b, &b->alice);
}

/* Bob: accepts the first message, checks it, persists his session and inviter state. */
static int so_bob_accept(struct so_bench *b, struct handshake_inviter *inv, size_t wire_len,
                         const uint8_t *msg, size_t len)
{
	size_t pt_len = 0;
	sotto_err rc;

	rc = handshake_accept(inv, b->wire, wire_len, b->pt, E2E_MSG_MAX, &pt_len, &b->bob.session);
	if (rc != SOTTO_OK)
		return so_fail("accept", rc);
	if (pt_len != len || memcmp(b->pt, msg, len) != 0) {
		fprintf(stderr, "sotto: first message differs from what was sent\n");
		return -1;
	}
	if (so_persist_session(b, &b->bob) != 0)
		return -1;
	return so_persist_inviter(b, inv);
}

static int so_session_setup(void *st, const uint8_t *msg, size_t len)
{
	struct so_bench *b = st;
	struct handshake_inviter *inv = NULL;
	const uint8_t *invitation;
	size_t invitation_len = 0, wire_len = 0;
	sotto_err rc;
	int ret = -1;

	/* A new contact: neither side keeps the previous iteration's session. */
	ratchet_free(b->alice.session);
	ratchet_free(b->bob.session);
	b->alice.session = NULL;
	b->bob.session = NULL;
	if ((rc = handshake_invite_new(b->ctx, &inv)) != SOTTO_OK) {
		(void)so_fail("invite", rc);
		goto out;
	}
	invitation = handshake_invitation_bytes(inv, &invitation_len);
	if (so_persist_inviter(b, inv) != 0)
		goto out;
	if (so_alice_join(b, invitation, invitation_len, msg, len, &wire_len) != 0)
		goto out;
	if (so_bob_accept(b, inv, wire_len, msg, len) != 0)
		goto out;
	b->sizes = (struct e2e_sizes){.wire_len = wire_len,
	                              .sender_state_len = b->alice.session_rec.len,
	                              .receiver_state_len = b->bob.session_rec.len,
	                              .published_len = invitation_len};
	ret = 0;
out:
	handshake_inviter_free(inv);
	return ret;
}

static const uint8_t so_hello[] = "a fixed message that establishes and checks sessions";

static int so_establish(void *st)
{
	if (so_session_setup(st, so_hello, sizeof so_hello) != 0)
		return -1;
	return so_send(st, E2E_BOB_TO_ALICE, so_hello, sizeof so_hello);
}

/* ---- persisted state ----------------------------------------------------- */

/* Replaces p's live session by the one its last sealed record holds. */
static int so_reload_session(struct so_bench *b, struct so_party *p)
{
	struct ratchet *r = NULL;
	size_t len = 0;
	sotto_err rc;

	if (so_unseal(b, &p->session_rec, so_ad_session, sizeof so_ad_session - 1, p->store_key,
	              &len) != 0)
		return -1;
	rc = ratchet_deserialize(b->ctx, b->plain, len, &r);
	sodium_memzero(b->plain, len);
	if (rc != SOTTO_OK)
		return so_fail("deserialise session", rc);
	ratchet_free(p->session);
	p->session = r;
	return 0;
}

/*
 * Bob's sealed inviter state must also restore, as a used invitation: one
 * that refuses any further hello (here the last bytes that crossed).
 */
static int so_check_inviter(struct so_bench *b)
{
	struct handshake_inviter *inv = NULL;
	struct ratchet *r = NULL;
	size_t len = 0, pt_len = 0;
	sotto_err rc;
	int ret = -1;

	if (b->bob.inviter_rec.len == 0)
		return 0;
	if (so_unseal(b, &b->bob.inviter_rec, so_ad_inviter, sizeof so_ad_inviter - 1,
	              b->bob.store_key, &len) != 0)
		return -1;
	rc = handshake_inviter_deserialize(b->ctx, b->plain, len, &inv);
	sodium_memzero(b->plain, len);
	if (rc != SOTTO_OK) {
		(void)so_fail("deserialise inviter", rc);
		goto out;
	}
	rc = handshake_accept(inv, b->wire, b->sizes.wire_len, b->pt, E2E_MSG_MAX, &pt_len, &r);
	if (rc != SOTTO_ERR_USED) {
		(void)so_fail("restored inviter accepts a second hello", rc);
		goto out;
	}
	ret = 0;
out:
	ratchet_free(r);
	handshake_inviter_free(inv);
	return ret;
}

static int so_verify_persisted(void *st)
{
	struct so_bench *b = st;
	struct e2e_sizes keep = b->sizes;
	int rc = -1;

	if (so_check_inviter(b) != 0)
		goto out;
	if (so_reload_session(b, &b->alice) != 0 || so_reload_session(b, &b->bob) != 0)
		goto out;
	if (so_send(st, E2E_BOB_TO_ALICE, so_hello, sizeof so_hello) != 0 ||
	    so_send(st, E2E_ALICE_TO_BOB, so_hello, sizeof so_hello) != 0)
		goto out;
	rc = 0;
out:
	b->sizes = keep;
	return rc;
}

static void so_last_sizes(const void *st, struct e2e_sizes *out)
{
	*out = ((const struct so_bench *)st)->sizes;
}

static const char *so_version(void)
{
	static char text[64];

	(void)snprintf(text, sizeof text, "sotto %s (libsodium %s)", sotto_version(),
	               sodium_version_string());
	return text;
}

const struct e2e_impl e2e_sotto = {
        .name = "sotto",
        .notes = "setup: Bob's invitation (inviter state sealed), Alice parses it, joins and "
                 "sends hello + first message, Bob accepts and decrypts (session and used "
                 "inviter state sealed); sessions stay in memory, never deserialised in the "
                 "timed loops; every op serialises the session of each side (400 B, "
                 "protocol.md 3.7) and seals it with XChaCha20-Poly1305 under that side's "
                 "store key; messages are binary",
        .version = so_version,
        .create = so_create,
        .destroy = so_destroy,
        .session_setup = so_session_setup,
        .establish = so_establish,
        .send = so_send,
        .last_sizes = so_last_sizes,
        .verify_persisted = so_verify_persisted,
};

/*
 * The same, with each state stored as serialised but not sealed: the signal
 * row stores its protobuf records in the clear (at-rest encryption is left to
 * the application there), so this row compares the protocols like for like.
 * A sotto client always seals.
 */
const struct e2e_impl e2e_sotto_plain = {
        .name = "sotto-plain",
        .notes = "as sotto, but every op stores the serialised states unsealed (a copy), "
                 "like the signal row's plaintext records",
        .version = so_version,
        .create = so_create_plain,
        .destroy = so_destroy,
        .session_setup = so_session_setup,
        .establish = so_establish,
        .send = so_send,
        .last_sizes = so_last_sizes,
        .verify_persisted = so_verify_persisted,
};
