/* SPDX-License-Identifier: MIT */
/*
 * main.c - the sotto program's entry point: the command table, --help
 * generated from it, --version, and dispatch: a command by name, the
 * JSON-lines API (--json), or the interactive chat when no command is
 * given.
 */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "chat.h"
#include "command.h"
#include "jsonapi.h"

const struct command *const COMMANDS[] = {
        &CMD_INIT,   &CMD_RELAY,  &CMD_INVITE, &CMD_CONNECT, &CMD_CONTACTS, &CMD_SEND, &CMD_CHAT,
        &CMD_RENAME, &CMD_DELETE, &CMD_VERIFY, &CMD_RECEIVE, &CMD_NAME,     &CMD_HELP,
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
	fprintf(out, "usage: sotto [OPTIONS]              the interactive chat\n"
	             "       sotto [OPTIONS] COMMAND ...  one command, for scripts\n"
	             "       sotto [OPTIONS] --json       the JSON-lines API on stdin/stdout\n"
	             "       sotto --help | --version\n\n"
	             "A private messenger: no identifiers, end-to-end encrypted, over relays\n"
	             "anyone can run.\n\n"
	             "commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(out, "  %-9s %s\n", COMMANDS[i]->name, COMMANDS[i]->summary);
	cmd_print_global_options(out);
	fprintf(out, "\nexit codes:\n"
	             "  0 success            1 failure             2 bad usage\n"
	             "  3 no such profile    4 profile in use      5 wrong or missing passphrase\n"
	             "  6 contact not found or ambiguous           7 no relay configured\n"
	             "  8 timed out waiting for the network\n"
	             "\nRun \"sotto help COMMAND\" for a command's options; in the chat, /help.\n");
}

int main(int argc, char **argv)
{
	struct cli_opts g = {.profile = CLI_PROFILE_DEFAULT, .passphrase_fd = -1};
	bool is_json = false;
	int i = 1;

	(void)setlocale(LC_CTYPE, "");
	(void)signal(SIGPIPE, SIG_IGN); /* net/conn.h: a closed peer is an error, not a death */
	for (; i < argc; i++) {
		if (cmd_is_help(argv[i])) {
			print_main_help(stdout);
			return CLI_EXIT_OK;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("sotto %s\n", sotto_version());
			return CLI_EXIT_OK;
		}
		if (strcmp(argv[i], "--json") == 0) {
			is_json = true;
			continue;
		}
		enum cmd_global gl = cmd_global_opt(&g, argc, argv, &i);
		if (gl == CMD_GLOBAL_ERROR)
			return CLI_EXIT_USAGE;
		if (gl == CMD_GLOBAL_NO)
			break;
	}
	if (i == argc)
		return is_json ? jsonapi_main(&g) : chat_main(&g);
	if (argv[i][0] == '-') {
		fprintf(stderr, "sotto: unknown option \"%s\" (see sotto --help)\n", argv[i]);
		return CLI_EXIT_USAGE;
	}
	if (is_json) {
		fprintf(stderr, "sotto: --json takes no command (see sotto --help)\n");
		return CLI_EXIT_USAGE;
	}
	const struct command *c = cmd_find(argv[i]);
	if (c == NULL) {
		fprintf(stderr, "sotto: unknown command \"%s\" (see sotto --help)\n", argv[i]);
		return CLI_EXIT_USAGE;
	}
	for (int k = i + 1; k < argc; k++) {
		if (strcmp(argv[k], "--") == 0)
			break;
		if (cmd_is_help(argv[k])) {
			cmd_print_help(c, stdout);
			return CLI_EXIT_OK;
		}
	}
	return c->run(c, &g, argc - i, argv + i);
}
