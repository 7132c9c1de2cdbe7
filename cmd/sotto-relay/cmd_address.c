/* SPDX-License-Identifier: MIT */
/*
 * cmd_address.c - "sotto-relay address": prints the relay address again.
 */
#include <stdio.h>

#include "command.h"

static int run_address(const struct command *self, int argc, char **argv)
{
	char dir[RELAY_DAEMON_PATH_MAX], addr[NET_ADDR_TEXT_MAX + 1];
	const char *dir_opt = NULL, *config_opt = NULL;
	struct relay_config cfg;
	struct x25519_keypair kp;
	int code;

	for (int i = 1; i < argc; i++) {
		enum cmd_opt o;
		if ((o = cmd_opt(argc, argv, &i, "dir", &dir_opt)) == CMD_OPT_NO &&
		    (o = cmd_opt(argc, argv, &i, "config", &config_opt)) == CMD_OPT_NO)
			return cmd_usage(self, "unknown argument \"%s\"", argv[i]);
		if (o == CMD_OPT_MISSING)
			return cmd_usage(self, "option \"%s\" needs a value", argv[i]);
	}
	if ((code = cmd_data_dir(dir_opt, dir, sizeof(dir))) != CMD_EXIT_OK ||
	    (code = cmd_load_config(dir, config_opt, &cfg)) != CMD_EXIT_OK)
		return code;
	sotto_err rc = relay_daemon_key_load(dir, &kp);
	if (rc != SOTTO_OK)
		return cmd_fail(rc, "%s: cannot load the key", dir);
	rc = relay_daemon_address(&cfg, kp.pub, addr, sizeof(addr));
	x25519_keypair_clear(&kp);
	if (rc != SOTTO_OK)
		return cmd_fail(rc, "cannot form the relay address (set public_host and a port)");
	printf("%s\n", addr);
	return CMD_EXIT_OK;
}

const struct command CMD_ADDRESS = {
        .name = "address",
        .usage = "[--dir DIR] [--config FILE]",
        .summary = "print the relay address again",
        .details = "Prints sotto://<key>@<host>:<port> from the key in DIR and the\n"
                   "configuration (public_host, else listen; port).\n\n"
                   "options:\n"
                   "  --dir DIR        data directory (default as for init)\n"
                   "  --config FILE    configuration file (default DIR/config)\n",
        .run = run_address,
};
