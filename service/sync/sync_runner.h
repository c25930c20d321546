/*
 * sync_runner — the registry of job runners by type and what a runner may do while it runs.
 *
 * A runner runs on a worker thread with a struct sync_job (borrowed for the call). It works in
 * batches and calls sync_job_checkpoint() between them: that records progress, renews the lease
 * and tells it to stop (cancellation, shutdown, lost lease). It records each object's outcome with
 * sync_job_item(). It returns E_OK when it got through (items may have failed) or an error that
 * fails the whole job (e->msg becomes the job's error). The worker finishes the job afterwards.
 * A job may run more than once (its worker died, or gave it back at shutdown): a runner loads
 * what the job has done with sync_job_done_load() and skips it.
 */
#ifndef GWSYNC_SYNC_RUNNER_H
#define GWSYNC_SYNC_RUNNER_H

#include <stdatomic.h>
#include <stdbool.h>

#include "connect.h"
#include "err.h"
#include "store_jobs.h"

enum sync_stop {
	SYNC_GO = 0,
	SYNC_CANCELLED, /* a cancel was asked for: end as cancelled */
	SYNC_SHUTDOWN,	/* the worker stops: give the job back */
	SYNC_LOST,	/* the lease went to someone else: touch nothing more */
	SYNC_AWAITING,	/* the job now waits for an approval (deletion guard): leave it */
};

/*
 * A full_sync stores both plans under one job: the users' entries are numbered densely from 1,
 * the groups' from this base, so neither replaces the other and an approval reads only the users'.
 */
#define SYNC_GROUPS_PLAN_SEQ_BASE ((int64_t)1 << 40)

struct sync_job {
	struct store *st;
	struct connect *conn; /* Google authorization and clients (borrowed) */
	const struct store_job *job; /* as claimed */
	const char *owner;	     /* lease owner (this worker) */
	int lease_ms;
	int domains_max_age_ms; /* GWSYNC_DOMAINS_MAX_AGE_MS: flags younger than this are reused */
	atomic_int *shutdown; /* set by the worker when it stops */
	enum sync_stop stop;  /* why the run stopped early, set by checkpoint */
	int counts[JOB_NCOUNT];
};

/*
 * Records progress (total -1: unknown) and renews the lease; returns SYNC_GO to go on, or why to
 * stop (also kept in j->stop). A database error is not a reason to stop (the lease covers it).
 */
enum sync_stop sync_job_checkpoint(struct sync_job *j, int done, int total);

/*
 * The last progress of a run (done of total), recorded even when the run stopped early (a cancel,
 * a shutdown, an error; not a lost lease), so the job shows what it got through. A stop it finds
 * (a cancel asked for meanwhile) is kept in j->stop only when the run was going on.
 */
void sync_job_progress_final(struct sync_job *j, int done, int total);

/*
 * Whether rc/e say the integration is no longer active (a store write that released what it
 * wrote, or a check between batches): the run stops and the job fails with that reason.
 */
bool sync_not_active(int rc, const struct err *e);

/* E_CONFLICT, reason integration_not_active, naming the integration's status. */
int sync_set_not_active(struct err *e, const char *status);

/*
 * Between batches of Google writes: E_CONFLICT (reason integration_not_active) when the job's
 * integration is no longer active (deactivated meanwhile), else E_OK (a failed read too: the
 * next link write checks again, under a lock).
 */
int sync_still_active(struct sync_job *j, struct err *e);

/* Records one object's outcome (error_* NULL unless failed or skipped). */
int sync_job_item(struct sync_job *j, const char *object_type, const char *object_id,
		  enum store_job_count outcome, const char *error_reason, const char *error_message,
		  struct err *e);

/*
 * Loads the objects of object_type this job has done already (store_job_done_load): a run taken
 * over after a crash, or given back at shutdown, skips them and resumes. Logs job_resumed when
 * the set is not empty. Release with store_job_done_cleanup().
 */
int sync_job_done_load(struct sync_job *j, const char *object_type, struct store_job_done *out,
		       struct err *e);

/* sync_job_item() for n objects in one store round trip (store_job_items_add). */
int sync_job_items(struct sync_job *j, const struct store_job_item_in *items, size_t n,
		   struct err *e);

/*
 * Refreshes the verified flags of the integration's domains from Google (domains.list) before a
 * run reads them, when the last check (any run's, verify's, the API's domain check) is older than
 * j->domains_max_age_ms: a domain verified or dropped in Google counts within that window, and
 * runs in between (an event's export, a full reconcile right after another run) reuse the stored
 * flags without a call. The same rule for every runner. A failure is logged and the run goes on
 * with the flags stored before (the next run tries again).
 */
void sync_domains_refresh(struct sync_job *j);

/*
 * The settings every runner reads before it plans (runner_export, runner_groups, runner_import):
 * the integration's domains that Google did not refuse, as a NULL-terminated owned array of *n
 * (store_strings_free); read after sync_domains_refresh().
 */
int sync_domains_load(struct store *st, const char *tenant_id, const char *integration_id,
		      char ***out, size_t *n, struct err *e);

/*
 * The integration's domains Google refused (verified false), the same way: the export names
 * them in its skip reason (domain_not_verified rather than domain_not_configured).
 */
int sync_domains_refused_load(struct store *st, const char *tenant_id,
			      const char *integration_id, char ***out, size_t *n, struct err *e);

/*
 * The job's parameters.<key> (an array of ids) as an owned NULL-terminated array of *n; *ids NULL
 * when the job names none (every object). store_strings_free(*ids, *n).
 */
int sync_job_param_ids(const struct sync_job *j, const char *key, char ***ids, size_t *n,
		       struct err *e);

typedef int (*sync_runner_fn)(struct sync_job *j, struct err *e);

struct sync_runner {
	const char *type;
	sync_runner_fn run; /* NULL: the type exists but this build cannot run it */
	bool test_only;	    /* registered only with GWSYNC_JOB_TEST_RUNNERS=1 */
	const char *missing; /* why run is NULL */
};

/*
 * sync_groups (runner_groups.c): also the last step of full_sync, when group management is on.
 */
int sync_groups_run(struct sync_job *j, struct err *e);

/* The runner of type, or NULL when there is none (test-only ones only when test_runners). */
const struct sync_runner *sync_runner_find(const char *type, bool test_runners);

#endif
