/*
 * Unit tests of service/google/google_batch.h: the multipart/mixed request and the parsing of
 * Google's answer (Content-ID matching out of order, per-part errors).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google_batch.h"

static void test_build(void **state)
{
	(void)state;
	struct google_batch_item items[3] = {
		{.method = "GET", .path = "/admin/directory/v1/users/liz%40example.com"},
		{.method = "PUT",
		 .path = "/admin/directory/v1/users/1234",
		 .body = "{\"suspended\":true}"},
		{.method = "DELETE",
		 .path = "/admin/directory/v1/groups/g1%40example.com/members/bob%40example.com"},
	};
	char *body = NULL;
	size_t len = 0;
	assert_int_equal(google_batch_build(items, NULL, 3, "batch_xyz", "t1", &body, &len, NULL),
			 E_OK);
	const char *want =
		"--batch_xyz\r\n"
		"Content-Type: application/http\r\n"
		"Content-ID: <item0:t1@gwsync>\r\n"
		"\r\n"
		"GET /admin/directory/v1/users/liz%40example.com HTTP/1.1\r\n"
		"\r\n"
		"--batch_xyz\r\n"
		"Content-Type: application/http\r\n"
		"Content-ID: <item1:t1@gwsync>\r\n"
		"\r\n"
		"PUT /admin/directory/v1/users/1234 HTTP/1.1\r\n"
		"Content-Type: application/json; charset=UTF-8\r\n"
		"\r\n"
		"{\"suspended\":true}\r\n"
		"--batch_xyz\r\n"
		"Content-Type: application/http\r\n"
		"Content-ID: <item2:t1@gwsync>\r\n"
		"\r\n"
		"DELETE /admin/directory/v1/groups/g1%40example.com/members/bob%40example.com "
		"HTTP/1.1\r\n"
		"\r\n"
		"--batch_xyz--\r\n";
	assert_string_equal(body, want);
	assert_int_equal(len, strlen(want));
	free(body);

	/* A subset keeps the items' own indices in the Content-IDs. */
	size_t idx[] = {2};
	assert_int_equal(google_batch_build(items, idx, 1, "b", "t2", &body, &len, NULL), E_OK);
	assert_non_null(strstr(body, "Content-ID: <item2:t2@gwsync>"));
	assert_null(strstr(body, "item0"));
	free(body);
}

static void test_build_refuses(void **state)
{
	(void)state;
	struct google_batch_item bad[] = {
		{.method = "GET", .path = "/a b"},	      /* a blank would split the line */
		{.method = "GET", .path = "/a\r\nX-Evil: 1"}, /* header injection */
		{.method = "FETCH", .path = "/a"},
		{.method = "GET", .path = "a"},
	};
	char *body = NULL;
	size_t len = 0;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(google_batch_build(&bad[i], NULL, 1, "b", "t", &body, &len, NULL),
				 E_INVAL);
		assert_null(body);
	}
	struct google_batch_item *many = calloc(GOOGLE_BATCH_MAX + 1, sizeof(*many));
	for (size_t i = 0; i <= GOOGLE_BATCH_MAX; i++) {
		many[i].method = "GET";
		many[i].path = "/x";
	}
	assert_int_equal(
		google_batch_build(many, NULL, GOOGLE_BATCH_MAX + 1, "b", "t", &body, &len, NULL),
		E_INVAL);
	assert_int_equal(
		google_batch_build(many, NULL, GOOGLE_BATCH_MAX, "b", "t", &body, &len, NULL),
		E_OK);
	free(body);
	free(many);
	assert_int_equal(google_batch_build(bad, NULL, 0, "b", "t", &body, &len, NULL), E_INVAL);
}

/* Parts in the order 2, 0, 3 (foreign tag), 1; item 1 failed with 404, item 2 with 412. */
static const char answer[] =
	"--batch_Srv123\r\n"
	"Content-Type: application/http\r\n"
	"Content-ID: <response-item2:tag9@gwsync>\r\n"
	"\r\n"
	"HTTP/1.1 412 Precondition Failed\r\n"
	"Content-Type: application/json; charset=UTF-8\r\n"
	"\r\n"
	"{\"error\":{\"code\":412,\"message\":\"User creation is not complete.\",\"errors\":[{"
	"\"message\":\"User creation is not complete.\",\"domain\":\"global\",\"reason\":"
	"\"conditionNotMet\"}]}}\r\n"
	"--batch_Srv123\r\n"
	"Content-Type: application/http\r\n"
	"Content-ID: <response-item0:tag9@gwsync>\r\n"
	"\r\n"
	"HTTP/1.1 200 OK\r\n"
	"Content-Type: application/json; charset=UTF-8\r\n"
	"ETag: \"abc/def\"\r\n"
	"\r\n"
	"{\"id\":\"1\",\"primaryEmail\":\"liz@example.com\"}\r\n"
	"--batch_Srv123\r\n"
	"Content-Type: application/http\r\n"
	"Content-ID: <response-item3:other@gwsync>\r\n"
	"\r\n"
	"HTTP/1.1 200 OK\r\n"
	"\r\n"
	"{}\r\n"
	"--batch_Srv123\r\n"
	"Content-Type: application/http\r\n"
	"Content-ID: <response-item1:tag9@gwsync>\r\n"
	"\r\n"
	"HTTP/1.1 404 Not Found\r\n"
	"Content-Type: application/json; charset=UTF-8\r\n"
	"\r\n"
	"{\"error\":{\"code\":404,\"message\":\"Resource Not Found: userKey\",\"errors\":[{"
	"\"message\":\"Resource Not Found: "
	"userKey\",\"domain\":\"global\",\"reason\":\"notFound\"}]}}\r\n"
	"--batch_Srv123--\r\n";

static void test_parse_out_of_order_with_errors(void **state)
{
	(void)state;
	struct google_batch_item items[4] = {0};
	struct err e = {0};
	int n = google_batch_parse("multipart/mixed; boundary=batch_Srv123", answer, strlen(answer),
				   "tag9", items, 4, &e);
	assert_int_equal(n, 3);

	assert_int_equal(items[0].status, 200);
	assert_int_equal(items[0].e.code, E_OK);
	assert_string_equal(items[0].resp_body,
			    "{\"id\":\"1\",\"primaryEmail\":\"liz@example.com\"}");
	assert_int_equal(items[0].resp_len, strlen(items[0].resp_body));

	assert_int_equal(items[1].status, 404);
	assert_int_equal(items[1].e.code, E_NOTFOUND);
	assert_string_equal(items[1].e.reason, "notFound");
	assert_int_equal(items[1].e.upstream_status, 404);
	assert_non_null(strstr(items[1].e.msg, "Resource Not Found: userKey"));
	assert_false(items[1].retryable);

	assert_int_equal(items[2].status, 412);
	assert_int_equal(items[2].e.code, E_UNAVAIL);
	assert_true(items[2].retryable);

	/* The part with another batch's tag was ignored. */
	assert_int_equal(items[3].status, 0);
	assert_null(items[3].resp_body);
	google_batch_items_cleanup(items, 4);
	assert_null(items[0].resp_body);
	assert_int_equal(items[0].status, 0);
}

static void test_parse_variants(void **state)
{
	(void)state;
	/* LF line ends, a quoted boundary, a preamble, an empty 204 body, ids without brackets. */
	const char *lf = "preamble text\n"
			 "--b1\n"
			 "Content-Type: application/http\n"
			 "content-id: response-item0:t@gwsync\n"
			 "\n"
			 "HTTP/1.1 204 No Content\n"
			 "\n"
			 "\n"
			 "--b1\n"
			 "Content-Type: application/http\n"
			 "Content-ID: <response-item1:t@gwsync>\n"
			 "\n"
			 "HTTP/1.1 503 Service Unavailable\n"
			 "Content-Type: text/html\n"
			 "\n"
			 "<html><title>Unavailable</title></html>\n"
			 "--b1--\n";
	struct google_batch_item items[2] = {0};
	assert_int_equal(google_batch_parse("multipart/mixed; boundary=\"b1\"", lf, strlen(lf), "t",
					    items, 2, NULL),
			 2);
	assert_int_equal(items[0].status, 204);
	assert_int_equal(items[0].e.code, E_OK);
	assert_int_equal(items[0].resp_len, 0);
	assert_int_equal(items[1].status, 503);
	assert_int_equal(items[1].e.code, E_UNAVAIL);
	assert_true(items[1].retryable);
	assert_non_null(strstr(items[1].e.msg, "Unavailable"));
	google_batch_items_cleanup(items, 2);

	/* Index out of range, a boundary that only appears inside a body. */
	const char *tricky = "--zz\r\n"
			     "Content-ID: <response-item7:t@gwsync>\r\n\r\n"
			     "HTTP/1.1 200 OK\r\n\r\n"
			     "body mentions --zz inline\r\n"
			     "--zz--\r\n";
	assert_int_equal(google_batch_parse("multipart/mixed; boundary=zz", tricky, strlen(tricky),
					    "t", items, 2, NULL),
			 0);

	/* Not multipart at all: the whole answer is wrong. */
	struct err e = {0};
	assert_int_equal(google_batch_parse("application/json", "{}", 2, "t", items, 2, &e), -1);
	assert_int_equal(e.code, E_UPSTREAM);
	assert_int_equal(google_batch_parse(NULL, "{}", 2, "t", items, 2, &e), -1);
	assert_int_equal(google_batch_parse("multipart/mixed; boundary=q", "--q\r\nno end", 11, "t",
					    items, 2, &e),
			 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_refuses),
		cmocka_unit_test(test_parse_out_of_order_with_errors),
		cmocka_unit_test(test_parse_variants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
