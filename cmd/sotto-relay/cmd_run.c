/* SPDX-License-Identifier: MIT */
/*
 * cmd_run.c - "sotto-relay run": serves in the foreground until SIGTERM or
 * SIGINT. The whole run (privilege checks, bind, switch of user, drain) is
 * relay_daemon_run; this file only gathers the configuration.
 */
#include <stdio.h>
#include <string.h>

#include "command.h"

struct run_args {
	const char *dir;
	const char *config;
	bool allow_root;
};

/*
 * One pass over the arguments: --dir, --config and --allow-root go to a,
 * configuration flags (--listen included) to cfg. Run twice: first on the defaults
 * (to find the files and reject a bad command line early), then on the
 * loaded configuration, so flags override the file.
 */
static int parse_args(const struct command *self, int argc, char **argv, struct run_args *a,
                      struct relay_config *cfg)
{
	for (int i = 1; i < argc; i++) {
		enum cmd_opt o;
		int code;
		if ((o = cmd_opt(argc, argv, &i, "dir", &a->dir)) != CMD_OPT_NO ||
		    (o = cmd_opt(argc, argv, &i, "config", &a->config)) != CMD_OPT_NO) {
			if (o == CMD_OPT_MISSING)
				return cmd_usage(self, "option \"%s\" needs a value", argv[i]);
		} else if (cmd_opt(argc, argv, &i, "allow-root", NULL) == CMD_OPT_YES) {
			a->allow_root = true;
		} else if ((code = cmd_config_flag(self, cfg, argc, argv, &i)) != CMD_EXIT_OK) {
			return code;
		}
	}
	return CMD_EXIT_OK;
}

static int run_run(const struct command *self, int argc, char **argv)
{
	char dir[RELAY_DAEMON_PATH_MAX];
	struct run_args a = {NULL, NULL, false};
	struct relay_config cfg;
	const char *what = NULL;
	int code;

	relay_config_defaults(&cfg);
	if ((code = parse_args(self, argc, argv, &a, &cfg)) != CMD_EXIT_OK ||
	    (code = cmd_data_dir(a.dir, dir, sizeof(dir))) != CMD_EXIT_OK ||
	    (code = cmd_load_config(dir, a.config, &cfg)) != CMD_EXIT_OK ||
	    (code = parse_args(self, argc, argv, &a, &cfg)) != CMD_EXIT_OK)
		return code;

	sotto_ctx *ctx = cmd_ctx_new();
	if (ctx == NULL)
		return CMD_EXIT_FAIL;
	struct relay_daemon_options o = {.dir = dir, .cfg = &cfg, .allow_root = a.allow_root};
	sotto_err rc = relay_daemon_run(ctx, &o, &what);
	sotto_ctx_free(ctx);
	if (rc != SOTTO_OK)
		return cmd_fail(rc, "%s", what != NULL ? what : "stopped");
	return CMD_EXIT_OK;
}

/* The configuration keys, from the library's own writer: help cannot drift. */
static void print_config_keys(FILE *out)
{
	char text[RELAY_CONFIG_TEXT_MAX];
	struct relay_config cfg;
	size_t len = 0;

	relay_config_defaults(&cfg);
	if (relay_config_format(&cfg, text, sizeof(text), &len) != SOTTO_OK)
		return;
	fprintf(out,
	        "\nconfiguration keys, with their defaults (DIR/config holds these lines):\n%s",
	        text);
}

const struct command CMD_RUN = {
        .name = "run",
        .usage = "[--dir DIR] [--config FILE] [--listen HOST:PORT] [--user USER]\n"
                 "                       [--allow-root] [--KEY VALUE ...]",
        .summary = "serve in the foreground until SIGTERM or SIGINT",
        .details = "Loads DIR/config (or FILE), applies the flags over it, binds, and, when\n"
                   "started as root, switches to the configured user before reading any\n"
                   "client byte. Logs aggregate counters on stderr (never an address, key or\n"
                   "queue). SIGTERM or SIGINT drains the connections and exits 0; the\n"
                   "counters go to DIR/stats every stats_interval_s seconds (\"sotto-relay\n"
                   "stats\" prints them).\n\n"
                   "options:\n"
                   "  --dir DIR             data directory (default as for init)\n"
                   "  --config FILE         configuration file (default DIR/config)\n"
                   "  --listen HOST:PORT    numeric address and port ([::1]:5223 for IPv6);\n"
                   "                        port 0 picks a free port (see stats)\n"
                   "  --user USER           user to switch to when started as root\n"
                   "  --allow-root          run as root when no user is configured\n"
                   "  --KEY VALUE           any configuration key below, '_' written '-'\n",
        .print_extra = print_config_keys,
        .run = run_run,
};
