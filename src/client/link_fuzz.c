/* SPDX-License-Identifier: MIT */
/*
 * link_fuzz.c - fuzz target for the queue address and invitation link
 * parsers (docs/protocol.md §5.1, §5.2).
 *
 * Input: any bytes; each input goes through all three parsers.
 *
 * - As link text (client_link_from_text): a success must format back to
 *   exactly the input, and the text must hold the link bytes that
 *   client_link_parse accepts alone.
 * - As link bytes (client_link_parse): a success must encode back to exactly
 *   the input.
 * - As queue address bytes (client_queue_addr_parse): a success must encode
 *   back to exactly the input, and its relay must format as a §2.1 address
 *   that net_addr_parse reads back to the same relay.
 *
 * Every failure must leave the out-parameter all zero. Anything else
 * abort()s.
 *
 * Seeds in fuzz/corpus/link/: the known-answer link of link_test.c as text
 * and as bytes, links on the shortest, longest and IPv6 hosts, a bare queue
 * address, and near-valid variants (other link type and version, zero port,
 * low-order ssk, bad host, bad invitation, padding, upper-case prefix,
 * trailing byte).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const uint8_t *data, size_t size)
{
	struct client_link link, again;
	char text[CLIENT_LINK_TEXT_MAX + 1];

	if (client_link_from_text((const char *)data, size, &link) != SOTTO_OK) {
		if (!sodium_is_zero((const unsigned char *)&link, sizeof(link)))
			abort();
		return;
	}
	if (client_link_to_text(&link.queue, link.invitation.encoded, link.invitation.encoded_len,
	                        text, sizeof(text)) != SOTTO_OK)
		abort();
	if (strlen(text) != size || memcmp(text, data, size) != 0)
		abort();
	if (client_link_from_text(text, strlen(text), &again) != SOTTO_OK ||
	    memcmp(&again, &link, sizeof(link)) != 0)
		abort();
}

static void check_bytes(const uint8_t *data, size_t size)
{
	struct client_link link;
	uint8_t out[CLIENT_LINK_MAX];
	size_t out_len = 0;

	if (client_link_parse(data, size, &link) != SOTTO_OK) {
		if (!sodium_is_zero((const unsigned char *)&link, sizeof(link)))
			abort();
		return;
	}
	if (client_link_encode(&link.queue, link.invitation.encoded, link.invitation.encoded_len,
	                       out, sizeof(out), &out_len) != SOTTO_OK)
		abort();
	if (out_len != size || memcmp(out, data, size) != 0)
		abort();
}

static void check_queue(const uint8_t *data, size_t size)
{
	struct client_queue_addr q;
	struct net_addr relay;
	uint8_t out[CLIENT_QUEUE_ADDR_MAX];
	char text[NET_ADDR_TEXT_MAX + 1];
	size_t out_len = 0;

	if (client_queue_addr_parse(data, size, &q) != SOTTO_OK) {
		if (!sodium_is_zero((const unsigned char *)&q, sizeof(q)))
			abort();
		return;
	}
	if (client_queue_addr_encode(&q, out, sizeof(out), &out_len) != SOTTO_OK)
		abort();
	if (out_len != size || memcmp(out, data, size) != 0)
		abort();
	if (client_queue_addr_relay_text(&q, text, sizeof(text)) != SOTTO_OK ||
	    net_addr_parse(text, strlen(text), &relay) != SOTTO_OK ||
	    memcmp(&relay, &q.relay, sizeof(relay)) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_text(data, size);
	check_bytes(data, size);
	check_queue(data, size);
	return 0;
}
