/* test_reports.c: statements, the finance summary and the energy report from a month of
 * real activity through the real binary; their numbers against the ledger; CSV back to the
 * JSON's totals; the month close once a site-local month has ended. wattle's clock starts
 * at 23:40 on 31 October in Shanghai and runs 60x: the month ends 20 real seconds in. */
#include "harness.h"

#include <png.h>
#include <stdbool.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define START INT64_C(1793461200) /* 2026-10-31T15:40:00Z = 23:40 in Shanghai */

static char *db;
static struct th_server srv;
static char *fin, *gw, *ops, *ten1, *ten2;

static long long q(const char *sql) { return th_sql_int(db, sql); }

static void post(const char *path, const char *key, const char *body, long want)
{
	json_decref(th_ok(&srv, "POST", path, key, body, want));
}

/* Readings every 6 hours through October for meter serial, growing by wh each. */
static void month_of_readings(const char *serial, int wh)
{
	char *body = malloc(200000);
	size_t n = (size_t)sprintf(body, "{\"readings\":[");
	long long e = 0;
	for (int d = 1; d <= 31; d++)
		for (int h = 0; h < 24; h += 6) {
			if (d == 31 && h == 18)
				break; /* not past the clock */
			n += (size_t)sprintf(body + n, "%s{\"meter\":\"%s\",\"ts\":\"2026-10-%02dT%02d:00:00+08:00\",\"energy_wh\":%lld}",
					     n > 14 ? "," : "", serial, d, h, e);
			e += wh + (d % 7) * 10;
		}
	sprintf(body + n, "]}");
	json_t *r = th_ok(&srv, "POST", "/v1/readings", gw, body, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "rejected")), 0);
	json_decref(r);
	free(body);
}

static char e_start[64], e_anchor[64];
static const char *env[] = {"WATTLE_CLOCK_SPEED=60", e_start, e_anchor, "WATTLE_CLOSE_DELAY_MIN=1", NULL};
/* October never closes (the close waits 31 days): its data stays as the setup left it. */
static const char *env_open[] = {"WATTLE_CLOCK_SPEED=60", e_start, e_anchor, "WATTLE_CLOSE_DELAY_MIN=44640", NULL};

static void setup_with(const char *const *e)
{
	snprintf(e_start, sizeof e_start, "WATTLE_CLOCK_START=%lld", (long long)START);
	snprintf(e_anchor, sizeof e_anchor, "WATTLE_CLOCK_ANCHOR=%lld", (long long)time(NULL));
	db = th_fresh_db();
	/* the site existed before October */
	th_server_start(&srv, db, e);
	fin = th_key(&srv, "finance", NULL);
	gw = th_key(&srv, "gateway", NULL);
	ops = th_key(&srv, "operator", NULL);
	post("/v1/sites", srv.admin_key, "{\"name\":\"Harbour Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201);
	PQclear(th_sql(db, "UPDATE sites SET created_at = '2026-09-01T00:00:00+08:00'"));
	post("/v1/tariffs", fin,
	     "{\"site_id\":\"site_1\",\"name\":\"TOU\",\"currency\":\"CNY\",\"kind\":\"tou\",\"effective_from\":\"2026-01-01T00:00:00+08:00\","
	     "\"bands\":[{\"name\":\"peak\",\"rate_micros_per_kwh\":1200000},{\"name\":\"valley\",\"rate_micros_per_kwh\":400000}],"
	     "\"schedule\":[{\"from\":\"00:00\",\"to\":\"08:00\",\"band\":\"valley\"},{\"from\":\"08:00\",\"to\":\"22:00\",\"band\":\"peak\"},"
	     "{\"from\":\"22:00\",\"to\":\"24:00\",\"band\":\"valley\"}]}", 201);
	post("/v1/tenants", fin, "{\"site_id\":\"site_1\",\"name\":\"Noodle \\\"Bar\\\", Ltd\",\"category\":\"catering\","
				 "\"area_m2\":\"80.5\",\"credit_rating\":\"A\",\"phone\":\"+8613800138000\"}", 201);
	post("/v1/tenants", fin, "{\"site_id\":\"site_1\",\"name\":\"=Shoes\",\"category\":\"retail\","
				 "\"area_m2\":\"120\",\"credit_rating\":\"A\"}", 201);
	post("/v1/meters", ops, "{\"serial\":\"T-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"}", 201);
	post("/v1/meters", ops, "{\"serial\":\"T-2\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_2\",\"tariff_id\":\"trf_1\"}", 201);
	post("/v1/meters", ops, "{\"serial\":\"HVAC\",\"site_id\":\"site_1\",\"purpose\":\"hvac\",\"tariff_id\":\"trf_1\"}", 201);
	post("/v1/cost-pools", fin, "{\"site_id\":\"site_1\",\"name\":\"Air conditioning\",\"method\":\"area\",\"meter_ids\":[\"mtr_3\"],"
				    "\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_2\"}],\"auto\":true}", 201);
	post("/v1/cost-pools", fin, "{\"site_id\":\"site_1\",\"name\":\"Lighting\",\"method\":\"quota\",\"meter_ids\":[\"mtr_3\"],"
				    "\"members\":[{\"tenant_id\":\"ten_1\",\"quota_ppm\":400000},"
				    "{\"tenant_id\":\"ten_2\",\"quota_ppm\":600000}],\"auto\":true}", 201);
	ten1 = th_key(&srv, "tenant", "ten_1");
	ten2 = th_key(&srv, "tenant", "ten_2");
	/* October: top-ups, an adjustment, readings; the air conditioning committed by hand */
	post("/v1/tenants/ten_1/topups", fin, "{\"amount_minor\":50000,\"channel\":\"cash\"}", 201);
	post("/v1/tenants/ten_1/topups", fin, "{\"amount_minor\":20000,\"channel\":\"card\"}", 201);
	post("/v1/tenants/ten_2/topups", fin, "{\"amount_minor\":30000,\"channel\":\"bank\"}", 201);
	post("/v1/tenants/ten_1/adjustments", fin, "{\"amount_minor\":-1234,\"reason\":\"meter seal fee\"}", 201);
	month_of_readings("T-1", 900);
	month_of_readings("T-2", 1500);
	month_of_readings("HVAC", 4000);
	post("/v1/cost-pools/pool_1/runs", fin, "{\"period\":\"2026-10\",\"commit\":true}", 201);
}

static void setup(void) { setup_with(env); }

/* The setup with fixed times: the entries posted at the running clock's "now" (top-ups,
 * the adjustment, the allocation) are dated one second apart by id from 23:40 on 31
 * October, so every report of October is the same document on every run (but for its
 * generated_at). The ledger is append-only, so its trigger is off for this one statement. */
static void setup_fixed(void)
{
	setup_with(env_open);
	PQclear(th_sql(db, "SET session_replication_role = replica;"
			   " UPDATE ledger_entries SET at = '2026-10-31T15:40:00Z'::timestamptz + id * interval '1 second'"
			   " WHERE kind <> 'energy_charge';"
			   " SET session_replication_role = DEFAULT"));
}

static void teardown(void)
{
	ck_assert_int_eq(th_server_stop(&srv), 0);
	th_assert_ledger_invariant(db);
	free(fin);
	free(gw);
	free(ops);
	free(ten1);
	free(ten2);
	free(db);
}

/* The path of the last report made here: the month close makes reports of its own, so ids
 * are not known in advance. */
static char last[64];

static json_t *report(const char *body)
{
	json_t *r = th_ok(&srv, "POST", "/v1/reports", fin, body, 201);
	snprintf(last, sizeof last, "/v1/reports/%s", json_string_value(json_object_get(r, "id")));
	json_t *d = json_incref(json_object_get(r, "data"));
	json_decref(r);
	return d;
}

static long long n(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static long long sum_of(json_t *arr, const char *k)
{
	long long s = 0;
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
		s += n(e, k);
	return s;
}

/* A minimal RFC 4180 reader: the fields of the row starting at *p; advances *p. */
static int csv_row(const char **p, char f[8][256])
{
	int k = 0;
	size_t at = 0;
	bool quoted = false;
	memset(f, 0, 8 * 256);
	while (**p) {
		char c = *(*p)++;
		if (quoted) {
			if (c == '"' && **p == '"')
				f[k][at++] = *(*p)++;
			else if (c == '"')
				quoted = false;
			else
				f[k][at++] = c;
		} else if (c == '"') {
			quoted = true;
		} else if (c == ',') {
			k++;
			at = 0;
		} else if (c == '\r' && **p == '\n') {
			(*p)++;
			return k + 1;
		} else {
			f[k][at++] = c;
		}
	}
	return at || k ? k + 1 : 0;
}

START_TEST(statement_adds_up_and_renders)
{
	json_t *s = report("{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}");
	char one[64], path[96];
	snprintf(one, sizeof one, "%s", last);
	long long open = n(s, "opening_balance_minor"), close = n(s, "closing_balance_minor");
	ck_assert_int_eq(open, 0);
	ck_assert_int_eq(n(s, "topups_minor"), 70000);
	ck_assert_int_eq(n(s, "adjustments_minor"), -1234);
	ck_assert_int_gt(n(s, "energy_charges_minor"), 0);
	ck_assert_int_gt(n(s, "allocations_minor"), 0); /* posted in October */
	ck_assert_int_eq(open + n(s, "topups_minor") - n(s, "energy_charges_minor") - n(s, "allocations_minor") +
				 n(s, "adjustments_minor") - n(s, "refunds_minor"),
			 close);
	/* closing is the ledger's balance at the end of October in Shanghai */
	ck_assert_int_eq(close, q("SELECT sum(amount_minor) FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
				  " WHERE a.tenant_id = 1 AND e.at < '2026-11-01T00:00:00+08:00'"));
	/* bands split the charges to the fen; kWh from the rollup */
	ck_assert_int_eq(sum_of(json_object_get(s, "energy_by_band"), "amount_minor"), n(s, "energy_charges_minor"));
	ck_assert_int_eq(sum_of(json_object_get(s, "energy_by_band"), "wh"),
			 q("SELECT sum(wh) FROM meter_daily WHERE meter_id = 1"));
	ck_assert_int_eq(json_array_size(json_object_get(s, "daily")), 31);
	ck_assert_int_eq(sum_of(json_object_get(s, "topups"), "amount_minor"), 70000);
	ck_assert_int_eq(sum_of(json_object_get(s, "topups_by_channel"), "amount_minor"), 70000);
	json_t *al = json_array_get(json_object_get(s, "allocations"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(al, "pool")), "Air conditioning");
	ck_assert_str_eq(json_string_value(json_object_get(al, "period")), "2026-10");
	ck_assert_ptr_null(json_object_get(s, "phone"));
	json_decref(s);

	/* CSV: BOM, header, the JSON's totals, quoted names, no formulas */
	snprintf(path, sizeof path, "%s?format=json", one);
	struct th_resp r = th_req(&srv, "GET", path, fin, NULL, NULL);
	json_t *j = json_incref(json_object_get(r.json, "data"));
	th_resp_free(&r);
	const char *hc[] = {"Accept: text/csv", NULL};
	r = th_req(&srv, "GET", one, fin, NULL, hc);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.content_type, "text/csv"));
	ck_assert(!strncmp(r.body, "\xEF\xBB\xBF", 3));
	const char *p = r.body + 3;
	char f[8][256];
	ck_assert_int_eq(csv_row(&p, f), 8);
	ck_assert_str_eq(f[0], "section");
	ck_assert_str_eq(f[4], "wh");
	ck_assert_str_eq(f[5], "kwh"); /* the HTML's unit beside the exact Wh */
	ck_assert_str_eq(f[6], "amount_minor");
	int totals = 0, bands = 0;
	long long band_sum = 0;
	while (csv_row(&p, f)) {
		if (!strcmp(f[0], "tenant"))
			ck_assert_str_eq(f[3], "Noodle \"Bar\", Ltd");
		if (!strcmp(f[0], "total")) {
			ck_assert_int_eq(atoll(f[6]), n(j, f[2]));
			totals++;
		}
		if (!strcmp(f[0], "energy")) {
			band_sum += atoll(f[6]);
			char k[48];
			snprintf(k, sizeof k, "%lld.%03lld", atoll(f[4]) / 1000, atoll(f[4]) % 1000);
			ck_assert_str_eq(f[5], k);
			bands++;
		}
	}
	ck_assert_int_eq(totals, 7);
	ck_assert_int_eq(band_sum, n(j, "energy_charges_minor"));
	ck_assert_int_eq(bands, 2);
	th_resp_free(&r);
	char generated[64], run[32];
	snprintf(generated, sizeof generated, "%s", json_string_value(json_object_get(j, "generated_at")));
	snprintf(run, sizeof run, "%s",
		 json_string_value(json_object_get(json_array_get(json_object_get(j, "allocations"), 0), "run_id")));
	json_decref(j);

	/* HTML: one page, a chart, nothing fetched or run */
	const char *hh[] = {"Accept: text/html", NULL};
	r = th_req(&srv, "GET", one, fin, NULL, hh);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.content_type, "text/html"));
	ck_assert(strstr(r.body, "<svg"));
	ck_assert(strstr(r.body, "Noodle &quot;Bar&quot;, Ltd"));
	ck_assert_ptr_null(strstr(r.body, "<script"));
	ck_assert_ptr_null(strstr(r.body, "src="));
	ck_assert_ptr_null(strstr(r.body, "href="));
	ck_assert_ptr_null(strstr(r.body, "url("));
	/* for a person: a language, a main landmark, the charts in words, the time in the
	 * site's zone (not the stored UTC with microseconds), no ids, charges as charges with
	 * the minus before them in the summary */
	ck_assert(strstr(r.body, "<html lang=\"en\">") && strstr(r.body, "<main>") && strstr(r.body, "</main>"));
	ck_assert(strstr(r.body, "aria-label=\"Daily consumption: 31 bars"));
	ck_assert_msg(!strstr(r.body, generated), "raw %s in the page", generated);
	const char *g = strstr(r.body, "generated 20");
	ck_assert(g);
	g += strlen("generated ");
	ck_assert_msg(strlen(g) > 16 && g[4] == '-' && g[10] == ' ' && g[13] == ':' && g[16] == '<', "%.30s", g);
	ck_assert_ptr_null(strstr(r.body, "ten_1"));
	ck_assert_ptr_null(strstr(r.body, run));
	ck_assert(strstr(r.body, "<td>Energy charges</td><td class=\"n\">\u2212</td>"));
	ck_assert(strstr(r.body, "Air conditioning"));
	/* a stored report never changes: cacheable, and asked again with its ETag, 304 */
	ck_assert_msg(r.etag[0] == '"', "no ETag");
	ck_assert_ptr_nonnull(strstr(r.cache_control, "immutable"));
	char inm[160];
	snprintf(inm, sizeof inm, "If-None-Match: %s", r.etag);
	th_resp_free(&r);
	const char *hi[] = {"Accept: text/html", inm, NULL};
	r = th_req(&srv, "GET", one, fin, NULL, hi);
	ck_assert_int_eq(r.status, 304);
	ck_assert_int_eq(strlen(r.body ? r.body : ""), 0);
	th_resp_free(&r);
	r = th_req(&srv, "GET", one, fin, NULL, NULL); /* JSON: another representation, another tag */
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_ne(r.etag, inm + 15);
	th_resp_free(&r);
	/* the tenant reads its own statement, not the other's */
	r = th_req(&srv, "GET", one, ten1, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	th_resp_free(&r);
	r = th_req(&srv, "GET", one, ten2, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	/* a formula-looking name is defused in CSV */
	json_decref(report("{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_2\"}"));
	snprintf(path, sizeof path, "%s?format=csv", last);
	r = th_req(&srv, "GET", path, fin, NULL, NULL);
	ck_assert(strstr(r.body, "\"'=Shoes\""));
	th_resp_free(&r);
}
END_TEST

START_TEST(finance_and_energy)
{
	json_t *f = report("{\"kind\":\"finance_summary\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}");
	long long start = n(f, "prepaid_liability_start_minor"), end = n(f, "prepaid_liability_end_minor");
	ck_assert_int_eq(start, 0);
	ck_assert_int_eq(n(f, "topups_minor"), 100000);
	ck_assert_int_eq(start + n(f, "topups_minor") - n(f, "energy_charges_minor") - n(f, "allocations_minor") +
				 n(f, "adjustments_minor") - n(f, "refunds_minor"),
			 end);
	ck_assert_int_eq(end, q("SELECT sum(balance_minor) FROM accounts"));
	ck_assert_int_eq(sum_of(json_object_get(f, "energy_by_band"), "amount_minor"), n(f, "energy_charges_minor"));
	ck_assert_int_eq(sum_of(json_object_get(f, "allocations_by_pool"), "amount_minor"), n(f, "allocations_minor"));
	ck_assert_int_eq(n(f, "tenants"), 2);
	ck_assert_int_eq(json_array_size(json_object_get(f, "payments_reconciliation")), 3);
	json_decref(f);
	json_t *e = report("{\"kind\":\"energy\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}");
	ck_assert_int_eq(n(e, "total_wh"), q("SELECT sum(wh) FROM meter_daily"));
	ck_assert_int_eq(n(e, "public_wh"), q("SELECT sum(wh) FROM meter_daily WHERE meter_id = 3"));
	ck_assert_int_eq(n(e, "public_wh"), q("SELECT sum(wh) FROM meter_hourly"));
	json_t *grid = json_object_get(e, "public_load_wh_by_day_hour");
	ck_assert_int_eq(json_array_size(grid), 31);
	ck_assert_int_eq(json_array_size(json_array_get(grid, 0)), 24);
	long long cells = 0;
	size_t i, h;
	json_t *d, *c;
	json_array_foreach(grid, i, d) json_array_foreach(d, h, c) cells += json_integer_value(c);
	ck_assert_int_eq(cells, n(e, "public_wh"));
	ck_assert_int_eq(sum_of(json_object_get(e, "by_category"), "wh"), n(e, "total_wh") - n(e, "public_wh"));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(e, "top_consumers"), 0), "tenant_id")),
			 "ten_2");
	json_decref(e);
	/* bad requests name the field */
	struct th_resp r = th_req(&srv, "POST", "/v1/reports", fin, "{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body, "tenant_id"));
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/reports", fin, "{\"kind\":\"energy\",\"period\":\"2026-13\",\"site_id\":\"site_1\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "POST", "/v1/reports", fin, "{\"kind\":\"energy\",\"period\":\"2026-10\",\"site_id\":\"site_9\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	char pdf[96];
	snprintf(pdf, sizeof pdf, "%s?format=pdf", last);
	r = th_req(&srv, "GET", pdf, fin, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
}
END_TEST

/* The value of a sample on s's /metrics ("name{labels}" exactly), or -1. */
static long long metric(struct th_server *s, const char *sample)
{
	struct th_resp m = th_req(s, "GET", "/metrics", NULL, NULL, NULL);
	long long v = -1;
	size_t n = strlen(sample);
	for (const char *p = m.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, sample, n) && p[n] == ' ')
			v = atoll(p + n + 1);
	th_resp_free(&m);
	return v;
}

START_TEST(month_close_once)
{
	/* a second process on the same database and clock: the month still closes once */
	/* the tenant without a phone follows the site's WeChat account: its notice goes there */
	ck_assert_int_eq(q("WITH u AS (UPDATE tenants SET wechat_openid = 'o-no-phone', channels = '{wechat}'"
			   " WHERE phone IS NULL RETURNING 1) SELECT count(*) FROM u"), 1);
	struct th_server two;
	th_server_start(&two, db, env);
	/* 00:01 on 1 November in Shanghai is 21 real seconds after the start */
	long long done = 0;
	for (int i = 0; i < 400 && !done; i++) {
		usleep(100000);
		done = q("SELECT count(*) FROM month_closes WHERE period = '2026-10'");
	}
	ck_assert_int_eq(done, 1);
	/* (September was closed at the start: the site existed then) */
	ck_assert_int_eq(q("SELECT statements FROM month_closes WHERE period = '2026-10'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM reports WHERE origin = 'month_close' AND period = '2026-10'"), 4);
	ck_assert_int_eq(q("SELECT count(*) FROM reports WHERE origin = 'month_close' AND kind = 'tenant_statement'"
			   " AND period = '2026-10'"), 2);
	/* the auto pool not committed by hand was committed for October first */
	ck_assert_int_eq(q("SELECT count(*) FROM allocation_runs WHERE period = '2026-10' AND state = 'committed'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM allocation_runs WHERE pool_id = 2 AND api_key_id IS NULL AND period = '2026-10'"), 1);
	/* month_close_auto_commit_is_audited: as the API's commit is, naming the worker */
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'allocation.commit' AND method = 'WORKER'"
			   " AND path = 'month close' AND role = 'none' AND api_key_id IS NULL"
			   " AND target->>'period' = '2026-10' AND target->>'id' = (SELECT 'run_' || id FROM allocation_runs"
			   "  WHERE pool_id = 2 AND period = '2026-10')"), 1);
	ck_assert_int_eq(q("SELECT allocations FROM month_closes WHERE period = '2026-10'"), 1);
	/* each tenant is told: SMS where there is a phone, WeChat for the one with only an openid
	 * (statement_ready_reaches_a_wechat_only_tenant: none was queued before), the app event
	 * for both */
	ck_assert_int_eq(q("SELECT count(*) FROM notifications n JOIN tenants t ON t.id = n.tenant_id"
			   " WHERE n.kind = 'statement_ready' AND n.channel = 'wechat' AND t.phone IS NULL"
			   " AND n.payload->'vars'->>'period' = '2026-10'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'statement_ready' AND channel = 'webhook'"
			   " AND payload->>'period' = '2026-10'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'statement_ready' AND channel = 'sms'"
			   " AND recipient = '+8613800138000' AND body LIKE '%statement for 2026-10 is ready%'"), 1);
	/* the stored statement equals one asked for now, and its closing is the ledger's */
	ck_assert_int_eq(q("SELECT (data->>'closing_balance_minor')::bigint FROM reports WHERE origin = 'month_close'"
			   " AND tenant_id = 1 AND period = '2026-10'"),
			 q("SELECT sum(amount_minor) FROM ledger_entries e JOIN accounts a ON a.id = e.account_id"
			   " WHERE a.tenant_id = 1 AND e.at < '2026-11-01T00:00:00+08:00'"));
	ck_assert_int_eq(q("SELECT count(*) FROM reports WHERE data ? 'phone'"), 0);
	/* October's automatic allocation is dated October's last instant: it is on October's
	 * statement, and the balance at the end of October includes it */
	ck_assert_int_eq(q("SELECT count(*) FROM reports r, jsonb_array_elements(r.data->'allocations') a"
			   " WHERE r.origin = 'month_close' AND r.period = '2026-10' AND r.tenant_id = 1"
			   " AND a->>'pool' = 'Lighting' AND a->>'period' = '2026-10'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'allocation'"
			   " AND at = '2026-10-31T23:59:59.999999+08:00'"), 2);
	/* and it happens once: later ticks find it closed */
	sleep(3);
	ck_assert_int_eq(q("SELECT count(*) FROM reports WHERE origin = 'month_close'"), 8);
	/* month_close_metrics: the two processes' closes add up to the months closed, each timed,
	 * none failed */
	long long months = q("SELECT count(*) FROM month_closes");
	ck_assert_int_eq(metric(&srv, "wattle_month_closes_total{outcome=\"closed\"}") +
			 metric(&two, "wattle_month_closes_total{outcome=\"closed\"}"), months);
	ck_assert_int_eq(metric(&srv, "wattle_month_close_duration_seconds_count{outcome=\"closed\"}") +
			 metric(&two, "wattle_month_close_duration_seconds_count{outcome=\"closed\"}"), months);
	ck_assert_int_eq(metric(&srv, "wattle_month_closes_total{outcome=\"failed\"}"), 0);
	ck_assert_int_eq(metric(&two, "wattle_month_closes_total{outcome=\"failed\"}"), 0);
	json_t *l = th_ok(&srv, "GET", "/v1/reports?period=2026-10&kind=finance_summary", fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "items")), 1);
	json_decref(l);
	ck_assert_int_eq(q("SELECT count(*) FROM allocation_runs WHERE period = '2026-10' AND state = 'committed'"), 2);
	/* what the close stored is what POST /v1/reports makes now, but for generated_at */
	json_decref(report("{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}"));
	json_decref(report("{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_2\"}"));
	json_decref(report("{\"kind\":\"finance_summary\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}"));
	json_decref(report("{\"kind\":\"energy\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}"));
	ck_assert_int_eq(q("SELECT count(*) FROM reports a JOIN reports b ON b.kind = a.kind AND b.period = a.period"
			   " AND coalesce(b.tenant_id, 0) = coalesce(a.tenant_id, 0) AND b.origin = 'api'"
			   " WHERE a.origin = 'month_close' AND a.period = '2026-10'"
			   " AND a.data - 'generated_at' = b.data - 'generated_at'"), 4);
	ck_assert_int_eq(th_server_stop(&two), 0);
}
END_TEST

/* The "data" of POST /v1/reports's reply as the server sent it, byte for byte, with the
 * value of generated_at (the clock's now) replaced by "-". New: caller frees. */
static char *report_text(const char *body)
{
	struct th_resp r = th_req(&srv, "POST", "/v1/reports", fin, body, NULL);
	ck_assert_int_eq(r.status, 201);
	const char *d = strstr(r.body, "\"data\":");
	ck_assert_ptr_nonnull(d);
	d += 7;
	size_t n = strlen(d);
	ck_assert(n > 0 && d[n - 1] == '}');
	char *out = strndup(d, n - 1); /* without the reply's closing brace */
	th_resp_free(&r);
	char *g = strstr(out, "\"generated_at\":\"");
	ck_assert_ptr_nonnull(g);
	g += 16;
	char *end = strchr(g, '"');
	ck_assert_ptr_nonnull(end);
	*g = '-';
	memmove(g + 1, end, strlen(end) + 1);
	return out;
}

/* Compare with tests/e2e/golden/NAME.json; WATTLE_GOLDEN_WRITE=1 writes it instead (after
 * a change to the documents that is meant). */
static void golden(const char *name, const char *body)
{
	char path[512];
	snprintf(path, sizeof path, "%s/tests/e2e/golden/%s.json", WATTLE_SRC, name);
	char *got = report_text(body);
	if (getenv("WATTLE_GOLDEN_WRITE")) {
		FILE *f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fprintf(f, "%s\n", got);
		fclose(f);
	}
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "no %s", path);
	char *want = NULL;
	size_t cap = 0;
	ssize_t n = getline(&want, &cap, f);
	fclose(f);
	ck_assert(n > 0 && want[n - 1] == '\n');
	want[n - 1] = 0;
	ck_assert_msg(!strcmp(got, want), "%s differs:\n got: %s\nwant: %s", name, got, want);
	free(want);
	free(got);
}

START_TEST(documents_are_the_same_bytes)
{
	golden("statement_ten_1", "{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}");
	golden("statement_ten_2", "{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_2\"}");
	golden("finance_summary", "{\"kind\":\"finance_summary\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}");
	golden("energy", "{\"kind\":\"energy\",\"period\":\"2026-10\",\"site_id\":\"site_1\"}");
	/* a month with no activity: empty arrays, no change_pct */
	golden("statement_empty", "{\"kind\":\"tenant_statement\",\"period\":\"2026-08\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_2\"}");
	golden("energy_empty", "{\"kind\":\"energy\",\"period\":\"2026-02\",\"site_id\":\"site_1\"}");
	golden("finance_empty", "{\"kind\":\"finance_summary\",\"period\":\"2026-08\",\"site_id\":\"site_1\"}");
}
END_TEST

/* Render HTML in headless Chromium (Debian's) to a PNG; the share of pixels that are not
 * background white, and how many distinct colours there are. */
static void render(const char *html_path, const char *png_path, double *ink, int *colours)
{
	char shot[300], dir[100], url[300];
	snprintf(dir, sizeof dir, "/tmp/wattle-chromium-%d", (int)getpid());
	snprintf(shot, sizeof shot, "--screenshot=%s", png_path);
	snprintf(url, sizeof url, "file://%s", html_path);
	char profile[160];
	snprintf(profile, sizeof profile, "--user-data-dir=%s", dir);
	pid_t p = fork();
	if (p == 0) {
		FILE *f = freopen("/dev/null", "w", stderr);
		(void)f;
		execlp("chromium", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		       "--disable-background-networking", profile, "--window-size=1000,1400", shot, url, (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(p, &st, 0);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "chromium failed (%d); is it installed?", st);
	png_image img;
	memset(&img, 0, sizeof img);
	img.version = PNG_IMAGE_VERSION;
	ck_assert_msg(png_image_begin_read_from_file(&img, png_path), "no PNG: %s", img.message);
	img.format = PNG_FORMAT_RGB;
	unsigned char *px = malloc(PNG_IMAGE_SIZE(img));
	ck_assert(png_image_finish_read(&img, NULL, px, 0, NULL));
	size_t n = (size_t)img.width * img.height, dark = 0;
	unsigned seen[64] = {0};
	*colours = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char *c = px + 3 * i;
		if (c[0] < 240 || c[1] < 240 || c[2] < 240)
			dark++;
		unsigned q = (unsigned)(c[0] >> 6) << 4 | (unsigned)(c[1] >> 6) << 2 | (unsigned)(c[2] >> 6);
		if (!seen[q]++)
			(*colours)++;
	}
	*ink = (double)dark / (double)n;
	ck_assert_int_gt(img.width, 500);
	free(px);
	char rm[200];
	snprintf(rm, sizeof rm, "rm -rf %s", dir);
	ck_assert_int_eq(system(rm), 0);
}

START_TEST(html_statement_renders_in_chromium)
{
	json_decref(report("{\"kind\":\"tenant_statement\",\"period\":\"2026-10\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}"));
	char path[96];
	snprintf(path, sizeof path, "%s?format=html", last);
	struct th_resp r = th_req(&srv, "GET", path, fin, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	char html[100], png[100];
	snprintf(html, sizeof html, "/tmp/wattle-statement-%d.html", (int)getpid());
	snprintf(png, sizeof png, "/tmp/wattle-statement-%d.png", (int)getpid());
	FILE *f = fopen(html, "w");
	fputs(r.body, f);
	fclose(f);
	th_resp_free(&r);
	double ink;
	int colours;
	render(html, png, &ink, &colours);
	/* text, tables and a bar chart: a page with ink on it, in more than black and white */
	ck_assert_msg(ink > 0.02, "the page is nearly blank (%.4f of pixels inked)", ink);
	ck_assert_msg(colours >= 4, "only %d colours", colours);
	/* and a blank page is told apart */
	f = fopen(html, "w");
	fputs("<!DOCTYPE html><html><body></body></html>", f);
	fclose(f);
	render(html, png, &ink, &colours);
	ck_assert(ink < 0.001);
	unlink(html);
	unlink(png);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("reports");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 120);
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, statement_adds_up_and_renders);
	tcase_add_test(core, finance_and_energy);
	tcase_add_test(core, month_close_once);
	tcase_add_test(core, html_statement_renders_in_chromium);
	suite_add_tcase(s, core);
	TCase *fixed = tcase_create("golden");
	tcase_set_timeout(fixed, 120);
	tcase_add_checked_fixture(fixed, setup_fixed, teardown);
	tcase_add_test(fixed, documents_are_the_same_bytes);
	suite_add_tcase(s, fixed);
	return s;
}

int main(void) { return th_run(suite()); }
