/*
 * auth_cache — remembers, for a few seconds, which principal an API key hash belongs to, so that
 * a busy client does not cost a database round trip per request for authentication alone.
 *
 * A revocation through this process takes effect at once (auth_cache_forget_key); one through
 * another replica within the TTL. Thread-safe (one mutex; entries are small and lookups short).
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
void auth_cache_put(struct auth_cache *c, const char *key_hash, const struct store_api_key *k);
/* Drops every entry of the key with this id (after a revocation). */
void auth_cache_forget_key(struct auth_cache *c, const char *key_id);

#endif
