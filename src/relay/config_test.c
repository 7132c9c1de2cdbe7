/* SPDX-License-Identifier: MIT */
/*
 * config_test.c - the relay daemon's configuration file: every key, bad
 * values with the specific error and line, size bounds, bytes, comments,
 * command-line overrides, and format(parse(x)) round trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/limits.h"
#include "relay/config.h"
#include "relay/limits.h"
#include "test_util.h"

static sotto_err parse_text(const char *text, struct relay_config *cfg,
                            struct relay_config_error *err)
{
	return relay_config_parse((const uint8_t *)text, strlen(text), cfg, err);
}

static void config_parse__defaults__empty_file(void **state)
{
	struct relay_config cfg, want;
	struct relay_config_error err;
	(void)state;

	relay_config_defaults(&want);
	assert_int_equal(relay_config_parse(NULL, 0, &cfg, &err), SOTTO_OK);
	assert_true(relay_config_equal(&cfg, &want));
	assert_string_equal(cfg.listen, "127.0.0.1");
	assert_int_equal(cfg.port, 5223);
	assert_int_equal(cfg.quota, RELAY_QUOTA_DEFAULT);
	assert_int_equal(cfg.ttl_days, 21);
	assert_int_equal(cfg.max_connections, NET_CONNECTIONS_DEFAULT);
	assert_int_equal(cfg.handshake_timeout_s, 10);
	assert_int_equal(cfg.write_queue_bytes, NET_WRITE_QUEUE_DEFAULT);
	assert_int_equal(cfg.queues_per_minute, RELAY_NEW_PER_MINUTE_DEFAULT);
	assert_string_equal(cfg.user, "");
	assert_string_equal(cfg.public_host, "");
	assert_int_equal(cfg.stats_interval_s, 10);
	assert_int_equal(cfg.idle_timeout_s, 600);
	assert_int_equal(cfg.idle_timeout_s * 1000u, NET_IDLE_TIMEOUT_MS_DEFAULT);
	assert_int_equal(cfg.expire_interval_s, 60);
	assert_int_equal(cfg.ttl_s, 0);
	assert_int_equal(err.line, 0);
	assert_null(err.reason);
}

static const char ALL_KEYS[] = "# every key\n"
                               "listen = ::1\n"
                               "public_host = relay.example.org\n"
                               "port = 443\n"
                               "quota = 500\n"
                               "ttl_days = 7\n"
                               "max_connections = 20000\n"
                               "handshake_timeout_s = 30\n"
                               "write_queue_bytes = 65536\n"
                               "queues_per_minute = 10\n"
                               "user = sotto-relay\n"
                               "stats_interval_s = 60\n"
                               "idle_timeout_s = 90\n"
                               "expire_interval_s = 5\n"
                               "ttl_s = 2\n";

static void config_parse__sets_every_key__all_keys_given(void **state)
{
	struct relay_config cfg;
	(void)state;

	assert_int_equal(parse_text(ALL_KEYS, &cfg, NULL), SOTTO_OK);
	assert_string_equal(cfg.listen, "::1");
	assert_string_equal(cfg.public_host, "relay.example.org");
	assert_int_equal(cfg.port, 443);
	assert_int_equal(cfg.quota, 500);
	assert_int_equal(cfg.ttl_days, 7);
	assert_int_equal(cfg.max_connections, 20000);
	assert_int_equal(cfg.handshake_timeout_s, 30);
	assert_int_equal(cfg.write_queue_bytes, 65536);
	assert_int_equal(cfg.queues_per_minute, 10);
	assert_string_equal(cfg.user, "sotto-relay");
	assert_int_equal(cfg.stats_interval_s, 60);
	assert_int_equal(cfg.idle_timeout_s, 90);
	assert_int_equal(cfg.expire_interval_s, 5);
	assert_int_equal(cfg.ttl_s, 2);
	assert_string_equal(relay_config_address_host(&cfg), "relay.example.org");
}

static void config_parse__accepts__blanks_comments_and_no_final_newline(void **state)
{
	struct relay_config cfg;
	(void)state;

	assert_int_equal(parse_text("\n   \n# comment = with equals\n\t# indented comment\n"
	                            "\t port\t=\t80 \t\n"
	                            "listen=0.0.0.0\n"
	                            "user =\n"
	                            "public_host = \n"
	                            "quota = 1",
	                            &cfg, NULL),
	                 SOTTO_OK);
	assert_int_equal(cfg.port, 80);
	assert_string_equal(cfg.listen, "0.0.0.0");
	assert_string_equal(cfg.user, "");
	assert_int_equal(cfg.quota, 1);
	assert_string_equal(relay_config_address_host(&cfg), "0.0.0.0");
}

static void config_parse__accepts__range_limits(void **state)
{
	struct relay_config cfg;
	(void)state;

	assert_int_equal(parse_text("port = 0\nquota = 65536\nttl_days = 3650\n"
	                            "max_connections = 1048576\nhandshake_timeout_s = 600\n"
	                            "write_queue_bytes = 16402\n"
	                            "queues_per_minute = 1000000\nstats_interval_s = 3600\n"
	                            "idle_timeout_s = 86400\nexpire_interval_s = 86400\n"
	                            "ttl_s = 86400\n",
	                            &cfg, NULL),
	                 SOTTO_OK);
	assert_int_equal(cfg.idle_timeout_s * 1000u, NET_IDLE_TIMEOUT_MS_MAX);
	assert_int_equal(cfg.expire_interval_s * 1000u, RELAY_EXPIRE_INTERVAL_MS_MAX);
	assert_int_equal(cfg.ttl_s, RELAY_CONFIG_TTL_S_MAX);
	assert_int_equal(cfg.port, 0);
	assert_int_equal(cfg.quota, RELAY_QUOTA_MAX);
	assert_int_equal(cfg.max_connections, NET_CONNECTIONS_MAX);
	assert_int_equal(cfg.write_queue_bytes, NET_TRANSPORT_FRAME_LEN);
	assert_int_equal(parse_text("port = 65535\n"
	                            "write_queue_bytes = 268435456\nuser = _x.Y-9\n"
	                            "idle_timeout_s = 1\nexpire_interval_s = 1\nttl_s = 0\n",
	                            &cfg, NULL),
	                 SOTTO_OK);
	assert_int_equal(cfg.idle_timeout_s, 1);
	assert_int_equal(cfg.expire_interval_s, 1);
	assert_int_equal(cfg.ttl_s, 0);
	assert_int_equal(cfg.port, 65535);
	assert_int_equal(cfg.write_queue_bytes, NET_WRITE_QUEUE_MAX);
	assert_string_equal(cfg.user, "_x.Y-9");
}

struct bad_case {
	const char *text;
	sotto_err want;
	uint32_t line;
	const char *reason; /* a phrase the reason contains */
	const char *key;
	uint64_t min, max; /* 0, 0 unless a range error */
};

static const struct bad_case BAD[] = {
        {"port = 65536\n", SOTTO_ERR_INVALID, 1, "out of range", "port", 0, 65535},
        {"port = -1\n", SOTTO_ERR_INVALID, 1, "not a decimal", "port", 0, 0},
        {"port = +1\n", SOTTO_ERR_INVALID, 1, "not a decimal", "port", 0, 0},
        {"port = 0x50\n", SOTTO_ERR_INVALID, 1, "not a decimal", "port", 0, 0},
        {"port = 080\n", SOTTO_ERR_INVALID, 1, "leading zero", "port", 0, 0},
        {"port = 00\n", SOTTO_ERR_INVALID, 1, "leading zero", "port", 0, 0},
        {"port = 1 2\n", SOTTO_ERR_INVALID, 1, "not a decimal", "port", 0, 0},
        {"port =\n", SOTTO_ERR_INVALID, 1, "missing value", "port", 0, 0},
        {"port = 80 # web\n", SOTTO_ERR_INVALID, 1, "not a decimal", "port", 0, 0},
        {"port = 99999999999999999999999\n", SOTTO_ERR_INVALID, 1, "out of range", "port", 0,
         65535},
        {"port = 18446744073709551616\n", SOTTO_ERR_INVALID, 1, "out of range", "port", 0, 65535},
        {"quota = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "quota", 1, RELAY_QUOTA_MAX},
        {"quota = 65537\n", SOTTO_ERR_INVALID, 1, "out of range", "quota", 1, RELAY_QUOTA_MAX},
        {"ttl_days = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "ttl_days", 1, 3650},
        {"ttl_days = 3651\n", SOTTO_ERR_INVALID, 1, "out of range", "ttl_days", 1, 3650},
        {"max_connections = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "max_connections", 1,
         NET_CONNECTIONS_MAX},
        {"max_connections = 1048577\n", SOTTO_ERR_INVALID, 1, "out of range", "max_connections", 1,
         NET_CONNECTIONS_MAX},
        {"handshake_timeout_s = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "handshake_timeout_s",
         1, 600},
        {"handshake_timeout_s = 601\n", SOTTO_ERR_INVALID, 1, "out of range", "handshake_timeout_s",
         1, 600},
        {"write_queue_bytes = 16401\n", SOTTO_ERR_INVALID, 1, "out of range", "write_queue_bytes",
         NET_TRANSPORT_FRAME_LEN, NET_WRITE_QUEUE_MAX},
        {"write_queue_bytes = 268435457\n", SOTTO_ERR_INVALID, 1, "out of range",
         "write_queue_bytes", NET_TRANSPORT_FRAME_LEN, NET_WRITE_QUEUE_MAX},
        {"queues_per_minute = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "queues_per_minute", 1,
         RELAY_NEW_PER_MINUTE_MAX},
        {"stats_interval_s = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "stats_interval_s", 1,
         3600},
        {"stats_interval_s = 3601\n", SOTTO_ERR_INVALID, 1, "out of range", "stats_interval_s", 1,
         3600},
        {"idle_timeout_s = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "idle_timeout_s", 1, 86400},
        {"idle_timeout_s = 86401\n", SOTTO_ERR_INVALID, 1, "out of range", "idle_timeout_s", 1,
         86400},
        {"expire_interval_s = 0\n", SOTTO_ERR_INVALID, 1, "out of range", "expire_interval_s", 1,
         86400},
        {"expire_interval_s = 86401\n", SOTTO_ERR_INVALID, 1, "out of range", "expire_interval_s",
         1, 86400},
        {"ttl_s = 86401\n", SOTTO_ERR_INVALID, 1, "out of range", "ttl_s", 0, 86400},
        {"listen = localhost\n", SOTTO_ERR_INVALID, 1, "numeric", "listen", 0, 0},
        {"listen = 256.0.0.1\n", SOTTO_ERR_INVALID, 1, "numeric", "listen", 0, 0},
        {"listen = 1.2.3\n", SOTTO_ERR_INVALID, 1, "numeric", "listen", 0, 0},
        {"listen = [::1]\n", SOTTO_ERR_INVALID, 1, "numeric", "listen", 0, 0},
        {"listen = fe80::1%eth0\n", SOTTO_ERR_INVALID, 1, "numeric", "listen", 0, 0},
        {"listen = 1:2:3:4:5:6:7:8:9\n", SOTTO_ERR_INVALID, 1, "numeric", "listen", 0, 0},
        {"listen =\n", SOTTO_ERR_INVALID, 1, "numeric", "listen", 0, 0},
        {"public_host = bad_host\n", SOTTO_ERR_INVALID, 1, "host", "public_host", 0, 0},
        {"public_host = a..b\n", SOTTO_ERR_INVALID, 1, "host", "public_host", 0, 0},
        {"public_host = 10.1\n", SOTTO_ERR_INVALID, 1, "host", "public_host", 0, 0},
        {"public_host = [::1]\n", SOTTO_ERR_INVALID, 1, "host", "public_host", 0, 0},
        {"user = -rf\n", SOTTO_ERR_INVALID, 1, "user name", "user", 0, 0},
        {"user = a b\n", SOTTO_ERR_INVALID, 1, "user name", "user", 0, 0},
        {"user = root;x\n", SOTTO_ERR_INVALID, 1, "user name", "user", 0, 0},
        {"user = abcdefghijabcdefghijabcdefghijabc\n", SOTTO_ERR_INVALID, 1, "user name", "user", 0,
         0},
        {"# ok\nportt = 1\n", SOTTO_ERR_INVALID, 2, "unknown key", "portt", 0, 0},
        {"port = 1\nquota = 2\nport = 1\n", SOTTO_ERR_INVALID, 3, "twice", "port", 0, 0},
        {"port 1\n", SOTTO_ERR_INVALID, 1, "expected '='", "port", 0, 0},
        {"port\n", SOTTO_ERR_INVALID, 1, "expected '='", "port", 0, 0},
        {"port: 1\n", SOTTO_ERR_INVALID, 1, "expected '='", "port", 0, 0},
        {"Port = 1\n", SOTTO_ERR_INVALID, 1, "expected key", "", 0, 0},
        {"= 1\n", SOTTO_ERR_INVALID, 1, "expected key", "", 0, 0},
        {"9port = 1\n", SOTTO_ERR_INVALID, 1, "expected key", "", 0, 0},
        {"[relay]\n", SOTTO_ERR_INVALID, 1, "expected key", "", 0, 0},
        {"a_very_long_key_name_that_goes_on_and_on = 1\n", SOTTO_ERR_INVALID, 1, "too long", "", 0,
         0},
        {"\n\nport = 1\r\n", SOTTO_ERR_ENCODING, 3, "printable", "", 0, 0},
        {"user = caf\xc3\xa9\n", SOTTO_ERR_ENCODING, 1, "printable", "", 0, 0},
        {"# \x01 control in a comment\n", SOTTO_ERR_ENCODING, 1, "printable", "", 0, 0},
        {"port = 1\n\x7f\n", SOTTO_ERR_ENCODING, 2, "printable", "", 0, 0},
};

static void config_parse__fails_with_line_and_reason__bad_lines(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
		const struct bad_case *c = &BAD[i];
		struct relay_config cfg, def;
		struct relay_config_error err;
		sotto_err rc = parse_text(c->text, &cfg, &err);

		if (rc != c->want || err.line != c->line || err.reason == NULL ||
		    strstr(err.reason, c->reason) == NULL || strcmp(err.key, c->key) != 0 ||
		    err.min != c->min || err.max != c->max)
			fail_msg("case %zu \"%s\": got %s line %u reason \"%s\" key \"%s\" "
			         "%llu..%llu",
			         i, c->text, sotto_strerror(rc), err.line,
			         err.reason != NULL ? err.reason : "(null)", err.key,
			         (unsigned long long)err.min, (unsigned long long)err.max);
		relay_config_defaults(&def);
		assert_true(relay_config_equal(&cfg, &def));
	}
}

static void config_parse__fails_encoding__nul_byte(void **state)
{
	static const uint8_t text[] = {'p', 'o', 'r', 't', ' ', '=', ' ', '1', 0, '\n'};
	struct relay_config cfg;
	struct relay_config_error err;
	(void)state;

	assert_int_equal(relay_config_parse(text, sizeof(text), &cfg, &err), SOTTO_ERR_ENCODING);
	assert_int_equal(err.line, 1);
}

static void config_parse__fails_too_large__overlong_line(void **state)
{
	char text[RELAY_CONFIG_LINE_MAX + 64];
	struct relay_config cfg;
	struct relay_config_error err;
	(void)state;

	/* A comment of exactly RELAY_CONFIG_LINE_MAX bytes is fine, one more is not. */
	memset(text, ' ', sizeof(text));
	memcpy(text, "port = 1\n#", 10);
	text[9 + RELAY_CONFIG_LINE_MAX] = '\n';
	assert_int_equal(
	        relay_config_parse((const uint8_t *)text, 10 + RELAY_CONFIG_LINE_MAX, &cfg, &err),
	        SOTTO_OK);
	text[9 + RELAY_CONFIG_LINE_MAX] = ' ';
	text[10 + RELAY_CONFIG_LINE_MAX] = '\n';
	assert_int_equal(
	        relay_config_parse((const uint8_t *)text, 11 + RELAY_CONFIG_LINE_MAX, &cfg, &err),
	        SOTTO_ERR_TOO_LARGE);
	assert_int_equal(err.line, 2);
	assert_non_null(strstr(err.reason, "line is too long"));
	/* The same without a final newline. */
	assert_int_equal(
	        relay_config_parse((const uint8_t *)text, 10 + RELAY_CONFIG_LINE_MAX, &cfg, &err),
	        SOTTO_ERR_TOO_LARGE);
	assert_int_equal(err.line, 2);
}

static void config_parse__fails_too_large__file_over_max(void **state)
{
	size_t len = RELAY_CONFIG_FILE_MAX + 1;
	uint8_t *text = malloc(len);
	struct relay_config cfg;
	struct relay_config_error err;
	(void)state;

	assert_non_null(text);
	memset(text, '\n', len);
	assert_int_equal(relay_config_parse(text, len, &cfg, &err), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(err.line, 0);
	assert_int_equal(relay_config_parse(text, len - 1, &cfg, &err), SOTTO_OK);
	free(text);
}

static void config_set__overrides__valid_values(void **state)
{
	struct relay_config cfg;
	struct relay_config_error err;
	(void)state;

	relay_config_defaults(&cfg);
	assert_int_equal(relay_config_set(&cfg, "port", "8080", 4, &err), SOTTO_OK);
	assert_int_equal(relay_config_set(&cfg, "listen", "0.0.0.0", 7, &err), SOTTO_OK);
	assert_int_equal(relay_config_set(&cfg, "user", "nobody", 6, &err), SOTTO_OK);
	assert_int_equal(relay_config_set(&cfg, "user", "", 0, &err), SOTTO_OK);
	assert_int_equal(relay_config_set(&cfg, "idle_timeout_s", "2", 1, &err), SOTTO_OK);
	assert_int_equal(cfg.idle_timeout_s, 2);
	assert_int_equal(cfg.port, 8080);
	assert_string_equal(cfg.listen, "0.0.0.0");
	assert_string_equal(cfg.user, "");
	assert_null(err.reason);
}

static void config_has_key__knows__every_key_and_no_other(void **state)
{
	static const char *const keys[] = {"listen",
	                                   "public_host",
	                                   "port",
	                                   "quota",
	                                   "ttl_days",
	                                   "max_connections",
	                                   "handshake_timeout_s",
	                                   "write_queue_bytes",
	                                   "queues_per_minute",
	                                   "user",
	                                   "stats_interval_s",
	                                   "idle_timeout_s",
	                                   "expire_interval_s",
	                                   "ttl_s"};
	(void)state;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		assert_true(relay_config_has_key(keys[i]));
	assert_false(relay_config_has_key(""));
	assert_false(relay_config_has_key("Port"));
	assert_false(relay_config_has_key("port "));
	assert_false(relay_config_has_key("idle_timeout"));
	assert_false(relay_config_has_key("ttl"));
}

static void config_set__leaves_config_unchanged__bad_values(void **state)
{
	struct relay_config cfg, before;
	struct relay_config_error err;
	char big[RELAY_CONFIG_LINE_MAX + 2];
	(void)state;

	relay_config_defaults(&cfg);
	assert_int_equal(relay_config_set(&cfg, "port", "123", 3, NULL), SOTTO_OK);
	before = cfg;
	assert_int_equal(relay_config_set(&cfg, "port", "70000", 5, &err), SOTTO_ERR_INVALID);
	assert_string_equal(err.key, "port");
	assert_int_equal(err.max, 65535);
	assert_int_equal(err.line, 0);
	assert_int_equal(relay_config_set(&cfg, "prot", "1", 1, &err), SOTTO_ERR_INVALID);
	assert_non_null(strstr(err.reason, "unknown key"));
	assert_int_equal(relay_config_set(&cfg, "user", "a\nb", 3, &err), SOTTO_ERR_ENCODING);
	assert_int_equal(relay_config_set(&cfg, "listen", "::1 ", 4, &err), SOTTO_ERR_INVALID);
	memset(big, 'a', sizeof(big));
	assert_int_equal(relay_config_set(&cfg, "public_host", big, sizeof(big), &err),
	                 SOTTO_ERR_TOO_LARGE);
	assert_int_equal(relay_config_set(&cfg, "public_host", big, NET_HOST_MAX + 1, &err),
	                 SOTTO_ERR_INVALID);
	assert_true(relay_config_equal(&cfg, &before));
	assert_int_equal(cfg.port, 123);
}

static void config_set_listen__sets_host_and_port__v4_and_bracketed_v6(void **state)
{
	struct relay_config cfg;
	(void)state;

	relay_config_defaults(&cfg);
	assert_int_equal(relay_config_set_listen(&cfg, "0.0.0.0:443", 11, NULL), SOTTO_OK);
	assert_string_equal(cfg.listen, "0.0.0.0");
	assert_int_equal(cfg.port, 443);
	assert_int_equal(relay_config_set_listen(&cfg, "[::1]:0", 7, NULL), SOTTO_OK);
	assert_string_equal(cfg.listen, "::1");
	assert_int_equal(cfg.port, 0);
}

static void config_set_listen__fails_unchanged__malformed(void **state)
{
	static const struct {
		const char *text;
		const char *key;
		const char *reason;
	} cases[] = {
	        {"127.0.0.1", "listen", "HOST:PORT"},      {"::1:80", "listen", "brackets"},
	        {"[::1:80", "listen", "brackets"},         {"[]:80", "listen", "numeric"},
	        {"localhost:80", "listen", "numeric"},     {"1.2.3.4:", "port", "missing"},
	        {"1.2.3.4:65536", "port", "out of range"}, {":80", "listen", "numeric"},
	        {"[1.2.3.4]:80", "listen", "brackets"},
	};
	struct relay_config cfg, before;
	struct relay_config_error err;
	(void)state;

	relay_config_defaults(&cfg);
	before = cfg;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		sotto_err rc =
		        relay_config_set_listen(&cfg, cases[i].text, strlen(cases[i].text), &err);
		if (rc != SOTTO_ERR_INVALID || strcmp(err.key, cases[i].key) != 0 ||
		    strstr(err.reason, cases[i].reason) == NULL)
			fail_msg("\"%s\": got %s key \"%s\" reason \"%s\"", cases[i].text,
			         sotto_strerror(rc), err.key, err.reason ? err.reason : "(null)");
		assert_true(relay_config_equal(&cfg, &before));
	}
}

static void config_format__round_trips__defaults_and_all_keys(void **state)
{
	char text[RELAY_CONFIG_TEXT_MAX];
	struct relay_config cfg, back;
	size_t len = 99;
	(void)state;

	relay_config_defaults(&cfg);
	assert_int_equal(relay_config_format(&cfg, text, sizeof(text), &len), SOTTO_OK);
	assert_int_equal(strlen(text), len);
	assert_int_equal(relay_config_parse((const uint8_t *)text, len, &back, NULL), SOTTO_OK);
	assert_true(relay_config_equal(&cfg, &back));
	assert_non_null(strstr(text, "\nport = 5223\n"));

	assert_int_equal(parse_text(ALL_KEYS, &cfg, NULL), SOTTO_OK);
	/* The longest values every text field can hold still fit RELAY_CONFIG_TEXT_MAX. */
	memset(cfg.public_host, 0, sizeof(cfg.public_host));
	for (size_t i = 0; i < NET_HOST_MAX; i++)
		cfg.public_host[i] = (i % 2 == 0) ? 'a' : '.';
	cfg.public_host[NET_HOST_MAX - 1] = 'z';
	memcpy(cfg.user, "abcdefghijabcdefghijabcdefghijab", RELAY_CONFIG_USER_MAX);
	memcpy(cfg.listen, "1111:2222:3333:4444:5555:6666:123.123.123.123", 45);
	assert_int_equal(relay_config_format(&cfg, text, sizeof(text), &len), SOTTO_OK);
	assert_int_equal(relay_config_parse((const uint8_t *)text, len, &back, NULL), SOTTO_OK);
	assert_true(relay_config_equal(&cfg, &back));
	assert_string_equal(back.listen, "1111:2222:3333:4444:5555:6666:123.123.123.123");
}

static void config_format__fails_too_large__every_short_buffer(void **state)
{
	char text[RELAY_CONFIG_TEXT_MAX];
	struct relay_config cfg;
	size_t len = 0, got;
	(void)state;

	relay_config_defaults(&cfg);
	assert_int_equal(relay_config_format(&cfg, text, sizeof(text), &len), SOTTO_OK);
	for (size_t cap = 0; cap <= len; cap++) {
		got = 7;
		assert_int_equal(relay_config_format(&cfg, text, cap, &got), SOTTO_ERR_TOO_LARGE);
		assert_int_equal(got, 0);
		if (cap > 0)
			assert_int_equal(text[0], '\0');
	}
	assert_int_equal(relay_config_format(&cfg, text, len + 1, &got), SOTTO_OK);
	assert_int_equal(got, len);
}

static void config_format__fails_invalid__bad_fields(void **state)
{
	char text[RELAY_CONFIG_TEXT_MAX];
	struct relay_config cfg;
	size_t len = 5;
	(void)state;

	relay_config_defaults(&cfg);
	cfg.quota = 0;
	assert_int_equal(relay_config_format(&cfg, text, sizeof(text), &len), SOTTO_ERR_INVALID);
	assert_int_equal(len, 0);
	relay_config_defaults(&cfg);
	memset(cfg.user, 'a', sizeof(cfg.user)); /* no NUL */
	assert_int_equal(relay_config_format(&cfg, text, sizeof(text), &len), SOTTO_ERR_INVALID);
	relay_config_defaults(&cfg);
	memcpy(cfg.listen, "host", 5);
	assert_int_equal(relay_config_format(&cfg, text, sizeof(text), &len), SOTTO_ERR_INVALID);
}

struct kv_seen {
	size_t n;
	char last[64];
};

static sotto_err kv_collect(void *user, const char *key, size_t key_len, const char *value,
                            size_t value_len, struct relay_config_error *err)
{
	struct kv_seen *s = user;
	(void)err;
	s->n++;
	snprintf(s->last, sizeof(s->last), "%.*s|%.*s", (int)key_len, key, (int)value_len, value);
	return SOTTO_OK;
}

static sotto_err kv_refuse(void *user, const char *key, size_t key_len, const char *value,
                           size_t value_len, struct relay_config_error *err)
{
	(void)user, (void)key, (void)key_len, (void)value, (void)value_len;
	err->reason = "refused";
	return SOTTO_ERR_BUSY;
}

static void kv_parse__passes_trimmed_pairs__any_key(void **state)
{
	static const char text[] = "a = 1\n\n  b_2\t=  x # y  \n";
	struct kv_seen seen = {0};
	struct relay_config_error err;
	(void)state;

	assert_int_equal(
	        relay_kv_parse((const uint8_t *)text, strlen(text), kv_collect, &seen, &err),
	        SOTTO_OK);
	assert_int_equal(seen.n, 2);
	assert_string_equal(seen.last, "b_2|x # y");
	assert_int_equal(relay_kv_parse((const uint8_t *)text, strlen(text), kv_refuse, NULL, &err),
	                 SOTTO_ERR_BUSY);
	assert_int_equal(err.line, 1);
	assert_string_equal(err.key, "a");
	assert_string_equal(err.reason, "refused");
}

static void kv_u64__parses__boundaries(void **state)
{
	struct relay_config_error err;
	uint64_t v = 1;
	(void)state;

	memset(&err, 0, sizeof(err));
	assert_int_equal(relay_kv_u64("0", 1, 0, 5, &v, &err), SOTTO_OK);
	assert_int_equal(v, 0);
	assert_int_equal(relay_kv_u64("18446744073709551615", 20, 0, UINT64_MAX, &v, &err),
	                 SOTTO_OK);
	assert_true(v == UINT64_MAX);
	assert_int_equal(relay_kv_u64("18446744073709551616", 20, 0, UINT64_MAX, &v, &err),
	                 SOTTO_ERR_INVALID);
	assert_int_equal(v, 0);
	assert_non_null(strstr(err.reason, "out of range"));
	assert_int_equal(relay_kv_u64("", 0, 0, 5, &v, &err), SOTTO_ERR_INVALID);
	assert_non_null(strstr(err.reason, "missing"));
	assert_int_equal(relay_kv_u64("6", 1, 0, 5, &v, &err), SOTTO_ERR_INVALID);
	assert_int_equal(err.max, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(config_parse__defaults__empty_file),
	        cmocka_unit_test(config_parse__sets_every_key__all_keys_given),
	        cmocka_unit_test(config_parse__accepts__blanks_comments_and_no_final_newline),
	        cmocka_unit_test(config_parse__accepts__range_limits),
	        cmocka_unit_test(config_parse__fails_with_line_and_reason__bad_lines),
	        cmocka_unit_test(config_parse__fails_encoding__nul_byte),
	        cmocka_unit_test(config_parse__fails_too_large__overlong_line),
	        cmocka_unit_test(config_parse__fails_too_large__file_over_max),
	        cmocka_unit_test(config_set__overrides__valid_values),
	        cmocka_unit_test(config_has_key__knows__every_key_and_no_other),
	        cmocka_unit_test(config_set__leaves_config_unchanged__bad_values),
	        cmocka_unit_test(config_set_listen__sets_host_and_port__v4_and_bracketed_v6),
	        cmocka_unit_test(config_set_listen__fails_unchanged__malformed),
	        cmocka_unit_test(config_format__round_trips__defaults_and_all_keys),
	        cmocka_unit_test(config_format__fails_too_large__every_short_buffer),
	        cmocka_unit_test(config_format__fails_invalid__bad_fields),
	        cmocka_unit_test(kv_parse__passes_trimmed_pairs__any_key),
	        cmocka_unit_test(kv_u64__parses__boundaries),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
