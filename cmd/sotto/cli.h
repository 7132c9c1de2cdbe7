/* SPDX-License-Identifier: MIT */
/*
 * cli.h - what every part of the sotto program shares (cmd/sotto): the exit
 * codes, the global options, and the one way of printing a problem.
 *
 * Exit codes are part of the interface (docs/api.md "Exit codes"): scripts
 * branch on them, so a number is never reused for another meaning.
 */
#ifndef SOTTO_CLI_H
#define SOTTO_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "core/compat.h"

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,       /* anything else; one line on stderr says why */
	CLI_EXIT_USAGE = 2,      /* a bad command line or argument value */
	CLI_EXIT_NO_PROFILE = 3, /* the profile does not exist (sotto init makes it) */
	CLI_EXIT_LOCKED = 4,     /* another sotto process holds the profile */
	CLI_EXIT_PASSPHRASE = 5, /* wrong passphrase, or none available for a profile needing one */
	CLI_EXIT_CONTACT = 6,    /* no contact by that name, or more than one */
	CLI_EXIT_NO_RELAY = 7,   /* no relay configured (sotto relay add ADDRESS) */
	CLI_EXIT_TIMEOUT = 8,    /* the network did not answer in time */
};

enum {
	CLI_TIMEOUT_S_DEFAULT = 30, /* --timeout when a command does not say */
	CLI_TIMEOUT_S_MAX = 86400,  /* the longest --timeout or --wait */
};

#define CLI_PROFILE_DEFAULT "default"
#define CLI_PASSPHRASE_ENV  "SOTTO_PASSPHRASE"

/* Options that apply to every command (main.c parses them anywhere on the line). */
struct cli_opts {
	const char *profile;             /* --profile; CLI_PROFILE_DEFAULT */
	const char *SOTTO_NULLABLE home; /* --home: base directory of profiles */
	int passphrase_fd;               /* --passphrase-fd; -1 when not given */
	bool has_timeout;                /* --timeout given */
	uint32_t timeout_s;              /* --timeout S */
};

/* Prints "sotto: <message>" and a newline to stderr. */
void cli_warn(const char *fmt, ...) SOTTO_PRINTF(1, 2);

/* Prints "sotto: <message>: <sotto_strerror(rc)>" to stderr; returns CLI_EXIT_FAIL. */
int cli_fail(sotto_err rc, const char *fmt, ...) SOTTO_PRINTF(2, 3);

#endif /* SOTTO_CLI_H */
