/*
 * The import preview (GET /v1/integrations/{id}/google-users) and the import filter check of
 * PATCH /v1/integrations/{id}. Google is read through service/sync/import_preview.c within
 * GWSYNC_GOOGLE_REQUEST_DEADLINE_MS (a google_deadline scope), so an unreachable Google holds a
 * request thread for seconds only.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google_error.h"
#include "handlers_import.h"
#include "validate.h"
#include "import_preview.h"

#define QUERY_MAX (STORE_FILTER_MAX * 4 + 1)
#define TOKEN_MAX 2048

/* Google's answer as a problem: a refused query, Google's 404 or other refusal, Google
 * unreachable, or what the store says. */
static void reply_google_err(struct api_response *rs, const struct err *e, const char *pointer)
{
	if (e->code == E_INVAL && !strcmp(e->reason, "invalid_query")) {
		struct problem p;
		problem_set(&p, 400, "invalid-query", "Google refused the query",
			    "Google refused the users.list query: %s", e->msg);
		problem_add_error(&p, pointer, "Google answers: %s", e->msg);
		api_reply_problem(rs, &p, NULL);
	} else if (e->code == E_CONFLICT && !strcmp(e->reason, "integration_not_active")) {
		api_reply_error(rs, 409, "integration-not-active", "Integration not active", "%s",
				e->msg);
	} else if (e->code == E_UNAUTH) {
		api_reply_error(rs, 409, "reauthorization-required", "Authorize again",
				"Google no longer accepts this integration's grant; nothing is sent "
				"to Google until an admin authorizes it again (POST "
				".../authorization).");
	} else if (e->code == E_UPSTREAM && e->upstream_status == 404) {
		/* Google's 404 (an unknown customer): Google's error, not a missing integration */
		api_reply_google_error(rs, E_UPSTREAM, e);
	} else if (google_err_transient(e->code)) {
		api_reply_error(rs, 503, "google-unreachable", "Google unreachable",
				"Google could not be reached or kept failing (%s); nothing was "
				"changed. Retry later.",
				e->msg);
	} else {
		/* every other refusal of Google's gets its own problem type, as authorization does */
		api_reply_google_error(rs, e->code, e);
	}
}

void handle_google_users_list(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id || api_query_check(rq, rs))
		return;
	char *query = malloc(QUERY_MAX + 2), *token = malloc(TOKEN_MAX + 2), limit_s[16] = "",
	     state[16] = "";
	if (!query || !token) {
		free(query);
		free(token);
		api_reply_error(rs, 503, "unavailable", "Unavailable", "out of memory");
		return;
	}
	struct problem p;
	problem_set(&p, 400, "validation", "Invalid request", "a query parameter is invalid");
	struct import_preview_req pr = {.limit = 20, .only = IMPORT_STATE_N,
					.deadline_ms = rq->ctx->cfg->google_request_deadline_ms};
	if (api_query_get(rq, "limit", limit_s, sizeof(limit_s))) {
		int v = api_query_limit(limit_s);
		if (v < 0)
			problem_add_error(&p, "/query/limit", "must be an integer from 1 to 100");
		else
			pr.limit = v;
	}
	if (api_query_get(rq, "match_state", state, sizeof(state)) &&
	    (pr.only = import_state_parse(state)) == IMPORT_STATE_N)
		problem_add_error(&p, "/query/match_state", "must be linked, matched, inactive or new");
	if (api_query_get(rq, "query", query, QUERY_MAX + 2)) {
		/* settings.import_filter's rule: Google gets both alike, joined by a space */
		const char *why = strlen(query) > QUERY_MAX - 1
					  ? "is too long"
					  : validate_name(query, STORE_FILTER_MAX);
		if (why)
			problem_add_error(&p, "/query/query",
					  "%s (a users.list query of 1 to %d characters, no "
					  "control characters)",
					  why, STORE_FILTER_MAX);
		pr.query = query;
	}
	if (api_query_get(rq, "cursor", token, TOKEN_MAX + 2)) {
		if (strlen(token) > TOKEN_MAX || !token[0])
			problem_add_error(&p, "/query/cursor", "is not a cursor of this list");
		pr.page_token = token;
	}
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
	} else {
		struct json_object *items = NULL;
		char *next = NULL;
		struct err e = {0};
		if (import_preview(rq->ctx->conn, rq->ctx->st, rq->who.tenant_id, id, &pr, &items,
				   &next, &e)) {
			/* Google names a bad page token; else the query it was sent is the culprit */
			const char *at = pr.page_token && strstr(e.msg, "page token") ? "/query/cursor"
					 : pr.query					 ? "/query/query"
										 : "/settings/import_filter";
			reply_google_err(rs, &e, at);
		} else {
			json_object *jo = json_object_new_object();
			api_json_put(jo, "items", items);
			if (next)
				api_json_put_str(jo, "next_cursor", next);
			api_reply_json(rs, 200, jo);
		}
		free(next);
	}
	free(query);
	free(token);
}

int api_import_filter_check(struct api_request *rq, struct api_response *rs,
			    const struct store_integration *it, const char *old_filter)
{
	if (!it->import_filter[0] || !strcmp(it->import_filter, old_filter) ||
	    strcmp(it->status, "active"))
		return 0;
	struct err e = {0};
	if (!import_filter_check(rq->ctx->conn, rq->who.tenant_id, it->id, it->import_filter,
				 rq->ctx->cfg->google_request_deadline_ms, &e))
		return 0;
	if (e.code == E_INVAL && !strcmp(e.reason, "invalid_query")) {
		struct problem p;
		problem_set(&p, 400, "validation", "Invalid request",
			    "the integration update is not valid");
		problem_add_error(&p, "/settings/import_filter", "Google refuses this filter: %s",
				  e.msg);
		api_reply_problem(rs, &p, NULL);
	} else {
		reply_google_err(rs, &e, "/settings/import_filter");
	}
	return -1;
}
