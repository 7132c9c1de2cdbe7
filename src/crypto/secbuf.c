/* SPDX-License-Identifier: MIT */
/*
 * secbuf.c - buffers for long-lived secrets (crypto layer).
 *
 * The handle (context pointer and length, nothing secret) comes from the
 * ordinary allocator and the secret bytes from the context's secure allocator:
 * sodium_malloc places a region against a guard page and does not align it,
 * so keeping the handle out of that region avoids unaligned field access.
 * Invariant: a live secbuf always owns exactly len secure bytes, and they are
 * wiped before they are returned, whatever the secure allocator does itself.
 */
#include <sodium.h>

#include "core/ctx.h"
#include "crypto/secbuf.h"

struct secbuf {
	struct sotto_ctx *ctx; /* borrowed; must outlive the buffer */
	uint8_t *data;         /* owned; len bytes from ctx_secure_alloc */
	size_t len;            /* bytes */
};

sotto_err secbuf_new(struct sotto_ctx *ctx, size_t len, struct secbuf **out)
{
	struct secbuf *b = NULL;
	sotto_err rc;

	*out = NULL;
	if (len == 0) {
		rc = SOTTO_ERR_INVALID;
		goto out;
	}
	b = ctx_alloc(ctx, sizeof(*b));
	if (b == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	b->ctx = ctx;
	b->len = len;
	b->data = ctx_secure_alloc(ctx, len);
	if (b->data == NULL) {
		rc = SOTTO_ERR_NOMEM;
		goto out;
	}
	sodium_memzero(b->data, len);
	*out = b;
	b = NULL; /* moved */
	rc = SOTTO_OK;
out:
	if (b != NULL)
		ctx_free(ctx, b);
	return rc;
}

void secbuf_free(struct secbuf *b)
{
	if (b == NULL)
		return;
	struct sotto_ctx *ctx = b->ctx;
	sodium_memzero(b->data, b->len);
	ctx_secure_free(ctx, b->data);
	ctx_free(ctx, b);
}

uint8_t *secbuf_data(struct secbuf *b)
{
	return b->data;
}

size_t secbuf_len(const struct secbuf *b)
{
	return b->len;
}
