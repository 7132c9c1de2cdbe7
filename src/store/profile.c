/* SPDX-License-Identifier: MIT */
/*
 * profile.c - profile directories and the profile lock (store layer); see
 * profile.h for the locations and the locking rule.
 *
 * The lock is flock(), not a POSIX record lock: record locks belong to the
 * process and vanish when any descriptor of the file is closed, so they
 * could neither stop a second open inside one process nor survive an
 * unrelated close. flock() is outside POSIX but present on every Unix sotto
 * targets, hence _DEFAULT_SOURCE below.
 */
#define _DEFAULT_SOURCE /* flock(2) is BSD, not POSIX; everything else here is */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/ctx.h"
#include "core/err.h"
#include "store/profile.h"

struct store_profile {
	struct sotto_ctx *ctx; /* borrowed */
	char *dir;             /* owned, NUL-terminated */
	size_t dir_len;        /* bytes before the NUL */
	int lock_fd;           /* holds the flock; -1 before it is taken */
};

static bool name_char_is_valid(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

sotto_err store_profile_name_check(const char *name)
{
	size_t n = 0;

	while (n <= STORE_PROFILE_NAME_MAX && name[n] != '\0') {
		if (!name_char_is_valid(name[n]))
			return SOTTO_ERR_INVALID;
		n++;
	}
	if (n == 0 || n > STORE_PROFILE_NAME_MAX)
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

/* Appends the NUL-terminated s to out at *len, keeping room for the NUL. */
static sotto_err path_append(char *out, size_t cap, size_t *len, const char *s)
{
	size_t n = strnlen(s, STORE_PATH_MAX);

	if (n >= STORE_PATH_MAX || n >= cap - *len)
		return SOTTO_ERR_TOO_LARGE;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return SOTTO_OK;
}

/* An environment variable usable as a base: set, and an absolute path. */
static const char *env_abs(const char *var)
{
	const char *v = getenv(var);

	return v != NULL && v[0] == '/' ? v : NULL;
}

sotto_err store_profile_dir(char *out, size_t cap, const char *SOTTO_NULLABLE base,
                            const char *name)
{
	const char *root = NULL;
	const char *tail = "/";
	size_t len = 0;
	sotto_err rc;

	if (cap == 0)
		return SOTTO_ERR_TOO_LARGE;
	out[0] = '\0';
	if ((rc = store_profile_name_check(name)) != SOTTO_OK)
		return rc;
	if (cap > STORE_PATH_MAX)
		cap = STORE_PATH_MAX;
	if (base != NULL) {
		if (base[0] == '\0')
			return SOTTO_ERR_INVALID;
		root = base;
	} else if ((root = env_abs("XDG_DATA_HOME")) != NULL) {
		tail = "/sotto/profiles/";
	} else if ((root = env_abs("HOME")) != NULL) {
		tail = "/.local/share/sotto/profiles/";
	} else {
		return SOTTO_ERR_NOT_FOUND;
	}
	if ((rc = path_append(out, cap, &len, root)) != SOTTO_OK ||
	    (rc = path_append(out, cap, &len, tail)) != SOTTO_OK ||
	    (rc = path_append(out, cap, &len, name)) != SOTTO_OK)
		out[0] = '\0';
	return rc;
}

static sotto_err sync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sotto_err rc = SOTTO_OK;

	if (fd < 0)
		return SOTTO_ERR_IO;
	if (fsync(fd) != 0)
		rc = SOTTO_ERR_IO;
	(void)close(fd);
	return rc;
}

/*
 * Creates the missing parents of path (a writable copy), each 0700 as the
 * XDG specification asks. Failures are left to the final mkdir to report:
 * an existing parent we may not write to is fine.
 */
static void make_parents(char *path, size_t len)
{
	for (size_t i = 1; i < len; i++) {
		if (path[i] != '/')
			continue;
		path[i] = '\0';
		(void)mkdir(path, 0700);
		path[i] = '/';
	}
}

/*
 * Makes p->dir exist as a real directory of ours with mode 0700. A new one's
 * entry is made durable by fsyncing its parent ("<dir>/.."); scratch holds
 * at least dir_len + 4 bytes.
 */
static sotto_err prepare_dir(struct store_profile *p, char *scratch)
{
	struct stat sb;

	memcpy(scratch, p->dir, p->dir_len + 1);
	make_parents(scratch, p->dir_len);
	if (mkdir(p->dir, 0700) == 0) {
		/* The umask may have taken owner bits too; the mode must be exact. */
		if (chmod(p->dir, 0700) != 0)
			return SOTTO_ERR_IO;
		memcpy(scratch + p->dir_len, "/..", sizeof("/.."));
		return sync_path(scratch);
	}
	if (errno != EEXIST)
		return SOTTO_ERR_IO;
	if (lstat(p->dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
		return SOTTO_ERR_IO;
	if ((sb.st_mode & 07777) != 0700 && chmod(p->dir, 0700) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

/* Opens the lock file (never through a symlink) and takes the lock. */
static sotto_err take_lock(struct store_profile *p, char *scratch, size_t cap)
{
	struct stat sb;
	int fd;

	if (store_profile_file(p, STORE_PROFILE_LOCK_FILE, scratch, cap) != SOTTO_OK)
		return SOTTO_ERR_TOO_LARGE;
	fd = open(scratch, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return SOTTO_ERR_IO;
	p->lock_fd = fd;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
		return SOTTO_ERR_IO;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return SOTTO_ERR_BUSY;
		if (errno != EINTR)
			return SOTTO_ERR_IO;
	}
	return SOTTO_OK;
}

sotto_err store_profile_new(struct sotto_ctx *ctx, const char *SOTTO_NULLABLE base,
                            const char *name, struct store_profile **out)
{
	struct store_profile *p = NULL;
	char *scratch = NULL;
	sotto_err rc;

	*out = NULL;
	if ((scratch = ctx_alloc(ctx, STORE_PATH_MAX)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	if ((rc = store_profile_dir(scratch, STORE_PATH_MAX, base, name)) != SOTTO_OK)
		goto out;
	if ((p = ctx_calloc(ctx, 1, sizeof(*p))) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	p->ctx = ctx;
	p->lock_fd = -1;
	p->dir_len = strlen(scratch);
	/* Room for "<dir>/.." and "<dir>/<file>" is checked where they are built. */
	if ((p->dir = ctx_alloc(ctx, p->dir_len + 1)) == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	memcpy(p->dir, scratch, p->dir_len + 1);
	if (p->dir_len + sizeof("/..") > STORE_PATH_MAX) {
		rc = SOTTO_ERR_TOO_LARGE;
		goto out;
	}
	if ((rc = prepare_dir(p, scratch)) != SOTTO_OK)
		goto out;
	if ((rc = take_lock(p, scratch, STORE_PATH_MAX)) != SOTTO_OK)
		goto out;
	*out = p;
	p = NULL; /* moved */
	rc = SOTTO_OK;
out:
	store_profile_free(p);
	ctx_free(ctx, scratch);
	return rc;
}

void store_profile_free(struct store_profile *SOTTO_NULLABLE p)
{
	if (p == NULL)
		return;
	/* Closing the only descriptor of the open file description drops the flock. */
	if (p->lock_fd >= 0)
		(void)close(p->lock_fd);
	ctx_free(p->ctx, p->dir);
	ctx_free(p->ctx, p);
}

const char *store_profile_path(const struct store_profile *p)
{
	return p->dir;
}

sotto_err store_profile_file(const struct store_profile *p, const char *file, char *out, size_t cap)
{
	size_t len = 0;
	sotto_err rc;

	if (cap == 0)
		return SOTTO_ERR_TOO_LARGE;
	out[0] = '\0';
	if ((rc = path_append(out, cap, &len, p->dir)) != SOTTO_OK ||
	    (rc = path_append(out, cap, &len, "/")) != SOTTO_OK ||
	    (rc = path_append(out, cap, &len, file)) != SOTTO_OK)
		out[0] = '\0';
	return rc;
}

sotto_err store_profile_sync(const struct store_profile *p)
{
	return sync_path(p->dir);
}
