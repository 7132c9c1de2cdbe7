/* SPDX-License-Identifier: MIT */
/*
 * noise_init_fuzz.c - fuzz target for the client side of Noise NK: an
 * initiator pinned to a fixed relay key writes msg1 with a fixed RNG, then
 * reads the input as the relay's answer.
 *
 * Input: a sequence of frames, each a 2-byte big-endian length and that many
 * bytes (Noise §13 framing). The first frame is msg2 (<- e, ee); if the
 * handshake completes, every further frame is a transport message from the
 * relay, decrypted with the receiving cipher state until one fails; each
 * accepted one is encrypted back with the sending state.
 *
 * The seed corpus (fuzz/corpus/noise_init/) holds a real relay's answers to
 * the msg1 this target writes (relay private key 01 02 .. 20, as in
 * noise_resp_fuzz.c; initiator ephemeral 21 22 .. 40; same prologue), plus
 * truncated and corrupted copies; changing any constant invalidates it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/bytes.h"
#include "crypto/x25519.h"
#include "net/noise.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The relay's static public key (private key 01 02 .. 20). */
static const uint8_t fuzz_resp_pub[X25519_KEY_LEN] = {
        0x07, 0xa3, 0x7c, 0xbc, 0x14, 0x20, 0x93, 0xc8, 0xb7, 0x55, 0xdc,
        0x1b, 0x10, 0xe8, 0x6c, 0xb4, 0x26, 0x37, 0x4a, 0xd1, 0x6a, 0xa8,
        0x53, 0xed, 0x0b, 0xdf, 0xc0, 0xb2, 0xb8, 0x6d, 0x1c, 0x7c,
};

static const char fuzz_prologue[] = "sotto noise fuzz";

/* The initiator's ephemeral private key: every draw is 21 22 .. 40. */
static void fuzz_init_rng(void *user, uint8_t *buf, size_t len)
{
	(void)user;
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(0x21 + i % 32);
}

struct frames {
	const uint8_t *p;
	size_t left;
};

static bool next_frame(struct frames *f, const uint8_t **frame, size_t *len)
{
	if (f->left < 2)
		return false;
	size_t n = bytes_load_be16(f->p);
	if (f->left - 2 < n)
		return false;
	*frame = f->p + 2;
	*len = n;
	f->p += 2 + n;
	f->left -= 2 + n;
	return true;
}

/* Transport phase: decrypt each frame from the relay and answer it. */
static void transport(struct noise_nk *hs, struct frames *f)
{
	uint8_t pt[NOISE_MSG_MAX], ct[NOISE_MSG_MAX];
	struct noise_cipher send, recv;
	uint8_t h[NOISE_HASH_LEN];
	const uint8_t *frame;
	size_t len;

	if (!noise_nk_is_complete(hs) || noise_nk_split(hs, &send, &recv, h) != SOTTO_OK)
		abort();
	while (next_frame(f, &frame, &len)) {
		uint64_t n = recv.n;
		sotto_err rc = noise_cipher_decrypt(&recv, NULL, 0, frame, len, pt);
		if (rc != SOTTO_OK) {
			if (rc != SOTTO_ERR_AUTH || recv.n != n)
				abort();
			break;
		}
		if (len < NOISE_TAG_LEN || recv.n != n + 1)
			abort();
		if (noise_cipher_encrypt(&send, NULL, 0, pt, len - NOISE_TAG_LEN, ct) != SOTTO_OK)
			abort();
	}
	noise_cipher_clear(&send);
	noise_cipher_clear(&recv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t payload[NOISE_MSG_MAX];
	struct sotto_ctx_config cfg = {.rng = fuzz_init_rng};
	struct frames f = {data, size};
	sotto_ctx *ctx = NULL;
	struct noise_nk *hs = NULL;
	uint8_t msg1[48];
	const uint8_t *msg2;
	size_t msg1_len = 0, msg2_len = 0, payload_len = 0;

	if (sotto_ctx_new(&ctx, &cfg) != SOTTO_OK)
		abort();
	if (noise_nk_new(ctx, NOISE_INITIATOR, (const uint8_t *)fuzz_prologue,
	                 sizeof(fuzz_prologue) - 1, NULL, fuzz_resp_pub, &hs) != SOTTO_OK)
		abort();
	if (noise_nk_write(hs, NULL, 0, msg1, sizeof(msg1), &msg1_len) != SOTTO_OK ||
	    msg1_len != 48)
		abort();
	if (next_frame(&f, &msg2, &msg2_len)) {
		sotto_err rc =
		        noise_nk_read(hs, msg2, msg2_len, payload, sizeof(payload), &payload_len);
		if (rc == SOTTO_OK)
			transport(hs, &f);
		else if ((rc != SOTTO_ERR_AUTH && rc != SOTTO_ERR_TRUNCATED &&
		          rc != SOTTO_ERR_WEAK_KEY) ||
		         payload_len != 0)
			abort();
	}
	noise_nk_free(hs);
	sotto_ctx_free(ctx);
	return 0;
}
