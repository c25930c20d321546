/*
 * metrics — the API's Prometheus counters: requests by route and status, a latency histogram
 * per route. Lock-free atomic counters, safe from any thread. The struct is owned by the API
 * server (api_metrics_new/_free). Rendering adds build info, the database pool and the Kafka
 * producer state.
 */
#ifndef GWSYNC_API_METRICS_H
#define GWSYNC_API_METRICS_H

#include <stddef.h>

#include "bus.h"
#include "google_client.h"
#include "store.h"

struct api_metrics;

/* Counters for n_routes routes plus one "unmatched" bucket. NULL when out of memory. */
struct api_metrics *api_metrics_new(size_t n_routes);
void api_metrics_free(struct api_metrics *m);

/* route is the route index, or (size_t)-1 when no route matched. */
void api_metrics_observe(struct api_metrics *m, size_t route, int status, double seconds);

/*
 * Renders the Prometheus text exposition. route_names gives each route's label
 * ("GET /v1/tenants"); google holds the counters of every Google client of the process (may be
 * NULL); bus may be NULL (a process without producer). Returns a malloc'd string (caller frees), or NULL when out of memory.
 */
char *api_metrics_render(struct api_metrics *m, const char *const *route_names,
			 const struct store_pool_stats *pool, const struct bus_producer_stats *bus,
			 const struct google_metrics *google, size_t *len);

#endif
