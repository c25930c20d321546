#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "log.h"
#include "store_authorization.h"
#include "store_integrations.h"
#include "runner_export.h"
#include "runner_groups.h"
#include "runner_import.h"
#include "sync_runner.h"

void sync_domains_refresh(struct sync_job *j)
{
	struct err e = {0};
	bool due = true;
	if (store_domains_check_due(j->st, j->job->tenant_id, j->job->integration_id,
				    j->domains_max_age_ms, &due, &e))
		log_write(LOG_WARN, "sync", "domains_check_age_unknown", e.msg,
			  (struct log_field[]){LOG_STR("err", err_code_name(e.code))}, 1);
	if (!due)
		return;
	e = (struct err){0};
	if (j->conn && connect_domains_refresh(j->conn, NULL, j->job->tenant_id,
					       j->job->integration_id, &e))
		log_write(LOG_WARN, "sync", "domains_refresh_failed", e.msg,
			  (struct log_field[]){LOG_STR("err", err_code_name(e.code))}, 1);
}

bool sync_not_active(int rc, const struct err *e)
{
	return rc == E_CONFLICT && e && !strcmp(e->reason, STORE_REASON_NOT_ACTIVE);
}

int sync_set_not_active(struct err *e, const char *status)
{
	return err_set_reason(e, E_CONFLICT, STORE_REASON_NOT_ACTIVE,
			      "the integration is %s, not active", status);
}

int sync_still_active(struct sync_job *j, struct err *e)
{
	struct store_integration it;
	struct err ie = {0};
	if (store_integration_get(j->st, j->job->tenant_id, j->job->integration_id, &it, &ie) ||
	    !strcmp(it.status, "active"))
		return E_OK;
	return sync_set_not_active(e, it.status);
}

/* Records progress and renews the lease; answers why the run should stop (SYNC_GO: go on). */
static enum sync_stop progress(struct sync_job *j, int done, int total)
{
	bool cancel = false;
	struct err e = {0};
	int rc = store_job_progress(j->st, j->job->id, j->owner, j->lease_ms, done, total, &cancel,
				    &e);
	if (rc && rc != E_NOTFOUND)
		log_write(LOG_WARN, "sync", "checkpoint_failed", e.msg, NULL, 0);
	if (rc == E_NOTFOUND)
		return SYNC_LOST;
	if (!rc && cancel)
		return SYNC_CANCELLED;
	return atomic_load(j->shutdown) ? SYNC_SHUTDOWN : SYNC_GO;
}

enum sync_stop sync_job_checkpoint(struct sync_job *j, int done, int total)
{
	if (!j->stop)
		j->stop = progress(j, done, total);
	return j->stop;
}

void sync_job_progress_final(struct sync_job *j, int done, int total)
{
	if (j->stop == SYNC_LOST)
		return;
	enum sync_stop now = progress(j, done, total);
	if (!j->stop)
		j->stop = now;
}

int sync_job_item(struct sync_job *j, const char *object_type, const char *object_id,
		  enum store_job_count outcome, const char *error_reason, const char *error_message,
		  struct err *e)
{
	int rc = store_job_item_add(j->st, j->job->id, j->owner, object_type, object_id, outcome,
				    error_reason, error_message, e);
	if (!rc)
		j->counts[outcome]++;
	else if (rc == E_NOTFOUND)
		j->stop = SYNC_LOST;
	return rc;
}

int sync_job_done_load(struct sync_job *j, const char *object_type, struct store_job_done *out,
		       struct err *e)
{
	int rc = store_job_done_load(j->st, j->job->id, object_type, out, e);
	if (!rc && out->n)
		log_write(LOG_INFO, "sync", "job_resumed", "objects done by an earlier run are skipped",
			  (struct log_field[]){LOG_STR("object_type", object_type),
					       LOG_NUM("done", (double)out->n)},
			  2);
	return rc;
}

int sync_job_items(struct sync_job *j, const struct store_job_item_in *items, size_t n,
		   struct err *e)
{
	int rc = store_job_items_add(j->st, j->job->id, j->owner, items, n, e);
	if (rc == E_NOTFOUND)
		j->stop = SYNC_LOST;
	for (size_t i = 0; !rc && i < n; i++)
		j->counts[items[i].outcome]++;
	return rc;
}

/*
 * test_sleep: a runner for tests only. parameters: items (count, default 5), duration_ms (whole
 * run, default 1000), fail_every (every n-th item fails, 0: none), error (fail the job with this
 * message). Works in batches of one item, so progress, cancellation, crashes and shutdown can be
 * observed between items. A resumed run skips the items an earlier run recorded (as a sync
 * runner skips the objects it has done).
 */
static int run_test_sleep(struct sync_job *j, struct err *e)
{
	int items = 5, duration_ms = 1000, fail_every = 0;
	char error[256] = "", v[32];
	if (!store_job_param(j->st, j->job, "items", v, sizeof(v), NULL))
		items = atoi(v);
	if (!store_job_param(j->st, j->job, "duration_ms", v, sizeof(v), NULL))
		duration_ms = atoi(v);
	if (!store_job_param(j->st, j->job, "fail_every", v, sizeof(v), NULL))
		fail_every = atoi(v);
	store_job_param(j->st, j->job, "error", error, sizeof(error), NULL);
	struct store_job_done done;
	int rc = sync_job_done_load(j, "test", &done, e);
	if (rc)
		return rc;
	if (sync_job_checkpoint(j, 0, items))
		goto out;
	for (int i = 0; i < items; i++) {
		char id[32];
		snprintf(id, sizeof(id), "item-%d", i + 1);
		if (store_job_done_has(&done, id))
			continue;
		long step = items ? duration_ms / items : 0;
		struct timespec ts = {step / 1000, (step % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		bool fail = fail_every > 0 && (i + 1) % fail_every == 0;
		struct err ie = {0};
		sync_job_item(j, "test", id, fail ? JOB_FAILED : JOB_CREATED,
			      fail ? "test_failure" : NULL, fail ? "failed on purpose" : NULL, &ie);
		if (sync_job_checkpoint(j, i + 1, items))
			goto out;
	}
	if (error[0])
		rc = err_set(e, E_UPSTREAM, "%s", error);
out:
	store_job_done_cleanup(&done);
	return rc;
}

/*
 * verify_authorization: re-runs the privilege probe with the stored credential (what
 * POST .../authorization/verify does synchronously). One item: the integration, updated when the
 * probe found everything, failed with Google's reason otherwise.
 */
static int run_verify_authorization(struct sync_job *j, struct err *e)
{
	if (sync_job_checkpoint(j, 0, 1))
		return E_OK;
	struct store_actor actor = {.key_id = j->job->requested_by[0] ? j->job->requested_by : NULL,
				    .action = "verify"};
	struct connect_outcome o = {0};
	int rc = connect_verify(j->conn, &actor, j->job->tenant_id, j->job->integration_id, &o);
	struct err ie = {0};
	if (rc == E_OK && o.failure == CONNECT_OK)
		sync_job_item(j, "integration", j->job->integration_id, JOB_UPDATED, NULL, NULL, &ie);
	else
		sync_job_item(j, "integration", j->job->integration_id, JOB_FAILED,
			      o.e.reason[0] ? o.e.reason : err_code_name(o.e.code),
			      o.e.msg[0] ? o.e.msg : "verification failed", &ie);
	if (rc && o.failure == CONNECT_STORE)
		err_set(e, o.e.code, "%s", o.e.msg);
	else
		rc = E_OK;
	connect_outcome_cleanup(&o);
	sync_job_checkpoint(j, 1, 1);
	return rc;
}

static const struct sync_runner runners[] = {
	{"verify_authorization", run_verify_authorization, false, NULL},
	{"export_users", export_users_run, false, NULL},
	{"import_users", import_users_run, false, NULL},
	{"sync_groups", sync_groups_run, false, NULL},
	{"full_sync", full_sync_run, false, NULL},
	{"test_sleep", run_test_sleep, true, NULL},
};

const struct sync_runner *sync_runner_find(const char *type, bool test_runners)
{
	for (size_t i = 0; i < sizeof(runners) / sizeof(runners[0]); i++) {
		if (strcmp(runners[i].type, type) == 0 && (!runners[i].test_only || test_runners))
			return &runners[i];
	}
	return NULL;
}

/* The domains Google did not refuse (refused false) or the ones it refused (refused true). */
static int domains_load(struct store *st, const char *tenant_id, const char *integration_id,
			bool refused, char ***out, size_t *n, struct err *e)
{
	struct store_domain *d = NULL;
	size_t nd = 0;
	*out = NULL;
	*n = 0;
	int rc = store_domain_list(st, tenant_id, integration_id, &d, &nd, e);
	if (rc)
		return rc;
	char **v = calloc(nd + 1, sizeof(*v));
	size_t k = 0;
	for (size_t i = 0; v && i < nd; i++) {
		if ((d[i].verified == 0) != refused) /* refused by Google: never written to */
			continue;
		if ((v[k] = strdup(d[i].domain)))
			k++;
	}
	free(d);
	if (!v)
		return err_set(e, E_NOMEM, "domains");
	*out = v;
	*n = k;
	return E_OK;
}

int sync_domains_load(struct store *st, const char *tenant_id, const char *integration_id,
		      char ***out, size_t *n, struct err *e)
{
	return domains_load(st, tenant_id, integration_id, false, out, n, e);
}

int sync_domains_refused_load(struct store *st, const char *tenant_id,
			      const char *integration_id, char ***out, size_t *n, struct err *e)
{
	return domains_load(st, tenant_id, integration_id, true, out, n, e);
}

int sync_job_param_ids(const struct sync_job *j, const char *key, char ***ids, size_t *n,
		       struct err *e)
{
	*ids = NULL;
	*n = 0;
	struct json_object *params = j->job->parameters_json
					     ? json_tokener_parse(j->job->parameters_json)
					     : NULL, *arr;
	if (params && json_object_object_get_ex(params, key, &arr) &&
	    json_object_is_type(arr, json_type_array)) {
		size_t m = json_object_array_length(arr);
		*ids = calloc(m + 1, sizeof(char *));
		if (!*ids) {
			json_object_put(params);
			return err_set(e, E_NOMEM, "%s", key);
		}
		for (size_t i = 0; i < m; i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(arr, i));
			if (s && ((*ids)[*n] = strdup(s)))
				(*n)++;
		}
	}
	json_object_put(params);
	return E_OK;
}
