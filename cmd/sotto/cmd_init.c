/* SPDX-License-Identifier: MIT */
/*
 * cmd_init.c - "sotto init": makes a profile (key file, database) and sets
 * the display name contacts will see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/envelope.h"
#include "command.h"
#include "passphrase.h"

enum { INIT_ASK_TRIES = 3 };

/* Asks twice until both answers agree. */
static int ask_new_passphrase(struct passphrase *p)
{
	struct passphrase again;
	sotto_err rc;

	for (int i = 0; i < INIT_ASK_TRIES; i++) {
		if ((rc = passphrase_ask("New passphrase: ", p)) != SOTTO_OK) {
			if (rc == SOTTO_ERR_INVALID) {
				cli_warn("an empty passphrase is not one (for none, use "
				         "--no-passphrase)");
				continue;
			}
			return cli_fail(rc, "cannot read the passphrase");
		}
		rc = passphrase_ask("Repeat it: ", &again);
		bool is_same = rc == SOTTO_OK && again.len == p->len &&
		               sodium_memcmp(again.bytes, p->bytes, p->len) == 0;
		passphrase_clear(&again);
		if (is_same)
			return CLI_EXIT_OK;
		passphrase_clear(p);
		cli_warn("the two passphrases differ; again");
	}
	cli_warn("no passphrase set");
	return CLI_EXIT_PASSPHRASE;
}

static int get_new_passphrase(const struct command *self, const struct cli_opts *g,
                              struct passphrase *p)
{
	const char *env = getenv(CLI_PASSPHRASE_ENV);
	sotto_err rc;

	if (g->passphrase_fd >= 0) {
		if ((rc = passphrase_from_fd(g->passphrase_fd, p)) != SOTTO_OK)
			return cli_fail(rc, "cannot read the passphrase from descriptor %d",
			                g->passphrase_fd);
		return CLI_EXIT_OK;
	}
	if (env != NULL && env[0] != '\0') {
		if ((rc = passphrase_from_text(env, p)) != SOTTO_OK)
			return cli_fail(rc, "bad %s", CLI_PASSPHRASE_ENV);
		return CLI_EXIT_OK;
	}
	if (passphrase_can_ask())
		return ask_new_passphrase(p);
	return cmd_usage(self,
	                 "no passphrase: set %s, pass --passphrase-fd N, or choose "
	                 "--no-passphrase",
	                 CLI_PASSPHRASE_ENV);
}

static int get_name(const struct command *self, const char *name_opt, char *name, size_t cap)
{
	name[0] = '\0';
	if (name_opt != NULL) {
		snprintf(name, cap, "%s", name_opt);
	} else if (passphrase_can_ask()) {
		sotto_err rc = passphrase_ask_line("Your display name (your contacts see it; Enter "
		                                   "for \"" CLIENT_AGENT_DEFAULT_NAME "\"): ",
		                                   name, cap);
		if (rc != SOTTO_OK)
			return cli_fail(rc, "cannot read the name");
	}
	if (name[0] != '\0' &&
	    (strlen(name) >= cap - 1 || !client_name_is_valid((const uint8_t *)name, strlen(name))))
		return cmd_usage(self,
		                 "bad display name: 1 to %d bytes of text, no control characters",
		                 CLIENT_NAME_MAX);
	return CLI_EXIT_OK;
}

static int run_init(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *name_opt = NULL, *pos[1];
	char name[CLIENT_NAME_MAX + 2], dir[STORE_PATH_MAX];
	bool no_pass = false;
	size_t n_pos;
	struct passphrase pass;
	struct session s;
	int code;
	const struct cmd_opt opts[] = {
	        {.name = "name", .value = &name_opt},
	        {.name = "no-passphrase", .flag = &no_pass},
	};

	memset(&pass, 0, sizeof(pass));
	memset(&s, 0, sizeof(s));
	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 0, 0,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if (store_profile_name_check(g->profile) == SOTTO_OK && session_profile_exists(g)) {
		cli_warn("profile \"%s\" exists already", g->profile);
		return CLI_EXIT_FAIL;
	}
	if ((code = get_name(self, name_opt, name, sizeof(name))) != CLI_EXIT_OK)
		return code;
	if (!no_pass && (code = get_new_passphrase(self, g, &pass)) != CLI_EXIT_OK)
		goto out;
	code = session_create(&s, g, no_pass ? NULL : pass.bytes, no_pass ? 0 : pass.len);
	passphrase_clear(&pass);
	if (code != CLI_EXIT_OK)
		goto out;
	if (name[0] != '\0') {
		sotto_err rc = client_agent_set_name(s.agent, name, strlen(name));
		if (rc != SOTTO_OK) {
			code = cli_fail(rc, "cannot set the display name");
			goto out;
		}
	}
	session_profile_dir(g, dir, sizeof(dir));
	printf("created profile \"%s\" in %s\n", g->profile, dir);
	printf("next: sotto relay add ADDRESS, then sotto invite (or sotto connect LINK)\n");
out:
	passphrase_clear(&pass);
	session_close(&s);
	return code;
}

const struct command CMD_INIT = {
        .name = "init",
        .usage = "[--name NAME] [--no-passphrase]",
        .summary = "create a profile",
        .details = "Creates the profile: its directory (0700), a random database key in the\n"
                   "key file (0600), sealed under your passphrase with Argon2id unless\n"
                   "--no-passphrase, and the encrypted database. On a terminal it asks for\n"
                   "the display name if --name is not given, and for the passphrase twice\n"
                   "with echo off; scripts pass the passphrase in SOTTO_PASSPHRASE or on a\n"
                   "descriptor (--passphrase-fd N). Nothing identifies you: the display name\n"
                   "is only what your contacts see, and can be changed (sotto name NEW).\n\n"
                   "options:\n"
                   "  --name NAME        your display name (default \"" CLIENT_AGENT_DEFAULT_NAME
                   "\")\n"
                   "  --no-passphrase    keep the key unprotected in the key file (anyone who\n"
                   "                     can read the profile directory can read everything)\n",
        .run = run_init,
};
