/* SPDX-License-Identifier: MIT */
/*
 * chat.h - "sotto" with no command: the interactive chat (cmd/sotto).
 *
 * The agent and the line editor (term.h) share one libuv loop: what
 * arrives is printed above the prompt as it comes, while the user types.
 * A line is a message to the current contact, "@name text" (which also
 * makes name the current contact), or a /command (/help lists them).
 * The editor's history stays in memory only: it holds typed messages, and
 * nothing that holds message text goes to disk unencrypted (DESIGN.md).
 */
#ifndef SOTTO_CHAT_H
#define SOTTO_CHAT_H

#include "cli.h"

/* Runs the chat on the profile of g until /quit, Ctrl-D, Ctrl-C or SIGTERM. */
int chat_main(struct cli_opts *g);

#endif /* SOTTO_CHAT_H */
