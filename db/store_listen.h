/*
 * store_listen — a dedicated PostgreSQL connection that LISTENs on one channel, outside the pool.
 *
 * Used by one thread at a time. The connection is opened at once when the database is up, and
 * again by store_listen_wait() whenever it was lost. Notifications sent while no connection
 * listened are gone: store_listen_session() changes with every new connection, so a caller that
 * must not miss any (a cache) can tell that it has to start over. Errors never escape: a lost
 * connection only shows as store_listen_up() == false.
 */
#ifndef GWSYNC_DB_STORE_LISTEN_H
#define GWSYNC_DB_STORE_LISTEN_H

#include <stdbool.h>

#include "err.h"
#include "store.h"

struct store_listen;

/* Called with each notification's payload (borrowed for the call). */
typedef void (*store_notify_fn)(void *arg, const char *payload);

/* channel is a plain identifier. Fails only when out of memory; the database may be down. */
int store_listen_open(struct store *st, const char *channel, struct store_listen **out,
		      struct err *e);

/*
 * Waits up to timeout_ms for notifications and hands each to fn (which may be NULL). Returns the
 * number received, 1 after a reconnection (some may have been missed), 0 when none came.
 */
int store_listen_wait(struct store_listen *l, int timeout_ms, store_notify_fn fn, void *arg);

/* True while the connection listens. */
bool store_listen_up(const struct store_listen *l);

/* Counts the connections that began listening: 0 before the first, +1 at each reconnection. */
unsigned long store_listen_session(const struct store_listen *l);

void store_listen_free(struct store_listen *l);

#endif
