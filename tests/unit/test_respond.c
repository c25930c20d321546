/*
 * Unit tests of the helpers every handler shares (api/respond.c, service/core/json_put.c): the
 * JSON "add without leaking" set, list paging (limit, cursor kinds, the page and its
 * next_cursor) and enum filters. Answers are read back with json-c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "api_internal.h"
#include "json_put.h"

/* The text of obj (PLAIN); valid until obj is put. */
static const char *text(json_object *obj)
{
	return json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN);
}

static void test_json_put(void **state)
{
	(void)state;
	json_object *jo = json_object_new_object();
	assert_int_equal(json_put(jo, "a", json_object_new_int(1)), 0);
	assert_int_equal(json_put(jo, "b", NULL), -1); /* a failed json_object_new_*() */
	assert_string_equal(text(jo), "{\"a\":1}");
	json_object_put(jo);
}

static void test_api_json_helpers(void **state)
{
	(void)state;
	json_object *jo = json_object_new_object();
	api_json_put(jo, "omitted", NULL);
	api_json_put_str(jo, "empty", "");
	api_json_put_str(jo, "s", "x");
	api_json_put_or_null(jo, "n1", NULL);
	api_json_put_or_null(jo, "o", json_object_new_boolean(1));
	api_json_put_str_or_null(jo, "n2", "");
	api_json_put_str_or_null(jo, "n3", NULL);
	api_json_put_str_or_null(jo, "t", "y");
	api_json_put_int_or_null(jo, "n4", -1);
	api_json_put_int_or_null(jo, "zero", 0);
	api_json_put_or_null(jo, "n5", api_json_error("", ""));
	api_json_put_or_null(jo, "e1", api_json_error("r", ""));
	api_json_put_or_null(jo, "e2", api_json_error("", "m"));
	assert_string_equal(text(jo), "{\"s\":\"x\",\"n1\":null,\"o\":true,\"n2\":null,\"n3\":null,"
				      "\"t\":\"y\",\"n4\":null,\"zero\":0,\"n5\":null,"
				      "\"e1\":{\"reason\":\"r\"},\"e2\":{\"message\":\"m\"}}");
	json_object_put(jo);
}

/* ---- paging ---- */

struct answer {
	struct api_response rs;
	json_object *body;
};

static void answer_free(struct answer *a)
{
	json_object_put(a->body);
	free(a->rs.body);
}

static json_object *member(json_object *jo, const char *key)
{
	json_object *v = NULL;
	if (!json_object_object_get_ex(jo, key, &v))
		fail_msg("member \"%s\" missing in %s", key, text(jo));
	return v;
}

/* Runs api_page_begin on query q; rc is its return, a->body the answer when one was written. */
static int page(const char *q, enum api_cursor_kind kind, struct api_page *pg, struct answer *a)
{
	struct api_request rq = {.query = q};
	memset(a, 0, sizeof(*a));
	int rc = api_page_begin(&rq, &a->rs, kind, pg);
	a->body = a->rs.body ? json_tokener_parse(a->rs.body) : NULL;
	return rc;
}

/* Asserts a 400 whose only error names pointer. */
static void assert_refused(struct answer *a, const char *pointer)
{
	assert_int_equal(a->rs.status, 400);
	assert_non_null(a->body);
	json_object *errors = member(a->body, "errors");
	assert_int_equal(json_object_array_length(errors), 1);
	assert_string_equal(
		json_object_get_string(member(json_object_array_get_idx(errors, 0), "pointer")),
		pointer);
}

static void test_page_limit(void **state)
{
	(void)state;
	struct api_page pg;
	struct answer a;
	assert_int_equal(page(NULL, API_CURSOR_ID, &pg, &a), 0);
	assert_int_equal(pg.limit, 20);
	assert_int_equal(pg.fetch, 21);
	assert_null(api_page_after(&pg));
	answer_free(&a);
	assert_int_equal(page("limit=100", API_CURSOR_ID, &pg, &a), 0);
	assert_int_equal(pg.limit, 100);
	answer_free(&a);
	const char *bad[] = {"limit=0", "limit=101", "limit=", "limit=2x", "limit=-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(page(bad[i], API_CURSOR_ID, &pg, &a), -1);
		assert_refused(&a, "/query/limit");
		answer_free(&a);
	}
}

static void test_page_cursor_kinds(void **state)
{
	(void)state;
	static const struct {
		const char *q;
		enum api_cursor_kind kind;
		int ok;
		int64_t seq;
	} cases[] = {
		{"cursor=u-1.a:b_c", API_CURSOR_ID, 1, 0},
		{"cursor=bo%20gus", API_CURSOR_ID, 0, 0},
		{"cursor=%25%25", API_CURSOR_ID, 0, 0},
		{"cursor=0b7e4d3c-8f1a-4c2b-9d6e-5a4f3e2d1c0b", API_CURSOR_UUID, 1, 0},
		{"cursor=u-1", API_CURSOR_UUID, 0, 0},
		{"cursor=42", API_CURSOR_SEQ, 1, 42},
		{"cursor=999999999", API_CURSOR_SEQ, 1, 999999999},
		/* a full_sync's group plan entries are numbered from 2^40: a bigint, not an int4 */
		{"cursor=1099511627876", API_CURSOR_SEQ, 1, 1099511627876LL},
		{"cursor=9223372036854775807", API_CURSOR_SEQ, 1, 9223372036854775807LL},
		{"cursor=9223372036854775808", API_CURSOR_SEQ, 0, 0},
		{"cursor=10000000000000000000", API_CURSOR_SEQ, 0, 0},
		{"cursor=042", API_CURSOR_SEQ, 0, 0},
		{"cursor=0", API_CURSOR_SEQ, 0, 0},
		{"cursor=u-1", API_CURSOR_SEQ, 0, 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_page pg;
		struct answer a;
		int rc = page(cases[i].q, cases[i].kind, &pg, &a);
		if (cases[i].ok) {
			if (rc != 0)
				fail_msg("%s refused", cases[i].q);
			assert_non_null(api_page_after(&pg));
			assert_string_equal(api_page_after(&pg), strchr(cases[i].q, '=') + 1);
			assert_int_equal(pg.seq, cases[i].seq);
		} else {
			if (rc != -1)
				fail_msg("%s accepted", cases[i].q);
			assert_refused(&a, "/query/cursor");
		}
		answer_free(&a);
	}
}

struct row {
	char id[16];
	int64_t seq;
};

static json_object *row_json(const void *r, const void *arg)
{
	const struct row *row = r;
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "id", row->id);
	api_json_put_str(jo, "tag", arg);
	return jo;
}

/* api_reply_rows over rows[0..n) with this limit; the parsed answer. */
static json_object *reply_rows(enum api_cursor_kind kind, int limit, const struct row *rows,
			       size_t n, size_t key_off)
{
	struct api_page pg = {.kind = kind, .limit = limit, .n = n};
	struct api_response rs = {0};
	api_reply_rows(&rs, &pg, 0, rows, sizeof(*rows), key_off, row_json, "t");
	assert_int_equal(rs.status, 200);
	json_object *jo = json_tokener_parse(rs.body);
	assert_non_null(jo);
	free(rs.body);
	return jo;
}

static void test_reply_rows(void **state)
{
	(void)state;
	const struct row rows[] = {{"a", 9}, {"b", 7}, {"c", 5}};
	/* The extra row came back: two shown, next_cursor after the second. */
	json_object *jo = reply_rows(API_CURSOR_ID, 2, rows, 3, offsetof(struct row, id));
	assert_string_equal(text(jo), "{\"items\":[{\"id\":\"a\",\"tag\":\"t\"},"
				      "{\"id\":\"b\",\"tag\":\"t\"}],\"next_cursor\":\"b\"}");
	json_object_put(jo);
	/* A sequence key is written as its number. */
	jo = reply_rows(API_CURSOR_SEQ, 1, rows, 2, offsetof(struct row, seq));
	assert_string_equal(json_object_get_string(member(jo, "next_cursor")), "9");
	assert_int_equal(json_object_array_length(member(jo, "items")), 1);
	json_object_put(jo);
	/* The last page: no next_cursor. */
	jo = reply_rows(API_CURSOR_ID, 3, rows, 3, offsetof(struct row, id));
	assert_int_equal(json_object_array_length(member(jo, "items")), 3);
	assert_false(json_object_object_get_ex(jo, "next_cursor", NULL));
	json_object_put(jo);
	jo = reply_rows(API_CURSOR_ID, 20, NULL, 0, offsetof(struct row, id));
	assert_string_equal(text(jo), "{\"items\":[]}");
	json_object_put(jo);
	/* The store failed: its error is the answer. */
	struct api_page pg = {.kind = API_CURSOR_ID, .limit = 2, .n = 0};
	err_set(&pg.e, E_NOTFOUND, "no such integration");
	struct api_response rs = {0};
	api_reply_rows(&rs, &pg, E_NOTFOUND, rows, sizeof(*rows), 0, row_json, NULL);
	assert_int_equal(rs.status, 404);
	free(rs.body);
}

static void test_query_one_of(void **state)
{
	(void)state;
	static const char *const set[] = {"on", "off", NULL};
	char buf[8];
	struct api_request rq = {.query = "mode=off&bad=no"};
	struct api_response rs = {0};
	assert_int_equal(api_query_one_of(&rq, &rs, "mode", set, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "off");
	assert_int_equal(api_query_one_of(&rq, &rs, "absent", set, buf, sizeof(buf)), 0);
	assert_null(rs.body);
	assert_int_equal(api_query_one_of(&rq, &rs, "bad", set, buf, sizeof(buf)), -1);
	struct answer a = {.rs = rs, .body = json_tokener_parse(rs.body)};
	assert_refused(&a, "/query/bad");
	json_object *err = json_object_array_get_idx(member(a.body, "errors"), 0);
	assert_string_equal(json_object_get_string(member(err, "detail")),
			    "must be one of on, off");
	answer_free(&a);
}

static void test_body_only(void **state)
{
	(void)state;
	static const char *const allowed[] = {"name", NULL};
	static const char *const readonly[] = {"id", NULL};
	json_object *body = json_tokener_parse("{\"name\":\"a\",\"id\":\"x\",\"zz\":1}");
	struct problem p;
	problem_set(&p, 400, "validation", "Invalid request", "t");
	assert_int_equal(api_body_only(body, allowed, readonly, &p), 2);
	assert_int_equal(p.n_errors, 2);
	assert_string_equal(p.errors[0].pointer, "/id");
	assert_string_equal(p.errors[0].detail, "is read-only");
	assert_string_equal(p.errors[1].pointer, "/zz");
	assert_string_equal(p.errors[1].detail, "unknown field");
	/* id is assigned by the server: read-only even where the caller lists no read-only names */
	problem_set(&p, 400, "validation", "Invalid request", "t");
	assert_int_equal(api_body_only(body, allowed, NULL, &p), 2);
	assert_string_equal(p.errors[0].detail, "is read-only");
	assert_string_equal(p.errors[1].detail, "unknown field");
	json_object_put(body);
}

static void test_query_check_limit_media_type(void **state)
{
	(void)state;
	const char *fine[] = {NULL, "", "a=1&b=2", "a=1&&b=2", "&a=1", "ab=1&a=2"};
	for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
		struct api_request rq = {.query = fine[i]};
		struct api_response rs = {0};
		assert_int_equal(api_query_check(&rq, &rs), 0);
		assert_null(rs.body);
	}
	const char *bad[][2] = {{"limit=5&limit=6", "/query/limit"}, {"a=1&b=&c=2", "/query/b"},
				{"a=1&b", "/query/b"},		    {"x=1&a=2&x=3", "/query/x"}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct api_request rq = {.query = bad[i][0]};
		struct api_response rs = {0};
		assert_int_equal(api_query_check(&rq, &rs), -1);
		struct answer a = {.rs = rs, .body = json_tokener_parse(rs.body)};
		assert_refused(&a, bad[i][1]);
		answer_free(&a);
	}
	assert_int_equal(api_query_limit("5"), 5);
	assert_int_equal(api_query_limit("100"), 100);
	assert_int_equal(api_query_limit("007"), 7);
	const char *limits[] = {"", "+5", " 5", "5 ", "0", "101", "1000", "-1", "5x"};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		assert_int_equal(api_query_limit(limits[i]), -1);
	assert_true(api_media_type_ok("application/json"));
	assert_true(api_media_type_ok("Application/JSON ; charset=\"UTF-8\""));
	assert_true(api_media_type_ok("application/merge-patch+json;charset=utf8"));
	assert_false(api_media_type_ok(NULL));
	assert_false(api_media_type_ok("text/plain"));
	assert_false(api_media_type_ok("application/jsonx"));
	assert_false(api_media_type_ok("application/json; charset=latin-1"));
	assert_false(api_media_type_ok("application/json; foo=1; charset=utf-16"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_put),	  cmocka_unit_test(test_api_json_helpers),
		cmocka_unit_test(test_page_limit),	  cmocka_unit_test(test_page_cursor_kinds),
		cmocka_unit_test(test_reply_rows),	  cmocka_unit_test(test_query_one_of),
		cmocka_unit_test(test_body_only),
		cmocka_unit_test(test_query_check_limit_media_type),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
