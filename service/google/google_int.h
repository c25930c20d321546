/*
 * google_int — what the files of service/google share and nobody else uses (json-c types appear
 * here, never in the public headers). Same threading and ownership rules as google_client.h.
 */
#ifndef GWSYNC_GOOGLE_INT_H
#define GWSYNC_GOOGLE_INT_H

#include <stddef.h>

#include "google_client.h"
#include "httpc.h"

struct json_object;

/* One logical request to the API, before rate limit, token and retries. */
struct google_exchange {
	const char *method;
	const char *path;	  /* appended to the API base; starts with '/' */
	const char *content_type; /* NULL → application/json when there is a body */
	const char *body;
	size_t body_len;
	unsigned cost;	 /* bucket units: 1, or the number of calls in a batch; 0 → 1 */
	int expect_json; /* a 2xx must carry a JSON object (google_answer_check), else it fails */
	int idempotent;	 /* a POST that may be sent again after a timeout (a batch of GET, PUT
			  * and DELETE parts); other methods always may */
	long *limited_ms; /* out, optional: added to, the ms spent waiting for the rate limit */
};

/*
 * Sends x with the whole policy (bucket, token, 401 refresh, retries, metrics). On E_OK *resp
 * holds a 2xx answer owned by the caller (httpc_response_cleanup); otherwise *resp is empty and
 * e says why (a 2xx that fails x->expect_json: E_UPSTREAM, reason invalid_response, counted as a
 * failed call and a server_error attempt).
 */
int google_send(struct google_client *gc, const struct google_exchange *x,
		struct httpc_response *resp, struct err *e);

/*
 * google_call() with the body parsed: *out is the JSON object (json_object_put by the caller), or
 * NULL for the empty 2xx body of a call without a response (google_expects_json). A 2xx body that
 * is not JSON is E_UPSTREAM with reason invalid_response.
 */
int google_call_json(struct google_client *gc, const char *method, const char *path_and_query,
		     const char *json_body, int *status, struct json_object **out, struct err *e);

/* Called once per page with the page's items array (borrowed for the call; never NULL, maybe
 * empty when the page had none). A non-zero return stops the listing and is returned. */
typedef int (*google_page_fn)(void *ctx, struct json_object *items, struct err *e);

/*
 * Lists a collection to its end: GET path_and_query with maxResults=max_results, fields=fields
 * (nextPageToken is added when missing; NULL → no projection) and pageToken=<previous
 * nextPageToken> until nextPageToken is absent. items_key names the array ("users", "groups",
 * "members", "domains"). Errors: any google_call error, E_UPSTREAM for a page token that repeats.
 */
int google_list_pages(struct google_client *gc, const char *path_and_query, const char *items_key,
		      int max_results, const char *fields, google_page_fn fn, void *ctx,
		      struct err *e);

/* The resolved retry policy and sleep of gc; counting batch parts. */
const struct google_retry_policy *google_client_retry_policy(const struct google_client *gc);
void google_client_sleep(struct google_client *gc, long ms);
long long google_client_now_ms(struct google_client *gc);
void google_client_count_batch(struct google_client *gc, size_t parts, int rate_limited);

#endif
