/* SPDX-License-Identifier: MIT */
/*
 * passphrase.c - passphrases from a descriptor, the environment or the
 * terminal (cmd/sotto); see passphrase.h.
 *
 * While echo is off the terminal must come back on whatever happens, so the
 * signals that end a program by default are caught for the length of the
 * prompt: the handler restores the saved mode and re-raises the signal with
 * its default action. A signal handler can reach nothing but globals, so
 * the saved mode is the one process-wide state of this file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "passphrase.h"

static const int GUARDED[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
enum { N_GUARDED = sizeof(GUARDED) / sizeof(GUARDED[0]) };

static struct {
	volatile sig_atomic_t is_active;
	int fd;
	struct termios saved;
	struct sigaction old[N_GUARDED];
} guard;

static void on_guarded_signal(int sig)
{
	if (guard.is_active)
		(void)tcsetattr(guard.fd, TCSAFLUSH, &guard.saved);
	guard.is_active = 0;
	(void)signal(sig, SIG_DFL);
	(void)raise(sig);
}

void passphrase_clear(struct passphrase *p)
{
	sodium_memzero(p, sizeof(*p));
}

/* Reads one line from fd into p; stops at LF, the end, or one byte past the maximum. */
static sotto_err read_line(int fd, struct passphrase *p)
{
	for (;;) {
		uint8_t b;
		ssize_t n = read(fd, &b, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SOTTO_ERR_IO;
		if (n == 0 || b == '\n')
			break;
		if (p->len > STORE_PASSPHRASE_MAX) {
			continue; /* too long already: drain the rest of the line */
		}
		p->bytes[p->len++] = b;
	}
	if (p->len > STORE_PASSPHRASE_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (p->len > 0 && p->bytes[p->len - 1] == '\r')
		p->bytes[--p->len] = 0;
	return p->len == 0 ? SOTTO_ERR_INVALID : SOTTO_OK;
}

sotto_err passphrase_from_fd(int fd, struct passphrase *p)
{
	passphrase_clear(p);
	if (fd < 0)
		return SOTTO_ERR_IO;
	sotto_err rc = read_line(fd, p);
	if (rc != SOTTO_OK)
		passphrase_clear(p);
	return rc;
}

sotto_err passphrase_from_text(const char *value, struct passphrase *p)
{
	size_t n = strlen(value);

	passphrase_clear(p);
	if (n == 0)
		return SOTTO_ERR_INVALID;
	if (n > STORE_PASSPHRASE_MAX)
		return SOTTO_ERR_TOO_LARGE;
	memcpy(p->bytes, value, n);
	p->len = n;
	return SOTTO_OK;
}

bool passphrase_can_ask(void)
{
	return isatty(STDIN_FILENO) == 1;
}

static void write_all(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void guard_arm(int fd, const struct termios *saved)
{
	struct sigaction sa;

	guard.fd = fd;
	guard.saved = *saved;
	guard.is_active = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_guarded_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_GUARDED; i++)
		(void)sigaction(GUARDED[i], &sa, &guard.old[i]);
}

static void guard_disarm(void)
{
	guard.is_active = 0;
	for (size_t i = 0; i < N_GUARDED; i++)
		(void)sigaction(GUARDED[i], &guard.old[i], NULL);
}

sotto_err passphrase_ask(const char *prompt, struct passphrase *p)
{
	struct termios saved, quiet;
	sotto_err rc;

	passphrase_clear(p);
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return SOTTO_ERR_IO;
	if (tcgetattr(fd, &saved) != 0) {
		(void)close(fd);
		return SOTTO_ERR_IO;
	}
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	quiet.c_lflag |= ICANON;
	guard_arm(fd, &saved);
	/* Echo goes off (dropping anything typed ahead) before the prompt invites typing. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		rc = SOTTO_ERR_IO;
	} else {
		write_all(fd, prompt);
		rc = read_line(fd, p);
		(void)tcsetattr(fd, TCSAFLUSH, &saved);
	}
	guard_disarm();
	write_all(fd, "\n");
	(void)close(fd);
	if (rc != SOTTO_OK)
		passphrase_clear(p);
	return rc;
}

sotto_err passphrase_ask_line(const char *prompt, char *out, size_t cap)
{
	struct passphrase line;
	sotto_err rc;

	if (cap > 0)
		out[0] = '\0';
	int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return SOTTO_ERR_IO;
	write_all(fd, prompt);
	memset(&line, 0, sizeof(line));
	rc = read_line(fd, &line);
	(void)close(fd);
	if (rc == SOTTO_ERR_INVALID)
		rc = SOTTO_OK; /* an empty line: no answer */
	if (rc == SOTTO_OK && cap > 0) {
		size_t n = line.len < cap - 1 ? line.len : cap - 1;
		memcpy(out, line.bytes, n);
		out[n] = '\0';
	}
	passphrase_clear(&line);
	return rc;
}
