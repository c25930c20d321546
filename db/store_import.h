/*
 * What the user import engine reads and writes (issue "User import engine"; its settings come with
 * the integration, store_integration_get): the directory users a page of Google users may be
 * (linked by Google id in the integration, or matching by address), and one batch of import
 * writes (replica users created or updated, their bindings, links and gws.user.imported events)
 * with its job items, in one transaction. Part of the store
 * (store.h: threading and error mapping); every function filters by tenant and integration.
 */
#ifndef GWSYNC_DB_STORE_IMPORT_H
#define GWSYNC_DB_STORE_IMPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "store_jobs.h"

/* A directory user (or the link of a deleted one), borrowed for the callback. "" for null. */
struct store_import_row {
	const char *user_id;
	bool exists;
	int64_t version;
	const char *email, *first_name, *last_name, *state;
	const char *alternate_email, *cost_center, *department, *employee_type, *job_title,
		*employee_id;
	const char *addresses_json, *phones_json;
	const char *google_id, *link_status; /* this integration's link */
};

typedef int (*store_import_row_fn)(void *ctx, const struct store_import_row *r, struct err *e);

/*
 * Calls fn once for every directory user of the tenant linked in the integration to one of
 * google_ids (also links of users deleted since: exists false), whose lower-case email is one of
 * keys, or whose lower-case local part is one of locals (users rewritten to the default domain;
 * n_locals 0: none). Each user once.
 */
int store_import_candidates(struct store *st, const char *tenant_id, const char *integration_id,
			    const char *const *google_ids, size_t n_ids, const char *const *keys,
			    size_t n_keys, const char *const *locals, size_t n_locals,
			    store_import_row_fn fn, void *ctx, struct err *e);

/*
 * One batch of import writes and its job items in one transaction, so a batch is either written
 * with its outcomes or not at all. rows_json (NULL: nothing to write) is a JSON array of
 *   {op: create|link|update, user_id, google_id, primary_email, link_status, fields: {column:
 *    value}}
 * create inserts the replica user (state staged); link and update write the fields given (""
 * clears a nullable column); create and link also bind the user and link it (origin imported).
 * Every row written publishes gws.user.imported {user_id, google_id, primary_email, created,
 * job_id, attributes: the fields}. A row whose email another directory user holds is not
 * written: fn_refused(ctx, user_id) is called for it (no binding, link or event either). Then
 * fn_items(ctx, &items, &n) gives the batch's job items (they may name the refusals; borrowed
 * until the call returns), recorded as store_job_items_add does.
 *
 * The integration must still be active (else E_CONFLICT, reason integration_not_active, nothing
 * written); it stays locked against a deactivation until the commit (store_integration_share).
 * The lease is checked last (owner holds the running job, else E_NOTFOUND and nothing of the
 * batch stays): the job row is locked only from that check to the commit, so batches of one job
 * are written on several connections at once and wait for each other only there.
 */
int store_import_apply(struct store *st, const char *tenant_id, const char *integration_id,
		       const char *job_id, const char *owner, const char *rows_json,
		       void (*fn_refused)(void *ctx, const char *user_id),
		       void (*fn_items)(void *ctx, const struct store_job_item_in **items, size_t *n),
		       void *ctx, struct err *e);

/*
 * Refreshes the planner's statistics of the tables an import grows (directory users, bindings,
 * links) after a run that added many rows, so the next run's lookups use their indexes instead
 * of plans made for the tables' old sizes.
 */
int store_import_analyze(struct store *st, struct err *e);

#endif
