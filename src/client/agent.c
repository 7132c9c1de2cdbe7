/* SPDX-License-Identifier: MIT */
/*
 * agent.c - the agent's lifecycle, relay connections, task scheduling,
 * events and API (client layer); agent.h has the contract, docs/client.md
 * ("Agent") the behaviour, agent_flow.c the protocol steps and
 * agent_store.c the records.
 *
 * Relay connections: one rconn per relay address, made the first time a
 * queue on it is needed (our queues at open and when created, a peer's
 * queue when its outbox first sends) and kept until the agent closes; all
 * queues on that relay share it. Their state changes become RELAY_UP and
 * RELAY_DOWN events, and a connection coming up runs the waiting tasks of
 * its contacts at once instead of at the end of their backoff.
 *
 * Memory: a struct agent_contact per contact (no names, texts or keys), one
 * struct agent_conn per relay in use, and one small struct agent_req per
 * relay request in flight (at most a few per contact). Contacts removed
 * from the database stay as is_gone records until close, so a pointer held
 * up the stack across a callback never dangles; invite and connect refuse
 * new contacts beyond CLIENT_AGENT_CONTACTS_MAX live ones or twice that
 * many records.
 */
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client/agent_int.h"
#include "core/ctx.h"
#include "core/err.h"
#include "proto/handshake.h"

/* ---- small helpers ---- */

uint64_t agent_wall_ms(struct client_agent *a)
{
	struct timespec ts;

	if (a->cfg.wall_clock != NULL)
		return a->cfg.wall_clock(a->cfg.wall_clock_user);
	if (timespec_get(&ts, TIME_UTC) != TIME_UTC || ts.tv_sec < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct agent_contact *agent_contact_find(struct client_agent *a, int64_t id)
{
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (c->id == id)
			return c->is_gone ? NULL : c;
	}
	return NULL;
}

struct agent_req *agent_req_new(struct client_agent *a, enum agent_req_kind kind,
                                int64_t contact_id, int64_t outbox_id)
{
	struct agent_req *r = ctx_calloc(a->ctx, 1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->a = a;
	r->kind = kind;
	r->contact_id = contact_id;
	r->outbox_id = outbox_id;
	return r;
}

void agent_req_free(struct agent_req *r)
{
	if (r != NULL)
		ctx_free(r->a->ctx, r);
}

/* ---- events ---- */

void agent_emit(struct client_agent *a, const struct client_agent_event *ev)
{
	if (a->is_closing || a->cb.on_event == NULL)
		return;
	a->cb.on_event(a->cb.user, ev);
}

void agent_emit_error(struct client_agent *a, int64_t contact_id, sotto_err err)
{
	struct client_agent_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = CLIENT_AGENT_EV_ERROR;
	ev.contact_id = contact_id;
	ev.err = err;
	agent_emit(a, &ev);
}

void agent_emit_status(struct client_agent *a, int64_t contact_id, int64_t msg_id, uint8_t status,
                       sotto_err reason)
{
	struct client_agent_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = CLIENT_AGENT_EV_STATUS;
	ev.contact_id = contact_id;
	ev.msg_id = msg_id;
	ev.status = (enum client_agent_msg_status)status;
	ev.err = reason;
	agent_emit(a, &ev);
}

/* The callback is not an event: it runs even while closing (with SOTTO_ERR_CANCELLED). */
void agent_op_done(struct agent_contact *c, sotto_err err, const char *link)
{
	client_agent_done_fn *done = c->op_done;
	void *user = c->op_user;

	if (!c->has_op)
		return;
	c->has_op = false;
	c->op_done = NULL;
	c->op_user = NULL;
	if (done != NULL)
		done(user, err, c->id, link);
}

/* ---- scheduling ---- */

static void on_timer(uv_timer_t *t);

/* Starts the timer for the earliest due task or invite/connect deadline. */
static void agent_sched(struct client_agent *a)
{
	uint64_t now, due = UINT64_MAX;

	if (a->is_closing || a->is_running)
		return; /* agent_run_tasks schedules when it ends */
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (c->is_gone)
			continue;
		for (int k = 0; k < AGENT_TASK_N; k++) {
			const struct agent_task *t = &c->task[k];
			if (t->is_armed && !t->is_inflight && t->due_ms < due)
				due = t->due_ms;
		}
		if (c->has_op && c->op_deadline_ms < due)
			due = c->op_deadline_ms;
	}
	if (due == UINT64_MAX) {
		(void)uv_timer_stop(&a->timer);
		return;
	}
	now = ctx_now_ms(a->ctx);
	(void)uv_timer_start(&a->timer, on_timer, due > now ? due - now : 0, 0);
}

void agent_arm(struct client_agent *a, struct agent_contact *c, enum agent_task_kind kind,
               uint64_t delay_ms)
{
	struct agent_task *t = &c->task[kind];
	uint64_t due = ctx_now_ms(a->ctx) + delay_ms;

	if (a->is_closing || c->is_gone)
		return;
	if (!t->is_armed || due < t->due_ms)
		t->due_ms = due;
	t->is_armed = true;
	agent_sched(a);
}

void agent_disarm(struct agent_contact *c, enum agent_task_kind kind)
{
	c->task[kind].is_armed = false;
	c->task[kind].attempts = 0;
}

void agent_backoff(struct client_agent *a, struct agent_contact *c, enum agent_task_kind kind)
{
	struct agent_task *t = &c->task[kind];
	uint64_t ceil = a->cfg.retry_base_ms;
	uint8_t b[4];

	for (unsigned i = 0; i < t->attempts && ceil < a->cfg.retry_max_ms; i++)
		ceil *= 2;
	if (ceil > a->cfg.retry_max_ms)
		ceil = a->cfg.retry_max_ms;
	if (t->attempts < 64)
		t->attempts++;
	ctx_random(a->ctx, b, sizeof(b));
	t->is_armed = false; /* a fresh due time, not the earlier one */
	agent_arm(a, c, kind,
	          ((uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3]) %
	                  (ceil + 1));
}

/* Runs every due task, then reschedules. Only ever called from the timer. */
static void agent_run_tasks(struct client_agent *a)
{
	uint64_t now = ctx_now_ms(a->ctx);

	a->is_running = true;
	/* Nothing goes to a relay before what it depends on is durable. */
	if (a->in_batch)
		(void)agent_batch_commit(a);
	for (struct agent_contact *c = a->contacts; c != NULL && !a->is_closing; c = c->next) {
		if (c->is_gone)
			continue;
		if (c->has_op && now >= c->op_deadline_ms)
			agent_op_done(c, SOTTO_ERR_TIMEOUT, NULL);
		for (int k = 0; k < AGENT_TASK_N && !a->is_closing && !c->is_gone; k++) {
			struct agent_task *t = &c->task[k];
			if (!t->is_armed || t->is_inflight || t->due_ms > now)
				continue;
			t->is_armed = false;
			agent_task_run(a, c, (enum agent_task_kind)k);
		}
	}
	a->is_running = false;
	agent_sched(a);
}

static void on_timer(uv_timer_t *t)
{
	agent_run_tasks(t->data);
}

/* ---- relay connections ---- */

static struct agent_contact *contact_by_rid(struct client_agent *a, const struct agent_conn *conn,
                                            const uint8_t rid[static RELAY_ID_LEN])
{
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (!c->is_gone && c->rq_conn == conn && (c->flags & AGENT_F_RQ) != 0 &&
		    memcmp(c->rid, rid, RELAY_ID_LEN) == 0)
			return c;
	}
	return NULL;
}

static void conn_on_state(void *user, enum rconn_state state, sotto_err reason)
{
	struct agent_conn *conn = user;
	struct client_agent *a = conn->a;
	struct client_agent_event ev;

	conn->is_up = state == RCONN_UP;
	if (conn->is_up) {
		/* Whatever waited for this relay goes now, not at the end of its backoff. */
		for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
			if (c->is_gone || (c->rq_conn != conn && c->sq_conn != conn))
				continue;
			if (c->rq_conn == conn)
				c->is_rx_stalled =
				        false; /* a new SUB: pushes start from the oldest */
			for (int k = 0; k < AGENT_TASK_N; k++) {
				if (c->task[k].is_armed && !c->task[k].is_inflight) {
					c->task[k].attempts = 0;
					agent_arm(a, c, (enum agent_task_kind)k, 0);
				}
			}
		}
	}
	memset(&ev, 0, sizeof(ev));
	ev.kind = conn->is_up ? CLIENT_AGENT_EV_RELAY_UP : CLIENT_AGENT_EV_RELAY_DOWN;
	ev.relay = conn->text;
	ev.err = reason;
	agent_emit(a, &ev);
}

static void conn_on_msg(void *user, const uint8_t rid[static RELAY_ID_LEN],
                        const uint8_t msg_id[static RELAY_MSG_ID_LEN], uint64_t timestamp,
                        uint8_t flags, const uint8_t *body, size_t body_len)
{
	struct agent_conn *conn = user;
	struct agent_contact *c = contact_by_rid(conn->a, conn, rid);

	(void)timestamp;
	(void)flags;
	if (c == NULL || !c->is_subscribed)
		return;
	if (c->is_rx_stalled) {
		conn->a->stats.n_msgs_skipped++; /* comes again after the GET */
		return;
	}
	agent_deliver(conn->a, c, msg_id, body, body_len);
}

static void conn_on_end(void *user, const uint8_t rid[static RELAY_ID_LEN])
{
	struct agent_conn *conn = user;
	struct agent_contact *c = contact_by_rid(conn->a, conn, rid);

	if (c == NULL)
		return;
	c->is_subscribed = false;
	agent_emit_error(conn->a, c->id, SOTTO_ERR_STATE);
}

static void conn_on_error(void *user, const uint8_t *rid, sotto_err err)
{
	struct agent_conn *conn = user;
	struct agent_contact *c;

	if (rid == NULL || (c = contact_by_rid(conn->a, conn, rid)) == NULL)
		return;
	/*
	 * A refused SUB (the queue is gone or not ours any more) or a MSG that
	 * did not open (a faulty relay): either way nothing arrives on this
	 * queue until it is sorted out, which the user should know.
	 */
	agent_emit_error(conn->a, c->id, err);
}

static void agent_maybe_finish(struct client_agent *a);

static void conn_on_closed(void *user)
{
	struct agent_conn *conn = user;
	struct client_agent *a = conn->a;

	conn->rc = NULL;
	a->n_conns_closing--;
	agent_maybe_finish(a);
}

static bool addr_equal(const struct net_addr *x, const struct net_addr *y)
{
	return memcmp(x->key, y->key, NET_ADDR_KEY_LEN) == 0 && x->port == y->port &&
	       strcmp(x->host, y->host) == 0;
}

sotto_err agent_conn_get(struct client_agent *a, const struct net_addr *addr,
                         struct agent_conn **out)
{
	struct rconn_callbacks cb = {.on_state = conn_on_state,
	                             .on_msg = conn_on_msg,
	                             .on_end = conn_on_end,
	                             .on_error = conn_on_error,
	                             .on_closed = conn_on_closed};
	struct agent_conn *conn, **tail = &a->conns;
	sotto_err rc;

	*out = NULL;
	if (a->is_closing)
		return SOTTO_ERR_STATE;
	for (conn = a->conns; conn != NULL; conn = conn->next) {
		if (addr_equal(&conn->addr, addr)) {
			*out = conn;
			return SOTTO_OK;
		}
		tail = &conn->next;
	}
	if (a->n_conns >= CLIENT_AGENT_RELAY_CONNS_MAX)
		return SOTTO_ERR_BUSY;
	if ((conn = ctx_calloc(a->ctx, 1, sizeof(*conn))) == NULL)
		return SOTTO_ERR_NOMEM;
	conn->a = a;
	conn->addr = *addr;
	cb.user = conn;
	if ((rc = net_addr_format(addr, conn->text, sizeof(conn->text))) != SOTTO_OK ||
	    (rc = rconn_new(a->ctx, a->loop, addr, &a->cfg.rconn, &cb, &conn->rc)) != SOTTO_OK) {
		ctx_free(a->ctx, conn);
		return rc == SOTTO_ERR_INVALID ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : rc;
	}
	*tail = conn;
	a->n_conns++;
	*out = conn;
	return SOTTO_OK;
}

sotto_err agent_subscribe(struct client_agent *a, struct agent_contact *c,
                          const struct agent_info *info)
{
	sotto_err rc;

	if (!info->has_rq || !info->has_rq_relay)
		return SOTTO_OK;
	if (c->rq_conn == NULL &&
	    (rc = agent_conn_get(a, &info->rq_relay, &c->rq_conn)) != SOTTO_OK)
		return rc;
	if ((rc = rconn_subscribe(c->rq_conn->rc, info->rq.rid, info->rq.k_rauth,
	                          info->rq.k_deliver)) != SOTTO_OK)
		return rc;
	c->is_subscribed = true;
	return SOTTO_OK;
}

void agent_unsubscribe(struct agent_contact *c)
{
	if (!c->is_subscribed || c->rq_conn == NULL || c->rq_conn->rc == NULL)
		return;
	sotto_err rc = rconn_unsubscribe(c->rq_conn->rc, c->rid); /* NOT_FOUND: forgotten already */
	(void)rc;
	c->is_subscribed = false;
}

/* ---- contacts in memory ---- */

/* Appends c to the list (ids only grow, so the list stays sorted by id). */
static void contact_link(struct client_agent *a, struct agent_contact *c)
{
	struct agent_contact **tail = &a->contacts;

	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = c;
	a->n_contacts++;
}

static struct agent_contact *contact_new(struct client_agent *a, int64_t id, uint8_t state,
                                         uint32_t flags)
{
	struct agent_contact *c = ctx_calloc(a->ctx, 1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->id = id;
	c->state = state;
	c->flags = flags;
	contact_link(a, c);
	return c;
}

/* Copies the routing IDs of info into c. */
static void contact_ids(struct agent_contact *c, const struct agent_info *info)
{
	if (info->has_rq) {
		memcpy(c->rid, info->rq.rid, RELAY_ID_LEN);
		memcpy(c->rq_sid, info->rq.sid, RELAY_ID_LEN);
	}
	c->has_sq = info->has_sq;
	if (info->has_sq)
		memcpy(c->sq_sid, info->sq.sid, RELAY_ID_LEN);
}

/* Resumes one contact loaded from the database. */
static sotto_err load_row(struct client_agent *a, int64_t id, uint8_t state, uint32_t flags,
                          const struct agent_info *info)
{
	struct agent_contact *c = contact_new(a, id, state, flags);
	sotto_err rc;

	if (c == NULL)
		return SOTTO_ERR_NOMEM;
	contact_ids(c, info);
	if (info->has_rq_relay &&
	    (rc = agent_conn_get(a, &info->rq_relay, &c->rq_conn)) != SOTTO_OK)
		return rc;
	if (state != CLIENT_AGENT_DELETED && (flags & AGENT_F_RQ) != 0 &&
	    (rc = agent_subscribe(a, c, info)) != SOTTO_OK)
		return rc;
	if (state != CLIENT_AGENT_DELETED && (flags & AGENT_F_RQ) == 0)
		agent_arm(a, c, AGENT_TASK_NEW, 0);
	if ((flags & AGENT_F_DEL_PENDING) != 0)
		agent_arm(a, c, AGENT_TASK_DEL, 0);
	agent_arm(a, c, AGENT_TASK_SEND, 0);
	if (state == CLIENT_AGENT_CONNECTED)
		agent_arm(a, c, AGENT_TASK_RCPT, 0);
	return SOTTO_OK;
}

/* ---- open and close ---- */

static sotto_err config_take(struct client_agent *a, const struct client_agent_config *cfg)
{
	struct client_agent_config *c = &a->cfg;

	if (cfg != NULL)
		*c = *cfg;
	if (c->retry_base_ms == 0)
		c->retry_base_ms = CLIENT_AGENT_RETRY_BASE_MS_DEFAULT;
	if (c->retry_max_ms == 0)
		c->retry_max_ms = c->retry_base_ms > CLIENT_AGENT_RETRY_MAX_MS_DEFAULT
		                          ? c->retry_base_ms
		                          : CLIENT_AGENT_RETRY_MAX_MS_DEFAULT;
	if (c->op_timeout_ms == 0)
		c->op_timeout_ms = CLIENT_AGENT_OP_TIMEOUT_MS_DEFAULT;
	if (c->receipt_delay_ms == 0)
		c->receipt_delay_ms = CLIENT_AGENT_RECEIPT_DELAY_MS_DEFAULT;
	if (c->retry_max_ms > CLIENT_AGENT_RETRY_MS_MAX || c->retry_base_ms > c->retry_max_ms ||
	    c->op_timeout_ms > CLIENT_AGENT_OP_TIMEOUT_MS_MAX ||
	    c->receipt_delay_ms > CLIENT_AGENT_RECEIPT_DELAY_MS_MAX)
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

static void agent_free_memory(struct client_agent *a)
{
	struct agent_contact *c;
	struct agent_conn *conn;

	while ((c = a->contacts) != NULL) {
		a->contacts = c->next;
		sodium_memzero(c, sizeof(*c));
		ctx_free(a->ctx, c);
	}
	while ((conn = a->conns) != NULL) {
		a->conns = conn->next;
		sodium_memzero(conn, sizeof(*conn));
		ctx_free(a->ctx, conn);
	}
	secbuf_free(a->tag_key);
	ctx_free(a->ctx, a);
}

/* The last step of closing: every connection and the timer are gone. */
static void agent_maybe_finish(struct client_agent *a)
{
	client_agent_closed_fn *closed = a->closed;
	void *user = a->closed_user;

	if (!a->is_closing || !a->is_timer_closed || !a->is_check_closed || a->n_conns_closing > 0)
		return;
	agent_free_memory(a);
	if (closed != NULL)
		closed(user);
}

static void on_timer_closed(uv_handle_t *h)
{
	struct client_agent *a = h->data;

	a->is_timer_closed = true;
	agent_maybe_finish(a);
}

static void on_check_closed(uv_handle_t *h)
{
	struct client_agent *a = h->data;

	a->is_check_closed = true;
	agent_maybe_finish(a);
}

/* Starts closing: cancels what waits, closes the connections and the timer. */
static void agent_shutdown(struct client_agent *a)
{
	agent_batch_finish(a); /* what was stored is acknowledged before the connections go */
	a->is_closing = true;
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (!c->is_gone)
			agent_op_done(c, SOTTO_ERR_CANCELLED, NULL);
	}
	for (struct agent_conn *conn = a->conns; conn != NULL; conn = conn->next) {
		if (conn->rc != NULL) {
			a->n_conns_closing++;
			rconn_close(conn->rc);
		}
	}
	uv_close((uv_handle_t *)&a->timer, on_timer_closed);
	uv_close((uv_handle_t *)&a->check, on_check_closed);
}

void client_agent_close(struct client_agent *a, client_agent_closed_fn *closed, void *user)
{
	if (a == NULL || a->is_closing)
		return;
	a->closed = closed;
	a->closed_user = user;
	agent_shutdown(a);
}

sotto_err client_agent_open(struct sotto_ctx *ctx, uv_loop_t *loop, struct store_db *db,
                            const struct client_agent_config *cfg,
                            const struct client_agent_callbacks *cb, struct client_agent **out)
{
	struct client_agent *a = NULL;
	sotto_err rc;

	*out = NULL;
	if ((a = ctx_calloc(ctx, 1, sizeof(*a))) == NULL)
		return SOTTO_ERR_NOMEM;
	a->ctx = ctx;
	a->loop = loop;
	a->db = db;
	a->sql = store_db_sqlite(db);
	a->cb = *cb;
	if ((rc = config_take(a, cfg)) != SOTTO_OK) {
		agent_free_memory(a);
		return rc;
	}
	if (store_db_schema_version(db) != store_db_code_version() || store_db_code_version() < 2) {
		agent_free_memory(a);
		return SOTTO_ERR_VERSION;
	}
	if (uv_check_init(loop, &a->check) != 0) {
		agent_free_memory(a);
		return SOTTO_ERR_IO;
	}
	a->check.data = a;
	if (uv_timer_init(loop, &a->timer) != 0) {
		/* The check handle must be closed first: the loop frees nothing of ours before. */
		a->is_closing = a->is_timer_closed = true;
		uv_close((uv_handle_t *)&a->check, on_check_closed);
		return SOTTO_ERR_IO;
	}
	a->timer.data = a;
	a->is_running = true; /* schedule once, after loading */
	if ((rc = agent_tag_key_load(a)) != SOTTO_OK ||
	    (rc = agent_contacts_load(a, load_row)) != SOTTO_OK) {
		/* Nothing was reported yet: close quietly, memory goes from the loop. */
		a->cb.on_event = NULL;
		agent_shutdown(a);
		return rc;
	}
	a->is_running = false;
	agent_sched(a);
	*out = a;
	return SOTTO_OK;
}

/* ---- API: profile ---- */

sotto_err client_agent_set_name(struct client_agent *a, const char *name, size_t name_len)
{
	struct client_envelope env;
	struct ratchet *r = NULL;
	sotto_err rc;
	size_t n;

	if (a->is_closing)
		return SOTTO_ERR_STATE;
	if (!client_name_is_valid((const uint8_t *)name, name_len))
		return SOTTO_ERR_INVALID;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		return rc;
	if ((rc = agent_name_put(a, name, name_len)) != SOTTO_OK)
		goto out;
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		bool has_session =
		        c->state == CLIENT_AGENT_CONNECTED ||
		        (c->state == CLIENT_AGENT_JOINING && (c->flags & AGENT_F_RQ) != 0);
		if (c->is_gone || !has_session)
			continue;
		/* A contact whose outbox is full misses this rename rather than growing it. */
		if ((rc = agent_outbox_count(a, c->id, &n)) != SOTTO_OK)
			goto out;
		if (n >= CLIENT_AGENT_OUTBOX_MAX)
			continue;
		agent_envelope_init(a, &env, CLIENT_ENVELOPE_NAME);
		memcpy(env.name, name, name_len);
		env.name_len = name_len;
		if ((rc = agent_ratchet_load(a, c->id, &r)) != SOTTO_OK ||
		    (rc = agent_queue_envelope(a, c->id, r, &env, 0)) != SOTTO_OK ||
		    (rc = agent_ratchet_save(a, c->id, r)) != SOTTO_OK)
			goto out;
		ratchet_free(r);
		r = NULL;
	}
	if ((rc = agent_tx_commit(a)) != SOTTO_OK)
		goto out;
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (!c->is_gone && c->state != CLIENT_AGENT_DELETED)
			agent_arm(a, c, AGENT_TASK_SEND, 0);
	}
out:
	ratchet_free(r);
	sodium_memzero(&env, sizeof(env));
	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	return rc;
}

sotto_err client_agent_get_name(struct client_agent *a, char *out, size_t cap)
{
	size_t len = 0;

	return agent_name_get(a, out, cap, &len);
}

/* ---- API: relays ---- */

/* A relay address given to the API: refused while closing, else parsed into *addr. */
static sotto_err relay_arg(const struct client_agent *a, const char *text, size_t len,
                           struct net_addr *addr)
{
	if (a->is_closing)
		return SOTTO_ERR_STATE;
	return net_addr_parse(text, len, addr);
}

sotto_err client_agent_relay_add(struct client_agent *a, const char *text, size_t len)
{
	struct net_addr addr;
	sotto_err rc = relay_arg(a, text, len, &addr);

	return rc != SOTTO_OK ? rc : agent_relays_add(a, &addr);
}

sotto_err client_agent_relay_remove(struct client_agent *a, const char *text, size_t len)
{
	struct net_addr addr;
	sotto_err rc = relay_arg(a, text, len, &addr);

	return rc != SOTTO_OK ? rc : agent_relays_remove(a, &addr);
}

sotto_err client_agent_relay_list(struct client_agent *a, client_agent_relay_fn *fn, void *user)
{
	return agent_relays_list(a, fn, user);
}

/* ---- API: contacts ---- */

/* Makes the durable row of a new contact and its struct; the caller arms the first task. */
static sotto_err contact_create(struct client_agent *a, uint8_t state, struct agent_info *info,
                                const uint8_t *hs, size_t hs_len, struct agent_contact **out)
{
	struct agent_contact *c = NULL;
	struct agent_conn *conn = NULL;
	int64_t id = 0;
	sotto_err rc;

	*out = NULL;
	/* Everything that can fail comes before the commit: a contact exists or it does not. */
	if ((rc = agent_conn_get(a, &info->rq_relay, &conn)) != SOTTO_OK)
		return rc;
	if ((c = ctx_calloc(a->ctx, 1, sizeof(*c))) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		goto out;
	info->created_ms = agent_wall_ms(a);
	if ((rc = agent_contact_insert(a, state, 0, &id)) != SOTTO_OK ||
	    (rc = agent_info_save(a, id, info)) != SOTTO_OK ||
	    (rc = agent_col_put(a, id, AGENT_COL_HS, hs, hs_len)) != SOTTO_OK ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK) {
		agent_tx_rollback(a);
		goto out;
	}
	c->id = id;
	c->state = state;
	c->rq_conn = conn;
	contact_ids(c, info);
	contact_link(a, c);
	*out = c;
	c = NULL; /* moved */
out:
	ctx_free(a->ctx, c);
	return rc;
}

static size_t live_contacts(const struct client_agent *a)
{
	size_t n = 0;

	for (const struct agent_contact *c = a->contacts; c != NULL; c = c->next)
		n += c->is_gone ? 0 : 1;
	return n;
}

/*
 * Whether one more contact fits; if so, info gets the relay of its
 * receiving queue.
 */
static sotto_err contact_admit(struct client_agent *a, struct agent_info *info)
{
	sotto_err rc;

	if (live_contacts(a) >= CLIENT_AGENT_CONTACTS_MAX ||
	    a->n_contacts >= 2 * (size_t)CLIENT_AGENT_CONTACTS_MAX)
		return SOTTO_ERR_BUSY;
	if ((rc = agent_relays_pick(a, &info->rq_relay)) != SOTTO_OK)
		return rc;
	info->has_rq_relay = true;
	return SOTTO_OK;
}

/* Starts the operation of the new contact c and reports its id (contact_id may be NULL). */
static void op_start(struct client_agent *a, struct agent_contact *c, client_agent_done_fn *done,
                     void *user, int64_t *contact_id)
{
	if (contact_id != NULL)
		*contact_id = c->id;
	c->has_op = true;
	c->op_done = done;
	c->op_user = user;
	c->op_deadline_ms = ctx_now_ms(a->ctx) + a->cfg.op_timeout_ms;
	agent_arm(a, c, AGENT_TASK_NEW, 0);
}

sotto_err client_agent_invite(struct client_agent *a, client_agent_done_fn *done, void *user,
                              int64_t *contact_id)
{
	uint8_t state[256];
	size_t state_len = 0;
	struct handshake_inviter *inv = NULL;
	struct agent_contact *c = NULL;
	struct agent_info info;
	sotto_err rc;

	memset(&info, 0, sizeof(info));
	if (contact_id != NULL)
		*contact_id = 0;
	if (a->is_closing)
		return SOTTO_ERR_STATE;
	if ((rc = contact_admit(a, &info)) != SOTTO_OK)
		return rc;
	if ((rc = handshake_invite_new(a->ctx, &inv)) != SOTTO_OK ||
	    (rc = handshake_inviter_serialize(inv, state, sizeof(state), &state_len)) != SOTTO_OK ||
	    (rc = contact_create(a, CLIENT_AGENT_INVITING, &info, state, state_len, &c)) !=
	            SOTTO_OK)
		goto out;
	op_start(a, c, done, user, contact_id);
out:
	handshake_inviter_free(inv);
	sodium_memzero(state, sizeof(state));
	agent_info_clear(&info);
	return rc;
}

/* Whether sid is one of our queues or a queue we already send to. */
static bool sid_is_known(const struct client_agent *a, const uint8_t sid[static RELAY_ID_LEN])
{
	for (const struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (c->is_gone)
			continue;
		if ((c->flags & AGENT_F_RQ) != 0 && memcmp(c->rq_sid, sid, RELAY_ID_LEN) == 0)
			return true;
		if (c->has_sq && memcmp(c->sq_sid, sid, RELAY_ID_LEN) == 0)
			return true;
	}
	return false;
}

sotto_err client_agent_connect(struct client_agent *a, const char *link, size_t len,
                               client_agent_done_fn *done, void *user, int64_t *contact_id)
{
	struct agent_contact *c = NULL;
	struct client_link l;
	struct agent_info info;
	sotto_err rc;

	memset(&info, 0, sizeof(info));
	if (contact_id != NULL)
		*contact_id = 0;
	if (a->is_closing)
		return SOTTO_ERR_STATE;
	if ((rc = client_link_from_text(link, len, &l)) != SOTTO_OK)
		return rc;
	if (sid_is_known(a, l.queue.sid))
		return SOTTO_ERR_USED;
	if ((rc = contact_admit(a, &info)) != SOTTO_OK)
		return rc;
	info.has_sq = true;
	info.sq = l.queue;
	if ((rc = contact_create(a, CLIENT_AGENT_JOINING, &info, l.invitation.encoded,
	                         l.invitation.encoded_len, &c)) != SOTTO_OK)
		goto out;
	op_start(a, c, done, user, contact_id);
out:
	agent_info_clear(&info);
	return rc;
}

sotto_err agent_link_text(struct client_agent *a, int64_t id, char *out, size_t cap)
{
	struct handshake_inviter *inv = NULL;
	struct client_queue_addr q;
	struct agent_info info;
	const uint8_t *inv_bytes;
	uint8_t *hs = NULL;
	size_t hs_len = 0, inv_len = 0;
	sotto_err rc;

	if (cap > 0)
		out[0] = '\0';
	if ((rc = agent_info_load(a, id, &info)) != SOTTO_OK)
		return rc;
	if (!info.has_rq) {
		rc = SOTTO_ERR_STATE;
		goto out;
	}
	if ((rc = agent_col_get(a, id, AGENT_COL_HS, &hs, &hs_len)) != SOTTO_OK) {
		rc = rc == SOTTO_ERR_NOT_FOUND ? SOTTO_ERR_STATE : rc;
		goto out;
	}
	if ((rc = handshake_inviter_deserialize(a->ctx, hs, hs_len, &inv)) != SOTTO_OK)
		goto out;
	memset(&q, 0, sizeof(q));
	q.relay = info.rq_relay;
	memcpy(q.sid, info.rq.sid, RELAY_ID_LEN);
	memcpy(q.ssk, info.rq.ssk, RELAY_KEY_LEN);
	inv_bytes = handshake_invitation_bytes(inv, &inv_len);
	rc = client_link_to_text(&q, inv_bytes, inv_len, out, cap);
out:
	handshake_inviter_free(inv);
	if (hs != NULL) {
		sodium_memzero(hs, hs_len);
		ctx_free(a->ctx, hs);
	}
	agent_info_clear(&info);
	return rc;
}

sotto_err client_agent_contact_link(struct client_agent *a, int64_t contact_id, char *out,
                                    size_t cap)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);

	if (cap > 0)
		out[0] = '\0';
	if (c == NULL)
		return SOTTO_ERR_NOT_FOUND;
	if (c->state != CLIENT_AGENT_INVITING || (c->flags & AGENT_F_RQ) == 0)
		return SOTTO_ERR_STATE;
	return agent_link_text(a, contact_id, out, cap);
}

static sotto_err contact_fill(struct client_agent *a, const struct agent_contact *c,
                              struct client_agent_contact *out)
{
	struct agent_info info;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = agent_info_load(a, c->id, &info)) != SOTTO_OK)
		return rc;
	out->id = c->id;
	out->state = (enum client_agent_contact_state)c->state;
	memcpy(out->peer_name, info.peer_name, info.peer_name_len);
	out->has_local_name = info.local_name_len > 0;
	if (out->has_local_name)
		memcpy(out->name, info.local_name, info.local_name_len);
	else
		memcpy(out->name, info.peer_name, info.peer_name_len);
	agent_info_clear(&info);
	return SOTTO_OK;
}

sotto_err client_agent_contact_list(struct client_agent *a, client_agent_contact_fn *fn, void *user)
{
	struct client_agent_contact out;
	sotto_err rc;

	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (c->is_gone)
			continue;
		if ((rc = contact_fill(a, c, &out)) != SOTTO_OK)
			return rc;
		fn(user, &out);
	}
	sodium_memzero(&out, sizeof(out));
	return SOTTO_OK;
}

sotto_err client_agent_contact_get(struct client_agent *a, int64_t contact_id,
                                   struct client_agent_contact *out)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);

	memset(out, 0, sizeof(*out));
	if (c == NULL)
		return SOTTO_ERR_NOT_FOUND;
	return contact_fill(a, c, out);
}

sotto_err client_agent_contact_rename(struct client_agent *a, int64_t contact_id, const char *name,
                                      size_t name_len)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);
	struct agent_info info;
	sotto_err rc;

	if (a->is_closing)
		return SOTTO_ERR_STATE;
	if (c == NULL)
		return SOTTO_ERR_NOT_FOUND;
	if (name_len > 0 && !client_name_is_valid((const uint8_t *)name, name_len))
		return SOTTO_ERR_INVALID;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		return rc;
	if ((rc = agent_info_load(a, c->id, &info)) == SOTTO_OK) {
		memset(info.local_name, 0, sizeof(info.local_name));
		memcpy(info.local_name, name, name_len);
		info.local_name_len = name_len;
		if ((rc = agent_info_save(a, c->id, &info)) == SOTTO_OK)
			rc = agent_tx_commit(a);
	}
	agent_info_clear(&info);
	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	return rc;
}

sotto_err client_agent_contact_delete(struct client_agent *a, int64_t contact_id, bool purge)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);
	struct agent_del *d = NULL;
	sotto_err rc;

	if (a->is_closing)
		return SOTTO_ERR_STATE;
	if (c == NULL)
		return SOTTO_ERR_NOT_FOUND;
	if (c->state == CLIENT_AGENT_DELETED && !purge)
		return SOTTO_ERR_STATE;
	if ((d = ctx_calloc(a->ctx, 1, sizeof(*d))) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		goto out;
	if ((rc = agent_delete_tx(a, c, true, purge, SOTTO_ERR_CANCELLED, d)) != SOTTO_OK ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK) {
		agent_tx_rollback(a);
		goto out;
	}
	agent_delete_after(a, c, d);
out:
	ctx_free(a->ctx, d);
	return rc;
}

sotto_err client_agent_security_code(struct client_agent *a, int64_t contact_id, char *out,
                                     size_t cap)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);
	struct ratchet *r = NULL;
	sotto_err rc;

	if (cap > 0)
		out[0] = '\0';
	if (c == NULL)
		return SOTTO_ERR_NOT_FOUND;
	if (c->state == CLIENT_AGENT_DELETED)
		return SOTTO_ERR_STATE;
	if ((rc = agent_ratchet_load(a, contact_id, &r)) != SOTTO_OK)
		return rc;
	rc = handshake_security_code(r, out, cap);
	ratchet_free(r);
	return rc;
}

/* ---- API: messages ---- */

/* The checks send_text and send_text_grouped make first: c on success. */
static sotto_err send_check(struct client_agent *a, int64_t contact_id, const uint8_t *text,
                            size_t len, struct agent_contact **out)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);

	*out = NULL;
	if (a->is_closing)
		return SOTTO_ERR_STATE;
	if (!client_text_is_valid(text, len))
		return SOTTO_ERR_INVALID;
	if (c == NULL)
		return SOTTO_ERR_NOT_FOUND;
	if (c->state != CLIENT_AGENT_CONNECTED)
		return SOTTO_ERR_STATE;
	*out = c;
	return SOTTO_OK;
}

/* The message, its outbox entry and the ratchet in one transaction (or batch savepoint). */
static sotto_err send_tx(struct client_agent *a, struct agent_contact *c, const uint8_t *text,
                         size_t len, int64_t *msg_id)
{
	struct client_envelope env;
	struct ratchet *r = NULL;
	int64_t id = 0;
	size_t n = 0;
	sotto_err rc;

	*msg_id = 0;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		return rc;
	if ((rc = agent_outbox_count(a, c->id, &n)) != SOTTO_OK)
		goto out;
	if (n >= CLIENT_AGENT_OUTBOX_MAX) {
		rc = SOTTO_ERR_BUSY;
		goto out;
	}
	agent_envelope_init(a, &env, CLIENT_ENVELOPE_TEXT);
	env.text = text;
	env.text_len = len;
	if ((rc = agent_ratchet_load(a, c->id, &r)) != SOTTO_OK ||
	    (rc = agent_msg_add(a, c->id, CLIENT_AGENT_OUT, CLIENT_AGENT_QUEUED, false, env.msg_id,
	                        env.sent_at_ms, env.sent_at_ms, text, len, &id)) != SOTTO_OK ||
	    (rc = agent_queue_envelope(a, c->id, r, &env, id)) != SOTTO_OK ||
	    (rc = agent_ratchet_save(a, c->id, r)) != SOTTO_OK ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK)
		goto out;
	a->stats.n_texts_out++;
	*msg_id = id;
	/* Runs from the timer, which commits any open batch before relay work. */
	agent_arm(a, c, AGENT_TASK_SEND, 0);
out:
	ratchet_free(r);
	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	return rc;
}

sotto_err client_agent_send_text(struct client_agent *a, int64_t contact_id, const uint8_t *text,
                                 size_t len, int64_t *msg_id)
{
	struct agent_contact *c;
	int64_t id = 0;
	sotto_err rc;

	if (msg_id != NULL)
		*msg_id = 0;
	if ((rc = send_check(a, contact_id, text, len, &c)) != SOTTO_OK ||
	    (rc = send_tx(a, c, text, len, &id)) != SOTTO_OK)
		return rc;
	if (msg_id != NULL)
		*msg_id = id;
	return SOTTO_OK;
}

sotto_err client_agent_send_text_grouped(struct client_agent *a, int64_t contact_id,
                                         const uint8_t *text, size_t len,
                                         client_agent_stored_fn *done, void *user)
{
	struct agent_contact *c;
	struct agent_queued *q = NULL;
	sotto_err rc;

	if ((rc = send_check(a, contact_id, text, len, &c)) != SOTTO_OK)
		return rc;
	if ((q = ctx_calloc(a->ctx, 1, sizeof(*q))) == NULL)
		return SOTTO_ERR_NOMEM;
	a->in_batch_op = true;
	rc = send_tx(a, c, text, len, &q->msg_id);
	a->in_batch_op = false;
	if (rc != SOTTO_OK) {
		ctx_free(a->ctx, q);
		return rc;
	}
	q->done = done;
	q->user = user;
	if (a->sq_tail != NULL)
		a->sq_tail->next = q;
	else
		a->sq_head = q;
	a->sq_tail = q;
	(void)uv_check_start(&a->check, agent_on_check);
	return SOTTO_OK;
}

sotto_err client_agent_history(struct client_agent *a, int64_t contact_id, int64_t before,
                               size_t limit, client_agent_msg_fn *fn, void *user)
{
	if (limit == 0 || limit > CLIENT_AGENT_HISTORY_MAX)
		return SOTTO_ERR_INVALID;
	if (agent_contact_find(a, contact_id) == NULL)
		return SOTTO_ERR_NOT_FOUND;
	return agent_msg_list(a, contact_id, before, limit, fn, user);
}

sotto_err client_agent_pending(struct client_agent *a, int64_t contact_id, size_t *n_outbox,
                               size_t *n_dels)
{
	struct agent_contact *c = NULL;
	size_t n;
	sotto_err rc;

	*n_outbox = 0;
	*n_dels = 0;
	if (contact_id != 0 && (c = agent_contact_find(a, contact_id)) == NULL)
		return SOTTO_ERR_NOT_FOUND;
	for (struct agent_contact *k = a->contacts; k != NULL; k = k->next) {
		if (k->is_gone || (c != NULL && k != c))
			continue;
		if ((rc = agent_outbox_count(a, k->id, &n)) != SOTTO_OK)
			return rc;
		*n_outbox += n;
		/* a queue still to DEL, or a purged contact still to remove (its next SEND run) */
		if ((k->flags & (AGENT_F_DEL_PENDING | AGENT_F_PURGE)) != 0)
			(*n_dels)++;
	}
	return SOTTO_OK;
}

void client_agent_stats(const struct client_agent *a, struct client_agent_stats *out)
{
	*out = a->stats;
	out->n_contacts = live_contacts(a);
	out->n_relay_conns = a->n_conns;
}

/* ---- tests ---- */

void agent_debug_tap(struct client_agent *a, agent_tap_fn *fn, void *user)
{
	a->tap = fn;
	a->tap_user = user;
}

void agent_debug_fail_deliveries(struct client_agent *a, unsigned n)
{
	a->n_debug_fail = n;
}

void agent_debug_fail_batches(struct client_agent *a, unsigned n)
{
	a->n_debug_fail_commit = n;
}

void agent_debug_deliver(struct client_agent *a, int64_t contact_id, const uint8_t *msg_id,
                         const uint8_t *body, size_t body_len)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);

	if (c != NULL)
		agent_deliver(a, c, msg_id, body, body_len);
}

sotto_err agent_debug_contact(struct client_agent *a, int64_t id, struct agent_info *info,
                              bool *has_hs, bool *has_ratchet)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	sotto_err rc;

	*has_hs = false;
	*has_ratchet = false;
	if ((rc = agent_info_load(a, id, info)) != SOTTO_OK)
		return rc;
	for (int col = AGENT_COL_HS; col <= AGENT_COL_RATCHET; col++) {
		rc = agent_col_get(a, id, (enum agent_col)col, &buf, &len);
		if (rc != SOTTO_OK && rc != SOTTO_ERR_NOT_FOUND)
			return rc;
		if (rc == SOTTO_OK) {
			*(col == AGENT_COL_HS ? has_hs : has_ratchet) = true;
			sodium_memzero(buf, len);
			ctx_free(a->ctx, buf);
			buf = NULL;
		}
	}
	return SOTTO_OK;
}
