#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "log.h"
#include "store_jobs.h"

void handle_healthz(struct api_request *rq, struct api_response *rs)
{
	(void)rq;
	json_object *jo = json_object_new_object();
	api_json_put_str(jo, "status", "ok");
	api_reply_json(rs, 200, jo);
}

static json_object *check_result(const char *status, const char *detail)
{
	json_object *c = json_object_new_object();
	api_json_put_str(c, "status", status);
	api_json_put_str(c, "detail", detail);
	return c;
}

/*
 * Ready when PostgreSQL answers and the schema is at least what this build expects. Kafka:
 * the API takes work while it is away (the outbox holds it), so an unreachable broker only makes
 * the answer "degraded" (still 200); the worker cannot work without its consumer, so its check
 * (ctx->ready_check) gates. The outage detail goes to the log; the answer only names which
 * dependency is down.
 */
void handle_readyz(struct api_request *rq, struct api_response *rs)
{
	struct api_ctx *ctx = rq->ctx;
	json_object *checks = json_object_new_object();
	char down[128] = "";
	struct err e = {0};

	int applied = 0;
	int rc = store_migrations_latest_applied(ctx->st, &applied, &e);
	if (rc) {
		log_write(LOG_WARN, "api", "readiness_database_down", e.msg, NULL, 0);
		api_json_put(checks, "database", check_result("down", "database unreachable"));
		api_json_put(checks, "migrations", check_result("unknown", NULL));
		strcat(down, "database");
	} else {
		api_json_put(checks, "database", check_result("up", NULL));
		int known = store_migrations_latest_known();
		if (applied < known) {
			char detail[96];
			snprintf(detail, sizeof(detail), "schema at %d, this build needs %d; run "
							 "gwsync migrate",
				 applied, known);
			api_json_put(checks, "migrations", check_result("down", detail));
			strcat(down, "migrations");
		} else {
			api_json_put(checks, "migrations", check_result("up", NULL));
		}
	}

	err_clear(&e);
	int degraded = 0;
	if (ctx->ready_check) {
		rc = ctx->ready_check(ctx->ready_arg, &e);
		if (rc) {
			log_write(LOG_WARN, "api", "readiness_kafka_down", e.msg, NULL, 0);
			api_json_put(checks, "kafka",
				     check_result("down", rc == E_NOTFOUND ? "topic missing"
									    : "no broker answers"));
			strcat(down, down[0] ? ", kafka" : "kafka");
		} else {
			api_json_put(checks, "kafka", check_result("up", NULL));
		}
	} else if (ctx->bp) {
		rc = bus_producer_check(ctx->bp, ctx->cfg->topic_jobs, ctx->cfg->readyz_timeout_ms,
					&e);
		if (rc) {
			log_write(LOG_WARN, "api", "readiness_kafka_degraded", e.msg, NULL, 0);
			api_json_put(checks, "kafka",
				     check_result("degraded",
						  rc == E_NOTFOUND
							  ? "jobs topic missing; work waits in the outbox"
							  : "no broker answers; work waits in the outbox"));
			degraded = 1;
		} else {
			api_json_put(checks, "kafka", check_result("up", NULL));
		}
	}

	if (!down[0]) {
		json_object *jo = json_object_new_object();
		api_json_put_str(jo, "status", degraded ? "degraded" : "ready");
		api_json_put(jo, "checks", checks);
		api_reply_json(rs, 200, jo);
		return;
	}
	json_object *extra = json_object_new_object();
	api_json_put(extra, "checks", checks);
	struct problem p;
	problem_set(&p, 503, "not-ready", "Not ready", "down: %s", down);
	api_reply_problem(rs, &p, json_object_to_json_string(extra));
	json_object_put(extra);
}

/* Appends jobs by type and status, integrations by status (every status, 0 included) and recent
 * dead letters to the NUL-terminated text in a buffer of cap bytes. */
static void ops_counts_render(char *text, size_t cap, const struct store_ops_count *ops, size_t n)
{
	static const char *const integration_statuses[] = {"pending_authorization", "active",
							   "reauthorization_required", "deactivated"};
	/* Every known type and status is shown, 0 included, so that alerts see a job type's first
	 * failure as a change; types the table has and this list lacks follow. */
	static const char *const job_types[] = {"export_users", "import_users", "sync_groups",
						"full_sync", "verify_authorization"};
	static const char *const job_statuses[] = {"queued", "running", "succeeded", "partially_failed",
						   "failed", "cancelled", "awaiting_approval"};
	size_t len = strlen(text);
	len += (size_t)snprintf(text + len, cap - len,
				"# HELP gwsync_jobs Jobs in the database, by type and status.\n"
				"# TYPE gwsync_jobs gauge\n");
	for (size_t t = 0; t < sizeof(job_types) / sizeof(*job_types); t++) {
		for (size_t s = 0; s < sizeof(job_statuses) / sizeof(*job_statuses); s++) {
			int64_t count = 0;
			for (size_t i = 0; i < n; i++)
				if (strcmp(ops[i].kind, "job") == 0 && strcmp(ops[i].a, job_types[t]) == 0 &&
				    strcmp(ops[i].b, job_statuses[s]) == 0)
					count = ops[i].n;
			if (len >= cap)
				return;
			len += (size_t)snprintf(text + len, cap - len,
						"gwsync_jobs{type=\"%s\",status=\"%s\"} %lld\n",
						job_types[t], job_statuses[s], (long long)count);
		}
	}
	int64_t dead = 0;
	for (size_t i = 0; i < n && len < cap; i++) {
		int known = 0;
		for (size_t t = 0; t < sizeof(job_types) / sizeof(*job_types); t++)
			known |= strcmp(ops[i].a, job_types[t]) == 0;
		if (strcmp(ops[i].kind, "job") == 0 && !known)
			len += (size_t)snprintf(text + len, cap - len,
						"gwsync_jobs{type=\"%s\",status=\"%s\"} %lld\n",
						ops[i].a, ops[i].b, (long long)ops[i].n);
		else if (strcmp(ops[i].kind, "dead_letter") == 0)
			dead = ops[i].n;
	}
	if (len >= cap)
		return;
	len += (size_t)snprintf(text + len, cap - len,
				"# HELP gwsync_integrations Integrations by status.\n"
				"# TYPE gwsync_integrations gauge\n");
	for (size_t s = 0; s < sizeof(integration_statuses) / sizeof(*integration_statuses); s++) {
		int64_t count = 0;
		for (size_t i = 0; i < n; i++)
			if (strcmp(ops[i].kind, "integration") == 0 &&
			    strcmp(ops[i].a, integration_statuses[s]) == 0)
				count = ops[i].n;
		if (len >= cap)
			return;
		len += (size_t)snprintf(text + len, cap - len, "gwsync_integrations{status=\"%s\"} %lld\n",
					integration_statuses[s], (long long)count);
	}
	if (len >= cap)
		return;
	snprintf(text + len, cap - len,
		 "# HELP gwsync_dead_letters_last_hour Directory events dead-lettered in the last hour.\n"
		 "# TYPE gwsync_dead_letters_last_hour gauge\n"
		 "gwsync_dead_letters_last_hour %lld\n",
		 (long long)dead);
}

void handle_metrics(struct api_request *rq, struct api_response *rs)
{
	struct store_pool_stats pool;
	struct bus_producer_stats bus = {0};
	store_pool_stats_get(rq->ctx->st, &pool);
	/* The worker's health listener has no producer, no read cache and leaves the database-wide
	 * counts to the API (one series per API replica is enough). */
	int api_role = rq->ctx->bp != NULL;
	if (api_role)
		bus_producer_stats_get(rq->ctx->bp, &bus);
	size_t len = 0;
	struct google_metrics *google = calloc(1, sizeof(*google));
	if (google && rq->ctx->conn)
		connect_metrics(rq->ctx->conn, google);
	char *text = api_metrics_render(rq->ctx->metrics, rq->ctx->metrics_route_names, &pool,
					api_role ? &bus : NULL, google, &len);
	free(google);
	if (!text) {
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	/* The outbox backlog and the ops counts are what PostgreSQL holds, shared by every replica. */
	struct store_ops_count *ops = NULL;
	size_t nops = 0;
	struct err oe = {0};
	/* Without the database the counts are left out rather than shown as zeros. */
	int ops_rc = api_role ? store_ops_counts_load(rq->ctx->st, &ops, &nops, &oe) : E_UNAVAIL;
	size_t cap = len + 8192 + 4096 + nops * 160;
	char *grown = realloc(text, cap);
	if (!grown) {
		free(text);
		free(ops);
		api_reply_error(rs, 500, "internal", "Internal error", "out of memory");
		return;
	}
	text = grown;
	if (ops_rc == E_OK)
		ops_counts_render(text, cap, ops, nops);
	free(ops);
	int64_t rows = 0;
	double oldest = 0;
	struct err e = {0};
	len = strlen(text);
	if (api_role && store_outbox_backlog(rq->ctx->st, &rows, &oldest, &e) == E_OK)
		snprintf(text + len, cap - len,
			 "# HELP gwsync_outbox_backlog_rows Outbox rows waiting to be published.\n"
			 "# TYPE gwsync_outbox_backlog_rows gauge\n"
			 "gwsync_outbox_backlog_rows %lld\n"
			 "# HELP gwsync_outbox_oldest_age_seconds Age of the oldest waiting row.\n"
			 "# TYPE gwsync_outbox_oldest_age_seconds gauge\n"
			 "gwsync_outbox_oldest_age_seconds %.3f\n",
			 (long long)rows, oldest);
	struct read_cache_stats rc;
	if (rq->ctx->read_cache)
		read_cache_stats_get(rq->ctx->read_cache, &rc);
	len = strlen(text);
	if (rq->ctx->read_cache)
		snprintf(text + len, cap - len,
		 "# HELP gwsync_read_cache_requests_total Cacheable reads, by outcome.\n"
		 "# TYPE gwsync_read_cache_requests_total counter\n"
		 "gwsync_read_cache_requests_total{outcome=\"hit\"} %llu\n"
		 "gwsync_read_cache_requests_total{outcome=\"miss\"} %llu\n"
		 "# HELP gwsync_read_cache_coalesced_total Misses answered by another request's "
		 "read of the same key (counted as hits too).\n"
		 "# TYPE gwsync_read_cache_coalesced_total counter\n"
		 "gwsync_read_cache_coalesced_total %llu\n"
		 "# HELP gwsync_read_cache_invalidations_total Tenant changes that dropped answers.\n"
		 "# TYPE gwsync_read_cache_invalidations_total counter\n"
		 "gwsync_read_cache_invalidations_total %llu\n"
		 "# HELP gwsync_read_cache_evictions_total Answers dropped to stay within memory.\n"
		 "# TYPE gwsync_read_cache_evictions_total counter\n"
		 "gwsync_read_cache_evictions_total %llu\n"
		 "# HELP gwsync_read_cache_bytes Memory held by cached answers.\n"
		 "# TYPE gwsync_read_cache_bytes gauge\n"
		 "gwsync_read_cache_bytes %zu\n"
		 "# HELP gwsync_read_cache_listening 1 while change notifications arrive.\n"
		 "# TYPE gwsync_read_cache_listening gauge\n"
		 "gwsync_read_cache_listening %d\n",
		 rc.hits, rc.misses, rc.coalesced, rc.invalidations, rc.evictions, rc.bytes, rc.listening ? 1 : 0);
	if (rq->ctx->metrics_extra)
		rq->ctx->metrics_extra(rq->ctx->metrics_arg, text, cap);
	len = strlen(text);
	rs->status = 200;
	rs->body = text;
	rs->len = len;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
