/*
 * google_ratelimit — a token bucket per integration that keeps calls under Google's quota
 * (API-NOTES §7: 2,400 queries a minute per user per project; gwsync defaults a little under).
 *
 * Adaptive: when Google answers "rate limited" (429, 403 rate/quota reasons) the rate is cut
 * (halved by default, at most once per cut interval, never below the floor) and the bucket's
 * savings are dropped; after each quiet interval without a cut it grows back by a factor (+10%)
 * up to the configured rate. Reservations may go into debt: each caller is told how long to wait,
 * so concurrent callers queue fairly at the current rate.
 *
 * Threads: a struct google_ratelimit may be shared by every thread working for the integration;
 * all functions lock internally. Ownership: google_ratelimit_new() allocates, _free() frees.
 * Time comes from a clock function (monotonic milliseconds) so tests run on a fake clock.
 */
#ifndef GWSYNC_GOOGLE_RATELIMIT_H
#define GWSYNC_GOOGLE_RATELIMIT_H

#include "err.h"

#define GOOGLE_RATELIMIT_DEFAULT_PER_MINUTE 2300.0
#define GOOGLE_RATELIMIT_DEFAULT_FLOOR_PER_MINUTE 60.0
#define GOOGLE_RATELIMIT_DEFAULT_CUT 0.5
#define GOOGLE_RATELIMIT_DEFAULT_RECOVER 1.1
#define GOOGLE_RATELIMIT_DEFAULT_QUIET_MS 10000
#define GOOGLE_RATELIMIT_DEFAULT_CUT_INTERVAL_MS 1000

/* Monotonic milliseconds; and a sleep of ms milliseconds (tests advance a fake clock). */
typedef long long (*google_clock_fn)(void *ctx);
typedef void (*google_sleep_fn)(void *ctx, long ms);

struct google_ratelimit_options {
	double per_minute;	 /* configured rate; 0 → default */
	double burst;		 /* bucket size in calls; 0 → one second's worth (at least 1) */
	double floor_per_minute; /* lowest rate a cut may reach; 0 → default */
	double cut_factor;	 /* 0 < f < 1; 0 → default */
	double recover_factor;	 /* > 1; 0 → default */
	long quiet_ms;		 /* 0 → default */
	long cut_interval_ms;	 /* cuts closer together count once; 0 → default */
	google_clock_fn clock;	 /* NULL → CLOCK_MONOTONIC */
	void *clock_ctx;
	google_sleep_fn sleep; /* NULL → nanosleep */
	void *sleep_ctx;
};

struct google_ratelimit;

/* o may be NULL (defaults). *out owned by the caller; NULL on failure. Errors: E_INVAL (a value
 * out of range), E_NOMEM. */
int google_ratelimit_new(const struct google_ratelimit_options *o, struct google_ratelimit **out,
			 struct err *e);

/* NULL is a no-op. No thread may still be using rl. */
void google_ratelimit_free(struct google_ratelimit *rl);

/* Takes n calls' worth now and returns how many ms the caller must wait before making them. */
long google_ratelimit_reserve(struct google_ratelimit *rl, unsigned n);

/* google_ratelimit_reserve() then sleeps that long; returns the ms waited. */
long google_ratelimit_acquire(struct google_ratelimit *rl, unsigned n);

/* Google said "too fast": cut the rate (see above). */
void google_ratelimit_on_limited(struct google_ratelimit *rl);

/* The rate in force now, in calls per minute (recovery applied). */
double google_ratelimit_rate(struct google_ratelimit *rl);

/* Monotonic milliseconds and a real sleep: the defaults, for other modules' use. */
long long google_clock_monotonic_ms(void *ctx);
void google_sleep_ms(void *ctx, long ms);

#endif
