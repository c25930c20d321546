/*
 * runner_import — the import_users job runner and what the preview shares with it (issue "User
 * import engine").
 *
 * A run: the integration's settings (allowed domains and default domain for matching, the rules
 * set to import, identity_source, the import guard, the import filter); what Google holds (the
 * chosen users by id through the batch endpoint, or one paged users.list by customer with a
 * fields projection and the import filter as `query`, none when unset); per page the directory
 * users it may be (store_import_candidates) and the plan (plan_import); then the plan stored with
 * its summary, the import guard, and the applier (apply_import). A dry run stops after storing
 * the plan. Nothing is ever inferred to be deleted from a listing: a Google user the listing
 * lacks is simply not touched. A Google user read twice in one run (by Google id) is planned
 * once.
 *
 * Parameters: google_user_ids (chosen users) or all_new (every user), mode full (default) or
 * updates_only (linked users only). Without either, every user of the listing (a scheduled run).
 * Items: object type "google_user", object id the Google id.
 *
 * Threads: a worker job thread, one run per job.
 */
#ifndef GWSYNC_SYNC_RUNNER_IMPORT_H
#define GWSYNC_SYNC_RUNNER_IMPORT_H

#include "plan_import.h"
#include "store.h"
#include "store_integrations.h"
#include "sync_runner.h"

/* The settings an import (or a preview) works with; owned strings, import_config_free(). */
struct import_config {
	struct store_integration it;
	struct plan_settings match; /* domains (verified ones) and default domain */
	char **domains;
	struct import_settings s;
	int guard_max_count;
	char fields[512]; /* the users.list / users.get projection of one user */
};

int import_config_load(struct store *st, const char *tenant_id, const char *integration_id,
		       struct import_config *c, struct err *e);
void import_config_free(struct import_config *c);

/* The directory users a page of Google users may be (strings owned). */
struct import_dirs {
	struct import_dir *v;
	size_t n, cap;
};

int import_dirs_load(struct store *st, const char *tenant_id, const char *integration_id,
		     const struct import_config *c, struct json_object *const *g, size_t ng,
		     struct import_dirs *out, struct err *e);
void import_dirs_free(struct import_dirs *d);

/*
 * Google's 404 to users.list (a customer Google no longer knows, say) is Google's error, never
 * "no such integration": E_NOTFOUND from Google (e->upstream_status 404) becomes E_UPSTREAM with
 * a message naming Google; any other rc is returned as is.
 */
int import_google_rc(int rc, struct err *e);

/*
 * The query sent to Google: the import filter and the caller's query joined by a space (Google
 * ANDs the clauses), either alone, or "" when neither is set. Returns -1 when it does not fit.
 */
int import_query(const char *filter, const char *query, char *out, size_t cap);

int import_users_run(struct sync_job *j, struct err *e);

#endif
