/*
 * Directory events from the platform applied to the replica, each in one transaction with its
 * deduplication row and the export work it implies (coalesced into still-queued jobs).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "store_jobs.h"

/* Export work for one user in every active integration it is bound to (directly or by group). */
#define Q_USER_EXPORT                                                                              \
	"SELECT gwsync_job_coalesce($1::uuid, i.id, 'export_users', 'directory_export', "          \
	"'user_ids', $2) FROM integrations i WHERE i.tenant_id = $1::uuid AND i.status = "          \
	"'active' AND i.id IN (SELECT integration_id FROM user_bindings WHERE tenant_id = "         \
	"$1::uuid AND user_id = $2 UNION SELECT gb.integration_id FROM group_bindings gb JOIN "     \
	"group_members gm ON gm.tenant_id = gb.tenant_id AND gm.group_id = gb.group_id WHERE "      \
	"gm.tenant_id = $1::uuid AND gm.user_id = $2)"

/* Export work for one user in one integration ($3), when that integration is active. */
#define Q_USER_EXPORT_ONE                                                                          \
	"SELECT gwsync_job_coalesce($1::uuid, i.id, 'export_users', 'directory_export', "          \
	"'user_ids', $2) FROM integrations i WHERE i.tenant_id = $1::uuid AND i.id = $3::uuid AND " \
	"i.status = 'active'"

/*
 * Group work in the active integrations the group $2 is bound to ($3: only that integration, or
 * NULL): the group itself, and its members ($4: only that member, or NULL for all).
 */
#define Q_GROUP_SYNC                                                                               \
	"SELECT gwsync_job_coalesce($1::uuid, i.id, 'sync_groups', 'directory_groups', "           \
	"'group_ids', $2) FROM group_bindings gb JOIN integrations i ON i.id = gb.integration_id "  \
	"AND i.status = 'active' WHERE gb.tenant_id = $1::uuid AND gb.group_id = $2 AND "           \
	"($3::uuid IS NULL OR gb.integration_id = $3::uuid)"
#define Q_GROUP_MEMBERS_EXPORT                                                                     \
	"SELECT gwsync_job_coalesce($1::uuid, i.id, 'export_users', 'directory_export', "          \
	"'user_ids', gm.user_id) FROM group_bindings gb JOIN integrations i ON i.id = "             \
	"gb.integration_id AND i.status = 'active' JOIN group_members gm ON gm.tenant_id = "        \
	"gb.tenant_id AND gm.group_id = gb.group_id WHERE gb.tenant_id = $1::uuid AND "             \
	"gb.group_id = $2 AND ($3::uuid IS NULL OR gb.integration_id = $3::uuid) AND ($4::text IS " \
	"NULL OR gm.user_id = $4)"

#define USER_COLS_EV                                                                               \
	"email, first_name, last_name, state, alternate_email, manager_id, cost_center, "          \
	"department, employee_type, job_title, employee_id, company, location, addresses, phones"

static int run(PGconn *conn, const char *sql, int n, const char *const *p, int *rows,
	       struct err *e)
{
	PGresult *res;
	int rc = store_conn_exec(conn, sql, n, p, &res, e);
	if (!rc && rows)
		*rows = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
							       : atoi(PQcmdTuples(res));
	PQclear(res);
	return rc;
}

static int user_upsert(PGconn *conn, const struct store_dir_event *ev, struct err *e)
{
	const struct store_user_input *in = ev->user;
	const char *p[] = {ev->tenant_id,
			   ev->user_id,
			   in->email,
			   in->first_name,
			   in->last_name,
			   in->state,
			   in->alternate_email,
			   in->manager_id,
			   in->cost_center,
			   in->department,
			   in->employee_type,
			   in->job_title,
			   in->employee_id,
			   in->company,
			   in->location,
			   in->addresses_json ? in->addresses_json : "[]",
			   in->phones_json ? in->phones_json : "[]"};
	return run(conn,
		   "INSERT INTO directory_users (tenant_id, id, " USER_COLS_EV ") VALUES ($1::uuid, "
		   "$2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, "
		   "$17::jsonb) ON CONFLICT (tenant_id, id) DO UPDATE SET (" USER_COLS_EV
		   ") = (SELECT EXCLUDED.email, EXCLUDED.first_name, EXCLUDED.last_name, "
		   "EXCLUDED.state, EXCLUDED.alternate_email, EXCLUDED.manager_id, "
		   "EXCLUDED.cost_center, EXCLUDED.department, EXCLUDED.employee_type, "
		   "EXCLUDED.job_title, EXCLUDED.employee_id, EXCLUDED.company, EXCLUDED.location, "
		   "EXCLUDED.addresses, EXCLUDED.phones), version = directory_users.version + 1, "
		   "updated_at = now() WHERE (directory_users.email, directory_users.first_name, "
		   "directory_users.last_name, directory_users.state, "
		   "directory_users.alternate_email, directory_users.manager_id, "
		   "directory_users.cost_center, directory_users.department, "
		   "directory_users.employee_type, directory_users.job_title, "
		   "directory_users.employee_id, directory_users.company, directory_users.location, "
		   "directory_users.addresses, directory_users.phones) IS DISTINCT FROM "
		   "(EXCLUDED.email, EXCLUDED.first_name, EXCLUDED.last_name, EXCLUDED.state, "
		   "EXCLUDED.alternate_email, EXCLUDED.manager_id, EXCLUDED.cost_center, "
		   "EXCLUDED.department, EXCLUDED.employee_type, EXCLUDED.job_title, "
		   "EXCLUDED.employee_id, EXCLUDED.company, EXCLUDED.location, EXCLUDED.addresses, "
		   "EXCLUDED.phones)",
		   17, p, NULL, e);
}

/*
 * Adoption: an imported replica user ("google:<Google id>", created by an import before the
 * platform knew the person) with the event's email takes the event's id, when the replica does not
 * hold that id yet. Bindings, memberships and reports follow by ON UPDATE CASCADE (migration
 * 0010); user links have no foreign key (they outlive deleted users), so they move here, in the
 * same statement. *adopted is 1 when a user was adopted.
 */
static int adopt_imported(PGconn *conn, const struct store_dir_event *ev, int *adopted,
			  struct err *e)
{
	*adopted = 0;
	if (!ev->user || !ev->user->email || !ev->user->email[0] ||
	    !strncmp(ev->user_id, "google:", 7))
		return E_OK;
	const char *p[] = {ev->tenant_id, ev->user_id, ev->user->email};
	return run(conn,
		   "WITH old AS (SELECT id FROM directory_users WHERE tenant_id = $1::uuid AND "
		   "lower(email) = lower($3) AND id LIKE 'google:%' AND NOT EXISTS (SELECT 1 FROM "
		   "directory_users WHERE tenant_id = $1::uuid AND id = $2) FOR UPDATE), links AS "
		   "(UPDATE user_links l SET user_id = $2, updated_at = now() FROM old WHERE "
		   "l.tenant_id = $1::uuid AND l.user_id = old.id) UPDATE directory_users u SET id "
		   "= $2, version = u.version + 1, updated_at = now() FROM old WHERE u.tenant_id = "
		   "$1::uuid AND u.id = old.id",
		   3, p, adopted, e);
}

/*
 * A write the replica refuses because of the event's data (constraint class state: 23505 unique,
 * 23503 a reference to nothing) becomes E_INVAL with reason and a message in the event's terms,
 * never the database's text (which names tables and indexes). Other errors pass unchanged.
 */
static int refused(int rc, struct err *e, const char *state, const char *reason, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));
static int refused(int rc, struct err *e, const char *state, const char *reason, const char *fmt,
		   ...)
{
	if (!rc || !e || strcmp(e->reason, state) != 0)
		return rc;
	va_list ap;
	va_start(ap, fmt);
	rc = err_vset_reason(e, E_INVAL, reason, fmt, ap);
	va_end(ap);
	return rc;
}

static int need(const char *v, const char *what, struct err *e)
{
	return v && *v ? E_OK : err_set(e, E_INVAL, "data.%s is required", what);
}

/*
 * Writes the event's change and queues its work; conn is in the event's transaction. *adopted
 * is set when an imported user took the event's id.
 */
static int apply(PGconn *conn, const struct store_dir_event *ev, int *adopted, struct err *e)
{
	const char *k = ev->kind;
	const char *u2[] = {ev->tenant_id, ev->user_id};
	const char *u3[] = {ev->tenant_id, ev->user_id, ev->integration_id};
	int rows = 0, rc;

	if (strncmp(k, "user.", 5) == 0) {
		if ((rc = need(ev->user_id, "id", e)))
			return rc;
	} else if ((rc = need(ev->group_id, "id", e))) {
		return rc;
	}
	if (!strcmp(k, "user.created") || !strcmp(k, "user.updated")) {
		const char *email = ev->user && ev->user->email ? ev->user->email : "";
		rc = refused(adopt_imported(conn, ev, adopted, e), e, "23505", "rejected",
			     "the imported user with email %.128s cannot take id %.64s: links of a "
			     "former user %.64s remain in the same integration",
			     email, ev->user_id, ev->user_id);
		if (!rc) {
			rc = user_upsert(conn, ev, e);
			rc = refused(rc, e, "23505", "email_in_use",
				     "email %.128s is in use by another directory user of the tenant",
				     email);
			rc = refused(rc, e, "23503", "rejected",
				     "manager_id %.128s names no user of the tenant",
				     ev->user->manager_id ? ev->user->manager_id : "");
		}
		return rc ? rc : run(conn, Q_USER_EXPORT, 2, u2, NULL, e);
	}
	if (!strcmp(k, "user.deleted")) {
		/* Queue first: the bindings go with the user. */
		rc = run(conn, Q_USER_EXPORT, 2, u2, NULL, e);
		if (!rc)
			rc = run(conn, "DELETE FROM directory_users WHERE tenant_id = $1::uuid AND id = $2",
				 2, u2, NULL, e);
		return rc;
	}
	if (!strcmp(k, "user.state_changed") || !strcmp(k, "user.locked") ||
	    !strcmp(k, "user.password_expired")) {
		const char *p[] = {ev->tenant_id, ev->user_id, ev->state};
		if (!strcmp(k, "user.state_changed"))
			rc = need(ev->state, "state", e);
		if (!rc && !strcmp(k, "user.state_changed"))
			rc = run(conn,
				   "UPDATE directory_users SET state = $3, version = version + 1, "
				   "updated_at = now() WHERE tenant_id = $1::uuid AND id = $2",
				   3, p, &rows, e);
		else if (!rc)
			rc = run(conn,
				 !strcmp(k, "user.locked")
					 ? "UPDATE directory_users SET locked_at = now(), updated_at "
					   "= now() WHERE tenant_id = $1::uuid AND id = $2"
					 : "UPDATE directory_users SET password_expired_at = now(), "
					   "updated_at = now() WHERE tenant_id = $1::uuid AND id = $2",
				 2, p, &rows, e);
		if (!rc && rows == 0)
			rc = err_set(e, E_INVAL, "unknown user %.128s", ev->user_id);
		return rc ? rc : run(conn, Q_USER_EXPORT, 2, u2, NULL, e);
	}
	if (!strcmp(k, "user.bound") || !strcmp(k, "user.unbound")) {
		if ((rc = need(ev->integration_id, "integration_id", e)))
			return rc;
		if (!strcmp(k, "user.bound")) {
			rc = run(conn,
				 "INSERT INTO user_bindings (tenant_id, integration_id, user_id) "
				 "SELECT i.tenant_id, i.id, $2 FROM integrations i WHERE i.tenant_id = "
				 "$1::uuid AND i.id = $3::uuid AND i.status <> 'deactivated' ON "
				 "CONFLICT DO NOTHING",
				 3, u3, NULL, e);
			rc = refused(rc, e, "23503", "rejected", "unknown user %.128s", ev->user_id);
			return rc ? rc : run(conn, Q_USER_EXPORT_ONE, 3, u3, NULL, e);
		}
		rc = run(conn, Q_USER_EXPORT_ONE, 3, u3, NULL, e);
		return rc ? rc
			  : run(conn,
				"DELETE FROM user_bindings WHERE tenant_id = $1::uuid AND user_id = $2 "
				"AND integration_id = $3::uuid",
				3, u3, NULL, e);
	}

	const char *g4[] = {ev->tenant_id, ev->group_id, NULL, NULL};
	if (!strcmp(k, "group.created") || !strcmp(k, "group.updated")) {
		if ((rc = need(ev->group_name, "name", e)))
			return rc;
		const char *p[] = {ev->tenant_id, ev->group_id, ev->group_name,
				   ev->group_description ? ev->group_description : "",
				   ev->group_email};
		rc = run(conn,
			 "INSERT INTO directory_groups (tenant_id, id, name, description, email) "
			 "VALUES ($1::uuid, $2, $3, $4, $5) ON CONFLICT (tenant_id, id) DO UPDATE SET "
			 "name = EXCLUDED.name, description = EXCLUDED.description, email = "
			 "EXCLUDED.email, version = directory_groups.version + 1, updated_at = now() "
			 "WHERE (directory_groups.name, directory_groups.description, "
			 "directory_groups.email) IS DISTINCT FROM (EXCLUDED.name, "
			 "EXCLUDED.description, EXCLUDED.email)",
			 5, p, NULL, e);
		rc = refused(rc, e, "23505", "email_in_use",
			     "email %.128s is in use by another directory group of the tenant",
			     ev->group_email ? ev->group_email : "");
		return rc ? rc : run(conn, Q_GROUP_SYNC, 3, g4, NULL, e);
	}
	if (!strcmp(k, "group.deleted")) {
		rc = run(conn, Q_GROUP_SYNC, 3, g4, NULL, e);
		if (!rc)
			rc = run(conn, Q_GROUP_MEMBERS_EXPORT, 4, g4, NULL, e);
		return rc ? rc
			  : run(conn,
				"DELETE FROM directory_groups WHERE tenant_id = $1::uuid AND id = $2",
				2, g4, NULL, e);
	}
	if (!strcmp(k, "group.member_added") || !strcmp(k, "group.member_removed")) {
		if ((rc = need(ev->user_id, "user_id", e)))
			return rc;
		const char *m[] = {ev->tenant_id, ev->group_id, NULL, ev->user_id};
		bool added = !strcmp(k, "group.member_added");
		if (added)
			rc = run(conn,
				 "INSERT INTO group_members (tenant_id, group_id, user_id) VALUES "
				 "($1::uuid, $2, $3) ON CONFLICT DO NOTHING",
				 3, (const char *[]){ev->tenant_id, ev->group_id, ev->user_id}, NULL,
				 e);
		rc = refused(rc, e, "23503", "rejected", "unknown group %.128s or user %.128s",
			     ev->group_id, ev->user_id);
		if (!rc)
			rc = run(conn, Q_GROUP_SYNC, 3, m, NULL, e);
		if (!rc)
			rc = run(conn, Q_GROUP_MEMBERS_EXPORT, 4, m, NULL, e);
		if (!rc && !added)
			rc = run(conn,
				 "DELETE FROM group_members WHERE tenant_id = $1::uuid AND group_id = "
				 "$2 AND user_id = $3",
				 3, (const char *[]){ev->tenant_id, ev->group_id, ev->user_id}, NULL,
				 e);
		return rc;
	}
	if (!strcmp(k, "group.bound") || !strcmp(k, "group.unbound")) {
		if ((rc = need(ev->integration_id, "integration_id", e)))
			return rc;
		const char *b[] = {ev->tenant_id, ev->group_id, ev->integration_id, NULL};
		bool bound = !strcmp(k, "group.bound");
		if (bound)
			rc = run(conn,
				 "INSERT INTO group_bindings (tenant_id, integration_id, group_id) "
				 "SELECT i.tenant_id, i.id, $2 FROM integrations i WHERE i.tenant_id = "
				 "$1::uuid AND i.id = $3::uuid AND i.status <> 'deactivated' ON "
				 "CONFLICT DO NOTHING",
				 3, b, NULL, e);
		rc = refused(rc, e, "23503", "rejected", "unknown group %.128s", ev->group_id);
		if (!rc)
			rc = run(conn, Q_GROUP_SYNC, 3, b, NULL, e);
		if (!rc)
			rc = run(conn, Q_GROUP_MEMBERS_EXPORT, 4, b, NULL, e);
		if (!rc && !bound)
			rc = run(conn,
				 "DELETE FROM group_bindings WHERE tenant_id = $1::uuid AND group_id = "
				 "$2 AND integration_id = $3::uuid",
				 3, b, NULL, e);
		return rc;
	}
	return err_set(e, E_INVAL, "unknown event type %.64s", k);
}

int store_dir_event_apply(struct store *st, const struct store_dir_event *ev,
			  enum store_event_outcome *outcome, struct err *e)
{
	*outcome = STORE_EVENT_APPLIED;
	PGconn *conn = store_tx_begin(st, NULL, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int rows = 0;
	const char *t[] = {ev->tenant_id};
	int rc = run(conn, "SELECT 1 FROM tenants WHERE id = $1::uuid", 1, t, &rows, e);
	if (!rc && rows == 0) {
		*outcome = STORE_EVENT_UNKNOWN_TENANT;
		store_tx_end(st, conn, E_INTERNAL, NULL); /* rolls back: nothing was written */
		return E_OK;
	}
	const char *p[] = {ev->source, ev->id};
	if (!rc)
		rc = run(conn,
			 "INSERT INTO processed_events (source, id) VALUES ($1, $2) ON CONFLICT DO "
			 "NOTHING",
			 2, p, &rows, e);
	if (!rc && rows == 0) {
		*outcome = STORE_EVENT_DUPLICATE;
		return store_tx_end(st, conn, E_OK, e);
	}
	int adopted = 0;
	if (!rc)
		rc = apply(conn, ev, &adopted, e);
	if (!rc && adopted)
		*outcome = STORE_EVENT_ADOPTED;
	/*
	 * Data the replica refuses is the event's fault (apply() names the cases it knows); any other
	 * constraint or value the database refuses (SQLSTATE class 23 or 22) is rejected too, with
	 * a message that leaks no SQL.
	 */
	if (rc && e && (!strncmp(e->reason, "23", 2) || !strncmp(e->reason, "22", 2))) {
		const char *why = !strcmp(e->reason, "23505")	? "a value another record holds"
				  : !strcmp(e->reason, "23503") ? "a reference to nothing"
				  : !strcmp(e->reason, "23502") ? "a required value is missing"
				  : e->reason[1] == '3'		? "a value the directory does not allow"
								: "a value of the wrong form or size";
		rc = err_set_reason(e, E_INVAL, "rejected", "the replica refuses the event's data: %s",
				    why);
	}
	return store_tx_end(st, conn, rc, e);
}
