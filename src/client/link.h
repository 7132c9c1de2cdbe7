/* SPDX-License-Identifier: MIT */
/*
 * link.h - queue addresses and invitation links (client layer;
 * docs/protocol.md §5.1, §5.2).
 *
 * A queue address is what a sender needs to reach one relay queue: the
 * relay (pinned key, host, port), the queue's sender ID and the relay's
 * sender-side key ssk. An invitation link carries the inviter's queue
 * address and the end-to-end invitation (§3.2), as bytes or as the text
 * "sotto:" + base64url that users pass around and put in QR codes.
 *
 * Parsing is strict and canonical: every accepted value re-encodes to the
 * very bytes (and text) it came from, so two parsers never disagree about
 * what a link says. Encoding validates too, so nothing we write is
 * something we would refuse to read. Nothing here allocates or touches the
 * network.
 */
#ifndef SOTTO_CLIENT_LINK_H
#define SOTTO_CLIENT_LINK_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "client/limits.h"
#include "net/addr.h"
#include "proto/handshake.h"

/* One relay queue as a sender sees it (§5.1). Plain public values. */
struct client_queue_addr {
	struct net_addr relay;       /* key, host (NUL-terminated, no brackets), port */
	uint8_t sid[CLIENT_SID_LEN]; /* the queue's sender ID */
	uint8_t ssk[CLIENT_KEY_LEN]; /* the relay's sender-side X25519 key for it */
};

/* A parsed invitation link (§5.2). */
struct client_link {
	struct client_queue_addr queue;         /* the inviter's queue */
	struct handshake_invitation invitation; /* its encoded bytes are invitation.encoded */
};

/*
 * Writes the §5.1 bytes of q into out (out_cap bytes; CLIENT_QUEUE_ADDR_MAX
 * always suffices); *out_len gets their length (0 first).
 * Errors: SOTTO_ERR_INVALID (q is not a valid queue address: host not
 * NUL-terminated or not a §2.1 host, port 0, low-order relay key or ssk),
 * SOTTO_ERR_TOO_LARGE (out_cap too small).
 */
SOTTO_NODISCARD sotto_err client_queue_addr_encode(const struct client_queue_addr *q, uint8_t *out,
                                                   size_t out_cap, size_t *out_len);

/*
 * Parses exactly in[0..in_len) as a §5.1 queue address into *out (zeroed
 * first and on failure). Errors, the first problem from the left:
 * SOTTO_ERR_TRUNCATED, SOTTO_ERR_ADDR_KEY (a low-order relay key: no
 * session could ever be made with it), SOTTO_ERR_ADDR_PORT (port 0),
 * SOTTO_ERR_ADDR_HOST (host length 0 or above 253, or not a §2.1 host),
 * SOTTO_ERR_WEAK_KEY (all-zero or low-order ssk), SOTTO_ERR_TRAILING.
 */
SOTTO_NODISCARD sotto_err client_queue_addr_parse(const uint8_t *in, size_t in_len,
                                                  struct client_queue_addr *out);

/*
 * Writes the §2.1 text address of q's relay ("sotto://key@host:port") and a
 * NUL into out (out_cap bytes; NET_ADDR_TEXT_MAX + 1 always suffices), for
 * display. Errors: SOTTO_ERR_INVALID (relay not valid), SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err client_queue_addr_relay_text(const struct client_queue_addr *q, char *out,
                                                       size_t out_cap);

/*
 * Writes the §5.2 link bytes for queue q and the encoded invitation
 * (invitation_len bytes, as handshake_invitation_bytes() gives it) into out
 * (out_cap bytes; CLIENT_LINK_MAX always suffices); *out_len gets the length
 * (0 first). Errors: SOTTO_ERR_INVALID (q is invalid, or the invitation does
 * not parse), SOTTO_ERR_TOO_LARGE (out_cap too small).
 */
SOTTO_NODISCARD sotto_err client_link_encode(const struct client_queue_addr *q,
                                             const uint8_t *invitation, size_t invitation_len,
                                             uint8_t *out, size_t out_cap, size_t *out_len);

/*
 * Parses exactly in[0..in_len) as §5.2 link bytes into *out (zeroed first
 * and on failure). Errors, the first problem from the left:
 * SOTTO_ERR_TRUNCATED, SOTTO_ERR_PROTOCOL (link type not 1),
 * SOTTO_ERR_VERSION (link version not 1), the queue address's errors
 * (client_queue_addr_parse), then the invitation's
 * (handshake_invitation_parse: SOTTO_ERR_TRUNCATED, SOTTO_ERR_PROTOCOL,
 * SOTTO_ERR_TRAILING; a link ends with its invitation).
 */
SOTTO_NODISCARD sotto_err client_link_parse(const uint8_t *in, size_t in_len,
                                            struct client_link *out);

/*
 * Writes the link as text, "sotto:" + base64url of the link bytes, and a
 * NUL into text (text_cap bytes; CLIENT_LINK_TEXT_MAX + 1 always suffices).
 * text is "" on failure. Errors: those of client_link_encode.
 */
SOTTO_NODISCARD sotto_err client_link_to_text(const struct client_queue_addr *q,
                                              const uint8_t *invitation, size_t invitation_len,
                                              char *text, size_t text_cap);

/*
 * Parses a link's text[0..text_len) (no NUL needed, none allowed inside)
 * into *out (zeroed first and on failure). Errors, in the order checked:
 * SOTTO_ERR_TOO_LARGE (longer than CLIENT_LINK_TEXT_MAX), SOTTO_ERR_INVALID
 * (does not start with exactly "sotto:", lower case: not a link at all),
 * SOTTO_ERR_ENCODING (not strict base64url: padding, whitespace, another
 * alphabet, non-zero unused bits), then client_link_parse's errors.
 */
SOTTO_NODISCARD sotto_err client_link_from_text(const char *text, size_t text_len,
                                                struct client_link *out);

#endif /* SOTTO_CLIENT_LINK_H */
