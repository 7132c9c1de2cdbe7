/* SPDX-License-Identifier: MIT */
/*
 * envelope_test.c - client message plaintexts (docs/protocol.md §5.4):
 * round trips of every kind at the edge sizes (names of 1 and 64 bytes,
 * texts of 1 and 15,000, multi-byte UTF-8 up to the limits), known bytes,
 * the UTF-8 validator against overlong forms, surrogates and values past
 * U+10FFFF, hostile bodies each with its own error, and every truncation
 * and single-bit flip of a sample of each kind.
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

#include "client/envelope.h"
#include "proto/limits.h"
#include "relay/limits.h"
#include "test_util.h"

enum {
	HDR = CLIENT_ENVELOPE_HEADER_LEN,
	N_KINDS = 6,
};

#define U(s) ((const uint8_t *)(s))

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static void sample_header(struct client_envelope *e, uint8_t kind)
{
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	fill(e->msg_id, sizeof(e->msg_id), 0x10);
	e->sent_at_ms = UINT64_C(1700000000123);
}

static void set_name(struct client_envelope *e, const char *name)
{
	e->name_len = strlen(name);
	assert_true(e->name_len <= CLIENT_NAME_MAX);
	memcpy(e->name, name, e->name_len);
	e->name[e->name_len] = '\0';
}

static void sample_queue(struct client_queue_addr *q, const char *host)
{
	memset(q, 0, sizeof(*q));
	fill(q->relay.key, sizeof(q->relay.key), 0x00);
	memcpy(q->relay.host, host, strlen(host));
	q->relay.port = 5223;
	fill(q->sid, sizeof(q->sid), 0x40);
	fill(q->ssk, sizeof(q->ssk), 0x60);
}

/* A valid envelope of each kind (text borrowed from a static string). */
static void sample(struct client_envelope *e, uint8_t kind)
{
	sample_header(e, kind);
	switch (kind) {
	case CLIENT_ENVELOPE_CONNECT:
		sample_queue(&e->queue, "relay.example.org");
		set_name(e, "Bob");
		break;
	case CLIENT_ENVELOPE_CONNECTED:
		set_name(e, "Al\xc3\xad"
		            "ce"); /* Alíce */
		break;
	case CLIENT_ENVELOPE_TEXT:
		e->text = U("hello \xe2\x82\xac\n\tbye \xf0\x9f\x91\x8b");
		e->text_len = strlen((const char *)e->text);
		break;
	case CLIENT_ENVELOPE_RECEIPT:
		e->n_receipts = 3;
		for (size_t i = 0; i < e->n_receipts; i++)
			fill(e->receipts[i], CLIENT_MSG_ID_LEN, (uint8_t)(0x20 * (i + 1)));
		break;
	case CLIENT_ENVELOPE_NAME: set_name(e, "B"); break;
	default: break;
	}
}

/* Compares two envelopes field by field (text by content, not pointer). */
static void assert_same(const struct client_envelope *a, const struct client_envelope *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_memory_equal(a->msg_id, b->msg_id, CLIENT_MSG_ID_LEN);
	assert_true(a->sent_at_ms == b->sent_at_ms);
	assert_memory_equal(&a->queue, &b->queue, sizeof(a->queue));
	assert_int_equal(a->name_len, b->name_len);
	assert_memory_equal(a->name, b->name, a->name_len);
	assert_int_equal(a->text_len, b->text_len);
	if (a->text_len > 0)
		assert_memory_equal(a->text, b->text, a->text_len);
	assert_int_equal(a->n_receipts, b->n_receipts);
	assert_memory_equal(a->receipts, b->receipts, a->n_receipts * CLIENT_MSG_ID_LEN);
}

/* Encodes e, parses it back, compares, re-encodes; returns the length. */
static size_t round_trip(const struct client_envelope *e)
{
	static uint8_t buf[CLIENT_ENVELOPE_MAX], again[CLIENT_ENVELOPE_MAX];
	struct client_envelope back;
	size_t len = 0, len2 = 0;

	assert_int_equal(client_envelope_encode(e, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(client_envelope_parse(buf, len, &back), SOTTO_OK);
	assert_same(&back, e);
	if (back.name_len > 0)
		assert_int_equal(back.name[back.name_len], '\0');
	assert_int_equal(client_envelope_encode(&back, again, sizeof(again), &len2), SOTTO_OK);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	return len;
}

/* ---- UTF-8 ---- */

struct utf8_case {
	const char *what;
	const char *s;
	size_t len;
};
#define UC(what, s)                                                                                \
	{                                                                                          \
		what, s, sizeof(s) - 1                                                             \
	}

static const struct utf8_case UTF8_GOOD[] = {
        UC("empty", ""),
        UC("NUL alone (UTF-8, not a TEXT)", "\x00"),
        UC("U+007F", "\x7f"),
        UC("U+0080", "\xc2\x80"),
        UC("U+07FF", "\xdf\xbf"),
        UC("U+0800", "\xe0\xa0\x80"),
        UC("U+D7FF", "\xed\x9f\xbf"),
        UC("U+E000", "\xee\x80\x80"),
        UC("U+FFFD", "\xef\xbf\xbd"),
        UC("U+FFFF", "\xef\xbf\xbf"),
        UC("U+10000", "\xf0\x90\x80\x80"),
        UC("U+10FFFF", "\xf4\x8f\xbf\xbf"),
        UC("mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"),
};

static const struct utf8_case UTF8_BAD[] = {
        UC("lone continuation", "\x80"),
        UC("continuation after ASCII", "a\xbf"),
        UC("C0 lead (overlong)", "\xc0\x80"),
        UC("C1 lead (overlong)", "\xc1\xbf"),
        UC("overlong 3-byte NUL", "\xe0\x80\x80"),
        UC("overlong 3-byte U+07FF", "\xe0\x9f\xbf"),
        UC("overlong 4-byte U+FFFF", "\xf0\x8f\xbf\xbf"),
        UC("overlong 4-byte NUL", "\xf0\x80\x80\x80"),
        UC("high surrogate U+D800", "\xed\xa0\x80"),
        UC("low surrogate U+DFFF", "\xed\xbf\xbf"),
        UC("surrogate pair (CESU-8)", "\xed\xa0\xbd\xed\xb8\x80"),
        UC("U+110000", "\xf4\x90\x80\x80"),
        UC("F5 lead", "\xf5\x80\x80\x80"),
        UC("F8 lead (5 bytes)", "\xf8\x88\x80\x80\x80"),
        UC("FC lead (6 bytes)", "\xfc\x84\x80\x80\x80\x80"),
        UC("FE", "\xfe"),
        UC("FF", "\xff"),
        UC("2-byte cut", "\xc3"),
        UC("3-byte cut after 1", "\xe2"),
        UC("3-byte cut after 2", "\xe2\x82"),
        UC("4-byte cut after 3", "\xf0\x9f\x98"),
        UC("non-continuation second byte", "\xc3\x28"),
        UC("non-continuation third byte", "\xe2\x82\x28"),
        UC("non-continuation fourth byte", "\xf0\x9f\x98\x28"),
        UC("cut before ASCII", "\xe2\x82"
                               "a"),
};

static void client_utf8_is_valid__true__shortest_forms(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(UTF8_GOOD) / sizeof(UTF8_GOOD[0]); i++) {
		const struct utf8_case *c = &UTF8_GOOD[i];
		if (!client_utf8_is_valid(U(c->s), c->len))
			fail_msg("refused: %s", c->what);
	}
	assert_true(client_utf8_is_valid(NULL, 0));
}

static void client_utf8_is_valid__false__malformed(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(UTF8_BAD) / sizeof(UTF8_BAD[0]); i++) {
		const struct utf8_case *c = &UTF8_BAD[i];
		if (client_utf8_is_valid(U(c->s), c->len))
			fail_msg("accepted: %s", c->what);
		/* The same in the middle of valid text, and in a TEXT and a name. */
		uint8_t buf[32];
		memcpy(buf, "ab", 2);
		memcpy(buf + 2, c->s, c->len);
		memcpy(buf + 2 + c->len, "cd", 2);
		if (client_utf8_is_valid(buf, c->len + 4) ||
		    client_text_is_valid(buf, c->len + 4) || client_name_is_valid(buf, c->len + 4))
			fail_msg("accepted inside text: %s", c->what);
	}
}

/* Every code point agrees with a reference encoder, and only its shortest form passes. */
static void client_utf8_is_valid__agrees__every_code_point(void **state)
{
	uint8_t b[4];
	(void)state;

	for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
		size_t n;
		if (cp < 0x80) {
			b[0] = (uint8_t)cp;
			n = 1;
		} else if (cp < 0x800) {
			b[0] = (uint8_t)(0xc0 | cp >> 6);
			b[1] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			b[0] = (uint8_t)(0xe0 | cp >> 12);
			b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			b[0] = (uint8_t)(0xf0 | cp >> 18);
			b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
			b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
			b[3] = (uint8_t)(0x80 | (cp & 0x3f));
			n = 4;
		}
		bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
		bool control = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
		               (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
		if (client_utf8_is_valid(b, n) == surrogate)
			fail_msg("U+%04X", (unsigned)cp);
		if (client_text_is_valid(b, n) != (!surrogate && cp != 0))
			fail_msg("text U+%04X", (unsigned)cp);
		if (client_name_is_valid(b, n) != (!surrogate && !control))
			fail_msg("name U+%04X", (unsigned)cp);
	}
}

static void client_name_is_valid__false__controls_and_sizes(void **state)
{
	static const char *const bad[] = {
	        "\x01",     "a\x1f", "\t",       "a\nb",     "\r",
	        "\x1b[31m", "\x7f",  "\xc2\x80", "\xc2\x9f", "\xc2\x85", /* NEL */
	};
	uint8_t name[CLIENT_NAME_MAX + 1];
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(client_name_is_valid(U(bad[i]), strlen(bad[i])));
	assert_false(client_name_is_valid(U("a\0b"), 3));
	assert_false(client_name_is_valid(U(""), 0));
	assert_true(client_name_is_valid(U("\xc2\xa0"), 2)); /* U+00A0 is not a control */
	assert_true(client_name_is_valid(U(" "), 1));
	memset(name, 'n', sizeof(name));
	assert_true(client_name_is_valid(name, CLIENT_NAME_MAX));
	assert_false(client_name_is_valid(name, CLIENT_NAME_MAX + 1));
	/* A tab and a newline are fine in a text, a NUL is not. */
	assert_true(client_text_is_valid(U("a\tb\nc"), 5));
	assert_false(client_text_is_valid(U("a\0b"), 3));
	assert_false(client_text_is_valid(U(""), 0));
}

/* Bidirectional embeddings, overrides and isolates could disguise a name; neighbours pass. */
static void client_name_is_valid__false__bidi_overrides_and_isolates(void **state)
{
	static const char *const bad[] = {
	        "\xe2\x80\xaa",             /* U+202A LRE */
	        "\xe2\x80\xab",             /* U+202B RLE */
	        "\xe2\x80\xac",             /* U+202C PDF */
	        "\xe2\x80\xad",             /* U+202D LRO */
	        "\xe2\x80\xae",             /* U+202E RLO */
	        "\xe2\x81\xa6",             /* U+2066 LRI */
	        "\xe2\x81\xa7",             /* U+2067 RLI */
	        "\xe2\x81\xa8",             /* U+2068 FSI */
	        "\xe2\x81\xa9",             /* U+2069 PDI */
	        "alice\xe2\x80\xaegnp.exe", /* a name that would show reversed */
	};
	static const char *const good[] = {
	        "\xe2\x80\xa9", /* U+2029, just below */
	        "\xe2\x80\xaf", /* U+202F, just above */
	        "\xe2\x81\xa5", /* U+2065 */
	        "\xe2\x81\xaa", /* U+206A */
	        "\xe2\x80\x8f", /* U+200F RLM: a mark, not an override */
	};
	uint8_t buf[CLIENT_ENVELOPE_HEADER_LEN + 1 + 32];
	struct client_envelope env;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_false(client_name_is_valid(U(bad[i]), strlen(bad[i])));
		/* A text may still hold them: how to show a text is the displaying client's call.
		 */
		assert_true(client_text_is_valid(U(bad[i]), strlen(bad[i])));
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(client_name_is_valid(U(good[i]), strlen(good[i])));

	/* A NAME carrying one is refused by the parser, and never encoded. */
	memset(buf, 0, sizeof(buf));
	buf[0] = CLIENT_ENVELOPE_NAME;
	buf[CLIENT_ENVELOPE_HEADER_LEN] = 3;
	memcpy(buf + CLIENT_ENVELOPE_HEADER_LEN + 1, "\xe2\x80\xae", 3);
	assert_int_equal(client_envelope_parse(buf, CLIENT_ENVELOPE_HEADER_LEN + 4, &env),
	                 SOTTO_ERR_PROTOCOL);
	memset(&env, 0, sizeof(env));
	env.kind = CLIENT_ENVELOPE_NAME;
	memcpy(env.name, "\xe2\x81\xa6", 4);
	env.name_len = 3;
	assert_int_equal(client_envelope_encode(&env, buf, sizeof(buf), &(size_t){0}),
	                 SOTTO_ERR_INVALID);
}

/* ---- round trips ---- */

static void client_envelope_encode__identical__round_trip_every_kind(void **state)
{
	struct client_envelope e;
	(void)state;

	for (uint8_t kind = 1; kind <= N_KINDS; kind++) {
		sample(&e, kind);
		size_t len = round_trip(&e);
		switch (kind) {
		case CLIENT_ENVELOPE_CONNECT:
			assert_int_equal(len, HDR + 2 + CLIENT_QUEUE_ADDR_FIXED_LEN + 17 + 1 + 3);
			break;
		case CLIENT_ENVELOPE_LEAVE: assert_int_equal(len, HDR); break;
		case CLIENT_ENVELOPE_RECEIPT:
			assert_int_equal(len, HDR + 1 + 3 * CLIENT_MSG_ID_LEN);
			break;
		default: break;
		}
	}
	/* The header's edges: message IDs and times of all zeros and all ones. */
	sample(&e, CLIENT_ENVELOPE_LEAVE);
	e.sent_at_ms = 0;
	memset(e.msg_id, 0, sizeof(e.msg_id));
	round_trip(&e);
	e.sent_at_ms = UINT64_MAX;
	memset(e.msg_id, 0xff, sizeof(e.msg_id));
	round_trip(&e);
}

static void client_envelope_encode__identical__edge_sizes(void **state)
{
	static uint8_t text[CLIENT_TEXT_MAX + 1];
	char host[NET_HOST_MAX + 1];
	struct client_envelope e;
	(void)state;

	/* TEXT of 1 and 15,000 bytes: ASCII, 2-, 3- and 4-byte sequences ending at the limit. */
	static const char *const units[] = {"x", "\xc3\xa9", "\xe2\x82\xac", "\xf4\x8f\xbf\xbf"};
	for (size_t u = 0; u < 4; u++) {
		size_t ulen = strlen(units[u]);
		size_t n = 0;
		while (n + ulen <= CLIENT_TEXT_MAX) {
			memcpy(text + n, units[u], ulen);
			n += ulen;
		}
		memset(text + n, 'y',
		       CLIENT_TEXT_MAX - n); /* pad with ASCII to exactly the limit */
		sample(&e, CLIENT_ENVELOPE_TEXT);
		e.text = text;
		e.text_len = CLIENT_TEXT_MAX;
		assert_int_equal(round_trip(&e), CLIENT_ENVELOPE_MAX);
		/* The last sequence ends exactly at the limit (for 3 bytes: 15,000 = 5,000 x 3). */
		if (CLIENT_TEXT_MAX % ulen == 0) {
			e.text = text + CLIENT_TEXT_MAX - ulen;
			e.text_len = ulen;
			round_trip(&e);
		}
	}
	sample(&e, CLIENT_ENVELOPE_TEXT);
	e.text = U("a");
	e.text_len = 1;
	assert_int_equal(round_trip(&e), HDR + 1);

	/* Names of 1 and 64 bytes, and 64 bytes ending in 2-, 3- and 4-byte sequences. */
	static const char *const names[] = {
	        "a",
	        "0123456789012345678901234567890123456789012345678901234567890123",
	        "01234567890123456789012345678901234567890123456789012345678901\xc3\xa9",
	        "0123456789012345678901234567890123456789012345678901234567890\xe2\x82\xac",
	        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
	        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
	};
	for (uint8_t kind = 1; kind <= N_KINDS; kind++) {
		if (kind != CLIENT_ENVELOPE_CONNECT && kind != CLIENT_ENVELOPE_CONNECTED &&
		    kind != CLIENT_ENVELOPE_NAME)
			continue;
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			sample(&e, kind);
			set_name(&e, names[i]);
			assert_int_equal(e.name_len, i == 0 ? 1 : CLIENT_NAME_MAX);
			round_trip(&e);
		}
	}

	/* CONNECT with the longest and shortest hosts and an IPv6 host. */
	memset(host, 'h', NET_HOST_MAX);
	for (size_t i = 62; i < NET_HOST_MAX - 1; i += 63)
		host[i] = '.';
	host[NET_HOST_MAX] = '\0';
	const char *const hosts[] = {"a", "2001:db8::1", "192.0.2.1", host};
	for (size_t i = 0; i < 4; i++) {
		sample(&e, CLIENT_ENVELOPE_CONNECT);
		sample_queue(&e.queue, hosts[i]);
		set_name(&e, names[1]);
		size_t len = round_trip(&e);
		assert_int_equal(len, HDR + 2 + CLIENT_QUEUE_ADDR_FIXED_LEN + strlen(hosts[i]) + 1 +
		                              CLIENT_NAME_MAX);
	}

	/* RECEIPT of 1 and 64 IDs. */
	sample(&e, CLIENT_ENVELOPE_RECEIPT);
	e.n_receipts = 1;
	assert_int_equal(round_trip(&e), HDR + 1 + CLIENT_MSG_ID_LEN);
	e.n_receipts = CLIENT_RECEIPTS_MAX;
	for (size_t i = 0; i < CLIENT_RECEIPTS_MAX; i++)
		fill(e.receipts[i], CLIENT_MSG_ID_LEN, (uint8_t)i);
	assert_int_equal(round_trip(&e), HDR + 1 + CLIENT_RECEIPTS_MAX * CLIENT_MSG_ID_LEN);
}

static void client_envelope_parse__matches_spec__known_bytes(void **state)
{
	static const char *const hex[] = {
	        /* TEXT "hi" */
	        "03"
	        "101112131415161718191a1b1c1d1e1f"
	        "0000018bcfe5687b"
	        "6869",
	        /* RECEIPT of one ID */
	        "04"
	        "101112131415161718191a1b1c1d1e1f"
	        "0000018bcfe5687b"
	        "01"
	        "202122232425262728292a2b2c2d2e2f",
	        /* NAME "B" */
	        "05"
	        "101112131415161718191a1b1c1d1e1f"
	        "0000018bcfe5687b"
	        "0142",
	        /* LEAVE */
	        "06"
	        "101112131415161718191a1b1c1d1e1f"
	        "0000018bcfe5687b",
	        /* CONNECTED "Alíce" */
	        "02"
	        "101112131415161718191a1b1c1d1e1f"
	        "0000018bcfe5687b"
	        "06416cc3ad6365",
	        /* CONNECT: lp16(queue address on host "a"), name "Bob" */
	        "01"
	        "101112131415161718191a1b1c1d1e1f"
	        "0000018bcfe5687b"
	        "005c"
	        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	        "1467"
	        "01"
	        "61"
	        "404142434445464748494a4b4c4d4e4f5051525354555657"
	        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	        "03426f62",
	};
	struct client_envelope want[6], got;
	uint8_t buf[CLIENT_ENVELOPE_MAX];
	(void)state;

	sample_header(&want[0], CLIENT_ENVELOPE_TEXT);
	want[0].text = U("hi");
	want[0].text_len = 2;
	sample(&want[1], CLIENT_ENVELOPE_RECEIPT);
	want[1].n_receipts = 1;
	sample(&want[2], CLIENT_ENVELOPE_NAME);
	sample(&want[3], CLIENT_ENVELOPE_LEAVE);
	sample(&want[4], CLIENT_ENVELOPE_CONNECTED);
	sample(&want[5], CLIENT_ENVELOPE_CONNECT);
	sample_queue(&want[5].queue, "a");
	for (size_t i = 0; i < 6; i++) {
		size_t len = 0, enc_len = 0;
		uint8_t *bytes = tu_hex(hex[i], &len);
		assert_int_equal(client_envelope_parse(bytes, len, &got), SOTTO_OK);
		assert_same(&got, &want[i]);
		assert_int_equal(client_envelope_encode(&want[i], buf, sizeof(buf), &enc_len),
		                 SOTTO_OK);
		assert_int_equal(enc_len, len);
		assert_memory_equal(buf, bytes, len);
		free(bytes);
	}
}

/* ---- hostile input ---- */

/* Parses hex and expects err. */
static void expect(const char *hex, sotto_err err)
{
	struct client_envelope e;
	size_t len = 0;
	uint8_t *bytes = tu_hex(hex, &len);

	sotto_err rc = client_envelope_parse(bytes, len, &e);
	if (rc != err)
		fail_msg("%s: got %s, want %s", hex, sotto_strerror(rc), sotto_strerror(err));
	for (size_t i = 0; i < sizeof(e); i++)
		assert_int_equal(((const uint8_t *)&e)[i], 0);
	free(bytes);
}

#define H "101112131415161718191a1b1c1d1e1f0000018bcfe5687b" /* message ID, sent at */
#define QA_A                                                                                       \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f146701"                   \
	"61"                                                                                       \
	"404142434445464748494a4b4c4d4e4f5051525354555657"                                         \
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"

static void client_envelope_parse__protocol__unknown_kinds(void **state)
{
	char hex[2 * HDR + 8];
	(void)state;

	for (unsigned kind = 0; kind <= 255; kind++) {
		if (kind >= 1 && kind <= N_KINDS)
			continue;
		snprintf(hex, sizeof(hex), "%02x" H, kind);
		expect(hex, SOTTO_ERR_PROTOCOL);
		/* Even truncated or with a body, the kind is the first problem. */
		snprintf(hex, sizeof(hex), "%02x", kind);
		expect(hex, SOTTO_ERR_PROTOCOL);
		snprintf(hex, sizeof(hex), "%02x" H "0142", kind);
		expect(hex, SOTTO_ERR_PROTOCOL);
	}
}

static void client_envelope_parse__errors__hostile_bodies(void **state)
{
	(void)state;

	expect("", SOTTO_ERR_TRUNCATED);
	expect("06", SOTTO_ERR_TRUNCATED);
	expect("06101112", SOTTO_ERR_TRUNCATED);
	/* trailing bytes after each kind that has an end */
	expect("06" H "00", SOTTO_ERR_TRAILING);
	expect("05" H "014200", SOTTO_ERR_TRAILING);
	expect("02" H "014200", SOTTO_ERR_TRAILING);
	expect("04" H "01202122232425262728292a2b2c2d2e2f00", SOTTO_ERR_TRAILING);
	expect("01" H "005c" QA_A "03426f6200", SOTTO_ERR_TRAILING);
	/* TEXT: empty, NUL, overlong, surrogate, cut sequence, past U+10FFFF */
	expect("03" H, SOTTO_ERR_PROTOCOL);
	expect("03" H "00", SOTTO_ERR_PROTOCOL);
	expect("03" H "610062", SOTTO_ERR_PROTOCOL);
	expect("03" H "c0af", SOTTO_ERR_PROTOCOL);
	expect("03" H "e080af", SOTTO_ERR_PROTOCOL);
	expect("03" H "eda080", SOTTO_ERR_PROTOCOL);
	expect("03" H "edbfbf", SOTTO_ERR_PROTOCOL);
	expect("03" H "61e282", SOTTO_ERR_PROTOCOL);
	expect("03" H "f4908080", SOTTO_ERR_PROTOCOL);
	expect("03" H "ff", SOTTO_ERR_PROTOCOL);
	/* names: empty, control characters, bad UTF-8, too long, cut */
	expect("05" H "00", SOTTO_ERR_PROTOCOL);
	expect("05" H "0141"
	       "00",
	       SOTTO_ERR_TRAILING);
	expect("05" H "0100", SOTTO_ERR_PROTOCOL);
	expect("05" H "021b5b", SOTTO_ERR_PROTOCOL);
	expect("05" H "017f", SOTTO_ERR_PROTOCOL);
	expect("05" H "02c285", SOTTO_ERR_PROTOCOL);
	expect("05" H "02c0c1", SOTTO_ERR_PROTOCOL);
	expect("05" H "03eda080", SOTTO_ERR_PROTOCOL);
	expect("05" H "41", SOTTO_ERR_TOO_LARGE); /* 65, checked before the bytes remaining */
	expect("05" H "ff", SOTTO_ERR_TOO_LARGE);
	expect("05" H "02", SOTTO_ERR_TRUNCATED);
	expect("05" H "0241", SOTTO_ERR_TRUNCATED);
	expect("05" H, SOTTO_ERR_TRUNCATED);
	expect("02" H "00", SOTTO_ERR_PROTOCOL);
	expect("02" H "010a", SOTTO_ERR_PROTOCOL);
	/* RECEIPT: count 0, 65, 255, cut list */
	expect("04" H "00", SOTTO_ERR_PROTOCOL);
	expect("04" H "41", SOTTO_ERR_TOO_LARGE);
	expect("04" H "ff", SOTTO_ERR_TOO_LARGE);
	expect("04" H "02202122232425262728292a2b2c2d2e2f", SOTTO_ERR_TRUNCATED);
	expect("04" H, SOTTO_ERR_TRUNCATED);
	/* CONNECT: the queue address's own checks, its length, its name */
	expect("01" H "0000"
	       "03426f62",
	       SOTTO_ERR_TRUNCATED);
	expect("01" H "005b" QA_A "03426f62", SOTTO_ERR_TRUNCATED); /* ssk cut by the length */
	expect("01" H "005d" QA_A "00"
	       "03426f62",
	       SOTTO_ERR_TRAILING);
	expect("01" H "0159", SOTTO_ERR_TOO_LARGE); /* 345 > 344 */
	expect("01" H "ffff", SOTTO_ERR_TOO_LARGE);
	expect("01" H "005c" QA_A, SOTTO_ERR_TRUNCATED);
	expect("01" H "005c" QA_A "00", SOTTO_ERR_PROTOCOL);
	expect("01" H "005c" QA_A "010a", SOTTO_ERR_PROTOCOL);
	expect("01" H "005c"
	       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f000001"
	       "61"
	       "404142434445464748494a4b4c4d4e4f5051525354555657"
	       "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	       "03426f62",
	       SOTTO_ERR_ADDR_PORT);
	expect("01" H "005c"
	       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f146701"
	       "5f"
	       "404142434445464748494a4b4c4d4e4f5051525354555657"
	       "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
	       "03426f62",
	       SOTTO_ERR_ADDR_HOST);
	expect("01" H "005c"
	       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f146701"
	       "61"
	       "404142434445464748494a4b4c4d4e4f5051525354555657"
	       "0000000000000000000000000000000000000000000000000000000000000000"
	       "03426f62",
	       SOTTO_ERR_WEAK_KEY);
	expect("01" H "005c"
	       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f146701"
	       "61"
	       "404142434445464748494a4b4c4d4e4f5051525354555657"
	       "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"
	       "03426f62",
	       SOTTO_ERR_WEAK_KEY);
}

/* Either refused, or a value that encodes back to exactly these bytes. */
static bool check_canonical(const uint8_t *in, size_t len)
{
	static uint8_t again[CLIENT_ENVELOPE_MAX];
	struct client_envelope e;
	size_t again_len = 0;

	if (client_envelope_parse(in, len, &e) != SOTTO_OK)
		return false;
	assert_int_equal(client_envelope_encode(&e, again, sizeof(again), &again_len), SOTTO_OK);
	assert_int_equal(again_len, len);
	assert_memory_equal(again, in, len);
	return true;
}

static void client_envelope_parse__canonical__every_truncation_and_bit_flip(void **state)
{
	static uint8_t buf[CLIENT_ENVELOPE_MAX];
	struct client_envelope e;
	size_t n_accepted = 0;
	(void)state;

	for (uint8_t kind = 1; kind <= N_KINDS; kind++) {
		size_t len = 0;
		sample(&e, kind);
		assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_OK);
		for (size_t n = 0; n < len; n++) {
			bool ok = check_canonical(buf, n);
			/* Only a TEXT cut at a character boundary is still a message. */
			if (kind != CLIENT_ENVELOPE_TEXT)
				assert_false(ok);
		}
		for (size_t i = 0; i < len * 8; i++) {
			buf[i / 8] ^= (uint8_t)(1u << (i % 8));
			n_accepted += check_canonical(buf, len);
			buf[i / 8] ^= (uint8_t)(1u << (i % 8));
		}
	}
	assert_true(n_accepted > 0);
}

/* ---- encoding refusals ---- */

static void client_envelope_encode__invalid__bad_fields(void **state)
{
	uint8_t buf[CLIENT_ENVELOPE_MAX], text[CLIENT_TEXT_MAX + 1];
	struct client_envelope e;
	size_t len = 99;
	(void)state;

	for (unsigned kind = 0; kind <= 255; kind++) {
		if (kind >= 1 && kind <= N_KINDS)
			continue;
		sample(&e, CLIENT_ENVELOPE_LEAVE);
		e.kind = (uint8_t)kind;
		assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len),
		                 SOTTO_ERR_INVALID);
		assert_int_equal(len, 0);
	}
	sample(&e, CLIENT_ENVELOPE_NAME);
	e.name_len = 0;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	set_name(&e, "a\x1b");
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	set_name(&e, "\xed\xa0\x80");
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	e.name_len = CLIENT_NAME_MAX + 1;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_TOO_LARGE);
	sample(&e, CLIENT_ENVELOPE_CONNECTED);
	e.name_len = 0;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);

	sample(&e, CLIENT_ENVELOPE_TEXT);
	e.text = NULL;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	e.text = U("");
	e.text_len = 0;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	e.text = U("a\0b");
	e.text_len = 3;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	e.text = U("\xc0\x80");
	e.text_len = 2;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	memset(text, 'a', sizeof(text));
	e.text = text;
	e.text_len = CLIENT_TEXT_MAX + 1;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_TOO_LARGE);

	sample(&e, CLIENT_ENVELOPE_RECEIPT);
	e.n_receipts = 0;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	e.n_receipts = CLIENT_RECEIPTS_MAX + 1;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_TOO_LARGE);

	sample(&e, CLIENT_ENVELOPE_CONNECT);
	e.queue.relay.port = 0;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	sample(&e, CLIENT_ENVELOPE_CONNECT);
	memset(e.queue.ssk, 0, sizeof(e.queue.ssk));
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);
	sample(&e, CLIENT_ENVELOPE_CONNECT);
	e.name_len = 0;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_ERR_INVALID);

	/* Fields of other kinds are ignored: a LEAVE with a name is just a LEAVE. */
	sample(&e, CLIENT_ENVELOPE_LEAVE);
	set_name(&e, "\x01");
	e.text_len = 5;
	assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(len, HDR);
}

static void client_envelope_encode__too_large__small_buffer(void **state)
{
	uint8_t buf[CLIENT_ENVELOPE_MAX];
	struct client_envelope e;
	size_t len = 0, need = 0;
	(void)state;

	for (uint8_t kind = 1; kind <= N_KINDS; kind++) {
		sample(&e, kind);
		assert_int_equal(client_envelope_encode(&e, buf, sizeof(buf), &need), SOTTO_OK);
		for (size_t cap = 0; cap < need; cap++) {
			assert_int_equal(client_envelope_encode(&e, buf, cap, &len),
			                 SOTTO_ERR_TOO_LARGE);
			assert_int_equal(len, 0);
		}
		assert_int_equal(client_envelope_encode(&e, buf, need, &len), SOTTO_OK);
		assert_int_equal(len, need);
	}
}

static void client_envelope_pad__round_trip__every_length_near_the_edges(void **state)
{
	static uint8_t buf[RELAY_MSG_BODY_MAX];
	const size_t padded = client_envelope_padded_len(0);
	const size_t lens[] = {0, 1, 2, 100, padded - 2, padded - 1};
	size_t env_len = 99;
	(void)state;

	assert_int_equal(padded, RELAY_MSG_BODY_MAX - RATCHET_OVERHEAD);
	assert_int_equal(client_envelope_padded_len(70), padded - 70);
	assert_int_equal(client_envelope_padded_len(RELAY_MSG_BODY_MAX), 0);
	assert_true(CLIENT_ENVELOPE_MAX < client_envelope_padded_len(PROTO_HELLO_V1_LEN));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memset(buf, 0x80, sizeof(buf)); /* envelope bytes that look like the mark */
		assert_int_equal(client_envelope_pad(buf, lens[i], padded), SOTTO_OK);
		assert_int_equal(client_envelope_unpad(buf, padded, &env_len), SOTTO_OK);
		assert_int_equal(env_len, lens[i]);
	}
	assert_int_equal(client_envelope_pad(buf, padded, padded), SOTTO_ERR_TOO_LARGE);
}

static void client_envelope_unpad__protocol__no_mark(void **state)
{
	uint8_t buf[64];
	size_t env_len = 99;
	(void)state;

	memset(buf, 0, sizeof(buf));
	assert_int_equal(client_envelope_unpad(buf, sizeof(buf), &env_len), SOTTO_ERR_PROTOCOL);
	assert_int_equal(env_len, 0);
	assert_int_equal(client_envelope_unpad(buf, 0, &env_len), SOTTO_ERR_PROTOCOL);
	buf[10] = 0x80;
	buf[20] = 0x01; /* a byte after the mark that is not zero: the mark is not the last */
	assert_int_equal(client_envelope_unpad(buf, sizeof(buf), &env_len), SOTTO_ERR_PROTOCOL);
	buf[20] = 0x00;
	buf[63] = 0x7f;
	assert_int_equal(client_envelope_unpad(buf, sizeof(buf), &env_len), SOTTO_ERR_PROTOCOL);
	buf[63] = 0x00;
	assert_int_equal(client_envelope_unpad(buf, sizeof(buf), &env_len), SOTTO_OK);
	assert_int_equal(env_len, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(client_utf8_is_valid__true__shortest_forms),
	        cmocka_unit_test(client_utf8_is_valid__false__malformed),
	        cmocka_unit_test(client_utf8_is_valid__agrees__every_code_point),
	        cmocka_unit_test(client_name_is_valid__false__controls_and_sizes),
	        cmocka_unit_test(client_name_is_valid__false__bidi_overrides_and_isolates),
	        cmocka_unit_test(client_envelope_encode__identical__round_trip_every_kind),
	        cmocka_unit_test(client_envelope_encode__identical__edge_sizes),
	        cmocka_unit_test(client_envelope_parse__matches_spec__known_bytes),
	        cmocka_unit_test(client_envelope_parse__protocol__unknown_kinds),
	        cmocka_unit_test(client_envelope_parse__errors__hostile_bodies),
	        cmocka_unit_test(client_envelope_parse__canonical__every_truncation_and_bit_flip),
	        cmocka_unit_test(client_envelope_encode__invalid__bad_fields),
	        cmocka_unit_test(client_envelope_encode__too_large__small_buffer),
	        cmocka_unit_test(client_envelope_pad__round_trip__every_length_near_the_edges),
	        cmocka_unit_test(client_envelope_unpad__protocol__no_mark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
