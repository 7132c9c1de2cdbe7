/* SPDX-License-Identifier: MIT */
/*
 * agent_rec.c - the agent's sealed records as bytes (client layer); see
 * agent_rec.h. Big-endian, version byte first:
 *
 *   contacts.info   1 | lp8 local name | lp8 peer name | created ms (8)
 *                   | has_rq_relay (1) [ key 32 | port 2 | lp8 host ]
 *                   | has_rq (1) [ rid 24 | sid 24 | ssk 32 | k_rauth 32 | k_deliver 32 ]
 *                   | has_sq (1) [ lp16 queue address (§5.1) ]
 *                   | has_sq_keys (1) [ k_sauth 32 | sk_pub 32 ]
 *   messages.rec    1 | message ID 16 | sent at ms (8) | time ms (8) | lp16 text
 *   outbox.rec      1 | kind (1) | lp16 SEND body
 *                or 2 | kind (1) | lp16 hello | ratchet prefix 105 | message key 32
 *                     | AD 64 | lp16 envelope
 *
 * Flags are 0 or 1; names are empty or valid display names; a host is a
 * valid host name and the port is not 0; texts are valid UTF-8 texts;
 * has_rq needs has_rq_relay. Anything else is SOTTO_ERR_CORRUPT.
 */
#include <string.h>

#include <sodium.h>

#include "client/agent_rec.h"
#include "core/err.h"
#include "wire/reader.h"
#include "wire/writer.h"

void agent_info_clear(struct agent_info *info)
{
	sodium_memzero(info, sizeof(*info));
}

/* ---- contacts.info ---- */

static void write_relay(struct wire_writer *w, const struct net_addr *addr)
{
	wire_writer_bytes(w, addr->key, NET_ADDR_KEY_LEN);
	wire_writer_u16(w, addr->port);
	wire_writer_lp8(w, (const uint8_t *)addr->host, strnlen(addr->host, NET_HOST_MAX + 1),
	                NET_HOST_MAX);
}

static void read_relay(struct wire_reader *r, struct net_addr *addr)
{
	const uint8_t *host;
	size_t host_len = 0;

	wire_reader_copy(r, addr->key, NET_ADDR_KEY_LEN);
	addr->port = wire_reader_u16(r);
	host = wire_reader_lp8(r, NET_HOST_MAX, &host_len);
	if (host == NULL)
		return;
	if (addr->port == 0 || !net_addr_host_is_valid((const char *)host, host_len)) {
		wire_reader_fail(r, SOTTO_ERR_CORRUPT);
		return;
	}
	memcpy(addr->host, host, host_len);
	addr->host[host_len] = '\0';
}

sotto_err agent_rec_info_encode(const struct agent_info *in, uint8_t *out, size_t cap, size_t *len)
{
	uint8_t q[CLIENT_QUEUE_ADDR_MAX];
	size_t q_len = 0;
	struct wire_writer w;
	sotto_err rc;

	*len = 0;
	wire_writer_init(&w, out, cap);
	wire_writer_u8(&w, AGENT_REC_VERSION);
	wire_writer_lp8(&w, (const uint8_t *)in->local_name, in->local_name_len, CLIENT_NAME_MAX);
	wire_writer_lp8(&w, (const uint8_t *)in->peer_name, in->peer_name_len, CLIENT_NAME_MAX);
	wire_writer_u64(&w, in->created_ms);
	wire_writer_u8(&w, in->has_rq_relay);
	if (in->has_rq_relay)
		write_relay(&w, &in->rq_relay);
	wire_writer_u8(&w, in->has_rq);
	if (in->has_rq) {
		wire_writer_bytes(&w, in->rq.rid, RELAY_ID_LEN);
		wire_writer_bytes(&w, in->rq.sid, RELAY_ID_LEN);
		wire_writer_bytes(&w, in->rq.ssk, RELAY_KEY_LEN);
		wire_writer_bytes(&w, in->rq.k_rauth, RELAY_KEY_LEN);
		wire_writer_bytes(&w, in->rq.k_deliver, RELAY_KEY_LEN);
	}
	wire_writer_u8(&w, in->has_sq);
	if (in->has_sq) {
		if ((rc = client_queue_addr_encode(&in->sq, q, sizeof(q), &q_len)) != SOTTO_OK)
			return rc;
		wire_writer_lp16(&w, q, q_len, CLIENT_QUEUE_ADDR_MAX);
	}
	wire_writer_u8(&w, in->has_sq_keys);
	if (in->has_sq_keys) {
		wire_writer_bytes(&w, in->k_sauth, RELAY_KEY_LEN);
		wire_writer_bytes(&w, in->sk_pub, RELAY_KEY_LEN);
	}
	return wire_writer_finish(&w, len);
}

/* A flag byte: 0 or 1, anything else is corrupt. */
static bool read_flag(struct wire_reader *r)
{
	uint8_t v = wire_reader_u8(r);

	if (v > 1)
		wire_reader_fail(r, SOTTO_ERR_CORRUPT);
	return v == 1;
}

/* A name field: empty, or a valid display name. */
static void read_name(struct wire_reader *r, char *out, size_t *len)
{
	const uint8_t *p = wire_reader_lp8(r, CLIENT_NAME_MAX, len);

	if (p == NULL)
		return;
	if (*len > 0 && !client_name_is_valid(p, *len)) {
		wire_reader_fail(r, SOTTO_ERR_CORRUPT);
		*len = 0;
		return;
	}
	memcpy(out, p, *len);
	out[*len] = '\0';
}

sotto_err agent_rec_info_decode(const uint8_t *in, size_t len, struct agent_info *out)
{
	struct wire_reader r;
	const uint8_t *q;
	size_t q_len = 0;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&r, in, len);
	if (wire_reader_u8(&r) != AGENT_REC_VERSION)
		wire_reader_fail(&r, SOTTO_ERR_CORRUPT);
	read_name(&r, out->local_name, &out->local_name_len);
	read_name(&r, out->peer_name, &out->peer_name_len);
	out->created_ms = wire_reader_u64(&r);
	if ((out->has_rq_relay = read_flag(&r)))
		read_relay(&r, &out->rq_relay);
	if ((out->has_rq = read_flag(&r))) {
		wire_reader_copy(&r, out->rq.rid, RELAY_ID_LEN);
		wire_reader_copy(&r, out->rq.sid, RELAY_ID_LEN);
		wire_reader_copy(&r, out->rq.ssk, RELAY_KEY_LEN);
		wire_reader_copy(&r, out->rq.k_rauth, RELAY_KEY_LEN);
		wire_reader_copy(&r, out->rq.k_deliver, RELAY_KEY_LEN);
	}
	if ((out->has_sq = read_flag(&r))) {
		q = wire_reader_lp16(&r, CLIENT_QUEUE_ADDR_MAX, &q_len);
		if (q != NULL && client_queue_addr_parse(q, q_len, &out->sq) != SOTTO_OK)
			wire_reader_fail(&r, SOTTO_ERR_CORRUPT);
	}
	if ((out->has_sq_keys = read_flag(&r))) {
		wire_reader_copy(&r, out->k_sauth, RELAY_KEY_LEN);
		wire_reader_copy(&r, out->sk_pub, RELAY_KEY_LEN);
	}
	rc = wire_reader_finish(&r);
	if (rc == SOTTO_OK && out->has_rq && !out->has_rq_relay)
		rc = SOTTO_ERR_CORRUPT;
	if (rc != SOTTO_OK) {
		agent_info_clear(out);
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	}
	return SOTTO_OK;
}

/* ---- messages.rec ---- */

sotto_err agent_rec_msg_encode(const struct agent_rec_msg *m, uint8_t *out, size_t cap, size_t *len)
{
	struct wire_writer w;

	*len = 0;
	wire_writer_init(&w, out, cap);
	wire_writer_u8(&w, AGENT_REC_VERSION);
	wire_writer_bytes(&w, m->msg_id, CLIENT_MSG_ID_LEN);
	wire_writer_u64(&w, m->sent_at_ms);
	wire_writer_u64(&w, m->time_ms);
	wire_writer_lp16(&w, m->text, m->text_len, CLIENT_TEXT_MAX);
	return wire_writer_finish(&w, len);
}

sotto_err agent_rec_msg_decode(const uint8_t *in, size_t len, struct agent_rec_msg *m)
{
	struct wire_reader r;

	memset(m, 0, sizeof(*m));
	wire_reader_init(&r, in, len);
	if (wire_reader_u8(&r) != AGENT_REC_VERSION)
		wire_reader_fail(&r, SOTTO_ERR_CORRUPT);
	wire_reader_copy(&r, m->msg_id, CLIENT_MSG_ID_LEN);
	m->sent_at_ms = wire_reader_u64(&r);
	m->time_ms = wire_reader_u64(&r);
	m->text = wire_reader_lp16(&r, CLIENT_TEXT_MAX, &m->text_len);
	if (wire_reader_finish(&r) != SOTTO_OK || !client_text_is_valid(m->text, m->text_len)) {
		memset(m, 0, sizeof(*m));
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	}
	return SOTTO_OK;
}

/* ---- outbox.rec ---- */

size_t agent_rec_outbox_len(const struct agent_rec_outbox *o)
{
	if (!o->is_pending)
		return o->body_len > RELAY_MSG_BODY_MAX ? 0 : 1 + 1 + 2 + o->body_len;
	if (o->hello_len > AGENT_REC_HELLO_MAX || o->env_len > CLIENT_ENVELOPE_MAX)
		return 0;
	return 1 + 1 + 2 + o->hello_len + RATCHET_PREFIX_LEN + PROTO_KEY_LEN + PROTO_AD_LEN + 2 +
	       o->env_len;
}

sotto_err agent_rec_outbox_encode(const struct agent_rec_outbox *o, uint8_t *out, size_t cap,
                                  size_t *len)
{
	struct wire_writer w;

	*len = 0;
	wire_writer_init(&w, out, cap);
	wire_writer_u8(&w, o->is_pending ? AGENT_REC_OUTBOX_PENDING : AGENT_REC_VERSION);
	wire_writer_u8(&w, o->kind);
	if (!o->is_pending) {
		wire_writer_lp16(&w, o->body, o->body_len, RELAY_MSG_BODY_MAX);
	} else {
		wire_writer_lp16(&w, o->hello, o->hello_len, AGENT_REC_HELLO_MAX);
		wire_writer_bytes(&w, o->prefix, RATCHET_PREFIX_LEN);
		wire_writer_bytes(&w, o->mk, PROTO_KEY_LEN);
		wire_writer_bytes(&w, o->ad, PROTO_AD_LEN);
		wire_writer_lp16(&w, o->env, o->env_len, CLIENT_ENVELOPE_MAX);
	}
	return wire_writer_finish(&w, len);
}

sotto_err agent_rec_outbox_decode(const uint8_t *in, size_t len, struct agent_rec_outbox *o)
{
	struct wire_reader r;
	uint8_t version;

	memset(o, 0, sizeof(*o));
	wire_reader_init(&r, in, len);
	version = wire_reader_u8(&r);
	o->kind = wire_reader_u8(&r);
	if (version == AGENT_REC_VERSION) {
		o->body = wire_reader_lp16(&r, RELAY_MSG_BODY_MAX, &o->body_len);
	} else if (version == AGENT_REC_OUTBOX_PENDING) {
		o->is_pending = true;
		o->hello = wire_reader_lp16(&r, AGENT_REC_HELLO_MAX, &o->hello_len);
		o->prefix = wire_reader_view(&r, RATCHET_PREFIX_LEN);
		o->mk = wire_reader_view(&r, PROTO_KEY_LEN);
		o->ad = wire_reader_view(&r, PROTO_AD_LEN);
		o->env = wire_reader_lp16(&r, CLIENT_ENVELOPE_MAX, &o->env_len);
	} else {
		wire_reader_fail(&r, SOTTO_ERR_CORRUPT);
	}
	if (wire_reader_finish(&r) != SOTTO_OK || o->kind < CLIENT_ENVELOPE_CONNECT ||
	    o->kind > CLIENT_ENVELOPE_LEAVE) {
		memset(o, 0, sizeof(*o));
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	}
	return SOTTO_OK;
}
