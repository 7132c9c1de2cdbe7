/* SPDX-License-Identifier: MIT */
/*
 * cmd_receive.c - "sotto receive": stay connected for a while, take in
 * what arrived (messages, completed contacts, receipts) and print it.
 */
#include <signal.h>
#include <stdio.h>

#include "command.h"

enum { RECEIVE_WAIT_S_DEFAULT = 5 };

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct cmd_run *r = user;
	const char *line = show_event(&r->sh, ev);

	if (line == NULL)
		return;
	printf("%s\n", line);
	fflush(stdout); /* a script reading the output sees each line as it comes */
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct cmd_run *r = h->data;

	(void)signum;
	r->s.is_done = true; /* stop early, closing gracefully */
}

/* Runs for wait_s seconds or until SIGINT or SIGTERM. */
static void receive(struct cmd_run *r, uint32_t wait_s)
{
	uv_signal_t sig_int, sig_term;
	bool has_int = uv_signal_init(&r->s.loop, &sig_int) == 0;
	bool has_term = uv_signal_init(&r->s.loop, &sig_term) == 0;

	sig_int.data = sig_term.data = r;
	if (has_int)
		(void)uv_signal_start(&sig_int, on_signal, SIGINT);
	if (has_term)
		(void)uv_signal_start(&sig_term, on_signal, SIGTERM);
	session_set_handler(&r->s, on_event, r);
	(void)session_run(&r->s, (uint64_t)wait_s * 1000u);
	if (has_int)
		uv_close((uv_handle_t *)&sig_int, NULL);
	if (has_term)
		uv_close((uv_handle_t *)&sig_term, NULL);
	/* The handles are closed by the loop before the function's frame goes. */
	(void)uv_run(&r->s.loop, UV_RUN_NOWAIT);
}

static int run_receive(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *wait_opt = NULL, *pos[1];
	uint32_t wait_s = RECEIVE_WAIT_S_DEFAULT;
	size_t n_pos;
	struct cmd_run r;
	int code;
	const struct cmd_opt opts[] = {{.name = "wait", .value = &wait_opt}};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 0, 0,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if (wait_opt != NULL && !cmd_parse_u32(wait_opt, 1, CLI_TIMEOUT_S_MAX, &wait_s))
		return cmd_usage(self, "--wait takes seconds (1..%d)", CLI_TIMEOUT_S_MAX);
	if ((code = cmd_open(&r, g, 0)) == CLI_EXIT_OK)
		receive(&r, wait_s);
	cmd_close(&r);
	return code;
}

const struct command CMD_RECEIVE = {
        .name = "receive",
        .usage = "[--wait S]",
        .summary = "stay online for a while and print what arrives",
        .details = "Connects to the relays for S seconds (default 5) and does everything\n"
                   "that needs this profile online: takes in messages (and sends their\n"
                   "receipts), completes contacts that used your invitations, sends what\n"
                   "waited. Prints each event as it comes:\n\n"
                   "  12:04 alice: hello             a message\n"
                   "  connected: alice               a contact completed\n"
                   "  ++ delivered to alice: \"hi\"    one of your messages arrived\n"
                   "  x failed to alice: \"hi\" (...)  one of your messages was refused\n\n"
                   "In a UTF-8 terminal the marks are \xe2\x9c\x93\xe2\x9c\x93 (delivered) and "
                   "\xe2\x9c\x97 (failed).\n\n"
                   "options:\n"
                   "  --wait S   stay S seconds (default 5); SIGINT or SIGTERM ends it\n"
                   "             early, cleanly\n",
        .run = run_receive,
};
