/* SPDX-License-Identifier: MIT */
/*
 * cmd_init.c - "sotto-relay init": makes a data directory (key, store,
 * configuration) and prints the relay address.
 */
#include <stdio.h>
#include <string.h>

#include "command.h"

static int print_address(const struct relay_config *cfg, const uint8_t pub[X25519_KEY_LEN])
{
	char addr[NET_ADDR_TEXT_MAX + 1];
	sotto_err rc = relay_daemon_address(cfg, pub, addr, sizeof(addr));

	if (rc != SOTTO_OK)
		return cmd_fail(rc, "cannot form the relay address (set --public-host and a port)");
	printf("%s\n", addr);
	return CMD_EXIT_OK;
}

/* --exist-ok on an initialised directory: print the address it already has. */
static int print_existing(const char *dir)
{
	struct relay_config cfg;
	struct x25519_keypair kp;
	int code;

	if ((code = cmd_load_config(dir, NULL, &cfg)) != CMD_EXIT_OK)
		return code;
	sotto_err rc = relay_daemon_key_load(dir, &kp);
	if (rc != SOTTO_OK)
		return cmd_fail(rc, "%s: cannot load the key", dir);
	code = print_address(&cfg, kp.pub);
	x25519_keypair_clear(&kp);
	return code;
}

static int run_init(const struct command *self, int argc, char **argv)
{
	char dir[RELAY_DAEMON_PATH_MAX];
	const char *dir_opt = NULL, *host = NULL;
	bool exist_ok = false;
	struct relay_config cfg;
	uint8_t pub[X25519_KEY_LEN];
	int code;

	relay_config_defaults(&cfg);
	for (int i = 1; i < argc; i++) {
		enum cmd_opt o;
		if ((o = cmd_opt(argc, argv, &i, "dir", &dir_opt)) != CMD_OPT_NO ||
		    (o = cmd_opt(argc, argv, &i, "host", &host)) != CMD_OPT_NO) {
			if (o == CMD_OPT_MISSING)
				return cmd_usage(self, "option \"%s\" needs a value", argv[i]);
			if (host != NULL) {
				struct relay_config_error err;
				sotto_err rc =
				        relay_config_set(&cfg, "listen", host, strlen(host), &err);
				if (rc != SOTTO_OK)
					return cmd_config_fail(CMD_EXIT_USAGE, rc, "--host", &err);
				host = NULL;
			}
		} else if (cmd_opt(argc, argv, &i, "exist-ok", NULL) == CMD_OPT_YES) {
			exist_ok = true;
		} else if ((code = cmd_config_flag(self, &cfg, argc, argv, &i)) != CMD_EXIT_OK) {
			return code;
		}
	}
	if ((code = cmd_data_dir(dir_opt, dir, sizeof(dir))) != CMD_EXIT_OK)
		return code;

	sotto_ctx *ctx = cmd_ctx_new();
	if (ctx == NULL)
		return CMD_EXIT_FAIL;
	sotto_err rc = relay_daemon_init(ctx, dir, &cfg, pub);
	sotto_ctx_free(ctx);
	if (rc == SOTTO_ERR_USED && exist_ok)
		return print_existing(dir);
	if (rc == SOTTO_ERR_USED)
		return cmd_fail(rc, "%s already holds a relay key; it is never replaced", dir);
	if (rc != SOTTO_OK)
		return cmd_fail(rc, "%s: cannot initialise", dir);
	return print_address(&cfg, pub);
}

const struct command CMD_INIT = {
        .name = "init",
        .usage = "[--dir DIR] [--host HOST] [--port PORT] [--listen HOST:PORT]\n"
                 "                        [--public-host NAME] [--user USER] [--exist-ok]\n"
                 "                        [--KEY VALUE ...]",
        .summary = "create a data directory, key and configuration; print the relay address",
        .details = "Creates DIR (mode 0700), the relay's static X25519 key (DIR/key, 0600), the\n"
                   "store and DIR/config, then prints the address clients use:\n"
                   "sotto://<key>@<host>:<port>. An existing key is never replaced.\n\n"
                   "options:\n"
                   "  --dir DIR            data directory (default $XDG_DATA_HOME/sotto-relay or\n"
                   "                       ~/.local/share/sotto-relay)\n"
                   "  --host HOST          numeric address to listen on (config key listen;\n"
                   "                       default 127.0.0.1)\n"
                   "  --port PORT          TCP port (default 5223)\n"
                   "  --listen HOST:PORT   both at once ([::1]:5223 for IPv6)\n"
                   "  --public-host NAME   host name clients dial, when it is not HOST\n"
                   "  --user USER          user the daemon switches to when started as root;\n"
                   "                       init run as root gives DIR to this user\n"
                   "  --exist-ok           if DIR already holds a key, print its address and\n"
                   "                       succeed\n"
                   "  --KEY VALUE          any configuration key, '_' written '-' (e.g.\n"
                   "                       --quota 256, --ttl-days 7); see \"help run\"\n",
        .run = run_init,
};
