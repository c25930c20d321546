/*
 * Inside db/ only: the pool and the statement helpers every store_*.c file uses.
 */
#ifndef GWSYNC_DB_STORE_INTERNAL_H
#define GWSYNC_DB_STORE_INTERNAL_H

#include <libpq-fe.h>

#include "store.h"

#define SQL_TIME(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/*
 * When an integration row's next scheduled import is due (settings.import_schedule):
 * import_last_run_at + import_interval_minutes minutes of minute_ms milliseconds each (a
 * parameter, e.g. "$1": tests shorten the minute); NULL while the schedule is off or the
 * integration is not active. Before the first run the first one is due at once: the time it became
 * due (the stored value, else now), not NULL, which the next tick would replace by a time (an
 * answer to the PATCH that turned it on showed null, a read right after a time).
 * integrations.import_next_run_at holds it: the scheduler's tick keeps it so, and a change of the
 * settings or the status sets it at once.
 */
#define SQL_IMPORT_NEXT_RUN(minute_ms)                                                         \
	"(CASE WHEN status = 'active' AND import_enabled THEN coalesce(import_last_run_at + "   \
	"import_interval_minutes * " minute_ms "::int * interval '1 millisecond', "             \
	"import_next_run_at, now()) END)"

/* Borrows a connection (opening one if needed); NULL with E_UNAVAIL when none can be had. */
PGconn *store_conn_acquire(struct store *st, struct err *e);

/* Opens a connection outside the pool (a LISTENer); the caller PQfinish()es it. */
PGconn *store_conn_open(struct store *st, struct err *e);

/* Gives a connection back; a connection that is no longer healthy is closed. */
void store_conn_release(struct store *st, PGconn *conn);

/*
 * Runs one parameterised statement on conn. On success *res holds the result (caller PQclear()s);
 * on failure *res is NULL and the PostgreSQL error is mapped to an err code.
 */
int store_conn_exec(PGconn *conn, const char *sql, int nparams, const char *const *params,
		    PGresult **res, struct err *e);

/*
 * store_conn_exec on a borrowed connection. A pooled connection whose backend ended while it sat
 * idle (server restart, pg_terminate_backend) is found dead before anything is sent and replaced.
 * A connection lost during the call is retried on a new one only when the statement never went
 * out: a write that went out may have committed before the reply was lost, so it is never sent
 * twice; the caller gets E_UNAVAIL ("it may have taken effect") and decides.
 */
int store_exec(struct store *st, const char *sql, int nparams, const char *const *params,
	       PGresult **res, struct err *e);

/*
 * store_exec for a statement that may run twice with the effect of once: a read, or a write
 * that sets absolute values or upserts (a job item, progress, a lease). It is also sent once
 * more when the connection is lost after it went out.
 */
int store_exec_idempotent(struct store *st, const char *sql, int nparams,
			  const char *const *params, PGresult **res, struct err *e);

/*
 * Opens a transaction on a borrowed connection, tagged with the actor for the audit trigger.
 * Finish with store_tx_end(): commit when rc is E_OK, else roll back; the connection goes back
 * to the pool either way and rc (or the commit's failure) is returned.
 */
PGconn *store_tx_begin(struct store *st, const struct store_actor *actor, struct err *e);
int store_tx_end(struct store *st, PGconn *conn, int rc, struct err *e);

/* Runs one statement in its own audited transaction. */
int store_exec_as(struct store *st, const struct store_actor *actor, const char *sql,
		  int nparams, const char *const *params, PGresult **res, struct err *e);

/*
 * store_job_items_add (store_jobs.h) inside conn's transaction (conn NULL: its own statement).
 * Its lease check locks the job row until the transaction ends: take it last.
 */
struct store_job_item_in;
int store_job_items_add_in(struct store *st, PGconn *conn, const char *id, const char *owner,
			   const struct store_job_item_in *items, size_t n, struct err *e);

/* Copies a text column into dst (cut to cap); empty for NULL. */
void store_copy(char *dst, size_t cap, const PGresult *res, int row, int col);

/*
 * Reading a list: every store_*_list runs its SELECT, then turns the result into an array with
 * store_rows(), which owns the rest of the shape (allocate, copy row by row, PQclear, undo on
 * failure) so each list only says how one row is copied.
 */

/*
 * Copies row of res into dst, one zeroed element of the list: E_OK, or an err code (E_NOMEM)
 * after freeing whatever it had put into dst.
 */
typedef int store_row_fn(const PGresult *res, int row, void *dst, struct err *e);

struct store_rows {
	size_t size;	    /* of one element */
	store_row_fn *copy; /* fills one element */
	/* Frees the first n elements when a copy fails; NULL when elements own no memory. */
	void (*free)(void *rows, size_t n);
	/*
	 * For a list under a parent read in the same statement (parent LEFT JOIN children): no row
	 * at all is E_NOTFOUND with this message, and a first row whose column null_col is NULL is
	 * the parent with no children (an empty list). NULL: every row is an element.
	 */
	const char *parent_missing;
	int null_col;
};

/*
 * Turns res into a calloc'd array of one element per row (NULL when none) in *out, *n the count.
 * Takes res in every case (PQclear) and rc from the exec that made it: a non-zero rc is returned
 * as is. On any failure *out is NULL and *n 0.
 */
int store_rows(int rc, PGresult *res, const struct store_rows *how, void **out, size_t *n,
	       struct err *e);

/*
 * Adapters from a file's typed row function to store_row_fn: fn(res, row, struct X *) that
 * cannot fail, or fn(res, row, struct X *, e) that can; and from a typed list free.
 */
#define STORE_ROW_COPY(name, fn)                                                                  \
	static int name(const PGresult *res, int row, void *dst, struct err *e)                  \
	{                                                                                         \
		(void)e;                                                                          \
		fn(res, row, dst);                                                                \
		return E_OK;                                                                      \
	}
#define STORE_ROW_COPY_ERR(name, fn)                                                              \
	static int name(const PGresult *res, int row, void *dst, struct err *e)                  \
	{                                                                                         \
		return fn(res, row, dst, e);                                                      \
	}
#define STORE_ROWS_FREE(name, fn)                                                                 \
	static void name(void *rows, size_t n)                                                    \
	{                                                                                         \
		fn(rows, n);                                                                      \
	}

/* store_exec_idempotent(sql) then store_rows(): a whole list read outside a transaction. */
int store_list(struct store *st, const char *sql, int nparams, const char *const *params,
	       const struct store_rows *how, void **out, size_t *n, struct err *e);

/*
 * Marks every link of the integration released (deactivation), in the caller's transaction on
 * conn; *n (may be NULL) gets how many. store_export.c.
 */
int store_links_release_in(PGconn *conn, const char *tenant_id, const char *integration_id,
			   int *n, struct err *e);

/*
 * Deactivation's side of group management: every managed group link of the integration becomes
 * unmanaged (Google untouched), in the caller's transaction on conn. store_groups_sync.c.
 */
int store_group_links_release_in(PGconn *conn, const char *tenant_id, const char *integration_id,
				 struct err *e);

/*
 * Holds the running job job_id for the caller's transaction while owner runs it (FOR SHARE): a
 * lease takeover waits for the commit, so no write lands after another worker took the job.
 * tenant_id / integration_id may be NULL (not checked). E_NOTFOUND when the lease was lost.
 * store_export.c.
 */
int store_lease_hold(PGconn *conn, const char *job_id, const char *owner, const char *tenant_id,
		     const char *integration_id, struct err *e);

/*
 * E_NOTFOUND ("no such integration") unless integration_id is one of the tenant's: on conn, in
 * the caller's transaction, or (conn NULL) on a pooled connection.
 */
int store_integration_check(struct store *st, PGconn *conn, const char *tenant_id,
			    const char *integration_id, struct err *e);

/*
 * Locks the integration row in conn's transaction and tells its state. A deactivation (FOR
 * UPDATE) waits for the commit and then releases what the transaction wrote; one committed first
 * is seen here. FOR KEY SHARE: the row's routine updates (a binding's version, the import
 * schedule) neither wait for a link write nor make it wait. E_NOTFOUND for no such integration.
 */
enum store_share {
	STORE_SHARE_ACTIVE,
	STORE_SHARE_INACTIVE,	 /* pending or reauthorization required: links as written */
	STORE_SHARE_DEACTIVATED, /* links written as the deactivation leaves them */
};
int store_integration_share(PGconn *conn, const char *tenant_id, const char *integration_id,
			    enum store_share *state, struct err *e);

/*
 * E_CONFLICT, reason STORE_REASON_NOT_ACTIVE: what a sync link write returns after it committed
 * while the integration was not active (its links released when deactivated), so the run stops.
 */
int store_not_active(struct err *e);

/* Compiled-in migrations (generated from db/migrations/NNNN_name.sql at build time). */
struct store_migration {
	int version;
	const char *name;
	const char *sql;
	const char *sha256;
};
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

/*
 * A PostgreSQL array literal ({"a","b"}) of n strings (NULL elements become ""), for passing a
 * list as one text[] parameter. malloc'd; NULL on allocation failure.
 */
char *store_text_array(const char *const *v, size_t n);

#endif
