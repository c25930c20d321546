/* Jobs: queue one on an integration, read, list, page through items, cancel. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers_integrations.h"
#include "log.h"
#include "store_export.h"
#include "store_jobs.h"
#include "validate.h"

/* validate_directory_id()'s rule, in the words of a problem */
#define DIRECTORY_ID_RULE "1 to 128 characters of A-Z a-z 0-9 . _ : -"

static const char *const job_types[] = {"export_users", "import_users",		"sync_groups",
					"full_sync",	"verify_authorization", NULL};
static const char *const job_statuses[] = {"queued",	"running",   "succeeded",
					   "partially_failed", "failed", "cancelled",
					   "awaiting_approval", NULL};


static json_object *job_json(const struct store_job *j)
{
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "id", j->id);
	api_json_put_str(jo, "integration_id", j->integration_id);
	api_json_put_str(jo, "type", j->type);
	json_object *params = json_tokener_parse(j->parameters_json ? j->parameters_json : "{}");
	api_json_put(jo, "parameters", params ? params : json_object_new_object());
	api_json_put(jo, "dry_run", json_object_new_boolean(j->dry_run));
	api_json_put_str(jo, "status", j->status);
	api_json_put_str(jo, "trigger", j->trigger);
	api_json_put(jo, "cancel_requested", json_object_new_boolean(j->cancel_requested));
	api_json_put(jo, "attempts", json_object_new_int(j->attempts));
	json_object *pr = json_object_new_object();
	api_json_put(pr, "done", json_object_new_int(j->progress_done));
	api_json_put_int_or_null(pr, "total", j->progress_total);
	api_json_put(jo, "progress", pr);
	json_object *c = json_object_new_object();
	for (int k = 0; k < JOB_NCOUNT; k++)
		api_json_put(c, store_job_outcomes[k], json_object_new_int(j->counts[k]));
	api_json_put(jo, "counts", c);
	api_json_put_str_or_null(jo, "error", j->error);
	api_json_put_str_or_null(jo, "error_reason", j->error_reason);
	api_json_put_str_or_null(jo, "requested_by", j->requested_by);
	api_json_put_str_or_null(jo, "worker", j->lease_owner);
	api_json_put_str_or_null(jo, "lease_expires_at", j->lease_expires_at);
	api_json_put_str(jo, "created_at", j->created_at);
	api_json_put_str(jo, "updated_at", j->updated_at);
	api_json_put_str_or_null(jo, "started_at", j->started_at);
	api_json_put_str_or_null(jo, "finished_at", j->finished_at);
	api_json_put_or_null(jo, "plan_summary", j->plan_summary_json
							 ? json_tokener_parse(j->plan_summary_json)
							 : NULL);
	return jo;
}

static const char *job_path_id(struct api_request *rq, struct api_response *rs)
{
	const char *id = router_param(&rq->params, "job_id");
	if (!id || !api_is_uuid(id)) {
		api_reply_error(rs, 404, "not-found", "Not found", "no such job");
		return NULL;
	}
	return id;
}

/* Checks the test runner's parameters so a typo fails at the API, not in the worker. */
static void test_sleep_params(json_object *params, struct problem *p)
{
	static const struct {
		const char *key;
		int max;
	} ints[] = {{"items", 100000}, {"duration_ms", 3600000}, {"fail_every", 100000}};
	json_object_object_foreach(params, key, val)
	{
		bool known = strcmp(key, "error") == 0;
		for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
			if (strcmp(ints[i].key, key) != 0)
				continue;
			known = true;
			int64_t v;
			if (!api_json_integer(val, &v))
				v = -1;
			if (v < 0 || v > ints[i].max) {
				char ptr[64];
				snprintf(ptr, sizeof(ptr), "/parameters/%s", key);
				problem_add_error(p, ptr, "must be an integer from 0 to %d",
						  ints[i].max);
			}
		}
		if (strcmp(key, "error") == 0 && !json_object_is_type(val, json_type_string))
			problem_add_error(p, "/parameters/error", "must be a string");
		if (!known) {
			char ptr[128];
			snprintf(ptr, sizeof(ptr), "/parameters/%.100s", key);
			problem_add_error(p, ptr, "unknown field");
		}
	}
}

/* Google's immutable user id: 1 to 64 digits (users.get also takes an address; an id list
 * naming one user twice under two names would plan it twice). */
static int google_user_id_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");
	return n >= 1 && n <= 64 && !s[n];
}

/* A list of 1–10,000 ids, each one valid(); rule says what valid() wants. An id named twice is
 * accepted and planned once (the runners read the list as a set). */
static void id_list(json_object *val, const char *ptr, const char *what, int (*valid)(const char *),
		    const char *rule, struct problem *p)
{
	size_t n = json_object_is_type(val, json_type_array) ? json_object_array_length(val) : 0;
	if (!json_object_is_type(val, json_type_array) || n == 0 || n > 10000) {
		problem_add_error(p, ptr, "must be an array of 1 to 10000 %s", what);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_object *x = json_object_array_get_idx(val, i);
		if (!x || !json_object_is_type(x, json_type_string) ||
		    !valid(json_object_get_string(x))) {
			problem_add_error(p, ptr, "must hold %s of %s (item %zu)", what, rule, i);
			return;
		}
	}
}

/*
 * What each job type takes in parameters; everything else is refused, so a typo (or a field
 * only gwsync itself sets, such as an approval) never changes what a job does.
 */
static void job_params(const char *type, json_object *params, struct problem *p)
{
	bool export = !strcmp(type, "export_users") || !strcmp(type, "full_sync");
	bool groups = !strcmp(type, "sync_groups");
	bool import = !strcmp(type, "import_users");
	json_object_object_foreach(params, key, val)
	{
		char ptr[128];
		snprintf(ptr, sizeof(ptr), "/parameters/%.100s", key);
		if (export && !strcmp(key, "user_ids"))
			id_list(val, ptr, "user ids", validate_directory_id, DIRECTORY_ID_RULE, p);
		else if (groups && !strcmp(key, "group_ids"))
			id_list(val, ptr, "group ids", validate_directory_id, DIRECTORY_ID_RULE, p);
		else if (import && !strcmp(key, "google_user_ids"))
			id_list(val, ptr, "Google user ids", google_user_id_valid, "1 to 64 digits",
				p);
		else if (import && !strcmp(key, "all_new")) {
			if (!json_object_is_type(val, json_type_boolean))
				problem_add_error(p, ptr, "must be true or false");
		} else if (import && !strcmp(key, "mode")) {
			const char *m = json_object_is_type(val, json_type_string)
						? json_object_get_string(val)
						: "";
			if (strcmp(m, "full") && strcmp(m, "updates_only"))
				problem_add_error(p, ptr, "must be full or updates_only");
		} else {
			problem_add_error(p, ptr, "unknown field for a %s job", type);
		}
	}
	json_object *an = NULL, *mode = NULL, *ids = NULL;
	bool all_new = import && json_object_object_get_ex(params, "all_new", &an) &&
		       json_object_is_type(an, json_type_boolean) && json_object_get_boolean(an);
	if (all_new && json_object_object_get_ex(params, "mode", &mode) &&
	    json_object_is_type(mode, json_type_string) &&
	    !strcmp(json_object_get_string(mode), "updates_only"))
		problem_add_error(p, "/parameters/all_new",
				  "all_new creates users; mode updates_only creates none");
	if (all_new && json_object_object_get_ex(params, "google_user_ids", &ids))
		problem_add_error(p, "/parameters/all_new",
				  "give either google_user_ids or all_new, not both");
	/* Creating every new Google user is asked for by name, never by leaving parameters out. */
	bool updates_only = json_object_object_get_ex(params, "mode", &mode) &&
			    json_object_is_type(mode, json_type_string) &&
			    !strcmp(json_object_get_string(mode), "updates_only");
	if (import && !all_new && !updates_only &&
	    !json_object_object_get_ex(params, "google_user_ids", &ids))
		problem_add_error(p, "/parameters",
				  "an import_users job names google_user_ids, or all_new: true, or "
				  "mode updates_only");
}

void handle_jobs_create(struct api_request *rq, struct api_response *rs)
{
	const char *integration_id = integration_path_id(rq, rs);
	if (!integration_id)
		return;
	static const char *const allowed[] = {"type", "parameters", "dry_run", NULL};
	struct problem p;
	json_object *body = api_body_begin(rq, rs, "the job is not valid", allowed, NULL, &p);
	if (!body)
		return;
	json_object *v = NULL;
	const char *type = NULL;
	bool test_ok = rq->ctx->cfg->job_test_runners != 0;
	if (!json_object_object_get_ex(body, "type", &v) || !v)
		problem_add_error(&p, "/type", "is required");
	else if (!json_object_is_type(v, json_type_string) ||
		 !(api_one_of(json_object_get_string(v), job_types) ||
		   (test_ok && strcmp(json_object_get_string(v), "test_sleep") == 0)))
		problem_add_error(&p, "/type",
				  "must be one of export_users, import_users, sync_groups, "
				  "full_sync, verify_authorization");
	else
		type = json_object_get_string(v);
	const char *params = "{}";
	json_object *pv = NULL;
	if (json_object_object_get_ex(body, "parameters", &pv)) {
		/* null is no object either: leave parameters out to give none */
		if (!pv || !json_object_is_type(pv, json_type_object))
			problem_add_error(&p, "/parameters", "must be an object");
		else {
			params = json_object_to_json_string_ext(pv, JSON_C_TO_STRING_PLAIN);
			if (type && strcmp(type, "test_sleep") == 0)
				test_sleep_params(pv, &p);
			else if (type)
				job_params(type, pv, &p);
		}
	} else if (type && !strcmp(type, "import_users")) {
		problem_add_error(&p, "/parameters",
				  "an import_users job names google_user_ids, or all_new: true, or "
				  "mode updates_only");
	}
	bool dry_run = false;
	json_object *dv = NULL;
	if (json_object_object_get_ex(body, "dry_run", &dv)) {
		if (!dv || !json_object_is_type(dv, json_type_boolean))
			problem_add_error(&p, "/dry_run", "must be true or false");
		else
			dry_run = json_object_get_boolean(dv);
	}
	if (p.n_errors) {
		api_reply_problem(rs, &p, NULL);
		json_object_put(body);
		return;
	}
	struct store_job job;
	memset(&job, 0, sizeof(job));
	struct err e = {0};
	int rc = store_job_create(rq->ctx->st, rq->who.tenant_id, integration_id, type, params,
				  dry_run, rq->who.key_id,
				  strcmp(type, "verify_authorization") == 0, &job, &e);
	json_object_put(body);
	if (rc) {
		api_reply_err(rs, &e);
		return;
	}
	log_write(LOG_INFO, "api", "job_queued", NULL,
		  (struct log_field[]){LOG_STR("job_id", job.id), LOG_STR("type", job.type)}, 2);
	snprintf(rs->location, sizeof(rs->location), "/v1/jobs/%s", job.id);
	api_reply_json(rs, 202, job_json(&job));
	store_job_cleanup(&job);
}

void handle_jobs_get(struct api_request *rq, struct api_response *rs)
{
	const char *id = job_path_id(rq, rs);
	if (!id)
		return;
	struct store_job job;
	struct err e = {0};
	if (store_job_get(rq->ctx->st, rq->who.tenant_id, id, &job, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	api_reply_json(rs, 200, job_json(&job));
	store_job_cleanup(&job);
}

API_ROW_JSON(job_row, job_json)

void handle_jobs_list(struct api_request *rq, struct api_response *rs)
{
	const char *integration_id = integration_path_id(rq, rs);
	struct api_page pg;
	if (!integration_id || api_page_begin(rq, rs, API_CURSOR_SEQ, &pg))
		return;
	char status[32] = "", type[32] = "";
	int has_status = api_query_one_of(rq, rs, "status", job_statuses, status, sizeof(status));
	if (has_status < 0)
		return;
	/* test_sleep (the e2e suite's job) is listed, never offered. */
	int has_type = api_query_get(rq, "type", type, sizeof(type));
	if (has_type && !api_one_of(type, job_types) && strcmp(type, "test_sleep") != 0) {
		struct problem p;
		problem_set(&p, 400, "validation", "Invalid request",
			    "query parameter type is invalid");
		problem_add_error(&p, "/query/type", "is not a job type");
		api_reply_problem(rs, &p, NULL);
		return;
	}
	struct store_job *list = NULL;
	int rc = store_job_list(rq->ctx->st, rq->who.tenant_id, integration_id,
				has_status ? status : NULL, has_type ? type : NULL, pg.seq,
				pg.fetch, &list, &pg.n, &pg.e);
	api_reply_rows(rs, &pg, rc, list, sizeof(*list), offsetof(struct store_job, seq), job_row,
		       NULL);
	store_jobs_free(list, pg.n);
}

static json_object *job_item_json(const struct store_job_item *item)
{
	json_object *it = json_object_new_object();
	api_json_put_str(it, "object_type", item->object_type);
	api_json_put_str(it, "object_id", item->object_id);
	api_json_put_str(it, "outcome", item->outcome);
	api_json_put_or_null(it, "detail",
			     item->detail_json ? json_tokener_parse(item->detail_json) : NULL);
	api_json_put_or_null(it, "error", api_json_error(item->error_reason, item->error_message));
	api_json_put_str(it, "created_at", item->created_at);
	return it;
}

API_ROW_JSON(job_item_row, job_item_json)

void handle_jobs_items(struct api_request *rq, struct api_response *rs)
{
	const char *id = job_path_id(rq, rs);
	struct api_page pg;
	if (!id || api_page_begin(rq, rs, API_CURSOR_SEQ, &pg))
		return;
	const char *outcomes[JOB_NCOUNT + 1] = {NULL};
	memcpy(outcomes, store_job_outcomes, sizeof(store_job_outcomes));
	char outcome[32] = "";
	int has_outcome = api_query_one_of(rq, rs, "outcome", outcomes, outcome, sizeof(outcome));
	if (has_outcome < 0)
		return;
	struct store_job_item *list = NULL;
	int rc = store_job_items_list(rq->ctx->st, rq->who.tenant_id, id,
				      has_outcome ? outcome : NULL, pg.seq, pg.fetch, &list, &pg.n,
				      &pg.e);
	api_reply_rows(rs, &pg, rc, list, sizeof(*list), offsetof(struct store_job_item, seq),
		       job_item_row, NULL);
	store_job_items_free(list, pg.n);
}

void handle_jobs_cancel(struct api_request *rq, struct api_response *rs)
{
	const char *id = job_path_id(rq, rs);
	if (!id)
		return;
	struct store_job job;
	struct err e = {0};
	bool stopping;
	if (store_job_cancel(rq->ctx->st, rq->who.tenant_id, id, &job, &stopping, &e)) {
		api_reply_err(rs, &e);
		return;
	}
	log_write(LOG_INFO, "api", "job_cancel_requested", NULL,
		  (struct log_field[]){LOG_STR("job_id", job.id), LOG_STR("status", job.status)},
		  2);
	/* 200: cancelled now; 202: the running job stops at its next checkpoint (and may have). */
	api_reply_json(rs, stopping ? 202 : 200, job_json(&job));
	store_job_cleanup(&job);
}

void handle_jobs_plan(struct api_request *rq, struct api_response *rs)
{
	const char *id = job_path_id(rq, rs);
	struct api_page pg;
	if (!id || api_page_begin(rq, rs, API_CURSOR_SEQ, &pg))
		return;
	char *text = NULL;
	size_t n = 0;
	struct err e = {0};
	if (store_plan_page(rq->ctx->st, rq->who.tenant_id, id, pg.seq, pg.fetch, &text, &n,
			    &e)) {
		api_reply_err(rs, &e);
		return;
	}
	json_object *all = json_tokener_parse(text);
	free(text);
	if (!all || !json_object_is_type(all, json_type_array)) {
		json_object_put(all);
		api_reply_error(rs, 500, "internal", "Internal error", "the stored plan is unreadable");
		return;
	}
	/* The store's page has one entry more than asked for when more follow. */
	json_object *items = json_object_new_array();
	size_t len = json_object_array_length(all);
	for (size_t i = 0; i < len && i < (size_t)pg.limit; i++)
		json_object_array_add(items, json_object_get(json_object_array_get_idx(all, i)));
	char key[32] = "";
	if (len > (size_t)pg.limit) {
		json_object *seq = NULL;
		json_object_object_get_ex(json_object_array_get_idx(all, (size_t)pg.limit - 1),
					  "seq", &seq);
		snprintf(key, sizeof(key), "%lld", (long long)json_object_get_int64(seq));
	}
	json_object_put(all);
	api_reply_page(rs, items, key[0] ? key : NULL);
}

void handle_jobs_approve(struct api_request *rq, struct api_response *rs)
{
	const char *id = job_path_id(rq, rs);
	if (!id)
		return;
	struct store_job job;
	bool created = false;
	struct err e = {0};
	struct store_actor actor = api_actor(rq, "approve");
	int rc = store_job_approve(rq->ctx->st, &actor, rq->who.tenant_id, id, &job, &created, &e);
	if (rc) {
		api_reply_err(rs, &e);
		return;
	}
	log_write(LOG_INFO, "api", "job_approved", NULL,
		  (struct log_field[]){LOG_STR("job_id", id), LOG_STR("queued_job_id", job.id)}, 2);
	snprintf(rs->location, sizeof(rs->location), "/v1/jobs/%s", job.id);
	api_reply_json(rs, 202, job_json(&job));
	store_job_cleanup(&job);
}
