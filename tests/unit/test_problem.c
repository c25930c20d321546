/*
 * Unit tests of api/problem.h: the RFC 9457 JSON that problem_render writes, read back with json-c.
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

#include "problem.h"

/* Renders p, checks len against the text and parses it; the caller puts the object. */
static json_object *render_parse(const struct problem *p, const char *extra)
{
	size_t len = SIZE_MAX;
	char *text = problem_render(p, extra, &len);
	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	json_object *jo = json_tokener_parse(text);
	if (!jo || !json_object_is_type(jo, json_type_object))
		fail_msg("not a JSON object: %s", text);
	free(text);
	return jo;
}

static json_object *member(json_object *jo, const char *key)
{
	json_object *val = NULL;
	if (!json_object_object_get_ex(jo, key, &val))
		fail_msg("member \"%s\" missing", key);
	return val;
}

static const char *member_str(json_object *jo, const char *key)
{
	json_object *val = member(jo, key);
	assert_true(json_object_is_type(val, json_type_string));
	return json_object_get_string(val);
}

static void test_standard_members(void **state)
{
	(void)state;
	struct problem p;
	memset(&p, 0x5a, sizeof(p));
	problem_set(&p, 404, "not-found", "Not Found", "tenant %s does not exist", "t-1");
	assert_int_equal(p.n_errors, 0);

	json_object *jo = render_parse(&p, NULL);
	assert_string_equal(member_str(jo, "type"), PROBLEM_TYPE_PREFIX "not-found");
	assert_string_equal(member_str(jo, "type"), "urn:gwsync:problem:not-found");
	assert_string_equal(member_str(jo, "title"), "Not Found");
	assert_true(json_object_is_type(member(jo, "status"), json_type_int));
	assert_int_equal(json_object_get_int(member(jo, "status")), 404);
	assert_string_equal(member_str(jo, "detail"), "tenant t-1 does not exist");
	/* No errors[] when there are none. */
	assert_false(json_object_object_get_ex(jo, "errors", NULL));
	assert_int_equal(json_object_object_length(jo), 4);
	json_object_put(jo);
}

static void test_text_is_escaped(void **state)
{
	(void)state;
	struct problem p;
	problem_set(&p, 400, "bad-request", "Bad Request",
		    "quote \" backslash \\ nl \n tab \t </x>");
	problem_add_error(&p, "/na\"me", "ctl \x01 end");

	json_object *jo = render_parse(&p, NULL);
	assert_string_equal(member_str(jo, "detail"), "quote \" backslash \\ nl \n tab \t </x>");
	json_object *item = json_object_array_get_idx(member(jo, "errors"), 0);
	assert_non_null(item);
	assert_string_equal(member_str(item, "pointer"), "/na\"me");
	assert_string_equal(member_str(item, "detail"), "ctl \x01 end");
	json_object_put(jo);
}

static void test_errors_array(void **state)
{
	(void)state;
	struct problem p;
	problem_set(&p, 422, "validation", "Validation Failed", "%d fields are wrong", 2);
	problem_add_error(&p, "/name", "must not be empty");
	problem_add_error(&p, "/domains/%d", "%s is not a domain", "ex%ample");
	assert_int_equal(p.n_errors, 2);

	json_object *jo = render_parse(&p, NULL);
	assert_int_equal(json_object_get_int(member(jo, "status")), 422);
	json_object *errs = member(jo, "errors");
	assert_true(json_object_is_type(errs, json_type_array));
	assert_int_equal(json_object_array_length(errs), 2);
	json_object *e0 = json_object_array_get_idx(errs, 0);
	json_object *e1 = json_object_array_get_idx(errs, 1);
	assert_string_equal(member_str(e0, "pointer"), "/name");
	assert_string_equal(member_str(e0, "detail"), "must not be empty");
	/* The pointer is copied as is, not used as a format. */
	assert_string_equal(member_str(e1, "pointer"), "/domains/%d");
	assert_string_equal(member_str(e1, "detail"), "ex%ample is not a domain");
	json_object_put(jo);
}

static void test_set_clears_errors(void **state)
{
	(void)state;
	struct problem p;
	problem_set(&p, 422, "validation", "Validation Failed", "one");
	problem_add_error(&p, "/a", "bad");
	problem_set(&p, 409, "conflict", "Conflict", "two");
	assert_int_equal(p.n_errors, 0);
	json_object *jo = render_parse(&p, NULL);
	assert_false(json_object_object_get_ex(jo, "errors", NULL));
	assert_string_equal(member_str(jo, "type"), "urn:gwsync:problem:conflict");
	json_object_put(jo);
}

static void test_errors_capped(void **state)
{
	(void)state;
	struct problem p;
	problem_set(&p, 422, "validation", "Validation Failed", "%d fields are wrong",
		    PROBLEM_MAX_ERRORS + 8);
	for (int i = 0; i < PROBLEM_MAX_ERRORS + 8; i++)
		problem_add_error(&p, "/items/0", "error %d", i);
	assert_int_equal(p.n_errors, PROBLEM_MAX_ERRORS);

	json_object *jo = render_parse(&p, NULL);
	json_object *errs = member(jo, "errors");
	assert_int_equal(json_object_array_length(errs), PROBLEM_MAX_ERRORS);
	/* The first ones are kept, in order. */
	assert_string_equal(member_str(json_object_array_get_idx(errs, 0), "detail"), "error 0");
	char last[32];
	snprintf(last, sizeof(last), "error %d", PROBLEM_MAX_ERRORS - 1);
	assert_string_equal(
		member_str(json_object_array_get_idx(errs, PROBLEM_MAX_ERRORS - 1), "detail"),
		last);
	json_object_put(jo);
}

static void test_long_texts_cut(void **state)
{
	(void)state;
	struct problem p;
	char big[2048];
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	problem_set(&p, 400, "bad-request", "Bad Request", "%s", big);
	problem_add_error(&p, big, "%s", big);
	assert_int_equal(strlen(p.detail), sizeof(p.detail) - 1);
	assert_int_equal(strlen(p.errors[0].pointer), sizeof(p.errors[0].pointer) - 1);
	assert_int_equal(strlen(p.errors[0].detail), sizeof(p.errors[0].detail) - 1);
	json_object *jo = render_parse(&p, NULL);
	assert_int_equal(strlen(member_str(jo, "detail")), sizeof(p.detail) - 1);
	json_object_put(jo);
}

static void test_extra_members_merged(void **state)
{
	(void)state;
	struct problem p;
	problem_set(&p, 503, "not-ready", "Service Unavailable", "a check failed");

	json_object *jo = render_parse(
		&p, "{\"checks\": {\"database\": \"ok\", \"kafka\": \"down\"}, \"retry\": 5}");
	json_object *checks = member(jo, "checks");
	assert_true(json_object_is_type(checks, json_type_object));
	assert_string_equal(member_str(checks, "database"), "ok");
	assert_string_equal(member_str(checks, "kafka"), "down");
	assert_int_equal(json_object_get_int(member(jo, "retry")), 5);
	assert_string_equal(member_str(jo, "type"), "urn:gwsync:problem:not-ready");
	assert_int_equal(json_object_get_int(member(jo, "status")), 503);
	assert_int_equal(json_object_object_length(jo), 6);
	json_object_put(jo);
}

static void test_extra_does_not_override(void **state)
{
	(void)state;
	struct problem p;
	problem_set(&p, 422, "validation", "Validation Failed", "real detail");
	problem_add_error(&p, "/name", "real error");

	json_object *jo = render_parse(&p, "{\"type\": \"urn:evil\", \"title\": \"T\", "
					   "\"status\": 200, \"detail\": \"fake\", "
					   "\"errors\": [], \"instance\": \"/v1/x\"}");
	assert_string_equal(member_str(jo, "type"), "urn:gwsync:problem:validation");
	assert_string_equal(member_str(jo, "title"), "Validation Failed");
	assert_int_equal(json_object_get_int(member(jo, "status")), 422);
	assert_string_equal(member_str(jo, "detail"), "real detail");
	assert_int_equal(json_object_array_length(member(jo, "errors")), 1);
	/* A member that is not a standard one still comes through. */
	assert_string_equal(member_str(jo, "instance"), "/v1/x");
	assert_int_equal(json_object_object_length(jo), 6);
	json_object_put(jo);
}

static void test_extra_not_an_object(void **state)
{
	(void)state;
	struct problem p;
	problem_set(&p, 500, "internal", "Internal Server Error", "x");
	static const char *const extras[] = {"", "[1, 2]", "\"s\"", "{\"a\": ", "null", "{}"};
	for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
		/* Nothing to merge: the standard members alone. */
		json_object *jo = render_parse(&p, extras[i]);
		assert_int_equal(json_object_object_length(jo), 4);
		assert_int_equal(json_object_get_int(member(jo, "status")), 500);
		json_object_put(jo);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_standard_members),
		cmocka_unit_test(test_text_is_escaped),
		cmocka_unit_test(test_errors_array),
		cmocka_unit_test(test_set_clears_errors),
		cmocka_unit_test(test_errors_capped),
		cmocka_unit_test(test_long_texts_cut),
		cmocka_unit_test(test_extra_members_merged),
		cmocka_unit_test(test_extra_does_not_override),
		cmocka_unit_test(test_extra_not_an_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
