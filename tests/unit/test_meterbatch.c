/* test_meterbatch.c: the per-batch meter decisions of ingest, pure: outcomes, pricing and
 * carry, overflow, events and relay mismatches, on meters built in the test. */
#include "core/meterbatch.h"
#include "core/tz.h"

#include "check_run.h"
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1793520000000000) /* 2026-11-01T08:00:00Z */
#define HOUR INT64_C(3600000000)

/* A batch of one CNY meter mtr_7 "M-7" on a flat tariff of rate micro-units per kWh, with
 * a baseline at T0 (register 0) unless fresh. */
static void batch(struct mb_batch *b, int64_t rate, bool fresh)
{
	memset(b, 0, sizeof *b);
	b->m = calloc(1, sizeof *b->m);
	b->nm = 1;
	struct mb_meter *m = &b->m[0];
	m->id = 7;
	m->tenant_id = 3;
	m->tariff_id = 1;
	m->multiplier = 1;
	snprintf(m->serial, sizeof m->serial, "M-7");
	snprintf(m->zone, sizeof m->zone, "Asia/Shanghai");
	m->unit = bill_nano_per_minor(2);
	m->has_last = !fresh;
	m->last_ts = T0;
	m->ast.last_power_w = INT64_MIN;
	b->tariffs = calloc(1, sizeof *b->tariffs);
	b->nt = 1;
	b->tariffs[0].id = 1;
	b->tariffs[0].t.v = calloc(1, sizeof(struct bill_version));
	char spec[64];
	snprintf(spec, sizeof spec, "{\"rate_micros_per_kwh\":%lld}", (long long)rate);
	json_t *j = json_loads(spec, 0, NULL);
	ck_assert_int_eq(bill_version_parse("flat", j, 0, &b->tariffs[0].t.v[0]), 0);
	json_decref(j);
	b->tariffs[0].t.n = 1;
	mb_index(b);
}

static void reading(struct bill_reading *r, int index, const char *meter, int64_t ts, int64_t wh)
{
	memset(r, 0, sizeof *r);
	r->index = index;
	snprintf(r->meter, sizeof r->meter, "%s", meter);
	r->ts_us = ts;
	r->energy_wh = wh;
}

START_TEST(outcomes_and_charge)
{
	struct mb_batch b;
	batch(&b, 1234567, false);
	struct bill_reading rd[6];
	reading(&rd[0], 0, "M-7", T0 + 2 * HOUR, 2000);   /* billed (after rd[1]) */
	reading(&rd[1], 1, "mtr_7", T0 + HOUR, 1000);     /* billed, by id */
	reading(&rd[2], 2, "M-7", T0 + HOUR, 1000);       /* the same (meter, ts) twice */
	reading(&rd[3], 3, "M-7", T0 - HOUR, 0);          /* older than the baseline: late */
	reading(&rd[4], 4, "M-9", T0 + HOUR, 5);          /* no such meter */
	reading(&rd[5], 5, "M-7", T0 + 3 * HOUR, 1500);   /* below the last billed: regressed */
	struct bill_reading *order[6];
	int no = mb_decide(&b, rd, 6, order);
	ck_assert_int_eq(no, 5);
	ck_assert_int_eq(rd[0].outcome, RD_BILLED);
	ck_assert_int_eq(rd[1].outcome, RD_BILLED);
	ck_assert_int_eq(rd[2].outcome, RD_DUPLICATE);
	ck_assert_int_eq(rd[3].outcome, RD_LATE);
	ck_assert_int_eq(rd[4].outcome, RD_REJECTED);
	ck_assert_str_eq(rd[4].code, "unknown_meter");
	ck_assert_int_eq(rd[5].outcome, RD_REJECTED);
	ck_assert_str_eq(rd[5].code, "energy_regressed");
	/* sorted by meter and time, stable by index */
	ck_assert_ptr_eq(order[0], &rd[3]);
	ck_assert_ptr_eq(order[1], &rd[1]);
	ck_assert_ptr_eq(order[2], &rd[2]);
	/* 2 kWh at 1.234567 CNY: 246.9134 fen, 246 charged, the rest carried */
	mb_carry(&b);
	ck_assert_int_eq(b.m[0].batch_wh, 2000);
	ck_assert_int_eq(b.m[0].batch_cost, INT64_C(2469134000));
	ck_assert_int_eq(b.m[0].minor, 246);
	ck_assert_int_eq(b.m[0].carry, INT64_C(9134000));
	ck_assert_int_eq(b.m[0].nbilled, 2);
	/* one event, as a struct: the regressed register */
	ck_assert_int_eq(b.nev, 1);
	ck_assert_str_eq(b.ev[0].kind, "energy_regressed");
	ck_assert_int_eq(b.ev[0].meter_id, 7);
	ck_assert_ptr_nonnull(strstr(b.ev[0].detail, "\"energy_wh\":1500"));
	char *ref = mb_charge_ref(&b.m[0]);
	ck_assert_ptr_nonnull(strstr(ref, "\"meter_id\":\"mtr_7\""));
	ck_assert_ptr_nonnull(strstr(ref, "\"wh\":2000"));
	ck_assert_ptr_nonnull(strstr(ref, "\"wh_by_band\":{\"flat\":2000}"));
	json_t *parsed = json_loads(ref, 0, NULL);
	ck_assert_ptr_nonnull(parsed); /* the ref is JSON */
	json_decref(parsed);
	free(ref);
	struct bill_batch counts = {0};
	mb_count(rd, 6, &counts);
	ck_assert_int_eq(counts.accepted, 3);
	ck_assert_int_eq(counts.billed, 2);
	ck_assert_int_eq(counts.late, 1);
	ck_assert_int_eq(counts.duplicates, 1);
	ck_assert_int_eq(counts.rejected, 2);
	mb_free(&b);
}
END_TEST

START_TEST(baseline_and_requests)
{
	struct mb_batch b;
	batch(&b, 1000000, true);
	struct bill_reading rd[3];
	reading(&rd[0], 0, "M-7", T0, 100);
	reading(&rd[1], 1, "M-7", T0 + HOUR, 600);
	reading(&rd[2], 2, "M-7", T0 + 2 * HOUR, 1100);
	rd[1].request_id = "req-a";
	rd[2].request_id = "req-b";
	struct bill_reading *order[3];
	mb_decide(&b, rd, 3, order);
	ck_assert_int_eq(rd[0].outcome, RD_BASELINE);
	ck_assert_int_eq(rd[1].outcome, RD_BILLED);
	ck_assert_int_eq(rd[2].outcome, RD_BILLED);
	char *rq = mb_charge_requests(&b.m[0]);
	ck_assert_str_eq(rq, "req-a,req-b");
	free(rq);
	mb_free(&b);
}
END_TEST

/* An overload's energy is real: max_power_w is the alarm's threshold, not a bound on what
 * is billed (the readings that prove an overload were refused as implausible_delta, and
 * that energy never billed). Only a step past the plausible draw (4 x max_power_w, or the
 * meter's max_plausible_power_w) is refused, and it raises energy_implausible. */
START_TEST(overload_is_billed_only_the_impossible_refused)
{
	struct mb_batch b;
	batch(&b, 1000000, false);
	b.alarms = true;
	b.m[0].max_power_w = 5000;
	struct bill_reading rd[3];
	reading(&rd[0], 0, "M-7", T0 + HOUR, 8000);              /* 8 kW for an hour: billed */
	reading(&rd[1], 1, "M-7", T0 + 2 * HOUR, 8000 + 20002);  /* 20.002 kW: past 4 x 5 kW and 1 Wh */
	reading(&rd[2], 2, "M-7", T0 + 3 * HOUR, 8000 + 20001);  /* 10 kW over two hours: billed */
	struct bill_reading *order[3];
	mb_decide(&b, rd, 3, order);
	ck_assert_int_eq(rd[0].outcome, RD_BILLED);
	ck_assert_int_eq(rd[1].outcome, RD_REJECTED);
	ck_assert_str_eq(rd[1].code, "implausible_delta");
	ck_assert_int_eq(rd[2].outcome, RD_BILLED);
	ck_assert_int_eq(b.m[0].batch_wh, 28001);
	ck_assert_ptr_nonnull(b.m[0].alarms);
	ck_assert_int_eq(b.m[0].alarms[AK_ENERGY_IMPLAUSIBLE].count, 1);
	ck_assert_msg(strstr(b.m[0].alarms[AK_ENERGY_IMPLAUSIBLE].detail, "\"max_plausible_power_w\":20000"), "%s",
		      b.m[0].alarms[AK_ENERGY_IMPLAUSIBLE].detail);
	ck_assert_int_eq(b.nev, 1);
	mb_free(&b);
	/* the meter's own bound, when it has one */
	batch(&b, 1000000, false);
	b.alarms = true;
	b.m[0].max_power_w = 5000;
	b.m[0].max_plausible_w = 6000;
	reading(&rd[0], 0, "M-7", T0 + HOUR, 6001);
	reading(&rd[1], 1, "M-7", T0 + 2 * HOUR, 6002 + 6001);
	mb_decide(&b, rd, 2, order);
	ck_assert_int_eq(rd[0].outcome, RD_BILLED);
	ck_assert_int_eq(rd[1].outcome, RD_REJECTED);
	mb_free(&b);
}
END_TEST

/* The limits: a batch's cost per meter is int64 nano-units; the reading that would take it
 * past INT64_MAX is refused and the meter keeps what it had. */
START_TEST(batch_cost_overflow)
{
	struct mb_batch b;
	batch(&b, 1234567, false);
	struct bill_reading rd[2];
	reading(&rd[0], 0, "M-7", T0 + HOUR, INT64_C(6000000000000));
	reading(&rd[1], 1, "M-7", T0 + 2 * HOUR, INT64_C(12000000000000));
	struct bill_reading *order[2];
	mb_decide(&b, rd, 2, order);
	ck_assert_int_eq(rd[0].outcome, RD_BILLED);
	ck_assert_int_eq(rd[1].outcome, RD_REJECTED);
	ck_assert_str_eq(rd[1].code, "implausible_delta");
	ck_assert_int_eq(b.m[0].batch_wh, INT64_C(6000000000000));
	ck_assert_int_eq(b.m[0].last_reg, INT64_C(6000000000000));
	mb_carry(&b);
	ck_assert_int_eq(b.m[0].minor, INT64_C(740740200000));
	mb_free(&b);
}
END_TEST

START_TEST(relay_mismatch_resends)
{
	struct mb_batch b;
	batch(&b, 1000000, false);
	snprintf(b.m[0].acked_relay, sizeof b.m[0].acked_relay, "off");
	struct bill_reading rd[1];
	reading(&rd[0], 0, "M-7", T0 + HOUR, 10);
	snprintf(rd[0].opt[RD_OPT_N - 1], sizeof rd[0].opt[0], "on");
	struct bill_reading *order[1];
	mb_decide(&b, rd, 1, order);
	mb_relay_check(&b);
	ck_assert_str_eq(b.m[0].resend, "cut_off");
	ck_assert_int_eq(b.nev, 1);
	ck_assert_str_eq(b.ev[0].kind, "relay_mismatch");
	/* a command on its way: nothing again */
	b.m[0].in_flight = true;
	b.nev = 0;
	mb_relay_check(&b);
	ck_assert_ptr_null(b.m[0].resend);
	ck_assert_int_eq(b.nev, 0);
	mb_free(&b);
}
END_TEST

/* A reading's JSON with harmonics: "harmonics_v_pct":[...] of n numbers, the k-th pct(k). */
static json_t *with_spectrum(const char *field, int n, double (*pct)(int))
{
	json_t *o = json_pack("{s:s, s:s, s:i}", "meter", "M-7", "ts", "2026-11-01T09:00:00Z", "energy_wh", 100);
	json_t *a = json_array();
	for (int k = 0; k < n; k++)
		json_array_append_new(a, json_real(pct(k)));
	json_object_set_new(o, field, a);
	return o;
}

static double ramp(int k) { return k * 0.5; }     /* order 2 at 0%, 31 at 14.5% */
static double too_big(int k) { return k == 29 ? 100.01 : 1; }
static double negative(int k) { return k == 3 ? -1 : 1; }

START_TEST(harmonics_decoded_or_refused)
{
	const int64_t NOW = T0 + 2 * HOUR; /* the readings are at 09:00Z, an hour after T0 */
	struct bill_reading r;
	memset(&r, 0, sizeof r);
	/* none: nothing allocated, as before */
	json_t *o = json_pack("{s:s, s:s, s:i, s:f}", "meter", "M-7", "ts", "2026-11-01T09:00:00Z", "energy_wh", 100,
			      "thd_v_pct", 2.5);
	mb_reading_decode(o, &r, NOW);
	json_decref(o);
	ck_assert(!r.invalid);
	ck_assert_ptr_null(r.harm);
	/* voltage only, in hundredths */
	o = with_spectrum("harmonics_v_pct", 30, ramp);
	mb_reading_decode(o, &r, NOW);
	json_decref(o);
	ck_assert_msg(!r.invalid, "%s", r.message);
	ck_assert_ptr_nonnull(r.harm);
	ck_assert(r.harm->has_v && !r.harm->has_i);
	ck_assert_int_eq(r.harm->v[0], 0);
	ck_assert_int_eq(r.harm->v[1], 50);
	ck_assert_int_eq(r.harm->v[29], 1450);
	mb_readings_clear(&r, 1);
	ck_assert_ptr_null(r.harm);
	/* both; a null one is absent */
	o = with_spectrum("harmonics_i_pct", 30, ramp);
	json_object_set_new(o, "harmonics_v_pct", json_null());
	mb_reading_decode(o, &r, NOW);
	ck_assert(!r.invalid && r.harm && !r.harm->has_v && r.harm->has_i && r.harm->i[2] == 100);
	mb_readings_clear(&r, 1);
	json_object_set(o, "harmonics_v_pct", json_object_get(o, "harmonics_i_pct"));
	mb_reading_decode(o, &r, NOW);
	json_decref(o);
	ck_assert(!r.invalid && r.harm->has_v && r.harm->has_i);
	mb_readings_clear(&r, 1);
	/* refused, naming the field, holding nothing */
	struct {
		const char *field;
		int n;
		double (*pct)(int);
	} bad[] = {
		{"harmonics_v_pct", 29, ramp}, {"harmonics_v_pct", 31, ramp}, {"harmonics_i_pct", 30, too_big},
		{"harmonics_i_pct", 30, negative}, {"harmonics_v_pct", 0, ramp},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		o = with_spectrum(bad[i].field, bad[i].n, bad[i].pct);
		if (i == 2) { /* a good voltage half does not save a bad current half */
			json_t *good = with_spectrum("harmonics_v_pct", 30, ramp);
			json_object_set(o, "harmonics_v_pct", json_object_get(good, "harmonics_v_pct"));
			json_decref(good);
		}
		mb_reading_decode(o, &r, NOW);
		json_decref(o);
		ck_assert_msg(r.invalid, "%zu", i);
		ck_assert_str_eq(r.code, "invalid_reading");
		ck_assert_msg(strstr(r.message, bad[i].field), "%s", r.message);
		ck_assert_ptr_null(r.harm);
	}
	o = json_pack("{s:s, s:s, s:i, s:s}", "meter", "M-7", "ts", "2026-11-01T09:00:00Z", "energy_wh", 100,
		      "harmonics_v_pct", "3%");
	mb_reading_decode(o, &r, NOW);
	json_decref(o);
	ck_assert(r.invalid && strstr(r.message, "harmonics_v_pct") && !r.harm);
	o = json_pack("{s:s, s:s, s:i, s:i}", "meter", "M-7", "ts", "2026-11-01T09:00:00Z", "energy_wh", 100,
		      "harmonics_w_pct", 1);
	mb_reading_decode(o, &r, NOW);
	json_decref(o);
	ck_assert(r.invalid && strstr(r.message, "unknown field harmonics_w_pct"));
}
END_TEST

/* Every reading's spectrum is judged (an alarm hit each time one is over its limit), but only
 * the first of each meter's 15-minute slot is picked to keep; late readings too, duplicates
 * and refused ones not. */
START_TEST(harmonics_detected_on_every_reading_kept_once_per_slot)
{
	struct mb_batch b;
	batch(&b, 1000000, false);
	b.alarms = true;
	json_t *set = json_loads("{\"harmonic_limits_pct\":{\"5\":6}}", 0, NULL);
	alarm_cfg_load(&b.m[0].acfg, set, 0, NULL);
	json_decref(set);
	alarm_state_init(&b.m[0].ast);
	const int64_t MIN = INT64_C(60000000);
	struct bill_reading rd[7];
	struct alarm_spectrum sp[7];
	memset(sp, 0, sizeof sp);
	reading(&rd[0], 0, "M-7", T0 + 1 * MIN, 10);  /* slot T0: kept, 5th over */
	reading(&rd[1], 1, "M-7", T0 + 5 * MIN, 20);  /* slot T0: not kept, 5th over: detected */
	reading(&rd[2], 2, "M-7", T0 + 14 * MIN, 30); /* slot T0: no spectrum */
	reading(&rd[3], 3, "M-7", T0 + 15 * MIN, 40); /* slot T0+15: kept, fine */
	reading(&rd[4], 4, "M-7", T0 + 15 * MIN, 40); /* the same (meter, ts): a duplicate */
	reading(&rd[5], 5, "M-7", T0 - 10 * MIN, 5);  /* late, slot T0-15: kept */
	reading(&rd[6], 6, "M-9", T0 + 20 * MIN, 5);  /* no such meter */
	for (int i = 0; i < 7; i++) {
		if (i == 2)
			continue;
		sp[i].has_v = true;
		sp[i].v[5 - 2] = i < 2 ? 700 : 100;
		rd[i].harm = &sp[i];
	}
	struct bill_reading *order[7], *keep[7];
	int no = mb_decide(&b, rd, 7, order);
	ck_assert_int_eq(b.nharm, 6);
	ck_assert_int_eq(rd[4].outcome, RD_DUPLICATE);
	ck_assert_int_eq(rd[5].outcome, RD_LATE);
	ck_assert_ptr_nonnull(b.m[0].alarms);
	ck_assert_int_eq(b.m[0].alarms[AK_HARMONICS].count, 2); /* both readings over, one of them not kept */
	ck_assert(b.m[0].alarms[AK_HARMONICS].peak == 7);
	ck_assert_msg(strstr(b.m[0].alarms[AK_HARMONICS].detail, "\"order\":5"), "%s", b.m[0].alarms[AK_HARMONICS].detail);
	int nk = mb_harm_pick(order, no, keep);
	ck_assert_int_eq(nk, 3);
	ck_assert_ptr_eq(keep[0], &rd[5]);
	ck_assert_ptr_eq(keep[1], &rd[0]);
	ck_assert_ptr_eq(keep[2], &rd[3]);
	for (int i = 0; i < 7; i++)
		rd[i].harm = NULL; /* the test's, not decode's */
	mb_free(&b);
	/* slots: 15 minutes from the epoch, before it too */
	ck_assert_int_eq(mb_harm_slot_us(T0), T0);
	ck_assert_int_eq(mb_harm_slot_us(T0 + MB_HARM_SLOT_US - 1), T0);
	ck_assert_int_eq(mb_harm_slot_us(T0 + MB_HARM_SLOT_US), T0 + MB_HARM_SLOT_US);
	ck_assert_int_eq(mb_harm_slot_us(-1), -MB_HARM_SLOT_US);
	ck_assert_int_eq(mb_harm_slot_us(-MB_HARM_SLOT_US), -MB_HARM_SLOT_US);
}
END_TEST

/* A reading carries the reach of the key that sent it: readings of several requests are
 * decided in one batch, so each is judged by its own key. */
START_TEST(forbidden_meter_by_the_keys_reach)
{
	struct mb_batch b;
	batch(&b, 1000000, false);
	b.m[0].site_id = 2;
	b.m[0].gateway_id = 5;
	struct bill_reading rd[6];
	for (int i = 0; i < 6; i++)
		reading(&rd[i], i, "M-7", T0 + (i + 1) * HOUR, (i + 1) * 10);
	rd[0].scope_gateway = 5; /* its own gateway's key */
	rd[1].scope_gateway = 6; /* another gateway's */
	rd[1].scope_site = 2;
	rd[2].scope_site = 2;    /* its site's key */
	rd[3].scope_site = 3;    /* another site's */
	/* rd[4], rd[5]: an unbound key of before gateways reaches every meter */
	struct bill_reading *order[6];
	ck_assert_int_eq(mb_decide(&b, rd, 6, order), 4);
	ck_assert_int_eq(rd[0].outcome, RD_BILLED);
	ck_assert_int_eq(rd[1].outcome, RD_REJECTED);
	ck_assert_str_eq(rd[1].code, "forbidden_meter");
	ck_assert_int_eq(rd[2].outcome, RD_BILLED);
	ck_assert_int_eq(rd[3].outcome, RD_REJECTED);
	ck_assert_str_eq(rd[3].code, "forbidden_meter");
	ck_assert_int_eq(rd[4].outcome, RD_BILLED);
	ck_assert_int_eq(rd[5].outcome, RD_BILLED);
	/* a meter without a gateway is no gateway key's */
	b.m[0].gateway_id = 0;
	rd[0].scope_gateway = 5;
	ck_assert(!mb_in_scope(&b.m[0], &rd[0]));
	mb_free(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("meterbatch");
	TCase *core = tcase_create("core");
	tcase_add_test(core, overload_is_billed_only_the_impossible_refused);
	tcase_add_test(core, outcomes_and_charge);
	tcase_add_test(core, baseline_and_requests);
	tcase_add_test(core, relay_mismatch_resends);
	tcase_add_test(core, harmonics_decoded_or_refused);
	tcase_add_test(core, harmonics_detected_on_every_reading_kept_once_per_slot);
	tcase_add_test(core, forbidden_meter_by_the_keys_reach);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_test(lim, batch_cost_overflow);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
