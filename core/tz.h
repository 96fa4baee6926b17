/* tz.h: site-local time from the IANA zone, through ICU's time-zone database. */
#ifndef WATTLE_TZ_H
#define WATTLE_TZ_H

#include <stddef.h>
#include <stdint.h>

/* A stretch of constant UTC offset: from from_us (unix microseconds) until the next
 * segment's from_us. */
struct bill_tzseg {
	int64_t from_us;
	int32_t offset_s; /* local = UTC + offset */
};

#define BILL_TZ_MAX_SEGS 64

/* The offset segments covering [t0_us, t1_us) in zone: out[0].from_us <= t0_us, each next
 * segment starts at a transition inside the interval. Returns the number written (>= 1),
 * or -1 when the zone is unknown or the interval has more than max transitions.
 * Thread-safe; keeps one ICU calendar per zone per thread. */
int bill_tz_segments(const char *zone, int64_t t0_us, int64_t t1_us, struct bill_tzseg *out,
		     int max);

/* The offset in force at t_us. Returns 0, or -1 for an unknown zone. */
int bill_tz_offset(const char *zone, int64_t t_us, int32_t *offset_s);

/* t_us as "YYYY-MM-DD HH:MM" in zone (UTC when the zone is unknown). Returns buf. */
char *bill_tz_minute(const char *zone, int64_t t_us, char *buf, size_t n);

/* Close every calendar any thread opened (at shutdown, after the threads stopped). */
void bill_tz_close_all(void);

#endif
