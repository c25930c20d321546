/*
 * Unit tests of service/core/utf8.h: UTF-8 decoding and the Unicode check of JSON text that the
 * API's body parser and the directory events run before json-c (issue 10, item 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static void test_decode(void **state)
{
	(void)state;
	uint32_t cp;
	assert_int_equal(utf8_decode((const unsigned char *)"A", 1, &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
	assert_int_equal(cp, 0xe9);
	assert_int_equal(utf8_decode((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
	assert_int_equal(cp, 0x1f600);
	/* Cut short, overlong, a surrogate, beyond U+10FFFF, a stray continuation byte, 0xff. */
	assert_int_equal(utf8_decode((const unsigned char *)"\xc3\xa9", 1, &cp), 0);
	assert_int_equal(utf8_decode((const unsigned char *)"\xc0\xaf", 2, &cp), 0);
	assert_int_equal(utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp), 0);
	assert_int_equal(utf8_decode((const unsigned char *)"\xf4\x90\x80\x80", 4, &cp), 0);
	assert_int_equal(utf8_decode((const unsigned char *)"\x80", 1, &cp), 0);
	assert_int_equal(utf8_decode((const unsigned char *)"\xff", 1, &cp), 0);
	assert_int_equal(utf8_decode((const unsigned char *)"", 0, &cp), 0);
}

/*
 * Runs the check; returns the pointer it names, or "OK". A fault must be want, at the offset
 * at_expected (or anywhere in the text when at_expected is SIZE_MAX).
 */
static const char *fault(const char *text, enum json_text_fault want, size_t at_expected)
{
	static char ptr[128];
	size_t at = 999;
	enum json_text_fault f = json_text_check(text, strlen(text), ptr, sizeof(ptr), &at);
	if (f == JSON_TEXT_OK)
		return "OK";
	assert_int_equal(f, want);
	if (at_expected == SIZE_MAX)
		assert_true(at < strlen(text));
	else
		assert_int_equal(at, at_expected);
	return ptr;
}

static const char *check(const char *text)
{
	return fault(text, JSON_TEXT_BAD_UNICODE, SIZE_MAX);
}

static const char *dup(const char *text, size_t at_expected)
{
	return fault(text, JSON_TEXT_DUPLICATE_NAME, at_expected);
}

static void test_json_accepts_valid_unicode(void **state)
{
	(void)state;
	assert_string_equal(check("{\"name\":\"a\"}"), "OK");
	assert_string_equal(check("{\"name\":\"caf\xc3\xa9 \\u00e9 \\ud83d\\ude00 \xf0\x9f\x98\x80\"}"), "OK");
	assert_string_equal(check("{\"a\\\"b\":\"\\\\ud800\"}"), "OK"); /* an escaped backslash */
	assert_string_equal(check("[]"), "OK");
	assert_string_equal(check(""), "OK");
	/* Not JSON: the parser reports it, not this check. */
	assert_string_equal(check("{\"a\":\"\\u12"), "OK");
	assert_string_equal(check("{\"a\":\"\\q\"}"), "OK");
}

static void test_json_names_the_field(void **state)
{
	(void)state;
	assert_string_equal(check("{\"name\":\"a\\ud800\"}"), "/name");
	assert_string_equal(check("{\"name\":\"a\\uD800\\u0041\"}"), "/name");
	assert_string_equal(check("{\"name\":\"a\\udc00\"}"), "/name");
	assert_string_equal(check("{\"name\":\"\\ud800\\ud800\"}"), "/name");
	assert_string_equal(check("{\"name\":\"a\xff\"}"), "/name");
	assert_string_equal(check("{\"name\":\"\xed\xa0\x80\"}"), "/name");
	assert_string_equal(check("{\"name\":\"\xc3\"}"), "/name");
	assert_string_equal(check("{\"a\":\"ok\",\"b\":[\"ok\",\"x\\ud800\"]}"), "/b/1");
	assert_string_equal(check("{\"phones\":[{\"type\":\"work\"},{\"type\":\"home\",\"value\":\"\\udfff\"}]}"),
			    "/phones/1/value");
	assert_string_equal(check("{\"data\":{\"first_name\":\"\\ud800\"}}"), "/data/first_name");
	assert_string_equal(check("{\"x\":{\"y\":1},\"z\":\"\\ud800\"}"), "/z");
	assert_string_equal(check("[[1,2],[3,\"\\ud800\"]]"), "/1/1");
	/* Member names are decoded and escaped as RFC 6901 says. */
	assert_string_equal(check("{\"a/b~c\":\"\\ud800\"}"), "/a~1b~0c");
	assert_string_equal(check("{\"\\u006eame\":\"\\ud800\"}"), "/name");
	/* A bad member name: the object that holds it. */
	assert_string_equal(check("{\"o\":{\"k\\ud800\":1}}"), "/o");
	assert_string_equal(check("{\"k\xff\":1}"), "");
	assert_string_equal(check("\"\\ud800\""), "");
}

static void test_json_pointer_is_cut_to_fit(void **state)
{
	(void)state;
	char ptr[8];
	size_t at;
	const char *text = "{\"a_long_member_name\":\"\\ud800\"}";
	assert_int_equal(json_text_check(text, strlen(text), ptr, sizeof(ptr), &at),
			 JSON_TEXT_BAD_UNICODE);
	assert_string_equal(ptr, "/a_long");
	assert_int_equal(at, 23);
}

static void test_json_repeated_member_names(void **state)
{
	(void)state;
	assert_string_equal(dup("{\"name\":\"a\",\"name\":\"b\"}", 12), "/name");
	/* The same name once decoded: escapes, and a NUL kept apart from the end of the name. */
	assert_string_equal(dup("{\"name\":1,\"n\\u0061me\":2}", 10), "/name");
	assert_string_equal(dup("{\"a/b\":1,\"a\\/b\":2}", 9), "/a~1b");
	assert_string_equal(dup("{\"a\\u0000b\":1,\"a\\u0000c\":2,\"a\":3}", 0), "OK");
	/* Per object: the same name in two objects, nested or side by side, is fine. */
	assert_string_equal(dup("{\"a\":{\"a\":1},\"b\":{\"a\":2},\"c\":[{\"a\":1},{\"a\":2}]}", 0),
			    "OK");
	assert_string_equal(dup("{\"o\":{\"x\":1,\"y\":{\"x\":2},\"x\":3}}", 24), "/o/x");
	assert_string_equal(dup("[{\"k\":1},{\"k\":1,\"k\":2}]", 16), "/1/k");
	/* A string value equal to a name is not a name. */
	assert_string_equal(dup("{\"a\":\"a\",\"b\":[\"a\",\"b\"]}", 0), "OK");
	/* Deeper than any fixed stack: still checked. */
	char deep[1200];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(deep + n, "{\"d\":");
	n += (size_t)sprintf(deep + n, "{\"z\":1,\"z\":2}");
	for (int i = 0; i < 100; i++)
		deep[n++] = '}';
	deep[n] = '\0';
	const char *p = dup(deep, 100 * 5 + 7);
	assert_true(strncmp(p, "/d/d/d", 6) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_json_accepts_valid_unicode),
		cmocka_unit_test(test_json_names_the_field),
		cmocka_unit_test(test_json_pointer_is_cut_to_fit),
		cmocka_unit_test(test_json_repeated_member_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
