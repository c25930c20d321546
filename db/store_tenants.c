#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define TENANT_COLS "id, name, " SQL_TIME("created_at")

static void tenant_row(const PGresult *res, int row, struct store_tenant *t)
{
	store_copy(t->id, sizeof(t->id), res, row, 0);
	store_copy(t->name, sizeof(t->name), res, row, 1);
	store_copy(t->created_at, sizeof(t->created_at), res, row, 2);
}

STORE_ROW_COPY(tenant_copy, tenant_row)

static int tenant_one(struct store *st, const struct store_actor *actor, const char *sql,
		      const char *param, struct store_tenant *out, struct err *e)
{
	PGresult *res;
	const char *params[] = {param};
	int rc = actor ? store_exec_as(st, actor, sql, 1, params, &res, e)
		       : store_exec(st, sql, 1, params, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such tenant");
	else
		tenant_row(res, 0, out);
	PQclear(res);
	return rc;
}

int store_tenant_create(struct store *st, const struct store_actor *actor, const char *name,
			struct store_tenant *out, struct err *e)
{
	int rc = tenant_one(st, actor, "INSERT INTO tenants (name) VALUES ($1) RETURNING " TENANT_COLS,
			    name, out, e);
	if (rc == E_CONFLICT)
		err_set(e, E_CONFLICT, "a tenant with this name exists");
	return rc;
}

int store_tenant_get(struct store *st, const char *id, struct store_tenant *out, struct err *e)
{
	return tenant_one(st, NULL, "SELECT " TENANT_COLS " FROM tenants WHERE id = $1", id, out,
			  e);
}

int store_tenant_get_by_name(struct store *st, const char *name, struct store_tenant *out,
			     struct err *e)
{
	return tenant_one(st, NULL,
			  "SELECT " TENANT_COLS " FROM tenants WHERE lower(name) = lower($1)", name,
			  out, e);
}

int store_tenant_list(struct store *st, const char *after_id, int limit,
		      struct store_tenant **out, size_t *n, struct err *e)
{
	static const struct store_rows how = {.size = sizeof(**out), .copy = tenant_copy};
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {after_id, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT " TENANT_COLS " FROM tenants "
			    "WHERE $1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT $2",
			    2, params, &how, &rows, n, e);
	*out = rows;
	return rc;
}
