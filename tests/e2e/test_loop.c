/* test_loop.c: the control loop closes by itself with the real binaries: wattle and
 * wattle-metersim on a clock 1200x fast, a fake SMS peer. Balance runs down under load,
 * one message per warning level, grace, the cut reaches the simulator, consumption stops,
 * a top-up restores and consumption resumes. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long q(const char *db, const char *sql) { return th_sql_int(db, sql); }

static int wait_for(const char *db, const char *sql, long long want, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (q(db, sql) == want)
			return 1;
		usleep(100000);
	}
	return 0;
}

START_TEST(loop_closes_with_metersim)
{
	char clock_start[64], clock_anchor[64], sms_url[128];
	long long now = (long long)time(NULL);
	snprintf(clock_start, sizeof clock_start, "WATTLE_CLOCK_START=%lld", now);
	snprintf(clock_anchor, sizeof clock_anchor, "WATTLE_CLOCK_ANCHOR=%lld", now);
	struct th_peer sms = {0};
	th_peer_start(&sms, 0);
	snprintf(sms_url, sizeof sms_url, "WATTLE_SMS_URL=http://127.0.0.1:%d/sms", sms.port);
	const char *env[] = {"WATTLE_CLOCK_SPEED=1200", clock_start, clock_anchor,
			     "WATTLE_GATEWAY_SECRET=loop-secret", sms_url, NULL};
	char *db = th_fresh_db();
	struct th_server srv;
	th_server_start(&srv, db, env);
	char *fin = th_key(&srv, "finance", NULL), *gw = th_key(&srv, "gateway", NULL);
	char *ops = th_key(&srv, "operator", NULL);
	int sim_port = th_free_port();
	char body[512];
	json_decref(th_ok(&srv, "POST", "/v1/sites", srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	json_decref(th_ok(&srv, "POST", "/v1/credit-policies", fin,
			  "{\"site_id\":\"site_1\",\"rating\":\"C\",\"warn_levels_minor\":[1500,800],"
			  "\"overdraft_minor\":0,\"grace_minutes\":30,\"quiet_hours\":null}", 201));
	json_decref(th_ok(&srv, "POST", "/v1/tenants", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Dumpling House\",\"category\":\"catering\","
			  "\"area_m2\":\"60\",\"credit_rating\":\"C\",\"phone\":\"+8613900139000\"}", 201));
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/topups", fin, "{\"amount_minor\":2000,\"channel\":\"cash\"}", 201));
	json_decref(th_ok(&srv, "POST", "/v1/tariffs", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":1000000,\"effective_from\":\"2020-01-01T00:00:00Z\"}", 201));
	snprintf(body, sizeof body,
		 "{\"serial\":\"SIM-1\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
		 "\"max_power_w\":30000,\"gateway\":\"http://127.0.0.1:%d\"}", sim_port);
	json_decref(th_ok(&srv, "POST", "/v1/meters", ops, body, 201));

	pid_t sim = fork();
	if (sim == 0) {
		char url[64], port[16];
		snprintf(url, sizeof url, "http://127.0.0.1:%d", srv.port);
		snprintf(port, sizeof port, "%d", sim_port);
		for (int i = 0; env[i]; i++)
			putenv((char *)env[i]);
		FILE *f = freopen("/dev/null", "w", stdout);
		(void)f;
		execl(WATTLE_METERSIM, WATTLE_METERSIM, "--url", url, "--key", gw, "--operator-key", ops,
		      "--port", port, (char *)NULL);
		_exit(127);
	}
	/* 20 kWh-ish of catering load drains 20 CNY within simulated hours: cut, acked */
	ck_assert_msg(wait_for(db, "SELECT count(*) FROM accounts WHERE state = 'cut_off' AND supply = 'off'", 1, 60),
		      "no acknowledged cut; state %s",
		      PQgetvalue(th_sql(db, "SELECT state || '/' || supply || ' ' || balance_minor FROM accounts"), 0, 0));
	/* grace twice: when the account opened at 0, and when the balance ran out */
	ck_assert(wait_for(db, "SELECT count(*) FROM notifications WHERE channel = 'sms' AND state = 'sent' AND kind = 'grace_started'", 2, 10));
	ck_assert_int_eq(q(db, "SELECT count(*) FROM notifications WHERE channel = 'sms' AND kind = 'low_balance'"), 2);
	ck_assert_int_eq(th_peer_count(&sms, "below%20CNY%2015.00"), 1);
	ck_assert_int_eq(th_peer_count(&sms, "below%20CNY%208.00"), 1);
	/* consumption stops: readings after the ack carry the same register and relay off */
	ck_assert(wait_for(db, "SELECT (count(*) >= 3)::int FROM readings WHERE relay = 'off'", 1, 20));
	ck_assert_int_eq(q(db, "SELECT count(DISTINCT energy_wh) FROM readings WHERE relay = 'off'"), 1);
	long long off_register = q(db, "SELECT max(energy_wh) FROM readings WHERE relay = 'off'");
	/* a top-up restores; consumption resumes */
	json_decref(th_ok(&srv, "POST", "/v1/tenants/ten_1/topups", fin, "{\"amount_minor\":50000,\"channel\":\"bank\"}", 201));
	ck_assert(wait_for(db, "SELECT count(*) FROM accounts WHERE supply = 'on' AND state <> 'cut_off'", 1, 20));
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT (max(energy_wh) > %lld)::int FROM readings WHERE relay = 'on'", off_register);
	ck_assert(wait_for(db, sql, 1, 20));
	kill(sim, SIGTERM);
	int status;
	waitpid(sim, &status, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "metersim exit %d (3: bad signatures)", WEXITSTATUS(status));
	ck_assert_int_eq(th_server_stop(&srv), 0);
	th_peer_stop(&sms);
	th_assert_ledger_invariant(db);
	th_assert_meter_invariant(db);
	free(fin);
	free(gw);
	free(ops);
	free(db);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 180);
	tcase_add_test(tc, loop_closes_with_metersim);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return th_run(suite()); }
