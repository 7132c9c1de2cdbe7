/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - what the sotto-relay program does, as library calls (relay
 * layer): the data directory, the static key file, the stats file, the
 * switch to an unprivileged user, and the daemon's run from bind to drain.
 * cmd/sotto-relay only parses arguments, calls these and prints.
 *
 * The data directory (mode 0700) holds:
 *
 *   key       the relay's static X25519 private key: exactly 32 raw bytes,
 *             mode 0600, written once and never replaced
 *   config    the configuration (config.h), written by relay_daemon_init
 *   relay.db  the store (store.h), with its WAL
 *   stats     aggregate counters the running daemon rewrites every
 *             stats_interval_s seconds and once more when it stops
 *
 * Every file is written atomically (a temporary file in the same directory,
 * fsync, then rename or link, then fsync of the directory), so a crash
 * leaves either the old file or the new one. The store holds an exclusive
 * lock while the daemon runs, so `sotto-relay stats` reads the stats file
 * and never the store.
 *
 * Privileges: a daemon started as root opens its key and store under the
 * configured user's effective ids (the data directory belongs to that user),
 * binds its socket as root, then switches to that user for good
 * (supplementary groups, group, user, in that order, and checks that root
 * cannot be regained) before its loop reads a single client byte. Without
 * a user it refuses to run as root unless told to explicitly. Started as
 * any other user it keeps that user.
 *
 * Process-wide effects, which is why only the daemon calls these:
 * relay_daemon_run ignores SIGPIPE, handles SIGTERM and SIGINT while it
 * runs, raises its soft descriptor limit (relay_daemon_fd_limit) and may
 * change the process's user and groups.
 *
 * Logs carry counters and fixed phrases only: never an address, key, queue
 * ID or user name.
 */
#ifndef SOTTO_RELAY_DAEMON_H
#define SOTTO_RELAY_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "crypto/x25519.h"
#include "relay/config.h"
#include "relay/server.h"

enum {
	RELAY_DAEMON_PATH_MAX = 4096, /* bytes in a path we build, with its NUL */
	RELAY_DAEMON_KEY_FILE_LEN = 32,
	RELAY_DAEMON_STATS_TEXT_MAX = 1024, /* relay_daemon_stats_format output, at most */
	/* Descriptors kept for everything but clients: listener, loop, signals, store, logs. */
	RELAY_DAEMON_FDS_RESERVED = 32,
};

/* File names inside the data directory. */
#define RELAY_DAEMON_KEY_FILE    "key"
#define RELAY_DAEMON_CONFIG_FILE "config"
#define RELAY_DAEMON_STATS_FILE  "stats"

/*
 * The default data directory: $XDG_DATA_HOME/sotto-relay when xdg_data_home
 * is an absolute path, else $HOME/.local/share/sotto-relay when home is
 * absolute (the values are the caller's, e.g. from getenv; either may be
 * NULL). Writes it and a NUL into out (cap bytes).
 * Errors: SOTTO_ERR_NOT_FOUND (neither is an absolute path),
 * SOTTO_ERR_TOO_LARGE (cap).
 */
SOTTO_NODISCARD sotto_err relay_daemon_default_dir(const char *SOTTO_NULLABLE xdg_data_home,
                                                   const char *SOTTO_NULLABLE home, char *out,
                                                   size_t cap);

/*
 * Joins dir and name with a '/' into out (cap bytes, NUL-terminated).
 * Errors: SOTTO_ERR_TOO_LARGE, SOTTO_ERR_INVALID (dir or name empty).
 */
SOTTO_NODISCARD sotto_err relay_daemon_path(char *out, size_t cap, const char *dir,
                                            const char *name);

/*
 * Writes data[0..len) as dir/name atomically with mode (0600 or 0644):
 * dir/name.tmp is created exclusively (a stale one is removed first),
 * written and fsync'ed; then, with replace, renamed over dir/name, or
 * without, hard-linked to dir/name (failing if it exists) and unlinked;
 * then dir is fsync'ed. Errors: SOTTO_ERR_USED (not replace and dir/name
 * exists), SOTTO_ERR_IO, SOTTO_ERR_TOO_LARGE (path), SOTTO_ERR_INVALID.
 */
SOTTO_NODISCARD sotto_err relay_daemon_write_file(const char *dir, const char *name,
                                                  const uint8_t *SOTTO_NULLABLE data, size_t len,
                                                  unsigned mode, bool replace);

/*
 * Reads the regular file path (not following a final symlink) into buf (cap
 * bytes); *len gets its length (0 first). Errors: SOTTO_ERR_NOT_FOUND (no
 * such file), SOTTO_ERR_TOO_LARGE (longer than cap), SOTTO_ERR_IO (cannot
 * read it, or not a regular file).
 */
SOTTO_NODISCARD sotto_err relay_daemon_read_file(const char *path, uint8_t *buf, size_t cap,
                                                 size_t *len);

/*
 * Reads and parses the configuration file path into *out (defaults on
 * failure). err (may be NULL) as for relay_config_parse; when the file
 * cannot be read its line is 0 and its reason says so.
 * Errors: SOTTO_ERR_NOT_FOUND, SOTTO_ERR_IO, and those of
 * relay_config_parse (SOTTO_ERR_TOO_LARGE also for a file over
 * RELAY_CONFIG_FILE_MAX).
 */
SOTTO_NODISCARD sotto_err relay_daemon_config_load(const char *path, struct relay_config *out,
                                                   struct relay_config_error *SOTTO_NULLABLE err);

/* An account to switch to. */
struct relay_daemon_user {
	uint32_t uid;
	uint32_t gid; /* its primary group */
};

/*
 * Looks up user name in the system's user database.
 * Errors: SOTTO_ERR_NOT_FOUND (no such user), SOTTO_ERR_INVALID (name empty
 * or too long), SOTTO_ERR_IO (the lookup failed), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err relay_daemon_user_lookup(const char *name, struct relay_daemon_user *out);

/*
 * Switches the process to user: supplementary groups to just its group,
 * then group, then user (real, effective and saved), and checks that it
 * held (ids as asked, no other group, and root cannot be regained). Needs
 * root. Process-wide and irreversible.
 * Errors: SOTTO_ERR_INVALID (user is root), SOTTO_ERR_IO (a call was
 * refused, e.g. not root), SOTTO_ERR_INTERNAL (the calls succeeded but the
 * switch did not hold).
 */
SOTTO_NODISCARD sotto_err relay_daemon_switch_user(const struct relay_daemon_user *user);

/*
 * Makes dir, with mode 0700, and any missing parent (also 0700); dir must be
 * a real directory, not a symlink. Then creates the store, writes the
 * configuration cfg and, last, a freshly generated static key, whose public
 * half goes to pub (zero on failure). Run as root with cfg->user set, dir is
 * given to that user (whom the daemon will switch to), missing parents are
 * made 0755 so the user can reach it, and the files are created under that
 * user's effective ids, which are given back before returning. A directory
 * that already holds a key is left untouched.
 * Errors: SOTTO_ERR_USED (dir already holds a key), SOTTO_ERR_IO,
 * SOTTO_ERR_INVALID (cfg not valid, dir empty, cfg->user is root),
 * SOTTO_ERR_NOT_FOUND (as root: no such user), SOTTO_ERR_TOO_LARGE (path),
 * SOTTO_ERR_BUSY (a daemon has the store open), and those of relay_store_new.
 */
SOTTO_NODISCARD sotto_err relay_daemon_init(struct sotto_ctx *ctx, const char *dir,
                                            const struct relay_config *cfg,
                                            uint8_t pub[static X25519_KEY_LEN]);

/*
 * Loads dir/key into *out (wiped first and on failure). Errors:
 * SOTTO_ERR_NOT_FOUND (no key: the directory was never initialised),
 * SOTTO_ERR_CORRUPT (not exactly RELAY_DAEMON_KEY_FILE_LEN bytes),
 * SOTTO_ERR_INVALID (group or others may read or write it),
 * SOTTO_ERR_IO, SOTTO_ERR_TOO_LARGE (path), SOTTO_ERR_INTERNAL.
 */
SOTTO_NODISCARD sotto_err relay_daemon_key_load(const char *dir, struct x25519_keypair *out);

/*
 * Writes the relay address sotto://<pub>@<host>:<port> of cfg (host from
 * relay_config_address_host) and a NUL into out (cap bytes; NET_ADDR_TEXT_MAX
 * + 1 always suffices). Errors: SOTTO_ERR_INVALID (port 0 or a host an
 * address cannot carry, e.g. an IPv6 zone), SOTTO_ERR_TOO_LARGE (cap).
 */
SOTTO_NODISCARD sotto_err relay_daemon_address(const struct relay_config *cfg,
                                               const uint8_t pub[static X25519_KEY_LEN], char *out,
                                               size_t cap);

/*
 * Raises the process's soft RLIMIT_NOFILE to its hard limit (to
 * NET_CONNECTIONS_MAX + RELAY_DAEMON_FDS_RESERVED when the hard limit is
 * unlimited), so that the relay can hold as many connections as the system
 * lets it. Process-wide. *limit gets the soft limit in force afterwards and
 * *capacity the client connections it leaves room for (the limit less
 * RELAY_DAEMON_FDS_RESERVED; both 0 first). A raise the system refuses is
 * not an error: the limits then describe the limit kept.
 * Errors: SOTTO_ERR_IO (the limit cannot be read).
 */
SOTTO_NODISCARD sotto_err relay_daemon_fd_limit(uint64_t *limit, uint64_t *capacity);

/* The server settings cfg asks for (config.h's units turned into the server's). */
void relay_daemon_server_config(const struct relay_config *cfg, struct relay_server_config *out);

/* ---- Stats file ---- */

struct relay_daemon_stats {
	bool is_running;           /* false once the daemon has stopped */
	uint64_t port;             /* the port it listens on */
	uint64_t started_s;        /* wall clock, seconds since the epoch */
	uint64_t updated_s;        /* when this was written */
	uint64_t interval_s;       /* the daemon rewrites the file this often */
	uint64_t connections;      /* handshakes completed since start */
	uint64_t clients;          /* connections open now */
	uint64_t queues;           /* in the store */
	uint64_t messages;         /* stored, not yet acknowledged or expired */
	uint64_t messages_in;      /* accepted since start */
	uint64_t messages_out;     /* delivered since start */
	uint64_t messages_acked;   /* acknowledged since start */
	uint64_t messages_expired; /* deleted unread since start */
	uint64_t queues_created;   /* since start */
	uint64_t commits;          /* store batches since start */
	uint64_t commit_failures;  /* since start */
};

/*
 * True when st claims a running daemon but is older than three intervals
 * (plus a few seconds) at wall-clock time now_s: the daemon has most likely
 * died without writing its final stats.
 */
bool relay_daemon_stats_is_stale(const struct relay_daemon_stats *st, uint64_t now_s);

/*
 * Writes st as the text of the stats file ("key = value" lines) and a NUL
 * into out (cap bytes); *out_len gets the length (0 first).
 * Errors: SOTTO_ERR_TOO_LARGE (cap).
 */
SOTTO_NODISCARD sotto_err relay_daemon_stats_format(const struct relay_daemon_stats *st, char *out,
                                                    size_t cap, size_t *out_len);

/*
 * Parses a stats file's text (borrowed) into *out (zeroed first, and on
 * failure): every key must be present exactly once, and no other.
 * err (may be NULL) as for relay_kv_parse. Errors: SOTTO_ERR_CORRUPT.
 */
SOTTO_NODISCARD sotto_err relay_daemon_stats_parse(const uint8_t *SOTTO_NULLABLE text, size_t len,
                                                   struct relay_daemon_stats *out,
                                                   struct relay_config_error *SOTTO_NULLABLE err);

/*
 * Reads and parses dir/stats. Errors: SOTTO_ERR_NOT_FOUND (the daemon has
 * never run), SOTTO_ERR_CORRUPT (malformed, or over RELAY_DAEMON_STATS_TEXT_MAX),
 * SOTTO_ERR_IO, SOTTO_ERR_TOO_LARGE (path).
 */
SOTTO_NODISCARD sotto_err relay_daemon_stats_load(const char *dir, struct relay_daemon_stats *out);

/* ---- Running ---- */

struct relay_daemon;

/*
 * Called once the socket is bound and privileges are dropped, before the
 * loop runs (so before any client byte is read). Tests use it to start a
 * client on the same loop or to stop the daemon early.
 */
typedef void relay_daemon_ready_fn(void *SOTTO_NULLABLE user, struct relay_daemon *daemon,
                                   uv_loop_t *loop, uint16_t port);

struct relay_daemon_options {
	const char *dir;                /* data directory; borrowed for the call */
	const struct relay_config *cfg; /* borrowed for the call */
	bool allow_root;                /* run as root when cfg has no user */
	relay_daemon_ready_fn *SOTTO_NULLABLE on_ready;
	void *SOTTO_NULLABLE user;
};

/*
 * Runs the relay until SIGTERM or SIGINT (or relay_daemon_stop), then drains
 * and returns SOTTO_OK. In order: checks privileges (as root: cfg->user must
 * name a non-root user who owns dir, or allow_root must be set), loads the
 * key and opens the store (under the user's effective ids when switching),
 * raises the descriptor limit (logging the connections it allows when
 * fewer than cfg->max_connections), binds, switches user, writes the stats
 * file, calls on_ready, runs the loop; on a signal, stops accepting, answers and flushes
 * what is held, closes, writes the stats file with is_running false, and
 * closes the store. *what (may be NULL) is set to a static phrase naming the
 * step that failed (NULL on success). Errors: SOTTO_ERR_STATE (as root
 * without a user and without allow_root; or dir is not owned by the user),
 * SOTTO_ERR_INVALID (the user is root), SOTTO_ERR_INTERNAL (the switch of
 * user did not hold), and those of relay_daemon_user_lookup,
 * relay_daemon_key_load, relay_store_new, relay_server_new and
 * relay_daemon_write_file.
 */
SOTTO_NODISCARD sotto_err relay_daemon_run(struct sotto_ctx *ctx,
                                           const struct relay_daemon_options *options,
                                           const char *SOTTO_NULLABLE *SOTTO_NULLABLE what);

/*
 * Starts the drain, as SIGTERM does. Only from the daemon's loop (e.g. from
 * on_ready or a callback it runs); a second call does nothing.
 */
void relay_daemon_stop(struct relay_daemon *daemon);

#endif /* SOTTO_RELAY_DAEMON_H */
