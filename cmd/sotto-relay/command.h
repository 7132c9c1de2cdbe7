/* SPDX-License-Identifier: MIT */
/*
 * command.h - the sotto-relay program: one struct command per subcommand,
 * each defined in its own cmd_<name>.c and listed once in main.c's table,
 * from which --help is generated. The helpers here only parse arguments and
 * print; everything the program does is a call into relay/daemon.h.
 *
 * Exit codes: CMD_EXIT_OK, CMD_EXIT_FAIL (one line on stderr ending in
 * sotto_strerror()), CMD_EXIT_USAGE (a bad command line).
 */
#ifndef SOTTO_SOTTO_RELAY_COMMAND_H
#define SOTTO_SOTTO_RELAY_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <sotto/sotto.h>

#include "core/compat.h"
#include "relay/config.h"
#include "relay/daemon.h"

enum {
	CMD_EXIT_OK = 0,
	CMD_EXIT_FAIL = 1,
	CMD_EXIT_USAGE = 2,
};

struct command {
	const char *name;
	const char *usage;   /* the arguments after the name */
	const char *summary; /* one line, for the command list */
	const char *details; /* paragraphs and options, for "help NAME" */
	/* Prints more help after details (generated text); may be NULL. */
	void (*print_extra)(FILE *out);
	/* argv[0] is the command's name; returns a CMD_EXIT_ code. */
	int (*run)(const struct command *self, int argc, char **argv);
};

extern const struct command CMD_INIT;
extern const struct command CMD_RUN;
extern const struct command CMD_STATS;
extern const struct command CMD_ADDRESS;
extern const struct command CMD_HELP;

/* main.c's table, in the order --help lists it. */
extern const struct command *const COMMANDS[];
extern const size_t N_COMMANDS;

/* The command called name, or NULL. */
const struct command *cmd_find(const char *name);

/* Prints "usage: sotto-relay NAME USAGE" and the details of c to out. */
void cmd_print_help(const struct command *c, FILE *out);

/* Prints "sotto-relay: <message>" and c's usage line to stderr; returns CMD_EXIT_USAGE. */
int cmd_usage(const struct command *c, const char *fmt, ...) SOTTO_PRINTF(2, 3);

/* Prints "sotto-relay: <message>: <sotto_strerror(rc)>" to stderr; returns CMD_EXIT_FAIL. */
int cmd_fail(sotto_err rc, const char *fmt, ...) SOTTO_PRINTF(2, 3);

/* Prints a configuration error with its place (where: a file name or a flag). */
int cmd_config_fail(int exit_code, sotto_err rc, const char *where,
                    const struct relay_config_error *err);

/* True for "--help" and "-h". */
bool cmd_is_help(const char *arg);

enum cmd_opt {
	CMD_OPT_NO,      /* argv[*i] is not this option */
	CMD_OPT_YES,     /* it is; *value is set (and *i advanced past a separate value) */
	CMD_OPT_MISSING, /* it is, but its value is missing */
};

/*
 * Matches argv[*i] against "--name VALUE" or "--name=VALUE" (value NULL: a
 * flag, which takes no value).
 */
enum cmd_opt cmd_opt(int argc, char **argv, int *i, const char *name,
                     const char *SOTTO_NULLABLE *SOTTO_NULLABLE value);

/*
 * Applies "--some-key VALUE" to cfg when some_key is a configuration key
 * ("--listen HOST:PORT" sets listen and port):
 * returns CMD_EXIT_OK when applied, CMD_EXIT_USAGE after printing why not
 * (an unknown option, a missing or bad value). *i advances like cmd_opt.
 */
int cmd_config_flag(const struct command *c, struct relay_config *cfg, int argc, char **argv,
                    int *i);

/*
 * The data directory: dir_opt if given, else the default (XDG_DATA_HOME or
 * HOME). Prints why on failure and returns CMD_EXIT_FAIL.
 */
int cmd_data_dir(const char *SOTTO_NULLABLE dir_opt, char *out, size_t cap);

/*
 * Loads the configuration: path_opt if given, else DIR/config. Prints the
 * file, line and reason on failure and returns CMD_EXIT_FAIL.
 */
int cmd_load_config(const char *dir, const char *SOTTO_NULLABLE path_opt, struct relay_config *cfg);

/* A context whose log lines go to stderr; NULL after printing why. */
sotto_ctx *cmd_ctx_new(void);

#endif /* SOTTO_SOTTO_RELAY_COMMAND_H */
