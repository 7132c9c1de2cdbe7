/* SPDX-License-Identifier: MIT */
/*
 * fuzz_replay.c - a main() for fuzz targets in ordinary builds: runs
 * LLVMFuzzerTestOneInput over every file named on the command line or found
 * in the directories named there, so ctest replays each committed corpus and
 * every past crash without libFuzzer. Exits 1 if a directory is missing or
 * empty (a corpus that silently vanished would make the test pass vacuously).
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return 1;
	}
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	if (buf == NULL) {
		fclose(f);
		return 1;
	}
	for (;;) {
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				free(buf);
				fclose(f);
				return 1;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

static int run_dir(const char *dir, unsigned long *n_run)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[4096];
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "cannot open corpus directory %s\n", dir);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path))
			continue;
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode))
			rc |= run_dir(path, n_run);
		else if (S_ISREG(st.st_mode)) {
			rc |= run_file(path);
			(*n_run)++;
		}
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	unsigned long n_run = 0;
	int rc = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			rc |= run_dir(argv[i], &n_run);
		else {
			rc |= run_file(argv[i]);
			n_run++;
		}
	}
	printf("replayed %lu inputs\n", n_run);
	if (n_run == 0) {
		fprintf(stderr, "no inputs found: the corpus is missing\n");
		return 1;
	}
	return rc;
}
