/* SPDX-License-Identifier: MIT */
/*
 * daemon.c - the sotto-relay program's behaviour (relay layer): data
 * directory, key file, stats file, switching user, and the run from bind to
 * drain. See daemon.h for the files and the privilege rules.
 *
 * Files: every write goes to "<name>.tmp" first (created exclusively, never
 * following a symlink), is fsync'ed, then renamed over the target (stats,
 * config) or hard-linked to it (the key: link fails if the target exists, so
 * a key is never replaced, even by two inits racing); the directory is
 * fsync'ed after. Reads are bounded and refuse anything but regular files.
 *
 * The running daemon owns its own loop. The order of relay_daemon_run is the
 * security argument: the socket is bound while the process may still be
 * root; the switch of user happens before the loop first runs,
 * and libuv reads no socket outside the loop, so no client byte is read with
 * privileges. The key and the store are opened before the bind but under
 * the target user's effective ids (the saved id stays root's, so the bind
 * can still take a low port): the data directory belongs to that user, so
 * root never creates or opens files there (SQLite's journal and shared
 * memory files included) through a path that user controls, and every file
 * the store creates belongs to the user from the start. init does the same.
 */
#define _DEFAULT_SOURCE /* setgroups(2) is not in POSIX; everything else here is */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/compat.h"
#include "core/ctx.h"
#include "core/err.h"
#include "net/limits.h"
#include "relay/daemon.h"
#include "relay/store.h"

enum {
	DAEMON_PWBUF_LEN = 16384, /* getpwnam_r scratch */
	DAEMON_GROUPS_MAX = 256,  /* supplementary groups of root we can restore */
	DAEMON_STALE_SLACK_S = 5, /* a stats file may be this late beyond three intervals */
	DAEMON_SECONDS_PER_DAY = 86400,
	DAEMON_STORE_DB_SUFFIXES = 3,
};

/* ---- Paths and files ---- */

sotto_err relay_daemon_path(char *out, size_t cap, const char *dir, const char *name)
{
	size_t dir_len = strlen(dir), name_len = strlen(name);

	if (cap > 0)
		out[0] = '\0';
	if (dir_len == 0 || name_len == 0)
		return SOTTO_RAISE(SOTTO_ERR_INVALID);
	if (dir_len + 1 + name_len >= cap)
		return SOTTO_RAISE(SOTTO_ERR_TOO_LARGE);
	memcpy(out, dir, dir_len);
	out[dir_len] = '/';
	memcpy(out + dir_len + 1, name, name_len);
	out[dir_len + 1 + name_len] = '\0';
	return SOTTO_OK;
}

sotto_err relay_daemon_default_dir(const char *xdg_data_home, const char *home, char *out,
                                   size_t cap)
{
	if (cap > 0)
		out[0] = '\0';
	if (xdg_data_home != NULL && xdg_data_home[0] == '/')
		return relay_daemon_path(out, cap, xdg_data_home, "sotto-relay");
	if (home != NULL && home[0] == '/')
		return relay_daemon_path(out, cap, home, ".local/share/sotto-relay");
	return SOTTO_ERR_NOT_FOUND;
}

static sotto_err write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return SOTTO_ERR_IO;
		data += n;
		len -= (size_t)n;
	}
	return SOTTO_OK;
}

/* Reads fd to its end into buf; SOTTO_ERR_TOO_LARGE if more than cap bytes are there. */
static sotto_err read_all(int fd, uint8_t *buf, size_t cap, size_t *len)
{
	uint8_t extra;

	*len = 0;
	for (;;) {
		uint8_t *dst = *len < cap ? buf + *len : &extra;
		size_t want = *len < cap ? cap - *len : 1;
		ssize_t n = read(fd, dst, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return SOTTO_ERR_IO;
		if (n == 0)
			return SOTTO_OK;
		if (dst == &extra)
			return SOTTO_ERR_TOO_LARGE;
		*len += (size_t)n;
	}
}

static sotto_err fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	sotto_err rc = SOTTO_OK;

	if (fd < 0)
		return SOTTO_ERR_IO;
	if (fsync(fd) != 0)
		rc = SOTTO_ERR_IO;
	(void)close(fd);
	return rc;
}

sotto_err relay_daemon_write_file(const char *dir, const char *name, const uint8_t *data,
                                  size_t len, unsigned mode, bool replace)
{
	char dst[RELAY_DAEMON_PATH_MAX], tmp[RELAY_DAEMON_PATH_MAX];
	int fd = -1;
	bool has_tmp = false;
	sotto_err rc;

	if ((rc = relay_daemon_path(dst, sizeof(dst), dir, name)) != SOTTO_OK)
		goto out;
	rc = SOTTO_ERR_TOO_LARGE;
	size_t dst_len = strlen(dst);
	if (dst_len + sizeof(".tmp") > sizeof(tmp))
		goto out;
	memcpy(tmp, dst, dst_len);
	memcpy(tmp + dst_len, ".tmp", sizeof(".tmp"));

	rc = SOTTO_ERR_IO;
	if (unlink(tmp) != 0 && errno != ENOENT)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	if (fd < 0)
		goto out;
	has_tmp = true;
	if (fchmod(fd, (mode_t)mode) != 0 || (len > 0 && write_all(fd, data, len) != SOTTO_OK) ||
	    fsync(fd) != 0)
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
	rc = fsync_dir(dir);
out:
	if (fd >= 0)
		(void)close(fd);
	if (has_tmp)
		(void)unlink(tmp);
	return rc;
}

/* Opens path for reading, refusing symlinks and anything but a regular file. */
static sotto_err open_regular(const char *path, int *fd_out, struct stat *st)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

	*fd_out = -1;
	if (fd < 0)
		return errno == ENOENT ? SOTTO_ERR_NOT_FOUND : SOTTO_ERR_IO;
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		(void)close(fd);
		return SOTTO_ERR_IO;
	}
	*fd_out = fd;
	return SOTTO_OK;
}

sotto_err relay_daemon_read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	struct stat st;
	int fd = -1;
	sotto_err rc;

	*len = 0;
	if ((rc = open_regular(path, &fd, &st)) != SOTTO_OK)
		return rc;
	rc = read_all(fd, buf, cap, len);
	(void)close(fd);
	if (rc != SOTTO_OK)
		*len = 0;
	return rc;
}

sotto_err relay_daemon_config_load(const char *path, struct relay_config *out,
                                   struct relay_config_error *err)
{
	uint8_t text[RELAY_CONFIG_FILE_MAX];
	size_t len = 0;
	sotto_err rc;

	relay_config_defaults(out);
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	rc = relay_daemon_read_file(path, text, sizeof(text), &len);
	if (rc != SOTTO_OK) {
		if (err != NULL)
			err->reason = rc == SOTTO_ERR_TOO_LARGE ? "file is too large"
			                                        : "cannot read the file";
		return rc;
	}
	return relay_config_parse(text, len, out, err);
}

/* ---- Users ---- */

sotto_err relay_daemon_user_lookup(const char *name, struct relay_daemon_user *out)
{
	char buf[DAEMON_PWBUF_LEN];
	struct passwd pw, *found = NULL;

	memset(out, 0, sizeof(*out));
	size_t len = strlen(name);
	if (len == 0 || len > RELAY_CONFIG_USER_MAX)
		return SOTTO_RAISE(SOTTO_ERR_INVALID);
	int e = getpwnam_r(name, &pw, buf, sizeof(buf), &found);
	if (e != 0)
		return e == ENOMEM ? SOTTO_ERR_NOMEM : SOTTO_ERR_IO;
	if (found == NULL)
		return SOTTO_ERR_NOT_FOUND;
	out->uid = (uint32_t)pw.pw_uid;
	out->gid = (uint32_t)pw.pw_gid;
	return SOTTO_OK;
}

/* True when the process's ids are exactly user's and no other group remains. */
static bool switch_held(const struct relay_daemon_user *user)
{
	gid_t groups[2];

	if (getuid() != (uid_t)user->uid || geteuid() != (uid_t)user->uid ||
	    getgid() != (gid_t)user->gid || getegid() != (gid_t)user->gid)
		return false;
	int n = getgroups(2, groups);
	if (n < 0 || n > 1 || (n == 1 && groups[0] != (gid_t)user->gid))
		return false;
	/* Root must be out of reach: with a saved uid of 0 this would succeed. */
	return setuid(0) != 0 && seteuid(0) != 0 && setgid(0) != 0;
}

sotto_err relay_daemon_switch_user(const struct relay_daemon_user *user)
{
	gid_t gid = (gid_t)user->gid;

	if (user->uid == 0)
		return SOTTO_RAISE(SOTTO_ERR_INVALID);
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid((uid_t)user->uid) != 0)
		return SOTTO_ERR_IO;
	if (!switch_held(user))
		return SOTTO_RAISE(SOTTO_ERR_INTERNAL);
	return SOTTO_OK;
}

/* The ids root had before as_user_enter, to go back to. */
struct saved_ids {
	gid_t egid;
	gid_t groups[DAEMON_GROUPS_MAX];
	int n_groups;
};

/* Gives the effective user id back to root and restores the saved groups. */
static sotto_err as_user_leave(const struct saved_ids *saved)
{
	if (seteuid(0) != 0 || setegid(saved->egid) != 0 ||
	    setgroups((size_t)saved->n_groups, saved->groups) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

/*
 * Takes user's group and effective ids for a while; the saved user id stays
 * root's, so as_user_leave can return. Needs root.
 */
static sotto_err as_user_enter(const struct relay_daemon_user *user, struct saved_ids *saved)
{
	gid_t gid = (gid_t)user->gid;

	saved->egid = getegid();
	if ((saved->n_groups = getgroups(DAEMON_GROUPS_MAX, saved->groups)) < 0)
		return SOTTO_ERR_IO;
	if (setgroups(1, &gid) != 0 || setegid(gid) != 0 || seteuid((uid_t)user->uid) != 0) {
		(void)as_user_leave(saved);
		return SOTTO_ERR_IO;
	}
	return SOTTO_OK;
}

/* ---- Initialising a data directory ---- */

/*
 * mkdir -p: creates what is missing (parents with parent_mode, dir 0700),
 * then requires dir to be a real directory, not a symlink.
 */
static sotto_err make_dirs(const char *dir, mode_t parent_mode)
{
	char path[RELAY_DAEMON_PATH_MAX];
	struct stat st;
	size_t len = strlen(dir);

	if (len == 0)
		return SOTTO_RAISE(SOTTO_ERR_INVALID);
	if (len >= sizeof(path))
		return SOTTO_RAISE(SOTTO_ERR_TOO_LARGE);
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		char saved = path[i];
		path[i] = '\0';
		if (mkdir(path, saved == '\0' ? 0700 : parent_mode) != 0 && errno != EEXIST)
			return SOTTO_ERR_IO;
		path[i] = saved;
	}
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

static sotto_err has_key(const char *dir, bool *yes)
{
	char path[RELAY_DAEMON_PATH_MAX];
	struct stat st;
	sotto_err rc;

	*yes = false;
	if ((rc = relay_daemon_path(path, sizeof(path), dir, RELAY_DAEMON_KEY_FILE)) != SOTTO_OK)
		return rc;
	if (lstat(path, &st) == 0) {
		*yes = true;
		return SOTTO_OK;
	}
	return errno == ENOENT ? SOTTO_OK : SOTTO_ERR_IO;
}

/* The files of a data directory: store, configuration, then the key. */
static sotto_err init_files(struct sotto_ctx *ctx, const char *dir, const char *text,
                            size_t text_len, uint8_t pub[static X25519_KEY_LEN])
{
	struct x25519_keypair kp;
	struct relay_store *store = NULL;
	bool exists = false;
	sotto_err rc;

	memset(&kp, 0, sizeof(kp));
	if ((rc = has_key(dir, &exists)) != SOTTO_OK)
		goto out;
	if (exists) {
		rc = SOTTO_ERR_USED;
		goto out;
	}
	if ((rc = relay_store_new(ctx, dir, NULL, &store)) != SOTTO_OK)
		goto out;
	relay_store_free(store);
	if ((rc = relay_daemon_write_file(dir, RELAY_DAEMON_CONFIG_FILE, (const uint8_t *)text,
	                                  text_len, 0644, true)) != SOTTO_OK)
		goto out;
	/* The key comes last: its presence is what "initialised" means. */
	x25519_keypair_generate(ctx, &kp);
	if ((rc = relay_daemon_write_file(dir, RELAY_DAEMON_KEY_FILE, kp.priv, sizeof(kp.priv),
	                                  0600, false)) != SOTTO_OK)
		goto out;
	memcpy(pub, kp.pub, X25519_KEY_LEN);
out:
	x25519_keypair_clear(&kp);
	return rc;
}

sotto_err relay_daemon_init(struct sotto_ctx *ctx, const char *dir, const struct relay_config *cfg,
                            uint8_t pub[static X25519_KEY_LEN])
{
	char text[RELAY_CONFIG_TEXT_MAX];
	struct relay_daemon_user owner = {0, 0};
	struct saved_ids saved;
	size_t text_len = 0;
	bool has_owner = geteuid() == 0 && cfg->user[0] != '\0', is_owner = false;
	sotto_err rc;

	memset(pub, 0, X25519_KEY_LEN);
	if ((rc = relay_config_format(cfg, text, sizeof(text), &text_len)) != SOTTO_OK ||
	    (has_owner && (rc = relay_daemon_user_lookup(cfg->user, &owner)) != SOTTO_OK))
		goto out;
	if (has_owner && owner.uid == 0) {
		rc = SOTTO_RAISE(SOTTO_ERR_INVALID);
		goto out;
	}
	/* Parents stay traversable for the owner; dir itself is private. */
	if ((rc = make_dirs(dir, has_owner ? 0755 : 0700)) != SOTTO_OK)
		goto out;
	rc = SOTTO_ERR_IO;
	if ((has_owner && lchown(dir, (uid_t)owner.uid, (gid_t)owner.gid) != 0) ||
	    chmod(dir, 0700) != 0)
		goto out;
	/* The owner's identity creates the files, as in daemon_open. */
	if (has_owner && (rc = as_user_enter(&owner, &saved)) != SOTTO_OK)
		goto out;
	is_owner = has_owner;
	rc = init_files(ctx, dir, text, text_len, pub);
out:
	if (is_owner && as_user_leave(&saved) != SOTTO_OK && rc == SOTTO_OK)
		rc = SOTTO_ERR_IO;
	if (rc != SOTTO_OK)
		memset(pub, 0, X25519_KEY_LEN);
	return rc;
}

sotto_err relay_daemon_key_load(const char *dir, struct x25519_keypair *out)
{
	char path[RELAY_DAEMON_PATH_MAX];
	uint8_t buf[RELAY_DAEMON_KEY_FILE_LEN];
	struct stat st;
	size_t len = 0;
	int fd = -1;
	sotto_err rc;

	x25519_keypair_clear(out);
	if ((rc = relay_daemon_path(path, sizeof(path), dir, RELAY_DAEMON_KEY_FILE)) != SOTTO_OK ||
	    (rc = open_regular(path, &fd, &st)) != SOTTO_OK)
		goto out;
	if ((st.st_mode & 077) != 0) {
		rc = SOTTO_RAISE(SOTTO_ERR_INVALID);
		goto out;
	}
	rc = read_all(fd, buf, sizeof(buf), &len);
	if (rc == SOTTO_ERR_TOO_LARGE || (rc == SOTTO_OK && len != sizeof(buf)))
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	if (rc != SOTTO_OK)
		goto out;
	rc = x25519_keypair_from_private(buf, out);
out:
	if (fd >= 0)
		(void)close(fd);
	sodium_memzero(buf, sizeof(buf));
	if (rc != SOTTO_OK)
		x25519_keypair_clear(out);
	return rc;
}

sotto_err relay_daemon_address(const struct relay_config *cfg,
                               const uint8_t pub[static X25519_KEY_LEN], char *out, size_t cap)
{
	struct net_addr a;
	const char *host = relay_config_address_host(cfg);
	size_t host_len = strnlen(host, sizeof(a.host));

	if (cap > 0)
		out[0] = '\0';
	if (host_len >= sizeof(a.host) || cfg->port == 0)
		return SOTTO_RAISE(SOTTO_ERR_INVALID);
	memset(&a, 0, sizeof(a));
	memcpy(a.key, pub, NET_ADDR_KEY_LEN);
	memcpy(a.host, host, host_len);
	a.port = cfg->port;
	return net_addr_format(&a, out, cap);
}

sotto_err relay_daemon_fd_limit(uint64_t *limit, uint64_t *capacity)
{
	struct rlimit rl;
	rlim_t want;

	*limit = 0;
	*capacity = 0;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return SOTTO_RAISE(SOTTO_ERR_IO);
	/* Linux refuses an unlimited RLIMIT_NOFILE: ask for what the relay can use. */
	want = rl.rlim_max != RLIM_INFINITY
	               ? rl.rlim_max
	               : (rlim_t)NET_CONNECTIONS_MAX + (rlim_t)RELAY_DAEMON_FDS_RESERVED;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
		struct rlimit raised = {.rlim_cur = want, .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = want;
	}
	*limit = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
	*capacity = *limit > RELAY_DAEMON_FDS_RESERVED ? *limit - RELAY_DAEMON_FDS_RESERVED : 0;
	return SOTTO_OK;
}

/* Raises the descriptor limit; says so once when it caps the connections below the configured. */
static void daemon_fd_limit(struct sotto_ctx *ctx, uint32_t max_connections)
{
	uint64_t limit = 0, capacity = 0;

	if (relay_daemon_fd_limit(&limit, &capacity) != SOTTO_OK) {
		ctx_log(ctx, SOTTO_LOG_WARN, "relay: cannot read the descriptor limit");
		return;
	}
	if (capacity < max_connections)
		ctx_log(ctx, SOTTO_LOG_WARN,
		        "relay: the descriptor limit (%llu) leaves room for %llu connections, "
		        "fewer than max_connections (%u); excess connections will be refused",
		        (unsigned long long)limit, (unsigned long long)capacity,
		        (unsigned)max_connections);
}

void relay_daemon_server_config(const struct relay_config *cfg, struct relay_server_config *out)
{
	memset(out, 0, sizeof(*out));
	out->core.quota = cfg->quota;
	out->core.ttl_s = cfg->ttl_s != 0 ? cfg->ttl_s
	                                       : cfg->ttl_days * (uint32_t)DAEMON_SECONDS_PER_DAY;
	out->core.new_per_minute = cfg->queues_per_minute;
	out->conn.handshake_timeout_ms = cfg->handshake_timeout_s * 1000u;
	out->conn.idle_timeout_ms = cfg->idle_timeout_s * 1000u;
	out->conn.max_write_queue_bytes = cfg->write_queue_bytes;
	out->conn.max_connections = cfg->max_connections;
	out->expire_interval_ms = cfg->expire_interval_s * 1000u;
}

/* ---- The stats file ---- */

struct stats_key {
	const char *name;
	size_t offset; /* of a uint64_t in struct relay_daemon_stats; unused for "running" */
};

#define STAT(f)                                                                                    \
	{                                                                                          \
#f, offsetof(struct relay_daemon_stats, f)                                         \
	}

static const struct stats_key STATS_KEYS[] = {
        {"running", 0},         STAT(port),           STAT(started_s),    STAT(updated_s),
        STAT(interval_s),       STAT(connections),    STAT(clients),      STAT(queues),
        STAT(messages),         STAT(messages_in),    STAT(messages_out), STAT(messages_acked),
        STAT(messages_expired), STAT(queues_created), STAT(commits),      STAT(commit_failures),
};

#undef STAT

enum {
	STATS_N_KEYS = SOTTO_ARRAY_LEN(STATS_KEYS),
	STATS_U64_DIGITS_MAX = 20,
};

static uint64_t stats_get(const struct relay_daemon_stats *st, size_t i)
{
	uint64_t v;

	if (i == 0)
		return st->is_running ? 1 : 0;
	memcpy(&v, (const uint8_t *)st + STATS_KEYS[i].offset, sizeof(v));
	return v;
}

static bool append(char *out, size_t cap, size_t *pos, const char *s, size_t len)
{
	if (len >= cap - *pos)
		return false;
	memcpy(out + *pos, s, len);
	*pos += len;
	out[*pos] = '\0';
	return true;
}

bool relay_daemon_stats_is_stale(const struct relay_daemon_stats *st, uint64_t now_s)
{
	uint64_t limit = st->interval_s <= (UINT64_MAX - DAEMON_STALE_SLACK_S) / 3
	                         ? 3 * st->interval_s + DAEMON_STALE_SLACK_S
	                         : UINT64_MAX;

	return st->is_running && now_s > st->updated_s && now_s - st->updated_s > limit;
}

sotto_err relay_daemon_stats_format(const struct relay_daemon_stats *st, char *out, size_t cap,
                                    size_t *out_len)
{
	static const char HEAD[] = "# sotto-relay statistics: aggregate counters only\n";
	size_t pos = 0;

	*out_len = 0;
	if (cap == 0)
		return SOTTO_RAISE(SOTTO_ERR_TOO_LARGE);
	out[0] = '\0';
	if (!append(out, cap, &pos, HEAD, sizeof(HEAD) - 1))
		goto too_large;
	for (size_t i = 0; i < STATS_N_KEYS; i++) {
		char digits[STATS_U64_DIGITS_MAX];
		size_t n = 0;
		uint64_t v = stats_get(st, i);
		do {
			digits[STATS_U64_DIGITS_MAX - ++n] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		if (!append(out, cap, &pos, STATS_KEYS[i].name, strlen(STATS_KEYS[i].name)) ||
		    !append(out, cap, &pos, " = ", 3) ||
		    !append(out, cap, &pos, digits + STATS_U64_DIGITS_MAX - n, n) ||
		    !append(out, cap, &pos, "\n", 1))
			goto too_large;
	}
	*out_len = pos;
	return SOTTO_OK;
too_large:
	out[0] = '\0';
	return SOTTO_RAISE(SOTTO_ERR_TOO_LARGE);
}

struct stats_parse {
	struct relay_daemon_stats *st;
	uint32_t seen; /* bit i: STATS_KEYS[i] was read */
};

static sotto_err stats_kv(void *user, const char *key, size_t key_len, const char *value,
                          size_t value_len, struct relay_config_error *err)
{
	struct stats_parse *p = user;
	uint64_t v;
	sotto_err rc;

	for (size_t i = 0; i < STATS_N_KEYS; i++) {
		const char *name = STATS_KEYS[i].name;
		if (strlen(name) != key_len || memcmp(name, key, key_len) != 0)
			continue;
		if (p->seen & (UINT32_C(1) << i)) {
			err->reason = "key given twice";
			return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
		}
		p->seen |= UINT32_C(1) << i;
		if ((rc = relay_kv_u64(value, value_len, 0, i == 0 ? 1 : UINT64_MAX, &v, err)) !=
		    SOTTO_OK)
			return rc;
		if (i == 0)
			p->st->is_running = v == 1;
		else
			memcpy((uint8_t *)p->st + STATS_KEYS[i].offset, &v, sizeof(v));
		return SOTTO_OK;
	}
	err->reason = "unknown key";
	return SOTTO_RAISE(SOTTO_ERR_CORRUPT);
}

sotto_err relay_daemon_stats_parse(const uint8_t *text, size_t len, struct relay_daemon_stats *out,
                                   struct relay_config_error *err)
{
	struct relay_config_error scratch;
	struct stats_parse p = {.st = out, .seen = 0};
	sotto_err rc;

	_Static_assert(STATS_N_KEYS <= 32, "seen is a 32-bit set");
	if (err == NULL)
		err = &scratch;
	memset(out, 0, sizeof(*out));
	rc = relay_kv_parse(text, len, stats_kv, &p, err);
	if (rc == SOTTO_OK && p.seen != (UINT32_C(1) << STATS_N_KEYS) - 1) {
		memset(err, 0, sizeof(*err));
		err->reason = "a key is missing";
		rc = SOTTO_ERR_CORRUPT;
	}
	if (rc != SOTTO_OK) {
		memset(out, 0, sizeof(*out));
		rc = SOTTO_RAISE(SOTTO_ERR_CORRUPT);
	}
	return rc;
}

sotto_err relay_daemon_stats_load(const char *dir, struct relay_daemon_stats *out)
{
	char path[RELAY_DAEMON_PATH_MAX];
	uint8_t text[RELAY_DAEMON_STATS_TEXT_MAX];
	size_t len = 0;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = relay_daemon_path(path, sizeof(path), dir, RELAY_DAEMON_STATS_FILE)) !=
	            SOTTO_OK ||
	    (rc = relay_daemon_read_file(path, text, sizeof(text), &len)) != SOTTO_OK)
		return rc == SOTTO_ERR_TOO_LARGE ? SOTTO_RAISE(SOTTO_ERR_CORRUPT) : rc;
	return relay_daemon_stats_parse(text, len, out, NULL);
}

/* ---- Running ---- */

struct relay_daemon {
	struct sotto_ctx *ctx;
	uv_loop_t loop;
	struct relay_store *store;   /* owned */
	struct relay_server *server; /* owned until relay_server_close, then NULL */
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	uv_timer_t stats_timer;
	unsigned n_handles; /* of the three above: initialised and not yet closed */
	const char *dir;    /* borrowed from the options for the run */
	uint32_t stats_interval_ms;
	struct relay_daemon_stats st; /* the last counters collected */
	bool is_stats_failing;        /* the last stats write failed (logged once) */
	bool is_stopping;
};

static uint64_t wall_now_s(void)
{
	time_t t = time(NULL);
	return t > 0 ? (uint64_t)t : 0;
}

/* Refreshes d->st from the core (while the server lives) and the store. */
static void daemon_collect(struct relay_daemon *d, bool is_running)
{
	struct relay_store_stats ss;

	if (d->server != NULL) {
		struct relay_stats cs;
		relay_core_stats(relay_server_core(d->server), &cs);
		d->st.connections = cs.n_connections;
		d->st.clients = cs.n_clients;
		d->st.messages_in = cs.n_msgs_in;
		d->st.messages_out = cs.n_msgs_out;
		d->st.messages_acked = cs.n_msgs_acked;
		d->st.messages_expired = cs.n_msgs_expired;
		d->st.queues_created = cs.n_queues_created;
		d->st.commits = cs.n_commits;
		d->st.commit_failures = cs.n_commit_failures;
	}
	if (!is_running)
		d->st.clients = 0;
	if (relay_store_stats(d->store, &ss) == SOTTO_OK) {
		d->st.queues = ss.n_queues;
		d->st.messages = ss.n_msgs;
	}
	d->st.is_running = is_running;
	d->st.updated_s = wall_now_s();
}

static sotto_err daemon_write_stats(struct relay_daemon *d, bool is_running)
{
	char text[RELAY_DAEMON_STATS_TEXT_MAX];
	size_t len = 0;
	sotto_err rc;

	daemon_collect(d, is_running);
	if ((rc = relay_daemon_stats_format(&d->st, text, sizeof(text), &len)) == SOTTO_OK)
		rc = relay_daemon_write_file(d->dir, RELAY_DAEMON_STATS_FILE, (const uint8_t *)text,
		                             len, 0600, true);
	if (rc != SOTTO_OK && !d->is_stats_failing)
		ctx_log(d->ctx, SOTTO_LOG_WARN, "relay: cannot write the stats file (%s)",
		        sotto_strerror(rc));
	d->is_stats_failing = rc != SOTTO_OK;
	return rc;
}

static void on_stats_timer(uv_timer_t *t)
{
	sotto_err rc = daemon_write_stats(t->data, true);
	(void)rc; /* logged; the relay keeps serving */
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	relay_daemon_stop(h->data);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct relay_daemon *d = h->data;
	d->n_handles--;
}

static void daemon_close_handles(struct relay_daemon *d)
{
	uv_handle_t *hs[3] = {(uv_handle_t *)&d->sig_term, (uv_handle_t *)&d->sig_int,
	                      (uv_handle_t *)&d->stats_timer};

	for (unsigned i = 0; i < 3; i++) {
		if (hs[i]->data != NULL && !uv_is_closing(hs[i]))
			uv_close(hs[i], on_handle_closed);
	}
}

/* Starts the signal handles and the stats timer (each counted once initialised). */
static sotto_err daemon_handles(struct relay_daemon *d)
{
	if (uv_signal_init(&d->loop, &d->sig_term) != 0)
		return SOTTO_ERR_IO;
	d->sig_term.data = d;
	d->n_handles++;
	if (uv_signal_init(&d->loop, &d->sig_int) != 0)
		return SOTTO_ERR_IO;
	d->sig_int.data = d;
	d->n_handles++;
	if (uv_timer_init(&d->loop, &d->stats_timer) != 0)
		return SOTTO_ERR_IO;
	d->stats_timer.data = d;
	d->n_handles++;
	if (uv_signal_start(&d->sig_term, on_signal, SIGTERM) != 0 ||
	    uv_signal_start(&d->sig_int, on_signal, SIGINT) != 0 ||
	    uv_timer_start(&d->stats_timer, on_stats_timer, d->stats_interval_ms,
	                   d->stats_interval_ms) != 0)
		return SOTTO_ERR_IO;
	return SOTTO_OK;
}

void relay_daemon_stop(struct relay_daemon *d)
{
	if (d->is_stopping)
		return;
	d->is_stopping = true;
	ctx_log(d->ctx, SOTTO_LOG_INFO, "relay: stopping");
	if (d->server != NULL) {
		relay_server_close(d->server);
		/* The server frees itself from the loop, so it is still valid here. */
		daemon_collect(d, false);
		d->server = NULL;
	}
	daemon_close_handles(d);
}

/*
 * Decides whether to switch user. *what names the refusal.
 * As root: cfg->user must name a non-root user who owns dir, unless no user
 * is set and allow_root is.
 */
static sotto_err daemon_privileges(const struct relay_daemon_options *o,
                                   struct relay_daemon_user *user, bool *do_switch,
                                   const char **what)
{
	struct stat st;
	sotto_err rc;

	*do_switch = false;
	if (geteuid() != 0)
		return SOTTO_OK;
	if (o->cfg->user[0] == '\0') {
		*what = "refusing to run as root without a user to switch to";
		return o->allow_root ? SOTTO_OK : SOTTO_ERR_STATE;
	}
	*what = "looking up the user to switch to";
	if ((rc = relay_daemon_user_lookup(o->cfg->user, user)) != SOTTO_OK)
		return rc;
	*what = "the user to switch to is root";
	if (user->uid == 0)
		return SOTTO_RAISE(SOTTO_ERR_INVALID);
	*what = "the data directory is not owned by the user to switch to";
	if (stat(o->dir, &st) == 0 && st.st_uid != (uid_t)user->uid)
		return SOTTO_ERR_STATE;
	*do_switch = true;
	return SOTTO_OK;
}

/*
 * Loads the key and opens the store, as user when switching: the data
 * directory belongs to that user, so root does not create or open files in
 * it (see the top of this file).
 */
static sotto_err daemon_open(struct relay_daemon *d, const struct relay_daemon_options *o,
                             const struct relay_daemon_user *user, bool do_switch,
                             struct x25519_keypair *key, const char **what)
{
	struct saved_ids saved;
	bool is_user = false;
	sotto_err rc;

	*what = "taking the configured user's identity";
	if (do_switch && (rc = as_user_enter(user, &saved)) != SOTTO_OK)
		goto out;
	is_user = do_switch;
	*what = "loading the key";
	if ((rc = relay_daemon_key_load(o->dir, key)) != SOTTO_OK)
		goto out;
	*what = "opening the store";
	/* Deferred sync: the server fsyncs on a worker thread while commands run. */
	rc = relay_store_new(d->ctx, o->dir, &(struct relay_store_config){.defer_sync = true},
	                     &d->store);
out:
	if (is_user && as_user_leave(&saved) != SOTTO_OK && rc == SOTTO_OK) {
		*what = "returning to root to bind";
		rc = SOTTO_ERR_IO;
	}
	return rc;
}

/* Opens, binds, switches user, starts the handles; *what names the step that failed. */
static sotto_err daemon_start(struct relay_daemon *d, const struct relay_daemon_options *o,
                              const struct relay_daemon_user *user, bool do_switch,
                              const char **what)
{
	struct relay_server_config scfg;
	struct x25519_keypair key;
	sotto_err rc;

	x25519_keypair_clear(&key);
	if ((rc = daemon_open(d, o, user, do_switch, &key, what)) != SOTTO_OK)
		goto out;
	daemon_fd_limit(d->ctx, o->cfg->max_connections);
	*what = "listening";
	relay_daemon_server_config(o->cfg, &scfg);
	if ((rc = relay_server_new(d->ctx, &d->loop, o->cfg->listen, o->cfg->port, &key, d->store,
	                           &scfg, &d->server)) != SOTTO_OK)
		goto out;
	x25519_keypair_clear(&key);
	*what = "switching to the configured user";
	if (do_switch && (rc = relay_daemon_switch_user(user)) != SOTTO_OK)
		goto out;
	*what = "setting up signals and timers";
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN; /* a peer that hangs up must not kill the relay */
	if (sigaction(SIGPIPE, &sa, NULL) != 0 || (rc = daemon_handles(d)) != SOTTO_OK) {
		rc = SOTTO_ERR_IO;
		goto out;
	}
	*what = "writing the stats file";
	d->st.port = relay_server_port(d->server);
	d->st.started_s = wall_now_s();
	d->st.interval_s = o->cfg->stats_interval_s;
	rc = daemon_write_stats(d, true);
out:
	x25519_keypair_clear(&key);
	return rc;
}

/* Releases everything d holds; runs the loop until every handle is gone. */
static void daemon_free(struct relay_daemon *d, bool has_loop)
{
	if (has_loop) {
		if (d->server != NULL)
			relay_server_close(d->server);
		d->server = NULL;
		daemon_close_handles(d);
		(void)uv_run(&d->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&d->loop) != 0)
			ctx_log(d->ctx, SOTTO_LOG_ERROR, "relay: loop still busy at exit");
	}
	relay_store_free(d->store);
	ctx_free(d->ctx, d);
}

sotto_err relay_daemon_run(struct sotto_ctx *ctx, const struct relay_daemon_options *o,
                           const char **what)
{
	struct relay_daemon *d = NULL;
	struct relay_daemon_user user = {0, 0};
	const char *step = NULL;
	bool do_switch = false, has_loop = false;
	sotto_err rc;

	if ((rc = daemon_privileges(o, &user, &do_switch, &step)) != SOTTO_OK)
		goto out;
	step = "allocating";
	rc = SOTTO_ERR_NOMEM;
	if ((d = ctx_calloc(ctx, 1, sizeof(*d))) == NULL)
		goto out;
	d->ctx = ctx;
	d->dir = o->dir;
	d->stats_interval_ms = o->cfg->stats_interval_s * 1000u;
	step = "starting the event loop";
	rc = SOTTO_ERR_IO;
	if (uv_loop_init(&d->loop) != 0)
		goto out;
	has_loop = true;
	if ((rc = daemon_start(d, o, &user, do_switch, &step)) != SOTTO_OK)
		goto out;
	step = NULL;
	if (geteuid() == 0 && !do_switch)
		ctx_log(ctx, SOTTO_LOG_WARN, "relay: running as root, as explicitly allowed");
	ctx_log(ctx, SOTTO_LOG_INFO, "relay: listening on port %u%s", (unsigned)d->st.port,
	        do_switch ? ", switched to the configured user" : "");
	if (o->on_ready != NULL)
		o->on_ready(o->user, d, &d->loop, (uint16_t)d->st.port);
	(void)uv_run(&d->loop, UV_RUN_DEFAULT);
	step = "writing the final stats file";
	if ((rc = daemon_write_stats(d, false)) != SOTTO_OK)
		goto out;
	ctx_log(ctx, SOTTO_LOG_INFO,
	        "relay: stopped after %llu connections, %llu messages in, %llu out",
	        (unsigned long long)d->st.connections, (unsigned long long)d->st.messages_in,
	        (unsigned long long)d->st.messages_out);
	step = NULL;
	rc = SOTTO_OK;
out:
	if (d != NULL)
		daemon_free(d, has_loop);
	if (what != NULL)
		*what = rc == SOTTO_OK ? NULL : step;
	return rc;
}
