#include "google_retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"

#define RETRY_AFTER_MAX_S 86400

struct google_retry_policy google_retry_resolve(const struct google_retry_policy *p)
{
	struct google_retry_policy r = {0};
	if (p)
		r = *p;
	if (r.base_ms <= 0)
		r.base_ms = GOOGLE_RETRY_DEFAULT_BASE_MS;
	if (r.cap_ms <= 0)
		r.cap_ms = GOOGLE_RETRY_DEFAULT_CAP_MS;
	if (r.cap_ms < r.base_ms)
		r.cap_ms = r.base_ms;
	if (r.max_attempts <= 0)
		r.max_attempts = GOOGLE_RETRY_DEFAULT_MAX_ATTEMPTS;
	if (r.max_total_ms <= 0)
		r.max_total_ms = GOOGLE_RETRY_DEFAULT_MAX_TOTAL_MS;
	return r;
}

/* splitmix64 per thread, seeded from the OS once; jitter needs spread, not secrecy. */
static uint64_t default_rand(void)
{
	static _Thread_local uint64_t state;
	static _Thread_local int seeded;
	if (!seeded) {
		if (crypto_random(&state, sizeof(state)))
			state = (uint64_t)(uintptr_t)&state ^ (uint64_t)time(NULL);
		seeded = 1;
	}
	uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

long google_retry_delay_ms(const struct google_retry_policy *p, int retry, long retry_after_ms)
{
	struct google_retry_policy r = google_retry_resolve(p);
	long d = r.base_ms;
	for (int i = 1; i < retry && d < r.cap_ms; i++)
		d *= 2;
	if (d > r.cap_ms)
		d = r.cap_ms;
	uint64_t x = r.rand ? r.rand(r.rand_ctx) : default_rand();
	switch (r.jitter) {
	case GOOGLE_JITTER_FULL:
		d = (long)(x % (uint64_t)(d + 1));
		break;
	case GOOGLE_JITTER_EQUAL:
		d = d / 2 + (long)(x % (uint64_t)(d / 2 + 1));
		break;
	case GOOGLE_JITTER_NONE:
		break;
	}
	if (retry_after_ms > d)
		d = retry_after_ms;
	return d;
}

int google_retry_allowed(const struct google_retry_policy *p, int attempts, long elapsed_ms,
			 long delay_ms)
{
	struct google_retry_policy r = google_retry_resolve(p);
	return attempts < r.max_attempts && elapsed_ms + delay_ms <= r.max_total_ms;
}

static int month_index(const char *m)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	for (int i = 0; i < 12; i++) {
		if (strncmp(months + 3 * i, m, 3) == 0)
			return i;
	}
	return -1;
}

int google_retry_after_parse(const char *value, time_t now, long *out_ms)
{
	if (!value)
		return -1;
	while (*value == ' ')
		value++;
	if (*value >= '0' && *value <= '9') {
		char *end = NULL;
		long s = strtol(value, &end, 10);
		while (end && *end == ' ')
			end++;
		if (!end || *end || s < 0)
			return -1;
		*out_ms = (s > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : s) * 1000;
		return 0;
	}
	/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
	char wday[4], mon[4], zone[4];
	int day, year, hh, mm, ss;
	if (strlen(value) > 40 ||
	    sscanf(value, "%3s, %d %3s %d %d:%d:%d %3s", wday, &day, mon, &year, &hh, &mm, &ss,
		   zone) != 8 ||
	    strcmp(zone, "GMT") != 0 || month_index(mon) < 0)
		return -1;
	struct tm tm = {.tm_sec = ss,
			.tm_min = mm,
			.tm_hour = hh,
			.tm_mday = day,
			.tm_mon = month_index(mon),
			.tm_year = year - 1900};
	time_t at = timegm(&tm);
	if (at == (time_t)-1)
		return -1;
	long long diff = (long long)at - (long long)now;
	if (diff < 0)
		diff = 0;
	if (diff > RETRY_AFTER_MAX_S)
		diff = RETRY_AFTER_MAX_S;
	*out_ms = (long)diff * 1000;
	return 0;
}
