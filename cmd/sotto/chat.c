/* SPDX-License-Identifier: MIT */
/*
 * chat.c - the interactive chat (cmd/sotto); see chat.h.
 *
 * Every line of output goes through term_print, so it lands above the
 * prompt and is filtered once more. Commands parse their arguments here
 * and call the agent; the words they print come from show.h and fmt.h, so
 * the chat says things the way "sotto receive" and "sotto chat NAME" do.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "chat.h"
#include "client/envelope.h"
#include "fmt.h"
#include "names.h"
#include "proto/limits.h"
#include "qr.h"
#include "session.h"
#include "show.h"
#include "term.h"

enum {
	CHAT_HISTORY_SHOWN = 20, /* messages /chat shows */
	CHAT_SAY_MAX = 2048,     /* bytes of one formatted notice */
};

struct chat {
	struct session s;
	struct show sh;
	bool has_show;
	struct term *t;
	uv_signal_t sig_term, sig_hup, sig_int;
	bool has_signals;
	bool utf8;
	int64_t current; /* the contact plain lines go to; 0: none */
};

/* ---- output ---- */

/* A terminal that cannot be written to any more (hung up) ends the chat. */
static void term_done(struct chat *c, sotto_err rc)
{
	if (rc == SOTTO_ERR_IO)
		c->s.is_done = true;
}

static void print_text(struct chat *c, const char *text)
{
	if (c->t != NULL)
		term_done(c, term_print(c->t, text, strlen(text)));
}

static void say(struct chat *c, const char *fmt, ...) SOTTO_PRINTF(2, 3);

static void say(struct chat *c, const char *fmt, ...)
{
	char buf[CHAT_SAY_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	print_text(c, buf);
}

static void update_prompt(struct chat *c)
{
	struct client_agent_contact k;
	char prompt[CLIENT_NAME_MAX + 32];

	if (c->t == NULL)
		return;
	if (c->current != 0 && client_agent_contact_get(c->s.agent, c->current, &k) == SOTTO_OK)
		snprintf(prompt, sizeof(prompt), "%s> ", k.name[0] != '\0' ? k.name : "?");
	else
		snprintf(prompt, sizeof(prompt), "> ");
	term_done(c, term_set_prompt(c->t, prompt));
}

static void show_qr(struct chat *c, const char *text)
{
	char *drawing = NULL;
	size_t len = 0;

	if (!term_is_tty(c->t))
		return;
	if (qr_render(text, strlen(text), c->utf8 ? QR_STYLE_UTF8 : QR_STYLE_ASCII, &drawing,
	              &len) == SOTTO_OK)
		term_done(c, term_print(c->t, drawing, len));
	free(drawing);
}

/* ---- contacts by name ---- */

/*
 * Finds the contact whose name starts args (names_match_prefix); *rest
 * points after it and its spaces. Says why and returns false if none.
 */
static bool find(struct chat *c, const char *args, struct client_agent_contact *out,
                 const char **rest)
{
	struct names_list l;
	struct names_match m;
	char why[1024];
	size_t len = strlen(args);

	if (len == 0) {
		say(c, "which contact? (/contacts lists them)");
		return false;
	}
	if (names_list_load(c->s.agent, &l) != SOTTO_OK) {
		names_list_clear(&l);
		say(c, "cannot read the contacts");
		return false;
	}
	names_match_prefix(&l, args, len, &m);
	if (m.outcome != NAMES_FOUND) {
		names_describe(&l, args, m.consumed, &m, why, sizeof(why));
		names_list_clear(&l);
		say(c, "%s", why);
		return false;
	}
	*out = l.items[m.idx[0]];
	names_list_clear(&l);
	*rest = args + m.consumed;
	while (**rest == ' ')
		(*rest)++;
	return true;
}

/* ---- sending ---- */

static void send_to(struct chat *c, const struct client_agent_contact *k, const char *text)
{
	char when[FMT_TIME_LEN];
	size_t len = strlen(text);
	sotto_err rc;

	if (len == 0)
		return;
	rc = client_agent_send_text(c->s.agent, k->id, (const uint8_t *)text, len, NULL);
	if (rc == SOTTO_ERR_STATE) {
		say(c, "nothing sent to %s: %s", k->name, fmt_not_connected(k->state));
		return;
	}
	if (rc != SOTTO_OK) {
		say(c, "not sent to %s: %s", k->name, sotto_strerror(rc));
		return;
	}
	fmt_time(when, sizeof(when), fmt_now_ms(), fmt_now_ms(), true);
	say(c, "%s me %s %s: %s", when, c->utf8 ? "\xe2\x86\x92" : "->", k->name, text);
}

static void send_current(struct chat *c, const char *text)
{
	struct client_agent_contact k;

	if (c->current == 0 || client_agent_contact_get(c->s.agent, c->current, &k) != SOTTO_OK) {
		say(c, "no contact chosen: write @name text, or /chat NAME first");
		return;
	}
	send_to(c, &k, text);
}

static void at_line(struct chat *c, const char *args)
{
	struct client_agent_contact k;
	const char *text;

	if (!find(c, args, &k, &text))
		return;
	c->current = k.id;
	update_prompt(c);
	send_to(c, &k, text);
}

/* ---- commands ---- */

static void on_invite_done(void *user, sotto_err err, int64_t contact_id, const char *link)
{
	struct chat *c = user;

	if (err == SOTTO_ERR_CANCELLED)
		return;
	if (err != SOTTO_OK || link == NULL) {
		say(c, "invitation #%lld: %s", (long long)contact_id,
		    err == SOTTO_ERR_TIMEOUT ? "the relay did not answer yet; it is kept and tried "
		                               "again"
		                             : sotto_strerror(err));
		return;
	}
	say(c,
	    "invitation #%lld (it works once; give it to one person, who runs: /connect "
	    "LINK or sotto connect LINK):",
	    (long long)contact_id);
	say(c, "%s", link);
	show_qr(c, link);
}

static void on_connect_done(void *user, sotto_err err, int64_t contact_id, const char *link)
{
	struct chat *c = user;

	(void)link;
	if (err == SOTTO_ERR_CANCELLED)
		return;
	if (err == SOTTO_OK)
		say(c, "joined #%lld; waiting for the inviter's sotto to answer",
		    (long long)contact_id);
	else
		say(c, "join #%lld: %s", (long long)contact_id,
		    err == SOTTO_ERR_TIMEOUT ? "the relay did not answer yet; it goes on trying"
		                             : sotto_strerror(err));
}

static void no_relay(struct chat *c)
{
	say(c, "no relay configured: add one with /relay add ADDRESS");
}

/* Gives the contact just made the local name the command named, if any. */
static void name_new_contact(struct chat *c, int64_t id, const char *name)
{
	size_t len = strlen(name);

	if (len == 0)
		return;
	if (!client_name_is_valid((const uint8_t *)name, len) ||
	    client_agent_contact_rename(c->s.agent, id, name, len) != SOTTO_OK)
		say(c, "#%lld: \"%s\" cannot be its name (1 to %d bytes of text)", (long long)id,
		    name, CLIENT_NAME_MAX);
}

static void cmd_invite(struct chat *c, const char *args)
{
	int64_t id = 0;
	sotto_err rc = client_agent_invite(c->s.agent, on_invite_done, c, &id);

	if (rc == SOTTO_ERR_NOT_FOUND) {
		no_relay(c);
		return;
	}
	if (rc != SOTTO_OK) {
		say(c, "cannot invite: %s", sotto_strerror(rc));
		return;
	}
	name_new_contact(c, id, args);
	say(c, "asking the relay for a queue...");
}

static void cmd_connect(struct chat *c, const char *args)
{
	const char *sp = strchr(args, ' ');
	size_t len = sp != NULL ? (size_t)(sp - args) : strlen(args);
	const char *name = sp != NULL ? sp + 1 : "";
	int64_t id = 0;
	sotto_err rc;

	if (len == 0) {
		say(c, "usage: /connect LINK [NAME]");
		return;
	}
	rc = client_agent_connect(c->s.agent, args, len, on_connect_done, c, &id);
	if (rc == SOTTO_ERR_NOT_FOUND) {
		no_relay(c);
		return;
	}
	if (rc == SOTTO_ERR_USED) {
		say(c, "this invitation was used here already");
		return;
	}
	if (rc != SOTTO_OK) {
		say(c, "cannot join: %s", sotto_strerror(rc));
		return;
	}
	name_new_contact(c, id, name);
}

static void cmd_contacts(struct chat *c, const char *args)
{
	struct names_list l;

	(void)args;
	if (names_list_load(c->s.agent, &l) != SOTTO_OK) {
		names_list_clear(&l);
		say(c, "cannot read the contacts");
		return;
	}
	size_t shown = 0;
	for (size_t i = 0; i < l.n; i++) {
		const struct client_agent_contact *k = &l.items[i];
		if (k->state == CLIENT_AGENT_DELETED)
			continue;
		say(c, "#%lld %s %s%s", (long long)k->id, fmt_state_name(k->state),
		    k->name[0] != '\0' ? k->name : "(no name yet)",
		    k->id == c->current ? "  <- current" : "");
		shown++;
	}
	if (shown == 0)
		say(c, "no contacts yet: /invite makes a link, /connect LINK joins one");
	names_list_clear(&l);
}

struct history_print {
	struct chat *c;
	const char *name;
};

static void on_history_msg(void *user, const struct client_agent_msg *m)
{
	struct history_print *h = user;

	print_text(h->c, show_message(&h->c->sh, m, h->name));
}

static void cmd_chat(struct chat *c, const char *args)
{
	struct client_agent_contact k;
	const char *rest;

	if (!find(c, args, &k, &rest))
		return;
	c->current = k.id;
	update_prompt(c);
	struct history_print h = {.c = c, .name = k.name};
	say(c, "-- %s (%s) --", k.name, fmt_state_name(k.state));
	if (client_agent_history(c->s.agent, k.id, 0, CHAT_HISTORY_SHOWN, on_history_msg, &h) !=
	    SOTTO_OK)
		say(c, "cannot read the history");
}

static void cmd_rename(struct chat *c, const char *args)
{
	struct client_agent_contact k;
	const char *name;
	sotto_err rc;

	if (!find(c, args, &k, &name))
		return;
	if (name[0] == '\0') {
		say(c, "usage: /rename NAME NEWNAME");
		return;
	}
	if ((rc = client_agent_contact_rename(c->s.agent, k.id, name, strlen(name))) != SOTTO_OK) {
		say(c, "cannot rename %s: %s", k.name, sotto_strerror(rc));
		return;
	}
	say(c, "renamed %s to %s", k.name, name);
	update_prompt(c);
}

static void cmd_delete(struct chat *c, const char *args)
{
	struct client_agent_contact k;
	const char *rest;
	sotto_err rc;

	if (!find(c, args, &k, &rest))
		return;
	if ((rc = client_agent_contact_delete(c->s.agent, k.id, false)) != SOTTO_OK) {
		say(c, "cannot delete %s: %s", k.name, sotto_strerror(rc));
		return;
	}
	say(c, "deleted %s (the history stays: /chat %s)", k.name, k.name);
}

static void cmd_verify(struct chat *c, const char *args)
{
	struct client_agent_contact k;
	char code[PROTO_CODE_TEXT_LEN + 1];
	const char *rest;
	sotto_err rc;

	if (!find(c, args, &k, &rest))
		return;
	if ((rc = client_agent_security_code(c->s.agent, k.id, code, sizeof(code))) != SOTTO_OK) {
		say(c, "no security code for %s: %s", k.name, sotto_strerror(rc));
		return;
	}
	say(c,
	    "security code with %s (compare with theirs: the same code means no one is in "
	    "the middle):",
	    k.name);
	say(c, "%s", code);
}

static void on_relay(void *user, const char *addr)
{
	struct chat *c = user;
	say(c, "relay %s", addr);
}

static void cmd_relays(struct chat *c, const char *args)
{
	(void)args;
	if (client_agent_relay_list(c->s.agent, on_relay, c) != SOTTO_OK)
		say(c, "cannot list the relays");
}

static void cmd_relay(struct chat *c, const char *args)
{
	bool is_add = strncmp(args, "add ", 4) == 0;
	sotto_err rc;

	if (strcmp(args, "list") == 0 || args[0] == '\0') {
		cmd_relays(c, "");
		return;
	}
	if (!is_add && strncmp(args, "remove ", 7) != 0) {
		say(c, "usage: /relay add ADDRESS, /relay remove ADDRESS, /relays");
		return;
	}
	const char *addr = args + (is_add ? 4 : 7);
	rc = is_add ? client_agent_relay_add(c->s.agent, addr, strlen(addr))
	            : client_agent_relay_remove(c->s.agent, addr, strlen(addr));
	if (rc != SOTTO_OK)
		say(c, "cannot %s relay: %s", is_add ? "add" : "remove", sotto_strerror(rc));
	else
		say(c, "%s relay %s", is_add ? "added" : "removed", addr);
}

static void cmd_name(struct chat *c, const char *args)
{
	char name[CLIENT_NAME_MAX + 1];
	sotto_err rc;

	if (args[0] == '\0') {
		rc = client_agent_get_name(c->s.agent, name, sizeof(name));
		say(c, "your display name: %s", rc == SOTTO_OK ? name : CLIENT_AGENT_DEFAULT_NAME);
		return;
	}
	if ((rc = client_agent_set_name(c->s.agent, args, strlen(args))) != SOTTO_OK)
		say(c, "cannot set the name: %s", sotto_strerror(rc));
	else
		say(c, "your display name is now %s (sent to your contacts)", args);
}

static void quit(struct chat *c)
{
	c->s.is_done = true;
}

static void cmd_quit(struct chat *c, const char *args)
{
	(void)args;
	quit(c);
}

static void cmd_help(struct chat *c, const char *args);

struct chat_cmd {
	const char *name;
	const char *usage;
	const char *what;
	void (*run)(struct chat *c, const char *args);
};

static const struct chat_cmd CMDS[] = {
        {"help", "", "this list", cmd_help},
        {"invite", "[NAME]", "make a one-time invitation link", cmd_invite},
        {"connect", "LINK [NAME]", "join an invitation", cmd_connect},
        {"contacts", "", "list your contacts", cmd_contacts},
        {"chat", "NAME", "talk to NAME and show the last messages", cmd_chat},
        {"rename", "NAME NEWNAME", "your local name for a contact", cmd_rename},
        {"delete", "NAME", "delete a contact (the history stays)", cmd_delete},
        {"verify", "NAME", "the security code to compare with NAME", cmd_verify},
        {"relays", "", "list your relays", cmd_relays},
        {"relay", "add|remove ADDRESS", "choose the relays for new contacts", cmd_relay},
        {"name", "[NEWNAME]", "show or change your display name", cmd_name},
        {"quit", "", "leave (also Ctrl-D)", cmd_quit},
};

static void cmd_help(struct chat *c, const char *args)
{
	(void)args;
	say(c, "text          send to the current contact (shown in the prompt)");
	say(c, "@NAME text    send to NAME and make it the current contact");
	say(c, "//text        send text that starts with /");
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(CMDS); i++) {
		char left[64];
		snprintf(left, sizeof(left), "/%s %s", CMDS[i].name, CMDS[i].usage);
		say(c, "%-28s %s", left, CMDS[i].what);
	}
	say(c, "A contact is named by the name you gave it, else its own, or #ID.");
}

static void slash_line(struct chat *c, const char *line)
{
	const char *sp = strchr(line, ' ');
	size_t n = sp != NULL ? (size_t)(sp - line) : strlen(line);
	const char *args = sp != NULL ? sp + 1 : "";

	while (*args == ' ')
		args++;
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(CMDS); i++) {
		if (strlen(CMDS[i].name) == n && strncmp(CMDS[i].name, line, n) == 0) {
			CMDS[i].run(c, args);
			return;
		}
	}
	say(c, "unknown command /%.*s (/help lists them)", (int)(n > 32 ? 32 : n), line);
}

static void on_line(void *user, const char *line, size_t len)
{
	struct chat *c = user;

	if (len == 0)
		return;
	if (line[0] == '/' && line[1] == '/')
		send_current(c, line + 1);
	else if (line[0] == '/')
		slash_line(c, line + 1);
	else if (line[0] == '@')
		at_line(c, line + 1);
	else
		send_current(c, line);
}

static void on_eof(void *user)
{
	quit(user);
}

/* ---- events ---- */

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct chat *c = user;
	const char *line = show_event(&c->sh, ev);

	if (line != NULL)
		print_text(c, line);
	if (ev->kind == CLIENT_AGENT_EV_CONNECTED && c->current == 0)
		c->current = ev->contact_id;
	if (ev->kind == CLIENT_AGENT_EV_CONNECTED || ev->kind == CLIENT_AGENT_EV_RENAMED)
		update_prompt(c);
}

static void on_log(void *user, enum sotto_log_level level, const char *msg)
{
	struct chat *c = user;

	say(c, "sotto: %s%s", level == SOTTO_LOG_ERROR ? "error: " : "", msg);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	quit(h->data);
}

/* ---- the run ---- */

static void on_relay_count(void *user, const char *addr)
{
	size_t *n = user;

	(void)addr;
	(*n)++;
}

static void banner(struct chat *c, const struct cli_opts *g)
{
	char name[CLIENT_NAME_MAX + 1];
	size_t n_relays = 0;
	struct names_list l;

	if (client_agent_get_name(c->s.agent, name, sizeof(name)) != SOTTO_OK)
		snprintf(name, sizeof(name), "%s", CLIENT_AGENT_DEFAULT_NAME);
	say(c, "sotto %s, profile %s: you are \"%s\". /help lists the commands.", sotto_version(),
	    g->profile, name);
	if (client_agent_relay_list(c->s.agent, on_relay_count, &n_relays) == SOTTO_OK &&
	    n_relays == 0)
		no_relay(c);
	if (names_list_load(c->s.agent, &l) == SOTTO_OK) {
		size_t n = 0;
		for (size_t i = 0; i < l.n; i++)
			n += l.items[i].state == CLIENT_AGENT_CONNECTED;
		if (n > 0)
			say(c,
			    "%zu contact%s connected: /contacts lists them, /chat NAME opens one",
			    n, n == 1 ? "" : "s");
	}
	names_list_clear(&l);
}

static int start(struct chat *c)
{
	struct term_config tcfg = {.prompt = "> ", .history_path = NULL};
	struct term_callbacks tcb = {
	        .on_line = on_line, .on_eof = on_eof, .on_interrupt = on_eof, .user = c};
	sotto_err rc;

	if ((rc = show_init(&c->sh, c->s.agent, c->utf8)) != SOTTO_OK)
		return cli_fail(rc, "cannot set up");
	c->has_show = true;
	if ((rc = term_new(&c->s.loop, STDIN_FILENO, STDOUT_FILENO, &tcfg, &tcb, &c->t)) !=
	    SOTTO_OK)
		return cli_fail(rc, "cannot use the terminal");
	/* Signals installed after term_new replace its guard: quit() restores the terminal. */
	if (uv_signal_init(&c->s.loop, &c->sig_term) != 0 ||
	    uv_signal_init(&c->s.loop, &c->sig_hup) != 0 ||
	    uv_signal_init(&c->s.loop, &c->sig_int) != 0)
		return cli_fail(SOTTO_ERR_INTERNAL, "cannot watch signals");
	c->has_signals = true;
	c->sig_term.data = c->sig_hup.data = c->sig_int.data = c;
	(void)uv_signal_start(&c->sig_term, on_signal, SIGTERM);
	(void)uv_signal_start(&c->sig_hup, on_signal, SIGHUP);
	(void)uv_signal_start(&c->sig_int, on_signal, SIGINT);
	c->s.on_log = on_log;
	c->s.log_user = c;
	session_set_handler(&c->s, on_event, c);
	return CLI_EXIT_OK;
}

int chat_main(struct cli_opts *g)
{
	struct chat c;
	int code;

	memset(&c, 0, sizeof(c));
	c.utf8 = qr_locale_is_utf8();
	uint64_t timeout_ms = session_timeout_ms(g, CLI_TIMEOUT_S_DEFAULT);
	if ((code = session_open(&c.s, g, (uint32_t)timeout_ms)) == CLI_EXIT_OK &&
	    (code = start(&c)) == CLI_EXIT_OK) {
		banner(&c, g);
		(void)session_run(&c.s, 0);
	}
	c.s.on_log = NULL;
	session_set_handler(&c.s, NULL, NULL);
	term_free(c.t);
	c.t = NULL;
	if (c.has_signals) {
		uv_close((uv_handle_t *)&c.sig_term, NULL);
		uv_close((uv_handle_t *)&c.sig_hup, NULL);
		uv_close((uv_handle_t *)&c.sig_int, NULL);
	}
	session_close(&c.s);
	if (c.has_show)
		show_clear(&c.sh);
	return code;
}
