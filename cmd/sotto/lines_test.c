/* SPDX-License-Identifier: MIT */
/*
 * lines_test.c - tests of bounded input lines (lines.c) through a real
 * pipe and a real file on a real libuv loop: lines split at LF with CR
 * dropped, a line over the bound refused whole (never cut into a shorter
 * one) and the next line intact, a last line without LF, NUL bytes kept,
 * and the end of input reported once.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "lines.h"

enum { N_LINES_MAX = 16, LINE_CAP = 64 };

struct got {
	char lines[N_LINES_MAX][LINE_CAP];
	size_t lens[N_LINES_MAX];
	size_t n;
	unsigned n_too_long, n_eof;
	struct lines *l;
};

static void on_line(void *user, const char *line, size_t len)
{
	struct got *g = user;
	assert_true(g->n < N_LINES_MAX);
	assert_true(len < LINE_CAP);
	assert_int_equal(line[len], '\0');
	memcpy(g->lines[g->n], line, len + 1);
	g->lens[g->n++] = len;
}

static void on_too_long(void *user)
{
	struct got *g = user;
	g->n_too_long++;
}

static void on_eof(void *user)
{
	struct got *g = user;
	g->n_eof++;
	lines_free(g->l);
	g->l = NULL;
}

/* Feeds bytes through fd (already written), runs the loop until the end. */
static void run(int fd, size_t max, struct got *g)
{
	uv_loop_t loop;
	struct lines_callbacks cb = {
	        .on_line = on_line, .on_too_long = on_too_long, .on_eof = on_eof, .user = g};

	memset(g, 0, sizeof(*g));
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(lines_new(&loop, fd, max, &cb, &g->l), SOTTO_OK);
	for (int i = 0; i < 10000 && g->n_eof == 0; i++)
		(void)uv_run(&loop, UV_RUN_ONCE);
	lines_free(g->l);
	(void)uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(g->n_eof, 1);
}

static void through_pipe(const char *bytes, size_t len, size_t max, struct got *g)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], bytes, len), (ssize_t)len);
	close(p[1]);
	run(p[0], max, g);
	close(p[0]);
}

static void lines__split__lf_and_crlf(void **state)
{
	struct got g;
	(void)state;
	through_pipe("one\ntwo\r\n\nthree", 16, 32, &g);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.lines[0], "one");
	assert_string_equal(g.lines[1], "two");
	assert_int_equal(g.lens[2], 0);
	assert_string_equal(g.lines[3], "three");
	assert_int_equal(g.n_too_long, 0);
}

static void lines__refused_whole__over_the_bound(void **state)
{
	struct got g;
	(void)state;
	/* 8 bytes fit; the 9-byte line must not come out as a shorter one. */
	through_pipe("12345678\n123456789\nok\n123456789012", 35, 8, &g);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.lines[0], "12345678");
	assert_string_equal(g.lines[1], "ok");
	assert_int_equal(g.n_too_long, 2);
}

static void lines__keeps_nul__inside_a_line(void **state)
{
	struct got g;
	(void)state;
	through_pipe("a\0b\n", 4, 8, &g);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.lens[0], 3);
	assert_memory_equal(g.lines[0], "a\0b", 3);
}

static void lines__reads__regular_file(void **state)
{
	char path[] = "/tmp/sotto-lines-test-XXXXXX";
	struct got g;
	(void)state;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, "x\ny\n", 4), 4);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	run(fd, 8, &g);
	close(fd);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.lines[1], "y");
}

static void lines_new__refuses__zero_bound(void **state)
{
	uv_loop_t loop;
	struct lines *l = (struct lines *)&loop;
	struct lines_callbacks cb = {.on_line = on_line};
	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(lines_new(&loop, 0, 0, &cb, &l), SOTTO_ERR_INVALID);
	assert_null(l);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(lines__split__lf_and_crlf),
	        cmocka_unit_test(lines__refused_whole__over_the_bound),
	        cmocka_unit_test(lines__keeps_nul__inside_a_line),
	        cmocka_unit_test(lines__reads__regular_file),
	        cmocka_unit_test(lines_new__refuses__zero_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
