/* SPDX-License-Identifier: MIT */
/*
 * term_test.c - tests of the line editor (cmd/sotto/term.c).
 *
 * TTY mode is driven through a real pseudo-terminal: the editor owns the
 * slave side on the test's own libuv loop, the test types by writing key
 * bytes to the master side and reads back what the editor drew. What was
 * drawn is fed to a small screen model (below) that understands exactly the
 * control sequences the editor may emit and fails on any other, so tests
 * check both the line delivered to on_line and what the user would see.
 * Plain mode is driven through real pipes and a real file. Restoring the
 * terminal on signals and exit is checked in forked children, since those
 * paths end the process.
 *
 * Waiting is bounded: every wait pumps the loop (a 2 ms tick keeps each
 * round short) at most WAIT_ROUNDS times and then asserts, so a broken editor
 * fails the test instead of hanging it. Nothing measures time.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "term.h"

enum {
	WAIT_ROUNDS = 5000, /* loop rounds a wait may take (about 10 s at the 2 ms tick) */
	TICK_MS = 2,
	LINES_MAX = 64,      /* lines a test may receive */
	SCREEN_ROWS = 64,    /* rows the screen model keeps */
	SCREEN_COLS = 256,   /* widest terminal the model draws */
	SCREEN_VISIBLE = 24, /* rows of the pty */
};

#define CELL_WIDE_TAIL 0xFFFFFFFFu /* the second column of a wide character */

/* ---------------------------------------------------------------------------
 * Screen model: a grid of code points with a cursor. It knows CR, LF, BEL,
 * printable UTF-8 (with autowrap), and the editor's sequences CSI K, CSI n C,
 * CSI H and CSI 2 J. Widths follow the common terminal convention for the
 * characters these tests type, independently of term.c's table.
 */
struct screen {
	uint32_t cells[SCREEN_ROWS][SCREEN_COLS];
	size_t row, col; /* cursor */
	size_t cols;     /* terminal width */
	size_t n_bells;
	int state; /* 0 ground, 1 after ESC, 2 in CSI */
	char params[32];
	size_t n_params;
	uint32_t cp; /* UTF-8 being decoded */
	int need;
};

static size_t model_width(uint32_t cp)
{
	if (cp >= 0x300 && cp <= 0x36F)
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
	    (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
	    (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
	    (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD))
		return 2;
	return 1;
}

static void screen_newline(struct screen *s)
{
	if (s->row + 1 < SCREEN_ROWS) {
		s->row++;
		return;
	}
	memmove(s->cells[0], s->cells[1], sizeof(s->cells[0]) * (SCREEN_ROWS - 1));
	memset(s->cells[SCREEN_ROWS - 1], 0, sizeof(s->cells[0]));
}

static void screen_put(struct screen *s, uint32_t cp)
{
	size_t w = model_width(cp);
	if (w == 0)
		return;
	if (s->col + w > s->cols) {
		screen_newline(s);
		s->col = 0;
	}
	s->cells[s->row][s->col] = cp;
	if (w == 2)
		s->cells[s->row][s->col + 1] = CELL_WIDE_TAIL;
	s->col += w;
}

static void screen_csi(struct screen *s, char fin)
{
	unsigned n = 0;
	s->params[s->n_params] = '\0';
	for (size_t i = 0; i < s->n_params; i++) {
		if (s->params[i] < '0' || s->params[i] > '9')
			fail_msg("unexpected CSI parameters \"%s\"", s->params);
		n = n * 10 + (unsigned)(s->params[i] - '0');
	}
	if (fin == 'K' && n == 0) {
		for (size_t c = s->col; c < SCREEN_COLS; c++)
			s->cells[s->row][c] = 0;
	} else if (fin == 'C') {
		s->col += n == 0 ? 1 : n;
		if (s->col > s->cols - 1)
			s->col = s->cols - 1;
	} else if (fin == 'H' && n == 0) {
		s->row = s->row >= SCREEN_VISIBLE - 1 ? s->row - (SCREEN_VISIBLE - 1) : 0;
		s->col = 0;
	} else if (fin == 'J' && n == 2) {
		for (size_t r = s->row; r < SCREEN_ROWS; r++)
			memset(s->cells[r], 0, sizeof(s->cells[r]));
	} else {
		fail_msg("unexpected sequence CSI %s%c", s->params, fin);
	}
}

static void screen_byte(struct screen *s, uint8_t b)
{
	if (s->state == 1) {
		if (b != '[')
			fail_msg("unexpected escape sequence ESC 0x%02x", b);
		s->state = 2;
		s->n_params = 0;
		return;
	}
	if (s->state == 2) {
		if (b >= 0x40 && b <= 0x7E) {
			s->state = 0;
			screen_csi(s, (char)b);
		} else {
			assert_true(s->n_params + 1 < sizeof(s->params));
			s->params[s->n_params++] = (char)b;
		}
		return;
	}
	if (s->need > 0) {
		assert_int_equal(b & 0xC0, 0x80);
		s->cp = (s->cp << 6) | (b & 0x3Fu);
		if (--s->need == 0)
			screen_put(s, s->cp);
		return;
	}
	switch (b) {
	case '\r': s->col = 0; return;
	case '\n': screen_newline(s); return;
	case '\a': s->n_bells++; return;
	case 0x1B: s->state = 1; return;
	default: break;
	}
	if (b < 0x20 || b == 0x7F)
		fail_msg("unexpected control byte 0x%02x on the screen", b);
	if (b < 0x80)
		screen_put(s, b);
	else if (b >= 0xF0)
		s->cp = b & 0x07u, s->need = 3;
	else if (b >= 0xE0)
		s->cp = b & 0x0Fu, s->need = 2;
	else
		s->cp = b & 0x1Fu, s->need = 1;
}

/* The text of a row relative to the cursor's (0: the cursor's), trailing blanks cut. */
static const char *screen_row(const struct screen *s, int rel, char *buf, size_t cap)
{
	size_t n = 0, last = 0;
	int r = (int)s->row + rel;
	buf[0] = '\0';
	if (r < 0 || r >= SCREEN_ROWS)
		return buf;
	for (size_t c = 0; c < s->cols; c++) {
		uint32_t cp = s->cells[r][c];
		char enc[4];
		size_t k = 1;
		if (cp == CELL_WIDE_TAIL)
			continue;
		if (cp == 0) {
			enc[0] = ' ';
		} else if (cp < 0x80) {
			enc[0] = (char)cp;
		} else if (cp < 0x800) {
			enc[0] = (char)(0xC0 | (cp >> 6)), enc[1] = (char)(0x80 | (cp & 0x3F)),
			k = 2;
		} else if (cp < 0x10000) {
			enc[0] = (char)(0xE0 | (cp >> 12));
			enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
			enc[2] = (char)(0x80 | (cp & 0x3F)), k = 3;
		} else {
			enc[0] = (char)(0xF0 | (cp >> 18));
			enc[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
			enc[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
			enc[3] = (char)(0x80 | (cp & 0x3F)), k = 4;
		}
		assert_true(n + k < cap);
		memcpy(buf + n, enc, k);
		n += k;
		if (cp != 0 && cp != ' ')
			last = n;
	}
	buf[last] = '\0';
	return buf;
}

/* ---------------------------------------------------------------------------
 * Fixture: a pty, a loop, a term and what its callbacks saw.
 */
struct fx {
	uv_loop_t loop;
	uv_timer_t tick;
	int master, slave;
	struct termios before;
	int before_fl;
	struct term *term;
	struct term_config cfg;
	char *lines[LINES_MAX];
	size_t line_lens[LINES_MAX];
	size_t n_lines;
	bool has_bad_line; /* a line was not valid UTF-8, had a control or a NUL */
	int n_eof, n_interrupt;
	struct screen screen;
	char *out; /* everything read from the master */
	size_t out_len, out_cap;
	size_t n_parsed;
	char dir[64]; /* a private temporary directory, "" if none */
};

/* Checks what term.h promises on_line: valid UTF-8, no controls, no NUL. */
static bool line_is_clean(const char *s, size_t len)
{
	size_t i = 0;
	if (s[len] != '\0')
		return false;
	while (i < len) {
		uint8_t b = (uint8_t)s[i];
		size_t n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
		uint32_t cp = b < 0x80    ? b
		              : b >= 0xF0 ? b & 0x07u
		              : b >= 0xE0 ? b & 0x0Fu
		                          : b & 0x1Fu;
		if ((b >= 0x80 && b < 0xC2) || b > 0xF4 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if (((uint8_t)s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | ((uint8_t)s[i + k] & 0x3Fu);
		}
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || (cp >= 0xD800 && cp <= 0xDFFF) ||
		    cp > 0x10FFFF || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000))
			return false;
		i += n;
	}
	return true;
}

/*
 * Lines are kept in a ring of LINES_MAX (a garbage test may make hundreds);
 * n_lines counts every line delivered.
 */
static void on_line(void *user, const char *line, size_t len)
{
	struct fx *f = user;
	size_t slot = f->n_lines % LINES_MAX;
	if (!line_is_clean(line, len))
		f->has_bad_line = true;
	free(f->lines[slot]);
	f->lines[slot] = malloc(len + 1);
	assert_non_null(f->lines[slot]);
	memcpy(f->lines[slot], line, len + 1);
	f->line_lens[slot] = len;
	f->n_lines++;
}

/* The i-th line delivered (0-based), which must still be in the ring. */
static const char *line_at(const struct fx *f, size_t i)
{
	assert_true(i < f->n_lines && i + LINES_MAX >= f->n_lines);
	return f->lines[i % LINES_MAX];
}

static size_t len_at(const struct fx *f, size_t i)
{
	assert_true(i < f->n_lines && i + LINES_MAX >= f->n_lines);
	return f->line_lens[i % LINES_MAX];
}

static void on_eof(void *user)
{
	((struct fx *)user)->n_eof++;
}

static void on_interrupt(void *user)
{
	((struct fx *)user)->n_interrupt++;
}

static void on_tick(uv_timer_t *h)
{
	(void)h;
}

static void drain_master(struct fx *f)
{
	for (;;) {
		if (f->out_cap - f->out_len < 4096) {
			f->out_cap = f->out_cap * 2 + 8192;
			f->out = realloc(f->out, f->out_cap);
			assert_non_null(f->out);
		}
		ssize_t n = read(f->master, f->out + f->out_len, f->out_cap - f->out_len);
		if (n <= 0)
			break;
		f->out_len += (size_t)n;
	}
	for (; f->n_parsed < f->out_len; f->n_parsed++)
		screen_byte(&f->screen, (uint8_t)f->out[f->n_parsed]);
}

/* One loop round (at most a tick long), then whatever the editor drew. */
static void pump(struct fx *f)
{
	(void)uv_run(&f->loop, UV_RUN_ONCE);
	if (f->master >= 0)
		drain_master(f);
}

static void type_bytes(struct fx *f, const char *bytes, size_t n)
{
	size_t off = 0;
	for (int round = 0; off < n && round < WAIT_ROUNDS; round++) {
		ssize_t w = write(f->master, bytes + off, n - off);
		if (w > 0)
			off += (size_t)w;
		else
			assert_true(w < 0 && (errno == EAGAIN || errno == EINTR));
		if (off < n)
			pump(f);
	}
	assert_int_equal(off, n);
}

static void type_str(struct fx *f, const char *s)
{
	type_bytes(f, s, strlen(s));
}

static void wait_lines(struct fx *f, size_t n)
{
	for (int round = 0; f->n_lines < n && round < WAIT_ROUNDS; round++)
		pump(f);
	assert_int_equal(f->n_lines, n);
}

/*
 * Waits until the row above the cursor's reads above (unless NULL) and the
 * cursor's row reads want, with the cursor at column col.
 */
static void wait_rows(struct fx *f, const char *above, const char *want, size_t col)
{
	char buf[SCREEN_COLS * 4 + 1], buf_above[SCREEN_COLS * 4 + 1];
	for (int round = 0; round < WAIT_ROUNDS; round++) {
		if (strcmp(screen_row(&f->screen, 0, buf, sizeof(buf)), want) == 0 &&
		    f->screen.col == col &&
		    (above == NULL ||
		     strcmp(screen_row(&f->screen, -1, buf_above, sizeof(buf_above)), above) == 0))
			return;
		pump(f);
	}
	if (above != NULL)
		assert_string_equal(screen_row(&f->screen, -1, buf_above, sizeof(buf_above)),
		                    above);
	assert_string_equal(screen_row(&f->screen, 0, buf, sizeof(buf)), want);
	assert_int_equal(f->screen.col, col);
}

static void wait_screen(struct fx *f, const char *want, size_t col)
{
	wait_rows(f, NULL, want, col);
}

static void set_cols(struct fx *f, unsigned short cols)
{
	struct winsize ws = {.ws_row = SCREEN_VISIBLE, .ws_col = cols};
	assert_int_equal(ioctl(f->master, TIOCSWINSZ, &ws), 0);
	f->screen.cols = cols;
}

static int open_pty(struct fx *f)
{
	f->master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(f->master >= 0);
	assert_int_equal(grantpt(f->master), 0);
	assert_int_equal(unlockpt(f->master), 0);
	const char *name = ptsname(f->master);
	assert_non_null(name);
	f->slave = open(name, O_RDWR | O_NOCTTY);
	assert_true(f->slave >= 0);
	int fl = fcntl(f->master, F_GETFL);
	assert_int_equal(fcntl(f->master, F_SETFL, fl | O_NONBLOCK), 0);
	set_cols(f, 80);
	assert_int_equal(tcgetattr(f->slave, &f->before), 0);
	f->before_fl = fcntl(f->slave, F_GETFL);
	return 0;
}

static int setup_loop(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->master = f->slave = -1;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->tick), 0);
	assert_int_equal(uv_timer_start(&f->tick, on_tick, TICK_MS, TICK_MS), 0);
	*state = f;
	return 0;
}

static int setup_pty(void **state)
{
	setup_loop(state);
	return open_pty(*state);
}

static struct term_callbacks callbacks(struct fx *f)
{
	return (struct term_callbacks){
	        .on_line = on_line, .on_eof = on_eof, .on_interrupt = on_interrupt, .user = f};
}

/* Starts the editor on the pty and waits for its first prompt. */
static void start_tty(struct fx *f)
{
	struct term_callbacks cb = callbacks(f);
	assert_int_equal(term_new(&f->loop, f->slave, f->slave, &f->cfg, &cb, &f->term), SOTTO_OK);
	assert_true(term_is_tty(f->term));
}

/* Frees the term and lets the loop run its close callbacks. */
static void stop_term(struct fx *f)
{
	term_free(f->term);
	f->term = NULL;
	for (int round = 0; round < 10; round++)
		(void)uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void assert_termios_equal(const struct termios *a, const struct termios *b)
{
	assert_int_equal(a->c_iflag, b->c_iflag);
	assert_int_equal(a->c_oflag, b->c_oflag);
	assert_int_equal(a->c_cflag, b->c_cflag);
	assert_int_equal(a->c_lflag, b->c_lflag);
	assert_memory_equal(a->c_cc, b->c_cc, sizeof(a->c_cc));
	assert_int_equal(cfgetispeed(a), cfgetispeed(b));
	assert_int_equal(cfgetospeed(a), cfgetospeed(b));
}

static void remove_dir(struct fx *f)
{
	if (f->dir[0] == '\0')
		return;
	char cmd[128];
	static const char *const NAMES[] = {"history", "history.tmp", "input"};
	for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
		assert_true(snprintf(cmd, sizeof(cmd), "%s/%s", f->dir, NAMES[i]) > 0);
		(void)unlink(cmd);
	}
	(void)rmdir(f->dir);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	stop_term(f);
	if (f->slave >= 0) {
		struct termios after;
		assert_int_equal(tcgetattr(f->slave, &after), 0);
		assert_termios_equal(&f->before, &after);
		assert_int_equal(fcntl(f->slave, F_GETFL), f->before_fl);
		(void)close(f->slave);
	}
	if (f->master >= 0)
		(void)close(f->master);
	uv_close((uv_handle_t *)&f->tick, NULL);
	(void)uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (size_t i = 0; i < LINES_MAX; i++)
		free(f->lines[i]);
	remove_dir(f);
	free(f->out);
	free(f);
	return 0;
}

static void make_dir(struct fx *f)
{
	memcpy(f->dir, "/tmp/sotto-term-XXXXXX", sizeof("/tmp/sotto-term-XXXXXX"));
	assert_non_null(mkdtemp(f->dir));
}

/* ---------------------------------------------------------------------------
 * TTY mode: typing and editing.
 */

static void term__delivers_line__when_enter_pressed(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	wait_screen(f, ">", 2);
	type_str(f, "hello");
	wait_screen(f, "> hello", 7);
	type_str(f, "\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "hello");
	assert_int_equal(len_at(f, 0), 5);
	wait_screen(f, ">", 2); /* the prompt is empty again */
	assert_false(f->has_bad_line);
}

static void term__inserts_at_cursor__when_left_arrow_then_typing(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "helo\x1b[Dl");
	wait_screen(f, "> hello", 6);
	type_str(f, "\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "hello");
}

static void term__moves_and_deletes__with_home_end_delete_keys(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	/* Home and End in their common spellings, then Right, Delete and Ctrl-D. */
	type_str(f, "world\x1b[Hhello \x1b[F!\r");
	type_str(f, "bc\x01"
	            "a\x05"
	            "d\x1bOH\x1b[C\x1b[3~X\r");
	type_str(f, "xyz\x1b[1~\x04\x1b[4~\x02\x02\x06_\r");
	wait_lines(f, 3);
	assert_string_equal(line_at(f, 0), "hello world!");
	assert_string_equal(line_at(f, 1), "aXcd");
	assert_string_equal(line_at(f, 2), "y_z");
	assert_int_equal(f->n_eof, 0);
}

static void term__kills_word__when_ctrl_w(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "say hello world  \x17");
	wait_screen(f, "> say hello", 12);
	type_str(f, "there\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "say hello there");
}

static void term__kills_to_start_or_end__when_ctrl_u_or_ctrl_k(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "abc def\x1b[D\x1b[D\x15");
	wait_screen(f, "> ef", 2);
	type_str(f, "\r");
	type_str(f, "abcdef\x1b[D\x1b[D\x1b[D\x0b\r");
	wait_lines(f, 2);
	assert_string_equal(line_at(f, 0), "ef");
	assert_string_equal(line_at(f, 1), "abc");
}

static void term__recalls_history__when_up_and_down_arrows(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "one\rtwo\r");
	wait_lines(f, 2);
	type_str(f, "dra");
	type_str(f, "\x1b[A");
	wait_screen(f, "> two", 5);
	type_str(f, "\x1b[A");
	wait_screen(f, "> one", 5);
	type_str(f, "\x1b[A"); /* the oldest stays */
	wait_screen(f, "> one", 5);
	type_str(f, "\x1b[B");
	wait_screen(f, "> two", 5);
	type_str(f, "\x1b[B"); /* back to the draft */
	wait_screen(f, "> dra", 5);
	type_str(f, "\x15\x10\x10!\r"); /* Ctrl-P twice, edit the recalled line */
	wait_lines(f, 3);
	assert_string_equal(line_at(f, 2), "one!");
	type_str(f, "\x1bOA\r");
	wait_lines(f, 4);
	assert_string_equal(line_at(f, 3), "one!");
}

static void term__edits_code_points__when_input_is_multibyte_utf8(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	/* é is 2 bytes and 1 column, 中 3 bytes and 2 columns, 😀 4 bytes and 2 columns. */
	type_str(f, "h\xc3\xa9llo \xe4\xb8\xad\xf0\x9f\x98\x80");
	wait_screen(f, "> h\xc3\xa9llo \xe4\xb8\xad\xf0\x9f\x98\x80", 2 + 10);
	type_str(f, "\x1b[D");
	wait_screen(f, "> h\xc3\xa9llo \xe4\xb8\xad\xf0\x9f\x98\x80", 2 + 8);
	type_str(f, "\x7f"); /* removes 中 whole */
	wait_screen(f, "> h\xc3\xa9llo \xf0\x9f\x98\x80", 2 + 6);
	type_str(f, "\x01\x1b[C\x1b[C\x08X"); /* Ctrl-H removes é whole */
	wait_screen(f, "> hXllo \xf0\x9f\x98\x80", 2 + 2);
	/* A character split across two reads is put together again. */
	type_str(f, "\x05\xe4");
	for (int i = 0; i < 20; i++)
		pump(f);
	type_str(f, "\xb8\xad\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "hXllo \xf0\x9f\x98\x80\xe4\xb8\xad");
	assert_false(f->has_bad_line);
}

static void term__keeps_half_typed_input__when_print_arrives(void **state)
{
	struct fx *f = *state;
	char buf[SCREEN_COLS * 4 + 1];
	start_tty(f);
	type_str(f, "half typed\x1b[D\x1b[D\x1b[D");
	wait_screen(f, "> half typed", 9);
	assert_int_equal(term_print(f->term, "alice: hello there", 18), SOTTO_OK);
	assert_int_equal(term_print(f->term, "bob: one\ntwo", 12), SOTTO_OK);
	wait_rows(f, "two", "> half typed", 9);
	assert_string_equal(screen_row(&f->screen, -1, buf, sizeof(buf)), "two");
	assert_string_equal(screen_row(&f->screen, -2, buf, sizeof(buf)), "bob: one");
	assert_string_equal(screen_row(&f->screen, -3, buf, sizeof(buf)), "alice: hello there");
	type_str(f, "\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "half typed");

	/* And typing goes on where the cursor was. */
	type_str(f, "abcd\x1b[D\x1b[D");
	wait_screen(f, "> abcd", 4);
	assert_int_equal(term_print(f->term, "carol: hi", 9), SOTTO_OK);
	type_str(f, "X\r");
	wait_lines(f, 2);
	assert_string_equal(line_at(f, 1), "abXcd");
}

static void term__drops_control_sequences__when_printing_untrusted_text(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "draft");
	wait_screen(f, "> draft", 7);
	/* The screen model fails the test on any sequence the editor does not emit itself. */
	static const char EVIL[] = "\x1b]0;owned\x07\x1b[2J\x9b"
	                           "31mred\r\x08\x7f\xc2\x9b"
	                           "1A\xff!";
	assert_int_equal(term_print(f->term, EVIL, sizeof(EVIL) - 1), SOTTO_OK);
	wait_rows(f,
	          "]0;owned[2J\xef\xbf\xbd"
	          "31mred1A\xef\xbf\xbd!",
	          "> draft", 7);
	assert_int_equal(f->screen.n_bells, 0);
}

static void term__calls_on_interrupt__when_ctrl_c(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "abc\x03");
	wait_screen(f, ">", 2);
	assert_int_equal(f->n_interrupt, 1);
	type_str(f, "d\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "d");
	assert_int_equal(f->n_eof, 0);
}

static void term__calls_on_eof__when_ctrl_d_on_empty_line(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "ab\x1b[D\x04\x04"); /* deletes b; the second Ctrl-D has nothing under it */
	wait_screen(f, "> a", 3);
	assert_int_equal(f->n_eof, 0);
	type_str(f, "\x15\x04");
	for (int round = 0; f->n_eof == 0 && round < WAIT_ROUNDS; round++)
		pump(f);
	assert_int_equal(f->n_eof, 1);
	assert_int_equal(f->n_lines, 0);
}

static void term__delivers_each_line__when_many_lines_pasted_at_once(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	/* CR, CR LF and LF each end one line; Tab becomes a space. */
	type_str(f, "one\rtwo\r\nthree\nfour\tfive\r");
	wait_lines(f, 4);
	assert_string_equal(line_at(f, 0), "one");
	assert_string_equal(line_at(f, 1), "two");
	assert_string_equal(line_at(f, 2), "three");
	assert_string_equal(line_at(f, 3), "four five");
}

static void term__ignores_unknown_sequences__when_mixed_with_text(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f,
	         "ab\x1b[99Z\x1b[200~cd\x1b[1;5C\x1b[?25h\x1bOP\x1b[15~ef\x1b\x1b[Dg\x1b[24;80R\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "abcdegf");
}

static void term__refuses_input_with_bell__when_line_exceeds_limit(void **state)
{
	struct fx *f = *state;
	char *big = malloc(TERM_LINE_MAX + 100);
	assert_non_null(big);
	start_tty(f);
	memset(big, 'x', TERM_LINE_MAX + 100);
	type_bytes(f, big, TERM_LINE_MAX + 100);
	type_str(f, "\r");
	wait_lines(f, 1);
	assert_int_equal(len_at(f, 0), TERM_LINE_MAX);
	for (size_t i = 0; i < TERM_LINE_MAX; i++)
		assert_int_equal(line_at(f, 0)[i], 'x');
	assert_true(f->screen.n_bells >= 1);

	/* Two-byte characters: exactly half as many fit, and one more is refused whole. */
	for (size_t i = 0; i < TERM_LINE_MAX / 2 + 1; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	type_bytes(f, big, TERM_LINE_MAX + 2);
	type_str(f, "\r");
	wait_lines(f, 2);
	assert_int_equal(len_at(f, 1), TERM_LINE_MAX);
	assert_false(f->has_bad_line);
	free(big);
}

static void term__scrolls_horizontally__when_line_is_wider_than_terminal(void **state)
{
	struct fx *f = *state;
	char buf[SCREEN_COLS * 4 + 1];
	set_cols(f, 20);
	start_tty(f);
	/* 20 columns: the prompt takes 2, the last column stays free, 17 are left. */
	type_str(f, "abcdefghijklmnopqrstuvwxyz");
	wait_screen(f, "> klmnopqrstuvwxyz", 18);
	type_str(f, "\x01");
	wait_screen(f, "> abcdefghijklmnopq", 2);
	type_str(f, "\x05");
	wait_screen(f, "> klmnopqrstuvwxyz", 18);
	type_str(f, "\x1b[D\x1b[D"); /* inside the window: it does not move */
	wait_screen(f, "> klmnopqrstuvwxyz", 16);
	assert_string_equal(screen_row(&f->screen, 1, buf, sizeof(buf)), ""); /* no wrap */

	/* The window widens: the whole line fits again. */
	set_cols(f, 40);
	assert_int_equal(kill(getpid(), SIGWINCH), 0);
	wait_screen(f, "> abcdefghijklmnopqrstuvwxyz", 26);
	type_str(f, "\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "abcdefghijklmnopqrstuvwxyz");
}

static void term__redraws_prompt__when_prompt_changes_or_ctrl_l(void **state)
{
	struct fx *f = *state;
	start_tty(f);
	type_str(f, "text\x1b[D");
	wait_screen(f, "> text", 5);
	assert_int_equal(term_set_prompt(f->term, "[alice] "), SOTTO_OK);
	wait_screen(f, "[alice] text", 11);
	for (int i = 0; i < 5; i++)
		assert_int_equal(term_print(f->term, "line", 4), SOTTO_OK);
	wait_rows(f, "line", "[alice] text", 11);
	assert_int_equal(f->screen.row, 5);
	type_str(f, "\x0c");
	for (int round = 0; f->screen.row != 0 && round < WAIT_ROUNDS; round++)
		pump(f);
	assert_int_equal(f->screen.row, 0); /* drawn at the top of a cleared screen */
	wait_screen(f, "[alice] text", 11);
	char *long_prompt = malloc(TERM_PROMPT_MAX + 2);
	assert_non_null(long_prompt);
	memset(long_prompt, 'p', TERM_PROMPT_MAX + 1);
	long_prompt[TERM_PROMPT_MAX + 1] = '\0';
	assert_int_equal(term_set_prompt(f->term, long_prompt), SOTTO_ERR_INVALID);
	free(long_prompt);
	type_str(f, "\r");
	wait_lines(f, 1);
	assert_string_equal(line_at(f, 0), "text");
}

/* xorshift64: a fixed stream of "random" bytes, the same on every run. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void term__survives__when_fed_garbage_bytes(void **state)
{
	struct fx *f = *state;
	enum { GARBAGE_LEN = 64 * 1024 };
	uint8_t *junk = malloc(GARBAGE_LEN);
	uint64_t seed = 0x5eed5eed5eedULL;
	assert_non_null(junk);
	start_tty(f);
	for (size_t i = 0; i < GARBAGE_LEN; i++) {
		uint64_t r = next_rand(&seed);
		/* Mostly ESC, '[', 'O', digits and high bytes, to reach deep into the decoders. */
		static const uint8_t PICKS[] = {0x1b, '[',  'O',  '1',  ';', '~', 0xc3, 0xe4,
		                                0xf0, 0x80, 0xbf, 0xff, 'A', 'D', 0x7f, 0x17};
		junk[i] = (r & 1) ? PICKS[(r >> 1) % sizeof(PICKS)] : (uint8_t)(r >> 8);
	}
	type_bytes(f, (const char *)junk, GARBAGE_LEN);
	/* Whatever state that left: end of line, kill it all, type, Enter. */
	type_str(f, "\x05\x15ok\r");
	for (int round = 0; round < WAIT_ROUNDS; round++) {
		if (f->n_lines > 0 && strcmp(line_at(f, f->n_lines - 1), "ok") == 0)
			break;
		pump(f);
	}
	assert_true(f->n_lines > 0);
	assert_string_equal(line_at(f, f->n_lines - 1), "ok");
	assert_false(f->has_bad_line);

	/* Invalid UTF-8 of every kind becomes U+FFFD and nothing else. */
	size_t n = f->n_lines;
	type_str(f, "\xff\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xe4\xb8\r");
	wait_lines(f, n + 1);
	assert_true(len_at(f, n) > 0 && len_at(f, n) % 3 == 0);
	for (size_t i = 0; i < len_at(f, n); i += 3)
		assert_memory_equal(line_at(f, n) + i, "\xef\xbf\xbd", 3);
	free(junk);
}

/* ---------------------------------------------------------------------------
 * History file.
 */

static void term__saves_history_file_0600__and_loads_it_back(void **state)
{
	struct fx *f = *state;
	char path[128];
	struct stat st;
	make_dir(f);
	assert_true(snprintf(path, sizeof(path), "%s/history", f->dir) > 0);
	f->cfg.history_path = path;
	f->cfg.history_max = 2;
	start_tty(f);
	type_str(f, "first\rsecond\rthird\r");
	wait_lines(f, 3);
	stop_term(f);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	size_t len = 0;
	char content[64] = {0};
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	ssize_t n = read(fd, content, sizeof(content) - 1);
	assert_true(n > 0);
	len = (size_t)n;
	(void)close(fd);
	assert_int_equal(len, strlen("second\nthird\n"));
	assert_string_equal(content, "second\nthird\n");

	start_tty(f);
	type_str(f, "\x1b[A\x1b[A\x1b[A\r");
	wait_lines(f, 4);
	assert_string_equal(line_at(f, 3), "second");
}

static void term__rejects_config__when_history_max_too_large(void **state)
{
	struct fx *f = *state;
	struct term_callbacks cb = callbacks(f);
	struct term *t = (struct term *)1;
	f->cfg.history_max = TERM_HISTORY_MAX + 1;
	assert_int_equal(term_new(&f->loop, f->slave, f->slave, &f->cfg, &cb, &t),
	                 SOTTO_ERR_INVALID);
	assert_null(t);
	f->cfg.history_max = 0;
	assert_int_equal(term_new(&f->loop, -1, f->slave, &f->cfg, &cb, &t), SOTTO_ERR_INVALID);
	assert_null(t);
}

/* ---------------------------------------------------------------------------
 * Restoring the terminal.
 */

static void term__restores_terminal__after_free(void **state)
{
	struct fx *f = *state;
	struct termios during, after;
	start_tty(f);
	assert_int_equal(tcgetattr(f->slave, &during), 0);
	assert_true((during.c_lflag & (ICANON | ECHO | ISIG)) == 0);
	assert_true(fcntl(f->slave, F_GETFL) & O_NONBLOCK);
	/* A second editor on a terminal at the same time is refused. */
	struct term_callbacks cb = callbacks(f);
	struct term *second = NULL;
	assert_int_equal(term_new(&f->loop, f->slave, f->slave, NULL, &cb, &second),
	                 SOTTO_ERR_BUSY);
	assert_null(second);
	stop_term(f);
	assert_int_equal(tcgetattr(f->slave, &after), 0);
	assert_termios_equal(&f->before, &after);
	assert_int_equal(fcntl(f->slave, F_GETFL), f->before_fl);
	/* ... and after term_free, a new one may start. */
	start_tty(f);
}

enum child_end {
	END_SIGTERM = 1, /* killed by the parent */
	END_EXIT,        /* calls exit(0) without term_free */
	END_ABORT,       /* calls abort() */
};

/* The path of this program, for the children to exec. */
static const char *self_path;

/* Kept in static storage so that leak checkers see them reachable at exit(). */
static uv_loop_t child_loop;
static struct term *child_term;

static int parse_fd(const char *s)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	return (*s != '\0' && *end == '\0' && v >= 0 && v < 1024) ? (int)v : -1;
}

/*
 * The child, a fresh exec of this program ("--child END SLAVE READY GO"): an
 * editor on the slave; tells the parent, waits for "go" (or a signal), ends
 * as END says. Exit codes above 100 name the step that failed.
 */
static int run_child(char **argv)
{
	struct rlimit no_core = {0, 0};
	struct term_callbacks cb = {0};
	int end = parse_fd(argv[2]), slave = parse_fd(argv[3]);
	int ready_fd = parse_fd(argv[4]), go_fd = parse_fd(argv[5]);
	char c = 0;
	if (end < 0 || slave < 0 || ready_fd < 0 || go_fd < 0)
		return 104;
	(void)setrlimit(RLIMIT_CORE, &no_core);
	if (uv_loop_init(&child_loop) != 0 ||
	    term_new(&child_loop, slave, slave, NULL, &cb, &child_term) != SOTTO_OK)
		return 100;
	if (write(ready_fd, "r", 1) != 1)
		return 101;
	if (end == END_SIGTERM) {
		(void)uv_run(&child_loop, UV_RUN_DEFAULT);
		return 102;
	}
	if (read(go_fd, &c, 1) != 1)
		return 103;
	if (end == END_ABORT)
		abort();
	exit(0);
}

static void check_child_restores(struct fx *f, enum child_end end, int want_sig)
{
	int ready[2], go[2], status = 0;
	struct termios during, after;
	char c = 0;
	struct pollfd pfd;
	char args[4][16];
	assert_int_equal(pipe(ready), 0);
	assert_int_equal(pipe(go), 0);
	assert_true(snprintf(args[0], sizeof(args[0]), "%d", (int)end) > 0);
	assert_true(snprintf(args[1], sizeof(args[1]), "%d", f->slave) > 0);
	assert_true(snprintf(args[2], sizeof(args[2]), "%d", ready[1]) > 0);
	assert_true(snprintf(args[3], sizeof(args[3]), "%d", go[0]) > 0);
	char *child_argv[] = {(char *)self_path, "--child", args[0], args[1],
	                      args[2],           args[3],   NULL};
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		(void)close(ready[0]);
		(void)close(go[1]);
		execv(self_path, child_argv);
		_exit(105);
	}
	(void)close(ready[1]);
	(void)close(go[0]);
	pfd = (struct pollfd){.fd = ready[0], .events = POLLIN};
	assert_int_equal(poll(&pfd, 1, 30000), 1);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(tcgetattr(f->slave, &during), 0);
	assert_true((during.c_lflag & (ICANON | ECHO)) == 0); /* the child made it raw */
	if (end == END_SIGTERM)
		assert_int_equal(kill(pid, SIGTERM), 0);
	else
		assert_int_equal(write(go[1], "g", 1), 1);
	pid_t done = 0;
	for (int round = 0; done == 0 && round < WAIT_ROUNDS; round++) {
		done = waitpid(pid, &status, WNOHANG);
		if (done == 0) {
			struct timespec ts = {0, 2 * 1000 * 1000};
			(void)nanosleep(&ts, NULL);
			drain_master(f);
		}
	}
	if (done == 0) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		fail_msg("the child did not end");
	}
	if (want_sig != 0) {
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), want_sig);
	} else {
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(tcgetattr(f->slave, &after), 0);
	assert_termios_equal(&f->before, &after);
	assert_int_equal(fcntl(f->slave, F_GETFL), f->before_fl);
	(void)close(ready[0]);
	(void)close(go[1]);
}

static void term__restores_terminal__when_killed_by_sigterm(void **state)
{
	check_child_restores(*state, END_SIGTERM, SIGTERM);
}

static void term__restores_terminal__when_process_exits_without_free(void **state)
{
	check_child_restores(*state, END_EXIT, 0);
}

static void term__restores_terminal__when_process_aborts(void **state)
{
	check_child_restores(*state, END_ABORT, SIGABRT);
}

/* ---------------------------------------------------------------------------
 * Plain mode.
 */

static void read_all_nonblocking(int fd, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + *len, cap - 1 - *len);
		if (n <= 0)
			break;
		*len += (size_t)n;
	}
	buf[*len] = '\0';
}

static void term__delivers_plain_lines__when_input_is_pipe(void **state)
{
	struct fx *f = *state;
	int in[2], out[2];
	char buf[512];
	size_t len;
	struct term_callbacks cb = callbacks(f);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(fcntl(out[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(term_new(&f->loop, in[0], out[1], NULL, &cb, &f->term), SOTTO_OK);
	assert_false(term_is_tty(f->term));

	static const char INPUT[] = "first\nsecond\r\n\n\x1b[Athird\xff\tx\x03";
	assert_int_equal(write(in[1], INPUT, sizeof(INPUT) - 1), (ssize_t)(sizeof(INPUT) - 1));
	(void)close(in[1]);
	for (int round = 0; f->n_eof == 0 && round < WAIT_ROUNDS; round++)
		pump(f);
	assert_int_equal(f->n_eof, 1);
	assert_int_equal(f->n_lines, 4);
	assert_string_equal(line_at(f, 0), "first");
	assert_string_equal(line_at(f, 1), "second");
	assert_string_equal(line_at(f, 2), "");
	assert_string_equal(line_at(f, 3), "[Athird\xef\xbf\xbd x"); /* last line, no LF */
	assert_false(f->has_bad_line);

	assert_int_equal(term_print(f->term, "peer: hello", 11), SOTTO_OK);
	assert_int_equal(term_print(f->term, "\x1b[31mred\x1b[0m\x07", 13), SOTTO_OK);
	assert_int_equal(term_print(f->term, "a\nb", 3), SOTTO_OK);
	read_all_nonblocking(out[0], buf, sizeof(buf), &len);
	assert_string_equal(buf, "peer: hello\n[31mred[0m\na\nb\n");
	assert_int_equal(term_set_prompt(f->term, "ignored> "), SOTTO_OK);
	stop_term(f);
	/* Nothing at all is written for the prompt, on start or at the end. */
	read_all_nonblocking(out[0], buf, sizeof(buf), &len);
	assert_int_equal(len, 0);
	(void)close(in[0]);
	(void)close(out[0]);
	(void)close(out[1]);
}

static void term__cuts_plain_line__when_it_exceeds_limit(void **state)
{
	struct fx *f = *state;
	int in[2], out[2];
	struct term_callbacks cb = callbacks(f);
	char *big = malloc(TERM_LINE_MAX + 11);
	assert_non_null(big);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(term_new(&f->loop, in[0], out[1], NULL, &cb, &f->term), SOTTO_OK);
	memset(big, 'y', TERM_LINE_MAX + 10);
	big[TERM_LINE_MAX + 10] = '\n';
	size_t off = 0;
	for (int round = 0; off < TERM_LINE_MAX + 11 && round < WAIT_ROUNDS; round++) {
		ssize_t w = write(in[1], big + off, TERM_LINE_MAX + 11 - off);
		assert_true(w > 0);
		off += (size_t)w;
	}
	assert_int_equal(write(in[1], "next\n", 5), 5);
	(void)close(in[1]);
	for (int round = 0; f->n_eof == 0 && round < WAIT_ROUNDS; round++)
		pump(f);
	assert_int_equal(f->n_lines, 2);
	assert_int_equal(len_at(f, 0), TERM_LINE_MAX);
	assert_string_equal(line_at(f, 1), "next");
	stop_term(f);
	(void)close(in[0]);
	(void)close(out[0]);
	(void)close(out[1]);
	free(big);
}

static void term__reads_plain_lines__when_input_is_regular_file(void **state)
{
	struct fx *f = *state;
	char path[128];
	int out[2];
	struct term_callbacks cb = callbacks(f);
	make_dir(f);
	assert_true(snprintf(path, sizeof(path), "%s/input", f->dir) > 0);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "alpha\nbeta\n", 11), 11);
	(void)close(fd);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(term_new(&f->loop, fd, out[1], NULL, &cb, &f->term), SOTTO_OK);
	for (int round = 0; f->n_eof == 0 && round < WAIT_ROUNDS; round++)
		pump(f);
	assert_int_equal(f->n_eof, 1);
	assert_int_equal(f->n_lines, 2);
	assert_string_equal(line_at(f, 0), "alpha");
	assert_string_equal(line_at(f, 1), "beta");
	stop_term(f);
	(void)close(fd);
	(void)close(out[0]);
	(void)close(out[1]);
}

static void term__uses_plain_mode__when_output_is_not_terminal(void **state)
{
	struct fx *f = *state;
	int out[2];
	struct termios during;
	struct term_callbacks cb = callbacks(f);
	assert_int_equal(pipe(out), 0);
	assert_int_equal(term_new(&f->loop, f->slave, out[1], NULL, &cb, &f->term), SOTTO_OK);
	assert_false(term_is_tty(f->term));
	assert_int_equal(tcgetattr(f->slave, &during), 0);
	assert_termios_equal(&f->before, &during); /* the terminal was left as it was */
	stop_term(f);
	(void)close(out[0]);
	(void)close(out[1]);
}

int main(int argc, char **argv)
{
	self_path = argv[0];
	if (argc == 6 && strcmp(argv[1], "--child") == 0)
		return run_child(argv);
	const struct CMUnitTest tests[] = {
#define PTY_TEST(t)  cmocka_unit_test_setup_teardown(t, setup_pty, teardown)
#define LOOP_TEST(t) cmocka_unit_test_setup_teardown(t, setup_loop, teardown)
	        PTY_TEST(term__delivers_line__when_enter_pressed),
	        PTY_TEST(term__inserts_at_cursor__when_left_arrow_then_typing),
	        PTY_TEST(term__moves_and_deletes__with_home_end_delete_keys),
	        PTY_TEST(term__kills_word__when_ctrl_w),
	        PTY_TEST(term__kills_to_start_or_end__when_ctrl_u_or_ctrl_k),
	        PTY_TEST(term__recalls_history__when_up_and_down_arrows),
	        PTY_TEST(term__edits_code_points__when_input_is_multibyte_utf8),
	        PTY_TEST(term__keeps_half_typed_input__when_print_arrives),
	        PTY_TEST(term__drops_control_sequences__when_printing_untrusted_text),
	        PTY_TEST(term__calls_on_interrupt__when_ctrl_c),
	        PTY_TEST(term__calls_on_eof__when_ctrl_d_on_empty_line),
	        PTY_TEST(term__delivers_each_line__when_many_lines_pasted_at_once),
	        PTY_TEST(term__ignores_unknown_sequences__when_mixed_with_text),
	        PTY_TEST(term__refuses_input_with_bell__when_line_exceeds_limit),
	        PTY_TEST(term__scrolls_horizontally__when_line_is_wider_than_terminal),
	        PTY_TEST(term__redraws_prompt__when_prompt_changes_or_ctrl_l),
	        PTY_TEST(term__survives__when_fed_garbage_bytes),
	        PTY_TEST(term__saves_history_file_0600__and_loads_it_back),
	        PTY_TEST(term__rejects_config__when_history_max_too_large),
	        PTY_TEST(term__restores_terminal__after_free),
	        PTY_TEST(term__restores_terminal__when_killed_by_sigterm),
	        PTY_TEST(term__restores_terminal__when_process_exits_without_free),
	        PTY_TEST(term__restores_terminal__when_process_aborts),
	        LOOP_TEST(term__delivers_plain_lines__when_input_is_pipe),
	        LOOP_TEST(term__cuts_plain_line__when_it_exceeds_limit),
	        LOOP_TEST(term__reads_plain_lines__when_input_is_regular_file),
	        PTY_TEST(term__uses_plain_mode__when_output_is_not_terminal),
#undef PTY_TEST
#undef LOOP_TEST
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
