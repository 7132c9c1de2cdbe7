/* SPDX-License-Identifier: MIT */
/*
 * envelope_fuzz.c - fuzz target for client_envelope_parse() and client_envelope_unpad()
 * (docs/protocol.md §5.4).
 *
 * Input: any bytes, parsed as one envelope. A failure must leave the
 * out-parameter all zero. A success must encode back to exactly the input,
 * parse again to the same value, and satisfy the kind's rules as the
 * validators see them (a TEXT passes client_text_is_valid and points into
 * the input; a name passes client_name_is_valid and is NUL-terminated; a
 * RECEIPT holds 1..64 IDs). Anything else abort()s.
 *
 * Seeds in fuzz/corpus/envelope/: one valid envelope of each kind, the
 * longest TEXT and RECEIPT, names of 64 bytes ending in multi-byte
 * characters, and near-valid variants (unknown kind, receipt counts 0 and
 * 65, a control character in a name, overlong and surrogate UTF-8 in a
 * TEXT, a queue address with a low-order ssk, trailing bytes).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client/envelope.h"
#include "proto/limits.h"
#include "relay/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_kind(const struct client_envelope *e, const uint8_t *data, size_t size)
{
	switch (e->kind) {
	case CLIENT_ENVELOPE_TEXT:
		if (!client_text_is_valid(e->text, e->text_len) ||
		    e->text != data + CLIENT_ENVELOPE_HEADER_LEN ||
		    e->text_len != size - CLIENT_ENVELOPE_HEADER_LEN)
			abort();
		break;
	case CLIENT_ENVELOPE_CONNECT:
	case CLIENT_ENVELOPE_CONNECTED:
	case CLIENT_ENVELOPE_NAME:
		if (!client_name_is_valid((const uint8_t *)e->name, e->name_len) ||
		    e->name[e->name_len] != '\0')
			abort();
		break;
	case CLIENT_ENVELOPE_RECEIPT:
		if (e->n_receipts < 1 || e->n_receipts > CLIENT_RECEIPTS_MAX)
			abort();
		break;
	case CLIENT_ENVELOPE_LEAVE:
		if (size != CLIENT_ENVELOPE_HEADER_LEN)
			abort();
		break;
	default: abort();
	}
}

/* The padding (§5.4): what unpad accepts, pad makes again byte for byte. */
static void check_padding(const uint8_t *data, size_t size)
{
	static uint8_t again[RELAY_MSG_BODY_MAX];
	size_t env_len = 0;

	if (client_envelope_unpad(data, size, &env_len) != SOTTO_OK) {
		if (env_len != 0)
			abort();
		return;
	}
	if (env_len >= size || data[env_len] != 0x80 ||
	    !sodium_is_zero((const unsigned char *)data + env_len + 1, size - env_len - 1))
		abort();
	if (size > sizeof(again))
		return;
	memcpy(again, data, env_len);
	if (client_envelope_pad(again, env_len, size) != SOTTO_OK || memcmp(again, data, size) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[CLIENT_ENVELOPE_MAX];
	struct client_envelope e, again;
	size_t out_len = 0;

	check_padding(data, size);
	if (client_envelope_parse(data, size, &e) != SOTTO_OK) {
		if (!sodium_is_zero((const unsigned char *)&e, sizeof(e)))
			abort();
		return 0;
	}
	check_kind(&e, data, size);
	if (client_envelope_encode(&e, out, sizeof(out), &out_len) != SOTTO_OK)
		abort();
	if (out_len != size || memcmp(out, data, size) != 0)
		abort();
	if (client_envelope_parse(out, out_len, &again) != SOTTO_OK || again.text_len != e.text_len)
		abort();
	again.text = e.text; /* points into out, not data: compare the rest */
	if (memcmp(&again, &e, sizeof(e)) != 0)
		abort();
	return 0;
}
