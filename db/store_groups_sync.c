/*
 * Group management's side of the store (store_groups_sync.h): the group scope, linked user ids
 * and group links.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_groups_sync.h"
#include "store_internal.h"

/*
 * Groups bound to the integration or linked in it, with the directory group, the binding, the
 * link and the members (with their user links) as one JSON array. $3: only these group ids.
 */
#define GROUP_SCOPE_SQL                                                                            \
	"WITH g AS (SELECT group_id FROM group_bindings WHERE tenant_id = $1::uuid AND "           \
	" integration_id = $2::uuid AND ($3::text[] IS NULL OR group_id = ANY ($3::text[])) "      \
	" UNION SELECT group_id FROM group_links WHERE tenant_id = $1::uuid AND integration_id = " \
	" $2::uuid AND ($3::text[] IS NULL OR group_id = ANY ($3::text[]))"                        \
	" UNION SELECT unnest($3::text[]))"                                                        \
	" SELECT g.group_id, d.id IS NOT NULL, b.group_id IS NOT NULL, coalesce(d.version, 0), "   \
	" d.email, d.name, d.description, l.google_id, l.status, l.email, l.origin, "              \
	" coalesce((SELECT jsonb_agg(jsonb_build_object('user_id', gm.user_id, 'email', u.email, " \
	"  'google_id', ul.google_id, 'primary_email', ul.primary_email, 'link_status', "          \
	"  ul.status) ORDER BY gm.user_id) FROM group_members gm JOIN directory_users u ON "        \
	"  u.tenant_id = gm.tenant_id AND u.id = gm.user_id LEFT JOIN user_links ul ON "           \
	"  ul.integration_id = $2::uuid AND ul.user_id = gm.user_id WHERE gm.tenant_id = "         \
	"  $1::uuid AND gm.group_id = g.group_id), '[]')::text"                                    \
	" FROM g LEFT JOIN directory_groups d ON d.tenant_id = $1::uuid AND d.id = g.group_id"     \
	" LEFT JOIN group_bindings b ON b.integration_id = $2::uuid AND b.group_id = g.group_id"   \
	" LEFT JOIN group_links l ON l.integration_id = $2::uuid AND l.group_id = g.group_id"      \
	" ORDER BY 1"

int store_groups_scope(struct store *st, const char *tenant_id, const char *integration_id,
		       const char *const *group_ids, size_t n_ids, store_group_row_fn fn, void *ctx,
		       struct err *e)
{
	char *ids = NULL;
	if (n_ids > 0 && !(ids = store_text_array(group_ids, n_ids)))
		return err_set(e, E_NOMEM, "group scope ids");
	PGresult *res = NULL;
	int rc = store_integration_check(st, NULL, tenant_id, integration_id, e);
	if (!rc) {
		const char *p[] = {tenant_id, integration_id, ids};
		rc = store_exec_idempotent(st, GROUP_SCOPE_SQL, 3, p, &res, e);
	}
	free(ids);
	int rows = rc ? 0 : PQntuples(res);
	for (int i = 0; !rc && i < rows; i++) {
		int c = 0;
		struct store_group_row r;
		r.group_id = PQgetvalue(res, i, c++);
		r.exists = PQgetvalue(res, i, c++)[0] == 't';
		r.bound = PQgetvalue(res, i, c++)[0] == 't';
		r.version = strtoll(PQgetvalue(res, i, c++), NULL, 10);
		r.email = PQgetvalue(res, i, c++);
		r.name = PQgetvalue(res, i, c++);
		r.description = PQgetvalue(res, i, c++);
		r.google_id = PQgetvalue(res, i, c++);
		r.link_status = PQgetvalue(res, i, c++);
		r.link_email = PQgetvalue(res, i, c++);
		r.link_origin = PQgetvalue(res, i, c++);
		r.members_json = PQgetvalue(res, i, c++);
		rc = fn(ctx, &r, e);
	}
	PQclear(res);
	return rc;
}

void store_strings_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Column 0 of every row of sql as a malloc'd array of malloc'd strings. */
static int strings_of(struct store *st, const char *sql, int np, const char *const *p, char ***ids,
		      size_t *n, struct err *e)
{
	*ids = NULL;
	*n = 0;
	PGresult *res;
	int rc = store_exec_idempotent(st, sql, np, p, &res, e);
	if (rc)
		return rc;
	size_t rows = (size_t)PQntuples(res);
	char **v = calloc(rows ? rows : 1, sizeof(*v));
	for (size_t i = 0; v && i < rows; i++) {
		if (!(v[i] = strdup(PQgetvalue(res, (int)i, 0)))) {
			store_strings_free(v, i);
			v = NULL;
		}
	}
	PQclear(res);
	if (!v)
		return err_set(e, E_NOMEM, "strings");
	*ids = v;
	*n = rows;
	return E_OK;
}

int store_linked_user_ids(struct store *st, const char *tenant_id, const char *integration_id,
			  char ***ids, size_t *n, struct err *e)
{
	const char *p[] = {tenant_id, integration_id};
	return strings_of(st,
			  "SELECT google_id FROM user_links WHERE tenant_id = $1::uuid AND "
			  "integration_id = $2::uuid AND google_id IS NOT NULL AND status IN "
			  "('synced', 'suspended')",
			  2, p, ids, n, e);
}

int store_group_items_pending(struct store *st, const char *job_id, char ***ids, size_t *n,
			      struct err *e)
{
	const char *p[] = {job_id, STORE_GROUP_MEMBERS_PENDING};
	return strings_of(st,
			  "SELECT object_id FROM job_items WHERE job_id = $1::uuid AND object_type "
			  "= 'group' AND error_reason = $2",
			  2, p, ids, n, e);
}

int store_group_links_known(struct store *st, const char *tenant_id, const char *integration_id,
			    long *n, struct err *e)
{
	*n = 0;
	const char *p[] = {tenant_id, integration_id};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT count(*) FROM group_links WHERE tenant_id = $1::uuid AND "
				       "integration_id = $2::uuid AND google_id IS NOT NULL AND status "
				       "<> 'deleted'",
				       2, p, &res, e);
	if (rc)
		return rc;
	*n = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return E_OK;
}

#define GROUP_LINK_UPSERT_SQL                                                                      \
	"WITH l AS (INSERT INTO group_links (tenant_id, integration_id, group_id, google_id, "     \
	"email, status, origin, wanted_members, actual_members, not_managed_members, "             \
	"last_error_reason, last_error_message, last_synced_at, updated_at) VALUES ($1::uuid, "    \
	"$2::uuid, $3, nullif($4, ''), nullif($5, ''), $6, nullif($7, ''), nullif($8::int, -1), "  \
	"nullif($9::int, -1), nullif($10::int, -1), $11, $12, CASE WHEN $13::boolean THEN now() "  \
	"END, now()) ON CONFLICT (integration_id, group_id) DO UPDATE SET google_id = CASE WHEN "  \
	"$4 IS NULL THEN group_links.google_id ELSE nullif($4, '') END, email = CASE WHEN $5 IS "   \
	"NULL THEN group_links.email ELSE nullif($5, '') END, status = $6, origin = CASE WHEN $7 " \
	"IS NULL THEN group_links.origin ELSE nullif($7, '') END, wanted_members = coalesce("      \
	"nullif($8::int, -1), group_links.wanted_members), actual_members = coalesce(nullif("      \
	"$9::int, -1), group_links.actual_members), not_managed_members = coalesce(nullif("        \
	"$10::int, -1), group_links.not_managed_members), last_error_reason = $11, "               \
	"last_error_message = $12, last_synced_at = CASE WHEN $13::boolean THEN now() ELSE "       \
	"group_links.last_synced_at END, updated_at = now() WHERE group_links.tenant_id = "        \
	"$1::uuid RETURNING 1) INSERT INTO outbox (stream, key, payload) SELECT 'events', "        \
	"$2::text, gwsync_cloudevent($14, $1::uuid, $2::uuid, $3, coalesce($15::jsonb, '{}')) "    \
	"FROM l WHERE $14 IS NOT NULL"

int store_group_links_write(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *job_id, const char *owner,
			    const struct store_group_link_write *w, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++)
		if (!w[i].group_id || !w[i].group_id[0] || !w[i].status || !w[i].status[0])
			return err_set(e, E_INVAL, "group link write %zu: group_id and status are "
						   "required", i);
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int rc = store_lease_hold(conn, job_id, owner, tenant_id, integration_id, e);
	enum store_share state = STORE_SHARE_ACTIVE; /* see store_links_write */
	if (!rc)
		rc = store_integration_share(conn, tenant_id, integration_id, &state, e);
	for (size_t i = 0; !rc && i < n; i++) {
		const struct store_group_link_write *x = &w[i];
		bool released = state == STORE_SHARE_DEACTIVATED && strcmp(x->status, "deleted") != 0;
		char wanted[16], actual[16], nm[16];
		snprintf(wanted, sizeof(wanted), "%d", x->wanted < 0 ? -1 : x->wanted);
		snprintf(actual, sizeof(actual), "%d", x->actual < 0 ? -1 : x->actual);
		snprintf(nm, sizeof(nm), "%d", x->not_managed < 0 ? -1 : x->not_managed);
		const char *p[] = {
			tenant_id,
			integration_id,
			x->group_id,
			x->google_id,
			x->email,
			released ? "unmanaged" : x->status,
			x->origin,
			wanted,
			actual,
			nm,
			released ? "integration_deactivated" : x->error_reason,
			released ? "the integration was deactivated; the Google group is kept"
				 : x->error_message,
			x->synced ? "t" : "f",
			x->event_type,
			x->event_data_json};
		PGresult *res = NULL;
		rc = store_conn_exec(conn, GROUP_LINK_UPSERT_SQL, 15, p, &res, e);
		PQclear(res);
		if (rc == E_CONFLICT)
			err_set(e, E_CONFLICT, "Google group %.64s is linked to another group already",
				x->google_id ? x->google_id : "");
		else if (rc == E_INVAL)
			err_set(e, E_INVAL, "group link of %.128s: invalid status, origin or JSON",
				x->group_id);
	}
	rc = store_tx_end(st, conn, rc, e);
	return !rc && state != STORE_SHARE_ACTIVE ? store_not_active(e) : rc;
}

/*
 * Deactivation: every group link still managed becomes unmanaged (Google id kept, Google not
 * written), a pending delete-in-google request is dropped the same way, each with its
 * gws.group.unmanaged event.
 */
#define GROUP_LINKS_RELEASE_SQL                                                                    \
	"WITH l AS (UPDATE group_links SET status = 'unmanaged', last_error_reason = "             \
	"'integration_deactivated', last_error_message = 'the integration was deactivated; the "   \
	"Google group is kept', updated_at = now() WHERE tenant_id = $1::uuid AND integration_id " \
	"= $2::uuid AND status NOT IN ('unmanaged', 'deleted') RETURNING group_id, google_id, "    \
	"email) INSERT INTO outbox (stream, key, payload) SELECT 'events', $2::text, "             \
	"gwsync_cloudevent('gws.group.unmanaged', $1::uuid, $2::uuid, l.group_id, "                \
	"jsonb_build_object('group_id', l.group_id, 'google_id', l.google_id, 'email', l.email, "   \
	"'reason', 'integration_deactivated')) FROM l"

int store_group_links_release_in(PGconn *conn, const char *tenant_id, const char *integration_id,
				 struct err *e)
{
	const char *p[] = {tenant_id, integration_id};
	PGresult *res = NULL;
	int rc = store_conn_exec(conn, GROUP_LINKS_RELEASE_SQL, 2, p, &res, e);
	PQclear(res);
	return rc;
}

/* ---- status (API) ---- */

#define GROUP_STATUS_SQL                                                                           \
	"SELECT g.group_id, coalesce(d.name, ''), coalesce(d.email, ''), b.group_id IS NOT NULL, " \
	SQL_TIME("b.created_at") ", coalesce(l.status, ''), coalesce(l.google_id, ''), "          \
	"coalesce(l.email, ''), coalesce(l.origin, ''), coalesce(l.wanted_members, -1), "         \
	"coalesce(l.actual_members, -1), coalesce(l.not_managed_members, -1), "                   \
	"coalesce(l.last_error_reason, ''), coalesce(l.last_error_message, ''), "                 \
	SQL_TIME("l.last_synced_at")                                                                \
	" FROM (SELECT group_id FROM group_bindings WHERE tenant_id = $1::uuid AND "               \
	" integration_id = $2::uuid UNION SELECT group_id FROM group_links WHERE tenant_id = "     \
	" $1::uuid AND integration_id = $2::uuid AND ($5::boolean OR $3::text IS NOT NULL)) g"     \
	" LEFT JOIN directory_groups d ON d.tenant_id = $1::uuid AND d.id = g.group_id"            \
	" LEFT JOIN group_bindings b ON b.integration_id = $2::uuid AND b.group_id = g.group_id"   \
	" LEFT JOIN group_links l ON l.integration_id = $2::uuid AND l.group_id = g.group_id"      \
	" WHERE ($3::text IS NULL OR g.group_id = $3) AND ($4::text IS NULL OR g.group_id > $4)"   \
	" ORDER BY 1 LIMIT $6"

static int group_status_copy(const PGresult *res, int i, void *dst, struct err *e)
{
	(void)e;
	struct store_group_status *g = dst;
	int c = 0;
	store_copy(g->group_id, sizeof(g->group_id), res, i, c++);
	store_copy(g->name, sizeof(g->name), res, i, c++);
	store_copy(g->email, sizeof(g->email), res, i, c++);
	g->bound = PQgetvalue(res, i, c++)[0] == 't';
	store_copy(g->bound_at, sizeof(g->bound_at), res, i, c++);
	store_copy(g->status, sizeof(g->status), res, i, c++);
	store_copy(g->google_id, sizeof(g->google_id), res, i, c++);
	store_copy(g->link_email, sizeof(g->link_email), res, i, c++);
	store_copy(g->origin, sizeof(g->origin), res, i, c++);
	g->wanted = atoi(PQgetvalue(res, i, c++));
	g->actual = atoi(PQgetvalue(res, i, c++));
	g->not_managed = atoi(PQgetvalue(res, i, c++));
	store_copy(g->last_error_reason, sizeof(g->last_error_reason), res, i, c++);
	store_copy(g->last_error_message, sizeof(g->last_error_message), res, i, c++);
	store_copy(g->last_synced_at, sizeof(g->last_synced_at), res, i, c++);
	return E_OK;
}

int store_group_status_list(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *group_id, bool include_unlinked, const char *after_id,
			    int limit, struct store_group_status **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	int rc = store_integration_check(st, NULL, tenant_id, integration_id, e);
	if (rc)
		return rc;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {tenant_id, integration_id, group_id, after_id,
			   include_unlinked ? "t" : "f", lim};
	static const struct store_rows how = {.size = sizeof(**out), .copy = group_status_copy};
	void *rows;
	rc = store_list(st, GROUP_STATUS_SQL, 6, p, &how, &rows, n, e);
	*out = rows;
	return rc;
}

int store_group_delete_request(struct store *st, const struct store_actor *actor,
			       const char *tenant_id, const char *integration_id,
			       const char *group_id, struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	const char *ip[] = {tenant_id, integration_id};
	PGresult *res = NULL;
	int rc = store_conn_exec(conn,
				 "SELECT status = 'active' AND group_management FROM integrations "
				 "WHERE tenant_id = $1::uuid AND id = $2::uuid FOR SHARE",
				 2, ip, &res, e);
	if (!rc && PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	else if (!rc && PQgetvalue(res, 0, 0)[0] != 't')
		rc = err_set(e, E_CONFLICT, "the integration must be active and manage groups");
	PQclear(res);
	res = NULL;
	const char *p[] = {tenant_id, integration_id, group_id};
	if (!rc)
		rc = store_conn_exec(conn,
				     "SELECT status FROM group_links WHERE tenant_id = $1::uuid AND "
				     "integration_id = $2::uuid AND group_id = $3 AND google_id IS NOT "
				     "NULL AND status <> 'deleted' FOR UPDATE",
				     3, p, &res, e);
	if (!rc && PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no Google group is linked to this group");
	else if (!rc && strcmp(PQgetvalue(res, 0, 0), "unmanaged") &&
		 strcmp(PQgetvalue(res, 0, 0), "delete_requested"))
		rc = err_set(e, E_CONFLICT, "the group is still managed: unbind it or remove its "
					    "email first");
	PQclear(res);
	res = NULL;
	if (!rc)
		rc = store_conn_exec(conn,
				     "UPDATE group_links SET status = 'delete_requested', updated_at = "
				     "now() WHERE tenant_id = $1::uuid AND integration_id = $2::uuid "
				     "AND group_id = $3",
				     3, p, &res, e);
	PQclear(res);
	res = NULL;
	if (!rc)
		rc = store_conn_exec(conn, "SELECT gwsync_groups_queue($1::uuid, $2::uuid, ARRAY[$3])",
				     3, p, &res, e);
	PQclear(res);
	return store_tx_end(st, conn, rc, e);
}
