/* tz.c: UTC offsets and their transitions, from ICU (no table of our own). */
#include "core/tz.h"
#include "core/calendar.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ucal.h>
#include <unicode/ustring.h>

/* One calendar per zone per thread: ucal_open is costly, ucal_* on one calendar is not
 * thread-safe, and a process serves a handful of zones. */
#define CACHE 8
static _Thread_local struct {
	char zone[64];
	UCalendar *cal;
	/* The offset is win_off from win_from up to win_to (between two transitions): most
	 * intervals priced fall inside the last one asked about, and need no ICU call. */
	int64_t win_from, win_to;
	int32_t win_off;
} cache[CACHE];
static _Thread_local unsigned next_victim;

/* Every calendar any thread opened, so shutdown can close those of threads it does not
 * own (libmicrohttpd's pool threads). */
#define ALL_MAX 256
static UCalendar *all[ALL_MAX];
static pthread_mutex_t all_mu = PTHREAD_MUTEX_INITIALIZER;

static void track(UCalendar *old, UCalendar *add)
{
	pthread_mutex_lock(&all_mu);
	for (int i = 0; i < ALL_MAX; i++) {
		if (old && all[i] == old)
			all[i] = NULL;
		else if (add && !all[i]) {
			all[i] = add;
			add = NULL;
		}
	}
	pthread_mutex_unlock(&all_mu);
}

void bill_tz_close_all(void)
{
	pthread_mutex_lock(&all_mu);
	for (int i = 0; i < ALL_MAX; i++)
		if (all[i]) {
			ucal_close(all[i]);
			all[i] = NULL;
		}
	pthread_mutex_unlock(&all_mu);
	memset(cache, 0, sizeof cache);
}

/* The cache slot of zone, opening its calendar when needed; -1 for an unknown zone. */
static int slot(const char *zone)
{
	for (int i = 0; i < CACHE; i++)
		if (cache[i].cal && !strcmp(cache[i].zone, zone))
			return i;
	if (strlen(zone) >= sizeof cache[0].zone)
		return -1;
	UChar id[64];
	u_uastrcpy(id, zone);
	UErrorCode st = U_ZERO_ERROR;
	UCalendar *cal = ucal_open(id, -1, "en_US_POSIX", UCAL_GREGORIAN, &st);
	if (U_FAILURE(st))
		return -1;
	/* ICU falls back to "Etc/Unknown" (GMT) for a zone it does not know. */
	UChar got[64];
	int32_t n = ucal_getTimeZoneID(cal, got, 64, &st);
	char back[64];
	u_austrncpy(back, got, sizeof back - 1);
	back[n < 63 ? n : 63] = 0;
	if (U_FAILURE(st) || !strcmp(back, "Etc/Unknown")) {
		ucal_close(cal);
		return -1;
	}
	unsigned v = next_victim++ % CACHE;
	if (cache[v].cal) {
		track(cache[v].cal, NULL);
		ucal_close(cache[v].cal);
	}
	track(NULL, cal);
	strcpy(cache[v].zone, zone);
	cache[v].cal = cal;
	cache[v].win_from = cache[v].win_to = 0; /* empty */
	return (int)v;
}

static int offset_at(UCalendar *cal, int64_t t_us, int32_t *off)
{
	UErrorCode st = U_ZERO_ERROR;
	ucal_setMillis(cal, (UDate)(t_us / 1000), &st);
	int32_t ms = ucal_get(cal, UCAL_ZONE_OFFSET, &st) + ucal_get(cal, UCAL_DST_OFFSET, &st);
	if (U_FAILURE(st))
		return -1;
	*off = ms / 1000;
	return 0;
}

int bill_tz_offset(const char *zone, int64_t t_us, int32_t *offset_s)
{
	struct bill_tzseg seg;
	/* An empty interval at t: its one segment carries the offset in force at t. */
	return bill_tz_segments(zone, t_us, t_us, &seg, 1) == 1 ? (*offset_s = seg.offset_s, 0) : -1;
}

int bill_tz_segments(const char *zone, int64_t t0_us, int64_t t1_us, struct bill_tzseg *out,
		     int max)
{
	int i = slot(zone);
	if (i < 0 || max < 1)
		return -1;
	if (t0_us >= cache[i].win_from && t0_us < cache[i].win_to && t1_us <= cache[i].win_to) {
		out[0].from_us = t0_us;
		out[0].offset_s = cache[i].win_off;
		return 1;
	}
	UCalendar *cal = cache[i].cal;
	if (offset_at(cal, t0_us, &out[0].offset_s))
		return -1;
	out[0].from_us = t0_us;
	int n = 1;
	int64_t t = t0_us, first_next = INT64_MAX;
	bool failed = false;
	for (;;) {
		UErrorCode st = U_ZERO_ERROR;
		ucal_setMillis(cal, (UDate)(t / 1000), &st);
		UDate next;
		if (!ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_NEXT, &next, &st) ||
		    U_FAILURE(st)) {
			failed = U_FAILURE(st); /* else: no transition after t */
			break;
		}
		int64_t next_us = (int64_t)next * 1000;
		if (first_next == INT64_MAX)
			first_next = next_us;
		if (next_us >= t1_us)
			break;
		if (n == max)
			return -1;
		out[n].from_us = next_us;
		if (offset_at(cal, next_us, &out[n].offset_s))
			return -1;
		/* A transition that changes only the name (not the offset) is not a segment. */
		if (out[n].offset_s != out[n - 1].offset_s)
			n++;
		t = next_us;
	}
	/* Remember the stretch around t0 between its transitions. */
	UErrorCode st = U_ZERO_ERROR;
	UDate prev;
	ucal_setMillis(cal, (UDate)(t0_us / 1000), &st);
	int64_t from = INT64_MIN;
	if (ucal_getTimeZoneTransitionDate(cal, UCAL_TZ_TRANSITION_PREVIOUS_INCLUSIVE, &prev, &st) &&
	    U_SUCCESS(st))
		from = (int64_t)prev * 1000;
	if (!failed && U_SUCCESS(st) && from <= t0_us && t0_us < first_next) {
		cache[i].win_from = from;
		cache[i].win_to = first_next;
		cache[i].win_off = out[0].offset_s;
	}
	return n;
}

char *bill_tz_minute(const char *zone, int64_t t_us, char *buf, size_t n)
{
	int32_t off = 0;
	if (bill_tz_offset(zone, t_us, &off))
		off = 0;
	int64_t local = t_us + (int64_t)off * 1000000;
	int32_t day = cal_local_day(local);
	int64_t min = (local - (int64_t)day * CAL_DAY_US) / 60000000;
	int y, m, d;
	cal_civil_from_days(day, &y, &m, &d);
	snprintf(buf, n, "%04d-%02d-%02d %02d:%02d", y, m, d, (int)(min / 60), (int)(min % 60));
	return buf;
}
