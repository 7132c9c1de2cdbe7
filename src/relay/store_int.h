/* SPDX-License-Identifier: MIT */
/*
 * store_int.h - internals of the SQLite relay store shared with its tests
 * (relay layer). Only store_sqlite.c and store_test.c include this file.
 */
#ifndef SOTTO_RELAY_STORE_INT_H
#define SOTTO_RELAY_STORE_INT_H

#include <sqlite3.h>

#include "relay/store.h"

enum {
	RELAY_STORE_SCHEMA_VERSION = 1,  /* PRAGMA user_version of this build */
	RELAY_STORE_APP_ID = 0x736f5452, /* PRAGMA application_id, "soTR" */
};

/* The database file inside the data directory. */
#define RELAY_STORE_FILE "relay.db"

/*
 * The store's connection, borrowed, for tests that must reach below the API
 * (simulating a full disk with PRAGMA max_page_count).
 */
sqlite3 *relay_store_db(struct relay_store *store);

#endif /* SOTTO_RELAY_STORE_INT_H */
