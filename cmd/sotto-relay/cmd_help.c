/* SPDX-License-Identifier: MIT */
/*
 * cmd_help.c - "sotto-relay help COMMAND": a command's usage and options,
 * from the command table.
 */
#include <stdio.h>

#include "command.h"

static int run_help(const struct command *self, int argc, char **argv)
{
	if (argc != 2)
		return cmd_usage(self, "expected one command name");
	const struct command *c = cmd_find(argv[1]);
	if (c == NULL)
		return cmd_usage(self, "unknown command \"%s\"", argv[1]);
	cmd_print_help(c, stdout);
	return CMD_EXIT_OK;
}

const struct command CMD_HELP = {
        .name = "help",
        .usage = "COMMAND",
        .summary = "describe a command and its options",
        .details = "Prints COMMAND's usage and options. \"sotto-relay --help\" lists the\n"
                   "commands.\n",
        .run = run_help,
};
