#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "sched_tasks.h"
#include "store_jobs.h"
#include "store_listen.h"

static const double lag_buckets_ms[] = {5, 10, 25, 50, 100, 200, 500, 1000, 5000, 30000};
#define N_LAG (sizeof(lag_buckets_ms) / sizeof(lag_buckets_ms[0]))

struct relay {
	const struct config *cfg;
	struct store *st;
	struct bus_producer *bp;
	pthread_t thread;
	atomic_int stop;
	atomic_ullong published, failed_batches;
	atomic_ullong lag_bucket[N_LAG + 1]; /* per batch: the largest lag in it */
	atomic_ullong lag_count, lag_sum_us;
};

static void sleep_ms(struct relay *r, int ms)
{
	while (ms > 0 && !atomic_load(&r->stop)) {
		int step = ms < 100 ? ms : 100;
		struct timespec ts = {0, (long)step * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static const char *topic_of(const struct config *cfg, const char *stream)
{
	if (strcmp(stream, "jobs") == 0)
		return cfg->topic_jobs;
	if (strcmp(stream, "dlq") == 0)
		return cfg->topic_directory_events_dlq;
	return cfg->topic_events;
}

static void observe_lag(struct relay *r, double lag_ms)
{
	size_t b = 0;
	while (b < N_LAG && lag_ms > lag_buckets_ms[b])
		b++;
	atomic_fetch_add(&r->lag_bucket[b], 1);
	atomic_fetch_add(&r->lag_count, 1);
	atomic_fetch_add(&r->lag_sum_us, (unsigned long long)(lag_ms * 1000));
}

/* One batch: 1 when a full batch went out (look again at once), 0 when idle, -1 on failure. */
static int relay_once(struct relay *r)
{
	struct err e = {0};
	struct store_outbox_batch b;
	long long t0 = clock_monotonic_us();
	int rc = store_outbox_batch_begin(r->st, r->cfg->outbox_batch, &b, &e);
	if (rc) {
		log_write(LOG_WARN, "relay", "outbox_read_failed", e.msg, NULL, 0);
		return -1;
	}
	if (b.n == 0) {
		store_outbox_batch_end(r->st, &b, NULL, NULL);
		return 0;
	}
	struct bus_out *msgs = calloc(b.n, sizeof(*msgs));
	if (!msgs) {
		store_outbox_batch_end(r->st, &b, NULL, NULL);
		return -1;
	}
	for (size_t i = 0; i < b.n; i++) {
		msgs[i].topic = topic_of(r->cfg, b.rows[i].stream);
		msgs[i].key = b.rows[i].key;
		msgs[i].payload = b.rows[i].payload;
		msgs[i].len = b.rows[i].payload_len;
		msgs[i].headers_json = b.rows[i].headers_json;
	}
	long long t1 = clock_monotonic_us();
	int send_rc = bus_producer_send_batch(r->bp, msgs, b.n, 12000, &e);
	long long t2 = clock_monotonic_us();
	size_t ok = 0;
	for (size_t i = 0; i < b.n; i++) {
		b.rows[i].delivered = msgs[i].delivered != 0;
		ok += (size_t)msgs[i].delivered;
	}
	free(msgs);
	size_t n = b.n;
	if (send_rc)
		log_write(LOG_WARN, "relay", "publish_failed", e.msg,
			  (struct log_field[]){LOG_NUM("rows", n), LOG_NUM("delivered", ok)}, 2);
	double lag = 0;
	err_clear(&e);
	if (store_outbox_batch_end(r->st, &b, &lag, &e)) {
		/* Delivered but not marked: they go out again (consumers are idempotent). */
		log_write(LOG_WARN, "relay", "outbox_mark_failed", e.msg, NULL, 0);
		return -1;
	}
	long long t3 = clock_monotonic_us();
	atomic_fetch_add(&r->published, ok);
	if (ok)
		observe_lag(r, lag);
	log_write(LOG_DEBUG, "relay", "outbox_published", NULL,
		  (struct log_field[]){LOG_NUM("rows", ok), LOG_NUM("max_lag_ms", (long long)lag),
				       LOG_NUM("read_us", t1 - t0), LOG_NUM("send_us", t2 - t1),
				       LOG_NUM("mark_us", t3 - t2)},
		  5);
	if (send_rc) {
		atomic_fetch_add(&r->failed_batches, 1);
		return -1;
	}
	return n >= (size_t)r->cfg->outbox_batch ? 1 : 0;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	struct store_listen *l = NULL;
	struct err e = {0};
	if (store_listen_open(r->st, "gwsync_outbox", &l, &e))
		log_write(LOG_WARN, "relay", "listen_failed", e.msg, NULL, 0);
	/*
	 * Learn the relay's topics before the first row: otherwise the first message of each
	 * topic (a burst's first job, the first job.finished event) waits up to a second for
	 * librdkafka's scan of unknown topics, and every row behind it waits too. Bounded: with
	 * Kafka away the rows wait anyway, and librdkafka keeps asking by itself.
	 */
	const char *topics[] = {r->cfg->topic_jobs, r->cfg->topic_events,
				r->cfg->topic_directory_events_dlq};
	err_clear(&e);
	if (bus_producer_prepare(r->bp, topics, sizeof(topics) / sizeof(topics[0]), 2000, &e))
		log_write(LOG_WARN, "relay", "topics_prepare_failed", e.msg, NULL, 0);
	int failures = 0;
	while (!atomic_load(&r->stop)) {
		int got = relay_once(r);
		if (got > 0) {
			failures = 0;
			continue;
		}
		if (got < 0) {
			/* Back off up to 2 s while Kafka or PostgreSQL is away. */
			failures++;
			sleep_ms(r, failures < 4 ? 250 * failures : 2000);
			continue;
		}
		failures = 0;
		if (l)
			store_listen_wait(l, r->cfg->outbox_poll_ms < 200 ? r->cfg->outbox_poll_ms : 200,
					  NULL, NULL);
		else
			sleep_ms(r, r->cfg->outbox_poll_ms);
	}
	store_listen_free(l);
	return NULL;
}

int relay_start(const struct config *cfg, struct store *st, struct bus_producer *bp,
		struct relay **out, struct err *e)
{
	*out = NULL;
	struct relay *r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(e, E_NOMEM, "relay");
	r->cfg = cfg;
	r->st = st;
	r->bp = bp;
	if (pthread_create(&r->thread, NULL, relay_main, r)) {
		free(r);
		return err_set(e, E_INTERNAL, "relay thread");
	}
	*out = r;
	return E_OK;
}

void relay_stop(struct relay *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
	free(r);
}

void relay_metrics_render(struct relay *r, char *buf, size_t cap)
{
	size_t len = strlen(buf);
	int n = snprintf(buf + len, cap - len,
			 "# HELP gwsync_outbox_published_total Outbox rows the relay published.\n"
			 "# TYPE gwsync_outbox_published_total counter\n"
			 "gwsync_outbox_published_total %llu\n"
			 "# HELP gwsync_outbox_failed_batches_total Relay batches not fully "
			 "delivered.\n"
			 "# TYPE gwsync_outbox_failed_batches_total counter\n"
			 "gwsync_outbox_failed_batches_total %llu\n"
			 "# HELP gwsync_outbox_relay_lag_seconds Largest creation-to-publication "
			 "delay of each relayed batch.\n"
			 "# TYPE gwsync_outbox_relay_lag_seconds histogram\n",
			 atomic_load(&r->published), atomic_load(&r->failed_batches));
	if (n < 0 || (size_t)n >= cap - len)
		return;
	len += (size_t)n;
	unsigned long long cum = 0;
	for (size_t b = 0; b <= N_LAG; b++) {
		cum += atomic_load(&r->lag_bucket[b]);
		char le[32];
		if (b < N_LAG)
			snprintf(le, sizeof(le), "%g", lag_buckets_ms[b] / 1000.0);
		else
			snprintf(le, sizeof(le), "+Inf");
		n = snprintf(buf + len, cap - len,
			     "gwsync_outbox_relay_lag_seconds_bucket{le=\"%s\"} %llu\n", le, cum);
		if (n < 0 || (size_t)n >= cap - len)
			return;
		len += (size_t)n;
	}
	snprintf(buf + len, cap - len,
		 "gwsync_outbox_relay_lag_seconds_sum %.6f\n"
		 "gwsync_outbox_relay_lag_seconds_count %llu\n",
		 (double)atomic_load(&r->lag_sum_us) / 1e6, atomic_load(&r->lag_count));
}
