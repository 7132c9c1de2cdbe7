/* SPDX-License-Identifier: MIT */
/*
 * envelope.c - encoding and parsing the plaintext of client messages
 * (client layer; docs/protocol.md §5.4).
 *
 *   offset  size  field
 *   0       1     kind
 *   1       16    message ID
 *   17      8     sent at, ms since the Unix epoch
 *   25      ...   body:
 *
 *   kind           body
 *   1 CONNECT      lp16(queue address §5.1), lp8(display name)
 *   2 CONNECTED    lp8(display name)
 *   3 TEXT         the rest: 1..15,000 bytes of UTF-8 without NUL
 *   4 RECEIPT      count n (1..64), n message IDs (16 each)
 *   5 NAME         lp8(display name)
 *   6 LEAVE        nothing
 *
 * The bytes come out of a ratchet message, so they are authentic, but the
 * peer that wrote them may be hostile or buggy: each length is checked
 * against its limit and the bytes remaining before anything is read from
 * it, and a display name must be one that a terminal can show without being
 * steered by it (no control characters, no bidirectional overrides or
 * isolates). Text may hold line breaks and tabs;
 * whoever displays it decides how to show the rest.
 */
#include <string.h>

#include "client/envelope.h"
#include "core/err.h"
#include "proto/limits.h"
#include "relay/limits.h"
#include "wire/reader.h"
#include "wire/writer.h"

enum {
	UTF8_MAX = 0x10ffff,
	UTF8_BAD = UTF8_MAX + 1, /* not a code point: a malformed sequence */
};

_Static_assert(CLIENT_ENVELOPE_HEADER_LEN == 1 + CLIENT_MSG_ID_LEN + 8, "§5.4 header");
_Static_assert(CLIENT_ENVELOPE_MAX == CLIENT_ENVELOPE_HEADER_LEN + CLIENT_TEXT_MAX &&
                       CLIENT_ENVELOPE_MAX >= CLIENT_ENVELOPE_HEADER_LEN + 2 +
                                                      CLIENT_QUEUE_ADDR_MAX + 1 + CLIENT_NAME_MAX &&
                       CLIENT_ENVELOPE_MAX >= CLIENT_ENVELOPE_HEADER_LEN + 1 +
                                                      CLIENT_RECEIPTS_MAX * CLIENT_MSG_ID_LEN,
               "a TEXT is the longest envelope");
_Static_assert((int)PROTO_HELLO_V1_LEN + (int)RATCHET_OVERHEAD + (int)CLIENT_ENVELOPE_MAX <=
                       (int)RELAY_MSG_BODY_MAX,
               "the longest envelope fits one SEND, even behind a hello");
_Static_assert(CLIENT_NAME_MAX <= UINT8_MAX && CLIENT_RECEIPTS_MAX <= UINT8_MAX,
               "one-byte lengths");

/*
 * Decodes the sequence at s[*i..len) (*i < len), advancing *i past it;
 * returns its code point, or UTF8_BAD for anything but a shortest form of a
 * scalar value.
 */
static uint32_t utf8_next(const uint8_t *s, size_t len, size_t *i)
{
	uint8_t b = s[*i];
	uint32_t cp, min;
	size_t n;

	if (b < 0x80) {
		(*i)++;
		return b;
	}
	if (b >= 0xc2 && b <= 0xdf) {
		n = 1;
		cp = b & 0x1fu;
		min = 0x80;
	} else if (b >= 0xe0 && b <= 0xef) {
		n = 2;
		cp = b & 0x0fu;
		min = 0x800;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 3;
		cp = b & 0x07u;
		min = 0x10000;
	} else {
		return UTF8_BAD; /* a continuation byte, C0, C1 or F5..FF */
	}
	if (len - *i - 1 < n)
		return UTF8_BAD;
	for (size_t k = 1; k <= n; k++) {
		uint8_t c = s[*i + k];
		if ((c & 0xc0) != 0x80)
			return UTF8_BAD;
		cp = cp << 6 | (c & 0x3fu);
	}
	/* Overlong forms, UTF-16 surrogates and values past Unicode's end. */
	if (cp < min || (cp >= 0xd800 && cp <= 0xdfff) || cp > UTF8_MAX)
		return UTF8_BAD;
	*i += n + 1;
	return cp;
}

static bool is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
}

/*
 * Bidirectional embeddings, overrides (U+202A..U+202E) and isolates
 * (U+2066..U+2069): in a name they would reorder what a terminal shows
 * after it, so "evil<RLO>txt.exe" could pass for another contact's name.
 */
static bool is_bidi_control(uint32_t cp)
{
	return (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * Valid UTF-8 none of whose code points is NUL (no_nul) or a control or
 * bidirectional control (no_control).
 */
static bool utf8_check(const uint8_t *s, size_t len, bool no_nul, bool no_control)
{
	size_t i = 0;

	while (i < len) {
		uint32_t cp = utf8_next(s, len, &i);
		if (cp == UTF8_BAD || (no_nul && cp == 0) ||
		    (no_control && (is_control(cp) || is_bidi_control(cp))))
			return false;
	}
	return true;
}

bool client_utf8_is_valid(const uint8_t *s, size_t len)
{
	return len == 0 || utf8_check(s, len, false, false);
}

bool client_text_is_valid(const uint8_t *s, size_t len)
{
	return len >= 1 && len <= CLIENT_TEXT_MAX && utf8_check(s, len, true, false);
}

bool client_name_is_valid(const uint8_t *s, size_t len)
{
	return len >= 1 && len <= CLIENT_NAME_MAX && utf8_check(s, len, true, true);
}

/* SOTTO_OK, or why env's body cannot be encoded (the errors of client_envelope_encode). */
static sotto_err body_check(const struct client_envelope *env)
{
	bool has_name = env->kind == CLIENT_ENVELOPE_CONNECT ||
	                env->kind == CLIENT_ENVELOPE_CONNECTED || env->kind == CLIENT_ENVELOPE_NAME;

	if (env->kind < CLIENT_ENVELOPE_CONNECT || env->kind > CLIENT_ENVELOPE_LEAVE)
		return SOTTO_ERR_INVALID;
	if (has_name && env->name_len > CLIENT_NAME_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (has_name && !client_name_is_valid((const uint8_t *)env->name, env->name_len))
		return SOTTO_ERR_INVALID;
	if (env->kind == CLIENT_ENVELOPE_TEXT) {
		if (env->text_len > CLIENT_TEXT_MAX)
			return SOTTO_ERR_TOO_LARGE;
		if (env->text == NULL || !client_text_is_valid(env->text, env->text_len))
			return SOTTO_ERR_INVALID;
	}
	if (env->kind == CLIENT_ENVELOPE_RECEIPT) {
		if (env->n_receipts > CLIENT_RECEIPTS_MAX)
			return SOTTO_ERR_TOO_LARGE;
		if (env->n_receipts == 0)
			return SOTTO_ERR_INVALID;
	}
	return SOTTO_OK;
}

sotto_err client_envelope_encode(const struct client_envelope *env, uint8_t *out, size_t out_cap,
                                 size_t *out_len)
{
	uint8_t queue[CLIENT_QUEUE_ADDR_MAX];
	size_t queue_len = 0;
	struct wire_writer w;
	sotto_err rc;

	*out_len = 0;
	if ((rc = body_check(env)) != SOTTO_OK)
		return rc;
	if (env->kind == CLIENT_ENVELOPE_CONNECT &&
	    client_queue_addr_encode(&env->queue, queue, sizeof(queue), &queue_len) != SOTTO_OK)
		return SOTTO_ERR_INVALID;

	wire_writer_init(&w, out, out_cap);
	wire_writer_u8(&w, env->kind);
	wire_writer_bytes(&w, env->msg_id, CLIENT_MSG_ID_LEN);
	wire_writer_u64(&w, env->sent_at_ms);
	switch (env->kind) {
	case CLIENT_ENVELOPE_CONNECT:
		wire_writer_lp16(&w, queue, queue_len, CLIENT_QUEUE_ADDR_MAX);
		wire_writer_lp8(&w, (const uint8_t *)env->name, env->name_len, CLIENT_NAME_MAX);
		break;
	case CLIENT_ENVELOPE_CONNECTED:
	case CLIENT_ENVELOPE_NAME:
		wire_writer_lp8(&w, (const uint8_t *)env->name, env->name_len, CLIENT_NAME_MAX);
		break;
	case CLIENT_ENVELOPE_TEXT: wire_writer_bytes(&w, env->text, env->text_len); break;
	case CLIENT_ENVELOPE_RECEIPT:
		wire_writer_u8(&w, (uint8_t)env->n_receipts);
		for (size_t i = 0; i < env->n_receipts; i++)
			wire_writer_bytes(&w, env->receipts[i], CLIENT_MSG_ID_LEN);
		break;
	default: /* LEAVE: no body */ break;
	}
	return wire_writer_finish(&w, out_len);
}

/* lp8(display name) into out->name / name_len. */
static void name_read(struct wire_reader *r, struct client_envelope *out)
{
	size_t len = 0;
	const uint8_t *name = wire_reader_lp8(r, CLIENT_NAME_MAX, &len);

	if (name == NULL)
		return;
	if (!client_name_is_valid(name, len)) {
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
		return;
	}
	memcpy(out->name, name, len);
	out->name[len] = '\0';
	out->name_len = len;
}

/* lp16(queue address) into out->queue. */
static void queue_read(struct wire_reader *r, struct client_envelope *out)
{
	size_t len = 0;
	const uint8_t *queue = wire_reader_lp16(r, CLIENT_QUEUE_ADDR_MAX, &len);
	sotto_err rc;

	if (queue != NULL && (rc = client_queue_addr_parse(queue, len, &out->queue)) != SOTTO_OK)
		wire_reader_fail(r, rc);
}

/* The rest of the envelope as TEXT: it has no length of its own. */
static void text_read(struct wire_reader *r, struct client_envelope *out)
{
	size_t len = wire_reader_remaining(r);

	if (wire_reader_error(r) != SOTTO_OK)
		return;
	if (len > CLIENT_TEXT_MAX) {
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_TOO_LARGE));
		return;
	}
	const uint8_t *text = wire_reader_view(r, len);
	if (!client_text_is_valid(text, len)) {
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
		return;
	}
	out->text = text;
	out->text_len = len;
}

static void receipts_read(struct wire_reader *r, struct client_envelope *out)
{
	uint8_t n = wire_reader_u8(r);

	if (wire_reader_error(r) != SOTTO_OK)
		return;
	if (n == 0 || n > CLIENT_RECEIPTS_MAX) {
		wire_reader_fail(r, SOTTO_RAISE(n == 0 ? SOTTO_ERR_PROTOCOL : SOTTO_ERR_TOO_LARGE));
		return;
	}
	for (size_t i = 0; i < n; i++)
		wire_reader_copy(r, out->receipts[i], CLIENT_MSG_ID_LEN);
	if (wire_reader_error(r) == SOTTO_OK)
		out->n_receipts = n;
}

sotto_err client_envelope_parse(const uint8_t *in, size_t in_len, struct client_envelope *out)
{
	struct wire_reader rd;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&rd, in, in_len);
	out->kind = wire_reader_u8(&rd);
	if (wire_reader_error(&rd) == SOTTO_OK &&
	    (out->kind < CLIENT_ENVELOPE_CONNECT || out->kind > CLIENT_ENVELOPE_LEAVE))
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	wire_reader_copy(&rd, out->msg_id, CLIENT_MSG_ID_LEN);
	out->sent_at_ms = wire_reader_u64(&rd);
	switch (out->kind) {
	case CLIENT_ENVELOPE_CONNECT:
		queue_read(&rd, out);
		name_read(&rd, out);
		break;
	case CLIENT_ENVELOPE_CONNECTED:
	case CLIENT_ENVELOPE_NAME: name_read(&rd, out); break;
	case CLIENT_ENVELOPE_TEXT: text_read(&rd, out); break;
	case CLIENT_ENVELOPE_RECEIPT: receipts_read(&rd, out); break;
	default: /* LEAVE, or an unknown kind already recorded */ break;
	}
	if ((rc = wire_reader_finish(&rd)) != SOTTO_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- padding ---- */

enum { PAD_MARK = 0x80 };

size_t client_envelope_padded_len(size_t prefix_len)
{
	if (prefix_len + RATCHET_OVERHEAD >= RELAY_MSG_BODY_MAX)
		return 0;
	return RELAY_MSG_BODY_MAX - prefix_len - RATCHET_OVERHEAD;
}

sotto_err client_envelope_pad(uint8_t *buf, size_t len, size_t padded_len)
{
	if (len >= padded_len)
		return SOTTO_ERR_TOO_LARGE;
	buf[len] = PAD_MARK;
	memset(buf + len + 1, 0, padded_len - len - 1);
	return SOTTO_OK;
}

sotto_err client_envelope_unpad(const uint8_t *buf, size_t len, size_t *env_len)
{
	size_t i = len;

	*env_len = 0;
	while (i > 0 && buf[i - 1] == 0)
		i--;
	if (i == 0 || buf[i - 1] != PAD_MARK)
		return SOTTO_ERR_PROTOCOL;
	*env_len = i - 1;
	return SOTTO_OK;
}
