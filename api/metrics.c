#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int tracked_statuses[] = {200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 409,
				       412, 413, 415, 422, 429, 500, 503};
#define N_STATUS (sizeof(tracked_statuses) / sizeof(tracked_statuses[0]) + 1) /* + other */

static const double buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				 0.1,	0.25,	0.5,   1.0,  2.5,   5.0};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct route_counters {
	atomic_ullong by_status[N_STATUS];
	atomic_ullong bucket[N_BUCKETS]; /* non-cumulative; summed when rendered */
	atomic_ullong count;
	atomic_ullong sum_us;
};

struct api_metrics {
	size_t n; /* routes + 1 (unmatched) */
	struct route_counters *routes;
};

struct api_metrics *api_metrics_new(size_t n_routes)
{
	struct api_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->n = n_routes + 1;
	m->routes = calloc(m->n, sizeof(*m->routes));
	if (!m->routes) {
		free(m);
		return NULL;
	}
	return m;
}

void api_metrics_free(struct api_metrics *m)
{
	if (!m)
		return;
	free(m->routes);
	free(m);
}

static size_t status_slot(int status)
{
	for (size_t i = 0; i < N_STATUS - 1; i++) {
		if (tracked_statuses[i] == status)
			return i;
	}
	return N_STATUS - 1;
}

void api_metrics_observe(struct api_metrics *m, size_t route, int status, double seconds)
{
	struct route_counters *rc = &m->routes[route < m->n - 1 ? route : m->n - 1];
	atomic_fetch_add_explicit(&rc->by_status[status_slot(status)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rc->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&rc->sum_us, (unsigned long long)(seconds * 1e6),
				  memory_order_relaxed);
	for (size_t b = 0; b < N_BUCKETS; b++) {
		if (seconds <= buckets[b]) {
			atomic_fetch_add_explicit(&rc->bucket[b], 1, memory_order_relaxed);
			break;
		}
	}
}

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void text_add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(struct text *t, const char *fmt, ...)
{
	if (t->failed)
		return;
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap * 2 + (size_t)n;
		char *grown = realloc(t->buf, cap);
		if (!grown) {
			t->failed = 1;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
}

/* The Google client's counters (service/google: google_client_metrics, summed per process). */
static void google_render(struct text *t, const struct google_metrics *g)
{
	static const char *const methods[GOOGLE_METHOD_N] = {"GET", "POST", "PUT", "PATCH",
							     "DELETE"};
	text_add(t, "# HELP gwsync_google_requests_total HTTP attempts to Google by method and "
		    "outcome.\n# TYPE gwsync_google_requests_total counter\n");
	for (int m = 0; m < GOOGLE_METHOD_N; m++)
		for (int o = 0; o < GOOGLE_OUTCOME_N; o++)
			if (g->requests[m][o])
				text_add(t,
					 "gwsync_google_requests_total{method=\"%s\",outcome=\"%s\"} "
					 "%llu\n",
					 methods[m], google_outcome_name((enum google_outcome)o),
					 g->requests[m][o]);
	text_add(t,
		 "# HELP gwsync_google_calls_total Google calls (each with its retries) by result.\n"
		 "# TYPE gwsync_google_calls_total counter\n"
		 "gwsync_google_calls_total{result=\"ok\"} %llu\n"
		 "gwsync_google_calls_total{result=\"failed\"} %llu\n"
		 "# HELP gwsync_google_retries_total Attempts after the first.\n"
		 "# TYPE gwsync_google_retries_total counter\n"
		 "gwsync_google_retries_total %llu\n"
		 "# HELP gwsync_google_token_refreshes_total Token refreshes forced by a 401.\n"
		 "# TYPE gwsync_google_token_refreshes_total counter\n"
		 "gwsync_google_token_refreshes_total %llu\n"
		 "# HELP gwsync_google_ratelimit_waits_total Calls the token bucket made wait.\n"
		 "# TYPE gwsync_google_ratelimit_waits_total counter\n"
		 "gwsync_google_ratelimit_waits_total %llu\n"
		 "# HELP gwsync_google_ratelimit_wait_seconds_total Time spent waiting for the "
		 "bucket.\n"
		 "# TYPE gwsync_google_ratelimit_wait_seconds_total counter\n"
		 "gwsync_google_ratelimit_wait_seconds_total %.3f\n"
		 "# HELP gwsync_google_ratelimit_cuts_total Rate-limit answers that slowed the "
		 "bucket.\n"
		 "# TYPE gwsync_google_ratelimit_cuts_total counter\n"
		 "gwsync_google_ratelimit_cuts_total %llu\n"
		 "# HELP gwsync_google_batch_parts_total Calls sent inside batches.\n"
		 "# TYPE gwsync_google_batch_parts_total counter\n"
		 "gwsync_google_batch_parts_total %llu\n",
		 g->calls - g->calls_failed, g->calls_failed, g->retries, g->token_refreshes,
		 g->ratelimit_waits, (double)g->ratelimit_wait_ms / 1000.0, g->ratelimit_cuts,
		 g->batch_parts);
	text_add(t, "# HELP gwsync_google_request_duration_seconds Time of one HTTP attempt to "
		    "Google.\n# TYPE gwsync_google_request_duration_seconds histogram\n");
	unsigned long long cum = 0;
	for (int b = 0; b < GOOGLE_LATENCY_BUCKETS - 1; b++) {
		cum += g->latency_buckets[b];
		text_add(t, "gwsync_google_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			 (double)google_latency_bounds_ms[b] / 1000.0, cum);
	}
	text_add(t,
		 "gwsync_google_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		 "gwsync_google_request_duration_seconds_sum %.3f\n"
		 "gwsync_google_request_duration_seconds_count %llu\n",
		 g->latency_count, (double)g->latency_sum_ms / 1000.0, g->latency_count);
}

char *api_metrics_render(struct api_metrics *m, const char *const *route_names,
			 const struct store_pool_stats *pool, const struct bus_producer_stats *bus,
			 const struct google_metrics *google, size_t *len)
{
	struct text t = {malloc(16384), 0, 16384, 0};
	if (!t.buf)
		return NULL;
	t.buf[0] = '\0';
	text_add(&t, "# HELP gwsync_build_info Version of the running gwsync.\n"
		     "# TYPE gwsync_build_info gauge\n"
		     "gwsync_build_info{version=\"%s\"} 1\n",
		 GWSYNC_VERSION);

	text_add(&t, "# HELP gwsync_http_requests_total HTTP requests by route and status.\n"
		     "# TYPE gwsync_http_requests_total counter\n");
	for (size_t r = 0; r < m->n; r++) {
		const char *name = r < m->n - 1 ? route_names[r] : "unmatched";
		for (size_t s = 0; s < N_STATUS; s++) {
			unsigned long long v = atomic_load(&m->routes[r].by_status[s]);
			if (!v)
				continue;
			if (s < N_STATUS - 1)
				text_add(&t,
					 "gwsync_http_requests_total{route=\"%s\",status=\"%d\"} "
					 "%llu\n",
					 name, tracked_statuses[s], v);
			else
				text_add(&t,
					 "gwsync_http_requests_total{route=\"%s\",status=\"other\"}"
					 " %llu\n",
					 name, v);
		}
	}

	text_add(&t, "# HELP gwsync_http_request_duration_seconds Time to answer a request.\n"
		     "# TYPE gwsync_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r < m->n; r++) {
		unsigned long long count = atomic_load(&m->routes[r].count);
		if (!count)
			continue;
		const char *name = r < m->n - 1 ? route_names[r] : "unmatched";
		unsigned long long cum = 0;
		for (size_t b = 0; b < N_BUCKETS; b++) {
			cum += atomic_load(&m->routes[r].bucket[b]);
			text_add(&t,
				 "gwsync_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"}"
				 " %llu\n",
				 name, buckets[b], cum);
		}
		text_add(&t,
			 "gwsync_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} "
			 "%llu\n"
			 "gwsync_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
			 "gwsync_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
			 name, count, name, (double)atomic_load(&m->routes[r].sum_us) / 1e6, name,
			 count);
	}

	text_add(&t,
		 "# HELP gwsync_db_pool_connections Database connections by state.\n"
		 "# TYPE gwsync_db_pool_connections gauge\n"
		 "gwsync_db_pool_connections{state=\"max\"} %d\n"
		 "gwsync_db_pool_connections{state=\"open\"} %d\n"
		 "gwsync_db_pool_connections{state=\"in_use\"} %d\n"
		 "# HELP gwsync_db_pool_waits_total Acquisitions that waited for a connection.\n"
		 "# TYPE gwsync_db_pool_waits_total counter\n"
		 "gwsync_db_pool_waits_total %llu\n"
		 "# HELP gwsync_db_pool_timeouts_total Acquisitions that gave up waiting.\n"
		 "# TYPE gwsync_db_pool_timeouts_total counter\n"
		 "gwsync_db_pool_timeouts_total %llu\n"
		 "# HELP gwsync_db_connect_errors_total Failed connection attempts.\n"
		 "# TYPE gwsync_db_connect_errors_total counter\n"
		 "gwsync_db_connect_errors_total %llu\n",
		 pool->size, pool->open, pool->in_use, (unsigned long long)pool->waits,
		 (unsigned long long)pool->timeouts, (unsigned long long)pool->conn_errors);

	if (bus)
		text_add(&t,
		 "# HELP gwsync_kafka_producer_queue_messages Messages waiting in the producer.\n"
		 "# TYPE gwsync_kafka_producer_queue_messages gauge\n"
		 "gwsync_kafka_producer_queue_messages %lld\n"
		 "# HELP gwsync_kafka_producer_brokers_down 1 while no Kafka broker is reachable.\n"
		 "# TYPE gwsync_kafka_producer_brokers_down gauge\n"
		 "gwsync_kafka_producer_brokers_down %d\n",
		 (long long)bus->queued, bus->all_brokers_down);

	if (google)
		google_render(&t, google);

	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
