/* SPDX-License-Identifier: MIT */
/*
 * link.c - queue addresses and invitation links (client layer;
 * docs/protocol.md §5.1, §5.2).
 *
 * Queue address (§5.1), 91 + h bytes:
 *
 *   offset  size  field
 *   0       32    relay static key (§2.1)
 *   32      2     port, 1..65535
 *   34      1     host length h, 1..253
 *   35      h     host, §2.1 host text, IPv6 without brackets
 *   35+h    24    SID
 *   59+h    32    ssk
 *
 * Invitation link (§5.2), 165 + h bytes, shown as "sotto:" + base64url:
 *
 *   offset  size   field
 *   0       1      link type = 1 (contact invitation)
 *   1       1      link version = 1
 *   2       91+h   the inviter's queue address
 *   93+h    72     the invitation (§3.2)
 *
 * Everything here arrives from whoever handed the user a link, so every
 * byte goes through the bounded reader and every field is checked where it
 * is read: the first problem from the left is the one reported. Hosts are
 * kept verbatim (no case folding, no IPv6 normalisation) and every check is
 * exact, so parse followed by encode gives back the same bytes. The keys
 * are public; low-order ones are refused (x25519_is_low_order).
 */
#include <stdbool.h>
#include <string.h>

#include "client/link.h"
#include "core/err.h"
#include "crypto/x25519.h"
#include "wire/base64url.h"
#include "wire/reader.h"
#include "wire/writer.h"

static const char LINK_PREFIX[] = "sotto:";

enum {
	LINK_PREFIX_LEN = sizeof(LINK_PREFIX) - 1,
	LINK_TYPE_INVITATION = 1,
	LINK_VERSION = 1,
};

_Static_assert((int)CLIENT_KEY_LEN == (int)NET_ADDR_KEY_LEN &&
                       (int)CLIENT_KEY_LEN == (int)X25519_KEY_LEN,
               "relay keys and ssk are X25519 keys");
_Static_assert(CLIENT_QUEUE_ADDR_FIXED_LEN == 32 + 2 + 1 + CLIENT_SID_LEN + CLIENT_KEY_LEN,
               "§5.1 layout");
_Static_assert((int)CLIENT_QUEUE_ADDR_MAX == (int)CLIENT_QUEUE_ADDR_FIXED_LEN + (int)NET_HOST_MAX &&
                       (int)NET_HOST_MAX <= UINT8_MAX,
               "the host length is one byte");
_Static_assert((int)CLIENT_LINK_MAX ==
                               2 + (int)CLIENT_QUEUE_ADDR_MAX + (int)PROTO_INVITATION_V1_LEN &&
                       (int)CLIENT_LINK_MIN ==
                               2 + (int)CLIENT_QUEUE_ADDR_MIN + (int)PROTO_INVITATION_V1_LEN,
               "§5.2 layout");
_Static_assert((int)CLIENT_LINK_TEXT_MAX ==
                       (int)LINK_PREFIX_LEN + ((int)CLIENT_LINK_MAX * 4 + 2) / 3,
               "base64url without padding of the longest link");

/* Length of q's host (1..253) if q is a valid queue address, else 0. */
static size_t queue_addr_check(const struct client_queue_addr *q)
{
	const char *nul = memchr(q->relay.host, '\0', sizeof(q->relay.host));
	if (nul == NULL)
		return 0;
	size_t host_len = (size_t)(nul - q->relay.host);
	if (host_len == 0 || !net_addr_host_is_valid(q->relay.host, host_len) ||
	    q->relay.port == 0 || x25519_is_low_order(q->relay.key) || x25519_is_low_order(q->ssk))
		return 0;
	return host_len;
}

static void queue_addr_write(struct wire_writer *w, const struct client_queue_addr *q,
                             size_t host_len)
{
	wire_writer_bytes(w, q->relay.key, CLIENT_KEY_LEN);
	wire_writer_u16(w, q->relay.port);
	wire_writer_lp8(w, (const uint8_t *)q->relay.host, host_len, NET_HOST_MAX);
	wire_writer_bytes(w, q->sid, CLIENT_SID_LEN);
	wire_writer_bytes(w, q->ssk, CLIENT_KEY_LEN);
}

/* Reads one §5.1 queue address; every problem is recorded in r (sticky). */
static void queue_addr_read(struct wire_reader *r, struct client_queue_addr *out)
{
	size_t host_len = 0;

	wire_reader_copy(r, out->relay.key, CLIENT_KEY_LEN);
	if (wire_reader_error(r) == SOTTO_OK && x25519_is_low_order(out->relay.key))
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_ADDR_KEY));
	out->relay.port = wire_reader_u16(r);
	if (wire_reader_error(r) == SOTTO_OK && out->relay.port == 0)
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_ADDR_PORT));
	uint8_t h = wire_reader_u8(r);
	if (wire_reader_error(r) == SOTTO_OK && (h == 0 || h > NET_HOST_MAX))
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_ADDR_HOST));
	const uint8_t *host = wire_reader_view(r, h);
	if (host != NULL) {
		host_len = h;
		if (!net_addr_host_is_valid((const char *)host, host_len))
			wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_ADDR_HOST));
		else
			memcpy(out->relay.host, host, host_len);
	}
	wire_reader_copy(r, out->sid, CLIENT_SID_LEN);
	wire_reader_copy(r, out->ssk, CLIENT_KEY_LEN);
	if (wire_reader_error(r) == SOTTO_OK && x25519_is_low_order(out->ssk))
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_WEAK_KEY));
}

sotto_err client_queue_addr_encode(const struct client_queue_addr *q, uint8_t *out, size_t out_cap,
                                   size_t *out_len)
{
	struct wire_writer w;
	size_t host_len = queue_addr_check(q);

	*out_len = 0;
	if (host_len == 0)
		return SOTTO_ERR_INVALID;
	wire_writer_init(&w, out, out_cap);
	queue_addr_write(&w, q, host_len);
	return wire_writer_finish(&w, out_len);
}

sotto_err client_queue_addr_parse(const uint8_t *in, size_t in_len, struct client_queue_addr *out)
{
	struct wire_reader rd;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&rd, in, in_len);
	queue_addr_read(&rd, out);
	if ((rc = wire_reader_finish(&rd)) != SOTTO_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

sotto_err client_queue_addr_relay_text(const struct client_queue_addr *q, char *out, size_t out_cap)
{
	return net_addr_format(&q->relay, out, out_cap);
}

sotto_err client_link_encode(const struct client_queue_addr *q, const uint8_t *invitation,
                             size_t invitation_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct handshake_invitation inv;
	struct wire_writer w;
	size_t host_len = queue_addr_check(q);

	*out_len = 0;
	/* Refuse what client_link_parse would refuse: we never hand out a dead link. */
	if (host_len == 0 ||
	    handshake_invitation_parse(invitation, invitation_len, &inv) != SOTTO_OK)
		return SOTTO_ERR_INVALID;
	wire_writer_init(&w, out, out_cap);
	wire_writer_u8(&w, LINK_TYPE_INVITATION);
	wire_writer_u8(&w, LINK_VERSION);
	queue_addr_write(&w, q, host_len);
	wire_writer_bytes(&w, invitation, invitation_len);
	return wire_writer_finish(&w, out_len);
}

sotto_err client_link_parse(const uint8_t *in, size_t in_len, struct client_link *out)
{
	struct wire_reader rd;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&rd, in, in_len);
	uint8_t type = wire_reader_u8(&rd);
	if (wire_reader_error(&rd) == SOTTO_OK && type != LINK_TYPE_INVITATION)
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
	uint8_t version = wire_reader_u8(&rd);
	if (wire_reader_error(&rd) == SOTTO_OK && version != LINK_VERSION)
		wire_reader_fail(&rd, SOTTO_RAISE(SOTTO_ERR_VERSION));
	queue_addr_read(&rd, &out->queue);
	if ((rc = wire_reader_error(&rd)) != SOTTO_OK)
		goto out;
	/* The invitation is the rest: it is self-delimiting and rejects trailing bytes. */
	size_t rest = wire_reader_remaining(&rd);
	const uint8_t *inv = wire_reader_view(&rd, rest);
	if ((rc = handshake_invitation_parse(inv, rest, &out->invitation)) != SOTTO_OK)
		goto out;
	rc = wire_reader_finish(&rd);
out:
	if (rc != SOTTO_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

sotto_err client_link_to_text(const struct client_queue_addr *q, const uint8_t *invitation,
                              size_t invitation_len, char *text, size_t text_cap)
{
	uint8_t bin[CLIENT_LINK_MAX];
	size_t bin_len = 0;
	sotto_err rc;

	if (text_cap > 0)
		text[0] = '\0';
	if ((rc = client_link_encode(q, invitation, invitation_len, bin, sizeof(bin), &bin_len)) !=
	    SOTTO_OK)
		goto out;
	rc = SOTTO_ERR_TOO_LARGE;
	if (text_cap < LINK_PREFIX_LEN)
		goto out;
	memcpy(text, LINK_PREFIX, LINK_PREFIX_LEN);
	rc = base64url_encode(text + LINK_PREFIX_LEN, text_cap - LINK_PREFIX_LEN, bin, bin_len);
out:
	if (rc != SOTTO_OK && text_cap > 0)
		text[0] = '\0';
	return rc;
}

sotto_err client_link_from_text(const char *text, size_t text_len, struct client_link *out)
{
	uint8_t bin[CLIENT_LINK_MAX];
	size_t bin_len = 0;

	memset(out, 0, sizeof(*out));
	if (text_len > CLIENT_LINK_TEXT_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (text_len < LINK_PREFIX_LEN || memcmp(text, LINK_PREFIX, LINK_PREFIX_LEN) != 0)
		return SOTTO_ERR_INVALID;
	/* CLIENT_LINK_TEXT_MAX bounds the decoded size by CLIENT_LINK_MAX. */
	if (base64url_decode(bin, sizeof(bin), &bin_len, text + LINK_PREFIX_LEN,
	                     text_len - LINK_PREFIX_LEN) != SOTTO_OK)
		return SOTTO_RAISE(SOTTO_ERR_ENCODING);
	return client_link_parse(bin, bin_len, out);
}
