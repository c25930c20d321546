#include "google_error.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "oauth.h"

enum {
	RETRY = 1,
	RATE = 2,
	REFRESH = 4,
};

/*
 * One row per row of API-NOTES §6.2 (and §6.3's do-not-retry list); the first match wins.
 * status_lo..status_hi, reason (NULL: any) and a message substring (NULL: any).
 */
static const struct rule {
	int status_lo, status_hi;
	const char *reason;
	const char *message;
	enum err_code code;
	int flags;
} rules[] = {
	/* 412 right after users.insert: Google is still creating the user. */
	{412, 412, "conditionNotMet", "User creation is not complete", E_UNAVAIL, RETRY},
	{400, 412, "conditionNotMet", "Cyclic memberships not allowed", E_INVAL, 0},
	{412, 412, "adminCannotUnsuspend", NULL, E_PRECONDITION, 0},
	{412, 412, NULL, NULL, E_PRECONDITION, 0},
	/* 403 is both "slow down" and "not allowed": the reason tells them apart. */
	{403, 403, "userRateLimitExceeded", NULL, E_RATELIMIT, RETRY | RATE},
	{403, 403, "rateLimitExceeded", NULL, E_RATELIMIT, RETRY | RATE},
	{403, 403, "quotaExceeded", NULL, E_RATELIMIT, RETRY | RATE},
	{403, 403, "forbidden", NULL, E_FORBIDDEN, 0},
	{403, 403, "insufficientPermissions", NULL, E_FORBIDDEN, 0},
	{403, 403, "domainCannotUseApis", NULL, E_FORBIDDEN, 0},
	{403, 403, "accessNotConfigured", NULL, E_FORBIDDEN, 0},
	{403, 403, NULL, "Quota exceeded", E_RATELIMIT, RETRY | RATE}, /* plain-text quota */
	{403, 403, NULL, NULL, E_FORBIDDEN, 0},
	{429, 429, NULL, NULL, E_RATELIMIT, RETRY | RATE},
	{400, 400, NULL, NULL, E_INVAL, 0}, /* invalid, required, badRequest */
	{401, 401, NULL, NULL, E_UNAUTH, REFRESH},
	{404, 404, NULL, NULL, E_NOTFOUND, 0},
	{409, 409, NULL, NULL, E_CONFLICT, 0}, /* duplicate, conflict */
	{503, 503, NULL, "Quota exceeded", E_RATELIMIT, RETRY | RATE},
	{500, 599, NULL, NULL, E_UNAVAIL, RETRY}, /* backendError, badGateway, gatewayTimeout */
	{400, 499, NULL, NULL, E_UPSTREAM, 0},
};

static void copy_line(char *dst, size_t cap, const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n && s[i] && w + 1 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		dst[w++] = c < 0x20 ? ' ' : (char)c;
	}
	dst[w] = '\0';
}

/* The readable start of a non-JSON body: the <title> of an HTML page, else the text with tags
 * removed and blanks collapsed. */
static void text_summary(const char *body, size_t len, char *dst, size_t cap)
{
	size_t w = 0;
	int in_tag = 0, blank = 1;
	const char *title = NULL;
	for (size_t i = 0; i + 7 <= len && i < 4096; i++) {
		if (strncasecmp(body + i, "<title>", 7) == 0) {
			title = body + i + 7;
			break;
		}
	}
	if (title) {
		len -= (size_t)(title - body);
		body = title;
	}
	for (size_t i = 0; i < len && w + 1 < cap; i++) {
		char c = body[i];
		if (c == '\0')
			break;
		if (c == '<') {
			if (title)
				break;
			in_tag = 1;
			continue;
		}
		if (in_tag) {
			in_tag = c != '>';
			if (!in_tag && !blank) {
				dst[w++] = ' ';
				blank = 1;
			}
			continue;
		}
		if ((unsigned char)c <= ' ') {
			if (!blank)
				dst[w++] = ' ';
			blank = 1;
			continue;
		}
		dst[w++] = c;
		blank = 0;
	}
	while (w && dst[w - 1] == ' ')
		w--;
	dst[w] = '\0';
}

static const char *str_member(struct json_object *jo, const char *key)
{
	struct json_object *v = NULL;
	if (!jo || !json_object_object_get_ex(jo, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *parse_body(const char *body, size_t len)
{
	if (!body || len == 0 || len > GOOGLE_ERROR_BODY_MAX)
		return NULL;
	struct json_tokener *tok = json_tokener_new_ex(16);
	if (!tok)
		return NULL;
	struct json_object *jo = json_tokener_parse_ex(tok, body, (int)len);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(jo, json_type_object)) {
		json_object_put(jo);
		jo = NULL;
	}
	json_tokener_free(tok);
	return jo;
}

static void apply_rules(struct google_error *out)
{
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		const struct rule *r = &rules[i];
		if (out->status < r->status_lo || out->status > r->status_hi)
			continue;
		if (r->reason && strcmp(r->reason, out->reason) != 0)
			continue;
		if (r->message && !strstr(out->message, r->message))
			continue;
		out->code = r->code;
		out->retryable = !!(r->flags & RETRY);
		out->rate_limited = !!(r->flags & RATE);
		out->refresh_auth = !!(r->flags & REFRESH);
		return;
	}
	out->code = E_UPSTREAM; /* 1xx, 3xx or nonsense: not retried */
}

void google_error_classify(int status, const char *body, size_t len, struct google_error *out)
{
	memset(out, 0, sizeof(*out));
	out->status = status;
	if (status >= 200 && status < 300) {
		out->code = E_OK;
		return;
	}
	struct json_object *jo = parse_body(body, len);
	struct json_object *error = NULL;
	if (jo && json_object_object_get_ex(jo, "error", &error) &&
	    json_object_is_type(error, json_type_string)) {
		/* The OAuth form: the token endpoint's table decides. */
		struct err e = {0};
		out->code = oauth_error_classify(status, body, len, &e);
		snprintf(out->reason, sizeof(out->reason), "%s", e.reason);
		snprintf(out->message, sizeof(out->message), "%s", e.msg);
		out->retryable = out->code == E_UNAVAIL || out->code == E_RATELIMIT;
		out->rate_limited = out->code == E_RATELIMIT;
		out->refresh_auth = status == 401;
		json_object_put(jo);
		return;
	}
	if (error && json_object_is_type(error, json_type_object)) {
		const char *msg = str_member(error, "message");
		struct json_object *errors = NULL, *first = NULL;
		if (json_object_object_get_ex(error, "errors", &errors) &&
		    json_object_is_type(errors, json_type_array) &&
		    json_object_array_length(errors) > 0)
			first = json_object_array_get_idx(errors, 0);
		const char *reason = str_member(first, "reason");
		if (!msg)
			msg = str_member(first, "message");
		if (!reason && str_member(error, "status") &&
		    strcmp(str_member(error, "status"), "RESOURCE_EXHAUSTED") == 0)
			reason = "rateLimitExceeded";
		if (reason)
			copy_line(out->reason, sizeof(out->reason), reason, strlen(reason));
		if (msg)
			copy_line(out->message, sizeof(out->message), msg, strlen(msg));
	} else if (body && len && len <= GOOGLE_ERROR_BODY_MAX) {
		text_summary(body, len, out->message, sizeof(out->message));
	}
	json_object_put(jo);
	apply_rules(out);
}

int google_error_to_err(const struct google_error *ge, struct err *e)
{
	if (!e)
		return ge->code;
	if (ge->message[0])
		err_set(e, ge->code, "HTTP %d: %s", ge->status, ge->message);
	else
		err_set(e, ge->code, "HTTP %d", ge->status);
	snprintf(e->reason, sizeof(e->reason), "%s", ge->reason);
	e->upstream_status = ge->status;
	return ge->code;
}

int google_expects_json(const char *method, const char *path)
{
	static const char *const no_body[] = {"/undelete", "/makeAdmin", "/stop"};
	if (!method || strcmp(method, "DELETE") == 0)
		return 0;
	size_t n = path ? strcspn(path, "?") : 0;
	for (size_t i = 0; i < sizeof(no_body) / sizeof(no_body[0]); i++) {
		size_t k = strlen(no_body[i]);
		if (n >= k && memcmp(path + n - k, no_body[i], k) == 0)
			return 0;
	}
	return 1;
}

static int json_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int google_answer_check(int status, const char *body, size_t len, struct google_error *out)
{
	size_t a = 0, b = body ? len : 0;
	while (a < b && json_blank(body[a]))
		a++;
	while (b > a && json_blank(body[b - 1]))
		b--;
	if (b - a >= 2 && body[a] == '{' && body[b - 1] == '}')
		return 0;
	memset(out, 0, sizeof(*out));
	out->status = status;
	out->code = E_UPSTREAM;
	snprintf(out->reason, sizeof(out->reason), "%s", GOOGLE_REASON_INVALID_RESPONSE);
	if (a == b) {
		snprintf(out->message, sizeof(out->message),
			 "Google answered with an empty body where a JSON object was expected");
	} else {
		char start[96];
		text_summary(body + a, b - a, start, sizeof(start));
		snprintf(out->message, sizeof(out->message),
			 "Google answered with a body that is not a JSON object: %s", start);
	}
	return 1;
}

int google_err_transient(int code)
{
	return code == E_UNAVAIL || code == E_TIMEOUT || code == E_UPSTREAM || code == E_RATELIMIT;
}
