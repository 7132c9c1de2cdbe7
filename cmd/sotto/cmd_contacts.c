/* SPDX-License-Identifier: MIT */
/*
 * cmd_contacts.c - "sotto contacts": every contact with its ID, state and
 * name.
 */
#include <stdio.h>
#include <string.h>

#include "command.h"
#include "fmt.h"

static void print_contact(const struct client_agent_contact *c)
{
	const char *name = c->name;

	if (name[0] == '\0')
		name = c->state == CLIENT_AGENT_INVITING ? "(invitation not used yet)"
		                                         : "(no name yet)";
	printf("#%-4lld %-10s %s", (long long)c->id, fmt_state_name(c->state), name);
	if (c->has_local_name && c->peer_name[0] != '\0' && strcmp(c->peer_name, c->name) != 0)
		printf("  (calls themselves %s)", c->peer_name);
	printf("\n");
}

static int run_contacts(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *pos[1];
	size_t n_pos;
	bool all = false;
	struct cmd_run r;
	struct names_list l;
	int code;
	sotto_err rc;
	const struct cmd_opt opts[] = {{.name = "all", .flag = &all}};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 0, 0,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	memset(&l, 0, sizeof(l));
	if ((code = cmd_open(&r, g, 0)) != CLI_EXIT_OK)
		goto out;
	if ((rc = names_list_load(r.s.agent, &l)) != SOTTO_OK) {
		code = cli_fail(rc, "cannot read the contacts");
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		if (all || l.items[i].state != CLIENT_AGENT_DELETED)
			print_contact(&l.items[i]);
	}
out:
	names_list_clear(&l);
	cmd_close(&r);
	return code;
}

const struct command CMD_CONTACTS = {
        .name = "contacts",
        .usage = "[--all]",
        .summary = "list your contacts",
        .details = "Prints one contact per line: #ID, state (inviting, joining, connected,\n"
                   "deleted) and name: the local name you gave it, else the display name\n"
                   "the contact chose. Commands take a NAME, or #ID when names clash.\n\n"
                   "options:\n"
                   "  --all   also list deleted contacts (their history stays readable)\n",
        .run = run_contacts,
};
