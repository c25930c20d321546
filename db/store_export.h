/*
 * What the user export engine reads and writes: the users in an integration's scope with their
 * links, the links themselves (the Google user behind a directory user, per integration), the
 * plan a run made, and the deletion guard's window. Part of the store (see store.h for threading
 * and error mapping); every function filters by tenant and integration.
 *
 * A link is keyed by (integration, user_id) and names the Google user by its immutable id, never
 * by address. It remembers what gwsync last wrote: a SHA-256 hex digest per Google field
 * (field_hashes_json, {"name.givenName":"<hex>",...}) and of the password hash it last sent
 * (password_digest), so a targeted run compares against them without reading Google.
 * Link status: pending (no Google user yet), creating (a create was sent or is about to be: the
 * next run looks the address up before creating again), synced, suspended, failed, conflict,
 * skipped, deleted_in_google, released (deactivation; never written again until matched anew).
 * Origin: linked (takeover), provisioned (created by gwsync), imported.
 */
#ifndef GWSYNC_DB_STORE_EXPORT_H
#define GWSYNC_DB_STORE_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/*
 * One user of the export scope, borrowed for the callback only (copy what you keep). Strings are
 * never NULL: "" stands for null. A row is either a directory user (exists) or the link of a user
 * who was deleted from the directory (exists false: only user_id and the link fields are set).
 */
struct store_export_row {
	const char *user_id;
	bool exists;	   /* the directory user still exists */
	bool in_scope;	   /* bound directly or through a bound group */
	bool bound_direct; /* bound directly */
	int64_t version;   /* the directory user's version (0 when !exists) */
	const char *email, *first_name, *last_name, *state;
	const char *alternate_email, *manager_id, *cost_center, *department, *employee_type,
		*job_title, *employee_id;
	const char *addresses_json, *phones_json; /* JSON array texts ("[]" when none) */
	const char *password_hash, *password_hash_function; /* "" when none; never log */
	bool locked;					    /* locked_at is set */
	bool password_expired;				    /* password_expired_at is set */
	/* the link of this integration ("" when none) */
	const char *google_id, *link_primary_email, *link_status, *link_origin;
	const char *field_hashes_json; /* "{}" when none */
	const char *password_digest;
	const char *link_error_reason;
	/* the manager's primaryEmail when the manager is linked (not released) by this integration
	 * and, in a targeted walk, among user_ids; "" otherwise */
	const char *manager_primary_email;
};

typedef int (*store_export_row_fn)(void *ctx, const struct store_export_row *row, struct err *e);

/*
 * Calls fn for every user of the integration's scope: users bound directly or through a bound
 * group, plus users with a link of this integration whose status is not released (unbound or
 * deleted from the directory since), ordered by user id. With user_ids (n_ids > 0) only those
 * users. A non-zero return of fn stops the walk and is returned. E_NOTFOUND for no integration.
 */
int store_export_scope(struct store *st, const char *tenant_id, const char *integration_id,
		       const char *const *user_ids, size_t n_ids, store_export_row_fn fn, void *ctx,
		       struct err *e);

/*
 * store_export_scope() of everyone, calling first(ctx, e) once before the first row, while
 * PostgreSQL prepares the rows (work that needs no rows, e.g. reading Google, overlaps it). A
 * non-zero return of first stops the walk and is returned.
 */
typedef int (*store_export_first_fn)(void *ctx, struct err *e);
int store_export_scope_first(struct store *st, const char *tenant_id, const char *integration_id,
			     store_export_first_fn first, store_export_row_fn fn, void *ctx,
			     struct err *e);

/*
 * The same walk (every user, in no particular order) with only user_id, exists, in_scope, email
 * and the link's google_id, primary email and status set; the other fields are "" ("[]", "{}").
 * For what the scope may match before it is walked in full.
 */
int store_export_scope_keys(struct store *st, const char *tenant_id, const char *integration_id,
			    store_export_row_fn fn, void *ctx, struct err *e);

/*
 * The other users a targeted run must see beside its own (user_ids): the cross-user checks of a
 * full plan (several directory users on one Google user, two wanting one primaryEmail, a Google
 * user linked to someone else) need every user of the scope that could meet them. Calls fn, as
 * store_export_scope() does, for each user of the integration's scope (the same rules: bound
 * directly or through a bound group, or linked and not released) that is not among user_ids and
 * whose email (lower-case) is one of addresses or whose local part is one of local_parts (the
 * caller passes those of addresses at the default domain, and filters exactly), or that is linked
 * (not released) to one of google_ids. Two statements for the whole batch, none per user.
 */
struct store_export_context_keys {
	const char *const *user_ids;
	size_t n_ids;
	const char *const *addresses; /* lower-case */
	size_t n_addresses;
	const char *const *local_parts; /* lower-case */
	size_t n_local_parts;
	const char *const *google_ids;
	size_t n_google_ids;
};

int store_export_context(struct store *st, const char *tenant_id, const char *integration_id,
			 const struct store_export_context_keys *k, store_export_row_fn fn,
			 void *ctx, struct err *e);

/*
 * A link write. NULL fields keep what the link holds (a new link gets NULL columns / '{}'),
 * except error_reason/error_message, which are always replaced (NULL clears them). synced sets
 * last_synced_at to now. event_type (NULL: none) adds a gws.user.* CloudEvent with data
 * event_data_json (a JSON object text) to the outbox in the same transaction.
 */
struct store_link_write {
	const char *user_id;	   /* required */
	const char *google_id;	   /* NULL keep */
	const char *primary_email; /* NULL keep */
	const char *status;	   /* required */
	const char *origin;	   /* NULL keep */
	const char *field_hashes_json; /* NULL keep; else merged into the stored object (keys replaced) */
	const char *password_digest;   /* NULL keep */
	const char *error_reason, *error_message;
	bool synced;
	const char *event_type;
	const char *event_data_json;
};

/*
 * Creates or updates links in one transaction, but only while owner still holds the running job
 * job_id (E_NOTFOUND otherwise: the lease was taken over; nothing is written). E_CONFLICT when a
 * google_id is already linked to another user of the integration (nothing is written). The
 * integration row is locked (FOR KEY SHARE): once it is deactivated every link is written with
 * status released (keeping what it learned), and, committed, E_CONFLICT reason
 * STORE_REASON_NOT_ACTIVE is returned whenever the integration is not active: the run stops.
 */
int store_links_write(struct store *st, const char *tenant_id, const char *integration_id,
		      const char *job_id, const char *owner, const struct store_link_write *w,
		      size_t n, struct err *e);

/*
 * Records on existing links, in one statement, what Google was found to hold for unchanged users:
 * of each w only user_id, primary_email (NULL keeps), status and field_hashes_json (merged) are
 * used; errors are cleared, last_synced_at set (kept by a link written released); no event.
 * While owner holds the job (else E_NOTFOUND, nothing written). Deactivated / not active: as
 * store_links_write.
 */
int store_links_refresh(struct store *st, const char *tenant_id, const char *integration_id,
			const char *job_id, const char *owner, const struct store_link_write *w,
			size_t n, struct err *e);

/* Marks every link of the integration released (deactivation). *n gets how many. */
int store_links_release(struct store *st, const char *tenant_id, const char *integration_id,
			int *n, struct err *e);

/* ---- plans ---- */

/*
 * One operation of a plan as stored (never a password: a password change is the field
 * "password" with before/after null and "changed": true in changes_json).
 */
struct store_plan_entry {
	int64_t seq;
	const char *op;		  /* link, create, update, rename, suspend, ... */
	const char *user_id;
	const char *google_id;	  /* "" when none */
	const char *primary_email; /* "" when none */
	const char *reason;	  /* "" when none */
	const char *changes_json; /* JSON array text of {field, before, after}; "[]" */
	int64_t user_version;	  /* directory version the entry was planned from */
};

/* Appends entries to the job's plan (while owner holds it, else E_NOTFOUND). */
int store_plan_append(struct store *st, const char *job_id, const char *owner,
		      const struct store_plan_entry *entries, size_t n, struct err *e);

/* Stores the job's plan_summary (a JSON object text) while owner holds it. */
int store_plan_summary_set(struct store *st, const char *job_id, const char *owner,
			   const char *summary_json, struct err *e);

/*
 * Sets member key of the job's plan_summary to summary_json, keeping the other members (a
 * full_sync's group plan beside its users' plan), while owner holds the job.
 */
int store_plan_summary_merge(struct store *st, const char *job_id, const char *owner,
			     const char *key, const char *summary_json, struct err *e);

/*
 * A page of the job's plan after after_seq, as one JSON array text of entry objects
 * ({seq, op, user_id, google_id, primary_email, reason, changes}) in *items_json (malloc'd),
 * *n entries. E_NOTFOUND when the tenant has no such job.
 */
int store_plan_page(struct store *st, const char *tenant_id, const char *job_id,
		    int64_t after_seq, int limit, char **items_json, size_t *n, struct err *e);

/*
 * The job's unchanged count: its items with outcome unchanged plus unlisted, the unchanged users
 * the run counted without an item each (while owner holds it, else E_NOTFOUND).
 */
int store_job_unchanged_set(struct store *st, const char *job_id, const char *owner,
			    int unlisted, struct err *e);

/* ---- deletion guard ---- */

/*
 * Suspensions (and guarded renames) applied for the integration within the last window_s
 * seconds, and how many links are not released.
 */
int store_guard_counts(struct store *st, const char *integration_id, int window_s,
		       int *recent, int *linked, struct err *e);

/* Records n guarded writes applied now for the integration. */
int store_guard_record(struct store *st, const char *tenant_id, const char *integration_id,
		       int n, struct err *e);

/*
 * Stops the job before its first write: status awaiting_approval (the plan is already stored),
 * lease cleared, while owner holds it.
 */
int store_job_await_approval(struct store *st, const char *job_id, const char *owner,
			     struct err *e);

#endif
