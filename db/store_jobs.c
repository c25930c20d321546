/* Jobs and job items: queueing, reading, cancelling, and the worker's claim/lease/finish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "store_jobs.h"

const char *const store_job_outcomes[JOB_NCOUNT] = {"created", "updated", "unchanged", "skipped",
						    "failed"};

#define JOB_COLS                                                                                   \
	"j.id, j.seq, j.tenant_id, j.integration_id, j.type, j.parameters::text, j.dry_run, "       \
	"j.status, j.trigger, j.cancel_requested, j.attempts, coalesce(j.lease_owner, ''), "        \
	SQL_TIME("j.lease_expires_at") ", j.progress_done, coalesce(j.progress_total, -1), "       \
	"j.created_count, j.updated_count, j.unchanged_count, j.skipped_count, j.failed_count, "    \
	"coalesce(j.error, ''), coalesce(j.requested_by::text, ''), " SQL_TIME("j.created_at")      \
	", " SQL_TIME("j.updated_at") ", " SQL_TIME("j.started_at") ", " SQL_TIME("j.finished_at") \
	", j.plan_summary::text, coalesce(j.error_reason, '')"
#define JOB_NCOLS 28

void store_job_cleanup(struct store_job *j)
{
	if (!j)
		return;
	free(j->parameters_json);
	j->parameters_json = NULL;
	free(j->plan_summary_json);
	j->plan_summary_json = NULL;
}

void store_jobs_free(struct store_job *jobs, size_t n)
{
	for (size_t i = 0; jobs && i < n; i++)
		store_job_cleanup(&jobs[i]);
	free(jobs);
}

static int job_row(const PGresult *res, int row, int c, struct store_job *j, struct err *e)
{
	memset(j, 0, sizeof(*j));
	store_copy(j->id, sizeof(j->id), res, row, c + 0);
	j->seq = strtoll(PQgetvalue(res, row, c + 1), NULL, 10);
	store_copy(j->tenant_id, sizeof(j->tenant_id), res, row, c + 2);
	store_copy(j->integration_id, sizeof(j->integration_id), res, row, c + 3);
	store_copy(j->type, sizeof(j->type), res, row, c + 4);
	j->parameters_json = strdup(PQgetvalue(res, row, c + 5));
	if (!j->parameters_json)
		return err_set(e, E_NOMEM, "job row");
	j->dry_run = PQgetvalue(res, row, c + 6)[0] == 't';
	store_copy(j->status, sizeof(j->status), res, row, c + 7);
	store_copy(j->trigger, sizeof(j->trigger), res, row, c + 8);
	j->cancel_requested = PQgetvalue(res, row, c + 9)[0] == 't';
	j->attempts = atoi(PQgetvalue(res, row, c + 10));
	store_copy(j->lease_owner, sizeof(j->lease_owner), res, row, c + 11);
	store_copy(j->lease_expires_at, sizeof(j->lease_expires_at), res, row, c + 12);
	j->progress_done = atoi(PQgetvalue(res, row, c + 13));
	j->progress_total = atoi(PQgetvalue(res, row, c + 14));
	for (int k = 0; k < JOB_NCOUNT; k++)
		j->counts[k] = atoi(PQgetvalue(res, row, c + 15 + k));
	store_copy(j->error, sizeof(j->error), res, row, c + 20);
	store_copy(j->requested_by, sizeof(j->requested_by), res, row, c + 21);
	store_copy(j->created_at, sizeof(j->created_at), res, row, c + 22);
	store_copy(j->updated_at, sizeof(j->updated_at), res, row, c + 23);
	store_copy(j->started_at, sizeof(j->started_at), res, row, c + 24);
	store_copy(j->finished_at, sizeof(j->finished_at), res, row, c + 25);
	if (!PQgetisnull(res, row, c + 26)) {
		j->plan_summary_json = strdup(PQgetvalue(res, row, c + 26));
		if (!j->plan_summary_json) {
			store_job_cleanup(j);
			return err_set(e, E_NOMEM, "job row");
		}
	}
	store_copy(j->error_reason, sizeof(j->error_reason), res, row, c + 27);
	return E_OK;
}

int store_job_create(struct store *st, const char *tenant_id, const char *integration_id,
		     const char *type, const char *parameters_json, bool dry_run,
		     const char *requested_by, bool allow_inactive, struct store_job *out,
		     struct err *e)
{
	const char *p[] = {tenant_id,
			   integration_id,
			   type,
			   parameters_json ? parameters_json : "{}",
			   dry_run ? "t" : "f",
			   requested_by,
			   allow_inactive ? "t" : "f"};
	PGresult *res;
	/* One round trip: check the integration and queue the job (its trigger writes the outbox). */
	int rc = store_exec(st,
			    "WITH i AS (SELECT id, status FROM integrations WHERE tenant_id = $1 "
			    "AND id = $2::uuid), j AS (INSERT INTO jobs (tenant_id, integration_id, "
			    "type, parameters, dry_run, requested_by) SELECT $1, i.id, $3, $4::jsonb, "
			    "$5::boolean, $6::uuid FROM i WHERE i.status = 'active' OR $7::boolean "
			    "RETURNING *) SELECT i.status, " JOB_COLS " FROM i LEFT JOIN j ON true",
			    7, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	else if (PQgetisnull(res, 0, 1)) {
		rc = err_set(e, E_CONFLICT,
			     "the integration is %s; jobs run only on an active integration",
			     PQgetvalue(res, 0, 0));
		if (e)
			snprintf(e->reason, sizeof(e->reason), "integration_not_active");
	} else
		rc = job_row(res, 0, 1, out, e);
	PQclear(res);
	return rc;
}

static int job_one(PGresult *res, struct store_job *out, struct err *e)
{
	int rc = PQntuples(res) == 0 ? err_set(e, E_NOTFOUND, "no such job")
				     : job_row(res, 0, 0, out, e);
	PQclear(res);
	return rc;
}

int store_job_get(struct store *st, const char *tenant_id, const char *id, struct store_job *out,
		  struct err *e)
{
	const char *p[] = {tenant_id, id};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT " JOB_COLS " FROM jobs j WHERE j.tenant_id = $1 AND j.id = $2::uuid",
				       2, p, &res, e);
	return rc ? rc : job_one(res, out, e);
}

/* A job list's row: the job's columns from the first. */
static int job_copy(const PGresult *res, int row, void *dst, struct err *e)
{
	return job_row(res, row, 0, dst, e);
}

STORE_ROWS_FREE(jobs_free, store_jobs_free)

int store_job_list(struct store *st, const char *tenant_id, const char *integration_id,
		   const char *status, const char *type, int64_t before_seq, int limit,
		   struct store_job **out, size_t *n, struct err *e)
{
	static const struct store_rows how = {.size = sizeof(**out),
					      .copy = job_copy,
					      .free = jobs_free,
					      .parent_missing = "no such integration",
					      .null_col = 0};
	char before[24], lim[16];
	snprintf(before, sizeof(before), "%lld", (long long)before_seq);
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {tenant_id, integration_id, status, type, before, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT " JOB_COLS " FROM integrations i LEFT JOIN jobs j ON "
			    "j.integration_id = i.id AND j.tenant_id = i.tenant_id AND ($3::text IS "
			    "NULL OR j.status = $3) AND ($4::text IS NULL OR j.type = $4) AND ($5::bigint = 0 "
			    "OR j.seq < $5::bigint) WHERE i.tenant_id = $1 AND i.id = $2::uuid ORDER BY j.seq "
			    "DESC NULLS LAST LIMIT $6",
			    6, p, &how, &rows, n, e);
	*out = rows;
	return rc;
}

int store_job_cancel(struct store *st, const char *tenant_id, const char *id,
		     struct store_job *out, bool *stopping, struct err *e)
{
	const char *p[] = {tenant_id, id};
	PGresult *res;
	*stopping = false;
	/* The status this statement left decides the answer: a read after it may already see the
	 * running job's worker end it as cancelled. */
	int rc = store_exec(
		st,
		"WITH c AS (UPDATE jobs SET status = CASE WHEN status = 'running' THEN status ELSE "
		"'cancelled' END, cancel_requested = true, finished_at = CASE WHEN status = "
		"'running' THEN NULL ELSE now() END, updated_at = now() WHERE tenant_id = $1 AND id = "
		"$2::uuid AND status IN ('queued', 'running', 'awaiting_approval') RETURNING status) "
		"SELECT (SELECT count(*) FROM c), status, (SELECT status = 'running' FROM c) FROM jobs "
		"WHERE tenant_id = $1 AND id = $2::uuid",
		2, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such job");
	else if (strcmp(PQgetvalue(res, 0, 0), "0") == 0)
		rc = err_set(e, E_CONFLICT, "the job has finished (%s); there is nothing to cancel",
			     PQgetvalue(res, 0, 1));
	else
		*stopping = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	PQclear(res);
	return rc ? rc : store_job_get(st, tenant_id, id, out, e);
}

int store_job_approve(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *id, struct store_job *out, bool *created, struct err *e)
{
	*created = false;
	memset(out, 0, sizeof(*out));
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	const char *p[] = {tenant_id, id, actor ? actor->key_id : NULL};
	PGresult *res = NULL;
	int rc = store_conn_exec(conn,
				 "SELECT j.status, j.dry_run, i.status FROM jobs j JOIN integrations i "
				 "ON i.id = j.integration_id WHERE j.tenant_id = $1 AND j.id = $2::uuid "
				 "FOR UPDATE OF j",
				 2, p, &res, e);
	char status[24] = "", istatus[32] = "";
	bool dry_run = false;
	if (!rc && PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such job");
	if (!rc) {
		store_copy(status, sizeof(status), res, 0, 0);
		dry_run = PQgetvalue(res, 0, 1)[0] == 't';
		store_copy(istatus, sizeof(istatus), res, 0, 2);
	}
	PQclear(res);
	res = NULL;
	bool finished_dry_run =
		dry_run && (!strcmp(status, "succeeded") || !strcmp(status, "partially_failed"));
	if (!rc && strcmp(status, "awaiting_approval") != 0 && !finished_dry_run)
		rc = err_set(e, E_CONFLICT,
			     "only a job awaiting approval or a finished dry run can be approved; "
			     "this one is %s%s",
			     status, dry_run ? " (dry run)" : "");
	if (!rc && strcmp(istatus, "active") != 0) {
		rc = err_set(e, E_CONFLICT,
			     "the integration is %s; jobs run only on an active integration",
			     istatus);
		if (e)
			snprintf(e->reason, sizeof(e->reason), "integration_not_active");
	}
	/*
	 * Awaiting approval: queued again (its trigger announces it), no longer extended by
	 * directory events — what was approved is what runs. A dry run: a new job applies it.
	 */
	if (!rc && !finished_dry_run)
		rc = store_conn_exec(conn,
				     "UPDATE jobs j SET status = 'queued', parameters = j.parameters "
				     "|| '{\"approved\": true}', coalesce_key = NULL, updated_at = now() "
				     "WHERE j.tenant_id = $1 AND j.id = $2::uuid RETURNING " JOB_COLS,
				     2, p, &res, e);
	else if (!rc)
		rc = store_conn_exec(conn,
				     "INSERT INTO jobs AS j (tenant_id, integration_id, type, "
				     "parameters, dry_run, requested_by) SELECT d.tenant_id, "
				     "d.integration_id, d.type, d.parameters || jsonb_build_object("
				     "'approved_plan', d.id::text), false, $3::uuid FROM jobs d WHERE "
				     "d.tenant_id = $1 AND d.id = $2::uuid AND NOT EXISTS (SELECT 1 FROM "
				     "jobs a WHERE a.integration_id = d.integration_id AND a.parameters "
				     "->> 'approved_plan' = d.id::text) RETURNING "
				     JOB_COLS,
				     3, p, &res, e);
	if (!rc && finished_dry_run && PQntuples(res) == 0)
		rc = err_set(e, E_CONFLICT, "this dry run was approved already");
	if (!rc)
		rc = job_row(res, 0, 0, out, e);
	if (!rc)
		*created = finished_dry_run;
	PQclear(res);
	rc = store_tx_end(st, conn, rc, e);
	if (rc)
		store_job_cleanup(out);
	return rc;
}

void store_job_items_free(struct store_job_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++)
		free(items[i].detail_json);
	free(items);
}

static int job_item_copy(const PGresult *res, int row, void *dst, struct err *e)
{
	(void)e;
	struct store_job_item *it = dst;
	it->seq = strtoll(PQgetvalue(res, row, 0), NULL, 10);
	store_copy(it->object_type, sizeof(it->object_type), res, row, 1);
	store_copy(it->object_id, sizeof(it->object_id), res, row, 2);
	store_copy(it->outcome, sizeof(it->outcome), res, row, 3);
	it->detail_json = PQgetisnull(res, row, 4) ? NULL : strdup(PQgetvalue(res, row, 4));
	store_copy(it->error_reason, sizeof(it->error_reason), res, row, 5);
	store_copy(it->error_message, sizeof(it->error_message), res, row, 6);
	store_copy(it->created_at, sizeof(it->created_at), res, row, 7);
	return E_OK;
}

int store_job_items_list(struct store *st, const char *tenant_id, const char *job_id,
			 const char *outcome, int64_t after_seq, int limit,
			 struct store_job_item **out, size_t *n, struct err *e)
{
	static const struct store_rows how = {.size = sizeof(**out),
					      .copy = job_item_copy,
					      .parent_missing = "no such job",
					      .null_col = 0};
	char after[24], lim[16];
	snprintf(after, sizeof(after), "%lld", (long long)after_seq);
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {tenant_id, job_id, outcome, after, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT ji.seq, ji.object_type, ji.object_id, ji.outcome, "
			    "ji.detail::text, ji.error_reason, ji.error_message, " SQL_TIME(
				    "ji.created_at") " FROM jobs j LEFT JOIN job_items ji ON ji.job_id "
						     "= j.id AND ($3::text IS NULL OR ji.outcome = "
						     "$3) AND ji.seq > $4 WHERE j.tenant_id = $1 AND "
						     "j.id = $2::uuid ORDER BY ji.seq LIMIT $5",
			    5, p, &how, &rows, n, e);
	*out = rows;
	return rc;
}

/* ---- worker ---- */

int store_job_claim(struct store *st, const char *id, const char *owner, int lease_ms,
		    enum store_claim *result, struct store_job *out, struct err *e)
{
	char lease[16];
	snprintf(lease, sizeof(lease), "%d", lease_ms);
	const char *p[] = {id, owner, lease};
	PGresult *res;
	*result = STORE_CLAIM_GONE;
	/* The NOT EXISTS spares most conflicts; the unique index settles the races it misses. */
	int rc = store_exec(st,
			    "UPDATE jobs j SET status = 'running', lease_owner = $2, "
			    "lease_expires_at = clock_timestamp() + $3 * interval '1 millisecond', "
			    "attempts = attempts + 1, started_at = coalesce(started_at, now()), "
			    "updated_at = now() WHERE j.id = $1::uuid AND j.status = 'queued' AND NOT "
			    "j.cancel_requested AND NOT EXISTS (SELECT 1 FROM jobs r WHERE "
			    "r.integration_id = j.integration_id AND r.status = 'running') "
			    "RETURNING " JOB_COLS,
			    3, p, &res, e);
	if (rc == E_CONFLICT) {
		*result = STORE_CLAIM_BUSY;
		err_clear(e);
		return E_OK;
	}
	if (rc)
		return rc;
	if (PQntuples(res) == 1) {
		*result = STORE_CLAIMED;
		return job_one(res, out, e);
	}
	PQclear(res);
	rc = store_exec_idempotent(st,
				   "SELECT j.status, j.cancel_requested, EXISTS (SELECT 1 FROM jobs r WHERE "
				   "r.integration_id = j.integration_id AND r.status = 'running') FROM jobs j "
				   "WHERE j.id = $1::uuid",
				   1, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 1) {
		bool queued = strcmp(PQgetvalue(res, 0, 0), "queued") == 0;
		bool cancel = PQgetvalue(res, 0, 1)[0] == 't';
		bool busy = PQgetvalue(res, 0, 2)[0] == 't';
		*result = queued && !cancel && busy ? STORE_CLAIM_BUSY : STORE_CLAIM_DONE;
	}
	PQclear(res);
	return E_OK;
}

int store_job_progress(struct store *st, const char *id, const char *owner, int lease_ms,
		       int done, int total, bool *cancel, struct err *e)
{
	char lease[16], d[16], t[16];
	snprintf(lease, sizeof(lease), "%d", lease_ms);
	snprintf(d, sizeof(d), "%d", done);
	snprintf(t, sizeof(t), "%d", total);
	const char *p[] = {id, owner, lease, d, total >= 0 ? t : NULL};
	PGresult *res;
	/* Absolute values: running it twice is running it once. */
	int rc = store_exec_idempotent(
		st,
		"UPDATE jobs SET progress_done = $4, progress_total = coalesce($5::int, "
		"progress_total), lease_expires_at = clock_timestamp() + $3 * interval "
		"'1 millisecond', updated_at = now() WHERE id = $1::uuid AND lease_owner "
		"= $2 AND status = 'running' RETURNING cancel_requested",
		5, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
	else
		*cancel = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return rc;
}

int store_job_leases_extend(struct store *st, const char *owner, int lease_ms, int *n,
			    struct err *e)
{
	char lease[16];
	snprintf(lease, sizeof(lease), "%d", lease_ms);
	const char *p[] = {owner, lease};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "UPDATE jobs SET lease_expires_at = clock_timestamp() + $2 * "
				       "interval '1 millisecond' WHERE lease_owner = $1 AND status = "
				       "'running'",
				       2, p, &res, e);
	if (!rc && n)
		*n = atoi(PQcmdTuples(res));
	PQclear(res);
	return rc;
}

int store_job_item_add(struct store *st, const char *id, const char *owner,
		       const char *object_type, const char *object_id, enum store_job_count outcome,
		       const char *error_reason, const char *error_message, struct err *e)
{
	struct store_job_item_in one = {object_type, object_id, outcome, error_reason,
					error_message};
	return store_job_items_add(st, id, owner, &one, 1, e);
}

/*
 * One item per object: recording it again replaces its outcome, and the counts move from the old
 * outcomes to the new ones. The lease check locks the job row, so the old outcomes read here are
 * the ones the upsert replaces (only the lease owner writes a job's items). Sent twice, it records
 * the same outcomes again and moves no count: idempotent. The old outcomes are looked up per
 * object (one probe of the unique index each, materialized once), so the cost follows the batch,
 * never the job's item count.
 */
#define ITEMS_ADD_SQL                                                                              \
	"WITH j AS (SELECT id, tenant_id FROM jobs WHERE id = $1::uuid AND lease_owner = "        \
	"$2 AND status = 'running' FOR UPDATE), x AS (SELECT * FROM unnest($3::text[], "          \
	"$4::text[], $5::text[], $6::text[], $7::text[]) AS x(object_type, object_id, "           \
	"outcome, error_reason, error_message)), o AS MATERIALIZED (SELECT (SELECT "               \
	"ji.outcome FROM job_items ji WHERE ji.job_id = $1::uuid AND ji.object_type = "            \
	"x.object_type AND ji.object_id = x.object_id) AS outcome FROM x), i AS (INSERT INTO "     \
	"job_items (job_id, tenant_id, object_type, object_id, outcome, error_reason, "            \
	"error_message) SELECT j.id, j.tenant_id, x.object_type, x.object_id, x.outcome, "         \
	"nullif(x.error_reason, ''), nullif(x.error_message, '') FROM j, x ON CONFLICT (job_id, "  \
	"object_type, object_id) DO UPDATE SET outcome = EXCLUDED.outcome, detail = "              \
	"EXCLUDED.detail, error_reason = EXCLUDED.error_reason, error_message = "                  \
	"EXCLUDED.error_message, created_at = now() RETURNING job_id), d AS (SELECT k, (SELECT "   \
	"count(*) FROM x WHERE x.outcome = k) - (SELECT count(*) FROM o WHERE o.outcome = k) AS "  \
	"n FROM unnest(ARRAY['created', 'updated', 'unchanged', 'skipped', 'failed']) k) UPDATE "  \
	"jobs SET created_count = created_count + (SELECT n FROM d WHERE k = 'created'), "         \
	"updated_count = updated_count + (SELECT n FROM d WHERE k = 'updated'), "                  \
	"unchanged_count = unchanged_count + (SELECT n FROM d WHERE k = 'unchanged'), "            \
	"skipped_count = skipped_count + (SELECT n FROM d WHERE k = 'skipped'), "                  \
	"failed_count = failed_count + (SELECT n FROM d WHERE k = 'failed'), updated_at = "        \
	"now() WHERE id IN (SELECT DISTINCT job_id FROM i)"

/* conn NULL: on a pooled connection (retried once when it was lost); else inside conn's tx. */
int store_job_items_add_in(struct store *st, PGconn *conn, const char *id, const char *owner,
			   const struct store_job_item_in *items, size_t n, struct err *e)
{
	if (n == 0)
		return E_OK;
	const char **cols[5];
	for (int c = 0; c < 5; c++) {
		cols[c] = calloc(n, sizeof(char *));
		if (!cols[c]) {
			for (int k = 0; k < c; k++)
				free(cols[k]);
			return err_set(e, E_NOMEM, "job items");
		}
	}
	for (size_t i = 0; i < n; i++) {
		cols[0][i] = items[i].object_type;
		cols[1][i] = items[i].object_id;
		cols[2][i] = store_job_outcomes[items[i].outcome];
		cols[3][i] = items[i].error_reason;
		cols[4][i] = items[i].error_message;
	}
	char *arr[5];
	bool ok = true;
	for (int c = 0; c < 5; c++) {
		arr[c] = store_text_array(cols[c], n);
		ok = ok && arr[c];
		free(cols[c]);
	}
	int rc = E_OK;
	PGresult *res = NULL;
	if (!ok) {
		rc = err_set(e, E_NOMEM, "job items");
	} else {
		const char *p[] = {id, owner, arr[0], arr[1], arr[2], arr[3], arr[4]};
		rc = conn ? store_conn_exec(conn, ITEMS_ADD_SQL, 7, p, &res, e)
			  : store_exec_idempotent(st, ITEMS_ADD_SQL, 7, p, &res, e);
		if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
			rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
		PQclear(res);
	}
	for (int c = 0; c < 5; c++)
		free(arr[c]);
	return rc;
}

int store_job_items_add(struct store *st, const char *id, const char *owner,
			const struct store_job_item_in *items, size_t n, struct err *e)
{
	return store_job_items_add_in(st, NULL, id, owner, items, n, e);
}

void store_job_done_cleanup(struct store_job_done *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		free(d->ids[i]);
	free(d->ids);
	d->ids = NULL;
	d->n = 0;
}

int store_job_done_load(struct store *st, const char *id, const char *object_type,
			struct store_job_done *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	const char *p[] = {id, object_type};
	PGresult *res;
	/* Byte order, so that store_job_done_has() can search with strcmp. */
	int rc = store_exec_idempotent(st,
				       "SELECT object_id FROM job_items WHERE job_id = $1::uuid AND object_type "
				       "= $2 AND outcome <> 'failed' ORDER BY object_id COLLATE \"C\"",
				       2, p, &res, e);
	if (rc)
		return rc;
	int rows = PQntuples(res);
	if (rows > 0) {
		out->ids = calloc((size_t)rows, sizeof(*out->ids));
		if (!out->ids)
			rc = err_set(e, E_NOMEM, "job items done");
	}
	for (int i = 0; !rc && i < rows; i++) {
		out->ids[i] = strdup(PQgetvalue(res, i, 0));
		if (!out->ids[i])
			rc = err_set(e, E_NOMEM, "job items done");
		else
			out->n = (size_t)i + 1;
	}
	PQclear(res);
	if (rc)
		store_job_done_cleanup(out);
	return rc;
}

static int id_cmp(const void *key, const void *elem)
{
	return strcmp(key, *(char *const *)elem);
}

bool store_job_done_has(const struct store_job_done *d, const char *object_id)
{
	return d->n && bsearch(object_id, d->ids, d->n, sizeof(*d->ids), id_cmp) != NULL;
}

int store_job_finish(struct store *st, const char *id, const char *owner, const char *status,
		     const char *error_reason, const char *error, struct err *e)
{
	const char *p[] = {id, owner, status, error, error_reason};
	PGresult *res;
	int rc = store_exec(st,
			    "UPDATE jobs SET status = $3, error = $4, error_reason = $5, "
			    "finished_at = now(), "
			    "updated_at = now(), lease_owner = NULL, lease_expires_at = NULL WHERE id "
			    "= $1::uuid AND lease_owner = $2 AND status = 'running'",
			    5, p, &res, e);
	if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
	PQclear(res);
	return rc;
}

int store_job_release(struct store *st, const char *id, const char *owner, struct err *e)
{
	const char *p[] = {id, owner};
	PGresult *res;
	int rc = store_exec(st,
			    "UPDATE jobs j SET status = 'queued', attempts = greatest(attempts - 1, 0), "
			    "lease_owner = NULL, lease_expires_at = NULL, updated_at = now(), "
			    "coalesce_key = CASE WHEN EXISTS (SELECT 1 FROM jobs q WHERE "
			    "q.integration_id = j.integration_id AND q.coalesce_key = j.coalesce_key "
			    "AND q.status = 'queued') THEN NULL ELSE j.coalesce_key END WHERE id "
			    "= $1::uuid AND lease_owner = $2 AND status = 'running'",
			    2, p, &res, e);
	if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
	PQclear(res);
	return rc;
}

int store_job_param(struct store *st, const struct store_job *j, const char *key, char *buf,
		    size_t cap, struct err *e)
{
	buf[0] = '\0';
	const char *p[] = {j->parameters_json, key};
	PGresult *res;
	int rc = store_exec_idempotent(st, "SELECT $1::jsonb ->> $2", 2, p, &res, e);
	if (rc)
		return rc;
	if (PQgetisnull(res, 0, 0))
		rc = E_NOTFOUND;
	else
		store_copy(buf, cap, res, 0, 0);
	PQclear(res);
	return rc;
}
