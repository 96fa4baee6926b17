/* test_pools.c: shared-area costs through the real binary: preview, commit once, reverse,
 * commit again; every fen of the pool on exactly one tenant. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct th_world w;

static void setup(void)
{
	th_world_start(&w, NULL, TH_SITE);
	static const char *areas[] = {"86.50", "40.00", "120.25"};
	for (int i = 0; i < 3; i++) {
		char body[300];
		snprintf(body, sizeof body, "{\"site_id\":\"site_1\",\"name\":\"Shop %d\",\"category\":\"retail\","
			 "\"area_m2\":\"%s\",\"credit_rating\":\"A\"}", i + 1, areas[i]);
		json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin, body, 201));
	}
	json_decref(th_ok(&w.srv, "POST", "/v1/tariffs", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":1000000,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201));
	/* corridor lighting: 1,000 kWh in October = 1,000.00 CNY as billed */
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"LIGHT\",\"site_id\":\"site_1\",\"purpose\":\"lighting\",\"tariff_id\":\"trf_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"LIGHT\",\"ts\":\"2026-10-01T00:00:00+08:00\",\"energy_wh\":0},"
			  "{\"meter\":\"LIGHT\",\"ts\":\"2026-10-31T00:00:00+08:00\",\"energy_wh\":1000000}]}", 200));
}

static void teardown(void) { th_world_stop(&w); }

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static long long line(json_t *run, int i)
{
	return json_integer_value(json_object_get(json_array_get(json_object_get(run, "lines"), (size_t)i), "amount_minor"));
}

START_TEST(area_preview_commit_reverse)
{
	json_t *p = th_ok(&w.srv, "POST", "/v1/cost-pools", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Corridor lighting\",\"method\":\"area\","
			  "\"meter_ids\":[\"mtr_1\"],\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_2\"},{\"tenant_id\":\"ten_3\"}]}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(p, "id")), "pool_1");
	json_decref(p);
	json_t *run = th_ok(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\",\"commit\":false}", 200);
	ck_assert_int_eq(json_integer_value(json_object_get(run, "total_wh")), 1000000);
	ck_assert_int_eq(json_integer_value(json_object_get(run, "total_minor")), 100000);
	/* the split worked by hand in test_alloc.c: 35056, 16211, 48733 */
	ck_assert_int_eq(line(run, 0), 35056);
	ck_assert_int_eq(line(run, 1), 16211);
	ck_assert_int_eq(line(run, 2), 48733);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(run, "lines"), 0), "basis")), "86.50");
	json_decref(run);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'allocation'"), 0); /* a preview posts nothing */
	run = th_ok(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\",\"commit\":true}", 201);
	ck_assert_str_eq(json_string_value(json_object_get(run, "id")), "run_1");
	json_decref(run);
	ck_assert_int_eq(q("SELECT -sum(amount_minor) FROM ledger_entries WHERE kind = 'allocation'"), 100000);
	ck_assert_int_eq(q("SELECT balance_minor FROM accounts WHERE tenant_id = 1"), -35056);
	struct th_resp again = th_req(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\",\"commit\":true}", NULL);
	ck_assert_int_eq(again.status, 409);
	th_resp_free(&again);
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'allocation'"), 3);
	json_t *g = th_ok(&w.srv, "GET", "/v1/allocation-runs/run_1", w.ops, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(g, "state")), "committed");
	json_decref(g);
	g = th_ok(&w.srv, "POST", "/v1/allocation-runs/run_1/reverse", w.fin, "{\"reason\":\"wrong meter in the pool\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(g, "state")), "reversed");
	json_decref(g);
	ck_assert_int_eq(q("SELECT sum(amount_minor) FROM ledger_entries WHERE kind IN ('allocation', 'reversal')"), 0);
	struct th_resp twice = th_req(&w.srv, "POST", "/v1/allocation-runs/run_1/reverse", w.fin, "{\"reason\":\"again\"}", NULL);
	ck_assert_int_eq(twice.status, 409);
	th_resp_free(&twice);
	json_decref(th_ok(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\",\"commit\":true}", 201));
	ck_assert_int_eq(q("SELECT count(*) FROM allocation_runs WHERE state = 'committed'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action IN ('allocation.commit', 'allocation.reverse')"), 3);
	/* the tenant's view: its own amount, everyone's basis, nobody else's amount */
	char *own = th_key(&w.srv, "tenant", "ten_2");
	json_t *v = th_ok(&w.srv, "GET", "/v1/tenants/ten_2/allocations", own, NULL, 200);
	json_t *r0 = json_array_get(json_object_get(v, "items"), 0);
	ck_assert_int_eq((int)json_array_size(json_object_get(v, "items")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(r0, "your_amount_minor")), 16211);
	json_t *lines = json_object_get(r0, "lines");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(lines, 0), "basis")), "86.50");
	ck_assert(!json_object_get(json_array_get(lines, 0), "amount_minor"));
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(lines, 1), "amount_minor")), 16211);
	json_decref(v);
	struct th_resp other = th_req(&w.srv, "GET", "/v1/tenants/ten_1/allocations", own, NULL, NULL);
	ck_assert_int_eq(other.status, 403);
	th_resp_free(&other);
	free(own);
	v = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/allocations", w.fin, NULL, 200); /* finance sees all */
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(v, "items"), 0), "lines"), 2), "amount_minor")), 48733);
	json_decref(v);
}
END_TEST

START_TEST(quota_and_consumption_rules)
{
	struct th_resp r = th_req(&w.srv, "POST", "/v1/cost-pools", w.fin,
				  "{\"site_id\":\"site_1\",\"name\":\"Lifts\",\"method\":\"quota\",\"meter_ids\":[\"mtr_1\"],"
				  "\"members\":[{\"tenant_id\":\"ten_1\",\"quota_ppm\":600000},{\"tenant_id\":\"ten_2\",\"quota_ppm\":300000}]}", NULL);
	ck_assert_int_eq(r.status, 400); /* 900,000 ppm */
	th_resp_free(&r);
	json_decref(th_ok(&w.srv, "POST", "/v1/cost-pools", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Lifts\",\"method\":\"quota\",\"meter_ids\":[\"mtr_1\"],"
			  "\"members\":[{\"tenant_id\":\"ten_1\",\"quota_ppm\":333334},{\"tenant_id\":\"ten_2\",\"quota_ppm\":333333},"
			  "{\"tenant_id\":\"ten_3\",\"quota_ppm\":333333}]}", 201));
	json_t *run = th_ok(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\"}", 200);
	ck_assert_int_eq(line(run, 0) + line(run, 1) + line(run, 2), 100000);
	ck_assert_int_eq(line(run, 0), 33334);
	json_decref(run);
	/* nobody has own meters: a consumption pool has nothing to share by */
	json_decref(th_ok(&w.srv, "POST", "/v1/cost-pools", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"AC\",\"method\":\"consumption\",\"meter_ids\":[\"mtr_1\"],"
			  "\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_2\"}]}", 201));
	r = th_req(&w.srv, "POST", "/v1/cost-pools/pool_2/runs", w.fin, "{\"period\":\"2026-10\"}", NULL);
	ck_assert_int_eq(r.status, 422);
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/cost-pools", w.fin, /* a tenant meter cannot be a pool meter */
		   "{\"site_id\":\"site_1\",\"name\":\"X\",\"method\":\"area\",\"meter_ids\":[\"mtr_9\"],\"members\":[{\"tenant_id\":\"ten_1\"}]}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-13\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	json_t *l = th_ok(&w.srv, "GET", "/v1/cost-pools?site_id=site_1", w.fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(l, "items")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(l, "items"), 1), "method")), "consumption");
	json_decref(l);
}
END_TEST

START_TEST(virtual_meter_shares_losses)
{
	/* the main meter saw 1,500 kWh, a tenant's meter 1,200 kWh: 300 kWh of losses */
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"MAIN\",\"site_id\":\"site_1\",\"purpose\":\"other\",\"tariff_id\":\"trf_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"SHOP1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"MAIN\",\"ts\":\"2026-10-01T00:00:00+08:00\",\"energy_wh\":0},"
			  "{\"meter\":\"MAIN\",\"ts\":\"2026-10-31T00:00:00+08:00\",\"energy_wh\":1500000},"
			  "{\"meter\":\"SHOP1\",\"ts\":\"2026-10-01T00:00:00+08:00\",\"energy_wh\":0},"
			  "{\"meter\":\"SHOP1\",\"ts\":\"2026-10-31T00:00:00+08:00\",\"energy_wh\":1200000}]}", 200));
	json_decref(th_ok(&w.srv, "POST", "/v1/cost-pools", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Line losses\",\"method\":\"area\","
			  "\"main_meter_id\":\"mtr_2\",\"minus_meter_ids\":[\"mtr_3\"],"
			  "\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_2\"}]}", 201));
	json_t *run = th_ok(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\"}", 200);
	ck_assert_int_eq(json_integer_value(json_object_get(run, "total_wh")), 300000);
	ck_assert_int_eq(json_integer_value(json_object_get(run, "total_minor")), 30000);
	ck_assert_int_eq(line(run, 0) + line(run, 1), 30000);
	json_decref(run);
	struct th_resp r = th_req(&w.srv, "POST", "/v1/cost-pools", w.fin, /* subtracting needs a main meter */
				  "{\"site_id\":\"site_1\",\"name\":\"X\",\"method\":\"area\",\"meter_ids\":[\"mtr_1\"],"
				  "\"minus_meter_ids\":[\"mtr_3\"],\"members\":[{\"tenant_id\":\"ten_1\"}]}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
}
END_TEST

START_TEST(occupancy_proration)
{
	/* ten_2 moved out on 10 October, ten_3 moved in on the 17th: 31, 10 and 15 days */
	json_decref(th_ok(&w.srv, "PATCH", "/v1/tenants/ten_2", w.fin, "{\"move_out\":\"2026-10-10\"}", 200));
	json_t *t = th_ok(&w.srv, "PATCH", "/v1/tenants/ten_3", w.fin, "{\"move_in\":\"2026-10-17\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(t, "move_in")), "2026-10-17");
	ck_assert(json_is_null(json_object_get(t, "move_out")));
	json_decref(t);
	struct th_resp r = th_req(&w.srv, "PATCH", "/v1/tenants/ten_3", w.fin, "{\"move_out\":\"2026-02-30\"}", NULL);
	ck_assert_int_eq(r.status, 400); /* no such day */
	ck_assert(strstr(r.body, "move_out"));
	th_resp_free(&r);
	r = th_req(&w.srv, "PATCH", "/v1/tenants/ten_3", w.fin, "{\"move_in\":\"2026-10-20\",\"move_out\":\"2026-10-19\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&w.srv, "PATCH", "/v1/tenants/ten_3", w.fin, "{\"move_out\":\"2026-10-01\"}", NULL);
	ck_assert_int_eq(r.status, 422); /* before the stored move_in: the database's check */
	th_resp_free(&r);
	json_decref(th_ok(&w.srv, "POST", "/v1/cost-pools", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Lighting\",\"method\":\"area\",\"meter_ids\":[\"mtr_1\"],"
			  "\"prorate\":true,\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_2\"},{\"tenant_id\":\"ten_3\"}]}", 201));
	/* weights m2 x days: 86.50 x 31, 40.00 x 10, 120.25 x 15 of 1000.00 CNY; by hand:
	 * 54889.72, 8187.91, 36922.37 -> floors 54889, 8187, 36922 (99998); the two fen left go
	 * to the largest remainders, .91 and .72 -> 54890, 8188, 36922 */
	json_t *run = th_ok(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-10\",\"commit\":true}", 201);
	ck_assert_int_eq(line(run, 0), 54890);
	ck_assert_int_eq(line(run, 1), 8188);
	ck_assert_int_eq(line(run, 2), 36922);
	json_t *l2 = json_array_get(json_object_get(run, "lines"), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(l2, "days")), 10);
	ck_assert_int_eq(json_integer_value(json_object_get(l2, "days_in_period")), 31);
	ck_assert_str_eq(json_string_value(json_object_get(l2, "basis")), "40.00");
	json_decref(run);
	ck_assert_int_eq(q("SELECT -sum(amount_minor) FROM ledger_entries WHERE kind = 'allocation'"), 100000);
	/* September had no energy: a preview of nothing, not an error */
	r = th_req(&w.srv, "POST", "/v1/cost-pools/pool_1/runs", w.fin, "{\"period\":\"2026-09\",\"commit\":false}", NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body, "\"total_minor\": 0") || strstr(r.body, "\"total_minor\":0"));
	th_resp_free(&r);
	/* the pool's runs */
	json_t *runs = th_ok(&w.srv, "GET", "/v1/cost-pools/pool_1/runs", w.fin, NULL, 200);
	ck_assert_int_eq(json_array_size(json_object_get(runs, "items")), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(runs, "items"), 0), "period")), "2026-10");
	json_decref(runs);
}
END_TEST

START_TEST(reconciliation_shows_losses)
{
	json_t *rc = th_ok(&w.srv, "GET", "/v1/sites/site_1/reconciliation?period=2026-10", w.ops, NULL, 200);
	ck_assert(json_is_null(json_object_get(rc, "main_wh")));
	ck_assert(json_is_string(json_object_get(rc, "note")));
	json_decref(rc);
	/* the supply: 1,100 kWh in; 1,000 kWh metered below it (the lighting) */
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"MAIN\",\"site_id\":\"site_1\",\"purpose\":\"main\",\"tariff_id\":\"trf_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw,
			  "{\"readings\":[{\"meter\":\"MAIN\",\"ts\":\"2026-10-01T00:00:00+08:00\",\"energy_wh\":0},"
			  "{\"meter\":\"MAIN\",\"ts\":\"2026-10-31T00:00:00+08:00\",\"energy_wh\":1100000}]}", 200));
	rc = th_ok(&w.srv, "GET", "/v1/sites/site_1/reconciliation?period=2026-10", w.ops, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(rc, "main_wh")), 1100000);
	ck_assert_int_eq(json_integer_value(json_object_get(rc, "public_wh")), 1000000);
	ck_assert_int_eq(json_integer_value(json_object_get(rc, "tenant_wh")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(rc, "losses_wh")), 100000);
	ck_assert_str_eq(json_string_value(json_object_get(rc, "losses_pct")), "9.09");
	json_decref(rc);
	struct th_resp r = th_req(&w.srv, "GET", "/v1/sites/site_1/reconciliation", w.ops, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&w.srv, "GET", "/v1/sites/site_9/reconciliation?period=2026-10", w.ops, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	/* a main meter is nobody's and not a pool's: no ledger entry for its energy */
	ck_assert_int_eq(q("SELECT count(*) FROM ledger_entries WHERE kind = 'energy_charge'"), 0);
}
END_TEST

/* pools_member_list_overflow: the member ids were snprintf'ed into an 8 KiB buffer with no
 * bound check; 500 members with 19-digit ids (20 bytes each) wrote past it. Now the list
 * is built to size and the request is refused like any other unknown tenant, nothing
 * created, the server up. */
START_TEST(pools_member_list_overflow)
{
	size_t cap = 64 + 500 * 40;
	char *body = malloc(cap);
	ck_assert_ptr_nonnull(body);
	size_t at = (size_t)snprintf(body, cap, "{\"site_id\":\"site_1\",\"name\":\"Big\",\"method\":\"area\","
				    "\"meter_ids\":[\"mtr_1\"],\"members\":[");
	for (int i = 0; i < 500; i++)
		at += (size_t)snprintf(body + at, cap - at, "%s{\"tenant_id\":\"ten_%lld\"}", i ? "," : "",
				       999999999999999000LL + i);
	snprintf(body + at, cap - at, "]}");
	struct th_resp r = th_req(&w.srv, "POST", "/v1/cost-pools", w.fin, body, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert_str_eq(th_err(&r), "invalid_field");
	th_resp_free(&r);
	free(body);
	ck_assert_int_eq(q("SELECT count(*) FROM cost_pools"), 0);
	json_decref(th_ok(&w.srv, "GET", "/healthz", NULL, NULL, 200));
}
END_TEST

/* pools_list_n_plus_1: listing pools ran one query per pool on top of the page's. Now a
 * page is one statement, whatever its length (the request log counts each request's). */
START_TEST(pools_list_n_plus_1)
{
	for (int i = 0; i < 5; i++) {
		char body[300];
		snprintf(body, sizeof body, "{\"site_id\":\"site_1\",\"name\":\"Pool %d\",\"method\":\"area\","
			 "\"meter_ids\":[\"mtr_1\"],\"members\":[{\"tenant_id\":\"ten_1\"},{\"tenant_id\":\"ten_%d\"}]}",
			 i, 2 + i % 2);
		json_decref(th_ok(&w.srv, "POST", "/v1/cost-pools", w.fin, body, 201));
	}
	const char *h[] = {"X-Request-Id: list-pools-1", NULL};
	struct th_resp r = th_req(&w.srv, "GET", "/v1/cost-pools?limit=4", w.fin, NULL, h);
	ck_assert_int_eq(r.status, 200);
	json_t *items = json_object_get(r.json, "items");
	ck_assert_int_eq((int)json_array_size(items), 4);
	ck_assert_str_eq(json_string_value(json_object_get(r.json, "next_after")), "pool_4");
	json_t *p3 = json_array_get(items, 2);
	ck_assert_str_eq(json_string_value(json_object_get(p3, "name")), "Pool 2");
	ck_assert_int_eq((int)json_array_size(json_object_get(p3, "members")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(p3, "members"), 1), "tenant_id")),
			 "ten_2");
	th_resp_free(&r);
	/* the request's log line says how many statements it ran */
	FILE *f = fopen(w.srv.log_path, "r");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	int seen = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "\"request_id\":\"list-pools-1\"")) {
			seen = 1;
			ck_assert_msg(strstr(line, "\"db_statements\":1}") != NULL, "%s", line);
		}
	fclose(f);
	ck_assert_int_eq(seen, 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pools");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, area_preview_commit_reverse);
	tcase_add_test(core, quota_and_consumption_rules);
	tcase_add_test(core, virtual_meter_shares_losses);
	tcase_add_test(core, occupancy_proration);
	tcase_add_test(core, reconciliation_shows_losses);
	tcase_add_test(core, pools_member_list_overflow);
	tcase_add_test(core, pools_list_n_plus_1);
	suite_add_tcase(s, core);
	return s;
}

int main(void) { return th_run(suite()); }
