/* Domains, attribute rules and bindings of an integration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_integrations.h"
#include "store_internal.h"

/* Checks the integration exists in the tenant (and locks it when lock is set). */
static int integration_exists(PGconn *conn, const char *tenant_id, const char *id, bool lock,
			      char status[32], char default_domain[STORE_DOMAIN_MAX + 1],
			      int64_t *version, struct err *e)
{
	const char *p[] = {tenant_id, id};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 lock ? "SELECT status, coalesce(default_domain, ''), version FROM "
					"integrations WHERE tenant_id = $1 AND id = $2::uuid FOR UPDATE"
				      : "SELECT status, coalesce(default_domain, ''), version FROM "
					"integrations WHERE tenant_id = $1 AND id = $2::uuid",
				 2, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0) {
		rc = err_set(e, E_NOTFOUND, "no such integration");
	} else {
		if (status)
			store_copy(status, 32, res, 0, 0);
		if (default_domain)
			store_copy(default_domain, STORE_DOMAIN_MAX + 1, res, 0, 1);
		if (version)
			*version = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	PQclear(res);
	return rc;
}

/* Runs fn inside a read transaction after checking the integration exists. */
static PGconn *begin_for(struct store *st, const struct store_actor *actor, const char *tenant_id,
			 const char *integration_id, bool lock, char status[32],
			 char default_domain[STORE_DOMAIN_MAX + 1], int64_t *version, int *rc,
			 struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn) {
		*rc = e ? e->code : E_UNAVAIL;
		return NULL;
	}
	*rc = integration_exists(conn, tenant_id, integration_id, lock, status, default_domain,
				 version, e);
	return conn;
}

static void domain_row(const PGresult *res, int row, const char *default_domain,
		       struct store_domain *d)
{
	store_copy(d->domain, sizeof(d->domain), res, row, 0);
	d->verified = PQgetisnull(res, row, 1) ? -1 : strcmp(PQgetvalue(res, row, 1), "t") == 0;
	store_copy(d->created_at, sizeof(d->created_at), res, row, 2);
	d->is_default = default_domain && strcmp(default_domain, d->domain) == 0;
}

/* A domain of a list; is_default is set after, from the integration's default. */
static int domain_copy(const PGresult *res, int row, void *dst, struct err *e)
{
	(void)e;
	domain_row(res, row, NULL, dst);
	return E_OK;
}

int store_domain_list(struct store *st, const char *tenant_id, const char *integration_id,
		      struct store_domain **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	char status[32], def[STORE_DOMAIN_MAX + 1];
	int rc;
	PGconn *conn = begin_for(st, NULL, tenant_id, integration_id, false, status, def, NULL,
				 &rc, e);
	if (!conn)
		return rc;
	PGresult *res = NULL;
	if (!rc) {
		const char *p[] = {integration_id};
		rc = store_conn_exec(conn,
				     "SELECT domain, verified, " SQL_TIME("created_at")
				     " FROM integration_domains WHERE integration_id = $1 ORDER BY "
				     "domain",
				     1, p, &res, e);
	}
	static const struct store_rows how = {.size = sizeof(**out), .copy = domain_copy};
	void *rows;
	rc = store_rows(rc, res, &how, &rows, n, e);
	*out = rows;
	for (size_t i = 0; i < *n; i++)
		(*out)[i].is_default = strcmp(def, (*out)[i].domain) == 0;
	return store_tx_end(st, conn, rc, e);
}

int store_domain_add(struct store *st, const struct store_actor *actor, const char *tenant_id,
		     const char *integration_id, const char *domain, struct store_domain *out,
		     struct err *e)
{
	int rc;
	PGconn *conn = begin_for(st, actor, tenant_id, integration_id, true, NULL, NULL, NULL, &rc,
				 e);
	if (!conn)
		return rc;
	PGresult *res = NULL;
	if (!rc) {
		const char *p[] = {tenant_id, integration_id, domain};
		rc = store_conn_exec(conn,
				     "INSERT INTO integration_domains (tenant_id, integration_id, "
				     "domain) VALUES ($1, $2, $3) RETURNING domain, verified, "
				     SQL_TIME("created_at"),
				     3, p, &res, e);
		if (rc == E_CONFLICT)
			err_set(e, E_CONFLICT, "the integration has the domain %s already", domain);
		if (!rc)
			domain_row(res, 0, NULL, out);
	}
	PQclear(res);
	return store_tx_end(st, conn, rc, e);
}

int store_domain_remove(struct store *st, const struct store_actor *actor, const char *tenant_id,
			const char *integration_id, const char *domain, struct err *e)
{
	char def[STORE_DOMAIN_MAX + 1];
	int rc;
	PGconn *conn =
		begin_for(st, actor, tenant_id, integration_id, true, NULL, def, NULL, &rc, e);
	if (!conn)
		return rc;
	if (!rc && strcmp(def, domain) == 0)
		rc = err_set(e, E_CONFLICT,
			     "%s is the default domain; choose another default (or none) first",
			     domain);
	if (!rc) {
		const char *p[] = {integration_id, domain};
		PGresult *res;
		rc = store_conn_exec(conn,
				     "DELETE FROM integration_domains WHERE integration_id = $1 AND "
				     "domain = $2",
				     2, p, &res, e);
		if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
			rc = err_set(e, E_NOTFOUND, "the integration has no domain %s", domain);
		PQclear(res);
	}
	return store_tx_end(st, conn, rc, e);
}

static int rule_copy(const PGresult *res, int row, void *dst, struct err *e)
{
	(void)e;
	struct store_attribute_rule *r = dst;
	store_copy(r->attribute, sizeof(r->attribute), res, row, 0);
	store_copy(r->direction, sizeof(r->direction), res, row, 1);
	return E_OK;
}

int store_attribute_rules_get(struct store *st, const char *tenant_id, const char *integration_id,
			      struct store_attribute_rule **out, size_t *n, int64_t *version,
			      struct err *e)
{
	*out = NULL;
	*n = 0;
	int rc;
	PGconn *conn = begin_for(st, NULL, tenant_id, integration_id, false, NULL, NULL, version,
				 &rc, e);
	if (!conn)
		return rc;
	PGresult *res = NULL;
	if (!rc) {
		const char *p[] = {integration_id};
		rc = store_conn_exec(conn,
				     "SELECT attribute, direction FROM attribute_rules WHERE "
				     "integration_id = $1 ORDER BY attribute",
				     1, p, &res, e);
	}
	static const struct store_rows how = {.size = sizeof(**out), .copy = rule_copy};
	void *rows;
	rc = store_rows(rc, res, &how, &rows, n, e);
	*out = rows;
	return store_tx_end(st, conn, rc, e);
}

int store_attribute_rules_replace(struct store *st, const struct store_actor *actor,
				  const char *tenant_id, const char *integration_id,
				  const struct store_attribute_rule *rules, size_t n,
				  int64_t if_version, int64_t *version, struct err *e)
{
	int64_t current = 0;
	int rc;
	PGconn *conn = begin_for(st, actor, tenant_id, integration_id, true, NULL, NULL, &current,
				 &rc, e);
	if (!conn)
		return rc;
	if (!rc && if_version >= 0 && if_version != current)
		rc = err_set(e, E_PRECONDITION, "the integration changed since that ETag");
	PGresult *res = NULL;
	const char *p[] = {tenant_id, integration_id, NULL, NULL};
	/* Only the difference is written, so the audit trail shows what really changed. */
	if (!rc) {
		rc = store_conn_exec(conn,
				     "CREATE TEMP TABLE IF NOT EXISTS wanted_rules (attribute text "
				     "PRIMARY KEY, direction text) ON COMMIT DELETE ROWS",
				     0, NULL, &res, e);
		PQclear(res);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		const char *wp[] = {rules[i].attribute, rules[i].direction};
		rc = store_conn_exec(conn, "INSERT INTO wanted_rules VALUES ($1, $2)", 2, wp, &res,
				     e);
		PQclear(res);
	}
	static const char *const steps[] = {
		"DELETE FROM attribute_rules r WHERE r.tenant_id = $1::uuid AND r.integration_id = "
		"$2::uuid AND NOT EXISTS "
		"(SELECT 1 FROM wanted_rules w WHERE w.attribute = r.attribute)",
		"UPDATE attribute_rules r SET direction = w.direction FROM wanted_rules w WHERE "
		"r.tenant_id = $1::uuid AND r.integration_id = $2::uuid AND r.attribute = "
		"w.attribute AND r.direction <> "
		"w.direction",
		"INSERT INTO attribute_rules (tenant_id, integration_id, attribute, direction) "
		"SELECT $1::uuid, $2::uuid, attribute, direction FROM wanted_rules ON CONFLICT DO "
		"NOTHING",
		"UPDATE integrations SET version = version + 1, updated_at = now() WHERE tenant_id = "
		"$1 AND id = $2::uuid RETURNING version",
	};
	for (size_t i = 0; !rc && i < 4; i++) {
		rc = store_conn_exec(conn, steps[i], 2, p, &res, e);
		if (!rc && i == 3)
			*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	return store_tx_end(st, conn, rc, e);
}

int store_binding_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *integration_id, bool is_group, const char *member_id,
		      bool *created, char created_at[STORE_TIME_LEN], struct err *e)
{
	*created = false;
	char status[32];
	int rc;
	PGconn *conn = begin_for(st, actor, tenant_id, integration_id, false, status, NULL, NULL,
				 &rc, e);
	if (!conn)
		return rc;
	if (!rc && strcmp(status, "deactivated") == 0)
		rc = err_set(e, E_CONFLICT, "the integration is deactivated; reactivate it first");
	PGresult *res = NULL;
	const char *p[] = {tenant_id, integration_id, member_id};
	if (!rc) {
		rc = store_conn_exec(conn,
				     is_group ? "INSERT INTO group_bindings (tenant_id, "
						"integration_id, group_id) VALUES ($1, $2, $3) ON "
						"CONFLICT DO NOTHING RETURNING 1"
					      : "INSERT INTO user_bindings (tenant_id, "
						"integration_id, user_id) VALUES ($1, $2, $3) ON "
						"CONFLICT DO NOTHING RETURNING 1",
				     3, p, &res, e);
		if (rc == E_NOTFOUND)
			err_set(e, E_NOTFOUND, is_group ? "no such group" : "no such user");
		if (!rc)
			*created = PQntuples(res) == 1;
		PQclear(res);
		res = NULL;
	}
	if (!rc) {
		rc = store_conn_exec(conn,
				     is_group ? "SELECT " SQL_TIME("created_at") " FROM "
						"group_bindings WHERE integration_id = $2 AND "
						"group_id = $3 AND tenant_id = $1"
					      : "SELECT " SQL_TIME("created_at") " FROM "
						"user_bindings WHERE integration_id = $2 AND "
						"user_id = $3 AND tenant_id = $1",
				     3, p, &res, e);
		if (!rc && PQntuples(res) == 1)
			store_copy(created_at, STORE_TIME_LEN, res, 0, 0);
		PQclear(res);
	}
	return store_tx_end(st, conn, rc, e);
}

int store_binding_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
			 const char *integration_id, bool is_group, const char *member_id,
			 struct err *e)
{
	int rc;
	PGconn *conn = begin_for(st, actor, tenant_id, integration_id, false, NULL, NULL, NULL,
				 &rc, e);
	if (!conn)
		return rc;
	if (!rc) {
		const char *p[] = {tenant_id, integration_id, member_id};
		PGresult *res;
		rc = store_conn_exec(conn,
				     is_group ? "DELETE FROM group_bindings WHERE tenant_id = $1 AND "
						"integration_id = $2 AND group_id = $3"
					      : "DELETE FROM user_bindings WHERE tenant_id = $1 AND "
						"integration_id = $2 AND user_id = $3",
				     3, p, &res, e);
		if (!rc && strcmp(PQcmdTuples(res), "0") == 0)
			rc = err_set(e, E_NOTFOUND, is_group ? "the group is not bound here"
							     : "the user is not bound directly here");
		PQclear(res);
	}
	return store_tx_end(st, conn, rc, e);
}

static int bound_group_copy(const PGresult *res, int row, void *dst, struct err *e)
{
	(void)e;
	struct store_bound_group *g = dst;
	store_copy(g->group_id, sizeof(g->group_id), res, row, 0);
	store_copy(g->name, sizeof(g->name), res, row, 1);
	store_copy(g->email, sizeof(g->email), res, row, 2);
	store_copy(g->created_at, sizeof(g->created_at), res, row, 3);
	return E_OK;
}

int store_bound_groups_list(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *after_id, int limit, struct store_bound_group **out,
			    size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	int rc;
	PGconn *conn = begin_for(st, NULL, tenant_id, integration_id, false, NULL, NULL, NULL, &rc,
				 e);
	if (!conn)
		return rc;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {tenant_id, integration_id, after_id, lim};
	PGresult *res = NULL;
	if (!rc)
		rc = store_conn_exec(conn,
				     "SELECT g.id, g.name, coalesce(g.email, ''), "
				     SQL_TIME("b.created_at") " FROM group_bindings b JOIN "
				     "directory_groups g ON g.tenant_id = b.tenant_id AND g.id = "
				     "b.group_id WHERE b.tenant_id = $1 AND b.integration_id = $2 AND "
				     "($3::text IS NULL OR g.id > $3) ORDER BY g.id LIMIT $4",
				     4, p, &res, e);
	static const struct store_rows how = {.size = sizeof(**out), .copy = bound_group_copy};
	void *rows;
	rc = store_rows(rc, res, &how, &rows, n, e);
	*out = rows;
	return store_tx_end(st, conn, rc, e);
}

/* Columns of a bound user with its link; k is the user id, a the effective bindings. */
#define BOUND_USER_COLS                                                                            \
	" SELECT k.id, coalesce(u.email, l.primary_email, ''), coalesce(u.first_name, ''), "      \
	" coalesce(u.last_name, ''), coalesce(u.state, 'deleted'), coalesce(a.direct, false), "   \
	" coalesce(a.groups, ''), coalesce(l.status, 'pending'), l.google_id, l.primary_email, "  \
	" l.last_error_reason, l.last_error_message, " SQL_TIME("l.last_synced_at") ", l.origin"

/* Effective bindings in integration $2 of the users the two conditions select. */
#define BOUND_EFFECTIVE(user_cond, member_cond)                                                                 \
	"WITH eff AS ("                                                                            \
	" SELECT user_id, NULL::text AS group_id FROM user_bindings"                               \
	"  WHERE tenant_id = $1 AND integration_id = $2::uuid AND " user_cond                      \
	" UNION ALL"                                                                               \
	" SELECT m.user_id, gb.group_id FROM group_bindings gb JOIN group_members m"               \
	"  ON m.tenant_id = gb.tenant_id AND m.group_id = gb.group_id"                             \
	"  WHERE gb.tenant_id = $1 AND gb.integration_id = $2::uuid AND " member_cond "),"         \
	" agg AS (SELECT user_id, bool_or(group_id IS NULL) AS direct,"                            \
	"  string_agg(group_id, ',' ORDER BY group_id) AS groups FROM eff GROUP BY user_id)"

static void bound_user_row(const PGresult *res, int i, struct store_bound_user *u)
{
	store_copy(u->user_id, sizeof(u->user_id), res, i, 0);
	store_copy(u->email, sizeof(u->email), res, i, 1);
	store_copy(u->first_name, sizeof(u->first_name), res, i, 2);
	store_copy(u->last_name, sizeof(u->last_name), res, i, 3);
	store_copy(u->state, sizeof(u->state), res, i, 4);
	u->direct = strcmp(PQgetvalue(res, i, 5), "t") == 0;
	store_copy(u->groups, sizeof(u->groups), res, i, 6);
	store_copy(u->status, sizeof(u->status), res, i, 7);
	store_copy(u->google_id, sizeof(u->google_id), res, i, 8);
	store_copy(u->primary_email, sizeof(u->primary_email), res, i, 9);
	store_copy(u->last_error_reason, sizeof(u->last_error_reason), res, i, 10);
	store_copy(u->last_error_message, sizeof(u->last_error_message), res, i, 11);
	store_copy(u->last_synced_at, sizeof(u->last_synced_at), res, i, 12);
	store_copy(u->origin, sizeof(u->origin), res, i, 13);
}

STORE_ROW_COPY(bound_user_copy, bound_user_row)

int store_bound_users_list(struct store *st, const char *tenant_id, const char *integration_id,
			   const char *status, const char *after_id, int limit,
			   struct store_bound_user **out, size_t *n, struct err *e)
{
	*out = NULL;
	*n = 0;
	int rc;
	PGconn *conn = begin_for(st, NULL, tenant_id, integration_id, false, NULL, NULL, NULL, &rc,
				 e);
	if (!conn)
		return rc;
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *p[] = {tenant_id, integration_id, after_id, status, lim};
	PGresult *res = NULL;
	if (!rc)
		rc = store_conn_exec(
			conn,
			BOUND_EFFECTIVE("($3::text IS NULL OR user_id > $3)",
					"($3::text IS NULL OR m.user_id > $3)") BOUND_USER_COLS
			" FROM agg a JOIN directory_users u ON u.tenant_id = $1 AND u.id = a.user_id"
			" CROSS JOIN LATERAL (SELECT u.id) k"
			" LEFT JOIN user_links l ON l.integration_id = $2::uuid AND l.user_id = u.id"
			" WHERE $4::text IS NULL OR coalesce(l.status, 'pending') = $4"
			" ORDER BY u.id LIMIT $5",
			5, p, &res, e);
	static const struct store_rows how = {.size = sizeof(**out), .copy = bound_user_copy};
	void *rows;
	rc = store_rows(rc, res, &how, &rows, n, e);
	*out = rows;
	return store_tx_end(st, conn, rc, e);
}

int store_bound_user_get(struct store *st, const char *tenant_id, const char *integration_id,
			 const char *user_id, struct store_bound_user *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	int rc;
	PGconn *conn = begin_for(st, NULL, tenant_id, integration_id, false, NULL, NULL, NULL, &rc,
				 e);
	if (!conn)
		return rc;
	const char *p[] = {tenant_id, integration_id, user_id};
	PGresult *res = NULL;
	if (!rc)
		rc = store_conn_exec(
			conn,
			BOUND_EFFECTIVE("user_id = $3", "m.user_id = $3") BOUND_USER_COLS
			" FROM (SELECT $3::text AS id) k"
			" LEFT JOIN agg a ON a.user_id = k.id"
			" LEFT JOIN directory_users u ON u.tenant_id = $1 AND u.id = k.id"
			" LEFT JOIN user_links l ON l.tenant_id = $1 AND l.integration_id = $2::uuid"
			"  AND l.user_id = k.id"
			" WHERE a.user_id IS NOT NULL OR l.user_id IS NOT NULL",
			3, p, &res, e);
	if (!rc && PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "the user is neither bound nor linked here");
	else if (!rc)
		bound_user_row(res, 0, out);
	PQclear(res);
	return store_tx_end(st, conn, rc, e);
}
