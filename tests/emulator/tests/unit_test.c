/* SPDX-License-Identifier: MIT */
/* Unit tests of gws-emulator's pure parts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emu.h"
#include "emu_int.h"

static void test_password(void **state)
{
	(void)state;
	assert_int_equal(valid_password("12345678", NULL), PW_OK);
	assert_int_equal(valid_password("1234567", NULL), PW_BAD);
	assert_int_equal(valid_password("caf\xc3\xa9-pass", NULL), PW_BAD);
	char longpw[102];

	memset(longpw, 'a', 101);
	longpw[101] = '\0';
	assert_int_equal(valid_password(longpw, NULL), PW_BAD);
	longpw[100] = '\0';
	assert_int_equal(valid_password(longpw, NULL), PW_OK);
	assert_int_equal(valid_password("5f4dcc3b5aa765d61d8327deb882cf99", "MD5"), PW_OK);
	assert_int_equal(valid_password("5f4dcc3b5aa765d61d8327deb882cf9", "MD5"), PW_BAD);
	assert_int_equal(valid_password("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "SHA-1"), PW_OK);
	assert_int_equal(valid_password("zzaa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "SHA-1"), PW_BAD);
	assert_int_equal(valid_password("$6$rounds=10000$salt$abcdefABC./", "crypt"), PW_OK);
	assert_int_equal(valid_password("$6$rounds=10001$salt$abc", "crypt"), PW_BAD);
	assert_int_equal(valid_password("$5$salt$abc", "crypt"), PW_OK);
	assert_int_equal(valid_password("$1$salt$abc", "crypt"), PW_OK);
	assert_int_equal(valid_password("$2$salt$abc", "crypt"), PW_BAD);
	assert_int_equal(valid_password("abcdefghijklm", "crypt"), PW_OK);
	assert_int_equal(valid_password("12345678", "SHA-256"), PW_BAD);
}

static void test_names_emails(void **state)
{
	(void)state;
	assert_true(valid_name("Jos\xc3\xa9 Mar\xc3\xad" "a"));
	assert_false(valid_name(""));
	assert_false(valid_name("  "));
	assert_false(valid_name("a<b"));
	assert_false(valid_name("a=b"));
	char n61[62];

	memset(n61, 'x', 61);
	n61[61] = '\0';
	assert_false(valid_name(n61));
	n61[60] = '\0';
	assert_true(valid_name(n61));
	assert_true(valid_email("o'brien.x-y_z@example.com"));
	assert_false(valid_email("a..b@example.com"));
	assert_false(valid_email(".a@example.com"));
	assert_false(valid_email("a.@example.com"));
	assert_false(valid_email("a+b@example.com"));
	assert_false(valid_email("abuse@example.com"));
	assert_false(valid_email("nodomain"));
	assert_false(valid_email("a@nodot"));
	assert_true(valid_ou_path("/"));
	assert_true(valid_ou_path("/Sales/EMEA"));
	assert_false(valid_ou_path("Sales"));
	assert_false(valid_ou_path("/Sales/"));
}

static char *render(const char *fields, bool *bad)
{
	struct fmask *m = fields ? fmask_parse(fields, bad) : NULL;
	struct buf b;
	struct jw w;

	buf_init(&b);
	jw_init(&w, &b, m);
	jw_obj(&w);
	if (jw_k(&w, "kind"))
		jw_str(&w, "k");
	if (jw_k(&w, "users")) {
		jw_arr(&w);
		for (int i = 0; i < 2; i++) {
			jw_obj(&w);
			if (jw_k(&w, "id"))
				jw_int(&w, i);
			if (jw_k(&w, "name")) {
				jw_obj(&w);
				if (jw_k(&w, "givenName"))
					jw_str(&w, "G");
				if (jw_k(&w, "familyName"))
					jw_str(&w, "F");
				jw_end(&w);
			}
			if (jw_k(&w, "emails"))
				jw_raw(&w, "[{\"address\":\"a@b.c\",\"primary\":true}]");
			jw_end(&w);
		}
		jw_end(&w);
	}
	if (jw_k(&w, "nextPageToken"))
		jw_str(&w, "t\"q");
	jw_end(&w);
	fmask_free(m);
	return buf_steal(&b);
}

static void test_fields(void **state)
{
	bool bad = false;
	char *s;

	(void)state;
	s = render(NULL, &bad);
	assert_string_equal(s, "{\"kind\":\"k\",\"users\":[{\"id\":0,\"name\":{\"givenName\":\"G\","
			       "\"familyName\":\"F\"},\"emails\":[{\"address\":\"a@b.c\","
			       "\"primary\":true}]},{\"id\":1,\"name\":{\"givenName\":\"G\","
			       "\"familyName\":\"F\"},\"emails\":[{\"address\":\"a@b.c\","
			       "\"primary\":true}]}],\"nextPageToken\":\"t\\\"q\"}");
	free(s);
	s = render("nextPageToken,users(id,name/givenName)", &bad);
	assert_false(bad);
	assert_string_equal(s, "{\"users\":[{\"id\":0,\"name\":{\"givenName\":\"G\"}},{\"id\":1,"
			       "\"name\":{\"givenName\":\"G\"}}],\"nextPageToken\":\"t\\\"q\"}");
	free(s);
	s = render("users/emails/address", &bad);
	assert_string_equal(s, "{\"users\":[{\"emails\":[{\"address\":\"a@b.c\"}]},{\"emails\":[{"
			       "\"address\":\"a@b.c\"}]}]}");
	free(s);
	s = render("kind", &bad);
	assert_string_equal(s, "{\"kind\":\"k\"}");
	free(s);
	assert_null(fmask_parse("users(id", &bad));
	assert_true(bad);
	assert_null(fmask_parse("a,,b", &bad));
	assert_true(bad);
}

static void test_b64_map_form(void **state)
{
	(void)state;
	char out[64];
	size_t n;

	b64url_encode((const unsigned char *)"hello?>", 7, out);
	assert_string_equal(out, "aGVsbG8_Pg");
	unsigned char *d = b64url_decode(out, strlen(out), &n);

	assert_int_equal(n, 7);
	assert_memory_equal(d, "hello?>", 7);
	free(d);
	assert_null(b64url_decode("a", 1, &n));

	struct map m;
	char key[32];
	int vals[3000];

	map_init(&m);
	for (int i = 0; i < 3000; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		vals[i] = i;
		map_put(&m, key, &vals[i]);
	}
	for (int i = 0; i < 3000; i += 2) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_ptr_equal(map_del(&m, key), &vals[i]);
	}
	assert_int_equal(m.n, 1500);
	assert_null(map_get(&m, "k10"));
	assert_ptr_equal(map_get(&m, "k11"), &vals[11]);
	map_cleanup(&m);

	char *v = form_get("a=1&grant_type=urn%3Aietf+x&b", "grant_type");

	assert_string_equal(v, "urn:ietf x");
	free(v);
	v = form_get("a=1&b", "b");
	assert_string_equal(v, "");
	free(v);
	assert_null(form_get("a=1", "c"));
	assert_int_equal(parse_time("2010-04-05T17:30:04.325Z"), 1270488604325LL);
	char t[32];

	fmt_time(t, 1270488604325LL);
	assert_string_equal(t, "2010-04-05T17:30:04.325Z");
}

static void test_query_parse(void **state)
{
	static const char *const fields[] = { "name", "email", "" };
	struct emu_query q;

	(void)state;
	assert_int_equal(emu_query_parse("", fields, 3, &q), -2);
	assert_int_equal(emu_query_parse("   ", fields, 3, &q), -2);
	assert_int_equal(emu_query_parse("name=O'Brien", fields, 3, &q), -2);
	assert_int_equal(emu_query_parse("name='O'Brien'", fields, 3, &q), -2);
	assert_int_equal(emu_query_parse("name='open", fields, 3, &q), -2);
	assert_int_equal(emu_query_parse("bogus=1", fields, 3, &q), -1);
	assert_int_equal(emu_query_parse("name=", fields, 3, &q), -1);
	assert_int_equal(emu_query_parse("name='Two Words' email:te*", fields, 3, &q), 0);
	assert_int_equal(q.n, 2);
	assert_string_equal(q.c[0].value, "Two Words");
	assert_int_equal(q.c[1].op, ':');
	assert_true(q.c[1].prefix);
	assert_string_equal(q.c[1].value, "te");
	emu_query_free(&q);
	assert_int_equal(emu_query_parse("name='O\\'Brien' \"d'Arc\" x\\'y", fields, 3, &q), 0);
	assert_int_equal(q.n, 3);
	assert_string_equal(q.c[0].value, "O'Brien");
	assert_string_equal(q.c[1].value, "d'Arc");
	assert_string_equal(q.c[1].field, "");
	assert_string_equal(q.c[2].value, "x'y");
	emu_query_free(&q);
}

static void test_password_check(void **state)
{
	(void)state;
	assert_true(emu_password_check("12345678", NULL, "12345678"));
	assert_false(emu_password_check("12345678", "", "12345679"));
	assert_true(emu_password_check("5f4dcc3b5aa765d61d8327deb882cf99", "MD5", "password"));
	assert_true(emu_password_check("5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8", "SHA-1", "password"));
	assert_false(emu_password_check("5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8", "SHA-1", "Password"));
	assert_true(emu_password_check("$1$abc$Kb85XxsXB.VXinPhbS4431", "crypt", "pw"));
	assert_false(emu_password_check("$1$abc$Kb85XxsXB.VXinPhbS4431", "crypt", "pw2"));
	assert_true(emu_password_check("$6$rounds=10000$saltsalt$PCkl82bcVNZUyS5el2MR9Coq8KSFAH2TLAV2"
				       "NKcVGH1Dq51jMRJNvf2NrUOE/Sv9WOINUlZWqywN9lCRzMZF.1",
				       "crypt", "pw"));
	assert_false(emu_password_check("password", "bcrypt", "password"));
	assert_false(emu_password_check(NULL, NULL, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_password),
		cmocka_unit_test(test_names_emails),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_b64_map_form),
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_password_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
