/* SPDX-License-Identifier: MIT */
/*
 * agent_rec_test.c - tests for the agent's record codecs (agent_rec.h):
 * contacts.info, messages.rec and outbox.rec round trip byte for byte, and
 * every record the encoders do not write (a flag byte of 2, an unknown
 * version or kind, a queue without its relay, a bad name, host or text,
 * every truncation, a trailing byte, every bit flip that breaks a rule) is
 * SOTTO_ERR_CORRUPT with nothing left in the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sodium.h>

#include "client/agent_rec.h"

enum {
	/* offsets in the record sample_info writes with every part present */
	INFO_OFF_RELAY_FLAG = 1 + 1 + 11 + 1 + 3 + 8,
	INFO_OFF_PORT = INFO_OFF_RELAY_FLAG + 1 + 32,
	INFO_OFF_HOST = INFO_OFF_PORT + 2 + 1,
};

static uint8_t buf[AGENT_REC_OUTBOX_MAX];
static uint8_t again[AGENT_REC_OUTBOX_MAX];

static void fill(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static void set_host(struct net_addr *a, const char *host, uint16_t port)
{
	memset(a->host, 0, sizeof(a->host));
	memcpy(a->host, host, strlen(host));
	a->port = port;
}

/* An info with the parts of mask: 1 relay, 2 queue, 4 peer queue, 8 sender key. */
static void sample_info(struct agent_info *in, unsigned mask)
{
	memset(in, 0, sizeof(*in));
	memcpy(in->local_name, "Bob at work", 11);
	in->local_name_len = 11;
	memcpy(in->peer_name, "Bob", 3);
	in->peer_name_len = 3;
	in->created_ms = 1790000000000u;
	if ((in->has_rq_relay = (mask & 1) != 0)) {
		fill(in->rq_relay.key, NET_ADDR_KEY_LEN, 0x01);
		set_host(&in->rq_relay, "relay.example.org", 5223);
	}
	if ((in->has_rq = (mask & 2) != 0)) {
		fill(in->rq.rid, RELAY_ID_LEN, 0x10);
		fill(in->rq.sid, RELAY_ID_LEN, 0x30);
		fill(in->rq.ssk, RELAY_KEY_LEN, 0x50);
		fill(in->rq.k_rauth, RELAY_KEY_LEN, 0x70);
		fill(in->rq.k_deliver, RELAY_KEY_LEN, 0x90);
	}
	if ((in->has_sq = (mask & 4) != 0)) {
		fill(in->sq.relay.key, NET_ADDR_KEY_LEN, 0x21);
		set_host(&in->sq.relay, "10.0.0.7", 443);
		fill(in->sq.sid, CLIENT_SID_LEN, 0x40);
		fill(in->sq.ssk, CLIENT_KEY_LEN, 0x60);
	}
	if ((in->has_sq_keys = (mask & 8) != 0)) {
		fill(in->k_sauth, RELAY_KEY_LEN, 0xb0);
		fill(in->sk_pub, RELAY_KEY_LEN, 0xd0);
	}
}

static void info_corrupt(const uint8_t *rec, size_t len)
{
	struct agent_info out;

	assert_int_equal(agent_rec_info_decode(rec, len, &out), SOTTO_ERR_CORRUPT);
	assert_true(sodium_is_zero((const unsigned char *)&out, sizeof(out)));
}

static void agent_rec_info__identical__round_trip_every_combination(void **state)
{
	struct agent_info in, out;
	size_t len = 0, len2 = 0;

	(void)state;
	for (unsigned mask = 0; mask < 16; mask++) {
		if ((mask & 2) != 0 && (mask & 1) == 0)
			continue; /* a queue needs its relay */
		sample_info(&in, mask);
		assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
		assert_int_equal(agent_rec_info_decode(buf, len, &out), SOTTO_OK);
		assert_memory_equal(&out, &in, sizeof(in));
		assert_int_equal(agent_rec_info_encode(&out, again, sizeof(again), &len2),
		                 SOTTO_OK);
		assert_int_equal(len2, len);
		assert_memory_equal(again, buf, len);
	}
	/* names at their longest, and none */
	sample_info(&in, 15);
	memset(in.local_name, 'a', CLIENT_NAME_MAX);
	in.local_name[CLIENT_NAME_MAX] = '\0';
	in.local_name_len = CLIENT_NAME_MAX;
	memset(in.peer_name, 0, sizeof(in.peer_name));
	in.peer_name_len = 0;
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	assert_true(len <= AGENT_REC_INFO_MAX);
	assert_int_equal(agent_rec_info_decode(buf, len, &out), SOTTO_OK);
	assert_memory_equal(&out, &in, sizeof(in));
	assert_int_equal(agent_rec_info_encode(&in, buf, len - 1, &len2), SOTTO_ERR_TOO_LARGE);
}

static void agent_rec_info__corrupt__hostile_records(void **state)
{
	struct agent_info in;
	size_t len = 0, n;

	(void)state;
	sample_info(&in, 1 | 2); /* the queue without its relay */
	in.has_rq_relay = false;
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	info_corrupt(buf, len);

	sample_info(&in, 15);
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(buf[INFO_OFF_RELAY_FLAG], 1);
	buf[INFO_OFF_RELAY_FLAG] = 2;
	info_corrupt(buf, len);
	buf[INFO_OFF_RELAY_FLAG] = 1;
	buf[0] = 2; /* version */
	info_corrupt(buf, len);
	buf[0] = AGENT_REC_VERSION;
	buf[INFO_OFF_PORT] = buf[INFO_OFF_PORT + 1] = 0;
	info_corrupt(buf, len);
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	buf[INFO_OFF_HOST] = '_';
	info_corrupt(buf, len);
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	buf[3] = 0x07; /* a control character in the local name */
	info_corrupt(buf, len);
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	buf[len] = 0;
	info_corrupt(buf, len + 1);
	for (n = 0; n < len; n++)
		info_corrupt(buf, n);
	/* the last flag byte (sender keys absent) set to 2 */
	sample_info(&in, 7);
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	buf[len - 1] = 2;
	info_corrupt(buf, len);
}

/* Every single-bit flip of a full record: corrupt, or another record the encoder writes again. */
static void agent_rec_info__canonical__every_bit_flip(void **state)
{
	struct agent_info in, out;
	size_t len = 0, len2 = 0, n_ok = 0, n_bad = 0;

	(void)state;
	sample_info(&in, 15);
	assert_int_equal(agent_rec_info_encode(&in, buf, sizeof(buf), &len), SOTTO_OK);
	for (size_t bit = 0; bit < len * 8; bit++) {
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (agent_rec_info_decode(buf, len, &out) == SOTTO_OK) {
			assert_int_equal(agent_rec_info_encode(&out, again, sizeof(again), &len2),
			                 SOTTO_OK);
			assert_int_equal(len2, len);
			assert_memory_equal(again, buf, len);
			n_ok++;
		} else {
			assert_true(sodium_is_zero((const unsigned char *)&out, sizeof(out)));
			n_bad++;
		}
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_true(n_ok > 0 && n_bad > 0);
}

static void msg_corrupt(const uint8_t *rec, size_t len)
{
	struct agent_rec_msg m;

	assert_int_equal(agent_rec_msg_decode(rec, len, &m), SOTTO_ERR_CORRUPT);
	assert_true(sodium_is_zero((const unsigned char *)&m, sizeof(m)));
}

static void agent_rec_msg__round_trip_and_corrupt(void **state)
{
	static uint8_t text[CLIENT_TEXT_MAX + 1];
	struct agent_rec_msg m = {.sent_at_ms = 1, .time_ms = UINT64_MAX}, out;
	size_t len = 0, len2 = 0, n;

	(void)state;
	fill(m.msg_id, CLIENT_MSG_ID_LEN, 0x42);
	memset(text, 'x', sizeof(text));
	m.text = text;
	m.text_len = CLIENT_TEXT_MAX;
	assert_int_equal(agent_rec_msg_encode(&m, buf, AGENT_REC_MSG_MAX, &len), SOTTO_OK);
	assert_int_equal(len, AGENT_REC_MSG_MAX);
	assert_int_equal(agent_rec_msg_decode(buf, len, &out), SOTTO_OK);
	assert_memory_equal(out.msg_id, m.msg_id, CLIENT_MSG_ID_LEN);
	assert_true(out.sent_at_ms == 1 && out.time_ms == UINT64_MAX);
	assert_int_equal(out.text_len, CLIENT_TEXT_MAX);
	assert_ptr_equal(out.text, buf + 1 + 16 + 8 + 8 + 2);
	assert_int_equal(agent_rec_msg_encode(&out, again, sizeof(again), &len2), SOTTO_OK);
	assert_int_equal(len2, len);
	assert_memory_equal(again, buf, len);
	m.text_len = CLIENT_TEXT_MAX + 1;
	assert_int_not_equal(agent_rec_msg_encode(&m, buf, sizeof(buf), &len), SOTTO_OK);

	memcpy(text, "\xc3\xa9t\xc3\xa9", 5); /* "été" */
	m.text_len = 5;
	assert_int_equal(agent_rec_msg_encode(&m, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(agent_rec_msg_decode(buf, len, &out), SOTTO_OK);
	buf[len - 5] = 0xc0; /* an overlong form */
	msg_corrupt(buf, len);
	buf[len - 5] = 0x00; /* a NUL */
	msg_corrupt(buf, len);
	assert_int_equal(agent_rec_msg_encode(&m, buf, sizeof(buf), &len), SOTTO_OK);
	buf[0] = 0;
	msg_corrupt(buf, len);
	buf[0] = AGENT_REC_VERSION;
	buf[len] = 'x';
	msg_corrupt(buf, len + 1);
	for (n = 0; n < len; n++)
		msg_corrupt(buf, n);
	/* a length field beyond the text limit */
	buf[1 + 16 + 8 + 8] = (uint8_t)((CLIENT_TEXT_MAX + 1) >> 8);
	buf[1 + 16 + 8 + 8 + 1] = (uint8_t)((CLIENT_TEXT_MAX + 1) & 0xff);
	msg_corrupt(buf, len);
}

static void outbox_corrupt(const uint8_t *rec, size_t len)
{
	struct agent_rec_outbox o;

	assert_int_equal(agent_rec_outbox_decode(rec, len, &o), SOTTO_ERR_CORRUPT);
	assert_true(sodium_is_zero((const unsigned char *)&o, sizeof(o)));
}

static void outbox_round_trip(const struct agent_rec_outbox *o, size_t *len)
{
	struct agent_rec_outbox out;
	size_t len2 = 0;

	assert_int_equal(agent_rec_outbox_encode(o, buf, sizeof(buf), len), SOTTO_OK);
	assert_int_equal(*len, agent_rec_outbox_len(o));
	assert_int_equal(agent_rec_outbox_decode(buf, *len, &out), SOTTO_OK);
	assert_int_equal(out.kind, o->kind);
	assert_int_equal(out.is_pending, o->is_pending);
	assert_int_equal(agent_rec_outbox_encode(&out, again, sizeof(again), &len2), SOTTO_OK);
	assert_int_equal(len2, *len);
	assert_memory_equal(again, buf, *len);
}

static void agent_rec_outbox__round_trip_and_corrupt(void **state)
{
	static uint8_t body[RELAY_MSG_BODY_MAX], hello[AGENT_REC_HELLO_MAX + 1],
	        env[CLIENT_ENVELOPE_MAX];
	uint8_t prefix[RATCHET_PREFIX_LEN], mk[PROTO_KEY_LEN], ad[PROTO_AD_LEN];
	struct agent_rec_outbox o;
	size_t len = 0, n;

	(void)state;
	fill(body, sizeof(body), 1);
	fill(hello, sizeof(hello), 2);
	fill(env, sizeof(env), 3);
	fill(prefix, sizeof(prefix), 4);
	fill(mk, sizeof(mk), 5);
	fill(ad, sizeof(ad), 6);
	o = (struct agent_rec_outbox){
	        .kind = CLIENT_ENVELOPE_TEXT, .body = body, .body_len = RELAY_MSG_BODY_MAX};
	outbox_round_trip(&o, &len);
	assert_int_equal(len, AGENT_REC_OUTBOX_MAX);
	o.body_len = RELAY_MSG_BODY_MAX + 1;
	assert_int_equal(agent_rec_outbox_len(&o), 0);

	o = (struct agent_rec_outbox){.kind = CLIENT_ENVELOPE_CONNECT,
	                              .is_pending = true,
	                              .hello = hello,
	                              .hello_len = AGENT_REC_HELLO_MAX,
	                              .prefix = prefix,
	                              .mk = mk,
	                              .ad = ad,
	                              .env = env,
	                              .env_len = 300};
	outbox_round_trip(&o, &len);
	for (n = 0; n < len; n++)
		outbox_corrupt(buf, n);
	buf[len] = 0;
	outbox_corrupt(buf, len + 1);
	buf[0] = 3; /* version */
	outbox_corrupt(buf, len);
	buf[0] = AGENT_REC_OUTBOX_PENDING;
	buf[1] = CLIENT_ENVELOPE_CONNECT - 1;
	outbox_corrupt(buf, len);
	buf[1] = CLIENT_ENVELOPE_LEAVE + 1;
	outbox_corrupt(buf, len);
	o.hello_len = AGENT_REC_HELLO_MAX + 1;
	assert_int_equal(agent_rec_outbox_len(&o), 0);
	/* a hello length beyond its limit, as written by someone else */
	o.hello_len = 0;
	outbox_round_trip(&o, &len);
	buf[2] = (uint8_t)((AGENT_REC_HELLO_MAX + 1) >> 8);
	buf[3] = (uint8_t)((AGENT_REC_HELLO_MAX + 1) & 0xff);
	outbox_corrupt(buf, len);
	/* every kind of envelope is accepted, version 1 too */
	for (uint8_t k = CLIENT_ENVELOPE_CONNECT; k <= CLIENT_ENVELOPE_LEAVE; k++) {
		o = (struct agent_rec_outbox){.kind = k, .body = body, .body_len = 0};
		outbox_round_trip(&o, &len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(agent_rec_info__identical__round_trip_every_combination),
	        cmocka_unit_test(agent_rec_info__corrupt__hostile_records),
	        cmocka_unit_test(agent_rec_info__canonical__every_bit_flip),
	        cmocka_unit_test(agent_rec_msg__round_trip_and_corrupt),
	        cmocka_unit_test(agent_rec_outbox__round_trip_and_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
