/* SPDX-License-Identifier: MIT */
/*
 * term.h - the terminal client's line editor on a libuv loop (cmd/sotto).
 *
 * A chat needs one thing a plain read loop cannot give: lines arriving from
 * peers are printed while the user is half-way through typing, and neither
 * may corrupt the other. The editor keeps a one-line prompt at the bottom of
 * the terminal; term_print() erases it, prints the line above it and draws
 * the prompt and the half-typed input again with the cursor where it was.
 *
 * Two modes, chosen once by term_new():
 *
 *   - TTY mode, when in_fd and out_fd are both terminals. The terminal is put
 *     in raw mode (no echo, no line buffering, no signal keys) and keys are
 *     decoded here: printable text, Backspace/Ctrl-H, Delete, Left/Right
 *     (also Ctrl-B/Ctrl-F), Home/End/Ctrl-A/Ctrl-E, Ctrl-U (kill to start),
 *     Ctrl-K (kill to end), Ctrl-W (kill the word before the cursor),
 *     Up/Down and Ctrl-P/Ctrl-N (history), Enter (CR or LF; a CR LF pair is
 *     one Enter; the line leaves the prompt, which is redrawn empty, and the
 *     program prints it with term_print() if it wants it shown), Ctrl-C
 *     (drops the input, then on_interrupt), Ctrl-D (on_eof on an empty line,
 *     else Delete), Ctrl-L (clear and redraw), Tab (a space). Other control
 *     keys, lone Escapes and escape sequences the editor does not know are
 *     ignored. A paste is simply many keys in one read; the prompt is redrawn
 *     once per read, not once per key. Lines longer than the terminal scroll
 *     horizontally inside the prompt line instead of wrapping, so the editor
 *     only ever owns one screen row and never needs to know where it is on
 *     the screen.
 *   - Plain mode otherwise (a pipe, a file, /dev/null): input is split into
 *     lines at LF (a CR before it is dropped), a last line without LF is
 *     delivered before on_eof, and term_print() writes the text and a LF.
 *     Not a single escape sequence or bell is written, so scripts and tests
 *     read clean text.
 *
 * Text rules, the same in both modes. Bytes from the terminal or pipe are
 * untrusted. Input is decoded as UTF-8; each invalid or truncated sequence
 * becomes U+FFFD. Control characters (C0, DEL, C1) never enter a line (Tab
 * becomes a space). A line holds at most TERM_LINE_MAX bytes: a key that
 * would not fit is refused (with a bell in TTY mode; in plain mode the rest of
 * an over-long line is dropped). So on_line always gets valid UTF-8 with no
 * control characters and no NUL. term_print() applies the same filter to
 * what it prints (a peer's message cannot move the cursor or retitle the
 * window), keeping only LF (a line break) and Tab.
 *
 * Width: a code point is one cursor step. Its width in columns comes from a
 * small table built into term.c (East Asian Wide and Fullwidth ranges and
 * emoji shown as two columns, combining marks, joiners and variation
 * selectors as zero, everything else as one), not from the C library's
 * wcwidth(), which depends on the process locale and the C library's
 * Unicode version. Terminals disagree with each other about recent emoji
 * anyway; a character measured wrongly only misplaces the cursor on the
 * screen by a column until the next redraw, never changes the line.
 *
 * What restores the terminal (TTY mode). Guaranteed: term_free(); exit() or
 * a return from main() while a terminal is still raw (an atexit() hook);
 * death by SIGHUP, SIGINT, SIGPIPE, SIGQUIT or SIGTERM while that signal still had its
 * default action when term_new() ran (the handler restores the terminal and
 * the original file status flags, then re-raises the signal with its default
 * action, so the exit status is unchanged); SIGABRT, SIGSEGV, SIGBUS, SIGFPE
 * and SIGILL unless ignored (the handler restores the terminal and then
 * hands the signal to whatever handler was there before, such as a
 * sanitizer's). A signal the program itself handles is the program's: its
 * handler should call term_free() (a handler installed after term_new()
 * simply replaces the guard's). Not possible: SIGKILL, SIGSTOP, a power
 * cut; then `stty sane` repairs the terminal. Because signal handlers can
 * reach nothing but globals, this guard is the one process-wide state here,
 * and so only one term may be in TTY mode at a time (term_new() returns
 * SOTTO_ERR_BUSY for a second). Raw mode also turns off the terminal's own
 * Ctrl-C and Ctrl-Z: they arrive as keys (Ctrl-Z is ignored).
 *
 * File status: libuv's poll handle makes in_fd non-blocking, which on a
 * terminal also affects every other process sharing it (the shell). term
 * saves the original flags and restores them on every path above. Writes
 * wait (poll) when the descriptor is non-blocking and full, like stdio on a
 * slow terminal. In plain mode a reader that went away makes the write
 * raise SIGPIPE unless the program ignores it (as net/conn.h already asks);
 * ignored, term_print() returns SOTTO_ERR_IO.
 *
 * Threading and the loop: a term belongs to its loop's thread. Callbacks run
 * from the loop, never from inside a term_* call, and may call any term_*
 * function including term_free() (the term is then freed once the loop has
 * run the handles' close callbacks).
 */
#ifndef SOTTO_TERM_H
#define SOTTO_TERM_H

#include <stdbool.h>
#include <stddef.h>

#include <sotto/sotto.h>
#include <uv.h>

enum {
	TERM_LINE_MAX = 16384,        /* bytes of UTF-8 in one input line */
	TERM_PROMPT_MAX = 256,        /* bytes of UTF-8 in the prompt */
	TERM_HISTORY_DEFAULT = 500,   /* history entries kept when the config says 0 */
	TERM_HISTORY_MAX = 10000,     /* most history entries a config may ask for */
	TERM_PRINT_MAX = 1024 * 1024, /* bytes one term_print() call accepts */
};

struct term;

/* line is valid UTF-8, len bytes, NUL-terminated, borrowed for the call. */
typedef void term_line_fn(void *SOTTO_NULLABLE user, const char *line, size_t len);
typedef void term_event_fn(void *SOTTO_NULLABLE user);

struct term_callbacks {
	term_line_fn *SOTTO_NULLABLE on_line;       /* Enter (TTY) or a line read (plain) */
	term_event_fn *SOTTO_NULLABLE on_eof;       /* Ctrl-D on an empty line, or end of input */
	term_event_fn *SOTTO_NULLABLE on_interrupt; /* Ctrl-C (TTY mode only) */
	void *SOTTO_NULLABLE user;                  /* passed to every callback; borrowed */
};

/* Zero fields take the defaults. Everything is copied by term_new(). */
struct term_config {
	const char *SOTTO_NULLABLE prompt; /* UTF-8; NULL: "> " */
	size_t history_max;                /* 0: TERM_HISTORY_DEFAULT; <= TERM_HISTORY_MAX */
	/*
	 * NULL: history lives in memory only. Otherwise earlier entries are
	 * loaded from this file (a missing file is an empty history) and
	 * term_free() writes the history back (mode 0600, replaced atomically).
	 * The file holds what the user typed, in plain text: never point it at
	 * anything that records message text (DESIGN.md keeps message text off
	 * the disk unless encrypted).
	 */
	const char *SOTTO_NULLABLE history_path;
};

/*
 * Makes an editor reading in_fd and drawing on out_fd (both borrowed: they
 * stay open and belong to the caller, who must not close them before
 * term_free()). In TTY mode the terminal is in raw mode and the prompt is
 * drawn when this returns. On success *out owns the term.
 *
 * Errors: SOTTO_ERR_INVALID (bad fd, a prompt longer than TERM_PROMPT_MAX,
 * history_max above TERM_HISTORY_MAX), SOTTO_ERR_BUSY (another term is in TTY
 * mode), SOTTO_ERR_IO (termios or libuv refused), SOTTO_ERR_NOMEM,
 * SOTTO_ERR_IO also when the history file exists but cannot be read.
 */
SOTTO_NODISCARD sotto_err term_new(uv_loop_t *loop, int in_fd, int out_fd,
                                   const struct term_config *SOTTO_NULLABLE cfg,
                                   const struct term_callbacks *cb, struct term **out);

/*
 * Prints text (UTF-8, len bytes; not NUL-terminated) as a line above the
 * prompt; LF inside it breaks lines, a final LF is implied. The input line and
 * cursor are unchanged. Control characters are dropped (see above).
 *
 * Errors: SOTTO_ERR_TOO_LARGE (len > TERM_PRINT_MAX), SOTTO_ERR_IO (the write
 * failed, e.g. the terminal is gone), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err term_print(struct term *term, const char *utf8, size_t len);

/*
 * Replaces the prompt (NUL-terminated UTF-8, copied) and redraws it.
 * Errors: SOTTO_ERR_INVALID (longer than TERM_PROMPT_MAX), SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err term_set_prompt(struct term *term, const char *prompt);

/* True when the term runs in TTY mode (raw terminal, escape sequences). */
bool term_is_tty(const struct term *term);

/*
 * Writes the history to cfg.history_path now (term_free() does it too, and
 * ignores the outcome). Errors: SOTTO_ERR_IO, SOTTO_ERR_NOMEM;
 * SOTTO_OK without a path.
 */
SOTTO_NODISCARD sotto_err term_history_save(struct term *term);

/*
 * Restores the terminal (mode and file status flags) at once and erases the
 * prompt line, writes the history file, stops reading and closes the libuv
 * handles; the memory is freed by their close callbacks, so the loop must run
 * once more before it can be closed. No callback runs after this returns.
 * term_free(NULL) does nothing.
 */
void term_free(struct term *SOTTO_NULLABLE term);

#endif /* SOTTO_TERM_H */
