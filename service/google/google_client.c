#include "google_client.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "crypto.h"
#include "google_error.h"
#include "google_int.h"
#include "log.h"

#define POOL_MAX 16
#define PAGE_TOKEN_MAX 1024
#define LIST_MAX_PAGES 1000000
#define JSON_MAX_DEPTH 64

const long google_latency_bounds_ms[GOOGLE_LATENCY_BUCKETS - 1] = {25,	 50,   100,  250,  500,
								   1000, 2500, 5000, 10000};

struct google_client {
	char *api_base;
	char *user_agent;
	char *ca_file;
	struct httpc_options http;
	struct google_retry_policy retry;
	struct google_ratelimit *rl;
	int own_rl;
	google_token_fn token;
	void *token_ctx;
	google_sleep_fn sleep;
	void *sleep_ctx;

	pthread_mutex_t mu; /* pool and metrics */
	struct httpc *pool[POOL_MAX];
	size_t n_pool;
	struct google_metrics m;
};

enum google_method google_method_index(const char *method)
{
	static const char *const names[GOOGLE_METHOD_N] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
	for (int i = 0; i < GOOGLE_METHOD_N; i++) {
		if (method && strcmp(method, names[i]) == 0)
			return (enum google_method)i;
	}
	return GOOGLE_METHOD_N;
}

const char *google_outcome_name(enum google_outcome o)
{
	static const char *const names[GOOGLE_OUTCOME_N] = {"ok",	    "client_error",
							    "auth_error",   "rate_limited",
							    "server_error", "transport_error"};
	return o < GOOGLE_OUTCOME_N ? names[o] : "unknown";
}

int google_client_new(const struct google_client_options *o, struct google_client **out,
		      struct err *e)
{
	*out = NULL;
	if (!o || !o->token)
		return err_set(e, E_INVAL, "google client: a token callback is required");
	const char *base = o->api_base && *o->api_base ? o->api_base : GOOGLE_DEFAULT_API_BASE;
	struct google_client *gc = calloc(1, sizeof(*gc));
	if (!gc)
		return err_set(e, E_NOMEM, "google client");
	if (pthread_mutex_init(&gc->mu, NULL)) {
		free(gc);
		return err_set(e, E_NOMEM, "google client");
	}
	gc->api_base = strdup(base);
	gc->user_agent = o->user_agent ? strdup(o->user_agent) : NULL;
	gc->ca_file = o->ca_file ? strdup(o->ca_file) : NULL;
	if (!gc->api_base || (o->user_agent && !gc->user_agent) || (o->ca_file && !gc->ca_file)) {
		google_client_free(gc);
		return err_set(e, E_NOMEM, "google client");
	}
	size_t n = strlen(gc->api_base);
	while (n && gc->api_base[n - 1] == '/')
		gc->api_base[--n] = '\0';
	gc->http = (struct httpc_options){.connect_timeout_ms = o->connect_timeout_ms,
					  .timeout_ms = o->timeout_ms,
					  .max_body_bytes = o->max_body_bytes,
					  .allow_http = o->allow_http,
					  .user_agent = gc->user_agent,
					  .ca_file = gc->ca_file};
	gc->retry = google_retry_resolve(&o->retry);
	gc->token = o->token;
	gc->token_ctx = o->token_ctx;
	gc->sleep = o->sleep ? o->sleep : google_sleep_ms;
	gc->sleep_ctx = o->sleep_ctx;
	gc->rl = o->ratelimit;
	if (!gc->rl) {
		int rc = google_ratelimit_new(&o->ratelimit_options, &gc->rl, e);
		if (rc) {
			google_client_free(gc);
			return rc;
		}
		gc->own_rl = 1;
	}
	*out = gc;
	return E_OK;
}

void google_client_free(struct google_client *gc)
{
	if (!gc)
		return;
	for (size_t i = 0; i < gc->n_pool; i++)
		httpc_free(gc->pool[i]);
	if (gc->own_rl)
		google_ratelimit_free(gc->rl);
	pthread_mutex_destroy(&gc->mu);
	free(gc->api_base);
	free(gc->user_agent);
	free(gc->ca_file);
	free(gc);
}

static int pool_get(struct google_client *gc, struct httpc **out, struct err *e)
{
	pthread_mutex_lock(&gc->mu);
	*out = gc->n_pool ? gc->pool[--gc->n_pool] : NULL;
	pthread_mutex_unlock(&gc->mu);
	return *out ? E_OK : httpc_new(&gc->http, out, e);
}

static void pool_put(struct google_client *gc, struct httpc *h)
{
	if (!h)
		return;
	pthread_mutex_lock(&gc->mu);
	if (gc->n_pool < POOL_MAX) {
		gc->pool[gc->n_pool++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&gc->mu);
	httpc_free(h);
}

void google_client_metrics(struct google_client *gc, struct google_metrics *out)
{
	pthread_mutex_lock(&gc->mu);
	*out = gc->m;
	pthread_mutex_unlock(&gc->mu);
}

struct google_ratelimit *google_client_ratelimit(struct google_client *gc)
{
	return gc->rl;
}

const struct google_retry_policy *google_client_retry_policy(const struct google_client *gc)
{
	return &gc->retry;
}

void google_deadline_begin(struct google_deadline *d, long ms)
{
	long long until = clock_monotonic_ms() + ms;
	long long current = httpc_deadline_get();
	d->previous = httpc_deadline_set(current && current < until ? current : until);
}

void google_deadline_end(const struct google_deadline *d)
{
	httpc_deadline_set(d->previous);
}

long google_deadline_left_ms(void)
{
	long long until = httpc_deadline_get();
	if (!until)
		return -1;
	long long left = until - clock_monotonic_ms();
	return left > 0 ? (long)left : 0;
}

void google_client_sleep(struct google_client *gc, long ms)
{
	if (ms > 0)
		gc->sleep(gc->sleep_ctx, ms);
}

long long google_client_now_ms(struct google_client *gc)
{
	(void)gc;
	return google_clock_monotonic_ms(NULL);
}

void google_client_count_batch(struct google_client *gc, size_t parts, int rate_limited)
{
	pthread_mutex_lock(&gc->mu);
	gc->m.batch_parts += parts;
	if (rate_limited)
		gc->m.ratelimit_cuts++;
	pthread_mutex_unlock(&gc->mu);
}

static void count_attempt(struct google_client *gc, const char *method, enum google_outcome oc,
			  long latency_ms, int has_latency)
{
	enum google_method mi = google_method_index(method);
	pthread_mutex_lock(&gc->mu);
	if (mi < GOOGLE_METHOD_N)
		gc->m.requests[mi][oc]++;
	if (has_latency) {
		size_t b = 0;
		while (b < GOOGLE_LATENCY_BUCKETS - 1 && latency_ms > google_latency_bounds_ms[b])
			b++;
		gc->m.latency_buckets[b]++;
		gc->m.latency_count++;
		gc->m.latency_sum_ms += (unsigned long long)(latency_ms > 0 ? latency_ms : 0);
	}
	pthread_mutex_unlock(&gc->mu);
}

static enum google_outcome outcome_of(const struct google_error *ge)
{
	if (ge->status == 401)
		return GOOGLE_AUTH_ERROR;
	if (ge->rate_limited)
		return GOOGLE_RATE_LIMITED;
	/* A 2xx that is not what the call expects is Google's fault, like a 5xx. */
	if (ge->retryable || ge->status >= 500 || (ge->status >= 200 && ge->status < 300))
		return GOOGLE_SERVER_ERROR;
	return GOOGLE_CLIENT_ERROR;
}

/* Path without its query, for log lines (a page token or a search is not for logs). */
static void log_retry(const struct google_exchange *x, int status, const char *reason, int attempt,
		      long delay_ms)
{
	char path[160];
	size_t n = strcspn(x->path, "?");
	snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1),
		 x->path);
	struct log_field f[] = {LOG_STR("method", x->method), LOG_STR("path", path),
				LOG_NUM("status", status),    LOG_STR("reason", reason),
				LOG_NUM("attempt", attempt),  LOG_NUM("delay_ms", delay_ms)};
	log_write(LOG_INFO, "google", "google_retry", "retrying a Google call", f,
		  sizeof(f) / sizeof(f[0]));
}

int google_send(struct google_client *gc, const struct google_exchange *x,
		struct httpc_response *resp, struct err *e)
{
	memset(resp, 0, sizeof(*resp));
	struct httpc *h = NULL;
	char *url = NULL;
	char token[GOOGLE_BEARER_MAX] = "";
	char auth[GOOGLE_BEARER_MAX + 32] = "";
	char ctype[160] = "";
	int rc = pool_get(gc, &h, e);
	if (rc)
		goto out;
	size_t url_len = strlen(gc->api_base) + strlen(x->path) + 1;
	url = malloc(url_len);
	if (!url) {
		rc = err_set(e, E_NOMEM, "google call");
		goto out;
	}
	snprintf(url, url_len, "%s%s", gc->api_base, x->path);
	if (x->body || x->content_type)
		snprintf(ctype, sizeof(ctype), "Content-Type: %s",
			 x->content_type ? x->content_type : "application/json; charset=UTF-8");

	long long start = google_client_now_ms(gc);
	long limited = 0; /* waits for the rate limit: not time spent retrying */
	int tries = 0, refreshed = 0, force = 0;
	for (;;) {
		long waited = google_ratelimit_acquire(gc->rl, x->cost ? x->cost : 1);
		if (waited > 0) {
			limited += waited;
			if (x->limited_ms)
				*x->limited_ms += waited;
			pthread_mutex_lock(&gc->mu);
			gc->m.ratelimit_waits++;
			gc->m.ratelimit_wait_ms += (unsigned long long)waited;
			pthread_mutex_unlock(&gc->mu);
		}
		rc = gc->token(gc->token_ctx, force, token, sizeof(token), e);
		if (rc)
			goto out;
		if (force) {
			pthread_mutex_lock(&gc->mu);
			gc->m.token_refreshes++;
			pthread_mutex_unlock(&gc->mu);
			force = 0;
		}
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		const char *headers[] = {auth, "Accept: application/json", ctype};
		struct httpc_request rq = {.method = x->method,
					   .url = url,
					   .headers = headers,
					   .n_headers = ctype[0] ? 3 : 2,
					   .body = x->body,
					   .body_len = x->body_len};
		tries++;
		rc = httpc_send(h, &rq, resp, e);
		crypto_wipe(auth, sizeof(auth));
		long retry_after_ms = -1;
		int status = 0;
		const char *reason = "";
		struct google_error ge;
		if (rc) {
			count_attempt(gc, x->method, GOOGLE_TRANSPORT_ERROR, 0, 0);
			/* A POST that timed out may have happened: the caller reconciles instead,
			 * unless sending it twice is harmless (x->idempotent). */
			int again = rc == E_UNAVAIL ||
				    (rc == E_TIMEOUT && (strcmp(x->method, "POST") || x->idempotent));
			if (!again)
				goto out;
			reason = err_code_name((enum err_code)rc);
		} else {
			status = (int)resp->status;
			int answered = status >= 200 && status < 300;
			/* An empty or non-JSON 2xx where JSON is due is a failure, never a success. */
			if (answered && !(x->expect_json && google_answer_check(status, resp->body,
										resp->body_len, &ge))) {
				count_attempt(gc, x->method, GOOGLE_OK, resp->elapsed_ms, 1);
				rc = E_OK;
				goto out;
			}
			if (!answered)
				google_error_classify(status, resp->body, resp->body_len, &ge);
			count_attempt(gc, x->method, outcome_of(&ge), resp->elapsed_ms, 1);
			const char *ra = httpc_response_header(resp, "Retry-After");
			if (ra && google_retry_after_parse(ra, time(NULL), &retry_after_ms))
				retry_after_ms = -1;
			httpc_response_cleanup(resp);
			rc = google_error_to_err(&ge, e);
			if (e && retry_after_ms >= 0)
				e->retry_after_s = (int)((retry_after_ms + 999) / 1000);
			if (ge.refresh_auth && !refreshed) {
				refreshed = 1;
				force = 1;
				tries--; /* the refresh retry is not a backoff attempt */
				continue;
			}
			if (ge.rate_limited) {
				google_ratelimit_on_limited(gc->rl);
				pthread_mutex_lock(&gc->mu);
				gc->m.ratelimit_cuts++;
				pthread_mutex_unlock(&gc->mu);
			}
			if (!ge.retryable)
				goto out;
			reason = ge.reason;
		}
		long delay = google_retry_delay_ms(&gc->retry, tries, retry_after_ms);
		long elapsed = (long)(google_client_now_ms(gc) - start) - limited;
		long left = google_deadline_left_ms();
		if (!google_retry_allowed(&gc->retry, tries, elapsed, delay) ||
		    (left >= 0 && delay >= left))
			goto out;
		log_retry(x, status, reason, tries, delay);
		pthread_mutex_lock(&gc->mu);
		gc->m.retries++;
		pthread_mutex_unlock(&gc->mu);
		google_client_sleep(gc, delay);
	}
out:
	crypto_wipe(token, sizeof(token));
	crypto_wipe(auth, sizeof(auth));
	pool_put(gc, h);
	free(url);
	if (rc)
		httpc_response_cleanup(resp);
	pthread_mutex_lock(&gc->mu);
	gc->m.calls++;
	if (rc)
		gc->m.calls_failed++;
	pthread_mutex_unlock(&gc->mu);
	return rc;
}

int google_call(struct google_client *gc, const char *method, const char *path_and_query,
		const char *json_body, int *status, char **body_out, size_t *body_len,
		struct err *e)
{
	struct httpc_response resp;
	struct google_exchange x = {.method = method,
				    .path = path_and_query,
				    .body = json_body,
				    .body_len = json_body ? strlen(json_body) : 0,
				    .expect_json = google_expects_json(method, path_and_query)};
	struct err local;
	if (!e)
		e = &local;
	err_clear(e);
	if (status)
		*status = 0;
	if (body_out)
		*body_out = NULL;
	if (body_len)
		*body_len = 0;
	if (google_method_index(method) == GOOGLE_METHOD_N || !path_and_query ||
	    path_and_query[0] != '/')
		return err_set(e, E_INVAL, "google call: bad method or path");
	int rc = google_send(gc, &x, &resp, e);
	if (status)
		*status = rc ? e->upstream_status : (int)resp.status;
	if (!rc && body_out) {
		*body_out = resp.body;
		if (body_len)
			*body_len = resp.body_len;
		resp.body = NULL;
		resp.body_len = 0;
	}
	httpc_response_cleanup(&resp);
	return rc;
}

int google_call_json(struct google_client *gc, const char *method, const char *path_and_query,
		     const char *json_body, int *status, struct json_object **out, struct err *e)
{
	char *body = NULL;
	size_t len = 0;
	*out = NULL;
	int rc = google_call(gc, method, path_and_query, json_body, status, &body, &len, e);
	if (rc || len == 0) {
		free(body);
		return rc;
	}
	struct json_tokener *tok = json_tokener_new_ex(JSON_MAX_DEPTH);
	if (!tok) {
		free(body);
		return err_set(e, E_NOMEM, "google answer");
	}
	struct json_object *jo = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(jo);
		jo = NULL;
		rc = err_set(e, E_UPSTREAM, "Google answered with a body that is not JSON");
		if (e)
			snprintf(e->reason, sizeof(e->reason), "%s", GOOGLE_REASON_INVALID_RESPONSE);
	}
	json_tokener_free(tok);
	free(body);
	*out = jo;
	return rc;
}

/* Appends "&name=<encoded value>" to a path being built. */
static int append_param(char **path, const char *name, const char *value, struct err *e)
{
	char *enc = NULL;
	int rc = httpc_urlencode(value, &enc, e);
	if (rc)
		return rc;
	size_t n = strlen(*path) + 1 + strlen(name) + 1 + strlen(enc) + 1;
	char *p = malloc(n);
	if (!p) {
		free(enc);
		return err_set(e, E_NOMEM, "list");
	}
	snprintf(p, n, "%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', name, enc);
	free(enc);
	free(*path);
	*path = p;
	return E_OK;
}

int google_list_pages(struct google_client *gc, const char *path_and_query, const char *items_key,
		      int max_results, const char *fields, google_page_fn fn, void *ctx,
		      struct err *e)
{
	char page_token[PAGE_TOKEN_MAX + 1] = "";
	char *proj = NULL;
	int rc = E_OK;
	if (fields && *fields && !strstr(fields, "nextPageToken")) {
		size_t n = strlen(fields) + sizeof("nextPageToken,");
		proj = malloc(n);
		if (!proj)
			return err_set(e, E_NOMEM, "list");
		snprintf(proj, n, "nextPageToken,%s", fields);
	}
	for (long page = 0; page < LIST_MAX_PAGES; page++) {
		char num[24];
		char *path = strdup(path_and_query);
		struct json_object *jo = NULL;
		if (!path) {
			rc = err_set(e, E_NOMEM, "list");
			break;
		}
		snprintf(num, sizeof(num), "%d", max_results);
		if (max_results > 0)
			rc = append_param(&path, "maxResults", num, e);
		if (!rc && fields && *fields)
			rc = append_param(&path, "fields", proj ? proj : fields, e);
		if (!rc && page_token[0])
			rc = append_param(&path, "pageToken", page_token, e);
		if (!rc)
			rc = google_call_json(gc, "GET", path, NULL, NULL, &jo, e);
		free(path);
		if (rc) {
			json_object_put(jo);
			break;
		}
		struct json_object *items = NULL, *next = NULL, *empty = NULL;
		if (!jo || !json_object_object_get_ex(jo, items_key, &items) ||
		    !json_object_is_type(items, json_type_array)) {
			empty = json_object_new_array();
			items = empty;
		}
		rc = items ? fn(ctx, items, e) : err_set(e, E_NOMEM, "list");
		json_object_put(empty);
		const char *tok = NULL;
		if (!rc && jo && json_object_object_get_ex(jo, "nextPageToken", &next) &&
		    json_object_is_type(next, json_type_string))
			tok = json_object_get_string(next);
		if (!rc && tok && *tok && strcmp(tok, page_token) == 0)
			rc = err_set(e, E_UPSTREAM, "list: Google repeated a page token");
		if (!rc && tok && *tok && strlen(tok) > PAGE_TOKEN_MAX)
			rc = err_set(e, E_UPSTREAM, "list: page token too long");
		int more = !rc && tok && *tok;
		if (more)
			snprintf(page_token, sizeof(page_token), "%s", tok);
		json_object_put(jo);
		if (!more)
			break;
	}
	free(proj);
	return rc;
}
