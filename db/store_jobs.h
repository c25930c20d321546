/*
 * Jobs, their per-object outcomes, the transactional outbox and the scheduler's periodic work.
 * Part of the store (see store.h for threading and error mapping).
 *
 * A job is queued in the transaction that asks for it; a trigger writes its announcement to the
 * outbox in that same transaction, and its gws.job.finished event when it ends. Workers claim a
 * job with a lease (owner + expiry) they extend while running; every later write of the run names
 * the owner, so a worker whose lease was taken over can no longer change the job (E_NOTFOUND).
 * At most one job per integration is running (a partial unique index).
 */
#ifndef GWSYNC_DB_STORE_JOBS_H
#define GWSYNC_DB_STORE_JOBS_H

#include "store.h"
#include "store_directory.h"

#define STORE_JOB_TYPE_MAX 32
#define STORE_JOB_OWNER_MAX 128

enum store_job_count { JOB_CREATED, JOB_UPDATED, JOB_UNCHANGED, JOB_SKIPPED, JOB_FAILED, JOB_NCOUNT };

/* Names of the counts/outcomes in enum order ("created", ...). */
extern const char *const store_job_outcomes[JOB_NCOUNT];

struct store_job {
	char id[STORE_ID_LEN + 1];
	int64_t seq;
	char tenant_id[STORE_ID_LEN + 1];
	char integration_id[STORE_ID_LEN + 1];
	char type[STORE_JOB_TYPE_MAX];
	char *parameters_json; /* malloc'd JSON object text; store_job_cleanup() frees it */
	bool dry_run;
	char status[24];
	char trigger[24];
	bool cancel_requested;
	int attempts;
	char lease_owner[STORE_JOB_OWNER_MAX];
	char lease_expires_at[STORE_TIME_LEN];
	int progress_done;
	int progress_total; /* -1 while unknown */
	int counts[JOB_NCOUNT];
	char error[512];
	char error_reason[64]; /* "" unless failed: the runner's reason or the error's class */
	char requested_by[STORE_ID_LEN + 1]; /* "" for the scheduler and directory events */
	char created_at[STORE_TIME_LEN];
	char updated_at[STORE_TIME_LEN];
	char started_at[STORE_TIME_LEN];
	char finished_at[STORE_TIME_LEN];
	char *plan_summary_json; /* malloc'd JSON object text, or NULL before a plan was made */
};

void store_job_cleanup(struct store_job *j);
void store_jobs_free(struct store_job *jobs, size_t n);

/*
 * Queues a job of the tenant's integration (parameters_json: a JSON object text, NULL for {}).
 * E_NOTFOUND when the tenant has no such integration; E_CONFLICT with e->reason
 * "integration_not_active" (and the status in the message) when it is not active and
 * allow_inactive is false. requested_by is the API key id (NULL: the system).
 */
int store_job_create(struct store *st, const char *tenant_id, const char *integration_id,
		     const char *type, const char *parameters_json, bool dry_run,
		     const char *requested_by, bool allow_inactive, struct store_job *out,
		     struct err *e);

/* One job of the tenant; E_NOTFOUND. */
int store_job_get(struct store *st, const char *tenant_id, const char *id, struct store_job *out,
		  struct err *e);

/*
 * A page of an integration's jobs, newest first, with seq < before_seq (0: from the newest),
 * optionally only of status / type (NULL: any). E_NOTFOUND when the integration does not exist.
 * Free with store_jobs_free().
 */
int store_job_list(struct store *st, const char *tenant_id, const char *integration_id,
		   const char *status, const char *type, int64_t before_seq, int limit,
		   struct store_job **out, size_t *n, struct err *e);

/*
 * Cancels: a queued job ends as cancelled at once; a running one is asked to stop (its worker
 * ends it as cancelled between batches). *stopping is true when the job was running (it may have
 * ended by the time *out is read). E_CONFLICT when it has finished already.
 */
int store_job_cancel(struct store *st, const char *tenant_id, const char *id,
		     struct store_job *out, bool *stopping, struct err *e);

/*
 * Approves: a job awaiting approval (the deletion guard stopped it) is queued again with
 * parameters.approved = true and no longer coalesces; a finished (succeeded/partially_failed)
 * dry run queues a new job of its type and parameters plus approved = true and approved_plan =
 * its id, requested by actor. *out gets the queued job, *created whether it is a new one.
 * E_NOTFOUND; E_CONFLICT for any other job, or (reason "integration_not_active") when the
 * integration is not active.
 */
int store_job_approve(struct store *st, const struct store_actor *actor, const char *tenant_id,
		      const char *id, struct store_job *out, bool *created, struct err *e);

struct store_job_item {
	int64_t seq;
	char object_type[16];
	char object_id[256];
	char outcome[16];
	char *detail_json; /* malloc'd or NULL */
	char error_reason[64];
	char error_message[512];
	char created_at[STORE_TIME_LEN];
};
void store_job_items_free(struct store_job_item *items, size_t n);

/* A page of a job's items by seq after after_seq, optionally of one outcome. E_NOTFOUND job. */
int store_job_items_list(struct store *st, const char *tenant_id, const char *job_id,
			 const char *outcome, int64_t after_seq, int limit,
			 struct store_job_item **out, size_t *n, struct err *e);

/*
 * Reads parameter key of the job's parameters as text into buf ("" and E_NOTFOUND when absent).
 * PostgreSQL reads the JSON, so this module needs no JSON library.
 */
int store_job_param(struct store *st, const struct store_job *j, const char *key, char *buf,
		    size_t cap, struct err *e);

/* ---- the worker's side ---- */

enum store_claim {
	STORE_CLAIMED,	  /* *out is the running job, leased to owner */
	STORE_CLAIM_BUSY, /* another job of the integration is running; this one stays queued */
	STORE_CLAIM_DONE, /* not queued (running elsewhere, finished, cancelled) */
	STORE_CLAIM_GONE, /* no such job (another database, or deleted) */
};

/* Claims a queued job for owner with a lease of lease_ms. */
int store_job_claim(struct store *st, const char *id, const char *owner, int lease_ms,
		    enum store_claim *result, struct store_job *out, struct err *e);

/*
 * Records progress and extends the lease. *cancel tells whether a cancel was asked for.
 * E_NOTFOUND when owner no longer holds the job (lease taken over).
 */
int store_job_progress(struct store *st, const char *id, const char *owner, int lease_ms,
		       int done, int total, bool *cancel, struct err *e);

/* Extends every lease owner holds; *n gets how many. */
int store_job_leases_extend(struct store *st, const char *owner, int lease_ms, int *n,
			    struct err *e);

/*
 * Records one object's outcome and counts it. A job holds one item per (object_type, object_id):
 * recording an object again (a resumed run) replaces its outcome, error and time, keeps its
 * place in the list, and moves it from the old outcome's count to the new one's, so the counts
 * count objects, not attempts. E_NOTFOUND when owner lost the job.
 */
int store_job_item_add(struct store *st, const char *id, const char *owner,
		       const char *object_type, const char *object_id, enum store_job_count outcome,
		       const char *error_reason, const char *error_message, struct err *e);

/*
 * The objects of one type a job has done already: those with an item whose outcome is final
 * (anything but failed; a failed object is tried again when a run resumes). A runner loads the
 * set when it starts and skips what it holds, so a job taken over after a crash or given back at
 * shutdown resumes instead of starting over.
 */
struct store_job_done {
	char **ids; /* sorted by strcmp */
	size_t n;
};

/* Loads the set (empty for a fresh job). Release with store_job_done_cleanup(). */
int store_job_done_load(struct store *st, const char *id, const char *object_type,
			struct store_job_done *out, struct err *e);

/* Whether object_id is in the set. */
bool store_job_done_has(const struct store_job_done *d, const char *object_id);

/* Frees what the set holds (the struct itself is the caller's); NULL is a no-op. */
void store_job_done_cleanup(struct store_job_done *d);

/* One object's outcome for store_job_items_add() (strings borrowed; error_* NULL when none). */
struct store_job_item_in {
	const char *object_type;
	const char *object_id;
	enum store_job_count outcome;
	const char *error_reason;
	const char *error_message;
};

/*
 * store_job_item_add() for n objects (distinct object ids) in one statement: the way a run
 * records thousands of outcomes without a round trip each. E_NOTFOUND when owner lost the job.
 */
int store_job_items_add(struct store *st, const char *id, const char *owner,
			const struct store_job_item_in *items, size_t n, struct err *e);

/*
 * Ends a run: status succeeded | partially_failed | failed | cancelled; error_reason and error
 * NULL, or why it failed (a stable name, e.g. invalid_import_filter) and the message.
 * E_NOTFOUND when owner no longer holds the job (someone else will finish it).
 */
int store_job_finish(struct store *st, const char *id, const char *owner, const char *status,
		     const char *error_reason, const char *error, struct err *e);

/* Gives a running job back (status queued, the attempt not counted): graceful shutdown. */
int store_job_release(struct store *st, const char *id, const char *owner, struct err *e);

/* ---- outbox ---- */

struct store_outbox_row {
	int64_t id;
	char stream[8];
	char *key;
	unsigned char *payload;
	size_t payload_len;
	char *headers_json; /* JSON object text */
	bool delivered;	    /* set by the caller before store_outbox_batch_end() */
};

struct store_outbox_batch {
	struct store_outbox_row *rows;
	size_t n;
	void *internal;
};

/*
 * Locks up to limit unpublished rows, oldest first, skipping rows another relay holds. The
 * connection stays in a transaction until store_outbox_batch_end(), which marks the delivered
 * rows published, commits and frees the batch. *lag_ms (may be NULL) gets the largest
 * creation-to-publication delay of the rows marked, in milliseconds.
 */
int store_outbox_batch_begin(struct store *st, int limit, struct store_outbox_batch *b,
			     struct err *e);
int store_outbox_batch_end(struct store *st, struct store_outbox_batch *b, double *lag_ms,
			   struct err *e);

/*
 * Adds one row outside any other transaction (the dead-letter copy of a directory event):
 * stream "jobs" | "events" | "dlq", payload of len bytes, headers_json a JSON object of string
 * values (NULL: none).
 */
int store_outbox_add(struct store *st, const char *stream, const char *key, const void *payload,
		     size_t len, const char *headers_json, struct err *e);

/* Rows waiting and the age of the oldest, in seconds (0 when none). */
int store_outbox_backlog(struct store *st, int64_t *rows, double *oldest_s, struct err *e);

/* One count of store_ops_counts_load(): kind "job" (a = type, b = status), "integration"
 * (a = status, b = "") or "dead_letter" (a = b = "": directory events dead-lettered in the last
 * hour). */
struct store_ops_count {
	char kind[16];
	char a[32];
	char b[32];
	int64_t n;
};

/*
 * Counts operations watch, shared by every replica (what PostgreSQL holds): jobs by type and
 * status, integrations by status, recent dead letters. *out is an array of *n entries the caller
 * frees with free(); NULL and 0 on failure. Any thread.
 */
int store_ops_counts_load(struct store *st, struct store_ops_count **out, size_t *n, struct err *e);

/* ---- scheduler ---- */

struct store_sched_options {
	int max_attempts;	  /* expired leases beyond this fail the job */
	int reannounce_s;	  /* queued jobs not announced for this long are announced again */
	int outbox_retention_h;	  /* published outbox rows older than this are deleted */
	int processed_retention_h; /* processed event ids older than this are deleted */
	int export_reconcile_h;	   /* hours between scheduled full reconciles; 0 none */
	int import_minute_ms;	   /* one minute of import_schedule.interval_minutes (60000) */
};

struct store_sched_result {
	bool ran; /* false when another replica held the tick */
	int requeued, failed, reannounced, imports_queued, reconciles_queued;
	int64_t outbox_pruned, events_pruned;
};

/*
 * One tick of the periodic work, in one transaction, on at most one replica at a time
 * (pg_try_advisory_xact_lock): expired leases back to queued (or failed past max_attempts), due
 * scheduled imports and full export reconciles queued, stale queued jobs re-announced, old rows pruned.
 * A scheduled import is due interval_minutes after the last one was queued (whatever became of it:
 * a failed run is not retried before then) and is never queued while an import_users job of the
 * integration is queued, running or awaiting approval; its parameters are {"mode": <mode>,
 * "all_new": <mode is full>}. The tick also keeps integrations.import_next_run_at current.
 */
int store_sched_tick(struct store *st, const struct store_sched_options *o,
		     struct store_sched_result *r, struct err *e);

/* ---- directory events ---- */

enum store_event_outcome {
	STORE_EVENT_APPLIED,
	STORE_EVENT_DUPLICATE,	    /* the id was applied before */
	STORE_EVENT_UNKNOWN_TENANT, /* gwsync does not serve this tenant: ignored */
	STORE_EVENT_ADOPTED,	    /* applied; an imported user took the event's id (adoption) */
};

/*
 * A directory event decoded by the bus, ready to apply. Strings are borrowed for the call;
 * which ones are set depends on kind (see service/bus/README.md).
 */
struct store_dir_event {
	const char *source;
	const char *id;
	const char *tenant_id;
	const char *kind; /* "user.created", ... */
	const char *user_id;
	const char *group_id;
	const char *integration_id;
	const struct store_user_input *user; /* user.created / user.updated */
	const char *state;		      /* user.state_changed */
	const char *group_name;		      /* group.created / group.updated */
	const char *group_description;
	const char *group_email;
};

/*
 * Applies one event in one transaction: records its id (a duplicate changes nothing), changes
 * the directory replica and queues the export work it implies for every affected active
 * integration (coalescing into a still-queued job). E_INVAL for data that cannot be applied
 * (the message says why; the event belongs in the dead-letter topic).
 *
 * Adoption (issue 14): a user.created or user.updated for an id the replica does not hold, whose
 * email (ignoring case) is that of an imported user (id "google:<Google id>") of the tenant, makes
 * the imported user take the event's id in the same transaction: its user links move with it, its
 * bindings, group memberships and the manager references of its reports follow by cascade
 * (migration 0010); then the event's data is applied as usual. *outcome is STORE_EVENT_ADOPTED.
 */
int store_dir_event_apply(struct store *st, const struct store_dir_event *ev,
			  enum store_event_outcome *outcome, struct err *e);

#endif
