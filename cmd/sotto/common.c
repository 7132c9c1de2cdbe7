/* SPDX-License-Identifier: MIT */
/*
 * common.c - argument parsing and printing shared by the sotto program's
 * commands (cmd/sotto); see command.h. Nothing here decides what the
 * client does.
 */
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "fmt.h"
#include "qr.h"

void cmd_print_global_options(FILE *out)
{
	fprintf(out, "\nglobal options (anywhere on the line):\n"
	             "  --profile NAME      the profile to use (default \"default\")\n"
	             "  --home DIR          keep profiles in DIR/NAME instead of\n"
	             "                      $XDG_DATA_HOME/sotto/profiles or\n"
	             "                      ~/.local/share/sotto/profiles\n"
	             "  --passphrase-fd N   read the passphrase from descriptor N (one line);\n"
	             "                      else SOTTO_PASSPHRASE, else the terminal asks\n"
	             "  --timeout S         give up waiting for the network after S seconds\n");
}

void cmd_print_help(const struct command *c, FILE *out)
{
	fprintf(out, "usage: sotto %s %s\n\n%s.\n\n%s", c->name, c->usage, c->summary, c->details);
	cmd_print_global_options(out);
}

int cmd_usage(const struct command *c, const char *fmt, ...)
{
	va_list ap;

	fputs("sotto: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: sotto %s %s\n", c->name, c->usage);
	return CLI_EXIT_USAGE;
}

bool cmd_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

bool cmd_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end = NULL;

	if (text[0] < '0' || text[0] > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

enum match {
	MATCH_NO,
	MATCH_YES,
	MATCH_MISSING,
};

/* Matches argv[*i] against "--name", "--name VALUE" or "--name=VALUE". */
static enum match match_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, n) != 0)
		return MATCH_NO;
	if (arg[2 + n] == '=' && value != NULL) {
		*value = arg + 3 + n;
		return MATCH_YES;
	}
	if (arg[2 + n] != '\0')
		return MATCH_NO;
	if (value == NULL)
		return MATCH_YES;
	if (*i + 1 >= argc)
		return MATCH_MISSING;
	*value = argv[++*i];
	return MATCH_YES;
}

enum cmd_global cmd_global_opt(struct cli_opts *g, int argc, char **argv, int *i)
{
	static const char *const NAMES[] = {"profile", "home", "passphrase-fd", "timeout"};
	const char *value = NULL;
	uint32_t n = 0;
	size_t k;
	enum match m = MATCH_NO;

	for (k = 0; k < SOTTO_ARRAY_LEN(NAMES); k++) {
		if ((m = match_opt(argc, argv, i, NAMES[k], &value)) != MATCH_NO)
			break;
	}
	if (m == MATCH_NO)
		return CMD_GLOBAL_NO;
	if (m == MATCH_MISSING || value == NULL) {
		cli_warn("option \"--%s\" needs a value", NAMES[k]);
		return CMD_GLOBAL_ERROR;
	}
	switch (k) {
	case 0: g->profile = value; break;
	case 1:
		if (value[0] == '\0') {
			cli_warn("--home needs a directory");
			return CMD_GLOBAL_ERROR;
		}
		g->home = value;
		break;
	case 2:
		if (!cmd_parse_u32(value, 0, INT32_MAX, &n)) {
			cli_warn("--passphrase-fd needs a descriptor number, not \"%s\"", value);
			return CMD_GLOBAL_ERROR;
		}
		g->passphrase_fd = (int)n;
		break;
	default:
		if (!cmd_parse_u32(value, 1, CLI_TIMEOUT_S_MAX, &n)) {
			cli_warn("--timeout needs seconds (1..%d), not \"%s\"", CLI_TIMEOUT_S_MAX,
			         value);
			return CMD_GLOBAL_ERROR;
		}
		g->has_timeout = true;
		g->timeout_s = n;
		break;
	}
	return CMD_GLOBAL_YES;
}

/* Applies argv[*i] if it is one of opts: CLI_EXIT_OK, CLI_EXIT_USAGE, or -1 (not one). */
static int apply_opt(const struct command *c, int argc, char **argv, int *i,
                     const struct cmd_opt *opts, size_t n_opts)
{
	for (size_t k = 0; k < n_opts; k++) {
		const char *value = NULL;
		enum match m = match_opt(argc, argv, i, opts[k].name,
		                         opts[k].value != NULL ? &value : NULL);
		if (m == MATCH_NO)
			continue;
		if (m == MATCH_MISSING)
			return cmd_usage(c, "option \"--%s\" needs a value", opts[k].name);
		if (opts[k].value != NULL)
			*opts[k].value = value;
		if (opts[k].flag != NULL)
			*opts[k].flag = true;
		return CLI_EXIT_OK;
	}
	return -1;
}

int cmd_parse(const struct command *c, struct cli_opts *g, int argc, char **argv,
              const struct cmd_opt *opts, size_t n_opts, const char **pos, size_t min_pos,
              size_t max_pos, size_t *n_pos)
{
	bool is_options = true;

	*n_pos = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (is_options && strcmp(arg, "--") == 0) {
			is_options = false;
			continue;
		}
		if (is_options && arg[0] == '-' && arg[1] != '\0') {
			enum cmd_global gl = cmd_global_opt(g, argc, argv, &i);
			if (gl == CMD_GLOBAL_ERROR)
				return CLI_EXIT_USAGE;
			if (gl == CMD_GLOBAL_YES)
				continue;
			int code = apply_opt(c, argc, argv, &i, opts, n_opts);
			if (code == -1)
				return cmd_usage(c, "unknown option \"%s\"", arg);
			if (code != CLI_EXIT_OK)
				return code;
			continue;
		}
		if (*n_pos == max_pos)
			return cmd_usage(c, "unexpected argument \"%s\"", arg);
		pos[(*n_pos)++] = arg;
	}
	if (*n_pos < min_pos)
		return cmd_usage(c, "missing argument");
	return CLI_EXIT_OK;
}

bool cmd_utf8(void)
{
	return qr_locale_is_utf8();
}

int cmd_find_contact(struct session *s, const char *name, struct client_agent_contact *out)
{
	struct names_list l;
	struct names_match m;
	char why[1024];
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = names_list_load(s->agent, &l)) != SOTTO_OK) {
		names_list_clear(&l);
		return cli_fail(rc, "cannot read the contacts");
	}
	names_match(&l, name, strlen(name), &m);
	if (m.outcome != NAMES_FOUND) {
		names_describe(&l, name, strlen(name), &m, why, sizeof(why));
		names_list_clear(&l);
		cli_warn("%s", why);
		return CLI_EXIT_CONTACT;
	}
	*out = l.items[m.idx[0]];
	names_list_clear(&l);
	return CLI_EXIT_OK;
}

int cmd_agent_fail(const struct session *s, sotto_err rc, const char *what)
{
	if (rc == SOTTO_ERR_NOT_FOUND) {
		cli_warn("%s: no relay configured: add one with: sotto relay add ADDRESS", what);
		return CLI_EXIT_NO_RELAY;
	}
	if (rc == SOTTO_ERR_TIMEOUT) {
		cli_warn("%s: timed out waiting for the relay", what);
		return CLI_EXIT_TIMEOUT;
	}
	(void)s;
	return cli_fail(rc, "%s", what);
}

struct flush_goal {
	struct session *s;
	int64_t contact_id; /* 0: every contact */
};

static bool is_flushed(void *user)
{
	struct flush_goal *f = user;
	size_t n_outbox = 1, n_dels = 1;

	/* An error (a contact gone meanwhile) counts as done: nothing is left to wait for. */
	return client_agent_pending(f->s->agent, f->contact_id, &n_outbox, &n_dels) != SOTTO_OK ||
	       (n_outbox == 0 && n_dels == 0);
}

bool cmd_flush(struct session *s, int64_t contact_id, uint64_t timeout_ms)
{
	struct flush_goal f = {.s = s, .contact_id = contact_id};

	return session_run_until(s, is_flushed, &f, timeout_ms);
}

void cmd_note_event(struct show *sh, const struct client_agent_event *ev)
{
	const char *line;

	if (ev->kind != CLIENT_AGENT_EV_RELAY_UP && ev->kind != CLIENT_AGENT_EV_RELAY_DOWN &&
	    ev->kind != CLIENT_AGENT_EV_ERROR)
		return;
	if ((line = show_event(sh, ev)) != NULL)
		cli_warn("%s", line);
}

static void on_note_event(void *user, const struct client_agent_event *ev)
{
	struct cmd_run *r = user;
	cmd_note_event(&r->sh, ev);
}

int cmd_open(struct cmd_run *r, struct cli_opts *g, uint32_t op_timeout_ms)
{
	int code;
	sotto_err rc;

	r->has_show = false;
	if ((code = session_open(&r->s, g, op_timeout_ms)) != CLI_EXIT_OK)
		return code;
	if ((rc = show_init(&r->sh, r->s.agent, cmd_utf8())) != SOTTO_OK)
		return cli_fail(rc, "cannot set up");
	r->has_show = true;
	session_set_handler(&r->s, on_note_event, r);
	return CLI_EXIT_OK;
}

void cmd_close(struct cmd_run *r)
{
	session_close(&r->s);
	if (r->has_show)
		show_clear(&r->sh);
	r->has_show = false;
}

void cmd_print_qr(const char *text)
{
	char *drawing = NULL;
	size_t len = 0;
	sotto_err rc = qr_render(text, strlen(text), cmd_utf8() ? QR_STYLE_UTF8 : QR_STYLE_ASCII,
	                         &drawing, &len);

	if (rc != SOTTO_OK) {
		cli_warn("cannot draw the QR code: %s", sotto_strerror(rc));
		return;
	}
	fwrite(drawing, 1, len, stdout);
	free(drawing);
}
