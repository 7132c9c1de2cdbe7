/* SPDX-License-Identifier: MIT */
/*
 * session_test.c - the transport state machine driven through memory: full
 * exchanges in many chunkings, the exact wire format against a raw Noise
 * peer, every truncation and bit flip of the handshake messages and of a
 * transport frame, version negotiation, rekeying, misuse, and an
 * allocation-failure sweep of the whole handshake.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/bytes.h"
#include "core/ctx.h"
#include "net/noise.h"
#include "net/session.h"
#include "test_util.h"

/* ---- event recorder ---- */

struct rec {
	uint8_t out[4 * NET_TRANSPORT_FRAME_LEN]; /* WRITE bytes, appended */
	size_t out_len;
	unsigned n_writes;
	unsigned n_open;
	uint16_t version;
	uint8_t id[NET_SESSION_ID_LEN];
	unsigned n_blocks;   /* blocks seen; each checked against block_content() */
	unsigned stop_after; /* 0: never; else fail the n-th block with stop_rc */
	sotto_err stop_rc;
};

static size_t block_len_of(unsigned k)
{
	static const size_t lens[] = {
	        0, 1, 2, 100, 1000, NET_BLOCK_CONTENT_MAX - 1, NET_BLOCK_CONTENT_MAX, 16};
	return lens[k % (sizeof(lens) / sizeof(lens[0]))];
}

static void block_content(unsigned k, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (uint8_t)(k * 131u + i * 7u + (i >> 8));
}

static sotto_err rec_event(void *user, const struct net_event *ev)
{
	struct rec *r = user;
	static uint8_t want[NET_BLOCK_CONTENT_MAX];

	switch (ev->type) {
	case NET_EVENT_WRITE:
		assert_true(r->out_len + ev->len <= sizeof(r->out));
		memcpy(r->out + r->out_len, ev->bytes, ev->len);
		r->out_len += ev->len;
		r->n_writes++;
		return SOTTO_OK;
	case NET_EVENT_OPEN:
		r->n_open++;
		r->version = ev->version;
		assert_non_null(ev->session_id);
		memcpy(r->id, ev->session_id, NET_SESSION_ID_LEN);
		return SOTTO_OK;
	case NET_EVENT_BLOCK:
		assert_int_equal(ev->len, block_len_of(r->n_blocks));
		block_content(r->n_blocks, want, ev->len);
		if (ev->len > 0)
			assert_memory_equal(ev->bytes, want, ev->len);
		r->n_blocks++;
		if (r->stop_after != 0 && r->n_blocks == r->stop_after)
			return r->stop_rc;
		return SOTTO_OK;
	}
	fail_msg("unknown event %d", (int)ev->type);
	return SOTTO_ERR_INTERNAL;
}

static uint32_t lcg(uint32_t *state)
{
	*state = *state * 1664525u + 1013904223u;
	return *state >> 8;
}

/*
 * Feeds bytes (copied: feed decrypts in place) in chunks of 1..max_chunk
 * bytes drawn from *seed; max_chunk 0 feeds everything at once.
 */
static sotto_err feed_chunked(struct net_session *s, const uint8_t *bytes, size_t len,
                              size_t max_chunk, uint32_t *seed, struct rec *r)
{
	uint8_t *copy = malloc(len + 1);
	size_t pos = 0;
	sotto_err rc = SOTTO_OK;

	assert_non_null(copy);
	memcpy(copy, bytes, len);
	while (pos < len && rc == SOTTO_OK) {
		size_t n = max_chunk == 0 ? len - pos : 1 + lcg(seed) % max_chunk;
		if (n > len - pos)
			n = len - pos;
		rc = net_session_feed(s, copy + pos, n, rec_event, r);
		pos += n;
	}
	free(copy);
	return rc;
}

/* ---- a client and a relay over memory ---- */

struct pair {
	sotto_ctx *ctx;
	struct tu_rng rng;
	struct x25519_keypair relay_kp;
	struct net_session *client, *relay;
	struct rec crec, rrec; /* events of the client / the relay */
	uint8_t msg1[NET_MSG1_FRAME_LEN];
};

static struct pair *pair_new(struct tu_alloc *alloc, uint64_t seed)
{
	struct pair *p = calloc(1, sizeof(*p));
	assert_non_null(p);
	tu_rng_init(&p->rng, seed);
	p->ctx = tu_ctx(alloc, &p->rng, NULL);
	x25519_keypair_generate(p->ctx, &p->relay_kp);
	return p;
}

static void pair_free(struct pair *p)
{
	net_session_free(p->client);
	net_session_free(p->relay);
	sotto_ctx_free(p->ctx);
	free(p);
}

/* Makes both sessions and sends msg1 (not yet delivered). */
static void pair_start(struct pair *p, const struct net_session_config *ccfg,
                       const struct net_session_config *rcfg)
{
	assert_int_equal(net_session_new_client(p->ctx, ccfg, p->relay_kp.pub, &p->client),
	                 SOTTO_OK);
	assert_int_equal(net_session_new_relay(p->ctx, rcfg, &p->relay_kp, &p->relay), SOTTO_OK);
	assert_int_equal(net_session_start(p->client, p->msg1), SOTTO_OK);
}

/* Runs the whole handshake with the given chunking; both sides must open. */
static void pair_open(struct pair *p, const struct net_session_config *ccfg,
                      const struct net_session_config *rcfg, size_t max_chunk, uint32_t seed)
{
	pair_start(p, ccfg, rcfg);
	assert_int_equal(
	        feed_chunked(p->relay, p->msg1, sizeof(p->msg1), max_chunk, &seed, &p->rrec),
	        SOTTO_OK);
	assert_int_equal(p->rrec.n_writes, 1);
	assert_int_equal(p->rrec.out_len, NET_MSG2_FRAME_LEN);
	assert_int_equal(
	        feed_chunked(p->client, p->rrec.out, p->rrec.out_len, max_chunk, &seed, &p->crec),
	        SOTTO_OK);
	assert_int_equal(p->crec.n_open, 1);
	assert_int_equal(p->rrec.n_open, 1);
	assert_int_equal(p->crec.version, 1);
	assert_int_equal(p->rrec.version, 1);
	assert_memory_equal(p->crec.id, p->rrec.id, NET_SESSION_ID_LEN);
	assert_memory_equal(net_session_id(p->client), p->crec.id, NET_SESSION_ID_LEN);
	assert_true(net_session_is_open(p->client));
	assert_true(net_session_is_open(p->relay));
}

/* Encrypts blocks first..first+n-1 from s into a new buffer of n frames. */
static uint8_t *make_frames(struct net_session *s, unsigned first, unsigned n)
{
	uint8_t *frames = malloc((size_t)n * NET_TRANSPORT_FRAME_LEN);
	uint8_t content[NET_BLOCK_CONTENT_MAX];

	assert_non_null(frames);
	for (unsigned k = first; k < first + n; k++) {
		size_t len = block_len_of(k);
		uint8_t *frame = frames + (size_t)(k - first) * NET_TRANSPORT_FRAME_LEN;
		block_content(k, content, len);
		assert_int_equal(net_session_send_block(s, content, len, frame), SOTTO_OK);
		assert_int_equal(bytes_load_be16(frame), NET_TRANSPORT_LEN);
	}
	return frames;
}

/* Sends n blocks from -> to (whose events go to r) in the given chunking. */
static void send_blocks(struct net_session *from, struct net_session *to, struct rec *r, unsigned n,
                        size_t max_chunk, uint32_t seed)
{
	unsigned first = r->n_blocks;
	uint8_t *frames = make_frames(from, first, n);
	assert_int_equal(
	        feed_chunked(to, frames, (size_t)n * NET_TRANSPORT_FRAME_LEN, max_chunk, &seed, r),
	        SOTTO_OK);
	assert_int_equal(r->n_blocks, first + n);
	assert_false(net_session_has_partial(to));
	free(frames);
}

/* ---- round trips ---- */

static void session__roundtrip__random_chunkings(void **state)
{
	static const size_t chunkings[] = {1, 2, 3, 7, 53, 100, 4096, 16401, 16403, 40000, 0};
	(void)state;

	for (size_t i = 0; i < sizeof(chunkings) / sizeof(chunkings[0]); i++) {
		struct pair *p = pair_new(NULL, 100 + i);
		size_t chunk = chunkings[i];
		unsigned n = chunk == 1 ? 3 : 9;

		pair_open(p, NULL, NULL, chunk, (uint32_t)i);
		send_blocks(p->client, p->relay, &p->rrec, n, chunk, (uint32_t)i + 1);
		send_blocks(p->relay, p->client, &p->crec, n, chunk, (uint32_t)i + 2);
		send_blocks(p->client, p->relay, &p->rrec, 2, chunk, (uint32_t)i + 3);
		assert_int_equal(net_session_eof(p->relay), SOTTO_ERR_CLOSED);
		assert_int_equal(net_session_eof(p->client), SOTTO_ERR_CLOSED);
		pair_free(p);
	}
}

static void session__distinct_ids__two_handshakes(void **state)
{
	struct pair *a = pair_new(NULL, 1), *b = pair_new(NULL, 2);
	(void)state;

	pair_open(a, NULL, NULL, 0, 0);
	pair_open(b, NULL, NULL, 0, 0);
	assert_memory_not_equal(a->crec.id, b->crec.id, NET_SESSION_ID_LEN);
	pair_free(a);
	pair_free(b);
}

/*
 * The wire format, checked against a raw Noise initiator that knows only
 * what docs/protocol.md says: prologue, payloads, frame lengths, padding.
 */
static const char PROLOGUE[] = "sotto/transport";

struct raw_client {
	struct noise_nk *hs;
	struct noise_cipher send, recv;
	uint8_t h[NOISE_HASH_LEN];
};

/* Raw msg1 with the given payload, framed with its true length. */
static size_t raw_msg1(struct pair *p, struct raw_client *c, const uint8_t *payload,
                       size_t payload_len, uint8_t *frame, size_t cap)
{
	size_t n = 0;
	assert_int_equal(noise_nk_new(p->ctx, NOISE_INITIATOR, (const uint8_t *)PROLOGUE,
	                              strlen(PROLOGUE), NULL, p->relay_kp.pub, &c->hs),
	                 SOTTO_OK);
	assert_int_equal(noise_nk_write(c->hs, payload, payload_len, frame + 2, cap - 2, &n),
	                 SOTTO_OK);
	bytes_store_be16(frame, (uint16_t)n);
	return n + 2;
}

static void raw_client_free(struct raw_client *c)
{
	noise_nk_free(c->hs);
	noise_cipher_clear(&c->send);
	noise_cipher_clear(&c->recv);
}

/* Opens the relay of p with a raw client; returns with c's ciphers split. */
static void raw_open(struct pair *p, struct raw_client *c)
{
	static const uint8_t range[4] = {0, 1, 0, 1};
	uint8_t frame[64], payload[8];
	size_t len, n = 0;
	uint32_t seed = 0;

	assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &p->relay), SOTTO_OK);
	len = raw_msg1(p, c, range, sizeof(range), frame, sizeof(frame));
	assert_int_equal(len, NET_MSG1_FRAME_LEN);
	assert_int_equal(feed_chunked(p->relay, frame, len, 0, &seed, &p->rrec), SOTTO_OK);
	assert_int_equal(p->rrec.out_len, NET_MSG2_FRAME_LEN);
	assert_int_equal(bytes_load_be16(p->rrec.out), NET_MSG2_LEN);
	assert_int_equal(
	        noise_nk_read(c->hs, p->rrec.out + 2, NET_MSG2_LEN, payload, sizeof(payload), &n),
	        SOTTO_OK);
	assert_int_equal(n, 2);
	assert_int_equal(bytes_load_be16(payload), 1);
	assert_int_equal(noise_nk_split(c->hs, &c->send, &c->recv, c->h), SOTTO_OK);
	assert_memory_equal(c->h, p->rrec.id, NET_SESSION_ID_LEN);
}

static void session__wire_format__matches_raw_noise_peer(void **state)
{
	struct pair *p = pair_new(NULL, 3);
	struct raw_client c = {0};
	uint8_t frame[NET_TRANSPORT_FRAME_LEN], block[NET_BLOCK_LEN];
	uint32_t seed = 0;
	(void)state;

	raw_open(p, &c);
	/* A block from the relay decrypts to u16 length, content, zeros. */
	block_content(0, block, 5);
	assert_int_equal(net_session_send_block(p->relay, block, 5, frame), SOTTO_OK);
	assert_int_equal(bytes_load_be16(frame), NET_TRANSPORT_LEN);
	assert_int_equal(noise_cipher_decrypt(&c.recv, (const uint8_t *)"", 0, frame + 2,
	                                      NET_TRANSPORT_LEN, block),
	                 SOTTO_OK);
	assert_int_equal(bytes_load_be16(block), 5);
	for (size_t i = 7; i < NET_BLOCK_LEN; i++)
		assert_int_equal(block[i], 0);
	/* A block the raw client pads by hand is accepted. */
	memset(block, 0, sizeof(block));
	bytes_store_be16(block, 0);
	assert_int_equal(noise_cipher_encrypt(&c.send, (const uint8_t *)"", 0, block, NET_BLOCK_LEN,
	                                      frame + 2),
	                 SOTTO_OK);
	bytes_store_be16(frame, NET_TRANSPORT_LEN);
	assert_int_equal(feed_chunked(p->relay, frame, sizeof(frame), 0, &seed, &p->rrec),
	                 SOTTO_OK);
	assert_int_equal(p->rrec.n_blocks, 1);
	raw_client_free(&c);
	pair_free(p);
}

/* Sends one hand-made block from a raw client; returns the relay's verdict. */
static sotto_err raw_send_block(struct pair *p, struct raw_client *c, const uint8_t *block)
{
	uint8_t frame[NET_TRANSPORT_FRAME_LEN];
	uint32_t seed = 0;

	assert_int_equal(noise_cipher_encrypt(&c->send, (const uint8_t *)"", 0, block,
	                                      NET_BLOCK_LEN, frame + 2),
	                 SOTTO_OK);
	bytes_store_be16(frame, NET_TRANSPORT_LEN);
	return feed_chunked(p->relay, frame, sizeof(frame), 0, &seed, &p->rrec);
}

static void session__protocol__bad_padding(void **state)
{
	uint8_t block[NET_BLOCK_LEN];
	(void)state;

	for (int variant = 0; variant < 3; variant++) {
		struct pair *p = pair_new(NULL, 4);
		struct raw_client c = {0};
		raw_open(p, &c);
		memset(block, 0, sizeof(block));
		if (variant == 0) {
			bytes_store_be16(block, NET_BLOCK_CONTENT_MAX + 1); /* L too big */
		} else if (variant == 1) {
			bytes_store_be16(block, 10);
			block[NET_BLOCK_LEN - 1] = 1; /* nonzero padding at the end */
		} else {
			bytes_store_be16(block, 10);
			block[2 + 10] = 0x80; /* nonzero padding right after content */
		}
		assert_int_equal(raw_send_block(p, &c, block), SOTTO_ERR_PROTOCOL);
		assert_false(net_session_is_open(p->relay));
		raw_client_free(&c);
		pair_free(p);
	}
}

static void session__protocol__malformed_version_range(void **state)
{
	static const uint8_t bad[][4] = {{0, 0, 0, 1}, {0, 2, 0, 1}, {0, 0, 0, 0}};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pair *p = pair_new(NULL, 5);
		struct raw_client c = {0};
		uint8_t frame[64];
		uint32_t seed = 0;
		assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &p->relay),
		                 SOTTO_OK);
		size_t len = raw_msg1(p, &c, bad[i], 4, frame, sizeof(frame));
		assert_int_equal(feed_chunked(p->relay, frame, len, 0, &seed, &p->rrec),
		                 SOTTO_ERR_PROTOCOL);
		assert_int_equal(p->rrec.n_writes, 1); /* the refusal frame */
		assert_int_equal(p->rrec.out_len, NET_REFUSAL_FRAME_LEN);
		raw_client_free(&c);
		pair_free(p);
	}
}

/* msg1 payloads of other lengths make frames of other lengths. */
static void session__frame_size__msg1_payload_length(void **state)
{
	static const uint8_t payload[6] = {0, 1, 0, 1, 0, 0};
	(void)state;

	for (size_t n = 0; n <= sizeof(payload); n++) {
		if (n == 4)
			continue;
		struct pair *p = pair_new(NULL, 6);
		struct raw_client c = {0};
		uint8_t frame[64];
		uint32_t seed = 0;
		assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &p->relay),
		                 SOTTO_OK);
		size_t len = raw_msg1(p, &c, payload, n, frame, sizeof(frame));
		assert_int_equal(feed_chunked(p->relay, frame, len, 0, &seed, &p->rrec),
		                 SOTTO_ERR_FRAME_SIZE);
		raw_client_free(&c);
		pair_free(p);
	}
}

/* A relay that answers with a version outside the client's range. */
static void session__protocol__relay_picks_foreign_version(void **state)
{
	struct pair *p = pair_new(NULL, 7);
	struct noise_nk *hs = NULL;
	uint8_t payload[8], frame[NET_MSG2_FRAME_LEN];
	size_t n = 0;
	uint32_t seed = 0;
	(void)state;

	pair_start(p, NULL, NULL);
	assert_int_equal(noise_nk_new(p->ctx, NOISE_RESPONDER, (const uint8_t *)PROLOGUE,
	                              strlen(PROLOGUE), &p->relay_kp, NULL, &hs),
	                 SOTTO_OK);
	assert_int_equal(noise_nk_read(hs, p->msg1 + 2, NET_MSG1_LEN, payload, sizeof(payload), &n),
	                 SOTTO_OK);
	assert_int_equal(n, 4);
	assert_int_equal(bytes_load_be16(payload), 1);
	assert_int_equal(bytes_load_be16(payload + 2), 1);
	bytes_store_be16(payload, 7);
	assert_int_equal(noise_nk_write(hs, payload, 2, frame + 2, NET_MSG2_LEN, &n), SOTTO_OK);
	bytes_store_be16(frame, NET_MSG2_LEN);
	assert_int_equal(feed_chunked(p->client, frame, sizeof(frame), 0, &seed, &p->crec),
	                 SOTTO_ERR_PROTOCOL);
	assert_int_equal(p->crec.n_open, 0);
	noise_nk_free(hs);
	pair_free(p);
}

/* ---- authentication ---- */

static void session__auth__wrong_pinned_key(void **state)
{
	struct pair *p = pair_new(NULL, 8);
	struct x25519_keypair other;
	uint8_t msg1[NET_MSG1_FRAME_LEN];
	uint32_t seed = 0;
	(void)state;

	x25519_keypair_generate(p->ctx, &other);
	assert_int_equal(net_session_new_client(p->ctx, NULL, other.pub, &p->client), SOTTO_OK);
	assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &p->relay), SOTTO_OK);
	assert_int_equal(net_session_start(p->client, msg1), SOTTO_OK);
	/* NK: only the holder of the pinned key can decrypt msg1's payload. */
	assert_int_equal(feed_chunked(p->relay, msg1, sizeof(msg1), 0, &seed, &p->rrec),
	                 SOTTO_ERR_AUTH);
	assert_false(net_session_is_open(p->relay));
	/* The relay answers with the refusal frame, which the client reports as AUTH. */
	assert_int_equal(p->rrec.n_writes, 1);
	assert_int_equal(p->rrec.out_len, NET_REFUSAL_FRAME_LEN);
	assert_int_equal(p->rrec.out[0] | p->rrec.out[1], 0);
	assert_int_equal(feed_chunked(p->client, p->rrec.out, p->rrec.out_len, 0, &seed, &p->crec),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(p->crec.n_open, 0);
	pair_free(p);
}

/* msg2 of another handshake with the right relay does not authenticate. */
static void session__auth__replayed_msg2(void **state)
{
	struct pair *a = pair_new(NULL, 9), *b = pair_new(NULL, 10);
	uint32_t seed = 0;
	(void)state;

	b->relay_kp = a->relay_kp;
	pair_open(a, NULL, NULL, 0, 0);
	pair_start(b, NULL, NULL);
	assert_int_equal(feed_chunked(b->client, a->rrec.out, a->rrec.out_len, 0, &seed, &b->crec),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(b->crec.n_open, 0);
	/* And a transport frame of session a does not decrypt in session b. */
	struct pair *c = pair_new(NULL, 11);
	c->relay_kp = a->relay_kp;
	pair_open(c, NULL, NULL, 0, 0);
	uint8_t *frames = make_frames(a->client, 0, 1);
	assert_int_equal(
	        feed_chunked(c->relay, frames, NET_TRANSPORT_FRAME_LEN, 0, &seed, &c->rrec),
	        SOTTO_ERR_AUTH);
	free(frames);
	pair_free(a);
	pair_free(b);
	pair_free(c);
}

static void session__weak_key__low_order_points(void **state)
{
	uint8_t zero_key[X25519_KEY_LEN] = {0};
	uint8_t msg[NET_MSG1_FRAME_LEN];
	uint32_t seed = 0;
	(void)state;

	/* A pinned key that is a low-order point. */
	struct pair *p = pair_new(NULL, 12);
	assert_int_equal(net_session_new_client(p->ctx, NULL, zero_key, &p->client), SOTTO_OK);
	assert_int_equal(net_session_start(p->client, msg), SOTTO_ERR_WEAK_KEY);
	assert_int_equal(net_session_start(p->client, msg), SOTTO_ERR_STATE);
	pair_free(p);

	/* msg1 with a low-order ephemeral key. */
	p = pair_new(NULL, 13);
	pair_start(p, NULL, NULL);
	memset(p->msg1 + 2, 0, NOISE_DH_LEN);
	assert_int_equal(feed_chunked(p->relay, p->msg1, sizeof(p->msg1), 0, &seed, &p->rrec),
	                 SOTTO_ERR_WEAK_KEY);
	pair_free(p);

	/* msg2 with a low-order ephemeral key. */
	p = pair_new(NULL, 14);
	pair_start(p, NULL, NULL);
	assert_int_equal(feed_chunked(p->relay, p->msg1, sizeof(p->msg1), 0, &seed, &p->rrec),
	                 SOTTO_OK);
	memset(p->rrec.out + 2, 0, NOISE_DH_LEN);
	assert_int_equal(feed_chunked(p->client, p->rrec.out, p->rrec.out_len, 0, &seed, &p->crec),
	                 SOTTO_ERR_WEAK_KEY);
	pair_free(p);
}

/* ---- truncations and bit flips ---- */

/*
 * The expected error when a truncated frame of msg_len body bytes ends the
 * stream after k bytes: nothing at all is a clean close.
 */
static sotto_err truncation_error(size_t k)
{
	return k == 0 ? SOTTO_ERR_CLOSED : SOTTO_ERR_TRUNCATED;
}

static void session__specific_error__msg1_truncations_and_flips(void **state)
{
	struct pair *p = pair_new(NULL, 20);
	uint8_t msg1[NET_MSG1_FRAME_LEN], bad[NET_MSG1_FRAME_LEN];
	uint32_t seed = 0;
	(void)state;

	pair_start(p, NULL, NULL);
	memcpy(msg1, p->msg1, sizeof(msg1));
	assert_int_equal(bytes_load_be16(msg1), NET_MSG1_LEN);
	for (size_t k = 0; k < sizeof(msg1); k++) {
		struct net_session *r = NULL;
		struct rec rr = {0};
		assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &r), SOTTO_OK);
		/* The stream ends early... */
		assert_int_equal(feed_chunked(r, msg1, k, 1, &seed, &rr), SOTTO_OK);
		assert_int_equal(net_session_has_partial(r), k > 0);
		assert_int_equal(net_session_eof(r), truncation_error(k));
		net_session_free(r);
		/* ...or a shorter body is framed with its own length. */
		if (k < 2)
			continue;
		memcpy(bad, msg1, k);
		bytes_store_be16(bad, (uint16_t)(k - 2));
		assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &r), SOTTO_OK);
		assert_int_equal(feed_chunked(r, bad, k, 0, &seed, &rr), SOTTO_ERR_FRAME_SIZE);
		net_session_free(r);
	}
	for (size_t bit = 0; bit < sizeof(msg1) * 8; bit++) {
		struct net_session *r = NULL;
		struct rec rr = {0};
		memcpy(bad, msg1, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &r), SOTTO_OK);
		sotto_err want = bit < 16 ? SOTTO_ERR_FRAME_SIZE : SOTTO_ERR_AUTH;
		assert_int_equal(feed_chunked(r, bad, sizeof(bad), 0, &seed, &rr), want);
		/* A bad length is dropped silently; a bad body gets the refusal frame. */
		assert_int_equal(rr.n_writes, bit < 16 ? 0 : 1);
		net_session_free(r);
	}
	pair_free(p);
}

/* Every length prefix but 52 is refused as soon as its two bytes arrive. */
static void session__frame_size__every_msg1_length(void **state)
{
	struct pair *p = pair_new(NULL, 21);
	struct net_session *r = NULL;
	uint8_t hdr[2];
	uint32_t seed = 0;
	(void)state;

	for (uint32_t l = 0; l <= UINT16_MAX; l++) {
		struct rec rr = {0};
		if (l == NET_MSG1_LEN)
			continue;
		assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &r), SOTTO_OK);
		bytes_store_be16(hdr, (uint16_t)l);
		assert_int_equal(feed_chunked(r, hdr, 2, 1, &seed, &rr), SOTTO_ERR_FRAME_SIZE);
		net_session_free(r);
		r = NULL;
	}
	pair_free(p);
}

/*
 * Clients made from the same seed send the same msg1, so one msg2 from the
 * relay is valid for each fresh client of that seed.
 */
static struct net_session *seeded_client(struct pair *p, uint64_t seed, sotto_ctx **ctx,
                                         struct tu_rng *rng)
{
	struct net_session *c = NULL;
	uint8_t msg1[NET_MSG1_FRAME_LEN];
	tu_rng_init(rng, seed);
	*ctx = tu_ctx(NULL, rng, NULL);
	assert_int_equal(net_session_new_client(*ctx, NULL, p->relay_kp.pub, &c), SOTTO_OK);
	assert_int_equal(net_session_start(c, msg1), SOTTO_OK);
	return c;
}

static void session__specific_error__msg2_truncations_and_flips(void **state)
{
	struct pair *p = pair_new(NULL, 22);
	struct tu_rng rng;
	sotto_ctx *ctx = NULL;
	uint8_t msg1[NET_MSG1_FRAME_LEN], msg2[NET_MSG2_FRAME_LEN], bad[NET_MSG2_FRAME_LEN];
	uint32_t seed = 0;
	(void)state;

	struct net_session *c = NULL;
	/* The relay's answer to the msg1 of seed 777. */
	tu_rng_init(&rng, 777);
	ctx = tu_ctx(NULL, &rng, NULL);
	assert_int_equal(net_session_new_client(ctx, NULL, p->relay_kp.pub, &c), SOTTO_OK);
	assert_int_equal(net_session_start(c, msg1), SOTTO_OK);
	assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &p->relay), SOTTO_OK);
	assert_int_equal(feed_chunked(p->relay, msg1, sizeof(msg1), 0, &seed, &p->rrec), SOTTO_OK);
	memcpy(msg2, p->rrec.out, sizeof(msg2));
	/* The unmodified msg2 opens a fresh client of the same seed. */
	struct rec cr = {0};
	assert_int_equal(feed_chunked(c, msg2, sizeof(msg2), 0, &seed, &cr), SOTTO_OK);
	assert_int_equal(cr.n_open, 1);
	net_session_free(c);
	sotto_ctx_free(ctx);

	for (size_t k = 0; k < sizeof(msg2); k++) {
		struct rec r1 = {0};
		c = seeded_client(p, 777, &ctx, &rng);
		assert_int_equal(feed_chunked(c, msg2, k, 1, &seed, &r1), SOTTO_OK);
		assert_int_equal(net_session_eof(c), truncation_error(k));
		net_session_free(c);
		sotto_ctx_free(ctx);
		if (k < 2)
			continue;
		memcpy(bad, msg2, k);
		bytes_store_be16(bad, (uint16_t)(k - 2));
		c = seeded_client(p, 777, &ctx, &rng);
		/* L = 0 in place of msg2 is the relay's refusal frame. */
		assert_int_equal(feed_chunked(c, bad, k, 0, &seed, &r1),
		                 k == 2 ? SOTTO_ERR_AUTH : SOTTO_ERR_FRAME_SIZE);
		net_session_free(c);
		sotto_ctx_free(ctx);
	}
	for (size_t bit = 0; bit < sizeof(msg2) * 8; bit++) {
		struct rec r1 = {0};
		memcpy(bad, msg2, sizeof(bad));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		c = seeded_client(p, 777, &ctx, &rng);
		sotto_err want = bit < 16 ? SOTTO_ERR_FRAME_SIZE : SOTTO_ERR_AUTH;
		assert_int_equal(feed_chunked(c, bad, sizeof(bad), 0, &seed, &r1), want);
		assert_int_equal(r1.n_open, 0);
		net_session_free(c);
		sotto_ctx_free(ctx);
	}
	pair_free(p);
}

/*
 * Pairs made from the same seed derive the same transport keys, so one
 * frame is valid for every fresh pair of that seed.
 */
static struct pair *seeded_open_pair(void)
{
	struct pair *p = pair_new(NULL, 4242);
	pair_open(p, NULL, NULL, 0, 0);
	return p;
}

static void session__specific_error__transport_truncations_and_flips(void **state)
{
	uint8_t frame[NET_TRANSPORT_FRAME_LEN], bad[NET_TRANSPORT_FRAME_LEN];
	uint32_t seed = 0;
	(void)state;

	struct pair *p = seeded_open_pair();
	uint8_t *f = make_frames(p->client, 0, 1);
	memcpy(frame, f, sizeof(frame));
	free(f);
	pair_free(p);

	/* Truncated streams: TRUNCATED at any cut, fed in one piece or two. */
	for (size_t k = 0; k < sizeof(frame); k += (k < 40 || k > sizeof(frame) - 40) ? 1 : 97) {
		p = seeded_open_pair();
		assert_int_equal(feed_chunked(p->relay, frame, k, k / 2 + 1, &seed, &p->rrec),
		                 SOTTO_OK);
		assert_int_equal(net_session_eof(p->relay), truncation_error(k));
		assert_int_equal(p->rrec.n_blocks, 0);
		pair_free(p);
	}
	/* Bit flips: the length bytes are FRAME_SIZE, every other bit AUTH. */
	for (size_t bit = 0; bit < sizeof(frame) * 8; bit++) {
		size_t byte = bit / 8;
		bool dense = byte < 48 || byte >= sizeof(frame) - 48;
		if (!dense && bit % 61 != 0)
			continue;
		memcpy(bad, frame, sizeof(bad));
		bad[byte] ^= (uint8_t)(1u << (bit % 8));
		p = seeded_open_pair();
		sotto_err want = bit < 16 ? SOTTO_ERR_FRAME_SIZE : SOTTO_ERR_AUTH;
		assert_int_equal(feed_chunked(p->relay, bad, sizeof(bad), 0, &seed, &p->rrec),
		                 want);
		assert_int_equal(p->rrec.n_blocks, 0);
		assert_false(net_session_is_open(p->relay));
		pair_free(p);
	}
	/* The unmodified frame does open a block in a fresh pair. */
	p = seeded_open_pair();
	assert_int_equal(feed_chunked(p->relay, frame, sizeof(frame), 0, &seed, &p->rrec),
	                 SOTTO_OK);
	assert_int_equal(p->rrec.n_blocks, 1);
	pair_free(p);
}

/* Oversized and undersized length prefixes after the handshake. */
static void session__frame_size__transport_lengths(void **state)
{
	static const uint16_t lens[] = {0,     1,     NET_MSG1_LEN, NET_MSG2_LEN, 16384,
	                                16399, 16401, 16402,        32768,        65535};
	uint8_t hdr[2];
	uint32_t seed = 0;
	(void)state;

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (int side = 0; side < 2; side++) {
			struct pair *p = pair_new(NULL, 30 + i);
			pair_open(p, NULL, NULL, 0, 0);
			struct net_session *to = side == 0 ? p->relay : p->client;
			struct rec *r = side == 0 ? &p->rrec : &p->crec;
			bytes_store_be16(hdr, lens[i]);
			assert_int_equal(feed_chunked(to, hdr, 2, 1, &seed, r),
			                 SOTTO_ERR_FRAME_SIZE);
			assert_false(net_session_is_open(to));
			assert_int_equal(net_session_feed(to, hdr, 1, rec_event, r),
			                 SOTTO_ERR_STATE);
			pair_free(p);
		}
	}
}

/* ---- versions ---- */

static void session__version__no_common_version(void **state)
{
	static const struct version_range client_ranges[] = {{2, 3}, {1, 1}};
	static const struct version_range relay_ranges[] = {{1, 1}, {2, 9}};
	uint32_t seed = 0;
	(void)state;

	for (size_t i = 0; i < 2; i++) {
		struct pair *p = pair_new(NULL, 40 + i);
		struct net_session_config cc = {.versions = client_ranges[i]};
		struct net_session_config rc = {.versions = relay_ranges[i]};
		pair_start(p, &cc, &rc);
		assert_int_equal(
		        feed_chunked(p->relay, p->msg1, sizeof(p->msg1), 0, &seed, &p->rrec),
		        SOTTO_ERR_VERSION);
		/* The relay still answered, so the client can tell the user why. */
		assert_int_equal(p->rrec.n_writes, 1);
		assert_int_equal(p->rrec.n_open, 0);
		assert_int_equal(
		        feed_chunked(p->client, p->rrec.out, p->rrec.out_len, 0, &seed, &p->crec),
		        SOTTO_ERR_VERSION);
		assert_int_equal(p->crec.n_open, 0);
		assert_false(net_session_is_open(p->relay));
		assert_false(net_session_is_open(p->client));
		pair_free(p);
	}
}

static void session__version__highest_common(void **state)
{
	struct pair *p = pair_new(NULL, 42);
	struct net_session_config cc = {.versions = {1, 5}};
	struct net_session_config rc = {.versions = {3, 7}};
	uint32_t seed = 0;
	(void)state;

	pair_start(p, &cc, &rc);
	assert_int_equal(feed_chunked(p->relay, p->msg1, sizeof(p->msg1), 0, &seed, &p->rrec),
	                 SOTTO_OK);
	assert_int_equal(feed_chunked(p->client, p->rrec.out, p->rrec.out_len, 0, &seed, &p->crec),
	                 SOTTO_OK);
	assert_int_equal(p->crec.version, 5);
	assert_int_equal(p->rrec.version, 5);
	assert_int_equal(net_session_version(p->client), 5);
	pair_free(p);
}

/* ---- rekey ---- */

static void session__rekey__interval_3_twenty_blocks(void **state)
{
	struct net_session_config cfg = {.rekey_interval = 3};
	struct pair *p = pair_new(NULL, 50);
	(void)state;

	pair_open(p, &cfg, &cfg, 0, 0);
	for (unsigned i = 0; i < 20; i++) {
		send_blocks(p->client, p->relay, &p->rrec, 1, 0, i);
		send_blocks(p->relay, p->client, &p->crec, 1, 0, i);
	}
	assert_int_equal(p->rrec.n_blocks, 20);
	assert_int_equal(p->crec.n_blocks, 20);
	pair_free(p);
}

/* Rekeying really changes the key: peers with different intervals part at block 4. */
static void session__rekey__mismatch_fails_after_interval(void **state)
{
	struct net_session_config three = {.rekey_interval = 3};
	struct pair *p = pair_new(NULL, 51);
	uint32_t seed = 0;
	(void)state;

	pair_open(p, &three, NULL, 0, 0);
	send_blocks(p->client, p->relay, &p->rrec, 3, 0, 0);
	uint8_t *frames = make_frames(p->client, 3, 1);
	assert_int_equal(
	        feed_chunked(p->relay, frames, NET_TRANSPORT_FRAME_LEN, 0, &seed, &p->rrec),
	        SOTTO_ERR_AUTH);
	free(frames);
	pair_free(p);
}

/* ---- misuse, callbacks, memory ---- */

static void session__state__misuse(void **state)
{
	struct pair *p = pair_new(NULL, 60);
	uint8_t msg1[NET_MSG1_FRAME_LEN], frame[NET_TRANSPORT_FRAME_LEN], byte = 0;
	uint8_t big[NET_BLOCK_CONTENT_MAX + 1] = {0};
	struct net_session_config bad = {.versions = {2, 1}};
	struct net_session *s = (struct net_session *)p; /* must be cleared */
	(void)state;

	assert_int_equal(net_session_new_client(p->ctx, &bad, p->relay_kp.pub, &s),
	                 SOTTO_ERR_INVALID);
	assert_null(s);
	bad.versions = (struct version_range){0, 1};
	assert_int_equal(net_session_new_relay(p->ctx, &bad, &p->relay_kp, &s), SOTTO_ERR_INVALID);

	/* A relay never starts; a client feeds only after starting. */
	assert_int_equal(net_session_new_relay(p->ctx, NULL, &p->relay_kp, &p->relay), SOTTO_OK);
	assert_int_equal(net_session_start(p->relay, msg1), SOTTO_ERR_STATE);
	assert_int_equal(net_session_new_client(p->ctx, NULL, p->relay_kp.pub, &s), SOTTO_OK);
	assert_int_equal(net_session_feed(s, &byte, 1, rec_event, &p->crec), SOTTO_ERR_STATE);
	assert_int_equal(net_session_start(s, msg1), SOTTO_ERR_STATE); /* dead now */
	net_session_free(s);
	net_session_free(p->relay);
	p->relay = NULL;

	pair_start(p, NULL, NULL);
	assert_int_equal(net_session_start(p->client, msg1), SOTTO_ERR_STATE);
	assert_int_equal(net_session_send_block(p->client, big, 1, frame), SOTTO_ERR_STATE);
	assert_null(net_session_id(p->client));
	assert_int_equal(net_session_version(p->client), 0);
	net_session_free(p->client);
	net_session_free(p->relay);
	p->client = p->relay = NULL;

	pair_open(p, NULL, NULL, 0, 0);
	assert_int_equal(net_session_send_block(p->client, big, sizeof(big), frame),
	                 SOTTO_ERR_TOO_LARGE);
	assert_true(net_session_is_open(p->client)); /* still usable */
	send_blocks(p->client, p->relay, &p->rrec, 1, 0, 0);
	assert_int_equal(net_session_eof(p->relay), SOTTO_ERR_CLOSED);
	assert_int_equal(net_session_eof(p->relay), SOTTO_ERR_STATE);
	assert_int_equal(net_session_send_block(p->relay, big, 1, frame), SOTTO_ERR_STATE);
	assert_int_equal(net_session_feed(p->relay, &byte, 1, rec_event, &p->rrec),
	                 SOTTO_ERR_STATE);
	net_session_free(NULL);
	pair_free(p);
}

/* The content may already sit in the frame where the padded block puts it. */
static void session__send_block__content_in_frame(void **state)
{
	struct pair *p = pair_new(NULL, 61);
	uint8_t frame[NET_TRANSPORT_FRAME_LEN];
	uint32_t seed = 0;
	(void)state;

	pair_open(p, NULL, NULL, 0, 0);
	uint8_t *content = frame + NET_FRAME_HEADER_LEN + 2;
	block_content(0, content, block_len_of(0));
	assert_int_equal(net_session_send_block(p->client, content, block_len_of(0), frame),
	                 SOTTO_OK);
	assert_int_equal(feed_chunked(p->relay, frame, sizeof(frame), 0, &seed, &p->rrec),
	                 SOTTO_OK);
	block_content(1, content, block_len_of(1));
	assert_int_equal(net_session_send_block(p->client, content, block_len_of(1), frame),
	                 SOTTO_OK);
	assert_int_equal(feed_chunked(p->relay, frame, sizeof(frame), 0, &seed, &p->rrec),
	                 SOTTO_OK);
	assert_int_equal(p->rrec.n_blocks, 2);
	pair_free(p);
}

static void session__cancelled__callback_stops_feed(void **state)
{
	struct pair *p = pair_new(NULL, 62);
	uint32_t seed = 0;
	(void)state;

	pair_open(p, NULL, NULL, 0, 0);
	p->rrec.stop_after = 2;
	p->rrec.stop_rc = SOTTO_ERR_CANCELLED;
	uint8_t *frames = make_frames(p->client, 0, 4);
	assert_int_equal(feed_chunked(p->relay, frames, 4 * (size_t)NET_TRANSPORT_FRAME_LEN, 0,
	                              &seed, &p->rrec),
	                 SOTTO_ERR_CANCELLED);
	assert_int_equal(p->rrec.n_blocks, 2); /* the rest was not delivered */
	assert_false(net_session_is_open(p->relay));
	free(frames);
	pair_free(p);
}

/* A block-sized buffer exists only while a frame is incomplete. */
static void session__memory__partial_buffer_only_while_incomplete(void **state)
{
	struct tu_alloc alloc = {0};
	struct pair *p = pair_new(&alloc, 63);
	(void)state;

	pair_open(p, NULL, NULL, 0, 0);
	uint8_t *frames = make_frames(p->client, 0, 2);
	long idle = alloc.n_live;
	/* One and a half frames: the first is decrypted in place, the rest buffered. */
	size_t half = NET_TRANSPORT_FRAME_LEN + NET_TRANSPORT_FRAME_LEN / 2;
	assert_int_equal(net_session_feed(p->relay, frames, half, rec_event, &p->rrec), SOTTO_OK);
	assert_int_equal(p->rrec.n_blocks, 1);
	assert_true(net_session_has_partial(p->relay));
	assert_int_equal(alloc.n_live, idle + 1);
	assert_int_equal(net_session_feed(p->relay, frames + half,
	                                  2 * NET_TRANSPORT_FRAME_LEN - half, rec_event, &p->rrec),
	                 SOTTO_OK);
	assert_int_equal(p->rrec.n_blocks, 2);
	assert_false(net_session_has_partial(p->relay));
	assert_int_equal(alloc.n_live, idle);
	/* Only the length bytes pending: no buffer either. */
	uint8_t hdr[1] = {0x40};
	assert_int_equal(net_session_feed(p->relay, hdr, 1, rec_event, &p->rrec), SOTTO_OK);
	assert_true(net_session_has_partial(p->relay));
	assert_int_equal(alloc.n_live, idle);
	assert_int_equal(net_session_eof(p->relay), SOTTO_ERR_TRUNCATED);
	free(frames);
	pair_free(p);
	assert_int_equal(alloc.n_live, 0);
}

/* Runs the handshake and one block each way; returns the first error. */
static sotto_err sweep_run(struct pair *p)
{
	uint8_t frame[NET_TRANSPORT_FRAME_LEN], content[16] = {0};
	uint32_t seed = 5;
	sotto_err rc;

	if ((rc = net_session_new_client(p->ctx, NULL, p->relay_kp.pub, &p->client)) != SOTTO_OK ||
	    (rc = net_session_new_relay(p->ctx, NULL, &p->relay_kp, &p->relay)) != SOTTO_OK ||
	    (rc = net_session_start(p->client, p->msg1)) != SOTTO_OK ||
	    (rc = feed_chunked(p->relay, p->msg1, sizeof(p->msg1), 20, &seed, &p->rrec)) !=
	            SOTTO_OK ||
	    (rc = feed_chunked(p->client, p->rrec.out, p->rrec.out_len, 20, &seed, &p->crec)) !=
	            SOTTO_OK)
		return rc;
	block_content(0, content, block_len_of(0));
	if ((rc = net_session_send_block(p->client, content, block_len_of(0), frame)) != SOTTO_OK ||
	    (rc = feed_chunked(p->relay, frame, sizeof(frame), 5000, &seed, &p->rrec)) != SOTTO_OK)
		return rc;
	block_content(0, content, block_len_of(0));
	if ((rc = net_session_send_block(p->relay, content, block_len_of(0), frame)) != SOTTO_OK ||
	    (rc = feed_chunked(p->client, frame, sizeof(frame), 7000, &seed, &p->crec)) != SOTTO_OK)
		return rc;
	return SOTTO_OK;
}

static void session__nomem__allocation_sweep(void **state)
{
	unsigned n_failed = 0;
	(void)state;

	for (unsigned long k = 1;; k++) {
		struct tu_alloc alloc = {0};
		struct pair *p = pair_new(&alloc, 70);
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc = sweep_run(p);
		bool hit = alloc.n_allocs >= alloc.fail_at;
		pair_free(p);
		assert_int_equal(alloc.n_live, 0);
		if (!hit) {
			assert_int_equal(rc, SOTTO_OK);
			break;
		}
		if (rc != SOTTO_ERR_NOMEM)
			fail_msg("allocation %lu failed, got %s", k, sotto_strerror(rc));
		n_failed++;
		assert_true(k < 100);
	}
	/* sessions, handshakes, partial frames on both sides */
	assert_true(n_failed >= 6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(session__roundtrip__random_chunkings),
	        cmocka_unit_test(session__distinct_ids__two_handshakes),
	        cmocka_unit_test(session__wire_format__matches_raw_noise_peer),
	        cmocka_unit_test(session__protocol__bad_padding),
	        cmocka_unit_test(session__protocol__malformed_version_range),
	        cmocka_unit_test(session__frame_size__msg1_payload_length),
	        cmocka_unit_test(session__protocol__relay_picks_foreign_version),
	        cmocka_unit_test(session__auth__wrong_pinned_key),
	        cmocka_unit_test(session__auth__replayed_msg2),
	        cmocka_unit_test(session__weak_key__low_order_points),
	        cmocka_unit_test(session__specific_error__msg1_truncations_and_flips),
	        cmocka_unit_test(session__frame_size__every_msg1_length),
	        cmocka_unit_test(session__specific_error__msg2_truncations_and_flips),
	        cmocka_unit_test(session__specific_error__transport_truncations_and_flips),
	        cmocka_unit_test(session__frame_size__transport_lengths),
	        cmocka_unit_test(session__version__no_common_version),
	        cmocka_unit_test(session__version__highest_common),
	        cmocka_unit_test(session__rekey__interval_3_twenty_blocks),
	        cmocka_unit_test(session__rekey__mismatch_fails_after_interval),
	        cmocka_unit_test(session__state__misuse),
	        cmocka_unit_test(session__send_block__content_in_frame),
	        cmocka_unit_test(session__cancelled__callback_stops_feed),
	        cmocka_unit_test(session__memory__partial_buffer_only_while_incomplete),
	        cmocka_unit_test(session__nomem__allocation_sweep),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
