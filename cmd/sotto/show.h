/* SPDX-License-Identifier: MIT */
/*
 * show.h - the agent's events and the history as lines of text for people
 * (cmd/sotto): what "sotto receive", "sotto chat" and the interactive chat
 * print.
 *
 *   12:04 alice: hello                   a message received
 *   12:05 me: hi there ✓✓                one of ours in the history, with its mark
 *   ✓✓ delivered to alice: "hi there"    one of ours changed status
 *   connected: alice                     a contact completed
 *   relay relay.example.org:5223 is unreachable (could not connect); retrying
 *   relay relay.example.org:5223 is reachable again
 *
 * Peer text is cleaned (fmt_clean); a message of several lines continues
 * on lines indented by two spaces. A relay that keeps failing is reported
 * once until it comes back.
 */
#ifndef SOTTO_SHOW_H
#define SOTTO_SHOW_H

#include <stdbool.h>
#include <stddef.h>

#include <sotto/sotto.h>

#include "client/agent.h"
#include "net/addr.h"

enum {
	SHOW_LINE_MAX = 4 * CLIENT_TEXT_MAX + 1024, /* bytes of one shown event or message */
	SHOW_RELAYS_MAX = 64,                       /* relays whose reachability is tracked */
};

struct show_relay {
	char addr[NET_ADDR_TEXT_MAX + 1];
	bool is_down; /* reported unreachable, not yet back */
};

struct show {
	struct client_agent *agent; /* borrowed */
	bool utf8;                  /* marks and ellipses in UTF-8 */
	bool show_sent;             /* also a line when a message becomes SENT */
	char *buf;                  /* SHOW_LINE_MAX bytes, malloc'd */
	struct show_relay relays[SHOW_RELAYS_MAX];
	size_t n_relays;
};

/* Sets up *sh for agent. Errors: SOTTO_ERR_NOMEM. */
SOTTO_NODISCARD sotto_err show_init(struct show *sh, struct client_agent *agent, bool utf8);

/* Frees what show_init took. */
void show_clear(struct show *sh);

/*
 * The line(s) for ev, NUL-terminated, borrowed until the next call; NULL
 * when ev is not worth telling (a SENT status, a relay coming up that was
 * never down, a repeated failure). May read the agent (contact names, the
 * message a status is about): call it from the agent's event callback.
 */
const char *SOTTO_NULLABLE show_event(struct show *sh, const struct client_agent_event *ev);

/*
 * The line of one history message of contact name: time (with the date
 * unless it is today), "me" or name, the text, and our mark; borrowed until
 * the next call.
 */
const char *show_message(struct show *sh, const struct client_agent_msg *m, const char *name);

/* The relay address as "host:port" (fmt_relay_short) into out. */
void show_relay_name(const char *addr, char *out, size_t cap);

#endif /* SOTTO_SHOW_H */
