/* SPDX-License-Identifier: MIT */
/*
 * hash.c - BLAKE2b, HMAC and HKDF (crypto layer).
 *
 * HMAC (RFC 2104) and HKDF (RFC 5869) are written once, over a small
 * descriptor of an unkeyed hash (block size, output size, init/update/final),
 * and instantiated for BLAKE2b-512 (what Noise uses) and SHA-256 (so the same
 * code runs against the published HKDF-SHA-256 vectors). One copy means the
 * vectors that exercise the SHA-256 instance also vouch for the BLAKE2b one.
 *
 * Every buffer that holds key material (padded keys, inner digests, PRKs,
 * expansion blocks, hash states) is wiped with sodium_memzero before the
 * function that owns it returns. libsodium's init/update/final calls can only
 * fail for output or key lengths we never pass, so their results are unused.
 */
#include <string.h>

#include <sodium.h>

#include "crypto/hash.h"

enum {
	HASH_BLOCK_MAX = 128,  /* the largest block_len below */
	HASH_OUT_MAX = 64,     /* the largest out_len below */
	HKDF_BLOCKS_MAX = 255, /* RFC 5869: at most 255 expansion blocks */
	SHA256_BLOCK_LEN = 64,
};

union hash_state {
	crypto_generichash_blake2b_state b2;
	crypto_hash_sha256_state sha256;
};

/* An unkeyed hash as HMAC sees it. */
struct hash_desc {
	size_t block_len; /* bytes per compression block (B in RFC 2104) */
	size_t out_len;   /* digest bytes (L in RFC 2104) */
	void (*init)(union hash_state *st);
	void (*update)(union hash_state *st, const uint8_t *in, size_t in_len);
	void (*final)(union hash_state *st, uint8_t *out); /* writes out_len bytes */
};

static void b2_init(union hash_state *st)
{
	(void)crypto_generichash_blake2b_init(&st->b2, NULL, 0, BLAKE2B_LEN);
}

static void b2_update(union hash_state *st, const uint8_t *in, size_t in_len)
{
	(void)crypto_generichash_blake2b_update(&st->b2, in, in_len);
}

static void b2_final(union hash_state *st, uint8_t *out)
{
	(void)crypto_generichash_blake2b_final(&st->b2, out, BLAKE2B_LEN);
}

static void sha256_init(union hash_state *st)
{
	(void)crypto_hash_sha256_init(&st->sha256);
}

static void sha256_update(union hash_state *st, const uint8_t *in, size_t in_len)
{
	(void)crypto_hash_sha256_update(&st->sha256, in, in_len);
}

static void sha256_final(union hash_state *st, uint8_t *out)
{
	(void)crypto_hash_sha256_final(&st->sha256, out);
}

static const struct hash_desc hash_blake2b = {BLAKE2B_BLOCK_LEN, BLAKE2B_LEN, b2_init, b2_update,
                                              b2_final};
static const struct hash_desc hash_sha256 = {SHA256_BLOCK_LEN, SHA256_LEN, sha256_init,
                                             sha256_update, sha256_final};

/* An HMAC in progress: the inner hash, and the outer pad kept for the end. */
struct hmac_state {
	const struct hash_desc *h;    /* borrowed, static */
	union hash_state st;          /* inner hash, then outer; secret */
	uint8_t opad[HASH_BLOCK_MAX]; /* K' xor 0x5c, h->block_len bytes; secret */
};

/* RFC 2104: K' = H(K) if K is longer than a block, else K; zero-padded. */
static void hmac_init(struct hmac_state *m, const struct hash_desc *h, const uint8_t *key,
                      size_t key_len)
{
	uint8_t ipad[HASH_BLOCK_MAX] = {0};

	m->h = h;
	if (key_len > h->block_len) {
		h->init(&m->st);
		h->update(&m->st, key, key_len);
		h->final(&m->st, ipad);
	} else if (key_len > 0) {
		memcpy(ipad, key, key_len);
	}
	for (size_t i = 0; i < h->block_len; i++) {
		m->opad[i] = (uint8_t)(ipad[i] ^ 0x5c);
		ipad[i] = (uint8_t)(ipad[i] ^ 0x36);
	}
	h->init(&m->st);
	h->update(&m->st, ipad, h->block_len);
	sodium_memzero(ipad, sizeof(ipad));
}

static void hmac_update(struct hmac_state *m, const uint8_t *in, size_t in_len)
{
	m->h->update(&m->st, in, in_len);
}

/* out = H(K' xor opad || inner digest); wipes *m. */
static void hmac_final(struct hmac_state *m, uint8_t *out)
{
	const struct hash_desc *h = m->h;
	uint8_t inner[HASH_OUT_MAX];

	h->final(&m->st, inner);
	h->init(&m->st);
	h->update(&m->st, m->opad, h->block_len);
	h->update(&m->st, inner, h->out_len);
	h->final(&m->st, out);
	sodium_memzero(inner, sizeof(inner));
	sodium_memzero(m, sizeof(*m));
}

/* One-shot HMAC. out may alias key or msg: both are consumed before out is written. */
static void hmac(const struct hash_desc *h, uint8_t *out, const uint8_t *key, size_t key_len,
                 const uint8_t *msg, size_t msg_len)
{
	struct hmac_state m;

	hmac_init(&m, h, key, key_len);
	hmac_update(&m, msg, msg_len);
	hmac_final(&m, out);
}

/*
 * RFC 5869 §2.3 Expand: T(i) = HMAC(PRK, T(i-1) || info || i), okm = T(1) ||
 * T(2) || ... truncated to okm_len. The caller has checked 0 < okm_len <=
 * 255 * h->out_len, so the one-byte counter never wraps.
 */
static void hkdf_expand(const struct hash_desc *h, uint8_t *okm, size_t okm_len, const uint8_t *prk,
                        const uint8_t *info, size_t info_len)
{
	struct hmac_state m;
	uint8_t t[HASH_OUT_MAX];
	size_t done = 0;

	for (uint8_t i = 1; done < okm_len; i++) {
		hmac_init(&m, h, prk, h->out_len);
		if (done > 0)
			hmac_update(&m, t, h->out_len);
		hmac_update(&m, info, info_len);
		hmac_update(&m, &i, 1);
		hmac_final(&m, t);
		size_t n = okm_len - done < h->out_len ? okm_len - done : h->out_len;
		memcpy(okm + done, t, n);
		done += n;
	}
	sodium_memzero(t, sizeof(t));
	sodium_memzero(&m, sizeof(m));
}

/* RFC 5869 Extract then Expand. An empty salt is HMAC's zero-padded empty key,
 * which equals the RFC's "HashLen zero bytes". */
static sotto_err hkdf(const struct hash_desc *h, uint8_t *okm, size_t okm_len, const uint8_t *salt,
                      size_t salt_len, const uint8_t *ikm, size_t ikm_len, const uint8_t *info,
                      size_t info_len)
{
	uint8_t prk[HASH_OUT_MAX];
	sotto_err rc;

	if (okm_len == 0) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	if (okm_len > HKDF_BLOCKS_MAX * h->out_len) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	hmac(h, prk, salt, salt_len, ikm, ikm_len);
	hkdf_expand(h, okm, okm_len, prk, info, info_len);
	rc = SOTTO_OK;
out:
	sodium_memzero(prk, sizeof(prk));
	return rc;
}

sotto_err blake2b(uint8_t *out, size_t out_len, const uint8_t *in, size_t in_len,
                  const uint8_t *key, size_t key_len)
{
	if (out_len < BLAKE2B_OUT_MIN || out_len > BLAKE2B_OUT_MAX || key_len > BLAKE2B_KEY_MAX)
		return SOTTO_ERR_INVALID;
	if (crypto_generichash_blake2b(out, out_len, in, in_len, key_len > 0 ? key : NULL,
	                               key_len) != 0)
		return SOTTO_ERR_INTERNAL;
	return SOTTO_OK;
}

void blake2b_init(struct blake2b_state *st)
{
	(void)crypto_generichash_blake2b_init(&st->s, NULL, 0, BLAKE2B_LEN);
}

void blake2b_update(struct blake2b_state *st, const uint8_t *in, size_t in_len)
{
	(void)crypto_generichash_blake2b_update(&st->s, in, in_len);
}

void blake2b_final(struct blake2b_state *st, uint8_t out[static BLAKE2B_LEN])
{
	(void)crypto_generichash_blake2b_final(&st->s, out, BLAKE2B_LEN);
	sodium_memzero(st, sizeof(*st));
}

void hmac_blake2b(uint8_t out[static BLAKE2B_LEN], const uint8_t *key, size_t key_len,
                  const uint8_t *msg, size_t msg_len)
{
	hmac(&hash_blake2b, out, key, key_len, msg, msg_len);
}

void hmac_sha256(uint8_t out[static SHA256_LEN], const uint8_t *key, size_t key_len,
                 const uint8_t *msg, size_t msg_len)
{
	hmac(&hash_sha256, out, key, key_len, msg, msg_len);
}

sotto_err hkdf_blake2b(uint8_t *okm, size_t okm_len, const uint8_t *salt, size_t salt_len,
                       const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
	return hkdf(&hash_blake2b, okm, okm_len, salt, salt_len, ikm, ikm_len, info, info_len);
}

sotto_err hkdf_sha256(uint8_t *okm, size_t okm_len, const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len, const uint8_t *info, size_t info_len)
{
	return hkdf(&hash_sha256, okm, okm_len, salt, salt_len, ikm, ikm_len, info, info_len);
}

/*
 * Noise rev 34 §4.3 HKDF(ck, ikm, n): temp_key = HMAC(ck, ikm); output1 =
 * HMAC(temp_key, 0x01); output2 = HMAC(temp_key, output1 || 0x02); output3 =
 * HMAC(temp_key, output2 || 0x03). That is exactly RFC 5869 Extract with
 * salt = ck followed by Expand with empty info, so it reuses both. The
 * outputs are assembled in a local buffer first, so any of them may alias ck
 * or ikm (Noise's MixKey overwrites ck with output1).
 */
void hkdf_noise(const uint8_t ck[static BLAKE2B_LEN], const uint8_t *ikm, size_t ikm_len,
                uint8_t out1[static BLAKE2B_LEN], uint8_t out2[static BLAKE2B_LEN], uint8_t *out3)
{
	uint8_t temp_key[BLAKE2B_LEN];
	uint8_t okm[3 * BLAKE2B_LEN];
	size_t n_outs = out3 != NULL ? 3 : 2;

	hmac(&hash_blake2b, temp_key, ck, BLAKE2B_LEN, ikm, ikm_len);
	hkdf_expand(&hash_blake2b, okm, n_outs * BLAKE2B_LEN, temp_key, NULL, 0);
	memcpy(out1, okm, BLAKE2B_LEN);
	memcpy(out2, okm + BLAKE2B_LEN, BLAKE2B_LEN);
	if (out3 != NULL)
		memcpy(out3, okm + 2 * BLAKE2B_LEN, BLAKE2B_LEN);
	sodium_memzero(temp_key, sizeof(temp_key));
	sodium_memzero(okm, sizeof(okm));
}
