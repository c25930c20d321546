#include "httpc.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef GWSYNC_VERSION
#define GWSYNC_VERSION "0"
#endif

struct httpc {
	CURL *curl;
	long connect_timeout_ms;
	long timeout_ms;
	size_t max_body_bytes;
	int allow_http;
	char *user_agent;
	char *ca_file;
	char errbuf[CURL_ERROR_SIZE];
};

/* What the callbacks fill during one exchange. */
struct exchange {
	struct httpc *h;
	char *body;
	size_t len, cap;
	int too_big;
	struct httpc_header *headers;
	size_t n_headers;
	size_t header_bytes;
};

int httpc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? E_OK : E_INTERNAL;
}

void httpc_global_cleanup(void)
{
	curl_global_cleanup();
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int httpc_new(const struct httpc_options *o, struct httpc **out, struct err *e)
{
	static const struct httpc_options defaults;
	*out = NULL;
	if (!o)
		o = &defaults;
	struct httpc *h = calloc(1, sizeof(*h));
	if (!h)
		return err_set(e, E_NOMEM, "http client");
	h->connect_timeout_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms
							  : HTTPC_DEFAULT_CONNECT_TIMEOUT_MS;
	h->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : HTTPC_DEFAULT_TIMEOUT_MS;
	h->max_body_bytes = o->max_body_bytes ? o->max_body_bytes : HTTPC_DEFAULT_MAX_BODY_BYTES;
	h->allow_http = o->allow_http;
	h->user_agent = strdup(o->user_agent ? o->user_agent : "gwsync/" GWSYNC_VERSION " (gzip)");
	h->ca_file = dup_or_null(o->ca_file);
	h->curl = curl_easy_init();
	if (!h->user_agent || (o->ca_file && !h->ca_file) || !h->curl) {
		enum err_code code = h->curl ? E_NOMEM : E_INTERNAL;
		httpc_free(h);
		return err_set(e, code, "http client");
	}
	*out = h;
	return E_OK;
}

void httpc_free(struct httpc *h)
{
	if (!h)
		return;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	free(h->user_agent);
	free(h->ca_file);
	free(h);
}

static void headers_free(struct httpc_header *hs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(hs[i].name);
		free(hs[i].value);
	}
	free(hs);
}

void httpc_response_cleanup(struct httpc_response *resp)
{
	if (!resp)
		return;
	if (resp->body)
		explicit_bzero(resp->body, resp->body_len);
	free(resp->body);
	headers_free(resp->headers, resp->n_headers);
	memset(resp, 0, sizeof(*resp));
}

const char *httpc_response_header(const struct httpc_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_headers; i++) {
		if (strcasecmp(resp->headers[i].name, name) == 0)
			return resp->headers[i].value;
	}
	return NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct exchange *x = userdata;
	size_t n = size * nmemb;
	if (n > x->h->max_body_bytes - x->len) {
		x->too_big = 1;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		while (cap < x->len + n + 1)
			cap *= 2;
		char *p = realloc(x->body, cap);
		if (!p)
			return 0;
		x->body = p;
		x->cap = cap;
	}
	memcpy(x->body + x->len, data, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct exchange *x = userdata;
	size_t n = size * nmemb;
	/* A new status line (after 100 Continue, say) starts a new set of headers. */
	if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		headers_free(x->headers, x->n_headers);
		x->headers = NULL;
		x->n_headers = 0;
		x->header_bytes = 0;
		return n;
	}
	const char *colon = memchr(data, ':', n);
	if (!colon || x->n_headers == HTTPC_MAX_HEADERS ||
	    x->header_bytes + n > HTTPC_MAX_HEADER_BYTES)
		return n;
	size_t name_len = (size_t)(colon - data);
	const char *v = colon + 1;
	const char *end = data + n;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	struct httpc_header *hs = realloc(x->headers, (x->n_headers + 1) * sizeof(*hs));
	if (!hs)
		return 0;
	x->headers = hs;
	char *name = strndup(data, name_len);
	char *value = strndup(v, (size_t)(end - v));
	if (!name || !value) {
		free(name);
		free(value);
		return 0;
	}
	hs[x->n_headers].name = name;
	hs[x->n_headers].value = value;
	x->n_headers++;
	x->header_bytes += n;
	return n;
}

static enum err_code map_curl(CURLcode cc, const struct exchange *x)
{
	if (x->too_big)
		return E_UPSTREAM;
	switch (cc) {
	case CURLE_OPERATION_TIMEDOUT:
		return E_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
		return E_UNAVAIL;
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return E_INVAL;
	case CURLE_OUT_OF_MEMORY:
		return E_NOMEM;
	default:
		return E_UPSTREAM;
	}
}

/* Method and URL without the query (a page token or a search is no business of a log line). */
static int fail(struct err *e, enum err_code code, const struct httpc_request *rq, const char *what)
{
	size_t url_len = strcspn(rq->url, "?#");
	if (url_len > 160)
		url_len = 160;
	return err_set(e, code, "%s %.*s: %s", rq->method, (int)url_len, rq->url, what);
}

static int scheme_allowed(const struct httpc *h, const char *url)
{
	if (strncasecmp(url, "https://", 8) == 0)
		return 1;
	return h->allow_http && strncasecmp(url, "http://", 7) == 0;
}

static int set_method(CURL *c, const struct httpc_request *rq)
{
	const char *body = rq->body ? rq->body : "";
	CURLcode cc = CURLE_OK;
	if (strcmp(rq->method, "GET") == 0 && !rq->body_len)
		return curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -1;
	if (strcmp(rq->method, "DELETE") == 0 && !rq->body_len)
		return curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE") == CURLE_OK ? 0 : -1;
	/* Everything else carries a body (possibly empty, so PUT sends Content-Length: 0). */
	cc |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
	cc |= curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (strcmp(rq->method, "POST") != 0)
		cc |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, rq->method);
	return cc == CURLE_OK ? 0 : -1;
}

int httpc_send(struct httpc *h, const struct httpc_request *rq, struct httpc_response *resp,
	       struct err *e)
{
	memset(resp, 0, sizeof(*resp));
	if (!rq->method || !rq->url)
		return err_set(e, E_INVAL, "http request without method or URL");
	if (!scheme_allowed(h, rq->url))
		return fail(e, E_INVAL, rq,
			    h->allow_http ? "not an http(s) URL" : "only https is allowed");

	CURL *c = h->curl;
	struct exchange x = {.h = h};
	struct curl_slist *hdrs = NULL;
	int rc = E_OK;
	/* Reset keeps the connection cache, so the next request to the host reuses it. */
	curl_easy_reset(c);
	for (size_t i = 0; i < rq->n_headers; i++) {
		struct curl_slist *n = curl_slist_append(hdrs, rq->headers[i]);
		if (!n) {
			rc = fail(e, E_NOMEM, rq, "out of memory");
			goto out;
		}
		hdrs = n;
	}
	/* Large batch bodies would otherwise wait a second for 100 Continue. */
	struct curl_slist *n = curl_slist_append(hdrs, "Expect:");
	if (!n) {
		rc = fail(e, E_NOMEM, rq, "out of memory");
		goto out;
	}
	hdrs = n;

	CURLcode cc = CURLE_OK;
	h->errbuf[0] = '\0';
	cc |= curl_easy_setopt(c, CURLOPT_URL, rq->url);
	cc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, h->allow_http ? "http,https" : "https");
	cc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	cc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	cc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	cc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->ca_file)
		cc |= curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
	long cto = h->connect_timeout_ms, to = h->timeout_ms;
	if (rq->timeout_ms > 0 && rq->timeout_ms < to)
		to = rq->timeout_ms;
	if (cto > to)
		cto = to;
	cc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cto);
	cc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, to);
	cc |= curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	cc |= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	cc |= curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
	cc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	cc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
	cc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	cc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, &x);
	cc |= curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	cc |= curl_easy_setopt(c, CURLOPT_HEADERDATA, &x);
	if (cc != CURLE_OK || set_method(c, rq)) {
		rc = fail(e, E_INTERNAL, rq, "cannot set up the request");
		goto out;
	}

	cc = curl_easy_perform(c);
	if (cc != CURLE_OK) {
		char what[CURL_ERROR_SIZE + 64];
		if (x.too_big)
			snprintf(what, sizeof(what), "response body over %zu bytes",
				 h->max_body_bytes);
		else
			snprintf(what, sizeof(what), "%s",
				 h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc));
		rc = fail(e, map_curl(cc, &x), rq, what);
		goto out;
	}
	long status = 0;
	curl_off_t total_us = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME_T, &total_us);
	if (!x.body) {
		x.body = calloc(1, 1);
		if (!x.body) {
			rc = fail(e, E_NOMEM, rq, "out of memory");
			goto out;
		}
	}
	resp->status = status;
	resp->body = x.body;
	resp->body_len = x.len;
	resp->headers = x.headers;
	resp->n_headers = x.n_headers;
	resp->elapsed_ms = (long)(total_us / 1000);
	x.body = NULL;
	x.headers = NULL;
	x.n_headers = 0;
out:
	/* The request headers may carry a bearer token: let curl forget them now. */
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	for (struct curl_slist *l = hdrs; l; l = l->next)
		explicit_bzero(l->data, strlen(l->data));
	curl_slist_free_all(hdrs);
	if (x.body)
		explicit_bzero(x.body, x.len);
	free(x.body);
	headers_free(x.headers, x.n_headers);
	return rc;
}

int httpc_urlencode(const char *s, char **out, struct err *e)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *p = malloc(n * 3 + 1);
	*out = NULL;
	if (!p)
		return err_set(e, E_NOMEM, "url encoding");
	char *w = p;
	for (const unsigned char *r = (const unsigned char *)s; *r; r++) {
		unsigned char c = *r;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			*w++ = (char)c;
		} else {
			*w++ = '%';
			*w++ = hex[c >> 4];
			*w++ = hex[c & 15];
		}
	}
	*w = '\0';
	*out = p;
	return E_OK;
}
