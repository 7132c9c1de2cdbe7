/* SPDX-License-Identifier: MIT */
/*
 * cmd_invite.c - "sotto invite": a one-time invitation link (and its QR
 * code) for one new contact.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client/envelope.h"
#include "command.h"
#include "fmt.h"

struct invite {
	struct cmd_run *r;
	bool is_done;
	sotto_err err;
	int64_t contact_id;
	char link[CLIENT_LINK_TEXT_MAX + 1];
};

static void on_done(void *user, sotto_err err, int64_t contact_id, const char *link)
{
	struct invite *inv = user;

	inv->is_done = true;
	inv->err = err;
	inv->contact_id = contact_id;
	if (err == SOTTO_OK && link != NULL)
		snprintf(inv->link, sizeof(inv->link), "%s", link);
	inv->r->s.is_done = true;
}

static void print_link(const char *link, bool qr)
{
	bool is_tty = isatty(STDOUT_FILENO) == 1;

	printf("%s\n", link);
	if (qr || is_tty)
		cmd_print_qr(link);
	if (is_tty)
		printf("Give this link to one person; it works once. They run: sotto connect LINK\n"
		       "Then \"sotto receive\" (or the chat, sotto) completes the contact.\n");
}

/* --show CONTACT: the link of an invitation made earlier. */
static int show_link(struct cmd_run *r, const char *name, bool qr)
{
	struct client_agent_contact c;
	char link[CLIENT_LINK_TEXT_MAX + 1];
	int code;

	if ((code = cmd_find_contact(&r->s, name, &c)) != CLI_EXIT_OK)
		return code;
	sotto_err rc = client_agent_contact_link(r->s.agent, c.id, link, sizeof(link));
	if (rc == SOTTO_ERR_STATE) {
		cli_warn("%s has no invitation link to show (state: %s)", name,
		         c.state == CLIENT_AGENT_INVITING ? "waiting for the relay"
		                                          : fmt_state_name(c.state));
		return CLI_EXIT_FAIL;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot read the link of %s", name);
	print_link(link, qr);
	return CLI_EXIT_OK;
}

static int invite(struct cmd_run *r, const struct cli_opts *g, const char *name, bool qr)
{
	struct invite inv;
	uint64_t timeout = session_timeout_ms(g, CLI_TIMEOUT_S_DEFAULT);
	sotto_err rc;

	memset(&inv, 0, sizeof(inv));
	inv.r = r;
	if ((rc = client_agent_invite(r->s.agent, on_done, &inv, &inv.contact_id)) != SOTTO_OK)
		return cmd_agent_fail(&r->s, rc, "cannot invite");
	if (name != NULL && (rc = client_agent_contact_rename(r->s.agent, inv.contact_id, name,
	                                                      strlen(name))) != SOTTO_OK)
		cli_warn("cannot name the invitation \"%s\": %s", name, sotto_strerror(rc));
	/* The agent reports SOTTO_ERR_TIMEOUT itself after the same time. */
	(void)session_run(&r->s, timeout + 5000);
	if (!inv.is_done || inv.err == SOTTO_ERR_TIMEOUT) {
		cli_warn(
		        "timed out waiting for the relay; the invitation #%lld is kept, and "
		        "\"sotto invite --show #%lld\" prints its link once the relay has answered",
		        (long long)inv.contact_id, (long long)inv.contact_id);
		return CLI_EXIT_TIMEOUT;
	}
	if (inv.err != SOTTO_OK)
		return cmd_agent_fail(&r->s, inv.err, "the relay refused the invitation");
	print_link(inv.link, qr);
	return CLI_EXIT_OK;
}

static int run_invite(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *name = NULL, *show = NULL, *pos[1];
	bool qr = false;
	size_t n_pos;
	struct cmd_run r;
	int code;
	const struct cmd_opt opts[] = {
	        {.name = "qr", .flag = &qr},
	        {.name = "name", .value = &name},
	        {.name = "show", .value = &show},
	};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 0, 0,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if (name != NULL && !client_name_is_valid((const uint8_t *)name, strlen(name)))
		return cmd_usage(self, "bad name: 1 to %d bytes of text, no control characters",
		                 CLIENT_NAME_MAX);
	uint64_t timeout_ms = session_timeout_ms(g, CLI_TIMEOUT_S_DEFAULT);
	if ((code = cmd_open(&r, g, (uint32_t)timeout_ms)) == CLI_EXIT_OK)
		code = show != NULL ? show_link(&r, show, qr) : invite(&r, g, name, qr);
	cmd_close(&r);
	return code;
}

const struct command CMD_INVITE = {
        .name = "invite",
        .usage = "[--qr] [--name NAME] [--show CONTACT]",
        .summary = "make a one-time invitation link",
        .details = "Makes a queue on one of your relays and prints the sotto: link that\n"
                   "lets one person connect to you (and its QR code with --qr, or when\n"
                   "stdout is a terminal). The link works once. The contact completes when\n"
                   "the other side has run \"sotto connect LINK\" and your sotto next runs\n"
                   "(\"sotto receive\", or the chat).\n\n"
                   "options:\n"
                   "  --qr             also draw the link as a QR code\n"
                   "  --name NAME      the local name of the contact-to-be\n"
                   "  --show CONTACT   print the link of an invitation made earlier\n",
        .run = run_invite,
};
