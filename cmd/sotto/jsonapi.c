/* SPDX-License-Identifier: MIT */
/*
 * jsonapi.c - the JSON-lines API (cmd/sotto); see jsonapi.h and docs/api.md.
 *
 * Each command is one function in the table at the end; each reads its
 * arguments, calls the agent and answers. The only state kept between
 * lines is the number of invite/connect answers still due, so that the end
 * of input waits for them.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "client/envelope.h"
#include "fmt.h"
#include "jsonapi.h"
#include "lines.h"
#include "names.h"
#include "proto/limits.h"
#include "session.h"

struct japi {
	struct session s;
	struct lines *SOTTO_NULLABLE in;
	uv_signal_t sig_term, sig_int;
	bool has_signals;
	bool is_eof;      /* input ended: quit once nothing is due */
	bool is_quitting; /* quit was asked: no more input */
	size_t n_pending; /* invite, connect and send answers still due */
};

/* An answer that comes when the agent's done callback runs. */
struct pending {
	struct japi *j;
	json_t *id;     /* owned reference */
	bool is_invite; /* else connect */
};

/* A send's answer: once the agent has stored it (the end of the loop turn). */
struct pending_send {
	struct japi *j;
	json_t *id; /* owned reference */
	int64_t contact_id;
};

/* ---- output ---- */

static void emit(json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT);

	json_decref(obj);
	if (text == NULL)
		return;
	fputs(text, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	free(text);
}

/* {"id": id, "ok": true, ...fields}; fields (may be NULL) is consumed. */
static void answer_ok(json_t *id, json_t *fields)
{
	json_t *a = json_object();

	json_object_set(a, "id", id != NULL ? id : json_null());
	json_object_set_new(a, "ok", json_true());
	if (fields != NULL) {
		json_object_update(a, fields);
		json_decref(fields);
	}
	emit(a);
}

static void answer_err(json_t *id, const char *code, const char *fmt, ...) SOTTO_PRINTF(3, 4);

static void answer_err(json_t *id, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *a = json_object();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_set(a, "id", id != NULL ? id : json_null());
	json_object_set_new(a, "ok", json_false());
	json_object_set_new(a, "error", json_pack("{s:s,s:s}", "code", code, "message", msg));
	emit(a);
}

/* An agent error: its code name and "what: strerror". */
static void answer_rc(json_t *id, sotto_err rc, const char *what)
{
	answer_err(id, fmt_err_code(rc), "%s: %s", what, sotto_strerror(rc));
}

/* An error of invite or connect, which say SOTTO_ERR_NOT_FOUND for "no relay" only. */
static void answer_join_rc(json_t *id, sotto_err rc, const char *what)
{
	if (rc == SOTTO_ERR_NOT_FOUND)
		answer_err(id, "no_relay", "no relay configured: add one with relay_add");
	else
		answer_rc(id, rc, what);
}

/* ---- arguments ---- */

/* The string argument key; answers and returns NULL when missing or not a string. */
static const char *arg_str(json_t *id, json_t *req, const char *key, bool required, size_t *len)
{
	json_t *v = json_object_get(req, key);

	*len = 0;
	if (v == NULL && !required)
		return NULL;
	if (!json_is_string(v)) {
		answer_err(id, "bad_request", "\"%s\" must be a string", key);
		return NULL;
	}
	*len = json_string_length(v);
	return json_string_value(v);
}

static bool arg_bool(json_t *req, const char *key)
{
	return json_is_true(json_object_get(req, key));
}

/* Finds the contact named by "contact" (ID or name); answers and returns false if none. */
static bool arg_contact(struct japi *j, json_t *id, json_t *req, struct client_agent_contact *c)
{
	json_t *v = json_object_get(req, "contact");
	struct names_list l;
	struct names_match m;
	char why[1024];
	sotto_err rc;

	if (json_is_integer(v)) {
		rc = client_agent_contact_get(j->s.agent, (int64_t)json_integer_value(v), c);
		if (rc == SOTTO_OK)
			return true;
		if (rc == SOTTO_ERR_NOT_FOUND)
			answer_err(id, "contact_not_found", "no contact #%lld",
			           (long long)json_integer_value(v));
		else
			answer_rc(id, rc, "cannot read the contact");
		return false;
	}
	if (!json_is_string(v)) {
		answer_err(id, "bad_request", "\"contact\" must be an ID or a name");
		return false;
	}
	const char *q = json_string_value(v);
	size_t q_len = json_string_length(v);
	if ((rc = names_list_load(j->s.agent, &l)) != SOTTO_OK) {
		names_list_clear(&l);
		answer_rc(id, rc, "cannot read the contacts");
		return false;
	}
	names_match(&l, q, q_len, &m);
	if (m.outcome == NAMES_FOUND)
		*c = l.items[m.idx[0]];
	else
		names_describe(&l, q, q_len, &m, why, sizeof(why));
	names_list_clear(&l);
	if (m.outcome == NAMES_FOUND)
		return true;
	answer_err(id, m.outcome == NAMES_AMBIGUOUS ? "contact_ambiguous" : "contact_not_found",
	           "%s", why);
	return false;
}

static json_t *contact_json(const struct client_agent_contact *c)
{
	return json_pack("{s:I,s:s,s:s,s:s,s:b}", "id", (json_int_t)c->id, "name", c->name,
	                 "peer_name", c->peer_name, "state", fmt_state_name(c->state),
	                 "has_local_name", c->has_local_name);
}

/* ---- commands ---- */

static void on_done(void *user, sotto_err err, int64_t contact_id, const char *link)
{
	struct pending *p = user;
	struct japi *j = p->j;

	if (err == SOTTO_OK && p->is_invite)
		answer_ok(p->id, json_pack("{s:I,s:s}", "contact", (json_int_t)contact_id, "link",
		                           link != NULL ? link : ""));
	else if (err == SOTTO_OK)
		answer_ok(p->id, json_pack("{s:I}", "contact", (json_int_t)contact_id));
	else if (err == SOTTO_ERR_TIMEOUT)
		answer_err(p->id, "timeout",
		           "timed out waiting for the relay; contact #%lld is kept and the work "
		           "goes on",
		           (long long)contact_id);
	else
		answer_rc(p->id, err,
		          p->is_invite ? "the relay refused the invitation"
		                       : "the relay refused the join");
	json_decref(p->id);
	free(p);
	j->n_pending--;
	if (j->is_eof && j->n_pending == 0)
		j->s.is_done = true;
}

static struct pending *pending_new(struct japi *j, json_t *id, bool is_invite)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		answer_err(id, "nomem", "out of memory");
		return NULL;
	}
	p->j = j;
	p->id = json_incref(id);
	p->is_invite = is_invite;
	return p;
}

static void pending_drop(struct pending *p)
{
	json_decref(p->id);
	free(p);
}

static bool valid_name_arg(json_t *id, const char *name, size_t len, bool allow_empty)
{
	if ((len == 0 && allow_empty) || client_name_is_valid((const uint8_t *)name, len))
		return true;
	answer_err(id, "invalid", "a name is 1 to %d bytes of text, no control characters",
	           CLIENT_NAME_MAX);
	return false;
}

static void do_invite(struct japi *j, json_t *id, json_t *req)
{
	size_t len = 0;
	int64_t cid = 0;
	const char *name = arg_str(id, req, "name", false, &len);
	struct pending *p;
	sotto_err rc;

	if (json_object_get(req, "name") != NULL && name == NULL)
		return;
	if (name != NULL && !valid_name_arg(id, name, len, false))
		return;
	if ((p = pending_new(j, id, true)) == NULL)
		return;
	if ((rc = client_agent_invite(j->s.agent, on_done, p, &cid)) != SOTTO_OK) {
		answer_join_rc(id, rc, "cannot invite");
		pending_drop(p);
		return;
	}
	j->n_pending++;
	if (name != NULL &&
	    (rc = client_agent_contact_rename(j->s.agent, cid, name, len)) != SOTTO_OK)
		fprintf(stderr, "sotto: cannot name invitation #%lld: %s\n", (long long)cid,
		        sotto_strerror(rc));
}

static void do_connect(struct japi *j, json_t *id, json_t *req)
{
	size_t link_len = 0, len = 0;
	int64_t cid = 0;
	const char *link = arg_str(id, req, "link", true, &link_len);
	const char *name = link == NULL ? NULL : arg_str(id, req, "name", false, &len);
	struct pending *p;
	sotto_err rc;

	if (link == NULL || (json_object_get(req, "name") != NULL && name == NULL))
		return;
	if (name != NULL && !valid_name_arg(id, name, len, false))
		return;
	if ((p = pending_new(j, id, false)) == NULL)
		return;
	rc = client_agent_connect(j->s.agent, link, link_len, on_done, p, &cid);
	if (rc != SOTTO_OK) {
		answer_join_rc(id, rc, "cannot connect");
		pending_drop(p);
		return;
	}
	j->n_pending++;
	if (name != NULL &&
	    (rc = client_agent_contact_rename(j->s.agent, cid, name, len)) != SOTTO_OK)
		fprintf(stderr, "sotto: cannot name contact #%lld: %s\n", (long long)cid,
		        sotto_strerror(rc));
}

static void do_contacts(struct japi *j, json_t *id, json_t *req)
{
	struct names_list l;
	bool all = arg_bool(req, "all");
	sotto_err rc = names_list_load(j->s.agent, &l);
	json_t *arr;

	if (rc != SOTTO_OK) {
		names_list_clear(&l);
		answer_rc(id, rc, "cannot read the contacts");
		return;
	}
	arr = json_array();
	for (size_t i = 0; i < l.n; i++) {
		if (all || l.items[i].state != CLIENT_AGENT_DELETED)
			json_array_append_new(arr, contact_json(&l.items[i]));
	}
	names_list_clear(&l);
	answer_ok(id, json_pack("{s:o}", "contacts", arr));
}

static void on_stored(void *user, sotto_err err, int64_t msg_id)
{
	struct pending_send *p = user;
	struct japi *j = p->j;

	if (err == SOTTO_OK)
		answer_ok(p->id, json_pack("{s:I,s:I,s:s}", "contact", (json_int_t)p->contact_id,
		                           "msg", (json_int_t)msg_id, "status", "queued"));
	else
		answer_rc(p->id, err, "the message could not be stored");
	json_decref(p->id);
	free(p);
	j->n_pending--;
	if (j->is_eof && j->n_pending == 0)
		j->s.is_done = true;
}

static void do_send(struct japi *j, json_t *id, json_t *req)
{
	struct client_agent_contact c;
	struct pending_send *p;
	size_t len = 0;
	sotto_err rc;

	if (!arg_contact(j, id, req, &c))
		return;
	const char *text = arg_str(id, req, "text", true, &len);
	if (text == NULL)
		return;
	if (!client_text_is_valid((const uint8_t *)text, len)) {
		answer_err(id, "invalid", "a message is 1 to %d bytes of UTF-8 text",
		           CLIENT_TEXT_MAX);
		return;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		answer_err(id, "nomem", "out of memory");
		return;
	}
	p->j = j;
	p->id = json_incref(id);
	p->contact_id = c.id;
	/* Sends of one read share one commit; the answer comes once it is stored. */
	rc = client_agent_send_text_grouped(j->s.agent, c.id, (const uint8_t *)text, len, on_stored,
	                                    p);
	if (rc != SOTTO_OK) {
		answer_rc(id, rc,
		          rc == SOTTO_ERR_STATE ? "the contact is not connected" : "cannot send");
		json_decref(p->id);
		free(p);
		return;
	}
	j->n_pending++;
}

static void on_history_msg(void *user, const struct client_agent_msg *m)
{
	json_t *arr = user;
	json_t *o =
	        json_pack("{s:I,s:s,s:s,s:s%,s:I,s:I}", "id", (json_int_t)m->id, "dir",
	                  m->dir == CLIENT_AGENT_OUT ? "out" : "in", "status",
	                  fmt_status_name(m->status), "text", (const char *)m->text, m->text_len,
	                  "sent_at", (json_int_t)m->sent_at_ms, "time", (json_int_t)m->time_ms);

	if (o == NULL)
		return;
	if (m->status == CLIENT_AGENT_FAILED)
		json_object_set_new(o, "reason", json_string(fmt_err_code(m->reason)));
	json_array_append_new(arr, o);
}

static void do_history(struct japi *j, json_t *id, json_t *req)
{
	struct client_agent_contact c;
	json_t *limit = json_object_get(req, "limit"), *before = json_object_get(req, "before");
	json_int_t n = 20, b = 0;
	sotto_err rc;

	if (!arg_contact(j, id, req, &c))
		return;
	if ((limit != NULL && !json_is_integer(limit)) ||
	    (before != NULL && !json_is_integer(before))) {
		answer_err(id, "bad_request", "\"limit\" and \"before\" must be integers");
		return;
	}
	if (limit != NULL)
		n = json_integer_value(limit);
	if (before != NULL)
		b = json_integer_value(before);
	if (n < 1 || n > CLIENT_AGENT_HISTORY_MAX || b < 0) {
		answer_err(id, "invalid", "\"limit\" is 1 to %d, \"before\" a message ID",
		           CLIENT_AGENT_HISTORY_MAX);
		return;
	}
	json_t *arr = json_array();
	rc = client_agent_history(j->s.agent, c.id, (int64_t)b, (size_t)n, on_history_msg, arr);
	if (rc != SOTTO_OK) {
		json_decref(arr);
		answer_rc(id, rc, "cannot read the history");
		return;
	}
	answer_ok(id, json_pack("{s:I,s:o}", "contact", (json_int_t)c.id, "messages", arr));
}

static void do_rename(struct japi *j, json_t *id, json_t *req)
{
	struct client_agent_contact c;
	size_t len = 0;
	sotto_err rc;

	if (!arg_contact(j, id, req, &c))
		return;
	const char *name = arg_str(id, req, "name", true, &len);
	if (name == NULL || !valid_name_arg(id, name, len, true))
		return;
	if ((rc = client_agent_contact_rename(j->s.agent, c.id, name, len)) != SOTTO_OK) {
		answer_rc(id, rc, "cannot rename");
		return;
	}
	if (client_agent_contact_get(j->s.agent, c.id, &c) != SOTTO_OK) {
		answer_ok(id, NULL);
		return;
	}
	answer_ok(id, json_pack("{s:o}", "contact", contact_json(&c)));
}

static void do_delete(struct japi *j, json_t *id, json_t *req)
{
	struct client_agent_contact c;
	sotto_err rc;

	if (!arg_contact(j, id, req, &c))
		return;
	if ((rc = client_agent_contact_delete(j->s.agent, c.id, arg_bool(req, "purge"))) !=
	    SOTTO_OK) {
		answer_rc(id, rc, "cannot delete");
		return;
	}
	answer_ok(id, json_pack("{s:I}", "contact", (json_int_t)c.id));
}

static void do_verify(struct japi *j, json_t *id, json_t *req)
{
	struct client_agent_contact c;
	char code[PROTO_CODE_TEXT_LEN + 1];
	sotto_err rc;

	if (!arg_contact(j, id, req, &c))
		return;
	if ((rc = client_agent_security_code(j->s.agent, c.id, code, sizeof(code))) != SOTTO_OK) {
		answer_rc(id, rc, "no security code");
		return;
	}
	answer_ok(id, json_pack("{s:I,s:s}", "contact", (json_int_t)c.id, "code", code));
}

static void do_link(struct japi *j, json_t *id, json_t *req)
{
	struct client_agent_contact c;
	char link[CLIENT_LINK_TEXT_MAX + 1];
	sotto_err rc;

	if (!arg_contact(j, id, req, &c))
		return;
	if ((rc = client_agent_contact_link(j->s.agent, c.id, link, sizeof(link))) != SOTTO_OK) {
		answer_rc(id, rc, "no invitation link");
		return;
	}
	answer_ok(id, json_pack("{s:I,s:s}", "contact", (json_int_t)c.id, "link", link));
}

static void do_relay_change(struct japi *j, json_t *id, json_t *req, bool is_add)
{
	size_t len = 0;
	const char *addr = arg_str(id, req, "address", true, &len);
	sotto_err rc;

	if (addr == NULL)
		return;
	rc = is_add ? client_agent_relay_add(j->s.agent, addr, len)
	            : client_agent_relay_remove(j->s.agent, addr, len);
	if (rc != SOTTO_OK) {
		answer_rc(id, rc, is_add ? "cannot add the relay" : "cannot remove the relay");
		return;
	}
	answer_ok(id, NULL);
}

static void do_relay_add(struct japi *j, json_t *id, json_t *req)
{
	do_relay_change(j, id, req, true);
}

static void do_relay_remove(struct japi *j, json_t *id, json_t *req)
{
	do_relay_change(j, id, req, false);
}

static void on_relay(void *user, const char *addr)
{
	json_array_append_new(user, json_string(addr));
}

static void do_relay_list(struct japi *j, json_t *id, json_t *req)
{
	json_t *arr = json_array();
	sotto_err rc = client_agent_relay_list(j->s.agent, on_relay, arr);

	(void)req;
	if (rc != SOTTO_OK) {
		json_decref(arr);
		answer_rc(id, rc, "cannot list the relays");
		return;
	}
	answer_ok(id, json_pack("{s:o}", "relays", arr));
}

static void do_set_name(struct japi *j, json_t *id, json_t *req)
{
	size_t len = 0;
	const char *name = arg_str(id, req, "name", true, &len);
	sotto_err rc;

	if (name == NULL || !valid_name_arg(id, name, len, false))
		return;
	if ((rc = client_agent_set_name(j->s.agent, name, len)) != SOTTO_OK) {
		answer_rc(id, rc, "cannot set the name");
		return;
	}
	answer_ok(id, NULL);
}

static void do_get_name(struct japi *j, json_t *id, json_t *req)
{
	char name[CLIENT_NAME_MAX + 1];
	sotto_err rc = client_agent_get_name(j->s.agent, name, sizeof(name));

	(void)req;
	if (rc == SOTTO_ERR_NOT_FOUND) {
		answer_ok(id, json_pack("{s:s,s:b}", "name", CLIENT_AGENT_DEFAULT_NAME,
		                        "is_default", 1));
		return;
	}
	if (rc != SOTTO_OK) {
		answer_rc(id, rc, "cannot read the name");
		return;
	}
	answer_ok(id, json_pack("{s:s,s:b}", "name", name, "is_default", 0));
}

static void quit(struct japi *j)
{
	j->is_quitting = true;
	lines_free(j->in);
	j->in = NULL;
	j->s.is_done = true;
}

static void do_quit(struct japi *j, json_t *id, json_t *req)
{
	(void)req;
	answer_ok(id, NULL);
	quit(j);
}

struct japi_cmd {
	const char *name;
	void (*run)(struct japi *j, json_t *id, json_t *req);
};

static const struct japi_cmd CMDS[] = {
        {"invite", do_invite},
        {"connect", do_connect},
        {"contacts", do_contacts},
        {"send", do_send},
        {"history", do_history},
        {"rename", do_rename},
        {"delete", do_delete},
        {"verify", do_verify},
        {"link", do_link},
        {"relay_add", do_relay_add},
        {"relay_list", do_relay_list},
        {"relay_remove", do_relay_remove},
        {"set_name", do_set_name},
        {"get_name", do_get_name},
        {"quit", do_quit},
};

/* ---- input ---- */

static void on_line(void *user, const char *line, size_t len)
{
	struct japi *j = user;
	json_error_t err;
	json_t *req, *id, *cmd;

	if (j->is_quitting || len == 0)
		return;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &err);
	if (req == NULL || !json_is_object(req)) {
		answer_err(NULL, "bad_json", "not a JSON object: %s",
		           req == NULL ? err.text : "another JSON value");
		json_decref(req);
		return;
	}
	id = json_object_get(req, "id");
	cmd = json_object_get(req, "cmd");
	if (!json_is_string(cmd)) {
		answer_err(id, "bad_request", "\"cmd\" must name a command");
		json_decref(req);
		return;
	}
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(CMDS); i++) {
		if (strcmp(CMDS[i].name, json_string_value(cmd)) == 0) {
			CMDS[i].run(j, id, req);
			json_decref(req);
			return;
		}
	}
	answer_err(id, "unknown_command", "unknown command \"%.64s\"", json_string_value(cmd));
	json_decref(req);
}

static void on_too_long(void *user)
{
	(void)user;
	answer_err(NULL, "line_too_long", "a command line is at most %d bytes", JSONAPI_LINE_MAX);
}

static void on_eof(void *user)
{
	struct japi *j = user;

	j->is_eof = true;
	lines_free(j->in);
	j->in = NULL;
	if (j->n_pending == 0)
		j->s.is_done = true;
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	quit(h->data);
}

/* ---- events ---- */

static json_t *event_json(struct japi *j, const struct client_agent_event *ev)
{
	struct client_agent_contact c;
	json_int_t cid = (json_int_t)ev->contact_id;

	switch (ev->kind) {
	case CLIENT_AGENT_EV_RECEIVED:
		if (client_agent_contact_get(j->s.agent, ev->contact_id, &c) != SOTTO_OK)
			c.name[0] = '\0';
		return json_pack("{s:s,s:I,s:s,s:I,s:s%,s:I,s:I}", "event", "message", "contact",
		                 cid, "name", c.name, "msg", (json_int_t)ev->msg_id, "text",
		                 (const char *)ev->text, ev->text_len, "sent_at",
		                 (json_int_t)ev->sent_at_ms, "time", (json_int_t)ev->time_ms);
	case CLIENT_AGENT_EV_STATUS:
		if (ev->status == CLIENT_AGENT_FAILED)
			return json_pack("{s:s,s:I,s:I,s:s,s:s}", "event", "status", "contact", cid,
			                 "msg", (json_int_t)ev->msg_id, "status", "failed",
			                 "reason", fmt_err_code(ev->err));
		return json_pack("{s:s,s:I,s:I,s:s}", "event", "status", "contact", cid, "msg",
		                 (json_int_t)ev->msg_id, "status", fmt_status_name(ev->status));
	case CLIENT_AGENT_EV_CONNECTED:
	case CLIENT_AGENT_EV_RENAMED:
		return json_pack("{s:s,s:I,s:s}", "event",
		                 ev->kind == CLIENT_AGENT_EV_CONNECTED ? "connected" : "renamed",
		                 "contact", cid, "name", ev->name != NULL ? ev->name : "");
	case CLIENT_AGENT_EV_LEFT: return json_pack("{s:s,s:I}", "event", "left", "contact", cid);
	case CLIENT_AGENT_EV_RELAY_UP:
		return json_pack("{s:s,s:s}", "event", "relay_up", "relay",
		                 ev->relay != NULL ? ev->relay : "");
	case CLIENT_AGENT_EV_RELAY_DOWN:
		return json_pack("{s:s,s:s,s:s}", "event", "relay_down", "relay",
		                 ev->relay != NULL ? ev->relay : "", "reason",
		                 fmt_err_code(ev->err));
	case CLIENT_AGENT_EV_ERROR:
		return json_pack("{s:s,s:I,s:s,s:s}", "event", "error", "contact", cid, "code",
		                 fmt_err_code(ev->err), "message", sotto_strerror(ev->err));
	}
	return NULL;
}

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct japi *j = user;
	json_t *o = event_json(j, ev);

	if (o != NULL)
		emit(o);
}

/* ---- the run ---- */

static const char *startup_code(int exit_code)
{
	switch (exit_code) {
	case CLI_EXIT_NO_PROFILE: return "no_profile";
	case CLI_EXIT_LOCKED: return "profile_locked";
	case CLI_EXIT_PASSPHRASE: return "passphrase";
	case CLI_EXIT_USAGE: return "bad_request";
	}
	return "failed";
}

static int start(struct japi *j)
{
	struct lines_callbacks cb = {
	        .on_line = on_line, .on_too_long = on_too_long, .on_eof = on_eof, .user = j};
	sotto_err rc;

	if ((rc = lines_new(&j->s.loop, STDIN_FILENO, JSONAPI_LINE_MAX, &cb, &j->in)) != SOTTO_OK)
		return cli_fail(rc, "cannot read standard input");
	if (uv_signal_init(&j->s.loop, &j->sig_term) != 0 ||
	    uv_signal_init(&j->s.loop, &j->sig_int) != 0)
		return cli_fail(SOTTO_ERR_INTERNAL, "cannot watch signals");
	j->has_signals = true;
	j->sig_term.data = j;
	j->sig_int.data = j;
	(void)uv_signal_start(&j->sig_term, on_signal, SIGTERM);
	(void)uv_signal_start(&j->sig_int, on_signal, SIGINT);
	return CLI_EXIT_OK;
}

int jsonapi_main(struct cli_opts *g)
{
	struct japi j;
	int code;

	memset(&j, 0, sizeof(j));
	uint64_t timeout_ms = session_timeout_ms(g, CLI_TIMEOUT_S_DEFAULT);
	code = session_open(&j.s, g, (uint32_t)timeout_ms);
	if (code != CLI_EXIT_OK) {
		emit(json_pack("{s:s,s:s,s:s,s:i}", "event", "error", "code", startup_code(code),
		               "message", "cannot open the profile (see stderr)", "exit", code));
		session_close(&j.s);
		return code;
	}
	session_set_handler(&j.s, on_event, &j);
	if ((code = start(&j)) == CLI_EXIT_OK) {
		emit(json_pack("{s:s,s:s,s:s}", "event", "ready", "profile", g->profile, "version",
		               sotto_version()));
		(void)session_run(&j.s, 0);
	}
	lines_free(j.in);
	j.in = NULL;
	if (j.has_signals) {
		uv_close((uv_handle_t *)&j.sig_term, NULL);
		uv_close((uv_handle_t *)&j.sig_int, NULL);
	}
	/* Invite/connect answers still due get "cancelled" from inside the close. */
	session_close(&j.s);
	return code;
}
