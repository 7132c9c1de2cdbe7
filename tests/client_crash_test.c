/* SPDX-License-Identifier: MIT */
/*
 * client_crash_test.c - both sotto clients killed with SIGKILL at seeded
 * random moments during a two-way burst of messages, restarted each time:
 * every message is shown exactly once and the session keeps working. The
 * same driver runs the four-process crash loop (the relays killed too) and
 * the network fault test (tests/netem_test.sh).
 *
 * One real sotto-relay runs throughout, or two: then alice receives on
 * relay1 and bob on relay2, each having added only its own relay, so every
 * message crosses from one relay to the other user. Two profiles, alice and
 * bob, are made with the real sotto program and connected through its
 * JSON-lines API (invite, connect). Then each runs as a long-lived
 * `sotto --json` process: the driver writes send commands whose texts carry
 * a sequence number ("a->b 0042"), a window at a time, and reads answers and
 * events.
 *
 * Kills come in one of two ways. By default, when the progress (sends
 * answered ok plus messages shown) passes one of a seeded set of thresholds,
 * alice, bob or both are killed and restarted at once; one restart in four
 * is itself killed within EARLY_SPAN_MS (while the profile opens or the
 * agent catches up) and started again. With SOTTO_CLIENT_CRASH_SECONDS set,
 * the burst lasts that long instead: message k of each side is not sent
 * before k/N of it has passed, and the kills come at seeded random times
 * within it. With SOTTO_CLIENT_CRASH_KILL_RELAYS=1 a relay (SIGKILL, then
 * restarted on its own directory and port, so it keeps its store) is among
 * the processes a kill may pick.
 *
 * A send is accepted when its answer said ok (the agent stored it). A send
 * not answered before a kill is looked up in the restarted sender's history
 * and sent again only when it is not there. After the last kill the driver
 * waits (bounded) until every message arrived, sends one more message each
 * way, and reads both histories. Checked: every accepted message is in the
 * receiver's history exactly once, no text is in either history twice, no
 * message event came twice, the receiver's order is the sender's, the
 * final messages arrived, and both processes quit with exit 0.
 *
 * usage: client_crash_test SOTTO SOTTO_RELAY
 * Environment (defaults in brackets):
 *   SOTTO_CLIENT_CRASH_N            messages each way [300]
 *   SOTTO_CLIENT_CRASH_KILLS        kills [12]
 *   SOTTO_CLIENT_CRASH_SEED         seed of every random choice [1]
 *   SOTTO_CLIENT_CRASH_SECONDS      timed burst of this length, 0 = none [0]
 *   SOTTO_CLIENT_CRASH_RELAYS       1 or 2 relays [1]
 *   SOTTO_CLIENT_CRASH_KILL_RELAYS  1 = the relays are killed too [0]
 *   SOTTO_CLIENT_CRASH_SETTLE_S     wait for the last messages after the
 *                                   burst, and for the final ones [180]
 *   SOTTO_CLIENT_CRASH_WRAP_<P>     a command prefix (words split on spaces)
 *                                   for process P = ALICE, BOB, RELAY1,
 *                                   RELAY2, e.g. "ip netns exec NS" [none]
 *   SOTTO_CLIENT_CRASH_HOST_<R>     the address relay R = RELAY1, RELAY2
 *                                   listens on and is dialled at [127.0.0.1]
 * The four-process crash loop of five minutes:
 *   SOTTO_CLIENT_CRASH_RELAYS=2 SOTTO_CLIENT_CRASH_KILL_RELAYS=1 \
 *   SOTTO_CLIENT_CRASH_SECONDS=300 SOTTO_CLIENT_CRASH_N=3000 \
 *   SOTTO_CLIENT_CRASH_KILLS=60 client_crash_test SOTTO SOTTO_RELAY
 * It prints "burst starts" when the burst begins (tests/netem_test.sh times
 * its partition from it) and at the end the counts: sent, shown,
 * duplicates, lost, out of order, and the kills of each process.
 * Exit 0 when every check passed, 1 otherwise; every child is killed on every
 * path and every wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <jansson.h>

enum {
	N_DEFAULT = 300,
	N_MAX = 100000,
	KILLS_DEFAULT = 12,
	SEED_DEFAULT = 1,
	WINDOW = 32,           /* sends in flight per client */
	START_WAIT_MS = 60000, /* a process to print its first line */
	ANSWER_WAIT_MS = 60000,
	STALL_KILL_MS = 3000,   /* a kill comes anyway after this long without one */
	BURST_WAIT_MS = 300000, /* beyond SOTTO_CLIENT_CRASH_SECONDS */
	SETTLE_S_DEFAULT = 180, /* every accepted message to arrive after the last kill */
	CONNECT_WAIT_MS = 180000,
	RELAY_TRIES = 50,      /* a restarted relay may find its port still held */
	FINAL_WAIT_MS = 60000, /* at least; the settle wait when longer */
	HISTORY_EVERY_MS = 3000,
	NOTE_EVERY_MS = 15000, /* a progress line while the settle wait lasts */
	QUIT_WAIT_MS = 30000,
	BUSY_PAUSE_MS = 200,
	EARLY_SPAN_MS = 80, /* an early kill comes this soon after a start */
	HISTORY_PAGE = 1000,
	PATH_LEN = 512,
	ADDR_LEN = 256,
	HOST_LEN = 64,
	WRAP_MAX = 16,           /* words of a command prefix */
	ID_HISTORY = 1000000000, /* command ids: sends use their sequence number */
};

/* Per-message send state. */
enum { ST_NONE, ST_PENDING, ST_UNKNOWN, ST_ACCEPTED };

struct relay {
	const char *name; /* relay1, relay2 */
	char dir[PATH_LEN], host[HOST_LEN], key[ADDR_LEN], addr[ADDR_LEN + HOST_LEN + 16];
	char *wrap[WRAP_MAX + 1]; /* command prefix, NULL-terminated; owned */
	pid_t pid;
	unsigned port; /* 0 until the first start chose one */
	unsigned long starts, kills;
};

struct client {
	const char *profile, *contact, *prefix; /* prefix: the texts it sends */
	char *wrap[WRAP_MAX + 1];               /* command prefix, NULL-terminated; owned */
	struct relay *relay;                    /* the one it receives on */
	unsigned long kills;
	pid_t pid;
	int in_fd, out_fd; /* its stdin (we write), its stdout (we read) */
	char *buf;
	size_t len, cap;
	bool ready;
	int64_t next_id;
	int64_t want_id; /* the answer waited for, and it when it comes */
	json_t *answer;
	unsigned in_flight;
	unsigned cursor; /* no ST_NONE below it */
	uint64_t pause_until;
	uint8_t *st;          /* send state of its messages */
	uint16_t *n_event;    /* message events for the peer's messages */
	unsigned long starts; /* how many times it was started */
};

struct test {
	const char *sotto, *relay;
	char dir[64], home[PATH_LEN];
	struct relay r[2]; /* relay1 (alice's), relay2 (bob's when there are two) */
	unsigned n_relays;
	bool kill_relays;
	struct client c[2]; /* alice, bob; c[i] sends to c[1 - i] */
	unsigned n, kills_max, kills;
	unsigned long seconds, settle_s; /* timed burst (0: by progress); settle wait */
	uint64_t rng, t0;                /* t0: when the burst started (ms) */
	unsigned long *thresholds;       /* progress, or ms after t0 when timed */
	unsigned long accepted, shown_events, dup_events, resent, found, busy, early_kills;
	bool failed;
};

static struct test *g_test; /* for the atexit cleanup */

static void fail(struct test *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct test *t, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "client_crash_test: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	t->failed = true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static uint64_t rng_next(struct test *t)
{
	t->rng ^= t->rng << 13; /* xorshift64 */
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

/* ---- processes ---- */

/* Forks and execs path with args (args[0] its name), under the command prefix
 * wrap when wrap[0] is set; -1 descriptors are left as they are. */
static pid_t spawn(char *const wrap[], const char *path, char *const args[], int in_fd, int out_fd,
                   int err_fd)
{
	char *argv[WRAP_MAX + 32];
	size_t n = 0;
	pid_t pid;

	(void)fflush(stdout);
	(void)fflush(stderr);
	pid = fork();
	if (pid != 0)
		return pid;
#ifdef __linux__
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* no stray child if this test dies */
#endif
	if ((in_fd >= 0 && dup2(in_fd, STDIN_FILENO) < 0) ||
	    (out_fd >= 0 && dup2(out_fd, STDOUT_FILENO) < 0) ||
	    (err_fd >= 0 && dup2(err_fd, STDERR_FILENO) < 0))
		_exit(127);
	for (int fd = 3; fd < 256; fd++)
		(void)close(fd);
	if (wrap == NULL || wrap[0] == NULL) {
		execv(path, args);
		_exit(127);
	}
	for (; *wrap != NULL; wrap++)
		argv[n++] = *wrap;
	argv[n++] = (char *)path;
	for (args++; *args != NULL && n < sizeof(argv) / sizeof(argv[0]) - 1; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	execvp(argv[0], argv);
	_exit(127);
}

static void reap(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static int open_log(struct test *t, const char *name)
{
	char path[PATH_LEN + 64];

	(void)snprintf(path, sizeof(path), "%s/%s.log", t->dir, name);
	return open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
}

/* Runs the sotto program once on c's profile with args; its stdout into out. */
static bool sotto_run(struct test *t, const struct client *c, const char *const *args, char *out,
                      size_t out_len)
{
	const char *profile = c->profile;
	char *argv[16];
	size_t n = 0, got = 0;
	int fds[2], status = 0, err = open_log(t, profile);
	ssize_t r;
	pid_t pid;

	argv[n++] = "sotto";
	argv[n++] = "--home";
	argv[n++] = t->home;
	argv[n++] = "--profile";
	argv[n++] = (char *)profile;
	for (; *args != NULL && n < 15; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (err < 0 || pipe(fds) != 0)
		return false;
	int devnull = open("/dev/null", O_RDONLY);
	pid = spawn(c->wrap, t->sotto, argv, devnull, fds[1], err);
	(void)close(devnull);
	(void)close(fds[1]);
	(void)close(err);
	while (pid > 0 && (r = read(fds[0], out + got, out_len - 1 - got)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 || (got += (size_t)r) >= out_len - 1)
			break;
	}
	out[got] = '\0';
	(void)close(fds[0]);
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	return pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* The port of a "listening on port N" line in the relay's log, or 0. */
static unsigned log_port(const char *path)
{
	static char buf[65536];
	FILE *f = fopen(path, "r");
	size_t n;
	const char *s;
	long port;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	if ((s = strstr(buf, "listening on port ")) == NULL)
		return 0;
	port = strtol(s + strlen("listening on port "), NULL, 10);
	return port > 0 && port <= 65535 ? (unsigned)port : 0;
}

/* Makes r's directory and key, listening on r->host. */
static bool relay_init(struct test *t, struct relay *r)
{
	char *init[] = {"sotto-relay", "init",   "--dir", r->dir, "--host",
	                r->host,       "--port", "5223",  NULL};
	char out[ADDR_LEN] = {0};
	int fds[2];
	ssize_t n;
	const char *at;

	if (pipe(fds) != 0)
		return false;
	pid_t pid = spawn(r->wrap, t->relay, init, -1, fds[1], -1);
	(void)close(fds[1]);
	n = pid > 0 ? read(fds[0], out, sizeof(out) - 1) : -1;
	(void)close(fds[0]);
	if (pid > 0)
		reap(pid);
	if (n <= 0 || strncmp(out, "sotto://", 8) != 0 || (at = strchr(out, '@')) == NULL) {
		fail(t, "sotto-relay init printed \"%s\"", out);
		return false;
	}
	/* The address is formed when the first start has chosen the port. */
	(void)snprintf(r->key, sizeof(r->key), "%.*s", (int)(at - out), out);
	return true;
}

/* Starts r once: true when it printed its port, false when it ended or
 * stayed silent; *ended says it ended (a restart may find its port held). */
static bool relay_try(struct test *t, struct relay *r, bool *ended)
{
	char port[16], log[PATH_LEN + 64];
	char *run[] = {"sotto-relay", "run", "--dir", r->dir, "--port", port, NULL, NULL};
	unsigned got = 0;
	int fd, status;

	*ended = false;
	(void)snprintf(port, sizeof(port), "%u", r->port);
	if (geteuid() == 0)
		run[6] = "--allow-root";
	(void)snprintf(log, sizeof(log), "%s/%s-%lu.log", t->dir, r->name, ++r->starts);
	if ((fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return false;
	r->pid = spawn(r->wrap, t->relay, run, -1, fd, fd);
	(void)close(fd);
	for (uint64_t end = now_ms() + START_WAIT_MS; r->pid > 0 && now_ms() < end;) {
		if ((got = log_port(log)) != 0)
			break;
		if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
			r->pid = -1;
			*ended = true;
			return false;
		}
		sleep_ms(20);
	}
	if (got == 0 || (r->port != 0 && got != r->port)) {
		fail(t, "%s did not start (on port %u when not 0; see %s)", r->name, r->port, log);
		return false;
	}
	r->port = got;
	return true;
}

/* Starts r: the first time on a port it chooses, later on that same port. */
static bool relay_start(struct test *t, struct relay *r)
{
	bool first = r->port == 0, ended = false;

	for (unsigned k = 0; k < RELAY_TRIES; k++) {
		if (relay_try(t, r, &ended))
			break;
		if (!ended)
			return false;
		sleep_ms(100);
	}
	if (r->pid <= 0) {
		fail(t, "%s ended at every start (see %s)", r->name, t->dir);
		return false;
	}
	if (first)
		(void)snprintf(r->addr, sizeof(r->addr), "%s@%s:%u", r->key, r->host, r->port);
	return true;
}

static void relay_kill(struct relay *r)
{
	if (r->pid <= 0)
		return;
	(void)kill(r->pid, SIGKILL);
	reap(r->pid);
	r->pid = -1;
}

/* ---- the JSON API processes ---- */

static void client_kill(struct test *t, struct client *c);

static bool client_start(struct test *t, struct client *c)
{
	char *args[] = {"sotto",  "--home", t->home, "--profile", (char *)c->profile,
	                "--json", NULL};
	int in[2], out[2], err = open_log(t, c->profile);

	if (err < 0 || pipe(in) != 0)
		return false;
	if (pipe(out) != 0) {
		(void)close(in[0]);
		(void)close(in[1]);
		return false;
	}
	c->pid = spawn(c->wrap, t->sotto, args, in[0], out[1], err);
	(void)close(in[0]);
	(void)close(out[1]);
	(void)close(err);
	(void)fcntl(in[1], F_SETFD, FD_CLOEXEC);
	(void)fcntl(out[0], F_SETFD, FD_CLOEXEC);
	c->in_fd = in[1];
	c->out_fd = out[0];
	c->len = 0;
	c->ready = false;
	c->in_flight = 0;
	c->want_id = -1;
	c->starts++;
	return c->pid > 0;
}

/* Writes one command line; false when the process is gone. */
static bool client_write(struct client *c, const char *line)
{
	size_t len = strlen(line), off = 0;

	while (off < len) {
		ssize_t n = write(c->in_fd, line + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += (size_t)n;
	}
	return true;
}

/* The sequence number in a text "PREFIX NNNN" of this direction, or -1. */
static long text_seq(const char *text, const char *prefix, unsigned n)
{
	size_t pl = strlen(prefix);
	char *end;
	long seq;

	if (text == NULL || strncmp(text, prefix, pl) != 0 || text[pl] != ' ')
		return -1;
	seq = strtol(text + pl + 1, &end, 10);
	return *end == '\0' && seq >= 0 && (unsigned long)seq < n ? seq : -1;
}

static void on_line(struct test *t, struct client *c, const char *line)
{
	json_error_t jerr;
	json_t *j = json_loads(line, 0, &jerr);
	const char *ev;
	json_t *id;

	if (j == NULL || !json_is_object(j)) {
		fail(t, "%s printed a line that is not a JSON object: %.200s", c->profile, line);
		json_decref(j);
		return;
	}
	ev = json_string_value(json_object_get(j, "event"));
	id = json_object_get(j, "id");
	if (ev != NULL && strcmp(ev, "ready") == 0) {
		c->ready = true;
	} else if (ev != NULL && strcmp(ev, "message") == 0) {
		struct client *peer = &t->c[c == &t->c[0]];
		const char *text = json_string_value(json_object_get(j, "text"));
		long seq = text_seq(text, peer->prefix, t->n);

		if (seq >= 0) {
			t->shown_events++;
			if (++c->n_event[seq] == 2) {
				t->dup_events++;
				fprintf(stderr, "client_crash_test: %s shown twice: \"%s\"\n",
				        c->profile, text);
			}
		}
	} else if (ev != NULL && strcmp(ev, "status") == 0) {
		const char *st = json_string_value(json_object_get(j, "status"));

		if (st != NULL && strcmp(st, "failed") == 0)
			fail(t, "%s: a message failed: %.200s", c->profile, line);
	} else if (ev != NULL && strcmp(ev, "error") == 0) {
		fprintf(stderr, "client_crash_test: %s: %.300s\n", c->profile, line);
	} else if (json_is_integer(id) && json_integer_value(id) >= 0 &&
	           json_integer_value(id) < (json_int_t)t->n) {
		size_t seq = (size_t)json_integer_value(id);
		const char *code =
		        json_string_value(json_object_get(json_object_get(j, "error"), "code"));

		if (c->st[seq] != ST_PENDING) {
			fail(t, "%s: an answer to send %zu not pending", c->profile, seq);
		} else if (json_is_true(json_object_get(j, "ok"))) {
			c->st[seq] = ST_ACCEPTED;
			t->accepted++;
		} else if (code != NULL && strcmp(code, "busy") == 0) {
			c->st[seq] = ST_NONE; /* the queue is full: again later */
			if (seq < c->cursor)
				c->cursor = (unsigned)seq;
			c->pause_until = now_ms() + BUSY_PAUSE_MS;
			t->busy++;
		} else {
			fail(t, "%s: send %zu refused: %.200s", c->profile, seq, line);
		}
		if (c->in_flight > 0)
			c->in_flight--;
	} else if (json_is_integer(id) && json_integer_value(id) == c->want_id) {
		json_decref(c->answer);
		c->answer = json_incref(j);
	}
	json_decref(j);
}

/* Reads what c printed; false at its end of output. */
static bool client_read(struct test *t, struct client *c)
{
	ssize_t n;
	char *nl;

	if (c->cap - c->len < 65536) {
		size_t cap = c->cap * 2 + 65536;
		char *b = realloc(c->buf, cap);

		if (b == NULL)
			return false;
		c->buf = b;
		c->cap = cap;
	}
	do
		n = read(c->out_fd, c->buf + c->len, c->cap - c->len - 1);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return false;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	size_t start = 0;
	while ((nl = memchr(c->buf + start, '\n', c->len - start)) != NULL) {
		*nl = '\0';
		on_line(t, c, c->buf + start);
		start = (size_t)(nl - c->buf) + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	return true;
}

/* Reads from both clients for up to ms; false when a live one ended. */
static bool pump(struct test *t, int ms)
{
	struct pollfd p[2];

	for (int i = 0; i < 2; i++)
		p[i] = (struct pollfd){.fd = t->c[i].out_fd, .events = POLLIN};
	int n = poll(p, 2, ms);
	if (n < 0 && errno != EINTR) {
		fail(t, "poll: %s", strerror(errno));
		return false;
	}
	for (int i = 0; n > 0 && i < 2; i++)
		if ((p[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
		    !client_read(t, &t->c[i])) {
			fail(t, "%s ended by itself (see %s/%s.log)", t->c[i].profile, t->dir,
			     t->c[i].profile);
			return false;
		}
	return !t->failed;
}

/* Drains what a killed process printed before it died, then closes its pipes. */
static void client_kill(struct test *t, struct client *c)
{
	if (c->pid <= 0)
		return;
	(void)kill(c->pid, SIGKILL);
	reap(c->pid);
	c->pid = -1;
	while (client_read(t, c))
		;
	(void)close(c->in_fd);
	(void)close(c->out_fd);
	c->in_fd = c->out_fd = -1;
	for (unsigned s = 0; s < t->n; s++)
		if (c->st[s] == ST_PENDING)
			c->st[s] = ST_UNKNOWN;
}

static bool wait_ready(struct test *t, struct client *c)
{
	for (uint64_t end = now_ms() + START_WAIT_MS; !c->ready && now_ms() < end;)
		if (!pump(t, 100))
			return false;
	if (!c->ready)
		fail(t, "%s did not get ready", c->profile);
	return c->ready;
}

/* Sends a command (its "id" added) and waits for its answer; a new reference or NULL. */
static json_t *command(struct test *t, struct client *c, json_t *cmd, int wait_ms)
{
	char *line;
	json_t *a;

	c->want_id = ID_HISTORY + c->next_id++;
	json_object_set_new(cmd, "id", json_integer(c->want_id));
	line = json_dumps(cmd, JSON_COMPACT);
	json_decref(cmd);
	json_decref(c->answer);
	c->answer = NULL;
	bool ok = line != NULL && client_write(c, line) && client_write(c, "\n");
	free(line);
	for (uint64_t end = now_ms() + (uint64_t)wait_ms;
	     ok && c->answer == NULL && now_ms() < end;)
		ok = pump(t, 100);
	a = c->answer;
	c->answer = NULL;
	c->want_id = -1;
	if (a == NULL)
		fail(t, "%s: no answer to %s", c->profile, ok ? "a command in time" : "a command");
	else if (!json_is_true(json_object_get(a, "ok"))) {
		char *s = json_dumps(a, JSON_COMPACT);

		fail(t, "%s: command refused: %s", c->profile, s != NULL ? s : "?");
		free(s);
		json_decref(a);
		a = NULL;
	}
	return a;
}

/* The whole history with the peer, oldest first; a new array or NULL. */
static json_t *history(struct test *t, struct client *c)
{
	json_t *all = json_array();
	json_int_t before = 0;

	for (unsigned page = 0; page < 1000; page++) {
		json_t *cmd = json_pack("{s:s, s:s, s:i}", "cmd", "history", "contact", c->contact,
		                        "limit", HISTORY_PAGE);
		if (before > 0)
			json_object_set_new(cmd, "before", json_integer(before));
		json_t *a = command(t, c, cmd, ANSWER_WAIT_MS);
		json_t *msgs = json_object_get(a, "messages");
		if (!json_is_array(msgs)) {
			json_decref(a);
			json_decref(all);
			return NULL;
		}
		json_t *merged = json_copy(msgs); /* older page first */
		json_array_extend(merged, all);
		json_decref(all);
		all = merged;
		size_t n = json_array_size(msgs);
		before = n > 0 ? json_integer_value(json_object_get(json_array_get(msgs, 0), "id"))
		               : 0;
		json_decref(a);
		if (n < HISTORY_PAGE || before <= 0)
			return all;
	}
	json_decref(all);
	fail(t, "%s: the history does not end", c->profile);
	return NULL;
}

/* After a restart: the sends not answered before the kill are accepted when
 * the history holds them, and sent again otherwise. */
static bool resolve_unknown(struct test *t, struct client *c)
{
	json_t *h = history(t, c), *m;
	size_t i;

	if (h == NULL)
		return false;
	json_array_foreach(h, i, m)
	{
		const char *dir = json_string_value(json_object_get(m, "dir"));
		long seq = text_seq(json_string_value(json_object_get(m, "text")), c->prefix, t->n);

		if (seq >= 0 && dir != NULL && strcmp(dir, "out") == 0 &&
		    c->st[seq] == ST_UNKNOWN) {
			c->st[seq] = ST_ACCEPTED;
			t->accepted++;
			t->found++;
		}
	}
	json_decref(h);
	for (unsigned s = 0; s < t->n; s++)
		if (c->st[s] == ST_UNKNOWN) {
			c->st[s] = ST_NONE;
			if (s < c->cursor)
				c->cursor = s;
			t->resent++;
		}
	return true;
}

/* Restarts c; one time in four it is first started and killed again within
 * EARLY_SPAN_MS, while it opens the profile or catches up. */
static bool restart(struct test *t, struct client *c)
{
	if (rng_next(t) % 4 == 0) {
		if (!client_start(t, c))
			return false;
		sleep_ms((long)(rng_next(t) % EARLY_SPAN_MS));
		client_kill(t, c);
		t->early_kills++;
	}
	return client_start(t, c) && wait_ready(t, c) && resolve_unknown(t, c);
}

/* Writes sends up to the window. */
static bool send_more(struct test *t, struct client *c)
{
	char line[128];

	if (now_ms() < c->pause_until)
		return true;
	while (c->in_flight < WINDOW && c->cursor < t->n) {
		if (c->st[c->cursor] != ST_NONE) {
			c->cursor++;
			continue;
		}
		unsigned s = c->cursor;
		if (t->seconds > 0 && now_ms() < t->t0 + (uint64_t)s * t->seconds * 1000u / t->n)
			break; /* timed: message s waits for s/N of the burst */
		(void)snprintf(
		        line, sizeof(line),
		        "{\"id\":%u,\"cmd\":\"send\",\"contact\":\"%s\",\"text\":\"%s %04u\"}\n", s,
		        c->contact, c->prefix, s);
		c->st[s] = ST_PENDING;
		c->in_flight++;
		if (!client_write(c, line)) {
			fail(t, "%s: cannot write to its API", c->profile);
			return false;
		}
	}
	return true;
}

static unsigned long progress(const struct test *t)
{
	return t->accepted + t->shown_events;
}

static bool all_accepted(const struct test *t)
{
	return t->accepted == 2ul * t->n;
}

/* Every accepted message was shown by an event on the receiver's side. */
static bool all_shown(const struct test *t)
{
	for (int i = 0; i < 2; i++)
		for (unsigned s = 0; s < t->n; s++)
			if (t->c[1 - i].n_event[s] == 0)
				return false;
	return true;
}

/* One kill, its victim drawn: alice, bob, both, or (when the relays are
 * killed too) one relay; each victim is restarted at once. */
static bool kill_one(struct test *t)
{
	unsigned n_who = 3 + (t->kill_relays ? t->n_relays : 0);
	unsigned who = (unsigned)(rng_next(t) % n_who);

	if (who >= 3) {
		struct relay *r = &t->r[who - 3];

		relay_kill(r);
		r->kills++;
		return relay_start(t, r);
	}
	for (int i = 0; i < 2; i++)
		if (who == 2 || who == (unsigned)i) {
			client_kill(t, &t->c[i]);
			t->c[i].kills++;
		}
	for (int i = 0; i < 2; i++)
		if ((who == 2 || who == (unsigned)i) && !restart(t, &t->c[i]))
			return false;
	return true;
}

/* Whether kill number t->kills is due: at its progress threshold (or after
 * STALL_KILL_MS without one), checked after reading; or, when the burst is
 * timed, at its time, checked right after sends were written, and held back
 * (up to STALL_KILL_MS) until some send is unanswered, so that a paced burst
 * still kills clients with sends in flight. */
static bool kill_due(const struct test *t, uint64_t last_kill, bool after_write)
{
	uint64_t since_t0 = now_ms() - t->t0;

	if (t->kills >= t->kills_max || after_write != (t->seconds > 0))
		return false;
	if (t->seconds > 0)
		return since_t0 >= t->thresholds[t->kills] &&
		       (t->c[0].in_flight + t->c[1].in_flight > 0 ||
		        since_t0 >= t->thresholds[t->kills] + STALL_KILL_MS);
	return progress(t) >= t->thresholds[t->kills] || now_ms() - last_kill > STALL_KILL_MS;
}

/* Kills when kill_due says so; false when a restart failed. */
static bool maybe_kill(struct test *t, uint64_t *last_kill, bool after_write)
{
	if (!kill_due(t, *last_kill, after_write))
		return true;
	if (!kill_one(t))
		return false;
	t->kills++;
	*last_kill = now_ms();
	return true;
}

/* The burst: sends as fast as answered (or as timed), kills when due. */
static bool burst(struct test *t)
{
	uint64_t end, last_kill;

	t->t0 = last_kill = now_ms();
	end = t->t0 + BURST_WAIT_MS + t->seconds * 1000u;
	printf("client_crash_test: burst starts\n");
	(void)fflush(stdout);
	while (!t->failed && (t->kills < t->kills_max || !all_accepted(t) ||
	                      now_ms() - t->t0 < t->seconds * 1000u)) {
		if (now_ms() > end) {
			fail(t, "the burst did not end in %llu ms (accepted %lu of %u)",
			     (unsigned long long)(end - t->t0), t->accepted, 2 * t->n);
			return false;
		}
		for (int i = 0; i < 2; i++)
			if (!send_more(t, &t->c[i]))
				return false;
		if (!maybe_kill(t, &last_kill, true) || !pump(t, 20) ||
		    !maybe_kill(t, &last_kill, false))
			return false;
	}
	return !t->failed;
}

/* True when each receiver's history holds a message of every sequence number. */
static bool history_complete(struct test *t)
{
	for (int i = 0; i < 2; i++) {
		struct client *rx = &t->c[1 - i];
		json_t *h = history(t, rx), *m;
		size_t k, found = 0;

		if (h == NULL)
			return false;
		json_array_foreach(h, k, m)
		{
			const char *dir = json_string_value(json_object_get(m, "dir"));

			found += dir != NULL && strcmp(dir, "in") == 0 &&
			         text_seq(json_string_value(json_object_get(m, "text")),
			                  t->c[i].prefix, t->n) >= 0;
		}
		json_decref(h);
		if (found < t->n)
			return false;
	}
	return true;
}

/* How many of the messages of both ways were shown by an event. */
static unsigned long n_shown(const struct test *t)
{
	unsigned long n = 0;

	for (int i = 0; i < 2; i++)
		for (unsigned s = 0; s < t->n; s++)
			n += t->c[i].n_event[s] != 0;
	return n;
}

static bool settle(struct test *t)
{
	uint64_t start = now_ms(), end = start + t->settle_s * 1000u,
	         next_hist = start + HISTORY_EVERY_MS, next_note = start + NOTE_EVERY_MS;

	while (!t->failed && !all_shown(t)) {
		if (now_ms() > end) {
			fail(t, "not every message arrived in %lu s (%lu of %u shown)", t->settle_s,
			     n_shown(t), 2 * t->n);
			return false;
		}
		if (!pump(t, 100))
			return false;
		if (now_ms() > next_note) { /* a long wait says how it goes */
			printf("client_crash_test: after the burst, %llu s: %lu of %u shown\n",
			       (unsigned long long)(now_ms() - start) / 1000u, n_shown(t),
			       2 * t->n);
			(void)fflush(stdout);
			next_note = now_ms() + NOTE_EVERY_MS;
		}
		if (now_ms() > next_hist) {
			if (history_complete(t))
				break;
			next_hist = now_ms() + HISTORY_EVERY_MS;
		}
	}
	return !t->failed;
}

/* One more message each way, after the last restart: both must arrive. */
static bool final_messages(struct test *t)
{
	for (int i = 0; i < 2; i++) {
		char text[64];

		(void)snprintf(text, sizeof(text), "%s final", t->c[i].prefix);
		json_decref(command(t, &t->c[i],
		                    json_pack("{s:s, s:s, s:s}", "cmd", "send", "contact",
		                              t->c[i].contact, "text", text),
		                    ANSWER_WAIT_MS));
	}
	uint64_t wait = t->settle_s * 1000u > FINAL_WAIT_MS ? t->settle_s * 1000u : FINAL_WAIT_MS;

	for (uint64_t end = now_ms() + wait; !t->failed && now_ms() < end;) {
		bool both = true;

		for (int i = 0; i < 2; i++) {
			char text[64];
			json_t *h = history(t, &t->c[1 - i]), *m;
			size_t k;
			bool got = false;

			(void)snprintf(text, sizeof(text), "%s final", t->c[i].prefix);
			json_array_foreach(h, k, m)
			{
				const char *s = json_string_value(json_object_get(m, "text"));
				got = got || (s != NULL && strcmp(s, text) == 0);
			}
			json_decref(h);
			both = both && got;
		}
		if (both)
			return true;
		if (!pump(t, 1000))
			return false;
	}
	fail(t, "a message sent after the last restart did not arrive");
	return false;
}

/* The final histories: exactly once, same order, no text twice. */
static void final_check(struct test *t, unsigned long *shown, unsigned long *dups,
                        unsigned long *lost, unsigned long *disorder)
{
	for (int i = 0; i < 2 && !t->failed; i++) {
		struct client *tx = &t->c[i], *rx = &t->c[1 - i];
		json_t *hs = history(t, tx), *hr = history(t, rx), *m;
		long *pos = calloc(t->n, sizeof(*pos));
		unsigned *seen = calloc(t->n, sizeof(*seen));
		size_t k;
		long last = -1, out_pos = 0;

		if (hs == NULL || hr == NULL || pos == NULL || seen == NULL) {
			fail(t, "cannot read the final histories");
		} else {
			for (unsigned s = 0; s < t->n; s++)
				pos[s] = -1;
			json_array_foreach(hs, k, m)
			{
				const char *dir = json_string_value(json_object_get(m, "dir"));
				long s = text_seq(json_string_value(json_object_get(m, "text")),
				                  tx->prefix, t->n);

				if (s < 0 || dir == NULL || strcmp(dir, "out") != 0)
					continue;
				if (pos[s] >= 0) {
					(*dups)++;
					fprintf(stderr,
					        "client_crash_test: %s holds %s %04ld twice\n",
					        tx->profile, tx->prefix, s);
				}
				pos[s] = out_pos++;
			}
			json_array_foreach(hr, k, m)
			{
				const char *dir = json_string_value(json_object_get(m, "dir"));
				long s = text_seq(json_string_value(json_object_get(m, "text")),
				                  tx->prefix, t->n);

				if (s < 0 || dir == NULL || strcmp(dir, "in") != 0)
					continue;
				(*shown)++;
				if (++seen[s] == 2) {
					(*dups)++;
					fprintf(stderr,
					        "client_crash_test: %s shows %s %04ld twice\n",
					        rx->profile, tx->prefix, s);
				}
				if (pos[s] < 0 || pos[s] <= last) {
					(*disorder)++;
					fprintf(stderr,
					        "client_crash_test: %s shows %s %04ld out of "
					        "order\n",
					        rx->profile, tx->prefix, s);
				} else {
					last = pos[s];
				}
			}
			for (unsigned s = 0; s < t->n; s++)
				if (tx->st[s] == ST_ACCEPTED && seen[s] == 0) {
					(*lost)++;
					fprintf(stderr, "client_crash_test: %s %04u lost\n",
					        tx->prefix, s);
				}
		}
		json_decref(hs);
		json_decref(hr);
		free(pos);
		free(seen);
	}
}

/* ---- setup and teardown ---- */

/* Asks c to quit and waits (bounded) for its exit; true on exit 0. */
static bool quit(struct test *t, struct client *c)
{
	int status = 0;
	pid_t r = 0;

	if (c->pid <= 0 || !client_write(c, "{\"cmd\":\"quit\"}\n"))
		return false;
	for (uint64_t end = now_ms() + QUIT_WAIT_MS; now_ms() < end;) {
		struct pollfd p = {.fd = c->out_fd, .events = POLLIN};

		if (poll(&p, 1, 20) > 0 && !client_read(t, c))
			sleep_ms(20); /* its output ended: only its exit is awaited */
		if ((r = waitpid(c->pid, &status, WNOHANG)) != 0)
			break;
	}
	if (r != c->pid)
		return false; /* cleanup kills it */
	c->pid = -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void cleanup(void)
{
	struct test *t = g_test;

	if (t == NULL)
		return;
	for (int i = 0; i < 2; i++)
		if (t->c[i].pid > 0) {
			(void)kill(t->c[i].pid, SIGKILL);
			reap(t->c[i].pid);
			t->c[i].pid = -1;
		}
	for (unsigned i = 0; i < t->n_relays; i++)
		relay_kill(&t->r[i]);
}

static bool connect_profiles(struct test *t)
{
	struct client *a = &t->c[0], *b = &t->c[1];
	char out[256];
	const char *init_a[] = {"init", "--no-passphrase", "--name", "Alice", NULL};
	const char *init_b[] = {"init", "--no-passphrase", "--name", "Bob", NULL};
	const char *add_a[] = {"relay", "add", a->relay->addr, NULL};
	const char *add_b[] = {"relay", "add", b->relay->addr, NULL};

	if (!sotto_run(t, a, init_a, out, sizeof(out)) ||
	    !sotto_run(t, b, init_b, out, sizeof(out)) ||
	    !sotto_run(t, a, add_a, out, sizeof(out)) ||
	    !sotto_run(t, b, add_b, out, sizeof(out))) {
		fail(t, "init or relay add failed (see %s)", t->dir);
		return false;
	}
	if (!client_start(t, a) || !client_start(t, b) || !wait_ready(t, a) || !wait_ready(t, b))
		return false;
	json_t *inv = command(t, a, json_pack("{s:s, s:s}", "cmd", "invite", "name", "bob"),
	                      CONNECT_WAIT_MS);
	const char *link = json_string_value(json_object_get(inv, "link"));
	json_t *con = link == NULL ? NULL
	                           : command(t, b,
	                                     json_pack("{s:s, s:s, s:s}", "cmd", "connect", "link",
	                                               link, "name", "alice"),
	                                     CONNECT_WAIT_MS);
	json_decref(inv);
	json_decref(con);
	if (con == NULL)
		return false;
	/* Connected when both contact lists say so. */
	for (uint64_t end = now_ms() + CONNECT_WAIT_MS; !t->failed && now_ms() < end;) {
		bool ok = true;

		for (int i = 0; i < 2; i++) {
			json_t *cs = command(t, &t->c[i], json_pack("{s:s}", "cmd", "contacts"),
			                     ANSWER_WAIT_MS);
			const char *st = json_string_value(json_object_get(
			        json_array_get(json_object_get(cs, "contacts"), 0), "state"));

			ok = ok && st != NULL && strcmp(st, "connected") == 0;
			json_decref(cs);
		}
		if (ok)
			return true;
		if (!pump(t, 200))
			return false;
	}
	fail(t, "alice and bob did not connect");
	return false;
}

static unsigned long env_or(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s != NULL && *s != '\0' ? strtoul(s, NULL, 0) : def;
}

/* Splits the words of the environment variable SOTTO_CLIENT_CRASH_<what>
 * into wrap (owned, NULL-terminated); false when it has too many words. */
static bool env_wrap(const char *what, char *wrap[WRAP_MAX + 1])
{
	char name[64];
	const char *s;
	size_t n = 0;

	(void)snprintf(name, sizeof(name), "SOTTO_CLIENT_CRASH_WRAP_%s", what);
	wrap[0] = NULL;
	if ((s = getenv(name)) == NULL)
		return true;
	while (*s != '\0') {
		size_t len = strcspn(s, " \t");

		if (len > 0) {
			if (n == WRAP_MAX || (wrap[n] = malloc(len + 1)) == NULL)
				return false;
			memcpy(wrap[n], s, len);
			wrap[n][len] = '\0';
			wrap[++n] = NULL;
		}
		s += len;
		s += strspn(s, " \t");
	}
	return true;
}

static void wrap_free(char *wrap[])
{
	for (; *wrap != NULL; wrap++)
		free(*wrap);
}

/* Sets up relay i: its name, directory, address to listen on, prefix. */
static bool relay_setup(struct test *t, unsigned i)
{
	static const char *names[2] = {"relay1", "relay2"}, *env[2] = {"RELAY1", "RELAY2"};
	struct relay *r = &t->r[i];
	char var[64];
	const char *host;

	*r = (struct relay){.name = names[i], .pid = -1};
	(void)snprintf(var, sizeof(var), "SOTTO_CLIENT_CRASH_HOST_%s", env[i]);
	host = getenv(var);
	(void)snprintf(r->host, sizeof(r->host), "%s",
	               host != NULL && *host != '\0' ? host : "127.0.0.1");
	(void)snprintf(r->dir, sizeof(r->dir), "%s/%s", t->dir, r->name);
	return env_wrap(env[i], r->wrap) && relay_init(t, r) && relay_start(t, r);
}

static int cmp_ulong(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static struct test t;
	unsigned long seed = env_or("SOTTO_CLIENT_CRASH_SEED", SEED_DEFAULT);
	unsigned long shown = 0, dups = 0, lost = 0, disorder = 0;
	bool ok;

	if (argc != 3) {
		fprintf(stderr, "usage: client_crash_test SOTTO SOTTO_RELAY\n");
		return 2;
	}
	t.sotto = argv[1];
	t.relay = argv[2];
	t.n = (unsigned)env_or("SOTTO_CLIENT_CRASH_N", N_DEFAULT);
	t.kills_max = (unsigned)env_or("SOTTO_CLIENT_CRASH_KILLS", KILLS_DEFAULT);
	t.seconds = env_or("SOTTO_CLIENT_CRASH_SECONDS", 0);
	t.n_relays = (unsigned)env_or("SOTTO_CLIENT_CRASH_RELAYS", 1);
	t.kill_relays = env_or("SOTTO_CLIENT_CRASH_KILL_RELAYS", 0) != 0;
	t.settle_s = env_or("SOTTO_CLIENT_CRASH_SETTLE_S", SETTLE_S_DEFAULT);
	if (t.n == 0 || t.n > N_MAX || t.kills_max > 1000 || t.seconds > 86400 || t.n_relays < 1 ||
	    t.n_relays > 2 || t.settle_s > 86400) {
		fprintf(stderr,
		        "client_crash_test: N must be 1..%d, KILLS at most 1000, RELAYS 1 or 2, "
		        "SECONDS and SETTLE_S at most 86400\n",
		        N_MAX);
		return 2;
	}
	if (sigaction(SIGPIPE, &(struct sigaction){.sa_handler = SIG_IGN}, NULL) != 0)
		return 1;
	(void)setenv("LC_ALL", "C.UTF-8", 1);
	(void)setenv("TZ", "UTC", 1);
	(void)unsetenv("SOTTO_PASSPHRASE");
	(void)unsetenv("XDG_DATA_HOME");
	t.rng = (uint64_t)seed * 0x9e3779b97f4a7c15u + 1;
	t.c[0] = (struct client){
	        .profile = "alice", .contact = "bob", .prefix = "a->b", .relay = &t.r[0]};
	t.c[1] = (struct client){.profile = "bob",
	                         .contact = "alice",
	                         .prefix = "b->a",
	                         .relay = &t.r[t.n_relays - 1]};
	for (int i = 0; i < 2; i++) {
		if (!env_wrap(i == 0 ? "ALICE" : "BOB", t.c[i].wrap))
			return 2;
		t.c[i].pid = -1;
		t.c[i].in_fd = t.c[i].out_fd = -1;
		t.c[i].st = calloc(t.n, sizeof(*t.c[i].st));
		t.c[i].n_event = calloc(t.n, sizeof(*t.c[i].n_event));
		if (t.c[i].st == NULL || t.c[i].n_event == NULL)
			return 1;
	}
	/* Kill thresholds: seeded points in the progress (accepted + shown), or
	 * seeded times (ms after the burst starts) when the burst is timed. */
	t.thresholds = calloc(t.kills_max + 1u, sizeof(*t.thresholds));
	if (t.thresholds == NULL)
		return 1;
	for (unsigned k = 0; k < t.kills_max; k++)
		t.thresholds[k] = t.seconds > 0 ? rng_next(&t) % (t.seconds * 1000u)
		                                : 1 + rng_next(&t) % (3ul * t.n);
	qsort(t.thresholds, t.kills_max, sizeof(*t.thresholds), cmp_ulong);
	(void)snprintf(t.dir, sizeof(t.dir), "/tmp/sotto-client-crash-XXXXXX");
	if (mkdtemp(t.dir) == NULL)
		return 1;
	(void)snprintf(t.home, sizeof(t.home), "%s/home", t.dir);
	g_test = &t;
	(void)atexit(cleanup);
	printf("client_crash_test: seed %lu, messages %u each way, kills %u", seed, t.n,
	       t.kills_max);
	if (t.n_relays > 1 || t.kill_relays || t.seconds > 0)
		printf(", relays %u%s, %lu s", t.n_relays, t.kill_relays ? " (killed too)" : "",
		       t.seconds);
	printf("\n");
	ok = true;
	for (unsigned i = 0; ok && i < t.n_relays; i++)
		ok = relay_setup(&t, i);
	ok = ok && connect_profiles(&t) && burst(&t) && settle(&t) && final_messages(&t);
	if (ok)
		final_check(&t, &shown, &dups, &lost, &disorder);
	ok = ok && !t.failed && dups == 0 && lost == 0 && disorder == 0 && t.dup_events == 0 &&
	     t.kills == t.kills_max && shown == 2ul * t.n;
	printf("kills %u (+%lu at start), sent %lu, shown %lu, duplicates %lu, lost %lu, "
	       "out-of-order %lu, "
	       "events shown twice %lu, unanswered but stored %lu, resent after a kill %lu, busy "
	       "%lu\n",
	       t.kills, t.early_kills, t.accepted, shown, dups, lost, disorder, t.dup_events,
	       t.found, t.resent, t.busy);
	printf("kills of each process: alice %lu, bob %lu", t.c[0].kills, t.c[1].kills);
	for (unsigned i = 0; i < t.n_relays; i++)
		printf(", %s %lu", t.r[i].name, t.r[i].kills);
	printf("\n");
	for (int i = 0; i < 2; i++)
		if (ok && !quit(&t, &t.c[i])) {
			fprintf(stderr, "client_crash_test: %s did not quit with exit 0\n",
			        t.c[i].profile);
			ok = false;
		}
	cleanup();
	for (int i = 0; i < 2; i++) {
		free(t.c[i].buf);
		free(t.c[i].st);
		free(t.c[i].n_event);
		json_decref(t.c[i].answer);
		wrap_free(t.c[i].wrap);
	}
	for (unsigned i = 0; i < t.n_relays; i++)
		wrap_free(t.r[i].wrap);
	free(t.thresholds);
	if (!ok) {
		fprintf(stderr, "client_crash_test: FAILED (seed %lu); logs kept in %s\n", seed,
		        t.dir);
		return 1;
	}
	char cmd[PATH_LEN];
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t.dir);
	return system(cmd) == 0 ? 0 : 1;
}
