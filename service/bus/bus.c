#include "bus.h"

#include <json-c/json.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"

#define BUS_PRODUCER_TOPICS_MAX 8

struct bus_producer {
	rd_kafka_t *rk;
	atomic_int all_brokers_down;
	/* Topic handles held for the producer's life (bus_producer_prepare): known topics. */
	pthread_mutex_t topics_mu;
	rd_kafka_topic_t *topics[BUS_PRODUCER_TOPICS_MAX];
	size_t n_topics;
};

struct bus_consumer {
	rd_kafka_t *rk;
};

static void bus_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	enum log_level lvl = level <= 3 ? LOG_ERROR : level <= 4 ? LOG_WARN
				     : level <= 6		 ? LOG_INFO
							 : LOG_DEBUG;
	log_write(lvl, "kafka", "rdkafka_log", buf, (struct log_field[]){LOG_STR("facility", fac)}, 1);
}

static void producer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	struct bus_producer *p = opaque;
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		atomic_store(&p->all_brokers_down, 1);
	log_write(LOG_WARN, "kafka", "kafka_error", reason,
		  (struct log_field[]){LOG_STR("err", rd_kafka_err2name((rd_kafka_resp_err_t)err))},
		  1);
}

/* Delivery report: the message's opaque points at an atomic_int of the waiting batch. */
static void producer_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	atomic_int *state = m->_private;
	if (state)
		atomic_store(state, m->err ? -1 : 1);
}

static void consumer_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	(void)rk;
	(void)opaque;
	log_write(LOG_WARN, "kafka", "kafka_error", reason,
		  (struct log_field[]){LOG_STR("err", rd_kafka_err2name((rd_kafka_resp_err_t)err))},
		  1);
}

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, struct err *e)
{
	char why[256];
	if (rd_kafka_conf_set(conf, key, value, why, sizeof(why)) != RD_KAFKA_CONF_OK)
		return err_set(e, E_INVAL, "kafka property %s: %s", key, why);
	return E_OK;
}

/* Common settings first, then the operator's GWSYNC_KAFKA_X_* so they can override them. */
static rd_kafka_conf_t *conf_build(const struct config *cfg, const char *const *extra,
				   struct err *e)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	int rc = conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, e);
	/* Come back quickly after a broker restart; librdkafka's default waits up to 10 s. */
	if (!rc)
		rc = conf_set(conf, "reconnect.backoff.max.ms", "1000", e);
	for (size_t i = 0; !rc && extra[i]; i += 2)
		rc = conf_set(conf, extra[i], extra[i + 1], e);
	for (size_t i = 0; !rc && i < cfg->n_kafka_props; i++)
		rc = conf_set(conf, cfg->kafka_props[i].key, cfg->kafka_props[i].value, e);
	if (rc) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_log_cb(conf, bus_log_cb);
	return conf;
}

int bus_producer_new(const struct config *cfg, struct bus_producer **out, struct err *e)
{
	*out = NULL;
	struct bus_producer *p = calloc(1, sizeof(*p));
	if (!p)
		return err_set(e, E_NOMEM, "producer");
	pthread_mutex_init(&p->topics_mu, NULL);
	/*
	 * Undelivered messages give up after message.timeout.ms: the outbox still holds them and
	 * the relay sends them again, so nothing piles up in librdkafka during an outage.
	 */
	static const char *const extra[] = {"client.id", "gwsync", "enable.idempotence", "true",
					    "acks", "all", "linger.ms", "2",
					    "message.timeout.ms", "10000", NULL};
	rd_kafka_conf_t *conf = conf_build(cfg, extra, e);
	if (!conf) {
		pthread_mutex_destroy(&p->topics_mu);
		free(p);
		return e ? e->code : E_INVAL;
	}
	rd_kafka_conf_set_error_cb(conf, producer_error_cb);
	rd_kafka_conf_set_dr_msg_cb(conf, producer_dr_cb);
	rd_kafka_conf_set_opaque(conf, p);
	char why[256];
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof(why));
	if (!p->rk) {
		rd_kafka_conf_destroy(conf);
		pthread_mutex_destroy(&p->topics_mu);
		free(p);
		return err_set(e, E_INVAL, "kafka producer: %s", why);
	}
	conf = NULL; /* now owned by rk */
	*out = p;
	return E_OK;
}

void bus_producer_free(struct bus_producer *p, int timeout_ms)
{
	if (!p)
		return;
	rd_kafka_flush(p->rk, timeout_ms);
	for (size_t i = 0; i < p->n_topics; i++)
		rd_kafka_topic_destroy(p->topics[i]);
	rd_kafka_destroy(p->rk);
	pthread_mutex_destroy(&p->topics_mu);
	free(p);
}

int bus_producer_prepare(struct bus_producer *p, const char *const *topics, size_t n,
			 int timeout_ms, struct err *e)
{
	int rc = E_OK;
	pthread_mutex_lock(&p->topics_mu);
	for (size_t i = 0; !rc && i < n; i++) {
		size_t j = 0;
		while (j < p->n_topics && strcmp(rd_kafka_topic_name(p->topics[j]), topics[i]) != 0)
			j++;
		if (j < p->n_topics)
			continue;
		if (p->n_topics == BUS_PRODUCER_TOPICS_MAX) {
			rc = err_set(e, E_INVAL, "kafka: more than %d topics",
				     BUS_PRODUCER_TOPICS_MAX);
			break;
		}
		rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topics[i], NULL);
		if (!rkt)
			rc = err_set(e, E_INTERNAL, "kafka topic handle %s", topics[i]);
		else
			p->topics[p->n_topics++] = rkt;
	}
	pthread_mutex_unlock(&p->topics_mu);
	if (rc)
		return rc;
	/*
	 * One request for every locally known topic: the answer fills the partitions and leaders
	 * of the handles above, so the first message to a topic goes out at once instead of waiting
	 * for librdkafka's periodic scan of unknown topics (up to a second).
	 */
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(p->rk, 0, NULL, &md, timeout_ms);
	if (err)
		return err_set(e, E_UNAVAIL, "kafka unreachable: %s", rd_kafka_err2str(err));
	for (int i = 0; !rc && i < md->topic_cnt; i++) {
		if (md->topics[i].err)
			rc = err_set(e, E_NOTFOUND, "kafka topic %s: %s", md->topics[i].topic,
				     rd_kafka_err2str(md->topics[i].err));
	}
	if (!rc)
		atomic_store(&p->all_brokers_down, 0);
	rd_kafka_metadata_destroy(md);
	return rc;
}

/* Asks a broker for topic's metadata through rk (any handle: producer or consumer). */
static int topic_check(rd_kafka_t *rk, const char *topic, int timeout_ms, struct err *e)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	if (!rkt)
		return err_set(e, E_INTERNAL, "kafka topic handle");
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
	int rc = E_OK;
	if (err) {
		rc = err_set(e, E_UNAVAIL, "kafka unreachable: %s", rd_kafka_err2str(err));
	} else if (md->topic_cnt != 1 || md->topics[0].err) {
		rc = err_set(e, E_NOTFOUND, "kafka topic %s: %s", topic,
			     md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "missing");
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return rc;
}

int bus_producer_check(struct bus_producer *p, const char *topic, int timeout_ms, struct err *e)
{
	int rc = topic_check(p->rk, topic, timeout_ms, e);
	if (rc == E_OK)
		atomic_store(&p->all_brokers_down, 0);
	return rc;
}

int bus_consumer_check(struct bus_consumer *c, const char *topic, int timeout_ms, struct err *e)
{
	return topic_check(c->rk, topic, timeout_ms, e);
}

int bus_consumer_lag(struct bus_consumer *c, int64_t *lag, int *partitions)
{
	*lag = 0;
	*partitions = 0;
	rd_kafka_topic_partition_list_t *parts = NULL;
	if (rd_kafka_assignment(c->rk, &parts) || !parts)
		return E_UNAVAIL;
	int rc = E_OK;
	if (parts->cnt && rd_kafka_position(c->rk, parts))
		rc = E_UNAVAIL;
	for (int i = 0; rc == E_OK && i < parts->cnt; i++) {
		const rd_kafka_topic_partition_t *tp = &parts->elems[i];
		int64_t low = 0, high = 0;
		/* Cached by the fetcher: no broker round trip on the scrape's thread. */
		if (rd_kafka_get_watermark_offsets(c->rk, tp->topic, tp->partition, &low, &high))
			continue;
		/* No position yet (nothing fetched since the assignment): left out. */
		if (tp->offset < 0)
			continue;
		if (high > tp->offset)
			*lag += high - tp->offset;
		(*partitions)++;
	}
	rd_kafka_topic_partition_list_destroy(parts);
	return rc;
}

void bus_producer_stats_get(struct bus_producer *p, struct bus_producer_stats *out)
{
	out->queued = rd_kafka_outq_len(p->rk);
	out->all_brokers_down = atomic_load(&p->all_brokers_down);
}

static rd_kafka_headers_t *headers_from_json(const char *text)
{
	if (!text || !*text || strcmp(text, "{}") == 0)
		return NULL;
	json_object *jo = json_tokener_parse(text);
	if (!jo || !json_object_is_type(jo, json_type_object)) {
		json_object_put(jo);
		return NULL;
	}
	rd_kafka_headers_t *h = rd_kafka_headers_new((size_t)json_object_object_length(jo));
	json_object_object_foreach(jo, key, val)
	{
		const char *v = json_object_get_string(val);
		rd_kafka_header_add(h, key, -1, v, -1);
	}
	json_object_put(jo);
	return h;
}

int bus_producer_send_batch(struct bus_producer *p, struct bus_out *msgs, size_t n,
			    int timeout_ms, struct err *e)
{
	atomic_int *state = calloc(n ? n : 1, sizeof(*state));
	if (!state)
		return err_set(e, E_NOMEM, "send batch");
	size_t pending = 0;
	rd_kafka_resp_err_t first = RD_KAFKA_RESP_ERR_NO_ERROR;
	for (size_t i = 0; i < n; i++) {
		msgs[i].delivered = 0;
		rd_kafka_headers_t *h = headers_from_json(msgs[i].headers_json);
		rd_kafka_resp_err_t err;
		for (int tries = 0;; tries++) {
			err = rd_kafka_producev(
				p->rk, RD_KAFKA_V_TOPIC(msgs[i].topic),
				RD_KAFKA_V_KEY(msgs[i].key, strlen(msgs[i].key)),
				RD_KAFKA_V_VALUE((void *)msgs[i].payload, msgs[i].len),
				RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				RD_KAFKA_V_OPAQUE(&state[i]), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
			if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries > 50)
				break;
			rd_kafka_poll(p->rk, 20);
		}
		if (err) {
			rd_kafka_headers_destroy(h); /* not taken on failure */
			atomic_store(&state[i], -1);
			if (!first)
				first = err;
			continue;
		}
		h = NULL; /* now owned by the message */
		pending++;
	}
	int64_t deadline = clock_monotonic_ms() + timeout_ms;
	size_t done = 0;
	while (pending) {
		done = 0;
		for (size_t i = 0; i < n; i++)
			done += atomic_load(&state[i]) != 0;
		if (done == n)
			break;
		int64_t left = deadline - clock_monotonic_ms();
		if (left <= 0)
			break;
		rd_kafka_poll(p->rk, left < 50 ? (int)left : 50);
	}
	if (done < n && pending) {
		/* Give up what is still queued; the caller resends from the outbox. */
		rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(p->rk, 0);
	}
	size_t ok = 0;
	for (size_t i = 0; i < n; i++) {
		msgs[i].delivered = atomic_load(&state[i]) == 1;
		ok += (size_t)msgs[i].delivered;
	}
	/* Reports of purged messages still point at state: wait until librdkafka let go. */
	while (rd_kafka_outq_len(p->rk) > 0 && clock_monotonic_ms() < deadline + 5000)
		rd_kafka_poll(p->rk, 10);
	if (rd_kafka_outq_len(p->rk) == 0)
		free(state);
	else /* a report may still arrive: keeping a few bytes beats writing freed memory */
		log_write(LOG_WARN, "kafka", "producer_queue_stuck", NULL, NULL, 0);
	if (ok == n)
		return E_OK;
	return err_set(e, E_UNAVAIL, "kafka: %zu of %zu messages not delivered%s%s", n - ok, n,
		       first ? ": " : "", first ? rd_kafka_err2str(first) : "");
}

int bus_consumer_new(const struct config *cfg, const char *const *topics, size_t n,
		     struct bus_consumer **out, struct err *e)
{
	*out = NULL;
	/*
	 * At least once: an offset is stored only after its message was handled
	 * (bus_consumer_commit) and librdkafka commits the stored offsets every second and on close.
	 */
	/*
	 * A dead worker keeps its partitions until the group's session timeout drops it: librdkafka's
	 * 45 s default stalled its jobs that long, so the session and heartbeat are settings.
	 */
	char session[16], heartbeat[16];
	snprintf(session, sizeof(session), "%d", cfg->kafka_session_timeout_ms);
	snprintf(heartbeat, sizeof(heartbeat), "%d",
		 cfg->kafka_heartbeat_ms > 0 ? cfg->kafka_heartbeat_ms
					     : cfg->kafka_session_timeout_ms / 3);
	const char *const extra[] = {"client.id", "gwsync-worker", "group.id", cfg->kafka_group,
				     "enable.auto.offset.store", "false", "auto.commit.interval.ms",
				     "1000",
				     "enable.auto.commit", "true", "auto.offset.reset",
				     "earliest", "session.timeout.ms", session,
				     "heartbeat.interval.ms", heartbeat, NULL};
	rd_kafka_conf_t *conf = conf_build(cfg, extra, e);
	if (!conf)
		return e ? e->code : E_INVAL;
	rd_kafka_conf_set_error_cb(conf, consumer_error_cb);
	struct bus_consumer *c = calloc(1, sizeof(*c));
	if (!c) {
		rd_kafka_conf_destroy(conf);
		return err_set(e, E_NOMEM, "consumer");
	}
	char why[256];
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof(why));
	if (!c->rk) {
		rd_kafka_conf_destroy(conf);
		free(c);
		return err_set(e, E_INVAL, "kafka consumer: %s", why);
	}
	conf = NULL; /* now owned by rk */
	rd_kafka_poll_set_consumer(c->rk);
	rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new((int)n);
	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
	rd_kafka_resp_err_t err = rd_kafka_subscribe(c->rk, subs);
	rd_kafka_topic_partition_list_destroy(subs);
	if (err) {
		rd_kafka_destroy(c->rk);
		free(c);
		return err_set(e, E_UNAVAIL, "kafka subscribe: %s", rd_kafka_err2str(err));
	}
	*out = c;
	return E_OK;
}

int bus_consumer_poll(struct bus_consumer *c, int timeout_ms, struct bus_message *msg,
		      struct err *e)
{
	memset(msg, 0, sizeof(*msg));
	rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
	if (!m)
		return E_NOTFOUND;
	if (m->err) {
		int rc = m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF
				 ? E_NOTFOUND
				 : err_set(e, E_UNAVAIL, "kafka consume: %s",
					   rd_kafka_message_errstr(m));
		rd_kafka_message_destroy(m);
		return rc;
	}
	msg->topic = rd_kafka_topic_name(m->rkt);
	msg->partition = m->partition;
	msg->offset = m->offset;
	msg->key = m->key;
	msg->key_len = m->key_len;
	msg->payload = m->payload;
	msg->len = m->len;
	msg->internal = m;
	return E_OK;
}

void bus_message_release(struct bus_message *msg)
{
	if (msg->internal)
		rd_kafka_message_destroy(msg->internal);
	memset(msg, 0, sizeof(*msg));
}

int bus_consumer_commit(struct bus_consumer *c, const struct bus_message *msg, struct err *e)
{
	(void)c;
	const rd_kafka_message_t *m = msg->internal;
	rd_kafka_resp_err_t err = rd_kafka_offset_store(m->rkt, m->partition, m->offset);
	if (err)
		return err_set(e, E_UNAVAIL, "kafka commit: %s", rd_kafka_err2str(err));
	return E_OK;
}

void bus_consumer_close(struct bus_consumer *c)
{
	if (!c)
		return;
	rd_kafka_consumer_close(c->rk);
	rd_kafka_destroy(c->rk);
	free(c);
}
