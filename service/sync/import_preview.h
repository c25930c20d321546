/*
 * import_preview — what Google holds, one page per API request, with each user's match state
 * (GET /v1/integrations/{id}/google-users), and the check of an import filter before it is
 * stored. Both call Google from an API thread, so every call ends within deadline_ms (retries
 * included): an unreachable Google is an error in seconds, never minutes. Nothing is written.
 *
 * Errors: E_CONFLICT (reason "integration_not_active") unless the integration is active;
 * E_UNAUTH (reauthorization_required) from the client registry; E_INVAL with reason
 * "invalid_query" and Google's message in e->msg for a query Google refuses; E_TIMEOUT,
 * E_UNAVAIL, E_RATELIMIT or E_UPSTREAM when Google could not answer; store errors.
 * Threads: any (an API request thread).
 */
#ifndef GWSYNC_SYNC_IMPORT_PREVIEW_H
#define GWSYNC_SYNC_IMPORT_PREVIEW_H

#include <json-c/json.h>

#include "connect.h"
#include "plan_import.h"
#include "store.h"

struct import_preview_req {
	const char *query;	/* the caller's users.list query, NULL or "" for none */
	const char *page_token; /* Google's nextPageToken of the previous page, NULL for the first */
	int limit;		/* maxResults, 1..100 */
	enum import_state only; /* IMPORT_STATE_N: every state */
	long deadline_ms;
};

/*
 * *items gets a JSON array of {google_id, primary_email, name: {given_name, family_name},
 * aliases, suspended, archived, match_state, user_id} (user_id null unless linked or matched),
 * owned by the caller; *next_token Google's next page token (malloc'd) or NULL.
 */
int import_preview(struct connect *conn, struct store *st, const char *tenant_id,
		   const char *integration_id, const struct import_preview_req *rq,
		   struct json_object **items, char **next_token, struct err *e);

/* One users.list (maxResults=1) with filter as the query: E_OK when Google accepts it. */
int import_filter_check(struct connect *conn, const char *tenant_id, const char *integration_id,
			const char *filter, long deadline_ms, struct err *e);

#endif
