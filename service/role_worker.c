#include <signal.h>
#include <stdio.h>
#include <time.h>

#include "bus.h"
#include "log.h"
#include "roles.h"

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

int role_worker_run(const struct config *cfg)
{
	struct err e = {0};
	struct bus_consumer *c = NULL;
	const char *topics[] = {cfg->topic_jobs, cfg->topic_directory_events};
	if (bus_consumer_new(cfg, topics, 2, &c, &e)) {
		log_write(LOG_ERROR, "worker", "worker_failed", e.msg, NULL, 0);
		return 1;
	}
	char subscribed[512];
	snprintf(subscribed, sizeof(subscribed), "%s,%s", topics[0], topics[1]);
	log_write(LOG_INFO, "worker", "worker_started", NULL,
		  (struct log_field[]){LOG_STR("group", cfg->kafka_group),
				       LOG_STR("topics", subscribed)},
		  2);

	int sig = 0;
	while (!(sig = stop_requested())) {
		struct bus_message msg;
		err_clear(&e);
		int rc = bus_consumer_poll(c, 250, &msg, &e);
		if (rc == E_NOTFOUND)
			continue;
		if (rc) {
			log_write(LOG_WARN, "worker", "consume_failed", e.msg, NULL, 0);
			continue;
		}
		/* Job handling arrives with the job pipeline; for now the worker only records. */
		struct log_field fields[] = {
			LOG_STR("topic", msg.topic),
			LOG_NUM("partition", msg.partition),
			LOG_NUM("offset", msg.offset),
			LOG_NUM("bytes", msg.len),
		};
		log_write(LOG_INFO, "worker", "message_received", NULL, fields,
			  sizeof(fields) / sizeof(fields[0]));
		if (bus_consumer_commit(c, &msg, &e))
			log_write(LOG_WARN, "worker", "commit_failed", e.msg, NULL, 0);
		bus_message_release(&msg);
	}
	log_write(LOG_INFO, "worker", "shutdown_started", NULL,
		  (struct log_field[]){LOG_NUM("signal", sig)}, 1);
	shutdown_watchdog_start(cfg->shutdown_timeout_s);
	bus_consumer_close(c);
	log_write(LOG_INFO, "worker", "stopped", NULL, NULL, 0);
	return 0;
}
