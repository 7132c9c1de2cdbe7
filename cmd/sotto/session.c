/* SPDX-License-Identifier: MIT */
/*
 * session.c - opening and closing a profile for one run of the program
 * (cmd/sotto); see session.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "passphrase.h"
#include "session.h"
#include "store/key.h"

uint64_t session_timeout_ms(const struct cli_opts *opts, uint32_t def_s)
{
	return (uint64_t)(opts->has_timeout ? opts->timeout_s : def_s) * 1000u;
}

static void on_log(void *user, enum sotto_log_level level, const char *msg)
{
	struct session *s = user;

	if (s->on_log != NULL)
		s->on_log(s->log_user, level, msg);
	else
		cli_warn("%s%s", level == SOTTO_LOG_ERROR ? "error: " : "", msg);
}

static void on_event(void *user, const struct client_agent_event *ev)
{
	struct session *s = user;

	if (s->on_event != NULL)
		s->on_event(s->event_user, ev);
}

void session_set_handler(struct session *s, client_agent_event_fn *fn, void *user)
{
	s->on_event = fn;
	s->event_user = user;
}

void session_profile_dir(const struct cli_opts *opts, char *out, size_t cap)
{
	if (store_profile_dir(out, cap, opts->home, opts->profile) != SOTTO_OK && cap > 0)
		out[0] = '\0';
}

bool session_profile_exists(const struct cli_opts *opts)
{
	char dir[STORE_PATH_MAX], path[STORE_PATH_MAX + 16];
	struct stat st;

	if (store_profile_dir(dir, sizeof(dir), opts->home, opts->profile) != SOTTO_OK)
		return false;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, STORE_KEY_FILE) >= sizeof(path))
		return false;
	return lstat(path, &st) == 0;
}

/* The context and the loop: everything before the profile. */
static int session_begin(struct session *s, const struct cli_opts *opts)
{
	struct sotto_ctx_config cfg;
	char dir[STORE_PATH_MAX];
	sotto_err rc;

	memset(s, 0, sizeof(*s));
	s->opts = opts;
	if ((rc = store_profile_name_check(opts->profile)) != SOTTO_OK) {
		cli_warn("bad profile name \"%s\": use 1 to %d letters, digits, '-' or '_'",
		         opts->profile, STORE_PROFILE_NAME_MAX);
		return CLI_EXIT_USAGE;
	}
	rc = store_profile_dir(dir, sizeof(dir), opts->home, opts->profile);
	if (rc == SOTTO_ERR_NOT_FOUND) {
		cli_warn("no place for profiles: set HOME or XDG_DATA_HOME, or pass --home DIR");
		return CLI_EXIT_FAIL;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot name the profile directory");
	memset(&cfg, 0, sizeof(cfg));
	cfg.log = on_log;
	cfg.log_user = s;
	cfg.log_level = getenv("SOTTO_DEBUG") != NULL ? SOTTO_LOG_DEBUG : SOTTO_LOG_WARN;
	if ((rc = sotto_ctx_new(&s->ctx, &cfg)) != SOTTO_OK)
		return cli_fail(rc, "cannot set up");
	if (uv_loop_init(&s->loop) != 0)
		return cli_fail(SOTTO_ERR_INTERNAL, "cannot set up the event loop");
	s->has_loop = true;
	return CLI_EXIT_OK;
}

/* "sotto [--home DIR] [--profile NAME] " for messages that say what to run. */
static void command_prefix(const struct cli_opts *opts, char *out, size_t cap)
{
	bool is_default = strcmp(opts->profile, CLI_PROFILE_DEFAULT) == 0;
	snprintf(out, cap, "sotto%s%s%s%s", opts->home != NULL ? " --home " : "",
	         opts->home != NULL ? opts->home : "", is_default ? "" : " --profile ",
	         is_default ? "" : opts->profile);
}

static int take_lock(struct session *s)
{
	sotto_err rc = store_profile_new(s->ctx, s->opts->home, s->opts->profile, &s->profile);

	if (rc == SOTTO_ERR_BUSY) {
		cli_warn("profile \"%s\" is in use by another sotto process (one at a time)",
		         s->opts->profile);
		return CLI_EXIT_LOCKED;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot open profile \"%s\"", s->opts->profile);
	return CLI_EXIT_OK;
}

/* The passphrase from --passphrase-fd, SOTTO_PASSPHRASE or the terminal. */
static int get_passphrase(struct session *s, struct passphrase *p)
{
	const char *env = getenv(CLI_PASSPHRASE_ENV);
	sotto_err rc;

	if (s->opts->passphrase_fd >= 0) {
		if ((rc = passphrase_from_fd(s->opts->passphrase_fd, p)) != SOTTO_OK)
			return cli_fail(rc, "cannot read the passphrase from descriptor %d",
			                s->opts->passphrase_fd);
		return CLI_EXIT_OK;
	}
	if (env != NULL && env[0] != '\0') {
		if ((rc = passphrase_from_text(env, p)) != SOTTO_OK)
			return cli_fail(rc, "bad %s", CLI_PASSPHRASE_ENV);
		return CLI_EXIT_OK;
	}
	if (!passphrase_can_ask()) {
		cli_warn("profile \"%s\" needs its passphrase: set %s or pass --passphrase-fd N",
		         s->opts->profile, CLI_PASSPHRASE_ENV);
		return CLI_EXIT_PASSPHRASE;
	}
	if ((rc = passphrase_ask("Passphrase: ", p)) != SOTTO_OK) {
		cli_warn("no passphrase: %s", sotto_strerror(rc));
		return CLI_EXIT_PASSPHRASE;
	}
	return CLI_EXIT_OK;
}

static int load_key(struct session *s)
{
	struct passphrase pass;
	bool needs = false;
	int code = CLI_EXIT_OK;
	sotto_err rc;

	memset(&pass, 0, sizeof(pass));
	rc = store_key_needs_passphrase(s->profile, &needs);
	if (rc == SOTTO_ERR_NOT_FOUND) {
		cli_warn("profile \"%s\" has no key file", s->opts->profile);
		return CLI_EXIT_NO_PROFILE;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot read the key file of profile \"%s\"", s->opts->profile);
	if (needs && (code = get_passphrase(s, &pass)) != CLI_EXIT_OK)
		goto out;
	rc = store_key_load(s->ctx, s->profile, needs ? pass.bytes : NULL, needs ? pass.len : 0,
	                    &s->key);
	if (rc == SOTTO_ERR_AUTH) {
		cli_warn("wrong passphrase for profile \"%s\"", s->opts->profile);
		code = CLI_EXIT_PASSPHRASE;
	} else if (rc != SOTTO_OK) {
		code = cli_fail(rc, "cannot unlock profile \"%s\"", s->opts->profile);
	}
out:
	passphrase_clear(&pass);
	return code;
}

/* The database and the agent, once the key is in memory. */
static int open_db_and_agent(struct session *s, uint32_t op_timeout_ms)
{
	struct client_agent_config cfg;
	struct client_agent_callbacks cb = {.on_event = on_event, .user = s};
	sotto_err rc;

	rc = store_db_new(s->ctx, s->profile, s->key, &s->db);
	secbuf_free(s->key); /* the database keeps only sub-keys */
	s->key = NULL;
	if (rc == SOTTO_ERR_VERSION)
		return cli_fail(rc, "profile \"%s\" was written by a newer sotto",
		                s->opts->profile);
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot open the database of profile \"%s\"", s->opts->profile);
	memset(&cfg, 0, sizeof(cfg));
	cfg.op_timeout_ms = op_timeout_ms;
	if (cfg.op_timeout_ms > CLIENT_AGENT_OP_TIMEOUT_MS_MAX)
		cfg.op_timeout_ms = CLIENT_AGENT_OP_TIMEOUT_MS_MAX;
	rc = client_agent_open(s->ctx, &s->loop, s->db, &cfg, &cb, &s->agent);
	if (rc != SOTTO_OK) {
		s->is_agent_closed = true;
		return cli_fail(rc, "cannot start on profile \"%s\"", s->opts->profile);
	}
	return CLI_EXIT_OK;
}

int session_open(struct session *s, const struct cli_opts *opts, uint32_t op_timeout_ms)
{
	char prefix[STORE_PATH_MAX + 128];
	int code;

	if ((code = session_begin(s, opts)) != CLI_EXIT_OK)
		return code;
	if (!session_profile_exists(opts)) {
		command_prefix(opts, prefix, sizeof(prefix));
		cli_warn("no profile \"%s\": create it with: %s init", opts->profile, prefix);
		return CLI_EXIT_NO_PROFILE;
	}
	if ((code = take_lock(s)) != CLI_EXIT_OK || (code = load_key(s)) != CLI_EXIT_OK)
		return code;
	return open_db_and_agent(s, op_timeout_ms);
}

int session_create(struct session *s, const struct cli_opts *opts, const uint8_t *pass,
                   size_t pass_len)
{
	int code;
	sotto_err rc;

	if ((code = session_begin(s, opts)) != CLI_EXIT_OK)
		return code;
	if (session_profile_exists(opts)) {
		cli_warn("profile \"%s\" exists already", opts->profile);
		return CLI_EXIT_FAIL;
	}
	if ((code = take_lock(s)) != CLI_EXIT_OK)
		return code;
	rc = store_key_create(s->ctx, s->profile, pass, pass_len, NULL, &s->key);
	if (rc == SOTTO_ERR_USED) {
		cli_warn("profile \"%s\" exists already", opts->profile);
		return CLI_EXIT_FAIL;
	}
	if (rc != SOTTO_OK)
		return cli_fail(rc, "cannot write the key of profile \"%s\"", opts->profile);
	return open_db_and_agent(s, 0);
}

static void on_deadline(uv_timer_t *t)
{
	struct session *s = t->data;

	s->is_timed_out = true;
}

bool session_run_until(struct session *s, bool (*done)(void *user), void *user, uint64_t timeout_ms)
{
	bool is_done = done(user);

	s->is_timed_out = false;
	if (!s->has_timer) {
		if (uv_timer_init(&s->loop, &s->timer) != 0)
			return false;
		s->timer.data = s;
		s->has_timer = true;
	}
	if (timeout_ms > 0)
		(void)uv_timer_start(&s->timer, on_deadline, timeout_ms, 0);
	while (!is_done && !s->is_timed_out) {
		int alive = uv_run(&s->loop, UV_RUN_ONCE);
		is_done = done(user);
		if (alive == 0)
			break; /* nothing left that could finish the work */
	}
	(void)uv_timer_stop(&s->timer);
	return is_done;
}

static bool is_done(void *user)
{
	const struct session *s = user;
	return s->is_done;
}

bool session_run(struct session *s, uint64_t timeout_ms)
{
	return session_run_until(s, is_done, s, timeout_ms);
}

static void on_agent_closed(void *user)
{
	struct session *s = user;

	s->is_agent_closed = true;
	s->agent = NULL;
}

void session_close(struct session *s)
{
	if (s->agent != NULL) {
		client_agent_close(s->agent, on_agent_closed, s);
		/* The agent bounds its own close (rconn close_timeout_ms). */
		while (!s->is_agent_closed && uv_run(&s->loop, UV_RUN_ONCE) != 0)
			;
		s->agent = NULL;
	}
	store_db_free(s->db);
	s->db = NULL;
	secbuf_free(s->key);
	s->key = NULL;
	store_profile_free(s->profile);
	s->profile = NULL;
	if (s->has_timer)
		uv_close((uv_handle_t *)&s->timer, NULL);
	if (s->has_loop) {
		(void)uv_run(&s->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&s->loop) != 0)
			cli_warn("event loop still busy at exit");
		s->has_loop = false;
	}
	sotto_ctx_free(s->ctx);
	s->ctx = NULL;
}
