/* SPDX-License-Identifier: MIT */
/*
 * relay_abuse_test.c - the real sotto-relay binary under abuse, end to end
 * on loopback. Each test runs `sotto-relay init` in a fresh directory, then
 * `sotto-relay run` with the limit under test set small through its flags,
 * and drives it from one uv loop in this process:
 *
 *   flood   a sender and a subscribed receiver exchange messages over the
 *           real transport while SOTTO_FLOOD_N (default 10,000) raw TCP
 *           connections pour in, a quarter each silent, slowloris (msg1 one
 *           byte at a time, too slowly to finish), garbage msg1 and garbage
 *           length prefixes. Every flood socket must be closed by the relay
 *           (handshake timeout, refusal beyond max_connections, or the bad
 *           bytes), every message sent during the flood must be delivered
 *           in order, and the relay must still serve a new client and exit 0
 *           on SIGTERM.
 *   ttl     a message stored under a one-second test TTL is expired by the
 *           background sweep: stats count it, and GET on its queue (which
 *           still exists) answers NONE.
 *   idle    with a one-second idle timeout, a handshaken client that goes
 *           silent is disconnected while one that PINGs keeps being served.
 *
 * A flood faster than the relay accepts overflows the kernel's listen queue,
 * and Linux then answers SYNs with SYN cookies: a client whose final ACK was
 * dropped believes it is connected while the relay never heard of it. A
 * silent client would wait forever, so every raw socket has TCP keepalive
 * (first probe after 1 s idle): on such a ghost the probe is answered with a
 * reset. The relay's own closes of silent sockets are FINs, so silent
 * sockets ended by a reset are counted apart, as refused by the kernel.
 *
 * Nothing asserts on timing: waits end on events, every scenario has a
 * guard timer, and the relay child is killed on every path (and by the
 * kernel if this process dies). The flood's numbers are printed.
 *
 * The relay clients and the flood's raw sockets are support/relay_raw.c's,
 * shared with bench/abuse.c (which measures latency under these attacks).
 *
 * usage: relay_abuse_test SOTTO_RELAY (SOTTO_FLOOD_N in the environment)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
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

#include <cmocka.h>
#include <sotto/sotto.h>
#include <uv.h>

#include "core/bytes.h"
#include "net/addr.h"
#include "relay/cmd.h"
#include "relay/daemon.h"
#include "relay_raw.h"

enum {
	FLOOD_N_DEFAULT = 10000, /* raw connections of the flood */
	FLOOD_N_MAX = 100000,
	FLOOD_WAVE = 200,       /* connections opened per wave */
	FLOOD_WAVE_MS = 20,     /* between waves: 10,000 connections a second */
	FD_MARGIN = 64,         /* descriptors this process needs beside the flood */
	SLOW_BYTE_MS = 500,     /* slowloris: one byte of msg1 this often (54 bytes: 27 s) */
	HANDSHAKE_S = 2,        /* the relay's handshake timeout in the flood */
	SEND_MS = 10,           /* the pair's sender tries a SEND this often */
	SEND_WINDOW = 8,        /* SENDs awaiting their OK at most */
	PING_MS = 100,          /* the idle test's pinger: a tenth of the idle timeout */
	PONGS_AFTER = 30,       /* PONGs the pinger collects after the silent one is gone */
	POLL_MS = 100,          /* how often the TTL test reads the stats file */
	FLOOD_GUARD_MS = 90000, /* fail a scenario; never reached when things work */
	GUARD_MS = 30000,
	START_WAIT_MS = 30000, /* for the relay to log its port */
	STOP_WAIT_MS = 30000,  /* for the relay to exit after SIGTERM */
	SLEEP_MS = 10,
	ADDR_TEXT_LEN = 160,
	PATH_LEN = 256,
	ARGS_MAX = 24,
	CORR_NEW = 1,
	CORR_SUB = 2,
	CORR_GET = 3,
	CORR_PING = 4,
	CORR_ACK = 5,
	CORR_SEND_FIRST = 100, /* SENDs count up from here */
};

static const char *relay_path; /* argv[1] */

/* ---- the world: one loop, one relay process ---- */

struct world;
typedef void world_fn(struct world *w);

struct world {
	sotto_ctx *ctx;
	uv_loop_t loop;
	uv_timer_t guard, tick;
	world_fn *on_tick;
	world_fn *on_teardown; /* closes what the scenario holds that the relay cannot end */
	bool guard_fired, finished;
	struct relay_raw_env env; /* the relay's address, the broken expectations */
	pid_t pid;
	char dir[64];        /* mkdtemp directory, 0755 (the relay may run as nobody) */
	char data[PATH_LEN]; /* the relay's data directory */
	char log[PATH_LEN];  /* the relay's stderr */
	void *scenario;
};

#define EXPECT(w, cond) RELAY_RAW_EXPECT(&(w)->env, cond)

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Forks and execs the relay with args; stdout to out_fd, stderr to err_fd. */
static pid_t spawn(char *const args[], int out_fd, int err_fd)
{
	pid_t pid;

	(void)fflush(stdout);
	(void)fflush(stderr);
	pid = fork();
	if (pid != 0)
		return pid;
#ifdef __linux__
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* no stray relay if this test dies */
#endif
	if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	execv(relay_path, args);
	_exit(127);
}

/* Runs a relay command to its end; its stdout (at most cap - 1 bytes) goes to out. */
static int run_capture(char *const args[], char *out, size_t cap)
{
	int fds[2], status = 0;
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	out[0] = '\0';
	if (pipe(fds) != 0)
		return -1;
	pid = spawn(args, fds[1], STDERR_FILENO);
	(void)close(fds[1]);
	while (pid > 0 && len + 1 < cap && (n = read(fds[0], out + len, cap - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	(void)close(fds[0]);
	if (pid <= 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* `sotto-relay init`: the address it prints becomes w->env.addr (its port is replaced later). */
static void relay_init(struct world *w)
{
	char *args[] = {"sotto-relay", "init", "--dir",  w->data,  "--host", "127.0.0.1",
	                "--port",      "5223", "--user", "nobody", NULL};
	char out[ADDR_TEXT_LEN];
	size_t len;

	if (geteuid() != 0)
		args[8] = NULL; /* only root needs a user to switch to */
	assert_int_equal(run_capture(args, out, sizeof(out)), 0);
	len = strcspn(out, "\n");
	if (net_addr_parse(out, len, &w->env.addr) != SOTTO_OK)
		fail_msg("init printed \"%s\"", out);
}

/* The port of the "listening on port N" line in the relay's log, or 0. */
static uint16_t log_port(const char *path)
{
	static const char needle[] = "listening on port ";
	char buf[8192] = {0};
	FILE *f = fopen(path, "r");
	const char *s;
	size_t n;
	long port;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	(void)fclose(f);
	buf[n] = '\0';
	if ((s = strstr(buf, needle)) == NULL)
		return 0;
	port = strtol(s + strlen(needle), NULL, 10);
	return port > 0 && port <= 65535 ? (uint16_t)port : 0;
}

/* `sotto-relay run --port 0` plus extra flags (NULL-terminated); waits for its port. */
static void relay_start(struct world *w, const char *const *extra)
{
	char *args[ARGS_MAX] = {"sotto-relay",        "run", "--dir", w->data, "--port", "0",
	                        "--stats-interval-s", "1"};
	size_t n = 8;
	uint16_t port = 0;
	int fd, status;

	for (; *extra != NULL && n + 1 < ARGS_MAX; extra++)
		args[n++] = (char *)*extra;
	args[n] = NULL;
	snprintf(w->log, sizeof(w->log), "%s/run.log", w->dir);
	fd = open(w->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	w->pid = spawn(args, fd, fd);
	(void)close(fd);
	assert_true(w->pid > 0);
	for (int waited = 0; waited < START_WAIT_MS && port == 0; waited += SLEEP_MS) {
		if ((port = log_port(w->log)) != 0)
			break;
		if (waitpid(w->pid, &status, WNOHANG) == w->pid) {
			w->pid = -1;
			fail_msg("the relay exited at start (log %s)", w->log);
		}
		sleep_ms(SLEEP_MS);
	}
	if (port == 0)
		fail_msg("the relay did not log its port (log %s)", w->log);
	w->env.addr.port = port;
}

static bool relay_is_alive(struct world *w)
{
	int status;
	return w->pid > 0 && waitpid(w->pid, &status, WNOHANG) == 0;
}

/* SIGTERM and a bounded wait; returns the exit status, or -1 (then it was killed). */
static int relay_stop(struct world *w)
{
	int status = 0;

	if (w->pid <= 0)
		return -1;
	(void)kill(w->pid, SIGTERM);
	for (int waited = 0; waited < STOP_WAIT_MS; waited += SLEEP_MS) {
		pid_t got = waitpid(w->pid, &status, WNOHANG);
		if (got == w->pid) {
			w->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		sleep_ms(SLEEP_MS);
	}
	(void)kill(w->pid, SIGKILL);
	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	w->pid = -1;
	return -1;
}

/* One counter as `sotto-relay stats` prints it ("name   value"); UINT64_MAX if absent. */
static uint64_t stats_cli(struct world *w, const char *name)
{
	char *args[] = {"sotto-relay", "stats", "--dir", w->data, NULL};
	char out[4096];
	size_t len = strlen(name);

	if (run_capture(args, out, sizeof(out)) != 0)
		return UINT64_MAX;
	for (const char *line = out; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n');
		if (strncmp(line, name, len) == 0 && line[len] == ' ')
			return strtoull(line + len, NULL, 10);
		line = nl != NULL ? nl + 1 : NULL;
	}
	return UINT64_MAX;
}

static void on_guard(uv_timer_t *t)
{
	struct world *w = t->data;
	w->guard_fired = true;
	uv_stop(&w->loop);
}

static void on_tick(uv_timer_t *t)
{
	struct world *w = t->data;
	if (w->on_tick != NULL && !w->finished)
		w->on_tick(w);
}

static void world_init(struct world *w, void *scenario)
{
	memset(w, 0, sizeof(*w));
	w->pid = -1;
	w->scenario = scenario;
	assert_int_equal(sotto_ctx_new(&w->ctx, NULL), SOTTO_OK);
	assert_int_equal(uv_loop_init(&w->loop), 0);
	w->env.ctx = w->ctx;
	w->env.loop = &w->loop;
	snprintf(w->dir, sizeof(w->dir), "/tmp/sotto-relay-abuse-XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	assert_int_equal(chmod(w->dir, 0755), 0);
	snprintf(w->data, sizeof(w->data), "%s/relay", w->dir);
	relay_init(w);
	assert_int_equal(uv_timer_init(&w->loop, &w->guard), 0);
	assert_int_equal(uv_timer_init(&w->loop, &w->tick), 0);
	w->guard.data = w;
	w->tick.data = w;
}

/* Starts the guard and the tick (every tick_ms), then runs the loop to its end. */
static void world_run(struct world *w, world_fn *tick_fn, uint64_t tick_ms, uint64_t guard_ms)
{
	w->on_tick = tick_fn;
	assert_int_equal(uv_timer_start(&w->guard, on_guard, guard_ms, 0), 0);
	assert_int_equal(uv_timer_start(&w->tick, on_tick, tick_ms, tick_ms), 0);
	(void)uv_run(&w->loop, UV_RUN_DEFAULT);
}

/* Ends the scenario: the guard and the tick close, and the loop runs dry. */
static void world_finish(struct world *w)
{
	if (w->finished)
		return;
	w->finished = true;
	uv_close((uv_handle_t *)&w->guard, NULL);
	uv_close((uv_handle_t *)&w->tick, NULL);
}

static void remove_tree(const char *dir)
{
	static const char *const names[] = {"key",       "config",       "stats",
	                                    "relay.db",  "relay.db-wal", "relay.db-shm",
	                                    "stats.tmp", "config.tmp",   "key.tmp"};
	char path[PATH_LEN + 32];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(dir);
}

/*
 * Checks what the loop left: no guard, no broken expectation, nothing open.
 * Kills the relay if it still runs; on success removes the directory.
 */
static void world_free(struct world *w)
{
	bool ok = !w->guard_fired && w->env.n_errors == 0;

	/* A relay that is gone ends every connection, so the loop then runs dry. */
	if (w->pid > 0)
		(void)relay_stop(w);
	world_finish(w);
	if (w->on_teardown != NULL)
		w->on_teardown(w);
	(void)uv_run(&w->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&w->loop);
	sotto_ctx_free(w->ctx);
	if (ok) {
		char log[PATH_LEN];
		remove_tree(w->data);
		snprintf(log, sizeof(log), "%s/run.log", w->dir);
		(void)unlink(log);
		(void)rmdir(w->dir);
	}
	if (w->guard_fired)
		fail_msg("guard timer fired: the scenario hung (relay log in %s)", w->dir);
	if (w->env.n_errors != 0)
		fail_msg("%u broken expectations, first: %s (relay log in %s)", w->env.n_errors,
		         w->env.first_error, w->dir);
}

/* ---- relay clients over the real transport (support/relay_raw.h) ---- */

static void send_ping(struct relay_raw_peer *p)
{
	relay_raw_send_ping(p, CORR_PING);
}

static bool is_pong(const struct relay_resp *r)
{
	return r->code == RELAY_RESP_PONG && r->corr == CORR_PING;
}

/* ---- flood: raw TCP connections beside a chatting pair ---- */

struct flood {
	struct world *w;
	struct relay_raw_peer rx, tx, late; /* the pair, and a client dialled after the flood */
	struct relay_raw_queue q;
	struct relay_raw_flood raw;
	uint64_t flood_start_ms, flood_end_ms, last_slow_ms;
	uint32_t n_sent, n_confirmed, n_delivered, n_sent_during;
	uint32_t n_acks_out; /* ACKs not yet answered OK */
	bool pair_ready, is_flooding, flood_done, late_ponged;
};

/* The pair: one SEND a tick while the window allows; the body is the sequence number. */
static void pair_send(struct flood *f)
{
	uint8_t body[4];

	if (f->n_sent - f->n_confirmed >= SEND_WINDOW)
		return;
	bytes_store_be32(body, f->n_sent);
	relay_raw_send_body(&f->tx, &f->q, CORR_SEND_FIRST + f->n_sent, body, sizeof(body));
	f->n_sent++;
	f->n_sent_during += f->is_flooding;
}

static void rx_resp(struct relay_raw_peer *p, const struct relay_resp *r)
{
	struct flood *f = p->scenario;
	uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg m;

	if (r->code == RELAY_RESP_IDS && r->corr == CORR_NEW) {
		relay_raw_take_ids(p, &f->q, r);
		relay_raw_send_recipient(p, &f->q, RELAY_CMD_SUB, CORR_SUB, NULL);
	} else if (r->code == RELAY_RESP_OK && r->corr == CORR_SUB) {
		f->pair_ready = true;
	} else if (r->code == RELAY_RESP_MSG && r->corr == 0) {
		/*
		 * FIFO, nothing lost, nothing twice: the next sequence number each
		 * time. The next MSG may come before the OK to the last ACK
		 * (docs/protocol.md 4.4), so ACKs may overlap.
		 */
		EXPECT(f->w, relay_msg_open(&m, plain, r, f->q.k_deliver) == SOTTO_OK);
		EXPECT(f->w, m.body_len == 4 && bytes_load_be32(m.body) == f->n_delivered);
		f->n_delivered++;
		f->n_acks_out++;
		relay_raw_send_recipient(p, &f->q, RELAY_CMD_ACK, CORR_ACK, r->msg_id);
	} else if (r->code == RELAY_RESP_OK && r->corr == CORR_ACK && f->n_acks_out > 0) {
		f->n_acks_out--;
	} else {
		relay_raw_fail(&f->w->env, "unexpected answer to the receiver", __LINE__);
	}
}

static void rx_open(struct relay_raw_peer *p)
{
	struct flood *f = p->scenario;
	relay_raw_send_new(p, &f->q, CORR_NEW);
}

static void tx_resp(struct relay_raw_peer *p, const struct relay_resp *r)
{
	struct flood *f = p->scenario;

	EXPECT(f->w, r->code == RELAY_RESP_OK && r->corr == CORR_SEND_FIRST + f->n_confirmed);
	f->n_confirmed++;
}

static void late_resp(struct relay_raw_peer *p, const struct relay_resp *r)
{
	struct flood *f = p->scenario;

	EXPECT(f->w, is_pong(r));
	f->late_ponged = true;
	relay_raw_peer_close(p);
}

static void flood_teardown(struct world *w)
{
	struct flood *f = w->scenario;

	relay_raw_flood_end_all(&f->raw);
}

static void flood_tick(struct world *w)
{
	struct flood *f = w->scenario;
	uint64_t now = uv_now(&w->loop);

	/* The pair must live through all of it. */
	EXPECT(w, !f->rx.is_closed && !f->tx.is_closed);
	if (f->rx.is_closed || f->tx.is_closed) {
		relay_raw_peer_close(&f->rx);
		relay_raw_peer_close(&f->tx);
		world_finish(w);
		return;
	}
	if (!f->pair_ready)
		return;
	if (f->tx.conn == NULL) {
		relay_raw_peer_dial(&w->env, &f->tx, f, NULL, tx_resp);
		return;
	}
	if (!f->tx.is_open)
		return;
	if (!f->is_flooding && !f->flood_done) {
		/* A first message through before the flood starts. */
		if (f->n_sent == 0)
			pair_send(f);
		if (f->n_delivered == 0)
			return;
		f->is_flooding = true;
		f->flood_start_ms = now;
	}
	if (f->is_flooding) {
		if (now - f->flood_start_ms >=
		    (f->raw.n_opened / FLOOD_WAVE) * (uint64_t)FLOOD_WAVE_MS)
			relay_raw_flood_open(&f->raw, FLOOD_WAVE);
		if (now - f->last_slow_ms >= SLOW_BYTE_MS) {
			f->last_slow_ms = now;
			relay_raw_flood_trickle(&f->raw);
		}
		pair_send(f);
		if (!relay_raw_flood_is_done(&f->raw))
			return;
		f->is_flooding = false;
		f->flood_done = true;
		f->flood_end_ms = now;
		relay_raw_peer_dial(&w->env, &f->late, f, send_ping, late_resp);
		return;
	}
	/* After the flood: every message delivered, and a new client served. */
	if (f->n_delivered < f->n_sent || f->n_acks_out > 0 || !f->late.is_closed)
		return;
	relay_raw_peer_close(&f->rx);
	relay_raw_peer_close(&f->tx);
	world_finish(w);
}

/* The flood's size: SOTTO_FLOOD_N, capped by the descriptors this process may open. */
static size_t flood_size(void)
{
	const char *env = getenv("SOTTO_FLOOD_N");
	size_t want =
	        env != NULL && *env != '\0' ? (size_t)strtoul(env, NULL, 10) : FLOOD_N_DEFAULT;
	size_t n;

	if (want == 0 || want > FLOOD_N_MAX)
		want = FLOOD_N_DEFAULT;
	/* The relay child inherits the raised limit, then raises its own. */
	n = relay_raw_fd_budget(want, FD_MARGIN);
	if (n < want)
		print_message("flood: the descriptor limit allows %zu connections, not %zu\n", n,
		              want);
	assert_true(n > 0);
	return n;
}

static void relay_abuse__pair_keeps_delivering_flood_closed__10000_raw_connections(void **state)
{
	struct world w;
	struct flood *f = calloc(1, sizeof(*f));
	struct relay_raw_flood *r = &f->raw;
	char max_conns[24];
	int exit_code;
	size_t n;
	(void)state;

	assert_non_null(f);
	n = flood_size();
	/* Half the flood fits max_connections: the rest is refused at once. */
	snprintf(max_conns, sizeof(max_conns), "%zu", n / 2 + 3);
	const char *const flags[] = {"--handshake-timeout-s", "2", "--max-connections", max_conns,
	                             NULL};
	_Static_assert(HANDSHAKE_S == 2, "the flag above");

	world_init(&w, f);
	f->w = &w;
	w.on_teardown = flood_teardown;
	relay_start(&w, flags);
	assert_int_equal(
	        relay_raw_flood_init(&f->raw, &w.env, n, RELAY_RAW_MIXED, HANDSHAKE_S * 1000u),
	        SOTTO_OK);
	relay_raw_peer_dial(&w.env, &f->rx, f, rx_open, rx_resp);
	world_run(&w, flood_tick, SEND_MS, FLOOD_GUARD_MS);
	EXPECT(&w, relay_is_alive(&w)); /* alive after the flood, before being told to stop */
	exit_code = relay_stop(&w);
	print_message(
	        "flood: %zu connections attempted, %zu connected, %zu connect failures; "
	        "ended by the relay's side: %zu silent, %zu slowloris, %zu garbage msg1, "
	        "%zu bad prefix; of the silent and slowloris ones %zu closed within the "
	        "%d s handshake timeout of their connect (refused beyond max_connections "
	        "%zu), %zu after it (the timeout, or refused late) and %zu silent ones "
	        "reset (never accepted: the listen queue overflowed); flood lasted %llu "
	        "ms\n",
	        r->n_opened, r->n_connected, r->n_connect_failed,
	        r->n_ended_by_relay[RELAY_RAW_SILENT], r->n_ended_by_relay[RELAY_RAW_SLOW],
	        r->n_ended_by_relay[RELAY_RAW_GARBAGE], r->n_ended_by_relay[RELAY_RAW_BAD_PREFIX],
	        r->n_quick, HANDSHAKE_S, n / 2 + 3, r->n_late, r->n_silent_reset,
	        (unsigned long long)(f->flood_done ? f->flood_end_ms - f->flood_start_ms : 0));
	print_message("flood: the pair sent %u messages during the flood (%u in all), %u "
	              "confirmed, %u delivered\n",
	              f->n_sent_during, f->n_sent, f->n_confirmed, f->n_delivered);
	uint64_t n_conns = stats_cli(&w, "connections");
	uint64_t n_in = stats_cli(&w, "messages_in");
	uint64_t n_acked = stats_cli(&w, "messages_acked");
	world_free(&w);
	assert_int_equal(exit_code, 0);
	assert_int_equal(r->n_opened, n);
	assert_int_equal(r->n_connect_failed, 0);
	assert_int_equal(r->n_connected, n);
	assert_int_equal(r->n_ended_by_relay[RELAY_RAW_SILENT] +
	                         r->n_ended_by_relay[RELAY_RAW_SLOW] +
	                         r->n_ended_by_relay[RELAY_RAW_GARBAGE] +
	                         r->n_ended_by_relay[RELAY_RAW_BAD_PREFIX],
	                 n);
	assert_true(f->n_sent_during > 0);
	assert_int_equal(f->n_confirmed, f->n_sent);
	assert_int_equal(f->n_delivered, f->n_sent);
	assert_true(f->late_ponged);
	/* No flood socket ever became a client: the pair and the late one only. */
	assert_int_equal(n_conns, 3);
	assert_int_equal(n_in, f->n_sent);
	assert_int_equal(n_acked, f->n_sent);
	relay_raw_flood_clear(r);
	free(f);
}

/* ---- message TTL ---- */

enum { TTL_S = 1 };

struct ttl {
	struct world *w;
	struct relay_raw_peer p;
	struct relay_raw_queue q;
	bool got_ok, got_none;
	uint64_t expired_seen; /* messages_expired when GET went out */
};

static void ttl_resp(struct relay_raw_peer *p, const struct relay_resp *r)
{
	struct ttl *t = p->scenario;
	static const uint8_t body[] = "expires unread";

	if (r->code == RELAY_RESP_IDS && r->corr == CORR_NEW) {
		relay_raw_take_ids(p, &t->q, r);
		relay_raw_send_body(p, &t->q, CORR_SEND_FIRST, body, sizeof(body));
	} else if (r->code == RELAY_RESP_OK && r->corr == CORR_SEND_FIRST) {
		t->got_ok = true; /* durable: now wait for the sweep */
	} else if (r->code == RELAY_RESP_NONE && r->corr == CORR_GET) {
		/* NONE, not ERR AUTH: the queue is there, and empty. */
		t->got_none = true;
		relay_raw_peer_close(p);
		world_finish(t->w);
	} else {
		relay_raw_fail(&t->w->env, "unexpected answer (a MSG would mean it did not expire)",
		               __LINE__);
		relay_raw_peer_close(p);
		world_finish(t->w);
	}
}

static void ttl_open(struct relay_raw_peer *p)
{
	struct ttl *t = p->scenario;
	relay_raw_send_new(p, &t->q, CORR_NEW);
}

/* Reads the stats file the relay rewrites every second until it counts the expiry. */
static void ttl_tick(struct world *w)
{
	struct ttl *t = w->scenario;
	struct relay_daemon_stats st;

	EXPECT(w, !t->p.is_closed);
	if (t->p.is_closed) {
		world_finish(w);
		return;
	}
	if (!t->got_ok || t->expired_seen != 0)
		return;
	if (relay_daemon_stats_load(w->data, &st) != SOTTO_OK || st.messages_expired == 0)
		return;
	t->expired_seen = st.messages_expired;
	relay_raw_send_recipient(&t->p, &t->q, RELAY_CMD_GET, CORR_GET, NULL);
}

static void relay_abuse__message_gone_and_counted__ttl_passed(void **state)
{
	static const char *const flags[] = {"--ttl-s", "1", "--expire-interval-s", "1", NULL};
	struct world w;
	struct ttl t;
	int exit_code;
	(void)state;

	_Static_assert(TTL_S == 1, "the flag above");
	memset(&t, 0, sizeof(t));
	world_init(&w, &t);
	t.w = &w;
	relay_start(&w, flags);
	relay_raw_peer_dial(&w.env, &t.p, &t, ttl_open, ttl_resp);
	world_run(&w, ttl_tick, POLL_MS, GUARD_MS);
	exit_code = relay_stop(&w);
	uint64_t n_expired = stats_cli(&w, "messages_expired");
	uint64_t n_in = stats_cli(&w, "messages_in");
	uint64_t n_out = stats_cli(&w, "messages_out");
	uint64_t n_stored = stats_cli(&w, "messages");
	world_free(&w);
	assert_int_equal(exit_code, 0);
	assert_true(t.got_ok);
	assert_int_equal(t.expired_seen, 1);
	assert_true(t.got_none);
	/* `sotto-relay stats` after the stop: stored once, expired once, never delivered. */
	assert_int_equal(n_in, 1);
	assert_int_equal(n_expired, 1);
	assert_int_equal(n_out, 0);
	assert_int_equal(n_stored, 0);
}

/* ---- idle timeout ---- */

struct idle {
	struct world *w;
	struct relay_raw_peer silent, pinger;
	unsigned n_pongs, pongs_at_close;
	bool silent_ponged, ping_out, silent_gone;
	uint64_t last_ping_ms;
};

static void idle_silent_resp(struct relay_raw_peer *p, const struct relay_resp *r)
{
	struct idle *id = p->scenario;

	EXPECT(id->w, is_pong(r));
	id->silent_ponged = true; /* handshaken and served; from now on it says nothing */
}

static void idle_pinger_resp(struct relay_raw_peer *p, const struct relay_resp *r)
{
	struct idle *id = p->scenario;

	EXPECT(id->w, is_pong(r));
	id->ping_out = false;
	id->n_pongs++;
}

static void idle_tick(struct world *w)
{
	struct idle *id = w->scenario;

	EXPECT(w, !id->pinger.is_closed);
	if (id->pinger.is_closed) {
		world_finish(w);
		return;
	}
	if (id->pinger.is_open && !id->ping_out) {
		send_ping(&id->pinger);
		id->ping_out = true;
	}
	if (!id->silent_gone) {
		if (!id->silent.is_closed)
			return;
		id->silent_gone = true;
		id->pongs_at_close = id->n_pongs;
	}
	if (id->n_pongs < id->pongs_at_close + PONGS_AFTER)
		return;
	relay_raw_peer_close(&id->pinger);
	world_finish(w);
}

static void relay_abuse__silent_closed_pinger_kept__idle_timeout(void **state)
{
	static const char *const flags[] = {"--idle-timeout-s", "1", NULL};
	struct world w;
	struct idle id;
	int exit_code;
	(void)state;

	memset(&id, 0, sizeof(id));
	world_init(&w, &id);
	id.w = &w;
	relay_start(&w, flags);
	relay_raw_peer_dial(&w.env, &id.silent, &id, send_ping, idle_silent_resp);
	relay_raw_peer_dial(&w.env, &id.pinger, &id, NULL, idle_pinger_resp);
	world_run(&w, idle_tick, PING_MS, GUARD_MS);
	exit_code = relay_stop(&w);
	uint64_t n_conns = stats_cli(&w, "connections");
	world_free(&w);
	assert_int_equal(exit_code, 0);
	assert_true(id.silent_ponged);
	/* The relay hung up on the silent one: its stream ended between frames. */
	assert_int_equal(id.silent.close_reason, SOTTO_ERR_CLOSED);
	assert_int_equal(id.pinger.close_reason, SOTTO_ERR_CANCELLED);
	assert_true(id.n_pongs >= id.pongs_at_close + PONGS_AFTER);
	assert_int_equal(n_conns, 2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(
	                relay_abuse__pair_keeps_delivering_flood_closed__10000_raw_connections),
	        cmocka_unit_test(relay_abuse__message_gone_and_counted__ttl_passed),
	        cmocka_unit_test(relay_abuse__silent_closed_pinger_kept__idle_timeout),
	};

	if (argc != 2) {
		fprintf(stderr, "usage: relay_abuse_test SOTTO_RELAY\n");
		return 2;
	}
	relay_path = argv[1];
	/* Writing to a socket the relay already closed must fail with EPIPE, not kill us. */
	if (sigaction(SIGPIPE, &(struct sigaction){.sa_handler = SIG_IGN}, NULL) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
