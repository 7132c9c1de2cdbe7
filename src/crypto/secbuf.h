/* SPDX-License-Identifier: MIT */
/*
 * secbuf.h - a buffer for long-lived secrets (crypto layer).
 *
 * Backed by the context's secure allocator (sodium_malloc by default: guard
 * pages, canary, locked against swapping). secbuf_free() wipes the bytes
 * before returning them, whatever allocator is in use. A secbuf never grows:
 * a bigger secret gets a new secbuf, so no stale copy is left in the heap.
 */
#ifndef SOTTO_CRYPTO_SECBUF_H
#define SOTTO_CRYPTO_SECBUF_H

#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

struct secbuf;

/*
 * Makes a zero-filled secret buffer of len bytes (len > 0). *out is set to
 * NULL first; on success it owns the buffer.
 * Errors: SOTTO_ERR_INVALID (len 0), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err secbuf_new(struct sotto_ctx *ctx, size_t len, struct secbuf **out);

/* Wipes and frees b; NULL does nothing. */
void secbuf_free(struct secbuf *SOTTO_NULLABLE b);

/* The bytes of b, valid until secbuf_free(b). */
uint8_t *secbuf_data(struct secbuf *b);

/* The length b was made with. */
size_t secbuf_len(const struct secbuf *b);

#endif /* SOTTO_CRYPTO_SECBUF_H */
