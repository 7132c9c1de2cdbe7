/* SPDX-License-Identifier: MIT */
/*
 * core_fuzz.c - libFuzzer target for the relay core (test code, not in
 * libsotto).
 *
 * The input is a sequence of records, each fed as one block content to one
 * of two clients, with a flush (commit, then answers) after each:
 *
 *   offset  size  field
 *   0       1     client: even 0, odd 1
 *   1       2     L, big-endian (clamped to what is left)
 *   3       L     the block content
 *
 * Then every message is expired and the clients and the core are freed.
 * The store lives in a temporary directory made once per process; the RNG
 * restarts from the same seed for every input, and every queue an input
 * created is deleted afterwards, so an input always meets the same empty
 * store and replays the same: a corpus entry built with the codec (whose
 * MACs use the session ids below and the keys the relay will derive) drives
 * the authorised paths too. Every block the core emits must be a valid batch
 * of valid responses. A violated invariant calls abort(), which is how a
 * fuzz target reports.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>
#include <sotto/sotto.h>

#include "core/bytes.h"
#include "relay/cmd.h"
#include "relay/core.h"
#include "relay/store.h"

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

enum {
	N_CLIENTS = 2,
	RIDS_MAX = N_CLIENTS * RELAY_NEW_PER_MINUTE_DEFAULT, /* NEW an input can make */
	FUZZ_WALL_S = 1700000000,
	RECORD_HEADER_LEN = 3,
};

/* Session ids of the two clients: corpus entries MAC their commands under these. */
static const uint8_t fuzz_session_byte[N_CLIENTS] = {0x11, 0x22};

/* Per-process state (the target runs single-threaded). */
static struct {
	bool is_ready;
	char dir[64];
	char store_dir[96];
	sotto_ctx *ctx;
	struct relay_store *store;
	uint64_t rng_counter; /* restarts at 0 for every input */
	uint64_t clock_ms;
	uint64_t wall_s;
	uint8_t rids[RIDS_MAX][RELAY_ID_LEN]; /* queues the current input created */
	size_t n_rids;
	/* Sees every response; the corpus generator sets it, fuzzing leaves it NULL. */
	void (*observe)(unsigned client, const struct relay_resp *resp);
} fz;

/* Deterministic RNG: libsodium's seeded stream, one seed per draw. */
static void fuzz_rng(void *user, uint8_t *buf, size_t len)
{
	uint8_t seed[randombytes_SEEDBYTES] = {0x5e, 0xed};

	(void)user;
	bytes_store_le64(seed + 8, fz.rng_counter++);
	randombytes_buf_deterministic(buf, len, seed);
}

static uint64_t fuzz_clock(void *user)
{
	return *(uint64_t *)user;
}

/* At exit: close the store and remove its directory. */
static void fuzz_fini(void)
{
	static const char *const names[] = {"relay.db", "relay.db-wal", "relay.db-shm"};
	char path[160];

	relay_store_free(fz.store);
	sotto_ctx_free(fz.ctx);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", fz.store_dir, names[i]);
		(void)unlink(path);
	}
	(void)rmdir(fz.store_dir);
	(void)rmdir(fz.dir);
}

static void fuzz_init(void)
{
	struct sotto_ctx_config cfg = {
	        .rng = fuzz_rng, .clock = fuzz_clock, .clock_user = &fz.clock_ms};

	snprintf(fz.dir, sizeof(fz.dir), "/tmp/sotto-core-fuzz-XXXXXX");
	CHECK(mkdtemp(fz.dir) != NULL);
	snprintf(fz.store_dir, sizeof(fz.store_dir), "%s/relay", fz.dir);
	CHECK(sotto_ctx_new(&fz.ctx, &cfg) == SOTTO_OK);
	CHECK(relay_store_new(fz.ctx, fz.store_dir, NULL, &fz.store) == SOTTO_OK);
	fz.wall_s = FUZZ_WALL_S;
	fz.is_ready = true;
	CHECK(atexit(fuzz_fini) == 0);
}

static sotto_err fuzz_output(void *user, const uint8_t *content, size_t len)
{
	unsigned client = (unsigned)(uintptr_t)user;
	struct relay_batch batch;
	struct relay_resp r;

	CHECK(relay_batch_parse(&batch, content, len) == SOTTO_OK);
	for (size_t i = 0; i < batch.n_tx; i++) {
		CHECK(relay_resp_parse(&r, batch.tx[i].buf, batch.tx[i].len) == SOTTO_OK);
		if (r.code == RELAY_RESP_IDS) {
			CHECK(fz.n_rids < RIDS_MAX);
			memcpy(fz.rids[fz.n_rids++], r.rid, RELAY_ID_LEN);
		}
		if (fz.observe != NULL)
			fz.observe(client, &r);
	}
	return SOTTO_OK;
}

/* Deletes every queue the input created: the next input meets an empty store. */
static void fuzz_clean_store(void)
{
	for (size_t i = 0; i < fz.n_rids; i++) {
		sotto_err rc = relay_store_queue_delete(fz.store, fz.rids[i]);
		CHECK(rc == SOTTO_OK || rc == SOTTO_ERR_NOT_FOUND);
	}
	fz.n_rids = 0;
}

static void fuzz_feed(struct relay_client *const *clients, struct relay_core *core,
                      const uint8_t *data, size_t size)
{
	while (size >= RECORD_HEADER_LEN) {
		unsigned who = data[0] % N_CLIENTS;
		size_t len = bytes_load_be16(data + 1);
		sotto_err rc;

		data += RECORD_HEADER_LEN;
		size -= RECORD_HEADER_LEN;
		if (len > size)
			len = size;
		rc = relay_client_feed(clients[who], data, len);
		CHECK(rc == SOTTO_OK); /* our output never fails, so no client dies */
		CHECK(relay_core_flush(core) == SOTTO_OK);
		data += len;
		size -= len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_core_config cfg = {.wall_clock = fuzz_clock, .wall_clock_user = &fz.wall_s};
	struct relay_client *clients[N_CLIENTS] = {NULL, NULL};
	uint8_t session_id[RELAY_SESSION_ID_LEN];
	struct relay_core *core = NULL;
	uint32_t n_expired;

	if (!fz.is_ready)
		fuzz_init();
	fz.rng_counter = 0;
	fz.n_rids = 0;
	CHECK(relay_core_new(fz.ctx, fz.store, &cfg, &core) == SOTTO_OK);
	for (unsigned i = 0; i < N_CLIENTS; i++) {
		memset(session_id, fuzz_session_byte[i], sizeof(session_id));
		CHECK(relay_client_new(core, session_id, fuzz_output, (void *)(uintptr_t)i,
		                       &clients[i]) == SOTTO_OK);
	}
	fuzz_feed(clients, core, data, size);
	CHECK(relay_core_expire(core, FUZZ_WALL_S + RELAY_TTL_S_DEFAULT + 1, &n_expired) ==
	      SOTTO_OK);
	CHECK(relay_core_flush(core) == SOTTO_OK);
	for (unsigned i = 0; i < N_CLIENTS; i++)
		relay_client_free(clients[i]);
	relay_core_free(core);
	fuzz_clean_store();
	return 0;
}
