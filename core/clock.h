/* clock.h: the one source of "now" for every decision wattle makes.
 *
 * WATTLE_CLOCK_SPEED=N runs the clock N times faster than real time (tests, demo);
 * WATTLE_CLOCK_START=<unix seconds> starts it at a given instant, and
 * WATTLE_CLOCK_ANCHOR=<unix seconds> is the real instant it is at START (default: when
 * the process starts), so several processes (wattle, wattle-metersim) agree. Default: real time. */
#ifndef WATTLE_CLOCK_H
#define WATTLE_CLOCK_H

#include <stdint.h>
#include <stddef.h>

/* Configure from the texts of WATTLE_CLOCK_SPEED (1..1000000), WATTLE_CLOCK_START and
 * WATTLE_CLOCK_ANCHOR (unix seconds), each NULL or "" when unset; call once at startup
 * (the server's config module, and the tools, read the environment). Returns 0, or -1 on
 * a bad value. */
int srv_clock_init(const char *speed, const char *start, const char *anchor);

/* Set speed and start explicitly (speed >= 1; start_us 0 = now). */
void srv_clock_set(int64_t speed, int64_t start_us);

/* Microseconds since the Unix epoch, on wattle's clock. */
int64_t srv_clock_now_us(void);

/* How many times faster than real time wattle's clock runs (1 in production). */
int64_t srv_clock_speed(void);

/* Real monotonic microseconds, for durations (never scaled). */
int64_t srv_mono_us(void);

/* Format unix microseconds as RFC 3339 UTC with microseconds ("2026-10-01T08:00:00.000000Z").
 * buf must hold 32 bytes. Returns buf. */
char *srv_time_format(int64_t us, char *buf, size_t n);

#endif
