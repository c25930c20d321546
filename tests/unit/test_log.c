/*
 * Unit tests of service/core/log.h: every line is one valid JSON object whatever the values hold
 * (issue 10, item 14): long values are cut at a character boundary, not the line; escapes are never
 * split; bytes that are not UTF-8 become U+FFFD; a request id of 128 characters is kept whole.
 */
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "utf8.h"

/* Runs log_write with stdout sent to a temporary file; returns the line written (malloc'd). */
static char *capture(const char *msg, const struct log_field *fields, size_t n)
{
	fflush(stdout);
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	int saved = dup(STDOUT_FILENO);
	assert_true(dup2(fileno(tmp), STDOUT_FILENO) >= 0);
	log_write(LOG_INFO, "test", "ev", msg, fields, n);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);
	long len = ftell(tmp);
	assert_true(len > 0);
	char *line = calloc(1, (size_t)len + 1);
	assert_non_null(line);
	rewind(tmp);
	assert_int_equal(fread(line, 1, (size_t)len, tmp), (size_t)len);
	fclose(tmp);
	return line;
}

/* The line is one JSON object of valid UTF-8 ending in one newline, at most 8 KiB. */
static json_object *parse_line(const char *line)
{
	size_t len = strlen(line);
	assert_true(len <= 8192);
	assert_true(len > 1 && line[len - 1] == '\n');
	assert_null(memchr(line, '\n', len - 1));
	uint32_t cp;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_decode((const unsigned char *)line + i, len - i, &cp);
		if (!n)
			fail_msg("byte %zu of the line is not UTF-8", i);
		i += n;
	}
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *jo = json_tokener_parse_ex(tok, line, (int)len - 1);
	if (json_tokener_get_error(tok) != json_tokener_success || !jo ||
	    !json_object_is_type(jo, json_type_object))
		fail_msg("not one JSON object: %.300s", line);
	json_tokener_free(tok);
	return jo;
}

static const char *get(json_object *jo, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(jo, key, &v) ? json_object_get_string(v) : NULL;
}

static void test_plain_line(void **state)
{
	(void)state;
	struct log_field f[] = {LOG_STR("path", "/v1/x"), LOG_NUM("status", 200),
				LOG_STR("none", NULL)};
	char *line = capture("hello", f, 3);
	json_object *jo = parse_line(line);
	assert_string_equal(get(jo, "msg"), "hello");
	assert_string_equal(get(jo, "path"), "/v1/x");
	assert_string_equal(get(jo, "status"), "200");
	assert_null(get(jo, "truncated"));
	json_object_put(jo);
	free(line);
}

static void test_request_id_of_128_characters_is_kept(void **state)
{
	(void)state;
	char id[129];
	memset(id, 'r', 128);
	id[128] = '\0';
	log_ctx_set_request(id);
	char *line = capture(NULL, NULL, 0);
	log_ctx_clear();
	json_object *jo = parse_line(line);
	assert_string_equal(get(jo, "req_id"), id);
	json_object_put(jo);
	free(line);
}

/* Values made of characters whose escapes are long, at every length near the limits. */
static void test_hostile_values_never_break_the_line(void **state)
{
	(void)state;
	const char *units[] = {"\"", "\\", "\x01", "\xc3\xa9", "\xf0\x9f\x98\x80", "\xff", "a",
			       "\xe2\x80\xa8", "\xed\xa0\x80", "\xc3"};
	int cut = 0;
	for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
		for (size_t reps = 1000; reps < 9000; reps += 997) {
			size_t ul = strlen(units[u]);
			char *v = malloc(ul * reps + 1);
			assert_non_null(v);
			for (size_t i = 0; i < reps; i++)
				memcpy(v + i * ul, units[u], ul);
			v[ul * reps] = '\0';
			struct log_field f[] = {LOG_STR("path", v), LOG_STR("route", v),
						LOG_NUM("status", 404), LOG_STR("method", v),
						LOG_STR("tail", "kept?")};
			char *line = capture(v, f, 5);
			json_object *jo = parse_line(line);
			assert_string_equal(get(jo, "event"), "ev");
			assert_non_null(get(jo, "path"));
			/* Whatever was cut or left out, the line says so; the rest is whole. */
			if (!get(jo, "truncated"))
				assert_string_equal(get(jo, "tail"), "kept?");
			else
				assert_string_equal(get(jo, "truncated"), "true");
			cut += get(jo, "truncated") != NULL;
			json_object_put(jo);
			free(line);
			free(v);
		}
	}
	assert_true(cut > 50);
}

static void test_invalid_utf8_becomes_replacement_character(void **state)
{
	(void)state;
	struct log_field f[] = {LOG_STR("path", "/v1/users/a\xff\xc3(")};
	char *line = capture(NULL, f, 1);
	json_object *jo = parse_line(line);
	assert_string_equal(get(jo, "path"), "/v1/users/a\xef\xbf\xbd\xef\xbf\xbd(");
	json_object_put(jo);
	free(line);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_line),
		cmocka_unit_test(test_request_id_of_128_characters_is_kept),
		cmocka_unit_test(test_hostile_values_never_break_the_line),
		cmocka_unit_test(test_invalid_utf8_becomes_replacement_character),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
