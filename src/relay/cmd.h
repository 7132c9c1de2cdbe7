/* SPDX-License-Identifier: MIT */
/*
 * cmd.h - the relay protocol codec (relay layer): batches, commands,
 * responses, command MACs, the queue key derivations and the MSG delivery
 * encryption of docs/protocol.md chapter 4.
 *
 * Both sides use it: the relay parses commands and encodes responses; clients,
 * tests and benchmarks encode commands and parse responses. It does no I/O,
 * touches no store and never allocates: parsers borrow from their input (every
 * pointer in a parsed struct points into the bytes given to the parser and is
 * valid as long as they are), encoders fill caller buffers. Every parse goes
 * through wire/reader.h and every encode through wire/writer.h.
 *
 * Parsing is strict: a transmission parses only if it is exactly the encoding
 * its own fields would produce, so parse and encode are inverses. A command
 * whose header is readable but whose code or body is wrong still yields its
 * corr, so the relay can answer ERR CMD or ERR LARGE to it (see
 * relay_cmd_parse).
 */
#ifndef SOTTO_RELAY_CMD_H
#define SOTTO_RELAY_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sotto/sotto.h>

#include "relay/limits.h"

/* Command codes (§4.3); values are wire values and never reused. */
enum relay_cmd_code {
	RELAY_CMD_NEW = 1,
	RELAY_CMD_KEY = 2,
	RELAY_CMD_SKEY = 3,
	RELAY_CMD_SEND = 4,
	RELAY_CMD_SUB = 5,
	RELAY_CMD_GET = 6,
	RELAY_CMD_ACK = 7,
	RELAY_CMD_OFF = 8,
	RELAY_CMD_DEL = 9,
	RELAY_CMD_PING = 10,
};

/* Response codes (§4.3). */
enum relay_resp_code {
	RELAY_RESP_IDS = 64,
	RELAY_RESP_OK = 65,
	RELAY_RESP_MSG = 66,
	RELAY_RESP_NONE = 67,
	RELAY_RESP_END = 68,
	RELAY_RESP_ERR = 69,
	RELAY_RESP_PONG = 70,
};

/* The body of ERR (§4.3). RELAY_ERR_NONE is not a wire value: "no error". */
enum relay_err {
	RELAY_ERR_NONE = 0,
	RELAY_ERR_AUTH = 1,
	RELAY_ERR_QUOTA = 2,
	RELAY_ERR_LARGE = 3,
	RELAY_ERR_BLOCK = 4,
	RELAY_ERR_INTERNAL = 5,
	RELAY_ERR_CMD = 6,
	RELAY_ERR_NO_MSG = 7,
	RELAY_ERR_RATE = 8,
};

/* SEND flags (protocol.md §4.3); every other bit is CMD. */
enum {
	RELAY_SEND_RESUME = 1u << 0, /* go on after a QUOTA (§4.4); not stored */
	RELAY_SEND_FLAGS_KNOWN = RELAY_SEND_RESUME,
};

enum {
	RELAY_SESSION_ID_LEN = 64, /* the transport's handshake hash (NET_SESSION_ID_LEN) */
	RELAY_CMD_MAC_OFFSET = 32, /* the MAC covers transmission[32..) (SEND: up to its body) */
	RELAY_SEND_OVERHEAD = RELAY_CMD_HEADER_LEN + 1 + 2, /* header, flags, body length */
	RELAY_SEND_COVERED_LEN =
	        RELAY_SEND_OVERHEAD - RELAY_CMD_MAC_OFFSET,           /* a SEND's MAC input */
	RELAY_CMD_MAX_LEN = RELAY_SEND_OVERHEAD + RELAY_MSG_BODY_MAX, /* the longest command */
	RELAY_IDS_BODY_LEN = 2 * RELAY_ID_LEN + 2 * RELAY_KEY_LEN,
	RELAY_DELIVERY_PLAIN_MIN = 8 + 1 + 2, /* timestamp, flags, body length */
	/* MSG transmission = RELAY_MSG_OVERHEAD + body_len */
	RELAY_MSG_OVERHEAD = RELAY_RESP_HEADER_LEN + RELAY_MSG_ID_LEN + RELAY_DELIVERY_PLAIN_MIN +
	                     RELAY_DELIVERY_TAG_LEN,
	RELAY_RESP_MAX_LEN = RELAY_MSG_OVERHEAD + RELAY_MSG_BODY_MAX, /* the longest response */
	RELAY_TX_MAX = RELAY_BLOCK_CONTENT_MAX - 1 - 2, /* the longest transmission in a batch */
};

/* ---- Batches (§4.2) ---- */

/* One transmission of a batch, borrowed from the block content. */
struct relay_tx {
	const uint8_t *buf; /* borrowed from the parsed content */
	size_t len;         /* bytes, <= RELAY_TX_MAX */
};

struct relay_batch {
	size_t n_tx;                         /* 1..RELAY_BATCH_MAX once parsed */
	struct relay_tx tx[RELAY_BATCH_MAX]; /* the first n_tx are set */
};

/*
 * Splits one block's content (N, then N times lp16(transmission)) into out.
 * out is cleared first. The whole block is one unit: a count outside
 * 1..RELAY_BATCH_MAX, a length running past the content, trailing bytes or
 * content over RELAY_BLOCK_CONTENT_MAX all fail it (out->n_tx stays 0).
 * Errors: SOTTO_ERR_PROTOCOL.
 */
SOTTO_NODISCARD sotto_err relay_batch_parse(struct relay_batch *out,
                                            const uint8_t *SOTTO_NULLABLE content,
                                            size_t content_len);

/*
 * Builds a batch in caller storage of RELAY_BLOCK_CONTENT_MAX bytes. The
 * count byte is patched on every append, so buf[0 .. len) is always a
 * complete batch once n_tx >= 1. Transparent so it can live on the stack or in
 * a connection; use only the functions below to change it.
 */
struct relay_batch_writer {
	uint8_t *buf; /* borrowed, RELAY_BLOCK_CONTENT_MAX bytes */
	size_t len;   /* content bytes so far, count byte included */
	size_t n_tx;  /* transmissions appended, <= RELAY_BATCH_MAX */
};

/* Starts an empty batch in buf (writes the count byte 0). */
void relay_batch_writer_init(struct relay_batch_writer *bw,
                             uint8_t buf[static RELAY_BLOCK_CONTENT_MAX]);

/* True if one more transmission of tx_len bytes fits (room and count). */
bool relay_batch_writer_fits(const struct relay_batch_writer *bw, size_t tx_len);

/* The longest transmission that still fits; 0 also when the count is full. */
size_t relay_batch_writer_room(const struct relay_batch_writer *bw);

/* True while no transmission has been appended (such content is not sendable). */
bool relay_batch_writer_is_empty(const struct relay_batch_writer *bw);

/*
 * Appends lp16(tx) (tx is copied). Nothing changes on failure.
 * Errors: SOTTO_ERR_TOO_LARGE (does not fit: start another block).
 */
SOTTO_NODISCARD sotto_err relay_batch_writer_add(struct relay_batch_writer *bw,
                                                 const uint8_t *SOTTO_NULLABLE tx, size_t tx_len);

/*
 * Zero-copy append, in two steps: slot() returns where the next
 * transmission's bytes go and sets *cap to relay_batch_writer_room() (NULL and
 * 0 when nothing fits); an encoder writes there; commit(tx_len) then adds the
 * length prefix and counts it. Bytes written to a slot that is not committed
 * are ignored. commit errors: SOTTO_ERR_TOO_LARGE (tx_len > room; nothing
 * changes).
 */
uint8_t *relay_batch_writer_slot(struct relay_batch_writer *bw, size_t *cap);
SOTTO_NODISCARD sotto_err relay_batch_writer_commit(struct relay_batch_writer *bw, size_t tx_len);

/*
 * *content_len = bytes of buf to send as the block content (0 first).
 * Errors: SOTTO_ERR_STATE (no transmission yet: an empty batch is invalid).
 */
SOTTO_NODISCARD sotto_err relay_batch_writer_finish(const struct relay_batch_writer *bw,
                                                    size_t *content_len);

/* ---- Keys and MACs (§4.1, §4.2) ---- */

/*
 * From Sr = DH(srk_priv, rk) = DH(rk_priv, srk): K_rauth and K_deliver.
 * From Ss = DH(ssk_priv, sk) = DH(sk_priv, ssk): K_sauth.
 * Outputs are zeroed first and on failure; the caller wipes them after use.
 * Errors: SOTTO_ERR_INTERNAL (the KDF refused; cannot happen).
 */
SOTTO_NODISCARD sotto_err relay_derive_recipient(uint8_t k_rauth[static RELAY_KEY_LEN],
                                                 uint8_t k_deliver[static RELAY_KEY_LEN],
                                                 const uint8_t sr[static RELAY_KEY_LEN]);
SOTTO_NODISCARD sotto_err relay_derive_sender(uint8_t k_sauth[static RELAY_KEY_LEN],
                                              const uint8_t ss[static RELAY_KEY_LEN]);

/*
 * The same, DH included: priv is our X25519 private key, pub the peer's
 * public key (relay: srk_priv/ssk_priv with rk/sk; clients the reverse). The
 * shared secret is wiped before return.
 * Errors: SOTTO_ERR_WEAK_KEY (pub is a low-order point), SOTTO_ERR_INTERNAL.
 */
SOTTO_NODISCARD sotto_err relay_keys_recipient(uint8_t k_rauth[static RELAY_KEY_LEN],
                                               uint8_t k_deliver[static RELAY_KEY_LEN],
                                               const uint8_t priv[static RELAY_KEY_LEN],
                                               const uint8_t pub[static RELAY_KEY_LEN]);
SOTTO_NODISCARD sotto_err relay_keys_sender(uint8_t k_sauth[static RELAY_KEY_LEN],
                                            const uint8_t priv[static RELAY_KEY_LEN],
                                            const uint8_t pub[static RELAY_KEY_LEN]);

/*
 * out = BLAKE2b-256(key = key, session_id || covered), covered being
 * transmission[32..), except for SEND: transmission[32..64), everything
 * up to and including the body's length but not the body (the transport's
 * AEAD already binds the body to the session; docs/protocol.md §4.2). out
 * is zeroed first.
 * Errors: SOTTO_ERR_TOO_LARGE (covered_len > RELAY_CMD_MAX_LEN - 32),
 * SOTTO_ERR_INTERNAL.
 */
SOTTO_NODISCARD sotto_err relay_mac(uint8_t out[static RELAY_MAC_LEN],
                                    const uint8_t key[static RELAY_KEY_LEN],
                                    const uint8_t session_id[static RELAY_SESSION_ID_LEN],
                                    const uint8_t *SOTTO_NULLABLE covered, size_t covered_len);

/*
 * Recomputes the MAC and compares it with mac in constant time. Costs the same
 * whatever mac holds (an all-zero mac simply fails), so a relay can call it
 * with a dummy key for an unknown entity to make AUTH take the same work.
 * Errors: SOTTO_ERR_AUTH (mismatch, or covered too long).
 */
SOTTO_NODISCARD sotto_err relay_mac_verify(const uint8_t mac[static RELAY_MAC_LEN],
                                           const uint8_t key[static RELAY_KEY_LEN],
                                           const uint8_t session_id[static RELAY_SESSION_ID_LEN],
                                           const uint8_t *SOTTO_NULLABLE covered,
                                           size_t covered_len);

/* ---- Commands, client -> relay (§4.2, §4.3) ---- */

/*
 * One command. relay_cmd_parse fills it from a transmission (pointers borrow
 * from it); relay_cmd_encode writes one (covered and err are ignored there).
 * Body fields not used by code are zero.
 */
struct relay_cmd {
	uint8_t mac[RELAY_MAC_LEN];   /* as received; zero for unauthorised commands */
	uint32_t corr;                /* chosen by the client, echoed in the answer */
	uint8_t code;                 /* enum relay_cmd_code (raw byte when unknown) */
	uint8_t entity[RELAY_ID_LEN]; /* RID or SID; zero for NEW and PING */
	const uint8_t
	        *covered;   /* transmission[32..) (SEND: [32..64)), borrowed: what the MAC covers */
	size_t covered_len; /* bytes at covered */
	enum relay_err err; /* RELAY_ERR_NONE, or what to answer a bad command */
	uint8_t key[RELAY_KEY_LEN];       /* NEW: rk; KEY, SKEY: sk */
	uint8_t msg_id[RELAY_MSG_ID_LEN]; /* ACK */
	uint8_t flags;                    /* SEND: RELAY_SEND_* bits */
	const uint8_t *body;              /* SEND body, borrowed (non-NULL when parsed) */
	size_t body_len;                  /* SEND, <= RELAY_MSG_BODY_MAX */
};

/*
 * Zeroes cmd and sets code, corr and entity (NULL: all zero), ready for the
 * body fields and relay_cmd_encode.
 */
void relay_cmd_init(struct relay_cmd *cmd, enum relay_cmd_code code, uint32_t corr,
                    const uint8_t *SOTTO_NULLABLE entity);

/*
 * Parses one client transmission into out (cleared first).
 * SOTTO_OK: a well-formed command; out->err is RELAY_ERR_NONE. The MAC is not
 * checked here (the relay picks the key from the entity: relay_cmd_verify).
 * SOTTO_ERR_PROTOCOL: out->err says what to answer, and out->corr,
 * out->code, out->entity and out->mac are set whenever the 61-byte header
 * was readable:
 *   RELAY_ERR_BLOCK  shorter than the header (corr unknown, left 0);
 *   RELAY_ERR_LARGE  a SEND body length over RELAY_MSG_BODY_MAX;
 *   RELAY_ERR_CMD    an unknown code, a body of the wrong size or shape,
 *                    unknown SEND flag bits, or a non-zero entity or MAC on
 *                    NEW or PING.
 */
SOTTO_NODISCARD sotto_err relay_cmd_parse(struct relay_cmd *out, const uint8_t *SOTTO_NULLABLE tx,
                                          size_t tx_len);

/*
 * Checks a parsed command's MAC under key (K_rauth or K_sauth) and the
 * session id. Errors: SOTTO_ERR_AUTH.
 */
SOTTO_NODISCARD sotto_err relay_cmd_verify(const struct relay_cmd *cmd,
                                           const uint8_t key[static RELAY_KEY_LEN],
                                           const uint8_t session_id[static RELAY_SESSION_ID_LEN]);

/* Bytes relay_cmd_encode writes for cmd (0 for an unknown code or a body over the limit). */
size_t relay_cmd_len(const struct relay_cmd *cmd);

/*
 * Encodes cmd into out (cap bytes); *out_len = bytes written (0 first). With
 * mac_key, the MAC is computed over session_id || out[32..) (session_id must
 * then be non-NULL); without, cmd->mac is written as is (zero after
 * relay_cmd_init). Refuses what relay_cmd_parse would reject.
 * Errors: SOTTO_ERR_INVALID (unknown code, unknown SEND flag bits, entity or MAC on
 * NEW/PING, a mac_key for NEW/PING, mac_key without session_id),
 * SOTTO_ERR_TOO_LARGE (cap too small, body over RELAY_MSG_BODY_MAX).
 */
SOTTO_NODISCARD sotto_err relay_cmd_encode(uint8_t *out, size_t cap, size_t *out_len,
                                           const struct relay_cmd *cmd,
                                           const uint8_t *SOTTO_NULLABLE mac_key,
                                           const uint8_t *SOTTO_NULLABLE session_id);

/* ---- Responses, relay -> client (§4.2, §4.3) ---- */

/* The decrypted content of a MSG (§4.3). */
struct relay_msg {
	uint64_t timestamp;  /* set by the relay when it stored the message */
	uint8_t flags;       /* the SEND flags; 0 */
	const uint8_t *body; /* borrowed (from the SEND, or the caller's plaintext buffer) */
	size_t body_len;     /* <= RELAY_MSG_BODY_MAX */
};

/* One response. Body fields not used by code are zero. */
struct relay_resp {
	uint32_t corr;                    /* of the command answered; 0 for pushed MSG and END */
	uint8_t code;                     /* enum relay_resp_code */
	uint8_t entity[RELAY_ID_LEN];     /* the queue concerned; zero for IDS and PONG */
	uint8_t rid[RELAY_ID_LEN];        /* IDS */
	uint8_t sid[RELAY_ID_LEN];        /* IDS */
	uint8_t srk[RELAY_KEY_LEN];       /* IDS */
	uint8_t ssk[RELAY_KEY_LEN];       /* IDS */
	uint8_t err;                      /* ERR: enum relay_err, 1..8 */
	uint8_t msg_id[RELAY_MSG_ID_LEN]; /* MSG: id and delivery nonce */
	const uint8_t *sealed;            /* MSG: AEAD ciphertext with tag, borrowed */
	size_t sealed_len;                /* bytes at sealed */
};

/*
 * Parses one relay transmission into out (cleared first). Strict: exact body
 * sizes, a known code and ERR code, zero entity on IDS and PONG, corr 0 on
 * END, a MSG ciphertext between the sizes of an empty and a maximal body.
 * Errors: SOTTO_ERR_PROTOCOL.
 */
SOTTO_NODISCARD sotto_err relay_resp_parse(struct relay_resp *out, const uint8_t *SOTTO_NULLABLE tx,
                                           size_t tx_len);

/* Bytes relay_resp_encode writes for resp (0 for an unknown code). */
size_t relay_resp_len(const struct relay_resp *resp);

/* Bytes of a MSG transmission carrying body_len body bytes (0 if over RELAY_MSG_BODY_MAX). */
size_t relay_resp_msg_len(size_t body_len);

/*
 * Encodes resp as given (a MSG's sealed bytes are copied, not encrypted: see
 * relay_resp_encode_msg). *out_len = bytes written (0 first). Refuses what
 * relay_resp_parse would reject.
 * Errors: SOTTO_ERR_INVALID (not well formed), SOTTO_ERR_TOO_LARGE (cap).
 */
SOTTO_NODISCARD sotto_err relay_resp_encode(uint8_t *out, size_t cap, size_t *out_len,
                                            const struct relay_resp *resp);

/*
 * Relay-side shorthands; each writes one transmission into out (cap bytes)
 * and sets *out_len (0 first). entity NULL means all zero.
 *   relay_resp_encode_simple: OK, NONE, END (corr must be 0) or PONG
 *                             (entity must be NULL or zero);
 *   relay_resp_encode_err: ERR with code err (1..8);
 *   relay_resp_encode_ids: IDS answering NEW.
 * Errors: SOTTO_ERR_INVALID (a code or field the parser would reject),
 * SOTTO_ERR_TOO_LARGE (cap).
 */
SOTTO_NODISCARD sotto_err relay_resp_encode_simple(uint8_t *out, size_t cap, size_t *out_len,
                                                   enum relay_resp_code code, uint32_t corr,
                                                   const uint8_t *SOTTO_NULLABLE entity);
SOTTO_NODISCARD sotto_err relay_resp_encode_err(uint8_t *out, size_t cap, size_t *out_len,
                                                uint32_t corr, const uint8_t *SOTTO_NULLABLE entity,
                                                enum relay_err err);
SOTTO_NODISCARD sotto_err relay_resp_encode_ids(uint8_t *out, size_t cap, size_t *out_len,
                                                uint32_t corr,
                                                const uint8_t rid[static RELAY_ID_LEN],
                                                const uint8_t sid[static RELAY_ID_LEN],
                                                const uint8_t srk[static RELAY_KEY_LEN],
                                                const uint8_t ssk[static RELAY_KEY_LEN]);

/*
 * Encodes a MSG for queue rid: header (corr, MSG, rid), msg_id, then
 * XChaCha20-Poly1305(k_deliver, nonce = msg_id, ad = rid,
 * timestamp || flags || lp16(body)), built and encrypted in place in out, so
 * the recipient's bytes share nothing with the sender's. msg->body must not
 * overlap out. *out_len =
 * relay_resp_msg_len(msg->body_len) on success (0 first).
 * Errors: SOTTO_ERR_TOO_LARGE (body or cap), SOTTO_ERR_INVALID (non-zero
 * flags), SOTTO_ERR_INTERNAL.
 */
SOTTO_NODISCARD sotto_err relay_resp_encode_msg(uint8_t *out, size_t cap, size_t *out_len,
                                                uint32_t corr,
                                                const uint8_t rid[static RELAY_ID_LEN],
                                                const uint8_t msg_id[static RELAY_MSG_ID_LEN],
                                                const uint8_t k_deliver[static RELAY_KEY_LEN],
                                                const struct relay_msg *msg);

/*
 * Client side: decrypts a parsed MSG (resp->code == RELAY_RESP_MSG) under
 * k_deliver into plain (caller storage) and parses it into out; out->body
 * borrows from plain. out and plain are cleared first, and plain is zeroed
 * again on failure.
 * Errors: SOTTO_ERR_AUTH (wrong key, queue or tampered bytes),
 * SOTTO_ERR_PROTOCOL (authentic but malformed plaintext), SOTTO_ERR_INVALID
 * (resp is not a MSG).
 */
SOTTO_NODISCARD sotto_err relay_msg_open(struct relay_msg *out,
                                         uint8_t plain[static RELAY_DELIVERY_PLAIN_MAX],
                                         const struct relay_resp *resp,
                                         const uint8_t k_deliver[static RELAY_KEY_LEN]);

#endif /* SOTTO_RELAY_CMD_H */
