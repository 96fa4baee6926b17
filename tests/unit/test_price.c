/* test_price.c: pricing, splitting, tiers, tariff versions, DST, carry: the money maths. */
#include "check_run.h"

#include "core/valid.h"
#include "core/price.h"
#include "core/tz.h"

#include <stdlib.h>
#include <string.h>

#define H INT64_C(3600000000)
#define M INT64_C(60000000)

static int64_t T(const char *rfc3339)
{
	int64_t t;
	ck_assert_msg(api_parse_time(rfc3339, &t) == 0, "bad time %s", rfc3339);
	return t;
}

static struct bill_version version(const char *kind, const char *spec, int64_t from)
{
	struct bill_version v;
	json_t *j = json_loads(spec, 0, NULL);
	ck_assert(j);
	ck_assert_int_eq(bill_version_parse(kind, j, from, &v), 0);
	json_decref(j);
	return v;
}

static const char *TOU =
	"{\"bands\":[{\"name\":\"valley\",\"rate_micros_per_kwh\":400000},"
	"{\"name\":\"peak\",\"rate_micros_per_kwh\":1200000},{\"name\":\"x\",\"rate_micros_per_kwh\":1000000}],"
	"\"schedule\":[{\"from\":\"00:00\",\"to\":\"02:00\",\"band\":\"valley\"},"
	"{\"from\":\"02:00\",\"to\":\"03:00\",\"band\":\"x\"},"
	"{\"from\":\"03:00\",\"to\":\"08:00\",\"band\":\"valley\"},"
	"{\"from\":\"08:00\",\"to\":\"22:00\",\"band\":\"peak\"},"
	"{\"from\":\"22:00\",\"to\":\"24:00\",\"band\":\"valley\"}]}";
static const char *TIERED =
	"{\"tiers\":[{\"up_to_wh\":200000,\"rate_micros_per_kwh\":500000},"
	"{\"up_to_wh\":400000,\"rate_micros_per_kwh\":700000},{\"up_to_wh\":null,\"rate_micros_per_kwh\":900000}]}";

struct run {
	struct bill_line lines[BILL_MAX_LINES];
	int n;
	int64_t cost;
	enum bill_price_result res;
};

static struct run *price(const char *zone, struct bill_version *vs, int nv, int64_t t0, int64_t t1,
			 int64_t wh, struct bill_month *month)
{
	static struct run r;
	struct bill_tzseg segs[BILL_TZ_MAX_SEGS];
	int ns = bill_tz_segments(zone, t0, t1, segs, BILL_TZ_MAX_SEGS);
	ck_assert_int_gt(ns, 0);
	struct bill_tariff t = {nv, vs};
	struct bill_month scratch = {0, 0};
	r.res = bill_price(&t, segs, ns, t0, t1, wh, month ? month : &scratch, r.lines,
			   BILL_MAX_LINES, &r.n, &r.cost);
	return &r;
}

static int64_t band_wh(struct run *r, const char *band)
{
	int64_t s = 0;
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->lines[i].band, band))
			s += r->lines[i].wh;
	return s;
}

static void check_sums(struct run *r, int64_t wh)
{
	int64_t s = 0, c = 0;
	for (int i = 0; i < r->n; i++) {
		s += r->lines[i].wh;
		c += r->lines[i].cost_nano;
	}
	ck_assert_int_eq(s, wh);
	ck_assert_int_eq(c, r->cost);
}

START_TEST(flat_exact)
{
	struct bill_version v = version("flat", "{\"rate_micros_per_kwh\":1234567}", 0);
	struct run *r = price("Asia/Shanghai", &v, 1, T("2026-10-01T10:00:00+08:00"),
			      T("2026-10-01T10:15:00+08:00"), 1000, NULL);
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(r->n, 1);
	ck_assert_str_eq(r->lines[0].band, "flat");
	ck_assert_int_eq(r->cost, INT64_C(1234567000)); /* 1 kWh x 1.234567 = 1.234567 major */
}
END_TEST

START_TEST(tou_band_edge_split)
{
	struct bill_version v = version("tou", TOU, 0);
	struct run *r = price("Asia/Shanghai", &v, 1, T("2026-10-01T07:45:00+08:00"),
			      T("2026-10-01T08:15:00+08:00"), 600, NULL);
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(band_wh(r, "valley"), 300);
	ck_assert_int_eq(band_wh(r, "peak"), 300);
	ck_assert_int_eq(r->cost, 300 * INT64_C(400000) + 300 * INT64_C(1200000));
	check_sums(r, 600);
	/* 10 min valley, 20 min peak, 100 Wh: 33.3 / 66.7 -> the larger remainder gets the Wh */
	r = price("Asia/Shanghai", &v, 1, T("2026-10-01T07:50:00+08:00"), T("2026-10-01T08:20:00+08:00"), 100, NULL);
	ck_assert_int_eq(band_wh(r, "valley"), 33);
	ck_assert_int_eq(band_wh(r, "peak"), 67);
	/* exactly on the edge: all peak */
	r = price("Asia/Shanghai", &v, 1, T("2026-10-01T08:00:00+08:00"), T("2026-10-01T08:15:00+08:00"), 77, NULL);
	ck_assert_int_eq(r->n, 1);
	ck_assert_int_eq(band_wh(r, "peak"), 77);
	/* ending exactly on the edge: all valley */
	r = price("Asia/Shanghai", &v, 1, T("2026-10-01T07:45:00+08:00"), T("2026-10-01T08:00:00+08:00"), 77, NULL);
	ck_assert_int_eq(band_wh(r, "valley"), 77);
	ck_assert_int_eq(r->n, 1);
}
END_TEST

START_TEST(ties_go_to_the_earlier_piece)
{
	/* 1 Wh over 07:30-08:30: two equal halves, the remainder goes to the earlier (valley) */
	struct bill_version v = version("tou", TOU, 0);
	struct run *r = price("Asia/Shanghai", &v, 1, T("2026-10-01T07:30:00+08:00"),
			      T("2026-10-01T08:30:00+08:00"), 1, NULL);
	ck_assert_int_eq(band_wh(r, "valley"), 1);
	ck_assert_int_eq(band_wh(r, "peak"), 0);
}
END_TEST

START_TEST(midnight_splits_days)
{
	struct bill_version v = version("flat", "{\"rate_micros_per_kwh\":1000000}", 0);
	struct run *r = price("Asia/Shanghai", &v, 1, T("2026-10-01T23:30:00+08:00"),
			      T("2026-10-02T00:30:00+08:00"), 60, NULL);
	ck_assert_int_eq(r->n, 2);
	ck_assert_int_eq(r->lines[1].day, r->lines[0].day + 1);
	ck_assert_int_eq(r->lines[0].wh, 30);
	ck_assert_int_eq(r->lines[1].wh, 30);
	/* the local day, not the UTC day: 23:30 local is 15:30 UTC of the same date */
	int y, m, d;
	cal_civil_from_days(r->lines[0].day, &y, &m, &d);
	ck_assert_int_eq(y * 10000 + m * 100 + d, 20261001);
}
END_TEST

START_TEST(tiers_cross_within_month)
{
	struct bill_version v = version("tiered", TIERED, 0);
	struct bill_month mo = {0, 0};
	int64_t t0 = T("2026-10-10T10:00:00+08:00");
	struct run *r = price("Asia/Shanghai", &v, 1, t0, t0 + H, 199500, &mo); /* sets the month */
	ck_assert_int_eq(band_wh(r, "tier1"), 199500);
	r = price("Asia/Shanghai", &v, 1, t0 + H, t0 + 2 * H, 1000, &mo);
	ck_assert_int_eq(band_wh(r, "tier1"), 500);
	ck_assert_int_eq(band_wh(r, "tier2"), 500);
	ck_assert_int_eq(r->cost, 500 * INT64_C(500000) + 500 * INT64_C(700000));
	ck_assert_int_eq(mo.wh, 200500);
	/* across two tier edges at once */
	r = price("Asia/Shanghai", &v, 1, t0 + 2 * H, t0 + 3 * H, 300000, &mo);
	ck_assert_int_eq(band_wh(r, "tier2"), 199500);
	ck_assert_int_eq(band_wh(r, "tier3"), 100500);
	check_sums(r, 300000);
}
END_TEST

START_TEST(month_boundary_resets_tiers)
{
	struct bill_version v = version("tiered", TIERED, 0);
	struct bill_month mo = {0, 0};
	int64_t oct = T("2026-10-31T20:00:00+08:00");
	struct run *r = price("Asia/Shanghai", &v, 1, oct, oct + H, 300000, &mo);
	ck_assert_int_eq(mo.wh, 300000);
	/* 23:00 Oct 31 to 01:00 Nov 1, 2000 Wh: 1000 in October (tier 2), 1000 in November (tier 1) */
	r = price("Asia/Shanghai", &v, 1, T("2026-10-31T23:00:00+08:00"), T("2026-11-01T01:00:00+08:00"), 2000, &mo);
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(band_wh(r, "tier2"), 1000);
	ck_assert_int_eq(band_wh(r, "tier1"), 1000);
	ck_assert_int_eq(mo.wh, 1000);
	ck_assert_int_eq(mo.month, 2026 * 12 + 10); /* November */
}
END_TEST

START_TEST(tariff_versions_in_force)
{
	struct bill_version vs[2] = {
		version("flat", "{\"rate_micros_per_kwh\":1000000}", T("2026-01-01T00:00:00+08:00")),
		version("flat", "{\"rate_micros_per_kwh\":2000000}", T("2026-10-01T12:00:00+08:00")),
	};
	struct run *r = price("Asia/Shanghai", vs, 2, T("2026-10-01T11:00:00+08:00"),
			      T("2026-10-01T13:00:00+08:00"), 200, NULL);
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(r->cost, 100 * INT64_C(1000000) + 100 * INT64_C(2000000));
	/* before the first version: nothing in force */
	r = price("Asia/Shanghai", vs, 2, T("2025-12-31T23:00:00+08:00"), T("2026-01-01T01:00:00+08:00"), 10, NULL);
	ck_assert_int_eq(r->res, PRICE_NO_TARIFF);
	/* a version of another kind */
	struct bill_version mix[2] = {vs[0], version("tou", TOU, T("2026-10-01T12:00:00+08:00"))};
	r = price("Asia/Shanghai", mix, 2, T("2026-10-01T11:00:00+08:00"), T("2026-10-01T13:00:00+08:00"), 200, NULL);
	ck_assert_int_eq(band_wh(r, "flat"), 100);
	ck_assert_int_eq(band_wh(r, "peak"), 100);
}
END_TEST

START_TEST(dst_autumn_berlin)
{
	/* 25 Oct 2026: 03:00 CEST becomes 02:00 CET, so 02:00-03:00 local happens twice and
	 * the local day has 25 hours. 100 Wh an hour. */
	struct bill_version v = version("tou", TOU, 0);
	int64_t t0 = T("2026-10-25T00:00:00+02:00"), t1 = T("2026-10-26T00:00:00+01:00");
	ck_assert_int_eq(t1 - t0, 25 * H);
	struct run *r = price("Europe/Berlin", &v, 1, t0, t1, 2500, NULL);
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(band_wh(r, "x"), 200);
	ck_assert_int_eq(band_wh(r, "peak"), 1400);
	ck_assert_int_eq(band_wh(r, "valley"), 900);
	for (int i = 0; i < r->n; i++)
		ck_assert_int_eq(r->lines[i].day, r->lines[0].day); /* one local day */
	check_sums(r, 2500);
}
END_TEST

START_TEST(dst_spring_berlin)
{
	/* 29 Mar 2026: 02:00 CET becomes 03:00 CEST; 02:00-03:00 does not exist; 23 hours. */
	struct bill_version v = version("tou", TOU, 0);
	int64_t t0 = T("2026-03-29T00:00:00+01:00"), t1 = T("2026-03-30T00:00:00+02:00");
	ck_assert_int_eq(t1 - t0, 23 * H);
	struct run *r = price("Europe/Berlin", &v, 1, t0, t1, 2300, NULL);
	ck_assert_int_eq(band_wh(r, "x"), 0);
	ck_assert_int_eq(band_wh(r, "peak"), 1400);
	ck_assert_int_eq(band_wh(r, "valley"), 900);
	/* an interval across the jump itself: 01:30 CET to 03:30 CEST is one real hour */
	r = price("Europe/Berlin", &v, 1, T("2026-03-29T01:30:00+01:00"), T("2026-03-29T03:30:00+02:00"), 60, NULL);
	ck_assert_int_eq(band_wh(r, "valley"), 60);
}
END_TEST

START_TEST(limits)
{
	struct bill_version v = version("flat", "{\"rate_micros_per_kwh\":1000000000}", 0);
	int64_t t0 = T("2026-10-01T00:00:00Z");
	struct run *r = price("UTC", &v, 1, t0, t0, 1, NULL); /* zero-length */
	ck_assert_int_eq(r->res, PRICE_BAD_INPUT);
	r = price("UTC", &v, 1, t0, t0 - 1, 1, NULL);
	ck_assert_int_eq(r->res, PRICE_BAD_INPUT);
	r = price("UTC", &v, 1, t0, t0 + 1, -1, NULL);
	ck_assert_int_eq(r->res, PRICE_BAD_INPUT);
	r = price("UTC", &v, 1, t0, t0 + M, 0, NULL); /* no energy: no lines, no cost */
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(r->n, 0);
	ck_assert_int_eq(r->cost, 0);
	r = price("UTC", &v, 1, t0, t0 + 1, 1, NULL); /* one microsecond */
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(r->cost, INT64_C(1000000000));
	r = price("UTC", &v, 1, t0, t0 + M, INT64_C(10000000000), NULL); /* 1e10 Wh x 1e9 */
	ck_assert_int_eq(r->res, PRICE_OVERFLOW);
	r = price("UTC", &v, 1, t0, t0 + 365 * 24 * H, INT64_C(8760000), NULL); /* a year: 365 lines */
	ck_assert_int_eq(r->res, PRICE_OK);
	ck_assert_int_eq(r->n, 365);
	check_sums(r, INT64_C(8760000));
	r = price("UTC", &v, 1, t0, t0 + 20 * 366 * 24 * H, 1, NULL); /* twenty years: refused */
	ck_assert_int_eq(r->res, PRICE_TOO_LONG);
}
END_TEST

START_TEST(carry_never_drifts)
{
	/* 100,000 readings of 1 Wh at 1.234567 CNY/kWh: floor(100 kWh x 1.234567) = 12345 fen */
	struct bill_version v = version("flat", "{\"rate_micros_per_kwh\":1234567}", 0);
	int64_t unit = bill_nano_per_minor(2), carry = 0, charged = 0;
	int64_t t = T("2026-10-01T00:00:00+08:00");
	for (int i = 0; i < 100000; i++, t += 1000000) {
		struct run *r = price("Asia/Shanghai", &v, 1, t, t + 1000000, 1, NULL);
		charged += bill_carry(&carry, r->cost, unit);
	}
	ck_assert_int_eq(charged, 12345);
	ck_assert_int_eq(carry, 67 * INT64_C(100000)); /* 0.67 fen left in the carry */
}
END_TEST

START_TEST(carry_limits)
{
	int64_t carry = 0;
	ck_assert_int_eq(bill_nano_per_minor(0), 1000000000);
	ck_assert_int_eq(bill_nano_per_minor(2), 10000000);
	ck_assert_int_eq(bill_nano_per_minor(3), 1000000);
	ck_assert_int_eq(bill_carry(&carry, 9999999, 10000000), 0);
	ck_assert_int_eq(bill_carry(&carry, 1, 10000000), 1);
	ck_assert_int_eq(carry, 0);
	carry = 9999999;
	ck_assert_int_eq(bill_carry(&carry, INT64_MAX, 10000000), INT64_MAX / 10000000 + 1);
	ck_assert_int_eq(carry, (INT64_MAX % 10000000 + 9999999) % 10000000);
}
END_TEST

START_TEST(tz_segments)
{
	struct bill_tzseg s[8];
	ck_assert_int_eq(bill_tz_segments("Asia/Shanghai", T("2026-01-01T00:00:00Z"), T("2026-12-31T00:00:00Z"), s, 8), 1);
	ck_assert_int_eq(s[0].offset_s, 8 * 3600);
	ck_assert_int_eq(bill_tz_segments("Europe/Berlin", T("2026-01-01T00:00:00Z"), T("2026-12-31T00:00:00Z"), s, 8), 3);
	ck_assert_int_eq(s[1].from_us, T("2026-03-29T01:00:00Z"));
	ck_assert_int_eq(s[1].offset_s, 7200);
	ck_assert_int_eq(s[2].from_us, T("2026-10-25T01:00:00Z"));
	ck_assert_int_eq(bill_tz_segments("Mars/Olympus", 0, 1, s, 8), -1);
	ck_assert_int_eq(bill_tz_segments("Europe/Berlin", T("2020-01-01T00:00:00Z"), T("2026-12-31T00:00:00Z"), s, 8), -1);
}
END_TEST

/* The remembered stretch between transitions answers later questions inside it, and
 * nothing outside it: summer, then across the October change, winter, summer again,
 * the instant of the change, and the instant before it. */
START_TEST(tz_segments_remembered)
{
	struct bill_tzseg s[8];
	int32_t off;
	ck_assert_int_eq(bill_tz_offset("Europe/Berlin", T("2026-07-01T12:00:00Z"), &off), 0);
	ck_assert_int_eq(off, 7200);
	ck_assert_int_eq(bill_tz_segments("Europe/Berlin", T("2026-08-01T00:00:00Z"), T("2026-08-01T00:15:00Z"), s, 8), 1);
	ck_assert_int_eq(s[0].offset_s, 7200);
	ck_assert_int_eq(bill_tz_segments("Europe/Berlin", T("2026-10-25T00:45:00Z"), T("2026-10-25T01:15:00Z"), s, 8), 2);
	ck_assert_int_eq(s[1].from_us, T("2026-10-25T01:00:00Z"));
	ck_assert_int_eq(s[1].offset_s, 3600);
	ck_assert_int_eq(bill_tz_offset("Europe/Berlin", T("2026-12-01T00:00:00Z"), &off), 0);
	ck_assert_int_eq(off, 3600);
	ck_assert_int_eq(bill_tz_offset("Europe/Berlin", T("2026-06-01T00:00:00Z"), &off), 0);
	ck_assert_int_eq(off, 7200);
	ck_assert_int_eq(bill_tz_offset("Europe/Berlin", T("2026-10-25T01:00:00Z"), &off), 0);
	ck_assert_int_eq(off, 3600);
	ck_assert_int_eq(bill_tz_offset("Europe/Berlin", T("2026-10-25T01:00:00Z") - 1, &off), 0);
	ck_assert_int_eq(off, 7200);
	ck_assert_int_eq(bill_tz_segments("Europe/Berlin", T("2026-10-25T00:00:00Z"), T("2026-10-25T01:00:00Z"), s, 8), 1);
	ck_assert_int_eq(s[0].offset_s, 7200);
	ck_assert_int_eq(bill_tz_segments("Europe/Berlin", T("2026-10-24T23:00:00Z"), T("2026-10-25T01:00:00Z") + 1, s, 8), 2);
}
END_TEST

/* calendar.h: day numbers and civil dates agree both ways over four centuries, across
 * leap days and the epoch, and local days floor (negative times included). */
START_TEST(calendar_round_trip)
{
	for (int64_t day = -146097; day <= 146097; day++) {
		int y, m, d;
		cal_civil_from_days(day, &y, &m, &d);
		ck_assert_int_eq(cal_days_from_civil(y, m, d), day);
	}
	int y, m, d;
	cal_civil_from_days(cal_days_from_civil(2024, 2, 29), &y, &m, &d);
	ck_assert(y == 2024 && m == 2 && d == 29);
	ck_assert_int_eq(cal_days_from_civil(1970, 1, 1), 0);
	ck_assert_int_eq(cal_local_day(-1), -1);
	ck_assert_int_eq(cal_local_day(CAL_DAY_US), 1);
	ck_assert_int_eq(cal_month_of_day((int32_t)cal_days_from_civil(2026, 10, 31)), 2026 * 12 + 9);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("price");
	TCase *core = tcase_create("core");
	tcase_add_test(core, calendar_round_trip);
	tcase_add_test(core, flat_exact);
	tcase_add_test(core, tou_band_edge_split);
	tcase_add_test(core, ties_go_to_the_earlier_piece);
	tcase_add_test(core, midnight_splits_days);
	tcase_add_test(core, tiers_cross_within_month);
	tcase_add_test(core, month_boundary_resets_tiers);
	tcase_add_test(core, tariff_versions_in_force);
	tcase_add_test(core, dst_autumn_berlin);
	tcase_add_test(core, dst_spring_berlin);
	tcase_add_test(core, tz_segments);
	tcase_add_test(core, tz_segments_remembered);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_set_timeout(lim, 60);
	tcase_add_test(lim, limits);
	tcase_add_test(lim, carry_never_drifts);
	tcase_add_test(lim, carry_limits);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
