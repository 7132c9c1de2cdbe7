/* SPDX-License-Identifier: MIT */
/*
 * db_int.h - the migration runner's seam (store layer; for db.c and its
 * tests only).
 *
 * store_db_new() runs the list of migrations compiled into db.c; the tests
 * run the same runner over lists of their own (a step that fails half way,
 * a list longer or shorter than the database's version).
 */
#ifndef SOTTO_STORE_DB_INT_H
#define SOTTO_STORE_DB_INT_H

#include <stddef.h>

#include "store/db.h"

/*
 * The migration list compiled into db.c: entry v takes the schema from
 * version v to v + 1. *n gets the number of entries.
 */
const char *const *store_db_migrations(size_t *n);

/*
 * store_db_new() with steps[0 .. n_steps) as the migration list (n_steps >= 1;
 * steps[0] must create the meta table as the real first migration does).
 * Errors: as store_db_new, and SOTTO_ERR_INVALID for an empty list.
 */
SOTTO_NODISCARD sotto_err store_db_new_with(struct sotto_ctx *ctx,
                                            const struct store_profile *profile, struct secbuf *key,
                                            const char *const *steps, size_t n_steps,
                                            struct store_db **out);

#endif /* SOTTO_STORE_DB_INT_H */
