/*
 * The CivetWeb adapter: the only file that includes civetweb.h. It turns each request into a
 * struct api_request, finds the route, checks the API key, runs the handler and writes the
 * response, then counts and logs it.
 */
#include <civetweb.h>
#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "clock.h"
#include "crypto.h"
#include "log.h"

#define ROUTE_NAME_MAX 96
/* A probe that has not sent its request within this long is not a probe. */
#define HEALTH_REQUEST_TIMEOUT_MS 2000

struct api_server {
	struct mg_context *mg;
	struct mg_context *health_mg; /* the health listener (GWSYNC_HEALTH_LISTEN), or NULL */
	int health_port;
	atomic_int inflight;
	atomic_int draining;
	struct api_ctx ctx;
	char (*route_names)[ROUTE_NAME_MAX];
	const char **route_name_ptrs;
	int port;
};

/* Accepts a caller's request id when it is short and plain, so it can be logged safely. */
static int req_id_acceptable(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 128)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
			return 0;
	}
	return 1;
}

static void send_response(struct mg_connection *conn, const struct api_request *rq,
			  const struct api_response *rs, int close_after)
{
	char head[2048];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "X-Request-Id: %s\r\n"
			 "Cache-Control: no-store\r\n"
			 "X-Content-Type-Options: nosniff\r\n",
			 rs->status, mg_get_response_code_text(conn, rs->status),
			 rs->content_type ? rs->content_type : "application/json", rs->len,
			 rq->req_id);
	if (rs->location[0])
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Location: %s\r\n", rs->location);
	if (rs->redirect && strlen(rs->redirect) < sizeof(head) - (size_t)n - 256)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Location: %s\r\n", rs->redirect);
	if (rs->etag[0])
		n += snprintf(head + n, sizeof(head) - (size_t)n, "ETag: %s\r\n", rs->etag);
	if (rs->replayed)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Idempotent-Replayed: true\r\n");
	if (rs->allow[0])
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Allow: %s\r\n", rs->allow);
	if (rs->www_authenticate)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "WWW-Authenticate: Bearer realm=\"gwsync\"\r\n");
	if (close_after)
		n += snprintf(head + n, sizeof(head) - (size_t)n, "Connection: close\r\n");
	n += snprintf(head + n, sizeof(head) - (size_t)n, "\r\n");
	size_t body = strcmp(rq->method, "HEAD") != 0 ? rs->len : 0;
	const char *content = rs->cached ? rs->cached->body : rs->body;
	/*
	 * One write for head and body, even when that means copying a large cached answer: a head
	 * sent apart wakes the client once more per answer, which costs more than the copy.
	 */
	char *whole = body ? malloc((size_t)n + body) : NULL;
	if (whole) {
		memcpy(whole, head, (size_t)n);
		memcpy(whole + n, content, body);
		mg_write(conn, whole, (size_t)n + body);
		free(whole);
		return;
	}
	mg_write(conn, head, (size_t)n);
	if (body)
		mg_write(conn, content, body);
}

enum body_outcome {
	BODY_OK,
	BODY_TOO_LARGE, /* more than max bytes */
	BODY_TIMEOUT,	/* not all of it arrived before the deadline */
	BODY_BROKEN,	/* the client closed the connection before its end, or a read failed */
};

/*
 * A read asks CivetWeb for at most this much: it returns only once it has all it was asked for or
 * the socket stayed silent for the request timeout, so small pieces let the one deadline of the
 * body be checked between them.
 */
#define BODY_PIECE 4096

/*
 * Reads the whole body, at most max bytes, by one deadline (timeout_ms from now). A body shorter
 * than its Content-Length is never returned: CivetWeb's mg_read answers 0 both at the end of the
 * body and when the socket stayed silent, so only the count tells a whole body from a cut one.
 */
static enum body_outcome read_body(struct mg_connection *conn, long long content_length, size_t max,
				long timeout_ms, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (content_length > (long long)max)
		return BODY_TOO_LARGE;
	long long deadline = clock_monotonic_ms() + timeout_ms;
	size_t cap = content_length >= 0 ? (size_t)content_length + 1 : 4096;
	char *buf = malloc(cap);
	if (!buf)
		return BODY_BROKEN;
	size_t got = 0;
	enum body_outcome res = BODY_OK;
	for (;;) {
		if (content_length >= 0 && got == (size_t)content_length)
			break;
		if (got > max) {
			res = BODY_TOO_LARGE;
			break;
		}
		if (clock_monotonic_ms() >= deadline) {
			res = BODY_TIMEOUT;
			break;
		}
		if (got + 1 >= cap) { /* chunked: grow up to max + 1, enough to tell it is too large */
			size_t ncap = cap * 2 > max + 2 ? max + 2 : cap * 2;
			char *grown = realloc(buf, ncap);
			if (!grown) {
				res = BODY_BROKEN;
				break;
			}
			buf = grown;
			cap = ncap;
		}
		size_t want = cap - 1 - got < BODY_PIECE ? cap - 1 - got : BODY_PIECE;
		int r = mg_read(conn, buf + got, want);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		/*
		 * 0 ends a chunked body, unless it came with the deadline (a timed-out read ends the
		 * same way); anything else short of the Content-Length is a body cut off.
		 */
		if (r == 0 && content_length < 0 && clock_monotonic_ms() < deadline)
			break;
		res = clock_monotonic_ms() >= deadline ? BODY_TIMEOUT : BODY_BROKEN;
		break;
	}
	/* A read that kept getting bytes may have run past the deadline: the body came too late. */
	if (res == BODY_OK && clock_monotonic_ms() >= deadline)
		res = BODY_TIMEOUT;
	if (res != BODY_OK) {
		crypto_wipe(buf, got);
		free(buf);
		return res;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return BODY_OK;
}

/*
 * Reads and drops what is left of a refused chunked body (up to a bound), so the client gets to
 * read our answer instead of a connection reset.
 */
static void drain_body(struct mg_connection *conn, size_t max)
{
	char scratch[4096];
	size_t dropped = 0;
	while (dropped < max) {
		int r = mg_read(conn, scratch, sizeof(scratch));
		if (r <= 0)
			return;
		dropped += (size_t)r;
	}
}

/* 1 when s is 1 to 18 digits and nothing else (RFC 9112 Content-Length = 1*DIGIT). */
static int content_length_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n >= 1 && n <= 18 && s[n] == '\0';
}

/*
 * RFC 9112 §6.1 and §6.3: a request whose body's length cannot be told for sure (Content-Length
 * values that differ or are not a number, Transfer-Encoding beside Content-Length, or a transfer
 * coding other than chunked) cannot be framed, and reading it one way while a proxy reads it
 * another is request smuggling. CivetWeb takes the first Content-Length and prefers it to
 * Transfer-Encoding, so they are checked here, before anything is read. Answers 400 and returns -1.
 */
static int check_framing(const struct mg_request_info *ri, struct api_response *rs)
{
	const char *length = NULL, *coding = NULL, *why = NULL;
	int codings = 0;
	for (int i = 0; i < ri->num_headers && !why; i++) {
		const char *name = ri->http_headers[i].name, *value = ri->http_headers[i].value;
		if (!name || !value)
			continue;
		if (strcasecmp(name, "Content-Length") == 0) {
			if (!content_length_valid(value))
				why = "Content-Length must be a number (digits only)";
			else if (length && strtoll(length, NULL, 10) != strtoll(value, NULL, 10))
				why = "the request has Content-Length headers that differ";
			length = value;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			coding = value;
			codings++;
		}
	}
	if (!why && coding && length)
		why = "a request may have Transfer-Encoding or Content-Length, not both";
	else if (!why && coding && (codings > 1 || strcasecmp(coding, "chunked") != 0))
		why = "the only Transfer-Encoding accepted is chunked";
	if (!why)
		return 0;
	api_reply_error(rs, 400, "bad-request", "Bad request", "%s", why);
	return -1;
}

/* Whether the request announces a body (Content-Length above 0, or chunked). */
static int request_has_body(struct mg_connection *conn, const struct mg_request_info *ri)
{
	return ri->content_length > 0 ||
	       (ri->content_length < 0 && mg_get_header(conn, "Transfer-Encoding") != NULL);
}

/* Answers 401/403/503 itself and returns -1 unless the caller's key allows the route. */
static int authenticate(struct mg_connection *conn, struct api_request *rq,
			struct api_response *rs, enum access_role min_role)
{
	const char *auth = mg_get_header(conn, "Authorization");
	const char *key = NULL;
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		key = auth + 7;
		while (*key == ' ')
			key++;
	}
	if (!key || !api_key_well_formed(key)) {
		rs->www_authenticate = true;
		api_reply_error(rs, 401, "unauthorized", "Unauthorized",
				key ? "the API key is not valid"
				    : "send an API key as Authorization: Bearer <key>");
		return -1;
	}
	char hash[65];
	struct store_api_key k;
	struct err e = {0};
	if (api_key_hash(key, hash)) {
		api_reply_error(rs, 500, "internal", "Internal error", "hashing failed");
		return -1;
	}
	/*
	 * Only a database check fills the cache: a hit must not extend the entry, or a key revoked
	 * through another replica would keep working here for as long as it is used. The check
	 * also moves last_used_at, so a busy key still shows it is in use.
	 */
	int rc = E_OK;
	if (!auth_cache_get(rq->ctx->auth_cache, hash, &k)) {
		rc = store_api_key_authenticate(rq->ctx->st, hash, &k, &e);
		if (rc == E_OK)
			auth_cache_put(rq->ctx->auth_cache, hash, &k);
	}
	if (rc == E_NOTFOUND) {
		rs->www_authenticate = true;
		api_reply_error(rs, 401, "unauthorized", "Unauthorized",
				"the API key is not valid");
		return -1;
	}
	if (rc) {
		log_write(LOG_WARN, "api", "auth_failed", e.msg, NULL, 0);
		api_reply_err(rs, &e);
		return -1;
	}
	memcpy(rq->who.key_id, k.id, sizeof(k.id));
	memcpy(rq->who.tenant_id, k.tenant_id, sizeof(k.tenant_id));
	rq->who.role = k.role;
	log_ctx_set_tenant(k.tenant_id);
	if (k.role < min_role) {
		api_reply_error(rs, 403, "forbidden", "Forbidden",
				"this needs the %s role; the key has %s",
				access_role_name(min_role), access_role_name(k.role));
		return -1;
	}
	return 0;
}

static int idempotency_key_valid(const char *k)
{
	size_t n = strlen(k);
	if (n == 0 || n > 255)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (k[i] < 0x21 || k[i] > 0x7e)
			return 0;
	}
	return 1;
}

/*
 * Runs the handler, honouring Idempotency-Key on POST: the first request with a key runs and its
 * successful answer is kept for 24 hours; a repeat with the same request gets that answer again,
 * one with another request 422, one while the first still runs 409.
 */
static void run_handler(const struct api_route *r, struct api_request *rq,
			struct api_response *rs)
{
	const char *key = rq->idempotency_key;
	if (!key || strcmp(rq->method, "POST") != 0 || !rq->who.tenant_id[0]) {
		r->handler(rq, rs);
		return;
	}
	if (r->flags & ROUTE_NO_REPLAY) {
		api_reply_error(rs, 400, "idempotency-unsupported", "Idempotency-Key not supported",
				"this request or its answer carries a secret, which is never kept "
				"for replays; send it without Idempotency-Key (it is safe to repeat)");
		return;
	}
	if (!idempotency_key_valid(key)) {
		struct problem p;
		problem_set(&p, 400, "validation", "Invalid request", "Idempotency-Key is invalid");
		problem_add_error(&p, "/header/Idempotency-Key",
				  "must be 1 to 255 visible ASCII characters");
		api_reply_problem(rs, &p, NULL);
		return;
	}
	size_t cap = strlen(rq->path) + (rq->query ? strlen(rq->query) : 0) + rq->body_len + 8;
	char *material = malloc(cap);
	char hash[65];
	if (!material) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	int n = snprintf(material, cap, "%s?%s\n", rq->path, rq->query ? rq->query : "");
	memcpy(material + n, rq->body, rq->body_len);
	int hashed = crypto_sha256_hex(material, (size_t)n + rq->body_len, hash);
	crypto_wipe(material, (size_t)n + rq->body_len);
	free(material);
	if (hashed) {
		api_reply_error(rs, 500, "internal", "Internal error", "hashing failed");
		return;
	}

	struct store_idem idem;
	struct err e = {0};
	if (store_idempotency_begin(rq->ctx->st, rq->who.tenant_id, key, hash, &idem, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	switch (idem.state) {
	case STORE_IDEM_REPLAY:
		rs->status = idem.status;
		rs->body = idem.body;
		rs->len = strlen(idem.body);
		rs->content_type = "application/json";
		snprintf(rs->location, sizeof(rs->location), "%s", idem.location);
		rs->replayed = true;
		return;
	case STORE_IDEM_MISMATCH:
		api_reply_error(rs, 422, "idempotency-key-reused", "Idempotency-Key reused",
				"this Idempotency-Key was used for a different request in the last "
				"24 hours");
		return;
	case STORE_IDEM_IN_PROGRESS:
		api_reply_error(rs, 409, "idempotency-key-in-use", "Idempotency-Key in use",
				"a request with this Idempotency-Key is still running; retry later");
		return;
	case STORE_IDEM_NEW:
		break;
	}
	r->handler(rq, rs);
	int kept;
	if (rs->status >= 200 && rs->status < 300)
		kept = store_idempotency_finish(rq->ctx->st, rq->who.tenant_id, key, rs->status,
						rs->body ? rs->body : "", rs->location, &e);
	else
		kept = store_idempotency_forget(rq->ctx->st, rq->who.tenant_id, key, &e);
	if (kept)
		log_write(LOG_WARN, "api", "idempotency_store_failed", e.msg, NULL, 0);
}

#define CACHE_KEY_MAX 2048

/*
 * Runs the route, through the read cache for the cacheable GETs. Any other request of a tenant
 * drops the tenant's cached answers once it has run: what it changed is committed by then, so the
 * caller's next read sees it.
 */
static void serve(const struct api_route *r, struct api_request *rq, struct api_response *rs)
{
	struct read_cache *cache = rq->ctx->read_cache;
	const char *tenant = rq->who.tenant_id;
	char key[CACHE_KEY_MAX];
	int n = 0;
	if (!(r->flags & ROUTE_CACHED) || !tenant[0] ||
	    (n = snprintf(key, sizeof(key), "%s?%s", rq->path, rq->query ? rq->query : "")) < 0 ||
	    (size_t)n >= sizeof(key)) {
		run_handler(r, rq, rs);
		if (tenant[0] && strcmp(rq->method, "GET") != 0)
			read_cache_invalidate(cache, tenant);
		return;
	}
	struct read_cache_ticket t;
	rs->cached = read_cache_get(cache, tenant, key, &t);
	if (rs->cached) {
		rs->status = 200;
		rs->len = rs->cached->len;
		rs->content_type = "application/json";
		snprintf(rs->etag, sizeof(rs->etag), "%s", rs->cached->etag);
		return;
	}
	run_handler(r, rq, rs);
	bool keep = rs->status == 200 && rs->body && rs->content_type &&
		    strcmp(rs->content_type, "application/json") == 0;
	read_cache_put(cache, &t, tenant, key, keep ? rs->body : NULL, rs->len, rs->etag);
}

/*
 * If-Match for every route in one place, so no handler can forget it: malformed is a 400 on any
 * route; on a route that does not take it (no ROUTE_IF_MATCH: its resource has no ETag to
 * compare) a 400 too, as ignoring it would carry out a change the client made conditional.
 * Checked from the headers, like the key, before the body is read.
 */
static int if_match_check(const struct api_route *r, struct api_request *rq,
			  struct api_response *rs)
{
	if (api_if_match(rq, rs, &rq->if_version))
		return -1;
	if (!rq->if_match || (r->flags & ROUTE_IF_MATCH))
		return 0;
	struct problem p;
	problem_set(&p, 400, "validation", "Invalid request",
		    "header If-Match is not taken by %s %s", r->r.method, r->r.pattern);
	problem_add_error(&p, "/header/If-Match",
			  "is not taken here: this operation compares no ETag");
	api_reply_problem(rs, &p, NULL);
	return -1;
}

/* 1 when path is one of the ROUTE_HEALTH routes (they have no parameters). */
static int health_path(const char *path)
{
	for (size_t i = 0; i < api_routes_count; i++)
		if ((api_routes[i].flags & ROUTE_HEALTH) && strcmp(api_routes[i].r.pattern, path) == 0)
			return 1;
	return 0;
}

/*
 * Serves one request. On the health listener (health_only) only the ROUTE_HEALTH routes exist:
 * its own few threads must never be held by the API's clients.
 */
static int handle_request(struct mg_connection *conn, int health_only)
{
	double t0 = (double)clock_monotonic_us() / 1e6;
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct api_server *srv = ri->user_data;

	char req_id[129];
	const char *given = mg_get_header(conn, "X-Request-Id");
	if (req_id_acceptable(given))
		snprintf(req_id, sizeof(req_id), "%s", given);
	else if (crypto_random_hex(req_id, 16))
		snprintf(req_id, sizeof(req_id), "unknown");
	log_ctx_set_request(req_id);

	struct api_request rq = {
		.ctx = &srv->ctx,
		.method = ri->request_method,
		.path = ri->local_uri ? ri->local_uri : "/",
		.query = ri->query_string,
		.req_id = req_id,
		.content_type = mg_get_header(conn, "Content-Type"),
		.if_match = mg_get_header(conn, "If-Match"),
		.if_version = -1,
		.idempotency_key = mg_get_header(conn, "Idempotency-Key"),
		.body = "",
	};
	struct api_response rs = {0};
	size_t route = (size_t)-1;
	int close_after = 0, body_read = 0;
	char *body = NULL;
	size_t max_body = (size_t)srv->ctx.cfg->http_max_body_bytes;

	atomic_fetch_add(&srv->inflight, 1);
	enum router_result found = ROUTER_NO_PATH;
	if (atomic_load(&srv->draining)) {
		/* Stopping: requests that arrive now go elsewhere; those already running finish. */
		api_reply_error(&rs, 503, "unavailable", "Service unavailable",
				"the server is shutting down; retry");
		close_after = 1;
		goto respond;
	}
	if (check_framing(ri, &rs)) {
		close_after = 1;
		goto respond;
	}
	found = router_find(api_routes, api_routes_count, sizeof(api_routes[0]),
					       rq.method, rq.path, &route, &rq.params, rs.allow,
					       sizeof(rs.allow));
	if (health_only && found != ROUTER_NO_PATH && !health_path(rq.path)) {
		found = ROUTER_NO_PATH;
		route = (size_t)-1;
	}
	if (found == ROUTER_NO_PATH) {
		api_reply_error(&rs, 404, "not-found", "Not found", "no resource at %s", rq.path);
	} else if (found == ROUTER_NO_METHOD) {
		api_reply_error(&rs, 405, "method-not-allowed", "Method not allowed",
				"%s is not allowed on %s", rq.method, rq.path);
		route = (size_t)-1;
	} else {
		const struct api_route *r = &api_routes[route];
		rs.allow[0] = '\0';
		/*
		 * The key and role come from the headers: a request they refuse is answered before a
		 * byte of its body is read, so anonymous clients cannot make the threads read bodies.
		 */
		if (r->min_role != ACCESS_NONE && authenticate(conn, &rq, &rs, r->min_role) != 0)
			goto respond;
		if (if_match_check(r, &rq, &rs))
			goto respond;
		long timeout_ms = health_only ? HEALTH_REQUEST_TIMEOUT_MS
					      : srv->ctx.cfg->http_request_timeout_ms;
		enum body_outcome br =
			read_body(conn, ri->content_length, max_body, timeout_ms, &body, &rq.body_len);
		if (br == BODY_TOO_LARGE) {
			/*
			 * A Content-Length above the limit is answered from the head, before a byte
			 * is read (the close drops the rest); a chunked body has shown it by now.
			 */
			if (ri->content_length < 0)
				drain_body(conn, 4 * max_body);
			api_reply_error(&rs, 413, "payload-too-large", "Payload too large",
					"the body exceeds %d bytes",
					srv->ctx.cfg->http_max_body_bytes);
		} else if (br == BODY_TIMEOUT) {
			api_reply_error(&rs, 408, "request-timeout", "Request timeout",
					"the body did not arrive within %ld ms", timeout_ms);
		} else if (br == BODY_BROKEN) {
			api_reply_error(&rs, 400, "bad-request", "Bad request",
					"the body ended before its announced length");
		} else {
			rq.body = body;
			body_read = 1;
			/*
			 * Every body is JSON (415 otherwise, whatever the route does with it), and a
			 * route that takes none refuses one instead of ignoring it.
			 */
			int no_body = (r->flags & ROUTE_NO_BODY) || strcmp(rq.method, "GET") == 0 ||
				      strcmp(rq.method, "HEAD") == 0 ||
				      strcmp(rq.method, "DELETE") == 0;
			if (rq.body_len && !api_media_type_ok(rq.content_type))
				api_reply_error(&rs, 415, "unsupported-media-type",
						"Unsupported media type",
						"send the body as application/json (charset utf-8, "
						"if any)");
			else if (!no_body || !api_body_none(&rq, &rs))
				serve(r, &rq, &rs);
		}
	}
respond:
	/* What is left of a body we did not read stays unread: the connection closes after this. */
	if (!body_read && request_has_body(conn, ri))
		close_after = 1;
	if (!rs.status)
		api_reply_error(&rs, 500, "internal", "Internal error", "no response");

	send_response(conn, &rq, &rs, close_after);

	double dur = (double)clock_monotonic_us() / 1e6 - t0;
	api_metrics_observe(srv->ctx.metrics, route, rs.status, dur);
	struct log_field fields[] = {
		LOG_STR("method", rq.method),
		LOG_STR("path", rq.path),
		LOG_STR("route", route != (size_t)-1 ? api_routes[route].r.pattern : NULL),
		LOG_NUM("status", rs.status),
		LOG_NUM("dur_us", (long long)(dur * 1e6)),
	};
	log_write(rs.status >= 500 ? LOG_WARN : LOG_INFO, "http", "http_request", NULL, fields,
		  sizeof(fields) / sizeof(fields[0]));
	log_ctx_clear();
	/* A body may have held a password: wipe it before the allocator reuses the memory. */
	if (body)
		crypto_wipe(body, rq.body_len);
	free(body);
	free(rs.body);
	read_cache_release(rs.cached);
	free(rs.redirect);
	atomic_fetch_sub(&srv->inflight, 1);
	/*
	 * A status (1..999) tells CivetWeb the request is answered; it then reads and drops the rest
	 * of the body to keep the connection. A negative value makes it return without reading, and
	 * as the body was not consumed it closes the connection instead of keeping it alive.
	 */
	return close_after && !body_read ? -1 : rs.status;
}

static int begin_request(struct mg_connection *conn)
{
	return handle_request(conn, 0);
}

static int begin_health_request(struct mg_connection *conn)
{
	return handle_request(conn, 1);
}

static int log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	log_write(LOG_WARN, "http", "civetweb", message, NULL, 0);
	return 1;
}

/*
 * When each CivetWeb worker thread began waiting for the request head it is reading, so a head
 * that never ends can be told from one that is malformed: CivetWeb reports both as 400
 * "Malformed message" and says nothing else. It waits request_timeout_ms for a connection's first
 * head and keep_alive_timeout_ms for the next ones, counted from about when these marks are set
 * (a new connection; the end of the previous request), so a head refused no earlier than that
 * after its mark timed out. One per worker thread (init_thread), touched only by that thread.
 */
struct head_clock {
	long long since_ms;
	long first_ms, next_ms; /* the context's request_timeout_ms and keep_alive_timeout_ms */
	int kept_alive;
};

static void *thread_start(const struct mg_context *mg, int thread_type)
{
	if (thread_type != 1) /* 1: a worker thread; others read no request */
		return NULL;
	struct head_clock *hc = calloc(1, sizeof(*hc));
	if (hc) {
		hc->first_ms = atol(mg_get_option(mg, "request_timeout_ms"));
		hc->next_ms = atol(mg_get_option(mg, "keep_alive_timeout_ms"));
	}
	return hc; /* NULL (out of memory): timeouts are reported as 400, as CivetWeb does */
}

static void thread_stop(const struct mg_context *mg, int thread_type, void *thread_pointer)
{
	(void)mg;
	(void)thread_type;
	free(thread_pointer);
}

static int connection_start(const struct mg_connection *conn, void **conn_data)
{
	(void)conn_data;
	struct head_clock *hc = mg_get_thread_pointer(conn);
	if (hc) {
		hc->since_ms = clock_monotonic_ms();
		hc->kept_alive = 0;
	}
	return 0;
}

static void request_end(const struct mg_connection *conn, int status)
{
	(void)status;
	struct head_clock *hc = mg_get_thread_pointer(conn);
	if (hc) {
		hc->since_ms = clock_monotonic_ms();
		hc->kept_alive = 1;
	}
}

/* The head CivetWeb refused as malformed was still incomplete when its time ran out. */
static long head_timed_out(const struct mg_connection *conn, int status, const char *errmsg)
{
	struct head_clock *hc = mg_get_thread_pointer(conn);
	if (!hc || status != 400 || !errmsg || strcmp(errmsg, "Malformed message") != 0)
		return 0;
	long limit = hc->kept_alive ? hc->next_ms : hc->first_ms;
	return limit > 0 && clock_monotonic_ms() - hc->since_ms >= limit ? limit : 0;
}

/*
 * Every error CivetWeb answers by itself (a request it cannot parse, a method it refuses such as
 * TRACE, a head too large, ...) goes through here, so clients get the same problem+json as from
 * the handlers. A method CivetWeb refuses on one of our paths is what it is to our router: 405
 * with Allow; on any other path 404. The connection closes: CivetWeb may not have read the head.
 */
static int http_error(struct mg_connection *conn, int status, const char *errmsg)
{
	const struct mg_request_info *ri = mg_get_request_info(conn);
	struct api_server *srv = ri ? ri->user_data : NULL;
	char req_id[33];
	if (crypto_random_hex(req_id, 16))
		snprintf(req_id, sizeof(req_id), "unknown");
	/* CivetWeb may refuse a request before it sets local_uri: take the path from the raw URI. */
	char path[1024] = "";
	const char *uri = ri ? (ri->local_uri ? ri->local_uri : ri->request_uri) : NULL;
	if (uri)
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(uri, "?"), uri);
	struct api_request rq = {
		.method = ri && ri->request_method ? ri->request_method : "",
		.path = path,
		.req_id = req_id,
	};
	struct api_response rs = {0};
	size_t route = (size_t)-1;
	struct router_match params = {0};
	enum router_result found = ROUTER_NO_PATH;
	if (status == 400 && rq.method[0] && rq.path[0] == '/')
		found = router_find(api_routes, api_routes_count, sizeof(api_routes[0]), rq.method,
				    rq.path, &route, &params, rs.allow, sizeof(rs.allow));
	long timeout_ms = head_timed_out(conn, status, errmsg);
	if (timeout_ms) {
		api_reply_error(&rs, 408, "request-timeout", "Request timeout",
				"the request head did not arrive within %ld ms", timeout_ms);
	} else if (found == ROUTER_NO_METHOD) {
		api_reply_error(&rs, 405, "method-not-allowed", "Method not allowed",
				"%s is not allowed on %s", rq.method, rq.path);
	} else if (status >= 500) {
		rs.allow[0] = '\0';
		api_reply_error(&rs, status <= 599 ? status : 500, "internal", "Internal error", "%s",
				errmsg && *errmsg ? errmsg : "internal error");
	} else {
		rs.allow[0] = '\0';
		api_reply_error(&rs, status >= 400 ? status : 400, "bad-request", "Bad request", "%s",
				errmsg && *errmsg ? errmsg : "malformed request");
	}
	send_response(conn, &rq, &rs, 1);
	struct log_field fields[] = {
		LOG_STR("method", rq.method),
		LOG_STR("path", rq.path),
		LOG_NUM("status", rs.status),
		LOG_STR("civetweb", errmsg),
	};
	log_write(LOG_INFO, "http", "http_request", NULL, fields, sizeof(fields) / sizeof(fields[0]));
	if (srv)
		api_metrics_observe(srv->ctx.metrics, (size_t)-1, rs.status, 0);
	free(rs.body);
	return 0;
}

/* The health listener's threads: probes and a scrape or two at a time, never the API's clients. */
#define HEALTH_THREADS "4"

/* Starts one CivetWeb listener; *port gets the port bound. NULL when it cannot listen. */
static struct mg_context *listener_start(struct api_server *srv, const char *listen,
					 const char *threads, int timeout_ms,
					 int (*begin)(struct mg_connection *), int *port)
{
	char timeout[16];
	snprintf(timeout, sizeof(timeout), "%d", timeout_ms);
	const char *options[] = {"listening_ports",
				 listen,
				 "num_threads",
				 threads,
				 "request_timeout_ms",
				 timeout,
				 "enable_keep_alive",
				 "yes",
				 "keep_alive_timeout_ms",
				 "5000",
				 "linger_timeout_ms",
				 "1000",
				 "tcp_nodelay",
				 "1",
				 /*
				  * The router percent-decodes each path segment once, after splitting the
				  * path at its slashes; CivetWeb decoding too would turn %2541 into A and
				  * an encoded slash into a separator.
				  */
				 "decode_url",
				 "no",
				 NULL};
	struct mg_callbacks cb = {0};
	cb.begin_request = begin;
	cb.log_message = log_message;
	cb.http_error = http_error;
	cb.init_thread = thread_start;
	cb.exit_thread = thread_stop;
	cb.init_connection = connection_start;
	cb.end_request = request_end;
	struct mg_context *mg = mg_start(&cb, srv, options);
	if (!mg)
		return NULL;
	struct mg_server_port ports[4];
	int n = mg_get_server_ports(mg, 4, ports);
	*port = n > 0 ? ports[0].port : 0;
	return mg;
}

static int server_new(const struct api_deps *deps, int with_api, struct api_server **out,
		      struct err *e)
{
	*out = NULL;
	struct api_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return err_set(e, E_NOMEM, "api server");
	srv->ctx.cfg = deps->cfg;
	srv->ctx.st = deps->st;
	srv->ctx.bp = deps->bp;
	srv->ctx.conn = deps->conn;
	srv->ctx.metrics_extra = deps->metrics_extra;
	srv->ctx.metrics_arg = deps->metrics_arg;
	srv->ctx.ready_check = deps->ready_check;
	srv->ctx.ready_arg = deps->ready_arg;
	srv->ctx.metrics = api_metrics_new(api_routes_count);
	srv->route_names = calloc(api_routes_count, sizeof(*srv->route_names));
	srv->route_name_ptrs = calloc(api_routes_count, sizeof(*srv->route_name_ptrs));
	if (with_api) {
		srv->ctx.auth_cache = auth_cache_new(deps->cfg->auth_cache_ttl_ms);
		srv->ctx.read_cache = read_cache_new((size_t)deps->cfg->read_cache_mb << 20,
						     deps->cfg->read_cache_max_age_ms);
	}
	if (!srv->ctx.metrics || !srv->route_names || !srv->route_name_ptrs ||
	    (with_api && (!srv->ctx.auth_cache || !srv->ctx.read_cache))) {
		api_server_stop(srv);
		return err_set(e, E_NOMEM, "api server");
	}
	for (size_t i = 0; i < api_routes_count; i++) {
		snprintf(srv->route_names[i], ROUTE_NAME_MAX, "%s %s", api_routes[i].r.method,
			 api_routes[i].r.pattern);
		srv->route_name_ptrs[i] = srv->route_names[i];
	}
	srv->ctx.metrics_route_names = srv->route_name_ptrs;
	if (with_api && deps->st && read_cache_start(srv->ctx.read_cache, deps->st, e)) {
		api_server_stop(srv);
		return e->code;
	}
	const char *health = deps->cfg->health_listen;
	if (health && *health) {
		srv->health_mg = listener_start(srv, health, HEALTH_THREADS,
						HEALTH_REQUEST_TIMEOUT_MS, begin_health_request,
						&srv->health_port);
		if (!srv->health_mg) {
			api_server_stop(srv);
			return err_set(e, E_UNAVAIL, "cannot listen on %s (GWSYNC_HEALTH_LISTEN)",
				       health);
		}
	}
	if (with_api) {
		char threads[16];
		snprintf(threads, sizeof(threads), "%d", deps->cfg->http_threads);
		srv->mg = listener_start(srv, deps->cfg->http_listen, threads,
					 deps->cfg->http_request_timeout_ms, begin_request,
					 &srv->port);
		if (!srv->mg) {
			api_server_stop(srv);
			return err_set(e, E_UNAVAIL, "cannot listen on %s", deps->cfg->http_listen);
		}
	}
	*out = srv;
	return E_OK;
}

int api_server_start(const struct api_deps *deps, struct api_server **out, struct err *e)
{
	return server_new(deps, 1, out, e);
}

int api_health_server_start(const struct api_deps *deps, struct api_server **out, struct err *e)
{
	if (!deps->cfg->health_listen || !*deps->cfg->health_listen) {
		*out = NULL;
		return err_set(e, E_INVAL, "GWSYNC_HEALTH_LISTEN is not set");
	}
	return server_new(deps, 0, out, e);
}

int api_server_port(const struct api_server *srv)
{
	return srv->port;
}

int api_server_health_port(const struct api_server *srv)
{
	return srv->health_port;
}

void api_server_drain(struct api_server *srv, int timeout_ms)
{
	atomic_store(&srv->draining, 1);
	struct timespec tick = {0, 10 * 1000000L};
	for (int waited = 0; waited < timeout_ms && atomic_load(&srv->inflight) > 0; waited += 10)
		nanosleep(&tick, NULL);
}

void api_server_stop(struct api_server *srv)
{
	if (!srv)
		return;
	if (srv->mg)
		mg_stop(srv->mg);
	if (srv->health_mg)
		mg_stop(srv->health_mg);
	api_metrics_free(srv->ctx.metrics);
	auth_cache_free(srv->ctx.auth_cache);
	read_cache_free(srv->ctx.read_cache);
	free(srv->route_names);
	free(srv->route_name_ptrs);
	free(srv);
}

void api_routes_print(void)
{
	for (size_t i = 0; i < api_routes_count; i++)
		printf("%s %s\n", api_routes[i].r.method, api_routes[i].r.pattern);
}
