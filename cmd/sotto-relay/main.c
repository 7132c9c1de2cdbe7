/* SPDX-License-Identifier: MIT */
/*
 * main.c - sotto-relay's entry point: the command table, --help generated
 * from it, --version, and dispatch to the command named by the first
 * argument.
 */
#include <stdio.h>
#include <string.h>

#include "command.h"

const struct command *const COMMANDS[] = {
        &CMD_INIT, &CMD_RUN, &CMD_STATS, &CMD_ADDRESS, &CMD_HELP,
};
const size_t N_COMMANDS = sizeof(COMMANDS) / sizeof(COMMANDS[0]);

const struct command *cmd_find(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++) {
		if (strcmp(COMMANDS[i]->name, name) == 0)
			return COMMANDS[i];
	}
	return NULL;
}

static void print_main_help(FILE *out)
{
	fprintf(out, "usage: sotto-relay COMMAND [OPTIONS]\n"
	             "       sotto-relay --help | --version\n\n"
	             "A sotto relay: stores and forwards padded ciphertext in queues.\n\n"
	             "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-9s %s\n", COMMANDS[i]->name, COMMANDS[i]->summary);
	fprintf(out, "\nRun \"sotto-relay help COMMAND\" for a command's options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		print_main_help(stderr);
		return CMD_EXIT_USAGE;
	}
	if (cmd_is_help(argv[1])) {
		print_main_help(stdout);
		return CMD_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("sotto-relay %s\n", sotto_version());
		return CMD_EXIT_OK;
	}
	const struct command *c = cmd_find(argv[1]);
	if (c == NULL) {
		fprintf(stderr, "sotto-relay: unknown command \"%s\" (see sotto-relay --help)\n",
		        argv[1]);
		return CMD_EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			cmd_print_help(c, stdout);
			return CMD_EXIT_OK;
		}
	}
	return c->run(c, argc - 1, argv + 1);
}
