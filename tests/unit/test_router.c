/*
 * Unit tests of api/router.h: literal and {param} routes, percent-decoding, 404 against 405 with
 * the Allow list, and the parameter limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "router.h"

/* Callers extend the route struct; the router must honour the stride. */
struct test_route {
	struct router_route r;
	int id;
	const char *pad[3];
};

static const struct test_route routes[] = {
	{{"GET", "/v1/tenants"}, 100, {0}},
	{{"POST", "/v1/tenants"}, 101, {0}},
	{{"GET", "/v1/tenants/{tenant_id}"}, 102, {0}},
	{{"PUT", "/v1/tenants/{tenant_id}"}, 103, {0}},
	{{"DELETE", "/v1/tenants/{tenant_id}"}, 104, {0}},
	{{"GET", "/v1/tenants/{tenant_id}/api-keys"}, 105, {0}},
	{{"POST", "/v1/tenants/{tenant_id}/api-keys"}, 106, {0}},
	{{"DELETE", "/v1/tenants/{tenant_id}/api-keys/{key_id}"}, 107, {0}},
	{{"GET", "/healthz"}, 108, {0}},
	{{"GET", "/"}, 109, {0}},
	{{"GET", "/m/{p1}/{p2}/{p3}/{p4}"}, 110, {0}},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

struct found {
	enum router_result res;
	size_t index;
	struct router_match m;
	char allow[128];
};

static void find(struct found *f, const char *method, const char *path)
{
	memset(f, 0x5a, sizeof(*f));
	f->index = SIZE_MAX;
	f->res = router_find(routes, N_ROUTES, sizeof(routes[0]), method, path, &f->index, &f->m,
			     f->allow, sizeof(f->allow));
}

/* Asserts that method path finds the route with id and returns the match. */
static void expect_found(struct found *f, const char *method, const char *path, int id)
{
	find(f, method, path);
	if (f->res != ROUTER_FOUND)
		fail_msg("%s %s: want route %d, got result %d", method, path, id, (int)f->res);
	assert_true(f->index < N_ROUTES);
	assert_int_equal(routes[f->index].id, id);
}

static void expect_no_path(const char *method, const char *path)
{
	struct found f;
	find(&f, method, path);
	if (f.res != ROUTER_NO_PATH)
		fail_msg("%s \"%s\": want ROUTER_NO_PATH, got %d", method, path, (int)f.res);
}

static void test_literal_routes(void **state)
{
	(void)state;
	struct found f;

	expect_found(&f, "GET", "/v1/tenants", 100);
	assert_int_equal(f.m.n, 0);
	expect_found(&f, "POST", "/v1/tenants", 101);
	assert_int_equal(f.m.n, 0);
	expect_found(&f, "GET", "/healthz", 108);
	expect_found(&f, "GET", "/", 109);
	assert_int_equal(f.m.n, 0);
}

static void test_param_routes(void **state)
{
	(void)state;
	struct found f;

	expect_found(&f, "GET", "/v1/tenants/abc", 102);
	assert_int_equal(f.m.n, 1);
	assert_string_equal(router_param(&f.m, "tenant_id"), "abc");
	assert_null(router_param(&f.m, "tenant"));
	assert_null(router_param(&f.m, "tenant_id_"));
	assert_null(router_param(&f.m, "key_id"));

	/* The same path under another method gets that method's route and parameters. */
	expect_found(&f, "PUT", "/v1/tenants/t-9", 103);
	assert_string_equal(router_param(&f.m, "tenant_id"), "t-9");
	expect_found(&f, "DELETE", "/v1/tenants/t-9", 104);

	expect_found(&f, "POST", "/v1/tenants/t1/api-keys", 106);
	assert_int_equal(f.m.n, 1);
	assert_string_equal(router_param(&f.m, "tenant_id"), "t1");

	expect_found(&f, "DELETE", "/v1/tenants/t1/api-keys/k2", 107);
	assert_int_equal(f.m.n, 2);
	assert_string_equal(router_param(&f.m, "tenant_id"), "t1");
	assert_string_equal(router_param(&f.m, "key_id"), "k2");

	/* A literal segment that looks like a parameter name is just a value. */
	expect_found(&f, "GET", "/v1/tenants/{tenant_id}", 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), "{tenant_id}");
}

static void test_max_params(void **state)
{
	(void)state;
	struct found f;

	expect_found(&f, "GET", "/m/a/b/c/d", 110);
	assert_int_equal(f.m.n, ROUTER_MAX_PARAMS);
	assert_string_equal(router_param(&f.m, "p1"), "a");
	assert_string_equal(router_param(&f.m, "p2"), "b");
	assert_string_equal(router_param(&f.m, "p3"), "c");
	assert_string_equal(router_param(&f.m, "p4"), "d");
	expect_no_path("GET", "/m/a/b/c");
	expect_no_path("GET", "/m/a/b/c/d/e");
}

/*
 * Known bug (left out of the default run): a route with more {params} than ROUTER_MAX_PARAMS
 * matches in router_find's first pass (without m), then the second pass (with m) stops at the
 * fifth parameter, and its failure is ignored: ROUTER_FOUND comes back with m.n == 4 and the
 * fifth parameter missing (router_param gives NULL to a handler that expects a value).
 */
static void test_too_many_params(void **state)
{
	(void)state;
	static const struct router_route five[] = {
		{"GET", "/x/{a}/{b}/{c}/{d}/{e}"},
	};
	struct router_match m;
	size_t index = SIZE_MAX;
	char allow[64];
	enum router_result res = router_find(five, 1, sizeof(five[0]), "GET", "/x/1/2/3/4/5",
					     &index, &m, allow, sizeof(allow));
	if (res == ROUTER_FOUND)
		fail_msg("ROUTER_FOUND with m.n=%zu and e=%s: a route whose parameters do not "
			 "fit must not match",
			 m.n, router_param(&m, "e") ? router_param(&m, "e") : "(null)");
}

static void test_percent_decoding(void **state)
{
	(void)state;
	struct found f;

	expect_found(&f, "GET", "/v1/tenants/a%20b", 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), "a b");
	expect_found(&f, "GET", "/v1/tenants/%41%62%4a%4A", 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), "AbJJ");
	expect_found(&f, "GET", "/v1/tenants/100%25", 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), "100%");
	expect_found(&f, "GET", "/v1/tenants/%2541", 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), "%41");
	expect_found(&f, "GET", "/v1/tenants/caf%C3%A9", 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), "caf\xc3\xa9");
	/* A path is not a form: '+' stays '+'. */
	expect_found(&f, "GET", "/v1/tenants/a+b", 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), "a+b");
	expect_found(&f, "DELETE", "/v1/tenants/t%3A1/api-keys/k%3F2", 107);
	assert_string_equal(router_param(&f.m, "tenant_id"), "t:1");
	assert_string_equal(router_param(&f.m, "key_id"), "k?2");
}

static void test_encoded_slash_and_bad_escapes(void **state)
{
	(void)state;
	/* An encoded '/' or NUL never reaches a handler, and never turns into a 405 either. */
	expect_no_path("GET", "/v1/tenants/a%2Fb");
	expect_no_path("GET", "/v1/tenants/a%2fb");
	expect_no_path("PATCH", "/v1/tenants/a%2Fb");
	expect_no_path("GET", "/v1/tenants/t1%2Fapi-keys");
	expect_no_path("GET", "/v1/tenants/%2F");
	expect_no_path("GET", "/v1/tenants/a%00b");
	expect_no_path("GET", "/v1/tenants/%00");

	expect_no_path("GET", "/v1/tenants/%");
	expect_no_path("GET", "/v1/tenants/a%");
	expect_no_path("GET", "/v1/tenants/%4");
	expect_no_path("GET", "/v1/tenants/a%4");
	expect_no_path("GET", "/v1/tenants/%zz");
	expect_no_path("GET", "/v1/tenants/%g1");
	expect_no_path("GET", "/v1/tenants/%1g");
	expect_no_path("GET", "/v1/tenants/%%41");
	expect_no_path("GET", "/v1/tenants/% 1");
	expect_no_path("DELETE", "/v1/tenants/t1/api-keys/%");
	expect_no_path("DELETE", "/v1/tenants/%/api-keys/k1");
}

static void test_path_shape(void **state)
{
	(void)state;
	/* A trailing slash does not match. */
	expect_no_path("GET", "/v1/tenants/");
	expect_no_path("GET", "/v1/tenants/abc/");
	expect_no_path("GET", "/healthz/");
	expect_no_path("GET", "/v1/tenants/t1/api-keys/");
	/* Empty segments, prefixes and extensions do not match either. */
	expect_no_path("GET", "");
	expect_no_path("GET", "v1/tenants");
	expect_no_path("GET", "//v1/tenants");
	expect_no_path("GET", "/v1//tenants");
	expect_no_path("GET", "/v1/tenants//api-keys");
	expect_no_path("GET", "/v1");
	expect_no_path("GET", "/v1/tenant");
	expect_no_path("GET", "/v1/tenantsx");
	expect_no_path("GET", "/V1/tenants");
	expect_no_path("GET", "/healthz/x");
	expect_no_path("GET", "/v1/tenants/t1/api-keys/k1/extra");
	expect_no_path("GET", "/nope");
}

static void test_method_not_allowed(void **state)
{
	(void)state;
	struct found f;

	find(&f, "DELETE", "/v1/tenants");
	assert_int_equal(f.res, ROUTER_NO_METHOD);
	assert_string_equal(f.allow, "GET, POST");

	find(&f, "PATCH", "/v1/tenants/abc");
	assert_int_equal(f.res, ROUTER_NO_METHOD);
	assert_string_equal(f.allow, "GET, PUT, DELETE");

	find(&f, "GET", "/v1/tenants/t1/api-keys/k1");
	assert_int_equal(f.res, ROUTER_NO_METHOD);
	assert_string_equal(f.allow, "DELETE");

	find(&f, "POST", "/healthz");
	assert_int_equal(f.res, ROUTER_NO_METHOD);
	assert_string_equal(f.allow, "GET");

	/* Methods are case-sensitive (RFC 9110). */
	find(&f, "get", "/healthz");
	assert_int_equal(f.res, ROUTER_NO_METHOD);
	assert_string_equal(f.allow, "GET");
}

static void test_allow_cut_to_cap(void **state)
{
	(void)state;
	size_t index = SIZE_MAX;
	struct router_match m;
	for (size_t cap = 1; cap <= 18; cap++) {
		char allow[32];
		memset(allow, 'Q', sizeof(allow));
		enum router_result res = router_find(routes, N_ROUTES, sizeof(routes[0]), "PATCH",
						     "/v1/tenants/abc", &index, &m, allow, cap);
		assert_int_equal(res, ROUTER_NO_METHOD);
		/* NUL-terminated within cap, nothing written past it, a prefix of the full list. */
		assert_non_null(memchr(allow, '\0', cap));
		for (size_t i = cap; i < sizeof(allow); i++)
			assert_int_equal(allow[i], 'Q');
		assert_true(strncmp("GET, PUT, DELETE", allow, strlen(allow)) == 0);
		if (cap == 17 || cap == 18)
			assert_string_equal(allow, "GET, PUT, DELETE");
	}
}

static void test_param_length(void **state)
{
	(void)state;
	char path[1024], want[ROUTER_PARAM_MAX + 1];
	struct found f;

	/* ROUTER_PARAM_MAX - 1 bytes fit. */
	memset(want, 'v', ROUTER_PARAM_MAX - 1);
	want[ROUTER_PARAM_MAX - 1] = '\0';
	snprintf(path, sizeof(path), "/v1/tenants/%s", want);
	expect_found(&f, "GET", path, 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), want);

	/* The limit is on the decoded value. */
	size_t off = (size_t)snprintf(path, sizeof(path), "/v1/tenants/");
	for (size_t i = 0; i < ROUTER_PARAM_MAX - 1; i++)
		off += (size_t)snprintf(path + off, sizeof(path) - off, "%%%02X", 'v');
	expect_found(&f, "GET", path, 102);
	assert_string_equal(router_param(&f.m, "tenant_id"), want);

	/* One more cannot be held without cutting it, so it must not match as a cut value. */
	memset(want, 'v', ROUTER_PARAM_MAX);
	want[ROUTER_PARAM_MAX] = '\0';
	snprintf(path, sizeof(path), "/v1/tenants/%s", want);
	find(&f, "GET", path);
	assert_int_not_equal(f.res, ROUTER_FOUND);
}

static void test_router_param_empty_match(void **state)
{
	(void)state;
	struct router_match m;
	memset(&m, 0, sizeof(m));
	assert_null(router_param(&m, "tenant_id"));
	assert_null(router_param(&m, ""));
}

static void test_empty_table(void **state)
{
	(void)state;
	size_t index = SIZE_MAX;
	struct router_match m;
	char allow[16];
	assert_int_equal(router_find(routes, 0, sizeof(routes[0]), "GET", "/v1/tenants", &index, &m,
				     allow, sizeof(allow)),
			 ROUTER_NO_PATH);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal_routes),
		cmocka_unit_test(test_param_routes),
		cmocka_unit_test(test_max_params),
		cmocka_unit_test(test_too_many_params),
		cmocka_unit_test(test_percent_decoding),
		cmocka_unit_test(test_encoded_slash_and_bad_escapes),
		cmocka_unit_test(test_path_shape),
		cmocka_unit_test(test_method_not_allowed),
		cmocka_unit_test(test_allow_cut_to_cap),
		cmocka_unit_test(test_param_length),
		cmocka_unit_test(test_router_param_empty_match),
		cmocka_unit_test(test_empty_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
