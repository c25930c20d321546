/*
 * read_cache — answers of the API's cacheable GET routes (the integration settings and the
 * directory replica), kept per tenant in this process so that repeated reads skip PostgreSQL.
 *
 * Freshness: every table those answers come from carries a trigger that NOTIFYs gwsync_changes
 * with the tenant at commit (db/migrations/0005). A thread of the cache LISTENs and bumps that
 * tenant's generation; answers of an older generation are never served. Writes through this
 * process bump it themselves before they answer, so a client reads its own writes at once; other
 * replicas' and the worker's writes are seen as soon as the notification arrives (milliseconds).
 * While the LISTEN connection is down nothing is served, and everything is dropped when it comes
 * back (notifications may have been lost). An answer is also never older than max_age_ms.
 *
 * A miss hands the caller a ticket, taken before it reads the database, and the caller stores its
 * answer with that ticket: a change that commits in between makes the ticket stale, so a racing
 * read can never store old data as new. Misses on one key coalesce: the first caller fills it,
 * the others wait (briefly) for that answer instead of all asking PostgreSQL the same question at
 * once — as happens to a hot answer when its tenant changes or it ages out.
 *
 * Thread-safe. Memory is bounded by max_bytes (older entries are evicted). Owned by the API
 * server: read_cache_new/_free; read_cache_get hands out a counted reference, so an answer is
 * written to the socket without copying and outlives its eviction until released.
 */
#ifndef GWSYNC_API_READ_CACHE_H
#define GWSYNC_API_READ_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

struct read_cache;

struct read_cache_fill;

/* What a miss hands out; give it back with read_cache_put() (exactly once). */
struct read_cache_ticket {
	uint64_t epoch, generation;
	long long taken_ms;
	bool usable;		     /* false while the cache is off or not listening */
	struct read_cache_fill *fill; /* set when this caller fills the key for others */
};

/* A cached answer, shared: valid until read_cache_release(), even if dropped meanwhile. */
struct read_cache_answer {
	const char *body; /* NUL-terminated */
	size_t len;
	const char *etag;
};

struct read_cache_stats {
	unsigned long long hits, misses, coalesced, evictions, invalidations;
	size_t bytes, entries;
	bool listening;
};

/* max_bytes 0 turns the cache off (every lookup misses). NULL when out of memory. */
struct read_cache *read_cache_new(size_t max_bytes, int max_age_ms);

/*
 * Starts the thread that LISTENs for changes (st is borrowed and must outlive the cache). Until
 * it listens, the cache serves nothing. A cache that is never started never serves anything.
 */
int read_cache_start(struct read_cache *c, struct store *st, struct err *e);

/* Stops the thread (if started) and frees everything. */
void read_cache_free(struct read_cache *c);

/*
 * The fresh answer for (tenant_id, key): a reference to give back with read_cache_release(). NULL
 * on a miss, with *t set: read the database, then call read_cache_put() with it.
 */
const struct read_cache_answer *read_cache_get(struct read_cache *c, const char *tenant_id,
					       const char *key, struct read_cache_ticket *t);
void read_cache_release(const struct read_cache_answer *a);

/*
 * Ends a miss: keeps a copy of the answer (body NULL: nothing to keep, e.g. an error) unless the
 * ticket went stale, and wakes the requests that waited for it.
 */
void read_cache_put(struct read_cache *c, const struct read_cache_ticket *t,
		    const char *tenant_id, const char *key, const char *body, size_t len,
		    const char *etag);

/* Drops every answer of the tenant (its data changed). */
void read_cache_invalidate(struct read_cache *c, const char *tenant_id);

/* For tests and for the listener thread: act as if listening (or not) began just now. */
void read_cache_set_listening(struct read_cache *c, bool listening);

void read_cache_stats_get(struct read_cache *c, struct read_cache_stats *out);

#endif
