/* SPDX-License-Identifier: MIT */
/*
 * ratchet.c - the Double Ratchet with header encryption (proto layer;
 * docs/protocol.md §3.5 state machine, §3.6 message, §3.7 saved state).
 *
 * A message (§3.6):
 *
 *   offset  size    field
 *   0       1       version = 1
 *   1       24      header nonce (random)
 *   25      56      AEAD(HKs, header nonce, ad = byte 0, header)
 *   81      24      body nonce (random)
 *   105     L + 16  AEAD(mk, body nonce, ad = AD || bytes 0..105, plaintext)
 *
 * and its 40-byte header: DHs.pub (32), PN (4), n (4).
 *
 * The saved state (§3.7):
 *
 *   offset  size    field
 *   0       1       version = 1
 *   1       1       flags: bit 0 DHr, 1 CKs, 2 CKr, 3 HKs, 4 HKr
 *   2       32      DHs private key
 *   34      32      DHs public key
 *   66..322 8 x 32  DHr, RK, CKs, CKr, HKs, HKr, NHKs, NHKr
 *   322     4 x 3   Ns, Nr, PN
 *   334     64      AD
 *   398     2       S, skipped keys
 *   400     68 x S  header key (32), n (4), message key (32), oldest first
 *
 * Invariants. The fixed part of the state (keys, counters, AD) is one small
 * secure allocation made when the session is, and sending never allocates.
 * Fields whose flag is clear are zero. Valid flag sets are the inviter's
 * first state (none), the joiner's first state (DHr, CKs, HKs) and every
 * later state (all five).
 *
 * Failure atomicity. ratchet_decrypt() works in a struct ratchet_rx on the
 * stack: the opened header, the candidate chain and message keys, the new
 * root, chain and header keys and ratchet key pair of a DH step, and at
 * most two ranges of keys to skip (the old receiving chain up to PN and the
 * current one up to n). A range is remembered by its first chain key and its
 * bounds, not by its keys: the keys are derived again when the range is
 * committed, which happens only after the body has authenticated. Skipping
 * thus costs two chain steps per skipped key, while a message that arrives
 * in order costs one. The number of keys a message will store is known once
 * its header has opened, so a larger store, if one is needed, is allocated
 * after the body has authenticated (a forgery never allocates) and before
 * anything is committed: SOTTO_ERR_NOMEM also leaves the state unchanged.
 * Every temporary is wiped at the single exit of ratchet_decrypt().
 *
 * The skipped-key store is a second secure allocation that exists only
 * while it holds keys, so a session with none pins one page of locked
 * memory rather than the bound's 72 KB. It is a ring, oldest first, so
 * evicting the oldest is O(1); it grows through the capacities in
 * skipped_caps by allocating the larger ring, moving the keys into it,
 * wiping and freeing the old one (never realloc), evicts only at
 * RATCHET_SKIPPED_MAX, and is wiped and freed when its last key goes. Keys
 * of one receiving chain share a header key and sit next to each other, in
 * ascending n (a chain stops gaining skipped keys once the next one starts);
 * each entry carries the serial of its chain ("run") so header trial
 * decryption tries each distinct header key once, without comparing keys.
 * Entries at positions >= n_skipped hold nothing secret: every vacated slot
 * is wiped.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <sodium.h>

#include "core/ctx.h"
#include "core/err.h"
#include "crypto/aead.h"
#include "crypto/ct.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/x25519.h"
#include "proto/ratchet.h"
#include "proto/ratchet_int.h"
#include "wire/reader.h"
#include "wire/writer.h"

enum {
	KEY_LEN = PROTO_KEY_LEN,
	MSG_HEADER_AD_LEN = 1, /* the header's ad is the version byte */
	BODY_AD_LEN = PROTO_AD_LEN + RATCHET_PREFIX_LEN,
	KDF_RK_LEN = 3 * PROTO_KEY_LEN, /* new root key, chain key, next header key */
	STATE_VERSION = 1,

	FLAG_DHR = 1u << 0,
	FLAG_CKS = 1u << 1,
	FLAG_CKR = 1u << 2,
	FLAG_HKS = 1u << 3,
	FLAG_HKR = 1u << 4,
	FLAGS_INVITER_FIRST = 0,
	FLAGS_JOINER_FIRST = FLAG_DHR | FLAG_CKS | FLAG_HKS,
	FLAGS_ALL = FLAG_DHR | FLAG_CKS | FLAG_CKR | FLAG_HKS | FLAG_HKR,
};

_Static_assert(1 + 2 * RATCHET_NONCE_LEN + RATCHET_ENC_HEADER_LEN == RATCHET_PREFIX_LEN,
               "message prefix layout");
_Static_assert(RATCHET_PREFIX_LEN + RATCHET_TAG_LEN == RATCHET_OVERHEAD, "message overhead");
_Static_assert(RATCHET_ENC_HEADER_LEN == RATCHET_HEADER_LEN + AEAD_TAG_LEN, "header ciphertext");
_Static_assert(RATCHET_STATE_MAX ==
                       RATCHET_STATE_BASE_LEN + RATCHET_SKIPPED_ENTRY_LEN * RATCHET_SKIPPED_MAX,
               "state bound");
_Static_assert(RATCHET_SKIPPED_MAX <= UINT16_MAX, "S is a u16");

static const uint8_t label_root[] = "sotto/e2e/root/v1";
#define LABEL_ROOT_LEN (sizeof(label_root) - 1)

/* Stands in for an absent (empty) plaintext so no NULL reaches libsodium. */
static const uint8_t ratchet_empty[1] = {0};

struct ratchet_skipped {
	uint8_t hk[KEY_LEN]; /* header key of the chain (secret) */
	uint8_t mk[KEY_LEN]; /* message key (secret) */
	uint32_t n;          /* message number in that chain */
	uint32_t run;        /* serial of that chain, equal for equal hk; not saved */
};

struct ratchet {
	struct sotto_ctx *ctx;           /* borrowed: RNG for DH steps, allocator for free */
	struct x25519_keypair dhs;       /* DHs (secret priv) */
	uint8_t dhr[KEY_LEN];            /* DHr, the peer's ratchet public key */
	uint8_t rk[KEY_LEN];             /* RK (secret) */
	uint8_t cks[KEY_LEN];            /* CKs (secret) */
	uint8_t ckr[KEY_LEN];            /* CKr (secret) */
	uint8_t hks[KEY_LEN];            /* HKs (secret) */
	uint8_t hkr[KEY_LEN];            /* HKr (secret) */
	uint8_t nhks[KEY_LEN];           /* NHKs (secret) */
	uint8_t nhkr[KEY_LEN];           /* NHKr (secret) */
	uint8_t ad[PROTO_AD_LEN];        /* AD */
	uint32_t ns, nr, pn;             /* Ns, Nr, PN */
	uint32_t run;                    /* serial of the receiving chain (HKr) */
	uint8_t flags;                   /* FLAG_* */
	size_t head;                     /* ring index of the oldest skipped key, < cap */
	size_t n_skipped;                /* skipped keys stored, <= cap */
	size_t cap;                      /* entries of skipped: 0 or one of skipped_caps */
	struct ratchet_skipped *skipped; /* owned secure ring of cap entries; NULL when empty */
};

/*
 * Capacities of the skipped-key store, smallest first, the last the bound.
 * The secure allocator hands out whole pages and keeps CTX_SECURE_OVERHEAD
 * bytes in front of the block, so the first step fills one 4 KiB page (56
 * keys: a few lost messages), the second four (227), and a store that
 * outgrows those is heading for the bound anyway. Growing by about four
 * keeps a store within a few times what it holds and copies each key at
 * most twice.
 */
enum { STORE_PAGE_LEN = 4096 };
#define STORE_CAP_OF_PAGES(n_pages)                                                                \
	(((n_pages)*STORE_PAGE_LEN - CTX_SECURE_OVERHEAD) / sizeof(struct ratchet_skipped))
static const size_t skipped_caps[] = {STORE_CAP_OF_PAGES(1), STORE_CAP_OF_PAGES(4),
                                      RATCHET_SKIPPED_MAX};
_Static_assert(STORE_CAP_OF_PAGES(4) < RATCHET_SKIPPED_MAX, "capacities ascend to the bound");

/* A larger store made before a decryption commits; skipped_grow_commit() installs it. */
struct skipped_grow {
	struct ratchet_skipped *ring; /* owned secure allocation of cap entries, or NULL */
	size_t cap;
};

/* A decoded header (§3.6). */
struct ratchet_header {
	uint8_t dh[KEY_LEN]; /* the sender's ratchet public key */
	uint32_t pn;         /* PN */
	uint32_t n;          /* n */
};

/* A message split into its fields (borrowed from the caller's bytes). */
struct ratchet_msg {
	const uint8_t *prefix;       /* bytes 0..105 */
	const uint8_t *header_nonce; /* 24 bytes */
	const uint8_t *enc_header;   /* 56 bytes */
	const uint8_t *body_nonce;   /* 24 bytes */
	const uint8_t *body;         /* body_len bytes: ciphertext then tag */
	size_t body_len;
};

/* Keys [from, to) of a chain whose key for message `from` is ck, to be stored. */
struct skip_range {
	const uint8_t *ck; /* borrowed: r->ckr or ratchet_rx.recv + KEY_LEN */
	uint32_t from, to;
};

enum rx_path { RX_SKIPPED, RX_CURRENT, RX_NEXT };

/* Everything one decryption computes before it may commit; wiped after. */
struct ratchet_rx {
	enum rx_path path;
	struct ratchet_header hdr;
	size_t idx;                /* RX_SKIPPED: the store entry */
	uint8_t ck[KEY_LEN];       /* candidate CKr after this message */
	uint8_t mk[KEY_LEN];       /* this message's key */
	uint8_t shared[KEY_LEN];   /* a DH output */
	uint8_t recv[KDF_RK_LEN];  /* RX_NEXT: RK, CKr, NHKr of the receiving half */
	uint8_t send[KDF_RK_LEN];  /* RX_NEXT: RK, CKs, NHKs of the sending half */
	struct x25519_keypair dhs; /* RX_NEXT: the new DHs */
	struct skipped_grow grow;  /* a larger store for the keys to skip, if needed */
};

size_t ratchet_message_len(size_t pt_len)
{
	if (pt_len > SIZE_MAX - RATCHET_OVERHEAD)
		return SIZE_MAX;
	return pt_len + RATCHET_OVERHEAD;
}

/* ---- the skipped-key store ---- */

/* Ring slot of entry i (0 = oldest); head < cap and i < cap, so one wrap at most. */
static size_t skipped_slot(const struct ratchet *r, size_t i)
{
	size_t slot = r->head + i;

	return slot >= r->cap ? slot - r->cap : slot;
}

static struct ratchet_skipped *skipped_at(struct ratchet *r, size_t i)
{
	return &r->skipped[skipped_slot(r, i)];
}

static const struct ratchet_skipped *skipped_at_c(const struct ratchet *r, size_t i)
{
	return &r->skipped[skipped_slot(r, i)];
}

/* Wipes the stored keys and frees the store; the state then holds none. */
static void skipped_release(struct ratchet *r)
{
	for (size_t i = 0; i < r->n_skipped; i++)
		sodium_memzero(skipped_at(r, i), sizeof(struct ratchet_skipped));
	ctx_secure_free(r->ctx, r->skipped);
	r->skipped = NULL;
	r->cap = 0;
	r->head = 0;
	r->n_skipped = 0;
}

/*
 * Makes room for n_new more keys without touching r: when the store would
 * outgrow its capacity below the bound (at the bound the oldest are evicted
 * instead), g gets a ring of the smallest capacity that holds them. g must
 * be empty. Errors: SOTTO_ERR_NOMEM.
 */
static sotto_err skipped_reserve(const struct ratchet *r, size_t n_new, struct skipped_grow *g)
{
	size_t need = n_new < RATCHET_SKIPPED_MAX - r->n_skipped ? r->n_skipped + n_new
	                                                         : RATCHET_SKIPPED_MAX;
	size_t step = 0;

	if (need <= r->cap)
		return SOTTO_OK;
	while (skipped_caps[step] < need) /* ends: the last step is the bound */
		step++;
	/* At most RATCHET_SKIPPED_MAX entries of 72 bytes: the product cannot wrap. */
	g->ring = ctx_secure_alloc(r->ctx, skipped_caps[step] * sizeof(struct ratchet_skipped));
	if (g->ring == NULL)
		return SOTTO_ERR_NOMEM;
	g->cap = skipped_caps[step];
	return SOTTO_OK;
}

/* Installs g's ring, if any: the keys move in oldest first; the old ring is wiped and freed. */
static void skipped_grow_commit(struct ratchet *r, struct skipped_grow *g)
{
	size_t n = r->n_skipped;

	if (g->ring == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		g->ring[i] = *skipped_at_c(r, i);
	skipped_release(r);
	r->skipped = g->ring;
	g->ring = NULL; /* moved */
	r->cap = g->cap;
	r->n_skipped = n;
}

/* Frees a ring that was never installed; it holds nothing secret. */
static void skipped_grow_drop(struct sotto_ctx *ctx, struct skipped_grow *g)
{
	ctx_secure_free(ctx, g->ring);
	g->ring = NULL;
	g->cap = 0;
}

/*
 * A new newest entry, evicting the oldest when the store is full, which
 * skipped_reserve() leaves it only at the bound.
 */
static struct ratchet_skipped *skipped_append(struct ratchet *r)
{
	if (r->n_skipped == r->cap) {
		(void)SOTTO_INVARIANT(r->cap == RATCHET_SKIPPED_MAX);
		sodium_memzero(skipped_at(r, 0), sizeof(struct ratchet_skipped));
		r->head = skipped_slot(r, 1);
		r->n_skipped--;
	}
	return skipped_at(r, r->n_skipped++);
}

/*
 * Deletes entry i, closing the gap from whichever side is shorter; frees
 * the store when that was its last key.
 */
static void skipped_remove(struct ratchet *r, size_t i)
{
	if (i < r->n_skipped / 2) {
		for (size_t j = i; j > 0; j--)
			*skipped_at(r, j) = *skipped_at(r, j - 1);
		sodium_memzero(skipped_at(r, 0), sizeof(struct ratchet_skipped));
		r->head = skipped_slot(r, 1);
	} else {
		for (size_t j = i; j + 1 < r->n_skipped; j++)
			*skipped_at(r, j) = *skipped_at(r, j + 1);
		sodium_memzero(skipped_at(r, r->n_skipped - 1), sizeof(struct ratchet_skipped));
	}
	r->n_skipped--;
	if (r->n_skipped == 0)
		skipped_release(r);
}

/* The entry in [from, to) with number n; entries of one run are in ascending n. */
static bool skipped_find(const struct ratchet *r, size_t from, size_t to, uint32_t n, size_t *idx)
{
	for (size_t i = from; i < to; i++) {
		const struct ratchet_skipped *e = skipped_at_c(r, i);
		if (e->n == n) {
			*idx = i;
			return true;
		}
		if (e->n > n)
			break;
	}
	return false;
}

/*
 * Numbers the runs of equal header keys 1, 2, ... oldest first and sets
 * r->run to the receiving chain's serial: the last run's if its key is HKr,
 * else a fresh one. Used after loading a state and when the serial would wrap.
 */
static void skipped_number_runs(struct ratchet *r)
{
	uint32_t run = 0;

	for (size_t i = 0; i < r->n_skipped; i++) {
		struct ratchet_skipped *e = skipped_at(r, i);
		if (i == 0 || !ct_equal(e->hk, skipped_at(r, i - 1)->hk, KEY_LEN))
			run++;
		e->run = run;
	}
	if (r->n_skipped > 0 && (r->flags & FLAG_HKR) != 0 &&
	    ct_equal(skipped_at(r, r->n_skipped - 1)->hk, r->hkr, KEY_LEN))
		r->run = run;
	else
		r->run = run + 1;
}

/* KDF_CK over a range: stores keys [from, to) under header key hk and serial run. */
static void skipped_push_range(struct ratchet *r, const struct skip_range *sr, const uint8_t *hk,
                               uint32_t run)
{
	uint8_t ck[KEY_LEN];

	memcpy(ck, sr->ck, KEY_LEN);
	for (uint32_t n = sr->from; n < sr->to; n++) {
		struct ratchet_skipped *e = skipped_append(r);
		kdf_chain(ck, e->mk, ck);
		memcpy(e->hk, hk, KEY_LEN);
		e->n = n;
		e->run = run;
	}
	sodium_memzero(ck, sizeof(ck));
}

/* ---- primitives of §3.5/§3.6 ---- */

/* KDF_RK(rk, dh) -> out = new rk || chain key || next header key. */
static sotto_err kdf_rk(const uint8_t rk[static KEY_LEN], const uint8_t dh[static KEY_LEN],
                        uint8_t out[static KDF_RK_LEN])
{
	return hkdf_blake2b(out, KDF_RK_LEN, rk, KEY_LEN, dh, KEY_LEN, label_root, LABEL_ROOT_LEN);
}

/*
 * Message key of number from + steps, and the chain key after it, from
 * the chain key ck of number from (KDF_CK applied steps + 1 times).
 */
static void chain_to(const uint8_t ck[static KEY_LEN], uint32_t steps,
                     uint8_t ck_out[static KEY_LEN], uint8_t mk[static KEY_LEN])
{
	kdf_chain(ck, mk, ck_out);
	for (uint32_t i = 0; i < steps; i++)
		kdf_chain(ck_out, mk, ck_out);
}

static sotto_err msg_parse(const uint8_t *msg, size_t msg_len, struct ratchet_msg *m)
{
	struct wire_reader rd;

	wire_reader_init(&rd, msg, msg_len);
	uint8_t version = wire_reader_u8(&rd);
	m->prefix = msg;
	m->header_nonce = wire_reader_view(&rd, RATCHET_NONCE_LEN);
	m->enc_header = wire_reader_view(&rd, RATCHET_ENC_HEADER_LEN);
	m->body_nonce = wire_reader_view(&rd, RATCHET_NONCE_LEN);
	m->body_len = wire_reader_remaining(&rd);
	m->body = wire_reader_view(&rd, m->body_len);
	if (wire_reader_finish(&rd) != SOTTO_OK || version != RATCHET_VERSION ||
	    m->body_len < RATCHET_TAG_LEN || m->body_len - RATCHET_TAG_LEN > RATCHET_PLAINTEXT_MAX)
		return SOTTO_ERR_AUTH;
	return SOTTO_OK;
}

/* HDECRYPT(hk, enc_header) into h. */
static sotto_err header_open(const uint8_t hk[static KEY_LEN], const struct ratchet_msg *m,
                             struct ratchet_header *h)
{
	uint8_t plain[RATCHET_HEADER_LEN];
	struct wire_reader rd;
	sotto_err rc;

	rc = aead_x_decrypt(plain, m->enc_header, RATCHET_ENC_HEADER_LEN, m->prefix,
	                    MSG_HEADER_AD_LEN, m->header_nonce, hk);
	if (rc != SOTTO_OK)
		goto out;
	wire_reader_init(&rd, plain, sizeof(plain));
	wire_reader_copy(&rd, h->dh, KEY_LEN);
	h->pn = wire_reader_u32(&rd);
	h->n = wire_reader_u32(&rd);
	rc = wire_reader_finish(&rd);
out:
	sodium_memzero(plain, sizeof(plain));
	return rc;
}

/* The body under mk into pt (ad = AD || prefix); any failure is SOTTO_ERR_AUTH. */
static sotto_err body_open(const struct ratchet *r, const struct ratchet_msg *m,
                           const uint8_t mk[static KEY_LEN], uint8_t *pt)
{
	uint8_t ad[BODY_AD_LEN];

	memcpy(ad, r->ad, PROTO_AD_LEN);
	memcpy(ad + PROTO_AD_LEN, m->prefix, RATCHET_PREFIX_LEN);
	if (aead_x_decrypt(pt, m->body, m->body_len, ad, sizeof(ad), m->body_nonce, mk) != SOTTO_OK)
		return SOTTO_ERR_AUTH;
	return SOTTO_OK;
}

/* ---- lifetime ---- */

static sotto_err ratchet_alloc(struct sotto_ctx *ctx, struct ratchet **out)
{
	struct ratchet *r = ctx_secure_alloc(ctx, sizeof(*r));

	*out = NULL;
	if (r == NULL)
		return SOTTO_ERR_NOMEM;
	memset(r, 0, sizeof(*r));
	r->ctx = ctx;
	r->skipped = NULL; /* no store until a key must be kept */
	*out = r;
	return SOTTO_OK;
}

void ratchet_free(struct ratchet *r)
{
	if (r == NULL)
		return;
	struct sotto_ctx *ctx = r->ctx;
	skipped_release(r);
	sodium_memzero(r, sizeof(*r));
	ctx_secure_free(ctx, r);
}

sotto_err ratchet_new_joiner(struct sotto_ctx *ctx, const struct ratchet_init *init,
                             const uint8_t peer_key[static PROTO_KEY_LEN], struct ratchet **out)
{
	struct x25519_keypair dhs;
	uint8_t shared[X25519_SHARED_LEN], okm[KDF_RK_LEN];
	struct ratchet *r = NULL;
	sotto_err rc;

	*out = NULL;
	/* §3.5 joiner: DHs = new, (RK, CKs, NHKs) = KDF_RK(SK, DH(DHs, I2)) */
	x25519_keypair_generate(ctx, &dhs);
	if ((rc = x25519_dh(shared, dhs.priv, peer_key)) != SOTTO_OK)
		goto out;
	if ((rc = kdf_rk(init->sk, shared, okm)) != SOTTO_OK)
		goto out;
	if ((rc = ratchet_alloc(ctx, &r)) != SOTTO_OK)
		goto out;
	r->dhs = dhs;
	memcpy(r->dhr, peer_key, KEY_LEN);
	memcpy(r->rk, okm, KEY_LEN);
	memcpy(r->cks, okm + KEY_LEN, KEY_LEN);
	memcpy(r->nhks, okm + 2 * KEY_LEN, KEY_LEN);
	memcpy(r->hks, init->hkj, KEY_LEN);
	memcpy(r->nhkr, init->nhki, KEY_LEN);
	memcpy(r->ad, init->ad, PROTO_AD_LEN);
	r->flags = FLAGS_JOINER_FIRST;
	*out = r;
	r = NULL; /* moved */
	rc = SOTTO_OK;
out:
	x25519_keypair_clear(&dhs);
	sodium_memzero(shared, sizeof(shared));
	sodium_memzero(okm, sizeof(okm));
	ratchet_free(r);
	return rc;
}

sotto_err ratchet_new_inviter(struct sotto_ctx *ctx, const struct ratchet_init *init,
                              const struct x25519_keypair *own_key, struct ratchet **out)
{
	struct ratchet *r = NULL;
	sotto_err rc;

	*out = NULL;
	if ((rc = ratchet_alloc(ctx, &r)) != SOTTO_OK)
		return rc;
	/* §3.5 inviter: DHs = I2, RK = SK, NHKs = NHKI, NHKr = HKJ */
	r->dhs = *own_key;
	memcpy(r->rk, init->sk, KEY_LEN);
	memcpy(r->nhks, init->nhki, KEY_LEN);
	memcpy(r->nhkr, init->hkj, KEY_LEN);
	memcpy(r->ad, init->ad, PROTO_AD_LEN);
	r->flags = FLAGS_INVITER_FIRST;
	*out = r;
	return SOTTO_OK;
}

const uint8_t *ratchet_ad(const struct ratchet *r)
{
	return r->ad;
}

/* ---- sending ---- */

static void header_encode(const struct ratchet *r, uint8_t out[static RATCHET_HEADER_LEN])
{
	struct wire_writer w;

	wire_writer_init(&w, out, RATCHET_HEADER_LEN);
	wire_writer_bytes(&w, r->dhs.pub, KEY_LEN);
	wire_writer_u32(&w, r->pn);
	wire_writer_u32(&w, r->ns);
	sotto_err rc = wire_writer_finish(&w, NULL);
	(void)SOTTO_INVARIANT(rc == SOTTO_OK); /* constant layout of constant size */
}

void ratchet_pending_clear(struct ratchet_pending *p)
{
	sodium_memzero(p, sizeof(*p));
}

sotto_err ratchet_encrypt_begin(struct ratchet *r, struct ratchet_pending *p)
{
	uint8_t header[RATCHET_HEADER_LEN], ck[KEY_LEN];
	uint8_t nonces[2 * RATCHET_NONCE_LEN];
	uint8_t *nonce_h = p->prefix + 1;
	uint8_t *enc_header = nonce_h + RATCHET_NONCE_LEN;
	uint8_t *nonce_b = enc_header + RATCHET_ENC_HEADER_LEN;
	sotto_err rc;

	memset(p, 0, sizeof(*p));
	if ((r->flags & FLAG_CKS) == 0) {
		rc = SOTTO_ERR_STATE;
		goto out;
	}
	if (r->ns == UINT32_MAX) {
		rc = SOTTO_ERR_NONCE_EXHAUSTED;
		goto out;
	}
	p->prefix[0] = RATCHET_VERSION;
	/* One draw of 48 bytes: the header nonce, then the body nonce (§3.5). */
	ctx_random(r->ctx, nonces, sizeof(nonces));
	memcpy(nonce_h, nonces, RATCHET_NONCE_LEN);
	memcpy(nonce_b, nonces + RATCHET_NONCE_LEN, RATCHET_NONCE_LEN);
	/* §3.5 sending: CKs, mk = KDF_CK(CKs); HENCRYPT(HKs, header) */
	kdf_chain(r->cks, p->mk, ck);
	header_encode(r, header);
	if ((rc = aead_x_encrypt(enc_header, header, sizeof(header), p->prefix, MSG_HEADER_AD_LEN,
	                         nonce_h, r->hks)) != SOTTO_OK)
		goto out;
	memcpy(p->ad, r->ad, PROTO_AD_LEN);
	memcpy(r->cks, ck, KEY_LEN);
	r->ns++;
out:
	if (rc != SOTTO_OK)
		ratchet_pending_clear(p);
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(header, sizeof(header));
	return rc;
}

sotto_err ratchet_encrypt_finish(const struct ratchet_pending *p, const uint8_t *pt, size_t pt_len,
                                 uint8_t *out, size_t out_cap, size_t *out_len)
{
	const uint8_t *nonce_b = p->prefix + 1 + RATCHET_NONCE_LEN + RATCHET_ENC_HEADER_LEN;
	uint8_t ad[BODY_AD_LEN];
	sotto_err rc;

	*out_len = 0;
	if (pt_len > RATCHET_PLAINTEXT_MAX || out_cap < RATCHET_PREFIX_LEN ||
	    out_cap - RATCHET_PREFIX_LEN < pt_len + RATCHET_TAG_LEN)
		return SOTTO_ERR_TOO_LARGE;
	memcpy(out, p->prefix, RATCHET_PREFIX_LEN);
	/* ENCRYPT(mk, plaintext, CONCAT(AD, prefix)) */
	memcpy(ad, p->ad, PROTO_AD_LEN);
	memcpy(ad + PROTO_AD_LEN, p->prefix, RATCHET_PREFIX_LEN);
	if ((rc = aead_x_encrypt(out + RATCHET_PREFIX_LEN, pt != NULL ? pt : ratchet_empty, pt_len,
	                         ad, sizeof(ad), nonce_b, p->mk)) != SOTTO_OK)
		return rc;
	*out_len = RATCHET_PREFIX_LEN + pt_len + RATCHET_TAG_LEN;
	return SOTTO_OK;
}

sotto_err ratchet_encrypt(struct ratchet *r, const uint8_t *pt, size_t pt_len, uint8_t *out,
                          size_t out_cap, size_t *out_len)
{
	struct ratchet_pending p;
	sotto_err rc;

	*out_len = 0;
	if (pt_len > RATCHET_PLAINTEXT_MAX || out_cap < RATCHET_PREFIX_LEN ||
	    out_cap - RATCHET_PREFIX_LEN < pt_len + RATCHET_TAG_LEN)
		return SOTTO_ERR_TOO_LARGE;
	if ((rc = ratchet_encrypt_begin(r, &p)) != SOTTO_OK)
		return rc;
	rc = ratchet_encrypt_finish(&p, pt, pt_len, out, out_cap, out_len);
	ratchet_pending_clear(&p);
	return rc; /* finish cannot fail once the sizes are checked */
}

/* ---- receiving (§3.5 "Receiving") ---- */

/*
 * Step 3: each distinct header key of the store, oldest first, except the
 * receiving chain's own (step 1 tries HKr and finds its stored keys). A
 * header that opens under a stored header key but names no stored number is
 * a replay of that chain: SOTTO_ERR_AUTH. *opened says whether one opened.
 */
static sotto_err rx_try_skipped(const struct ratchet *r, const struct ratchet_msg *m,
                                struct ratchet_rx *rx, bool *opened)
{
	size_t end;

	*opened = false;
	for (size_t i = 0; i < r->n_skipped; i = end) {
		const struct ratchet_skipped *e = skipped_at_c(r, i);
		for (end = i + 1; end < r->n_skipped && skipped_at_c(r, end)->run == e->run; end++)
			;
		if (e->run == r->run || header_open(e->hk, m, &rx->hdr) != SOTTO_OK)
			continue;
		*opened = true;
		if (!skipped_find(r, i, end, rx->hdr.n, &rx->idx))
			return SOTTO_ERR_AUTH;
		rx->path = RX_SKIPPED;
		return SOTTO_OK;
	}
	return SOTTO_OK;
}

/*
 * Steps 1-3: which key opens the header; step 4 (none) is SOTTO_ERR_AUTH.
 * HKr and NHKr are tried before the stored header keys: independent keys
 * cannot both open one header, so the order changes no result, and the
 * common cases cost one or two trials however many old chains the store
 * still holds keys of.
 */
static sotto_err rx_open_header(const struct ratchet *r, const struct ratchet_msg *m,
                                struct ratchet_rx *rx)
{
	bool opened;
	sotto_err rc;

	if ((r->flags & FLAG_HKR) != 0 && header_open(r->hkr, m, &rx->hdr) == SOTTO_OK) {
		rx->path = RX_CURRENT;
		return SOTTO_OK;
	}
	if (header_open(r->nhkr, m, &rx->hdr) == SOTTO_OK) {
		rx->path = RX_NEXT;
		return SOTTO_OK;
	}
	if ((rc = rx_try_skipped(r, m, rx, &opened)) != SOTTO_OK || opened)
		return rc;
	return SOTTO_ERR_AUTH;
}

/*
 * Steps 3 and 1 (an older number): the stored key opens the body; only then
 * is it deleted.
 */
static sotto_err rx_skipped(struct ratchet *r, const struct ratchet_msg *m, struct ratchet_rx *rx,
                            uint8_t *pt)
{
	sotto_err rc = body_open(r, m, skipped_at(r, rx->idx)->mk, pt);

	if (rc == SOTTO_OK)
		skipped_remove(r, rx->idx);
	return rc;
}

/* Step 1: same chain; an old number must have a stored key (else a replay). */
static sotto_err rx_current(struct ratchet *r, const struct ratchet_msg *m, struct ratchet_rx *rx,
                            uint8_t *pt)
{
	const struct ratchet_header *h = &rx->hdr;
	sotto_err rc;

	/* HKr belongs to the chain DHr started: its headers all carry DHr. */
	if (!ct_equal(h->dh, r->dhr, KEY_LEN))
		return SOTTO_ERR_AUTH;
	if (h->n < r->nr) {
		size_t from = r->n_skipped;
		while (from > 0 && skipped_at_c(r, from - 1)->run == r->run)
			from--;
		if (!skipped_find(r, from, r->n_skipped, h->n, &rx->idx))
			return SOTTO_ERR_AUTH;
		return rx_skipped(r, m, rx, pt);
	}
	if (h->n - r->nr > RATCHET_MAX_SKIP)
		return SOTTO_ERR_TOO_FAR_AHEAD;
	if (h->n == UINT32_MAX) /* no sender gets there (NONCE_EXHAUSTED), and Nr would wrap */
		return SOTTO_ERR_AUTH;
	chain_to(r->ckr, h->n - r->nr, rx->ck, rx->mk);
	if ((rc = body_open(r, m, rx->mk, pt)) != SOTTO_OK)
		return rc;
	if ((rc = skipped_reserve(r, h->n - r->nr, &rx->grow)) != SOTTO_OK)
		return rc;
	/* commit */
	skipped_grow_commit(r, &rx->grow);
	struct skip_range skip = {r->ckr, r->nr, h->n};
	skipped_push_range(r, &skip, r->hkr, r->run);
	memcpy(r->ckr, rx->ck, KEY_LEN);
	r->nr = h->n + 1;
	return SOTTO_OK;
}

/* Step 2 commit: store skipped keys of both chains, then the DH ratchet step. */
static void rx_commit_next(struct ratchet *r, struct ratchet_rx *rx, bool skip_old)
{
	const struct ratchet_header *h = &rx->hdr;

	skipped_grow_commit(r, &rx->grow);
	if (skip_old) {
		struct skip_range old = {r->ckr, r->nr, h->pn};
		skipped_push_range(r, &old, r->hkr, r->run);
	}
	if (r->run == UINT32_MAX)
		skipped_number_runs(r);
	r->run++;
	struct skip_range cur = {rx->recv + KEY_LEN, 0, h->n};
	skipped_push_range(r, &cur, r->nhkr, r->run);
	/* PN = Ns; Ns = Nr = 0; HKs = NHKs; HKr = NHKr; DHr = header.dh; ... */
	r->pn = r->ns;
	r->ns = 0;
	r->nr = h->n + 1;
	memcpy(r->hks, r->nhks, KEY_LEN);
	memcpy(r->hkr, r->nhkr, KEY_LEN);
	memcpy(r->dhr, h->dh, KEY_LEN);
	memcpy(r->ckr, rx->ck, KEY_LEN);
	memcpy(r->nhkr, rx->recv + 2 * KEY_LEN, KEY_LEN);
	r->dhs = rx->dhs;
	memcpy(r->rk, rx->send, KEY_LEN);
	memcpy(r->cks, rx->send + KEY_LEN, KEY_LEN);
	memcpy(r->nhks, rx->send + 2 * KEY_LEN, KEY_LEN);
	r->flags = FLAGS_ALL;
}

/*
 * Step 2: a new ratchet key. The receiving half of the DH step is enough to
 * open the body; the new key pair and the sending half are made only once
 * it has, so a forged message costs one DH and never touches the RNG.
 */
static sotto_err rx_next(struct ratchet *r, const struct ratchet_msg *m, struct ratchet_rx *rx,
                         uint8_t *pt)
{
	const struct ratchet_header *h = &rx->hdr;
	bool skip_old = (r->flags & FLAG_CKR) != 0 && h->pn > r->nr;
	size_t n_old = skip_old ? h->pn - r->nr : 0; /* keys to skip in the old chain */
	sotto_err rc;

	if (n_old > RATCHET_MAX_SKIP || h->n > RATCHET_MAX_SKIP)
		return SOTTO_ERR_TOO_FAR_AHEAD;
	/* (RK, CKr, NHKr) = KDF_RK(RK, DH(DHs, DHr)) */
	if ((rc = x25519_dh(rx->shared, r->dhs.priv, h->dh)) != SOTTO_OK)
		return rc;
	if ((rc = kdf_rk(r->rk, rx->shared, rx->recv)) != SOTTO_OK)
		return rc;
	chain_to(rx->recv + KEY_LEN, h->n, rx->ck, rx->mk);
	if ((rc = body_open(r, m, rx->mk, pt)) != SOTTO_OK)
		return rc;
	/* Before the key pair is drawn, so SOTTO_ERR_NOMEM draws no random bytes either. */
	if ((rc = skipped_reserve(r, n_old + h->n, &rx->grow)) != SOTTO_OK)
		return rc;
	/* DHs = new key pair; (RK, CKs, NHKs) = KDF_RK(RK, DH(DHs, DHr)) */
	x25519_keypair_generate(r->ctx, &rx->dhs);
	if ((rc = x25519_dh(rx->shared, rx->dhs.priv, h->dh)) != SOTTO_OK)
		return rc;
	if ((rc = kdf_rk(rx->recv, rx->shared, rx->send)) != SOTTO_OK)
		return rc;
	rx_commit_next(r, rx, skip_old);
	return SOTTO_OK;
}

sotto_err ratchet_decrypt(struct ratchet *r, const uint8_t *msg, size_t msg_len, uint8_t *pt,
                          size_t pt_cap, size_t *pt_len)
{
	struct ratchet_msg m;
	struct ratchet_rx rx;
	size_t plain_len = 0, wipe_len = 0;
	sotto_err rc;

	rx.grow.ring = NULL;
	rx.grow.cap = 0;
	*pt_len = 0;
	if ((rc = msg_parse(msg, msg_len, &m)) != SOTTO_OK)
		goto out;
	plain_len = m.body_len - RATCHET_TAG_LEN;
	wipe_len = plain_len < pt_cap ? plain_len : pt_cap;
	if (pt_cap < plain_len) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	if ((rc = rx_open_header(r, &m, &rx)) != SOTTO_OK)
		goto out;
	switch (rx.path) {
	case RX_SKIPPED: rc = rx_skipped(r, &m, &rx, pt); break;
	case RX_CURRENT: rc = rx_current(r, &m, &rx, pt); break;
	case RX_NEXT: rc = rx_next(r, &m, &rx, pt); break;
	}
	if (rc != SOTTO_OK)
		goto out;
	*pt_len = plain_len;
out:
	if (rc != SOTTO_OK && wipe_len > 0)
		sodium_memzero(pt, wipe_len);
	skipped_grow_drop(r->ctx, &rx.grow);
	sodium_memzero(&rx, sizeof(rx));
	return rc;
}

/* ---- saved state (§3.7) ---- */

size_t ratchet_serialized_len(const struct ratchet *r)
{
	return RATCHET_STATE_BASE_LEN + RATCHET_SKIPPED_ENTRY_LEN * r->n_skipped;
}

sotto_err ratchet_serialize(const struct ratchet *r, uint8_t *out, size_t out_cap, size_t *out_len)
{
	const uint8_t *keys[] = {r->dhs.priv, r->dhs.pub, r->dhr, r->rk,   r->cks,
	                         r->ckr,      r->hks,     r->hkr, r->nhks, r->nhkr};
	struct wire_writer w;

	*out_len = 0;
	/* Checked first so that no partial copy of the keys is ever written. */
	if (out_cap < ratchet_serialized_len(r))
		return SOTTO_ERR_TOO_LARGE;
	wire_writer_init(&w, out, out_cap);
	wire_writer_u8(&w, STATE_VERSION);
	wire_writer_u8(&w, r->flags);
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(keys); i++)
		wire_writer_bytes(&w, keys[i], KEY_LEN);
	wire_writer_u32(&w, r->ns);
	wire_writer_u32(&w, r->nr);
	wire_writer_u32(&w, r->pn);
	wire_writer_bytes(&w, r->ad, PROTO_AD_LEN);
	wire_writer_u16(&w, (uint16_t)r->n_skipped);
	for (size_t i = 0; i < r->n_skipped; i++) {
		const struct ratchet_skipped *e = skipped_at_c(r, i);
		wire_writer_bytes(&w, e->hk, KEY_LEN);
		wire_writer_u32(&w, e->n);
		wire_writer_bytes(&w, e->mk, KEY_LEN);
	}
	return wire_writer_finish(&w, out_len);
}

/*
 * Reads every field of §3.7 into r (fresh from ratchet_alloc, with room for
 * n_keys skipped keys, the count in_len implies); no checks but lengths.
 */
static sotto_err state_read(struct ratchet *r, const uint8_t *in, size_t in_len, size_t n_keys,
                            uint8_t *version)
{
	uint8_t *keys[] = {r->dhs.priv, r->dhs.pub, r->dhr, r->rk,   r->cks,
	                   r->ckr,      r->hks,     r->hkr, r->nhks, r->nhkr};
	struct wire_reader rd;

	wire_reader_init(&rd, in, in_len);
	*version = wire_reader_u8(&rd);
	r->flags = wire_reader_u8(&rd);
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(keys); i++)
		wire_reader_copy(&rd, keys[i], KEY_LEN);
	r->ns = wire_reader_u32(&rd);
	r->nr = wire_reader_u32(&rd);
	r->pn = wire_reader_u32(&rd);
	wire_reader_copy(&rd, r->ad, PROTO_AD_LEN);
	/* S must account for every byte, and so is at most RATCHET_SKIPPED_MAX. */
	if (wire_reader_u16(&rd) != n_keys)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	for (size_t i = 0; i < n_keys && wire_reader_error(&rd) == SOTTO_OK; i++) {
		struct ratchet_skipped *e = skipped_append(r);
		wire_reader_copy(&rd, e->hk, KEY_LEN);
		e->n = wire_reader_u32(&rd);
		wire_reader_copy(&rd, e->mk, KEY_LEN);
	}
	if (wire_reader_finish(&rd) != SOTTO_OK)
		return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	return SOTTO_OK;
}

/* A field whose flag is clear must be zero. */
static bool state_absent_ok(uint8_t flags, uint8_t flag, const uint8_t *field)
{
	return (flags & flag) != 0 || ct_is_zero(field, KEY_LEN);
}

/* The semantic checks of §3.7 on a state state_read() filled. */
static sotto_err state_check(const struct ratchet *r, uint8_t version)
{
	struct x25519_keypair kp;
	uint8_t f = r->flags;
	sotto_err rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);

	if (version != STATE_VERSION ||
	    (f != FLAGS_INVITER_FIRST && f != FLAGS_JOINER_FIRST && f != FLAGS_ALL))
		goto out;
	if (!state_absent_ok(f, FLAG_DHR, r->dhr) || !state_absent_ok(f, FLAG_CKS, r->cks) ||
	    !state_absent_ok(f, FLAG_CKR, r->ckr) || !state_absent_ok(f, FLAG_HKS, r->hks) ||
	    !state_absent_ok(f, FLAG_HKR, r->hkr))
		goto out;
	/* No sending chain has sent nothing; no receiving chain has received nothing. */
	if (((f & FLAG_CKS) == 0 && (r->ns != 0 || r->pn != 0)) ||
	    ((f & FLAG_CKR) == 0 && (r->nr != 0 || r->n_skipped != 0)))
		goto out;
	if (x25519_keypair_from_private(r->dhs.priv, &kp) != SOTTO_OK ||
	    !ct_equal(kp.pub, r->dhs.pub, KEY_LEN))
		goto out;
	rc = SOTTO_OK;
out:
	x25519_keypair_clear(&kp);
	return rc;
}

/*
 * The order of the store, which decryption relies on, once the runs are
 * numbered: the keys of one chain (a run of equal header keys) in strictly
 * ascending n, so skipped_find() may stop early and no key is stored twice
 * (a replay would open twice); those of the receiving chain (a last run
 * under HKr) below Nr, where step 1 appends Nr and up to the same run; and
 * no run under NHKr, which step 2's keys would join out of order. Two runs
 * under one header key that are not adjacent cannot arise either, but are
 * not refused: finding them takes a key comparison per pair of runs, and
 * they are handled as two chains, which at worst leaves keys unreachable or
 * lets one key written into both open twice; only a writer who holds every
 * key of the session can make such a state.
 */
static bool state_skipped_ok(const struct ratchet *r)
{
	for (size_t i = 0; i < r->n_skipped; i++) {
		const struct ratchet_skipped *e = skipped_at_c(r, i);
		const struct ratchet_skipped *prev = i > 0 ? skipped_at_c(r, i - 1) : NULL;
		if (prev != NULL && prev->run == e->run) {
			if (e->n <= prev->n)
				return false;
		} else if (ct_equal(e->hk, r->nhkr, KEY_LEN)) {
			return false;
		}
	}
	return r->n_skipped == 0 || skipped_at_c(r, r->n_skipped - 1)->run != r->run ||
	       skipped_at_c(r, r->n_skipped - 1)->n < r->nr;
}

sotto_err ratchet_deserialize(struct sotto_ctx *ctx, const uint8_t *in, size_t in_len,
                              struct ratchet **out)
{
	struct ratchet *r = NULL;
	struct skipped_grow grow = {NULL, 0};
	uint8_t version = 0;
	size_t n_keys;
	sotto_err rc;

	*out = NULL;
	/* Sized before anything is allocated: S must account for every byte. */
	if (in_len < RATCHET_STATE_BASE_LEN || in_len > RATCHET_STATE_MAX ||
	    (in_len - RATCHET_STATE_BASE_LEN) % RATCHET_SKIPPED_ENTRY_LEN != 0) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	n_keys = (in_len - RATCHET_STATE_BASE_LEN) / RATCHET_SKIPPED_ENTRY_LEN;
	if ((rc = ratchet_alloc(ctx, &r)) != SOTTO_OK)
		goto out;
	if ((rc = skipped_reserve(r, n_keys, &grow)) != SOTTO_OK)
		goto out;
	skipped_grow_commit(r, &grow);
	if ((rc = state_read(r, in, in_len, n_keys, &version)) != SOTTO_OK)
		goto out;
	if ((rc = state_check(r, version)) != SOTTO_OK)
		goto out;
	skipped_number_runs(r);
	if (!state_skipped_ok(r)) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	*out = r;
	r = NULL; /* moved */
out:
	ratchet_free(r);
	return rc;
}
