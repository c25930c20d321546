/*
 * Unit tests of service/google/google_error.h: one case per row of API-NOTES §6.2, the OAuth
 * error form (§9) and non-JSON bodies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "google_error.h"
#include "oauth.h"

/* Google's classic JSON error body. */
#define G(code, reason, msg)                                                                       \
	"{\"error\":{\"code\":" #code ",\"message\":\"" msg "\",\"errors\":[{\"message\":\"" msg   \
	"\",\"domain\":\"global\",\"reason\":\"" reason "\"}]}}"
/* The OAuth form. */
#define O(error, desc) "{\"error\":\"" error "\",\"error_description\":\"" desc "\"}"

enum { RETRY = 1, RATE = 2, REFRESH = 4 };

static const struct row {
	int status;
	const char *body;
	enum err_code code;
	int flags;
	const char *reason;
	const char *msg; /* substring expected in the message */
} rows[] = {
	/* §6.2, in the table's order */
	{400, G(400, "invalid", "Invalid Given/Family Name: FamilyName"), E_INVAL, 0, "invalid",
	 "Invalid Given/Family Name"},
	{400, G(400, "invalid", "Invalid Password"), E_INVAL, 0, "invalid", "Invalid Password"},
	{400, G(400, "invalid", "Invalid Input: memberKey"), E_INVAL, 0, "invalid", "memberKey"},
	{400, G(400, "invalid", "Invalid Ou Id"), E_INVAL, 0, "invalid", "Invalid Ou Id"},
	{400, G(400, "invalid", "Invalid query"), E_INVAL, 0, "invalid", "Invalid query"},
	{400, G(400, "required", "Missing required field: memberKey"), E_INVAL, 0, "required",
	 "Missing required field"},
	{400, G(400, "required", "Required parameter: [resource.name.familyname]"), E_INVAL, 0,
	 "required", "Required parameter"},
	{400, G(400, "badRequest", "Bad Request"), E_INVAL, 0, "badRequest", "Bad Request"},
	{400, G(400, "conditionNotMet", "Cyclic memberships not allowed"), E_INVAL, 0,
	 "conditionNotMet", "Cyclic"},
	{412, G(412, "conditionNotMet", "Cyclic memberships not allowed"), E_INVAL, 0,
	 "conditionNotMet", "Cyclic"},
	{401,
	 "{\"error\":{\"code\":401,\"message\":\"Request had invalid authentication credentials.\","
	 "\"errors\":[{\"message\":\"Invalid Credentials\",\"domain\":\"global\",\"reason\":"
	 "\"authError\",\"location\":\"Authorization\"}],\"status\":\"UNAUTHENTICATED\"}}",
	 E_UNAUTH, REFRESH, "authError", "invalid authentication"},
	{403, G(403, "forbidden", "Not Authorized to access this resource/api"), E_FORBIDDEN, 0,
	 "forbidden", "Not Authorized"},
	{403,
	 "{\"error\":{\"code\":403,\"message\":\"Request had insufficient authentication scopes.\","
	 "\"errors\":[{\"message\":\"Insufficient Permission\",\"domain\":\"global\",\"reason\":"
	 "\"insufficientPermissions\"}],\"status\":\"PERMISSION_DENIED\",\"details\":[{\"@type\":"
	 "\"type.googleapis.com/"
	 "google.rpc.ErrorInfo\",\"reason\":\"ACCESS_TOKEN_SCOPE_INSUFFICIENT\"}]}}",
	 E_FORBIDDEN, 0, "insufficientPermissions", "insufficient authentication scopes"},
	{403, G(403, "domainCannotUseApis", "Domain cannot use apis."), E_FORBIDDEN, 0,
	 "domainCannotUseApis", "cannot use apis"},
	{403,
	 G(403, "accessNotConfigured",
	   "Admin SDK API has not been used in project 123 before or it is disabled."),
	 E_FORBIDDEN, 0, "accessNotConfigured", "has not been used"},
	{403, G(403, "userRateLimitExceeded", "User Rate Limit Exceeded"), E_RATELIMIT,
	 RETRY | RATE, "userRateLimitExceeded", "Rate Limit"},
	{403, G(403, "quotaExceeded", "Quota exceeded for quota group"), E_RATELIMIT, RETRY | RATE,
	 "quotaExceeded", "Quota"},
	{403,
	 G(403, "rateLimitExceeded",
	   "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of "
	   "service 'admin.googleapis.com' for consumer 'project_number:1'"),
	 E_RATELIMIT, RETRY | RATE, "rateLimitExceeded", "Queries per minute per user"},
	{404, G(404, "notFound", "Resource Not Found: userKey"), E_NOTFOUND, 0, "notFound",
	 "userKey"},
	{404, G(404, "notFound", "Domain not found."), E_NOTFOUND, 0, "notFound",
	 "Domain not found"},
	{409, G(409, "duplicate", "Entity already exists."), E_CONFLICT, 0, "duplicate",
	 "Entity already exists"},
	{409, G(409, "duplicate", "Member already exists."), E_CONFLICT, 0, "duplicate",
	 "Member already exists"},
	{409, G(409, "conflict", "Domain in request is in use by an email verified customer."),
	 E_CONFLICT, 0, "conflict", "in use"},
	{412, G(412, "conditionNotMet", "User creation is not complete."), E_UNAVAIL, RETRY,
	 "conditionNotMet", "User creation is not complete."},
	{412, G(412, "adminCannotUnsuspend", "Cannot restore a user suspended for abuse."),
	 E_PRECONDITION, 0, "adminCannotUnsuspend", "suspended for abuse"},
	{429, G(429, "rateLimitExceeded", "Quota exceeded for quota metric 'Queries'"), E_RATELIMIT,
	 RETRY | RATE, "rateLimitExceeded", "Quota exceeded"},
	{500, G(500, "backendError", "Backend Error"), E_UNAVAIL, RETRY, "backendError",
	 "Backend Error"},
	{500, G(500, "internalError", "Internal error encountered."), E_UNAVAIL, RETRY,
	 "internalError", "Internal error"},
	{502,
	 "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 502 (Server "
	 "Error)!!1</title>\n  <p><b>502.</b> <ins>That's an error.</ins>\n",
	 E_UNAVAIL, RETRY, "", "Error 502 (Server Error)!!1"},
	{504, "<html><body><h1>504 Gateway Timeout</h1>\n</body></html>", E_UNAVAIL, RETRY, "",
	 "504 Gateway Timeout"},
	{503, G(503, "backendError", "Service unavailable. Please try again"), E_UNAVAIL, RETRY,
	 "backendError", "Service unavailable"},
	{503, G(503, "rateLimitExceeded", "Quota exceeded for the current request"), E_RATELIMIT,
	 RETRY | RATE, "rateLimitExceeded", "Quota exceeded"},
	{503, "Quota exceeded for the current request", E_RATELIMIT, RETRY | RATE, "",
	 "Quota exceeded"},

	/* Non-JSON bodies GAM has seen (§6.1) */
	{403, "Domain cannot use apis.", E_FORBIDDEN, 0, "", "Domain cannot use apis."},
	{403, "Quota exceeded for quota metric 'Queries'", E_RATELIMIT, RETRY | RATE, "",
	 "Quota exceeded"},
	{404, "", E_NOTFOUND, 0, "", ""},
	/* ESF quota without errors[] */
	{403,
	 "{\"error\":{\"code\":403,\"message\":\"Quota "
	 "exceeded.\",\"status\":\"RESOURCE_EXHAUSTED\"}}",
	 E_RATELIMIT, RETRY | RATE, "rateLimitExceeded", "Quota exceeded."},
	{418, "{}", E_UPSTREAM, 0, "", ""},

	/* The OAuth form (§9.2, §9.3) */
	{401,
	 O("unauthorized_client",
	   "Client is unauthorized to retrieve access tokens using this "
	   "method, or client not authorized for any of the scopes requested."),
	 E_FORBIDDEN, REFRESH, "unauthorized_client", "Client is unauthorized"},
	{400, O("invalid_grant", "Invalid email or User ID"), E_UNAUTH, 0, "invalid_grant",
	 "Invalid email or User ID"},
	{400, O("invalid_grant", "Token has been expired or revoked."), E_UNAUTH, 0,
	 "invalid_grant", "expired or revoked"},
	{400, O("admin_policy_enforced", "Access restricted by policies within your organization"),
	 E_FORBIDDEN, 0, "admin_policy_enforced", "policies"},
	{400, O("access_denied", "Requested client not authorized"), E_FORBIDDEN, 0,
	 "access_denied", "not authorized"},
	{400, O("invalid_request", "Invalid impersonation \\\"sub\\\" field: example.com"), E_INVAL,
	 0, "invalid_request", "impersonation"},
	{500, O("internal_failure", "Internal failure"), E_UNAVAIL, RETRY, "internal_failure",
	 "Internal failure"},
};

static void test_catalogue(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		struct google_error ge;
		google_error_classify(r->status, r->body, strlen(r->body), &ge);
		if (ge.code != r->code || ge.retryable != !!(r->flags & RETRY) ||
		    ge.rate_limited != !!(r->flags & RATE) ||
		    ge.refresh_auth != !!(r->flags & REFRESH) ||
		    strcmp(ge.reason, r->reason) != 0 || !strstr(ge.message, r->msg))
			fail_msg("row %zu (HTTP %d %s): got %s retry=%d rate=%d refresh=%d "
				 "reason='%s' "
				 "message='%s'",
				 i, r->status, r->reason, err_code_name(ge.code), ge.retryable,
				 ge.rate_limited, ge.refresh_auth, ge.reason, ge.message);
		assert_int_equal(ge.status, r->status);
		assert_null(strchr(ge.message, '\n'));
	}
}

static void test_success_and_to_err(void **state)
{
	(void)state;
	struct google_error ge;
	google_error_classify(200, "{}", 2, &ge);
	assert_int_equal(ge.code, E_OK);
	google_error_classify(204, NULL, 0, &ge);
	assert_int_equal(ge.code, E_OK);

	const char *body = G(409, "duplicate", "Entity already exists.");
	google_error_classify(409, body, strlen(body), &ge);
	struct err e = {0};
	assert_int_equal(google_error_to_err(&ge, &e), E_CONFLICT);
	assert_int_equal(e.code, E_CONFLICT);
	assert_int_equal(e.upstream_status, 409);
	assert_string_equal(e.reason, "duplicate");
	assert_string_equal(e.msg, "HTTP 409: Entity already exists.");
}

static void test_bounded(void **state)
{
	(void)state;
	/* A long message is cut to fit; a long reason too; invalid JSON is tolerated. */
	char body[4096];
	char msg[2000];
	memset(msg, 'x', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	snprintf(body, sizeof(body),
		 "{\"error\":{\"code\":400,\"message\":\"%s\",\"errors\":[{\"reason\":\"%s\"}]}}",
		 msg, msg);
	struct google_error ge;
	google_error_classify(400, body, strlen(body), &ge);
	assert_int_equal(ge.code, E_INVAL);
	assert_int_equal(strlen(ge.message), sizeof(ge.message) - 1);
	assert_int_equal(strlen(ge.reason), sizeof(ge.reason) - 1);

	google_error_classify(500, "{\"error\":", 9, &ge);
	assert_int_equal(ge.code, E_UNAVAIL);
	assert_true(ge.retryable);
	/* Embedded NUL and control characters do not leak into the message. */
	google_error_classify(400, "bad\r\nrequest\0tail", 17, &ge);
	assert_string_equal(ge.message, "bad request");
}

static void test_oauth_classify_direct(void **state)
{
	(void)state;
	struct err e = {0};
	const char *body = O("unauthorized_client", "Unauthorized client or scope in request.");
	assert_int_equal(oauth_error_classify(401, body, strlen(body), &e), E_FORBIDDEN);
	assert_string_equal(e.reason, "unauthorized_client");
	assert_string_equal(e.msg, "Unauthorized client or scope in request.");
	assert_int_equal(e.upstream_status, 401);
	assert_int_equal(oauth_error_classify(429, "slow down", 9, &e), E_RATELIMIT);
	assert_string_equal(e.reason, "");
	assert_int_equal(oauth_error_classify(503, "<html>", 6, &e), E_UNAVAIL);
	assert_int_equal(oauth_error_classify(200, "{}", 2, &e), E_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_catalogue),
		cmocka_unit_test(test_success_and_to_err),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_oauth_classify_direct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
