/*
 * Inside api/ only: what handlers see of a request and how they answer.
 *
 * A handler runs on a CivetWeb worker thread with a struct api_request (borrowed for the call)
 * and fills a struct api_response; http.c sends it and frees the body. Handlers never write to
 * the socket themselves. Those that call Google (authorization, the domain check) do it under
 * GWSYNC_GOOGLE_REQUEST_DEADLINE_MS (google_deadline_begin) so a Google outage cannot hold the
 * request threads for long.
 */
#ifndef GWSYNC_API_INTERNAL_H
#define GWSYNC_API_INTERNAL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "access.h"
#include "api.h"
#include "auth_cache.h"
#include "metrics.h"
#include "problem.h"
#include "read_cache.h"
#include "router.h"

struct api_ctx {
	const struct config *cfg;
	struct store *st;
	struct bus_producer *bp;
	struct connect *conn;
	struct api_metrics *metrics;
	struct auth_cache *auth_cache;
	struct read_cache *read_cache;
	const char *const *metrics_route_names; /* "GET /v1/tenants" per route */
	void (*metrics_extra)(void *arg, char *buf, size_t cap);
	void *metrics_arg;
	int (*ready_check)(void *arg, struct err *e); /* see struct api_deps */
	void *ready_arg;
};

struct api_principal {
	char key_id[STORE_ID_LEN + 1];
	char tenant_id[STORE_ID_LEN + 1];
	enum access_role role;
};

struct api_request {
	struct api_ctx *ctx;
	const char *method;
	const char *path;
	const char *query; /* NULL when absent */
	const char *req_id;
	const char *content_type; /* NULL when absent */
	const char *body;	  /* NUL-terminated copy, body_len bytes */
	size_t body_len;
	const char *if_match;	     /* If-Match header or NULL */
	int64_t if_version;	     /* what it asks for (api_if_match), parsed before the handler */
	const char *idempotency_key; /* Idempotency-Key header or NULL */
	struct router_match params;
	struct api_principal who;
};

struct api_response {
	int status;
	char *body; /* malloc'd; freed by http.c */
	size_t len;
	const struct read_cache_answer *cached; /* instead of body: a read cache reference */
	const char *content_type;
	char location[512];
	char etag[40];
	char allow[128];
	char *redirect; /* malloc'd; set with status 302: sent as Location (may be long) */
	bool www_authenticate;
	bool replayed; /* answered from the Idempotency-Key store */
	bool if_match_weak; /* If-Match was a weak tag: a 412 says it never matches */
};

typedef void (*api_handler_fn)(struct api_request *rq, struct api_response *rs);

enum api_route_flag {
	/*
	 * The request or the answer carries a secret (a password, a key shown once): nothing of it
	 * may be kept for Idempotency-Key replays, so the header is refused there.
	 */
	ROUTE_NO_REPLAY = 1,
	/*
	 * A GET whose answer is made only of the tables that announce their changes (see
	 * read_cache.h): answered from the read cache while it is fresh.
	 */
	ROUTE_CACHED = 2,
	/* /healthz, /readyz, /metrics: also served by the health listener (GWSYNC_HEALTH_LISTEN). */
	ROUTE_HEALTH = 4,
	/*
	 * A POST/PUT that takes no body (GET, HEAD and DELETE never take one): a body other than a
	 * blank one or {} is refused (api_body_none), never ignored.
	 */
	ROUTE_NO_BODY = 8,
	/*
	 * Takes If-Match (openapi.yaml lists it there): the handler compares rq->if_version. Any
	 * other route refuses the header with a 400 before its handler runs, so a precondition is
	 * never silently ignored; a malformed header is a 400 on every route.
	 */
	ROUTE_IF_MATCH = 16,
};

struct api_route {
	struct router_route r; /* first: router_find() walks the table with a stride */
	api_handler_fn handler;
	enum access_role min_role; /* ACCESS_NONE: no key needed */
	unsigned flags;		   /* enum api_route_flag */
};

extern const struct api_route api_routes[];
extern const size_t api_routes_count;

/* ---- respond.c ---- */

/* Serialises jo (taking it) as the response body. */
void api_reply_json(struct api_response *rs, int status, json_object *jo);
void api_reply_problem(struct api_response *rs, const struct problem *p, const char *extra_json);
void api_reply_error(struct api_response *rs, int status, const char *slug, const char *title,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/*
 * Maps an err from below (store, bus) to its problem: not found 404, conflict 409 (reason
 * integration_not_active: integration-not-active), down 503.
 */
void api_reply_err(struct api_response *rs, const struct err *e);

/*
 * Parses the body as a JSON object within the depth limit. On failure answers 415 (not JSON) or
 * 400 (malformed, with the byte offset; not an object) and returns NULL. The caller puts the
 * result.
 */
json_object *api_body_object(struct api_request *rq, struct api_response *rs);

/*
 * Checks that obj has no members but the NULL-terminated allowed ones; adds one error per other
 * member to p (pointer "/name"): "is read-only" for those in readonly (may be NULL), else
 * "unknown field". Returns the number of such members.
 */
int api_body_only(json_object *obj, const char *const *allowed, const char *const *readonly,
		  struct problem *p);

/*
 * The start of every handler that takes a JSON body (POST, PUT, PATCH): the body as an object
 * (api_body_object; NULL when it answered), p set to the 400 validation problem with this
 * detail ("the user is not valid"), and api_body_only's errors added (allowed NULL: the caller
 * checks the members itself). The caller checks the values, answers p when it has errors and
 * puts the body.
 */
json_object *api_body_begin(struct api_request *rq, struct api_response *rs, const char *detail,
			    const char *const *allowed, const char *const *readonly,
			    struct problem *p);

/* Copies query parameter name (decoded) into buf; 1 when present, 0 when absent. */
int api_query_get(const struct api_request *rq, const char *name, char *buf, size_t cap);

/*
 * Every list's query, before any parameter is read: a parameter given twice or with an empty
 * value answers 400 naming it (/query/NAME) and returns -1.
 */
int api_query_check(const struct api_request *rq, struct api_response *rs);

/* A limit: 1*DIGIT from 1 to 100 (no sign, no space); -1 otherwise. */
int api_query_limit(const char *s);

/* 1 when Content-Type ct is JSON (application/json or merge-patch+json, charset utf-8 if any). */
int api_media_type_ok(const char *ct);

/*
 * For requests that take no body: none, a blank one or {} is fine (0); any other answers 415 (not
 * JSON) or 400 "this request takes no body" and returns -1.
 */
int api_body_none(struct api_request *rq, struct api_response *rs);

/* 1 when s is one of the NULL-terminated set. */
int api_one_of(const char *s, const char *const *set);

/* Adds "must be one of a, b, c" (the NULL-terminated set) for pointer to p. */
void api_add_one_of(struct problem *p, const char *pointer, const char *const *set);

/*
 * A list filter that takes one of a NULL-terminated set: copies query parameter name into buf and
 * returns 1 when present, 0 when absent; any other value answers 400 ("query parameter NAME is
 * invalid", pointer /query/NAME, "must be one of ...") and returns -1.
 */
int api_query_one_of(const struct api_request *rq, struct api_response *rs, const char *name,
		     const char *const *set, char *buf, size_t cap);

#define API_CURSOR_MAX 256

/*
 * Paging, the same for every list: ?limit= (1..100, default 20) and ?cursor=, the sort key of the
 * last item of the page before. A list fetches limit + 1 rows; when the extra one comes back the
 * answer's next_cursor names the last item shown. The kind of sort key is the list's own.
 */
enum api_cursor_kind {
	API_CURSOR_ID,	 /* a directory id (validate_directory_id) */
	API_CURSOR_UUID, /* a UUID */
	API_CURSOR_SEQ,	 /* a sequence number (an int64_t in the row), 1 to 2^63-1 */
};

struct api_page {
	enum api_cursor_kind kind;
	int limit;
	int fetch;		    /* limit + 1: the rows to ask the store for */
	char after[API_CURSOR_MAX]; /* the cursor's sort key; "" on the first page */
	int64_t seq;		    /* API_CURSOR_SEQ: after as a number; 0 on the first page */
	size_t n;		    /* for the store: the rows it returned */
	struct err e;		    /* for the store: why it failed */
};

/*
 * Reads limit and cursor and checks the cursor is of this kind. On a bad value answers 400
 * (pointer /query/limit or /query/cursor) and returns -1.
 */
int api_page_begin(const struct api_request *rq, struct api_response *rs,
		   enum api_cursor_kind kind, struct api_page *pg);

/* The sort key to read after: NULL on the first page. */
const char *api_page_after(const struct api_page *pg);

/* One row of a list as JSON (a new object); arg is what the list passed to api_reply_rows. */
typedef json_object *api_row_json_fn(const void *row, const void *arg);

/* Defines name, an api_row_json_fn calling fn(const struct X *row) that ignores arg. */
#define API_ROW_JSON(name, fn)                                                                    \
	static json_object *name(const void *row, const void *arg)                               \
	{                                                                                         \
		(void)arg;                                                                        \
		return fn(row);                                                                   \
	}

/*
 * Answers a list with what the store returned for it: rc non-zero → the store's error pg->e
 * (api_reply_err). Otherwise 200 {"items": [...], "next_cursor": ...} from the pg->n rows of
 * size bytes each (up to limit + 1): the first limit through row_json; when the extra row came
 * back, next_cursor is the sort key at key_off of the last row shown (a char array, or an
 * int64_t for API_CURSOR_SEQ). The rows stay the caller's.
 */
void api_reply_rows(struct api_response *rs, const struct api_page *pg, int rc, const void *rows,
		    size_t size, size_t key_off, api_row_json_fn *row_json, const void *arg);

/*
 * Answers 200 {"items": items, "next_cursor": ...}, taking items; next_after is the sort key of
 * the last item shown when more follow, NULL on the last page. For lists that are not arrays of
 * rows (a stored plan); api_reply_rows builds on it.
 */
void api_reply_page(struct api_response *rs, json_object *items, const char *next_after);

/*
 * The version an If-Match header asks for: -1 when there is none (or "*"). A header that is not
 * "*" or an ETag of ours ("N", W/"N") is malformed: answers 400 and returns -1 from the function.
 * http.c calls it for every request (handlers read rq->if_version). A weak tag W/"N" never
 * matches (If-Match compares strongly, RFC 9110 §13.1.1): *version is
 * API_VERSION_NEVER, so the handler answers 412 where it compares versions — after the body was
 * checked, as a request that would be refused without the precondition is (RFC 9110 §13.2.1) —
 * and that 412 says why (rs->if_match_weak).
 */
#define API_VERSION_NEVER INT64_MAX
int api_if_match(const struct api_request *rq, struct api_response *rs, int64_t *version);

/* Sets the response's ETag for a resource at this version. */
void api_set_etag(struct api_response *rs, int64_t version);

/* The actor of this request for the audit trail (borrowed from rq). */
struct store_actor api_actor(const struct api_request *rq, const char *action);

/* 1 when s is a canonical lower- or upper-case UUID. */
int api_is_uuid(const char *s);

/*
 * An integer as JSON Schema means it: a number with no fraction, 116.0 included (json-c types
 * that a double). 1 with *out set, or 0 for anything else (strings, fractions, out of range).
 */
int api_json_integer(json_object *v, int64_t *out);

/*
 * The one set of json-c helpers that cannot leak: add a member, dropping the value when add
 * fails. Every handler builds its JSON with these (no local copies).
 */
void api_json_put(json_object *obj, const char *key, json_object *val); /* NULL → omitted */
void api_json_put_or_null(json_object *obj, const char *key, json_object *val); /* NULL → null */
void api_json_put_str(json_object *obj, const char *key, const char *s); /* "" → omitted */
void api_json_put_str_or_null(json_object *obj, const char *key, const char *s); /* "" → null */
void api_json_put_int_or_null(json_object *obj, const char *key, int v);	 /* < 0 → null */
/* {"reason", "message"} (empty members omitted), or NULL when both are empty. */
json_object *api_json_error(const char *reason, const char *message);

/*
 * Answers a failed Google call made on the request's thread (under google_deadline_begin) with the
 * problem the authorization routes use: 503 google-unreachable when Google did not answer in
 * time, 409 reauthorization-required, 502 google-error, …; errors that are not Google's (not
 * found, deactivated) as api_reply_err. handlers_authorization.c.
 */
void api_reply_google_error(struct api_response *rs, int rc, const struct err *e);

/* JSON of a key's metadata (never the key or its hash); handlers_tenants.c. */
json_object *api_key_json(const struct store_api_key *k);

/* ---- handlers ---- */
void handle_healthz(struct api_request *rq, struct api_response *rs);
void handle_readyz(struct api_request *rq, struct api_response *rs);
void handle_metrics(struct api_request *rq, struct api_response *rs);
void handle_tenants_create(struct api_request *rq, struct api_response *rs);
void handle_tenants_list(struct api_request *rq, struct api_response *rs);
void handle_tenants_get(struct api_request *rq, struct api_response *rs);
void handle_tenant_keys_create(struct api_request *rq, struct api_response *rs);
void handle_api_keys_list(struct api_request *rq, struct api_response *rs);
void handle_api_keys_revoke(struct api_request *rq, struct api_response *rs);
void handle_audit_list(struct api_request *rq, struct api_response *rs);
void handle_authorization_post(struct api_request *rq, struct api_response *rs);
void handle_authorization_get(struct api_request *rq, struct api_response *rs);
void handle_authorization_verify(struct api_request *rq, struct api_response *rs);
void handle_oauth_callback(struct api_request *rq, struct api_response *rs);
void handle_jobs_create(struct api_request *rq, struct api_response *rs);
void handle_jobs_list(struct api_request *rq, struct api_response *rs);
void handle_jobs_get(struct api_request *rq, struct api_response *rs);
void handle_jobs_items(struct api_request *rq, struct api_response *rs);
void handle_jobs_cancel(struct api_request *rq, struct api_response *rs);
void handle_jobs_plan(struct api_request *rq, struct api_response *rs);
void handle_jobs_approve(struct api_request *rq, struct api_response *rs);

#endif
