/* SPDX-License-Identifier: MIT */
/*
 * opview_probe.c - a small tool for tests/operator_view_test.sh, which looks
 * at everything a relay operator holds. Test code only; never linked into
 * libsotto.
 *
 *   opview_probe dump DB
 *     Prints every value a relay store (src/relay/store_sqlite.c) keeps, one
 *     per line, "LABEL HEX", where LABEL names the table, column and row:
 *       q<N>.rid q<N>.sid q<N>.k_rauth q<N>.k_deliver q<N>.k_sauth
 *       q<N>.ssk_priv m<SEQ>.rid m<SEQ>.msg_id m<SEQ>.body
 *     followed by one line "sizes L1 L2 ..." with the body length of every
 *     stored message (in seq order) and "counts QUEUES MESSAGES". NULL values
 *     are skipped. The database is opened read-only, so point it at a copy.
 *
 *   opview_probe common8 A B
 *     A and B are files of "LABEL HEX" lines; B may also be "raw:FILE", any
 *     bytes (a log, a core dump) taken as one value labelled FILE. Exits 1 and prints the first
 *     string of 8 bytes that occurs in a value of A and in a value of B
 *     (any common substring of 8 or more bytes contains one), 0 if there is
 *     none, 2 on a usage or input error. A's windows go into a hash table
 *     and B is scanned, so put the larger input in B.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

enum {
	WIN_LEN = 8,         /* the shortest common string reported */
	LABEL_MAX = 128,     /* bytes of a label, NUL included */
	SIZES_MAX = 1 << 16, /* stored messages listed by dump */
	TABLE_MIN_LOG2 = 16, /* smallest hash table: 65,536 slots */
	TABLE_MAX_LOG2 = 30, /* largest hash table */
	FILE_MAX_MIB = 2047, /* MiB of any one input file */
	EXIT_FOUND = 1,      /* common8 found a shared string */
	EXIT_USAGE = 2,      /* bad arguments or input */
};

struct value {
	char label[LABEL_MAX];
	uint8_t *bytes;
	size_t len;
};

struct values {
	struct value *v;
	size_t n;
	size_t cap;
};

struct slot {
	uint64_t key;   /* the window's 8 bytes, little-endian */
	uint32_t value; /* index into values + 1; 0: empty */
	uint32_t off;   /* offset of the window in the value */
};

static void print_hex(const uint8_t *b, size_t len)
{
	for (size_t i = 0; i < len; i++)
		printf("%02x", b[i]);
}

static void print_value(const char *label, const uint8_t *b, size_t len)
{
	printf("%s ", label);
	print_hex(b, len);
	putchar('\n');
}

/* Reads a whole regular file into a new malloc'd buffer; NULL if it cannot. */
static uint8_t *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct stat st;
	uint8_t *buf = NULL;

	*len = 0;
	if (f == NULL)
		return NULL;
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (unsigned long long)st.st_size > (unsigned long long)FILE_MAX_MIB << 20 ||
	    (buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL ||
	    fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
		free(buf);
		fclose(f);
		return NULL;
	}
	fclose(f);
	*len = (size_t)st.st_size;
	return buf;
}

/* ---- dump ----------------------------------------------------------------------- */

static const char *const QUEUE_COLS[] = {"rid",       "sid",     "k_rauth",
                                         "k_deliver", "k_sauth", "ssk_priv"};

static int dump_queues(sqlite3 *db, long *n_queues)
{
	sqlite3_stmt *st = NULL;
	long n = 0;
	int rc = sqlite3_prepare_v2(db,
	                            "SELECT rid, sid, k_rauth, k_deliver, k_sauth, ssk_priv "
	                            "FROM queue ORDER BY rid",
	                            -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		n++;
		for (int c = 0; c < 6; c++) {
			char label[LABEL_MAX];
			if (sqlite3_column_type(st, c) == SQLITE_NULL)
				continue;
			const uint8_t *b = sqlite3_column_blob(st, c);
			size_t len = (size_t)sqlite3_column_bytes(st, c);
			snprintf(label, sizeof(label), "q%ld.%s", n, QUEUE_COLS[c]);
			print_value(label, b, len);
		}
	}
	sqlite3_finalize(st);
	*n_queues = n;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int dump_msgs(sqlite3 *db, long *n_msgs)
{
	static const char *const cols[] = {"rid", "msg_id", "body"};
	static int sizes[SIZES_MAX];
	sqlite3_stmt *st = NULL;
	long n = 0;
	int rc = sqlite3_prepare_v2(db, "SELECT seq, rid, msg_id, body FROM msg ORDER BY seq", -1,
	                            &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		long long seq = sqlite3_column_int64(st, 0);
		for (int c = 0; c < 3; c++) {
			char label[LABEL_MAX];
			const uint8_t *b = sqlite3_column_blob(st, c + 1);
			size_t len = (size_t)sqlite3_column_bytes(st, c + 1);
			snprintf(label, sizeof(label), "m%lld.%s", seq, cols[c]);
			print_value(label, b, len);
		}
		if (n < SIZES_MAX)
			sizes[n] = sqlite3_column_bytes(st, 3);
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return rc;
	printf("sizes");
	for (long i = 0; i < n && i < SIZES_MAX; i++)
		printf(" %d", sizes[i]);
	putchar('\n');
	*n_msgs = n;
	return SQLITE_OK;
}

static int cmd_dump(const char *path)
{
	sqlite3 *db = NULL;
	long n_queues = 0, n_msgs = 0;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
	if (rc == SQLITE_OK)
		rc = dump_queues(db, &n_queues);
	if (rc == SQLITE_OK)
		rc = dump_msgs(db, &n_msgs);
	if (rc != SQLITE_OK) {
		fprintf(stderr, "opview_probe: %s: %s\n", path,
		        db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return EXIT_USAGE;
	}
	sqlite3_close(db);
	printf("counts %ld %ld\n", n_queues, n_msgs);
	return 0;
}

/* ---- common8 -------------------------------------------------------------------- */

static int hex_nibble(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Parses "LABEL HEX" lines of text[0..len) into vs; false on malformed input. */
static bool parse_values(const uint8_t *text, size_t len, struct values *vs)
{
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && text[eol] != '\n')
			eol++;
		size_t sp = i;
		while (sp < eol && text[sp] != ' ')
			sp++;
		if (sp == eol || sp - i >= LABEL_MAX || (eol - sp - 1) % 2 != 0)
			return false;
		if (vs->n == vs->cap) {
			size_t ncap = vs->cap ? vs->cap * 2 : 64;
			struct value *nv = realloc(vs->v, ncap * sizeof(*nv));
			if (nv == NULL)
				return false;
			vs->v = nv;
			vs->cap = ncap;
		}
		struct value *v = &vs->v[vs->n];
		memcpy(v->label, text + i, sp - i);
		v->label[sp - i] = '\0';
		v->len = (eol - sp - 1) / 2;
		if ((v->bytes = malloc(v->len ? v->len : 1)) == NULL)
			return false;
		vs->n++;
		for (size_t k = 0; k < v->len; k++) {
			int hi = hex_nibble(text[sp + 1 + 2 * k]),
			    lo = hex_nibble(text[sp + 2 + 2 * k]);
			if (hi < 0 || lo < 0)
				return false;
			v->bytes[k] = (uint8_t)(hi << 4 | lo);
		}
		i = eol + 1;
	}
	return true;
}

static bool load_values(const char *path, struct values *vs)
{
	size_t len;
	if (strncmp(path, "raw:", 4) == 0) {
		struct value *v = malloc(sizeof(*v));
		if (v == NULL || (v->bytes = read_file(path + 4, &v->len)) == NULL) {
			free(v);
			fprintf(stderr, "opview_probe: cannot read %s\n", path + 4);
			return false;
		}
		snprintf(v->label, sizeof(v->label), "%s", path + 4);
		vs->v = v;
		vs->n = vs->cap = 1;
		return true;
	}
	uint8_t *text = read_file(path, &len);
	if (text == NULL) {
		fprintf(stderr, "opview_probe: cannot read %s\n", path);
		return false;
	}
	bool ok = parse_values(text, len, vs);
	free(text);
	if (!ok)
		fprintf(stderr, "opview_probe: %s: not \"LABEL HEX\" lines\n", path);
	return ok;
}

static void free_values(struct values *vs)
{
	for (size_t i = 0; i < vs->n; i++)
		free(vs->v[i].bytes);
	free(vs->v);
	vs->v = NULL;
	vs->n = vs->cap = 0;
}

static uint64_t load_win(const uint8_t *p)
{
	uint64_t k = 0;
	for (int i = WIN_LEN - 1; i >= 0; i--)
		k = k << 8 | p[i];
	return k;
}

static size_t slot_of(uint64_t key, unsigned log2)
{
	/* Fibonacci hashing: the windows are mostly random, but logs are not. */
	return (size_t)((key * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - log2));
}

static int cmd_common8(const char *path_a, const char *path_b)
{
	struct values a = {0}, b = {0};
	struct slot *table = NULL;
	unsigned log2 = TABLE_MIN_LOG2;
	size_t n_windows = 0;
	int code = EXIT_USAGE;

	if (!load_values(path_a, &a) || !load_values(path_b, &b))
		goto out;
	for (size_t i = 0; i < a.n; i++)
		n_windows += a.v[i].len >= WIN_LEN ? a.v[i].len - WIN_LEN + 1 : 0;
	while (log2 < TABLE_MAX_LOG2 && ((size_t)1 << log2) < 2 * n_windows)
		log2++;
	if (((size_t)1 << log2) < 2 * n_windows || a.n >= UINT32_MAX ||
	    (table = calloc((size_t)1 << log2, sizeof(*table))) == NULL) {
		fprintf(stderr, "opview_probe: %s is too large\n", path_a);
		goto out;
	}
	size_t mask = ((size_t)1 << log2) - 1;
	for (size_t i = 0; i < a.n; i++) {
		for (size_t off = 0; off + WIN_LEN <= a.v[i].len; off++) {
			uint64_t key = load_win(a.v[i].bytes + off);
			size_t s = slot_of(key, log2);
			while (table[s].value != 0 && table[s].key != key)
				s = (s + 1) & mask;
			if (table[s].value == 0)
				table[s] = (struct slot){key, (uint32_t)(i + 1), (uint32_t)off};
		}
	}
	code = 0;
	for (size_t j = 0; j < b.n && code == 0; j++) {
		for (size_t off = 0; off + WIN_LEN <= b.v[j].len; off++) {
			uint64_t key = load_win(b.v[j].bytes + off);
			size_t s = slot_of(key, log2);
			while (table[s].value != 0 && table[s].key != key)
				s = (s + 1) & mask;
			if (table[s].value == 0)
				continue;
			const struct value *va = &a.v[table[s].value - 1];
			printf("%s at %" PRIu32 " and %s at %zu share ", va->label, table[s].off,
			       b.v[j].label, off);
			print_hex(b.v[j].bytes + off, WIN_LEN);
			putchar('\n');
			code = EXIT_FOUND;
			break;
		}
	}
out:
	free(table);
	free_values(&a);
	free_values(&b);
	return code;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "dump") == 0)
		return cmd_dump(argv[2]);
	if (argc == 4 && strcmp(argv[1], "common8") == 0)
		return cmd_common8(argv[2], argv[3]);
	fprintf(stderr, "usage: opview_probe dump DB | common8 A B|raw:FILE\n");
	return EXIT_USAGE;
}
