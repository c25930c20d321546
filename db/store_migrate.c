#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"

/* Any constant works as long as every gwsync version uses the same one. */
#define MIGRATE_LOCK_KEY "7389146201"

static const char create_table_sql[] =
	"CREATE TABLE IF NOT EXISTS schema_migrations ("
	" version integer PRIMARY KEY,"
	" name text NOT NULL,"
	" sha256 text NOT NULL,"
	" applied_at timestamptz NOT NULL DEFAULT now())";

int store_migrations_latest_known(void)
{
	return store_migrations_count ? store_migrations[store_migrations_count - 1].version : 0;
}

static int exec_simple(PGconn *conn, const char *sql, struct err *e)
{
	PGresult *res;
	int rc = store_conn_exec(conn, sql, 0, NULL, &res, e);
	PQclear(res);
	return rc;
}

/* Runs a whole migration file: PQexec accepts several statements in one string. */
static int exec_script(PGconn *conn, const struct store_migration *m, struct err *e)
{
	PGresult *res = PQexec(conn, m->sql);
	ExecStatusType status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc = E_OK;
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		rc = err_set(e, PQstatus(conn) == CONNECTION_OK ? E_INTERNAL : E_UNAVAIL,
			     "migration %04d_%s failed: %s", m->version, m->name,
			     msg ? msg : "connection lost");
	}
	PQclear(res);
	return rc;
}

static int apply_one(PGconn *conn, const struct store_migration *m, struct err *e)
{
	int rc = exec_simple(conn, "BEGIN", e);
	if (rc)
		return rc;
	rc = exec_script(conn, m, e);
	if (!rc) {
		char version[16];
		snprintf(version, sizeof(version), "%d", m->version);
		const char *params[] = {version, m->name, m->sha256};
		PGresult *res;
		rc = store_conn_exec(conn,
				     "INSERT INTO schema_migrations (version, name, sha256) "
				     "VALUES ($1, $2, $3)",
				     3, params, &res, e);
		PQclear(res);
	}
	if (!rc)
		rc = exec_simple(conn, "COMMIT", e);
	if (rc) {
		struct err ignored;
		exec_simple(conn, "ROLLBACK", &ignored);
	}
	return rc;
}

/* Checks what is recorded against what is compiled in; returns the index of the first to apply. */
static int plan(PGconn *conn, size_t *first, struct err *e)
{
	PGresult *res;
	int rc = store_conn_exec(conn,
				 "SELECT version, sha256 FROM schema_migrations ORDER BY version",
				 0, NULL, &res, e);
	if (rc)
		return rc;
	size_t i = 0;
	for (int row = 0; row < PQntuples(res); row++) {
		int version = atoi(PQgetvalue(res, row, 0));
		if (i >= store_migrations_count) {
			/* A newer gwsync migrated already; older code must not undo anything. */
			break;
		}
		const struct store_migration *m = &store_migrations[i];
		if (version != m->version) {
			rc = err_set(e, E_CONFLICT,
				     "database has migration %d where this build expects %d", version,
				     m->version);
			break;
		}
		if (strcmp(PQgetvalue(res, row, 1), m->sha256) != 0) {
			rc = err_set(e, E_CONFLICT,
				     "migration %04d_%s was changed after it was applied", m->version,
				     m->name);
			break;
		}
		i++;
	}
	PQclear(res);
	*first = i;
	return rc;
}

int store_migrate(struct store *st, int *applied, struct err *e)
{
	*applied = 0;
	PGconn *conn = store_conn_acquire(st, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	/* Session lock: a second migrator waits here until the first is done, then finds no work. */
	int rc = exec_simple(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", e);
	if (rc)
		goto out;
	rc = exec_simple(conn, create_table_sql, e);
	size_t first = 0;
	if (!rc)
		rc = plan(conn, &first, e);
	for (size_t i = first; !rc && i < store_migrations_count; i++) {
		const struct store_migration *m = &store_migrations[i];
		rc = apply_one(conn, m, e);
		if (!rc) {
			(*applied)++;
			log_write(LOG_INFO, "db", "migration_applied", m->name,
				  (struct log_field[]){LOG_NUM("version", m->version)}, 1);
		}
	}
	struct err ignored;
	exec_simple(conn, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", &ignored);
out:
	store_conn_release(st, conn);
	return rc;
}

int store_migrations_latest_applied(struct store *st, int *version, struct err *e)
{
	*version = 0;
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT coalesce(max(version), 0) FROM schema_migrations",
				       0, NULL, &res, e);
	/* 42P01: the table does not exist yet — nothing applied. */
	if (rc == E_INTERNAL && e && strcmp(e->reason, "42P01") == 0) {
		err_clear(e);
		return E_OK;
	}
	if (rc)
		return rc;
	*version = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return E_OK;
}
