/* SPDX-License-Identifier: MIT */
/*
 * envelope.h - the plaintext of every message between two clients (client
 * layer; docs/protocol.md §5.4).
 *
 * An envelope is what one ratchet message carries: a kind, a random message
 * ID, the sender's clock, and the kind's body. It is encrypted end to end,
 * but the peer that wrote it may be hostile, so parsing is strict: exact
 * lengths, no trailing bytes, valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), and every length checked against its
 * limit in client/limits.h before it is used. Whatever parses re-encodes to
 * the same bytes. Nothing here allocates.
 */
#ifndef SOTTO_CLIENT_ENVELOPE_H
#define SOTTO_CLIENT_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "client/limits.h"
#include "client/link.h"

/* Envelope kinds (§5.4). Numbers are never reused. */
enum client_envelope_kind {
	CLIENT_ENVELOPE_CONNECT = 1,   /* joiner -> inviter: the joiner's queue and name */
	CLIENT_ENVELOPE_CONNECTED = 2, /* inviter -> joiner: the inviter's name */
	CLIENT_ENVELOPE_TEXT = 3,      /* a text message */
	CLIENT_ENVELOPE_RECEIPT = 4,   /* IDs of TEXTs received */
	CLIENT_ENVELOPE_NAME = 5,      /* the sender's new display name */
	CLIENT_ENVELOPE_LEAVE = 6,     /* the sender deleted the contact */
};

/*
 * One envelope. Only the fields of its kind are written by encode and set
 * by parse; parse zeroes the others.
 */
struct client_envelope {
	uint8_t kind;                      /* enum client_envelope_kind */
	uint8_t msg_id[CLIENT_MSG_ID_LEN]; /* random, chosen by the sender */
	uint64_t sent_at_ms;               /* sender's clock, ms since the Unix epoch */

	struct client_queue_addr queue; /* CONNECT: where to reach the joiner */
	char name[CLIENT_NAME_MAX + 1]; /* CONNECT, CONNECTED, NAME: NUL-terminated after parse */
	size_t name_len;                /* bytes in name, 1..CLIENT_NAME_MAX */
	const uint8_t *SOTTO_NULLABLE text; /* TEXT: borrowed (parse: points into the input) */
	size_t text_len;                    /* bytes of text, 1..CLIENT_TEXT_MAX */
	size_t n_receipts;                  /* RECEIPT: 1..CLIENT_RECEIPTS_MAX */
	uint8_t receipts[CLIENT_RECEIPTS_MAX][CLIENT_MSG_ID_LEN]; /* RECEIPT: message IDs */
};

/*
 * Whether s[0..len) is valid UTF-8: shortest forms only, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. The empty string is valid.
 */
bool client_utf8_is_valid(const uint8_t *SOTTO_NULLABLE s, size_t len);

/* Whether s[0..len) is a TEXT body: 1..CLIENT_TEXT_MAX bytes of valid UTF-8 without NUL. */
bool client_text_is_valid(const uint8_t *SOTTO_NULLABLE s, size_t len);

/*
 * Whether s[0..len) is a display name: 1..CLIENT_NAME_MAX bytes of valid
 * UTF-8 without control characters (C0 U+0000..U+001F, DEL U+007F, C1
 * U+0080..U+009F) or bidirectional embeddings, overrides and isolates
 * (U+202A..U+202E, U+2066..U+2069).
 */
bool client_name_is_valid(const uint8_t *SOTTO_NULLABLE s, size_t len);

/*
 * Writes the §5.4 bytes of env into out (out_cap bytes; CLIENT_ENVELOPE_MAX
 * always suffices); *out_len gets their length (0 first).
 * Errors: SOTTO_ERR_TOO_LARGE (a text, name or receipt list over its limit,
 * or out_cap too small), SOTTO_ERR_INVALID (unknown kind, empty or invalid
 * text or name, no receipts, text NULL, invalid queue address).
 */
SOTTO_NODISCARD sotto_err client_envelope_encode(const struct client_envelope *env, uint8_t *out,
                                                 size_t out_cap, size_t *out_len);

/*
 * Parses exactly in[0..in_len) as an envelope into *out (zeroed first and on
 * failure). out->text points into in: in must outlive its use. Errors, the
 * first problem from the left: SOTTO_ERR_TRUNCATED, SOTTO_ERR_PROTOCOL
 * (unknown kind, empty or invalid text or name, receipt count 0),
 * SOTTO_ERR_TOO_LARGE (a text, name, queue address or receipt count over its
 * limit), the queue address's errors for CONNECT (client_queue_addr_parse),
 * SOTTO_ERR_TRAILING.
 */
SOTTO_NODISCARD sotto_err client_envelope_parse(const uint8_t *in, size_t in_len,
                                                struct client_envelope *out);

/*
 * Padding (§5.4): every SEND body is exactly RELAY_MSG_BODY_MAX bytes, so
 * the relay stores and a network observer sees messages of one size.
 * client_envelope_pad appends 0x80 and zero bytes to buf[0..len) up to
 * padded_len (buf has padded_len bytes). Errors: SOTTO_ERR_TOO_LARGE (len
 * + 1 > padded_len).
 */
SOTTO_NODISCARD sotto_err client_envelope_pad(uint8_t *buf, size_t len, size_t padded_len);

/*
 * The envelope's length in a padded plaintext: the bytes before the last
 * 0x80, which only zero bytes may follow. Errors: SOTTO_ERR_PROTOCOL (no
 * 0x80 there: not padded).
 */
SOTTO_NODISCARD sotto_err client_envelope_unpad(const uint8_t *buf, size_t len, size_t *env_len);

/* The padded plaintext length that fills a SEND body after prefix_len bytes (the hello). */
size_t client_envelope_padded_len(size_t prefix_len);

#endif /* SOTTO_CLIENT_ENVELOPE_H */
