/* test_alarms.c: every alarm kind from real readings through the real binary: opened once,
 * pushed to the control room (signed webhook) and the duty phone (SMS, critical only),
 * acknowledged, and closed once clear. The clock runs 60x: one real second is a minute. */
#include "harness.h"
#include "fake_sms.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPEED 60
#define START INT64_C(1795000000) /* wattle's clock starts here ... */

static char *db;
static struct th_server srv;
static char *ops, *gw, *fin;
static struct th_peer sms, hook, gateway;
static long long anchor; /* ... at this real second */
static long long energy[3];

/* wattle's time now, in unix microseconds */
static long long wnow_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	long long real_us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	return START * 1000000 + (real_us - anchor * 1000000) * SPEED;
}

static long long q(const char *sql) { return th_sql_int(db, sql); }

/* One reading for meter M-n now, with extra fields (",\"power_w\":..." or ""). */
static void reading(int n, long long dwh, const char *extra)
{
	long long us = wnow_us();
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	gmtime_r(&s, &tm);
	char ts[40], body[600];
	strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	if (dwh > 0) /* a negative step is a register gone backwards, once */
		energy[n] += dwh;
	snprintf(body, sizeof body, "{\"readings\":[{\"meter\":\"M-%d\",\"ts\":\"%s.%06lldZ\",\"energy_wh\":%lld%s}]}", n,
		 ts, us % 1000000, energy[n] + (dwh < 0 ? dwh : 0), extra);
	json_t *r = th_ok(&srv, "POST", "/v1/readings", gw, body, 200);
	ck_assert_msg(json_integer_value(json_object_get(r, "accepted")) == 1 || dwh < 0, "%s", body);
	json_decref(r);
	usleep(120000); /* 7 s of wattle time between readings */
}

/* The world of every test, with more environment (NULL-terminated, may be NULL). */
static void start(const char *const *more)
{
	memset(&sms, 0, sizeof sms);
	memset(&hook, 0, sizeof hook);
	memset(&gateway, 0, sizeof gateway);
	th_peer_start(&sms, 0);
	th_peer_start(&hook, 0);
	th_peer_start(&gateway, 0);
	anchor = (long long)time(NULL);
	static char e_start[64], e_anchor[64], e_sms[160], e_hook[160];
	snprintf(e_start, sizeof e_start, "WATTLE_CLOCK_START=%lld", (long long)START);
	snprintf(e_anchor, sizeof e_anchor, "WATTLE_CLOCK_ANCHOR=%lld", anchor);
	snprintf(e_sms, sizeof e_sms, "WATTLE_SMS_URL=http://127.0.0.1:%d/sms", sms.port);
	snprintf(e_hook, sizeof e_hook, "WATTLE_NOTIFY_WEBHOOK_URL=http://127.0.0.1:%d/events", hook.port);
	const char *env[24] = {"WATTLE_CLOCK_SPEED=60", e_start, e_anchor, e_sms, e_hook,
			       "WATTLE_NOTIFY_WEBHOOK_SECRET=hook-secret", "WATTLE_GATEWAY_SECRET=gw-secret", NULL};
	for (int i = 7, k = 0; more && more[k] && i < 23; i++, k++)
		env[i] = more[k];
	db = th_fresh_db();
	th_server_start(&srv, db, env);
	ops = th_key(&srv, "operator", NULL);
	gw = th_key(&srv, "gateway", NULL);
	fin = th_key(&srv, "finance", NULL);
	json_decref(th_ok(&srv, "POST", "/v1/sites", srv.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	json_decref(th_ok(&srv, "PUT", "/v1/sites/site_1/alarm-settings", ops,
			  "{\"duty_phone\":\"+8613900000000\",\"sms_severities\":[\"critical\"],\"clear_minutes\":10,"
			  "\"overload_readings\":2,\"low_pf_minutes\":1,\"interval_seconds\":60,\"comm_lost_intervals\":2,"
			  "\"auto_cut_malicious\":true,\"malicious_confirm_readings\":3,\"forbidden_categories\":[\"retail\"]}",
			  200));
	json_decref(th_ok(&srv, "POST", "/v1/tenants", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Shoe Shop\",\"category\":\"retail\","
			  "\"area_m2\":\"80\",\"credit_rating\":\"A\",\"phone\":\"+8613800138000\"}", 201));
	json_decref(th_ok(&srv, "POST", "/v1/tariffs", fin,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":1000000,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201));
	char body[400];
	for (int i = 1; i <= 2; i++) {
		snprintf(body, sizeof body,
			 "{\"serial\":\"M-%d\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
			 "\"max_power_w\":5000,\"gateway\":\"http://127.0.0.1:%d\"}", i, gateway.port);
		json_decref(th_ok(&srv, "POST", "/v1/meters", ops, body, 201));
		energy[i] = 1000;
	}
}

static void setup(void) { start(NULL); }

static void teardown(void)
{
	ck_assert_int_eq(th_server_stop(&srv), 0);
	th_peer_stop(&sms);
	th_peer_stop(&hook);
	th_peer_stop(&gateway);
	th_assert_ledger_invariant(db);
	free(ops);
	free(gw);
	free(fin);
	free(db);
}

/* Wait up to ms for sql to count want. */
static void wait_for(const char *sql, long long want, int ms)
{
	long long got = -1;
	for (int i = 0; i < ms / 50 && (got = q(sql)) != want; i++)
		usleep(50000);
	ck_assert_msg(got == want, "%s: want %lld, got %lld", sql, want, got);
}

static json_t *alarms(const char *query)
{
	char path[200];
	snprintf(path, sizeof path, "/v1/alarms%s", query);
	json_t *l = th_ok(&srv, "GET", path, ops, NULL, 200);
	json_t *items = json_incref(json_object_get(l, "items"));
	json_decref(l);
	return items;
}

static json_t *find(json_t *items, const char *kind)
{
	size_t i;
	json_t *a;
	json_array_foreach(items, i, a)
		if (!strcmp(json_string_value(json_object_get(a, "kind")), kind))
			return a;
	return NULL;
}

START_TEST(each_alarm_opens_is_pushed_acked_and_closes)
{
	const char *good = ",\"power_w\":300,\"voltage_v\":221.5,\"pf\":0.95,\"thd_v_pct\":2.1,\"thd_i_pct\":8";
	reading(1, 0, good); /* baselines */
	reading(2, 0, good);
	reading(1, 1, good);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms"), 0);

	/* overload: two readings over 5000 W */
	reading(1, 1, ",\"power_w\":6200,\"pf\":0.8");
	ck_assert_int_eq(q("SELECT count(*) FROM alarms"), 0);
	reading(1, 1, ",\"power_w\":6800,\"pf\":0.8");
	reading(1, 1, ",\"power_w\":6500,\"pf\":0.8");
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind = 'overload'"), 1); /* one row, updated */
	ck_assert_int_eq(q("SELECT detections FROM alarms WHERE kind = 'overload'"), 2);
	ck_assert_int_eq(q("SELECT peak FROM alarms WHERE kind = 'overload'"), 6800);
	/* voltage out of band both ways, harmonics, a power factor low for a minute */
	reading(1, 1, ",\"power_w\":300,\"voltage_v\":251.0,\"pf\":0.95");
	reading(1, 1, ",\"power_w\":300,\"voltage_v\":190.2,\"pf\":0.95,\"thd_v_pct\":7.5");
	for (int i = 0; i < 10; i++)
		reading(1, 1, ",\"power_w\":1000,\"pf\":0.55");
	/* a resistive step of 2200 W held three readings: confirmed, cut automatically */
	reading(1, 1, ",\"power_w\":300,\"pf\":0.95");
	reading(1, 1, ",\"power_w\":2500,\"pf\":0.99");
	reading(1, 1, ",\"power_w\":2480,\"pf\":0.99");
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE reason = 'malicious_load'"), 0);
	reading(1, 1, ",\"power_w\":2510,\"pf\":0.99");
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE reason = 'malicious_load' AND action = 'cut_off'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'malicious_load_cut' AND channel = 'sms'"
			   " AND recipient = '+8613800138000' AND body LIKE '%high-power appliance%'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind = 'suspected_malicious_load'"
			   " AND cut_command_id IS NOT NULL AND (detail->>'step_w')::int = 2200"
			   " AND detail->>'signature' = 'resistive'"), 1);
	/* the gateway executes the cut; then a reading says the relay is still on */
	wait_for("SELECT count(*) FROM commands WHERE reason = 'malicious_load' AND state = 'sent'", 1, 5000);
	json_decref(th_ok(&srv, "POST", "/v1/commands/cmd_1/ack", gw, "{\"result\":\"executed\",\"relay\":\"off\"}", 200));
	reading(1, 1, ",\"power_w\":0,\"relay\":\"on\"");
	/* a register that went backwards */
	reading(1, -50, "");
	/* M-2 stays silent for more than 2 intervals of 60 s */
	wait_for("SELECT count(*) FROM alarms WHERE kind = 'comm_lost' AND state = 'open'", 1, 8000);

	json_t *open = alarms("?state=open");
	const char *kinds[] = {"overload", "suspected_malicious_load", "over_voltage", "under_voltage",
			       "low_power_factor", "high_harmonics", "comm_lost", "energy_regressed",
			       "relay_mismatch", NULL};
	for (int i = 0; kinds[i]; i++)
		ck_assert_msg(find(open, kinds[i]), "no open %s alarm", kinds[i]);
	ck_assert_int_eq(json_array_size(open), 9);
	ck_assert_str_eq(json_string_value(json_object_get(find(open, "comm_lost"), "serial")), "M-2");
	json_decref(open);
	json_t *one = alarms("?kind=under_voltage&site_id=site_1");
	ck_assert_int_eq(json_array_size(one), 1);
	ck_assert(json_real_value(json_object_get(json_array_get(one, 0), "peak")) < 191);
	json_decref(one);

	/* pushed: every opening as a signed webhook event; critical ones to the duty phone */
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'webhook' AND state = 'sent'", 9, 5000);
	ck_assert_int_eq(th_peer_count(&hook, "\"event\": \"alarm_opened\""), 9);
	ck_assert_int_eq(th_peer_count(&hook, "\"kind\": \"overload\""), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'sms'"
			   " AND recipient = '+8613900000000'"), 3); /* overload, malicious, relay_mismatch */
	ck_assert(strncmp(hook.reqs[0].sig, "t=", 2) == 0);
	/* soon after the reading that opened it */
	ck_assert_int_lt(q("SELECT max(extract(epoch FROM n.sent_at - a.opened_at) * 1000) FROM notifications n"
			   " JOIN alarms a ON n.payload->>'alarm_id' = 'alm_' || a.id"
			   " WHERE n.kind = 'alarm_opened' AND n.channel = 'webhook' AND a.kind <> 'comm_lost'") / SPEED,
			 5000); /* a second on an idle machine; slack for a loaded one (and ASan) */

	/* acknowledged once, with a note, audited */
	struct th_resp r = th_req(&srv, "POST", "/v1/alarms/alm_1/ack", ops, "{}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	json_t *a = th_ok(&srv, "POST", "/v1/alarms/alm_1/ack", ops, "{\"note\":\"electrician on the way\"}", 200);
	ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "acked");
	json_decref(a);
	r = th_req(&srv, "POST", "/v1/alarms/alm_1/ack", ops, "{\"note\":\"again\"}", NULL);
	ck_assert_int_eq(r.status, 409);
	th_resp_free(&r);
	r = th_req(&srv, "GET", "/v1/alarms", fin, NULL, NULL);
	ck_assert_int_eq(r.status, 403);
	th_resp_free(&r);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'alarm.ack'"), 1);

	/* clear: good readings from both meters; 10 minutes of readings' time after its last
	 * detection an alarm is clear: closed when acked (alm_1), else cleared and still listed
	 * (ISA-18.2) until someone acknowledges it */
	for (int i = 0; i < 150 && q("SELECT count(*) FROM alarms WHERE state IN ('open', 'acked')") > 0; i++) {
		reading(1, 1, good);
		reading(2, 1, good);
	}
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE state IN ('open', 'acked')"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE state = 'closed'"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE state = 'cleared'"), 8);
	/* none before its 10 minutes of readings: cleared at the readings' time, not the clock's */
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind <> 'comm_lost'"
			   " AND cleared_at <> last_seen_at + interval '10 minutes'"), 0);
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_cleared' AND channel = 'webhook'", 8, 3000);
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_closed' AND channel = 'webhook'", 1, 3000);
	json_t *cleared = alarms("?state=cleared");
	ck_assert_int_eq(json_array_size(cleared), 8);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(json_array_get(cleared, 0), "cleared_at")));
	/* acknowledged, a cleared alarm closes */
	for (size_t i = 0; i < json_array_size(cleared); i++) {
		char path[64];
		snprintf(path, sizeof path, "/v1/alarms/%s/ack",
			 json_string_value(json_object_get(json_array_get(cleared, i), "id")));
		json_t *x = th_ok(&srv, "POST", path, ops, "{\"note\":\"seen after the fact\"}", 200);
		ck_assert_str_eq(json_string_value(json_object_get(x, "state")), "closed");
		json_decref(x);
	}
	json_decref(cleared);
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_closed' AND channel = 'webhook'", 9, 3000);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms"), 9);
	json_t *closed = alarms("?state=closed");
	ck_assert_int_eq(json_array_size(closed), 9);
	json_decref(closed);
	/* clear readings never reopened anything */
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE opened_at > closed_at"), 0);
}
END_TEST

/* A gateway back from an outage replays an hour and more of readings in one batch, from
 * before now: each meter overloads early in it and is normal after. Alarms used to be
 * opened and closed in the same tick (cleared alarms vanished, judged on the wall clock).
 * Now they open and clear in the readings' time, and stay listed, cleared, until acked. */
static void backlog(int n, long long from_us, int count, int over_from, int over_to)
{
	char body[16384];
	int len = snprintf(body, sizeof body, "{\"readings\":[");
	for (int i = 0; i < count; i++) {
		long long us = from_us + (long long)i * 300 * 1000000; /* every 5 minutes */
		time_t t = (time_t)(us / 1000000);
		struct tm tm;
		gmtime_r(&t, &tm);
		char ts[40];
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
		bool over = i >= over_from && i < over_to;
		energy[n] += i ? (over ? 500 : 25) : 0; /* 6 kW or 300 W for 5 minutes */
		len += snprintf(body + len, sizeof body - (size_t)len,
				"%s{\"meter\":\"M-%d\",\"ts\":\"%s\",\"energy_wh\":%lld,\"power_w\":%d,\"pf\":0.95}",
				i ? "," : "", n, ts, energy[n], over ? 6000 : 300);
	}
	snprintf(body + len, sizeof body - (size_t)len, "]}");
	json_t *r = th_ok(&srv, "POST", "/v1/readings", gw, body, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "accepted")), count);
	json_decref(r);
}

START_TEST(replayed_backlog_alarms_clear_in_readings_time_and_stay_until_acked)
{
	json_decref(th_ok(&srv, "PUT", "/v1/sites/site_1/alarm-settings", ops,
			  "{\"duty_phone\":\"+8613900000000\",\"sms_severities\":[\"critical\"],\"clear_minutes\":10,"
			  "\"overload_readings\":2,\"duty_sms_per_hour\":1}", 200));
	long long from = wnow_us() - 3LL * 3600 * 1000000; /* three hours ago, for an hour */
	backlog(1, from, 13, 2, 4);
	backlog(2, from, 13, 2, 4);
	/* both overloads were opened at their readings' time and are clear in it */
	wait_for("SELECT count(*) FROM alarms WHERE kind = 'overload' AND state = 'cleared'", 2, 5000);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms"), 2);
	char sql[300];
	snprintf(sql, sizeof sql,
		 "SELECT count(*) FROM alarms WHERE opened_at BETWEEN 'epoch'::timestamptz + %lld * interval '1 microsecond'"
		 " AND 'epoch'::timestamptz + %lld * interval '1 microsecond'"
		 " AND cleared_at = last_seen_at + interval '10 minutes' AND cleared_at < opened_at + interval '1 hour'",
		 from + 2LL * 300 * 1000000, from + 3LL * 300 * 1000000);
	ck_assert_int_eq(q(sql), 2);
	json_t *l = alarms("?state=cleared");
	ck_assert_int_eq(json_array_size(l), 2); /* still in the control room's list */
	json_decref(l);
	/* the flood guard: one SMS to the duty phone this hour, every webhook event */
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'webhook'", 2, 3000);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND recipient = '+8613900000000'"), 1);
	struct th_resp m = th_req(&srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(m.body, "wattle_alarm_duty_sms_total{outcome=\"flood_guard\"} 1"), "%s", m.body);
	th_resp_free(&m);

	/* a cleared alarm that comes back is open again, and said so (it was silent) */
	backlog(2, from + 13LL * 300 * 1000000, 6, 1, 3);
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'webhook'"
		 " AND payload->>'alarm_id' = 'alm_2'", 2, 3000);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms"), 2); /* the same row */
	wait_for("SELECT count(*) FROM alarms WHERE id = 2 AND state = 'cleared' AND detections >= 2", 1, 5000);

	/* shelved: alm_1's kind on M-1 is silenced for an hour; it opens again without SMS */
	struct th_resp r = th_req(&srv, "POST", "/v1/alarms/alm_1/shelve", ops, "{\"minutes\":60}", NULL);
	ck_assert_int_eq(r.status, 400); /* a reason is required */
	th_resp_free(&r);
	json_t *a = th_ok(&srv, "POST", "/v1/alarms/alm_1/shelve", ops,
			  "{\"minutes\":60,\"reason\":\"breaker being replaced\"}", 200);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(a, "shelved_until")));
	ck_assert_str_eq(json_string_value(json_object_get(a, "shelve_reason")), "breaker being replaced");
	json_decref(a);
	for (int i = 1; i <= 2; i++) {
		char path[64];
		snprintf(path, sizeof path, "/v1/alarms/alm_%d/ack", i);
		a = th_ok(&srv, "POST", path, ops, "{\"note\":\"seen\"}", 200);
		ck_assert_str_eq(json_string_value(json_object_get(a, "state")), "closed");
		json_decref(a);
	}
	r = th_req(&srv, "POST", "/v1/alarms/alm_1/shelve", ops, "{\"minutes\":5,\"reason\":\"x\"}", NULL);
	ck_assert_int_eq(r.status, 409); /* closed */
	th_resp_free(&r);
	json_decref(th_ok(&srv, "PUT", "/v1/sites/site_1/alarm-settings", ops,
			  "{\"duty_phone\":\"+8613900000001\",\"sms_severities\":[\"critical\"],\"clear_minutes\":10,"
			  "\"overload_readings\":2}", 200));
	backlog(1, from + 13LL * 300 * 1000000, 4, 1, 3);
	wait_for("SELECT count(*) FROM alarms WHERE kind = 'overload' AND meter_id = 1 AND state <> 'closed'", 1, 3000);
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'webhook'", 4, 3000);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE channel = 'sms' AND recipient = '+8613900000001'"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND (payload->>'shelved')::boolean"), 1);
	/* unshelved from the closed alarm that was shelved: the silence on M-1's overloads ends */
	json_decref(th_ok(&srv, "POST", "/v1/alarms/alm_1/shelve", ops, "{\"minutes\":0}", 200));
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE meter_id = 1 AND shelved_until IS NOT NULL"), 0);
	m = th_req(&srv, "GET", "/metrics", NULL, NULL, NULL);
	ck_assert_msg(strstr(m.body, "wattle_alarm_duty_sms_total{outcome=\"shelved\"} 1"), "%s", m.body);
	th_resp_free(&m);
	ck_assert_int_eq(q("SELECT count(*) FROM audit_log WHERE action = 'alarm.shelve'"), 1);
}
END_TEST

/* comm_lost_returns_while_cleared: a meter heard from again clears its comm_lost; nobody
 * acks it; the meter goes silent again. The cleared alarm blocked a new one (one open per
 * meter and kind) and the tick only reopened nothing: the second outage was never raised. */
START_TEST(comm_lost_returns_while_cleared)
{
	reading(1, 0, ",\"power_w\":300");
	wait_for("SELECT count(*) FROM alarms WHERE kind = 'comm_lost' AND meter_id = 1 AND state = 'open'", 1, 8000);
	reading(1, 1, ",\"power_w\":300");
	wait_for("SELECT count(*) FROM alarms WHERE kind = 'comm_lost' AND meter_id = 1 AND state = 'cleared'", 1, 5000);
	wait_for("SELECT count(*) FROM alarms WHERE kind = 'comm_lost' AND meter_id = 1 AND state = 'open'", 1, 8000);
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind = 'comm_lost'"), 1); /* the same row, open again */
	wait_for("SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'webhook'", 2, 3000);
}
END_TEST

/* A protected meter (a cold room, life safety) shows the alarm but is never cut. */
START_TEST(protected_meter_not_cut)
{
	json_decref(th_ok(&srv, "PATCH", "/v1/meters/mtr_2", ops, "{\"protected\":true}", 200));
	reading(2, 0, ",\"power_w\":300,\"pf\":0.95");
	reading(2, 1, ",\"power_w\":300,\"pf\":0.95");
	for (int i = 0; i < 4; i++)
		reading(2, 1, ",\"power_w\":2600,\"pf\":0.99");
	ck_assert_int_eq(q("SELECT count(*) FROM alarms WHERE kind = 'suspected_malicious_load' AND meter_id = 2"), 1);
	ck_assert_int_eq(q("SELECT count(*) FROM commands"), 0);
	ck_assert_int_eq(q("SELECT count(*) FROM notifications WHERE kind = 'malicious_load_cut'"), 0);
	/* the same on an unprotected meter is cut, once */
	reading(1, 0, ",\"power_w\":300,\"pf\":0.95");
	reading(1, 1, ",\"power_w\":300,\"pf\":0.95");
	for (int i = 0; i < 5; i++)
		reading(1, 1, ",\"power_w\":2600,\"pf\":0.99");
	ck_assert_int_eq(q("SELECT count(*) FROM commands WHERE meter_id = 1 AND reason = 'malicious_load'"), 1);
}
END_TEST

START_TEST(settings_validated)
{
	struct th_resp r = th_req(&srv, "PUT", "/v1/sites/site_1/alarm-settings", ops, "{\"step_w\":-5}", NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body, "alarm_settings.step_w"));
	th_resp_free(&r);
	r = th_req(&srv, "PUT", "/v1/sites/site_1/alarm-settings", ops, "{\"duty_phone\":\"12345\"}", NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "PUT", "/v1/meters/mtr_1/alarm-settings", ops, "{\"auto_cut_malicious\":true}", NULL);
	ck_assert_int_eq(r.status, 400); /* a site setting */
	th_resp_free(&r);
	r = th_req(&srv, "PUT", "/v1/meters/mtr_9/alarm-settings", ops, "{}", NULL);
	ck_assert_int_eq(r.status, 404);
	th_resp_free(&r);
	/* a protected meter overrides the step; the site keeps the rest */
	json_decref(th_ok(&srv, "PUT", "/v1/meters/mtr_2/alarm-settings", ops, "{\"step_w\":4000}", 200));
	ck_assert_int_eq(q("SELECT (alarm_settings->>'step_w')::int FROM meters WHERE id = 2"), 4000);
	r = th_req(&srv, "GET", "/v1/alarms?kind=fire", ops, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
	r = th_req(&srv, "GET", "/v1/alarms?since=yesterday", ops, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	th_resp_free(&r);
}
END_TEST

/* wattle-metersim puts each condition on its own meter; each alarm opens from the
 * simulated fleet's readings, and the malicious load is cut and then contradicted. */
START_TEST(metersim_injects_each_condition)
{
	struct th_server s2;
	struct th_peer none = {0};
	th_peer_start(&none, 0); /* webhook receiver */
	int sim_port = th_free_port();
	static char e_start[64], e_anchor[64], e_hook[160];
	snprintf(e_start, sizeof e_start, "WATTLE_CLOCK_START=%lld", (long long)START);
	snprintf(e_anchor, sizeof e_anchor, "WATTLE_CLOCK_ANCHOR=%lld", (long long)time(NULL));
	snprintf(e_hook, sizeof e_hook, "WATTLE_NOTIFY_WEBHOOK_URL=http://127.0.0.1:%d/events", none.port);
	const char *env[] = {"WATTLE_CLOCK_SPEED=1200", e_start, e_anchor, e_hook, "WATTLE_GATEWAY_SECRET=sim-secret", NULL};
	char *db2 = th_fresh_db();
	th_server_start(&s2, db2, env);
	char *o2 = th_key(&s2, "operator", NULL), *g2 = th_key(&s2, "gateway", NULL), *f2 = th_key(&s2, "finance", NULL);
	json_decref(th_ok(&s2, "POST", "/v1/sites", s2.admin_key,
			  "{\"name\":\"Mall\",\"timezone\":\"Asia/Shanghai\",\"currency\":\"CNY\"}", 201));
	json_decref(th_ok(&s2, "PUT", "/v1/sites/site_1/alarm-settings", o2,
			  "{\"clear_minutes\":1440,\"overload_readings\":2,\"interval_seconds\":300,"
			  "\"comm_lost_intervals\":2,\"auto_cut_malicious\":true,\"malicious_confirm_readings\":2}", 200));
	json_decref(th_ok(&s2, "POST", "/v1/tenants", f2,
			  "{\"site_id\":\"site_1\",\"name\":\"Hotpot\",\"category\":\"catering\","
			  "\"area_m2\":\"120\",\"credit_rating\":\"A\"}", 201));
	json_decref(th_ok(&s2, "POST", "/v1/tariffs", f2,
			  "{\"site_id\":\"site_1\",\"name\":\"Flat\",\"currency\":\"CNY\",\"kind\":\"flat\","
			  "\"rate_micros_per_kwh\":1000000,\"effective_from\":\"2026-01-01T00:00:00+08:00\"}", 201));
	const char *faults[] = {"overload", "malicious", "over_voltage", "under_voltage", "low_pf",
				"harmonics", "comm_lost", "energy_regressed", NULL};
	for (int i = 0; faults[i]; i++) {
		char body[400];
		snprintf(body, sizeof body,
			 "{\"serial\":\"M-%s\",\"site_id\":\"site_1\",\"tenant_id\":\"ten_1\",\"tariff_id\":\"trf_1\","
			 "\"max_power_w\":12000,\"gateway\":\"http://127.0.0.1:%d\"}", faults[i], sim_port);
		json_decref(th_ok(&s2, "POST", "/v1/meters", o2, body, 201));
	}
	pid_t sim = fork();
	if (sim == 0) {
		char url[64], port[16];
		snprintf(url, sizeof url, "http://127.0.0.1:%d", s2.port);
		snprintf(port, sizeof port, "%d", sim_port);
		for (int i = 0; env[i]; i++)
			putenv((char *)env[i]);
		FILE *f = freopen("/dev/null", "w", stdout);
		(void)f;
		execl(WATTLE_METERSIM, WATTLE_METERSIM, "--url", url, "--key", g2, "--operator-key", o2, "--port", port,
		      "--interval-min", "5", "--inject", "overload:M-overload", "--inject", "malicious:M-malicious",
		      "--inject", "relay_mismatch:M-malicious", "--inject", "over_voltage:M-over_voltage",
		      "--inject", "under_voltage:M-under_voltage", "--inject", "low_pf:M-low_pf",
		      "--inject", "harmonics:M-harmonics", "--inject", "comm_lost:M-comm_lost",
		      "--inject", "energy_regressed:M-energy_regressed", (char *)NULL);
		_exit(127);
	}
	const char *kinds[][2] = {{"overload", "M-overload"}, {"suspected_malicious_load", "M-malicious"},
				  {"relay_mismatch", "M-malicious"}, {"over_voltage", "M-over_voltage"},
				  {"under_voltage", "M-under_voltage"}, {"low_power_factor", "M-low_pf"},
				  {"high_harmonics", "M-harmonics"}, {"comm_lost", "M-comm_lost"},
				  {"energy_regressed", "M-energy_regressed"}};
	char sql[400];
	long long got = 0;
	for (int t = 0; t < 600 && got < 9; t++) {
		usleep(100000);
		got = th_sql_int(db2, "SELECT count(DISTINCT kind) FROM alarms");
	}
	kill(sim, SIGTERM);
	int status;
	waitpid(sim, &status, 0);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "metersim exited %d", status);
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM alarms a JOIN meters m ON m.id = a.meter_id WHERE a.kind = '%s' AND m.serial = '%s'",
			 kinds[i][0], kinds[i][1]);
		if (th_sql_int(db2, sql) != 1) {
			PGresult *all = th_sql(db2, "SELECT string_agg(a.kind || '@' || m.serial || ' ' || a.state, ', ')"
						    " FROM alarms a JOIN meters m ON m.id = a.meter_id");
			PGresult *seen = th_sql(db2, "SELECT string_agg(m.serial || ' ' || coalesce(st.last_seen_at::text, '-'), ', ')"
						     " FROM meter_state st JOIN meters m ON m.id = st.meter_id");
			ck_abort_msg("no %s alarm on %s; alarms: %s; last seen: %s; log %s", kinds[i][0], kinds[i][1],
				     PQgetvalue(all, 0, 0), PQgetvalue(seen, 0, 0), s2.log_path);
		}
	}
	/* only the injected meters: nothing on the quiet ones from normal load */
	ck_assert_int_eq(th_sql_int(db2, "SELECT count(*) FROM alarms"), 9);
	ck_assert_int_eq(th_sql_int(db2, "SELECT count(*) FROM commands WHERE reason = 'malicious_load'"), 1);
	ck_assert_int_eq(th_server_stop(&s2), 0);
	th_peer_stop(&none);
	free(o2);
	free(g2);
	free(f2);
	free(db2);
}
END_TEST


/* The duty phone's alarm and the tenant's notice of a malicious-load cut through a carrier
 * that sends approved templates only (Aliyun, Tencent), each then delivered by the fake's
 * status report to our callback. Before the site has the templates both die at once; after,
 * both go out, with the site's parameters. */
static struct fakesms *carrier;
static const char *provider;

static void carrier_setup(const char *name)
{
	provider = name;
	bool ali = !strcmp(name, "aliyun");
	carrier = ali ? fakesms_start("aliyun", "LTAI5tAK", "ali-secret", "华商电力", NULL)
		      : fakesms_start("tencent", "AKIDtc", "tc-secret", "华商电力", "1400000001");
	ck_assert(carrier);
	static const char *const alm[] = {"kind", "meter"}, *const cut[] = {"name", "meter"};
	fakesms_template(carrier, ali ? "SMS_ALM" : "2001", 2, alm);
	fakesms_template(carrier, ali ? "SMS_CUT" : "2002", 2, cut);
	static char e_prov[64], e_end[120];
	char b[80];
	snprintf(e_prov, sizeof e_prov, "WATTLE_SMS_PROVIDER=%s", name);
	snprintf(e_end, sizeof e_end, "WATTLE_%s_SMS_ENDPOINT=%s", ali ? "ALIYUN" : "TENCENT",
		 fakesms_base(carrier, b, sizeof b));
	const char *more[] = {e_prov, e_end, "WATTLE_SMS_CALLBACK_TOKEN=cb-token",
			      ali ? "WATTLE_ALIYUN_ACCESS_KEY_ID=LTAI5tAK" : "WATTLE_TENCENT_SECRET_ID=AKIDtc",
			      ali ? "WATTLE_ALIYUN_ACCESS_KEY_SECRET=ali-secret" : "WATTLE_TENCENT_SECRET_KEY=tc-secret",
			      ali ? "WATTLE_ALIYUN_SMS_SIGN_NAME=华商电力" : "WATTLE_TENCENT_SMS_SIGN_NAME=华商电力",
			      "WATTLE_TENCENT_SMS_SDK_APP_ID=1400000001", NULL};
	start(more);
}
static void aliyun_setup(void) { carrier_setup("aliyun"); }
static void tencent_setup(void) { carrier_setup("tencent"); }
static void carrier_teardown(void)
{
	teardown();
	fakesms_stop(carrier);
}

/* The fake's messages to phone (Aliyun without the '+'), their template codes in tpls. */
static int sent_to(const char *phone, char tpls[][64], char params[][1024], char ids[][64], int max)
{
	int n = 0;
	for (int i = 0; i < fakesms_count(carrier) && n < max; i++) {
		struct fake_sms_msg m;
		fakesms_msg(carrier, i, &m);
		if (!strcmp(m.phone, phone) || !strcmp(m.phone, phone + 1)) {
			snprintf(tpls[n], 64, "%s", m.tpl);
			snprintf(params[n], 1024, "%s", m.params);
			snprintf(ids[n++], 64, "%s", m.msg_id);
		}
	}
	return n;
}

/* A resistive step held three readings on M-1: confirmed, cut automatically (a critical
 * alarm with it). */
static void malicious_step(void)
{
	const char *good = ",\"power_w\":300,\"voltage_v\":221.5,\"pf\":0.95";
	reading(1, 0, good);
	reading(1, 1, good);
	reading(1, 1, ",\"power_w\":2500,\"pf\":0.99");
	reading(1, 1, ",\"power_w\":2480,\"pf\":0.99");
	reading(1, 1, ",\"power_w\":2510,\"pf\":0.99");
}

START_TEST(duty_alarm_and_malicious_cut_by_template_delivered)
{
	bool ali = !strcmp(provider, "aliyun");
	char sql[400];
	/* no templates yet: an approved-template carrier cannot send them; dead at once, saying why */
	malicious_step();
	wait_for("SELECT count(*) FROM commands WHERE reason = 'malicious_load' AND action = 'cut_off'", 1, 5000);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE kind = 'malicious_load_cut' AND channel = 'sms'"
		 " AND state = 'dead' AND attempts = 1 AND last_error LIKE '%%no %s template for malicious_load_cut in en%%'",
		 provider);
	wait_for(sql, 1, 8000);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'sms'"
		 " AND recipient = '+8613900000000' AND state = 'dead' AND last_error LIKE '%%no %s template for alarm%%'",
		 provider);
	wait_for(sql, 1, 8000);
	ck_assert_int_eq(fakesms_count(carrier), 0);

	/* the site's templates (Tencent's parameters are positional) in Chinese; the meter is
	 * restored and its alarms closed so the step can happen again */
	json_decref(th_ok(&srv, "PATCH", "/v1/sites/site_1", srv.admin_key, "{\"language\":\"zh-CN\"}", 200));
	char body[800];
	snprintf(body, sizeof body,
		 "{\"templates\":[{\"event\":\"alarm\",\"language\":\"zh-CN\",\"sms_template\":\"%s\","
		 "\"sms_params\":{\"%s\":\"alarm_kind\",\"%s\":\"meter\"}},"
		 "{\"event\":\"malicious_load_cut\",\"language\":\"zh-CN\",\"sms_template\":\"%s\","
		 "\"sms_params\":{\"%s\":\"tenant_name\",\"%s\":\"meter\"}}]}",
		 ali ? "SMS_ALM" : "2001", ali ? "kind" : "1", ali ? "meter" : "2", ali ? "SMS_CUT" : "2002",
		 ali ? "name" : "1", ali ? "meter" : "2");
	json_decref(th_ok(&srv, "PUT", "/v1/sites/site_1/message-templates", fin, body, 200));
	PQclear(th_sql(db, "UPDATE alarms SET state = 'closed', closed_at = now(), cleared_at = now()"));
	malicious_step();
	wait_for("SELECT count(*) FROM commands WHERE reason = 'malicious_load' AND action = 'cut_off'", 2, 5000);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE kind = 'malicious_load_cut' AND channel = 'sms'"
		 " AND state = 'sent' AND provider = '%s' AND language = 'zh-CN' AND body LIKE '%%电表M-1%%'", provider);
	wait_for(sql, 1, 8000);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE kind = 'alarm_opened' AND channel = 'sms'"
		 " AND recipient = '+8613900000000' AND state = 'sent' AND provider = '%s'", provider);
	wait_for(sql, 1, 8000);
	char tpls[4][64], params[4][1024], ids[4][64];
	ck_assert_int_eq(sent_to("+8613800138000", tpls, params, ids, 4), 1);
	ck_assert_str_eq(tpls[0], ali ? "SMS_CUT" : "2002");
	ck_assert_str_eq(params[0], ali ? "{\"name\":\"Shoe Shop\",\"meter\":\"M-1\"}" : "[\"Shoe Shop\",\"M-1\"]");
	char tenant_msg[64];
	snprintf(tenant_msg, sizeof tenant_msg, "%s", ids[0]);
	ck_assert_int_eq(sent_to("+8613900000000", tpls, params, ids, 4), 1);
	ck_assert_str_eq(tpls[0], ali ? "SMS_ALM" : "2001");
	ck_assert_msg(strstr(params[0], "M-1") && strstr(params[0], "suspected_malicious_load"), "%s", params[0]);
	ck_assert_int_eq(fakesms_refused(carrier), 0); /* every signature checked out */
	ck_assert_int_eq(th_peer_count(&sms, "Shoe Shop"), 0); /* Twilio's endpoint never asked */

	/* the handsets report: the tenant's delivered, the duty phone's not, through our callback */
	char url[200];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/webhooks/sms/%s?token=cb-token", srv.port, provider);
	ck_assert_int_eq(fakesms_report(carrier, tenant_msg, true, NULL, url, NULL), 200);
	ck_assert_int_eq(fakesms_report(carrier, ids[0], false, ali ? "MOBILE_NOT_ON_SERVICE" : "DELIVRD_FAIL", url, NULL),
			 200);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE provider_msg_id = '%s' AND delivery = 'delivered'"
		 " AND kind = 'malicious_load_cut'", tenant_msg);
	ck_assert_int_eq(q(sql), 1);
	snprintf(sql, sizeof sql, "SELECT count(*) FROM notifications WHERE provider_msg_id = '%s' AND delivery = 'undelivered'"
		 " AND kind = 'alarm_opened' AND delivery_code = '%s'", ids[0], ali ? "MOBILE_NOT_ON_SERVICE" : "DELIVRD_FAIL");
	ck_assert_int_eq(q(sql), 1);
	json_t *l = th_ok(&srv, "GET", "/v1/notifications?state=sent", ops, NULL, 200);
	size_t i, delivered = 0;
	json_t *x;
	json_array_foreach(json_object_get(l, "items"), i, x)
		delivered += json_is_string(json_object_get(x, "delivery")) &&
			     !strcmp(json_string_value(json_object_get(x, "delivery")), "delivered");
	ck_assert_int_eq(delivered, 1);
	json_decref(l);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("alarms");
	TCase *core = tcase_create("core");
	tcase_set_timeout(core, 120);
	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, replayed_backlog_alarms_clear_in_readings_time_and_stay_until_acked);
	tcase_add_test(core, each_alarm_opens_is_pushed_acked_and_closes);
	suite_add_tcase(s, core);
	TCase *lim = tcase_create("limits");
	tcase_set_timeout(lim, 60);
	tcase_add_checked_fixture(lim, setup, teardown);
	tcase_add_test(lim, settings_validated);
	tcase_add_test(lim, protected_meter_not_cut);
	tcase_add_test(lim, comm_lost_returns_while_cleared);
	tcase_add_test(lim, metersim_injects_each_condition);
	suite_add_tcase(s, lim);
	TCase *ali = tcase_create("aliyun");
	tcase_set_timeout(ali, 60);
	tcase_add_checked_fixture(ali, aliyun_setup, carrier_teardown);
	tcase_add_test(ali, duty_alarm_and_malicious_cut_by_template_delivered);
	suite_add_tcase(s, ali);
	TCase *tc = tcase_create("tencent");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, tencent_setup, carrier_teardown);
	tcase_add_test(tc, duty_alarm_and_malicious_cut_by_template_delivered);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return th_run(suite()); }
