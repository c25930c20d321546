/* Directory users: the platform's users as gwsync keeps them. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_directory.h"
#include "store_internal.h"

/* The password hash is never selected: nothing above the store ever sees it. */
#define USER_COLS                                                                                  \
	"id, email, first_name, last_name, state, alternate_email, manager_id, cost_center, "     \
	"department, employee_type, job_title, employee_id, company, location, addresses::text, " \
	"phones::text, password_hash IS NOT NULL, password_hash_function, " SQL_TIME(            \
		"password_set_at") ", version, " SQL_TIME("created_at") ", " SQL_TIME("updated_at")

/* Text columns 0..13 of USER_COLS, in order. */
static const struct {
	size_t off;
	size_t cap;
} user_text_cols[] = {
#define COL(f) {offsetof(struct store_user, f), sizeof(((struct store_user *)0)->f)}
	COL(id),	    COL(email),	      COL(first_name),	COL(last_name), COL(state),
	COL(alternate_email), COL(manager_id),  COL(cost_center), COL(department),
	COL(employee_type), COL(job_title),   COL(employee_id), COL(company), COL(location),
#undef COL
};

#define N_TEXT_COLS (sizeof(user_text_cols) / sizeof(user_text_cols[0]))

/* The columns a write sets, as $3.. (after $1 tenant and $2 id). */
#define USER_SET_COLS                                                                              \
	"email, first_name, last_name, state, alternate_email, manager_id, cost_center, "         \
	"department, employee_type, job_title, employee_id, company, location, addresses, phones"
#define USER_SET_VALUES                                                                            \
	"$3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text, "        \
	"$11::text, $12::text, $13::text, $14::text, $15::text, $16::jsonb, $17::jsonb"
#define USER_N_SET 15

void store_user_cleanup(struct store_user *u)
{
	if (!u)
		return;
	free(u->addresses_json);
	free(u->phones_json);
	u->addresses_json = NULL;
	u->phones_json = NULL;
}

void store_users_free(struct store_user *users, size_t n)
{
	for (size_t i = 0; users && i < n; i++)
		store_user_cleanup(&users[i]);
	free(users);
}

static int user_row(const PGresult *res, int row, struct store_user *u, struct err *e)
{
	for (size_t i = 0; i < N_TEXT_COLS; i++)
		store_copy((char *)u + user_text_cols[i].off, user_text_cols[i].cap, res, row,
			   (int)i);
	int c = (int)N_TEXT_COLS;
	u->addresses_json = strdup(PQgetisnull(res, row, c) ? "[]" : PQgetvalue(res, row, c));
	u->phones_json = strdup(PQgetisnull(res, row, c + 1) ? "[]" : PQgetvalue(res, row, c + 1));
	if (!u->addresses_json || !u->phones_json) {
		store_user_cleanup(u);
		return err_set(e, E_NOMEM, "user row");
	}
	u->password_set = strcmp(PQgetvalue(res, row, c + 2), "t") == 0;
	store_copy(u->password_hash_function, sizeof(u->password_hash_function), res, row, c + 3);
	store_copy(u->password_set_at, sizeof(u->password_set_at), res, row, c + 4);
	u->version = strtoll(PQgetvalue(res, row, c + 5), NULL, 10);
	store_copy(u->created_at, sizeof(u->created_at), res, row, c + 6);
	store_copy(u->updated_at, sizeof(u->updated_at), res, row, c + 7);
	return E_OK;
}

/* Reads the one row of res into *out: E_NOTFOUND (with msg) when there is none. */
static int user_one(PGresult *res, const char *msg, struct store_user *out, struct err *e)
{
	if (PQntuples(res) == 0)
		return err_set(e, E_NOTFOUND, "%s", msg);
	return user_row(res, 0, out, e);
}

/* The version of a user, or E_NOTFOUND. */
static int user_version(PGconn *conn, const char *tenant_id, const char *id, bool lock,
			int64_t *version, struct err *e)
{
	const char *p[] = {tenant_id, id};
	PGresult *res;
	int rc = store_conn_exec(conn,
				 lock ? "SELECT version FROM directory_users WHERE tenant_id = $1 "
					"AND id = $2 FOR UPDATE"
				      : "SELECT version FROM directory_users WHERE tenant_id = $1 "
					"AND id = $2",
				 2, p, &res, e);
	if (rc)
		return rc;
	if (PQntuples(res) == 0)
		rc = err_set(e, E_NOTFOUND, "no such user");
	else
		*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return rc;
}

/* Names the constraint a failed write broke, in the caller's terms. */
static int user_write_error(int rc, struct err *e)
{
	if (rc == E_CONFLICT && e && strcmp(e->reason, "23505") == 0)
		return err_set(e, E_CONFLICT, "another user of this tenant has this email");
	if (rc == E_NOTFOUND && e && strcmp(e->reason, "23503") == 0) {
		err_set(e, E_INVAL, "manager_id names no user of this tenant");
		snprintf(e->reason, sizeof(e->reason), "/manager_id");
		return E_INVAL;
	}
	return rc;
}

static void user_params(const char *tenant_id, const char *id, const struct store_user_input *in,
			const char *params[2 + USER_N_SET])
{
	params[0] = tenant_id;
	params[1] = id;
	const char *v[USER_N_SET] = {
		in->email,	   in->first_name, in->last_name,   in->state,
		in->alternate_email, in->manager_id, in->cost_center, in->department,
		in->employee_type, in->job_title,  in->employee_id, in->company,
		in->location,	   in->addresses_json ? in->addresses_json : "[]",
		in->phones_json ? in->phones_json : "[]",
	};
	memcpy(params + 2, v, sizeof(v));
}

/*
 * Version and updated_at move only when a value changes, so a repeated PUT keeps the ETag (and
 * the audit trigger records nothing).
 */
#define USER_CHANGED "(" USER_SET_COLS ") IS DISTINCT FROM (" USER_SET_VALUES ")"

static const char user_insert_sql[] =
	"INSERT INTO directory_users AS u (tenant_id, id, " USER_SET_COLS ") "
	"VALUES ($1, $2, " USER_SET_VALUES ") "
	"ON CONFLICT (tenant_id, id) DO UPDATE SET (" USER_SET_COLS ") = (" USER_SET_VALUES "), "
	"version = u.version + CASE WHEN (u.email, u.first_name, u.last_name, u.state, "
	"u.alternate_email, u.manager_id, u.cost_center, u.department, u.employee_type, "
	"u.job_title, u.employee_id, u.company, u.location, u.addresses, u.phones) "
	"IS DISTINCT FROM (" USER_SET_VALUES ") THEN 1 ELSE 0 END, "
	"updated_at = CASE WHEN (u.email, u.first_name, u.last_name, u.state, u.alternate_email, "
	"u.manager_id, u.cost_center, u.department, u.employee_type, u.job_title, u.employee_id, "
	"u.company, u.location, u.addresses, u.phones) IS DISTINCT FROM (" USER_SET_VALUES ") "
	"THEN now() ELSE u.updated_at END "
	"RETURNING " USER_COLS ", xmax = 0";

/* $18: the version the row must have (NULL: any). */
static const char user_update_sql[] =
	"UPDATE directory_users SET version = version + CASE WHEN " USER_CHANGED " THEN 1 ELSE 0 "
	"END, updated_at = CASE WHEN " USER_CHANGED " THEN now() ELSE updated_at END, "
	"(" USER_SET_COLS ") = (" USER_SET_VALUES ") "
	"WHERE tenant_id = $1 AND id = $2 AND ($18::bigint IS NULL OR version = $18::bigint) "
	"RETURNING " USER_COLS ", false";

/*
 * The conditional update shared by PUT with If-Match and PATCH. A miss is told apart afterwards:
 * no such user, or another version.
 */
static int user_update(struct store *st, const struct store_actor *actor, const char *tenant_id,
		       const char *id, const struct store_user_input *in, int64_t if_version,
		       bool missing_is_precondition, struct store_user *out, struct err *e)
{
	const char *params[2 + USER_N_SET + 1];
	char ver[24];
	user_params(tenant_id, id, in, params);
	snprintf(ver, sizeof(ver), "%lld", (long long)if_version);
	params[2 + USER_N_SET] = if_version > 0 ? ver : NULL;
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res;
	int rc = store_conn_exec(conn, user_update_sql, 2 + USER_N_SET + 1, params, &res, e);
	if (rc) {
		rc = user_write_error(rc, e);
	} else if (PQntuples(res) == 1) {
		rc = user_row(res, 0, out, e);
	} else {
		int64_t v;
		rc = user_version(conn, tenant_id, id, false, &v, e);
		if (rc == E_NOTFOUND && missing_is_precondition)
			rc = err_set(e, E_PRECONDITION,
				     "no such user; If-Match needs an existing one");
		else if (rc == E_OK)
			rc = err_set(e, E_PRECONDITION,
				     "the user changed since that ETag; read it again");
	}
	PQclear(res);
	rc = store_tx_end(st, conn, rc, e);
	if (rc)
		store_user_cleanup(out);
	return rc;
}

int store_user_put(struct store *st, const struct store_actor *actor, const char *tenant_id,
		   const char *id, const struct store_user_input *in, int64_t if_version,
		   struct store_user *out, bool *created, struct err *e)
{
	memset(out, 0, sizeof(*out));
	*created = false;
	if (if_version >= 0)
		return user_update(st, actor, tenant_id, id, in, if_version, true, out, e);
	const char *params[2 + USER_N_SET];
	user_params(tenant_id, id, in, params);
	PGresult *res;
	int rc = store_exec_as(st, actor, user_insert_sql, 2 + USER_N_SET, params, &res, e);
	if (rc)
		return user_write_error(rc, e);
	rc = user_one(res, "no such user", out, e);
	if (!rc)
		*created = strcmp(PQgetvalue(res, 0, PQnfields(res) - 1), "t") == 0;
	PQclear(res);
	return rc;
}

int store_user_update(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *id, const struct store_user_input *in, int64_t version,
		      struct store_user *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	return user_update(st, actor, tenant_id, id, in, version, false, out, e);
}

int store_user_get(struct store *st, const char *tenant_id, const char *id,
		   struct store_user *out, struct err *e)
{
	memset(out, 0, sizeof(*out));
	const char *params[] = {tenant_id, id};
	PGresult *res;
	int rc = store_exec_idempotent(st,
				       "SELECT " USER_COLS " FROM directory_users WHERE tenant_id = $1 AND "
				       "id = $2",
				       2, params, &res, e);
	if (rc)
		return rc;
	rc = user_one(res, "no such user", out, e);
	PQclear(res);
	return rc;
}

STORE_ROW_COPY_ERR(user_copy, user_row)
STORE_ROWS_FREE(users_free, store_users_free)

int store_user_list(struct store *st, const char *tenant_id, const char *email,
		    const char *state, const char *after_id, int limit, struct store_user **out,
		    size_t *n, struct err *e)
{
	static const struct store_rows how = {
		.size = sizeof(**out), .copy = user_copy, .free = users_free};
	char lim[16];
	snprintf(lim, sizeof(lim), "%d", limit);
	const char *params[] = {tenant_id, email, state, after_id, lim};
	void *rows;
	int rc = store_list(st,
			    "SELECT " USER_COLS " FROM directory_users WHERE tenant_id = $1 AND "
			    "($2::text IS NULL OR lower(email) = lower($2::text)) AND "
			    "($3::text IS NULL OR state = $3::text) AND "
			    "($4::text IS NULL OR id > $4::text) ORDER BY id LIMIT $5",
			    5, params, &how, &rows, n, e);
	*out = rows;
	return rc;
}

int store_user_delete(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *id, int64_t if_version, struct err *e)
{
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	int64_t v = 0;
	int rc = user_version(conn, tenant_id, id, true, &v, e);
	if (!rc && if_version > 0 && v != if_version)
		rc = err_set(e, E_PRECONDITION, "the user changed since that ETag; read it again");
	const char *params[] = {tenant_id, id};
	PGresult *res = NULL;
	/*
	 * The foreign key would clear the manager of the users this one managed without moving
	 * their version; doing it here keeps their ETags honest and audits the change.
	 */
	if (!rc)
		rc = store_conn_exec(conn,
				     "UPDATE directory_users SET manager_id = NULL, version = "
				     "version + 1, updated_at = now() WHERE tenant_id = $1 AND "
				     "manager_id = $2 AND id <> $2",
				     2, params, &res, e);
	PQclear(res);
	res = NULL;
	if (!rc)
		rc = store_conn_exec(conn,
				     "DELETE FROM directory_users WHERE tenant_id = $1 AND id = $2",
				     2, params, &res, e);
	PQclear(res);
	return store_tx_end(st, conn, rc, e);
}

int store_user_set_password(struct store *st, const struct store_actor *actor,
			    const char *tenant_id, const char *id, const char *hash,
			    const char *hash_function, int64_t if_version, struct store_user *out,
			    struct err *e)
{
	memset(out, 0, sizeof(*out));
	char ver[24];
	snprintf(ver, sizeof(ver), "%lld", (long long)if_version);
	const char *params[] = {tenant_id, id, hash, hash_function, if_version > 0 ? ver : NULL};
	PGconn *conn = store_tx_begin(st, actor, e);
	if (!conn)
		return e ? e->code : E_UNAVAIL;
	PGresult *res;
	int rc = store_conn_exec(conn,
				 "UPDATE directory_users SET password_hash = $3, "
				 "password_hash_function = $4, password_set_at = now(), "
				 "version = version + 1, updated_at = now() WHERE tenant_id = $1 "
				 "AND id = $2 AND ($5::bigint IS NULL OR version = $5::bigint) "
				 "RETURNING " USER_COLS,
				 5, params, &res, e);
	if (!rc && PQntuples(res) == 1) {
		rc = user_row(res, 0, out, e);
	} else if (!rc) {
		int64_t v;
		rc = user_version(conn, tenant_id, id, false, &v, e);
		if (!rc)
			rc = err_set(e, E_PRECONDITION,
				     "the user changed since that ETag; read it again");
	}
	PQclear(res);
	rc = store_tx_end(st, conn, rc, e);
	if (rc)
		store_user_cleanup(out);
	return rc;
}
