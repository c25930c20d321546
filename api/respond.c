#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "crypto.h"
#include "json_put.h"
#include "log.h"
#include "utf8.h"
#include "validate.h"

/*
 * A cursor is the sort key of the last item shown (an id or a sequence number); each list then
 * checks it is its kind of key. The characters are those of directory ids, which include
 * those of UUIDs and numbers, so a cursor needs no escaping in a query string.
 */
static int cursor_well_formed(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (!isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
			return 0;
	}
	return 1;
}

void api_json_put(json_object *obj, const char *key, json_object *val)
{
	(void)json_put(obj, key, val);
}

void api_json_put_str(json_object *obj, const char *key, const char *s)
{
	if (s && *s)
		api_json_put(obj, key, json_object_new_string(s));
}

void api_json_put_or_null(json_object *obj, const char *key, json_object *val)
{
	if (!val)
		json_object_object_add(obj, key, NULL);
	else
		(void)json_put(obj, key, val);
}

void api_json_put_str_or_null(json_object *obj, const char *key, const char *s)
{
	api_json_put_or_null(obj, key, s && *s ? json_object_new_string(s) : NULL);
}

void api_json_put_int_or_null(json_object *obj, const char *key, int v)
{
	api_json_put_or_null(obj, key, v >= 0 ? json_object_new_int(v) : NULL);
}

json_object *api_json_error(const char *reason, const char *message)
{
	if (!reason[0] && !message[0])
		return NULL;
	json_object *er = json_object_new_object();
	api_json_put_str(er, "reason", reason);
	api_json_put_str(er, "message", message);
	return er;
}

void api_reply_json(struct api_response *rs, int status, json_object *jo)
{
	size_t n = 0;
	const char *s = jo ? json_object_to_json_string_length(jo, JSON_C_TO_STRING_PLAIN, &n)
			   : NULL;
	char *body = s ? strndup(s, n) : NULL;
	json_object_put(jo);
	if (!body) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	free(rs->body);
	rs->status = status;
	rs->body = body;
	rs->len = n;
	rs->content_type = "application/json";
}

void api_reply_problem(struct api_response *rs, const struct problem *p, const char *extra_json)
{
	free(rs->body);
	rs->body = problem_render(p, extra_json, &rs->len);
	rs->status = p->status;
	rs->content_type = "application/problem+json";
	if (!rs->body) {
		/* Out of memory: a fixed body still tells the client what happened. */
		static const char fallback[] = "{\"type\":\"" PROBLEM_TYPE_PREFIX "internal\","
					       "\"title\":\"Internal error\",\"status\":500}";
		rs->body = strdup(fallback);
		rs->len = rs->body ? strlen(fallback) : 0;
		rs->status = 500;
	}
}

void api_reply_error(struct api_response *rs, int status, const char *slug, const char *title,
		     const char *fmt, ...)
{
	struct problem p;
	p.status = status;
	p.slug = slug;
	p.title = title;
	p.n_errors = 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p.detail, sizeof(p.detail), fmt, ap);
	va_end(ap);
	if (status == 412 && rs->if_match_weak)
		snprintf(p.detail, sizeof(p.detail),
			 "If-Match compares entity tags strongly: a weak one (W/) never matches; send "
			 "the ETag as returned, such as \"3\"");
	api_reply_problem(rs, &p, NULL);
}

void api_reply_err(struct api_response *rs, const struct err *e)
{
	if (e->code != E_NOTFOUND && e->code != E_CONFLICT && e->code != E_INVAL &&
	    e->code != E_PRECONDITION)
		log_write(LOG_ERROR, "api", "request_failed", e->msg,
			  (struct log_field[]){LOG_STR("err", err_code_name(e->code)),
					       LOG_STR("reason", e->reason)},
			  2);
	switch (e->code) {
	case E_NOTFOUND:
		api_reply_error(rs, 404, "not-found", "Not found", "%s", e->msg);
		return;
	case E_CONFLICT:
		/* A job or preview asked of an integration that is not active (store_jobs.h). */
		if (!strcmp(e->reason, "integration_not_active"))
			api_reply_error(rs, 409, "integration-not-active", "Integration not active",
					"%s", e->msg);
		else
			api_reply_error(rs, 409, "conflict", "Conflict", "%s", e->msg);
		return;
	case E_PRECONDITION:
		api_reply_error(rs, 412, "precondition-failed", "Precondition failed", "%s", e->msg);
		return;
	case E_INVAL:
		api_reply_error(rs, 400, "validation", "Invalid request", "%s", e->msg);
		return;
	case E_UNAVAIL:
	case E_TIMEOUT:
		/* The detail of an outage is logged, not shown: it names internal hosts. */
		api_reply_error(rs, 503, "unavailable", "Service unavailable",
				"a backing service is unavailable; retry later");
		return;
	default:
		api_reply_error(rs, 500, "internal", "Internal error",
				"the request failed; see the server log for request id");
		return;
	}
}

int api_media_type_ok(const char *ct)
{
	if (!ct)
		return 0;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, "; \t");
	if (!((n == 16 && strncasecmp(ct, "application/json", 16) == 0) ||
	      (n == 28 && strncasecmp(ct, "application/merge-patch+json", 28) == 0)))
		return 0;
	/* Parameters: JSON is UTF-8 (RFC 8259 §8.1), so a charset may only say so. */
	for (const char *p = ct + n; *p;) {
		p += strspn(p, "; \t");
		size_t name = strcspn(p, "=;");
		const char *v = p + name + (p[name] == '=');
		size_t vlen = strcspn(v, ";");
		while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
			v++;
			vlen -= 2;
		}
		if (name == 7 && strncasecmp(p, "charset", 7) == 0 &&
		    !((vlen == 5 && strncasecmp(v, "utf-8", 5) == 0) ||
		      (vlen == 4 && strncasecmp(v, "utf8", 4) == 0)))
			return 0;
		p = v + strcspn(v, ";");
	}
	return 1;
}

int api_body_none(struct api_request *rq, struct api_response *rs)
{
	if (!rq->body_len || strspn(rq->body, " \t\r\n") == rq->body_len)
		return 0;
	json_object *body = api_body_object(rq, rs);
	if (!body)
		return -1;
	int fields = json_object_object_length(body);
	json_object_put(body);
	if (fields) {
		api_reply_error(rs, 400, "validation", "Invalid request", "this request takes no body");
		return -1;
	}
	return 0;
}

/*
 * json-c keeps a string's length but C code reads strings up to the first NUL, so "a\u0000b"
 * would be seen as "a". Such strings are refused with the pointer of the first one.
 */
static int find_nul_string(json_object *jo, char *ptr, size_t cap)
{
	size_t base = strlen(ptr);
	if (json_object_is_type(jo, json_type_string))
		return strlen(json_object_get_string(jo)) != (size_t)json_object_get_string_len(jo);
	if (json_object_is_type(jo, json_type_object)) {
		json_object_object_foreach(jo, key, val)
		{
			snprintf(ptr + base, cap - base, "/%s", key);
			if (find_nul_string(val, ptr, cap))
				return 1;
		}
	} else if (json_object_is_type(jo, json_type_array)) {
		size_t n = json_object_array_length(jo);
		for (size_t i = 0; i < n; i++) {
			snprintf(ptr + base, cap - base, "/%zu", i);
			if (find_nul_string(json_object_array_get_idx(jo, i), ptr, cap))
				return 1;
		}
	}
	ptr[base] = '\0';
	return 0;
}

json_object *api_body_object(struct api_request *rq, struct api_response *rs)
{
	if (!api_media_type_ok(rq->content_type)) {
		api_reply_error(rs, 415, "unsupported-media-type", "Unsupported media type",
				"send the body as application/json (charset utf-8, if any)");
		return NULL;
	}
	/*
	 * Before json-c, which would turn a lone surrogate into U+FFFD, keep bytes not UTF-8 and keep
	 * the last of two members with the same name. A repeated name is reported once the text is
	 * known to be JSON (a body cut short is malformed first).
	 */
	char bad[256];
	size_t bad_at;
	enum json_text_fault fault =
		json_text_check(rq->body, rq->body_len, bad, sizeof(bad), &bad_at);
	if (fault == JSON_TEXT_BAD_UNICODE) {
		struct problem p;
		problem_set(&p, 400, "validation", "Invalid request",
			    "a string is not valid Unicode (byte %zu)", bad_at);
		problem_add_error(&p, bad, JSON_TEXT_UNICODE_RULE);
		api_reply_problem(rs, &p, NULL);
		return NULL;
	}
	if (fault == JSON_TEXT_NOMEM) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return NULL;
	}
	json_tokener *tok = json_tokener_new_ex(rq->ctx->cfg->json_max_depth);
	if (!tok) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *jo = json_tokener_parse_ex(tok, rq->body, (int)rq->body_len);
	enum json_tokener_error jerr = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/*
		 * A bare literal or number (null, 5) may go on as far as json-c knows: the end of the
		 * text, a NUL, finishes it, so it is refused below as what it is, not an object.
		 */
		json_object *whole = json_tokener_parse_ex(tok, "", 1);
		if (json_tokener_get_error(tok) == json_tokener_success) {
			jo = whole;
			jerr = json_tokener_success;
		}
	}
	if (jerr == json_tokener_continue) {
		/* The text ended inside a value: report the end of the body as the position. */
		api_reply_error(rs, 400, "malformed-json", "Malformed JSON",
				"the body ends inside a JSON value at byte %zu", rq->body_len);
	} else if (jerr != json_tokener_success) {
		api_reply_error(rs, 400, "malformed-json", "Malformed JSON",
				"%s at byte %zu", json_tokener_error_desc(jerr), end);
	} else if (end < rq->body_len &&
		   strspn(rq->body + end, " \t\r\n") != rq->body_len - end) {
		api_reply_error(rs, 400, "malformed-json", "Malformed JSON",
				"unexpected data after the JSON value at byte %zu", end);
		json_object_put(jo);
		jo = NULL;
	} else if (!json_object_is_type(jo, json_type_object)) {
		api_reply_error(rs, 400, "malformed-json", "Malformed JSON",
				"the body must be a JSON object");
		json_object_put(jo);
		jo = NULL;
	} else if (fault == JSON_TEXT_DUPLICATE_NAME) {
		struct problem p;
		problem_set(&p, 400, "validation", "Invalid request",
			    "a member name appears twice in one object (byte %zu)", bad_at);
		problem_add_error(&p, bad, JSON_TEXT_DUPLICATE_RULE);
		api_reply_problem(rs, &p, NULL);
		json_object_put(jo);
		jo = NULL;
	} else {
		char ptr[256] = "";
		if (find_nul_string(jo, ptr, sizeof(ptr))) {
			struct problem p;
			problem_set(&p, 400, "validation", "Invalid request",
				    "a string contains a NUL character");
			problem_add_error(&p, ptr, "must not contain control characters");
			api_reply_problem(rs, &p, NULL);
			json_object_put(jo);
			jo = NULL;
		}
	}
	json_tokener_free(tok);
	return jerr == json_tokener_success ? jo : NULL;
}

int api_body_only(json_object *obj, const char *const *allowed, const char *const *readonly,
		  struct problem *p)
{
	/* What the server assigns to every resource is read-only wherever a body names it. */
	static const char *const assigned[] = {"id", "created_at", "updated_at", NULL};
	int unknown = 0;
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		if (api_one_of(key, allowed))
			continue;
		char ptr[128];
		snprintf(ptr, sizeof(ptr), "/%s", key);
		problem_add_error(p, ptr,
				  (readonly && api_one_of(key, readonly)) || api_one_of(key, assigned)
					  ? "is read-only"
					  : "unknown field");
		unknown++;
	}
	return unknown;
}

json_object *api_body_begin(struct api_request *rq, struct api_response *rs, const char *detail,
			    const char *const *allowed, const char *const *readonly,
			    struct problem *p)
{
	json_object *body = api_body_object(rq, rs);
	if (!body)
		return NULL;
	problem_set(p, 400, "validation", "Invalid request", "%s", detail);
	if (allowed)
		api_body_only(body, allowed, readonly, p);
	return body;
}

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : isxdigit(c) ? (tolower(c) - 'a' + 10) : -1;
}

int api_query_get(const struct api_request *rq, const char *name, char *buf, size_t cap)
{
	if (!rq->query)
		return 0;
	size_t nlen = strlen(name);
	const char *p = rq->query;
	while (*p) {
		const char *amp = strchr(p, '&');
		size_t plen = amp ? (size_t)(amp - p) : strlen(p);
		if (plen >= nlen && strncmp(p, name, nlen) == 0 && (plen == nlen || p[nlen] == '=')) {
			const char *v = plen == nlen ? p + plen : p + nlen + 1;
			size_t vlen = plen == nlen ? 0 : plen - nlen - 1;
			size_t o = 0;
			for (size_t i = 0; i < vlen && o + 1 < cap; i++) {
				if (v[i] == '%' && i + 2 < vlen && hexval(v[i + 1]) >= 0 &&
				    hexval(v[i + 2]) >= 0) {
					buf[o++] = (char)(hexval(v[i + 1]) * 16 + hexval(v[i + 2]));
					i += 2;
				} else {
					buf[o++] = v[i] == '+' ? ' ' : v[i];
				}
			}
			buf[o] = '\0';
			return 1;
		}
		p += plen;
		if (*p == '&')
			p++;
	}
	return 0;
}

int api_one_of(const char *s, const char *const *set)
{
	for (; *set; set++) {
		if (strcmp(s, *set) == 0)
			return 1;
	}
	return 0;
}

void api_add_one_of(struct problem *p, const char *pointer, const char *const *set)
{
	char list[256] = "";
	size_t n = 0;
	for (; *set && n < sizeof(list); set++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? ", " : "", *set);
	problem_add_error(p, pointer, "must be one of %s", list);
}

int api_query_one_of(const struct api_request *rq, struct api_response *rs, const char *name,
		     const char *const *set, char *buf, size_t cap)
{
	if (api_query_check(rq, rs)) /* whichever a list reads first */
		return -1;
	if (!api_query_get(rq, name, buf, cap))
		return 0;
	if (api_one_of(buf, set))
		return 1;
	struct problem p;
	char pointer[64];
	problem_set(&p, 400, "validation", "Invalid request", "query parameter %s is invalid",
		    name);
	snprintf(pointer, sizeof(pointer), "/query/%s", name);
	api_add_one_of(&p, pointer, set);
	api_reply_problem(rs, &p, NULL);
	return -1;
}

int api_json_integer(json_object *v, int64_t *out)
{
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 1;
	}
	if (!json_object_is_type(v, json_type_double))
		return 0;
	double d = json_object_get_double(v);
	/* Within ±2^53 a double holds integers exactly; beyond, every range here refuses it. */
	if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != (double)(int64_t)d)
		return 0;
	*out = (int64_t)d;
	return 1;
}

int api_is_uuid(const char *s)
{
	if (strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}

/* The cursor for the page after the item with this sort key (the key itself; "" if unfit). */
static void cursor_encode(const char *key, char *out, size_t cap)
{
	/* The cursor is the sort key itself: ids and numbers, all of them URL-safe. */
	if (snprintf(out, cap, "%s", key) >= (int)cap || !cursor_well_formed(out))
		out[0] = '\0';
}

void api_reply_page(struct api_response *rs, json_object *items, const char *next_after)
{
	json_object *jo = json_object_new_object();
	api_json_put(jo, "items", items);
	if (next_after) {
		char cursor[API_CURSOR_MAX * 2];
		cursor_encode(next_after, cursor, sizeof(cursor));
		api_json_put_str(jo, "next_cursor", cursor);
	}
	api_reply_json(rs, 200, jo);
}

static int cursor_invalid(struct api_response *rs)
{
	struct problem p;
	problem_set(&p, 400, "validation", "Invalid request", "query parameter cursor is invalid");
	problem_add_error(&p, "/query/cursor", "must be a cursor returned by this list");
	api_reply_problem(rs, &p, NULL);
	return -1;
}

/* A sequence-number cursor: 0 for none, the number, or -1 when after is not one. */
static int64_t cursor_seq(const char *after)
{
	if (!after[0])
		return 0;
	/* Exactly what next_cursor holds: no sign, no leading zero, a positive bigint (the lists'
	 * sequence numbers are bigints; a full_sync's group plan entries start at 2^40). */
	size_t n = strlen(after);
	if (n > 19 || after[0] == '0' || strspn(after, "0123456789") != n)
		return -1;
	errno = 0;
	long long v = strtoll(after, NULL, 10);
	return errno == ERANGE ? -1 : (int64_t)v;
}

int api_query_limit(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 3 || strspn(s, "0123456789") != n)
		return -1;
	int v = atoi(s);
	return v >= 1 && v <= 100 ? v : -1;
}

int api_query_check(const struct api_request *rq, struct api_response *rs)
{
	const char *q = rq->query;
	for (const char *p = q; p && *p; p += *p == '&') {
		size_t plen = strcspn(p, "&"), nlen = strcspn(p, "=&");
		const char *why = NULL;
		if (!plen) {
			p++; /* "&&": an empty piece names nothing */
			continue;
		} else if (nlen + 1 >= plen) {
			why = "must not be empty";
		} else {
			for (const char *o = q; o < p && !why; o += *o == '&') {
				size_t olen = strcspn(o, "=&");
				if (olen == nlen && strncmp(o, p, nlen) == 0)
					why = "is repeated; send it once";
				o += strcspn(o, "&");
			}
		}
		if (why) {
			char pointer[96];
			int shown = nlen > 64 ? 64 : (int)nlen;
			snprintf(pointer, sizeof(pointer), "/query/%.*s", shown, p);
			struct problem pr;
			problem_set(&pr, 400, "validation", "Invalid request",
				    "query parameter %s is invalid", pointer + 7);
			problem_add_error(&pr, pointer, "%s", why);
			api_reply_problem(rs, &pr, NULL);
			return -1;
		}
		p += plen;
	}
	return 0;
}

int api_page_begin(const struct api_request *rq, struct api_response *rs,
		   enum api_cursor_kind kind, struct api_page *pg)
{
	char buf[API_CURSOR_MAX * 2];
	memset(pg, 0, sizeof(*pg));
	pg->kind = kind;
	pg->limit = 20;
	if (api_query_check(rq, rs))
		return -1;
	if (api_query_get(rq, "limit", buf, sizeof(buf))) {
		int v = api_query_limit(buf);
		if (v < 0) {
			struct problem p;
			problem_set(&p, 400, "validation", "Invalid request",
				    "query parameter limit is invalid");
			problem_add_error(&p, "/query/limit", "must be an integer from 1 to 100");
			api_reply_problem(rs, &p, NULL);
			return -1;
		}
		pg->limit = (int)v;
	}
	pg->fetch = pg->limit + 1;
	if (!api_query_get(rq, "cursor", buf, sizeof(buf)))
		return 0;
	if (!cursor_well_formed(buf) || strlen(buf) >= API_CURSOR_MAX)
		return cursor_invalid(rs);
	memcpy(pg->after, buf, strlen(buf) + 1);
	int ok = kind == API_CURSOR_ID	 ? validate_directory_id(buf)
		 : kind == API_CURSOR_UUID ? api_is_uuid(buf)
					   : (pg->seq = cursor_seq(buf)) >= 0;
	return ok ? 0 : cursor_invalid(rs);
}

const char *api_page_after(const struct api_page *pg)
{
	return pg->after[0] ? pg->after : NULL;
}

void api_reply_rows(struct api_response *rs, const struct api_page *pg, int rc, const void *rows,
		    size_t size, size_t key_off, api_row_json_fn *row_json, const void *arg)
{
	if (rc) {
		api_reply_err(rs, &pg->e);
		return;
	}
	size_t n = pg->n;
	size_t shown = n < (size_t)pg->limit ? n : (size_t)pg->limit;
	json_object *items = json_object_new_array();
	for (size_t i = 0; i < shown; i++)
		json_object_array_add(items, row_json((const char *)rows + i * size, arg));
	char seq[24];
	const char *next = NULL;
	if (n > shown && shown) {
		const char *key = (const char *)rows + (shown - 1) * size + key_off;
		if (pg->kind == API_CURSOR_SEQ) {
			int64_t v;
			memcpy(&v, key, sizeof(v));
			snprintf(seq, sizeof(seq), "%lld", (long long)v);
			next = seq;
		} else {
			next = key;
		}
	}
	api_reply_page(rs, items, next);
}

int api_if_match(const struct api_request *rq, struct api_response *rs, int64_t *version)
{
	*version = -1;
	const char *h = rq->if_match;
	if (!h)
		return 0;
	if (strcmp(h, "*") == 0)
		return 0;
	/*
	 * Only what this API hands out: "*" or an ETag "N", N a version without sign or leading
	 * zero. Anything else is a malformed header (400), not a version that differs. A weak tag
	 * W/"N" is well formed but If-Match compares strongly (RFC 9110 §13.1.1): it never matches.
	 */
	int weak = strncmp(h, "W/", 2) == 0;
	if (weak)
		h += 2;
	size_t digits = h[0] == '"' ? strspn(h + 1, "0123456789") : 0;
	if (digits < 1 || digits > 18 || h[1] == '0' || strcmp(h + 1 + digits, "\"") != 0) {
		struct problem p;
		problem_set(&p, 400, "validation", "Invalid request", "header If-Match is invalid");
		problem_add_error(&p, "/header/If-Match",
				  "must be * or an ETag this API returned, such as \"3\"");
		api_reply_problem(rs, &p, NULL);
		return -1;
	}
	if (weak) {
		rs->if_match_weak = true;
		*version = API_VERSION_NEVER;
		return 0;
	}
	*version = strtoll(h + 1, NULL, 10);
	return 0;
}

void api_set_etag(struct api_response *rs, int64_t version)
{
	snprintf(rs->etag, sizeof(rs->etag), "\"%lld\"", (long long)version);
}

struct store_actor api_actor(const struct api_request *rq, const char *action)
{
	struct store_actor a = {.key_id = rq->who.key_id, .request_id = rq->req_id, .action = action};
	return a;
}
