/* SPDX-License-Identifier: MIT */
/*
 * cmd_relay.c - "sotto relay add|list|remove": the relays new invitations
 * and joins use.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "fmt.h"

static void on_relay(void *user, const char *addr)
{
	size_t *n = user;

	printf("%s\n", addr);
	(*n)++;
}

static bool is_address_error(sotto_err rc)
{
	return rc == SOTTO_ERR_ADDR_SCHEME || rc == SOTTO_ERR_ADDR_KEY ||
	       rc == SOTTO_ERR_ADDR_HOST || rc == SOTTO_ERR_ADDR_PORT || rc == SOTTO_ERR_TOO_LARGE;
}

static int relay_do(const char *verb, const char *addr, struct cmd_run *r)
{
	char host[FMT_RELAY_SHORT_MAX];
	size_t n = 0;
	sotto_err rc;

	if (strcmp(verb, "list") == 0) {
		if ((rc = client_agent_relay_list(r->s.agent, on_relay, &n)) != SOTTO_OK)
			return cli_fail(rc, "cannot list the relays");
		if (n == 0 && isatty(STDOUT_FILENO))
			cli_warn("no relay configured: add one with: sotto relay add ADDRESS");
		return CLI_EXIT_OK;
	}
	bool is_add = strcmp(verb, "add") == 0;
	rc = is_add ? client_agent_relay_add(r->s.agent, addr, strlen(addr))
	            : client_agent_relay_remove(r->s.agent, addr, strlen(addr));
	if (is_address_error(rc)) {
		cli_warn("bad relay address \"%s\": %s (it looks like sotto://KEY@host:port)", addr,
		         sotto_strerror(rc));
		return CLI_EXIT_USAGE;
	}
	if (rc == SOTTO_ERR_USED) {
		cli_warn("relay %s is already configured", addr);
		return CLI_EXIT_FAIL;
	}
	if (rc == SOTTO_ERR_NOT_FOUND) {
		cli_warn("relay %s is not configured (see: sotto relay list)", addr);
		return CLI_EXIT_FAIL;
	}
	if (rc == SOTTO_ERR_BUSY) {
		cli_warn("already %d relays configured: remove one first", CLIENT_AGENT_RELAYS_MAX);
		return CLI_EXIT_FAIL;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot %s relay %s", verb, addr);
	show_relay_name(addr, host, sizeof(host));
	printf("%s relay %s\n", is_add ? "added" : "removed", host);
	return CLI_EXIT_OK;
}

static int run_relay(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *pos[2];
	size_t n_pos;
	struct cmd_run r;
	int code;

	if ((code = cmd_parse(self, g, argc, argv, NULL, 0, pos, 1, 2, &n_pos)) != CLI_EXIT_OK)
		return code;
	bool is_list = strcmp(pos[0], "list") == 0;
	if (!is_list && strcmp(pos[0], "add") != 0 && strcmp(pos[0], "remove") != 0)
		return cmd_usage(self, "unknown relay command \"%s\"", pos[0]);
	if (is_list && n_pos != 1)
		return cmd_usage(self, "relay list takes no address");
	if (!is_list && n_pos != 2)
		return cmd_usage(self, "relay %s needs an address", pos[0]);
	if ((code = cmd_open(&r, g, 0)) == CLI_EXIT_OK)
		code = relay_do(pos[0], n_pos == 2 ? pos[1] : "", &r);
	cmd_close(&r);
	return code;
}

const struct command CMD_RELAY = {
        .name = "relay",
        .usage = "add ADDRESS | list | remove ADDRESS",
        .summary = "choose the relays your invitations use",
        .details = "A relay address looks like sotto://KEY@host:port (sotto-relay init\n"
                   "prints it; the key pins the relay, so no one can pose as it). New\n"
                   "invitations and joins pick one of the configured relays at random.\n"
                   "Removing a relay does not touch contacts already using it.\n\n"
                   "  add ADDRESS      add a relay\n"
                   "  list             print the configured relays, one per line\n"
                   "  remove ADDRESS   stop using a relay for new contacts\n",
        .run = run_relay,
};
