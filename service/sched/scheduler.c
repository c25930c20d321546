#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "sched_tasks.h"
#include "store_authorization.h"
#include "store_jobs.h"

struct scheduler {
	const struct config *cfg;
	struct store *st;
	pthread_t thread;
	atomic_int stop;
};

static void *scheduler_main(void *arg)
{
	struct scheduler *s = arg;
	struct store_sched_options o = {
		.max_attempts = s->cfg->job_max_attempts,
		.reannounce_s = s->cfg->job_reannounce_s,
		.outbox_retention_h = s->cfg->outbox_retention_h,
		.processed_retention_h = s->cfg->processed_events_retention_h,
		.export_reconcile_h = s->cfg->export_reconcile_h,
		.import_minute_ms = s->cfg->import_minute_ms,
	};
	int failing = 0;
	time_t stale_checked = 0;
	while (!atomic_load(&s->stop)) {
		struct store_sched_result r;
		struct err e = {0};
		if (store_sched_tick(s->st, &o, &r, &e)) {
			/* Say it once per outage, not every tick. */
			if (!failing++)
				log_write(LOG_WARN, "sched", "tick_failed", e.msg, NULL, 0);
		} else {
			if (failing)
				log_write(LOG_INFO, "sched", "tick_recovered", NULL, NULL, 0);
			failing = 0;
			if (r.requeued || r.failed || r.reannounced || r.imports_queued ||
			    r.reconciles_queued ||
			    r.outbox_pruned || r.events_pruned)
				log_write(LOG_INFO, "sched", "tick", NULL,
					  (struct log_field[]){
						  LOG_NUM("leases_requeued", r.requeued),
						  LOG_NUM("leases_failed", r.failed),
						  LOG_NUM("reannounced", r.reannounced),
						  LOG_NUM("imports_queued", r.imports_queued),
						  LOG_NUM("reconciles_queued", r.reconciles_queued),
						  LOG_NUM("outbox_pruned", r.outbox_pruned),
						  LOG_NUM("events_pruned", r.events_pruned)},
					  7);
		}
		/* Idempotent, so every replica may run it; once a minute is plenty for "180 days". */
		if (time(NULL) - stale_checked >= 60) {
			int n = 0;
			struct err se = {0};
			if (store_integrations_mark_stale(s->st, s->cfg->reauthorize_after_days, &n,
							  &se))
				log_write(LOG_WARN, "sched", "stale_check_failed", se.msg, NULL, 0);
			else
				stale_checked = time(NULL);
			if (n)
				log_write(LOG_INFO, "sched", "integrations_unused", NULL,
					  (struct log_field[]){LOG_NUM("reauthorization_required", n)},
					  1);
		}
		for (int left = s->cfg->scheduler_interval_ms; left > 0 && !atomic_load(&s->stop);
		     left -= 50) {
			struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int scheduler_start(const struct config *cfg, struct store *st, struct scheduler **out,
		    struct err *e)
{
	*out = NULL;
	struct scheduler *s = calloc(1, sizeof(*s));
	if (!s)
		return err_set(e, E_NOMEM, "scheduler");
	s->cfg = cfg;
	s->st = st;
	if (pthread_create(&s->thread, NULL, scheduler_main, s)) {
		free(s);
		return err_set(e, E_INTERNAL, "scheduler thread");
	}
	*out = s;
	return E_OK;
}

void scheduler_stop(struct scheduler *s)
{
	if (!s)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	free(s);
}
