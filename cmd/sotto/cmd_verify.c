/* SPDX-License-Identifier: MIT */
/*
 * cmd_verify.c - "sotto verify NAME": the security code to compare with a
 * contact.
 */
#include <stdio.h>
#include <unistd.h>

#include "command.h"
#include "fmt.h"
#include "proto/limits.h"

static int run_verify(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *pos[1];
	char code_text[PROTO_CODE_TEXT_LEN + 1];
	bool qr = false;
	size_t n_pos;
	struct cmd_run r;
	struct client_agent_contact c;
	int code;
	sotto_err rc;
	const struct cmd_opt opts[] = {{.name = "qr", .flag = &qr}};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 1, 1,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if ((code = cmd_open(&r, g, 0)) != CLI_EXIT_OK ||
	    (code = cmd_find_contact(&r.s, pos[0], &c)) != CLI_EXIT_OK)
		goto out;
	rc = client_agent_security_code(r.s.agent, c.id, code_text, sizeof(code_text));
	if (rc == SOTTO_ERR_STATE) {
		cli_warn("%s is %s: there is no session to verify", pos[0],
		         fmt_state_name(c.state));
		code = CLI_EXIT_FAIL;
		goto out;
	}
	if (rc != SOTTO_OK) {
		code = cli_fail(rc, "cannot compute the security code of %s", pos[0]);
		goto out;
	}
	printf("%s\n", code_text);
	if (qr)
		cmd_print_qr(code_text);
	if (isatty(STDOUT_FILENO) == 1)
		printf("Compare it with %s's (sotto verify on their side), in person or over\n"
		       "a channel you trust: if both are the same, no one is in the middle.\n",
		       c.name);
out:
	cmd_close(&r);
	return code;
}

const struct command CMD_VERIFY = {
        .name = "verify",
        .usage = "NAME [--qr]",
        .summary = "print the security code of a contact",
        .details = "Prints the contact's security code: twelve groups of five digits that\n"
                   "both sides compute from the session's keys. The same code on both\n"
                   "screens proves that no one sits between you.\n\n"
                   "options:\n"
                   "  --qr   also draw the code as a QR code\n",
        .run = run_verify,
};
