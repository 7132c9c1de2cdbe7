/* SPDX-License-Identifier: MIT */
/*
 * version.h - protocol version ranges and their negotiation (wire layer).
 *
 * Every sotto format starts with a version tag. Where two peers negotiate,
 * each sends the inclusive range it speaks as two big-endian u16 (min, max);
 * the agreed version is the highest one in both ranges. Version 0 is never
 * valid, and a range with min > max is malformed.
 */
#ifndef SOTTO_WIRE_VERSION_H
#define SOTTO_WIRE_VERSION_H

#include <stdint.h>

#include <sotto/sotto.h>

#include "wire/reader.h"
#include "wire/writer.h"

enum { VERSION_RANGE_LEN = 4 };

struct version_range {
	uint16_t min; /* >= 1 */
	uint16_t max; /* >= min */
};

/* Appends min then max. */
void version_range_write(struct wire_writer *w, struct version_range range);

/*
 * Reads a range; a malformed one (0, or min > max) fails the reader with
 * SOTTO_ERR_PROTOCOL. Returns {0, 0} on failure.
 */
struct version_range version_range_read(struct wire_reader *r);

/*
 * *agreed = highest version in both ranges (0 first).
 * Errors: SOTTO_ERR_VERSION (no overlap), SOTTO_ERR_INVALID (a malformed range).
 */
SOTTO_NODISCARD sotto_err version_negotiate(struct version_range ours, struct version_range theirs,
                                            uint16_t *agreed);

#endif /* SOTTO_WIRE_VERSION_H */
