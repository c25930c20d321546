/*
 * google_users — the Directory API users calls of the export engine (API-NOTES §3, §16): one
 * complete listing of the customer's users with the projection the planner compares, and the
 * paths of users.get / users.insert / users.update by key for single calls and batch parts.
 *
 * Listing is by `customer=my_customer` only (never `domain`: it hides secondary domains). The
 * export never sends a `query` (its index lags and quotes break it); the import passes the
 * integration's import filter and the preview's query on, and sends none when there is neither. Keys are percent-encoded in full
 * (`@` → `%40`), as Google's own libraries send them.
 *
 * Threads and ownership as google_client.h; user resources are json-c objects borrowed for the
 * callback (the sync layer takes a reference with json_object_get() to keep one).
 */
#ifndef GWSYNC_GOOGLE_USERS_H
#define GWSYNC_GOOGLE_USERS_H

#include <stddef.h>

#include "err.h"
#include "google_client.h"

struct json_object;

/*
 * What the planner always reads of a user (users.get fields= and users.list users(...)); the
 * typed arrays it manages (emails, phones, addresses, organizations, externalIds, relations) are
 * added only when an attribute rule exports them, so a listing carries no more than is compared.
 */
#define GOOGLE_USER_FIELDS                                                                     \
	"id,primaryEmail,name(givenName,familyName),suspended,suspensionReason,archived,isAdmin," \
	"isDelegatedAdmin,aliases,nonEditableAliases,etag"

#define GOOGLE_USERS_PAGE 500 /* users.list maxResults upper bound */

typedef int (*google_user_fn)(void *ctx, struct json_object *user, struct err *e);

/*
 * Lists every user of the customer (showDeleted false) with the projection fields (a fields=
 * value for one user, e.g. GOOGLE_USER_FIELDS ",phones") and calls fn once per user. A non-zero
 * return of fn stops and is returned. Errors: google_call's, E_UPSTREAM for a looping page token,
 * E_INVAL for a projection too long.
 */
int google_users_list_all(struct google_client *gc, const char *fields, google_user_fn fn,
			  void *ctx, struct err *e);

/*
 * What the import reads of a user (preview and import_users): identity, suspension and archiving,
 * addresses to match by, the organizations (company and the primary one's title and department)
 * and locations. The import rules' typed arrays (phones, addresses, externalIds, ...) are added
 * by the caller.
 */
#define GOOGLE_IMPORT_FIELDS                                                                   \
	"id,primaryEmail,name(givenName,familyName),suspended,archived,aliases,"                 \
	"nonEditableAliases,organizations,locations"

/* One users.list page (the preview): by customer, with an optional query. */
struct google_users_page_req {
	const char *query;	/* NULL or "": no query parameter at all (Google refuses query=) */
	int max_results;	/* 1..GOOGLE_USERS_PAGE */
	const char *page_token; /* NULL or "": the first page */
	const char *fields;	/* one user's projection (GOOGLE_IMPORT_FIELDS ...) */
	long deadline_ms;	/* > 0: the call with its retries ends within this (an API request
				   waits on it: a google_deadline scope); 0: the caller's scope, if any */
};

/*
 * Reads one page and calls fn once per user. *next_token gets Google's nextPageToken (malloc'd,
 * the caller frees it) or NULL on the last page. Errors: google_call's (a query Google refuses is
 * E_INVAL with Google's message in e->msg and 400 in e->upstream_status), E_TIMEOUT past the
 * deadline.
 */
int google_users_list_page(struct google_client *gc, const struct google_users_page_req *rq,
			   google_user_fn fn, void *ctx, char **next_token, struct err *e);

/*
 * google_users_list_all() restricted by query (NULL or "": no query parameter, every user).
 */
int google_users_list_query(struct google_client *gc, const char *query, const char *fields,
			    google_user_fn fn, void *ctx, struct err *e);

/*
 * "/admin/directory/v1/users/<key>" with key percent-encoded, followed by suffix (e.g.
 * "?fields=..."; NULL for none) into out. Returns 0, or -1 when it does not fit.
 */
int google_user_path(const char *key, const char *suffix, char *out, size_t cap);

/* "/admin/directory/v1/users" (users.insert). */
#define GOOGLE_USERS_PATH "/admin/directory/v1/users"

#endif
