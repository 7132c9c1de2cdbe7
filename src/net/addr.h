/* SPDX-License-Identifier: MIT */
/*
 * addr.h - relay addresses (net layer).
 *
 *   sotto://<key>@<host>:<port>
 *
 * key is the relay's 32-byte static X25519 public key in base64url without
 * padding (43 characters); the client pins it and NK fails against any other
 * key. host is a DNS name (letters, digits, '-', '.', labels of 1..63
 * characters, at most 253 characters), a dotted IPv4 address, or an IPv6
 * address in brackets; a name whose last label is all digits must be a dotted
 * IPv4 address (four parts 0..255 without leading zeros). port is a decimal
 * number 1..65535 without sign or leading zeros. Parsing never touches the
 * network.
 */
#ifndef SOTTO_NET_ADDR_H
#define SOTTO_NET_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

enum {
	NET_ADDR_KEY_LEN = 32,
	NET_HOST_MAX = 253, /* characters, without brackets or NUL */
	NET_ADDR_TEXT_MAX = 8 + 43 + 1 + 2 + NET_HOST_MAX + 1 + 5, /* without NUL */
};

struct net_addr {
	uint8_t key[NET_ADDR_KEY_LEN];
	char host[NET_HOST_MAX + 1]; /* NUL-terminated; IPv6 without brackets */
	uint16_t port;
};

/*
 * Parses text[0..len) into *out (zeroed first).
 * Errors, in the order they are checked: SOTTO_ERR_TOO_LARGE (len >
 * NET_ADDR_TEXT_MAX), SOTTO_ERR_ADDR_SCHEME, SOTTO_ERR_ADDR_KEY (missing, not
 * base64url, or not 32 bytes), SOTTO_ERR_ADDR_HOST (missing or malformed),
 * SOTTO_ERR_ADDR_PORT (missing, not a number, 0, or above 65535).
 */
SOTTO_NODISCARD sotto_err net_addr_parse(const char *text, size_t len, struct net_addr *out);

/*
 * Whether host[0..len) is a host as the address text carries it, without
 * brackets: an IPv6 address when it contains ':', else a DNS name or a
 * dotted IPv4 address (the rules above). Used by formats that carry the host
 * on its own (docs/protocol.md §5.1).
 */
bool net_addr_host_is_valid(const char *host, size_t len);

/*
 * Writes the canonical text of addr and a NUL into out (cap bytes).
 * Errors: SOTTO_ERR_TOO_LARGE, SOTTO_ERR_INVALID (addr not valid).
 */
SOTTO_NODISCARD sotto_err net_addr_format(const struct net_addr *addr, char *out, size_t cap);

#endif /* SOTTO_NET_ADDR_H */
