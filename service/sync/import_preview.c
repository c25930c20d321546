#include "import_preview.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google_users.h"
#include "runner_import.h"

struct page {
	struct json_object *users[100];
	size_t n;
};

static int on_user(void *ctx, struct json_object *user, struct err *e)
{
	struct page *pg = ctx;
	if (pg->n < sizeof(pg->users) / sizeof(pg->users[0]))
		pg->users[pg->n++] = json_object_get(user);
	(void)e;
	return E_OK;
}

static struct json_object *copy_member(struct json_object *o, const char *key)
{
	struct json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get(v) : NULL;
}

static struct json_object *item_of(struct json_object *g, const struct import_match *m,
				   const struct import_dir *dirs)
{
	struct json_object *it = json_object_new_object(), *name, *v;
	if (!it)
		return NULL;
	json_object_object_add(it, "google_id", copy_member(g, "id"));
	json_object_object_add(it, "primary_email", copy_member(g, "primaryEmail"));
	struct json_object *nm = json_object_new_object();
	if (json_object_object_get_ex(g, "name", &name)) {
		json_object_object_add(nm, "given_name", copy_member(name, "givenName"));
		json_object_object_add(nm, "family_name", copy_member(name, "familyName"));
	}
	json_object_object_add(it, "name", nm);
	struct json_object *aliases = json_object_new_array();
	const char *keys[] = {"aliases", "nonEditableAliases"};
	for (int k = 0; aliases && k < 2; k++)
		if (json_object_object_get_ex(g, keys[k], &v) &&
		    json_object_is_type(v, json_type_array))
			for (size_t i = 0; i < json_object_array_length(v); i++)
				json_object_array_add(aliases,
						      json_object_get(json_object_array_get_idx(v, i)));
	json_object_object_add(it, "aliases", aliases);
	json_object_object_add(it, "suspended",
			       json_object_new_boolean(json_object_object_get_ex(g, "suspended", &v) &&
						       json_object_get_boolean(v)));
	json_object_object_add(it, "archived",
			       json_object_new_boolean(json_object_object_get_ex(g, "archived", &v) &&
						       json_object_get_boolean(v)));
	json_object_object_add(it, "match_state", json_object_new_string(import_state_name(m->state)));
	json_object_object_add(it, "user_id", m->dir != SIZE_MAX
						       ? json_object_new_string(dirs[m->dir].user_id)
						       : NULL);
	return it;
}

static int acquire(struct connect *conn, struct store *st, const char *tenant_id,
		   const char *integration_id, struct import_config *c, struct connect_handle **h,
		   struct err *e)
{
	int rc = import_config_load(st, tenant_id, integration_id, c, e);
	if (!rc && strcmp(c->it.status, "active")) {
		rc = err_set(e, E_CONFLICT, "the integration is %s; Google is read only for an active "
					    "integration", c->it.status);
		snprintf(e->reason, sizeof(e->reason), "integration_not_active");
	}
	if (!rc)
		rc = connect_client_acquire(conn, tenant_id, integration_id, h, e);
	return rc;
}

/* Google's refusal of the query gets its reason; Google's 404 stays Google's (import_google_rc). */
static int google_rc(int rc, struct err *e)
{
	if (rc == E_INVAL && e && e->upstream_status == 400)
		snprintf(e->reason, sizeof(e->reason), "invalid_query");
	return import_google_rc(rc, e);
}

int import_preview(struct connect *conn, struct store *st, const char *tenant_id,
		   const char *integration_id, const struct import_preview_req *rq,
		   struct json_object **items, char **next_token, struct err *e)
{
	*items = NULL;
	*next_token = NULL;
	struct import_config c;
	struct connect_handle *h = NULL;
	struct page *pg = calloc(1, sizeof(*pg));
	char *query = malloc(STORE_FILTER_MAX * 8 + 2);
	int rc = pg && query ? E_OK : err_set(e, E_NOMEM, "preview");
	if (!rc)
		rc = acquire(conn, st, tenant_id, integration_id, &c, &h, e);
	else
		memset(&c, 0, sizeof(c));
	if (!rc && import_query(c.it.import_filter, rq->query, query, STORE_FILTER_MAX * 8 + 2))
		rc = err_set(e, E_INVAL, "the query is too long");
	if (!rc) {
		struct google_users_page_req gr = {.query = query,
						   .max_results = rq->limit,
						   .page_token = rq->page_token,
						   .fields = c.fields,
						   .deadline_ms = rq->deadline_ms};
		rc = google_users_list_page(connect_handle_client(h), &gr, on_user, pg, next_token,
					    e);
		rc = google_rc(rc, e);
		if (!rc)
			connect_handle_used(h);
	}
	struct import_dirs dirs = {0};
	if (!rc)
		rc = import_dirs_load(st, tenant_id, integration_id, &c, pg->users, pg->n, &dirs, e);
	struct import_index *ix = rc ? NULL : import_index_build(&c.s, dirs.v, dirs.n);
	if (!rc && !ix)
		rc = err_set(e, E_NOMEM, "preview");
	struct json_object *arr = rc ? NULL : json_object_new_array();
	for (size_t i = 0; arr && i < pg->n; i++) {
		struct import_match m;
		import_match(ix, dirs.v, pg->users[i], &m);
		if (rq->only != IMPORT_STATE_N && m.state != rq->only)
			continue;
		json_object_array_add(arr, item_of(pg->users[i], &m, dirs.v));
	}
	if (!rc && !arr)
		rc = err_set(e, E_NOMEM, "preview");
	import_index_free(ix);
	import_dirs_free(&dirs);
	for (size_t i = 0; pg && i < pg->n; i++)
		json_object_put(pg->users[i]);
	free(pg);
	free(query);
	if (h)
		connect_client_release(conn, h);
	import_config_free(&c);
	if (rc) {
		free(*next_token);
		*next_token = NULL;
	}
	*items = arr;
	return rc;
}

static int ignore(void *ctx, struct json_object *user, struct err *e)
{
	(void)ctx;
	(void)user;
	(void)e;
	return E_OK;
}

int import_filter_check(struct connect *conn, const char *tenant_id, const char *integration_id,
			const char *filter, long deadline_ms, struct err *e)
{
	struct connect_handle *h = NULL;
	int rc = connect_client_acquire(conn, tenant_id, integration_id, &h, e);
	if (rc)
		return rc;
	char *next = NULL;
	struct google_users_page_req gr = {
		.query = filter, .max_results = 1, .fields = "id", .deadline_ms = deadline_ms};
	rc = google_users_list_page(connect_handle_client(h), &gr, ignore, NULL, &next, e);
	rc = google_rc(rc, e);
	if (!rc)
		connect_handle_used(h);
	free(next);
	connect_client_release(conn, h);
	return rc;
}
