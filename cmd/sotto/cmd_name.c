/* SPDX-License-Identifier: MIT */
/*
 * cmd_name.c - "sotto name [NEWNAME]": the display name contacts see.
 */
#include <stdio.h>
#include <string.h>

#include "client/envelope.h"
#include "command.h"

enum { NAME_TIMEOUT_S_DEFAULT = 10 };

static size_t count_connected(const struct names_list *l)
{
	size_t n = 0;

	for (size_t i = 0; i < l->n; i++)
		n += l->items[i].state == CLIENT_AGENT_CONNECTED;
	return n;
}

static int set_name(struct cmd_run *r, const struct cli_opts *g, const char *name)
{
	struct names_list l;
	sotto_err rc;

	if ((rc = names_list_load(r->s.agent, &l)) != SOTTO_OK) {
		names_list_clear(&l);
		return cli_fail(rc, "cannot read the contacts");
	}
	size_t n = count_connected(&l);
	names_list_clear(&l);
	if ((rc = client_agent_set_name(r->s.agent, name, strlen(name))) != SOTTO_OK)
		return cli_fail(rc, "cannot set the display name");
	printf("your display name is now %s\n", name);
	if (n > 0 && !cmd_flush(&r->s, 0, session_timeout_ms(g, NAME_TIMEOUT_S_DEFAULT)))
		cli_warn("not every contact's relay answered yet: they learn the new name the "
		         "next time sotto runs");
	return CLI_EXIT_OK;
}

static int run_name(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *pos[1];
	char name[CLIENT_NAME_MAX + 1];
	size_t n_pos;
	struct cmd_run r;
	int code;
	sotto_err rc;

	if ((code = cmd_parse(self, g, argc, argv, NULL, 0, pos, 0, 1, &n_pos)) != CLI_EXIT_OK)
		return code;
	if (n_pos == 1 && !client_name_is_valid((const uint8_t *)pos[0], strlen(pos[0])))
		return cmd_usage(self, "bad name: 1 to %d bytes of text, no control characters",
		                 CLIENT_NAME_MAX);
	if ((code = cmd_open(&r, g, 0)) != CLI_EXIT_OK)
		goto out;
	if (n_pos == 1) {
		code = set_name(&r, g, pos[0]);
		goto out;
	}
	rc = client_agent_get_name(r.s.agent, name, sizeof(name));
	if (rc == SOTTO_ERR_NOT_FOUND)
		printf("%s\n", CLIENT_AGENT_DEFAULT_NAME);
	else if (rc == SOTTO_OK)
		printf("%s\n", name);
	else
		code = cli_fail(rc, "cannot read the display name");
out:
	cmd_close(&r);
	return code;
}

const struct command CMD_NAME = {
        .name = "name",
        .usage = "[NEWNAME]",
        .summary = "show or change your display name",
        .details = "Without NEWNAME, prints the display name your contacts see. With it,\n"
                   "changes the name and sends it to every connected contact.\n",
        .run = run_name,
};
