/*
 * Unit tests of api/validate.h: validate_name over UTF-8 edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "validate.h"

#define NAME_MAX_CHARS 255

/* Prints bytes as a C literal for failure messages. */
static const char *show(const char *s)
{
	static char buf[128];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < sizeof(buf); p++) {
		if (*p >= 0x20 && *p < 0x7f)
			buf[o++] = (char)*p;
		else
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", *p);
	}
	buf[o] = '\0';
	return buf;
}

static void expect_ok(const char *s, size_t max)
{
	const char *why = validate_name(s, max);
	if (why)
		fail_msg("\"%s\" (max %zu): want accepted, got \"%s\"", show(s), max, why);
}

/* Rejected; when word is not NULL, the reason mentions it. */
static void expect_bad(const char *s, size_t max, const char *word)
{
	const char *why = validate_name(s, max);
	if (!why)
		fail_msg("\"%s\" (max %zu): want rejected, got accepted", show(s), max);
	if (word && !strstr(why, word))
		fail_msg("\"%s\": want a reason about \"%s\", got \"%s\"", show(s), word, why);
}

/* n copies of unit, in a malloc'd string. */
static char *repeat(const char *unit, size_t n)
{
	size_t ulen = strlen(unit);
	char *s = malloc(ulen * n + 1);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * ulen, unit, ulen);
	s[ulen * n] = '\0';
	return s;
}

static void test_accepts_names(void **state)
{
	(void)state;
	static const char *const good[] = {
		"a",
		"Ada Lovelace",
		" padded ",
		"caf\xc3\xa9",		    /* é */
		"\xe6\x97\xa5\xe6\x9c\xac", /* 日本 */
		"\xf0\x9f\x98\x80",	    /* U+1F600 */
		"a\xc2\xa0Z",		    /* U+00A0 between letters */
		"\xc2\xa1",		    /* U+00A1, just past C1 */
		"\xef\xbf\xbd",		    /* U+FFFD replacement character */
		"\xef\xb7\x8f",		    /* U+FDCF, just before the FDD0 block */
		"\xef\xb7\xb0",		    /* U+FDF0, just after it */
		"\xef\xbf\xbc",		    /* U+FFFC */
		"\xf4\x8f\xbf\xbd",	    /* U+10FFFD, last valid plane-16 character */
		"\xed\x9f\xbf",		    /* U+D7FF, just before the surrogates */
		"\xee\x80\x80",		    /* U+E000, just after them */
		"~",			    /* 0x7e, just before DEL */
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		expect_ok(good[i], NAME_MAX_CHARS);
}

static void test_empty(void **state)
{
	(void)state;
	expect_bad("", NAME_MAX_CHARS, "empty");
	expect_bad("", 0, "empty");
}

static void test_only_white_space(void **state)
{
	(void)state;
	static const char *const spaces[] = {
		" ",
		"     ",
		"\xc2\xa0",		  /* U+00A0 no-break space */
		"\xe3\x80\x80",		  /* U+3000 ideographic space */
		" \xc2\xa0\xe3\x80\x80 ", /* a mix */
		"\xe2\x80\x83",		  /* U+2003 em space */
		"\xe2\x80\xaf",		  /* U+202F narrow no-break space */
	};
	for (size_t i = 0; i < sizeof(spaces) / sizeof(spaces[0]); i++)
		expect_bad(spaces[i], NAME_MAX_CHARS, "space");
}

static void test_control_characters(void **state)
{
	(void)state;
	static const char *const ctl[] = {
		"a\tb",		"a\nb", "a\rb", "\x01", "a\x1fZ", "a\x7fZ", /* DEL */
		"a\xc2\x85Z",						    /* U+0085 NEL, C1 */
		"\xc2\x80",						    /* U+0080, first C1 */
		"name\xc2\x9f",						    /* U+009F, last C1 */
		"\x1b[31mred",						    /* ESC */
	};
	for (size_t i = 0; i < sizeof(ctl) / sizeof(ctl[0]); i++)
		expect_bad(ctl[i], NAME_MAX_CHARS, "control");
	/* Control characters among white space are still rejected (whatever the reason). */
	expect_bad(" \t ", NAME_MAX_CHARS, NULL);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\xc0\xaf",		    /* overlong '/' */
		"\xc1\xbf",		    /* overlong 0x7f */
		"\xe0\x80\xaf",		    /* overlong, 3 bytes */
		"\xe0\x9f\xbf",		    /* overlong U+07FF */
		"\xf0\x80\x80\xaf",	    /* overlong, 4 bytes */
		"\xf0\x8f\xbf\xbf",	    /* overlong U+FFFF */
		"\xed\xa0\x80",		    /* U+D800, high surrogate */
		"\xed\xbf\xbf",		    /* U+DFFF, low surrogate */
		"\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 surrogate pair */
		"\xc3",			    /* truncated at the end */
		"ab\xe2\x82",		    /* truncated 3-byte */
		"ab\xf0\x9f\x98",	    /* truncated 4-byte */
		"\xe2\x82z",		    /* continuation missing mid-string */
		"\xc3z",
		"\x80", /* lone continuation byte */
		"a\xbf",
		"\xf4\x90\x80\x80", /* above U+10FFFF */
		"\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80",	    /* 5-byte form */
		"\xfc\x84\x80\x80\x80\x80", /* 6-byte form */
		"\xfe",
		"\xff",
		"caf\xe9", /* Latin-1, not UTF-8 */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i], NAME_MAX_CHARS, "UTF-8");
}

static void test_noncharacters(void **state)
{
	(void)state;
	static const char *const nonchar[] = {
		"a\xef\xbf\xbe",    /* U+FFFE */
		"\xef\xbf\xbf",	    /* U+FFFF */
		"\xef\xb7\x90",	    /* U+FDD0 */
		"x\xef\xb7\xaf",    /* U+FDEF */
		"\xf0\x9f\xbf\xbe", /* U+1FFFE */
		"\xf3\xbf\xbf\xbf", /* U+FFFFF */
		"\xf4\x8f\xbf\xbf", /* U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(nonchar) / sizeof(nonchar[0]); i++)
		expect_bad(nonchar[i], NAME_MAX_CHARS, NULL);
}

static void test_length_in_code_points(void **state)
{
	(void)state;
	static const char *const units[] = {"a", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80"};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		char *s = repeat(units[i], NAME_MAX_CHARS);
		expect_ok(s, NAME_MAX_CHARS);
		free(s);
		s = repeat(units[i], NAME_MAX_CHARS + 1);
		expect_bad(s, NAME_MAX_CHARS, NULL);
		free(s);
	}

	/* Other limits count the same way. */
	expect_ok("abc", 3);
	expect_bad("abcd", 3, NULL);
	expect_ok("\xe6\x97\xa5", 1);
	expect_bad("\xe6\x97\xa5\xe6\x97\xa5", 1, NULL);
	expect_bad("a", 0, NULL);
}

static void test_whole_string_checked(void **state)
{
	(void)state;
	/* A bad byte after many good characters is still found. */
	char *s = repeat("\xc3\xa9", NAME_MAX_CHARS - 1);
	size_t len = strlen(s);
	char *t = realloc(s, len + 2);
	assert_non_null(t);
	t[len] = '\x7f';
	t[len + 1] = '\0';
	expect_bad(t, NAME_MAX_CHARS, "control");
	t[len] = '\xff';
	expect_bad(t, NAME_MAX_CHARS, "UTF-8");
	free(t);
}

/* The replica's rules per field: what the platform may hold, the same on REST and events. */
static void test_directory_fields(void **state)
{
	(void)state;
	char name[300];
	memset(name, 'x', 255);
	name[255] = '\0';
	assert_null(validate_user_field("first_name", name));
	assert_null(validate_user_field("first_name", "<b>=x"));
	assert_null(validate_user_field("email", "abuse@example.com"));
	assert_null(validate_user_field("email", "ada+tag@example.com"));
	assert_null(validate_user_field("no_such_field", "\x01"));
	assert_non_null(validate_user_field("email", "a b@example.com"));
	assert_non_null(validate_user_field("email", "two..dots@example.com"));
	assert_non_null(validate_user_field("manager_id", "bad id"));
	assert_non_null(validate_user_field("job_title", "a\tb"));
	name[255] = 'x';
	name[256] = '\0';
	assert_string_equal(validate_user_field("last_name", name), "must be at most 255 characters");
	assert_string_equal(validate_group_field("name", name), "must be at most 255 characters");
	assert_null(validate_group_field("description", "two\nlines"));
	assert_null(validate_group_field("email", "postmaster@example.com"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts_names),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_only_white_space),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_noncharacters),
		cmocka_unit_test(test_length_in_code_points),
		cmocka_unit_test(test_whole_string_checked),
		cmocka_unit_test(test_directory_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
