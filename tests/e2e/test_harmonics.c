/* test_harmonics.c: harmonics 2nd to 31st through the real binary: spectra in readings, kept
 * at most once per meter per 15 minutes, refused when malformed with the rest billed, served
 * by GET /v1/meters/{id}/power-quality as JSON and as a page with SVG bars, and judged
 * against per-order limits on every reading (high_harmonics opened naming the order, closed
 * once clear). */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct th_world w;
static long long base; /* a 15-minute boundary three hours ago (unix s): readings are T(min) */

static void setup(void)
{
	th_world_start(&w, NULL, TH_SITE | TH_TENANT | TH_TARIFF);
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"}", 201));
	base = ((long long)time(NULL) - 3 * 3600) / 900 * 900;
}

static void teardown(void) { th_world_stop(&w); }

/* The time `min` minutes after base, RFC 3339 UTC, in a static buffer (one of four). */
static const char *T(int min)
{
	static char buf[4][32];
	static int at;
	char *b = buf[at++ % 4];
	time_t s = (time_t)(base + min * 60);
	struct tm tm;
	gmtime_r(&s, &tm);
	strftime(b, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return b;
}

/* "[first, first + step, ...]": n numbers, order 2 first. */
static char *spectrum(char *b, size_t size, int n, double first, double step)
{
	size_t len = (size_t)snprintf(b, size, "[");
	for (int k = 0; k < n; k++)
		len += (size_t)snprintf(b + len, size - len, "%s%.2f", k ? "," : "", first + step * k);
	snprintf(b + len, size - len, "]");
	return b;
}

/* One reading of M-1 at T(min) with extra fields (",\"thd_v_pct\":2" or ""). */
static char *one(char *b, size_t size, int min, long long wh, const char *extra)
{
	snprintf(b, size, "{\"meter\":\"M-1\",\"ts\":\"%s\",\"energy_wh\":%lld%s}", T(min), wh, extra);
	return b;
}

static json_t *post(const char *readings)
{
	char *body = malloc(strlen(readings) + 32);
	sprintf(body, "{\"readings\":[%s]}", readings);
	json_t *r = th_ok(&w.srv, "POST", "/v1/readings", w.gw, body, 200);
	free(body);
	return r;
}

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

/* v[order - 1] (hundredths) of the row kept for the slot starting at T(min), -1 when none. */
static long long kept(int min, const char *half, int order)
{
	char sql[300];
	snprintf(sql, sizeof sql, "SELECT coalesce((SELECT coalesce(%s[%d], -2) FROM meter_harmonics WHERE meter_id = 1"
		 " AND slot = '%s'), -1)", half, order - 1, T(min));
	return q(sql);
}

static json_t *pq(const char *query, const char *key, long status)
{
	char path[300];
	snprintf(path, sizeof path, "/v1/meters/M-1/power-quality%s", query);
	return th_ok(&w.srv, "GET", path, key, NULL, status);
}

/* <rect elements between the n-th "<svg" of body and its "</svg>"; -1 when there is none. */
static int bars(const char *body, int n)
{
	const char *s = body;
	for (int i = 0; i <= n; i++) {
		s = strstr(i ? s + 1 : s, "<svg");
		if (!s)
			return -1;
	}
	const char *end = strstr(s, "</svg>");
	int c = 0;
	for (const char *p = strstr(s, "<rect"); p && p < end; p = strstr(p + 1, "<rect"))
		c++;
	return c;
}

START_TEST(spectra_kept_once_per_slot_and_served)
{
	char a[400], b[400], c[400], d[400], bad[400], r[6][1200], all[8000];
	spectrum(a, sizeof a, 30, 1.0, 0.1);
	spectrum(b, sizeof b, 30, 2.0, 0.1);
	spectrum(c, sizeof c, 30, 3.0, 0.1);
	spectrum(d, sizeof d, 30, 4.0, 0.1);
	spectrum(bad, sizeof bad, 29, 1.0, 0.1);
	char x[1000];
	snprintf(x, sizeof x, ",\"thd_v_pct\":2.5,\"thd_i_pct\":9,\"harmonics_v_pct\":%s,\"harmonics_i_pct\":%s", a, a);
	one(r[0], sizeof r[0], 1, 1000, x); /* the baseline, slot 0: kept */
	snprintf(x, sizeof x, ",\"thd_v_pct\":2.6,\"harmonics_v_pct\":%s", b);
	one(r[1], sizeof r[1], 5, 1010, x); /* slot 0 again: not kept */
	snprintf(x, sizeof x, ",\"thd_v_pct\":2.7,\"harmonics_v_pct\":%s", c);
	one(r[2], sizeof r[2], 16, 1020, x); /* slot 15: kept */
	snprintf(x, sizeof x, ",\"harmonics_v_pct\":%s", bad);
	one(r[3], sizeof r[3], 20, 1030, x); /* refused */
	one(r[4], sizeof r[4], 21, 1040, ",\"thd_i_pct\":8.5,\"harmonics_i_pct\":[1,2]"); /* refused */
	one(r[5], sizeof r[5], 22, 1050, ",\"thd_i_pct\":8.5");
	snprintf(all, sizeof all, "%s,%s,%s,%s,%s,%s", r[0], r[1], r[2], r[3], r[4], r[5]);
	json_t *res = post(all);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "accepted")), 4);
	json_t *rej = json_object_get(res, "rejected");
	ck_assert_int_eq(json_array_size(rej), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(rej, 0), "index")), 3);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(rej, 0), "code")), "invalid_reading");
	ck_assert(strstr(json_string_value(json_object_get(json_array_get(rej, 0), "message")), "harmonics_v_pct"));
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(rej, 1), "index")), 4);
	ck_assert(strstr(json_string_value(json_object_get(json_array_get(rej, 1), "message")), "harmonics_i_pct"));
	json_decref(res);
	/* the rest stored and billed; nothing of the refused two */
	ck_assert_int_eq(q("SELECT count(*) FROM readings"), 4);
	ck_assert_int_eq(q("SELECT count(*) FROM readings WHERE billed"), 3);
	ck_assert_int_eq(q("SELECT count(*) FROM meter_harmonics"), 2);
	ck_assert_int_eq(kept(0, "v", 2), 100); /* the first of the slot, in hundredths */
	ck_assert_int_eq(kept(0, "v", 31), 390);
	ck_assert_int_eq(kept(0, "i", 2), 100);
	ck_assert_int_eq(kept(15, "v", 2), 300);
	ck_assert_int_eq(kept(15, "i", 2), -2); /* no current half */
	ck_assert_int_eq(q("SELECT count(*) FROM meter_harmonics WHERE ts = slot + interval '1 minute'"), 2); /* T1, T16 */

	/* a later batch: slot 15 again (not kept), a late reading into slot 0 (not kept), slot 30 (kept) */
	snprintf(x, sizeof x, ",\"harmonics_v_pct\":%s", d);
	one(r[0], sizeof r[0], 25, 1060, x);
	one(r[1], sizeof r[1], 7, 1005, x);
	snprintf(x, sizeof x, ",\"harmonics_v_pct\":%s", b);
	one(r[2], sizeof r[2], 31, 1070, x);
	snprintf(all, sizeof all, "%s,%s,%s", r[0], r[1], r[2]);
	res = post(all);
	ck_assert_int_eq(json_integer_value(json_object_get(res, "accepted")), 3);
	json_decref(res);
	ck_assert_int_eq(q("SELECT count(*) FROM readings WHERE NOT billed"), 2); /* the baseline and the late one */
	ck_assert_int_eq(q("SELECT count(*) FROM meter_harmonics"), 3);
	ck_assert_int_eq(kept(0, "v", 2), 100);
	ck_assert_int_eq(kept(15, "v", 2), 300);
	ck_assert_int_eq(kept(30, "v", 2), 200);

	/* JSON: the THD series, the spectra kept, the latest spectrum in range */
	char query[200];
	snprintf(query, sizeof query, "?from=%s&to=%s", T(0), T(60));
	json_t *p = pq(query, w.fin, 200);
	ck_assert_str_eq(json_string_value(json_object_get(p, "meter_id")), "mtr_1");
	ck_assert_str_eq(json_string_value(json_object_get(p, "serial")), "M-1");
	ck_assert_int_eq(strncmp(json_string_value(json_object_get(p, "harmonics_ts")), T(31), 19), 0);
	json_t *hv = json_object_get(p, "harmonics_v_pct");
	ck_assert_int_eq(json_array_size(hv), 30);
	ck_assert(fabs(json_number_value(json_array_get(hv, 0)) - 2.0) < 1e-9);
	ck_assert(fabs(json_number_value(json_array_get(hv, 29)) - 4.9) < 1e-9);
	ck_assert(json_is_null(json_object_get(p, "harmonics_i_pct")));
	ck_assert_int_eq(json_array_size(json_object_get(p, "thd")), 4); /* T1, T5, T16, T22 */
	ck_assert(fabs(json_number_value(json_object_get(json_array_get(json_object_get(p, "thd"), 0), "thd_v_pct")) - 2.5) < 1e-6);
	ck_assert(json_is_null(json_object_get(json_array_get(json_object_get(p, "thd"), 3), "thd_v_pct")));
	ck_assert_int_eq(json_array_size(json_object_get(p, "spectra")), 3);
	ck_assert_int_eq(json_object_size(json_object_get(p, "harmonic_limits_pct")), 0);
	ck_assert(json_is_null(json_object_get(p, "next_after")));
	json_decref(p);
	/* paged like the readings: every point and every spectrum once */
	int thd = 0, spectra = 0, pages = 0;
	char after[64] = "";
	do {
		snprintf(query, sizeof query, "?limit=2&from=%s&to=%s%s%s", T(0), T(60), after[0] ? "&after=" : "", after);
		p = pq(query, w.ops, 200);
		ck_assert_int_le(json_array_size(json_object_get(p, "thd")), 2);
		ck_assert_int_le(json_array_size(json_object_get(p, "spectra")), 2);
		thd += (int)json_array_size(json_object_get(p, "thd"));
		spectra += (int)json_array_size(json_object_get(p, "spectra"));
		const char *next = json_string_value(json_object_get(p, "next_after"));
		snprintf(after, sizeof after, "%s", next ? next : "");
		json_decref(p);
		ck_assert_int_lt(++pages, 10);
	} while (after[0]);
	ck_assert_int_eq(thd, 4);
	ck_assert_int_eq(spectra, 3);
	ck_assert_int_eq(pages, 2);
	/* the latest in a narrower range: slot 0's, with both halves */
	snprintf(query, sizeof query, "?from=%s&to=%s", T(0), T(15));
	p = pq(query, w.fin, 200);
	ck_assert_int_eq(strncmp(json_string_value(json_object_get(p, "harmonics_ts")), T(1), 19), 0);
	ck_assert_int_eq(json_array_size(json_object_get(p, "harmonics_i_pct")), 30);
	json_decref(p);
	snprintf(query, sizeof query, "?from=%s", T(100));
	p = pq(query, w.fin, 200);
	ck_assert(json_is_null(json_object_get(p, "harmonics_v_pct")) && json_is_null(json_object_get(p, "harmonics_ts")));
	ck_assert_int_eq(json_array_size(json_object_get(p, "thd")), 0);
	json_decref(p);

	/* HTML: the spectrum as 30 bars; both halves, two charts */
	const char *html[] = {"Accept: text/html", NULL};
	char path[300];
	snprintf(path, sizeof path, "/v1/meters/mtr_1/power-quality?from=%s&to=%s", T(0), T(60));
	struct th_resp h = th_req(&w.srv, "GET", path, w.fin, NULL, html);
	ck_assert_int_eq(h.status, 200);
	ck_assert(strstr(h.content_type, "text/html"));
	ck_assert_int_eq(bars(h.body, 0), 30);
	ck_assert_int_eq(bars(h.body, 1), -1);
	ck_assert(strstr(h.body, "Power quality: M-1"));
	ck_assert_ptr_null(strstr(h.body, "<script"));
	th_resp_free(&h);
	snprintf(path, sizeof path, "/v1/meters/M-1/power-quality?format=html&from=%s&to=%s", T(0), T(15));
	h = th_req(&w.srv, "GET", path, w.ops, NULL, NULL);
	ck_assert_int_eq(h.status, 200);
	ck_assert_int_eq(bars(h.body, 0), 30);
	ck_assert_int_eq(bars(h.body, 1), 30);
	th_resp_free(&h);

	/* who may read it; what is not there; what is malformed */
	char *tenant = th_key(&w.srv, "tenant", "ten_1");
	struct th_resp e = th_req(&w.srv, "GET", "/v1/meters/M-1/power-quality", tenant, NULL, NULL);
	ck_assert_int_eq(e.status, 403);
	th_resp_free(&e);
	e = th_req(&w.srv, "GET", "/v1/meters/M-1/power-quality", w.gw, NULL, NULL);
	ck_assert_int_eq(e.status, 403);
	th_resp_free(&e);
	free(tenant);
	json_decref(pq("", w.srv.admin_key, 200));
	e = th_req(&w.srv, "GET", "/v1/meters/M-9/power-quality", w.fin, NULL, NULL);
	ck_assert_int_eq(e.status, 404);
	th_resp_free(&e);
	e = th_req(&w.srv, "GET", "/v1/meters/M-1/power-quality?from=yesterday", w.fin, NULL, NULL);
	ck_assert_int_eq(e.status, 400);
	th_resp_free(&e);
	e = th_req(&w.srv, "GET", "/v1/meters/M-1/power-quality?format=pdf", w.fin, NULL, NULL);
	ck_assert_int_eq(e.status, 400);
	th_resp_free(&e);
	e = th_req(&w.srv, "GET", "/v1/meters/M-1/power-quality?limit=0", w.fin, NULL, NULL);
	ck_assert_int_eq(e.status, 400);
	th_resp_free(&e);
}
END_TEST

/* Wait up to ms for sql to count want. */
static void wait_for(const char *sql, long long want, int ms)
{
	long long got = -1;
	for (int i = 0; i < ms / 50 && (got = q(sql)) != want; i++)
		usleep(50000);
	ck_assert_msg(got == want, "%s: want %lld, got %lld", sql, want, got);
}

/* "[1,1,...]": 30 numbers at 1% but order's at pct. */
static char *spectrum_with(char *b, size_t size, int order, double pct)
{
	size_t len = (size_t)snprintf(b, size, "[");
	for (int k = 2; k <= 31; k++)
		len += (size_t)snprintf(b + len, size - len, "%s%.2f", k > 2 ? "," : "", k == order ? pct : 1.0);
	snprintf(b + len, size - len, "]");
	return b;
}

/* One reading at T(min), its 5th voltage harmonic at v5 and 7th current one at i7 (percent),
 * the others at 1%. */
static void spectrum_reading(int min, long long wh, double v5, double i7)
{
	char v[400], i[400], extra[900], rd[1200];
	snprintf(extra, sizeof extra, ",\"harmonics_v_pct\":%s,\"harmonics_i_pct\":%s", spectrum_with(v, sizeof v, 5, v5),
		 spectrum_with(i, sizeof i, 7, i7));
	json_t *r = post(one(rd, sizeof rd, min, wh, extra));
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), 1);
	json_decref(r);
}

static void refused_setting(const char *path, const char *body, const char *field)
{
	struct th_resp r = th_req(&w.srv, "PUT", path, w.ops, body, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "invalid_field");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(r.json, "error"), "details"), "field")),
			 field);
	th_resp_free(&r);
}

START_TEST(harmonic_limits_refused_high_harmonics_opens_and_closes)
{
	refused_setting("/v1/meters/mtr_1/alarm-settings", "{\"harmonic_limits_pct\":{\"1\":5}}",
			"alarm_settings.harmonic_limits_pct.1");
	refused_setting("/v1/meters/mtr_1/alarm-settings", "{\"harmonic_limits_pct\":{\"5\":-1}}",
			"alarm_settings.harmonic_limits_pct.5");
	refused_setting("/v1/sites/site_1/alarm-settings", "{\"harmonic_limits_i_pct\":{\"32\":5}}",
			"alarm_settings.harmonic_limits_i_pct.32");
	refused_setting("/v1/sites/site_1/alarm-settings", "{\"harmonic_limits_i_pct\":[5]}",
			"alarm_settings.harmonic_limits_i_pct");
	ck_assert_int_eq(q("SELECT count(*) FROM meters WHERE alarm_settings <> '{}'"), 0);
	json_decref(th_ok(&w.srv, "PUT", "/v1/sites/site_1/alarm-settings", w.ops,
			  "{\"clear_minutes\":10,\"harmonic_limits_pct\":{\"5\":6},\"harmonic_limits_i_pct\":{\"7\":20}}", 200));
	json_decref(th_ok(&w.srv, "PUT", "/v1/meters/mtr_1/alarm-settings", w.ops, "{\"harmonic_limits_pct\":{\"5\":6.5}}",
			  200)); /* the meter's own limit overrides the site's */

	spectrum_reading(1, 1000, 2, 5);   /* the baseline, fine */
	spectrum_reading(5, 1010, 6.5, 5); /* at the limit: fine */
	ck_assert_int_eq(q("SELECT count(*) FROM alarms"), 0);
	spectrum_reading(6, 1020, 7.5, 5); /* over: opened, naming the order */
	spectrum_reading(7, 1030, 8.0, 5); /* over again, in a slot that keeps the first: judged all the same */
	ck_assert_int_eq(q("SELECT count(*) FROM meter_harmonics"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind = 'high_harmonics' AND state = 'open'"), 1);
	ck_assert_int_eq(q("SELECT detections FROM alarms"), 2);
	ck_assert_int_eq(q("SELECT peak FROM alarms"), 8);
	json_t *l = th_ok(&w.srv, "GET", "/v1/alarms?kind=high_harmonics", w.ops, NULL, 200);
	json_t *al = json_array_get(json_object_get(l, "items"), 0);
	json_t *detail = json_object_get(al, "detail");
	ck_assert_int_eq(json_integer_value(json_object_get(detail, "order")), 5);
	ck_assert_str_eq(json_string_value(json_object_get(detail, "of")), "voltage");
	ck_assert(json_number_value(json_object_get(detail, "pct")) == 7.5);
	ck_assert(json_number_value(json_object_get(detail, "limit_pct")) == 6.5);
	ck_assert(json_number_value(json_object_get(json_object_get(detail, "orders_v_pct"), "5")) == 7.5);
	ck_assert_int_eq(json_object_size(json_object_get(detail, "orders_i_pct")), 0);
	char ack[64];
	snprintf(ack, sizeof ack, "/v1/alarms/%s/ack", json_string_value(json_object_get(al, "id")));
	json_decref(l);
	/* the page draws the limits in force */
	char path[200];
	snprintf(path, sizeof path, "/v1/meters/M-1/power-quality?format=html&from=%s", T(0));
	struct th_resp h = th_req(&w.srv, "GET", path, w.ops, NULL, NULL);
	ck_assert_int_eq(h.status, 200);
	ck_assert_msg(strstr(h.body, "order 5: 2% (limit 6.5%)"), "%s", h.body);
	ck_assert(strstr(h.body, "order 7: 5% (limit 20%)"));
	th_resp_free(&h);
	json_t *p = th_ok(&w.srv, "GET", "/v1/meters/M-1/power-quality", w.fin, NULL, 200);
	ck_assert(json_number_value(json_object_get(json_object_get(p, "harmonic_limits_pct"), "5")) == 6.5);
	ck_assert(json_number_value(json_object_get(json_object_get(p, "harmonic_limits_i_pct"), "7")) == 20);
	json_decref(p);

	/* acknowledged, then clear for 10 minutes of readings' time: closed */
	json_decref(th_ok(&w.srv, "POST", ack, w.ops, "{\"note\":\"filter ordered\"}", 200));
	spectrum_reading(10, 1040, 2, 5);
	spectrum_reading(16, 1050, 2, 5);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE state = 'acked'"), 1); /* 9 minutes clear */
	spectrum_reading(18, 1060, 2, 5);
	wait_for("SELECT count(*) FROM alarms WHERE state = 'closed'"
		 " AND closed_at IS NOT NULL AND cleared_at = last_seen_at + interval '10 minutes'", 1, 5000);
	/* the current's limit: a new alarm, naming the 7th */
	spectrum_reading(25, 1070, 2, 25);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind = 'high_harmonics'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE state = 'open' AND (detail->>'order')::int = 7"
			   " AND detail->>'of' = 'current' AND (detail->'orders_i_pct'->>'7')::numeric = 25"), 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("harmonics");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 60);
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, spectra_kept_once_per_slot_and_served);
	tcase_add_test(core, harmonic_limits_refused_high_harmonics_opens_and_closes);
	suite_add_tcase(s, core);
	return s;
}

int main(void) { return th_run(suite()); }
