#include <signal.h>
#include <stdio.h>

#include "api.h"
#include "bus.h"
#include "connect.h"
#include "log.h"
#include "roles.h"
#include "sched_tasks.h"
#include "store.h"

static void relay_metrics(void *arg, char *buf, size_t cap)
{
	relay_metrics_render(arg, buf, cap);
}

int role_api_run(const struct config *cfg)
{
	struct err e = {0};
	struct store *st = NULL;
	struct bus_producer *bp = NULL;
	struct api_server *srv = NULL;
	struct connect *conn = NULL;
	struct relay *relay = NULL;
	struct scheduler *sched = NULL;
	int status = 1;

	struct store_options so = {
		.url = cfg->database_url,
		.pool_size = cfg->db_pool_size,
		.connect_timeout_s = cfg->db_connect_timeout_s,
		.acquire_timeout_ms = cfg->db_acquire_timeout_ms,
		.statement_timeout_ms = cfg->db_statement_timeout_ms,
		.application_name = "gwsync-api",
	};
	if (store_open(&so, &st, &e) || connect_new(cfg, st, &conn, &e) ||
	    bus_producer_new(cfg, &bp, &e) || relay_start(cfg, st, bp, &relay, &e) ||
	    scheduler_start(cfg, st, &sched, &e))
		goto out;
	struct api_deps deps = {.cfg = cfg,
				.st = st,
				.bp = bp,
				.conn = conn,
				.metrics_extra = relay_metrics,
				.metrics_arg = relay};
	if (api_server_start(&deps, &srv, &e))
		goto out;
	log_write(LOG_INFO, "api", "api_listening", NULL,
		  (struct log_field[]){LOG_STR("listen", cfg->http_listen),
				       LOG_NUM("port", api_server_port(srv))},
		  2);
	if (cfg->health_listen)
		log_write(LOG_INFO, "api", "health_listening", NULL,
			  (struct log_field[]){LOG_STR("listen", cfg->health_listen),
					       LOG_NUM("port", api_server_health_port(srv))},
			  2);

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	int sig = 0;
	sigwait(&set, &sig);
	log_write(LOG_INFO, "api", "shutdown_started", NULL,
		  (struct log_field[]){LOG_NUM("signal", sig)}, 1);
	shutdown_watchdog_start(cfg->shutdown_timeout_s);
	/* Leave a second of the bound for closing the listener, Kafka and the pool. */
	api_server_drain(srv, cfg->shutdown_timeout_s * 1000 - 1000);
	status = 0;
out:
	if (status)
		log_write(LOG_ERROR, "api", "api_failed", e.msg, NULL, 0);
	/* Stops accepting, then waits for the requests in flight. */
	api_server_stop(srv);
	scheduler_stop(sched);
	relay_stop(relay);
	bus_producer_free(bp, 5000);
	connect_free(conn);
	store_close(st);
	log_write(LOG_INFO, "api", "stopped", NULL, NULL, 0);
	return status;
}
