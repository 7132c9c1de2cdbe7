/* SPDX-License-Identifier: MIT */
/*
 * daemon_test.c - the sotto-relay program's library half: default and
 * joined paths, atomic writes that never replace a key, bounded reads that
 * refuse symlinks, init and key loading, the relay address, the stats file,
 * the user switch (in a forked child, when run as root), and whole daemon
 * runs on loopback: start, stats file, stop by call and by SIGTERM,
 * refusals with the step that failed, and an allocation-failure sweep.
 * Client traffic through the real binary is tests/relay_daemon_test.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <uv.h>

#include "net/limits.h"
#include "relay/daemon.h"
#include "relay/limits.h"
#include "test_util.h"

struct fixture {
	char root[64];  /* mkdtemp directory */
	char dir[128];  /* root/a/b/relay: init creates the parents */
	sotto_ctx *ctx; /* default hooks */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/sotto-daemon-test-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/a/b/relay", f->root);
	f->ctx = tu_ctx(NULL, NULL, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	sotto_ctx_free(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void write_raw(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static void join(char *out, size_t cap, const char *dir, const char *name)
{
	assert_int_equal(relay_daemon_path(out, cap, dir, name), SOTTO_OK);
}

/* ---- paths ---- */

static void daemon_default_dir__prefers_xdg__absolute_paths(void **state)
{
	char out[64];
	(void)state;

	assert_int_equal(relay_daemon_default_dir("/x/data", "/home/u", out, sizeof(out)),
	                 SOTTO_OK);
	assert_string_equal(out, "/x/data/sotto-relay");
	assert_int_equal(relay_daemon_default_dir("rel/data", "/home/u", out, sizeof(out)),
	                 SOTTO_OK);
	assert_string_equal(out, "/home/u/.local/share/sotto-relay");
	assert_int_equal(relay_daemon_default_dir(NULL, "/home/u", out, sizeof(out)), SOTTO_OK);
	assert_string_equal(out, "/home/u/.local/share/sotto-relay");
	assert_int_equal(relay_daemon_default_dir("", "relative", out, sizeof(out)),
	                 SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_daemon_default_dir(NULL, NULL, out, sizeof(out)),
	                 SOTTO_ERR_NOT_FOUND);
	assert_string_equal(out, "");
	assert_int_equal(relay_daemon_default_dir("/x/data", NULL, out, 19), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(relay_daemon_default_dir("/x/data", NULL, out, 20), SOTTO_OK);
}

static void daemon_path__fails__empty_parts_or_short_buffer(void **state)
{
	char out[8];
	(void)state;

	assert_int_equal(relay_daemon_path(out, sizeof(out), "", "key"), SOTTO_ERR_INVALID);
	assert_int_equal(relay_daemon_path(out, sizeof(out), "d", ""), SOTTO_ERR_INVALID);
	assert_int_equal(relay_daemon_path(out, 6, "dd", "key"), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(relay_daemon_path(out, 7, "dd", "key"), SOTTO_OK);
	assert_string_equal(out, "dd/key");
}

/* ---- files ---- */

static void daemon_write_file__replaces_with_exact_mode__replace(void **state)
{
	struct fixture *f = *state;
	char path[256], tmp[256];
	uint8_t buf[16];
	size_t len = 0;

	join(path, sizeof(path), f->root, "f");
	join(tmp, sizeof(tmp), f->root, "f.tmp");
	write_raw(tmp, "stale", 5, 0600); /* left by a crash: removed, not reused */
	assert_int_equal(
	        relay_daemon_write_file(f->root, "f", (const uint8_t *)"one", 3, 0644, true),
	        SOTTO_OK);
	assert_int_equal(mode_of(path), 0644);
	assert_int_equal(
	        relay_daemon_write_file(f->root, "f", (const uint8_t *)"second", 6, 0600, true),
	        SOTTO_OK);
	assert_int_equal(relay_daemon_read_file(path, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "second", 6);
	assert_int_equal(mode_of(path), 0600);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(relay_daemon_write_file(f->root, "f", NULL, 0, 0600, true), SOTTO_OK);
	assert_int_equal(relay_daemon_read_file(path, buf, sizeof(buf), &len), SOTTO_OK);
	assert_int_equal(len, 0);
}

static void daemon_write_file__fails_used_keeps_old__no_replace(void **state)
{
	struct fixture *f = *state;
	char path[256], tmp[256];
	uint8_t buf[16];
	size_t len = 0;

	join(path, sizeof(path), f->root, "k");
	join(tmp, sizeof(tmp), f->root, "k.tmp");
	assert_int_equal(
	        relay_daemon_write_file(f->root, "k", (const uint8_t *)"old", 3, 0600, false),
	        SOTTO_OK);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(
	        relay_daemon_write_file(f->root, "k", (const uint8_t *)"new", 3, 0600, false),
	        SOTTO_ERR_USED);
	assert_int_equal(relay_daemon_read_file(path, buf, sizeof(buf), &len), SOTTO_OK);
	assert_memory_equal(buf, "old", 3);
	assert_int_equal(access(tmp, F_OK), -1);
}

static void daemon_write_file__does_not_follow__symlinked_temp(void **state)
{
	struct fixture *f = *state;
	char target[256], tmp[256], path[256];
	uint8_t buf[16];
	size_t len = 0;

	join(target, sizeof(target), f->root, "target");
	join(tmp, sizeof(tmp), f->root, "s.tmp");
	join(path, sizeof(path), f->root, "s");
	write_raw(target, "keep", 4, 0600);
	assert_int_equal(symlink(target, tmp), 0);
	assert_int_equal(
	        relay_daemon_write_file(f->root, "s", (const uint8_t *)"data", 4, 0600, true),
	        SOTTO_OK);
	assert_int_equal(relay_daemon_read_file(target, buf, sizeof(buf), &len), SOTTO_OK);
	assert_memory_equal(buf, "keep", 4);
	assert_int_equal(relay_daemon_read_file(path, buf, sizeof(buf), &len), SOTTO_OK);
	assert_memory_equal(buf, "data", 4);
	assert_int_equal(
	        relay_daemon_write_file("/nonexistent-dir-for-sotto", "x", NULL, 0, 0600, true),
	        SOTTO_ERR_IO);
}

static void daemon_read_file__bounds_and_refusals__each_case(void **state)
{
	struct fixture *f = *state;
	char path[256], link_path[256];
	uint8_t buf[8];
	size_t len = 99;

	join(path, sizeof(path), f->root, "r");
	join(link_path, sizeof(link_path), f->root, "r-link");
	assert_int_equal(relay_daemon_read_file(path, buf, sizeof(buf), &len), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(len, 0);
	write_raw(path, "12345678", 8, 0600);
	assert_int_equal(relay_daemon_read_file(path, buf, 8, &len), SOTTO_OK);
	assert_int_equal(len, 8);
	assert_int_equal(relay_daemon_read_file(path, buf, 7, &len), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(len, 0);
	assert_int_equal(symlink(path, link_path), 0);
	assert_int_equal(relay_daemon_read_file(link_path, buf, sizeof(buf), &len), SOTTO_ERR_IO);
	assert_int_equal(relay_daemon_read_file(f->root, buf, sizeof(buf), &len), SOTTO_ERR_IO);
}

static void daemon_config_load__reports_line__bad_file(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct relay_config cfg;
	struct relay_config_error err;

	join(path, sizeof(path), f->root, "config");
	assert_int_equal(relay_daemon_config_load(path, &cfg, &err), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(err.line, 0);
	assert_non_null(err.reason);
	write_raw(path, "port = 1\nquota = 0\n", 19, 0644);
	assert_int_equal(relay_daemon_config_load(path, &cfg, &err), SOTTO_ERR_INVALID);
	assert_int_equal(err.line, 2);
	assert_string_equal(err.key, "quota");
	write_raw(path, "port = 1\n", 9, 0644);
	assert_int_equal(relay_daemon_config_load(path, &cfg, &err), SOTTO_OK);
	assert_int_equal(cfg.port, 1);
}

/* ---- init, key, address ---- */

static void daemon_init__creates_private_files__fresh_dir(void **state)
{
	struct fixture *f = *state;
	struct relay_config cfg, back;
	struct x25519_keypair kp;
	uint8_t pub[X25519_KEY_LEN];
	char path[256], parent[256];

	relay_config_defaults(&cfg);
	cfg.port = 7000;
	assert_int_equal(relay_daemon_init(f->ctx, f->dir, &cfg, pub), SOTTO_OK);
	assert_int_equal(mode_of(f->dir), 0700);
	snprintf(parent, sizeof(parent), "%s/a", f->root);
	assert_int_equal(mode_of(parent), 0700);
	join(path, sizeof(path), f->dir, RELAY_DAEMON_KEY_FILE);
	assert_int_equal(mode_of(path), 0600);
	join(path, sizeof(path), f->dir, "relay.db");
	assert_int_equal(access(path, F_OK), 0);
	join(path, sizeof(path), f->dir, RELAY_DAEMON_CONFIG_FILE);
	assert_int_equal(relay_daemon_config_load(path, &back, NULL), SOTTO_OK);
	assert_true(relay_config_equal(&cfg, &back));
	assert_int_equal(relay_daemon_key_load(f->dir, &kp), SOTTO_OK);
	assert_memory_equal(kp.pub, pub, X25519_KEY_LEN);
	x25519_keypair_clear(&kp);
}

static void daemon_init__fails_used_keeps_key__second_init(void **state)
{
	struct fixture *f = *state;
	struct relay_config cfg;
	struct x25519_keypair kp;
	uint8_t pub[X25519_KEY_LEN], pub2[X25519_KEY_LEN];

	relay_config_defaults(&cfg);
	assert_int_equal(relay_daemon_init(f->ctx, f->dir, &cfg, pub), SOTTO_OK);
	assert_int_equal(relay_daemon_init(f->ctx, f->dir, &cfg, pub2), SOTTO_ERR_USED);
	assert_true(sodium_is_zero(pub2, sizeof(pub2)));
	assert_int_equal(relay_daemon_key_load(f->dir, &kp), SOTTO_OK);
	assert_memory_equal(kp.pub, pub, X25519_KEY_LEN);
	x25519_keypair_clear(&kp);
}

static void daemon_init__fails_invalid_creates_nothing__bad_config(void **state)
{
	struct fixture *f = *state;
	struct relay_config cfg;
	uint8_t pub[X25519_KEY_LEN];

	relay_config_defaults(&cfg);
	cfg.quota = 0;
	assert_int_equal(relay_daemon_init(f->ctx, f->dir, &cfg, pub), SOTTO_ERR_INVALID);
	assert_int_equal(access(f->dir, F_OK), -1);
}

static void daemon_key_load__refuses__bad_files(void **state)
{
	struct fixture *f = *state;
	struct x25519_keypair kp;
	uint8_t key[33];
	char path[256];

	memset(key, 0x42, sizeof(key));
	join(path, sizeof(path), f->root, RELAY_DAEMON_KEY_FILE);
	assert_int_equal(relay_daemon_key_load(f->root, &kp), SOTTO_ERR_NOT_FOUND);
	write_raw(path, key, 31, 0600);
	assert_int_equal(relay_daemon_key_load(f->root, &kp), SOTTO_ERR_CORRUPT);
	write_raw(path, key, 33, 0600);
	assert_int_equal(relay_daemon_key_load(f->root, &kp), SOTTO_ERR_CORRUPT);
	write_raw(path, key, 32, 0640);
	assert_int_equal(relay_daemon_key_load(f->root, &kp), SOTTO_ERR_INVALID);
	assert_true(sodium_is_zero(kp.priv, sizeof(kp.priv)));
	write_raw(path, key, 32, 0600);
	assert_int_equal(relay_daemon_key_load(f->root, &kp), SOTTO_OK);
	assert_memory_equal(kp.priv, key, 32);
	x25519_keypair_clear(&kp);
}

static void daemon_address__formats__listen_public_and_ipv6(void **state)
{
	static const uint8_t pub[X25519_KEY_LEN] = {0};
	struct relay_config cfg;
	char out[NET_ADDR_TEXT_MAX + 1];
	struct net_addr a;
	(void)state;

	relay_config_defaults(&cfg);
	assert_int_equal(relay_daemon_address(&cfg, pub, out, sizeof(out)), SOTTO_OK);
	assert_string_equal(out,
	                    "sotto://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:5223");
	assert_int_equal(net_addr_parse(out, strlen(out), &a), SOTTO_OK);
	assert_int_equal(relay_config_set(&cfg, "listen", "::1", 3, NULL), SOTTO_OK);
	assert_int_equal(relay_daemon_address(&cfg, pub, out, sizeof(out)), SOTTO_OK);
	assert_non_null(strstr(out, "@[::1]:5223"));
	assert_int_equal(relay_config_set(&cfg, "public_host", "relay.example.org", 17, NULL),
	                 SOTTO_OK);
	assert_int_equal(relay_daemon_address(&cfg, pub, out, sizeof(out)), SOTTO_OK);
	assert_non_null(strstr(out, "@relay.example.org:5223"));
	cfg.port = 0;
	assert_int_equal(relay_daemon_address(&cfg, pub, out, sizeof(out)), SOTTO_ERR_INVALID);
	assert_string_equal(out, "");
}

static void daemon_server_config__converts_units__every_field(void **state)
{
	struct relay_config cfg;
	struct relay_server_config sc;
	(void)state;

	relay_config_defaults(&cfg);
	cfg.quota = 7;
	cfg.ttl_days = 3650;
	cfg.queues_per_minute = 9;
	cfg.handshake_timeout_s = 600;
	cfg.write_queue_bytes = 20000;
	cfg.max_connections = 11;
	cfg.idle_timeout_s = 86400;
	cfg.expire_interval_s = 86400;
	relay_daemon_server_config(&cfg, &sc);
	assert_int_equal(sc.core.quota, 7);
	assert_int_equal(sc.core.ttl_s, RELAY_TTL_S_MAX);
	assert_int_equal(sc.core.new_per_minute, 9);
	assert_int_equal(sc.conn.handshake_timeout_ms, NET_HANDSHAKE_TIMEOUT_MS_MAX);
	assert_int_equal(sc.conn.max_write_queue_bytes, 20000);
	assert_int_equal(sc.conn.max_connections, 11);
	assert_int_equal(sc.conn.idle_timeout_ms, NET_IDLE_TIMEOUT_MS_MAX);
	assert_int_equal(sc.expire_interval_ms, RELAY_EXPIRE_INTERVAL_MS_MAX);
	assert_null(sc.core.wall_clock);

	/* The defaults are the layers' own defaults. */
	relay_config_defaults(&cfg);
	relay_daemon_server_config(&cfg, &sc);
	assert_int_equal(sc.core.ttl_s, RELAY_TTL_S_DEFAULT);
	assert_int_equal(sc.conn.handshake_timeout_ms, NET_HANDSHAKE_TIMEOUT_MS_DEFAULT);
	assert_int_equal(sc.conn.idle_timeout_ms, NET_IDLE_TIMEOUT_MS_DEFAULT);
	assert_int_equal(sc.expire_interval_ms, RELAY_EXPIRE_INTERVAL_MS_DEFAULT);

	/* A test TTL in seconds replaces ttl_days. */
	cfg.ttl_s = 2;
	relay_daemon_server_config(&cfg, &sc);
	assert_int_equal(sc.core.ttl_s, 2);
}

static void daemon_fd_limit__raises_soft_to_hard__lowered_soft_limit(void **state)
{
	struct rlimit saved, rl;
	uint64_t limit = 7, capacity = 7;
	(void)state;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	rl = saved;
	rl.rlim_cur = saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 64 ? saved.rlim_max : 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(relay_daemon_fd_limit(&limit, &capacity), SOTTO_OK);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	assert_int_equal(limit, (uint64_t)rl.rlim_cur);
	if (saved.rlim_max != RLIM_INFINITY)
		assert_int_equal(rl.rlim_cur, saved.rlim_max);
	else
		assert_true(rl.rlim_cur >= 64);
	assert_int_equal(capacity,
	                 limit > RELAY_DAEMON_FDS_RESERVED ? limit - RELAY_DAEMON_FDS_RESERVED : 0);
	/* Already at the hard limit: nothing changes. */
	assert_int_equal(relay_daemon_fd_limit(&limit, &capacity), SOTTO_OK);
	assert_int_equal(limit, (uint64_t)rl.rlim_cur);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/* ---- stats ---- */

static const struct relay_daemon_stats SAMPLE = {
        .is_running = true,
        .port = 5223,
        .started_s = 1700000000,
        .updated_s = 1700000010,
        .interval_s = 10,
        .connections = 12,
        .clients = 3,
        .queues = 40,
        .messages = 17,
        .messages_in = 100,
        .messages_out = 83,
        .messages_acked = 80,
        .messages_expired = 3,
        .queues_created = 41,
        .commits = 90,
        .commit_failures = UINT64_MAX,
};

static void daemon_stats__round_trips__all_counters(void **state)
{
	char text[RELAY_DAEMON_STATS_TEXT_MAX];
	struct relay_daemon_stats back;
	size_t len = 0;
	(void)state;

	assert_int_equal(relay_daemon_stats_format(&SAMPLE, text, sizeof(text), &len), SOTTO_OK);
	assert_int_equal(relay_daemon_stats_parse((const uint8_t *)text, len, &back, NULL),
	                 SOTTO_OK);
	assert_memory_equal(&back, &SAMPLE, sizeof(back));
	assert_non_null(strstr(text, "\nrunning = 1\n"));
	assert_non_null(strstr(text, "\ncommit_failures = 18446744073709551615\n"));
	for (size_t cap = 0; cap <= len; cap++)
		assert_int_equal(relay_daemon_stats_format(&SAMPLE, text, cap, &len),
		                 SOTTO_ERR_TOO_LARGE);
}

static void daemon_stats_parse__fails_corrupt__damaged_text(void **state)
{
	char text[RELAY_DAEMON_STATS_TEXT_MAX], bad[RELAY_DAEMON_STATS_TEXT_MAX + 64];
	struct relay_daemon_stats back;
	struct relay_config_error err;
	size_t len = 0;
	(void)state;

	assert_int_equal(relay_daemon_stats_format(&SAMPLE, text, sizeof(text), &len), SOTTO_OK);
	/* Every cut before the last line loses a key. */
	const char *last = strstr(text, "commit_failures");
	assert_non_null(last);
	for (size_t cut = 0; cut < (size_t)(last - text); cut++) {
		sotto_err rc = relay_daemon_stats_parse((const uint8_t *)text, cut, &back, &err);
		if (rc != SOTTO_ERR_CORRUPT)
			fail_msg("cut at %zu: %s", cut, sotto_strerror(rc));
	}
	snprintf(bad, sizeof(bad), "%sextra = 1\n", text);
	assert_int_equal(relay_daemon_stats_parse((const uint8_t *)bad, strlen(bad), &back, &err),
	                 SOTTO_ERR_CORRUPT);
	assert_string_equal(err.key, "extra");
	snprintf(bad, sizeof(bad), "%sport = 1\n", text);
	assert_int_equal(relay_daemon_stats_parse((const uint8_t *)bad, strlen(bad), &back, &err),
	                 SOTTO_ERR_CORRUPT);
	assert_non_null(strstr(err.reason, "twice"));
	char *running = strstr(text, "running = 1");
	running[10] = '2';
	assert_int_equal(relay_daemon_stats_parse((const uint8_t *)text, len, &back, &err),
	                 SOTTO_ERR_CORRUPT);
	assert_false(back.is_running);
	assert_int_equal(back.port, 0);
}

static void daemon_stats_is_stale__after_three_intervals__running_only(void **state)
{
	struct relay_daemon_stats st = SAMPLE;
	(void)state;

	assert_false(relay_daemon_stats_is_stale(&st, st.updated_s - 100)); /* clock went back */
	assert_false(relay_daemon_stats_is_stale(&st, st.updated_s + 35));
	assert_true(relay_daemon_stats_is_stale(&st, st.updated_s + 36));
	st.is_running = false;
	assert_false(relay_daemon_stats_is_stale(&st, st.updated_s + 1000000));
	st.is_running = true;
	st.interval_s = UINT64_MAX;
	assert_false(relay_daemon_stats_is_stale(&st, UINT64_MAX));
}

static void daemon_stats_load__fails_not_found__never_ran(void **state)
{
	struct fixture *f = *state;
	struct relay_daemon_stats st;

	assert_int_equal(relay_daemon_stats_load(f->root, &st), SOTTO_ERR_NOT_FOUND);
}

/* ---- users ---- */

static void daemon_user_lookup__finds_root__and_refuses_others(void **state)
{
	struct relay_daemon_user u;
	(void)state;

	assert_int_equal(relay_daemon_user_lookup("root", &u), SOTTO_OK);
	assert_int_equal(u.uid, 0);
	assert_int_equal(relay_daemon_user_lookup("no-such-user-sotto", &u), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(relay_daemon_user_lookup("", &u), SOTTO_ERR_INVALID);
	assert_int_equal(relay_daemon_user_lookup("abcdefghijabcdefghijabcdefghijabc", &u),
	                 SOTTO_ERR_INVALID);
}

static void daemon_switch_user__drops_for_good__root_to_nobody(void **state)
{
	struct relay_daemon_user root = {0, 0}, nobody;
	(void)state;

	assert_int_equal(relay_daemon_switch_user(&root), SOTTO_ERR_INVALID);
	if (geteuid() != 0) {
		struct relay_daemon_user other = {geteuid() + 1, getegid()};
		assert_int_equal(relay_daemon_switch_user(&other), SOTTO_ERR_IO);
		skip();
	}
	assert_int_equal(relay_daemon_user_lookup("nobody", &nobody), SOTTO_OK);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (relay_daemon_switch_user(&nobody) != SOTTO_OK)
			_exit(10);
		if (getuid() != nobody.uid || geteuid() != nobody.uid || getegid() != nobody.gid)
			_exit(11);
		if (setuid(0) == 0 || setegid(0) == 0 || open("/etc/shadow", O_RDONLY) >= 0)
			_exit(12);
		_exit(0);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- runs ---- */

struct run {
	struct fixture *f;
	struct relay_config cfg;
	int mode; /* RUN_STOP, RUN_SIGTERM */
	unsigned n_ready;
	uint16_t port;
	struct relay_daemon_stats st_ready; /* the stats file when on_ready ran */
	sotto_err st_ready_rc;
};

enum { RUN_STOP, RUN_SIGTERM };

static void on_ready(void *user, struct relay_daemon *d, uv_loop_t *loop, uint16_t port)
{
	struct run *r = user;
	(void)loop;

	r->n_ready++;
	r->port = port;
	r->st_ready_rc = relay_daemon_stats_load(r->f->dir, &r->st_ready);
	if (r->mode == RUN_SIGTERM)
		assert_int_equal(raise(SIGTERM), 0); /* handled by the loop, not now */
	else
		relay_daemon_stop(d);
}

static void run_init(struct run *r, struct fixture *f, int mode)
{
	uint8_t pub[X25519_KEY_LEN];

	memset(r, 0, sizeof(*r));
	r->f = f;
	r->mode = mode;
	relay_config_defaults(&r->cfg);
	r->cfg.port = 0;
	assert_int_equal(relay_daemon_init(f->ctx, f->dir, &r->cfg, pub), SOTTO_OK);
}

static sotto_err run_daemon(struct run *r, sotto_ctx *ctx, const char **what)
{
	struct relay_daemon_options o = {.dir = r->f->dir,
	                                 .cfg = &r->cfg,
	                                 .allow_root = true,
	                                 .on_ready = on_ready,
	                                 .user = r};
	return relay_daemon_run(ctx, &o, what);
}

static void daemon_run__writes_stats_and_stops__stop_call(void **state)
{
	struct fixture *f = *state;
	struct relay_daemon_stats st;
	const char *what = "unset";
	struct run r;

	run_init(&r, f, RUN_STOP);
	assert_int_equal(run_daemon(&r, f->ctx, &what), SOTTO_OK);
	assert_null(what);
	assert_int_equal(r.n_ready, 1);
	assert_true(r.port != 0);
	assert_int_equal(r.st_ready_rc, SOTTO_OK);
	assert_true(r.st_ready.is_running);
	assert_int_equal(r.st_ready.port, r.port);
	assert_int_equal(relay_daemon_stats_load(f->dir, &st), SOTTO_OK);
	assert_false(st.is_running);
	assert_int_equal(st.port, r.port);
	assert_int_equal(st.interval_s, RELAY_CONFIG_STATS_S_DEFAULT);
	assert_int_equal(st.connections, 0);
	assert_int_equal(st.queues, 0);
	assert_true(st.updated_s >= st.started_s);
}

static void daemon_run__drains_and_returns_ok__sigterm(void **state)
{
	struct fixture *f = *state;
	struct relay_daemon_stats st;
	struct run r;

	run_init(&r, f, RUN_SIGTERM);
	assert_int_equal(run_daemon(&r, f->ctx, NULL), SOTTO_OK);
	assert_int_equal(r.n_ready, 1);
	assert_int_equal(relay_daemon_stats_load(f->dir, &st), SOTTO_OK);
	assert_false(st.is_running);
	/* The handler is gone again: the default action is back. */
	struct sigaction sa;
	assert_int_equal(sigaction(SIGTERM, NULL, &sa), 0);
	assert_true(sa.sa_handler == SIG_DFL);
}

static void daemon_run__fails_naming_step__no_key(void **state)
{
	struct fixture *f = *state;
	const char *what = NULL;
	struct run r;

	memset(&r, 0, sizeof(r));
	r.f = f;
	relay_config_defaults(&r.cfg);
	assert_int_equal(run_daemon(&r, f->ctx, &what), SOTTO_ERR_NOT_FOUND);
	assert_string_equal(what, "loading the key");
	assert_int_equal(r.n_ready, 0);
}

static void daemon_run__fails_naming_step__port_taken(void **state)
{
	struct fixture *f = *state;
	const char *what = NULL;
	uv_loop_t loop;
	uv_tcp_t tcp;
	struct sockaddr_in sa;
	struct sockaddr_storage bound;
	int n = sizeof(bound);
	struct run r;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_tcp_init(&loop, &tcp), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_bind(&tcp, (const struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&tcp, 1, NULL), 0);
	assert_int_equal(uv_tcp_getsockname(&tcp, (struct sockaddr *)&bound, &n), 0);
	run_init(&r, f, RUN_STOP);
	r.cfg.port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	assert_int_equal(run_daemon(&r, f->ctx, &what), SOTTO_ERR_IO);
	assert_string_equal(what, "listening");
	assert_int_equal(r.n_ready, 0);
	uv_close((uv_handle_t *)&tcp, NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void daemon_run__refuses_root__without_user(void **state)
{
	struct fixture *f = *state;
	const char *what = NULL;
	struct relay_daemon_options o;
	struct run r;

	if (geteuid() != 0)
		skip();
	run_init(&r, f, RUN_STOP);
	memset(&o, 0, sizeof(o));
	o.dir = f->dir;
	o.cfg = &r.cfg;
	assert_int_equal(relay_daemon_run(f->ctx, &o, &what), SOTTO_ERR_STATE);
	assert_non_null(strstr(what, "root"));
	assert_int_equal(relay_config_set(&r.cfg, "user", "root", 4, NULL), SOTTO_OK);
	assert_int_equal(relay_daemon_run(f->ctx, &o, &what), SOTTO_ERR_INVALID);
	assert_non_null(strstr(what, "is root"));
	assert_int_equal(relay_config_set(&r.cfg, "user", "nobody", 6, NULL), SOTTO_OK);
	assert_int_equal(relay_daemon_run(f->ctx, &o, &what), SOTTO_ERR_STATE);
	assert_non_null(strstr(what, "not owned"));
	assert_int_equal(relay_config_set(&r.cfg, "user", "no-such-user-sotto", 18, NULL),
	                 SOTTO_OK);
	assert_int_equal(relay_daemon_run(f->ctx, &o, &what), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(r.n_ready, 0);
}

static void daemon_run__switches_to_user__root_with_user(void **state)
{
	struct fixture *f = *state;
	struct relay_daemon_user nobody;
	struct relay_daemon_stats st;
	char dir[128], path[256];
	struct stat sb;
	struct run r;
	uint8_t pub[X25519_KEY_LEN];

	if (geteuid() != 0)
		skip();
	assert_int_equal(relay_daemon_user_lookup("nobody", &nobody), SOTTO_OK);
	assert_int_equal(chmod(f->root, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/owned", f->root);
	memset(&r, 0, sizeof(r));
	r.f = f;
	r.mode = RUN_STOP;
	relay_config_defaults(&r.cfg);
	r.cfg.port = 0;
	assert_int_equal(relay_config_set(&r.cfg, "user", "nobody", 6, NULL), SOTTO_OK);
	gid_t egid = getegid();
	assert_int_equal(relay_daemon_init(f->ctx, dir, &r.cfg, pub), SOTTO_OK);
	assert_int_equal(geteuid(), 0); /* init borrowed the user's ids and gave them back */
	assert_int_equal(getegid(), egid);
	const char *names[] = {"", "/key", "/config", "/relay.db"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, names[i]);
		assert_int_equal(lstat(path, &sb), 0);
		assert_int_equal(sb.st_uid, nobody.uid);
	}
	/* The switch cannot be undone, so the run happens in a child. */
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct relay_daemon_options o = {
		        .dir = dir, .cfg = &r.cfg, .on_ready = on_ready, .user = &r};
		sotto_ctx *ctx = tu_ctx(NULL, NULL, NULL);
		sotto_err rc = relay_daemon_run(ctx, &o, NULL);
		sotto_ctx_free(ctx);
		_exit(rc == SOTTO_OK && r.n_ready == 1 && geteuid() == nobody.uid ? 0 : 1);
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(relay_daemon_stats_load(dir, &st), SOTTO_OK);
	assert_false(st.is_running);
	snprintf(path, sizeof(path), "%s/stats", dir);
	assert_int_equal(lstat(path, &sb), 0);
	assert_int_equal(sb.st_uid, nobody.uid);
}

static void daemon_run__fails_cleanly__every_allocation(void **state)
{
	struct fixture *f = *state;
	struct run r;
	sotto_err rc = SOTTO_ERR_NOMEM;

	run_init(&r, f, RUN_STOP);
	for (unsigned long k = 1; k < 10000; k++) {
		struct tu_alloc a = {0, 0, 0};
		sotto_ctx *ctx = tu_ctx(&a, NULL, NULL);
		unsigned long base = a.n_allocs;
		a.fail_at = base + k;
		r.n_ready = 0;
		rc = run_daemon(&r, ctx, NULL);
		sotto_ctx_free(ctx);
		if (a.n_live != 0)
			fail_msg("allocation %lu failed: %ld allocations leaked", k, a.n_live);
		if (a.n_allocs < base + k) {
			assert_int_equal(rc, SOTTO_OK);
			return;
		}
		if (rc == SOTTO_OK && r.n_ready == 1)
			continue; /* the failure hit something the run survives (a stats scan) */
		if (rc != SOTTO_ERR_NOMEM)
			fail_msg("allocation %lu failed: %s", k, sotto_strerror(rc));
		assert_int_equal(r.n_ready, 0);
	}
	fail_msg("the run never completed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(daemon_default_dir__prefers_xdg__absolute_paths),
	        cmocka_unit_test(daemon_path__fails__empty_parts_or_short_buffer),
	        cmocka_unit_test_setup_teardown(
	                daemon_write_file__replaces_with_exact_mode__replace, setup, teardown),
	        cmocka_unit_test_setup_teardown(daemon_write_file__fails_used_keeps_old__no_replace,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(daemon_write_file__does_not_follow__symlinked_temp,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(daemon_read_file__bounds_and_refusals__each_case,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(daemon_config_load__reports_line__bad_file, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(daemon_init__creates_private_files__fresh_dir,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(daemon_init__fails_used_keeps_key__second_init,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                daemon_init__fails_invalid_creates_nothing__bad_config, setup, teardown),
	        cmocka_unit_test_setup_teardown(daemon_key_load__refuses__bad_files, setup,
	                                        teardown),
	        cmocka_unit_test(daemon_address__formats__listen_public_and_ipv6),
	        cmocka_unit_test(daemon_server_config__converts_units__every_field),
	        cmocka_unit_test(daemon_fd_limit__raises_soft_to_hard__lowered_soft_limit),
	        cmocka_unit_test(daemon_stats__round_trips__all_counters),
	        cmocka_unit_test(daemon_stats_parse__fails_corrupt__damaged_text),
	        cmocka_unit_test(daemon_stats_is_stale__after_three_intervals__running_only),
	        cmocka_unit_test_setup_teardown(daemon_stats_load__fails_not_found__never_ran,
	                                        setup, teardown),
	        cmocka_unit_test(daemon_user_lookup__finds_root__and_refuses_others),
	        cmocka_unit_test(daemon_switch_user__drops_for_good__root_to_nobody),
	        cmocka_unit_test_setup_teardown(daemon_run__writes_stats_and_stops__stop_call,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(daemon_run__drains_and_returns_ok__sigterm, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(daemon_run__fails_naming_step__no_key, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(daemon_run__fails_naming_step__port_taken, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(daemon_run__refuses_root__without_user, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(daemon_run__switches_to_user__root_with_user, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(daemon_run__fails_cleanly__every_allocation, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
