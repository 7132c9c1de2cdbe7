/* SPDX-License-Identifier: MIT */
/*
 * passphrase.h - getting a profile's passphrase from the user or a script
 * (cmd/sotto).
 *
 * Three sources, in the order the program tries them: a file descriptor
 * the script opened (--passphrase-fd N: one line), the environment
 * (SOTTO_PASSPHRASE; simple, but the environment of a process can be read
 * by the same user through /proc), and the terminal, asked with echo off
 * (only when standard input is a terminal; the prompt and the answer go
 * through /dev/tty, as ssh and gpg do).
 *
 * The passphrase lives in a struct passphrase on the caller's stack and is
 * wiped by passphrase_clear on every path.
 */
#ifndef SOTTO_PASSPHRASE_H
#define SOTTO_PASSPHRASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "store/limits.h"

struct passphrase {
	uint8_t bytes[STORE_PASSPHRASE_MAX +
	              2]; /* the passphrase, then room to see it is too long */
	size_t len;       /* bytes of the passphrase, 1..STORE_PASSPHRASE_MAX */
};

/* Wipes p (sodium_memzero). */
void passphrase_clear(struct passphrase *p);

/*
 * Reads one line from fd (up to LF or the end; a CR before the LF is
 * dropped) into *p (cleared first). Reads byte by byte, so nothing after
 * the line is consumed. Errors: SOTTO_ERR_INVALID (empty), SOTTO_ERR_TOO_LARGE
 * (over STORE_PASSPHRASE_MAX), SOTTO_ERR_IO (read failed, bad descriptor).
 */
SOTTO_NODISCARD sotto_err passphrase_from_fd(int fd, struct passphrase *p);

/*
 * Copies value (NUL-terminated) into *p (cleared first).
 * Errors: SOTTO_ERR_INVALID (empty), SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err passphrase_from_text(const char *value, struct passphrase *p);

/* True when standard input is a terminal, so that passphrase_ask may be used. */
bool passphrase_can_ask(void);

/*
 * Writes prompt to the terminal (/dev/tty), reads one line with echo off
 * into *p (cleared first), and restores the terminal; a signal that ends
 * the program during the prompt (Ctrl-C) restores it too. Errors:
 * SOTTO_ERR_INVALID (empty answer), SOTTO_ERR_TOO_LARGE, SOTTO_ERR_IO (no
 * terminal, or it went away).
 */
SOTTO_NODISCARD sotto_err passphrase_ask(const char *prompt, struct passphrase *p);

/*
 * Reads one line with echo on from the terminal into out (cap bytes, NUL
 * included; the line break is dropped, a longer line is cut). For the
 * display name at "sotto init". Errors: SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err passphrase_ask_line(const char *prompt, char *out, size_t cap);

#endif /* SOTTO_PASSPHRASE_H */
