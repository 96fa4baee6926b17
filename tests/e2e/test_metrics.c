/* test_metrics.c: the real server's /metrics after real traffic, as Prometheus tools read it
 * (promtool check metrics), and the dashboard and alerts naming only metrics it serves. */
#include "promcheck.h"

#include <time.h>
#include <unistd.h>

static struct th_world w;
static int gw_port; /* the meter's gateway: nobody listens, so every push fails */

static void setup(void)
{
	th_world_start(&w, NULL, TH_SITE | TH_TENANT | TH_TARIFF);
	gw_port = th_free_port();
	char body[300];
	snprintf(body, sizeof body,
		 "{\"serial\":\"M-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
		 "\"gateway\":\"http://127.0.0.1:%d\"}", gw_port);
	json_decref(th_ok(&w.srv, "POST", "/v1/meters", w.ops, body, 201));
}

static void teardown(void) { th_world_stop(&w); }

static char *scrape(void)
{
	struct th_resp m = th_req(&w.srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_int_eq(m.status, 200);
	char *b = m.body;
	m.body = NULL;
	th_resp_free(&m);
	return b;
}

/* A reading of M-1 taken ago_s seconds before now. */
static void reading(char *out, size_t n, int ago_s, int wh)
{
	time_t t = time(NULL) - ago_s;
	struct tm tm;
	gmtime_r(&t, &tm);
	char ts[32];
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, n, "{\"meter\":\"M-1\",\"ts\":\"%s\",\"energy_wh\":%d}", ts, wh);
}

static void not_served(const char *name, void *arg)
{
	const char *body = arg;
	if (!strncmp(name, "wattle_gateway_", 15) && strcmp(name, "wattle_gateway_keys_unbound"))
		return; /* the gateway's: its suite checks them against its /metrics */
	ck_assert_msg(pc_serves(body, name), "%s is not served by wattle's /metrics", name);
}

START_TEST(metrics_after_traffic_promtool_clean)
{
	/* a baseline 30 minutes old, then readings 20 and 10 minutes old, billed */
	char r0[160], r1[160], r2[160], body[600];
	reading(r0, sizeof r0, 1800, 1000);
	reading(r1, sizeof r1, 1200, 1100);
	reading(r2, sizeof r2, 600, 1200);
	snprintf(body, sizeof body, "{\"readings\":[%s]}", r0);
	json_decref(th_ok(&w.srv, "POST", "/v1/readings", w.gw, body, 200));
	snprintf(body, sizeof body, "{\"readings\":[%s,%s]}", r1, r2);
	json_t *r = th_ok(&w.srv, "POST", "/v1/readings", w.gw, body, 200);
	ck_assert_int_eq((int)json_integer_value(json_object_get(r, "accepted")), 2);
	json_decref(r);
	/* a command its gateway never takes */
	json_decref(th_ok(&w.srv, "POST", "/v1/meters/M-1/commands", w.ops, "{\"action\":\"cut_off\",\"reason\":\"test\"}", 202));
	char *m = NULL;
	for (int i = 0; i < 100; i++) {
		free(m);
		m = scrape();
		if (pc_value(m, "wattle_dispatch_failures_total{peer=\"gateway\",outcome=\"retry\"}") >= 1)
			break;
		usleep(100000);
	}
	ck_assert_msg(pc_value(m, "wattle_dispatch_failures_total{peer=\"gateway\",outcome=\"retry\"}") >= 1, "%s", m);
	ck_assert_double_eq(pc_value(m, "wattle_dispatch_failures_total{peer=\"gateway\",outcome=\"dead\"}"), 0);
	ck_assert_double_eq(pc_value(m, "wattle_dispatch_failures_total{peer=\"twilio\",outcome=\"retry\"}"), 0);
	/* billing lag: two billed readings (the baseline is not billed), 20 and 10 minutes old */
	ck_assert_double_eq(pc_value(m, "wattle_billing_lag_seconds_count{from=\"reading\"}"), 2);
	ck_assert_double_eq(pc_value(m, "wattle_billing_lag_seconds_bucket{from=\"reading\",le=\"300\"}"), 0);
	ck_assert_double_eq(pc_value(m, "wattle_billing_lag_seconds_bucket{from=\"reading\",le=\"900\"}"), 1);
	ck_assert_double_eq(pc_value(m, "wattle_billing_lag_seconds_bucket{from=\"reading\",le=\"3600\"}"), 2);
	double sum = pc_value(m, "wattle_billing_lag_seconds_sum{from=\"reading\"}");
	ck_assert_msg(sum >= 1800 && sum < 1900, "lag sum %f", sum);
	ck_assert_double_eq(pc_value(m, "wattle_billing_lag_seconds_count{from=\"arrival\"}"), 2);
	ck_assert_double_eq(pc_value(m, "wattle_billing_lag_seconds_bucket{from=\"arrival\",le=\"10\"}"), 2);
	/* the database: connections open, some waited for, none failed */
	ck_assert(pc_value(m, "wattle_db_connections_open") >= 1);
	ck_assert(pc_value(m, "wattle_db_connections_in_tx") >= 0);
	ck_assert(pc_value(m, "wattle_db_connect_wait_seconds_count{outcome=\"ok\"}") >= 1);
	ck_assert_double_eq(pc_value(m, "wattle_db_connect_wait_seconds_count{outcome=\"failed\"}"), 0);
	/* queues drained; no month closed yet */
	ck_assert_double_eq(pc_value(m, "wattle_queue_depth{queue=\"ingest\"}"), 0);
	ck_assert_double_eq(pc_value(m, "wattle_queue_depth{queue=\"provider_calls\"}"), 0);
	ck_assert_double_eq(pc_value(m, "wattle_ingest_queue_readings"), 0);
	ck_assert_double_eq(pc_value(m, "wattle_month_closes_total{outcome=\"failed\"}"), 0);
	ck_assert_double_eq(pc_value(m, "wattle_month_close_duration_seconds_count{outcome=\"closed\"}"), 0);
	ck_assert_double_eq(pc_value(m, "wattle_outbox_commands{state=\"pending\"}"), 1);
	ck_assert_double_eq(pc_value(m, "wattle_gauges_up"), 1);
	pc_assert_promtool_clean(m);
	/* every wattle metric the dashboard and the alerts name is served */
	int panels;
	char *exprs = pc_dashboard_exprs(&panels);
	ck_assert_int_ge(panels, 20);
	pc_names(exprs, not_served, m);
	char *alerts = pc_source("deploy/prometheus/alerts.yml");
	pc_names(alerts, not_served, m);
	/* and the dashboard graphs each family the control room asked for */
	static const char *const graphed[] = {
		"wattle_billing_lag_seconds_bucket", "wattle_dispatch_failures_total", "wattle_db_connections_open",
		"wattle_db_connections_in_tx", "wattle_db_connect_wait_seconds_bucket", "wattle_month_closes_total",
		"wattle_month_close_duration_seconds_bucket", "wattle_queue_depth", "wattle_ingest_queue_readings",
		"wattle_outbox_commands_oldest_seconds", "wattle_outbox_notifications_oldest_seconds", "wattle_accounts",
		"wattle_alarms_open", "wattle_build_info", "wattle_gauges_up", "wattle_gateway_queue_depth",
		"wattle_gateway_queue_fs_avail_bytes", "wattle_http_requests_total"};
	for (size_t i = 0; i < sizeof graphed / sizeof *graphed; i++) {
		char want[120];
		snprintf(want, sizeof want, "%s", graphed[i]);
		const char *at = strstr(exprs, want);
		ck_assert_msg(at && !strchr("abcdefghijklmnopqrstuvwxyz_", at[strlen(want)]), "the dashboard graphs no %s", want);
	}
	free(alerts);
	free(exprs);
	free(m);
}
END_TEST

/* The checks themselves: promtool refuses a counter not named _total (a family without HELP:
 * pc_assert_promtool_clean); a name nobody serves is found. */
START_TEST(checks_bite)
{
	int st;
	char *out = pc_promtool("# HELP wattle_x Things.\n# TYPE wattle_x counter\nwattle_x 1\n", &st);
	ck_assert_msg(st != 0 && strstr(out, "_total"), "promtool took a counter without _total: %s", out);
	free(out);
	char *m = scrape();
	ck_assert(pc_serves(m, "wattle_billing_lag_seconds_bucket"));
	ck_assert(pc_serves(m, "wattle_http_requests_total"));
	ck_assert(!pc_serves(m, "wattle_billing_lag_seconds_total"));
	ck_assert(!pc_serves(m, "wattle_http_requests"));
	free(m);
}
END_TEST

/* The database refuses wattle's connections: /metrics still answers, says wattle_gauges_up 0
 * (what WattleDatabaseDown watches), counts the failed connects and their wait, and is still
 * clean for promtool without the database's gauges. */
START_TEST(database_gone_gauges_down_still_clean)
{
	PGresult *r = th_sql(w.db, "SELECT current_database()");
	char name[128], admin[700];
	snprintf(name, sizeof name, "%s", PQgetvalue(r, 0, 0));
	PQclear(r);
	const char *pg = getenv("WATTLE_TEST_PG");
	snprintf(admin, sizeof admin, "%s dbname=postgres", pg ? pg : "");
	char sql[400];
	snprintf(sql, sizeof sql, "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS false", name);
	PQclear(th_sql(admin, sql));
	snprintf(sql, sizeof sql, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s'", name);
	PQclear(th_sql(admin, sql));
	char *m = NULL;
	/* a scrape may find its thread's connection dead and drop it; the next connects and
	 * fails (a loaded machine may take a few scrapes to get there) */
	for (int i = 0; i < 50; i++) {
		free(m);
		m = scrape();
		if (i >= 2 && pc_value(m, "wattle_db_connect_wait_seconds_count{outcome=\"failed\"}") >= 1 &&
		    pc_value(m, "wattle_gauges_up") == 0)
			break;
		usleep(100000);
	}
	ck_assert_msg(pc_value(m, "wattle_gauges_up") == 0, "%s", m);
	ck_assert(pc_value(m, "wattle_db_connect_wait_seconds_count{outcome=\"failed\"}") >= 1);
	ck_assert(pc_value(m, "wattle_db_connect_failures_total") >= 1);
	ck_assert_double_eq(pc_value(m, "wattle_accounts{state=\"normal\"}"), -1); /* not read */
	pc_assert_promtool_clean(m);
	free(m);
	snprintf(sql, sizeof sql, "ALTER DATABASE \"%s\" ALLOW_CONNECTIONS true", name);
	PQclear(th_sql(admin, sql));
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *core = tcase_create("core");
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_set_timeout(core, 120);
	tcase_add_test(core, metrics_after_traffic_promtool_clean);
	tcase_add_test(core, checks_bite);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_set_timeout(lim, 120);
	tcase_add_test(lim, database_gone_gauges_down_still_clean);
	suite_add_tcase(s, lim);
	return s;
}

int main(void) { return th_run(suite()); }
