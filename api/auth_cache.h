/*
 * auth_cache — remembers, for a few seconds, which principal an API key hash belongs to, so that
 * a busy client does not cost a database round trip per request for authentication alone.
 *
 * An entry lives ttl_ms from the database check that filled it: callers put only what they just
 * read from the database, never a hit again, so a revocation through another replica takes effect
 * within the TTL even for a key in continuous use. One through this process takes effect at once
 * (auth_cache_forget_key). Thread-safe (one mutex; entries are small and lookups short).
 * Owned by the API server: auth_cache_new/_free.
 */
#ifndef GWSYNC_API_AUTH_CACHE_H
#define GWSYNC_API_AUTH_CACHE_H

#include <stdbool.h>

#include "store.h"

struct auth_cache;

/* ttl_ms 0 disables caching (every lookup misses). NULL when out of memory. */
struct auth_cache *auth_cache_new(int ttl_ms);
void auth_cache_free(struct auth_cache *c);

/* Copies the cached key for this hash into *out; false when absent or expired. */
bool auth_cache_get(struct auth_cache *c, const char *key_hash, struct store_api_key *out);
/* Remembers k for ttl_ms from now; call only with what the database just answered. */
void auth_cache_put(struct auth_cache *c, const char *key_hash, const struct store_api_key *k);
/* Drops every entry of the key with this id (after a revocation). */
void auth_cache_forget_key(struct auth_cache *c, const char *key_id);

#endif
