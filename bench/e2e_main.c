/* SPDX-License-Identifier: MIT */
/*
 * e2e_main.c - the harness of bench/e2e: runs every operation of every
 * registered end-to-end implementation for a fixed time and prints one
 * table (or one JSON object) with all of them, measured in the same run.
 *
 * Operations (each counts both parties' work, see e2e.h):
 *   setup        a new session: both halves of the key agreement + the
 *                first message (100 B), decrypted and checked
 *   one-way N    Alice -> Bob, N = 100, 1000 and 16384 bytes
 *   ping-pong    100 B, the direction alternating every message, so every
 *                message is a DH ratchet step on both sides
 * A message operation starts from a fresh established session, runs untimed
 * warm-up iterations, then the timed loop; after the loop the persisted
 * state is checked. Any failure of any call stops the run with exit 1.
 *
 * The ratio column divides each row's time per operation by the first
 * implementation's in the table, which is the baseline.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "e2e.h"

/*
 * The implementations compared, in table order; the first is the baseline
 * of the ratio column. bench/CMakeLists.txt compiles e2e_sotto.c and
 * e2e_sodium_floor.c when they exist and defines E2E_HAVE_SOTTO and
 * E2E_HAVE_SODIUM_FLOOR with them, so adding those files registers sotto
 * (the baseline) and the libsodium floor: nothing below changes.
 */
static const struct e2e_impl *const e2e_impls[] = {
#ifdef E2E_HAVE_SOTTO
        &e2e_sotto,        &e2e_sotto_plain,
#endif
#ifdef E2E_HAVE_SODIUM_FLOOR
        &e2e_sodium_floor,
#endif
        &e2e_signal,       &e2e_olm,
};

enum {
	N_IMPLS = sizeof e2e_impls / sizeof e2e_impls[0],
	WARMUP_MIN_ITERS = 20, /* Signal and Olm both keep 5 receiver chains: pass that */
};

enum op_kind { OP_SETUP, OP_ONE_WAY, OP_PING_PONG };

struct op_def {
	const char *key;   /* JSON name */
	const char *label; /* table name */
	enum op_kind kind;
	size_t len; /* plaintext bytes per message */
};

static const struct op_def ops[] = {
        {"setup", "session setup", OP_SETUP, 100},
        {"one_way_100", "one-way 100 B", OP_ONE_WAY, 100},
        {"one_way_1000", "one-way 1000 B", OP_ONE_WAY, 1000},
        {"one_way_16384", "one-way 16384 B", OP_ONE_WAY, 16384},
        {"ping_pong_100", "ping-pong 100 B", OP_PING_PONG, 100},
};

enum { N_OPS = sizeof ops / sizeof ops[0] };

struct result {
	uint64_t iters;
	double seconds;
	struct e2e_sizes sizes;
};

struct options {
	double seconds; /* timed run per operation per implementation */
	int json;
	int n_only; /* how many of only[] are set; 0 means every implementation */
	const char *only[N_IMPLS];
};

static double now_s(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The message sent: a fixed pattern, whose first 8 bytes hold the iteration. */
static uint8_t msg[E2E_MSG_MAX];

static void message_init(void)
{
	for (size_t k = 0; k < sizeof msg; k++)
		msg[k] = (uint8_t)(k * 131u + 7u);
}

/* Every message differs, so a decrypt that leaves stale output cannot pass. */
static void message_stamp(uint64_t i)
{
	for (size_t k = 0; k < 8; k++)
		msg[k] = (uint8_t)(i >> (8 * k));
}

/* One iteration of op; *dir is the next ping-pong direction. */
static int op_step(const struct e2e_impl *impl, void *st, const struct op_def *op,
                   enum e2e_dir *dir, uint64_t i)
{
	message_stamp(i);
	switch (op->kind) {
	case OP_SETUP: return impl->session_setup(st, msg, op->len);
	case OP_ONE_WAY: return impl->send(st, E2E_ALICE_TO_BOB, msg, op->len);
	case OP_PING_PONG: {
		enum e2e_dir d = *dir;
		*dir = d == E2E_ALICE_TO_BOB ? E2E_BOB_TO_ALICE : E2E_ALICE_TO_BOB;
		return impl->send(st, d, msg, op->len);
	}
	}
	return -1;
}

static int op_fail(const struct e2e_impl *impl, const struct op_def *op, const char *what,
                   uint64_t i)
{
	fprintf(stderr, "e2e: %s: %s: %s failed (iteration %" PRIu64 "); run stopped\n", impl->name,
	        op->label, what, i);
	return -1;
}

/* Runs op on impl: fresh session, warm-up, timed loop, check of the persisted state. */
static int op_run(const struct e2e_impl *impl, void *st, const struct op_def *op, double seconds,
                  struct result *r)
{
	/* establish() ends with Bob -> Alice, so ping-pong starts Alice -> Bob. */
	enum e2e_dir dir = E2E_ALICE_TO_BOB;
	double warm = seconds / 20, t0;
	uint64_t i = 0, n = 0;

	if (op->kind != OP_SETUP && impl->establish(st) != 0)
		return op_fail(impl, op, "establish", 0);
	t0 = now_s();
	do {
		if (op_step(impl, st, op, &dir, i++) != 0)
			return op_fail(impl, op, "warm-up", i - 1);
	} while (i < WARMUP_MIN_ITERS || now_s() - t0 < warm);
	t0 = now_s();
	do {
		if (op_step(impl, st, op, &dir, i++) != 0)
			return op_fail(impl, op, "timed run", i - 1);
		n++;
	} while ((r->seconds = now_s() - t0) < seconds);
	r->iters = n;
	impl->last_sizes(st, &r->sizes);
	if (impl->verify_persisted != NULL && impl->verify_persisted(st) != 0)
		return op_fail(impl, op, "check of the persisted state", i);
	return 0;
}

static double us_per_op(const struct result *r)
{
	return r->seconds * 1e6 / (double)r->iters;
}

/* Prints text word-wrapped to width columns, each line after indent. */
static void print_wrapped(const char *indent, const char *text, size_t width)
{
	while (*text != '\0') {
		size_t n = strlen(text), cut = n;
		if (n > width) {
			cut = width;
			while (cut > 0 && text[cut] != ' ')
				cut--;
			if (cut == 0)
				cut = width;
		}
		printf("%s%.*s\n", indent, (int)cut, text);
		text += cut;
		while (*text == ' ')
			text++;
	}
}

static void print_table(const struct e2e_impl *const *impls, int n_impls,
                        struct result res[N_OPS][N_IMPLS], const struct options *o)
{
	printf("bench/e2e: %.2f s per operation per implementation; both parties' work per op\n\n",
	       o->seconds);
	for (int k = 0; k < n_impls; k++) {
		printf("  %-11s %s\n", impls[k]->name, impls[k]->version());
		print_wrapped("           ", impls[k]->notes, 78);
	}
	printf("\n%-17s %-11s %12s %11s %9s %8s %9s %9s\n", "operation", "impl", "ops/s",
	       "\xc2\xb5s/op", "time/", "wire B", "state B", "state B");
	printf("%-17s %-11s %12s %10s %9.8s %8s %9s %9s\n", "", "", "", "", impls[0]->name, "",
	       "sender", "receiver");
	for (int j = 0; j < N_OPS; j++) {
		double base = us_per_op(&res[j][0]);
		for (int k = 0; k < n_impls; k++) {
			const struct result *r = &res[j][k];
			printf("%-17s %-11s %12.1f %10.2f %9.2f %8zu %9zu %9zu\n",
			       k == 0 ? ops[j].label : "", impls[k]->name,
			       (double)r->iters / r->seconds, us_per_op(r), us_per_op(r) / base,
			       r->sizes.wire_len, r->sizes.sender_state_len,
			       r->sizes.receiver_state_len);
		}
	}
	printf("\ntime/%s: time per operation divided by %s's (lower is faster). wire B: the\n"
	       "last message as the library serialises it (for setup: the first message);\n"
	       "state B: the session each side persisted after it, in the library's storage\n"
	       "format. Bytes Bob publishes per new session (bundle or invitation):",
	       impls[0]->name, impls[0]->name);
	for (int j = 0; j < N_OPS; j++)
		for (int k = 0; k < n_impls && ops[j].kind == OP_SETUP; k++)
			printf("%s %s %zu", k ? "," : "", impls[k]->name,
			       res[j][k].sizes.published_len);
	printf(".\n");
}

/* Prints s as a JSON string. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_json_result(const struct op_def *op, const struct e2e_impl *impl,
                              const struct result *r, double base)
{
	printf("{\"op\":");
	json_str(op->key);
	printf(",\"message_bytes\":%zu,\"impl\":", op->len);
	json_str(impl->name);
	printf(",\"iterations\":%" PRIu64 ",\"seconds\":%.6f,\"ops_per_s\":%.3f,"
	       "\"us_per_op\":%.4f,\"time_vs_baseline\":%.4f,\"wire_bytes\":%zu,"
	       "\"sender_state_bytes\":%zu,\"receiver_state_bytes\":%zu,"
	       "\"published_bytes\":%zu}",
	       r->iters, r->seconds, (double)r->iters / r->seconds, us_per_op(r),
	       us_per_op(r) / base, r->sizes.wire_len, r->sizes.sender_state_len,
	       r->sizes.receiver_state_len, r->sizes.published_len);
}

static void print_json(const struct e2e_impl *const *impls, int n_impls,
                       struct result res[N_OPS][N_IMPLS], const struct options *o)
{
	printf("{\"benchmark\":\"e2e\",\"seconds_per_op\":%.3f,\"baseline\":", o->seconds);
	json_str(impls[0]->name);
	printf(",\"implementations\":[");
	for (int k = 0; k < n_impls; k++) {
		printf("%s{\"name\":", k ? "," : "");
		json_str(impls[k]->name);
		printf(",\"version\":");
		json_str(impls[k]->version());
		printf(",\"notes\":");
		json_str(impls[k]->notes);
		putchar('}');
	}
	printf("],\"results\":[");
	for (int j = 0; j < N_OPS; j++) {
		for (int k = 0; k < n_impls; k++) {
			if (j + k > 0)
				putchar(',');
			print_json_result(&ops[j], impls[k], &res[j][k], us_per_op(&res[j][0]));
		}
	}
	printf("]}\n");
}

static void usage(FILE *f)
{
	fprintf(f, "usage: e2e [--seconds S] [--impl NAME]... [--json] [--help]\n"
	           "Compares end-to-end session setup, one-way messages (100, 1000, 16384 B) and\n"
	           "100 B ping-pong across implementations, in one run.\n"
	           "  --seconds S  timed run per operation per implementation (default 1)\n"
	           "  --impl NAME  run only this implementation (repeatable; first is baseline)\n"
	           "  --json       print one JSON object instead of the table\n"
	           "  --help       print this and exit\n"
	           "implementations built in:");
	for (int k = 0; k < N_IMPLS; k++)
		fprintf(f, " %s", e2e_impls[k]->name);
	fputc('\n', f);
}

/* Returns 0 to run, 1 to exit 0 (help), 2 on bad usage. */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.seconds = 1.0};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 1;
		} else if (strcmp(a, "--json") == 0) {
			o->json = 1;
		} else if (strcmp(a, "--seconds") == 0 && i + 1 < argc) {
			char *end = NULL;
			o->seconds = strtod(argv[++i], &end);
			if (end == argv[i] || *end != '\0' ||
			    !(o->seconds > 0 && o->seconds <= 3600))
				goto bad;
		} else if (strcmp(a, "--impl") == 0 && i + 1 < argc && o->n_only < N_IMPLS) {
			o->only[o->n_only++] = argv[++i];
		} else {
			goto bad;
		}
	}
	return 0;
bad:
	usage(stderr);
	return 2;
}

/* Fills impls with the implementations to run, in order; returns how many (0: bad name). */
static int select_impls(const struct options *o, const struct e2e_impl *impls[N_IMPLS])
{
	if (o->n_only == 0) {
		memcpy(impls, e2e_impls, sizeof e2e_impls);
		return N_IMPLS;
	}
	for (int i = 0; i < o->n_only; i++) {
		int k = 0;
		while (k < N_IMPLS && strcmp(e2e_impls[k]->name, o->only[i]) != 0)
			k++;
		if (k == N_IMPLS) {
			fprintf(stderr, "e2e: no implementation named %s\n", o->only[i]);
			return 0;
		}
		impls[i] = e2e_impls[k];
	}
	return o->n_only;
}

static struct result results[N_OPS][N_IMPLS];

int main(int argc, char **argv)
{
	struct options o;
	const struct e2e_impl *impls[N_IMPLS];
	void *st[N_IMPLS] = {0};
	int n_impls, rc = 1;

	if ((rc = parse_args(argc, argv, &o)) != 0)
		return rc == 1 ? 0 : 2;
	rc = 1;
	if ((n_impls = select_impls(&o, impls)) == 0)
		return 2;
	message_init();
	for (int k = 0; k < n_impls; k++)
		if (impls[k]->create(&st[k]) != 0) {
			fprintf(stderr, "e2e: %s: create failed; run stopped\n", impls[k]->name);
			goto out;
		}
	/* Operations outer, implementations inner: slow drift hits every row alike. */
	for (int j = 0; j < N_OPS; j++)
		for (int k = 0; k < n_impls; k++)
			if (op_run(impls[k], st[k], &ops[j], o.seconds, &results[j][k]) != 0)
				goto out;
	if (o.json)
		print_json(impls, n_impls, results, &o);
	else
		print_table(impls, n_impls, results, &o);
	rc = 0;
out:
	for (int k = 0; k < n_impls; k++)
		impls[k]->destroy(st[k]);
	return rc;
}
