/* SPDX-License-Identifier: MIT */
/*
 * client.c - benchmark of two client agents (alice and bob) talking through
 * one real sotto-relay daemon on loopback.
 *
 * Each client is a real profile (store_profile, a key without passphrase,
 * store_db) in a temporary directory and a client_agent on its own loop and
 * thread; they connect with invite/connect like two users would. Figures:
 *   msgs/s   alice sends 100-byte texts as fast as the agent accepts them,
 *            with at most --window messages sent but not yet shown at bob;
 *            a message counts when bob's RECEIVED event fires ("sent to
 *            shown"), over --seconds after 0.5 s of warm-up;
 *   latency  p50/p99 from the send_text call to bob's RECEIVED event, with
 *            alice paced at --rate messages/s for --seconds (the goal's
 *            figure), then again paced at half the msgs/s just measured (a
 *            load the pair sustains, so no queue builds up); a paced sender
 *            that finds the outbox full (CLIENT_AGENT_OUTBOX_MAX) waits;
 *   start    a fresh process opens bob's profile and agent while a message
 *            waits for him on the relay: the time from the start of the
 *            opening (profile, key, database, agent) to its RECEIVED event;
 *            measured with the one-contact profile and again with the
 *            large one below;
 *   RSS      bob's profile is grown to 100 contacts and --messages stored
 *            messages (made through the agents and the relay: alice sends,
 *            bob receives and stores); then a fresh process opens it, shows
 *            the first waiting message, lists contacts and reads the last
 *            CLIENT_AGENT_HISTORY_MAX messages of one, and reports its VmRSS,
 *            VmHWM and the growth over its RSS before opening the profile.
 *            Building the messages stops after --build-seconds; the table
 *            says how many were stored and at what rate.
 *
 * The agent sends the outbox one entry at a time per contact (one relay
 * round trip per message per contact), and every send, status and received
 * message is one SQLite transaction with synchronous=FULL (an fsync), as is
 * every SEND the relay stores: the msgs/s line is printed with what bounds
 * it, measured here: one send_text alone (one commit) and one message alone
 * from send_text to SENT (the relay round trip, the relay's commit and
 * ours) and to RECEIVED. --tmp on a tmpfs takes the fsyncs out and shows
 * what is left.
 *
 * The times are CLOCK_MONOTONIC, shared by the threads; a text carries its
 * sequence number in its first digits. RSS is read from /proc/self/status
 * in the fresh process.
 *
 * Every child runs with PR_SET_PDEATHSIG and is killed at exit; every wait
 * is bounded, and an alarm ends a run that hangs anyway.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include <sotto/sotto.h>

#include "client/agent.h"
#include "crypto/secbuf.h"
#include "store/db.h"
#include "store/key.h"
#include "store/profile.h"

#ifndef SOTTO_RELAY_BIN
#define SOTTO_RELAY_BIN "sotto-relay"
#endif

enum {
	TEXT_LEN = 100,
	SEQ_DIGITS = 10,
	SEQ_CAP = 1 << 20,    /* messages whose times are kept */
	CONTACTS = 100,       /* contacts of the large profile */
	WINDOW_DEFAULT = 256, /* sent but not yet shown, throughput run */
	PER_TICK_MAX = 32,    /* sends per 1 ms tick: the loop must keep turning */
	CHILDREN_MAX = 4,
	WAIT_MS = 30000, /* any single wait of the orchestration */
};

struct options {
	double seconds, build_seconds, rate;
	int window;
	long messages;
	bool json;
	const char *relay_bin, *tmp;
};

/* ---- process plumbing (as bench/relay.c) ---- */

static pid_t g_children[CHILDREN_MAX];
static char g_tmpdir[256];

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	for (int i = 0; i < CHILDREN_MAX; i++) {
		if (g_children[i] > 0) {
			kill(g_children[i], SIGKILL);
			(void)waitpid(g_children[i], NULL, 0);
			g_children[i] = 0;
		}
	}
	if (g_tmpdir[0] != '\0')
		(void)nftw(g_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_alarm(int sig)
{
	static const char msg[] = "client bench: guard timeout, giving up\n";
	(void)sig;
	for (int i = 0; i < CHILDREN_MAX; i++) {
		if (g_children[i] > 0)
			kill(g_children[i], SIGKILL);
	}
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "client bench: %s\n", what);
	exit(1);
}

static void forget_child(pid_t pid)
{
	for (int i = 0; i < CHILDREN_MAX; i++) {
		if (g_children[i] == pid)
			g_children[i] = 0;
	}
}

/* Starts argv with stderr to log and stdout to a pipe returned in *out_fd. */
static pid_t spawn(char *const argv[], const char *log, int *out_fd)
{
	int pfd[2] = {-1, -1};
	if (out_fd != NULL && pipe(pfd) != 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			(void)dup2(fd, 2);
			(void)dup2(out_fd != NULL ? pfd[1] : fd, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (out_fd != NULL) {
		close(pfd[1]);
		*out_fd = pfd[0];
	}
	for (int i = 0; i < CHILDREN_MAX; i++) {
		if (g_children[i] == 0) {
			g_children[i] = pid;
			return pid;
		}
	}
	kill(pid, SIGKILL);
	die("too many children");
}

/* sig (0: none), up to 10 s, then SIGKILL; returns the wait status. */
static int stop_child(pid_t pid, int sig)
{
	int status = 0;
	if (sig != 0)
		kill(pid, sig);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			goto out;
		sleep_ms(10);
	}
	kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);
out:
	forget_child(pid);
	return status;
}

/* Reads all of fd (bounded by cap) and closes it. */
static size_t read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	while (n < cap - 1 && (k = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	buf[n] = '\0';
	return n;
}

static long status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, n) == 0)
			kb = strtol(line + n, NULL, 10);
	}
	fclose(f);
	return kb;
}

static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		die("cannot find a free port");
	close(fd);
	return ntohs(a.sin_port);
}

static void wait_listening(uint16_t port, pid_t pid)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons(port)};
	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			die("sotto-relay exited at start (see its log)");
		sleep_ms(10);
	}
	die("sotto-relay did not start listening in 10 s");
}

/* Starts a fresh relay; addr gets its "sotto://KEY@host:port". */
static pid_t relay_start(const struct options *o, char *addr, size_t cap)
{
	char dir[300], log[400], port[16];
	int fd = -1;

	snprintf(dir, sizeof(dir), "%s/relay", g_tmpdir);
	snprintf(log, sizeof(log), "%s/relay.log", g_tmpdir);
	snprintf(port, sizeof(port), "%u", (unsigned)free_port());
	char *init[] = {
	        (char *)o->relay_bin,  "init",    "--dir", dir, "--port", port, "--quota", "65536",
	        "--queues-per-minute", "1000000", NULL};
	pid_t pid = spawn(init, log, &fd);
	size_t n = read_all(fd, addr, cap);
	int status = stop_child(pid, 0);
	while (n > 0 && (addr[n - 1] == '\n' || addr[n - 1] == '\r'))
		addr[--n] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n == 0)
		die("sotto-relay init failed (see its log)");
	char *run[] = {(char *)o->relay_bin, "run", "--dir", dir, "--allow-root", NULL};
	pid = spawn(run, log, NULL);
	wait_listening((uint16_t)strtoul(port, NULL, 10), pid);
	return pid;
}

/* ---- message times, shared by the threads ---- */

static _Atomic uint64_t *g_t_send;  /* by sequence number: send_text called */
static _Atomic uint64_t *g_t_shown; /* by sequence number: RECEIVED at bob */

static void text_make(uint8_t *text, uint32_t seq)
{
	char head[SEQ_DIGITS + 1];
	snprintf(head, sizeof(head), "%0*u", SEQ_DIGITS, (unsigned)seq);
	memset(text, 'x', TEXT_LEN);
	memcpy(text, head, SEQ_DIGITS);
}

static bool text_seq(const uint8_t *text, size_t len, uint32_t *seq)
{
	uint32_t v = 0;
	if (len != TEXT_LEN)
		return false;
	for (int i = 0; i < SEQ_DIGITS; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(text[i] - '0');
	}
	*seq = v;
	return true;
}

static int cmp_u64(const void *a, const void *b);

/* ---- a client: profile, database and agent on its own loop and thread ---- */

/* What alice's sending timer does. */
struct drive {
	int64_t contacts[CONTACTS];
	int n_contacts;
	int window;        /* sent minus shown at most this */
	double rate;       /* messages/s; 0: as fast as the window allows */
	uint64_t t0_ns;    /* pacing start */
	uint64_t due_base; /* sequence when pacing began */
	uint32_t stop_seq; /* sends stop here */
	int next;          /* round robin over contacts */
};

struct peer {
	const char *name;
	sotto_ctx *ctx;
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;
	struct store_profile *profile;
	struct store_db *db;
	struct client_agent *agent;
	pthread_t thread;
	bool running;
	struct peer *other;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*job)(struct peer *p, void *arg); /* runs on the loop, under no lock */
	void *job_arg;
	bool job_done;

	/* events, counted on the loop thread, read by the main thread */
	atomic_int n_connected, n_relay_up, n_failed, n_errors;
	atomic_ulong n_shown, n_sent_ok;
	_Atomic int64_t last_connected;
	_Atomic int64_t last_sent_id; /* the last message that became SENT */
	_Atomic uint64_t t_last_sent; /* when it did */
	atomic_bool closed;

	/* alice's sending */
	struct drive drive;
	_Atomic bool driving;
	atomic_uint seq; /* next sequence number */
	atomic_ulong n_busy;
};

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct peer *p = user;
	uint32_t seq;

	switch (ev->kind) {
	case CLIENT_AGENT_EV_CONNECTED:
		atomic_store(&p->last_connected, ev->contact_id);
		atomic_fetch_add(&p->n_connected, 1);
		break;
	case CLIENT_AGENT_EV_RECEIVED:
		if (ev->text != NULL && text_seq(ev->text, ev->text_len, &seq) && seq < SEQ_CAP)
			atomic_store(&g_t_shown[seq], now_ns());
		atomic_fetch_add(&p->n_shown, 1);
		break;
	case CLIENT_AGENT_EV_STATUS:
		if (ev->status == CLIENT_AGENT_SENT) {
			atomic_store(&p->t_last_sent, now_ns());
			atomic_store(&p->last_sent_id, ev->msg_id);
			atomic_fetch_add(&p->n_sent_ok, 1);
		} else if (ev->status == CLIENT_AGENT_FAILED) {
			atomic_fetch_add(&p->n_failed, 1);
		}
		break;
	case CLIENT_AGENT_EV_RELAY_UP: atomic_fetch_add(&p->n_relay_up, 1); break;
	case CLIENT_AGENT_EV_ERROR:
		atomic_fetch_add(&p->n_errors, 1);
		fprintf(stderr, "client bench: %s: agent error %s (contact %lld)\n", p->name,
		        sotto_strerror(ev->err), (long long)ev->contact_id);
		break;
	default: break;
	}
}

/* Sends one text to contact c; false when the agent refused it. */
static bool send_one(struct peer *p, int64_t c, int64_t *msg_id)
{
	uint8_t text[TEXT_LEN];
	uint32_t seq = atomic_load(&p->seq);
	text_make(text, seq);
	if (seq < SEQ_CAP)
		atomic_store(&g_t_send[seq], now_ns());
	sotto_err rc = client_agent_send_text(p->agent, c, text, TEXT_LEN, msg_id);
	if (rc == SOTTO_ERR_BUSY) {
		atomic_fetch_add(&p->n_busy, 1);
		return false;
	}
	if (rc != SOTTO_OK) {
		fprintf(stderr, "client bench: send_text: %s\n", sotto_strerror(rc));
		atomic_store(&p->driving, false);
		return false;
	}
	atomic_fetch_add(&p->seq, 1);
	return true;
}

/* Every 1 ms on alice's loop: sends what the window or the rate allows. */
static void on_tick(uv_timer_t *t)
{
	struct peer *p = t->data;
	struct drive *d = &p->drive;
	unsigned long shown;
	int n = 0;

	if (!atomic_load(&p->driving))
		return;
	for (;;) {
		uint32_t seq = atomic_load(&p->seq);
		shown = atomic_load(&p->other->n_shown);
		if (seq >= d->stop_seq || n >= PER_TICK_MAX)
			break;
		if (d->rate > 0) {
			double due = (double)(now_ns() - d->t0_ns) * d->rate / 1e9;
			if ((double)(seq - d->due_base) >= due)
				break;
		}
		if (d->window > 0 && (long)seq - (long)shown >= d->window)
			break;
		if (!send_one(p, d->contacts[d->next], NULL))
			break;
		d->next = (d->next + 1) % d->n_contacts;
		n++;
	}
}

static void on_wake(uv_async_t *h)
{
	struct peer *p = h->data;
	void (*job)(struct peer *, void *);
	void *arg;

	pthread_mutex_lock(&p->mu);
	job = p->job;
	arg = p->job_arg;
	p->job = NULL;
	pthread_mutex_unlock(&p->mu);
	if (job == NULL)
		return;
	job(p, arg);
	pthread_mutex_lock(&p->mu);
	p->job_done = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
}

/* Runs job on p's loop thread and waits for it to return. */
static void peer_call(struct peer *p, void (*job)(struct peer *, void *), void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->job = job;
	p->job_arg = arg;
	p->job_done = false;
	if (uv_async_send(&p->wake) != 0)
		die("uv_async_send");
	while (!p->job_done)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static void *peer_thread(void *arg)
{
	struct peer *p = arg;
	(void)uv_run(&p->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* Opens p's profile (creating it and its key the first time) and agent. */
static sotto_err profile_open(sotto_ctx *ctx, uv_loop_t *loop, const char *name, bool create,
                              struct client_agent_callbacks *cb, struct store_profile **profile,
                              struct store_db **db, struct client_agent **agent)
{
	struct secbuf *key = NULL;
	sotto_err rc = store_profile_new(ctx, g_tmpdir, name, profile);
	if (rc != SOTTO_OK)
		return rc;
	rc = create ? store_key_create(ctx, *profile, NULL, 0, NULL, &key)
	            : store_key_load(ctx, *profile, NULL, 0, &key);
	if (rc != SOTTO_OK)
		return rc;
	rc = store_db_new(ctx, *profile, key, db);
	secbuf_free(key);
	if (rc != SOTTO_OK)
		return rc;
	return client_agent_open(ctx, loop, *db, NULL, cb, agent);
}

static void peer_start(struct peer *p, bool create)
{
	struct client_agent_callbacks cb = {.on_event = on_event, .user = p};

	atomic_store(&p->closed, false);
	atomic_store(&p->n_relay_up, 0);
	if (sotto_ctx_new(&p->ctx, NULL) != SOTTO_OK || uv_loop_init(&p->loop) != 0 ||
	    uv_async_init(&p->loop, &p->wake, on_wake) != 0 ||
	    uv_timer_init(&p->loop, &p->tick) != 0)
		die("loop setup");
	p->wake.data = p;
	p->tick.data = p;
	sotto_err rc = profile_open(p->ctx, &p->loop, p->name, create, &cb, &p->profile, &p->db,
	                            &p->agent);
	if (rc != SOTTO_OK) {
		fprintf(stderr, "client bench: %s: %s\n", p->name, sotto_strerror(rc));
		die("cannot open a profile");
	}
	if (uv_timer_start(&p->tick, on_tick, 1, 1) != 0)
		die("timer");
	if (pthread_create(&p->thread, NULL, peer_thread, p) != 0)
		die("thread");
	p->running = true;
}

static void on_closed(void *user)
{
	struct peer *p = user;
	atomic_store(&p->closed, true);
	uv_close((uv_handle_t *)&p->wake, NULL);
	uv_close((uv_handle_t *)&p->tick, NULL);
}

static void job_close(struct peer *p, void *arg)
{
	(void)arg;
	atomic_store(&p->driving, false);
	client_agent_close(p->agent, on_closed, p);
}

static void peer_stop(struct peer *p)
{
	if (!p->running)
		return;
	peer_call(p, job_close, NULL);
	(void)pthread_join(p->thread, NULL);
	p->agent = NULL;
	(void)uv_loop_close(&p->loop);
	store_db_free(p->db);
	store_profile_free(p->profile);
	sotto_ctx_free(p->ctx);
	p->db = NULL;
	p->profile = NULL;
	p->ctx = NULL;
	p->running = false;
}

/* Waits (bounded) until cond(p, v) holds; false on timeout. */
static bool wait_for(bool (*cond)(struct peer *, unsigned long), struct peer *p, unsigned long v,
                     long ms)
{
	for (long i = 0; i < ms; i++) {
		if (cond(p, v))
			return true;
		sleep_ms(1);
	}
	return cond(p, v);
}

static bool has_connected(struct peer *p, unsigned long v)
{
	return (unsigned long)atomic_load(&p->n_connected) >= v;
}

static bool has_shown(struct peer *p, unsigned long v)
{
	return atomic_load(&p->n_shown) >= v;
}

static bool has_relay_up(struct peer *p, unsigned long v)
{
	return (unsigned long)atomic_load(&p->n_relay_up) >= v;
}

static bool has_sent(struct peer *p, unsigned long v)
{
	return atomic_load(&p->last_sent_id) == (int64_t)v;
}

/* ---- jobs on a loop ---- */

static void job_relay_add(struct peer *p, void *arg)
{
	const char *addr = arg;
	if (client_agent_relay_add(p->agent, addr, strlen(addr)) != SOTTO_OK)
		die("relay_add");
}

struct invite {
	char link[CLIENT_LINK_TEXT_MAX + 1];
	_Atomic bool done;
	sotto_err err;
	int64_t contact;
};

static void on_invite_done(void *user, sotto_err err, int64_t contact_id, const char *link)
{
	struct invite *inv = user;
	inv->err = err;
	inv->contact = contact_id;
	if (err == SOTTO_OK && link != NULL)
		snprintf(inv->link, sizeof(inv->link), "%s", link);
	atomic_store(&inv->done, true);
}

static void job_invite(struct peer *p, void *arg)
{
	if (client_agent_invite(p->agent, on_invite_done, arg, NULL) != SOTTO_OK)
		die("invite");
}

static void job_connect(struct peer *p, void *arg)
{
	struct invite *inv = arg;
	if (client_agent_connect(p->agent, inv->link, strlen(inv->link), NULL, NULL, NULL) !=
	    SOTTO_OK)
		die("connect");
}

/* One new contact between alice and bob; returns alice's contact ID. */
static int64_t make_contact(struct peer *alice, struct peer *bob)
{
	static struct invite inv;
	int na = atomic_load(&alice->n_connected), nb = atomic_load(&bob->n_connected);

	memset(&inv, 0, sizeof(inv));
	peer_call(alice, job_invite, &inv);
	for (int i = 0; i < WAIT_MS && !atomic_load(&inv.done); i++)
		sleep_ms(1);
	if (!atomic_load(&inv.done) || inv.err != SOTTO_OK)
		die("invite did not finish");
	peer_call(bob, job_connect, &inv);
	if (!wait_for(has_connected, alice, (unsigned long)na + 1, WAIT_MS) ||
	    !wait_for(has_connected, bob, (unsigned long)nb + 1, WAIT_MS))
		die("contact did not connect");
	return atomic_load(&alice->last_connected);
}

static void job_drive(struct peer *p, void *arg)
{
	struct drive *d = arg;
	p->drive = *d;
	p->drive.due_base = atomic_load(&p->seq);
	p->drive.t0_ns = now_ns();
	atomic_store(&p->driving, true);
}

static void job_halt(struct peer *p, void *arg)
{
	(void)arg;
	atomic_store(&p->driving, false);
}

struct one_send {
	int64_t contact, msg_id;
};

static void job_send_one(struct peer *p, void *arg)
{
	struct one_send *s = arg;
	uint8_t text[TEXT_LEN];
	text_make(text, SEQ_CAP); /* outside the measured range */
	if (client_agent_send_text(p->agent, s->contact, text, TEXT_LEN, &s->msg_id) != SOTTO_OK)
		die("send_text");
}

/* ---- the child: a fresh process opens a profile and shows a waiting message ---- */

struct child {
	bool shown;
	uint64_t t_shown;
	int64_t contact;
	struct client_agent *agent;
};

static void child_event(void *user, const struct client_agent_event *ev)
{
	struct child *c = user;
	if (ev->kind == CLIENT_AGENT_EV_RECEIVED && !c->shown) {
		c->shown = true;
		c->t_shown = now_ns();
		c->contact = ev->contact_id;
	}
}

static void child_on_timer(uv_timer_t *t)
{
	(void)t;
}

static unsigned long g_hist;

static void child_hist(void *user, const struct client_agent_msg *m)
{
	(void)user, (void)m;
	g_hist++;
}

static void child_contact(void *user, const struct client_agent_contact *c)
{
	(void)user, (void)c;
}

static void child_closed(void *user)
{
	*(bool *)user = true;
}

/* Prints "start_us rss_kb hwm_kb base_kb history" on stdout; 0 when it worked. */
static int child_main(const char *dir, const char *name)
{
	struct child c = {0};
	struct client_agent_callbacks cb = {.on_event = child_event, .user = &c};
	struct store_profile *profile = NULL;
	struct store_db *db = NULL;
	sotto_ctx *ctx = NULL;
	uv_loop_t loop;
	uv_timer_t t;
	bool closed = false;

	snprintf(g_tmpdir, sizeof(g_tmpdir), "%s", dir);
	if (sodium_init() < 0 || sotto_ctx_new(&ctx, NULL) != SOTTO_OK ||
	    uv_loop_init(&loop) != 0 || uv_timer_init(&loop, &t) != 0 ||
	    uv_timer_start(&t, child_on_timer, 5, 5) != 0)
		return 1;
	long base_kb = status_kb("VmRSS:");
	uint64_t t0 = now_ns();
	sotto_err rc = profile_open(ctx, &loop, name, false, &cb, &profile, &db, &c.agent);
	if (rc != SOTTO_OK) {
		fprintf(stderr, "child: %s\n", sotto_strerror(rc));
		return 1;
	}
	while (!c.shown && now_ns() - t0 < 10000000000ull)
		(void)uv_run(&loop, UV_RUN_ONCE);
	uint64_t t_end = now_ns() + 1000000000ull; /* every queue subscribed and settled */
	while (now_ns() < t_end)
		(void)uv_run(&loop, UV_RUN_ONCE);
	g_hist = 0;
	if (c.shown && (client_agent_contact_list(c.agent, child_contact, NULL) != SOTTO_OK ||
	                client_agent_history(c.agent, c.contact, 0, CLIENT_AGENT_HISTORY_MAX,
	                                     child_hist, NULL) != SOTTO_OK))
		return 1;
	printf("%.3f %ld %ld %ld %lu\n", c.shown ? (double)(c.t_shown - t0) / 1e6 : -1.0,
	       status_kb("VmRSS:"), status_kb("VmHWM:"), base_kb, g_hist);
	fflush(stdout);
	client_agent_close(c.agent, child_closed, &closed);
	uv_close((uv_handle_t *)&t, NULL);
	for (int i = 0; i < 100000 && !closed; i++)
		(void)uv_run(&loop, UV_RUN_ONCE);
	(void)uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	store_db_free(db);
	store_profile_free(profile);
	sotto_ctx_free(ctx);
	return c.shown ? 0 : 1;
}

struct start_fig {
	double ms;
	long rss_kb, hwm_kb, base_kb;
	unsigned long history;
};

/* A message waits for bob (offline) on the relay; a fresh process opens bob. */
static void measure_start(struct peer *alice, int64_t contact, const char *self,
                          struct start_fig *f)
{
	struct one_send s = {.contact = contact};
	char out[256], log[400];
	int fd = -1;

	peer_call(alice, job_send_one, &s);
	if (!wait_for(has_sent, alice, (unsigned long)s.msg_id, WAIT_MS))
		die("the waiting message was not sent");
	snprintf(log, sizeof(log), "%s/child.log", g_tmpdir);
	char *argv[] = {(char *)self, "--child", g_tmpdir, "bob", NULL};
	pid_t pid = spawn(argv, log, &fd);
	(void)read_all(fd, out, sizeof(out));
	int status = stop_child(pid, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(out, "%lf %ld %ld %ld %lu", &f->ms, &f->rss_kb, &f->hwm_kb, &f->base_kb,
	           &f->history) != 5) {
		char text[4096];
		int lfd = open(log, O_RDONLY);
		if (lfd >= 0 && read_all(lfd, text, sizeof(text)) > 0)
			fprintf(stderr, "%s", text);
		die("the start child failed (its log is above)");
	}
}

/* ---- figures ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* p50 and p99 (ms) of shown - sent for sequences [lo, hi); *lost: never shown. */
static void latency(uint32_t lo, uint32_t hi, double *p50, double *p99, unsigned long *lost)
{
	uint64_t *d = malloc(((size_t)(hi - lo) + 1) * sizeof(*d));
	size_t n = 0;
	if (d == NULL)
		die("out of memory");
	*lost = 0;
	for (uint32_t s = lo; s < hi && s < SEQ_CAP; s++) {
		uint64_t a = atomic_load(&g_t_send[s]), b = atomic_load(&g_t_shown[s]);
		if (b == 0 || b < a)
			(*lost)++;
		else
			d[n++] = b - a;
	}
	*p50 = *p99 = 0;
	if (n > 0) {
		qsort(d, n, sizeof(*d), cmp_u64);
		*p50 = (double)d[n / 2] / 1e6;
		*p99 = (double)d[(size_t)((double)n * 0.99)] / 1e6;
	}
	free(d);
}

/* Messages shown in [t0, t1) among sequences [lo, hi). */
static unsigned long shown_between(uint32_t lo, uint32_t hi, uint64_t t0, uint64_t t1)
{
	unsigned long n = 0;
	for (uint32_t s = lo; s < hi && s < SEQ_CAP; s++) {
		uint64_t b = atomic_load(&g_t_shown[s]);
		if (b >= t0 && b < t1)
			n++;
	}
	return n;
}

/* Waits until bob showed everything alice sent; false after ms. */
static bool drain(struct peer *alice, struct peer *bob, unsigned long base, long ms)
{
	return wait_for(has_shown, bob, base + atomic_load(&alice->seq), ms);
}

struct figures {
	double msgs_per_s, tput_p50, tput_p99;
	double rate, p50, p99, paced_per_s;
	unsigned long lost;
	double half_rate, half_p50, half_p99; /* paced at half of msgs_per_s */
	unsigned long half_lost;
	double commit_ms;                     /* one send_text (one SQLite commit), alone */
	double alone_sent_ms, alone_shown_ms; /* one message alone: to SENT, to RECEIVED */
	struct start_fig start_small, start_large;
	unsigned long stored, contacts;
	double build_s, build_per_s;
	unsigned long busy;
};

/* Runs alice's sender for measure_s (after warm_s) and returns its sequence range. */
static void run_drive(struct peer *alice, struct drive *d, double warm_s, double measure_s,
                      uint32_t *lo, uint32_t *hi, uint64_t *t0, uint64_t *t1)
{
	peer_call(alice, job_drive, d);
	sleep_ms((long)(warm_s * 1000));
	*lo = atomic_load(&alice->seq);
	*t0 = now_ns();
	sleep_ms((long)(measure_s * 1000));
	*hi = atomic_load(&alice->seq);
	*t1 = now_ns();
	peer_call(alice, job_halt, NULL);
}

/* The time of one send_text when nothing else runs (one commit, fsync). */
struct alone {
	int64_t contact, msg_id;
	uint32_t seq;
};

static void job_send_alone(struct peer *p, void *arg)
{
	struct alone *a = arg;
	a->seq = atomic_load(&p->seq);
	if (!send_one(p, a->contact, &a->msg_id))
		die("send_text");
}

/* One message at a time: send_text -> SENT (the relay round trip) and -> RECEIVED. */
static void measure_alone(struct peer *alice, struct peer *bob, int64_t contact, double *sent_ms,
                          double *shown_ms)
{
	enum { N = 21 };
	uint64_t sent[N], shown[N];
	struct alone a = {.contact = contact};

	for (int i = 0; i < N; i++) {
		peer_call(alice, job_send_alone, &a);
		if (!wait_for(has_sent, alice, (unsigned long)a.msg_id, WAIT_MS) ||
		    !wait_for(has_shown, bob, a.seq + 1, WAIT_MS))
			die("a message alone was not shown");
		uint64_t t = atomic_load(&g_t_send[a.seq]);
		sent[i] = atomic_load(&alice->t_last_sent) - t;
		shown[i] = atomic_load(&g_t_shown[a.seq]) - t;
	}
	qsort(sent, N, sizeof(sent[0]), cmp_u64);
	qsort(shown, N, sizeof(shown[0]), cmp_u64);
	*sent_ms = (double)sent[N / 2] / 1e6;
	*shown_ms = (double)shown[N / 2] / 1e6;
}

struct commit_time {
	int64_t contact;
	double ms;
};

static void job_time_commit(struct peer *p, void *arg)
{
	struct commit_time *c = arg;
	uint64_t t = now_ns();
	for (int i = 0; i < 20; i++)
		(void)send_one(p, c->contact, NULL);
	c->ms = (double)(now_ns() - t) / 20 / 1e6;
}

static void measure(const struct options *o, const char *self, struct figures *f)
{
	static struct peer alice = {.name = "alice"}, bob = {.name = "bob"};
	char addr[256];
	struct drive d = {0};
	uint32_t lo, hi;
	uint64_t t0, t1;

	pthread_mutex_init(&alice.mu, NULL);
	pthread_cond_init(&alice.cv, NULL);
	pthread_mutex_init(&bob.mu, NULL);
	pthread_cond_init(&bob.cv, NULL);
	alice.other = &bob;
	bob.other = &alice;
	pid_t relay = relay_start(o, addr, sizeof(addr));
	peer_start(&alice, true);
	peer_start(&bob, true);
	peer_call(&alice, job_relay_add, addr);
	peer_call(&bob, job_relay_add, addr);
	d.contacts[0] = make_contact(&alice, &bob);
	d.n_contacts = 1;

	/* (1) as fast as the agent accepts, a bounded number not yet shown */
	d.window = o->window;
	d.rate = 0;
	d.stop_seq = SEQ_CAP;
	run_drive(&alice, &d, 0.5, o->seconds, &lo, &hi, &t0, &t1);
	if (!drain(&alice, &bob, 0, WAIT_MS))
		fprintf(stderr, "client bench: throughput run did not drain\n");
	f->msgs_per_s = (double)shown_between(0, SEQ_CAP, t0, t1) / ((double)(t1 - t0) / 1e9);
	latency(lo, hi, &f->tput_p50, &f->tput_p99, &f->lost);
	struct commit_time ct = {.contact = d.contacts[0]};
	peer_call(&alice, job_time_commit, &ct);
	f->commit_ms = ct.ms;
	(void)drain(&alice, &bob, 0, WAIT_MS);
	measure_alone(&alice, &bob, d.contacts[0], &f->alone_sent_ms, &f->alone_shown_ms);
	(void)drain(&alice, &bob, 0, WAIT_MS);

	/* (2) paced */
	d.window = 0;
	d.rate = o->rate;
	run_drive(&alice, &d, 0.5, o->seconds, &lo, &hi, &t0, &t1);
	if (!drain(&alice, &bob, 0, WAIT_MS))
		fprintf(stderr, "client bench: paced run did not drain\n");
	f->rate = o->rate;
	f->paced_per_s = (double)(hi - lo) / ((double)(t1 - t0) / 1e9);
	latency(lo, hi, &f->p50, &f->p99, &f->lost);

	/* (2b) paced at half the throughput just measured: a load it sustains */
	d.rate = f->msgs_per_s / 2 > 1 ? f->msgs_per_s / 2 : 1;
	run_drive(&alice, &d, 0.5, o->seconds, &lo, &hi, &t0, &t1);
	if (!drain(&alice, &bob, 0, WAIT_MS))
		fprintf(stderr, "client bench: half-load run did not drain\n");
	f->half_rate = d.rate;
	latency(lo, hi, &f->half_p50, &f->half_p99, &f->half_lost);

	/* (4) start with one contact */
	peer_stop(&bob);
	measure_start(&alice, d.contacts[0], self, &f->start_small);
	/* bob's count restarts with his agent: it shown all sent so far */
	atomic_store(&bob.n_shown, atomic_load(&alice.seq));
	peer_start(&bob, false);
	(void)wait_for(has_relay_up, &bob, 1, WAIT_MS);

	/* (3) 100 contacts and --messages stored at bob, through the relay */
	for (int i = 1; i < CONTACTS; i++)
		d.contacts[i] = make_contact(&alice, &bob);
	d.n_contacts = CONTACTS;
	unsigned long already = atomic_load(&alice.seq) + 1; /* + the start message */
	unsigned long want = o->messages > (long)already ? (unsigned long)o->messages - already : 0;
	d.window = 1000;
	d.rate = 0;
	d.stop_seq = atomic_load(&alice.seq) + (uint32_t)want;
	unsigned long bob_base = atomic_load(&bob.n_shown);
	uint64_t b0 = now_ns();
	peer_call(&alice, job_drive, &d);
	while (atomic_load(&bob.n_shown) - bob_base < want &&
	       (double)(now_ns() - b0) / 1e9 < o->build_seconds)
		sleep_ms(10);
	peer_call(&alice, job_halt, NULL);
	(void)drain(&alice, &bob, 0, WAIT_MS);
	f->build_s = (double)(now_ns() - b0) / 1e9;
	unsigned long built = atomic_load(&bob.n_shown) - bob_base;
	f->build_per_s = (double)built / f->build_s;
	f->stored = already + built + 1; /* + the message the start child shows */
	f->contacts = CONTACTS;
	f->busy = atomic_load(&alice.n_busy);
	peer_stop(&bob);
	measure_start(&alice, d.contacts[0], self, &f->start_large);
	peer_stop(&alice);
	(void)stop_child(relay, SIGTERM);
}

/* ---- output ---- */

static const char *verdict(bool ok)
{
	return ok ? "met" : "NOT met";
}

static void print_table(const struct options *o, const struct figures *f)
{
	double rss = (double)f->start_large.rss_kb / 1024.0;
	printf("sotto client agents, alice -> bob through one sotto-relay (loopback), "
	       "%d-byte texts\n\n",
	       TEXT_LEN);
	printf("  %-44s %12s   %s\n", "figure", "value", "goal");
	printf("  %-44s %12.0f   >= 2000 (%s)\n", "msgs/s sent to shown (window)", f->msgs_per_s,
	       verdict(f->msgs_per_s >= 2000));
	printf("  %-44s %12.2f\n", "  p50 ms at that load", f->tput_p50);
	printf("  %-44s %12.2f\n", "  p99 ms at that load", f->tput_p99);
	printf("  %-44s %12.2f\n", "  send_text (one commit), 20 in a row, ms each", f->commit_ms);
	printf("  %-44s %12.2f\n", "  one message alone: send_text -> SENT, ms", f->alone_sent_ms);
	printf("  %-44s %12.2f\n", "  one message alone: -> RECEIVED, ms", f->alone_shown_ms);
	printf("  %-44s %12.0f\n", "paced msgs/s (asked)", f->rate);
	printf("  %-44s %12.0f\n", "paced msgs/s (sent)", f->paced_per_s);
	printf("  %-44s %12.2f\n", "  p50 ms send_text -> RECEIVED", f->p50);
	printf("  %-44s %12.2f   <= 20 (%s)\n", "  p99 ms send_text -> RECEIVED", f->p99,
	       verdict(f->p99 <= 20));
	printf("  %-44s %12lu\n", "  not shown", f->lost);
	printf("  %-44s %12.0f\n", "paced at half the msgs/s above", f->half_rate);
	printf("  %-44s %12.2f\n", "  p50 ms send_text -> RECEIVED", f->half_p50);
	printf("  %-44s %12.2f\n", "  p99 ms send_text -> RECEIVED", f->half_p99);
	printf("  %-44s %12lu\n", "  not shown", f->half_lost);
	printf("  %-44s %12.1f   <= 200 (%s)\n", "start to first shown, 1 contact, ms",
	       f->start_small.ms, verdict(f->start_small.ms <= 200));
	printf("  %-44s %12.1f\n", "start to first shown, large profile, ms", f->start_large.ms);
	printf("  %-44s %12lu\n", "large profile: contacts", f->contacts);
	printf("  %-44s %12lu\n", "large profile: stored messages (bob)", f->stored);
	printf("  %-44s %12.1f\n", "  built in s (through the relay)", f->build_s);
	printf("  %-44s %12.0f\n", "  at msgs/s (100 contacts in parallel)", f->build_per_s);
	printf("  %-44s %12.1f   <= 30 (%s)\n", "client RSS MiB (fresh process, large)", rss,
	       verdict(rss <= 30));
	printf("  %-44s %12.1f\n", "  peak RSS MiB (VmHWM)", (double)f->start_large.hwm_kb / 1024);
	printf("  %-44s %12.1f\n", "  growth over RSS before opening, MiB",
	       (double)(f->start_large.rss_kb - f->start_large.base_kb) / 1024);
	printf("  %-44s %12.1f\n", "client RSS MiB (fresh process, 1 contact)",
	       (double)f->start_small.rss_kb / 1024);
	if (f->stored < (unsigned long)o->messages)
		printf("\nnote: only %lu of %ld messages were stored within --build-seconds %.0f\n",
		       f->stored, o->messages, o->build_seconds);
}

static void print_json(const struct options *o, const struct figures *f)
{
	printf("{\"msgs_per_s\": %.0f, \"p99_ms\": %.2f, \"rss_mb\": %.1f, \"start_ms\": %.1f, "
	       "\"p50_ms\": %.2f, \"paced_rate\": %.0f, \"paced_sent_per_s\": %.0f, "
	       "\"not_shown\": %lu, \"window\": %d, \"window_p50_ms\": %.2f, "
	       "\"window_p99_ms\": %.2f, \"send_text_ms\": %.2f, \"alone_sent_ms\": %.2f, "
	       "\"alone_shown_ms\": %.2f, \"start_large_ms\": %.1f, "
	       "\"rss_hwm_mb\": %.1f, \"rss_growth_mb\": %.1f, \"rss_small_mb\": %.1f, "
	       "\"half_rate\": %.0f, \"half_p50_ms\": %.2f, \"half_p99_ms\": %.2f, "
	       "\"contacts\": %lu, \"stored_messages\": %lu, \"build_s\": %.1f, "
	       "\"build_msgs_per_s\": %.0f, \"seconds\": %.1f}\n",
	       f->msgs_per_s, f->p99, (double)f->start_large.rss_kb / 1024, f->start_small.ms,
	       f->p50, f->rate, f->paced_per_s, f->lost, o->window, f->tput_p50, f->tput_p99,
	       f->commit_ms, f->alone_sent_ms, f->alone_shown_ms, f->start_large.ms,
	       (double)f->start_large.hwm_kb / 1024,
	       (double)(f->start_large.rss_kb - f->start_large.base_kb) / 1024,
	       (double)f->start_small.rss_kb / 1024, f->half_rate, f->half_p50, f->half_p99,
	       f->contacts, f->stored, f->build_s, f->build_per_s, o->seconds);
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: client [--json] [--seconds S] [--messages N] [--rate R] [--window W]\n"
	        "              [--build-seconds S] [--relay PATH] [--tmp DIR]\n"
	        "\n"
	        "Two client agents (alice, bob; real profiles) through one sotto-relay on\n"
	        "127.0.0.1: messages/s sent to shown, latency at a paced rate, start to the\n"
	        "first shown message, and RSS with 100 contacts and N stored messages.\n"
	        "\n"
	        "  --json              print one JSON object instead of the table\n"
	        "  --seconds S         measuring time of the throughput and paced runs (default "
	        "5)\n"
	        "  --messages N        stored messages of the large profile (default 100000)\n"
	        "  --rate R            the paced run's messages/s (default 1000)\n"
	        "  --window W          sent but not shown, throughput run (default %d, max %d)\n"
	        "  --build-seconds S   time allowed to build the large profile (default 60)\n"
	        "  --relay PATH        the sotto-relay binary (default %s)\n"
	        "  --tmp DIR           where the profiles and the relay live (default /tmp;\n"
	        "                      on a tmpfs fsync costs nothing: it shows what the\n"
	        "                      commits cost)\n"
	        "  --help              this text\n",
	        WINDOW_DEFAULT, CLIENT_AGENT_OUTBOX_MAX, SOTTO_RELAY_BIN);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.seconds = 5.0,
	                      .build_seconds = 60,
	                      .rate = 1000,
	                      .window = WINDOW_DEFAULT,
	                      .messages = 100000,
	                      .relay_bin = SOTTO_RELAY_BIN,
	                      .tmp = "/tmp"};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end = NULL;
		bool ok = v != NULL;
		if (strcmp(a, "--json") == 0) {
			o->json = true;
			continue;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (!ok) {
			return -1;
		} else if (strcmp(a, "--seconds") == 0) {
			o->seconds = strtod(v, &end);
			ok = *end == '\0' && o->seconds >= 0.1 && o->seconds <= 600;
		} else if (strcmp(a, "--build-seconds") == 0) {
			o->build_seconds = strtod(v, &end);
			ok = *end == '\0' && o->build_seconds >= 0 && o->build_seconds <= 3600;
		} else if (strcmp(a, "--rate") == 0) {
			o->rate = strtod(v, &end);
			ok = *end == '\0' && o->rate >= 1 && o->rate <= 100000;
		} else if (strcmp(a, "--messages") == 0) {
			o->messages = strtol(v, &end, 10);
			ok = *end == '\0' && o->messages >= 0 && o->messages <= SEQ_CAP / 2;
		} else if (strcmp(a, "--window") == 0) {
			long w = strtol(v, &end, 10);
			ok = *end == '\0' && w >= 1 && w <= CLIENT_AGENT_OUTBOX_MAX;
			o->window = (int)w;
		} else if (strcmp(a, "--relay") == 0) {
			o->relay_bin = v;
		} else if (strcmp(a, "--tmp") == 0) {
			o->tmp = v;
		} else {
			ok = false;
		}
		if (!ok)
			return -1;
		i++;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct options o;
	struct figures f = {0};
	char self[4096];

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2], argv[3]);
	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0)
		die("libsodium");
	if (access(o.relay_bin, X_OK) != 0)
		die("sotto-relay not found (see --relay)");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		die("cannot find this program");
	self[n] = '\0';
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm((unsigned)(2 * o.seconds + o.build_seconds + 300));
	g_t_send = calloc(SEQ_CAP + 1, sizeof(*g_t_send));
	g_t_shown = calloc(SEQ_CAP + 1, sizeof(*g_t_shown));
	if (g_t_send == NULL || g_t_shown == NULL)
		die("out of memory");
	snprintf(g_tmpdir, sizeof(g_tmpdir), "%s/sotto-bench-client-XXXXXX", o.tmp);
	if (mkdtemp(g_tmpdir) == NULL)
		die("mkdtemp");
	atexit(cleanup);
	if (!o.json)
		fprintf(stderr,
		        "measuring, %.1f s per figure, up to %.0f s to build the profile...\n",
		        o.seconds, o.build_seconds);
	measure(&o, self, &f);
	if (o.json)
		print_json(&o, &f);
	else
		print_table(&o, &f);
	return 0;
}
