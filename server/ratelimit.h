/* ratelimit.h: token buckets that bound what one API key or one client address may ask of
 * the server, and how often an address may fail to authenticate. A bucket holds up to
 * `burst` tokens and refills at `per_min` tokens a minute; a request takes one. The buckets
 * live in fixed tables (a bucket not seen for a while may be reused by another key or
 * address, which then starts full): memory is bounded whatever a client does. Monotonic
 * time, not wattle's clock. Thread-safe. */
#ifndef WATTLE_RATELIMIT_H
#define WATTLE_RATELIMIT_H

#include <stdint.h>

struct srv_rate {
	int64_t per_min, burst; /* per_min 0: no limit */
};

struct srv_limits {
	struct srv_rate key;       /* WATTLE_RATE_PER_KEY (per second) and WATTLE_RATE_BURST */
	struct srv_rate addr;      /* WATTLE_RATE_PER_ADDR (per second), same burst: every request */
	struct srv_rate auth_fail; /* WATTLE_AUTH_FAILURES_PER_MIN, burst 2x: requests that fail to
				      authenticate, per address */
};

/* Set before serving (copied). */
void srv_limits_configure(const struct srv_limits *l);

enum srv_bucket { SRV_BUCKET_KEY, SRV_BUCKET_ADDR, SRV_BUCKET_AUTH_FAIL };

/* Take a token from id's bucket of that kind at now_us: 0 when there was one, else the
 * whole seconds until there will be (>= 1). A kind with no limit always answers 0. */
int64_t srv_limit_take(enum srv_bucket kind, uint64_t id, int64_t now_us);
/* The same without taking: 0 when a token is there. */
int64_t srv_limit_peek(enum srv_bucket kind, uint64_t id, int64_t now_us);
/* Give back a token taken (up to the burst): a failed-authentication token taken before the
 * key was looked up, when the key turned out good. */
void srv_limit_give(enum srv_bucket kind, uint64_t id);

#endif
