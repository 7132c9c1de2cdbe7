/* SPDX-License-Identifier: MIT */
/*
 * addr_test.c - relay addresses: valid and invalid tables with the specific
 * error for each, every truncation, and format(parse(x)) == x.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "net/addr.h"
#include "test_util.h"

/* base64url of the bytes 0..31, and of a key with high bits everywhere. */
#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
#define KEY_B "-__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8"
#define PFX   "sotto://" KEY_A "@"

struct valid_case {
	const char *text;
	const char *host;
	uint16_t port;
};

static const struct valid_case VALID[] = {
        {PFX "relay.example.org:443", "relay.example.org", 443},
        {PFX "localhost:1", "localhost", 1},
        {PFX "a:65535", "a", 65535},
        {PFX "A-b.C-9.example:5223", "A-b.C-9.example", 5223},
        {PFX "xn--bcher-kva.example:80", "xn--bcher-kva.example", 80},
        {PFX "3com.example:8", "3com.example", 8},
        {PFX "192.0.2.1:5223", "192.0.2.1", 5223},
        {PFX "0.0.0.0:1", "0.0.0.0", 1},
        {PFX "255.255.255.255:65535", "255.255.255.255", 65535},
        {PFX "[::1]:443", "::1", 443},
        {PFX "[2001:db8::8:800:200c:417a]:1", "2001:db8::8:800:200c:417a", 1},
        {PFX "[2001:DB8:0:0:0:0:0:1]:2", "2001:DB8:0:0:0:0:0:1", 2},
        {PFX "[::ffff:192.0.2.1]:65535", "::ffff:192.0.2.1", 65535},
        {"sotto://" KEY_B "@relay.example:9", "relay.example", 9},
};

struct invalid_case {
	const char *what;
	const char *text;
	sotto_err want;
};

static const struct invalid_case INVALID[] = {
        {"empty", "", SOTTO_ERR_ADDR_SCHEME},
        {"other scheme", "smp://" KEY_A "@a:1", SOTTO_ERR_ADDR_SCHEME},
        {"upper-case scheme", "SOTTO://" KEY_A "@a:1", SOTTO_ERR_ADDR_SCHEME},
        {"one slash", "sotto:/" KEY_A "@a:1", SOTTO_ERR_ADDR_SCHEME},
        {"no scheme", KEY_A "@a:1", SOTTO_ERR_ADDR_SCHEME},
        {"leading space", " sotto://" KEY_A "@a:1", SOTTO_ERR_ADDR_SCHEME},
        {"missing key", "sotto://@a:1", SOTTO_ERR_ADDR_KEY},
        {"31-byte key", "sotto://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg@a:1",
         SOTTO_ERR_ADDR_KEY},
        {"33-byte key", "sotto://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g@a:1",
         SOTTO_ERR_ADDR_KEY},
        {"standard base64 '+'", "sotto://+__7__v_-__7__v_-__7__v_-__7__v_-__7__v_-_8@a:1",
         SOTTO_ERR_ADDR_KEY},
        {"standard base64 '/'", "sotto://-__7__v_/__7__v_-__7__v_-__7__v_-__7__v_-_8@a:1",
         SOTTO_ERR_ADDR_KEY},
        {"padded key", "sotto://" KEY_A "=@a:1", SOTTO_ERR_ADDR_KEY},
        {"non-zero unused bits", "sotto://AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9@a:1",
         SOTTO_ERR_ADDR_KEY},
        {"space in key", "sotto://AAECAwQFBgcICQoLDA0ODxAREhMU FRYXGBkaGxwdHh8@a:1",
         SOTTO_ERR_ADDR_KEY},
        {"missing '@'", "sotto://" KEY_A "a:1", SOTTO_ERR_ADDR_KEY},
        {"key only", "sotto://" KEY_A, SOTTO_ERR_ADDR_KEY},
        {"missing host", PFX ":1", SOTTO_ERR_ADDR_HOST},
        {"nothing after '@'", PFX, SOTTO_ERR_ADDR_HOST},
        {"underscore", PFX "relay_1.example:1", SOTTO_ERR_ADDR_HOST},
        {"space in host", PFX "relay example:1", SOTTO_ERR_ADDR_HOST},
        {"second '@'", PFX "user@relay.example:1", SOTTO_ERR_ADDR_HOST},
        {"empty label", PFX "relay..example:1", SOTTO_ERR_ADDR_HOST},
        {"leading dot", PFX ".example:1", SOTTO_ERR_ADDR_HOST},
        {"trailing dot", PFX "example.:1", SOTTO_ERR_ADDR_HOST},
        {"IPv4 with 3 parts", PFX "10.0.1:1", SOTTO_ERR_ADDR_HOST},
        {"IPv4 with 5 parts", PFX "1.2.3.4.5:1", SOTTO_ERR_ADDR_HOST},
        {"IPv4 part 256", PFX "192.0.2.256:1", SOTTO_ERR_ADDR_HOST},
        {"IPv4 leading zero", PFX "010.0.0.1:1", SOTTO_ERR_ADDR_HOST},
        {"bare number", PFX "3232235777:1", SOTTO_ERR_ADDR_HOST},
        {"IPv6 without brackets", PFX "::1:443", SOTTO_ERR_ADDR_HOST},
        {"unclosed bracket", PFX "[::1:443", SOTTO_ERR_ADDR_HOST},
        {"empty brackets", PFX "[]:443", SOTTO_ERR_ADDR_HOST},
        {"IPv4 in brackets", PFX "[192.0.2.1]:443", SOTTO_ERR_ADDR_HOST},
        {"bad IPv6", PFX "[1:2:3:4:5:6:7:8:9]:443", SOTTO_ERR_ADDR_HOST},
        {"IPv6 zone", PFX "[fe80::1%eth0]:443", SOTTO_ERR_ADDR_HOST},
        {"IPv6 bad char", PFX "[::g]:443", SOTTO_ERR_ADDR_HOST},
        {"missing port", PFX "relay.example", SOTTO_ERR_ADDR_PORT},
        {"empty port", PFX "relay.example:", SOTTO_ERR_ADDR_PORT},
        {"port 0", PFX "relay.example:0", SOTTO_ERR_ADDR_PORT},
        {"port 65536", PFX "relay.example:65536", SOTTO_ERR_ADDR_PORT},
        {"port 99999", PFX "relay.example:99999", SOTTO_ERR_ADDR_PORT},
        {"port 6 digits", PFX "relay.example:100000", SOTTO_ERR_ADDR_PORT},
        {"leading zero", PFX "relay.example:0443", SOTTO_ERR_ADDR_PORT},
        {"plus sign", PFX "relay.example:+443", SOTTO_ERR_ADDR_PORT},
        {"minus sign", PFX "relay.example:-1", SOTTO_ERR_ADDR_PORT},
        {"trailing junk", PFX "relay.example:443x", SOTTO_ERR_ADDR_PORT},
        {"trailing slash", PFX "relay.example:443/", SOTTO_ERR_ADDR_PORT},
        {"trailing newline", PFX "relay.example:443\n", SOTTO_ERR_ADDR_PORT},
        {"second port", PFX "relay.example:443:80", SOTTO_ERR_ADDR_PORT},
        {"junk after bracket", PFX "[::1]443", SOTTO_ERR_ADDR_PORT},
        {"IPv6 missing port", PFX "[::1]", SOTTO_ERR_ADDR_PORT},
        {"hex port", PFX "relay.example:0x1bb", SOTTO_ERR_ADDR_PORT},
};

static void expect_parse(const char *text, size_t len, sotto_err want, const char *what)
{
	struct net_addr a;
	memset(&a, 0xa5, sizeof(a));
	sotto_err got = net_addr_parse(text, len, &a);
	if (got != want)
		fail_msg("%s: \"%.*s\": got %s, want %s", what, (int)len, text, sotto_strerror(got),
		         sotto_strerror(want));
	if (got != SOTTO_OK) {
		struct net_addr zero;
		memset(&zero, 0, sizeof(zero));
		assert_memory_equal(&a, &zero, sizeof(a));
	}
}

static void addr_parse__ok__valid_table(void **state)
{
	uint8_t key_a[NET_ADDR_KEY_LEN];
	(void)state;

	for (unsigned i = 0; i < NET_ADDR_KEY_LEN; i++)
		key_a[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(VALID) / sizeof(VALID[0]); i++) {
		struct net_addr a;
		const struct valid_case *c = &VALID[i];
		if (net_addr_parse(c->text, strlen(c->text), &a) != SOTTO_OK)
			fail_msg("rejected valid address %s", c->text);
		assert_string_equal(a.host, c->host);
		assert_int_equal(a.port, c->port);
		if (strncmp(c->text, PFX, strlen(PFX)) == 0)
			assert_memory_equal(a.key, key_a, NET_ADDR_KEY_LEN);
		else
			assert_int_equal(a.key[0], 0xfb);
	}
}

static void addr_parse__specific_error__invalid_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(INVALID) / sizeof(INVALID[0]); i++)
		expect_parse(INVALID[i].text, strlen(INVALID[i].text), INVALID[i].want,
		             INVALID[i].what);
}

/* Builds PFX + host + ":1" into buf. */
static size_t with_host(char *buf, size_t cap, const char *host)
{
	int n = snprintf(buf, cap, "%s%s:1", PFX, host);
	assert_true(n > 0 && (size_t)n < cap);
	return (size_t)n;
}

static void addr_parse__host_limits__label_and_length(void **state)
{
	char host[NET_HOST_MAX + 8], text[NET_ADDR_TEXT_MAX + 64];
	(void)state;

	/* A 63-character label is fine, 64 is not. */
	memset(host, 'a', 63);
	memcpy(host + 63, ".example", 9);
	expect_parse(text, with_host(text, sizeof(text), host), SOTTO_OK, "63-char label");
	memset(host, 'a', 64);
	memcpy(host + 64, ".example", 9);
	expect_parse(text, with_host(text, sizeof(text), host), SOTTO_ERR_ADDR_HOST,
	             "64-char label");

	/* 253 characters in labels of 63 is fine, 254 is not. */
	memset(host, 'b', NET_HOST_MAX + 1);
	for (size_t i = 63; i < NET_HOST_MAX + 1; i += 64)
		host[i] = '.';
	host[NET_HOST_MAX] = '\0';
	size_t len = with_host(text, sizeof(text), host);
	expect_parse(text, len, SOTTO_OK, "253-char host");
	struct net_addr a;
	assert_int_equal(net_addr_parse(text, len, &a), SOTTO_OK);
	assert_int_equal(strlen(a.host), NET_HOST_MAX);
	host[NET_HOST_MAX] = 'c';
	host[NET_HOST_MAX + 1] = '\0';
	expect_parse(text, with_host(text, sizeof(text), host), SOTTO_ERR_ADDR_HOST,
	             "254-char host");
}

static void addr_parse__too_large__over_text_max(void **state)
{
	char text[NET_ADDR_TEXT_MAX + 2];
	(void)state;

	/* The longest valid address is exactly NET_ADDR_TEXT_MAX characters... */
	memset(text, 'x', sizeof(text));
	memcpy(text, PFX, strlen(PFX));
	char *host = text + strlen(PFX);
	for (size_t i = 63; i < NET_HOST_MAX; i += 64)
		host[i] = '.';
	memcpy(host + NET_HOST_MAX, ":65535", 6);
	assert_int_equal(strlen(PFX) + NET_HOST_MAX + 6, NET_ADDR_TEXT_MAX - 2);
	expect_parse(text, NET_ADDR_TEXT_MAX - 2, SOTTO_OK, "longest name");
	/* ...and one character more is refused before anything else is read. */
	expect_parse(text, NET_ADDR_TEXT_MAX + 1, SOTTO_ERR_TOO_LARGE, "over the maximum");
	expect_parse("garbage", NET_ADDR_TEXT_MAX + 1, SOTTO_ERR_TOO_LARGE, "long garbage");
}

/*
 * Every proper prefix of a valid address is rejected. The port of each
 * address is a single digit, so no prefix is itself valid; host_codes gives
 * the error for the prefix ending before each host character ('H' host,
 * 'P' port: the host so far is valid, the port is missing).
 */
struct truncation_case {
	const char *text;
	const char *host_codes;
};

static const struct truncation_case TRUNCATIONS[] = {
        {PFX "relay.example.org:7", "HPPPPPHPPPPPPPHPP"},
        {PFX "192.0.2.1:8", "HHHHHHHHH"},
        {PFX "[2001:db8::1]:9", "HHHHHHHHHHHHH"},
        {PFX "r-1.b:5", "HPPPH"},
};

static sotto_err code_error(char c)
{
	switch (c) {
	case 'S': return SOTTO_ERR_ADDR_SCHEME;
	case 'K': return SOTTO_ERR_ADDR_KEY;
	case 'H': return SOTTO_ERR_ADDR_HOST;
	case 'P': return SOTTO_ERR_ADDR_PORT;
	default: fail_msg("bad code %c", c);
	}
	return SOTTO_ERR_INTERNAL;
}

static void addr_parse__specific_error__every_truncation(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(TRUNCATIONS) / sizeof(TRUNCATIONS[0]); i++) {
		const struct truncation_case *c = &TRUNCATIONS[i];
		char codes[NET_ADDR_TEXT_MAX + 1];
		size_t n = 0, len = strlen(c->text);

		memset(codes, 'S', 8);
		n = 8;
		memset(codes + n, 'K', 43 + 1);
		n += 43 + 1;
		memcpy(codes + n, c->host_codes, strlen(c->host_codes));
		n += strlen(c->host_codes);
		codes[n++] = 'P'; /* the whole host, no ':' */
		codes[n++] = 'P'; /* the ':' without digits */
		assert_int_equal(n, len);
		for (size_t k = 0; k < len; k++)
			expect_parse(c->text, k, code_error(codes[k]), "truncation");
		expect_parse(c->text, len, SOTTO_OK, "whole address");
	}
}

static void addr_format__roundtrip__canonical_inputs(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(VALID) / sizeof(VALID[0]); i++) {
		struct net_addr a, b;
		char out[NET_ADDR_TEXT_MAX + 1];
		const char *text = VALID[i].text;

		assert_int_equal(net_addr_parse(text, strlen(text), &a), SOTTO_OK);
		assert_int_equal(net_addr_format(&a, out, sizeof(out)), SOTTO_OK);
		assert_string_equal(out, text);
		assert_int_equal(net_addr_parse(out, strlen(out), &b), SOTTO_OK);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void addr_format__too_large__small_buffer(void **state)
{
	struct net_addr a;
	const char *text = PFX "relay.example:443";
	size_t len = strlen(text);
	char out[128];
	(void)state;

	assert_int_equal(net_addr_parse(text, len, &a), SOTTO_OK);
	for (size_t cap = 0; cap <= len; cap++) {
		memset(out, 'z', sizeof(out));
		assert_int_equal(net_addr_format(&a, out, cap), SOTTO_ERR_TOO_LARGE);
		if (cap > 0)
			assert_int_equal(out[0], '\0');
		assert_int_equal(out[cap], 'z'); /* nothing written past cap */
	}
	assert_int_equal(net_addr_format(&a, out, len + 1), SOTTO_OK);
	assert_string_equal(out, text);
}

static void addr_format__invalid__bad_fields(void **state)
{
	struct net_addr a;
	char out[NET_ADDR_TEXT_MAX + 1];
	const char *text = PFX "relay.example:443";
	(void)state;

	assert_int_equal(net_addr_parse(text, strlen(text), &a), SOTTO_OK);
	a.port = 0;
	assert_int_equal(net_addr_format(&a, out, sizeof(out)), SOTTO_ERR_INVALID);
	assert_int_equal(out[0], '\0');

	assert_int_equal(net_addr_parse(text, strlen(text), &a), SOTTO_OK);
	memset(a.host, 'a', sizeof(a.host)); /* no NUL */
	assert_int_equal(net_addr_format(&a, out, sizeof(out)), SOTTO_ERR_INVALID);

	static const char *const bad_hosts[] = {"",    "a..b",  "a_b",       "1.2.3",
	                                        "::g", "[::1]", "fe80::1%lo"};
	for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
		assert_int_equal(net_addr_parse(text, strlen(text), &a), SOTTO_OK);
		memset(a.host, 0, sizeof(a.host));
		memcpy(a.host, bad_hosts[i], strlen(bad_hosts[i]));
		if (net_addr_format(&a, out, sizeof(out)) != SOTTO_ERR_INVALID)
			fail_msg("formatted bad host \"%s\"", bad_hosts[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(addr_parse__ok__valid_table),
	        cmocka_unit_test(addr_parse__specific_error__invalid_table),
	        cmocka_unit_test(addr_parse__host_limits__label_and_length),
	        cmocka_unit_test(addr_parse__too_large__over_text_max),
	        cmocka_unit_test(addr_parse__specific_error__every_truncation),
	        cmocka_unit_test(addr_format__roundtrip__canonical_inputs),
	        cmocka_unit_test(addr_format__too_large__small_buffer),
	        cmocka_unit_test(addr_format__invalid__bad_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
