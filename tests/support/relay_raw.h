/* SPDX-License-Identifier: MIT */
/*
 * relay_raw.h - raw relay clients for tests and benchmarks that abuse a real
 * relay: a client speaking the relay protocol over the real transport, with
 * hooks to send any block or transmission (well-formed or not), and floods
 * of raw TCP connections that never finish the handshake (silent,
 * slowloris, garbage msg1, bad length prefix).
 *
 * Everything runs on one libuv loop and one context, given in a struct
 * relay_raw_env that also collects broken expectations: these helpers never
 * abort, so a test turns env->n_errors into a failure and a benchmark into
 * a count. Test and benchmark code only; never linked into libsotto.
 *
 * Raw flood sockets use TCP keepalive (first probe after 1 s idle): a
 * socket whose final ACK the kernel dropped (listen queue overflow, SYN
 * cookies) believes it is connected while the relay never heard of it, and
 * only the probe's reset ends it. Such silent sockets are counted apart.
 */
#ifndef SOTTO_SUPPORT_RELAY_RAW_H
#define SOTTO_SUPPORT_RELAY_RAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "crypto/x25519.h"
#include "net/addr.h"
#include "net/conn.h"
#include "net/session.h"
#include "relay/cmd.h"

/* What the helpers share: the loop, the context, the relay, the errors. */
struct relay_raw_env {
	sotto_ctx *ctx;        /* borrowed */
	uv_loop_t *loop;       /* borrowed */
	struct net_addr addr;  /* the relay */
	unsigned n_errors;     /* broken expectations */
	char first_error[200]; /* the first one, with its line */
};

/* Records a broken expectation (the first one's text is kept). */
void relay_raw_fail(struct relay_raw_env *env, const char *what, int line);

#define RELAY_RAW_EXPECT(env, cond)                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			relay_raw_fail((env), #cond, __LINE__);                                    \
	} while (0)

/* ---- a relay client over the real transport ---- */

struct relay_raw_peer;
typedef void relay_raw_peer_fn(struct relay_raw_peer *p);
/* r is borrowed for the call; p->resp_tx holds the transmission it was parsed from. */
typedef void relay_raw_resp_fn(struct relay_raw_peer *p, const struct relay_resp *r);

struct relay_raw_peer {
	struct relay_raw_env *env;
	struct net_conn *conn; /* NULL once closed */
	uint8_t session_id[NET_SESSION_ID_LEN];
	relay_raw_peer_fn *on_open;
	relay_raw_resp_fn *on_resp;
	bool is_open, is_closed;
	sotto_err close_reason;
	unsigned long n_resps;  /* transmissions received */
	const uint8_t *resp_tx; /* during on_resp: the transmission r came from, borrowed */
	size_t resp_tx_len;
	void *scenario; /* the caller's, borrowed */
};

/* A queue as its recipient knows it. */
struct relay_raw_queue {
	uint8_t rid[RELAY_ID_LEN];
	uint8_t sid[RELAY_ID_LEN];
	struct x25519_keypair rk;
	uint8_t k_rauth[RELAY_KEY_LEN];
	uint8_t k_deliver[RELAY_KEY_LEN];
};

/* Clears p and dials env's relay; on_open and on_resp may be NULL. */
void relay_raw_peer_dial(struct relay_raw_env *env, struct relay_raw_peer *p, void *scenario,
                         relay_raw_peer_fn *on_open, relay_raw_resp_fn *on_resp);

/* Closes p's connection unless it is closed already. */
void relay_raw_peer_close(struct relay_raw_peer *p);

/* Sends content as one block, whatever it holds. */
void relay_raw_send_block(struct relay_raw_peer *p, const uint8_t *content, size_t len);

/* Sends one transmission (any bytes) alone in a well-formed batch. */
void relay_raw_send_tx(struct relay_raw_peer *p, const uint8_t *tx, size_t tx_len);

/*
 * Encodes cmd into tx (RELAY_CMD_MAX_LEN bytes), MAC'd under mac_key for p's
 * session unless mac_key is NULL; returns its length (0 on failure, counted).
 */
size_t relay_raw_encode(struct relay_raw_peer *p, uint8_t *tx, const struct relay_cmd *cmd,
                        const uint8_t *mac_key);

/* relay_raw_encode, then relay_raw_send_tx. */
void relay_raw_send(struct relay_raw_peer *p, const struct relay_cmd *cmd, const uint8_t *mac_key);

/* NEW with a fresh recipient key kept in q. */
void relay_raw_send_new(struct relay_raw_peer *p, struct relay_raw_queue *q, uint32_t corr);

/* The IDs of an IDS answer into q, and the keys derived from them. */
void relay_raw_take_ids(struct relay_raw_peer *p, struct relay_raw_queue *q,
                        const struct relay_resp *r);

/* A recipient command on q (msg_id for ACK, else NULL), MAC'd under its key. */
void relay_raw_send_recipient(struct relay_raw_peer *p, const struct relay_raw_queue *q,
                              enum relay_cmd_code code, uint32_t corr, const uint8_t *msg_id);

/* A SEND to q's unsecured sender ID (no MAC) with body[0..len). */
void relay_raw_send_body(struct relay_raw_peer *p, const struct relay_raw_queue *q, uint32_t corr,
                         const uint8_t *body, size_t len);

void relay_raw_send_ping(struct relay_raw_peer *p, uint32_t corr);

/* ---- raw TCP connections that never become clients ---- */

enum relay_raw_kind {
	RELAY_RAW_SILENT,     /* connects and never sends a byte */
	RELAY_RAW_SLOW,       /* a real msg1, one byte per relay_raw_flood_trickle */
	RELAY_RAW_GARBAGE,    /* msg1's length prefix and 52 random bytes */
	RELAY_RAW_BAD_PREFIX, /* a length prefix no frame has, then random bytes */
	RELAY_RAW_KINDS,
	RELAY_RAW_MIXED = RELAY_RAW_KINDS, /* a flood of all kinds in turn */
};

struct relay_raw_flood;

struct relay_raw_sock {
	struct relay_raw_flood *f;
	uv_tcp_t tcp;          /* data = this */
	uv_connect_t connect;  /* data = this */
	uv_write_t write;      /* one write at a time; data = this */
	uint64_t connected_ms; /* loop time the connect completed */
	uint8_t kind;          /* enum relay_raw_kind */
	uint8_t slow_pos;      /* slowloris: msg1 bytes written */
	bool is_connected, is_writing, is_ended;
};

struct relay_raw_flood {
	struct relay_raw_env *env;
	struct relay_raw_sock *socks; /* n of them, owned */
	size_t n, n_opened, n_connected, n_connect_failed, n_ended;
	size_t n_ended_by_relay[RELAY_RAW_KINDS];
	size_t n_silent_reset;  /* silent ones reset: never accepted (listen queue overflow) */
	size_t n_quick, n_late; /* silent and slow ones closed < or >= quick_ms after connect */
	uint64_t quick_ms;      /* the relay's handshake timeout, for n_quick/n_late */
	uint8_t kind;           /* enum relay_raw_kind, or RELAY_RAW_MIXED */
	uint8_t msg1[NET_MSG1_FRAME_LEN];
	uint8_t garbage[NET_MSG1_FRAME_LEN];
	uint8_t bad_prefix[NET_MSG1_FRAME_LEN];
};

/*
 * Prepares f for n sockets of kind (a real msg1 for env's relay key, the
 * garbage); quick_ms splits the closes counted in n_quick and n_late.
 * Errors: SOTTO_ERR_NOMEM, or the session's error making msg1.
 */
SOTTO_NODISCARD sotto_err relay_raw_flood_init(struct relay_raw_flood *f, struct relay_raw_env *env,
                                               size_t n, enum relay_raw_kind kind,
                                               uint64_t quick_ms);

/* Opens up to wave more sockets (all n at most); connects and writes go on in the loop. */
void relay_raw_flood_open(struct relay_raw_flood *f, size_t wave);

/* Slowloris: the next byte of msg1 on every slow socket still open. */
void relay_raw_flood_trickle(struct relay_raw_flood *f);

/* Closes every socket still open from our side (they count in n_ended, not as the relay's). */
void relay_raw_flood_end_all(struct relay_raw_flood *f);

/* True once every socket was opened and has ended, whoever ended it. */
bool relay_raw_flood_is_done(const struct relay_raw_flood *f);

/* Frees the sockets; call after the loop closed them (n_ended == n_opened). */
void relay_raw_flood_clear(struct relay_raw_flood *f);

/*
 * How many of want descriptors this process may open beside margin others:
 * raises the soft RLIMIT_NOFILE towards want + margin (within the hard
 * limit); child processes inherit it. Returns want, or less when the hard
 * limit is lower.
 */
size_t relay_raw_fd_budget(size_t want, size_t margin);

#endif /* SOTTO_SUPPORT_RELAY_RAW_H */
