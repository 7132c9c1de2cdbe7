/* SPDX-License-Identifier: MIT */
/*
 * fmt.c - times, marks, previews and text cleaning for the sotto program
 * (cmd/sotto); see fmt.h.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fmt.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/*
 * Decodes one UTF-8 character at s[0..len) (len >= 1). Returns its length
 * and sets *cp, or returns 0 for an invalid or truncated sequence (shortest
 * forms only, no surrogates, nothing above U+10FFFF).
 */
static size_t utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3fu);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool is_unsafe(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Appends s[0..n) to out if it fits with the NUL; false if not. */
static bool put(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
	if (*pos + n + 1 > cap)
		return false;
	memcpy(out + *pos, s, n);
	*pos += n;
	return true;
}

size_t fmt_clean(char *out, size_t cap, const uint8_t *text, size_t len, const char *lf)
{
	size_t pos = 0, i = 0;

	if (cap == 0)
		return 0;
	if (lf == NULL)
		lf = " ";
	while (i < len) {
		uint32_t cp = 0;
		size_t n = utf8_decode(text + i, len - i, &cp);
		bool fits;
		if (n == 0) {
			fits = put(out, cap, &pos, REPLACEMENT, 3);
			n = 1;
		} else if (cp == '\n') {
			fits = put(out, cap, &pos, lf, strlen(lf));
		} else if (cp == '\t') {
			fits = put(out, cap, &pos, " ", 1);
		} else if (is_unsafe(cp)) {
			fits = put(out, cap, &pos, REPLACEMENT, 3);
		} else {
			fits = put(out, cap, &pos, (const char *)text + i, n);
		}
		if (!fits)
			break;
		i += n;
	}
	out[pos] = '\0';
	return pos;
}

void fmt_preview(char *out, size_t cap, const uint8_t *text, size_t len, bool utf8)
{
	size_t i = 0, n_chars = 0, last_space = 0;
	const char *ellipsis = utf8 ? "\xe2\x80\xa6" : "...";

	/* Find where FMT_PREVIEW_CHARS characters end. */
	while (i < len && n_chars < FMT_PREVIEW_CHARS) {
		uint32_t cp = 0;
		size_t n = utf8_decode(text + i, len - i, &cp);
		if (n == 0)
			n = 1;
		if (cp == ' ' || cp == '\n' || cp == '\t')
			last_space = i;
		i += n;
		n_chars++;
	}
	bool is_cut = i < len;
	bool at_word_end = is_cut && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t');
	if (is_cut && !at_word_end && last_space > 0)
		i = last_space; /* cut after the last whole word */
	size_t pos = fmt_clean(out, cap, text, i, " ");
	while (is_cut && pos > 0 && out[pos - 1] == ' ')
		out[--pos] = '\0';
	if (is_cut && pos + strlen(ellipsis) + 1 <= cap)
		memcpy(out + pos, ellipsis, strlen(ellipsis) + 1);
}

void fmt_time(char *out, size_t cap, uint64_t ms, uint64_t now_ms, bool always_short)
{
	time_t t = (time_t)(ms / 1000), now = (time_t)(now_ms / 1000);
	struct tm tm, tm_now;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (localtime_r(&t, &tm) == NULL || localtime_r(&now, &tm_now) == NULL)
		return;
	bool is_today = tm.tm_year == tm_now.tm_year && tm.tm_yday == tm_now.tm_yday;
	if (always_short || is_today)
		(void)strftime(out, cap, "%H:%M", &tm);
	else
		(void)strftime(out, cap, "%Y-%m-%d %H:%M", &tm);
}

uint64_t fmt_now_ms(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *fmt_mark(enum client_agent_msg_status status, bool utf8)
{
	switch (status) {
	case CLIENT_AGENT_QUEUED: return utf8 ? "\xe2\x80\xa6" : "...";
	case CLIENT_AGENT_SENT: return utf8 ? "\xe2\x9c\x93" : "+";
	case CLIENT_AGENT_DELIVERED: return utf8 ? "\xe2\x9c\x93\xe2\x9c\x93" : "++";
	case CLIENT_AGENT_FAILED: return utf8 ? "\xe2\x9c\x97" : "x";
	case CLIENT_AGENT_RECEIVED: return "";
	}
	return "";
}

const char *fmt_fail_reason(sotto_err reason)
{
	switch (reason) {
	case SOTTO_ERR_AUTH:
		return "their queue is gone: they deleted this contact, or their relay lost it";
	case SOTTO_ERR_CANCELLED: return "the contact was deleted before it went out";
	case SOTTO_ERR_TOO_LARGE: return "too large for the relay";
	case SOTTO_ERR_PROTOCOL: return "the relay refused it as malformed";
	default: return sotto_strerror(reason);
	}
}

const char *fmt_status_name(enum client_agent_msg_status status)
{
	switch (status) {
	case CLIENT_AGENT_QUEUED: return "queued";
	case CLIENT_AGENT_SENT: return "sent";
	case CLIENT_AGENT_DELIVERED: return "delivered";
	case CLIENT_AGENT_FAILED: return "failed";
	case CLIENT_AGENT_RECEIVED: return "received";
	}
	return "unknown";
}

const char *fmt_not_connected(enum client_agent_contact_state state)
{
	switch (state) {
	case CLIENT_AGENT_INVITING: return "the invitation has not been accepted yet";
	case CLIENT_AGENT_JOINING:
		return "the connection is still being made (try again once it is connected)";
	case CLIENT_AGENT_DELETED: return "this contact was deleted (invite them again to talk)";
	case CLIENT_AGENT_CONNECTED: break;
	}
	return "not connected";
}

const char *fmt_state_name(enum client_agent_contact_state state)
{
	switch (state) {
	case CLIENT_AGENT_INVITING: return "inviting";
	case CLIENT_AGENT_JOINING: return "joining";
	case CLIENT_AGENT_CONNECTED: return "connected";
	case CLIENT_AGENT_DELETED: return "deleted";
	}
	return "unknown";
}

const char *fmt_err_code(sotto_err err)
{
	switch (err) {
	case SOTTO_OK: return "ok";
	case SOTTO_ERR_NOMEM: return "nomem";
	case SOTTO_ERR_INVALID: return "invalid";
	case SOTTO_ERR_INTERNAL: return "internal";
	case SOTTO_ERR_AUTH: return "auth";
	case SOTTO_ERR_CORRUPT: return "corrupt";
	case SOTTO_ERR_PROTOCOL: return "protocol";
	case SOTTO_ERR_TRUNCATED: return "truncated";
	case SOTTO_ERR_TOO_LARGE: return "too_large";
	case SOTTO_ERR_VERSION: return "version";
	case SOTTO_ERR_NONCE_EXHAUSTED: return "nonce_exhausted";
	case SOTTO_ERR_WEAK_KEY: return "weak_key";
	case SOTTO_ERR_ADDR_SCHEME: return "addr_scheme";
	case SOTTO_ERR_ADDR_KEY: return "addr_key";
	case SOTTO_ERR_ADDR_HOST: return "addr_host";
	case SOTTO_ERR_ADDR_PORT: return "addr_port";
	case SOTTO_ERR_TIMEOUT: return "timeout";
	case SOTTO_ERR_CLOSED: return "closed";
	case SOTTO_ERR_IO: return "io";
	case SOTTO_ERR_CONNECT: return "connect";
	case SOTTO_ERR_RESOLVE: return "resolve";
	case SOTTO_ERR_BUSY: return "busy";
	case SOTTO_ERR_STATE: return "state";
	case SOTTO_ERR_FRAME_SIZE: return "frame_size";
	case SOTTO_ERR_CANCELLED: return "cancelled";
	case SOTTO_ERR_TRAILING: return "trailing";
	case SOTTO_ERR_ENCODING: return "encoding";
	case SOTTO_ERR_TOO_FAR_AHEAD: return "too_far_ahead";
	case SOTTO_ERR_USED: return "used";
	case SOTTO_ERR_NOT_FOUND: return "not_found";
	}
	return "unknown";
}

void fmt_relay_short(char *out, size_t cap, const char *addr)
{
	const char *at = strrchr(addr, '@');

	if (cap == 0)
		return;
	snprintf(out, cap, "%s", at != NULL ? at + 1 : addr);
}
