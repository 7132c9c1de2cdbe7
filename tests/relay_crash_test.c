/* SPDX-License-Identifier: MIT */
/*
 * relay_crash_test.c - the real sotto-relay binary killed with SIGKILL again
 * and again under load, checking its two promises (docs/protocol.md §4.4):
 * an OK to SEND means the message is durable, and a message whose ACK was
 * answered OK is never delivered again.
 *
 * One uv loop drives a receiver connection (creates the queues once, then
 * SUB, MSG, ACK) and one sender connection per queue (SEND numbered messages,
 * a window at a time, as fast as OKs come back). At a seeded random moment
 * the relay is killed; every connection then ends, the relay is restarted on
 * the same data directory (same key, same queues) and everything reconnects.
 * After the last kill the receiver drains the queues with GET and ACK.
 *
 * Checked on every delivery: the content is intact, no ACK-confirmed message
 * comes again, and no confirmed message was skipped (queues are FIFO). At the
 * end: every confirmed message was delivered. Duplicates of messages whose
 * ACK was not confirmed before a kill are allowed and counted. The seed only
 * fixes the kill delays; the kernel's scheduling still varies between runs.
 *
 * usage: relay_crash_test SOTTO_RELAY [SEED [KILLS]]
 *        (or SOTTO_CRASH_SEED, SOTTO_CRASH_KILLS in the environment)
 * Exit 0 when every check passed, 1 otherwise; the relay child is killed on
 * every path, and a guard timer bounds every cycle.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
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

#include <sotto/sotto.h>
#include <uv.h>

#include "core/bytes.h"
#include "core/compat.h"
#include "crypto/x25519.h"
#include "net/conn.h"
#include "relay/cmd.h"

enum {
	N_QUEUES = 2,
	SEQ_MAX = 1 << 17, /* messages per queue the test can track */
	WINDOW = 16,       /* SENDs in flight per sender connection */
	ACKS_MAX = 4096,   /* unanswered ACKs per queue (the next MSG may precede an ACK's OK) */
	BACKLOG_MAX = 400, /* confirmed but not yet delivered, per queue */
	BODY_HEAD_LEN = 5, /* queue index, sequence number */
	BODY_SPAN = 1500,  /* bodies are BODY_HEAD_LEN .. + BODY_SPAN bytes */
	CYCLE_GUARD_MS = 60000,
	KILL_MIN_MS = 20,
	KILL_SPAN_MS = 700,
	KILLS_DEFAULT = 20,
	SEED_DEFAULT = 1,
	START_WAIT_MS = 30000,
	POLL_MS = 10,
	DIR_LEN = 64, /* the mkdtemp template */
	PATH_LEN = 512,
	ADDR_LEN = 128,
};

/* Per-message state bits. */
enum {
	ST_SENT = 1,      /* a SEND went out */
	ST_CONFIRMED = 2, /* its OK arrived */
	ST_DEAD = 4,      /* its connection ended before the OK: may or may not exist */
	ST_ACKED = 8,     /* an ACK of it was answered OK */
};

struct inflight {
	uint32_t corr, seq;
};

struct queue {
	bool has_ids;
	uint8_t rid[RELAY_ID_LEN], sid[RELAY_ID_LEN];
	uint8_t k_rauth[RELAY_KEY_LEN], k_deliver[RELAY_KEY_LEN];
	struct x25519_keypair rk; /* only while its NEW is outstanding */
	uint32_t new_corr, sub_corr, get_corr;
	bool want_pump;                 /* a delivery made room: pump its sender after the block */
	struct inflight acks[ACKS_MAX]; /* ACKs sent, not answered yet (corr, seq) */
	size_t n_acks;
	bool drained;
	uint32_t next_seq;     /* sequence numbers 0 .. next_seq-1 were sent */
	uint32_t watermark;    /* every seq below it is settled for the FIFO check */
	uint32_t n_conf_deliv; /* confirmed messages delivered at least once */
	uint32_t n_confirmed;
	uint8_t st[SEQ_MAX];
	uint16_t n_deliv[SEQ_MAX];
};

struct peer {
	struct test *t;
	struct net_conn *conn;
	int qi; /* sender of queue qi, or -1: the receiver */
	bool is_open;
	uint8_t session_id[RELAY_SESSION_ID_LEN];
	struct inflight fl[WINDOW];
	size_t n_fl;
};

struct test {
	sotto_ctx *ctx;
	uv_loop_t loop;
	uv_timer_t guard, killer;
	struct peer rx, tx[N_QUEUES];
	struct queue q[N_QUEUES];
	unsigned n_live;
	uint32_t corr_next;
	uint64_t rng;
	pid_t pid;
	bool failed, draining, killed;
	/* The receiver's commands made while one block is read, sent together after it. */
	uint8_t rx_buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer rx_bw;
	bool in_rx_block;
	char dir[DIR_LEN], data[PATH_LEN], log[PATH_LEN];
	const char *relay;
	char key[ADDR_LEN];
	unsigned long restarts, confirmed, delivered, lost, redeliv_acked, redeliv_unacked;
};

static void test_fail(struct test *t, const char *fmt, ...) SOTTO_PRINTF(2, 3);

static void close_all(struct test *t)
{
	if (t->rx.conn != NULL)
		net_conn_close(t->rx.conn);
	for (size_t i = 0; i < N_QUEUES; i++)
		if (t->tx[i].conn != NULL)
			net_conn_close(t->tx[i].conn);
	(void)uv_timer_stop(&t->killer);
}

static void test_fail(struct test *t, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "relay_crash_test: FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	t->failed = true;
	close_all(t);
}

static uint64_t rng_next(struct test *t)
{
	t->rng ^= t->rng << 13;
	t->rng ^= t->rng >> 7;
	t->rng ^= t->rng << 17;
	return t->rng;
}

static uint32_t next_corr(struct test *t)
{
	if (++t->corr_next == 0)
		t->corr_next = 1;
	return t->corr_next;
}

/* ---- message bodies ---- */

static size_t body_make(uint8_t *out, int qi, uint32_t seq)
{
	size_t len = BODY_HEAD_LEN + (size_t)((seq * 7919u) % BODY_SPAN);

	out[0] = (uint8_t)qi;
	bytes_store_be32(out + 1, seq);
	for (size_t i = BODY_HEAD_LEN; i < len; i++)
		out[i] = (uint8_t)(seq * 131u + i * 7u + (unsigned)qi);
	return len;
}

/* ---- sending ---- */

static bool batch_add(struct relay_batch_writer *bw, const struct relay_cmd *cmd,
                      const uint8_t *SOTTO_NULLABLE mac_key, const struct peer *p)
{
	size_t cap = 0, len = 0;
	uint8_t *slot = relay_batch_writer_slot(bw, &cap);

	return slot != NULL &&
	       relay_cmd_encode(slot, cap, &len, cmd, mac_key,
	                        mac_key != NULL ? p->session_id : NULL) == SOTTO_OK &&
	       relay_batch_writer_commit(bw, len) == SOTTO_OK;
}

static void batch_flush(struct peer *p, struct relay_batch_writer *bw)
{
	size_t len = 0;
	sotto_err rc;

	if (relay_batch_writer_is_empty(bw) || p->t->failed)
		return;
	rc = relay_batch_writer_finish(bw, &len);
	if (rc == SOTTO_OK)
		rc = net_conn_send(p->conn, bw->buf, len);
	/* A connection already closing (the relay died) refuses with STATE; on_close judges it. */
	if (rc != SOTTO_OK && !(rc == SOTTO_ERR_STATE && !net_conn_is_open(p->conn)))
		test_fail(p->t, "sending a block (%s %d): %s", p->qi < 0 ? "receiver" : "sender",
		          p->qi, sotto_strerror(rc));
	relay_batch_writer_init(bw, bw->buf);
}

/* Sends one recipient command (SUB, GET, ACK) on the receiver connection. */
static void rx_command(struct test *t, struct queue *q, enum relay_cmd_code code, uint32_t corr,
                       const uint8_t *SOTTO_NULLABLE msg_id)
{
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw, *w = t->in_rx_block ? &t->rx_bw : &bw;
	struct relay_cmd cmd;

	relay_batch_writer_init(&bw, buf);
	relay_cmd_init(&cmd, code, corr, q->rid);
	if (msg_id != NULL)
		memcpy(cmd.msg_id, msg_id, RELAY_MSG_ID_LEN);
	if (!relay_batch_writer_fits(w, relay_cmd_len(&cmd)))
		batch_flush(&t->rx, w);
	if (!batch_add(w, &cmd, q->k_rauth, &t->rx))
		test_fail(t, "encoding command %u", (unsigned)code);
	else if (!t->in_rx_block)
		batch_flush(&t->rx, &bw);
}

static void sender_pump(struct test *t, int qi)
{
	struct peer *p = &t->tx[qi];
	struct queue *q = &t->q[qi];
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX], body[BODY_HEAD_LEN + BODY_SPAN];
	struct relay_batch_writer bw;
	struct relay_cmd cmd;

	if (!p->is_open || !q->has_ids || t->failed)
		return;
	relay_batch_writer_init(&bw, buf);
	while (p->n_fl < WINDOW && q->next_seq < SEQ_MAX &&
	       q->n_confirmed - q->n_conf_deliv + p->n_fl < BACKLOG_MAX) {
		uint32_t seq = q->next_seq;

		relay_cmd_init(&cmd, RELAY_CMD_SEND, next_corr(t), q->sid);
		cmd.body = body;
		cmd.body_len = body_make(body, qi, seq);
		if (!relay_batch_writer_fits(&bw, relay_cmd_len(&cmd)))
			batch_flush(p, &bw);
		if (t->failed)
			return;
		if (!batch_add(&bw, &cmd, NULL, p)) {
			test_fail(t, "encoding SEND");
			return;
		}
		p->fl[p->n_fl++] = (struct inflight){.corr = cmd.corr, .seq = seq};
		q->st[seq] |= ST_SENT;
		q->next_seq++;
	}
	batch_flush(p, &bw);
}

/* Once every queue exists: SUB them all (or GET while draining) and start the senders. */
static void rx_start(struct test *t)
{
	for (size_t i = 0; i < N_QUEUES; i++)
		if (!t->q[i].has_ids)
			return;
	for (size_t i = 0; i < N_QUEUES && !t->failed; i++) {
		struct queue *q = &t->q[i];

		if (t->draining) {
			q->get_corr = next_corr(t);
			rx_command(t, q, RELAY_CMD_GET, q->get_corr, NULL);
		} else {
			q->sub_corr = next_corr(t);
			rx_command(t, q, RELAY_CMD_SUB, q->sub_corr, NULL);
		}
	}
	for (int i = 0; i < N_QUEUES; i++)
		sender_pump(t, i);
}

static void rx_create_queues(struct test *t)
{
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	struct relay_cmd cmd;

	relay_batch_writer_init(&bw, buf);
	for (size_t i = 0; i < N_QUEUES; i++) {
		struct queue *q = &t->q[i];

		if (q->has_ids)
			continue;
		x25519_keypair_generate(t->ctx, &q->rk);
		q->new_corr = next_corr(t);
		relay_cmd_init(&cmd, RELAY_CMD_NEW, q->new_corr, NULL);
		memcpy(cmd.key, q->rk.pub, sizeof(cmd.key));
		if (!batch_add(&bw, &cmd, NULL, &t->rx)) {
			test_fail(t, "encoding NEW");
			return;
		}
	}
	if (relay_batch_writer_is_empty(&bw))
		rx_start(t);
	else
		batch_flush(&t->rx, &bw);
}

/* ---- answers ---- */

static void on_ids(struct test *t, const struct relay_resp *resp)
{
	for (size_t i = 0; i < N_QUEUES; i++) {
		struct queue *q = &t->q[i];

		if (q->has_ids || q->new_corr != resp->corr || resp->corr == 0)
			continue;
		memcpy(q->rid, resp->rid, RELAY_ID_LEN);
		memcpy(q->sid, resp->sid, RELAY_ID_LEN);
		if (relay_keys_recipient(q->k_rauth, q->k_deliver, q->rk.priv, resp->srk) !=
		    SOTTO_OK) {
			test_fail(t, "deriving the queue keys");
			return;
		}
		x25519_keypair_clear(&q->rk);
		q->new_corr = 0;
		q->has_ids = true;
		rx_start(t);
		return;
	}
	test_fail(t, "IDS with unexpected corr %" PRIu32, resp->corr);
}

/* FIFO: a message delivered now means every older confirmed one came before. */
static void check_fifo(struct test *t, struct queue *q, uint32_t seq)
{
	while (q->watermark < q->next_seq &&
	       (q->n_deliv[q->watermark] > 0 || (q->st[q->watermark] & ST_DEAD) != 0))
		q->watermark++;
	for (uint32_t s = q->watermark; s < seq; s++)
		if ((q->st[s] & ST_CONFIRMED) != 0 && q->n_deliv[s] == 0) {
			t->lost++;
			test_fail(t,
			          "queue %d: message %" PRIu32
			          " delivered before confirmed %" PRIu32 " (skipped)",
			          (int)(q - t->q), seq, s);
			return;
		}
}

/* Checks one delivered message; returns its sequence number, or UINT32_MAX. */
static uint32_t check_msg(struct test *t, struct queue *q, const struct relay_resp *resp)
{
	uint8_t plain[RELAY_DELIVERY_PLAIN_MAX], want[BODY_HEAD_LEN + BODY_SPAN];
	struct relay_msg msg;
	int qi = (int)(q - t->q);
	uint32_t seq;

	if (relay_msg_open(&msg, plain, resp, q->k_deliver) != SOTTO_OK ||
	    msg.body_len < BODY_HEAD_LEN) {
		test_fail(t, "queue %d: a MSG does not open", qi);
		return UINT32_MAX;
	}
	seq = bytes_load_be32(msg.body + 1);
	if (msg.body[0] != (uint8_t)qi || seq >= q->next_seq || (q->st[seq] & ST_SENT) == 0) {
		test_fail(t, "queue %d: delivered a message never sent (seq %" PRIu32 ")", qi, seq);
		return UINT32_MAX;
	}
	if (body_make(want, qi, seq) != msg.body_len || memcmp(want, msg.body, msg.body_len) != 0) {
		test_fail(t, "queue %d: message %" PRIu32 " corrupted", qi, seq);
		return UINT32_MAX;
	}
	return seq;
}

static void on_msg(struct test *t, const struct relay_resp *resp)
{
	struct queue *q = NULL;
	uint32_t seq;

	for (size_t i = 0; i < N_QUEUES; i++)
		if (t->q[i].has_ids && memcmp(t->q[i].rid, resp->entity, RELAY_ID_LEN) == 0)
			q = &t->q[i];
	if (q == NULL || q->n_acks == ACKS_MAX) {
		test_fail(t, "MSG for an unknown queue or with too many ACKs unanswered");
		return;
	}
	if ((seq = check_msg(t, q, resp)) == UINT32_MAX)
		return;
	if ((q->st[seq] & ST_ACKED) != 0) {
		t->redeliv_acked++;
		test_fail(t,
		          "queue %d: message %" PRIu32
		          " delivered again after its ACK was confirmed",
		          (int)(q - t->q), seq);
		return;
	}
	if (q->n_deliv[seq] > 0) {
		t->redeliv_unacked++;
	} else {
		t->delivered++;
		if ((q->st[seq] & ST_CONFIRMED) != 0)
			q->n_conf_deliv++;
		check_fifo(t, q, seq);
	}
	if (q->n_deliv[seq] < UINT16_MAX)
		q->n_deliv[seq]++;
	q->acks[q->n_acks].seq = seq;
	q->acks[q->n_acks].corr = next_corr(t);
	rx_command(t, q, RELAY_CMD_ACK, q->acks[q->n_acks++].corr, resp->msg_id);
	q->want_pump = true; /* after the block: one block of SENDs for all its deliveries */
}

static void on_rx_ok_or_none(struct test *t, const struct relay_resp *resp)
{
	for (size_t i = 0; i < N_QUEUES; i++) {
		struct queue *q = &t->q[i];

		if (resp->corr == 0)
			break;
		if (resp->code == RELAY_RESP_OK && q->sub_corr == resp->corr) {
			q->sub_corr = 0;
			return;
		}
		size_t k = 0;
		while (k < q->n_acks && q->acks[k].corr != resp->corr)
			k++;
		if (resp->code == RELAY_RESP_OK && k < q->n_acks) {
			q->st[q->acks[k].seq] |= ST_ACKED;
			q->acks[k] = q->acks[--q->n_acks];
			if (t->draining) {
				q->get_corr = next_corr(t);
				rx_command(t, q, RELAY_CMD_GET, q->get_corr, NULL);
			}
			return;
		}
		if (resp->code == RELAY_RESP_NONE && q->get_corr == resp->corr) {
			q->get_corr = 0;
			q->drained = true;
			for (size_t j = 0; j < N_QUEUES; j++)
				if (!t->q[j].drained)
					return;
			close_all(t); /* the drain is complete */
			return;
		}
	}
	test_fail(t, "answer %u with unexpected corr %" PRIu32, (unsigned)resp->code, resp->corr);
}

static void on_tx_ok(struct peer *p, const struct relay_resp *resp)
{
	struct test *t = p->t;
	struct queue *q = &t->q[p->qi];

	for (size_t i = 0; i < p->n_fl; i++) {
		uint32_t seq = p->fl[i].seq;

		if (p->fl[i].corr != resp->corr)
			continue;
		q->st[seq] |= ST_CONFIRMED;
		q->n_confirmed++;
		t->confirmed++;
		if (q->n_deliv[seq] > 0)
			q->n_conf_deliv++;
		p->fl[i] = p->fl[--p->n_fl];
		q->want_pump = true; /* after the block: one block of SENDs for all its OKs */
		return;
	}
	test_fail(t, "sender %d: OK with unexpected corr %" PRIu32, p->qi, resp->corr);
}

static void on_resp(struct peer *p, const struct relay_resp *resp)
{
	struct test *t = p->t;

	if (resp->code == RELAY_RESP_ERR) {
		test_fail(t, "%s: ERR %u to corr %" PRIu32, p->qi < 0 ? "receiver" : "sender",
		          (unsigned)resp->err, resp->corr);
	} else if (p->qi >= 0) {
		if (resp->code == RELAY_RESP_OK)
			on_tx_ok(p, resp);
		else
			test_fail(t, "sender: unexpected answer %u", (unsigned)resp->code);
	} else if (resp->code == RELAY_RESP_IDS) {
		on_ids(t, resp);
	} else if (resp->code == RELAY_RESP_MSG) {
		on_msg(t, resp);
	} else if (resp->code == RELAY_RESP_OK || resp->code == RELAY_RESP_NONE) {
		on_rx_ok_or_none(t, resp);
	} else {
		test_fail(t, "receiver: unexpected answer %u", (unsigned)resp->code);
	}
}

/* ---- connections ---- */

static void on_open(void *user, struct net_conn *conn, const uint8_t *session_id, uint16_t version)
{
	struct peer *p = user;
	(void)conn, (void)version;

	memcpy(p->session_id, session_id, RELAY_SESSION_ID_LEN);
	p->is_open = true;
	if (p->qi < 0)
		rx_create_queues(p->t);
	else
		sender_pump(p->t, p->qi);
}

static void on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct peer *p = user;
	struct relay_batch batch;
	struct relay_resp resp;
	(void)conn;

	if (relay_batch_parse(&batch, content, len) != SOTTO_OK) {
		test_fail(p->t, "a block from the relay does not parse");
		return;
	}
	/* The receiver answers a block of pushes with one block of ACKs, as a client would. */
	if (p == &p->t->rx) {
		relay_batch_writer_init(&p->t->rx_bw, p->t->rx_buf);
		p->t->in_rx_block = true;
	}
	for (size_t i = 0; i < batch.n_tx && !p->t->failed; i++) {
		if (relay_resp_parse(&resp, batch.tx[i].buf, batch.tx[i].len) != SOTTO_OK)
			test_fail(p->t, "an answer from the relay does not parse");
		else
			on_resp(p, &resp);
	}
	if (p == &p->t->rx) {
		p->t->in_rx_block = false;
		if (p->t->rx.conn != NULL)
			batch_flush(&p->t->rx, &p->t->rx_bw);
	}
	/*
	 * Frames written in one loop turn stay counted in the write queue until
	 * the next: sending one per answer could fill it.
	 */
	for (int qi = 0; qi < N_QUEUES; qi++) {
		if (p->t->q[qi].want_pump) {
			p->t->q[qi].want_pump = false;
			sender_pump(p->t, qi);
		}
	}
}

static void on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct peer *p = user;
	struct test *t = p->t;
	(void)conn;

	p->conn = NULL;
	p->is_open = false;
	if (p->qi >= 0) {
		for (size_t i = 0; i < p->n_fl; i++)
			t->q[p->qi].st[p->fl[i].seq] |= ST_DEAD;
		p->n_fl = 0;
	} else {
		for (size_t i = 0; i < N_QUEUES; i++) {
			struct queue *q = &t->q[i];

			x25519_keypair_clear(&q->rk);
			q->new_corr = q->sub_corr = q->get_corr = 0;
			q->n_acks = 0;
		}
	}
	if (!t->killed && !t->failed && !(t->draining && reason == SOTTO_ERR_CANCELLED))
		test_fail(t, "a connection ended while the relay ran: %s", sotto_strerror(reason));
	if (--t->n_live == 0)
		(void)uv_timer_stop(&t->guard);
}

/* ---- the relay process ---- */

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Forks and execs the relay with args; stdout to out_fd, stderr to err_fd. */
static pid_t spawn(struct test *t, char *const args[], int out_fd, int err_fd)
{
	pid_t pid;

	(void)fflush(stdout); /* the child must not flush our buffer a second time */
	pid = fork();
	if (pid != 0)
		return pid;
#ifdef __linux__
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* no stray relay if this test dies */
#endif
	if (dup2(out_fd, STDOUT_FILENO) < 0 || dup2(err_fd, STDERR_FILENO) < 0)
		_exit(127);
	execv(t->relay, args);
	_exit(127);
}

static void relay_kill(struct test *t)
{
	int status = 0;

	if (t->pid <= 0)
		return;
	(void)kill(t->pid, SIGKILL);
	while (waitpid(t->pid, &status, 0) < 0 && errno == EINTR)
		;
	t->pid = -1;
}

/* Runs `sotto-relay init` and keeps the address key it prints. */
static bool relay_init(struct test *t)
{
	char *args[] = {"sotto-relay", "init",   "--dir", t->data,   "--host",
	                "127.0.0.1",   "--port", "5223",  "--quota", "65536",
	                "--user",      "nobody", NULL};
	char out[ADDR_LEN * 2] = {0};
	int fds[2], status = 0;
	ssize_t n;
	const char *at;

	if (geteuid() != 0)
		args[10] = NULL; /* only root needs a user to switch to */
	if (pipe(fds) != 0)
		return false;
	pid_t pid = spawn(t, args, fds[1], STDERR_FILENO);
	(void)close(fds[1]);
	n = pid > 0 ? read(fds[0], out, sizeof(out) - 1) : -1;
	(void)close(fds[0]);
	if (pid > 0)
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	if (n <= 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    strncmp(out, "sotto://", 8) != 0 || (at = strchr(out, '@')) == NULL ||
	    (size_t)(at - out - 8) >= sizeof(t->key)) {
		fprintf(stderr, "relay_crash_test: init failed: \"%s\"\n", out);
		return false;
	}
	memcpy(t->key, out + 8, (size_t)(at - out - 8));
	return true;
}

/* The port of a "listening on port N" line in the log, or 0. */
static uint16_t log_port(const char *path)
{
	char buf[8192] = {0};
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
	return port > 0 && port <= 65535 ? (uint16_t)port : 0;
}

/* Starts `sotto-relay run --port 0` and waits for its port. */
static uint16_t relay_start(struct test *t, unsigned cycle)
{
	char *args[] = {"sotto-relay", "run", "--dir", t->data, "--port", "0", NULL};
	int fd, status;
	uint16_t port = 0;

	(void)snprintf(t->log, sizeof(t->log), "%s/run-%u.log", t->dir, cycle);
	if ((fd = open(t->log, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return 0;
	t->pid = spawn(t, args, fd, fd);
	(void)close(fd);
	for (int waited = 0; t->pid > 0 && waited < START_WAIT_MS; waited += POLL_MS) {
		if ((port = log_port(t->log)) != 0)
			return port;
		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = -1;
			fprintf(stderr, "relay_crash_test: the relay exited at start (%s)\n",
			        t->log);
			return 0;
		}
		sleep_ms(POLL_MS);
	}
	fprintf(stderr, "relay_crash_test: the relay did not start (%s)\n", t->log);
	relay_kill(t);
	return 0;
}

/* ---- cycles ---- */

static void on_kill(uv_timer_t *timer)
{
	struct test *t = timer->data;

	t->killed = true;
	relay_kill(t);
}

static void on_guard(uv_timer_t *timer)
{
	test_fail(timer->data, "a cycle did not finish in %d ms", CYCLE_GUARD_MS);
}

static void dial(struct test *t, struct peer *p, int qi, const struct net_addr *addr)
{
	struct net_conn_callbacks cb = {
	        .on_open = on_open, .on_block = on_block, .on_close = on_close, .user = p};
	sotto_err rc;

	p->t = t;
	p->qi = qi;
	p->n_fl = 0;
	if ((rc = net_conn_dial(t->ctx, &t->loop, addr, NULL, &cb, &p->conn)) != SOTTO_OK)
		test_fail(t, "dial: %s", sotto_strerror(rc));
	else
		t->n_live++;
}

/* One relay lifetime: start, connect, run until the kill (or the drain's end). */
static bool run_cycle(struct test *t, unsigned cycle)
{
	char text[ADDR_LEN * 2];
	struct net_addr addr;
	uint16_t port = relay_start(t, cycle);

	if (port == 0)
		return false;
	(void)snprintf(text, sizeof(text), "sotto://%s@127.0.0.1:%u", t->key, (unsigned)port);
	if (net_addr_parse(text, strlen(text), &addr) != SOTTO_OK) {
		fprintf(stderr, "relay_crash_test: bad address %s\n", text);
		return false;
	}
	t->killed = false;
	dial(t, &t->rx, -1, &addr);
	for (int i = 0; i < N_QUEUES && !t->draining && !t->failed; i++)
		dial(t, &t->tx[i], i, &addr);
	if (!t->failed && uv_timer_start(&t->guard, on_guard, CYCLE_GUARD_MS, 0) != 0)
		test_fail(t, "guard timer");
	if (!t->failed && !t->draining &&
	    uv_timer_start(&t->killer, on_kill, KILL_MIN_MS + rng_next(t) % KILL_SPAN_MS, 0) != 0)
		test_fail(t, "kill timer");
	(void)uv_run(&t->loop, UV_RUN_DEFAULT);
	return !t->failed;
}

/* After the drain: every confirmed message was delivered at least once. */
static void final_check(struct test *t)
{
	for (size_t i = 0; i < N_QUEUES; i++) {
		const struct queue *q = &t->q[i];

		if (!q->drained) {
			test_fail(t, "queue %zu was not drained", i);
			continue;
		}
		for (uint32_t s = 0; s < q->next_seq; s++)
			if ((q->st[s] & ST_CONFIRMED) != 0 && q->n_deliv[s] == 0) {
				t->lost++;
				fprintf(stderr,
				        "relay_crash_test: queue %zu: confirmed message %" PRIu32
				        " never delivered\n",
				        i, s);
			}
	}
}

static void remove_dir(const char *path)
{
	char name[PATH_LEN * 2];
	DIR *d = opendir(path);
	struct dirent *e;

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		(void)snprintf(name, sizeof(name), "%s/%s", path, e->d_name);
		(void)unlink(name);
	}
	if (d != NULL)
		(void)closedir(d);
	(void)rmdir(path);
}

static unsigned long arg_or_env(int argc, char **argv, int i, const char *env, unsigned long def)
{
	const char *s = argc > i ? argv[i] : getenv(env);

	return s != NULL && *s != '\0' ? strtoul(s, NULL, 0) : def;
}

static bool setup(struct test *t, const char *relay)
{
	t->relay = relay;
	t->pid = -1;
	(void)snprintf(t->dir, sizeof(t->dir), "/tmp/sotto-relay-crash-XXXXXX");
	if (mkdtemp(t->dir) == NULL || chmod(t->dir, 0755) != 0) /* the relay may run as nobody */
		return false;
	(void)snprintf(t->data, sizeof(t->data), "%s/relay", t->dir);
	if (sotto_ctx_new(&t->ctx, NULL) != SOTTO_OK || uv_loop_init(&t->loop) != 0 ||
	    uv_timer_init(&t->loop, &t->guard) != 0 || uv_timer_init(&t->loop, &t->killer) != 0)
		return false;
	t->guard.data = t;
	t->killer.data = t;
	return relay_init(t);
}

int main(int argc, char **argv)
{
	static struct test t; /* large: the per-message state of every queue */
	unsigned long seed = arg_or_env(argc, argv, 2, "SOTTO_CRASH_SEED", SEED_DEFAULT);
	unsigned long kills = arg_or_env(argc, argv, 3, "SOTTO_CRASH_KILLS", KILLS_DEFAULT);
	bool ok;

	if (argc < 2 || kills > 100000) {
		fprintf(stderr, "usage: relay_crash_test SOTTO_RELAY [SEED [KILLS]]\n");
		return 2;
	}
	/* Writing to a killed relay's socket must fail with EPIPE, not kill us. */
	if (sigaction(SIGPIPE, &(struct sigaction){.sa_handler = SIG_IGN}, NULL) != 0)
		return 1;
	t.rng = (uint64_t)seed * 0x9e3779b97f4a7c15u + 1;
	printf("relay_crash_test: seed %lu, kills %lu\n", seed, kills);
	ok = setup(&t, argv[1]);
	for (unsigned long c = 0; ok && c <= kills; c++) {
		t.draining = c == kills;
		ok = run_cycle(&t, (unsigned)c);
		t.restarts += ok && !t.draining;
	}
	relay_kill(&t);
	if (ok)
		final_check(&t);
	ok = ok && !t.failed && t.lost == 0 && t.redeliv_acked == 0 && t.confirmed > 0 &&
	     t.restarts == kills;
	printf("restarts %lu, confirmed %lu, delivered %lu, lost %lu, redelivered-after-ack %lu, "
	       "redelivered-unacked %lu\n",
	       t.restarts, t.confirmed, t.delivered, t.lost, t.redeliv_acked, t.redeliv_unacked);
	uv_close((uv_handle_t *)&t.guard, NULL);
	uv_close((uv_handle_t *)&t.killer, NULL);
	(void)uv_run(&t.loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&t.loop);
	for (size_t i = 0; i < N_QUEUES; i++)
		x25519_keypair_clear(&t.q[i].rk);
	sotto_ctx_free(t.ctx);
	if (!ok) {
		fprintf(stderr, "relay_crash_test: FAILED (seed %lu); logs kept in %s\n", seed,
		        t.dir);
		return 1;
	}
	remove_dir(t.data);
	for (unsigned long c = 0; c <= kills; c++) {
		char log[PATH_LEN + 32];

		(void)snprintf(log, sizeof(log), "%s/run-%lu.log", t.dir, c);
		(void)unlink(log);
	}
	(void)rmdir(t.dir);
	return 0;
}
