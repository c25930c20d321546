/* SPDX-License-Identifier: MIT */
/* gws-emulator: multipart/mixed batch requests, each part routed like a normal request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu.h"

#define BATCH_MAX 1000

const char *emu_status_text(int status);

const char *emu_status_text(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Payload Too Large";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "Unknown";
	}
}

static char *boundary_of(const char *ctype)
{
	if (!ctype || strncasecmp(ctype, "multipart/mixed", 15))
		return NULL;
	const char *b = strcasestr(ctype, "boundary=");

	if (!b)
		return NULL;
	b += 9;
	if (*b == '"') {
		const char *e = strchr(b + 1, '"');

		return e ? xstrndup(b + 1, (size_t)(e - b - 1)) : NULL;
	}
	size_t n = strcspn(b, "; \t");

	return n ? xstrndup(b, n) : NULL;
}

/* Finds the end of a header block: returns a pointer to the body, or NULL. */
static const char *headers_end(const char *s, const char *end)
{
	for (const char *p = s; p < end; p++) {
		if (p + 3 < end && !memcmp(p, "\r\n\r\n", 4))
			return p + 4;
		if (p + 1 < end && !memcmp(p, "\n\n", 2))
			return p + 2;
	}
	return NULL;
}

/* Returns the value of header name within [s, end) (owned), or NULL. */
static char *header_get(const char *s, const char *end, const char *name)
{
	size_t nl = strlen(name);

	for (const char *p = s; p < end;) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *le = eol ? eol : end;

		if ((size_t)(le - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = le;

			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			return xstrndup(v, (size_t)(ve - v));
		}
		p = eol ? eol + 1 : end;
	}
	return NULL;
}

struct part {
	const char *s;
	const char *e;
};

static void run_part(struct emu *em, struct emu_req *outer, const struct part *pt,
		     struct buf *out, const char *bnd)
{
	const char *body = headers_end(pt->s, pt->e);
	char *cid = header_get(pt->s, body ? body : pt->e, "Content-ID");
	struct emu_req rq;
	struct emu_resp rs;

	memset(&rq, 0, sizeof(rq));
	emu_resp_init(&rs);
	buf_addf(out, "--%s\r\nContent-Type: application/http\r\n", bnd);
	if (cid) {
		if (cid[0] == '<')
			buf_addf(out, "Content-ID: <response-%s\r\n", cid + 1);
		else
			buf_addf(out, "Content-ID: response-%s\r\n", cid);
	}
	buf_adds(out, "\r\n");
	/* the inner request: request line, headers, blank line, body */
	const char *ib = body;
	const char *ihe = ib ? headers_end(ib, pt->e) : NULL;
	const char *ie = pt->e;

	if (!ib) {
		emu_err(&rs, 400, "badRequest", "Bad Request");
		goto write;
	}
	const char *eol = memchr(ib, '\n', (size_t)(pt->e - ib));

	if (!eol) {
		emu_err(&rs, 400, "badRequest", "Bad Request");
		goto write;
	}
	char *line = xstrndup(ib, (size_t)(eol - ib));
	char method[16] = "", url[4096] = "";

	if (sscanf(line, "%15s %4095s", method, url) != 2) {
		free(line);
		emu_err(&rs, 400, "badRequest", "Bad Request");
		goto write;
	}
	free(line);
	const char *path = url;

	if (!strncmp(path, "http://", 7) || !strncmp(path, "https://", 8)) {
		path = strchr(strstr(path, "//") + 2, '/');
		if (!path)
			path = "/";
	}
	const char *q = strchr(path, '?');

	rq.method = method;
	rq.path = q ? xstrndup(path, (size_t)(q - path)) : xstrdup(path);
	rq.query = q ? xstrdup(q + 1) : NULL;
	rq.batch_part = true;
	const char *hs = eol + 1;
	const char *he = ihe ? ihe : ie;

	rq.authz = header_get(hs, he, "Authorization");
	if (!rq.authz && outer->authz)
		rq.authz = xstrdup(outer->authz);
	rq.ctype = header_get(hs, he, "Content-Type");
	if (ihe) {
		/* strip the CRLF that precedes the next delimiter */
		while (ie > ihe && (ie[-1] == '\n' || ie[-1] == '\r'))
			ie--;
		rq.body = ihe;
		rq.body_len = (size_t)(ie - ihe);
	}
	emu_dispatch(em, &rq, &rs);
write:
	buf_addf(out, "HTTP/1.1 %d %s\r\n", rs.status, emu_status_text(rs.status));
	if (rs.ctype[0] && rs.body.len)
		buf_addf(out, "Content-Type: %s\r\n", rs.ctype);
	if (rs.hdrs.len)
		buf_add(out, rs.hdrs.p, rs.hdrs.len);
	buf_addf(out, "Content-Length: %zu\r\n\r\n", rs.body.len);
	if (rs.body.len)
		buf_add(out, rs.body.p, rs.body.len);
	buf_adds(out, "\r\n");
	free(cid);
	emu_req_cleanup(&rq);
	emu_resp_cleanup(&rs);
}

void emu_batch(struct emu *em, struct emu_req *rq, struct emu_resp *rs)
{
	char *bnd = boundary_of(rq->ctype);
	struct part *parts = NULL;
	size_t n = 0;

	if (strcmp(rq->method, "POST")) {
		emu_err(rs, 405, "badRequest", "Bad Request");
		goto out;
	}
	if (!bnd || !rq->body) {
		emu_err(rs, 400, "badRequest", "Bad Request");
		goto out;
	}
	/* split on delimiter lines */
	size_t bl = strlen(bnd);
	char *delim = xmalloc(bl + 3);

	snprintf(delim, bl + 3, "--%s", bnd);
	const char *s = rq->body;
	const char *end = rq->body + rq->body_len;
	const char *cur = NULL;
	bool closed = false;

	while (s < end) {
		const char *d = memmem(s, (size_t)(end - s), delim, bl + 2);

		if (!d)
			break;
		if (cur) {
			parts = xrealloc(parts, (n + 1) * sizeof(*parts));
			parts[n].s = cur;
			parts[n].e = d;
			n++;
		}
		const char *after = d + bl + 2;

		if (after + 1 < end + 1 && after + 2 <= end && !memcmp(after, "--", 2)) {
			closed = true;
			break;
		}
		while (after < end && *after != '\n')
			after++;
		cur = after < end ? after + 1 : end;
		s = cur;
	}
	free(delim);
	if (!closed && n == 0) {
		emu_err(rs, 400, "badRequest", "Bad Request");
		goto out;
	}
	if (n > BATCH_MAX) {
		emu_err(rs, 400, "badRequest",
			"Too many requests in batch. A batch request may contain at most 1000 "
			"calls.");
		goto out;
	}
	/* an invalid outer credential fails the whole batch */
	if (rq->authz) {
		const char *a = rq->authz;
		bool bad = strncasecmp(a, "Bearer ", 7) != 0;

		pthread_mutex_lock(&em->mu);
		if (!bad) {
			struct emu_token *t = map_get(&em->tokens, a + 7);

			bad = !t || t->revoked || t->is_refresh || t->exp_ms <= now_ms();
		}
		pthread_mutex_unlock(&em->mu);
		if (bad) {
			emu_err_esf(rs, 401, "authError",
				    "Request had invalid authentication credentials. Expected OAuth 2 "
				    "access token, login cookie or other valid authentication "
				    "credential. See "
				    "https://developers.google.com/identity/sign-in/web/"
				    "devconsole-project.",
				    "Invalid Credentials", "UNAUTHENTICATED", "Authorization", "header");
			goto out;
		}
	}
	char rb[40];
	struct buf out;

	buf_init(&out);
	rand_token(rb, 20);
	for (char *c = rb; *c; c++)
		if (*c == '-')
			*c = 'x';
	char obnd[64];

	snprintf(obnd, sizeof(obnd), "batch_%s", rb);
	for (size_t i = 0; i < n; i++)
		run_part(em, rq, &parts[i], &out, obnd);
	buf_addf(&out, "--%s--\r\n", obnd);
	rs->status = 200;
	buf_cleanup(&rs->body);
	rs->body = out;
	snprintf(rs->ctype, sizeof(rs->ctype), "multipart/mixed; boundary=%s", obnd);
out:
	free(parts);
	free(bnd);
}
