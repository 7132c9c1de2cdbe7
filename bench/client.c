/* SPDX-License-Identifier: MIT */
/*
 * client.c - benchmark of two client agents (alice and bob) talking through
 * one real sotto-relay daemon on loopback.
 *
 * Each client is a real profile (store_profile, a key without passphrase,
 * store_db) in a temporary directory and a client_agent on its own loop and
 * thread; they connect with invite/connect like two users would. Figures:
 *   msgs/s   alice sends 100-byte texts as fast as the agent accepts them,
 *            with at most --window messages sent but not yet shown at bob;
 *            a message counts when bob's RECEIVED event fires ("sent to
 *            shown"), over --seconds after 0.5 s of warm-up;
 *   latency  p50/p99 from the send_text call to bob's RECEIVED event, with
 *            alice paced at --rate messages/s for --seconds (the goal's
 *            figure), then again paced at half the msgs/s just measured (a
 *            load the pair sustains, so no queue builds up); a paced sender
 *            that finds the outbox full (CLIENT_AGENT_OUTBOX_MAX) waits;
 *   start    a fresh process opens bob's profile and agent while a message
 *            waits for him on the relay: the time from the start of the
 *            opening (profile, key, database, agent) to its RECEIVED event;
 *            measured with the one-contact profile and again with the
 *            large one below;
 *   RSS      bob's profile is grown to 100 contacts and --messages stored
 *            messages (made through the agents and the relay: alice sends,
 *            bob receives and stores); then a fresh process opens it, shows
 *            the first waiting message, lists contacts and reads the last
 *            CLIENT_AGENT_HISTORY_MAX messages of one, and reports its VmRSS,
 *            VmHWM and the growth over its RSS before opening the profile.
 *            Building the messages stops after --build-seconds; the table
 *            says how many were stored and at what rate.
 *
 * The agent sends the outbox one entry at a time per contact (one relay
 * round trip per message per contact), and every send, status and received
 * message is one SQLite transaction with synchronous=FULL (an fsync), as is
 * every SEND the relay stores: the msgs/s line is printed with what bounds
 * it, measured here: one send_text alone (one commit) and one message alone
 * from send_text to SENT (the relay round trip, the relay's commit and
 * ours) and to RECEIVED. --tmp on a tmpfs takes the fsyncs out and shows
 * what is left.
 *
 * The times are CLOCK_MONOTONIC, shared by the threads; a text carries its
 * sequence number in its first digits. RSS is read from /proc/self/status
 * in the fresh process.
 *
 * Every child runs with PR_SET_PDEATHSIG and is killed at exit; every wait
 * is bounded, and an alarm ends a run that hangs anyway. The process
 * plumbing, the relay and the peers are common.c's, shared with abuse.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include <sotto/sotto.h>

#include "client/agent.h"
#include "common.h"
#include "store/db.h"
#include "store/key.h"
#include "store/profile.h"

#ifndef SOTTO_RELAY_BIN
#define SOTTO_RELAY_BIN "sotto-relay"
#endif

enum {
	TEXT_LEN = BENCH_TEXT_LEN,
	SEQ_CAP = BENCH_SEQ_CAP,       /* messages whose times are kept */
	CONTACTS = BENCH_CONTACTS_MAX, /* contacts of the large profile */
	WINDOW_DEFAULT = 256,          /* sent but not yet shown, throughput run */
	WAIT_MS = BENCH_WAIT_MS,       /* any single wait of the orchestration */
};

struct options {
	double seconds, build_seconds, rate;
	int window;
	long messages;
	struct bench_args args;
};

static long status_kb(const char *field)
{
	char line[256];
	long kb = -1;
	size_t n = strlen(field);
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, n) == 0)
			kb = strtol(line + n, NULL, 10);
	}
	fclose(f);
	return kb;
}

struct one_send {
	int64_t contact, msg_id;
};

static void job_send_one(struct bench_peer *p, void *arg)
{
	struct one_send *s = arg;
	uint8_t text[TEXT_LEN];
	bench_text_make(text, SEQ_CAP); /* outside the measured range */
	if (client_agent_send_text(p->agent, s->contact, text, TEXT_LEN, &s->msg_id) != SOTTO_OK)
		bench_die("send_text");
}

/* ---- the child: a fresh process opens a profile and shows a waiting message ---- */

struct child {
	bool shown;
	uint64_t t_shown;
	int64_t contact;
	struct client_agent *agent;
};

static void child_event(void *user, const struct client_agent_event *ev)
{
	struct child *c = user;
	if (ev->kind == CLIENT_AGENT_EV_RECEIVED && !c->shown) {
		c->shown = true;
		c->t_shown = bench_now_ns();
		c->contact = ev->contact_id;
	}
}

static void child_on_timer(uv_timer_t *t)
{
	(void)t;
}

static unsigned long g_hist;

static void child_hist(void *user, const struct client_agent_msg *m)
{
	(void)user, (void)m;
	g_hist++;
}

static void child_contact(void *user, const struct client_agent_contact *c)
{
	(void)user, (void)c;
}

static void child_closed(void *user)
{
	*(bool *)user = true;
}

/* Prints "start_us rss_kb hwm_kb base_kb history" on stdout; 0 when it worked. */
static int child_main(const char *dir, const char *name)
{
	struct child c = {0};
	struct client_agent_callbacks cb = {.on_event = child_event, .user = &c};
	struct store_profile *profile = NULL;
	struct store_db *db = NULL;
	sotto_ctx *ctx = NULL;
	uv_loop_t loop;
	uv_timer_t t;
	bool closed = false;

	snprintf(bench_tmpdir, sizeof(bench_tmpdir), "%s", dir);
	if (sodium_init() < 0 || sotto_ctx_new(&ctx, NULL) != SOTTO_OK ||
	    uv_loop_init(&loop) != 0 || uv_timer_init(&loop, &t) != 0 ||
	    uv_timer_start(&t, child_on_timer, 5, 5) != 0)
		return 1;
	long base_kb = status_kb("VmRSS:");
	uint64_t t0 = bench_now_ns();
	sotto_err rc = bench_profile_open(ctx, &loop, name, false, &cb, &profile, &db, &c.agent);
	if (rc != SOTTO_OK) {
		fprintf(stderr, "child: %s\n", sotto_strerror(rc));
		return 1;
	}
	while (!c.shown && bench_now_ns() - t0 < 10000000000ull)
		(void)uv_run(&loop, UV_RUN_ONCE);
	uint64_t t_end = bench_now_ns() + 1000000000ull; /* every queue subscribed and settled */
	while (bench_now_ns() < t_end)
		(void)uv_run(&loop, UV_RUN_ONCE);
	g_hist = 0;
	if (c.shown && (client_agent_contact_list(c.agent, child_contact, NULL) != SOTTO_OK ||
	                client_agent_history(c.agent, c.contact, 0, CLIENT_AGENT_HISTORY_MAX,
	                                     child_hist, NULL) != SOTTO_OK))
		return 1;
	printf("%.3f %ld %ld %ld %lu\n", c.shown ? (double)(c.t_shown - t0) / 1e6 : -1.0,
	       status_kb("VmRSS:"), status_kb("VmHWM:"), base_kb, g_hist);
	fflush(stdout);
	client_agent_close(c.agent, child_closed, &closed);
	uv_close((uv_handle_t *)&t, NULL);
	for (int i = 0; i < 100000 && !closed; i++)
		(void)uv_run(&loop, UV_RUN_ONCE);
	(void)uv_run(&loop, UV_RUN_DEFAULT);
	(void)uv_loop_close(&loop);
	store_db_free(db);
	store_profile_free(profile);
	sotto_ctx_free(ctx);
	return c.shown ? 0 : 1;
}

struct start_fig {
	double ms;
	long rss_kb, hwm_kb, base_kb;
	unsigned long history;
};

/* A message waits for bob (offline) on the relay; a fresh process opens bob. */
static void measure_start(struct bench_peer *alice, int64_t contact, const char *self,
                          struct start_fig *f)
{
	struct one_send s = {.contact = contact};
	char out[256], log[400];
	int fd = -1;

	bench_peer_call(alice, job_send_one, &s);
	if (!bench_wait_for(bench_has_sent, alice, (unsigned long)s.msg_id, WAIT_MS))
		bench_die("the waiting message was not sent");
	snprintf(log, sizeof(log), "%s/child.log", bench_tmpdir);
	char *argv[] = {(char *)self, "--child", bench_tmpdir, "bob", NULL};
	pid_t pid = bench_spawn(argv, log, &fd);
	(void)bench_read_all(fd, out, sizeof(out));
	int status = bench_stop_child(pid, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(out, "%lf %ld %ld %ld %lu", &f->ms, &f->rss_kb, &f->hwm_kb, &f->base_kb,
	           &f->history) != 5) {
		char text[4096];
		int lfd = open(log, O_RDONLY);
		if (lfd >= 0 && bench_read_all(lfd, text, sizeof(text)) > 0)
			fprintf(stderr, "%s", text);
		bench_die("the start child failed (its log is above)");
	}
}

/* ---- figures ---- */

/* Messages shown in [t0, t1) among sequences [lo, hi). */
static unsigned long shown_between(uint32_t lo, uint32_t hi, uint64_t t0, uint64_t t1)
{
	unsigned long n = 0;
	for (uint32_t s = lo; s < hi && s < SEQ_CAP; s++) {
		uint64_t b = atomic_load(&bench_t_shown[s]);
		if (b >= t0 && b < t1)
			n++;
	}
	return n;
}

/* Waits until bob showed everything alice sent; false after ms. */
static bool drain(struct bench_peer *alice, struct bench_peer *bob, unsigned long base, long ms)
{
	return bench_wait_for(bench_has_shown, bob, base + atomic_load(&alice->seq), ms);
}

struct figures {
	double msgs_per_s, tput_p50, tput_p99;
	double rate, p50, p99, paced_per_s;
	unsigned long lost;
	double half_rate, half_p50, half_p99; /* paced at half of msgs_per_s */
	unsigned long half_lost;
	double commit_ms;                     /* one send_text (one SQLite commit), alone */
	double alone_sent_ms, alone_shown_ms; /* one message alone: to SENT, to RECEIVED */
	struct start_fig start_small, start_large;
	unsigned long stored, contacts;
	double build_s, build_per_s;
	unsigned long busy;
};

/* Runs alice's sender for measure_s (after warm_s) and returns its sequence range. */
static void run_drive(struct bench_peer *alice, struct bench_drive *d, double warm_s,
                      double measure_s, uint32_t *lo, uint32_t *hi, uint64_t *t0, uint64_t *t1)
{
	bench_peer_call(alice, bench_job_drive, d);
	bench_sleep_ms((long)(warm_s * 1000));
	*lo = atomic_load(&alice->seq);
	*t0 = bench_now_ns();
	bench_sleep_ms((long)(measure_s * 1000));
	*hi = atomic_load(&alice->seq);
	*t1 = bench_now_ns();
	bench_peer_call(alice, bench_job_halt, NULL);
}

/* The time of one send_text when nothing else runs (one commit, fsync). */
struct alone {
	int64_t contact, msg_id;
	uint32_t seq;
};

static void job_send_alone(struct bench_peer *p, void *arg)
{
	struct alone *a = arg;
	a->seq = atomic_load(&p->seq);
	if (!bench_send_one(p, a->contact, &a->msg_id))
		bench_die("send_text");
}

/* One message at a time: send_text -> SENT (the relay round trip) and -> RECEIVED. */
static void measure_alone(struct bench_peer *alice, struct bench_peer *bob, int64_t contact,
                          double *sent_ms, double *shown_ms)
{
	enum { N = 21 };
	uint64_t sent[N], shown[N];
	struct alone a = {.contact = contact};

	for (int i = 0; i < N; i++) {
		bench_peer_call(alice, job_send_alone, &a);
		if (!bench_wait_for(bench_has_sent, alice, (unsigned long)a.msg_id, WAIT_MS) ||
		    !bench_wait_for(bench_has_shown, bob, a.seq + 1, WAIT_MS))
			bench_die("a message alone was not shown");
		uint64_t t = atomic_load(&bench_t_send[a.seq]);
		sent[i] = atomic_load(&alice->t_last_sent) - t;
		shown[i] = atomic_load(&bench_t_shown[a.seq]) - t;
	}
	qsort(sent, N, sizeof(sent[0]), bench_cmp_u64);
	qsort(shown, N, sizeof(shown[0]), bench_cmp_u64);
	*sent_ms = (double)sent[N / 2] / 1e6;
	*shown_ms = (double)shown[N / 2] / 1e6;
}

struct commit_time {
	int64_t contact;
	double ms;
};

static void job_time_commit(struct bench_peer *p, void *arg)
{
	struct commit_time *c = arg;
	uint64_t t = bench_now_ns();
	for (int i = 0; i < 20; i++)
		(void)bench_send_one(p, c->contact, NULL);
	c->ms = (double)(bench_now_ns() - t) / 20 / 1e6;
}

static void measure(const struct options *o, const char *self, struct figures *f)
{
	static struct bench_peer alice = {.name = "alice"}, bob = {.name = "bob"};
	char addr[256];
	struct bench_drive d = {0};
	uint32_t lo, hi;
	uint64_t t0, t1;

	pid_t relay = bench_pair_start(&alice, &bob, o->args.relay_bin, addr, sizeof(addr));
	d.contacts[0] = bench_make_contact(&alice, &bob);
	d.n_contacts = 1;

	/* (1) as fast as the agent accepts, a bounded number not yet shown */
	d.window = o->window;
	d.rate = 0;
	d.stop_seq = SEQ_CAP;
	run_drive(&alice, &d, 0.5, o->seconds, &lo, &hi, &t0, &t1);
	if (!drain(&alice, &bob, 0, WAIT_MS))
		fprintf(stderr, "client bench: throughput run did not drain\n");
	f->msgs_per_s = (double)shown_between(0, SEQ_CAP, t0, t1) / ((double)(t1 - t0) / 1e9);
	bench_latency(lo, hi, &f->tput_p50, &f->tput_p99, &f->lost);
	struct commit_time ct = {.contact = d.contacts[0]};
	bench_peer_call(&alice, job_time_commit, &ct);
	f->commit_ms = ct.ms;
	(void)drain(&alice, &bob, 0, WAIT_MS);
	measure_alone(&alice, &bob, d.contacts[0], &f->alone_sent_ms, &f->alone_shown_ms);
	(void)drain(&alice, &bob, 0, WAIT_MS);

	/* (2) paced */
	d.window = 0;
	d.rate = o->rate;
	run_drive(&alice, &d, 0.5, o->seconds, &lo, &hi, &t0, &t1);
	if (!drain(&alice, &bob, 0, WAIT_MS))
		fprintf(stderr, "client bench: paced run did not drain\n");
	f->rate = o->rate;
	f->paced_per_s = (double)(hi - lo) / ((double)(t1 - t0) / 1e9);
	bench_latency(lo, hi, &f->p50, &f->p99, &f->lost);

	/* (2b) paced at half the throughput just measured: a load it sustains */
	d.rate = f->msgs_per_s / 2 > 1 ? f->msgs_per_s / 2 : 1;
	run_drive(&alice, &d, 0.5, o->seconds, &lo, &hi, &t0, &t1);
	if (!drain(&alice, &bob, 0, WAIT_MS))
		fprintf(stderr, "client bench: half-load run did not drain\n");
	f->half_rate = d.rate;
	bench_latency(lo, hi, &f->half_p50, &f->half_p99, &f->half_lost);

	/* (4) start with one contact */
	bench_peer_stop(&bob);
	measure_start(&alice, d.contacts[0], self, &f->start_small);
	/* bob's count restarts with his agent: it shown all sent so far */
	atomic_store(&bob.n_shown, atomic_load(&alice.seq));
	bench_peer_start(&bob, false);
	(void)bench_wait_for(bench_has_relay_up, &bob, 1, WAIT_MS);

	/* (3) 100 contacts and --messages stored at bob, through the relay */
	for (int i = 1; i < CONTACTS; i++)
		d.contacts[i] = bench_make_contact(&alice, &bob);
	d.n_contacts = CONTACTS;
	unsigned long already = atomic_load(&alice.seq) + 1; /* + the start message */
	unsigned long want = o->messages > (long)already ? (unsigned long)o->messages - already : 0;
	d.window = 1000;
	d.rate = 0;
	d.stop_seq = atomic_load(&alice.seq) + (uint32_t)want;
	unsigned long bob_base = atomic_load(&bob.n_shown);
	uint64_t b0 = bench_now_ns();
	bench_peer_call(&alice, bench_job_drive, &d);
	while (atomic_load(&bob.n_shown) - bob_base < want &&
	       (double)(bench_now_ns() - b0) / 1e9 < o->build_seconds)
		bench_sleep_ms(10);
	bench_peer_call(&alice, bench_job_halt, NULL);
	(void)drain(&alice, &bob, 0, WAIT_MS);
	f->build_s = (double)(bench_now_ns() - b0) / 1e9;
	unsigned long built = atomic_load(&bob.n_shown) - bob_base;
	f->build_per_s = (double)built / f->build_s;
	f->stored = already + built + 1; /* + the message the start child shows */
	f->contacts = CONTACTS;
	f->busy = atomic_load(&alice.n_busy);
	bench_peer_stop(&bob);
	measure_start(&alice, d.contacts[0], self, &f->start_large);
	bench_peer_stop(&alice);
	(void)bench_stop_child(relay, SIGTERM);
}

/* ---- output ---- */

static const char *verdict(bool ok)
{
	return ok ? "met" : "NOT met";
}

static void print_table(const struct options *o, const struct figures *f)
{
	double rss = (double)f->start_large.rss_kb / 1024.0;
	printf("sotto client agents, alice -> bob through one sotto-relay (loopback), "
	       "%d-byte texts\n\n",
	       TEXT_LEN);
	printf("  %-44s %12s   %s\n", "figure", "value", "goal");
	printf("  %-44s %12.0f   >= 2000 (%s)\n", "msgs/s sent to shown (window)", f->msgs_per_s,
	       verdict(f->msgs_per_s >= 2000));
	printf("  %-44s %12.2f\n", "  p50 ms at that load", f->tput_p50);
	printf("  %-44s %12.2f\n", "  p99 ms at that load", f->tput_p99);
	printf("  %-44s %12.2f\n", "  send_text (one commit), 20 in a row, ms each", f->commit_ms);
	printf("  %-44s %12.2f\n", "  one message alone: send_text -> SENT, ms", f->alone_sent_ms);
	printf("  %-44s %12.2f\n", "  one message alone: -> RECEIVED, ms", f->alone_shown_ms);
	printf("  %-44s %12.0f\n", "paced msgs/s (asked)", f->rate);
	printf("  %-44s %12.0f\n", "paced msgs/s (sent)", f->paced_per_s);
	printf("  %-44s %12.2f\n", "  p50 ms send_text -> RECEIVED", f->p50);
	printf("  %-44s %12.2f   <= 20 (%s)\n", "  p99 ms send_text -> RECEIVED", f->p99,
	       verdict(f->p99 <= 20));
	printf("  %-44s %12lu\n", "  not shown", f->lost);
	printf("  %-44s %12.0f\n", "paced at half the msgs/s above", f->half_rate);
	printf("  %-44s %12.2f\n", "  p50 ms send_text -> RECEIVED", f->half_p50);
	printf("  %-44s %12.2f\n", "  p99 ms send_text -> RECEIVED", f->half_p99);
	printf("  %-44s %12lu\n", "  not shown", f->half_lost);
	printf("  %-44s %12.1f   <= 200 (%s)\n", "start to first shown, 1 contact, ms",
	       f->start_small.ms, verdict(f->start_small.ms <= 200));
	printf("  %-44s %12.1f\n", "start to first shown, large profile, ms", f->start_large.ms);
	printf("  %-44s %12lu\n", "large profile: contacts", f->contacts);
	printf("  %-44s %12lu\n", "large profile: stored messages (bob)", f->stored);
	printf("  %-44s %12.1f\n", "  built in s (through the relay)", f->build_s);
	printf("  %-44s %12.0f\n", "  at msgs/s (100 contacts in parallel)", f->build_per_s);
	printf("  %-44s %12.1f   <= 30 (%s)\n", "client RSS MiB (fresh process, large)", rss,
	       verdict(rss <= 30));
	printf("  %-44s %12.1f\n", "  peak RSS MiB (VmHWM)", (double)f->start_large.hwm_kb / 1024);
	printf("  %-44s %12.1f\n", "  growth over RSS before opening, MiB",
	       (double)(f->start_large.rss_kb - f->start_large.base_kb) / 1024);
	printf("  %-44s %12.1f\n", "client RSS MiB (fresh process, 1 contact)",
	       (double)f->start_small.rss_kb / 1024);
	if (f->stored < (unsigned long)o->messages)
		printf("\nnote: only %lu of %ld messages were stored within --build-seconds %.0f\n",
		       f->stored, o->messages, o->build_seconds);
}

static void print_json(const struct options *o, const struct figures *f)
{
	printf("{\"msgs_per_s\": %.0f, \"p99_ms\": %.2f, \"rss_mb\": %.1f, \"start_ms\": %.1f, "
	       "\"p50_ms\": %.2f, \"paced_rate\": %.0f, \"paced_sent_per_s\": %.0f, "
	       "\"not_shown\": %lu, \"window\": %d, \"window_p50_ms\": %.2f, "
	       "\"window_p99_ms\": %.2f, \"send_text_ms\": %.2f, \"alone_sent_ms\": %.2f, "
	       "\"alone_shown_ms\": %.2f, \"start_large_ms\": %.1f, "
	       "\"rss_hwm_mb\": %.1f, \"rss_growth_mb\": %.1f, \"rss_small_mb\": %.1f, "
	       "\"half_rate\": %.0f, \"half_p50_ms\": %.2f, \"half_p99_ms\": %.2f, "
	       "\"contacts\": %lu, \"stored_messages\": %lu, \"build_s\": %.1f, "
	       "\"build_msgs_per_s\": %.0f, \"seconds\": %.1f}\n",
	       f->msgs_per_s, f->p99, (double)f->start_large.rss_kb / 1024, f->start_small.ms,
	       f->p50, f->rate, f->paced_per_s, f->lost, o->window, f->tput_p50, f->tput_p99,
	       f->commit_ms, f->alone_sent_ms, f->alone_shown_ms, f->start_large.ms,
	       (double)f->start_large.hwm_kb / 1024,
	       (double)(f->start_large.rss_kb - f->start_large.base_kb) / 1024,
	       (double)f->start_small.rss_kb / 1024, f->half_rate, f->half_p50, f->half_p99,
	       f->contacts, f->stored, f->build_s, f->build_per_s, o->seconds);
}

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: client [--json] [--seconds S] [--messages N] [--rate R] [--window W]\n"
	        "              [--build-seconds S] [--relay PATH] [--tmp DIR]\n"
	        "\n"
	        "Two client agents (alice, bob; real profiles) through one sotto-relay on\n"
	        "127.0.0.1: messages/s sent to shown, latency at a paced rate, start to the\n"
	        "first shown message, and RSS with 100 contacts and N stored messages.\n"
	        "\n"
	        "  --json              print one JSON object instead of the table\n"
	        "  --seconds S         measuring time of the throughput and paced runs (default "
	        "5)\n"
	        "  --messages N        stored messages of the large profile (default 100000)\n"
	        "  --rate R            the paced run's messages/s (default 1000)\n"
	        "  --window W          sent but not shown, throughput run (default %d, max %d)\n"
	        "  --build-seconds S   time allowed to build the large profile (default 60)\n"
	        "  --relay PATH        the sotto-relay binary (default %s)\n"
	        "  --tmp DIR           where the profiles and the relay live (default /tmp;\n"
	        "                      on a tmpfs fsync costs nothing: it shows what the\n"
	        "                      commits cost)\n"
	        "  --help              this text\n",
	        WINDOW_DEFAULT, CLIENT_AGENT_OUTBOX_MAX, SOTTO_RELAY_BIN);
}

static bool parse_opt(void *user, const char *a, const char *v)
{
	struct options *o = user;
	char *end = NULL;
	bool ok = false;

	if (strcmp(a, "--seconds") == 0) {
		ok = bench_arg_double(v, 0.1, 600, &o->seconds);
	} else if (strcmp(a, "--build-seconds") == 0) {
		ok = bench_arg_double(v, 0, 3600, &o->build_seconds);
	} else if (strcmp(a, "--rate") == 0) {
		ok = bench_arg_double(v, 1, 100000, &o->rate);
	} else if (strcmp(a, "--messages") == 0) {
		o->messages = strtol(v, &end, 10);
		ok = *end == '\0' && o->messages >= 0 && o->messages <= SEQ_CAP / 2;
	} else if (strcmp(a, "--window") == 0) {
		long w = strtol(v, &end, 10);
		ok = *end == '\0' && w >= 1 && w <= CLIENT_AGENT_OUTBOX_MAX;
		o->window = (int)w;
	}
	return ok;
}

static void parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.seconds = 5.0,
	                      .build_seconds = 60,
	                      .rate = 1000,
	                      .window = WINDOW_DEFAULT,
	                      .messages = 100000,
	                      .args = {.relay_bin = SOTTO_RELAY_BIN, .tmp = "/tmp"}};
	bench_parse_args(argc, argv, &o->args, usage, parse_opt, o);
}

int main(int argc, char **argv)
{
	struct options o;
	struct figures f = {0};
	char self[4096];

	if (argc == 4 && strcmp(argv[1], "--child") == 0)
		return child_main(argv[2], argv[3]);
	parse_args(argc, argv, &o);
	if (sodium_init() < 0)
		bench_die("libsodium");
	if (access(o.args.relay_bin, X_OK) != 0)
		bench_die("sotto-relay not found (see --relay)");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		bench_die("cannot find this program");
	self[n] = '\0';
	bench_init("client", o.args.tmp, (unsigned)(2 * o.seconds + o.build_seconds + 300));
	if (!o.args.json)
		fprintf(stderr,
		        "measuring, %.1f s per figure, up to %.0f s to build the profile...\n",
		        o.seconds, o.build_seconds);
	measure(&o, self, &f);
	if (o.args.json)
		print_json(&o, &f);
	else
		print_table(&o, &f);
	return 0;
}
