/* SPDX-License-Identifier: MIT */
/*
 * link_test.c - queue addresses and invitation links (docs/protocol.md
 * §5.1, §5.2): round trips at the edge sizes, a known-answer link whose
 * exact text is fixed here, hostile bytes and text (each with its own
 * error), every truncation and every single-bit flip, and a link made from
 * a real invitation that a joiner can use.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/link.h"
#include "proto/handshake.h"
#include "proto/ratchet.h"
#include "test_util.h"

enum {
	INV_LEN = PROTO_INVITATION_V1_LEN,
	/* §5.1 offsets */
	QA_OFF_PORT = 32,
	QA_OFF_HOST_LEN = 34,
	QA_OFF_HOST = 35,
	/* §5.2: the queue address starts here */
	LINK_OFF_QUEUE = 2,
};

/*
 * The known answer: relay key 00..1f, port 5223, host relay.example.org,
 * SID 40..57, ssk 60..7f, invitation type 1, range {1, 1}, I1 80..9f,
 * I2 a0..bf, no KEM. Computed independently from the tables in
 * docs/protocol.md; if this changes, the link format changed.
 */
static const char KAT_QUEUE_HEX[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "1467"
        "11"
        "72656c61792e6578616d706c652e6f7267"
        "404142434445464748494a4b4c4d4e4f5051525354555657"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f";
static const char KAT_TEXT[] =
        "sotto:AQEAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHxRnEXJlbGF5LmV4YW1wbGUub3JnQEFCQ0RF"
        "RkdISUpLTE1OT1BRUlNUVVZXYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn8BAAEAAYCBgoOEhYaH"
        "iImKi4yNjo-QkZKTlJWWl5iZmpucnZ6foKGio6SlpqeoqaqrrK2ur7CxsrO0tba3uLm6u7y9vr8AAAA";

/*
 * u-coordinates of small order on the curve or its twist (as in
 * x25519_test.c), each also with the top bit set, which X25519 ignores.
 */
static const char *const LOW_ORDER[] = {
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
};
#define N_LOW_ORDER (sizeof(LOW_ORDER) / sizeof(LOW_ORDER[0]))

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

/* The known-answer queue with another host and port. */
static void sample_queue(struct client_queue_addr *q, const char *host, uint16_t port)
{
	memset(q, 0, sizeof(*q));
	fill(q->relay.key, sizeof(q->relay.key), 0x00);
	assert_true(strlen(host) <= NET_HOST_MAX);
	memcpy(q->relay.host, host, strlen(host));
	q->relay.port = port;
	fill(q->sid, sizeof(q->sid), 0x40);
	fill(q->ssk, sizeof(q->ssk), 0x60);
}

static void sample_invitation(uint8_t inv[static INV_LEN])
{
	memset(inv, 0, INV_LEN);
	inv[0] = PROTO_INVITATION_TYPE;
	inv[2] = 1; /* min 1 */
	inv[4] = 1; /* max 1 */
	fill(inv + 5, 32, 0x80);
	fill(inv + 37, 32, 0xa0);
}

/* A DNS name of exactly len characters (1..254): labels of 62 or 63 letters. */
static void make_host(char *out, size_t len)
{
	size_t label = 0;

	for (size_t i = 0; i < len; i++) {
		if (label == 62 && i + 1 < len) {
			out[i] = '.';
			label = 0;
			continue;
		}
		out[i] = (char)('a' + i % 26);
		label++;
	}
	out[len] = '\0';
}

/* Encodes, parses back, and checks the value and the re-encoding. */
static void queue_round_trip(const struct client_queue_addr *q)
{
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX], again[CLIENT_QUEUE_ADDR_MAX];
	size_t len = 0, len2 = 0;
	struct client_queue_addr back;

	assert_int_equal(client_queue_addr_encode(q, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(len, CLIENT_QUEUE_ADDR_FIXED_LEN + strlen(q->relay.host));
	assert_int_equal(client_queue_addr_parse(buf, len, &back), SOTTO_OK);
	assert_memory_equal(&back, q, sizeof(back));
	assert_int_equal(client_queue_addr_encode(&back, again, sizeof(again), &len2), SOTTO_OK);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
}

/* Text round trip through a link; returns the text length. */
static size_t link_round_trip(const struct client_queue_addr *q, const uint8_t *inv)
{
	char text[CLIENT_LINK_TEXT_MAX + 1], again[CLIENT_LINK_TEXT_MAX + 1];
	struct client_link link;

	assert_int_equal(client_link_to_text(q, inv, INV_LEN, text, sizeof(text)), SOTTO_OK);
	assert_int_equal(client_link_from_text(text, strlen(text), &link), SOTTO_OK);
	assert_memory_equal(&link.queue, q, sizeof(*q));
	assert_int_equal(link.invitation.encoded_len, INV_LEN);
	assert_memory_equal(link.invitation.encoded, inv, INV_LEN);
	assert_int_equal(client_link_to_text(&link.queue, link.invitation.encoded,
	                                     link.invitation.encoded_len, again, sizeof(again)),
	                 SOTTO_OK);
	assert_string_equal(again, text);
	return strlen(text);
}

/* ---- queue address (§5.1) ---- */

static void client_queue_addr_parse__matches_spec__known_bytes(void **state)
{
	struct client_queue_addr q, parsed;
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX];
	size_t len = 0, want_len = 0;
	(void)state;

	uint8_t *want = tu_hex(KAT_QUEUE_HEX, &want_len);
	sample_queue(&q, "relay.example.org", 5223);
	assert_int_equal(client_queue_addr_encode(&q, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(len, want_len);
	assert_memory_equal(buf, want, len);
	assert_int_equal(client_queue_addr_parse(want, want_len, &parsed), SOTTO_OK);
	assert_memory_equal(&parsed, &q, sizeof(q));
	free(want);
}

static void client_queue_addr_encode__identical__round_trip_edge_hosts(void **state)
{
	static const char *const hosts[] = {
	        "a",
	        "localhost",
	        "relay.example.org",
	        "192.0.2.1",
	        "0.0.0.0",
	        "255.255.255.255",
	        "::1",
	        "2001:db8::8:800:200c:417a",
	        "2001:DB8:0:0:0:0:0:1",
	        "::ffff:192.0.2.1",
	        "xn--bcher-kva.example",
	};
	static const uint16_t ports[] = {1, 5223, 65535};
	struct client_queue_addr q;
	char host[NET_HOST_MAX + 1];
	(void)state;

	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
		for (size_t j = 0; j < sizeof(ports) / sizeof(ports[0]); j++) {
			sample_queue(&q, hosts[i], ports[j]);
			queue_round_trip(&q);
		}
	}
	for (size_t len = 1; len <= NET_HOST_MAX; len++) {
		make_host(host, len);
		sample_queue(&q, host, 443);
		queue_round_trip(&q);
	}
}

/* Writes a §5.1 queue address with any host bytes and host length byte. */
static size_t raw_queue(uint8_t *out, const uint8_t *host, size_t host_len, uint8_t h_field,
                        uint16_t port)
{
	size_t n = 0;

	fill(out, 32, 0x00);
	n += 32;
	out[n++] = (uint8_t)(port >> 8);
	out[n++] = (uint8_t)port;
	out[n++] = h_field;
	memcpy(out + n, host, host_len);
	n += host_len;
	fill(out + n, 24, 0x40);
	n += 24;
	fill(out + n, 32, 0x60);
	n += 32;
	return n;
}

static void client_queue_addr_parse__addr_host__bad_hosts(void **state)
{
	static const char *const bad[] = {
	        "[::1]",    "relay_1.example", "relay..example", ".relay",  "relay.",  "a b",
	        "1.2.3",    "256.0.0.1",       "01.2.3.4",       "1::2::3", "::1%lo0", "g::1",
	        "relay:80", "r\xc3\xa9lay",
	};
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX + 64];
	struct client_queue_addr q;
	char host[NET_HOST_MAX + 2];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t h = strlen(bad[i]);
		size_t n = raw_queue(buf, (const uint8_t *)bad[i], h, (uint8_t)h, 443);
		assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_ADDR_HOST);
	}
	/* A NUL inside the host. */
	size_t n = raw_queue(buf, (const uint8_t *)"ab\0cd", 5, 5, 443);
	assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_ADDR_HOST);
	/* Length 0, and 254 (a valid-looking name one character too long). */
	n = raw_queue(buf, (const uint8_t *)"", 0, 0, 443);
	assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_ADDR_HOST);
	make_host(host, NET_HOST_MAX + 1);
	n = raw_queue(buf, (const uint8_t *)host, NET_HOST_MAX + 1, NET_HOST_MAX + 1, 443);
	assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_ADDR_HOST);
	/* The length byte says 255 but the bytes would fit: still the host's fault. */
	n = raw_queue(buf, (const uint8_t *)host, 255, 255, 443);
	assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_ADDR_HOST);
	/* The out-parameter is zeroed on failure. */
	for (size_t i = 0; i < sizeof(q); i++)
		assert_int_equal(((const uint8_t *)&q)[i], 0);
}

static void client_queue_addr_parse__addr_port__zero_port(void **state)
{
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX];
	struct client_queue_addr q;
	(void)state;

	size_t n = raw_queue(buf, (const uint8_t *)"a", 1, 1, 0);
	assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_ADDR_PORT);
	n = raw_queue(buf, (const uint8_t *)"a", 1, 1, 1);
	assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_OK);
}

static void client_queue_addr_parse__weak_key__low_order_ssk(void **state)
{
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX];
	struct client_queue_addr q;
	(void)state;

	size_t n = raw_queue(buf, (const uint8_t *)"a", 1, 1, 443);
	for (size_t i = 0; i < N_LOW_ORDER; i++) {
		tu_hex_fixed(LOW_ORDER[i], buf + n - CLIENT_KEY_LEN, CLIENT_KEY_LEN);
		assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_WEAK_KEY);
	}
}

static void client_queue_addr_parse__addr_key__low_order_relay_key(void **state)
{
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX];
	struct client_queue_addr q;
	(void)state;

	size_t n = raw_queue(buf, (const uint8_t *)"a", 1, 1, 443);
	for (size_t i = 0; i < N_LOW_ORDER; i++) {
		tu_hex_fixed(LOW_ORDER[i], buf, CLIENT_KEY_LEN);
		assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_ERR_ADDR_KEY);
	}
}

static void client_queue_addr_parse__truncated_or_trailing__wrong_lengths(void **state)
{
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX + 1];
	struct client_queue_addr q;
	(void)state;

	size_t n = raw_queue(buf, (const uint8_t *)"relay.example", 13, 13, 443);
	for (size_t len = 0; len < n; len++)
		assert_int_equal(client_queue_addr_parse(buf, len, &q), SOTTO_ERR_TRUNCATED);
	buf[n] = 0;
	assert_int_equal(client_queue_addr_parse(buf, n + 1, &q), SOTTO_ERR_TRAILING);
	assert_int_equal(client_queue_addr_parse(buf, n, &q), SOTTO_OK);
}

static void client_queue_addr_encode__invalid__bad_values(void **state)
{
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX];
	size_t len = 99;
	struct client_queue_addr q;
	(void)state;

	sample_queue(&q, "", 443);
	assert_int_equal(client_queue_addr_encode(&q, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	assert_int_equal(len, 0);
	sample_queue(&q, "relay_1", 443);
	assert_int_equal(client_queue_addr_encode(&q, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	sample_queue(&q, "a", 0);
	assert_int_equal(client_queue_addr_encode(&q, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	sample_queue(&q, "a", 1);
	memset(q.relay.host, 'a', sizeof(q.relay.host)); /* no NUL */
	assert_int_equal(client_queue_addr_encode(&q, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	for (size_t i = 0; i < N_LOW_ORDER; i++) {
		sample_queue(&q, "a", 1);
		tu_hex_fixed(LOW_ORDER[i], q.ssk, sizeof(q.ssk));
		assert_int_equal(client_queue_addr_encode(&q, buf, sizeof(buf), &len),
		                 SOTTO_ERR_INVALID);
		sample_queue(&q, "a", 1);
		tu_hex_fixed(LOW_ORDER[i], q.relay.key, sizeof(q.relay.key));
		assert_int_equal(client_queue_addr_encode(&q, buf, sizeof(buf), &len),
		                 SOTTO_ERR_INVALID);
	}
}

static void client_queue_addr_encode__too_large__small_buffer(void **state)
{
	uint8_t buf[CLIENT_QUEUE_ADDR_MAX];
	size_t len = 99;
	struct client_queue_addr q;
	(void)state;

	sample_queue(&q, "relay.example.org", 443);
	size_t need = CLIENT_QUEUE_ADDR_FIXED_LEN + strlen("relay.example.org");
	assert_int_equal(client_queue_addr_encode(&q, buf, need - 1, &len), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	assert_int_equal(client_queue_addr_encode(&q, buf, need, &len), SOTTO_OK);
	assert_int_equal(len, need);
}

static void client_queue_addr_relay_text__sotto_address__dns_and_ipv6(void **state)
{
	char text[NET_ADDR_TEXT_MAX + 1];
	struct client_queue_addr q;
	(void)state;

	sample_queue(&q, "relay.example.org", 5223);
	assert_int_equal(client_queue_addr_relay_text(&q, text, sizeof(text)), SOTTO_OK);
	assert_string_equal(
	        text, "sotto://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8@relay.example.org:5223");
	sample_queue(&q, "::1", 443);
	assert_int_equal(client_queue_addr_relay_text(&q, text, sizeof(text)), SOTTO_OK);
	assert_string_equal(text, "sotto://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8@[::1]:443");
	/* The displayed text is a relay address that parses back to the same relay. */
	struct net_addr back;
	assert_int_equal(net_addr_parse(text, strlen(text), &back), SOTTO_OK);
	assert_memory_equal(&back, &q.relay, sizeof(back));
	assert_int_equal(client_queue_addr_relay_text(&q, text, 10), SOTTO_ERR_TOO_LARGE);
	assert_string_equal(text, "");
	sample_queue(&q, "a", 0);
	assert_int_equal(client_queue_addr_relay_text(&q, text, sizeof(text)), SOTTO_ERR_INVALID);
}

/* ---- link (§5.2) ---- */

static void client_link_to_text__matches_spec__known_answer(void **state)
{
	char text[CLIENT_LINK_TEXT_MAX + 1];
	uint8_t inv[INV_LEN], bin[CLIENT_LINK_MAX];
	size_t len = 0, q_len = 0;
	struct client_queue_addr q;
	struct client_link link;
	(void)state;

	sample_queue(&q, "relay.example.org", 5223);
	sample_invitation(inv);
	assert_int_equal(client_link_to_text(&q, inv, sizeof(inv), text, sizeof(text)), SOTTO_OK);
	assert_string_equal(text, KAT_TEXT);
	assert_int_equal(strlen(text), 249);

	/* The bytes: type 1, version 1, the queue address, the invitation. */
	uint8_t *want_q = tu_hex(KAT_QUEUE_HEX, &q_len);
	assert_int_equal(client_link_encode(&q, inv, sizeof(inv), bin, sizeof(bin), &len),
	                 SOTTO_OK);
	assert_int_equal(len, 2 + q_len + INV_LEN);
	assert_int_equal(bin[0], 1);
	assert_int_equal(bin[1], 1);
	assert_memory_equal(bin + 2, want_q, q_len);
	assert_memory_equal(bin + 2 + q_len, inv, INV_LEN);
	free(want_q);

	assert_int_equal(client_link_from_text(KAT_TEXT, strlen(KAT_TEXT), &link), SOTTO_OK);
	assert_memory_equal(&link.queue, &q, sizeof(q));
	assert_int_equal(link.invitation.versions.min, 1);
	assert_int_equal(link.invitation.versions.max, 1);
	assert_memory_equal(link.invitation.key1, inv + 5, 32);
	assert_memory_equal(link.invitation.key2, inv + 37, 32);
}

static void client_link_from_text__identical__round_trip_edge_sizes(void **state)
{
	uint8_t inv[INV_LEN];
	char host[NET_HOST_MAX + 1];
	struct client_queue_addr q;
	(void)state;

	sample_invitation(inv);
	sample_queue(&q, "a", 1);
	assert_int_equal(link_round_trip(&q, inv), 6 + 222); /* 166 bytes */
	sample_queue(&q, "127.0.0.1", 5223);
	assert_int_equal(link_round_trip(&q, inv), 238); /* the figure in §5.2 */
	sample_queue(&q, "2001:db8::8:800:200c:417a", 65535);
	link_round_trip(&q, inv);
	make_host(host, NET_HOST_MAX);
	sample_queue(&q, host, 65535);
	assert_int_equal(link_round_trip(&q, inv), CLIENT_LINK_TEXT_MAX);
	for (size_t len = 1; len <= NET_HOST_MAX; len++) {
		make_host(host, len);
		sample_queue(&q, host, (uint16_t)len);
		link_round_trip(&q, inv);
	}
}

/* The known-answer link as bytes, with one byte changed. */
static size_t kat_bytes(uint8_t *out, size_t cap)
{
	uint8_t inv[INV_LEN];
	struct client_queue_addr q;
	size_t len = 0;

	sample_queue(&q, "relay.example.org", 5223);
	sample_invitation(inv);
	assert_int_equal(client_link_encode(&q, inv, sizeof(inv), out, cap, &len), SOTTO_OK);
	return len;
}

static void client_link_parse__version__other_link_versions(void **state)
{
	uint8_t bin[CLIENT_LINK_MAX];
	struct client_link link;
	(void)state;

	size_t len = kat_bytes(bin, sizeof(bin));
	for (unsigned v = 0; v <= 255; v++) {
		bin[1] = (uint8_t)v;
		assert_int_equal(client_link_parse(bin, len, &link),
		                 v == 1 ? SOTTO_OK : SOTTO_ERR_VERSION);
	}
}

static void client_link_parse__protocol__other_link_types(void **state)
{
	uint8_t bin[CLIENT_LINK_MAX];
	struct client_link link;
	(void)state;

	size_t len = kat_bytes(bin, sizeof(bin));
	for (unsigned t = 0; t <= 255; t++) {
		bin[0] = (uint8_t)t;
		assert_int_equal(client_link_parse(bin, len, &link),
		                 t == 1 ? SOTTO_OK : SOTTO_ERR_PROTOCOL);
	}
}

static void client_link_parse__errors__hostile_fields(void **state)
{
	uint8_t bin[CLIENT_LINK_MAX + 1];
	struct client_link link;
	(void)state;

	size_t len = kat_bytes(bin, sizeof(bin));
	size_t h = strlen("relay.example.org");
	size_t off_ssk = LINK_OFF_QUEUE + CLIENT_QUEUE_ADDR_FIXED_LEN + h - CLIENT_KEY_LEN;
	size_t off_inv = LINK_OFF_QUEUE + CLIENT_QUEUE_ADDR_FIXED_LEN + h;

	/* zero port */
	bin[LINK_OFF_QUEUE + QA_OFF_PORT] = 0;
	bin[LINK_OFF_QUEUE + QA_OFF_PORT + 1] = 0;
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_ADDR_PORT);
	len = kat_bytes(bin, sizeof(bin));
	/* an upper-case host is kept verbatim, an underscore is not a host */
	bin[LINK_OFF_QUEUE + QA_OFF_HOST] = 'R';
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_OK);
	assert_string_equal(link.queue.relay.host, "Relay.example.org");
	bin[LINK_OFF_QUEUE + QA_OFF_HOST] = '_';
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_ADDR_HOST);
	len = kat_bytes(bin, sizeof(bin));
	/* host length 0 */
	bin[LINK_OFF_QUEUE + QA_OFF_HOST_LEN] = 0;
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_ADDR_HOST);
	len = kat_bytes(bin, sizeof(bin));
	/* low-order ssk, low-order relay key */
	memset(bin + off_ssk, 0, CLIENT_KEY_LEN);
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_WEAK_KEY);
	len = kat_bytes(bin, sizeof(bin));
	memset(bin + LINK_OFF_QUEUE, 0, CLIENT_KEY_LEN);
	bin[LINK_OFF_QUEUE] = 1;
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_ADDR_KEY);
	len = kat_bytes(bin, sizeof(bin));
	/* the invitation's own checks: type, version range, KEM type and length */
	bin[off_inv] = 2;
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_PROTOCOL);
	len = kat_bytes(bin, sizeof(bin));
	bin[off_inv + 2] = 0; /* range {0, 1} */
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_PROTOCOL);
	len = kat_bytes(bin, sizeof(bin));
	bin[off_inv + 69] = 1; /* KEM type 1 */
	assert_int_equal(client_link_parse(bin, len, &link), SOTTO_ERR_PROTOCOL);
	len = kat_bytes(bin, sizeof(bin));
	/* trailing byte, and every truncation */
	bin[len] = 0;
	assert_int_equal(client_link_parse(bin, len + 1, &link), SOTTO_ERR_TRAILING);
	for (size_t n = 0; n < len; n++)
		assert_int_equal(client_link_parse(bin, n, &link), SOTTO_ERR_TRUNCATED);
	for (size_t i = 0; i < sizeof(link); i++)
		assert_int_equal(((const uint8_t *)&link)[i], 0);
}

static void client_link_from_text__invalid__wrong_prefix(void **state)
{
	static const char *const bad[] = {
	        "",        "s",      "sotto",    "Sotto:",  "SOTTO:",  "sotto;",
	        " sotto:", "sotto ", "simplex:", "sotto.:", "xsotto:",
	};
	struct client_link link;
	char text[CLIENT_LINK_TEXT_MAX + 1];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(client_link_from_text(bad[i], strlen(bad[i]), &link),
		                 SOTTO_ERR_INVALID);
	/* The known answer with its prefix in another case. */
	memcpy(text, KAT_TEXT, sizeof(KAT_TEXT));
	memcpy(text, "Sotto:", 6);
	assert_int_equal(client_link_from_text(text, strlen(text), &link), SOTTO_ERR_INVALID);
	memcpy(text, "SOTTO:", 6);
	assert_int_equal(client_link_from_text(text, strlen(text), &link), SOTTO_ERR_INVALID);
}

/* KAT_TEXT with s inserted at pos (or replacing n characters there). */
static size_t kat_edit(char *out, size_t pos, size_t n_removed, const char *s)
{
	size_t kat_len = strlen(KAT_TEXT), s_len = strlen(s);

	memcpy(out, KAT_TEXT, pos);
	memcpy(out + pos, s, s_len);
	memcpy(out + pos + s_len, KAT_TEXT + pos + n_removed, kat_len - pos - n_removed + 1);
	return kat_len - n_removed + s_len;
}

static void client_link_from_text__encoding__bad_base64url(void **state)
{
	char text[CLIENT_LINK_TEXT_MAX + 16];
	struct client_link link;
	size_t kat_len = strlen(KAT_TEXT);
	(void)state;

	struct {
		size_t pos, n_removed;
		const char *s;
	} edits[] = {
	        {kat_len, 0, "="}, /* padding (243 characters: one '=' would make 244) */
	        {kat_len, 0, "=="}, {6, 1, "+"}, /* standard alphabet */
	        {40, 1, "/"},       {6, 0, " "}, /* whitespace anywhere */
	        {100, 0, "\n"},     {kat_len, 0, "\n"},    {kat_len, 0, "\r\n"}, {100, 1, "."},
	        {100, 1, "\x80"},   {kat_len - 1, 1, "B"}, /* non-zero unused bits in the last
	                                                      character */
	        {kat_len, 0, "AA"},                        /* a length of 1 modulo 4 */
	        {6, 0, "sotto:"},                          /* the prefix twice */
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		size_t len = kat_edit(text, edits[i].pos, edits[i].n_removed, edits[i].s);
		assert_int_equal(client_link_from_text(text, len, &link), SOTTO_ERR_ENCODING);
	}
	/* A NUL inside the text. */
	memcpy(text, KAT_TEXT, kat_len + 1);
	text[50] = '\0';
	assert_int_equal(client_link_from_text(text, kat_len, &link), SOTTO_ERR_ENCODING);
	/* A relay address is not a link. */
	static const char relay[] =
	        "sotto://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8@relay.example.org:5223";
	assert_int_equal(client_link_from_text(relay, strlen(relay), &link), SOTTO_ERR_ENCODING);
}

static void client_link_from_text__trailing_or_truncated__wrong_lengths(void **state)
{
	char text[CLIENT_LINK_TEXT_MAX + 16];
	struct client_link link;
	size_t kat_len = strlen(KAT_TEXT);
	(void)state;

	/* Two more characters decode to one more byte after the invitation. */
	size_t len = kat_edit(text, kat_len, 0, "AA");
	assert_int_equal(client_link_from_text(text, len, &link), SOTTO_ERR_ENCODING);
	/* The text ends "AAA" (182 bytes, 2 unused bits); "AAAAAA" holds two more zero bytes. */
	len = kat_edit(text, kat_len - 1, 1, "AAAA");
	assert_int_equal(client_link_from_text(text, len, &link), SOTTO_ERR_TRAILING);
	/* Every truncation is refused, never accepted. */
	for (size_t n = 0; n < kat_len; n++) {
		sotto_err rc = client_link_from_text(KAT_TEXT, n, &link);
		assert_true(rc == SOTTO_ERR_INVALID || rc == SOTTO_ERR_ENCODING ||
		            rc == SOTTO_ERR_TRUNCATED);
		if (n >= 6 && (n - 6) % 4 != 1)
			assert_true(rc == SOTTO_ERR_TRUNCATED || rc == SOTTO_ERR_ENCODING);
	}
}

static void client_link_from_text__too_large__long_text(void **state)
{
	char text[CLIENT_LINK_TEXT_MAX + 2];
	struct client_link link;
	(void)state;

	memcpy(text, "sotto:", 6);
	memset(text + 6, 'A', sizeof(text) - 6);
	assert_int_equal(client_link_from_text(text, CLIENT_LINK_TEXT_MAX + 1, &link),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(client_link_from_text(text, SIZE_MAX, &link), SOTTO_ERR_TOO_LARGE);
	/* At the limit the length is fine and the content is what is wrong. */
	assert_int_not_equal(client_link_from_text(text, CLIENT_LINK_TEXT_MAX, &link),
	                     SOTTO_ERR_TOO_LARGE);
}

/* Either refused, or a value that encodes back to exactly these bytes. */
static void check_bytes_canonical(const uint8_t *bin, size_t len)
{
	uint8_t again[CLIENT_LINK_MAX];
	size_t again_len = 0;
	struct client_link link;

	if (client_link_parse(bin, len, &link) != SOTTO_OK)
		return;
	assert_int_equal(client_link_encode(&link.queue, link.invitation.encoded,
	                                    link.invitation.encoded_len, again, sizeof(again),
	                                    &again_len),
	                 SOTTO_OK);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, bin, len);
}

static void check_text_canonical(const char *text, size_t len)
{
	char again[CLIENT_LINK_TEXT_MAX + 1];
	struct client_link link;

	if (client_link_from_text(text, len, &link) != SOTTO_OK)
		return;
	assert_int_equal(client_link_to_text(&link.queue, link.invitation.encoded,
	                                     link.invitation.encoded_len, again, sizeof(again)),
	                 SOTTO_OK);
	assert_int_equal(strlen(again), len);
	assert_memory_equal(again, text, len);
}

static void client_link_parse__canonical__every_bit_flip(void **state)
{
	uint8_t bin[CLIENT_LINK_MAX];
	char text[CLIENT_LINK_TEXT_MAX + 1];
	char host[NET_HOST_MAX + 1];
	uint8_t inv[INV_LEN];
	struct client_queue_addr q;
	size_t n_accepted = 0;
	(void)state;

	sample_invitation(inv);
	const char *hosts[] = {"relay.example.org", "::1", "192.0.2.1", host};
	make_host(host, NET_HOST_MAX);
	for (size_t k = 0; k < sizeof(hosts) / sizeof(hosts[0]); k++) {
		size_t len = 0;
		sample_queue(&q, hosts[k], 5223);
		assert_int_equal(client_link_encode(&q, inv, sizeof(inv), bin, sizeof(bin), &len),
		                 SOTTO_OK);
		for (size_t i = 0; i < len * 8; i++) {
			bin[i / 8] ^= (uint8_t)(1u << (i % 8));
			check_bytes_canonical(bin, len);
			n_accepted +=
			        client_link_parse(bin, len, &(struct client_link){0}) == SOTTO_OK;
			bin[i / 8] ^= (uint8_t)(1u << (i % 8));
		}
		for (size_t n = 0; n < len; n++)
			check_bytes_canonical(bin, n);
		assert_int_equal(client_link_to_text(&q, inv, sizeof(inv), text, sizeof(text)),
		                 SOTTO_OK);
		size_t text_len = strlen(text);
		for (size_t i = 0; i < text_len * 8; i++) {
			text[i / 8] = (char)(text[i / 8] ^ (1 << (i % 8)));
			check_text_canonical(text, text_len);
			text[i / 8] = (char)(text[i / 8] ^ (1 << (i % 8)));
		}
		for (size_t n = 0; n < text_len; n++)
			check_text_canonical(text, n);
	}
	/* Flips in keys, SID and invitation keys are accepted: the test saw both outcomes. */
	assert_true(n_accepted > 0);
}

static void client_link_encode__invalid__bad_queue_or_invitation(void **state)
{
	uint8_t inv[INV_LEN + 1], bin[CLIENT_LINK_MAX];
	char text[CLIENT_LINK_TEXT_MAX + 1];
	size_t len = 99;
	struct client_queue_addr q;
	(void)state;

	sample_invitation(inv);
	sample_queue(&q, "a", 0);
	assert_int_equal(client_link_encode(&q, inv, INV_LEN, bin, sizeof(bin), &len),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(len, 0);
	memset(text, 'x', sizeof(text));
	assert_int_equal(client_link_to_text(&q, inv, INV_LEN, text, sizeof(text)),
	                 SOTTO_ERR_INVALID);
	assert_string_equal(text, "");
	sample_queue(&q, "a", 1);
	assert_int_equal(client_link_encode(&q, inv, INV_LEN - 1, bin, sizeof(bin), &len),
	                 SOTTO_ERR_INVALID);
	inv[INV_LEN] = 0;
	assert_int_equal(client_link_encode(&q, inv, INV_LEN + 1, bin, sizeof(bin), &len),
	                 SOTTO_ERR_INVALID);
	inv[0] = 2;
	assert_int_equal(client_link_encode(&q, inv, INV_LEN, bin, sizeof(bin), &len),
	                 SOTTO_ERR_INVALID);
}

static void client_link_to_text__too_large__small_buffer(void **state)
{
	char text[CLIENT_LINK_TEXT_MAX + 1];
	uint8_t inv[INV_LEN], bin[CLIENT_LINK_MAX];
	size_t len = 0;
	struct client_queue_addr q;
	(void)state;

	sample_queue(&q, "relay.example.org", 5223);
	sample_invitation(inv);
	size_t need = strlen(KAT_TEXT) + 1;
	for (size_t cap = 0; cap < need; cap++) {
		memset(text, 'x', sizeof(text));
		assert_int_equal(client_link_to_text(&q, inv, sizeof(inv), text, cap),
		                 SOTTO_ERR_TOO_LARGE);
		if (cap > 0)
			assert_int_equal(text[0], '\0');
	}
	assert_int_equal(client_link_to_text(&q, inv, sizeof(inv), text, need), SOTTO_OK);
	assert_string_equal(text, KAT_TEXT);
	assert_int_equal(client_link_encode(&q, inv, sizeof(inv), bin, 181, &len),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	assert_int_equal(client_link_encode(&q, inv, sizeof(inv), bin, 182, &len), SOTTO_OK);
	assert_int_equal(len, 182);
}

/* A link made from a real invitation carries it intact: the joiner can use it. */
static void client_link_from_text__joinable__real_invitation(void **state)
{
	struct tu_rng rng_a, rng_b;
	struct handshake_inviter *inviter = NULL;
	struct ratchet *r = NULL;
	struct client_queue_addr q;
	struct client_link link;
	char text[CLIENT_LINK_TEXT_MAX + 1];
	uint8_t hello[PROTO_HELLO_V1_LEN];
	size_t inv_len = 0, hello_len = 0;
	(void)state;

	tu_rng_init(&rng_a, 1);
	tu_rng_init(&rng_b, 2);
	sotto_ctx *a = tu_ctx(NULL, &rng_a, NULL);
	sotto_ctx *b = tu_ctx(NULL, &rng_b, NULL);
	assert_int_equal(handshake_invite_new(a, &inviter), SOTTO_OK);
	const uint8_t *inv = handshake_invitation_bytes(inviter, &inv_len);
	sample_queue(&q, "127.0.0.1", 5223);
	assert_int_equal(client_link_to_text(&q, inv, inv_len, text, sizeof(text)), SOTTO_OK);
	assert_int_equal(strlen(text), 238);
	assert_int_equal(client_link_from_text(text, strlen(text), &link), SOTTO_OK);
	assert_memory_equal(link.invitation.encoded, inv, inv_len);
	assert_int_equal(handshake_join(b, &link.invitation, hello, sizeof(hello), &hello_len, &r),
	                 SOTTO_OK);
	assert_int_equal(hello_len, PROTO_HELLO_V1_LEN);
	ratchet_free(r);
	handshake_inviter_free(inviter);
	sotto_ctx_free(b);
	sotto_ctx_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(client_queue_addr_parse__matches_spec__known_bytes),
	        cmocka_unit_test(client_queue_addr_encode__identical__round_trip_edge_hosts),
	        cmocka_unit_test(client_queue_addr_parse__addr_host__bad_hosts),
	        cmocka_unit_test(client_queue_addr_parse__addr_port__zero_port),
	        cmocka_unit_test(client_queue_addr_parse__weak_key__low_order_ssk),
	        cmocka_unit_test(client_queue_addr_parse__addr_key__low_order_relay_key),
	        cmocka_unit_test(client_queue_addr_parse__truncated_or_trailing__wrong_lengths),
	        cmocka_unit_test(client_queue_addr_encode__invalid__bad_values),
	        cmocka_unit_test(client_queue_addr_encode__too_large__small_buffer),
	        cmocka_unit_test(client_queue_addr_relay_text__sotto_address__dns_and_ipv6),
	        cmocka_unit_test(client_link_to_text__matches_spec__known_answer),
	        cmocka_unit_test(client_link_from_text__identical__round_trip_edge_sizes),
	        cmocka_unit_test(client_link_parse__version__other_link_versions),
	        cmocka_unit_test(client_link_parse__protocol__other_link_types),
	        cmocka_unit_test(client_link_parse__errors__hostile_fields),
	        cmocka_unit_test(client_link_from_text__invalid__wrong_prefix),
	        cmocka_unit_test(client_link_from_text__encoding__bad_base64url),
	        cmocka_unit_test(client_link_from_text__trailing_or_truncated__wrong_lengths),
	        cmocka_unit_test(client_link_from_text__too_large__long_text),
	        cmocka_unit_test(client_link_parse__canonical__every_bit_flip),
	        cmocka_unit_test(client_link_encode__invalid__bad_queue_or_invitation),
	        cmocka_unit_test(client_link_to_text__too_large__small_buffer),
	        cmocka_unit_test(client_link_from_text__joinable__real_invitation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
