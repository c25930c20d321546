#include "clock.h"

#include <time.h>

long long clock_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

long long clock_monotonic_ms(void)
{
	return clock_monotonic_us() / 1000;
}
