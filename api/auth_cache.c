#include "auth_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

#define AUTH_CACHE_SLOTS 1024 /* direct-mapped by hash prefix; a collision just evicts */

struct slot {
	char key_hash[65];
	struct store_api_key key;
	long long expires_ms;
};

struct auth_cache {
	pthread_mutex_t mu;
	int ttl_ms;
	struct slot slots[AUTH_CACHE_SLOTS];
};

static size_t slot_of(const char *key_hash)
{
	/* The hash is SHA-256 hex: its first digits are already uniformly spread. */
	size_t v = 0;
	for (int i = 0; i < 6 && key_hash[i]; i++)
		v = v * 16 + (size_t)(key_hash[i] <= '9' ? key_hash[i] - '0' : key_hash[i] - 'a' + 10);
	return v % AUTH_CACHE_SLOTS;
}

struct auth_cache *auth_cache_new(int ttl_ms)
{
	struct auth_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	c->ttl_ms = ttl_ms;
	return c;
}

void auth_cache_free(struct auth_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c);
}

bool auth_cache_get(struct auth_cache *c, const char *key_hash, struct store_api_key *out)
{
	if (c->ttl_ms <= 0)
		return false;
	struct slot *s = &c->slots[slot_of(key_hash)];
	bool hit = false;
	pthread_mutex_lock(&c->mu);
	if (s->expires_ms > clock_monotonic_ms() && strcmp(s->key_hash, key_hash) == 0) {
		*out = s->key;
		hit = true;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void auth_cache_put(struct auth_cache *c, const char *key_hash, const struct store_api_key *k)
{
	if (c->ttl_ms <= 0)
		return;
	struct slot *s = &c->slots[slot_of(key_hash)];
	pthread_mutex_lock(&c->mu);
	memcpy(s->key_hash, key_hash, sizeof(s->key_hash));
	s->key_hash[64] = '\0';
	s->key = *k;
	s->expires_ms = clock_monotonic_ms() + c->ttl_ms;
	pthread_mutex_unlock(&c->mu);
}

void auth_cache_forget_key(struct auth_cache *c, const char *key_id)
{
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < AUTH_CACHE_SLOTS; i++) {
		if (c->slots[i].expires_ms && strcmp(c->slots[i].key.id, key_id) == 0)
			c->slots[i].expires_ms = 0;
	}
	pthread_mutex_unlock(&c->mu);
}
