/* SPDX-License-Identifier: MIT */
/*
 * e2e_olm.c - libolm (Apache-2.0) as an implementation for bench/e2e.
 *
 * Olm keeps its sessions in memory and hands persistence to the caller as
 * "pickles": the whole object serialised, encrypted under a caller-chosen
 * pickle key and base64-encoded. A real client must persist a session after
 * every encrypt and decrypt (or it would reuse or lose keys after a crash),
 * so every operation here pickles the session of each side that changed, and
 * Bob's account whenever his one-time keys change. It never unpickles in the
 * timed loops: a client loads a session once and keeps it. verify_persisted()
 * rebuilds both sides from their last pickles to prove they were complete.
 *
 * Olm's messages come out of olm_encrypt() base64-encoded, which is what
 * crosses here; the library decodes them in place, destroying its input.
 *
 * Per session (op "session setup") Bob makes one one-time key, reads it
 * (olm's JSON) and marks it published, pickling his account; Alice, who has
 * Bob's identity key from his (once-made) account, makes the outbound
 * session and encrypts the first message (a pre-key message); Bob makes the
 * inbound session from it, removes the one-time key and decrypts. Accounts
 * (identity keys) are made once per device in create(). Olm itself signs
 * nothing here: the signature a Matrix client puts on one-time keys
 * (signed_curve25519) is the application's, and is not counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <olm/olm.h>

#include "e2e.h"

enum {
	OLM_KEY_B64_LEN = 43, /* an unpadded base64 Curve25519 public key */
	OLM_RANDOM_MAX = 256, /* the most random bytes any call below asks for */
	OLM_PICKLE_KEY_LEN = 32,
	OLM_JSON_MAX = 256, /* identity keys or one one-time key, as JSON */
};

/* A growable byte buffer; grows by free + malloc, never realloc. */
struct olm_buf {
	uint8_t *p;
	size_t cap;
	size_t len;
};

struct olm_party {
	void *account_mem;
	void *session_mem;
	OlmAccount *account;
	OlmSession *session;
	struct olm_buf account_pickle;          /* last persisted account */
	struct olm_buf session_pickle;          /* last persisted session */
	char identity_key[OLM_KEY_B64_LEN + 1]; /* Curve25519, base64 */
};

struct olm_bench {
	struct olm_party alice;
	struct olm_party bob;
	uint8_t pickle_key[OLM_PICKLE_KEY_LEN];
	uint8_t random[OLM_RANDOM_MAX];
	struct olm_buf wire;    /* the message in flight, base64 */
	struct olm_buf scratch; /* a copy for the calls that consume their input */
	struct olm_buf plain;   /* decrypted plaintext */
	struct e2e_sizes sizes;
};

static int olm_buf_reserve(struct olm_buf *b, size_t need)
{
	uint8_t *p;

	if (need <= b->cap)
		return 0;
	p = malloc(need);
	if (p == NULL) {
		fprintf(stderr, "olm: out of memory\n");
		return -1;
	}
	if (b->p != NULL)
		OPENSSL_cleanse(b->p, b->cap);
	free(b->p);
	b->p = p;
	b->cap = need;
	b->len = 0;
	return 0;
}

static void olm_buf_clear(struct olm_buf *b)
{
	if (b->p != NULL)
		OPENSSL_cleanse(b->p, b->cap);
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Fills the first n bytes of b->random; olm takes its randomness from the caller. */
static uint8_t *olm_random(struct olm_bench *b, size_t n)
{
	if (n > OLM_RANDOM_MAX || RAND_bytes(b->random, (int)n) != 1) {
		fprintf(stderr, "olm: cannot get %zu random bytes\n", n);
		return NULL;
	}
	return b->random;
}

static int olm_fail_session(const char *what, const OlmSession *s)
{
	fprintf(stderr, "olm: %s: %s\n", what, olm_session_last_error(s));
	return -1;
}

static int olm_fail_account(const char *what, const OlmAccount *a)
{
	fprintf(stderr, "olm: %s: %s\n", what, olm_account_last_error(a));
	return -1;
}

/* Persists p's session: the pickle a client would write to its database. */
static int olm_persist_session(struct olm_bench *b, struct olm_party *p)
{
	size_t n = olm_pickle_session_length(p->session);

	if (olm_buf_reserve(&p->session_pickle, n) != 0)
		return -1;
	n = olm_pickle_session(p->session, b->pickle_key, sizeof b->pickle_key, p->session_pickle.p,
	                       p->session_pickle.cap);
	if (n == olm_error())
		return olm_fail_session("pickle session", p->session);
	p->session_pickle.len = n;
	return 0;
}

static int olm_persist_account(struct olm_bench *b, struct olm_party *p)
{
	size_t n = olm_pickle_account_length(p->account);

	if (olm_buf_reserve(&p->account_pickle, n) != 0)
		return -1;
	n = olm_pickle_account(p->account, b->pickle_key, sizeof b->pickle_key, p->account_pickle.p,
	                       p->account_pickle.cap);
	if (n == olm_error())
		return olm_fail_account("pickle account", p->account);
	p->account_pickle.len = n;
	return 0;
}

/*
 * Copies the base64 string value that follows marker in olm's JSON (e.g.
 * {"curve25519":"KEY",...}) into out, which gets a NUL. For one-time keys,
 * {"curve25519":{"ID":"KEY"}}, the marker ends at the ID's opening quote and
 * the value after the ID is taken.
 */
static int olm_json_key(const char *json, const char *marker, int skip_id,
                        char out[static OLM_KEY_B64_LEN + 1])
{
	const char *v = strstr(json, marker);
	const char *end;

	if (v == NULL)
		return -1;
	v += strlen(marker);
	if (skip_id) {
		v = strstr(v, "\":\"");
		if (v == NULL)
			return -1;
		v += 3;
	}
	end = strchr(v, '"');
	if (end == NULL || end - v != OLM_KEY_B64_LEN)
		return -1;
	memcpy(out, v, OLM_KEY_B64_LEN);
	out[OLM_KEY_B64_LEN] = '\0';
	return 0;
}

static int olm_party_init(struct olm_bench *b, struct olm_party *p)
{
	char json[OLM_JSON_MAX + 1];
	size_t n;
	uint8_t *rnd;

	p->account_mem = malloc(olm_account_size());
	p->session_mem = malloc(olm_session_size());
	if (p->account_mem == NULL || p->session_mem == NULL)
		return -1;
	p->account = olm_account(p->account_mem);
	p->session = olm_session(p->session_mem);
	n = olm_create_account_random_length(p->account);
	if ((rnd = olm_random(b, n)) == NULL)
		return -1;
	if (olm_create_account(p->account, rnd, n) == olm_error())
		return olm_fail_account("create account", p->account);
	if (olm_account_identity_keys_length(p->account) > OLM_JSON_MAX)
		return -1;
	n = olm_account_identity_keys(p->account, json, OLM_JSON_MAX);
	if (n == olm_error())
		return olm_fail_account("identity keys", p->account);
	json[n] = '\0';
	if (olm_json_key(json, "\"curve25519\":\"", 0, p->identity_key) != 0) {
		fprintf(stderr, "olm: unexpected identity key JSON\n");
		return -1;
	}
	return olm_persist_account(b, p);
}

static void olm_party_clear(struct olm_party *p)
{
	if (p->session != NULL)
		olm_clear_session(p->session);
	if (p->account != NULL)
		olm_clear_account(p->account);
	free(p->session_mem);
	free(p->account_mem);
	olm_buf_clear(&p->account_pickle);
	olm_buf_clear(&p->session_pickle);
	memset(p, 0, sizeof *p);
}

static void olm_bench_destroy(void *st)
{
	struct olm_bench *b = st;

	if (b == NULL)
		return;
	olm_party_clear(&b->alice);
	olm_party_clear(&b->bob);
	olm_buf_clear(&b->wire);
	olm_buf_clear(&b->scratch);
	olm_buf_clear(&b->plain);
	OPENSSL_cleanse(b, sizeof *b);
	free(b);
}

static int olm_bench_create(void **st)
{
	struct olm_bench *b = calloc(1, sizeof *b);

	*st = NULL;
	if (b == NULL || RAND_bytes(b->pickle_key, sizeof b->pickle_key) != 1)
		goto fail;
	if (olm_party_init(b, &b->alice) != 0 || olm_party_init(b, &b->bob) != 0)
		goto fail;
	/* Every olm message is smaller than 2 * E2E_MSG_MAX (base64 + header). */
	if (olm_buf_reserve(&b->plain, 2 * E2E_MSG_MAX) != 0)
		goto fail;
	*st = b;
	return 0;
fail:
	fprintf(stderr, "olm: create failed\n");
	olm_bench_destroy(b);
	return -1;
}

/* ---- messages ------------------------------------------------------------ */

/* from encrypts msg into b->wire (olm's base64 message) and persists its session. */
static int olm_encrypt_into_wire(struct olm_bench *b, struct olm_party *from, size_t want_type,
                                 const uint8_t *msg, size_t len)
{
	size_t rnd_len = olm_encrypt_random_length(from->session);
	size_t n = olm_encrypt_message_length(from->session, len);
	uint8_t *rnd = olm_random(b, rnd_len);

	if (rnd == NULL || olm_buf_reserve(&b->wire, n) != 0)
		return -1;
	if (olm_encrypt_message_type(from->session) != want_type) {
		fprintf(stderr, "olm: message type %zu, expected %zu\n",
		        olm_encrypt_message_type(from->session), want_type);
		return -1;
	}
	n = olm_encrypt(from->session, msg, len, rnd, rnd_len, b->wire.p, b->wire.cap);
	if (n == olm_error())
		return olm_fail_session("encrypt", from->session);
	b->wire.len = n;
	return olm_persist_session(b, from);
}

/* to decrypts b->wire (consuming it), checks it is msg, and persists its session. */
static int olm_decrypt_wire(struct olm_bench *b, struct olm_party *to, size_t type,
                            const uint8_t *msg, size_t len)
{
	size_t n;

	if (b->wire.len > b->plain.cap)
		return -1;
	n = olm_decrypt(to->session, type, b->wire.p, b->wire.len, b->plain.p, b->plain.cap);
	if (n == olm_error())
		return olm_fail_session("decrypt", to->session);
	if (n != len || memcmp(b->plain.p, msg, len) != 0) {
		fprintf(stderr, "olm: decrypted plaintext differs from what was sent\n");
		return -1;
	}
	return olm_persist_session(b, to);
}

static void olm_note_sizes(struct olm_bench *b, const struct olm_party *from,
                           const struct olm_party *to, size_t wire_len)
{
	b->sizes.published_len = 0;
	b->sizes.wire_len = wire_len;
	b->sizes.sender_state_len = from->session_pickle.len;
	b->sizes.receiver_state_len = to->session_pickle.len;
}

static int olm_send(void *st, enum e2e_dir dir, const uint8_t *msg, size_t len)
{
	struct olm_bench *b = st;
	struct olm_party *from = dir == E2E_ALICE_TO_BOB ? &b->alice : &b->bob;
	struct olm_party *to = dir == E2E_ALICE_TO_BOB ? &b->bob : &b->alice;
	size_t wire_len;

	if (olm_encrypt_into_wire(b, from, OLM_MESSAGE_TYPE_MESSAGE, msg, len) != 0)
		return -1;
	wire_len = b->wire.len;
	if (olm_decrypt_wire(b, to, OLM_MESSAGE_TYPE_MESSAGE, msg, len) != 0)
		return -1;
	olm_note_sizes(b, from, to, wire_len);
	return 0;
}

/* ---- session setup ------------------------------------------------------- */

/* Bob: one fresh one-time key, read as olm publishes it (JSON), account persisted. */
static int olm_bob_publish(struct olm_bench *b, char otk[static OLM_KEY_B64_LEN + 1])
{
	OlmAccount *a = b->bob.account;
	char json[OLM_JSON_MAX + 1];
	size_t rnd_len = olm_account_generate_one_time_keys_random_length(a, 1);
	uint8_t *rnd = olm_random(b, rnd_len);
	size_t n;

	if (rnd == NULL)
		return -1;
	if (olm_account_generate_one_time_keys(a, 1, rnd, rnd_len) == olm_error())
		return olm_fail_account("generate one-time key", a);
	if (olm_account_one_time_keys_length(a) > OLM_JSON_MAX)
		return -1;
	n = olm_account_one_time_keys(a, json, OLM_JSON_MAX);
	if (n == olm_error())
		return olm_fail_account("one-time keys", a);
	json[n] = '\0';
	if (olm_json_key(json, "{\"curve25519\":{\"", 1, otk) != 0) {
		fprintf(stderr, "olm: unexpected one-time key JSON: %s\n", json);
		return -1;
	}
	if (olm_account_mark_keys_as_published(a) == olm_error())
		return olm_fail_account("mark published", a);
	return olm_persist_account(b, &b->bob);
}

/* Alice: the outbound session from Bob's keys, and the first (pre-key) message. */
static int olm_alice_start(struct olm_bench *b, const char otk[static OLM_KEY_B64_LEN + 1],
                           const uint8_t *msg, size_t len)
{
	OlmSession *s = b->alice.session;
	size_t rnd_len = olm_create_outbound_session_random_length(s);
	uint8_t *rnd = olm_random(b, rnd_len);

	if (rnd == NULL)
		return -1;
	if (olm_create_outbound_session(s, b->alice.account, b->bob.identity_key, OLM_KEY_B64_LEN,
	                                otk, OLM_KEY_B64_LEN, rnd, rnd_len) == olm_error())
		return olm_fail_session("create outbound session", s);
	return olm_encrypt_into_wire(b, &b->alice, OLM_MESSAGE_TYPE_PRE_KEY, msg, len);
}

/* Bob: the inbound session from the pre-key message, the one-time key dropped. */
static int olm_bob_accept(struct olm_bench *b, const uint8_t *msg, size_t len)
{
	struct olm_party *bob = &b->bob;

	/* olm_create_inbound_session() decodes its input in place. */
	if (olm_buf_reserve(&b->scratch, b->wire.len) != 0)
		return -1;
	memcpy(b->scratch.p, b->wire.p, b->wire.len);
	if (olm_create_inbound_session(bob->session, bob->account, b->scratch.p, b->wire.len) ==
	    olm_error())
		return olm_fail_session("create inbound session", bob->session);
	if (olm_remove_one_time_keys(bob->account, bob->session) == olm_error())
		return olm_fail_account("remove one-time key", bob->account);
	if (olm_decrypt_wire(b, bob, OLM_MESSAGE_TYPE_PRE_KEY, msg, len) != 0)
		return -1;
	return olm_persist_account(b, bob);
}

static int olm_session_setup(void *st, const uint8_t *msg, size_t len)
{
	struct olm_bench *b = st;
	char otk[OLM_KEY_B64_LEN + 1];
	size_t wire_len;

	/* A new contact: neither side keeps the previous iteration's session. */
	olm_clear_session(b->alice.session);
	olm_clear_session(b->bob.session);
	b->alice.session = olm_session(b->alice.session_mem);
	b->bob.session = olm_session(b->bob.session_mem);
	if (olm_bob_publish(b, otk) != 0 || olm_alice_start(b, otk, msg, len) != 0)
		return -1;
	wire_len = b->wire.len;
	if (olm_bob_accept(b, msg, len) != 0)
		return -1;
	olm_note_sizes(b, &b->alice, &b->bob, wire_len);
	/* Alice needs Bob's identity key and one-time key, base64 as olm gives them. */
	b->sizes.published_len = 2 * OLM_KEY_B64_LEN;
	return 0;
}

static const uint8_t olm_hello[] = "a fixed message that establishes and checks sessions";

static int olm_establish(void *st)
{
	if (olm_session_setup(st, olm_hello, sizeof olm_hello) != 0)
		return -1;
	return olm_send(st, E2E_BOB_TO_ALICE, olm_hello, sizeof olm_hello);
}

/* Replaces p's live session by the one in its last pickle (consumed: copied first). */
static int olm_reload_session(struct olm_bench *b, struct olm_party *p)
{
	if (olm_buf_reserve(&b->scratch, p->session_pickle.len) != 0)
		return -1;
	memcpy(b->scratch.p, p->session_pickle.p, p->session_pickle.len);
	olm_clear_session(p->session);
	p->session = olm_session(p->session_mem);
	if (olm_unpickle_session(p->session, b->pickle_key, sizeof b->pickle_key, b->scratch.p,
	                         p->session_pickle.len) == olm_error())
		return olm_fail_session("unpickle session", p->session);
	return 0;
}

static int olm_reload_account(struct olm_bench *b, struct olm_party *p)
{
	if (olm_buf_reserve(&b->scratch, p->account_pickle.len) != 0)
		return -1;
	memcpy(b->scratch.p, p->account_pickle.p, p->account_pickle.len);
	olm_clear_account(p->account);
	p->account = olm_account(p->account_mem);
	if (olm_unpickle_account(p->account, b->pickle_key, sizeof b->pickle_key, b->scratch.p,
	                         p->account_pickle.len) == olm_error())
		return olm_fail_account("unpickle account", p->account);
	return 0;
}

static int olm_verify_persisted(void *st)
{
	struct olm_bench *b = st;
	struct e2e_sizes keep = b->sizes;
	int rc = -1;

	if (olm_reload_account(b, &b->alice) != 0 || olm_reload_account(b, &b->bob) != 0 ||
	    olm_reload_session(b, &b->alice) != 0 || olm_reload_session(b, &b->bob) != 0)
		goto out;
	if (olm_send(st, E2E_BOB_TO_ALICE, olm_hello, sizeof olm_hello) != 0 ||
	    olm_send(st, E2E_ALICE_TO_BOB, olm_hello, sizeof olm_hello) != 0)
		goto out;
	rc = 0;
out:
	b->sizes = keep;
	return rc;
}

static void olm_last_sizes(const void *st, struct e2e_sizes *out)
{
	*out = ((const struct olm_bench *)st)->sizes;
}

static const char *olm_version_text(void)
{
	static char text[48];
	uint8_t major = 0, minor = 0, patch = 0;

	olm_get_library_version(&major, &minor, &patch);
	(void)snprintf(text, sizeof text, "libolm %u.%u.%u", major, minor, patch);
	return text;
}

const struct e2e_impl e2e_olm = {
        .name = "olm",
        .notes = "setup: Bob's fresh one-time key (account pickled), Alice's outbound session + "
                 "first message, Bob's inbound session + decrypt (account pickled); accounts "
                 "made once per device; every op pickles (AES-256-CBC + HMAC, base64) the "
                 "session of each side, never unpickles; messages are base64",
        .version = olm_version_text,
        .create = olm_bench_create,
        .destroy = olm_bench_destroy,
        .session_setup = olm_session_setup,
        .establish = olm_establish,
        .send = olm_send,
        .last_sizes = olm_last_sizes,
        .verify_persisted = olm_verify_persisted,
};
