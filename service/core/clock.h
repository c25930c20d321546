/*
 * clock — the monotonic clock, for timeouts, ages and durations (never for wall-clock times).
 * Both never fail and never go backwards.
 */
#ifndef GWSYNC_CORE_CLOCK_H
#define GWSYNC_CORE_CLOCK_H

long long clock_monotonic_ms(void);
long long clock_monotonic_us(void);

#endif
