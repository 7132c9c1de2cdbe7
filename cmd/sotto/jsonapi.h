/* SPDX-License-Identifier: MIT */
/*
 * jsonapi.h - "sotto --json": the JSON-lines API (cmd/sotto), for bots,
 * GUIs and other languages. docs/api.md is its reference.
 *
 * Standard input carries one command per line, a JSON object
 * {"id": any, "cmd": "send", ...}; standard output carries one JSON object
 * per line: the answer to each command, {"id": .., "ok": true, ...} or
 * {"id": .., "ok": false, "error": {"code": "..", "message": ".."}}, and
 * events as they happen, {"event": "message", ...}. Answers to invite and
 * connect come when the relay has answered, so other lines may come
 * between a command and its answer; "id" pairs them.
 *
 * Input is hostile like any other: a line is at most JSONAPI_LINE_MAX bytes
 * (a longer one is refused whole), and anything that is not a known
 * command with valid arguments gets an error answer; nothing ends the
 * program but "quit", the end of input (after the answers still due) or
 * SIGTERM/SIGINT.
 */
#ifndef SOTTO_JSONAPI_H
#define SOTTO_JSONAPI_H

#include "cli.h"

enum {
	JSONAPI_LINE_MAX = 65536, /* bytes of one command line, LF excluded */
};

/* Runs the API on the profile of g until the end; returns a CLI_EXIT_ code. */
int jsonapi_main(struct cli_opts *g);

#endif /* SOTTO_JSONAPI_H */
