#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attributes.h"
#include "handlers_import.h"
#include "handlers_integrations.h"
#include "log.h"
#include "validate.h"

const char *integration_path_id(struct api_request *rq, struct api_response *rs)
{
	const char *id = router_param(&rq->params, "integration_id");
	if (!id || !api_is_uuid(id)) {
		api_reply_error(rs, 404, "not-found", "Not found", "no such integration");
		return NULL;
	}
	return id;
}

json_object *api_integration_json(const struct store_integration *it)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "id", it->id);
	api_json_put_str(jo, "name", it->name);
	api_json_put_str(jo, "status", it->status);

	json_object *s = json_object_new_object();
	api_json_put(s, "group_management", json_object_new_boolean(it->group_management));
	api_json_put_str(s, "group_membership",
			 it->group_membership[0] ? it->group_membership : "additive");
	api_json_put_str_or_null(s, "default_domain", it->default_domain);
	api_json_put_str_or_null(s, "import_filter", it->import_filter);
	api_json_put_str(s, "lockout_action", it->lockout_action);
	api_json_put_str(s, "password_expiry_action", it->password_expiry_action);
	json_object *guard = json_object_new_object();
	api_json_put(guard, "max_count", json_object_new_int(it->deletion_guard_max_count));
	api_json_put(guard, "max_percent", json_object_new_int(it->deletion_guard_max_percent));
	api_json_put(s, "deletion_guard", guard);
	api_json_put_str(s, "deleted_in_google_action", it->deleted_in_google_action);
	api_json_put(s, "provision_without_password",
		     json_object_new_boolean(it->provision_without_password));
	json_object *sched = json_object_new_object();
	api_json_put(sched, "enabled", json_object_new_boolean(it->import_enabled));
	api_json_put(sched, "interval_minutes", json_object_new_int(it->import_interval_minutes));
	api_json_put_str(sched, "mode", it->import_mode);
	/* Read-only, kept by the scheduler (null: never ran / not scheduled). */
	api_json_put_str_or_null(sched, "last_run_at", it->import_last_run_at);
	api_json_put_str_or_null(sched, "next_run_at", it->import_next_run_at);
	api_json_put(s, "import_schedule", sched);
	api_json_put_str(s, "identity_source",
			 it->identity_source[0] ? it->identity_source : "directory");
	json_object *ig = json_object_new_object();
	api_json_put(ig, "max_count", json_object_new_int(it->import_guard_max_count));
	api_json_put(s, "import_guard", ig);
	api_json_put(jo, "settings", s);

	if (it->google_customer_id[0]) {
		json_object *g = json_object_new_object();
		api_json_put_str(g, "customer_id", it->google_customer_id);
		api_json_put_str(g, "primary_domain", it->google_primary_domain);
		api_json_put(jo, "google", g);
	} else {
		json_object_object_add(jo, "google", NULL);
	}
	api_json_put_str(jo, "created_at", it->created_at);
	api_json_put_str(jo, "updated_at", it->updated_at);
	api_json_put_str_or_null(jo, "deactivated_at", it->deactivated_at);
	return jo;
}

static void reply_integration(struct api_response *rs, int status,
			      const struct store_integration *it)
{
	api_set_etag(rs, it->version);
	api_reply_json(rs, status, api_integration_json(it));
}

/* ---- settings: typed members with one error each ---- */

/* true when obj has the member (whose value may be JSON null: *v NULL). */
static bool member(json_object *obj, const char *key, json_object **v)
{
	*v = NULL;
	return json_object_object_get_ex(obj, key, v);
}

static void take_bool(json_object *obj, const char *key, const char *ptr, bool *dst,
		      struct problem *p)
{
	json_object *v;
	if (!member(obj, key, &v))
		return;
	if (!json_object_is_type(v, json_type_boolean))
		problem_add_error(p, ptr, "must be true or false");
	else
		*dst = json_object_get_boolean(v);
}

static void take_int(json_object *obj, const char *key, const char *ptr, int min, int max,
		     int *dst, struct problem *p)
{
	json_object *v;
	if (!member(obj, key, &v))
		return;
	int64_t x;
	if (!api_json_integer(v, &x))
		x = INT64_MIN;
	if (x < min || x > max)
		problem_add_error(p, ptr, "must be an integer from %d to %d", min, max);
	else
		*dst = (int)x;
}

static void take_enum(json_object *obj, const char *key, const char *ptr, const char *a,
		      const char *b, char *dst, size_t cap, struct problem *p)
{
	json_object *v;
	if (!member(obj, key, &v))
		return;
	const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
	if (strcmp(s, a) != 0 && strcmp(s, b) != 0)
		problem_add_error(p, ptr, "must be %s or %s", a, b);
	else
		snprintf(dst, cap, "%s", s);
}

/* A string member that may be null (cleared); must pass check when given. */
static void take_text(json_object *obj, const char *key, const char *ptr, size_t max_chars,
		      char *dst, size_t cap, struct problem *p)
{
	json_object *v;
	if (!member(obj, key, &v))
		return;
	if (!v) {
		dst[0] = '\0';
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		problem_add_error(p, ptr, "must be a string or null");
		return;
	}
	const char *why = validate_name(json_object_get_string(v), max_chars);
	if (why)
		problem_add_error(p, ptr, "%s", why);
	else
		snprintf(dst, cap, "%s", json_object_get_string(v));
}

static int only_members(json_object *obj, const char *base, const char *const *allowed,
			struct problem *p)
{
	int unknown = 0;
	json_object_object_foreach(obj, key, val)
	{
		(void)val;
		int ok = 0;
		for (const char *const *a = allowed; *a; a++)
			ok |= strcmp(*a, key) == 0;
		if (!ok) {
			char ptr[128];
			snprintf(ptr, sizeof(ptr), "%s/%s", base, key);
			problem_add_error(p, ptr, "unknown field");
			unknown++;
		}
	}
	return unknown;
}

/* Applies the members of a settings object; default_domain only when allow_default. */
static void settings_apply(json_object *s, struct store_integration *it, bool allow_default,
			   struct problem *p)
{
	if (!json_object_is_type(s, json_type_object)) {
		problem_add_error(p, "/settings", "must be an object");
		return;
	}
	static const char *const allowed[] = {"group_management",
					      "group_membership",
					      "default_domain",
					      "import_filter",
					      "lockout_action",
					      "password_expiry_action",
					      "deletion_guard",
					      "deleted_in_google_action",
					      "provision_without_password",
					      "import_schedule",
					      "identity_source",
					      "import_guard",
					      NULL};
	only_members(s, "/settings", allowed, p);
	take_bool(s, "group_management", "/settings/group_management", &it->group_management, p);
	take_enum(s, "group_membership", "/settings/group_membership", "additive", "authoritative",
		  it->group_membership, sizeof(it->group_membership), p);
	json_object *dd;
	bool has_dd = member(s, "default_domain", &dd);
	if (has_dd && !allow_default) {
		if (dd)
			problem_add_error(p, "/settings/default_domain",
					  "add the domain first, then make it the default");
	} else if (has_dd) {
		if (!dd)
			it->default_domain[0] = '\0';
		else if (!json_object_is_type(dd, json_type_string) ||
			 json_object_get_string_len(dd) > STORE_DOMAIN_MAX)
			problem_add_error(p, "/settings/default_domain",
					  "must be one of the integration's domains or null");
		else {
			snprintf(it->default_domain, sizeof(it->default_domain), "%s",
				 json_object_get_string(dd));
			for (char *c = it->default_domain; *c; c++)
				*c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
		}
	}
	take_text(s, "import_filter", "/settings/import_filter", STORE_FILTER_MAX,
		  it->import_filter, sizeof(it->import_filter), p);
	take_enum(s, "lockout_action", "/settings/lockout_action", "suspend", "maintain",
		  it->lockout_action, sizeof(it->lockout_action), p);
	take_enum(s, "password_expiry_action", "/settings/password_expiry_action", "suspend",
		  "maintain", it->password_expiry_action, sizeof(it->password_expiry_action), p);
	take_enum(s, "deleted_in_google_action", "/settings/deleted_in_google_action", "leave",
		  "recreate", it->deleted_in_google_action, sizeof(it->deleted_in_google_action),
		  p);
	take_bool(s, "provision_without_password", "/settings/provision_without_password",
		  &it->provision_without_password, p);
	take_enum(s, "identity_source", "/settings/identity_source", "directory", "google",
		  it->identity_source, sizeof(it->identity_source), p);
	json_object *g;
	if (member(s, "deletion_guard", &g)) {
		if (!g || !json_object_is_type(g, json_type_object)) {
			problem_add_error(p, "/settings/deletion_guard", "must be an object");
		} else {
			static const char *const ga[] = {"max_count", "max_percent", NULL};
			only_members(g, "/settings/deletion_guard", ga, p);
			take_int(g, "max_count", "/settings/deletion_guard/max_count", 0, 1000000,
				 &it->deletion_guard_max_count, p);
			take_int(g, "max_percent", "/settings/deletion_guard/max_percent", 0, 100,
				 &it->deletion_guard_max_percent, p);
		}
	}
	json_object *ig;
	if (member(s, "import_guard", &ig)) {
		if (!ig || !json_object_is_type(ig, json_type_object)) {
			problem_add_error(p, "/settings/import_guard", "must be an object");
		} else {
			static const char *const iga[] = {"max_count", NULL};
			only_members(ig, "/settings/import_guard", iga, p);
			take_int(ig, "max_count", "/settings/import_guard/max_count", 0, 1000000,
				 &it->import_guard_max_count, p);
		}
	}
	json_object *sc;
	if (member(s, "import_schedule", &sc)) {
		if (!sc || !json_object_is_type(sc, json_type_object)) {
			problem_add_error(p, "/settings/import_schedule", "must be an object");
		} else {
			static const char *const sa[] = {"enabled", "interval_minutes", "mode",
							 "last_run_at", "next_run_at", NULL};
			only_members(sc, "/settings/import_schedule", sa, p);
			json_object *ro;
			if (member(sc, "last_run_at", &ro))
				problem_add_error(p, "/settings/import_schedule/last_run_at",
						  "is read-only (kept by the scheduler)");
			if (member(sc, "next_run_at", &ro))
				problem_add_error(p, "/settings/import_schedule/next_run_at",
						  "is read-only (kept by the scheduler)");
			take_bool(sc, "enabled", "/settings/import_schedule/enabled",
				  &it->import_enabled, p);
			take_int(sc, "interval_minutes", "/settings/import_schedule/interval_minutes",
				 15, 10080, &it->import_interval_minutes, p);
			take_enum(sc, "mode", "/settings/import_schedule/mode", "full",
				  "updates_only", it->import_mode, sizeof(it->import_mode), p);
		}
	}
}

static void name_apply(json_object *body, struct store_integration *it, bool required,
		       struct problem *p)
{
	json_object *v;
	if (!member(body, "name", &v)) {
		if (required)
			problem_add_error(p, "/name", "is required");
		return;
	}
	if (!v || !json_object_is_type(v, json_type_string)) {
		problem_add_error(p, "/name", "must be a string");
		return;
	}
	const char *why = validate_name(json_object_get_string(v), STORE_NAME_MAX);
	if (why)
		problem_add_error(p, "/name", "%s", why);
	else
		snprintf(it->name, sizeof(it->name), "%s", json_object_get_string(v));
}

static void integration_defaults(struct store_integration *it)
{
	memset(it, 0, sizeof(*it));
	snprintf(it->lockout_action, sizeof(it->lockout_action), "suspend");
	snprintf(it->password_expiry_action, sizeof(it->password_expiry_action), "suspend");
	it->deletion_guard_max_count = 25;
	it->deletion_guard_max_percent = 10;
	snprintf(it->deleted_in_google_action, sizeof(it->deleted_in_google_action), "leave");
	it->import_interval_minutes = 60;
	it->import_guard_max_count = 1000;
	snprintf(it->import_mode, sizeof(it->import_mode), "full");
	snprintf(it->group_membership, sizeof(it->group_membership), "additive");
	snprintf(it->identity_source, sizeof(it->identity_source), "directory");
}

void handle_integrations_create(struct api_request *rq, struct api_response *rs)
{
	static const char *const allowed[] = {"name", "settings", NULL};
	struct problem p;
	json_object *body =
		api_body_begin(rq, rs, "the integration is not valid", allowed, NULL, &p);
	if (!body)
		return;
	struct store_integration *it = malloc(sizeof(*it));
	if (!it) {
		json_object_put(body);
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	integration_defaults(it);
	name_apply(body, it, true, &p);
	json_object *s;
	if (member(body, "settings", &s))
		settings_apply(s, it, false, &p);
	json_object_put(body);
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
		free(it);
		return;
	}
	const char *defaults[64];
	size_t nd = 0;
	for (size_t i = 0; i < attribute_catalogue_count; i++) {
		if (attribute_catalogue[i].default_export && nd + 1 < 64)
			defaults[nd++] = attribute_catalogue[i].name;
	}
	defaults[nd] = NULL;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_integration_create(rq->ctx->st, &actor, rq->who.tenant_id, defaults, it, &e)) {
		api_reply_err(rs, &e);
	} else {
		snprintf(rs->location, sizeof(rs->location), "/v1/integrations/%s", it->id);
		reply_integration(rs, 201, it);
	}
	free(it);
}

API_ROW_JSON(integration_row, api_integration_json)

void handle_integrations_list(struct api_request *rq, struct api_response *rs)
{
	struct api_page pg;
	if (api_page_begin(rq, rs, API_CURSOR_UUID, &pg))
		return;
	struct store_integration *list = NULL;
	int rc = store_integration_list(rq->ctx->st, rq->who.tenant_id, api_page_after(&pg),
					pg.fetch, &list, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, list, sizeof(*list), offsetof(struct store_integration, id),
		       integration_row, NULL);
	free(list);
}

void handle_integrations_get(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	if (!id)
		return;
	struct store_integration *it = malloc(sizeof(*it));
	struct err e = {0};
	if (!it)
		err_set(&e, E_NOMEM, "out of memory");
	if (!it || store_integration_get(rq->ctx->st, rq->who.tenant_id, id, it, &e))
		api_reply_err(rs, &e);
	else
		reply_integration(rs, 200, it);
	free(it);
}

void handle_integrations_patch(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	int64_t if_version = rq->if_version;
	if (!id)
		return;
	json_object *body = api_body_object(rq, rs);
	if (!body)
		return;
	struct store_integration *it = malloc(sizeof(*it));
	char *old_filter = NULL; /* the filter as stored before this request */
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	/* Read, apply, write if unchanged meanwhile; a concurrent writer makes us read again. */
	for (int attempt = 0; it && attempt < 3; attempt++) {
		err_clear(&e);
		if (store_integration_get(rq->ctx->st, rq->who.tenant_id, id, it, &e))
			break;
		struct problem p;
		problem_set(&p, 400, "validation", "Invalid request",
			    "the integration update is not valid");
		static const char *const allowed[] = {"name", "settings", NULL};
		api_body_only(body, allowed, NULL, &p);
		name_apply(body, it, false, &p);
		json_object *s;
		if (!old_filter && !(old_filter = strdup(it->import_filter)))
			break;
		if (member(body, "settings", &s))
			settings_apply(s, it, true, &p);
		if (p.n_errors) {
			api_reply_problem(rs, &p, NULL);
			goto out;
		}
		/* A body that is not valid is a 400 whatever the version: preconditions come after. */
		if (if_version >= 0 && it->version != if_version) {
			err_set(&e, E_PRECONDITION, "the integration changed since that ETag");
			break;
		}
		/* A new import filter is tried on Google once, before anything is stored. */
		if (api_import_filter_check(rq, rs, it, old_filter))
			goto out;
		int rc = store_integration_update(rq->ctx->st, &actor, rq->who.tenant_id, it,
						  rq->ctx->cfg->import_minute_ms, &e);
		if (rc == E_OK) {
			reply_integration(rs, 200, it);
			goto out;
		}
		if (rc != E_PRECONDITION || if_version >= 0)
			break;
	}
	if (e.code == E_INVAL) {
		struct problem p;
		/* Well-formed, but it names a domain the integration does not have (yet): 409. */
		problem_set(&p, 409, "conflict", "Conflict",
			    "default_domain must be one of the integration's domains");
		problem_add_error(&p, "/settings/default_domain", "%s", e.msg);
		api_reply_problem(rs, &p, NULL);
	} else {
		if (!it)
			err_set(&e, E_NOMEM, "out of memory");
		api_reply_err(rs, &e);
	}
out:
	free(old_filter);
	free(it);
	json_object_put(body);
}

void handle_integrations_delete(struct api_request *rq, struct api_response *rs)
{
	const char *id = integration_path_id(rq, rs);
	int64_t if_version = rq->if_version;
	if (!id)
		return;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, NULL);
	if (store_integration_delete(rq->ctx->st, &actor, rq->who.tenant_id, id, if_version, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	rs->status = 204;
}

static void status_action(struct api_request *rq, struct api_response *rs, bool deactivate)
{
	const char *id = integration_path_id(rq, rs);
	int64_t if_version = rq->if_version;
	if (!id)
		return;
	struct store_integration *it = malloc(sizeof(*it));
	struct err e = {0};
	struct store_actor actor = api_actor(rq, deactivate ? "deactivate" : "reactivate");
	int unbound = 0;
	int rc = !it ? err_set(&e, E_NOMEM, "out of memory")
	     : deactivate
		     ? store_integration_deactivate(rq->ctx->st, &actor, rq->who.tenant_id, id,
						    if_version, it, &unbound, &e)
		     : store_integration_reactivate(rq->ctx->st, &actor, rq->who.tenant_id, id,
						    if_version, it, &e);
	if (rc) {
		api_reply_err(rs, &e);
	} else {
		log_write(LOG_INFO, "api", deactivate ? "integration_deactivated"
						      : "integration_reactivated",
			  NULL,
			  (struct log_field[]){LOG_STR("integration_id", id),
					       LOG_NUM("unbound", unbound)},
			  2);
		reply_integration(rs, 200, it);
	}
	free(it);
}

void handle_integrations_deactivate(struct api_request *rq, struct api_response *rs)
{
	status_action(rq, rs, true);
}

void handle_integrations_reactivate(struct api_request *rq, struct api_response *rs)
{
	status_action(rq, rs, false);
}
