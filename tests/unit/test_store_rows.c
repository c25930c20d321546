/*
 * Unit tests of store_rows() (db/store.c), the end every list read shares: results are built in
 * memory with libpq's PQmakeEmptyPGresult/PQsetvalue, no server. It must copy each row, take the
 * result in every case, tell a missing parent from an empty list, and on a failed copy free only
 * the elements that were copied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_internal.h"

struct item {
	char name[8];
	char *owned; /* malloc'd: what a failed copy must not leak nor double free */
};

/* A result of rows rows with one text column; NULL where vals[i] is NULL. */
static PGresult *result(const char *const *vals, int rows)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	assert_non_null(res);
	PGresAttDesc col = {.name = (char *)"name", .format = 0, .typid = 25, .typlen = -1,
			    .atttypmod = -1};
	assert_int_equal(PQsetResultAttrs(res, 1, &col), 1);
	for (int i = 0; i < rows; i++)
		assert_int_equal(PQsetvalue(res, i, 0, (char *)vals[i],
						 vals[i] ? (int)strlen(vals[i]) : -1), 1);
	return res;
}

static int fail_at = -1; /* the row whose copy fails */

static int item_copy(const PGresult *res, int row, void *dst, struct err *e)
{
	struct item *it = dst;
	if (row == fail_at)
		return err_set(e, E_NOMEM, "item %d", row);
	store_copy(it->name, sizeof(it->name), res, row, 0);
	it->owned = strdup(it->name);
	return it->owned ? E_OK : err_set(e, E_NOMEM, "item");
}

static size_t freed_n = SIZE_MAX;

static void items_free(void *rows, size_t n)
{
	struct item *v = rows;
	freed_n = n;
	for (size_t i = 0; i < n; i++)
		free(v[i].owned);
	free(v);
}

static const struct store_rows items = {
	.size = sizeof(struct item), .copy = item_copy, .free = items_free};

static void test_copies_each_row(void **state)
{
	(void)state;
	const char *vals[] = {"a", "bb", "ccc"};
	void *out = (void *)1;
	size_t n = 99;
	struct err e = {0};
	assert_int_equal(store_rows(E_OK, result(vals, 3), &items, &out, &n, &e), E_OK);
	assert_int_equal(n, 3);
	struct item *v = out;
	assert_string_equal(v[0].name, "a");
	assert_string_equal(v[2].owned, "ccc");
	items_free(out, n);
}

static void test_empty_and_error_passthrough(void **state)
{
	(void)state;
	void *out = (void *)1;
	size_t n = 99;
	struct err e = {0};
	assert_int_equal(store_rows(E_OK, result(NULL, 0), &items, &out, &n, &e), E_OK);
	assert_null(out);
	assert_int_equal(n, 0);
	/* The exec failed: its code comes back, a NULL result is fine. */
	out = (void *)1;
	n = 99;
	assert_int_equal(store_rows(E_UNAVAIL, NULL, &items, &out, &n, &e), E_UNAVAIL);
	assert_null(out);
	assert_int_equal(n, 0);
}

static void test_failed_copy_frees_only_copied(void **state)
{
	(void)state;
	const char *vals[] = {"a", "b", "c", "d"};
	void *out = (void *)1;
	size_t n = 99;
	struct err e = {0};
	fail_at = 2;
	freed_n = SIZE_MAX;
	assert_int_equal(store_rows(E_OK, result(vals, 4), &items, &out, &n, &e), E_NOMEM);
	fail_at = -1;
	assert_int_equal(freed_n, 2);
	assert_null(out);
	assert_int_equal(n, 0);
}

static void test_parent_join(void **state)
{
	(void)state;
	struct store_rows how = items;
	how.parent_missing = "no such group";
	how.null_col = 0;
	void *out = (void *)1;
	size_t n = 99;
	struct err e = {0};
	/* No row: the parent does not exist. */
	assert_int_equal(store_rows(E_OK, result(NULL, 0), &how, &out, &n, &e), E_NOTFOUND);
	assert_string_equal(e.msg, "no such group");
	assert_null(out);
	/* One row of NULLs: the parent without children. */
	const char *none[] = {NULL};
	assert_int_equal(store_rows(E_OK, result(none, 1), &how, &out, &n, &e), E_OK);
	assert_null(out);
	assert_int_equal(n, 0);
	/* Children. */
	const char *two[] = {"x", "y"};
	assert_int_equal(store_rows(E_OK, result(two, 2), &how, &out, &n, &e), E_OK);
	assert_int_equal(n, 2);
	items_free(out, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copies_each_row),
		cmocka_unit_test(test_empty_and_error_passthrough),
		cmocka_unit_test(test_failed_copy_frees_only_copied),
		cmocka_unit_test(test_parent_join),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
