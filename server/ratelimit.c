/* ratelimit.c: the token buckets (ratelimit.h). Integer arithmetic: a token is UNIT units
 * and a rate of r a minute refills r units a microsecond. */
#include "server/ratelimit.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#define UNIT INT64_C(60000000) /* units per token: a minute in microseconds */
#define SHARDS 64
#define SLOTS 256 /* per shard and kind */
#define PROBE 8

struct bucket {
	uint64_t id;
	int64_t units, t_us;
	bool used;
};

struct shard {
	pthread_mutex_t mu;
	struct bucket b[3][SLOTS];
};

static struct shard shards[SHARDS];
static struct srv_rate rates[3];

void srv_limits_configure(const struct srv_limits *l)
{
	rates[SRV_BUCKET_KEY] = l->key;
	rates[SRV_BUCKET_ADDR] = l->addr;
	rates[SRV_BUCKET_AUTH_FAIL] = l->auth_fail;
	for (int i = 0; i < SHARDS; i++)
		pthread_mutex_init(&shards[i].mu, NULL);
}

static uint64_t mix(uint64_t x) /* a 64-bit finaliser (splitmix64's) */
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

static int64_t use(enum srv_bucket kind, uint64_t id, int64_t now_us, bool take)
{
	const struct srv_rate *r = &rates[kind];
	if (r->per_min <= 0)
		return 0;
	uint64_t h = mix(id * 3 + (uint64_t)kind);
	struct shard *s = &shards[h % SHARDS];
	int64_t full = r->burst * UNIT, wait = 0;
	pthread_mutex_lock(&s->mu);
	struct bucket *slots = s->b[kind], *b = NULL, *oldest = NULL;
	for (unsigned i = 0; i < PROBE && !b; i++) {
		struct bucket *c = &slots[(h / SHARDS + i) % SLOTS];
		if (c->used && c->id == id)
			b = c;
		else if (!oldest || (oldest->used && (!c->used || c->t_us < oldest->t_us)))
			oldest = c;
	}
	if (!b) { /* new, or the least recently seen of the probed slots is reused */
		b = oldest;
		*b = (struct bucket){id, full, now_us, true};
	}
	int64_t dt = now_us - b->t_us;
	if (dt > 0) {
		int64_t room = full - b->units;
		b->units = dt >= room / r->per_min + 1 ? full : b->units + dt * r->per_min;
		if (b->units > full)
			b->units = full;
		b->t_us = now_us;
	}
	if (b->units >= UNIT) {
		if (take)
			b->units -= UNIT;
	} else {
		int64_t per_s = r->per_min * 1000000; /* units a second */
		wait = (UNIT - b->units + per_s - 1) / per_s;
		if (wait < 1)
			wait = 1;
	}
	pthread_mutex_unlock(&s->mu);
	return wait;
}

int64_t srv_limit_take(enum srv_bucket kind, uint64_t id, int64_t now_us) { return use(kind, id, now_us, true); }

int64_t srv_limit_peek(enum srv_bucket kind, uint64_t id, int64_t now_us) { return use(kind, id, now_us, false); }

void srv_limit_give(enum srv_bucket kind, uint64_t id)
{
	const struct srv_rate *r = &rates[kind];
	if (r->per_min <= 0)
		return;
	uint64_t h = mix(id * 3 + (uint64_t)kind);
	struct shard *s = &shards[h % SHARDS];
	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < PROBE; i++) {
		struct bucket *c = &s->b[kind][(h / SHARDS + i) % SLOTS];
		if (c->used && c->id == id) {
			c->units = c->units + UNIT > r->burst * UNIT ? r->burst * UNIT : c->units + UNIT;
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
}
