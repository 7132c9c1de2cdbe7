/* SPDX-License-Identifier: MIT */
/*
 * cmd_rename.c - "sotto rename NAME NEWNAME": a local name for a contact.
 */
#include <stdio.h>
#include <string.h>

#include "client/envelope.h"
#include "command.h"

static int run_rename(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *pos[2];
	size_t n_pos;
	struct cmd_run r;
	struct client_agent_contact c;
	int code;
	sotto_err rc;

	if ((code = cmd_parse(self, g, argc, argv, NULL, 0, pos, 2, 2, &n_pos)) != CLI_EXIT_OK)
		return code;
	size_t len = strlen(pos[1]);
	if (len > 0 && !client_name_is_valid((const uint8_t *)pos[1], len))
		return cmd_usage(self, "bad name: 1 to %d bytes of text, no control characters",
		                 CLIENT_NAME_MAX);
	if ((code = cmd_open(&r, g, 0)) != CLI_EXIT_OK ||
	    (code = cmd_find_contact(&r.s, pos[0], &c)) != CLI_EXIT_OK)
		goto out;
	if ((rc = client_agent_contact_rename(r.s.agent, c.id, pos[1], len)) != SOTTO_OK) {
		code = cli_fail(rc, "cannot rename %s", pos[0]);
		goto out;
	}
	if (len == 0)
		printf("#%lld has no local name any more\n", (long long)c.id);
	else
		printf("renamed %s to %s\n", pos[0], pos[1]);
out:
	cmd_close(&r);
	return code;
}

const struct command CMD_RENAME = {
        .name = "rename",
        .usage = "NAME NEWNAME",
        .summary = "give a contact a local name",
        .details = "Sets the name you see for a contact. It stays on this device: the\n"
                   "contact never learns it. An empty NEWNAME (\"\") goes back to the\n"
                   "display name the contact chose.\n",
        .run = run_rename,
};
