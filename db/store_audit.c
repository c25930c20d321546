#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

void store_audit_events_free(struct store_audit_event *events, size_t n)
{
	if (!events)
		return;
	for (size_t i = 0; i < n; i++) {
		free(events[i].before_json);
		free(events[i].after_json);
	}
	free(events);
}

static char *dup_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : strdup(PQgetvalue(res, row, col));
}

int store_audit_list(struct store *st, const char *tenant_id, int64_t before_id, int limit,
		     struct store_audit_event **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	char before[24], lim[16];
	snprintf(before, sizeof(before), "%lld", (long long)before_id);
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {tenant_id, before, lim};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT id, actor_key_id, request_id, resource_type, resource_id, action, "
				       "before::text, after::text, " SQL_TIME("created_at") " FROM audit_events "
				       "WHERE tenant_id = $1 AND ($2::bigint = 0 OR id < $2::bigint) "
				       "ORDER BY id DESC LIMIT $3",
				       3, params, &res, e);
	if (rc)
		return rc;
	int rows = PQntuples(res);
	struct store_audit_event *ev = rows ? calloc((size_t)rows, sizeof(*ev)) : NULL;
	if (rows && !ev) {
		PQclear(res);
		return err_set(e, E_NOMEM, "audit list");
	}
	for (int i = 0; i < rows; i++) {
		ev[i].id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		store_copy(ev[i].actor_key_id, sizeof(ev[i].actor_key_id), res, i, 1);
		store_copy(ev[i].request_id, sizeof(ev[i].request_id), res, i, 2);
		store_copy(ev[i].resource_type, sizeof(ev[i].resource_type), res, i, 3);
		store_copy(ev[i].resource_id, sizeof(ev[i].resource_id), res, i, 4);
		store_copy(ev[i].action, sizeof(ev[i].action), res, i, 5);
		ev[i].before_json = dup_or_null(res, i, 6);
		ev[i].after_json = dup_or_null(res, i, 7);
		store_copy(ev[i].created_at, sizeof(ev[i].created_at), res, i, 8);
	}
	PQclear(res);
	*out = ev;
	*n = (size_t)rows;
	return E_OK;
}
