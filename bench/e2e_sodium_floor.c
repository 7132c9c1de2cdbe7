/* SPDX-License-Identifier: MIT */
/*
 * e2e_sodium_floor.c - the "libsodium floor" row of bench/e2e: for each
 * operation, only the libsodium primitive calls that sotto's end-to-end
 * protocol (docs/protocol.md chapter 3) cannot do without, called directly.
 *
 * It is not a protocol: no encoding or parsing, no version or bounds
 * checks, no skipped-key store, no failure atomicity, no wiping of
 * temporaries, and nothing persisted (state bytes are 0). What is left is
 * the cryptography the specification prescribes, in its order, with its
 * input sizes (the 40-byte header, the 169-byte body AD, the 128-byte X3DH
 * input key material): the cost no implementation of the protocol can go
 * below with libsodium. The keys are wired the way the protocol wires them,
 * so each side derives its keys on its own and a body decrypts only if both
 * sides agreed; every message's plaintext is compared with what was sent.
 * Only libsodium is used (not sotto's crypto layer); the HKDF below gives
 * the same bytes as crypto/hash.h's hkdf_blake2b, with the same number of
 * BLAKE2b blocks.
 *
 * Primitive calls per operation, both sides together. Random bytes come
 * from a ChaCha20 keystream (fl_random). "keygen" is 32 random bytes +
 * crypto_scalarmult_curve25519_base; "DH" is
 * crypto_scalarmult_curve25519; "HKDF" is RFC 5869 HKDF over HMAC-BLAKE2b-512
 * with 96 bytes of output (extract + 2 expand blocks = 3 HMACs = 6
 * crypto_generichash_blake2b init/update/final runs); "KDF_CK" is one keyed
 * BLAKE2b-512 (crypto_generichash_blake2b); "AEAD" is
 * crypto_aead_xchacha20poly1305_ietf_{en,de}crypt_detached.
 *
 *   session setup:   6 keygen (I1, I2, J1, J2, Alice's first ratchet key,
 *                    Bob's new ratchet key), 9 DH (3 + 3 X3DH, 1 for Alice's
 *                    first chain, 2 in Bob's DH ratchet step), 2 unkeyed
 *                    BLAKE2b-512 (AD, each side), 5 HKDF (2 X3DH, 3 KDF_RK),
 *                    2 KDF_CK, 48 random bytes (both nonces), 2 AEAD
 *                    encryptions (header 40 B, body) and 2 decryptions
 *   one-way N B:     48 random bytes, 2 KDF_CK, 2 AEAD encryptions
 *                    (header 40 B, body N B) and 2 decryptions (the header
 *                    opens under HKr at the first trial)
 *   ping-pong 100 B: the one-way calls, plus on the receiving side 1 failed
 *                    header decryption (HKr is tried before NHKr, §3.5
 *                    "Receiving"), 1 keygen, 2 DH and 2 HKDF (KDF_RK), the
 *                    DH ratchet step
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "e2e.h"

enum {
	FL_KEY_LEN = 32,
	FL_HASH_LEN = 64,   /* BLAKE2b-512 */
	FL_BLOCK_LEN = 128, /* BLAKE2b's block: HMAC's pad length */
	FL_AD_LEN = 64,
	FL_NONCE_LEN = 24,
	FL_TAG_LEN = 16,
	FL_HEADER_LEN = 40,                             /* DHs.pub, PN, n */
	FL_ENC_HEADER_LEN = FL_HEADER_LEN + FL_TAG_LEN, /* 56 */
	/* The message laid out as §3.6 lays it out, so the body's AD has its size. */
	FL_OFF_HEADER_NONCE = 1,
	FL_OFF_ENC_HEADER = FL_OFF_HEADER_NONCE + FL_NONCE_LEN,    /* 25 */
	FL_OFF_BODY_NONCE = FL_OFF_ENC_HEADER + FL_ENC_HEADER_LEN, /* 81 */
	FL_PREFIX_LEN = FL_OFF_BODY_NONCE + FL_NONCE_LEN,          /* 105 */
	FL_OVERHEAD = FL_PREFIX_LEN + FL_TAG_LEN,                  /* 121 */
	FL_WIRE_CAP = FL_OVERHEAD + E2E_MSG_MAX,
	FL_KDF_RK_LEN = 3 * FL_KEY_LEN,
	FL_X3DH_IKM_LEN = 32 + 3 * FL_KEY_LEN, /* 32 x 0xFF, DH1, DH2, DH3 */
};

static const uint8_t fl_label_ad[] = "sotto/e2e/ad/v1";
static const uint8_t fl_label_x3dh[] = "sotto/e2e/x3dh/v1";
static const uint8_t fl_label_root[] = "sotto/e2e/root/v1";
#define FL_LABEL_LEN(l) (sizeof(l) - 1)

static const uint8_t fl_zero_salt[FL_HASH_LEN] = {0};
static const uint8_t fl_kdf_ck_input[1] = {0x01};

struct fl_keypair {
	uint8_t pub[FL_KEY_LEN];
	uint8_t priv[FL_KEY_LEN];
};

/* One side's ratchet keys (§3.5), in memory only. */
struct fl_party {
	struct fl_keypair dhs;
	uint8_t rk[FL_KEY_LEN], cks[FL_KEY_LEN], ckr[FL_KEY_LEN];
	uint8_t hks[FL_KEY_LEN], hkr[FL_KEY_LEN], nhks[FL_KEY_LEN], nhkr[FL_KEY_LEN];
	int has_hkr;
	/* The body's AD: this side's AD, then the prefix of the message in hand. */
	uint8_t body_ad[FL_AD_LEN + FL_PREFIX_LEN];
};

struct fl_bench {
	struct fl_party alice;
	struct fl_party bob;
	struct fl_keypair i1, i2; /* Bob's invitation keys, for one setup */
	uint8_t j1[FL_KEY_LEN];   /* Alice's J1 and J2 public keys, as the hello carries them */
	uint8_t j2[FL_KEY_LEN];
	uint8_t wire[FL_WIRE_CAP];
	uint8_t pt[E2E_MSG_MAX];
	struct e2e_sizes sizes;
};

/* ---- primitives ---------------------------------------------------------- */

/*
 * Random bytes the cheapest correct way: a ChaCha20 keystream under a key
 * seeded once from the OS (sotto's context RNG is this plus key erasure and
 * fork safety). Bench code, one thread: file-scope state is fine here.
 */
static uint8_t fl_rng_key[crypto_stream_chacha20_KEYBYTES];
static uint64_t fl_rng_counter;

static void fl_random(uint8_t *buf, size_t len)
{
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	for (size_t i = 0; i < sizeof nonce; i++)
		nonce[i] = (uint8_t)(fl_rng_counter >> (8 * i));
	fl_rng_counter++;
	crypto_stream_chacha20(buf, len, nonce, fl_rng_key);
}

static void fl_keygen(struct fl_keypair *kp)
{
	fl_random(kp->priv, sizeof kp->priv);
	(void)crypto_scalarmult_curve25519_base(kp->pub, kp->priv);
}

static int fl_dh(uint8_t out[static FL_KEY_LEN], const uint8_t priv[static FL_KEY_LEN],
                 const uint8_t pub[static FL_KEY_LEN])
{
	if (crypto_scalarmult_curve25519(out, priv, pub) != 0) {
		fprintf(stderr, "floor: DH failed\n");
		return -1;
	}
	return 0;
}

/* KDF_CK: mk = o[0..32), next chain key = o[32..64) of keyed BLAKE2b-512. */
static void fl_kdf_ck(uint8_t ck[static FL_KEY_LEN], uint8_t mk[static FL_KEY_LEN])
{
	uint8_t o[FL_HASH_LEN];

	(void)crypto_generichash_blake2b(o, sizeof o, fl_kdf_ck_input, sizeof fl_kdf_ck_input, ck,
	                                 FL_KEY_LEN);
	memcpy(mk, o, FL_KEY_LEN);
	memcpy(ck, o + FL_KEY_LEN, FL_KEY_LEN);
}

/* An HMAC-BLAKE2b (RFC 2104 over unkeyed BLAKE2b-512, 128-byte pads) in progress. */
struct fl_hmac {
	crypto_generichash_blake2b_state st;
	uint8_t opad[FL_BLOCK_LEN];
};

/* key_len is at most a block here (every key is 32 or 64 bytes). */
static void fl_hmac_init(struct fl_hmac *m, const uint8_t *key, size_t key_len)
{
	uint8_t ipad[FL_BLOCK_LEN] = {0};

	memcpy(ipad, key, key_len);
	for (size_t i = 0; i < FL_BLOCK_LEN; i++) {
		m->opad[i] = (uint8_t)(ipad[i] ^ 0x5c);
		ipad[i] = (uint8_t)(ipad[i] ^ 0x36);
	}
	(void)crypto_generichash_blake2b_init(&m->st, NULL, 0, FL_HASH_LEN);
	(void)crypto_generichash_blake2b_update(&m->st, ipad, sizeof ipad);
}

static void fl_hmac_update(struct fl_hmac *m, const uint8_t *in, size_t in_len)
{
	(void)crypto_generichash_blake2b_update(&m->st, in, in_len);
}

static void fl_hmac_final(struct fl_hmac *m, uint8_t out[static FL_HASH_LEN])
{
	uint8_t inner[FL_HASH_LEN];

	(void)crypto_generichash_blake2b_final(&m->st, inner, sizeof inner);
	(void)crypto_generichash_blake2b_init(&m->st, NULL, 0, FL_HASH_LEN);
	(void)crypto_generichash_blake2b_update(&m->st, m->opad, sizeof m->opad);
	(void)crypto_generichash_blake2b_update(&m->st, inner, sizeof inner);
	(void)crypto_generichash_blake2b_final(&m->st, out, FL_HASH_LEN);
}

/*
 * HKDF(salt, ikm, info1 || info2, 96): PRK = HMAC(salt, ikm);
 * T1 = HMAC(PRK, info || 1); T2 = HMAC(PRK, T1 || info || 2); out = T1 || T2[0..32).
 */
static void fl_hkdf96(uint8_t out[static FL_KDF_RK_LEN], const uint8_t *salt, size_t salt_len,
                      const uint8_t *ikm, size_t ikm_len, const uint8_t *info1, size_t info1_len,
                      const uint8_t *info2, size_t info2_len)
{
	struct fl_hmac m;
	uint8_t prk[FL_HASH_LEN], t[FL_HASH_LEN];

	fl_hmac_init(&m, salt, salt_len);
	fl_hmac_update(&m, ikm, ikm_len);
	fl_hmac_final(&m, prk);
	for (uint8_t i = 1; i <= 2; i++) {
		fl_hmac_init(&m, prk, sizeof prk);
		if (i > 1)
			fl_hmac_update(&m, t, sizeof t);
		fl_hmac_update(&m, info1, info1_len);
		fl_hmac_update(&m, info2, info2_len);
		fl_hmac_update(&m, &i, 1);
		fl_hmac_final(&m, t);
		memcpy(out + (i - 1) * FL_HASH_LEN, t,
		       i == 1 ? FL_HASH_LEN : FL_KDF_RK_LEN - FL_HASH_LEN);
	}
}

/* KDF_RK(rk, dh) = HKDF(salt = rk, ikm = dh, info = root label, 96). */
static void fl_kdf_rk(uint8_t out[static FL_KDF_RK_LEN], const uint8_t rk[static FL_KEY_LEN],
                      const uint8_t dh[static FL_KEY_LEN])
{
	fl_hkdf96(out, rk, FL_KEY_LEN, dh, FL_KEY_LEN, fl_label_root, FL_LABEL_LEN(fl_label_root),
	          NULL, 0);
}

/* ---- messages (§3.5, §3.6) ---------------------------------------------- */

/* s encrypts pt into b->wire: nonces, KDF_CK, header AEAD, body AEAD. */
static void fl_encrypt(struct fl_bench *b, struct fl_party *s, const uint8_t *pt, size_t len)
{
	uint8_t nonces[2 * FL_NONCE_LEN], mk[FL_KEY_LEN], header[FL_HEADER_LEN] = {0};
	uint8_t *w = b->wire;

	fl_random(nonces, sizeof nonces);
	memcpy(w + FL_OFF_HEADER_NONCE, nonces, FL_NONCE_LEN);
	memcpy(w + FL_OFF_BODY_NONCE, nonces + FL_NONCE_LEN, FL_NONCE_LEN);
	fl_kdf_ck(s->cks, mk);
	memcpy(header, s->dhs.pub, FL_KEY_LEN);
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
	        w + FL_OFF_ENC_HEADER, w + FL_OFF_ENC_HEADER + FL_HEADER_LEN, NULL, header,
	        FL_HEADER_LEN, w, 1, NULL, w + FL_OFF_HEADER_NONCE, s->hks);
	memcpy(s->body_ad + FL_AD_LEN, w, FL_PREFIX_LEN);
	(void)crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
	        w + FL_PREFIX_LEN, w + FL_PREFIX_LEN + len, NULL, pt, len, s->body_ad,
	        sizeof s->body_ad, NULL, w + FL_OFF_BODY_NONCE, mk);
}

static int fl_open_header(const struct fl_bench *b, const uint8_t hk[static FL_KEY_LEN],
                          uint8_t header[static FL_HEADER_LEN])
{
	const uint8_t *w = b->wire;

	return crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
	        header, NULL, w + FL_OFF_ENC_HEADER, FL_HEADER_LEN,
	        w + FL_OFF_ENC_HEADER + FL_HEADER_LEN, w, 1, w + FL_OFF_HEADER_NONCE, hk);
}

/* r opens the body under mk into b->pt and checks it is msg. */
static int fl_open_body(struct fl_bench *b, struct fl_party *r, const uint8_t mk[static FL_KEY_LEN],
                        const uint8_t *msg, size_t len)
{
	const uint8_t *w = b->wire;

	memcpy(r->body_ad + FL_AD_LEN, w, FL_PREFIX_LEN);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
	            b->pt, NULL, w + FL_PREFIX_LEN, len, w + FL_PREFIX_LEN + len, r->body_ad,
	            sizeof r->body_ad, w + FL_OFF_BODY_NONCE, mk) != 0 ||
	    memcmp(b->pt, msg, len) != 0) {
		fprintf(stderr, "floor: body does not decrypt to what was sent\n");
		return -1;
	}
	return 0;
}

/* The DH ratchet step of a header that opened under NHKr, then the body. */
static int fl_receive_step(struct fl_bench *b, struct fl_party *r,
                           const uint8_t peer[static FL_KEY_LEN], const uint8_t *msg, size_t len)
{
	uint8_t shared[FL_KEY_LEN], recv[FL_KDF_RK_LEN], send[FL_KDF_RK_LEN], mk[FL_KEY_LEN];

	/* (RK, CKr, NHKr) = KDF_RK(RK, DH(DHs, DHr)); mk = KDF_CK(CKr) */
	if (fl_dh(shared, r->dhs.priv, peer) != 0)
		return -1;
	fl_kdf_rk(recv, r->rk, shared);
	fl_kdf_ck(recv + FL_KEY_LEN, mk);
	if (fl_open_body(b, r, mk, msg, len) != 0)
		return -1;
	/* DHs = new key pair; (RK, CKs, NHKs) = KDF_RK(RK, DH(DHs, DHr)) */
	fl_keygen(&r->dhs);
	if (fl_dh(shared, r->dhs.priv, peer) != 0)
		return -1;
	fl_kdf_rk(send, recv, shared);
	memcpy(r->hks, r->nhks, FL_KEY_LEN);
	memcpy(r->hkr, r->nhkr, FL_KEY_LEN);
	memcpy(r->ckr, recv + FL_KEY_LEN, FL_KEY_LEN);
	memcpy(r->nhkr, recv + 2 * FL_KEY_LEN, FL_KEY_LEN);
	memcpy(r->rk, send, FL_KEY_LEN);
	memcpy(r->cks, send + FL_KEY_LEN, FL_KEY_LEN);
	memcpy(r->nhks, send + 2 * FL_KEY_LEN, FL_KEY_LEN);
	r->has_hkr = 1;
	return 0;
}

/* r decrypts b->wire: header under HKr (same chain), else NHKr (a DH step). */
static int fl_receive(struct fl_bench *b, struct fl_party *r, const uint8_t *msg, size_t len)
{
	uint8_t header[FL_HEADER_LEN], mk[FL_KEY_LEN];

	if (r->has_hkr && fl_open_header(b, r->hkr, header) == 0) {
		fl_kdf_ck(r->ckr, mk);
		return fl_open_body(b, r, mk, msg, len);
	}
	if (fl_open_header(b, r->nhkr, header) == 0)
		return fl_receive_step(b, r, header, msg, len);
	fprintf(stderr, "floor: header opens under no key\n");
	return -1;
}

static int fl_send(void *st, enum e2e_dir dir, const uint8_t *msg, size_t len)
{
	struct fl_bench *b = st;
	struct fl_party *from = dir == E2E_ALICE_TO_BOB ? &b->alice : &b->bob;
	struct fl_party *to = dir == E2E_ALICE_TO_BOB ? &b->bob : &b->alice;

	fl_encrypt(b, from, msg, len);
	if (fl_receive(b, to, msg, len) != 0)
		return -1;
	b->sizes = (struct e2e_sizes){.wire_len = FL_OVERHEAD + len};
	return 0;
}

/* ---- session setup (§3.2-3.5) -------------------------------------------- */

/*
 * AD = BLAKE2b-512(label || I1 || I2 || J1 || J2) into p->body_ad: the keys
 * without the invitation's and hello's other fields (143 bytes instead of
 * 157), which costs the same two BLAKE2b blocks.
 */
static void fl_ad(struct fl_party *p, const struct fl_bench *b, const uint8_t j1[FL_KEY_LEN],
                  const uint8_t j2[FL_KEY_LEN])
{
	crypto_generichash_blake2b_state h;

	(void)crypto_generichash_blake2b_init(&h, NULL, 0, FL_AD_LEN);
	(void)crypto_generichash_blake2b_update(&h, fl_label_ad, FL_LABEL_LEN(fl_label_ad));
	(void)crypto_generichash_blake2b_update(&h, b->i1.pub, FL_KEY_LEN);
	(void)crypto_generichash_blake2b_update(&h, b->i2.pub, FL_KEY_LEN);
	(void)crypto_generichash_blake2b_update(&h, j1, FL_KEY_LEN);
	(void)crypto_generichash_blake2b_update(&h, j2, FL_KEY_LEN);
	(void)crypto_generichash_blake2b_final(&h, p->body_ad, FL_AD_LEN);
}

/* The X3DH HKDF over ikm (whose DHs are filled) into SK || HKJ || NHKI. */
static void fl_x3dh(uint8_t okm[static FL_KDF_RK_LEN], uint8_t ikm[static FL_X3DH_IKM_LEN],
                    const struct fl_party *p)
{
	memset(ikm, 0xff, 32);
	fl_hkdf96(okm, fl_zero_salt, sizeof fl_zero_salt, ikm, FL_X3DH_IKM_LEN, fl_label_x3dh,
	          FL_LABEL_LEN(fl_label_x3dh), p->body_ad, FL_AD_LEN);
}

/* Alice: J1, J2, AD, DH1..DH3, HKDF, her first ratchet key and chain (§3.4, §3.5). */
static int fl_alice_join(struct fl_bench *b)
{
	struct fl_party *a = &b->alice;
	struct fl_keypair j1, j2;
	uint8_t ikm[FL_X3DH_IKM_LEN], okm[FL_KDF_RK_LEN], shared[FL_KEY_LEN], out[FL_KDF_RK_LEN];

	fl_keygen(&j1);
	fl_keygen(&j2);
	fl_ad(a, b, j1.pub, j2.pub);
	if (fl_dh(ikm + 32, j1.priv, b->i2.pub) != 0 || fl_dh(ikm + 64, j2.priv, b->i1.pub) != 0 ||
	    fl_dh(ikm + 96, j2.priv, b->i2.pub) != 0)
		return -1;
	fl_x3dh(okm, ikm, a);
	fl_keygen(&a->dhs);
	if (fl_dh(shared, a->dhs.priv, b->i2.pub) != 0)
		return -1;
	fl_kdf_rk(out, okm, shared);
	memcpy(a->rk, out, FL_KEY_LEN);
	memcpy(a->cks, out + FL_KEY_LEN, FL_KEY_LEN);
	memcpy(a->nhks, out + 2 * FL_KEY_LEN, FL_KEY_LEN);
	memcpy(a->hks, okm + FL_KEY_LEN, FL_KEY_LEN);
	memcpy(a->nhkr, okm + 2 * FL_KEY_LEN, FL_KEY_LEN);
	a->has_hkr = 0;
	memcpy(b->j1, j1.pub, FL_KEY_LEN);
	memcpy(b->j2, j2.pub, FL_KEY_LEN);
	return 0;
}

/* Bob: AD, DH1..DH3 mirrored, HKDF, his initial state (§3.5 inviter). */
static int fl_bob_accept(struct fl_bench *b)
{
	struct fl_party *p = &b->bob;
	uint8_t ikm[FL_X3DH_IKM_LEN], okm[FL_KDF_RK_LEN];

	fl_ad(p, b, b->j1, b->j2);
	if (fl_dh(ikm + 32, b->i2.priv, b->j1) != 0 || fl_dh(ikm + 64, b->i1.priv, b->j2) != 0 ||
	    fl_dh(ikm + 96, b->i2.priv, b->j2) != 0)
		return -1;
	fl_x3dh(okm, ikm, p);
	p->dhs = b->i2;
	memcpy(p->rk, okm, FL_KEY_LEN);
	memcpy(p->nhks, okm + 2 * FL_KEY_LEN, FL_KEY_LEN);
	memcpy(p->nhkr, okm + FL_KEY_LEN, FL_KEY_LEN);
	p->has_hkr = 0;
	return 0;
}

static int fl_session_setup(void *st, const uint8_t *msg, size_t len)
{
	struct fl_bench *b = st;

	fl_keygen(&b->i1);
	fl_keygen(&b->i2);
	if (fl_alice_join(b) != 0)
		return -1;
	fl_encrypt(b, &b->alice, msg, len);
	if (fl_bob_accept(b) != 0 || fl_receive(b, &b->bob, msg, len) != 0)
		return -1;
	/* Crossed: I1, I2 published; J1, J2 and the message sent. */
	b->sizes = (struct e2e_sizes){.wire_len = 2 * FL_KEY_LEN + FL_OVERHEAD + len,
	                              .published_len = 2 * FL_KEY_LEN};
	return 0;
}

static const uint8_t fl_hello[] = "a fixed message that establishes and checks sessions";

static int fl_establish(void *st)
{
	if (fl_session_setup(st, fl_hello, sizeof fl_hello) != 0)
		return -1;
	return fl_send(st, E2E_BOB_TO_ALICE, fl_hello, sizeof fl_hello);
}

/* ---- lifetime ------------------------------------------------------------ */

static void fl_destroy(void *st)
{
	if (st == NULL)
		return;
	sodium_memzero(st, sizeof(struct fl_bench));
	free(st);
}

static int fl_create(void **st)
{
	struct fl_bench *b;

	*st = NULL;
	if (sodium_init() < 0 || (b = calloc(1, sizeof *b)) == NULL) {
		fprintf(stderr, "floor: create failed\n");
		return -1;
	}
	randombytes_buf(fl_rng_key, sizeof fl_rng_key);
	*st = b;
	return 0;
}

static void fl_last_sizes(const void *st, struct e2e_sizes *out)
{
	*out = ((const struct fl_bench *)st)->sizes;
}

static const char *fl_version(void)
{
	static char text[48];

	(void)snprintf(text, sizeof text, "libsodium %s", sodium_version_string());
	return text;
}

const struct e2e_impl e2e_sodium_floor = {
        .name = "floor",
        .notes = "the floor: only the libsodium calls sotto's protocol cannot avoid, no "
                 "encoding, checks, atomicity or persistence (state B 0; wire B = the bytes "
                 "that cross). Per op, both sides: setup 6 keygen, 9 DH, 2 BLAKE2b (AD), 5 "
                 "HKDF-BLAKE2b (2 X3DH + 3 KDF_RK; 3 HMACs each), 2 KDF_CK, 1 random 48 B, 2+2 "
                 "XChaCha20-Poly1305 (header 40 B, body); one-way: 1 random 48 B, 2 KDF_CK, 2+2 "
                 "XChaCha20-Poly1305; ping-pong: one-way + 1 failed header trial (HKr before "
                 "NHKr), 1 keygen, 2 DH, 2 KDF_RK",
        .version = fl_version,
        .create = fl_create,
        .destroy = fl_destroy,
        .session_setup = fl_session_setup,
        .establish = fl_establish,
        .send = fl_send,
        .last_sizes = fl_last_sizes,
        .verify_persisted = NULL,
};
