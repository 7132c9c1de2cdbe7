/* SPDX-License-Identifier: MIT */
/*
 * agent_flow.c - the agent's protocol steps (client layer): making queues,
 * joining and accepting invitations (docs/protocol.md §5.3), sending the
 * outbox, receiving and acknowledging (§5.5), receipts, deleting contacts.
 *
 * Every step that changes state is one transaction that reads what it
 * needs (queue keys, the ratchet, the inviter) from the database, changes
 * it, writes it back and commits; the in-memory contact is updated only
 * after the commit. A relay request whose answer is lost is simply made
 * again: NEW leaves an empty queue behind at worst (deleted when we notice
 * it), SKEY answered AUTH is settled by the SEND that follows it (OK means
 * the queue was secured by us before), a SEND stored twice is dropped by
 * the peer (the ratchet refuses a key used once), an ACK lost means a
 * redelivery the queue's last relay msg_id catches.
 *
 * Failures of a request are sorted by the relay's answer: QUOTA, RATE,
 * INTERNAL and anything without an answer (a lost connection) are tried
 * again after a backoff; AUTH, LARGE and malformed-command answers are
 * final.
 */
#include <string.h>

#include <sodium.h>

#include "client/agent_int.h"
#include "core/ctx.h"
#include "core/err.h"
#include "proto/handshake.h"

enum {
	HELLO_CAP = PROTO_HELLO_V1_LEN + PROTO_KEM_DATA_MAX,
	RCPT_ROUNDS_MAX = 8, /* RECEIPT envelopes queued per run of the task */
	INVITER_STATE_CAP = 256,
};

static void on_reply(void *user, const struct rconn_reply *reply);

/* Whether a failed request is worth making again later. */
static bool reply_is_retry(const struct rconn_reply *r)
{
	if (r->relay_err != RELAY_ERR_NONE)
		return r->relay_err == RELAY_ERR_QUOTA || r->relay_err == RELAY_ERR_RATE ||
		       r->relay_err == RELAY_ERR_INTERNAL;
	return r->err != SOTTO_ERR_CANCELLED;
}

/* Whether a failed step can succeed when tried again (the database was busy or short of memory). */
static bool err_is_transient(sotto_err e)
{
	return e == SOTTO_ERR_IO || e == SOTTO_ERR_BUSY || e == SOTTO_ERR_NOMEM;
}

static void wipe_free(struct client_agent *a, void *p, size_t len)
{
	if (p == NULL)
		return;
	sodium_memzero(p, len);
	ctx_free(a->ctx, p);
}

void agent_envelope_init(struct client_agent *a, struct client_envelope *env, uint8_t kind)
{
	memset(env, 0, sizeof(*env));
	env->kind = kind;
	ctx_random(a->ctx, env->msg_id, sizeof(env->msg_id));
	env->sent_at_ms = agent_wall_ms(a);
}

/*
 * Queues env for contact (after prefix: the hello, for CONNECT): the
 * ratchet advances now (its state is saved in the caller's transaction);
 * the outbox keeps the envelope and the message's key and makes the padded
 * 16,000-byte SEND body when it is sent (§5.4, §5.5).
 */
static sotto_err queue_sealed(struct client_agent *a, int64_t contact, struct ratchet *r,
                              const struct client_envelope *env, const uint8_t *prefix,
                              size_t prefix_len, int64_t msg)
{
	struct ratchet_pending p;
	uint8_t *pt = NULL;
	size_t env_len = 0;
	sotto_err rc;

	memset(&p, 0, sizeof(p));
	if ((pt = ctx_alloc(a->ctx, CLIENT_ENVELOPE_MAX)) == NULL)
		return SOTTO_ERR_NOMEM;
	if ((rc = client_envelope_encode(env, pt, CLIENT_ENVELOPE_MAX, &env_len)) != SOTTO_OK ||
	    (rc = ratchet_encrypt_begin(r, &p)) != SOTTO_OK)
		goto out;
	rc = agent_outbox_add_pending(a, contact, msg, env->kind, prefix, prefix_len, &p, pt,
	                              env_len);
out:
	ratchet_pending_clear(&p);
	wipe_free(a, pt, CLIENT_ENVELOPE_MAX);
	return rc;
}

sotto_err agent_queue_envelope(struct client_agent *a, int64_t contact, struct ratchet *r,
                               struct client_envelope *env, int64_t msg)
{
	return queue_sealed(a, contact, r, env, NULL, 0, msg);
}

/* ---- deletion ---- */

sotto_err agent_delete_tx(struct client_agent *a, struct agent_contact *c, bool send_leave,
                          bool purge, sotto_err reason, struct agent_del *d)
{
	struct client_envelope env;
	struct ratchet *r = NULL;
	struct agent_info info;
	uint32_t keep = 0;
	sotto_err rc;

	memset(&env, 0, sizeof(env));
	d->flags = c->flags & ~(uint32_t)(AGENT_F_DEL_PENDING | AGENT_F_PURGE);
	d->has_leave = false;
	d->n_failed = 0;
	d->reason = reason;
	if ((rc = agent_info_load(a, c->id, &info)) != SOTTO_OK)
		return rc;
	/* A LEAVE needs a session the peer holds: after its CONNECTED, or our CONNECT under way. */
	if (send_leave && c->state != CLIENT_AGENT_DELETED &&
	    (c->state == CLIENT_AGENT_CONNECTED ||
	     (c->state == CLIENT_AGENT_JOINING && (c->flags & AGENT_F_SQ_SECURED) != 0))) {
		d->has_leave = true;
		keep = 1u << CLIENT_ENVELOPE_CONNECT | 1u << CLIENT_ENVELOPE_CONNECTED |
		       1u << CLIENT_ENVELOPE_LEAVE;
	}
	if ((rc = agent_outbox_drop(a, c->id, c->n_out > 0 ? c->out[c->n_out - 1].id : 0, keep,
	                            reason, d->failed, CLIENT_AGENT_OUTBOX_MAX, &d->n_failed)) !=
	    SOTTO_OK)
		goto out;
	if (d->has_leave) {
		agent_envelope_init(a, &env, CLIENT_ENVELOPE_LEAVE);
		if ((rc = agent_ratchet_load(a, c->id, &r)) != SOTTO_OK ||
		    (rc = agent_queue_envelope(a, c->id, r, &env, 0)) != SOTTO_OK)
			goto out;
	} else if ((info.has_sq || info.has_sq_keys) && c->n_out == 0) {
		/* No LEAVE, nothing in flight: the peer's queue is of no more use. */
		info.has_sq = info.has_sq_keys = false;
		memset(&info.sq, 0, sizeof(info.sq));
		sodium_memzero(info.k_sauth, sizeof(info.k_sauth));
		memset(info.sk_pub, 0, sizeof(info.sk_pub));
		if ((rc = agent_info_save(a, c->id, &info)) != SOTTO_OK)
			goto out;
	}
	if (info.has_rq)
		d->flags |= AGENT_F_DEL_PENDING;
	if (purge)
		d->flags |= AGENT_F_PURGE;
	if ((rc = agent_col_put(a, c->id, AGENT_COL_RATCHET, NULL, 0)) != SOTTO_OK ||
	    (rc = agent_col_put(a, c->id, AGENT_COL_HS, NULL, 0)) != SOTTO_OK ||
	    (rc = agent_contact_set(a, c->id, CLIENT_AGENT_DELETED, d->flags)) != SOTTO_OK)
		goto out;
	if (purge)
		rc = agent_msg_purge(a, c->id);
out:
	ratchet_free(r);
	agent_info_clear(&info);
	return rc;
}

void agent_delete_after(struct client_agent *a, struct agent_contact *c, const struct agent_del *d)
{
	size_t n = d->n_failed < CLIENT_AGENT_OUTBOX_MAX ? d->n_failed : CLIENT_AGENT_OUTBOX_MAX;

	agent_unsubscribe(c);
	c->state = CLIENT_AGENT_DELETED;
	c->flags = d->flags;
	if (!d->has_leave)
		c->has_sq = false;
	for (int k = 0; k < AGENT_TASK_N; k++)
		agent_disarm(c, (enum agent_task_kind)k);
	agent_op_done(c, SOTTO_ERR_CANCELLED, NULL);
	for (size_t i = 0; i < n; i++)
		agent_emit_status(a, c->id, d->failed[i], CLIENT_AGENT_FAILED, d->reason);
	if (c->is_gone)
		return;
	if ((c->flags & AGENT_F_DEL_PENDING) != 0)
		agent_arm(a, c, AGENT_TASK_DEL, 0);
	agent_arm(a, c, AGENT_TASK_SEND, 0); /* the LEAVE, or the check that nothing is left */
}

void agent_delete_maybe_finish(struct client_agent *a, struct agent_contact *c)
{
	struct agent_info info;
	size_t n = 1;
	sotto_err rc;

	if (c->is_gone || c->state != CLIENT_AGENT_DELETED ||
	    (c->flags & AGENT_F_DEL_PENDING) != 0 || c->n_out != 0)
		return;
	if ((rc = agent_outbox_count(a, c->id, &n)) != SOTTO_OK || n > 0)
		return;
	if ((rc = agent_info_load(a, c->id, &info)) != SOTTO_OK)
		return;
	if (!info.has_rq && !info.has_sq && !info.has_sq_keys && (c->flags & AGENT_F_PURGE) == 0) {
		agent_info_clear(&info);
		return; /* finished before */
	}
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		goto out;
	if (info.has_rq || info.has_sq || info.has_sq_keys) {
		/* The relay work is done: forget the queues and their keys. */
		info.has_rq = info.has_sq = info.has_sq_keys = false;
		sodium_memzero(&info.rq, sizeof(info.rq));
		memset(&info.sq, 0, sizeof(info.sq));
		sodium_memzero(info.k_sauth, sizeof(info.k_sauth));
		if ((rc = agent_info_save(a, c->id, &info)) != SOTTO_OK)
			goto out;
	}
	if ((c->flags & AGENT_F_PURGE) != 0 && (rc = agent_contact_remove(a, c->id)) != SOTTO_OK)
		goto out;
	if ((rc = agent_tx_commit(a)) != SOTTO_OK)
		goto out;
	c->has_sq = false;
	if ((c->flags & AGENT_F_PURGE) != 0)
		c->is_gone = true;
out:
	agent_info_clear(&info);
	if (rc != SOTTO_OK) {
		agent_tx_rollback(a);
		a->stats.n_store_errors++;
	}
}

/* A contact whose queue the relay refused for good (nothing of it exists there): removed. */
static void contact_fail(struct client_agent *a, struct agent_contact *c, sotto_err err)
{
	sotto_err rc;

	if ((rc = agent_tx_begin(a)) != SOTTO_OK ||
	    (rc = agent_contact_remove(a, c->id)) != SOTTO_OK ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK) {
		agent_tx_rollback(a);
		a->stats.n_store_errors++;
		agent_emit_error(a, c->id, rc);
		return;
	}
	agent_unsubscribe(c);
	c->is_gone = true;
	if (c->has_op)
		agent_op_done(c, err, NULL);
	else
		agent_emit_error(a, c->id, err);
}

/* ---- NEW: our queue, and the join ---- */

static void run_new(struct client_agent *a, struct agent_contact *c)
{
	struct agent_req *req;

	if ((c->state != CLIENT_AGENT_INVITING && c->state != CLIENT_AGENT_JOINING) ||
	    (c->flags & AGENT_F_RQ) != 0 || c->rq_conn == NULL || c->rq_conn->rc == NULL)
		return;
	if ((req = agent_req_new(a, AGENT_REQ_NEW, c->id, 0)) == NULL) {
		agent_backoff(a, c, AGENT_TASK_NEW);
		return;
	}
	if (rconn_create_queue(c->rq_conn->rc, on_reply, req) != SOTTO_OK) {
		agent_req_free(req);
		agent_backoff(a, c, AGENT_TASK_NEW);
		return;
	}
	c->task[AGENT_TASK_NEW].is_inflight = true;
}

/*
 * The joiner's half of §5.3 after its queue exists: the session and hello
 * from the invitation, a fresh sender key for the inviter's queue, and
 * CONNECT{our queue, our name} queued behind the hello.
 */
static sotto_err join_tx(struct client_agent *a, struct agent_contact *c, struct agent_info *info)
{
	struct handshake_invitation inv;
	struct client_envelope env;
	struct ratchet *r = NULL;
	uint8_t *hs = NULL, *hello = NULL;
	size_t hs_len = 0, hello_len = 0;
	sotto_err rc;

	memset(&env, 0, sizeof(env));
	if ((rc = agent_col_get(a, c->id, AGENT_COL_HS, &hs, &hs_len)) != SOTTO_OK)
		return rc == SOTTO_ERR_NOT_FOUND ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : rc;
	if ((hello = ctx_alloc(a->ctx, HELLO_CAP)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	if ((rc = handshake_invitation_parse(hs, hs_len, &inv)) != SOTTO_OK ||
	    (rc = handshake_join(a->ctx, &inv, hello, HELLO_CAP, &hello_len, &r)) != SOTTO_OK ||
	    (rc = rconn_sender_keys(a->ctx, info->sq.ssk, info->sk_pub, info->k_sauth)) != SOTTO_OK)
		goto out;
	info->has_sq_keys = true;
	agent_envelope_init(a, &env, CLIENT_ENVELOPE_CONNECT);
	env.queue.relay = info->rq_relay;
	memcpy(env.queue.sid, info->rq.sid, RELAY_ID_LEN);
	memcpy(env.queue.ssk, info->rq.ssk, RELAY_KEY_LEN);
	if ((rc = agent_name_or_default(a, env.name, sizeof(env.name), &env.name_len)) !=
	            SOTTO_OK ||
	    (rc = queue_sealed(a, c->id, r, &env, hello, hello_len, 0)) != SOTTO_OK ||
	    (rc = agent_ratchet_save(a, c->id, r)) != SOTTO_OK)
		goto out;
	rc = agent_col_put(a, c->id, AGENT_COL_HS, NULL, 0);
out:
	ratchet_free(r);
	wipe_free(a, hs, hs_len);
	wipe_free(a, hello, HELLO_CAP);
	sodium_memzero(&env, sizeof(env));
	return rc;
}

/* Stores the new queue q (and, for a joiner, joins) in one transaction. */
static sotto_err queue_commit(struct client_agent *a, struct agent_contact *c,
                              const struct rconn_queue *q, struct agent_info *info)
{
	sotto_err rc;

	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		return rc;
	if ((rc = agent_info_load(a, c->id, info)) != SOTTO_OK)
		goto out;
	info->has_rq = true;
	info->rq = *q;
	if (c->state == CLIENT_AGENT_JOINING && (rc = join_tx(a, c, info)) != SOTTO_OK)
		goto out;
	if ((rc = agent_info_save(a, c->id, info)) != SOTTO_OK ||
	    (rc = agent_contact_set(a, c->id, c->state, c->flags | AGENT_F_RQ)) != SOTTO_OK)
		goto out;
	rc = agent_tx_commit(a);
out:
	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	return rc;
}

/* A queue made for nothing (the contact went, or storing it failed): delete it. */
static void queue_orphan(struct client_agent *a, struct agent_contact *c,
                         const struct rconn_queue *q)
{
	sotto_err rc;

	if (c == NULL || c->rq_conn == NULL || c->rq_conn->rc == NULL || a->is_closing)
		return;
	rc = rconn_del(c->rq_conn->rc, q->rid, q->k_rauth, NULL, NULL); /* best effort */
	(void)rc;
}

static void on_new(struct client_agent *a, struct agent_contact *c, const struct rconn_reply *reply)
{
	char link[CLIENT_LINK_TEXT_MAX + 1];
	struct agent_info info;
	sotto_err rc;

	memset(&info, 0, sizeof(info));
	c->task[AGENT_TASK_NEW].is_inflight = false;
	if (reply->err != SOTTO_OK) {
		if (reply->err == SOTTO_ERR_CANCELLED || a->is_closing)
			return;
		if (reply_is_retry(reply))
			agent_backoff(a, c, AGENT_TASK_NEW);
		else
			contact_fail(a, c, reply->err);
		return;
	}
	if (c->state == CLIENT_AGENT_DELETED || (c->flags & AGENT_F_RQ) != 0) {
		queue_orphan(a, c, reply->queue);
		return;
	}
	if ((rc = queue_commit(a, c, reply->queue, &info)) != SOTTO_OK) {
		queue_orphan(a, c, reply->queue);
		if (err_is_transient(rc)) {
			a->stats.n_store_errors++;
			agent_backoff(a, c, AGENT_TASK_NEW);
		} else {
			contact_fail(a, c, rc);
		}
		goto out;
	}
	c->flags |= AGENT_F_RQ;
	memcpy(c->rid, info.rq.rid, RELAY_ID_LEN);
	memcpy(c->rq_sid, info.rq.sid, RELAY_ID_LEN);
	if ((rc = agent_subscribe(a, c, &info)) != SOTTO_OK)
		agent_emit_error(a, c->id, rc);
	if (c->state == CLIENT_AGENT_INVITING) {
		rc = agent_link_text(a, c->id, link, sizeof(link));
		agent_op_done(c, rc, rc == SOTTO_OK ? link : NULL);
	} else {
		agent_op_done(c, SOTTO_OK, NULL);
		agent_arm(a, c, AGENT_TASK_SEND, 0);
	}
out:
	agent_info_clear(&info);
}

/* ---- SEND: the outbox, in order, a window of entries in flight per contact ---- */

static size_t out_find(const struct agent_contact *c, int64_t id)
{
	size_t i;

	for (i = 0; i < c->n_out; i++)
		if (c->out[i].id == id)
			break;
	return i;
}

static void out_remove(struct agent_contact *c, size_t i)
{
	memmove(&c->out[i], &c->out[i + 1], (c->n_out - i - 1) * sizeof(c->out[0]));
	c->n_out--;
}

/*
 * Whether run_send has something to do now: room in the window (one entry
 * at a time until the queue is secured: SKEY goes with the first), and no
 * failure waiting for the rest of the window's answers.
 */
static bool send_can_run(const struct agent_contact *c)
{
	if (c->is_out_stalled)
		return c->n_out == 0;
	if ((c->flags & AGENT_F_SQ_SECURED) == 0)
		return c->n_out == 0;
	return c->n_out < AGENT_SEND_WINDOW;
}

/* After the window changed: run again when there is room (after a backoff once stalled). */
static void send_settle(struct client_agent *a, struct agent_contact *c)
{
	struct agent_task *t = &c->task[AGENT_TASK_SEND];

	t->is_inflight = !send_can_run(c);
	if (t->is_inflight)
		return;
	if (c->is_out_stalled)
		agent_backoff(a, c, AGENT_TASK_SEND);
	else
		agent_arm(a, c, AGENT_TASK_SEND, 0);
}

static void run_send(struct client_agent *a, struct agent_contact *c)
{
	struct agent_req *kreq = NULL, *sreq = NULL;
	struct agent_info info;
	uint8_t *body = NULL;
	size_t len = 0;
	int64_t id = 0, msg = 0;
	uint8_t kind = 0, flags;
	bool has_info = false;
	sotto_err rc = SOTTO_OK;

	memset(&info, 0, sizeof(info));
	if (c->state == CLIENT_AGENT_INVITING ||
	    (c->state == CLIENT_AGENT_JOINING && (c->flags & AGENT_F_RQ) == 0))
		return;
	if (!send_can_run(c)) {
		c->task[AGENT_TASK_SEND].is_inflight = true;
		return;
	}
	if (c->is_out_stalled) {
		/* Every answer is in: from the first entry again. */
		c->is_out_stalled = false;
	}
	if ((body = ctx_alloc(a->ctx, RELAY_MSG_BODY_MAX)) == NULL) {
		agent_backoff(a, c, AGENT_TASK_SEND);
		return;
	}
	while (send_can_run(c)) {
		rc = agent_outbox_next(a, c->id, c->n_out > 0 ? c->out[c->n_out - 1].id : 0, &id,
		                       &kind, body, RELAY_MSG_BODY_MAX, &len, &msg);
		if (rc == SOTTO_ERR_NOT_FOUND) {
			rc = SOTTO_OK;
			if (c->n_out == 0) {
				agent_disarm(c, AGENT_TASK_SEND);
				agent_delete_maybe_finish(a, c);
			}
			break;
		}
		if (rc != SOTTO_OK)
			goto fail;
		if (!has_info) {
			if ((rc = agent_info_load(a, c->id, &info)) != SOTTO_OK)
				goto fail;
			has_info = true;
			if (!info.has_sq || !info.has_sq_keys) {
				rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
				goto fail;
			}
			if ((rc = agent_conn_get(a, &info.sq.relay, &c->sq_conn)) != SOTTO_OK)
				goto fail;
		}
		if ((sreq = agent_req_new(a, AGENT_REQ_SEND, c->id, id)) == NULL) {
			rc = SOTTO_ERR_NOMEM;
			goto fail;
		}
		/* §5.3: SKEY goes in the same block as the SEND, so the queue is ours before it
		 * fills. */
		if ((c->flags & AGENT_F_SQ_SECURED) == 0) {
			if ((kreq = agent_req_new(a, AGENT_REQ_SKEY, c->id, id)) == NULL) {
				rc = SOTTO_ERR_NOMEM;
				goto fail;
			}
			if ((rc = rconn_skey(c->sq_conn->rc, info.sq.sid, info.k_sauth, info.sk_pub,
			                     on_reply, kreq)) != SOTTO_OK)
				goto fail;
			kreq = NULL; /* moved */
		}
		flags = c->needs_resume ? RELAY_SEND_RESUME : 0;
		if ((rc = rconn_send_flags(c->sq_conn->rc, info.sq.sid, info.k_sauth, body, len,
		                           flags, on_reply, sreq)) != SOTTO_OK)
			goto fail;
		sreq = NULL; /* moved */
		c->needs_resume = false;
		c->out[c->n_out++] = (struct agent_out){.id = id, .msg = msg, .kind = kind};
		a->stats.n_sends++;
		if (c->task[AGENT_TASK_SEND].attempts > 0)
			a->stats.n_send_retries++;
	}
	c->task[AGENT_TASK_SEND].is_inflight = !send_can_run(c);
	goto out;
fail:
	if (rc == SOTTO_ERR_CORRUPT || rc == SOTTO_ERR_AUTH)
		agent_emit_error(a, c->id, rc);
	if (c->n_out > 0) {
		/* Whatever is in flight must be answered before anything goes again. */
		c->is_out_stalled = true;
		c->task[AGENT_TASK_SEND].is_inflight = true;
	} else {
		agent_backoff(a, c, AGENT_TASK_SEND);
	}
out:
	agent_req_free(kreq);
	agent_req_free(sreq);
	agent_info_clear(&info);
	ctx_free(a->ctx, body); /* ciphertext only */
}

/*
 * SKEY answered. AUTH means secured before (by us, an OK we lost) or by
 * someone else: the SEND that follows in the same block tells which, since
 * only our K_sauth opens the queue for it.
 */
static void on_skey(struct client_agent *a, struct agent_contact *c,
                    const struct rconn_reply *reply)
{
	if (reply->err != SOTTO_OK || (c->flags & AGENT_F_SQ_SECURED) != 0)
		return;
	if (agent_tx_begin(a) != SOTTO_OK)
		return;
	if (agent_contact_set(a, c->id, c->state, c->flags | AGENT_F_SQ_SECURED) != SOTTO_OK ||
	    agent_tx_commit(a) != SOTTO_OK) {
		agent_tx_rollback(a);
		return; /* the next SEND secures again (AUTH), and its OK sets the flag */
	}
	c->flags |= AGENT_F_SQ_SECURED;
}

/*
 * The entries the relay took, in one transaction: out of the outbox, their
 * messages SENT (a crash before this commit only sends them again: the
 * relay stores them twice and the peer drops the copies).
 */
static void run_sent(struct client_agent *a, struct agent_contact *c)
{
	uint32_t flags = c->flags | AGENT_F_SQ_SECURED;
	bool changed[AGENT_SEND_WINDOW];
	size_t i, n_ok = 0;
	sotto_err rc;

	memset(changed, 0, sizeof(changed));
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		goto fail;
	for (i = 0; i < c->n_out; i++) {
		const struct agent_out *o = &c->out[i];
		if (!o->is_ok)
			continue;
		n_ok++;
		if ((rc = agent_outbox_remove(a, o->id)) != SOTTO_OK ||
		    (o->msg != 0 && (rc = agent_msg_advance(a, o->msg, CLIENT_AGENT_SENT, SOTTO_OK,
		                                            &changed[i])) != SOTTO_OK))
			break;
	}
	if (rc != SOTTO_OK || n_ok == 0 ||
	    (flags != c->flags &&
	     (rc = agent_contact_set(a, c->id, c->state, flags)) != SOTTO_OK) ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK) {
		agent_tx_rollback(a);
		if (rc == SOTTO_OK)
			return; /* nothing to commit */
		goto fail;
	}
	c->flags = flags;
	c->task[AGENT_TASK_SEND].attempts = 0;
	c->task[AGENT_TASK_SENT].attempts = 0;
	for (i = c->n_out; i-- > 0;) {
		if (!c->out[i].is_ok)
			continue;
		if (changed[i])
			agent_emit_status(a, c->id, c->out[i].msg, CLIENT_AGENT_SENT, SOTTO_OK);
		out_remove(c, i);
	}
	send_settle(a, c);
	return;
fail:
	a->stats.n_store_errors++;
	agent_backoff(a, c, AGENT_TASK_SENT);
}

/* A permanent refusal of entry o (taken out of the window): the message fails. */
static void send_failed(struct client_agent *a, struct agent_contact *c, struct agent_out o,
                        sotto_err err)
{
	bool is_join = o.kind == CLIENT_ENVELOPE_CONNECT;
	struct agent_del *d = NULL;
	bool changed = false;
	sotto_err rc;

	if (is_join && (d = ctx_calloc(a->ctx, 1, sizeof(*d))) == NULL)
		goto fail;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		goto fail;
	if ((rc = agent_outbox_remove(a, o.id)) != SOTTO_OK ||
	    (o.msg != 0 &&
	     (rc = agent_msg_advance(a, o.msg, CLIENT_AGENT_FAILED, err, &changed)) != SOTTO_OK) ||
	    (is_join && (rc = agent_delete_tx(a, c, false, false, err, d)) != SOTTO_OK) ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK) {
		agent_tx_rollback(a);
		goto fail;
	}
	if (changed)
		agent_emit_status(a, c->id, o.msg, CLIENT_AGENT_FAILED, err);
	if (is_join) {
		/* The invitation was used by someone else, or withdrawn. */
		agent_emit_error(a, c->id, err);
		agent_delete_after(a, c, d);
	} else {
		send_settle(a, c);
	}
	ctx_free(a->ctx, d);
	return;
fail:
	/* Still in the outbox: sent again from the first entry, after the rest is answered. */
	ctx_free(a->ctx, d);
	a->stats.n_store_errors++;
	c->is_out_stalled = true;
	send_settle(a, c);
}

static void on_send(struct client_agent *a, struct agent_contact *c, int64_t id,
                    const struct rconn_reply *reply)
{
	size_t i = out_find(c, id);
	struct agent_out o;

	if (i == c->n_out)
		return;
	if (reply->err == SOTTO_OK) {
		c->out[i].is_ok = true;
		agent_arm(a, c, AGENT_TASK_SENT, 0);
		return;
	}
	o = c->out[i];
	out_remove(c, i);
	if (reply->err == SOTTO_ERR_CANCELLED)
		return; /* closing: the entry waits for the next open */
	if (reply_is_retry(reply)) {
		/* Later SENDs of the window fail too (§4.4, rconn), and all go again in order. */
		if (reply->relay_err == RELAY_ERR_QUOTA)
			c->needs_resume = true;
		c->is_out_stalled = true;
		send_settle(a, c);
		return;
	}
	send_failed(a, c, o, reply->err);
}

/* ---- DEL: our queue of a deleted contact ---- */

static void run_del(struct client_agent *a, struct agent_contact *c)
{
	struct agent_info info;
	struct agent_req *req = NULL;
	sotto_err rc;

	if ((c->flags & AGENT_F_DEL_PENDING) == 0)
		return;
	if ((rc = agent_info_load(a, c->id, &info)) != SOTTO_OK) {
		agent_backoff(a, c, AGENT_TASK_DEL);
		return;
	}
	if (info.has_rq && c->rq_conn != NULL && c->rq_conn->rc != NULL &&
	    (req = agent_req_new(a, AGENT_REQ_DEL, c->id, 0)) != NULL) {
		if (rconn_del(c->rq_conn->rc, info.rq.rid, info.rq.k_rauth, on_reply, req) ==
		    SOTTO_OK)
			c->task[AGENT_TASK_DEL].is_inflight = true;
		else
			agent_req_free(req);
	}
	if (!c->task[AGENT_TASK_DEL].is_inflight)
		agent_backoff(a, c, AGENT_TASK_DEL);
	agent_info_clear(&info);
}

static void on_del(struct client_agent *a, struct agent_contact *c, const struct rconn_reply *reply)
{
	uint32_t flags = c->flags & ~(uint32_t)AGENT_F_DEL_PENDING;
	struct agent_info info;
	sotto_err rc;

	memset(&info, 0, sizeof(info));
	c->task[AGENT_TASK_DEL].is_inflight = false;
	if (reply->err == SOTTO_ERR_CANCELLED)
		return;
	if (reply->err != SOTTO_OK && reply_is_retry(reply)) {
		agent_backoff(a, c, AGENT_TASK_DEL);
		return;
	}
	/* OK, or refused for good (AUTH: the queue is gone already): either way we are done. */
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		goto fail;
	if ((rc = agent_info_load(a, c->id, &info)) != SOTTO_OK)
		goto fail;
	info.has_rq = false;
	sodium_memzero(&info.rq, sizeof(info.rq));
	if ((rc = agent_info_save(a, c->id, &info)) != SOTTO_OK ||
	    (rc = agent_contact_set(a, c->id, c->state, flags)) != SOTTO_OK ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK)
		goto fail;
	agent_info_clear(&info);
	c->flags = flags;
	if (reply->err == SOTTO_OK)
		a->stats.n_queues_deleted++;
	agent_delete_maybe_finish(a, c);
	return;
fail:
	agent_tx_rollback(a);
	agent_info_clear(&info);
	a->stats.n_store_errors++;
	agent_backoff(a, c, AGENT_TASK_DEL);
}

/* ---- GET: fetch the message a failed transaction left unacknowledged ---- */

static void run_get(struct client_agent *a, struct agent_contact *c)
{
	struct agent_info info;
	struct agent_req *req = NULL;

	if (c->state == CLIENT_AGENT_DELETED || (c->flags & AGENT_F_RQ) == 0)
		return;
	if (agent_info_load(a, c->id, &info) == SOTTO_OK && c->rq_conn != NULL &&
	    c->rq_conn->rc != NULL && (req = agent_req_new(a, AGENT_REQ_GET, c->id, 0)) != NULL) {
		if (rconn_get(c->rq_conn->rc, info.rq.rid, info.rq.k_rauth, info.rq.k_deliver,
		              on_reply, req) == SOTTO_OK)
			c->task[AGENT_TASK_GET].is_inflight = true;
		else
			agent_req_free(req);
	}
	if (!c->task[AGENT_TASK_GET].is_inflight)
		agent_backoff(a, c, AGENT_TASK_GET);
	agent_info_clear(&info);
}

static void on_get(struct client_agent *a, struct agent_contact *c, const struct rconn_reply *reply)
{
	c->task[AGENT_TASK_GET].is_inflight = false;
	if (reply->err == SOTTO_ERR_CANCELLED)
		return;
	if (reply->err != SOTTO_OK) {
		if (reply_is_retry(reply))
			agent_backoff(a, c, AGENT_TASK_GET);
		return;
	}
	c->task[AGENT_TASK_GET].attempts = 0;
	/* The relay starts its pushes over after this answer (§4.4). */
	c->is_rx_stalled = false;
	if (reply->msg != NULL)
		agent_deliver(a, c, reply->msg->msg_id, reply->msg->body, reply->msg->body_len);
}

/* ---- RCPT: receipts for received TEXTs, 64 IDs to a RECEIPT ---- */

static void run_rcpt(struct client_agent *a, struct agent_contact *c)
{
	struct client_envelope env;
	struct ratchet *r = NULL;
	size_t n = 0, n_env = 0;
	bool more = false;
	sotto_err rc;

	memset(&env, 0, sizeof(env));
	if (c->state != CLIENT_AGENT_CONNECTED)
		return;
	if ((rc = agent_msg_count_receipts(a, c->id, 1, &n)) == SOTTO_OK && n == 0)
		return; /* nothing waits: no transaction */
	if (rc != SOTTO_OK || (rc = agent_tx_begin(a)) != SOTTO_OK)
		goto out;
	for (int round = 0; round < RCPT_ROUNDS_MAX; round++) {
		agent_envelope_init(a, &env, CLIENT_ENVELOPE_RECEIPT);
		if ((rc = agent_msg_take_receipts(a, c->id, env.receipts, CLIENT_RECEIPTS_MAX,
		                                  &n)) != SOTTO_OK)
			goto out;
		if (n == 0)
			break;
		env.n_receipts = n;
		if (r == NULL && (rc = agent_ratchet_load(a, c->id, &r)) != SOTTO_OK)
			goto out;
		if ((rc = agent_queue_envelope(a, c->id, r, &env, 0)) != SOTTO_OK)
			goto out;
		n_env++;
		more = round == RCPT_ROUNDS_MAX - 1;
	}
	if (r != NULL && (rc = agent_ratchet_save(a, c->id, r)) != SOTTO_OK)
		goto out;
	rc = agent_tx_commit(a);
out:
	ratchet_free(r);
	if (rc != SOTTO_OK) {
		agent_tx_rollback(a);
		a->stats.n_store_errors++;
		agent_backoff(a, c, AGENT_TASK_RCPT);
		return;
	}
	c->task[AGENT_TASK_RCPT].attempts = 0;
	a->stats.n_receipts_out += n_env;
	if (more)
		agent_arm(a, c, AGENT_TASK_RCPT, 0);
	if (n_env > 0)
		agent_arm(a, c, AGENT_TASK_SEND, 0);
}

/* ---- receiving ---- */

/* One delivery: the plaintext, and what to report once it is committed. */
struct agent_rx {
	struct agent_rx *next;                  /* the batch list */
	struct agent_contact *c;                /* borrowed: contacts live until the agent closes */
	uint8_t relay_msg_id[RELAY_MSG_ID_LEN]; /* what its ACK names */
	bool is_durable;                        /* its batch committed */
	uint8_t pt[RELAY_MSG_BODY_MAX];
	struct agent_info info;
	struct client_envelope env;
	bool is_ack;    /* acknowledge to the relay */
	bool is_commit; /* the transaction committed: apply and report */
	uint8_t state;  /* the contact's state after */
	uint32_t flags; /* and flags */
	bool is_connected, is_renamed, is_left, is_received;
	int64_t msg_id;   /* RECEIVED */
	uint64_t time_ms; /* RECEIVED */
	size_t n_delivered;
	int64_t delivered[CLIENT_RECEIPTS_MAX];
	struct agent_del del; /* LEAVE */
};

/* Records the relay's msg_id as the queue's last one. */
static sotto_err rcv_put(struct client_agent *a, struct agent_contact *c, const uint8_t *msg_id)
{
	return agent_col_put(a, c->id, AGENT_COL_RCV, msg_id, RELAY_MSG_ID_LEN);
}

/*
 * A message that did not open (err) is acknowledged and dropped; running
 * out of memory is not the message's fault, so that one is tried again.
 */
static sotto_err drop_undecryptable(struct client_agent *a, struct agent_rx *rx, sotto_err err)
{
	if (err == SOTTO_ERR_NOMEM)
		return err;
	a->stats.n_undecryptable++;
	rx->is_ack = true;
	return SOTTO_OK;
}

/* The inviter's half of §5.3: a hello on our invitation's queue. */
static sotto_err accept_tx(struct client_agent *a, struct agent_contact *c, struct agent_rx *rx,
                           const uint8_t *msg_id, const uint8_t *body, size_t len)
{
	struct handshake_inviter *inv = NULL;
	struct client_envelope reply;
	struct ratchet *r = NULL;
	uint8_t *hs = NULL;
	size_t hs_len = 0, pt_len = 0;
	struct agent_info *info = &rx->info;
	sotto_err rc;

	memset(&reply, 0, sizeof(reply));
	if ((rc = agent_col_get(a, c->id, AGENT_COL_HS, &hs, &hs_len)) != SOTTO_OK) {
		rc = rc == SOTTO_ERR_NOT_FOUND ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : rc;
		goto out;
	}
	if ((rc = handshake_inviter_deserialize(a->ctx, hs, hs_len, &inv)) != SOTTO_OK)
		goto out;
	/* A hello that fails leaves the invitation pending: acknowledged and dropped. */
	if ((rc = handshake_accept(inv, body, len, rx->pt, sizeof(rx->pt), &pt_len, &r)) !=
	    SOTTO_OK) {
		rc = drop_undecryptable(a, rx, rc);
		goto out;
	}
	if (client_envelope_unpad(rx->pt, pt_len, &pt_len) != SOTTO_OK ||
	    client_envelope_parse(rx->pt, pt_len, &rx->env) != SOTTO_OK ||
	    rx->env.kind != CLIENT_ENVELOPE_CONNECT ||
	    rconn_sender_keys(a->ctx, rx->env.queue.ssk, info->sk_pub, info->k_sauth) != SOTTO_OK) {
		a->stats.n_invalid++;
		rx->is_ack = true;
		goto out;
	}
	info->has_sq = info->has_sq_keys = true;
	info->sq = rx->env.queue;
	memcpy(info->peer_name, rx->env.name, rx->env.name_len + 1);
	info->peer_name_len = rx->env.name_len;
	agent_envelope_init(a, &reply, CLIENT_ENVELOPE_CONNECTED);
	if ((rc = agent_name_or_default(a, reply.name, sizeof(reply.name), &reply.name_len)) !=
	            SOTTO_OK ||
	    (rc = agent_queue_envelope(a, c->id, r, &reply, 0)) != SOTTO_OK ||
	    (rc = agent_ratchet_save(a, c->id, r)) != SOTTO_OK ||
	    (rc = agent_col_put(a, c->id, AGENT_COL_HS, NULL, 0)) != SOTTO_OK ||
	    (rc = rcv_put(a, c, msg_id)) != SOTTO_OK ||
	    (rc = agent_info_save(a, c->id, info)) != SOTTO_OK)
		goto out;
	rx->state = CLIENT_AGENT_CONNECTED;
	if ((rc = agent_contact_set(a, c->id, rx->state, rx->flags)) != SOTTO_OK ||
	    (rc = agent_tx_commit(a)) != SOTTO_OK)
		goto out;
	rx->is_commit = rx->is_ack = rx->is_connected = true;
out:
	ratchet_free(r);
	handshake_inviter_free(inv);
	wipe_free(a, hs, hs_len);
	sodium_memzero(&reply, sizeof(reply));
	return rc;
}

/* Applies one envelope of a connected (or joining) contact; false: not valid here. */
static sotto_err apply_envelope(struct client_agent *a, struct agent_contact *c,
                                struct agent_rx *rx, bool *is_valid)
{
	struct client_envelope *env = &rx->env;
	struct agent_info *info = &rx->info;
	uint8_t status = 0;
	bool changed = false;
	sotto_err rc = SOTTO_OK;

	*is_valid = true;
	switch (env->kind) {
	case CLIENT_ENVELOPE_CONNECTED:
		if (c->state != CLIENT_AGENT_JOINING)
			break;
		memcpy(info->peer_name, env->name, env->name_len + 1);
		info->peer_name_len = env->name_len;
		rx->state = CLIENT_AGENT_CONNECTED;
		rx->is_connected = true;
		return agent_info_save(a, c->id, info);
	case CLIENT_ENVELOPE_TEXT:
		if (c->state != CLIENT_AGENT_CONNECTED)
			break;
		rx->time_ms = agent_wall_ms(a);
		rc = agent_msg_add(a, c->id, CLIENT_AGENT_IN, CLIENT_AGENT_RECEIVED, true,
		                   env->msg_id, env->sent_at_ms, rx->time_ms, env->text,
		                   env->text_len, &rx->msg_id);
		if (rc == SOTTO_ERR_USED) {
			a->stats.n_dup_msg_id++; /* never shown twice */
			return SOTTO_OK;
		}
		rx->is_received = rc == SOTTO_OK;
		return rc;
	case CLIENT_ENVELOPE_RECEIPT:
		for (size_t i = 0; i < env->n_receipts && rc == SOTTO_OK; i++) {
			int64_t id = 0;
			rc = agent_msg_find(a, c->id, CLIENT_AGENT_OUT, env->receipts[i], &id,
			                    &status);
			if (rc == SOTTO_ERR_NOT_FOUND) {
				rc = SOTTO_OK;
				continue;
			}
			if (rc == SOTTO_OK &&
			    (rc = agent_msg_advance(a, id, CLIENT_AGENT_DELIVERED, SOTTO_OK,
			                            &changed)) == SOTTO_OK &&
			    changed)
				rx->delivered[rx->n_delivered++] = id;
		}
		return rc;
	case CLIENT_ENVELOPE_NAME:
		memcpy(info->peer_name, env->name, env->name_len + 1);
		info->peer_name_len = env->name_len;
		rx->is_renamed = true;
		return agent_info_save(a, c->id, info);
	case CLIENT_ENVELOPE_LEAVE:
		rx->is_left = true;
		rx->state = CLIENT_AGENT_DELETED;
		return agent_delete_tx(a, c, false, false, SOTTO_ERR_CLOSED, &rx->del);
	default: break;
	}
	*is_valid = false;
	return SOTTO_OK;
}

/* A message on the queue of a joining or connected contact. */
static sotto_err receive_tx(struct client_agent *a, struct agent_contact *c, struct agent_rx *rx,
                            const uint8_t *msg_id, const uint8_t *body, size_t len)
{
	struct ratchet *r = NULL;
	size_t pt_len = 0;
	bool is_valid = false;
	sotto_err rc;

	if ((rc = agent_ratchet_load(a, c->id, &r)) != SOTTO_OK)
		goto out;
	/* A key used once (a re-sent outbox entry), tampering, garbage: dropped. */
	if ((rc = ratchet_decrypt(r, body, len, rx->pt, sizeof(rx->pt), &pt_len)) != SOTTO_OK) {
		rc = drop_undecryptable(a, rx, rc);
		goto out;
	}
	if (client_envelope_unpad(rx->pt, pt_len, &pt_len) == SOTTO_OK &&
	    client_envelope_parse(rx->pt, pt_len, &rx->env) == SOTTO_OK &&
	    (rc = apply_envelope(a, c, rx, &is_valid)) != SOTTO_OK)
		goto out;
	if (!is_valid)
		a->stats.n_invalid++; /* acknowledged so it cannot block the queue, never shown */
	if ((!rx->is_left && (rc = agent_ratchet_save(a, c->id, r)) != SOTTO_OK) ||
	    (rc = rcv_put(a, c, msg_id)) != SOTTO_OK)
		goto out;
	if (rx->is_left)
		rx->flags = rx->del.flags;
	if (rx->state != c->state && !rx->is_left &&
	    (rc = agent_contact_set(a, c->id, rx->state, rx->flags)) != SOTTO_OK)
		goto out;
	if ((rc = agent_tx_commit(a)) != SOTTO_OK)
		goto out;
	rx->is_commit = rx->is_ack = true;
out:
	ratchet_free(r);
	return rc;
}

/* Processes one delivery in one transaction; rx says what happened. */
static sotto_err deliver_tx(struct client_agent *a, struct agent_contact *c, struct agent_rx *rx,
                            const uint8_t *msg_id, const uint8_t *body, size_t len)
{
	uint8_t *last = NULL;
	size_t last_len = 0;
	sotto_err rc;

	rx->state = c->state;
	rx->flags = c->flags;
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		return rc;
	if ((rc = agent_info_load(a, c->id, &rx->info)) != SOTTO_OK)
		goto out;
	rc = agent_col_get(a, c->id, AGENT_COL_RCV, &last, &last_len);
	if (rc != SOTTO_OK && rc != SOTTO_ERR_NOT_FOUND)
		goto out;
	if (rc == SOTTO_OK && last_len == RELAY_MSG_ID_LEN &&
	    memcmp(last, msg_id, RELAY_MSG_ID_LEN) == 0) {
		a->stats.n_dup_relay++; /* the relay restarted before our ACK was durable */
		rx->is_ack = true;
		rc = SOTTO_OK;
		goto out;
	}
	switch (c->state) {
	case CLIENT_AGENT_INVITING: rc = accept_tx(a, c, rx, msg_id, body, len); break;
	case CLIENT_AGENT_JOINING:
	case CLIENT_AGENT_CONNECTED: rc = receive_tx(a, c, rx, msg_id, body, len); break;
	default:
		rx->is_ack = true;
		rc = SOTTO_OK;
		break;
	}
out:
	wipe_free(a, last, last_len);
	if (!rx->is_commit)
		agent_tx_rollback(a);
	return rc;
}

/* Tells the user what a committed delivery changed. */
static void deliver_report(struct client_agent *a, struct agent_contact *c, struct agent_rx *rx)
{
	struct client_agent_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.contact_id = c->id;
	if (rx->is_connected) {
		ev.kind = CLIENT_AGENT_EV_CONNECTED;
		ev.name = rx->info.peer_name;
		agent_emit(a, &ev);
	}
	if (rx->is_renamed) {
		ev.kind = CLIENT_AGENT_EV_RENAMED;
		ev.name = rx->info.peer_name;
		agent_emit(a, &ev);
	}
	ev.name = NULL;
	if (rx->is_received) {
		ev.kind = CLIENT_AGENT_EV_RECEIVED;
		ev.msg_id = rx->msg_id;
		ev.text = rx->env.text;
		ev.text_len = rx->env.text_len;
		ev.sent_at_ms = rx->env.sent_at_ms;
		ev.time_ms = rx->time_ms;
		agent_emit(a, &ev);
	}
	for (size_t i = 0; i < rx->n_delivered; i++)
		agent_emit_status(a, c->id, rx->delivered[i], CLIENT_AGENT_DELIVERED, SOTTO_OK);
	if (rx->is_left) {
		memset(&ev, 0, sizeof(ev));
		ev.kind = CLIENT_AGENT_EV_LEFT;
		ev.contact_id = c->id;
		agent_emit(a, &ev);
	}
}

/* Receipts wait receipt_delay_ms for more TEXTs, but a full RECEIPT goes at once. */
static void rcpt_arm(struct client_agent *a, struct agent_contact *c)
{
	size_t n = 0;

	if (agent_msg_count_receipts(a, c->id, CLIENT_RECEIPTS_MAX, &n) == SOTTO_OK &&
	    n >= CLIENT_RECEIPTS_MAX)
		agent_arm(a, c, AGENT_TASK_RCPT, 0);
	else
		agent_arm(a, c, AGENT_TASK_RCPT, a->cfg.receipt_delay_ms);
}

/* Deliveries one batch takes before it is committed at once. */
enum { BATCH_MAX = 32 };

static void rx_free(struct client_agent *a, struct agent_rx *rx)
{
	sodium_memzero(rx, sizeof(*rx));
	ctx_free(a->ctx, rx);
}

/* Not stored, not acknowledged: fetched again after a backoff, nothing after it first. */
static void rx_failed(struct client_agent *a, struct agent_contact *c, sotto_err rc)
{
	c->is_rx_stalled = true;
	a->stats.n_store_errors++;
	agent_emit_error(a, c->id, rc);
	agent_backoff(a, c, AGENT_TASK_GET);
}

bool agent_batch_commit(struct client_agent *a)
{
	sotto_err rc;

	if (!a->in_batch)
		return true;
	a->in_batch = false;
	if (a->n_debug_fail_commit > 0) {
		a->n_debug_fail_commit--;
		rc = SOTTO_ERR_IO; /* tests: as a failed write would */
	} else {
		rc = store_db_exec(a->db, "COMMIT");
	}
	if (rc != SOTTO_OK)
		(void)sqlite3_exec(a->sql, "ROLLBACK", NULL, NULL, NULL);
	for (struct agent_rx *rx = a->batch_head; rx != NULL; rx = rx->next)
		if (rc == SOTTO_OK)
			rx->is_durable = true;
	for (struct agent_queued *q = a->sq_head; q != NULL; q = q->next)
		if (rc == SOTTO_OK)
			q->is_durable = true;
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (!c->has_snap)
			continue;
		if (rc != SOTTO_OK) {
			/* What memory took from the batch goes back with it. */
			c->state = c->snap_state;
			c->flags = c->snap_flags;
			c->has_sq = c->snap_has_sq;
			memcpy(c->sq_sid, c->snap_sq_sid, RELAY_ID_LEN);
		}
		c->has_snap = false;
	}
	return rc == SOTTO_OK;
}

void agent_batch_finish(struct client_agent *a)
{
	struct agent_queued *q, *sq;
	struct agent_rx *rx, *rxs;

	(void)agent_batch_commit(a);
	/* Taken off first: what the callbacks below start makes the next batch. */
	rxs = a->batch_head;
	sq = a->sq_head;
	a->batch_head = a->batch_tail = NULL;
	a->sq_head = a->sq_tail = NULL;
	a->n_batch = 0;
	while ((rx = rxs) != NULL) {
		struct agent_contact *c = rx->c;

		rxs = rx->next;
		if (!rx->is_durable) {
			/* The batch did not commit: none of it happened. */
			if (!c->is_rx_stalled)
				rx_failed(a, c, SOTTO_ERR_IO);
			rx_free(a, rx);
			continue;
		}
		if (rx->is_ack && rx->info.has_rq && c->rq_conn != NULL && c->rq_conn->rc != NULL) {
			/* Fire and forget: a lost ACK means a redelivery, dropped by its msg_id. */
			sotto_err ack =
			        rconn_ack(c->rq_conn->rc, rx->info.rq.rid, rx->info.rq.k_rauth,
			                  rx->relay_msg_id, NULL, NULL);
			(void)ack;
		}
		if (rx->is_commit) {
			if (rx->is_left)
				agent_delete_after(a, c, &rx->del);
			deliver_report(a, c, rx);
		}
		rx_free(a, rx);
	}
	while ((q = sq) != NULL) {
		sq = q->next;
		if (q->done != NULL)
			q->done(q->user, q->is_durable ? SOTTO_OK : SOTTO_ERR_IO,
			        q->is_durable ? q->msg_id : 0);
		ctx_free(a->ctx, q);
	}
	if (a->batch_head == NULL && a->sq_head == NULL && !a->in_batch)
		(void)uv_check_stop(&a->check);
}

void agent_on_check(uv_check_t *h)
{
	agent_batch_finish(h->data);
}

/*
 * One delivery, in the receive batch of this loop turn: stored now (in a
 * savepoint of the batch's transaction), acknowledged and reported after
 * the batch commits, in order.
 */
void agent_deliver(struct client_agent *a, struct agent_contact *c, const uint8_t *msg_id,
                   const uint8_t *body, size_t body_len)
{
	struct agent_rx *rx;
	sotto_err rc;

	if (a->is_closing)
		return; /* not acknowledged: it comes again at the next open */
	a->stats.n_msgs_in++;
	if (a->tap != NULL)
		a->tap(a->tap_user, c->id, msg_id, body, body_len);
	if ((rx = ctx_calloc(a->ctx, 1, sizeof(*rx))) == NULL) {
		c->is_rx_stalled = true;
		agent_backoff(a, c, AGENT_TASK_GET);
		return;
	}
	if (!c->has_snap) {
		c->has_snap = true;
		c->snap_state = c->state;
		c->snap_flags = c->flags;
		c->snap_has_sq = c->has_sq;
		memcpy(c->snap_sq_sid, c->sq_sid, RELAY_ID_LEN);
	}
	a->in_batch_op = true;
	if (a->n_debug_fail > 0) {
		a->n_debug_fail--;
		rc = SOTTO_ERR_BUSY; /* tests: as a locked database would */
	} else {
		rc = deliver_tx(a, c, rx, msg_id, body, body_len);
	}
	a->in_batch_op = false;
	if (!rx->is_ack) {
		rx_failed(a, c, rc);
		rx_free(a, rx);
		return;
	}
	rx->c = c;
	memcpy(rx->relay_msg_id, msg_id, RELAY_MSG_ID_LEN);
	if (rx->is_commit) {
		/* Memory follows at once, so the batch's next deliveries see it. */
		bool was_connected = c->state == CLIENT_AGENT_CONNECTED;
		c->state = rx->state;
		c->flags = rx->flags;
		if (rx->info.has_sq) {
			c->has_sq = true;
			memcpy(c->sq_sid, rx->info.sq.sid, RELAY_ID_LEN);
		}
		if (!rx->is_left && c->state == CLIENT_AGENT_CONNECTED && !was_connected)
			agent_arm(a, c, AGENT_TASK_SEND, 0);
		if (rx->is_received)
			rcpt_arm(a, c);
	}
	if (a->batch_tail != NULL)
		a->batch_tail->next = rx;
	else
		a->batch_head = rx;
	a->batch_tail = rx;
	a->n_batch++;
	if (!a->in_batch || a->n_batch >= BATCH_MAX)
		agent_batch_finish(a);
	else
		(void)uv_check_start(&a->check, agent_on_check);
}

/* ---- dispatch ---- */

/* The contact of id, even one removed from the database. */
static struct agent_contact *contact_any(struct client_agent *a, int64_t id)
{
	for (struct agent_contact *c = a->contacts; c != NULL; c = c->next) {
		if (c->id == id)
			return c;
	}
	return NULL;
}

void agent_task_run(struct client_agent *a, struct agent_contact *c, enum agent_task_kind kind)
{
	if (a->is_closing || c->is_gone)
		return;
	switch (kind) {
	case AGENT_TASK_NEW: run_new(a, c); break;
	case AGENT_TASK_SEND: run_send(a, c); break;
	case AGENT_TASK_DEL: run_del(a, c); break;
	case AGENT_TASK_GET: run_get(a, c); break;
	case AGENT_TASK_RCPT: run_rcpt(a, c); break;
	case AGENT_TASK_SENT: run_sent(a, c); break;
	default: break;
	}
}

static void on_reply(void *user, const struct rconn_reply *reply)
{
	struct agent_req *req = user;
	struct client_agent *a = req->a;
	enum agent_req_kind kind = req->kind;
	int64_t outbox_id = req->outbox_id;
	int64_t contact_id = req->contact_id;
	struct agent_contact *c = agent_contact_find(a, contact_id);

	agent_req_free(req);
	if (c == NULL) {
		/* The contact went (purged) while its queue was being made: nothing will use it. */
		if (kind == AGENT_REQ_NEW && reply->err == SOTTO_OK)
			queue_orphan(a, contact_any(a, contact_id), reply->queue);
		return;
	}
	switch (kind) {
	case AGENT_REQ_NEW: on_new(a, c, reply); break;
	case AGENT_REQ_SKEY: on_skey(a, c, reply); break;
	case AGENT_REQ_SEND: on_send(a, c, outbox_id, reply); break;
	case AGENT_REQ_DEL: on_del(a, c, reply); break;
	case AGENT_REQ_GET: on_get(a, c, reply); break;
	default: break;
	}
}

/* ---- tests ---- */

sotto_err agent_debug_send_raw(struct client_agent *a, int64_t contact_id, const uint8_t *pt,
                               size_t pt_len, bool pad)
{
	struct agent_contact *c = agent_contact_find(a, contact_id);
	size_t padded_len = client_envelope_padded_len(0);
	uint8_t *body = NULL, *padded = NULL;
	struct ratchet *r = NULL;
	size_t len = 0;
	sotto_err rc;

	if (c == NULL)
		return SOTTO_ERR_NOT_FOUND;
	if ((body = ctx_alloc(a->ctx, RELAY_MSG_BODY_MAX)) == NULL ||
	    (padded = ctx_alloc(a->ctx, padded_len)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	if (pad) {
		if (pt_len >= padded_len) {
			rc = SOTTO_ERR_TOO_LARGE;
			goto out;
		}
		memcpy(padded, pt, pt_len);
		if ((rc = client_envelope_pad(padded, pt_len, padded_len)) != SOTTO_OK)
			goto out;
		pt = padded;
		pt_len = padded_len;
	}
	if ((rc = agent_tx_begin(a)) != SOTTO_OK)
		goto out;
	if ((rc = agent_ratchet_load(a, c->id, &r)) != SOTTO_OK ||
	    (rc = ratchet_encrypt(r, pt, pt_len, body, RELAY_MSG_BODY_MAX, &len)) != SOTTO_OK ||
	    (rc = agent_outbox_add(a, c->id, 0, CLIENT_ENVELOPE_TEXT, body, len)) != SOTTO_OK ||
	    (rc = agent_ratchet_save(a, c->id, r)) != SOTTO_OK)
		goto out;
	rc = agent_tx_commit(a);
out:
	if (rc != SOTTO_OK)
		agent_tx_rollback(a);
	else
		agent_arm(a, c, AGENT_TASK_SEND, 0);
	ratchet_free(r);
	ctx_free(a->ctx, body);
	wipe_free(a, padded, padded_len);
	return rc;
}
