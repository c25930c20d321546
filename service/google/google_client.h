/*
 * google_client — the one road to Google's APIs: every call goes through google_call().
 *
 * A struct google_client belongs to one integration. It owns the rate limit (unless a shared one
 * is given), a small pool of HTTP clients (one per concurrent caller, so connections are reused
 * and no curl handle is used by two threads) and the metrics. Each call: waits for the token
 * bucket, asks the token callback for a bearer token, sends, classifies a non-2xx answer
 * (google_error.h), retries per the policy (google_retry.h; 401 → refresh the token once) and
 * counts what happened.
 *
 * Threads: google_call() and the getters may be called from any number of threads at once;
 * _new/_free from one thread while no call runs. The token callback is called from the calling
 * thread and must be thread-safe itself (oauth_tokens_get is).
 *
 * Ownership: options and their strings are copied (the rate limit and token ctx are borrowed and
 * must outlive the client). Response bodies are returned owned by the caller (free()).
 *
 * Errors: E_OK for a 2xx; otherwise the classified code with Google's reason in e->reason, its
 * message in e->msg, the status in e->upstream_status and, for a rate-limit answer, the last
 * Retry-After in e->retry_after_s. Transport failures come back as httpc reports them. Tokens
 * never appear in e or in a log line.
 */
#ifndef GWSYNC_GOOGLE_CLIENT_H
#define GWSYNC_GOOGLE_CLIENT_H

#include <stddef.h>

#include "err.h"
#include "google_ratelimit.h"
#include "google_retry.h"

#define GOOGLE_DEFAULT_API_BASE "https://admin.googleapis.com"
#define GOOGLE_BEARER_MAX 4096

/*
 * Writes a bearer token (NUL-terminated, < cap bytes) into out. force_refresh is 1 after the API
 * answered 401 with the token that out still holds: mint a new one. Returns E_OK or an E_* code
 * with detail in e (never the token). oauth_tokens_get() has this shape.
 */
typedef int (*google_token_fn)(void *ctx, int force_refresh, char *out, size_t cap, struct err *e);

struct google_client_options {
	const char *api_base;	 /* NULL → GOOGLE_DEFAULT_API_BASE; no trailing slash needed */
	int allow_http;		 /* plain http (emulator) */
	long connect_timeout_ms; /* 0 → httpc default */
	long timeout_ms;	 /* per attempt; 0 → httpc default */
	size_t max_body_bytes;	 /* 0 → httpc default (32 MiB) */
	const char *user_agent;	 /* NULL → httpc default */
	const char *ca_file;	 /* NULL → system trust store */
	struct google_retry_policy retry;
	struct google_ratelimit *ratelimit; /* borrowed, shared; NULL → an own bucket of: */
	struct google_ratelimit_options ratelimit_options;
	google_token_fn token; /* required */
	void *token_ctx;
	google_sleep_fn sleep; /* backoff sleeps; NULL → real sleep */
	void *sleep_ctx;
};

enum google_method {
	GOOGLE_GET,
	GOOGLE_POST,
	GOOGLE_PUT,
	GOOGLE_PATCH,
	GOOGLE_DELETE,
	GOOGLE_METHOD_N
};

/* Outcome of one HTTP attempt. */
enum google_outcome {
	GOOGLE_OK,		/* 2xx */
	GOOGLE_CLIENT_ERROR,	/* 4xx other than below: not retried */
	GOOGLE_AUTH_ERROR,	/* 401 */
	GOOGLE_RATE_LIMITED,	/* 429, 403 rate/quota */
	GOOGLE_SERVER_ERROR,	/* 5xx, 412 creation pending */
	GOOGLE_TRANSPORT_ERROR, /* no HTTP answer (timeout, connection) */
	GOOGLE_OUTCOME_N
};

#define GOOGLE_LATENCY_BUCKETS 10 /* upper bounds in google_latency_bounds_ms, then +Inf */
extern const long google_latency_bounds_ms[GOOGLE_LATENCY_BUCKETS - 1];

/* A snapshot of the counters (monotonic since the client was made). */
struct google_metrics {
	unsigned long long requests[GOOGLE_METHOD_N][GOOGLE_OUTCOME_N]; /* HTTP attempts */
	unsigned long long calls;	    /* google_call / batch invocations */
	unsigned long long calls_failed;    /* ... that ended in an error */
	unsigned long long retries;	    /* attempts after the first */
	unsigned long long token_refreshes; /* forced refreshes after a 401 */
	unsigned long long ratelimit_waits; /* times the bucket made a call wait */
	unsigned long long ratelimit_wait_ms;
	unsigned long long ratelimit_cuts; /* rate-limit answers that slowed the bucket */
	unsigned long long batch_parts;
	unsigned long long latency_count; /* per attempt with an HTTP answer */
	unsigned long long latency_sum_ms;
	unsigned long long latency_buckets[GOOGLE_LATENCY_BUCKETS]; /* non-cumulative */
};

struct google_client;

/* *out owned by the caller (google_client_free), NULL on failure. Errors: E_INVAL (no token
 * callback, bad rate limit options), E_NOMEM. */
int google_client_new(const struct google_client_options *o, struct google_client **out,
		      struct err *e);

/* Frees the client, its HTTP clients and its own bucket. NULL is a no-op. */
void google_client_free(struct google_client *gc);

/*
 * One API call with rate limit, token, retries and classification. method is "GET", "POST",
 * "PUT", "PATCH" or "DELETE"; path_and_query starts with '/' and is already percent-encoded
 * (e.g. "/admin/directory/v1/users/jane%40example.com?projection=full"); json_body may be NULL.
 * *status gets the last HTTP status (0 when none came). On E_OK *body_out holds the response
 * body (NUL-terminated, possibly "" for 204) owned by the caller, and *body_len its length;
 * on failure *body_out is NULL. body_out/body_len/status may be NULL when not wanted.
 */
int google_call(struct google_client *gc, const char *method, const char *path_and_query,
		const char *json_body, int *status, char **body_out, size_t *body_len,
		struct err *e);

/* Copies the counters into out. */
void google_client_metrics(struct google_client *gc, struct google_metrics *out);

/* The bucket in use (borrowed; lives as long as the client or the caller's shared bucket). */
struct google_ratelimit *google_client_ratelimit(struct google_client *gc);

/*
 * An overall deadline for the Google calls of one piece of work on the calling thread (an API
 * request: GWSYNC_GOOGLE_REQUEST_DEADLINE_MS), retries, token fetches and the OAuth token
 * endpoint included, whatever client or layer makes them:
 *
 *     struct google_deadline d;
 *     google_deadline_begin(&d, cfg->google_request_deadline_ms);
 *     rc = connect_verify(...);          // or google_call, a preview, a domain check
 *     google_deadline_end(&d);
 *
 * Inside the scope an exchange is sent only while time is left, each attempt's timeout is cut to
 * what is left, and a retry whose backoff would cross the deadline is not made: the call fails
 * with its last error, or E_TIMEOUT ("deadline passed") — callers map both to "Google
 * unreachable" (503 google-unreachable). Scopes nest (the earlier deadline wins); end them in
 * reverse order on the same thread. Jobs on the worker set none and keep the full retry policy.
 */
struct google_deadline {
	long long previous;
};
void google_deadline_begin(struct google_deadline *d, long ms);
void google_deadline_end(const struct google_deadline *d);
/* Milliseconds left of this thread's deadline (0 when passed); -1 when none is set. */
long google_deadline_left_ms(void);

/* Method name → enum (GOOGLE_METHOD_N when unknown) and outcome → "ok", "client_error", … */
enum google_method google_method_index(const char *method);
const char *google_outcome_name(enum google_outcome o);

#endif
