/* alarm.h: detecting overloads, suspected illegal appliances and poor power quality from a
 * meter's readings. Pure: settings, the meter's detector state and one reading go in;
 * hits (and whether to cut) come out. Measurements (volts, amperes, power factor, THD)
 * are physical quantities, never money, so they are doubles; that is why this lives in
 * alarms/ and not in billing/, where no floating point is allowed. */
#ifndef WATTLE_ALARMS_ALARM_H
#define WATTLE_ALARMS_ALARM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum alarm_kind {
	AK_OVERLOAD,
	AK_MALICIOUS,
	AK_OVER_VOLTAGE,
	AK_UNDER_VOLTAGE,
	AK_LOW_PF,
	AK_HARMONICS,
	AK_COMM_LOST,
	AK_ENERGY_REGRESSED,
	AK_RELAY_MISMATCH,
	AK_ENERGY_IMPLAUSIBLE, /* a refused energy step: W it would have taken */
	AK__COUNT
};

/* "overload", "suspected_malicious_load", ... as in API.md; NULL past the end. */
const char *alarm_kind_name(enum alarm_kind k);
/* -1 when s is no kind. */
int alarm_kind_parse(const char *s);
/* "critical", "major" or "minor". */
const char *alarm_severity(enum alarm_kind k);
/* Whether a larger value is worse (the peak is the maximum) or a smaller one (minimum). */
bool alarm_higher_is_worse(enum alarm_kind k);

/* A spectrum of harmonics 2 to 31 (ALARM_ORDERS of them, v[0] is the 2nd), each in
 * hundredths of a percent of the fundamental (0..10000): integers, so a limit compares
 * exactly and a stored spectrum is what was detected on. */
#define ALARM_ORDERS 30
#define ALARM_FIRST_ORDER 2
#define ALARM_NO_LIMIT UINT16_MAX /* an order without a limit */
struct alarm_spectrum {
	bool has_v, has_i; /* voltage, current */
	uint16_t v[ALARM_ORDERS], i[ALARM_ORDERS];
};

/* A meter's settings: the site's alarm_settings overlaid with the meter's. */
struct alarm_cfg {
	int64_t max_power_w;     /* the meter's limit; 0 = none */
	double rated_current_a;  /* 0 = none */
	int64_t overload_readings; /* N consecutive readings over the limit ... */
	int64_t overload_us;       /* ... or over it for T */
	int64_t step_w;          /* a sudden rise of at least this ... */
	double step_pf;          /* ... at a power factor of at least this: a resistive load */
	int mal_from_min, mal_to_min; /* only inside [from, to) local minutes; -1: always */
	bool mal_category;       /* the tenant's category is one the site forbids cooking in
				    (or the site lists none) */
	int64_t malicious_confirm; /* M: readings the step must hold before an automatic cut; 0 never */
	double nominal_v, v_tol_pct;
	double low_pf;           /* below this ... */
	int64_t low_pf_us;       /* ... for this long ... */
	int64_t low_pf_min_w;    /* ... while drawing at least this (idle pf means nothing) */
	double thd_v_pct, thd_i_pct;
	bool harm_limits;        /* some order has a limit: */
	uint16_t harm_lim_v[ALARM_ORDERS], harm_lim_i[ALARM_ORDERS]; /* hundredths, or ALARM_NO_LIMIT */
	int64_t clear_us;        /* an alarm closes when not seen for this long */
	int64_t interval_us;     /* the meter's reporting interval ... */
	int64_t comm_lost_intervals; /* ... K of which missed is comm_lost */
};

/* Defaults, then every known key of settings (a JSON object, may be NULL) over them.
 * category is the tenant's (may be NULL). Unknown keys are ignored here (the API refuses
 * them on the way in). */
void alarm_cfg_load(struct alarm_cfg *c, const json_t *settings, int64_t max_power_w,
			 const char *category);

/* Check an alarm_settings object as a client sent it. Returns 0, or -1 with the offending
 * key in field and a message. */
int alarm_settings_check(const json_t *o, bool site, char *field, size_t fn, char *msg,
			      size_t mn);

/* A reading's harmonics_v_pct or harmonics_i_pct as a client sent it: an array of exactly
 * ALARM_ORDERS numbers from 0 to 100 (orders 2 to 31, percent of the fundamental), into out
 * in hundredths (rounded). Returns 0, or -1 when it is not one (out is then unspecified). */
int alarm_spectrum_decode(const json_t *a, uint16_t out[ALARM_ORDERS]);

/* Hundredths of a percent as a decimal without trailing zeros: 620 -> "6.2", 500 -> "5",
 * 5 -> "0.05". Returns buf. */
char *alarm_pct_text(unsigned hundredths, char *buf, size_t n);

/* A harmonic_limits_pct / harmonic_limits_i_pct object's key: the order 2..31 it names
 * ("3"; no sign, no leading zero), or -1. */
int alarm_order_key(const char *key);

/* What the detector remembers of a meter between readings (and batches). */
struct alarm_state {
	int64_t last_ts;       /* 0: no reading yet */
	int64_t last_power_w;  /* INT64_MIN: unknown */
	int64_t over_since, over_count;
	int64_t lowpf_since;   /* INT64_MIN: power factor fine */
	int64_t mal_base_w;    /* the load before a suspected step; INT64_MIN: none */
	int64_t mal_count;     /* readings the step has held */
};
#define BILL_ALARM_STATE_N 7
void alarm_state_init(struct alarm_state *s);
/* As int64 values in a fixed order, for storage; and back (n short: initial state). */
void alarm_state_pack(const struct alarm_state *s, int64_t out[BILL_ALARM_STATE_N]);
void alarm_state_unpack(struct alarm_state *s, const int64_t *v, int n);

/* One accepted reading's instantaneous values; NAN when absent. */
struct alarm_reading {
	int64_t ts_us;
	bool has_power;
	int64_t power_w;
	double voltage_v, current_a, pf, thd_v_pct, thd_i_pct;
	int local_min; /* site-local minute of day, needed only when cfg->mal_from_min >= 0 */
	const struct alarm_spectrum *harm; /* the reading's harmonics, NULL when it has none */
};

/* A reading's instantaneous values from their text as stored ("" when absent): power in
 * whole watts, the others decimal numbers. */
void alarm_reading_from_text(struct alarm_reading *r, int64_t ts_us, const char *power_w, const char *voltage_v,
			     const char *current_a, const char *pf, const char *thd_v_pct, const char *thd_i_pct);

#define ALARM_DETAIL 400 /* room for a high_harmonics detail naming many orders */
struct alarm_hit {
	enum alarm_kind kind;
	double value;     /* the measure: W, V, pf, % (for the step: its size in W) */
	char detail[ALARM_DETAIL]; /* a JSON object: what was seen */
};

/* A hit for an event the billing path itself detects (energy_regressed, relay_mismatch):
 * value is the measure (Wh gone backwards) when has_value, else none; detail is JSON. */
void alarm_event_hit(struct alarm_hit *h, enum alarm_kind k, bool has_value, int64_t value, const char *detail);

/* Feed one reading, in time order per meter. Writes up to AK__COUNT hits (conditions
 * present and confirmed at this reading) and returns how many; *cut becomes true at the
 * reading that confirms a suspected malicious load over cfg->malicious_confirm readings.
 * high_harmonics is one hit for the THD limits and the per-order limits together: when an
 * order is over its limit, its detail is {"order","of":"voltage"|"current","pct",
 * "limit_pct"} for the order furthest over (its value the hit's) and "orders_v_pct",
 * "orders_i_pct" ({"5": 7.1}) for every order over, as many as the detail holds ("more":
 * how many it could not); else the THD's {"thd_v_pct"|"thd_i_pct","limit_pct"}. */
int alarm_feed(const struct alarm_cfg *cfg, struct alarm_state *st,
		    const struct alarm_reading *r, struct alarm_hit *out, bool *cut);

/* All detections of one kind on one meter in one batch. */
struct alarm_row {
	int64_t meter_id, site_id, tenant_id; /* tenant 0: a public meter */
	enum alarm_kind kind;
	int64_t first_us, last_us; /* reading times */
	int count;
	double peak;
	char detail[ALARM_DETAIL]; /* the first detection's */
	int64_t clear_s;
};

/* Merge hit h at reading time ts into row (count 0: a new row). */
void alarm_row_add(struct alarm_row *row, const struct alarm_hit *h, int64_t ts_us);

#endif
