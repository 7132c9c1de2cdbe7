/* SPDX-License-Identifier: MIT */
/*
 * relay_ping.c - a minimal relay client for tests/relay_daemon_test.sh:
 * dials the relay address given on the command line over the real
 * transport (TCP, Noise NK pinning the address key), sends one block
 * holding NEW and PING, and prints one line per answer ("IDS", "PONG").
 * Exits 0 once both answers arrived with the right correlation numbers,
 * 1 on any other outcome (including a guard timeout, so it never hangs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "crypto/x25519.h"
#include "net/conn.h"
#include "relay/cmd.h"

enum {
	GUARD_MS = 30000,
	CORR_NEW = 7,
	CORR_PING = 8,
};

struct ping {
	sotto_ctx *ctx;
	uv_timer_t guard;
	struct net_conn *conn;
	bool got_ids, got_pong, failed;
	sotto_err close_reason;
};

static bool add_cmd(struct relay_batch_writer *bw, const struct relay_cmd *cmd)
{
	size_t cap = 0, len = 0;
	uint8_t *slot = relay_batch_writer_slot(bw, &cap);

	return slot != NULL && relay_cmd_encode(slot, cap, &len, cmd, NULL, NULL) == SOTTO_OK &&
	       relay_batch_writer_commit(bw, len) == SOTTO_OK;
}

static void on_open(void *user, struct net_conn *conn, const uint8_t *session_id, uint16_t version)
{
	struct ping *p = user;
	uint8_t buf[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	struct relay_cmd cmd;
	struct x25519_keypair rk;
	size_t len = 0;
	(void)session_id, (void)version;

	relay_batch_writer_init(&bw, buf);
	x25519_keypair_generate(p->ctx, &rk);
	relay_cmd_init(&cmd, RELAY_CMD_NEW, CORR_NEW, NULL);
	memcpy(cmd.key, rk.pub, sizeof(cmd.key));
	x25519_keypair_clear(&rk);
	bool ok = add_cmd(&bw, &cmd);
	relay_cmd_init(&cmd, RELAY_CMD_PING, CORR_PING, NULL);
	ok = ok && add_cmd(&bw, &cmd) && relay_batch_writer_finish(&bw, &len) == SOTTO_OK &&
	     net_conn_send(conn, buf, len) == SOTTO_OK;
	if (!ok) {
		p->failed = true;
		net_conn_close(conn);
	}
}

static void on_block(void *user, struct net_conn *conn, const uint8_t *content, size_t len)
{
	struct ping *p = user;
	struct relay_batch batch;
	struct relay_resp resp;

	if (relay_batch_parse(&batch, content, len) != SOTTO_OK) {
		p->failed = true;
		net_conn_close(conn);
		return;
	}
	for (size_t i = 0; i < batch.n_tx; i++) {
		if (relay_resp_parse(&resp, batch.tx[i].buf, batch.tx[i].len) != SOTTO_OK) {
			p->failed = true;
		} else if (resp.code == RELAY_RESP_IDS && resp.corr == CORR_NEW) {
			p->got_ids = true;
			printf("IDS\n");
		} else if (resp.code == RELAY_RESP_PONG && resp.corr == CORR_PING) {
			p->got_pong = true;
			printf("PONG\n");
		} else {
			fprintf(stderr, "relay_ping: unexpected answer code %u\n",
			        (unsigned)resp.code);
			p->failed = true;
		}
	}
	if (p->failed || (p->got_ids && p->got_pong))
		net_conn_close(conn);
}

static void on_close(void *user, struct net_conn *conn, sotto_err reason)
{
	struct ping *p = user;
	(void)conn;

	p->conn = NULL;
	p->close_reason = reason;
	uv_close((uv_handle_t *)&p->guard, NULL);
}

static void on_guard(uv_timer_t *t)
{
	struct ping *p = t->data;

	fprintf(stderr, "relay_ping: no answer in time\n");
	p->failed = true;
	if (p->conn != NULL)
		net_conn_close(p->conn);
}

int main(int argc, char **argv)
{
	struct ping p;
	struct net_addr addr;
	uv_loop_t loop;
	struct net_conn_callbacks cb = {
	        .on_open = on_open, .on_block = on_block, .on_close = on_close, .user = &p};

	memset(&p, 0, sizeof(p));
	if (argc != 2 || net_addr_parse(argv[1], strlen(argv[1]), &addr) != SOTTO_OK) {
		fprintf(stderr, "usage: relay_ping sotto://KEY@HOST:PORT\n");
		return 2;
	}
	if (sotto_ctx_new(&p.ctx, NULL) != SOTTO_OK || uv_loop_init(&loop) != 0)
		return 1;
	if (uv_timer_init(&loop, &p.guard) != 0 ||
	    net_conn_dial(p.ctx, &loop, &addr, NULL, &cb, &p.conn) != SOTTO_OK)
		return 1;
	p.guard.data = &p;
	if (uv_timer_start(&p.guard, on_guard, GUARD_MS, 0) != 0)
		return 1;
	(void)uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	sotto_ctx_free(p.ctx);
	if (p.failed || !p.got_ids || !p.got_pong) {
		fprintf(stderr, "relay_ping: failed (connection ended: %s)\n",
		        sotto_strerror(p.close_reason));
		return 1;
	}
	return 0;
}
