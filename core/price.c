/* price.c: splitting an interval into priced parts (see price.h for the assumption). */
#include "core/price.h"
#include "core/calendar.h"
#include "core/valid.h"
#include "core/money.h"

#include <stdlib.h>
#include <string.h>

#define DAY_US CAL_DAY_US
#define MIN_US INT64_C(60000000)


int64_t bill_nano_per_minor(int digits)
{
	int64_t u = 1000000000;
	for (int i = 0; i < digits; i++)
		u /= 10;
	return u;
}

int64_t bill_carry(int64_t *carry, int64_t cost_nano, int64_t unit)
{
	/* carry < unit and cost_nano >= 0; split cost first so the sum cannot overflow. */
	int64_t minor = cost_nano / unit;
	int64_t c = *carry + cost_nano % unit;
	minor += c / unit;
	*carry = c % unit;
	return minor;
}

int bill_version_parse(const char *kind, json_t *spec, int64_t effective_from_us,
		       struct bill_version *v)
{
	memset(v, 0, sizeof *v);
	v->effective_from_us = effective_from_us;
	if (!strcmp(kind, "flat")) {
		v->kind = BILL_FLAT;
		v->nbands = 1;
		strcpy(v->band[0], "flat");
		v->rate[0] = json_integer_value(json_object_get(spec, "rate_micros_per_kwh"));
		return 0;
	}
	if (!strcmp(kind, "tou")) {
		v->kind = BILL_TOU;
		json_t *bands = json_object_get(spec, "bands"), *sched = json_object_get(spec, "schedule");
		size_t i;
		json_t *b;
		if (json_array_size(bands) > BILL_MAX_BANDS || json_array_size(sched) > BILL_MAX_SLOTS)
			return -1;
		json_array_foreach(bands, i, b) {
			snprintf(v->band[i], BILL_BAND_NAME, "%s", json_string_value(json_object_get(b, "name")));
			v->rate[i] = json_integer_value(json_object_get(b, "rate_micros_per_kwh"));
		}
		v->nbands = (int)json_array_size(bands);
		json_array_foreach(sched, i, b) {
			const char *band = json_string_value(json_object_get(b, "band"));
			int k = 0;
			while (k < v->nbands && strcmp(v->band[k], band ? band : ""))
				k++;
			int from = api_parse_hhmm(json_string_value(json_object_get(b, "from")), 0);
			int to = api_parse_hhmm(json_string_value(json_object_get(b, "to")), 1);
			if (k == v->nbands || from < 0 || to <= from)
				return -1;
			v->slot_from[i] = (int16_t)from;
			v->slot_to[i] = (int16_t)to;
			v->slot_band[i] = (int8_t)k;
		}
		v->nslots = (int)json_array_size(sched);
		return v->nslots ? 0 : -1;
	}
	if (!strcmp(kind, "tiered")) {
		v->kind = BILL_TIERED;
		json_t *tiers = json_object_get(spec, "tiers");
		size_t i;
		json_t *t;
		if (json_array_size(tiers) < 1 || json_array_size(tiers) > BILL_MAX_TIERS)
			return -1;
		json_array_foreach(tiers, i, t) {
			snprintf(v->band[i], BILL_BAND_NAME, "tier%zu", i + 1);
			v->rate[i] = json_integer_value(json_object_get(t, "rate_micros_per_kwh"));
			json_t *up = json_object_get(t, "up_to_wh");
			v->tier_up_to[i] = json_is_integer(up) ? json_integer_value(up) : INT64_MAX;
		}
		v->nbands = (int)json_array_size(tiers);
		v->tier_up_to[v->nbands - 1] = INT64_MAX;
		return 0;
	}
	return -1;
}

/* A part of the interval: time-homogeneous in version, band, local day. */
struct piece {
	int64_t dur;
	int64_t wh;
	int64_t rem; /* remainder of the proportional split, for largest remainder */
	int32_t day;
	int16_t version;
	int16_t band; /* -1 for tiered: decided by energy */
};

static int by_remainder(const void *a, const void *b)
{
	const struct piece *x = *(const struct piece *const *)a, *y = *(const struct piece *const *)b;
	if (x->rem != y->rem)
		return x->rem > y->rem ? -1 : 1;
	return x < y ? -1 : x > y; /* ties: the earlier piece */
}

static enum bill_price_result add_line(struct bill_line *out, int max, int *nout, int32_t day,
				       const char *band, int64_t wh, int64_t rate, int64_t *total)
{
	int64_t cost;
	if (bill_mul(wh, rate, &cost) || bill_add(*total, cost, total))
		return PRICE_OVERFLOW;
	for (int i = *nout - 1; i >= 0 && out[i].day == day; i--) {
		if (!strcmp(out[i].band, band)) {
			if (bill_add(out[i].wh, wh, &out[i].wh) ||
			    bill_add(out[i].cost_nano, cost, &out[i].cost_nano))
				return PRICE_OVERFLOW;
			return PRICE_OK;
		}
	}
	if (*nout == max)
		return PRICE_TOO_LONG;
	struct bill_line *l = &out[(*nout)++];
	l->day = day;
	snprintf(l->band, sizeof l->band, "%s", band);
	l->wh = wh;
	l->cost_nano = cost;
	return PRICE_OK;
}

enum bill_price_result bill_price(const struct bill_tariff *t, const struct bill_tzseg *segs,
				  int nsegs, int64_t t0_us, int64_t t1_us, int64_t wh,
				  struct bill_month *month, struct bill_line *out, int max,
				  int *nout, int64_t *cost_nano)
{
	*nout = 0;
	*cost_nano = 0;
	if (t1_us <= t0_us || wh < 0 || nsegs < 1 || segs[0].from_us > t0_us)
		return PRICE_BAD_INPUT;

	/* 1. Cut [t0, t1) where the offset, the version, the local day or the band changes. */
	int cap = 64, n = 0;
	struct piece *p = malloc((size_t)cap * sizeof *p);
	if (!p)
		abort();
	enum bill_price_result res = PRICE_OK;
	int si = 0, vi = -1;
	for (int64_t at = t0_us; at < t1_us;) {
		while (si + 1 < nsegs && segs[si + 1].from_us <= at)
			si++;
		while (vi + 1 < t->n && t->v[vi + 1].effective_from_us <= at)
			vi++;
		if (vi < 0) {
			res = PRICE_NO_TARIFF;
			goto out;
		}
		const struct bill_version *v = &t->v[vi];
		int64_t local = at + (int64_t)segs[si].offset_s * 1000000;
		int32_t day = cal_local_day(local);
		int64_t tod = local - (int64_t)day * DAY_US;
		int64_t end = at + (DAY_US - tod); /* local midnight */
		int band = v->kind == BILL_TIERED ? -1 : 0;
		if (v->kind == BILL_TOU) {
			int k = 0;
			while (k < v->nslots && (int64_t)v->slot_to[k] * MIN_US <= tod)
				k++;
			band = v->slot_band[k];
			int64_t edge = at + ((int64_t)v->slot_to[k] * MIN_US - tod);
			if (edge < end)
				end = edge;
		}
		if (si + 1 < nsegs && segs[si + 1].from_us < end)
			end = segs[si + 1].from_us;
		if (vi + 1 < t->n && t->v[vi + 1].effective_from_us < end)
			end = t->v[vi + 1].effective_from_us;
		if (t1_us < end)
			end = t1_us;
		if (n > 0 && p[n - 1].day == day && p[n - 1].version == vi && p[n - 1].band == band) {
			p[n - 1].dur += end - at; /* an offset change inside one band and day */
		} else {
			if (n == BILL_MAX_LINES) {
				res = PRICE_TOO_LONG;
				goto out;
			}
			if (n == cap) {
				cap *= 2;
				p = realloc(p, (size_t)cap * sizeof *p);
				if (!p)
					abort();
			}
			p[n++] = (struct piece){end - at, 0, 0, day, (int16_t)vi, (int16_t)band};
		}
		at = end;
	}

	/* 2. Spread wh over the pieces by time; whole Wh by largest remainder. */
	int64_t total_dur = t1_us - t0_us, placed = 0;
	for (int i = 0; i < n; i++) {
		__int128 x = (__int128)wh * p[i].dur;
		p[i].wh = (int64_t)(x / total_dur);
		p[i].rem = (int64_t)(x % total_dur);
		placed += p[i].wh;
	}
	if (placed < wh) {
		struct piece **order = malloc((size_t)n * sizeof *order);
		if (!order)
			abort();
		for (int i = 0; i < n; i++)
			order[i] = &p[i];
		qsort(order, (size_t)n, sizeof *order, by_remainder);
		for (int64_t k = 0; k < wh - placed; k++)
			order[k]->wh++;
		free(order);
	}

	/* 3. Price each piece; tiers by the meter's month-to-date energy. */
	for (int i = 0; i < n && res == PRICE_OK; i++) {
		const struct bill_version *v = &t->v[p[i].version];
		int32_t m = cal_month_of_day(p[i].day);
		if (month->month != m) {
			month->month = m;
			month->wh = 0;
		}
		if (p[i].wh == 0)
			continue;
		if (v->kind != BILL_TIERED) {
			res = add_line(out, max, nout, p[i].day, v->band[p[i].band], p[i].wh,
				       v->rate[p[i].band], cost_nano);
			if (bill_add(month->wh, p[i].wh, &month->wh))
				res = PRICE_OVERFLOW;
			continue;
		}
		int64_t after;
		if (bill_add(month->wh, p[i].wh, &after)) {
			res = PRICE_OVERFLOW;
			break;
		}
		for (int64_t left = p[i].wh; left > 0 && res == PRICE_OK;) {
			int k = 0;
			while (month->wh >= v->tier_up_to[k])
				k++;
			int64_t take = v->tier_up_to[k] - month->wh < left ? v->tier_up_to[k] - month->wh : left;
			res = add_line(out, max, nout, p[i].day, v->band[k], take, v->rate[k], cost_nano);
			month->wh += take;
			left -= take;
		}
	}
out:
	free(p);
	return res;
}
