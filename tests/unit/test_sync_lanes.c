/*
 * Unit tests of sync_lanes_run() (service/sync/sync_lanes.c): every element is handed out in
 * exactly one chunk whatever the number of lanes; the first error is returned whole and stops
 * the lanes; between() runs on the caller's thread and stops the run without an error.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sync_lanes.h"

#define N 1037

struct seen {
	atomic_int hits[N];
	atomic_int calls;
	size_t fail_from; /* the chunk starting here fails (N: none) */
	pthread_t caller;
	int between_calls, stop_after;
	bool between_off_thread;
};

static int count_chunk(void *arg, size_t from, size_t to, struct err *e)
{
	struct seen *s = arg;
	atomic_fetch_add(&s->calls, 1);
	if (from == s->fail_from)
		return err_set(e, E_UNAVAIL, "chunk %zu failed", from);
	for (size_t i = from; i < to; i++)
		atomic_fetch_add(&s->hits[i], 1);
	return E_OK;
}

static int between(void *arg, size_t done)
{
	struct seen *s = arg;
	if (!pthread_equal(pthread_self(), s->caller))
		s->between_off_thread = true;
	assert_true(done <= N);
	return ++s->between_calls >= s->stop_after && s->stop_after > 0;
}

static void init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->fail_from = N;
	s->caller = pthread_self();
}

static void each_element_once(void **state)
{
	(void)state;
	for (int lanes = 1; lanes <= 4; lanes++) {
		for (size_t chunk = 1; chunk <= 1100; chunk += 97) {
			struct seen s;
			init(&s);
			struct err e = {0};
			assert_int_equal(sync_lanes_run(lanes, N, chunk, count_chunk, between, &s, &e),
					 E_OK);
			for (size_t i = 0; i < N; i++)
				assert_int_equal(atomic_load(&s.hits[i]), 1);
			assert_int_equal(atomic_load(&s.calls), (int)((N + chunk - 1) / chunk));
			assert_false(s.between_off_thread);
		}
	}
}

static void nothing_to_do(void **state)
{
	(void)state;
	struct seen s;
	init(&s);
	assert_int_equal(sync_lanes_run(2, 0, 10, count_chunk, between, &s, NULL), E_OK);
	assert_int_equal(atomic_load(&s.calls), 0);
	assert_int_equal(s.between_calls, 0);
}

static void first_error_is_returned_and_stops(void **state)
{
	(void)state;
	/* one lane: deterministic, nothing after the failed chunk runs */
	struct seen s;
	init(&s);
	s.fail_from = 100;
	struct err e = {0};
	assert_int_equal(sync_lanes_run(1, N, 100, count_chunk, NULL, &s, &e), E_UNAVAIL);
	assert_int_equal(e.code, E_UNAVAIL);
	assert_string_equal(e.msg, "chunk 100 failed");
	assert_int_equal(atomic_load(&s.calls), 2);
	assert_int_equal(atomic_load(&s.hits[99]), 1);
	assert_int_equal(atomic_load(&s.hits[100]), 0);
	assert_int_equal(atomic_load(&s.hits[N - 1]), 0);
	/* several lanes: the error comes back and not every chunk ran */
	init(&s);
	s.fail_from = 0;
	memset(&e, 0, sizeof(e));
	assert_int_equal(sync_lanes_run(3, N, 10, count_chunk, NULL, &s, &e), E_UNAVAIL);
	assert_string_equal(e.msg, "chunk 0 failed");
	assert_true(atomic_load(&s.calls) < (N + 9) / 10);
}

static void between_stops_without_error(void **state)
{
	(void)state;
	struct seen s;
	init(&s);
	s.stop_after = 2;
	struct err e = {0};
	assert_int_equal(sync_lanes_run(1, N, 100, count_chunk, between, &s, &e), E_OK);
	assert_int_equal(s.between_calls, 2);
	assert_int_equal(atomic_load(&s.calls), 2);
	assert_int_equal(atomic_load(&s.hits[200]), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(each_element_once),
		cmocka_unit_test(nothing_to_do),
		cmocka_unit_test(first_error_is_returned_and_stops),
		cmocka_unit_test(between_stops_without_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
