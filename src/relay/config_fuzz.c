/* SPDX-License-Identifier: MIT */
/*
 * config_fuzz.c - fuzz target for the relay daemon's text files: the
 * configuration parser, the stats-file parser and the --listen parser.
 * Whatever parses must format back to text that parses to the same value;
 * anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/config.h"
#include "relay/daemon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_config(const uint8_t *data, size_t size)
{
	struct relay_config cfg, back;
	struct relay_config_error err;
	char text[RELAY_CONFIG_TEXT_MAX];
	size_t len = 0;

	if (relay_config_parse(data, size, &cfg, &err) != SOTTO_OK) {
		if (err.reason == NULL)
			abort();
		return;
	}
	if (relay_config_format(&cfg, text, sizeof(text), &len) != SOTTO_OK)
		abort();
	if (relay_config_parse((const uint8_t *)text, len, &back, NULL) != SOTTO_OK ||
	    !relay_config_equal(&cfg, &back))
		abort();
}

static void check_stats(const uint8_t *data, size_t size)
{
	struct relay_daemon_stats st, back;
	char text[RELAY_DAEMON_STATS_TEXT_MAX];
	size_t len = 0;

	if (relay_daemon_stats_parse(data, size, &st, NULL) != SOTTO_OK)
		return;
	if (relay_daemon_stats_format(&st, text, sizeof(text), &len) != SOTTO_OK ||
	    relay_daemon_stats_parse((const uint8_t *)text, len, &back, NULL) != SOTTO_OK ||
	    memcmp(&st, &back, sizeof(st)) != 0)
		abort();
}

static void check_listen(const uint8_t *data, size_t size)
{
	struct relay_config cfg, before;

	relay_config_defaults(&cfg);
	before = cfg;
	if (relay_config_set_listen(&cfg, (const char *)data, size, NULL) != SOTTO_OK) {
		if (!relay_config_equal(&cfg, &before))
			abort();
		return;
	}
	if (memchr(cfg.listen, '\0', sizeof(cfg.listen)) == NULL)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_config(data, size);
	check_stats(data, size);
	check_listen(data, size);
	return 0;
}
