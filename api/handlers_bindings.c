#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_integrations.h"
#include "store_groups_sync.h"
#include "validate.h"

static void binding_put(struct api_request *rq, struct api_response *rs, bool is_group)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	const char *member = router_param(&rq->params, is_group ? "group_id" : "user_id");
	if (!validate_directory_id(member)) {
		api_reply_error(rs, 404, "not-found", "Not found",
				is_group ? "no such group" : "no such user");
		return;
	}
	bool created = false;
	char created_at[STORE_TIME_LEN] = "";
	struct err e = {0};
	struct store_actor actor = api_actor(rq, "bind");
	if (store_binding_put(rq->ctx->st, &actor, rq->who.tenant_id, id, is_group, member,
			      &created, created_at, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "integration_id", id);
	api_json_put_str(jo, is_group ? "group_id" : "user_id", member);
	api_json_put_str(jo, "created_at", created_at);
	api_reply_json(rs, created ? 201 : 200, jo);
}

static void binding_delete(struct api_request *rq, struct api_response *rs, bool is_group)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	const char *member = router_param(&rq->params, is_group ? "group_id" : "user_id");
	struct err e = {0};
	struct store_actor actor = api_actor(rq, "unbind");
	if (!validate_directory_id(member)) {
		api_reply_error(rs, 404, "not-found", "Not found", "no such binding");
		return;
	}
	if (store_binding_delete(rq->ctx->st, &actor, rq->who.tenant_id, id, is_group, member,
				 &e)) {
		api_reply_err(rs, &e);
		return;
	}
	rs->status = 204;
}

void handle_user_binding_put(struct api_request *rq, struct api_response *rs)
{
	binding_put(rq, rs, false);
}

void handle_user_binding_delete(struct api_request *rq, struct api_response *rs)
{
	binding_delete(rq, rs, false);
}

void handle_group_binding_put(struct api_request *rq, struct api_response *rs)
{
	binding_put(rq, rs, true);
}

void handle_group_binding_delete(struct api_request *rq, struct api_response *rs)
{
	binding_delete(rq, rs, true);
}

/* A group of the integration: its binding and its Google group link (null without one). */
static json_object *bound_group_json(const struct store_group_status *g)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "group_id", g->group_id);
	api_json_put_str(jo, "name", g->name);
	api_json_put_str_or_null(jo, "email", g->email);
	api_json_put(jo, "bound", json_object_new_boolean(g->bound));
	api_json_put_str_or_null(jo, "bound_at", g->bound_at);
	if (!g->status[0]) {
		json_object_object_add(jo, "link", NULL);
		return jo;
	}
	json_object *link = json_object_new_object();
	api_json_put_str(link, "status", g->status);
	api_json_put_str_or_null(link, "google_id", g->google_id);
	api_json_put_str_or_null(link, "email", g->link_email);
	api_json_put_str_or_null(link, "origin", g->origin);
	api_json_put_int_or_null(link, "wanted_members", g->wanted);
	api_json_put_int_or_null(link, "actual_members", g->actual);
	api_json_put_int_or_null(link, "not_managed_members", g->not_managed);
	api_json_put_or_null(link, "last_error",
			     api_json_error(g->last_error_reason, g->last_error_message));
	api_json_put_str_or_null(link, "last_synced_at", g->last_synced_at);
	api_json_put(jo, "link", link);
	return jo;
}

/*
 * The integration and the platform id param ("group_id", "user_id") of a bound object's path;
 * NULL when either names nothing (answered 404).
 */
static const char *bound_path_id(struct api_request *rq, struct api_response *rs,
				 const char *param, const char *what, const char **integration_id)
{
	*integration_id = integration_path_id(rq, rs);
	if (!*integration_id)
		return NULL;
	const char *v = router_param(&rq->params, param);
	if (validate_directory_id(v))
		return v;
	api_reply_error(rs, 404, "not-found", "Not found", "no such %s", what);
	return NULL;
}

API_ROW_JSON(bound_group_row, bound_group_json)

void handle_bound_groups_list(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	struct api_page pg;
	if (!id || api_page_begin(rq, rs, API_CURSOR_ID, &pg))
		return;
	char include[32] = "";
	bool unmanaged = false;
	if (api_query_get(rq, "include", include, sizeof(include))) {
		if (strcmp(include, "unmanaged")) {
			api_reply_error(rs, 400, "validation", "Invalid request",
					"include must be unmanaged");
			return;
		}
		unmanaged = true;
	}
	struct store_group_status *gs = NULL;
	int rc = store_group_status_list(rq->ctx->st, rq->who.tenant_id, id, NULL, unmanaged,
					 api_page_after(&pg), pg.fetch, &gs, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, gs, sizeof(*gs), offsetof(struct store_group_status, group_id),
		       bound_group_row, NULL);
	free(gs);
}

void handle_bound_group_get(struct api_request *rq, struct api_response *rs)
{
	const char *id;
	const char *group_id = bound_path_id(rq, rs, "group_id", "group", &id);
	if (!group_id)
		return;
	struct store_group_status *gs = NULL;
	size_t n = 0;
	struct err e = {0};
	if (store_group_status_list(rq->ctx->st, rq->who.tenant_id, id, group_id, true, NULL, 1,
				    &gs, &n, &e))
		api_reply_err(rs, &e);
	else if (n == 0)
		api_reply_error(rs, 404, "not-found", "Not found",
				"the group is neither bound to nor linked in this integration");
	else
		api_reply_json(rs, 200, bound_group_json(&gs[0]));
	free(gs);
}

void handle_bound_group_delete_in_google(struct api_request *rq, struct api_response *rs)
{
	const char *id;
	const char *group_id = bound_path_id(rq, rs, "group_id", "group", &id);
	if (!group_id)
		return;
	struct store_actor actor = api_actor(rq, "delete_in_google");
	struct err e = {0};
	if (store_group_delete_request(rq->ctx->st, &actor, rq->who.tenant_id, id, group_id,
				       &e)) {
		api_reply_err(rs, &e);
		return;
	}
	struct store_group_status *gs = NULL;
	size_t n = 0;
	if (store_group_status_list(rq->ctx->st, rq->who.tenant_id, id, group_id, true, NULL, 1,
				    &gs, &n, &e) || n == 0) {
		/* queued all the same: answer with what is known */
		json_object *jo = json_object_new_object();
		api_json_put_str(jo, "group_id", group_id);
		api_json_put_str(jo, "status", "delete_requested");
		api_reply_json(rs, 202, jo);
	} else {
		api_reply_json(rs, 202, bound_group_json(&gs[0]));
	}
	free(gs);
}

static const char *const link_statuses[] = {
	"pending", "creating",	"linked",    "provisioned",	  "synced",  "failed",
	"conflict", "skipped", "suspended", "deleted_in_google", "released", NULL};

/* arg: the integration id. */
static json_object *bound_user_json(const void *row, const void *arg)
{
	const char *integration_id = arg;
	const struct store_bound_user *u = row;
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "user_id", u->user_id);
	/* Empty for a user deleted from the directory (still linked): kept as "". */
	api_json_put(jo, "email", json_object_new_string(u->email));
	api_json_put(jo, "first_name", json_object_new_string(u->first_name));
	api_json_put(jo, "last_name", json_object_new_string(u->last_name));
	api_json_put_str(jo, "state", u->state);

	/* How the user is bound, and the binding to remove for each way. */
	json_object *via = json_object_new_array();
	char path[512];
	if (u->direct) {
		json_object *b = json_object_new_object();
		api_json_put_str(b, "type", "direct");
		snprintf(path, sizeof(path), "/v1/integrations/%s/users/%s", integration_id,
			 u->user_id);
		api_json_put_str(b, "unbind_path", path);
		json_object_array_add(via, b);
	}
	char groups[sizeof(u->groups)];
	snprintf(groups, sizeof(groups), "%s", u->groups);
	char *save = NULL;
	for (char *g = strtok_r(groups, ",", &save); g; g = strtok_r(NULL, ",", &save)) {
		json_object *b = json_object_new_object();
		api_json_put_str(b, "type", "group");
		api_json_put_str(b, "group_id", g);
		snprintf(path, sizeof(path), "/v1/integrations/%s/groups/%s", integration_id, g);
		api_json_put_str(b, "unbind_path", path);
		json_object_array_add(via, b);
	}
	api_json_put(jo, "bound_via", via);

	json_object *link = json_object_new_object();
	api_json_put_str(link, "status", u->status);
	api_json_put_str_or_null(link, "google_id", u->google_id);
	api_json_put_str_or_null(link, "primary_email", u->primary_email);
	api_json_put_or_null(link, "last_error",
			     api_json_error(u->last_error_reason, u->last_error_message));
	api_json_put_str_or_null(link, "last_synced_at", u->last_synced_at);
	api_json_put_str_or_null(link, "origin", u->origin);
	api_json_put(jo, "link", link);
	return jo;
}

void handle_bound_users_list(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	struct api_page pg;
	if (!id || api_page_begin(rq, rs, API_CURSOR_ID, &pg))
		return;
	char status[32];
	int has_status = api_query_one_of(rq, rs, "status", link_statuses, status, sizeof(status));
	if (has_status < 0)
		return;
	struct store_bound_user *us = NULL;
	int rc = store_bound_users_list(rq->ctx->st, rq->who.tenant_id, id,
					has_status ? status : NULL, api_page_after(&pg), pg.fetch,
					&us, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, us, sizeof(*us), offsetof(struct store_bound_user, user_id),
		       bound_user_json, id);
	free(us);
}

void handle_bound_user_get(struct api_request *rq, struct api_response *rs)
{
	const char *id;
	const char *user_id = bound_path_id(rq, rs, "user_id", "user", &id);
	if (!user_id)
		return;
	struct store_bound_user *u = malloc(sizeof(*u));
	if (!u) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	struct err e = {0};
	if (store_bound_user_get(rq->ctx->st, rq->who.tenant_id, id, user_id, u, &e))
		api_reply_err(rs, &e);
	else
		api_reply_json(rs, 200, bound_user_json(u, id));
	free(u);
}
