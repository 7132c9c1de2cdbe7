/* SPDX-License-Identifier: MIT */
/*
 * limits.h - every size and bound of the end-to-end layer (proto layer).
 * The byte layouts these sizes come from are in docs/protocol.md, chapter 3.
 */
#ifndef SOTTO_PROTO_LIMITS_H
#define SOTTO_PROTO_LIMITS_H

enum {
	PROTO_KEY_LEN = 32,             /* X25519 keys, root/chain/header/message keys */
	PROTO_AD_LEN = 64,              /* the associated data AD */
	PROTO_VERSION_MIN = 1,          /* end-to-end versions this build speaks */
	PROTO_VERSION_MAX = 1,

	PROTO_INVITATION_TYPE = 1,
	PROTO_HELLO_TYPE = 2,
	PROTO_KEM_NONE = 0,
	PROTO_KEM_DATA_MAX = 2048,      /* room for a later ML-KEM-768 share (1184/1088) */
	PROTO_INVITATION_V1_LEN = 72,   /* with no KEM data */
	PROTO_HELLO_V1_LEN = 70,        /* header before the first ratchet message */

	RATCHET_VERSION = 1,
	RATCHET_HEADER_LEN = 40,        /* dh 32, pn 4, n 4 */
	RATCHET_NONCE_LEN = 24,
	RATCHET_TAG_LEN = 16,
	RATCHET_ENC_HEADER_LEN = 56,    /* header + tag */
	RATCHET_PREFIX_LEN = 105,       /* version, header nonce, enc header, body nonce */
	RATCHET_OVERHEAD = 121,         /* prefix + body tag */
	RATCHET_PLAINTEXT_MAX = 1 << 20, /* far above a relay block; bounds every buffer */

	RATCHET_MAX_SKIP = 512,         /* messages one message may skip in a chain */
	RATCHET_SKIPPED_MAX = 1000,     /* skipped keys stored over all chains */
	RATCHET_SKIPPED_ENTRY_LEN = 68, /* header key 32, n 4, message key 32 */
	RATCHET_STATE_BASE_LEN = 400,   /* serialised state without skipped keys */
	RATCHET_STATE_MAX = 400 + 68 * 1000,

	PROTO_CODE_GROUPS = 12,         /* security code: twelve groups of five digits */
	PROTO_CODE_TEXT_LEN = 12 * 5 + 11, /* digits and single spaces, no NUL */
};

#endif /* SOTTO_PROTO_LIMITS_H */
