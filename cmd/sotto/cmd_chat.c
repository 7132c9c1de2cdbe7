/* SPDX-License-Identifier: MIT */
/*
 * cmd_chat.c - "sotto chat NAME": the conversation with a contact, with
 * times and status marks.
 */
#include <stdio.h>

#include "command.h"

enum { CHAT_LIMIT_DEFAULT = 20 };

struct print_ctx {
	struct show *sh;
	const char *name;
};

static void on_msg(void *user, const struct client_agent_msg *m)
{
	const struct print_ctx *p = user;

	printf("%s\n", show_message(p->sh, m, p->name));
}

static int run_chat(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *limit_opt = NULL, *pos[1];
	uint32_t limit = CHAT_LIMIT_DEFAULT;
	size_t n_pos;
	struct cmd_run r;
	struct client_agent_contact c;
	int code;
	sotto_err rc;
	const struct cmd_opt opts[] = {{.name = "limit", .value = &limit_opt}};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 1, 1,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if (limit_opt != NULL && !cmd_parse_u32(limit_opt, 1, CLIENT_AGENT_HISTORY_MAX, &limit))
		return cmd_usage(self, "--limit takes 1 to %d", CLIENT_AGENT_HISTORY_MAX);
	if ((code = cmd_open(&r, g, 0)) != CLI_EXIT_OK ||
	    (code = cmd_find_contact(&r.s, pos[0], &c)) != CLI_EXIT_OK)
		goto out;
	struct print_ctx p = {.sh = &r.sh, .name = c.name[0] != '\0' ? c.name : pos[0]};
	if ((rc = client_agent_history(r.s.agent, c.id, 0, limit, on_msg, &p)) != SOTTO_OK)
		code = cli_fail(rc, "cannot read the history of %s", pos[0]);
out:
	cmd_close(&r);
	return code;
}

const struct command CMD_CHAT = {
        .name = "chat",
        .usage = "NAME [--limit N]",
        .summary = "show the conversation with a contact",
        .details = "Prints the last messages with NAME, oldest first, one per line: the\n"
                   "time (with the date unless it is today), who wrote it (\"me\" for you),\n"
                   "the text and, after your own messages, their status: ... queued,\n"
                   "+ sent, ++ delivered, x failed (in a UTF-8 terminal: \xe2\x80\xa6 "
                   "\xe2\x9c\x93 \xe2\x9c\x93\xe2\x9c\x93 \xe2\x9c\x97).\n\n"
                   "options:\n"
                   "  --limit N   how many messages (default 20, at most 1000)\n",
        .run = run_chat,
};
