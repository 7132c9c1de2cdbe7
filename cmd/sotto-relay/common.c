/* SPDX-License-Identifier: MIT */
/*
 * common.c - argument parsing and printing shared by sotto-relay's
 * commands. Nothing here decides what the relay does.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"

void cmd_print_help(const struct command *c, FILE *out)
{
	fprintf(out, "usage: sotto-relay %s %s\n\n%s.\n\n%s", c->name, c->usage, c->summary,
	        c->details);
	if (c->print_extra != NULL)
		c->print_extra(out);
}

int cmd_usage(const struct command *c, const char *fmt, ...)
{
	va_list ap;

	fputs("sotto-relay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: sotto-relay %s %s\n", c->name, c->usage);
	return CMD_EXIT_USAGE;
}

int cmd_fail(sotto_err rc, const char *fmt, ...)
{
	va_list ap;

	fputs("sotto-relay: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", sotto_strerror(rc));
	return CMD_EXIT_FAIL;
}

int cmd_config_fail(int exit_code, sotto_err rc, const char *where,
                    const struct relay_config_error *err)
{
	char line[32] = "", key[RELAY_CONFIG_KEY_MAX + 16] = "", range[64] = "";

	if (err->line > 0)
		snprintf(line, sizeof(line), ":%u", (unsigned)err->line);
	if (err->key[0] != '\0')
		snprintf(key, sizeof(key), " %s:", err->key);
	if (err->min != 0 || err->max != 0)
		snprintf(range, sizeof(range), " (%llu..%llu)", (unsigned long long)err->min,
		         (unsigned long long)err->max);
	fprintf(stderr, "sotto-relay: %s%s:%s %s%s: %s\n", where, line, key,
	        err->reason != NULL ? err->reason : "bad value", range, sotto_strerror(rc));
	return exit_code;
}

bool cmd_is_help(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

enum cmd_opt cmd_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
	const char *arg = argv[*i];
	size_t n = strlen(name);

	if (strncmp(arg, "--", 2) != 0 || strncmp(arg + 2, name, n) != 0)
		return CMD_OPT_NO;
	if (arg[2 + n] == '=' && value != NULL) {
		*value = arg + 3 + n;
		return CMD_OPT_YES;
	}
	if (arg[2 + n] != '\0')
		return CMD_OPT_NO;
	if (value == NULL)
		return CMD_OPT_YES;
	if (*i + 1 >= argc)
		return CMD_OPT_MISSING;
	*value = argv[++*i];
	return CMD_OPT_YES;
}

int cmd_config_flag(const struct command *c, struct relay_config *cfg, int argc, char **argv,
                    int *i)
{
	char key[RELAY_CONFIG_KEY_MAX + 1];
	const char *arg = argv[*i], *value = NULL;
	size_t n = 0;

	if (strncmp(arg, "--", 2) != 0)
		return cmd_usage(c, "unexpected argument \"%s\"", arg);
	for (const char *p = arg + 2; *p != '\0' && *p != '=' && n < RELAY_CONFIG_KEY_MAX; p++)
		key[n++] = *p == '-' ? '_' : *p;
	key[n] = '\0';
	if (!relay_config_has_key(key))
		return cmd_usage(c, "unknown option \"%s\"", arg);
	char flag[RELAY_CONFIG_KEY_MAX + 1];
	memcpy(flag, arg + 2, n);
	flag[n] = '\0';
	if (cmd_opt(argc, argv, i, flag, &value) != CMD_OPT_YES || value == NULL)
		return cmd_usage(c, "option \"--%s\" needs a value", flag);
	/* --listen takes HOST:PORT, like the address it stands for. */
	struct relay_config_error err;
	sotto_err rc = strcmp(key, "listen") == 0
	                       ? relay_config_set_listen(cfg, value, strlen(value), &err)
	                       : relay_config_set(cfg, key, value, strlen(value), &err);
	if (rc != SOTTO_OK) {
		char where[RELAY_CONFIG_KEY_MAX + 3];
		snprintf(where, sizeof(where), "--%s", flag);
		if (strcmp(err.key, key) == 0)
			memset(err.key, 0, sizeof(err.key)); /* the flag already names it */
		return cmd_config_fail(CMD_EXIT_USAGE, rc, where, &err);
	}
	return CMD_EXIT_OK;
}

int cmd_data_dir(const char *dir_opt, char *out, size_t cap)
{
	sotto_err rc;

	if (dir_opt != NULL) {
		size_t n = strlen(dir_opt);
		if (n == 0 || n >= cap)
			return cmd_fail(n == 0 ? SOTTO_ERR_INVALID : SOTTO_ERR_TOO_LARGE,
			                "--dir: bad directory");
		memcpy(out, dir_opt, n + 1);
		return CMD_EXIT_OK;
	}
	rc = relay_daemon_default_dir(getenv("XDG_DATA_HOME"), getenv("HOME"), out, cap);
	if (rc != SOTTO_OK)
		return cmd_fail(rc, "no data directory: pass --dir, or set HOME or XDG_DATA_HOME");
	return CMD_EXIT_OK;
}

int cmd_load_config(const char *dir, const char *path_opt, struct relay_config *cfg)
{
	char path[RELAY_DAEMON_PATH_MAX];
	struct relay_config_error err;
	sotto_err rc;

	if (path_opt == NULL) {
		if ((rc = relay_daemon_path(path, sizeof(path), dir, RELAY_DAEMON_CONFIG_FILE)) !=
		    SOTTO_OK)
			return cmd_fail(rc, "%s: bad directory", dir);
		path_opt = path;
	}
	rc = relay_daemon_config_load(path_opt, cfg, &err);
	if (rc == SOTTO_ERR_NOT_FOUND)
		return cmd_fail(rc, "%s: no configuration (run \"sotto-relay init\" first)",
		                path_opt);
	if (rc != SOTTO_OK)
		return cmd_config_fail(CMD_EXIT_FAIL, rc, path_opt, &err);
	return CMD_EXIT_OK;
}

static void log_line(void *user, enum sotto_log_level level, const char *msg)
{
	static const char *const LEVELS[] = {"error: ", "warning: ", "", ""};
	(void)user;
	fprintf(stderr, "sotto-relay: %s%s\n", LEVELS[(unsigned)level & 3u], msg);
}

sotto_ctx *cmd_ctx_new(void)
{
	struct sotto_ctx_config cfg;
	sotto_ctx *ctx = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.log = log_line;
	cfg.log_level = SOTTO_LOG_INFO;
	sotto_err rc = sotto_ctx_new(&ctx, &cfg);
	if (rc != SOTTO_OK) {
		(void)cmd_fail(rc, "cannot set up");
		return NULL;
	}
	return ctx;
}
