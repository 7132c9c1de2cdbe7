/* SPDX-License-Identifier: MIT */
/*
 * session_fuzz.c - fuzz target for the transport state machine.
 *
 * Input layout:
 *
 *   offset  size  field
 *   0       1     bits 0-2: chunk-size class; bit 7: direction for the third run
 *   1       1     seed of the chunk sizes
 *   2       ...   the byte stream
 *
 * Each input runs three times: the stream goes to a relay session (it plays
 * the client), to a client session that has sent msg1 (it plays the relay),
 * and, after a complete in-memory handshake, as transport frames to the
 * relay or the client (frame decoding). Every RNG here is a fixed function of
 * its seed, so each run derives the same keys every time: a committed seed
 * that holds a valid msg1, msg2 or transport frame for these sessions keeps
 * opening them, and the fuzzer explores from there. The stream is fed in
 * chunks of sizes drawn from the header, then the end of stream is reported.
 * Anything but a clean error or a well-formed event aborts.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/x25519.h"
#include "net/session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	FUZZ_HEADER_LEN = 2,
	FUZZ_SEED_RELAY = 1, /* RNG seed of the relay run */
	FUZZ_SEED_CLIENT = 2,
	FUZZ_SEED_PAIR = 3,
	FUZZ_REKEY_INTERVAL = 2, /* small, so the frame run crosses rekeys */
};

static const size_t FUZZ_CHUNK_MAX[8] = {1, 2, 16, 100, 1000, 16402, 65536, 0};

/* The relay's fixed static private key. */
static const uint8_t FUZZ_RELAY_PRIV[X25519_KEY_LEN] = {
        0x50, 0x2a, 0x11, 0x93, 0x07, 0xc4, 0x6e, 0x01, 0x9d, 0x33, 0x7a,
        0xe8, 0x25, 0x5b, 0xb0, 0x4f, 0x61, 0x0c, 0xd7, 0x88, 0x3e, 0x19,
        0xf2, 0x47, 0xa6, 0x5d, 0x02, 0xcb, 0x74, 0x9e, 0x13, 0x6a,
};

/* splitmix64: a deterministic stand-in for the context RNG. */
static void fuzz_rng(void *user, uint8_t *buf, size_t len)
{
	uint64_t *state = user;
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0) {
			*state += 0x9e3779b97f4a7c15u;
		}
		uint64_t z = *state;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
		z ^= z >> 31;
		buf[i] = (uint8_t)(z >> (8 * (i % 8)));
	}
}

struct fuzz_env {
	sotto_ctx *ctx;
	uint64_t rng_state;
	struct x25519_keypair relay_kp;
	struct net_session_config config;
};

static void fuzz_env_init(struct fuzz_env *env, uint64_t seed)
{
	struct sotto_ctx_config cfg = {.rng = fuzz_rng};

	memset(env, 0, sizeof(*env));
	env->rng_state = seed;
	cfg.rng_user = &env->rng_state;
	if (sotto_ctx_new(&env->ctx, &cfg) != SOTTO_OK)
		abort();
	if (x25519_keypair_from_private(FUZZ_RELAY_PRIV, &env->relay_kp) != SOTTO_OK)
		abort();
	env->config.rekey_interval = FUZZ_REKEY_INTERVAL;
}

static void fuzz_env_clear(struct fuzz_env *env)
{
	x25519_keypair_clear(&env->relay_kp);
	sotto_ctx_free(env->ctx);
}

/* What a peer's events may carry; anything else is a bug. */
struct fuzz_events {
	uint8_t written[NET_MSG2_FRAME_LEN]; /* the relay's msg2, when it sends one */
	size_t n_written;
	unsigned n_open;
	unsigned n_blocks;
	unsigned sum; /* touches every content byte, so ASan sees the reads */
};

static sotto_err fuzz_event(void *user, const struct net_event *ev)
{
	struct fuzz_events *e = user;

	switch (ev->type) {
	case NET_EVENT_WRITE:
		if ((ev->len != NET_MSG2_FRAME_LEN && ev->len != NET_REFUSAL_FRAME_LEN) ||
		    e->n_written != 0)
			abort();
		memcpy(e->written, ev->bytes, ev->len);
		e->n_written = ev->len;
		return SOTTO_OK;
	case NET_EVENT_OPEN:
		if (ev->session_id == NULL || ev->version != NET_TRANSPORT_VERSION_MAX ||
		    e->n_open++)
			abort();
		return SOTTO_OK;
	case NET_EVENT_BLOCK:
		if (ev->len > NET_BLOCK_CONTENT_MAX || e->n_open != 1)
			abort();
		for (size_t i = 0; i < ev->len; i++)
			e->sum += ev->bytes[i];
		e->n_blocks++;
		return SOTTO_OK;
	}
	abort();
}

/* Feeds the stream in chunks drawn from the header, then reports the end. */
static void fuzz_feed(struct net_session *s, const uint8_t *header, const uint8_t *stream,
                      size_t len, struct fuzz_events *events)
{
	uint8_t *copy = malloc(len + 1); /* feed decrypts in place */
	size_t max = FUZZ_CHUNK_MAX[header[0] & 7], pos = 0;
	uint32_t lcg = header[1];
	sotto_err rc = SOTTO_OK;

	if (copy == NULL)
		abort();
	memcpy(copy, stream, len);
	while (pos < len && rc == SOTTO_OK) {
		lcg = lcg * 1664525u + 1013904223u;
		size_t n = max == 0 ? len - pos : 1 + (lcg >> 8) % max;
		if (n > len - pos)
			n = len - pos;
		rc = net_session_feed(s, copy + pos, n, fuzz_event, events);
		pos += n;
	}
	if (rc == SOTTO_OK) {
		rc = net_session_eof(s);
		if (rc != SOTTO_ERR_CLOSED && rc != SOTTO_ERR_TRUNCATED)
			abort();
	}
	/* Dead now, whatever happened. */
	if (net_session_is_open(s) || net_session_eof(s) != SOTTO_ERR_STATE)
		abort();
	free(copy);
}

/* The relay run: the stream plays a client. */
static void fuzz_relay(const uint8_t *header, const uint8_t *stream, size_t len)
{
	struct fuzz_env env;
	struct fuzz_events events = {0};
	struct net_session *relay = NULL;

	fuzz_env_init(&env, FUZZ_SEED_RELAY);
	if (net_session_new_relay(env.ctx, &env.config, &env.relay_kp, &relay) != SOTTO_OK)
		abort();
	fuzz_feed(relay, header, stream, len, &events);
	net_session_free(relay);
	fuzz_env_clear(&env);
}

/* The client run: the stream plays the relay, answering a fixed msg1. */
static void fuzz_client(const uint8_t *header, const uint8_t *stream, size_t len)
{
	struct fuzz_env env;
	struct fuzz_events events = {0};
	struct net_session *client = NULL;
	uint8_t msg1[NET_MSG1_FRAME_LEN];

	fuzz_env_init(&env, FUZZ_SEED_CLIENT);
	if (net_session_new_client(env.ctx, &env.config, env.relay_kp.pub, &client) != SOTTO_OK ||
	    net_session_start(client, msg1) != SOTTO_OK)
		abort();
	fuzz_feed(client, header, stream, len, &events);
	net_session_free(client);
	fuzz_env_clear(&env);
}

/* A client and a relay that finished their handshake in memory. */
static void fuzz_open_pair(struct fuzz_env *env, struct net_session **client,
                           struct net_session **relay)
{
	struct fuzz_events ce = {0}, re = {0};
	uint8_t msg1[NET_MSG1_FRAME_LEN];

	if (net_session_new_client(env->ctx, &env->config, env->relay_kp.pub, client) != SOTTO_OK ||
	    net_session_new_relay(env->ctx, &env->config, &env->relay_kp, relay) != SOTTO_OK ||
	    net_session_start(*client, msg1) != SOTTO_OK ||
	    net_session_feed(*relay, msg1, sizeof(msg1), fuzz_event, &re) != SOTTO_OK ||
	    net_session_feed(*client, re.written, re.n_written, fuzz_event, &ce) != SOTTO_OK ||
	    !net_session_is_open(*client) || !net_session_is_open(*relay))
		abort();
}

/* The frame run: transport frames to the relay (bit 7 clear) or the client. */
static void fuzz_frames(const uint8_t *header, const uint8_t *stream, size_t len)
{
	struct fuzz_env env;
	struct fuzz_events events = {.n_open = 1};
	struct net_session *client = NULL, *relay = NULL;

	fuzz_env_init(&env, FUZZ_SEED_PAIR);
	fuzz_open_pair(&env, &client, &relay);
	fuzz_feed((header[0] & 0x80) ? client : relay, header, stream, len, &events);
	net_session_free(client);
	net_session_free(relay);
	fuzz_env_clear(&env);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < FUZZ_HEADER_LEN)
		return 0;
	fuzz_relay(data, data + FUZZ_HEADER_LEN, size - FUZZ_HEADER_LEN);
	fuzz_client(data, data + FUZZ_HEADER_LEN, size - FUZZ_HEADER_LEN);
	fuzz_frames(data, data + FUZZ_HEADER_LEN, size - FUZZ_HEADER_LEN);
	return 0;
}
