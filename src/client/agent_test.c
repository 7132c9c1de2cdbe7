/* SPDX-License-Identifier: MIT */
/*
 * agent_test.c - the agent against real relays on loopback: every test runs
 * one uv loop holding one to three relay_servers (ephemeral ports, SQLite
 * stores in fresh temporary directories) and two or three users, each with
 * its own profile directory, key file (no passphrase), profile database
 * and agent. Users make contacts through real invitation links and talk
 * through the relays; relays are stopped and started again on the same
 * port and directory, agents are closed and reopened over the same
 * profile.
 *
 * Tests are written as straight lines: each step acts, then WAIT runs the
 * loop until a condition on what the agents reported holds. WAIT fails the
 * test if the condition does not hold within GUARD_MS: a bound against
 * hangs, not a timing assertion (nothing checks how fast anything is).
 * Backoffs and retries are configured small so recovery is quick.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "client/agent.h"
#include "client/agent_int.h"
#include "client/envelope.h"
#include "client/link.h"
#include "core/compat.h"
#include "crypto/x25519.h"
#include "relay/server.h"
#include "relay/store.h"
#include "store/db.h"
#include "store/key.h"
#include "store/profile.h"
#include "store/store_testlib.h"
#include "test_util.h"

enum {
	GUARD_MS = 20000, /* one WAIT fails after this; never reached when things work */
	TICK_MS = 5,      /* the loop wakes at least this often to re-check a WAIT */
	N_RELAYS = 3,
	N_USERS = 3,
	N_RECV = 200, /* received texts a user records */
	TEXT_REC_MAX = 128,
	N_MSG_IDS = 512, /* message IDs whose status a user records */
	N_TAPS = 16,
};

/* Runs the loop until expr holds; fails the test after GUARD_MS. */
#define WAIT(w, expr)                                                                              \
	do {                                                                                       \
		uint64_t wait_deadline_ = uv_now(&(w)->loop) + GUARD_MS;                           \
		while (!(expr)) {                                                                  \
			if (uv_now(&(w)->loop) > wait_deadline_)                                   \
				fail_msg("line %d: timed out waiting for %s", __LINE__, #expr);    \
			uv_run(&(w)->loop, UV_RUN_ONCE);                                           \
		}                                                                                  \
	} while (0)

/* Small timeouts and backoff, so losses and retries happen quickly. */
static const struct rconn_config FAST_RCONN = {
        .backoff_base_ms = 5,
        .backoff_max_ms = 40,
        .handshake_timeout_ms = 2000,
        .close_timeout_ms = 2000,
};

/* ---- the world: loop, relays, users ---- */

struct relay {
	struct tu_alloc alloc; /* the relay's own: all back to base once the server is gone */
	sotto_ctx *ctx;
	char dir[64];
	struct relay_store *store;
	struct x25519_keypair kp;
	struct relay_server *server;
	struct relay_server_config cfg;
	uint16_t port;
	long n_live_base; /* allocations with the store open and no server */
	char addr[NET_ADDR_TEXT_MAX + 1];
};

struct received {
	int64_t contact, msg_id;
	char text[TEXT_REC_MAX + 1];
};

struct tap {
	int64_t contact;
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	uint8_t body[RELAY_MSG_BODY_MAX];
	size_t body_len;
};

struct op {
	unsigned n_done;
	sotto_err err;
	int64_t contact;
	char link[CLIENT_LINK_TEXT_MAX + 1];
	struct user *close_on_done; /* closes this user's agent from inside the callback */
};

struct world;

struct user {
	struct world *w;
	const char *pname;
	struct tu_alloc alloc;
	struct tu_rng rng;
	sotto_ctx *ctx;
	char base[64];
	struct store_profile *profile;
	struct secbuf *key;
	struct store_db *db;
	struct client_agent *agent;
	struct client_agent_config cfg;
	bool is_closed;
	/* what the agent reported */
	unsigned n_connected, n_renamed, n_left, n_errors, n_up, n_down;
	sotto_err last_error;
	char peer_name[CLIENT_NAME_MAX + 1];
	size_t n_recv;
	struct received recv[N_RECV];
	uint8_t status[N_MSG_IDS];
	sotto_err reason[N_MSG_IDS];
	size_t n_taps;
	struct tap *taps;
};

struct world {
	uv_loop_t loop;
	uv_timer_t tick;
	struct relay relays[N_RELAYS];
	size_t n_relays;
	struct user users[N_USERS];
	size_t n_users;
};

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

static void relay_start(struct world *w, struct relay *r)
{
	if (r->store == NULL)
		assert_int_equal(relay_store_new(r->ctx, r->dir, NULL, &r->store), SOTTO_OK);
	r->n_live_base = r->alloc.n_live;
	assert_int_equal(relay_server_new(r->ctx, &w->loop, "127.0.0.1", r->port, &r->kp, r->store,
	                                  &r->cfg, &r->server),
	                 SOTTO_OK);
	r->port = relay_server_port(r->server);
}

/* Stops the relay gracefully and closes its store: a restart reopens it from disk. */
static void relay_stop(struct world *w, struct relay *r)
{
	relay_server_close(r->server);
	r->server = NULL;
	WAIT(w, r->alloc.n_live == r->n_live_base);
	relay_store_free(r->store);
	r->store = NULL;
}

static struct relay *relay_new(struct world *w, uint32_t quota)
{
	struct relay *r = &w->relays[w->n_relays++];
	struct net_addr addr;

	memset(r, 0, sizeof(*r));
	r->ctx = tu_ctx(&r->alloc, NULL, NULL);
	snprintf(r->dir, sizeof(r->dir), "/tmp/sotto-agent-relay-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	x25519_keypair_generate(r->ctx, &r->kp);
	r->cfg.core.quota = quota;
	relay_start(w, r);
	memset(&addr, 0, sizeof(addr));
	memcpy(addr.key, r->kp.pub, NET_ADDR_KEY_LEN);
	memcpy(addr.host, "127.0.0.1", 10);
	addr.port = r->port;
	assert_int_equal(net_addr_format(&addr, r->addr, sizeof(r->addr)), SOTTO_OK);
	return r;
}

static void relay_free(struct world *w, struct relay *r)
{
	static const char *const names[] = {"relay.db", "relay.db-wal", "relay.db-shm"};
	char path[128];

	if (r->server != NULL)
		relay_stop(w, r);
	relay_store_free(r->store);
	x25519_keypair_clear(&r->kp);
	sotto_ctx_free(r->ctx);
	assert_int_equal(r->alloc.n_live, 0);
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", r->dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(r->dir);
}

/* ---- users ---- */

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct user *u = user;

	switch (ev->kind) {
	case CLIENT_AGENT_EV_CONNECTED:
	case CLIENT_AGENT_EV_RENAMED:
		assert_non_null(ev->name);
		snprintf(u->peer_name, sizeof(u->peer_name), "%s", ev->name);
		if (ev->kind == CLIENT_AGENT_EV_CONNECTED)
			u->n_connected++;
		else
			u->n_renamed++;
		break;
	case CLIENT_AGENT_EV_RECEIVED:
		assert_true(u->n_recv < N_RECV);
		assert_true(ev->text_len <= TEXT_REC_MAX);
		u->recv[u->n_recv].contact = ev->contact_id;
		u->recv[u->n_recv].msg_id = ev->msg_id;
		memcpy(u->recv[u->n_recv].text, ev->text, ev->text_len);
		u->recv[u->n_recv].text[ev->text_len] = '\0';
		u->n_recv++;
		break;
	case CLIENT_AGENT_EV_STATUS:
		assert_true(ev->msg_id > 0 && ev->msg_id < N_MSG_IDS);
		u->status[ev->msg_id] = (uint8_t)ev->status;
		u->reason[ev->msg_id] = ev->err;
		break;
	case CLIENT_AGENT_EV_RELAY_UP:
		assert_non_null(ev->relay);
		assert_int_equal(strncmp(ev->relay, "sotto://", 8), 0);
		u->n_up++;
		break;
	case CLIENT_AGENT_EV_RELAY_DOWN: u->n_down++; break;
	case CLIENT_AGENT_EV_LEFT: u->n_left++; break;
	case CLIENT_AGENT_EV_ERROR:
		u->n_errors++;
		u->last_error = ev->err;
		break;
	}
}

static void on_closed(void *user)
{
	struct user *u = user;

	u->is_closed = true;
	u->agent = NULL;
}

static void user_open_agent(struct user *u)
{
	struct client_agent_callbacks cb = {.on_event = on_event, .user = u};

	u->is_closed = false;
	assert_int_equal(client_agent_open(u->ctx, &u->w->loop, u->db, &u->cfg, &cb, &u->agent),
	                 SOTTO_OK);
}

static void user_open_store(struct user *u)
{
	assert_int_equal(store_profile_new(u->ctx, u->base, u->pname, &u->profile), SOTTO_OK);
	if (u->key == NULL)
		assert_int_equal(store_key_create(u->ctx, u->profile, NULL, 0, NULL, &u->key),
		                 SOTTO_OK);
	assert_int_equal(store_db_new(u->ctx, u->profile, u->key, &u->db), SOTTO_OK);
}

static struct user *user_new(struct world *w, const char *name, uint64_t seed)
{
	struct user *u = &w->users[w->n_users++];

	memset(u, 0, sizeof(*u));
	u->w = w;
	u->pname = name;
	tu_rng_init(&u->rng, seed);
	u->ctx = tu_ctx(&u->alloc, &u->rng, NULL);
	st_tmpdir(u->base, sizeof(u->base));
	u->cfg.retry_base_ms = 5;
	u->cfg.retry_max_ms = 50;
	u->cfg.receipt_delay_ms = 10;
	u->cfg.rconn = FAST_RCONN;
	user_open_store(u);
	user_open_agent(u);
	return u;
}

/* Closes the agent gracefully and waits until it is gone (the store stays open). */
static void user_close(struct user *u)
{
	if (u->agent != NULL)
		client_agent_close(u->agent, on_closed, u);
	WAIT(u->w, u->is_closed);
}

/* A full restart: agent, database, profile lock; then all of it again. */
static void user_restart(struct user *u)
{
	user_close(u);
	store_db_free(u->db);
	u->db = NULL;
	store_profile_free(u->profile);
	u->profile = NULL;
	user_open_store(u);
	user_open_agent(u);
}

static void user_free(struct user *u)
{
	if (!u->is_closed)
		user_close(u);
	store_db_free(u->db);
	store_profile_free(u->profile);
	secbuf_free(u->key);
	free(u->taps);
	sotto_ctx_free(u->ctx);
	assert_int_equal(u->alloc.n_live, 0);
	st_rmtree(u->base, ST_TREE_DEPTH);
}

static char *profile_dir(struct user *u)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", u->base, u->pname);
	return path;
}

static void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	assert_int_equal(uv_loop_init(&w->loop), 0);
	assert_int_equal(uv_timer_init(&w->loop, &w->tick), 0);
	assert_int_equal(uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS), 0);
}

static void world_free(struct world *w)
{
	for (size_t i = 0; i < w->n_users; i++)
		user_free(&w->users[i]);
	for (size_t i = 0; i < w->n_relays; i++)
		relay_free(w, &w->relays[i]);
	uv_close((uv_handle_t *)&w->tick, NULL);
	uv_run(&w->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&w->loop), 0);
}

/* ---- steps ---- */

static void add_relay(struct user *u, const struct relay *r)
{
	assert_int_equal(client_agent_relay_add(u->agent, r->addr, strlen(r->addr)), SOTTO_OK);
}

static void set_name(struct user *u, const char *name)
{
	assert_int_equal(client_agent_set_name(u->agent, name, strlen(name)), SOTTO_OK);
}

static void on_op(void *user, sotto_err err, int64_t contact_id, const char *link)
{
	struct op *op = user;

	op->n_done++;
	op->err = err;
	op->contact = contact_id;
	if (link != NULL)
		snprintf(op->link, sizeof(op->link), "%s", link);
	if (op->close_on_done != NULL)
		client_agent_close(op->close_on_done->agent, on_closed, op->close_on_done);
}

/* inviter invites, joiner joins; both ends connected. */
static void make_contact(struct user *inviter, struct user *joiner, int64_t *inviter_id,
                         int64_t *joiner_id)
{
	struct op inv, join;
	unsigned n_inviter = inviter->n_connected, n_joiner = joiner->n_connected;
	int64_t id = 0;

	memset(&inv, 0, sizeof(inv));
	memset(&join, 0, sizeof(join));
	assert_int_equal(client_agent_invite(inviter->agent, on_op, &inv, &id), SOTTO_OK);
	assert_true(id > 0);
	WAIT(inviter->w, inv.n_done == 1);
	assert_int_equal(inv.err, SOTTO_OK);
	assert_int_equal(inv.contact, id);
	assert_int_equal(strncmp(inv.link, "sotto:", 6), 0);
	*inviter_id = id;
	assert_int_equal(client_agent_connect(joiner->agent, inv.link, strlen(inv.link), on_op,
	                                      &join, joiner_id),
	                 SOTTO_OK);
	WAIT(joiner->w, join.n_done == 1);
	assert_int_equal(join.err, SOTTO_OK);
	WAIT(joiner->w,
	     inviter->n_connected == n_inviter + 1 && joiner->n_connected == n_joiner + 1);
	assert_int_equal(inv.n_done, 1);
	assert_int_equal(join.n_done, 1);
}

static int64_t send_text(struct user *u, int64_t contact, const char *text)
{
	int64_t id = 0;

	assert_int_equal(
	        client_agent_send_text(u->agent, contact, (const uint8_t *)text, strlen(text), &id),
	        SOTTO_OK);
	assert_true(id > 0 && id < N_MSG_IDS);
	return id;
}

static struct client_agent_stats stats(struct user *u)
{
	struct client_agent_stats st;

	client_agent_stats(u->agent, &st);
	return st;
}

static enum client_agent_contact_state contact_state(struct user *u, int64_t id)
{
	struct client_agent_contact c;

	assert_int_equal(client_agent_contact_get(u->agent, id, &c), SOTTO_OK);
	return c.state;
}

/* The history of a contact as "d:status:text" lines, oldest first. */
struct hist {
	size_t n;
	int64_t ids[64];
	uint8_t dir[64];
	uint8_t status[64];
	sotto_err reason[64];
	char text[64][TEXT_REC_MAX + 1];
};

static void on_hist(void *user, const struct client_agent_msg *m)
{
	struct hist *h = user;

	assert_true(h->n < 64 && m->text_len <= TEXT_REC_MAX);
	h->ids[h->n] = m->id;
	h->dir[h->n] = (uint8_t)m->dir;
	h->status[h->n] = (uint8_t)m->status;
	h->reason[h->n] = m->reason;
	memcpy(h->text[h->n], m->text, m->text_len);
	h->text[h->n][m->text_len] = '\0';
	h->n++;
}

static void history(struct user *u, int64_t contact, struct hist *h)
{
	memset(h, 0, sizeof(*h));
	assert_int_equal(client_agent_history(u->agent, contact, 0, 64, on_hist, h), SOTTO_OK);
}

static void assert_received(const struct user *u, const char *const *texts, size_t n)
{
	assert_int_equal(u->n_recv, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(u->recv[i].text, texts[i]);
}

static void on_tap(void *user, int64_t contact_id, const uint8_t *msg_id, const uint8_t *body,
                   size_t body_len)
{
	struct user *u = user;
	struct tap *t;

	if (u->n_taps >= N_TAPS)
		return;
	t = &u->taps[u->n_taps++];
	t->contact = contact_id;
	memcpy(t->msg_id, msg_id, RELAY_MSG_ID_LEN);
	memcpy(t->body, body, body_len);
	t->body_len = body_len;
}

/* The plain flags column of a contact (the database is reachable while the agent is closed). */
static int64_t db_flags(struct user *u, int64_t id)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(store_db_sqlite(u->db),
	                                    "SELECT flags FROM contacts WHERE id = ?1", -1, &st,
	                                    NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_bind_int64(st, 1, id), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void db_exec(struct user *u, const char *sql)
{
	assert_int_equal(sqlite3_exec(store_db_sqlite(u->db), sql, NULL, NULL, NULL), SQLITE_OK);
}

static int64_t db_count(struct user *u, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(store_db_sqlite(u->db), sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* ---- tests ---- */

static void agent__connect__invite_join_then_messages_both_ways_delivered(void **state)
{
	static const char *const to_bob[] = {"hello bob", "second line\nwith a break", "third"};
	static const char *const to_alice[] = {"hi alice", "ünïcödé ✓"};
	char code_a[PROTO_CODE_TEXT_LEN + 1], code_b[PROTO_CODE_TEXT_LEN + 1];
	char name[CLIENT_NAME_MAX + 1];
	struct client_agent_contact c;
	struct world w;
	struct hist h;
	int64_t a_id, b_id, sent_a[3], sent_b[2];
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 1);
	struct user *bob = user_new(&w, "bob", 2);
	add_relay(alice, r);
	add_relay(bob, r);
	set_name(alice, "Alice Liddell");
	set_name(bob, "Bob the Builder");
	assert_int_equal(client_agent_get_name(alice->agent, name, sizeof(name)), SOTTO_OK);
	assert_string_equal(name, "Alice Liddell");

	make_contact(alice, bob, &a_id, &b_id);
	assert_string_equal(alice->peer_name, "Bob the Builder");
	assert_string_equal(bob->peer_name, "Alice Liddell");
	assert_int_equal(contact_state(alice, a_id), CLIENT_AGENT_CONNECTED);
	assert_int_equal(contact_state(bob, b_id), CLIENT_AGENT_CONNECTED);
	assert_int_equal(client_agent_security_code(alice->agent, a_id, code_a, sizeof(code_a)),
	                 SOTTO_OK);
	assert_int_equal(client_agent_security_code(bob->agent, b_id, code_b, sizeof(code_b)),
	                 SOTTO_OK);
	assert_string_equal(code_a, code_b);
	assert_int_equal(strlen(code_a), PROTO_CODE_TEXT_LEN);

	for (size_t i = 0; i < 3; i++)
		sent_a[i] = send_text(alice, a_id, to_bob[i]);
	for (size_t i = 0; i < 2; i++)
		sent_b[i] = send_text(bob, b_id, to_alice[i]);
	WAIT(&w, bob->n_recv == 3 && alice->n_recv == 2);
	WAIT(&w, alice->status[sent_a[0]] == CLIENT_AGENT_DELIVERED &&
	                 alice->status[sent_a[1]] == CLIENT_AGENT_DELIVERED &&
	                 alice->status[sent_a[2]] == CLIENT_AGENT_DELIVERED &&
	                 bob->status[sent_b[0]] == CLIENT_AGENT_DELIVERED &&
	                 bob->status[sent_b[1]] == CLIENT_AGENT_DELIVERED);
	assert_received(bob, to_bob, 3);
	assert_received(alice, to_alice, 2);
	assert_int_equal(bob->recv[0].contact, b_id);

	/* The history: ours delivered, theirs received, in the order written and received. */
	history(alice, a_id, &h);
	assert_int_equal(h.n, 5);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(h.dir[i], CLIENT_AGENT_OUT);
		assert_int_equal(h.status[i], CLIENT_AGENT_DELIVERED);
		assert_string_equal(h.text[i], to_bob[i]);
	}
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(h.dir[3 + i], CLIENT_AGENT_IN);
		assert_int_equal(h.status[3 + i], CLIENT_AGENT_RECEIVED);
		assert_string_equal(h.text[3 + i], to_alice[i]);
	}
	/* Paging: the one before the last. */
	memset(&h, 0, sizeof(h));
	assert_int_equal(client_agent_history(alice->agent, a_id, sent_a[2], 1, on_hist, &h),
	                 SOTTO_OK);
	assert_int_equal(h.n, 1);
	assert_string_equal(h.text[0], to_bob[1]);

	/* Names: a NAME goes to the peer; a local name stays here. */
	set_name(alice, "Alice in Wonderland");
	WAIT(&w, bob->n_renamed == 1);
	assert_string_equal(bob->peer_name, "Alice in Wonderland");
	assert_int_equal(client_agent_contact_rename(bob->agent, b_id, "Ally", 4), SOTTO_OK);
	assert_int_equal(client_agent_contact_get(bob->agent, b_id, &c), SOTTO_OK);
	assert_string_equal(c.name, "Ally");
	assert_string_equal(c.peer_name, "Alice in Wonderland");
	assert_true(c.has_local_name);
	assert_int_equal(client_agent_contact_rename(bob->agent, b_id, "bad\nname", 8),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(client_agent_contact_get(alice->agent, a_id, &c), SOTTO_OK);
	assert_string_equal(c.name, "Bob the Builder");
	assert_false(c.has_local_name);
	assert_int_equal(stats(alice).n_relay_conns, 1);
	assert_int_equal(stats(bob).n_undecryptable + stats(bob).n_invalid, 0);

	/* Bad input is refused before anything is stored. */
	assert_int_equal(
	        client_agent_send_text(alice->agent, a_id, (const uint8_t *)"a\0b", 3, NULL),
	        SOTTO_ERR_INVALID);
	assert_int_equal(client_agent_send_text(alice->agent, 999, (const uint8_t *)"x", 1, NULL),
	                 SOTTO_ERR_NOT_FOUND);
	assert_int_equal(client_agent_connect(bob->agent, "sotto:AAAA", 10, NULL, NULL, NULL),
	                 SOTTO_ERR_PROTOCOL);
	world_free(&w);
}

static void agent__relays__each_side_receives_on_its_own_relay(void **state)
{
	struct agent_info info;
	bool has_hs, has_ratchet;
	struct world w;
	int64_t a_id, b_id, m;
	(void)state;

	world_init(&w);
	struct relay *ra = relay_new(&w, 0);
	struct relay *rb = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 11);
	struct user *bob = user_new(&w, "bob", 12);
	add_relay(alice, ra);
	add_relay(bob, rb);
	make_contact(alice, bob, &a_id, &b_id);

	/* Alice receives on A and sends to B; Bob the other way round. */
	assert_int_equal(agent_debug_contact(alice->agent, a_id, &info, &has_hs, &has_ratchet),
	                 SOTTO_OK);
	assert_int_equal(info.rq_relay.port, ra->port);
	assert_int_equal(info.sq.relay.port, rb->port);
	assert_false(has_hs);
	assert_true(has_ratchet);
	agent_info_clear(&info);
	assert_int_equal(agent_debug_contact(bob->agent, b_id, &info, &has_hs, &has_ratchet),
	                 SOTTO_OK);
	assert_int_equal(info.rq_relay.port, rb->port);
	assert_int_equal(info.sq.relay.port, ra->port);
	agent_info_clear(&info);

	m = send_text(alice, a_id, "over two relays");
	send_text(bob, b_id, "and back");
	WAIT(&w,
	     bob->n_recv == 1 && alice->n_recv == 1 && alice->status[m] == CLIENT_AGENT_DELIVERED);
	assert_string_equal(bob->recv[0].text, "over two relays");
	assert_int_equal(stats(alice).n_relay_conns, 2);
	assert_int_equal(stats(bob).n_relay_conns, 2);
	world_free(&w);
}

static void agent__relays__three_users_on_three_relays(void **state)
{
	struct world w;
	int64_t ab, ba, bc, cb, ca, ac, m[3];
	(void)state;

	world_init(&w);
	struct relay *ra = relay_new(&w, 0);
	struct relay *rb = relay_new(&w, 0);
	struct relay *rc = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 21);
	struct user *bob = user_new(&w, "bob", 22);
	struct user *carol = user_new(&w, "carol", 23);
	add_relay(alice, ra);
	add_relay(bob, rb);
	add_relay(carol, rc);
	make_contact(alice, bob, &ab, &ba);
	make_contact(bob, carol, &bc, &cb);
	make_contact(carol, alice, &ca, &ac);

	m[0] = send_text(alice, ab, "alice to bob");
	m[1] = send_text(bob, bc, "bob to carol");
	m[2] = send_text(carol, ca, "carol to alice");
	send_text(alice, ac, "alice to carol");
	WAIT(&w, bob->n_recv == 1 && carol->n_recv == 2 && alice->n_recv == 1);
	WAIT(&w, alice->status[m[0]] == CLIENT_AGENT_DELIVERED &&
	                 bob->status[m[1]] == CLIENT_AGENT_DELIVERED &&
	                 carol->status[m[2]] == CLIENT_AGENT_DELIVERED);
	assert_string_equal(bob->recv[0].text, "alice to bob");
	assert_int_equal(bob->recv[0].contact, ba);
	assert_string_equal(alice->recv[0].text, "carol to alice");
	assert_int_equal(alice->recv[0].contact, ac);
	for (size_t i = 0; i < carol->n_recv; i++)
		assert_int_equal(carol->recv[i].contact,
		                 strcmp(carol->recv[i].text, "bob to carol") == 0 ? cb : ca);
	/* Each user reaches its own relay and both contacts' relays over one connection each. */
	assert_int_equal(stats(alice).n_relay_conns, 3);
	assert_int_equal(stats(bob).n_relay_conns, 3);
	assert_int_equal(stats(carol).n_relay_conns, 3);
	world_free(&w);
}

static void agent__relay_restart__messages_wait_then_arrive_once_in_order(void **state)
{
	static const char *const to_bob[] = {"while down 1", "while down 2", "while down 3"};
	static const char *const to_alice[] = {"from bob 1", "from bob 2"};
	struct world w;
	struct hist h;
	int64_t a_id, b_id, ma[3], mb[2];
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 31);
	struct user *bob = user_new(&w, "bob", 32);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	relay_stop(&w, r);
	WAIT(&w, alice->n_down >= 1 && bob->n_down >= 1);
	for (size_t i = 0; i < 3; i++)
		ma[i] = send_text(alice, a_id, to_bob[i]);
	for (size_t i = 0; i < 2; i++)
		mb[i] = send_text(bob, b_id, to_alice[i]);
	/* Let the senders fail a few times while the relay is away. */
	WAIT(&w, stats(alice).n_sends + stats(alice).n_send_retries >= 1);
	assert_int_equal(alice->status[ma[0]], 0);
	relay_start(&w, r);
	WAIT(&w, bob->n_recv == 3 && alice->n_recv == 2);
	WAIT(&w, alice->status[ma[2]] == CLIENT_AGENT_DELIVERED &&
	                 bob->status[mb[1]] == CLIENT_AGENT_DELIVERED);
	assert_received(bob, to_bob, 3);
	assert_received(alice, to_alice, 2);
	history(bob, b_id, &h);
	assert_int_equal(h.n, 5);
	/* A message sent after the restart still arrives once, after the others. */
	send_text(alice, a_id, "after");
	WAIT(&w, bob->n_recv == 4);
	assert_string_equal(bob->recv[3].text, "after");
	history(bob, b_id, &h);
	assert_int_equal(h.n, 6);
	world_free(&w);
}

static void agent__restart__queued_message_goes_out_after_reopen(void **state)
{
	struct world w;
	struct hist h;
	int64_t a_id, b_id, m1, m2;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 41);
	struct user *bob = user_new(&w, "bob", 42);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	/* Queued and closed in the same turn: nothing left for the relay yet. */
	m1 = send_text(alice, a_id, "written before the restart");
	user_restart(alice);
	history(alice, a_id, &h);
	assert_int_equal(h.n, 1);
	assert_true(h.status[0] == CLIENT_AGENT_QUEUED || h.status[0] == CLIENT_AGENT_SENT);
	WAIT(&w, bob->n_recv == 1);
	WAIT(&w, alice->status[m1] == CLIENT_AGENT_DELIVERED);
	assert_string_equal(bob->recv[0].text, "written before the restart");

	/* The receiver restarts: what came meanwhile waits on the relay. */
	user_close(bob);
	m2 = send_text(alice, a_id, "while bob was away");
	WAIT(&w, alice->status[m2] == CLIENT_AGENT_SENT);
	user_restart(bob);
	WAIT(&w, bob->n_recv == 2 && alice->status[m2] == CLIENT_AGENT_DELIVERED);
	assert_string_equal(bob->recv[1].text, "while bob was away");
	history(bob, b_id, &h);
	assert_int_equal(h.n, 2);
	world_free(&w);
}

static void agent__invite__pending_invitation_survives_restart(void **state)
{
	char link[CLIENT_LINK_TEXT_MAX + 1], again[CLIENT_LINK_TEXT_MAX + 1];
	struct op inv, join;
	struct world w;
	int64_t a_id = 0, b_id = 0;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 51);
	struct user *bob = user_new(&w, "bob", 52);
	add_relay(alice, r);
	add_relay(bob, r);
	memset(&inv, 0, sizeof(inv));
	memset(&join, 0, sizeof(join));
	assert_int_equal(client_agent_invite(alice->agent, on_op, &inv, &a_id), SOTTO_OK);
	WAIT(&w, inv.n_done == 1);
	assert_int_equal(inv.err, SOTTO_OK);
	snprintf(link, sizeof(link), "%s", inv.link);

	user_restart(alice);
	assert_int_equal(contact_state(alice, a_id), CLIENT_AGENT_INVITING);
	assert_int_equal(client_agent_contact_link(alice->agent, a_id, again, sizeof(again)),
	                 SOTTO_OK);
	assert_string_equal(again, link);
	/* Our own link, or one joined already, is refused. */
	assert_int_equal(client_agent_connect(alice->agent, link, strlen(link), NULL, NULL, NULL),
	                 SOTTO_ERR_USED);
	assert_int_equal(client_agent_connect(bob->agent, link, strlen(link), on_op, &join, &b_id),
	                 SOTTO_OK);
	WAIT(&w, alice->n_connected == 1 && bob->n_connected == 1);
	assert_int_equal(client_agent_connect(bob->agent, link, strlen(link), NULL, NULL, NULL),
	                 SOTTO_ERR_USED);
	assert_int_equal(client_agent_contact_link(alice->agent, a_id, again, sizeof(again)),
	                 SOTTO_ERR_STATE);
	send_text(bob, b_id, "joined after your restart");
	WAIT(&w, alice->n_recv == 1);
	world_free(&w);
}

static void agent__connect__link_used_by_another_fails_with_auth(void **state)
{
	struct op inv, join;
	struct world w;
	int64_t a_id = 0, b_id = 0, c_id = 0;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 161);
	struct user *bob = user_new(&w, "bob", 162);
	struct user *carol = user_new(&w, "carol", 163);
	add_relay(alice, r);
	add_relay(bob, r);
	add_relay(carol, r);
	memset(&inv, 0, sizeof(inv));
	memset(&join, 0, sizeof(join));
	assert_int_equal(client_agent_invite(alice->agent, on_op, &inv, &a_id), SOTTO_OK);
	WAIT(&w, inv.n_done == 1);
	assert_int_equal(
	        client_agent_connect(bob->agent, inv.link, strlen(inv.link), NULL, NULL, &b_id),
	        SOTTO_OK);
	WAIT(&w, alice->n_connected == 1 && bob->n_connected == 1);

	/* Carol got the same link: Bob's key holds the queue, so her SKEY and SEND get AUTH. */
	assert_int_equal(
	        client_agent_connect(carol->agent, inv.link, strlen(inv.link), on_op, &join, &c_id),
	        SOTTO_OK);
	WAIT(&w, join.n_done == 1);
	assert_int_equal(join.err, SOTTO_OK); /* queued; the relay answers later */
	WAIT(&w, carol->n_errors == 1);
	assert_int_equal(carol->last_error, SOTTO_ERR_AUTH);
	assert_int_equal(contact_state(carol, c_id), CLIENT_AGENT_DELETED);
	WAIT(&w, stats(carol).n_queues_deleted == 1);
	assert_int_equal(carol->n_connected, 0);
	assert_int_equal(alice->n_connected, 1);
	assert_int_equal(stats(alice).n_contacts, 1);
	world_free(&w);
}

static void agent__invite__relay_down_times_out_then_completes(void **state)
{
	char link[CLIENT_LINK_TEXT_MAX + 1];
	struct op inv;
	struct world w;
	int64_t a_id = 0, b_id = 0;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 171);
	struct user *bob = user_new(&w, "bob", 172);
	relay_stop(&w, r);
	user_close(alice);
	alice->cfg.op_timeout_ms = 50;
	user_open_agent(alice);
	add_relay(alice, r);
	add_relay(bob, r);

	/* The relay is away: the caller hears of it, the invitation keeps trying. */
	memset(&inv, 0, sizeof(inv));
	assert_int_equal(client_agent_invite(alice->agent, on_op, &inv, &a_id), SOTTO_OK);
	WAIT(&w, inv.n_done == 1);
	assert_int_equal(inv.err, SOTTO_ERR_TIMEOUT);
	assert_int_equal(inv.contact, a_id);
	assert_int_equal(contact_state(alice, a_id), CLIENT_AGENT_INVITING);
	assert_int_equal(client_agent_contact_link(alice->agent, a_id, link, sizeof(link)),
	                 SOTTO_ERR_STATE);
	relay_start(&w, r);
	WAIT(&w, client_agent_contact_link(alice->agent, a_id, link, sizeof(link)) == SOTTO_OK);
	assert_int_equal(inv.n_done, 1);
	assert_int_equal(client_agent_connect(bob->agent, link, strlen(link), NULL, NULL, &b_id),
	                 SOTTO_OK);
	WAIT(&w, alice->n_connected == 1 && bob->n_connected == 1);
	world_free(&w);
}

static void agent__connect__join_resumes_after_restart_at_each_step(void **state)
{
	struct op inv, join;
	struct world w;
	int64_t a_id = 0, b_id = 0, m;
	(void)state;

	world_init(&w);
	struct relay *ra = relay_new(&w, 0);
	struct relay *rb = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 61);
	struct user *bob = user_new(&w, "bob", 62);
	add_relay(alice, ra);
	add_relay(bob, rb);
	memset(&inv, 0, sizeof(inv));
	memset(&join, 0, sizeof(join));
	assert_int_equal(client_agent_invite(alice->agent, on_op, &inv, &a_id), SOTTO_OK);
	WAIT(&w, inv.n_done == 1);

	/* Bob stops right after his join is queued: SKEY and CONNECT have not gone out. */
	user_close(alice);
	join.close_on_done = bob;
	assert_int_equal(
	        client_agent_connect(bob->agent, inv.link, strlen(inv.link), on_op, &join, &b_id),
	        SOTTO_OK);
	WAIT(&w, bob->is_closed);
	assert_int_equal(join.err, SOTTO_OK);
	assert_int_equal(db_flags(bob, b_id) & AGENT_F_SQ_SECURED, 0);
	assert_int_equal(db_count(bob, "SELECT count(*) FROM outbox"), 1);
	user_open_agent(bob);

	/* Bob's CONNECT waits on A; Alice accepts while B is away: her CONNECTED waits. */
	WAIT(&w, db_flags(bob, b_id) & AGENT_F_SQ_SECURED);
	relay_stop(&w, rb);
	user_open_agent(alice);
	WAIT(&w, alice->n_connected == 1);
	assert_int_equal(contact_state(alice, a_id), CLIENT_AGENT_CONNECTED);
	assert_int_equal(contact_state(bob, b_id), CLIENT_AGENT_JOINING);
	user_restart(alice);
	relay_start(&w, rb);
	WAIT(&w, bob->n_connected == 1);
	assert_int_equal(contact_state(bob, b_id), CLIENT_AGENT_CONNECTED);
	m = send_text(bob, b_id, "we made it");
	WAIT(&w, alice->n_recv == 1 && bob->status[m] == CLIENT_AGENT_DELIVERED);
	world_free(&w);
}

static void agent__connect__skey_answered_auth_is_settled_by_the_send(void **state)
{
	struct world w;
	int64_t a_id, b_id, m;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 71);
	struct user *bob = user_new(&w, "bob", 72);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	/* As if the OK to Bob's SKEY had been lost: he secures again and gets AUTH. */
	user_close(bob);
	assert_true(db_flags(bob, b_id) & AGENT_F_SQ_SECURED);
	db_exec(bob, "UPDATE contacts SET flags = flags & ~2");
	user_open_agent(bob);
	m = send_text(bob, b_id, "secured all along");
	WAIT(&w, alice->n_recv == 1 && bob->status[m] == CLIENT_AGENT_DELIVERED);
	user_close(bob);
	assert_true(db_flags(bob, b_id) & AGENT_F_SQ_SECURED);
	user_open_agent(bob);
	world_free(&w);
}

static void agent__delete__queue_gone_peer_send_fails_auth_keys_forgotten(void **state)
{
	struct agent_info info;
	bool has_hs = true, has_ratchet = true;
	struct world w;
	struct hist h;
	int64_t a_id, b_id, m, m_queued, m_inflight;
	uint64_t n_sends;
	(void)state;

	world_init(&w);
	struct relay *ra = relay_new(&w, 0);
	struct relay *rb = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 81);
	struct user *bob = user_new(&w, "bob", 82);
	add_relay(alice, ra);
	add_relay(bob, rb);
	make_contact(alice, bob, &a_id, &b_id);
	m = send_text(alice, a_id, "before the end");
	WAIT(&w, alice->status[m] == CLIENT_AGENT_DELIVERED);

	/*
	 * Bob's relay is away: Alice's LEAVE waits, her own queue goes at once.
	 * A message already handed to the relay connection cannot be called
	 * back; one still in the outbox fails.
	 */
	relay_stop(&w, rb);
	n_sends = stats(alice).n_sends;
	m_inflight = send_text(alice, a_id, "in flight");
	WAIT(&w, stats(alice).n_sends > n_sends);
	m_queued = send_text(alice, a_id, "never sent");
	assert_int_equal(client_agent_contact_delete(alice->agent, a_id, false), SOTTO_OK);
	assert_int_equal(contact_state(alice, a_id), CLIENT_AGENT_DELETED);
	WAIT(&w, alice->status[m_queued] == CLIENT_AGENT_FAILED);
	assert_int_equal(alice->reason[m_queued], SOTTO_ERR_CANCELLED);
	WAIT(&w, stats(alice).n_queues_deleted == 1);
	assert_int_equal(agent_debug_contact(alice->agent, a_id, &info, &has_hs, &has_ratchet),
	                 SOTTO_OK);
	assert_false(has_hs);
	assert_false(has_ratchet);
	assert_false(info.has_rq);
	assert_true(info.has_sq); /* until the LEAVE is out */
	agent_info_clear(&info);
	assert_int_equal(client_agent_send_text(alice->agent, a_id, (const uint8_t *)"x", 1, NULL),
	                 SOTTO_ERR_STATE);
	assert_int_equal(client_agent_security_code(alice->agent, a_id, (char[80]){0}, 80),
	                 SOTTO_ERR_STATE);

	/* Bob has not heard yet: his next message meets a deleted queue. */
	m = send_text(bob, b_id, "anyone there?");
	WAIT(&w, bob->status[m] == CLIENT_AGENT_FAILED);
	assert_int_equal(bob->reason[m], SOTTO_ERR_AUTH);
	assert_int_equal(alice->n_recv, 0);

	/* Bob's relay returns: the LEAVE arrives, and everything of the contact goes. */
	relay_start(&w, rb);
	WAIT(&w, bob->n_left == 1);
	assert_int_equal(bob->n_recv, 2);
	assert_string_equal(bob->recv[1].text, "in flight");
	WAIT(&w, alice->status[m_inflight] == CLIENT_AGENT_SENT);
	assert_int_equal(contact_state(bob, b_id), CLIENT_AGENT_DELETED);
	WAIT(&w, stats(bob).n_queues_deleted == 1);
	assert_int_equal(agent_debug_contact(alice->agent, a_id, &info, &has_hs, &has_ratchet),
	                 SOTTO_OK);
	WAIT(&w, (agent_info_clear(&info), agent_debug_contact(alice->agent, a_id, &info, &has_hs,
	                                                       &has_ratchet) == SOTTO_OK &&
	                                           !info.has_sq && !info.has_sq_keys));
	agent_info_clear(&info);
	assert_int_equal(agent_debug_contact(bob->agent, b_id, &info, &has_hs, &has_ratchet),
	                 SOTTO_OK);
	assert_false(has_ratchet);
	WAIT(&w, (agent_info_clear(&info),
	          agent_debug_contact(bob->agent, b_id, &info, &has_hs, &has_ratchet) == SOTTO_OK &&
	                  !info.has_rq && !info.has_sq));
	agent_info_clear(&info);

	/* The history stays readable; purging removes it and the contact. */
	history(alice, a_id, &h);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.status[0], CLIENT_AGENT_DELIVERED);
	assert_int_equal(h.status[1], CLIENT_AGENT_SENT);
	assert_int_equal(h.status[2], CLIENT_AGENT_FAILED);
	assert_int_equal(h.reason[2], SOTTO_ERR_CANCELLED);
	assert_int_equal(client_agent_contact_delete(alice->agent, a_id, false), SOTTO_ERR_STATE);
	assert_int_equal(client_agent_contact_delete(alice->agent, a_id, true), SOTTO_OK);
	WAIT(&w, stats(alice).n_contacts == 0);
	assert_int_equal(client_agent_history(alice->agent, a_id, 0, 10, on_hist, &h),
	                 SOTTO_ERR_NOT_FOUND);
	assert_int_equal(db_count(alice, "SELECT count(*) FROM messages"), 0);
	assert_int_equal(db_count(alice, "SELECT count(*) FROM contacts"), 0);
	world_free(&w);
}

static void agent__duplicates__redelivery_resend_and_reused_id_shown_once(void **state)
{
	uint8_t fresh[RELAY_MSG_ID_LEN], pt[CLIENT_ENVELOPE_MAX];
	struct client_envelope env;
	struct world w;
	struct hist h;
	size_t pt_len = 0;
	int64_t a_id, b_id, m;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 91);
	struct user *bob = user_new(&w, "bob", 92);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);
	alice->taps = calloc(N_TAPS, sizeof(*alice->taps));
	assert_non_null(alice->taps);
	agent_debug_tap(alice->agent, on_tap, alice);

	m = send_text(bob, b_id, "only once");
	WAIT(&w, alice->n_recv == 1 && bob->status[m] == CLIENT_AGENT_DELIVERED);
	assert_int_equal(alice->n_taps, 1);

	/* The relay delivers it again (restarted before our ACK was durable). */
	agent_debug_deliver(alice->agent, a_id, alice->taps[0].msg_id, alice->taps[0].body,
	                    alice->taps[0].body_len);
	assert_int_equal(stats(alice).n_dup_relay, 1);
	/* Bob's outbox entry stored twice (its OK was lost): another msg_id, the same bytes. */
	memset(fresh, 0x5a, sizeof(fresh));
	agent_debug_deliver(alice->agent, a_id, fresh, alice->taps[0].body,
	                    alice->taps[0].body_len);
	assert_int_equal(stats(alice).n_undecryptable, 1);
	/* A new ratchet message reusing the message ID. */
	memset(&env, 0, sizeof(env));
	env.kind = CLIENT_ENVELOPE_TEXT;
	assert_int_equal(agent_msg_envelope_id(bob->agent, m, env.msg_id), SOTTO_OK);
	env.text = (const uint8_t *)"only once, again";
	env.text_len = strlen("only once, again");
	assert_int_equal(client_envelope_encode(&env, pt, sizeof(pt), &pt_len), SOTTO_OK);
	assert_int_equal(agent_debug_send_raw(bob->agent, b_id, pt, pt_len, true), SOTTO_OK);
	WAIT(&w, stats(alice).n_dup_msg_id == 1);

	/* Nothing shown twice, and the queue still flows. */
	send_text(bob, b_id, "next");
	WAIT(&w, alice->n_recv == 2);
	assert_string_equal(alice->recv[0].text, "only once");
	assert_string_equal(alice->recv[1].text, "next");
	history(alice, a_id, &h);
	assert_int_equal(h.n, 2);
	world_free(&w);
}

static void agent__receive__store_failure_not_acknowledged_then_fetched(void **state)
{
	char path[256];
	sqlite3 *other = NULL;
	struct world w;
	struct hist h;
	int64_t a_id, b_id, m;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 181);
	struct user *bob = user_new(&w, "bob", 182);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	/*
	 * Another connection holds the write lock on Alice's database: her
	 * transaction fails (after the store's busy timeout), so the message
	 * must not be acknowledged; once the lock goes it is fetched again.
	 */
	snprintf(path, sizeof(path), "%s/%s", profile_dir(alice), STORE_DB_FILE);
	assert_int_equal(sqlite3_open_v2(path, &other, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	m = send_text(bob, b_id, "survives a failed transaction");
	WAIT(&w, stats(alice).n_store_errors >= 1);
	assert_int_equal(alice->n_recv, 0);
	assert_true(alice->n_errors >= 1);
	assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	WAIT(&w, alice->n_recv == 1 && bob->status[m] == CLIENT_AGENT_DELIVERED);
	assert_string_equal(alice->recv[0].text, "survives a failed transaction");
	history(alice, a_id, &h);
	assert_int_equal(h.n, 1);
	world_free(&w);
}

/*
 * Six messages wait for alice on the relay; she comes back with inject
 * making her store fail, and must still show all six once, in order.
 */
static void six_waiting_then(void (*inject)(struct client_agent *a), uint64_t seed,
                             struct client_agent_stats *st)
{
	static const char *const texts[] = {"p1", "p2", "p3", "p4", "p5", "p6"};
	struct world w;
	struct hist h;
	int64_t a_id, b_id, m = 0;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", seed);
	struct user *bob = user_new(&w, "bob", seed + 1);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);
	user_close(alice);
	for (size_t i = 0; i < 6; i++)
		m = send_text(bob, b_id, texts[i]);
	WAIT(&w, bob->status[m] == CLIENT_AGENT_SENT);
	user_open_agent(alice);
	inject(alice->agent);
	WAIT(&w, alice->n_recv == 6 && bob->status[m] == CLIENT_AGENT_DELIVERED);
	assert_received(alice, texts, 6);
	history(alice, a_id, &h);
	assert_int_equal(h.n, 6);
	*st = stats(alice);
	world_free(&w);
}

static void fail_first_delivery(struct client_agent *a)
{
	agent_debug_fail_deliveries(a, 1);
}

static void fail_first_batch(struct client_agent *a)
{
	agent_debug_fail_batches(a, 1);
}

/*
 * The relay pushes several messages ahead of our ACKs: when the first one
 * cannot be stored, the ones pushed after it must wait for it (they are
 * skipped, then pushed again after the GET), so all arrive once, in order.
 */
static void agent__receive__failed_one_holds_back_the_pushed_ones_in_order(void **state)
{
	struct client_agent_stats st;
	(void)state;

	six_waiting_then(fail_first_delivery, 183, &st);
	assert_int_equal(st.n_store_errors, 1);
	assert_true(st.n_msgs_skipped >= 1);
}

/*
 * Deliveries of one turn share one transaction: when its commit fails,
 * none of them is acknowledged or shown, memory goes back, and all come
 * again in order, once.
 */
static void agent__receive__failed_batch_commit_rolls_back_then_all_arrive_once(void **state)
{
	struct client_agent_stats st;
	(void)state;

	six_waiting_then(fail_first_batch, 185, &st);
	assert_true(st.n_store_errors >= 1);
}

struct grouped {
	unsigned n_done, n_ok;
	int64_t ids[8];
	sotto_err last;
};

static void on_grouped(void *user, sotto_err err, int64_t msg_id)
{
	struct grouped *g = user;

	if (err == SOTTO_OK && g->n_ok < 8)
		g->ids[g->n_ok++] = msg_id;
	g->last = err;
	g->n_done++;
}

/*
 * Grouped sends of one turn: each reports once its batch committed (not
 * before the call returns), in order, with its ID; when the batch fails to
 * commit they report SOTTO_ERR_IO and nothing of them exists; the next ones
 * go through and arrive.
 */
static void agent__send__grouped_sends_report_after_commit_and_fail_together(void **state)
{
	static const char *const texts[] = {"g1", "g2", "g3"};
	struct grouped ok = {0}, bad = {0};
	struct world w;
	struct hist h;
	int64_t a_id, b_id;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 187);
	struct user *bob = user_new(&w, "bob", 188);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);
	/* A batch that will not commit: nothing of it stays, nothing is sent. */
	agent_debug_fail_batches(bob->agent, 1);
	assert_int_equal(client_agent_send_text_grouped(bob->agent, b_id, (const uint8_t *)"lost",
	                                                4, on_grouped, &bad),
	                 SOTTO_OK);
	assert_int_equal(bad.n_done, 0);
	WAIT(&w, bad.n_done == 1);
	assert_int_equal(bad.last, SOTTO_ERR_IO);
	history(bob, b_id, &h);
	assert_int_equal(h.n, 0);
	/* Three in one turn: one commit, three reports, in order. */
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(client_agent_send_text_grouped(bob->agent, b_id,
		                                                (const uint8_t *)texts[i], 2,
		                                                on_grouped, &ok),
		                 SOTTO_OK);
	assert_int_equal(ok.n_done, 0);
	WAIT(&w, ok.n_done == 3);
	assert_int_equal(ok.n_ok, 3);
	assert_true(ok.ids[0] < ok.ids[1] && ok.ids[1] < ok.ids[2]);
	/* Errors that need no commit come back at once. */
	assert_int_equal(client_agent_send_text_grouped(bob->agent, b_id, (const uint8_t *)"", 0,
	                                                on_grouped, &ok),
	                 SOTTO_ERR_INVALID);
	WAIT(&w, alice->n_recv == 3 && bob->status[ok.ids[2]] == CLIENT_AGENT_DELIVERED);
	assert_received(alice, texts, 3);
	assert_int_equal(ok.n_done, 3);
	world_free(&w);
}

static void agent__invalid__envelope_acknowledged_and_dropped(void **state)
{
	static const uint8_t garbage[] = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'e', 'n', 'v'};
	uint8_t pt[CLIENT_ENVELOPE_MAX];
	struct client_envelope env;
	struct world w;
	struct hist h;
	size_t pt_len = 0;
	int64_t a_id, b_id;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 101);
	struct user *bob = user_new(&w, "bob", 102);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	/* Garbage, an unknown kind, and a valid envelope that makes no sense now (CONNECTED again).
	 */
	assert_int_equal(agent_debug_send_raw(bob->agent, b_id, garbage, sizeof(garbage), true),
	                 SOTTO_OK);
	pt[0] = 99;
	memset(pt + 1, 0, CLIENT_ENVELOPE_HEADER_LEN);
	assert_int_equal(
	        agent_debug_send_raw(bob->agent, b_id, pt, CLIENT_ENVELOPE_HEADER_LEN + 1, true),
	        SOTTO_OK);
	memset(&env, 0, sizeof(env));
	env.kind = CLIENT_ENVELOPE_CONNECTED;
	memcpy(env.name, "Mallory", 8);
	env.name_len = 7;
	assert_int_equal(client_envelope_encode(&env, pt, sizeof(pt), &pt_len), SOTTO_OK);
	assert_int_equal(agent_debug_send_raw(bob->agent, b_id, pt, pt_len, true), SOTTO_OK);
	/* A valid text without the padding (§5.4). */
	memset(&env, 0, sizeof(env));
	env.kind = CLIENT_ENVELOPE_TEXT;
	env.msg_id[0] = 1;
	env.text = (const uint8_t *)"unpadded";
	env.text_len = strlen("unpadded");
	assert_int_equal(client_envelope_encode(&env, pt, sizeof(pt), &pt_len), SOTTO_OK);
	assert_int_equal(agent_debug_send_raw(bob->agent, b_id, pt, pt_len, false), SOTTO_OK);
	send_text(bob, b_id, "still flowing");
	WAIT(&w, alice->n_recv == 1);
	assert_int_equal(stats(alice).n_invalid, 4);
	assert_int_equal(alice->n_connected, 1);
	assert_int_equal(alice->n_renamed, 0);
	assert_string_equal(alice->recv[0].text, "still flowing");
	history(alice, a_id, &h);
	assert_int_equal(h.n, 1);
	world_free(&w);
}

static void agent__relays__no_relay_configured_is_a_distinct_error(void **state)
{
	char buf[NET_ADDR_TEXT_MAX + 1];
	struct op inv;
	struct world w;
	int64_t id = 77;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 111);
	struct user *bob = user_new(&w, "bob", 112);
	assert_int_equal(client_agent_invite(alice->agent, NULL, NULL, &id), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(id, 0);
	assert_int_equal(stats(alice).n_contacts, 0);

	/* Addresses are checked and kept canonical, once each. */
	assert_int_equal(client_agent_relay_add(alice->agent, "http://x", 8),
	                 SOTTO_ERR_ADDR_SCHEME);
	snprintf(buf, sizeof(buf), "%s", r->addr);
	buf[8] = '!'; /* not base64url */
	assert_int_equal(client_agent_relay_add(alice->agent, buf, strlen(buf)),
	                 SOTTO_ERR_ADDR_KEY);
	assert_int_equal(client_agent_relay_remove(alice->agent, r->addr, strlen(r->addr)),
	                 SOTTO_ERR_NOT_FOUND);
	add_relay(alice, r);
	assert_int_equal(client_agent_relay_add(alice->agent, r->addr, strlen(r->addr)),
	                 SOTTO_ERR_USED);

	/* Bob has no relay: joining needs one too, and the link is not spent. */
	memset(&inv, 0, sizeof(inv));
	assert_int_equal(client_agent_invite(alice->agent, on_op, &inv, &id), SOTTO_OK);
	WAIT(&w, inv.n_done == 1);
	assert_int_equal(
	        client_agent_connect(bob->agent, inv.link, strlen(inv.link), NULL, NULL, NULL),
	        SOTTO_ERR_NOT_FOUND);
	add_relay(bob, r);
	assert_int_equal(client_agent_relay_remove(alice->agent, r->addr, strlen(r->addr)),
	                 SOTTO_OK);
	assert_int_equal(client_agent_invite(alice->agent, NULL, NULL, NULL), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(
	        client_agent_connect(bob->agent, inv.link, strlen(inv.link), NULL, NULL, NULL),
	        SOTTO_OK);
	WAIT(&w, alice->n_connected == 1 && bob->n_connected == 1);
	world_free(&w);
}

static void agent__receipts__one_receipt_carries_sixty_four_ids(void **state)
{
	char text[32];
	struct world w;
	int64_t a_id, b_id, m[CLIENT_RECEIPTS_MAX + 1];
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 121);
	struct user *bob = user_new(&w, "bob", 122);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	/* Alice is away while 64 texts wait; back, she waits "forever" before a short batch. */
	user_close(alice);
	alice->cfg.receipt_delay_ms = CLIENT_AGENT_RECEIPT_DELAY_MS_MAX;
	for (int i = 0; i < CLIENT_RECEIPTS_MAX; i++) {
		snprintf(text, sizeof(text), "batch %d", i);
		m[i] = send_text(bob, b_id, text);
	}
	WAIT(&w, bob->status[m[CLIENT_RECEIPTS_MAX - 1]] == CLIENT_AGENT_SENT);
	user_open_agent(alice);
	WAIT(&w, alice->n_recv == CLIENT_RECEIPTS_MAX);
	for (int i = 0; i < CLIENT_RECEIPTS_MAX; i++)
		WAIT(&w, bob->status[m[i]] == CLIENT_AGENT_DELIVERED);
	assert_int_equal(stats(alice).n_receipts_out, 1);

	/* One more: its receipt waits, and goes out at the next open. */
	m[CLIENT_RECEIPTS_MAX] = send_text(bob, b_id, "the 65th");
	WAIT(&w, alice->n_recv == CLIENT_RECEIPTS_MAX + 1);
	user_close(alice);
	assert_int_equal(bob->status[m[CLIENT_RECEIPTS_MAX]], CLIENT_AGENT_SENT);
	alice->cfg.receipt_delay_ms = 10;
	user_open_agent(alice);
	WAIT(&w, bob->status[m[CLIENT_RECEIPTS_MAX]] == CLIENT_AGENT_DELIVERED);
	assert_int_equal(stats(alice).n_receipts_out, 1);
	world_free(&w);
}

static void agent__outbox__quota_retried_with_backoff_in_order(void **state)
{
	static const char *const texts[] = {"q1", "q2", "q3", "q4", "q5", "q6"};
	struct world w;
	int64_t a_id, b_id, m[6];
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 2);
	struct user *alice = user_new(&w, "alice", 131);
	struct user *bob = user_new(&w, "bob", 132);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	user_close(alice);
	for (size_t i = 0; i < 6; i++)
		m[i] = send_text(bob, b_id, texts[i]);
	WAIT(&w, bob->status[m[1]] == CLIENT_AGENT_SENT && stats(bob).n_send_retries >= 3);
	assert_int_equal(bob->status[m[2]], 0); /* QUOTA: still queued, tried again */
	user_open_agent(alice);
	WAIT(&w, alice->n_recv == 6);
	assert_received(alice, texts, 6);
	WAIT(&w, bob->status[m[5]] == CLIENT_AGENT_DELIVERED);
	world_free(&w);
}

/*
 * A window of SENDs in flight against a relay that holds 3 messages while
 * the receiver drains it: QUOTA refusals race with ACKs all the time, and
 * still no message overtakes another (the relay refuses the rest of the
 * window until RESUME, §4.4) and each arrives once.
 */
static void agent__outbox__window_against_small_quota_keeps_order(void **state)
{
	enum { N = 120 };
	static char texts[N][16];
	const char *ptrs[N];
	struct world w;
	int64_t a_id, b_id, last = 0;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 3);
	struct user *alice = user_new(&w, "alice", 133);
	struct user *bob = user_new(&w, "bob", 134);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);
	for (size_t i = 0; i < N; i++) {
		snprintf(texts[i], sizeof(texts[i]), "w%03zu", i);
		ptrs[i] = texts[i];
		last = send_text(bob, b_id, texts[i]);
	}
	WAIT(&w, alice->n_recv == N);
	assert_received(alice, ptrs, N);
	assert_true(stats(bob).n_send_retries > 0); /* the quota was hit */
	WAIT(&w, bob->status[last] == CLIENT_AGENT_DELIVERED);
	world_free(&w);
}

/* ---- at rest ---- */

#define SECRET_TEXT  "Zebra-Quokka-7319 meet me at the old mill"
#define SECRET_REPLY "Marmalade-Okapi-4421 bring the blue lantern"
#define SECRET_ALICE "Alice Xylophagous-Marker"
#define SECRET_BOB   "Bartholomew Quillfeather"
#define SECRET_LOCAL "my dear friend from the mill"

struct secret {
	uint8_t bytes[ST_SECRET_MAX];
	size_t len;
	const char *what;
};

static void secret_add(struct secret *s, size_t *n, const void *p, size_t len, const char *what)
{
	assert_true(*n < 64 && len >= 12 && len <= ST_SECRET_MAX);
	memcpy(s[*n].bytes, p, len);
	s[*n].len = len;
	s[*n].what = what;
	(*n)++;
}

/* Every queue ID and key of a contact, as stored. */
static void secrets_of_contact(struct user *u, int64_t id, struct secret *s, size_t *n)
{
	struct agent_info info;
	bool has_hs, has_ratchet;

	assert_int_equal(agent_debug_contact(u->agent, id, &info, &has_hs, &has_ratchet), SOTTO_OK);
	assert_true(info.has_rq && info.has_sq && info.has_sq_keys);
	secret_add(s, n, info.rq.rid, RELAY_ID_LEN, "receive queue RID");
	secret_add(s, n, info.rq.sid, RELAY_ID_LEN, "receive queue SID");
	secret_add(s, n, info.rq.k_rauth, RELAY_KEY_LEN, "K_rauth");
	secret_add(s, n, info.rq.k_deliver, RELAY_KEY_LEN, "K_deliver");
	secret_add(s, n, info.sq.sid, RELAY_ID_LEN, "send queue SID");
	secret_add(s, n, info.k_sauth, RELAY_KEY_LEN, "K_sauth");
	agent_info_clear(&info);
}

static void assert_absent_everywhere(struct user *const *users, size_t n_users,
                                     const struct secret *s, size_t n)
{
	struct st_forms forms;
	char where[300];
	unsigned n_files;

	for (size_t u = 0; u < n_users; u++) {
		for (size_t i = 0; i < n; i++) {
			n_files = 0;
			where[0] = '\0';
			st_forms_init(&forms, s[i].bytes, s[i].len);
			if (st_scan(profile_dir(users[u]), ST_TREE_DEPTH, &forms, where,
			            sizeof(where), &n_files))
				fail_msg("%s found at rest in %s's %s", s[i].what, users[u]->pname,
				         where);
			assert_true(n_files >= 3); /* lock, key, store.db at least */
		}
	}
}

static void agent__at_rest__no_text_name_queue_id_or_relay_in_the_clear(void **state)
{
	struct secret *s = calloc(64, sizeof(*s));
	struct st_forms forms;
	char where[300], path[256];
	unsigned n_files = 0;
	struct world w;
	size_t n = 0;
	int64_t a_id, b_id, m;
	struct op inv;
	(void)state;

	assert_non_null(s);
	world_init(&w);
	struct relay *ra = relay_new(&w, 0);
	struct relay *rb = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 141);
	struct user *bob = user_new(&w, "bob", 142);
	struct user *users[] = {alice, bob};
	add_relay(alice, ra);
	add_relay(bob, rb);
	set_name(alice, SECRET_ALICE);
	set_name(bob, SECRET_BOB);
	make_contact(alice, bob, &a_id, &b_id);
	assert_int_equal(
	        client_agent_contact_rename(bob->agent, b_id, SECRET_LOCAL, strlen(SECRET_LOCAL)),
	        SOTTO_OK);
	for (int i = 0; i < 5; i++) {
		/* The secret at a different offset in each message. */
		char text[128];
		snprintf(text, sizeof(text), "%.*s%s (message %d)", i, "xxxxx", SECRET_TEXT, i);
		send_text(alice, a_id, text);
	}
	m = send_text(bob, b_id, SECRET_REPLY);
	WAIT(&w, bob->n_recv == 5 && bob->status[m] == CLIENT_AGENT_DELIVERED);
	/* A pending invitation too: its link holds the relay and queue. */
	memset(&inv, 0, sizeof(inv));
	assert_int_equal(client_agent_invite(alice->agent, on_op, &inv, NULL), SOTTO_OK);
	WAIT(&w, inv.n_done == 1);

	secret_add(s, &n, SECRET_TEXT, strlen(SECRET_TEXT), "message text");
	secret_add(s, &n, SECRET_REPLY, strlen(SECRET_REPLY), "reply text");
	secret_add(s, &n, SECRET_ALICE, strlen(SECRET_ALICE), "alice's display name");
	secret_add(s, &n, SECRET_BOB, strlen(SECRET_BOB), "bob's display name");
	secret_add(s, &n, SECRET_LOCAL, strlen(SECRET_LOCAL), "local contact name");
	secret_add(s, &n, ra->kp.pub, NET_ADDR_KEY_LEN, "relay A key");
	secret_add(s, &n, rb->kp.pub, NET_ADDR_KEY_LEN, "relay B key");
	secret_add(s, &n, ra->addr, strlen(ra->addr), "relay A address");
	secret_add(s, &n, rb->addr, strlen(rb->addr), "relay B address");
	secret_add(s, &n, inv.link + 6, ST_SECRET_MAX, "invitation link");
	secrets_of_contact(alice, a_id, s, &n);
	secrets_of_contact(bob, b_id, s, &n);

	/* With the agents running, then closed. */
	assert_absent_everywhere(users, 2, s, n);
	user_close(alice);
	user_close(bob);
	store_db_free(alice->db);
	alice->db = NULL;
	store_db_free(bob->db);
	bob->db = NULL;
	assert_absent_everywhere(users, 2, s, n);

	/* The scan can fail: a text written in the clear next to the database is found. */
	snprintf(path, sizeof(path), "%s/control", profile_dir(bob));
	st_write_file(path, (const uint8_t *)SECRET_REPLY, strlen(SECRET_REPLY), 0600);
	st_forms_init(&forms, s[1].bytes, s[1].len);
	assert_true(
	        st_scan(profile_dir(bob), ST_TREE_DEPTH, &forms, where, sizeof(where), &n_files));
	(void)unlink(path);
	free(s);
	world_free(&w);
}

static void agent__nomem__send_invite_and_delete_fail_cleanly(void **state)
{
	struct world w;
	struct hist h;
	int64_t a_id, b_id, id = 0;
	sotto_err rc = SOTTO_ERR_NOMEM;
	size_t n_contacts;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 191);
	struct user *bob = user_new(&w, "bob", 192);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);

	/* Fail the 1st, 2nd, ... allocation: NOMEM and nothing stored, until it succeeds. */
	for (unsigned k = 1; k < 200 && rc != SOTTO_OK; k++) {
		alice->alloc.fail_at = alice->alloc.n_allocs + k;
		rc = client_agent_send_text(alice->agent, a_id, (const uint8_t *)"sweep", 5, &id);
		alice->alloc.fail_at = 0;
		history(alice, a_id, &h);
		assert_int_equal(h.n, rc == SOTTO_OK ? 1 : 0);
		if (rc != SOTTO_OK)
			assert_int_equal(rc, SOTTO_ERR_NOMEM);
	}
	assert_int_equal(rc, SOTTO_OK);
	WAIT(&w, bob->n_recv == 1 && alice->status[id] == CLIENT_AGENT_DELIVERED);

	n_contacts = stats(alice).n_contacts;
	rc = SOTTO_ERR_NOMEM;
	for (unsigned k = 1; k < 200 && rc != SOTTO_OK; k++) {
		alice->alloc.fail_at = alice->alloc.n_allocs + k;
		rc = client_agent_invite(alice->agent, NULL, NULL, &id);
		alice->alloc.fail_at = 0;
		if (rc != SOTTO_OK) {
			assert_int_equal(rc, SOTTO_ERR_NOMEM);
			assert_int_equal(stats(alice).n_contacts, n_contacts);
			assert_int_equal(db_count(alice, "SELECT count(*) FROM contacts"),
			                 (int64_t)n_contacts);
		}
	}
	assert_int_equal(rc, SOTTO_OK);
	assert_int_equal(stats(alice).n_contacts, n_contacts + 1);

	rc = SOTTO_ERR_NOMEM;
	for (unsigned k = 1; k < 200 && rc != SOTTO_OK; k++) {
		alice->alloc.fail_at = alice->alloc.n_allocs + k;
		rc = client_agent_contact_delete(alice->agent, a_id, false);
		alice->alloc.fail_at = 0;
		if (rc != SOTTO_OK) {
			assert_int_equal(rc, SOTTO_ERR_NOMEM);
			assert_int_equal(contact_state(alice, a_id), CLIENT_AGENT_CONNECTED);
		}
	}
	assert_int_equal(rc, SOTTO_OK);
	WAIT(&w, bob->n_left == 1);
	world_free(&w);
}

static void agent__open__corrupt_or_moved_record_refused(void **state)
{
	struct client_agent_callbacks cb = {0};
	struct client_agent *a = NULL;
	struct world w;
	int64_t a_id, b_id, c_id, d_id;
	long n_live;
	(void)state;

	world_init(&w);
	struct relay *r = relay_new(&w, 0);
	struct user *alice = user_new(&w, "alice", 201);
	struct user *bob = user_new(&w, "bob", 202);
	add_relay(alice, r);
	add_relay(bob, r);
	make_contact(alice, bob, &a_id, &b_id);
	make_contact(alice, bob, &c_id, &d_id);
	user_close(alice);

	/* A sealed record moved to another row does not open. */
	db_exec(alice, "UPDATE contacts SET info = (SELECT info FROM contacts WHERE id = 1)"
	               " WHERE id = 2");
	n_live = alice->alloc.n_live;
	assert_int_equal(client_agent_open(alice->ctx, &w.loop, alice->db, &alice->cfg, &cb, &a),
	                 SOTTO_ERR_AUTH);
	assert_null(a);
	WAIT(&w, alice->alloc.n_live == n_live); /* what it had opened is released from the loop */

	/* A plain column out of range is corrupt. */
	user_restart(bob);
	user_close(bob);
	db_exec(bob, "UPDATE contacts SET state = 9 WHERE id = 2");
	n_live = bob->alloc.n_live;
	assert_int_equal(client_agent_open(bob->ctx, &w.loop, bob->db, &bob->cfg, &cb, &a),
	                 SOTTO_ERR_CORRUPT);
	WAIT(&w, bob->alloc.n_live == n_live);
	world_free(&w);
}

static void agent__open__invalid_config_refused(void **state)
{
	struct client_agent_callbacks cb = {0};
	struct client_agent_config cfg;
	struct client_agent *a = NULL;
	struct world w;
	(void)state;

	world_init(&w);
	struct user *u = user_new(&w, "alice", 151);
	memset(&cfg, 0, sizeof(cfg));
	cfg.retry_base_ms = 100;
	cfg.retry_max_ms = 50;
	assert_int_equal(client_agent_open(u->ctx, &w.loop, u->db, &cfg, &cb, &a),
	                 SOTTO_ERR_INVALID);
	assert_null(a);
	memset(&cfg, 0, sizeof(cfg));
	cfg.receipt_delay_ms = CLIENT_AGENT_RECEIPT_DELAY_MS_MAX + 1;
	assert_int_equal(client_agent_open(u->ctx, &w.loop, u->db, &cfg, &cb, &a),
	                 SOTTO_ERR_INVALID);
	world_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(agent__connect__invite_join_then_messages_both_ways_delivered),
	        cmocka_unit_test(agent__relays__each_side_receives_on_its_own_relay),
	        cmocka_unit_test(agent__relays__three_users_on_three_relays),
	        cmocka_unit_test(agent__relay_restart__messages_wait_then_arrive_once_in_order),
	        cmocka_unit_test(agent__restart__queued_message_goes_out_after_reopen),
	        cmocka_unit_test(agent__invite__pending_invitation_survives_restart),
	        cmocka_unit_test(agent__connect__link_used_by_another_fails_with_auth),
	        cmocka_unit_test(agent__invite__relay_down_times_out_then_completes),
	        cmocka_unit_test(agent__connect__join_resumes_after_restart_at_each_step),
	        cmocka_unit_test(agent__connect__skey_answered_auth_is_settled_by_the_send),
	        cmocka_unit_test(agent__delete__queue_gone_peer_send_fails_auth_keys_forgotten),
	        cmocka_unit_test(agent__duplicates__redelivery_resend_and_reused_id_shown_once),
	        cmocka_unit_test(agent__receive__store_failure_not_acknowledged_then_fetched),
	        cmocka_unit_test(agent__receive__failed_one_holds_back_the_pushed_ones_in_order),
	        cmocka_unit_test(
	                agent__receive__failed_batch_commit_rolls_back_then_all_arrive_once),
	        cmocka_unit_test(agent__send__grouped_sends_report_after_commit_and_fail_together),
	        cmocka_unit_test(agent__invalid__envelope_acknowledged_and_dropped),
	        cmocka_unit_test(agent__relays__no_relay_configured_is_a_distinct_error),
	        cmocka_unit_test(agent__receipts__one_receipt_carries_sixty_four_ids),
	        cmocka_unit_test(agent__outbox__quota_retried_with_backoff_in_order),
	        cmocka_unit_test(agent__outbox__window_against_small_quota_keeps_order),
	        cmocka_unit_test(agent__at_rest__no_text_name_queue_id_or_relay_in_the_clear),
	        cmocka_unit_test(agent__nomem__send_invite_and_delete_fail_cleanly),
	        cmocka_unit_test(agent__open__corrupt_or_moved_record_refused),
	        cmocka_unit_test(agent__open__invalid_config_refused),
	};

	signal(SIGPIPE, SIG_IGN); /* writes to a peer that hung up fail with EPIPE instead */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
