/*
 * Unit tests of service/google/google_retry.h (backoff growth, cap, jitter bounds, Retry-After)
 * and service/google/google_ratelimit.h (the token bucket on a fake clock), and the request
 * deadline of google_client.h (scopes, and a call that meets a passed deadline).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "google_client.h"
#include "google_ratelimit.h"
#include "google_retry.h"
#include "httpc.h"

static uint64_t fixed_rand(void *ctx)
{
	return *(uint64_t *)ctx;
}

static void test_growth_and_cap(void **state)
{
	(void)state;
	struct google_retry_policy p = {
		.base_ms = 1000, .cap_ms = 32000, .jitter = GOOGLE_JITTER_NONE};
	const long want[] = {1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000};
	for (int i = 0; i < 8; i++)
		assert_int_equal(google_retry_delay_ms(&p, i + 1, -1), want[i]);
	/* Far retries neither overflow nor pass the cap. */
	assert_int_equal(google_retry_delay_ms(&p, 1000, -1), 32000);
	/* Defaults: base 1 s, cap 32 s. */
	struct google_retry_policy d = {.jitter = GOOGLE_JITTER_NONE};
	assert_int_equal(google_retry_delay_ms(&d, 1, -1), 1000);
	assert_int_equal(google_retry_delay_ms(&d, 9, -1), 32000);
	/* Milliseconds for tests. */
	struct google_retry_policy ms = {.base_ms = 2, .cap_ms = 10, .jitter = GOOGLE_JITTER_NONE};
	assert_int_equal(google_retry_delay_ms(&ms, 3, -1), 8);
	assert_int_equal(google_retry_delay_ms(&ms, 4, -1), 10);
}

static void test_jitter_bounds(void **state)
{
	(void)state;
	uint64_t r = 0;
	struct google_retry_policy full = {.base_ms = 1000,
					   .cap_ms = 32000,
					   .jitter = GOOGLE_JITTER_FULL,
					   .rand = fixed_rand,
					   .rand_ctx = &r};
	struct google_retry_policy equal = full;
	equal.jitter = GOOGLE_JITTER_EQUAL;
	/* Extremes of the random source. */
	r = 0;
	assert_int_equal(google_retry_delay_ms(&full, 3, -1), 0);
	assert_int_equal(google_retry_delay_ms(&equal, 3, -1), 2000);
	r = 4000; /* 4000 % 4001 */
	assert_int_equal(google_retry_delay_ms(&full, 3, -1), 4000);
	r = 2000;
	assert_int_equal(google_retry_delay_ms(&equal, 3, -1), 4000);

	/* The real source stays inside the bounds and spreads. */
	full.rand = equal.rand = NULL;
	long min_f = 1 << 30, max_f = -1;
	for (int i = 0; i < 2000; i++) {
		long f = google_retry_delay_ms(&full, 4, -1);
		long q = google_retry_delay_ms(&equal, 4, -1);
		assert_true(f >= 0 && f <= 8000);
		assert_true(q >= 4000 && q <= 8000);
		min_f = f < min_f ? f : min_f;
		max_f = f > max_f ? f : max_f;
	}
	assert_true(min_f < 1000 && max_f > 7000);
}

static void test_retry_after_floor_and_limits(void **state)
{
	(void)state;
	struct google_retry_policy p = {.base_ms = 1000,
					.cap_ms = 32000,
					.max_attempts = 4,
					.max_total_ms = 60000,
					.jitter = GOOGLE_JITTER_NONE};
	/* Retry-After is a floor: it wins over a shorter backoff, never shortens a longer one. */
	assert_int_equal(google_retry_delay_ms(&p, 1, 7000), 7000);
	assert_int_equal(google_retry_delay_ms(&p, 5, 7000), 16000);
	assert_int_equal(google_retry_delay_ms(&p, 1, 0), 1000);

	assert_true(google_retry_allowed(&p, 1, 0, 1000));
	assert_true(google_retry_allowed(&p, 3, 0, 1000));
	assert_false(google_retry_allowed(&p, 4, 0, 1000));	/* attempts used up */
	assert_false(google_retry_allowed(&p, 2, 55000, 8000)); /* would cross the total */
	assert_true(google_retry_allowed(&p, 2, 52000, 8000));
	struct google_retry_policy once = {.max_attempts = 1};
	assert_false(google_retry_allowed(&once, 1, 0, 0));
}

static void test_retry_after_parse(void **state)
{
	(void)state;
	long ms = -1;
	assert_int_equal(google_retry_after_parse("120", 0, &ms), 0);
	assert_int_equal(ms, 120000);
	assert_int_equal(google_retry_after_parse(" 0 ", 0, &ms), 0);
	assert_int_equal(ms, 0);
	/* HTTP date, 30 s after now. */
	struct tm tm = {.tm_year = 2015 - 1900,
			.tm_mon = 9,
			.tm_mday = 21,
			.tm_hour = 7,
			.tm_min = 28,
			.tm_sec = 0};
	time_t at = timegm(&tm);
	assert_int_equal(google_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", at - 30, &ms),
			 0);
	assert_int_equal(ms, 30000);
	/* A date in the past means now. */
	assert_int_equal(google_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT", at + 5, &ms), 0);
	assert_int_equal(ms, 0);
	/* Absurd values are capped at a day. */
	assert_int_equal(google_retry_after_parse("99999999", 0, &ms), 0);
	assert_int_equal(ms, 86400L * 1000);
	assert_int_equal(google_retry_after_parse("soon", 0, &ms), -1);
	assert_int_equal(google_retry_after_parse("-5", 0, &ms), -1);
	assert_int_equal(google_retry_after_parse("12abc", 0, &ms), -1);
	assert_int_equal(google_retry_after_parse("Wed, 21 Foo 2015 07:28:00 GMT", 0, &ms), -1);
	assert_int_equal(google_retry_after_parse(NULL, 0, &ms), -1);
}

/* A fake clock: sleeping advances it. */
struct fake {
	long long now;
	long long slept;
};

static long long fake_clock(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static void fake_sleep(void *ctx, long ms)
{
	((struct fake *)ctx)->now += ms;
	((struct fake *)ctx)->slept += ms;
}

static struct google_ratelimit *bucket(struct fake *f, double per_minute)
{
	struct google_ratelimit_options o = {.per_minute = per_minute,
					     .clock = fake_clock,
					     .clock_ctx = f,
					     .sleep = fake_sleep,
					     .sleep_ctx = f};
	struct google_ratelimit *rl = NULL;
	assert_int_equal(google_ratelimit_new(&o, &rl, NULL), E_OK);
	return rl;
}

/* Calls made in [0, ms) of fake time by a caller that acquires before each call. */
static int calls_within(struct google_ratelimit *rl, struct fake *f, long long ms)
{
	long long end = f->now + ms;
	int n = 0;
	for (;;) {
		google_ratelimit_acquire(rl, 1);
		if (f->now >= end)
			return n;
		n++;
	}
}

static void test_bucket_holds_rate(void **state)
{
	(void)state;
	struct fake f = {.now = 1000000};
	struct google_ratelimit *rl = bucket(&f, 2300);
	assert_true(google_ratelimit_rate(rl) > 2299.9 && google_ratelimit_rate(rl) < 2300.1);
	/* One minute: the configured rate plus at most the initial burst (a second's worth). */
	int n = calls_within(rl, &f, 60000);
	assert_true(n >= 2300 && n <= 2300 + 39);
	/* The next ten minutes hold the rate exactly (±1). */
	n = calls_within(rl, &f, 600000);
	assert_true(n >= 22999 && n <= 23001);
	google_ratelimit_free(rl);

	/* Waits are handed out in order: reservations queue at the rate. */
	f.now = 0;
	rl = bucket(&f, 60); /* one a second, burst 1 */
	assert_int_equal(google_ratelimit_reserve(rl, 1), 0);
	assert_int_equal(google_ratelimit_reserve(rl, 1), 1000);
	assert_int_equal(google_ratelimit_reserve(rl, 1), 2000);
	f.now += 10000; /* idle: debt paid, savings capped at the burst */
	assert_int_equal(google_ratelimit_reserve(rl, 1), 0);
	assert_int_equal(google_ratelimit_reserve(rl, 1), 1000);
	/* A batch of 5 costs 5. */
	f.now += 10000;
	assert_int_equal(google_ratelimit_reserve(rl, 5), 4000);
	google_ratelimit_free(rl);
}

static void test_bucket_cuts_and_recovers(void **state)
{
	(void)state;
	struct fake f = {.now = 0};
	struct google_ratelimit *rl = bucket(&f, 2400);
	google_ratelimit_on_limited(rl);
	assert_true(google_ratelimit_rate(rl) > 1199.9 && google_ratelimit_rate(rl) < 1200.1);
	/* A burst of rate-limit answers within the cut interval counts once. */
	google_ratelimit_on_limited(rl);
	f.now += 500;
	google_ratelimit_on_limited(rl);
	assert_true(google_ratelimit_rate(rl) > 1199.9 && google_ratelimit_rate(rl) < 1200.1);
	/* The cut rate holds (after the savings left at the cut are spent). */
	f.now += 1000;
	calls_within(rl, &f, 1000);
	int n = calls_within(rl, &f, 5000);
	assert_true(n >= 99 && n <= 101);
	/* Another limit later halves again; the floor (60/min) stops the fall. */
	for (int i = 0; i < 20; i++) {
		f.now += 1000;
		google_ratelimit_on_limited(rl);
	}
	assert_true(google_ratelimit_rate(rl) > 59.9 && google_ratelimit_rate(rl) < 60.1);
	/* Recovery: +10% per quiet 10 s, back to the configured rate and not beyond. */
	f.now += 10000;
	assert_true(google_ratelimit_rate(rl) > 65.9 && google_ratelimit_rate(rl) < 66.1);
	f.now += 9999;
	assert_true(google_ratelimit_rate(rl) > 65.9 && google_ratelimit_rate(rl) < 66.1);
	f.now += 1;
	assert_true(google_ratelimit_rate(rl) > 72.5 && google_ratelimit_rate(rl) < 72.7);
	f.now += 10 * 60 * 1000;
	assert_true(google_ratelimit_rate(rl) > 2399.9 && google_ratelimit_rate(rl) < 2400.1);
	n = calls_within(rl, &f, 60000);
	assert_true(n >= 2400 && n <= 2441);
	google_ratelimit_free(rl);
}

static void test_bucket_options(void **state)
{
	(void)state;
	struct google_ratelimit *rl = NULL;
	struct google_ratelimit_options bad = {.per_minute = -1};
	assert_int_equal(google_ratelimit_new(&bad, &rl, NULL), E_INVAL);
	assert_null(rl);
	struct google_ratelimit_options cut = {.cut_factor = 1.5};
	assert_int_equal(google_ratelimit_new(&cut, &rl, NULL), E_INVAL);
	assert_int_equal(google_ratelimit_new(NULL, &rl, NULL), E_OK);
	assert_true(google_ratelimit_rate(rl) > 2299.9 && google_ratelimit_rate(rl) < 2300.1);
	assert_int_equal(google_ratelimit_acquire(rl, 1), 0); /* real clock, full bucket */
	google_ratelimit_free(rl);
	google_ratelimit_free(NULL);
}

static void test_deadline_scopes_nest(void **state)
{
	(void)state;
	assert_int_equal(google_deadline_left_ms(), -1);
	struct google_deadline outer, inner, wider;
	google_deadline_begin(&outer, 60000);
	long left = google_deadline_left_ms();
	assert_true(left > 1000 && left <= 60000);
	google_deadline_begin(&inner, 1000);
	assert_true(google_deadline_left_ms() <= 1000);
	/* a later deadline inside does not extend the earlier one */
	google_deadline_begin(&wider, 120000);
	assert_true(google_deadline_left_ms() <= 1000);
	google_deadline_end(&wider);
	google_deadline_end(&inner);
	assert_true(google_deadline_left_ms() > 1000);
	google_deadline_end(&outer);
	assert_int_equal(google_deadline_left_ms(), -1);
}

static int token_fn(void *ctx, int force_refresh, char *out, size_t cap, struct err *e)
{
	(void)ctx;
	(void)force_refresh;
	(void)e;
	snprintf(out, cap, "test-token");
	return E_OK;
}

/* Past the deadline nothing is sent and no retry is made, however generous the retry policy. */
static void test_passed_deadline_fails_the_call_without_retries(void **state)
{
	(void)state;
	struct google_client_options o = {
		.api_base = "http://127.0.0.1:9",
		.allow_http = 1,
		.token = token_fn,
		.retry = {.max_attempts = 7, .base_ms = 1000, .cap_ms = 32000, .max_total_ms = 120000},
	};
	struct google_client *gc = NULL;
	struct err e = {0};
	assert_int_equal(google_client_new(&o, &gc, &e), E_OK);
	struct google_deadline d;
	google_deadline_begin(&d, 1);
	struct timespec ms5 = {0, 5 * 1000 * 1000};
	nanosleep(&ms5, NULL);
	assert_int_equal(google_deadline_left_ms(), 0);
	int rc = google_call(gc, "GET", "/admin/directory/v1/users?customer=my_customer", NULL, NULL,
			     NULL, NULL, &e);
	google_deadline_end(&d);
	assert_int_equal(rc, E_TIMEOUT);
	assert_non_null(strstr(e.msg, "deadline"));
	struct google_metrics m;
	google_client_metrics(gc, &m);
	assert_int_equal(m.retries, 0);
	assert_int_equal(m.calls_failed, 1);
	google_client_free(gc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_and_cap),
		cmocka_unit_test(test_jitter_bounds),
		cmocka_unit_test(test_retry_after_floor_and_limits),
		cmocka_unit_test(test_retry_after_parse),
		cmocka_unit_test(test_bucket_holds_rate),
		cmocka_unit_test(test_bucket_cuts_and_recovers),
		cmocka_unit_test(test_bucket_options),
		cmocka_unit_test(test_deadline_scopes_nest),
		cmocka_unit_test(test_passed_deadline_fails_the_call_without_retries),
	};
	if (httpc_global_init())
		return 1;
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	httpc_global_cleanup();
	return failed;
}
