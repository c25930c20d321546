#include "google_users.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include "google_int.h"
#include "httpc.h"

struct each {
	google_user_fn fn;
	void *ctx;
};

static int page_users(void *ctx, struct json_object *items, struct err *e)
{
	struct each *c = ctx;
	size_t n = json_object_array_length(items);
	for (size_t i = 0; i < n; i++) {
		int rc = c->fn(c->ctx, json_object_array_get_idx(items, i), e);
		if (rc)
			return rc;
	}
	return E_OK;
}

int google_users_list_all(struct google_client *gc, const char *fields, google_user_fn fn,
			  void *ctx, struct err *e)
{
	struct each c = {fn, ctx};
	char projection[512];
	int n = snprintf(projection, sizeof(projection), "nextPageToken,users(%s)", fields);
	if (n < 0 || (size_t)n >= sizeof(projection))
		return err_set(e, E_INVAL, "projection too long");
	return google_list_pages(gc, GOOGLE_USERS_PATH "?customer=my_customer", "users",
				 GOOGLE_USERS_PAGE, projection, page_users, &c, e);
}

/* Appends "&name=<encoded value>" at *len of buf (cap); -1 when it does not fit. */
static int add_param(char *buf, size_t cap, size_t *len, const char *name, const char *value,
		     struct err *e)
{
	char *enc = NULL;
	if (httpc_urlencode(value, &enc, e))
		return -1;
	int n = snprintf(buf + *len, cap - *len, "&%s=%s", name, enc);
	free(enc);
	if (n < 0 || (size_t)n >= cap - *len) {
		err_set(e, E_INVAL, "users.list: %s too long", name);
		return -1;
	}
	*len += (size_t)n;
	return 0;
}

static int list_page(struct google_client *gc, const struct google_users_page_req *rq,
		     google_user_fn fn, void *ctx, char **next_token, char *path, size_t cap,
		     struct err *e)
{
	*next_token = NULL;
	char num[16], projection[600];
	int n = snprintf(path, cap, "%s?customer=my_customer", GOOGLE_USERS_PATH);
	size_t len = (size_t)n;
	snprintf(num, sizeof(num), "%d", rq->max_results);
	n = snprintf(projection, sizeof(projection), "nextPageToken,users(%s)", rq->fields);
	if (n < 0 || (size_t)n >= sizeof(projection))
		return err_set(e, E_INVAL, "projection too long");
	if (add_param(path, cap, &len, "maxResults", num, e) ||
	    add_param(path, cap, &len, "fields", projection, e) ||
	    (rq->query && rq->query[0] &&
	     add_param(path, cap, &len, "query", rq->query, e)) ||
	    (rq->page_token && rq->page_token[0] &&
	     add_param(path, cap, &len, "pageToken", rq->page_token, e)))
		return e ? e->code : E_INVAL;
	struct google_exchange x = {.method = "GET", .path = path};
	struct httpc_response resp;
	struct google_deadline d;
	if (rq->deadline_ms > 0)
		google_deadline_begin(&d, rq->deadline_ms);
	int rc = google_send(gc, &x, &resp, e);
	if (rq->deadline_ms > 0)
		google_deadline_end(&d);
	if (rc)
		return rc;
	struct json_object *jo = json_tokener_parse(resp.body ? resp.body : "");
	httpc_response_cleanup(&resp);
	if (!jo || !json_object_is_type(jo, json_type_object)) {
		json_object_put(jo);
		return err_set(e, E_UPSTREAM, "users.list: the answer is not a JSON object");
	}
	struct json_object *users, *next;
	if (json_object_object_get_ex(jo, "users", &users) &&
	    json_object_is_type(users, json_type_array)) {
		struct each c = {fn, ctx};
		rc = page_users(&c, users, e);
	}
	if (!rc && json_object_object_get_ex(jo, "nextPageToken", &next) &&
	    json_object_is_type(next, json_type_string) && json_object_get_string_len(next) > 0 &&
	    !(*next_token = strdup(json_object_get_string(next))))
		rc = err_set(e, E_NOMEM, "users.list");
	json_object_put(jo);
	return rc;
}

/*
 * Room for the path with the values given, percent-encoded (3 characters a byte at most): a
 * query of 2,048 non-ASCII characters takes 24 KiB, far more than its character count.
 */
static size_t path_cap(const char *query, const char *page_token, const char *fields)
{
	return 1024 + 3 * (strlen(query ? query : "") + strlen(page_token ? page_token : "") +
			   strlen(fields ? fields : ""));
}

/* The path lives on the heap: an API request thread (CivetWeb's) has a small stack. */
int google_users_list_page(struct google_client *gc, const struct google_users_page_req *rq,
			   google_user_fn fn, void *ctx, char **next_token, struct err *e)
{
	*next_token = NULL;
	size_t cap = path_cap(rq->query, rq->page_token, rq->fields);
	char *path = malloc(cap);
	if (!path)
		return err_set(e, E_NOMEM, "users.list");
	int rc = list_page(gc, rq, fn, ctx, next_token, path, cap, e);
	free(path);
	return rc;
}

int google_users_list_query(struct google_client *gc, const char *query, const char *fields,
			    google_user_fn fn, void *ctx, struct err *e)
{
	if (!query || !query[0])
		return google_users_list_all(gc, fields, fn, ctx, e);
	struct each c = {fn, ctx};
	char projection[600];
	int n = snprintf(projection, sizeof(projection), "nextPageToken,users(%s)", fields);
	if (n < 0 || (size_t)n >= sizeof(projection))
		return err_set(e, E_INVAL, "projection too long");
	size_t cap = path_cap(query, NULL, NULL);
	char *path = malloc(cap);
	if (!path)
		return err_set(e, E_NOMEM, "users.list");
	size_t len = (size_t)snprintf(path, cap, "%s?customer=my_customer", GOOGLE_USERS_PATH);
	int rc = add_param(path, cap, &len, "query", query, e);
	if (rc)
		rc = e ? (int)e->code : E_INVAL;
	else
		rc = google_list_pages(gc, path, "users", GOOGLE_USERS_PAGE, projection, page_users,
				       &c, e);
	free(path);
	return rc;
}

int google_user_path(const char *key, const char *suffix, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	int n = snprintf(out, cap, "%s/", GOOGLE_USERS_PATH);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	size_t o = (size_t)n;
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
			     *p == '~';
		if (o + 4 >= cap)
			return -1;
		if (plain) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	n = snprintf(out + o, cap - o, "%s", suffix ? suffix : "");
	return n < 0 || (size_t)n >= cap - o ? -1 : 0;
}
