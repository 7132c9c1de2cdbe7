/* SPDX-License-Identifier: MIT */
/*
 * show.c - events and history as text (cmd/sotto); see show.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "show.h"

#define INDENT "\n  " /* how a message's own line breaks continue */

sotto_err show_init(struct show *sh, struct client_agent *agent, bool utf8)
{
	memset(sh, 0, sizeof(*sh));
	sh->agent = agent;
	sh->utf8 = utf8;
	if ((sh->buf = malloc(SHOW_LINE_MAX)) == NULL)
		return SOTTO_ERR_NOMEM;
	sh->buf[0] = '\0';
	return SOTTO_OK;
}

void show_clear(struct show *sh)
{
	free(sh->buf);
	memset(sh, 0, sizeof(*sh));
}

void show_relay_name(const char *addr, char *out, size_t cap)
{
	fmt_relay_short(out, cap, addr);
}

/* The contact's name for a line: its name, else "#ID". */
static void contact_name(struct show *sh, int64_t id, char *out, size_t cap)
{
	struct client_agent_contact c;

	if (client_agent_contact_get(sh->agent, id, &c) == SOTTO_OK && c.name[0] != '\0')
		snprintf(out, cap, "%s", c.name);
	else
		snprintf(out, cap, "#%lld", (long long)id);
}

struct preview_find {
	int64_t msg_id;
	bool utf8;
	bool is_found;
	char text[FMT_PREVIEW_LEN];
};

static void on_preview_msg(void *user, const struct client_agent_msg *m)
{
	struct preview_find *f = user;

	if (m->id != f->msg_id)
		return;
	fmt_preview(f->text, sizeof(f->text), m->text, m->text_len, f->utf8);
	f->is_found = true;
}

static const char *status_line(struct show *sh, const struct client_agent_event *ev)
{
	char name[CLIENT_NAME_MAX + 24];
	struct preview_find f;

	if (ev->status == CLIENT_AGENT_SENT && !sh->show_sent)
		return NULL;
	if (ev->status != CLIENT_AGENT_SENT && ev->status != CLIENT_AGENT_DELIVERED &&
	    ev->status != CLIENT_AGENT_FAILED)
		return NULL;
	memset(&f, 0, sizeof(f));
	f.msg_id = ev->msg_id;
	f.utf8 = sh->utf8;
	/* The one message with this ID: the last one below ID + 1. */
	if (client_agent_history(sh->agent, ev->contact_id, ev->msg_id + 1, 1, on_preview_msg,
	                         &f) != SOTTO_OK ||
	    !f.is_found)
		snprintf(f.text, sizeof(f.text), "message #%lld", (long long)ev->msg_id);
	contact_name(sh, ev->contact_id, name, sizeof(name));
	if (ev->status == CLIENT_AGENT_FAILED)
		snprintf(sh->buf, SHOW_LINE_MAX, "%s failed to %s: \"%s\" (%s)",
		         fmt_mark(ev->status, sh->utf8), name, f.text, fmt_fail_reason(ev->err));
	else
		snprintf(sh->buf, SHOW_LINE_MAX, "%s %s to %s: \"%s\"",
		         fmt_mark(ev->status, sh->utf8), fmt_status_name(ev->status), name, f.text);
	return sh->buf;
}

static const char *received_line(struct show *sh, const struct client_agent_event *ev)
{
	char name[CLIENT_NAME_MAX + 24], when[FMT_TIME_LEN];
	int n;

	contact_name(sh, ev->contact_id, name, sizeof(name));
	fmt_time(when, sizeof(when), ev->time_ms, ev->time_ms, true);
	n = snprintf(sh->buf, SHOW_LINE_MAX, "%s %s: ", when, name);
	if (n < 0 || (size_t)n >= SHOW_LINE_MAX)
		return NULL;
	(void)fmt_clean(sh->buf + n, SHOW_LINE_MAX - (size_t)n, ev->text, ev->text_len, INDENT);
	return sh->buf;
}

static struct show_relay *relay_slot(struct show *sh, const char *addr)
{
	for (size_t i = 0; i < sh->n_relays; i++) {
		if (strcmp(sh->relays[i].addr, addr) == 0)
			return &sh->relays[i];
	}
	if (sh->n_relays == SHOW_RELAYS_MAX || strlen(addr) > NET_ADDR_TEXT_MAX)
		return NULL;
	struct show_relay *r = &sh->relays[sh->n_relays++];
	snprintf(r->addr, sizeof(r->addr), "%s", addr);
	r->is_down = false;
	return r;
}

static const char *relay_line(struct show *sh, const struct client_agent_event *ev)
{
	char host[FMT_RELAY_SHORT_MAX];
	struct show_relay *r;

	if (ev->relay == NULL || (r = relay_slot(sh, ev->relay)) == NULL)
		return NULL;
	show_relay_name(ev->relay, host, sizeof(host));
	if (ev->kind == CLIENT_AGENT_EV_RELAY_UP) {
		if (!r->is_down)
			return NULL;
		r->is_down = false;
		snprintf(sh->buf, SHOW_LINE_MAX, "relay %s is reachable again", host);
		return sh->buf;
	}
	if (r->is_down)
		return NULL;
	r->is_down = true;
	snprintf(sh->buf, SHOW_LINE_MAX, "relay %s is unreachable (%s); retrying", host,
	         sotto_strerror(ev->err));
	return sh->buf;
}

static const char *error_line(struct show *sh, const struct client_agent_event *ev)
{
	char name[CLIENT_NAME_MAX + 24];

	if (ev->contact_id == 0) {
		snprintf(sh->buf, SHOW_LINE_MAX, "could not store a change (%s); it is retried",
		         sotto_strerror(ev->err));
		return sh->buf;
	}
	contact_name(sh, ev->contact_id, name, sizeof(name));
	if (ev->err == SOTTO_ERR_AUTH)
		snprintf(sh->buf, SHOW_LINE_MAX,
		         "%s: the relay refused the contact's queue (an invitation someone "
		         "else used first, or a queue deleted)",
		         name);
	else if (ev->err == SOTTO_ERR_STATE)
		snprintf(sh->buf, SHOW_LINE_MAX, "%s: another device took over this contact", name);
	else
		snprintf(sh->buf, SHOW_LINE_MAX, "%s: %s", name, sotto_strerror(ev->err));
	return sh->buf;
}

const char *show_event(struct show *sh, const struct client_agent_event *ev)
{
	char name[CLIENT_NAME_MAX + 24];

	switch (ev->kind) {
	case CLIENT_AGENT_EV_RECEIVED: return received_line(sh, ev);
	case CLIENT_AGENT_EV_STATUS: return status_line(sh, ev);
	case CLIENT_AGENT_EV_RELAY_UP:
	case CLIENT_AGENT_EV_RELAY_DOWN: return relay_line(sh, ev);
	case CLIENT_AGENT_EV_ERROR: return error_line(sh, ev);
	case CLIENT_AGENT_EV_CONNECTED:
		contact_name(sh, ev->contact_id, name, sizeof(name));
		snprintf(sh->buf, SHOW_LINE_MAX, "connected: %s", name);
		return sh->buf;
	case CLIENT_AGENT_EV_RENAMED:
		contact_name(sh, ev->contact_id, name, sizeof(name));
		if (ev->name != NULL && strcmp(name, ev->name) != 0)
			snprintf(sh->buf, SHOW_LINE_MAX, "%s now calls themselves %s", name,
			         ev->name);
		else
			snprintf(sh->buf, SHOW_LINE_MAX, "#%lld now calls themselves %s",
			         (long long)ev->contact_id, ev->name != NULL ? ev->name : "");
		return sh->buf;
	case CLIENT_AGENT_EV_LEFT:
		contact_name(sh, ev->contact_id, name, sizeof(name));
		snprintf(sh->buf, SHOW_LINE_MAX, "%s left (deleted the contact; history stays)",
		         name);
		return sh->buf;
	}
	return NULL;
}

const char *show_message(struct show *sh, const struct client_agent_msg *m, const char *name)
{
	char when[FMT_TIME_LEN];
	int n;

	fmt_time(when, sizeof(when), m->time_ms, fmt_now_ms(), false);
	n = snprintf(sh->buf, SHOW_LINE_MAX, "%s %s: ", when,
	             m->dir == CLIENT_AGENT_OUT ? "me" : name);
	if (n < 0 || (size_t)n >= SHOW_LINE_MAX)
		return sh->buf;
	size_t pos = (size_t)n;
	pos += fmt_clean(sh->buf + pos, SHOW_LINE_MAX - pos - 64, m->text, m->text_len, INDENT);
	if (m->dir != CLIENT_AGENT_OUT)
		return sh->buf;
	if (m->status == CLIENT_AGENT_FAILED)
		snprintf(sh->buf + pos, SHOW_LINE_MAX - pos, " %s (%s)",
		         fmt_mark(m->status, sh->utf8), fmt_fail_reason(m->reason));
	else
		snprintf(sh->buf + pos, SHOW_LINE_MAX - pos, " %s", fmt_mark(m->status, sh->utf8));
	return sh->buf;
}
