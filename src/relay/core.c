/* SPDX-License-Identifier: MIT */
/*
 * core.c - the relay's command execution, without I/O (relay layer).
 *
 * Data structures:
 *
 *   relay_core    the store (borrowed), every client, the subscription table
 *                 (RID -> subscriber), the open store batch, the counters.
 *   relay_client  one transport connection: its session id, its output
 *                 callback, its held answers and its subscriptions.
 *   relay_sub     one subscribed queue: who receives its pushes, whether a
 *                 MSG is out and unacknowledged (and which), whether a push
 *                 is due (held for the next flush, or waiting while its
 *                 client is blocked by a busy output).
 *   held          one answer waiting for the flush: an encoded transmission
 *                 (and whether it promises durability), or a GET / push to
 *                 be read from the store once the batch has committed.
 *
 * Invariants: every store write happens inside the core's batch; an answer
 * is emitted only by flush, after the commit; a client's held array always
 * has room for the answers of the command being executed (held_room runs
 * before the command changes anything, and flushes early rather than fail);
 * a sub is in exactly one client's list and in the table.
 *
 * Delivery follows §4.4: a queue delivers its oldest message, so the message
 * "delivered" is always the oldest one, and an ACK is accepted exactly when
 * it names the oldest message (message ids are random: only a recipient who
 * received that message can name it).
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "core/bytes.h"
#include "core/ctx.h"
#include "core/err.h"
#include "crypto/ct.h"
#include "crypto/x25519.h"
#include "relay/core.h"

enum held_kind {
	HELD_RESP = 1, /* tx holds the encoded answer */
	HELD_GET = 2,  /* answer GET corr on rid after the commit */
	HELD_PUSH = 3, /* push the next MSG of rid if its sub still wants it */
};

enum {
	HELD_TX_MAX = RELAY_RESP_HEADER_LEN + RELAY_IDS_BODY_LEN, /* IDS, the longest held */
	HELD_MIN = 8,                  /* held entries a client's first answer allocates */
	SUB_BUCKETS_MIN = 64,          /* subscription table size at start; a power of two */
	RATE_WINDOW_MS = 60000,        /* the NEW rate-limit window */
	DUMMY_LEN = 2 * RELAY_KEY_LEN, /* a MAC key, then an X25519 private key */
	RESP_ENTITY_OFFSET = RELAY_CORR_LEN + 1,
};

/* held.gen of an entry held in the current turn, until its flush places it. */
#define GEN_THIS_TURN UINT64_MAX

struct held {
	uint64_t gen;              /* emitted once commit number gen is durable */
	uint8_t kind;              /* enum held_kind */
	bool is_durable;           /* HELD_RESP: an OK or IDS that needs the commit */
	bool is_failed;            /* HELD_RESP, is_durable: its commit failed: ERR INTERNAL */
	bool is_deferred;          /* HELD_PUSH: its message was not durable yet; kept */
	uint8_t tx_len;            /* HELD_RESP: bytes in tx */
	uint32_t corr;             /* HELD_GET */
	uint8_t rid[RELAY_ID_LEN]; /* HELD_GET, HELD_PUSH */
	uint8_t tx[HELD_TX_MAX];   /* HELD_RESP */
};

struct relay_sub {
	uint8_t rid[RELAY_ID_LEN];
	struct relay_client *client;     /* the subscriber, borrowed */
	struct relay_sub *hnext;         /* table chain */
	struct relay_sub *cprev, *cnext; /* the subscriber's list */
	/*
	 * The push window (§4.4): the oldest n_out messages of the queue are out
	 * and not acknowledged, the newest of them is out_seq; the next push is
	 * the first message after it.
	 */
	uint64_t out_seq;   /* valid while n_out > 0 */
	uint8_t n_out;      /* <= RELAY_PUSH_WINDOW */
	uint8_t n_in_block; /* of those, pushed in the block being built */
	uint64_t block_seq; /* out_seq before the block being built */
	bool want_push;     /* a push is due: held for client, or deferred while it is blocked */
	bool is_in_block;   /* pushed in the block being built (undone if it is refused) */
	struct relay_sub *bnext; /* the block's pushed subs, while is_in_block */
};

struct relay_client {
	struct relay_core *core; /* borrowed */
	uint8_t session_id[RELAY_SESSION_ID_LEN];
	relay_output_fn *output;
	void *user;
	struct held *held; /* owned, cap_held entries */
	size_t n_held, cap_held;
	struct relay_sub *subs;             /* head of this client's subscriptions */
	struct relay_client *prev, *next;   /* every client of the core */
	struct relay_client *dprev, *dnext; /* clients with held answers */
	bool is_dirty, is_dead;
	bool is_blocked;        /* its output refused a push-only block: pushes wait for unblock */
	bool is_push_phase;     /* client_emit is emitting its pushes */
	bool is_push_block;     /* the block being offered holds pushes only */
	uint64_t rate_start_ms; /* ctx clock: start of the current NEW window */
	uint32_t rate_count;    /* NEW in that window */
	/* SIDs whose SEND got QUOTA and that take no SEND without RESUME (§4.4). */
	uint8_t (*stuck)[RELAY_ID_LEN]; /* owned, RELAY_STUCK_MAX entries once needed */
	size_t n_stuck;
};

struct relay_core {
	struct sotto_ctx *ctx;
	struct relay_store *store;       /* borrowed */
	struct relay_core_config config; /* defaults resolved */
	bool in_batch;                   /* a store batch is open */
	bool is_flushing;
	/* Durability (see "Pipelined sync" above). */
	uint64_t n_committed;       /* batches committed */
	uint64_t n_synced;          /* of those, the first n_synced are durable */
	uint64_t sync_covers;       /* n_committed when the running sync started */
	uint64_t sync_covers_seq;   /* seq_committed_max then */
	uint64_t seq_batch_max;     /* largest message seq added in the open batch */
	uint64_t seq_committed_max; /* largest message seq added in a committed batch */
	uint64_t seq_unsynced_min;  /* messages with seq >= this may not be durable yet */
	bool is_sync_running;       /* sync_start was called, relay_core_sync_done not yet */
	bool is_emit_due;           /* some held entry may have become ready */
	bool is_broken;             /* a sync failed: nothing is confirmed any more */
	struct relay_client *clients;
	struct relay_client *dirty_head, *dirty_tail;
	struct relay_sub **buckets; /* owned, n_buckets chains */
	size_t n_buckets, n_subs;
	uint8_t *dummy; /* secure memory, DUMMY_LEN: keys for unknown entities */
	struct relay_stats stats;
	uint8_t block[RELAY_BLOCK_CONTENT_MAX]; /* the output batch being built */
	struct relay_store_msg msg;             /* the message being read */
	struct relay_sub *block_subs;           /* subs pushed in the block being built */
};

static sotto_err core_flush(struct relay_core *core);

static uint64_t system_wall_clock(void *user)
{
	struct timespec ts;

	(void)user;
	if (timespec_get(&ts, TIME_UTC) != TIME_UTC || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec;
}

uint64_t relay_core_now_s(struct relay_core *core)
{
	return core->config.wall_clock(core->config.wall_clock_user);
}

/* ---- the subscription table ---- */

/*
 * RIDs are drawn by this relay's RNG and only a SUB with a valid MAC enters
 * the table, so peers cannot choose keys that collide: plain bits suffice.
 */
static size_t sub_slot(const struct relay_core *core, const uint8_t rid[static RELAY_ID_LEN])
{
	return (size_t)bytes_load_le64(rid) & (core->n_buckets - 1);
}

static struct relay_sub *sub_find(const struct relay_core *core,
                                  const uint8_t rid[static RELAY_ID_LEN])
{
	for (struct relay_sub *s = core->buckets[sub_slot(core, rid)]; s != NULL; s = s->hnext) {
		if (memcmp(s->rid, rid, RELAY_ID_LEN) == 0)
			return s;
	}
	return NULL;
}

/* Doubles the table; on NOMEM it keeps the old one (chains just grow). */
static void sub_grow(struct relay_core *core)
{
	size_t n = core->n_buckets * 2;
	struct relay_sub **b = ctx_calloc(core->ctx, n, sizeof(*b));
	struct relay_sub **old = core->buckets;
	size_t n_old = core->n_buckets;

	if (b == NULL)
		return;
	core->buckets = b;
	core->n_buckets = n;
	for (size_t i = 0; i < n_old; i++) {
		while (old[i] != NULL) {
			struct relay_sub *s = old[i];
			size_t k = sub_slot(core, s->rid);
			old[i] = s->hnext;
			s->hnext = b[k];
			b[k] = s;
		}
	}
	ctx_free(core->ctx, old);
}

static void sub_link_client(struct relay_sub *s, struct relay_client *c)
{
	s->client = c;
	s->cprev = NULL;
	s->cnext = c->subs;
	if (c->subs != NULL)
		c->subs->cprev = s;
	c->subs = s;
}

static void sub_unlink_client(struct relay_sub *s)
{
	if (s->cprev != NULL)
		s->cprev->cnext = s->cnext;
	else
		s->client->subs = s->cnext;
	if (s->cnext != NULL)
		s->cnext->cprev = s->cprev;
	s->cprev = s->cnext = NULL;
}

static sotto_err sub_add(struct relay_core *core, struct relay_client *c,
                         const uint8_t rid[static RELAY_ID_LEN], struct relay_sub **out)
{
	struct relay_sub *s;
	size_t k;

	*out = NULL;
	if (core->n_subs >= core->n_buckets)
		sub_grow(core);
	if ((s = ctx_calloc(core->ctx, 1, sizeof(*s))) == NULL)
		return SOTTO_ERR_NOMEM;
	memcpy(s->rid, rid, RELAY_ID_LEN);
	k = sub_slot(core, rid);
	s->hnext = core->buckets[k];
	core->buckets[k] = s;
	core->n_subs++;
	sub_link_client(s, c);
	*out = s;
	return SOTTO_OK;
}

static void sub_remove(struct relay_core *core, struct relay_sub *s)
{
	struct relay_sub **pp = &core->buckets[sub_slot(core, s->rid)];

	while (*pp != NULL && *pp != s)
		pp = &(*pp)->hnext;
	if (SOTTO_INVARIANT(*pp == s))
		*pp = s->hnext;
	sub_unlink_client(s);
	core->n_subs--;
	ctx_free(core->ctx, s);
}

/* ---- held answers ---- */

static void dirty_link(struct relay_client *c)
{
	struct relay_core *core = c->core;

	if (c->is_dirty)
		return;
	c->is_dirty = true;
	c->dnext = NULL;
	c->dprev = core->dirty_tail;
	if (core->dirty_tail != NULL)
		core->dirty_tail->dnext = c;
	else
		core->dirty_head = c;
	core->dirty_tail = c;
}

static void dirty_unlink(struct relay_client *c)
{
	struct relay_core *core = c->core;

	if (!c->is_dirty)
		return;
	c->is_dirty = false;
	if (c->dprev != NULL)
		c->dprev->dnext = c->dnext;
	else
		core->dirty_head = c->dnext;
	if (c->dnext != NULL)
		c->dnext->dprev = c->dprev;
	else
		core->dirty_tail = c->dprev;
	c->dprev = c->dnext = NULL;
}

/* Replaces c's held array with one of cap entries (allocate, copy, free). */
static sotto_err held_resize(struct relay_client *c, size_t cap)
{
	struct held *h = ctx_calloc(c->core->ctx, cap, sizeof(*h));

	if (h == NULL)
		return SOTTO_ERR_NOMEM;
	if (c->n_held > 0)
		memcpy(h, c->held, c->n_held * sizeof(*h));
	ctx_free(c->core->ctx, c->held);
	c->held = h;
	c->cap_held = cap;
	return SOTTO_OK;
}

/* Doubles c's held array (from nothing: HELD_MIN) up to RELAY_HELD_MAX, if that makes room for n.
 */
static sotto_err held_grow(struct relay_client *c, size_t n)
{
	size_t cap = c->cap_held == 0 ? HELD_MIN : c->cap_held * 2;

	if (cap > RELAY_HELD_MAX)
		cap = RELAY_HELD_MAX;
	if (c->n_held + n > cap)
		return SOTTO_ERR_TOO_LARGE;
	return held_resize(c, cap);
}

/*
 * Makes room for n more held answers in c before a command changes
 * anything: grows the array up to RELAY_HELD_MAX, and past that (or without
 * memory) flushes now, which empties every client, then allocates again if
 * the flush freed the array. Without memory even then, held_add drops c.
 */
static void held_room(struct relay_client *c, size_t n)
{
	if (c->is_dead || c->n_held + n <= c->cap_held)
		return;
	if (held_grow(c, n) == SOTTO_OK)
		return;
	sotto_err rc = core_flush(c->core); /* answers went out; errors were answered */
	(void)rc;
	if (!c->is_dead && c->n_held + n > c->cap_held)
		(void)held_grow(c, n);
}

/* The next held entry of c, or NULL for a dead client (its answers are void). */
static struct held *held_add(struct relay_client *c, enum held_kind kind)
{
	struct held *h;

	if (c->is_dead)
		return NULL;
	if (c->n_held >= c->cap_held) {
		/* held_room found no memory even after a flush: drop the client, never an answer */
		c->is_dead = true;
		c->core->stats.n_clients_dropped++;
		return NULL;
	}
	h = &c->held[c->n_held++];
	memset(h, 0, sizeof(*h));
	h->gen = GEN_THIS_TURN;
	h->kind = (uint8_t)kind;
	dirty_link(c);
	return h;
}

/* Holds an OK, NONE, END or PONG. */
static void hold_simple(struct relay_client *c, enum relay_resp_code code, uint32_t corr,
                        const uint8_t *SOTTO_NULLABLE entity, bool is_durable)
{
	struct held *h = held_add(c, HELD_RESP);
	size_t len;

	if (h == NULL)
		return;
	if (relay_resp_encode_simple(h->tx, sizeof(h->tx), &len, code, corr, entity) != SOTTO_OK) {
		c->n_held--; /* cannot happen: the codes and sizes are ours */
		return;
	}
	h->tx_len = (uint8_t)len;
	h->is_durable = is_durable;
}

static void hold_err(struct relay_client *c, uint32_t corr, const uint8_t *SOTTO_NULLABLE entity,
                     enum relay_err err)
{
	struct held *h;
	size_t len;

	if (err < RELAY_ERR_AUTH || err > RELAY_ERR_RATE)
		err = RELAY_ERR_INTERNAL;
	c->core->stats.n_errors[err]++;
	if ((h = held_add(c, HELD_RESP)) == NULL)
		return;
	if (relay_resp_encode_err(h->tx, sizeof(h->tx), &len, corr, entity, err) != SOTTO_OK) {
		c->n_held--;
		return;
	}
	h->tx_len = (uint8_t)len;
}

static void hold_get(struct relay_client *c, uint32_t corr, const uint8_t rid[static RELAY_ID_LEN])
{
	struct held *h = held_add(c, HELD_GET);

	if (h == NULL)
		return;
	h->corr = corr;
	memcpy(h->rid, rid, RELAY_ID_LEN);
}

/*
 * Asks for sub's next MSG at the flush (its client must have room). A push
 * for a message written in this turn (is_new_msg) waits for the turn's
 * sync; any other may go at once, if its message turns out durable.
 */
static void hold_push(struct relay_sub *s, bool is_new_msg)
{
	struct held *h = held_add(s->client, HELD_PUSH);

	if (h == NULL)
		return;
	if (!is_new_msg)
		h->gen = 0;
	memcpy(h->rid, s->rid, RELAY_ID_LEN);
	s->want_push = true;
}

/* Opens the turn's batch unless it is open: every store write goes through it. */
static sotto_err core_batch(struct relay_core *core)
{
	sotto_err rc;

	if (core->in_batch)
		return SOTTO_OK;
	if ((rc = relay_store_begin(core->store)) != SOTTO_OK)
		return rc;
	core->in_batch = true;
	return SOTTO_OK;
}

/* ---- authorisation ---- */

/*
 * Loads the queue named by a recipient command into q and checks the MAC
 * under its K_rauth, or under the dummy key when there is no such queue: an
 * unknown RID and a wrong MAC cost one lookup and one MAC each and answer
 * the same AUTH.
 */
static enum relay_err auth_recipient(struct relay_client *c, const struct relay_cmd *cmd,
                                     struct relay_store_queue *q)
{
	struct relay_core *core = c->core;
	sotto_err rc = relay_store_queue_by_rid(core->store, cmd->entity, q);
	bool is_found = rc == SOTTO_OK;
	bool is_mac_ok;

	if (!is_found && rc != SOTTO_ERR_NOT_FOUND)
		return RELAY_ERR_INTERNAL;
	is_mac_ok = relay_cmd_verify(cmd, is_found ? q->k_rauth : core->dummy, c->session_id) ==
	            SOTTO_OK;
	return (is_found & is_mac_ok) ? RELAY_ERR_NONE : RELAY_ERR_AUTH;
}

/* Loads the queue with sender ID sid into q; *is_found says whether it exists. */
static enum relay_err load_sender(struct relay_core *core, const struct relay_cmd *cmd,
                                  struct relay_store_queue *q, bool *is_found)
{
	sotto_err rc = relay_store_queue_by_sid(core->store, cmd->entity, q);

	*is_found = rc == SOTTO_OK;
	if (!*is_found && rc != SOTTO_ERR_NOT_FOUND)
		return RELAY_ERR_INTERNAL;
	return RELAY_ERR_NONE;
}

/* ---- commands (§4.3) ---- */

static bool rate_allow(struct relay_client *c)
{
	uint64_t now = ctx_now_ms(c->core->ctx);

	if (now - c->rate_start_ms >= RATE_WINDOW_MS) {
		c->rate_start_ms = now;
		c->rate_count = 0;
	}
	if (c->rate_count >= c->core->config.new_per_minute)
		return false;
	c->rate_count++;
	return true;
}

/* Stores q under fresh random IDs, drawing again if the store holds them already. */
static sotto_err queue_add_fresh(struct relay_core *core, struct relay_store_queue *q)
{
	sotto_err rc = SOTTO_ERR_INTERNAL;

	for (unsigned i = 0; i < RELAY_NEW_ID_TRIES_MAX; i++) {
		ctx_random(core->ctx, q->rid, RELAY_ID_LEN);
		ctx_random(core->ctx, q->sid, RELAY_ID_LEN);
		if ((rc = relay_store_queue_add(core->store, q)) != SOTTO_ERR_USED)
			break;
	}
	return rc;
}

/* NEW: rk -> IDS (RID, SID, srk, ssk); keeps K_rauth, K_deliver and ssk_priv. */
static enum relay_err cmd_new(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_core *core = c->core;
	struct relay_store_queue q;
	struct x25519_keypair srk, ssk;
	enum relay_err err = RELAY_ERR_INTERNAL;
	struct held *h;
	sotto_err rc;
	size_t len;

	memset(&q, 0, sizeof(q));
	memset(&srk, 0, sizeof(srk));
	memset(&ssk, 0, sizeof(ssk));
	if (!rate_allow(c)) {
		err = RELAY_ERR_RATE;
		goto out;
	}
	x25519_keypair_generate(core->ctx, &srk);
	x25519_keypair_generate(core->ctx, &ssk);
	/* Sr = DH(srk_priv, rk); K_rauth, K_deliver */
	rc = relay_keys_recipient(q.k_rauth, q.k_deliver, srk.priv, cmd->key);
	if (rc != SOTTO_OK) {
		err = rc == SOTTO_ERR_WEAK_KEY ? RELAY_ERR_CMD : RELAY_ERR_INTERNAL;
		goto out;
	}
	memcpy(q.ssk_priv, ssk.priv, RELAY_KEY_LEN);
	q.has_ssk_priv = true;
	q.status = RELAY_STORE_ACTIVE;
	q.created_s = relay_core_now_s(core);
	if (core_batch(core) != SOTTO_OK || queue_add_fresh(core, &q) != SOTTO_OK)
		goto out;
	if ((h = held_add(c, HELD_RESP)) != NULL &&
	    relay_resp_encode_ids(h->tx, sizeof(h->tx), &len, cmd->corr, q.rid, q.sid, srk.pub,
	                          ssk.pub) == SOTTO_OK) {
		h->tx_len = (uint8_t)len;
		h->is_durable = true;
	}
	core->stats.n_queues_created++;
	err = RELAY_ERR_NONE;
out:
	x25519_keypair_clear(&srk);
	x25519_keypair_clear(&ssk);
	relay_store_queue_clear(&q);
	return err;
}

/* Secures queue rid with k_sauth and holds the durable OK (KEY, SKEY). */
static enum relay_err queue_secure(struct relay_client *c, const struct relay_cmd *cmd,
                                   const uint8_t rid[static RELAY_ID_LEN],
                                   const uint8_t k_sauth[static RELAY_KEY_LEN])
{
	struct relay_core *core = c->core;
	sotto_err rc;

	if (core_batch(core) != SOTTO_OK)
		return RELAY_ERR_INTERNAL;
	rc = relay_store_queue_secure(core->store, rid, k_sauth);
	if (rc == SOTTO_ERR_STATE || rc == SOTTO_ERR_NOT_FOUND)
		return RELAY_ERR_AUTH; /* a second KEY/SKEY */
	if (rc != SOTTO_OK)
		return RELAY_ERR_INTERNAL;
	hold_simple(c, RELAY_RESP_OK, cmd->corr, cmd->entity, true);
	return RELAY_ERR_NONE;
}

/* KEY (recipient): K_sauth = KDF(DH(ssk_priv, sk)). */
static enum relay_err cmd_key(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_core *core = c->core;
	struct relay_store_queue q;
	uint8_t k_sauth[RELAY_KEY_LEN];
	enum relay_err err;
	sotto_err rc;

	memset(&q, 0, sizeof(q));
	memset(k_sauth, 0, sizeof(k_sauth));
	if ((err = auth_recipient(c, cmd, &q)) != RELAY_ERR_NONE)
		goto out;
	/* The same DH whether or not the queue can still be secured. */
	rc = relay_keys_sender(k_sauth, q.has_ssk_priv ? q.ssk_priv : core->dummy + RELAY_KEY_LEN,
	                       cmd->key);
	if (rc != SOTTO_OK) {
		err = rc == SOTTO_ERR_WEAK_KEY ? RELAY_ERR_CMD : RELAY_ERR_INTERNAL;
		goto out;
	}
	if (!q.has_ssk_priv) {
		err = RELAY_ERR_AUTH;
		goto out;
	}
	err = queue_secure(c, cmd, q.rid, k_sauth);
out:
	sodium_memzero(k_sauth, sizeof(k_sauth));
	relay_store_queue_clear(&q);
	return err;
}

/*
 * SKEY (sender): the MAC under K_sauth derived from the carried sk proves
 * possession of sk_priv. Unknown SID, secured or suspended queue, low-order
 * sk and wrong MAC all do one lookup, one DH and one MAC and answer AUTH.
 */
static enum relay_err cmd_skey(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_core *core = c->core;
	struct relay_store_queue q;
	uint8_t k_sauth[RELAY_KEY_LEN];
	enum relay_err err;
	bool is_found, is_usable, is_dh_ok, is_mac_ok;
	sotto_err rc;

	memset(&q, 0, sizeof(q));
	memset(k_sauth, 0, sizeof(k_sauth));
	if ((err = load_sender(core, cmd, &q, &is_found)) != RELAY_ERR_NONE)
		goto out;
	is_usable = is_found && q.has_ssk_priv;
	rc = relay_keys_sender(k_sauth, is_usable ? q.ssk_priv : core->dummy + RELAY_KEY_LEN,
	                       cmd->key);
	is_dh_ok = rc == SOTTO_OK;
	if (!is_dh_ok && rc != SOTTO_ERR_WEAK_KEY) {
		err = RELAY_ERR_INTERNAL;
		goto out;
	}
	is_mac_ok =
	        relay_cmd_verify(cmd, is_dh_ok ? k_sauth : core->dummy, c->session_id) == SOTTO_OK;
	if (!(is_usable & is_dh_ok & is_mac_ok)) {
		err = RELAY_ERR_AUTH;
		goto out;
	}
	err = queue_secure(c, cmd, q.rid, k_sauth);
out:
	sodium_memzero(k_sauth, sizeof(k_sauth));
	relay_store_queue_clear(&q);
	return err;
}

/* Stores a SEND that passed every check, and wakes the queue's subscriber. */
static enum relay_err send_store(struct relay_client *c, const struct relay_cmd *cmd,
                                 const struct relay_store_queue *q)
{
	struct relay_core *core = c->core;
	struct relay_sub *sub = sub_find(core, q->rid);
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	uint64_t seq;

	if (sub != NULL && sub->n_out < RELAY_PUSH_WINDOW && !sub->want_push)
		held_room(sub->client,
		          1); /* before the write: an early flush commits nothing of ours */
	ctx_random(core->ctx, msg_id, sizeof(msg_id));
	if (core_batch(core) != SOTTO_OK ||
	    relay_store_msg_add(core->store, q->rid, msg_id, relay_core_now_s(core),
	                        0 /* RESUME is not stored */, cmd->body, cmd->body_len,
	                        &seq) != SOTTO_OK)
		return RELAY_ERR_INTERNAL;
	core->stats.n_msgs_in++;
	if (seq > core->seq_batch_max)
		core->seq_batch_max = seq;
	if (seq < core->seq_unsynced_min)
		core->seq_unsynced_min = seq;
	hold_simple(c, RELAY_RESP_OK, cmd->corr, cmd->entity, true);
	if (sub != NULL && sub->n_out < RELAY_PUSH_WINDOW && !sub->want_push)
		hold_push(sub, true);
	return RELAY_ERR_NONE;
}

/* ---- QUOTA stays until RESUME (§4.4) ---- */

/* The index of sid among c's stuck queues, or n_stuck. */
static size_t stuck_find(const struct relay_client *c, const uint8_t sid[static RELAY_ID_LEN])
{
	size_t i;

	for (i = 0; i < c->n_stuck; i++)
		if (memcmp(c->stuck[i], sid, RELAY_ID_LEN) == 0)
			break;
	return i;
}

static void stuck_remove(struct relay_client *c, size_t i)
{
	c->n_stuck--;
	if (i != c->n_stuck)
		memcpy(c->stuck[i], c->stuck[c->n_stuck], RELAY_ID_LEN);
}

/* Marks sid stuck for c; a client with too many (or no memory for them) is dropped. */
static void stuck_add(struct relay_client *c, const uint8_t sid[static RELAY_ID_LEN])
{
	if (stuck_find(c, sid) < c->n_stuck)
		return;
	if (c->stuck == NULL)
		c->stuck = ctx_calloc(c->core->ctx, RELAY_STUCK_MAX, sizeof(*c->stuck));
	if (c->stuck == NULL || c->n_stuck >= RELAY_STUCK_MAX) {
		/* Forgetting one would let a later SEND overtake a refused one: close instead. */
		c->is_dead = true;
		c->core->stats.n_clients_dropped++;
		return;
	}
	memcpy(c->stuck[c->n_stuck++], sid, RELAY_ID_LEN);
}

/*
 * SEND: no MAC while the queue is unsecured, K_sauth once secured, AUTH
 * when unknown or suspended. The MAC is computed in every case (under the
 * dummy key when there is no K_sauth) so that the refusals cost the same.
 */
static enum relay_err cmd_send(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_core *core = c->core;
	struct relay_store_queue q;
	enum relay_err err;
	bool is_found, is_open, is_mac_ok;
	size_t stuck;
	uint32_t n;

	memset(&q, 0, sizeof(q));
	if ((err = load_sender(core, cmd, &q, &is_found)) != RELAY_ERR_NONE)
		goto out;
	is_mac_ok = relay_cmd_verify(cmd, is_found && q.has_k_sauth ? q.k_sauth : core->dummy,
	                             c->session_id) == SOTTO_OK;
	is_open = is_found && (q.status == RELAY_STORE_ACTIVE ||
	                       (q.status == RELAY_STORE_SECURED && is_mac_ok));
	if (!is_open) {
		err = RELAY_ERR_AUTH;
		goto out;
	}
	/* After a QUOTA, SENDs already on their way behind it must not overtake it. */
	if ((stuck = stuck_find(c, cmd->entity)) < c->n_stuck) {
		if ((cmd->flags & RELAY_SEND_RESUME) == 0) {
			err = RELAY_ERR_QUOTA;
			goto out;
		}
		stuck_remove(c, stuck);
	}
	if (relay_store_msg_count(core->store, q.rid, &n) != SOTTO_OK) {
		err = RELAY_ERR_INTERNAL;
		goto out;
	}
	if (n >= core->config.quota) {
		err = RELAY_ERR_QUOTA;
		stuck_add(c, cmd->entity);
		goto out;
	}
	err = send_store(c, cmd, &q);
out:
	relay_store_queue_clear(&q);
	return err;
}

/* SUB: this client becomes the queue's one subscriber; the old one gets END. */
static enum relay_err cmd_sub(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_core *core = c->core;
	struct relay_store_queue q;
	struct relay_sub *sub;
	enum relay_err err;

	memset(&q, 0, sizeof(q));
	if ((err = auth_recipient(c, cmd, &q)) != RELAY_ERR_NONE)
		goto out;
	sub = sub_find(core, q.rid);
	if (sub == NULL) {
		if (sub_add(core, c, q.rid, &sub) != SOTTO_OK) {
			err = RELAY_ERR_INTERNAL;
			goto out;
		}
	} else if (sub->client != c) {
		held_room(sub->client, 1);
		hold_simple(sub->client, RELAY_RESP_END, 0, q.rid, false);
		sub_unlink_client(sub);
		sub_link_client(sub, c);
	}
	sub->n_out = 0; /* what is out and unacknowledged goes out again */
	hold_simple(c, RELAY_RESP_OK, cmd->corr, cmd->entity, false);
	hold_push(sub, false); /* even if a push is held for a former subscriber */
out:
	relay_store_queue_clear(&q);
	return err;
}

/* GET: answered from the store after the commit (MSG or NONE). */
static enum relay_err cmd_get(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_store_queue q;
	enum relay_err err;

	struct relay_sub *sub;

	memset(&q, 0, sizeof(q));
	if ((err = auth_recipient(c, cmd, &q)) != RELAY_ERR_NONE)
		goto out;
	sub = sub_find(c->core, q.rid);
	if (sub != NULL && sub->client == c)
		held_room(c, 2);
	hold_get(c, cmd->corr, q.rid);
	if (sub != NULL && sub->client == c) {
		/* The subscriber starts over: pushes resume from the oldest after this answer. */
		sub->n_out = 0;
		if (!sub->want_push)
			hold_push(sub, false);
	}
out:
	relay_store_queue_clear(&q);
	return err;
}

/* ACK: only the oldest message (the one delivered) may be acknowledged. */
static enum relay_err ack_delete(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_core *core = c->core;
	struct relay_sub *sub;
	sotto_err rc = relay_store_msg_first(core->store, cmd->entity, &core->msg);

	if (rc == SOTTO_ERR_NOT_FOUND)
		return RELAY_ERR_NO_MSG;
	if (rc != SOTTO_OK)
		return RELAY_ERR_INTERNAL;
	if (!ct_equal(core->msg.msg_id, cmd->msg_id, RELAY_MSG_ID_LEN))
		return RELAY_ERR_NO_MSG;
	sub = sub_find(core, cmd->entity);
	if (sub != NULL && !sub->want_push)
		held_room(sub->client, 1);
	if (core_batch(core) != SOTTO_OK)
		return RELAY_ERR_INTERNAL;
	rc = relay_store_msg_delete(core->store, cmd->entity, cmd->msg_id);
	if (rc == SOTTO_ERR_NOT_FOUND)
		return RELAY_ERR_NO_MSG;
	if (rc != SOTTO_OK)
		return RELAY_ERR_INTERNAL;
	core->stats.n_msgs_acked++;
	hold_simple(c, RELAY_RESP_OK, cmd->corr, cmd->entity, true);
	if (sub != NULL) {
		if (sub->n_out > 0)
			sub->n_out--; /* the oldest one out */
		if (!sub->want_push)
			hold_push(sub, false);
	}
	return RELAY_ERR_NONE;
}

/* KEY-less recipient commands that change the queue: ACK, OFF, DEL. */
static enum relay_err cmd_recipient_write(struct relay_client *c, const struct relay_cmd *cmd)
{
	struct relay_core *core = c->core;
	struct relay_store_queue q;
	struct relay_sub *sub;
	enum relay_err err;
	sotto_err rc;

	memset(&q, 0, sizeof(q));
	if ((err = auth_recipient(c, cmd, &q)) != RELAY_ERR_NONE)
		goto out;
	if (cmd->code == RELAY_CMD_ACK) {
		err = ack_delete(c, cmd);
		goto out;
	}
	if (core_batch(core) != SOTTO_OK) {
		err = RELAY_ERR_INTERNAL;
		goto out;
	}
	if (cmd->code == RELAY_CMD_OFF)
		rc = relay_store_queue_suspend(core->store, q.rid);
	else
		rc = relay_store_queue_delete(core->store, q.rid);
	if (rc != SOTTO_OK) {
		err = rc == SOTTO_ERR_NOT_FOUND ? RELAY_ERR_AUTH : RELAY_ERR_INTERNAL;
		goto out;
	}
	if (cmd->code == RELAY_CMD_DEL && (sub = sub_find(core, q.rid)) != NULL)
		sub_remove(core, sub);
	hold_simple(c, RELAY_RESP_OK, cmd->corr, cmd->entity, true);
out:
	relay_store_queue_clear(&q);
	return err;
}

/* Executes one transmission; every outcome holds exactly one answer. */
static void execute(struct relay_client *c, const uint8_t *tx, size_t len)
{
	struct relay_cmd cmd;
	enum relay_err err;

	held_room(c, 2); /* an answer and a push to ourselves at most */
	if (c->is_dead)
		return; /* the early flush found its output closed */
	c->core->stats.n_commands++;
	if (relay_cmd_parse(&cmd, tx, len) != SOTTO_OK) {
		hold_err(c, cmd.corr, cmd.entity,
		         cmd.err != RELAY_ERR_NONE ? cmd.err : RELAY_ERR_BLOCK);
		return;
	}
	switch (cmd.code) {
	case RELAY_CMD_NEW: err = cmd_new(c, &cmd); break;
	case RELAY_CMD_KEY: err = cmd_key(c, &cmd); break;
	case RELAY_CMD_SKEY: err = cmd_skey(c, &cmd); break;
	case RELAY_CMD_SEND: err = cmd_send(c, &cmd); break;
	case RELAY_CMD_SUB: err = cmd_sub(c, &cmd); break;
	case RELAY_CMD_GET: err = cmd_get(c, &cmd); break;
	case RELAY_CMD_ACK:
	case RELAY_CMD_OFF:
	case RELAY_CMD_DEL: err = cmd_recipient_write(c, &cmd); break;
	case RELAY_CMD_PING:
		hold_simple(c, RELAY_RESP_PONG, cmd.corr, NULL, false);
		err = RELAY_ERR_NONE;
		break;
	default: err = RELAY_ERR_CMD; break;
	}
	if (err != RELAY_ERR_NONE)
		hold_err(c, cmd.corr, cmd.entity, err);
}

sotto_err relay_client_feed(struct relay_client *c, const uint8_t *content, size_t len)
{
	struct relay_batch batch;

	if (c->is_dead)
		return SOTTO_ERR_STATE;
	c->core->stats.n_blocks_in++;
	if (relay_batch_parse(&batch, content, len) != SOTTO_OK) {
		held_room(c, 1);
		hold_err(c, 0, NULL, RELAY_ERR_BLOCK);
		return SOTTO_OK;
	}
	for (size_t i = 0; i < batch.n_tx && !c->is_dead; i++)
		execute(c, batch.tx[i].buf, batch.tx[i].len);
	return c->is_dead ? SOTTO_ERR_STATE : SOTTO_OK;
}

bool relay_client_is_dead(const struct relay_client *c)
{
	return c->is_dead;
}

bool relay_client_is_pushing(const struct relay_client *c)
{
	return c->is_push_block;
}

void relay_client_unblock(struct relay_client *c)
{
	if (!c->is_blocked || c->is_dead)
		return;
	c->is_blocked = false;
	for (struct relay_sub *s = c->subs; s != NULL && !c->is_blocked && !c->is_dead;
	     s = s->cnext) {
		struct held *h;
		if (!s->want_push)
			continue;
		held_room(c, 1); /* may flush early, which may block c again */
		if (c->is_blocked || (h = held_add(c, HELD_PUSH)) == NULL)
			break;
		memcpy(h->rid, s->rid, RELAY_ID_LEN);
	}
}

/* ---- flush: commit, then emit ---- */

/*
 * Settles the subs pushed in the block just offered: kept when it was sent,
 * otherwise their pushes are due again (re-read from the store on unblock).
 */
static void block_subs_settle(struct relay_core *core, bool is_sent)
{
	while (core->block_subs != NULL) {
		struct relay_sub *s = core->block_subs;
		core->block_subs = s->bnext;
		s->bnext = NULL;
		s->is_in_block = false;
		if (!is_sent) {
			/* Those MSGs never left: push them again. */
			s->n_out = (uint8_t)(s->n_out - s->n_in_block);
			s->out_seq = s->block_seq;
			s->want_push = true;
			core->stats.n_msgs_out -= s->n_in_block;
		}
		s->n_in_block = 0;
	}
}

static void client_output(struct relay_client *c, const uint8_t *content, size_t len)
{
	sotto_err rc;

	if (c->is_dead || (c->is_blocked && c->is_push_block)) {
		block_subs_settle(c->core, false); /* pushes packed after the output filled up */
		return;
	}
	c->core->stats.n_blocks_out++;
	rc = c->output(c->user, content, len);
	if (rc == SOTTO_ERR_BUSY && c->is_push_block) {
		c->is_blocked = true;
		c->core->stats.n_blocks_out--;
	} else if (rc != SOTTO_OK) {
		c->is_dead = true;
		c->core->stats.n_clients_dropped++;
	}
	block_subs_settle(c->core, rc == SOTTO_OK);
}

/* Sends the batch built so far (if any) and starts an empty one. */
static void emit_block(struct relay_client *c, struct relay_batch_writer *bw)
{
	size_t len;

	if (!relay_batch_writer_is_empty(bw) && relay_batch_writer_finish(bw, &len) == SOTTO_OK)
		client_output(c, c->core->block, len);
	relay_batch_writer_init(bw, c->core->block);
	c->is_push_block = c->is_push_phase; /* the next block starts empty */
}

/* Makes room for a transmission of len bytes, sending the full block first. */
static void emit_reserve(struct relay_client *c, struct relay_batch_writer *bw, size_t len)
{
	if (!relay_batch_writer_fits(bw, len))
		emit_block(c, bw);
}

static void emit_bytes(struct relay_client *c, struct relay_batch_writer *bw, const uint8_t *tx,
                       size_t len)
{
	emit_reserve(c, bw, len);
	sotto_err rc = relay_batch_writer_add(bw, tx, len); /* fits an empty batch */
	(void)rc;
}

static void emit_err(struct relay_client *c, struct relay_batch_writer *bw, uint32_t corr,
                     const uint8_t *SOTTO_NULLABLE entity, enum relay_err err)
{
	uint8_t tx[RELAY_RESP_HEADER_LEN + 1];
	size_t len;

	c->core->stats.n_errors[err]++;
	if (relay_resp_encode_err(tx, sizeof(tx), &len, corr, entity, err) == SOTTO_OK)
		emit_bytes(c, bw, tx, len);
}

/* Encrypts msg for queue q under K_deliver straight into the batch. */
static sotto_err emit_msg(struct relay_client *c, struct relay_batch_writer *bw, uint32_t corr,
                          const struct relay_store_queue *q, const struct relay_store_msg *msg)
{
	struct relay_msg m = {.timestamp = msg->timestamp_s,
	                      .flags = msg->flags,
	                      .body = msg->body,
	                      .body_len = msg->body_len};
	uint8_t *slot;
	size_t cap, len;
	sotto_err rc;

	emit_reserve(c, bw, relay_resp_msg_len(msg->body_len));
	if ((slot = relay_batch_writer_slot(bw, &cap)) == NULL)
		return SOTTO_ERR_INTERNAL;
	rc = relay_resp_encode_msg(slot, cap, &len, corr, q->rid, msg->msg_id, q->k_deliver, &m);
	if (rc != SOTTO_OK || (rc = relay_batch_writer_commit(bw, len)) != SOTTO_OK)
		return rc;
	c->core->stats.n_msgs_out++;
	return SOTTO_OK;
}

/* True when msg's batch is durable, so it may be delivered. */
static bool msg_is_durable(const struct relay_core *core, const struct relay_store_msg *msg)
{
	return msg->seq < core->seq_unsynced_min;
}

/*
 * A held GET: MSG (the oldest message) or NONE, read after the commit.
 * False when the oldest message is not durable yet: the GET waits.
 */
static bool emit_get(struct relay_client *c, struct relay_batch_writer *bw, const struct held *h)
{
	struct relay_core *core = c->core;
	struct relay_store_queue q;
	bool is_done = true;
	sotto_err rc = relay_store_queue_by_rid(core->store, h->rid, &q);

	if (rc == SOTTO_ERR_NOT_FOUND) {
		emit_err(c, bw, h->corr, h->rid, RELAY_ERR_AUTH); /* deleted in the same turn */
		goto out;
	}
	if (rc == SOTTO_OK)
		rc = relay_store_msg_first(core->store, h->rid, &core->msg);
	if (rc == SOTTO_ERR_NOT_FOUND) {
		uint8_t tx[RELAY_RESP_HEADER_LEN];
		size_t len;
		if (relay_resp_encode_simple(tx, sizeof(tx), &len, RELAY_RESP_NONE, h->corr,
		                             h->rid) == SOTTO_OK)
			emit_bytes(c, bw, tx, len);
		goto out;
	}
	if (rc == SOTTO_OK && !msg_is_durable(core, &core->msg)) {
		is_done = false;
		goto out;
	}
	if (rc != SOTTO_OK || emit_msg(c, bw, h->corr, &q, &core->msg) != SOTTO_OK)
		emit_err(c, bw, h->corr, h->rid, RELAY_ERR_INTERNAL);
out:
	relay_store_queue_clear(&q);
	return is_done;
}

/*
 * A held push: if this client still holds the subscription and wants a
 * push, deliver the queue's next messages, oldest first, until the window
 * is full. False when the next message is not durable yet: the push stays
 * due and held. A push does not wait for the commit of the turn that asked
 * for it (an ACK's): if that commit is lost in a crash, so is the ACK's OK,
 * and redelivering the acknowledged message after a restart is what §4.4
 * allows then.
 */
static bool emit_push(struct relay_client *c, struct relay_batch_writer *bw, const struct held *h)
{
	struct relay_core *core = c->core;
	struct relay_sub *sub = sub_find(core, h->rid);
	struct relay_store_queue q;
	bool is_done = true;
	uint64_t seq, before;
	sotto_err rc;

	memset(&q, 0, sizeof(q));
	if (sub == NULL || sub->client != c || !sub->want_push || c->is_blocked)
		return true; /* a blocked client's push stays due (want_push) until unblock */
	if (relay_store_queue_by_rid(core->store, h->rid, &q) != SOTTO_OK) {
		sub->want_push = false;
		goto out;
	}
	while (sub->n_out < RELAY_PUSH_WINDOW && !c->is_blocked && !c->is_dead) {
		if (sub->n_out == 0)
			rc = relay_store_msg_first(core->store, h->rid, &core->msg);
		else
			rc = relay_store_msg_after(core->store, h->rid, sub->out_seq, &core->msg);
		if (rc != SOTTO_OK)
			break; /* none (or unreadable until the next trigger) */
		if (!msg_is_durable(core, &core->msg)) {
			is_done = false; /* want_push stays set */
			goto out;
		}
		seq = core->msg.seq;
		before = sub->out_seq;
		if (emit_msg(c, bw, 0, &q, &core->msg) != SOTTO_OK)
			break;
		/* emit_msg may have sent the block before this one (and settled its subs). */
		if (!sub->is_in_block) {
			sub->is_in_block = true;
			sub->n_in_block = 0;
			sub->block_seq = before;
			sub->bnext = core->block_subs;
			core->block_subs = sub;
		}
		sub->n_in_block++;
		sub->n_out++;
		sub->out_seq = seq;
	}
	/* Due again only while blocked with room left; an ACK or a new message asks again. */
	sub->want_push = c->is_blocked && sub->n_out < RELAY_PUSH_WINDOW;
out:
	relay_store_queue_clear(&q);
	return is_done;
}

/* Emits one held answer; false when a GET must wait (nothing emitted). */
static bool emit_held(struct relay_client *c, struct relay_batch_writer *bw, const struct held *h)
{
	switch (h->kind) {
	case HELD_RESP:
		if (h->is_failed)
			emit_err(c, bw, bytes_load_be32(h->tx), h->tx + RESP_ENTITY_OFFSET,
			         RELAY_ERR_INTERNAL);
		else
			emit_bytes(c, bw, h->tx, h->tx_len);
		return true;
	case HELD_GET: return emit_get(c, bw, h);
	default: return true; /* HELD_PUSH: emit_pushes */
	}
}

/*
 * Emits the held pushes among c's first n entries, after its answers and
 * packed behind them: a block of pushes only that the output refuses as
 * busy blocks c (its pushes stay due) instead of killing it; a block that
 * carries answers keeps the rule. A push whose message is not durable yet
 * is marked is_deferred and kept.
 */
static void emit_pushes(struct relay_client *c, struct relay_batch_writer *bw, size_t n)
{
	c->is_push_phase = true;
	c->is_push_block = relay_batch_writer_is_empty(bw);
	for (size_t i = 0; i < n && !c->is_dead && !c->is_blocked; i++) {
		struct held *h = &c->held[i];
		if (h->kind != HELD_PUSH)
			continue;
		if (h->gen > c->core->n_synced) {
			h->is_deferred = true; /* its message is not durable yet: no need to look */
			continue;
		}
		if (!emit_push(c, bw, h)) {
			h->is_deferred = true;
			h->gen = c->core->n_committed; /* that message is in a committed batch */
		}
	}
	emit_block(c, bw);
	c->is_push_phase = false;
	c->is_push_block = false;
}

/*
 * Emits the answers of c whose commit is durable, in order, then its pushes
 * (a push needs only its message to be durable, not the commit of the turn
 * that asked for it: see emit_push), packed into as few blocks as fit, and
 * keeps the rest in order. True when c still holds entries.
 */
static bool client_emit(struct relay_client *c)
{
	struct relay_core *core = c->core;
	struct relay_batch_writer bw;
	size_t n_ready = 0, n_kept = 0;

	while (n_ready < c->n_held && c->held[n_ready].gen <= core->n_synced)
		n_ready++;
	relay_batch_writer_init(&bw, core->block);
	for (size_t i = 0; i < n_ready && !c->is_dead; i++) {
		if (!emit_held(c, &bw, &c->held[i])) {
			c->held[i].gen = core->n_committed; /* a GET waiting for its message */
			n_ready = i;
			break;
		}
	}
	emit_pushes(c, &bw, c->n_held);
	if (c->is_dead) {
		c->n_held = 0;
		return false;
	}
	for (size_t i = 0; i < c->n_held; i++) {
		struct held *h = &c->held[i];
		if (h->kind == HELD_PUSH ? h->is_deferred : i >= n_ready) {
			h->is_deferred = false;
			c->held[n_kept++] = *h;
		}
	}
	c->n_held = n_kept;
	if (n_kept == 0) { /* an idle client holds no array at all */
		ctx_free(core->ctx, c->held);
		c->held = NULL;
		c->cap_held = 0;
	}
	return n_kept > 0;
}

/*
 * Places the turn's entries (gen GEN_THIS_TURN) after its commit: they wait
 * for commit gen; a durable answer of a failed commit becomes ERR INTERNAL.
 */
static void place_turn(struct relay_core *core, uint64_t gen, bool is_committed)
{
	for (struct relay_client *c = core->dirty_head; c != NULL; c = c->dnext) {
		for (size_t i = 0; i < c->n_held; i++) {
			if (c->held[i].gen != GEN_THIS_TURN)
				continue;
			c->held[i].gen = gen;
			if (c->held[i].is_durable && !is_committed)
				c->held[i].is_failed = true;
		}
	}
}

/*
 * Records that the first covers commits, with every message up to
 * covers_seq, are durable (rc SOTTO_OK), or that their sync failed: then
 * nothing held is confirmed any more (durable answers become ERR INTERNAL).
 */
static void sync_settle(struct relay_core *core, uint64_t covers, uint64_t covers_seq, sotto_err rc)
{
	uint64_t newest = core->seq_batch_max > core->seq_committed_max ? core->seq_batch_max
	                                                                : core->seq_committed_max;

	if (rc != SOTTO_OK) {
		if (!core->is_broken)
			ctx_log(core->ctx, SOTTO_LOG_ERROR,
			        "relay: fsync failed (%s); no more writes are confirmed",
			        sotto_strerror(rc));
		core->is_broken = true;
		for (struct relay_client *c = core->dirty_head; c != NULL; c = c->dnext) {
			for (size_t i = 0; i < c->n_held; i++) {
				if (c->held[i].is_durable && c->held[i].gen > core->n_synced)
					c->held[i].is_failed = true;
			}
		}
		core->n_synced = core->n_committed;
		return;
	}
	if (covers < core->n_synced)
		return; /* an older sync than one already settled */
	core->n_synced = covers;
	core->seq_unsynced_min = newest > covers_seq ? covers_seq + 1 : UINT64_MAX;
}

/* Commits the open batch, if any, and places the turn's entries. */
static sotto_err core_commit(struct relay_core *core)
{
	sotto_err rc = SOTTO_OK;

	if (core->in_batch) {
		core->in_batch = false;
		if (core->is_broken) {
			relay_store_rollback(core->store);
			rc = SOTTO_ERR_IO;
		} else {
			rc = relay_store_commit(core->store);
		}
		if (rc == SOTTO_OK) {
			core->stats.n_commits++;
			core->n_committed++;
			if (core->seq_batch_max > core->seq_committed_max)
				core->seq_committed_max = core->seq_batch_max;
		} else {
			core->stats.n_commit_failures++;
			ctx_log(core->ctx, SOTTO_LOG_ERROR,
			        "relay: commit failed (%s), durable answers become ERR INTERNAL",
			        sotto_strerror(rc));
		}
		core->seq_batch_max = 0;
	}
	place_turn(core, core->n_committed, rc == SOTTO_OK);
	return rc;
}

/* Emits every client's ready entries; clients that keep some stay dirty. */
static void core_emit(struct relay_core *core)
{
	struct relay_client *c = core->dirty_head;

	core->dirty_head = core->dirty_tail = NULL;
	core->is_flushing = true;
	while (c != NULL) {
		struct relay_client *next = c->dnext;
		c->is_dirty = false;
		c->dprev = c->dnext = NULL;
		if (client_emit(c))
			dirty_link(c);
		c = next;
	}
	core->is_flushing = false;
}

/*
 * One flush: commit, make durable (inline when wait or when there is no
 * sync hook, else by starting the hook's sync), emit what is durable.
 */
static sotto_err core_flush_mode(struct relay_core *core, bool wait)
{
	sotto_err rc, src = SOTTO_OK;

	if (!SOTTO_INVARIANT(!core->is_flushing))
		return SOTTO_ERR_INTERNAL;
	rc = core_commit(core);
	if (core->n_synced < core->n_committed && !core->is_broken) {
		if (wait || core->config.sync_start == NULL) {
			uint64_t covers = core->n_committed, covers_seq = core->seq_committed_max;
			src = relay_store_sync(core->store);
			sync_settle(core, covers, covers_seq, src);
		} else if (!core->is_sync_running) {
			core->is_sync_running = true;
			core->sync_covers = core->n_committed;
			core->sync_covers_seq = core->seq_committed_max;
			core->config.sync_start(core->config.sync_user);
		}
	}
	core_emit(core);
	if (rc == SOTTO_OK && (src != SOTTO_OK || core->is_broken))
		rc = SOTTO_ERR_IO;
	return rc;
}

static sotto_err core_flush(struct relay_core *core)
{
	return core_flush_mode(core, true);
}

sotto_err relay_core_flush(struct relay_core *core)
{
	return core_flush_mode(core, false);
}

sotto_err relay_core_flush_wait(struct relay_core *core)
{
	return core_flush_mode(core, true);
}

sotto_err relay_core_sync_done(struct relay_core *core, sotto_err rc)
{
	if (!core->is_sync_running)
		return SOTTO_ERR_STATE;
	core->is_sync_running = false;
	sync_settle(core, core->sync_covers, core->sync_covers_seq, rc);
	return core->is_broken ? SOTTO_ERR_IO : SOTTO_OK;
}

bool relay_core_is_syncing(const struct relay_core *core)
{
	return core->is_sync_running;
}

/* ---- expiry, counters, lifetime ---- */

/* After expiry: every subscriber with a message out checks it is still there. */
static void recheck_deliveries(struct relay_core *core)
{
	for (size_t i = 0; i < core->n_buckets; i++) {
		for (struct relay_sub *s = core->buckets[i]; s != NULL; s = s->hnext) {
			if (s->n_out == 0 || s->want_push)
				continue;
			held_room(s->client, 1); /* may flush: the table does not change */
			s->n_out = 0;            /* from the oldest still there */
			hold_push(s, false);
		}
	}
}

sotto_err relay_core_expire(struct relay_core *core, uint64_t now_s, uint32_t *n_deleted)
{
	sotto_err rc;
	uint32_t n = 0;

	*n_deleted = 0;
	if (now_s <= core->config.ttl_s)
		return SOTTO_OK;
	if ((rc = core_batch(core)) != SOTTO_OK)
		return rc;
	rc = relay_store_msg_expire(core->store, now_s - core->config.ttl_s, RELAY_EXPIRE_STEP_MAX,
	                            &n);
	if (rc != SOTTO_OK)
		return rc;
	*n_deleted = n;
	core->stats.n_msgs_expired += n;
	if (n > 0)
		recheck_deliveries(core);
	return SOTTO_OK;
}

void relay_core_stats(const struct relay_core *core, struct relay_stats *out)
{
	*out = core->stats;
}

static sotto_err resolve_config(const struct relay_core_config *in, struct relay_core_config *out)
{
	memset(out, 0, sizeof(*out));
	if (in != NULL)
		*out = *in;
	if (out->quota == 0)
		out->quota = RELAY_QUOTA_DEFAULT;
	if (out->ttl_s == 0)
		out->ttl_s = RELAY_TTL_S_DEFAULT;
	if (out->new_per_minute == 0)
		out->new_per_minute = RELAY_NEW_PER_MINUTE_DEFAULT;
	if (out->wall_clock == NULL) {
		out->wall_clock = system_wall_clock;
		out->wall_clock_user = NULL;
	}
	if (out->quota > RELAY_QUOTA_MAX || out->ttl_s > RELAY_TTL_S_MAX ||
	    out->new_per_minute > RELAY_NEW_PER_MINUTE_MAX)
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

sotto_err relay_core_new(struct sotto_ctx *ctx, struct relay_store *store,
                         const struct relay_core_config *config, struct relay_core **out)
{
	struct relay_core *core = NULL;
	struct relay_core_config cfg;
	sotto_err rc;

	*out = NULL;
	if ((rc = resolve_config(config, &cfg)) != SOTTO_OK)
		goto out;
	rc = SOTTO_ERR_NOMEM;
	if ((core = ctx_calloc(ctx, 1, sizeof(*core))) == NULL)
		goto out;
	core->ctx = ctx;
	core->store = store;
	core->config = cfg;
	core->n_buckets = SUB_BUCKETS_MIN;
	if ((core->buckets = ctx_calloc(ctx, core->n_buckets, sizeof(*core->buckets))) == NULL)
		goto out;
	if ((core->dummy = ctx_secure_alloc(ctx, DUMMY_LEN)) == NULL)
		goto out;
	ctx_random(ctx, core->dummy, DUMMY_LEN);
	core->seq_unsynced_min = UINT64_MAX;
	*out = core;
	core = NULL; /* moved */
	rc = SOTTO_OK;
out:
	relay_core_free(core);
	return rc;
}

void relay_core_free(struct relay_core *core)
{
	if (core == NULL)
		return;
	while (core->clients != NULL)
		relay_client_free(core->clients);
	if (core->in_batch)
		relay_store_rollback(core->store);
	if (core->dummy != NULL)
		sodium_memzero(core->dummy, DUMMY_LEN);
	ctx_secure_free(core->ctx, core->dummy);
	ctx_free(core->ctx, core->buckets);
	sodium_memzero(&core->msg, sizeof(core->msg));
	ctx_free(core->ctx, core);
}

sotto_err relay_client_new(struct relay_core *core,
                           const uint8_t session_id[static RELAY_SESSION_ID_LEN],
                           relay_output_fn *output, void *user, struct relay_client **out)
{
	struct relay_client *c;

	*out = NULL;
	if ((c = ctx_calloc(core->ctx, 1, sizeof(*c))) == NULL)
		return SOTTO_ERR_NOMEM;
	c->core = core; /* the held array comes with the first answer (held_room) */
	memcpy(c->session_id, session_id, RELAY_SESSION_ID_LEN);
	c->output = output;
	c->user = user;
	c->rate_start_ms = ctx_now_ms(core->ctx);
	c->next = core->clients;
	if (core->clients != NULL)
		core->clients->prev = c;
	core->clients = c;
	core->stats.n_connections++;
	core->stats.n_clients++;
	*out = c;
	return SOTTO_OK;
}

void relay_client_free(struct relay_client *c)
{
	struct relay_core *core;

	if (c == NULL)
		return;
	core = c->core;
	while (c->subs != NULL)
		sub_remove(core, c->subs);
	dirty_unlink(c);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		core->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	core->stats.n_clients--;
	ctx_free(core->ctx, c->held);
	ctx_free(core->ctx, c->stuck);
	ctx_free(core->ctx, c);
}
