#include "read_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "store_listen.h"

#define BUCKETS 4096
#define STRIPES 64
/* Tenants share a generation when their names hash alike: a change then drops both (harmless). */
#define GENERATIONS 4096
#define LISTEN_WAIT_MS 200
/* How long a miss waits for another request filling the same key before asking itself. */
#define FILL_WAIT_MS 1000

struct entry {
	struct read_cache_answer answer; /* first: read_cache_release() gets back to the entry */
	atomic_int refs;		 /* the table's one, and one per answer handed out */
	struct entry *next;
	uint64_t hash;
	uint64_t epoch, generation;
	long long born_ms;
	size_t len, size;
	char etag[40];
	char *key;  /* tenant, '\n', the caller's key: points into data */
	char *body; /* points into data */
	char data[];
};

/* A key being read from the database by one request, for the others that miss it meanwhile. */
struct read_cache_fill {
	struct read_cache_fill *next;
	uint64_t hash;
	int waiters; /* the last one out frees a finished fill */
	bool done;
	char key[]; /* tenant, '\n', the caller's key */
};

struct stripe {
	pthread_mutex_t mu;
	pthread_cond_t filled;
	struct read_cache_fill *fills;
};

struct read_cache {
	size_t max_bytes;
	int max_age_ms;
	struct stripe stripe[STRIPES];
	struct entry *bucket[BUCKETS];
	atomic_size_t bytes, entries, evict_hand;
	atomic_uint_least64_t epoch;
	atomic_uint_least64_t generation[GENERATIONS];
	atomic_bool listening;
	atomic_ullong hits, misses, coalesced, evictions, invalidations;

	struct store *st;
	pthread_t thread;
	bool started;
	atomic_bool stop;
};

/* FNV-1a over a, a separator and b (b may be NULL). */
static uint64_t hash_of(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = a; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	h = (h ^ '\n') * 1099511628211ULL;
	for (const char *p = b; p && *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	return h;
}

static atomic_uint_least64_t *generation_of(struct read_cache *c, const char *tenant_id)
{
	return &c->generation[hash_of(tenant_id, NULL) % GENERATIONS];
}

struct read_cache *read_cache_new(size_t max_bytes, int max_age_ms)
{
	struct read_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->max_bytes = max_bytes;
	c->max_age_ms = max_age_ms;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (size_t i = 0; i < STRIPES; i++) {
		pthread_mutex_init(&c->stripe[i].mu, NULL);
		pthread_cond_init(&c->stripe[i].filled, &ca);
	}
	pthread_condattr_destroy(&ca);
	return c;
}

void read_cache_release(const struct read_cache_answer *a)
{
	struct entry *en = (struct entry *)a;
	if (en && atomic_fetch_sub(&en->refs, 1) == 1)
		free(en);
}

static void entry_unlink_free(struct read_cache *c, struct entry **link)
{
	struct entry *victim = *link;
	*link = victim->next;
	atomic_fetch_sub(&c->bytes, victim->size);
	atomic_fetch_sub(&c->entries, 1);
	read_cache_release(&victim->answer);
}

static void on_change(void *arg, const char *tenant_id)
{
	read_cache_invalidate(arg, tenant_id);
}

static void *listen_main(void *arg)
{
	struct read_cache *c = arg;
	struct store_listen *l = NULL;
	struct err e = {0};
	if (store_listen_open(c->st, "gwsync_changes", &l, &e)) {
		log_write(LOG_ERROR, "api", "read_cache_listen_failed", e.msg, NULL, 0);
		return NULL;
	}
	unsigned long seen = 0;
	while (!atomic_load(&c->stop)) {
		if (store_listen_session(l) != seen) {
			seen = store_listen_session(l);
			read_cache_set_listening(c, true);
		}
		store_listen_wait(l, LISTEN_WAIT_MS, on_change, c);
		if (!store_listen_up(l) && atomic_load(&c->listening)) {
			log_write(LOG_WARN, "api", "read_cache_paused",
				  "lost the database notifications; reads go to the database", NULL, 0);
			read_cache_set_listening(c, false);
		}
	}
	store_listen_free(l);
	return NULL;
}

int read_cache_start(struct read_cache *c, struct store *st, struct err *e)
{
	if (c->max_bytes == 0)
		return E_OK;
	c->st = st;
	if (pthread_create(&c->thread, NULL, listen_main, c))
		return err_set(e, E_INTERNAL, "read cache thread");
	c->started = true;
	return E_OK;
}

void read_cache_free(struct read_cache *c)
{
	if (!c)
		return;
	if (c->started) {
		atomic_store(&c->stop, true);
		pthread_join(c->thread, NULL);
	}
	for (size_t i = 0; i < BUCKETS; i++) {
		while (c->bucket[i])
			entry_unlink_free(c, &c->bucket[i]);
	}
	for (size_t i = 0; i < STRIPES; i++) {
		pthread_mutex_destroy(&c->stripe[i].mu);
		pthread_cond_destroy(&c->stripe[i].filled);
	}
	free(c);
}

void read_cache_set_listening(struct read_cache *c, bool listening)
{
	/* A new epoch first: nothing stored before this moment is trusted again. */
	atomic_fetch_add(&c->epoch, 1);
	atomic_store(&c->listening, listening);
}

static bool fresh(struct read_cache *c, const struct entry *en, const char *tenant_id)
{
	return atomic_load(&c->listening) && en->epoch == atomic_load(&c->epoch) &&
	       en->generation == atomic_load(generation_of(c, tenant_id)) &&
	       clock_monotonic_ms() - en->born_ms <= c->max_age_ms;
}

/* Writes "tenant\nkey" into dst (room for tl + 1 + kl + 1); returns the byte after it. */
static char *write_key(char *dst, const char *tenant_id, size_t tl, const char *key, size_t kl)
{
	memcpy(dst, tenant_id, tl);
	dst[tl] = '\n';
	memcpy(dst + tl + 1, key, kl + 1);
	return dst + tl + 1 + kl + 1;
}

/* Whether full ("tenant\nkey") names the pair. */
static bool same_key(const char *full, const char *tenant_id, size_t tl, const char *key)
{
	return strncmp(full, tenant_id, tl) == 0 && full[tl] == '\n' && strcmp(full + tl + 1, key) == 0;
}

static struct entry **find(struct read_cache *c, uint64_t h, const char *tenant_id,
			   const char *key)
{
	size_t tl = strlen(tenant_id);
	struct entry **link = &c->bucket[h % BUCKETS];
	for (; *link; link = &(*link)->next) {
		if ((*link)->hash == h && same_key((*link)->key, tenant_id, tl, key))
			return link;
	}
	return NULL;
}

static struct read_cache_fill *find_fill(struct stripe *sp, uint64_t h, const char *tenant_id,
					 const char *key)
{
	size_t tl = strlen(tenant_id);
	for (struct read_cache_fill *f = sp->fills; f; f = f->next) {
		if (f->hash == h && same_key(f->key, tenant_id, tl, key))
			return f;
	}
	return NULL;
}

static struct stripe *stripe_of(struct read_cache *c, uint64_t h)
{
	return &c->stripe[h % BUCKETS % STRIPES];
}

static struct read_cache_ticket ticket_now(struct read_cache *c, const char *tenant_id)
{
	struct read_cache_ticket t = {0};
	t.usable = c->max_bytes > 0 && atomic_load(&c->listening);
	t.epoch = atomic_load(&c->epoch);
	t.generation = atomic_load(generation_of(c, tenant_id));
	t.taken_ms = clock_monotonic_ms();
	return t;
}

/* The fresh entry for the key, referenced for the caller; stale ones are dropped. Lock held. */
static struct entry *lookup(struct read_cache *c, uint64_t h, const char *tenant_id,
			    const char *key)
{
	struct entry **link = find(c, h, tenant_id, key);
	if (link && fresh(c, *link, tenant_id)) {
		atomic_fetch_add(&(*link)->refs, 1);
		return *link;
	}
	if (link)
		entry_unlink_free(c, link);
	return NULL;
}

/* Waits, lock held, until f is done or FILL_WAIT_MS passed; frees f when last out. */
static void wait_for_fill(struct stripe *sp, struct read_cache_fill *f)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += FILL_WAIT_MS / 1000;
	until.tv_nsec += (long)(FILL_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	f->waiters++;
	while (!f->done && pthread_cond_timedwait(&sp->filled, &sp->mu, &until) == 0)
		;
	f->waiters--;
	if (f->done && f->waiters == 0)
		free(f);
}

const struct read_cache_answer *read_cache_get(struct read_cache *c, const char *tenant_id,
					       const char *key, struct read_cache_ticket *t)
{
	*t = ticket_now(c, tenant_id);
	if (!t->usable) {
		atomic_fetch_add(&c->misses, 1);
		return NULL;
	}
	uint64_t h = hash_of(tenant_id, key);
	struct stripe *sp = stripe_of(c, h);
	pthread_mutex_lock(&sp->mu);
	struct entry *hit = lookup(c, h, tenant_id, key);
	if (!hit) {
		struct read_cache_fill *f = find_fill(sp, h, tenant_id, key);
		if (f) {
			/* Someone asks the database already: take that answer when it comes. */
			wait_for_fill(sp, f);
			hit = lookup(c, h, tenant_id, key);
			if (hit)
				atomic_fetch_add(&c->coalesced, 1);
		} else {
			size_t tl = strlen(tenant_id), kl = strlen(key);
			f = calloc(1, sizeof(*f) + tl + 1 + kl + 1);
			if (f) {
				f->hash = h;
				write_key(f->key, tenant_id, tl, key, kl);
				f->next = sp->fills;
				sp->fills = f;
				t->fill = f;
			}
		}
	}
	pthread_mutex_unlock(&sp->mu);
	atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
	return hit ? &hit->answer : NULL;
}

/* Wakes the waiters of the caller's fill. */
static void fill_done(struct read_cache *c, struct read_cache_fill *f)
{
	struct stripe *sp = stripe_of(c, f->hash);
	pthread_mutex_lock(&sp->mu);
	for (struct read_cache_fill **link = &sp->fills; *link; link = &(*link)->next) {
		if (*link == f) {
			*link = f->next;
			break;
		}
	}
	f->done = true;
	bool waited = f->waiters > 0;
	if (waited)
		pthread_cond_broadcast(&sp->filled);
	pthread_mutex_unlock(&sp->mu);
	if (!waited)
		free(f);
}

/*
 * Drops whole buckets, round the table, until the cache is back under seven eighths of its
 * bound (so that the next answers fit without evicting again at once).
 */
static void evict(struct read_cache *c)
{
	size_t target = c->max_bytes / 8 * 7;
	for (size_t n = 0; n < BUCKETS && atomic_load(&c->bytes) > target; n++) {
		size_t b = atomic_fetch_add(&c->evict_hand, 1) % BUCKETS;
		pthread_mutex_t *mu = &c->stripe[b % STRIPES].mu;
		pthread_mutex_lock(mu);
		while (c->bucket[b]) {
			entry_unlink_free(c, &c->bucket[b]);
			atomic_fetch_add(&c->evictions, 1);
		}
		pthread_mutex_unlock(mu);
	}
}

/* Stores a copy of the answer unless the ticket is stale (a change came in meanwhile). */
static void store_answer(struct read_cache *c, const struct read_cache_ticket *t,
			 const char *tenant_id, const char *key, const char *body, size_t len,
			 const char *etag)
{
	if (!t->usable || t->epoch != atomic_load(&c->epoch) ||
	    t->generation != atomic_load(generation_of(c, tenant_id)))
		return;
	size_t tl = strlen(tenant_id), kl = strlen(key);
	size_t size = sizeof(struct entry) + tl + 1 + kl + 1 + len + 1;
	if (size > c->max_bytes / 16)
		return; /* one answer may not crowd out the rest */
	struct entry *en = malloc(size);
	if (!en)
		return;
	en->hash = hash_of(tenant_id, key);
	en->epoch = t->epoch;
	en->generation = t->generation;
	en->born_ms = t->taken_ms;
	en->len = len;
	en->size = size;
	snprintf(en->etag, sizeof(en->etag), "%s", etag ? etag : "");
	en->key = en->data;
	en->body = write_key(en->key, tenant_id, tl, key, kl);
	memcpy(en->body, body, len);
	en->body[len] = '\0';
	en->answer.body = en->body;
	en->answer.len = len;
	en->answer.etag = en->etag;
	atomic_init(&en->refs, 1);

	pthread_mutex_t *mu = &stripe_of(c, en->hash)->mu;
	pthread_mutex_lock(mu);
	struct entry **link = find(c, en->hash, tenant_id, key);
	if (link)
		entry_unlink_free(c, link);
	struct entry **head = &c->bucket[en->hash % BUCKETS];
	en->next = *head;
	*head = en;
	atomic_fetch_add(&c->bytes, size);
	atomic_fetch_add(&c->entries, 1);
	pthread_mutex_unlock(mu);
	if (atomic_load(&c->bytes) > c->max_bytes)
		evict(c);
}

void read_cache_put(struct read_cache *c, const struct read_cache_ticket *t,
		    const char *tenant_id, const char *key, const char *body, size_t len,
		    const char *etag)
{
	if (body)
		store_answer(c, t, tenant_id, key, body, len, etag);
	if (t->fill)
		fill_done(c, t->fill);
}

void read_cache_invalidate(struct read_cache *c, const char *tenant_id)
{
	atomic_fetch_add(generation_of(c, tenant_id), 1);
	atomic_fetch_add(&c->invalidations, 1);
}

void read_cache_stats_get(struct read_cache *c, struct read_cache_stats *out)
{
	out->hits = atomic_load(&c->hits);
	out->misses = atomic_load(&c->misses);
	out->coalesced = atomic_load(&c->coalesced);
	out->evictions = atomic_load(&c->evictions);
	out->invalidations = atomic_load(&c->invalidations);
	out->bytes = atomic_load(&c->bytes);
	out->entries = atomic_load(&c->entries);
	out->listening = atomic_load(&c->listening);
}
