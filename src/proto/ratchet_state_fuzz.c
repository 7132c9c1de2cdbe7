/* SPDX-License-Identifier: MIT */
/*
 * ratchet_state_fuzz.c - fuzz target for ratchet_deserialize(), the parser
 * of the serialised session state (docs/protocol.md §3.7).
 *
 * Input: the bytes handed to ratchet_deserialize(), nothing else. The format
 * has exactly one encoding per state, so a state that parses must serialise
 * back to exactly the input bytes (ratchet_serialized_len() included), and
 * ratchet_ad() must be bytes 334..398. A rejection must be SOTTO_ERR_CORRUPT
 * (or SOTTO_ERR_NOMEM) with no ratchet handed out. Anything else abort()s.
 *
 * Seeds in fuzz/corpus/ratchet_state/: made once by a throwaway generator
 * that ran the scripted sessions of ratchet_decrypt_fuzz.c and serialised
 * both parties at several points (fresh joiner and inviter, a state holding
 * skipped keys, a state after several DH steps), plus near-valid variants:
 * each flag bit flipped, the skipped count off by one, truncated by one
 * byte, one trailing byte, a wrong version, a public key not matching its
 * private key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/ratchet.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { RS_AD_OFF = 334 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sotto_ctx *ctx = NULL;
	struct ratchet *r = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;

	if (sotto_ctx_new(&ctx, NULL) != SOTTO_OK)
		abort();
	sotto_err rc = ratchet_deserialize(ctx, data, size, &r);
	if (rc != SOTTO_OK) {
		if ((rc != SOTTO_ERR_CORRUPT && rc != SOTTO_ERR_NOMEM) || r != NULL)
			abort();
		sotto_ctx_free(ctx);
		return 0;
	}
	if (r == NULL || ratchet_serialized_len(r) != size || (out = malloc(size)) == NULL ||
	    ratchet_serialize(r, out, size, &out_len) != SOTTO_OK || out_len != size ||
	    memcmp(out, data, size) != 0 ||
	    memcmp(ratchet_ad(r), data + RS_AD_OFF, PROTO_AD_LEN) != 0)
		abort();
	/* One byte short of the state is too small a buffer. */
	if (ratchet_serialize(r, out, size - 1, &out_len) != SOTTO_ERR_TOO_LARGE)
		abort();
	free(out);
	ratchet_free(r);
	sotto_ctx_free(ctx);
	return 0;
}
