#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

int store_idempotency_begin(struct store *st, const char *tenant_id, const char *key,
			    const char *request_hash, struct store_idem *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	const char *params[] = {tenant_id, key, request_hash};
	PGconn *conn = store_conn_acquire(st, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	/* An expired entry, or a claim left by a process that died, no longer holds the key. */
	int rc = store_conn_exec(conn,
				 "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND "
				 "(created_at < now() - interval '24 hours' OR (status IS NULL AND "
				 "created_at < now() - interval '1 minute'))",
				 2, params, &res, e);
	PQclear(res);
	if (!rc)
		rc = store_conn_exec(conn,
				     "INSERT INTO idempotency_keys (tenant_id, key, request_hash) "
				     "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
				     3, params, &res, e);
	if (!rc && PQntuples(res) == 1) {
		out->state = STORE_IDEM_NEW;
		goto out;
	}
	PQclear(res);
	res = NULL;
	if (!rc)
		rc = store_conn_exec(conn,
				     "SELECT request_hash, status, response_body, location FROM "
				     "idempotency_keys WHERE tenant_id = $1 AND key = $2",
				     2, params, &res, e);
	if (rc)
		goto out;
	if (PQntuples(res) == 0) {
		/* Finished and forgotten between our two statements: try again as new. */
		rc = err_set(e, E_CONFLICT, "idempotency key changed hands; retry");
	} else if (strcmp(PQgetvalue(res, 0, 0), request_hash) != 0) {
		out->state = STORE_IDEM_MISMATCH;
	} else if (PQgetisnull(res, 0, 1)) {
		out->state = STORE_IDEM_IN_PROGRESS;
	} else {
		out->state = STORE_IDEM_REPLAY;
		out->status = atoi(PQgetvalue(res, 0, 1));
		out->body = strdup(PQgetisnull(res, 0, 2) ? "" : PQgetvalue(res, 0, 2));
		store_copy(out->location, sizeof(out->location), res, 0, 3);
		if (!out->body)
			rc = err_set(e, E_NOMEM, "idempotency");
	}
out:
	PQclear(res);
	store_conn_release(st, conn);
	return rc;
}

int store_idempotency_finish(struct store *st, const char *tenant_id, const char *key,
			     int status, const char *body, const char *location, struct err *e)
{
	char st_text[16];
	snprintf(st_text, sizeof(st_text), "%d", status);
	const char *params[] = {tenant_id, key, st_text, body, location && *location ? location : NULL};
	PGresult *res;
	int rc = store_exec(st,
			    "UPDATE idempotency_keys SET status = $3, response_body = $4, "
			    "location = $5 WHERE tenant_id = $1 AND key = $2",
			    5, params, &res, e);
	PQclear(res);
	return rc;
}

int store_idempotency_forget(struct store *st, const char *tenant_id, const char *key,
			     struct err *e)
{
	const char *params[] = {tenant_id, key};
	PGresult *res;
	int rc = store_exec(st,
			    "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND "
			    "status IS NULL",
			    2, params, &res, e);
	PQclear(res);
	return rc;
}
