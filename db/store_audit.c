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

static int audit_copy(const PGresult *res, int row, void *dst, struct err *e)
{
	(void)e;
	struct store_audit_event *ev = dst;
	ev->id = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	store_copy(ev->actor_key_id, sizeof(ev->actor_key_id), res, row, 1);
	store_copy(ev->request_id, sizeof(ev->request_id), res, row, 2);
	store_copy(ev->resource_type, sizeof(ev->resource_type), res, row, 3);
	store_copy(ev->resource_id, sizeof(ev->resource_id), res, row, 4);
	store_copy(ev->action, sizeof(ev->action), res, row, 5);
	ev->before_json = dup_or_null(res, row, 6);
	ev->after_json = dup_or_null(res, row, 7);
	store_copy(ev->created_at, sizeof(ev->created_at), res, row, 8);
	return E_OK;
}

int store_audit_list(struct store *st, const char *tenant_id, int64_t before_id, int limit,
		     struct store_audit_event **out, size_t *n, struct err *e)
{
	static const struct store_rows how = {.size = sizeof(**out), .copy = audit_copy};
	char before[24], lim[16];
	snprintf(before, sizeof(before), "%lld", (long long)before_id);
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {tenant_id, before, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT id, actor_key_id, request_id, resource_type, resource_id, action, "
			    "before::text, after::text, " SQL_TIME("created_at") " FROM audit_events "
			    "WHERE tenant_id = $1 AND ($2::bigint = 0 OR id < $2::bigint) "
			    "ORDER BY id DESC LIMIT $3",
			    3, params, &how, &rows, n, e);
	*out = rows;
	return rc;
}
