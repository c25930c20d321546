/*
 * json_pool — JSON values a cmocka test writes as text, kept until the test's teardown. Test-only,
 * header-only (each test executable has its own pool); one thread.
 *
 *   J("{\"id\":\"1\"}")  parses (a failed parse fails the test) and keeps the value;
 *   json_pool_keep(jo)   keeps a value made otherwise; json_pool_free() puts every kept value.
 */
#ifndef GWSYNC_TEST_JSON_POOL_H
#define GWSYNC_TEST_JSON_POOL_H

#include <json-c/json.h>

#define JSON_POOL_MAX 64

static struct json_object *json_pool[JSON_POOL_MAX];
static size_t json_pool_n;

static struct json_object *json_pool_keep(struct json_object *jo)
{
	assert_true(json_pool_n < JSON_POOL_MAX);
	json_pool[json_pool_n++] = jo;
	return jo;
}

/* Parses JSON text; the object lives until json_pool_free(). */
static struct json_object *J(const char *text)
{
	struct json_object *jo = json_tokener_parse(text);
	assert_non_null(jo);
	return json_pool_keep(jo);
}

static void json_pool_free(void)
{
	for (size_t i = 0; i < json_pool_n; i++)
		json_object_put(json_pool[i]);
	json_pool_n = 0;
}

#endif
