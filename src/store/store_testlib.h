/* SPDX-License-Identifier: MIT */
/*
 * store_testlib.h - helpers shared by the store layer's tests: temporary
 * directories, cheap Argon2id parameters, writing files behind the store's
 * back, and the at-rest scanner. Test code only: it uses cmocka, is
 * header-only (static inline, so a test that leaves a helper unused still
 * compiles warning-free) and is never part of libsotto.
 *
 * The scanner looks for a secret in every regular file under a directory in
 * each form it could leak in: the raw bytes, hex in lower and in upper case,
 * and base64 in both alphabets (standard and URL-safe). A base64 run that
 * embeds the secret starts at one of three alignments, and only its whole
 * 3-byte groups encode to characters that depend on the secret alone, so the
 * scanner looks for the encoding of secret[k .. k + 3m) for k = 0, 1, 2
 * (m as large as fits): whichever alignment a leak had, one of them is in it.
 */
#ifndef SOTTO_STORE_STORE_TESTLIB_H
#define SOTTO_STORE_STORE_TESTLIB_H

#include <ctype.h>
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "store/key.h"
#include "test_util.h"

/* Argon2id at libsodium's minimum: an unlock costs microseconds. */
#define ST_CHEAP_PARAMS                                                                            \
	(&(const struct store_key_params){STORE_KEY_OPSLIMIT_MIN, STORE_KEY_MEMLIMIT_MIN})

enum {
	ST_PATH_MAX = 512,    /* paths the tests build */
	ST_TREE_DEPTH = 4,    /* directory levels the tests ever make */
	ST_ENCODED_MAX = 512, /* one encoded form of a secret, with its NUL */
	ST_SECRET_MAX = 128,  /* longest secret the scanner is given */
};

static inline void st_path(char *out, size_t cap, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s/%s", a, b);

	assert_true(n > 0 && (size_t)n < cap);
}

/* Makes a fresh directory /tmp/sotto-store-XXXXXX into out (cap >= 32). */
static inline void st_tmpdir(char *out, size_t cap)
{
	const char templ[] = "/tmp/sotto-store-XXXXXX";

	assert_true(cap >= sizeof(templ));
	memcpy(out, templ, sizeof(templ));
	assert_non_null(mkdtemp(out));
}

/* Removes dir and everything under it, at most depth levels down. */
static inline void st_rmtree(const char *dir, int depth)
{
	char path[ST_PATH_MAX];
	struct dirent *e;
	struct stat sb;
	DIR *d;

	if (depth < 0 || (d = opendir(dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		st_path(path, sizeof(path), dir, e->d_name);
		if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			(void)chmod(path, 0700);
			st_rmtree(path, depth - 1);
		} else {
			(void)unlink(path);
		}
	}
	closedir(d);
	(void)rmdir(dir);
}

/* Writes len bytes to path (created or truncated) with mode. */
static inline void st_write_file(const char *path, const uint8_t *data, size_t len, mode_t mode)
{
	FILE *f;

	(void)unlink(path);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static inline mode_t st_mode(const char *path)
{
	struct stat sb;

	assert_int_equal(lstat(path, &sb), 0);
	return sb.st_mode & 07777;
}

static inline bool st_mem_has(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	if (m == 0 || m > n)
		return false;
	for (size_t i = 0; i + m <= n; i++) {
		if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
			return true;
	}
	return false;
}

/* Every form of secret the scanner looks for. */
struct st_forms {
	char text[8][ST_ENCODED_MAX]; /* NUL-terminated encodings */
	const char *name[8];          /* what each one is */
	size_t n;
	const uint8_t *raw; /* the secret itself, borrowed */
	size_t raw_len;
};

static inline void st_forms_add_b64(struct st_forms *f, const uint8_t *s, size_t len, int variant,
                                    const char *name)
{
	if (len < 3)
		return;
	assert_true(f->n < 8);
	sodium_bin2base64(f->text[f->n], ST_ENCODED_MAX, s, len, variant);
	f->name[f->n++] = name;
}

static inline void st_forms_init(struct st_forms *f, const uint8_t *secret, size_t len)
{
	memset(f, 0, sizeof(*f));
	assert_true(len >= 12 && len <= ST_SECRET_MAX);
	f->raw = secret;
	f->raw_len = len;
	sodium_bin2hex(f->text[0], ST_ENCODED_MAX, secret, len);
	f->name[0] = "hex";
	memcpy(f->text[1], f->text[0], ST_ENCODED_MAX);
	for (char *c = f->text[1]; *c != '\0'; c++)
		*c = (char)toupper((unsigned char)*c);
	f->name[1] = "HEX";
	f->n = 2;
	for (size_t k = 0; k < 3; k++) {
		size_t whole = (len - k) / 3 * 3;
		st_forms_add_b64(f, secret + k, whole, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
		                 "base64");
		st_forms_add_b64(f, secret + k, whole, sodium_base64_VARIANT_URLSAFE_NO_PADDING,
		                 "base64url");
	}
}

/* The form of f found in the n bytes at buf, or NULL. */
static inline const char *st_forms_find(const struct st_forms *f, const uint8_t *buf, size_t n)
{
	if (st_mem_has(buf, n, f->raw, f->raw_len))
		return "raw";
	for (size_t i = 0; i < f->n; i++) {
		if (st_mem_has(buf, n, (const uint8_t *)f->text[i], strlen(f->text[i])))
			return f->name[i];
	}
	return NULL;
}

/*
 * Looks for secret in every regular file under dir (depth levels). Returns
 * true when found, naming the file and the form in where (cap bytes);
 * *n_files counts the files read (so a test can show it read something).
 */
static inline bool st_scan(const char *dir, int depth, const struct st_forms *f, char *where,
                           size_t cap, unsigned *n_files)
{
	char path[ST_PATH_MAX];
	struct dirent *e;
	struct stat sb;
	bool found = false;
	DIR *d;

	assert_true(depth >= 0);
	d = opendir(dir);
	assert_non_null(d);
	while (!found && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		st_path(path, sizeof(path), dir, e->d_name);
		assert_int_equal(lstat(path, &sb), 0);
		if (S_ISDIR(sb.st_mode)) {
			found = st_scan(path, depth - 1, f, where, cap, n_files);
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			continue;
		size_t len = 0;
		uint8_t *buf = tu_read_file(path, &len);
		assert_non_null(buf);
		(*n_files)++;
		const char *form = st_forms_find(f, buf, len);
		if (form != NULL) {
			snprintf(where, cap, "%s (%s)", e->d_name, form);
			found = true;
		}
		free(buf);
	}
	closedir(d);
	return found;
}

#endif /* SOTTO_STORE_STORE_TESTLIB_H */
