/* SPDX-License-Identifier: MIT */
/*
 * abuse.c - benchmark of two client agents chatting through one real
 * sotto-relay daemon while the relay is abused, phase after phase.
 *
 * alice and bob are real profiles and client agents on their own loops and
 * threads (common.c, as in client.c); they connect with invite/connect and
 * then send each other 100-byte texts at a paced --rate each way, from
 * before the first phase to after the last. Each phase lasts --seconds; the
 * attacks run from this process's main thread on one libuv loop, with the
 * raw relay clients of the abuse test (tests/support/relay_raw.c):
 *
 *   calm        nothing: the baseline.
 *   flood       --flood raw TCP connections (default 10,000, within
 *               RLIMIT_NOFILE, which is raised first), opened 200 every
 *               20 ms, a quarter each silent, slowloris, garbage msg1 and
 *               bad length prefix; a flood the relay has ended is started
 *               again while the phase lasts.
 *   slowloris   --slow connections that trickle a real msg1 one byte every
 *               500 ms (54 bytes: longer than the relay's handshake timeout).
 *   blocks      --attackers transport sessions, each with --window blocks
 *               in flight, sending malformed and oversized blocks: an empty
 *               batch, a length running past the content, a transmission
 *               shorter than a header, an unknown command code, a SEND
 *               whose body says RELAY_MSG_BODY_MAX + 1 bytes, a full-size
 *               block of random bytes, a batch of RELAY_BATCH_MAX + 1. Each
 *               must be answered by its ERR (BLOCK, CMD or LARGE).
 *   bad-mac     recipient commands (GET, SUB, ACK, OFF, DEL) on each
 *               attacker's own real queue, MAC'd under a wrong key, with
 *               one bit of the right MAC flipped, or with a zero MAC: each
 *               must be ERR AUTH ("accepted" counts the others: must be 0).
 *   random-id   the same commands on random queue IDs under a wrong key.
 *               Each answer must be byte for byte the answer to the same
 *               command with a wrong key on the attacker's real queue, but
 *               for the echoed entity ("mismatches": must be 0).
 *   replay      one attacker sends GET and SUB on its own queue with the
 *               right MAC (answered NONE and OK), and the others replay
 *               those captured transmissions on their own connections: each
 *               must be ERR AUTH ("accepted": must be 0), since a MAC
 *               covers the session ID.
 *   calm-after  nothing again: does the relay recover?
 *
 * Per phase: the texts sent in it both ways, how many were shown, p50 and
 * p99 from send_text to the other side's RECEIVED event (computed after
 * the last phase, once everything sent was shown or 30 s passed), and the
 * attack's own counts (sent minus answered is what was still in flight
 * when the phase ended). The relay runs with its defaults (handshake timeout
 * 10 s, 4096 connections) but for a large quota and queue rate.
 *
 * Exits 1 when a count that must be 0 is not, or the relay died or did not
 * exit cleanly on SIGTERM; 2 on bad usage.
 *
 * Every child runs with PR_SET_PDEATHSIG and is killed at exit; every wait
 * is bounded, and an alarm ends a run that hangs anyway.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include <sotto/sotto.h>

#include "common.h"
#include "core/ctx.h"
#include "relay_raw.h"

#ifndef SOTTO_RELAY_BIN
#define SOTTO_RELAY_BIN "sotto-relay"
#endif

enum {
	RATE_DEFAULT = 50,          /* texts/s each way */
	FLOOD_DEFAULT = 10000,      /* raw connections of the flood */
	SLOW_DEFAULT = 4000,        /* slowloris connections (the relay holds 4096) */
	CONNS_MAX = 100000,         /* --flood and --slow at most */
	FLOOD_WAVE = 200,           /* connections opened per wave */
	FLOOD_WAVE_MS = 20,         /* between waves: 10,000 connections a second */
	SLOW_BYTE_MS = 500,         /* slowloris: one byte of msg1 this often */
	HANDSHAKE_MS = 10000,       /* the relay's default handshake timeout */
	ATTACKERS_DEFAULT = 4,      /* transport sessions of a protocol attack */
	ATTACKERS_MAX = 64,         /* --attackers at most */
	WINDOW_DEFAULT = 16,        /* an attacker's blocks awaiting their answer */
	WINDOW_MAX = 256,           /* --window at most */
	FD_MARGIN = 256,            /* descriptors beside the flood: agents, stores, attackers */
	TICK_MS = 5,                /* the attack loop's timer */
	WRITE_QUEUE_SOFT = 1 << 18, /* an attacker\'s transport write queue, bytes (limit 1 MiB) */
	SETTLE_MS = 20000,          /* for an attack's connections to close after its phase */
	WARM_MS = 1000,             /* chatting before the first phase */
	N_CODES = 5,                /* recipient commands probed */
	REF_TX_MAX = 64,            /* an ERR answer is 30 bytes */
	CAP_TX_MAX = 128,           /* a captured GET or SUB is 61 bytes */
	CORR_NEW = 1,               /* an attacker's NEW */
	CORR_PROBE = 2,             /* random-id probes and their references: one corr for all */
	CORR_CAP_GET = 3,           /* the captured GET */
	CORR_CAP_SUB = 4,           /* the captured SUB */
	CORR_RUN_FIRST = 100,       /* bad-mac and blocks count up from here */
	RESP_ENTITY_OFFSET = 5,     /* corr 4, code 1, entity 24 */
	CMD_CODE_OFFSET = 36,       /* mac 32, corr 4, code 1 */
};

static const uint8_t probe_codes[N_CODES] = {RELAY_CMD_GET, RELAY_CMD_SUB, RELAY_CMD_ACK,
                                             RELAY_CMD_OFF, RELAY_CMD_DEL};

enum phase_kind {
	PH_CALM,
	PH_FLOOD,
	PH_SLOW,
	PH_BLOCKS,
	PH_BAD_MAC,
	PH_RANDOM_ID,
	PH_REPLAY,
	PH_CALM_AFTER,
	PH_KINDS,
};

static const char *const phase_names[PH_KINDS] = {
        "calm", "flood", "slowloris", "blocks", "bad-mac", "random-id", "replay", "calm-after"};

struct options {
	double seconds, rate;
	size_t flood, slow;
	unsigned attackers, window;
	bool phases[PH_KINDS];
	struct bench_args args;
};

/* What one phase's attack did. */
struct counts {
	/* raw connections (flood, slowloris) */
	size_t n_attempted, n_connected, n_connect_failed, n_ended_by_relay;
	size_t n_quick, n_late,
	        n_reset;            /* ended < or >= the handshake timeout; silent ones reset */
	size_t peak_open, n_rounds; /* open at once (connected, not ended), floods started */
	/* transport sessions (blocks, bad-mac, random-id, replay) */
	unsigned long n_sent, n_answered, n_unexpected, n_accepted, n_mismatches;
	unsigned long n_sent_err[RELAY_ERR_RATE + 1], n_got_err[RELAY_ERR_RATE + 1];
	unsigned long n_sessions, n_closed_by_relay;
};

struct phase {
	enum phase_kind kind;
	uint32_t range[2][2]; /* alice's and bob's sequences sent in it */
	double seconds;       /* measured */
	struct counts c;
	unsigned long n_sent, n_shown;
	double p50, p99;
	bool relay_alive;
};

enum attacker_state { AT_IDLE, AT_NEW, AT_PREP, AT_WAIT, AT_RUN };

struct probe {
	uint8_t id[RELAY_ID_LEN];
	uint8_t code; /* index into probe_codes */
	bool is_used;
};

struct abuse;

/* One transport session of a protocol attack, with its own real queue. */
struct attacker {
	struct abuse *ab;
	struct relay_raw_peer p;
	struct relay_raw_queue q;
	unsigned index;
	enum attacker_state state;
	unsigned prep;         /* references received (random-id), captures (replay) */
	unsigned long n_out;   /* blocks awaiting their answer */
	unsigned long variant; /* round robin over what it sends */
	uint32_t corr;
	struct probe probes[WINDOW_MAX];
	uint8_t ref[N_CODES][REF_TX_MAX]; /* wrong-key answers on q, by probe code */
	size_t ref_len[N_CODES];
};

struct abuse {
	const struct options *o;
	struct relay_raw_env env;
	uv_loop_t loop;
	uv_timer_t tick;
	struct phase *ph;
	bool is_running; /* the phase lasts: attackers redial, floods restart */
	uint64_t t_start_ms, last_trickle_ms;
	struct attacker att[ATTACKERS_MAX];
	struct relay_raw_flood flood;
	bool has_flood;
	size_t n_flood, n_slow; /* within the descriptor limit */
	/* replay: what attacker 0 sent with its right MACs */
	uint8_t cap_tx[2][CAP_TX_MAX];
	size_t cap_len[2];
	uint8_t cap_rid[RELAY_ID_LEN];
	bool has_capture;
};

/* ---- raw connections: flood and slowloris ---- */

static void flood_add_counts(struct abuse *ab)
{
	struct relay_raw_flood *f = &ab->flood;
	struct counts *c = &ab->ph->c;

	c->n_attempted += f->n_opened;
	c->n_connected += f->n_connected;
	c->n_connect_failed += f->n_connect_failed;
	for (int k = 0; k < RELAY_RAW_KINDS; k++)
		c->n_ended_by_relay += f->n_ended_by_relay[k];
	c->n_quick += f->n_quick;
	c->n_late += f->n_late;
	c->n_reset += f->n_silent_reset;
}

static void flood_start(struct abuse *ab)
{
	bool is_slow = ab->ph->kind == PH_SLOW;
	size_t n = is_slow ? ab->n_slow : ab->n_flood;

	if (relay_raw_flood_init(&ab->flood, &ab->env, n,
	                         is_slow ? RELAY_RAW_SLOW : RELAY_RAW_MIXED,
	                         HANDSHAKE_MS) != SOTTO_OK)
		bench_die("flood setup");
	ab->has_flood = true;
	ab->t_start_ms = uv_now(&ab->loop);
	ab->ph->c.n_rounds++;
}

static void flood_tick(struct abuse *ab)
{
	struct relay_raw_flood *f = &ab->flood;
	uint64_t now = uv_now(&ab->loop);
	size_t ended = 0, open;

	if (!ab->has_flood)
		return;
	if (ab->is_running && now - ab->t_start_ms >= (f->n_opened / FLOOD_WAVE) * FLOOD_WAVE_MS)
		relay_raw_flood_open(f, FLOOD_WAVE);
	if (now - ab->last_trickle_ms >= SLOW_BYTE_MS) {
		ab->last_trickle_ms = now;
		relay_raw_flood_trickle(f);
	}
	for (int k = 0; k < RELAY_RAW_KINDS; k++)
		ended += f->n_ended_by_relay[k];
	open = f->n_connected > ended ? f->n_connected - ended : 0;
	if (open > ab->ph->c.peak_open)
		ab->ph->c.peak_open = open;
	if (!relay_raw_flood_is_done(f))
		return;
	/* The relay ended all of them: count, and flood again while the phase lasts. */
	flood_add_counts(ab);
	relay_raw_flood_clear(f);
	ab->has_flood = false;
	if (ab->is_running)
		flood_start(ab);
}

/* ---- protocol attacks over transport sessions ---- */

static void att_fill(struct attacker *at);

/* A recipient command on id under a random (wrong) key. */
static size_t encode_wrong_key(struct attacker *at, uint8_t *tx, uint8_t code,
                               const uint8_t id[RELAY_ID_LEN], uint32_t corr)
{
	uint8_t key[RELAY_KEY_LEN];
	struct relay_cmd cmd;

	relay_cmd_init(&cmd, code, corr, id);
	if (code == RELAY_CMD_ACK)
		ctx_random(at->ab->env.ctx, cmd.msg_id, RELAY_MSG_ID_LEN);
	ctx_random(at->ab->env.ctx, key, sizeof(key));
	return relay_raw_encode(&at->p, tx, &cmd, key);
}

/* blocks: the next malformed or oversized block; returns the ERR it must get. */
static enum relay_err send_bad_block(struct attacker *at)
{
	static const uint8_t empty_batch[] = {0};
	static const uint8_t overrun_batch[] = {1, 0x00, 0x10, 1, 2, 3};
	static const uint8_t short_tx[10] = {0};
	static uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	static const uint8_t body[RELAY_MSG_BODY_MAX]; /* the oversized SEND's, zeros */
	struct relay_cmd cmd;
	size_t len = 0;

	switch (at->variant++ % 7) {
	case 0:
		relay_raw_send_block(&at->p, empty_batch, sizeof(empty_batch));
		return RELAY_ERR_BLOCK;
	case 1:
		relay_raw_send_block(&at->p, overrun_batch, sizeof(overrun_batch));
		return RELAY_ERR_BLOCK;
	case 2: relay_raw_send_tx(&at->p, short_tx, sizeof(short_tx)); return RELAY_ERR_BLOCK;
	case 3: /* a PING whose code byte no version defines */
		relay_cmd_init(&cmd, RELAY_CMD_PING, at->corr++, NULL);
		len = relay_raw_encode(&at->p, buf, &cmd, NULL);
		buf[CMD_CODE_OFFSET] = 0xc8;
		relay_raw_send_tx(&at->p, buf, len);
		return RELAY_ERR_CMD;
	case 4: /* a SEND whose body length says one byte over the limit, and that many follow */
		relay_cmd_init(&cmd, RELAY_CMD_SEND, at->corr++, at->q.sid);
		cmd.body = body;
		cmd.body_len = sizeof(body);
		len = relay_raw_encode(&at->p, buf, &cmd, NULL);
		buf[RELAY_CMD_HEADER_LEN + 1] = (uint8_t)((RELAY_MSG_BODY_MAX + 1) >> 8);
		buf[RELAY_CMD_HEADER_LEN + 2] = (uint8_t)((RELAY_MSG_BODY_MAX + 1) & 0xff);
		buf[len] = 0x6b;
		relay_raw_send_tx(&at->p, buf, len + 1);
		return RELAY_ERR_LARGE;
	case 5: /* a full-size block of random bytes behind a plausible count */
		ctx_random(at->ab->env.ctx, buf, sizeof(buf));
		buf[0] = (uint8_t)(1 + buf[0] % RELAY_BATCH_MAX);
		relay_raw_send_block(&at->p, buf, sizeof(buf));
		return RELAY_ERR_BLOCK;
	default: /* one transmission too many: RELAY_BATCH_MAX + 1 PINGs */
		relay_cmd_init(&cmd, RELAY_CMD_PING, at->corr, NULL);
		buf[len++] = RELAY_BATCH_MAX + 1;
		for (int i = 0; i <= RELAY_BATCH_MAX; i++) {
			size_t n = relay_raw_encode(&at->p, buf + len + 2, &cmd, NULL);
			buf[len] = (uint8_t)(n >> 8);
			buf[len + 1] = (uint8_t)(n & 0xff);
			len += 2 + n;
		}
		relay_raw_send_block(&at->p, buf, len);
		return RELAY_ERR_BLOCK;
	}
}

/* bad-mac: a recipient command on our queue whose MAC is wrong one of three ways. */
static void send_bad_mac(struct attacker *at)
{
	uint8_t tx[RELAY_CMD_MAX_LEN];
	uint8_t code = probe_codes[at->variant % N_CODES];
	unsigned how = (unsigned)(at->variant / N_CODES) % 3;
	struct relay_cmd cmd;
	size_t len;

	at->variant++;
	if (how == 0) {
		len = encode_wrong_key(at, tx, code, at->q.rid, at->corr++);
	} else {
		relay_cmd_init(&cmd, code, at->corr++, at->q.rid);
		len = relay_raw_encode(&at->p, tx, &cmd, how == 1 ? at->q.k_rauth : NULL);
		if (how == 1) /* the right MAC with one bit flipped */
			tx[randombytes_uniform(RELAY_MAC_LEN)] ^=
			        (uint8_t)(1u << randombytes_uniform(8));
	}
	relay_raw_send_tx(&at->p, tx, len);
	at->ab->ph->c.n_sent_err[RELAY_ERR_AUTH]++;
}

/* random-id: a recipient command on a random queue ID under a wrong key. */
static bool send_probe(struct attacker *at)
{
	uint8_t tx[RELAY_CMD_MAX_LEN];
	struct probe *pr = NULL;

	for (unsigned i = 0; i < at->ab->o->window && pr == NULL; i++) {
		if (!at->probes[i].is_used)
			pr = &at->probes[i];
	}
	if (pr == NULL)
		return false;
	pr->is_used = true;
	pr->code = (uint8_t)(at->variant++ % N_CODES);
	ctx_random(at->ab->env.ctx, pr->id, RELAY_ID_LEN);
	relay_raw_send_tx(&at->p, tx,
	                  encode_wrong_key(at, tx, probe_codes[pr->code], pr->id, CORR_PROBE));
	at->ab->ph->c.n_sent_err[RELAY_ERR_AUTH]++;
	return true;
}

/* random-id: is r's transmission the reference answer but for the entity echoed? */
static void check_probe(struct attacker *at, const struct relay_resp *r)
{
	struct counts *c = &at->ab->ph->c;
	uint8_t expected[REF_TX_MAX];
	struct probe *pr = NULL;

	for (unsigned i = 0; i < at->ab->o->window && pr == NULL; i++) {
		if (at->probes[i].is_used && memcmp(at->probes[i].id, r->entity, RELAY_ID_LEN) == 0)
			pr = &at->probes[i];
	}
	if (pr == NULL) {
		c->n_mismatches++; /* an answer about no queue we asked for */
		return;
	}
	pr->is_used = false;
	if (r->code != RELAY_RESP_ERR || r->err != RELAY_ERR_AUTH)
		c->n_accepted++;
	memcpy(expected, at->ref[pr->code], at->ref_len[pr->code]);
	memcpy(expected + RESP_ENTITY_OFFSET, pr->id, RELAY_ID_LEN);
	if (at->p.resp_tx_len != at->ref_len[pr->code] ||
	    memcmp(at->p.resp_tx, expected, at->ref_len[pr->code]) != 0)
		c->n_mismatches++;
}

/* One more block of the phase's attack; false when none can go now. */
static bool att_send(struct attacker *at)
{
	struct abuse *ab = at->ab;

	switch (ab->ph->kind) {
	case PH_BLOCKS: ab->ph->c.n_sent_err[send_bad_block(at)]++; return true;
	case PH_BAD_MAC: send_bad_mac(at); return true;
	case PH_RANDOM_ID: return send_probe(at);
	case PH_REPLAY:
		relay_raw_send_tx(&at->p, ab->cap_tx[at->variant % 2],
		                  ab->cap_len[at->variant % 2]);
		at->variant++;
		ab->ph->c.n_sent_err[RELAY_ERR_AUTH]++;
		return true;
	default: return false;
	}
}

/*
 * Tops the attacker's window up. libuv reads a socket up to 32 times in one
 * loop turn and reports writes done only in the next, so answers may free
 * the window many times before the transport's write queue shrinks: the
 * queue is bounded too (the tick tops up again).
 */
static void att_fill(struct attacker *at)
{
	while (at->state == AT_RUN && at->ab->is_running && at->p.is_open &&
	       at->n_out < at->ab->o->window &&
	       net_conn_write_queue_bytes(at->p.conn) < WRITE_QUEUE_SOFT && att_send(at)) {
		at->n_out++;
		at->ab->ph->c.n_sent++;
	}
}

/* The answer to one attack block, checked against what the phase demands. */
static void att_check(struct attacker *at, const struct relay_resp *r)
{
	struct abuse *ab = at->ab;
	struct counts *c = &ab->ph->c;
	bool is_err = r->code == RELAY_RESP_ERR;

	c->n_answered++;
	if (is_err && r->err <= RELAY_ERR_RATE)
		c->n_got_err[r->err]++;
	switch (ab->ph->kind) {
	case PH_BLOCKS:
		if (!is_err || (r->err != RELAY_ERR_BLOCK && r->err != RELAY_ERR_CMD &&
		                r->err != RELAY_ERR_LARGE))
			c->n_unexpected++;
		break;
	case PH_BAD_MAC:
		if (!is_err || r->err != RELAY_ERR_AUTH)
			c->n_accepted++;
		else if (memcmp(r->entity, at->q.rid, RELAY_ID_LEN) != 0)
			c->n_unexpected++;
		break;
	case PH_RANDOM_ID: check_probe(at, r); break;
	case PH_REPLAY:
		if (!is_err || r->err != RELAY_ERR_AUTH)
			c->n_accepted++;
		else if (memcmp(r->entity, ab->cap_rid, RELAY_ID_LEN) != 0)
			c->n_unexpected++;
		break;
	default: c->n_unexpected++; break;
	}
}

/* random-id: the wrong-key answer on our own queue for probe code i. */
static void send_reference(struct attacker *at)
{
	uint8_t tx[RELAY_CMD_MAX_LEN];

	relay_raw_send_tx(&at->p, tx,
	                  encode_wrong_key(at, tx, probe_codes[at->prep], at->q.rid, CORR_PROBE));
}

/* replay: attacker 0's GET (prep 0) or SUB (prep 1) with the right MAC, kept. */
static void send_capture(struct attacker *at)
{
	struct abuse *ab = at->ab;
	uint8_t tx[RELAY_CMD_MAX_LEN];
	struct relay_cmd cmd;
	size_t len;

	relay_cmd_init(&cmd, at->prep == 0 ? RELAY_CMD_GET : RELAY_CMD_SUB,
	               at->prep == 0 ? CORR_CAP_GET : CORR_CAP_SUB, at->q.rid);
	len = relay_raw_encode(&at->p, tx, &cmd, at->q.k_rauth);
	if (len == 0 || len > CAP_TX_MAX)
		bench_die("capture");
	memcpy(ab->cap_tx[at->prep], tx, len);
	ab->cap_len[at->prep] = len;
	relay_raw_send_tx(&at->p, tx, len);
}

/* After NEW: what the phase needs before attacking. */
static void att_prepare(struct attacker *at)
{
	struct abuse *ab = at->ab;

	at->prep = 0;
	if (ab->ph->kind == PH_RANDOM_ID) {
		at->state = AT_PREP;
		send_reference(at);
	} else if (ab->ph->kind == PH_REPLAY && at->index == 0) {
		ab->has_capture = false;
		at->state = AT_PREP;
		send_capture(at);
	} else if (ab->ph->kind == PH_REPLAY && !ab->has_capture) {
		at->state = AT_WAIT; /* the tick starts it once there is a capture */
	} else {
		at->state = AT_RUN;
		att_fill(at);
	}
}

static void att_prep_resp(struct attacker *at, const struct relay_resp *r)
{
	struct abuse *ab = at->ab;

	if (ab->ph->kind == PH_RANDOM_ID) {
		if (r->code != RELAY_RESP_ERR || r->err != RELAY_ERR_AUTH ||
		    at->p.resp_tx_len > REF_TX_MAX) {
			ab->ph->c.n_unexpected++;
			return;
		}
		memcpy(at->ref[at->prep], at->p.resp_tx, at->p.resp_tx_len);
		at->ref_len[at->prep] = at->p.resp_tx_len;
		if (++at->prep < N_CODES) {
			send_reference(at);
			return;
		}
		at->state = AT_RUN;
		att_fill(at);
		return;
	}
	/* replay's capture: GET finds the queue empty, SUB subscribes */
	if (r->code != (at->prep == 0 ? RELAY_RESP_NONE : RELAY_RESP_OK)) {
		ab->ph->c.n_unexpected++;
		return;
	}
	if (++at->prep < 2) {
		send_capture(at);
		return;
	}
	memcpy(ab->cap_rid, at->q.rid, RELAY_ID_LEN);
	ab->has_capture = true;
	at->state = AT_IDLE; /* the victim: it only keeps its session */
}

static void att_resp(struct relay_raw_peer *p, const struct relay_resp *r)
{
	struct attacker *at = p->scenario;

	switch (at->state) {
	case AT_NEW:
		if (r->code != RELAY_RESP_IDS || r->corr != CORR_NEW) {
			at->ab->ph->c.n_unexpected++;
			return;
		}
		relay_raw_take_ids(p, &at->q, r);
		att_prepare(at);
		break;
	case AT_PREP: att_prep_resp(at, r); break;
	case AT_RUN:
		if (at->n_out > 0)
			at->n_out--;
		att_check(at, r);
		att_fill(at);
		break;
	default: at->ab->ph->c.n_unexpected++; break;
	}
}

static void att_open(struct relay_raw_peer *p)
{
	struct attacker *at = p->scenario;

	at->state = AT_NEW;
	relay_raw_send_new(p, &at->q, CORR_NEW);
}

static void att_dial(struct attacker *at)
{
	at->state = AT_IDLE;
	at->n_out = 0;
	at->corr = CORR_RUN_FIRST;
	memset(at->probes, 0, sizeof(at->probes));
	at->ab->ph->c.n_sessions++;
	relay_raw_peer_dial(&at->ab->env, &at->p, at, att_open, att_resp);
}

/* Redials a session the relay closed; starts replayers once there is a capture. */
static void att_tick(struct abuse *ab)
{
	for (unsigned i = 0; i < ab->o->attackers; i++) {
		struct attacker *at = &ab->att[i];

		if (at->p.conn == NULL) {
			if (at->p.is_closed && at->p.close_reason != SOTTO_ERR_CANCELLED)
				ab->ph->c.n_closed_by_relay++;
			if (ab->is_running)
				att_dial(at);
			continue;
		}
		if (at->state == AT_WAIT && ab->has_capture) {
			at->state = AT_RUN;
			att_fill(at);
		}
		att_fill(at);
	}
}

/* ---- phases ---- */

static bool is_protocol_attack(enum phase_kind k)
{
	return k == PH_BLOCKS || k == PH_BAD_MAC || k == PH_RANDOM_ID || k == PH_REPLAY;
}

static void on_tick(uv_timer_t *t)
{
	struct abuse *ab = t->data;

	if (ab->ph == NULL)
		return;
	flood_tick(ab);
	if (is_protocol_attack(ab->ph->kind))
		att_tick(ab);
}

/* True once every connection of the attack is gone. */
static bool attack_is_gone(struct abuse *ab)
{
	if (ab->has_flood && !relay_raw_flood_is_done(&ab->flood))
		return false;
	for (unsigned i = 0; i < ab->o->attackers; i++) {
		if (ab->att[i].p.conn != NULL)
			return false;
	}
	return true;
}

static void attack_start(struct abuse *ab)
{
	ab->is_running = true;
	ab->has_capture = false;
	if (ab->ph->kind == PH_FLOOD || ab->ph->kind == PH_SLOW)
		flood_start(ab);
	if (!is_protocol_attack(ab->ph->kind))
		return;
	for (unsigned i = 0; i < ab->o->attackers; i++) {
		ab->att[i].ab = ab;
		ab->att[i].index = i;
		att_dial(&ab->att[i]);
	}
}

static void attack_stop(struct abuse *ab)
{
	uint64_t end;

	ab->is_running = false;
	if (ab->has_flood)
		relay_raw_flood_end_all(&ab->flood);
	for (unsigned i = 0; i < ab->o->attackers; i++) {
		struct attacker *at = &ab->att[i];
		if (at->p.conn != NULL)
			relay_raw_peer_close(&at->p);
	}
	end = bench_now_ns() + (uint64_t)SETTLE_MS * 1000000u;
	while (!attack_is_gone(ab) && bench_now_ns() < end)
		(void)uv_run(&ab->loop, UV_RUN_ONCE);
	if (!attack_is_gone(ab))
		fprintf(stderr, "abuse: %s: connections still open after %d ms\n",
		        phase_names[ab->ph->kind], SETTLE_MS);
	if (ab->has_flood) {
		flood_add_counts(ab);
		if (relay_raw_flood_is_done(&ab->flood)) /* else the loop still holds its handles */
			relay_raw_flood_clear(&ab->flood);
		ab->has_flood = false;
	}
}

static void run_phase(struct abuse *ab, enum phase_kind kind, struct phase *ph,
                      struct bench_peer *alice, struct bench_peer *bob, pid_t relay)
{
	uint64_t t0, end;

	memset(ph, 0, sizeof(*ph));
	ph->kind = kind;
	ab->ph = ph;
	ph->range[0][0] = atomic_load(&alice->seq);
	ph->range[1][0] = atomic_load(&bob->seq);
	t0 = bench_now_ns();
	end = t0 + (uint64_t)(ab->o->seconds * 1e9);
	uv_update_time(&ab->loop);
	attack_start(ab);
	while (bench_now_ns() < end)
		(void)uv_run(&ab->loop, UV_RUN_ONCE);
	ph->range[0][1] = atomic_load(&alice->seq);
	ph->range[1][1] = atomic_load(&bob->seq);
	ph->seconds = (double)(bench_now_ns() - t0) / 1e9;
	attack_stop(ab);
	ph->relay_alive = waitpid(relay, NULL, WNOHANG) == 0;
}

/* ---- the run ---- */

/* Both ways, everything sent so far shown (bounded). */
static bool drained(struct bench_peer *alice, struct bench_peer *bob)
{
	uint64_t end = bench_now_ns() + (uint64_t)BENCH_WAIT_MS * 1000000u;

	while (bench_now_ns() < end) {
		if (atomic_load(&bob->n_shown) >= atomic_load(&alice->seq) &&
		    atomic_load(&alice->n_shown) >= atomic_load(&bob->seq) - BENCH_SEQ_CAP / 2)
			return true;
		bench_sleep_ms(10);
	}
	return false;
}

static void phase_figures(struct phase *ph)
{
	unsigned long lost = 0;

	bench_latency_ranges((const uint32_t(*)[2])ph->range, 2, &ph->p50, &ph->p99, &lost);
	ph->n_sent = (unsigned long)(ph->range[0][1] - ph->range[0][0]) +
	             (unsigned long)(ph->range[1][1] - ph->range[1][0]);
	ph->n_shown = ph->n_sent - lost;
}

static void attack_env_init(struct abuse *ab, const char *addr)
{
	if (sotto_ctx_new(&ab->env.ctx, NULL) != SOTTO_OK || uv_loop_init(&ab->loop) != 0 ||
	    uv_timer_init(&ab->loop, &ab->tick) != 0)
		bench_die("attack loop setup");
	ab->env.loop = &ab->loop;
	if (net_addr_parse(addr, strlen(addr), &ab->env.addr) != SOTTO_OK)
		bench_die("cannot parse the relay's address");
	ab->tick.data = ab;
	if (uv_timer_start(&ab->tick, on_tick, TICK_MS, TICK_MS) != 0)
		bench_die("timer");
}

static void attack_env_free(struct abuse *ab)
{
	uv_close((uv_handle_t *)&ab->tick, NULL);
	(void)uv_run(&ab->loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&ab->loop);
	sotto_ctx_free(ab->env.ctx);
}

struct result {
	struct phase phases[PH_KINDS];
	size_t n_phases;
	size_t n_flood, n_slow;     /* connections per flood, within the descriptor limit */
	unsigned long long fd_hard; /* RLIMIT_NOFILE's hard limit (0: unlimited) */
	unsigned relay_exit;        /* its exit status after SIGTERM (0: clean) */
	bool is_drained;
	unsigned n_local_errors;
	char first_local_error[200];
};

/* Paced texts both ways over one contact; alice's sequences from 0, bob's from half. */
static void start_chat(const struct options *o, struct bench_peer *alice, struct bench_peer *bob)
{
	struct bench_drive d = {.n_contacts = 1, .rate = o->rate, .stop_seq = BENCH_SEQ_CAP / 2};

	d.contacts[0] = bench_make_contact(alice, bob);
	bench_peer_call(alice, bench_job_drive, &d);
	d.contacts[0] = atomic_load(&bob->last_connected);
	d.stop_seq = BENCH_SEQ_CAP;
	atomic_store(&bob->seq, BENCH_SEQ_CAP / 2);
	bench_peer_call(bob, bench_job_drive, &d);
}

static void measure(const struct options *o, struct result *res)
{
	static struct bench_peer alice = {.name = "alice"}, bob = {.name = "bob"};
	static struct abuse ab;
	char addr[256];
	int status = 0;

	ab.o = o;
	ab.n_flood = res->n_flood;
	ab.n_slow = res->n_slow;
	pid_t relay = bench_pair_start(&alice, &bob, o->args.relay_bin, addr, sizeof(addr));
	start_chat(o, &alice, &bob);
	bench_sleep_ms(WARM_MS);
	attack_env_init(&ab, addr);
	for (int k = 0; k < PH_KINDS; k++) {
		if (!o->phases[k])
			continue;
		if (!o->args.json)
			fprintf(stderr, "phase %s (%.0f s)...\n", phase_names[k], o->seconds);
		run_phase(&ab, (enum phase_kind)k, &res->phases[res->n_phases++], &alice, &bob,
		          relay);
	}
	ab.ph = NULL;
	attack_env_free(&ab);
	bench_peer_call(&alice, bench_job_halt, NULL);
	bench_peer_call(&bob, bench_job_halt, NULL);
	res->is_drained = drained(&alice, &bob);
	for (size_t i = 0; i < res->n_phases; i++)
		phase_figures(&res->phases[i]);
	res->n_local_errors = ab.env.n_errors;
	memcpy(res->first_local_error, ab.env.first_error, sizeof(res->first_local_error));
	bench_peer_stop(&alice);
	bench_peer_stop(&bob);
	status = bench_stop_child(relay, SIGTERM);
	res->relay_exit = WIFEXITED(status) ? (unsigned)WEXITSTATUS(status)
	                                    : 128u + (unsigned)WTERMSIG(status);
}

/* ---- output ---- */

static double vs_calm(const struct result *res, const struct phase *ph)
{
	for (size_t i = 0; i < res->n_phases; i++) {
		if (res->phases[i].kind == PH_CALM && res->phases[i].p99 > 0)
			return ph->p99 / res->phases[i].p99;
	}
	return 0;
}

static void print_attack(const struct phase *ph)
{
	const struct counts *c = &ph->c;

	switch (ph->kind) {
	case PH_FLOOD:
	case PH_SLOW:
		printf("    %zu connections in %zu round(s): %zu connected, %zu connect failures, "
		       "%zu ended by the relay (of the silent and slow ones: %zu less than the 10 "
		       "s "
		       "handshake timeout after we saw the connect, %zu later, %zu reset), at most "
		       "%zu open at once\n",
		       c->n_attempted, c->n_rounds, c->n_connected, c->n_connect_failed,
		       c->n_ended_by_relay, c->n_quick, c->n_late, c->n_reset, c->peak_open);
		break;
	case PH_BLOCKS:
		printf("    %lu blocks sent, %lu answered: ERR BLOCK %lu of %lu, ERR CMD %lu of "
		       "%lu, "
		       "ERR LARGE %lu of %lu; %lu other answers\n",
		       c->n_sent, c->n_answered, c->n_got_err[RELAY_ERR_BLOCK],
		       c->n_sent_err[RELAY_ERR_BLOCK], c->n_got_err[RELAY_ERR_CMD],
		       c->n_sent_err[RELAY_ERR_CMD], c->n_got_err[RELAY_ERR_LARGE],
		       c->n_sent_err[RELAY_ERR_LARGE], c->n_unexpected);
		break;
	case PH_BAD_MAC:
	case PH_REPLAY:
		printf("    %lu %s sent, %lu answered, %lu ERR AUTH, accepted %lu (must be 0), "
		       "other answers %lu\n",
		       c->n_sent, ph->kind == PH_REPLAY ? "replayed commands" : "bad-MAC commands",
		       c->n_answered, c->n_got_err[RELAY_ERR_AUTH], c->n_accepted, c->n_unexpected);
		break;
	case PH_RANDOM_ID:
		printf("    %lu random-ID commands sent, %lu answered, %lu ERR AUTH, answers "
		       "unlike "
		       "the wrong-key one %lu (must be 0), accepted %lu, other answers %lu\n",
		       c->n_sent, c->n_answered, c->n_got_err[RELAY_ERR_AUTH], c->n_mismatches,
		       c->n_accepted, c->n_unexpected);
		break;
	default: return;
	}
	if (is_protocol_attack(ph->kind))
		printf("    %lu sessions opened, %lu closed by the relay\n", c->n_sessions,
		       c->n_closed_by_relay);
}

static void print_table(const struct options *o, const struct result *res)
{
	printf("sotto-relay under abuse while alice and bob chat (%.0f texts/s each way, "
	       "%d-byte texts), %.0f s per phase\n\n",
	       o->rate, BENCH_TEXT_LEN, o->seconds);
	for (size_t i = 0; i < res->n_phases; i++) {
		const struct phase *ph = &res->phases[i];
		printf("  %s: %lu texts sent, %lu shown, p50 %.2f ms, p99 %.2f ms%s\n",
		       phase_names[ph->kind], ph->n_sent, ph->n_shown, ph->p50, ph->p99,
		       ph->relay_alive ? "" : "; the relay DIED");
		print_attack(ph);
	}
	printf("\n  %-12s | %8s | %8s | %11s\n", "phase", "p50 ms", "p99 ms", "vs calm p99");
	printf("  -------------+----------+----------+------------\n");
	for (size_t i = 0; i < res->n_phases; i++) {
		const struct phase *ph = &res->phases[i];
		printf("  %-12s | %8.2f | %8.2f | %10.2fx\n", phase_names[ph->kind], ph->p50,
		       ph->p99, vs_calm(res, ph));
	}
	printf("\n  flood %zu connections (asked %zu), slowloris %zu (asked %zu); RLIMIT_NOFILE "
	       "hard limit %llu (0: none); relay exit status after SIGTERM %u%s\n",
	       res->n_flood, o->flood, res->n_slow, o->slow, res->fd_hard, res->relay_exit,
	       res->is_drained ? "" : "; NOT everything sent was shown within 30 s");
	if (res->n_local_errors != 0)
		printf("  %u local errors, first: %s\n", res->n_local_errors,
		       res->first_local_error);
}

static void print_json(const struct options *o, const struct result *res)
{
	printf("{\"rate\": %.0f, \"seconds\": %.1f, \"flood\": %zu, \"flood_asked\": %zu, "
	       "\"slow\": %zu, \"slow_asked\": %zu, \"fd_hard_limit\": %llu, "
	       "\"attackers\": %u, \"window\": %u, \"relay_exit\": %u, \"drained\": %s, "
	       "\"local_errors\": %u, \"phases\": [",
	       o->rate, o->seconds, res->n_flood, o->flood, res->n_slow, o->slow, res->fd_hard,
	       o->attackers, o->window, res->relay_exit, res->is_drained ? "true" : "false",
	       res->n_local_errors);
	for (size_t i = 0; i < res->n_phases; i++) {
		const struct phase *ph = &res->phases[i];
		const struct counts *c = &ph->c;
		printf("%s{\"phase\": \"%s\", \"seconds\": %.2f, \"sent\": %lu, \"shown\": %lu, "
		       "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"vs_calm_p99\": %.2f, "
		       "\"relay_alive\": %s, \"conns_attempted\": %zu, \"conns_connected\": %zu, "
		       "\"connect_failures\": %zu, \"conns_ended_by_relay\": %zu, "
		       "\"peak_open\": %zu, \"rounds\": %zu, \"attack_sent\": %lu, "
		       "\"attack_answered\": %lu, \"err_auth\": %lu, \"err_block\": %lu, "
		       "\"err_cmd\": %lu, \"err_large\": %lu, \"accepted\": %lu, "
		       "\"mismatches\": %lu, \"unexpected\": %lu, \"sessions\": %lu, "
		       "\"closed_by_relay\": %lu}",
		       i == 0 ? "" : ", ", phase_names[ph->kind], ph->seconds, ph->n_sent,
		       ph->n_shown, ph->p50, ph->p99, vs_calm(res, ph),
		       ph->relay_alive ? "true" : "false", c->n_attempted, c->n_connected,
		       c->n_connect_failed, c->n_ended_by_relay, c->peak_open, c->n_rounds,
		       c->n_sent, c->n_answered, c->n_got_err[RELAY_ERR_AUTH],
		       c->n_got_err[RELAY_ERR_BLOCK], c->n_got_err[RELAY_ERR_CMD],
		       c->n_got_err[RELAY_ERR_LARGE], c->n_accepted, c->n_mismatches,
		       c->n_unexpected, c->n_sessions, c->n_closed_by_relay);
	}
	printf("]}\n");
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: abuse [--json] [--seconds S] [--rate R] [--flood N] [--slow N]\n"
	        "             [--attackers N] [--window W] [--phases LIST] [--relay PATH]\n"
	        "             [--tmp DIR]\n"
	        "\n"
	        "Two client agents (alice, bob; real profiles) chat both ways through one\n"
	        "sotto-relay on 127.0.0.1 while the relay is abused, one phase at a time;\n"
	        "prints their latency in each phase beside the calm one.\n"
	        "\n"
	        "  --json           print one JSON object instead of the table\n"
	        "  --seconds S      length of each phase (default 10)\n"
	        "  --rate R         texts/s each way (default %d)\n"
	        "  --flood N        raw connections of the flood (default %d; fewer if\n"
	        "                   RLIMIT_NOFILE's hard limit says so)\n"
	        "  --slow N         slowloris connections (default %d)\n"
	        "  --attackers N    transport sessions of each protocol attack (default %d, max "
	        "%d)\n"
	        "  --window W       an attacker's blocks awaiting their answer (default %d, max "
	        "%d)\n"
	        "  --phases LIST    comma-separated, in this order (default all):\n"
	        "                   calm,flood,slowloris,blocks,bad-mac,random-id,replay,\n"
	        "                   calm-after\n"
	        "  --relay PATH     the sotto-relay binary (default %s)\n"
	        "  --tmp DIR        where the profiles and the relay live (default /tmp)\n"
	        "  --help           this text\n",
	        RATE_DEFAULT, FLOOD_DEFAULT, SLOW_DEFAULT, ATTACKERS_DEFAULT, ATTACKERS_MAX,
	        WINDOW_DEFAULT, WINDOW_MAX, SOTTO_RELAY_BIN);
}

/* A count that must be 0 is not, or the relay died or failed to stop cleanly. */
static bool is_broken(const struct result *res)
{
	bool is_bad = res->relay_exit != 0;

	for (size_t i = 0; i < res->n_phases; i++) {
		const struct phase *ph = &res->phases[i];
		is_bad |= !ph->relay_alive || ph->c.n_accepted != 0 || ph->c.n_mismatches != 0;
	}
	if (is_bad)
		fprintf(stderr,
		        "abuse: the relay accepted what it must refuse, answered a random ID "
		        "unlike a wrong key, or died (see above)\n");
	return is_bad;
}

static bool parse_phases(const char *v, bool phases[PH_KINDS])
{
	memset(phases, 0, PH_KINDS * sizeof(phases[0]));
	while (*v != '\0') {
		size_t len = strcspn(v, ",");
		int k = 0;
		while (k < PH_KINDS &&
		       (strlen(phase_names[k]) != len || strncmp(v, phase_names[k], len) != 0))
			k++;
		if (k == PH_KINDS)
			return false;
		phases[k] = true;
		v += len + (v[len] == ',');
	}
	return true;
}

static bool parse_count(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end = NULL;

	errno = 0;
	*out = strtoul(v, &end, 10);
	return errno == 0 && *end == '\0' && *out >= lo && *out <= hi;
}

static bool parse_opt(void *user, const char *a, const char *v)
{
	struct options *o = user;
	unsigned long n = 0;
	bool ok = false;

	if (strcmp(a, "--seconds") == 0) {
		ok = bench_arg_double(v, 1, 600, &o->seconds);
	} else if (strcmp(a, "--rate") == 0) {
		ok = bench_arg_double(v, 1, 10000, &o->rate);
	} else if (strcmp(a, "--flood") == 0) {
		ok = parse_count(v, 1, CONNS_MAX, &n);
		o->flood = n;
	} else if (strcmp(a, "--slow") == 0) {
		ok = parse_count(v, 1, CONNS_MAX, &n);
		o->slow = n;
	} else if (strcmp(a, "--attackers") == 0) {
		ok = parse_count(v, 2, ATTACKERS_MAX, &n); /* replay needs a victim and a thief */
		o->attackers = (unsigned)n;
	} else if (strcmp(a, "--window") == 0) {
		ok = parse_count(v, 1, WINDOW_MAX, &n);
		o->window = (unsigned)n;
	} else if (strcmp(a, "--phases") == 0) {
		ok = parse_phases(v, o->phases);
	}
	return ok;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.seconds = 10,
	                      .rate = RATE_DEFAULT,
	                      .flood = FLOOD_DEFAULT,
	                      .slow = SLOW_DEFAULT,
	                      .attackers = ATTACKERS_DEFAULT,
	                      .window = WINDOW_DEFAULT,
	                      .args = {.relay_bin = SOTTO_RELAY_BIN, .tmp = "/tmp"}};
	for (int k = 0; k < PH_KINDS; k++)
		o->phases[k] = true;
	bench_parse_args(argc, argv, &o->args, usage, parse_opt, o);
}

int main(int argc, char **argv)
{
	static struct result res;
	struct options o;
	size_t n_phases = 0, want;

	parse_args(argc, argv, &o);
	if (sodium_init() < 0)
		bench_die("libsodium");
	if (access(o.args.relay_bin, X_OK) != 0)
		bench_die("sotto-relay not found (see --relay)");
	for (int k = 0; k < PH_KINDS; k++)
		n_phases += o.phases[k];
	bench_init("abuse", o.args.tmp, (unsigned)((double)n_phases * (o.seconds + 60) + 300));
	/* Raised before the relay starts: it inherits the limit, then raises its own. */
	want = o.flood > o.slow ? o.flood : o.slow;
	size_t budget = relay_raw_fd_budget(want, FD_MARGIN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY)
		res.fd_hard = (unsigned long long)rl.rlim_max;
	res.n_flood = o.flood < budget ? o.flood : budget;
	res.n_slow = o.slow < budget ? o.slow : budget;
	if (res.n_flood == 0 || res.n_slow == 0)
		bench_die("no descriptors left for the flood (RLIMIT_NOFILE)");
	if (!o.args.json)
		fprintf(stderr, "%zu phases of %.0f s, alice and bob at %.0f texts/s each way...\n",
		        n_phases, o.seconds, o.rate);
	measure(&o, &res);
	if (o.args.json)
		print_json(&o, &res);
	else
		print_table(&o, &res);
	return is_broken(&res) ? 1 : 0;
}
