/*
 * Unit tests of api/read_cache.h without a database: an answer is served only while the cache
 * listens, in the epoch and generation its ticket saw, within its age; tenants are apart; memory
 * stays within the bound.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "read_cache.h"

#define A "0b6b8a52-5a38-4c1e-9a4e-3f1d2c7e8a01"
#define B "9f0e7d6c-1b2a-4394-8576-a1b2c3d4e5f6"

/* A miss, then its answer (what a request that reads the database does). */
static void put(struct read_cache *c, const char *tenant, const char *key, const char *body)
{
	struct read_cache_ticket t;
	assert_null(read_cache_get(c, tenant, key, &t));
	read_cache_put(c, &t, tenant, key, body, strlen(body), "\"v1\"");
}

/* A copy of the body served for (tenant, key), or NULL; the caller frees it. */
static char *get(struct read_cache *c, const char *tenant, const char *key)
{
	struct read_cache_ticket t;
	const struct read_cache_answer *a = read_cache_get(c, tenant, key, &t);
	if (!a) {
		read_cache_put(c, &t, tenant, key, NULL, 0, NULL);
		return NULL;
	}
	assert_int_equal(a->len, strlen(a->body));
	char *copy = strdup(a->body);
	read_cache_release(a);
	return copy;
}

static void assert_serves(struct read_cache *c, const char *tenant, const char *key,
			  const char *want)
{
	char *got = get(c, tenant, key);
	if (!want) {
		assert_null(got);
		return;
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static struct read_cache *listening_cache(size_t max_bytes, int max_age_ms)
{
	struct read_cache *c = read_cache_new(max_bytes, max_age_ms);
	assert_non_null(c);
	read_cache_set_listening(c, true);
	return c;
}

static void serves_a_copy_with_its_etag(void **state)
{
	(void)state;
	struct read_cache *c = listening_cache(1 << 20, 60000);
	put(c, A, "/v1/users?", "[1]");
	struct read_cache_ticket t;
	const struct read_cache_answer *a = read_cache_get(c, A, "/v1/users?", &t);
	assert_non_null(a);
	assert_string_equal(a->etag, "\"v1\"");
	read_cache_invalidate(c, A);
	put(c, A, "/v1/users?", "[2]"); /* a new answer replaces the old one */
	assert_string_equal(a->body, "[1]"); /* a reference outlives its replacement */
	read_cache_release(a);
	assert_serves(c, A, "/v1/users?", "[2]");
	assert_serves(c, A, "/v1/users?limit=1", NULL);
	struct read_cache_stats s;
	read_cache_stats_get(c, &s);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.hits, 2);
	assert_int_equal(s.misses, 3);
	read_cache_free(c);
}

static void nothing_before_listening_or_when_off(void **state)
{
	(void)state;
	struct read_cache *c = read_cache_new(1 << 20, 60000);
	put(c, A, "k", "x");
	assert_serves(c, A, "k", NULL);
	read_cache_set_listening(c, true);
	put(c, A, "k", "x");
	assert_serves(c, A, "k", "x");
	read_cache_set_listening(c, false); /* the notifications stopped: serve nothing */
	assert_serves(c, A, "k", NULL);
	put(c, A, "k", "y");
	read_cache_set_listening(c, true); /* back, but what was kept before is not trusted */
	assert_serves(c, A, "k", NULL);
	read_cache_free(c);

	c = read_cache_new(0, 60000);
	read_cache_set_listening(c, true);
	put(c, A, "k", "x");
	assert_serves(c, A, "k", NULL);
	read_cache_free(c);
}

static void a_change_drops_only_its_tenant(void **state)
{
	(void)state;
	struct read_cache *c = listening_cache(1 << 20, 60000);
	put(c, A, "k", "a");
	put(c, B, "k", "b");
	assert_serves(c, B, "k", "b");
	read_cache_invalidate(c, A);
	assert_serves(c, A, "k", NULL);
	assert_serves(c, B, "k", "b");
	read_cache_free(c);
}

static void an_answer_read_before_a_change_is_not_kept(void **state)
{
	(void)state;
	struct read_cache *c = listening_cache(1 << 20, 60000);
	struct read_cache_ticket t;
	assert_null(read_cache_get(c, A, "k", &t));
	read_cache_invalidate(c, A); /* committed while the answer was being made */
	read_cache_put(c, &t, A, "k", "old", 3, "");
	assert_serves(c, A, "k", NULL);

	assert_null(read_cache_get(c, A, "k", &t));
	read_cache_set_listening(c, true); /* a reconnection in between */
	read_cache_put(c, &t, A, "k", "old", 3, "");
	assert_serves(c, A, "k", NULL);
	read_cache_free(c);
}

static void answers_age_out(void **state)
{
	(void)state;
	struct read_cache *c = listening_cache(1 << 20, 50);
	put(c, A, "k", "x");
	assert_serves(c, A, "k", "x");
	struct timespec ts = {0, 80 * 1000000L};
	nanosleep(&ts, NULL);
	assert_serves(c, A, "k", NULL);
	read_cache_free(c);
}

static void memory_stays_within_the_bound(void **state)
{
	(void)state;
	size_t max = 64 * 1024;
	struct read_cache *c = listening_cache(max, 60000);
	char body[2048];
	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	for (int i = 0; i < 500; i++) {
		char key[32];
		snprintf(key, sizeof(key), "/v1/users/u%d?", i);
		put(c, A, key, body);
		struct read_cache_stats s;
		read_cache_stats_get(c, &s);
		assert_true(s.bytes <= max);
	}
	char big[8192];
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(c, A, "big", big); /* more than a sixteenth of the bound: never kept */
	assert_serves(c, A, "big", NULL);
	struct read_cache_stats s;
	read_cache_stats_get(c, &s);
	assert_true(s.evictions > 0);
	assert_true(s.entries > 0 && s.bytes > max / 2);
	read_cache_free(c);
}

struct waiter {
	struct read_cache *c;
	char *got;
};

static void *wait_for_answer(void *arg)
{
	struct waiter *w = arg;
	w->got = get(w->c, A, "k");
	return NULL;
}

static void misses_of_one_key_wait_for_the_first(void **state)
{
	(void)state;
	struct read_cache *c = listening_cache(1 << 20, 60000);
	struct read_cache_ticket t;
	assert_null(read_cache_get(c, A, "k", &t)); /* this one reads the database */
	struct waiter w = {c, NULL};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, wait_for_answer, &w), 0);
	struct timespec ts = {0, 300 * 1000000L};
	nanosleep(&ts, NULL);
	assert_null(w.got); /* still waiting: it did not go to the database itself */
	read_cache_put(c, &t, A, "k", "filled", 6, "");
	pthread_join(th, NULL);
	assert_non_null(w.got);
	assert_string_equal(w.got, "filled");
	free(w.got);
	struct read_cache_stats s;
	read_cache_stats_get(c, &s);
	assert_int_equal(s.coalesced, 1);

	/* A fill that ends without an answer (an error) lets the waiter ask for itself. */
	read_cache_invalidate(c, A);
	assert_null(read_cache_get(c, A, "k", &t));
	w.got = NULL;
	assert_int_equal(pthread_create(&th, NULL, wait_for_answer, &w), 0);
	nanosleep(&ts, NULL);
	read_cache_put(c, &t, A, "k", NULL, 0, NULL);
	pthread_join(th, NULL);
	assert_null(w.got);
	read_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(serves_a_copy_with_its_etag),
		cmocka_unit_test(nothing_before_listening_or_when_off),
		cmocka_unit_test(a_change_drops_only_its_tenant),
		cmocka_unit_test(an_answer_read_before_a_change_is_not_kept),
		cmocka_unit_test(answers_age_out),
		cmocka_unit_test(memory_stays_within_the_bound),
		cmocka_unit_test(misses_of_one_key_wait_for_the_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
