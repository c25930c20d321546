#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "crypto.h"
#include "log.h"
#include "validate.h"

static json_object *tenant_json(const struct store_tenant *t)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "id", t->id);
	api_json_put_str(jo, "name", t->name);
	api_json_put_str(jo, "created_at", t->created_at);
	return jo;
}

json_object *api_key_json(const struct store_api_key *k)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "id", k->id);
	api_json_put_str(jo, "tenant_id", k->tenant_id);
	api_json_put_str(jo, "role", access_role_name(k->role));
	api_json_put_str(jo, "prefix", k->prefix);
	api_json_put_str(jo, "created_at", k->created_at);
	api_json_put_str_or_null(jo, "last_used_at", k->last_used_at);
	return jo;
}

void handle_tenants_create(struct api_request *rq, struct api_response *rs)
{
	static const char *const allowed[] = {"name", NULL};
	struct problem p;
	json_object *body = api_body_begin(rq, rs, "the tenant is not valid", allowed, NULL, &p);
	if (!body)
		return;
	json_object *name = NULL;
	if (!json_object_object_get_ex(body, "name", &name))
		problem_add_error(&p, "/name", "is required");
	else if (!json_object_is_type(name, json_type_string))
		problem_add_error(&p, "/name", "must be a string");
	else if (validate_name(json_object_get_string(name), STORE_NAME_MAX))
		problem_add_error(&p, "/name", "%s",
				  validate_name(json_object_get_string(name), STORE_NAME_MAX));
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
		json_object_put(body);
		return;
	}
	struct store_tenant t;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	int rc = store_tenant_create(rq->ctx->st, &actor, json_object_get_string(name), &t, &e);
	json_object_put(body);
	if (rc) {
		api_reply_err(rs, &e);
		return;
	}
	log_write(LOG_INFO, "api", "tenant_created", NULL,
		  (struct log_field[]){LOG_STR("tenant_id", t.id)}, 1);
	snprintf(rs->location, sizeof(rs->location), "/v1/tenants/%s", t.id);
	api_reply_json(rs, 201, tenant_json(&t));
}

API_ROW_JSON(tenant_row, tenant_json)

void handle_tenants_list(struct api_request *rq, struct api_response *rs)
{
	struct api_page pg;
	if (api_page_begin(rq, rs, API_CURSOR_UUID, &pg))
		return;
	struct store_tenant *ts = NULL;
	int rc = store_tenant_list(rq->ctx->st, api_page_after(&pg), pg.fetch, &ts, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, ts, sizeof(*ts), offsetof(struct store_tenant, id), tenant_row,
		       NULL);
	free(ts);
}

/* Looks up the {tenant_id} of the path; answers 404 itself when there is none. */
static int path_tenant(struct api_request *rq, struct api_response *rs, struct store_tenant *t)
{
	const char *id = router_param(&rq->params, "tenant_id");
	struct err e = {0};
	if (!id || !api_is_uuid(id)) {
		api_reply_error(rs, 404, "not-found", "Not found", "no such tenant");
		return -1;
	}
	if (store_tenant_get(rq->ctx->st, id, t, &e)) {
		api_reply_err(rs, &e);
		return -1;
	}
	return 0;
}

void handle_tenants_get(struct api_request *rq, struct api_response *rs)
{
	struct store_tenant t;
	if (path_tenant(rq, rs, &t))
		return;
	api_reply_json(rs, 200, tenant_json(&t));
}

void handle_tenant_keys_create(struct api_request *rq, struct api_response *rs)
{
	struct store_tenant t;
	if (path_tenant(rq, rs, &t))
		return;
	static const char *const allowed[] = {"role", NULL};
	struct problem p;
	json_object *body =
		api_body_begin(rq, rs, "the API key request is not valid", allowed, NULL, &p);
	if (!body)
		return;
	json_object *role = NULL;
	enum access_role r = ACCESS_NONE;
	if (!json_object_object_get_ex(body, "role", &role))
		problem_add_error(&p, "/role", "is required");
	else if (!json_object_is_type(role, json_type_string) ||
		 (r = access_role_parse(json_object_get_string(role))) == ACCESS_NONE)
		problem_add_error(&p, "/role", "must be one of reader, editor, operator");
	json_object_put(body);
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
		return;
	}

	char key[API_KEY_LEN + 1], hash[65], prefix[API_KEY_PREFIX_LEN + 1];
	if (api_key_generate(key) || api_key_hash(key, hash)) {
		api_reply_error(rs, 500, "internal", "Internal error", "key generation failed");
		return;
	}
	memcpy(prefix, key, API_KEY_PREFIX_LEN);
	prefix[API_KEY_PREFIX_LEN] = '\0';
	struct store_api_key k;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_api_key_create(rq->ctx->st, &actor, t.id, r, hash, prefix, &k, &e)) {
		crypto_wipe(key, sizeof(key));
		api_reply_err(rs, &e);
		return;
	}
	json_object *jo = api_key_json(&k);
	/* The only time the key is shown; the response is marked no-store like every answer. */
	api_json_put_str(jo, "key", key);
	crypto_wipe(key, sizeof(key));
	log_write(LOG_INFO, "api", "api_key_created", NULL,
		  (struct log_field[]){LOG_STR("key_id", k.id), LOG_STR("tenant_id", t.id),
				       LOG_STR("key_role", access_role_name(r))},
		  3);
	snprintf(rs->location, sizeof(rs->location), "/v1/api-keys/%s", k.id);
	api_reply_json(rs, 201, jo);
}
