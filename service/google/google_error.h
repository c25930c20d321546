/*
 * google_error — what a Google answer that is not 2xx means for gwsync (API-NOTES §6).
 *
 * Classifies (HTTP status, body) into a gwsync error code and a retry decision. The body may be
 * Google's JSON ({"error":{"code","message","errors":[{"reason","message"}],"status"}}), the OAuth
 * form ({"error","error_description"}) or anything else (an HTML 502 page, plain text "Domain
 * cannot use apis."): it is never assumed to parse. Google's reason and message are kept, cut to
 * fit, for the user. Pure functions over caller storage; thread-safe.
 */
#ifndef GWSYNC_GOOGLE_ERROR_H
#define GWSYNC_GOOGLE_ERROR_H

#include <stddef.h>

#include "err.h"

#define GOOGLE_ERROR_BODY_MAX (1024 * 1024) /* longer bodies are classified by status only */

struct google_error {
	enum err_code code;
	int status;
	int retryable;	  /* retry with backoff (429, 5xx, 403 rate limits, 412 creation pending) */
	int rate_limited; /* Google said we are too fast: slow the token bucket down */
	int refresh_auth; /* 401: refresh the access token once, then retry */
	char reason[64];  /* errors[0].reason, or the OAuth error, or "" */
	char message[256]; /* Google's message (or the start of a non-JSON body), single line */
};

/*
 * Fills out from status and body (len bytes, may be NULL/0). A 2xx status gives E_OK. Mapping:
 * 400 → E_INVAL; 401 → E_UNAUTH + refresh_auth; 403 forbidden, insufficientPermissions,
 * domainCannotUseApis, accessNotConfigured (and other 403) → E_FORBIDDEN; 403
 * userRateLimitExceeded, rateLimitExceeded, quotaExceeded and 429 → E_RATELIMIT, retryable;
 * 404 → E_NOTFOUND; 409 → E_CONFLICT; 412 conditionNotMet "User creation is not complete." →
 * E_UNAVAIL, retryable; other 412 → E_PRECONDITION; 5xx → E_UNAVAIL, retryable; any other status
 * → E_UPSTREAM. OAuth-form errors are classified as the token endpoint's (oauth.h).
 */
void google_error_classify(int status, const char *body, size_t len, struct google_error *out);

/* The reason of a 2xx answer that is not the JSON object the call expects. */
#define GOOGLE_REASON_INVALID_RESPONSE "invalid_response"

/*
 * Whether Google answers method on path (a query is ignored) with a JSON object: every Directory
 * method does but those with no response schema (API-NOTES §1: deletes, users.undelete,
 * users.makeAdmin, channels.stop), which answer with an empty body.
 */
int google_expects_json(const char *method, const char *path);

/*
 * A 2xx answer to a call that expects a JSON object: 0 when body looks like one (its first and
 * last bytes that are not blank are '{' and '}'; the parser checks the rest). Otherwise 1, with
 * out filled as a failure: E_UPSTREAM, reason GOOGLE_REASON_INVALID_RESPONSE, not retried (a write
 * may have happened), the message saying what came (an empty body, or the start of the text).
 */
int google_answer_check(int status, const char *body, size_t len, struct google_error *out);

/* Copies ge into e: code, upstream_status, reason and "HTTP <status>: <message>". */
int google_error_to_err(const struct google_error *ge, struct err *e);

/*
 * Whether a Google call's error code (after the client's retries) may pass by itself: Google
 * unreachable or slow (E_UNAVAIL, E_TIMEOUT), failing (E_UPSTREAM) or limiting (E_RATELIMIT),
 * so the same call may go through later; 1 or 0.
 */
int google_err_transient(int code);

#endif
