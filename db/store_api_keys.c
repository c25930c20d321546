#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define KEY_COLS "id, tenant_id, role, prefix, " SQL_TIME("created_at") ", " SQL_TIME("last_used_at")

static void key_row(const PGresult *res, int row, struct store_api_key *k)
{
	store_copy(k->id, sizeof(k->id), res, row, 0);
	store_copy(k->tenant_id, sizeof(k->tenant_id), res, row, 1);
	k->role = access_role_parse(PQgetvalue(res, row, 2));
	store_copy(k->prefix, sizeof(k->prefix), res, row, 3);
	store_copy(k->created_at, sizeof(k->created_at), res, row, 4);
	store_copy(k->last_used_at, sizeof(k->last_used_at), res, row, 5);
}

STORE_ROW_COPY(key_copy, key_row)

int store_api_key_create(struct store *st, const struct store_actor *actor,
			 const char *tenant_id, enum access_role role, const char *key_hash,
			 const char *prefix, struct store_api_key *out, struct err *e)
{
	const char *params[] = {tenant_id, access_role_name(role), key_hash, prefix};
	PGresult *res;
	int rc = store_exec_as(st, actor,
			    "INSERT INTO api_keys (tenant_id, role, key_hash, prefix) "
			    "VALUES ($1, $2, $3, $4) RETURNING " KEY_COLS,
			    4, params, &res, e);
	if (rc == E_NOTFOUND)
		return err_set(e, E_NOTFOUND, "no such tenant");
	if (rc)
		return rc;
	key_row(res, 0, out);
	PQclear(res);
	return E_OK;
}

int store_api_key_authenticate(struct store *st, const char *key_hash, struct store_api_key *out,
			       struct err *e)
{
	const char *params[] = {key_hash};
	PGresult *res;
	/*
	 * Marks the key used in the same round trip, but writes at most once a minute per key so
	 * a busy key does not turn every read into a write.
	 */
	int rc = store_exec(st,
			    "WITH k AS (SELECT id FROM api_keys WHERE key_hash = $1 AND "
			    "revoked_at IS NULL), "
			    "touched AS (UPDATE api_keys SET last_used_at = now() WHERE id IN "
			    "(SELECT id FROM k) AND (last_used_at IS NULL OR last_used_at < now() - "
			    "interval '1 minute') RETURNING id) "
			    "SELECT " KEY_COLS " FROM api_keys WHERE id IN (SELECT id FROM k)",
			    1, params, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "unknown or revoked API key");
	else
		key_row(res, 0, out);
	PQclear(res);
	return rc;
}

int store_api_key_list(struct store *st, const char *tenant_id, const char *after_id, int limit,
		       struct store_api_key **out, size_t *n, struct err *e)
{
	static const struct store_rows how = {.size = sizeof(**out), .copy = key_copy};
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {tenant_id, after_id, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT " KEY_COLS " FROM api_keys WHERE tenant_id = $1 AND "
			    "revoked_at IS NULL AND ($2::uuid IS NULL OR (created_at, id) < "
			    "(SELECT created_at, id FROM api_keys WHERE id = $2::uuid AND "
			    "tenant_id = $1)) ORDER BY created_at DESC, id DESC LIMIT $3",
			    3, params, &how, &rows, n, e);
	*out = rows;
	return rc;
}

int store_api_key_revoke(struct store *st, const struct store_actor *actor,
			 const char *tenant_id, const char *key_id, struct err *e)
{
	const char *params[] = {tenant_id, key_id};
	PGresult *res;
	int rc = store_exec_as(st, actor,
			    "UPDATE api_keys SET revoked_at = now() WHERE tenant_id = $1 AND "
			    "id = $2::uuid AND revoked_at IS NULL",
			    2, params, &res, e);
	if (rc)
		return rc;
	if (strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "no such API key");
	PQclear(res);
	return rc;
}
