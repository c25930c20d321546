/*
 * The worker role: two consumers of group GWSYNC_KAFKA_GROUP. The jobs consumer (this thread)
 * takes a message only while a run slot is free, claims the job it names in PostgreSQL and runs it
 * on its own thread; the events consumer (a second thread) applies directory events. Offsets are
 * committed after the claim, the application, or a deliberate skip — never before. A database
 * outage holds the message and retries it. A heartbeat thread renews the leases of running jobs.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "bus.h"
#include "log.h"
#include "roles.h"
#include "store.h"
#include "store_jobs.h"
#include "sync_runner.h"

struct worker {
	const struct config *cfg;
	struct store *st;
	struct connect *conn;
	char owner[STORE_JOB_OWNER_MAX];
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t changed;
	int running; /* jobs on their threads */
};

struct run {
	struct worker *w;
	struct store_job job;
};

/* Returns the pending SIGTERM/SIGINT, or 0 when none is waiting. */
static int stop_requested(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	struct timespec zero = {0, 0};
	int sig = sigtimedwait(&set, NULL, &zero);
	return sig > 0 ? sig : 0;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/*
 * Why a job failed, as the job's error_reason: the runner's reason (invalid_import_filter,
 * Google's notFound, ...) or else the error's class. A database's SQLSTATE (it starts with a
 * digit) names no cause a reader can act on, so it gives way to the class too.
 */
static const char *failure_reason(const struct err *e)
{
	unsigned char c = (unsigned char)e->reason[0];
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ? e->reason
								: err_code_name(e->code);
}

static void job_end(struct worker *w, struct sync_job *sj, int rc, const struct err *e)
{
	const struct store_job *job = sj->job;
	struct err fe = {0};
	const char *status = NULL;
	const char *error = NULL;
	const char *error_reason = NULL;
	switch (sj->stop) {
	case SYNC_LOST:
		log_write(LOG_WARN, "worker", "job_lease_lost", "another worker holds the job now",
			  NULL, 0);
		return;
	case SYNC_AWAITING:
		log_write(LOG_INFO, "worker", "job_awaits_approval",
			  "the deletion guard stopped the job before its first write", NULL, 0);
		return;
	case SYNC_SHUTDOWN:
		if (store_job_release(w->st, job->id, w->owner, &fe))
			log_write(LOG_WARN, "worker", "job_release_failed", fe.msg, NULL, 0);
		else
			log_write(LOG_INFO, "worker", "job_released", NULL, NULL, 0);
		return;
	case SYNC_CANCELLED:
		status = "cancelled";
		break;
	case SYNC_GO:
		if (rc == E_UNAVAIL && !strcmp(e->reason, STORE_REASON_UNAVAILABLE)) {
			/*
			 * The database went away under the run: not the job's fault. Its lease runs
			 * out and the job runs again (an attempt, up to GWSYNC_JOB_MAX_ATTEMPTS),
			 * resuming from the items it recorded.
			 */
			log_write(LOG_WARN, "worker", "job_left_to_its_lease", e->msg, NULL, 0);
			return;
		}
		if (rc) {
			status = "failed";
			error = e->msg;
			error_reason = failure_reason(e);
		} else {
			status = sj->counts[JOB_FAILED] ? "partially_failed" : "succeeded";
		}
		break;
	}
	/* The database may be away for a moment: the lease gives us time to retry. */
	for (int attempt = 0; attempt < 10; attempt++) {
		err_clear(&fe);
		int frc = store_job_finish(w->st, job->id, w->owner, status, error_reason, error,
					   &fe);
		if (frc == E_OK) {
			log_write(LOG_INFO, "worker", "job_finished", error,
				  (struct log_field[]){
					  LOG_STR("type", job->type), LOG_STR("status", status),
					  LOG_STR("reason", error_reason),
					  LOG_NUM("attempts", job->attempts),
					  LOG_NUM("created", sj->counts[JOB_CREATED]),
					  LOG_NUM("failed", sj->counts[JOB_FAILED])},
				  6);
			return;
		}
		if (frc == E_NOTFOUND) {
			log_write(LOG_WARN, "worker", "job_lease_lost", fe.msg, NULL, 0);
			return;
		}
		sleep_ms(500);
	}
	log_write(LOG_ERROR, "worker", "job_finish_failed", fe.msg, NULL, 0);
}

static void *run_main(void *arg)
{
	struct run *r = arg;
	struct worker *w = r->w;
	log_ctx_set_tenant(r->job.tenant_id);
	log_ctx_set_integration(r->job.integration_id);
	log_ctx_set_job(r->job.id);
	struct sync_job sj = {.st = w->st,
			      .conn = w->conn,
			      .job = &r->job,
			      .owner = w->owner,
			      .lease_ms = w->cfg->job_lease_ms,
			      .domains_max_age_ms = w->cfg->domains_max_age_ms,
			      .shutdown = &w->stop};
	struct err e = {0};
	int rc;
	const struct sync_runner *runner = sync_runner_find(r->job.type, w->cfg->job_test_runners);
	log_write(LOG_INFO, "worker", "job_started", NULL,
		  (struct log_field[]){LOG_STR("type", r->job.type),
				       LOG_NUM("attempt", r->job.attempts)},
		  2);
	if (!runner)
		rc = err_set(&e, E_INVAL, "no runner for job type %s in this worker", r->job.type);
	else if (!runner->run)
		rc = err_set(&e, E_UNAVAIL, "%s", runner->missing);
	else
		rc = runner->run(&sj, &e);
	job_end(w, &sj, rc, &e);
	log_ctx_clear();
	store_job_cleanup(&r->job);
	free(r);
	pthread_mutex_lock(&w->mu);
	w->running--;
	pthread_cond_broadcast(&w->changed);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Starts a claimed job on its own thread (the slot was reserved by the caller). */
static void job_launch(struct worker *w, struct store_job *job)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_mutex_lock(&w->mu);
	w->running++;
	pthread_mutex_unlock(&w->mu);
	if (r) {
		r->w = w;
		r->job = *job; /* takes over what the job owns (store_job_cleanup frees it once) */
		job->parameters_json = NULL;
		job->plan_summary_json = NULL;
	}
	if (!r || pthread_create(&t, &attr, run_main, r)) {
		log_write(LOG_ERROR, "worker", "job_thread_failed", NULL, NULL, 0);
		if (r) {
			struct err e = {0};
			store_job_release(w->st, r->job.id, w->owner, &e);
			store_job_cleanup(&r->job);
			free(r);
		}
		pthread_mutex_lock(&w->mu);
		w->running--;
		pthread_mutex_unlock(&w->mu);
	}
	pthread_attr_destroy(&attr);
}

/*
 * Handles one jobs message; returns 0 when the offset may be committed, -1 when it must be tried
 * again (the database is away).
 */
static int job_message(struct worker *w, const struct bus_message *msg)
{
	char job_id[BUS_ID_MAX + 1];
	struct err e = {0};
	if (bus_job_message_parse(msg->payload, msg->len, job_id, &e)) {
		log_write(LOG_WARN, "worker", "job_message_skipped", e.msg, NULL, 0);
		return 0;
	}
	log_ctx_set_job(job_id);
	enum store_claim result;
	struct store_job job;
	memset(&job, 0, sizeof(job));
	int rc = store_job_claim(w->st, job_id, w->owner, w->cfg->job_lease_ms, &result, &job, &e);
	if (rc) {
		log_write(LOG_WARN, "worker", "job_claim_failed", e.msg, NULL, 0);
		log_ctx_set_job(NULL);
		return -1;
	}
	static const char *const why[] = {"claimed", "integration_busy", "not_queued", "unknown_job"};
	log_write(result == STORE_CLAIMED ? LOG_INFO : LOG_DEBUG, "worker", "job_claim",
		  why[result], NULL, 0);
	if (result == STORE_CLAIMED)
		job_launch(w, &job);
	store_job_cleanup(&job);
	log_ctx_set_job(NULL);
	return 0;
}

/* Handles one directory event; 0: commit, -1: try again. */
static int event_message(struct worker *w, const struct bus_message *msg)
{
	struct bus_dir_event ev;
	struct err e = {0};
	int rc = bus_dir_event_decode(msg->payload, msg->len, &ev, &e);
	enum store_event_outcome outcome = STORE_EVENT_APPLIED;
	if (!rc) {
		log_ctx_set_tenant(ev.tenant);
		struct store_user_input in = {
			.email = ev.email,
			.first_name = ev.first_name ? ev.first_name : "",
			.last_name = ev.last_name ? ev.last_name : "",
			.state = ev.state,
			.alternate_email = ev.alternate_email,
			.manager_id = ev.manager_id,
			.cost_center = ev.cost_center,
			.department = ev.department,
			.employee_type = ev.employee_type,
			.job_title = ev.job_title,
			.employee_id = ev.employee_id,
			.company = ev.company,
			.location = ev.location,
			.addresses_json = ev.addresses_json,
			.phones_json = ev.phones_json,
		};
		struct store_dir_event sev = {
			.source = ev.source,
			.id = ev.id,
			.tenant_id = ev.tenant,
			.kind = ev.type,
			.user_id = ev.user_id,
			.group_id = ev.group_id,
			.integration_id = ev.integration_id,
			.user = &in,
			.state = ev.state,
			.group_name = ev.group_name,
			.group_description = ev.group_description,
			.group_email = ev.group_email,
		};
		rc = store_dir_event_apply(w->st, &sev, &outcome, &e);
		if (rc && rc != E_INVAL) {
			log_write(LOG_WARN, "worker", "event_apply_failed", e.msg, NULL, 0);
			bus_dir_event_cleanup(&ev);
			log_ctx_clear();
			return -1;
		}
		if (rc == E_INVAL && !e.reason[0])
			snprintf(e.reason, sizeof(e.reason), "rejected");
	}
	if (rc) {
		/* Dead letter: the original bytes, the reason in headers. */
		char headers[1024];
		char esc[300];
		size_t k = 0;
		for (const char *c = e.msg; *c && k + 7 < sizeof(esc); c++) {
			if (*c == '"' || *c == '\\')
				esc[k++] = '\\';
			esc[k++] = (unsigned char)*c < 0x20 ? ' ' : *c;
		}
		esc[k] = '\0';
		snprintf(headers, sizeof(headers),
			 "{\"gwsync-dlq-reason\":\"%s\",\"gwsync-dlq-error\":\"%s\","
			 "\"gwsync-dlq-topic\":\"%s\",\"gwsync-dlq-partition\":\"%d\","
			 "\"gwsync-dlq-offset\":\"%lld\"}",
			 e.reason, esc, msg->topic, (int)msg->partition, (long long)msg->offset);
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)(msg->key_len < 255 ? msg->key_len : 255),
			 msg->key ? msg->key : "");
		struct err de = {0};
		if (store_outbox_add(w->st, "dlq", key, msg->payload, msg->len, headers, &de)) {
			log_write(LOG_WARN, "worker", "dlq_write_failed", de.msg, NULL, 0);
			bus_dir_event_cleanup(&ev);
			log_ctx_clear();
			return -1;
		}
		log_write(LOG_WARN, "worker", "event_dead_lettered", e.msg,
			  (struct log_field[]){LOG_STR("reason", e.reason),
					       LOG_NUM("offset", msg->offset)},
			  2);
	} else {
		static const char *const names[] = {"applied", "duplicate", "unknown_tenant",
						    "adopted"};
		log_write(outcome == STORE_EVENT_APPLIED || outcome == STORE_EVENT_ADOPTED
				  ? LOG_INFO
				  : LOG_DEBUG,
			  "worker",
			  "event_processed", names[outcome],
			  (struct log_field[]){LOG_STR("type", ev.type), LOG_STR("id", ev.id)}, 2);
	}
	bus_dir_event_cleanup(&ev);
	log_ctx_clear();
	return 0;
}

typedef int (*message_fn)(struct worker *w, const struct bus_message *msg);

/* Processes msg until it may be committed (or the worker stops), then commits it. */
static void consume_one(struct worker *w, struct bus_consumer *c, struct bus_message *msg,
			message_fn fn)
{
	log_write(LOG_DEBUG, "worker", "message_received", NULL,
		  (struct log_field[]){LOG_STR("topic", msg->topic), LOG_NUM("partition", msg->partition),
				       LOG_NUM("offset", msg->offset), LOG_NUM("bytes", msg->len)},
		  4);
	int backoff = 100;
	while (fn(w, msg) != 0) {
		if (atomic_load(&w->stop))
			return; /* not committed: whoever gets the partition sees it again */
		sleep_ms(backoff);
		backoff = backoff < 2000 ? backoff * 2 : 2000;
	}
	struct err e = {0};
	if (bus_consumer_commit(c, msg, &e))
		log_write(LOG_WARN, "worker", "commit_failed", e.msg, NULL, 0);
}

struct events_thread {
	struct worker *w;
	struct bus_consumer *c;
};

static void *events_main(void *arg)
{
	struct events_thread *et = arg;
	while (!atomic_load(&et->w->stop)) {
		struct bus_message msg;
		struct err e = {0};
		int rc = bus_consumer_poll(et->c, 250, &msg, &e);
		if (rc == E_NOTFOUND)
			continue;
		if (rc) {
			log_write(LOG_WARN, "worker", "consume_failed", e.msg, NULL, 0);
			continue;
		}
		consume_one(et->w, et->c, &msg, event_message);
		bus_message_release(&msg);
	}
	/*
	 * Leave the group from here, at the same time as the jobs consumer leaves from the main
	 * thread: a member that stopped polling would hold the other's leave in a rebalance.
	 */
	bus_consumer_close(et->c);
	et->c = NULL;
	return NULL;
}

/* What the worker's health listener needs: the consumers it reports on. */
struct worker_health {
	struct worker *w;
	struct bus_consumer *jobs;
	struct bus_consumer *events;
};

/* Readiness: the jobs consumer reaches a broker that knows the jobs topic. */
static int worker_ready(void *arg, struct err *e)
{
	struct worker_health *wh = arg;
	return bus_consumer_check(wh->jobs, wh->w->cfg->topic_jobs, wh->w->cfg->readyz_timeout_ms,
				  e);
}

/* /metrics of the worker, after the Google and pool figures: jobs running and consumer lag. */
static void worker_metrics(void *arg, char *buf, size_t cap)
{
	struct worker_health *wh = arg;
	pthread_mutex_lock(&wh->w->mu);
	int running = wh->w->running;
	pthread_mutex_unlock(&wh->w->mu);
	size_t len = strlen(buf);
	if (len >= cap)
		return;
	len += (size_t)snprintf(buf + len, cap - len,
				"# HELP gwsync_worker_jobs_running Jobs this worker runs now.\n"
				"# TYPE gwsync_worker_jobs_running gauge\n"
				"gwsync_worker_jobs_running %d\n"
				"# HELP gwsync_worker_concurrency Jobs this worker may run at once.\n"
				"# TYPE gwsync_worker_concurrency gauge\n"
				"gwsync_worker_concurrency %d\n"
				"# HELP gwsync_kafka_consumer_lag Messages behind in the partitions "
				"assigned to this worker, by topic.\n"
				"# TYPE gwsync_kafka_consumer_lag gauge\n",
				running, wh->w->cfg->worker_concurrency);
	struct {
		struct bus_consumer *c;
		const char *topic;
	} consumers[] = {{wh->jobs, wh->w->cfg->topic_jobs},
			 {wh->events, wh->w->cfg->topic_directory_events}};
	for (size_t i = 0; i < sizeof(consumers) / sizeof(consumers[0]) && len < cap; i++) {
		int64_t lag = 0;
		int parts = 0;
		if (bus_consumer_lag(consumers[i].c, &lag, &parts) == E_OK)
			len += (size_t)snprintf(buf + len, cap - len,
						"gwsync_kafka_consumer_lag{topic=\"%s\"} %lld\n",
						consumers[i].topic, (long long)lag);
	}
}

static void *heartbeat_main(void *arg)
{
	struct worker *w = arg;
	int period = w->cfg->job_lease_ms / 3;
	while (!atomic_load(&w->stop)) {
		for (int left = period; left > 0 && !atomic_load(&w->stop); left -= 50)
			sleep_ms(left < 50 ? left : 50);
		pthread_mutex_lock(&w->mu);
		int running = w->running;
		pthread_mutex_unlock(&w->mu);
		if (!running)
			continue;
		struct err e = {0};
		if (store_job_leases_extend(w->st, w->owner, w->cfg->job_lease_ms, NULL, &e))
			log_write(LOG_WARN, "worker", "lease_renewal_failed", e.msg, NULL, 0);
	}
	return NULL;
}

int role_worker_run(const struct config *cfg)
{
	struct err e = {0};
	struct worker w;
	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	/*
	 * No fastbins: a sync run frees a chunk's many small JSON allocations and then asks for a
	 * large block (libcurl's buffer, the next chunk's arrays); with fastbins every such request
	 * consolidated them all again, about a third of a 100,000-user reconcile's CPU time
	 * (tests/bench/export). Set once, before any thread starts.
	 */
	mallopt(M_MXFAST, 0);
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.changed, NULL);
	char host[64] = "worker";
	gethostname(host, sizeof(host) - 1);
	unsigned rnd = (unsigned)time(NULL) ^ (unsigned)getpid() * 2654435761u;
	snprintf(w.owner, sizeof(w.owner), "%.64s:%d:%08x", host, (int)getpid(), rnd);

	struct bus_consumer *jobs = NULL, *events = NULL;
	struct events_thread et = {&w, NULL};
	struct worker_health wh = {&w, NULL, NULL};
	struct api_server *health = NULL;
	pthread_t events_t, heartbeat_t;
	int events_started = 0, heartbeat_started = 0, status = 1;
	struct store_options so = {
		.url = cfg->database_url,
		.pool_size = cfg->db_pool_size,
		.connect_timeout_s = cfg->db_connect_timeout_s,
		.acquire_timeout_ms = cfg->db_acquire_timeout_ms,
		.statement_timeout_ms = cfg->db_statement_timeout_ms,
		.application_name = "gwsync-worker",
	};
	const char *jt[] = {cfg->topic_jobs};
	const char *evt[] = {cfg->topic_directory_events};
	if (store_open(&so, &w.st, &e) || connect_new(cfg, w.st, &w.conn, &e) ||
	    bus_consumer_new(cfg, jt, 1, &jobs, &e) ||
	    bus_consumer_new(cfg, evt, 1, &events, &e)) {
		log_write(LOG_ERROR, "worker", "worker_failed", e.msg, NULL, 0);
		goto out;
	}
	wh.jobs = jobs;
	wh.events = events;
	if (cfg->health_listen) {
		struct api_deps deps = {.cfg = cfg,
					.st = w.st,
					.conn = w.conn,
					.metrics_extra = worker_metrics,
					.metrics_arg = &wh,
					.ready_check = worker_ready,
					.ready_arg = &wh};
		if (api_health_server_start(&deps, &health, &e)) {
			log_write(LOG_ERROR, "worker", "worker_failed", e.msg, NULL, 0);
			goto out;
		}
		log_write(LOG_INFO, "worker", "health_listening", NULL,
			  (struct log_field[]){LOG_STR("listen", cfg->health_listen),
					       LOG_NUM("port", api_server_health_port(health))},
			  2);
	}
	et.c = events;
	events_started = pthread_create(&events_t, NULL, events_main, &et) == 0;
	heartbeat_started = pthread_create(&heartbeat_t, NULL, heartbeat_main, &w) == 0;
	if (!events_started || !heartbeat_started) {
		log_write(LOG_ERROR, "worker", "worker_failed", "cannot start threads", NULL, 0);
		atomic_store(&w.stop, 1);
		goto out;
	}
	char subscribed[512];
	snprintf(subscribed, sizeof(subscribed), "%s,%s", jt[0], evt[0]);
	log_write(LOG_INFO, "worker", "worker_started", NULL,
		  (struct log_field[]){LOG_STR("group", cfg->kafka_group),
				       LOG_STR("topics", subscribed), LOG_STR("owner", w.owner),
				       LOG_NUM("concurrency", cfg->worker_concurrency)},
		  4);

	int sig = 0;
	while (!(sig = stop_requested())) {
		/* Take a message only when a slot is free: a claimed job never waits for one. */
		pthread_mutex_lock(&w.mu);
		int busy = w.running >= cfg->worker_concurrency;
		if (busy) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 200000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&w.changed, &w.mu, &until);
		}
		pthread_mutex_unlock(&w.mu);
		if (busy)
			continue;
		struct bus_message msg;
		err_clear(&e);
		int rc = bus_consumer_poll(jobs, 200, &msg, &e);
		if (rc == E_NOTFOUND)
			continue;
		if (rc) {
			log_write(LOG_WARN, "worker", "consume_failed", e.msg, NULL, 0);
			continue;
		}
		consume_one(&w, jobs, &msg, job_message);
		bus_message_release(&msg);
	}
	log_write(LOG_INFO, "worker", "shutdown_started", NULL,
		  (struct log_field[]){LOG_NUM("signal", sig)}, 1);
	shutdown_watchdog_start(cfg->shutdown_timeout_s);
	status = 0;
out:
	/* First the listener: its scrapes read the consumers closed below. */
	api_server_stop(health);
	/* Runners see the flag at their next checkpoint and give their jobs back. */
	atomic_store(&w.stop, 1);
	pthread_mutex_lock(&w.mu);
	while (w.running > 0)
		pthread_cond_wait(&w.changed, &w.mu);
	pthread_mutex_unlock(&w.mu);
	bus_consumer_close(jobs);
	if (events_started)
		pthread_join(events_t, NULL);
	else
		bus_consumer_close(events);
	if (heartbeat_started)
		pthread_join(heartbeat_t, NULL);
	connect_free(w.conn);
	store_close(w.st);
	pthread_cond_destroy(&w.changed);
	pthread_mutex_destroy(&w.mu);
	log_write(LOG_INFO, "worker", "stopped", NULL, NULL, 0);
	return status;
}
