/* SPDX-License-Identifier: MIT */
/*
 * soak_test.c - the long run: many contacts over three relays for an hour,
 * a relay restarted every few minutes, and nothing lost, nothing twice,
 * no process growing.
 *
 * Real processes only: R sotto-relay daemons on loopback (each on its own
 * data directory and fixed port, so a restarted relay keeps its store and
 * address) and U users, each a profile made with the real sotto program
 * and receiving on one relay (user i on relay i mod R). C distinct pairs
 * of users become contacts (invite and connect with the sotto program).
 * Then every user runs as a long-lived `sotto --json` process, and the
 * driver sends texts at a steady rate, each from a random side of a random
 * contact, the text carrying its direction and a sequence number. Every
 * SOTTO_SOAK_RESTART_S seconds one relay other than the first is restarted
 * (SIGTERM and SIGKILL in turn); the first runs throughout.
 *
 * A send counts when its answer said ok (the message is stored). After the
 * last minute the sending stops, the driver waits (bounded) until every
 * counted message arrived, and reports per direction: sent, shown, lost
 * (counted, never shown), duplicated (shown twice), out of order; and the
 * VmRSS of every sotto process and of the first relay at the start (after
 * SOTTO_SOAK_WARMUP_S of traffic) and at the end. It fails when anything was
 * lost, duplicated or out of order, when a process ended, or when an RSS
 * grew more than 10%.
 *
 * usage: soak_test SOTTO SOTTO_RELAY   (scripts/soak builds and runs it)
 * Environment [default]: SOTTO_SOAK_MINUTES [60], SOTTO_SOAK_USERS [12],
 * SOTTO_SOAK_CONTACTS [50], SOTTO_SOAK_RELAYS [3], SOTTO_SOAK_RATE total
 * messages/s [20], SOTTO_SOAK_RESTART_S [180], SOTTO_SOAK_WARMUP_S [300],
 * SOTTO_SOAK_SEED [1]; SOTTO_SOAK_DEBUG prints every line the users print.
 * Every child is killed on every exit path; every wait is bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

enum {
	USERS_MAX = 64,
	RELAYS_MAX = 8,
	CONTACTS_MAX = 512,
	SEQ_MAX = 1 << 20,
	LINE_MAX_LEN = 1 << 17,
	PATH_LEN = 512,
	CMD_TIMEOUT_S = 120,      /* one run of the sotto program during setup */
	CONNECT_WAIT_MS = 300000, /* every contact connected */
	DRAIN_WAIT_MS = 300000,   /* every counted message shown after the sending stops */
	START_WAIT_MS = 60000,
};

struct relay {
	pid_t pid;
	int port;
	char dir[PATH_LEN];
	char addr[256];
	long rss_start_kb, rss_end_kb;
	unsigned restarts;
};

struct user {
	pid_t pid;
	int in_fd, out_fd; /* its stdin (we write), its stdout (we read) */
	char buf[LINE_MAX_LEN];
	size_t len;
	long rss_start_kb, rss_end_kb;
	bool is_ready;
	unsigned n_connected; /* contacts connected, as its last contacts answer said */
};

/* One direction of one contact: from user a to user b. */
struct dir {
	int a, b;
	uint32_t next_seq;  /* sequence numbers sent so far */
	uint8_t *accepted;  /* per seq: the send was answered ok */
	uint16_t *shown;    /* per seq: times shown at b */
	uint32_t max_shown; /* highest seq shown + 1 */
	unsigned long n_accepted, n_shown, n_dup, n_disorder;
};

struct soak {
	const char *sotto, *relay_bin;
	char tmp[64], home[PATH_LEN];
	unsigned n_users, n_contacts, n_relays, rate, restart_s, warmup_s, minutes;
	uint64_t rng;
	struct relay r[RELAYS_MAX];
	struct user u[USERS_MAX];
	struct dir d[2 * CONTACTS_MAX];
	size_t n_dirs;
	uint32_t next_id;
	/* send answers pending: id -> (dir, seq) */
	uint32_t *pend_dir, *pend_seq;
	size_t pend_cap;
	bool failed;
};

static struct soak *g_soak; /* for the exit path */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t rnd(struct soak *s)
{
	/* splitmix64: seeded, reproducible */
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void kill_all(struct soak *s)
{
	for (unsigned i = 0; i < s->n_users; i++)
		if (s->u[i].pid > 0) {
			kill(s->u[i].pid, SIGKILL);
			waitpid(s->u[i].pid, NULL, 0);
			s->u[i].pid = 0;
		}
	for (unsigned i = 0; i < s->n_relays; i++)
		if (s->r[i].pid > 0) {
			kill(s->r[i].pid, SIGKILL);
			waitpid(s->r[i].pid, NULL, 0);
			s->r[i].pid = 0;
		}
}

static _Noreturn void die(struct soak *s, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
static _Noreturn void die(struct soak *s, const char *fmt, ...)
{
	va_list ap;

	fputs("soak_test: FAIL: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	kill_all(s);
	fprintf(stderr, "soak_test: files kept in %s\n", s->tmp);
	exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	if (g_soak != NULL)
		kill_all(g_soak);
	_exit(2);
}

static unsigned env_uint(const char *name, unsigned dflt, unsigned max)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return dflt;
	n = strtoul(v, &end, 10);
	if (*end != '\0' || n > max) {
		fprintf(stderr, "soak_test: %s must be a number up to %u\n", name, max);
		exit(2);
	}
	return (unsigned)n;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static int free_port(struct soak *s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die(s, "no free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Runs argv (bounded by CMD_TIMEOUT_S) with stdout into out (cap bytes); its exit status. */
static int run_cmd(struct soak *s, char *const argv[], char *out, size_t cap)
{
	int pfd[2], st = 0;
	size_t n = 0;
	uint64_t deadline = now_ms() + CMD_TIMEOUT_S * 1000ull;
	pid_t pid;

	if (pipe(pfd) != 0)
		die(s, "pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		die(s, "fork: %s", strerror(errno));
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 0);
		dup2(pfd[1], 1);
		close(pfd[0]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		ssize_t k;
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		if (n + 1 >= cap)
			break;
		if ((k = read(pfd[0], out + n, cap - n - 1)) <= 0)
			break;
		n += (size_t)k;
	}
	out[n] = '\0';
	close(pfd[0]);
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* sotto --home H --profile uN ARGS...: its exit status and stdout. */
static int sotto(struct soak *s, unsigned user, char *out, size_t cap, const char *a1,
                 const char *a2, const char *a3, const char *a4, const char *a5)
{
	char prof[32];
	char *argv[16];
	int n = 0;

	snprintf(prof, sizeof(prof), "u%u", user);
	argv[n++] = (char *)s->sotto;
	argv[n++] = "--home";
	argv[n++] = s->home;
	argv[n++] = "--profile";
	argv[n++] = prof;
	const char *rest[] = {a1, a2, a3, a4, a5};
	for (int i = 0; i < 5 && rest[i] != NULL; i++)
		argv[n++] = (char *)rest[i];
	argv[n] = NULL;
	return run_cmd(s, argv, out, cap);
}

static void relay_start(struct soak *s, unsigned i)
{
	struct relay *r = &s->r[i];
	char port[16], log[PATH_LEN + 16];
	pid_t pid;

	snprintf(port, sizeof(port), "%d", r->port);
	snprintf(log, sizeof(log), "%s.log", r->dir);
	if ((pid = fork()) < 0)
		die(s, "fork: %s", strerror(errno));
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		int null = open("/dev/null", O_RDWR);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 0);
		dup2(null, 1);
		dup2(fd, 2);
		if (getuid() == 0)
			execl(s->relay_bin, s->relay_bin, "run", "--dir", r->dir, "--port", port,
			      "--allow-root", (char *)NULL);
		else
			execl(s->relay_bin, s->relay_bin, "run", "--dir", r->dir, "--port", port,
			      (char *)NULL);
		_exit(127);
	}
	r->pid = pid;
	/* Up when the port accepts a connection. */
	for (uint64_t end = now_ms() + START_WAIT_MS;;) {
		struct sockaddr_in a;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)r->port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(fd);
		if (ok)
			return;
		if (now_ms() > end || waitpid(pid, NULL, WNOHANG) == pid)
			die(s, "relay %u did not start (see %s)", i, log);
		usleep(50000);
	}
}

static void relay_stop(struct soak *s, unsigned i, int sig)
{
	struct relay *r = &s->r[i];

	kill(r->pid, sig);
	for (uint64_t end = now_ms() + 30000; waitpid(r->pid, NULL, WNOHANG) != r->pid;) {
		if (now_ms() > end) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, NULL, 0);
			break;
		}
		usleep(20000);
	}
	r->pid = 0;
}

static void user_start(struct soak *s, unsigned i)
{
	struct user *u = &s->u[i];
	int in[2], out[2];
	char prof[32];
	pid_t pid;

	snprintf(prof, sizeof(prof), "u%u", i);
	if (pipe(in) != 0 || pipe(out) != 0)
		die(s, "pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		die(s, "fork: %s", strerror(errno));
	if (pid == 0) {
		char log[PATH_LEN + 32];
		snprintf(log, sizeof(log), "%s/u%u.log", s->tmp, i);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(fd, 2);
		close(in[1]);
		close(out[0]);
		execl(s->sotto, s->sotto, "--home", s->home, "--profile", prof, "--json",
		      (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	fcntl(out[0], F_SETFL, O_NONBLOCK);
	u->pid = pid;
	u->in_fd = in[1];
	u->out_fd = out[0];
	u->len = 0;
}

static void user_write(struct soak *s, unsigned i, const char *line)
{
	size_t len = strlen(line), off = 0;

	while (off < len) {
		ssize_t k = write(s->u[i].in_fd, line + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die(s, "writing to u%u: %s", i, strerror(errno));
		off += (size_t)k;
	}
}

static struct dir *dir_of(struct soak *s, unsigned a, unsigned b)
{
	for (size_t i = 0; i < s->n_dirs; i++)
		if (s->d[i].a == (int)a && s->d[i].b == (int)b)
			return &s->d[i];
	return NULL;
}

/* One line from user i's JSON output. */
static void on_line(struct soak *s, unsigned i, const char *line)
{
	json_error_t err;
	json_t *j = json_loads(line, 0, &err);
	const char *ev;

	if (j == NULL)
		die(s, "u%u printed a line that is not JSON: %.200s", i, line);
	if (getenv("SOTTO_SOAK_DEBUG") != NULL)
		fprintf(stderr, "u%u: %.300s\n", i, line);
	ev = json_string_value(json_object_get(j, "event"));
	if (ev != NULL && strcmp(ev, "ready") == 0) {
		s->u[i].is_ready = true;
	} else if (ev == NULL && json_is_array(json_object_get(j, "contacts"))) {
		/* The answer to a contacts command: how many are connected now. */
		json_t *cs = json_object_get(j, "contacts"), *c;
		size_t k;
		s->u[i].n_connected = 0;
		json_array_foreach(cs, k, c)
		{
			const char *st = json_string_value(json_object_get(c, "state"));
			if (st != NULL && strcmp(st, "connected") == 0)
				s->u[i].n_connected++;
		}
	} else if (ev != NULL && strcmp(ev, "message") == 0) {
		const char *text = json_string_value(json_object_get(j, "text"));
		unsigned a, b, seq;
		struct dir *d;
		if (text == NULL || sscanf(text, "soak u%u>u%u %u", &a, &b, &seq) != 3 || b != i ||
		    (d = dir_of(s, a, b)) == NULL || seq >= SEQ_MAX)
			die(s, "u%u received an unexpected message: %.200s", i, line);
		if (d->shown[seq] == 0)
			d->n_shown++;
		else
			d->n_dup++;
		if (d->shown[seq] < UINT16_MAX)
			d->shown[seq]++;
		if (seq + 1 < d->max_shown && d->shown[seq] == 1)
			d->n_disorder++;
		if (seq + 1 > d->max_shown)
			d->max_shown = seq + 1;
	} else if (ev == NULL && json_object_get(j, "id") != NULL) {
		json_int_t id = json_integer_value(json_object_get(j, "id"));
		bool ok = json_is_true(json_object_get(j, "ok"));
		if (id > 0 && (size_t)id < s->pend_cap && s->pend_dir[id] != UINT32_MAX) {
			struct dir *d = &s->d[s->pend_dir[id]];
			if (ok) {
				d->accepted[s->pend_seq[id]] = 1;
				d->n_accepted++;
			}
			s->pend_dir[id] = UINT32_MAX;
		}
	}
	json_decref(j);
}

/* Reads what the users printed, for up to wait_ms. */
static void pump(struct soak *s, int wait_ms)
{
	struct pollfd p[USERS_MAX];

	for (unsigned i = 0; i < s->n_users; i++)
		p[i] = (struct pollfd){.fd = s->u[i].out_fd, .events = POLLIN};
	if (poll(p, s->n_users, wait_ms) <= 0)
		return;
	for (unsigned i = 0; i < s->n_users; i++) {
		struct user *u = &s->u[i];
		if ((p[i].revents & (POLLIN | POLLHUP)) == 0)
			continue;
		for (;;) {
			ssize_t k = read(u->out_fd, u->buf + u->len, sizeof(u->buf) - 1 - u->len);
			if (k < 0 && (errno == EAGAIN || errno == EINTR))
				break;
			if (k <= 0)
				die(s, "u%u ended (see %s/u%u.log)", i, s->tmp, i);
			u->len += (size_t)k;
			char *nl;
			while ((nl = memchr(u->buf, '\n', u->len)) != NULL) {
				*nl = '\0';
				on_line(s, i, u->buf);
				size_t used = (size_t)(nl + 1 - u->buf);
				memmove(u->buf, nl + 1, u->len - used);
				u->len -= used;
			}
			if (u->len >= sizeof(u->buf) - 1)
				die(s, "u%u printed a line too long", i);
		}
	}
}

static void send_one(struct soak *s, size_t di)
{
	struct dir *d = &s->d[di];
	char line[256];
	uint32_t id = ++s->next_id;

	if (d->next_seq >= SEQ_MAX || id >= s->pend_cap)
		return;
	s->pend_dir[id] = (uint32_t)di;
	s->pend_seq[id] = d->next_seq;
	snprintf(line, sizeof(line),
	         "{\"id\":%" PRIu32 ",\"cmd\":\"send\",\"contact\":\"u%d\",\"text\":\"soak u%d>u%d "
	         "%06" PRIu32 "\"}\n",
	         id, d->b, d->a, d->b, d->next_seq);
	d->next_seq++;
	user_write(s, (unsigned)d->a, line);
}

static void rss_all(struct soak *s, bool is_end)
{
	for (unsigned i = 0; i < s->n_users; i++) {
		long kb = rss_kb(s->u[i].pid);
		if (is_end)
			s->u[i].rss_end_kb = kb;
		else
			s->u[i].rss_start_kb = kb;
	}
	for (unsigned i = 0; i < s->n_relays; i++) {
		long kb = s->r[i].pid > 0 ? rss_kb(s->r[i].pid) : -1;
		if (is_end)
			s->r[i].rss_end_kb = kb;
		else
			s->r[i].rss_start_kb = kb;
	}
}

static void setup(struct soak *s)
{
	static char out[1 << 16];
	bool used[USERS_MAX][USERS_MAX];

	memset(used, 0, sizeof(used));
	for (unsigned i = 0; i < s->n_relays; i++) {
		struct relay *r = &s->r[i];
		char port[16];
		r->port = free_port(s);
		snprintf(r->dir, sizeof(r->dir), "%s/relay%u", s->tmp, i);
		snprintf(port, sizeof(port), "%d", r->port);
		char *argv[] = {(char *)s->relay_bin, "init",   "--dir", r->dir, "--host",
		                "127.0.0.1",          "--port", port,    NULL};
		if (run_cmd(s, argv, out, sizeof(out)) != 0 || sscanf(out, "%255s", r->addr) != 1 ||
		    strncmp(r->addr, "sotto://", 8) != 0)
			die(s, "sotto-relay init %u: %s", i, out);
		relay_start(s, i);
	}
	for (unsigned i = 0; i < s->n_users; i++) {
		char name[32];
		snprintf(name, sizeof(name), "User%u", i);
		if (sotto(s, i, out, sizeof(out), "init", "--no-passphrase", "--name", name,
		          NULL) != 0 ||
		    sotto(s, i, out, sizeof(out), "relay", "add", s->r[i % s->n_relays].addr, NULL,
		          NULL) != 0)
			die(s, "setting up u%u", i);
	}
	for (unsigned k = 0; k < s->n_contacts; k++) {
		unsigned a, b;
		char an[32], bn[32], link[4096];
		do {
			a = (unsigned)(rnd(s) % s->n_users);
			b = (unsigned)(rnd(s) % s->n_users);
		} while (a == b || used[a][b]);
		used[a][b] = used[b][a] = true;
		snprintf(an, sizeof(an), "u%u", a);
		snprintf(bn, sizeof(bn), "u%u", b);
		if (sotto(s, a, out, sizeof(out), "invite", "--name", bn, NULL, NULL) != 0 ||
		    sscanf(out, "%4095s", link) != 1)
			die(s, "u%u invites u%u: %s", a, b, out);
		if (sotto(s, b, out, sizeof(out), "connect", link, "--name", an, NULL) != 0)
			die(s, "u%u joins u%u: %s", b, a, out);
		s->d[s->n_dirs++] = (struct dir){.a = (int)a, .b = (int)b};
		s->d[s->n_dirs++] = (struct dir){.a = (int)b, .b = (int)a};
	}
	for (size_t i = 0; i < s->n_dirs; i++) {
		s->d[i].accepted = calloc(SEQ_MAX, 1);
		s->d[i].shown = calloc(SEQ_MAX, sizeof(uint16_t));
		if (s->d[i].accepted == NULL || s->d[i].shown == NULL)
			die(s, "out of memory");
	}
}

int main(int argc, char **argv)
{
	static struct soak soak;
	struct soak *s = &soak;
	uint64_t start, end, next_send, next_restart, warm_at;
	unsigned restart_turn = 0;
	bool has_rss_start = false;
	int code = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: soak_test SOTTO SOTTO_RELAY\n");
		return 2;
	}
	g_soak = s;
	s->sotto = argv[1];
	s->relay_bin = argv[2];
	s->minutes = env_uint("SOTTO_SOAK_MINUTES", 60, 24 * 60);
	s->n_users = env_uint("SOTTO_SOAK_USERS", 12, USERS_MAX);
	s->n_contacts = env_uint("SOTTO_SOAK_CONTACTS", 50, CONTACTS_MAX);
	s->n_relays = env_uint("SOTTO_SOAK_RELAYS", 3, RELAYS_MAX);
	s->rate = env_uint("SOTTO_SOAK_RATE", 20, 1000);
	s->restart_s = env_uint("SOTTO_SOAK_RESTART_S", 180, 3600);
	s->warmup_s = env_uint("SOTTO_SOAK_WARMUP_S", 300, 3600);
	s->rng = env_uint("SOTTO_SOAK_SEED", 1, UINT32_MAX);
	if (s->n_users < 2 || s->n_relays < 1 || s->rate < 1 || s->minutes < 1 ||
	    s->n_contacts * 2 > s->n_users * (s->n_users - 1) || s->restart_s < 5) {
		fprintf(stderr,
		        "soak_test: need 2+ users, 1+ relays, contacts <= users*(users-1)/2, "
		        "a rate, minutes and a restart interval of 5 s or more\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(s->minutes * 60 + 3600); /* setup and drain are bounded too; this is the backstop */
	s->pend_cap = (size_t)s->rate * (s->minutes * 60 + 600) + 1024;
	s->pend_dir = malloc(s->pend_cap * sizeof(uint32_t));
	s->pend_seq = malloc(s->pend_cap * sizeof(uint32_t));
	if (s->pend_dir == NULL || s->pend_seq == NULL)
		return 1;
	memset(s->pend_dir, 0xff, s->pend_cap * sizeof(uint32_t));
	snprintf(s->tmp, sizeof(s->tmp), "/tmp/sotto-soak-XXXXXX");
	if (mkdtemp(s->tmp) == NULL)
		return 1;
	size_t tmp_len = strlen(s->tmp);
	if (tmp_len + sizeof("/home") > sizeof(s->home))
		return 1;
	memcpy(s->home, s->tmp, tmp_len);
	memcpy(s->home + tmp_len, "/home", sizeof("/home"));
	mkdir(s->home, 0700);
	printf("soak: %u min, %u users, %u contacts over %u relays, %u msgs/s, a relay restart "
	       "every %u s, seed %" PRIu64 "\n",
	       s->minutes, s->n_users, s->n_contacts, s->n_relays, s->rate, s->restart_s, s->rng);
	fflush(stdout);
	setup(s);
	for (unsigned i = 0; i < s->n_users; i++)
		user_start(s, i);
	/* Every contact connected on both sides (the inviters take in the joins now). */
	for (uint64_t dl = now_ms() + CONNECT_WAIT_MS, ask = 0;;) {
		unsigned n = 0;
		if (now_ms() >= ask) {
			for (unsigned i = 0; i < s->n_users; i++)
				user_write(s, i, "{\"id\":0,\"cmd\":\"contacts\"}\n");
			ask = now_ms() + 1000;
		}
		pump(s, 200);
		for (unsigned i = 0; i < s->n_users; i++)
			n += s->u[i].is_ready;
		size_t need = 0;
		for (unsigned i = 0; i < s->n_users; i++)
			need += s->u[i].n_connected;
		if (n == s->n_users && need >= 2 * (size_t)s->n_contacts) /* both sides of each */
			break;
		if (now_ms() > dl)
			die(s, "contacts not connected after %d s", CONNECT_WAIT_MS / 1000);
	}
	printf("soak: set up; sending\n");
	fflush(stdout);
	start = now_ms();
	end = start + (uint64_t)s->minutes * 60000;
	warm_at = start + (uint64_t)s->warmup_s * 1000;
	next_send = start;
	next_restart = start + (uint64_t)s->restart_s * 1000;
	while (now_ms() < end) {
		uint64_t t = now_ms();
		while (next_send <= t) {
			send_one(s, (size_t)(rnd(s) % s->n_dirs));
			next_send += 1000 / s->rate > 0 ? 1000 / s->rate : 1;
		}
		if (!has_rss_start && t >= warm_at) {
			rss_all(s, false);
			has_rss_start = true;
		}
		if (s->n_relays > 1 && t >= next_restart) {
			unsigned i = 1 + restart_turn % (s->n_relays - 1);
			int sig = restart_turn % 2 == 0 ? SIGTERM : SIGKILL;
			relay_stop(s, i, sig);
			relay_start(s, i);
			s->r[i].restarts++;
			restart_turn++;
			printf("soak: %3" PRIu64 " min: relay %u restarted (%s)\n",
			       (t - start) / 60000, i, sig == SIGTERM ? "SIGTERM" : "SIGKILL");
			fflush(stdout);
			next_restart += (uint64_t)s->restart_s * 1000;
		}
		pump(s, 20);
	}
	if (!has_rss_start)
		rss_all(s, false);
	rss_all(s, true);
	/* Drain: every accepted message shown. */
	for (uint64_t dl = now_ms() + DRAIN_WAIT_MS;;) {
		bool done = true;
		pump(s, 200);
		for (size_t i = 0; i < s->n_dirs && done; i++) {
			struct dir *d = &s->d[i];
			for (uint32_t q = 0; q < d->next_seq; q++)
				if (d->accepted[q] && d->shown[q] == 0) {
					done = false;
					break;
				}
		}
		if (done || now_ms() > dl)
			break;
	}
	unsigned long sent = 0, acc = 0, shown = 0, lost = 0, dup = 0, disorder = 0, unacc = 0;
	for (size_t i = 0; i < s->n_dirs; i++) {
		struct dir *d = &s->d[i];
		sent += d->next_seq;
		acc += d->n_accepted;
		shown += d->n_shown;
		dup += d->n_dup;
		disorder += d->n_disorder;
		for (uint32_t q = 0; q < d->next_seq; q++) {
			if (d->accepted[q] && d->shown[q] == 0)
				lost++;
			if (!d->accepted[q] && d->shown[q] > 0)
				unacc++;
		}
	}
	printf("soak: sent %lu, accepted %lu, shown %lu, lost %lu, duplicated %lu, out of order "
	       "%lu, shown without an ok answer %lu\n",
	       sent, acc, shown, lost, dup, disorder, unacc);
	printf("%-10s %12s %12s %8s\n", "process", "RSS start", "RSS end", "growth");
	for (unsigned i = 0; i < s->n_users; i++) {
		struct user *u = &s->u[i];
		double g = u->rss_start_kb > 0 ? 100.0 * (double)(u->rss_end_kb - u->rss_start_kb) /
		                                         (double)u->rss_start_kb
		                               : 0;
		printf("sotto u%-3u %9ld kB %9ld kB %+7.1f%%\n", i, u->rss_start_kb, u->rss_end_kb,
		       g);
		if (g > 10.0)
			code = 1;
	}
	for (unsigned i = 0; i < s->n_relays; i++) {
		struct relay *r = &s->r[i];
		double g = r->rss_start_kb > 0 ? 100.0 * (double)(r->rss_end_kb - r->rss_start_kb) /
		                                         (double)r->rss_start_kb
		                               : 0;
		printf("relay %-4u %9ld kB %9ld kB %+7.1f%%%s\n", i, r->rss_start_kb, r->rss_end_kb,
		       g, r->restarts > 0 ? " (restarted: not judged)" : "");
		if (r->restarts == 0 && g > 10.0)
			code = 1;
	}
	if (lost != 0 || dup != 0 || disorder != 0)
		code = 1;
	for (unsigned i = 0; i < s->n_users; i++)
		user_write(s, i, "{\"cmd\":\"quit\"}\n");
	for (unsigned i = 0; i < s->n_users; i++) {
		int st = 0;
		for (uint64_t dl = now_ms() + 30000; waitpid(s->u[i].pid, &st, WNOHANG) == 0;) {
			if (now_ms() > dl) {
				kill(s->u[i].pid, SIGKILL);
				waitpid(s->u[i].pid, &st, 0);
				code = 1;
				break;
			}
			usleep(20000);
		}
		s->u[i].pid = 0;
	}
	kill_all(s);
	printf("soak: %s\n", code == 0 ? "PASSED" : "FAILED");
	if (code == 0) {
		char *argv_rm[] = {"/bin/rm", "-rf", s->tmp, NULL};
		static char out[64];
		(void)run_cmd(s, argv_rm, out, sizeof(out));
	} else {
		printf("soak: files kept in %s\n", s->tmp);
	}
	return code;
}
