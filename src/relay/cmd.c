/* SPDX-License-Identifier: MIT */
/*
 * cmd.c - the relay protocol codec (relay layer): batches, commands,
 * responses, command MACs, queue key derivations and the MSG delivery
 * encryption (docs/protocol.md chapter 4).
 *
 * Batch (the content of one transport block, §4.2):
 *
 *   offset  size  field
 *   0       1     N, transmissions in the batch, 1..32
 *   1       ...   N times: u16 length, then that many bytes
 *
 * Client -> relay transmission:
 *
 *   offset  size  field
 *   0       32    mac (zero when the command takes no authorisation)
 *   32      4     corr
 *   36      1     command code
 *   37      24    entity: RID or SID, zero for NEW and PING
 *   61      ...   body: NEW/KEY/SKEY key (32); ACK msg_id (24);
 *                 SEND flags (1) || lp16(body <= 16,000); others none
 *
 * Relay -> client transmission:
 *
 *   offset  size  field
 *   0       4     corr (0 for pushed MSG and END)
 *   4       1     response code
 *   5       24    entity (zero for IDS and PONG)
 *   29      ...   body: IDS rid, sid, srk, ssk (112); ERR code (1);
 *                 MSG msg_id (24) || AEAD(timestamp 8 || flags 1 || lp16(body))
 *
 * Every field is checked; a transmission is accepted only if it is exactly
 * what the encoder makes of the parsed fields, so the relay and its clients
 * can never read one transmission two ways. The codec holds no state, and
 * the only secrets it touches (derived keys, DH outputs, MAC candidates) live
 * on the stack and are wiped before return.
 */
#include <string.h>

#include <sodium.h>

#include "core/err.h"
#include "crypto/aead.h"
#include "crypto/ct.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/x25519.h"
#include "net/limits.h"
#include "net/session.h"
#include "relay/cmd.h"
#include "wire/reader.h"
#include "wire/writer.h"

_Static_assert((int)RELAY_SESSION_ID_LEN == (int)NET_SESSION_ID_LEN, "session id");
_Static_assert((int)RELAY_BLOCK_CONTENT_MAX == (int)NET_BLOCK_CONTENT_MAX, "block content");
_Static_assert((int)RELAY_KEY_LEN == (int)X25519_KEY_LEN &&
                       (int)RELAY_KEY_LEN == (int)KDF_KEY_LEN &&
                       (int)RELAY_KEY_LEN == (int)AEAD_KEY_LEN,
               "key sizes");
_Static_assert((int)RELAY_MSG_ID_LEN == (int)AEAD_X_NONCE_LEN, "msg_id is the nonce");
_Static_assert((int)RELAY_DELIVERY_TAG_LEN == (int)AEAD_TAG_LEN, "tag");
_Static_assert((int)RELAY_CMD_HEADER_LEN == RELAY_MAC_LEN + RELAY_CORR_LEN + 1 + RELAY_ID_LEN,
               "command header");
_Static_assert((int)RELAY_RESP_HEADER_LEN == RELAY_CORR_LEN + 1 + RELAY_ID_LEN, "response header");
_Static_assert((int)RELAY_DELIVERY_PLAIN_MAX == RELAY_DELIVERY_PLAIN_MIN + RELAY_MSG_BODY_MAX,
               "delivery plaintext");
_Static_assert(RELAY_CMD_MAX_LEN <= RELAY_TX_MAX && RELAY_RESP_MAX_LEN <= RELAY_TX_MAX,
               "a maximal command and a maximal response each fit one block");
_Static_assert(RELAY_MSG_BODY_MAX <= UINT16_MAX, "lp16 body");

enum {
	BATCH_PREFIX_LEN = 2, /* u16 length before each transmission */
	/* Covered bytes of the longest command: everything after the MAC. */
	MAC_COVERED_MAX = RELAY_CMD_MAX_LEN - RELAY_CMD_MAC_OFFSET,
	SEALED_MIN = RELAY_DELIVERY_PLAIN_MIN + RELAY_DELIVERY_TAG_LEN,
	SEALED_MAX = RELAY_DELIVERY_PLAIN_MAX + RELAY_DELIVERY_TAG_LEN,
	BLAKE2B_256_LEN = 32,
};
_Static_assert((int)RELAY_MAC_LEN == (int)BLAKE2B_256_LEN, "mac");

/* §4.1 labels. */
#define LABEL_RAUTH   "sotto/relay/recipient-auth/v1"
#define LABEL_DELIVER "sotto/relay/deliver/v1"
#define LABEL_SAUTH   "sotto/relay/sender-auth/v1"

/* ---- Batches ---- */

sotto_err relay_batch_parse(struct relay_batch *out, const uint8_t *content, size_t content_len)
{
	struct wire_reader r;
	size_t n, i;

	memset(out, 0, sizeof(*out));
	if (content_len > RELAY_BLOCK_CONTENT_MAX)
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	wire_reader_init(&r, content, content_len);
	n = wire_reader_u8(&r);
	if (wire_reader_error(&r) != SOTTO_OK || n == 0 || n > RELAY_BATCH_MAX)
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	for (i = 0; i < n; i++)
		out->tx[i].buf = wire_reader_lp16(&r, RELAY_TX_MAX, &out->tx[i].len);
	if (wire_reader_finish(&r) != SOTTO_OK) {
		memset(out, 0, sizeof(*out));
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	}
	out->n_tx = n;
	return SOTTO_OK;
}

void relay_batch_writer_init(struct relay_batch_writer *bw,
                             uint8_t buf[static RELAY_BLOCK_CONTENT_MAX])
{
	bw->buf = buf;
	bw->buf[0] = 0;
	bw->len = 1;
	bw->n_tx = 0;
}

/* True if a length prefix still fits and the count is not full. */
static bool batch_has_slot(const struct relay_batch_writer *bw)
{
	return bw->n_tx < RELAY_BATCH_MAX && bw->len + BATCH_PREFIX_LEN <= RELAY_BLOCK_CONTENT_MAX;
}

size_t relay_batch_writer_room(const struct relay_batch_writer *bw)
{
	if (!batch_has_slot(bw))
		return 0;
	return RELAY_BLOCK_CONTENT_MAX - bw->len - BATCH_PREFIX_LEN;
}

bool relay_batch_writer_fits(const struct relay_batch_writer *bw, size_t tx_len)
{
	return batch_has_slot(bw) && tx_len <= relay_batch_writer_room(bw);
}

bool relay_batch_writer_is_empty(const struct relay_batch_writer *bw)
{
	return bw->n_tx == 0;
}

sotto_err relay_batch_writer_add(struct relay_batch_writer *bw, const uint8_t *tx, size_t tx_len)
{
	struct wire_writer w;
	size_t n;
	sotto_err rc;

	if (!relay_batch_writer_fits(bw, tx_len))
		return SOTTO_ERR_TOO_LARGE;
	wire_writer_init(&w, bw->buf + bw->len, RELAY_BLOCK_CONTENT_MAX - bw->len);
	wire_writer_lp16(&w, tx, tx_len, RELAY_TX_MAX);
	if ((rc = wire_writer_finish(&w, &n)) != SOTTO_OK)
		return rc;
	bw->len += n;
	bw->n_tx++;
	bw->buf[0] = (uint8_t)bw->n_tx;
	return SOTTO_OK;
}

uint8_t *relay_batch_writer_slot(struct relay_batch_writer *bw, size_t *cap)
{
	*cap = 0;
	if (!batch_has_slot(bw))
		return NULL;
	*cap = relay_batch_writer_room(bw);
	return bw->buf + bw->len + BATCH_PREFIX_LEN;
}

sotto_err relay_batch_writer_commit(struct relay_batch_writer *bw, size_t tx_len)
{
	struct wire_writer w;
	sotto_err rc;

	if (!relay_batch_writer_fits(bw, tx_len))
		return SOTTO_ERR_TOO_LARGE;
	wire_writer_init(&w, bw->buf + bw->len, BATCH_PREFIX_LEN);
	wire_writer_u16(&w, (uint16_t)tx_len);
	if ((rc = wire_writer_finish(&w, NULL)) != SOTTO_OK)
		return rc;
	bw->len += BATCH_PREFIX_LEN + tx_len;
	bw->n_tx++;
	bw->buf[0] = (uint8_t)bw->n_tx;
	return SOTTO_OK;
}

sotto_err relay_batch_writer_finish(const struct relay_batch_writer *bw, size_t *content_len)
{
	*content_len = 0;
	if (bw->n_tx == 0)
		return SOTTO_ERR_STATE;
	*content_len = bw->len;
	return SOTTO_OK;
}

/* ---- Keys and MACs ---- */

sotto_err relay_derive_recipient(uint8_t k_rauth[static RELAY_KEY_LEN],
                                 uint8_t k_deliver[static RELAY_KEY_LEN],
                                 const uint8_t sr[static RELAY_KEY_LEN])
{
	sotto_err rc;

	sodium_memzero(k_rauth, RELAY_KEY_LEN);
	sodium_memzero(k_deliver, RELAY_KEY_LEN);
	/* K_rauth, K_deliver: kdf_derive with an empty context (§4.1). */
	if ((rc = kdf_derive(k_rauth, RELAY_KEY_LEN, sr, LABEL_RAUTH, sr, 0)) != SOTTO_OK)
		goto out;
	if ((rc = kdf_derive(k_deliver, RELAY_KEY_LEN, sr, LABEL_DELIVER, sr, 0)) != SOTTO_OK)
		goto out;
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK) {
		sodium_memzero(k_rauth, RELAY_KEY_LEN);
		sodium_memzero(k_deliver, RELAY_KEY_LEN);
		rc = SOTTO_ERR_INTERNAL;
	}
	return rc;
}

sotto_err relay_derive_sender(uint8_t k_sauth[static RELAY_KEY_LEN],
                              const uint8_t ss[static RELAY_KEY_LEN])
{
	sotto_err rc;

	sodium_memzero(k_sauth, RELAY_KEY_LEN);
	/* K_sauth (§4.1). */
	rc = kdf_derive(k_sauth, RELAY_KEY_LEN, ss, LABEL_SAUTH, ss, 0);
	if (rc != SOTTO_OK) {
		sodium_memzero(k_sauth, RELAY_KEY_LEN);
		rc = SOTTO_ERR_INTERNAL;
	}
	return rc;
}

sotto_err relay_keys_recipient(uint8_t k_rauth[static RELAY_KEY_LEN],
                               uint8_t k_deliver[static RELAY_KEY_LEN],
                               const uint8_t priv[static RELAY_KEY_LEN],
                               const uint8_t pub[static RELAY_KEY_LEN])
{
	uint8_t sr[X25519_SHARED_LEN];
	sotto_err rc;

	sodium_memzero(k_rauth, RELAY_KEY_LEN);
	sodium_memzero(k_deliver, RELAY_KEY_LEN);
	/* Sr = DH(srk_priv, rk) = DH(rk_priv, srk) */
	if ((rc = x25519_dh(sr, priv, pub)) != SOTTO_OK)
		goto out;
	if ((rc = relay_derive_recipient(k_rauth, k_deliver, sr)) != SOTTO_OK)
		goto out;
	rc = SOTTO_OK;
out:
	sodium_memzero(sr, sizeof(sr));
	return rc;
}

sotto_err relay_keys_sender(uint8_t k_sauth[static RELAY_KEY_LEN],
                            const uint8_t priv[static RELAY_KEY_LEN],
                            const uint8_t pub[static RELAY_KEY_LEN])
{
	uint8_t ss[X25519_SHARED_LEN];
	sotto_err rc;

	sodium_memzero(k_sauth, RELAY_KEY_LEN);
	/* Ss = DH(ssk_priv, sk) = DH(sk_priv, ssk) */
	if ((rc = x25519_dh(ss, priv, pub)) != SOTTO_OK)
		goto out;
	if ((rc = relay_derive_sender(k_sauth, ss)) != SOTTO_OK)
		goto out;
	rc = SOTTO_OK;
out:
	sodium_memzero(ss, sizeof(ss));
	return rc;
}

sotto_err relay_mac(uint8_t out[static RELAY_MAC_LEN], const uint8_t key[static RELAY_KEY_LEN],
                    const uint8_t session_id[static RELAY_SESSION_ID_LEN], const uint8_t *covered,
                    size_t covered_len)
{
	/*
	 * crypto/ offers keyed BLAKE2b only over contiguous input, so the MAC
	 * input is assembled here. It is public (the session id is a transcript
	 * hash, the covered bytes travel in the command), so it is not wiped.
	 */
	uint8_t in[RELAY_SESSION_ID_LEN + MAC_COVERED_MAX];
	sotto_err rc;

	sodium_memzero(out, RELAY_MAC_LEN);
	if (covered_len > MAC_COVERED_MAX)
		return SOTTO_ERR_TOO_LARGE;
	memcpy(in, session_id, RELAY_SESSION_ID_LEN);
	if (covered_len > 0)
		memcpy(in + RELAY_SESSION_ID_LEN, covered, covered_len);
	/* mac = BLAKE2b-256(key = K, session_id || transmission[32..)) */
	rc = blake2b(out, RELAY_MAC_LEN, in, RELAY_SESSION_ID_LEN + covered_len, key,
	             RELAY_KEY_LEN);
	if (rc != SOTTO_OK) {
		sodium_memzero(out, RELAY_MAC_LEN);
		return SOTTO_ERR_INTERNAL;
	}
	return SOTTO_OK;
}

sotto_err relay_mac_verify(const uint8_t mac[static RELAY_MAC_LEN],
                           const uint8_t key[static RELAY_KEY_LEN],
                           const uint8_t session_id[static RELAY_SESSION_ID_LEN],
                           const uint8_t *covered, size_t covered_len)
{
	uint8_t expect[RELAY_MAC_LEN];
	sotto_err rc;

	rc = relay_mac(expect, key, session_id, covered, covered_len);
	if (rc != SOTTO_OK || !ct_equal(expect, mac, RELAY_MAC_LEN))
		rc = SOTTO_ERR_AUTH;
	sodium_memzero(expect, sizeof(expect));
	return rc;
}

/* ---- Commands ---- */

/*
 * How many bytes from transmission[32] the MAC covers: all of them, except
 * that a SEND's body is left out (its length is covered). Hashing 16 KB
 * per message would add nothing: only the two ends of the transport
 * session can put bytes into it, and the MAC's job is to bind the command
 * to the queue key and to that session.
 */
static size_t mac_covered_len(uint8_t code, size_t tx_len)
{
	if (code == RELAY_CMD_SEND && tx_len >= RELAY_SEND_OVERHEAD)
		return RELAY_SEND_COVERED_LEN;
	return tx_len - RELAY_CMD_MAC_OFFSET;
}

void relay_cmd_init(struct relay_cmd *cmd, enum relay_cmd_code code, uint32_t corr,
                    const uint8_t *entity)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->code = (uint8_t)code;
	cmd->corr = corr;
	if (entity != NULL)
		memcpy(cmd->entity, entity, RELAY_ID_LEN);
}

/* NEW and PING carry neither an entity nor a MAC. */
static bool cmd_is_anonymous(uint8_t code)
{
	return code == RELAY_CMD_NEW || code == RELAY_CMD_PING;
}

static bool cmd_header_is_valid(const struct relay_cmd *cmd)
{
	if (!cmd_is_anonymous(cmd->code))
		return true;
	return ct_is_zero(cmd->entity, RELAY_ID_LEN) && ct_is_zero(cmd->mac, RELAY_MAC_LEN);
}

/* SEND: flags (1, RELAY_SEND_* bits) || lp16(body), body <= RELAY_MSG_BODY_MAX. */
static enum relay_err cmd_parse_send(struct relay_cmd *cmd, struct wire_reader *r)
{
	cmd->flags = wire_reader_u8(r);
	cmd->body = wire_reader_lp16(r, RELAY_MSG_BODY_MAX, &cmd->body_len);
	/* The reader checks the limit before the bytes remaining. */
	if (wire_reader_error(r) == SOTTO_ERR_TOO_LARGE)
		return RELAY_ERR_LARGE;
	if (wire_reader_finish(r) != SOTTO_OK || (cmd->flags & ~RELAY_SEND_FLAGS_KNOWN) != 0)
		return RELAY_ERR_CMD;
	return RELAY_ERR_NONE;
}

static enum relay_err cmd_parse_body(struct relay_cmd *cmd, struct wire_reader *r)
{
	switch (cmd->code) {
	case RELAY_CMD_NEW:
	case RELAY_CMD_KEY:
	case RELAY_CMD_SKEY: wire_reader_copy(r, cmd->key, RELAY_KEY_LEN); break;
	case RELAY_CMD_ACK: wire_reader_copy(r, cmd->msg_id, RELAY_MSG_ID_LEN); break;
	case RELAY_CMD_SEND: return cmd_parse_send(cmd, r);
	case RELAY_CMD_SUB:
	case RELAY_CMD_GET:
	case RELAY_CMD_OFF:
	case RELAY_CMD_DEL:
	case RELAY_CMD_PING: break;
	default: return RELAY_ERR_CMD;
	}
	return wire_reader_finish(r) == SOTTO_OK ? RELAY_ERR_NONE : RELAY_ERR_CMD;
}

/* Drops every body field, keeps the header, records err. */
static sotto_err cmd_reject(struct relay_cmd *cmd, enum relay_err err)
{
	memset(cmd->key, 0, sizeof(cmd->key));
	memset(cmd->msg_id, 0, sizeof(cmd->msg_id));
	cmd->flags = 0;
	cmd->body = NULL;
	cmd->body_len = 0;
	cmd->err = err;
	return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
}

sotto_err relay_cmd_parse(struct relay_cmd *out, const uint8_t *tx, size_t tx_len)
{
	struct wire_reader r;
	enum relay_err err;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&r, tx, tx_len);
	wire_reader_copy(&r, out->mac, RELAY_MAC_LEN);
	out->corr = wire_reader_u32(&r);
	out->code = wire_reader_u8(&r);
	wire_reader_copy(&r, out->entity, RELAY_ID_LEN);
	if (wire_reader_error(&r) != SOTTO_OK || tx == NULL) {
		/* No header, no corr to answer with. */
		memset(out, 0, sizeof(*out));
		return cmd_reject(out, RELAY_ERR_BLOCK);
	}
	out->covered = tx + RELAY_CMD_MAC_OFFSET;
	out->covered_len = mac_covered_len(out->code, tx_len);
	err = cmd_parse_body(out, &r);
	if (err == RELAY_ERR_NONE && !cmd_header_is_valid(out))
		err = RELAY_ERR_CMD;
	if (err != RELAY_ERR_NONE)
		return cmd_reject(out, err);
	return SOTTO_OK;
}

sotto_err relay_cmd_verify(const struct relay_cmd *cmd, const uint8_t key[static RELAY_KEY_LEN],
                           const uint8_t session_id[static RELAY_SESSION_ID_LEN])
{
	if (cmd->covered == NULL)
		return SOTTO_ERR_AUTH;
	return relay_mac_verify(cmd->mac, key, session_id, cmd->covered, cmd->covered_len);
}

size_t relay_cmd_len(const struct relay_cmd *cmd)
{
	switch (cmd->code) {
	case RELAY_CMD_NEW:
	case RELAY_CMD_KEY:
	case RELAY_CMD_SKEY: return RELAY_CMD_HEADER_LEN + RELAY_KEY_LEN;
	case RELAY_CMD_ACK: return RELAY_CMD_HEADER_LEN + RELAY_MSG_ID_LEN;
	case RELAY_CMD_SEND:
		if (cmd->body_len > RELAY_MSG_BODY_MAX)
			return 0;
		return RELAY_SEND_OVERHEAD + cmd->body_len;
	case RELAY_CMD_SUB:
	case RELAY_CMD_GET:
	case RELAY_CMD_OFF:
	case RELAY_CMD_DEL:
	case RELAY_CMD_PING: return RELAY_CMD_HEADER_LEN;
	default: return 0;
	}
}

/* What relay_cmd_encode refuses; SOTTO_OK when cmd can be encoded. */
static sotto_err cmd_check(const struct relay_cmd *cmd, const uint8_t *mac_key,
                           const uint8_t *session_id)
{
	if (cmd->code == RELAY_CMD_SEND && cmd->body_len > RELAY_MSG_BODY_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (relay_cmd_len(cmd) == 0 || !cmd_header_is_valid(cmd))
		return SOTTO_ERR_INVALID;
	if (cmd->code == RELAY_CMD_SEND && ((cmd->flags & ~RELAY_SEND_FLAGS_KNOWN) != 0 ||
	                                    (cmd->body == NULL && cmd->body_len > 0)))
		return SOTTO_ERR_INVALID;
	if (mac_key != NULL && (session_id == NULL || cmd_is_anonymous(cmd->code)))
		return SOTTO_ERR_INVALID;
	return SOTTO_OK;
}

static void cmd_write_body(struct wire_writer *w, const struct relay_cmd *cmd)
{
	switch (cmd->code) {
	case RELAY_CMD_NEW:
	case RELAY_CMD_KEY:
	case RELAY_CMD_SKEY: wire_writer_bytes(w, cmd->key, RELAY_KEY_LEN); break;
	case RELAY_CMD_ACK: wire_writer_bytes(w, cmd->msg_id, RELAY_MSG_ID_LEN); break;
	case RELAY_CMD_SEND:
		wire_writer_u8(w, cmd->flags);
		wire_writer_lp16(w, cmd->body, cmd->body_len, RELAY_MSG_BODY_MAX);
		break;
	default: break;
	}
}

sotto_err relay_cmd_encode(uint8_t *out, size_t cap, size_t *out_len, const struct relay_cmd *cmd,
                           const uint8_t *mac_key, const uint8_t *session_id)
{
	struct wire_writer w;
	size_t len = 0;
	sotto_err rc;

	*out_len = 0;
	if ((rc = cmd_check(cmd, mac_key, session_id)) != SOTTO_OK)
		return rc;
	wire_writer_init(&w, out, cap);
	wire_writer_bytes(&w, cmd->mac, RELAY_MAC_LEN);
	wire_writer_u32(&w, cmd->corr);
	wire_writer_u8(&w, cmd->code);
	wire_writer_bytes(&w, cmd->entity, RELAY_ID_LEN);
	cmd_write_body(&w, cmd);
	if ((rc = wire_writer_finish(&w, &len)) != SOTTO_OK)
		return rc;
	if (mac_key != NULL && session_id != NULL) {
		/* mac over session_id || transmission[32..), written in front. */
		rc = relay_mac(out, mac_key, session_id, out + RELAY_CMD_MAC_OFFSET,
		               mac_covered_len(cmd->code, len));
		if (rc != SOTTO_OK)
			return rc;
	}
	*out_len = len;
	return SOTTO_OK;
}

/* ---- Responses ---- */

static bool resp_is_well_formed(const struct relay_resp *resp)
{
	switch (resp->code) {
	case RELAY_RESP_IDS:
	case RELAY_RESP_PONG: return ct_is_zero(resp->entity, RELAY_ID_LEN);
	case RELAY_RESP_OK:
	case RELAY_RESP_NONE: return true;
	case RELAY_RESP_END: return resp->corr == 0;
	case RELAY_RESP_ERR: return resp->err >= RELAY_ERR_AUTH && resp->err <= RELAY_ERR_RATE;
	case RELAY_RESP_MSG:
		return resp->sealed != NULL && resp->sealed_len >= SEALED_MIN &&
		       resp->sealed_len <= SEALED_MAX;
	default: return false;
	}
}

size_t relay_resp_len(const struct relay_resp *resp)
{
	switch (resp->code) {
	case RELAY_RESP_IDS: return RELAY_RESP_HEADER_LEN + RELAY_IDS_BODY_LEN;
	case RELAY_RESP_ERR: return RELAY_RESP_HEADER_LEN + 1;
	case RELAY_RESP_OK:
	case RELAY_RESP_NONE:
	case RELAY_RESP_END:
	case RELAY_RESP_PONG: return RELAY_RESP_HEADER_LEN;
	case RELAY_RESP_MSG:
		if (resp->sealed_len < SEALED_MIN || resp->sealed_len > SEALED_MAX)
			return 0;
		return RELAY_RESP_HEADER_LEN + RELAY_MSG_ID_LEN + resp->sealed_len;
	default: return 0;
	}
}

size_t relay_resp_msg_len(size_t body_len)
{
	if (body_len > RELAY_MSG_BODY_MAX)
		return 0;
	return RELAY_MSG_OVERHEAD + body_len;
}

static void resp_read_body(struct wire_reader *r, struct relay_resp *resp)
{
	size_t n;

	switch (resp->code) {
	case RELAY_RESP_IDS:
		wire_reader_copy(r, resp->rid, RELAY_ID_LEN);
		wire_reader_copy(r, resp->sid, RELAY_ID_LEN);
		wire_reader_copy(r, resp->srk, RELAY_KEY_LEN);
		wire_reader_copy(r, resp->ssk, RELAY_KEY_LEN);
		break;
	case RELAY_RESP_ERR: resp->err = wire_reader_u8(r); break;
	case RELAY_RESP_MSG:
		wire_reader_copy(r, resp->msg_id, RELAY_MSG_ID_LEN);
		n = wire_reader_remaining(r);
		resp->sealed = wire_reader_view(r, n);
		resp->sealed_len = resp->sealed != NULL ? n : 0;
		break;
	default: break; /* empty bodies; unknown codes fail the shape check */
	}
}

sotto_err relay_resp_parse(struct relay_resp *out, const uint8_t *tx, size_t tx_len)
{
	struct wire_reader r;

	memset(out, 0, sizeof(*out));
	wire_reader_init(&r, tx, tx_len);
	out->corr = wire_reader_u32(&r);
	out->code = wire_reader_u8(&r);
	wire_reader_copy(&r, out->entity, RELAY_ID_LEN);
	resp_read_body(&r, out);
	if (wire_reader_finish(&r) != SOTTO_OK || !resp_is_well_formed(out)) {
		memset(out, 0, sizeof(*out));
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	}
	return SOTTO_OK;
}

static void resp_write_body(struct wire_writer *w, const struct relay_resp *resp)
{
	switch (resp->code) {
	case RELAY_RESP_IDS:
		wire_writer_bytes(w, resp->rid, RELAY_ID_LEN);
		wire_writer_bytes(w, resp->sid, RELAY_ID_LEN);
		wire_writer_bytes(w, resp->srk, RELAY_KEY_LEN);
		wire_writer_bytes(w, resp->ssk, RELAY_KEY_LEN);
		break;
	case RELAY_RESP_ERR: wire_writer_u8(w, resp->err); break;
	case RELAY_RESP_MSG:
		wire_writer_bytes(w, resp->msg_id, RELAY_MSG_ID_LEN);
		wire_writer_bytes(w, resp->sealed, resp->sealed_len);
		break;
	default: break;
	}
}

sotto_err relay_resp_encode(uint8_t *out, size_t cap, size_t *out_len,
                            const struct relay_resp *resp)
{
	struct wire_writer w;

	*out_len = 0;
	if (!resp_is_well_formed(resp))
		return SOTTO_ERR_INVALID;
	wire_writer_init(&w, out, cap);
	wire_writer_u32(&w, resp->corr);
	wire_writer_u8(&w, resp->code);
	wire_writer_bytes(&w, resp->entity, RELAY_ID_LEN);
	resp_write_body(&w, resp);
	return wire_writer_finish(&w, out_len);
}

sotto_err relay_resp_encode_simple(uint8_t *out, size_t cap, size_t *out_len,
                                   enum relay_resp_code code, uint32_t corr, const uint8_t *entity)
{
	struct relay_resp resp;

	*out_len = 0;
	if (code != RELAY_RESP_OK && code != RELAY_RESP_NONE && code != RELAY_RESP_END &&
	    code != RELAY_RESP_PONG)
		return SOTTO_ERR_INVALID;
	memset(&resp, 0, sizeof(resp));
	resp.corr = corr;
	resp.code = (uint8_t)code;
	if (entity != NULL)
		memcpy(resp.entity, entity, RELAY_ID_LEN);
	return relay_resp_encode(out, cap, out_len, &resp);
}

sotto_err relay_resp_encode_err(uint8_t *out, size_t cap, size_t *out_len, uint32_t corr,
                                const uint8_t *entity, enum relay_err err)
{
	struct relay_resp resp;

	*out_len = 0;
	if (err < RELAY_ERR_AUTH || err > RELAY_ERR_RATE)
		return SOTTO_ERR_INVALID;
	memset(&resp, 0, sizeof(resp));
	resp.corr = corr;
	resp.code = RELAY_RESP_ERR;
	resp.err = (uint8_t)err;
	if (entity != NULL)
		memcpy(resp.entity, entity, RELAY_ID_LEN);
	return relay_resp_encode(out, cap, out_len, &resp);
}

sotto_err relay_resp_encode_ids(uint8_t *out, size_t cap, size_t *out_len, uint32_t corr,
                                const uint8_t rid[static RELAY_ID_LEN],
                                const uint8_t sid[static RELAY_ID_LEN],
                                const uint8_t srk[static RELAY_KEY_LEN],
                                const uint8_t ssk[static RELAY_KEY_LEN])
{
	struct relay_resp resp;

	memset(&resp, 0, sizeof(resp));
	resp.corr = corr;
	resp.code = RELAY_RESP_IDS;
	memcpy(resp.rid, rid, RELAY_ID_LEN);
	memcpy(resp.sid, sid, RELAY_ID_LEN);
	memcpy(resp.srk, srk, RELAY_KEY_LEN);
	memcpy(resp.ssk, ssk, RELAY_KEY_LEN);
	return relay_resp_encode(out, cap, out_len, &resp);
}

/* timestamp (8) || flags (1) || lp16(body) into exactly plain_len bytes. */
static sotto_err msg_write_plain(uint8_t *plain, size_t plain_len, const struct relay_msg *msg)
{
	struct wire_writer w;
	size_t len = 0;

	wire_writer_init(&w, plain, plain_len);
	wire_writer_u64(&w, msg->timestamp);
	wire_writer_u8(&w, msg->flags);
	wire_writer_lp16(&w, msg->body, msg->body_len, RELAY_MSG_BODY_MAX);
	if (wire_writer_finish(&w, &len) != SOTTO_OK || !SOTTO_INVARIANT(len == plain_len))
		return SOTTO_ERR_INTERNAL;
	return SOTTO_OK;
}

sotto_err relay_resp_encode_msg(uint8_t *out, size_t cap, size_t *out_len, uint32_t corr,
                                const uint8_t rid[static RELAY_ID_LEN],
                                const uint8_t msg_id[static RELAY_MSG_ID_LEN],
                                const uint8_t k_deliver[static RELAY_KEY_LEN],
                                const struct relay_msg *msg)
{
	struct wire_writer w;
	uint8_t *sealed;
	size_t plain_len;
	sotto_err rc;

	*out_len = 0;
	if (msg->body_len > RELAY_MSG_BODY_MAX)
		return SOTTO_ERR_TOO_LARGE;
	if (msg->flags != 0 || (msg->body == NULL && msg->body_len > 0))
		return SOTTO_ERR_INVALID;
	plain_len = RELAY_DELIVERY_PLAIN_MIN + msg->body_len;
	wire_writer_init(&w, out, cap);
	wire_writer_u32(&w, corr);
	wire_writer_u8(&w, RELAY_RESP_MSG);
	wire_writer_bytes(&w, rid, RELAY_ID_LEN);
	wire_writer_bytes(&w, msg_id, RELAY_MSG_ID_LEN);
	sealed = wire_writer_reserve(&w, plain_len + RELAY_DELIVERY_TAG_LEN);
	if ((rc = wire_writer_finish(&w, NULL)) != SOTTO_OK || sealed == NULL)
		return rc != SOTTO_OK ? rc : SOTTO_ERR_INTERNAL;
	if ((rc = msg_write_plain(sealed, plain_len, msg)) != SOTTO_OK)
		return rc;
	/* AEAD(K_deliver, nonce = msg_id, ad = RID, plaintext), in place. */
	rc = aead_x_encrypt(sealed, sealed, plain_len, rid, RELAY_ID_LEN, msg_id, k_deliver);
	if (rc != SOTTO_OK)
		return SOTTO_ERR_INTERNAL;
	*out_len = relay_resp_msg_len(msg->body_len);
	return SOTTO_OK;
}

/* timestamp (8) || flags (1, zero) || lp16(body), nothing after. */
static sotto_err msg_read_plain(struct relay_msg *out, const uint8_t *plain, size_t plain_len)
{
	struct wire_reader r;

	wire_reader_init(&r, plain, plain_len);
	out->timestamp = wire_reader_u64(&r);
	out->flags = wire_reader_u8(&r);
	out->body = wire_reader_lp16(&r, RELAY_MSG_BODY_MAX, &out->body_len);
	if (wire_reader_finish(&r) != SOTTO_OK || out->flags != 0)
		return SOTTO_RAISE(SOTTO_ERR_PROTOCOL);
	return SOTTO_OK;
}

sotto_err relay_msg_open(struct relay_msg *out, uint8_t plain[static RELAY_DELIVERY_PLAIN_MAX],
                         const struct relay_resp *resp,
                         const uint8_t k_deliver[static RELAY_KEY_LEN])
{
	size_t plain_len;
	sotto_err rc;

	memset(out, 0, sizeof(*out));
	sodium_memzero(plain, RELAY_DELIVERY_PLAIN_MAX);
	if (resp->code != RELAY_RESP_MSG || !resp_is_well_formed(resp))
		return SOTTO_ERR_INVALID;
	plain_len = resp->sealed_len - RELAY_DELIVERY_TAG_LEN;
	rc = aead_x_decrypt(plain, resp->sealed, resp->sealed_len, resp->entity, RELAY_ID_LEN,
	                    resp->msg_id, k_deliver);
	if (rc != SOTTO_OK) {
		rc = SOTTO_ERR_AUTH;
		goto out;
	}
	if ((rc = msg_read_plain(out, plain, plain_len)) != SOTTO_OK)
		goto out;
	rc = SOTTO_OK;
out:
	if (rc != SOTTO_OK) {
		memset(out, 0, sizeof(*out));
		sodium_memzero(plain, RELAY_DELIVERY_PLAIN_MAX);
	}
	return rc;
}
