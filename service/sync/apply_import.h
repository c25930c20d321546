/*
 * apply_import — writes an import plan into the replica; decides nothing (plan_import did).
 *
 * Per batch of APPLY_BATCH (1,000) Google users, one transaction (store_import_apply): replica users
 * created (`google:<Google id>`, staged) or updated, created and matched users bound and linked
 * (origin imported, status synced or suspended as in Google), one gws.user.imported event per
 * user written ({user_id, google_id, primary_email, created, job_id, attributes}: the replica
 * fields written, never a password) in the outbox, and one job item per Google user (object type
 * "google_user"): created, updated, unchanged, skipped or failed with its reason; a user whose
 * new email another directory user holds fails with `email_in_use`. A batch is written with its
 * items or not at all, so a run taken over after a crash finds exactly what was written. The
 * batches are written on SYNC_LANES connections at once (sync_lanes); between the caller's
 * batches a checkpoint (progress, lease, cancel). Entries whose done[i] is set (an earlier run of
 * this job recorded them) are left alone.
 *
 * Errors that stop the run: store errors (E_NOTFOUND: the lease was lost; j->stop says so).
 * Threads: the job's (it starts and joins the lanes' threads).
 */
#ifndef GWSYNC_SYNC_APPLY_IMPORT_H
#define GWSYNC_SYNC_APPLY_IMPORT_H

#include <stdbool.h>

#include "plan_import.h"
#include "sync_runner.h"

int apply_import(struct sync_job *j, const struct import_plan *p, const bool *done,
		 struct err *e);

#endif
