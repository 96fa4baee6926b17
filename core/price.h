/* price.h: pricing an interval's energy with a versioned tariff (pure: no I/O; the
 * site's UTC-offset segments are passed in).
 *
 * Assumption (stated because it decides money): a meter reports cumulative energy at two
 * instants and nothing in between, so the energy of an interval is taken to have flowed
 * evenly over time. An interval that crosses a band edge, a local midnight, a month end
 * or a tariff version is split in proportion to time; whole Wh are placed with the
 * largest-remainder method (ties to the earlier piece), so the parts sum exactly to the
 * interval's energy. A tiered tariff then splits a part across tiers by energy, on the
 * meter's cumulative energy in that local billing month.
 *
 * Costs are exact integers in nano-units (10^-9 of a major unit): Wh x rate in micro-units
 * per kWh. */
#ifndef WATTLE_PRICE_H
#define WATTLE_PRICE_H

#include "core/calendar.h"
#include "core/tz.h"

#include <jansson.h>
#include <stdint.h>

enum bill_kind { BILL_FLAT, BILL_TOU, BILL_TIERED };

#define BILL_MAX_BANDS 24
#define BILL_MAX_SLOTS 96
#define BILL_MAX_TIERS 16
#define BILL_BAND_NAME 33

struct bill_version {
	int64_t effective_from_us;
	enum bill_kind kind;
	int nbands; /* flat: one band "flat"; tiered: "tier1".. per tier */
	char band[BILL_MAX_BANDS][BILL_BAND_NAME];
	int64_t rate[BILL_MAX_BANDS]; /* micro-units per kWh, by band */
	int nslots;                   /* tou: [from_min, to_min) -> band, sorted, cover 24 h */
	int16_t slot_from[BILL_MAX_SLOTS], slot_to[BILL_MAX_SLOTS];
	int8_t slot_band[BILL_MAX_SLOTS];
	int64_t tier_up_to[BILL_MAX_TIERS]; /* tiered: Wh per month; the last is INT64_MAX */
};

/* A tariff: its versions, sorted by effective_from. */
struct bill_tariff {
	int n;
	struct bill_version *v; /* owned */
};

/* Fill *v from a stored kind and spec (as billing/tariff.c normalised it). 0, or -1. */
int bill_version_parse(const char *kind, json_t *spec, int64_t effective_from_us,
		       struct bill_version *v);

/* A meter's month-to-date energy, for tiers: month = local year * 12 + month - 1. */
struct bill_month {
	int32_t month;
	int64_t wh;
};

/* One priced part: local day (days since 1970-01-01 in site time), band, energy, cost. */
struct bill_line {
	int32_t day;
	char band[BILL_BAND_NAME];
	int64_t wh;
	int64_t cost_nano;
};

#define BILL_MAX_LINES 4096

enum bill_price_result {
	PRICE_OK = 0,
	PRICE_NO_TARIFF,  /* no version in force at some instant of the interval */
	PRICE_TOO_LONG,   /* more parts than BILL_MAX_LINES (an interval of years) */
	PRICE_OVERFLOW,   /* a cost left int64 */
	PRICE_BAD_INPUT,  /* t1 <= t0, wh < 0, no segments */
};

/* Price wh over [t0_us, t1_us). segs: the site's offset segments covering the interval.
 * *month is the meter's month-to-date energy, read and advanced. Lines are aggregated by
 * (day, band) in time order into out (capacity max); *nout gets the count; *cost_nano the
 * total. On failure nothing is meaningful, *month included. */
enum bill_price_result bill_price(const struct bill_tariff *t, const struct bill_tzseg *segs,
				  int nsegs, int64_t t0_us, int64_t t1_us, int64_t wh,
				  struct bill_month *month, struct bill_line *out, int max,
				  int *nout, int64_t *cost_nano);

/* Nano-units in one minor unit of a currency with `digits` minor digits (CNY 2 -> 10^7). */
int64_t bill_nano_per_minor(int digits);

/* Add cost_nano to a meter's carry (nano-units below one minor unit, 0 <= carry < unit):
 * returns the whole minor units newly crossed and updates *carry. Never drifts. */
int64_t bill_carry(int64_t *carry, int64_t cost_nano, int64_t unit);


#endif
