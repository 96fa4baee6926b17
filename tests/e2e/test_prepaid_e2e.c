/* test_prepaid_e2e.c: the control loop through the real binary, on a clock 60x fast:
 * warnings once per level, grace, the cut queued when grace ends, restore on top-up. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct th_world w;

static void setup(void)
{
	static const char *env[] = {"WATTLE_CLOCK_SPEED=60", NULL}; /* 1 s real = 1 min */
	th_world_start(&w, env, 0);
}

static void teardown(void) { th_world_stop(&w); }

static long long q(const char *sql) { return th_sql_int(w.db, sql); }

static void reading(int minute, int wh)
{
	char body[200];
	snprintf(body, sizeof body, "{\"readings\":[{\"meter\":\"M-1\",\"ts\":\"2026-11-01T10:%02d:00+08:00\",\"energy_wh\":%d}]}",
		 minute, wh);
	json_t *r = th_ok(&w.srv, "POST", "/v1/readings", w.gw, body, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), 1);
	json_decref(r);
}

START_TEST(warn_grace_cut_restore)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/credit-policies", w.fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"B\",\"warn_levels_minor\":[1000,500],"
			  "\"overdraft_minor\":0,\"grace_minutes\":1,\"restore_min_minor\":0,\"quiet_hours\":null}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Noodle Bar\",\"category\":\"catering\","
			  "\"area_m2\":\"80\",\"credit_rating\":\"B\",\"phone\":\"+8613800138000\"}", 201));
	/* a new account at 0 is at its threshold: grace at once */
	json_t *a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "grace");
	json_decref(a);
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin, "{\"amount_minor\":1500,\"channel\":\"cash\"}", 201));
	a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "normal");
	ck_assert(json_is_null(json_object_get(a, "grace_until")));
	json_decref(a);
	json_decref(th_ok(&w.srv, "POST", "/v1/tariffs", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":10000000,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
			  "\"gateway\":\"http://127.0.0.1:9/gw\"}", 201));
	reading(0, 0);
	reading(15, 600);  /* 6.00 CNY: 900 fen left, below 1000 */
	reading(30, 700);  /* 1.00 CNY: 800, no second message */
	reading(45, 1100); /* 4.00 CNY: 400, below 500 */
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'low_balance' AND channel = 'sms'"), 2);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'low_balance' AND channel = 'webhook'"), 2);
	reading(59, 1500); /* 4.00 CNY: 0 -> grace */
	a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(a, "balance_minor")), 0);
	ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "grace");
	ck_assert(json_is_string(json_object_get(a, "grace_until")));
	json_decref(a);
	/* one minute of grace on a 60x clock: the worker queues the cut within ~1 s */
	int cut = 0;
	for (int i = 0; i < 60 && !cut; i++) {
		usleep(100000);
		cut = q("SELECT count(*) FROM commands WHERE action = 'cut_off' AND state = 'pending'") == 1;
	}
	ck_assert_msg(cut, "no cut command after grace");
	a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "cut_off");
	ck_assert_str_eq(json_string_value(json_object_get(a, "supply")), "pending_off");
	json_decref(a);
	json_t *cmds = th_ok(&w.srv, "GET", "/v1/commands?state=pending", w.gw, NULL, 200);
	json_t *c0 = json_array_get(json_object_get(cmds, "items"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(c0, "serial")), "M-1");
	ck_assert_str_eq(json_string_value(json_object_get(c0, "action")), "cut_off");
	json_decref(cmds);
	usleep(300000); /* the worker does not cut twice */
	ck_assert_int_eq(q("SELECT count(*) FROM commands"), 1);
	/* a top-up restores at once; the pending cut is superseded */
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants/ten_1/topups", w.fin, "{\"amount_minor\":2000,\"channel\":\"card\"}", 201));
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE action = 'cut_off' AND state = 'superseded'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE action = 'restore' AND state = 'pending'"), 1);
	a = th_ok(&w.srv, "GET", "/v1/tenants/ten_1/account", w.fin, NULL, 200);
	ck_assert_str_eq(json_string_value(json_object_get(a, "supply")), "pending_on");
	ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "normal");
	json_decref(a);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'grace_started'"), 2); /* at creation, and now */
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'cut_off'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'restored'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'topup_received'"), 2);
	json_t *n = th_ok(&w.srv, "GET", "/v1/notifications?state=pending&limit=1000", w.ops, NULL, 200);
	int seen = 0;
	size_t i;
	json_t *x;
	json_array_foreach(json_object_get(n, "items"), i, x)
		if (!strcmp(json_string_value(json_object_get(x, "kind")), "low_balance") &&
		    !strcmp(json_string_value(json_object_get(x, "channel")), "sms"))
			seen += strstr(json_string_value(json_object_get(x, "body")), "Noodle Bar") != NULL;
	ck_assert_int_eq(seen, 2);
	json_decref(n);
}
END_TEST

START_TEST(protected_meter_is_never_cut)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Cold Store\",\"category\":\"grocery\","
			  "\"area_m2\":\"30\",\"credit_rating\":\"A\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"FRIDGE\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"protected\":true}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"LIGHTS\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}", 201));
	/* no policy yet: no automatic control, whatever the balance */
	usleep(300000);
	ck_assert_int_eq(q("SELECT count(*) FROM commands"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE state = 'normal'"), 1);
	/* the policy arrives: the account (0 <= 0) enters a grace of 0 minutes */
	json_decref(th_ok(&w.srv, "POST", "/v1/credit-policies", w.fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"A\",\"warn_levels_minor\":[],"
			  "\"overdraft_minor\":0,\"grace_minutes\":0}", 201));
	int cut = 0;
	for (int i = 0; i < 40 && !cut; i++) {
		usleep(100000);
		cut = q("SELECT count(*) FROM commands") > 0;
	}
	ck_assert(cut);
	ck_assert_int_eq(q("SELECT count(*) FROM commands c JOIN meters m ON m.id = c.meter_id WHERE m.serial = 'FRIDGE'"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM commands c JOIN meters m ON m.id = c.meter_id WHERE m.serial = 'LIGHTS' AND c.action = 'cut_off'"), 1);
}
END_TEST

START_TEST(no_cut_on_a_holiday)
{
	json_decref(th_ok(&w.srv, "POST", "/v1/sites", w.srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	/* today and tomorrow (site time) are holidays: a grace of 0 minutes does not cut */
	PGresult *r = th_sql(w.db, "SELECT to_char((now() AT TIME ZONE 'Asia/Shanghai')::date, 'YYYY-MM-DD'),"
				 " to_char((now() AT TIME ZONE 'Asia/Shanghai')::date + 1, 'YYYY-MM-DD')");
	char body[200];
	for (int d = 0; d < 2; d++) {
		snprintf(body, sizeof body, "{\"day\":\"%s\",\"name\":\"Festival\"}", PQgetvalue(r, 0, d));
		json_decref(th_ok(&w.srv, "POST", "/v1/sites/site_1/holidays", w.fin, body, 201));
	}
	PQclear(r);
	json_t *h = th_ok(&w.srv, "GET", "/v1/sites/site_1/holidays", w.fin, NULL, 200);
	ck_assert_int_eq((int)json_array_size(json_object_get(h, "items")), 2);
	json_decref(h);
	struct th_resp bad = th_req(&w.srv, "POST", "/v1/sites/site_1/holidays", w.fin, "{\"day\":\"2026-02-30\",\"name\":\"x\"}", NULL);
	ck_assert_int_eq(bad.status, 400);
	th_resp_free(&bad);
	json_decref(th_ok(&w.srv, "POST", "/v1/tenants", w.fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Tea\",\"category\":\"catering\","
			  "\"area_m2\":\"20\",\"credit_rating\":\"A\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops,
			  "{\"serial\":\"T-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\"}", 201));
	json_decref(th_ok(&w.srv, "POST", "/v1/credit-policies", w.fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"A\",\"warn_levels_minor\":[],"
			  "\"overdraft_minor\":0,\"grace_minutes\":0}", 201));
	usleep(600000); /* 36 simulated minutes of ticks */
	ck_assert_int_eq(q("SELECT count(*) FROM commands"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM accounts WHERE state = 'grace'"), 1);
	/* the due time moved past the holidays */
	ck_assert_int_eq(q("SELECT (grace_until AT TIME ZONE 'Asia/Shanghai' >= (now() AT TIME ZONE 'Asia/Shanghai')::date + 2)::int FROM accounts"), 1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("prepaid_e2e");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, warn_grace_cut_restore);
	tcase_add_test(core, protected_meter_is_never_cut);
	tcase_add_test(core, no_cut_on_a_holiday);
	suite_add_tcase(s, core);
	return s;
}

int main(void) { return th_run(suite()); }
