/* SPDX-License-Identifier: MIT */
/*
 * limits.h - every size, count and time bound of the net layer.
 *
 * Frame sizes are fixed by the protocol (docs/protocol.md, "Transport"): a
 * frame is a big-endian u16 length and then exactly that many bytes of one
 * Noise message, and the length a receiver accepts depends only on the phase
 * it is in. Peers that have not finished the handshake can make us buffer at
 * most NET_MSG1_LEN bytes; after it, at most one transport frame per
 * connection. The other values are defaults and upper bounds of
 * struct net_session_config / struct net_conn_config.
 */
#ifndef SOTTO_NET_LIMITS_H
#define SOTTO_NET_LIMITS_H

enum {
	NET_FRAME_HEADER_LEN = 2,        /* u16 big-endian body length */
	NET_TAG_LEN = 16,                /* Poly1305 tag of every Noise message */
	NET_EPHEMERAL_LEN = 32,          /* an X25519 public key in a handshake message */
	NET_BLOCK_LEN = 16384,           /* padded plaintext of every transport frame */
	NET_BLOCK_CONTENT_MAX = 16382,   /* NET_BLOCK_LEN minus the u16 content length */
	NET_MSG1_PAYLOAD_LEN = 4,        /* the client's version range: u16 min, u16 max */
	NET_MSG2_PAYLOAD_LEN = 2,        /* the agreed version, 0 for none */
	NET_MSG1_LEN = 52,               /* e (32) + encrypted payload (4 + 16) */
	NET_MSG2_LEN = 50,               /* e (32) + encrypted payload (2 + 16) */
	NET_TRANSPORT_LEN = 16400,       /* NET_BLOCK_LEN + NET_TAG_LEN */
	NET_MSG1_FRAME_LEN = 54,         /* header + NET_MSG1_LEN */
	NET_MSG2_FRAME_LEN = 52,         /* header + NET_MSG2_LEN */
	NET_TRANSPORT_FRAME_LEN = 16402, /* header + NET_TRANSPORT_LEN */
	NET_REFUSAL_FRAME_LEN = 2,       /* a frame with L = 0: the relay refused msg1 */

	/* Transport messages per direction between two Rekey() calls. */
	NET_REKEY_INTERVAL_DEFAULT = 65536,

	/* Bytes read from a socket at once; allocated only while a read is being handled. */
	NET_READ_LEN = 65536,

	/* Time a peer has from TCP connect to a finished handshake. */
	NET_HANDSHAKE_TIMEOUT_MS_DEFAULT = 10000,
	NET_HANDSHAKE_TIMEOUT_MS_MAX = 600000,

	/*
	 * Time an open connection may go without receiving a complete frame
	 * before it is closed (SOTTO_ERR_TIMEOUT). A client keeps an idle
	 * connection alive by sending a block (the relay's PING) well inside it.
	 */
	NET_IDLE_TIMEOUT_MS_DEFAULT = 600000,
	NET_IDLE_TIMEOUT_MS_MAX = 86400000,

	/* Encrypted bytes a connection may have queued for writing. */
	NET_WRITE_QUEUE_DEFAULT = 1 << 20,
	NET_WRITE_QUEUE_MAX = 1 << 28,

	/* Connections one server keeps open at once (excess ones are closed on accept). */
	NET_CONNECTIONS_DEFAULT = 4096,
	NET_CONNECTIONS_MAX = 1 << 20,

	/* Pending connections the kernel queues before accept. */
	NET_LISTEN_BACKLOG = 128,
};

#endif /* SOTTO_NET_LIMITS_H */
