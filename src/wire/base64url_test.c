/* SPDX-License-Identifier: MIT */
/*
 * base64url_test.c - strict base64url: the RFC 4648 §10 vectors in the URL
 * alphabet without padding, 32-byte keys, length helpers, buffer limits, and
 * canonicality: every truncation and every single-character substitution of
 * a valid text is either rejected or decodes to bytes that re-encode to
 * exactly that text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "wire/base64url.h"

enum {
	TEXT_MAX = 128,
	BIN_MAX = 96,
	GUARD_BYTE = 0xa5,
};

/* RFC 4648 §10, with '=' padding dropped (the alphabet does not differ here). */
static const struct {
	const char *bin;
	const char *text;
} rfc_vectors[] = {
        {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
        {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static bool is_url_alphabet(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* Fills out with len bytes from a fixed seed, so runs are reproducible. */
static void fixed_random(uint8_t *out, size_t len, uint8_t seed_byte)
{
	uint8_t seed[randombytes_SEEDBYTES];

	memset(seed, seed_byte, sizeof(seed));
	randombytes_buf_deterministic(out, len, seed);
}

/*
 * Decodes text[0..text_len); on success also checks that the bytes encode
 * back to exactly the same text. Returns the decode result.
 */
static sotto_err decode_canonical(const char *text, size_t text_len)
{
	uint8_t bin[BIN_MAX];
	char again[TEXT_MAX + 1];
	size_t bin_len = 99;
	sotto_err rc;

	assert_true(text_len <= TEXT_MAX);
	rc = base64url_decode(bin, sizeof(bin), &bin_len, text, text_len);
	if (rc != SOTTO_OK) {
		assert_int_equal(bin_len, 0);
		return rc;
	}
	assert_int_equal(bin_len, base64url_decoded_max(text_len));
	assert_int_equal(base64url_encode(again, sizeof(again), bin, bin_len), SOTTO_OK);
	assert_int_equal(strlen(again), text_len);
	assert_memory_equal(again, text, text_len);
	return rc;
}

static void base64url_encode__rfc4648__test_vectors(void **state)
{
	char out[TEXT_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		size_t bin_len = strlen(rfc_vectors[i].bin);
		size_t text_len = strlen(rfc_vectors[i].text);

		assert_int_equal(base64url_encoded_len(bin_len), text_len);
		/* Exactly enough room: the text plus its NUL. */
		assert_int_equal(base64url_encode(out, text_len + 1,
		                                  (const uint8_t *)rfc_vectors[i].bin, bin_len),
		                 SOTTO_OK);
		assert_string_equal(out, rfc_vectors[i].text);
	}
}

static void base64url_decode__rfc4648__test_vectors(void **state)
{
	uint8_t out[BIN_MAX];
	(void)state;

	for (size_t i = 0; i < sizeof(rfc_vectors) / sizeof(rfc_vectors[0]); i++) {
		size_t bin_len = strlen(rfc_vectors[i].bin);
		size_t text_len = strlen(rfc_vectors[i].text);
		size_t out_len = 99;

		assert_int_equal(base64url_decoded_max(text_len), bin_len);
		/* Exactly enough room. */
		assert_int_equal(
		        base64url_decode(out, bin_len, &out_len, rfc_vectors[i].text, text_len),
		        SOTTO_OK);
		assert_int_equal(out_len, bin_len);
		assert_memory_equal(out, rfc_vectors[i].bin, bin_len);
	}
}

static void base64url__url_alphabet__dash_and_underscore(void **state)
{
	static const uint8_t dashes[3] = {0xfb, 0xef, 0xbe};
	static const uint8_t ones[3] = {0xff, 0xff, 0xff};
	static const uint8_t fbff[2] = {0xfb, 0xff};
	char out[8];
	uint8_t bin[3];
	size_t bin_len;
	(void)state;

	assert_int_equal(base64url_encode(out, sizeof(out), dashes, 3), SOTTO_OK);
	assert_string_equal(out, "----");
	assert_int_equal(base64url_encode(out, sizeof(out), ones, 3), SOTTO_OK);
	assert_string_equal(out, "____");
	/* Standard base64 would give "+/8=". */
	assert_int_equal(base64url_encode(out, sizeof(out), fbff, 2), SOTTO_OK);
	assert_string_equal(out, "-_8");
	assert_int_equal(base64url_decode(bin, sizeof(bin), &bin_len, "-_8", 3), SOTTO_OK);
	assert_int_equal(bin_len, 2);
	assert_memory_equal(bin, fbff, 2);
}

static void base64url__round_trip__32_byte_keys(void **state)
{
	uint8_t key[32], back[32];
	char text[44];
	(void)state;

	assert_int_equal(base64url_encoded_len(32), 43);
	for (unsigned i = 0; i < 64; i++) {
		size_t back_len = 0;

		fixed_random(key, sizeof(key), (uint8_t)i);
		assert_int_equal(base64url_encode(text, sizeof(text), key, sizeof(key)), SOTTO_OK);
		assert_int_equal(strlen(text), 43);
		assert_int_equal(base64url_decode(back, sizeof(back), &back_len, text, 43),
		                 SOTTO_OK);
		assert_int_equal(back_len, 32);
		assert_memory_equal(back, key, 32);
	}
}

static void base64url_lengths__exact__small_and_extreme(void **state)
{
	static const size_t enc[] = {0, 2, 3, 4, 6, 7, 8, 10, 11, 12};
	static const size_t dec[] = {0, 0, 1, 2, 3, 3, 4, 5, 6, 6};
	size_t top = (SIZE_MAX - 3) / 4 * 3; /* largest multiple of 3 that fits */
	(void)state;

	for (size_t n = 0; n < sizeof(enc) / sizeof(enc[0]); n++) {
		assert_int_equal(base64url_encoded_len(n), enc[n]);
		assert_int_equal(base64url_decoded_max(n), dec[n]);
	}
	assert_true(base64url_encoded_len(top) == top / 3 * 4);
	assert_true(base64url_encoded_len(top + 2) == top / 3 * 4 + 3);
	assert_true(base64url_encoded_len(top + 3) == SIZE_MAX);
	assert_true(base64url_encoded_len(SIZE_MAX) == SIZE_MAX);
	assert_true(base64url_decoded_max(SIZE_MAX) == SIZE_MAX / 4 * 3 + 2);
}

static void base64url_encode__too_large__no_room_for_nul(void **state)
{
	static const uint8_t foo[3] = {'f', 'o', 'o'};
	char out[8];
	(void)state;

	memset(out, GUARD_BYTE, sizeof(out));
	assert_int_equal(base64url_encode(out, 4, foo, 3), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(out[0], '\0');
	for (size_t i = 1; i < sizeof(out); i++)
		assert_int_equal((uint8_t)out[i], GUARD_BYTE);

	memset(out, GUARD_BYTE, sizeof(out));
	assert_int_equal(base64url_encode(out, 0, foo, 3), SOTTO_ERR_TOO_LARGE);
	assert_int_equal((uint8_t)out[0], GUARD_BYTE);

	/* A length whose encoding overflows size_t never fits; foo is not read. */
	assert_int_equal(base64url_encode(out, sizeof(out), foo, SIZE_MAX), SOTTO_ERR_TOO_LARGE);
}

static void base64url_decode__too_large__out_cap_short(void **state)
{
	uint8_t out[8];
	size_t out_len = 99;
	(void)state;

	memset(out, GUARD_BYTE, sizeof(out));
	assert_int_equal(base64url_decode(out, 5, &out_len, "Zm9vYmFy", 8), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(out_len, 0);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], GUARD_BYTE);
}

static void base64url_decode__encoding__length_one_mod_four(void **state)
{
	uint8_t out[BIN_MAX];
	size_t out_len = 99;
	(void)state;

	assert_int_equal(base64url_decode(out, sizeof(out), &out_len, "Z", 1), SOTTO_ERR_ENCODING);
	assert_int_equal(out_len, 0);
	assert_int_equal(base64url_decode(out, sizeof(out), &out_len, "Zm9vY", 5),
	                 SOTTO_ERR_ENCODING);
	assert_int_equal(base64url_decode(out, sizeof(out), &out_len, "AAAAAAAAA", 9),
	                 SOTTO_ERR_ENCODING);
	/* The length alone decides: even a too-small buffer gets ENCODING. */
	assert_int_equal(base64url_decode(out, 0, &out_len, "AAAAA", 5), SOTTO_ERR_ENCODING);
}

static void base64url_decode__encoding__noncanonical_last_char(void **state)
{
	static const char alphabet[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char text[4] = "Zm9";
	unsigned n_ok2 = 0, n_ok3 = 0;
	(void)state;

	assert_int_equal(decode_canonical("Zh", 2), SOTTO_ERR_ENCODING);
	assert_int_equal(decode_canonical("Zm9", 3), SOTTO_ERR_ENCODING);
	assert_int_equal(decode_canonical("Zm9vYh", 6), SOTTO_ERR_ENCODING);
	/* Index i in the alphabet is the 6-bit value i: a last character of a
	 * 2-char text carries 4 unused bits, of a 3-char text 2. */
	for (unsigned i = 0; i < 64; i++) {
		text[1] = alphabet[i];
		sotto_err rc2 = decode_canonical(text, 2);
		assert_int_equal(rc2, (i & 0x0f) == 0 ? SOTTO_OK : SOTTO_ERR_ENCODING);
		n_ok2 += rc2 == SOTTO_OK;
		text[1] = 'm';
		text[2] = alphabet[i];
		sotto_err rc3 = decode_canonical(text, 3);
		assert_int_equal(rc3, (i & 0x03) == 0 ? SOTTO_OK : SOTTO_ERR_ENCODING);
		n_ok3 += rc3 == SOTTO_OK;
	}
	assert_int_equal(n_ok2, 4);
	assert_int_equal(n_ok3, 16);
}

static void base64url_decode__encoding__foreign_characters(void **state)
{
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {
	        {"+/8", 3},     {"Zm+v", 4},     {"Zm/v", 4},          {"Zg==", 4},
	        {"Zm8=", 4},    {"Zg=", 3},      {"Zm9v\n\n", 6},      {" Zm9vYm", 7},
	        {"Zm9v Ym", 7}, {"Zm9vYm\t", 7}, {"Zm9v\r\nYm", 8},    {"Zm9v\0Ym", 7},
	        {"Zm9v.Ym", 7}, {"Zm9v~Ym", 7},  {"Zm9v\xc3\xa9Y", 7},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(decode_canonical(bad[i].text, bad[i].len), SOTTO_ERR_ENCODING);
}

static void base64url_decode__encoding__every_high_byte(void **state)
{
	char text[4] = {'A', 'A', 'A', 'A'};
	(void)state;

	/* libsodium 1.0.18 alone accepts all of these (signed char). */
	for (int c = 0x80; c < 0x100; c++) {
		for (size_t pos = 0; pos < sizeof(text); pos++) {
			text[pos] = (char)c;
			assert_int_equal(decode_canonical(text, sizeof(text)), SOTTO_ERR_ENCODING);
			text[pos] = 'A';
		}
	}
	assert_int_equal(decode_canonical(text, sizeof(text)), SOTTO_OK);
}

static void base64url_decode__zeroed__rejected_after_partial_decode(void **state)
{
	uint8_t out[6 + 4];
	size_t out_len = 99;
	(void)state;

	/* libsodium has decoded "foob" by the time it meets '!'. */
	memset(out, GUARD_BYTE, sizeof(out));
	assert_int_equal(base64url_decode(out, 6, &out_len, "Zm9vYm!y", 8), SOTTO_ERR_ENCODING);
	assert_int_equal(out_len, 0);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(out[i], 0);
	for (size_t i = 6; i < sizeof(out); i++)
		assert_int_equal(out[i], GUARD_BYTE);
}

static void base64url_decode__canonical_or_rejected__every_truncation(void **state)
{
	uint8_t bin[40];
	char text[TEXT_MAX];
	(void)state;

	for (size_t bin_len = 30; bin_len <= 32; bin_len++) {
		fixed_random(bin, bin_len, (uint8_t)(0x40 + bin_len));
		assert_int_equal(base64url_encode(text, sizeof(text), bin, bin_len), SOTTO_OK);
		for (size_t k = 0; k <= strlen(text); k++) {
			sotto_err rc = decode_canonical(text, k);
			if (k % 4 == 1)
				assert_int_equal(rc, SOTTO_ERR_ENCODING);
			else if (k % 4 == 0)
				assert_int_equal(rc, SOTTO_OK);
			else
				assert_true(rc == SOTTO_OK || rc == SOTTO_ERR_ENCODING);
		}
	}
}

static void base64url_decode__canonical_or_rejected__every_substitution(void **state)
{
	uint8_t bin[32];
	char text[TEXT_MAX];
	(void)state;

	for (size_t bin_len = 30; bin_len <= 32; bin_len++) {
		fixed_random(bin, bin_len, (uint8_t)(0x80 + bin_len));
		assert_int_equal(base64url_encode(text, sizeof(text), bin, bin_len), SOTTO_OK);
		size_t text_len = strlen(text);
		for (size_t pos = 0; pos < text_len; pos++) {
			char saved = text[pos];
			for (int c = 0; c < 256; c++) {
				text[pos] = (char)c;
				sotto_err rc = decode_canonical(text, text_len);
				if (!is_url_alphabet(c))
					assert_int_equal(rc, SOTTO_ERR_ENCODING);
				else if (pos + 1 < text_len || text_len % 4 == 0)
					/* Only a partial last character has unused bits. */
					assert_int_equal(rc, SOTTO_OK);
				else
					assert_true(rc == SOTTO_OK || rc == SOTTO_ERR_ENCODING);
			}
			text[pos] = saved;
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(base64url_encode__rfc4648__test_vectors),
	        cmocka_unit_test(base64url_decode__rfc4648__test_vectors),
	        cmocka_unit_test(base64url__url_alphabet__dash_and_underscore),
	        cmocka_unit_test(base64url__round_trip__32_byte_keys),
	        cmocka_unit_test(base64url_lengths__exact__small_and_extreme),
	        cmocka_unit_test(base64url_encode__too_large__no_room_for_nul),
	        cmocka_unit_test(base64url_decode__too_large__out_cap_short),
	        cmocka_unit_test(base64url_decode__encoding__length_one_mod_four),
	        cmocka_unit_test(base64url_decode__encoding__noncanonical_last_char),
	        cmocka_unit_test(base64url_decode__encoding__foreign_characters),
	        cmocka_unit_test(base64url_decode__encoding__every_high_byte),
	        cmocka_unit_test(base64url_decode__zeroed__rejected_after_partial_decode),
	        cmocka_unit_test(base64url_decode__canonical_or_rejected__every_truncation),
	        cmocka_unit_test(base64url_decode__canonical_or_rejected__every_substitution),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
