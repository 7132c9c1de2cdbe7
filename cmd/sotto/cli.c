/* SPDX-License-Identifier: MIT */
/*
 * cli.c - printing problems the one way (cmd/sotto); see cli.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	fputs("sotto: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_fail(sotto_err rc, const char *fmt, ...)
{
	va_list ap;

	fputs("sotto: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", sotto_strerror(rc));
	return CLI_EXIT_FAIL;
}
