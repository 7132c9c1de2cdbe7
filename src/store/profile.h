/* SPDX-License-Identifier: MIT */
/*
 * profile.h - where a client profile lives on disk, and holding it (store
 * layer).
 *
 * A profile is one directory holding everything of one identity: the lock
 * file, the key file (key.h) and the SQLite database (db.h). It lives at
 *
 *   $XDG_DATA_HOME/sotto/profiles/<name>        when XDG_DATA_HOME is set
 *                                               to an absolute path,
 *   $HOME/.local/share/sotto/profiles/<name>    otherwise,
 *   <base>/<name>                               when the caller names a base
 *                                               directory (tests, portable
 *                                               installs).
 *
 * Names are 1..STORE_PROFILE_NAME_MAX characters of [A-Za-z0-9_-], so a name
 * can never climb out of its parent ("..", "/") or hide ("." first).
 *
 * Holding a profile means holding an exclusive flock() on <dir>/lock for as
 * long as the handle lives. The lock belongs to the open file description,
 * so a second store_profile_new() of the same profile fails with
 * SOTTO_ERR_BUSY whether it comes from another process or from this one, and
 * the lock goes away with the process however it ends (no stale lock files).
 * Every other file of the profile is only touched while the lock is held.
 *
 * The directory is created 0700 (missing parents too, as the XDG
 * specification asks) and an existing one is tightened to 0700; it must be a
 * real directory (not a symlink) owned by the effective user.
 *
 * Threading: a handle is used by one thread at a time. store_profile_dir()
 * reads the environment (getenv), so it must not race with setenv().
 */
#ifndef SOTTO_STORE_PROFILE_H
#define SOTTO_STORE_PROFILE_H

#include <stddef.h>

#include <sotto/sotto.h>

#include "store/limits.h"

/* File names inside a profile directory. */
#define STORE_PROFILE_LOCK_FILE "lock"

struct store_profile;

/*
 * Checks that name is 1..STORE_PROFILE_NAME_MAX characters of
 * [A-Za-z0-9_-]. Errors: SOTTO_ERR_INVALID.
 */
SOTTO_NODISCARD sotto_err store_profile_name_check(const char *name);

/*
 * Writes the directory of profile name into out (cap bytes, NUL included):
 * <base>/<name> when base is not NULL, else the XDG location above. Nothing
 * is created. out is set to "" first.
 * Errors: SOTTO_ERR_INVALID (bad name, empty base), SOTTO_ERR_NOT_FOUND
 * (base is NULL and neither XDG_DATA_HOME nor HOME is an absolute path),
 * SOTTO_ERR_TOO_LARGE (the path needs more than cap or STORE_PATH_MAX bytes).
 */
SOTTO_NODISCARD sotto_err store_profile_dir(char *out, size_t cap, const char *SOTTO_NULLABLE base,
                                            const char *name);

/*
 * Opens profile name (see store_profile_dir for base): creates its directory
 * if needed and takes the profile lock. *out is set to NULL first and owns
 * the handle on success.
 * Errors: those of store_profile_dir, SOTTO_ERR_BUSY (another handle, in this
 * or another process, holds the profile), SOTTO_ERR_IO (the directory cannot
 * be created, is not a directory, is a symlink or belongs to someone else;
 * the lock file cannot be opened), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err store_profile_new(struct sotto_ctx *ctx, const char *SOTTO_NULLABLE base,
                                            const char *name, struct store_profile **out);

/* Releases the lock and frees p; NULL does nothing. */
void store_profile_free(struct store_profile *SOTTO_NULLABLE p);

/* The profile directory, borrowed until store_profile_free(p). */
const char *store_profile_path(const struct store_profile *p);

/*
 * Writes "<dir>/<file>" into out (cap bytes). file is one of our fixed names.
 * Errors: SOTTO_ERR_TOO_LARGE.
 */
SOTTO_NODISCARD sotto_err store_profile_file(const struct store_profile *p, const char *file,
                                             char *out, size_t cap);

/*
 * Fsyncs the profile directory, making files created, renamed or removed in
 * it durable. Errors: SOTTO_ERR_IO.
 */
SOTTO_NODISCARD sotto_err store_profile_sync(const struct store_profile *p);

#endif /* SOTTO_STORE_PROFILE_H */
