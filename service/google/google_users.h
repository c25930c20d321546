/*
 * google_users — the Directory API users calls of the export engine (API-NOTES §3, §16): one
 * complete listing of the customer's users with the projection the planner compares, and the
 * paths of users.get / users.insert / users.update by key for single calls and batch parts.
 *
 * Listing is by `customer=my_customer` only (never `domain`: it hides secondary domains) and never
 * with a `query` (its index lags and quotes break it). Keys are percent-encoded in full
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
 * "/admin/directory/v1/users/<key>" with key percent-encoded, followed by suffix (e.g.
 * "?fields=..."; NULL for none) into out. Returns 0, or -1 when it does not fit.
 */
int google_user_path(const char *key, const char *suffix, char *out, size_t cap);

/* "/admin/directory/v1/users" (users.insert). */
#define GOOGLE_USERS_PATH "/admin/directory/v1/users"

#endif
