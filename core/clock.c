/* clock.c: wattle's clock; real time by default, scaled for tests and the demo. */
#include "core/clock.h"
#include "core/calendar.h"
#include "core/price.h"

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

int srv_clock_init(const char *sp, const char *st, const char *an)
{
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

/* v (>= 0) in exactly width decimal digits, zero-padded; returns the end. */
static char *digits(char *p, int v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
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
	cal_civil_from_days(days, &y, &m, &d); /* UTC: no tz database, no glibc tz lock */
	if (y < 0 || y > 9999 || n < 28) {
		snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", y, m, d, (int)(sod / 3600),
			 (int)(sod / 60 % 60), (int)(sod % 60), (int)frac);
		return buf;
	}
	/* By hand: every request's log line and most replies carry a time. */
	char *p = buf;
	p = digits(p, y, 4);
	*p++ = '-';
	p = digits(p, m, 2);
	*p++ = '-';
	p = digits(p, d, 2);
	*p++ = 'T';
	p = digits(p, (int)(sod / 3600), 2);
	*p++ = ':';
	p = digits(p, (int)(sod / 60 % 60), 2);
	*p++ = ':';
	p = digits(p, (int)(sod % 60), 2);
	*p++ = '.';
	p = digits(p, (int)frac, 6);
	*p++ = 'Z';
	*p = 0;
	return buf;
}

int64_t srv_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t srv_clock_speed(void) { return speed; }
