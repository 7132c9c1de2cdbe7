/* SPDX-License-Identifier: MIT */
/*
 * common.c - what the benchmark programs share (see common.h): child
 * processes and a temporary directory removed at exit, servers on free
 * loopback ports, the options every program takes, a sotto-relay daemon
 * from this build, and client agents on real profiles, each on its own loop
 * and thread, sending paced texts whose send and show times are kept by
 * sequence number. bench/client and bench/abuse use all of it; bench/relay
 * the process plumbing, the command line and the relay daemon.
 */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/secbuf.h"
#include "store/db.h"
#include "store/key.h"
#include "store/profile.h"

enum {
	SEQ_DIGITS = 10,   /* a text starts with its sequence number */
	PER_TICK_MAX = 32, /* sends per 1 ms tick: the loop must keep turning */
	CHILDREN_MAX = 4,
};

/* ---- process plumbing ---- */

static pid_t g_children[CHILDREN_MAX];
const char *bench_name = "bench";
char bench_tmpdir[BENCH_TMPDIR_LEN];

uint64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ms(long ms)
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
	if (bench_tmpdir[0] != '\0')
		(void)nftw(bench_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_alarm(int sig)
{
	static const char msg[] = ": guard timeout, giving up\n";
	(void)sig;
	for (int i = 0; i < CHILDREN_MAX; i++) {
		if (g_children[i] > 0)
			kill(g_children[i], SIGKILL);
	}
	(void)!write(2, bench_name, strlen(bench_name));
	(void)!write(2, msg, sizeof(msg) - 1);
	_exit(1);
}

_Noreturn void bench_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", bench_name, what);
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
pid_t bench_spawn(char *const argv[], const char *log, int *out_fd)
{
	int pfd[2] = {-1, -1};
	if (out_fd != NULL && pipe(pfd) != 0)
		bench_die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		bench_die("fork");
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
	bench_die("too many children");
}

/* sig (0: none), up to 10 s, then SIGKILL; returns the wait status. */
int bench_stop_child(pid_t pid, int sig)
{
	int status = 0;
	if (sig != 0)
		kill(pid, sig);
	for (int i = 0; i < 1000; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			goto out;
		bench_sleep_ms(10);
	}
	kill(pid, SIGKILL);
	(void)waitpid(pid, &status, 0);
out:
	forget_child(pid);
	return status;
}

/* Reads all of fd (bounded by cap) and closes it. */
size_t bench_read_all(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	ssize_t k;
	while (n < cap - 1 && (k = read(fd, buf + n, cap - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	buf[n] = '\0';
	return n;
}

uint16_t bench_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		bench_die("cannot find a free port");
	close(fd);
	return ntohs(a.sin_port);
}

void bench_wait_listening(uint16_t port, pid_t pid, const char *what)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons(port)};
	char msg[128];

	for (int i = 0; i < 1000; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (fd >= 0)
			close(fd);
		if (ok)
			return;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			snprintf(msg, sizeof(msg), "%s exited at start (see its log)", what);
			bench_die(msg);
		}
		bench_sleep_ms(10);
	}
	snprintf(msg, sizeof(msg), "%s did not start listening in 10 s", what);
	bench_die(msg);
}

/* Starts a fresh relay; addr gets its "sotto://KEY@host:port". */
pid_t bench_relay_start(const char *relay_bin, const char *name, unsigned max_conns, char *addr,
                        size_t cap)
{
	char dir[300], log[400], port[16], conns[16];
	int fd = -1;

	snprintf(dir, sizeof(dir), "%s/%s", bench_tmpdir, name);
	snprintf(log, sizeof(log), "%s/%s.log", bench_tmpdir, name);
	snprintf(port, sizeof(port), "%u", (unsigned)bench_free_port());
	snprintf(conns, sizeof(conns), "%u", max_conns);
	/* Without max_conns the list ends before --max-connections. */
	char *init[] = {(char *)relay_bin,
	                "init",
	                "--dir",
	                dir,
	                "--port",
	                port,
	                "--quota",
	                "65536",
	                "--queues-per-minute",
	                "1000000",
	                max_conns > 0 ? "--max-connections" : NULL,
	                conns,
	                NULL};
	pid_t pid = bench_spawn(init, log, &fd);
	size_t n = bench_read_all(fd, addr, cap);
	int status = bench_stop_child(pid, 0);
	while (n > 0 && (addr[n - 1] == '\n' || addr[n - 1] == '\r'))
		addr[--n] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n == 0)
		bench_die("sotto-relay init failed (see its log)");
	char *run[] = {(char *)relay_bin, "run", "--dir", dir, "--allow-root", NULL};
	pid = bench_spawn(run, log, NULL);
	bench_wait_listening((uint16_t)strtoul(port, NULL, 10), pid, "sotto-relay");
	return pid;
}

/* ---- the command line ---- */

void bench_parse_args(int argc, char **argv, struct bench_args *args, void (*usage)(FILE *),
                      bool (*opt)(void *user, const char *name, const char *value), void *user)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--json") == 0) {
			args->json = true;
			continue;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (v == NULL)
			goto bad;
		if (strcmp(a, "--relay") == 0)
			args->relay_bin = v;
		else if (strcmp(a, "--tmp") == 0)
			args->tmp = v;
		else if (!opt(user, a, v))
			goto bad;
		i++;
	}
	return;
bad:
	usage(stderr);
	exit(2);
}

bool bench_arg_double(const char *v, double lo, double hi, double *out)
{
	char *end = NULL;
	*out = strtod(v, &end);
	return *end == '\0' && *out >= lo && *out <= hi;
}

/* ---- message times, shared by the threads ---- */

_Atomic uint64_t *bench_t_send;  /* by sequence number: send_text called */
_Atomic uint64_t *bench_t_shown; /* by sequence number: RECEIVED at bob */

void bench_text_make(uint8_t *text, uint32_t seq)
{
	char head[SEQ_DIGITS + 1];
	snprintf(head, sizeof(head), "%0*u", SEQ_DIGITS, (unsigned)seq);
	memset(text, 'x', BENCH_TEXT_LEN);
	memcpy(text, head, SEQ_DIGITS);
}

bool bench_text_seq(const uint8_t *text, size_t len, uint32_t *seq)
{
	uint32_t v = 0;
	if (len != BENCH_TEXT_LEN)
		return false;
	for (int i = 0; i < SEQ_DIGITS; i++) {
		if (text[i] < '0' || text[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(text[i] - '0');
	}
	*seq = v;
	return true;
}

/* ---- a client: profile, database and agent on its own loop and thread ---- */

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct bench_peer *p = user;
	uint32_t seq;

	switch (ev->kind) {
	case CLIENT_AGENT_EV_CONNECTED:
		atomic_store(&p->last_connected, ev->contact_id);
		atomic_fetch_add(&p->n_connected, 1);
		break;
	case CLIENT_AGENT_EV_RECEIVED:
		if (ev->text != NULL && bench_text_seq(ev->text, ev->text_len, &seq) &&
		    seq < BENCH_SEQ_CAP)
			atomic_store(&bench_t_shown[seq], bench_now_ns());
		atomic_fetch_add(&p->n_shown, 1);
		break;
	case CLIENT_AGENT_EV_STATUS:
		if (ev->status == CLIENT_AGENT_SENT) {
			atomic_store(&p->t_last_sent, bench_now_ns());
			atomic_store(&p->last_sent_id, ev->msg_id);
			atomic_fetch_add(&p->n_sent_ok, 1);
		} else if (ev->status == CLIENT_AGENT_FAILED) {
			atomic_fetch_add(&p->n_failed, 1);
		}
		break;
	case CLIENT_AGENT_EV_RELAY_UP: atomic_fetch_add(&p->n_relay_up, 1); break;
	case CLIENT_AGENT_EV_ERROR:
		atomic_fetch_add(&p->n_errors, 1);
		fprintf(stderr, "%s: %s: agent error %s (contact %lld)\n", bench_name, p->name,
		        sotto_strerror(ev->err), (long long)ev->contact_id);
		break;
	default: break;
	}
}

/* A grouped send that could not be stored ends the drive. */
static void on_grouped_stored(void *user, sotto_err err, int64_t msg_id)
{
	struct bench_peer *p = user;
	(void)msg_id;
	if (err != SOTTO_OK) {
		fprintf(stderr, "%s: grouped send: %s\n", bench_name, sotto_strerror(err));
		atomic_store(&p->driving, false);
	}
}

/*
 * Sends one text to contact c; false when the agent refused it. With msg_id
 * it is client_agent_send_text (stored when this returns); without, the
 * grouped send a front end uses (stored at the end of the loop turn, with
 * the turn's other sends: bench/client's throughput and paced runs).
 */
bool bench_send_one(struct bench_peer *p, int64_t c, int64_t *msg_id)
{
	uint8_t text[BENCH_TEXT_LEN];
	uint32_t seq = atomic_load(&p->seq);
	bench_text_make(text, seq);
	if (seq < BENCH_SEQ_CAP)
		atomic_store(&bench_t_send[seq], bench_now_ns());
	sotto_err rc = msg_id != NULL
	                       ? client_agent_send_text(p->agent, c, text, BENCH_TEXT_LEN, msg_id)
	                       : client_agent_send_text_grouped(p->agent, c, text, BENCH_TEXT_LEN,
	                                                        on_grouped_stored, p);
	if (rc == SOTTO_ERR_BUSY) {
		atomic_fetch_add(&p->n_busy, 1);
		return false;
	}
	if (rc != SOTTO_OK) {
		fprintf(stderr, "%s: send_text: %s\n", bench_name, sotto_strerror(rc));
		atomic_store(&p->driving, false);
		return false;
	}
	atomic_fetch_add(&p->seq, 1);
	return true;
}

/* Every 1 ms on alice's loop: sends what the window or the rate allows. */
static void on_tick(uv_timer_t *t)
{
	struct bench_peer *p = t->data;
	struct bench_drive *d = &p->drive;
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
			double due = (double)(bench_now_ns() - d->t0_ns) * d->rate / 1e9;
			if ((double)(seq - d->due_base) >= due)
				break;
		}
		if (d->window > 0 && (long)seq - (long)shown >= d->window)
			break;
		if (!bench_send_one(p, d->contacts[d->next], NULL))
			break;
		d->next = (d->next + 1) % d->n_contacts;
		n++;
	}
}

static void on_wake(uv_async_t *h)
{
	struct bench_peer *p = h->data;
	void (*job)(struct bench_peer *, void *);
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
void bench_peer_call(struct bench_peer *p, void (*job)(struct bench_peer *, void *), void *arg)
{
	pthread_mutex_lock(&p->mu);
	p->job = job;
	p->job_arg = arg;
	p->job_done = false;
	if (uv_async_send(&p->wake) != 0)
		bench_die("uv_async_send");
	while (!p->job_done)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static void *peer_thread(void *arg)
{
	struct bench_peer *p = arg;
	(void)uv_run(&p->loop, UV_RUN_DEFAULT);
	return NULL;
}

/* Opens p's profile (creating it and its key the first time) and agent. */
sotto_err bench_profile_open(sotto_ctx *ctx, uv_loop_t *loop, const char *name, bool create,
                             struct client_agent_callbacks *cb, struct store_profile **profile,
                             struct store_db **db, struct client_agent **agent)
{
	struct secbuf *key = NULL;
	sotto_err rc = store_profile_new(ctx, bench_tmpdir, name, profile);
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

void bench_peer_start(struct bench_peer *p, bool create)
{
	struct client_agent_callbacks cb = {.on_event = on_event, .user = p};

	atomic_store(&p->closed, false);
	atomic_store(&p->n_relay_up, 0);
	if (sotto_ctx_new(&p->ctx, NULL) != SOTTO_OK || uv_loop_init(&p->loop) != 0 ||
	    uv_async_init(&p->loop, &p->wake, on_wake) != 0 ||
	    uv_timer_init(&p->loop, &p->tick) != 0)
		bench_die("loop setup");
	p->wake.data = p;
	p->tick.data = p;
	sotto_err rc = bench_profile_open(p->ctx, &p->loop, p->name, create, &cb, &p->profile,
	                                  &p->db, &p->agent);
	if (rc != SOTTO_OK) {
		fprintf(stderr, "%s: %s: %s\n", bench_name, p->name, sotto_strerror(rc));
		bench_die("cannot open a profile");
	}
	if (uv_timer_start(&p->tick, on_tick, 1, 1) != 0)
		bench_die("timer");
	if (pthread_create(&p->thread, NULL, peer_thread, p) != 0)
		bench_die("thread");
	p->running = true;
}

static void on_closed(void *user)
{
	struct bench_peer *p = user;
	atomic_store(&p->closed, true);
	uv_close((uv_handle_t *)&p->wake, NULL);
	uv_close((uv_handle_t *)&p->tick, NULL);
}

static void job_close(struct bench_peer *p, void *arg)
{
	(void)arg;
	atomic_store(&p->driving, false);
	client_agent_close(p->agent, on_closed, p);
}

void bench_peer_stop(struct bench_peer *p)
{
	if (!p->running)
		return;
	bench_peer_call(p, job_close, NULL);
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
bool bench_wait_for(bool (*cond)(struct bench_peer *, unsigned long), struct bench_peer *p,
                    unsigned long v, long ms)
{
	for (long i = 0; i < ms; i++) {
		if (cond(p, v))
			return true;
		bench_sleep_ms(1);
	}
	return cond(p, v);
}

bool bench_has_connected(struct bench_peer *p, unsigned long v)
{
	return (unsigned long)atomic_load(&p->n_connected) >= v;
}

bool bench_has_shown(struct bench_peer *p, unsigned long v)
{
	return atomic_load(&p->n_shown) >= v;
}

bool bench_has_relay_up(struct bench_peer *p, unsigned long v)
{
	return (unsigned long)atomic_load(&p->n_relay_up) >= v;
}

bool bench_has_sent(struct bench_peer *p, unsigned long v)
{
	return atomic_load(&p->last_sent_id) == (int64_t)v;
}

/* ---- jobs on a loop ---- */

void bench_job_relay_add(struct bench_peer *p, void *arg)
{
	const char *addr = arg;
	if (client_agent_relay_add(p->agent, addr, strlen(addr)) != SOTTO_OK)
		bench_die("relay_add");
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

static void job_invite(struct bench_peer *p, void *arg)
{
	if (client_agent_invite(p->agent, on_invite_done, arg, NULL) != SOTTO_OK)
		bench_die("invite");
}

static void job_connect(struct bench_peer *p, void *arg)
{
	struct invite *inv = arg;
	if (client_agent_connect(p->agent, inv->link, strlen(inv->link), NULL, NULL, NULL) !=
	    SOTTO_OK)
		bench_die("connect");
}

/* A relay, then alice and bob on new profiles, both using it; returns the relay's pid. */
pid_t bench_pair_start(struct bench_peer *alice, struct bench_peer *bob, const char *relay_bin,
                       char *addr, size_t cap)
{
	pthread_mutex_init(&alice->mu, NULL);
	pthread_cond_init(&alice->cv, NULL);
	pthread_mutex_init(&bob->mu, NULL);
	pthread_cond_init(&bob->cv, NULL);
	alice->other = bob;
	bob->other = alice;
	pid_t relay = bench_relay_start(relay_bin, "relay", 0, addr, cap);
	bench_peer_start(alice, true);
	bench_peer_start(bob, true);
	bench_peer_call(alice, bench_job_relay_add, addr);
	bench_peer_call(bob, bench_job_relay_add, addr);
	return relay;
}

/* One new contact between alice and bob; returns alice's contact ID. */
int64_t bench_make_contact(struct bench_peer *alice, struct bench_peer *bob)
{
	static struct invite inv;
	int na = atomic_load(&alice->n_connected), nb = atomic_load(&bob->n_connected);

	memset(&inv, 0, sizeof(inv));
	bench_peer_call(alice, job_invite, &inv);
	for (int i = 0; i < BENCH_WAIT_MS && !atomic_load(&inv.done); i++)
		bench_sleep_ms(1);
	if (!atomic_load(&inv.done) || inv.err != SOTTO_OK)
		bench_die("invite did not finish");
	bench_peer_call(bob, job_connect, &inv);
	if (!bench_wait_for(bench_has_connected, alice, (unsigned long)na + 1, BENCH_WAIT_MS) ||
	    !bench_wait_for(bench_has_connected, bob, (unsigned long)nb + 1, BENCH_WAIT_MS))
		bench_die("contact did not connect");
	return atomic_load(&alice->last_connected);
}

void bench_job_drive(struct bench_peer *p, void *arg)
{
	struct bench_drive *d = arg;
	p->drive = *d;
	p->drive.due_base = atomic_load(&p->seq);
	p->drive.t0_ns = bench_now_ns();
	atomic_store(&p->driving, true);
}

void bench_job_halt(struct bench_peer *p, void *arg)
{
	(void)arg;
	atomic_store(&p->driving, false);
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

void bench_latency_ranges(const uint32_t (*ranges)[2], size_t n_ranges, double *p50, double *p99,
                          unsigned long *lost)
{
	size_t cap = 1, n = 0;
	uint64_t *d;

	for (size_t r = 0; r < n_ranges; r++)
		cap += ranges[r][1] > ranges[r][0] ? ranges[r][1] - ranges[r][0] : 0;
	if ((d = malloc(cap * sizeof(*d))) == NULL)
		bench_die("out of memory");
	*lost = 0;
	for (size_t r = 0; r < n_ranges; r++) {
		for (uint32_t s = ranges[r][0]; s < ranges[r][1] && s < BENCH_SEQ_CAP; s++) {
			uint64_t a = atomic_load(&bench_t_send[s]),
			         b = atomic_load(&bench_t_shown[s]);
			if (b == 0 || b < a)
				(*lost)++;
			else
				d[n++] = b - a;
		}
	}
	*p50 = *p99 = 0;
	if (n > 0) {
		qsort(d, n, sizeof(*d), bench_cmp_u64);
		*p50 = (double)d[n / 2] / 1e6;
		*p99 = (double)d[(size_t)((double)n * 0.99)] / 1e6;
	}
	free(d);
}

void bench_latency(uint32_t lo, uint32_t hi, double *p50, double *p99, unsigned long *lost)
{
	const uint32_t range[1][2] = {{lo, hi}};

	bench_latency_ranges(range, 1, p50, p99, lost);
}

void bench_init(const char *name, const char *tmp, unsigned alarm_s)
{
	bench_name = name;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGALRM, on_alarm);
	alarm(alarm_s);
	bench_t_send = calloc(BENCH_SEQ_CAP + 1, sizeof(*bench_t_send));
	bench_t_shown = calloc(BENCH_SEQ_CAP + 1, sizeof(*bench_t_shown));
	if (bench_t_send == NULL || bench_t_shown == NULL)
		bench_die("out of memory");
	snprintf(bench_tmpdir, sizeof(bench_tmpdir), "%s/sotto-bench-%s-XXXXXX", tmp, name);
	if (mkdtemp(bench_tmpdir) == NULL)
		bench_die("mkdtemp");
	atexit(cleanup);
}
