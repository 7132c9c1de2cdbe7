/* SPDX-License-Identifier: MIT */
/*
 * profile_test.c - profile names, directory resolution (explicit base,
 * XDG_DATA_HOME, HOME), directory creation and modes, and the profile lock:
 * a second open of a held profile fails with SOTTO_ERR_BUSY from this
 * process and from another one, and the profile opens again once its holder
 * lets go or exits. Real directories under mkdtemp, real child processes.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/compat.h"
#include "store/profile.h"
#include "store/store_testlib.h"
#include "test_util.h"

struct fixture {
	char tmp[64];
	struct tu_alloc alloc;
	sotto_ctx *ctx;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	st_tmpdir(f->tmp, sizeof(f->tmp));
	f->ctx = tu_ctx(&f->alloc, NULL, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	sotto_ctx_free(f->ctx);
	assert_int_equal(f->alloc.n_live, 0);
	st_rmtree(f->tmp, ST_TREE_DEPTH);
	free(f);
	return 0;
}

static void store_profile_name_check__ok__allowed_characters(void **state)
{
	char longest[STORE_PROFILE_NAME_MAX + 1];

	(void)state;
	memset(longest, 'z', STORE_PROFILE_NAME_MAX);
	longest[STORE_PROFILE_NAME_MAX] = '\0';
	assert_int_equal(store_profile_name_check("a"), SOTTO_OK);
	assert_int_equal(store_profile_name_check("default"), SOTTO_OK);
	assert_int_equal(store_profile_name_check("Work_2-B"), SOTTO_OK);
	assert_int_equal(store_profile_name_check("-_-"), SOTTO_OK);
	assert_int_equal(store_profile_name_check(longest), SOTTO_OK);
}

static void store_profile_name_check__invalid__empty_long_or_bad_characters(void **state)
{
	static const char *const bad[] = {
	        "",      ".",    "..",          "../x", "a/b", "a b", ".hidden", "a.b",
	        "tab\t", "nl\n", "caf\xc3\xa9", "a\\b", "a:b", "*",   "~",       "a$b",
	};
	char too_long[STORE_PROFILE_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < SOTTO_ARRAY_LEN(bad); i++)
		assert_int_equal(store_profile_name_check(bad[i]), SOTTO_ERR_INVALID);
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_int_equal(store_profile_name_check(too_long), SOTTO_ERR_INVALID);
}

static void store_profile_dir__joins__base_and_name(void **state)
{
	char out[STORE_PATH_MAX];

	(void)state;
	assert_int_equal(store_profile_dir(out, sizeof(out), "/some/base", "alice"), SOTTO_OK);
	assert_string_equal(out, "/some/base/alice");
	assert_int_equal(store_profile_dir(out, sizeof(out), "/some/base", "a/b"),
	                 SOTTO_ERR_INVALID);
	assert_string_equal(out, "");
	assert_int_equal(store_profile_dir(out, sizeof(out), "", "alice"), SOTTO_ERR_INVALID);
}

static void store_profile_dir__xdg__data_home_when_absolute(void **state)
{
	char out[STORE_PATH_MAX];

	(void)state;
	assert_int_equal(setenv("HOME", "/home/someone", 1), 0);
	assert_int_equal(setenv("XDG_DATA_HOME", "/xdg/data", 1), 0);
	assert_int_equal(store_profile_dir(out, sizeof(out), NULL, "p1"), SOTTO_OK);
	assert_string_equal(out, "/xdg/data/sotto/profiles/p1");

	/* A relative XDG_DATA_HOME is invalid per the specification: it is ignored. */
	assert_int_equal(setenv("XDG_DATA_HOME", "relative/data", 1), 0);
	assert_int_equal(store_profile_dir(out, sizeof(out), NULL, "p1"), SOTTO_OK);
	assert_string_equal(out, "/home/someone/.local/share/sotto/profiles/p1");

	assert_int_equal(setenv("XDG_DATA_HOME", "", 1), 0);
	assert_int_equal(store_profile_dir(out, sizeof(out), NULL, "p1"), SOTTO_OK);
	assert_string_equal(out, "/home/someone/.local/share/sotto/profiles/p1");

	assert_int_equal(unsetenv("XDG_DATA_HOME"), 0);
	assert_int_equal(store_profile_dir(out, sizeof(out), NULL, "p1"), SOTTO_OK);
	assert_string_equal(out, "/home/someone/.local/share/sotto/profiles/p1");
}

static void store_profile_dir__not_found__no_absolute_home(void **state)
{
	char out[STORE_PATH_MAX];

	(void)state;
	assert_int_equal(unsetenv("XDG_DATA_HOME"), 0);
	assert_int_equal(unsetenv("HOME"), 0);
	assert_int_equal(store_profile_dir(out, sizeof(out), NULL, "p1"), SOTTO_ERR_NOT_FOUND);
	assert_int_equal(setenv("HOME", "not/absolute", 1), 0);
	assert_int_equal(store_profile_dir(out, sizeof(out), NULL, "p1"), SOTTO_ERR_NOT_FOUND);
	/* An explicit base needs neither. */
	assert_int_equal(store_profile_dir(out, sizeof(out), "/b", "p1"), SOTTO_OK);
}

static void store_profile_dir__too_large__long_base_or_small_buffer(void **state)
{
	char *base = malloc(STORE_PATH_MAX + 8);
	char out[STORE_PATH_MAX];
	char small[12];

	(void)state;
	assert_non_null(base);
	base[0] = '/';
	memset(base + 1, 'd', STORE_PATH_MAX + 6);
	base[STORE_PATH_MAX + 7] = '\0';
	assert_int_equal(store_profile_dir(out, sizeof(out), base, "p"), SOTTO_ERR_TOO_LARGE);
	assert_string_equal(out, "");
	/* Exactly fitting: "/b/name" is 7 bytes and its NUL the 8th. */
	assert_int_equal(store_profile_dir(small, 8, "/b", "name"), SOTTO_OK);
	assert_string_equal(small, "/b/name");
	assert_int_equal(store_profile_dir(small, 7, "/b", "name"), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(store_profile_dir(small, 0, "/b", "name"), SOTTO_ERR_TOO_LARGE);
	free(base);
}

static void store_profile_new__private_dirs__parents_made_0700(void **state)
{
	struct fixture *f = *state;
	struct store_profile *p = NULL;
	char xdg[256], dir[256], path[ST_PATH_MAX];

	st_path(xdg, sizeof(xdg), f->tmp, "xdg");
	assert_int_equal(setenv("XDG_DATA_HOME", xdg, 1), 0);
	assert_int_equal(store_profile_new(f->ctx, NULL, "alice", &p), SOTTO_OK);
	assert_non_null(p);
	st_path(dir, sizeof(dir), xdg, "sotto/profiles/alice");
	assert_string_equal(store_profile_path(p), dir);
	assert_int_equal(st_mode(xdg), 0700);
	st_path(path, sizeof(path), xdg, "sotto");
	assert_int_equal(st_mode(path), 0700);
	st_path(path, sizeof(path), xdg, "sotto/profiles");
	assert_int_equal(st_mode(path), 0700);
	assert_int_equal(st_mode(dir), 0700);
	st_path(path, sizeof(path), dir, STORE_PROFILE_LOCK_FILE);
	assert_int_equal(st_mode(path), 0600);
	assert_int_equal(store_profile_file(p, "key", path, sizeof(path)), SOTTO_OK);
	assert_string_equal(path + strlen(dir), "/key");
	assert_int_equal(store_profile_file(p, "key", path, strlen(dir) + 4), SOTTO_ERR_TOO_LARGE);
	assert_int_equal(store_profile_sync(p), SOTTO_OK);
	store_profile_free(p);
	store_profile_free(NULL);
	assert_int_equal(unsetenv("XDG_DATA_HOME"), 0);
}

static void store_profile_new__tightens__loose_existing_dir(void **state)
{
	struct fixture *f = *state;
	struct store_profile *p = NULL;
	char dir[256];

	st_path(dir, sizeof(dir), f->tmp, "loose");
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "loose", &p), SOTTO_OK);
	assert_int_equal(st_mode(dir), 0700);
	store_profile_free(p);
}

static void store_profile_new__io__dir_is_symlink_or_file_or_unreachable(void **state)
{
	struct fixture *f = *state;
	struct store_profile *p = NULL;
	char target[256], link_path[256], file[256], base[256];

	st_path(target, sizeof(target), f->tmp, "elsewhere");
	assert_int_equal(mkdir(target, 0700), 0);
	st_path(link_path, sizeof(link_path), f->tmp, "linked");
	assert_int_equal(symlink(target, link_path), 0);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "linked", &p), SOTTO_ERR_IO);
	assert_null(p);

	st_path(file, sizeof(file), f->tmp, "plainfile");
	st_write_file(file, (const uint8_t *)"x", 1, 0600);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "plainfile", &p), SOTTO_ERR_IO);
	assert_null(p);

	/* A base below a regular file cannot be created. */
	st_path(base, sizeof(base), file, "sub");
	assert_int_equal(store_profile_new(f->ctx, base, "x", &p), SOTTO_ERR_IO);
	assert_null(p);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "bad/name", &p), SOTTO_ERR_INVALID);
	assert_null(p);
}

static void store_profile_new__busy__second_open_in_this_process(void **state)
{
	struct fixture *f = *state;
	struct store_profile *a = NULL, *b = NULL, *other = NULL;

	assert_int_equal(store_profile_new(f->ctx, f->tmp, "one", &a), SOTTO_OK);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "one", &b), SOTTO_ERR_BUSY);
	assert_null(b);
	/* Another profile beside it is unaffected. */
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "two", &other), SOTTO_OK);
	store_profile_free(a);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "one", &b), SOTTO_OK);
	store_profile_free(b);
	store_profile_free(other);
}

/* Runs store_profile_new in a child process; returns the sotto_err it got. */
static int open_in_child(const char *base, const char *name)
{
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		sotto_ctx *ctx = NULL;
		struct store_profile *p = NULL;
		sotto_err rc;
		if (sotto_ctx_new(&ctx, NULL) != SOTTO_OK)
			_exit(100);
		rc = store_profile_new(ctx, base, name, &p);
		store_profile_free(p);
		sotto_ctx_free(ctx);
		_exit((int)rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void store_profile_new__busy__held_by_another_process(void **state)
{
	struct fixture *f = *state;
	struct store_profile *p = NULL;

	assert_int_equal(store_profile_new(f->ctx, f->tmp, "shared", &p), SOTTO_OK);
	assert_int_equal(open_in_child(f->tmp, "shared"), SOTTO_ERR_BUSY);
	store_profile_free(p);
	assert_int_equal(open_in_child(f->tmp, "shared"), SOTTO_OK);
}

static void store_profile_new__ok__after_holder_process_exits(void **state)
{
	struct fixture *f = *state;
	struct store_profile *p = NULL;
	int fds[2];
	int status = 0;
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* Take the profile, say so, then die without releasing anything. */
		sotto_ctx *ctx = NULL;
		struct store_profile *held = NULL;
		(void)close(fds[0]);
		if (sotto_ctx_new(&ctx, NULL) != SOTTO_OK ||
		    store_profile_new(ctx, f->tmp, "crashy", &held) != SOTTO_OK)
			_exit(1);
		if (write(fds[1], "k", 1) != 1)
			_exit(2);
		(void)close(fds[1]);
		/* Blocks until the parent has seen the lock held, then is killed. */
		(void)pause();
		_exit(3);
	}
	(void)close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	(void)close(fds[0]);
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "crashy", &p), SOTTO_ERR_BUSY);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(store_profile_new(f->ctx, f->tmp, "crashy", &p), SOTTO_OK);
	store_profile_free(p);
}

static void store_profile_new__nomem__each_allocation(void **state)
{
	struct fixture *f = *state;
	bool succeeded = false;
	long live = f->alloc.n_live;

	for (unsigned long n = 1; n <= 16 && !succeeded; n++) {
		struct store_profile *p = NULL;
		f->alloc.fail_at = f->alloc.n_allocs + n;
		sotto_err rc = store_profile_new(f->ctx, f->tmp, "sweep", &p);
		f->alloc.fail_at = 0;
		if (rc == SOTTO_OK) {
			succeeded = true;
			store_profile_free(p);
			continue;
		}
		assert_int_equal(rc, SOTTO_ERR_NOMEM);
		assert_null(p);
	}
	assert_true(succeeded);
	assert_int_equal(f->alloc.n_live, live);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(store_profile_name_check__ok__allowed_characters),
	        cmocka_unit_test(store_profile_name_check__invalid__empty_long_or_bad_characters),
	        cmocka_unit_test(store_profile_dir__joins__base_and_name),
	        cmocka_unit_test(store_profile_dir__xdg__data_home_when_absolute),
	        cmocka_unit_test(store_profile_dir__not_found__no_absolute_home),
	        cmocka_unit_test(store_profile_dir__too_large__long_base_or_small_buffer),
	        cmocka_unit_test_setup_teardown(store_profile_new__private_dirs__parents_made_0700,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(store_profile_new__tightens__loose_existing_dir,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(
	                store_profile_new__io__dir_is_symlink_or_file_or_unreachable, setup,
	                teardown),
	        cmocka_unit_test_setup_teardown(
	                store_profile_new__busy__second_open_in_this_process, setup, teardown),
	        cmocka_unit_test_setup_teardown(store_profile_new__busy__held_by_another_process,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(store_profile_new__ok__after_holder_process_exits,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(store_profile_new__nomem__each_allocation, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
