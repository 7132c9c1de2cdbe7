/* SPDX-License-Identifier: MIT */
/*
 * relay.c - benchmark of the real sotto-relay daemon as a message queue,
 * beside Redis used as a queue, in one run on the same machine (loopback).
 *
 * For each queue count (64 and 1,000 unless --queues is given):
 *   relay   a fresh "sotto-relay init" + "run" in a temporary directory. A
 *           setup connection creates the queues (NEW) and secures them (KEY);
 *           S sender threads (one connection each) SEND to their queues with
 *           K_sauth MACs, a window of W SENDs in flight each, one SEND per
 *           16 KB block, and count a message only on its OK (durable); R
 *           receiver threads (one connection each) SUB to their queues, open
 *           and check every MSG (relay_msg_open, queue, length, filler), and
 *           ACK it (the ACKs of one loop turn go in one block).
 *   redis   a fresh redis-server (appendonly, appendfsync always, then
 *           everysec) on 127.0.0.1: senders LPUSH (counted on the reply),
 *           receivers BLMOVE each queue list to its processing list and LREM
 *           the message from it as the acknowledgement. Redis blocks one
 *           connection per BLMOVE, so a receiver holds one connection per
 *           queue it serves and polls them; BLMOVE waits without a timeout
 *           (a timeout's empty answers skewed the latency) and a receiver
 *           stops by closing its sockets. RESP is spoken directly here.
 * Each relay figure is followed by a second relay run with the senders
 * paced (a timer, not a window) at half the delivered rate just measured:
 * its p99 is the latency goal's figure.
 * Delivered messages/s are counted at the receivers over the measuring
 * window (after a warm-up); latency is send-to-delivery (the sender's
 * monotonic clock in the body). The relay's RSS comes from
 * /proc/PID/status.
 *
 * Idle connections: 10,000 handshaken idle connections to a fresh relay, and
 * 10,000 idle TCP connections (each answered one PING) to a fresh
 * redis-server; the RSS growth divided by 10,000 is the cost of one.
 *
 * Every child runs with PR_SET_PDEATHSIG and is killed at exit; every wait
 * is bounded, and an alarm ends a run that hangs anyway (common.c's process
 * plumbing, shared with bench/client and bench/abuse).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include <sotto/sotto.h>

#include "common.h"
#include "crypto/x25519.h"
#include "net/addr.h"
#include "net/conn.h"
#include "relay/cmd.h"

#ifndef SOTTO_RELAY_BIN
#define SOTTO_RELAY_BIN "sotto-relay"
#endif

enum {
	THREADS_MAX = 64,
	QUEUES_MAX = 4096,
	WINDOW_DEFAULT = 8,
	WINDOW_MAX = 64,
	BODY_MIN = 16, /* timestamp 8, queue 4, sequence 4 */
	BODY_DEFAULT = 15000,
	LAT_CAP = 1 << 20, /* latency samples kept per receiver */
	IDLE_CONNS = 10000,
	CONNS_MAX = 16384,    /* sotto-relay --max-connections */
	PACE_MS = 1,          /* a paced sender's timer */
	PACE_IN_FLIGHT = 256, /* a paced sender's cap on unanswered SENDs */
	GUARD_MS = 30000,
	RESP_BUF = 65536,
};

struct options {
	double seconds;
	int senders, receivers, window;
	int queues[2];
	int n_runs;
	size_t body;
	const char *redis_bin;
	struct bench_args args;
};

/* ---- clock, RSS, sockets ---- */

static double now_s(void)
{
	return (double)bench_now_ns() / 1e9;
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	return kb;
}

static int tcp_connect(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                        .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 10};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

/* ---- shared run state ---- */

enum phase { PH_SETUP, PH_WARM, PH_MEASURE, PH_STOP };

struct queue {
	uint8_t rid[RELAY_ID_LEN], sid[RELAY_ID_LEN];
	uint8_t k_rauth[RELAY_KEY_LEN], k_deliver[RELAY_KEY_LEN], k_sauth[RELAY_KEY_LEN];
	struct x25519_keypair rk;
	bool ready;
};

struct run {
	const struct options *o;
	int n_queues;
	struct queue *q;
	uint8_t *filler; /* o->body bytes; bodies carry it after the 16-byte header */
	_Atomic int phase;
	atomic_ulong delivered, sent_ok, errors;
	double rate; /* SENDs/s per sender, paced by a timer; 0: a window in flight */
};

struct lat {
	uint32_t *us;
	size_t n;
};

static void body_fill(const struct run *r, uint8_t *body, int q, uint32_t seq)
{
	uint64_t t = bench_now_ns();
	memcpy(body, r->filler, r->o->body);
	memcpy(body, &t, 8);
	memcpy(body + 8, &q, 4);
	memcpy(body + 12, &seq, 4);
}

/* Checks a delivered body for queue q and records its latency; false if corrupt. */
static bool body_check(struct run *r, struct lat *lat, const uint8_t *body, size_t len, int q)
{
	uint64_t t;
	int bq;
	if (len != r->o->body)
		return false;
	memcpy(&t, body, 8);
	memcpy(&bq, body + 8, 4);
	if (bq != q || memcmp(body + BODY_MIN, r->filler + BODY_MIN, len - BODY_MIN) != 0)
		return false;
	atomic_fetch_add(&r->delivered, 1);
	if (atomic_load(&r->phase) == PH_MEASURE && lat->n < LAT_CAP)
		lat->us[lat->n++] = (uint32_t)((bench_now_ns() - t) / 1000u);
	return true;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Merges the receivers' samples; p50 and p99 in ms. */
static void percentiles(struct lat *lats, int n, double *p50, double *p99)
{
	size_t total = 0, k = 0;
	for (int i = 0; i < n; i++)
		total += lats[i].n;
	*p50 = *p99 = 0;
	if (total == 0)
		return;
	uint32_t *all = malloc(total * sizeof(*all));
	if (all == NULL)
		bench_die("out of memory");
	for (int i = 0; i < n; i++) {
		memcpy(all + k, lats[i].us, lats[i].n * sizeof(*all));
		k += lats[i].n;
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	*p50 = all[total / 2] / 1000.0;
	*p99 = all[(size_t)((double)total * 0.99)] / 1000.0;
	free(all);
}

/* ---- relay clients: one thread, one loop, one connection each ---- */

enum role { ROLE_SETUP, ROLE_SENDER, ROLE_RECEIVER };

struct client {
	struct run *r;
	enum role role;
	int index; /* sender or receiver number */
	sotto_ctx *ctx;
	uv_loop_t loop;
	uv_timer_t tick;
	uv_timer_t pace;      /* paced sender: sends what is due every PACE_MS */
	uint64_t pace_t0_ns;  /* paced sender: when pacing began */
	uint64_t pace_sent;   /* paced sender: SENDs since pace_t0_ns */
	uv_check_t ack_check; /* receiver: sends the ACKs of one loop turn in one block */
	struct relay_batch_writer ack_bw;
	uint8_t ack_buf[RELAY_BLOCK_CONTENT_MAX];
	struct net_conn *conn;
	const struct net_addr *addr;
	uint8_t session_id[RELAY_SESSION_ID_LEN];
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];
	uint8_t *body;
	int next_q; /* sender: next queue, round robin over q % S == index */
	uint32_t seq;
	int in_flight, keyed;
	struct lat lat;
	bool failed, closing;
};

static bool add_cmd(struct relay_batch_writer *bw, const struct relay_cmd *cmd, const uint8_t *key,
                    const uint8_t *session_id)
{
	size_t cap = 0, len = 0;
	uint8_t *slot = relay_batch_writer_slot(bw, &cap);
	return slot != NULL &&
	       relay_cmd_encode(slot, cap, &len, cmd, key, session_id) == SOTTO_OK &&
	       relay_batch_writer_commit(bw, len) == SOTTO_OK;
}

static void client_fail(struct client *c, const char *what, sotto_err rc)
{
	if (!c->failed)
		fprintf(stderr, "relay bench: client %d/%d: %s: %s\n", (int)c->role, c->index, what,
		        sotto_strerror(rc));
	c->failed = true;
}

/* Sends the batch; once closing (the run is over) it is dropped. */
static void flush(struct client *c, struct relay_batch_writer *bw)
{
	size_t len = 0;
	sotto_err rc = SOTTO_OK;
	if (relay_batch_writer_is_empty(bw))
		return;
	if (c->conn != NULL && !c->closing &&
	    ((rc = relay_batch_writer_finish(bw, &len)) != SOTTO_OK ||
	     (rc = net_conn_send(c->conn, bw->buf, len)) != SOTTO_OK))
		client_fail(c, "send", rc);
	relay_batch_writer_init(bw, bw->buf);
}

/* Adds one command, flushing first when the block is full. */
static void push_cmd(struct client *c, struct relay_batch_writer *bw, const struct relay_cmd *cmd,
                     const uint8_t *key)
{
	if (add_cmd(bw, cmd, key, c->session_id))
		return;
	flush(c, bw);
	if (!add_cmd(bw, cmd, key, c->session_id))
		client_fail(c, "encode", SOTTO_ERR_INTERNAL);
}

static void sender_send_one(struct client *c)
{
	struct run *r = c->r;
	struct relay_batch_writer bw;
	struct relay_cmd cmd;
	int q = c->next_q;

	c->next_q += r->o->senders;
	if (c->next_q >= r->n_queues)
		c->next_q = c->index;
	body_fill(r, c->body, q, c->seq++);
	relay_cmd_init(&cmd, RELAY_CMD_SEND, (uint32_t)q + 1, r->q[q].sid);
	cmd.body = c->body;
	cmd.body_len = r->o->body;
	relay_batch_writer_init(&bw, c->buf);
	push_cmd(c, &bw, &cmd, r->q[q].k_sauth);
	flush(c, &bw);
	c->in_flight++;
}

/* A paced sender sends what its rate makes due (a late turn catches up). */
static void on_pace(uv_timer_t *t)
{
	struct client *c = t->data;
	struct run *r = c->r;
	uint64_t due = (uint64_t)((double)(bench_now_ns() - c->pace_t0_ns) * r->rate / 1e9);

	while (c->pace_sent < due && c->in_flight < PACE_IN_FLIGHT && !c->failed &&
	       atomic_load(&r->phase) != PH_STOP) {
		sender_send_one(c);
		c->pace_sent++;
	}
	if (c->pace_sent < due)
		c->pace_sent = due; /* the cap was hit: skip rather than burst later */
}

static void on_open(void *user, struct net_conn *conn, const uint8_t *session_id, uint16_t version)
{
	struct client *c = user;
	struct run *r = c->r;
	struct relay_batch_writer bw;
	struct relay_cmd cmd;
	(void)conn, (void)version;

	memcpy(c->session_id, session_id, RELAY_SESSION_ID_LEN);
	relay_batch_writer_init(&bw, c->buf);
	if (c->role == ROLE_SETUP) {
		for (int q = 0; q < r->n_queues; q++) {
			x25519_keypair_generate(c->ctx, &r->q[q].rk);
			relay_cmd_init(&cmd, RELAY_CMD_NEW, (uint32_t)q + 1, NULL);
			memcpy(cmd.key, r->q[q].rk.pub, RELAY_KEY_LEN);
			push_cmd(c, &bw, &cmd, NULL);
		}
	} else if (c->role == ROLE_RECEIVER) {
		for (int q = c->index; q < r->n_queues; q += r->o->receivers) {
			relay_cmd_init(&cmd, RELAY_CMD_SUB, (uint32_t)q + 1, r->q[q].rid);
			push_cmd(c, &bw, &cmd, r->q[q].k_rauth);
		}
	} else if (r->rate > 0) {
		c->pace_t0_ns = bench_now_ns();
		if (uv_timer_start(&c->pace, on_pace, PACE_MS, PACE_MS) != 0)
			client_fail(c, "pace timer", SOTTO_ERR_INTERNAL);
	} else {
		for (int i = 0; i < r->o->window; i++)
			sender_send_one(c);
	}
	flush(c, &bw);
}

/* Setup: IDS -> derive the keys, KEY with a fresh sender key; OK -> keyed. */
static void setup_resp(struct client *c, struct relay_batch_writer *bw,
                       const struct relay_resp *resp)
{
	struct run *r = c->r;
	struct relay_cmd cmd;
	struct x25519_keypair sk;
	uint32_t qi = resp->corr - 1;

	if (resp->corr == 0 || qi >= (uint32_t)r->n_queues) {
		client_fail(c, "setup answer", SOTTO_ERR_PROTOCOL);
		return;
	}
	struct queue *q = &r->q[qi];
	if (resp->code == RELAY_RESP_OK) {
		q->ready = true;
		if (++c->keyed == r->n_queues) {
			c->closing = true;
			net_conn_close(c->conn);
		}
		return;
	}
	if (resp->code != RELAY_RESP_IDS) {
		client_fail(c, "setup answer", SOTTO_ERR_PROTOCOL);
		return;
	}
	memcpy(q->rid, resp->rid, RELAY_ID_LEN);
	memcpy(q->sid, resp->sid, RELAY_ID_LEN);
	x25519_keypair_generate(c->ctx, &sk);
	if (relay_keys_recipient(q->k_rauth, q->k_deliver, q->rk.priv, resp->srk) != SOTTO_OK ||
	    relay_keys_sender(q->k_sauth, sk.priv, resp->ssk) != SOTTO_OK) {
		client_fail(c, "key derivation", SOTTO_ERR_INTERNAL);
		return;
	}
	x25519_keypair_clear(&q->rk);
	relay_cmd_init(&cmd, RELAY_CMD_KEY, resp->corr, q->rid);
	memcpy(cmd.key, sk.pub, RELAY_KEY_LEN);
	x25519_keypair_clear(&sk);
	push_cmd(c, bw, &cmd, q->k_rauth);
}

static int queue_of_rid(const struct client *c, const uint8_t *rid)
{
	const struct run *r = c->r;
	for (int q = c->index; q < r->n_queues; q += r->o->receivers) {
		if (memcmp(r->q[q].rid, rid, RELAY_ID_LEN) == 0)
			return q;
	}
	return -1;
}

static void receiver_resp(struct client *c, struct relay_batch_writer *bw,
                          const struct relay_resp *resp)
{
	struct run *r = c->r;
	struct relay_msg msg;
	struct relay_cmd cmd;

	if (resp->code == RELAY_RESP_OK)
		return; /* SUB or ACK */
	int q = queue_of_rid(c, resp->entity);
	if (resp->code != RELAY_RESP_MSG || q < 0 ||
	    relay_msg_open(&msg, c->plain, resp, r->q[q].k_deliver) != SOTTO_OK ||
	    !body_check(r, &c->lat, msg.body, msg.body_len, q)) {
		atomic_fetch_add(&r->errors, 1);
		return;
	}
	relay_cmd_init(&cmd, RELAY_CMD_ACK, (uint32_t)q + 1, r->q[q].rid);
	memcpy(cmd.msg_id, resp->msg_id, RELAY_MSG_ID_LEN);
	push_cmd(c, bw, &cmd, r->q[q].k_rauth);
}

static void sender_resp(struct client *c, const struct relay_resp *resp)
{
	struct run *r = c->r;
	c->in_flight--;
	if (resp->code != RELAY_RESP_OK) {
		atomic_fetch_add(&r->errors, 1);
	} else {
		atomic_fetch_add(&r->sent_ok, 1);
	}
	if (atomic_load(&r->phase) != PH_STOP && r->rate == 0)
		sender_send_one(c);
}

static void on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct client *c = user;
	struct relay_batch batch;
	struct relay_resp resp;
	struct relay_batch_writer bw;
	uint8_t out[RELAY_BLOCK_CONTENT_MAX];
	(void)conn;

	if (relay_batch_parse(&batch, content, len) != SOTTO_OK) {
		client_fail(c, "bad batch from the relay", SOTTO_ERR_PROTOCOL);
		return;
	}
	/*
	 * Answers (KEY) are built in out: a sender's c->buf is its SEND block.
	 * A receiver's ACKs collect in ack_bw over the loop turn, as a client
	 * would batch them, and go out from on_ack_check.
	 */
	relay_batch_writer_init(&bw, out);
	for (size_t i = 0; i < batch.n_tx && !c->failed; i++) {
		if (relay_resp_parse(&resp, batch.tx[i].buf, batch.tx[i].len) != SOTTO_OK) {
			client_fail(c, "bad response from the relay", SOTTO_ERR_PROTOCOL);
		} else if (c->role == ROLE_SETUP) {
			setup_resp(c, &bw, &resp);
		} else if (c->role == ROLE_RECEIVER) {
			receiver_resp(c, &c->ack_bw, &resp);
		} else {
			sender_resp(c, &resp);
		}
	}
	if (c->conn != NULL && !c->closing)
		flush(c, &bw);
}

static void on_ack_check(uv_check_t *h)
{
	struct client *c = h->data;
	if (c->conn != NULL && !c->closing)
		flush(c, &c->ack_bw);
}

static void on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct client *c = user;
	(void)conn;
	if (!c->closing && !(c->role == ROLE_SETUP && c->keyed == c->r->n_queues)) {
		client_fail(c, "connection ended", reason);
	}
	c->conn = NULL;
	uv_close((uv_handle_t *)&c->tick, NULL);
	uv_close((uv_handle_t *)&c->pace, NULL);
	uv_close((uv_handle_t *)&c->ack_check, NULL);
}

static void on_tick(uv_timer_t *t)
{
	struct client *c = t->data;
	if (c->conn == NULL || c->closing)
		return;
	if (c->failed || atomic_load(&c->r->phase) == PH_STOP) {
		c->closing = true;
		net_conn_close(c->conn);
	}
}

static void *client_thread(void *arg)
{
	struct client *c = arg;
	struct net_conn_callbacks cb = {
	        .on_open = on_open, .on_block = on_block, .on_close = on_close, .user = c};
	if (sotto_ctx_new(&c->ctx, NULL) != SOTTO_OK || uv_loop_init(&c->loop) != 0 ||
	    uv_timer_init(&c->loop, &c->tick) != 0 || uv_timer_init(&c->loop, &c->pace) != 0 ||
	    uv_check_init(&c->loop, &c->ack_check) != 0 ||
	    uv_check_start(&c->ack_check, on_ack_check) != 0)
		bench_die("client setup");
	c->tick.data = c;
	c->pace.data = c;
	c->ack_check.data = c;
	relay_batch_writer_init(&c->ack_bw, c->ack_buf);
	if (net_conn_dial(c->ctx, &c->loop, c->addr, NULL, &cb, &c->conn) != SOTTO_OK ||
	    uv_timer_start(&c->tick, on_tick, 5, 5) != 0)
		bench_die("dial");
	(void)uv_run(&c->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&c->loop);
	sotto_ctx_free(c->ctx);
	return NULL;
}

/* ---- the relay daemon ---- */

struct relay_proc {
	pid_t pid;
	struct net_addr addr;
};

static void relay_start(const struct options *o, struct relay_proc *rp, const char *name)
{
	char text[256];

	rp->pid = bench_relay_start(o->args.relay_bin, name, CONNS_MAX, text, sizeof(text));
	if (net_addr_parse(text, strlen(text), &rp->addr) != SOTTO_OK)
		bench_die("sotto-relay init failed (see its log)");
}

static void relay_stop(struct relay_proc *rp)
{
	int status = bench_stop_child(rp->pid, SIGTERM);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fprintf(stderr, "relay bench: sotto-relay did not exit cleanly (status %d)\n",
		        status);
}

struct result {
	double msgs_per_s, p50_ms, p99_ms;
	unsigned long sent_ok, delivered, errors;
	long rss_kb;
};

/* Runs the client threads until PH_STOP; they are joined here. */
static void run_phases(struct run *r, unsigned long (*delivered)(struct run *), struct result *res,
                       pid_t server)
{
	atomic_store(&r->phase, PH_WARM);
	bench_sleep_ms(500);
	unsigned long d0 = delivered(r);
	double t0 = now_s();
	atomic_store(&r->phase, PH_MEASURE);
	bench_sleep_ms((long)(r->o->seconds * 1000));
	unsigned long d1 = delivered(r);
	double t1 = now_s();
	res->rss_kb = rss_kb(server);
	atomic_store(&r->phase, PH_STOP);
	res->msgs_per_s = (double)(d1 - d0) / (t1 - t0);
}

static unsigned long delivered_count(struct run *r)
{
	return atomic_load(&r->delivered);
}

static void bench_relay(struct run *r, struct result *res)
{
	const struct options *o = r->o;
	struct relay_proc rp;
	static struct client clients[2 * THREADS_MAX + 1];
	pthread_t th[2 * THREADS_MAX];
	char name[32];

	snprintf(name, sizeof(name), "relay-%s%d", r->rate > 0 ? "half-" : "", r->n_queues);
	relay_start(o, &rp, name);
	memset(clients, 0, sizeof(clients));
	struct client *setup = &clients[2 * THREADS_MAX];
	*setup = (struct client){.r = r, .role = ROLE_SETUP, .addr = &rp.addr};
	client_thread(setup);
	if (setup->failed || setup->keyed != r->n_queues)
		bench_die("relay setup (NEW, KEY) failed");
	int n = o->senders + o->receivers;
	for (int i = 0; i < n; i++) {
		struct client *c = &clients[i];
		bool snd = i < o->senders;
		*c = (struct client){.r = r,
		                     .role = snd ? ROLE_SENDER : ROLE_RECEIVER,
		                     .index = snd ? i : i - o->senders,
		                     .addr = &rp.addr};
		c->next_q = c->index;
		c->body = malloc(o->body);
		c->lat.us = snd ? NULL : malloc(LAT_CAP * sizeof(uint32_t));
		if (c->body == NULL || (!snd && c->lat.us == NULL))
			bench_die("out of memory");
	}
	/* receivers first, so their SUBs precede the first SENDs */
	for (int i = n - 1; i >= 0; i--) {
		if (pthread_create(&th[i], NULL, client_thread, &clients[i]) != 0)
			bench_die("thread");
	}
	run_phases(r, delivered_count, res, rp.pid);
	struct lat lats[THREADS_MAX];
	for (int i = 0; i < n; i++) {
		(void)pthread_join(th[i], NULL);
		if (clients[i].failed)
			bench_die("a relay client failed");
		if (i >= o->senders)
			lats[i - o->senders] = clients[i].lat;
	}
	percentiles(lats, o->receivers, &res->p50_ms, &res->p99_ms);
	for (int i = 0; i < n; i++) {
		free(clients[i].body);
		free(clients[i].lat.us);
	}
	res->sent_ok = atomic_load(&r->sent_ok);
	res->delivered = atomic_load(&r->delivered);
	res->errors = atomic_load(&r->errors);
	relay_stop(&rp);
}

/* ---- idle connections to the relay ---- */

struct idle {
	int n_open, n_closed;
	bool failed;
};

static void idle_open(void *user, struct net_conn *conn, const uint8_t *sid, uint16_t version)
{
	struct idle *s = user;
	(void)conn, (void)sid, (void)version;
	s->n_open++;
}

static void idle_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct idle *s = user;
	(void)conn, (void)reason;
	s->n_closed++;
}

static void idle_guard(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop until cond holds or GUARD_MS pass. */
static bool run_until(uv_loop_t *loop, const int *counter, int want)
{
	uv_timer_t guard;
	double end = now_s() + GUARD_MS / 1000.0;
	if (uv_timer_init(loop, &guard) != 0 || uv_timer_start(&guard, idle_guard, 10, 10) != 0)
		bench_die("timer");
	while (*counter < want && now_s() < end)
		(void)uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&guard, NULL);
	(void)uv_run(loop, UV_RUN_NOWAIT);
	return *counter >= want;
}

static double idle_relay(const struct options *o)
{
	struct relay_proc rp;
	struct idle s = {0};
	uv_loop_t loop;
	sotto_ctx *ctx = NULL;
	static struct net_conn *conns[IDLE_CONNS];
	struct net_conn_callbacks cb = {.on_open = idle_open, .on_close = idle_close, .user = &s};

	relay_start(o, &rp, "relay-idle");
	if (sotto_ctx_new(&ctx, NULL) != SOTTO_OK || uv_loop_init(&loop) != 0)
		bench_die("idle setup");
	bench_sleep_ms(300);
	long before = rss_kb(rp.pid);
	for (int i = 0; i < IDLE_CONNS; i++) {
		if (net_conn_dial(ctx, &loop, &rp.addr, NULL, &cb, &conns[i]) != SOTTO_OK)
			bench_die("idle dial");
	}
	if (!run_until(&loop, &s.n_open, IDLE_CONNS))
		bench_die("idle connections did not all open");
	bench_sleep_ms(300);
	long after = rss_kb(rp.pid);
	for (int i = 0; i < IDLE_CONNS; i++)
		net_conn_close(conns[i]);
	if (!run_until(&loop, &s.n_closed, IDLE_CONNS))
		bench_die("idle connections did not all close");
	(void)uv_loop_close(&loop);
	sotto_ctx_free(ctx);
	relay_stop(&rp);
	return (double)(after - before) * 1024.0 / IDLE_CONNS;
}

/* ---- RESP over a blocking socket ---- */

struct resp_conn {
	int fd;
	size_t off, len;
	uint8_t in[RESP_BUF];
};

enum resp_kind { RK_ERR, RK_STATUS, RK_INT, RK_BULK, RK_NIL };

static bool write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/* Encodes a command of n arguments into out (cap bytes); returns its length, 0 if too long. */
static size_t resp_encode(uint8_t *out, size_t cap, int n, const uint8_t *const *arg,
                          const size_t *arg_len)
{
	size_t len = 0;
	int k = snprintf((char *)out, cap, "*%d\r\n", n);
	if (k < 0 || (size_t)k >= cap)
		return 0;
	len = (size_t)k;
	for (int i = 0; i < n; i++) {
		k = snprintf((char *)out + len, cap - len, "$%zu\r\n", arg_len[i]);
		if (k < 0 || (size_t)k >= cap - len || cap - len - (size_t)k < arg_len[i] + 2)
			return 0;
		len += (size_t)k;
		memcpy(out + len, arg[i], arg_len[i]);
		len += arg_len[i];
		out[len++] = '\r';
		out[len++] = '\n';
	}
	return len;
}

static bool resp_fill(struct resp_conn *c)
{
	if (c->off > 0) {
		memmove(c->in, c->in + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof(c->in))
		return false;
	ssize_t k;
	do {
		k = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
	} while (k < 0 && errno == EINTR);
	if (k <= 0)
		return false;
	c->len += (size_t)k;
	return true;
}

/* Reads one line (without CRLF) into the buffer; *line points at it. */
static bool resp_line(struct resp_conn *c, const uint8_t **line, size_t *n)
{
	for (;;) {
		uint8_t *p = memchr(c->in + c->off, '\n', c->len - c->off);
		if (p != NULL && p > c->in + c->off && p[-1] == '\r') {
			*line = c->in + c->off;
			*n = (size_t)(p - 1 - (c->in + c->off));
			c->off = (size_t)(p + 1 - c->in);
			return true;
		}
		if (!resp_fill(c))
			return false;
	}
}

/* Reads one reply (no arrays); a bulk string is copied to bulk (cap bytes, non-NULL). */
static bool resp_read(struct resp_conn *c, enum resp_kind *kind, long long *ival, uint8_t *bulk,
                      size_t cap, size_t *bulk_len)
{
	const uint8_t *line;
	size_t n;
	char num[32];
	if (!resp_line(c, &line, &n) || n < 1 || n >= sizeof(num))
		return false;
	memcpy(num, line + 1, n - 1);
	num[n - 1] = '\0';
	*ival = strtoll(num, NULL, 10);
	switch (line[0]) {
	case '-': *kind = RK_ERR; return true;
	case '+': *kind = RK_STATUS; return true;
	case ':': *kind = RK_INT; return true;
	case '*':
		if (*ival != -1)
			return false;
		*kind = RK_NIL;
		return true;
	case '$': break;
	default: return false;
	}
	if (*ival < 0) {
		*kind = RK_NIL;
		return true;
	}
	size_t want = (size_t)*ival;
	if (want > cap)
		return false;
	while (c->len - c->off < want + 2) {
		if (!resp_fill(c))
			return false;
	}
	memcpy(bulk, c->in + c->off, want);
	c->off += want + 2;
	*bulk_len = want;
	*kind = RK_BULK;
	return true;
}

static bool resp_connect(struct resp_conn *c, uint16_t port)
{
	c->off = c->len = 0;
	c->fd = tcp_connect(port);
	return c->fd >= 0;
}

/* ---- redis clients ---- */

struct rclient {
	struct run *r;
	int index;
	uint16_t port;
	uint8_t *body, *out;
	struct lat lat;
	bool failed;
};

static size_t cmd_lpush(struct rclient *c, int q, uint32_t seq)
{
	char key[16];
	snprintf(key, sizeof(key), "q:%d", q);
	body_fill(c->r, c->body, q, seq);
	const uint8_t *a[] = {(const uint8_t *)"LPUSH", (const uint8_t *)key, c->body};
	size_t l[] = {5, strlen(key), c->r->o->body};
	return resp_encode(c->out, 2 * RESP_BUF, 3, a, l);
}

static void *redis_sender(void *arg)
{
	struct rclient *c = arg;
	struct run *r = c->r;
	struct resp_conn *rc = malloc(sizeof(*rc));
	int q = c->index, pending = 0;
	uint32_t seq = 0;
	enum resp_kind kind;
	long long iv;
	size_t bl;

	if (rc == NULL || !resp_connect(rc, c->port))
		bench_die("redis sender connect");
	while (atomic_load(&r->phase) != PH_STOP || pending > 0) {
		if (atomic_load(&r->phase) != PH_STOP && pending < r->o->window) {
			size_t n = cmd_lpush(c, q, seq++);
			if (n == 0 || !write_all(rc->fd, c->out, n))
				bench_die("redis LPUSH write");
			pending++;
			q += r->o->senders;
			if (q >= r->n_queues)
				q = c->index;
			continue;
		}
		if (!resp_read(rc, &kind, &iv, c->body, RELAY_MSG_BODY_MAX, &bl))
			bench_die("redis LPUSH reply");
		pending--;
		if (kind == RK_INT)
			atomic_fetch_add(&r->sent_ok, 1);
		else
			atomic_fetch_add(&r->errors, 1);
	}
	close(rc->fd);
	free(rc);
	return NULL;
}

static size_t cmd_receive(struct rclient *c, int q, const uint8_t *ack, size_t ack_len)
{
	char key[16], proc[16];
	size_t n = 0;
	snprintf(key, sizeof(key), "q:%d", q);
	snprintf(proc, sizeof(proc), "p:%d", q);
	if (ack != NULL) {
		const uint8_t *a[] = {(const uint8_t *)"LREM", (const uint8_t *)proc,
		                      (const uint8_t *)"1", ack};
		size_t l[] = {4, strlen(proc), 1, ack_len};
		n = resp_encode(c->out, 2 * RESP_BUF, 4, a, l);
		if (n == 0)
			return 0;
	}
	const uint8_t *b[] = {(const uint8_t *)"BLMOVE", (const uint8_t *)key,
	                      (const uint8_t *)proc,     (const uint8_t *)"RIGHT",
	                      (const uint8_t *)"LEFT",   (const uint8_t *)"0"};
	size_t l2[] = {6, strlen(key), strlen(proc), 5, 4, 1};
	size_t m = resp_encode(c->out + n, 2 * RESP_BUF - n, 6, b, l2);
	return m == 0 ? 0 : n + m;
}

/* One reply on queue connection rc (queue q); lrem: LREM replies still due on it. */
static void redis_receive_one(struct rclient *c, struct resp_conn *rc, int q, int *lrem)
{
	struct run *r = c->r;
	enum resp_kind kind;
	long long iv;
	size_t bl = 0, n;

	if (!resp_read(rc, &kind, &iv, c->body, r->o->body, &bl))
		bench_die("redis receive reply");
	if (*lrem > 0) {
		(*lrem)--;
		if (kind != RK_INT || iv != 1)
			atomic_fetch_add(&r->errors, 1);
		return;
	}
	if (kind == RK_NIL) { /* cannot happen with timeout 0; block again anyway */
		n = cmd_receive(c, q, NULL, 0);
	} else if (kind == RK_BULK) {
		if (!body_check(r, &c->lat, c->body, bl, q))
			atomic_fetch_add(&r->errors, 1);
		n = cmd_receive(c, q, c->body, bl);
		(*lrem)++;
	} else {
		bench_die("redis BLMOVE answered an error");
	}
	if (atomic_load(&r->phase) != PH_STOP && (n == 0 || !write_all(rc->fd, c->out, n)))
		bench_die("redis receive write");
}

static void *redis_receiver(void *arg)
{
	struct rclient *c = arg;
	struct run *r = c->r;
	int nq = 0;
	for (int q = c->index; q < r->n_queues; q += r->o->receivers)
		nq++;
	struct resp_conn *rc = malloc((size_t)nq * sizeof(*rc));
	struct pollfd *pf = malloc((size_t)nq * sizeof(*pf));
	int *lrem = calloc((size_t)nq, sizeof(int));
	if (rc == NULL || pf == NULL || lrem == NULL)
		bench_die("out of memory");
	for (int i = 0; i < nq; i++) {
		int q = c->index + i * r->o->receivers;
		size_t n = cmd_receive(c, q, NULL, 0);
		if (!resp_connect(&rc[i], c->port) || !write_all(rc[i].fd, c->out, n))
			bench_die("redis receiver connect");
		pf[i] = (struct pollfd){.fd = rc[i].fd, .events = POLLIN};
	}
	while (atomic_load(&r->phase) != PH_STOP) {
		int k = poll(pf, (nfds_t)nq, 20);
		if (k < 0 && errno != EINTR)
			bench_die("poll");
		for (int i = 0; k > 0 && i < nq; i++) {
			if (pf[i].revents == 0)
				continue;
			int q = c->index + i * r->o->receivers;
			do {
				redis_receive_one(c, &rc[i], q, &lrem[i]);
			} while (rc[i].off < rc[i].len);
		}
	}
	for (int i = 0; i < nq; i++)
		close(rc[i].fd);
	free(rc);
	free(pf);
	free(lrem);
	return NULL;
}

/* ---- redis-server ---- */

static pid_t redis_start(const struct options *o, const char *fsync, uint16_t *port,
                         const char *name)
{
	char dir[300], log[400], ports[16];
	snprintf(dir, sizeof(dir), "%s/%s", bench_tmpdir, name);
	snprintf(log, sizeof(log), "%s/%s.log", bench_tmpdir, name);
	if (mkdir(dir, 0700) != 0)
		bench_die("mkdir");
	*port = bench_free_port();
	snprintf(ports, sizeof(ports), "%u", (unsigned)*port);
	char *argv[] = {(char *)o->redis_bin,
	                "--port",
	                ports,
	                "--bind",
	                "127.0.0.1",
	                "--dir",
	                dir,
	                "--appendonly",
	                "yes",
	                "--appendfsync",
	                (char *)fsync,
	                "--save",
	                "",
	                "--daemonize",
	                "no",
	                "--maxclients",
	                "16384",
	                "--protected-mode",
	                "yes",
	                NULL};
	pid_t pid = bench_spawn(argv, log, NULL);
	bench_wait_listening(*port, pid, "redis-server");
	return pid;
}

static void bench_redis(struct run *r, const char *fsync, struct result *res)
{
	const struct options *o = r->o;
	static struct rclient cl[2 * THREADS_MAX];
	pthread_t th[2 * THREADS_MAX];
	uint16_t port;
	char name[48];

	snprintf(name, sizeof(name), "redis-%s-%d", fsync, r->n_queues);
	pid_t pid = redis_start(o, fsync, &port, name);
	int n = o->senders + o->receivers;
	for (int i = 0; i < n; i++) {
		bool snd = i < o->senders;
		cl[i] = (struct rclient){.r = r, .index = snd ? i : i - o->senders, .port = port};
		cl[i].body = malloc(RELAY_MSG_BODY_MAX);
		cl[i].out = malloc(2 * RESP_BUF);
		cl[i].lat.us = snd ? NULL : malloc(LAT_CAP * sizeof(uint32_t));
		if (cl[i].body == NULL || cl[i].out == NULL || (!snd && cl[i].lat.us == NULL))
			bench_die("out of memory");
	}
	for (int i = n - 1; i >= 0; i--) {
		if (pthread_create(&th[i], NULL, i < o->senders ? redis_sender : redis_receiver,
		                   &cl[i]) != 0)
			bench_die("thread");
	}
	bench_sleep_ms(100); /* the receivers' first BLMOVEs */
	run_phases(r, delivered_count, res, pid);
	struct lat lats[THREADS_MAX];
	for (int i = 0; i < n; i++) {
		(void)pthread_join(th[i], NULL);
		if (i >= o->senders)
			lats[i - o->senders] = cl[i].lat;
	}
	percentiles(lats, o->receivers, &res->p50_ms, &res->p99_ms);
	for (int i = 0; i < n; i++) {
		free(cl[i].body);
		free(cl[i].out);
		free(cl[i].lat.us);
	}
	res->sent_ok = atomic_load(&r->sent_ok);
	res->delivered = atomic_load(&r->delivered);
	res->errors = atomic_load(&r->errors);
	(void)bench_stop_child(pid, SIGTERM);
}

static double idle_redis(const struct options *o)
{
	static struct resp_conn rc[IDLE_CONNS];
	static const uint8_t *ping[] = {(const uint8_t *)"PING"};
	static const size_t ping_len[] = {4};
	uint8_t cmd[32], scratch[64];
	enum resp_kind kind;
	long long iv;
	size_t bl;
	uint16_t port;

	pid_t pid = redis_start(o, "everysec", &port, "redis-idle");
	size_t n = resp_encode(cmd, sizeof(cmd), 1, ping, ping_len);
	bench_sleep_ms(300);
	long before = rss_kb(pid);
	for (int i = 0; i < IDLE_CONNS; i++) {
		if (!resp_connect(&rc[i], port) || !write_all(rc[i].fd, cmd, n) ||
		    !resp_read(&rc[i], &kind, &iv, scratch, sizeof(scratch), &bl) ||
		    kind != RK_STATUS)
			bench_die("redis idle connection");
	}
	bench_sleep_ms(300);
	long after = rss_kb(pid);
	for (int i = 0; i < IDLE_CONNS; i++)
		close(rc[i].fd);
	(void)bench_stop_child(pid, SIGTERM);
	return (double)(after - before) * 1024.0 / IDLE_CONNS;
}

/* ---- main ---- */

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: relay [--json] [--seconds S] [--senders N] [--receivers N] [--queues Q]\n"
	        "             [--window W] [--body BYTES] [--relay PATH] [--redis PATH]\n"
	        "             [--tmp DIR]\n"
	        "\n"
	        "Benchmarks the sotto-relay daemon as a message queue on 127.0.0.1 beside\n"
	        "redis-server (appendfsync always, then everysec) used as a queue, in one run.\n"
	        "\n"
	        "  --json          print one JSON object instead of the table\n"
	        "  --seconds S     measuring time per figure, after 0.5 s of warm-up (default 5)\n"
	        "  --senders N     sender threads, one connection each (default 4, max %d)\n"
	        "  --receivers N   receiver threads (default 4, max %d)\n"
	        "  --queues Q      queues (default: two runs, 64 and 1000; max %d)\n"
	        "  --window W      SENDs / LPUSHes in flight per sender (default %d, max %d)\n"
	        "  --body BYTES    message body (default %d: one message fills a 16 KB block;\n"
	        "                  %d..%d)\n"
	        "  --relay PATH    the sotto-relay binary (default %s)\n"
	        "  --redis PATH    the redis-server binary (default /usr/bin/redis-server)\n"
	        "  --tmp DIR       where the relays and redis-servers live (default /tmp)\n"
	        "  --help          this text\n",
	        THREADS_MAX, THREADS_MAX, QUEUES_MAX, WINDOW_DEFAULT, WINDOW_MAX, BODY_DEFAULT,
	        BODY_MIN, RELAY_MSG_BODY_MAX, SOTTO_RELAY_BIN);
}

static bool int_arg(const char *s, long lo, long hi, int *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);
	if (*end != '\0' || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

static bool parse_opt(void *user, const char *a, const char *v)
{
	struct options *o = user;
	int body = 0;
	bool ok = false;

	if (strcmp(a, "--seconds") == 0) {
		ok = bench_arg_double(v, 0.1, 600, &o->seconds);
	} else if (strcmp(a, "--senders") == 0) {
		ok = int_arg(v, 1, THREADS_MAX, &o->senders);
	} else if (strcmp(a, "--receivers") == 0) {
		ok = int_arg(v, 1, THREADS_MAX, &o->receivers);
	} else if (strcmp(a, "--queues") == 0) {
		ok = int_arg(v, 1, QUEUES_MAX, &o->queues[0]);
		o->n_runs = 1;
	} else if (strcmp(a, "--window") == 0) {
		ok = int_arg(v, 1, WINDOW_MAX, &o->window);
	} else if (strcmp(a, "--body") == 0) {
		ok = int_arg(v, BODY_MIN, RELAY_MSG_BODY_MAX, &body);
		o->body = (size_t)body;
	} else if (strcmp(a, "--redis") == 0) {
		o->redis_bin = v;
		ok = true;
	}
	return ok;
}

/* Exits 2 on bad usage; -1 when every queue count cannot serve S senders and R receivers. */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.seconds = 5.0,
	                      .senders = 4,
	                      .receivers = 4,
	                      .window = WINDOW_DEFAULT,
	                      .queues = {64, 1000},
	                      .n_runs = 2,
	                      .body = BODY_DEFAULT,
	                      .redis_bin = "/usr/bin/redis-server",
	                      .args = {.relay_bin = SOTTO_RELAY_BIN, .tmp = "/tmp"}};
	bench_parse_args(argc, argv, &o->args, usage, parse_opt, o);
	for (int k = 0; k < o->n_runs; k++) {
		if (o->queues[k] < o->senders || o->queues[k] < o->receivers)
			return -1;
	}
	return 0;
}

static void run_init(struct run *r, const struct options *o, int n_queues, uint8_t *filler)
{
	r->o = o;
	r->n_queues = n_queues;
	r->filler = filler;
	atomic_store(&r->phase, PH_SETUP);
	atomic_store(&r->delivered, 0);
	atomic_store(&r->sent_ok, 0);
	atomic_store(&r->errors, 0);
	r->rate = 0;
}

static void check_result(const struct options *o, const char *what, const struct result *res)
{
	if (res->errors != 0)
		fprintf(stderr, "relay bench: %s: %lu errors (refused sends or bad deliveries)\n",
		        what, res->errors);
	if (res->delivered > res->sent_ok + (unsigned long)(o->senders * o->window))
		bench_die("more deliveries than acknowledged sends: the counting is wrong");
}

struct figures {
	int queues;
	struct result relay, always, everysec;
	struct result half; /* the relay again, paced at half of relay.msgs_per_s */
};

static void measure(const struct options *o, int n_queues, uint8_t *filler, struct figures *f)
{
	struct run r;
	f->queues = n_queues;
	r.q = calloc((size_t)n_queues, sizeof(*r.q));
	if (r.q == NULL)
		bench_die("out of memory");
	run_init(&r, o, n_queues, filler);
	bench_relay(&r, &f->relay);
	check_result(o, "relay", &f->relay);
	/* Latency at half of the peak just measured: the senders are paced. */
	run_init(&r, o, n_queues, filler);
	r.rate = f->relay.msgs_per_s / 2 / o->senders;
	bench_relay(&r, &f->half);
	check_result(o, "relay at half load", &f->half);
	run_init(&r, o, n_queues, filler);
	bench_redis(&r, "always", &f->always);
	check_result(o, "redis always", &f->always);
	run_init(&r, o, n_queues, filler);
	bench_redis(&r, "everysec", &f->everysec);
	check_result(o, "redis everysec", &f->everysec);
	sodium_memzero(r.q, (size_t)n_queues * sizeof(*r.q));
	free(r.q);
}

static void print_json_run(const struct figures *f)
{
	printf("{\"queues\": %d, \"relay_msgs_per_s\": %.0f, \"relay_p50_ms\": %.2f, "
	       "\"relay_p99_ms\": %.2f, \"relay_rss_kb\": %ld, \"relay_errors\": %lu, "
	       "\"redis_always_msgs_per_s\": %.0f, \"redis_always_p50_ms\": %.2f, "
	       "\"redis_always_p99_ms\": %.2f, \"redis_always_rss_kb\": %ld, "
	       "\"redis_everysec_msgs_per_s\": %.0f, \"redis_everysec_p50_ms\": %.2f, "
	       "\"redis_everysec_p99_ms\": %.2f, \"redis_everysec_rss_kb\": %ld, "
	       "\"relay_sent_ok\": %lu, \"relay_delivered\": %lu, \"redis_always_sent_ok\": %lu, "
	       "\"redis_always_delivered\": %lu, \"redis_everysec_sent_ok\": %lu, "
	       "\"redis_everysec_delivered\": %lu, \"relay_half_msgs_per_s\": %.0f, "
	       "\"relay_half_p50_ms\": %.2f, \"relay_half_p99_ms\": %.2f}",
	       f->queues, f->relay.msgs_per_s, f->relay.p50_ms, f->relay.p99_ms, f->relay.rss_kb,
	       f->relay.errors, f->always.msgs_per_s, f->always.p50_ms, f->always.p99_ms,
	       f->always.rss_kb, f->everysec.msgs_per_s, f->everysec.p50_ms, f->everysec.p99_ms,
	       f->everysec.rss_kb, f->relay.sent_ok, f->relay.delivered, f->always.sent_ok,
	       f->always.delivered, f->everysec.sent_ok, f->everysec.delivered, f->half.msgs_per_s,
	       f->half.p50_ms, f->half.p99_ms);
}

static void print_json(const struct options *o, const struct figures *f, double idle,
                       double idle_redis_b)
{
	const struct figures *a = &f[0];
	/* relay_p99_ms is the goal's figure: at half of the peak load. */
	printf("{\"relay_msgs_per_s\": %.0f, \"redis_always_msgs_per_s\": %.0f, "
	       "\"redis_everysec_msgs_per_s\": %.0f, \"relay_p99_ms\": %.2f, "
	       "\"relay_half_load_msgs_per_s\": %.0f, \"relay_peak_p50_ms\": %.2f, "
	       "\"relay_peak_p99_ms\": %.2f, \"relay_rss_kb\": %ld, \"idle_conn_bytes\": %.0f, "
	       "\"redis_idle_conn_bytes\": %.0f, \"queues\": %d, \"senders\": %d, "
	       "\"receivers\": %d, \"window\": %d, \"body\": %zu, \"seconds\": %.2f, \"runs\": [",
	       a->relay.msgs_per_s, a->always.msgs_per_s, a->everysec.msgs_per_s, a->half.p99_ms,
	       a->half.msgs_per_s, a->relay.p50_ms, a->relay.p99_ms, a->relay.rss_kb, idle,
	       idle_redis_b, a->queues, o->senders, o->receivers, o->window, o->body, o->seconds);
	for (int k = 0; k < o->n_runs; k++) {
		if (k > 0)
			printf(", ");
		print_json_run(&f[k]);
	}
	printf("]}\n");
}

static void print_row(const char *name, const struct result *r)
{
	printf("  %-30s %12.0f %9.2f %9.2f %10.1f %10lu %10lu\n", name, r->msgs_per_s, r->p50_ms,
	       r->p99_ms, (double)r->rss_kb / 1024.0, r->sent_ok, r->delivered);
}

static void print_table(const struct options *o, const struct figures *f, double idle,
                        double idle_redis_b)
{
	printf("sotto-relay vs redis-server as a queue (loopback, %d senders x %d in flight, %d "
	       "receivers, %zu-byte bodies, %.1f s per figure)\n",
	       o->senders, o->window, o->receivers, o->body, o->seconds);
	for (int k = 0; k < o->n_runs; k++) {
		printf("\n%-4d queues %19s %12s %9s %9s %10s %10s %10s\n", f[k].queues, "",
		       "delivered/s", "p50 ms", "p99 ms", "RSS MiB", "sent OK", "delivered");
		print_row("sotto-relay (fsync per commit)", &f[k].relay);
		print_row("sotto-relay at half that load", &f[k].half);
		print_row("redis appendfsync always", &f[k].always);
		print_row("redis appendfsync everysec", &f[k].everysec);
	}
	printf("\nidle connection cost (RSS growth / %d connections)\n", IDLE_CONNS);
	printf("  %-30s %12.0f bytes\n", "sotto-relay (handshaken)", idle);
	printf("  %-30s %12.0f bytes\n", "redis-server (TCP + PING)", idle_redis_b);
}

int main(int argc, char **argv)
{
	struct options o;
	struct figures f[2];
	static uint8_t filler[RELAY_MSG_BODY_MAX];

	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return 2;
	}
	if (sodium_init() < 0)
		bench_die("libsodium");
	if (access(o.args.relay_bin, X_OK) != 0 || access(o.redis_bin, X_OK) != 0)
		bench_die("sotto-relay or redis-server not found (see --relay, --redis)");
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* the whole run is bounded: three runs per queue count plus setup and idle */
	bench_init("relay", o.args.tmp, (unsigned)(o.n_runs * 3 * (o.seconds + 60) + 180));
	randombytes_buf(filler, sizeof(filler));
	if (!o.args.json)
		fprintf(stderr, "measuring, %.1f s per figure...\n", o.seconds);
	for (int k = 0; k < o.n_runs; k++)
		measure(&o, o.queues[k], filler, &f[k]);
	double idle = idle_relay(&o);
	double idle_r = idle_redis(&o);
	if (o.args.json)
		print_json(&o, f, idle, idle_r);
	else
		print_table(&o, f, idle, idle_r);
	return 0;
}
