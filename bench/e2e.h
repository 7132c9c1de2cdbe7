/* SPDX-License-Identifier: MIT */
/*
 * e2e.h - the interface every end-to-end implementation fills for bench/e2e.
 *
 * bench/e2e measures, in one run, the cost of the same end-to-end work done
 * by several libraries: a session setup (both halves of the key agreement plus
 * the first message), one-direction messages, and ping-pong messages where
 * every message turns the Double Ratchet. Each implementation is one
 * `const struct e2e_impl` in its own file; e2e_main.c lists them in one table
 * and owns everything else (timing, message patterns, output), so a new
 * implementation never touches the harness.
 *
 * Two parties, Alice and Bob, live inside one implementation state and talk
 * through memory: every operation counts BOTH sides' work, including the
 * state serialisation a real client must do to persist the session after it
 * changes. Every operation checks its result (the decrypted plaintext equals
 * what was sent) and returns non-zero on any failure; the harness then stops
 * the whole run, because a benchmark that stops checking results measures
 * nothing. Implementations may print one line on stderr saying why.
 */
#ifndef SOTTO_BENCH_E2E_H
#define SOTTO_BENCH_E2E_H

#include <stddef.h>
#include <stdint.h>

/* The largest plaintext the harness sends: the 16 KiB message. */
enum { E2E_MSG_MAX = 16384 };

/* Who sends one message; the other party receives it. */
enum e2e_dir {
	E2E_ALICE_TO_BOB = 0,
	E2E_BOB_TO_ALICE = 1,
};

/*
 * Byte counts of the last operation, for the report. wire_len is what would
 * travel between the parties (the serialised ciphertext message as the
 * library hands it out); the state lengths are what each side persisted
 * after it (the serialised session, in the library's own storage format);
 * published_len is what Bob made public for a new session (his pre-key
 * bundle or invitation, as the bytes Alice needs).
 */
struct e2e_sizes {
	size_t wire_len;           /* bytes of the last message sent */
	size_t sender_state_len;   /* bytes of the sender's persisted session */
	size_t receiver_state_len; /* bytes of the receiver's persisted session */
	size_t published_len;      /* session_setup(): Bob's published half; send(): 0 */
};

/*
 * One implementation. Every function returns 0 on success and non-zero on
 * any failure. Only the functions marked "timed" are inside the measured
 * loops; the others prepare or check state around them.
 */
struct e2e_impl {
	const char *name;  /* short table name, e.g. "signal" */
	const char *notes; /* one sentence: what each operation counts */

	/* The library and versions measured, e.g. "libolm 3.2.13"; static storage. */
	const char *(*version)(void);

	/*
	 * Untimed. Makes a fresh state in *st: whatever a device makes once in
	 * its life (accounts, long-term identities, library contexts).
	 */
	int (*create)(void **st);

	/* Untimed. Frees everything create() made; NULL does nothing. */
	void (*destroy)(void *st);

	/*
	 * Timed (op "session setup"). Makes a new session between Alice and
	 * Bob, dropping any previous one: Bob's published half (what he makes
	 * per new contact), Alice's half, Alice encrypts msg as the first
	 * message, Bob completes his half and decrypts it, and both persist
	 * what changed. Leaves a session in which Bob has received one message.
	 */
	int (*session_setup)(void *st, const uint8_t *msg, size_t len);

	/*
	 * Untimed. Makes a fresh session in the steady state the message
	 * operations start from: set up, and answered once by Bob, so that
	 * neither side still sends first-message (pre-key) framing.
	 */
	int (*establish)(void *st);

	/*
	 * Timed (ops "one-way" and "ping-pong"). Delivers msg (len at most
	 * E2E_MSG_MAX) in direction dir on the established session: the
	 * sender encrypts and persists its state, the receiver decrypts,
	 * checks the plaintext equals msg and persists its state.
	 */
	int (*send)(void *st, enum e2e_dir dir, const uint8_t *msg, size_t len);

	/* Untimed. Byte counts of the last session_setup() or send(). */
	void (*last_sizes)(const void *st, struct e2e_sizes *out);

	/*
	 * Untimed, may be NULL. Proves the persisted state is complete: both
	 * sides are rebuilt from the bytes they last persisted alone, and
	 * then exchange one message each way, Bob first (after a setup Alice
	 * has had no reply yet). Called after every timed loop.
	 */
	int (*verify_persisted)(void *st);
};

/* The implementations; e2e_main.c lists the ones built in its table. */
extern const struct e2e_impl e2e_signal;
extern const struct e2e_impl e2e_olm;
#ifdef E2E_HAVE_SOTTO
extern const struct e2e_impl e2e_sotto;
extern const struct e2e_impl e2e_sotto_plain;
#endif
#ifdef E2E_HAVE_SODIUM_FLOOR
extern const struct e2e_impl e2e_sodium_floor;
#endif

#endif /* SOTTO_BENCH_E2E_H */
