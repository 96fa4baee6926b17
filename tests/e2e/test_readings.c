/* test_readings.c: readings in, money out, through the real binary: exactly once, to the fen. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct th_world w;

static void setup(void) { th_world_start(&w, NULL, 0); }

static void teardown(void) { th_world_stop(&w); }

/* Site, tenant, tariff; returns nothing, ids are site_1, ten_1, trf_1. */
static void seed(const char *zone, const char *tariff_rules)
{
	char body[1024];
	snprintf(body, sizeof body, "{\"name\":\"Mall\",\"timezone\":\"%s\",\"currency\":\"CNY\"}", zone);
	json_decref(th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key, body, 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Noodle Bar\",\"category\":\"catering\","
			  "\"area_m2\":\"80\",\"credit_rating\":\"A\"}", 201));
	snprintf(body, sizeof body,
		 "{\"site_id\":\"site_1\",\"name\":\"T\",\"currency\":\"CNY\","
		 "\"effective_from\":\"2026-01-01T00:00:00+08:00\",%s}", tariff_rules);
	json_decref(th_ok(&w.srv, "POST", "/v1/tariffs", w.fin, body, 201));
}

static void meter(const char *serial, const char *extra)
{
	char body[512];
	snprintf(body, sizeof body,
		 "{\"serial\":\"%s\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"%s%s}",
		 serial, extra ? "," : "", extra ? extra : "");
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops, body, 201));
}

static json_t *post(const char *body)
{
	return th_ok(&w.srv, "POST", "/v1/readings", w.gw, body, 200);
}

static long long balance(void)
{
	json_t *a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	long long b = json_integer_value(json_object_get(a, "balance_minor"));
	json_decref(a);
	return b;
}

static int count(json_t *r, const char *k) { return (int)json_integer_value(json_object_get(r, k)); }

static const char *rejected_code(json_t *r, int index)
{
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(r, "rejected"), i, x)
		if (json_integer_value(json_object_get(x, "index")) == index)
			return json_string_value(json_object_get(x, "code"));
	return "";
}

static const char *FLAT = "\"kind\":\"flat\",\"rate_micros_per_kwh\":1234567";

START_TEST(bills_once_and_duplicates_do_nothing)
{
	seed("Asia/Shanghai", FLAT);
	meter("M-1", NULL);
	json_t *r = post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00+08:00\",\"energy_wh\":1000}]}");
	ck_assert_int_eq(count(r, "accepted"), 1); /* the baseline */
	json_decref(r);
	ck_assert_int_eq(balance(), 0);
	/* 96 quarter hours of 250 Wh: 24 kWh x 1.234567 = 29.629608 CNY -> 2962 fen */
	struct { char *p; } b = {malloc(65536)};
	strcpy(b.p, "{\"readings\":[");
	for (int i = 1; i <= 96; i++) {
		char one[160];
		snprintf(one, sizeof one, "%s{\"meter\":\"mtr_1\",\"ts\":\"2026-11-01T%02d:%02d:00+08:00\",\"energy_wh\":%d,\"power_w\":1000,\"voltage_v\":229.5,\"pf\":0.98,\"relay\":\"on\"}",
			 i > 1 ? "," : "", (i * 15) / 60 % 24, (i * 15) % 60, 1000 + 250 * i);
		if (i == 96) /* 24:00 is the next day */
			snprintf(one, sizeof one, ",{\"meter\":\"mtr_1\",\"ts\":\"2026-11-02T00:00:00+08:00\",\"energy_wh\":%d}", 1000 + 250 * i);
		strcat(b.p, one);
	}
	strcat(b.p, "]}");
	r = post(b.p);
	ck_assert_int_eq(count(r, "accepted"), 96);
	ck_assert_int_eq(count(r, "duplicates"), 0);
	ck_assert_int_eq((int)json_array_size(json_object_get(r, "rejected")), 0);
	json_decref(r);
	ck_assert_int_eq(balance(), -2962);
	r = post(b.p); /* the gateway retries the whole batch */
	ck_assert_int_eq(count(r, "accepted"), 0);
	ck_assert_int_eq(count(r, "duplicates"), 96);
	json_decref(r);
	ck_assert_int_eq(balance(), -2962);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM ledger_entries WHERE kind = 'energy_charge'"), 1);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM readings"), 97);
	/* optional values stored where sent, NULL where not: the baseline's batch sent none,
	 * this one some on 95 readings, none on the last, and never current or THD */
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM readings WHERE voltage_v = 229.5 AND power_w = 1000"
					" AND relay = 'on' AND abs(pf - 0.98) < 1e-6"), 95);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM readings WHERE voltage_v IS NULL AND power_w IS NULL"
					" AND pf IS NULL AND relay IS NULL"), 2);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM readings WHERE current_a IS NOT NULL"
					" OR frequency_hz IS NOT NULL OR thd_v_pct IS NOT NULL OR thd_i_pct IS NOT NULL"), 0);
	/* the ledger entry names the readings and the energy by band */
	json_t *l = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/ledger", w.fin, NULL, 200);
	json_t *ref = json_object_get(json_array_get(json_object_get(l, "items"), 0), "ref");
	ck_assert_str_eq(json_string_value(json_object_get(ref, "meter_id")), "mtr_1");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(ref, "readings"), "count")), 96);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(ref, "wh_by_band"), "flat")), 24000);
	json_decref(l);
	/* consumption from the rollups: one local day */
	json_t *c = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/consumption?from=2026-11-01&to=2026-11-03", w.fin, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "energy_wh")), 24000);
	ck_assert_int_eq((int)json_array_size(json_object_get(c, "items")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(c, "items"), 0), "period")), "2026-11-01");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "cost_nano")), INT64_C(24000) * 1234567);
	json_decref(c);
	/* readings read back, paginated */
	json_t *rd = th_ok(&w.srv, "GET", "/v1/meters/M-1/readings?limit=10&from=2026-11-01T00:00:00%2B08:00", w.ops, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(rd, "items")), 10);
	ck_assert(json_is_string(json_object_get(rd, "next_after")));
	ck_assert(json_is_false(json_object_get(json_array_get(json_object_get(rd, "items"), 0), "billed")));
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(rd, "items"), 1), "power_w")), 1000);
	json_decref(rd);
	free(b.p);
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert(strstr(m.body, "wattle_ingest_readings_total{outcome=\"billed\"} 96"));
	ck_assert(strstr(m.body, "wattle_ingest_readings_total{outcome=\"duplicate\"} 96"));
	th_resp_free(&m);
}
END_TEST

/* readings_next_after_pages: a page's next_after is a ts, and ?after= was read as a meter id
 * too (api_page), so following it was a 400: only the first page could be read. Every page
 * follows now, each reading once. */
START_TEST(readings_next_after_pages)
{
	seed("Asia/Shanghai", FLAT);
	meter("M-1", NULL);
	char body[2048];
	int len = snprintf(body, sizeof body, "{\"readings\":[");
	for (int i = 0; i < 7; i++)
		len += snprintf(body + len, sizeof body - (size_t)len,
				"%s{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:%02d:00+08:00\",\"energy_wh\":%d}",
				i ? "," : "", i * 5, 1000 + 10 * i);
	snprintf(body + len, sizeof body - (size_t)len, "]}");
	json_decref(post(body));
	char path[200], after[64] = "";
	int seen = 0, pages = 0;
	for (;;) {
		snprintf(path, sizeof path, "/v1/meters/M-1/readings?limit=3%s%s", after[0] ? "&after=" : "", after);
		json_t *pg = th_ok(&w.srv, "GET", path, w.ops, NULL, 200);
		json_t *items = json_object_get(pg, "items");
		for (size_t i = 0; i < json_array_size(items); i++, seen++)
			ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(items, i), "energy_wh")),
					 1000 + 10 * seen);
		pages++;
		const char *next = json_string_value(json_object_get(pg, "next_after"));
		if (next) {
			ck_assert_ptr_null(strchr(next, '+')); /* UTC: nothing to escape in a query */
			snprintf(after, sizeof after, "%s", next);
		}
		json_decref(pg);
		if (!next)
			break;
		ck_assert_int_lt(pages, 5);
	}
	ck_assert_int_eq(seen, 7);
	ck_assert_int_eq(pages, 3);
}
END_TEST

START_TEST(rules_per_reading)
{
	seed("Asia/Shanghai", FLAT);
	meter("M-1", "\"max_power_w\":10000");
	meter("M-2", "\"register_max_wh\":100000,\"multiplier\":40");
	meter("M-3", NULL);
	json_decref(th_ok(&w.srv, "PATCH", "/v1/meters/mtr_3", w.ops, "{\"status\":\"retired\"}", 200));
	json_t *r = post("{\"readings\":["
			 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":5000},"
			 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":99990}]}");
	ck_assert_int_eq(count(r, "accepted"), 2);
	json_decref(r);
	r = post("{\"readings\":["
		 /* 0: fine, 1 kWh in 15 min at 10 kW max is allowed (2.5 kWh would be the limit) */
		 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":6000},"
		 /* 1: the same again in this batch */
		 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":6000},"
		 /* 2: regressed */
		 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:30:00Z\",\"energy_wh\":5999},"
		 /* 3: implausible: 21 kWh in the 30 min since 0 is 42 kW, past 4 x the 10 kW limit */
		 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:45:00Z\",\"energy_wh\":27000},"
		 /* 4: late: before the baseline, stored not billed */
		 "{\"meter\":\"M-1\",\"ts\":\"2026-10-31T23:45:00Z\",\"energy_wh\":4900},"
		 /* 5: unknown, 6: retired, 7: bad field, 8: float energy, 9: future */
		 "{\"meter\":\"NOPE\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":1},"
		 "{\"meter\":\"M-3\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":1},"
		 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:20:00Z\",\"energy_wh\":6001,\"colour\":1},"
		 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:20:00Z\",\"energy_wh\":6001.5},"
		 "{\"meter\":\"M-1\",\"ts\":\"2099-01-01T00:00:00Z\",\"energy_wh\":7000},"
		 /* 10: wrap at 100000 with multiplier 40: 20 register Wh -> 800 Wh */
		 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":10}]}");
	ck_assert_int_eq(count(r, "accepted"), 3); /* 0, 4, 10 */
	ck_assert_int_eq(count(r, "duplicates"), 1);
	ck_assert_str_eq(rejected_code(r, 2), "energy_regressed");
	ck_assert_str_eq(rejected_code(r, 3), "implausible_delta");
	ck_assert_str_eq(rejected_code(r, 5), "unknown_meter");
	ck_assert_str_eq(rejected_code(r, 6), "meter_retired");
	ck_assert_str_eq(rejected_code(r, 7), "invalid_reading");
	ck_assert_str_eq(rejected_code(r, 8), "invalid_reading");
	ck_assert_str_eq(rejected_code(r, 9), "ts_in_future");
	json_decref(r);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT billed_wh FROM meter_state WHERE meter_id = 1"), 1000);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT billed_wh FROM meter_state WHERE meter_id = 2"), 800);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM readings WHERE meter_id = 1 AND NOT billed"), 2);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM meter_events WHERE kind IN ('energy_regressed', 'implausible_delta')"), 2);
	/* refused, not forgotten: an alarm for a person to look at */
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM alarms WHERE kind = 'energy_implausible' AND meter_id = 1"
				  " AND (detail->>'max_plausible_power_w')::int = 40000"), 1);
	/* each meter keeps its own carry: 1000 Wh -> 123.4567 fen -> 123; 800 Wh -> 98.76536 -> 98 */
	ck_assert_int_eq(balance(), -221);
	/* the late reading again: a duplicate now */
	r = post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-10-31T23:45:00Z\",\"energy_wh\":4900}]}");
	ck_assert_int_eq(count(r, "duplicates"), 1);
	json_decref(r);
	struct th_resp bad = th_req(&w.srv, "POST", "/v1/readings", w.gw, "{\"readings\":{}}", NULL);
	ck_assert_int_eq(bad.status, 400);
	th_resp_free(&bad);
	bad = th_req(&w.srv, "POST", "/v1/readings", w.fin, "{\"readings\":[]}", NULL);
	ck_assert_int_eq(bad.status, 403);
	th_resp_free(&bad);
}
END_TEST

START_TEST(tou_bands_and_tariff_version)
{
	seed("Asia/Shanghai",
	     "\"kind\":\"tou\",\"bands\":[{\"name\":\"peak\",\"rate_micros_per_kwh\":1200000},"
	     "{\"name\":\"valley\",\"rate_micros_per_kwh\":400000}],\"schedule\":["
	     "{\"from\":\"00:00\",\"to\":\"08:00\",\"band\":\"valley\"},{\"from\":\"08:00\",\"to\":\"22:00\",\"band\":\"peak\"},"
	     "{\"from\":\"22:00\",\"to\":\"24:00\",\"band\":\"valley\"}]");
	meter("M-1", NULL);
	json_decref(post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T07:00:00+08:00\",\"energy_wh\":0}]}"));
	/* 07:00-09:00, 2000 Wh: 1000 valley, 1000 peak = 0.4 + 1.2 CNY = 160 fen */
	json_decref(post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T09:00:00+08:00\",\"energy_wh\":2000}]}"));
	ck_assert_int_eq(balance(), -160);
	/* from 10:00 a flat 2 CNY/kWh; 09:00-11:00, 2000 Wh: 1000 at peak 1.2, 1000 at 2.0 = 320 fen */
	json_decref(th_ok(&w.srv, "POST", "/v1/tariffs/trf_1/versions", w.fin,
			  "{\"effective_from\":\"2026-11-01T10:00:00+08:00\",\"kind\":\"flat\",\"rate_micros_per_kwh\":2000000}", 201));
	struct th_resp dup = th_req(&w.srv, "POST", "/v1/tariffs/trf_1/versions", w.fin,
				    "{\"effective_from\":\"2026-11-01T10:00:00+08:00\",\"kind\":\"flat\",\"rate_micros_per_kwh\":1}", NULL);
	ck_assert_int_eq(dup.status, 409);
	th_resp_free(&dup);
	json_decref(post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T11:00:00+08:00\",\"energy_wh\":4000}]}"));
	ck_assert_int_eq(balance(), -480);
	json_t *c = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/consumption?from=2026-11-01&to=2026-12-01&granularity=month", w.fin, NULL, 200);
	json_t *bands = json_object_get(json_array_get(json_object_get(c, "items"), 0), "bands");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(c, "items"), 0), "period")), "2026-11");
	ck_assert_int_eq((int)json_array_size(bands), 3); /* flat, peak, valley */
	json_decref(c);
	json_t *t = th_ok(&w.srv, "GET", "/v1/tariffs/trf_1", w.fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(t, "versions")), 2);
	json_decref(t);
}
END_TEST

START_TEST(meter_replacement_keeps_balance_and_history)
{
	seed("Asia/Shanghai", FLAT);
	meter("OLD-1", NULL);
	json_decref(post("{\"readings\":[{\"meter\":\"OLD-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":50000},"
			 "{\"meter\":\"OLD-1\",\"ts\":\"2026-11-01T01:00:00Z\",\"energy_wh\":60000}]}"));
	ck_assert_int_eq(balance(), -1234); /* 10 kWh */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/meters/OLD-1", w.ops, "{\"status\":\"retired\"}", 200));
	meter("NEW-1", "\"start_register_wh\":0");
	/* the new meter bills from its starting register */
	json_t *r = post("{\"readings\":[{\"meter\":\"NEW-1\",\"ts\":\"2099-01-01T00:00:00Z\",\"energy_wh\":1},"
			 "{\"meter\":\"OLD-1\",\"ts\":\"2026-11-01T02:00:00Z\",\"energy_wh\":61000}]}");
	ck_assert_str_eq(rejected_code(r, 1), "meter_retired");
	json_decref(r);
	json_t *m = th_ok(&w.srv, "GET", "/v1/meters/NEW-1", w.ops, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "start_register_wh")), 0);
	json_decref(m);
	/* registered just now (the real clock): a reading a minute later bills 10 Wh from the
	 * starting register, with no baseline reading first */
	char body[256];
	PGresult *pr = th_sql(w.db, "SELECT to_char((created_at + interval '1 minute') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM meters WHERE serial = 'NEW-1'");
	snprintf(body, sizeof body, "{\"readings\":[{\"meter\":\"NEW-1\",\"ts\":\"%s\",\"energy_wh\":10}]}", PQgetvalue(pr, 0, 0));
	PQclear(pr);
	r = post(body);
	ck_assert_int_eq(count(r, "accepted"), 1);
	json_decref(r);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT billed_wh FROM meter_state st JOIN meters m ON m.id = st.meter_id WHERE serial = 'NEW-1'"), 10);
	json_t *c = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/consumption?from=2026-01-01&to=2027-01-01&granularity=month", w.fin, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "energy_wh")), 10010);
	json_decref(c);
}
END_TEST

START_TEST(no_drift_over_100000_readings)
{
	seed("Asia/Shanghai", FLAT);
	meter("M-1", NULL);
	/* 1 Wh a second from 2026-11-01T00:00:00Z: a baseline and 100,000 readings */
	char *body = malloc(5001 * 90 + 64);
	int64_t t0 = 1793491200; /* 2026-11-01T00:00:00Z */
	for (int batch = 0; batch <= 20; batch++) {
		size_t n = (size_t)sprintf(body, "{\"readings\":[");
		int from = batch == 0 ? 0 : (batch - 1) * 5000 + 1, to = batch == 0 ? 0 : batch * 5000;
		for (int i = from; i <= to; i++) {
			time_t s = (time_t)(t0 + i);
			struct tm tm;
			gmtime_r(&s, &tm);
			n += (size_t)sprintf(body + n, "%s{\"meter\":\"M-1\",\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02dZ\",\"energy_wh\":%d}",
					     i > from ? "," : "", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
					     tm.tm_min, tm.tm_sec, i);
		}
		strcpy(body + n, "]}");
		json_t *r = post(body);
		ck_assert_int_eq(count(r, "accepted"), to - from + 1);
		json_decref(r);
	}
	free(body);
	/* floor(100 kWh x 1.234567 CNY) = 123.45 CNY, never a fen more */
	ck_assert_int_eq(balance(), -12345);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT billed_wh FROM meter_state"), 100000);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT carry_nano FROM meter_state"), 6700000);
}
END_TEST

struct race {
	const char *body;
	int accepted, duplicates;
};

static void *race_post(void *arg)
{
	struct race *r = arg;
	struct th_resp x = th_req(&w.srv, "POST", "/v1/readings", w.gw, r->body, NULL);
	r->accepted = count(x.json, "accepted");
	r->duplicates = count(x.json, "duplicates");
	th_resp_free(&x);
	return NULL;
}

START_TEST(concurrent_same_batch_bills_once)
{
	seed("Asia/Shanghai", FLAT);
	meter("M-1", NULL);
	meter("M-2", NULL);
	json_decref(post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0},"
			 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0}]}"));
	const char *b = "{\"readings\":[{\"meter\":\"M-2\",\"ts\":\"2026-11-01T01:00:00Z\",\"energy_wh\":10000},"
			"{\"meter\":\"M-1\",\"ts\":\"2026-11-01T01:00:00Z\",\"energy_wh\":10000}]}";
	pthread_t th[8];
	struct race rs[8];
	for (int i = 0; i < 8; i++) {
		rs[i].body = b;
		pthread_create(&th[i], NULL, race_post, &rs[i]);
	}
	int acc = 0, dups = 0;
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		acc += rs[i].accepted;
		dups += rs[i].duplicates;
	}
	ck_assert_int_eq(acc, 2);
	ck_assert_int_eq(dups, 14);
	ck_assert_int_eq(balance(), -2 * 1234); /* 10 kWh each */
}
END_TEST

struct busy {
	int id, ok, refused, after_stop;
	volatile int *stop;
};

static void *busy_client(void *arg)
{
	struct busy *b = arg;
	for (int i = 1; !*b->stop; i++) {
		char body[200];
		snprintf(body, sizeof body,
			 "{\"readings\":[{\"meter\":\"M-%d\",\"ts\":\"2026-11-01T00:%02d:%02dZ\",\"energy_wh\":%d}]}",
			 b->id % 2 + 1, i / 60 % 60, i % 60, i * 10 + b->id);
		struct th_resp r = th_req(&w.srv, "POST", "/v1/readings", w.gw, body, NULL);
		if (r.status == 200)
			b->ok++;
		else if (r.status == 503)
			b->refused++;
		else
			b->after_stop++; /* connection refused once it stopped */
		th_resp_free(&r);
		r = th_req(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, NULL);
		th_resp_free(&r);
	}
	return NULL;
}

START_TEST(stops_cleanly_while_busy)
{
	seed("Asia/Shanghai", FLAT);
	meter("M-1", NULL);
	meter("M-2", NULL);
	volatile int stop = 0;
	pthread_t th[12];
	struct busy b[12];
	for (int i = 0; i < 12; i++) {
		b[i] = (struct busy){i, 0, 0, 0, &stop};
		pthread_create(&th[i], NULL, busy_client, &b[i]);
	}
	usleep(400000);
	ck_assert_int_eq(th_server_stop(&w.srv), 0); /* SIGTERM under load: drains and exits 0 */
	stop = 1;
	int ok = 0;
	for (int i = 0; i < 12; i++) {
		pthread_join(th[i], NULL);
		ok += b[i].ok;
	}
	ck_assert_int_gt(ok, 0);
	/* every request that was answered 200 was billed or counted; the ledger is whole */
	th_assert_ledger_invariant(w.db);
}
END_TEST

/* overload_energy_is_billed: max_power_w was also the bound above which a reading was
 * refused, so a tenant overloading a 5 kW circuit at 8 kW had the readings that prove it
 * refused and that energy never billed. Now it is billed (and the overload alarmed); only a
 * step past what the circuit can physically deliver is refused. */
START_TEST(overload_energy_is_billed)
{
	seed("Asia/Shanghai", FLAT);
	meter("M-1", "\"max_power_w\":5000");
	meter("M-2", "\"max_power_w\":5000,\"max_plausible_power_w\":10000");
	json_decref(post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0},"
			 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0}]}"));
	json_t *r = post("{\"readings\":["
			 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":2000,\"power_w\":8000},"
			 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:30:00Z\",\"energy_wh\":4000,\"power_w\":8000},"
			 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:45:00Z\",\"energy_wh\":6000,\"power_w\":8000},"
			 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:15:00Z\",\"energy_wh\":2000},"
			 "{\"meter\":\"M-2\",\"ts\":\"2026-11-01T00:30:00Z\",\"energy_wh\":5000}]}");
	ck_assert_int_eq(count(r, "accepted"), 4);
	ck_assert_str_eq(rejected_code(r, 4), "implausible_delta"); /* 12 kW, past M-2's own 10 kW */
	json_decref(r);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT billed_wh FROM meter_state WHERE meter_id = 1"), 6000);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT billed_wh FROM meter_state WHERE meter_id = 2"), 2000);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM alarms WHERE kind = 'overload' AND meter_id = 1"), 1);
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM alarms WHERE kind = 'energy_implausible' AND meter_id = 2"), 1);
	/* 6 kWh at 1.234567 CNY: 7.407402 CNY -> 740 fen, and 2 kWh -> 246 fen */
	ck_assert_int_eq(balance(), -740 - 246);
	json_t *m = th_ok(&w.srv, "GET", "/v1/meters/mtr_2", w.ops, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(m, "max_plausible_power_w")), 10000);
	json_decref(m);
	m = th_ok(&w.srv, "PATCH", "/v1/meters/mtr_2", w.ops, "{\"max_plausible_power_w\":null}", 200);
	ck_assert(json_is_null(json_object_get(m, "max_plausible_power_w")));
	json_decref(m);
	struct th_resp bad = th_req(&w.srv, "PATCH", "/v1/meters/mtr_2", w.ops, "{\"max_plausible_power_w\":0}", NULL);
	ck_assert_int_eq(bad.status, 400);
	th_resp_free(&bad);
}
END_TEST

/* ingest_batch_cost_overflow: two readings of one meter in one batch whose costs each fit
 * in int64 nano-units but whose sum does not. The sum was an __int128 cast to int64_t
 * unchecked: it wrapped negative and credited the tenant. Now the reading that would
 * overflow is refused and the first is billed. */
START_TEST(ingest_batch_cost_overflow)
{
	seed("Asia/Shanghai", FLAT); /* 1.234567 CNY/kWh: 1,234,567 nano-units per Wh */
	meter("M-1", NULL);
	json_decref(post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0}]}"));
	/* 6e12 Wh costs 7.4e18 nano-units; twice that is past INT64_MAX (9.22e18). */
	json_t *r = post("{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T01:00:00Z\",\"energy_wh\":6000000000000},"
			 "{\"meter\":\"M-1\",\"ts\":\"2026-11-01T02:00:00Z\",\"energy_wh\":12000000000000}]}");
	ck_assert_int_eq(count(r, "accepted"), 1);
	ck_assert_str_eq(rejected_code(r, 1), "implausible_delta");
	json_decref(r);
	ck_assert_int_eq(balance(), -INT64_C(740740200000)); /* 6e9 kWh at 1.234567 CNY, in fen */
}
END_TEST

struct tagged {
	const char *body, *request_id;
	long status;
	int accepted;
};

static void *tagged_post(void *arg)
{
	struct tagged *t = arg;
	char h[160];
	snprintf(h, sizeof h, "X-Request-Id: %s", t->request_id);
	const char *headers[] = {h, NULL};
	struct th_resp x = th_req(&w.srv, "POST", "/v1/readings", w.gw, t->body, headers);
	t->status = x.status;
	t->accepted = x.json ? count(x.json, "accepted") : -1;
	th_resp_free(&x);
	return NULL;
}

/* group_commit_failure_and_request_ids: requests queued together are billed in one
 * transaction. One whose readings make that transaction fail (here a trigger refuses meter
 * BAD's row, as a data error would) failed every request batched with it; and every entry
 * of a batch carried the first request's id. Now the others are billed without it, and
 * each meter's entry names the request that carried its reading. */
START_TEST(group_commit_failure_and_request_ids)
{
	enum { N = 24 };
	seed("Asia/Shanghai", FLAT);
	char serial[16], body[256];
	for (int i = 0; i < N; i++) {
		snprintf(serial, sizeof serial, "G-%d", i);
		meter(serial, NULL);
		snprintf(body, sizeof body, "{\"readings\":[{\"meter\":\"%s\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0}]}", serial);
		json_decref(post(body));
	}
	meter("BAD", NULL);
	json_decref(post("{\"readings\":[{\"meter\":\"BAD\",\"ts\":\"2026-11-01T00:00:00Z\",\"energy_wh\":0}]}"));
	PQclear(th_sql(w.db, "CREATE FUNCTION refuse_bad() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
			   " IF NEW.meter_id = (SELECT id FROM meters WHERE serial = 'BAD') THEN"
			   " RAISE EXCEPTION 'refused for the test' USING ERRCODE = '22023'; END IF;"
			   " RETURN NEW; END $$;"
			   "CREATE TRIGGER refuse_bad BEFORE INSERT ON readings FOR EACH ROW EXECUTE FUNCTION refuse_bad()"));
	/* One ingest worker, so requests that arrive while it bills queue up and are combined. */
	ck_assert_int_eq(th_server_stop(&w.srv), 0);
	const char *env[] = {"WATTLE_INGEST_WORKERS=1", NULL};
	th_server_start(&w.srv, w.db, env);
	for (int round = 0; round < 3; round++) {
		pthread_t th[N + 1];
		struct tagged t[N + 1];
		char bodies[N + 1][256], ids[N + 1][32];
		for (int i = 0; i <= N; i++) {
			if (i < N)
				snprintf(serial, sizeof serial, "G-%d", i);
			else
				snprintf(serial, sizeof serial, "BAD");
			snprintf(bodies[i], sizeof bodies[i],
				 "{\"readings\":[{\"meter\":\"%s\",\"ts\":\"2026-11-01T0%d:00:00Z\",\"energy_wh\":%d}]}",
				 serial, round + 1, (round + 1) * 1000);
			snprintf(ids[i], sizeof ids[i], "rq-%d-%s", round, serial);
			t[i] = (struct tagged){bodies[i], ids[i], 0, 0};
		}
		for (int k = 0; k <= N; k++) { /* the bad one in the middle, among queued ones */
			int i = k < N / 2 ? k : k == N / 2 ? N : k - 1;
			pthread_create(&th[i], NULL, tagged_post, &t[i]);
		}
		for (int i = 0; i <= N; i++)
			pthread_join(th[i], NULL);
		for (int i = 0; i < N; i++) {
			ck_assert_msg(t[i].status == 200 && t[i].accepted == 1, "%s: status %ld, accepted %d",
				      ids[i], t[i].status, t[i].accepted);
			char q[256];
			snprintf(q, sizeof q,
				 "SELECT count(*) FROM ledger_entries WHERE kind = 'energy_charge' AND request_id = '%s'"
				 " AND (ref->>'meter_id') = (SELECT 'mtr_' || id FROM meters WHERE serial = 'G-%d')", ids[i], i);
			ck_assert_msg(th_sql_int(w.db, q) == 1, "no entry of G-%d names %s", i, ids[i]);
		}
		ck_assert_int_ne(t[N].status, 200);
	}
	ck_assert_int_eq(th_sql_int(w.db, "SELECT count(*) FROM ledger_entries WHERE kind = 'energy_charge'"), 3 * N);
	ck_assert_int_eq(balance(), -N * 370); /* 3 kWh a meter: 370.37 fen, the remainder carried */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("readings");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, bills_once_and_duplicates_do_nothing);
	tcase_add_test(core, rules_per_reading);
	tcase_add_test(core, readings_next_after_pages);
	tcase_add_test(core, overload_energy_is_billed);
	tcase_add_test(core, tou_bands_and_tariff_version);
	tcase_add_test(core, meter_replacement_keeps_balance_and_history);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_set_timeout(lim, 300);
	tcase_add_test(lim, no_drift_over_100000_readings);
	tcase_add_test(lim, concurrent_same_batch_bills_once);
	tcase_add_test(lim, stops_cleanly_while_busy);
	tcase_add_test(lim, ingest_batch_cost_overflow);
	tcase_add_test(lim, group_commit_failure_and_request_ids);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
