/* SPDX-License-Identifier: MIT */
/*
 * config.c - the relay daemon's configuration file (relay layer).
 *
 * The file is read by a daemon that may start as root, and an operator's
 * typo must never become a silent default, so the grammar is small and
 * strict (see config.h): every line is bounded before it is looked at, every
 * byte is checked, and every value is checked against its key's range. The
 * scanner walks the text through wire/reader.h one line at a time; keys are
 * looked up in one constant table that also drives relay_config_format(), so
 * the parser and the writer cannot drift apart.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <uv.h>

#include "core/compat.h"
#include "core/err.h"
#include "net/limits.h"
#include "relay/config.h"
#include "relay/limits.h"
#include "wire/reader.h"

enum config_kind {
	KIND_U16,    /* uint16_t number */
	KIND_U32,    /* uint32_t number */
	KIND_LISTEN, /* numeric IPv4 or IPv6 address */
	KIND_HOST,   /* DNS name or address for the relay address; may be "" */
	KIND_USER,   /* user name; may be "" */
};

struct config_key {
	const char *name;
	enum config_kind kind;
	size_t offset; /* of the field in struct relay_config */
	uint64_t min;
	uint64_t max;
	const char *comment; /* written above the key by relay_config_format */
};

#define FIELD(f) offsetof(struct relay_config, f)

static const struct config_key CONFIG_KEYS[] = {
        {"listen", KIND_LISTEN, FIELD(listen), 0, 0,
         "numeric IPv4 or IPv6 address to listen on (0.0.0.0 or :: for all)"},
        {"public_host", KIND_HOST, FIELD(public_host), 0, 0,
         "host name or address clients dial (the relay address); empty: listen"},
        {"port", KIND_U16, FIELD(port), 0, 65535, "TCP port; 0 picks any free port"},
        {"quota", KIND_U32, FIELD(quota), 1, RELAY_QUOTA_MAX, "messages one queue may hold"},
        {"ttl_days", KIND_U32, FIELD(ttl_days), 1, RELAY_CONFIG_TTL_DAYS_MAX,
         "days a message is kept before it is deleted unread"},
        {"max_connections", KIND_U32, FIELD(max_connections), 1, NET_CONNECTIONS_MAX,
         "connections open at once"},
        {"handshake_timeout_s", KIND_U32, FIELD(handshake_timeout_s), 1,
         RELAY_CONFIG_HANDSHAKE_S_MAX, "seconds from connect to a finished handshake"},
        {"idle_timeout_s", KIND_U32, FIELD(idle_timeout_s), 1, RELAY_CONFIG_IDLE_S_MAX,
         "seconds an open connection may send nothing before it is closed (clients PING "
         "well inside it)"},
        {"write_queue_bytes", KIND_U32, FIELD(write_queue_bytes), NET_TRANSPORT_FRAME_LEN,
         NET_WRITE_QUEUE_MAX, "output bytes queued per connection before it is dropped"},
        {"queues_per_minute", KIND_U32, FIELD(queues_per_minute), 1, RELAY_NEW_PER_MINUTE_MAX,
         "queues one connection may create per minute"},
        {"user", KIND_USER, FIELD(user), 0, 0,
         "user to switch to when started as root; empty: none"},
        {"stats_interval_s", KIND_U32, FIELD(stats_interval_s), 1, RELAY_CONFIG_STATS_S_MAX,
         "seconds between writes of the stats file"},
        {"expire_interval_s", KIND_U32, FIELD(expire_interval_s), 1, RELAY_CONFIG_EXPIRE_S_MAX,
         "seconds between sweeps that delete expired messages"},
        {"ttl_s", KIND_U32, FIELD(ttl_s), 0, RELAY_CONFIG_TTL_S_MAX,
         "message lifetime in seconds, overriding ttl_days when not 0"},
};

#undef FIELD

/* The file's units are seconds; the layers below count milliseconds. */
_Static_assert(RELAY_CONFIG_IDLE_S_DEFAULT * 1000 == NET_IDLE_TIMEOUT_MS_DEFAULT &&
                       RELAY_CONFIG_IDLE_S_MAX * 1000 == NET_IDLE_TIMEOUT_MS_MAX,
               "idle timeout: seconds here, milliseconds in net/limits.h");
_Static_assert(RELAY_CONFIG_EXPIRE_S_DEFAULT * 1000 == RELAY_EXPIRE_INTERVAL_MS_DEFAULT &&
                       RELAY_CONFIG_EXPIRE_S_MAX * 1000 == RELAY_EXPIRE_INTERVAL_MS_MAX,
               "expiry interval: seconds here, milliseconds in relay/limits.h");
_Static_assert((long)RELAY_CONFIG_TTL_S_MAX <= (long)RELAY_TTL_S_MAX, "TTL within the core's");

enum {
	CONFIG_N_KEYS = SOTTO_ARRAY_LEN(CONFIG_KEYS),
	CONFIG_U64_DIGITS_MAX = 20, /* digits of UINT64_MAX */
};

void relay_config_defaults(struct relay_config *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->listen, "127.0.0.1", sizeof("127.0.0.1"));
	out->port = RELAY_CONFIG_PORT_DEFAULT;
	out->quota = RELAY_QUOTA_DEFAULT;
	out->ttl_days = RELAY_CONFIG_TTL_DAYS_DEFAULT;
	out->max_connections = NET_CONNECTIONS_DEFAULT;
	out->handshake_timeout_s = RELAY_CONFIG_HANDSHAKE_S_DEFAULT;
	out->idle_timeout_s = RELAY_CONFIG_IDLE_S_DEFAULT;
	out->write_queue_bytes = NET_WRITE_QUEUE_DEFAULT;
	out->queues_per_minute = RELAY_NEW_PER_MINUTE_DEFAULT;
	out->stats_interval_s = RELAY_CONFIG_STATS_S_DEFAULT;
	out->expire_interval_s = RELAY_CONFIG_EXPIRE_S_DEFAULT;
}

const char *relay_config_address_host(const struct relay_config *cfg)
{
	return cfg->public_host[0] != '\0' ? cfg->public_host : cfg->listen;
}

/* ---- Values ---- */

static bool is_blank(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool is_text_byte(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c <= 0x7e);
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static sotto_err fail(struct relay_config_error *err, sotto_err rc, const char *reason)
{
	err->reason = reason;
	return SOTTO_RAISE(rc);
}

sotto_err relay_kv_u64(const char *value, size_t value_len, uint64_t min, uint64_t max,
                       uint64_t *out, struct relay_config_error *err)
{
	uint64_t v = 0;

	*out = 0;
	if (value_len == 0)
		return fail(err, SOTTO_ERR_INVALID, "missing value");
	if (value_len > CONFIG_U64_DIGITS_MAX)
		goto range;
	for (size_t i = 0; i < value_len; i++) {
		if (!is_digit(value[i]))
			return fail(err, SOTTO_ERR_INVALID, "not a decimal number");
		uint64_t d = (uint64_t)(value[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			goto range;
		v = v * 10 + d;
	}
	if (value_len > 1 && value[0] == '0')
		return fail(err, SOTTO_ERR_INVALID, "number with a leading zero");
	if (v < min || v > max)
		goto range;
	*out = v;
	return SOTTO_OK;
range:
	/* Only digits reach here when too long or too large: report the range. */
	for (size_t i = 0; i < value_len; i++) {
		if (!is_digit(value[i]))
			return fail(err, SOTTO_ERR_INVALID, "not a decimal number");
	}
	err->min = min;
	err->max = max;
	return fail(err, SOTTO_ERR_INVALID, "number out of range");
}

/* A numeric IPv4 or IPv6 address, as libuv will bind it. */
static bool is_listen(const char *s, size_t len)
{
	char text[RELAY_CONFIG_LISTEN_MAX + 1];
	unsigned char bin[16];

	if (len == 0 || len > RELAY_CONFIG_LISTEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!is_digit(c) && !(c >= 'a' && c <= 'f') && !(c >= 'A' && c <= 'F') &&
		    c != ':' && c != '.')
			return false;
	}
	memcpy(text, s, len);
	text[len] = '\0';
	return uv_inet_pton(AF_INET, text, bin) == 0 || uv_inet_pton(AF_INET6, text, bin) == 0;
}

/* A host the relay address can carry (net/addr.h decides). */
static bool is_public_host(const char *s, size_t len)
{
	struct net_addr a;
	char text[NET_ADDR_TEXT_MAX + 1];

	if (len > NET_HOST_MAX)
		return false;
	memset(&a, 0, sizeof(a));
	memcpy(a.host, s, len);
	a.port = 1;
	return net_addr_format(&a, text, sizeof(text)) == SOTTO_OK;
}

/* The portable user-name set of POSIX, not starting with '-'. */
static bool is_user(const char *s, size_t len)
{
	if (len > RELAY_CONFIG_USER_MAX || (len > 0 && s[0] == '-'))
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!is_digit(c) && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    c != '.' && c != '_' && c != '-')
			return false;
	}
	return true;
}

/* Copies len bytes and a NUL into dst, a field of cap bytes, zeroing the rest. */
static void copy_text(char *dst, size_t cap, const char *src, size_t len)
{
	memset(dst, 0, cap);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Checks value against k and stores it in cfg; cfg is unchanged on failure. */
static sotto_err key_apply(const struct config_key *k, struct relay_config *cfg, const char *value,
                           size_t value_len, struct relay_config_error *err)
{
	uint8_t *field = (uint8_t *)cfg + k->offset;
	uint64_t v;
	sotto_err rc;

	switch (k->kind) {
	case KIND_U16:
	case KIND_U32:
		if ((rc = relay_kv_u64(value, value_len, k->min, k->max, &v, err)) != SOTTO_OK)
			return rc;
		if (k->kind == KIND_U16) {
			uint16_t v16 = (uint16_t)v;
			memcpy(field, &v16, sizeof(v16));
		} else {
			uint32_t v32 = (uint32_t)v;
			memcpy(field, &v32, sizeof(v32));
		}
		return SOTTO_OK;
	case KIND_LISTEN:
		if (!is_listen(value, value_len))
			return fail(err, SOTTO_ERR_INVALID, "not a numeric IPv4 or IPv6 address");
		copy_text(cfg->listen, sizeof(cfg->listen), value, value_len);
		return SOTTO_OK;
	case KIND_HOST:
		if (value_len > 0 && !is_public_host(value, value_len))
			return fail(err, SOTTO_ERR_INVALID, "not a valid host name or address");
		copy_text(cfg->public_host, sizeof(cfg->public_host), value, value_len);
		return SOTTO_OK;
	case KIND_USER:
		if (!is_user(value, value_len))
			return fail(err, SOTTO_ERR_INVALID, "not a valid user name");
		copy_text(cfg->user, sizeof(cfg->user), value, value_len);
		return SOTTO_OK;
	}
	return fail(err, SOTTO_ERR_INTERNAL, "internal error");
}

static const struct config_key *key_find(const char *key, size_t key_len, size_t *index)
{
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		const char *name = CONFIG_KEYS[i].name;
		if (strlen(name) == key_len && memcmp(name, key, key_len) == 0) {
			*index = i;
			return &CONFIG_KEYS[i];
		}
	}
	return NULL;
}

bool relay_config_has_key(const char *key)
{
	size_t index = 0;
	return key_find(key, strlen(key), &index) != NULL;
}

/* ---- The line scanner ---- */

static size_t key_span(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_' ||
	                   (i > 0 && s[i] >= '0' && s[i] <= '9')))
		i++;
	return i;
}

/* Handles one line (without its '\n'): checks, splits and hands it to fn. */
static sotto_err kv_line(const uint8_t *line, size_t len, relay_kv_fn *fn, void *user,
                         struct relay_config_error *err)
{
	for (size_t i = 0; i < len; i++) {
		if (!is_text_byte(line[i]))
			return fail(err, SOTTO_ERR_ENCODING, "a byte that is not printable ASCII");
	}
	while (len > 0 && is_blank(line[len - 1]))
		len--;
	while (len > 0 && is_blank(line[0])) {
		line++;
		len--;
	}
	if (len == 0 || line[0] == '#')
		return SOTTO_OK;

	size_t key_len = key_span(line, len);
	if (key_len == 0)
		return fail(err, SOTTO_ERR_INVALID, "expected key = value");
	if (key_len > RELAY_CONFIG_KEY_MAX)
		return fail(err, SOTTO_ERR_INVALID, "key is too long");
	copy_text(err->key, sizeof(err->key), (const char *)line, key_len);
	size_t i = key_len;
	while (i < len && is_blank(line[i]))
		i++;
	if (i == len || line[i] != '=')
		return fail(err, SOTTO_ERR_INVALID, "expected '=' after the key");
	i++;
	while (i < len && is_blank(line[i]))
		i++;
	return fn(user, (const char *)line, key_len, (const char *)line + i, len - i, err);
}

sotto_err relay_kv_parse(const uint8_t *text, size_t len, relay_kv_fn *fn, void *user,
                         struct relay_config_error *err)
{
	struct relay_config_error scratch;
	struct wire_reader r;
	uint32_t line_no = 0;
	sotto_err rc = SOTTO_OK;

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	if (len > RELAY_CONFIG_FILE_MAX)
		return fail(err, SOTTO_ERR_TOO_LARGE, "file is too large");
	wire_reader_init(&r, text, len);
	while (wire_reader_remaining(&r) > 0) {
		size_t remaining = wire_reader_remaining(&r);
		const uint8_t *rest = wire_reader_view(&r, 0);
		size_t scan = remaining < RELAY_CONFIG_LINE_MAX + 1 ? remaining
		                                                    : RELAY_CONFIG_LINE_MAX + 1;
		const uint8_t *nl = memchr(rest, '\n', scan);
		size_t n = nl != NULL ? (size_t)(nl - rest) : remaining;

		line_no++;
		if (n > RELAY_CONFIG_LINE_MAX) {
			rc = fail(err, SOTTO_ERR_TOO_LARGE, "line is too long");
			break;
		}
		const uint8_t *line = wire_reader_view(&r, n);
		if (nl != NULL)
			(void)wire_reader_u8(&r);
		if ((rc = wire_reader_error(&r)) != SOTTO_OK) {
			err->reason = "internal error";
			break;
		}
		err->key[0] = '\0';
		if ((rc = kv_line(line, n, fn, user, err)) != SOTTO_OK)
			break;
	}
	if (rc != SOTTO_OK)
		err->line = line_no;
	else
		memset(err, 0, sizeof(*err));
	return rc;
}

/* ---- The configuration ---- */

struct config_parse {
	struct relay_config *cfg;
	uint32_t seen; /* bit i: CONFIG_KEYS[i] was set */
};

static sotto_err config_kv(void *user, const char *key, size_t key_len, const char *value,
                           size_t value_len, struct relay_config_error *err)
{
	struct config_parse *p = user;
	size_t index = 0;
	const struct config_key *k = key_find(key, key_len, &index);

	if (k == NULL)
		return fail(err, SOTTO_ERR_INVALID, "unknown key");
	if (p->seen & (UINT32_C(1) << index))
		return fail(err, SOTTO_ERR_INVALID, "key given twice");
	p->seen |= UINT32_C(1) << index;
	return key_apply(k, p->cfg, value, value_len, err);
}

sotto_err relay_config_parse(const uint8_t *text, size_t len, struct relay_config *out,
                             struct relay_config_error *err)
{
	struct config_parse p = {.cfg = out, .seen = 0};
	sotto_err rc;

	_Static_assert(CONFIG_N_KEYS <= 32, "seen is a 32-bit set");
	relay_config_defaults(out);
	rc = relay_kv_parse(text, len, config_kv, &p, err);
	if (rc != SOTTO_OK)
		relay_config_defaults(out);
	return rc;
}

sotto_err relay_config_set(struct relay_config *cfg, const char *key, const char *value,
                           size_t value_len, struct relay_config_error *err)
{
	struct relay_config_error scratch;
	struct relay_config tmp = *cfg;
	size_t index = 0;
	const struct config_key *k;
	sotto_err rc;

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	size_t key_len = strlen(key);
	if ((k = key_find(key, key_len, &index)) == NULL)
		return fail(err, SOTTO_ERR_INVALID, "unknown key");
	copy_text(err->key, sizeof(err->key), key, key_len);
	if (value_len > RELAY_CONFIG_LINE_MAX)
		return fail(err, SOTTO_ERR_TOO_LARGE, "value is too long");
	for (size_t i = 0; i < value_len; i++) {
		if (!is_text_byte((uint8_t)value[i]))
			return fail(err, SOTTO_ERR_ENCODING, "a byte that is not printable ASCII");
	}
	if ((rc = key_apply(k, &tmp, value, value_len, err)) != SOTTO_OK)
		return rc;
	*cfg = tmp;
	memset(err, 0, sizeof(*err));
	return SOTTO_OK;
}

sotto_err relay_config_set_listen(struct relay_config *cfg, const char *text, size_t len,
                                  struct relay_config_error *err)
{
	struct relay_config_error scratch;
	struct relay_config tmp = *cfg;
	const char *host = text;
	size_t host_len = 0;
	sotto_err rc;

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] == ':')
			colon = text + i;
	}
	if (colon == NULL) {
		copy_text(err->key, sizeof(err->key), "listen", 6);
		return fail(err, SOTTO_ERR_INVALID, "expected HOST:PORT");
	}
	host_len = (size_t)(colon - text);
	size_t port_len = len - host_len - 1;
	if (host_len > 0 && text[0] == '[') {
		if (host_len < 2 || text[host_len - 1] != ']') {
			copy_text(err->key, sizeof(err->key), "listen", 6);
			return fail(err, SOTTO_ERR_INVALID, "unbalanced brackets around the host");
		}
		host = text + 1;
		host_len -= 2;
		if (host_len > 0 && memchr(host, ':', host_len) == NULL) {
			copy_text(err->key, sizeof(err->key), "listen", 6);
			return fail(err, SOTTO_ERR_INVALID,
			            "brackets belong around IPv6 hosts only");
		}
	} else if (memchr(text, ':', host_len) != NULL) {
		copy_text(err->key, sizeof(err->key), "listen", 6);
		return fail(err, SOTTO_ERR_INVALID, "an IPv6 host needs brackets");
	}
	if ((rc = relay_config_set(&tmp, "listen", host, host_len, err)) != SOTTO_OK ||
	    (rc = relay_config_set(&tmp, "port", colon + 1, port_len, err)) != SOTTO_OK)
		return rc;
	*cfg = tmp;
	return SOTTO_OK;
}

/* ---- Writing ---- */

/* Appends s[0..len) to out at *pos, keeping room for a NUL; false if it does not fit. */
static bool append(char *out, size_t cap, size_t *pos, const char *s, size_t len)
{
	if (len >= cap - *pos)
		return false;
	memcpy(out + *pos, s, len);
	*pos += len;
	out[*pos] = '\0';
	return true;
}

static bool append_str(char *out, size_t cap, size_t *pos, const char *s)
{
	return append(out, cap, pos, s, strlen(s));
}

static bool append_u64(char *out, size_t cap, size_t *pos, uint64_t v)
{
	char digits[CONFIG_U64_DIGITS_MAX];
	size_t n = 0;

	do {
		digits[CONFIG_U64_DIGITS_MAX - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return append(out, cap, pos, digits + CONFIG_U64_DIGITS_MAX - n, n);
}

/* Appends the value of k in cfg; text fields must hold their NUL (config_has_nuls). */
static bool format_value(const struct config_key *k, const struct relay_config *cfg, char *out,
                         size_t cap, size_t *pos)
{
	const uint8_t *field = (const uint8_t *)cfg + k->offset;
	uint16_t v16;
	uint32_t v32;

	switch (k->kind) {
	case KIND_U16: memcpy(&v16, field, sizeof(v16)); return append_u64(out, cap, pos, v16);
	case KIND_U32: memcpy(&v32, field, sizeof(v32)); return append_u64(out, cap, pos, v32);
	case KIND_LISTEN: return append_str(out, cap, pos, cfg->listen);
	case KIND_HOST: return append_str(out, cap, pos, cfg->public_host);
	case KIND_USER: return append_str(out, cap, pos, cfg->user);
	}
	return false;
}

/* True for a text setting left empty (written "key =", without a trailing blank). */
static bool value_is_empty(const struct config_key *k, const struct relay_config *cfg)
{
	return (k->kind == KIND_HOST && cfg->public_host[0] == '\0') ||
	       (k->kind == KIND_USER && cfg->user[0] == '\0');
}

static bool config_has_nuls(const struct relay_config *cfg)
{
	return memchr(cfg->listen, '\0', sizeof(cfg->listen)) != NULL &&
	       memchr(cfg->public_host, '\0', sizeof(cfg->public_host)) != NULL &&
	       memchr(cfg->user, '\0', sizeof(cfg->user)) != NULL;
}

bool relay_config_equal(const struct relay_config *a, const struct relay_config *b)
{
	return strncmp(a->listen, b->listen, sizeof(a->listen)) == 0 &&
	       strncmp(a->public_host, b->public_host, sizeof(a->public_host)) == 0 &&
	       a->port == b->port && a->quota == b->quota && a->ttl_days == b->ttl_days &&
	       a->max_connections == b->max_connections &&
	       a->handshake_timeout_s == b->handshake_timeout_s &&
	       a->idle_timeout_s == b->idle_timeout_s &&
	       a->write_queue_bytes == b->write_queue_bytes &&
	       a->queues_per_minute == b->queues_per_minute &&
	       strncmp(a->user, b->user, sizeof(a->user)) == 0 &&
	       a->stats_interval_s == b->stats_interval_s &&
	       a->expire_interval_s == b->expire_interval_s && a->ttl_s == b->ttl_s;
}

sotto_err relay_config_format(const struct relay_config *cfg, char *out, size_t cap,
                              size_t *out_len)
{
	struct relay_config check;
	size_t pos = 0;
	sotto_err rc = SOTTO_ERR_TOO_LARGE;

	*out_len = 0;
	if (cap == 0)
		return SOTTO_RAISE(SOTTO_ERR_TOO_LARGE);
	out[0] = '\0';
	if (!config_has_nuls(cfg)) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	if (!append_str(out, cap, &pos,
	                "# sotto-relay configuration: one \"key = value\" per line.\n"))
		goto out;
	for (size_t i = 0; i < CONFIG_N_KEYS; i++) {
		const struct config_key *k = &CONFIG_KEYS[i];
		bool is_number = k->kind == KIND_U16 || k->kind == KIND_U32;
		if (!append_str(out, cap, &pos, "\n# ") ||
		    !append_str(out, cap, &pos, k->comment) ||
		    (is_number &&
		     (!append_str(out, cap, &pos, " (") || !append_u64(out, cap, &pos, k->min) ||
		      !append_str(out, cap, &pos, "..") || !append_u64(out, cap, &pos, k->max) ||
		      !append_str(out, cap, &pos, ")"))) ||
		    !append_str(out, cap, &pos, "\n") || !append_str(out, cap, &pos, k->name) ||
		    !append_str(out, cap, &pos, " =") ||
		    (!value_is_empty(k, cfg) && !append_str(out, cap, &pos, " ")) ||
		    !format_value(k, cfg, out, cap, &pos) || !append_str(out, cap, &pos, "\n"))
			goto out;
	}
	/* Write only what reads back as cfg: anything else is the caller's bug. */
	rc = SOTTO_ERR_INVALID;
	if (relay_config_parse((const uint8_t *)out, pos, &check, NULL) != SOTTO_OK ||
	    !relay_config_equal(&check, cfg))
		goto out;
	*out_len = pos;
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK) {
		out[0] = '\0';
		rc = SOTTO_RAISE(rc);
	}
	return rc;
}
