#include "google_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "crypto.h"
#include "google_error.h"
#include "google_int.h"
#include "httpc.h"

#define BOUNDARY_MAX 70 /* RFC 2046 */

void google_batch_items_cleanup(struct google_batch_item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(items[i].resp_body);
		items[i].resp_body = NULL;
		items[i].resp_len = 0;
		items[i].status = 0;
		items[i].retryable = 0;
		err_clear(&items[i].e);
	}
}

static int path_ok(const char *p)
{
	if (!p || p[0] != '/')
		return 0;
	for (; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return 0;
	}
	return 1;
}

int google_batch_build(const struct google_batch_item *items, const size_t *idx, size_t n,
		       const char *boundary, const char *tag, char **out, size_t *len,
		       struct err *e)
{
	*out = NULL;
	*len = 0;
	if (n == 0 || n > GOOGLE_BATCH_MAX || !boundary || strlen(boundary) > BOUNDARY_MAX ||
	    !tag || strlen(tag) > GOOGLE_BATCH_TAG_MAX)
		return err_set(e, E_INVAL, "batch: 1..%d calls", GOOGLE_BATCH_MAX);
	size_t cap = strlen(boundary) + 8;
	for (size_t k = 0; k < n; k++) {
		const struct google_batch_item *it = &items[idx ? idx[k] : k];
		if (google_method_index(it->method) == GOOGLE_METHOD_N || !path_ok(it->path))
			return err_set(e, E_INVAL, "batch call %zu: bad method or path", k);
		cap += 256 + strlen(boundary) + strlen(tag) + strlen(it->path) +
		       (it->body ? strlen(it->body) : 0);
	}
	char *buf = malloc(cap);
	if (!buf)
		return err_set(e, E_NOMEM, "batch");
	size_t w = 0;
	for (size_t k = 0; k < n; k++) {
		size_t i = idx ? idx[k] : k;
		const struct google_batch_item *it = &items[i];
		w += (size_t)snprintf(buf + w, cap - w,
				      "--%s\r\nContent-Type: application/http\r\n"
				      "Content-ID: <item%zu:%s@gwsync>\r\n\r\n%s %s HTTP/1.1\r\n",
				      boundary, i, tag, it->method, it->path);
		if (it->body)
			w += (size_t)snprintf(buf + w, cap - w,
					      "Content-Type: application/json; charset=UTF-8\r\n"
					      "\r\n%s\r\n",
					      it->body);
		else
			w += (size_t)snprintf(buf + w, cap - w, "\r\n");
	}
	w += (size_t)snprintf(buf + w, cap - w, "--%s--\r\n", boundary);
	*out = buf;
	*len = w;
	return E_OK;
}

/* The boundary parameter of a multipart content type into out (cap bytes); -1 when none. */
static int boundary_of(const char *ctype, char *out, size_t cap)
{
	if (!ctype || strncasecmp(ctype, "multipart/", 10) != 0)
		return -1;
	const char *b = strcasestr(ctype, "boundary=");
	if (!b)
		return -1;
	b += 9;
	size_t n;
	if (*b == '"') {
		b++;
		n = strcspn(b, "\"");
	} else {
		n = strcspn(b, "; \t\r\n");
	}
	if (n == 0 || n >= cap || n > BOUNDARY_MAX)
		return -1;
	memcpy(out, b, n);
	out[n] = '\0';
	return 0;
}

/* End of the line starting at p (the first byte after its LF), or end. */
static const char *next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl + 1 : end;
}

/* Length of a line without its CRLF / LF. */
static size_t line_len(const char *p, const char *next)
{
	size_t n = (size_t)(next - p);
	if (n && p[n - 1] == '\n')
		n--;
	if (n && p[n - 1] == '\r')
		n--;
	return n;
}

/* Finds header name in the header block [p, end) (up to a blank line); value into out. Returns the
 * first byte after the blank line through *after. */
static int header_block(const char *p, const char *end, const char *name, char *out, size_t cap,
			const char **after)
{
	size_t name_len = strlen(name);
	int found = 0;
	out[0] = '\0';
	while (p < end) {
		const char *nx = next_line(p, end);
		size_t n = line_len(p, nx);
		if (n == 0) {
			*after = nx;
			return found;
		}
		if (!found && n > name_len && strncasecmp(p, name, name_len) == 0 &&
		    p[name_len] == ':') {
			const char *v = p + name_len + 1;
			const char *ve = p + n;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			size_t vn = (size_t)(ve - v);
			if (vn >= cap)
				vn = cap - 1;
			memcpy(out, v, vn);
			out[vn] = '\0';
			found = 1;
		}
		p = nx;
	}
	*after = end;
	return found;
}

/* "<response-item12:tag@gwsync>" → 12 when the tag matches; -1 otherwise. */
static long item_index(const char *cid, const char *tag)
{
	const char *p = cid;
	if (*p == '<')
		p++;
	if (strncmp(p, "response-", 9) != 0)
		return -1;
	p += 9;
	if (strncmp(p, "item", 4) != 0)
		return -1;
	p += 4;
	char *endp = NULL;
	if (*p < '0' || *p > '9')
		return -1;
	long i = strtol(p, &endp, 10);
	if (!endp || *endp != ':' || i < 0)
		return -1;
	p = endp + 1;
	size_t tl = strlen(tag);
	if (strncmp(p, tag, tl) != 0 || strncmp(p + tl, "@gwsync", 7) != 0)
		return -1;
	p += tl + 7;
	if (*p == '>')
		p++;
	return *p ? -1 : i;
}

/* Fills it from one part's content [p, end): outer headers, status line, headers, body. */
static int parse_part(const char *p, const char *end, const char *tag,
		      struct google_batch_item *items, size_t n_items)
{
	char cid[160];
	const char *inner;
	if (!header_block(p, end, "Content-ID", cid, sizeof(cid), &inner))
		return 0;
	long i = item_index(cid, tag);
	if (i < 0 || (size_t)i >= n_items)
		return 0;
	const char *nx = next_line(inner, end);
	size_t n = line_len(inner, nx);
	int status = 0;
	char line[64];
	snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1), inner);
	if (sscanf(line, "HTTP/%*s %d", &status) != 1 || status < 100 || status > 599)
		return 0;
	char dummy[8];
	const char *body = end;
	header_block(nx, end, "X-None", dummy, sizeof(dummy), &body);
	struct google_batch_item *it = &items[i];
	free(it->resp_body);
	it->resp_body = NULL;
	it->resp_len = 0;
	err_clear(&it->e);
	it->status = status;
	it->retryable = 0;
	if (body < end) {
		it->resp_len = (size_t)(end - body);
		it->resp_body = malloc(it->resp_len + 1);
		if (!it->resp_body) {
			it->resp_len = 0;
			it->status = 0;
			err_set(&it->e, E_NOMEM, "batch part");
			return 1;
		}
		memcpy(it->resp_body, body, it->resp_len);
		it->resp_body[it->resp_len] = '\0';
	}
	struct google_error ge;
	google_error_classify(status, it->resp_body, it->resp_len, &ge);
	if (ge.code == E_OK && google_expects_json(it->method, it->path))
		google_answer_check(status, it->resp_body, it->resp_len, &ge);
	if (ge.code != E_OK) {
		google_error_to_err(&ge, &it->e);
		it->retryable = ge.retryable;
	}
	return 1;
}

int google_batch_parse(const char *content_type, const char *body, size_t len, const char *tag,
		       struct google_batch_item *items, size_t n_items, struct err *e)
{
	char boundary[BOUNDARY_MAX + 1];
	char delim[BOUNDARY_MAX + 4];
	if (boundary_of(content_type, boundary, sizeof(boundary)))
		return err_set(e, E_UPSTREAM, "batch answer is not multipart"), -1;
	int dn = snprintf(delim, sizeof(delim), "--%s", boundary);
	const char *end = body + len;
	/* The first delimiter may start the body or follow a preamble. */
	const char *p = body;
	if (!(len >= (size_t)dn && memcmp(body, delim, (size_t)dn) == 0)) {
		p = memmem(body, len, delim, (size_t)dn);
		while (p && p > body && p[-1] != '\n')
			p = memmem(p + 1, (size_t)(end - p - 1), delim, (size_t)dn);
		if (!p)
			return err_set(e, E_UPSTREAM, "batch answer without parts"), -1;
	}
	int matched = 0;
	for (;;) {
		p += dn;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break; /* closing delimiter */
		p = next_line(p, end);
		/* The part ends at the CRLF (or LF) before the next delimiter line. */
		const char *q = p;
		const char *next = NULL;
		while (q < end) {
			const char *hit = memmem(q, (size_t)(end - q), delim, (size_t)dn);
			if (!hit)
				break;
			if (hit == body || hit[-1] == '\n') {
				next = hit;
				break;
			}
			q = hit + 1;
		}
		if (!next)
			return err_set(e, E_UPSTREAM, "batch answer: unterminated part"), -1;
		const char *pe = next;
		if (pe > p && pe[-1] == '\n')
			pe--;
		if (pe > p && pe[-1] == '\r')
			pe--;
		matched += parse_part(p, pe, tag, items, n_items);
		p = next;
	}
	return matched;
}

int google_batch(struct google_client *gc, struct google_batch_item *items, size_t n, struct err *e)
{
	if (n == 0 || n > GOOGLE_BATCH_MAX)
		return err_set(e, E_INVAL, "batch: 1..%d calls", GOOGLE_BATCH_MAX);
	google_batch_items_cleanup(items, n);
	size_t *pending = malloc(n * sizeof(*pending));
	if (!pending)
		return err_set(e, E_NOMEM, "batch");
	size_t n_pending = n;
	for (size_t i = 0; i < n; i++)
		pending[i] = i;
	const struct google_retry_policy *policy = google_client_retry_policy(gc);
	long long start = google_client_now_ms(gc);
	long limited_ms = 0; /* waits for the rate limit: not time spent retrying */
	int rc = E_OK;
	for (int round = 1;; round++) {
		char boundary[48] = "batch_", tag[GOOGLE_BATCH_TAG_MAX + 1];
		char ctype[128];
		char *body = NULL;
		size_t body_len = 0;
		struct httpc_response resp;
		if (crypto_random_hex(boundary + 6, 16) || crypto_random_hex(tag, 8)) {
			rc = err_set(e, E_INTERNAL, "batch: no random bytes");
			break;
		}
		rc = google_batch_build(items, pending, n_pending, boundary, tag, &body, &body_len,
					e);
		if (rc)
			break;
		snprintf(ctype, sizeof(ctype), "multipart/mixed; boundary=%s", boundary);
		/* A batch that timed out is sent again only when none of its parts creates. */
		int idempotent = 1;
		for (size_t k = 0; k < n_pending; k++)
			idempotent = idempotent && strcmp(items[pending[k]].method, "POST") != 0;
		struct google_exchange x = {.method = "POST",
					    .path = GOOGLE_BATCH_PATH,
					    .content_type = ctype,
					    .body = body,
					    .body_len = body_len,
					    .cost = (unsigned)n_pending,
					    .idempotent = idempotent,
					    .limited_ms = &limited_ms};
		struct err send_e = {0};
		rc = google_send(gc, &x, &resp, &send_e);
		free(body);
		if (rc && round > 1) {
			/* Earlier rounds' results stand; the calls still pending get this error. */
			for (size_t k = 0; k < n_pending; k++)
				items[pending[k]].e = send_e;
			rc = E_OK;
			break;
		}
		if (rc) {
			if (e)
				*e = send_e;
			break;
		}
		int matched = google_batch_parse(httpc_response_header(&resp, "Content-Type"),
						 resp.body, resp.body_len, tag, items, n, e);
		httpc_response_cleanup(&resp);
		if (matched < 0) {
			rc = E_UPSTREAM;
			break;
		}
		/* Which of the calls sent this round must go again? */
		size_t n_again = 0;
		int limited = 0;
		for (size_t k = 0; k < n_pending; k++) {
			struct google_batch_item *it = &items[pending[k]];
			if (it->status == 0 && it->e.code == E_OK) {
				err_set(&it->e, E_UPSTREAM,
					"batch answer has no part for this call");
				it->retryable = 1;
			}
			if (it->e.code == E_RATELIMIT)
				limited = 1;
			if (it->retryable)
				pending[n_again++] = pending[k];
		}
		google_client_count_batch(gc, n_pending, limited);
		if (limited)
			google_ratelimit_on_limited(google_client_ratelimit(gc));
		n_pending = n_again;
		if (!n_pending)
			break;
		long delay = google_retry_delay_ms(policy, round, -1);
		long elapsed = (long)(google_client_now_ms(gc) - start) - limited_ms;
		long left = google_deadline_left_ms();
		if (!google_retry_allowed(policy, round, elapsed, delay) || (left >= 0 && delay >= left))
			break;
		google_client_sleep(gc, delay);
	}
	free(pending);
	if (rc)
		google_batch_items_cleanup(items, n);
	return rc;
}
