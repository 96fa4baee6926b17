/* alarm.c: alarm detection, one reading at a time. See alarm.h. */
#include "core/alarm.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[AK__COUNT] = {
	"overload",      "suspected_malicious_load", "over_voltage",     "under_voltage",
	"low_power_factor", "high_harmonics",       "comm_lost",        "energy_regressed",
	"relay_mismatch", "energy_implausible",
};
static const char *const severities[AK__COUNT] = {
	"critical", "critical", "major", "major", "minor", "minor", "major", "major", "critical", "major",
};

const char *alarm_kind_name(enum alarm_kind k)
{
	return (unsigned)k < AK__COUNT ? kind_names[k] : NULL;
}

int alarm_kind_parse(const char *s)
{
	for (int i = 0; s && i < AK__COUNT; i++)
		if (!strcmp(kind_names[i], s))
			return i;
	return -1;
}

const char *alarm_severity(enum alarm_kind k)
{
	return (unsigned)k < AK__COUNT ? severities[k] : "minor";
}

bool alarm_higher_is_worse(enum alarm_kind k)
{
	return k != AK_UNDER_VOLTAGE && k != AK_LOW_PF;
}

/* ---- settings ---- */

enum skind { S_INT, S_NUM, S_BOOL, S_HOURS, S_STRINGS, S_SEVERITIES, S_TEXT, S_ORDERS };

struct setting {
	const char *key;
	enum skind kind;
	double min, max;
	bool site_only;
};

static const struct setting settings[] = {
	{"rated_current_a", S_NUM, 0.001, 100000, false},
	{"overload_readings", S_INT, 1, 1000, false},
	{"overload_seconds", S_INT, 1, 86400, false},
	{"step_w", S_INT, 1, 1000000, false},
	{"step_pf", S_NUM, 0, 1, false},
	{"malicious_hours", S_HOURS, 0, 0, false},
	{"malicious_confirm_readings", S_INT, 0, 1000, false},
	{"nominal_v", S_NUM, 1, 100000, false},
	{"voltage_tolerance_pct", S_NUM, 0, 100, false},
	{"low_pf", S_NUM, 0, 1, false},
	{"low_pf_minutes", S_INT, 1, 1440, false},
	{"low_pf_min_power_w", S_INT, 0, 1000000, false},
	{"thd_v_pct", S_NUM, 0, 100, false},
	{"thd_i_pct", S_NUM, 0, 1000, false},
	{"harmonic_limits_pct", S_ORDERS, 0, 100, false},   /* {"3": 5.0, ...}: voltage, per order */
	{"harmonic_limits_i_pct", S_ORDERS, 0, 100, false}, /* the same for current */
	{"clear_minutes", S_INT, 1, 10080, false},
	{"interval_seconds", S_INT, 1, 86400, false},
	{"comm_lost_intervals", S_INT, 1, 1000, false},
	{"forbidden_categories", S_STRINGS, 0, 0, true},
	{"auto_cut_malicious", S_BOOL, 0, 0, true},
	{"duty_phone", S_TEXT, 0, 0, true},
	{"sms_severities", S_SEVERITIES, 0, 0, true},
	{"duty_sms_per_hour", S_INT, 0, 10000, true}, /* the flood guard: alarm SMS to the duty phone per hour */
	{0, 0, 0, 0, false},
};

/* "HH:MM" (to may be "24:00") -> minutes, or -1. */
static int hhmm(const char *s, bool end)
{
	if (!s || strlen(s) != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	int h = (s[0] - '0') * 10 + s[1] - '0', m = (s[3] - '0') * 10 + s[4] - '0';
	if (m > 59 || h > 24 || (h == 24 && (m || !end)))
		return -1;
	return h * 60 + m;
}

int alarm_order_key(const char *k)
{
	if (!k || k[0] < '1' || k[0] > '9' || (k[1] && (k[1] < '0' || k[1] > '9' || k[2])))
		return -1;
	int order = k[1] ? (k[0] - '0') * 10 + k[1] - '0' : k[0] - '0';
	return order >= ALARM_FIRST_ORDER && order < ALARM_FIRST_ORDER + ALARM_ORDERS ? order : -1;
}

/* A per-order limits object: keys orders 2..31, values numbers in [s->min, s->max]. On a bad
 * key or value, field names it (alarm_settings.<setting>.<key>). */
static bool orders_ok(const struct setting *s, const json_t *v, char *field, size_t fn, char *msg, size_t mn)
{
	if (!json_is_object(v)) {
		snprintf(msg, mn, "%s must be an object of limits by order, {\"3\": 5.0}", s->key);
		return false;
	}
	const char *k;
	json_t *x;
	json_object_foreach((json_t *)v, k, x) {
		snprintf(field, fn, "alarm_settings.%s.%.8s", s->key, k);
		if (alarm_order_key(k) < 0) {
			snprintf(msg, mn, "%s keys must be harmonic orders from %d to %d", s->key, ALARM_FIRST_ORDER,
				 ALARM_FIRST_ORDER + ALARM_ORDERS - 1);
			return false;
		}
		if (!json_is_number(x) || json_number_value(x) < s->min || json_number_value(x) > s->max) {
			snprintf(msg, mn, "%s.%s must be a percent of the fundamental from %g to %g", s->key, k, s->min,
				 s->max);
			return false;
		}
	}
	return true;
}

int alarm_settings_check(const json_t *o, bool site, char *field, size_t fn, char *msg, size_t mn)
{
	if (!json_is_object(o)) {
		snprintf(field, fn, "alarm_settings");
		snprintf(msg, mn, "alarm_settings must be an object");
		return -1;
	}
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v) {
		const struct setting *s = settings;
		while (s->key && strcmp(s->key, key))
			s++;
		snprintf(field, fn, "alarm_settings.%s", key);
		if (!s->key || (s->site_only && !site)) {
			snprintf(msg, mn, s->key ? "%s is a site setting" : "%s is not an alarm setting", key);
			return -1;
		}
		if (json_is_null(v))
			continue; /* back to the default */
		bool ok = true;
		switch (s->kind) {
		case S_INT:
			ok = json_is_integer(v) && json_integer_value(v) >= (json_int_t)s->min &&
			     json_integer_value(v) <= (json_int_t)s->max;
			break;
		case S_NUM:
			ok = json_is_number(v) && json_number_value(v) >= s->min && json_number_value(v) <= s->max;
			break;
		case S_BOOL:
			ok = json_is_boolean(v);
			break;
		case S_TEXT:
			ok = json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= 32;
			break;
		case S_HOURS:
			ok = json_is_object(v) && json_object_size(v) == 2 &&
			     hhmm(json_string_value(json_object_get(v, "from")), false) >= 0 &&
			     hhmm(json_string_value(json_object_get(v, "to")), true) >= 0;
			break;
		case S_ORDERS:
			if (!orders_ok(s, v, field, fn, msg, mn))
				return -1;
			break;
		case S_STRINGS:
		case S_SEVERITIES: {
			ok = json_is_array(v) && json_array_size(v) <= 64;
			size_t i;
			json_t *e;
			json_array_foreach(v, i, e) {
				const char *t = json_string_value(e);
				ok = ok && t && *t && strlen(t) <= 64;
				if (ok && s->kind == S_SEVERITIES)
					ok = !strcmp(t, "critical") || !strcmp(t, "major") || !strcmp(t, "minor");
			}
			break;
		}
		}
		if (!ok) {
			static const char *const what[] = {
				[S_INT] = "an integer in range", [S_NUM] = "a number in range",
				[S_BOOL] = "true or false", [S_HOURS] = "{\"from\":\"HH:MM\",\"to\":\"HH:MM\"}",
				[S_STRINGS] = "an array of strings",
				[S_SEVERITIES] = "an array of critical, major, minor", [S_TEXT] = "a string",
				[S_ORDERS] = "an object of limits by order",
			};
			snprintf(msg, mn, "%s must be %s", key, what[s->kind]);
			if (s->kind == S_INT || s->kind == S_NUM)
				snprintf(msg, mn, "%s must be %s %g..%g", key,
					 s->kind == S_INT ? "an integer in" : "a number in", s->min, s->max);
			return -1;
		}
	}
	return 0;
}

static double num(const json_t *o, const char *k, double def)
{
	json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : def;
}

static int64_t integer(const json_t *o, const char *k, int64_t def)
{
	json_t *v = json_object_get(o, k);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

/* Hundredths of a percent from a number in [0, 100]. */
static uint16_t hundredths(double pct) { return (uint16_t)(pct * 100 + 0.5); }

/* A per-order limits object (as alarm_settings_check lets it through) into out, orders
 * without a limit ALARM_NO_LIMIT. Whether any order has one. */
static bool limits(const json_t *o, uint16_t out[ALARM_ORDERS])
{
	bool any = false;
	for (int k = 0; k < ALARM_ORDERS; k++)
		out[k] = ALARM_NO_LIMIT;
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)o, key, v) {
		int order = alarm_order_key(key);
		double x = json_number_value(v);
		if (order < 0 || !json_is_number(v) || !(x >= 0 && x <= 100))
			continue;
		out[order - ALARM_FIRST_ORDER] = hundredths(x);
		any = true;
	}
	return any;
}

void alarm_cfg_load(struct alarm_cfg *c, const json_t *o, int64_t max_power_w,
			 const char *category)
{
	c->max_power_w = max_power_w;
	c->rated_current_a = num(o, "rated_current_a", 0);
	c->overload_readings = integer(o, "overload_readings", 3);
	c->overload_us = integer(o, "overload_seconds", 60) * 1000000;
	c->step_w = integer(o, "step_w", 1500);
	c->step_pf = num(o, "step_pf", 0.97);
	json_t *h = json_object_get(o, "malicious_hours");
	c->mal_from_min = hhmm(json_string_value(json_object_get(h, "from")), false);
	c->mal_to_min = hhmm(json_string_value(json_object_get(h, "to")), true);
	if (c->mal_from_min < 0 || c->mal_to_min < 0)
		c->mal_from_min = c->mal_to_min = -1;
	json_t *cats = json_object_get(o, "forbidden_categories");
	c->mal_category = json_array_size(cats) == 0;
	size_t i;
	json_t *e;
	json_array_foreach(cats, i, e)
		if (category && json_string_value(e) && !strcmp(json_string_value(e), category))
			c->mal_category = true;
	c->malicious_confirm = integer(o, "malicious_confirm_readings", 3);
	c->nominal_v = num(o, "nominal_v", 220);
	c->v_tol_pct = num(o, "voltage_tolerance_pct", 10);
	c->low_pf = num(o, "low_pf", 0.85);
	c->low_pf_us = integer(o, "low_pf_minutes", 15) * 60000000;
	c->low_pf_min_w = integer(o, "low_pf_min_power_w", 200);
	c->thd_v_pct = num(o, "thd_v_pct", 5);
	c->thd_i_pct = num(o, "thd_i_pct", 20);
	bool lv = limits(json_object_get(o, "harmonic_limits_pct"), c->harm_lim_v);
	bool li = limits(json_object_get(o, "harmonic_limits_i_pct"), c->harm_lim_i);
	c->harm_limits = lv || li;
	c->clear_us = integer(o, "clear_minutes", 5) * 60000000;
	c->interval_us = integer(o, "interval_seconds", 900) * 1000000;
	c->comm_lost_intervals = integer(o, "comm_lost_intervals", 3);
}

/* ---- spectra ---- */

int alarm_spectrum_decode(const json_t *a, uint16_t out[ALARM_ORDERS])
{
	if (!json_is_array(a) || json_array_size(a) != ALARM_ORDERS)
		return -1;
	for (size_t k = 0; k < ALARM_ORDERS; k++) {
		const json_t *e = json_array_get(a, k);
		double x = json_number_value(e);
		if (!json_is_number(e) || !(x >= 0 && x <= 100))
			return -1;
		out[k] = hundredths(x);
	}
	return 0;
}

char *alarm_pct_text(unsigned v, char *buf, size_t n)
{
	if (v % 100 == 0)
		snprintf(buf, n, "%u", v / 100);
	else if (v % 10 == 0)
		snprintf(buf, n, "%u.%u", v / 100, v % 100 / 10);
	else
		snprintf(buf, n, "%u.%02u", v / 100, v % 100);
	return buf;
}

/* ---- state ---- */

void alarm_state_init(struct alarm_state *s)
{
	memset(s, 0, sizeof *s);
	s->last_power_w = INT64_MIN;
	s->lowpf_since = INT64_MIN;
	s->mal_base_w = INT64_MIN;
}

void alarm_state_pack(const struct alarm_state *s, int64_t out[BILL_ALARM_STATE_N])
{
	int64_t v[BILL_ALARM_STATE_N] = {s->last_ts,     s->last_power_w, s->over_since, s->over_count,
					 s->lowpf_since, s->mal_base_w,   s->mal_count};
	memcpy(out, v, sizeof v);
}

void alarm_state_unpack(struct alarm_state *s, const int64_t *v, int n)
{
	alarm_state_init(s);
	if (n < BILL_ALARM_STATE_N)
		return;
	s->last_ts = v[0];
	s->last_power_w = v[1];
	s->over_since = v[2];
	s->over_count = v[3];
	s->lowpf_since = v[4];
	s->mal_base_w = v[5];
	s->mal_count = v[6];
}

/* ---- inputs ---- */

static double num_text(const char *s) { return s && *s ? strtod(s, NULL) : NAN; }

void alarm_reading_from_text(struct alarm_reading *r, int64_t ts_us, const char *power_w, const char *voltage_v,
			     const char *current_a, const char *pf, const char *thd_v_pct, const char *thd_i_pct)
{
	r->ts_us = ts_us;
	r->has_power = power_w && *power_w;
	r->power_w = r->has_power ? strtoll(power_w, NULL, 10) : 0;
	r->voltage_v = num_text(voltage_v);
	r->current_a = num_text(current_a);
	r->pf = num_text(pf);
	r->thd_v_pct = num_text(thd_v_pct);
	r->thd_i_pct = num_text(thd_i_pct);
	r->local_min = -1;
}

void alarm_event_hit(struct alarm_hit *h, enum alarm_kind k, bool has_value, int64_t value, const char *detail)
{
	h->kind = k;
	h->value = has_value ? (double)value : NAN;
	snprintf(h->detail, sizeof h->detail, "%s", detail);
}

/* ---- detection ---- */

static bool in_window(int from, int to, int m)
{
	if (from < 0)
		return true;
	if (m < 0)
		return false;
	return from <= to ? m >= from && m < to : m >= from || m < to; /* may wrap midnight */
}

static int hit(struct alarm_hit *out, int n, enum alarm_kind k, double value, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int hit(struct alarm_hit *out, int n, enum alarm_kind k, double value, const char *fmt, ...)
{
	out[n].kind = k;
	out[n].value = value;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out[n].detail, sizeof out[n].detail, fmt, ap);
	va_end(ap);
	return n + 1;
}

/* Append to detail (at *len of ALARM_DETAIL) the orders of v over their limit lim as
 * "name":{"5":7.1,...}, keeping room for the closing "more" and braces; the orders it had
 * no room for are added to *more. */
static void orders_map(char *detail, size_t *len, const char *name, const uint16_t *v, const uint16_t *lim,
		       int *more)
{
	*len += (size_t)snprintf(detail + *len, ALARM_DETAIL - *len, ",\"%s\":{", name);
	bool first = true;
	for (int k = 0; k < ALARM_ORDERS; k++) {
		if (lim[k] == ALARM_NO_LIMIT || v[k] <= lim[k])
			continue;
		char pct[16], one[32];
		int w = snprintf(one, sizeof one, "%s\"%d\":%s", first ? "" : ",", k + ALARM_FIRST_ORDER,
				 alarm_pct_text(v[k], pct, sizeof pct));
		if (*len + (size_t)w + 40 >= ALARM_DETAIL) { /* 40: "}", the other map's head, "more" */
			(*more)++;
			continue;
		}
		memcpy(detail + *len, one, (size_t)w + 1);
		*len += (size_t)w;
		first = false;
	}
	detail[(*len)++] = '}';
	detail[*len] = 0;
}

/* The high_harmonics hit of a spectrum with an order over its limit, into *h (see
 * alarm_feed); false when none is. */
static bool orders_over(const struct alarm_cfg *c, const struct alarm_spectrum *s, struct alarm_hit *h)
{
	int worst = -1, worst_i = 0, excess = 0;
	for (int of = 0; of < 2; of++) {
		const uint16_t *v = of ? s->i : s->v, *lim = of ? c->harm_lim_i : c->harm_lim_v;
		if (!(of ? s->has_i : s->has_v))
			continue;
		for (int k = 0; k < ALARM_ORDERS; k++)
			if (lim[k] != ALARM_NO_LIMIT && v[k] > lim[k] && (worst < 0 || v[k] - lim[k] > excess)) {
				worst = k;
				worst_i = of;
				excess = v[k] - lim[k];
			}
	}
	if (worst < 0)
		return false;
	const uint16_t *v = worst_i ? s->i : s->v, *lim = worst_i ? c->harm_lim_i : c->harm_lim_v;
	char pct[16], limit[16];
	h->kind = AK_HARMONICS;
	h->value = v[worst] / 100.0;
	size_t len = (size_t)snprintf(h->detail, sizeof h->detail,
				      "{\"order\":%d,\"of\":\"%s\",\"pct\":%s,\"limit_pct\":%s", worst + ALARM_FIRST_ORDER,
				      worst_i ? "current" : "voltage", alarm_pct_text(v[worst], pct, sizeof pct),
				      alarm_pct_text(lim[worst], limit, sizeof limit));
	static const uint16_t none[ALARM_ORDERS] = {0};
	int more = 0;
	orders_map(h->detail, &len, "orders_v_pct", s->has_v ? s->v : none, c->harm_lim_v, &more);
	orders_map(h->detail, &len, "orders_i_pct", s->has_i ? s->i : none, c->harm_lim_i, &more);
	if (more)
		len += (size_t)snprintf(h->detail + len, sizeof h->detail - len, ",\"more\":%d", more);
	snprintf(h->detail + len, sizeof h->detail - len, "}");
	return true;
}

int alarm_feed(const struct alarm_cfg *c, struct alarm_state *st,
		    const struct alarm_reading *r, struct alarm_hit *out, bool *cut)
{
	int n = 0;
	*cut = false;

	/* overload: over the power limit or the rated current, N readings running or for T */
	bool p_over = r->has_power && c->max_power_w > 0 && r->power_w > c->max_power_w;
	bool i_over = !isnan(r->current_a) && c->rated_current_a > 0 && r->current_a > c->rated_current_a;
	bool known = (r->has_power && c->max_power_w > 0) || (!isnan(r->current_a) && c->rated_current_a > 0);
	if (p_over || i_over) {
		if (st->over_count++ == 0)
			st->over_since = r->ts_us;
		if (st->over_count >= c->overload_readings || r->ts_us - st->over_since >= c->overload_us)
			n = p_over ? hit(out, n, AK_OVERLOAD, (double)r->power_w,
					 "{\"power_w\":%lld,\"max_power_w\":%lld,\"readings\":%lld}",
					 (long long)r->power_w, (long long)c->max_power_w, (long long)st->over_count)
				   : hit(out, n, AK_OVERLOAD, r->current_a,
					 "{\"current_a\":%.3f,\"rated_current_a\":%.3f,\"readings\":%lld}",
					 r->current_a, c->rated_current_a, (long long)st->over_count);
	} else if (known) {
		st->over_count = 0;
		st->over_since = 0;
	}

	/* suspected malicious load: a sudden resistive step (heater, kettle, cooker) */
	if (r->has_power) {
		double apf = fabs(r->pf);
		if (st->mal_base_w != INT64_MIN) {
			/* a step under way: does the load still hold (three quarters of the step)? */
			if ((r->power_w - st->mal_base_w) * 4 >= c->step_w * 3) {
				st->mal_count++;
				n = hit(out, n, AK_MALICIOUS, (double)(r->power_w - st->mal_base_w),
					"{\"from_w\":%lld,\"to_w\":%lld,\"held_readings\":%lld}",
					(long long)st->mal_base_w, (long long)r->power_w, (long long)st->mal_count);
				if (c->malicious_confirm > 0 && st->mal_count == c->malicious_confirm)
					*cut = true;
			} else {
				st->mal_base_w = INT64_MIN;
				st->mal_count = 0;
			}
		} else if (st->last_power_w != INT64_MIN && r->power_w - st->last_power_w >= c->step_w &&
			   !isnan(r->pf) && apf >= c->step_pf && c->mal_category &&
			   in_window(c->mal_from_min, c->mal_to_min, r->local_min)) {
			st->mal_base_w = st->last_power_w;
			st->mal_count = 1;
			n = hit(out, n, AK_MALICIOUS, (double)(r->power_w - st->last_power_w),
				"{\"step_w\":%lld,\"from_w\":%lld,\"to_w\":%lld,\"pf\":%.3f,\"signature\":\"resistive\"}",
				(long long)(r->power_w - st->last_power_w), (long long)st->last_power_w,
				(long long)r->power_w, apf);
			if (c->malicious_confirm == 1)
				*cut = true;
		}
		st->last_power_w = r->power_w;
	}

	/* supply voltage against nominal +- tolerance */
	if (!isnan(r->voltage_v) && c->nominal_v > 0) {
		double hi = c->nominal_v * (1 + c->v_tol_pct / 100), lo = c->nominal_v * (1 - c->v_tol_pct / 100);
		if (r->voltage_v > hi)
			n = hit(out, n, AK_OVER_VOLTAGE, r->voltage_v, "{\"voltage_v\":%.1f,\"limit_v\":%.1f}",
				r->voltage_v, hi);
		else if (r->voltage_v < lo)
			n = hit(out, n, AK_UNDER_VOLTAGE, r->voltage_v, "{\"voltage_v\":%.1f,\"limit_v\":%.1f}",
				r->voltage_v, lo);
	}

	/* power factor low for a sustained window, while the load is real */
	if (!isnan(r->pf) && r->has_power) {
		bool low = fabs(r->pf) < c->low_pf && llabs(r->power_w) >= c->low_pf_min_w;
		if (!low) {
			st->lowpf_since = INT64_MIN;
		} else {
			if (st->lowpf_since == INT64_MIN)
				st->lowpf_since = r->ts_us;
			if (r->ts_us - st->lowpf_since >= c->low_pf_us)
				n = hit(out, n, AK_LOW_PF, fabs(r->pf),
					"{\"pf\":%.3f,\"threshold\":%.3f,\"since_us\":%lld}", fabs(r->pf), c->low_pf,
					(long long)st->lowpf_since);
		}
	}

	/* harmonics: an order over its limit, else voltage THD, current THD */
	bool tv = !isnan(r->thd_v_pct) && r->thd_v_pct > c->thd_v_pct;
	bool ti = !isnan(r->thd_i_pct) && r->thd_i_pct > c->thd_i_pct;
	if (r->harm && c->harm_limits && orders_over(c, r->harm, &out[n]))
		n++;
	else if (tv || ti)
		n = hit(out, n, AK_HARMONICS, tv ? r->thd_v_pct : r->thd_i_pct,
			"{\"%s\":%.2f,\"limit_pct\":%.2f}", tv ? "thd_v_pct" : "thd_i_pct",
			tv ? r->thd_v_pct : r->thd_i_pct, tv ? c->thd_v_pct : c->thd_i_pct);

	st->last_ts = r->ts_us;
	return n;
}

void alarm_row_add(struct alarm_row *row, const struct alarm_hit *h, int64_t ts_us)
{
	if (row->count++ == 0) {
		row->kind = h->kind;
		row->first_us = row->last_us = ts_us;
		row->peak = h->value;
		snprintf(row->detail, sizeof row->detail, "%s", h->detail);
		return;
	}
	if (ts_us > row->last_us)
		row->last_us = ts_us;
	bool worse = alarm_higher_is_worse(h->kind) ? h->value > row->peak : h->value < row->peak;
	if (worse)
		row->peak = h->value;
}
