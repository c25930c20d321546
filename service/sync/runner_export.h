/*
 * runner_export — the export_users and full_sync job runners (issue "User export engine").
 *
 * A run: the integration's settings, rules, domains and admin; the users of its scope
 * (parameters.user_ids: those only, a targeted run; else everyone, a full reconcile) with their
 * links; what Google holds (full: one users.list by customer plus a users.get by id for each
 * linked user the listing lacks; targeted: users.get by id or address, batched, only for the users
 * the planner must see); in a targeted run, the other users of the scope its users may meet, as
 * the planner's context entries (so it finds the conflicts a full plan finds; never written);
 * the plan (stored with its summary); the deletion guard; then the applier.
 * The scope is planned in chunks as it is read; unchanged users are recorded and dropped per
 * chunk (service/sync/README.md, "memory follows a chunk").
 * A dry run stops after storing the plan. Errors that stop the run (E_UNAUTH, E_CONFLICT for an
 * integration that is not active, store errors) come back in e; one user's failure is its item.
 *
 * Threads: a worker job thread, one run per job. A chunk of a full reconcile (128 users or
 * more) is parsed and planned in two halves at once: a short-lived thread takes the second half,
 * reading the sealed Google index and writing only its half's users and entries; it does no
 * I/O and is joined before the chunk goes on. Google reads, the store, logs and everything else
 * stay on the job thread. The scope owns every string it holds; the password hash is wiped when
 * freed.
 */
#ifndef GWSYNC_SYNC_RUNNER_EXPORT_H
#define GWSYNC_SYNC_RUNNER_EXPORT_H

#include "plan_users.h"
#include "sync_runner.h"

struct export_user {
	struct plan_user pu; /* its strings (and link_origin, field_hashes_text) live in strings */
	char *strings;	     /* one allocation for the row's strings, owned */
	char *hash;	     /* the replica's password hash; wiped on free; never logged */
	char *hash_function;
	char *link_origin;
	char *field_hashes_text; /* the link's {field: digest} as stored ("{}" when none); the
				    planner's pu.field_hashes is parsed from it only when it needs it
				    (a targeted run: a full reconcile compares with Google) */
	bool done; /* this job recorded the user in an earlier run (resumed after a crash): skipped */
};

struct export_scope {
	struct export_user *users; /* ordered by user id (a chunk, or the users a plan keeps) */
	size_t n, cap;
};

void export_scope_free(struct export_scope *sc);

int export_users_run(struct sync_job *j, struct err *e);

/* The export, then (once it exists) the groups runner when group management is on. */
int full_sync_run(struct sync_job *j, struct err *e);

#endif
