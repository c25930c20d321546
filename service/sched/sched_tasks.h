/*
 * sched — the api role's background work: the outbox relay and the periodic scheduler.
 *
 * relay: one thread per api process publishes outbox rows to Kafka (idempotent producer,
 * acks=all, key = integration id) and marks them published in the same transaction that locked
 * them (FOR UPDATE SKIP LOCKED, so replicas share the work without publishing a row twice). It
 * wakes on the outbox's NOTIFY, or every GWSYNC_OUTBOX_POLL_MS. While Kafka is down rows wait in
 * PostgreSQL; nothing piles up in memory.
 *
 * scheduler: one thread per api process runs store_sched_tick() every
 * GWSYNC_SCHEDULER_INTERVAL_MS; an advisory lock lets one replica at a time do a tick.
 *
 * Both borrow cfg, st and bp, which must outlive them; _stop joins the thread (bounded by the
 * poll interval plus one Kafka delivery timeout).
 */
#ifndef GWSYNC_SCHED_H
#define GWSYNC_SCHED_H

#include <stddef.h>

#include "bus.h"
#include "config.h"
#include "err.h"
#include "store.h"

struct relay;
int relay_start(const struct config *cfg, struct store *st, struct bus_producer *bp,
		struct relay **out, struct err *e);
void relay_stop(struct relay *r);

/*
 * Appends the relay's Prometheus metrics (published and failed counts, lag histogram) to buf
 * (NUL-terminated, cap bytes). Any thread.
 */
void relay_metrics_render(struct relay *r, char *buf, size_t cap);

struct scheduler;
int scheduler_start(const struct config *cfg, struct store *st, struct scheduler **out,
		    struct err *e);
void scheduler_stop(struct scheduler *s);

#endif
