#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_authorization.h"
#include "store_internal.h"

#define CREDENTIAL_COLS                                                                           \
	"integration_id, kind, coalesce(client_email, ''), client_id, coalesce(admin_email, ''), " \
	"scopes, secret, key_id, " SQL_TIME("authorized_at") ", " SQL_TIME("last_used_at") ", "    \
	"coalesce(last_error_reason, ''), coalesce(last_error_message, ''), "                      \
	SQL_TIME("last_error_at")

void store_credential_cleanup(struct store_credential *c)
{
	if (!c)
		return;
	free(c->secret);
	c->secret = NULL;
}

static int credential_row(const PGresult *res, int row, struct store_credential *c,
			  struct err *e)
{
	store_copy(c->integration_id, sizeof(c->integration_id), res, row, 0);
	store_copy(c->kind, sizeof(c->kind), res, row, 1);
	store_copy(c->client_email, sizeof(c->client_email), res, row, 2);
	store_copy(c->client_id, sizeof(c->client_id), res, row, 3);
	store_copy(c->admin_email, sizeof(c->admin_email), res, row, 4);
	store_copy(c->scopes, sizeof(c->scopes), res, row, 5);
	c->secret = strdup(PQgetvalue(res, row, 6));
	store_copy(c->key_id, sizeof(c->key_id), res, row, 7);
	store_copy(c->authorized_at, sizeof(c->authorized_at), res, row, 8);
	store_copy(c->last_used_at, sizeof(c->last_used_at), res, row, 9);
	store_copy(c->last_error_reason, sizeof(c->last_error_reason), res, row, 10);
	store_copy(c->last_error_message, sizeof(c->last_error_message), res, row, 11);
	store_copy(c->last_error_at, sizeof(c->last_error_at), res, row, 12);
	return c->secret ? E_OK : err_set(e, E_NOMEM, "credential");
}

int store_credential_get(struct store *st, const char *tenant_id, const char *integration_id,
			 struct store_credential *out, struct err *e)
{
	out->secret = NULL;
	const char *p[] = {tenant_id, integration_id};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT " CREDENTIAL_COLS " FROM integration_credentials WHERE "
				       "tenant_id = $1 AND integration_id = $2::uuid",
				       2, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "the integration has not been authorized");
	else
		rc = credential_row(res, 0, out, e);
	PQclear(res);
	return rc;
}

/* "a\nb\nc" of a NULL-terminated list (for string_to_array); malloc'd. */
static char *lines_join(const char *const *list)
{
	size_t n = 1;
	for (const char *const *s = list; s && *s; s++)
		n += strlen(*s) + 1;
	char *out = malloc(n);
	if (!out)
		return NULL;
	out[0] = '\0';
	size_t len = 0;
	for (const char *const *s = list; s && *s; s++) {
		size_t l = strlen(*s);
		if (len)
			out[len++] = '\n';
		memcpy(out + len, *s, l);
		len += l;
		out[len] = '\0';
	}
	return out;
}

/* Sets every domain's verified flag from Google's list; only the flags that change are written
 * (each write is audited and queues the export's reconcile). */
static int verified_set(PGconn *conn, const char *tenant_id, const char *integration_id,
			const char *const *verified_domains, struct err *e)
{
	char *verified = lines_join(verified_domains);
	if (!verified)
		return err_set(e, E_NOMEM, "domains");
	const char *dp[] = {integration_id, verified, tenant_id};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 "UPDATE integration_domains SET verified = (domain = ANY "
				 "(string_to_array($2, E'\\n'))) WHERE integration_id = $1::uuid AND "
				 "tenant_id = $3::uuid AND verified IS DISTINCT FROM (domain = ANY "
				 "(string_to_array($2, E'\\n')))",
				 3, dp, &res, e);
	PQclear(res);
	free(verified);
	if (rc)
		return rc;
	/* The flags are as Google lists them now: runs reuse them until they are older than
	 * GWSYNC_DOMAINS_MAX_AGE_MS (store_domains_check_due). */
	const char *cp[] = {integration_id, tenant_id};
	rc = store_conn_exec(conn,
			     "INSERT INTO integration_domains_checks (integration_id, tenant_id, "
			     "domains_checked_at) SELECT id, tenant_id, now() FROM integrations WHERE "
			     "id = $1::uuid AND tenant_id = $2::uuid ON CONFLICT (integration_id) DO "
			     "UPDATE SET domains_checked_at = excluded.domains_checked_at",
			     2, cp, &res, e);
	PQclear(res);
	return rc;
}

static int record_in_tx(PGconn *conn, const char *tenant_id, const char *integration_id,
			const struct store_authorization *a, char other_id[STORE_ID_LEN + 1], char *other_name, size_t name_cap,
			struct err *e)
{
	const char *lp[] = {tenant_id, integration_id};
	PGresult *res = NULL;
	int rc = store_conn_exec(conn,
				 "SELECT status FROM integrations WHERE tenant_id = $1 AND "
				 "id = $2::uuid FOR UPDATE",
				 2, lp, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such integration");
	else if (strcmp(PQgetvalue(res, 0, 0), "deactivated") == 0)
		rc = err_set(e, E_CONFLICT, "the integration is deactivated; reactivate it first");
	PQclear(res);
	if (rc)
		return rc;

	/* One Google account per tenant: serialise authorizations of the same customer. */
	const char *cp[] = {tenant_id, a->customer_id[0] ? a->customer_id : NULL, integration_id};
	rc = store_conn_exec(conn,
			     "SELECT pg_advisory_xact_lock(hashtextextended($1 || '/' || "
			     "coalesce($2, ''), 5))",
			     2,
			     cp, &res, e);
	PQclear(res);
	if (rc)
		return rc;
	rc = store_conn_exec(conn,
			     "SELECT id, name FROM integrations WHERE tenant_id = $1 AND "
			     "google_customer_id = $2 AND id <> $3::uuid AND status <> 'deactivated' "
			     "ORDER BY created_at LIMIT 1",
			     3, cp, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) > 0) {
		if (other_id)
			store_copy(other_id, STORE_ID_LEN + 1, res, 0, 0);
		if (other_name)
			store_copy(other_name, name_cap, res, 0, 1);
		rc = err_set(e, E_CONFLICT,
			     "Google customer %.64s is already connected by integration %s "
			     "(\"%.100s\")",
			     a->customer_id, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
		if (e)
			snprintf(e->reason, sizeof(e->reason), "customer_in_use");
	}
	PQclear(res);
	if (rc)
		return rc;

	if (a->cred) {
		const struct store_credential *c = a->cred;
		const char *p[] = {integration_id,
				   tenant_id,
				   c->kind,
				   c->client_email[0] ? c->client_email : NULL,
				   c->client_id,
				   c->admin_email[0] ? c->admin_email : NULL,
				   c->scopes,
				   c->secret,
				   c->key_id};
		rc = store_conn_exec(
			conn,
			"INSERT INTO integration_credentials (integration_id, tenant_id, kind, "
			"client_email, client_id, admin_email, scopes, secret, key_id) VALUES ($1, $2, "
			"$3, $4, $5, $6, $7, $8, $9) ON CONFLICT (integration_id) DO UPDATE SET kind = "
			"$3, client_email = $4, client_id = $5, admin_email = $6, scopes = $7, secret = "
			"$8, key_id = $9, authorized_at = now(), last_used_at = now(), "
			"last_error_reason = NULL, last_error_message = NULL, last_error_at = NULL, "
			"updated_at = now()",
			9, p, &res, e);
		PQclear(res);
		if (rc)
			return rc;
	}
	const char *ep[] = {integration_id, a->complete ? NULL : a->missing_reason,
			    a->complete ? NULL : a->missing_message};
	rc = store_conn_exec(conn,
			     "UPDATE integration_credentials SET last_error_reason = $2, "
			     "last_error_message = $3, last_error_at = CASE WHEN $2::text IS NULL "
			     "THEN NULL ELSE now() END, last_used_at = now() WHERE integration_id = "
			     "$1::uuid",
			     3, ep, &res, e);
	PQclear(res);
	if (rc)
		return rc;

	rc = verified_set(conn, tenant_id, integration_id, a->verified_domains, e);
	if (rc)
		return rc;

	const char *ip[] = {tenant_id, integration_id, a->customer_id[0] ? a->customer_id : NULL,
			    a->primary_domain[0] ? a->primary_domain : NULL,
			    a->complete ? "t" : "f"};
	rc = store_conn_exec(conn,
			     "UPDATE integrations SET google_customer_id = coalesce($3, "
			     "google_customer_id), google_primary_domain = coalesce($4, "
			     "google_primary_domain), status = CASE WHEN $5::boolean THEN "
			     "'active' ELSE status END, version = version + 1, updated_at = now() "
			     "WHERE tenant_id = $1 AND id = $2::uuid",
			     5, ip, &res, e);
	PQclear(res);
	return rc;
}

int store_authorization_record(struct store *st, const struct store_actor *actor,
			       const char *tenant_id, const char *integration_id,
			       const struct store_authorization *a, struct store_integration *out,
			       char other_id[STORE_ID_LEN + 1], char *other_name, size_t name_cap,
			       struct err *e)
{
	if (other_id)
		other_id[0] = '\0';
	if (other_name && name_cap)
		other_name[0] = '\0';
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int rc = record_in_tx(conn, tenant_id, integration_id, a, other_id, other_name,
			      name_cap, e);
	rc = store_tx_end(st, conn, rc, e);
	if (!rc && out)
		rc = store_integration_get(st, tenant_id, integration_id, out, e);
	return rc;
}

int store_domains_verified_set(struct store *st, const struct store_actor *actor,
			       const char *tenant_id, const char *integration_id,
			       const char *const *verified_domains, struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int rc = verified_set(conn, tenant_id, integration_id, verified_domains, e);
	return store_tx_end(st, conn, rc, e);
}

int store_domains_check_due(struct store *st, const char *tenant_id, const char *integration_id,
			    int max_age_ms, bool *due, struct err *e)
{
	*due = true;
	if (max_age_ms <= 0)
		return E_OK;
	char age[16];
	snprintf(age, sizeof(age), "%d", max_age_ms);
	const char *p[] = {integration_id, tenant_id, age};
	PGresult *res = NULL;
	int rc = store_exec_idempotent(st,
				       "SELECT NOT EXISTS (SELECT 1 FROM integration_domains_checks "
				       "WHERE integration_id = $1::uuid AND tenant_id = $2::uuid AND "
				       "domains_checked_at > now() - $3::int * interval '1 millisecond')",
				       3, p, &res, e);
	if (!rc)
		*due = strcmp(PQgetvalue(res, 0, 0), "f") != 0;
	PQclear(res);
	return rc;
}

int store_credential_error(struct store *st, const char *integration_id, const char *reason,
			   const char *message, struct err *e)
{
	const char *p[] = {integration_id, reason, message};
	PGresult *res;
	int rc = store_exec(st,
			    "UPDATE integration_credentials SET last_error_reason = $2, "
			    "last_error_message = $3, last_error_at = now() WHERE integration_id = "
			    "$1::uuid",
			    3, p, &res, e);
	PQclear(res);
	return rc;
}

int store_credential_touch(struct store *st, const char *integration_id, bool *written,
			   struct err *e)
{
	if (written)
		*written = false;
	const char *p[] = {integration_id};
	PGresult *res;
	int rc = store_exec(st,
			    "UPDATE integration_credentials SET last_used_at = now() WHERE "
			    "integration_id = $1::uuid AND (last_used_at IS NULL OR last_used_at < "
			    "now() - interval '1 minute')",
			    1, p, &res, e);
	if (!rc && written)
		*written = atoi(PQcmdTuples(res)) > 0;
	PQclear(res);
	return rc;
}

int store_integration_mark_reauth(struct store *st, const char *integration_id,
				  const char *reason, const char *message, bool *changed,
				  struct err *e)
{
	if (changed)
		*changed = false;
	const char *p[] = {integration_id, reason, message};
	PGresult *res;
	int rc = store_exec(
		st,
		"WITH c AS (UPDATE integration_credentials SET last_error_reason = $2, "
		"last_error_message = $3, last_error_at = now() WHERE integration_id = $1::uuid "
		"RETURNING integration_id) UPDATE integrations i SET status = "
		"'reauthorization_required', version = version + 1, updated_at = now() FROM c WHERE "
		"i.id = c.integration_id AND i.status IN ('active', 'pending_authorization') "
		"RETURNING i.id",
		3, p, &res, e);
	if (!rc && changed)
		*changed = PQntuples(res) > 0;
	PQclear(res);
	return rc;
}

int store_integrations_mark_stale(struct store *st, int days, int *n, struct err *e)
{
	if (n)
		*n = 0;
	if (days < 1)
		return err_set(e, E_INVAL, "days must be at least 1");
	char d[16];
	snprintf(d, sizeof(d), "%d", days);
	const char *p[] = {d};
	PGresult *res;
	int rc = store_exec(
		st,
		"WITH stale AS (SELECT c.integration_id FROM integration_credentials c JOIN "
		"integrations i ON i.id = c.integration_id WHERE i.status = 'active' AND "
		"coalesce(c.last_used_at, c.authorized_at) < now() - make_interval(days => $1::int) "
		"FOR UPDATE OF i), c AS (UPDATE integration_credentials c SET last_error_reason = "
		"'unused', last_error_message = 'not used for ' || $1 || ' days; authorize again', "
		"last_error_at = now() FROM stale s WHERE c.integration_id = s.integration_id) "
		"UPDATE integrations i SET status = 'reauthorization_required', version = version + "
		"1, updated_at = now() FROM stale s WHERE i.id = s.integration_id RETURNING i.id",
		1, p, &res, e);
	if (!rc && n)
		*n = PQntuples(res);
	PQclear(res);
	return rc;
}

int store_oauth_state_create(struct store *st, const char *state_hash, const char *tenant_id,
			     const char *integration_id, const char *actor_key_id,
			     const char *admin_email,
			     const char *sealed_verifier, const char *key_id,
			     const char *redirect_uri, int ttl_s, struct err *e)
{
	char ttl[16];
	snprintf(ttl, sizeof(ttl), "%d", ttl_s);
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res = NULL;
	int rc = store_conn_exec(conn,
				 "DELETE FROM oauth_states WHERE expires_at < now() - interval "
				 "'1 day'",
				 0, NULL, &res, e);
	PQclear(res);
	const char *lp[] = {tenant_id, integration_id};
	if (!rc)
		rc = store_conn_exec(conn,
				     "SELECT status FROM integrations WHERE tenant_id = $1 AND id = "
				     "$2::uuid",
				     2, lp, &res, e);
	if (!rc) {
		if (PQntuples(res) == 0)
			rc = err_set(e, E_NOTFOUND, "no such integration");
		else if (strcmp(PQgetvalue(res, 0, 0), "deactivated") == 0)
			rc = err_set(e, E_CONFLICT,
				     "the integration is deactivated; reactivate it first");
		PQclear(res);
	}
	const char *p[] = {state_hash,	    tenant_id, integration_id, admin_email,
			   sealed_verifier, key_id,    redirect_uri,   ttl,
			   actor_key_id};
	if (!rc) {
		rc = store_conn_exec(conn,
				     "INSERT INTO oauth_states (state_hash, tenant_id, integration_id, "
				     "admin_email, secret, key_id, redirect_uri, expires_at, "
				     "actor_key_id) VALUES ($1, $2, $3, $4, $5, $6, $7, now() + "
				     "make_interval(secs => $8::int), $9::uuid)",
				     9, p, &res, e);
		PQclear(res);
	}
	return store_tx_end(st, conn, rc, e);
}

int store_oauth_state_consume(struct store *st, const char *state_hash,
			      struct store_oauth_state *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	const char *p[] = {state_hash};
	PGresult *res;
	/* One statement: two callbacks with the same state cannot both see it unused. */
	int rc = store_exec(st,
			    "WITH s AS (SELECT state_hash, used_at IS NOT NULL AS used, expires_at "
			    "<= now() AS expired FROM oauth_states WHERE state_hash = $1 FOR UPDATE), "
			    "u AS (UPDATE oauth_states o SET used_at = now() FROM s WHERE "
			    "o.state_hash = s.state_hash AND NOT s.used AND NOT s.expired RETURNING "
			    "o.tenant_id, o.integration_id, coalesce(o.admin_email, ''), "
			    "o.redirect_uri, o.secret, coalesce(o.actor_key_id::text, '')) SELECT s.used, s.expired, u.* FROM s LEFT JOIN "
			    "u ON true",
			    1, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		rc = err_set(e, E_NOTFOUND, "the state is unknown");
		if (e)
			snprintf(e->reason, sizeof(e->reason), "unknown");
	} else if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		rc = err_set(e, E_CONFLICT, "the state was used already");
		if (e)
			snprintf(e->reason, sizeof(e->reason), "used");
	} else if (strcmp(PQgetvalue(res, 0, 1), "t") == 0) {
		rc = err_set(e, E_PRECONDITION, "the state has expired");
		if (e)
			snprintf(e->reason, sizeof(e->reason), "expired");
	} else {
		store_copy(out->tenant_id, sizeof(out->tenant_id), res, 0, 2);
		store_copy(out->integration_id, sizeof(out->integration_id), res, 0, 3);
		store_copy(out->admin_email, sizeof(out->admin_email), res, 0, 4);
		store_copy(out->redirect_uri, sizeof(out->redirect_uri), res, 0, 5);
		out->secret = strdup(PQgetvalue(res, 0, 6));
		store_copy(out->actor_key_id, sizeof(out->actor_key_id), res, 0, 7);
		if (!out->secret)
			rc = err_set(e, E_NOMEM, "state");
	}
	PQclear(res);
	return rc;
}

/* One table's rows not sealed under current_kid: re-seal each in its own transaction. */
static int reseal_table(struct store *st, const char *select_sql, const char *update_sql,
			const char *current_kid, store_reseal_fn fn, void *ctx, int *resealed,
			int *failed, struct err *e)
{
	const char *p[] = {current_kid};
	PGresult *res;
	int rc = store_exec(st, select_sql, 1, p, &res, e);
	if (rc)
		return rc;
	for (int i = 0; i < PQntuples(res); i++) {
		const char *id = PQgetvalue(res, i, 0);
		const char *text = PQgetvalue(res, i, 1);
		char *fresh = NULL;
		char kid[40] = "";
		struct err fe = {0};
		if (fn(ctx, id, text, &fresh, kid, &fe)) {
			(*failed)++;
			continue;
		}
		const char *up[] = {id, text, fresh, kid};
		PGresult *ures;
		/* Only when nobody re-authorized meanwhile (the old text is still there). */
		int urc = store_exec(st, update_sql, 4, up, &ures, e);
		if (!urc && atoi(PQcmdTuples(ures)) > 0)
			(*resealed)++;
		PQclear(ures);
		free(fresh);
		if (urc) {
			rc = urc;
			break;
		}
	}
	PQclear(res);
	return rc;
}

int store_secrets_reseal(struct store *st, const char *current_kid, store_reseal_fn fn, void *ctx,
			 int *resealed, int *failed, struct err *e)
{
	*resealed = 0;
	*failed = 0;
	int rc = reseal_table(st,
			      "SELECT integration_id::text, secret FROM integration_credentials "
			      "WHERE key_id <> $1 ORDER BY integration_id",
			      "UPDATE integration_credentials SET secret = $3, key_id = $4 WHERE "
			      "integration_id = $1::uuid AND secret = $2",
			      current_kid, fn, ctx, resealed, failed, e);
	if (!rc)
		rc = reseal_table(st,
				  "SELECT state_hash, secret FROM oauth_states WHERE key_id <> $1 "
				  "AND used_at IS NULL AND expires_at > now() ORDER BY state_hash",
				  "UPDATE oauth_states SET secret = $3, key_id = $4 WHERE state_hash "
				  "= $1 AND secret = $2",
				  current_kid, fn, ctx, resealed, failed, e);
	return rc;
}
