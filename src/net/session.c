/* SPDX-License-Identifier: MIT */
/*
 * session.c - the relay transport state machine (net layer); see session.h.
 *
 * Frames (docs/protocol.md, "Transport"):
 *
 *   offset  size  field
 *   0       2     L, big-endian: the length of the Noise message that follows
 *   2       L     one Noise message: 52 (msg1), 50 (msg2) or 16400 (transport)
 *
 *   msg1 body   0  32  e (client ephemeral public key)
 *              32  20  ENCRYPT(payload = u16 min || u16 max of the client's versions)
 *   msg2 body   0  32  e (relay ephemeral public key)
 *              32  18  ENCRYPT(payload = u16 agreed version, 0 = none)
 *   transport   0  16400  ENCRYPT(16384-byte padded block: u16 L, content, zeros)
 *
 * Phases: a client is NEW until net_session_start() and then waits for msg2;
 * a relay waits for msg1; both end OPEN or DEAD. The expected body length
 * is a function of the phase alone, checked as soon as the two length bytes
 * are in, so a peer cannot make us buffer more than one frame of the size we
 * already expect. Complete frames are decrypted where they lie (in the
 * caller's buffer); only a frame split across feeds is copied, into a buffer
 * that lives exactly as long as the frame is incomplete.
 *
 * Memory: the handshake state (static and ephemeral private keys, chaining
 * key) lives in secure memory inside noise.c and is freed at Split. The
 * session struct, which then holds the two transport keys, is ordinary
 * memory wiped on every path that frees it: a relay keeps one per
 * connection, and each guarded allocation costs several memory mappings, so
 * guarded sessions would cap a relay at a few tens of thousands of
 * connections (vm.max_map_count) for keys that die with the connection.
 */
#include <string.h>

#include "core/bytes.h"
#include "core/ctx.h"
#include "core/err.h"
#include "crypto/ct.h"
#include "net/noise.h"
#include "net/session.h"
#include "wire/pad.h"
#include "wire/reader.h"
#include "wire/writer.h"

/* The Noise prologue (§6): binds both sides to this protocol. */
static const char SESSION_PROLOGUE[] = "sotto/transport";

/* Zero-length associated data for transport messages (Noise §5.1). */
static const uint8_t SESSION_NO_AD[1] = {0};

_Static_assert(NET_MSG1_LEN == NOISE_DH_LEN + NET_MSG1_PAYLOAD_LEN + NOISE_TAG_LEN, "msg1");
_Static_assert(NET_MSG2_LEN == NOISE_DH_LEN + NET_MSG2_PAYLOAD_LEN + NOISE_TAG_LEN, "msg2");
_Static_assert(NET_TRANSPORT_LEN == NET_BLOCK_LEN + NOISE_TAG_LEN, "transport");
_Static_assert((int)NET_TRANSPORT_LEN <= (int)NOISE_MSG_MAX, "a frame is one Noise message");
_Static_assert(NET_BLOCK_CONTENT_MAX == NET_BLOCK_LEN - PAD_HEADER_LEN, "block content");
_Static_assert((int)NET_MSG1_PAYLOAD_LEN == (int)VERSION_RANGE_LEN, "msg1 payload");
_Static_assert((int)NET_SESSION_ID_LEN == (int)NOISE_HASH_LEN, "session id");

enum session_phase {
	PHASE_CLIENT_NEW = 1, /* client before net_session_start() */
	PHASE_WAIT_MSG1,      /* relay */
	PHASE_WAIT_MSG2,      /* client after msg1 */
	PHASE_OPEN,
	PHASE_DEAD,
};

struct net_session {
	struct sotto_ctx *ctx;          /* borrowed */
	struct noise_nk *hs;            /* owned until Split, then NULL */
	struct noise_cipher send, recv; /* secret; keyed once OPEN */
	uint8_t id[NET_SESSION_ID_LEN]; /* handshake hash h, once OPEN */
	struct version_range versions;  /* ours */
	uint32_t rekey_interval;        /* transport messages per direction */
	enum net_session_role role;
	enum session_phase phase;
	uint16_t version;                  /* agreed, once OPEN */
	uint8_t hdr[NET_FRAME_HEADER_LEN]; /* length bytes of the frame in progress */
	size_t n_hdr;                      /* of hdr received, 0..2 */
	size_t body_len;                   /* L of the frame in progress, once n_hdr == 2 */
	uint8_t *SOTTO_NULLABLE partial;   /* owned: body_len bytes, only while split */
	size_t n_partial;                  /* bytes of partial received */
};

static size_t expected_body_len(enum session_phase phase)
{
	switch (phase) {
	case PHASE_WAIT_MSG1: return NET_MSG1_LEN;
	case PHASE_WAIT_MSG2: return NET_MSG2_LEN;
	case PHASE_OPEN: return NET_TRANSPORT_LEN;
	default: return 0;
	}
}

static void drop_partial(struct net_session *s)
{
	if (s->partial != NULL) {
		ct_wipe(s->partial, s->body_len);
		ctx_free(s->ctx, s->partial);
		s->partial = NULL;
	}
	s->n_partial = 0;
	s->n_hdr = 0;
}

/* Makes the session dead: every key and buffered byte is wiped. */
static void session_kill(struct net_session *s)
{
	drop_partial(s);
	noise_nk_free(s->hs);
	s->hs = NULL;
	noise_cipher_clear(&s->send);
	noise_cipher_clear(&s->recv);
	s->phase = PHASE_DEAD;
}

static sotto_err session_new(struct sotto_ctx *ctx, const struct net_session_config *config,
                             enum net_session_role role, const struct x25519_keypair *static_key,
                             const uint8_t *relay_key, struct net_session **out)
{
	struct net_session *s = NULL;
	struct version_range ours = {NET_TRANSPORT_VERSION_MIN, NET_TRANSPORT_VERSION_MAX};
	uint32_t rekey_interval = NET_REKEY_INTERVAL_DEFAULT;
	sotto_err rc;

	*out = NULL;
	if (config != NULL && config->rekey_interval != 0)
		rekey_interval = config->rekey_interval;
	if (config != NULL && (config->versions.min != 0 || config->versions.max != 0))
		ours = config->versions;
	if (ours.min == 0 || ours.min > ours.max)
		return SOTTO_ERR_INVALID;
	if ((s = ctx_alloc(ctx, sizeof(*s))) == NULL)
		return SOTTO_ERR_NOMEM;
	memset(s, 0, sizeof(*s));
	s->ctx = ctx;
	s->versions = ours;
	s->rekey_interval = rekey_interval;
	s->role = role;
	s->phase = role == NET_SESSION_CLIENT ? PHASE_CLIENT_NEW : PHASE_WAIT_MSG1;
	rc = noise_nk_new(ctx, role == NET_SESSION_CLIENT ? NOISE_INITIATOR : NOISE_RESPONDER,
	                  (const uint8_t *)SESSION_PROLOGUE, sizeof(SESSION_PROLOGUE) - 1,
	                  static_key, relay_key, &s->hs);
	if (rc != SOTTO_OK)
		goto out;
	*out = s;
	s = NULL; /* moved */
out:
	net_session_free(s);
	return rc;
}

sotto_err net_session_new_client(struct sotto_ctx *ctx, const struct net_session_config *config,
                                 const uint8_t relay_key[static X25519_KEY_LEN],
                                 struct net_session **out)
{
	return session_new(ctx, config, NET_SESSION_CLIENT, NULL, relay_key, out);
}

sotto_err net_session_new_relay(struct sotto_ctx *ctx, const struct net_session_config *config,
                                const struct x25519_keypair *static_key, struct net_session **out)
{
	return session_new(ctx, config, NET_SESSION_RELAY, static_key, NULL, out);
}

void net_session_free(struct net_session *s)
{
	if (s == NULL)
		return;
	session_kill(s);
	struct sotto_ctx *ctx = s->ctx;
	ct_wipe(s, sizeof(*s));
	ctx_free(ctx, s);
}

sotto_err net_session_start(struct net_session *s, uint8_t out[static NET_MSG1_FRAME_LEN])
{
	uint8_t payload[NET_MSG1_PAYLOAD_LEN];
	struct wire_writer w;
	size_t n = 0;
	sotto_err rc;

	memset(out, 0, NET_MSG1_FRAME_LEN);
	if (s->phase != PHASE_CLIENT_NEW)
		return SOTTO_ERR_STATE;
	wire_writer_init(&w, payload, sizeof(payload));
	version_range_write(&w, s->versions);
	if ((rc = wire_writer_finish(&w, NULL)) != SOTTO_OK)
		goto out;
	/* -> e, es */
	rc = noise_nk_write(s->hs, payload, sizeof(payload), out + NET_FRAME_HEADER_LEN,
	                    NET_MSG1_LEN, &n);
	if (rc != SOTTO_OK)
		goto out;
	if (!SOTTO_INVARIANT(n == NET_MSG1_LEN)) {
		rc = SOTTO_ERR_INTERNAL;
		goto out;
	}
	bytes_store_be16(out, NET_MSG1_LEN);
	s->phase = PHASE_WAIT_MSG2;
out:
	if (rc != SOTTO_OK) {
		memset(out, 0, NET_MSG1_FRAME_LEN);
		session_kill(s);
	}
	return rc;
}

static bool in_range(struct version_range r, uint16_t v)
{
	return v >= r.min && v <= r.max;
}

/* Split(): keys for both directions, h as the session id, then OPEN. */
static sotto_err session_open(struct net_session *s, uint16_t version,
                              net_session_event_fn *on_event, void *user)
{
	struct net_event ev = {.type = NET_EVENT_OPEN, .version = version, .session_id = s->id};
	sotto_err rc;

	if ((rc = noise_nk_split(s->hs, &s->send, &s->recv, s->id)) != SOTTO_OK)
		return rc;
	noise_nk_free(s->hs);
	s->hs = NULL;
	s->version = version;
	s->phase = PHASE_OPEN;
	return on_event(user, &ev);
}

/*
 * Relay: a msg1 that fails (wrong pinned key, garbage, malformed range) is
 * answered with the refusal frame, L = 0, before the session dies, so the
 * client can tell "the relay does not hold the key I pinned" from a dropped
 * connection. It is unauthenticated and says nothing an observer could not
 * already see (the relay closes either way).
 */
static sotto_err refuse_msg1(sotto_err why, net_session_event_fn *on_event, void *user)
{
	static const uint8_t refusal[NET_REFUSAL_FRAME_LEN] = {0, 0};
	struct net_event ev = {.type = NET_EVENT_WRITE, .bytes = refusal, .len = sizeof(refusal)};
	sotto_err rc = on_event(user, &ev);

	return rc != SOTTO_OK ? rc : why;
}

/* Relay: msg1 in, msg2 out (even when the answer is "no common version"). */
static sotto_err handle_msg1(struct net_session *s, const uint8_t *body,
                             net_session_event_fn *on_event, void *user)
{
	uint8_t payload[NET_MSG1_PAYLOAD_LEN], reply[NET_MSG2_PAYLOAD_LEN];
	uint8_t frame[NET_MSG2_FRAME_LEN];
	struct net_event ev = {.type = NET_EVENT_WRITE, .bytes = frame, .len = sizeof(frame)};
	struct wire_reader r;
	size_t n = 0;
	uint16_t agreed = 0;
	sotto_err rc;

	/* -> e, es */
	rc = noise_nk_read(s->hs, body, NET_MSG1_LEN, payload, sizeof(payload), &n);
	if (rc != SOTTO_OK)
		return refuse_msg1(rc, on_event, user);
	wire_reader_init(&r, payload, n);
	struct version_range theirs = version_range_read(&r);
	if (wire_reader_finish(&r) != SOTTO_OK)
		return refuse_msg1(SOTTO_RAISE(SOTTO_ERR_PROTOCOL), on_event, user);
	if (version_negotiate(s->versions, theirs, &agreed) != SOTTO_OK)
		agreed = 0;
	/* <- e, ee */
	bytes_store_be16(reply, agreed);
	rc = noise_nk_write(s->hs, reply, sizeof(reply), frame + NET_FRAME_HEADER_LEN, NET_MSG2_LEN,
	                    &n);
	if (rc != SOTTO_OK)
		return rc;
	if (!SOTTO_INVARIANT(n == NET_MSG2_LEN))
		return SOTTO_ERR_INTERNAL;
	bytes_store_be16(frame, NET_MSG2_LEN);
	if ((rc = on_event(user, &ev)) != SOTTO_OK)
		return rc;
	if (agreed == 0)
		return SOTTO_RAISE(SOTTO_ERR_VERSION);
	return session_open(s, agreed, on_event, user);
}

/* Client: msg2 in. */
static sotto_err handle_msg2(struct net_session *s, const uint8_t *body,
                             net_session_event_fn *on_event, void *user)
{
	uint8_t payload[NET_MSG2_PAYLOAD_LEN];
	size_t n = 0;
	sotto_err rc;

	/* <- e, ee */
	rc = noise_nk_read(s->hs, body, NET_MSG2_LEN, payload, sizeof(payload), &n);
	if (rc != SOTTO_OK)
		return rc;
	if (!SOTTO_INVARIANT(n == NET_MSG2_PAYLOAD_LEN))
		return SOTTO_ERR_INTERNAL;
	uint16_t version = bytes_load_be16(payload);
	if (version == 0)
		return SOTTO_RAISE(SOTTO_ERR_VERSION);
	if (!in_range(s->versions, version))
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	return session_open(s, version, on_event, user);
}

/* Both directions rekey after every rekey_interval messages (n counts them). */
static void maybe_rekey(const struct net_session *s, struct noise_cipher *c)
{
	if (c->n % s->rekey_interval == 0)
		noise_cipher_rekey(c);
}

static sotto_err handle_transport(struct net_session *s, uint8_t *body,
                                  net_session_event_fn *on_event, void *user)
{
	struct net_event ev = {.type = NET_EVENT_BLOCK};
	sotto_err rc;

	rc = noise_cipher_decrypt(&s->recv, SESSION_NO_AD, 0, body, NET_TRANSPORT_LEN, body);
	if (rc != SOTTO_OK)
		return rc;
	maybe_rekey(s, &s->recv);
	if (pad_unblock(body, NET_BLOCK_LEN, &ev.bytes, &ev.len) != SOTTO_OK)
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	return on_event(user, &ev);
}

static sotto_err handle_frame(struct net_session *s, uint8_t *body, net_session_event_fn *on_event,
                              void *user)
{
	switch (s->phase) {
	case PHASE_WAIT_MSG1: return handle_msg1(s, body, on_event, user);
	case PHASE_WAIT_MSG2: return handle_msg2(s, body, on_event, user);
	case PHASE_OPEN: return handle_transport(s, body, on_event, user);
	default: return SOTTO_INVARIANT(false) ? SOTTO_ERR_STATE : SOTTO_ERR_INTERNAL;
	}
}

/*
 * Copies up to len bytes of a frame body that did not arrive in one piece;
 * *used gets the bytes taken and *complete whether the body is now whole.
 */
static sotto_err take_partial(struct net_session *s, const uint8_t *data, size_t len, size_t *used,
                              bool *complete)
{
	*used = 0;
	*complete = false;
	if (s->partial == NULL && (s->partial = ctx_alloc(s->ctx, s->body_len)) == NULL)
		return SOTTO_ERR_NOMEM;
	size_t take = s->body_len - s->n_partial;
	if (take > len)
		take = len;
	memcpy(s->partial + s->n_partial, data, take);
	s->n_partial += take;
	*used = take;
	*complete = s->n_partial == s->body_len;
	return SOTTO_OK;
}

/* Takes one length byte; once both are in, the length must be the expected one. */
static sotto_err take_header_byte(struct net_session *s, uint8_t byte)
{
	s->hdr[s->n_hdr++] = byte;
	if (s->n_hdr < NET_FRAME_HEADER_LEN)
		return SOTTO_OK;
	s->body_len = bytes_load_be16(s->hdr);
	if (s->body_len == 0 && s->phase == PHASE_WAIT_MSG2)
		return SOTTO_RAISE(SOTTO_ERR_AUTH); /* the relay refused msg1 */
	if (s->body_len != expected_body_len(s->phase))
		return SOTTO_RAISE(SOTTO_ERR_FRAME_SIZE);
	return SOTTO_OK;
}

sotto_err net_session_feed(struct net_session *s, uint8_t *data, size_t len,
                           net_session_event_fn *on_event, void *user)
{
	sotto_err rc = SOTTO_OK;
	bool complete = false;
	size_t used = 0;

	if (s->phase == PHASE_DEAD)
		return SOTTO_ERR_STATE;
	if (s->phase == PHASE_CLIENT_NEW) {
		rc = SOTTO_ERR_STATE;
		goto out;
	}
	while (len > 0) {
		if (s->n_hdr < NET_FRAME_HEADER_LEN) {
			len--;
			if ((rc = take_header_byte(s, *data++)) != SOTTO_OK)
				goto out;
			continue;
		}
		if (s->partial == NULL && len >= s->body_len) {
			/* The whole frame is here: decrypt it in the caller's buffer. */
			size_t body_len = s->body_len;
			s->n_hdr = 0;
			rc = handle_frame(s, data, on_event, user);
			data += body_len;
			len -= body_len;
		} else {
			rc = take_partial(s, data, len, &used, &complete);
			data += used;
			len -= used;
			if (rc != SOTTO_OK || !complete)
				goto out;
			rc = handle_frame(s, s->partial, on_event, user);
			drop_partial(s);
		}
		if (rc != SOTTO_OK)
			goto out;
	}
out:
	if (rc != SOTTO_OK)
		session_kill(s);
	return rc;
}

sotto_err net_session_eof(struct net_session *s)
{
	if (s->phase == PHASE_DEAD)
		return SOTTO_ERR_STATE;
	sotto_err rc =
	        net_session_has_partial(s) ? SOTTO_RAISE(SOTTO_ERR_TRUNCATED) : SOTTO_ERR_CLOSED;
	session_kill(s);
	return rc;
}

sotto_err net_session_send_block(struct net_session *s, const uint8_t *content, size_t content_len,
                                 uint8_t frame[static NET_TRANSPORT_FRAME_LEN])
{
	uint8_t *block = frame + NET_FRAME_HEADER_LEN;
	sotto_err rc;

	if (s->phase != PHASE_OPEN)
		return SOTTO_ERR_STATE;
	if (content_len > NET_BLOCK_CONTENT_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if ((rc = pad_block(block, NET_BLOCK_LEN, content, content_len)) != SOTTO_OK)
		goto out;
	rc = noise_cipher_encrypt(&s->send, SESSION_NO_AD, 0, block, NET_BLOCK_LEN, block);
	if (rc != SOTTO_OK)
		goto out;
	maybe_rekey(s, &s->send);
	bytes_store_be16(frame, NET_TRANSPORT_LEN);
out:
	if (rc != SOTTO_OK) {
		ct_wipe(frame, NET_TRANSPORT_FRAME_LEN);
		session_kill(s);
	}
	return rc;
}

bool net_session_is_open(const struct net_session *s)
{
	return s->phase == PHASE_OPEN;
}

bool net_session_has_partial(const struct net_session *s)
{
	return s->n_hdr > 0;
}

uint16_t net_session_version(const struct net_session *s)
{
	return s->phase == PHASE_OPEN ? s->version : 0;
}

const uint8_t *net_session_id(const struct net_session *s)
{
	return s->phase == PHASE_OPEN ? s->id : NULL;
}
