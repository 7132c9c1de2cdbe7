/* SPDX-License-Identifier: MIT */
/*
 * command.h - the sotto program's subcommands: one struct command each,
 * defined in its own cmd_<name>.c and listed once in main.c's table, from
 * which --help is generated (STYLE.md §1). The helpers here only parse
 * arguments; what a command does is a call into the agent (client/agent.h)
 * through a session (session.h), and what it prints comes from show.h and
 * fmt.h.
 *
 * Exit codes: cli.h (CLI_EXIT_*), documented in docs/api.md.
 */
#ifndef SOTTO_COMMAND_H
#define SOTTO_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "core/compat.h"
#include "names.h"
#include "session.h"
#include "show.h"

struct command {
	const char *name;
	const char *usage;   /* the arguments after the name */
	const char *summary; /* one line, for the command list */
	const char *details; /* paragraphs and options, for "help NAME" */
	/* argv[0] is the command's name; g holds the global options seen so far. */
	int (*run)(const struct command *self, struct cli_opts *g, int argc, char **argv);
};

extern const struct command CMD_INIT;
extern const struct command CMD_RELAY;
extern const struct command CMD_INVITE;
extern const struct command CMD_CONNECT;
extern const struct command CMD_CONTACTS;
extern const struct command CMD_SEND;
extern const struct command CMD_CHAT;
extern const struct command CMD_RENAME;
extern const struct command CMD_DELETE;
extern const struct command CMD_VERIFY;
extern const struct command CMD_RECEIVE;
extern const struct command CMD_NAME;
extern const struct command CMD_HELP;

/* main.c's table, in the order --help lists it. */
extern const struct command *const COMMANDS[];
extern const size_t N_COMMANDS;

/* The command called name, or NULL. */
const struct command *cmd_find(const char *name);

/* Prints "usage: sotto NAME USAGE", the summary, details and the global options. */
void cmd_print_help(const struct command *c, FILE *out);

/* Prints the global options (for --help). */
void cmd_print_global_options(FILE *out);

/* Prints "sotto: <message>" and c's usage line to stderr; returns CLI_EXIT_USAGE. */
int cmd_usage(const struct command *c, const char *fmt, ...) SOTTO_PRINTF(2, 3);

/* True for "--help" and "-h". */
bool cmd_is_help(const char *arg);

/* An option of a command: "--name VALUE" (value set) or "--name" (flag set). */
struct cmd_opt {
	const char *name; /* without the dashes */
	const char *SOTTO_NULLABLE *SOTTO_NULLABLE value;
	bool *SOTTO_NULLABLE flag;
};

enum cmd_global {
	CMD_GLOBAL_NO,    /* argv[*i] is not a global option */
	CMD_GLOBAL_YES,   /* it was, and is applied to g (*i past its value) */
	CMD_GLOBAL_ERROR, /* it was, but its value is missing or bad (printed) */
};

/*
 * Applies argv[*i] to g if it is a global option (--profile NAME, --home
 * DIR, --passphrase-fd N, --timeout S; "--opt=VALUE" works too).
 */
enum cmd_global cmd_global_opt(struct cli_opts *g, int argc, char **argv, int *i);

/*
 * Parses argv[1..argc) of c: global options, c's options (opts, n_opts)
 * and between min_pos and max_pos positional arguments into pos (*n_pos of
 * them). "--" ends the options; a lone "-" is positional. Returns
 * CLI_EXIT_OK, or CLI_EXIT_USAGE after printing why.
 */
int cmd_parse(const struct command *c, struct cli_opts *g, int argc, char **argv,
              const struct cmd_opt *opts, size_t n_opts, const char **pos, size_t min_pos,
              size_t max_pos, size_t *n_pos);

/*
 * Parses a decimal number in [min, max] from text; false (nothing printed)
 * if it is not one.
 */
bool cmd_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out);

/* Whether the text printed for people should use UTF-8 (locale). */
bool cmd_utf8(void);

/*
 * Finds the contact called name among the agent's contacts into *out;
 * prints the problem and returns CLI_EXIT_CONTACT when there is none or
 * more than one, CLI_EXIT_FAIL when the list cannot be read.
 */
int cmd_find_contact(struct session *s, const char *name, struct client_agent_contact *out);

/*
 * Maps an agent error of invite or connect: SOTTO_ERR_NOT_FOUND prints the
 * "no relay configured" advice and returns CLI_EXIT_NO_RELAY; other errors
 * print what and why and return CLI_EXIT_FAIL (CLI_EXIT_TIMEOUT for
 * SOTTO_ERR_TIMEOUT).
 */
int cmd_agent_fail(const struct session *s, sotto_err rc, const char *what);

/*
 * Runs the loop until nothing of contact_id (0: of any contact) waits to
 * reach a relay any more (client_agent_pending: the outbox confirmed,
 * deleted queues deleted), or timeout_ms passes, so that what a command
 * left goes out before the program ends. Returns true when it all went.
 */
bool cmd_flush(struct session *s, int64_t contact_id, uint64_t timeout_ms);

/*
 * Prints on stderr what a command that is not "receive" should still tell
 * (a relay that went down or came back, an error about a contact); other
 * events are left to "receive" and "chat".
 */
void cmd_note_event(struct show *sh, const struct client_agent_event *ev);

/* A command's run: the session and the way it shows events. */
struct cmd_run {
	struct session s;
	struct show sh;
	bool has_show;
};

/*
 * Opens the profile (session_open) and sets the events to cmd_note_event.
 * Returns a CLI_EXIT_ code; call cmd_close in every case.
 */
int cmd_open(struct cmd_run *r, struct cli_opts *g, uint32_t op_timeout_ms);

/* Closes what cmd_open opened. */
void cmd_close(struct cmd_run *r);

/* Prints text as a QR code on stdout (UTF-8 half blocks, or ASCII). */
void cmd_print_qr(const char *text);

#endif /* SOTTO_COMMAND_H */
