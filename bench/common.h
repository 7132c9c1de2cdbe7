/* SPDX-License-Identifier: MIT */
/*
 * common.h - what the benchmark programs share: process plumbing (children
 * killed at exit and on the guard alarm, a temporary directory removed at
 * exit, servers on free loopback ports), the options every program takes, a
 * sotto-relay daemon started from this build, and, for the programs that
 * drive real client agents, a peer: a real profile (store_profile, a key
 * without passphrase, store_db) and a client_agent on its own loop and
 * thread, driven from the main thread through jobs run on its loop.
 *
 * Texts are BENCH_TEXT_LEN bytes starting with their sequence number in
 * decimal; bench_t_send and bench_t_shown keep, by sequence number, when
 * send_text was called and when the receiving peer's RECEIVED event fired
 * (CLOCK_MONOTONIC, shared by the threads). Peers sending at once use
 * disjoint sequence ranges (set their seq before driving).
 *
 * Benchmark code only: it exits on any setup failure (bench_die) and every
 * wait is bounded.
 */
#ifndef SOTTO_BENCH_COMMON_H
#define SOTTO_BENCH_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <sotto/sotto.h>
#include <uv.h>

#include "client/agent.h"

struct store_db;
struct store_profile;

enum {
	BENCH_TEXT_LEN = 100,
	BENCH_SEQ_CAP = 1 << 20,  /* messages whose times are kept */
	BENCH_CONTACTS_MAX = 100, /* contacts a drive sends to */
	BENCH_WAIT_MS = 30000,    /* any single wait of the orchestration */
	BENCH_TMPDIR_LEN = 256,
};

/* ---- process plumbing ---- */

extern const char *bench_name;              /* prefixes messages ("client", "abuse", "relay") */
extern char bench_tmpdir[BENCH_TMPDIR_LEN]; /* removed at exit */
extern _Atomic uint64_t *bench_t_send;      /* by sequence number: send_text called */
extern _Atomic uint64_t *bench_t_shown;     /* by sequence number: RECEIVED */

/*
 * Sets the name, ignores SIGPIPE, arms a guard alarm of alarm_s that kills
 * the children and exits, allocates the time tables and makes bench_tmpdir
 * under tmp (removed at exit, with the children killed).
 */
void bench_init(const char *name, const char *tmp, unsigned alarm_s);

uint64_t bench_now_ns(void);
void bench_sleep_ms(long ms);
/* Prints "NAME: what" and exits 1 (the children are killed at exit). */
_Noreturn void bench_die(const char *what);

/* Starts argv with stderr to log and stdout to a pipe returned in *out_fd (or the log). */
pid_t bench_spawn(char *const argv[], const char *log, int *out_fd);
/* sig (0: none), up to 10 s, then SIGKILL; returns the wait status. */
int bench_stop_child(pid_t pid, int sig);
/* Reads all of fd (bounded by cap, NUL-terminated) and closes it. */
size_t bench_read_all(int fd, char *buf, size_t cap);

/* A loopback TCP port that was free a moment ago. */
uint16_t bench_free_port(void);
/* Waits (10 s at most) until pid accepts on port; exits naming it what if it does not. */
void bench_wait_listening(uint16_t port, pid_t pid, const char *what);

/*
 * Inits and runs a fresh relay in bench_tmpdir/NAME (log: NAME.log, a free
 * loopback port, a large quota and queue rate, and --max-connections
 * max_conns unless 0: the relay's default); addr gets its
 * "sotto://KEY@host:port". Returns its pid once it accepts connections.
 */
pid_t bench_relay_start(const char *relay_bin, const char *name, unsigned max_conns, char *addr,
                        size_t cap);

/* ---- the command line ---- */

/* The options every program takes; the caller sets their defaults. */
struct bench_args {
	bool json;             /* --json: one JSON object instead of the table */
	const char *relay_bin; /* --relay PATH: the sotto-relay binary */
	const char *tmp;       /* --tmp DIR: where bench_tmpdir is made */
};

/*
 * Parses argv: --json, --relay and --tmp into *args, --help and -h print
 * usage to stdout and exit 0; every other option takes one value and goes to
 * opt(user, name, value), false for a name it does not know or a bad value.
 * On bad usage (that, or a missing value) prints usage to stderr and exits 2.
 */
void bench_parse_args(int argc, char **argv, struct bench_args *args, void (*usage)(FILE *),
                      bool (*opt)(void *user, const char *name, const char *value), void *user);
/* *out gets v as a number; false unless all of v is one in [lo, hi]. */
bool bench_arg_double(const char *v, double lo, double hi, double *out);

/* ---- texts and their times ---- */

/* text (BENCH_TEXT_LEN bytes) carries seq in its first digits. */
void bench_text_make(uint8_t *text, uint32_t seq);
/* The sequence number of a text made by bench_text_make; false for others. */
bool bench_text_seq(const uint8_t *text, size_t len, uint32_t *seq);
int bench_cmp_u64(const void *a, const void *b);
/*
 * p50 and p99 (ms) of shown - sent over the sequences [lo, hi) of each range;
 * *lost: those never shown (yet).
 */
void bench_latency_ranges(const uint32_t (*ranges)[2], size_t n_ranges, double *p50, double *p99,
                          unsigned long *lost);
void bench_latency(uint32_t lo, uint32_t hi, double *p50, double *p99, unsigned long *lost);

/* ---- a client: profile, database and agent on its own loop and thread ---- */

/* What a peer's sending timer does (bench_job_drive). */
struct bench_drive {
	int64_t contacts[BENCH_CONTACTS_MAX];
	int n_contacts;
	int window;        /* sent minus shown at most this */
	double rate;       /* messages/s; 0: as fast as the window allows */
	uint64_t t0_ns;    /* pacing start */
	uint64_t due_base; /* sequence when pacing began */
	uint32_t stop_seq; /* sends stop here */
	int next;          /* round robin over contacts */
};

struct bench_peer {
	const char *name;
	sotto_ctx *ctx;
	uv_loop_t loop;
	uv_async_t wake;
	uv_timer_t tick;
	struct store_profile *profile;
	struct store_db *db;
	struct client_agent *agent;
	pthread_t thread;
	bool running;
	struct bench_peer *other;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	void (*job)(struct bench_peer *p, void *arg); /* runs on the loop, under no lock */
	void *job_arg;
	bool job_done;

	/* events, counted on the loop thread, read by the main thread */
	atomic_int n_connected, n_relay_up, n_failed, n_errors;
	atomic_ulong n_shown, n_sent_ok;
	_Atomic int64_t last_connected;
	_Atomic int64_t last_sent_id; /* the last message that became SENT */
	_Atomic uint64_t t_last_sent; /* when it did */
	atomic_bool closed;

	/* sending (bench_job_drive) */
	struct bench_drive drive;
	_Atomic bool driving;
	atomic_uint seq; /* next sequence number */
	atomic_ulong n_busy;
};

/* Opens name's profile in bench_tmpdir (creating it and its key if create) and its agent. */
sotto_err bench_profile_open(sotto_ctx *ctx, uv_loop_t *loop, const char *name, bool create,
                             struct client_agent_callbacks *cb, struct store_profile **profile,
                             struct store_db **db, struct client_agent **agent);
/* Opens p (p->name, mu and cv set) and starts its loop thread. */
void bench_peer_start(struct bench_peer *p, bool create);
/* Closes p's agent, joins its thread and frees what it opened. */
void bench_peer_stop(struct bench_peer *p);
/* Runs job on p's loop thread and waits for it to return. */
void bench_peer_call(struct bench_peer *p, void (*job)(struct bench_peer *, void *), void *arg);
/*
 * Sends one text to contact c; false when the agent refused it (on p's
 * loop). With msg_id: client_agent_send_text; without: the grouped send
 * (stored with the turn's other sends, as the JSON API does).
 */
bool bench_send_one(struct bench_peer *p, int64_t c, int64_t *msg_id);

/* Waits (bounded) until cond(p, v) holds; false on timeout. */
bool bench_wait_for(bool (*cond)(struct bench_peer *, unsigned long), struct bench_peer *p,
                    unsigned long v, long ms);
bool bench_has_connected(struct bench_peer *p, unsigned long v);
bool bench_has_shown(struct bench_peer *p, unsigned long v);
bool bench_has_relay_up(struct bench_peer *p, unsigned long v);
bool bench_has_sent(struct bench_peer *p, unsigned long v);

/* Jobs for bench_peer_call: add the relay (arg: its address text); drive (arg: struct
 * bench_drive, copied; pacing starts now); halt the drive. */
void bench_job_relay_add(struct bench_peer *p, void *arg);
void bench_job_drive(struct bench_peer *p, void *arg);
void bench_job_halt(struct bench_peer *p, void *arg);

/*
 * Starts a relay (bench_relay_start, "relay", into addr), then alice and bob
 * (names set) on new profiles, each the other's other, both using the relay;
 * returns the relay's pid.
 */
pid_t bench_pair_start(struct bench_peer *alice, struct bench_peer *bob, const char *relay_bin,
                       char *addr, size_t cap);

/* One new contact between alice and bob (invite, connect); returns alice's contact ID. */
int64_t bench_make_contact(struct bench_peer *alice, struct bench_peer *bob);

#endif /* SOTTO_BENCH_COMMON_H */
