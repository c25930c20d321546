/*
 * api — gwsync's REST API: the HTTP server, routing, authentication and the handlers.
 *
 * api_server_start() starts CivetWeb's listener and worker threads; requests run on those
 * threads. The deps are borrowed and must outlive the server. api_server_stop() stops accepting,
 * lets in-flight requests finish and frees the server.
 */
#ifndef GWSYNC_API_H
#define GWSYNC_API_H

#include "bus.h"
#include "config.h"
#include "connect.h"
#include "err.h"
#include "store.h"

struct api_server;

struct api_deps {
	const struct config *cfg;
	struct store *st;
	struct bus_producer *bp;
	struct connect *conn; /* Google authorization and clients */
	/* Optional: appends more Prometheus text (the relay's) to buf, NUL-terminated. */
	void (*metrics_extra)(void *arg, char *buf, size_t cap);
	void *metrics_arg;
	/*
	 * Optional (the worker): the role's own Kafka readiness, reported as check "kafka" and
	 * gating /readyz; returns 0 when up, else an E_* code with the detail in e. Without it
	 * /readyz checks the producer (bp) and reports Kafka "degraded" without failing: the
	 * outbox holds the API's work while Kafka is away.
	 */
	int (*ready_check)(void *arg, struct err *e);
	void *ready_arg;
};

/*
 * Starts the API on GWSYNC_HTTP_LISTEN and, when GWSYNC_HEALTH_LISTEN is set, the health listener
 * (/healthz, /readyz, /metrics only, on a few threads of its own with a short request timeout).
 */
int api_server_start(const struct api_deps *deps, struct api_server **out, struct err *e);

/*
 * Only the health listener, on GWSYNC_HEALTH_LISTEN (the worker role). deps->bp may be NULL;
 * /metrics then leaves out the API's request counters, the producer and the database-wide
 * counts (the API serves those once for every replica).
 */
int api_health_server_start(const struct api_deps *deps, struct api_server **out, struct err *e);

/* The port actually bound (useful with port 0). */
int api_server_port(const struct api_server *srv);

/* The health listener's port, 0 when there is none. */
int api_server_health_port(const struct api_server *srv);

/*
 * Begins a graceful stop: requests that arrive from now on get 503 and a closed connection;
 * waits (at most timeout_ms) until the requests already running have answered.
 */
void api_server_drain(struct api_server *srv, int timeout_ms);

void api_server_stop(struct api_server *srv);

/* Writes "METHOD pattern" lines of every route (for the openapi.yaml comparison test). */
void api_routes_print(void);

#endif
