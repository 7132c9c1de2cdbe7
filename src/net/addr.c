/* SPDX-License-Identifier: MIT */
/*
 * addr.c - parsing and formatting relay addresses (net layer).
 *
 *   sotto://<key>@<host>:<port>
 *
 *   part     form
 *   scheme   the 8 bytes "sotto://", lower case
 *   key      base64url without padding of 32 bytes (43 characters), up to the first '@'
 *   host     "[" IPv6 "]", a dotted IPv4 address, or a DNS name, up to the next ':'
 *   port     1..65535 in decimal, no sign, no leading zero, then the end of the text
 *
 * The parser reads left to right and reports the first field that is wrong,
 * so every error names the part a user has to fix. Hosts are kept verbatim
 * (no case folding), so format(parse(x)) == x for every accepted x. A name
 * whose last label is all digits is accepted only as a strict dotted quad:
 * resolvers read "10.1" or "010.0.0.1" as IPv4 in surprising ways, and two
 * parsers must never disagree about where an address points. Nothing here
 * touches the network.
 */
#include <stdbool.h>
#include <string.h>

#include <uv.h>

#include "net/addr.h"
#include "wire/base64url.h"

static const char ADDR_SCHEME[] = "sotto://";

enum {
	ADDR_SCHEME_LEN = sizeof(ADDR_SCHEME) - 1,
	ADDR_LABEL_MAX = 63,
	ADDR_IPV6_TEXT_MAX = 45, /* INET6_ADDRSTRLEN without the NUL */
	ADDR_PORT_DIGITS_MAX = 5,
	ADDR_KEY_TEXT_LEN = 43,
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_name_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
	       c == '.';
}

static bool is_ipv6_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
	       c == '.';
}

/* A dotted quad: four decimal parts 0..255, no leading zeros, nothing else. */
static bool is_ipv4(const char *s, size_t len)
{
	size_t i = 0;

	for (unsigned part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < len && is_digit(s[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		size_t n = i - start;
		if (n == 0 || v > 255 || (n > 1 && s[start] == '0'))
			return false;
	}
	return i == len;
}

static bool is_ipv6(const char *s, size_t len)
{
	char text[ADDR_IPV6_TEXT_MAX + 1];
	unsigned char bin[16];

	if (len == 0 || len > ADDR_IPV6_TEXT_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_ipv6_char(s[i]))
			return false;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	return uv_inet_pton(AF_INET6, text, bin) == 0;
}

/* A DNS name as addr.h describes it, or a dotted quad when the last label is numeric. */
static bool is_name(const char *s, size_t len)
{
	size_t label_len = 0;
	bool label_numeric = true;

	if (len == 0 || len > NET_HOST_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!is_name_char(s[i]))
			return false;
		if (s[i] == '.') {
			if (label_len == 0)
				return false;
			label_len = 0;
			label_numeric = true;
			continue;
		}
		if (++label_len > ADDR_LABEL_MAX)
			return false;
		label_numeric = label_numeric && is_digit(s[i]);
	}
	if (label_len == 0)
		return false;
	return !label_numeric || is_ipv4(s, len);
}

bool net_addr_host_is_valid(const char *host, size_t len)
{
	bool v6 = memchr(host, ':', len) != NULL;
	return v6 ? is_ipv6(host, len) : is_name(host, len);
}

static sotto_err parse_key(const char *s, size_t len, uint8_t key[static NET_ADDR_KEY_LEN])
{
	uint8_t bin[NET_ADDR_KEY_LEN + 1]; /* room to see a 33-byte key as the wrong size */
	size_t bin_len = 0;
	sotto_err rc = SOTTO_ERR_ADDR_KEY;

	if (len == 0 || base64url_decode(bin, sizeof(bin), &bin_len, s, len) != SOTTO_OK ||
	    bin_len != NET_ADDR_KEY_LEN)
		goto out;
	memcpy(key, bin, NET_ADDR_KEY_LEN);
	rc = SOTTO_OK;
out:
	return rc;
}

/*
 * Finds the host at s[0..len) and validates it; *host_text and *host_len get the
 * host without brackets and *used the characters consumed (brackets included).
 */
static sotto_err parse_host(const char *s, size_t len, const char **host_text, size_t *host_len,
                            size_t *used)
{
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL)
			return SOTTO_ERR_ADDR_HOST;
		*host_text = s + 1;
		*host_len = (size_t)(close - s) - 1;
		*used = *host_len + 2;
		return is_ipv6(*host_text, *host_len) ? SOTTO_OK : SOTTO_ERR_ADDR_HOST;
	}
	const char *colon = memchr(s, ':', len);
	*host_text = s;
	*host_len = colon != NULL ? (size_t)(colon - s) : len;
	*used = *host_len;
	return is_name(*host_text, *host_len) ? SOTTO_OK : SOTTO_ERR_ADDR_HOST;
}

static sotto_err parse_port(const char *s, size_t len, uint16_t *port)
{
	uint32_t v = 0;

	if (len < 2 || s[0] != ':' || len - 1 > ADDR_PORT_DIGITS_MAX || s[1] == '0')
		return SOTTO_ERR_ADDR_PORT;
	for (size_t i = 1; i < len; i++) {
		if (!is_digit(s[i]))
			return SOTTO_ERR_ADDR_PORT;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (v > UINT16_MAX)
		return SOTTO_ERR_ADDR_PORT;
	*port = (uint16_t)v;
	return SOTTO_OK;
}

sotto_err net_addr_parse(const char *text, size_t len, struct net_addr *out)
{
	const char *host = NULL;
	size_t host_len = 0, used = 0;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if (len > NET_ADDR_TEXT_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (len < ADDR_SCHEME_LEN || memcmp(text, ADDR_SCHEME, ADDR_SCHEME_LEN) != 0)
		return SOTTO_ERR_ADDR_SCHEME;
	const char *p = text + ADDR_SCHEME_LEN;
	size_t left = len - ADDR_SCHEME_LEN;

	const char *at = memchr(p, '@', left);
	size_t key_len = at != NULL ? (size_t)(at - p) : left;
	if ((rc = parse_key(p, key_len, out->key)) != SOTTO_OK || at == NULL) {
		rc = SOTTO_ERR_ADDR_KEY;
		goto out;
	}
	p += key_len + 1;
	left -= key_len + 1;
	if ((rc = parse_host(p, left, &host, &host_len, &used)) != SOTTO_OK)
		goto out;
	if ((rc = parse_port(p + used, left - used, &out->port)) != SOTTO_OK)
		goto out;
	memcpy(out->host, host, host_len);
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* Appends n bytes at *pos if they fit, leaving room for the NUL. */
static bool append(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (n >= cap - *pos)
		return false;
	memcpy(out + *pos, s, n);
	*pos += n;
	return true;
}

sotto_err net_addr_format(const struct net_addr *addr, char *out, size_t cap)
{
	char key[ADDR_KEY_TEXT_LEN + 1];
	char port[ADDR_PORT_DIGITS_MAX];
	size_t pos = 0, n_port = 0;
	sotto_err rc = SOTTO_ERR_INVALID;

	if (cap > 0)
		out[0] = '\0';
	const char *nul = memchr(addr->host, '\0', sizeof(addr->host));
	if (nul == NULL || addr->port == 0)
		goto out;
	size_t host_len = (size_t)(nul - addr->host);
	bool v6 = memchr(addr->host, ':', host_len) != NULL;
	if (!net_addr_host_is_valid(addr->host, host_len))
		goto out;
	if ((rc = base64url_encode(key, sizeof(key), addr->key, NET_ADDR_KEY_LEN)) != SOTTO_OK)
		goto out;
	for (unsigned v = addr->port; v > 0; v /= 10)
		port[ADDR_PORT_DIGITS_MAX - ++n_port] = (char)('0' + v % 10);

	rc = SOTTO_ERR_TOO_LARGE;
	if (!append(out, cap, &pos, ADDR_SCHEME, ADDR_SCHEME_LEN) ||
	    !append(out, cap, &pos, key, ADDR_KEY_TEXT_LEN) || !append(out, cap, &pos, "@", 1) ||
	    (v6 && !append(out, cap, &pos, "[", 1)) ||
	    !append(out, cap, &pos, addr->host, host_len) ||
	    (v6 && !append(out, cap, &pos, "]", 1)) || !append(out, cap, &pos, ":", 1) ||
	    !append(out, cap, &pos, port + ADDR_PORT_DIGITS_MAX - n_port, n_port))
		goto out;
	out[pos] = '\0';
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK && cap > 0)
		out[0] = '\0';
	return rc;
}
