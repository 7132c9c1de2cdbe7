/* SPDX-License-Identifier: MIT */
/*
 * version.c - protocol version ranges and their negotiation (wire layer).
 *
 * A range on the wire (docs/protocol.md):
 *
 *   offset  size  field
 *   0       2     min, big-endian, >= 1
 *   2       2     max, big-endian, >= min
 *
 * Negotiation picks the highest version both sides speak, so two peers agree
 * without another round trip and a newer peer never downgrades below what
 * the older one supports.
 */
#include <stdbool.h>

#include "core/err.h"
#include "wire/version.h"

static bool range_is_valid(struct version_range range)
{
	return range.min != 0 && range.min <= range.max;
}

void version_range_write(struct wire_writer *w, struct version_range range)
{
	wire_writer_u16(w, range.min);
	wire_writer_u16(w, range.max);
}

struct version_range version_range_read(struct wire_reader *r)
{
	struct version_range none = {0, 0};
	struct version_range range;

	range.min = wire_reader_u16(r);
	range.max = wire_reader_u16(r);
	if (wire_reader_error(r) != SOTTO_OK)
		return none;
	if (!range_is_valid(range)) {
		wire_reader_fail(r, SOTTO_RAISE(SOTTO_ERR_PROTOCOL));
		return none;
	}
	return range;
}

sotto_err version_negotiate(struct version_range ours, struct version_range theirs,
                            uint16_t *agreed)
{
	uint16_t lo, hi;

	*agreed = 0;
	if (!range_is_valid(ours) || !range_is_valid(theirs))
		return SOTTO_ERR_INVALID;
	lo = ours.min > theirs.min ? ours.min : theirs.min;
	hi = ours.max < theirs.max ? ours.max : theirs.max;
	if (lo > hi)
		return SOTTO_RAISE(SOTTO_ERR_VERSION);
	*agreed = hi;
	return SOTTO_OK;
}
