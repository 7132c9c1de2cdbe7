/* SPDX-License-Identifier: MIT */
/*
 * config.h - the relay daemon's configuration file (relay layer).
 *
 * The file is text, one setting per line:
 *
 *   # a comment: the first non-blank character is '#'
 *   listen = 0.0.0.0
 *   port = 5223
 *
 * A line is at most RELAY_CONFIG_LINE_MAX bytes before its '\n', the file at
 * most RELAY_CONFIG_FILE_MAX bytes, and every byte is printable ASCII or a
 * tab (no NUL, no '\r', nothing above 0x7e). Blanks (space, tab) around the
 * key, the '=' and the value are ignored; blank lines and comment lines are
 * skipped; a '#' after a value is part of the value. Keys are lower case
 * [a-z_][a-z0-9_]*. Every key is optional (a missing key keeps its default),
 * may appear once, and an unknown key is an error, so a typo never silently
 * falls back to a default. Numbers are decimal, without sign or leading zero,
 * and within the key's range.
 *
 *   key                   value                                     default
 *   listen                numeric IPv4 or IPv6 address to bind      127.0.0.1
 *   public_host           host put in the relay address (a DNS      (listen)
 *                         name or an address)
 *   port                  TCP port, 0 for any free port             5223
 *   quota                 messages per queue, 1..RELAY_QUOTA_MAX    128
 *   ttl_days              message lifetime in days, 1..3650         21
 *   max_connections       open connections, 1..NET_CONNECTIONS_MAX  4096
 *   handshake_timeout_s   connect to finished handshake, 1..600     10
 *   idle_timeout_s        open connection without a block from the  600
 *                         client, 1..86400 (clients PING inside it)
 *   write_queue_bytes     queued output per connection              1048576
 *   queues_per_minute     NEW per connection per minute             100
 *   user                  user to switch to when started as root    (none)
 *   stats_interval_s      seconds between writes of the stats file  10
 *   expire_interval_s     seconds between sweeps that delete        60
 *                         expired messages, 1..86400
 *   ttl_s                 message lifetime in seconds, 0..86400,     0
 *                         overriding ttl_days when not 0 (finer
 *                         grained, e.g. minutes for a test relay)
 *
 * The same code parses the daemon's stats file (daemon.h), through
 * relay_kv_parse() and relay_kv_u64(). Nothing here does I/O or allocates.
 */
#ifndef SOTTO_RELAY_CONFIG_H
#define SOTTO_RELAY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "net/addr.h"

enum {
	RELAY_CONFIG_FILE_MAX = 65536, /* bytes in a configuration or stats file */
	RELAY_CONFIG_LINE_MAX = 512,   /* bytes in one line, without the '\n' */
	RELAY_CONFIG_KEY_MAX = 32,     /* characters in a key */
	RELAY_CONFIG_LISTEN_MAX = 45,  /* INET6_ADDRSTRLEN without the NUL */
	RELAY_CONFIG_USER_MAX = 32,    /* characters in a user name */
	RELAY_CONFIG_PORT_DEFAULT = 5223,
	RELAY_CONFIG_TTL_DAYS_DEFAULT = 21,
	RELAY_CONFIG_TTL_DAYS_MAX = 3650,
	RELAY_CONFIG_HANDSHAKE_S_DEFAULT = 10,
	RELAY_CONFIG_HANDSHAKE_S_MAX = 600,
	RELAY_CONFIG_IDLE_S_DEFAULT = 600,  /* NET_IDLE_TIMEOUT_MS_DEFAULT in seconds */
	RELAY_CONFIG_IDLE_S_MAX = 86400,    /* NET_IDLE_TIMEOUT_MS_MAX in seconds */
	RELAY_CONFIG_EXPIRE_S_DEFAULT = 60, /* RELAY_EXPIRE_INTERVAL_MS_DEFAULT in seconds */
	RELAY_CONFIG_EXPIRE_S_MAX = 86400,  /* RELAY_EXPIRE_INTERVAL_MS_MAX in seconds */
	RELAY_CONFIG_TTL_S_MAX = 86400,
	RELAY_CONFIG_STATS_S_DEFAULT = 10,
	RELAY_CONFIG_STATS_S_MAX = 3600,
	/* Text relay_config_format() writes, at most (a generous bound, checked by tests). */
	RELAY_CONFIG_TEXT_MAX = 4096,
};

struct relay_config {
	char listen[RELAY_CONFIG_LISTEN_MAX + 1]; /* numeric address, NUL-terminated */
	char public_host[NET_HOST_MAX + 1];       /* "" means: use listen */
	uint16_t port;                            /* 0: any free port */
	uint32_t quota;                           /* messages per queue */
	uint32_t ttl_days;
	uint32_t max_connections;
	uint32_t handshake_timeout_s;
	uint32_t idle_timeout_s;
	uint32_t write_queue_bytes;
	uint32_t queues_per_minute;
	char user[RELAY_CONFIG_USER_MAX + 1]; /* "" means: no user to switch to */
	uint32_t stats_interval_s;
	uint32_t expire_interval_s;
	uint32_t ttl_s; /* 0: ttl_days applies */
};

/*
 * Where a parse failed. reason is a static English phrase (never NULL after
 * relay_config_parse or relay_kv_parse returned an error); key holds the
 * offending key when the line had a well-formed one (else ""); min and max
 * give the allowed range when reason is about a number out of range (else
 * both 0).
 */
struct relay_config_error {
	uint32_t line; /* 1-based; 0 when the problem is not one line's (file too large) */
	const char *reason;
	char key[RELAY_CONFIG_KEY_MAX + 1];
	uint64_t min;
	uint64_t max;
};

/* Sets every field of out to its default. */
void relay_config_defaults(struct relay_config *out);

/*
 * Parses text[0..len) (borrowed; may be NULL when len is 0) into out, which
 * starts from the defaults; *err (may be NULL) is cleared first and
 * describes the first problem. On failure *out holds the defaults.
 * Errors: SOTTO_ERR_TOO_LARGE (file or a line over its _MAX),
 * SOTTO_ERR_ENCODING (a byte that is not printable ASCII or a tab),
 * SOTTO_ERR_INVALID (a line that is not "key = value", an unknown or repeated
 * key, a malformed or out-of-range value).
 */
SOTTO_NODISCARD sotto_err relay_config_parse(const uint8_t *SOTTO_NULLABLE text, size_t len,
                                             struct relay_config *out,
                                             struct relay_config_error *SOTTO_NULLABLE err);

/* True when key (NUL-terminated) is one of the keys above. */
bool relay_config_has_key(const char *key);

/*
 * Sets one key from value[0..value_len) (borrowed), with the same checks as a
 * line of the file: how command-line flags override the file. cfg is
 * unchanged on failure; err (may be NULL) as for relay_config_parse, with
 * line 0. Errors: SOTTO_ERR_INVALID (unknown key, bad value),
 * SOTTO_ERR_ENCODING (a byte that is not printable ASCII or a tab),
 * SOTTO_ERR_TOO_LARGE (value over RELAY_CONFIG_LINE_MAX).
 */
SOTTO_NODISCARD sotto_err relay_config_set(struct relay_config *cfg, const char *key,
                                           const char *value, size_t value_len,
                                           struct relay_config_error *SOTTO_NULLABLE err);

/*
 * Sets listen and port from "HOST:PORT" (text[0..len), borrowed), HOST
 * numeric and an IPv6 address in brackets ("[::1]:5223"): the run command's
 * --listen. cfg is unchanged on failure; err (may be NULL) names the key
 * whose value was wrong ("listen" also when the text has no ':' or
 * unbalanced brackets). Errors: SOTTO_ERR_INVALID, SOTTO_ERR_ENCODING,
 * SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err relay_config_set_listen(struct relay_config *cfg, const char *text,
                                                  size_t len,
                                                  struct relay_config_error *SOTTO_NULLABLE err);

/*
 * Writes cfg as a complete file (every key, with comments) and a NUL into out
 * (cap bytes); *out_len gets the length without the NUL (0 first).
 * relay_config_parse of the text gives cfg back. Errors: SOTTO_ERR_TOO_LARGE
 * (cap), SOTTO_ERR_INVALID (cfg holds a value the parser would reject).
 */
SOTTO_NODISCARD sotto_err relay_config_format(const struct relay_config *cfg, char *out, size_t cap,
                                              size_t *out_len);

/* True when a and b hold the same settings (text fields compared up to their NUL). */
bool relay_config_equal(const struct relay_config *a, const struct relay_config *b);

/*
 * The host of the relay address: public_host if set, else listen. Borrowed
 * from cfg.
 */
const char *relay_config_address_host(const struct relay_config *cfg);

/* ---- The line scanner shared with the stats file ---- */

/*
 * Receives one "key = value" line: key and value are borrowed, not
 * NUL-terminated, trimmed, and value_len may be 0. Return SOTTO_OK to go on;
 * any error stops the scan and is returned, with err->reason set by the
 * callback (err->line and err->key are filled in by the scanner).
 */
typedef sotto_err relay_kv_fn(void *SOTTO_NULLABLE user, const char *key, size_t key_len,
                              const char *value, size_t value_len, struct relay_config_error *err);

/*
 * Scans text[0..len) line by line with the rules above (size bounds, bytes,
 * comments, key syntax; an empty value is "key =" followed by nothing) and
 * calls fn for each setting, in order. *err (may be NULL) is cleared first.
 * Errors: SOTTO_ERR_TOO_LARGE, SOTTO_ERR_ENCODING, SOTTO_ERR_INVALID (a line
 * that is not "key = value"), or whatever fn returns.
 */
SOTTO_NODISCARD sotto_err relay_kv_parse(const uint8_t *SOTTO_NULLABLE text, size_t len,
                                         relay_kv_fn *fn, void *SOTTO_NULLABLE user,
                                         struct relay_config_error *SOTTO_NULLABLE err);

/*
 * Parses a decimal number (no sign, no leading zero, no blanks) within
 * min..max into *out (0 first). On failure err->reason says why and, for a
 * number out of range, err->min and err->max are set.
 * Errors: SOTTO_ERR_INVALID.
 */
SOTTO_NODISCARD sotto_err relay_kv_u64(const char *value, size_t value_len, uint64_t min,
                                       uint64_t max, uint64_t *out, struct relay_config_error *err);

#endif /* SOTTO_RELAY_CONFIG_H */
