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
#include <sys/resource.h>
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
#include "core/ctx.h"
#include "crypto/x25519.h"
#include "net/conn.h"
#include "net/session.h"
#include "relay/cmd.h"
#include "relay/daemon.h"

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
	unsigned n_errors;
	char first_error[200];
	pid_t pid;
	char dir[64];        /* mkdtemp directory, 0755 (the relay may run as nobody) */
	char data[PATH_LEN]; /* the relay's data directory */
	char log[PATH_LEN];  /* the relay's stderr */
	struct net_addr addr;
	void *scenario;
};

#define EXPECT(w, cond)                                                                            \
	do {                                                                                       \
		if (!(cond))                                                                       \
			expect_failed((w), #cond, __LINE__);                                       \
	} while (0)

static void expect_failed(struct world *w, const char *what, int line)
{
	if (w->n_errors++ == 0)
		snprintf(w->first_error, sizeof(w->first_error), "line %d: %s", line, what);
}

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

/* `sotto-relay init`: the address it prints becomes w->addr (its port is replaced later). */
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
	if (net_addr_parse(out, len, &w->addr) != SOTTO_OK)
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
	w->addr.port = port;
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
	bool ok = !w->guard_fired && w->n_errors == 0;

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
	if (w->n_errors != 0)
		fail_msg("%u broken expectations, first: %s (relay log in %s)", w->n_errors,
		         w->first_error, w->dir);
}

/* ---- relay clients over the real transport ---- */

struct peer;
typedef void peer_fn(struct peer *p);
typedef void peer_resp_fn(struct peer *p, const struct relay_resp *r);

struct peer {
	struct world *w;
	struct net_conn *conn;
	uint8_t session_id[NET_SESSION_ID_LEN];
	peer_fn *on_open;
	peer_resp_fn *on_resp;
	bool is_open, is_closed;
	sotto_err close_reason;
	void *scenario;
};

/* A queue as its recipient knows it. */
struct queue {
	uint8_t rid[RELAY_ID_LEN];
	uint8_t sid[RELAY_ID_LEN];
	struct x25519_keypair rk;
	uint8_t k_rauth[RELAY_KEY_LEN];
	uint8_t k_deliver[RELAY_KEY_LEN];
};

static void peer_on_open(void *user, struct net_conn *conn, const uint8_t *sid, uint16_t version)
{
	struct peer *p = user;
	(void)conn;
	(void)version;
	memcpy(p->session_id, sid, NET_SESSION_ID_LEN);
	p->is_open = true;
	if (p->on_open != NULL)
		p->on_open(p);
}

static void peer_on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct peer *p = user;
	struct relay_batch batch;
	struct relay_resp r;
	(void)conn;

	EXPECT(p->w, relay_batch_parse(&batch, content, len) == SOTTO_OK);
	for (size_t i = 0; i < batch.n_tx && !p->is_closed; i++) {
		EXPECT(p->w, relay_resp_parse(&r, batch.tx[i].buf, batch.tx[i].len) == SOTTO_OK);
		if (p->on_resp != NULL)
			p->on_resp(p, &r);
	}
}

static void peer_on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct peer *p = user;
	(void)conn;
	p->is_open = false;
	p->is_closed = true;
	p->close_reason = reason;
	p->conn = NULL;
}

static void peer_dial(struct world *w, struct peer *p, void *scenario, peer_fn *on_open,
                      peer_resp_fn *on_resp)
{
	struct net_conn_callbacks cb = {.on_open = peer_on_open,
	                                .on_block = peer_on_block,
	                                .on_close = peer_on_close,
	                                .user = p};

	memset(p, 0, sizeof(*p));
	p->w = w;
	p->scenario = scenario;
	p->on_open = on_open;
	p->on_resp = on_resp;
	EXPECT(w, net_conn_dial(w->ctx, &w->loop, &w->addr, NULL, &cb, &p->conn) == SOTTO_OK);
}

static void peer_close(struct peer *p)
{
	if (p->conn != NULL && !p->is_closed)
		net_conn_close(p->conn);
}

/* Sends cmd alone in a block, MAC'd under mac_key for this connection unless it is NULL. */
static void peer_send(struct peer *p, const struct relay_cmd *cmd, const uint8_t *mac_key)
{
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t cap = 0, len = 0, tx_len = 0;
	uint8_t *slot;

	relay_batch_writer_init(&bw, buf);
	slot = relay_batch_writer_slot(&bw, &cap);
	EXPECT(p->w, slot != NULL);
	if (slot == NULL)
		return;
	EXPECT(p->w, relay_cmd_encode(slot, cap, &tx_len, cmd, mac_key,
	                              mac_key != NULL ? p->session_id : NULL) == SOTTO_OK);
	EXPECT(p->w, relay_batch_writer_commit(&bw, tx_len) == SOTTO_OK);
	EXPECT(p->w, relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	EXPECT(p->w, p->conn != NULL && net_conn_send(p->conn, buf, len) == SOTTO_OK);
}

static void send_new(struct peer *p, struct queue *q)
{
	struct relay_cmd cmd;

	x25519_keypair_generate(p->w->ctx, &q->rk);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, CORR_NEW, NULL);
	memcpy(cmd.key, q->rk.pub, RELAY_KEY_LEN);
	peer_send(p, &cmd, NULL);
}

static void take_ids(struct peer *p, struct queue *q, const struct relay_resp *r)
{
	memcpy(q->rid, r->rid, RELAY_ID_LEN);
	memcpy(q->sid, r->sid, RELAY_ID_LEN);
	EXPECT(p->w,
	       relay_keys_recipient(q->k_rauth, q->k_deliver, q->rk.priv, r->srk) == SOTTO_OK);
	x25519_keypair_clear(&q->rk);
}

static void send_recipient(struct peer *p, struct queue *q, enum relay_cmd_code code, uint32_t corr,
                           const uint8_t *msg_id)
{
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, code, corr, q->rid);
	if (msg_id != NULL)
		memcpy(cmd.msg_id, msg_id, RELAY_MSG_ID_LEN);
	peer_send(p, &cmd, q->k_rauth);
}

/* A SEND to an unsecured queue (no MAC) with body[0..len). */
static void send_body(struct peer *p, const struct queue *q, uint32_t corr, const uint8_t *body,
                      size_t len)
{
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_SEND, corr, q->sid);
	cmd.body = body;
	cmd.body_len = len;
	peer_send(p, &cmd, NULL);
}

static void send_ping(struct peer *p)
{
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, RELAY_CMD_PING, CORR_PING, NULL);
	peer_send(p, &cmd, NULL);
}

static bool is_pong(const struct relay_resp *r)
{
	return r->code == RELAY_RESP_PONG && r->corr == CORR_PING;
}

/* ---- flood: raw TCP connections beside a chatting pair ---- */

enum flood_kind {
	FK_SILENT,     /* connects and never sends a byte */
	FK_SLOW,       /* a real msg1, one byte every SLOW_BYTE_MS */
	FK_GARBAGE,    /* msg1's length prefix and 52 random bytes */
	FK_BAD_PREFIX, /* a length prefix no frame has, then random bytes */
	FK_COUNT,
};

struct flood;

struct raw {
	struct flood *f;
	uv_tcp_t tcp;          /* data = this */
	uv_connect_t connect;  /* data = this */
	uv_write_t write;      /* one write at a time; data = this */
	uint64_t connected_ms; /* loop time the connect completed */
	uint8_t kind;          /* enum flood_kind */
	uint8_t slow_pos;      /* slowloris: msg1 bytes written */
	bool is_connected, is_writing, is_ended;
};

struct flood {
	struct world *w;
	struct peer rx, tx, late; /* the pair, and a client dialled after the flood */
	struct queue q;
	struct raw *raws;
	size_t n, n_opened, n_connected, n_connect_failed, n_ended;
	size_t n_ended_by_relay[FK_COUNT];
	size_t n_silent_reset; /* silent ones reset: never accepted (listen queue overflow) */
	size_t n_quick,
	        n_late; /* silent and slow ones closed < or >= handshake timeout after connect */
	uint64_t flood_start_ms, flood_end_ms, last_slow_ms;
	uint8_t msg1[NET_MSG1_FRAME_LEN];
	uint8_t garbage[NET_MSG1_FRAME_LEN];
	uint8_t bad_prefix[NET_MSG1_FRAME_LEN];
	uint32_t n_sent, n_confirmed, n_delivered, n_sent_during;
	uint32_t n_acks_out; /* ACKs not yet answered OK */
	bool pair_ready, is_flooding, flood_done, late_ponged;
};

static void raw_on_closed(uv_handle_t *h)
{
	struct raw *r = h->data;
	struct flood *f = r->f;

	f->n_ended++;
}

static void raw_end(struct raw *r, bool by_relay, bool is_reset)
{
	struct flood *f = r->f;
	uint64_t age;

	if (r->is_ended)
		return;
	r->is_ended = true;
	if (by_relay) {
		f->n_ended_by_relay[r->kind]++;
		age = uv_now(&f->w->loop) - r->connected_ms;
		if (r->kind == FK_SILENT && is_reset) {
			f->n_silent_reset++;
		} else if (r->kind == FK_SILENT || r->kind == FK_SLOW) {
			if (age < HANDSHAKE_S * 1000u)
				f->n_quick++;
			else
				f->n_late++;
		}
	}
	uv_close((uv_handle_t *)&r->tcp, raw_on_closed);
}

static void raw_on_written(uv_write_t *req, int status)
{
	struct raw *r = req->data;
	(void)status; /* a relay that already hung up fails it: the read side reports that */
	r->is_writing = false;
}

static void raw_write(struct raw *r, const uint8_t *bytes, size_t len)
{
	uv_buf_t buf = uv_buf_init((char *)bytes, (unsigned)len);

	if (r->is_ended || r->is_writing)
		return;
	if (uv_write(&r->write, (uv_stream_t *)&r->tcp, &buf, 1, raw_on_written) == 0)
		r->is_writing = true;
}

static void raw_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char space[4096];
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(space, sizeof(space));
}

/* Any byte from the relay (its refusal frame) is ignored; the end of the stream is counted. */
static void raw_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct raw *r = s->data;
	(void)buf;

	if (nread < 0)
		raw_end(r, true, nread != UV_EOF);
}

static void raw_on_connect(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	struct flood *f = r->f;

	if (r->is_ended)
		return;
	if (status < 0) {
		f->n_connect_failed++;
		raw_end(r, false, false);
		return;
	}
	f->n_connected++;
	r->is_connected = true;
	r->connected_ms = uv_now(&f->w->loop);
	EXPECT(f->w, uv_tcp_keepalive(&r->tcp, 1, 1) == 0);
	EXPECT(f->w, uv_read_start((uv_stream_t *)&r->tcp, raw_on_alloc, raw_on_read) == 0);
	switch (r->kind) {
	case FK_GARBAGE: raw_write(r, f->garbage, sizeof(f->garbage)); break;
	case FK_BAD_PREFIX: raw_write(r, f->bad_prefix, sizeof(f->bad_prefix)); break;
	case FK_SLOW:
		raw_write(r, f->msg1, 1);
		r->slow_pos = 1;
		break;
	default: break;
	}
}

static void flood_open_wave(struct flood *f)
{
	struct sockaddr_in sa;

	EXPECT(f->w, uv_ip4_addr("127.0.0.1", f->w->addr.port, &sa) == 0);
	for (size_t i = 0; i < FLOOD_WAVE && f->n_opened < f->n; i++) {
		struct raw *r = &f->raws[f->n_opened++];

		r->f = f;
		r->kind = (uint8_t)(f->n_opened % FK_COUNT);
		r->tcp.data = r;
		r->connect.data = r;
		r->write.data = r;
		if (uv_tcp_init(&f->w->loop, &r->tcp) != 0) {
			expect_failed(f->w, "uv_tcp_init", __LINE__);
			r->is_ended = true;
			f->n_ended++;
			continue;
		}
		if (uv_tcp_connect(&r->connect, &r->tcp, (const struct sockaddr *)&sa,
		                   raw_on_connect) != 0) {
			f->n_connect_failed++;
			raw_end(r, false, false);
		}
	}
}

/* Slowloris: the next byte of msg1 on every slow connection still open. */
static void flood_trickle(struct flood *f)
{
	for (size_t i = 0; i < f->n_opened; i++) {
		struct raw *r = &f->raws[i];

		if (r->kind != FK_SLOW || !r->is_connected || r->is_ended || r->is_writing ||
		    r->slow_pos >= sizeof(f->msg1))
			continue;
		raw_write(r, f->msg1 + r->slow_pos, 1);
		r->slow_pos++;
	}
}

/* The pair: one SEND a tick while the window allows; the body is the sequence number. */
static void pair_send(struct flood *f)
{
	uint8_t body[4];

	if (f->n_sent - f->n_confirmed >= SEND_WINDOW)
		return;
	bytes_store_be32(body, f->n_sent);
	send_body(&f->tx, &f->q, CORR_SEND_FIRST + f->n_sent, body, sizeof(body));
	f->n_sent++;
	f->n_sent_during += f->is_flooding;
}

static void rx_resp(struct peer *p, const struct relay_resp *r)
{
	struct flood *f = p->scenario;
	uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	struct relay_msg m;

	if (r->code == RELAY_RESP_IDS && r->corr == CORR_NEW) {
		take_ids(p, &f->q, r);
		send_recipient(p, &f->q, RELAY_CMD_SUB, CORR_SUB, NULL);
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
		send_recipient(p, &f->q, RELAY_CMD_ACK, CORR_ACK, r->msg_id);
	} else if (r->code == RELAY_RESP_OK && r->corr == CORR_ACK && f->n_acks_out > 0) {
		f->n_acks_out--;
	} else {
		expect_failed(f->w, "unexpected answer to the receiver", __LINE__);
	}
}

static void rx_open(struct peer *p)
{
	struct flood *f = p->scenario;
	send_new(p, &f->q);
}

static void tx_resp(struct peer *p, const struct relay_resp *r)
{
	struct flood *f = p->scenario;

	EXPECT(f->w, r->code == RELAY_RESP_OK && r->corr == CORR_SEND_FIRST + f->n_confirmed);
	f->n_confirmed++;
}

static void late_resp(struct peer *p, const struct relay_resp *r)
{
	struct flood *f = p->scenario;

	EXPECT(f->w, is_pong(r));
	f->late_ponged = true;
	peer_close(p);
}

static void flood_teardown(struct world *w)
{
	struct flood *f = w->scenario;

	for (size_t i = 0; i < f->n_opened; i++)
		raw_end(&f->raws[i], false, false);
}

static void flood_tick(struct world *w)
{
	struct flood *f = w->scenario;
	uint64_t now = uv_now(&w->loop);

	/* The pair must live through all of it. */
	EXPECT(w, !f->rx.is_closed && !f->tx.is_closed);
	if (f->rx.is_closed || f->tx.is_closed) {
		peer_close(&f->rx);
		peer_close(&f->tx);
		world_finish(w);
		return;
	}
	if (!f->pair_ready)
		return;
	if (f->tx.conn == NULL) {
		peer_dial(w, &f->tx, f, NULL, tx_resp);
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
		if (now - f->flood_start_ms >= (f->n_opened / FLOOD_WAVE) * (uint64_t)FLOOD_WAVE_MS)
			flood_open_wave(f);
		if (now - f->last_slow_ms >= SLOW_BYTE_MS) {
			f->last_slow_ms = now;
			flood_trickle(f);
		}
		pair_send(f);
		if (f->n_opened < f->n || f->n_ended < f->n)
			return;
		f->is_flooding = false;
		f->flood_done = true;
		f->flood_end_ms = now;
		peer_dial(w, &f->late, f, send_ping, late_resp);
		return;
	}
	/* After the flood: every message delivered, and a new client served. */
	if (f->n_delivered < f->n_sent || f->n_acks_out > 0 || !f->late.is_closed)
		return;
	peer_close(&f->rx);
	peer_close(&f->tx);
	world_finish(w);
}

/* The flood's size: SOTTO_FLOOD_N, capped by the descriptors this process may open. */
static size_t flood_size(void)
{
	const char *env = getenv("SOTTO_FLOOD_N");
	size_t n = env != NULL && *env != '\0' ? (size_t)strtoul(env, NULL, 10) : FLOOD_N_DEFAULT;
	struct rlimit rl;

	if (n == 0 || n > FLOOD_N_MAX)
		n = FLOOD_N_DEFAULT;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n + FD_MARGIN) {
		print_message(
		        "flood: the hard descriptor limit %llu allows %llu connections, not %zu\n",
		        (unsigned long long)rl.rlim_max,
		        (unsigned long long)(rl.rlim_max - FD_MARGIN), n);
		n = rl.rlim_max > 2 * FD_MARGIN ? (size_t)rl.rlim_max - FD_MARGIN : FD_MARGIN;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n + FD_MARGIN) {
		rl.rlim_cur = n + FD_MARGIN; /* the relay child inherits it, then raises its own */
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	return n;
}

static void flood_prepare(struct flood *f, struct world *w)
{
	struct net_session *s = NULL;

	assert_int_equal(net_session_new_client(w->ctx, NULL, w->addr.key, &s), SOTTO_OK);
	assert_int_equal(net_session_start(s, f->msg1), SOTTO_OK);
	net_session_free(s);
	ctx_random(w->ctx, f->garbage, sizeof(f->garbage));
	bytes_store_be16(f->garbage, NET_MSG1_LEN);
	ctx_random(w->ctx, f->bad_prefix, sizeof(f->bad_prefix));
	bytes_store_be16(f->bad_prefix, 0xfff0);
}

static void relay_abuse__pair_keeps_delivering_flood_closed__10000_raw_connections(void **state)
{
	struct world w;
	struct flood *f = calloc(1, sizeof(*f));
	char max_conns[24];
	int exit_code;
	(void)state;

	assert_non_null(f);
	f->n = flood_size();
	f->raws = calloc(f->n, sizeof(*f->raws));
	assert_non_null(f->raws);
	/* Half the flood fits max_connections: the rest is refused at once. */
	snprintf(max_conns, sizeof(max_conns), "%zu", f->n / 2 + 3);
	const char *const flags[] = {"--handshake-timeout-s", "2", "--max-connections", max_conns,
	                             NULL};
	_Static_assert(HANDSHAKE_S == 2, "the flag above");

	world_init(&w, f);
	f->w = &w;
	w.on_teardown = flood_teardown;
	relay_start(&w, flags);
	flood_prepare(f, &w);
	peer_dial(&w, &f->rx, f, rx_open, rx_resp);
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
	        f->n_opened, f->n_connected, f->n_connect_failed, f->n_ended_by_relay[FK_SILENT],
	        f->n_ended_by_relay[FK_SLOW], f->n_ended_by_relay[FK_GARBAGE],
	        f->n_ended_by_relay[FK_BAD_PREFIX], f->n_quick, HANDSHAKE_S, f->n / 2 + 3,
	        f->n_late, f->n_silent_reset,
	        (unsigned long long)(f->flood_done ? f->flood_end_ms - f->flood_start_ms : 0));
	print_message("flood: the pair sent %u messages during the flood (%u in all), %u "
	              "confirmed, %u delivered\n",
	              f->n_sent_during, f->n_sent, f->n_confirmed, f->n_delivered);
	uint64_t n_conns = stats_cli(&w, "connections");
	uint64_t n_in = stats_cli(&w, "messages_in");
	uint64_t n_acked = stats_cli(&w, "messages_acked");
	world_free(&w);
	assert_int_equal(exit_code, 0);
	assert_int_equal(f->n_opened, f->n);
	assert_int_equal(f->n_connect_failed, 0);
	assert_int_equal(f->n_connected, f->n);
	assert_int_equal(f->n_ended_by_relay[FK_SILENT] + f->n_ended_by_relay[FK_SLOW] +
	                         f->n_ended_by_relay[FK_GARBAGE] +
	                         f->n_ended_by_relay[FK_BAD_PREFIX],
	                 f->n);
	assert_true(f->n_sent_during > 0);
	assert_int_equal(f->n_confirmed, f->n_sent);
	assert_int_equal(f->n_delivered, f->n_sent);
	assert_true(f->late_ponged);
	/* No flood socket ever became a client: the pair and the late one only. */
	assert_int_equal(n_conns, 3);
	assert_int_equal(n_in, f->n_sent);
	assert_int_equal(n_acked, f->n_sent);
	free(f->raws);
	free(f);
}

/* ---- message TTL ---- */

enum { TTL_S = 1 };

struct ttl {
	struct world *w;
	struct peer p;
	struct queue q;
	bool got_ok, got_none;
	uint64_t expired_seen; /* messages_expired when GET went out */
};

static void ttl_resp(struct peer *p, const struct relay_resp *r)
{
	struct ttl *t = p->scenario;
	static const uint8_t body[] = "expires unread";

	if (r->code == RELAY_RESP_IDS && r->corr == CORR_NEW) {
		take_ids(p, &t->q, r);
		send_body(p, &t->q, CORR_SEND_FIRST, body, sizeof(body));
	} else if (r->code == RELAY_RESP_OK && r->corr == CORR_SEND_FIRST) {
		t->got_ok = true; /* durable: now wait for the sweep */
	} else if (r->code == RELAY_RESP_NONE && r->corr == CORR_GET) {
		/* NONE, not ERR AUTH: the queue is there, and empty. */
		t->got_none = true;
		peer_close(p);
		world_finish(t->w);
	} else {
		expect_failed(t->w, "unexpected answer (a MSG would mean it did not expire)",
		              __LINE__);
		peer_close(p);
		world_finish(t->w);
	}
}

static void ttl_open(struct peer *p)
{
	struct ttl *t = p->scenario;
	send_new(p, &t->q);
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
	send_recipient(&t->p, &t->q, RELAY_CMD_GET, CORR_GET, NULL);
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
	peer_dial(&w, &t.p, &t, ttl_open, ttl_resp);
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
	struct peer silent, pinger;
	unsigned n_pongs, pongs_at_close;
	bool silent_ponged, ping_out, silent_gone;
	uint64_t last_ping_ms;
};

static void idle_silent_resp(struct peer *p, const struct relay_resp *r)
{
	struct idle *id = p->scenario;

	EXPECT(id->w, is_pong(r));
	id->silent_ponged = true; /* handshaken and served; from now on it says nothing */
}

static void idle_pinger_resp(struct peer *p, const struct relay_resp *r)
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
	peer_close(&id->pinger);
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
	peer_dial(&w, &id.silent, &id, send_ping, idle_silent_resp);
	peer_dial(&w, &id.pinger, &id, NULL, idle_pinger_resp);
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
