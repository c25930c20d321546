/*
 * Unit tests of service/core/utf8.h: UTF-8 decoding and the Unicode check of JSON text that the
 * API's body parser and the directory events run before json-c (issue 10, item 3).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
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

/* Runs the check; returns the pointer it names, or "OK". */
static const char *check(const char *text)
{
	static char ptr[128];
	size_t at = 999;
	if (!json_text_unicode_check(text, strlen(text), ptr, sizeof(ptr), &at))
		return "OK";
	assert_true(at < strlen(text));
	return ptr;
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
	assert_int_equal(json_text_unicode_check(text, strlen(text), ptr, sizeof(ptr), &at), 1);
	assert_string_equal(ptr, "/a_long");
	assert_int_equal(at, 23);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_json_accepts_valid_unicode),
		cmocka_unit_test(test_json_names_the_field),
		cmocka_unit_test(test_json_pointer_is_cut_to_fit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
