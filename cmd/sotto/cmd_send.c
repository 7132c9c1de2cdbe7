/* SPDX-License-Identifier: MIT */
/*
 * cmd_send.c - "sotto send NAME TEXT": one message, waiting until the
 * relay has it (or the contact has it, with --wait delivered).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/envelope.h"
#include "command.h"
#include "fmt.h"

struct send {
	struct cmd_run *r;
	int64_t msg_id;
	enum client_agent_msg_status want; /* 0: nothing to wait for */
	enum client_agent_msg_status status;
	sotto_err reason;
};

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct send *snd = user;

	cmd_note_event(&snd->r->sh, ev);
	if (ev->kind != CLIENT_AGENT_EV_STATUS || ev->msg_id != snd->msg_id)
		return;
	snd->status = ev->status;
	snd->reason = ev->err;
	if (ev->status == CLIENT_AGENT_FAILED || ev->status == CLIENT_AGENT_DELIVERED ||
	    (ev->status == CLIENT_AGENT_SENT && snd->want == CLIENT_AGENT_SENT))
		snd->r->s.is_done = true;
}

/* Reads the text from stdin ("-"): at most CLIENT_TEXT_MAX bytes, one final LF dropped. */
static int read_stdin(char *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return cli_fail(SOTTO_ERR_IO, "cannot read the message from stdin");
		if (n == 0)
			break;
		*len += (size_t)n;
		if (*len == cap) {
			cli_warn("the message is longer than %d bytes", CLIENT_TEXT_MAX);
			return CLI_EXIT_USAGE;
		}
	}
	if (*len > 0 && buf[*len - 1] == '\n')
		(*len)--;
	return CLI_EXIT_OK;
}

static int send_text(struct cmd_run *r, const struct cli_opts *g, const char *name,
                     const char *text, size_t len, enum client_agent_msg_status want)
{
	struct client_agent_contact c;
	struct send snd;
	int code;
	sotto_err rc;

	memset(&snd, 0, sizeof(snd));
	snd.r = r;
	snd.want = want;
	snd.status = CLIENT_AGENT_QUEUED;
	if ((code = cmd_find_contact(&r->s, name, &c)) != CLI_EXIT_OK)
		return code;
	session_set_handler(&r->s, on_event, &snd);
	rc = client_agent_send_text(r->s.agent, c.id, (const uint8_t *)text, len, &snd.msg_id);
	if (rc == SOTTO_ERR_STATE) {
		cli_warn("cannot send to %s: %s", name, fmt_not_connected(c.state));
		return CLI_EXIT_FAIL;
	}
	if (rc == SOTTO_ERR_BUSY) {
		cli_warn("%d messages to %s wait already: run sotto receive until they leave",
		         CLIENT_AGENT_OUTBOX_MAX, name);
		return CLI_EXIT_FAIL;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot send to %s", name);
	if (want != 0 && !session_run(&r->s, session_timeout_ms(g, CLI_TIMEOUT_S_DEFAULT))) {
		cli_warn("timed out waiting for the message to be %s (it is %s; sotto keeps "
		         "trying whenever it runs)",
		         fmt_status_name(want), fmt_status_name(snd.status));
		printf("%s\n", fmt_status_name(snd.status));
		return CLI_EXIT_TIMEOUT;
	}
	printf("%s\n", fmt_status_name(snd.status));
	if (snd.status == CLIENT_AGENT_FAILED)
		return cli_fail(snd.reason, "the message to %s failed (%s)", name,
		                fmt_fail_reason(snd.reason));
	return CLI_EXIT_OK;
}

static int run_send(const struct command *self, struct cli_opts *g, int argc, char **argv)
{
	const char *wait = NULL, *pos[2];
	enum client_agent_msg_status want = CLIENT_AGENT_SENT;
	char *buf = NULL;
	size_t n_pos, len;
	struct cmd_run r;
	int code;
	const struct cmd_opt opts[] = {{.name = "wait", .value = &wait}};

	if ((code = cmd_parse(self, g, argc, argv, opts, SOTTO_ARRAY_LEN(opts), pos, 2, 2,
	                      &n_pos)) != CLI_EXIT_OK)
		return code;
	if (wait != NULL && strcmp(wait, "none") == 0)
		want = 0;
	else if (wait != NULL && strcmp(wait, "delivered") == 0)
		want = CLIENT_AGENT_DELIVERED;
	else if (wait != NULL && strcmp(wait, "sent") != 0)
		return cmd_usage(self, "--wait takes none, sent or delivered");
	const char *text = pos[1];
	len = strlen(text);
	if (strcmp(text, "-") == 0) {
		if ((buf = malloc(CLIENT_TEXT_MAX + 1)) == NULL)
			return cli_fail(SOTTO_ERR_NOMEM, "cannot read the message");
		if ((code = read_stdin(buf, CLIENT_TEXT_MAX + 1, &len)) != CLI_EXIT_OK)
			goto out;
		text = buf;
	}
	if (!client_text_is_valid((const uint8_t *)text, len)) {
		code = cmd_usage(self, "a message is 1 to %d bytes of UTF-8 text", CLIENT_TEXT_MAX);
		goto out;
	}
	if ((code = cmd_open(&r, g, 0)) == CLI_EXIT_OK)
		code = send_text(&r, g, pos[0], text, len, want);
	cmd_close(&r);
out:
	free(buf);
	return code;
}

const struct command CMD_SEND = {
        .name = "send",
        .usage = "NAME TEXT [--wait none|sent|delivered]",
        .summary = "send a message",
        .details = "Sends TEXT (\"-\": read it from stdin) to the contact NAME. The message\n"
                   "is stored, encrypted, before anything goes out, and leaves in order;\n"
                   "sotto prints its status when it stops waiting: queued, sent (the\n"
                   "contact's relay has it), delivered (the contact's sotto has it), or\n"
                   "failed. A message still queued is sent the next time sotto runs.\n\n"
                   "options:\n"
                   "  --wait sent        wait until the relay has it (the default)\n"
                   "  --wait delivered   wait for the contact's receipt (the contact must\n"
                   "                     be running sotto, e.g. sotto receive)\n"
                   "  --wait none        only store it; it leaves the next time sotto runs\n",
        .run = run_send,
};
