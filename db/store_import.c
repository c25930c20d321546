/*
 * The import engine's side of the store (store_import.h). The batch write is two statements in
 * one transaction: creates, then updates, bindings, links and events (both answer which rows they
 * refused: an email another user holds; nothing else is written for those).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_import.h"
#include "store_internal.h"

/*
 * Linked by Google id, or matching by address or local part; each user once. The lists are
 * joined (unnest), never `= ANY`: with statistics that lag a fast-growing table, `= ANY` over a
 * sequential scan costs rows × keys, a join at worst rows + keys.
 */
#define CANDIDATES_SQL                                                                             \
	"WITH c AS (SELECT l.user_id AS id FROM unnest($3::text[]) k (gid) JOIN user_links l ON "  \
	" l.integration_id = $2::uuid AND l.google_id = k.gid WHERE l.tenant_id = $1::uuid"        \
	" UNION SELECT u.id FROM unnest($4::text[]) k (addr) JOIN directory_users u ON "           \
	" u.tenant_id = $1::uuid AND lower(u.email) = k.addr"                                      \
	" UNION SELECT u.id FROM unnest($5::text[]) k (lp) JOIN directory_users u ON "             \
	" u.tenant_id = $1::uuid AND lower(split_part(u.email, '@', 1)) = k.lp)"                   \
	" SELECT c.id, u.id IS NOT NULL, coalesce(u.version, 0), u.email, u.first_name, "          \
	" u.last_name, u.state, u.alternate_email, u.cost_center, u.department, u.employee_type, " \
	" u.job_title, u.employee_id, coalesce(u.addresses, '[]')::text, "                         \
	" coalesce(u.phones, '[]')::text, l.google_id, l.status"                                   \
	" FROM c LEFT JOIN directory_users u ON u.tenant_id = $1::uuid AND u.id = c.id"            \
	" LEFT JOIN user_links l ON l.integration_id = $2::uuid AND l.user_id = c.id ORDER BY 1"

int store_import_candidates(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *const *google_ids, size_t n_ids, const char *const *keys,
			    size_t n_keys, const char *const *locals, size_t n_locals,
			    store_import_row_fn fn, void *ctx, struct err *e)
{
	char *ids = store_text_array(google_ids, n_ids), *ks = store_text_array(keys, n_keys);
	char *ls = n_locals ? store_text_array(locals, n_locals) : NULL;
	int rc = E_OK;
	PGresult *res = NULL;
	if (!ids || !ks || (n_locals && !ls))
		rc = err_set(e, E_NOMEM, "import candidates");
	if (!rc) {
		const char *p[] = {tenant_id, integration_id, ids, ks, ls};
		rc = store_exec_idempotent(st, CANDIDATES_SQL, 5, p, &res, e);
	}
	for (int i = 0; !rc && i < PQntuples(res); i++) {
		int c = 0;
		struct store_import_row r;
		r.user_id = PQgetvalue(res, i, c++);
		r.exists = PQgetvalue(res, i, c++)[0] == 't';
		r.version = strtoll(PQgetvalue(res, i, c++), NULL, 10);
		r.email = PQgetvalue(res, i, c++);
		r.first_name = PQgetvalue(res, i, c++);
		r.last_name = PQgetvalue(res, i, c++);
		r.state = PQgetvalue(res, i, c++);
		r.alternate_email = PQgetvalue(res, i, c++);
		r.cost_center = PQgetvalue(res, i, c++);
		r.department = PQgetvalue(res, i, c++);
		r.employee_type = PQgetvalue(res, i, c++);
		r.job_title = PQgetvalue(res, i, c++);
		r.employee_id = PQgetvalue(res, i, c++);
		r.addresses_json = PQgetvalue(res, i, c++);
		r.phones_json = PQgetvalue(res, i, c++);
		r.google_id = PQgetvalue(res, i, c++);
		r.link_status = PQgetvalue(res, i, c++);
		rc = fn(ctx, &r, e);
	}
	PQclear(res);
	free(ids);
	free(ks);
	free(ls);
	return rc;
}

/* A nullable text column: "" clears it; absent keeps it. */
#define COL(c) c " = CASE WHEN r.f ? '" c "' THEN nullif(r.f ->> '" c "', '') ELSE u." c " END, "
/* A NOT NULL text column. */
#define COL_NN(c) c " = CASE WHEN r.f ? '" c "' THEN r.f ->> '" c "' ELSE u." c " END, "
#define COL_J(c) c " = CASE WHEN r.f ? '" c "' THEN r.f -> '" c "' ELSE u." c " END, "

/* New replica users (staged); answers the rows refused (their email is someone else's). */
#define CREATE_SQL                                                                                 \
	"WITH r AS (SELECT x ->> 'user_id' AS id, x -> 'fields' AS f FROM jsonb_array_elements("    \
	" $2::jsonb) x WHERE x ->> 'op' = 'create'),"                                              \
	" ins AS (INSERT INTO directory_users (tenant_id, id, email, first_name, last_name, state, " \
	" alternate_email, cost_center, department, employee_type, job_title, employee_id, "       \
	" company, location, addresses, phones) SELECT $1::uuid, r.id, r.f ->> 'email', "          \
	" coalesce(r.f ->> 'first_name', ''), coalesce(r.f ->> 'last_name', ''), 'staged', "       \
	" nullif(r.f ->> 'alternate_email', ''), nullif(r.f ->> 'cost_center', ''), "              \
	" nullif(r.f ->> 'department', ''), nullif(r.f ->> 'employee_type', ''), "                 \
	" nullif(r.f ->> 'job_title', ''), nullif(r.f ->> 'employee_id', ''), "                    \
	" nullif(r.f ->> 'company', ''), nullif(r.f ->> 'location', ''), "                         \
	" coalesce(r.f -> 'addresses', '[]'), coalesce(r.f -> 'phones', '[]') FROM r "             \
	" ON CONFLICT DO NOTHING RETURNING id)"                                                     \
	" SELECT r.id FROM r WHERE r.id NOT IN (SELECT id FROM ins)"

/*
 * The rest of the batch in one statement (the JSON parsed once): the fields of existing users
 * (only rows that carry some; refused when another user holds the new email), then bindings,
 * links (origin imported) and events of every row written (built here from the row: the payload
 * carries each value once). $4: the creates refused, $5: the job. Answers the updates refused. The creates ran before, in their own statement, so the email check sees them.
 */
#define WRITE_SQL                                                                                  \
	"WITH r AS (SELECT x, x ->> 'user_id' AS id, x -> 'fields' AS f, x ->> 'op' IN ('link', "   \
	" 'update') AND x -> 'fields' <> '{}' AS upd FROM jsonb_array_elements($3::jsonb) x WHERE " \
	" NOT (x ->> 'user_id' = ANY ($4::text[]))),"                                              \
	" up AS (UPDATE directory_users u SET " COL_NN("email") COL_NN("first_name")               \
	COL_NN("last_name") COL_NN("state") COL("alternate_email") COL("cost_center")               \
	COL("department") COL("employee_type") COL("job_title") COL("employee_id")                 \
	COL_J("addresses") COL_J("phones")                                                         \
	" version = u.version + 1, updated_at = now() FROM r WHERE r.upd AND u.tenant_id = "        \
	" $1::uuid AND u.id = r.id AND NOT (r.f ? 'email' AND EXISTS (SELECT 1 FROM "              \
	" directory_users o WHERE o.tenant_id = $1::uuid AND lower(o.email) = lower(r.f ->> "      \
	" 'email') AND o.id <> u.id)) RETURNING u.id),"                                            \
	" w AS (SELECT x FROM r WHERE NOT r.upd OR r.id IN (SELECT id FROM up)),"                  \
	" b AS (INSERT INTO user_bindings (tenant_id, integration_id, user_id) SELECT $1::uuid, "  \
	" $2::uuid, x ->> 'user_id' FROM w WHERE x ->> 'op' IN ('create', 'link') ON CONFLICT DO " \
	" NOTHING),"                                                                               \
	" l AS (INSERT INTO user_links (tenant_id, integration_id, user_id, google_id, "           \
	" primary_email, status, origin, last_synced_at, updated_at) SELECT $1::uuid, $2::uuid, "   \
	" x ->> 'user_id', x ->> 'google_id', x ->> 'primary_email', x ->> 'link_status', "        \
	" 'imported', now(), now() FROM w WHERE x ->> 'op' IN ('create', 'link') ON CONFLICT "     \
	" (integration_id, user_id) DO UPDATE SET google_id = excluded.google_id, primary_email = " \
	" excluded.primary_email, status = excluded.status, origin = 'imported', field_hashes = "  \
	" CASE WHEN user_links.google_id IS DISTINCT FROM excluded.google_id THEN '{}' ELSE "      \
	" user_links.field_hashes END, last_error_reason = NULL, last_error_message = NULL, "      \
	" last_synced_at = now(), updated_at = now()),"                                            \
	" o AS (INSERT INTO outbox (stream, key, payload) SELECT 'events', $2::text, "              \
	" gwsync_cloudevent('gws.user.imported', $1::uuid, $2::uuid, x ->> 'user_id', "            \
	" jsonb_build_object('user_id', x -> 'user_id', 'google_id', x -> 'google_id', "           \
	" 'primary_email', x -> 'primary_email', 'created', x ->> 'op' = 'create', 'job_id', "     \
	" $5::text, 'attributes', x -> 'fields')) FROM w)"                                          \
	" SELECT r.id FROM r WHERE r.upd AND r.id NOT IN (SELECT id FROM up)"

/* Appends the ids of res (column 0) to a growing list. */
static int collect(PGresult *res, char ***ids, size_t *n, size_t *cap)
{
	for (int i = 0; i < PQntuples(res); i++) {
		if (*n == *cap) {
			size_t c = *cap ? *cap * 2 : 16;
			char **v = realloc(*ids, c * sizeof(*v));
			if (!v)
				return -1;
			*ids = v;
			*cap = c;
		}
		if (!((*ids)[*n] = strdup(PQgetvalue(res, i, 0))))
			return -1;
		(*n)++;
	}
	return 0;
}

int store_import_apply(struct store *st, const char *tenant_id, const char *integration_id,
		       const char *job_id, const char *owner, const char *rows_json,
		       void (*fn_refused)(void *ctx, const char *user_id),
		       void (*fn_items)(void *ctx, const struct store_job_item_in **items, size_t *n),
		       void *ctx, struct err *e)
{
	char **refused = NULL, *arr = NULL;
	size_t n = 0, cap = 0;
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	/*
	 * First, the integration, still active, locked against a deactivation until the commit
	 * (store_integration_share): a deactivation waits for the batches written before it (and
	 * then unbinds and releases what they wrote too), and a batch after it writes nothing.
	 */
	enum store_share state = STORE_SHARE_ACTIVE;
	int rc = store_integration_share(conn, tenant_id, integration_id, &state, e);
	if (!rc && state != STORE_SHARE_ACTIVE)
		rc = store_not_active(e);
	if (!rc && rows_json) {
		const char *p[] = {tenant_id, rows_json};
		PGresult *res = NULL;
		rc = store_conn_exec(conn, CREATE_SQL, 2, p, &res, e);
		if (!rc && collect(res, &refused, &n, &cap))
			rc = err_set(e, E_NOMEM, "import");
		PQclear(res);
		if (!rc && !(arr = store_text_array((const char *const *)refused, n)))
			rc = err_set(e, E_NOMEM, "import");
	}
	if (!rc && rows_json) {
		const char *p[] = {tenant_id, integration_id, rows_json, arr, job_id};
		PGresult *res = NULL;
		rc = store_conn_exec(conn, WRITE_SQL, 5, p, &res, e);
		if (!rc && collect(res, &refused, &n, &cap))
			rc = err_set(e, E_NOMEM, "import");
		PQclear(res);
	}
	for (size_t i = 0; !rc && fn_refused && i < n; i++)
		fn_refused(ctx, refused[i]);
	const struct store_job_item_in *items = NULL;
	size_t ni = 0;
	if (!rc && fn_items)
		fn_items(ctx, &items, &ni);
	/* last: the lease check that locks the job row until the commit */
	if (!rc)
		rc = ni ? store_job_items_add_in(st, conn, job_id, owner, items, ni, e)
			: store_lease_hold(conn, job_id, owner, tenant_id, integration_id, e);
	rc = store_tx_end(st, conn, rc, e);
	for (size_t i = 0; i < n; i++)
		free(refused[i]);
	free(refused);
	free(arr);
	return rc;
}

int store_import_analyze(struct store *st, struct err *e)
{
	/*
	 * The row counts are what a bulk load leaves wrong (a nested loop over a "tiny" table that
	 * now holds thousands of rows); a sample of 3,000 rows per table (statistics target 10)
	 * renews them at a tenth of the default sample's cost.
	 */
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	int rc = store_conn_exec(conn, "SET LOCAL default_statistics_target = 10", 0, NULL, &res, e);
	PQclear(res);
	res = NULL;
	if (!rc)
		rc = store_conn_exec(conn, "ANALYZE directory_users, user_bindings, user_links", 0,
				     NULL, &res, e);
	PQclear(res);
	return store_tx_end(st, conn, rc, e);
}
