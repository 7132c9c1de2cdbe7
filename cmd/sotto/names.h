/* SPDX-License-Identifier: MIT */
/*
 * names.h - finding a contact by the name the user typed (cmd/sotto).
 *
 * A contact's name is its local name if the user set one, else the display
 * name the peer chose (client_agent_contact.name). Nothing stops two
 * contacts from having the same name, so a name may match several: then
 * the user is told which (with their IDs) and nothing happens. "#ID" names
 * a contact by its ID whatever its name.
 *
 * Matching, first pass that finds anything wins:
 *   1. "#ID" (decimal digits): the contact with that ID;
 *   2. contacts not deleted whose name is exactly the text;
 *   3. contacts not deleted whose name equals it ignoring ASCII case;
 *   4. deleted contacts (history only), exactly, then ignoring ASCII case.
 * Several matches in the winning pass make the name ambiguous.
 *
 * The interactive chat writes "@alice hello" and "/rename Alice Smith
 * Ally", where the name runs into the rest of the line and may itself hold
 * spaces: names_match_prefix takes the longest name that the line starts
 * with, followed by a space or the end.
 */
#ifndef SOTTO_NAMES_H
#define SOTTO_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include <sotto/sotto.h>

#include "client/agent.h"

enum {
	NAMES_SHOWN_MAX = 8, /* matches kept to show the user */
};

/* Every contact of a profile, read once (at most CLIENT_AGENT_CONTACTS_MAX). */
struct names_list {
	struct client_agent_contact *items; /* malloc'd; n of them, by increasing ID */
	size_t n;
	size_t cap;
};

enum names_outcome {
	NAMES_FOUND = 0,
	NAMES_NOT_FOUND = 1,
	NAMES_AMBIGUOUS = 2,
};

struct names_match {
	enum names_outcome outcome;
	size_t n_matches;            /* matches of the winning pass (1 when found) */
	size_t idx[NAMES_SHOWN_MAX]; /* indexes into the list of the first matches */
	size_t consumed;             /* prefix mode: bytes of the line the name took */
};

/*
 * Reads every contact of the agent into *out (emptied first; clear it with
 * names_list_clear in every case).
 * Errors: those of client_agent_contact_list, SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err names_list_load(struct client_agent *a, struct names_list *out);

/* Frees the list and empties it. */
void names_list_clear(struct names_list *l);

/* Finds q[0..q_len) in l (the passes above); the contact is l->items[m->idx[0]]. */
void names_match(const struct names_list *l, const char *q, size_t q_len, struct names_match *m);

/*
 * Finds the contact whose name starts line[0..len) and is followed by a
 * space or the end; the longest such name wins (then the passes above
 * decide between contacts sharing it). m->consumed is the name's length.
 * When no name fits, the first word of the line is matched as a whole (so
 * the outcome and the message name what the user typed).
 */
void names_match_prefix(const struct names_list *l, const char *line, size_t len,
                        struct names_match *m);

/*
 * Writes one sentence for a failed match into out (NUL-terminated, cut to
 * cap): 'no contact "q"; contacts: a, b' or '"q" is ambiguous: #3 alice
 * (connected), #7 alice (deleted); name one by #ID or rename it'.
 */
void names_describe(const struct names_list *l, const char *q, size_t q_len,
                    const struct names_match *m, char *out, size_t cap);

#endif /* SOTTO_NAMES_H */
