/* SPDX-License-Identifier: MIT */
/*
 * agent_rec_fuzz.c - fuzz target for the agent's record decoders
 * (agent_rec.h): contacts.info, messages.rec and outbox.rec, which the
 * agent reads from its database file.
 *
 * Input: a selector byte (its value mod 3: 0 contacts.info, 1 messages.rec,
 * 2 outbox.rec) and the record. A failure must leave the decoded struct all
 * zero. A success must encode back to exactly the record, and what was
 * decoded must satisfy the record's rules (names and texts valid, a relay
 * host NUL-terminated with a port, pointers inside the record). Anything
 * else abort()s.
 *
 * Seeds in fuzz/corpus/agent_rec/: each record with every optional part
 * absent and present, the longest text and name, outbox versions 1 and 2,
 * and near-valid variants (flag byte 2, unknown version, a kind out of
 * range, a queue without its relay, a text with invalid UTF-8, a byte too
 * few and a byte too many).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/agent_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[AGENT_REC_OUTBOX_MAX + AGENT_REC_HELLO_MAX + 512];

static bool is_inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
	return n == 0 || (p != NULL && p >= data && p + n <= data + size);
}

static void check_same(const uint8_t *data, size_t size, size_t out_len)
{
	if (out_len != size || memcmp(out, data, size) != 0)
		abort();
}

static void check_name(const char *name, size_t len)
{
	if (len > CLIENT_NAME_MAX || name[len] != '\0' ||
	    (len > 0 && !client_name_is_valid((const uint8_t *)name, len)))
		abort();
}

static void fuzz_info(const uint8_t *data, size_t size)
{
	struct agent_info info, again;
	size_t out_len = 0;

	if (agent_rec_info_decode(data, size, &info) != SOTTO_OK) {
		if (!sodium_is_zero((const unsigned char *)&info, sizeof(info)))
			abort();
		return;
	}
	check_name(info.local_name, info.local_name_len);
	check_name(info.peer_name, info.peer_name_len);
	if (info.has_rq && !info.has_rq_relay)
		abort();
	if (info.has_rq_relay &&
	    (info.rq_relay.port == 0 || memchr(info.rq_relay.host, '\0', NET_HOST_MAX + 1) == NULL))
		abort();
	if (agent_rec_info_encode(&info, out, sizeof(out), &out_len) != SOTTO_OK)
		abort();
	check_same(data, size, out_len);
	if (agent_rec_info_decode(out, out_len, &again) != SOTTO_OK ||
	    memcmp(&again, &info, sizeof(info)) != 0)
		abort();
	agent_info_clear(&info);
	agent_info_clear(&again);
}

static void fuzz_msg(const uint8_t *data, size_t size)
{
	struct agent_rec_msg m;
	size_t out_len = 0;

	if (agent_rec_msg_decode(data, size, &m) != SOTTO_OK) {
		if (!sodium_is_zero((const unsigned char *)&m, sizeof(m)))
			abort();
		return;
	}
	if (!is_inside(m.text, m.text_len, data, size) || m.text_len > CLIENT_TEXT_MAX ||
	    !client_text_is_valid(m.text, m.text_len))
		abort();
	if (agent_rec_msg_encode(&m, out, sizeof(out), &out_len) != SOTTO_OK)
		abort();
	check_same(data, size, out_len);
}

static void fuzz_outbox(const uint8_t *data, size_t size)
{
	struct agent_rec_outbox o;
	size_t out_len = 0;

	if (agent_rec_outbox_decode(data, size, &o) != SOTTO_OK) {
		if (!sodium_is_zero((const unsigned char *)&o, sizeof(o)))
			abort();
		return;
	}
	if (o.kind < CLIENT_ENVELOPE_CONNECT || o.kind > CLIENT_ENVELOPE_LEAVE)
		abort();
	if (!o.is_pending) {
		if (!is_inside(o.body, o.body_len, data, size) || o.body_len > RELAY_MSG_BODY_MAX)
			abort();
	} else if (!is_inside(o.hello, o.hello_len, data, size) ||
	           o.hello_len > AGENT_REC_HELLO_MAX ||
	           !is_inside(o.prefix, RATCHET_PREFIX_LEN, data, size) ||
	           !is_inside(o.mk, PROTO_KEY_LEN, data, size) ||
	           !is_inside(o.ad, PROTO_AD_LEN, data, size) ||
	           !is_inside(o.env, o.env_len, data, size) || o.env_len > CLIENT_ENVELOPE_MAX) {
		abort();
	}
	if (agent_rec_outbox_len(&o) != size ||
	    agent_rec_outbox_encode(&o, out, sizeof(out), &out_len) != SOTTO_OK)
		abort();
	check_same(data, size, out_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: fuzz_info(data + 1, size - 1); break;
	case 1: fuzz_msg(data + 1, size - 1); break;
	default: fuzz_outbox(data + 1, size - 1); break;
	}
	return 0;
}
