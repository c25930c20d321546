/* Directory groups and their members. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_directory.h"
#include "store_internal.h"

#define GROUP_COLS                                                                                 \
	"id, name, description, email, version, " SQL_TIME("created_at") ", " SQL_TIME(          \
		"updated_at")

void store_group_cleanup(struct store_group *g)
{
	if (!g)
		return;
	free(g->description);
	g->description = NULL;
}

void store_groups_free(struct store_group *groups, size_t n)
{
	for (size_t i = 0; groups && i < n; i++)
		store_group_cleanup(&groups[i]);
	free(groups);
}

static int group_row(const PGresult *res, int row, struct store_group *g, struct err *e)
{
	store_copy(g->id, sizeof(g->id), res, row, 0);
	store_copy(g->name, sizeof(g->name), res, row, 1);
	g->description = strdup(PQgetisnull(res, row, 2) ? "" : PQgetvalue(res, row, 2));
	if (!g->description)
		return err_set(e, E_NOMEM, "group row");
	store_copy(g->email, sizeof(g->email), res, row, 3);
	g->version = strtoll(PQgetvalue(res, row, 4), NULL, 10);
	store_copy(g->created_at, sizeof(g->created_at), res, row, 5);
	store_copy(g->updated_at, sizeof(g->updated_at), res, row, 6);
	return E_OK;
}

static int group_version(PGconn *conn, const char *tenant_id, const char *id, bool lock,
			 int64_t *version, struct err *e)
{
	const char *p[] = {tenant_id, id};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 lock ? "SELECT version FROM directory_groups WHERE tenant_id = $1 "
					"AND id = $2 FOR UPDATE"
				      : "SELECT version FROM directory_groups WHERE tenant_id = $1 "
					"AND id = $2",
				 2, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such group");
	else
		*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

#define GROUP_CHANGED(alias)                                                                       \
	"(" alias "name, " alias "description, " alias "email) IS DISTINCT FROM ($3::text, "      \
	"$4::text, $5::text)"

static const char group_insert_sql[] =
	"INSERT INTO directory_groups AS g (tenant_id, id, name, description, email) "
	"VALUES ($1, $2, $3::text, $4::text, $5::text) "
	"ON CONFLICT (tenant_id, id) DO UPDATE SET (name, description, email) = "
	"($3::text, $4::text, $5::text), "
	"version = g.version + CASE WHEN " GROUP_CHANGED("g.") " THEN 1 ELSE 0 END, "
	"updated_at = CASE WHEN " GROUP_CHANGED("g.") " THEN now() ELSE g.updated_at END "
	"RETURNING " GROUP_COLS ", xmax = 0";

static const char group_update_sql[] =
	"UPDATE directory_groups SET version = version + CASE WHEN " GROUP_CHANGED("") " THEN 1 "
	"ELSE 0 END, updated_at = CASE WHEN " GROUP_CHANGED("") " THEN now() ELSE updated_at END, "
	"(name, description, email) = ($3::text, $4::text, $5::text) "
	"WHERE tenant_id = $1 AND id = $2 AND ($6::bigint IS NULL OR version = $6::bigint) "
	"RETURNING " GROUP_COLS ", false";

int store_group_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		    const char *id, const struct store_group_input *in, int64_t if_version,
		    struct store_group *out, bool *created, struct err *e)
{
	memset(out, 0, sizeof(*out));
	*created = false;
	char ver[24];
	snprintf(ver, sizeof(ver), "%lld", (long long)if_version);
	const char *params[] = {tenant_id, id, in->name, in->description ? in->description : "",
				in->email, if_version > 0 ? ver : NULL};
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res;
	int rc = if_version >= 0
			 ? store_conn_exec(conn, group_update_sql, 6, params, &res, e)
			 : store_conn_exec(conn, group_insert_sql, 5, params, &res, e);
	if (rc == E_CONFLICT && e && strcmp(e->reason, "23505") == 0) {
		rc = err_set(e, E_CONFLICT, "another group of this tenant has this email");
	} else if (!rc && PQntuples(res) == 1) {
		rc = group_row(res, 0, out, e);
		*created = !rc && strcmp(PQgetvalue(res, 0, PQnfields(res) - 1), "t") == 0;
	} else if (!rc) {
		int64_t v;
		rc = group_version(conn, tenant_id, id, false, &v, e);
		if (rc == E_NOTFOUND)
			rc = err_set(e, E_PRECONDITION,
				     "no such group; If-Match needs an existing one");
		else if (rc == E_OK)
			rc = err_set(e, E_PRECONDITION,
				     "the group changed since that ETag; read it again");
	}
	PQclear(res);
	rc = store_tx_end(st, conn, rc, e);
	if (rc) {
		store_group_cleanup(out);
		*created = false;
	}
	return rc;
}

int store_group_get(struct store *st, const char *tenant_id, const char *id,
		    struct store_group *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	const char *params[] = {tenant_id, id};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT " GROUP_COLS " FROM directory_groups WHERE tenant_id = $1 AND "
				       "id = $2",
				       2, params, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such group");
	else
		rc = group_row(res, 0, out, e);
	PQclear(res);
	return rc;
}

STORE_ROW_COPY_ERR(group_copy, group_row)
STORE_ROWS_FREE(groups_free, store_groups_free)

int store_group_list(struct store *st, const char *tenant_id, const char *after_id, int limit,
		     struct store_group **out, size_t *n, struct err *e)
{
	static const struct store_rows how = {
		.size = sizeof(**out), .copy = group_copy, .free = groups_free};
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {tenant_id, after_id, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT " GROUP_COLS " FROM directory_groups WHERE tenant_id = $1 AND "
			    "($2::text IS NULL OR id > $2::text) ORDER BY id LIMIT $3",
			    3, params, &how, &rows, n, e);
	*out = rows;
	return rc;
}

int store_group_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
		       const char *id, int64_t if_version, struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int64_t v = 0;
	int rc = group_version(conn, tenant_id, id, true, &v, e);
	if (!rc && if_version > 0 && v != if_version)
		rc = err_set(e, E_PRECONDITION, "the group changed since that ETag; read it again");
	if (!rc) {
		const char *params[] = {tenant_id, id};
		PGresult *res;
		rc = store_conn_exec(conn,
				     "DELETE FROM directory_groups WHERE tenant_id = $1 AND "
				     "id = $2",
				     2, params, &res, e);
		PQclear(res);
	}
	return store_tx_end(st, conn, rc, e);
}

/* ---- members ---- */

#define MEMBER_COLS "m.group_id, m.user_id, u.email, " SQL_TIME("m.created_at")

static void member_row(const PGresult *res, int row, struct store_member *m)
{
	store_copy(m->group_id, sizeof(m->group_id), res, row, 0);
	store_copy(m->user_id, sizeof(m->user_id), res, row, 1);
	store_copy(m->email, sizeof(m->email), res, row, 2);
	store_copy(m->created_at, sizeof(m->created_at), res, row, 3);
}

int store_member_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		     const char *group_id, const char *user_id, struct store_member *out,
		     bool *created, struct err *e)
{
	memset(out, 0, sizeof(*out));
	*created = false;
	const char *params[] = {tenant_id, group_id, user_id};
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	/* Locks both rows against a concurrent delete, and says which one is missing. */
	int rc = store_conn_exec(conn,
				 "SELECT (SELECT 1 FROM directory_groups WHERE tenant_id = $1 AND "
				 "id = $2 FOR KEY SHARE), (SELECT 1 FROM directory_users WHERE "
				 "tenant_id = $1 AND id = $3 FOR KEY SHARE)",
				 3, params, &res, e);
	if (!rc && PQgetisnull(res, 0, 0))
		rc = err_set(e, E_NOTFOUND, "no such group");
	else if (!rc && PQgetisnull(res, 0, 1))
		rc = err_set(e, E_NOTFOUND, "no such user");
	PQclear(res);
	res = NULL;
	if (!rc) {
		rc = store_conn_exec(conn,
				     "INSERT INTO group_members (tenant_id, group_id, user_id) "
				     "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
				     3, params, &res, e);
		*created = !rc && strcmp(PQcmdTuples(res), "1") == 0;
		PQclear(res);
		res = NULL;
	}
	if (!rc) {
		rc = store_conn_exec(conn,
				     "SELECT " MEMBER_COLS " FROM group_members m JOIN "
				     "directory_users u ON u.tenant_id = m.tenant_id AND "
				     "u.id = m.user_id WHERE m.tenant_id = $1 AND m.group_id = $2 "
				     "AND m.user_id = $3",
				     3, params, &res, e);
		if (!rc && PQntuples(res) == 1)
			member_row(res, 0, out);
		else if (!rc)
			rc = err_set(e, E_INTERNAL, "membership vanished");
		PQclear(res);
	}
	rc = store_tx_end(st, conn, rc, e);
	if (rc)
		*created = false;
	return rc;
}

int store_member_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
			const char *group_id, const char *user_id, int64_t if_version,
			struct err *e)
{
	const char *params[] = {tenant_id, group_id, user_id};
	PGresult *res;
	int rc;
	if (if_version > 1) {
		/* No membership has that version: 412 when it exists, else 404. */
		rc = store_exec_idempotent(st,
					   "SELECT 1 FROM group_members WHERE tenant_id = $1 AND "
					   "group_id = $2 AND user_id = $3",
					   3, params, &res, e);
		if (rc)
			return rc;
		rc = PQntuples(res) ? err_set(e, E_PRECONDITION,
					      "a membership's ETag is always \"1\"")
				    : err_set(e, E_NOTFOUND, "no such member");
		PQclear(res);
		return rc;
	}
	rc = store_exec_as(st, actor,
			   "DELETE FROM group_members WHERE tenant_id = $1 AND group_id = $2 AND "
			   "user_id = $3",
			   3, params, &res, e);
	if (rc)
		return rc;
	if (strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "no such member");
	PQclear(res);
	return rc;
}

STORE_ROW_COPY(member_copy, member_row)

int store_member_list(struct store *st, const char *tenant_id, const char *group_id,
		      const char *after_user_id, int limit, struct store_member **out, size_t *n,
		      struct err *e)
{
	static const struct store_rows how = {.size = sizeof(**out),
					      .copy = member_copy,
					      .parent_missing = "no such group",
					      .null_col = 1};
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {tenant_id, group_id, after_user_id, lim};
	void *rows;
	/* One round trip: no row means no group; one row of NULLs means no members. */
	int rc = store_list(st,
			    "SELECT g.id, m.user_id, u.email, " SQL_TIME("m.created_at") " "
			    "FROM directory_groups g LEFT JOIN LATERAL (SELECT gm.user_id, "
			    "gm.created_at FROM group_members gm WHERE gm.tenant_id = g.tenant_id "
			    "AND gm.group_id = g.id AND ($3::text IS NULL OR "
			    "gm.user_id > $3::text) "
			    "ORDER BY gm.user_id LIMIT $4) m ON true LEFT JOIN directory_users u "
			    "ON u.tenant_id = g.tenant_id AND u.id = m.user_id "
			    "WHERE g.tenant_id = $1 AND g.id = $2 ORDER BY m.user_id",
			    4, params, &how, &rows, n, e);
	*out = rows;
	return rc;
}
