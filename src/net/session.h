/* SPDX-License-Identifier: MIT */
/*
 * session.h - the relay transport as a sans-I/O state machine (net layer).
 *
 * A session turns the bytes of one TCP stream into events and blocks into
 * bytes; it never touches a socket, a timer or libuv, so tests and fuzzers
 * drive it directly from memory. One session runs one Noise NK handshake
 * (the client pins the relay's static key; the relay holds the key pair) and
 * then carries fixed-size encrypted blocks both ways (docs/protocol.md,
 * "Transport"):
 *
 *   frame    = u16 big-endian L, then L bytes of one Noise message
 *   msg1     client -> relay, "-> e, es", payload = version range (u16 min, u16 max); L = 52
 *   msg2     relay -> client, "<- e, ee", payload = agreed version u16 (0: none);     L = 50
 *   block    either way after Split, Noise transport message of a 16384-byte
 *            padded block (wire/pad.h);                                             L = 16400
 *
 * The Noise prologue is the ASCII string "sotto/transport". A frame whose
 * length is not the one the current phase expects kills the session with
 * SOTTO_ERR_FRAME_SIZE as soon as its two length bytes arrive, before any of
 * its body is buffered. Each direction calls Rekey() after every
 * rekey_interval transport messages it carries, on both sides alike, so no
 * signal is needed. The handshake hash h (64 bytes) is the session
 * identifier (channel binding).
 *
 * Errors kill a session: every later call returns SOTTO_ERR_STATE, and the
 * caller closes the stream. Memory: while no frame is half-received, a session
 * holds no block-sized buffer; one is allocated for a frame split across
 * reads and freed (wiped) once that frame is handled.
 */
#ifndef SOTTO_NET_SESSION_H
#define SOTTO_NET_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "crypto/x25519.h"
#include "net/limits.h"
#include "wire/version.h"

enum {
	NET_SESSION_ID_LEN = 64,       /* the Noise handshake hash h */
	NET_TRANSPORT_VERSION_MIN = 1, /* transport versions this build speaks */
	NET_TRANSPORT_VERSION_MAX = 1,
};

enum net_session_role {
	NET_SESSION_CLIENT = 1, /* Noise initiator; pins the relay's static key */
	NET_SESSION_RELAY = 2,  /* Noise responder; holds the static key pair */
};

/* Zero fields take the defaults. */
struct net_session_config {
	uint32_t rekey_interval;       /* transport messages per direction; 0: 2^16 */
	struct version_range versions; /* {0, 0}: NET_TRANSPORT_VERSION_MIN..MAX */
};

enum net_event_type {
	NET_EVENT_WRITE = 1, /* send bytes/len to the peer (the relay's msg2 frame) */
	NET_EVENT_OPEN = 2,  /* handshake done: version and session_id are set */
	NET_EVENT_BLOCK = 3, /* a block arrived: bytes/len is its content */
};

/* Pointers are borrowed and valid only during the callback that receives them. */
struct net_event {
	enum net_event_type type;
	const uint8_t *bytes;      /* WRITE, BLOCK; NULL otherwise */
	size_t len;                /* bytes in bytes */
	uint16_t version;          /* OPEN: the agreed transport version */
	const uint8_t *session_id; /* OPEN: NET_SESSION_ID_LEN bytes; NULL otherwise */
};

/*
 * Receives one event. Returning anything but SOTTO_OK stops
 * net_session_feed(), kills the session, and makes feed return that error
 * (a caller that closed its connection from inside the callback returns
 * SOTTO_ERR_CANCELLED). The callback must not call back into the session.
 */
typedef sotto_err net_session_event_fn(void *user, const struct net_event *ev);

struct net_session;

/*
 * Makes a client session that pins relay_key (the relay's static X25519
 * public key). config may be NULL. *out is NULL first and owns the session on
 * success. Errors: SOTTO_ERR_INVALID (a config value out of range or a
 * malformed version range), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err net_session_new_client(
        struct sotto_ctx *ctx, const struct net_session_config *SOTTO_NULLABLE config,
        const uint8_t relay_key[static X25519_KEY_LEN], struct net_session **out);

/*
 * Makes a relay session holding the static key pair (copied into secure
 * memory). config may be NULL. *out is NULL first and owns the session on
 * success. Errors: SOTTO_ERR_INVALID, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err
net_session_new_relay(struct sotto_ctx *ctx, const struct net_session_config *SOTTO_NULLABLE config,
                      const struct x25519_keypair *static_key, struct net_session **out);

/* Wipes and frees s (and any partial frame); NULL does nothing. */
void net_session_free(struct net_session *SOTTO_NULLABLE s);

/*
 * Client only, once: writes the msg1 frame (NET_MSG1_FRAME_LEN bytes) into
 * out, to be sent before anything else. Errors: SOTTO_ERR_STATE (a relay
 * session, already started, or dead), SOTTO_ERR_WEAK_KEY (the pinned key is
 * a low-order point; the session is dead).
 */
SOTTO_NODISCARD sotto_err net_session_start(struct net_session *s,
                                            uint8_t out[static NET_MSG1_FRAME_LEN]);

/*
 * Consumes len bytes received from the peer, in any chunking (one byte at a
 * time works), and calls on_event for each event they complete, in order.
 * data is borrowed and overwritten: frames that lie wholly inside it are
 * decrypted in place, so BLOCK content points into data. Bytes of an
 * incomplete frame are kept until the rest arrives.
 * Errors (each kills the session): SOTTO_ERR_STATE (dead, or a client
 * before net_session_start), SOTTO_ERR_FRAME_SIZE (a length other than the
 * phase expects), SOTTO_ERR_AUTH (a handshake or transport message failed to
 * decrypt: garbage, tampering, replay, or a client that pinned another key;
 * a relay emits the refusal frame (L = 0) as a WRITE first, and a client
 * that receives it in place of msg2 fails with this error too),
 * SOTTO_ERR_WEAK_KEY (a low-order ephemeral key), SOTTO_ERR_VERSION (no
 * common version: the relay has emitted its msg2 WRITE first, so the client
 * learns it too), SOTTO_ERR_PROTOCOL (a malformed version range or padded
 * block, or a relay that picked a version outside the client's range),
 * SOTTO_ERR_NONCE_EXHAUSTED, SOTTO_ERR_NOMEM (buffering a partial frame),
 * or any error on_event returned.
 */
SOTTO_NODISCARD sotto_err net_session_feed(struct net_session *s, uint8_t *data, size_t len,
                                           net_session_event_fn *on_event, void *user);

/*
 * Reports the end of the peer's stream and kills the session: returns
 * SOTTO_ERR_TRUNCATED when part of a frame is pending, SOTTO_ERR_CLOSED
 * otherwise (SOTTO_ERR_STATE if the session was already dead).
 */
SOTTO_NODISCARD sotto_err net_session_eof(struct net_session *s);

/*
 * Pads content (content_len <= NET_BLOCK_CONTENT_MAX) into one block and
 * writes its transport frame (NET_TRANSPORT_FRAME_LEN bytes) into frame.
 * content may point into frame at offset NET_FRAME_HEADER_LEN + 2 (the
 * padded block's content field), which saves a copy.
 * Errors: SOTTO_ERR_STATE (not open, or dead), SOTTO_ERR_TOO_LARGE (content
 * too long; the session stays open), SOTTO_ERR_NONCE_EXHAUSTED (kills it).
 */
SOTTO_NODISCARD sotto_err net_session_send_block(struct net_session *s, const uint8_t *content,
                                                 size_t content_len,
                                                 uint8_t frame[static NET_TRANSPORT_FRAME_LEN]);

/* True between the OPEN event and the session's death. */
bool net_session_is_open(const struct net_session *s);

/* True while part of a frame has arrived and the rest has not. */
bool net_session_has_partial(const struct net_session *s);

/* The agreed version once open, else 0. */
uint16_t net_session_version(const struct net_session *s);

/* The session identifier (NET_SESSION_ID_LEN bytes, borrowed) once open, else NULL. */
const uint8_t *SOTTO_NULLABLE net_session_id(const struct net_session *s);

#endif /* SOTTO_NET_SESSION_H */
