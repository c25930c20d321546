/*
 * google_retry — when to try a Google call again (API-NOTES §6.3).
 *
 * Capped exponential backoff: the n-th retry waits around min(cap, base * 2^(n-1)), with full
 * jitter (uniform in [0, that]) or equal jitter (half fixed, half uniform). A Retry-After from
 * Google (delta seconds or an HTTP date) is a floor for the wait. Attempts and total time are
 * bounded: a retry whose wait would cross max_total_ms is not made.
 *
 * Pure functions over caller storage; thread-safe (the default random source is thread-local).
 */
#ifndef GWSYNC_GOOGLE_RETRY_H
#define GWSYNC_GOOGLE_RETRY_H

#include <stdint.h>
#include <time.h>

#define GOOGLE_RETRY_DEFAULT_BASE_MS 1000
#define GOOGLE_RETRY_DEFAULT_CAP_MS 32000
#define GOOGLE_RETRY_DEFAULT_MAX_ATTEMPTS 7 /* the first try and six retries */
#define GOOGLE_RETRY_DEFAULT_MAX_TOTAL_MS 120000

enum google_jitter {
	GOOGLE_JITTER_FULL = 0, /* uniform in [0, d] */
	GOOGLE_JITTER_EQUAL,	/* d/2 + uniform in [0, d/2] */
	GOOGLE_JITTER_NONE,	/* d (tests) */
};

/* Uniform 64 random bits (tests pass a fixed sequence). */
typedef uint64_t (*google_rand_fn)(void *ctx);

struct google_retry_policy {
	long base_ms;	   /* 0 → default */
	long cap_ms;	   /* 0 → default */
	int max_attempts;  /* including the first; 0 → default, 1 → never retry */
	long max_total_ms; /* 0 → default */
	enum google_jitter jitter;
	google_rand_fn rand; /* NULL → a thread-local generator seeded from the OS */
	void *rand_ctx;
};

/* p with every 0 replaced by its default. */
struct google_retry_policy google_retry_resolve(const struct google_retry_policy *p);

/*
 * The wait before retry number `retry` (1 for the first retry), in ms: the jittered backoff, at
 * least retry_after_ms (pass -1 when Google gave none).
 */
long google_retry_delay_ms(const struct google_retry_policy *p, int retry, long retry_after_ms);

/*
 * 1 when another attempt may be made after `attempts` attempts, elapsed_ms since the first one
 * started, and a planned wait of delay_ms; else 0.
 */
int google_retry_allowed(const struct google_retry_policy *p, int attempts, long elapsed_ms,
			 long delay_ms);

/*
 * Parses a Retry-After value: delta seconds ("120") or an IMF-fixdate ("Wed, 21 Oct 2015
 * 07:28:00 GMT") compared with now. Writes ms (≥ 0) and returns 0, or -1 when the value is
 * neither.
 */
int google_retry_after_parse(const char *value, time_t now, long *out_ms);

#endif
