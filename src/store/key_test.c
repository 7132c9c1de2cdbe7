/* SPDX-License-Identifier: MIT */
/*
 * key_test.c - the database key and its key file on real files: round trips
 * in both modes, wrong and missing passphrases, rewraps (passphrase change,
 * mode change, wrong old passphrase leaves the file as it was), file modes,
 * and hostile key files: every truncation, every bit flip, every byte
 * inverted, oversized files, symlinks, a newer version, and Argon2id
 * parameters out of range refused before anything is allocated or hashed.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/bytes.h"
#include "store/key.h"
#include "store/key_int.h"
#include "store/profile.h"
#include "store/store_testlib.h"
#include "test_util.h"

#define PW      ((const uint8_t *)"correct horse battery staple")
#define PW_LEN  (sizeof("correct horse battery staple") - 1)
#define PW2     ((const uint8_t *)"a different passphrase")
#define PW2_LEN (sizeof("a different passphrase") - 1)

struct fixture {
	char tmp[64];
	char key_path[ST_PATH_MAX];
	struct tu_alloc alloc;
	sotto_ctx *ctx;
	struct store_profile *profile;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	st_tmpdir(f->tmp, sizeof(f->tmp));
	f->ctx = tu_ctx(&f->alloc, NULL, NULL);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "p", &f->profile), SOTTO_OK);
	assert_int_equal(
	        store_profile_file(f->profile, STORE_KEY_FILE, f->key_path, sizeof(f->key_path)),
	        SOTTO_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_profile_free(f->profile);
	sotto_ctx_free(f->ctx);
	assert_int_equal(f->alloc.n_live, 0);
	st_rmtree(f->tmp, ST_TREE_DEPTH);
	free(f);
	return 0;
}

/* Reads the key file, which must be exactly KEYFILE_LEN bytes, into out. */
static void read_key_file(const struct fixture *f, uint8_t out[static KEYFILE_LEN])
{
	size_t len = 0;
	uint8_t *b = tu_read_file(f->key_path, &len);

	assert_non_null(b);
	assert_int_equal(len, KEYFILE_LEN);
	memcpy(out, b, KEYFILE_LEN);
	sodium_memzero(b, len);
	free(b);
}

static void assert_same_key(struct secbuf *a, struct secbuf *b)
{
	assert_int_equal(secbuf_len(a), STORE_KEY_LEN);
	assert_int_equal(secbuf_len(b), STORE_KEY_LEN);
	assert_memory_equal(secbuf_data(a), secbuf_data(b), STORE_KEY_LEN);
}

static void store_key_create__round_trip__passphrase(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL, *loaded = NULL;
	uint8_t file[KEYFILE_LEN];
	bool needs = false;

	assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, ST_CHEAP_PARAMS, &made),
	                 SOTTO_OK);
	assert_non_null(made);
	assert_false(sodium_is_zero(secbuf_data(made), STORE_KEY_LEN));
	assert_int_equal(st_mode(f->key_path), 0600);
	read_key_file(f, file);
	assert_memory_equal(file, KEYFILE_MAGIC, KEYFILE_MAGIC_LEN);
	assert_int_equal(file[KEYFILE_OFF_VERSION], KEYFILE_VERSION);
	assert_int_equal(file[KEYFILE_OFF_MODE], KEYFILE_MODE_PASSPHRASE);
	assert_int_equal(bytes_load_be64(file + KEYFILE_OFF_OPSLIMIT), STORE_KEY_OPSLIMIT_MIN);
	assert_int_equal(bytes_load_be64(file + KEYFILE_OFF_MEMLIMIT), STORE_KEY_MEMLIMIT_MIN);
	assert_false(st_mem_has(file, sizeof(file), secbuf_data(made), STORE_KEY_LEN));
	assert_int_equal(store_key_needs_passphrase(f->profile, &needs), SOTTO_OK);
	assert_true(needs);

	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &loaded), SOTTO_OK);
	assert_same_key(made, loaded);
	secbuf_free(made);
	secbuf_free(loaded);
}

static void store_key_create__round_trip__no_passphrase(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL, *loaded = NULL;
	uint8_t file[KEYFILE_LEN];
	bool needs = true;

	/* params are ignored without a passphrase, even out of range ones. */
	assert_int_equal(store_key_create(f->ctx, f->profile, NULL, 0,
	                                  &(const struct store_key_params){99, 1}, &made),
	                 SOTTO_OK);
	assert_int_equal(st_mode(f->key_path), 0600);
	read_key_file(f, file);
	assert_int_equal(file[KEYFILE_OFF_MODE], KEYFILE_MODE_CLEAR);
	assert_true(sodium_is_zero(file + KEYFILE_OFF_OPSLIMIT,
	                           KEYFILE_OFF_BODY - KEYFILE_OFF_OPSLIMIT));
	assert_memory_equal(file + KEYFILE_OFF_BODY, secbuf_data(made), STORE_KEY_LEN);
	assert_int_equal(store_key_needs_passphrase(f->profile, &needs), SOTTO_OK);
	assert_false(needs);

	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &loaded), SOTTO_OK);
	assert_same_key(made, loaded);
	secbuf_free(made);
	secbuf_free(loaded);
}

static void store_key_create__ok__default_params_are_moderate(void **state)
{
	struct fixture *f = *state;
	struct store_key_params prm;
	struct secbuf *made = NULL, *loaded = NULL;
	uint8_t file[KEYFILE_LEN];

	assert_int_equal(store_key_params_resolve(NULL, &prm), SOTTO_OK);
	assert_int_equal(prm.opslimit, crypto_pwhash_OPSLIMIT_MODERATE);
	assert_int_equal(prm.memlimit, crypto_pwhash_MEMLIMIT_MODERATE);
	assert_int_equal(store_key_params_resolve(&(const struct store_key_params){0, 16384}, &prm),
	                 SOTTO_OK);
	assert_int_equal(prm.opslimit, STORE_KEY_OPSLIMIT_DEFAULT);
	assert_int_equal(prm.memlimit, 16384);

	/* One real unlock at the defaults: they must work, not just parse. */
	assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, NULL, &made), SOTTO_OK);
	read_key_file(f, file);
	assert_int_equal(bytes_load_be64(file + KEYFILE_OFF_OPSLIMIT),
	                 crypto_pwhash_OPSLIMIT_MODERATE);
	assert_int_equal(bytes_load_be64(file + KEYFILE_OFF_MEMLIMIT),
	                 crypto_pwhash_MEMLIMIT_MODERATE);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &loaded), SOTTO_OK);
	assert_same_key(made, loaded);
	secbuf_free(made);
	secbuf_free(loaded);
}

static void store_key_create__used__key_file_exists(void **state)
{
	struct fixture *f = *state;
	struct secbuf *a = NULL, *b = NULL, *loaded = NULL;

	assert_int_equal(store_key_create(f->ctx, f->profile, NULL, 0, NULL, &a), SOTTO_OK);
	assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, ST_CHEAP_PARAMS, &b),
	                 SOTTO_ERR_USED);
	assert_null(b);
	assert_int_equal(store_key_create(f->ctx, f->profile, NULL, 0, NULL, &b), SOTTO_ERR_USED);
	/* The first key is still the one on disk. */
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &loaded), SOTTO_OK);
	assert_same_key(a, loaded);
	secbuf_free(a);
	secbuf_free(loaded);
}

static void store_key_create__invalid__bad_passphrase_or_params(void **state)
{
	struct fixture *f = *state;
	static const struct store_key_params bad[] = {
	        {STORE_KEY_OPSLIMIT_MAX + 1, STORE_KEY_MEMLIMIT_MIN},
	        {1, STORE_KEY_MEMLIMIT_MIN - 1024},
	        {1, STORE_KEY_MEMLIMIT_MIN + 1},
	        {1, (uint64_t)STORE_KEY_MEMLIMIT_MAX + 1024},
	        {UINT64_MAX, UINT64_MAX},
	};
	uint8_t *long_pw = calloc(1, STORE_PASSPHRASE_MAX + 1);
	struct secbuf *k = NULL;

	assert_non_null(long_pw);
	assert_int_equal(store_key_create(f->ctx, f->profile, PW, 0, ST_CHEAP_PARAMS, &k),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(store_key_create(f->ctx, f->profile, long_pw, STORE_PASSPHRASE_MAX + 1,
	                                  ST_CHEAP_PARAMS, &k),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(store_key_create(f->ctx, f->profile, NULL, 5, NULL, &k),
	                 SOTTO_ERR_INVALID);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, &bad[i], &k),
		                 SOTTO_ERR_INVALID);
	assert_null(k);
	assert_int_equal(access(f->key_path, F_OK), -1);
	/* The longest passphrase is fine. */
	assert_int_equal(store_key_create(f->ctx, f->profile, long_pw, STORE_PASSPHRASE_MAX,
	                                  ST_CHEAP_PARAMS, &k),
	                 SOTTO_OK);
	secbuf_free(k);
	free(long_pw);
}

static void store_key_load__auth__wrong_or_missing_passphrase(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL, *k = NULL;

	assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, ST_CHEAP_PARAMS, &made),
	                 SOTTO_OK);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW2, PW2_LEN, &k), SOTTO_ERR_AUTH);
	assert_null(k);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN - 1, &k), SOTTO_ERR_AUTH);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW, 0, &k), SOTTO_ERR_AUTH);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_ERR_AUTH);
	assert_null(k);
	secbuf_free(made);
}

static void store_key_load__invalid__passphrase_for_clear_file(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL, *k = NULL;

	assert_int_equal(store_key_create(f->ctx, f->profile, NULL, 0, NULL, &made), SOTTO_OK);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &k), SOTTO_ERR_INVALID);
	assert_null(k);
	secbuf_free(made);
}

static void store_key_load__not_found__no_key_file(void **state)
{
	struct fixture *f = *state;
	struct secbuf *k = NULL;
	bool needs = true;

	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &k), SOTTO_ERR_NOT_FOUND);
	assert_null(k);
	assert_int_equal(store_key_needs_passphrase(f->profile, &needs), SOTTO_ERR_NOT_FOUND);
	assert_false(needs);
	assert_int_equal(
	        store_key_rewrap(f->ctx, f->profile, PW, PW_LEN, PW2, PW2_LEN, ST_CHEAP_PARAMS),
	        SOTTO_ERR_NOT_FOUND);
}

static void store_key_rewrap__new_passphrase__old_one_fails(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL, *k = NULL;
	uint8_t before[KEYFILE_LEN], after[KEYFILE_LEN];
	char tmp[ST_PATH_MAX];

	assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, ST_CHEAP_PARAMS, &made),
	                 SOTTO_OK);
	read_key_file(f, before);
	/* A temporary file left by a crash is no obstacle. */
	assert_int_equal(store_profile_file(f->profile, STORE_KEY_TMP_FILE, tmp, sizeof(tmp)),
	                 SOTTO_OK);
	st_write_file(tmp, (const uint8_t *)"stale", 5, 0644);
	assert_int_equal(store_key_rewrap(f->ctx, f->profile, PW, PW_LEN, PW2, PW2_LEN,
	                                  &(const struct store_key_params){2, 16384}),
	                 SOTTO_OK);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(st_mode(f->key_path), 0600);
	read_key_file(f, after);
	assert_int_equal(bytes_load_be64(after + KEYFILE_OFF_OPSLIMIT), 2);
	assert_int_equal(bytes_load_be64(after + KEYFILE_OFF_MEMLIMIT), 16384);
	/* Fresh salt and nonce. */
	assert_memory_not_equal(before + KEYFILE_OFF_SALT, after + KEYFILE_OFF_SALT,
	                        KEYFILE_SALT_LEN);
	assert_memory_not_equal(before + KEYFILE_OFF_NONCE, after + KEYFILE_OFF_NONCE,
	                        KEYFILE_NONCE_LEN);

	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &k), SOTTO_ERR_AUTH);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW2, PW2_LEN, &k), SOTTO_OK);
	assert_same_key(made, k);
	secbuf_free(made);
	secbuf_free(k);
}

static void store_key_rewrap__same_key__passphrase_to_clear_and_back(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL, *k = NULL;
	bool needs = true;

	assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, ST_CHEAP_PARAMS, &made),
	                 SOTTO_OK);
	assert_int_equal(store_key_rewrap(f->ctx, f->profile, PW, PW_LEN, NULL, 0, NULL), SOTTO_OK);
	assert_int_equal(store_key_needs_passphrase(f->profile, &needs), SOTTO_OK);
	assert_false(needs);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_OK);
	assert_same_key(made, k);
	secbuf_free(k);

	assert_int_equal(
	        store_key_rewrap(f->ctx, f->profile, NULL, 0, PW2, PW2_LEN, ST_CHEAP_PARAMS),
	        SOTTO_OK);
	assert_int_equal(store_key_needs_passphrase(f->profile, &needs), SOTTO_OK);
	assert_true(needs);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW2, PW2_LEN, &k), SOTTO_OK);
	assert_same_key(made, k);
	secbuf_free(k);
	secbuf_free(made);
}

static void store_key_rewrap__unchanged__wrong_old_passphrase_or_bad_new(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL;
	uint8_t before[KEYFILE_LEN], after[KEYFILE_LEN];

	assert_int_equal(store_key_create(f->ctx, f->profile, PW, PW_LEN, ST_CHEAP_PARAMS, &made),
	                 SOTTO_OK);
	read_key_file(f, before);
	assert_int_equal(store_key_rewrap(f->ctx, f->profile, PW2, PW2_LEN, NULL, 0, NULL),
	                 SOTTO_ERR_AUTH);
	assert_int_equal(
	        store_key_rewrap(f->ctx, f->profile, NULL, 0, PW2, PW2_LEN, ST_CHEAP_PARAMS),
	        SOTTO_ERR_AUTH);
	assert_int_equal(store_key_rewrap(f->ctx, f->profile, PW, PW_LEN, PW2, 0, ST_CHEAP_PARAMS),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(store_key_rewrap(f->ctx, f->profile, PW, PW_LEN, PW2, PW2_LEN,
	                                  &(const struct store_key_params){1, 100}),
	                 SOTTO_ERR_INVALID);
	read_key_file(f, after);
	assert_memory_equal(before, after, KEYFILE_LEN);
	secbuf_free(made);
}

/* A valid key file of the given mode, made by wrap with fixed salt and nonce. */
static void make_file(uint8_t out[static KEYFILE_LEN], bool with_passphrase,
                      uint8_t key[static STORE_KEY_LEN])
{
	struct store_keyfile kf;
	uint8_t salt[KEYFILE_SALT_LEN], nonce[KEYFILE_NONCE_LEN];

	for (size_t i = 0; i < STORE_KEY_LEN; i++)
		key[i] = (uint8_t)(0xA0 + i);
	memset(salt, 0x5a, sizeof(salt));
	memset(nonce, 0x6b, sizeof(nonce));
	assert_int_equal(store_keyfile_wrap(&kf, key, with_passphrase ? PW : NULL,
	                                    with_passphrase ? PW_LEN : 0, ST_CHEAP_PARAMS, salt,
	                                    nonce),
	                 SOTTO_OK);
	store_keyfile_encode(&kf, out);
	store_keyfile_clear(&kf);
}

/* Parses and unlocks buf as a file of either mode; returns the first error. */
static sotto_err try_unlock(const uint8_t *buf, size_t len, bool with_passphrase,
                            uint8_t key[static STORE_KEY_LEN])
{
	struct store_keyfile kf;
	sotto_err rc = store_keyfile_parse(buf, len, &kf);

	memset(key, 0xee, STORE_KEY_LEN);
	if (rc == SOTTO_OK)
		rc = store_keyfile_unlock(&kf, with_passphrase ? PW : NULL,
		                          with_passphrase ? PW_LEN : 0, key);
	store_keyfile_clear(&kf);
	return rc;
}

static void store_keyfile_parse__corrupt__every_truncation_and_extension(void **state)
{
	uint8_t file[KEYFILE_LEN + 1], key[STORE_KEY_LEN], got[STORE_KEY_LEN];
	struct store_keyfile kf;

	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		make_file(file, mode == 0, key);
		assert_int_equal(try_unlock(file, KEYFILE_LEN, mode == 0, got), SOTTO_OK);
		assert_memory_equal(got, key, STORE_KEY_LEN);
		for (size_t n = 0; n < KEYFILE_LEN; n++) {
			assert_int_equal(store_keyfile_parse(file, n, &kf), SOTTO_ERR_CORRUPT);
			assert_true(sodium_is_zero((const uint8_t *)&kf, sizeof(kf)));
		}
		file[KEYFILE_LEN] = 0;
		assert_int_equal(store_keyfile_parse(file, KEYFILE_LEN + 1, &kf),
		                 SOTTO_ERR_CORRUPT);
	}
}

static void store_keyfile_unlock__fails__every_bit_flip(void **state)
{
	uint8_t file[KEYFILE_LEN], key[STORE_KEY_LEN], got[STORE_KEY_LEN];
	unsigned n_auth = 0, n_corrupt = 0, n_version = 0;

	(void)state;
	for (int mode = 0; mode < 2; mode++) {
		make_file(file, mode == 0, key);
		for (size_t i = 0; i < KEYFILE_LEN; i++) {
			for (unsigned bit = 0; bit < 8; bit++) {
				file[i] ^= (uint8_t)(1u << bit);
				sotto_err rc = try_unlock(file, KEYFILE_LEN, mode == 0, got);
				file[i] ^= (uint8_t)(1u << bit);
				if (rc == SOTTO_OK)
					fail_msg("mode %d: flip of byte %zu bit %u accepted",
					         mode + 1, i, bit);
				assert_true(sodium_is_zero(got, sizeof(got)) ||
				            rc != SOTTO_ERR_AUTH);
				n_auth += rc == SOTTO_ERR_AUTH;
				n_corrupt += rc == SOTTO_ERR_CORRUPT;
				n_version += rc == SOTTO_ERR_VERSION;
				assert_true(rc == SOTTO_ERR_AUTH || rc == SOTTO_ERR_CORRUPT ||
				            rc == SOTTO_ERR_VERSION);
			}
		}
	}
	/* Each kind of rejection happened: header fields, the version, the sealed body. */
	assert_true(n_auth > 0 && n_corrupt > 0 && n_version == 16);
}

static void store_key_load__fails__every_byte_inverted_on_disk(void **state)
{
	struct fixture *f = *state;
	uint8_t file[KEYFILE_LEN];
	struct secbuf *made = NULL, *k = NULL;

	for (int mode = 0; mode < 2; mode++) {
		(void)unlink(f->key_path);
		assert_int_equal(store_key_create(f->ctx, f->profile, mode == 0 ? PW : NULL,
		                                  mode == 0 ? PW_LEN : 0, ST_CHEAP_PARAMS, &made),
		                 SOTTO_OK);
		read_key_file(f, file);
		for (size_t i = 0; i < KEYFILE_LEN; i++) {
			file[i] ^= 0xff;
			st_write_file(f->key_path, file, sizeof(file), 0600);
			file[i] ^= 0xff;
			sotto_err rc = store_key_load(f->ctx, f->profile, mode == 0 ? PW : NULL,
			                              mode == 0 ? PW_LEN : 0, &k);
			if (rc == SOTTO_OK)
				fail_msg("mode %d: byte %zu inverted accepted", mode + 1, i);
			assert_null(k);
			assert_true(rc == SOTTO_ERR_AUTH || rc == SOTTO_ERR_CORRUPT ||
			            rc == SOTTO_ERR_VERSION);
		}
		st_write_file(f->key_path, file, sizeof(file), 0600);
		assert_int_equal(store_key_load(f->ctx, f->profile, mode == 0 ? PW : NULL,
		                                mode == 0 ? PW_LEN : 0, &k),
		                 SOTTO_OK);
		assert_same_key(made, k);
		secbuf_free(k);
		k = NULL;
		secbuf_free(made);
		made = NULL;
	}
}

static void store_key_load__corrupt__huge_params_before_any_allocation(void **state)
{
	struct fixture *f = *state;
	static const uint64_t params[][2] = {
	        {1, (uint64_t)1 << 40},
	        {1, UINT64_MAX},
	        {1, UINT64_MAX - 1023},
	        {(uint64_t)1 << 32, STORE_KEY_MEMLIMIT_MIN},
	        {UINT64_MAX, UINT64_MAX},
	        {STORE_KEY_OPSLIMIT_MAX + 1, STORE_KEY_MEMLIMIT_MIN},
	        {1, (uint64_t)STORE_KEY_MEMLIMIT_MAX + 1024},
	        {0, STORE_KEY_MEMLIMIT_MIN},
	        {1, 0},
	        {1, STORE_KEY_MEMLIMIT_MIN - 1024},
	        {1, STORE_KEY_MEMLIMIT_MIN + 512},
	};
	uint8_t file[KEYFILE_LEN], key[STORE_KEY_LEN];
	struct secbuf *k = NULL;

	make_file(file, true, key);
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		bytes_store_be64(file + KEYFILE_OFF_OPSLIMIT, params[i][0]);
		bytes_store_be64(file + KEYFILE_OFF_MEMLIMIT, params[i][1]);
		st_write_file(f->key_path, file, sizeof(file), 0600);
		unsigned long before = f->alloc.n_allocs;
		/* NOMEM here would mean Argon2id was tried with the hostile memory size. */
		assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &k),
		                 SOTTO_ERR_CORRUPT);
		assert_int_equal(f->alloc.n_allocs, before);
		assert_null(k);
	}
}

static void store_key_load__version__newer_format(void **state)
{
	struct fixture *f = *state;
	uint8_t file[KEYFILE_LEN], key[STORE_KEY_LEN];
	struct secbuf *k = NULL;
	bool needs = false;

	make_file(file, true, key);
	file[KEYFILE_OFF_VERSION] = 2;
	st_write_file(f->key_path, file, sizeof(file), 0600);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &k), SOTTO_ERR_VERSION);
	assert_int_equal(store_key_needs_passphrase(f->profile, &needs), SOTTO_ERR_VERSION);
	/* A bad magic wins over the version: it is not our file at all. */
	file[0] = 'X';
	st_write_file(f->key_path, file, sizeof(file), 0600);
	assert_int_equal(store_key_load(f->ctx, f->profile, PW, PW_LEN, &k), SOTTO_ERR_CORRUPT);
	assert_null(k);
}

static void store_key_load__corrupt__oversized_or_empty_file(void **state)
{
	struct fixture *f = *state;
	uint8_t *big = calloc(1, 1 << 20);
	uint8_t file[KEYFILE_LEN], key[STORE_KEY_LEN];
	struct secbuf *k = NULL;

	assert_non_null(big);
	make_file(file, false, key);
	memcpy(big, file, sizeof(file));
	st_write_file(f->key_path, big, KEYFILE_LEN + 1, 0600);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_ERR_CORRUPT);
	st_write_file(f->key_path, big, 1 << 20, 0600);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_ERR_CORRUPT);
	st_write_file(f->key_path, big, 0, 0600);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_ERR_CORRUPT);
	assert_null(k);
	free(big);
}

static void store_key_load__io__symlink_or_directory(void **state)
{
	struct fixture *f = *state;
	uint8_t file[KEYFILE_LEN], key[STORE_KEY_LEN];
	char elsewhere[ST_PATH_MAX];
	struct secbuf *k = NULL;

	make_file(file, false, key);
	st_path(elsewhere, sizeof(elsewhere), f->tmp, "real-key");
	st_write_file(elsewhere, file, sizeof(file), 0600);
	assert_int_equal(symlink(elsewhere, f->key_path), 0);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_ERR_IO);
	/* create does not write through it either. */
	assert_int_equal(store_key_create(f->ctx, f->profile, NULL, 0, NULL, &k), SOTTO_ERR_USED);
	assert_int_equal(unlink(f->key_path), 0);
	assert_int_equal(mkdir(f->key_path, 0700), 0);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_ERR_IO);
	assert_null(k);
	assert_int_equal(rmdir(f->key_path), 0);
}

static void store_key_load__tightens__loose_file_mode(void **state)
{
	struct fixture *f = *state;
	struct secbuf *made = NULL, *k = NULL;

	assert_int_equal(store_key_create(f->ctx, f->profile, NULL, 0, NULL, &made), SOTTO_OK);
	assert_int_equal(chmod(f->key_path, 0644), 0);
	assert_int_equal(store_key_load(f->ctx, f->profile, NULL, 0, &k), SOTTO_OK);
	assert_int_equal(st_mode(f->key_path), 0600);
	secbuf_free(made);
	secbuf_free(k);
}

static void store_key__nomem__each_allocation(void **state)
{
	struct fixture *f = *state;
	bool created = false, loaded = false;
	long live = f->alloc.n_live;

	for (unsigned long n = 1; n <= 8 && !created; n++) {
		struct secbuf *k = NULL;
		f->alloc.fail_at = f->alloc.n_allocs + n;
		sotto_err rc =
		        store_key_create(f->ctx, f->profile, PW, PW_LEN, ST_CHEAP_PARAMS, &k);
		f->alloc.fail_at = 0;
		assert_true(rc == SOTTO_OK || rc == SOTTO_ERR_NOMEM);
		assert_true((rc == SOTTO_OK) == (k != NULL));
		created = rc == SOTTO_OK;
		secbuf_free(k);
	}
	for (unsigned long n = 1; n <= 8 && !loaded; n++) {
		struct secbuf *k = NULL;
		f->alloc.fail_at = f->alloc.n_allocs + n;
		sotto_err rc = store_key_load(f->ctx, f->profile, PW, PW_LEN, &k);
		f->alloc.fail_at = 0;
		assert_true(rc == SOTTO_OK || rc == SOTTO_ERR_NOMEM);
		loaded = rc == SOTTO_OK;
		secbuf_free(k);
	}
	for (unsigned long n = 1; n <= 8; n++) {
		f->alloc.fail_at = f->alloc.n_allocs + n;
		sotto_err rc = store_key_rewrap(f->ctx, f->profile, PW, PW_LEN, PW, PW_LEN,
		                                ST_CHEAP_PARAMS);
		f->alloc.fail_at = 0;
		assert_true(rc == SOTTO_OK || rc == SOTTO_ERR_NOMEM);
		if (rc == SOTTO_OK)
			break;
	}
	assert_true(created && loaded);
	assert_int_equal(f->alloc.n_live, live);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
	        T(store_key_create__round_trip__passphrase),
	        T(store_key_create__round_trip__no_passphrase),
	        T(store_key_create__ok__default_params_are_moderate),
	        T(store_key_create__used__key_file_exists),
	        T(store_key_create__invalid__bad_passphrase_or_params),
	        T(store_key_load__auth__wrong_or_missing_passphrase),
	        T(store_key_load__invalid__passphrase_for_clear_file),
	        T(store_key_load__not_found__no_key_file),
	        T(store_key_rewrap__new_passphrase__old_one_fails),
	        T(store_key_rewrap__same_key__passphrase_to_clear_and_back),
	        T(store_key_rewrap__unchanged__wrong_old_passphrase_or_bad_new),
	        cmocka_unit_test(store_keyfile_parse__corrupt__every_truncation_and_extension),
	        cmocka_unit_test(store_keyfile_unlock__fails__every_bit_flip),
	        T(store_key_load__fails__every_byte_inverted_on_disk),
	        T(store_key_load__corrupt__huge_params_before_any_allocation),
	        T(store_key_load__version__newer_format),
	        T(store_key_load__corrupt__oversized_or_empty_file),
	        T(store_key_load__io__symlink_or_directory),
	        T(store_key_load__tightens__loose_file_mode),
	        T(store_key__nomem__each_allocation),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
