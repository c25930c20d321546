/*
 * runner_groups — the sync_groups job runner (issue 13, DESIGN.md §4 "Groups").
 *
 * A run: the integration's settings and verified domains; the groups of its scope
 * (parameters.group_ids: those only; else every bound group, plus every linked group so one that
 * left the scope becomes unmanaged) with their members' user links; what Google holds (one
 * groups.list by customer, a groups.get by id for a linked group the listing lacks, a users.get
 * by address for an address no group holds, one members.list per group that will be reconciled;
 * a targeted run with no more groups than listing pages reads each by groups.get instead);
 * the plan (plan_groups; stored with its summary); then the applier (apply_groups). A dry run stops
 * after storing the plan. With group_management off nothing is read or written: one skipped item
 * says so. Errors that stop the run come back in e; one group's failure is its item.
 *
 * Threads: a worker job thread, one run per job.
 */
#ifndef GWSYNC_SYNC_RUNNER_GROUPS_H
#define GWSYNC_SYNC_RUNNER_GROUPS_H

#include <stdbool.h>

#include "connect.h"
#include "plan_groups.h"
#include "sync_runner.h"

/* One group of the scope: the planner's input with its strings and arrays owned. */
struct groups_item {
	struct plan_group pg;
	struct plan_dmember *dm; /* pg.members */
	struct plan_gm *gm;	 /* pg.gm */
	size_t gm_cap;
	bool done; /* recorded by an earlier run of this job: planned as nothing */
	bool created_before; /* an earlier run of this job created it, its members unfinished */
	bool create_intent;  /* the link records a create of gwsync's not known to have failed */
	bool requested;	     /* named by parameters.group_ids: an id out of scope is reported */
};

struct groups_scope {
	struct groups_item *v;
	size_t n, cap;
};

/* Executes a group plan over the scope it was made from (apply_groups.c). */
struct groups_apply {
	struct sync_job *j;
	struct connect_handle *h;
	struct groups_scope *scope;
};

int apply_groups(struct groups_apply *ga, const struct plan_groups *p, struct err *e);

/* sync_groups_run() is declared in sync_runner.h (the registry and full_sync call it). */

#endif
