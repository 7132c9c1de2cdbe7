/* SPDX-License-Identifier: MIT */
/*
 * term.c - the terminal client's line editor (cmd/sotto); see term.h.
 *
 * Input path: bytes read from in_fd go through a small key decoder (ESC,
 * CSI and SS3 sequences, bounded at TERM_SEQ_MAX bytes) and, outside
 * sequences, through an incremental UTF-8 decoder that turns every invalid
 * or cut-short sequence into U+FFFD. Each code point is then a control key
 * or a character to insert; plain mode uses the same decoder and filter and
 * only reacts to LF.
 *
 * The line is kept as UTF-8 in a fixed TERM_LINE_MAX buffer, with the cursor
 * and the horizontal scroll offset as byte offsets that always sit on code
 * point boundaries (only whole, valid encodings are ever inserted, so
 * stepping over continuation bytes is enough to move by one code point).
 *
 * Output: everything drawn goes through a fixed buffer flushed with write();
 * a redraw is "CR, prompt, the visible slice, erase to end of line, CR,
 * cursor forward N", so the editor never needs to know its row on the screen
 * and a wrong column estimate cannot leave debris behind.
 *
 * Lifetime: the struct holds its libuv handles, so it is freed by the last
 * close callback (STYLE.md §5). term_free() sets is_closing first, and every
 * loop over input bytes stops as soon as it sees it, so a callback may free
 * the term in the middle of a paste.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "term.h"

enum {
	TERM_SEQ_MAX = 32,    /* bytes kept of one CSI sequence's parameters */
	TERM_READ_LEN = 4096, /* bytes read per readiness event */
	TERM_OUT_LEN = 8192,  /* bytes buffered before a write() */
	TERM_COLS_DEFAULT = 80,
	TERM_COLS_MAX = 1000, /* a wider report is clamped (bounds one redraw) */
	TERM_PROMPT_BUF = TERM_PROMPT_MAX + 4,
};

#define TERM_REPLACEMENT    0xFFFDu
#define TERM_DEFAULT_PROMPT "> "

enum term_keystate {
	KEY_GROUND = 0,
	KEY_ESC,
	KEY_CSI,
	KEY_SS3,
};

/* Incremental UTF-8 decoder: need continuation bytes still expected. */
struct term_utf8 {
	uint32_t cp;  /* bits collected so far */
	uint32_t min; /* smallest code point the lead byte may encode (overlongs) */
	uint8_t need; /* continuation bytes still expected */
};

struct term {
	uv_loop_t *loop;                    /* borrowed */
	int in_fd, out_fd;                  /* borrowed */
	bool is_tty;                        /* TTY mode (raw terminal) rather than plain mode */
	bool is_closing;                    /* term_free() ran; no more callbacks or output */
	bool is_reading;                    /* poll or idle handle started */
	bool has_poll, has_idle, has_winch; /* handles initialised (closed in term_free) */
	int n_handles;                      /* handles whose close callback has not run yet */
	uv_poll_t poll;                     /* in_fd readiness; data = this */
	uv_idle_t idle;                     /* plain mode on files epoll refuses; data = this */
	uv_signal_t winch;                  /* SIGWINCH, TTY mode; data = this */
	struct term_callbacks cb;           /* copied */
	int saved_fl;         /* in_fd's file status flags before term_new; -1: unknown */
	struct termios saved; /* in_fd's terminal mode before term_new (TTY mode) */
	unsigned cols;        /* terminal width in columns */

	char prompt[TERM_PROMPT_BUF]; /* sanitised UTF-8, NUL-terminated */
	size_t prompt_len;            /* bytes */
	unsigned prompt_cols;         /* columns */

	enum term_keystate kstate;
	char seq[TERM_SEQ_MAX]; /* CSI parameter and intermediate bytes */
	size_t seq_len;         /* bytes in seq */
	bool is_seq_long;       /* the CSI sequence outgrew seq and is ignored */
	struct term_utf8 dec;
	bool last_was_cr; /* the previous key was CR: a LF right after is the same Enter */
	bool is_refused;  /* a key was refused during this read (one bell) */
	bool is_dirty;    /* the prompt line must be redrawn */
	bool has_partial; /* plain mode: bytes since the last LF */

	char line[TERM_LINE_MAX + 1]; /* UTF-8, NUL written before on_line */
	size_t len;                   /* bytes in line */
	size_t cursor;                /* byte offset, on a code point boundary */
	size_t scroll;                /* byte offset of the first code point shown */

	char **hist;        /* n_hist entries, oldest first, each malloc'd */
	size_t n_hist;      /* entries */
	size_t hist_max;    /* bound on n_hist */
	size_t hist_pos;    /* entry shown while browsing; n_hist: not browsing */
	char *draft;        /* the line being typed before browsing began; owned */
	char *history_path; /* owned; NULL: no file */

	char out[TERM_OUT_LEN]; /* pending output */
	size_t out_len;         /* bytes in out */
	sotto_err out_err;      /* first write failure; later output is dropped */
};

/* ---------------------------------------------------------------------------
 * Restoring the terminal from signal handlers and atexit().
 *
 * Handlers can reach only globals, so the one raw terminal's saved mode lives
 * here. Every field is written before is_active is set and only read while
 * it is set; the handlers use only async-signal-safe calls (tcsetattr,
 * fcntl, sigaction, raise, write).
 */

/* Killed by default; guarded only while that is still true at term_new. */
static const int GUARD_TERM_SIGNALS[] = {SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM};
/* Crashes; guarded unless ignored, then passed on to the previous handler. */
static const int GUARD_CRASH_SIGNALS[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};

enum {
	GUARD_N_TERM = sizeof(GUARD_TERM_SIGNALS) / sizeof(GUARD_TERM_SIGNALS[0]),
	GUARD_N = GUARD_N_TERM + sizeof(GUARD_CRASH_SIGNALS) / sizeof(GUARD_CRASH_SIGNALS[0]),
};

static struct {
	volatile sig_atomic_t is_active; /* a terminal is raw and must be restored */
	int fd;                          /* the raw terminal */
	struct termios saved;            /* its mode before */
	int saved_fl;                    /* its file status flags before */
	bool has_atexit;                 /* the atexit hook is registered */
	bool is_installed[GUARD_N];      /* our handler was installed for that signal */
	struct sigaction old[GUARD_N];   /* the action ours replaced */
} guard;

static int guard_signal(size_t i)
{
	return i < GUARD_N_TERM ? GUARD_TERM_SIGNALS[i] : GUARD_CRASH_SIGNALS[i - GUARD_N_TERM];
}

static void guard_restore(void)
{
	if (!guard.is_active)
		return;
	guard.is_active = 0;
	(void)tcsetattr(guard.fd, TCSANOW, &guard.saved);
	(void)fcntl(guard.fd, F_SETFL, guard.saved_fl);
	/* Leave the shell's prompt a clean line to start on. */
	(void)!write(guard.fd, "\r\n", 2);
}

static void guard_at_exit(void)
{
	guard_restore();
}

/*
 * Restores the terminal, puts the previous action back and lets it run: a
 * fault raised by the hardware simply happens again when this returns (so
 * the previous handler sees the real siginfo); anything else is re-raised,
 * stays blocked until this returns, and then takes the previous action.
 */
static void guard_on_signal(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	(void)uctx;
	guard_restore();
	for (size_t i = 0; i < GUARD_N; i++) {
		if (guard_signal(i) != sig || !guard.is_installed[i])
			continue;
		(void)sigaction(sig, &guard.old[i], NULL);
		guard.is_installed[i] = false;
	}
	bool is_fault = sig != SIGABRT && info != NULL && info->si_code > 0;
	if (!is_fault)
		(void)raise(sig);
	errno = saved_errno;
}

static void guard_install(void)
{
	for (size_t i = 0; i < GUARD_N; i++) {
		int sig = guard_signal(i);
		struct sigaction cur;
		guard.is_installed[i] = false;
		if (sigaction(sig, NULL, &cur) != 0)
			continue;
		bool is_default = !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL;
		bool is_ignored = !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_IGN;
		if (i < GUARD_N_TERM ? !is_default : is_ignored)
			continue;
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = guard_on_signal;
		sa.sa_flags = SA_SIGINFO;
		sigemptyset(&sa.sa_mask);
		guard.old[i] = cur;
		if (sigaction(sig, &sa, NULL) == 0)
			guard.is_installed[i] = true;
	}
}

/* Puts back every action of ours still in place; one replaced since is left alone. */
static void guard_uninstall(void)
{
	for (size_t i = 0; i < GUARD_N; i++) {
		struct sigaction cur;
		if (!guard.is_installed[i])
			continue;
		guard.is_installed[i] = false;
		if (sigaction(guard_signal(i), NULL, &cur) != 0)
			continue;
		if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == guard_on_signal)
			(void)sigaction(guard_signal(i), &guard.old[i], NULL);
	}
}

/* ---------------------------------------------------------------------------
 * UTF-8 and display width.
 */

/*
 * Feeds one byte; writes 0, 1 or 2 code points to out and returns how many.
 * Two when a sequence is cut short by a byte that starts something new: the
 * U+FFFD for the broken sequence, then that byte's own result.
 */
static size_t utf8_feed(struct term_utf8 *d, uint8_t b, uint32_t out[static 2])
{
	size_t n = 0;
	if (d->need > 0) {
		if ((b & 0xC0) == 0x80) {
			d->cp = (d->cp << 6) | (b & 0x3Fu);
			if (--d->need > 0)
				return 0;
			bool is_bad = d->cp < d->min || d->cp > 0x10FFFF ||
			              (d->cp >= 0xD800 && d->cp <= 0xDFFF);
			out[0] = is_bad ? TERM_REPLACEMENT : d->cp;
			return 1;
		}
		d->need = 0;
		out[n++] = TERM_REPLACEMENT;
	}
	if (b < 0x80) {
		out[n++] = b;
	} else if (b >= 0xC2 && b <= 0xDF) {
		*d = (struct term_utf8){.cp = b & 0x1Fu, .min = 0x80, .need = 1};
	} else if (b >= 0xE0 && b <= 0xEF) {
		*d = (struct term_utf8){.cp = b & 0x0Fu, .min = 0x800, .need = 2};
	} else if (b >= 0xF0 && b <= 0xF4) {
		*d = (struct term_utf8){.cp = b & 0x07u, .min = 0x10000, .need = 3};
	} else {
		out[n++] = TERM_REPLACEMENT;
	}
	return n;
}

/* Ends the input: a sequence left open becomes U+FFFD. */
static bool utf8_finish(struct term_utf8 *d)
{
	bool was_open = d->need > 0;
	d->need = 0;
	return was_open;
}

/* Encodes a valid code point; returns its length (1 to 4). */
static size_t utf8_encode(uint32_t cp, char out[static 4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Decodes the code point at s (valid UTF-8, as every line and prompt is). */
static uint32_t utf8_at(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;
	if (p[0] < 0x80)
		return p[0];
	if (p[0] < 0xE0)
		return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
	if (p[0] < 0xF0)
		return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
	return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
	       (p[3] & 0x3Fu);
}

/* Characters that may enter a line or be printed: no C0, DEL or C1 controls. */
static bool cp_is_printable(uint32_t cp)
{
	return cp >= 0x20 && !(cp >= 0x7F && cp <= 0x9F);
}

struct cp_range {
	uint32_t lo, hi;
};

/* Combining marks, joiners, directional marks and variation selectors (common blocks). */
static const struct cp_range WIDTH_ZERO[] = {
        {0x0300, 0x036F}, {0x0483, 0x0489},   {0x0591, 0x05BD}, {0x05BF, 0x05BF}, {0x05C1, 0x05C2},
        {0x05C4, 0x05C5}, {0x05C7, 0x05C7},   {0x0610, 0x061A}, {0x061C, 0x061C}, {0x064B, 0x065F},
        {0x0670, 0x0670}, {0x06D6, 0x06DC},   {0x06DF, 0x06E4}, {0x06E7, 0x06E8}, {0x06EA, 0x06ED},
        {0x0E31, 0x0E31}, {0x0E34, 0x0E3A},   {0x0E47, 0x0E4E}, {0x1160, 0x11FF}, {0x1AB0, 0x1AFF},
        {0x1DC0, 0x1DFF}, {0x200B, 0x200F},   {0x202A, 0x202E}, {0x2060, 0x2064}, {0x2066, 0x206F},
        {0x20D0, 0x20FF}, {0x302A, 0x302D},   {0x3099, 0x309A}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F},
        {0xFEFF, 0xFEFF}, {0xE0000, 0xE0FFF},
};

/* East Asian Wide and Fullwidth, and emoji presented as two columns. */
static const struct cp_range WIDTH_TWO[] = {
        {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x23E9, 0x23EC},
        {0x23F0, 0x23F0},   {0x23F3, 0x23F3},   {0x25FD, 0x25FE},   {0x2614, 0x2615},
        {0x2648, 0x2653},   {0x267F, 0x267F},   {0x2693, 0x2693},   {0x26A1, 0x26A1},
        {0x26AA, 0x26AB},   {0x26BD, 0x26BE},   {0x26C4, 0x26C5},   {0x26CE, 0x26CE},
        {0x26D4, 0x26D4},   {0x26EA, 0x26EA},   {0x26F2, 0x26F3},   {0x26F5, 0x26F5},
        {0x26FA, 0x26FA},   {0x26FD, 0x26FD},   {0x2705, 0x2705},   {0x270A, 0x270B},
        {0x2728, 0x2728},   {0x274C, 0x274C},   {0x274E, 0x274E},   {0x2753, 0x2755},
        {0x2757, 0x2757},   {0x2795, 0x2797},   {0x27B0, 0x27B0},   {0x27BF, 0x27BF},
        {0x2B1B, 0x2B1C},   {0x2B50, 0x2B50},   {0x2B55, 0x2B55},   {0x2E80, 0x303E},
        {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
        {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
        {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
        {0x17000, 0x18CFF}, {0x1AFF0, 0x1B2FF}, {0x1F004, 0x1F004}, {0x1F0CF, 0x1F0CF},
        {0x1F18E, 0x1F18E}, {0x1F191, 0x1F19A}, {0x1F200, 0x1F202}, {0x1F210, 0x1F23B},
        {0x1F240, 0x1F248}, {0x1F250, 0x1F251}, {0x1F260, 0x1F265}, {0x1F300, 0x1F320},
        {0x1F32D, 0x1F335}, {0x1F337, 0x1F37C}, {0x1F37E, 0x1F393}, {0x1F3A0, 0x1F3CA},
        {0x1F3CF, 0x1F3D3}, {0x1F3E0, 0x1F3F0}, {0x1F3F4, 0x1F3F4}, {0x1F3F8, 0x1F43E},
        {0x1F440, 0x1F440}, {0x1F442, 0x1F4FC}, {0x1F4FF, 0x1F53D}, {0x1F54B, 0x1F54E},
        {0x1F550, 0x1F567}, {0x1F57A, 0x1F57A}, {0x1F595, 0x1F596}, {0x1F5A4, 0x1F5A4},
        {0x1F5FB, 0x1F64F}, {0x1F680, 0x1F6C5}, {0x1F6CC, 0x1F6CC}, {0x1F6D0, 0x1F6D2},
        {0x1F6D5, 0x1F6D7}, {0x1F6DC, 0x1F6DF}, {0x1F6EB, 0x1F6EC}, {0x1F6F4, 0x1F6FC},
        {0x1F7E0, 0x1F7EB}, {0x1F7F0, 0x1F7F0}, {0x1F90C, 0x1F93A}, {0x1F93C, 0x1F945},
        {0x1F947, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static bool cp_in(uint32_t cp, const struct cp_range *r, size_t n)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Columns a printable code point takes: 0, 1 or 2. */
static unsigned cp_width(uint32_t cp)
{
	if (cp < 0x300)
		return 1;
	if (cp_in(cp, WIDTH_ZERO, sizeof(WIDTH_ZERO) / sizeof(WIDTH_ZERO[0])))
		return 0;
	if (cp_in(cp, WIDTH_TWO, sizeof(WIDTH_TWO) / sizeof(WIDTH_TWO[0])))
		return 2;
	return 1;
}

static size_t next_cp(const char *s, size_t len, size_t pos)
{
	if (pos >= len)
		return len;
	pos++;
	while (pos < len && ((uint8_t)s[pos] & 0xC0) == 0x80)
		pos++;
	return pos;
}

static size_t prev_cp(const char *s, size_t pos)
{
	if (pos == 0)
		return 0;
	pos--;
	while (pos > 0 && ((uint8_t)s[pos] & 0xC0) == 0x80)
		pos--;
	return pos;
}

/* Columns of s[from, to), counting no further than past limit. */
static unsigned width_of(const char *s, size_t from, size_t to, unsigned limit)
{
	unsigned w = 0;
	for (size_t p = from; p < to && w <= limit; p = next_cp(s, to, p))
		w += cp_width(utf8_at(s + p));
	return w;
}

/*
 * Copies src (len bytes of untrusted UTF-8) into dst (cap bytes, NUL
 * always written) keeping only printable code points, whole ones only;
 * returns the bytes written.
 */
static size_t sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	struct term_utf8 d = {0};
	size_t n = 0;
	for (size_t i = 0; i <= len; i++) {
		uint32_t cps[2];
		size_t k = 0;
		if (i < len)
			k = utf8_feed(&d, (uint8_t)src[i], cps);
		else if (utf8_finish(&d))
			cps[k++] = TERM_REPLACEMENT;
		for (size_t j = 0; j < k; j++) {
			char enc[4];
			if (!cp_is_printable(cps[j]))
				continue;
			size_t m = utf8_encode(cps[j], enc);
			if (n + m + 1 > cap)
				goto out;
			memcpy(dst + n, enc, m);
			n += m;
		}
	}
out:
	dst[n] = '\0';
	return n;
}

/* ---------------------------------------------------------------------------
 * Output.
 */

static sotto_err write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* Non-blocking (libuv set it on a shared description): wait like stdio. */
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return SOTTO_ERR_IO;
			continue;
		}
		return SOTTO_ERR_IO;
	}
	return SOTTO_OK;
}

static void out_flush(struct term *t)
{
	if (t->out_len > 0 && t->out_err == SOTTO_OK)
		t->out_err = write_all(t->out_fd, t->out, t->out_len);
	t->out_len = 0;
}

static void out_put(struct term *t, const char *p, size_t n)
{
	while (n > 0) {
		if (t->out_len == sizeof(t->out))
			out_flush(t);
		size_t k = sizeof(t->out) - t->out_len;
		if (k > n)
			k = n;
		memcpy(t->out + t->out_len, p, k);
		t->out_len += k;
		p += k;
		n -= k;
	}
}

static void out_str(struct term *t, const char *s)
{
	out_put(t, s, strlen(s));
}

/* Moves the cursor forward n columns (CSI n C), if n > 0. */
static void out_forward(struct term *t, unsigned n)
{
	char buf[16];
	int k;
	if (n == 0)
		return;
	k = snprintf(buf, sizeof(buf), "\x1b[%uC", n);
	if (k > 0 && (size_t)k < sizeof(buf))
		out_put(t, buf, (size_t)k);
}

/* ---------------------------------------------------------------------------
 * Drawing the prompt line (TTY mode).
 */

/*
 * Moves scroll so that the code point under the cursor (or the free column
 * after the end) is fully visible in avail columns, showing the line from its
 * start whenever everything up to the cursor fits.
 */
static void adjust_scroll(struct term *t, unsigned avail)
{
	unsigned wc = t->cursor < t->len ? cp_width(utf8_at(t->line + t->cursor)) : 1;
	if (wc == 0)
		wc = 1;
	if (t->scroll > t->cursor)
		t->scroll = t->cursor;
	if (width_of(t->line, 0, t->cursor, avail) + wc <= avail) {
		t->scroll = 0;
		return;
	}
	if (width_of(t->line, t->scroll, t->cursor, avail) + wc <= avail)
		return;
	size_t s = t->cursor;
	unsigned acc = wc;
	while (s > 0) {
		size_t p = prev_cp(t->line, s);
		unsigned w = cp_width(utf8_at(t->line + p));
		if (acc + w > avail)
			break;
		acc += w;
		s = p;
	}
	t->scroll = s;
}

/*
 * Redraws the prompt line. The last column stays empty: writing into it
 * leaves many terminals in a pending-wrap state where the next cursor motion
 * lands elsewhere.
 */
static void render(struct term *t)
{
	unsigned cols = t->cols < 2 ? 2 : t->cols;
	bool has_prompt = t->prompt_cols + 2 <= cols;
	unsigned pcols = has_prompt ? t->prompt_cols : 0;
	unsigned avail = cols - 1 - pcols;
	unsigned col = 0, cur_col = 0;
	size_t p;

	t->is_dirty = false;
	if (!t->is_tty || t->is_closing)
		return;
	adjust_scroll(t, avail);
	out_str(t, "\r");
	if (has_prompt)
		out_put(t, t->prompt, t->prompt_len);
	for (p = t->scroll; p < t->len; p = next_cp(t->line, t->len, p)) {
		unsigned w = cp_width(utf8_at(t->line + p));
		if (p == t->cursor)
			cur_col = col;
		if (col + w > avail)
			break;
		out_put(t, t->line + p, next_cp(t->line, t->len, p) - p);
		col += w;
	}
	if (p >= t->len && t->cursor == t->len)
		cur_col = col;
	out_str(t, "\x1b[K\r");
	out_forward(t, pcols + cur_col);
}

static void redraw_now(struct term *t)
{
	render(t);
	out_flush(t);
}

/* ---------------------------------------------------------------------------
 * Editing.
 */

static void line_delete(struct term *t, size_t from, size_t to)
{
	memmove(t->line + from, t->line + to, t->len - to);
	t->len -= to - from;
	if (t->cursor >= to)
		t->cursor -= to - from;
	else if (t->cursor > from)
		t->cursor = from;
	t->is_dirty = true;
}

/* Inserts a code point at the cursor; false when the line is full. */
static bool line_insert(struct term *t, uint32_t cp)
{
	char enc[4];
	size_t n = utf8_encode(cp, enc);
	if (t->len + n > TERM_LINE_MAX)
		return false;
	memmove(t->line + t->cursor + n, t->line + t->cursor, t->len - t->cursor);
	memcpy(t->line + t->cursor, enc, n);
	t->len += n;
	t->cursor += n;
	t->is_dirty = true;
	return true;
}

static void line_set(struct term *t, const char *s)
{
	size_t n = strlen(s);
	if (n > TERM_LINE_MAX)
		n = TERM_LINE_MAX;
	memcpy(t->line, s, n);
	t->len = n;
	t->cursor = n;
	t->scroll = 0;
	t->is_dirty = true;
}

static void kill_word(struct term *t)
{
	size_t p = t->cursor;
	while (p > 0 && t->line[p - 1] == ' ')
		p--;
	while (p > 0 && t->line[p - 1] != ' ')
		p = prev_cp(t->line, p);
	line_delete(t, p, t->cursor);
}

static void move_to(struct term *t, size_t pos)
{
	t->cursor = pos;
	t->is_dirty = true;
}

/* ---------------------------------------------------------------------------
 * History.
 */

static void hist_drop_draft(struct term *t)
{
	free(t->draft);
	t->draft = NULL;
	t->hist_pos = t->n_hist;
}

/* Appends a copy of s (len bytes) unless empty or equal to the newest entry. */
static sotto_err hist_add(struct term *t, const char *s, size_t len)
{
	char *copy = NULL;
	if (len == 0 || t->hist_max == 0)
		return SOTTO_OK;
	if (t->n_hist > 0 && strlen(t->hist[t->n_hist - 1]) == len &&
	    memcmp(t->hist[t->n_hist - 1], s, len) == 0)
		return SOTTO_OK;
	if ((copy = malloc(len + 1)) == NULL)
		return SOTTO_ERR_NOMEM;
	memcpy(copy, s, len);
	copy[len] = '\0';
	if (t->n_hist == t->hist_max) {
		free(t->hist[0]);
		memmove(t->hist, t->hist + 1, (t->n_hist - 1) * sizeof(t->hist[0]));
		t->n_hist--;
	}
	t->hist[t->n_hist++] = copy;
	copy = NULL; /* moved */
	return SOTTO_OK;
}

static void hist_prev(struct term *t)
{
	if (t->hist_pos == 0 || t->n_hist == 0)
		return;
	if (t->hist_pos == t->n_hist) {
		t->line[t->len] = '\0';
		if ((t->draft = malloc(t->len + 1)) == NULL)
			return;
		memcpy(t->draft, t->line, t->len + 1);
	}
	t->hist_pos--;
	line_set(t, t->hist[t->hist_pos]);
}

static void hist_next(struct term *t)
{
	if (t->hist_pos >= t->n_hist)
		return;
	t->hist_pos++;
	if (t->hist_pos < t->n_hist) {
		line_set(t, t->hist[t->hist_pos]);
		return;
	}
	line_set(t, t->draft != NULL ? t->draft : "");
	hist_drop_draft(t);
}

/*
 * Loads the history file: one entry per line, passed through the same filter
 * as typed input, the newest hist_max kept. A missing file is empty.
 */
static sotto_err hist_load(struct term *t)
{
	sotto_err rc = SOTTO_OK;
	char *buf = NULL, *raw = NULL;
	size_t raw_len = 0;
	int fd = open(t->history_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? SOTTO_OK : SOTTO_ERR_IO;
	if ((buf = malloc(TERM_READ_LEN)) == NULL || (raw = malloc(TERM_LINE_MAX + 1)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, TERM_READ_LEN);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = SOTTO_ERR_IO;
			goto out;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (raw_len < TERM_LINE_MAX)
					raw[raw_len++] = buf[i];
				continue;
			}
			size_t k = sanitize(t->line, sizeof(t->line), raw, raw_len);
			raw_len = 0;
			if ((rc = hist_add(t, t->line, k)) != SOTTO_OK)
				goto out;
		}
		if (n == 0)
			break;
	}
out:
	t->len = 0;
	t->hist_pos = t->n_hist;
	free(raw);
	free(buf);
	(void)close(fd);
	return rc;
}

sotto_err term_history_save(struct term *t)
{
	sotto_err rc = SOTTO_OK;
	char *tmp = NULL;
	int fd = -1;
	size_t path_len;

	if (t->history_path == NULL)
		return SOTTO_OK;
	path_len = strlen(t->history_path);
	if ((tmp = malloc(path_len + 5)) == NULL)
		return SOTTO_ERR_NOMEM;
	memcpy(tmp, t->history_path, path_len);
	memcpy(tmp + path_len, ".tmp", 5);
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	for (size_t i = 0; i < t->n_hist && rc == SOTTO_OK; i++) {
		if ((rc = write_all(fd, t->hist[i], strlen(t->hist[i]))) == SOTTO_OK)
			rc = write_all(fd, "\n", 1);
	}
	if (rc == SOTTO_OK && (fchmod(fd, 0600) != 0 || fsync(fd) != 0))
		rc = SOTTO_ERR_IO;
	if (close(fd) != 0 && rc == SOTTO_OK)
		rc = SOTTO_ERR_IO;
	fd = -1;
	if (rc == SOTTO_OK && rename(tmp, t->history_path) != 0)
		rc = SOTTO_ERR_IO;
out:
	if (rc != SOTTO_OK)
		(void)unlink(tmp);
	free(tmp);
	return rc;
}

/* ---------------------------------------------------------------------------
 * Keys (TTY mode).
 */

/* Enter: the line leaves the prompt (which is redrawn empty) for on_line. */
static void key_enter(struct term *t)
{
	size_t n = t->len;
	(void)hist_add(t, t->line, n); /* out of memory: the entry is not kept */
	hist_drop_draft(t);
	t->line[n] = '\0';
	t->len = 0;
	t->cursor = 0;
	t->scroll = 0;
	redraw_now(t);
	if (t->cb.on_line != NULL)
		t->cb.on_line(t->cb.user, t->line, n);
}

static void key_interrupt(struct term *t)
{
	t->len = 0;
	t->cursor = 0;
	t->scroll = 0;
	hist_drop_draft(t);
	redraw_now(t);
	if (t->cb.on_interrupt != NULL)
		t->cb.on_interrupt(t->cb.user);
}

static void key_eof_or_delete(struct term *t)
{
	if (t->len > 0) {
		if (t->cursor < t->len)
			line_delete(t, t->cursor, next_cp(t->line, t->len, t->cursor));
		return;
	}
	redraw_now(t);
	if (t->cb.on_eof != NULL)
		t->cb.on_eof(t->cb.user);
}

static void key_control(struct term *t, uint32_t c)
{
	switch (c) {
	case 0x01: move_to(t, 0); break;                                   /* Ctrl-A */
	case 0x02: move_to(t, prev_cp(t->line, t->cursor)); break;         /* Ctrl-B */
	case 0x03: key_interrupt(t); break;                                /* Ctrl-C */
	case 0x04: key_eof_or_delete(t); break;                            /* Ctrl-D */
	case 0x05: move_to(t, t->len); break;                              /* Ctrl-E */
	case 0x06: move_to(t, next_cp(t->line, t->len, t->cursor)); break; /* Ctrl-F */
	case 0x08:                                                         /* Ctrl-H */
	case 0x7F: line_delete(t, prev_cp(t->line, t->cursor), t->cursor); break;
	case 0x09:
		if (!line_insert(t, ' '))
			t->is_refused = true;
		break;
	case 0x0A:
	case 0x0D: key_enter(t); break;
	case 0x0B: line_delete(t, t->cursor, t->len); break; /* Ctrl-K */
	case 0x0C:                                           /* Ctrl-L */
		out_str(t, "\x1b[H\x1b[2J");
		t->is_dirty = true;
		break;
	case 0x0E: hist_next(t); break;                 /* Ctrl-N */
	case 0x10: hist_prev(t); break;                 /* Ctrl-P */
	case 0x15: line_delete(t, 0, t->cursor); break; /* Ctrl-U */
	case 0x17: kill_word(t); break;                 /* Ctrl-W */
	case 0x1B: t->kstate = KEY_ESC; break;
	default: break; /* other controls (Ctrl-Z among them) do nothing */
	}
}

/* One decoded code point outside escape sequences. */
static void key_cp(struct term *t, uint32_t cp)
{
	bool is_lf_after_cr = cp == 0x0A && t->last_was_cr;
	t->last_was_cr = cp == 0x0D;
	if (is_lf_after_cr)
		return;
	if (cp < 0x20 || cp == 0x7F) {
		key_control(t, cp);
		return;
	}
	if (!cp_is_printable(cp))
		return;
	if (!line_insert(t, cp))
		t->is_refused = true;
}

/* A complete CSI sequence: parameters in seq, final byte fin. */
static void key_csi(struct term *t, char fin)
{
	unsigned p1 = 0;
	size_t i = 0;
	for (; i < t->seq_len && t->seq[i] >= '0' && t->seq[i] <= '9'; i++)
		p1 = p1 * 10 + (unsigned)(t->seq[i] - '0');
	for (; i < t->seq_len; i++) {
		if (!(t->seq[i] == ';' || (t->seq[i] >= '0' && t->seq[i] <= '9')))
			return; /* private or intermediate bytes: not a key we know */
	}
	switch (fin) {
	case 'A': hist_prev(t); break;
	case 'B': hist_next(t); break;
	case 'C': move_to(t, next_cp(t->line, t->len, t->cursor)); break;
	case 'D': move_to(t, prev_cp(t->line, t->cursor)); break;
	case 'H': move_to(t, 0); break;
	case 'F': move_to(t, t->len); break;
	case '~':
		if (p1 == 1 || p1 == 7)
			move_to(t, 0);
		else if (p1 == 4 || p1 == 8)
			move_to(t, t->len);
		else if (p1 == 3 && t->cursor < t->len)
			line_delete(t, t->cursor, next_cp(t->line, t->len, t->cursor));
		break;
	default: break;
	}
}

static void key_byte(struct term *t, uint8_t b);

/* Bytes inside ESC, CSI or SS3; a byte that cannot belong there ends the
 * sequence unused and is handled as if no sequence had started. */
static void key_seq_byte(struct term *t, uint8_t b)
{
	switch (t->kstate) {
	case KEY_ESC:
		t->kstate = KEY_GROUND;
		if (b == '[') {
			t->kstate = KEY_CSI;
			t->seq_len = 0;
			t->is_seq_long = false;
		} else if (b == 'O') {
			t->kstate = KEY_SS3;
		} else if (b == 0x1B) {
			t->kstate = KEY_ESC;
		} else {
			key_byte(t, b); /* Alt+key is the key */
		}
		return;
	case KEY_CSI:
		if (b >= 0x20 && b <= 0x3F) {
			if (t->seq_len < sizeof(t->seq))
				t->seq[t->seq_len++] = (char)b;
			else
				t->is_seq_long = true;
			return;
		}
		t->kstate = KEY_GROUND;
		if (b >= 0x40 && b <= 0x7E) {
			if (!t->is_seq_long)
				key_csi(t, (char)b);
			return;
		}
		key_byte(t, b);
		return;
	case KEY_SS3:
		t->kstate = KEY_GROUND;
		if (b >= 0x40 && b <= 0x7E) {
			t->seq_len = 0;
			if (b != 'P' && b != 'Q' && b != 'R' && b != 'S') /* F1-F4 */
				key_csi(t, (char)b);
			return;
		}
		key_byte(t, b);
		return;
	case KEY_GROUND: break;
	}
}

static void key_byte(struct term *t, uint8_t b)
{
	uint32_t cps[2];
	if (t->kstate != KEY_GROUND) {
		key_seq_byte(t, b);
		return;
	}
	size_t n = utf8_feed(&t->dec, b, cps);
	for (size_t i = 0; i < n && !t->is_closing; i++)
		key_cp(t, cps[i]);
}

/* ---------------------------------------------------------------------------
 * Plain mode.
 */

static void plain_deliver(struct term *t)
{
	size_t n = t->len;
	t->line[n] = '\0';
	t->len = 0;
	t->cursor = 0;
	t->has_partial = false;
	if (t->cb.on_line != NULL)
		t->cb.on_line(t->cb.user, t->line, n);
}

static void plain_cp(struct term *t, uint32_t cp)
{
	if (cp == '\n') {
		plain_deliver(t);
		return;
	}
	if (cp != '\r')
		t->has_partial = true;
	if (cp == '\t')
		cp = ' ';
	if (cp_is_printable(cp))
		(void)line_insert(t, cp); /* a full line drops the rest */
}

static void plain_byte(struct term *t, uint8_t b)
{
	uint32_t cps[2];
	size_t n = utf8_feed(&t->dec, b, cps);
	for (size_t i = 0; i < n && !t->is_closing; i++)
		plain_cp(t, cps[i]);
}

/* ---------------------------------------------------------------------------
 * Reading.
 */

static void stop_reading(struct term *t)
{
	if (!t->is_reading)
		return;
	t->is_reading = false;
	if (t->has_poll)
		(void)uv_poll_stop(&t->poll);
	if (t->has_idle)
		(void)uv_idle_stop(&t->idle);
}

/* End of input (EOF, hang-up or a read error). */
static void input_end(struct term *t)
{
	stop_reading(t);
	if (utf8_finish(&t->dec)) {
		if (t->is_tty)
			key_cp(t, TERM_REPLACEMENT);
		else
			plain_cp(t, TERM_REPLACEMENT);
	}
	if (!t->is_tty && !t->is_closing && (t->has_partial || t->len > 0))
		plain_deliver(t);
	if (t->is_tty && !t->is_closing)
		redraw_now(t);
	if (!t->is_closing && t->cb.on_eof != NULL)
		t->cb.on_eof(t->cb.user);
}

static void feed(struct term *t, const uint8_t *buf, size_t n)
{
	t->is_refused = false;
	for (size_t i = 0; i < n && !t->is_closing; i++) {
		if (t->is_tty)
			key_byte(t, buf[i]);
		else
			plain_byte(t, buf[i]);
	}
	if (t->is_closing || !t->is_tty)
		return;
	if (t->is_refused)
		out_str(t, "\a");
	if (t->is_dirty)
		render(t);
	out_flush(t);
}

static void read_some(struct term *t)
{
	uint8_t buf[TERM_READ_LEN];
	ssize_t n = read(t->in_fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		input_end(t); /* EOF, or EIO once a terminal hung up */
		return;
	}
	feed(t, buf, (size_t)n);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct term *t = h->data;
	(void)events;
	if (t->is_closing)
		return;
	if (status < 0) {
		input_end(t);
		return;
	}
	read_some(t);
}

static void on_idle(uv_idle_t *h)
{
	struct term *t = h->data;
	if (!t->is_closing)
		read_some(t);
}

static void query_cols(struct term *t)
{
	struct winsize ws;
	t->cols = TERM_COLS_DEFAULT;
	if (ioctl(t->out_fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		t->cols = ws.ws_col > TERM_COLS_MAX ? TERM_COLS_MAX : ws.ws_col;
}

static void on_winch(uv_signal_t *h, int signum)
{
	struct term *t = h->data;
	(void)signum;
	if (t->is_closing)
		return;
	query_cols(t);
	redraw_now(t);
}

/* ---------------------------------------------------------------------------
 * Life cycle.
 */

static void on_handle_closed(uv_handle_t *h)
{
	struct term *t = h->data;
	if (--t->n_handles == 0)
		free(t);
}

static void prompt_set(struct term *t, const char *prompt)
{
	t->prompt_len = sanitize(t->prompt, sizeof(t->prompt), prompt, strlen(prompt));
	t->prompt_cols = width_of(t->prompt, 0, t->prompt_len, TERM_COLS_MAX);
}

/* Raw mode on in_fd, with the guard armed before the mode changes. */
static sotto_err enter_raw(struct term *t)
{
	struct termios raw;
	if (guard.is_active)
		return SOTTO_ERR_BUSY;
	if (tcgetattr(t->in_fd, &t->saved) != 0)
		return SOTTO_ERR_IO;
	raw = t->saved;
	raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INLCR | IGNCR | INPCK | ISTRIP | IXON);
	raw.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	guard.fd = t->in_fd;
	guard.saved = t->saved;
	guard.saved_fl = t->saved_fl;
	guard.is_active = 1;
	if (!guard.has_atexit && atexit(guard_at_exit) == 0)
		guard.has_atexit = true;
	guard_install();
	if (tcsetattr(t->in_fd, TCSANOW, &raw) != 0) {
		guard.is_active = 0;
		guard_uninstall();
		return SOTTO_ERR_IO;
	}
	return SOTTO_OK;
}

static sotto_err start_handles(struct term *t)
{
	int err = uv_poll_init(t->loop, &t->poll, t->in_fd);
	if (err == 0) {
		t->has_poll = true;
		t->n_handles++;
		t->poll.data = t;
		err = uv_poll_start(&t->poll, UV_READABLE, on_poll);
	} else if (err == UV_EPERM && !t->is_tty) {
		/* A regular file or a device epoll refuses: always readable, so read when idle. */
		if ((err = uv_idle_init(t->loop, &t->idle)) != 0)
			return SOTTO_ERR_IO;
		t->has_idle = true;
		t->n_handles++;
		t->idle.data = t;
		err = uv_idle_start(&t->idle, on_idle);
	}
	if (err != 0)
		return SOTTO_ERR_IO;
	t->is_reading = true;
	if (!t->is_tty)
		return SOTTO_OK;
	if (uv_signal_init(t->loop, &t->winch) != 0)
		return SOTTO_ERR_IO;
	t->has_winch = true;
	t->n_handles++;
	t->winch.data = t;
	if (uv_signal_start(&t->winch, on_winch, SIGWINCH) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

static sotto_err term_configure(struct term *t, const struct term_config *cfg)
{
	const char *prompt = TERM_DEFAULT_PROMPT;
	if (cfg != NULL && cfg->prompt != NULL)
		prompt = cfg->prompt;
	if (strlen(prompt) > TERM_PROMPT_MAX)
		return SOTTO_ERR_INVALID;
	prompt_set(t, prompt);
	t->hist_max = TERM_HISTORY_DEFAULT;
	if (cfg != NULL && cfg->history_max > TERM_HISTORY_MAX)
		return SOTTO_ERR_INVALID;
	if (cfg != NULL && cfg->history_max > 0)
		t->hist_max = cfg->history_max;
	if ((t->hist = calloc(t->hist_max, sizeof(t->hist[0]))) == NULL)
		return SOTTO_ERR_NOMEM;
	if (cfg != NULL && cfg->history_path != NULL) {
		size_t n = strlen(cfg->history_path);
		if ((t->history_path = malloc(n + 1)) == NULL)
			return SOTTO_ERR_NOMEM;
		memcpy(t->history_path, cfg->history_path, n + 1);
		return hist_load(t);
	}
	return SOTTO_OK;
}

sotto_err term_new(uv_loop_t *loop, int in_fd, int out_fd, const struct term_config *cfg,
                   const struct term_callbacks *cb, struct term **out)
{
	sotto_err rc;
	struct term *t = NULL;

	*out = NULL;
	if (in_fd < 0 || out_fd < 0 || fcntl(out_fd, F_GETFL) < 0)
		return SOTTO_ERR_INVALID;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return SOTTO_ERR_NOMEM;
	t->loop = loop;
	t->in_fd = in_fd;
	t->out_fd = out_fd;
	t->cb = *cb;
	t->saved_fl = -1;
	if ((t->saved_fl = fcntl(in_fd, F_GETFL)) < 0) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	if ((rc = term_configure(t, cfg)) != SOTTO_OK)
		goto out;
	t->is_tty = isatty(in_fd) && isatty(out_fd);
	if (t->is_tty) {
		if ((rc = enter_raw(t)) != SOTTO_OK) {
			t->is_tty = false; /* nothing to restore */
			goto out;
		}
		query_cols(t);
	}
	if ((rc = start_handles(t)) != SOTTO_OK)
		goto out;
	redraw_now(t);
	*out = t;
	t = NULL; /* moved */
out:
	term_free(t);
	return rc;
}

sotto_err term_print(struct term *t, const char *utf8, size_t len)
{
	struct term_utf8 d = {0};
	if (len > TERM_PRINT_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (t->is_tty)
		out_str(t, "\r\x1b[K");
	for (size_t i = 0; i <= len; i++) {
		uint32_t cps[2];
		size_t k = 0;
		if (i < len)
			k = utf8_feed(&d, (uint8_t)utf8[i], cps);
		else if (utf8_finish(&d))
			cps[k++] = TERM_REPLACEMENT;
		for (size_t j = 0; j < k; j++) {
			char enc[4];
			if (cps[j] == '\n')
				out_str(t, t->is_tty ? "\r\n" : "\n");
			else if (cps[j] == '\t' || cp_is_printable(cps[j]))
				out_put(t, enc, utf8_encode(cps[j], enc));
		}
	}
	out_str(t, t->is_tty ? "\r\n" : "\n");
	if (t->is_tty)
		render(t);
	out_flush(t);
	return t->out_err == SOTTO_OK ? SOTTO_OK : SOTTO_ERR_IO;
}

sotto_err term_set_prompt(struct term *t, const char *prompt)
{
	if (strlen(prompt) > TERM_PROMPT_MAX)
		return SOTTO_ERR_INVALID;
	prompt_set(t, prompt);
	redraw_now(t);
	return t->out_err == SOTTO_OK ? SOTTO_OK : SOTTO_ERR_IO;
}

bool term_is_tty(const struct term *t)
{
	return t->is_tty;
}

/* Leaves raw mode and puts in_fd's file status flags back. */
static void restore_terminal(struct term *t)
{
	if (t->is_tty) {
		out_str(t, "\r\x1b[K");
		out_flush(t);
		guard.is_active = 0;
		guard_uninstall();
		(void)tcsetattr(t->in_fd, TCSANOW, &t->saved);
	}
	if (t->saved_fl >= 0)
		(void)fcntl(t->in_fd, F_SETFL, t->saved_fl);
}

void term_free(struct term *t)
{
	if (t == NULL || t->is_closing)
		return;
	stop_reading(t);
	restore_terminal(t);
	t->is_closing = true;
	/* A history that cannot be written is lost; term_history_save() reports why. */
	sotto_err rc = term_history_save(t);
	(void)rc;
	for (size_t i = 0; i < t->n_hist; i++)
		free(t->hist[i]);
	free(t->hist);
	free(t->draft);
	free(t->history_path);
	t->hist = NULL;
	t->n_hist = 0;
	t->draft = NULL;
	t->history_path = NULL;
	if (t->has_poll)
		uv_close((uv_handle_t *)&t->poll, on_handle_closed);
	if (t->has_idle)
		uv_close((uv_handle_t *)&t->idle, on_handle_closed);
	if (t->has_winch)
		uv_close((uv_handle_t *)&t->winch, on_handle_closed);
	if (t->n_handles == 0)
		free(t);
}
