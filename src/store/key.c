/* SPDX-License-Identifier: MIT */
/*
 * key.c - the database key and the profile's key file (store layer); see
 * key.h for the modes and key_int.h for the byte layout.
 *
 * Order of work, which is the argument for "hostile parameters are refused
 * before anything is allocated": a key file is read into a fixed stack
 * buffer one byte larger than the format (a longer file is refused by size),
 * parsed and range-checked, and only then is a secret buffer allocated and
 * Argon2id run with the parameters it holds.
 *
 * Files: a key file is written to "key.tmp" first (created exclusively, never
 * following a symlink, mode 0600), fsynced, then hard-linked to "key" for a
 * new profile (link fails if "key" exists, so a key is never replaced by a
 * create) or renamed over it for a rewrap; the directory is fsynced after.
 * The temporary name is safe to reuse because the profile lock is held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "core/ctx.h"
#include "core/err.h"
#include "crypto/aead.h"
#include "crypto/kdf.h"
#include "store/key.h"
#include "store/key_int.h"
#include "wire/reader.h"
#include "wire/writer.h"

_Static_assert(STORE_KEY_OPSLIMIT_DEFAULT == crypto_pwhash_OPSLIMIT_MODERATE &&
                       STORE_KEY_MEMLIMIT_DEFAULT == crypto_pwhash_MEMLIMIT_MODERATE,
               "defaults are libsodium's MODERATE");
_Static_assert(STORE_KEY_OPSLIMIT_MIN >= crypto_pwhash_OPSLIMIT_MIN &&
                       STORE_KEY_MEMLIMIT_MIN >= crypto_pwhash_MEMLIMIT_MIN,
               "minimums within libsodium's");
_Static_assert(KEYFILE_SALT_LEN == crypto_pwhash_SALTBYTES, "Argon2id salt");
_Static_assert((int)STORE_KEY_LEN == (int)AEAD_KEY_LEN && (int)STORE_KEY_LEN == (int)KDF_KEY_LEN,
               "key sizes");

void store_keyfile_clear(struct store_keyfile *kf)
{
	sodium_memzero(kf, sizeof(*kf));
}

static bool params_in_range(uint64_t opslimit, uint64_t memlimit)
{
	return opslimit >= STORE_KEY_OPSLIMIT_MIN && opslimit <= STORE_KEY_OPSLIMIT_MAX &&
	       memlimit >= STORE_KEY_MEMLIMIT_MIN && memlimit <= STORE_KEY_MEMLIMIT_MAX &&
	       memlimit % STORE_KEY_MEMLIMIT_UNIT == 0;
}

sotto_err store_key_params_resolve(const struct store_key_params *SOTTO_NULLABLE in,
                                   struct store_key_params *out)
{
	out->opslimit = in != NULL && in->opslimit != 0 ? in->opslimit : STORE_KEY_OPSLIMIT_DEFAULT;
	out->memlimit = in != NULL && in->memlimit != 0 ? in->memlimit : STORE_KEY_MEMLIMIT_DEFAULT;
	return params_in_range(out->opslimit, out->memlimit) ? SOTTO_OK : SOTTO_ERR_INVALID;
}

/* Checks the fields that must be zero in a mode 2 file. */
static bool clear_fields_are_zero(const struct store_keyfile *kf)
{
	return kf->opslimit == 0 && kf->memlimit == 0 &&
	       sodium_is_zero(kf->salt, sizeof(kf->salt)) &&
	       sodium_is_zero(kf->nonce, sizeof(kf->nonce));
}

sotto_err store_keyfile_parse(const uint8_t *buf, size_t len, struct store_keyfile *out)
{
	struct wire_reader r;
	uint8_t magic[KEYFILE_MAGIC_LEN];
	uint8_t version;
	sotto_err rc;

	store_keyfile_clear(out);
	if (len != KEYFILE_LEN) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	wire_reader_init(&r, buf, len);
	wire_reader_copy(&r, magic, sizeof(magic));
	version = wire_reader_u8(&r);
	out->mode = wire_reader_u8(&r);
	out->opslimit = wire_reader_u64(&r);
	out->memlimit = wire_reader_u64(&r);
	wire_reader_copy(&r, out->salt, sizeof(out->salt));
	wire_reader_copy(&r, out->nonce, sizeof(out->nonce));
	wire_reader_copy(&r, out->body, sizeof(out->body));
	if (wire_reader_finish(&r) != SOTTO_OK ||
	    memcmp(magic, KEYFILE_MAGIC, KEYFILE_MAGIC_LEN) != 0) {
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		goto out;
	}
	if (version != KEYFILE_VERSION) {
		rc = SOTTO_ERR_VERSION;
		goto out;
	}
	switch (out->mode) {
	case KEYFILE_MODE_PASSPHRASE:
		rc = params_in_range(out->opslimit, out->memlimit) ? SOTTO_OK
		                                                   : SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		break;
	case KEYFILE_MODE_CLEAR:
		rc = clear_fields_are_zero(out) ? SOTTO_OK : SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		break;
	default: rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT); break;
	}
out:
	if (rc != SOTTO_OK)
		store_keyfile_clear(out);
	return rc;
}

void store_keyfile_encode(const struct store_keyfile *kf, uint8_t out[static KEYFILE_LEN])
{
	struct wire_writer w;
	sotto_err rc;

	wire_writer_init(&w, out, KEYFILE_LEN);
	wire_writer_bytes(&w, (const uint8_t *)KEYFILE_MAGIC, KEYFILE_MAGIC_LEN);
	wire_writer_u8(&w, KEYFILE_VERSION);
	wire_writer_u8(&w, kf->mode);
	wire_writer_u64(&w, kf->opslimit);
	wire_writer_u64(&w, kf->memlimit);
	wire_writer_bytes(&w, kf->salt, sizeof(kf->salt));
	wire_writer_bytes(&w, kf->nonce, sizeof(kf->nonce));
	wire_writer_bytes(&w, kf->body, sizeof(kf->body));
	/* Every field has a fixed size that adds up to KEYFILE_LEN. */
	rc = wire_writer_finish(&w, NULL);
	(void)SOTTO_INVARIANT(rc == SOTTO_OK && w.len == KEYFILE_LEN);
}

/* K = Argon2id(passphrase, salt, opslimit, memlimit); params already checked. */
static sotto_err passphrase_key(uint8_t k[static AEAD_KEY_LEN], const uint8_t *passphrase,
                                size_t pass_len, const struct store_keyfile *kf)
{
	if (crypto_pwhash(k, AEAD_KEY_LEN, (const char *)passphrase, pass_len, kf->salt,
	                  (unsigned long long)kf->opslimit, (size_t)kf->memlimit,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_memzero(k, AEAD_KEY_LEN);
		return SOTTO_ERR_NOMEM; /* parameters are in range: only memory can fail */
	}
	return SOTTO_OK;
}

/* The mode 2 check value over the header encoded in file[0 .. KEYFILE_HEADER_LEN). */
static sotto_err clear_check(uint8_t check[static KEYFILE_CHECK_LEN],
                             const uint8_t key[static STORE_KEY_LEN],
                             const uint8_t file[static KEYFILE_LEN])
{
	return kdf_derive(check, KEYFILE_CHECK_LEN, key, KEYFILE_CHECK_LABEL, file,
	                  KEYFILE_HEADER_LEN);
}

sotto_err store_keyfile_wrap(struct store_keyfile *out, const uint8_t key[static STORE_KEY_LEN],
                             const uint8_t *SOTTO_NULLABLE passphrase, size_t pass_len,
                             const struct store_key_params *params,
                             const uint8_t salt[static KEYFILE_SALT_LEN],
                             const uint8_t nonce[static KEYFILE_NONCE_LEN])
{
	uint8_t file[KEYFILE_LEN];
	uint8_t k[AEAD_KEY_LEN];
	sotto_err rc;

	store_keyfile_clear(out);
	if (passphrase == NULL) {
		out->mode = KEYFILE_MODE_CLEAR;
		store_keyfile_encode(out, file);
		memcpy(out->body, key, STORE_KEY_LEN);
		rc = clear_check(out->body + STORE_KEY_LEN, key, file);
		goto out;
	}
	if (pass_len == 0 || pass_len > STORE_PASSPHRASE_MAX ||
	    !params_in_range(params->opslimit, params->memlimit)) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	out->mode = KEYFILE_MODE_PASSPHRASE;
	out->opslimit = params->opslimit;
	out->memlimit = params->memlimit;
	memcpy(out->salt, salt, KEYFILE_SALT_LEN);
	memcpy(out->nonce, nonce, KEYFILE_NONCE_LEN);
	store_keyfile_encode(out, file);
	if ((rc = passphrase_key(k, passphrase, pass_len, out)) != SOTTO_OK)
		goto out;
	rc = aead_x_encrypt(out->body, key, STORE_KEY_LEN, file, KEYFILE_HEADER_LEN, out->nonce, k);
out:
	if (rc != SOTTO_OK)
		store_keyfile_clear(out);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(file, sizeof(file));
	return rc;
}

sotto_err store_keyfile_unlock(const struct store_keyfile *kf,
                               const uint8_t *SOTTO_NULLABLE passphrase, size_t pass_len,
                               uint8_t key[static STORE_KEY_LEN])
{
	uint8_t file[KEYFILE_LEN];
	uint8_t k[AEAD_KEY_LEN];
	uint8_t check[KEYFILE_CHECK_LEN];
	sotto_err rc;

	sodium_memzero(key, STORE_KEY_LEN);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(check, sizeof(check));
	store_keyfile_encode(kf, file);
	switch (kf->mode) {
	case KEYFILE_MODE_PASSPHRASE:
		if (passphrase == NULL) {
			rc = SOTTO_ERR_AUTH;
			break;
		}
		if (pass_len > STORE_PASSPHRASE_MAX) {
			rc = SOTTO_ERR_INVALID;
			break;
		}
		if ((rc = passphrase_key(k, passphrase, pass_len, kf)) != SOTTO_OK)
			break;
		rc = aead_x_decrypt(key, kf->body, KEYFILE_BODY_LEN, file, KEYFILE_HEADER_LEN,
		                    kf->nonce, k);
		break;
	case KEYFILE_MODE_CLEAR:
		if (passphrase != NULL) {
			rc = SOTTO_ERR_INVALID;
			break;
		}
		if ((rc = clear_check(check, kf->body, file)) != SOTTO_OK)
			break;
		if (sodium_memcmp(check, kf->body + STORE_KEY_LEN, KEYFILE_CHECK_LEN) != 0) {
			rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
			break;
		}
		memcpy(key, kf->body, STORE_KEY_LEN);
		break;
	default: rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT); break;
	}
	if (rc != SOTTO_OK)
		sodium_memzero(key, STORE_KEY_LEN);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(check, sizeof(check));
	sodium_memzero(file, sizeof(file));
	return rc;
}

/* ---- files ------------------------------------------------------------ */

static sotto_err write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SOTTO_ERR_IO;
		p += n;
		len -= (size_t)n;
	}
	return SOTTO_OK;
}

/* Reads at most cap bytes of fd into buf; *len gets the count. */
static sotto_err read_some(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	*len = 0;
	while (*len < cap) {
		ssize_t n = read(fd, buf + *len, cap - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SOTTO_ERR_IO;
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	return SOTTO_OK;
}

/*
 * Reads and parses the profile's key file: a regular file reached without a
 * symlink, tightened to 0600 if it was looser. One byte more than the format
 * is read, so a longer file fails the size check instead of being cut.
 */
static sotto_err read_keyfile(const struct store_profile *p, struct store_keyfile *kf)
{
	char path[STORE_PATH_MAX];
	uint8_t buf[KEYFILE_LEN + 1];
	struct stat sb;
	size_t len = 0;
	int fd = -1;
	sotto_err rc;

	store_keyfile_clear(kf);
	if ((rc = store_profile_file(p, STORE_KEY_FILE, path, sizeof(path))) != SOTTO_OK)
		goto out;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		rc = errno == ENOENT ? SOTTO_ERR_NOT_FOUND : SOTTO_ERR_IO;
		goto out;
	}
	rc = SOTTO_ERR_IO;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		goto out;
	if ((sb.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)
		goto out;
	if ((rc = read_some(fd, buf, sizeof(buf), &len)) != SOTTO_OK)
		goto out;
	rc = store_keyfile_parse(buf, len, kf);
out:
	if (fd >= 0)
		(void)close(fd);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

/*
 * Writes kf as the profile's key file through "key.tmp": linked to "key"
 * (SOTTO_ERR_USED if it exists) or, when replace is set, renamed over it.
 */
static sotto_err write_keyfile(const struct store_profile *p, const struct store_keyfile *kf,
                               bool replace)
{
	char dst[STORE_PATH_MAX];
	char tmp[STORE_PATH_MAX];
	uint8_t buf[KEYFILE_LEN];
	bool has_tmp = false;
	int fd = -1;
	sotto_err rc;

	store_keyfile_encode(kf, buf);
	if ((rc = store_profile_file(p, STORE_KEY_FILE, dst, sizeof(dst))) != SOTTO_OK ||
	    (rc = store_profile_file(p, STORE_KEY_TMP_FILE, tmp, sizeof(tmp))) != SOTTO_OK)
		goto out;
	rc = SOTTO_ERR_IO;
	/* A leftover from a crash: the lock guarantees nobody else is writing it. */
	if (unlink(tmp) != 0 && errno != ENOENT)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	has_tmp = true;
	if (fchmod(fd, 0600) != 0 || write_all(fd, buf, sizeof(buf)) != SOTTO_OK || fsync(fd) != 0)
		goto out;
	int closed = close(fd);
	fd = -1;
	if (closed != 0)
		goto out;
	if (replace ? rename(tmp, dst) != 0 : link(tmp, dst) != 0) {
		if (!replace && errno == EEXIST)
			rc = SOTTO_ERR_USED;
		goto out;
	}
	if (replace)
		has_tmp = false;
	else if (unlink(tmp) == 0)
		has_tmp = false;
	rc = store_profile_sync(p);
out:
	if (fd >= 0)
		(void)close(fd);
	if (has_tmp)
		(void)unlink(tmp);
	sodium_memzero(buf, sizeof(buf));
	return rc;
}

/* Checks a passphrase argument; resolves params only when there is one. */
static sotto_err check_new_passphrase(const uint8_t *SOTTO_NULLABLE passphrase, size_t pass_len,
                                      const struct store_key_params *SOTTO_NULLABLE params,
                                      struct store_key_params *resolved)
{
	memset(resolved, 0, sizeof(*resolved));
	if (passphrase == NULL)
		return pass_len == 0 ? SOTTO_OK : SOTTO_ERR_INVALID;
	if (pass_len == 0 || pass_len > STORE_PASSPHRASE_MAX)
		return SOTTO_ERR_INVALID;
	return store_key_params_resolve(params, resolved);
}

sotto_err store_key_create(struct sotto_ctx *ctx, const struct store_profile *profile,
                           const uint8_t *SOTTO_NULLABLE passphrase, size_t pass_len,
                           const struct store_key_params *SOTTO_NULLABLE params,
                           struct secbuf **out)
{
	struct store_key_params prm;
	struct store_keyfile kf;
	uint8_t salt[KEYFILE_SALT_LEN];
	uint8_t nonce[KEYFILE_NONCE_LEN];
	char path[STORE_PATH_MAX];
	struct secbuf *key = NULL;
	struct stat sb;
	sotto_err rc;

	*out = NULL;
	store_keyfile_clear(&kf);
	if ((rc = check_new_passphrase(passphrase, pass_len, params, &prm)) != SOTTO_OK)
		goto out;
	/* Fail before Argon2id runs; write_keyfile's link() is what settles races. */
	if ((rc = store_profile_file(profile, STORE_KEY_FILE, path, sizeof(path))) != SOTTO_OK)
		goto out;
	if (lstat(path, &sb) == 0) {
		rc = SOTTO_ERR_USED;
		goto out;
	}
	if (errno != ENOENT) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	if ((rc = secbuf_new(ctx, STORE_KEY_LEN, &key)) != SOTTO_OK)
		goto out;
	ctx_random(ctx, secbuf_data(key), STORE_KEY_LEN);
	ctx_random(ctx, salt, sizeof(salt));
	ctx_random(ctx, nonce, sizeof(nonce));
	if ((rc = store_keyfile_wrap(&kf, secbuf_data(key), passphrase, pass_len, &prm, salt,
	                             nonce)) != SOTTO_OK)
		goto out;
	if ((rc = write_keyfile(profile, &kf, false)) != SOTTO_OK)
		goto out;
	*out = key;
	key = NULL; /* moved */
	rc = SOTTO_OK;
out:
	secbuf_free(key);
	store_keyfile_clear(&kf);
	return rc;
}

sotto_err store_key_needs_passphrase(const struct store_profile *profile, bool *out)
{
	struct store_keyfile kf;
	sotto_err rc;

	*out = false;
	if ((rc = read_keyfile(profile, &kf)) == SOTTO_OK)
		*out = kf.mode == KEYFILE_MODE_PASSPHRASE;
	store_keyfile_clear(&kf);
	return rc;
}

sotto_err store_key_load(struct sotto_ctx *ctx, const struct store_profile *profile,
                         const uint8_t *SOTTO_NULLABLE passphrase, size_t pass_len,
                         struct secbuf **out)
{
	struct store_keyfile kf;
	struct secbuf *key = NULL;
	sotto_err rc;

	*out = NULL;
	if ((rc = read_keyfile(profile, &kf)) != SOTTO_OK)
		goto out;
	if ((rc = secbuf_new(ctx, STORE_KEY_LEN, &key)) != SOTTO_OK)
		goto out;
	if ((rc = store_keyfile_unlock(&kf, passphrase, pass_len, secbuf_data(key))) != SOTTO_OK)
		goto out;
	*out = key;
	key = NULL; /* moved */
out:
	secbuf_free(key);
	store_keyfile_clear(&kf);
	return rc;
}

sotto_err store_key_rewrap(struct sotto_ctx *ctx, const struct store_profile *profile,
                           const uint8_t *SOTTO_NULLABLE old_passphrase, size_t old_len,
                           const uint8_t *SOTTO_NULLABLE new_passphrase, size_t new_len,
                           const struct store_key_params *SOTTO_NULLABLE params)
{
	struct store_key_params prm;
	struct store_keyfile old_kf;
	struct store_keyfile new_kf;
	uint8_t salt[KEYFILE_SALT_LEN];
	uint8_t nonce[KEYFILE_NONCE_LEN];
	struct secbuf *key = NULL;
	sotto_err rc;

	store_keyfile_clear(&old_kf);
	store_keyfile_clear(&new_kf);
	if ((rc = check_new_passphrase(new_passphrase, new_len, params, &prm)) != SOTTO_OK)
		goto out;
	if ((rc = read_keyfile(profile, &old_kf)) != SOTTO_OK)
		goto out;
	if ((rc = secbuf_new(ctx, STORE_KEY_LEN, &key)) != SOTTO_OK)
		goto out;
	if ((rc = store_keyfile_unlock(&old_kf, old_passphrase, old_len, secbuf_data(key))) !=
	    SOTTO_OK)
		goto out;
	ctx_random(ctx, salt, sizeof(salt));
	ctx_random(ctx, nonce, sizeof(nonce));
	if ((rc = store_keyfile_wrap(&new_kf, secbuf_data(key), new_passphrase, new_len, &prm, salt,
	                             nonce)) != SOTTO_OK)
		goto out;
	rc = write_keyfile(profile, &new_kf, true);
out:
	secbuf_free(key);
	store_keyfile_clear(&old_kf);
	store_keyfile_clear(&new_kf);
	return rc;
}
