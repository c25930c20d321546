/* Directory groups and their members. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_directory.h"
#include "validate.h"

/* Adds why (a validate_* verdict) for pointer unless it is NULL. */
static void add_if(struct problem *p, const char *pointer, const char *why)
{
	if (why)
		problem_add_error(p, pointer, "%s", why);
}

static json_object *group_json(const struct store_group *g)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "id", g->id);
	api_json_put_str(jo, "name", g->name);
	api_json_put_str_or_null(jo, "description", g->description);
	api_json_put_str_or_null(jo, "email", g->email);
	api_json_put_str(jo, "created_at", g->created_at);
	api_json_put_str(jo, "updated_at", g->updated_at);
	return jo;
}

static json_object *member_json(const struct store_member *m)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "group_id", m->group_id);
	api_json_put_str(jo, "user_id", m->user_id);
	api_json_put_str(jo, "email", m->email);
	api_json_put_str(jo, "created_at", m->created_at);
	return jo;
}

/* A member of the body that may be a string or null; 0 absent, 1 present. */
static int string_member(json_object *body, const char *key, const char **s, struct problem *p)
{
	json_object *v = NULL;
	*s = NULL;
	if (!json_object_object_get_ex(body, key, &v))
		return 0;
	if (v && !json_object_is_type(v, json_type_string)) {
		char ptr[64];
		snprintf(ptr, sizeof(ptr), "/%s", key);
		problem_add_error(p, ptr, "must be a string");
		return 1;
	}
	*s = v ? json_object_get_string(v) : NULL;
	return 1;
}

void handle_groups_put(struct api_request *rq, struct api_response *rs)
{
	const char *id = directory_path_id(rq, rs, "group_id", "group", true);
	int64_t if_version = directory_if_version(rq);
	if (!id)
		return;
	static const char *const allowed[] = {"name", "description", "email", NULL};
	static const char *const readonly[] = {"id", "created_at", "updated_at", NULL};
	struct problem p;
	json_object *body = api_body_begin(rq, rs, "the group is not valid", allowed, readonly, &p);
	if (!body)
		return;

	struct store_group_input in = {0};
	json_object *name_v = NULL;
	if (!string_member(body, "name", &in.name, &p))
		problem_add_error(&p, "/name", "is required");
	else if (json_object_object_get_ex(body, "name", &name_v) && !name_v)
		problem_add_error(&p, "/name", "is required and cannot be null");
	else if (in.name)
		add_if(&p, "/name", validate_group_field("name", in.name));
	string_member(body, "description", &in.description, &p);
	if (in.description && !*in.description)
		in.description = NULL;
	if (in.description)
		add_if(&p, "/description", validate_group_field("description", in.description));
	string_member(body, "email", &in.email, &p);
	if (in.email && !*in.email)
		in.email = NULL;
	if (in.email)
		add_if(&p, "/email", validate_group_field("email", in.email));
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
		json_object_put(body);
		return;
	}
	struct store_group g;
	struct err e = {0};
	bool created = false;
	struct store_actor actor = api_actor(rq, NULL);
	int rc = store_group_put(rq->ctx->st, &actor, rq->who.tenant_id, id, &in, if_version, &g,
				 &created, &e);
	json_object_put(body);
	if (rc) {
		directory_reply_err(rs, &e);
		return;
	}
	if (created)
		snprintf(rs->location, sizeof(rs->location), "/v1/groups/%s", id);
	api_set_etag(rs, g.version);
	api_reply_json(rs, created ? 201 : 200, group_json(&g));
	store_group_cleanup(&g);
}

void handle_groups_get(struct api_request *rq, struct api_response *rs)
{
	const char *id = directory_path_id(rq, rs, "group_id", "group", false);
	if (!id)
		return;
	struct store_group g;
	struct err e = {0};
	if (store_group_get(rq->ctx->st, rq->who.tenant_id, id, &g, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	api_set_etag(rs, g.version);
	api_reply_json(rs, 200, group_json(&g));
	store_group_cleanup(&g);
}

API_ROW_JSON(group_row, group_json)

void handle_groups_list(struct api_request *rq, struct api_response *rs)
{
	struct api_page pg;
	if (api_page_begin(rq, rs, API_CURSOR_ID, &pg))
		return;
	struct store_group *gs = NULL;
	int rc = store_group_list(rq->ctx->st, rq->who.tenant_id, api_page_after(&pg), pg.fetch,
				  &gs, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, gs, sizeof(*gs), offsetof(struct store_group, id), group_row,
		       NULL);
	store_groups_free(gs, pg.n);
}

void handle_groups_delete(struct api_request *rq, struct api_response *rs)
{
	const char *id = directory_path_id(rq, rs, "group_id", "group", false);
	int64_t if_version = directory_if_version(rq);
	if (!id)
		return;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_group_delete(rq->ctx->st, &actor, rq->who.tenant_id, id, if_version, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	rs->status = 204;
	rs->content_type = "application/json";
}

/* ---- members: immutable, so their ETag is always "1" ---- */

void handle_group_members_put(struct api_request *rq, struct api_response *rs)
{
	const char *gid = directory_path_id(rq, rs, "group_id", "group", false);
	const char *uid = gid ? directory_path_id(rq, rs, "user_id", "user", false) : NULL;
	if (!uid)
		return;
	struct store_member m;
	struct err e = {0};
	bool created = false;
	struct store_actor actor = api_actor(rq, NULL);
	if (store_member_put(rq->ctx->st, &actor, rq->who.tenant_id, gid, uid, &m, &created, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	if (created)
		snprintf(rs->location, sizeof(rs->location), "/v1/groups/%s/members/%s", gid, uid);
	api_set_etag(rs, 1);
	api_reply_json(rs, created ? 201 : 200, member_json(&m));
}

void handle_group_members_delete(struct api_request *rq, struct api_response *rs)
{
	const char *gid = directory_path_id(rq, rs, "group_id", "group", false);
	const char *uid = gid ? directory_path_id(rq, rs, "user_id", "user", false) : NULL;
	int64_t if_version = directory_if_version(rq);
	if (!uid)
		return;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_member_delete(rq->ctx->st, &actor, rq->who.tenant_id, gid, uid, if_version, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	rs->status = 204;
	rs->content_type = "application/json";
}

API_ROW_JSON(member_row, member_json)

void handle_group_members_list(struct api_request *rq, struct api_response *rs)
{
	const char *gid = directory_path_id(rq, rs, "group_id", "group", false);
	if (!gid)
		return;
	struct api_page pg;
	if (api_page_begin(rq, rs, API_CURSOR_ID, &pg))
		return;
	struct store_member *ms = NULL;
	int rc = store_member_list(rq->ctx->st, rq->who.tenant_id, gid, api_page_after(&pg),
				   pg.fetch, &ms, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, ms, sizeof(*ms), offsetof(struct store_member, user_id),
		       member_row, NULL);
	free(ms);
}
