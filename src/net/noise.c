/* SPDX-License-Identifier: MIT */
/*
 * noise.c - Noise_NK_25519_ChaChaPoly_BLAKE2b, Noise rev 34 (net layer).
 *
 * The three objects of the specification map onto this file as follows:
 * CipherState is struct noise_cipher (public, because transports own one per
 * direction); SymmetricState is the cs/ck/h triple inside struct noise_nk;
 * HandshakeState is the rest of struct noise_nk. Each step carries the name
 * the specification gives it (§5.1-5.3, §9), so the code reads next to it.
 *
 * Handshake messages are produced by a small interpreter over token tables
 * (§7): production uses NK only, and the other rows (NK1, NKpsk0, NKpsk2)
 * exist so that every published NK-family vector runs through the very same
 * code. Tokens of the family: e, es, ee, psk; the responder's static key is
 * the pre-message (<- s).
 *
 * Invariants: the handshake is one allocation and no message allocates; k,
 * ck, the static and ephemeral private keys and the psk never leave it, and
 * it is wiped with sodium_memzero after the last message (private keys,
 * psk), at Split() and on any error (every key) and before it is
 * freed. It is ordinary memory rather than a sodium_malloc region (DESIGN.md
 * allows guarded *or* explicitly wiped memory): the secrets live for one
 * round trip, and the guard pages, mlock and half a dozen syscalls of a secure
 * allocation cost about 26 us, close to one X25519. DH and HKDF outputs are
 * stack temporaries wiped before each function returns. Any error leaves the
 * handshake dead, so a half-run handshake can never be resumed with
 * attacker-chosen state. Each side of an NK handshake does exactly one key
 * generation and two DH operations.
 */
#include <string.h>

#include <sodium.h>

#include "core/bytes.h"
#include "core/compat.h"
#include "core/ctx.h"
#include "core/err.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/x25519.h"
#include "net/noise.h"

enum {
	NOISE_N_MESSAGES = 2,   /* handshake messages in every NK-family pattern */
	NOISE_TOKENS_MAX = 4,   /* tokens per message, terminator included */
	NOISE_PSK_LEN = 32,     /* §9: psk is 32 bytes */
	NOISE_NONCE_OFFSET = 4, /* nonce = 4 zero bytes || LE64(n) */
};

enum noise_token {
	TOK_END = 0,
	TOK_E,
	TOK_ES,
	TOK_EE,
	TOK_PSK,
};

struct noise_pattern_def {
	const char *name; /* the full protocol name for InitializeSymmetric */
	uint8_t tokens[NOISE_N_MESSAGES][NOISE_TOKENS_MAX]; /* TOK_END-terminated */
	bool has_psk; /* §9: a psk handshake also runs MixKey(e.pub) on e */
};

/*
 * The NK family (§7.5, §7.6 deferred NK1, §9.4 NKpsk0/NKpsk2); every row
 * has the pre-message "<- s".
 */
static const struct noise_pattern_def noise_patterns[] = {
        [NOISE_PATTERN_NK] = {"Noise_NK_25519_ChaChaPoly_BLAKE2b",
                              {{TOK_E, TOK_ES}, {TOK_E, TOK_EE}},
                              false},
        [NOISE_PATTERN_NK1] = {"Noise_NK1_25519_ChaChaPoly_BLAKE2b",
                               {{TOK_E}, {TOK_E, TOK_EE, TOK_ES}},
                               false},
        [NOISE_PATTERN_NKPSK0] = {"Noise_NKpsk0_25519_ChaChaPoly_BLAKE2b",
                                  {{TOK_PSK, TOK_E, TOK_ES}, {TOK_E, TOK_EE}},
                                  true},
        [NOISE_PATTERN_NKPSK2] = {"Noise_NKpsk2_25519_ChaChaPoly_BLAKE2b",
                                  {{TOK_E, TOK_ES}, {TOK_E, TOK_EE, TOK_PSK}},
                                  true},
};

/* Stands in for absent (zero-length) inputs so no NULL reaches libsodium. */
static const uint8_t noise_empty[1] = {0};

enum noise_nk_state {
	NK_RUNNING = 0, /* messages still due, or complete and not yet split */
	NK_SPLIT,       /* Split() done; keys wiped */
	NK_DEAD,        /* an error happened; keys wiped */
};

struct noise_nk {
	/* SymmetricState (§5.2) */
	struct noise_cipher cs;     /* secret k */
	uint8_t ck[NOISE_HASH_LEN]; /* secret chaining key */
	uint8_t h[NOISE_HASH_LEN];  /* handshake hash (public transcript digest) */
	/* HandshakeState (§5.3) */
	struct x25519_keypair s;             /* responder's static pair (secret priv) */
	struct x25519_keypair e;             /* our ephemeral pair (secret priv) */
	uint8_t rs[X25519_KEY_LEN];          /* responder's static public key, initiator only */
	uint8_t re[X25519_KEY_LEN];          /* peer's ephemeral public key */
	uint8_t psk[NOISE_PSK_LEN];          /* secret; psk patterns only */
	struct sotto_ctx *ctx;               /* borrowed; RNG for e, allocator for free */
	const struct noise_pattern_def *pat; /* row of noise_patterns */
	enum noise_role role;
	unsigned n_done; /* handshake messages written or read, 0..2 */
	enum noise_nk_state state;
};

/* ---- CipherState (§5.1) ---- */

static void cipher_nonce(uint8_t nonce[static AEAD_IETF_NONCE_LEN], uint64_t n)
{
	memset(nonce, 0, NOISE_NONCE_OFFSET);
	bytes_store_le64(nonce + NOISE_NONCE_OFFSET, n);
}

/* InitializeKey(k) */
void noise_cipher_init(struct noise_cipher *c, const uint8_t k[static NOISE_KEY_LEN])
{
	memcpy(c->k, k, NOISE_KEY_LEN);
	c->n = 0;
	c->has_key = true;
}

/* EncryptWithAd(ad, plaintext) */
sotto_err noise_cipher_encrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
                               const uint8_t *pt, size_t pt_len, uint8_t *ct)
{
	uint8_t nonce[AEAD_IETF_NONCE_LEN];
	sotto_err rc;

	if (pt_len > NOISE_PAYLOAD_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (!c->has_key) {
		if (pt_len > 0 && ct != pt)
			memmove(ct, pt, pt_len);
		return SOTTO_OK;
	}
	/* n = 2^64-1 is reserved (§5.1): the state must be thrown away. */
	if (c->n == NOISE_NONCE_MAX)
		return SOTTO_ERR_NONCE_EXHAUSTED;
	cipher_nonce(nonce, c->n);
	if ((rc = aead_ietf_encrypt(ct, pt, pt_len, ad, ad_len, nonce, c->k)) != SOTTO_OK)
		return rc;
	c->n++;
	return SOTTO_OK;
}

/* DecryptWithAd(ad, ciphertext): n advances only when the tag verifies. */
sotto_err noise_cipher_decrypt(struct noise_cipher *c, const uint8_t *ad, size_t ad_len,
                               const uint8_t *ct, size_t ct_len, uint8_t *pt)
{
	uint8_t nonce[AEAD_IETF_NONCE_LEN];
	sotto_err rc;

	if (ct_len > NOISE_MSG_MAX)
		return SOTTO_RAISE(SOTTO_ERR_TOO_LARGE);
	if (!c->has_key) {
		if (ct_len > 0 && ct != pt)
			memmove(pt, ct, ct_len);
		return SOTTO_OK;
	}
	if (c->n == NOISE_NONCE_MAX)
		return SOTTO_ERR_NONCE_EXHAUSTED;
	cipher_nonce(nonce, c->n);
	if ((rc = aead_ietf_decrypt(pt, ct, ct_len, ad, ad_len, nonce, c->k)) != SOTTO_OK)
		return rc;
	c->n++;
	return SOTTO_OK;
}

/* Rekey(): k = first 32 bytes of ENCRYPT(k, 2^64-1, "", zeros(32)) (§4.2, §11.3). */
void noise_cipher_rekey(struct noise_cipher *c)
{
	static const uint8_t zeros[NOISE_KEY_LEN] = {0};
	uint8_t nonce[AEAD_IETF_NONCE_LEN];
	uint8_t out[NOISE_KEY_LEN + NOISE_TAG_LEN];

	if (!c->has_key)
		return;
	cipher_nonce(nonce, NOISE_NONCE_MAX);
	sotto_err rc = aead_ietf_encrypt(out, zeros, sizeof(zeros), noise_empty, 0, nonce, c->k);
	if (SOTTO_INVARIANT(rc == SOTTO_OK)) {
		memcpy(c->k, out, NOISE_KEY_LEN);
	} else {
		/* Fail closed: no further message can use the stale key. */
		sodium_memzero(c->k, NOISE_KEY_LEN);
		c->n = NOISE_NONCE_MAX;
	}
	sodium_memzero(out, sizeof(out));
}

/* SetNonce(n) */
void noise_cipher_set_nonce(struct noise_cipher *c, uint64_t n)
{
	c->n = n;
}

void noise_cipher_clear(struct noise_cipher *c)
{
	sodium_memzero(c, sizeof(*c));
}

/* ---- SymmetricState (§5.2) ---- */

/* InitializeSymmetric(protocol_name) */
static void initialize_symmetric(struct noise_nk *hs, const char *name)
{
	size_t len = strlen(name);

	if (len <= NOISE_HASH_LEN) {
		memset(hs->h, 0, NOISE_HASH_LEN);
		memcpy(hs->h, name, len);
	} else {
		struct blake2b_state st;
		blake2b_init(&st);
		blake2b_update(&st, (const uint8_t *)name, len);
		blake2b_final(&st, hs->h);
	}
	memcpy(hs->ck, hs->h, NOISE_HASH_LEN);
	sodium_memzero(&hs->cs, sizeof(hs->cs)); /* k empty */
}

/* MixHash(data): h = HASH(h || data) */
static void mix_hash(struct noise_nk *hs, const uint8_t *data, size_t len)
{
	struct blake2b_state st;

	blake2b_init(&st);
	blake2b_update(&st, hs->h, NOISE_HASH_LEN);
	blake2b_update(&st, data, len);
	blake2b_final(&st, hs->h);
}

/* MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2); InitializeKey(temp_k[0..32)) */
static void mix_key(struct noise_nk *hs, const uint8_t *ikm, size_t ikm_len)
{
	uint8_t ck[NOISE_HASH_LEN], temp_k[NOISE_HASH_LEN];

	hkdf_noise(hs->ck, ikm, ikm_len, ck, temp_k, NULL);
	memcpy(hs->ck, ck, NOISE_HASH_LEN);
	noise_cipher_init(&hs->cs, temp_k); /* HASHLEN 64: truncated to 32 bytes */
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(temp_k, sizeof(temp_k));
}

/*
 * MixKeyAndHash(psk) (§5.2, §9): ck, temp_h, temp_k = HKDF(ck, psk, 3);
 * MixHash(temp_h); InitializeKey(temp_k[0..32)).
 */
static void mix_key_and_hash(struct noise_nk *hs, const uint8_t *ikm, size_t ikm_len)
{
	uint8_t ck[NOISE_HASH_LEN], temp_h[NOISE_HASH_LEN], temp_k[NOISE_HASH_LEN];

	hkdf_noise(hs->ck, ikm, ikm_len, ck, temp_h, temp_k);
	memcpy(hs->ck, ck, NOISE_HASH_LEN);
	mix_hash(hs, temp_h, sizeof(temp_h));
	noise_cipher_init(&hs->cs, temp_k);
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(temp_h, sizeof(temp_h));
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* EncryptAndHash(plaintext): c = EncryptWithAd(h, plaintext); MixHash(c) */
static sotto_err encrypt_and_hash(struct noise_nk *hs, const uint8_t *pt, size_t pt_len,
                                  uint8_t *ct)
{
	size_t ct_len = pt_len + (hs->cs.has_key ? NOISE_TAG_LEN : 0);
	sotto_err rc;

	if ((rc = noise_cipher_encrypt(&hs->cs, hs->h, NOISE_HASH_LEN, pt, pt_len, ct)) != SOTTO_OK)
		return rc;
	mix_hash(hs, ct, ct_len);
	return SOTTO_OK;
}

/*
 * DecryptAndHash(ciphertext): p = DecryptWithAd(h, c); MixHash(c). The new h
 * is computed before decrypting so that pt may overwrite ct in place; it is
 * kept only if the tag verifies.
 */
static sotto_err decrypt_and_hash(struct noise_nk *hs, const uint8_t *ct, size_t ct_len,
                                  uint8_t *pt)
{
	struct blake2b_state st;
	uint8_t h_next[NOISE_HASH_LEN];
	sotto_err rc;

	blake2b_init(&st);
	blake2b_update(&st, hs->h, NOISE_HASH_LEN);
	blake2b_update(&st, ct, ct_len);
	blake2b_final(&st, h_next);
	if ((rc = noise_cipher_decrypt(&hs->cs, hs->h, NOISE_HASH_LEN, ct, ct_len, pt)) != SOTTO_OK)
		return rc;
	memcpy(hs->h, h_next, NOISE_HASH_LEN);
	return SOTTO_OK;
}

/* Split(): temp_k1, temp_k2 = HKDF(ck, "", 2); c1 initiator->responder, c2 back. */
static void split(struct noise_nk *hs, struct noise_cipher *c1, struct noise_cipher *c2)
{
	uint8_t temp_k1[NOISE_HASH_LEN], temp_k2[NOISE_HASH_LEN];

	hkdf_noise(hs->ck, noise_empty, 0, temp_k1, temp_k2, NULL);
	noise_cipher_init(c1, temp_k1);
	noise_cipher_init(c2, temp_k2);
	sodium_memzero(temp_k1, sizeof(temp_k1));
	sodium_memzero(temp_k2, sizeof(temp_k2));
}

/* ---- HandshakeState (§5.3) ---- */

/* Wipes every secret the handshake holds; h, rs and re are public. */
static void wipe_keys(struct noise_nk *hs)
{
	noise_cipher_clear(&hs->cs);
	sodium_memzero(hs->ck, sizeof(hs->ck));
	x25519_keypair_clear(&hs->s);
	x25519_keypair_clear(&hs->e);
	sodium_memzero(hs->psk, sizeof(hs->psk));
}

static void nk_kill(struct noise_nk *hs)
{
	hs->state = NK_DEAD;
	wipe_keys(hs);
}

static bool is_my_turn_to_write(const struct noise_nk *hs)
{
	return (hs->n_done % 2 == 0) == (hs->role == NOISE_INITIATOR);
}

static const uint8_t *next_tokens(const struct noise_nk *hs)
{
	return hs->pat->tokens[hs->n_done];
}

/*
 * Bytes the next message adds around its payload: 32 per e token, plus the
 * tag if a key will be set when EncryptAndHash runs (it is once any DH or psk
 * token has run, or e in a psk handshake, which calls MixKey).
 */
static size_t message_overhead(const struct noise_nk *hs)
{
	bool has_key = hs->cs.has_key;
	size_t len = 0;

	for (const uint8_t *t = next_tokens(hs); *t != TOK_END; t++) {
		if (*t == TOK_E) {
			len += X25519_KEY_LEN;
			has_key = has_key || hs->pat->has_psk;
		} else {
			has_key = true;
		}
	}
	return len + (has_key ? NOISE_TAG_LEN : 0);
}

/* Token e, after the public key is written or read: MixHash(e.pub), and MixKey(e.pub) with a psk.
 */
static void mix_e(struct noise_nk *hs, const uint8_t pub[static X25519_KEY_LEN])
{
	mix_hash(hs, pub, X25519_KEY_LEN);
	if (hs->pat->has_psk)
		mix_key(hs, pub, X25519_KEY_LEN);
}

/* Tokens ee, es: MixKey(DH(...)); psk: MixKeyAndHash(psk). */
static sotto_err mix_token(struct noise_nk *hs, enum noise_token tok)
{
	uint8_t dh[X25519_SHARED_LEN];
	const uint8_t *priv, *pub;
	sotto_err rc;

	switch (tok) {
	case TOK_EE: /* DH(e, re) */
		priv = hs->e.priv;
		pub = hs->re;
		break;
	case TOK_ES: /* initiator DH(e, rs), responder DH(s, re) */
		priv = hs->role == NOISE_INITIATOR ? hs->e.priv : hs->s.priv;
		pub = hs->role == NOISE_INITIATOR ? hs->rs : hs->re;
		break;
	case TOK_PSK: mix_key_and_hash(hs, hs->psk, NOISE_PSK_LEN); return SOTTO_OK;
	default: /* e is handled by the callers; the tables hold nothing else */
		(void)SOTTO_INVARIANT(false);
		return SOTTO_ERR_INTERNAL;
	}
	if ((rc = x25519_dh(dh, priv, pub)) != SOTTO_OK)
		goto out;
	mix_key(hs, dh, sizeof(dh));
	rc = SOTTO_OK;
out:
	sodium_memzero(dh, sizeof(dh));
	return rc;
}

/* After the last message only ck and h are needed (for Split). */
static void finish_message(struct noise_nk *hs)
{
	hs->n_done++;
	if (hs->n_done == NOISE_N_MESSAGES) {
		x25519_keypair_clear(&hs->e);
		x25519_keypair_clear(&hs->s);
		sodium_memzero(hs->psk, sizeof(hs->psk));
	}
}

/* WriteMessage(payload, message_buffer) */
static sotto_err write_message(struct noise_nk *hs, const uint8_t *payload, size_t payload_len,
                               uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t off = 0, overhead;
	sotto_err rc;

	if (hs->state != NK_RUNNING || hs->n_done >= NOISE_N_MESSAGES || !is_my_turn_to_write(hs))
		return SOTTO_ERR_STATE;
	overhead = message_overhead(hs);
	if (payload_len > NOISE_MSG_MAX - overhead || out_cap < overhead + payload_len)
		return SOTTO_ERR_TOO_LARGE;
	if (payload == NULL && payload_len > 0)
		return SOTTO_ERR_INVALID;
	const uint8_t *tokens = next_tokens(hs);
	for (size_t i = 0; tokens[i] != TOK_END; i++) {
		if (tokens[i] == TOK_E) {
			/* e: GenerateKeypair(); write e.pub */
			x25519_keypair_generate(hs->ctx, &hs->e);
			memcpy(out + off, hs->e.pub, X25519_KEY_LEN);
			off += X25519_KEY_LEN;
			mix_e(hs, hs->e.pub);
		} else if ((rc = mix_token(hs, (enum noise_token)tokens[i])) != SOTTO_OK) {
			return rc;
		}
	}
	rc = encrypt_and_hash(hs, payload != NULL ? payload : noise_empty, payload_len, out + off);
	if (rc != SOTTO_OK)
		return rc;
	*out_len = overhead + payload_len;
	finish_message(hs);
	return SOTTO_OK;
}

/* ReadMessage(message, payload_buffer) */
static sotto_err read_message(struct noise_nk *hs, const uint8_t *msg, size_t msg_len,
                              uint8_t *payload, size_t payload_cap, size_t *payload_len)
{
	uint8_t dummy[1];
	size_t off = 0, overhead, plen;
	sotto_err rc;

	if (hs->state != NK_RUNNING || hs->n_done >= NOISE_N_MESSAGES || is_my_turn_to_write(hs))
		return SOTTO_ERR_STATE;
	if (msg_len > NOISE_MSG_MAX)
		return SOTTO_RAISE(SOTTO_ERR_TOO_LARGE);
	overhead = message_overhead(hs);
	if (msg_len < overhead)
		return SOTTO_RAISE(SOTTO_ERR_TRUNCATED);
	plen = msg_len - overhead;
	if (plen > payload_cap)
		return SOTTO_ERR_TOO_LARGE;
	const uint8_t *tokens = next_tokens(hs);
	for (size_t i = 0; tokens[i] != TOK_END; i++) {
		if (tokens[i] == TOK_E) {
			/* e: re = the next DHLEN bytes */
			memcpy(hs->re, msg + off, X25519_KEY_LEN);
			off += X25519_KEY_LEN;
			mix_e(hs, hs->re);
		} else if ((rc = mix_token(hs, (enum noise_token)tokens[i])) != SOTTO_OK) {
			return rc;
		}
	}
	rc = decrypt_and_hash(hs, msg + off, msg_len - off, payload != NULL ? payload : dummy);
	if (rc != SOTTO_OK)
		return rc;
	*payload_len = plen;
	finish_message(hs);
	return SOTTO_OK;
}

/* Checks the arguments of Initialize() against the pattern and role. */
static sotto_err check_new_args(enum noise_pattern pattern, enum noise_role role,
                                const uint8_t *prologue, size_t prologue_len,
                                const struct x25519_keypair *s, const uint8_t *rs,
                                const uint8_t *psk)
{
	if ((unsigned)pattern >= SOTTO_ARRAY_LEN(noise_patterns))
		return SOTTO_ERR_INVALID;
	if (role == NOISE_INITIATOR) {
		if (s != NULL || rs == NULL)
			return SOTTO_ERR_INVALID;
	} else if (role == NOISE_RESPONDER) {
		if (s == NULL || rs != NULL)
			return SOTTO_ERR_INVALID;
	} else {
		return SOTTO_ERR_INVALID;
	}
	if (prologue_len > NOISE_PROLOGUE_MAX || (prologue == NULL && prologue_len > 0))
		return SOTTO_ERR_INVALID;
	if (noise_patterns[pattern].has_psk != (psk != NULL))
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

/* Initialize(handshake_pattern, initiator, prologue, s, e = empty, rs, re = empty) */
sotto_err noise_nk_new_pattern(struct sotto_ctx *ctx, enum noise_pattern pattern,
                               enum noise_role role, const uint8_t *prologue, size_t prologue_len,
                               const struct x25519_keypair *s, const uint8_t *rs,
                               const uint8_t *psk, struct noise_nk **out)
{
	struct noise_nk *hs = NULL;
	sotto_err rc;

	*out = NULL;
	rc = check_new_args(pattern, role, prologue, prologue_len, s, rs, psk);
	if (rc != SOTTO_OK)
		goto out;
	hs = ctx_alloc(ctx, sizeof(*hs));
	if (hs == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	sodium_memzero(hs, sizeof(*hs));
	hs->ctx = ctx;
	hs->pat = &noise_patterns[pattern];
	hs->role = role;
	hs->state = NK_RUNNING;
	initialize_symmetric(hs, hs->pat->name);
	mix_hash(hs, prologue != NULL ? prologue : noise_empty,
	         prologue_len); /* MixHash(prologue) */
	/* Pre-message "<- s": MixHash(rs) on both sides. */
	if (role == NOISE_INITIATOR) {
		memcpy(hs->rs, rs, X25519_KEY_LEN);
		mix_hash(hs, hs->rs, X25519_KEY_LEN);
	} else {
		hs->s = *s;
		mix_hash(hs, hs->s.pub, X25519_KEY_LEN);
	}
	if (psk != NULL)
		memcpy(hs->psk, psk, NOISE_PSK_LEN);
	*out = hs;
	hs = NULL; /* moved */
	rc = SOTTO_OK;
out:
	noise_nk_free(hs);
	return rc;
}

sotto_err noise_nk_new(struct sotto_ctx *ctx, enum noise_role role, const uint8_t *prologue,
                       size_t prologue_len, const struct x25519_keypair *s, const uint8_t *rs,
                       struct noise_nk **out)
{
	return noise_nk_new_pattern(ctx, NOISE_PATTERN_NK, role, prologue, prologue_len, s, rs,
	                            NULL, out);
}

void noise_nk_free(struct noise_nk *hs)
{
	if (hs == NULL)
		return;
	struct sotto_ctx *ctx = hs->ctx;
	sodium_memzero(hs, sizeof(*hs));
	ctx_free(ctx, hs);
}

size_t noise_nk_message_len(const struct noise_nk *hs, size_t payload_len)
{
	if (hs->state != NK_RUNNING || hs->n_done >= NOISE_N_MESSAGES)
		return 0;
	size_t overhead = message_overhead(hs);
	if (payload_len > SIZE_MAX - overhead)
		return SIZE_MAX;
	return overhead + payload_len;
}

sotto_err noise_nk_write(struct noise_nk *hs, const uint8_t *payload, size_t payload_len,
                         uint8_t *out, size_t out_cap, size_t *out_len)
{
	*out_len = 0;
	sotto_err rc = write_message(hs, payload, payload_len, out, out_cap, out_len);
	if (rc != SOTTO_OK)
		nk_kill(hs);
	return rc;
}

sotto_err noise_nk_read(struct noise_nk *hs, const uint8_t *msg, size_t msg_len, uint8_t *payload,
                        size_t payload_cap, size_t *payload_len)
{
	*payload_len = 0;
	sotto_err rc = read_message(hs, msg, msg_len, payload, payload_cap, payload_len);
	if (rc != SOTTO_OK)
		nk_kill(hs);
	return rc;
}

bool noise_nk_is_complete(const struct noise_nk *hs)
{
	return hs->state != NK_DEAD && hs->n_done == NOISE_N_MESSAGES;
}

sotto_err noise_nk_split(struct noise_nk *hs, struct noise_cipher *send, struct noise_cipher *recv,
                         uint8_t handshake_hash[static NOISE_HASH_LEN])
{
	noise_cipher_clear(send);
	noise_cipher_clear(recv);
	memset(handshake_hash, 0, NOISE_HASH_LEN);
	if (hs->state != NK_RUNNING || hs->n_done != NOISE_N_MESSAGES) {
		if (hs->state == NK_RUNNING)
			nk_kill(hs);
		return SOTTO_ERR_STATE;
	}
	if (hs->role == NOISE_INITIATOR)
		split(hs, send, recv);
	else
		split(hs, recv, send);
	/* GetHandshakeHash() */
	memcpy(handshake_hash, hs->h, NOISE_HASH_LEN);
	wipe_keys(hs);
	hs->state = NK_SPLIT;
	return SOTTO_OK;
}
