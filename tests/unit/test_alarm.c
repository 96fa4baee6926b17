/* test_alarm.c: alarm detection, reading by reading. */
#include "check_run.h"

#include "core/alarm.h"

#include <math.h>
#include <string.h>

#define MIN_US INT64_C(60000000)

static struct alarm_cfg cfg;
static struct alarm_state st;

static void fresh(const char *settings, int64_t max_power_w, const char *category)
{
	json_t *o = settings ? json_loads(settings, 0, NULL) : NULL;
	alarm_cfg_load(&cfg, o, max_power_w, category);
	json_decref(o);
	alarm_state_init(&st);
}

static struct alarm_reading rd(int minute, int64_t power_w, double pf)
{
	struct alarm_reading r = {minute * MIN_US, power_w != INT64_MIN, power_w, NAN, NAN, pf, NAN, NAN, -1, NULL};
	return r;
}

/* Feed r; return the hit of kind k (value in *v) or 0 when none. */
static int feed(struct alarm_reading r, enum alarm_kind k, double *v, bool *cut)
{
	struct alarm_hit h[AK__COUNT];
	bool c;
	int n = alarm_feed(&cfg, &st, &r, h, &c);
	if (cut)
		*cut = c;
	for (int i = 0; i < n; i++)
		if (h[i].kind == k) {
			if (v)
				*v = h[i].value;
			json_t *d = json_loads(h[i].detail, 0, NULL); /* detail is JSON */
			ck_assert_ptr_nonnull(d);
			json_decref(d);
			return 1;
		}
	return 0;
}

START_TEST(overload_needs_n_readings_or_t)
{
	fresh("{\"overload_readings\":3,\"overload_seconds\":600}", 5000, NULL);
	ck_assert(!feed(rd(0, 6000, NAN), AK_OVERLOAD, NULL, NULL));
	ck_assert(!feed(rd(1, 6000, NAN), AK_OVERLOAD, NULL, NULL));
	double v;
	ck_assert(feed(rd(2, 7000, NAN), AK_OVERLOAD, &v, NULL)); /* the third */
	ck_assert(v == 7000);
	ck_assert(feed(rd(3, 6000, NAN), AK_OVERLOAD, NULL, NULL)); /* still over: seen again */
	ck_assert(!feed(rd(4, 4000, NAN), AK_OVERLOAD, NULL, NULL)); /* under: the run restarts */
	ck_assert(!feed(rd(5, 6000, NAN), AK_OVERLOAD, NULL, NULL));
	/* or T: two readings ten minutes apart */
	fresh("{\"overload_readings\":100,\"overload_seconds\":600}", 5000, NULL);
	ck_assert(!feed(rd(0, 6000, NAN), AK_OVERLOAD, NULL, NULL));
	ck_assert(!feed(rd(9, 6000, NAN), AK_OVERLOAD, NULL, NULL));
	ck_assert(feed(rd(10, 6000, NAN), AK_OVERLOAD, NULL, NULL));
	/* exactly at the limit is not over; no limit, no overload */
	fresh("{\"overload_readings\":1}", 5000, NULL);
	ck_assert(!feed(rd(0, 5000, NAN), AK_OVERLOAD, NULL, NULL));
	fresh("{\"overload_readings\":1}", 0, NULL);
	ck_assert(!feed(rd(0, 999999, NAN), AK_OVERLOAD, NULL, NULL));
	/* by rated current */
	fresh("{\"overload_readings\":1,\"rated_current_a\":32}", 0, NULL);
	struct alarm_reading r = rd(0, INT64_MIN, NAN);
	r.current_a = 40;
	ck_assert(feed(r, AK_OVERLOAD, &v, NULL));
	ck_assert(v == 40);
}
END_TEST

START_TEST(malicious_step_is_resistive_and_held)
{
	fresh("{\"step_w\":1500,\"malicious_confirm_readings\":3}", 0, "retail");
	bool cut;
	double v;
	ck_assert(!feed(rd(0, 300, 0.9), AK_MALICIOUS, NULL, NULL));
	/* +2000 W at pf 0.99: a heater */
	ck_assert(feed(rd(1, 2300, 0.99), AK_MALICIOUS, &v, &cut));
	ck_assert(v == 2000);
	ck_assert(!cut);
	ck_assert(feed(rd(2, 2250, 0.99), AK_MALICIOUS, NULL, &cut));
	ck_assert(!cut);
	ck_assert(feed(rd(3, 2280, 0.99), AK_MALICIOUS, NULL, &cut));
	ck_assert(cut); /* held over 3 readings: confirmed, once */
	ck_assert(feed(rd(4, 2280, 0.99), AK_MALICIOUS, NULL, &cut));
	ck_assert(!cut);
	ck_assert(!feed(rd(5, 400, 0.99), AK_MALICIOUS, NULL, NULL)); /* switched off */
	/* the same step at pf 0.8 is a motor, not a heater; a smaller step is nothing */
	fresh("{\"step_w\":1500}", 0, NULL);
	feed(rd(0, 300, 0.8), AK_MALICIOUS, NULL, NULL);
	ck_assert(!feed(rd(1, 2300, 0.8), AK_MALICIOUS, NULL, NULL));
	fresh("{\"step_w\":1500}", 0, NULL);
	feed(rd(0, 300, 0.99), AK_MALICIOUS, NULL, NULL);
	ck_assert(!feed(rd(1, 1799, 0.99), AK_MALICIOUS, NULL, NULL));
	/* the first reading has nothing to step from */
	fresh(NULL, 0, NULL);
	ck_assert(!feed(rd(0, 5000, 1.0), AK_MALICIOUS, NULL, NULL));
	/* only for forbidden categories when the site lists some */
	fresh("{\"forbidden_categories\":[\"office\"]}", 0, "catering");
	feed(rd(0, 0, 1.0), AK_MALICIOUS, NULL, NULL);
	ck_assert(!feed(rd(1, 3000, 1.0), AK_MALICIOUS, NULL, NULL));
	fresh("{\"forbidden_categories\":[\"office\"]}", 0, "office");
	feed(rd(0, 0, 1.0), AK_MALICIOUS, NULL, NULL);
	ck_assert(feed(rd(1, 3000, 1.0), AK_MALICIOUS, NULL, NULL));
	/* only inside the hours, which may wrap midnight */
	fresh("{\"malicious_hours\":{\"from\":\"22:00\",\"to\":\"06:00\"}}", 0, NULL);
	struct alarm_reading a = rd(0, 0, 1.0), b = rd(1, 3000, 1.0);
	a.local_min = 12 * 60;
	b.local_min = 12 * 60 + 1;
	feed(a, AK_MALICIOUS, NULL, NULL);
	ck_assert(!feed(b, AK_MALICIOUS, NULL, NULL));
	a = rd(2, 0, 1.0);
	b = rd(3, 3000, 1.0);
	a.local_min = 23 * 60;
	b.local_min = 23 * 60 + 1;
	feed(a, AK_MALICIOUS, NULL, NULL);
	ck_assert(feed(b, AK_MALICIOUS, NULL, NULL));
	/* confirm 0: never a cut */
	fresh("{\"malicious_confirm_readings\":0}", 0, NULL);
	feed(rd(0, 0, 1.0), AK_MALICIOUS, NULL, NULL);
	for (int i = 1; i < 10; i++) {
		ck_assert(feed(rd(i, 3000, 1.0), AK_MALICIOUS, NULL, &cut));
		ck_assert(!cut);
	}
}
END_TEST

START_TEST(voltage_pf_harmonics)
{
	fresh(NULL, 0, NULL); /* 220 V +-10%, pf 0.85 over 15 min, THD 5% / 20% */
	struct alarm_reading r = rd(0, 1000, 0.95);
	r.voltage_v = 242.0;
	ck_assert(!feed(r, AK_OVER_VOLTAGE, NULL, NULL)); /* at the limit */
	r.voltage_v = 242.5;
	ck_assert(feed(r, AK_OVER_VOLTAGE, NULL, NULL));
	r.voltage_v = 197.9;
	double v;
	ck_assert(feed(r, AK_UNDER_VOLTAGE, &v, NULL));
	ck_assert(v == 197.9);
	fresh("{\"nominal_v\":230,\"voltage_tolerance_pct\":5}", 0, NULL);
	r.voltage_v = 242.0;
	ck_assert(feed(r, AK_OVER_VOLTAGE, NULL, NULL));

	fresh(NULL, 0, NULL);
	for (int m = 0; m < 15; m++)
		ck_assert(!feed(rd(m, 1000, 0.6), AK_LOW_PF, NULL, NULL));
	ck_assert(feed(rd(15, 1000, -0.6), AK_LOW_PF, &v, NULL)); /* sustained 15 min; sign ignored */
	ck_assert(v == 0.6);
	ck_assert(!feed(rd(16, 1000, 0.9), AK_LOW_PF, NULL, NULL)); /* good again: the window restarts */
	ck_assert(!feed(rd(17, 1000, 0.6), AK_LOW_PF, NULL, NULL));
	fresh(NULL, 0, NULL); /* idle: pf means nothing */
	for (int m = 0; m < 30; m++)
		ck_assert(!feed(rd(m, 50, 0.2), AK_LOW_PF, NULL, NULL));

	fresh(NULL, 0, NULL);
	r = rd(0, 1000, 0.95);
	r.thd_v_pct = 5.0;
	ck_assert(!feed(r, AK_HARMONICS, NULL, NULL));
	r.thd_v_pct = 5.1;
	ck_assert(feed(r, AK_HARMONICS, &v, NULL));
	ck_assert(v == 5.1);
	r.thd_v_pct = 2;
	r.thd_i_pct = 35;
	ck_assert(feed(r, AK_HARMONICS, &v, NULL));
	ck_assert(v == 35);
	/* nothing measured, nothing detected */
	fresh(NULL, 5000, NULL);
	struct alarm_hit h[AK__COUNT];
	bool cut;
	struct alarm_reading none = {0, false, 0, NAN, NAN, NAN, NAN, NAN, -1, NULL};
	ck_assert_int_eq(alarm_feed(&cfg, &st, &none, h, &cut), 0);
}
END_TEST

/* A spectrum whose every order is at pct hundredths, voltage and/or current. */
static struct alarm_spectrum flat_spectrum(bool v, bool i, uint16_t pct)
{
	struct alarm_spectrum s = {v, i, {0}, {0}};
	for (int k = 0; k < ALARM_ORDERS; k++)
		s.v[k] = s.i[k] = pct;
	return s;
}

/* The high_harmonics hit of r (its detail parsed into *detail, new) or 0. */
static int harm_hit(struct alarm_reading r, double *v, json_t **detail)
{
	struct alarm_hit h[AK__COUNT];
	bool c;
	int n = alarm_feed(&cfg, &st, &r, h, &c);
	for (int k = 0; k < n; k++)
		if (h[k].kind == AK_HARMONICS) {
			*v = h[k].value;
			*detail = json_loads(h[k].detail, 0, NULL);
			ck_assert_msg(*detail, "not JSON: %s", h[k].detail);
			return 1;
		}
	return 0;
}

START_TEST(harmonic_orders_over_their_limits)
{
	fresh("{\"harmonic_limits_pct\":{\"3\":5,\"5\":6,\"31\":0.5},\"harmonic_limits_i_pct\":{\"7\":20}}", 0, NULL);
	ck_assert(cfg.harm_limits);
	ck_assert_int_eq(cfg.harm_lim_v[3 - 2], 500);
	ck_assert_int_eq(cfg.harm_lim_v[31 - 2], 50);
	ck_assert_int_eq(cfg.harm_lim_v[4 - 2], ALARM_NO_LIMIT);
	ck_assert_int_eq(cfg.harm_lim_i[7 - 2], 2000);
	struct alarm_spectrum s = flat_spectrum(true, true, 40); /* 0.4% everywhere: under every limit */
	struct alarm_reading r = rd(0, 1000, 0.95);
	r.harm = &s;
	double v;
	json_t *d;
	ck_assert(!harm_hit(r, &v, &d));
	s.v[3 - 2] = 500; /* at the limit is not over it */
	ck_assert(!harm_hit(r, &v, &d));
	s.v[3 - 2] = 501;
	s.v[5 - 2] = 710;  /* 1.1 over: the worst */
	s.i[7 - 2] = 2050; /* 0.5 over */
	s.i[9 - 2] = 9000; /* no limit on the 9th: not over anything */
	ck_assert(harm_hit(r, &v, &d));
	ck_assert(v == 7.1);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "order")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(d, "of")), "voltage");
	ck_assert(json_number_value(json_object_get(d, "pct")) == 7.1);
	ck_assert(json_number_value(json_object_get(d, "limit_pct")) == 6);
	json_t *ov = json_object_get(d, "orders_v_pct"), *oi = json_object_get(d, "orders_i_pct");
	ck_assert_int_eq(json_object_size(ov), 2);
	ck_assert(json_number_value(json_object_get(ov, "3")) == 5.01);
	ck_assert(json_number_value(json_object_get(ov, "5")) == 7.1);
	ck_assert_int_eq(json_object_size(oi), 1);
	ck_assert(json_number_value(json_object_get(oi, "7")) == 20.5);
	ck_assert_ptr_null(json_object_get(d, "more"));
	json_decref(d);
	/* the current's order furthest over names the alarm */
	s.i[7 - 2] = 3000;
	ck_assert(harm_hit(r, &v, &d));
	ck_assert_int_eq(json_integer_value(json_object_get(d, "order")), 7);
	ck_assert_str_eq(json_string_value(json_object_get(d, "of")), "current");
	json_decref(d);
	/* a spectrum of voltage only is judged on voltage only */
	s.has_i = false;
	ck_assert(harm_hit(r, &v, &d));
	ck_assert_int_eq(json_integer_value(json_object_get(d, "order")), 5);
	ck_assert_int_eq(json_object_size(json_object_get(d, "orders_i_pct")), 0);
	json_decref(d);
	/* an order over wins the detail over the THD; with none over, the THD alarms as before */
	r.thd_v_pct = 9;
	ck_assert(harm_hit(r, &v, &d));
	ck_assert_int_eq(json_integer_value(json_object_get(d, "order")), 5);
	json_decref(d);
	r.harm = NULL;
	ck_assert(harm_hit(r, &v, &d));
	ck_assert(v == 9);
	ck_assert_ptr_null(json_object_get(d, "order"));
	ck_assert(json_number_value(json_object_get(d, "thd_v_pct")) == 9);
	json_decref(d);
	/* no limits set: a spectrum alone raises nothing */
	fresh(NULL, 0, NULL);
	ck_assert(!cfg.harm_limits);
	r.thd_v_pct = NAN;
	r.harm = &s;
	ck_assert(!harm_hit(r, &v, &d));
}
END_TEST

/* The limits: every order of both halves over a limit of 0 still makes a JSON detail that
 * names the worst and says how many orders it had no room for. */
START_TEST(harmonic_detail_full_of_orders)
{
	char settings[1024];
	int len = snprintf(settings, sizeof settings, "{\"harmonic_limits_pct\":{");
	for (int k = 2; k <= 31; k++)
		len += snprintf(settings + len, sizeof settings - (size_t)len, "%s\"%d\":0", k > 2 ? "," : "", k);
	len += snprintf(settings + len, sizeof settings - (size_t)len, "},\"harmonic_limits_i_pct\":{");
	for (int k = 2; k <= 31; k++)
		len += snprintf(settings + len, sizeof settings - (size_t)len, "%s\"%d\":0", k > 2 ? "," : "", k);
	snprintf(settings + len, sizeof settings - (size_t)len, "}}");
	fresh(settings, 0, NULL);
	struct alarm_spectrum s = flat_spectrum(true, true, 10000);
	s.i[31 - 2] = 9999;
	struct alarm_reading r = rd(0, 1000, 0.95);
	r.harm = &s;
	double v;
	json_t *d;
	ck_assert(harm_hit(r, &v, &d));
	ck_assert(v == 100);
	ck_assert_int_eq(json_integer_value(json_object_get(d, "order")), 2);
	int listed = (int)(json_object_size(json_object_get(d, "orders_v_pct")) +
			   json_object_size(json_object_get(d, "orders_i_pct")));
	ck_assert_int_gt(listed, 10);
	ck_assert_int_eq(listed + (int)json_integer_value(json_object_get(d, "more")), 60);
	json_decref(d);
}
END_TEST

START_TEST(harmonic_limits_settings_and_spectra)
{
	char f[96], m[160];
	const char *good[] = {"{\"harmonic_limits_pct\":{\"3\":5.0,\"5\":6,\"31\":100}}",
			      "{\"harmonic_limits_i_pct\":{\"2\":0}}", "{\"harmonic_limits_pct\":{}}",
			      "{\"harmonic_limits_pct\":null}", NULL};
	for (int i = 0; good[i]; i++) {
		json_t *o = json_loads(good[i], 0, NULL);
		ck_assert_msg(alarm_settings_check(o, false, f, sizeof f, m, sizeof m) == 0, "%s: %s", good[i], m);
		json_decref(o);
	}
	struct {
		const char *body, *field;
	} bad[] = {
		{"{\"harmonic_limits_pct\":{\"1\":5}}", "alarm_settings.harmonic_limits_pct.1"},
		{"{\"harmonic_limits_pct\":{\"32\":5}}", "alarm_settings.harmonic_limits_pct.32"},
		{"{\"harmonic_limits_pct\":{\"03\":5}}", "alarm_settings.harmonic_limits_pct.03"},
		{"{\"harmonic_limits_pct\":{\"3.0\":5}}", "alarm_settings.harmonic_limits_pct.3.0"},
		{"{\"harmonic_limits_pct\":{\"third\":5}}", "alarm_settings.harmonic_limits_pct.third"},
		{"{\"harmonic_limits_pct\":{\"3\":-0.5}}", "alarm_settings.harmonic_limits_pct.3"},
		{"{\"harmonic_limits_i_pct\":{\"7\":100.5}}", "alarm_settings.harmonic_limits_i_pct.7"},
		{"{\"harmonic_limits_i_pct\":{\"7\":\"5\"}}", "alarm_settings.harmonic_limits_i_pct.7"},
		{"{\"harmonic_limits_pct\":[5,6]}", "alarm_settings.harmonic_limits_pct"},
		{"{\"harmonic_limits_pct\":5}", "alarm_settings.harmonic_limits_pct"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		json_t *o = json_loads(bad[i].body, 0, NULL);
		ck_assert_msg(alarm_settings_check(o, false, f, sizeof f, m, sizeof m) == -1, "%s", bad[i].body);
		ck_assert_str_eq(f, bad[i].field);
		json_decref(o);
	}
	ck_assert_int_eq(alarm_order_key("2"), 2);
	ck_assert_int_eq(alarm_order_key("31"), 31);
	ck_assert_int_eq(alarm_order_key("0"), -1);
	ck_assert_int_eq(alarm_order_key("+3"), -1);
	ck_assert_int_eq(alarm_order_key("310"), -1);
	ck_assert_int_eq(alarm_order_key(""), -1);
	/* spectra: exactly 30 numbers from 0 to 100, to hundredths */
	uint16_t v[ALARM_ORDERS];
	json_t *a = json_array();
	for (int k = 0; k < ALARM_ORDERS; k++)
		json_array_append_new(a, k == 0 ? json_real(6.2) : k == 1 ? json_integer(100) : json_real(0.004));
	ck_assert_int_eq(alarm_spectrum_decode(a, v), 0);
	ck_assert_int_eq(v[0], 620);
	ck_assert_int_eq(v[1], 10000);
	ck_assert_int_eq(v[2], 0);
	json_array_set_new(a, 2, json_real(100.001));
	ck_assert_int_eq(alarm_spectrum_decode(a, v), -1);
	json_array_set_new(a, 2, json_real(-0.001));
	ck_assert_int_eq(alarm_spectrum_decode(a, v), -1);
	json_array_set_new(a, 2, json_string("1"));
	ck_assert_int_eq(alarm_spectrum_decode(a, v), -1);
	json_array_set_new(a, 2, json_integer(0));
	ck_assert_int_eq(alarm_spectrum_decode(a, v), 0);
	json_array_append_new(a, json_integer(0)); /* 31 */
	ck_assert_int_eq(alarm_spectrum_decode(a, v), -1);
	json_array_remove(a, 30);
	json_array_remove(a, 29); /* 29 */
	ck_assert_int_eq(alarm_spectrum_decode(a, v), -1);
	json_decref(a);
	char t[16];
	ck_assert_str_eq(alarm_pct_text(620, t, sizeof t), "6.2");
	ck_assert_str_eq(alarm_pct_text(500, t, sizeof t), "5");
	ck_assert_str_eq(alarm_pct_text(5, t, sizeof t), "0.05");
	ck_assert_str_eq(alarm_pct_text(10000, t, sizeof t), "100");
}
END_TEST

START_TEST(state_round_trip_and_settings)
{
	fresh("{\"overload_readings\":2}", 5000, NULL);
	feed(rd(0, 6000, NAN), AK_OVERLOAD, NULL, NULL);
	int64_t packed[BILL_ALARM_STATE_N];
	alarm_state_pack(&st, packed);
	struct alarm_state back;
	alarm_state_unpack(&back, packed, BILL_ALARM_STATE_N);
	ck_assert(memcmp(&back, &st, sizeof st) == 0);
	st = back; /* the next batch continues the run */
	ck_assert(feed(rd(1, 6000, NAN), AK_OVERLOAD, NULL, NULL));
	alarm_state_unpack(&back, packed, 0); /* no stored state: initial */
	ck_assert(back.last_power_w == INT64_MIN && back.over_count == 0);

	char f[64], m[128];
	const char *good[] = {"{}", "{\"step_w\":2000,\"step_pf\":0.95,\"malicious_hours\":{\"from\":\"11:00\",\"to\":\"14:00\"}}",
			      "{\"low_pf\":null}", "{\"sms_severities\":[\"critical\",\"major\"],\"auto_cut_malicious\":true}", NULL};
	for (int i = 0; good[i]; i++) {
		json_t *o = json_loads(good[i], 0, NULL);
		ck_assert_msg(alarm_settings_check(o, true, f, sizeof f, m, sizeof m) == 0, "%s: %s", good[i], m);
		json_decref(o);
	}
	struct {
		const char *body, *field;
		bool site;
	} bad[] = {
		{"{\"step_w\":0}", "alarm_settings.step_w", true},
		{"{\"step_w\":1.5}", "alarm_settings.step_w", true},
		{"{\"step_pf\":1.5}", "alarm_settings.step_pf", true},
		{"{\"steps\":1}", "alarm_settings.steps", true},
		{"{\"malicious_hours\":{\"from\":\"25:00\",\"to\":\"01:00\"}}", "alarm_settings.malicious_hours", true},
		{"{\"sms_severities\":[\"urgent\"]}", "alarm_settings.sms_severities", true},
		{"{\"auto_cut_malicious\":true}", "alarm_settings.auto_cut_malicious", false}, /* site only */
		{"[]", "alarm_settings", true},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		json_t *o = json_loads(bad[i].body, JSON_DECODE_ANY, NULL);
		ck_assert_msg(alarm_settings_check(o, bad[i].site, f, sizeof f, m, sizeof m) == -1, "%s", bad[i].body);
		ck_assert_str_eq(f, bad[i].field);
		json_decref(o);
	}
	/* the stored text of a reading's values, absent ones as "" */
	struct alarm_reading t;
	alarm_reading_from_text(&t, 5, "1200", "229.5", "", "-0.98", "", "7.5e0");
	ck_assert(t.has_power && t.power_w == 1200 && t.voltage_v == 229.5 && isnan(t.current_a));
	ck_assert(t.pf == -0.98 && isnan(t.thd_v_pct) && t.thd_i_pct == 7.5 && t.local_min == -1 && t.ts_us == 5);
	alarm_reading_from_text(&t, 6, "", "", "", "", "", "");
	ck_assert(!t.has_power && isnan(t.voltage_v) && isnan(t.pf));
	struct alarm_hit eh;
	alarm_event_hit(&eh, AK_RELAY_MISMATCH, false, 0, "{\"relay\":\"on\"}");
	ck_assert(eh.kind == AK_RELAY_MISMATCH && isnan(eh.value));
	ck_assert_str_eq(eh.detail, "{\"relay\":\"on\"}");
	alarm_event_hit(&eh, AK_ENERGY_REGRESSED, true, 50, "{}");
	ck_assert(eh.value == 50);
	ck_assert_str_eq(alarm_kind_name(AK_MALICIOUS), "suspected_malicious_load");
	ck_assert_int_eq(alarm_kind_parse("comm_lost"), AK_COMM_LOST);
	ck_assert_int_eq(alarm_kind_parse("fire"), -1);
	ck_assert_ptr_null(alarm_kind_name(AK__COUNT));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("alarm");
	TCase *core = tcase_create("core");
	tcase_add_test(core, overload_needs_n_readings_or_t);
	tcase_add_test(core, malicious_step_is_resistive_and_held);
	tcase_add_test(core, voltage_pf_harmonics);
	tcase_add_test(core, harmonic_orders_over_their_limits);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, state_round_trip_and_settings);
	tcase_add_test(lim, harmonic_limits_settings_and_spectra);
	tcase_add_test(lim, harmonic_detail_full_of_orders);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
