/*
 * bus — gwsync's side of Kafka: one producer per process and the worker's consumer.
 *
 * Handles are thread-safe where librdkafka's are (the producer may be shared; a consumer is
 * polled by one thread). librdkafka's own log lines are routed into gwsync's log. Errors come back
 * as err codes: broker unreachable or timed out → E_UNAVAIL, unknown topic → E_NOTFOUND.
 */
#ifndef GWSYNC_BUS_H
#define GWSYNC_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct bus_producer;

/* Creates the idempotent producer (acks=all) from cfg; no broker needs to be up yet. */
int bus_producer_new(const struct config *cfg, struct bus_producer **out, struct err *e);

/* Flushes for at most timeout_ms, then frees; p may be NULL. */
void bus_producer_free(struct bus_producer *p, int timeout_ms);

/* Asks a broker for the metadata of topic within timeout_ms: E_OK when it answers and the topic exists. */
int bus_producer_check(struct bus_producer *p, const char *topic, int timeout_ms, struct err *e);

/*
 * Makes the n topics known to the producer for its whole life (their handles are kept; the names
 * are copied) and asks a broker for their metadata, waiting at most timeout_ms. librdkafka learns
 * a topic first named by a message only on its next periodic scan (up to a second later), and
 * that message waits for it; after this call the first message to each topic goes out at once.
 * E_OK when the broker answered for all of them; E_UNAVAIL when no broker answered in time;
 * E_NOTFOUND for a missing topic. On failure the handles are still kept, so librdkafka keeps
 * asking by itself and sending works as before. Any thread may call it (at most 8 topics).
 */
int bus_producer_prepare(struct bus_producer *p, const char *const *topics, size_t n,
			 int timeout_ms, struct err *e);

struct bus_producer_stats {
	int64_t queued;		/* messages waiting in librdkafka's queues */
	int all_brokers_down;	/* 1 after librdkafka said so, until a broker answers again */
};
void bus_producer_stats_get(struct bus_producer *p, struct bus_producer_stats *out);

/* One message for bus_producer_send_batch(); fields borrowed for the call. */
struct bus_out {
	const char *topic;
	const char *key;
	const void *payload;
	size_t len;
	const char *headers_json; /* JSON object of string values, or NULL */
	int delivered;		  /* out: 1 when the broker acknowledged it (acks=all) */
};

/*
 * Produces n messages and waits (at most timeout_ms) for their delivery reports; sets each
 * message's delivered. E_OK when all were delivered, E_UNAVAIL when some were not (they are given
 * up, never left queued: the caller sends them again later). Any thread may call it.
 */
int bus_producer_send_batch(struct bus_producer *p, struct bus_out *msgs, size_t n,
			    int timeout_ms, struct err *e);

struct bus_consumer;

/* Joins cfg's consumer group and subscribes to the n topics (names copied). Offsets are committed only by bus_consumer_commit(). */
int bus_consumer_new(const struct config *cfg, const char *const *topics, size_t n,
		     struct bus_consumer **out, struct err *e);

/* A received message; borrowed from the consumer until bus_message_release(). */
struct bus_message {
	const char *topic;
	int32_t partition;
	int64_t offset;
	const char *key; /* not NUL-terminated */
	size_t key_len;
	const char *payload; /* not NUL-terminated */
	size_t len;
	void *internal;
};

/*
 * Waits up to timeout_ms for a message. E_OK with *msg filled; E_NOTFOUND when none arrived (or
 * only an informational event did); another code for a consumer error (logged by the caller).
 */
int bus_consumer_poll(struct bus_consumer *c, int timeout_ms, struct bus_message *msg,
		      struct err *e);
void bus_message_release(struct bus_message *msg);

/*
 * Marks msg handled: its offset is stored and committed by librdkafka within a second and on
 * close. Nothing is committed that was not marked; a crash before the commit only means the
 * message is seen again, which every handler tolerates.
 */
int bus_consumer_commit(struct bus_consumer *c, const struct bus_message *msg, struct err *e);

/* Like bus_producer_check, through the consumer's connection (the worker's readiness). */
int bus_consumer_check(struct bus_consumer *c, const char *topic, int timeout_ms, struct err *e);

/*
 * Messages behind in the partitions assigned to this consumer: the sum of (high watermark -
 * position) from librdkafka's cached offsets (no broker round trip); *partitions counts the
 * partitions with known offsets. Any thread. E_UNAVAIL when the assignment cannot be read.
 */
int bus_consumer_lag(struct bus_consumer *c, int64_t *lag, int *partitions);

/* Leaves the group (revoking partitions) and frees; c may be NULL. */
void bus_consumer_close(struct bus_consumer *c);

/* ---- envelopes (bus_envelope.c) ---- */

#define BUS_ID_MAX 36

/* Reads a jobs message ({"job_id": uuid, ...}) into job_id; E_INVAL when it names no job. */
int bus_job_message_parse(const char *payload, size_t len, char job_id[BUS_ID_MAX + 1],
			  struct err *e);

/*
 * A directory event (CloudEvents 1.0, structured JSON mode) decoded and checked. Every string is
 * owned (bus_dir_event_cleanup() frees them); NULL when the event does not carry it.
 */
struct bus_dir_event {
	char *id, *source, *type, *tenant, *subject, *time;
	/* data: users (id, email, names, state, optional attributes) */
	char *user_id, *email, *first_name, *last_name, *state;
	char *alternate_email, *manager_id, *cost_center, *department, *employee_type, *job_title,
		*employee_id, *company, *location;
	char *addresses_json, *phones_json;
	/* data: groups and bindings */
	char *group_id, *group_name, *group_description, *group_email, *integration_id;
};

/*
 * Decodes payload into *ev. On E_INVAL e->reason is a stable slug (malformed_json,
 * not_a_cloudevent, unsupported_specversion, unknown_type, invalid_data, password_not_allowed,
 * unknown_content_type) and e->msg says what is wrong; the event belongs in the dead-letter topic.
 * *ev must be cleaned up in every case.
 */
int bus_dir_event_decode(const char *payload, size_t len, struct bus_dir_event *ev, struct err *e);
void bus_dir_event_cleanup(struct bus_dir_event *ev);

#endif
