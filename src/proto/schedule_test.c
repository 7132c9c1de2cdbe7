/* SPDX-License-Identifier: MIT */
/*
 * schedule_test.c - the Double Ratchet under a hostile network: 10,000
 * seeded random schedules of sends, deliveries, drops, duplicates, reorders
 * and tampered copies between two parties set up through the real handshake,
 * plus the skip bounds (RATCHET_MAX_SKIP per chain, RATCHET_SKIPPED_MAX keys
 * stored, oldest evicted first), which random schedules of this length never
 * reach.
 *
 * What a schedule asserts (docs/protocol.md §3.5): every original message
 * that arrives decrypts exactly once to its plaintext, whatever the order and
 * whatever was lost before it; every duplicate, replay and tampered copy is
 * SOTTO_ERR_AUTH and leaves the receiver's serialised state byte for byte
 * unchanged; a party restarted from its serialised state (§3.7) carries on
 * as if nothing happened; after the schedule, both sides still talk. A
 * failing schedule prints its seed; SOTTO_SCHEDULE_SEED=<seed> reruns that
 * one alone with a trace of its events.
 */
#include <inttypes.h>
#include <stdio.h>

#include "e2e_testlib.h"

enum {
	SCHED_COUNT = 10000,
	SCHED_BASE_SEED = 0x5c4ed000,
	SCHED_EVENTS_MIN = 5,
	SCHED_EVENTS_MAX = 40,
	SCHED_PT_MAX = 48,
	SCHED_SENT_MAX = SCHED_EVENTS_MAX,       /* at most one send per event */
	SCHED_FLIGHT_MAX = 2 * SCHED_EVENTS_MAX, /* originals plus copies */
	SKIP_PT_LEN = 8,                         /* plaintexts of the skip-bound tests */
};

enum sched_party { SCHED_TO_INVITER, SCHED_TO_JOINER };

enum sched_event {
	EV_INVITER_SENDS,
	EV_JOINER_SENDS,
	EV_DELIVER,   /* a random in-flight message */
	EV_REORDER,   /* the newest in-flight message, ahead of older ones */
	EV_DROP,      /* an in-flight message is lost */
	EV_DUPLICATE, /* a copy of any sent message goes in flight again */
	EV_TAMPER,    /* a copy of any sent message, one bit flipped, delivered now */
	EV_RESTART,   /* a party saves its state and restarts from it (§3.7) */
	EV_COUNT,
};

/* Weights out of 100, in enum order. */
static const unsigned sched_weights[EV_COUNT] = {18, 18, 23, 10, 7, 9, 11, 4};

static const char *const sched_event_names[EV_COUNT] = {
        "inviter sends", "joiner sends", "deliver", "reorder",
        "drop",          "duplicate",    "tamper",  "restart",
};

struct sched_totals {
	unsigned long schedules, events, sent, delivered, duplicates_rejected, tampered_rejected,
	        dropped, reordered, dh_steps, restarts;
};

struct sched_sent {
	enum sched_party to;
	struct e2e_msg wire;
	uint8_t pt[SCHED_PT_MAX];
	size_t pt_len;
	bool delivered;
};

/* One schedule; the flight list holds indices into sent[], copies included. */
struct sched {
	uint64_t seed;
	uint64_t prng;
	bool trace;
	struct e2e_pair pair;
	struct sched_sent sent[SCHED_SENT_MAX];
	unsigned n_sent;
	unsigned flight[SCHED_FLIGHT_MAX];
	unsigned n_flight;
	struct sched_totals *totals;
};

/* What the teardown needs to name a failing schedule. */
struct sched_run {
	uint64_t seed;
	unsigned event;
	bool done;
};

/* splitmix64: the schedule's own decisions, apart from the parties' RNGs. */
static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint64_t sched_next(struct sched *s)
{
	return splitmix64(&s->prng);
}

static unsigned sched_below(struct sched *s, unsigned n)
{
	return (unsigned)(sched_next(s) % n);
}

static struct ratchet *sched_receiver(struct sched *s, enum sched_party to)
{
	return to == SCHED_TO_INVITER ? s->pair.inviter.r : s->pair.joiner.r;
}

static void sched_send(struct sched *s, enum sched_party to)
{
	if (s->n_sent == SCHED_SENT_MAX || s->n_flight == SCHED_FLIGHT_MAX)
		return;
	struct sched_sent *m = &s->sent[s->n_sent];
	struct ratchet *from = to == SCHED_TO_INVITER ? s->pair.joiner.r : s->pair.inviter.r;

	m->to = to;
	m->pt_len = sched_below(s, SCHED_PT_MAX + 1);
	e2e_fill(m->pt, m->pt_len, (uint32_t)(s->seed * 64 + s->n_sent));
	m->delivered = false;
	e2e_send(from, m->pt, m->pt_len, &m->wire);
	s->flight[s->n_flight++] = s->n_sent++;
	s->totals->sent++;
}

/* Removes flight[i], keeping the others in sending order; returns the sent index. */
static unsigned sched_take(struct sched *s, unsigned i)
{
	unsigned idx = s->flight[i];
	memmove(&s->flight[i], &s->flight[i + 1], (s->n_flight - i - 1) * sizeof(s->flight[0]));
	s->n_flight--;
	return idx;
}

/* Bytes 34..66 of a state are DHs.pub (§3.7): they change exactly on a DH step. */
static bool sched_dh_stepped(const struct e2e_state *before, const struct e2e_state *after)
{
	return memcmp(before->bytes + 34, after->bytes + 34, PROTO_KEY_LEN) != 0;
}

/* Delivers sent[idx]: the first arrival decrypts, every later one is a rejected replay. */
static void sched_deliver(struct sched *s, unsigned idx)
{
	struct sched_sent *m = &s->sent[idx];
	struct ratchet *r = sched_receiver(s, m->to);

	if (m->delivered) {
		assert_int_equal(e2e_recv_err(r, m->wire.bytes, m->wire.len), SOTTO_ERR_AUTH);
		s->totals->duplicates_rejected++;
		return;
	}
	struct e2e_state before = e2e_state_take(r);
	e2e_recv_ok(r, &m->wire, m->pt, m->pt_len);
	struct e2e_state after = e2e_state_take(r);
	if (sched_dh_stepped(&before, &after))
		s->totals->dh_steps++;
	e2e_state_free(&before);
	e2e_state_free(&after);
	m->delivered = true;
	s->totals->delivered++;
}

/* A copy of a random sent message with one random bit flipped, delivered now. */
static void sched_tamper(struct sched *s)
{
	if (s->n_sent == 0)
		return;
	const struct sched_sent *m = &s->sent[sched_below(s, s->n_sent)];
	uint8_t copy[E2E_MSG_MAX];
	unsigned bit = sched_below(s, (unsigned)(8 * m->wire.len));

	memcpy(copy, m->wire.bytes, m->wire.len);
	copy[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	assert_int_equal(e2e_recv_err(sched_receiver(s, m->to), copy, m->wire.len), SOTTO_ERR_AUTH);
	s->totals->tampered_rejected++;
}

/* A party goes through serialise + deserialise, as after a restart; its context stays. */
static void sched_restart(struct sched *s)
{
	struct e2e_side *side = sched_below(s, 2) ? &s->pair.inviter : &s->pair.joiner;
	struct ratchet *copy = e2e_copy(side->ctx, side->r);

	ratchet_free(side->r);
	side->r = copy;
	s->totals->restarts++;
}

static void sched_event(struct sched *s, enum sched_event ev)
{
	switch (ev) {
	case EV_INVITER_SENDS: sched_send(s, SCHED_TO_JOINER); break;
	case EV_JOINER_SENDS: sched_send(s, SCHED_TO_INVITER); break;
	case EV_DELIVER:
		if (s->n_flight > 0)
			sched_deliver(s, sched_take(s, sched_below(s, s->n_flight)));
		break;
	case EV_REORDER:
		if (s->n_flight > 1) {
			sched_deliver(s, sched_take(s, s->n_flight - 1));
			s->totals->reordered++;
		}
		break;
	case EV_DROP:
		if (s->n_flight > 0) {
			(void)sched_take(s, sched_below(s, s->n_flight));
			s->totals->dropped++;
		}
		break;
	case EV_DUPLICATE:
		if (s->n_sent > 0 && s->n_flight < SCHED_FLIGHT_MAX)
			s->flight[s->n_flight++] = sched_below(s, s->n_sent);
		break;
	case EV_TAMPER: sched_tamper(s); break;
	case EV_RESTART: sched_restart(s); break;
	case EV_COUNT: fail_msg("no such event");
	}
}

static enum sched_event sched_pick(struct sched *s)
{
	unsigned x = sched_below(s, 100);
	for (unsigned e = 0; e < EV_COUNT; e++) {
		if (x < sched_weights[e])
			return (enum sched_event)e;
		x -= sched_weights[e];
	}
	return EV_DELIVER;
}

/* After the schedule: everything still in flight arrives, then one round trip. */
static void sched_finish(struct sched *s)
{
	uint8_t pt[SCHED_PT_MAX];
	struct e2e_msg m;

	while (s->n_flight > 0)
		sched_deliver(s, sched_take(s, sched_below(s, s->n_flight)));
	e2e_fill(pt, sizeof(pt), 0xfeed);
	e2e_send(s->pair.inviter.r, pt, sizeof(pt), &m);
	e2e_recv_ok(s->pair.joiner.r, &m, pt, sizeof(pt));
	e2e_send(s->pair.joiner.r, pt, 3, &m);
	e2e_recv_ok(s->pair.inviter.r, &m, pt, 3);
}

static void sched_run_one(struct sched_run *run, struct sched *s, struct sched_totals *totals,
                          bool trace)
{
	uint8_t first[SCHED_PT_MAX];

	memset(s, 0, sizeof(*s));
	s->seed = run->seed;
	s->prng = run->seed;
	s->totals = totals;
	s->trace = trace;
	size_t first_len = sched_below(s, SCHED_PT_MAX + 1);
	e2e_fill(first, first_len, (uint32_t)run->seed);
	e2e_pair_open(&s->pair, 2 * run->seed + 1, 2 * run->seed + 2, first, first_len);
	totals->delivered++;

	unsigned n_events =
	        SCHED_EVENTS_MIN + sched_below(s, SCHED_EVENTS_MAX - SCHED_EVENTS_MIN + 1);
	for (run->event = 0; run->event < n_events; run->event++) {
		enum sched_event ev = sched_pick(s);
		if (s->trace)
			print_message("event %u: %s (sent %u, in flight %u)\n", run->event,
			              sched_event_names[ev], s->n_sent, s->n_flight);
		sched_event(s, ev);
	}
	totals->events += n_events;
	sched_finish(s);
	e2e_pair_close(&s->pair);
	totals->schedules++;
}

static void schedule__every_original_once__random_loss_reorder_replay_tamper(void **state)
{
	struct sched_run *run = *state;
	struct sched_totals totals = {0};
	struct sched *s = calloc(1, sizeof(*s));
	const char *only = getenv("SOTTO_SCHEDULE_SEED");

	assert_non_null(s);
	if (only != NULL) {
		run->seed = strtoull(only, NULL, 0);
		sched_run_one(run, s, &totals, true);
	} else {
		for (unsigned i = 0; i < SCHED_COUNT; i++) {
			run->seed = SCHED_BASE_SEED + i;
			sched_run_one(run, s, &totals, false);
		}
		assert_int_equal(totals.schedules, SCHED_COUNT);
	}
	run->done = true;
	free(s);
	print_message("schedules %lu, events %lu, sent %lu, delivered %lu (handshake first "
	              "messages included), duplicates/replays rejected %lu, tampered rejected %lu, "
	              "dropped %lu, reordered %lu, restarts %lu, DH steps %lu\n",
	              totals.schedules, totals.events, totals.sent, totals.delivered,
	              totals.duplicates_rejected, totals.tampered_rejected, totals.dropped,
	              totals.reordered, totals.restarts, totals.dh_steps);
	/* Each kind of event must really have happened, or the schedule tests nothing. */
	assert_true(only != NULL ||
	            (totals.duplicates_rejected > 1000 && totals.tampered_rejected > 1000 &&
	             totals.dropped > 1000 && totals.reordered > 1000 && totals.restarts > 1000 &&
	             totals.dh_steps > 10000));
}

static int sched_setup(void **state)
{
	struct sched_run *run = calloc(1, sizeof(*run));
	if (run == NULL)
		return -1;
	*state = run;
	return 0;
}

static int sched_teardown(void **state)
{
	struct sched_run *run = *state;
	if (!run->done)
		print_error("failing schedule: seed %" PRIu64 " at event %u; rerun it alone with "
		            "SOTTO_SCHEDULE_SEED=%" PRIu64 "\n",
		            run->seed, run->event, run->seed);
	free(run);
	return 0;
}

/* ---- skip bounds ---- */

/* n messages from r, plaintext i of each tagged with base + i. */
static struct e2e_msg *skip_send(struct ratchet *r, unsigned n, uint32_t base)
{
	struct e2e_msg *m = calloc(n, sizeof(*m));
	uint8_t pt[SKIP_PT_LEN];

	assert_non_null(m);
	for (unsigned i = 0; i < n; i++) {
		e2e_fill(pt, sizeof(pt), base + i);
		e2e_send(r, pt, sizeof(pt), &m[i]);
	}
	return m;
}

static void skip_recv(struct ratchet *r, const struct e2e_msg *m, uint32_t tag)
{
	uint8_t pt[SKIP_PT_LEN];
	e2e_fill(pt, sizeof(pt), tag);
	e2e_recv_ok(r, m, pt, sizeof(pt));
}

static size_t skip_stored(const struct ratchet *r)
{
	size_t len = ratchet_serialized_len(r);
	assert_int_equal((len - RATCHET_STATE_BASE_LEN) % RATCHET_SKIPPED_ENTRY_LEN, 0);
	return (len - RATCHET_STATE_BASE_LEN) / RATCHET_SKIPPED_ENTRY_LEN;
}

static const uint8_t skip_first[] = "first";

/* Same receiving chain: Nr = 1, so n = 514 skips 513 and n = 513 skips exactly 512. */
static void ratchet_decrypt__too_far_ahead__skip_over_max_in_current_chain(void **state)
{
	struct e2e_pair p;
	(void)state;

	e2e_pair_open(&p, 11, 12, skip_first, sizeof(skip_first));
	struct e2e_msg *x = skip_send(p.inviter.r, RATCHET_MAX_SKIP + 3, 0);
	skip_recv(p.joiner.r, &x[0], 0);
	assert_int_equal(e2e_recv_err(p.joiner.r, x[RATCHET_MAX_SKIP + 2].bytes,
	                              x[RATCHET_MAX_SKIP + 2].len),
	                 SOTTO_ERR_TOO_FAR_AHEAD);
	skip_recv(p.joiner.r, &x[RATCHET_MAX_SKIP + 1], RATCHET_MAX_SKIP + 1);
	assert_int_equal(skip_stored(p.joiner.r), RATCHET_MAX_SKIP);
	skip_recv(p.joiner.r, &x[RATCHET_MAX_SKIP + 2], RATCHET_MAX_SKIP + 2);
	for (unsigned i = 1; i <= RATCHET_MAX_SKIP; i++)
		skip_recv(p.joiner.r, &x[i], i);
	assert_int_equal(skip_stored(p.joiner.r), 0);
	free(x);
	e2e_pair_close(&p);
}

/* The first message of a new chain: its n counts from 0 in the new chain. */
static void ratchet_decrypt__too_far_ahead__skip_over_max_in_new_chain(void **state)
{
	struct e2e_pair p;
	(void)state;

	e2e_pair_open(&p, 13, 14, skip_first, sizeof(skip_first));
	struct e2e_msg *x = skip_send(p.inviter.r, RATCHET_MAX_SKIP + 2, 0);
	assert_int_equal(e2e_recv_err(p.joiner.r, x[RATCHET_MAX_SKIP + 1].bytes,
	                              x[RATCHET_MAX_SKIP + 1].len),
	                 SOTTO_ERR_TOO_FAR_AHEAD);
	skip_recv(p.joiner.r, &x[RATCHET_MAX_SKIP], RATCHET_MAX_SKIP);
	assert_int_equal(skip_stored(p.joiner.r), RATCHET_MAX_SKIP);
	skip_recv(p.joiner.r, &x[RATCHET_MAX_SKIP + 1], RATCHET_MAX_SKIP + 1);
	for (unsigned i = 0; i < RATCHET_MAX_SKIP; i++)
		skip_recv(p.joiner.r, &x[i], i);
	assert_int_equal(skip_stored(p.joiner.r), 0);
	free(x);
	e2e_pair_close(&p);
}

/*
 * The inviter sends x0..x(n_old-1), the joiner reads only x0 and replies; the
 * inviter's next chain carries PN = n_old. Returns the old chain's messages.
 */
static struct e2e_msg *skip_old_chain(struct e2e_pair *p, unsigned n_old)
{
	struct e2e_msg *x = skip_send(p->inviter.r, n_old, 0);
	struct e2e_msg y;
	uint8_t pt[SKIP_PT_LEN];

	skip_recv(p->joiner.r, &x[0], 0);
	e2e_fill(pt, sizeof(pt), 0x7777);
	e2e_send(p->joiner.r, pt, sizeof(pt), &y);
	e2e_recv_ok(p->inviter.r, &y, pt, sizeof(pt));
	return x;
}

/* Receiving a new chain first skips the old one up to PN: 513 left there is too many. */
static void ratchet_decrypt__too_far_ahead__previous_chain_pn_over_max(void **state)
{
	struct e2e_pair p;
	(void)state;

	e2e_pair_open(&p, 15, 16, skip_first, sizeof(skip_first));
	struct e2e_msg *x = skip_old_chain(&p, RATCHET_MAX_SKIP + 2); /* Nr = 1, PN = 514 */
	struct e2e_msg *z = skip_send(p.inviter.r, 1, 10000);
	assert_int_equal(e2e_recv_err(p.joiner.r, z[0].bytes, z[0].len), SOTTO_ERR_TOO_FAR_AHEAD);
	skip_recv(p.joiner.r, &x[1], 1); /* now Nr = 2: exactly 512 left */
	skip_recv(p.joiner.r, &z[0], 10000);
	assert_int_equal(skip_stored(p.joiner.r), RATCHET_MAX_SKIP);
	for (unsigned i = 2; i < RATCHET_MAX_SKIP + 2; i++)
		skip_recv(p.joiner.r, &x[i], i);
	assert_int_equal(skip_stored(p.joiner.r), 0);
	free(x);
	free(z);
	e2e_pair_close(&p);
}

/* The bound is per chain: 512 skipped in the old chain plus 400 in the new one is fine. */
static void ratchet_decrypt__ok__max_skip_in_old_chain_and_skip_in_new(void **state)
{
	enum { NEW_SKIP = 400 };
	struct e2e_pair p;
	(void)state;

	e2e_pair_open(&p, 17, 18, skip_first, sizeof(skip_first));
	struct e2e_msg *x = skip_old_chain(&p, RATCHET_MAX_SKIP + 1);
	struct e2e_msg *z = skip_send(p.inviter.r, NEW_SKIP + 1, 10000);
	skip_recv(p.joiner.r, &z[NEW_SKIP], 10000 + NEW_SKIP);
	assert_int_equal(skip_stored(p.joiner.r), RATCHET_MAX_SKIP + NEW_SKIP);
	for (unsigned i = 1; i <= RATCHET_MAX_SKIP; i++)
		skip_recv(p.joiner.r, &x[i], i);
	for (unsigned i = 0; i < NEW_SKIP; i++)
		skip_recv(p.joiner.r, &z[i], 10000 + i);
	assert_int_equal(skip_stored(p.joiner.r), 0);
	free(x);
	free(z);
	e2e_pair_close(&p);
}

/*
 * Three chains of 400 skipped keys each: the store keeps the newest 1000, so
 * the first 200 of the oldest chain are gone (SOTTO_ERR_AUTH, state
 * unchanged) and every other skipped message still decrypts, in any order
 * and across a restart of the receiver.
 */
static void ratchet_decrypt__evicts_oldest__skipped_store_over_max(void **state)
{
	enum { PER_CHAIN = 400, EVICTED = 3 * PER_CHAIN - RATCHET_SKIPPED_MAX };
	struct e2e_pair p;
	struct e2e_msg *chain[3];
	uint8_t pt[SKIP_PT_LEN];
	struct e2e_msg y;
	(void)state;

	e2e_pair_open(&p, 19, 20, skip_first, sizeof(skip_first));
	for (unsigned c = 0; c < 3; c++) {
		chain[c] = skip_send(p.inviter.r, PER_CHAIN + 1, 1000 * c);
		skip_recv(p.joiner.r, &chain[c][PER_CHAIN], 1000 * c + PER_CHAIN);
		/* A reply makes the inviter start its next chain. */
		e2e_fill(pt, sizeof(pt), 0x5151);
		e2e_send(p.joiner.r, pt, sizeof(pt), &y);
		e2e_recv_ok(p.inviter.r, &y, pt, sizeof(pt));
	}
	assert_int_equal(skip_stored(p.joiner.r), RATCHET_SKIPPED_MAX);
	for (unsigned i = 0; i < EVICTED; i++)
		assert_int_equal(e2e_recv_err(p.joiner.r, chain[0][i].bytes, chain[0][i].len),
		                 SOTTO_ERR_AUTH);
	/* The rest arrive in a seeded random order, with a restart half way. */
	unsigned order[3 * PER_CHAIN], n = 0;
	uint64_t prng = 0x0e71c7;
	for (unsigned k = EVICTED; k < 3 * PER_CHAIN; k++)
		order[n++] = k;
	for (unsigned k = n - 1; k > 0; k--) {
		unsigned j = (unsigned)(splitmix64(&prng) % (k + 1)), t = order[k];
		order[k] = order[j];
		order[j] = t;
	}
	for (unsigned k = 0; k < n; k++) {
		if (k == n / 2) {
			struct ratchet *copy = e2e_copy(p.joiner.ctx, p.joiner.r);
			ratchet_free(p.joiner.r);
			p.joiner.r = copy;
		}
		unsigned c = order[k] / PER_CHAIN, i = order[k] % PER_CHAIN;
		skip_recv(p.joiner.r, &chain[c][i], 1000 * c + i);
		assert_int_equal(skip_stored(p.joiner.r), RATCHET_SKIPPED_MAX - k - 1);
	}
	for (unsigned c = 0; c < 3; c++)
		free(chain[c]);
	e2e_pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(
	                schedule__every_original_once__random_loss_reorder_replay_tamper,
	                sched_setup, sched_teardown),
	        cmocka_unit_test(ratchet_decrypt__too_far_ahead__skip_over_max_in_current_chain),
	        cmocka_unit_test(ratchet_decrypt__too_far_ahead__skip_over_max_in_new_chain),
	        cmocka_unit_test(ratchet_decrypt__too_far_ahead__previous_chain_pn_over_max),
	        cmocka_unit_test(ratchet_decrypt__ok__max_skip_in_old_chain_and_skip_in_new),
	        cmocka_unit_test(ratchet_decrypt__evicts_oldest__skipped_store_over_max),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
