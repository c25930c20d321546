/*
 * The export engine's side of the store (store_export.h): the scope walk, links, plans and the
 * deletion guard's window. Password hashes are read by the scope walk only and never appear in
 * an error message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_export.h"
#include "store_internal.h"

/* Rows per FETCH of the scope walk: bounded memory however large the scope. */
#define SCOPE_FETCH "FETCH 500 FROM export_scope"

/*
 * The users of an integration's scope with their links, as one cursor: the users bound directly
 * or through a bound group, and (full join) the links of the integration, of which released
 * ones count only for users in scope. $3: only these user ids (NULL: everyone).
 */
#define SCOPE_WITH                                                                                 \
	"WITH s AS (SELECT user_id, bool_or(direct) AS direct FROM ("                              \
	" SELECT user_id, true AS direct FROM user_bindings WHERE tenant_id = $1::uuid AND "       \
	"  integration_id = $2::uuid AND ($3::text[] IS NULL OR user_id = ANY ($3::text[]))"       \
	" UNION ALL SELECT gm.user_id, false FROM group_bindings gb JOIN group_members gm ON "      \
	"  gm.tenant_id = gb.tenant_id AND gm.group_id = gb.group_id WHERE gb.tenant_id = "        \
	"  $1::uuid AND gb.integration_id = $2::uuid AND ($3::text[] IS NULL OR gm.user_id = "     \
	"  ANY ($3::text[]))) b GROUP BY user_id),"                                                \
	" l AS (SELECT * FROM user_links WHERE tenant_id = $1::uuid AND integration_id = $2::uuid " \
	"  AND ($3::text[] IS NULL OR user_id = ANY ($3::text[])))"
#define SCOPE_JOIN                                                                                 \
	" FROM s FULL JOIN l ON l.user_id = s.user_id"                                             \
	" LEFT JOIN directory_users u ON u.tenant_id = $1::uuid AND u.id = coalesce(s.user_id, "   \
	"  l.user_id)"
#define SCOPE_WHERE " WHERE s.user_id IS NOT NULL OR l.status <> 'released'"

#define SCOPE_SQL                                                                                  \
	"DECLARE export_scope NO SCROLL CURSOR FOR " SCOPE_WITH                                    \
	" SELECT coalesce(s.user_id, l.user_id), u.id IS NOT NULL, s.user_id IS NOT NULL, "        \
	" coalesce(s.direct, false), coalesce(u.version, 0), u.email, u.first_name, u.last_name, "  \
	" u.state, u.alternate_email, u.manager_id, u.cost_center, u.department, "                 \
	" u.employee_type, u.job_title, u.employee_id, coalesce(u.addresses, '[]')::text, "        \
	" coalesce(u.phones, '[]')::text, u.password_hash, u.password_hash_function, "             \
	" u.locked_at IS NOT NULL, u.password_expired_at IS NOT NULL, l.google_id, "               \
	" l.primary_email, l.status, l.origin, coalesce(l.field_hashes, '{}')::text, "             \
	" l.password_digest, l.last_error_reason, CASE WHEN ml.google_id IS NOT NULL AND "         \
	"  ml.status <> 'released' AND ($3::text[] IS NULL OR ml.user_id = ANY ($3::text[])) "    \
	"  THEN ml.primary_email END" SCOPE_JOIN                                                   \
	" LEFT JOIN user_links ml ON ml.tenant_id = $1::uuid AND ml.integration_id = $2::uuid "    \
	"  AND ml.user_id = u.manager_id" SCOPE_WHERE " ORDER BY 1"

/* The same users, only what matching needs (user id, flags, email, link), in no order. */
#define KEYS_SQL                                                                                   \
	"DECLARE export_scope NO SCROLL CURSOR FOR " SCOPE_WITH                                    \
	" SELECT coalesce(s.user_id, l.user_id), u.id IS NOT NULL, s.user_id IS NOT NULL, "        \
	" u.email, l.google_id, l.primary_email, l.status" SCOPE_JOIN SCOPE_WHERE

static void scope_row(const PGresult *res, int i, struct store_export_row *r)
{
	int c = 0;
	r->user_id = PQgetvalue(res, i, c++);
	r->exists = PQgetvalue(res, i, c++)[0] == 't';
	r->in_scope = PQgetvalue(res, i, c++)[0] == 't';
	r->bound_direct = PQgetvalue(res, i, c++)[0] == 't';
	r->version = strtoll(PQgetvalue(res, i, c++), NULL, 10);
	r->email = PQgetvalue(res, i, c++);
	r->first_name = PQgetvalue(res, i, c++);
	r->last_name = PQgetvalue(res, i, c++);
	r->state = PQgetvalue(res, i, c++);
	r->alternate_email = PQgetvalue(res, i, c++);
	r->manager_id = PQgetvalue(res, i, c++);
	r->cost_center = PQgetvalue(res, i, c++);
	r->department = PQgetvalue(res, i, c++);
	r->employee_type = PQgetvalue(res, i, c++);
	r->job_title = PQgetvalue(res, i, c++);
	r->employee_id = PQgetvalue(res, i, c++);
	r->addresses_json = PQgetvalue(res, i, c++);
	r->phones_json = PQgetvalue(res, i, c++);
	r->password_hash = PQgetvalue(res, i, c++);
	r->password_hash_function = PQgetvalue(res, i, c++);
	r->locked = PQgetvalue(res, i, c++)[0] == 't';
	r->password_expired = PQgetvalue(res, i, c++)[0] == 't';
	r->google_id = PQgetvalue(res, i, c++);
	r->link_primary_email = PQgetvalue(res, i, c++);
	r->link_status = PQgetvalue(res, i, c++);
	r->link_origin = PQgetvalue(res, i, c++);
	r->field_hashes_json = PQgetvalue(res, i, c++);
	r->password_digest = PQgetvalue(res, i, c++);
	r->link_error_reason = PQgetvalue(res, i, c++);
	r->manager_primary_email = PQgetvalue(res, i, c++);
}

static void keys_row(const PGresult *res, int i, struct store_export_row *r)
{
	static const char *const none = "";
	*r = (struct store_export_row){
		.email = none, .first_name = none, .last_name = none, .state = none,
		.alternate_email = none, .manager_id = none, .cost_center = none,
		.department = none, .employee_type = none, .job_title = none,
		.employee_id = none, .addresses_json = "[]", .phones_json = "[]",
		.password_hash = none, .password_hash_function = none, .link_origin = none,
		.field_hashes_json = "{}", .password_digest = none, .link_error_reason = none,
		.manager_primary_email = none};
	r->user_id = PQgetvalue(res, i, 0);
	r->exists = PQgetvalue(res, i, 1)[0] == 't';
	r->in_scope = PQgetvalue(res, i, 2)[0] == 't';
	r->email = PQgetvalue(res, i, 3);
	r->google_id = PQgetvalue(res, i, 4);
	r->link_primary_email = PQgetvalue(res, i, 5);
	r->link_status = PQgetvalue(res, i, 6);
}

/* Sends the next FETCH without waiting: PostgreSQL works on it while the caller works on rows. */
static int fetch_send(PGconn *conn, struct err *e)
{
	if (PQsendQuery(conn, SCOPE_FETCH))
		return E_OK;
	return err_set(e, E_UNAVAIL, "export scope: %.200s", PQerrorMessage(conn));
}

/* The answer of the FETCH in flight (every result read, so the connection is free again). */
static int fetch_get(PGconn *conn, PGresult **out, struct err *e)
{
	PGresult *r, *keep = NULL;
	while ((r = PQgetResult(conn))) {
		if (!keep)
			keep = r;
		else
			PQclear(r);
	}
	*out = NULL;
	if (keep && PQresultStatus(keep) == PGRES_TUPLES_OK) {
		*out = keep;
		return E_OK;
	}
	int rc = err_set(e, PQstatus(conn) == CONNECTION_OK ? E_INTERNAL : E_UNAVAIL,
			 "export scope: %.200s",
			 keep ? PQresultErrorMessage(keep) : PQerrorMessage(conn));
	char *nl = e ? strchr(e->msg, '\n') : NULL;
	if (nl)
		*nl = '\0';
	PQclear(keep);
	return rc;
}

/*
 * One cursor in one read transaction: a single snapshot, linear cost however large the scope,
 * and at most two FETCHes of rows in memory (the next one is on its way while fn works on the
 * current one). Each FETCH is its own statement, so the statement timeout bounds a fetch, not
 * the walk. first (optional) runs while PostgreSQL prepares the first rows. The connection stays borrowed
 * for the walk; fn may use the store (it gets another connection).
 */
/* ids: a text[] literal of the user ids to walk, or NULL for everyone. */
static int scope_walk_in(struct store *st, const char *sql,
			 void (*parse)(const PGresult *, int, struct store_export_row *),
			 const char *tenant_id, const char *integration_id, const char *ids,
			 store_export_first_fn first, store_export_row_fn fn, void *ctx,
			 struct err *e)
{
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	int rc = store_integration_check(st, conn, tenant_id, integration_id, e);
	if (!rc) {
		const char *p[] = {tenant_id, integration_id, ids};
		/* Not through the prepared-statement cache: DECLARE is not preparable by name. */
		res = PQexecParams(conn, sql, 3, NULL, p, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = err_set(e, PQstatus(conn) == CONNECTION_OK ? E_INTERNAL : E_UNAVAIL,
				     "export scope: %s", PQresultErrorMessage(res));
			char *nl = e ? strchr(e->msg, '\n') : NULL;
			if (nl)
				*nl = '\0';
		}
		PQclear(res);
		res = NULL;
	}
	bool inflight = false;
	if (!rc)
		inflight = !(rc = fetch_send(conn, e));
	if (!rc && first)
		rc = first(ctx, e);
	while (!rc) {
		rc = fetch_get(conn, &res, e);
		inflight = false;
		if (rc)
			break;
		int rows = PQntuples(res);
		if (rows > 0)
			inflight = !(rc = fetch_send(conn, e));
		for (int i = 0; !rc && i < rows; i++) {
			struct store_export_row row;
			parse(res, i, &row);
			rc = fn(ctx, &row, e);
		}
		PQclear(res);
		res = NULL;
		if (rows == 0)
			break;
	}
	if (inflight) { /* stopped early: the answer on its way is read and dropped */
		PGresult *r;
		while ((r = PQgetResult(conn)))
			PQclear(r);
	}
	/* Read only: a commit or a rollback ends it alike; fn's code is what the caller wants. */
	int end = store_tx_end(st, conn, rc, rc ? NULL : e);
	return rc ? rc : end;
}

static int scope_walk(struct store *st, const char *sql,
		      void (*parse)(const PGresult *, int, struct store_export_row *),
		      const char *tenant_id, const char *integration_id, const char *const *user_ids,
		      size_t n_ids, store_export_first_fn first, store_export_row_fn fn, void *ctx,
		      struct err *e)
{
	char *ids = NULL;
	if (n_ids > 0 && !(ids = store_text_array(user_ids, n_ids)))
		return err_set(e, E_NOMEM, "export scope ids");
	int rc = scope_walk_in(st, sql, parse, tenant_id, integration_id, ids, first, fn, ctx, e);
	free(ids);
	return rc;
}

int store_export_scope(struct store *st, const char *tenant_id, const char *integration_id,
		       const char *const *user_ids, size_t n_ids, store_export_row_fn fn, void *ctx,
		       struct err *e)
{
	return scope_walk(st, SCOPE_SQL, scope_row, tenant_id, integration_id, user_ids, n_ids, NULL,
			  fn, ctx, e);
}

int store_export_scope_first(struct store *st, const char *tenant_id, const char *integration_id,
			     store_export_first_fn first, store_export_row_fn fn, void *ctx,
			     struct err *e)
{
	return scope_walk(st, SCOPE_SQL, scope_row, tenant_id, integration_id, NULL, 0, first, fn,
			  ctx, e);
}

int store_export_scope_keys(struct store *st, const char *tenant_id, const char *integration_id,
			    store_export_row_fn fn, void *ctx, struct err *e)
{
	return scope_walk(st, KEYS_SQL, keys_row, tenant_id, integration_id, NULL, 0, NULL, fn, ctx,
			  e);
}

/*
 * The other users a targeted run must see (store_export_context): directory users whose email is
 * one of $4 or whose local part is one of $5 (both lower-case; the index on lower(email) and on
 * the local part answer it), and users linked (not released) to one of the Google ids $6; never
 * the run's own users $3. Whether each is in scope is the scope walk's rule, applied next.
 */
#define CONTEXT_IDS_SQL                                                                            \
	"SELECT coalesce(array_agg(DISTINCT id), '{}')::text FROM (SELECT id FROM directory_users " \
	" WHERE tenant_id = $1::uuid AND (lower(email) = ANY ($4::text[]) OR "                       \
	"  lower(split_part(email, '@', 1)) = ANY ($5::text[]))"                                     \
	" UNION SELECT user_id FROM user_links WHERE tenant_id = $1::uuid AND integration_id = "     \
	"  $2::uuid AND status <> 'released' AND google_id = ANY ($6::text[])) c"                   \
	" WHERE NOT (id = ANY ($3::text[]))"

int store_export_context(struct store *st, const char *tenant_id, const char *integration_id,
			 const struct store_export_context_keys *k, store_export_row_fn fn,
			 void *ctx, struct err *e)
{
	char *arr[4] = {store_text_array(k->user_ids, k->n_ids),
			store_text_array(k->addresses, k->n_addresses),
			store_text_array(k->local_parts, k->n_local_parts),
			store_text_array(k->google_ids, k->n_google_ids)};
	PGresult *res = NULL;
	int rc = arr[0] && arr[1] && arr[2] && arr[3] ? E_OK : err_set(e, E_NOMEM, "context keys");
	if (!rc) {
		const char *p[] = {tenant_id, integration_id, arr[0], arr[1], arr[2], arr[3]};
		rc = store_exec_idempotent(st, CONTEXT_IDS_SQL, 6, p, &res, e);
	}
	for (int i = 0; i < 4; i++)
		free(arr[i]);
	if (rc)
		return rc;
	/* The candidates as a text[] literal: the scope walk keeps those in scope or linked. */
	const char *ids = PQntuples(res) ? PQgetvalue(res, 0, 0) : "{}";
	if (!strcmp(ids, "{}")) {
		PQclear(res);
		return E_OK;
	}
	rc = scope_walk_in(st, SCOPE_SQL, scope_row, tenant_id, integration_id, ids, NULL, fn, ctx,
			   e);
	PQclear(res);
	return rc;
}

/* ---- links ---- */

/*
 * Holds the job for the caller's transaction while owner runs it: a lease takeover waits for
 * the commit, so no write lands after another worker took the job.
 */
int store_lease_hold(PGconn *conn, const char *job_id, const char *owner, const char *tenant_id,
		     const char *integration_id, struct err *e)
{
	const char *p[] = {job_id, owner, tenant_id, integration_id};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 "SELECT 1 FROM jobs WHERE id = $1::uuid AND lease_owner = $2 AND "
				 "status = 'running' AND ($3::uuid IS NULL OR tenant_id = $3::uuid) "
				 "AND ($4::uuid IS NULL OR integration_id = $4::uuid) FOR SHARE",
				 4, p, &res, e);
	if (!rc && PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
	PQclear(res);
	return rc;
}

static int exec_in(PGconn *conn, const char *sql, int n, const char *const *p, int *rows,
		   struct err *e)
{
	PGresult *res;
	int rc = store_conn_exec(conn, sql, n, p, &res, e);
	if (!rc && rows)
		*rows = atoi(PQcmdTuples(res));
	PQclear(res);
	return rc;
}

/*
 * NULL keeps a column, "" clears it (origin, google_id, primary_email, password_digest);
 * field hashes merge key by key. The event row goes with the link row in one statement.
 */
#define LINK_UPSERT_SQL                                                                            \
	"WITH l AS (INSERT INTO user_links (tenant_id, integration_id, user_id, google_id, "       \
	"primary_email, status, origin, field_hashes, password_digest, last_error_reason, "        \
	"last_error_message, last_synced_at, updated_at) VALUES ($1::uuid, $2::uuid, $3, "         \
	"nullif($4, ''), nullif($5, ''), $6, nullif($7, ''), coalesce($8::jsonb, '{}'), "          \
	"nullif($9, ''), $10, $11, CASE WHEN $12::boolean THEN now() END, now()) ON CONFLICT "     \
	"(integration_id, user_id) DO UPDATE SET google_id = CASE WHEN $4 IS NULL THEN "           \
	"user_links.google_id ELSE nullif($4, '') END, primary_email = CASE WHEN $5 IS NULL THEN " \
	"user_links.primary_email ELSE nullif($5, '') END, status = $6, origin = CASE WHEN $7 IS " \
	"NULL THEN user_links.origin ELSE nullif($7, '') END, field_hashes = "                     \
	"user_links.field_hashes || coalesce($8::jsonb, '{}'), password_digest = CASE WHEN $9 IS " \
	"NULL THEN user_links.password_digest ELSE nullif($9, '') END, last_error_reason = $10, "  \
	"last_error_message = $11, last_synced_at = CASE WHEN $12::boolean THEN now() ELSE "       \
	"user_links.last_synced_at END, updated_at = now() WHERE user_links.tenant_id = $1::uuid " \
	"RETURNING 1) INSERT INTO outbox (stream, key, payload) SELECT 'events', $2::text, "       \
	"gwsync_cloudevent($13, $1::uuid, $2::uuid, $3, coalesce($14::jsonb, '{}')) FROM l WHERE " \
	"$13 IS NOT NULL"

int store_links_write(struct store *st, const char *tenant_id, const char *integration_id,
		      const char *job_id, const char *owner, const struct store_link_write *w,
		      size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		if (!w[i].user_id || !w[i].user_id[0] || !w[i].status || !w[i].status[0])
			return err_set(e, E_INVAL, "link write %zu: user_id and status are required",
				       i);
		if (w[i].field_hashes_json && w[i].field_hashes_json[0] != '{')
			return err_set(e, E_INVAL, "link write %zu: field hashes must be an object",
				       i);
	}
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int rc = store_lease_hold(conn, job_id, owner, tenant_id, integration_id, e);
	/*
	 * Written once the integration is deactivated (the deactivation committed while the batch's
	 * Google writes were in flight), a link keeps what it learned but is released, as the
	 * deactivation left the others; one committed before the deactivation is released by it.
	 * Any other status than active (reauthorization required) keeps the links as written; the
	 * run stops either way.
	 */
	enum store_share state = STORE_SHARE_ACTIVE;
	if (!rc)
		rc = store_integration_share(conn, tenant_id, integration_id, &state, e);
	bool released = state == STORE_SHARE_DEACTIVATED;
	for (size_t i = 0; !rc && i < n; i++) {
		const struct store_link_write *x = &w[i];
		/*
		 * A released link (deactivation) keeps its Google id: another directory user who
		 * matches that Google user later is a conflict, never handed someone else's account
		 * (it may be the suspended mailbox of a person who left).
		 */
		const char *p[] = {tenant_id,
				   integration_id,
				   x->user_id,
				   x->google_id,
				   x->primary_email,
				   released ? "released" : x->status,
				   x->origin,
				   x->field_hashes_json,
				   x->password_digest,
				   x->error_reason,
				   x->error_message,
				   x->synced ? "t" : "f",
				   x->event_type,
				   x->event_data_json};
		rc = exec_in(conn, LINK_UPSERT_SQL, 14, p, NULL, e);
		if (rc == E_CONFLICT)
			err_set(e, E_CONFLICT, "Google user %.64s is linked to another user already",
				x->google_id ? x->google_id : "");
		else if (rc == E_INVAL)
			err_set(e, E_INVAL, "link of %.128s: invalid status, origin or JSON",
				x->user_id);
	}
	rc = store_tx_end(st, conn, rc, e);
	return !rc && state != STORE_SHARE_ACTIVE ? store_not_active(e) : rc;
}

int store_links_refresh(struct store *st, const char *tenant_id, const char *integration_id,
			const char *job_id, const char *owner, const struct store_link_write *w,
			size_t n, struct err *e)
{
	if (n == 0)
		return E_OK;
	const char **cols[4];
	for (int c = 0; c < 4; c++)
		if (!(cols[c] = calloc(n, sizeof(char *)))) {
			for (int k = 0; k < c; k++)
				free(cols[k]);
			return err_set(e, E_NOMEM, "link refresh");
		}
	for (size_t i = 0; i < n; i++) {
		cols[0][i] = w[i].user_id;
		cols[1][i] = w[i].primary_email; /* NULL keeps (stored as "") */
		cols[2][i] = w[i].status;
		cols[3][i] = w[i].field_hashes_json && w[i].field_hashes_json[0] ? w[i].field_hashes_json
										 : "{}";
	}
	char *arr[4];
	bool ok = true;
	for (int c = 0; c < 4; c++) {
		arr[c] = store_text_array(cols[c], n);
		ok = ok && arr[c];
		free(cols[c]);
	}
	int rc = ok ? E_OK : err_set(e, E_NOMEM, "link refresh");
	PGconn *conn = rc ? NULL : store_tx_begin(st, NULL, e);
	if (!rc && !conn)
		rc = e ? e->code : E_UNAVAIL;
	if (conn) {
		rc = store_lease_hold(conn, job_id, owner, tenant_id, integration_id, e);
		enum store_share state = STORE_SHARE_ACTIVE; /* as in store_links_write */
		if (!rc)
			rc = store_integration_share(conn, tenant_id, integration_id, &state, e);
		const char *p[] = {tenant_id, integration_id, arr[0], arr[1], arr[2], arr[3],
				   state == STORE_SHARE_DEACTIVATED ? "t" : "f"};
		if (!rc)
			rc = exec_in(conn,
				     "UPDATE user_links l SET primary_email = coalesce(nullif(x.pe, ''), "
				     "l.primary_email), status = CASE WHEN $7::boolean THEN 'released' "
				     "ELSE x.status END, field_hashes = l.field_hashes || "
				     "x.h::jsonb, last_error_reason = NULL, last_error_message = NULL, "
				     "last_synced_at = CASE WHEN x.status = 'released' THEN "
				     "l.last_synced_at ELSE now() END, updated_at = now() FROM unnest("
				     "$3::text[], "
				     "$4::text[], $5::text[], $6::text[]) AS x(user_id, pe, status, h) WHERE "
				     "l.tenant_id = $1::uuid AND l.integration_id = $2::uuid AND l.user_id = "
				     "x.user_id",
				     7, p, NULL, e);
		rc = store_tx_end(st, conn, rc, e);
		if (!rc && state != STORE_SHARE_ACTIVE)
			rc = store_not_active(e);
	}
	for (int c = 0; c < 4; c++)
		free(arr[c]);
	return rc;
}

int store_links_release_in(PGconn *conn, const char *tenant_id, const char *integration_id,
			   int *n, struct err *e)
{
	const char *p[] = {tenant_id, integration_id};
	return exec_in(conn,
		       "UPDATE user_links SET status = 'released', updated_at = now() WHERE "
		       "tenant_id = $1::uuid AND integration_id = $2::uuid AND status <> 'released'",
		       2, p, n, e);
}

int store_links_release(struct store *st, const char *tenant_id, const char *integration_id,
			int *n, struct err *e)
{
	int count = 0;
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int rc = store_integration_check(st, conn, tenant_id, integration_id, e);
	if (!rc)
		rc = store_links_release_in(conn, tenant_id, integration_id, &count, e);
	rc = store_tx_end(st, conn, rc, e);
	if (n)
		*n = rc ? 0 : count;
	return rc;
}

/* ---- plans ---- */

int store_plan_append(struct store *st, const char *job_id, const char *owner,
		      const struct store_plan_entry *entries, size_t n, struct err *e)
{
	for (size_t i = 0; i < n; i++) {
		if (!entries[i].op || !entries[i].op[0] || !entries[i].user_id)
			return err_set(e, E_INVAL, "plan entry %zu: op and user_id are required", i);
	}
	if (n == 0)
		return E_OK;
	/* One statement for the whole chunk: columns as text arrays, rows by unnest. */
	enum { SEQ, OP, USER, GID, MAIL, REASON, CHANGES, VERSION, NCOL };
	const char **cols[NCOL];
	char (*nums)[2][24] = calloc(n, sizeof(*nums));
	char *arr[NCOL] = {0};
	int rc = nums ? E_OK : err_set(e, E_NOMEM, "plan");
	for (int c = 0; c < NCOL; c++)
		if (!(cols[c] = calloc(n, sizeof(char *))) && !rc)
			rc = err_set(e, E_NOMEM, "plan");
	for (size_t i = 0; !rc && i < n; i++) {
		const struct store_plan_entry *x = &entries[i];
		snprintf(nums[i][0], sizeof(nums[i][0]), "%lld", (long long)x->seq);
		snprintf(nums[i][1], sizeof(nums[i][1]), "%lld", (long long)x->user_version);
		cols[SEQ][i] = nums[i][0];
		cols[OP][i] = x->op;
		cols[USER][i] = x->user_id;
		cols[GID][i] = x->google_id;
		cols[MAIL][i] = x->primary_email;
		cols[REASON][i] = x->reason;
		cols[CHANGES][i] = x->changes_json && x->changes_json[0] ? x->changes_json : "[]";
		cols[VERSION][i] = nums[i][1];
	}
	for (int c = 0; !rc && c < NCOL; c++)
		if (!(arr[c] = store_text_array(cols[c], n)))
			rc = err_set(e, E_NOMEM, "plan");
	PGconn *conn = rc ? NULL : store_tx_begin(st, NULL, e);
	if (!rc && !conn)
		rc = e ? e->code : E_UNAVAIL;
	if (conn) {
		rc = store_lease_hold(conn, job_id, owner, NULL, NULL, e);
		const char *p[] = {job_id,    arr[SEQ],	   arr[OP],	 arr[USER], arr[GID],
				   arr[MAIL], arr[REASON], arr[CHANGES], arr[VERSION]};
		/* seq <= 0: the next ones, in order; a seq stored before is replaced (a resumed run). */
		if (!rc)
			rc = exec_in(conn,
				     "INSERT INTO job_plan_entries (job_id, seq, tenant_id, op, user_id, "
				     "google_id, primary_email, reason, changes, user_version) SELECT j.id, "
				     "CASE WHEN x.seq > 0 THEN x.seq ELSE (SELECT coalesce(max(seq), 0) "
				     "FROM job_plan_entries WHERE job_id = j.id) + x.ord END, j.tenant_id, "
				     "x.op, x.user_id, nullif(x.gid, ''), nullif(x.mail, ''), "
				     "nullif(x.reason, ''), x.changes::jsonb, x.version FROM jobs j, unnest("
				     "$2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], "
				     "$7::text[], $8::text[], $9::bigint[]) WITH ORDINALITY AS x (seq, op, "
				     "user_id, gid, mail, reason, changes, version, ord) WHERE j.id = "
				     "$1::uuid ON CONFLICT (job_id, seq) DO UPDATE SET op = EXCLUDED.op, "
				     "user_id = EXCLUDED.user_id, google_id = EXCLUDED.google_id, "
				     "primary_email = EXCLUDED.primary_email, reason = EXCLUDED.reason, "
				     "changes = EXCLUDED.changes, user_version = EXCLUDED.user_version",
				     9, p, NULL, e);
		if (rc == E_INVAL)
			err_set(e, E_INVAL, "plan entries: changes must be JSON arrays");
		rc = store_tx_end(st, conn, rc, e);
	}
	for (int c = 0; c < NCOL; c++) {
		free(cols[c]);
		free(arr[c]);
	}
	free(nums);
	return rc;
}

/* The whole summary (key "") or one member of it, while owner holds the job. */
static int plan_summary_store(struct store *st, const char *job_id, const char *owner,
			      const char *key, const char *summary_json, struct err *e)
{
	const char *p[] = {job_id, owner, key, summary_json ? summary_json : "{}"};
	PGresult *res;
	int rc = store_exec(st,
			    "UPDATE jobs SET plan_summary = CASE WHEN $3 = '' THEN $4::jsonb ELSE "
			    "jsonb_set(coalesce(plan_summary, '{}'), ARRAY[$3::text], $4::jsonb) END, "
			    "updated_at = now() WHERE id = $1::uuid AND lease_owner = $2 AND status = "
			    "'running'",
			    4, p, &res, e);
	if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
	PQclear(res);
	return rc;
}

int store_plan_summary_set(struct store *st, const char *job_id, const char *owner,
			   const char *summary_json, struct err *e)
{
	return plan_summary_store(st, job_id, owner, "", summary_json, e);
}

int store_plan_summary_merge(struct store *st, const char *job_id, const char *owner,
			     const char *key, const char *summary_json, struct err *e)
{
	return plan_summary_store(st, job_id, owner, key, summary_json, e);
}

int store_plan_page(struct store *st, const char *tenant_id, const char *job_id,
		    int64_t after_seq, int limit, char **items_json, size_t *n, struct err *e)
{
	*items_json = NULL;
	*n = 0;
	char after[24], lim[16];
	snprintf(after, sizeof(after), "%lld", (long long)after_seq);
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {tenant_id, job_id, after, lim};
	PGresult *res;
	int rc = store_exec(
		st,
		"SELECT coalesce(jsonb_agg(jsonb_build_object('seq', e.seq, 'op', e.op, 'user_id', "
		"e.user_id, 'google_id', e.google_id, 'primary_email', e.primary_email, 'reason', "
		"e.reason, 'changes', e.changes) ORDER BY e.seq) FILTER (WHERE e.seq IS NOT NULL), "
		"'[]')::text, count(e.seq) FROM jobs j LEFT JOIN LATERAL (SELECT * FROM "
		"job_plan_entries x WHERE x.job_id = j.id AND x.seq > $3 ORDER BY x.seq LIMIT $4) e "
		"ON true WHERE j.tenant_id = $1::uuid AND j.id = $2::uuid GROUP BY j.id",
		4, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		rc = err_set(e, E_NOTFOUND, "no such job");
	} else {
		*items_json = strdup(PQgetvalue(res, 0, 0));
		if (!*items_json)
			rc = err_set(e, E_NOMEM, "plan page");
		else
			*n = (size_t)strtoull(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return rc;
}

int store_job_unchanged_set(struct store *st, const char *job_id, const char *owner,
			    int unlisted, struct err *e)
{
	char n[16];
	snprintf(n, sizeof(n), "%d", unlisted);
	const char *p[] = {job_id, owner, n};
	PGresult *res;
	/* Set, not added: a resumed run counts again every unchanged user that has no item. */
	int rc = store_exec(st,
			    "UPDATE jobs j SET unchanged_count = (SELECT count(*) FROM job_items i "
			    "WHERE i.job_id = j.id AND i.outcome = 'unchanged') + $3::int, "
			    "updated_at = now() WHERE j.id = $1::uuid AND j.lease_owner = $2 AND "
			    "j.status = 'running'",
			    3, p, &res, e);
	if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
	PQclear(res);
	return rc;
}

/* ---- deletion guard ---- */

int store_guard_counts(struct store *st, const char *integration_id, int window_s, int *recent,
		       int *linked, struct err *e)
{
	*recent = 0;
	*linked = 0;
	char window[16];
	snprintf(window, sizeof(window), "%d", window_s);
	const char *p[] = {integration_id, window};
	PGresult *res;
	int rc = store_exec(st,
			    "SELECT (SELECT coalesce(sum(count), 0) FROM deletion_guard_writes WHERE "
			    "integration_id = $1::uuid AND applied_at > now() - $2 * interval '1 "
			    "second'), (SELECT count(*) FROM user_links WHERE integration_id = "
			    "$1::uuid AND status <> 'released')",
			    2, p, &res, e);
	if (rc)
		return rc;
	*recent = atoi(PQgetvalue(res, 0, 0));
	*linked = atoi(PQgetvalue(res, 0, 1));
	PQclear(res);
	return E_OK;
}

int store_guard_record(struct store *st, const char *tenant_id, const char *integration_id, int n,
		       struct err *e)
{
	if (n <= 0)
		return E_OK;
	char count[16];
	snprintf(count, sizeof(count), "%d", n);
	const char *p[] = {tenant_id, integration_id, count};
	PGresult *res;
	int rc = store_exec(st,
			    "WITH old AS (DELETE FROM deletion_guard_writes WHERE integration_id = "
			    "$2::uuid AND applied_at < now() - interval '7 days') INSERT INTO "
			    "deletion_guard_writes (tenant_id, integration_id, count) SELECT "
			    "tenant_id, id, $3::int FROM integrations WHERE tenant_id = $1::uuid AND "
			    "id = $2::uuid",
			    3, p, &res, e);
	if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	PQclear(res);
	return rc;
}

int store_job_await_approval(struct store *st, const char *job_id, const char *owner,
			     struct err *e)
{
	const char *p[] = {job_id, owner};
	PGresult *res;
	int rc = store_exec(st,
			    "UPDATE jobs SET status = 'awaiting_approval', lease_owner = NULL, "
			    "lease_expires_at = NULL, updated_at = now() WHERE id = $1::uuid AND "
			    "lease_owner = $2 AND status = 'running'",
			    2, p, &res, e);
	if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
		rc = err_set(e, E_NOTFOUND, "the job's lease was lost");
	PQclear(res);
	return rc;
}
