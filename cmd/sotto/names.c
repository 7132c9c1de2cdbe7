/* SPDX-License-Identifier: MIT */
/*
 * names.c - finding a contact by name (cmd/sotto); see names.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/compat.h"
#include "fmt.h"
#include "names.h"

static void on_contact(void *user, const struct client_agent_contact *c)
{
	struct names_list *l = user;

	if (l->n == l->cap) {
		size_t cap = l->cap == 0 ? 16 : l->cap * 2;
		if (cap > CLIENT_AGENT_CONTACTS_MAX + 1)
			cap = CLIENT_AGENT_CONTACTS_MAX + 1;
		if (l->n == cap)
			return; /* more than the agent ever holds: ignore the rest */
		struct client_agent_contact *items = realloc(l->items, cap * sizeof(*items));
		if (items == NULL) {
			l->cap = SIZE_MAX; /* marks the failure for names_list_load */
			return;
		}
		l->items = items;
		l->cap = cap;
	}
	if (l->cap == SIZE_MAX)
		return;
	l->items[l->n++] = *c;
}

sotto_err names_list_load(struct client_agent *a, struct names_list *out)
{
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = client_agent_contact_list(a, on_contact, out)) != SOTTO_OK)
		return rc;
	if (out->cap == SIZE_MAX) {
		out->cap = out->n;
		return SOTTO_ERR_NOMEM;
	}
	return SOTTO_OK;
}

void names_list_clear(struct names_list *l)
{
	free(l->items);
	memset(l, 0, sizeof(*l));
}

static bool ascii_case_equal(const char *a, size_t a_len, const char *b, size_t b_len)
{
	if (a_len != b_len)
		return false;
	for (size_t i = 0; i < a_len; i++) {
		char x = a[i], y = b[i];
		if (x >= 'A' && x <= 'Z')
			x = (char)(x - 'A' + 'a');
		if (y >= 'A' && y <= 'Z')
			y = (char)(y - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* Parses "#ID"; false if q is not '#' and 1..18 digits. */
static bool parse_id(const char *q, size_t q_len, int64_t *id)
{
	int64_t v = 0;

	if (q_len < 2 || q_len > 19 || q[0] != '#')
		return false;
	for (size_t i = 1; i < q_len; i++) {
		if (q[i] < '0' || q[i] > '9')
			return false;
		v = v * 10 + (q[i] - '0');
	}
	*id = v;
	return true;
}

static void add_match(struct names_match *m, size_t i)
{
	if (m->n_matches < NAMES_SHOWN_MAX)
		m->idx[m->n_matches] = i;
	m->n_matches++;
}

/* One pass: deleted selects the contacts it looks at, fold the comparison. */
static void pass(const struct names_list *l, const char *q, size_t q_len, bool deleted, bool fold,
                 struct names_match *m)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct client_agent_contact *c = &l->items[i];
		size_t n = strlen(c->name);
		if ((c->state == CLIENT_AGENT_DELETED) != deleted || n == 0)
			continue;
		if (fold ? ascii_case_equal(c->name, n, q, q_len)
		         : (n == q_len && memcmp(c->name, q, n) == 0))
			add_match(m, i);
	}
}

static void settle(struct names_match *m)
{
	if (m->n_matches == 0)
		m->outcome = NAMES_NOT_FOUND;
	else
		m->outcome = m->n_matches == 1 ? NAMES_FOUND : NAMES_AMBIGUOUS;
}

void names_match(const struct names_list *l, const char *q, size_t q_len, struct names_match *m)
{
	int64_t id = 0;

	memset(m, 0, sizeof(*m));
	m->consumed = q_len;
	if (parse_id(q, q_len, &id)) {
		for (size_t i = 0; i < l->n; i++) {
			if (l->items[i].id == id)
				add_match(m, i);
		}
		settle(m);
		return;
	}
	for (int p = 0; p < 4 && m->n_matches == 0; p++)
		pass(l, q, q_len, p >= 2, (p & 1) != 0, m);
	settle(m);
}

void names_match_prefix(const struct names_list *l, const char *line, size_t len,
                        struct names_match *m)
{
	size_t best = 0, word = 0;

	while (word < len && line[word] != ' ')
		word++;
	for (size_t i = 0; i < l->n; i++) {
		size_t n = strlen(l->items[i].name);
		if (n == 0 || n > len || n <= best || (n < len && line[n] != ' '))
			continue;
		if (ascii_case_equal(l->items[i].name, n, line, n))
			best = n;
	}
	names_match(l, line, best > word ? best : word, m);
}

/* Appends formatted text to out at *pos, cutting at cap. */
static void append(char *out, size_t cap, size_t *pos, const char *fmt, ...) SOTTO_PRINTF(4, 5);

static void append(char *out, size_t cap, size_t *pos, const char *fmt, ...)
{
	va_list ap;

	if (*pos + 1 >= cap)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(out + *pos, cap - *pos, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	*pos += (size_t)n;
	if (*pos >= cap)
		*pos = cap - 1;
}

void names_describe(const struct names_list *l, const char *q, size_t q_len,
                    const struct names_match *m, char *out, size_t cap)
{
	size_t pos = 0, shown = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (q_len > CLIENT_NAME_MAX)
		q_len = CLIENT_NAME_MAX;
	if (m->outcome == NAMES_AMBIGUOUS) {
		append(out, cap, &pos, "\"%.*s\" is ambiguous:", (int)q_len, q);
		for (size_t i = 0; i < m->n_matches && i < NAMES_SHOWN_MAX; i++) {
			const struct client_agent_contact *c = &l->items[m->idx[i]];
			append(out, cap, &pos, "%s #%lld %s (%s)", i == 0 ? "" : ",",
			       (long long)c->id, c->name, fmt_state_name(c->state));
		}
		append(out, cap, &pos, "%s; name one as #ID, or rename one",
		       m->n_matches > NAMES_SHOWN_MAX ? ", ..." : "");
		return;
	}
	append(out, cap, &pos, "no contact \"%.*s\"", (int)q_len, q);
	for (size_t i = 0; i < l->n; i++) {
		const struct client_agent_contact *c = &l->items[i];
		if (c->state == CLIENT_AGENT_DELETED || c->name[0] == '\0')
			continue;
		if (shown == NAMES_SHOWN_MAX) {
			append(out, cap, &pos, ", ...");
			break;
		}
		append(out, cap, &pos, "%s%s", shown == 0 ? "; contacts: " : ", ", c->name);
		shown++;
	}
	if (shown == 0)
		append(out, cap, &pos, " (no named contacts; see: sotto contacts)");
}
