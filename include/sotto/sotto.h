/* SPDX-License-Identifier: MIT */
/*
 * sotto.h - the installed API of libsotto.
 *
 * Everything a program embedding sotto sees: the error vocabulary shared by
 * every layer, and the context that carries all state (allocator, RNG,
 * clock, logger). Handles are opaque; plain configuration values are small
 * transparent structs. Only functions marked SOTTO_API are exported from the
 * shared library, and all of them start with "sotto_".
 *
 * Threading: a context and everything made from it is used by one thread at a
 * time. sotto_strerror() and sotto_version() are safe from any thread.
 */
#ifndef SOTTO_SOTTO_H
#define SOTTO_SOTTO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define SOTTO_API __attribute__((visibility("default")))
#define SOTTO_NODISCARD __attribute__((warn_unused_result))
#else
#define SOTTO_API
#define SOTTO_NODISCARD
#endif

/*
 * Only pointers that may be NULL are marked; an unmarked pointer must not be
 * NULL. Marking just those is clang's "incomplete" nullability, and the
 * keyword itself is an extension, so both warnings are silenced for this
 * header (and by the build for the library's own headers).
 */
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wnullability-extension"
#pragma clang diagnostic ignored "-Wnullability-completeness"
#define SOTTO_NULLABLE _Nullable
#else
#define SOTTO_NULLABLE
#endif

/*
 * Every fallible function returns one of these. Values are part of the ABI:
 * they are numbered explicitly and never reused.
 */
enum sotto_err {
	SOTTO_OK = 0,
	SOTTO_ERR_NOMEM = 1,           /* an allocation failed */
	SOTTO_ERR_INVALID = 2,         /* a caller passed a bad argument */
	SOTTO_ERR_INTERNAL = 3,        /* one of our invariants broke */
	SOTTO_ERR_AUTH = 4,            /* authentication or decryption failed */
	SOTTO_ERR_CORRUPT = 5,         /* stored data is malformed */
	SOTTO_ERR_PROTOCOL = 6,        /* a peer broke the protocol */
	SOTTO_ERR_TRUNCATED = 7,       /* input ended early */
	SOTTO_ERR_TOO_LARGE = 8,       /* a length exceeds its limit */
	SOTTO_ERR_VERSION = 9,         /* no common protocol version */
	SOTTO_ERR_NONCE_EXHAUSTED = 10, /* a cipher used its last nonce */
	SOTTO_ERR_WEAK_KEY = 11,       /* a DH produced the all-zero secret */
	SOTTO_ERR_ADDR_SCHEME = 12,    /* relay address does not start sotto:// */
	SOTTO_ERR_ADDR_KEY = 13,       /* relay address key is not 32 bytes */
	SOTTO_ERR_ADDR_HOST = 14,      /* relay address host missing or bad */
	SOTTO_ERR_ADDR_PORT = 15,      /* relay address port missing or bad */
	SOTTO_ERR_TIMEOUT = 16,        /* a peer did not answer in time */
	SOTTO_ERR_CLOSED = 17,         /* the peer closed the connection */
	SOTTO_ERR_IO = 18,             /* a socket operation failed */
	SOTTO_ERR_CONNECT = 19,        /* could not connect to the peer */
	SOTTO_ERR_RESOLVE = 20,        /* the host name did not resolve */
	SOTTO_ERR_BUSY = 21,           /* a bounded queue is full */
	SOTTO_ERR_STATE = 22,          /* the object is in the wrong state */
	SOTTO_ERR_FRAME_SIZE = 23,     /* a frame had the wrong length */
	SOTTO_ERR_CANCELLED = 24,      /* the operation was cancelled locally */
	SOTTO_ERR_TRAILING = 25,       /* bytes left over after a complete value */
	SOTTO_ERR_ENCODING = 26,       /* malformed text encoding (base64url, hex) */
	SOTTO_ERR_TOO_FAR_AHEAD = 27,  /* a message skips more messages than allowed */
	SOTTO_ERR_USED = 28,           /* a one-time object was already used */
	SOTTO_ERR_NOT_FOUND = 29,      /* no such record */
};
typedef enum sotto_err sotto_err;

/* A short English description of err; never NULL. Thread-safe. */
SOTTO_API const char *sotto_strerror(sotto_err err);

/* The library version as "MAJOR.MINOR.PATCH". Thread-safe. */
SOTTO_API const char *sotto_version(void);

/*
 * Memory. alloc/free serve ordinary memory; secure_alloc/secure_free serve
 * memory for long-lived secrets (guard pages, no swap). Any hook may be NULL
 * to take the default (libc malloc, libsodium sodium_malloc), but
 * secure_alloc and secure_free go together: both or neither. The default
 * secure allocator keeps a few freed regions, wiped, for reuse. alloc may
 * return NULL; the library then returns SOTTO_ERR_NOMEM and never aborts.
 */
struct sotto_allocator {
	void *(*alloc)(void *user, size_t size);
	void (*free)(void *user, void *ptr);
	void *(*secure_alloc)(void *user, size_t size);
	void (*secure_free)(void *user, void *ptr);
	void *user; /* passed to every hook; borrowed */
};

/*
 * Fills buf with len random bytes. Without a hook the context uses its own
 * ChaCha20 generator with fast key erasure, seeded from the operating system
 * through libsodium and safe across fork().
 */
typedef void sotto_rng_fn(void *user, uint8_t *buf, size_t len);

/* Returns monotonic milliseconds. Production uses libuv's clock. */
typedef uint64_t sotto_clock_fn(void *user);

enum sotto_log_level {
	SOTTO_LOG_ERROR = 0,
	SOTTO_LOG_WARN = 1,
	SOTTO_LOG_INFO = 2,
	SOTTO_LOG_DEBUG = 3,
};

/* Receives one log line (no newline). Lines never carry secrets. */
typedef void sotto_log_fn(void *user, enum sotto_log_level level, const char *msg);

/* Everything a context is made from; zero fields take the defaults. */
struct sotto_ctx_config {
	const struct sotto_allocator *SOTTO_NULLABLE allocator; /* copied */
	sotto_rng_fn *SOTTO_NULLABLE rng;
	void *SOTTO_NULLABLE rng_user;
	sotto_clock_fn *SOTTO_NULLABLE clock;
	void *SOTTO_NULLABLE clock_user;
	sotto_log_fn *SOTTO_NULLABLE log; /* NULL: logging is off */
	void *SOTTO_NULLABLE log_user;
	enum sotto_log_level log_level; /* lines above this level are dropped */
};

typedef struct sotto_ctx sotto_ctx;

/*
 * Makes a context. config may be NULL for all defaults. *out is set to NULL
 * first and owns the new context on success.
 * Errors: SOTTO_ERR_INVALID (out NULL, or only one of the secure hooks),
 * SOTTO_ERR_NOMEM, SOTTO_ERR_INTERNAL (libsodium failed to initialise).
 */
SOTTO_API SOTTO_NODISCARD sotto_err sotto_ctx_new(sotto_ctx **out,
                                                  const struct sotto_ctx_config *SOTTO_NULLABLE config);

/* Frees a context; NULL does nothing. Everything made from it must be gone. */
SOTTO_API void sotto_ctx_free(sotto_ctx *SOTTO_NULLABLE ctx);

#ifdef __cplusplus
}
#endif

#if defined(__clang__)
#pragma clang diagnostic pop
#endif

#endif /* SOTTO_SOTTO_H */
