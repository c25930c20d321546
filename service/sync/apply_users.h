/*
 * apply_users — executes a user export plan; decides nothing (the planner did).
 *
 * Writes go through the batch endpoint (WRITE_BATCH parts a request) with the client's rate
 * limit and retries. Crash safety: a takeover's link (Google id) is recorded before the write and
 * a create is recorded as intended (link status `creating`) before it is sent, so a re-run looks
 * the address up instead of creating twice; a 409 "Entity already exists" on a create is taken
 * over when a users.get by the address finds a user. Each outcome is written to the user's link
 * with its gws.user.* event in one transaction, and recorded as a job item (object type "user").
 * Between batches: a checkpoint (progress, lease, cancel) and a look at the integration's status.
 *
 * A batch that fails as a whole on a transient error (timeout, 5xx, rate limit, after the
 * client's retries) is each of its users' failure (item and link error; a create's link stays
 * `creating`, as it may have happened), so the next run writes them again; the run goes on, and
 * stops with that error only after FAILED_BATCHES_MAX such batches in a row (Google is down).
 * Errors that stop the run: that, auth errors, store errors; e says why. A part's error is that
 * user's item.
 * Threads: the job's thread. The password hash goes into one request body that is wiped after.
 */
#ifndef GWSYNC_SYNC_APPLY_USERS_H
#define GWSYNC_SYNC_APPLY_USERS_H

#include "connect.h"
#include "runner_export.h"

struct apply_ctx {
	struct sync_job *j;
	struct connect_handle *h;	/* NULL for apply_settled() */
	struct export_scope *scope; /* the users the plan's entries index */
	size_t settled;		    /* users recorded by apply_settled() before (progress) */
	int failed_batches;	    /* write batches in a row that failed as a whole (apply_users) */
};

int apply_users(struct apply_ctx *ac, const struct plan *p, struct err *e);

/*
 * Records entries that need no Google call and that no later check can change (unchanged users,
 * plan_entry_settled()): the link when it does not record what Google holds yet. listed: also an
 * item each (outcome unchanged); else the caller counts them (store_job_unchanged_set()).
 */
int apply_settled(struct apply_ctx *ac, const struct plan_entry *const *ens, size_t n,
		  bool listed, struct err *e);

#endif
