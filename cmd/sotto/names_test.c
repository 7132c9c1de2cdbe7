/* SPDX-License-Identifier: MIT */
/*
 * names_test.c - tests of finding contacts by name (names.c): exact names
 * win over case-folded ones, live contacts over deleted ones, two contacts
 * with one name are ambiguous (and the message lists both IDs), "#ID"
 * always names one, and the chat's "@name text" takes the longest name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static struct client_agent_contact ITEMS[8];

static void add(struct names_list *l, int64_t id, enum client_agent_contact_state st,
                const char *name)
{
	struct client_agent_contact *c = &l->items[l->n++];
	memset(c, 0, sizeof(*c));
	c->id = id;
	c->state = st;
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->peer_name, sizeof(c->peer_name), "%s", name);
}

static void make(struct names_list *l)
{
	memset(l, 0, sizeof(*l));
	l->items = ITEMS;
	l->cap = 8;
	add(l, 1, CLIENT_AGENT_CONNECTED, "alice");
	add(l, 2, CLIENT_AGENT_CONNECTED, "Bob");
	add(l, 3, CLIENT_AGENT_CONNECTED, "pal");
	add(l, 4, CLIENT_AGENT_JOINING, "pal");
	add(l, 5, CLIENT_AGENT_DELETED, "carol");
	add(l, 6, CLIENT_AGENT_CONNECTED, "Alice Smith");
	add(l, 7, CLIENT_AGENT_INVITING, "");
	add(l, 8, CLIENT_AGENT_DELETED, "alice");
}

static int64_t found(const struct names_list *l, const char *q)
{
	struct names_match m;
	names_match(l, q, strlen(q), &m);
	return m.outcome == NAMES_FOUND ? l->items[m.idx[0]].id : -(int64_t)m.outcome;
}

static void names_match__found__exact_or_folded(void **state)
{
	struct names_list l;
	(void)state;
	make(&l);
	assert_int_equal(found(&l, "alice"), 1); /* the deleted "alice" is not a rival */
	assert_int_equal(found(&l, "Bob"), 2);
	assert_int_equal(found(&l, "bob"), 2); /* case-folded when nothing is exact */
	assert_int_equal(found(&l, "ALICE"), 1);
	assert_int_equal(found(&l, "Alice Smith"), 6);
	assert_int_equal(found(&l, "carol"), 5); /* deleted ones when nothing live matches */
}

static void names_match__ambiguous__two_with_one_name(void **state)
{
	struct names_list l;
	struct names_match m;
	char why[512];
	(void)state;
	make(&l);
	names_match(&l, "pal", 3, &m);
	assert_int_equal(m.outcome, NAMES_AMBIGUOUS);
	assert_int_equal(m.n_matches, 2);
	names_describe(&l, "pal", 3, &m, why, sizeof(why));
	assert_non_null(strstr(why, "ambiguous"));
	assert_non_null(strstr(why, "#3 pal (connected)"));
	assert_non_null(strstr(why, "#4 pal (joining)"));
}

static void names_match__by_id__whatever_the_name(void **state)
{
	struct names_list l;
	(void)state;
	make(&l);
	assert_int_equal(found(&l, "#4"), 4);
	assert_int_equal(found(&l, "#7"), 7);
	assert_int_equal(found(&l, "#8"), 8);
	assert_int_equal(found(&l, "#99"), -(int64_t)NAMES_NOT_FOUND);
	assert_int_equal(found(&l, "#"), -(int64_t)NAMES_NOT_FOUND);
	assert_int_equal(found(&l, "#4x"), -(int64_t)NAMES_NOT_FOUND);
}

static void names_match__not_found__lists_names(void **state)
{
	struct names_list l;
	struct names_match m;
	char why[512];
	(void)state;
	make(&l);
	names_match(&l, "dave", 4, &m);
	assert_int_equal(m.outcome, NAMES_NOT_FOUND);
	names_describe(&l, "dave", 4, &m, why, sizeof(why));
	assert_string_equal(why,
	                    "no contact \"dave\"; contacts: alice, Bob, pal, pal, Alice Smith");
	/* An empty name never matches the contact without one. */
	assert_int_equal(found(&l, ""), -(int64_t)NAMES_NOT_FOUND);
}

static void names_match_prefix__longest_name__with_spaces(void **state)
{
	struct names_list l;
	struct names_match m;
	const char *line = "Alice Smith hello there";
	(void)state;
	make(&l);
	names_match_prefix(&l, line, strlen(line), &m);
	assert_int_equal(m.outcome, NAMES_FOUND);
	assert_int_equal(l.items[m.idx[0]].id, 6);
	assert_int_equal(m.consumed, 11);
	line = "alice hi";
	names_match_prefix(&l, line, strlen(line), &m);
	assert_int_equal(l.items[m.idx[0]].id, 1);
	assert_int_equal(m.consumed, 5);
	line = "bob";
	names_match_prefix(&l, line, strlen(line), &m);
	assert_int_equal(l.items[m.idx[0]].id, 2);
	line = "zed hi";
	names_match_prefix(&l, line, strlen(line), &m);
	assert_int_equal(m.outcome, NAMES_NOT_FOUND);
	assert_int_equal(m.consumed, 3); /* the first word, for the message */
	line = "#3 hi";
	names_match_prefix(&l, line, strlen(line), &m);
	assert_int_equal(l.items[m.idx[0]].id, 3);
}

static void names_describe__bounded__tiny_buffer(void **state)
{
	struct names_list l;
	struct names_match m;
	char why[8];
	(void)state;
	make(&l);
	names_match(&l, "pal", 3, &m);
	names_describe(&l, "pal", 3, &m, why, sizeof(why));
	assert_int_equal(strlen(why), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(names_match__found__exact_or_folded),
	        cmocka_unit_test(names_match__ambiguous__two_with_one_name),
	        cmocka_unit_test(names_match__by_id__whatever_the_name),
	        cmocka_unit_test(names_match__not_found__lists_names),
	        cmocka_unit_test(names_match_prefix__longest_name__with_spaces),
	        cmocka_unit_test(names_describe__bounded__tiny_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
