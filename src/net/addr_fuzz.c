/* SPDX-License-Identifier: MIT */
/*
 * addr_fuzz.c - fuzz target for net_addr_parse(). Any input either fails to
 * parse, or formats back to exactly the same text, which parses again to the
 * same value; anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_addr a, b;
	char text[NET_ADDR_TEXT_MAX + 1];

	if (net_addr_parse((const char *)data, size, &a) != SOTTO_OK)
		return 0;
	if (net_addr_format(&a, text, sizeof(text)) != SOTTO_OK)
		abort();
	if (strlen(text) != size || memcmp(text, data, size) != 0)
		abort();
	if (net_addr_parse(text, strlen(text), &b) != SOTTO_OK || memcmp(&a, &b, sizeof(a)) != 0)
		abort();
	return 0;
}
