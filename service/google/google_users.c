#include "google_users.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "google_int.h"

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
