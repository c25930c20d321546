/*
 * Unit tests of service/core/access.h and service/core/err.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "access.h"
#include "err.h"

static void test_access_round_trip(void **state)
{
	(void)state;
	static const enum access_role roles[] = {ACCESS_READER, ACCESS_EDITOR, ACCESS_OPERATOR};
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		const char *name = access_role_name(roles[i]);
		assert_non_null(name);
		assert_int_equal(access_role_parse(name), roles[i]);
	}
	assert_string_equal(access_role_name(ACCESS_READER), "reader");
	assert_string_equal(access_role_name(ACCESS_EDITOR), "editor");
	assert_string_equal(access_role_name(ACCESS_OPERATOR), "operator");
	assert_string_equal(access_role_name(ACCESS_NONE), "none");
	assert_int_equal(access_role_parse("reader"), ACCESS_READER);
	assert_int_equal(access_role_parse("editor"), ACCESS_EDITOR);
	assert_int_equal(access_role_parse("operator"), ACCESS_OPERATOR);
}

static void test_access_order(void **state)
{
	(void)state;
	/* Each role includes the ones below it; handlers compare with >=. */
	assert_true(ACCESS_NONE < ACCESS_READER);
	assert_true(ACCESS_READER < ACCESS_EDITOR);
	assert_true(ACCESS_EDITOR < ACCESS_OPERATOR);
	assert_true(access_role_parse("operator") >= access_role_parse("editor"));
	assert_true(access_role_parse("editor") >= access_role_parse("reader"));
}

static void test_access_unknown(void **state)
{
	(void)state;
	static const char *const unknown[] = {
		"",	"none",	   "Reader", "READER",	  " reader",	"reader ",
		"read", "readers", "admin",  "owner",	  "operator\n", "editor\t",
		"0",	"1",	   "r",	     "operatorx",
	};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		if (access_role_parse(unknown[i]) != ACCESS_NONE)
			fail_msg("access_role_parse(\"%s\"): want ACCESS_NONE", unknown[i]);
	}
	assert_int_equal(access_role_parse(NULL), ACCESS_NONE);
}

static void test_err_set_returns_code(void **state)
{
	(void)state;
	struct err e;
	err_clear(&e);
	assert_int_equal(err_set(&e, E_NOTFOUND, "integration %s", "i-1"), E_NOTFOUND);
	assert_int_equal(e.code, E_NOTFOUND);
	assert_string_equal(e.msg, "integration i-1");

	assert_int_equal(err_set(&e, E_RATELIMIT, "%d of %d, %s", 3, 5, "slow"), E_RATELIMIT);
	assert_int_equal(e.code, E_RATELIMIT);
	assert_string_equal(e.msg, "3 of 5, slow");

	/* A later err_set replaces the message. */
	assert_int_equal(err_set(&e, E_INVAL, "x"), E_INVAL);
	assert_string_equal(e.msg, "x");
	assert_int_equal(err_set(&e, E_OK, "%s", ""), E_OK);
	assert_int_equal(e.code, E_OK);
	assert_string_equal(e.msg, "");
}

static void test_err_set_null(void **state)
{
	(void)state;
	/* Without a detail the code still comes back, for `return err_set(e, ...)`. */
	assert_int_equal(err_set(NULL, E_CONFLICT, "tenant %s", "t"), E_CONFLICT);
	assert_int_equal(err_set(NULL, E_INTERNAL, "%s", "boom"), E_INTERNAL);
	assert_int_equal(err_set(NULL, E_OK, "ok"), E_OK);
	err_clear(NULL);
}

static void test_err_long_message(void **state)
{
	(void)state;
	struct err e;
	char big[1024];
	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	memset(&e, 0x5a, sizeof(e));
	e.code = E_OK;
	e.retry_after_s = 7;
	e.upstream_status = 429;
	snprintf(e.reason, sizeof(e.reason), "rateLimitExceeded");
	assert_int_equal(err_set(&e, E_UPSTREAM, "prefix %s", big), E_UPSTREAM);
	assert_int_equal(strlen(e.msg), sizeof(e.msg) - 1);
	assert_true(strncmp(e.msg, "prefix mmm", 10) == 0);
	/* Nothing past msg was touched. */
	assert_string_equal(e.reason, "rateLimitExceeded");
	assert_int_equal(e.retry_after_s, 7);
	assert_int_equal(e.upstream_status, 429);

	/* Exactly fitting. */
	big[sizeof(e.msg) - 1] = '\0';
	assert_int_equal(err_set(&e, E_TIMEOUT, "%s", big), E_TIMEOUT);
	assert_string_equal(e.msg, big);
}

static void test_err_clear(void **state)
{
	(void)state;
	struct err e, zero;
	memset(&zero, 0, sizeof(zero));
	memset(&e, 0x5a, sizeof(e));
	err_clear(&e);
	assert_int_equal(e.code, E_OK);
	assert_string_equal(e.msg, "");
	assert_string_equal(e.reason, "");
	assert_int_equal(e.retry_after_s, 0);
	assert_int_equal(e.upstream_status, 0);
	assert_memory_equal(&e, &zero, sizeof(e));
}

static void test_err_code_names(void **state)
{
	(void)state;
	assert_string_equal(err_code_name(E_OK), "ok");
	assert_string_equal(err_code_name(E_NOTFOUND), "not_found");
	/* Every code has its own snake_case name. */
	for (int a = E_OK; a <= E_INTERNAL; a++) {
		const char *na = err_code_name((enum err_code)a);
		assert_non_null(na);
		assert_true(strlen(na) > 0);
		for (const char *c = na; *c; c++)
			assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
		for (int b = a + 1; b <= E_INTERNAL; b++)
			assert_string_not_equal(na, err_code_name((enum err_code)b));
	}
	/* Never NULL, even for a value outside the enum. */
	assert_non_null(err_code_name((enum err_code)(E_INTERNAL + 1)));
	assert_non_null(err_code_name((enum err_code)(-1)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_access_round_trip),
		cmocka_unit_test(test_access_order),
		cmocka_unit_test(test_access_unknown),
		cmocka_unit_test(test_err_set_returns_code),
		cmocka_unit_test(test_err_set_null),
		cmocka_unit_test(test_err_long_message),
		cmocka_unit_test(test_err_clear),
		cmocka_unit_test(test_err_code_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
