/* SPDX-License-Identifier: MIT */
/*
 * noise_test.c - Noise NK: the published NK-family vectors (cacophony and
 * snow) replayed through both roles, CipherState nonce and rekey rules,
 * hostile handshake messages (every truncation and bit flip, low-order
 * points, a relay with the wrong key), the state machine, and allocation
 * failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/aead.h"
#include "crypto/x25519.h"
#include "net/noise.h"
#include "test_util.h"

enum { BUF_LEN = 1024 };

static const char *const prologue_text = "sotto test prologue";

/* ---- vectors ---- */

struct vec_name {
	const char *name;
	enum noise_pattern pattern;
};

static const struct vec_name vec_names[] = {
        {"Noise_NK_25519_ChaChaPoly_BLAKE2b", NOISE_PATTERN_NK},
        {"Noise_NK1_25519_ChaChaPoly_BLAKE2b", NOISE_PATTERN_NK1},
        {"Noise_NKpsk0_25519_ChaChaPoly_BLAKE2b", NOISE_PATTERN_NKPSK0},
        {"Noise_NKpsk2_25519_ChaChaPoly_BLAKE2b", NOISE_PATTERN_NKPSK2},
};

static bool vec_pattern(const char *name, enum noise_pattern *out)
{
	for (size_t i = 0; i < sizeof(vec_names) / sizeof(vec_names[0]); i++) {
		if (strcmp(name, vec_names[i].name) == 0) {
			*out = vec_names[i].pattern;
			return true;
		}
	}
	return false;
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (s == NULL)
		fail_msg("vector field %s missing", key);
	return s;
}

/* First psk of a vector's init_psks/resp_psks array, copied into out. */
static void vec_psk(json_t *v, const char *key, uint8_t out[32])
{
	json_t *arr = json_object_get(v, key);
	assert_true(json_array_size(arr) == 1);
	tu_hex_fixed(json_string_value(json_array_get(arr, 0)), out, 32);
}

struct vec_side {
	struct tu_rng rng;
	sotto_ctx *ctx;
	struct noise_nk *hs;
	struct noise_cipher send, recv;
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t eph[32];
};

static void vec_new_sides(json_t *v, enum noise_pattern pat, struct vec_side *ini,
                          struct vec_side *resp)
{
	bool has_psk = pat == NOISE_PATTERN_NKPSK0 || pat == NOISE_PATTERN_NKPSK2;
	uint8_t resp_priv[32], rs[32], psk_i[32], psk_r[32];
	struct x25519_keypair s;
	size_t pro_i_len = 0, pro_r_len = 0;
	uint8_t *pro_i = tu_hex(jstr(v, "init_prologue"), &pro_i_len);
	uint8_t *pro_r = tu_hex(jstr(v, "resp_prologue"), &pro_r_len);

	tu_hex_fixed(jstr(v, "init_ephemeral"), ini->eph, 32);
	tu_hex_fixed(jstr(v, "resp_ephemeral"), resp->eph, 32);
	tu_hex_fixed(jstr(v, "resp_static"), resp_priv, 32);
	tu_hex_fixed(jstr(v, "init_remote_static"), rs, 32);
	assert_int_equal(x25519_keypair_from_private(resp_priv, &s), SOTTO_OK);
	assert_memory_equal(s.pub, rs, 32); /* the vector is self-consistent */
	if (has_psk) {
		vec_psk(v, "init_psks", psk_i);
		vec_psk(v, "resp_psks", psk_r);
	}
	tu_rng_init(&ini->rng, 1);
	tu_rng_init(&resp->rng, 2);
	ini->ctx = tu_ctx(NULL, &ini->rng, NULL);
	resp->ctx = tu_ctx(NULL, &resp->rng, NULL);
	assert_int_equal(noise_nk_new_pattern(ini->ctx, pat, NOISE_INITIATOR, pro_i, pro_i_len,
	                                      NULL, rs, has_psk ? psk_i : NULL, &ini->hs),
	                 SOTTO_OK);
	assert_int_equal(noise_nk_new_pattern(resp->ctx, pat, NOISE_RESPONDER, pro_r, pro_r_len, &s,
	                                      NULL, has_psk ? psk_r : NULL, &resp->hs),
	                 SOTTO_OK);
	x25519_keypair_clear(&s);
	free(pro_i);
	free(pro_r);
}

/* Handshake message i: the sender draws its vector ephemeral, writes, the peer reads. */
static void vec_handshake_msg(json_t *m, struct vec_side *from, struct vec_side *to)
{
	size_t pl_len = 0, ct_len = 0, n = 0, got = 0;
	uint8_t *pl = tu_hex(jstr(m, "payload"), &pl_len);
	uint8_t *ct = tu_hex(jstr(m, "ciphertext"), &ct_len);
	uint8_t out[BUF_LEN], back[BUF_LEN];

	tu_rng_push(&from->rng, from->eph, 32);
	assert_int_equal(noise_nk_message_len(from->hs, pl_len), ct_len);
	assert_int_equal(noise_nk_write(from->hs, pl, pl_len, out, sizeof(out), &n), SOTTO_OK);
	assert_int_equal(n, ct_len);
	assert_memory_equal(out, ct, ct_len);
	assert_int_equal(noise_nk_read(to->hs, out, n, back, sizeof(back), &got), SOTTO_OK);
	assert_int_equal(got, pl_len);
	if (pl_len > 0)
		assert_memory_equal(back, pl, pl_len);
	free(pl);
	free(ct);
}

static void vec_transport_msg(json_t *m, struct vec_side *from, struct vec_side *to)
{
	size_t pl_len = 0, ct_len = 0;
	uint8_t *pl = tu_hex(jstr(m, "payload"), &pl_len);
	uint8_t *ct = tu_hex(jstr(m, "ciphertext"), &ct_len);
	uint8_t out[BUF_LEN], back[BUF_LEN];

	assert_int_equal(ct_len, pl_len + NOISE_TAG_LEN);
	assert_int_equal(noise_cipher_encrypt(&from->send, NULL, 0, pl, pl_len, out), SOTTO_OK);
	assert_memory_equal(out, ct, ct_len);
	assert_int_equal(noise_cipher_decrypt(&to->recv, NULL, 0, out, ct_len, back), SOTTO_OK);
	if (pl_len > 0)
		assert_memory_equal(back, pl, pl_len);
	free(pl);
	free(ct);
}

static void vec_free_side(struct vec_side *s)
{
	noise_nk_free(s->hs);
	noise_cipher_clear(&s->send);
	noise_cipher_clear(&s->recv);
	sotto_ctx_free(s->ctx);
}

static void run_vector(json_t *v, enum noise_pattern pat)
{
	struct vec_side ini = {0}, resp = {0};
	json_t *msgs = json_object_get(v, "messages");
	json_t *hh = json_object_get(v, "handshake_hash");

	assert_true(json_array_size(msgs) >= 2);
	vec_new_sides(v, pat, &ini, &resp);
	vec_handshake_msg(json_array_get(msgs, 0), &ini, &resp);
	assert_false(noise_nk_is_complete(ini.hs));
	vec_handshake_msg(json_array_get(msgs, 1), &resp, &ini);
	assert_true(noise_nk_is_complete(ini.hs));
	assert_true(noise_nk_is_complete(resp.hs));
	/* Each side drew exactly its one ephemeral key. */
	assert_int_equal(ini.rng.n_queued, 0);
	assert_int_equal(resp.rng.n_queued, 0);
	assert_int_equal(noise_nk_split(ini.hs, &ini.send, &ini.recv, ini.hash), SOTTO_OK);
	assert_int_equal(noise_nk_split(resp.hs, &resp.send, &resp.recv, resp.hash), SOTTO_OK);
	assert_memory_equal(ini.hash, resp.hash, NOISE_HASH_LEN);
	if (hh != NULL) {
		uint8_t want[NOISE_HASH_LEN];
		tu_hex_fixed(json_string_value(hh), want, sizeof(want));
		assert_memory_equal(ini.hash, want, sizeof(want));
	}
	for (size_t i = 2; i < json_array_size(msgs); i++) {
		if (i % 2 == 0)
			vec_transport_msg(json_array_get(msgs, i), &ini, &resp);
		else
			vec_transport_msg(json_array_get(msgs, i), &resp, &ini);
	}
	vec_free_side(&ini);
	vec_free_side(&resp);
}

/* Runs every NK-family entry of file; returns how many ran. */
static size_t run_vector_file(const char *file)
{
	json_t *root = tu_load_vectors(file);
	json_t *vecs = json_object_get(root, "vectors");
	size_t n_run = 0;

	assert_true(json_array_size(vecs) > 0);
	for (size_t i = 0; i < json_array_size(vecs); i++) {
		json_t *v = json_array_get(vecs, i);
		enum noise_pattern pat;
		if (!vec_pattern(jstr(v, "protocol_name"), &pat))
			continue;
		run_vector(v, pat);
		n_run++;
	}
	json_decref(root);
	return n_run;
}

static void noise_nk__matches_vectors__cacophony(void **state)
{
	(void)state;
	/* NK, NKpsk0, NKpsk2, NK1 */
	assert_int_equal(run_vector_file("noise/cacophony_25519_ChaChaPoly_BLAKE2b.json"), 4);
}

static void noise_nk__matches_vectors__snow(void **state)
{
	(void)state;
	/* NK, NK1 */
	assert_int_equal(run_vector_file("noise/snow_25519_ChaChaPoly_BLAKE2b.json"), 2);
}

/* ---- CipherState ---- */

static void fixed_key(uint8_t k[NOISE_KEY_LEN], uint8_t seed)
{
	for (unsigned i = 0; i < NOISE_KEY_LEN; i++)
		k[i] = (uint8_t)(seed + i);
}

static void noise_cipher__nonce_exhausted__at_reserved_nonce(void **state)
{
	struct noise_cipher a, b;
	uint8_t k[NOISE_KEY_LEN], pt[5] = {1, 2, 3, 4, 5}, ct[5 + NOISE_TAG_LEN], back[5];
	(void)state;

	fixed_key(k, 7);
	noise_cipher_init(&a, k);
	noise_cipher_init(&b, k);
	noise_cipher_set_nonce(&a, NOISE_NONCE_MAX - 1);
	noise_cipher_set_nonce(&b, NOISE_NONCE_MAX - 1);
	assert_int_equal(noise_cipher_encrypt(&a, NULL, 0, pt, sizeof(pt), ct), SOTTO_OK);
	assert_true(a.n == NOISE_NONCE_MAX);
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, sizeof(ct), back), SOTTO_OK);
	assert_memory_equal(back, pt, sizeof(pt));
	assert_int_equal(noise_cipher_encrypt(&a, NULL, 0, pt, sizeof(pt), ct),
	                 SOTTO_ERR_NONCE_EXHAUSTED);
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, sizeof(ct), back),
	                 SOTTO_ERR_NONCE_EXHAUSTED);
	assert_true(a.n == NOISE_NONCE_MAX);
	noise_cipher_clear(&a);
	noise_cipher_clear(&b);
}

static void noise_cipher__nonce_unchanged__decrypt_fails(void **state)
{
	struct noise_cipher a, b;
	uint8_t k[NOISE_KEY_LEN], pt[8] = "payload", ct[8 + NOISE_TAG_LEN], back[8];
	uint8_t zero[8] = {0};
	(void)state;

	fixed_key(k, 1);
	noise_cipher_init(&a, k);
	noise_cipher_init(&b, k);
	noise_cipher_set_nonce(&a, 5);
	noise_cipher_set_nonce(&b, 5);
	assert_int_equal(noise_cipher_encrypt(&a, NULL, 0, pt, sizeof(pt), ct), SOTTO_OK);
	ct[3] ^= 0x10;
	memset(back, 0xaa, sizeof(back));
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, sizeof(ct), back), SOTTO_ERR_AUTH);
	assert_true(b.n == 5);
	assert_memory_equal(back, zero, sizeof(zero)); /* no unauthenticated bytes */
	ct[3] ^= 0x10;
	assert_int_equal(noise_cipher_decrypt(&b, NULL, 0, ct, sizeof(ct), back), SOTTO_OK);
	assert_true(b.n == 6);
	assert_memory_equal(back, pt, sizeof(pt));
	noise_cipher_clear(&a);
	noise_cipher_clear(&b);
}

static void noise_cipher__copies__without_key(void **state)
{
	struct noise_cipher c = {0};
	uint8_t pt[4] = {9, 8, 7, 6}, ct[4] = {0};
	(void)state;

	assert_int_equal(noise_cipher_encrypt(&c, NULL, 0, pt, sizeof(pt), ct), SOTTO_OK);
	assert_memory_equal(ct, pt, sizeof(pt));
	assert_true(c.n == 0);
	memset(pt, 0, sizeof(pt));
	assert_int_equal(noise_cipher_decrypt(&c, NULL, 0, ct, sizeof(ct), pt), SOTTO_OK);
	assert_memory_equal(ct, pt, sizeof(pt));
	assert_true(c.n == 0);
}

static void noise_cipher__too_large__over_message_max(void **state)
{
	struct noise_cipher c;
	uint8_t k[NOISE_KEY_LEN];
	uint8_t *buf = calloc(NOISE_MSG_MAX + 1, 1);
	(void)state;

	assert_non_null(buf);
	fixed_key(k, 3);
	noise_cipher_init(&c, k);
	assert_int_equal(noise_cipher_encrypt(&c, NULL, 0, buf, NOISE_PAYLOAD_MAX + 1, buf),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(noise_cipher_decrypt(&c, NULL, 0, buf, NOISE_MSG_MAX + 1, buf),
	                 SOTTO_ERR_TOO_LARGE);
	assert_true(c.n == 0);
	/* The largest payload fits, in place. */
	assert_int_equal(noise_cipher_encrypt(&c, NULL, 0, buf, NOISE_PAYLOAD_MAX, buf), SOTTO_OK);
	noise_cipher_clear(&c);
	free(buf);
}

static void noise_cipher__rekey_matches_spec__encrypt_at_max_nonce(void **state)
{
	struct noise_cipher c;
	uint8_t k[NOISE_KEY_LEN], zeros[32] = {0}, out[32 + NOISE_TAG_LEN];
	uint8_t nonce[AEAD_IETF_NONCE_LEN] = {0,    0,    0,    0,    0xff, 0xff,
	                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	(void)state;

	fixed_key(k, 0x40);
	noise_cipher_init(&c, k);
	noise_cipher_set_nonce(&c, 12345);
	assert_int_equal(aead_ietf_encrypt(out, zeros, sizeof(zeros), NULL, 0, nonce, k), SOTTO_OK);
	noise_cipher_rekey(&c);
	assert_memory_equal(c.k, out, NOISE_KEY_LEN);
	assert_memory_not_equal(c.k, k, NOISE_KEY_LEN);
	assert_true(c.n == 12345);
	assert_true(c.has_key);
	noise_cipher_clear(&c);
}

/* ---- handshake helpers ---- */

struct pair {
	struct tu_rng rng_i, rng_r;
	sotto_ctx *ctx_i, *ctx_r;
	struct x25519_keypair s;
	struct noise_nk *hs_i, *hs_r;
	uint8_t msg1[BUF_LEN], msg2[BUF_LEN];
	size_t msg1_len, msg2_len;
};

static void pair_keys(struct pair *p, uint64_t seed)
{
	tu_rng_init(&p->rng_i, seed);
	tu_rng_init(&p->rng_r, seed + 1000);
	p->ctx_i = tu_ctx(NULL, &p->rng_i, NULL);
	p->ctx_r = tu_ctx(NULL, &p->rng_r, NULL);
	x25519_keypair_generate(p->ctx_r, &p->s);
}

static void pair_new_initiator(struct pair *p, const uint8_t rs[32])
{
	assert_int_equal(noise_nk_new(p->ctx_i, NOISE_INITIATOR, (const uint8_t *)prologue_text,
	                              strlen(prologue_text), NULL, rs, &p->hs_i),
	                 SOTTO_OK);
}

static void pair_new_responder(struct pair *p)
{
	assert_int_equal(noise_nk_new(p->ctx_r, NOISE_RESPONDER, (const uint8_t *)prologue_text,
	                              strlen(prologue_text), &p->s, NULL, &p->hs_r),
	                 SOTTO_OK);
}

/* Builds both sides and runs msg1 (payload "hello") and msg2 (payload "welcome!"). */
static void pair_handshake(struct pair *p, uint64_t seed)
{
	uint8_t pl[BUF_LEN];
	size_t pl_len = 0;

	pair_keys(p, seed);
	pair_new_initiator(p, p->s.pub);
	pair_new_responder(p);
	assert_int_equal(noise_nk_write(p->hs_i, (const uint8_t *)"hello", 5, p->msg1,
	                                sizeof(p->msg1), &p->msg1_len),
	                 SOTTO_OK);
	assert_int_equal(p->msg1_len, 32 + 5 + NOISE_TAG_LEN);
	assert_int_equal(noise_nk_read(p->hs_r, p->msg1, p->msg1_len, pl, sizeof(pl), &pl_len),
	                 SOTTO_OK);
	assert_int_equal(pl_len, 5);
	assert_memory_equal(pl, "hello", 5);
	assert_int_equal(noise_nk_write(p->hs_r, (const uint8_t *)"welcome!", 8, p->msg2,
	                                sizeof(p->msg2), &p->msg2_len),
	                 SOTTO_OK);
	assert_int_equal(p->msg2_len, 32 + 8 + NOISE_TAG_LEN);
	assert_int_equal(noise_nk_read(p->hs_i, p->msg2, p->msg2_len, pl, sizeof(pl), &pl_len),
	                 SOTTO_OK);
	assert_int_equal(pl_len, 8);
	assert_memory_equal(pl, "welcome!", 8);
}

static void pair_free(struct pair *p)
{
	noise_nk_free(p->hs_i);
	noise_nk_free(p->hs_r);
	x25519_keypair_clear(&p->s);
	sotto_ctx_free(p->ctx_i);
	sotto_ctx_free(p->ctx_r);
}

/* ---- handshake ---- */

static void noise_nk__round_trip__empty_and_full_payloads(void **state)
{
	struct pair p = {0};
	struct noise_cipher si, ri, sr, rr;
	uint8_t hi[NOISE_HASH_LEN], hr[NOISE_HASH_LEN], ct[64], pt[64];
	(void)state;

	pair_handshake(&p, 11);
	assert_true(noise_nk_is_complete(p.hs_i));
	assert_int_equal(noise_nk_message_len(p.hs_i, 0), 0); /* nothing due */
	assert_int_equal(noise_nk_split(p.hs_i, &si, &ri, hi), SOTTO_OK);
	assert_int_equal(noise_nk_split(p.hs_r, &sr, &rr, hr), SOTTO_OK);
	assert_memory_equal(hi, hr, sizeof(hi));
	assert_memory_equal(si.k, rr.k, NOISE_KEY_LEN);
	assert_memory_equal(sr.k, ri.k, NOISE_KEY_LEN);
	assert_memory_not_equal(si.k, ri.k, NOISE_KEY_LEN);
	assert_int_equal(noise_cipher_encrypt(&si, NULL, 0, (const uint8_t *)"ping", 4, ct),
	                 SOTTO_OK);
	assert_int_equal(noise_cipher_decrypt(&rr, NULL, 0, ct, 4 + NOISE_TAG_LEN, pt), SOTTO_OK);
	assert_memory_equal(pt, "ping", 4);
	/* Split works once: the keys are gone afterwards. */
	assert_int_equal(noise_nk_split(p.hs_i, &si, &ri, hi), SOTTO_ERR_STATE);
	assert_false(si.has_key);
	pair_free(&p);
}

static void noise_nk__48_byte_messages__empty_payloads(void **state)
{
	struct pair p = {0};
	uint8_t m[BUF_LEN];
	size_t n = 0, got = 1;
	(void)state;

	pair_keys(&p, 12);
	pair_new_initiator(&p, p.s.pub);
	pair_new_responder(&p);
	assert_int_equal(noise_nk_message_len(p.hs_i, 0), 48);
	assert_int_equal(noise_nk_write(p.hs_i, NULL, 0, m, sizeof(m), &n), SOTTO_OK);
	assert_int_equal(n, 48);
	assert_int_equal(noise_nk_read(p.hs_r, m, n, NULL, 0, &got), SOTTO_OK);
	assert_int_equal(got, 0);
	assert_int_equal(noise_nk_message_len(p.hs_r, 0), 48);
	assert_int_equal(noise_nk_write(p.hs_r, NULL, 0, m, 48, &n), SOTTO_OK);
	assert_int_equal(n, 48);
	got = 1;
	assert_int_equal(noise_nk_read(p.hs_i, m, n, NULL, 0, &got), SOTTO_OK);
	assert_int_equal(got, 0);
	assert_true(noise_nk_is_complete(p.hs_i));
	assert_true(noise_nk_is_complete(p.hs_r));
	pair_free(&p);
}

/* Counts the bytes a context's RNG hands out. */
struct counting_rng {
	struct tu_rng rng;
	size_t n_bytes;
};

static void counting_rng_fill(void *user, uint8_t *buf, size_t len)
{
	struct counting_rng *c = user;
	c->n_bytes += len;
	tu_rng_fill(&c->rng, buf, len);
}

static void noise_nk__one_keygen_no_alloc__per_side(void **state)
{
	struct counting_rng cr_i, cr_r;
	struct tu_alloc al_i = {0}, al_r = {0};
	struct sotto_allocator hk_i, hk_r;
	struct sotto_ctx_config cfg_i = {.allocator = &hk_i, .rng = counting_rng_fill};
	struct sotto_ctx_config cfg_r = {.allocator = &hk_r, .rng = counting_rng_fill};
	sotto_ctx *ci = NULL, *cr = NULL;
	struct noise_nk *hi = NULL, *hr = NULL;
	struct x25519_keypair s;
	uint8_t m1[64], m2[64];
	size_t n1 = 0, n2 = 0, got = 0;
	(void)state;

	memset(&cr_i, 0, sizeof(cr_i));
	memset(&cr_r, 0, sizeof(cr_r));
	tu_rng_init(&cr_i.rng, 21);
	tu_rng_init(&cr_r.rng, 22);
	cfg_i.rng_user = &cr_i;
	cfg_r.rng_user = &cr_r;
	tu_alloc_hooks(&al_i, &hk_i);
	tu_alloc_hooks(&al_r, &hk_r);
	assert_int_equal(sotto_ctx_new(&ci, &cfg_i), SOTTO_OK);
	assert_int_equal(sotto_ctx_new(&cr, &cfg_r), SOTTO_OK);
	x25519_keypair_generate(cr, &s);
	cr_r.n_bytes = 0;
	assert_int_equal(noise_nk_new(ci, NOISE_INITIATOR, NULL, 0, NULL, s.pub, &hi), SOTTO_OK);
	assert_int_equal(noise_nk_new(cr, NOISE_RESPONDER, NULL, 0, &s, NULL, &hr), SOTTO_OK);
	unsigned long allocs_i = al_i.n_allocs, allocs_r = al_r.n_allocs;
	assert_int_equal(noise_nk_write(hi, NULL, 0, m1, sizeof(m1), &n1), SOTTO_OK);
	assert_int_equal(noise_nk_read(hr, m1, n1, NULL, 0, &got), SOTTO_OK);
	assert_int_equal(noise_nk_write(hr, NULL, 0, m2, sizeof(m2), &n2), SOTTO_OK);
	assert_int_equal(noise_nk_read(hi, m2, n2, NULL, 0, &got), SOTTO_OK);
	assert_true(noise_nk_is_complete(hi));
	assert_int_equal(cr_i.n_bytes, X25519_KEY_LEN);
	assert_int_equal(cr_r.n_bytes, X25519_KEY_LEN);
	assert_int_equal(al_i.n_allocs, allocs_i); /* messages allocate nothing */
	assert_int_equal(al_r.n_allocs, allocs_r);
	noise_nk_free(hi);
	noise_nk_free(hr);
	x25519_keypair_clear(&s);
	assert_int_equal(al_i.n_live, 1); /* only the context itself */
	assert_int_equal(al_r.n_live, 1);
	sotto_ctx_free(ci);
	sotto_ctx_free(cr);
}

static void check_dead(struct noise_nk *hs)
{
	uint8_t buf[BUF_LEN], h[NOISE_HASH_LEN];
	struct noise_cipher a, b;
	size_t n = 0;

	assert_false(noise_nk_is_complete(hs));
	assert_int_equal(noise_nk_message_len(hs, 0), 0);
	assert_int_equal(noise_nk_write(hs, NULL, 0, buf, sizeof(buf), &n), SOTTO_ERR_STATE);
	assert_int_equal(noise_nk_read(hs, buf, 48, buf, sizeof(buf), &n), SOTTO_ERR_STATE);
	assert_int_equal(noise_nk_split(hs, &a, &b, h), SOTTO_ERR_STATE);
}

static void noise_nk__state__wrong_order(void **state)
{
	struct pair p = {0};
	uint8_t m[BUF_LEN], pl[BUF_LEN];
	size_t n = 0, got = 0;
	(void)state;

	pair_keys(&p, 13);
	pair_new_initiator(&p, p.s.pub);
	pair_new_responder(&p);
	memset(m, 0x55, sizeof(m));
	/* The initiator speaks first: its read and the responder's write are refused. */
	assert_int_equal(noise_nk_read(p.hs_i, m, 48, pl, sizeof(pl), &got), SOTTO_ERR_STATE);
	assert_int_equal(noise_nk_write(p.hs_r, NULL, 0, m, sizeof(m), &n), SOTTO_ERR_STATE);
	assert_int_equal(n, 0);
	check_dead(p.hs_i);
	check_dead(p.hs_r);
	noise_nk_free(p.hs_i);
	noise_nk_free(p.hs_r);
	p.hs_i = p.hs_r = NULL;

	/* Writing twice in a row, and splitting early, are refused too. */
	pair_new_initiator(&p, p.s.pub);
	assert_int_equal(noise_nk_write(p.hs_i, NULL, 0, m, sizeof(m), &n), SOTTO_OK);
	assert_int_equal(noise_nk_write(p.hs_i, NULL, 0, m, sizeof(m), &n), SOTTO_ERR_STATE);
	check_dead(p.hs_i);
	pair_new_responder(&p);
	struct noise_cipher a, b;
	uint8_t h[NOISE_HASH_LEN];
	assert_int_equal(noise_nk_split(p.hs_r, &a, &b, h), SOTTO_ERR_STATE);
	check_dead(p.hs_r);
	pair_free(&p);
}

static void noise_nk__truncated__shorter_than_pattern(void **state)
{
	struct pair p = {0};
	uint8_t m[BUF_LEN], pl[BUF_LEN];
	size_t n = 0, got = 0;
	(void)state;

	pair_keys(&p, 14);
	pair_new_initiator(&p, p.s.pub);
	pair_new_responder(&p);
	assert_int_equal(noise_nk_write(p.hs_i, NULL, 0, m, sizeof(m), &n), SOTTO_OK);
	assert_int_equal(noise_nk_read(p.hs_r, m, 47, pl, sizeof(pl), &got), SOTTO_ERR_TRUNCATED);
	check_dead(p.hs_r);
	pair_free(&p);
}

static void noise_nk__too_large__buffers_or_message(void **state)
{
	struct pair p = {0};
	uint8_t m[BUF_LEN], pl[BUF_LEN] = {0};
	uint8_t *big = calloc(NOISE_MSG_MAX + 1, 1), *big2 = calloc(NOISE_MSG_MAX, 1);
	size_t n = 0, got = 0;
	(void)state;

	assert_non_null(big);
	assert_non_null(big2);
	pair_keys(&p, 15);
	/* out_cap one byte short of msg1 carrying 10 bytes */
	pair_new_initiator(&p, p.s.pub);
	assert_int_equal(noise_nk_write(p.hs_i, pl, 10, m, 32 + 10 + 15, &n), SOTTO_ERR_TOO_LARGE);
	noise_nk_free(p.hs_i);
	/* payload that would take msg1 over 65535 bytes */
	pair_new_initiator(&p, p.s.pub);
	assert_int_equal(
	        noise_nk_write(p.hs_i, big, NOISE_MSG_MAX - 47, big, NOISE_MSG_MAX + 1, &n),
	        SOTTO_ERR_TOO_LARGE);
	noise_nk_free(p.hs_i);
	/* The largest msg1 works. */
	pair_new_initiator(&p, p.s.pub);
	assert_int_equal(noise_nk_write(p.hs_i, big2, NOISE_MSG_MAX - 48, big, NOISE_MSG_MAX, &n),
	                 SOTTO_OK);
	assert_int_equal(n, NOISE_MSG_MAX);
	/* Reader side: message over the limit, payload buffer too small. */
	pair_new_responder(&p);
	assert_int_equal(noise_nk_read(p.hs_r, big, NOISE_MSG_MAX + 1, big, NOISE_MSG_MAX, &got),
	                 SOTTO_ERR_TOO_LARGE);
	noise_nk_free(p.hs_r);
	pair_new_responder(&p);
	assert_int_equal(noise_nk_read(p.hs_r, big, n, pl, sizeof(pl), &got), SOTTO_ERR_TOO_LARGE);
	check_dead(p.hs_r);
	free(big);
	free(big2);
	pair_free(&p);
}

static void noise_nk__weak_key__low_order_e_in_msg1(void **state)
{
	/* u = 0 and a point of order 8 (RFC 7748 §5 / libsodium's blacklist). */
	static const char *const low_order[] = {
	        "0000000000000000000000000000000000000000000000000000000000000000",
	        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	};
	struct pair p = {0};
	uint8_t m[48] = {0}, pl[16];
	size_t got = 0;
	(void)state;

	pair_keys(&p, 16);
	for (size_t i = 0; i < 2; i++) {
		tu_hex_fixed(low_order[i], m, 32);
		pair_new_responder(&p);
		assert_int_equal(noise_nk_read(p.hs_r, m, sizeof(m), pl, sizeof(pl), &got),
		                 SOTTO_ERR_WEAK_KEY);
		check_dead(p.hs_r);
		noise_nk_free(p.hs_r);
		p.hs_r = NULL;
	}
	pair_free(&p);
}

/*
 * A relay holding another static key answers: it receives a msg1 built with
 * the initiator's very ephemeral key (same scripted RNG) but for its own key,
 * and replies; the initiator, who pinned the real key, must reject msg2.
 */
static void noise_nk__auth__responder_has_other_static_key(void **state)
{
	struct pair real = {0}, fake = {0};
	uint8_t m1[BUF_LEN], m1f[BUF_LEN], m2[BUF_LEN], pl[BUF_LEN];
	size_t n1 = 0, n1f = 0, n2 = 0, got = 0;
	(void)state;

	pair_keys(&real, 17);
	pair_keys(&fake, 17 + 50);
	pair_new_initiator(&real, real.s.pub);
	assert_int_equal(noise_nk_write(real.hs_i, NULL, 0, m1, sizeof(m1), &n1), SOTTO_OK);
	/* The fake relay cannot read msg1 meant for the real one. */
	pair_new_responder(&fake);
	assert_int_equal(noise_nk_read(fake.hs_r, m1, n1, pl, sizeof(pl), &got), SOTTO_ERR_AUTH);
	noise_nk_free(fake.hs_r);
	fake.hs_r = NULL;
	/* Same ephemeral, addressed to the fake key. */
	tu_rng_init(&fake.rng_i, 17);
	pair_new_initiator(&fake, fake.s.pub);
	assert_int_equal(noise_nk_write(fake.hs_i, NULL, 0, m1f, sizeof(m1f), &n1f), SOTTO_OK);
	assert_memory_equal(m1f, m1, 32);
	pair_new_responder(&fake);
	assert_int_equal(noise_nk_read(fake.hs_r, m1f, n1f, pl, sizeof(pl), &got), SOTTO_OK);
	assert_int_equal(noise_nk_write(fake.hs_r, NULL, 0, m2, sizeof(m2), &n2), SOTTO_OK);
	assert_int_equal(noise_nk_read(real.hs_i, m2, n2, pl, sizeof(pl), &got), SOTTO_ERR_AUTH);
	check_dead(real.hs_i);
	pair_free(&real);
	pair_free(&fake);
}

/* Expected error for a msg of len bytes when the intact one has min_len and more. */
static sotto_err expect_for_len(size_t len)
{
	return len < 48 ? SOTTO_ERR_TRUNCATED : SOTTO_ERR_AUTH;
}

static void noise_nk__rejects__every_truncation_and_bit_flip_of_msg1(void **state)
{
	struct pair p = {0};
	uint8_t m[BUF_LEN], pl[BUF_LEN];
	size_t got = 0, n_tried = 0;
	(void)state;

	pair_handshake(&p, 18);
	noise_nk_free(p.hs_r);
	p.hs_r = NULL;
	for (size_t len = 0; len < p.msg1_len; len++) {
		pair_new_responder(&p);
		assert_int_equal(noise_nk_read(p.hs_r, p.msg1, len, pl, sizeof(pl), &got),
		                 expect_for_len(len));
		noise_nk_free(p.hs_r);
		n_tried++;
	}
	for (size_t bit = 0; bit < 8 * p.msg1_len; bit++) {
		memcpy(m, p.msg1, p.msg1_len);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		pair_new_responder(&p);
		assert_int_equal(noise_nk_read(p.hs_r, m, p.msg1_len, pl, sizeof(pl), &got),
		                 SOTTO_ERR_AUTH);
		assert_int_equal(got, 0);
		noise_nk_free(p.hs_r);
		n_tried++;
	}
	p.hs_r = NULL;
	assert_int_equal(n_tried, 9 * p.msg1_len);
	pair_free(&p);
}

/* A fresh initiator (same ephemeral as pair_handshake's) reads msg2 variant m. */
static sotto_err initiator_reads(struct pair *p, uint64_t seed, const uint8_t *m, size_t len)
{
	uint8_t m1[BUF_LEN], pl[BUF_LEN];
	size_t n = 0, got = 0;

	noise_nk_free(p->hs_i);
	tu_rng_init(&p->rng_i, seed);
	pair_new_initiator(p, p->s.pub);
	assert_int_equal(noise_nk_write(p->hs_i, (const uint8_t *)"hello", 5, m1, sizeof(m1), &n),
	                 SOTTO_OK);
	assert_memory_equal(m1, p->msg1, n);
	sotto_err rc = noise_nk_read(p->hs_i, m, len, pl, sizeof(pl), &got);
	if (rc != SOTTO_OK)
		assert_int_equal(got, 0);
	return rc;
}

static void noise_nk__rejects__every_truncation_and_bit_flip_of_msg2(void **state)
{
	struct pair p = {0};
	uint8_t m[BUF_LEN];
	size_t n_tried = 0;
	(void)state;

	pair_handshake(&p, 19);
	/* The harness itself accepts the intact msg2. */
	assert_int_equal(initiator_reads(&p, 19, p.msg2, p.msg2_len), SOTTO_OK);
	for (size_t len = 0; len < p.msg2_len; len++) {
		assert_int_equal(initiator_reads(&p, 19, p.msg2, len), expect_for_len(len));
		n_tried++;
	}
	for (size_t bit = 0; bit < 8 * p.msg2_len; bit++) {
		memcpy(m, p.msg2, p.msg2_len);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(initiator_reads(&p, 19, m, p.msg2_len), SOTTO_ERR_AUTH);
		n_tried++;
	}
	assert_int_equal(n_tried, 9 * p.msg2_len);
	pair_free(&p);
}

static void rekey_exchange(struct noise_cipher *send, struct noise_cipher *recv, sotto_err want)
{
	uint8_t ct[16 + NOISE_TAG_LEN], pt[16];

	assert_int_equal(
	        noise_cipher_encrypt(send, NULL, 0, (const uint8_t *)"after rekey 0123", 16, ct),
	        SOTTO_OK);
	assert_int_equal(noise_cipher_decrypt(recv, NULL, 0, ct, sizeof(ct), pt), want);
	if (want == SOTTO_OK)
		assert_memory_equal(pt, "after rekey 0123", 16);
}

static void noise_cipher__rekey__both_peers_or_auth_fails(void **state)
{
	struct pair p = {0};
	struct noise_cipher si, ri, sr, rr;
	uint8_t hi[NOISE_HASH_LEN], hr[NOISE_HASH_LEN];
	(void)state;

	pair_handshake(&p, 20);
	assert_int_equal(noise_nk_split(p.hs_i, &si, &ri, hi), SOTTO_OK);
	assert_int_equal(noise_nk_split(p.hs_r, &sr, &rr, hr), SOTTO_OK);
	rekey_exchange(&si, &rr, SOTTO_OK);
	rekey_exchange(&sr, &ri, SOTTO_OK);
	/* Both directions rekeyed on both ends: they keep talking. */
	noise_cipher_rekey(&si);
	noise_cipher_rekey(&rr);
	noise_cipher_rekey(&sr);
	noise_cipher_rekey(&ri);
	rekey_exchange(&si, &rr, SOTTO_OK);
	rekey_exchange(&sr, &ri, SOTTO_OK);
	/* Only the sender rekeys: the receiver fails and keeps its nonce. */
	noise_cipher_rekey(&si);
	uint64_t n_before = rr.n;
	rekey_exchange(&si, &rr, SOTTO_ERR_AUTH);
	assert_true(rr.n == n_before);
	noise_cipher_clear(&si);
	noise_cipher_clear(&ri);
	noise_cipher_clear(&sr);
	noise_cipher_clear(&rr);
	pair_free(&p);
}

/* ---- construction ---- */

static void noise_nk_new__invalid__bad_arguments(void **state)
{
	struct pair p = {0};
	struct noise_nk *hs = (struct noise_nk *)&p; /* must be cleared */
	uint8_t psk[32] = {0}, long_prologue[NOISE_PROLOGUE_MAX + 1] = {0};
	(void)state;

	pair_keys(&p, 21);
	sotto_ctx *c = p.ctx_i;
	assert_int_equal(noise_nk_new(c, NOISE_INITIATOR, NULL, 0, NULL, NULL, &hs),
	                 SOTTO_ERR_INVALID);
	assert_null(hs);
	assert_int_equal(noise_nk_new(c, NOISE_INITIATOR, NULL, 0, &p.s, p.s.pub, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new(c, NOISE_RESPONDER, NULL, 0, NULL, NULL, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new(c, NOISE_RESPONDER, NULL, 0, &p.s, p.s.pub, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new(c, (enum noise_role)7, NULL, 0, &p.s, NULL, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new(c, NOISE_INITIATOR, NULL, 3, NULL, p.s.pub, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new(c, NOISE_INITIATOR, long_prologue, sizeof(long_prologue),
	                              NULL, p.s.pub, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new_pattern(c, NOISE_PATTERN_NK, NOISE_INITIATOR, NULL, 0, NULL,
	                                      p.s.pub, psk, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new_pattern(c, NOISE_PATTERN_NKPSK0, NOISE_INITIATOR, NULL, 0,
	                                      NULL, p.s.pub, NULL, &hs),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(noise_nk_new_pattern(c, (enum noise_pattern)4, NOISE_INITIATOR, NULL, 0,
	                                      NULL, p.s.pub, NULL, &hs),
	                 SOTTO_ERR_INVALID);
	assert_null(hs);
	/* The longest prologue is accepted. */
	assert_int_equal(noise_nk_new(c, NOISE_INITIATOR, long_prologue, NOISE_PROLOGUE_MAX, NULL,
	                              p.s.pub, &hs),
	                 SOTTO_OK);
	noise_nk_free(hs);
	noise_nk_free(NULL);
	pair_free(&p);
}

static void sweep_new(enum noise_role role)
{
	struct tu_alloc alloc = {0};
	struct tu_rng rng;
	struct x25519_keypair s;
	struct noise_nk *hs = NULL;
	unsigned long n_failed = 0;

	tu_rng_init(&rng, 22);
	sotto_ctx *ctx = tu_ctx(&alloc, &rng, NULL);
	x25519_keypair_generate(ctx, &s);
	long live = alloc.n_live;
	for (unsigned long k = 1;; k++) {
		alloc.fail_at = alloc.n_allocs + k;
		sotto_err rc = role == NOISE_INITIATOR
		                       ? noise_nk_new(ctx, role, NULL, 0, NULL, s.pub, &hs)
		                       : noise_nk_new(ctx, role, NULL, 0, &s, NULL, &hs);
		if (rc == SOTTO_OK)
			break;
		assert_int_equal(rc, SOTTO_ERR_NOMEM);
		assert_null(hs);
		assert_int_equal(alloc.n_live, live);
		n_failed++;
	}
	alloc.fail_at = 0;
	assert_true(n_failed >= 1);
	noise_nk_free(hs);
	assert_int_equal(alloc.n_live, live);
	x25519_keypair_clear(&s);
	sotto_ctx_free(ctx);
	assert_int_equal(alloc.n_live, 0);
}

static void noise_nk_new__nomem__every_allocation_fails(void **state)
{
	(void)state;
	sweep_new(NOISE_INITIATOR);
	sweep_new(NOISE_RESPONDER);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(noise_nk__matches_vectors__cacophony),
	        cmocka_unit_test(noise_nk__matches_vectors__snow),
	        cmocka_unit_test(noise_cipher__nonce_exhausted__at_reserved_nonce),
	        cmocka_unit_test(noise_cipher__nonce_unchanged__decrypt_fails),
	        cmocka_unit_test(noise_cipher__copies__without_key),
	        cmocka_unit_test(noise_cipher__too_large__over_message_max),
	        cmocka_unit_test(noise_cipher__rekey_matches_spec__encrypt_at_max_nonce),
	        cmocka_unit_test(noise_cipher__rekey__both_peers_or_auth_fails),
	        cmocka_unit_test(noise_nk__round_trip__empty_and_full_payloads),
	        cmocka_unit_test(noise_nk__48_byte_messages__empty_payloads),
	        cmocka_unit_test(noise_nk__one_keygen_no_alloc__per_side),
	        cmocka_unit_test(noise_nk__state__wrong_order),
	        cmocka_unit_test(noise_nk__truncated__shorter_than_pattern),
	        cmocka_unit_test(noise_nk__too_large__buffers_or_message),
	        cmocka_unit_test(noise_nk__weak_key__low_order_e_in_msg1),
	        cmocka_unit_test(noise_nk__auth__responder_has_other_static_key),
	        cmocka_unit_test(noise_nk__rejects__every_truncation_and_bit_flip_of_msg1),
	        cmocka_unit_test(noise_nk__rejects__every_truncation_and_bit_flip_of_msg2),
	        cmocka_unit_test(noise_nk_new__invalid__bad_arguments),
	        cmocka_unit_test(noise_nk_new__nomem__every_allocation_fails),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
