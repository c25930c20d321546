/* The transactional outbox (relay side) and the scheduler's tick. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_internal.h"
#include "store_jobs.h"

static void batch_free(struct store_outbox_batch *b)
{
	for (size_t i = 0; b->rows && i < b->n; i++) {
		free(b->rows[i].key);
		PQfreemem(b->rows[i].payload);
		free(b->rows[i].headers_json);
	}
	free(b->rows);
	b->rows = NULL;
	b->n = 0;
	b->internal = NULL;
}

int store_outbox_batch_begin(struct store *st, int limit, struct store_outbox_batch *b,
			     struct err *e)
{
	memset(b, 0, sizeof(*b));
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {lim};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 "SELECT id, stream, key, payload, headers::text FROM outbox WHERE "
				 "published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
				 1, p, &res, e);
	if (rc) {
		store_tx_end(st, conn, rc, NULL);
		return rc;
	}
	int rows = PQntuples(res);
	if (rows == 0) {
		PQclear(res);
		return store_tx_end(st, conn, E_OK, e);
	}
	b->rows = calloc((size_t)rows, sizeof(*b->rows));
	if (!b->rows)
		rc = err_set(e, E_NOMEM, "outbox batch");
	for (int i = 0; !rc && i < rows; i++) {
		struct store_outbox_row *r = &b->rows[i];
		b->n = (size_t)i + 1;
		r->id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		store_copy(r->stream, sizeof(r->stream), res, i, 1);
		r->key = strdup(PQgetvalue(res, i, 2));
		r->payload = PQunescapeBytea((const unsigned char *)PQgetvalue(res, i, 3),
					     &r->payload_len);
		r->headers_json = strdup(PQgetvalue(res, i, 4));
		if (!r->key || !r->payload || !r->headers_json)
			rc = err_set(e, E_NOMEM, "outbox row");
	}
	PQclear(res);
	if (rc) {
		batch_free(b);
		store_tx_end(st, conn, rc, NULL);
		return rc;
	}
	b->internal = conn;
	return E_OK;
}

int store_outbox_batch_end(struct store *st, struct store_outbox_batch *b, double *lag_ms,
			   struct err *e)
{
	if (lag_ms)
		*lag_ms = 0;
	PGconn *conn = b->internal;
	if (!conn) {
		batch_free(b);
		return E_OK;
	}
	/* "{1,2,3}": the delivered ids as one array parameter. */
	size_t cap = b->n * 21 + 3, len = 0;
	char *ids = malloc(cap);
	int rc = ids ? E_OK : err_set(e, E_NOMEM, "outbox ids");
	if (ids) {
		ids[len++] = '{';
		for (size_t i = 0; i < b->n; i++) {
			if (!b->rows[i].delivered)
				continue;
			len += (size_t)snprintf(ids + len, cap - len, "%s%lld", len > 1 ? "," : "",
						(long long)b->rows[i].id);
		}
		ids[len++] = '}';
		ids[len] = '\0';
	}
	if (!rc && len > 2) {
		const char *p[] = {ids};
		PGresult *res;
		rc = store_conn_exec(conn,
				     "WITH u AS (UPDATE outbox SET published_at = clock_timestamp() "
				     "WHERE id = ANY($1::bigint[]) RETURNING published_at - "
				     "created_at AS lag) SELECT coalesce(extract(epoch FROM max(lag)) "
				     "* 1000, 0) FROM u",
				     1, p, &res, e);
		if (!rc && lag_ms)
			*lag_ms = strtod(PQgetvalue(res, 0, 0), NULL);
		PQclear(res);
	}
	free(ids);
	rc = store_tx_end(st, conn, rc, e);
	batch_free(b);
	return rc;
}

int store_outbox_add(struct store *st, const char *stream, const char *key, const void *payload,
		     size_t len, const char *headers_json, struct err *e)
{
	const char *p[] = {stream, key, payload, headers_json ? headers_json : "{}"};
	int lengths[] = {0, 0, (int)len, 0};
	int formats[] = {0, 0, 1, 0};
	PGconn *conn = store_conn_acquire(st, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *r = PQexecParams(conn,
				   "INSERT INTO outbox (stream, key, payload, headers) VALUES ($1, $2, "
				   "$3::bytea, $4::jsonb)",
				   4, NULL, p, lengths, formats, 0);
	int rc = E_OK;
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		rc = err_set(e, PQstatus(conn) != CONNECTION_OK || !state ? E_UNAVAIL : E_INTERNAL,
			     "database: outbox insert failed");
	}
	PQclear(r);
	store_conn_release(st, conn);
	return rc;
}

int store_outbox_backlog(struct store *st, int64_t *rows, double *oldest_s, struct err *e)
{
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - "
				       "min(created_at)), 0) FROM outbox WHERE published_at IS NULL",
				       0, NULL, &res, e);
	if (rc)
		return rc;
	*rows = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*oldest_s = strtod(PQgetvalue(res, 0, 1), NULL);
	PQclear(res);
	return E_OK;
}

int store_ops_counts_load(struct store *st, struct store_ops_count **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	PGresult *res;
	int rc = store_exec(st,
			    "SELECT 'job', type, status, count(*) FROM jobs GROUP BY type, status "
			    "UNION ALL SELECT 'integration', status, '', count(*) FROM integrations "
			    "GROUP BY status "
			    "UNION ALL SELECT 'dead_letter', '', '', count(*) FROM outbox "
			    "WHERE stream = 'dlq' AND created_at > clock_timestamp() - interval '1 hour'",
			    0, NULL, &res, e);
	if (rc)
		return rc;
	int rows = PQntuples(res);
	struct store_ops_count *c = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*c));
	if (!c) {
		PQclear(res);
		return err_set(e, E_NOMEM, "ops counts");
	}
	for (int i = 0; i < rows; i++) {
		snprintf(c[i].kind, sizeof(c[i].kind), "%s", PQgetvalue(res, i, 0));
		snprintf(c[i].a, sizeof(c[i].a), "%s", PQgetvalue(res, i, 1));
		snprintf(c[i].b, sizeof(c[i].b), "%s", PQgetvalue(res, i, 2));
		c[i].n = strtoll(PQgetvalue(res, i, 3), NULL, 10);
	}
	PQclear(res);
	*out = c;
	*n = (size_t)rows;
	return E_OK;
}

/* ---- scheduler ---- */

#define SCHED_LOCK_KEY "7316001"

int store_sched_tick(struct store *st, const struct store_sched_options *o,
		     struct store_sched_result *r, struct err *e)
{
	memset(r, 0, sizeof(*r));
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	int rc = store_conn_exec(conn, "SELECT pg_try_advisory_xact_lock(" SCHED_LOCK_KEY ")", 0,
				 NULL, &res, e);
	r->ran = !rc && PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (rc || !r->ran)
		return store_tx_end(st, conn, rc, e);

	char max_attempts[16], reannounce[16], out_h[16], ev_h[16];
	snprintf(max_attempts, sizeof(max_attempts), "%d", o->max_attempts);
	snprintf(reannounce, sizeof(reannounce), "%d", o->reannounce_s);
	snprintf(out_h, sizeof(out_h), "%d", o->outbox_retention_h);
	snprintf(ev_h, sizeof(ev_h), "%d", o->processed_retention_h);

	/* Expired leases: the worker died or lost the database. */
	const char *p1[] = {max_attempts};
	rc = store_conn_exec(
		conn,
		"WITH x AS (SELECT id FROM jobs WHERE status = 'running' AND lease_expires_at < "
		"clock_timestamp() FOR UPDATE SKIP LOCKED) UPDATE jobs j SET status = CASE WHEN "
		"j.attempts >= $1::int THEN 'failed' ELSE 'queued' END, error = CASE WHEN j.attempts "
		">= $1::int THEN format('the lease expired %s times: the worker died or lost the database "
		"(last held by %s); given up', "
		"j.attempts, j.lease_owner) ELSE j.error END, error_reason = CASE WHEN j.attempts >= "
		"$1::int THEN 'lease_expired' ELSE j.error_reason END, finished_at = CASE WHEN j.attempts >= "
		"$1::int THEN now() END, lease_owner = NULL, lease_expires_at = NULL, updated_at = "
		"now(), coalesce_key = CASE WHEN EXISTS (SELECT 1 FROM jobs q WHERE q.integration_id "
		"= j.integration_id AND q.coalesce_key = j.coalesce_key AND q.status = 'queued') "
		"THEN NULL ELSE j.coalesce_key END FROM x WHERE j.id = x.id RETURNING j.status",
		1, p1, &res, e);
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		if (strcmp(PQgetvalue(res, i, 0), "queued") == 0)
			r->requeued++;
		else
			r->failed++;
	}
	PQclear(res);
	res = NULL;

	/*
	 * Due scheduled imports: an interval after the last one was queued (a run that failed waits
	 * for the next interval, never retried in a storm), and never while an import of the
	 * integration is queued, running or awaiting approval. Then every integration's
	 * import_next_run_at is brought in line (NULL when off or not active).
	 */
	char minute_ms[16];
	snprintf(minute_ms, sizeof(minute_ms), "%d",
		 o->import_minute_ms > 0 ? o->import_minute_ms : 60000);
	const char *pm[] = {minute_ms};
	if (!rc)
		rc = store_conn_exec(
			conn,
			"WITH due AS (UPDATE integrations i SET import_last_run_at = now(), "
			"import_next_run_at = now() + i.import_interval_minutes * $1::int * interval "
			"'1 millisecond' WHERE i.status = 'active' AND i.import_enabled AND "
			"(i.import_last_run_at IS NULL OR i.import_last_run_at + "
			"i.import_interval_minutes * $1::int * interval '1 millisecond' <= now()) AND "
			"NOT EXISTS (SELECT 1 FROM jobs j WHERE j.integration_id = i.id AND j.type = "
			"'import_users' AND j.status IN ('queued', 'running', 'awaiting_approval')) "
			"RETURNING i.tenant_id, i.id, i.import_mode) INSERT INTO jobs (tenant_id, "
			"integration_id, type, parameters, trigger) SELECT tenant_id, id, "
			"'import_users', jsonb_build_object('mode', import_mode, 'all_new', "
			"import_mode = 'full'), 'schedule' FROM due",
			1, pm, &res, e);
	if (!rc)
		r->imports_queued = atoi(PQcmdTuples(res));
	PQclear(res);
	res = NULL;
	if (!rc)
		rc = store_conn_exec(
			conn,
			"UPDATE integrations SET import_next_run_at = " SQL_IMPORT_NEXT_RUN("$1")
			" WHERE import_next_run_at IS DISTINCT FROM " SQL_IMPORT_NEXT_RUN("$1"),
			1, pm, &res, e);
	PQclear(res);
	res = NULL;

	/*
	 * Due full reconciles: an active integration with bindings whose last full export (or its
	 * authorization) is older than the interval; coalesced with a queued reconcile.
	 */
	char rec_h[16];
	snprintf(rec_h, sizeof(rec_h), "%d", o->export_reconcile_h);
	const char *pr[] = {rec_h};
	if (!rc && o->export_reconcile_h > 0)
		rc = store_conn_exec(
			conn,
			"INSERT INTO jobs (tenant_id, integration_id, type, parameters, trigger, "
			"coalesce_key) SELECT i.tenant_id, i.id, 'export_users', '{}', 'schedule', "
			"'export_reconcile' FROM integrations i JOIN integration_credentials c ON "
			"c.integration_id = i.id WHERE i.status = 'active' AND c.authorized_at < now() - "
			"$1::int * interval '1 hour' AND (EXISTS (SELECT 1 FROM user_bindings b WHERE "
			"b.integration_id = i.id) OR EXISTS (SELECT 1 FROM group_bindings b WHERE "
			"b.integration_id = i.id)) AND NOT EXISTS (SELECT 1 FROM jobs j WHERE "
			"j.integration_id = i.id AND j.type IN ('export_users', 'full_sync') AND NOT "
			"j.parameters ? 'user_ids' AND (j.status IN ('queued', 'running', "
			"'awaiting_approval') OR j.created_at > now() - $1::int * interval '1 hour')) "
			"ON CONFLICT (integration_id, coalesce_key) WHERE status = 'queued' AND "
			"coalesce_key IS NOT NULL DO NOTHING",
			1, pr, &res, e);
	if (!rc && o->export_reconcile_h > 0)
		r->reconciles_queued = atoi(PQcmdTuples(res));
	PQclear(res);
	res = NULL;

	/* Queued jobs whose announcement went missing (or waited behind a running job). */
	const char *p2[] = {reannounce};
	if (!rc)
		rc = store_conn_exec(
			conn,
			"SELECT gwsync_job_announce(q.id, q.integration_id, q.tenant_id) FROM (SELECT "
			"DISTINCT ON (integration_id) id, integration_id, tenant_id, announced_at FROM "
			"jobs WHERE status = 'queued' AND NOT cancel_requested ORDER BY "
			"integration_id, seq) q WHERE (q.announced_at IS NULL OR q.announced_at < "
			"now() - $1::int * interval '1 second') AND NOT EXISTS (SELECT 1 FROM jobs r "
			"WHERE r.integration_id = q.integration_id AND r.status = 'running') LIMIT "
			"1000",
			1, p2, &res, e);
	if (!rc)
		r->reannounced = PQntuples(res);
	PQclear(res);
	res = NULL;

	/* Pruning, in bounded slices so one tick stays short. */
	const char *p3[] = {out_h};
	if (!rc)
		rc = store_conn_exec(conn,
				     "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE "
				     "published_at < now() - $1::int * interval '1 hour' LIMIT 10000)",
				     1, p3, &res, e);
	if (!rc)
		r->outbox_pruned = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	res = NULL;
	const char *p4[] = {ev_h};
	if (!rc)
		rc = store_conn_exec(conn,
				     "DELETE FROM processed_events WHERE (source, id) IN (SELECT "
				     "source, id FROM processed_events WHERE processed_at < now() - "
				     "$1::int * interval '1 hour' LIMIT 10000)",
				     1, p4, &res, e);
	if (!rc)
		r->events_pruned = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return store_tx_end(st, conn, rc, e);
}
