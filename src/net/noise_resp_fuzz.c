/* SPDX-License-Identifier: MIT */
/*
 * noise_resp_fuzz.c - fuzz target for the relay side of Noise NK: a
 * responder with a fixed static key reads the input as msg1 (-> e, es) and,
 * if it is accepted, writes msg2 echoing the payload and splits.
 *
 * The RNG is fixed, so every run is reproducible. The seed corpus
 * (fuzz/corpus/noise_resp/) holds msg1s written by a real initiator to the
 * key below with the prologue below, plus truncated and corrupted copies;
 * changing either constant invalidates it (noise_init_fuzz.c pins the same
 * public key).
 *
 * Beyond memory safety the target checks the contract: a failed read returns
 * one of the documented errors, and an accepted msg1 always leads to a
 * 48 + payload byte msg2 and a working Split.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/x25519.h"
#include "net/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The relay's static pair: private key 01 02 .. 20 and its public key. */
static const uint8_t fuzz_resp_priv[X25519_KEY_LEN] = {
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
        0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
        0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
static const uint8_t fuzz_resp_pub[X25519_KEY_LEN] = {
        0x07, 0xa3, 0x7c, 0xbc, 0x14, 0x20, 0x93, 0xc8, 0xb7, 0x55, 0xdc,
        0x1b, 0x10, 0xe8, 0x6c, 0xb4, 0x26, 0x37, 0x4a, 0xd1, 0x6a, 0xa8,
        0x53, 0xed, 0x0b, 0xdf, 0xc0, 0xb2, 0xb8, 0x6d, 0x1c, 0x7c,
};

static const char fuzz_prologue[] = "sotto noise fuzz";

/* The responder's ephemeral private key: every draw is 41 42 .. 60. */
static void fuzz_resp_rng(void *user, uint8_t *buf, size_t len)
{
	(void)user;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(0x41 + i % 32);
}

static bool is_documented_read_error(sotto_err rc)
{
	return rc == SOTTO_ERR_AUTH || rc == SOTTO_ERR_TRUNCATED || rc == SOTTO_ERR_TOO_LARGE ||
	       rc == SOTTO_ERR_WEAK_KEY;
}

/* msg2 echoing payload, then Split; any failure is a bug. */
static void answer(struct noise_nk *hs, const uint8_t *payload, size_t payload_len)
{
	uint8_t msg2[NOISE_MSG_MAX];
	struct noise_cipher send, recv;
	uint8_t h[NOISE_HASH_LEN];
	size_t msg2_len = 0;

	if (payload_len > NOISE_MSG_MAX - 48)
		abort();
	if (noise_nk_message_len(hs, payload_len) != 48 + payload_len)
		abort();
	if (noise_nk_write(hs, payload, payload_len, msg2, sizeof(msg2), &msg2_len) != SOTTO_OK ||
	    msg2_len != 48 + payload_len)
		abort();
	if (!noise_nk_is_complete(hs) || noise_nk_split(hs, &send, &recv, h) != SOTTO_OK)
		abort();
	noise_cipher_clear(&send);
	noise_cipher_clear(&recv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t payload[NOISE_MSG_MAX];
	struct sotto_ctx_config cfg = {.rng = fuzz_resp_rng};
	struct x25519_keypair s;
	sotto_ctx *ctx = NULL;
	struct noise_nk *hs = NULL;
	size_t payload_len = 0;

	if (sotto_ctx_new(&ctx, &cfg) != SOTTO_OK)
		abort();
	memcpy(s.pub, fuzz_resp_pub, sizeof(s.pub));
	memcpy(s.priv, fuzz_resp_priv, sizeof(s.priv));
	if (noise_nk_new(ctx, NOISE_RESPONDER, (const uint8_t *)fuzz_prologue,
	                 sizeof(fuzz_prologue) - 1, &s, NULL, &hs) != SOTTO_OK)
		abort();
	sotto_err rc = noise_nk_read(hs, data, size, payload, sizeof(payload), &payload_len);
	if (rc == SOTTO_OK)
		answer(hs, payload, payload_len);
	else if (!is_documented_read_error(rc) || payload_len != 0)
		abort();
	noise_nk_free(hs);
	x25519_keypair_clear(&s);
	sotto_ctx_free(ctx);
	return 0;
}
