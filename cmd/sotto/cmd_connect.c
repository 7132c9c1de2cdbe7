/* SPDX-License-Identifier: MIT */
/*
 * cmd_connect.c - "sotto connect LINK": joins someone's invitation.
 */
#include <stdio.h>
#include <string.h>

#include "client/envelope.h"
#include "command.h"

struct join {
	struct cmd_run *r;
	bool is_done;
	sotto_err err;
};

static void on_done(void *user, sotto_err err, int64_t contact_id, const char *link)
{
	struct join *j = user;

	(void)contact_id;
	(void)link;
	j->is_done = true;
	j->err = err;
	j->r->s.is_done = true;
}

static bool is_link_error(sotto_err rc)
{
	return rc == SOTTO_ERR_INVALID || rc == SOTTO_ERR_ENCODING || rc == SOTTO_ERR_VERSION ||
	       rc == SOTTO_ERR_TRUNCATED || rc == SOTTO_ERR_TRAILING || rc == SOTTO_ERR_TOO_LARGE ||
	       rc == SOTTO_ERR_ADDR_HOST || rc == SOTTO_ERR_ADDR_PORT || rc == SOTTO_ERR_ADDR_KEY;
}

static int join(struct cmd_run *r, const struct cli_opts *g, const char *link, const char *name)
{
	struct join j;
	int64_t id = 0;
	uint64_t timeout = session_timeout_ms(g, CLI_TIMEOUT_S_DEFAULT);
	sotto_err rc;

	memset(&j, 0, sizeof(j));
	j.r = r;
	rc = client_agent_connect(r->s.agent, link, strlen(link), on_done, &j, &id);
	if (is_link_error(rc)) {
		cli_warn("not a sotto invitation link: %s", sotto_strerror(rc));
		return CLI_EXIT_USAGE;
	}
	if (rc == SOTTO_ERR_USED) {
		cli_warn("this invitation was used here already (one of your contacts, or your "
		         "own)");
		return CLI_EXIT_FAIL;
	}
	if (rc != SOTTO_OK)
		return cmd_agent_fail(&r->s, rc, "cannot connect");
	if (name != NULL &&
	    (rc = client_agent_contact_rename(r->s.agent, id, name, strlen(name))) != SOTTO_OK)
		cli_warn("cannot name the contact \"%s\": %s", name, sotto_strerror(rc));
	(void)session_run(&r->s, timeout + 5000);
	if (!j.is_done || j.err == SOTTO_ERR_TIMEOUT) {
		cli_warn("timed out waiting for the relay; the join #%lld is kept and goes on the "
		         "next time sotto runs",
		         (long long)id);
		return CLI_EXIT_TIMEOUT;
	}
	if (j.err != SOTTO_OK)
		return cmd_agent_fail(&r->s, j.err, "the relay refused the join");
	/* The handshake waits in the outbox: see it leave before ending. */
	if (!cmd_flush(&r->s, id, timeout)) {
		cli_warn("timed out sending the handshake to the inviter's relay; it is sent the "
		         "next time sotto runs");
		return CLI_EXIT_TIMEOUT;
	}
	printf("joined #%lld: waiting for the inviter's sotto to answer (sotto receive shows "
	       "\"connected\")\n",
	       (long long)id);
	return CLI_EXIT_OK;
}

static int run_connect(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *name = NULL, *pos[1];
	size_t n_pos;
	struct cmd_run r;
	int code;
	const struct cmd_opt opts[] = {{.name = "name", .value = &name}};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 1, 1,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if (name != NULL && !client_name_is_valid((const uint8_t *)name, strlen(name)))
		return cmd_usage(self, "bad name: 1 to %d bytes of text, no control characters",
		                 CLIENT_NAME_MAX);
	uint64_t timeout_ms = session_timeout_ms(g, CLI_TIMEOUT_S_DEFAULT);
	if ((code = cmd_open(&r, g, (uint32_t)timeout_ms)) == CLI_EXIT_OK)
		code = join(&r, g, pos[0], name);
	cmd_close(&r);
	return code;
}

const struct command CMD_CONNECT = {
        .name = "connect",
        .usage = "LINK [--name NAME]",
        .summary = "join someone's invitation link",
        .details = "Joins the invitation: makes your own queue on one of your relays and\n"
                   "sends the handshake to the inviter's queue. The contact is connected\n"
                   "once the inviter's sotto has answered; \"sotto receive\" (or the chat)\n"
                   "shows \"connected: NAME\".\n\n"
                   "options:\n"
                   "  --name NAME   your local name for the contact (only you see it)\n",
        .run = run_connect,
};
