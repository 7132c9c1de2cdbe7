/* SPDX-License-Identifier: MIT */
/*
 * session.h - one run of the sotto program over one profile (cmd/sotto):
 * the context, the libuv loop, the profile lock, the key, the database and
 * the agent, opened in that order and closed in the reverse order.
 *
 * Every command goes through here, so the rules that users meet are in one
 * place: a profile exists when its key file exists (anything else says how
 * to make one); a profile held by another process is refused at once; a
 * passphrase comes from --passphrase-fd, then SOTTO_PASSPHRASE, then the
 * terminal. Failures are printed ("sotto: ...") and returned as cli.h exit
 * codes.
 *
 * Events of the agent go to whichever handler the front end set last
 * (session_set_handler), so one command can start with one and switch.
 */
#ifndef SOTTO_SESSION_H
#define SOTTO_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "cli.h"
#include "client/agent.h"
#include "crypto/secbuf.h"
#include "store/db.h"
#include "store/profile.h"

/* Log lines of the library (never secrets, names or addresses). */
typedef void session_log_fn(void *SOTTO_NULLABLE user, enum sotto_log_level level, const char *msg);

struct session {
	sotto_ctx *ctx;
	uv_loop_t loop;
	bool has_loop;
	struct store_profile *SOTTO_NULLABLE profile;
	struct secbuf *SOTTO_NULLABLE key;
	struct store_db *SOTTO_NULLABLE db;
	struct client_agent *SOTTO_NULLABLE agent;
	bool is_agent_closed;
	const struct cli_opts *opts; /* borrowed */

	client_agent_event_fn *SOTTO_NULLABLE on_event; /* the front end's handler */
	void *SOTTO_NULLABLE event_user;
	session_log_fn *SOTTO_NULLABLE on_log; /* NULL: stderr */
	void *SOTTO_NULLABLE log_user;

	uv_timer_t timer; /* session_run's deadline */
	bool has_timer;
	bool is_done;      /* set by the front end: session_run returns */
	bool is_timed_out; /* session_run's deadline passed */
};

/*
 * Opens the profile named by opts for a command: the profile must exist.
 * op_timeout_ms is the agent's invite/connect timeout (0: default).
 * Returns CLI_EXIT_OK, or after printing why: CLI_EXIT_USAGE (bad profile
 * name), CLI_EXIT_NO_PROFILE, CLI_EXIT_LOCKED, CLI_EXIT_PASSPHRASE,
 * CLI_EXIT_FAIL. Call session_close in every case.
 */
int session_open(struct session *s, const struct cli_opts *opts, uint32_t op_timeout_ms);

/*
 * Makes the profile named by opts ("sotto init"): refuses an existing one,
 * writes the key file (pass NULL: without a passphrase), and opens it all
 * as session_open does. Returns CLI_EXIT_OK or, after printing why,
 * CLI_EXIT_USAGE, CLI_EXIT_LOCKED, CLI_EXIT_FAIL. Call session_close in
 * every case.
 */
int session_create(struct session *s, const struct cli_opts *opts,
                   const uint8_t *SOTTO_NULLABLE pass, size_t pass_len);

/* Whether the profile named by opts exists (its key file does). */
bool session_profile_exists(const struct cli_opts *opts);

/* Sends the agent's events to fn (NULL: dropped). */
void session_set_handler(struct session *s, client_agent_event_fn *SOTTO_NULLABLE fn,
                         void *SOTTO_NULLABLE user);

/*
 * Runs the loop until the front end sets s->is_done or timeout_ms passes
 * (0: no deadline). Returns true when done, false on timeout (then
 * s->is_timed_out) or when the loop ran out of work.
 */
bool session_run(struct session *s, uint64_t timeout_ms);

/*
 * Runs the loop until done(user) holds (checked after every turn of the
 * loop) or timeout_ms passes (0: no deadline). Returns true when done.
 */
bool session_run_until(struct session *s, bool (*done)(void *SOTTO_NULLABLE user),
                       void *SOTTO_NULLABLE user, uint64_t timeout_ms);

/*
 * Closes the agent gracefully (it flushes what is queued, at most the
 * relay connections' close timeout), then frees everything and closes the
 * loop. Handles the front end opened on the loop must be closed first.
 */
void session_close(struct session *s);

/* Writes the profile's directory into out; "" if it cannot be named. */
void session_profile_dir(const struct cli_opts *opts, char *out, size_t cap);

/* The seconds of --timeout, or def when it was not given, in milliseconds. */
uint64_t session_timeout_ms(const struct cli_opts *opts, uint32_t def_s);

#endif /* SOTTO_SESSION_H */
