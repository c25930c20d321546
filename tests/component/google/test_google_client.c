/*
 * Component test of service/httpc, service/auth/oauth and service/google against a scripted HTTP
 * server started here on 127.0.0.1 (port chosen by the kernel). Each scripted path answers a
 * fixed sequence (429 with Retry-After then 200, 503 twice then 200, ...) and the server counts
 * the requests it got, so the tests assert attempt counts exactly.
 *
 * Later the same cases run against tests/emulator's fault injection; this file does not need it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "google_batch.h"
#include "google_client.h"
#include "google_int.h"
#include "httpc.h"
#include "oauth.h"

/* ---- a tiny scripted HTTP/1.1 server (keep-alive, Content-Length bodies) ---- */

#define MAX_PATHS 64
#define MAX_CONN_THREADS 64
#define PATH_CAP 1024 /* a request's path; a counter holds any of them whole */

struct counter {
	char path[PATH_CAP];
	int n;
};

static struct {
	int fd;
	int port;
	pthread_t acceptor;
	pthread_mutex_t mu;
	struct counter counts[MAX_PATHS];
	int connections;
	int token_mode; /* 0 ok, 1 unauthorized_client, 2 invalid_grant */
	int token_seq;
	char last_accept_encoding[128];
	char last_token_form[4096];
	pthread_t conns[MAX_CONN_THREADS];
	int n_conns;
} srv;

static int hit(const char *path)
{
	pthread_mutex_lock(&srv.mu);
	int n = 0;
	for (int i = 0; i < MAX_PATHS; i++) {
		if (!srv.counts[i].path[0]) {
			snprintf(srv.counts[i].path, sizeof(srv.counts[i].path), "%s", path);
			n = srv.counts[i].n = 1;
			break;
		}
		if (strcmp(srv.counts[i].path, path) == 0) {
			n = ++srv.counts[i].n;
			break;
		}
	}
	pthread_mutex_unlock(&srv.mu);
	return n;
}

static int hits(const char *path)
{
	int n = 0;
	pthread_mutex_lock(&srv.mu);
	for (int i = 0; i < MAX_PATHS; i++) {
		if (strcmp(srv.counts[i].path, path) == 0)
			n = srv.counts[i].n;
	}
	pthread_mutex_unlock(&srv.mu);
	return n;
}

struct request {
	char method[16];
	char target[2048];
	char path[PATH_CAP];
	char auth[512];
	char ctype[256];
	char *body;
	size_t body_len;
};

struct reply {
	int status;
	char headers[512];
	char *body; /* malloc'd */
};

static void reply_set(struct reply *r, int status, const char *headers, const char *fmt, ...)
{
	va_list ap;
	r->status = status;
	snprintf(r->headers, sizeof(r->headers), "%s", headers ? headers : "");
	va_start(ap, fmt);
	if (vasprintf(&r->body, fmt, ap) < 0)
		r->body = NULL;
	va_end(ap);
}

#define GERR(code, reason, msg)                                                                    \
	"{\"error\":{\"code\":" #code ",\"message\":\"" msg "\",\"errors\":[{\"message\":\"" msg   \
	"\",\"domain\":\"global\",\"reason\":\"" reason "\"}]}}"
#define JSON "Content-Type: application/json; charset=UTF-8\r\n"

static void handle_batch(const struct request *rq, struct reply *r)
{
	/* Answer the parts in reverse order; ".../missing" → 404, ".../pending" → 412 once. */
	char ids[64][96], paths[64][256];
	int n = 0;
	const char *p = rq->body;
	while (p && n < 64 && (p = strstr(p, "Content-ID: <"))) {
		p += 13;
		size_t l = strcspn(p, ">");
		snprintf(ids[n], sizeof(ids[n]), "%.*s", (int)l, p);
		const char *line = strstr(p, "\r\n\r\n");
		if (!line)
			break;
		line += 4;
		const char *sp = strchr(line, ' ');
		size_t pl = strcspn(sp + 1, " ");
		snprintf(paths[n], sizeof(paths[n]), "%.*s", (int)pl, sp + 1);
		n++;
	}
	size_t cap = 65536, w = 0;
	char *b = malloc(cap);
	for (int i = n - 1; i >= 0; i--) {
		int st = 200;
		const char *body = "{\"ok\":true}";
		if (strstr(paths[i], "missing")) {
			st = 404;
			body = GERR(404, "notFound", "Resource Not Found: userKey");
		} else if (strstr(paths[i], "noanswer")) {
			body = ""; /* 200 without the resource */
		} else if (strstr(paths[i], "pending") && hit(paths[i]) == 1) {
			st = 412;
			body = GERR(412, "conditionNotMet", "User creation is not complete.");
		}
		w += (size_t)snprintf(b + w, cap - w,
				      "--srv_b\r\nContent-Type: application/http\r\n"
				      "Content-ID: <response-%s>\r\n\r\nHTTP/1.1 %d X\r\n" JSON
				      "\r\n%s\r\n",
				      ids[i], st, body);
	}
	w += (size_t)snprintf(b + w, cap - w, "--srv_b--\r\n");
	r->status = 200;
	snprintf(r->headers, sizeof(r->headers),
		 "Content-Type: multipart/mixed; boundary=srv_b\r\n");
	r->body = b;
}

static void handle_users_list(const struct request *rq, struct reply *r)
{
	if (!strstr(rq->target, "maxResults=500") ||
	    !strstr(rq->target, "fields=nextPageToken%2C")) {
		reply_set(r, 400, JSON, GERR(400, "invalid", "Invalid paging parameters"));
		return;
	}
	if (!strstr(rq->target, "pageToken="))
		reply_set(r, 200, JSON,
			  "{\"users\":[{\"id\":\"1\"},{\"id\":\"2\"}],\"nextPageToken\":\"p+2\"}");
	else if (strstr(rq->target, "pageToken=p%2B2"))
		reply_set(r, 200, JSON, "{\"users\":[{\"id\":\"3\"}],\"nextPageToken\":\"p3\"}");
	else
		reply_set(r, 200, JSON, "{\"kind\":\"admin#directory#users\"}");
}

static void handle_token(const struct request *rq, struct reply *r)
{
	pthread_mutex_lock(&srv.mu);
	snprintf(srv.last_token_form, sizeof(srv.last_token_form), "%.*s", (int)rq->body_len,
		 rq->body ? rq->body : "");
	int mode = srv.token_mode;
	int seq = ++srv.token_seq;
	pthread_mutex_unlock(&srv.mu);
	const char *form = rq->body ? rq->body : "";
	if (mode == 3 && seq % 2 == 1) {
		reply_set(r, 500, JSON,
			  "{\"error\":\"internal_failure\",\"error_description\":\"Backend\"}");
	} else if (mode == 1) {
		reply_set(r, 401, JSON,
			  "{\"error\":\"unauthorized_client\",\"error_description\":\"Client is "
			  "unauthorized to retrieve access tokens using this method, or client not "
			  "authorized for any of the scopes requested.\"}");
	} else if (mode == 2) {
		reply_set(r, 400, JSON,
			  "{\"error\":\"invalid_grant\",\"error_description\":\"Invalid email or "
			  "User "
			  "ID\"}");
	} else if (strstr(form, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&"
				"assertion=")) {
		reply_set(r, 200, JSON,
			  "{\"access_token\":\"ya29.sa-%d\",\"expires_in\":3599,\"token_type\":"
			  "\"Bearer\"}",
			  seq);
	} else if (strstr(form, "grant_type=authorization_code") &&
		   strstr(form, "code_verifier=")) {
		reply_set(
			r, 200, JSON,
			"{\"access_token\":\"ya29.code-%d\",\"expires_in\":3599,\"refresh_token\":"
			"\"1//refresh-%d\",\"scope\":\"a b\",\"token_type\":\"Bearer\"}",
			seq, seq);
	} else if (strstr(form, "grant_type=refresh_token") &&
		   strstr(form, "refresh_token=1%2F%2F")) {
		reply_set(
			r, 200, JSON,
			"{\"access_token\":\"ya29.refresh-%d\",\"expires_in\":3599,\"token_type\":"
			"\"Bearer\"}",
			seq);
	} else {
		reply_set(r, 400, JSON, "{\"error\":\"unsupported_grant_type\"}");
	}
}

static void handle(const struct request *rq, struct reply *r)
{
	int n = hit(rq->path);
	const char *p = rq->path;
	if (strcmp(p, "/token") == 0)
		handle_token(rq, r);
	else if (strcmp(p, "/batch/admin/directory_v1") == 0)
		handle_batch(rq, r);
	else if (strcmp(p, "/admin/directory/v1/users") == 0)
		handle_users_list(rq, r);
	else if (strcmp(p, "/s/429") == 0)
		n == 1 ? reply_set(r, 429, JSON "Retry-After: 1\r\n",
				   GERR(429, "rateLimitExceeded", "Quota exceeded"))
		       : reply_set(r, 200, JSON, "{\"n\":%d}", n);
	else if (strcmp(p, "/s/503") == 0 || strcmp(p, "/s/503limited") == 0)
		n <= 2 ? reply_set(
				 r, 503, JSON,
				 GERR(503, "backendError", "Service unavailable. Please try again"))
		       : reply_set(r, 200, JSON, "{\"n\":%d}", n);
	else if (strcmp(p, "/s/412") == 0)
		n == 1 ? reply_set(r, 412, JSON,
				   GERR(412, "conditionNotMet", "User creation is not complete."))
		       : reply_set(r, 200, JSON, "{\"n\":%d}", n);
	else if (strcmp(p, "/s/502") == 0)
		n == 1 ? reply_set(r, 502, "Content-Type: text/html; charset=UTF-8\r\n",
				   "<!DOCTYPE html>\n<html lang=en><title>Error 502 (Server "
				   "Error)!!1</title><p><b>502.</b> That's an error.")
		       : reply_set(r, 200, JSON, "{\"n\":%d}", n);
	else if (strcmp(p, "/s/401") == 0)
		strcmp(rq->auth, "Bearer tok-B") != 0
			? reply_set(r, 401, JSON, GERR(401, "authError", "Invalid Credentials"))
			: reply_set(r, 200, JSON, "{\"n\":%d}", n);
	else if (strcmp(p, "/s/401always") == 0)
		reply_set(r, 401, JSON, GERR(401, "authError", "Invalid Credentials"));
	else if (strcmp(p, "/s/400") == 0)
		reply_set(r, 400, JSON, GERR(400, "invalid", "Invalid Input: memberKey"));
	else if (strcmp(p, "/s/403rate") == 0)
		n == 1 ? reply_set(r, 403, JSON,
				   GERR(403, "userRateLimitExceeded", "User Rate Limit Exceeded"))
		       : reply_set(r, 200, JSON, "{\"n\":%d}", n);
	else if (strcmp(p, "/s/403") == 0)
		reply_set(r, 403, JSON,
			  GERR(403, "forbidden", "Not Authorized to access this resource/api"));
	else if (strcmp(p, "/s/always503") == 0)
		reply_set(r, 503, "", "<html>down</html>");
	else if (strcmp(p, "/s/big") == 0) {
		r->status = 200;
		r->body = malloc(8193);
		memset(r->body, 'x', 8192);
		r->body[8192] = '\0';
	} else if (strcmp(p, "/s/slow") == 0) {
		usleep(1500 * 1000);
		reply_set(r, 200, JSON, "{}");
	} else if (strcmp(p, "/s/echo") == 0)
		reply_set(r, 200, JSON "ETag: \"e1\"\r\n", "{\"method\":\"%s\",\"len\":%zu}",
			  rq->method, rq->body_len);
	else if (strcmp(p, "/s/empty") == 0)
		reply_set(r, 204, "", "%s", "");
	else if (strcmp(p, "/s/empty200") == 0 || strcmp(p, "/s/x/makeAdmin") == 0)
		reply_set(r, 200, JSON, "%s", "");
	else if (strcmp(p, "/s/text200") == 0)
		reply_set(r, 200, "Content-Type: text/plain\r\n", "%s", "OK");
	else
		reply_set(r, 404, JSON, GERR(404, "notFound", "no such script"));
}

static ssize_t read_request(int fd, char *buf, size_t cap, size_t *have, struct request *rq)
{
	memset(rq, 0, sizeof(*rq));
	char *end;
	while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
		if (*have == cap)
			return -1;
		ssize_t n = read(fd, buf + *have, cap - *have);
		if (n <= 0)
			return -1;
		*have += (size_t)n;
	}
	size_t hlen = (size_t)(end - buf) + 4;
	size_t clen = 0;
	sscanf(buf, "%15s %2047s", rq->method, rq->target);
	snprintf(rq->path, sizeof(rq->path), "%.*s", (int)strcspn(rq->target, "?"), rq->target);
	for (char *line = strstr(buf, "\r\n") + 2; line < end; line = strstr(line, "\r\n") + 2) {
		size_t ll = (size_t)(strstr(line, "\r\n") - line);
		if (strncasecmp(line, "Content-Length:", 15) == 0)
			clen = strtoul(line + 15, NULL, 10);
		else if (strncasecmp(line, "Authorization: ", 15) == 0)
			snprintf(rq->auth, sizeof(rq->auth), "%.*s", (int)(ll - 15), line + 15);
		else if (strncasecmp(line, "Content-Type: ", 14) == 0)
			snprintf(rq->ctype, sizeof(rq->ctype), "%.*s", (int)(ll - 14), line + 14);
		else if (strncasecmp(line, "Accept-Encoding: ", 17) == 0) {
			pthread_mutex_lock(&srv.mu);
			snprintf(srv.last_accept_encoding, sizeof(srv.last_accept_encoding), "%.*s",
				 (int)(ll - 17), line + 17);
			pthread_mutex_unlock(&srv.mu);
		}
	}
	rq->body = malloc(clen + 1);
	size_t got = *have - hlen < clen ? *have - hlen : clen;
	memcpy(rq->body, buf + hlen, got);
	while (got < clen) {
		ssize_t n = read(fd, rq->body + got, clen - got);
		if (n <= 0) {
			free(rq->body);
			return -1;
		}
		got += (size_t)n;
	}
	rq->body[clen] = '\0';
	rq->body_len = clen;
	size_t used = hlen + (*have - hlen < clen ? *have - hlen : clen);
	memmove(buf, buf + used, *have - used);
	*have -= used;
	return 0;
}

static void *conn_main(void *arg)
{
	int fd = (int)(long)arg;
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap);
	struct request rq;
	while (read_request(fd, buf, cap, &have, &rq) == 0) {
		struct reply r = {0};
		handle(&rq, &r);
		size_t blen = r.body && r.status != 204 ? strlen(r.body) : 0;
		char *out = NULL;
		/* One write per answer: header and body in two would meet Nagle and delayed ACK. */
		int on = asprintf(&out, "HTTP/1.1 %d Scripted\r\n%sContent-Length: %zu\r\n\r\n%s",
				  r.status, r.headers, blen, blen ? r.body : "");
		ssize_t wn = on < 0 ? -1 : write(fd, out, (size_t)on);
		free(out);
		free(r.body);
		free(rq.body);
		if (wn != on)
			break;
	}
	free(buf);
	close(fd);
	return NULL;
}

static void *accept_main(void *arg)
{
	(void)arg;
	for (;;) {
		int c = accept(srv.fd, NULL, NULL);
		if (c < 0)
			return NULL;
		pthread_mutex_lock(&srv.mu);
		srv.connections++;
		int slot = srv.n_conns < MAX_CONN_THREADS ? srv.n_conns++ : -1;
		pthread_mutex_unlock(&srv.mu);
		if (slot < 0 || pthread_create(&srv.conns[slot], NULL, conn_main, (void *)(long)c))
			close(c);
	}
}

static void server_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	pthread_mutex_init(&srv.mu, NULL);
	srv.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) || listen(srv.fd, 64) ||
	    getsockname(srv.fd, (struct sockaddr *)&a, &al)) {
		perror("server");
		exit(1);
	}
	srv.port = ntohs(a.sin_port);
	pthread_create(&srv.acceptor, NULL, accept_main, NULL);
}

static void server_stop(void)
{
	shutdown(srv.fd, SHUT_RDWR);
	close(srv.fd);
	pthread_join(srv.acceptor, NULL);
	for (int i = 0; i < srv.n_conns; i++)
		pthread_join(srv.conns[i], NULL);
}

/* ---- test plumbing ---- */

static int failures, checks;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		checks++;                                                                          \
		if (!(cond)) {                                                                     \
			failures++;                                                                \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
		}                                                                                  \
	} while (0)

static char base[64];

/* Token provider of the google_call tests: "tok-A" until asked to refresh, then "tok-B". */
static struct {
	int calls, forced;
} tp;

static int test_token(void *ctx, int force, char *out, size_t cap, struct err *e)
{
	(void)ctx;
	(void)e;
	tp.calls++;
	if (force)
		tp.forced++;
	snprintf(out, cap, "%s", tp.forced ? "tok-B" : "tok-A");
	return E_OK;
}

static struct google_client *client(int max_attempts, size_t max_body)
{
	struct google_client_options o = {
		.api_base = base,
		.allow_http = 1,
		.timeout_ms = 1000,
		.max_body_bytes = max_body,
		.retry = {.base_ms = 5,
			  .cap_ms = 40,
			  .max_attempts = max_attempts,
			  .max_total_ms = 5000,
			  .jitter = GOOGLE_JITTER_EQUAL},
		.token = test_token,
	};
	struct google_client *gc = NULL;
	struct err e = {0};
	if (google_client_new(&o, &gc, &e)) {
		fprintf(stderr, "google_client_new: %s\n", e.msg);
		exit(1);
	}
	return gc;
}

static long long now_ms(void)
{
	return google_clock_monotonic_ms(NULL);
}

static void call_expect(struct google_client *gc, const char *path, int want_rc, int want_status,
			int want_hits, const char *want_reason)
{
	struct err e = {0};
	int status = -1;
	char *body = NULL;
	size_t len = 0;
	int rc = google_call(gc, "GET", path, NULL, &status, &body, &len, &e);
	CHECK(rc == want_rc, "%s: rc %s (%s), want %s", path, err_code_name(rc), e.msg,
	      err_code_name(want_rc));
	CHECK(status == want_status, "%s: status %d, want %d", path, status, want_status);
	CHECK(hits(path) == want_hits, "%s: %d requests, want %d", path, hits(path), want_hits);
	if (want_reason)
		CHECK(strcmp(e.reason, want_reason) == 0, "%s: reason '%s'", path, e.reason);
	CHECK(!strstr(e.msg, "tok-"), "%s: a token in the error", path);
	CHECK(rc ? body == NULL : body != NULL, "%s: body ownership", path);
	free(body);
}

static void test_scripted_retries(void)
{
	struct google_client *gc = client(4, 0);
	struct google_metrics m;

	long long t0 = now_ms();
	call_expect(gc, "/s/429", E_OK, 200, 2, NULL);
	CHECK(now_ms() - t0 >= 1000, "Retry-After: 1 honoured (%lld ms)", now_ms() - t0);
	call_expect(gc, "/s/503", E_OK, 200, 3, NULL);
	call_expect(gc, "/s/412", E_OK, 200, 2, NULL);
	call_expect(gc, "/s/502", E_OK, 200, 2, NULL);
	call_expect(gc, "/s/400", E_INVAL, 400, 1, "invalid");
	call_expect(gc, "/s/403", E_FORBIDDEN, 403, 1, "forbidden");
	call_expect(gc, "/s/403rate", E_OK, 200, 2, NULL);
	call_expect(gc, "/s/always503", E_UNAVAIL, 503, 4, "");

	google_client_metrics(gc, &m);
	CHECK(m.requests[GOOGLE_GET][GOOGLE_OK] == 5, "ok attempts %llu",
	      m.requests[GOOGLE_GET][GOOGLE_OK]);
	CHECK(m.requests[GOOGLE_GET][GOOGLE_RATE_LIMITED] == 2, "rate-limited attempts %llu",
	      m.requests[GOOGLE_GET][GOOGLE_RATE_LIMITED]);
	CHECK(m.requests[GOOGLE_GET][GOOGLE_SERVER_ERROR] == 2 + 1 + 1 + 4,
	      "server-error attempts %llu", m.requests[GOOGLE_GET][GOOGLE_SERVER_ERROR]);
	CHECK(m.requests[GOOGLE_GET][GOOGLE_CLIENT_ERROR] == 2, "client-error attempts %llu",
	      m.requests[GOOGLE_GET][GOOGLE_CLIENT_ERROR]);
	CHECK(m.retries == 1 + 2 + 1 + 1 + 1 + 3, "retries %llu", m.retries);
	CHECK(m.calls == 8 && m.calls_failed == 3, "calls %llu failed %llu", m.calls,
	      m.calls_failed);
	CHECK(m.ratelimit_cuts == 2, "cuts %llu", m.ratelimit_cuts);
	CHECK(m.latency_count == 17, "latency samples %llu", m.latency_count);
	/* Every attempt above went over one kept-alive connection. */
	CHECK(srv.connections == 1, "connections %d", srv.connections);
	CHECK(google_ratelimit_rate(google_client_ratelimit(gc)) < 2300,
	      "the bucket slowed down after rate limits");
	CHECK(strstr(srv.last_accept_encoding, "gzip") != NULL, "Accept-Encoding '%s'",
	      srv.last_accept_encoding);
	google_client_free(gc);
}

/* Waiting for the rate limit is not time spent retrying: a retry budget shorter than those waits
 * (a tester: retries vanished under throttling with a short GWSYNC_GOOGLE_RETRY_MAX_TOTAL_MS). */
static void test_retry_budget_leaves_out_rate_limit_waits(void)
{
	struct google_client_options o = {
		.api_base = base,
		.allow_http = 1,
		.timeout_ms = 1000,
		.retry = {.base_ms = 5,
			  .cap_ms = 10,
			  .max_attempts = 4,
			  .max_total_ms = 150,
			  .jitter = GOOGLE_JITTER_NONE},
		.token = test_token,
		.ratelimit_options = {.per_minute = 300, .burst = 1}, /* a call each 200 ms */
	};
	struct google_client *gc = NULL;
	struct err e = {0};
	CHECK(google_client_new(&o, &gc, &e) == E_OK, "client: %s", e.msg);
	if (!gc)
		return;
	call_expect(gc, "/s/503limited", E_OK, 200, 3, NULL);
	struct google_metrics m;
	google_client_metrics(gc, &m);
	CHECK(m.ratelimit_wait_ms >= 300, "waited %llu ms for the bucket", m.ratelimit_wait_ms);
	google_client_free(gc);
}

static void test_refresh_once(void)
{
	struct google_client *gc = client(4, 0);
	struct google_metrics m;
	tp.calls = tp.forced = 0;
	call_expect(gc, "/s/401", E_OK, 200, 2, NULL);
	CHECK(tp.forced == 1, "token refreshed %d times", tp.forced);
	google_client_metrics(gc, &m);
	CHECK(m.token_refreshes == 1 && m.retries == 0, "refreshes %llu retries %llu",
	      m.token_refreshes, m.retries);
	google_client_free(gc);

	/* Still 401 after the refresh: one refresh only, no backoff retries. */
	gc = client(4, 0);
	tp.calls = tp.forced = 0;
	call_expect(gc, "/s/401always", E_UNAUTH, 401, 2, "authError");
	CHECK(tp.forced == 1, "token refreshed %d times", tp.forced);
	google_client_free(gc);
}

static void test_limits_and_methods(void)
{
	struct google_client *gc = client(4, 1024);
	struct err e = {0};
	char *body = NULL;
	size_t len = 0;
	int status = 0;
	int rc = google_call(gc, "GET", "/s/big", NULL, &status, &body, &len, &e);
	CHECK(rc == E_UPSTREAM, "oversized body: %s (%s)", err_code_name(rc), e.msg);
	CHECK(hits("/s/big") == 1, "oversized body not retried");

	rc = google_call(gc, "PUT", "/s/echo", "{\"a\":1}", &status, &body, &len, &e);
	CHECK(rc == E_OK && strstr(body, "\"method\":\"PUT\"") && strstr(body, "\"len\":7"),
	      "PUT with body: %s", body ? body : e.msg);
	free(body);
	rc = google_call(gc, "DELETE", "/s/empty", NULL, &status, &body, &len, &e);
	CHECK(rc == E_OK && status == 204 && len == 0 && body && !body[0], "DELETE 204: %s",
	      err_code_name(rc));
	free(body);
	rc = google_call(gc, "FETCH", "/s/echo", NULL, &status, &body, &len, &e);
	CHECK(rc == E_INVAL, "unknown method");
	google_client_free(gc);

	/* A GET that times out is retried; the total time bounds it. */
	struct google_client_options o = {
		.api_base = base,
		.allow_http = 1,
		.timeout_ms = 300,
		.retry = {.base_ms = 5,
			  .cap_ms = 10,
			  .max_attempts = 2,
			  .jitter = GOOGLE_JITTER_NONE},
		.token = test_token,
	};
	google_client_new(&o, &gc, NULL);
	rc = google_call(gc, "GET", "/s/slow", NULL, &status, NULL, NULL, &e);
	CHECK(rc == E_TIMEOUT, "slow GET: %s", err_code_name(rc));
	CHECK(hits("/s/slow") == 2, "slow GET attempts %d", hits("/s/slow"));
	/* A POST that timed out is not retried: it may have happened. */
	rc = google_call(gc, "POST", "/s/slow", "{}", &status, NULL, NULL, &e);
	CHECK(rc == E_TIMEOUT && hits("/s/slow") == 3, "slow POST attempts %d", hits("/s/slow"));
	google_client_free(gc);
}

/* A 2xx without the JSON object the call expects is a failure with its own reason, never "ok". */
static void test_empty_answers(void)
{
	struct google_client *gc = client(4, 0);
	call_expect(gc, "/s/empty200", E_UPSTREAM, 200, 1, "invalid_response");
	call_expect(gc, "/s/text200", E_UPSTREAM, 200, 1, "invalid_response");
	struct google_metrics m;
	google_client_metrics(gc, &m);
	CHECK(m.calls == 2 && m.calls_failed == 2, "calls %llu failed %llu", m.calls,
	      m.calls_failed);
	CHECK(m.requests[GOOGLE_GET][GOOGLE_OK] == 0 &&
		      m.requests[GOOGLE_GET][GOOGLE_SERVER_ERROR] == 2,
	      "attempts ok %llu server_error %llu", m.requests[GOOGLE_GET][GOOGLE_OK],
	      m.requests[GOOGLE_GET][GOOGLE_SERVER_ERROR]);

	/* The parsed form says the same. */
	struct json_object *jo = NULL;
	struct err e = {0};
	int rc = google_call_json(gc, "GET", "/s/empty200", NULL, NULL, &jo, &e);
	CHECK(rc == E_UPSTREAM && !jo && strcmp(e.reason, "invalid_response") == 0 &&
		      strstr(e.msg, "empty body"),
	      "google_call_json: %s '%s' %s", err_code_name(rc), e.reason, e.msg);

	/* Calls without a response schema answer an empty body: that is their success. */
	int status = 0;
	rc = google_call(gc, "DELETE", "/s/empty200", NULL, &status, NULL, NULL, &e);
	CHECK(rc == E_OK && status == 200, "DELETE with an empty 200: %s", err_code_name(rc));
	rc = google_call(gc, "POST", "/s/x/makeAdmin", "{\"status\":true}", &status, NULL, NULL,
			 &e);
	CHECK(rc == E_OK, "makeAdmin with an empty 200: %s", err_code_name(rc));

	/* A batch part likewise. */
	struct google_batch_item items[2] = {
		{.method = "PUT", .path = "/admin/directory/v1/users/noanswer", .body = "{}"},
		{.method = "DELETE", .path = "/admin/directory/v1/groups/g/members/noanswer"},
	};
	rc = google_batch(gc, items, 2, &e);
	CHECK(rc == E_OK, "batch: %s", e.msg);
	CHECK(items[0].status == 200 && items[0].e.code == E_UPSTREAM &&
		      strcmp(items[0].e.reason, "invalid_response") == 0 && !items[0].retryable,
	      "PUT part with an empty 200: %s '%s'", err_code_name(items[0].e.code),
	      items[0].e.reason);
	CHECK(items[1].status == 200 && items[1].e.code == E_OK, "DELETE part: %s",
	      err_code_name(items[1].e.code));
	google_batch_items_cleanup(items, 2);
	google_client_free(gc);
}

static void test_httpc_direct(void)
{
	struct httpc *h = NULL;
	struct httpc_options ho = {.timeout_ms = 2000};
	struct err e = {0};
	struct httpc_response resp = {0};
	char url[128];
	httpc_new(&ho, &h, &e);
	snprintf(url, sizeof(url), "%s/s/echo", base);
	struct httpc_request rq = {.method = "GET", .url = url};
	int rc = httpc_send(h, &rq, &resp, &e);
	CHECK(rc == E_INVAL, "http refused without allow_http: %s", err_code_name(rc));
	httpc_free(h);

	ho.allow_http = 1;
	httpc_new(&ho, &h, &e);
	rc = httpc_send(h, &rq, &resp, &e);
	CHECK(rc == E_OK && resp.status == 200, "echo: %s", e.msg);
	CHECK(httpc_response_header(&resp, "etag") &&
		      strcmp(httpc_response_header(&resp, "ETag"), "\"e1\"") == 0,
	      "ETag captured");
	CHECK(httpc_response_header(&resp, "Content-Type") &&
		      strstr(httpc_response_header(&resp, "Content-Type"), "application/json"),
	      "Content-Type captured");
	httpc_response_cleanup(&resp);

	snprintf(url, sizeof(url), "%s/s/429", base);
	rc = httpc_send(h, &rq, &resp, &e);
	CHECK(rc == E_OK && resp.status == 200, "a 4xx/5xx/2xx is not an httpc error");
	httpc_response_cleanup(&resp);

	/* Connection refused → E_UNAVAIL: a port that was just free. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x?secret=1", ntohs(a.sin_port));
	rc = httpc_send(h, &rq, &resp, &e);
	CHECK(rc == E_UNAVAIL, "refused: %s (%s)", err_code_name(rc), e.msg);
	CHECK(!strstr(e.msg, "secret"), "the query stays out of the error: %s", e.msg);
	httpc_free(h);

	char *enc = NULL;
	httpc_urlencode("a b+c@d/é", &enc, NULL);
	CHECK(strcmp(enc, "a%20b%2Bc%40d%2F%C3%A9") == 0, "urlencode %s", enc);
	free(enc);
}

static int count_items(void *ctx, struct json_object *items, struct err *e)
{
	(void)e;
	int *n = ctx;
	n[0] += (int)json_object_array_length(items);
	n[1]++;
	return 0;
}

static void test_paging(void)
{
	struct google_client *gc = client(4, 0);
	int n[2] = {0, 0};
	struct err e = {0};
	int rc = google_list_pages(gc, "/admin/directory/v1/users?customer=my_customer", "users",
				   500, "users(id,primaryEmail)", count_items, n, &e);
	CHECK(rc == E_OK, "paging: %s", e.msg);
	CHECK(n[0] == 3 && n[1] == 3, "paging saw %d items in %d pages", n[0], n[1]);
	CHECK(hits("/admin/directory/v1/users") == 3, "paging requests %d",
	      hits("/admin/directory/v1/users"));
	google_client_free(gc);
}

static void test_batch(void)
{
	struct google_client *gc = client(4, 0);
	struct google_batch_item items[4] = {
		{.method = "GET", .path = "/admin/directory/v1/users/a%40example.com"},
		{.method = "PUT", .path = "/admin/directory/v1/users/missing", .body = "{}"},
		{.method = "PUT", .path = "/admin/directory/v1/users/pending", .body = "{\"x\":1}"},
		{.method = "DELETE", .path = "/admin/directory/v1/groups/g/members/m"},
	};
	struct err e = {0};
	int rc = google_batch(gc, items, 4, &e);
	CHECK(rc == E_OK, "batch: %s", e.msg);
	CHECK(items[0].status == 200 && items[0].e.code == E_OK && items[0].resp_body &&
		      strcmp(items[0].resp_body, "{\"ok\":true}") == 0,
	      "part 0: %d", items[0].status);
	CHECK(items[1].status == 404 && items[1].e.code == E_NOTFOUND &&
		      strcmp(items[1].e.reason, "notFound") == 0,
	      "part 1: %d %s", items[1].status, err_code_name(items[1].e.code));
	CHECK(items[2].status == 200 && items[2].e.code == E_OK, "part 2 retried to 200: %d",
	      items[2].status);
	CHECK(items[3].status == 200, "part 3: %d", items[3].status);
	CHECK(hits("/batch/admin/directory_v1") == 2, "batch requests %d (the 412 part again)",
	      hits("/batch/admin/directory_v1"));
	struct google_metrics m;
	google_client_metrics(gc, &m);
	CHECK(m.batch_parts == 5, "batch parts %llu", m.batch_parts);
	google_batch_items_cleanup(items, 4);
	google_client_free(gc);
}

/* A fake wall clock for the token cache. */
static long long fake_now = 1767225600;

static long long fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

static char *make_key_json(void)
{
	/* The openssl tool makes a throw-away PKCS#8 key; no key material is kept in the tree. */
	FILE *p = popen("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null",
			"r");
	if (!p)
		return NULL;
	char pem[8192];
	size_t n = fread(pem, 1, sizeof(pem) - 1, p);
	pclose(p);
	pem[n] = '\0';
	if (!strstr(pem, "BEGIN PRIVATE KEY"))
		return NULL;
	struct json_object *jo = json_object_new_object();
	json_object_object_add(jo, "type", json_object_new_string("service_account"));
	json_object_object_add(jo, "client_email",
			       json_object_new_string("sync@proj.iam.gserviceaccount.com"));
	json_object_object_add(jo, "client_id", json_object_new_string("1234567890"));
	json_object_object_add(jo, "private_key_id", json_object_new_string("kid1"));
	json_object_object_add(jo, "private_key", json_object_new_string(pem));
	char *s = strdup(json_object_to_json_string(jo));
	json_object_put(jo);
	return s;
}

static void test_oauth(void)
{
	char token_url[96];
	snprintf(token_url, sizeof(token_url), "%s/token", base);
	struct oauth_options oo = {.token_url = token_url,
				   .http = {.allow_http = 1, .timeout_ms = 3000},
				   .clock = fake_clock};
	char *kj = make_key_json();
	CHECK(kj != NULL, "openssl genpkey made a key");
	if (!kj)
		return;
	struct jwt_sa_key *key = NULL;
	struct err e = {0};
	CHECK(jwt_sa_key_parse(kj, strlen(kj), &key, &e) == E_OK, "key: %s", e.msg);
	free(kj);
	struct oauth_tokens *t = NULL;
	CHECK(oauth_tokens_new_sa(&oo, key, "admin@example.com",
				  "https://www.googleapis.com/auth/admin.directory.user", &t,
				  &e) == E_OK,
	      "token source: %s", e.msg);
	char tok[OAUTH_TOKEN_MAX] = "";
	int rc = oauth_tokens_get(t, 0, tok, sizeof(tok), &e);
	CHECK(rc == E_OK && strncmp(tok, "ya29.sa-", 8) == 0, "first token: %s %s", tok, e.msg);
	CHECK(strstr(srv.last_token_form, "assertion=ey") != NULL, "the form carries a JWT");
	char first[OAUTH_TOKEN_MAX];
	snprintf(first, sizeof(first), "%s", tok);
	rc = oauth_tokens_get(t, 0, tok, sizeof(tok), &e);
	CHECK(rc == E_OK && strcmp(tok, first) == 0 && oauth_tokens_fetches(t) == 1,
	      "cached (fetches %lu)", oauth_tokens_fetches(t));
	/* 401 with this token: refresh. A second thread refused with the same old token does not
	 * fetch again once the cache holds a newer one. */
	char refused[OAUTH_TOKEN_MAX];
	snprintf(refused, sizeof(refused), "%s", tok);
	rc = oauth_tokens_get(t, 1, tok, sizeof(tok), &e);
	CHECK(rc == E_OK && strcmp(tok, first) != 0 && oauth_tokens_fetches(t) == 2,
	      "forced refresh (fetches %lu)", oauth_tokens_fetches(t));
	snprintf(tok, sizeof(tok), "%s", refused);
	rc = oauth_tokens_get(t, 1, tok, sizeof(tok), &e);
	CHECK(rc == E_OK && oauth_tokens_fetches(t) == 2, "no double refresh (fetches %lu)",
	      oauth_tokens_fetches(t));
	/* Within 60 s of expiry: fetched again. */
	fake_now += 3599 - 61;
	oauth_tokens_get(t, 0, tok, sizeof(tok), &e);
	CHECK(oauth_tokens_fetches(t) == 2, "still cached at expiry-61s");
	fake_now += 2;
	oauth_tokens_get(t, 0, tok, sizeof(tok), &e);
	CHECK(oauth_tokens_fetches(t) == 3, "refetched at expiry-59s (fetches %lu)",
	      oauth_tokens_fetches(t));

	/* The whole road: google_call with the service-account token source. */
	struct google_client_options go = {
		.api_base = base, .allow_http = 1, .token = oauth_tokens_get, .token_ctx = t};
	struct google_client *gc = NULL;
	google_client_new(&go, &gc, NULL);
	rc = google_call(gc, "GET", "/s/echo", NULL, NULL, NULL, NULL, &e);
	CHECK(rc == E_OK, "google_call with oauth tokens: %s", e.msg);
	google_client_free(gc);

	/* Token errors keep Google's error and description; never a token or the key. */
	srv.token_mode = 1;
	rc = oauth_tokens_get(t, 1, tok, sizeof(tok), &e);
	CHECK(rc == E_FORBIDDEN && strcmp(e.reason, "unauthorized_client") == 0 &&
		      strstr(e.msg, "not authorized for any of the scopes") && tok[0] == '\0',
	      "unauthorized_client: %s %s %s", err_code_name(rc), e.reason, e.msg);
	srv.token_mode = 2;
	tok[0] = '\0'; /* "" or the refused token forces a fetch */
	rc = oauth_tokens_get(t, 1, tok, sizeof(tok), &e);
	CHECK(rc == E_UNAUTH && strcmp(e.reason, "invalid_grant") == 0 &&
		      strcmp(e.msg, "Invalid email or User ID") == 0,
	      "invalid_grant: %s %s", err_code_name(rc), e.msg);
	CHECK(!strstr(e.msg, "PRIVATE") && !strstr(e.msg, "ya29"), "no secret in the error");
	/* An internal_failure of the token endpoint is tried once more. */
	srv.token_mode = 3;
	pthread_mutex_lock(&srv.mu);
	srv.token_seq = 0;
	pthread_mutex_unlock(&srv.mu);
	tok[0] = '\0';
	rc = oauth_tokens_get(t, 1, tok, sizeof(tok), &e);
	CHECK(rc == E_OK && srv.token_seq == 2, "internal_failure retried: %s, %d requests",
	      err_code_name(rc), srv.token_seq);
	srv.token_mode = 0;
	oauth_tokens_free(t);

	/* Code flow: exchange with PKCE, then the refresh grant. */
	char verifier[JWT_PKCE_VERIFIER_LEN + 1];
	jwt_pkce_verifier(verifier);
	struct oauth_grant g = {0};
	rc = oauth_code_exchange(&oo, "client.apps.googleusercontent.com", "s3cret", "4/code",
				 "https://gwsync.example/v1/oauth/callback", verifier, &g, &e);
	CHECK(rc == E_OK && g.refresh_token && strncmp(g.refresh_token, "1//refresh-", 11) == 0 &&
		      g.expires_in == 3599 && g.scope && strcmp(g.scope, "a b") == 0,
	      "code exchange: %s", e.msg);
	CHECK(strstr(srv.last_token_form, "code_verifier=") &&
		      strstr(srv.last_token_form,
			     "redirect_uri=https%3A%2F%2Fgwsync.example%2Fv1%2Foauth%2Fcallback"),
	      "exchange form: verifier and encoded redirect_uri");
	struct oauth_tokens *rt = NULL;
	oauth_tokens_new_refresh(&oo, "client.apps.googleusercontent.com", "s3cret",
				 g.refresh_token, &rt, &e);
	oauth_grant_cleanup(&g);
	tok[0] = '\0';
	rc = oauth_tokens_get(rt, 0, tok, sizeof(tok), &e);
	CHECK(rc == E_OK && strncmp(tok, "ya29.refresh-", 13) == 0, "refresh grant: %s", e.msg);
	oauth_tokens_free(rt);

	char *url = NULL;
	char ch[JWT_PKCE_CHALLENGE_LEN + 1];
	jwt_pkce_challenge_s256(verifier, ch);
	rc = oauth_consent_url("https://accounts.google.com/o/oauth2/v2/auth", "cid",
			       "https://gwsync.example/cb", "a b", "st8", ch, NULL, &url, &e);
	CHECK(rc == E_OK &&
		      strstr(url, "?client_id=cid&redirect_uri=https%3A%2F%2Fgwsync.example"
				  "%2Fcb&response_type=code&scope=a%20b&access_type=offline&"
				  "prompt=consent&include_granted_scopes=true&state=st8&"
				  "code_challenge=") &&
		      strstr(url, "&code_challenge_method=S256") && !strstr(url, "login_hint"),
	      "consent URL: %s", url ? url : e.msg);
	free(url);
}

/* Log lines (stdout) go to a file so the test can search them for secrets at the end. */
static FILE *log_file;
static int saved_stdout = -1;

static void capture_logs(void)
{
	fflush(stdout);
	log_file = tmpfile();
	saved_stdout = dup(1);
	if (!log_file || saved_stdout < 0 || dup2(fileno(log_file), 1) < 0) {
		perror("capture");
		exit(1);
	}
}

static void check_logs(void)
{
	fflush(stdout);
	dup2(saved_stdout, 1);
	close(saved_stdout);
	rewind(log_file);
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof(line), log_file)) {
		n++;
		CHECK(!strstr(line, "tok-") && !strstr(line, "ya29") && !strstr(line, "PRIVATE") &&
			      !strstr(line, "Bearer") && !strstr(line, "s3cret") &&
			      !strstr(line, "1//"),
		      "a secret in a log line: %s", line);
		CHECK(strstr(line, "\"event\":\"google_retry\""), "unexpected log line: %s", line);
	}
	CHECK(n >= 9, "retry log lines %d", n);
	fclose(log_file);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	capture_logs();
	if (httpc_global_init()) {
		fprintf(stderr, "curl_global_init failed\n");
		return 1;
	}
	server_start();
	snprintf(base, sizeof(base), "http://127.0.0.1:%d", srv.port);

	test_scripted_retries();
	test_retry_budget_leaves_out_rate_limit_waits();
	test_refresh_once();
	test_limits_and_methods();
	test_httpc_direct();
	test_paging();
	test_batch();
	test_oauth();
	test_empty_answers(); /* after test_batch, which counts the batch requests */

	server_stop();
	httpc_global_cleanup();
	check_logs();
	fprintf(stderr, "%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
