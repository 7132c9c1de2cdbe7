/* SPDX-License-Identifier: MIT */
/*
 * ratchet_int.h - how a Double Ratchet session is born (proto layer,
 * private to ratchet.c, handshake.c and their tests).
 *
 * The key agreement (handshake.c, docs/protocol.md §3.4) ends with three
 * keys and the associated data; these two functions turn them into each
 * side's initial ratchet state exactly as §3.5 "Initial state" says. Tests
 * use them to build sessions from chosen keys without a handshake.
 */
#ifndef SOTTO_PROTO_RATCHET_INT_H
#define SOTTO_PROTO_RATCHET_INT_H

#include <stdint.h>

#include <sotto/sotto.h>

#include "crypto/x25519.h"
#include "proto/limits.h"
#include "proto/ratchet.h"

/* What §3.4 hands to §3.5. Secret: wipe with sodium_memzero after use. */
struct ratchet_init {
	uint8_t sk[PROTO_KEY_LEN];   /* SK, the first root key */
	uint8_t hkj[PROTO_KEY_LEN];  /* HKJ, the joiner's first sending header key */
	uint8_t nhki[PROTO_KEY_LEN]; /* NHKI, the inviter's first sending header key */
	uint8_t ad[PROTO_AD_LEN];    /* AD, bound into every message body */
};

/*
 * The joiner's ("Alice's") initial state: draws its first ratchet key pair
 * DHs from ctx's RNG, DHr = peer_key (the inviter's I2),
 * (RK, CKs, NHKs) = KDF_RK(SK, DH(DHs, I2)), HKs = HKJ, NHKr = NHKI.
 * *out is NULL first and owns the ratchet on success; init is only read.
 * Errors: SOTTO_ERR_WEAK_KEY (peer_key is a low-order point), SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err ratchet_new_joiner(struct sotto_ctx *ctx, const struct ratchet_init *init,
                                             const uint8_t peer_key[static PROTO_KEY_LEN],
                                             struct ratchet **out);

/*
 * The inviter's ("Bob's") initial state: DHs = own_key (I2, copied),
 * RK = SK, NHKs = NHKI, NHKr = HKJ; it can receive but not yet send.
 * *out is NULL first and owns the ratchet on success.
 * Errors: SOTTO_ERR_NOMEM.
 */
SOTTO_NODISCARD sotto_err ratchet_new_inviter(struct sotto_ctx *ctx,
                                              const struct ratchet_init *init,
                                              const struct x25519_keypair *own_key,
                                              struct ratchet **out);

#endif /* SOTTO_PROTO_RATCHET_INT_H */
