#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_integrations.h"
#include "store_internal.h"

#define INTEGRATION_COLS                                                                          \
	"id, name, status, group_management, coalesce(default_domain, ''), "                      \
	"coalesce(import_filter, ''), lockout_action, password_expiry_action, "                   \
	"deletion_guard_max_count, deletion_guard_max_percent, deleted_in_google_action, "        \
	"provision_without_password, import_enabled, import_interval_minutes, import_mode, "       \
	"coalesce(google_customer_id, ''), coalesce(google_primary_domain, ''), version, "        \
	SQL_TIME("created_at") ", " SQL_TIME("updated_at") ", " SQL_TIME("deactivated_at") ", "       \
	"group_membership, identity_source, " SQL_TIME("import_last_run_at") ", "                     \
	SQL_TIME("import_next_run_at") ", import_guard_max_count"

static bool bool_at(const PGresult *res, int row, int col)
{
	return strcmp(PQgetvalue(res, row, col), "t") == 0;
}

static void integration_row(const PGresult *res, int row, struct store_integration *it)
{
	store_copy(it->id, sizeof(it->id), res, row, 0);
	store_copy(it->name, sizeof(it->name), res, row, 1);
	store_copy(it->status, sizeof(it->status), res, row, 2);
	it->group_management = bool_at(res, row, 3);
	store_copy(it->default_domain, sizeof(it->default_domain), res, row, 4);
	store_copy(it->import_filter, sizeof(it->import_filter), res, row, 5);
	store_copy(it->lockout_action, sizeof(it->lockout_action), res, row, 6);
	store_copy(it->password_expiry_action, sizeof(it->password_expiry_action), res, row, 7);
	it->deletion_guard_max_count = atoi(PQgetvalue(res, row, 8));
	it->deletion_guard_max_percent = atoi(PQgetvalue(res, row, 9));
	store_copy(it->deleted_in_google_action, sizeof(it->deleted_in_google_action), res, row, 10);
	it->provision_without_password = bool_at(res, row, 11);
	it->import_enabled = bool_at(res, row, 12);
	it->import_interval_minutes = atoi(PQgetvalue(res, row, 13));
	store_copy(it->import_mode, sizeof(it->import_mode), res, row, 14);
	store_copy(it->google_customer_id, sizeof(it->google_customer_id), res, row, 15);
	store_copy(it->google_primary_domain, sizeof(it->google_primary_domain), res, row, 16);
	it->version = strtoll(PQgetvalue(res, row, 17), NULL, 10);
	store_copy(it->created_at, sizeof(it->created_at), res, row, 18);
	store_copy(it->updated_at, sizeof(it->updated_at), res, row, 19);
	store_copy(it->deactivated_at, sizeof(it->deactivated_at), res, row, 20);
	store_copy(it->group_membership, sizeof(it->group_membership), res, row, 21);
	store_copy(it->identity_source, sizeof(it->identity_source), res, row, 22);
	store_copy(it->import_last_run_at, sizeof(it->import_last_run_at), res, row, 23);
	store_copy(it->import_next_run_at, sizeof(it->import_next_run_at), res, row, 24);
	it->import_guard_max_count = atoi(PQgetvalue(res, row, 25));
}

/* Text forms of the settings, in the order $2..$17 of the statements below (after the ids). */
struct settings_text {
	char gm[2], count[16], percent[16], pwnp[2], imp_en[2], interval[16], import_guard[16];
};

static void settings_params(const struct store_integration *it, struct settings_text *t,
			    const char **p)
{
	snprintf(t->gm, sizeof(t->gm), "%s", it->group_management ? "t" : "f");
	snprintf(t->count, sizeof(t->count), "%d", it->deletion_guard_max_count);
	snprintf(t->percent, sizeof(t->percent), "%d", it->deletion_guard_max_percent);
	snprintf(t->pwnp, sizeof(t->pwnp), "%s", it->provision_without_password ? "t" : "f");
	snprintf(t->imp_en, sizeof(t->imp_en), "%s", it->import_enabled ? "t" : "f");
	snprintf(t->interval, sizeof(t->interval), "%d", it->import_interval_minutes);
	p[0] = it->name;
	p[1] = t->gm;
	p[2] = it->default_domain[0] ? it->default_domain : NULL;
	p[3] = it->import_filter[0] ? it->import_filter : NULL;
	p[4] = it->lockout_action;
	p[5] = it->password_expiry_action;
	p[6] = t->count;
	p[7] = t->percent;
	p[8] = it->deleted_in_google_action;
	p[9] = t->pwnp;
	p[10] = t->imp_en;
	p[11] = t->interval;
	p[12] = it->import_mode;
	p[13] = it->group_membership[0] ? it->group_membership : "additive";
	p[14] = it->identity_source[0] ? it->identity_source : "directory";
	snprintf(t->import_guard, sizeof(t->import_guard), "%d", it->import_guard_max_count);
	p[15] = t->import_guard;
}

static int name_conflict(int rc, const char *name, struct err *e)
{
	if (rc == E_CONFLICT)
		return err_set(e, E_CONFLICT, "an integration named \"%.200s\" exists", name);
	return rc;
}

int store_integration_create(struct store *st, const struct store_actor *actor,
			     const char *tenant_id, const char *const *default_rules,
			     struct store_integration *it, struct err *e)
{
	struct settings_text t;
	const char *p[17];
	p[0] = tenant_id;
	settings_params(it, &t, p + 1);
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	int rc = store_conn_exec(
		conn,
		"INSERT INTO integrations (tenant_id, name, group_management, default_domain, "
		"import_filter, lockout_action, password_expiry_action, deletion_guard_max_count, "
		"deletion_guard_max_percent, deleted_in_google_action, provision_without_password, "
		"import_enabled, import_interval_minutes, import_mode, group_membership, "
		"identity_source, import_guard_max_count) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
		"$10, $11, $12, $13, $14, $15, $16, $17) RETURNING " INTEGRATION_COLS,
		17, p, &res, e);
	if (!rc)
		integration_row(res, 0, it);
	PQclear(res);
	for (const char *const *a = default_rules; !rc && a && *a; a++) {
		const char *rp[] = {tenant_id, it->id, *a};
		rc = store_conn_exec(conn,
				     "INSERT INTO attribute_rules (tenant_id, integration_id, "
				     "attribute, direction) VALUES ($1, $2, $3, 'export')",
				     3, rp, &res, e);
		PQclear(res);
	}
	return name_conflict(store_tx_end(st, conn, rc, e), it->name, e);
}

int store_integration_get(struct store *st, const char *tenant_id, const char *id,
			  struct store_integration *out, struct err *e)
{
	const char *p[] = {tenant_id, id};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT " INTEGRATION_COLS
				       " FROM integrations WHERE tenant_id = $1 AND id = $2::uuid",
				       2, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	else
		integration_row(res, 0, out);
	PQclear(res);
	return rc;
}

STORE_ROW_COPY(integration_copy, integration_row)

int store_integration_list(struct store *st, const char *tenant_id, const char *after_id,
			   int limit, struct store_integration **out, size_t *n, struct err *e)
{
	static const struct store_rows how = {.size = sizeof(**out), .copy = integration_copy};
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {tenant_id, after_id, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT " INTEGRATION_COLS " FROM integrations WHERE tenant_id = $1 AND "
			    "($2::uuid IS NULL OR id > $2::uuid) ORDER BY id LIMIT $3",
			    3, p, &how, &rows, n, e);
	*out = rows;
	return rc;
}

/*
 * Locks the integration row for the rest of the transaction and checks its version. Fills *status
 * (may be NULL) with the current status.
 */
static int lock_integration(PGconn *conn, const char *tenant_id, const char *id,
			    int64_t if_version, char status[32], struct err *e)
{
	const char *p[] = {tenant_id, id};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 "SELECT version, status FROM integrations WHERE tenant_id = $1 AND "
				 "id = $2::uuid FOR UPDATE",
				 2, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	else if (if_version >= 0 && strtoll(PQgetvalue(res, 0, 0), NULL, 10) != if_version)
		rc = err_set(e, E_PRECONDITION, "the integration changed since that ETag; read it "
						"again");
	else if (status)
		store_copy(status, 32, res, 0, 1);
	PQclear(res);
	return rc;
}

/*
 * Brings import_next_run_at in line with the row just written (SQL_IMPORT_NEXT_RUN) and into
 * *it, so the answer to a change is what a read right after shows. The last statement of an
 * audited transaction: it clears the actor first, as the scheduler writes the column without one
 * (bookkeeping: no audit event, no export reconcile).
 */
static int next_run_sync(PGconn *conn, const char *tenant_id, struct store_integration *it,
			 int import_minute_ms, struct err *e)
{
	PGresult *res = NULL;
	int rc = store_conn_exec(conn, "SELECT set_config('gwsync.actor_key_id', '', true)", 0,
				 NULL, &res, e);
	PQclear(res);
	if (rc)
		return rc;
	char minute[16];
	snprintf(minute, sizeof(minute), "%d", import_minute_ms > 0 ? import_minute_ms : 60000);
	const char *p[] = {tenant_id, it->id, minute};
	static const char sql[] =
		"UPDATE integrations SET import_next_run_at = " SQL_IMPORT_NEXT_RUN("$3")
		" WHERE tenant_id = $1 AND id = $2::uuid RETURNING " SQL_TIME("import_next_run_at");
	rc = store_conn_exec(conn, sql, 3, p, &res, e);
	if (!rc && PQntuples(res) == 1)
		store_copy(it->import_next_run_at, sizeof(it->import_next_run_at), res, 0, 0);
	PQclear(res);
	return rc;
}

int store_integration_update(struct store *st, const struct store_actor *actor,
			     const char *tenant_id, struct store_integration *it,
			     int import_minute_ms, struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	int rc = lock_integration(conn, tenant_id, it->id, it->version, NULL, e);
	if (!rc && it->default_domain[0]) {
		const char *dp[] = {it->id, it->default_domain};
		rc = store_conn_exec(conn,
				     "SELECT 1 FROM integration_domains WHERE integration_id = $1 "
				     "AND domain = $2",
				     2, dp, &res, e);
		if (!rc && PQntuples(res) == 0)
			rc = err_set(e, E_INVAL, "default_domain must be one of the integration's "
						 "domains");
		PQclear(res);
		res = NULL;
	}
	if (!rc) {
		struct settings_text t;
		const char *p[18];
		p[0] = tenant_id;
		p[1] = it->id;
		settings_params(it, &t, p + 2);
		rc = store_conn_exec(
			conn,
			"UPDATE integrations SET name = $3, group_management = $4, "
			"default_domain = $5, import_filter = $6, lockout_action = $7, "
			"password_expiry_action = $8, deletion_guard_max_count = $9, "
			"deletion_guard_max_percent = $10, deleted_in_google_action = $11, "
			"provision_without_password = $12, import_enabled = $13, "
			"import_interval_minutes = $14, import_mode = $15, group_membership = $16, "
			"identity_source = $17, import_guard_max_count = $18, version = version + 1, "
			"updated_at = now() WHERE tenant_id = $1 AND id = $2::uuid RETURNING "
			INTEGRATION_COLS,
			18, p, &res, e);
		if (!rc)
			integration_row(res, 0, it);
		PQclear(res);
	}
	if (!rc)
		rc = next_run_sync(conn, tenant_id, it, import_minute_ms, e);
	return name_conflict(store_tx_end(st, conn, rc, e), it->name, e);
}

int store_integration_delete(struct store *st, const struct store_actor *actor,
			     const char *tenant_id, const char *id, int64_t if_version,
			     struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	char status[32];
	int rc = lock_integration(conn, tenant_id, id, if_version, status, e);
	if (!rc && strcmp(status, "pending_authorization") != 0 &&
	    strcmp(status, "deactivated") != 0)
		rc = err_set(e, E_CONFLICT,
			     "an integration that is %s cannot be deleted; deactivate it first",
			     status);
	if (!rc) {
		const char *p[] = {tenant_id, id};
		PGresult *res;
		rc = store_conn_exec(conn,
				     "DELETE FROM integrations WHERE tenant_id = $1 AND id = $2::uuid",
				     2, p, &res, e);
		PQclear(res);
	}
	return store_tx_end(st, conn, rc, e);
}

static int set_status(PGconn *conn, const char *tenant_id, const char *id, const char *status,
		      struct store_integration *out, struct err *e)
{
	const char *p[] = {tenant_id, id, status};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 "UPDATE integrations SET status = $3, deactivated_at = CASE WHEN $3 "
				 "= 'deactivated' THEN now() END, version = version + 1, updated_at = "
				 "now() WHERE tenant_id = $1 AND id = $2::uuid RETURNING "
				 INTEGRATION_COLS,
				 3, p, &res, e);
	if (!rc)
		integration_row(res, 0, out);
	PQclear(res);
	return rc;
}

int store_integration_deactivate(struct store *st, const struct store_actor *actor,
				 const char *tenant_id, const char *id, int64_t if_version,
				 struct store_integration *out, int *unbound, struct err *e)
{
	if (unbound)
		*unbound = 0;
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	char status[32];
	int rc = lock_integration(conn, tenant_id, id, if_version, status, e);
	if (!rc && strcmp(status, "deactivated") != 0)
		rc = set_status(conn, tenant_id, id, "deactivated", out, e);
	else if (!rc)
		rc = err_set(e, E_CONFLICT, "the integration is deactivated already");
	static const char *const unbind[] = {
		"DELETE FROM user_bindings WHERE tenant_id = $1 AND integration_id = $2::uuid",
		"DELETE FROM group_bindings WHERE tenant_id = $1 AND integration_id = $2::uuid",
	};
	for (size_t i = 0; !rc && i < 2; i++) {
		const char *p[] = {tenant_id, id};
		PGresult *res;
		rc = store_conn_exec(conn, unbind[i], 2, p, &res, e);
		if (!rc && unbound)
			*unbound += atoi(PQcmdTuples(res));
		PQclear(res);
	}
	/* Released links are kept (the Google id), never written: reactivation matches again. */
	if (!rc)
		rc = store_links_release_in(conn, tenant_id, id, NULL, e);
	/* Group links stop being managed; the Google groups are kept (a rebinding after the
	 * reactivation manages the same group again, by id). */
	if (!rc)
		rc = store_group_links_release_in(conn, tenant_id, id, e);
	/* not active: no next run, whatever the minute */
	if (!rc)
		rc = next_run_sync(conn, tenant_id, out, 0, e);
	return store_tx_end(st, conn, rc, e);
}

int store_integration_reactivate(struct store *st, const struct store_actor *actor,
				 const char *tenant_id, const char *id, int64_t if_version,
				 struct store_integration *out, struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	char status[32];
	int rc = lock_integration(conn, tenant_id, id, if_version, status, e);
	if (!rc && strcmp(status, "deactivated") != 0)
		rc = err_set(e, E_CONFLICT, "only a deactivated integration can be reactivated; it "
					    "is %s",
			     status);
	if (!rc)
		rc = set_status(conn, tenant_id, id, "pending_authorization", out, e);
	if (!rc)
		rc = next_run_sync(conn, tenant_id, out, 0, e);
	return store_tx_end(st, conn, rc, e);
}
