/* SPDX-License-Identifier: MIT */
/*
 * fmt.h - how the sotto program writes things down (cmd/sotto): times,
 * status marks, message previews, state names, error code names, and the
 * cleaning of text that came from a peer.
 *
 * Text from a peer is hostile until cleaned: a message could carry escape
 * sequences that move the cursor, retitle the window or fake a line from
 * someone else, or bidirectional controls that reorder what is shown.
 * fmt_clean is what stands between such text and stdout; the interactive
 * chat also passes everything through term_print, which filters again.
 *
 * Every function here is pure: no agent, no I/O, no allocation.
 */
#ifndef SOTTO_FMT_H
#define SOTTO_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "client/agent.h"

enum {
	FMT_TIME_LEN = 17,            /* "YYYY-MM-DD HH:MM" and a NUL */
	FMT_PREVIEW_CHARS = 24,       /* code points a preview keeps at most */
	FMT_PREVIEW_LEN = 24 * 4 + 4, /* bytes of a preview: the code points, an ellipsis, NUL */
	FMT_RELAY_SHORT_MAX = 300,    /* bytes of "host:port" and a NUL */
};

/*
 * Copies text[0..len) into out (cap >= 4 bytes), NUL-terminated, with every
 * control character (C0 but LF and Tab, DEL, C1), every bidirectional
 * embedding, override and isolate (U+202A..U+202E, U+2066..U+2069) and every
 * invalid UTF-8 sequence replaced by U+FFFD, Tab by a space, and each LF by
 * lf (NULL: a space). Output that does not fit is cut at a character
 * boundary. Returns the bytes written, NUL excluded.
 */
size_t fmt_clean(char *out, size_t cap, const uint8_t *text, size_t len,
                 const char *SOTTO_NULLABLE lf);

/*
 * A one-line preview of text for status lines: the first FMT_PREVIEW_CHARS
 * characters, cleaned (fmt_clean, LF as a space), cut after the last whole
 * word when it had to be cut, with "…" (utf8) or "..." appended then.
 * out has at least FMT_PREVIEW_LEN bytes.
 */
void fmt_preview(char *out, size_t cap, const uint8_t *text, size_t len, bool utf8);

/*
 * The local time of ms (since the epoch) as "HH:MM" when it falls on the
 * same local day as now_ms, else "YYYY-MM-DD HH:MM"; always_short forces
 * "HH:MM". out has at least FMT_TIME_LEN bytes.
 */
void fmt_time(char *out, size_t cap, uint64_t ms, uint64_t now_ms, bool always_short);

/* The wall clock in milliseconds since the epoch. */
uint64_t fmt_now_ms(void);

/*
 * The mark shown after one of our messages: "…" queued, "✓" sent, "✓✓"
 * delivered, "✗" failed; in ASCII "...", "+", "++", "x". "" for RECEIVED.
 */
const char *fmt_mark(enum client_agent_msg_status status, bool utf8);

/*
 * Why one of our messages failed, in plain words: "their queue is gone
 * (they deleted this contact, or their relay lost it)" for
 * SOTTO_ERR_AUTH, and so on; sotto_strerror for a reason without a
 * better explanation.
 */
const char *fmt_fail_reason(sotto_err reason);

/* Why nothing can be sent to a contact in state (not CONNECTED), in plain words. */
const char *fmt_not_connected(enum client_agent_contact_state state);

/* "queued", "sent", "delivered", "failed", "received" ("unknown" otherwise). */
const char *fmt_status_name(enum client_agent_msg_status status);

/* "inviting", "joining", "connected", "deleted" ("unknown" otherwise). */
const char *fmt_state_name(enum client_agent_contact_state state);

/*
 * The stable name of an error for the JSON API ("not_found", "timeout",
 * ...): the sotto_err name in lower case without its prefix.
 */
const char *fmt_err_code(sotto_err err);

/*
 * "host:port" of a relay address "sotto://KEY@host:port" (the part after the
 * last '@'); the whole text if it has no '@'. The key is left out because
 * people recognise a relay by its host.
 */
void fmt_relay_short(char *out, size_t cap, const char *addr);

#endif /* SOTTO_FMT_H */
