/* SPDX-License-Identifier: MIT */
/*
 * cmd_delete.c - "sotto delete NAME": ends a contact.
 */
#include <stdio.h>

#include "command.h"

enum { DELETE_TIMEOUT_S_DEFAULT = 10 };

static int delete_contact(struct cmd_run *r, const struct cli_opts *g, const char *name, bool purge)
{
	struct client_agent_contact c;
	int code;
	sotto_err rc;

	if ((code = cmd_find_contact(&r->s, name, &c)) != CLI_EXIT_OK)
		return code;
	rc = client_agent_contact_delete(r->s.agent, c.id, purge);
	if (rc == SOTTO_ERR_STATE) {
		cli_warn("%s is deleted already (--purge also removes its history)", name);
		return CLI_EXIT_FAIL;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot delete %s", name);
	printf("deleted %s%s\n", name, purge ? " and its history" : "");
	/*
	 * Our queue is deleted on its relay and the contact told (LEAVE, when
	 * a session exists): wait a little for both, so that the contact
	 * learns it now rather than the next time sotto runs. A purged contact
	 * is removed once that is done (at once for one deleted before).
	 */
	if (!cmd_flush(&r->s, c.id, session_timeout_ms(g, DELETE_TIMEOUT_S_DEFAULT)))
		cli_warn("the relay did not answer yet: the rest (deleting the queue, telling "
		         "the contact) happens the next time sotto runs");
	return CLI_EXIT_OK;
}

static int run_delete(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *pos[1];
	bool purge = false;
	size_t n_pos;
	struct cmd_run r;
	int code;
	const struct cmd_opt opts[] = {{.name = "purge", .flag = &purge}};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 1, 1,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if ((code = cmd_open(&r, g, 0)) == CLI_EXIT_OK)
		code = delete_contact(&r, g, pos[0], purge);
	cmd_close(&r);
	return code;
}

const struct command CMD_DELETE = {
        .name = "delete",
        .usage = "NAME [--purge]",
        .summary = "delete a contact",
        .details = "Deletes the contact: its keys are erased at once, messages still\n"
                   "waiting fail, the contact is told (its sotto shows that you left), and\n"
                   "your queue is deleted on its relay. The history stays readable\n"
                   "(sotto chat NAME, sotto contacts --all) unless --purge.\n\n"
                   "options:\n"
                   "  --purge   also remove the history (for a deleted contact: remove it)\n",
        .run = run_delete,
};
