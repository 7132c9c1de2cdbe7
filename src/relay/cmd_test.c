/* SPDX-License-Identifier: MIT */
/*
 * cmd_test.c - the relay protocol codec: batch framing and its edge cases
 * (0 and 33 transmissions, overrunning lengths, trailing bytes, a batch
 * filling all 16,382 bytes), round trips of every command and response,
 * every truncation and single-bit flip of each encoding (rejected, or parsed
 * to exactly its own re-encoding), MACs checked against libsodium directly
 * and bound to the session id and every covered byte, the queue key
 * derivations, and the MSG delivery encryption (re-encryption shares no
 * 16-byte run with the upload; any tampering is SOTTO_ERR_AUTH).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/x25519.h"
#include "relay/cmd.h"
#include "test_util.h"

enum {
	CORR = 0x01020304,
	SAMPLE_BODY_LEN = 5,
	SUBSTRING_LEN = 16,
	DISJOINT_BODY_LEN = 2000,
};

static const uint8_t all_cmds[] = {
        RELAY_CMD_NEW, RELAY_CMD_KEY, RELAY_CMD_SKEY, RELAY_CMD_SEND, RELAY_CMD_SUB,
        RELAY_CMD_GET, RELAY_CMD_ACK, RELAY_CMD_OFF,  RELAY_CMD_DEL,  RELAY_CMD_PING,
};

/* Random inputs shared by a test; deterministic from the seed. */
struct fix {
	struct tu_rng rng;
	uint8_t session_id[RELAY_SESSION_ID_LEN];
	uint8_t other_session_id[RELAY_SESSION_ID_LEN];
	uint8_t key[RELAY_KEY_LEN];
	uint8_t entity[RELAY_ID_LEN];
	uint8_t body[RELAY_MSG_BODY_MAX + 1];
};

/* Big buffers stay off the stack (ASan makes deep frames expensive). */
static struct fix fx;
static uint8_t txbuf[RELAY_TX_MAX + 16];
static uint8_t txbuf2[RELAY_TX_MAX + 16];
static uint8_t content[RELAY_BLOCK_CONTENT_MAX + 16];
static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];

static void fix_init(uint64_t seed)
{
	memset(&fx, 0, sizeof(fx));
	tu_rng_init(&fx.rng, seed);
	tu_rng_fill(&fx.rng, fx.session_id, sizeof(fx.session_id));
	tu_rng_fill(&fx.rng, fx.other_session_id, sizeof(fx.other_session_id));
	tu_rng_fill(&fx.rng, fx.key, sizeof(fx.key));
	tu_rng_fill(&fx.rng, fx.entity, sizeof(fx.entity));
	tu_rng_fill(&fx.rng, fx.body, sizeof(fx.body));
}

static int is_anonymous(uint8_t code)
{
	return code == RELAY_CMD_NEW || code == RELAY_CMD_PING;
}

/* A valid command of each code; SEND carries body_len bytes of fx.body. */
static void sample_cmd(struct relay_cmd *cmd, uint8_t code, size_t body_len)
{
	relay_cmd_init(cmd, code, CORR, is_anonymous(code) ? NULL : fx.entity);
	if (code == RELAY_CMD_NEW || code == RELAY_CMD_KEY || code == RELAY_CMD_SKEY)
		tu_rng_fill(&fx.rng, cmd->key, sizeof(cmd->key));
	if (code == RELAY_CMD_ACK)
		tu_rng_fill(&fx.rng, cmd->msg_id, sizeof(cmd->msg_id));
	if (code == RELAY_CMD_SEND) {
		cmd->body = fx.body;
		cmd->body_len = body_len;
	}
}

/* Encodes cmd into buf, MAC'd under fx.key unless the command is anonymous. */
static size_t encode_cmd(uint8_t *buf, size_t cap, const struct relay_cmd *cmd)
{
	size_t len = 0;
	const uint8_t *key = is_anonymous(cmd->code) ? NULL : fx.key;

	assert_int_equal(relay_cmd_encode(buf, cap, &len, cmd, key, fx.session_id), SOTTO_OK);
	assert_int_equal(len, relay_cmd_len(cmd));
	return len;
}

/* Parses tx; on success re-encodes the parsed fields and requires the same bytes. */
static sotto_err cmd_parse_reencode(const uint8_t *tx, size_t tx_len, struct relay_cmd *out)
{
	size_t len = 0;
	sotto_err rc = relay_cmd_parse(out, tx, tx_len);

	if (rc != SOTTO_OK) {
		assert_int_equal(rc, SOTTO_ERR_PROTOCOL);
		assert_int_not_equal(out->err, RELAY_ERR_NONE);
		assert_null(out->body);
		return rc;
	}
	assert_int_equal(out->err, RELAY_ERR_NONE);
	assert_ptr_equal(out->covered, tx + RELAY_CMD_MAC_OFFSET);
	assert_int_equal(out->covered_len, out->code == RELAY_CMD_SEND
	                                           ? (size_t)RELAY_SEND_COVERED_LEN
	                                           : tx_len - RELAY_CMD_MAC_OFFSET);
	assert_int_equal(relay_cmd_encode(txbuf2, sizeof(txbuf2), &len, out, NULL, NULL), SOTTO_OK);
	assert_int_equal(len, tx_len);
	assert_memory_equal(txbuf2, tx, tx_len);
	return rc;
}

static sotto_err resp_parse_reencode(const uint8_t *tx, size_t tx_len, struct relay_resp *out)
{
	size_t len = 0;
	sotto_err rc = relay_resp_parse(out, tx, tx_len);

	if (rc != SOTTO_OK) {
		assert_int_equal(rc, SOTTO_ERR_PROTOCOL);
		assert_int_equal(out->code, 0);
		return rc;
	}
	assert_int_equal(relay_resp_encode(txbuf2, sizeof(txbuf2), &len, out), SOTTO_OK);
	assert_int_equal(len, tx_len);
	assert_int_equal(relay_resp_len(out), tx_len);
	assert_memory_equal(txbuf2, tx, tx_len);
	return rc;
}

/* ---- Batches ---- */

/* Writes a batch of n transmissions of the given lengths with raw bytes. */
static size_t raw_batch(size_t n, const size_t *lens)
{
	size_t pos = 1, i;

	content[0] = (uint8_t)n;
	for (i = 0; i < n; i++) {
		content[pos] = (uint8_t)(lens[i] >> 8);
		content[pos + 1] = (uint8_t)lens[i];
		memset(content + pos + 2, (int)i, lens[i]);
		pos += 2 + lens[i];
	}
	return pos;
}

static void relay_batch_parse__ok__one_to_32_transmissions(void **state)
{
	struct relay_batch b;
	size_t lens[RELAY_BATCH_MAX], n, i, len;

	(void)state;
	for (i = 0; i < RELAY_BATCH_MAX; i++)
		lens[i] = i * 3;
	for (n = 1; n <= RELAY_BATCH_MAX; n++) {
		len = raw_batch(n, lens);
		assert_int_equal(relay_batch_parse(&b, content, len), SOTTO_OK);
		assert_int_equal(b.n_tx, n);
		for (i = 0; i < n; i++) {
			assert_int_equal(b.tx[i].len, lens[i]);
			assert_non_null(b.tx[i].buf);
			if (lens[i] > 0)
				assert_int_equal(b.tx[i].buf[0], (uint8_t)i);
		}
	}
}

static void relay_batch_parse__protocol__zero_or_33_transmissions(void **state)
{
	struct relay_batch b;
	size_t lens[RELAY_BATCH_MAX + 1] = {0};
	size_t len;

	(void)state;
	len = raw_batch(0, lens);
	assert_int_equal(relay_batch_parse(&b, content, len), SOTTO_ERR_PROTOCOL);
	assert_int_equal(b.n_tx, 0);
	len = raw_batch(RELAY_BATCH_MAX + 1, lens);
	assert_int_equal(relay_batch_parse(&b, content, len), SOTTO_ERR_PROTOCOL);
	assert_int_equal(b.n_tx, 0);
	/* A count byte of 255 with nothing after it. */
	content[0] = 0xff;
	assert_int_equal(relay_batch_parse(&b, content, 1), SOTTO_ERR_PROTOCOL);
}

static void relay_batch_parse__protocol__empty_or_oversized_content(void **state)
{
	struct relay_batch b;
	size_t lens[1] = {RELAY_TX_MAX};

	(void)state;
	assert_int_equal(relay_batch_parse(&b, NULL, 0), SOTTO_ERR_PROTOCOL);
	/* One byte over the block content limit, otherwise well formed. */
	lens[0] = RELAY_TX_MAX + 1;
	assert_int_equal(raw_batch(1, lens), RELAY_BLOCK_CONTENT_MAX + 1);
	assert_int_equal(relay_batch_parse(&b, content, RELAY_BLOCK_CONTENT_MAX + 1),
	                 SOTTO_ERR_PROTOCOL);
}

static void relay_batch_parse__protocol__lp16_overruns(void **state)
{
	struct relay_batch b;
	size_t lens[3] = {10, 20, 30};
	size_t len, cut;

	(void)state;
	len = raw_batch(3, lens);
	/* Every shorter content leaves the last length running past the end. */
	for (cut = 0; cut < len; cut++)
		assert_int_equal(relay_batch_parse(&b, content, cut), SOTTO_ERR_PROTOCOL);
	/* The first length claims one byte more than there is. */
	content[2] = (uint8_t)(len - 1 - 2 + 1);
	assert_int_equal(relay_batch_parse(&b, content, len), SOTTO_ERR_PROTOCOL);
	assert_int_equal(b.n_tx, 0);
}

static void relay_batch_parse__protocol__trailing_bytes(void **state)
{
	struct relay_batch b;
	size_t lens[2] = {10, 20};
	size_t len;

	(void)state;
	len = raw_batch(2, lens);
	content[len] = 0;
	assert_int_equal(relay_batch_parse(&b, content, len), SOTTO_OK);
	assert_int_equal(relay_batch_parse(&b, content, len + 1), SOTTO_ERR_PROTOCOL);
	/* A count lower than the transmissions present leaves one trailing. */
	content[0] = 1;
	assert_int_equal(relay_batch_parse(&b, content, len), SOTTO_ERR_PROTOCOL);
	assert_int_equal(b.n_tx, 0);
}

static void relay_batch__ok__maximal_batch_fills_16382_bytes(void **state)
{
	static uint8_t out[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	struct relay_batch b;
	size_t lens[RELAY_BATCH_MAX], i, len = 0;

	(void)state;
	/* 32 transmissions: 1 + 32 * 2 + 31 * 509 + 538 = 16,382. */
	for (i = 0; i < RELAY_BATCH_MAX - 1; i++)
		lens[i] = 509;
	lens[RELAY_BATCH_MAX - 1] = 538;
	assert_int_equal(raw_batch(RELAY_BATCH_MAX, lens), RELAY_BLOCK_CONTENT_MAX);
	assert_int_equal(relay_batch_parse(&b, content, RELAY_BLOCK_CONTENT_MAX), SOTTO_OK);
	assert_int_equal(b.n_tx, RELAY_BATCH_MAX);

	/* The writer rebuilds it byte for byte and then refuses even 0 bytes. */
	relay_batch_writer_init(&bw, out);
	for (i = 0; i < RELAY_BATCH_MAX; i++) {
		if (i == RELAY_BATCH_MAX - 1) {
			assert_int_equal(relay_batch_writer_room(&bw), 538);
			assert_false(relay_batch_writer_fits(&bw, 539));
			assert_int_equal(relay_batch_writer_add(&bw, b.tx[i].buf, 539),
			                 SOTTO_ERR_TOO_LARGE);
		}
		assert_int_equal(relay_batch_writer_add(&bw, b.tx[i].buf, b.tx[i].len), SOTTO_OK);
	}
	assert_false(relay_batch_writer_fits(&bw, 0));
	assert_int_equal(relay_batch_writer_room(&bw), 0);
	assert_int_equal(relay_batch_writer_finish(&bw, &len), SOTTO_OK);
	assert_int_equal(len, RELAY_BLOCK_CONTENT_MAX);
	assert_memory_equal(out, content, RELAY_BLOCK_CONTENT_MAX);

	/* One transmission of RELAY_TX_MAX bytes fills a block too. */
	relay_batch_writer_init(&bw, out);
	assert_int_equal(relay_batch_writer_room(&bw), RELAY_TX_MAX);
	assert_int_equal(relay_batch_writer_add(&bw, txbuf, RELAY_TX_MAX), SOTTO_OK);
	assert_false(relay_batch_writer_fits(&bw, 0));
	assert_int_equal(relay_batch_writer_finish(&bw, &len), SOTTO_OK);
	assert_int_equal(relay_batch_parse(&b, out, len), SOTTO_OK);
	assert_int_equal(b.n_tx, 1);
	assert_int_equal(b.tx[0].len, RELAY_TX_MAX);
}

static void relay_batch_writer__too_large__33rd_transmission(void **state)
{
	static uint8_t out[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	struct relay_batch b;
	size_t i, len = 0, cap = 99;

	(void)state;
	relay_batch_writer_init(&bw, out);
	for (i = 0; i < RELAY_BATCH_MAX; i++)
		assert_int_equal(relay_batch_writer_add(&bw, NULL, 0), SOTTO_OK);
	assert_false(relay_batch_writer_fits(&bw, 0));
	assert_int_equal(relay_batch_writer_add(&bw, NULL, 0), SOTTO_ERR_TOO_LARGE);
	assert_null(relay_batch_writer_slot(&bw, &cap));
	assert_int_equal(cap, 0);
	assert_int_equal(relay_batch_writer_commit(&bw, 0), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(relay_batch_writer_finish(&bw, &len), SOTTO_OK);
	assert_int_equal(len, 1 + 2 * RELAY_BATCH_MAX);
	assert_int_equal(relay_batch_parse(&b, out, len), SOTTO_OK);
	assert_int_equal(b.n_tx, RELAY_BATCH_MAX);
}

static void relay_batch_writer__state__finish_empty(void **state)
{
	static uint8_t out[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer bw;
	size_t len = 99;

	(void)state;
	relay_batch_writer_init(&bw, out);
	assert_true(relay_batch_writer_is_empty(&bw));
	assert_int_equal(relay_batch_writer_finish(&bw, &len), SOTTO_ERR_STATE);
	assert_int_equal(len, 0);
}

static void relay_batch_writer__same_bytes__slot_commit_and_add(void **state)
{
	static uint8_t a[RELAY_BLOCK_CONTENT_MAX], b[RELAY_BLOCK_CONTENT_MAX];
	struct relay_batch_writer wa, wb;
	size_t cap = 0, len_a = 0, len_b = 0, tx_len = 0;
	uint8_t *slot;

	(void)state;
	fix_init(1);
	relay_batch_writer_init(&wa, a);
	relay_batch_writer_init(&wb, b);
	for (int i = 0; i < 3; i++) {
		slot = relay_batch_writer_slot(&wa, &cap);
		assert_non_null(slot);
		assert_int_equal(cap, relay_batch_writer_room(&wa));
		assert_int_equal(relay_resp_encode_simple(slot, cap, &tx_len, RELAY_RESP_OK,
		                                          (uint32_t)i, fx.entity),
		                 SOTTO_OK);
		assert_int_equal(relay_batch_writer_commit(&wa, tx_len), SOTTO_OK);
		assert_int_equal(relay_batch_writer_add(&wb, slot, tx_len), SOTTO_OK);
	}
	assert_false(relay_batch_writer_is_empty(&wa));
	assert_int_equal(relay_batch_writer_commit(&wa, RELAY_TX_MAX), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(relay_batch_writer_finish(&wa, &len_a), SOTTO_OK);
	assert_int_equal(relay_batch_writer_finish(&wb, &len_b), SOTTO_OK);
	assert_int_equal(len_a, 1 + 3 * (2 + RELAY_RESP_HEADER_LEN));
	assert_int_equal(len_a, len_b);
	assert_memory_equal(a, b, len_a);
	assert_int_equal(a[0], 3);
}

/* ---- Commands ---- */

static void assert_cmd_equal(const struct relay_cmd *got, const struct relay_cmd *want)
{
	assert_int_equal(got->code, want->code);
	assert_int_equal(got->corr, want->corr);
	assert_memory_equal(got->entity, want->entity, RELAY_ID_LEN);
	assert_memory_equal(got->key, want->key, RELAY_KEY_LEN);
	assert_memory_equal(got->msg_id, want->msg_id, RELAY_MSG_ID_LEN);
	assert_int_equal(got->flags, want->flags);
	assert_int_equal(got->body_len, want->body_len);
	if (want->body_len > 0)
		assert_memory_equal(got->body, want->body, want->body_len);
}

static void relay_cmd__round_trip__every_command(void **state)
{
	static const size_t send_lens[] = {0, 1, SAMPLE_BODY_LEN, RELAY_MSG_BODY_MAX};
	struct relay_cmd cmd, got;
	size_t i, k, len, n_lens;

	(void)state;
	fix_init(2);
	for (i = 0; i < sizeof(all_cmds); i++) {
		n_lens = all_cmds[i] == RELAY_CMD_SEND ? 4 : 1;
		for (k = 0; k < n_lens; k++) {
			sample_cmd(&cmd, all_cmds[i], send_lens[k]);
			len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
			assert_int_equal(cmd_parse_reencode(txbuf, len, &got), SOTTO_OK);
			assert_cmd_equal(&got, &cmd);
			if (is_anonymous(cmd.code)) {
				assert_true(sodium_is_zero(got.mac, RELAY_MAC_LEN));
				continue;
			}
			assert_memory_equal(got.mac, txbuf, RELAY_MAC_LEN);
			assert_int_equal(relay_cmd_verify(&got, fx.key, fx.session_id), SOTTO_OK);
		}
	}
	sample_cmd(&cmd, RELAY_CMD_SEND, RELAY_MSG_BODY_MAX);
	assert_int_equal(relay_cmd_len(&cmd), RELAY_CMD_MAX_LEN);
}

static void relay_cmd_parse__block__shorter_than_header(void **state)
{
	struct relay_cmd got;
	size_t len;

	(void)state;
	fix_init(3);
	memset(txbuf, 0x11, RELAY_CMD_HEADER_LEN);
	for (len = 0; len < RELAY_CMD_HEADER_LEN; len++) {
		assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
		assert_int_equal(got.err, RELAY_ERR_BLOCK);
		assert_int_equal(got.corr, 0);
		assert_null(got.covered);
	}
	assert_int_equal(relay_cmd_parse(&got, NULL, 0), SOTTO_ERR_PROTOCOL);
	assert_int_equal(got.err, RELAY_ERR_BLOCK);
}

static void relay_cmd_parse__cmd__unknown_code_keeps_corr(void **state)
{
	static const uint8_t unknown[] = {0, 11, 63, 64, 66, 255};
	struct relay_cmd cmd, got;
	size_t i, len;

	(void)state;
	fix_init(4);
	sample_cmd(&cmd, RELAY_CMD_SUB, 0);
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	for (i = 0; i < sizeof(unknown); i++) {
		txbuf[36] = unknown[i];
		assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
		assert_int_equal(got.err, RELAY_ERR_CMD);
		assert_int_equal(got.corr, CORR);
		assert_int_equal(got.code, unknown[i]);
		assert_memory_equal(got.entity, fx.entity, RELAY_ID_LEN);
	}
	cmd.code = 11;
	assert_int_equal(relay_cmd_len(&cmd), 0);
	assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, NULL, NULL),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(len, 0);
}

static void relay_cmd_parse__cmd__body_one_byte_short_or_long(void **state)
{
	struct relay_cmd cmd, got;
	size_t i, len;

	(void)state;
	fix_init(5);
	for (i = 0; i < sizeof(all_cmds); i++) {
		sample_cmd(&cmd, all_cmds[i], SAMPLE_BODY_LEN);
		len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
		txbuf[len] = 0;
		assert_int_equal(relay_cmd_parse(&got, txbuf, len + 1), SOTTO_ERR_PROTOCOL);
		assert_int_equal(got.err, RELAY_ERR_CMD);
		assert_int_equal(got.corr, CORR);
		if (len == RELAY_CMD_HEADER_LEN)
			continue;
		assert_int_equal(relay_cmd_parse(&got, txbuf, len - 1), SOTTO_ERR_PROTOCOL);
		assert_int_equal(got.err, RELAY_ERR_CMD);
		assert_int_equal(got.corr, CORR);
	}
}

static void relay_cmd_parse__large__send_body_over_max(void **state)
{
	struct relay_cmd cmd, got;
	size_t len = 0;

	(void)state;
	fix_init(6);
	sample_cmd(&cmd, RELAY_CMD_SEND, RELAY_MSG_BODY_MAX);
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	/* Declare one more byte and supply it: still fits a block. */
	txbuf[RELAY_CMD_HEADER_LEN + 1] = (uint8_t)((RELAY_MSG_BODY_MAX + 1) >> 8);
	txbuf[RELAY_CMD_HEADER_LEN + 2] = (uint8_t)(RELAY_MSG_BODY_MAX + 1);
	txbuf[len] = 0x5a;
	assert_int_equal(relay_cmd_parse(&got, txbuf, len + 1), SOTTO_ERR_PROTOCOL);
	assert_int_equal(got.err, RELAY_ERR_LARGE);
	assert_int_equal(got.corr, CORR);
	assert_int_equal(got.code, RELAY_CMD_SEND);
	assert_null(got.body);
	/* Declared too large and also truncated: still LARGE. */
	txbuf[RELAY_CMD_HEADER_LEN + 1] = 0xff;
	assert_int_equal(relay_cmd_parse(&got, txbuf, RELAY_SEND_OVERHEAD), SOTTO_ERR_PROTOCOL);
	assert_int_equal(got.err, RELAY_ERR_LARGE);
	/* The encoder refuses such a body. */
	cmd.body_len = RELAY_MSG_BODY_MAX + 1;
	assert_int_equal(relay_cmd_len(&cmd), 0);
	assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, NULL, NULL),
	                 SOTTO_ERR_TOO_LARGE);
}

static void relay_cmd_parse__cmd__send_flags_unknown_bits(void **state)
{
	struct relay_cmd cmd, got;
	size_t len = 0;

	(void)state;
	fix_init(7);
	sample_cmd(&cmd, RELAY_CMD_SEND, SAMPLE_BODY_LEN);
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	for (unsigned bit = 1; bit < 8; bit++) {
		txbuf[RELAY_CMD_HEADER_LEN] = (uint8_t)(1u << bit);
		assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
		assert_int_equal(got.err, RELAY_ERR_CMD);
		assert_int_equal(got.corr, CORR);
		cmd.flags = (uint8_t)(1u << bit);
		assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, NULL, NULL),
		                 SOTTO_ERR_INVALID);
		cmd.flags = 0;
		len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	}
	/* RESUME is known: it round-trips. */
	cmd.flags = RELAY_SEND_RESUME;
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	assert_int_equal(txbuf[RELAY_CMD_HEADER_LEN], RELAY_SEND_RESUME);
	assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_OK);
	assert_int_equal(got.flags, RELAY_SEND_RESUME);
}

static void relay_cmd_parse__cmd__entity_or_mac_on_new_or_ping(void **state)
{
	static const uint8_t codes[] = {RELAY_CMD_NEW, RELAY_CMD_PING};
	struct relay_cmd cmd, got;
	size_t i, len;

	(void)state;
	fix_init(8);
	for (i = 0; i < sizeof(codes); i++) {
		sample_cmd(&cmd, codes[i], 0);
		len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
		txbuf[RELAY_CMD_HEADER_LEN - 1] = 1; /* last entity byte */
		assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
		assert_int_equal(got.err, RELAY_ERR_CMD);
		txbuf[RELAY_CMD_HEADER_LEN - 1] = 0;
		txbuf[0] = 1; /* first MAC byte */
		assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
		assert_int_equal(got.err, RELAY_ERR_CMD);
		assert_int_equal(got.corr, CORR);
	}
}

static void relay_cmd_encode__invalid__bad_arguments(void **state)
{
	struct relay_cmd cmd;
	size_t len = 99;

	(void)state;
	fix_init(9);
	sample_cmd(&cmd, RELAY_CMD_NEW, 0);
	/* NEW takes no MAC, and no entity. */
	assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, fx.key, fx.session_id),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(len, 0);
	cmd.entity[0] = 1;
	assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, NULL, NULL),
	                 SOTTO_ERR_INVALID);
	/* A key without a session id. */
	sample_cmd(&cmd, RELAY_CMD_SUB, 0);
	assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, fx.key, NULL),
	                 SOTTO_ERR_INVALID);
	/* A body length without a body. */
	sample_cmd(&cmd, RELAY_CMD_SEND, 3);
	cmd.body = NULL;
	assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, NULL, NULL),
	                 SOTTO_ERR_INVALID);
}

static void relay_cmd_encode__too_large__every_short_buffer(void **state)
{
	struct relay_cmd cmd;
	size_t cap, len = 99, want;

	(void)state;
	fix_init(10);
	sample_cmd(&cmd, RELAY_CMD_SEND, SAMPLE_BODY_LEN);
	want = relay_cmd_len(&cmd);
	for (cap = 0; cap < want; cap++) {
		assert_int_equal(relay_cmd_encode(txbuf, cap, &len, &cmd, fx.key, fx.session_id),
		                 SOTTO_ERR_TOO_LARGE);
		assert_int_equal(len, 0);
	}
	assert_int_equal(relay_cmd_encode(txbuf, want, &len, &cmd, fx.key, fx.session_id),
	                 SOTTO_OK);
	assert_int_equal(len, want);
}

static void relay_cmd__protocol__every_truncation(void **state)
{
	struct relay_cmd cmd, got;
	size_t i, len, cut;

	(void)state;
	fix_init(11);
	for (i = 0; i < sizeof(all_cmds); i++) {
		sample_cmd(&cmd, all_cmds[i], SAMPLE_BODY_LEN);
		len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
		for (cut = 0; cut < len; cut++) {
			assert_int_equal(cmd_parse_reencode(txbuf, cut, &got), SOTTO_ERR_PROTOCOL);
			assert_int_equal(got.err, cut < RELAY_CMD_HEADER_LEN ? RELAY_ERR_BLOCK
			                                                     : RELAY_ERR_CMD);
		}
	}
}

static void relay_cmd__rejected_or_reencodes__every_bit_flip(void **state)
{
	struct relay_cmd cmd, got;
	size_t i, len, bit;
	int n_ok;

	(void)state;
	fix_init(12);
	for (i = 0; i < sizeof(all_cmds); i++) {
		sample_cmd(&cmd, all_cmds[i], SAMPLE_BODY_LEN);
		len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
		n_ok = 0;
		for (bit = 0; bit < len * 8; bit++) {
			txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			if (cmd_parse_reencode(txbuf, len, &got) == SOTTO_OK) {
				n_ok++;
				/*
				 * A flip the codec accepts is still caught by the MAC,
				 * except in a SEND's body, which it does not cover.
				 */
				bool in_body = got.code == RELAY_CMD_SEND &&
				               bit / 8 >= RELAY_SEND_OVERHEAD;
				if (!is_anonymous(got.code) && !in_body)
					assert_int_equal(
					        relay_cmd_verify(&got, fx.key, fx.session_id),
					        SOTTO_ERR_AUTH);
			}
			txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
		/* Flips inside the MAC, corr and key bytes do parse. */
		assert_true(n_ok > 0);
	}
}

/* ---- MACs and keys ---- */

static void relay_mac__matches_libsodium__keyed_blake2b_256(void **state)
{
	crypto_generichash_blake2b_state st;
	uint8_t want[RELAY_MAC_LEN], got[RELAY_MAC_LEN];
	struct relay_cmd cmd;
	size_t len;

	(void)state;
	fix_init(13);
	sample_cmd(&cmd, RELAY_CMD_SEND, 300);
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	crypto_generichash_blake2b_init(&st, fx.key, RELAY_KEY_LEN, RELAY_MAC_LEN);
	crypto_generichash_blake2b_update(&st, fx.session_id, RELAY_SESSION_ID_LEN);
	crypto_generichash_blake2b_update(&st, txbuf + 32, RELAY_SEND_COVERED_LEN);
	crypto_generichash_blake2b_final(&st, want, RELAY_MAC_LEN);
	assert_memory_equal(txbuf, want, RELAY_MAC_LEN); /* a SEND: up to its body length */
	crypto_generichash_blake2b_init(&st, fx.key, RELAY_KEY_LEN, RELAY_MAC_LEN);
	crypto_generichash_blake2b_update(&st, fx.session_id, RELAY_SESSION_ID_LEN);
	crypto_generichash_blake2b_update(&st, txbuf + 32, len - 32);
	crypto_generichash_blake2b_final(&st, want, RELAY_MAC_LEN);
	assert_int_equal(relay_mac(got, fx.key, fx.session_id, txbuf + 32, len - 32), SOTTO_OK);
	assert_memory_equal(got, want, RELAY_MAC_LEN);
	assert_int_equal(relay_mac(got, fx.key, fx.session_id, txbuf, RELAY_CMD_MAX_LEN - 32 + 1),
	                 SOTTO_ERR_TOO_LARGE);
	assert_true(sodium_is_zero(got, RELAY_MAC_LEN));
	assert_int_equal(
	        relay_mac_verify(want, fx.key, fx.session_id, txbuf, RELAY_CMD_MAX_LEN - 32 + 1),
	        SOTTO_ERR_AUTH);
}

static void relay_cmd_verify__auth__other_session_key_or_zero_mac(void **state)
{
	struct relay_cmd cmd, got;
	uint8_t other_key[RELAY_KEY_LEN];
	size_t len;

	(void)state;
	fix_init(14);
	sample_cmd(&cmd, RELAY_CMD_ACK, 0);
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_OK);
	assert_int_equal(relay_cmd_verify(&got, fx.key, fx.session_id), SOTTO_OK);
	assert_int_equal(relay_cmd_verify(&got, fx.key, fx.other_session_id), SOTTO_ERR_AUTH);
	memcpy(other_key, fx.key, sizeof(other_key));
	other_key[31] ^= 0x80;
	assert_int_equal(relay_cmd_verify(&got, other_key, fx.session_id), SOTTO_ERR_AUTH);
	/* Encoded without a key: a zero MAC, which never verifies. */
	assert_int_equal(relay_cmd_encode(txbuf, sizeof(txbuf), &len, &cmd, NULL, NULL), SOTTO_OK);
	assert_true(sodium_is_zero(txbuf, RELAY_MAC_LEN));
	assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_OK);
	assert_int_equal(relay_cmd_verify(&got, fx.key, fx.session_id), SOTTO_ERR_AUTH);
	/* A command that did not parse has nothing to verify. */
	assert_int_equal(relay_cmd_parse(&got, txbuf, 3), SOTTO_ERR_PROTOCOL);
	assert_int_equal(relay_cmd_verify(&got, fx.key, fx.session_id), SOTTO_ERR_AUTH);
}

static void relay_mac_verify__auth__every_covered_and_mac_bit_flip(void **state)
{
	struct relay_cmd cmd;
	size_t len, bit, i;

	(void)state;
	fix_init(15);
	sample_cmd(&cmd, RELAY_CMD_KEY, 0);
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	assert_int_equal(relay_mac_verify(txbuf, fx.key, fx.session_id, txbuf + 32, len - 32),
	                 SOTTO_OK);
	for (bit = 0; bit < len * 8; bit++) {
		txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(
		        relay_mac_verify(txbuf, fx.key, fx.session_id, txbuf + 32, len - 32),
		        SOTTO_ERR_AUTH);
		txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* Every bit of the session id is bound too. */
	for (i = 0; i < RELAY_SESSION_ID_LEN * 8; i++) {
		fx.session_id[i / 8] ^= (uint8_t)(1u << (i % 8));
		assert_int_equal(
		        relay_mac_verify(txbuf, fx.key, fx.session_id, txbuf + 32, len - 32),
		        SOTTO_ERR_AUTH);
		fx.session_id[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
}

static void relay_cmd_verify__send_mac__covers_length_not_body(void **state)
{
	struct relay_cmd cmd, got;
	size_t len, bit;

	(void)state;
	fix_init(17);
	sample_cmd(&cmd, RELAY_CMD_SEND, SAMPLE_BODY_LEN);
	len = encode_cmd(txbuf, sizeof(txbuf), &cmd);
	assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_OK);
	assert_int_equal(got.covered_len, RELAY_SEND_COVERED_LEN);
	assert_int_equal(relay_cmd_verify(&got, fx.key, fx.session_id), SOTTO_OK);
	/* The MAC is BLAKE2b-256(K, session_id || transmission[32..64)). */
	assert_int_equal(
	        relay_mac_verify(txbuf, fx.key, fx.session_id, txbuf + 32, RELAY_SEND_COVERED_LEN),
	        SOTTO_OK);
	/* Every bit up to and including the body length is covered... */
	for (bit = 0; bit < RELAY_SEND_OVERHEAD * 8; bit++) {
		txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		if (relay_cmd_parse(&got, txbuf, len) == SOTTO_OK)
			assert_int_equal(relay_cmd_verify(&got, fx.key, fx.session_id),
			                 SOTTO_ERR_AUTH);
		txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	/* ...the body is not: the transport's AEAD is what protects it. */
	txbuf[RELAY_SEND_OVERHEAD] ^= 1;
	assert_int_equal(relay_cmd_parse(&got, txbuf, len), SOTTO_OK);
	assert_int_equal(relay_cmd_verify(&got, fx.key, fx.session_id), SOTTO_OK);
}

/* BLAKE2b-256(key, len(label) || label), computed with libsodium directly. */
static void independent_kdf(uint8_t out[32], const uint8_t key[32], const char *label)
{
	crypto_generichash_blake2b_state st;
	uint8_t n = (uint8_t)strlen(label);

	crypto_generichash_blake2b_init(&st, key, 32, 32);
	crypto_generichash_blake2b_update(&st, &n, 1);
	crypto_generichash_blake2b_update(&st, (const uint8_t *)label, n);
	crypto_generichash_blake2b_final(&st, out, 32);
}

static void relay_derive__matches_libsodium__spec_labels(void **state)
{
	uint8_t s[32], a[32], b[32], want[32];

	(void)state;
	fix_init(16);
	tu_rng_fill(&fx.rng, s, sizeof(s));
	assert_int_equal(relay_derive_recipient(a, b, s), SOTTO_OK);
	independent_kdf(want, s, "sotto/relay/recipient-auth/v1");
	assert_memory_equal(a, want, 32);
	independent_kdf(want, s, "sotto/relay/deliver/v1");
	assert_memory_equal(b, want, 32);
	assert_int_equal(relay_derive_sender(a, s), SOTTO_OK);
	independent_kdf(want, s, "sotto/relay/sender-auth/v1");
	assert_memory_equal(a, want, 32);
}

static void relay_keys__equal__relay_and_client_sides(void **state)
{
	struct x25519_keypair relay_kp, client_kp;
	uint8_t priv[32], r1[32], d1[32], r2[32], d2[32], s1[32], s2[32];
	uint8_t zero_pub[32] = {0};

	(void)state;
	fix_init(17);
	tu_rng_fill(&fx.rng, priv, sizeof(priv));
	assert_int_equal(x25519_keypair_from_private(priv, &relay_kp), SOTTO_OK);
	tu_rng_fill(&fx.rng, priv, sizeof(priv));
	assert_int_equal(x25519_keypair_from_private(priv, &client_kp), SOTTO_OK);
	assert_int_equal(relay_keys_recipient(r1, d1, relay_kp.priv, client_kp.pub), SOTTO_OK);
	assert_int_equal(relay_keys_recipient(r2, d2, client_kp.priv, relay_kp.pub), SOTTO_OK);
	assert_memory_equal(r1, r2, 32);
	assert_memory_equal(d1, d2, 32);
	assert_memory_not_equal(r1, d1, 32);
	assert_int_equal(relay_keys_sender(s1, relay_kp.priv, client_kp.pub), SOTTO_OK);
	assert_int_equal(relay_keys_sender(s2, client_kp.priv, relay_kp.pub), SOTTO_OK);
	assert_memory_equal(s1, s2, 32);
	assert_memory_not_equal(s1, r1, 32);
	/* A low-order peer key. */
	assert_int_equal(relay_keys_recipient(r1, d1, relay_kp.priv, zero_pub), SOTTO_ERR_WEAK_KEY);
	assert_true(sodium_is_zero(r1, 32) && sodium_is_zero(d1, 32));
	assert_int_equal(relay_keys_sender(s1, relay_kp.priv, zero_pub), SOTTO_ERR_WEAK_KEY);
	assert_true(sodium_is_zero(s1, 32));
	x25519_keypair_clear(&relay_kp);
	x25519_keypair_clear(&client_kp);
}

/* ---- Responses ---- */

/* One encoded sample of each response code into txbuf; returns its length. */
static size_t sample_resp(uint8_t code, struct relay_resp *want)
{
	uint8_t ids[4][32];
	struct relay_msg msg = {1234567890123ULL, 0, fx.body, SAMPLE_BODY_LEN};
	size_t len = 0;
	sotto_err rc;

	memset(want, 0, sizeof(*want));
	tu_rng_fill(&fx.rng, (uint8_t *)ids, sizeof(ids));
	switch (code) {
	case RELAY_RESP_IDS:
		rc = relay_resp_encode_ids(txbuf, sizeof(txbuf), &len, CORR, ids[0], ids[1], ids[2],
		                           ids[3]);
		break;
	case RELAY_RESP_ERR:
		rc = relay_resp_encode_err(txbuf, sizeof(txbuf), &len, CORR, fx.entity,
		                           RELAY_ERR_QUOTA);
		break;
	case RELAY_RESP_MSG:
		rc = relay_resp_encode_msg(txbuf, sizeof(txbuf), &len, CORR, fx.entity, ids[0],
		                           fx.key, &msg);
		break;
	case RELAY_RESP_END:
		rc = relay_resp_encode_simple(txbuf, sizeof(txbuf), &len, code, 0, fx.entity);
		break;
	case RELAY_RESP_PONG:
		rc = relay_resp_encode_simple(txbuf, sizeof(txbuf), &len, code, CORR, NULL);
		break;
	default:
		rc = relay_resp_encode_simple(txbuf, sizeof(txbuf), &len, code, CORR, fx.entity);
		break;
	}
	assert_int_equal(rc, SOTTO_OK);
	want->code = code;
	want->corr = code == RELAY_RESP_END ? 0 : CORR;
	if (code != RELAY_RESP_IDS && code != RELAY_RESP_PONG)
		memcpy(want->entity, fx.entity, RELAY_ID_LEN);
	memcpy(want->rid, ids[0], RELAY_ID_LEN);
	memcpy(want->sid, ids[1], RELAY_ID_LEN);
	memcpy(want->srk, ids[2], RELAY_KEY_LEN);
	memcpy(want->ssk, ids[3], RELAY_KEY_LEN);
	memcpy(want->msg_id, ids[0], RELAY_MSG_ID_LEN);
	want->err = RELAY_ERR_QUOTA;
	return len;
}

static const uint8_t all_resps[] = {
        RELAY_RESP_IDS, RELAY_RESP_OK,  RELAY_RESP_MSG,  RELAY_RESP_NONE,
        RELAY_RESP_END, RELAY_RESP_ERR, RELAY_RESP_PONG,
};

static void relay_resp__round_trip__every_response(void **state)
{
	struct relay_resp want, got;
	size_t i, len;

	(void)state;
	fix_init(18);
	for (i = 0; i < sizeof(all_resps); i++) {
		len = sample_resp(all_resps[i], &want);
		assert_int_equal(resp_parse_reencode(txbuf, len, &got), SOTTO_OK);
		assert_int_equal(got.code, want.code);
		assert_int_equal(got.corr, want.corr);
		assert_memory_equal(got.entity, want.entity, RELAY_ID_LEN);
		if (got.code == RELAY_RESP_IDS) {
			assert_int_equal(len, RELAY_RESP_HEADER_LEN + RELAY_IDS_BODY_LEN);
			assert_memory_equal(got.rid, want.rid, RELAY_ID_LEN);
			assert_memory_equal(got.sid, want.sid, RELAY_ID_LEN);
			assert_memory_equal(got.srk, want.srk, RELAY_KEY_LEN);
			assert_memory_equal(got.ssk, want.ssk, RELAY_KEY_LEN);
		} else if (got.code == RELAY_RESP_ERR) {
			assert_int_equal(got.err, RELAY_ERR_QUOTA);
		} else if (got.code == RELAY_RESP_MSG) {
			assert_int_equal(len, relay_resp_msg_len(SAMPLE_BODY_LEN));
			assert_memory_equal(got.msg_id, want.msg_id, RELAY_MSG_ID_LEN);
		} else {
			assert_int_equal(len, RELAY_RESP_HEADER_LEN);
		}
	}
}

static void relay_resp_parse__protocol__malformed_fields(void **state)
{
	struct relay_resp want, got;
	size_t len;

	(void)state;
	fix_init(19);
	len = sample_resp(RELAY_RESP_OK, &want);
	txbuf[4] = 71; /* unknown code */
	assert_int_equal(relay_resp_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
	txbuf[4] = 1; /* a command code */
	assert_int_equal(relay_resp_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
	len = sample_resp(RELAY_RESP_ERR, &want);
	txbuf[len - 1] = 0;
	assert_int_equal(relay_resp_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
	txbuf[len - 1] = RELAY_ERR_RATE + 1;
	assert_int_equal(relay_resp_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
	len = sample_resp(RELAY_RESP_END, &want);
	txbuf[3] = 1; /* END is only ever pushed */
	assert_int_equal(relay_resp_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
	len = sample_resp(RELAY_RESP_PONG, &want);
	txbuf[5] = 1; /* PONG concerns no entity */
	assert_int_equal(relay_resp_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
	len = sample_resp(RELAY_RESP_IDS, &want);
	txbuf[28] = 1; /* nor does IDS: the ids are in the body */
	assert_int_equal(relay_resp_parse(&got, txbuf, len), SOTTO_ERR_PROTOCOL);
	/* MSG ciphertext shorter than an empty body's, and longer than a maximal one's. */
	len = sample_resp(RELAY_RESP_MSG, &want);
	assert_int_equal(relay_resp_parse(&got, txbuf, RELAY_MSG_OVERHEAD - 1), SOTTO_ERR_PROTOCOL);
	assert_int_equal(relay_resp_parse(&got, txbuf, RELAY_MSG_OVERHEAD), SOTTO_OK);
	assert_int_equal(relay_resp_parse(&got, txbuf, RELAY_RESP_MAX_LEN + 1), SOTTO_ERR_PROTOCOL);
	assert_int_equal(relay_resp_parse(&got, txbuf, RELAY_RESP_MAX_LEN), SOTTO_OK);
}

static void relay_resp_encode__invalid__what_the_parser_rejects(void **state)
{
	struct relay_resp resp;
	size_t len = 99;

	(void)state;
	fix_init(20);
	assert_int_equal(
	        relay_resp_encode_simple(txbuf, sizeof(txbuf), &len, RELAY_RESP_IDS, CORR, NULL),
	        SOTTO_ERR_INVALID);
	assert_int_equal(len, 0);
	assert_int_equal(
	        relay_resp_encode_simple(txbuf, sizeof(txbuf), &len, RELAY_RESP_END, 1, NULL),
	        SOTTO_ERR_INVALID);
	assert_int_equal(
	        relay_resp_encode_simple(txbuf, sizeof(txbuf), &len, RELAY_RESP_PONG, 1, fx.entity),
	        SOTTO_ERR_INVALID);
	assert_int_equal(relay_resp_encode_err(txbuf, sizeof(txbuf), &len, 1, NULL, RELAY_ERR_NONE),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(relay_resp_encode_err(txbuf, sizeof(txbuf), &len, 1, NULL,
	                                       (enum relay_err)(RELAY_ERR_RATE + 1)),
	                 SOTTO_ERR_INVALID);
	memset(&resp, 0, sizeof(resp));
	resp.code = RELAY_RESP_MSG; /* no ciphertext */
	assert_int_equal(relay_resp_len(&resp), 0);
	assert_int_equal(relay_resp_encode(txbuf, sizeof(txbuf), &len, &resp), SOTTO_ERR_INVALID);
	resp.code = 0;
	assert_int_equal(relay_resp_encode(txbuf, sizeof(txbuf), &len, &resp), SOTTO_ERR_INVALID);
	assert_int_equal(relay_resp_encode_simple(txbuf, RELAY_RESP_HEADER_LEN - 1, &len,
	                                          RELAY_RESP_OK, 1, NULL),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
}

static void relay_resp__rejected_or_reencodes__every_truncation_and_bit_flip(void **state)
{
	struct relay_resp want, got;
	struct relay_msg msg;
	size_t i, len, cut, bit;

	(void)state;
	fix_init(21);
	for (i = 0; i < sizeof(all_resps); i++) {
		len = sample_resp(all_resps[i], &want);
		for (cut = 0; cut < len; cut++) {
			/* Only a MSG can lose bytes and parse: its ciphertext then fails. */
			if (resp_parse_reencode(txbuf, cut, &got) == SOTTO_OK) {
				assert_int_equal(want.code, RELAY_RESP_MSG);
				assert_int_equal(relay_msg_open(&msg, plain, &got, fx.key),
				                 SOTTO_ERR_AUTH);
			}
		}
		for (bit = 0; bit < len * 8; bit++) {
			txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			(void)resp_parse_reencode(txbuf, len, &got);
			txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		}
	}
}

/* ---- MSG delivery ---- */

static void relay_msg__round_trip__matches_libsodium(void **state)
{
	static const size_t lens[] = {0, 1, 1000, RELAY_MSG_BODY_MAX};
	uint8_t msg_id[RELAY_MSG_ID_LEN];
	struct relay_msg msg = {0}, got;
	struct relay_resp resp;
	unsigned long long plain_len = 0;
	size_t i, len = 0;

	(void)state;
	fix_init(22);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tu_rng_fill(&fx.rng, msg_id, sizeof(msg_id));
		msg.timestamp = 0x0102030405060708ULL + i;
		msg.body = fx.body;
		msg.body_len = lens[i];
		assert_int_equal(relay_resp_encode_msg(txbuf, sizeof(txbuf), &len, 0, fx.entity,
		                                       msg_id, fx.key, &msg),
		                 SOTTO_OK);
		assert_int_equal(len, relay_resp_msg_len(lens[i]));
		assert_int_equal(relay_resp_parse(&resp, txbuf, len), SOTTO_OK);
		assert_int_equal(resp.corr, 0);
		assert_memory_equal(resp.msg_id, msg_id, RELAY_MSG_ID_LEN);
		assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_OK);
		assert_int_equal(got.timestamp, msg.timestamp);
		assert_int_equal(got.flags, 0);
		assert_int_equal(got.body_len, lens[i]);
		assert_ptr_equal(got.body, plain + RELAY_DELIVERY_PLAIN_MIN);
		assert_memory_equal(got.body, fx.body, lens[i]);
		/* libsodium agrees: nonce = msg_id, ad = RID. */
		assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt(
		                         txbuf2, &plain_len, NULL, resp.sealed, resp.sealed_len,
		                         fx.entity, RELAY_ID_LEN, msg_id, fx.key),
		                 0);
		assert_int_equal(plain_len, RELAY_DELIVERY_PLAIN_MIN + lens[i]);
		assert_int_equal(txbuf2[0], 0x01);
		assert_int_equal(txbuf2[7], (uint8_t)(0x08 + i));
	}
}

static void relay_msg_open__auth__every_bit_flip_and_wrong_key(void **state)
{
	uint8_t msg_id[RELAY_MSG_ID_LEN], other_key[RELAY_KEY_LEN];
	struct relay_msg msg = {42, 0, NULL, SAMPLE_BODY_LEN}, got;
	struct relay_resp resp;
	size_t len = 0, bit;

	(void)state;
	fix_init(23);
	msg.body = fx.body;
	tu_rng_fill(&fx.rng, msg_id, sizeof(msg_id));
	assert_int_equal(relay_resp_encode_msg(txbuf, sizeof(txbuf), &len, CORR, fx.entity, msg_id,
	                                       fx.key, &msg),
	                 SOTTO_OK);
	/* Every bit of entity (the AD), msg_id (the nonce), ciphertext and tag. */
	for (bit = 5 * 8; bit < len * 8; bit++) {
		txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(relay_resp_parse(&resp, txbuf, len), SOTTO_OK);
		assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_ERR_AUTH);
		assert_null(got.body);
		assert_true(sodium_is_zero(plain, sizeof(plain)));
		txbuf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(relay_resp_parse(&resp, txbuf, len), SOTTO_OK);
	memcpy(other_key, fx.key, sizeof(other_key));
	other_key[0] ^= 1;
	assert_int_equal(relay_msg_open(&got, plain, &resp, other_key), SOTTO_ERR_AUTH);
	assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_OK);
	/* Not a MSG. */
	resp.code = RELAY_RESP_OK;
	assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_ERR_INVALID);
}

/* Seals plaintext p directly with libsodium into a MSG transmission in txbuf. */
static size_t seal_raw(const uint8_t *p, size_t p_len, const uint8_t msg_id[24])
{
	unsigned long long ct_len = 0;

	memset(txbuf, 0, RELAY_RESP_HEADER_LEN);
	txbuf[4] = RELAY_RESP_MSG;
	memcpy(txbuf + 5, fx.entity, RELAY_ID_LEN);
	memcpy(txbuf + RELAY_RESP_HEADER_LEN, msg_id, RELAY_MSG_ID_LEN);
	crypto_aead_xchacha20poly1305_ietf_encrypt(txbuf + RELAY_RESP_HEADER_LEN + RELAY_MSG_ID_LEN,
	                                           &ct_len, p, p_len, fx.entity, RELAY_ID_LEN, NULL,
	                                           msg_id, fx.key);
	return RELAY_RESP_HEADER_LEN + RELAY_MSG_ID_LEN + (size_t)ct_len;
}

static void relay_msg_open__protocol__authentic_malformed_plaintext(void **state)
{
	uint8_t msg_id[RELAY_MSG_ID_LEN] = {7};
	uint8_t p[RELAY_DELIVERY_PLAIN_MIN + 4] = {0};
	struct relay_resp resp;
	struct relay_msg got;
	size_t len;

	(void)state;
	fix_init(24);
	/* Well formed first: an empty body. */
	len = seal_raw(p, RELAY_DELIVERY_PLAIN_MIN, msg_id);
	assert_int_equal(relay_resp_parse(&resp, txbuf, len), SOTTO_OK);
	assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_OK);
	/* Non-zero flags. */
	p[8] = 1;
	len = seal_raw(p, RELAY_DELIVERY_PLAIN_MIN, msg_id);
	assert_int_equal(relay_resp_parse(&resp, txbuf, len), SOTTO_OK);
	assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_ERR_PROTOCOL);
	assert_true(sodium_is_zero(plain, sizeof(plain)));
	/* Trailing bytes after the body. */
	p[8] = 0;
	len = seal_raw(p, sizeof(p), msg_id);
	assert_int_equal(relay_resp_parse(&resp, txbuf, len), SOTTO_OK);
	assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_ERR_PROTOCOL);
	/* A body length past the end. */
	p[10] = 5;
	len = seal_raw(p, sizeof(p), msg_id);
	assert_int_equal(relay_resp_parse(&resp, txbuf, len), SOTTO_OK);
	assert_int_equal(relay_msg_open(&got, plain, &resp, fx.key), SOTTO_ERR_PROTOCOL);
	assert_null(got.body);
}

/* True if a and b share any run of SUBSTRING_LEN bytes. */
static int share_substring(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	size_t i, j;

	for (i = 0; i + SUBSTRING_LEN <= a_len; i++)
		for (j = 0; j + SUBSTRING_LEN <= b_len; j++)
			if (a[i] == b[j] && memcmp(a + i, b + j, SUBSTRING_LEN) == 0)
				return 1;
	return 0;
}

static void relay_msg__disjoint__upload_and_delivery_share_no_16_bytes(void **state)
{
	uint8_t msg_id[RELAY_MSG_ID_LEN], k_deliver[RELAY_KEY_LEN], rid[RELAY_ID_LEN];
	struct relay_cmd send, got;
	struct relay_msg msg = {0};
	size_t send_len, msg_len = 0;

	(void)state;
	fix_init(25);
	sample_cmd(&send, RELAY_CMD_SEND, DISJOINT_BODY_LEN);
	send_len = encode_cmd(txbuf, sizeof(txbuf), &send);
	assert_int_equal(relay_cmd_parse(&got, txbuf, send_len), SOTTO_OK);
	/* The relay re-encrypts what it stored under the recipient's key. */
	tu_rng_fill(&fx.rng, msg_id, sizeof(msg_id));
	tu_rng_fill(&fx.rng, k_deliver, sizeof(k_deliver));
	tu_rng_fill(&fx.rng, rid, sizeof(rid));
	msg.timestamp = 1700000000000ULL;
	msg.body = got.body;
	msg.body_len = got.body_len;
	assert_int_equal(relay_resp_encode_msg(txbuf2, sizeof(txbuf2), &msg_len, 0, rid, msg_id,
	                                       k_deliver, &msg),
	                 SOTTO_OK);
	assert_false(share_substring(txbuf, send_len, txbuf2, msg_len));
	/* Sanity of the check itself: the SEND holds its body verbatim. */
	assert_true(share_substring(txbuf, send_len, fx.body, DISJOINT_BODY_LEN));
}

static void relay_resp_encode_msg__too_large__body_or_cap(void **state)
{
	uint8_t msg_id[RELAY_MSG_ID_LEN] = {0};
	struct relay_msg msg = {0, 0, NULL, RELAY_MSG_BODY_MAX + 1};
	size_t len = 99;

	(void)state;
	fix_init(26);
	msg.body = fx.body;
	assert_int_equal(relay_resp_msg_len(RELAY_MSG_BODY_MAX + 1), 0);
	assert_int_equal(relay_resp_encode_msg(txbuf, sizeof(txbuf), &len, 0, fx.entity, msg_id,
	                                       fx.key, &msg),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	msg.body_len = RELAY_MSG_BODY_MAX;
	assert_int_equal(relay_resp_encode_msg(txbuf, RELAY_RESP_MAX_LEN - 1, &len, 0, fx.entity,
	                                       msg_id, fx.key, &msg),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(relay_resp_encode_msg(txbuf, RELAY_RESP_MAX_LEN, &len, 0, fx.entity,
	                                       msg_id, fx.key, &msg),
	                 SOTTO_OK);
	assert_int_equal(len, RELAY_RESP_MAX_LEN);
	msg.flags = 1;
	assert_int_equal(relay_resp_encode_msg(txbuf, sizeof(txbuf), &len, 0, fx.entity, msg_id,
	                                       fx.key, &msg),
	                 SOTTO_ERR_INVALID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(relay_batch_parse__ok__one_to_32_transmissions),
	        cmocka_unit_test(relay_batch_parse__protocol__zero_or_33_transmissions),
	        cmocka_unit_test(relay_batch_parse__protocol__empty_or_oversized_content),
	        cmocka_unit_test(relay_batch_parse__protocol__lp16_overruns),
	        cmocka_unit_test(relay_batch_parse__protocol__trailing_bytes),
	        cmocka_unit_test(relay_batch__ok__maximal_batch_fills_16382_bytes),
	        cmocka_unit_test(relay_batch_writer__too_large__33rd_transmission),
	        cmocka_unit_test(relay_batch_writer__state__finish_empty),
	        cmocka_unit_test(relay_batch_writer__same_bytes__slot_commit_and_add),
	        cmocka_unit_test(relay_cmd__round_trip__every_command),
	        cmocka_unit_test(relay_cmd_parse__block__shorter_than_header),
	        cmocka_unit_test(relay_cmd_parse__cmd__unknown_code_keeps_corr),
	        cmocka_unit_test(relay_cmd_parse__cmd__body_one_byte_short_or_long),
	        cmocka_unit_test(relay_cmd_parse__large__send_body_over_max),
	        cmocka_unit_test(relay_cmd_parse__cmd__send_flags_unknown_bits),
	        cmocka_unit_test(relay_cmd_parse__cmd__entity_or_mac_on_new_or_ping),
	        cmocka_unit_test(relay_cmd_encode__invalid__bad_arguments),
	        cmocka_unit_test(relay_cmd_encode__too_large__every_short_buffer),
	        cmocka_unit_test(relay_cmd__protocol__every_truncation),
	        cmocka_unit_test(relay_cmd__rejected_or_reencodes__every_bit_flip),
	        cmocka_unit_test(relay_mac__matches_libsodium__keyed_blake2b_256),
	        cmocka_unit_test(relay_cmd_verify__auth__other_session_key_or_zero_mac),
	        cmocka_unit_test(relay_mac_verify__auth__every_covered_and_mac_bit_flip),
	        cmocka_unit_test(relay_cmd_verify__send_mac__covers_length_not_body),
	        cmocka_unit_test(relay_derive__matches_libsodium__spec_labels),
	        cmocka_unit_test(relay_keys__equal__relay_and_client_sides),
	        cmocka_unit_test(relay_resp__round_trip__every_response),
	        cmocka_unit_test(relay_resp_parse__protocol__malformed_fields),
	        cmocka_unit_test(relay_resp_encode__invalid__what_the_parser_rejects),
	        cmocka_unit_test(relay_resp__rejected_or_reencodes__every_truncation_and_bit_flip),
	        cmocka_unit_test(relay_msg__round_trip__matches_libsodium),
	        cmocka_unit_test(relay_msg_open__auth__every_bit_flip_and_wrong_key),
	        cmocka_unit_test(relay_msg_open__protocol__authentic_malformed_plaintext),
	        cmocka_unit_test(relay_msg__disjoint__upload_and_delivery_share_no_16_bytes),
	        cmocka_unit_test(relay_resp_encode_msg__too_large__body_or_cap),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
