/* clock.c: wattle's clock; real time by default, scaled for tests and the demo. */
#include "server/clock.h"
#include "billing/price.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t speed = 1;
static int64_t origin_real_us; /* real time when the scaled clock started */
static int64_t origin_us;      /* wattle time at that moment */

static int64_t real_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void srv_clock_set(int64_t s, int64_t start_us)
{
	speed = s < 1 ? 1 : s;
	origin_real_us = real_now_us();
	origin_us = start_us ? start_us : origin_real_us;
}

int srv_clock_init_from_env(void)
{
	const char *sp = getenv("WATTLE_CLOCK_SPEED");
	const char *st = getenv("WATTLE_CLOCK_START");
	const char *an = getenv("WATTLE_CLOCK_ANCHOR");
	long long s = 1, start = 0, anchor = 0;
	char *end;
	if (sp && *sp) {
		s = strtoll(sp, &end, 10);
		if (*end || s < 1 || s > 1000000)
			return -1;
	}
	if (st && *st) {
		start = strtoll(st, &end, 10);
		if (*end || start < 0)
			return -1;
	}
	if (an && *an) {
		anchor = strtoll(an, &end, 10);
		if (*end || anchor < 0)
			return -1;
	}
	srv_clock_set(s, start * 1000000);
	if (anchor) /* processes given the same start and anchor keep the same time */
		origin_real_us = anchor * 1000000;
	return 0;
}

int64_t srv_clock_now_us(void)
{
	if (speed == 1 && origin_us == origin_real_us)
		return real_now_us();
	return origin_us + (real_now_us() - origin_real_us) * speed;
}

char *srv_time_format(int64_t us, char *buf, size_t n)
{
	int64_t secs = us / 1000000, frac = us % 1000000;
	if (frac < 0) {
		frac += 1000000;
		secs -= 1;
	}
	int64_t days = secs / 86400, sod = secs % 86400;
	if (sod < 0) {
		sod += 86400;
		days -= 1;
	}
	int y, m, d;
	bill_civil_from_days(days, &y, &m, &d); /* UTC: no tz database, no glibc tz lock */
	snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, (int)(sod / 3600),
		 (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
	return buf;
}

int64_t srv_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t srv_clock_speed(void) { return speed; }
