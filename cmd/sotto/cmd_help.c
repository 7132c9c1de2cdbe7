/* SPDX-License-Identifier: MIT */
/*
 * cmd_help.c - "sotto help COMMAND": a command's usage and options, from
 * the command table.
 */
#include <stdio.h>

#include "command.h"

static int run_help(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	(void)g;
	if (argc != 2)
		return cmd_usage(self, "expected one command name");
	const struct command *c = cmd_find(argv[1]);
	if (c == NULL)
		return cmd_usage(self, "unknown command \"%s\"", argv[1]);
	cmd_print_help(c, stdout);
	return CLI_EXIT_OK;
}

const struct command CMD_HELP = {
        .name = "help",
        .usage = "COMMAND",
        .summary = "describe a command and its options",
        .details = "Prints COMMAND's usage and options. \"sotto --help\" lists the commands.\n",
        .run = run_help,
};
