/* SPDX-License-Identifier: MIT */
/*
 * cmd_stats.c - "sotto-relay stats": prints the aggregate counters the
 * daemon last wrote to DIR/stats (the store itself stays locked while the
 * daemon runs, so it is never opened here).
 */
#include <stdio.h>
#include <time.h>

#include "command.h"

static void print_stats(const struct relay_daemon_stats *st)
{
	time_t now = time(NULL);
	unsigned long long age = now > 0 && (unsigned long long)now > st->updated_s
	                                 ? (unsigned long long)now - st->updated_s
	                                 : 0;
	const struct {
		const char *name;
		uint64_t value;
	} rows[] = {
	        {"port", st->port},
	        {"connections", st->connections},
	        {"clients", st->clients},
	        {"queues", st->queues},
	        {"messages", st->messages},
	        {"messages_in", st->messages_in},
	        {"messages_out", st->messages_out},
	        {"messages_acked", st->messages_acked},
	        {"messages_expired", st->messages_expired},
	        {"queues_created", st->queues_created},
	        {"commits", st->commits},
	        {"commit_failures", st->commit_failures},
	};

	const char *state = !st->is_running ? "stopped"
	                    : relay_daemon_stats_is_stale(st, (uint64_t)now)
	                            ? "not updating (died?)"
	                            : "running";
	printf("%-17s %s (updated %llu s ago)\n", "state", state, age);
	printf("%-17s %llu s\n", "uptime",
	       st->updated_s > st->started_s ? (unsigned long long)(st->updated_s - st->started_s)
	                                     : 0ULL);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		printf("%-17s %llu\n", rows[i].name, (unsigned long long)rows[i].value);
}

static int run_stats(const struct command *self, int argc, char **argv)
{
	char dir[RELAY_DAEMON_PATH_MAX];
	const char *dir_opt = NULL;
	struct relay_daemon_stats st;
	int code;

	for (int i = 1; i < argc; i++) {
		enum cmd_opt o = cmd_opt(argc, argv, &i, "dir", &dir_opt);
		if (o == CMD_OPT_NO)
			return cmd_usage(self, "unknown argument \"%s\"", argv[i]);
		if (o == CMD_OPT_MISSING)
			return cmd_usage(self, "option \"%s\" needs a value", argv[i]);
	}
	if ((code = cmd_data_dir(dir_opt, dir, sizeof(dir))) != CMD_EXIT_OK)
		return code;
	sotto_err rc = relay_daemon_stats_load(dir, &st);
	if (rc == SOTTO_ERR_NOT_FOUND)
		return cmd_fail(rc, "%s: no stats file (the daemon has not run yet)", dir);
	if (rc != SOTTO_OK)
		return cmd_fail(rc, "%s: cannot read the stats file", dir);
	print_stats(&st);
	return CMD_EXIT_OK;
}

const struct command CMD_STATS = {
        .name = "stats",
        .usage = "[--dir DIR]",
        .summary = "print the counters the daemon last wrote",
        .details = "Prints the aggregate counters from DIR/stats, which the running daemon\n"
                   "rewrites every stats_interval_s seconds and once more when it stops:\n"
                   "connections, clients, queues, stored messages, messages in and out.\n"
                   "They never name a client, a queue or an address.\n\n"
                   "options:\n"
                   "  --dir DIR    data directory (default as for init)\n",
        .run = run_stats,
};
