/* SPDX-License-Identifier: MIT */
/*
 * lines.h - bounded lines from a descriptor on a libuv loop (cmd/sotto),
 * for the JSON API's standard input.
 *
 * Unlike term.h's plain mode, bytes are delivered as they are (JSON has its
 * own escaping and jansson checks the UTF-8), and a line longer than the
 * bound is not cut but refused whole: the reader skips to the next LF and
 * reports it once, so a truncated command can never be taken for a shorter
 * valid one. A CR before the LF is dropped; a last line without LF is
 * delivered before the end.
 *
 * Works on pipes, sockets and terminals (poll) and on regular files and
 * /dev/null (read when the loop is idle). The descriptor's file status
 * flags (libuv makes it non-blocking) are restored by lines_free.
 *
 * Callbacks run from the loop and may call lines_free.
 */
#ifndef SOTTO_LINES_H
#define SOTTO_LINES_H

#include <stddef.h>

#include <sotto/sotto.h>
#include <uv.h>

struct lines;

/* line is len bytes and a NUL (it may hold other NULs), borrowed for the call. */
typedef void lines_line_fn(void *SOTTO_NULLABLE user, const char *line, size_t len);
/* A line over the bound was skipped. */
typedef void lines_event_fn(void *SOTTO_NULLABLE user);

struct lines_callbacks {
	lines_line_fn *on_line;
	lines_event_fn *SOTTO_NULLABLE on_too_long;
	lines_event_fn *SOTTO_NULLABLE on_eof; /* the end of input, or a read error */
	void *SOTTO_NULLABLE user;
};

/*
 * Starts reading fd (borrowed) in lines of at most max bytes (LF excluded).
 * Errors: SOTTO_ERR_INVALID (max 0), SOTTO_ERR_IO (libuv refused the
 * descriptor), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err lines_new(uv_loop_t *loop, int fd, size_t max,
                                    const struct lines_callbacks *cb, struct lines **out);

/* Stops reading; memory goes with the handles' close callbacks. NULL does nothing. */
void lines_free(struct lines *SOTTO_NULLABLE l);

#endif /* SOTTO_LINES_H */
