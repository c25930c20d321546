#include "google_ratelimit.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"

struct google_ratelimit {
	pthread_mutex_t mu;
	struct google_ratelimit_options o; /* resolved */
	double configured;		   /* calls per ms */
	double floor;			   /* calls per ms */
	double rate;			   /* calls per ms, now */
	double tokens;			   /* may be negative: reservations in debt */
	long long last_refill;
	long long last_adjust; /* last cut or recovery step */
	long long last_cut;
	int cut_ever;
};

long long google_clock_monotonic_ms(void *ctx)
{
	(void)ctx;
	return clock_monotonic_ms();
}

void google_sleep_ms(void *ctx, long ms)
{
	(void)ctx;
	if (ms <= 0)
		return;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0) {
	}
}

int google_ratelimit_new(const struct google_ratelimit_options *o, struct google_ratelimit **out,
			 struct err *e)
{
	struct google_ratelimit_options r = {0};
	*out = NULL;
	if (o)
		r = *o;
	if (r.per_minute == 0)
		r.per_minute = GOOGLE_RATELIMIT_DEFAULT_PER_MINUTE;
	if (r.floor_per_minute == 0)
		r.floor_per_minute = GOOGLE_RATELIMIT_DEFAULT_FLOOR_PER_MINUTE;
	if (r.floor_per_minute > r.per_minute)
		r.floor_per_minute = r.per_minute;
	if (r.burst == 0)
		r.burst = fmax(1.0, r.per_minute / 60.0);
	if (r.cut_factor == 0)
		r.cut_factor = GOOGLE_RATELIMIT_DEFAULT_CUT;
	if (r.recover_factor == 0)
		r.recover_factor = GOOGLE_RATELIMIT_DEFAULT_RECOVER;
	if (r.quiet_ms == 0)
		r.quiet_ms = GOOGLE_RATELIMIT_DEFAULT_QUIET_MS;
	if (r.cut_interval_ms == 0)
		r.cut_interval_ms = GOOGLE_RATELIMIT_DEFAULT_CUT_INTERVAL_MS;
	if (!r.clock)
		r.clock = google_clock_monotonic_ms;
	if (!r.sleep)
		r.sleep = google_sleep_ms;
	if (!(r.per_minute > 0) || !(r.floor_per_minute > 0) || !(r.burst >= 1) ||
	    !(r.cut_factor > 0 && r.cut_factor < 1) || !(r.recover_factor > 1) || r.quiet_ms < 0 ||
	    r.cut_interval_ms < 0)
		return err_set(e, E_INVAL, "rate limit: a setting is out of range");
	struct google_ratelimit *rl = calloc(1, sizeof(*rl));
	if (!rl)
		return err_set(e, E_NOMEM, "rate limit");
	if (pthread_mutex_init(&rl->mu, NULL)) {
		free(rl);
		return err_set(e, E_NOMEM, "rate limit");
	}
	rl->o = r;
	rl->configured = r.per_minute / 60000.0;
	rl->floor = r.floor_per_minute / 60000.0;
	rl->rate = rl->configured;
	rl->tokens = r.burst;
	rl->last_refill = r.clock(r.clock_ctx);
	rl->last_adjust = rl->last_refill;
	*out = rl;
	return E_OK;
}

void google_ratelimit_free(struct google_ratelimit *rl)
{
	if (!rl)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

/* Refill at the rate in force, then apply any recovery steps due. Called with mu held. */
static void advance(struct google_ratelimit *rl, long long now)
{
	if (now > rl->last_refill) {
		rl->tokens =
			fmin(rl->o.burst, rl->tokens + (double)(now - rl->last_refill) * rl->rate);
		rl->last_refill = now;
	}
	if (rl->rate < rl->configured && rl->o.quiet_ms > 0) {
		long long steps = (now - rl->last_adjust) / rl->o.quiet_ms;
		for (long long i = 0; i < steps && rl->rate < rl->configured; i++)
			rl->rate *= rl->o.recover_factor;
		if (rl->rate > rl->configured)
			rl->rate = rl->configured;
		rl->last_adjust += steps * rl->o.quiet_ms;
	}
}

long google_ratelimit_reserve(struct google_ratelimit *rl, unsigned n)
{
	pthread_mutex_lock(&rl->mu);
	advance(rl, rl->o.clock(rl->o.clock_ctx));
	rl->tokens -= n;
	/* The epsilon keeps 1000.0000001 ms from becoming 1001. */
	long wait = rl->tokens < 0 ? (long)ceil(-rl->tokens / rl->rate - 1e-6) : 0;
	pthread_mutex_unlock(&rl->mu);
	return wait;
}

long google_ratelimit_acquire(struct google_ratelimit *rl, unsigned n)
{
	long wait = google_ratelimit_reserve(rl, n);
	if (wait > 0)
		rl->o.sleep(rl->o.sleep_ctx, wait);
	return wait;
}

void google_ratelimit_on_limited(struct google_ratelimit *rl)
{
	pthread_mutex_lock(&rl->mu);
	long long now = rl->o.clock(rl->o.clock_ctx);
	advance(rl, now);
	if (!rl->cut_ever || now - rl->last_cut >= rl->o.cut_interval_ms) {
		rl->rate = fmax(rl->floor, rl->rate * rl->o.cut_factor);
		rl->tokens = fmin(rl->tokens, 0);
		rl->last_cut = now;
		rl->last_adjust = now;
		rl->cut_ever = 1;
	}
	pthread_mutex_unlock(&rl->mu);
}

double google_ratelimit_rate(struct google_ratelimit *rl)
{
	pthread_mutex_lock(&rl->mu);
	advance(rl, rl->o.clock(rl->o.clock_ctx));
	double r = rl->rate * 60000.0;
	pthread_mutex_unlock(&rl->mu);
	return r;
}
