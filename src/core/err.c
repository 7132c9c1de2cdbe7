/* SPDX-License-Identifier: MIT */
/*
 * err.c - the error vocabulary: sotto_strerror() and err_raise() (core layer).
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"

const char *sotto_strerror(sotto_err err)
{
	switch (err) {
	case SOTTO_OK: return "success";
	case SOTTO_ERR_NOMEM: return "out of memory";
	case SOTTO_ERR_INVALID: return "invalid argument";
	case SOTTO_ERR_INTERNAL: return "internal error";
	case SOTTO_ERR_AUTH: return "authentication failed";
	case SOTTO_ERR_CORRUPT: return "data is corrupt";
	case SOTTO_ERR_PROTOCOL: return "protocol violation by peer";
	case SOTTO_ERR_TRUNCATED: return "input is truncated";
	case SOTTO_ERR_TOO_LARGE: return "length exceeds its limit";
	case SOTTO_ERR_VERSION: return "no common protocol version";
	case SOTTO_ERR_NONCE_EXHAUSTED: return "cipher nonces exhausted";
	case SOTTO_ERR_WEAK_KEY: return "peer key gives a weak shared secret";
	case SOTTO_ERR_ADDR_SCHEME: return "relay address must start with sotto://";
	case SOTTO_ERR_ADDR_KEY: return "relay address key must be 32 bytes in base64url";
	case SOTTO_ERR_ADDR_HOST: return "relay address host is missing or invalid";
	case SOTTO_ERR_ADDR_PORT: return "relay address port is missing or invalid";
	case SOTTO_ERR_TIMEOUT: return "timed out";
	case SOTTO_ERR_CLOSED: return "connection closed by peer";
	case SOTTO_ERR_IO: return "network I/O error";
	case SOTTO_ERR_CONNECT: return "could not connect";
	case SOTTO_ERR_RESOLVE: return "host name did not resolve";
	case SOTTO_ERR_BUSY: return "queue full, try later";
	case SOTTO_ERR_STATE: return "operation not valid in this state";
	case SOTTO_ERR_FRAME_SIZE: return "frame has the wrong size";
	case SOTTO_ERR_CANCELLED: return "cancelled";
	case SOTTO_ERR_TRAILING: return "unexpected trailing bytes";
	case SOTTO_ERR_ENCODING: return "malformed encoding";
	case SOTTO_ERR_TOO_FAR_AHEAD: return "message is too far ahead: too many skipped messages";
	case SOTTO_ERR_USED: return "already used";
	case SOTTO_ERR_NOT_FOUND: return "not found";
	}
	return "unknown error";
}

const char *sotto_version(void)
{
	return SOTTO_VERSION_STRING;
}

SOTTO_NOINLINE sotto_err err_raise(sotto_err err, const char *file, int line)
{
#ifndef NDEBUG
	if (getenv("SOTTO_DEBUG_ERRORS") != NULL)
		fprintf(stderr, "sotto: %s at %s:%d\n", sotto_strerror(err), file, line);
#else
	(void)file;
	(void)line;
#endif
	return err;
}
