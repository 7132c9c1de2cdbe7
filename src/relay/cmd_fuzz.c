/* SPDX-License-Identifier: MIT */
/*
 * cmd_fuzz.c - libFuzzer target for the relay protocol codec (test code, not
 * in libsotto).
 *
 * The input is one block's content. If it parses as a batch, the batch
 * writer must rebuild exactly the input; otherwise the failure must be
 * SOTTO_ERR_PROTOCOL with nothing returned. Every transmission of the batch,
 * and the whole input taken as a single transmission, is then parsed both as
 * a command and as a response:
 *   - a command that parses re-encodes to exactly its bytes; one that does
 *     not still reports its corr whenever the 61-byte header was there, and
 *     the answer code matches the kind of fault;
 *   - a response that parses re-encodes to exactly its bytes; a MSG never
 *     opens under a key the input cannot know;
 *   - a SEND that parses is delivered as a MSG and opens to the same body.
 * A violated invariant calls abort(), which is how a fuzz target reports.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/bytes.h"
#include "relay/cmd.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

/* Static: the buffers are large and the target runs single-threaded. */
static uint8_t out[RELAY_BLOCK_CONTENT_MAX];
static uint8_t plain[RELAY_DELIVERY_PLAIN_MAX];

static const uint8_t fuzz_key[RELAY_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t fuzz_id[RELAY_ID_LEN] = {0xee, 0xdd};

static void check_send_delivery(const struct relay_cmd *cmd)
{
	struct relay_msg msg = {0x1122334455667788ULL, 0, cmd->body, cmd->body_len};
	struct relay_msg got;
	struct relay_resp resp;
	size_t len = 0;

	CHECK(relay_resp_encode_msg(out, sizeof(out), &len, 0, fuzz_id, fuzz_id, fuzz_key, &msg) ==
	      SOTTO_OK);
	CHECK(len == relay_resp_msg_len(cmd->body_len));
	CHECK(relay_resp_parse(&resp, out, len) == SOTTO_OK);
	CHECK(relay_msg_open(&got, plain, &resp, fuzz_key) == SOTTO_OK);
	CHECK(got.timestamp == msg.timestamp && got.body_len == cmd->body_len);
	CHECK(got.body_len == 0 || memcmp(got.body, cmd->body, got.body_len) == 0);
}

static void check_cmd(const uint8_t *tx, size_t tx_len)
{
	struct relay_cmd cmd;
	size_t len = 0;
	sotto_err rc = relay_cmd_parse(&cmd, tx, tx_len);

	if (rc != SOTTO_OK) {
		CHECK(rc == SOTTO_ERR_PROTOCOL && cmd.body == NULL);
		if (tx_len < RELAY_CMD_HEADER_LEN) {
			CHECK(cmd.err == RELAY_ERR_BLOCK && cmd.corr == 0);
			return;
		}
		CHECK(cmd.err == RELAY_ERR_CMD ||
		      (cmd.err == RELAY_ERR_LARGE && cmd.code == RELAY_CMD_SEND));
		CHECK(cmd.corr == bytes_load_be32(tx + RELAY_MAC_LEN));
		return;
	}
	CHECK(cmd.err == RELAY_ERR_NONE && relay_cmd_len(&cmd) == tx_len);
	CHECK(cmd.covered == tx + RELAY_CMD_MAC_OFFSET);
	CHECK(relay_cmd_encode(out, sizeof(out), &len, &cmd, NULL, NULL) == SOTTO_OK);
	CHECK(len == tx_len && memcmp(out, tx, len) == 0);
	if (cmd.code == RELAY_CMD_SEND)
		check_send_delivery(&cmd);
}

static void check_resp(const uint8_t *tx, size_t tx_len)
{
	struct relay_resp resp;
	struct relay_msg msg;
	size_t len = 0;
	sotto_err rc = relay_resp_parse(&resp, tx, tx_len);

	if (rc != SOTTO_OK) {
		CHECK(rc == SOTTO_ERR_PROTOCOL && resp.code == 0);
		return;
	}
	CHECK(relay_resp_len(&resp) == tx_len);
	CHECK(relay_resp_encode(out, sizeof(out), &len, &resp) == SOTTO_OK);
	CHECK(len == tx_len && memcmp(out, tx, len) == 0);
	if (resp.code == RELAY_RESP_MSG) {
		CHECK(relay_msg_open(&msg, plain, &resp, fuzz_key) == SOTTO_ERR_AUTH);
		CHECK(msg.body == NULL);
	}
}

static void check_batch(const uint8_t *data, size_t size)
{
	struct relay_batch b;
	struct relay_batch_writer bw;
	size_t i, len = 0;
	sotto_err rc = relay_batch_parse(&b, data, size);

	if (rc != SOTTO_OK) {
		CHECK(rc == SOTTO_ERR_PROTOCOL && b.n_tx == 0);
		return;
	}
	CHECK(b.n_tx >= 1 && b.n_tx <= RELAY_BATCH_MAX);
	relay_batch_writer_init(&bw, out);
	for (i = 0; i < b.n_tx; i++)
		CHECK(relay_batch_writer_add(&bw, b.tx[i].buf, b.tx[i].len) == SOTTO_OK);
	CHECK(relay_batch_writer_finish(&bw, &len) == SOTTO_OK);
	CHECK(len == size && memcmp(out, data, size) == 0);
	for (i = 0; i < b.n_tx; i++) {
		check_cmd(b.tx[i].buf, b.tx[i].len);
		check_resp(b.tx[i].buf, b.tx[i].len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_batch(data, size);
	if (size <= RELAY_TX_MAX) {
		check_cmd(data, size);
		check_resp(data, size);
	}
	return 0;
}
