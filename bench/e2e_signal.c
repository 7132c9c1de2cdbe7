/* SPDX-License-Identifier: MIT */
/*
 * e2e_signal.c - libsignal-protocol-c as an implementation for bench/e2e.
 *
 * Licence: libsignal-protocol-c is GPL-3.0. It is linked only into the
 * optional benchmark program bench/e2e (built when the library is installed),
 * never into libsotto, which stays MIT; a bench/e2e binary, if ever shared,
 * falls under the GPL-3.0.
 *
 * The library needs a crypto provider written by its caller; this file has
 * one over OpenSSL 3 (HMAC-SHA256 and SHA-512 through EVP, AES-CBC/PKCS#5
 * and AES-CTR, RAND_bytes). Its curve25519/XEdDSA code is the library's own.
 *
 * libsignal-protocol-c keeps no session in memory between calls: every
 * encrypt and decrypt loads the session record from the caller's session
 * store (session_record_deserialize) and stores it back
 * (session_record_serialize). The stores here keep records in memory the
 * way a client's database would: a store call copies the serialised bytes
 * in, a load call hands out a fresh copy. So the measured cost of a message
 * includes one deserialise and one serialise of the record on each side,
 * exactly what a real client pays (minus the disk write). The records are
 * plain protobuf: unlike Olm's pickles they are not encrypted at rest here,
 * because the library leaves that to the client's database.
 *
 * Per session (op "session setup") Bob makes a fresh one-time pre-key and a
 * fresh signed pre-key (one XEdDSA signature) and stores both; his identity
 * key and registration ID are made once in create(), as a device does. The
 * bundle crosses as bytes (public keys serialised and decoded again), Alice
 * processes it (signature check, X3DH, session stored), encrypts the first
 * message (a PreKeySignalMessage), and Bob parses and decrypts it, which
 * consumes the one-time pre-key; the signed pre-key is then removed too,
 * since nothing else will use it.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <signal/curve.h>
#include <signal/key_helper.h>
#include <signal/protocol.h>
#include <signal/session_builder.h>
#include <signal/session_cipher.h>
#include <signal/session_pre_key.h>
#include <signal/signal_protocol.h>

#include "e2e.h"

#ifndef E2E_SIGNAL_VERSION
#define E2E_SIGNAL_VERSION "unknown"
#endif

/* ---- crypto provider over OpenSSL 3 ------------------------------------- */

enum { AES_IV_LEN = 16, AES_BLOCK_LEN = 16, N_AES_KEY_SIZES = 3 };

/* Algorithms fetched once: fetching per call would measure OpenSSL's lookup. */
struct ossl_crypto {
	EVP_MAC_CTX *hmac_sha256; /* HMAC-SHA256 with no key yet; each use duplicates it */
	EVP_MD *sha512;
	EVP_CIPHER *aes_cbc[N_AES_KEY_SIZES]; /* AES-128/192/256-CBC */
	EVP_CIPHER *aes_ctr[N_AES_KEY_SIZES]; /* AES-128/192/256-CTR */
};

static int ossl_random(uint8_t *data, size_t len, void *user_data)
{
	(void)user_data;
	if (len > INT_MAX)
		return SG_ERR_INVAL;
	return RAND_bytes(data, (int)len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int ossl_hmac_init(void **hmac_context, const uint8_t *key, size_t key_len, void *user_data)
{
	const struct ossl_crypto *c = user_data;
	EVP_MAC_CTX *m = EVP_MAC_CTX_dup(c->hmac_sha256);

	if (m == NULL)
		return SG_ERR_NOMEM;
	if (EVP_MAC_init(m, key, key_len, NULL) != 1) {
		EVP_MAC_CTX_free(m);
		return SG_ERR_UNKNOWN;
	}
	*hmac_context = m;
	return 0;
}

static int ossl_hmac_update(void *hmac_context, const uint8_t *data, size_t data_len,
                            void *user_data)
{
	(void)user_data;
	return EVP_MAC_update(hmac_context, data, data_len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static int ossl_hmac_final(void *hmac_context, signal_buffer **output, void *user_data)
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t mac_len = 0;

	(void)user_data;
	if (EVP_MAC_final(hmac_context, mac, &mac_len, sizeof mac) != 1)
		return SG_ERR_UNKNOWN;
	*output = signal_buffer_create(mac, mac_len);
	OPENSSL_cleanse(mac, sizeof mac);
	return *output != NULL ? 0 : SG_ERR_NOMEM;
}

static void ossl_hmac_cleanup(void *hmac_context, void *user_data)
{
	(void)user_data;
	EVP_MAC_CTX_free(hmac_context);
}

static int ossl_sha512_init(void **digest_context, void *user_data)
{
	const struct ossl_crypto *c = user_data;
	EVP_MD_CTX *d = EVP_MD_CTX_new();

	if (d == NULL)
		return SG_ERR_NOMEM;
	if (EVP_DigestInit_ex2(d, c->sha512, NULL) != 1) {
		EVP_MD_CTX_free(d);
		return SG_ERR_UNKNOWN;
	}
	*digest_context = d;
	return 0;
}

static int ossl_sha512_update(void *digest_context, const uint8_t *data, size_t data_len,
                              void *user_data)
{
	(void)user_data;
	return EVP_DigestUpdate(digest_context, data, data_len) == 1 ? 0 : SG_ERR_UNKNOWN;
}

/* Finishes the digest and, as the provider contract asks, readies d for reuse. */
static int ossl_sha512_final(void *digest_context, signal_buffer **output, void *user_data)
{
	const struct ossl_crypto *c = user_data;
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (EVP_DigestFinal_ex(digest_context, md, &md_len) != 1)
		return SG_ERR_UNKNOWN;
	*output = signal_buffer_create(md, md_len);
	if (*output == NULL)
		return SG_ERR_NOMEM;
	return EVP_DigestInit_ex2(digest_context, c->sha512, NULL) == 1 ? 0 : SG_ERR_UNKNOWN;
}

static void ossl_sha512_cleanup(void *digest_context, void *user_data)
{
	(void)user_data;
	EVP_MD_CTX_free(digest_context);
}

static const EVP_CIPHER *ossl_aes(const struct ossl_crypto *c, int cipher, size_t key_len)
{
	size_t i;

	switch (key_len) {
	case 16: i = 0; break;
	case 24: i = 1; break;
	case 32: i = 2; break;
	default: return NULL;
	}
	if (cipher == SG_CIPHER_AES_CBC_PKCS5)
		return c->aes_cbc[i];
	if (cipher == SG_CIPHER_AES_CTR_NOPADDING)
		return c->aes_ctr[i];
	return NULL;
}

/* One AES encryption (enc = 1) or decryption (enc = 0) into a new signal_buffer. */
static int ossl_aes_run(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                        const uint8_t *iv, size_t iv_len, const uint8_t *in, size_t in_len, int enc,
                        const struct ossl_crypto *c)
{
	const EVP_CIPHER *alg = ossl_aes(c, cipher, key_len);
	EVP_CIPHER_CTX *x = NULL;
	uint8_t *tmp = NULL;
	size_t tmp_len = in_len + AES_BLOCK_LEN;
	int n_update = 0, n_final = 0;
	int rc = SG_ERR_UNKNOWN;

	if (alg == NULL || iv_len != AES_IV_LEN || in_len > INT_MAX - AES_BLOCK_LEN)
		return SG_ERR_INVAL;
	tmp = malloc(tmp_len);
	x = EVP_CIPHER_CTX_new();
	if (tmp == NULL || x == NULL) {
		rc = SG_ERR_NOMEM;
		goto out;
	}
	if (EVP_CipherInit_ex2(x, alg, key, iv, enc, NULL) != 1 ||
	    EVP_CipherUpdate(x, tmp, &n_update, in, (int)in_len) != 1 ||
	    EVP_CipherFinal_ex(x, tmp + n_update, &n_final) != 1)
		goto out;
	*output = signal_buffer_create(tmp, (size_t)n_update + (size_t)n_final);
	rc = *output != NULL ? 0 : SG_ERR_NOMEM;
out:
	EVP_CIPHER_CTX_free(x);
	if (tmp != NULL)
		OPENSSL_cleanse(tmp, tmp_len);
	free(tmp);
	return rc;
}

static int ossl_encrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                        const uint8_t *iv, size_t iv_len, const uint8_t *plaintext,
                        size_t plaintext_len, void *user_data)
{
	return ossl_aes_run(output, cipher, key, key_len, iv, iv_len, plaintext, plaintext_len, 1,
	                    user_data);
}

static int ossl_decrypt(signal_buffer **output, int cipher, const uint8_t *key, size_t key_len,
                        const uint8_t *iv, size_t iv_len, const uint8_t *ciphertext,
                        size_t ciphertext_len, void *user_data)
{
	return ossl_aes_run(output, cipher, key, key_len, iv, iv_len, ciphertext, ciphertext_len, 0,
	                    user_data);
}

static void ossl_crypto_clear(struct ossl_crypto *c)
{
	EVP_MAC_CTX_free(c->hmac_sha256);
	EVP_MD_free(c->sha512);
	for (size_t i = 0; i < N_AES_KEY_SIZES; i++) {
		EVP_CIPHER_free(c->aes_cbc[i]);
		EVP_CIPHER_free(c->aes_ctr[i]);
	}
	memset(c, 0, sizeof *c);
}

static int ossl_crypto_init(struct ossl_crypto *c)
{
	static const char *const cbc[N_AES_KEY_SIZES] = {"AES-128-CBC", "AES-192-CBC",
	                                                 "AES-256-CBC"};
	static const char *const ctr[N_AES_KEY_SIZES] = {"AES-128-CTR", "AES-192-CTR",
	                                                 "AES-256-CTR"};
	char digest[] = "SHA256";
	OSSL_PARAM params[2];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

	memset(c, 0, sizeof *c);
	if (mac != NULL)
		c->hmac_sha256 = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context keeps its own reference */
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_end();
	if (c->hmac_sha256 == NULL || EVP_MAC_CTX_set_params(c->hmac_sha256, params) != 1)
		goto fail;
	c->sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
	if (c->sha512 == NULL)
		goto fail;
	for (size_t i = 0; i < N_AES_KEY_SIZES; i++) {
		c->aes_cbc[i] = EVP_CIPHER_fetch(NULL, cbc[i], NULL);
		c->aes_ctr[i] = EVP_CIPHER_fetch(NULL, ctr[i], NULL);
		if (c->aes_cbc[i] == NULL || c->aes_ctr[i] == NULL)
			goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "signal: OpenSSL lacks HMAC-SHA256, SHA-512 or AES\n");
	ossl_crypto_clear(c);
	return -1;
}

/* ---- in-memory stores that hold serialised records ----------------------- */

enum { KV_MAX = 8, KV_NAME_MAX = 32 };

/* One stored record: (name, id) -> serialised bytes. Pre-keys use name "". */
struct kv_entry {
	int used;
	char name[KV_NAME_MAX];
	size_t name_len;
	int64_t id;         /* device ID, or pre-key ID */
	signal_buffer *val; /* owned copy of the serialised record */
};

struct kv_table {
	struct kv_entry e[KV_MAX];
};

static struct kv_entry *kv_find(struct kv_table *t, const char *name, size_t name_len, int64_t id)
{
	for (size_t i = 0; i < KV_MAX; i++) {
		struct kv_entry *e = &t->e[i];
		if (e->used && e->id == id && e->name_len == name_len &&
		    memcmp(e->name, name, name_len) == 0)
			return e;
	}
	return NULL;
}

static void kv_entry_clear(struct kv_entry *e)
{
	if (e->val != NULL)
		signal_buffer_bzero_free(e->val);
	memset(e, 0, sizeof *e);
}

/* Stores a copy of val under (name, id), replacing any previous record. */
static int kv_put(struct kv_table *t, const char *name, size_t name_len, int64_t id,
                  const uint8_t *val, size_t val_len)
{
	struct kv_entry *e = kv_find(t, name, name_len, id);
	signal_buffer *copy;

	if (name_len > KV_NAME_MAX)
		return SG_ERR_INVAL;
	for (size_t i = 0; e == NULL && i < KV_MAX; i++)
		if (!t->e[i].used)
			e = &t->e[i];
	if (e == NULL)
		return SG_ERR_NOMEM;
	copy = signal_buffer_create(val, val_len);
	if (copy == NULL)
		return SG_ERR_NOMEM;
	kv_entry_clear(e);
	e->used = 1;
	memcpy(e->name, name, name_len);
	e->name_len = name_len;
	e->id = id;
	e->val = copy;
	return 0;
}

/* Returns 1 when a record was deleted, 0 when there was none. */
static int kv_del(struct kv_table *t, const char *name, size_t name_len, int64_t id)
{
	struct kv_entry *e = kv_find(t, name, name_len, id);

	if (e == NULL)
		return 0;
	kv_entry_clear(e);
	return 1;
}

/* Hands out a fresh copy, as a database read would. */
static int kv_load(struct kv_table *t, const char *name, size_t name_len, int64_t id,
                   signal_buffer **out)
{
	struct kv_entry *e = kv_find(t, name, name_len, id);

	if (e == NULL)
		return 0;
	*out = signal_buffer_copy(e->val);
	return *out != NULL ? 1 : SG_ERR_NOMEM;
}

static size_t kv_len(struct kv_table *t, const char *name, size_t name_len, int64_t id)
{
	struct kv_entry *e = kv_find(t, name, name_len, id);

	return e != NULL ? signal_buffer_len(e->val) : 0;
}

static void kv_clear(struct kv_table *t)
{
	for (size_t i = 0; i < KV_MAX; i++)
		kv_entry_clear(&t->e[i]);
}

/* One party: its stores, its identity and its cipher towards the peer. */
struct sig_party {
	signal_protocol_store_context *store;
	session_builder *builder; /* towards peer */
	session_cipher *cipher;   /* towards peer */
	signal_protocol_address peer;
	ratchet_identity_key_pair *identity;
	signal_buffer *identity_pub;  /* serialised, as the identity store keeps it */
	signal_buffer *identity_priv; /* serialised, as the identity store keeps it */
	uint32_t registration_id;
	struct kv_table sessions;        /* (peer name, device) -> session record */
	struct kv_table pre_keys;        /* ("", id) -> pre-key record */
	struct kv_table signed_pre_keys; /* ("", id) -> signed pre-key record */
	struct kv_table identities;      /* (peer name, device) -> trusted identity key */
};

static int st_load_session(signal_buffer **record, signal_buffer **user_record,
                           const signal_protocol_address *a, void *user_data)
{
	struct sig_party *p = user_data;

	(void)user_record; /* this client keeps no data beside the record */
	return kv_load(&p->sessions, a->name, a->name_len, a->device_id, record);
}

static int st_sub_device_sessions(signal_int_list **sessions, const char *name, size_t name_len,
                                  void *user_data)
{
	struct sig_party *p = user_data;
	signal_int_list *l = signal_int_list_alloc();

	if (l == NULL)
		return SG_ERR_NOMEM;
	for (size_t i = 0; i < KV_MAX; i++) {
		const struct kv_entry *e = &p->sessions.e[i];
		if (e->used && e->name_len == name_len && memcmp(e->name, name, name_len) == 0 &&
		    signal_int_list_push_back(l, (int)e->id) < 0) {
			signal_int_list_free(l);
			return SG_ERR_NOMEM;
		}
	}
	*sessions = l;
	return (int)signal_int_list_size(l);
}

static int st_store_session(const signal_protocol_address *a, uint8_t *record, size_t record_len,
                            uint8_t *user_record, size_t user_record_len, void *user_data)
{
	struct sig_party *p = user_data;

	(void)user_record;
	(void)user_record_len;
	return kv_put(&p->sessions, a->name, a->name_len, a->device_id, record, record_len);
}

static int st_contains_session(const signal_protocol_address *a, void *user_data)
{
	struct sig_party *p = user_data;

	return kv_find(&p->sessions, a->name, a->name_len, a->device_id) != NULL;
}

static int st_delete_session(const signal_protocol_address *a, void *user_data)
{
	struct sig_party *p = user_data;

	return kv_del(&p->sessions, a->name, a->name_len, a->device_id);
}

static int st_delete_all_sessions(const char *name, size_t name_len, void *user_data)
{
	struct sig_party *p = user_data;
	int n = 0;

	for (size_t i = 0; i < KV_MAX; i++) {
		struct kv_entry *e = &p->sessions.e[i];
		if (e->used && e->name_len == name_len && memcmp(e->name, name, name_len) == 0) {
			kv_entry_clear(e);
			n++;
		}
	}
	return n;
}

static int st_load_key(struct kv_table *t, signal_buffer **record, uint32_t id)
{
	int rc = kv_load(t, "", 0, id, record);

	if (rc == 0)
		return SG_ERR_INVALID_KEY_ID;
	return rc < 0 ? rc : SG_SUCCESS;
}

static int st_load_pre_key(signal_buffer **record, uint32_t id, void *user_data)
{
	return st_load_key(&((struct sig_party *)user_data)->pre_keys, record, id);
}

static int st_store_pre_key(uint32_t id, uint8_t *record, size_t record_len, void *user_data)
{
	return kv_put(&((struct sig_party *)user_data)->pre_keys, "", 0, id, record, record_len);
}

static int st_contains_pre_key(uint32_t id, void *user_data)
{
	return kv_find(&((struct sig_party *)user_data)->pre_keys, "", 0, id) != NULL;
}

static int st_remove_pre_key(uint32_t id, void *user_data)
{
	(void)kv_del(&((struct sig_party *)user_data)->pre_keys, "", 0, id);
	return 0;
}

static int st_load_signed_pre_key(signal_buffer **record, uint32_t id, void *user_data)
{
	return st_load_key(&((struct sig_party *)user_data)->signed_pre_keys, record, id);
}

static int st_store_signed_pre_key(uint32_t id, uint8_t *record, size_t record_len, void *user_data)
{
	return kv_put(&((struct sig_party *)user_data)->signed_pre_keys, "", 0, id, record,
	              record_len);
}

static int st_contains_signed_pre_key(uint32_t id, void *user_data)
{
	return kv_find(&((struct sig_party *)user_data)->signed_pre_keys, "", 0, id) != NULL;
}

static int st_remove_signed_pre_key(uint32_t id, void *user_data)
{
	(void)kv_del(&((struct sig_party *)user_data)->signed_pre_keys, "", 0, id);
	return 0;
}

static int st_get_identity_key_pair(signal_buffer **public_data, signal_buffer **private_data,
                                    void *user_data)
{
	struct sig_party *p = user_data;
	signal_buffer *pub = signal_buffer_copy(p->identity_pub);
	signal_buffer *priv = signal_buffer_copy(p->identity_priv);

	if (pub == NULL || priv == NULL) {
		signal_buffer_free(pub);
		signal_buffer_bzero_free(priv);
		return SG_ERR_NOMEM;
	}
	*public_data = pub;
	*private_data = priv;
	return 0;
}

static int st_get_registration_id(void *user_data, uint32_t *registration_id)
{
	*registration_id = ((struct sig_party *)user_data)->registration_id;
	return 0;
}

static int st_save_identity(const signal_protocol_address *a, uint8_t *key_data, size_t key_len,
                            void *user_data)
{
	struct sig_party *p = user_data;

	if (key_data == NULL) {
		(void)kv_del(&p->identities, a->name, a->name_len, a->device_id);
		return 0;
	}
	return kv_put(&p->identities, a->name, a->name_len, a->device_id, key_data, key_len);
}

/* Trust on first use: unknown peers are trusted, known ones must match. */
static int st_is_trusted_identity(const signal_protocol_address *a, uint8_t *key_data,
                                  size_t key_len, void *user_data)
{
	struct sig_party *p = user_data;
	struct kv_entry *e = kv_find(&p->identities, a->name, a->name_len, a->device_id);

	if (e == NULL)
		return 1;
	return signal_buffer_len(e->val) == key_len &&
	       memcmp(signal_buffer_const_data(e->val), key_data, key_len) == 0;
}

static int sig_party_set_stores(struct sig_party *p)
{
	const signal_protocol_session_store sessions = {
	        .load_session_func = st_load_session,
	        .get_sub_device_sessions_func = st_sub_device_sessions,
	        .store_session_func = st_store_session,
	        .contains_session_func = st_contains_session,
	        .delete_session_func = st_delete_session,
	        .delete_all_sessions_func = st_delete_all_sessions,
	        .user_data = p,
	};
	const signal_protocol_pre_key_store pre_keys = {
	        .load_pre_key = st_load_pre_key,
	        .store_pre_key = st_store_pre_key,
	        .contains_pre_key = st_contains_pre_key,
	        .remove_pre_key = st_remove_pre_key,
	        .user_data = p,
	};
	const signal_protocol_signed_pre_key_store signed_pre_keys = {
	        .load_signed_pre_key = st_load_signed_pre_key,
	        .store_signed_pre_key = st_store_signed_pre_key,
	        .contains_signed_pre_key = st_contains_signed_pre_key,
	        .remove_signed_pre_key = st_remove_signed_pre_key,
	        .user_data = p,
	};
	const signal_protocol_identity_key_store identities = {
	        .get_identity_key_pair = st_get_identity_key_pair,
	        .get_local_registration_id = st_get_registration_id,
	        .save_identity = st_save_identity,
	        .is_trusted_identity = st_is_trusted_identity,
	        .user_data = p,
	};

	if (signal_protocol_store_context_set_session_store(p->store, &sessions) < 0 ||
	    signal_protocol_store_context_set_pre_key_store(p->store, &pre_keys) < 0 ||
	    signal_protocol_store_context_set_signed_pre_key_store(p->store, &signed_pre_keys) <
	            0 ||
	    signal_protocol_store_context_set_identity_key_store(p->store, &identities) < 0)
		return -1;
	return 0;
}

/* ---- the two parties ----------------------------------------------------- */

struct sig_bench {
	signal_context *gctx;
	struct ossl_crypto crypto;
	struct sig_party alice;
	struct sig_party bob;
	uint32_t next_pre_key_id;        /* Bob's next one-time pre-key ID */
	uint32_t next_signed_pre_key_id; /* Bob's next signed pre-key ID */
	struct e2e_sizes sizes;
};

/* The device-lifetime half of a party: identity, registration ID, stores. */
static int sig_party_init(struct sig_party *p, signal_context *g, const char *peer)
{
	p->peer = (signal_protocol_address){.name = peer, .name_len = strlen(peer), .device_id = 1};
	if (signal_protocol_store_context_create(&p->store, g) < 0 || sig_party_set_stores(p) != 0)
		return -1;
	if (signal_protocol_key_helper_generate_identity_key_pair(&p->identity, g) < 0 ||
	    signal_protocol_key_helper_generate_registration_id(&p->registration_id, 0, g) < 0)
		return -1;
	if (ec_public_key_serialize(&p->identity_pub,
	                            ratchet_identity_key_pair_get_public(p->identity)) < 0 ||
	    ec_private_key_serialize(&p->identity_priv,
	                             ratchet_identity_key_pair_get_private(p->identity)) < 0)
		return -1;
	if (session_builder_create(&p->builder, p->store, &p->peer, g) < 0 ||
	    session_cipher_create(&p->cipher, p->store, &p->peer, g) < 0)
		return -1;
	return 0;
}

static void sig_party_clear(struct sig_party *p)
{
	if (p->cipher != NULL)
		session_cipher_free(p->cipher);
	if (p->builder != NULL)
		session_builder_free(p->builder);
	if (p->store != NULL)
		signal_protocol_store_context_destroy(p->store);
	if (p->identity != NULL)
		SIGNAL_UNREF(p->identity);
	signal_buffer_free(p->identity_pub);
	if (p->identity_priv != NULL)
		signal_buffer_bzero_free(p->identity_priv);
	kv_clear(&p->sessions);
	kv_clear(&p->pre_keys);
	kv_clear(&p->signed_pre_keys);
	kv_clear(&p->identities);
	memset(p, 0, sizeof *p);
}

static void sig_log(int level, const char *message, size_t len, void *user_data)
{
	(void)user_data;
	if (level <= SG_LOG_WARNING)
		fprintf(stderr, "signal: library: %.*s\n", (int)len, message);
}

static void sig_destroy(void *st)
{
	struct sig_bench *b = st;

	if (b == NULL)
		return;
	sig_party_clear(&b->alice);
	sig_party_clear(&b->bob);
	if (b->gctx != NULL)
		signal_context_destroy(b->gctx);
	ossl_crypto_clear(&b->crypto);
	free(b);
}

static int sig_create(void **st)
{
	struct sig_bench *b = calloc(1, sizeof *b);
	signal_crypto_provider provider = {
	        .random_func = ossl_random,
	        .hmac_sha256_init_func = ossl_hmac_init,
	        .hmac_sha256_update_func = ossl_hmac_update,
	        .hmac_sha256_final_func = ossl_hmac_final,
	        .hmac_sha256_cleanup_func = ossl_hmac_cleanup,
	        .sha512_digest_init_func = ossl_sha512_init,
	        .sha512_digest_update_func = ossl_sha512_update,
	        .sha512_digest_final_func = ossl_sha512_final,
	        .sha512_digest_cleanup_func = ossl_sha512_cleanup,
	        .encrypt_func = ossl_encrypt,
	        .decrypt_func = ossl_decrypt,
	};

	*st = NULL;
	if (b == NULL || ossl_crypto_init(&b->crypto) != 0)
		goto fail;
	provider.user_data = &b->crypto;
	if (signal_context_create(&b->gctx, b) < 0 ||
	    signal_context_set_crypto_provider(b->gctx, &provider) < 0 ||
	    signal_context_set_log_function(b->gctx, sig_log) < 0)
		goto fail;
	if (sig_party_init(&b->alice, b->gctx, "bob") != 0 ||
	    sig_party_init(&b->bob, b->gctx, "alice") != 0)
		goto fail;
	b->next_pre_key_id = 1;
	b->next_signed_pre_key_id = 1;
	*st = b;
	return 0;
fail:
	fprintf(stderr, "signal: create failed\n");
	sig_destroy(b);
	return -1;
}

/* ---- session setup ------------------------------------------------------- */

enum {
	SIG_KEY_LEN = 33,       /* a serialised public key: type byte + 32 */
	SIG_SIGNATURE_LEN = 64, /* XEdDSA */
	/* The bundle's bytes: three keys, the signature, three 32-bit IDs. */
	SIG_BUNDLE_LEN = 3 * SIG_KEY_LEN + SIG_SIGNATURE_LEN + 3 * 4,
};

/* What Bob publishes for one new session, as bytes (keys in Signal's encoding). */
struct sig_bundle {
	uint32_t registration_id;
	uint32_t pre_key_id;
	uint32_t signed_pre_key_id;
	uint8_t identity[SIG_KEY_LEN];
	uint8_t pre_key[SIG_KEY_LEN];
	uint8_t signed_pre_key[SIG_KEY_LEN];
	uint8_t signature[SIG_SIGNATURE_LEN];
};

static int sig_key_bytes(const ec_public_key *key, uint8_t out[static SIG_KEY_LEN])
{
	signal_buffer *buf = NULL;

	if (ec_public_key_serialize(&buf, key) < 0)
		return -1;
	if (signal_buffer_len(buf) != SIG_KEY_LEN) {
		signal_buffer_free(buf);
		return -1;
	}
	memcpy(out, signal_buffer_const_data(buf), SIG_KEY_LEN);
	signal_buffer_free(buf);
	return 0;
}

/* Bob: a fresh one-time pre-key and signed pre-key, stored, and the bundle. */
static int sig_bob_publish(struct sig_bench *b, struct sig_bundle *out)
{
	signal_protocol_key_helper_pre_key_list_node *head = NULL;
	session_signed_pre_key *spk = NULL;
	session_pre_key *pk;
	int rc = -1;

	if (signal_protocol_key_helper_generate_pre_keys(&head, b->next_pre_key_id, 1, b->gctx) <
	            0 ||
	    signal_protocol_key_helper_generate_signed_pre_key(
	            &spk, b->bob.identity, b->next_signed_pre_key_id, 0, b->gctx) < 0)
		goto out;
	pk = signal_protocol_key_helper_key_list_element(head);
	if (signal_protocol_pre_key_store_key(b->bob.store, pk) < 0 ||
	    signal_protocol_signed_pre_key_store_key(b->bob.store, spk) < 0)
		goto out;
	out->registration_id = b->bob.registration_id;
	out->pre_key_id = session_pre_key_get_id(pk);
	out->signed_pre_key_id = session_signed_pre_key_get_id(spk);
	if (session_signed_pre_key_get_signature_len(spk) != SIG_SIGNATURE_LEN)
		goto out;
	memcpy(out->signature, session_signed_pre_key_get_signature(spk), SIG_SIGNATURE_LEN);
	if (sig_key_bytes(ratchet_identity_key_pair_get_public(b->bob.identity), out->identity) ||
	    sig_key_bytes(ec_key_pair_get_public(session_pre_key_get_key_pair(pk)), out->pre_key) ||
	    sig_key_bytes(ec_key_pair_get_public(session_signed_pre_key_get_key_pair(spk)),
	                  out->signed_pre_key))
		goto out;
	b->next_pre_key_id = out->pre_key_id % (PRE_KEY_MEDIUM_MAX_VALUE - 1) + 1;
	b->next_signed_pre_key_id++;
	rc = 0;
out:
	if (spk != NULL)
		SIGNAL_UNREF(spk);
	signal_protocol_key_helper_key_list_free(head);
	return rc;
}

/* Alice: decodes Bob's bundle and runs X3DH on it (the session is stored). */
static int sig_alice_process(struct sig_bench *b, const struct sig_bundle *in)
{
	ec_public_key *identity = NULL, *pre_key = NULL, *signed_pre_key = NULL;
	session_pre_key_bundle *bundle = NULL;
	int rc = -1;

	if (curve_decode_point(&identity, in->identity, SIG_KEY_LEN, b->gctx) < 0 ||
	    curve_decode_point(&pre_key, in->pre_key, SIG_KEY_LEN, b->gctx) < 0 ||
	    curve_decode_point(&signed_pre_key, in->signed_pre_key, SIG_KEY_LEN, b->gctx) < 0)
		goto out;
	if (session_pre_key_bundle_create(&bundle, in->registration_id, b->alice.peer.device_id,
	                                  in->pre_key_id, pre_key, in->signed_pre_key_id,
	                                  signed_pre_key, in->signature, SIG_SIGNATURE_LEN,
	                                  identity) < 0)
		goto out;
	rc = session_builder_process_pre_key_bundle(b->alice.builder, bundle);
	if (rc < 0)
		fprintf(stderr, "signal: process_pre_key_bundle: %d\n", rc);
out:
	if (bundle != NULL)
		SIGNAL_UNREF(bundle);
	if (identity != NULL)
		SIGNAL_UNREF(identity);
	if (pre_key != NULL)
		SIGNAL_UNREF(pre_key);
	if (signed_pre_key != NULL)
		SIGNAL_UNREF(signed_pre_key);
	return rc < 0 ? -1 : 0;
}

static int sig_check_plaintext(signal_buffer *pt, const uint8_t *msg, size_t len)
{
	if (signal_buffer_len(pt) != len || memcmp(signal_buffer_const_data(pt), msg, len) != 0) {
		fprintf(stderr, "signal: decrypted plaintext differs from what was sent\n");
		return -1;
	}
	return 0;
}

/* Bob: parses and decrypts Alice's PreKeySignalMessage (consuming his pre-key). */
static int sig_bob_receive_first(struct sig_bench *b, const struct sig_bundle *bundle,
                                 const signal_buffer *wire, const uint8_t *msg, size_t len)
{
	pre_key_signal_message *in = NULL;
	signal_buffer *pt = NULL;
	int rc;

	rc = pre_key_signal_message_deserialize(&in, signal_buffer_const_data(wire),
	                                        signal_buffer_len(wire), b->gctx);
	if (rc >= 0)
		rc = session_cipher_decrypt_pre_key_signal_message(b->bob.cipher, in, NULL, &pt);
	if (rc < 0) {
		fprintf(stderr, "signal: decrypt of the first message: %d\n", rc);
		goto out;
	}
	rc = sig_check_plaintext(pt, msg, len);
	/* The signed pre-key was made for this session alone: retire it. */
	if (rc == 0)
		rc = signal_protocol_signed_pre_key_remove_key(b->bob.store,
		                                               bundle->signed_pre_key_id);
out:
	if (in != NULL)
		SIGNAL_UNREF(in);
	if (pt != NULL)
		signal_buffer_bzero_free(pt);
	return rc < 0 ? -1 : 0;
}

static void sig_note_sizes(struct sig_bench *b, enum e2e_dir dir, size_t wire_len)
{
	struct sig_party *from = dir == E2E_ALICE_TO_BOB ? &b->alice : &b->bob;
	struct sig_party *to = dir == E2E_ALICE_TO_BOB ? &b->bob : &b->alice;

	b->sizes.published_len = 0;
	b->sizes.wire_len = wire_len;
	b->sizes.sender_state_len =
	        kv_len(&from->sessions, from->peer.name, from->peer.name_len, from->peer.device_id);
	b->sizes.receiver_state_len =
	        kv_len(&to->sessions, to->peer.name, to->peer.name_len, to->peer.device_id);
}

static int sig_session_setup(void *st, const uint8_t *msg, size_t len)
{
	struct sig_bench *b = st;
	struct sig_bundle bundle;
	ciphertext_message *first = NULL;
	int rc = -1;

	/* A new contact: neither side keeps the previous iteration's session. */
	(void)st_delete_session(&b->alice.peer, &b->alice);
	(void)st_delete_session(&b->bob.peer, &b->bob);
	if (sig_bob_publish(b, &bundle) != 0 || sig_alice_process(b, &bundle) != 0)
		goto out;
	if (session_cipher_encrypt(b->alice.cipher, msg, len, &first) < 0 ||
	    ciphertext_message_get_type(first) != CIPHERTEXT_PREKEY_TYPE) {
		fprintf(stderr, "signal: first message is not a PreKeySignalMessage\n");
		goto out;
	}
	if (sig_bob_receive_first(b, &bundle, ciphertext_message_get_serialized(first), msg, len) !=
	    0)
		goto out;
	sig_note_sizes(b, E2E_ALICE_TO_BOB,
	               signal_buffer_len(ciphertext_message_get_serialized(first)));
	b->sizes.published_len = SIG_BUNDLE_LEN;
	rc = 0;
out:
	if (first != NULL)
		SIGNAL_UNREF(first);
	return rc;
}

/* ---- messages ------------------------------------------------------------ */

static int sig_send(void *st, enum e2e_dir dir, const uint8_t *msg, size_t len)
{
	struct sig_bench *b = st;
	struct sig_party *from = dir == E2E_ALICE_TO_BOB ? &b->alice : &b->bob;
	struct sig_party *to = dir == E2E_ALICE_TO_BOB ? &b->bob : &b->alice;
	ciphertext_message *ct = NULL;
	signal_message *in = NULL;
	signal_buffer *pt = NULL;
	const signal_buffer *wire;
	int rc = session_cipher_encrypt(from->cipher, msg, len, &ct);

	if (rc < 0 || ciphertext_message_get_type(ct) != CIPHERTEXT_SIGNAL_TYPE) {
		fprintf(stderr, "signal: encrypt: %d (or not a SignalMessage)\n", rc);
		rc = -1;
		goto out;
	}
	wire = ciphertext_message_get_serialized(ct);
	rc = signal_message_deserialize(&in, signal_buffer_const_data(wire),
	                                signal_buffer_len(wire), b->gctx);
	if (rc >= 0)
		rc = session_cipher_decrypt_signal_message(to->cipher, in, NULL, &pt);
	if (rc < 0) {
		fprintf(stderr, "signal: decrypt: %d\n", rc);
		goto out;
	}
	rc = sig_check_plaintext(pt, msg, len);
	sig_note_sizes(b, dir, signal_buffer_len(wire));
out:
	if (ct != NULL)
		SIGNAL_UNREF(ct);
	if (in != NULL)
		SIGNAL_UNREF(in);
	if (pt != NULL)
		signal_buffer_bzero_free(pt);
	return rc < 0 ? -1 : 0;
}

static const uint8_t sig_hello[] = "a fixed message that establishes and checks sessions";

static int sig_establish(void *st)
{
	if (sig_session_setup(st, sig_hello, sizeof sig_hello) != 0)
		return -1;
	return sig_send(st, E2E_BOB_TO_ALICE, sig_hello, sizeof sig_hello);
}

/*
 * libsignal-protocol-c keeps nothing between calls: each send() already
 * rebuilt both sessions from their stored bytes. One exchange each way on
 * top of the stored records (Bob first: after a setup Alice has had no reply
 * and would still send a PreKeySignalMessage) is the whole proof.
 */
static int sig_verify_persisted(void *st)
{
	struct sig_bench *b = st;
	struct e2e_sizes keep = b->sizes;
	int rc = sig_send(st, E2E_BOB_TO_ALICE, sig_hello, sizeof sig_hello);

	if (rc == 0)
		rc = sig_send(st, E2E_ALICE_TO_BOB, sig_hello, sizeof sig_hello);
	b->sizes = keep;
	return rc;
}

static void sig_last_sizes(const void *st, struct e2e_sizes *out)
{
	*out = ((const struct sig_bench *)st)->sizes;
}

static const char *sig_version(void)
{
	return "libsignal-protocol-c " E2E_SIGNAL_VERSION
	       " with a provider over " OPENSSL_VERSION_TEXT;
}

const struct e2e_impl e2e_signal = {
        .name = "signal",
        .notes = "setup: Bob's fresh one-time + signed pre-key (stored), bundle as bytes, "
                 "Alice's X3DH + first message, Bob's decrypt; identity keys made once per "
                 "device; every op loads (deserialises) and stores (serialises) the session "
                 "record on each side, unencrypted protobuf",
        .version = sig_version,
        .create = sig_create,
        .destroy = sig_destroy,
        .session_setup = sig_session_setup,
        .establish = sig_establish,
        .send = sig_send,
        .last_sizes = sig_last_sizes,
        .verify_persisted = sig_verify_persisted,
};
