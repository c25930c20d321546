#include "google_groups.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "google_int.h"

struct each_group {
	google_group_fn fn;
	void *ctx;
};

struct each_member {
	google_member_fn fn;
	void *ctx;
};

static int page_groups(void *ctx, struct json_object *items, struct err *e)
{
	struct each_group *c = ctx;
	size_t n = json_object_array_length(items);
	for (size_t i = 0; i < n; i++) {
		int rc = c->fn(c->ctx, json_object_array_get_idx(items, i), e);
		if (rc)
			return rc;
	}
	return E_OK;
}

int google_groups_list_all(struct google_client *gc, google_group_fn fn, void *ctx, struct err *e)
{
	struct each_group c = {fn, ctx};
	return google_list_pages(gc, GOOGLE_GROUPS_PATH "?customer=my_customer", "groups",
				 GOOGLE_GROUPS_PAGE, "nextPageToken,groups(" GOOGLE_GROUP_FIELDS ")",
				 page_groups, &c, e);
}

static const char *str_of(struct json_object *jo, const char *key)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(jo, key, &v) || !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

enum google_member_type google_member_type_parse(const char *s)
{
	if (!s)
		return GOOGLE_MEMBER_OTHER;
	if (!strcmp(s, "USER"))
		return GOOGLE_MEMBER_USER;
	if (!strcmp(s, "GROUP"))
		return GOOGLE_MEMBER_GROUP;
	if (!strcmp(s, "CUSTOMER"))
		return GOOGLE_MEMBER_CUSTOMER;
	if (!strcmp(s, "EXTERNAL"))
		return GOOGLE_MEMBER_EXTERNAL;
	return GOOGLE_MEMBER_OTHER;
}

enum google_member_role google_member_role_parse(const char *s)
{
	if (s && !strcmp(s, "OWNER"))
		return GOOGLE_ROLE_OWNER;
	if (s && !strcmp(s, "MANAGER"))
		return GOOGLE_ROLE_MANAGER;
	return GOOGLE_ROLE_MEMBER;
}

static int page_members(void *ctx, struct json_object *items, struct err *e)
{
	struct each_member *c = ctx;
	size_t n = json_object_array_length(items);
	for (size_t i = 0; i < n; i++) {
		struct json_object *jo = json_object_array_get_idx(items, i);
		if (!json_object_is_type(jo, json_type_object))
			continue;
		struct google_member m = {
			.id = str_of(jo, "id"),
			.email = str_of(jo, "email"),
			.status = str_of(jo, "status"),
		};
		const char *type = str_of(jo, "type");
		const char *role = str_of(jo, "role");
		m.type = google_member_type_parse(*type ? type : NULL);
		m.role = google_member_role_parse(*role ? role : NULL);
		if (!*m.id && !*m.email)
			continue;
		int rc = c->fn(c->ctx, &m, e);
		if (rc)
			return rc;
	}
	return E_OK;
}

/* Appends key percent-encoded (everything but unreserved characters) at out[*o]. */
static int put_key(const char *key, char *out, size_t cap, size_t *o)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		bool plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
			     *p == '~';
		if (*o + 4 >= cap)
			return -1;
		if (plain) {
			out[(*o)++] = (char)*p;
		} else {
			out[(*o)++] = '%';
			out[(*o)++] = hex[*p >> 4];
			out[(*o)++] = hex[*p & 15];
		}
	}
	out[*o] = '\0';
	return 0;
}

int google_members_list_all(struct google_client *gc, const char *group_key, google_member_fn fn,
			    void *ctx, struct err *e)
{
	char path[1024];
	if (google_member_path(group_key, NULL, path, sizeof(path)))
		return err_set(e, E_INVAL, "group key too long");
	struct each_member c = {fn, ctx};
	return google_list_pages(gc, path, "members", GOOGLE_MEMBERS_PAGE,
				 "nextPageToken,members(id,email,role,type,status)", page_members,
				 &c, e);
}

int google_group_path(const char *group_key, const char *suffix, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/", GOOGLE_GROUPS_PATH);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	size_t o = (size_t)n;
	if (put_key(group_key, out, cap, &o))
		return -1;
	n = snprintf(out + o, cap - o, "%s", suffix ? suffix : "");
	return n < 0 || (size_t)n >= cap - o ? -1 : 0;
}

int google_member_path(const char *group_key, const char *member_key, char *out, size_t cap)
{
	if (google_group_path(group_key, "/members", out, cap))
		return -1;
	if (!member_key)
		return 0;
	size_t o = strlen(out);
	if (o + 1 >= cap)
		return -1;
	out[o++] = '/';
	out[o] = '\0';
	return put_key(member_key, out, cap, &o);
}
